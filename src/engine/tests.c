/*
 * tests: validation, comparison and rendering of an execute request's test
 * cases (tests.h). Everything here works on the request's JSON document in
 * place; the job queue (execute.c) runs them.
 */
#include "tests.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "execute.h"

#define TEST_MAX_ARGS 4096
#define TEST_NAME_MAX 256

static int bad(char *msg, size_t msglen, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(char *msg, size_t msglen, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return status;
}

static bool present(const json_value *v)
{
	return v && !json_is(v, JSON_NULL);
}

/* One of run_timeout, run_cpu_time, run_memory_limit of test i, as
 * execute.c's parse_limits treats the request's (SPEC section 1): a number,
 * not above the configured limit, not negative; 0 or absent: *out stays. */
static int test_limit(const json_value *t, size_t i, const char *name, double configured, double *out,
                      char *msg, size_t msglen)
{
	const json_value *v = json_get(t, name);
	if (!present(v) || (json_is(v, JSON_NUMBER) && v->u.number == 0))
		return 0;
	if (!json_is(v, JSON_NUMBER) || isnan(v->u.number))
		return bad(msg, msglen, 400, "If specified, tests[%zu].%s must be a number", i, name);
	double value = v->u.number;
	if (configured > 0 && value > configured)
		return bad(msg, msglen, 400, "tests[%zu].%s cannot exceed the configured limit of %.17g", i, name,
		           configured);
	if (value < 0)
		return bad(msg, msglen, 400, "tests[%zu].%s must be non-negative", i, name);
	*out = ceil(value);
	return 0;
}

static uint64_t to_u64(double v)
{
	return v >= 1.8e19 ? UINT64_MAX : (uint64_t)v;
}

static int parse_one(test_case *tc, const json_value *t, size_t i, const tests_defaults *d, char *msg, size_t msglen)
{
	if (!json_is(t, JSON_OBJECT))
		return bad(msg, msglen, 400, "tests[%zu] must be an object", i);
	tc->index = i;
	tc->limits = *d->run;
	const json_value *name = json_get(t, "name");
	if (present(name)) {
		if (!json_is(name, JSON_STRING))
			return bad(msg, msglen, 400, "tests[%zu].name must be a string", i);
		if (name->len > TEST_NAME_MAX || memchr(name->u.string, '\0', name->len))
			return bad(msg, msglen, 400, "tests[%zu].name must be at most %d bytes without NUL", i,
			           TEST_NAME_MAX);
		tc->name = name->u.string;
	} else {
		snprintf(tc->default_name, sizeof tc->default_name, "test%zu", i);
		tc->name = tc->default_name;
	}
	const json_value *in = json_get(t, "stdin");
	if (present(in)) {
		if (!json_is(in, JSON_STRING))
			return bad(msg, msglen, 400, "tests[%zu].stdin must be a string", i);
		/* Like the request's stdin: upstream adds a final newline. */
		if (in->len > 0 && in->u.string[in->len - 1] == '\n') {
			tc->stdin_data = in->u.string;
			tc->stdin_len = in->len;
		} else {
			if (!(tc->stdin_copy = malloc((size_t)in->len + 1)))
				return bad(msg, msglen, 503, "out of memory");
			memcpy(tc->stdin_copy, in->u.string, in->len);
			tc->stdin_copy[in->len] = '\n';
			tc->stdin_data = tc->stdin_copy;
			tc->stdin_len = (size_t)in->len + 1;
		}
	} else {
		tc->stdin_data = d->stdin_data;
		tc->stdin_len = d->stdin_len;
	}
	const json_value *args = json_get(t, "args");
	if (present(args)) {
		if (!json_is(args, JSON_ARRAY))
			return bad(msg, msglen, 400, "tests[%zu].args must be an array of strings", i);
		if (args->len > TEST_MAX_ARGS)
			return bad(msg, msglen, 400, "tests[%zu].args must not hold more than %d strings", i, TEST_MAX_ARGS);
		if (!(tc->argv = malloc(((size_t)args->len + 3) * sizeof *tc->argv)))
			return bad(msg, msglen, 503, "out of memory");
		size_t n = 0;
		tc->argv[n++] = d->run_argv[0];
		tc->argv[n++] = d->run_argv[1];
		for (size_t k = 0; k < args->len; k++) {
			const json_value *a = json_at(args, k);
			const char *text = job_arg_text(a);
			if (!text)
				return bad(msg, msglen, 400, "tests[%zu].args[%zu] must be a string, a number or a boolean, not %s",
				           i, k, json_type_name(a->type));
			if (json_is(a, JSON_STRING) && memchr(text, '\0', a->len))
				return bad(msg, msglen, 400, "tests[%zu].args[%zu] must not contain a NUL byte", i, k);
			tc->argv[n++] = text;
		}
		tc->argv[n] = NULL;
	}
	const json_value *exp = json_get(t, "expected_output");
	if (present(exp)) {
		if (!json_is(exp, JSON_STRING))
			return bad(msg, msglen, 400, "tests[%zu].expected_output must be a string", i);
		tc->expected = exp->u.string;
		tc->expected_len = exp->len;
	}
	double mem = tc->limits.memory_bytes < 0 ? 0 : (double)tc->limits.memory_bytes;
	double wall = (double)tc->limits.wall_ms, cpu = (double)tc->limits.cpu_ms;
	int rc;
	if ((rc = test_limit(t, i, "run_memory_limit", d->configured_memory, &mem, msg, msglen)) ||
	    (rc = test_limit(t, i, "run_timeout", d->configured_timeout, &wall, msg, msglen)) ||
	    (rc = test_limit(t, i, "run_cpu_time", d->configured_cpu, &cpu, msg, msglen)))
		return rc;
	tc->limits.memory_bytes = mem > 0 ? (int64_t)fmin(mem, 9.2e18) : -1;
	tc->limits.wall_ms = to_u64(wall);
	tc->limits.cpu_ms = to_u64(cpu);
	return 0;
}

int tests_parse(test_set *ts, const json_value *root, const tests_defaults *d, char *msg, size_t msglen)
{
	const json_value *tests = json_get(root, "tests");
	const json_value *compare = json_get(root, "compare");
	const json_value *stop = json_get(root, "stop_on_failure");
	ts->compare = TESTS_LINES;
	if (present(compare)) {
		if (!json_is(compare, JSON_STRING))
			return bad(msg, msglen, 400, "compare must be one of exact, lines, tokens");
		if (!strcmp(compare->u.string, "exact"))
			ts->compare = TESTS_EXACT;
		else if (!strcmp(compare->u.string, "tokens"))
			ts->compare = TESTS_TOKENS;
		else if (strcmp(compare->u.string, "lines"))
			return bad(msg, msglen, 400, "compare must be one of exact, lines, tokens");
	}
	if (present(stop)) {
		if (!json_is(stop, JSON_TRUE) && !json_is(stop, JSON_FALSE))
			return bad(msg, msglen, 400, "stop_on_failure must be a boolean");
		ts->stop_on_failure = json_is(stop, JSON_TRUE);
	}
	if (!present(tests))
		return 0;
	if (!json_is(tests, JSON_ARRAY))
		return bad(msg, msglen, 400, "tests must be an array");
	if (tests->len > cfg.max_tests)
		return bad(msg, msglen, 400, "tests holds %u tests; the configured limit is %u", (unsigned)tests->len,
		           (unsigned)cfg.max_tests);
	/* One element even for `tests: []`: a request with tests, none to run. */
	if (!(ts->t = calloc(tests->len ? tests->len : 1, sizeof *ts->t)))
		return bad(msg, msglen, 503, "out of memory");
	for (size_t i = 0; i < tests->len; i++) {
		ts->n = i + 1;
		int rc = parse_one(&ts->t[i], json_at(tests, i), i, d, msg, msglen);
		if (rc)
			return rc;
	}
	ts->n = tests->len;
	return 0;
}

void tests_free(test_set *ts)
{
	if (!ts->t)
		return;
	for (size_t i = 0; i < ts->n; i++) {
		free(ts->t[i].stdin_copy);
		free(ts->t[i].argv);
		if (ts->t[i].has_res)
			sbx_result_free(&ts->t[i].res);
		buf_free(&ts->t[i].files);
	}
	free(ts->t);
	ts->t = NULL;
	ts->n = 0;
}

/* ---- comparison ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The next line of [*p, end): its start and its length without trailing
 * whitespace (spaces, tabs, \r); false at the end. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
	if (*p >= end)
		return false;
	const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));
	const char *e = nl ? nl : end;
	*p = nl ? nl + 1 : end;
	while (e > s && is_space(e[-1]))
		e--;
	*line = s;
	*len = (size_t)(e - s);
	return true;
}

/* Without the trailing empty (or all-blank) lines. */
static size_t trim_trailing_blank(const char *s, size_t n)
{
	while (n > 0 && is_space(s[n - 1]))
		n--;
	return n;
}

static bool next_token(const char **p, const char *end, const char **tok, size_t *len)
{
	const char *s = *p;
	while (s < end && is_space(*s))
		s++;
	if (s >= end) {
		*p = end;
		return false;
	}
	const char *e = s;
	while (e < end && !is_space(*e))
		e++;
	*tok = s;
	*len = (size_t)(e - s);
	*p = e;
	return true;
}

bool tests_output_matches(tests_compare mode, const char *expected, size_t elen, const char *got, size_t glen)
{
	if (mode == TESTS_EXACT)
		return elen == glen && (elen == 0 || !memcmp(expected, got, elen));
	const char *a = expected, *ae = expected, *b = got, *be = got;
	const char *x, *y;
	size_t xn, yn;
	if (mode == TESTS_TOKENS) {
		ae = expected + elen;
		be = got + glen;
		for (;;) {
			bool hx = next_token(&a, ae, &x, &xn), hy = next_token(&b, be, &y, &yn);
			if (hx != hy)
				return false;
			if (!hx)
				return true;
			if (xn != yn || memcmp(x, y, xn))
				return false;
		}
	}
	ae = expected + trim_trailing_blank(expected, elen);
	be = got + trim_trailing_blank(got, glen);
	for (;;) {
		bool hx = next_line(&a, ae, &x, &xn), hy = next_line(&b, be, &y, &yn);
		if (hx != hy)
			return false;
		if (!hx)
			return true;
		if (xn != yn || (xn && memcmp(x, y, xn)))
			return false;
	}
}

int test_verdict(const test_set *ts, const test_case *t)
{
	if (t->state != TEST_DONE || !t->has_res || !t->expected)
		return -1;
	if (t->res.status[0])
		return 0;
	return tests_output_matches(ts->compare, t->expected, t->expected_len, t->res.out.data ? t->res.out.data : "",
	                            t->res.out.len);
}

bool test_failed(const test_set *ts, const test_case *t)
{
	return t->state == TEST_DONE && ((t->has_res && t->res.status[0]) || test_verdict(ts, t) == 0);
}

void tests_render(jw *w, const test_set *ts)
{
	size_t passed = 0, failed = 0, skipped = 0;
	jw_key(w, "tests");
	jw_array_begin(w);
	for (size_t i = 0; i < ts->n; i++) {
		const test_case *t = &ts->t[i];
		jw_object_begin(w);
		jw_key(w, "name");
		jw_string(w, t->name);
		if (t->state != TEST_DONE || !t->has_res) {
			skipped++;
			jw_key(w, "status");
			jw_string(w, "SK");
			jw_key(w, "message");
			jw_string(w, "skipped");
			jw_object_end(w);
			continue;
		}
		sbx_result_write_fields(w, &t->res);
		if (t->files.len) {
			jw_key(w, "files");
			jw_raw(w, t->files.data, t->files.len);
		}
		int v = test_verdict(ts, t);
		jw_key(w, "passed");
		if (v < 0)
			jw_null(w);
		else
			jw_bool(w, v == 1);
		if (test_failed(ts, t))
			failed++;
		else
			passed++;
		jw_object_end(w);
	}
	jw_array_end(w);
	jw_key(w, "summary");
	jw_object_begin(w);
	jw_key(w, "passed");
	jw_uint(w, passed);
	jw_key(w, "failed");
	jw_uint(w, failed);
	jw_key(w, "skipped");
	jw_uint(w, skipped);
	jw_key(w, "total");
	jw_uint(w, ts->n);
	jw_object_end(w);
}
