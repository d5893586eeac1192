/* test_tests: the `compare` modes of tests.c (exact, lines, tokens), their
 * edge cases, and the validation of `tests` fields (messages naming them). */
#include <string.h>

#include "config.h"
#include "json.h"
#include "tests.h"
#include "t.h"

static bool m(tests_compare mode, const char *exp, const char *got)
{
	return tests_output_matches(mode, exp, strlen(exp), got, strlen(got));
}

static void test_compare(void)
{
	CHECK(m(TESTS_EXACT, "", ""));
	CHECK(m(TESTS_EXACT, "a\n", "a\n"));
	CHECK(!m(TESTS_EXACT, "a", "a\n"));
	CHECK(!m(TESTS_EXACT, "a\n", "a"));
	CHECK(m(TESTS_LINES, "a", "a\n"));
	CHECK(m(TESTS_LINES, "a\nb", "a  \nb\t\r\n\n\n"));
	CHECK(m(TESTS_LINES, "", "\n\n \n"));
	CHECK(!m(TESTS_LINES, "a\nb", "a\n\nb"));
	CHECK(!m(TESTS_LINES, " a", "a"));       /* leading spaces count */
	CHECK(!m(TESTS_LINES, "a b", "a  b"));
	CHECK(!m(TESTS_LINES, "a\nb", "a"));
	CHECK(m(TESTS_LINES, "a\r\nb\r\n", "a\nb\n"));
	CHECK(m(TESTS_TOKENS, "1 2 3", "1\n2\n\n3\n"));
	CHECK(m(TESTS_TOKENS, "", "  \n"));
	CHECK(!m(TESTS_TOKENS, "1 2", "12"));
	CHECK(!m(TESTS_TOKENS, "1 2", "1 2 3"));
	CHECK(!m(TESTS_TOKENS, "1 2 3", "1 2"));
	/* bytes past a NUL still count */
	CHECK(!tests_output_matches(TESTS_EXACT, "a\0b", 3, "a\0c", 3));
	CHECK(tests_output_matches(TESTS_LINES, "a\0b", 3, "a\0b\n", 4));
}

static int parse(const char *body, char *msg, size_t n, test_set *ts)
{
	json_error err;
	json_doc *d = json_parse(body, strlen(body), &err);
	if (!d)
		return -1;
	sbx_limits run = { .wall_ms = 3000, .cpu_ms = 3000, .memory_bytes = -1 };
	const char *argv[] = { "/pkg/run", "main.c", NULL };
	tests_defaults def = { .run = &run, .configured_memory = -1, .configured_timeout = 3000,
	                       .configured_cpu = 3000, .run_argv = argv, .stdin_data = "\n", .stdin_len = 1 };
	memset(ts, 0, sizeof *ts);
	msg[0] = 0;
	int rc = tests_parse(ts, json_root(d), &def, msg, n);
	/* texts point into the document: check before freeing it */
	if (rc == 0 && ts->n == 2) {
		CHECK(!strcmp(ts->t[0].name, "test0") && !strcmp(ts->t[1].name, "b"));
		CHECK(ts->t[1].stdin_len == 3 && !memcmp(ts->t[1].stdin_data, "in\n", 3));
		CHECK(ts->t[1].argv && !strcmp(ts->t[1].argv[1], "main.c") && !strcmp(ts->t[1].argv[2], "7"));
		CHECK(ts->t[1].limits.wall_ms == 100 && ts->t[0].limits.wall_ms == 3000);
		CHECK(ts->compare == TESTS_TOKENS && ts->stop_on_failure);
	}
	tests_free(ts);
	json_free(d);
	return rc;
}

static void test_parse(void)
{
	char msg[256];
	test_set ts;
	cfg.max_tests = 100;
	CHECK(parse("{}", msg, sizeof msg, &ts) == 0);
	CHECK(parse("{\"tests\":[{},{\"name\":\"b\",\"stdin\":\"in\",\"args\":[7],\"run_timeout\":100}],"
	            "\"compare\":\"tokens\",\"stop_on_failure\":true}", msg, sizeof msg, &ts) == 0);
	static const struct { const char *body, *msg; } bad[] = {
		{ "{\"tests\":{}}", "tests must be an array" },
		{ "{\"tests\":[{},{\"stdin\":1}]}", "tests[1].stdin must be a string" },
		{ "{\"tests\":[{\"run_timeout\":3001}]}", "tests[0].run_timeout cannot exceed the configured limit of 3000" },
		{ "{\"tests\":[{\"run_cpu_time\":-5}]}", "tests[0].run_cpu_time must be non-negative" },
		{ "{\"tests\":[{\"args\":[null]}]}", "tests[0].args[0] must be a string, a number or a boolean, not null" },
		{ "{\"compare\":\"x\"}", "compare must be one of exact, lines, tokens" },
		{ "{\"stop_on_failure\":1}", "stop_on_failure must be a boolean" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = parse(bad[i].body, msg, sizeof msg, &ts);
		CHECKF(rc == 400 && !strcmp(msg, bad[i].msg), "%s -> %d %s", bad[i].body, rc, msg);
	}
	cfg.max_tests = 1;
	CHECK(parse("{\"tests\":[{},{}]}", msg, sizeof msg, &ts) == 400 &&
	      !strcmp(msg, "tests holds 2 tests; the configured limit is 1"));
}

int main(void)
{
	test_compare();
	test_parse();
	return t_done();
}
