/*
 * sandbox: runs one stage of a job (one command) isolated from the host and
 * from every other job (SPEC section 4), driven by the event loop: the
 * child's pipes, its pidfd and its timers are loop events, so any number of
 * stages run at once without a thread each.
 *
 * Promises:
 * - Every stage gets fresh mount/PID/IPC/UTS/cgroup namespaces and a pooled
 *   empty network namespace (lo only); a tmpfs root with the package's usr/
 *   read-only at /usr (/bin, /lib, /lib64, /sbin link into it), the package
 *   directory read-only at /pkg (so /pkg/run, /pkg/compile), the job's box at
 *   /box (cwd), fresh /tmp and /dev/shm, minimal /dev, fresh /proc,
 *   generated /etc/passwd and /etc/group.
 * - The stage runs as the slot's unprivileged uid/gid with no_new_privs and
 *   the seccomp deny-list; PID 1 is our init, so the whole job dies with it.
 * - Any limit kills every process of the stage at once; on_done is called
 *   exactly once (unless sbx_cancel was called first) after every process of
 *   the stage is gone and its cgroup is empty.
 * - The engine never follows a path inside a box with its own privileges:
 *   box files are written with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS).
 * - Nothing remains after a stage (processes, mounts, cgroups) or after a
 *   box is destroyed (files). sbx_system_init removes stale leftovers of an
 *   engine that was killed.
 */
#ifndef PISTON_SANDBOX_H
#define PISTON_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"

typedef struct sbx_system sbx_system;   /* cgroup mode, netns pool, slots */
typedef struct sbx_box sbx_box;         /* one job's /box, lives across its stages */
typedef struct sbx_run sbx_run;         /* one running stage */

typedef struct sbx_limits {
	uint64_t wall_ms;          /* 0 = no limit */
	uint64_t cpu_ms;           /* 0 = no limit */
	int64_t memory_bytes;      /* -1 = no limit */
	uint32_t max_procs;        /* 0 = no limit */
	uint32_t max_open_files;   /* 0 = no limit */
	uint64_t max_file_size;    /* 0 = no limit */
	/* RLIMIT_STACK in bytes: 0 = the engine's own (inherited), UINT64_MAX =
	 * unlimited (RLIM_INFINITY), else that many bytes. */
	uint64_t max_stack;
	uint64_t output_max;       /* bytes per stream (stdout, stderr); 0 = no limit */
	/* Limits on each process of the stage on its own (isolate without
	 * --cg-timing, and its -m), besides the stage-wide ones above; 0 = none.
	 * CPU: every process's CPU time (all its threads) is polled from the
	 * slot's cgroup and /proc every limit/10 ms (10..100) from the start;
	 * the first one at the limit kills the whole stage ("TO"); the most
	 * seen is max_process_cpu_ms. RLIMIT_CPU is a backstop
	 * a little later, rounded up to whole seconds (without cgroups, the
	 * limit itself, rounded up); a command it stops is "TO" too. Memory:
	 * RLIMIT_AS in bytes, so an allocation beyond it fails (the program
	 * decides what follows); memory_bytes still bounds the whole stage. */
	uint64_t cpu_ms_per_process;
	uint64_t memory_per_process;
} sbx_limits;

typedef enum { SBX_STDOUT = 1, SBX_STDERR = 2 } sbx_stream;

typedef struct sbx_result {
	buf out, err;              /* captured stdout, stderr (each <= output_max) */
	buf output;                /* both, interleaved in arrival order */
	bool exited;               /* exited normally: code is valid */
	int code;
	int signal;                /* terminating signal number, 0 if none */
	char status[3];            /* "" clean, "RE","SG","TO","OL","EL","XX" */
	char message[192];         /* human text for a non-empty status */
	uint64_t memory;           /* peak bytes */
	uint64_t cpu_ms, wall_ms;
	/* With limits.cpu_ms_per_process: the most CPU time (ms) one process
	 * was seen to have by the poll (a sample: one that ended between two
	 * looks counts with what it had at the last). 0 otherwise. */
	uint64_t max_process_cpu_ms;
	/* Where the stage's time went, in us: setup = sbx_start to the
	 * command's exec, run = exec to the command's exit, teardown = that
	 * exit to on_done (the PID namespace's end, the cgroup check). A stage
	 * whose init did not report (killed at a limit) counts as run. */
	uint64_t setup_us, run_us, teardown_us;
} sbx_result;

void sbx_result_free(sbx_result *r);

typedef struct sbx_spec {
	const char *pkg_dir;       /* DATA/packages/LANG/VERSION (host path, engine-owned) */
	sbx_box *box;
	/* Or NULL. Else /box is an overlay: this box (e.g. what a compile
	 * left) the read-only lower layer, shared by any number of stages and
	 * never changed by them; `box` the writable upper layer, made by
	 * sbx_box_make_upper. Only where sbx_overlay_available. */
	sbx_box *lower;
	unsigned slot;             /* 0 .. slots-1: picks uid/gid, netns, cgroup */
	const char *const *argv;   /* argv[0]: path inside the sandbox, e.g. "/pkg/run" */
	const char *const *envp;   /* the complete environment */
	const char *stdin_data;    /* written to the program's stdin, then closed */
	size_t stdin_len;
	bool interactive;          /* keep stdin open: sbx_write_stdin / sbx_close_stdin */
	sbx_limits limits;
} sbx_spec;

typedef struct sbx_callbacks {
	/* Optional: live output as it arrives (only the bytes within output_max). */
	void (*on_output)(void *arg, sbx_stream stream, const char *data, size_t n);
	/* Required: the stage is over and fully cleaned up. The receiver owns
	 * *res (sbx_result_free). The sbx_run is freed after this returns. */
	void (*on_done)(void *arg, sbx_result *res);
	void *arg;
} sbx_callbacks;

/* Detect cgroup v1/v2, create `slots` network namespaces and per-slot state,
 * remove leftovers of a killed engine, log which limits cannot be enforced.
 * Must run as root. NULL on failure (message in err). */
sbx_system *sbx_system_init(unsigned slots, char *err, size_t errlen);
void sbx_system_free(sbx_system *s);
uid_t sbx_slot_uid(const sbx_system *s, unsigned slot);
gid_t sbx_slot_gid(const sbx_system *s, unsigned slot);

/* A size-capped writable tree for one job, owned by the slot's uid. */
sbx_box *sbx_box_create(sbx_system *s, unsigned slot, uint64_t size_bytes, char *err, size_t errlen);
/* Write a file at relpath (may contain subdirectories, created as needed).
 * Never follows links; fails with EINVAL-like errno on absolute paths or "..".
 * Returns 0, or -1 with errno set. */
int sbx_box_write(sbx_box *b, const char *relpath, const void *data, size_t len, unsigned mode);
/* Why a client's path (files[].name, output_files[]) cannot name a file in
 * a box: NULL if it is relative, non-empty, at most max_len bytes, free of
 * NUL, with no empty, "." or ".." component and none over 255 bytes; else
 * the reason, worded to follow the field's name ("is too long"). */
const char *sbx_box_path_problem(const char *name, size_t len, size_t max_len);
void sbx_box_destroy(sbx_box *b);
/* The box's root directory (its detached mount), for reading back what a
 * stage left there (outfiles.h) with openat2 below it; owned by the box. */
int sbx_box_dirfd(const sbx_box *b);
/* Make a fresh box an overlay's upper layer (sbx_spec.lower): its u/ (the
 * files, owned by the box's uid) and w/ (overlay's work directory). 0/-1. */
int sbx_box_make_upper(sbx_box *b);
/* What a box holds, from statfs of its tmpfs (never by reading it):
 * bytes and inodes used, and whether either cap is (nearly) reached. */
typedef struct sbx_box_usage {
	uint64_t bytes, inodes, max_bytes, max_inodes;
	bool full;
} sbx_box_usage;
int sbx_box_usage_get(const sbx_box *b, sbx_box_usage *u);
/* Probed at sbx_system_init: can a stage's /box be an overlay (tmpfs
 * lower and upper)? Not in some containers. */
bool sbx_overlay_available(const sbx_system *s);
/* Kernels before 6.15 (stage.h's holder namespace): a box is attached
 * there by the first stage that uses it; two stages must not both do that
 * at once, so the first stage over a new lower box runs alone. */
bool sbx_lower_first_use_alone(const sbx_system *s);

/* Start a stage. On failure to start, returns NULL and fills err. */
sbx_run *sbx_start(sbx_system *s, loop *l, const sbx_spec *spec, const sbx_callbacks *cb,
                   char *err, size_t errlen);
/* Interactive only: queue bytes for the program's stdin (fed as it reads;
 * at most 1 MiB waiting, beyond that -1 with ENOBUFS). 0, or -1 with errno. */
int sbx_write_stdin(sbx_run *r, const void *data, size_t n);
/* Close stdin once everything queued has been taken. */
void sbx_close_stdin(sbx_run *r);
/* Interactive only: deliver signo to the program (not to our init). */
int sbx_signal(sbx_run *r, int signo);
/* Kill the stage now; on_done will not be called; resources are released. */
void sbx_cancel(sbx_run *r);

/* "SIGKILL" for 9, NULL if unknown; and back (0 if unknown). */
const char *sbx_signal_name(int signo);
int sbx_signal_number(const char *name);
/* The STAGE object of SPEC section 1 (stdout, stderr, output, code, signal,
 * message, status, memory, cpu_time, wall_time). */
struct jw;
void sbx_result_write_json(struct jw *w, const sbx_result *r);
/* The same members without the braces (for objects that add their own). */
void sbx_result_write_fields(struct jw *w, const sbx_result *r);

/* `piston sandbox [--time MS] [--wall MS] [--mem BYTES] [--procs N]
 *  [--output BYTES] [--root PKGDIR] [--box DIR] -- CMD ARGS...` */
int cmd_sandbox(int argc, char **argv);

#endif
