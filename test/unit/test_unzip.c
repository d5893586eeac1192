/* unzip: a real archive (Python's zipfile), then hostile archives built
 * here: zip slip, absolute paths, symlink and device entries, bombs (ratio,
 * total, lying sizes, overlapping entries), 100k entries, bad CRC, cut and
 * corrupt central directories, duplicates, encryption, zip64. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "t.h"
#include "unzip.h"

/* hello.txt (deflate, "hello world\n" x 20), dir/, dir/run.sh (0755,
 * deflate), stored.bin (bytes 0..255, stored). */
static const char pyzip[] =
#include "test_unzip_pyzip.inc"
;

typedef struct got {
	int files;
	char names[8][64];
	size_t lens[8];
	unsigned modes[8];
	char first[8][16];
	int stop_after;
} got;

static int collect(void *ctx, const char *path, const void *data, size_t len, unsigned mode, char *err,
                   size_t errlen)
{
	got *g = ctx;
	if (g->files < 8) {
		snprintf(g->names[g->files], 64, "%s", path);
		g->lens[g->files] = len;
		g->modes[g->files] = mode;
		memcpy(g->first[g->files], data, len < 15 ? len : 15);
	}
	g->files++;
	if (g->stop_after && g->files >= g->stop_after) {
		snprintf(err, errlen, "callback refused %s", path);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------- builder */

static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
	}
	return ~c;
}

typedef struct zent {
	const char *name;
	const unsigned char *data;   /* what the entry's data bytes are (compressed if method 8) */
	size_t dlen;
	uint16_t method;
	uint32_t usize, crc;         /* declared */
	uint16_t made_by, flags;
	uint32_t ext;
	long force_offset;           /* >= 0: the central record points here */
} zent;

static void put16(buf *b, unsigned v)
{
	unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
	buf_append(b, x, 2);
}

static void put32(buf *b, uint32_t v)
{
	unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
	                      (unsigned char)(v >> 24)};
	buf_append(b, x, 4);
}

/* A stored entry with honest size and CRC. */
static zent stored(const char *name, const char *text)
{
	size_t n = strlen(text);
	return (zent){.name = name, .data = (const unsigned char *)text, .dlen = n, .usize = (uint32_t)n,
	              .crc = crc32_ref((const unsigned char *)text, n), .made_by = 0x031e,
	              .ext = 0100644u << 16, .force_offset = -1};
}

static void build(buf *b, const zent *es, size_t n, uint32_t count_override)
{
	uint32_t *off = calloc(n ? n : 1, sizeof *off);
	buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		const zent *e = &es[i];
		off[i] = (uint32_t)b->len;
		put32(b, 0x04034b50u);
		put16(b, 20);
		put16(b, e->flags);
		put16(b, e->method);
		put16(b, 0), put16(b, 0);
		put32(b, e->crc);
		put32(b, (uint32_t)e->dlen);
		put32(b, e->usize);
		put16(b, (unsigned)strlen(e->name));
		put16(b, 0);
		buf_append(b, e->name, strlen(e->name));
		buf_append(b, e->data, e->dlen);
	}
	size_t cd = b->len;
	for (size_t i = 0; i < n; i++) {
		const zent *e = &es[i];
		put32(b, 0x02014b50u);
		put16(b, e->made_by);
		put16(b, 20);
		put16(b, e->flags);
		put16(b, e->method);
		put16(b, 0), put16(b, 0);
		put32(b, e->crc);
		put32(b, (uint32_t)e->dlen);
		put32(b, e->usize);
		put16(b, (unsigned)strlen(e->name));
		put16(b, 0), put16(b, 0), put16(b, 0), put16(b, 0);
		put32(b, e->ext);
		put32(b, e->force_offset >= 0 ? (uint32_t)e->force_offset : off[i]);
		buf_append(b, e->name, strlen(e->name));
	}
	size_t cdlen = b->len - cd;
	uint32_t count = count_override ? count_override : (uint32_t)n;
	put32(b, 0x06054b50u);
	put16(b, 0), put16(b, 0);
	put16(b, count), put16(b, count);
	put32(b, (uint32_t)cdlen);
	put32(b, (uint32_t)cd);
	put16(b, 0);
	free(off);
}

/* Fixed-Huffman deflate: one literal 0, then `matches` copies of
 * (length 258, distance 1): 258 zero bytes per 13 bits. */
typedef struct bits {
	buf *b;
	uint32_t acc;
	int n;
} bits;

static void put_bits(bits *w, uint32_t v, int n)   /* LSB first */
{
	w->acc |= v << w->n;
	w->n += n;
	while (w->n >= 8) {
		unsigned char c = (unsigned char)w->acc;
		buf_append(w->b, &c, 1);
		w->acc >>= 8;
		w->n -= 8;
	}
}

static void put_code(bits *w, uint32_t code, int n)   /* Huffman codes go MSB first */
{
	for (int i = n - 1; i >= 0; i--)
		put_bits(w, (code >> i) & 1, 1);
}

static void zeros_deflate(buf *out, size_t matches)
{
	bits w = {.b = out};
	buf_reset(out);
	put_bits(&w, 1, 1);          /* BFINAL */
	put_bits(&w, 1, 2);          /* fixed Huffman */
	put_code(&w, 0x30, 8);       /* literal 0 */
	for (size_t i = 0; i < matches; i++) {
		put_code(&w, 0xc5, 8);   /* length code 285 = 258 */
		put_code(&w, 0, 5);      /* distance code 0 = 1 */
	}
	put_code(&w, 0, 7);          /* end of block */
	if (w.n)
		put_bits(&w, 0, 8 - w.n);
}

static int run(const buf *b, const unzip_limits *lim, got *g, char *err, size_t errlen)
{
	memset(g, 0, sizeof *g);
	return unzip_extract(b->data, b->len, lim, collect, g, err, errlen);
}

static void expect_refusal(const zent *es, size_t n, const unzip_limits *lim, const char *needle,
                           const char *what)
{
	buf b = {0};
	build(&b, es, n, 0);
	got g;
	char err[256] = "";
	int rc = run(&b, lim, &g, err, sizeof err);
	CHECKF(rc == -1 && strstr(err, needle) && g.files == 0, "%s: rc %d err '%s' files %d", what, rc, err,
	       g.files);
	buf_free(&b);
}

int main(void)
{
	unzip_limits lim = unzip_default_limits(1 << 20);
	char err[256];
	got g;

	/* A real archive. */
	{
		memset(&g, 0, sizeof g);
		int rc = unzip_extract(pyzip, sizeof pyzip - 1, &lim, collect, &g, err, sizeof err);
		CHECKF(rc == 0, "%s", err);
		CHECK(g.files == 3);
		CHECK(!strcmp(g.names[0], "hello.txt") && g.lens[0] == 240 && !memcmp(g.first[0], "hello world\nhel", 15));
		CHECK(g.modes[0] == 0644);
		CHECK(!strcmp(g.names[1], "dir/run.sh") && g.lens[1] == 18 && g.modes[1] == 0755);
		CHECK(!strcmp(g.names[2], "stored.bin") && g.lens[2] == 256 && g.first[2][5] == 5);
		/* every truncation and every single-byte flip fails cleanly or succeeds */
		size_t n = sizeof pyzip - 1;
		int ok = 0, refused = 0;
		for (size_t cut = 0; cut < n; cut++) {
			memset(&g, 0, sizeof g);
			if (unzip_extract(pyzip, cut, &lim, collect, &g, err, sizeof err) < 0 && err[0])
				refused++;
		}
		CHECKF(refused == (int)n, "every cut archive is refused with a message (%d of %zu)", refused, n);
		char *copy = malloc(n);
		for (size_t i = 0; i < n; i++) {
			memcpy(copy, pyzip, n);
			copy[i] ^= 0x5a;
			memset(&g, 0, sizeof g);
			err[0] = 0;
			int r = unzip_extract(copy, n, &lim, collect, &g, err, sizeof err);
			if (r == 0)
				ok++;
			else if (err[0])
				refused++;
		}
		CHECKF(ok + refused == 2 * (int)n, "flips: each is accepted or refused with a message");
		free(copy);
		/* the callback can stop the extraction with its own message */
		memset(&g, 0, sizeof g);
		g.stop_after = 1;
		rc = unzip_extract(pyzip, sizeof pyzip - 1, &lim, collect, &g, err, sizeof err);
		CHECKF(rc == -1 && strstr(err, "callback refused hello.txt"), "%s", err);
	}

	/* Names. */
	{
		zent e = stored("../evil", "x");
		expect_refusal(&e, 1, &lim, "'..'", "zip slip");
		e = stored("a/../../evil", "x");
		expect_refusal(&e, 1, &lim, "'..'", "zip slip inside");
		e = stored("/etc/passwd", "x");
		expect_refusal(&e, 1, &lim, "absolute", "absolute path");
		e = stored("..\\evil", "x");
		expect_refusal(&e, 1, &lim, "invalid name", "backslash");
		zent two[2] = {stored("same", "a"), stored("./same", "b")};
		expect_refusal(two, 2, &lim, "duplicate", "duplicate names");
		zent nul = stored("a\0b", "x");
		nul.name = "";
		expect_refusal(&nul, 1, &lim, "invalid name", "empty name");
		zent ok[3] = {stored("./a//b.txt", "AB"), stored("c", ""), stored("./", "")};
		ok[2].ext = 040755u << 16;
		buf b = {0};
		build(&b, ok, 3, 0);
		int rc = run(&b, &lim, &g, err, sizeof err);
		CHECKF(rc == 0 && g.files == 2 && !strcmp(g.names[0], "a/b.txt") && g.lens[1] == 0,
		       "normalized names: rc %d %s files %d %s", rc, err, g.files, g.names[0]);
		buf_free(&b);
	}

	/* Types. */
	{
		zent e = stored("link", "/etc/passwd");
		e.ext = 0120777u << 16;
		expect_refusal(&e, 1, &lim, "symbolic links", "symlink entry");
		e = stored("dev", "");
		e.ext = 0020644u << 16;
		expect_refusal(&e, 1, &lim, "device", "char device entry");
		e = stored("fifo", "");
		e.ext = 0010644u << 16;
		expect_refusal(&e, 1, &lim, "FIFO", "fifo entry");
		e = stored("d/", "data");
		e.ext = 040755u << 16;
		expect_refusal(&e, 1, &lim, "directory entry holds data", "directory with data");
		e = stored("x", "x");
		e.flags = 1;
		expect_refusal(&e, 1, &lim, "encrypted", "encrypted entry");
		e = stored("x", "x");
		e.method = 12;
		expect_refusal(&e, 1, &lim, "method 12", "bzip2 entry");
		/* a symlink flag in a non-Unix archive means nothing: a file */
		e = stored("notlink", "data");
		e.made_by = 0x0014;
		e.ext = 0120777u << 16;
		buf b = {0};
		build(&b, &e, 1, 0);
		CHECK(run(&b, &lim, &g, err, sizeof err) == 0 && g.files == 1 && g.modes[0] == 0644);
		buf_free(&b);
	}

	/* Bombs and sizes. */
	{
		buf z = {0}, b = {0};
		zeros_deflate(&z, 4000);   /* 1,032,001 zeros in ~6.5 KB */
		zent e = {.name = "zeros", .data = (const unsigned char *)z.data, .dlen = z.len, .method = 8,
		          .usize = 1032001, .made_by = 0x031e, .ext = 0100644u << 16, .force_offset = -1};
		unsigned char *zero = calloc(1032001, 1);
		e.crc = crc32_ref(zero, 1032001);
		unzip_limits big = unzip_default_limits(2 << 20);
		build(&b, &e, 1, 0);
		int rc = run(&b, &big, &g, err, sizeof err);
		CHECKF(rc == 0 && g.files == 1 && g.lens[0] == 1032001, "honest deflate of zeros: %s", err);
		big.max_ratio = 100;
		expect_refusal(&e, 1, &big, "compression ratio", "ratio bomb");
		unzip_limits small = unzip_default_limits(1 << 19);
		expect_refusal(&e, 1, &small, "per-file limit", "file larger than the limit");
		/* sizes that lie: the data inflates past the declared size */
		e.usize = 5000;
		expect_refusal(&e, 1, &big, "bad deflate data", "lying size");
		/* many honest files whose sum is too large */
		big = unzip_default_limits(2 << 20);
		big.max_file = 1 << 20;
		e.usize = 1032001;
		zent three[3] = {e, e, e};
		three[1].name = "zeros2";
		three[2].name = "zeros3";
		expect_refusal(three, 3, &big, "total size", "sum over the total");
		/* the overlapping-entry bomb: every record points at the same data */
		zent ov[3] = {e, e, e};
		ov[1].name = ov[2].name = "zeros";   /* same local header, so names must agree */
		ov[1].force_offset = ov[2].force_offset = 0;
		big = unzip_default_limits(8 << 20);
		expect_refusal(ov, 3, &big, "overlap", "overlapping entries");
		free(zero);
		buf_free(&z);
		buf_free(&b);
	}

	/* Integrity. */
	{
		zent e = stored("f", "hello");
		e.crc ^= 1;
		expect_refusal(&e, 1, &lim, "CRC-32 mismatch", "bad CRC");
		e = stored("f", "hello");
		e.usize = 4;
		expect_refusal(&e, 1, &lim, "stored entry sizes disagree", "stored size lie");
		buf b = {0};
		e = stored("f", "hello");
		build(&b, &e, 1, 0);
		size_t eocd = b.len - 22;
		/* cut central directory: the end record claims more than is there */
		buf cut = {0};
		buf_append(&cut, b.data, eocd - 10);
		buf_append(&cut, b.data + eocd, 22);
		CHECKF(run(&cut, &lim, &g, err, sizeof err) == -1 && strstr(err, "truncated"), "cut cd: %s", err);
		/* a count that says more records than exist */
		build(&b, &e, 1, 2);
		CHECKF(run(&b, &lim, &g, err, sizeof err) == -1 && strstr(err, "central directory"), "count: %s", err);
		/* a local header signature overwritten */
		build(&b, &e, 1, 0);
		b.data[0] = 'X';
		CHECKF(run(&b, &lim, &g, err, sizeof err) == -1 && strstr(err, "local header"), "lfh: %s", err);
		/* a name in the local header different from the central one */
		build(&b, &e, 1, 0);
		b.data[30] = 'g';
		CHECKF(run(&b, &lim, &g, err, sizeof err) == -1 && strstr(err, "disagrees"), "lfh name: %s", err);
		/* zip64 markers */
		build(&b, &e, 1, 0);
		memset(b.data + b.len - 6, 0xff, 4);
		CHECKF(run(&b, &lim, &g, err, sizeof err) == -1 && strstr(err, "zip64"), "zip64: %s", err);
		/* trailing bytes after the end record: not a zip we accept */
		build(&b, &e, 1, 0);
		buf_append(&b, "junk", 4);
		CHECKF(run(&b, &lim, &g, err, sizeof err) == -1 && strstr(err, "not a zip"), "junk: %s", err);
		CHECKF(unzip_extract("", 0, &lim, collect, &g, err, sizeof err) == -1, "empty input");
		/* an empty archive is fine */
		build(&b, NULL, 0, 0);
		CHECK(run(&b, &lim, &g, err, sizeof err) == 0 && g.files == 0);
		buf_free(&b);
		buf_free(&cut);
	}

	/* 100k entries: refused from the end record alone (fast), and also
	 * when the limit is raised, the entries are each read (bounded time). */
	{
		enum { N = 65534 };   /* the 16-bit count's maximum (0xffff means zip64) */
		zent *es = calloc(N, sizeof *es);
		char (*names)[8] = calloc(N, 8);
		for (int i = 0; i < N; i++) {
			snprintf(names[i], 8, "%d", i);
			es[i] = stored(names[i], "");
		}
		buf b = {0};
		build(&b, es, N, 0);
		int rc = run(&b, &lim, &g, err, sizeof err);
		CHECKF(rc == -1 && strstr(err, "too many entries"), "%s", err);
		unzip_limits many = lim;
		many.max_entries = 100000;
		rc = run(&b, &many, &g, err, sizeof err);
		CHECKF(rc == 0 && g.files == N, "65534 empty files with the limit raised: %s (%d)", err, g.files);
		free(es);
		free(names);
		/* 100k records behind an end record that says 100000 & 0xffff */
		enum { M = 100000 };
		es = calloc(M, sizeof *es);
		names = calloc(M, 8);
		for (int i = 0; i < M; i++) {
			snprintf(names[i], 8, "%d", i);
			es[i] = stored(names[i], "");
		}
		build(&b, es, M, 0);
		rc = run(&b, &many, &g, err, sizeof err);
		CHECKF(rc == -1 && strstr(err, "does not match") && g.files == 0, "100k records: %s", err);
		free(es);
		free(names);
		buf_free(&b);
	}
	return t_done();
}
