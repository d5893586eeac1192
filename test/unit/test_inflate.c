/*
 * test_inflate: hand-made DEFLATE streams (stored, fixed, dynamic blocks)
 * and every error path, gzip headers/trailers/members, every truncation,
 * one-byte feeding, output caps, bit flips (never a crash, never a wrong
 * answer accepted).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inflate.h"
#include "t.h"

/* ---- a bit writer for hand-made streams ---- */
typedef struct bw {
	uint8_t data[1 << 17];
	size_t len;
	unsigned nbits;
} bw;

static void put_bits(bw *w, uint32_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (w->nbits == 0)
			w->data[w->len++] = 0;
		w->data[w->len - 1] |= (uint8_t)(((v >> i) & 1) << w->nbits);
		w->nbits = (w->nbits + 1) & 7;
	}
}

/* Huffman codes go most significant bit first. */
static void put_code(bw *w, uint32_t code, unsigned len)
{
	for (unsigned i = len; i-- > 0;)
		put_bits(w, (code >> i) & 1, 1);
}

static void put_bytes(bw *w, const void *p, size_t n)
{
	w->nbits = 0;
	memcpy(w->data + w->len, p, n);
	w->len += n;
}

static void fixed_lit(bw *w, unsigned sym)
{
	if (sym < 144)
		put_code(w, 0x30 + sym, 8);
	else if (sym < 256)
		put_code(w, 0x190 + sym - 144, 9);
	else if (sym < 280)
		put_code(w, sym - 256, 7);
	else
		put_code(w, 0xc0 + sym - 280, 8);
}

/* A match in a fixed block: length 3..258, distance 1..32768. */
static void fixed_match(bw *w, unsigned len, unsigned dist)
{
	static const uint16_t lbase[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
	static const uint8_t lextra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
	static const uint16_t dbase[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
	static const uint8_t dextra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
	int l = 28;
	while (lbase[l] > len)
		l--;
	if (len == 258)
		l = 28;
	fixed_lit(w, 257 + (unsigned)l);
	put_bits(w, len - lbase[l], lextra[l]);
	int d = 29;
	while (dbase[d] > dist)
		d--;
	put_code(w, (unsigned)d, 5);
	put_bits(w, dist - dbase[d], dextra[d]);
}

static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* ---- running the decoder ---- */
typedef struct sink_buf {
	uint8_t *data;
	size_t len, cap;
	int calls, fail_at;
} sink_buf;

static int collect(void *ctx, const void *data, size_t len)
{
	sink_buf *s = ctx;
	s->calls++;
	if (s->fail_at && s->calls >= s->fail_at)
		return -1;
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->data = realloc(s->data, s->cap);
	}
	memcpy(s->data + s->len, data, len);
	s->len += len;
	return 0;
}

static char last_err[128];

/* Decodes in pieces of chunk bytes; 0 or -1; the output lands in out. */
static int decode(inflate_format f, const uint8_t *in, size_t len, size_t chunk, uint64_t max, sink_buf *out)
{
	free(out->data);
	memset(out, 0, sizeof *out);
	inflate_stream *z = inflate_init(f, max, collect, out);
	int r = 0;
	for (size_t off = 0; off < len && r == 0; off += chunk)
		r = inflate_feed(z, in + off, len - off < chunk ? len - off : chunk);
	if (r == 0)
		r = inflate_finish(z);
	snprintf(last_err, sizeof last_err, "%s", inflate_error(z));
	inflate_free(z);
	return r;
}

/* Checks a valid stream: whole, byte by byte, and that every proper
 * prefix is rejected (except the ends of earlier gzip members). */
static void expect_ok_members(const char *what, inflate_format f, const uint8_t *in, size_t len, const void *want,
	size_t want_len, int members)
{
	sink_buf out = {0};
	int r = decode(f, in, len, len ? len : 1, 0, &out);
	CHECKF(r == 0 && out.len == want_len && (!want_len || memcmp(out.data, want, want_len) == 0),
		"%s: r=%d len=%zu want %zu (%s)", what, r, out.len, want_len, last_err);
	r = decode(f, in, len, 1, 0, &out);
	CHECKF(r == 0 && out.len == want_len && (!want_len || memcmp(out.data, want, want_len) == 0), "%s bytewise: %s", what, last_err);
	int accepted = 0;
	for (size_t cut = 0; cut < len; cut++)
		if (decode(f, in, cut, 3, 0, &out) == 0)
			accepted++;
	CHECKF(accepted == members - 1, "%s: %d truncated prefixes accepted", what, accepted);
	free(out.data);
}

static void expect_ok(const char *what, inflate_format f, const uint8_t *in, size_t len, const void *want, size_t want_len)
{
	expect_ok_members(what, f, in, len, want, want_len, 1);
}

static void expect_error(const char *what, inflate_format f, const uint8_t *in, size_t len, const char *msg)
{
	sink_buf out = {0};
	int r = decode(f, in, len, len ? len : 1, 0, &out);
	CHECKF(r < 0 && strstr(last_err, msg), "%s: r=%d error '%s', want '%s'", what, r, last_err, msg);
	r = decode(f, in, len, 1, 0, &out);
	CHECKF(r < 0 && strstr(last_err, msg), "%s bytewise: r=%d error '%s', want '%s'", what, r, last_err, msg);
	free(out.data);
}

static bw w;

static void test_stored(void)
{
	memset(&w, 0, sizeof w);
	put_bytes(&w, "\x01\x05\x00\xfa\xff" "hello", 10);
	expect_ok("stored", INFLATE_RAW, w.data, w.len, "hello", 5);
	expect_ok("stored empty", INFLATE_RAW, (const uint8_t *)"\x01\x00\x00\xff\xff", 5, "", 0);
	expect_error("stored nlen", INFLATE_RAW, (const uint8_t *)"\x01\x05\x00\x00\x00hello", 10, "stored block length mismatch");
	/* a non-final stored block with bits before it, then a fixed block */
	memset(&w, 0, sizeof w);
	put_bits(&w, 0, 1);
	put_bits(&w, 0, 2);
	put_bytes(&w, "\x03\x00\xfc\xff" "abc", 7);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_lit(&w, 'd');
	fixed_lit(&w, 256);
	expect_ok("stored then fixed", INFLATE_RAW, w.data, w.len, "abcd", 4);
	expect_error("trailing garbage raw", INFLATE_RAW, (const uint8_t *)"\x01\x00\x00\xff\xffX", 6, "trailing garbage");
	expect_error("block type 3", INFLATE_RAW, (const uint8_t *)"\x07", 1, "invalid block type");
	expect_error("empty raw", INFLATE_RAW, (const uint8_t *)"", 0, "truncated");
}

static void test_fixed(void)
{
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	for (const char *p = "abc"; *p; p++)
		fixed_lit(&w, (uint8_t)*p);
	fixed_match(&w, 3, 3);
	fixed_lit(&w, 'x');
	fixed_match(&w, 258, 1);
	fixed_lit(&w, 256);
	char want[300] = "abcabcx";
	memset(want + 7, 'x', 258);
	expect_ok("fixed", INFLATE_RAW, w.data, w.len, want, 265);

	/* copies with distances around the word size, overlapping or not */
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	uint8_t ref[4096];
	size_t n = 0;
	for (int i = 0; i < 20; i++) {
		fixed_lit(&w, (unsigned)(i * 37 + 11) & 0xff);
		ref[n++] = (uint8_t)((i * 37 + 11) & 0xff);
	}
	unsigned dists[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 20};
	unsigned lens[] = {3, 10, 31, 8, 9, 7, 100, 258, 17, 4};
	for (int k = 0; k < 10; k++) {
		fixed_match(&w, lens[k], dists[k]);
		for (unsigned i = 0; i < lens[k]; i++, n++)
			ref[n] = ref[n - dists[k]];
	}
	fixed_lit(&w, 256);
	expect_ok("fixed copies", INFLATE_RAW, w.data, w.len, ref, n);

	/* errors */
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_match(&w, 3, 1);
	fixed_lit(&w, 256);
	expect_error("distance at start", INFLATE_RAW, w.data, w.len, "distance too far back");
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_lit(&w, 'a');
	fixed_match(&w, 3, 2);
	fixed_lit(&w, 256);
	expect_error("distance 2 after 1 byte", INFLATE_RAW, w.data, w.len, "distance too far back");
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_lit(&w, 'a');
	fixed_lit(&w, 257);
	put_code(&w, 30, 5);
	fixed_lit(&w, 256);
	expect_error("distance code 30", INFLATE_RAW, w.data, w.len, "invalid distance code");
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_lit(&w, 286);
	fixed_lit(&w, 256);
	expect_error("length code 286", INFLATE_RAW, w.data, w.len, "invalid literal/length code");

	/* the full 32 KiB window: distance 32768 after a stored block */
	static uint8_t big[40000];
	for (size_t i = 0; i < 32768; i++)
		big[i] = (uint8_t)(i * 2654435761u >> 13);
	memset(&w, 0, sizeof w);
	put_bits(&w, 0, 3);
	put_bytes(&w, "\x00\x80\xff\x7f", 4);
	put_bytes(&w, big, 32768);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_match(&w, 100, 32768);
	fixed_lit(&w, 256);
	memcpy(big + 32768, big, 100);
	sink_buf out = {0};
	CHECKF(decode(INFLATE_RAW, w.data, w.len, 1000, 0, &out) == 0 && out.len == 32868 && memcmp(out.data, big, 32868) == 0,
		"distance 32768: %s", last_err);
	free(out.data);
}

/* A dynamic block for "aaa": literal 'a' and end-of-block, one bit each. */
static void dynamic_aaa(bw *b, int variant)
{
	memset(b, 0, sizeof *b);
	put_bits(b, 1, 1);
	put_bits(b, 2, 2);
	put_bits(b, variant == 3 ? 30 : 0, 5);  /* HLIT = 257 (287 is too many) */
	put_bits(b, 0, 5);                      /* HDIST = 1 */
	put_bits(b, 15, 4);                     /* HCLEN = 19 */
	/* code length code lengths in the order 16 17 18 0 8 7 9 6 10 5 11 4 12 3 13 2 14 1 15 */
	static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
	uint8_t cl[19] = {0};
	cl[0] = cl[1] = cl[17] = cl[18] = 2;  /* 0:00 1:01 17:10 18:11 */
	if (variant == 1)
		cl[16] = 1;                       /* over-subscribed */
	if (variant == 4)
		cl[16] = 2, cl[18] = 0;           /* 16 replaces 18: 0:00 1:01 16:10 17:11 */
	for (int i = 0; i < 19; i++)
		put_bits(b, cl[order[i]], 3);
	if (variant == 4) {
		put_code(b, 2, 2);            /* 16 first: nothing to repeat */
		put_bits(b, 0, 2);
		return;
	}
	put_code(b, 3, 2);                /* 18: 97 zeros */
	put_bits(b, 97 - 11, 7);
	put_code(b, 1, 2);                /* 'a' length 1 */
	put_code(b, 3, 2);                /* 18: 138 zeros */
	put_bits(b, 127, 7);
	put_code(b, 3, 2);                /* 18: 20 zeros (to 255) */
	put_bits(b, 9, 7);
	put_code(b, variant == 2 ? 0 : 1, 2);  /* EOB length 1 (or 0: missing) */
	put_code(b, 0, 2);                /* the distance code: length 0 */
	put_code(b, 0, 1);
	put_code(b, 0, 1);
	put_code(b, 0, 1);
	put_code(b, 1, 1);                /* end of block */
}

static void test_dynamic(void)
{
	dynamic_aaa(&w, 0);
	expect_ok("dynamic", INFLATE_RAW, w.data, w.len, "aaa", 3);
	dynamic_aaa(&w, 1);
	expect_error("over-subscribed code lengths", INFLATE_RAW, w.data, w.len, "invalid code lengths set");
	dynamic_aaa(&w, 2);
	expect_error("missing EOB", INFLATE_RAW, w.data, w.len, "end-of-block");
	dynamic_aaa(&w, 3);
	expect_error("HLIT 287", INFLATE_RAW, w.data, w.len, "too many length or distance symbols");
	dynamic_aaa(&w, 4);
	expect_error("repeat first", INFLATE_RAW, w.data, w.len, "invalid bit length repeat");

	/* an incomplete literal/length code: 'a' length 1, EOB length 2 */
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 2, 2);
	put_bits(&w, 0, 5);
	put_bits(&w, 0, 5);
	put_bits(&w, 15, 4);
	static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
	uint8_t cl[19] = {0};
	cl[0] = cl[1] = cl[2] = cl[18] = 2;  /* 0:00 1:01 2:10 18:11 */
	for (int i = 0; i < 19; i++)
		put_bits(&w, cl[order[i]], 3);
	put_code(&w, 3, 2);
	put_bits(&w, 97 - 11, 7);
	put_code(&w, 1, 2);
	put_code(&w, 3, 2);
	put_bits(&w, 127, 7);
	put_code(&w, 3, 2);
	put_bits(&w, 9, 7);
	put_code(&w, 2, 2);
	put_code(&w, 0, 2);
	put_code(&w, 0, 8);
	expect_error("incomplete lit code", INFLATE_RAW, w.data, w.len, "incomplete");

	/* a repeat running past the end of the lengths */
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 2, 2);
	put_bits(&w, 0, 5);
	put_bits(&w, 0, 5);
	put_bits(&w, 15, 4);
	memset(cl, 0, sizeof cl);
	cl[0] = cl[1] = cl[17] = cl[18] = 2;
	for (int i = 0; i < 19; i++)
		put_bits(&w, cl[order[i]], 3);
	put_code(&w, 3, 2);
	put_bits(&w, 127, 7);
	put_code(&w, 3, 2);
	put_bits(&w, 127, 7);
	put_code(&w, 3, 2);
	put_bits(&w, 127, 7);
	put_code(&w, 0, 8);
	expect_error("repeat overflow", INFLATE_RAW, w.data, w.len, "invalid bit length repeat");
}

/* Wraps a raw stream in a gzip member with the given header flags. */
static size_t gzip_member(uint8_t *dst, const uint8_t *raw, size_t raw_len, const void *data, size_t len, unsigned flags)
{
	size_t n = 0;
	uint8_t h[10] = {0x1f, 0x8b, 8, (uint8_t)flags, 1, 2, 3, 4, 0, 3};
	memcpy(dst, h, 10);
	n = 10;
	if (flags & 4) {
		memcpy(dst + n, "\x04\x00" "ab\x00z", 6);
		n += 6;
	}
	if (flags & 8) {
		memcpy(dst + n, "name.txt", 9);
		n += 9;
	}
	if (flags & 16) {
		memcpy(dst + n, "a comment", 10);
		n += 10;
	}
	if (flags & 2) {
		uint32_t c = crc32_ref(dst, n);
		dst[n++] = (uint8_t)c;
		dst[n++] = (uint8_t)(c >> 8);
	}
	memcpy(dst + n, raw, raw_len);
	n += raw_len;
	uint32_t c = crc32_ref(data, len);
	for (int i = 0; i < 4; i++)
		dst[n++] = (uint8_t)(c >> (8 * i));
	for (int i = 0; i < 4; i++)
		dst[n++] = (uint8_t)(len >> (8 * i));
	return n;
}

static void test_gzip(void)
{
	static uint8_t g[8192], raw[1024];
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	for (const char *p = "hello, "; *p; p++)
		fixed_lit(&w, (uint8_t)*p);
	fixed_match(&w, 5, 7);
	fixed_lit(&w, 256);
	size_t raw_len = w.len;
	memcpy(raw, w.data, raw_len);
	const char *want = "hello, hello";

	size_t n = gzip_member(g, raw, raw_len, want, 12, 0);
	expect_ok("gzip plain", INFLATE_GZIP, g, n, want, 12);
	n = gzip_member(g, raw, raw_len, want, 12, 2 | 4 | 8 | 16);
	expect_ok("gzip all flags", INFLATE_GZIP, g, n, want, 12);
	size_t n1 = n;
	n += gzip_member(g + n, raw, raw_len, want, 12, 8);
	expect_ok_members("gzip two members", INFLATE_GZIP, g, n, "hello, hellohello, hello", 24, 2);

	/* an empty member (a stored empty final block) between two others */
	n = gzip_member(g, raw, raw_len, want, 12, 0);
	n += gzip_member(g + n, (const uint8_t *)"\x03\x00", 2, "", 0, 0);
	n += gzip_member(g + n, raw, raw_len, want, 12, 0);
	expect_ok_members("gzip empty member", INFLATE_GZIP, g, n, "hello, hellohello, hello", 24, 3);

	n = gzip_member(g, raw, raw_len, want, 12, 2 | 8);
	g[n] = 'X';
	expect_error("gzip trailing garbage", INFLATE_GZIP, g, n + 1, "trailing garbage");
	memset(g + n, 0, 8);
	expect_error("gzip trailing zeros", INFLATE_GZIP, g, n + 8, "trailing garbage");
	g[n] = 0x1f;
	expect_error("gzip trailing half magic", INFLATE_GZIP, g, n + 1, "truncated");

	n = gzip_member(g, raw, raw_len, want, 12, 2 | 8);
	g[n - 8] ^= 1;
	expect_error("gzip bad crc", INFLATE_GZIP, g, n, "CRC32 mismatch");
	g[n - 8] ^= 1;
	g[n - 4] ^= 1;
	expect_error("gzip bad isize", INFLATE_GZIP, g, n, "ISIZE");
	g[n - 4] ^= 1;
	g[15] ^= 1;  /* inside the name: the header CRC catches it */
	expect_error("gzip bad header crc", INFLATE_GZIP, g, n, "header CRC");
	g[15] ^= 1;
	g[3] |= 0x20;
	expect_error("gzip reserved flag", INFLATE_GZIP, g, n, "reserved");
	g[3] &= (uint8_t)~0x20;
	g[2] = 7;
	expect_error("gzip method", INFLATE_GZIP, g, n, "compression method");
	g[2] = 8;
	g[1] = 0x8c;
	expect_error("gzip magic", INFLATE_GZIP, g, n, "not gzip");
	expect_error("gzip empty", INFLATE_GZIP, g, 0, "empty input");

	/* a distance reaching back into the previous member */
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_match(&w, 3, 1);
	fixed_lit(&w, 256);
	n = gzip_member(g, raw, raw_len, want, 12, 0);
	n += gzip_member(g + n, w.data, w.len, "ooo", 3, 0);
	expect_error("gzip distance into previous member", INFLATE_GZIP, g, n, "distance too far back");

	/* output cap and a failing sink */
	n = gzip_member(g, raw, raw_len, want, 12, 0);
	sink_buf out = {0};
	CHECK(decode(INFLATE_GZIP, g, n, n, 12, &out) == 0);
	CHECK(decode(INFLATE_GZIP, g, n, n, 11, &out) < 0 && strstr(last_err, "size limit"));
	inflate_stream *z = inflate_init(INFLATE_GZIP, 0, collect, &out);
	out.fail_at = 1;
	CHECK(inflate_feed(z, g, n) < 0 && strstr(inflate_error(z), "consumer"));
	CHECK(inflate_feed(z, g, n) < 0 && inflate_finish(z) < 0);
	inflate_free(z);
	(void)n1;
	free(out.data);
}

/* A gzip bomb stops at the cap; every bit flip of a real gzip stream is
 * either rejected or (header-only fields) decodes to the original. */
static void test_bomb_and_flips(void)
{
	memset(&w, 0, sizeof w);
	put_bits(&w, 1, 1);
	put_bits(&w, 1, 2);
	fixed_lit(&w, 0);
	for (int i = 0; i < 40000; i++)
		fixed_match(&w, 258, 1);
	fixed_lit(&w, 256);
	sink_buf out = {0};
	CHECKF(decode(INFLATE_RAW, w.data, w.len, 4096, 1 << 20, &out) < 0 && strstr(last_err, "size limit")
		&& out.len <= (1 << 20), "bomb: %s %zu", last_err, out.len);
	CHECKF(decode(INFLATE_RAW, w.data, w.len, 4096, 0, &out) == 0 && out.len == 1 + 40000 * 258, "no cap: %s", last_err);

	char path[] = "/tmp/piston-test-inflate.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		return;
	static uint8_t text[30000];
	for (size_t i = 0; i < sizeof text; i++)
		text[i] = (uint8_t)("the quick brown fox jumps over the lazy dog "[(i * 7 + i / 13) % 44] ^ (i % 97 == 0));
	FILE *f = fdopen(fd, "wb");
	fwrite(text, 1, sizeof text, f);
	fclose(f);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "gzip -9 -n -c %s", path);
	FILE *p = popen(cmd, "r");
	static uint8_t gz[40000];
	size_t gz_len = p ? fread(gz, 1, sizeof gz, p) : 0;
	if (p)
		pclose(p);
	unlink(path);
	CHECK(gz_len > 100);
	CHECKF(decode(INFLATE_GZIP, gz, gz_len, 1 << 20, 0, &out) == 0 && out.len == sizeof text
		&& memcmp(out.data, text, sizeof text) == 0, "gzip -9: %s", last_err);
	int wrong = 0, rejected = 0;
	size_t limit = gz_len < 400 ? gz_len : 400;
	for (size_t byte = 0; byte < limit; byte++) {
		for (int bit = 0; bit < 8; bit++) {
			gz[byte] ^= (uint8_t)(1 << bit);
			int r = decode(INFLATE_GZIP, gz, gz_len, 4096, 1 << 20, &out);
			if (r < 0)
				rejected++;
			else if (out.len != sizeof text || memcmp(out.data, text, sizeof text) != 0)
				wrong++;
			gz[byte] ^= (uint8_t)(1 << bit);
		}
	}
	CHECKF(wrong == 0, "%d bit flips decoded to wrong data", wrong);
	CHECKF(rejected > (int)limit * 8 * 9 / 10, "only %d of %zu flips rejected", rejected, limit * 8);
	free(out.data);
}

int main(void)
{
	test_stored();
	test_fixed();
	test_dynamic();
	test_gzip();
	test_bomb_and_flips();
	return t_done();
}
