/*
 * execute: POST /api/v2/execute (SPEC section 1) and the job machinery it
 * shares with the WebSocket endpoint (connect.c).
 *
 * Promises:
 * - Validation in upstream Piston's order with its exact messages; a
 *   request that fails validation never reaches the queue.
 * - A job holds one sandbox slot for its whole life: one box, then the
 *   `compile` stage (if the package has one), then `run` unless compile
 *   failed (then run == compile in the response).
 * - Jobs wait in a FIFO queue bounded by cfg.max_queued_jobs (beyond it the
 *   request is refused with 503); at most cfg.max_concurrent_jobs run. Nothing
 *   blocks the event loop.
 * - job_cancel (e.g. the client went away) kills the stage, destroys the
 *   box and frees the slot at once; no callback fires afterwards.
 */
#ifndef PISTON_EXECUTE_H
#define PISTON_EXECUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "engine.h"
#include "json.h"
#include "sandbox.h"

/* Routes POST /api/v2/execute; creates e->sandbox and e->jobs. */
void execute_register(engine *e);
void execute_unregister(engine *e);   /* cancels everything, frees e->jobs */
/* true if a queued or running job uses the package directory. */
bool execute_package_in_use(engine *e, const char *pkg_dir);
size_t execute_running(engine *e);
/* The runtimes were rescanned: drop the compile cache's entries of packages
 * that are gone or were reinstalled. */
void execute_packages_changed(engine *e);
struct ccache_stats;
void execute_cache_stats(engine *e, struct ccache_stats *out);
size_t execute_queued(engine *e);

typedef struct job job;

typedef struct job_events {
	/* The job has its slot and its files are in its box (optional). */
	void (*on_primed)(void *arg, job *j);
	/* A stage begins: "compile" or "run" (optional). */
	void (*on_stage)(void *arg, job *j, const char *stage);
	/* Live output of the current stage, within the output cap (optional). */
	void (*on_output)(void *arg, job *j, sbx_stream s, const char *data, size_t n);
	/* A stage ended (optional). */
	void (*on_stage_done)(void *arg, job *j, const char *stage, const sbx_result *r);
	/* The job is over (required). job_failed / job_render describe it; the
	 * job is freed after this returns. */
	void (*on_done)(void *arg, job *j);
	void *arg;
} job_events;

/* Validate a request body (the parsed JSON `root` of `doc`). On success the
 * job owns doc. On failure returns NULL with *status (400, 503) and msg set;
 * doc stays the caller's. interactive: stdin comes from job_write_stdin. */
job *job_new(engine *e, json_doc *doc, const json_value *root, bool interactive,
             int *status, char *msg, size_t msglen);
/* An element of `args` as the program's argv gets it: a string as is, a
 * number as its JSON text exactly as sent ("3.50", "-1e3"), a boolean as
 * "true"/"false" (SPEC section 1); NULL for null, arrays and objects. The
 * text lives as long as the value's document. */
const char *job_arg_text(const json_value *a);
/* Queue the job. -1 (job freed, 503 message in msg) if the queue is full. */
int job_start(job *j, const job_events *ev, char *msg, size_t msglen);
/* Drop a queued job or kill a running one; frees it; no callback fires. */
void job_cancel(job *j);
/* Interactive jobs: stdin for the run stage (buffered until it starts). */
int job_write_stdin(job *j, const char *data, size_t n);
/* Interactive jobs: end of stdin (the run stage's stdin is closed). */
void job_close_stdin(job *j);
int job_signal(job *j, int signo);
/* Before job_start: the stage's limits, which a caller (judge0.c) may
 * tighten below what the request body set; never loosen them. */
sbx_limits *job_stage_limits(job *j, bool run);
/* Before job_start: NAME=VALUE added to the compile stage's environment
 * only (the run stage's is unchanged), replacing the package's own NAME;
 * part of the compile cache's key. Once per job. 0, or -1 with errno. */
int job_set_compile_env(job *j, const char *name, const char *value);
const char *job_language(const job *j);
const char *job_version(const job *j);
/* From the run stage's on_stage_done on: its output_files as a JSON array
 * (outfiles.h), or NULL when none were asked for. */
const buf *job_output_files(const job *j);
/* After on_done: non-zero HTTP status if the job could not run (message). */
int job_failed(const job *j, const char **message);
/* After on_done: the 200 response body {language, version, run, compile?}. */
void job_render(const job *j, buf *out);

#endif
