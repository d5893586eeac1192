/*
 * config: the engine's configuration (SPEC section 2), read once at start
 * from PISTON_* environment variables and then `serve` flags (flags win).
 * After config_load returns, the configuration is read-only for the life of
 * the process: it is the only global state besides the event loop.
 *
 * A bad value makes config_load print "piston: PISTON_KEY: reason" to stderr
 * and return -1; the caller exits 1.
 */
#ifndef PISTON_CONFIG_H
#define PISTON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

typedef struct config {
	log_level log_level;              /* PISTON_LOG_LEVEL (INFO) */
	char bind_address[256];           /* PISTON_BIND_ADDRESS (0.0.0.0:2000) */
	char data_directory[4096];        /* PISTON_DATA_DIRECTORY (/piston) */
	uint32_t runner_uid_min, runner_uid_max;  /* 1001..1500 */
	uint32_t runner_gid_min, runner_gid_max;  /* 1001..1500 */
	bool disable_networking;          /* true */
	uint64_t output_max_size;         /* 1024 bytes per stream */
	uint32_t max_process_count;       /* 64 */
	uint32_t max_open_files;          /* 2048 */
	uint64_t max_file_size;           /* 10000000 */
	uint64_t compile_timeout, run_timeout;     /* ms: 10000 / 3000 */
	uint64_t compile_cpu_time, run_cpu_time;   /* ms: 10000 / 3000 */
	int64_t compile_memory_limit, run_memory_limit;  /* bytes, -1 = none */
	char repo_url[4096];              /* PISTON_REPO_URL */
	char ca_file[4096];               /* PISTON_CA_FILE (system bundle) */
	uint32_t max_concurrent_jobs;     /* 64 */
	uint32_t max_queued_jobs;         /* PISTON_MAX_QUEUED_JOBS (1024); beyond: 503 */
	char *limit_overrides_json;       /* PISTON_LIMIT_OVERRIDES, validated JSON text or NULL */
	uint64_t max_body_size;           /* PISTON_MAX_BODY_SIZE (16 MiB) */
	uint64_t idle_timeout_ms;         /* PISTON_IDLE_TIMEOUT (10000): slow/idle clients -> 408 */
	uint64_t box_size;                /* PISTON_BOX_SIZE (64 MiB): /box and /tmp tmpfs cap */
	uint64_t package_max_size;        /* PISTON_PACKAGE_MAX_SIZE (4 GiB): download and unpacked */
	uint64_t package_max_files;       /* PISTON_PACKAGE_MAX_FILES (500000) */
	uint64_t shutdown_grace_ms;       /* PISTON_SHUTDOWN_GRACE (30000) */
	uint64_t output_files_max_size;   /* PISTON_OUTPUT_FILES_MAX_SIZE (1 MiB): output_files per stage */
	uint32_t max_tests;               /* PISTON_MAX_TESTS (100): `tests` per request */
	uint64_t compile_cache_size;      /* PISTON_COMPILE_CACHE_SIZE (256 MiB; 0: no cache) */
	bool judge0_api;                  /* PISTON_JUDGE0_API (true): SPEC section 6 routes */
	uint64_t judge0_result_ttl;       /* PISTON_JUDGE0_RESULT_TTL (86400 s) */
	uint64_t judge0_compact_min;      /* PISTON_JUDGE0_COMPACT_MIN (8 MiB; for tests) */
	bool judge0_allow_delete;         /* PISTON_JUDGE0_ALLOW_DELETE (false): DELETE /submissions/{token} */
	bool judge0_allow_list;           /* PISTON_JUDGE0_ALLOW_LIST (false): GET /submissions */
	bool judge0_callback_allow_private; /* PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE (false): callbacks
	                                       may go to loopback/private/link-local/own addresses */
} config;

extern config cfg;   /* the process-wide configuration (read-only after load) */

/* Fill cfg with defaults, then environment, then argv flags (argv[0] is the
 * subcommand name). Returns 0, 1 if --help was printed, -1 on a bad value. */
int config_load(int argc, char **argv);
void config_defaults(config *c);
void config_print_help(const char *prog);

#endif
