/* resp.c (RESP2 replies, hostile ones included) and redis.c's URL parser. */
#include <stdlib.h>
#include <string.h>

#include "redis.h"
#include "resp.h"
#include "t.h"

static ssize_t parse(const char *s, resp_reply *r)
{
	return resp_parse(s, strlen(s), r);
}

/* Every proper prefix of a good reply is incomplete, never bad. */
static void prefixes_incomplete(const char *s)
{
	resp_reply r;
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		CHECKF(resp_parse(s, i, &r) == RESP_INCOMPLETE, "%zu bytes of %s", i, s);
	CHECKF(resp_parse(s, n, &r) == (ssize_t)n, "%s", s);
}

static void good_replies(void)
{
	resp_reply r;
	CHECK(parse("+OK\r\n", &r) == 5 && r.type == RESP_STATUS && r.v.len == 2 && !memcmp(r.v.str, "OK", 2));
	CHECK(parse("-NOSCRIPT No matching script\r\n", &r) == 30 && r.type == RESP_ERROR && r.v.len == 27);
	CHECK(parse(":42\r\n", &r) == 5 && r.type == RESP_INT && r.v.integer == 42);
	CHECK(parse(":-7\r\n", &r) == 5 && r.type == RESP_INT && r.v.integer == -7);
	CHECK(parse(":9223372036854775807\r\n", &r) > 0 && r.v.integer == INT64_MAX);
	CHECK(parse(":-9223372036854775808\r\n", &r) > 0 && r.v.integer == INT64_MIN);
	CHECK(parse("$3\r\nabc\r\n", &r) == 9 && r.type == RESP_BULK && r.v.len == 3 && !memcmp(r.v.str, "abc", 3));
	CHECK(parse("$0\r\n\r\n", &r) == 6 && r.type == RESP_BULK && r.v.len == 0);
	CHECK(parse("$-1\r\n", &r) == 5 && r.type == RESP_NIL);
	CHECK(parse("*-1\r\n", &r) == 5 && r.type == RESP_NIL);
	CHECK(parse("*0\r\n", &r) == 4 && r.type == RESP_ARRAY && r.n == 0);
	CHECK(parse("*2\r\n:1\r\n:530\r\n", &r) == 14 && r.type == RESP_ARRAY && r.n == 2 && r.elem[0].integer == 1 &&
	      r.elem[1].integer == 530);
	CHECK(parse("*3\r\n$1\r\nx\r\n$-1\r\n+ok\r\n", &r) > 0 && r.n == 3 && r.elem[1].type == RESP_NIL &&
	      r.elem[2].type == RESP_STATUS);
	/* a bulk string may hold CR LF and NUL */
	CHECK(resp_parse("$4\r\n\r\n\0x\r\n", 10, &r) == 10 && r.v.len == 4);
	/* two pipelined replies: one at a time */
	CHECK(parse("+OK\r\n:1\r\n", &r) == 5);
	prefixes_incomplete("*2\r\n:1\r\n:530\r\n");
	prefixes_incomplete("$40\r\n0123456789012345678901234567890123456789\r\n");
	prefixes_incomplete("-ERR wrong\r\n");
}

static void hostile_replies(void)
{
	resp_reply r;
	static const char *const bad[] = {
		"?\r\n", "OK\r\n", ":\r\n", ":12a\r\n", ": 1\r\n", ":+1\r\n", ":--1\r\n",
		":9223372036854775808\r\n", ":-9223372036854775809\r\n", ":12345678901234567890\r\n",
		"$-2\r\n", "$abc\r\n", "$3\r\nabcd\r\n", "$3\r\nabc\n\n", "$65537\r\n", "$99999999999999999999\r\n",
		"*17\r\n", "*-2\r\n", "*1\r\n*1\r\n:1\r\n", "*2\r\n:1\r\n?\r\n", "+OK\n", "+O\nK\r\n", "+OK\rX\n",
		"-ERR\r\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECKF(parse(bad[i], &r) == RESP_BAD, "%zu: %s", i, bad[i]);
	/* an endless line is refused once past the bound, not buffered forever */
	size_t n = RESP_LINE_MAX + 10;
	char *line = malloc(n);
	memset(line, 'x', n);
	line[0] = '+';
	CHECK(resp_parse(line, n, &r) == RESP_BAD);
	CHECK(resp_parse(line, 100, &r) == RESP_INCOMPLETE);
	free(line);
	/* a bulk string at the bound is fine, past it refused at the header */
	size_t bl = RESP_BULK_MAX;
	char *big = malloc(bl + 32);
	int h = snprintf(big, 32, "$%zu\r\n", bl);
	memset(big + h, 'y', bl);
	memcpy(big + h + bl, "\r\n", 2);
	CHECK(resp_parse(big, (size_t)h + bl + 2, &r) == (ssize_t)(h + bl + 2) && r.v.len == bl);
	CHECK(resp_parse(big, (size_t)h + bl, &r) == RESP_INCOMPLETE);
	free(big);
	CHECK(resp_parse("", 0, &r) == RESP_INCOMPLETE);
}

static void commands(void)
{
	buf b = BUF_INIT;
	const char *argv[3] = {"SELECT", "2", "a\r\nb"};
	resp_command(&b, 3, argv, NULL);
	CHECK(b.len && !strcmp(b.data, "*3\r\n$6\r\nSELECT\r\n$1\r\n2\r\n$4\r\na\r\nb\r\n"));
	buf_free(&b);
}

static void urls(void)
{
	redis_url u;
	char err[256];
	CHECK(redis_url_parse("redis://127.0.0.1:6380/2", &u, err, sizeof err) == 0 && !strcmp(u.host, "127.0.0.1") &&
	      !strcmp(u.port, "6380") && u.db == 2 && !u.password[0]);
	CHECK(redis_url_parse("redis://redis", &u, err, sizeof err) == 0 && !strcmp(u.host, "redis") &&
	      !strcmp(u.port, "6379") && u.db == 0);
	CHECK(redis_url_parse("redis://:s%40cret@r.ns.svc:7000/", &u, err, sizeof err) == 0 && !u.user[0] &&
	      !strcmp(u.password, "s@cret") && !strcmp(u.host, "r.ns.svc") && !strcmp(u.port, "7000"));
	CHECK(redis_url_parse("redis://bob:pw@h", &u, err, sizeof err) == 0 && !strcmp(u.user, "bob") &&
	      !strcmp(u.password, "pw"));
	CHECK(redis_url_parse("redis://pw@h", &u, err, sizeof err) == 0 && !u.user[0] && !strcmp(u.password, "pw"));
	CHECK(redis_url_parse("redis://[::1]:6390", &u, err, sizeof err) == 0 && !strcmp(u.host, "::1") &&
	      !strcmp(u.port, "6390"));
	static const char *const bad[] = {
		"", "http://h:1", "redis://", "redis://:6379", "redis://h:0", "redis://h:65536", "redis://h:12x",
		"redis://h:", "redis://h/x", "redis://h/1/2", "redis://h/99999999", "redis://[::1", "redis://[::1]x",
		"redis://h?x=1", "redis://:%zz@h", "redis://:%4@h", "redis://:%00@h", "redis://h;rm", "redis://h h",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = 0;
		CHECKF(redis_url_parse(bad[i], &u, err, sizeof err) < 0 && err[0], "%s", bad[i]);
	}
}

int main(void)
{
	good_replies();
	hostile_replies();
	commands();
	urls();
	return t_done();
}
