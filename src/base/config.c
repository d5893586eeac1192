/*
 * config: one table describes every key -- its environment name, type,
 * place in struct config, default and help text. Loading, the `serve`
 * flags (derived from the names: PISTON_RUN_TIMEOUT -> --run-timeout) and
 * the help text are all driven by that table, so they cannot disagree.
 */
#include "config.h"

#include <strings.h>
#include <unistd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

config cfg;

typedef enum { K_LOG, K_STR, K_U32, K_U64, K_MEM, K_BOOL, K_ADDR, K_OVERRIDES } key_type;

typedef struct key {
	const char *env;
	key_type type;
	size_t offset;
	size_t size;          /* K_STR/K_ADDR: capacity */
	const char *def;      /* default, as text (also parsed by config_defaults) */
	uint64_t min, max;    /* numeric range */
	const char *help;
} key;

#define F(field) offsetof(config, field), sizeof(((config *)0)->field)
#define U32MAX 0xffffffffu
#define I64MAX ((uint64_t)INT64_MAX)

static const key keys[] = {
	{"PISTON_LOG_LEVEL", K_LOG, F(log_level), "INFO", 0, 0, "DEBUG, INFO, WARN, ERROR or SILENT"},
	{"PISTON_BIND_ADDRESS", K_ADDR, F(bind_address), "0.0.0.0:2000", 0, 0,
	 "HOST:PORT to listen on; IPv6 as [::]:2000"},
	{"PISTON_DATA_DIRECTORY", K_STR, F(data_directory), "/piston", 0, 0,
	 "where packages are installed (DATA/packages/LANG/VERSION)"},
	{"PISTON_RUNNER_UID_MIN", K_U32, F(runner_uid_min), "1001", 1, U32MAX - 1, "lowest uid a job runs as"},
	{"PISTON_RUNNER_UID_MAX", K_U32, F(runner_uid_max), "1500", 1, U32MAX - 1, "highest uid a job runs as"},
	{"PISTON_RUNNER_GID_MIN", K_U32, F(runner_gid_min), "1001", 1, U32MAX - 1, "lowest gid a job runs as"},
	{"PISTON_RUNNER_GID_MAX", K_U32, F(runner_gid_max), "1500", 1, U32MAX - 1, "highest gid a job runs as"},
	{"PISTON_DISABLE_NETWORKING", K_BOOL, F(disable_networking), "true", 0, 0,
	 "true: jobs get no network (their own empty network namespace)"},
	{"PISTON_OUTPUT_MAX_SIZE", K_U64, F(output_max_size), "1024", 1, I64MAX,
	 "bytes kept per output stream (stdout, stderr); more kills the stage (OL)"},
	{"PISTON_MAX_PROCESS_COUNT", K_U32, F(max_process_count), "64", 1, 1u << 22, "processes per job"},
	{"PISTON_MAX_OPEN_FILES", K_U32, F(max_open_files), "2048", 1, 1u << 20, "open files per process"},
	{"PISTON_MAX_FILE_SIZE", K_U64, F(max_file_size), "10000000", 1, I64MAX, "bytes per file a job writes"},
	{"PISTON_COMPILE_TIMEOUT", K_U64, F(compile_timeout), "10000", 1, 86400000, "compile wall-clock limit, ms"},
	{"PISTON_RUN_TIMEOUT", K_U64, F(run_timeout), "3000", 1, 86400000, "run wall-clock limit, ms"},
	{"PISTON_COMPILE_CPU_TIME", K_U64, F(compile_cpu_time), "10000", 1, 86400000, "compile CPU-time limit, ms"},
	{"PISTON_RUN_CPU_TIME", K_U64, F(run_cpu_time), "3000", 1, 86400000, "run CPU-time limit, ms"},
	{"PISTON_COMPILE_MEMORY_LIMIT", K_MEM, F(compile_memory_limit), "-1", 0, I64MAX,
	 "compile memory limit, bytes (-1: none)"},
	{"PISTON_RUN_MEMORY_LIMIT", K_MEM, F(run_memory_limit), "-1", 0, I64MAX, "run memory limit, bytes (-1: none)"},
	/* No default: upstream Piston's index (upstream's default) holds packages
	 * in upstream's format, which cannot run here (repo.h). */
	{"PISTON_REPO_URL", K_STR, F(repo_url), "", 0, 0,
	 "package index: https://..., http://..., file:///... or a directory path (tools/mkrepo "
	 "builds one: build/repo/index)"},
	{"PISTON_CA_FILE", K_STR, F(ca_file), "", 0, 0,
	 "PEM CA bundle for https repositories (empty: /etc/ssl/certs/ca-certificates.crt)"},
	{"PISTON_MAX_CONCURRENT_JOBS", K_U32, F(max_concurrent_jobs), "64", 1, 4096,
	 "jobs running at once; more wait in a FIFO queue"},
	{"PISTON_MAX_QUEUED_JOBS", K_U32, F(max_queued_jobs), "1024", 0, 1u << 20,
	 "jobs waiting at most; beyond that requests get 503"},
	{"PISTON_LIMIT_OVERRIDES", K_OVERRIDES, F(limit_overrides_json), "", 0, 0,
	 "JSON per-language limits, e.g. {\"c++\":{\"max_process_count\":128}}"},
	{"PISTON_MAX_BODY_SIZE", K_U64, F(max_body_size), "16777216", 1, I64MAX, "largest request body, bytes (413)"},
	{"PISTON_IDLE_TIMEOUT", K_U64, F(idle_timeout_ms), "10000", 1, 86400000,
	 "ms a client has to send a whole request (408)"},
	{"PISTON_MAX_TESTS", K_U32, F(max_tests), "100", 0, 10000, "most `tests` in one execute request"},
	{"PISTON_COMPILE_CACHE_SIZE", K_U64, F(compile_cache_size), "268435456", 0, I64MAX,
	 "bytes of compiled boxes kept for identical requests (0: no compile cache)"},
	{"PISTON_BOX_SIZE", K_U64, F(box_size), "67108864", 4096, I64MAX, "bytes of the job's /box and /tmp (tmpfs)"},
	{"PISTON_PACKAGE_MAX_SIZE", K_U64, F(package_max_size), "4294967296", 1, I64MAX,
	 "largest package, bytes (download and unpacked size)"},
	{"PISTON_PACKAGE_MAX_FILES", K_U64, F(package_max_files), "500000", 1, U32MAX,
	 "most entries a package may unpack"},
	{"PISTON_SHUTDOWN_GRACE", K_U64, F(shutdown_grace_ms), "30000", 0, 86400000,
	 "ms the drain after SIGTERM may take (jobs finish, new ones get 503, /healthz 503)"},
	{"PISTON_OUTPUT_FILES_MAX_SIZE", K_U64, F(output_files_max_size), "1048576", 0, 1u << 30,
	 "bytes of output_files returned per stage in all (a file cut there: truncated)"},
	{"PISTON_JUDGE0_API", K_BOOL, F(judge0_api), "true", 0, 0,
	 "true: the Judge0 CE 1.13 compatible API (/submissions, /languages, ...) beside Piston's"},
	{"PISTON_JUDGE0_RESULT_TTL", K_U64, F(judge0_result_ttl), "86400", 1, 315360000,
	 "seconds a finished Judge0 submission's result is kept"},
	{"PISTON_JUDGE0_COMPACT_MIN", K_U64, F(judge0_compact_min), "8388608", 4096, I64MAX,
	 "bytes past which the Judge0 journal is compacted when it doubles (for tests; the default suits use)"},
	{"PISTON_JUDGE0_ALLOW_DELETE", K_BOOL, F(judge0_allow_delete), "false", 0, 0,
	 "true: DELETE /submissions/{token} removes a finished Judge0 submission (Judge0's enable_submission_delete)"},
	{"PISTON_JUDGE0_ALLOW_LIST", K_BOOL, F(judge0_allow_list), "false", 0, 0,
	 "true: GET /submissions lists every kept Judge0 submission, newest first (else 403, as Judge0 without authorization)"},
	{"PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE", K_BOOL, F(judge0_callback_allow_private), "false", 0, 0,
	 "true: Judge0 callback_url may be loopback, link-local, private or the engine's own address"},
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* The limit keys PISTON_LIMIT_OVERRIDES and package limit_overrides may set. */
static const char *const limit_keys[] = {
	"max_process_count", "max_open_files", "max_file_size", "compile_timeout", "run_timeout",
	"compile_cpu_time", "run_cpu_time", "compile_memory_limit", "run_memory_limit", "output_max_size",
};

static int parse_uint(const char *s, uint64_t *out)
{
	if (!*s)
		return -1;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* HOST:PORT, [V6]:PORT. */
static const char *check_address(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return "expected HOST:PORT, e.g. 0.0.0.0:2000 or [::]:2000";
	if (s[0] == '[' && colon[-1] != ']')
		return "an IPv6 host is written in brackets, e.g. [::]:2000";
	if (s[0] != '[' && memchr(s, ':', (size_t)(colon - s)))
		return "an IPv6 host is written in brackets, e.g. [::]:2000";
	uint64_t port;
	if (parse_uint(colon + 1, &port) < 0 || port > 65535)
		return "port must be a number 0..65535";
	return NULL;
}

/* Returns NULL, or why text is bad (a literal or written into msg). */
static const char *check_overrides(const char *text, char *msg, size_t msglen)
{
	json_error jerr;
	json_doc *doc = json_parse(text, strlen(text), &jerr);
	if (!doc) {
		snprintf(msg, msglen, "invalid JSON: %s", jerr.message);
		return msg;
	}
	const json_value *root = json_root(doc);
	const char *err = NULL;
	if (!json_is(root, JSON_OBJECT))
		err = "must be a JSON object of languages";
	for (uint32_t i = 0; !err && i < root->len; i++) {
		const json_value *lang = &root->u.children[i];
		if (!json_is(lang, JSON_OBJECT)) {
			snprintf(msg, msglen, "\"%.40s\" must map to an object of limits", lang->key);
			err = msg;
			break;
		}
		for (uint32_t j = 0; j < lang->len; j++) {
			const json_value *v = &lang->u.children[j];
			bool known = false;
			for (size_t k = 0; k < sizeof limit_keys / sizeof limit_keys[0]; k++)
				known |= !strcmp(v->key, limit_keys[k]);
			if (!known) {
				snprintf(msg, msglen, "\"%.40s\": unknown limit \"%.40s\"", lang->key, v->key);
				err = msg;
				break;
			}
			bool memory = strstr(v->key, "memory_limit") != NULL;
			if (!json_is(v, JSON_NUMBER) || !v->is_integer || v->integer < (memory ? -1 : 0)) {
				snprintf(msg, msglen, "\"%.40s\".%s must be a %s integer", lang->key, v->key,
				         memory ? "-1 or non-negative" : "non-negative");
				err = msg;
				break;
			}
		}
	}
	json_free(doc);
	return err;
}

typedef struct reason {
	char text[160];
} reason;

/* Sets one key from text; returns NULL or the reason it is bad (a literal
 * or written into *why). */
static const char *set_key(config *c, const key *k, const char *val, reason *why_buf)
{
	char *msg = why_buf->text;
	size_t msglen = sizeof why_buf->text;
	char *field = (char *)c + k->offset;
	uint64_t v;
	switch (k->type) {
	case K_LOG: {
		int level = log_level_parse(val);
		if (level < 0)
			return "expected DEBUG, INFO, WARN, ERROR or SILENT";
		*(log_level *)(void *)field = (log_level)level;
		return NULL;
	}
	case K_ADDR:
	case K_STR:
		if (strlen(val) >= k->size)
			return "too long";
		if (k->type == K_ADDR) {
			const char *why = check_address(val);
			if (why)
				return why;
		}
		if (k->offset == offsetof(config, data_directory)) {
			if (!*val)
				return "must not be empty";
			if (*val != '/') {
				/* Absolute, so package paths mean the same to every
				 * module (and inside the sandbox set-up) whatever the cwd. */
				char cwd[4096];
				if (!getcwd(cwd, sizeof cwd))
					return "relative, and the current directory is unknown";
				if (strlen(cwd) + 1 + strlen(val) >= k->size)
					return "too long";
				snprintf(field, k->size, "%s/%s", strcmp(cwd, "/") ? cwd : "", val);
				return NULL;
			}
		}
		memcpy(field, val, strlen(val) + 1);
		return NULL;
	case K_BOOL: {
		static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no", "off"};
		for (size_t i = 0; i < 4; i++) {
			if (!strcasecmp(val, yes[i]) || !strcasecmp(val, no[i])) {
				*(bool *)(void *)field = !strcasecmp(val, yes[i]);
				return NULL;
			}
		}
		return "expected true or false";
	}
	case K_MEM:
		if (!strcmp(val, "-1")) {
			*(int64_t *)(void *)field = -1;
			return NULL;
		}
		/* fall through */
	case K_U32:
	case K_U64:
		if (parse_uint(val, &v) < 0 || v < k->min || v > k->max) {
			snprintf(msg, msglen, "expected %san integer from %llu to %llu",
			         k->type == K_MEM ? "-1 or " : "", (unsigned long long)k->min,
			         (unsigned long long)k->max);
			return msg;
		}
		if (k->type == K_U32)
			*(uint32_t *)(void *)field = (uint32_t)v;
		else if (k->type == K_U64)
			*(uint64_t *)(void *)field = v;
		else
			*(int64_t *)(void *)field = (int64_t)v;
		return NULL;
	case K_OVERRIDES: {
		char **slot = (char **)(void *)field;
		if (!*val) {
			free(*slot);
			*slot = NULL;
			return NULL;
		}
		const char *why = check_overrides(val, msg, msglen);
		if (why)
			return why;
		char *copy = strdup(val);
		if (!copy)
			return "out of memory";
		free(*slot);
		*slot = copy;
		return NULL;
	}
	}
	return "unknown key type";
}

void config_defaults(config *c)
{
	memset(c, 0, sizeof *c);
	reason unused;
	for (size_t i = 0; i < NKEYS; i++)
		(void)set_key(c, &keys[i], keys[i].def, &unused);
}

/* "--run-timeout" for "PISTON_RUN_TIMEOUT". */
static void flag_name(const key *k, char *out, size_t n)
{
	size_t j = 0;
	out[j++] = '-';
	out[j++] = '-';
	for (const char *p = k->env + 7; *p && j + 1 < n; p++)
		out[j++] = *p == '_' ? '-' : (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	out[j] = 0;
}

static int bad(const key *k, const char *why)
{
	fprintf(stderr, "piston: %s: %s\n", k->env, why);
	return -1;
}

static const char *cross_check(const config *c, const key **which)
{
	if (c->runner_uid_min > c->runner_uid_max) {
		*which = &keys[3];
		return "PISTON_RUNNER_UID_MIN is above PISTON_RUNNER_UID_MAX";
	}
	if (c->runner_gid_min > c->runner_gid_max) {
		*which = &keys[5];
		return "PISTON_RUNNER_GID_MIN is above PISTON_RUNNER_GID_MAX";
	}
	return NULL;
}

int config_load(int argc, char **argv)
{
	free(cfg.limit_overrides_json);   /* a reload (tests) replaces everything */
	config_defaults(&cfg);
	reason r;
	for (size_t i = 0; i < NKEYS; i++) {
		const char *v = getenv(keys[i].env);
		if (!v)
			continue;
		const char *why = set_key(&cfg, &keys[i], v, &r);
		if (why)
			return bad(&keys[i], why);
	}
	const char *prog = argc > 0 ? argv[0] : "serve";
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			config_print_help(prog);
			return 1;
		}
		const key *k = NULL;
		const char *val = NULL;
		char name[64];
		for (size_t i = 0; i < NKEYS && !k; i++) {
			flag_name(&keys[i], name, sizeof name);
			size_t n = strlen(name);
			if (strncmp(arg, name, n))
				continue;
			if (arg[n] == '=') {
				k = &keys[i];
				val = arg + n + 1;
			} else if (!arg[n]) {
				k = &keys[i];
				if (a + 1 >= argc) {
					fprintf(stderr, "piston: %s: %s needs a value\n", k->env, name);
					return -1;
				}
				val = argv[++a];
			}
		}
		if (!k) {
			fprintf(stderr, "piston: %s: unknown option '%s' (see piston %s --help)\n", prog, arg, prog);
			return -1;
		}
		const char *why = set_key(&cfg, k, val, &r);
		if (why)
			return bad(k, why);
	}
	const key *which = NULL;
	const char *why = cross_check(&cfg, &which);
	if (why)
		return bad(which, why);
	return 0;
}

void config_print_help(const char *prog)
{
	printf("usage: piston %s [--FLAG VALUE | --FLAG=VALUE]...\n\n"
	       "Every setting is an environment variable and a flag (the flag wins):\n\n", prog);
	char name[64];
	for (size_t i = 0; i < NKEYS; i++) {
		flag_name(&keys[i], name, sizeof name);
		printf("  %-28s %s\n      %s (default: %s)\n", keys[i].env, name, keys[i].help,
		       *keys[i].def ? keys[i].def : "none");
	}
}
