/* test_ws: the RFC 6455 codec: handshake key, the RFC's example frames,
 * 16/64-bit lengths, fragmentation, UTF-8 rules, and every error case. */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "ws.h"

static const unsigned char key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A frame with a raw first byte (FIN/RSV/opcode) and optional mask. */
static void frame(buf *b, unsigned char b0, const void *payload, size_t n, const unsigned char *mask)
{
	unsigned char h[WS_MAX_HEADER];
	size_t hl = ws_frame_header(h, (ws_opcode)(b0 & 0x0F), b0 & 0x80, n, mask);
	h[0] = b0;
	buf_append(b, h, hl);
	size_t start = b->len;
	buf_append(b, payload, n);
	if (mask)
		ws_mask(b->data + start, n, mask, 0);
}

/* Parse a whole buffer as a server would; returns the first event. */
static ws_result parse_all(ws_parser *p, buf *b, size_t *consumed, ws_event *ev)
{
	return ws_parse(p, b->data, b->len, consumed, ev);
}

static void test_accept_key(void)
{
	char out[29];
	const char *k = "dGhlIHNhbXBsZSBub25jZQ==";
	ws_accept_key(k, strlen(k), out);
	/* RFC 6455 section 1.3 (the brief quoted it with a typo; openssl agrees with the RFC) */
	CHECKF(strcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0, "got %s", out);
	CHECK(ws_key_valid(k, strlen(k)));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ!=", 24));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZXg=", 24));   /* 17 bytes */
	CHECK(!ws_key_valid("", 0));
	CHECK(!ws_key_valid("dGhlIHNhbXBsZSBub25jZQ==dGhl", 28));
}

static void test_rfc_examples(void)
{
	ws_parser srv, cli;
	ws_event ev;
	size_t used;
	ws_parser_init(&srv, false, 1 << 20);
	ws_parser_init(&cli, true, 1 << 20);

	/* A single-frame masked text message "Hello" */
	unsigned char masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	for (size_t i = 0; i < sizeof masked_hello; i++) {
		unsigned char copy[sizeof masked_hello];
		memcpy(copy, masked_hello, sizeof copy);
		CHECKF(ws_parse(&srv, (char *)copy, i, &used, &ev) == WS_NEED_MORE && used == 0, "prefix %zu", i);
	}
	CHECK(ws_parse(&srv, (char *)masked_hello, sizeof masked_hello, &used, &ev) == WS_MESSAGE);
	CHECK(used == 11 && ev.opcode == WS_OP_TEXT && ev.len == 5 && memcmp(ev.data, "Hello", 5) == 0);
	CHECK(ev.data == (char *)masked_hello + 6);   /* unmasked in place, no copy */

	/* the same bytes from the encoder */
	buf b = BUF_INIT;
	ws_encode(&b, WS_OP_TEXT, "Hello", 5, key);
	unsigned char masked_hello2[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	CHECK(b.len == 11 && memcmp(b.data, masked_hello2, 11) == 0);

	/* A single-frame unmasked text message (server to client) */
	const unsigned char hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	buf_reset(&b);
	ws_encode(&b, WS_OP_TEXT, "Hello", 5, NULL);
	CHECK(b.len == 7 && memcmp(b.data, hello, 7) == 0);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_MESSAGE && used == 7 && ev.len == 5 &&
	      memcmp(ev.data, "Hello", 5) == 0);

	/* A fragmented unmasked text message: "Hel" then "lo" */
	const unsigned char frag[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
	buf_reset(&b);
	buf_append(&b, frag, 5);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_NEED_MORE && used == 5);
	buf_consume(&b, used);
	buf_append(&b, frag + 5, 4);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_MESSAGE && used == 4 && ev.opcode == WS_OP_TEXT &&
	      ev.len == 5 && memcmp(ev.data, "Hello", 5) == 0);
	/* both fragments in one read */
	buf_reset(&b);
	buf_append(&b, frag, sizeof frag);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_MESSAGE && used == 9 && memcmp(ev.data, "Hello", 5) == 0);

	/* Unmasked ping and masked pong carrying "Hello" */
	const unsigned char ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
	unsigned char pong[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	buf_reset(&b);
	ws_encode(&b, WS_OP_PING, "Hello", 5, NULL);
	CHECK(b.len == 7 && memcmp(b.data, ping, 7) == 0);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_PING && ev.len == 5 && memcmp(ev.data, "Hello", 5) == 0);
	CHECK(ws_parse(&srv, (char *)pong, sizeof pong, &used, &ev) == WS_PONG && used == 11 &&
	      ev.len == 5 && memcmp(ev.data, "Hello", 5) == 0);
	buf_reset(&b);
	ws_encode(&b, WS_OP_PONG, "Hello", 5, key);
	unsigned char pong2[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	CHECK(b.len == 11 && memcmp(b.data, pong2, 11) == 0);

	/* 256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100 */
	char *big = malloc(70000);
	for (int i = 0; i < 70000; i++)
		big[i] = (char)(i * 7);
	buf_reset(&b);
	ws_encode(&b, WS_OP_BINARY, big, 256, NULL);
	CHECK(b.len == 260 && (unsigned char)b.data[0] == 0x82 && (unsigned char)b.data[1] == 0x7E &&
	      b.data[2] == 0x01 && b.data[3] == 0x00);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_MESSAGE && ev.opcode == WS_OP_BINARY && ev.len == 256 &&
	      memcmp(ev.data, big, 256) == 0);
	/* 64 KiB binary: 0x82 0x7F 0x0000000000010000 */
	buf_reset(&b);
	ws_encode(&b, WS_OP_BINARY, big, 65536, NULL);
	const unsigned char h64[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
	CHECK(b.len == 65546 && memcmp(b.data, h64, 10) == 0);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_MESSAGE && ev.len == 65536 && memcmp(ev.data, big, 65536) == 0);
	/* masked 16- and 64-bit frames through the server parser, byte-exact sizes */
	size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 69999};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		buf_reset(&b);
		ws_encode(&b, WS_OP_BINARY, big, sizes[i], key);
		size_t hl = sizes[i] < 126 ? 6 : sizes[i] <= 65535 ? 8 : 14;
		CHECKF(b.len == hl + sizes[i], "size %zu", sizes[i]);
		CHECKF(parse_all(&srv, &b, &used, &ev) == WS_MESSAGE && used == b.len && ev.len == sizes[i] &&
		       (sizes[i] == 0 || memcmp(ev.data, big, sizes[i]) == 0), "size %zu", sizes[i]);
		/* one byte short: nothing consumed */
		CHECKF(ws_parse(&srv, b.data, b.len - 1, &used, &ev) == WS_NEED_MORE && used == 0, "size %zu", sizes[i]);
	}
	free(big);
	buf_free(&b);
	ws_parser_free(&srv);
	ws_parser_free(&cli);
}

static void test_fragmentation(void)
{
	ws_parser p;
	ws_event ev;
	size_t used;
	buf b = BUF_INIT;
	ws_parser_init(&p, false, 1 << 20);
	/* text split inside a UTF-8 character, with a ping between the fragments */
	frame(&b, 0x01, "caf\xc3", 4, key);
	frame(&b, 0x89, "p", 1, key);
	frame(&b, 0x00, "\xa9 ", 2, key);
	frame(&b, 0x80, "ok", 2, key);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_PING && ev.len == 1 && ev.data[0] == 'p');
	buf_consume(&b, used);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_MESSAGE && used == b.len && ev.opcode == WS_OP_TEXT &&
	      ev.len == 8 && memcmp(ev.data, "caf\xc3\xa9 ok", 8) == 0);
	/* empty fragmented message */
	buf_reset(&b);
	frame(&b, 0x02, "", 0, key);
	frame(&b, 0x80, "", 0, key);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_MESSAGE && ev.opcode == WS_OP_BINARY && ev.len == 0 && ev.data);
	/* empty text message, binary with invalid UTF-8 is fine */
	buf_reset(&b);
	frame(&b, 0x81, "", 0, key);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_MESSAGE && ev.len == 0);
	buf_reset(&b);
	frame(&b, 0x82, "\xff\xfe", 2, key);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_MESSAGE && ev.len == 2);
	/* many fragments up to the limit exactly */
	ws_parser q;
	ws_parser_init(&q, false, 10);
	buf_reset(&b);
	frame(&b, 0x01, "0123", 4, key);
	frame(&b, 0x00, "4567", 4, key);
	frame(&b, 0x80, "89", 2, key);
	CHECK(parse_all(&q, &b, &used, &ev) == WS_MESSAGE && ev.len == 10 && memcmp(ev.data, "0123456789", 10) == 0);
	/* and then a new message reuses the buffer */
	buf_reset(&b);
	frame(&b, 0x01, "ab", 2, key);
	frame(&b, 0x80, "c", 1, key);
	CHECK(parse_all(&q, &b, &used, &ev) == WS_MESSAGE && ev.len == 3 && memcmp(ev.data, "abc", 3) == 0);
	ws_parser_free(&q);
	ws_parser_free(&p);
	buf_free(&b);
}

typedef struct { const char *name; unsigned char b0; const char *payload; size_t n; uint16_t code; } bad_frame;

static void expect_error(ws_parser *p, buf *b, uint16_t code, const char *what)
{
	size_t used;
	ws_event ev;
	ws_result r = parse_all(p, b, &used, &ev);
	CHECKF(r == WS_ERROR && ev.close_code == code && ev.error && ev.error[0], "%s: result %d code %u",
	       what, r, ev.close_code);
	/* the parser stays failed */
	r = parse_all(p, b, &used, &ev);
	CHECKF(r == WS_ERROR && ev.close_code == code, "%s: not sticky", what);
}

static void test_errors(void)
{
	ws_parser p;
	buf b = BUF_INIT;
	const bad_frame single[] = {
		{"RSV1", 0xC1, "x", 1, 1002}, {"RSV2", 0xA1, "x", 1, 1002}, {"RSV3", 0x91, "x", 1, 1002},
		{"opcode 3", 0x83, "x", 1, 1002}, {"opcode 7", 0x87, "x", 1, 1002}, {"opcode B", 0x8B, "x", 1, 1002},
		{"opcode F", 0x8F, "x", 1, 1002}, {"fragmented ping", 0x09, "x", 1, 1002},
		{"fragmented close", 0x08, "\x03\xe8", 2, 1002}, {"continuation first", 0x80, "x", 1, 1002},
		{"invalid UTF-8 text", 0x81, "a\xc0\xaf", 3, 1007}, {"surrogate text", 0x81, "\xed\xa0\x80", 3, 1007},
		{"truncated text", 0x81, "a\xe2\x82", 3, 1007},
		{"close 1 byte", 0x88, "\x03", 1, 1002}, {"close 999", 0x88, "\x03\xe7", 2, 1002},
		{"close 1004", 0x88, "\x03\xec", 2, 1002}, {"close 1005", 0x88, "\x03\xed", 2, 1002},
		{"close 1006", 0x88, "\x03\xee", 2, 1002}, {"close 1015", 0x88, "\x03\xf7", 2, 1002},
		{"close 2999", 0x88, "\x0b\xb7", 2, 1002}, {"close 5000", 0x88, "\x13\x88", 2, 1002},
		{"close 0", 0x88, "\x00\x00", 2, 1002},
		{"close bad reason", 0x88, "\x03\xe8\xff", 3, 1007},
	};
	for (size_t i = 0; i < sizeof single / sizeof *single; i++) {
		ws_parser_init(&p, false, 1000);
		buf_reset(&b);
		frame(&b, single[i].b0, single[i].payload, single[i].n, key);
		expect_error(&p, &b, single[i].code, single[i].name);
		ws_parser_free(&p);
	}
	char big[200];
	memset(big, 'a', sizeof big);

	/* control frame over 125 bytes (ping with a 126-byte payload) */
	ws_parser_init(&p, false, 1000);
	buf_reset(&b);
	frame(&b, 0x89, big, 126, key);
	expect_error(&p, &b, 1002, "ping 126");
	ws_parser_free(&p);

	/* unmasked frame to a server; masked frame to a client */
	ws_parser_init(&p, false, 1000);
	buf_reset(&b);
	frame(&b, 0x81, "hi", 2, NULL);
	expect_error(&p, &b, 1002, "unmasked to server");
	ws_parser_free(&p);
	ws_parser_init(&p, true, 1000);
	buf_reset(&b);
	frame(&b, 0x81, "hi", 2, key);
	expect_error(&p, &b, 1002, "masked to client");
	ws_parser_free(&p);

	/* 64-bit length with the high bit set: refused from the header alone */
	const unsigned char high[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
	ws_parser_init(&p, false, 1000);
	buf_reset(&b);
	buf_append(&b, high, sizeof high);
	expect_error(&p, &b, 1002, "length high bit");
	ws_parser_free(&p);
	/* non-minimal lengths */
	const unsigned char nm16[] = {0x82, 0xFE, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'};
	ws_parser_init(&p, false, 1000);
	buf_reset(&b);
	buf_append(&b, nm16, sizeof nm16);
	expect_error(&p, &b, 1002, "non-minimal 16");
	ws_parser_free(&p);
	const unsigned char nm64[] = {0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4};
	ws_parser_init(&p, false, 100000);
	buf_reset(&b);
	buf_append(&b, nm64, sizeof nm64);
	expect_error(&p, &b, 1002, "non-minimal 64");
	ws_parser_free(&p);

	/* too big: refused when only the header has arrived */
	ws_parser_init(&p, false, 100);
	buf_reset(&b);
	frame(&b, 0x82, big, 101, key);
	b.len = 8;
	expect_error(&p, &b, 1009, "single frame too big");
	ws_parser_free(&p);
	const unsigned char huge[] = {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4};
	ws_parser_init(&p, false, 100);
	buf_reset(&b);
	buf_append(&b, huge, sizeof huge);
	expect_error(&p, &b, 1009, "2^63-1 bytes");
	ws_parser_free(&p);
	/* too big across fragments */
	ws_parser_init(&p, false, 100);
	buf_reset(&b);
	frame(&b, 0x01, big, 60, key);
	frame(&b, 0x80, big, 41, key);
	expect_error(&p, &b, 1009, "fragments too big");
	ws_parser_free(&p);

	/* a new data frame inside a fragmented message */
	ws_parser_init(&p, false, 1000);
	buf_reset(&b);
	frame(&b, 0x01, "ab", 2, key);
	frame(&b, 0x81, "cd", 2, key);
	expect_error(&p, &b, 1002, "text inside fragmented");
	ws_parser_free(&p);
	/* invalid UTF-8 in a middle fragment fails before the message ends */
	ws_parser_init(&p, false, 1000);
	buf_reset(&b);
	frame(&b, 0x01, "ab", 2, key);
	frame(&b, 0x00, "\xff", 1, key);
	expect_error(&p, &b, 1007, "invalid UTF-8 fragment");
	ws_parser_free(&p);
	/* a character left incomplete by the final fragment */
	ws_parser_init(&p, false, 1000);
	buf_reset(&b);
	frame(&b, 0x01, "ab\xe2", 3, key);
	frame(&b, 0x80, "\x82", 1, key);
	expect_error(&p, &b, 1007, "incomplete UTF-8 at the end");
	ws_parser_free(&p);
	buf_free(&b);
}

static void test_close(void)
{
	ws_parser p;
	ws_event ev;
	size_t used;
	buf b = BUF_INIT;
	ws_parser_init(&p, false, 1000);
	frame(&b, 0x88, "", 0, key);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_CLOSE && ev.close_code == 1005 && ev.len == 0);
	unsigned codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999};
	for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
		buf_reset(&b);
		char payload[5] = {(char)(codes[i] >> 8), (char)codes[i], 'b', 'y', 'e'};
		frame(&b, 0x88, payload, 5, key);
		CHECKF(parse_all(&p, &b, &used, &ev) == WS_CLOSE && ev.close_code == codes[i] && ev.len == 3 &&
		       memcmp(ev.data, "bye", 3) == 0, "code %u", codes[i]);
	}
	/* encoder: code and reason, server and client */
	buf_reset(&b);
	ws_encode_close(&b, 4999, "Job Completed", 13, NULL);
	CHECK(b.len == 17 && (unsigned char)b.data[0] == 0x88 && b.data[1] == 15 &&
	      (unsigned char)b.data[2] == 0x13 && (unsigned char)b.data[3] == 0x87 && memcmp(b.data + 4, "Job Completed", 13) == 0);
	ws_parser cli;
	ws_parser_init(&cli, true, 1000);
	CHECK(parse_all(&cli, &b, &used, &ev) == WS_CLOSE && ev.close_code == 4999 && ev.len == 13);
	ws_parser_free(&cli);
	buf_reset(&b);
	ws_encode_close(&b, 1000, NULL, 0, key);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_CLOSE && ev.close_code == 1000 && ev.len == 0);
	buf_reset(&b);
	ws_encode_close(&b, 0, "ignored", 7, NULL);
	CHECK(b.len == 2 && (unsigned char)b.data[0] == 0x88 && b.data[1] == 0);
	/* a long reason is cut to 123 bytes, never inside a character */
	char reason[300];
	for (int i = 0; i < 100; i++)
		memcpy(reason + 3 * i, "\xe2\x82\xac", 3);   /* 100 x U+20AC */
	buf_reset(&b);
	ws_encode_close(&b, 1011, reason, 300, key);
	CHECK(b.len == 6 + 2 + 123 && (b.data[1] & 0x7F) == 125);
	CHECK(parse_all(&p, &b, &used, &ev) == WS_CLOSE && ev.close_code == 1011 && ev.len == 123);
	buf_reset(&b);
	ws_encode_close(&b, 1011, reason + 1, 200, key);   /* byte 123 is a continuation: cut at 122 */
	CHECK(b.len == 6 + 2 + 122 && (b.data[1] & 0x7F) == 124);
	ws_parser_free(&p);
	buf_free(&b);
}

static void test_mask(void)
{
	unsigned char d[37], orig[37];
	for (int i = 0; i < 37; i++)
		d[i] = orig[i] = (unsigned char)(i * 13);
	ws_mask(d, 37, key, 0);
	int ok = 1;
	for (int i = 0; i < 37; i++)
		ok &= d[i] == (orig[i] ^ key[i & 3]);
	CHECK(ok);
	/* phase: masking in two pieces equals masking at once */
	memcpy(d, orig, 37);
	ws_mask(d, 5, key, 0);
	ws_mask(d + 5, 32, key, 5);
	ok = 1;
	for (int i = 0; i < 37; i++)
		ok &= d[i] == (orig[i] ^ key[i & 3]);
	CHECK(ok);
	CHECK(ws_close_code_valid(1000) && !ws_close_code_valid(1005) && !ws_close_code_valid(1006) &&
	      ws_close_code_valid(4000) && !ws_close_code_valid(5000) && !ws_close_code_valid(0));
}

/* Random and mutated byte streams: no crash, consumed never beyond len,
 * events point inside the input or the parser's buffer, and a stream split
 * at any point gives the same events as the whole stream. */
static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Feeds `in` in pieces of random size; records results into a string. */
static void run_stream(const unsigned char *in, size_t n, bool client_side, size_t piece, buf *log)
{
	ws_parser p;
	ws_parser_init(&p, client_side, 300);
	buf pending = BUF_INIT;
	size_t fed = 0;
	bool stop = false;
	while (!stop && fed < n) {
		size_t k = piece ? piece : 1 + next_rand() % 40;
		if (k > n - fed)
			k = n - fed;
		buf_append(&pending, in + fed, k);
		fed += k;
		for (;;) {
			size_t used;
			ws_event ev;
			ws_result r = ws_parse(&p, pending.data, pending.len, &used, &ev);
			if (used > pending.len) {
				buf_printf(log, "OVERRUN;");
				stop = true;
				break;
			}
			if (r == WS_MESSAGE || r == WS_PING || r == WS_PONG || r == WS_CLOSE) {
				bool inside = ev.len == 0 ||
				              (ev.data >= pending.data && ev.data + ev.len <= pending.data + used) ||
				              (ev.data >= p.message.data && ev.data + ev.len <= p.message.data + p.message.len);
				buf_printf(log, "%d:%d:%zu:%u:%s;", r, ev.opcode, ev.len, ev.close_code, inside ? "in" : "OUT");
				buf_append(log, ev.data, ev.len);
			} else if (r == WS_ERROR) {
				buf_printf(log, "E%u;", ev.close_code);
				stop = true;
			}
			buf_consume(&pending, used);
			if (r == WS_NEED_MORE || r == WS_ERROR)
				break;
		}
	}
	buf_free(&pending);
	ws_parser_free(&p);
}

static void test_fuzz(void)
{
	int bad = 0, errors = 0, messages = 0, rounds = 3000;
	for (int i = 0; i < rounds; i++) {
		/* a valid stream of frames, then a few corrupted bytes */
		buf b = BUF_INIT;
		bool client_side = i & 1;
		const unsigned char *mask = client_side ? NULL : key;
		int frames = 1 + (int)(next_rand() % 6);
		for (int f = 0; f < frames; f++) {
			char payload[400];
			size_t len = next_rand() % 3 == 0 ? next_rand() % 400 : next_rand() % 20;
			for (size_t j = 0; j < len; j++)
				payload[j] = (char)('a' + next_rand() % 26);
			unsigned kind = (unsigned)(next_rand() % 6);
			if (kind == 0) {
				frame(&b, 0x01, payload, len / 2, mask);
				frame(&b, 0x89, payload, len % 100, mask);
				frame(&b, 0x80, payload, len - len / 2, mask);
			} else if (kind == 1) {
				ws_encode_close(&b, 1000, payload, len % 50, mask);
			} else {
				frame(&b, kind == 2 ? 0x82 : kind == 3 ? 0x8A : 0x81, payload, len, mask);
			}
		}
		int flips = (int)(next_rand() % 3);
		for (int k = 0; k < flips && b.len; k++)
			b.data[next_rand() % b.len] ^= (char)(1u << (next_rand() % 8));
		buf whole = BUF_INIT, split = BUF_INIT, bytes = BUF_INIT;
		run_stream((unsigned char *)b.data, b.len, client_side, b.len, &whole);
		run_stream((unsigned char *)b.data, b.len, client_side, 0, &split);
		run_stream((unsigned char *)b.data, b.len, client_side, 1, &bytes);
		if (whole.len != split.len || (whole.len && memcmp(whole.data, split.data, whole.len)) ||
		    whole.len != bytes.len || (whole.len && memcmp(whole.data, bytes.data, whole.len)) ||
		    (whole.data && (strstr(whole.data, "OUT") || strstr(whole.data, "OVERRUN")))) {
			if (bad++ < 3)
				printf("fuzz %d: whole '%.80s' split '%.80s'\n", i, whole.data ? whole.data : "",
				       split.data ? split.data : "");
		}
		if (whole.data && strchr(whole.data, 'E'))
			errors++;
		else
			messages++;
		buf_free(&whole);
		buf_free(&split);
		buf_free(&bytes);
		buf_free(&b);
	}
	CHECKF(bad == 0, "%d of %d streams differ", bad, rounds);
	CHECKF(errors > 100 && messages > 100, "errors %d, clean %d", errors, messages);
}

int main(void)
{
	test_accept_key();
	test_rfc_examples();
	test_fragmentation();
	test_errors();
	test_close();
	test_mask();
	test_fuzz();
	return t_done();
}
