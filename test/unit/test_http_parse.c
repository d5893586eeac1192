/* Unit tests for http_parse: request/response heads, framing, chunked. */
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "t.h"

#define S(lit) lit, sizeof(lit) - 1

static ssize_t req(const char *s, size_t n, http_request *r)
{
	return http_parse_request(s, n, HTTP_MAX_HEADER_BYTES, r);
}

static bool eq(const char *p, size_t n, const char *lit)
{
	return n == strlen(lit) && !memcmp(p, lit, n);
}

static void test_request(void)
{
	http_request r;
	const char ok[] = "GET /api/v2/runtimes?x=1 HTTP/1.1\r\nHost: a\r\nX-Long:  v  al \t\r\n\r\nBODY";
	ssize_t n = req(S(ok), &r);
	CHECKF(n == (ssize_t)sizeof ok - 1 - 4, "n=%zd", n);
	CHECK(eq(r.method, r.method_len, "GET"));
	CHECK(eq(r.path, r.path_len, "/api/v2/runtimes"));
	CHECK(r.query && eq(r.query, r.query_len, "x=1"));
	CHECK(r.minor_version == 1);
	CHECK(r.nheaders == 2);
	CHECK(eq(r.headers[1].value, r.headers[1].value_len, "v  al"));
	const http_header *h = http_find_header(r.headers, r.nheaders, "x-LONG");
	CHECK(h == &r.headers[1]);
	CHECK(!http_find_header(r.headers, r.nheaders, "X-Lon"));

	/* every proper prefix is incomplete */
	for (size_t i = 0; i < sizeof ok - 1 - 4; i++) {
		n = req(ok, i, &r);
		CHECKF(n == HTTP_PARSE_INCOMPLETE, "prefix %zu -> %zd", i, n);
	}
	n = req(S("GET / HTTP/1.0\r\n\r\n"), &r);
	CHECK(n == 18 && r.minor_version == 0 && !r.query && r.nheaders == 0);
	n = req(S("\r\nGET / HTTP/1.1\r\n\r\n"), &r);
	CHECK(n == 20);
	n = req(S("GET /?a?b HTTP/1.1\r\n\r\n"), &r);
	CHECK(n > 0 && eq(r.path, r.path_len, "/") && eq(r.query, r.query_len, "a?b"));

	static const char *bad[] = {
		"GET / HTTP/1.1\nHost: a\n\n",             /* bare LF */
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", /* obs-fold */
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",      /* space before colon */
		"GET / HTTP/1.1\r\n: a\r\n\r\n",           /* empty name */
		"GET / HTTP/1.1\r\nHo\x01st: a\r\n\r\n",   /* control in name */
		"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",   /* control in value */
		"GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n",   /* DEL in value */
		"GET / HTTP/2.0\r\n\r\n",
		"GET / HTTP/1.2\r\n\r\n",
		"GET / HTTP/1.11\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET  / HTTP/1.1\r\n\r\n",
		"GET /\x01 HTTP/1.1\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		" GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  /* a TLS ClientHello */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		n = req(bad[i], strlen(bad[i]), &r);
		CHECKF(n == HTTP_PARSE_ERROR, "bad[%zu] -> %zd", i, n);
	}
	/* garbage is rejected early, not after 16 KiB */
	n = req(S("\x00\x01"), &r);
	CHECK(n == HTTP_PARSE_ERROR);

	/* too large: head over the limit, complete or not */
	static char big[HTTP_MAX_HEADER_BYTES + 100];
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	memset(big + 19, 'a', sizeof big - 19);
	n = req(big, sizeof big, &r);
	CHECK(n == HTTP_PARSE_TOO_LARGE);
	memcpy(big + sizeof big - 4, "\r\n\r\n", 4);
	n = req(big, sizeof big, &r);
	CHECK(n == HTTP_PARSE_TOO_LARGE);
	n = http_parse_request(S("GET / HTTP/1.1\r\nA: b\r\n\r\n"), 10, &r);
	CHECK(n == HTTP_PARSE_TOO_LARGE);

	/* too many headers */
	char many[4096];
	size_t len = (size_t)snprintf(many, sizeof many, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
		len += (size_t)snprintf(many + len, sizeof many - len, "H%d: v\r\n", i);
	len += (size_t)snprintf(many + len, sizeof many - len, "\r\n");
	CHECK(req(many, len, &r) == HTTP_PARSE_TOO_LARGE);
}

static void test_response(void)
{
	http_response_head h;
	const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	ssize_t n = http_parse_response(S(ok), 8192, &h);
	CHECK(n == (ssize_t)sizeof ok - 1 - 5);
	CHECK(h.status == 200 && h.minor_version == 1 && eq(h.reason, h.reason_len, "OK"));
	CHECK(h.nheaders == 1);
	for (size_t i = 0; i < sizeof ok - 1 - 5; i++)
		CHECK(http_parse_response(ok, i, 8192, &h) == HTTP_PARSE_INCOMPLETE);
	CHECK(http_parse_response(S("HTTP/1.0 404 Not Found\r\n\r\n"), 8192, &h) > 0 && h.status == 404);
	CHECK(http_parse_response(S("HTTP/1.1 204\r\n\r\n"), 8192, &h) > 0 && h.status == 204 && h.reason_len == 0);
	CHECK(http_parse_response(S("HTTP/1.1 200 \r\n\r\n"), 8192, &h) > 0);
	CHECK(http_parse_response(S("HTTP/1.1 20 OK\r\n\r\n"), 8192, &h) == HTTP_PARSE_ERROR);
	CHECK(http_parse_response(S("HTTP/1.1 099 OK\r\n\r\n"), 8192, &h) == HTTP_PARSE_ERROR);
	CHECK(http_parse_response(S("HTTP/1.1 2000 OK\r\n\r\n"), 8192, &h) == HTTP_PARSE_ERROR);
	CHECK(http_parse_response(S("HTTP/1.1 200 OK\r\nA:\x01\r\n\r\n"), 8192, &h) == HTTP_PARSE_ERROR);
	CHECK(http_parse_response(S("HTTP/1.1 200 OK\r\nA: b\r\n\r\n"), 12, &h) == HTTP_PARSE_TOO_LARGE);
	CHECK(http_parse_response(S("ICY 200 OK\r\n\r\n"), 8192, &h) == HTTP_PARSE_ERROR);
}

static int framing(const char *headers, bool resp, int status, bool head, http_body_kind *k, uint64_t *len)
{
	char text[1024];
	http_request r;
	int n = snprintf(text, sizeof text, "POST / HTTP/1.1\r\n%s\r\n", headers);
	if (req(text, (size_t)n, &r) != n)
		return -99;
	return http_body_framing(r.headers, r.nheaders, resp, status, head, k, len);
}

static void test_framing(void)
{
	http_body_kind k;
	uint64_t len;
	CHECK(framing("", false, 0, false, &k, &len) == 0 && k == HTTP_BODY_NONE);
	CHECK(framing("", true, 200, false, &k, &len) == 0 && k == HTTP_BODY_UNTIL_CLOSE);
	CHECK(framing("Content-Length: 42\r\n", false, 0, false, &k, &len) == 0 && k == HTTP_BODY_LENGTH && len == 42);
	CHECK(framing("Content-Length: 0\r\n", false, 0, false, &k, &len) == 0 && k == HTTP_BODY_LENGTH && len == 0);
	CHECK(framing("Content-Length: 7\r\ncontent-length: 7\r\n", false, 0, false, &k, &len) == 0 && len == 7);
	CHECK(framing("Content-Length: 7, 7\r\n", false, 0, false, &k, &len) == 0 && len == 7);
	CHECK(framing("Content-Length: 7\r\nContent-Length: 8\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: 7, 8\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: -1\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: +1\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: 1a\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: \r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: 99999999999999999999\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: 18446744073709551616\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Content-Length: 9223372036854775807\r\n", false, 0, false, &k, &len) == 0 && len == INT64_MAX);
	CHECK(framing("Content-Length: 9223372036854775808\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Transfer-Encoding: chunked\r\n", false, 0, false, &k, &len) == 0 && k == HTTP_BODY_CHUNKED);
	CHECK(framing("Transfer-Encoding: CHUNKED\r\n", false, 0, false, &k, &len) == 0 && k == HTTP_BODY_CHUNKED);
	CHECK(framing("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", true, 200, false, &k, &len) == -1);
	CHECK(framing("Transfer-Encoding: gzip, chunked\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Transfer-Encoding: chunked, gzip\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Transfer-Encoding: \r\n", false, 0, false, &k, &len) == -1);
	CHECK(framing("Transfer-Encoding: gzip\r\n", true, 200, false, &k, &len) == 0 && k == HTTP_BODY_UNTIL_CLOSE);
	CHECK(framing("Transfer-Encoding: gzip, chunked\r\n", true, 200, false, &k, &len) == 0 && k == HTTP_BODY_CHUNKED);
	CHECK(framing("Content-Length: 5\r\n", true, 204, false, &k, &len) == 0 && k == HTTP_BODY_NONE);
	CHECK(framing("Content-Length: 5\r\n", true, 304, false, &k, &len) == 0 && k == HTTP_BODY_NONE);
	CHECK(framing("Content-Length: 5\r\n", true, 101, false, &k, &len) == 0 && k == HTTP_BODY_NONE);
	CHECK(framing("Content-Length: 5\r\n", true, 200, true, &k, &len) == 0 && k == HTTP_BODY_NONE);

	CHECK(http_header_has_token(S("keep-alive, Upgrade"), "upgrade"));
	CHECK(http_header_has_token(S(" close "), "close"));
	CHECK(!http_header_has_token(S("closed"), "close"));
	CHECK(!http_header_has_token(S(""), "close"));
}

/* Decodes all of in (split into pieces of `step` bytes) into out. */
static int chunked(const char *in, size_t len, size_t step, char *out, size_t *outlen, size_t *used)
{
	http_chunked c = {0};
	char work[4096];
	size_t o = 0, pos = 0, pending = 0;
	while (!c.done && pos < len) {
		size_t add = len - pos < step ? len - pos : step;
		memcpy(work + pending, in + pos, add);
		pos += add;
		pending += add;
		size_t consumed;
		ssize_t n = http_chunked_decode(&c, work, pending, &consumed);
		if (n < 0)
			return -1;
		memcpy(out + o, work, (size_t)n);
		o += (size_t)n;
		memmove(work, work + consumed, pending - consumed);
		pending -= consumed;
	}
	*outlen = o;
	*used = pos - pending;
	return c.done ? 0 : 1;
}

static void test_chunked(void)
{
	char out[4096];
	size_t n, used;
	const char ok[] = "5\r\nhello\r\nA;ext=1;q=\"x\"\r\n, world!!!\r\n0\r\nX-Trailer: v\r\n\r\nGET /";
	for (size_t step = 1; step <= sizeof ok; step++) {
		int r = chunked(ok, sizeof ok - 1, step, out, &n, &used);
		CHECKF(r == 0 && n == 15 && !memcmp(out, "hello, world!!!", 15) && used == sizeof ok - 1 - 5,
		       "step %zu r=%d n=%zu used=%zu", step, r, n, used);
	}
	CHECK(chunked(S("0\r\n\r\n"), 100, out, &n, &used) == 0 && n == 0 && used == 5);
	CHECK(chunked(S("000\r\n\r\n"), 100, out, &n, &used) == 0);
	CHECK(chunked(S("ff\r\n"), 100, out, &n, &used) == 1);  /* incomplete */
	static const char *bad[] = {
		"\r\n",                 /* no size */
		"-1\r\n",
		"g\r\n",
		"5\nhello\r\n0\r\n\r\n", /* bare LF */
		"5\r\nhelloX\r\n",       /* data not followed by CRLF */
		"5\r\nhello\r\r",
		"10000000000000000\r\n", /* 2^64 */
		"0\r\nbad trailer\x01\r\n\r\n",
		"0\r\n\r\r",
		"5;\x01\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECKF(chunked(bad[i], strlen(bad[i]), 100, out, &n, &used) == -1, "bad[%zu]", i);
	/* an endless extension is cut off */
	static char ext[8192];
	ext[0] = '1';
	ext[1] = ';';
	memset(ext + 2, 'a', sizeof ext - 2);
	http_chunked c = {0};
	size_t consumed;
	CHECK(http_chunked_decode(&c, ext, sizeof ext, &consumed) == -1);
	/* the largest size is accepted as a number */
	c = (http_chunked){0};
	char maxs[] = "ffffffffffffffff\r\nab";
	CHECK(http_chunked_decode(&c, maxs, sizeof maxs - 1, &consumed) == 2 && c.remaining == UINT64_MAX - 2);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Mutated requests: the parser never reads past len, never reports more
 * bytes than it was given, and every accepted head re-parses identically
 * from a copy of exactly its own bytes. Split chunked input decodes the
 * same as whole input. */
static void test_fuzz(void)
{
	static const char seed[] = "POST /api/v2/execute?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
	                           "Transfer-Encoding: chunked\r\nX: y\r\n\r\n";
	static const char alphabet[] = "\r\n :;,\t\x00\x7f\x80" "aZ0/?HTP.1";
	int accepted = 0, bad_bounds = 0, mismatch = 0;
	for (int iter = 0; iter < 200000; iter++) {
		char buf1[256];
		size_t len = sizeof seed - 1;
		memcpy(buf1, seed, len);
		int muts = 1 + (int)(next_rand() % 4);
		for (int m = 0; m < muts; m++) {
			size_t pos = next_rand() % len;
			switch (next_rand() % 3) {
			case 0: buf1[pos] = alphabet[next_rand() % (sizeof alphabet - 1)]; break;
			case 1: if (len > 1) { memmove(buf1 + pos, buf1 + pos + 1, len - pos - 1); len--; } break;
			default: if (len < sizeof buf1 - 1) { memmove(buf1 + pos + 1, buf1 + pos, len - pos); buf1[pos] = alphabet[next_rand() % (sizeof alphabet - 1)]; len++; } break;
			}
		}
		char *heap = malloc(len ? len : 1);   /* exact size: out-of-bounds reads show under ASan/valgrind */
		memcpy(heap, buf1, len);
		http_request r;
		ssize_t n = http_parse_request(heap, len, HTTP_MAX_HEADER_BYTES, &r);
		if (n > 0) {
			accepted++;
			if ((size_t)n > len)
				bad_bounds++;
			http_request r2;
			if (http_parse_request(heap, (size_t)n, HTTP_MAX_HEADER_BYTES, &r2) != n || r2.nheaders != r.nheaders)
				mismatch++;
			http_body_kind k;
			uint64_t bl;
			(void)http_body_framing(r.headers, r.nheaders, false, 0, false, &k, &bl);
		} else if (n != HTTP_PARSE_INCOMPLETE && n != HTTP_PARSE_ERROR && n != HTTP_PARSE_TOO_LARGE) {
			bad_bounds++;
		}
		http_response_head h;
		(void)http_parse_response(heap, len, 8192, &h);
		free(heap);
	}
	CHECKF(accepted > 1000, "only %d mutated heads accepted", accepted);
	CHECK(bad_bounds == 0);
	CHECK(mismatch == 0);

	static const char body[] = "4\r\nWiki\r\n5;a=b\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: v\r\n\r\n";
	int diff = 0;
	for (int iter = 0; iter < 20000; iter++) {
		char in[128];
		size_t len = sizeof body - 1;
		memcpy(in, body, len);
		if (iter % 2)
			in[next_rand() % len] = alphabet[next_rand() % (sizeof alphabet - 1)];
		char out1[128], out2[128];
		size_t n1, n2, u1, u2;
		int r1 = chunked(in, len, len, out1, &n1, &u1);
		int r2 = chunked(in, len, 1 + next_rand() % 9, out2, &n2, &u2);
		if (r1 != r2 || (r1 == 0 && (n1 != n2 || u1 != u2 || memcmp(out1, out2, n1))))
			diff++;
	}
	CHECK(diff == 0);
}

int main(void)
{
	test_request();
	test_response();
	test_framing();
	test_chunked();
	test_fuzz();
	return t_done();
}
