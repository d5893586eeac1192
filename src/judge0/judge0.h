/*
 * judge0: the Judge0 CE 1.13 compatible API on the engine (SPEC section 6):
 * POST /submissions (?base64_encoded, ?wait, ?fields incl. `*`),
 * GET /submissions/{token}, POST and GET /submissions/batch (<= 20),
 * DELETE /submissions/{token} (cfg.judge0_allow_delete), GET /submissions
 * (paged, newest first; cfg.judge0_allow_list, else 403),
 * GET /languages, /languages/{id}, /statuses, /about, /config_info,
 * /system_info, /workers.
 *
 * Promises:
 * - No second execution path: every submission becomes a Piston execute
 *   request body, validated by job_new and run by job_start in the same
 *   queue, sandbox and limits as POST /api/v2/execute; Judge0's limit
 *   fields map onto the body (seconds -> ms, KB -> bytes) and onto the
 *   job's stage limits (processes, file size, stack), never above the
 *   engine's. compiler_options (C and C++ only, as Judge0's allowed
 *   languages) reach the compile stage as PISTON_COMPILER_OPTIONS without
 *   Judge0's removed characters ($&;<>|`); they never reach a shell.
 * - Field errors are 422 bodies keyed by field name, {"field": ["message"]},
 *   with Judge0's wording; other errors are {"error", "message"}.
 * - Tokens are random v4 UUIDs (getrandom). Results live in memory for
 *   cfg.judge0_result_ttl seconds (at most J0_MAX_KEPT submissions) and in
 *   the journal (DATA/judge0/journal, journal.h): after a restart finished
 *   results are served again and unfinished submissions run again. A
 *   deleted submission leaves memory and the journal.
 * - A token (201, a batch's tokens, or a wait=true result) is answered
 *   only after its record's fdatasync, which the journal's syncer thread
 *   runs off the event loop, shared by every submission appended before it
 *   (group commit). The job starts at once; a wait=true answer waits for
 *   both its run and its sync. A client that leaves first is forgotten
 *   (its submission goes on).
 * - additional_files (a base64 zip) is unpacked by unzip.c into files of
 *   the same request, so execute.c writes them into the box.
 */
#ifndef PISTON_JUDGE0_H
#define PISTON_JUDGE0_H

#include "buf.h"
#include "engine.h"
#include "journal.h"

#define J0_MAX_KEPT 100000
#define J0_MAX_BATCH 20
#define J0_PER_PAGE 20             /* GET /submissions: Judge0's Submission.per_page */
#define J0_MAX_PER_PAGE 100        /* ours: Judge0 has no bound */
#define J0_DEFAULT_FIELDS "stdout,time,memory,stderr,token,compile_output,message,status"

/* Registers the routes unless cfg.judge0_api is false; after execute_register. */
void judge0_register(engine *e);
/* Cancels running submissions, frees the store. */
void judge0_unregister(engine *e);

/* The status a finished stage pair maps to (exposed for unit tests):
 * compile_failed -> 6; run status "TO" -> 5, "SG" by signal (SIGSEGV 7,
 * SIGXFSZ 8, SIGFPE 9, SIGABRT 10, other 12), "RE" or a non-zero exit -> 11,
 * "OL"/"EL" -> 12, "XX" -> 13; a clean run -> 3, or 4 when expected_output
 * differs from stdout (compared line by line without trailing spaces). */
int judge0_status_of(bool compile_failed, const char *run_status, int signal, bool exited, int code,
                     const char *expected, size_t expected_len, const char *out, size_t out_len);
/* The run stage's CPU limits from Judge0's (seconds), as isolate's -t/-x:
 * killed at cpu_time_limit + cpu_extra_time (whole ms, clamped to
 * engine_max_ms, 0 = none). That is the stage-wide limit (*stage_ms), or
 * with per_process (enable_per_process_and_thread_time_limit, isolate
 * without --cg-timing) each process's (*per_process_ms), and the stage-wide
 * one is then engine_max_ms alone; *per_process_ms is 0 without it. */
void judge0_cpu_limits(double cpu_time_limit, double cpu_extra_time, bool per_process, uint64_t engine_max_ms,
                       uint64_t *stage_ms, uint64_t *per_process_ms);
/* The run's status for judge0_status_of: "TO" when its CPU time (ms) is
 * over cpu_time_limit though it ran on into its extra time (isolate reports
 * TO then, whatever the exit) -- the stage's (cpu_ms), or with per_process
 * the most one process used (max_process_cpu_ms); else the sandbox's own. */
const char *judge0_run_status(const char *stage_status, uint64_t cpu_ms, uint64_t max_process_cpu_ms,
                              double cpu_time_limit, bool per_process);
const char *judge0_status_text(int id);
/* Appends Judge0's error body {"error": msg, "message": msg} (the engine's
 * and the proxy's answers share it). */
void judge0_error_body(buf *b, const char *msg);   /* "Accepted" ...; "" for unknown ids */
/* Judge0 CE's language id -> our language (or alias) and version selector,
 * as the engine resolves it (the proxy routes submissions by it); false for
 * an id not in the table. */
bool judge0_language_of(long id, const char **language, const char **selector);

/* GET /submissions's query as the engine reads it (the proxy reads it the
 * same way, so both refuse with the same words): page (1 when absent),
 * per_page (J0_PER_PAGE; at most J0_MAX_PER_PAGE), base64_encoded, wait,
 * fields (J0_DEFAULT_FIELDS when absent or empty; `*` is every field).
 * Both numbers as Judge0 reads them (Ruby's to_i: "abc" is 0). False with
 * Judge0's 400 message in msg ("invalid page: 0", "invalid fields: [x]" ...). */
typedef struct judge0_list_query {
	long long page, per_page;
	bool b64;
	char fields[512];
} judge0_list_query;
bool judge0_list_query_parse(const http_request *req, judge0_list_query *q, char *msg, size_t msglen);
/* Does a fields list (comma-separated, or `*`) name field? */
bool judge0_field_wanted(const char *fields, const char *name);

/* The journal's counters (records, fdatasync calls); false before the
 * journal exists (no Judge0 submission yet) or without the API. */
bool judge0_journal_counters(engine *e, journal_counters *out);

#endif
