/*
 * tests: the `tests`, `compare` and `stop_on_failure` fields of
 * POST /api/v2/execute (SPEC section 1, "Test cases, output files, compile
 * cache"): their validation, how an expected output is compared, and the
 * answer's `tests` and `summary`. The running of the tests (slots, boxes,
 * fairness) is the job queue's (execute.c).
 *
 * Promises:
 * - tests_parse is bounded (cfg.max_tests tests, JOB-like argument caps) and
 *   answers a bad field with a 400 message naming it, e.g.
 *   "tests[3].stdin must be a string"; a test's limits are clamped like the
 *   request's (the same messages, with the test's name of the field).
 * - Texts (stdin, args, expected output) are used in place in the request's
 *   JSON document; only stdin lacking a final newline is copied (upstream
 *   adds one, so does every test).
 * - tests_output_matches never allocates and is linear in its inputs.
 */
#ifndef PISTON_TESTS_H
#define PISTON_TESTS_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"
#include "sandbox.h"

typedef enum { TESTS_EXACT, TESTS_LINES, TESTS_TOKENS } tests_compare;

enum test_state { TEST_PENDING, TEST_RUNNING, TEST_DONE, TEST_SKIPPED };

typedef struct test_case {
	const char *name;
	char default_name[24];       /* "test<i>" when the test has no name */
	const char *stdin_data;      /* with its final newline */
	size_t stdin_len;
	char *stdin_copy;            /* owned: stdin plus the newline */
	const char **argv;           /* owned: "/pkg/run", the first file, args...; NULL: the request's */
	sbx_limits limits;
	const char *expected;        /* NULL: no expected_output (passed is null) */
	size_t expected_len;

	/* The job queue's (execute.c): */
	enum test_state state;
	sbx_result res;
	bool has_res;
	buf files;                   /* its output_files (outfiles.h): a JSON array, or empty */
	sbx_run *run;
	bool compiling;              /* no overlay: its own compile runs first */
	sbx_box *box;
	unsigned slot;
	void *job;
	size_t index;
} test_case;

typedef struct test_set {
	test_case *t;
	size_t n;
	tests_compare compare;
	bool stop_on_failure;
} test_set;

/* What a test takes when it does not say: the request's values, and the
 * configured maxima of run_memory_limit, run_timeout, run_cpu_time (<= 0:
 * none) the test's own may not exceed. */
typedef struct tests_defaults {
	const sbx_limits *run;
	double configured_memory, configured_timeout, configured_cpu;
	const char *const *run_argv;   /* the request's: "/pkg/run", first file, args... */
	const char *stdin_data;
	size_t stdin_len;
} tests_defaults;

/* Parse root's tests/compare/stop_on_failure into ts (zeroed by the caller).
 * Returns 0 (ts->t NULL when the request has no `tests`: a plain request),
 * or an HTTP status (400, 503) with msg set; tests_free either way. */
int tests_parse(test_set *ts, const json_value *root, const tests_defaults *d, char *msg, size_t msglen);
void tests_free(test_set *ts);
/* Does got match expected under the mode? */
bool tests_output_matches(tests_compare mode, const char *expected, size_t elen, const char *got, size_t glen);
/* 1 passed, 0 failed, -1 no verdict (no expected output, or not run). */
int test_verdict(const test_set *ts, const test_case *t);
/* Did the test fail or end with a status (stop_on_failure's trigger)? */
bool test_failed(const test_set *ts, const test_case *t);
/* "tests": [...], "summary": {...} as members of the caller's object. */
struct jw;
void tests_render(struct jw *w, const test_set *ts);

#endif
