/*
 * unzip: see unzip.h. Two passes: the first reads the central directory
 * and every local header and judges them all (names, types, sizes, ranges);
 * the second decodes each file into one buffer of its declared size, checks
 * size and CRC-32, and hands it on. Nothing is written unless the whole
 * directory passed.
 */
#include "unzip.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inflate.h"
#include "tar.h"

#define EOCD_SIZE 22
#define CDH_SIZE 46
#define LFH_SIZE 30
#define SIG_EOCD 0x06054b50u
#define SIG_CDH 0x02014b50u
#define SIG_LFH 0x04034b50u
#define RATIO_FREE_BYTES 65536u   /* small files may compress as well as they like */

typedef struct entry {
	char *path;                /* normalized; NULL for the skipped root */
	uint32_t crc;
	uint64_t csize, usize;
	uint64_t start, data, end; /* local header, data, end of data (offsets) */
	uint16_t method;
	unsigned mode;
	bool dir;
} entry;

typedef struct out_buf {
	unsigned char *p;
	size_t len, cap;
} out_buf;

unzip_limits unzip_default_limits(uint64_t total)
{
	return (unzip_limits){.max_total = total, .max_file = total, .max_entries = 1024, .max_ratio = 200};
}

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Bitwise CRC-32 (the zip polynomial): files are at most max_file bytes and
 * this runs once per byte, so a table buys little here. */
static uint32_t crc32_of(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

static int cmp_start(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_path(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (!x->path || !y->path)
		return (x->path == NULL) - (y->path == NULL);
	return strcmp(x->path, y->path);
}

static int out_sink(void *ctx, const void *data, size_t len)
{
	out_buf *o = ctx;
	if (len > o->cap - o->len)
		return 1;   /* inflate's max_output prevents this; never overrun */
	memcpy(o->p + o->len, data, len);
	o->len += len;
	return 0;
}

/* Finds the end-of-central-directory record: it must end the archive
 * exactly (its comment reaches the last byte). */
static long find_eocd(const unsigned char *z, size_t len)
{
	if (len < EOCD_SIZE)
		return -1;
	size_t lowest = len - EOCD_SIZE > 65535 ? len - EOCD_SIZE - 65535 : 0;
	for (size_t i = len - EOCD_SIZE + 1; i-- > lowest; )
		if (le32(z + i) == SIG_EOCD && i + EOCD_SIZE + le16(z + i + 20) == len)
			return (long)i;
	return -1;
}

/* One central directory record at z+p (bounds checked by the caller for
 * the fixed part): judged and, if it passes, filled into *e. */
static int read_record(const unsigned char *z, size_t p, size_t cd_end, size_t cd_off, entry *e,
                       const unzip_limits *lim, uint64_t *total, char *err, size_t errlen)
{
	const unsigned char *h = z + p;
	uint16_t made_by = le16(h + 4), flags = le16(h + 8), method = le16(h + 10);
	uint16_t nl = le16(h + 28), xl = le16(h + 30), cl = le16(h + 32);
	uint32_t ext = le32(h + 38);
	if (p + CDH_SIZE + nl + xl + cl > cd_end)
		return fail(err, errlen, "central directory is truncated");
	const unsigned char *name = h + CDH_SIZE;
	if (nl == 0 || memchr(name, 0, nl) || memchr(name, '\\', nl) || nl > TAR_PATH_MAX)
		return fail(err, errlen, "an entry has an empty, overlong or invalid name");
	if (le16(h + 34) != 0)
		return fail(err, errlen, "multi-disk archives are not supported");
	e->crc = le32(h + 16);
	e->csize = le32(h + 20);
	e->usize = le32(h + 24);
	e->start = le32(h + 42);
	e->method = method;
	char *path = malloc((size_t)nl + 1);
	if (!path)
		return fail(err, errlen, "out of memory");
	memcpy(path, name, nl);
	path[nl] = 0;
	e->dir = path[nl - 1] == '/';
	e->path = path;
	if (e->csize == 0xffffffffu || e->usize == 0xffffffffu || e->start == 0xffffffffu)
		return fail(err, errlen, "%s: zip64 entries are not supported", path);
	if (flags & 0x41)
		return fail(err, errlen, "%s: encrypted entries are not supported", path);
	if (method != 0 && method != 8)
		return fail(err, errlen, "%s: compression method %u is not supported (only stored and deflate)",
		            path, method);
	unsigned ftype = 0, perm = 0;
	if (made_by >> 8 == 3) {   /* Unix: st_mode in the high half */
		ftype = (ext >> 16) & 0170000u;
		perm = (ext >> 16) & 0777u;
	}
	if (ftype == 0120000u)
		return fail(err, errlen, "%s: symbolic links are not allowed", path);
	if (ftype != 0 && ftype != 0100000u && ftype != 0040000u)
		return fail(err, errlen, "%s: device, FIFO and socket entries are not allowed", path);
	if (ftype == 0040000u || (ext & 0x10))
		e->dir = true;
	e->mode = perm & 0111u ? 0755 : 0644;
	tar_path_normalize(path);
	if (e->dir && path[0] == 0) {   /* "./" or "/": the root itself */
		free(e->path);
		e->path = NULL;
		return 0;
	}
	if (!tar_path_is_safe(path))
		return fail(err, errlen, "%s: absolute paths and '..' are not allowed", path);
	if (e->dir && e->usize != 0)
		return fail(err, errlen, "%s: a directory entry holds data", path);
	if (e->usize > lim->max_file)
		return fail(err, errlen, "%s: %llu bytes exceed the per-file limit of %llu", path,
		            (unsigned long long)e->usize, (unsigned long long)lim->max_file);
	*total += e->usize;
	if (*total > lim->max_total)
		return fail(err, errlen, "the files exceed the total size limit of %llu bytes",
		            (unsigned long long)lim->max_total);
	if (method == 0 && e->csize != e->usize)
		return fail(err, errlen, "%s: stored entry sizes disagree", path);
	if (e->usize > RATIO_FREE_BYTES && e->usize / (e->csize ? e->csize : 1) > lim->max_ratio)
		return fail(err, errlen, "%s: compression ratio above %u (zip bomb?)", path, lim->max_ratio);
	/* The local header must agree with the central record. */
	if (e->start > cd_off || cd_off - e->start < LFH_SIZE)
		return fail(err, errlen, "%s: local header outside the archive", path);
	const unsigned char *l = z + e->start;
	if (le32(l) != SIG_LFH)
		return fail(err, errlen, "%s: bad local header signature", path);
	uint16_t lnl = le16(l + 26), lxl = le16(l + 28);
	if (le16(l + 8) != method || (le16(l + 6) & 0x41) != (flags & 0x41) || lnl != nl ||
	    e->start + LFH_SIZE + lnl > cd_off || memcmp(l + LFH_SIZE, name, nl) != 0)
		return fail(err, errlen, "%s: local header disagrees with the central directory", path);
	e->data = e->start + LFH_SIZE + lnl + lxl;
	if (e->data > cd_off || cd_off - e->data < e->csize)
		return fail(err, errlen, "%s: data runs past the central directory", path);
	e->end = e->data + e->csize;
	return 0;
}

/* Decodes one file into o (allocated to its declared size). */
static int decode(const unsigned char *z, const entry *e, out_buf *o, char *err, size_t errlen)
{
	o->cap = (size_t)e->usize;
	o->len = 0;
	o->p = malloc(o->cap ? o->cap : 1);
	if (!o->p)
		return fail(err, errlen, "out of memory");
	if (e->method == 0) {
		memcpy(o->p, z + e->data, o->cap);
		o->len = o->cap;
	} else {
		inflate_stream *s = inflate_init(INFLATE_RAW, e->usize ? e->usize : 1, out_sink, o);
		if (!s)
			return fail(err, errlen, "out of memory");
		int rc = inflate_feed(s, z + e->data, (size_t)e->csize);
		if (rc == 0)
			rc = inflate_finish(s);
		if (rc < 0) {
			fail(err, errlen, "%s: bad deflate data: %s", e->path, inflate_error(s));
			inflate_free(s);
			return -1;
		}
		inflate_free(s);
	}
	if (o->len != e->usize)
		return fail(err, errlen, "%s: size does not match the central directory", e->path);
	if (crc32_of(o->p, o->len) != e->crc)
		return fail(err, errlen, "%s: CRC-32 mismatch", e->path);
	return 0;
}

int unzip_extract(const void *zip, size_t len, const unzip_limits *lim, unzip_file_cb cb, void *ctx,
                  char *err, size_t errlen)
{
	const unsigned char *z = zip;
	err[0] = 0;
	long eo = find_eocd(z, len);
	if (eo < 0)
		return fail(err, errlen, "not a zip archive (no end of central directory record)");
	const unsigned char *r = z + eo;
	uint16_t disk = le16(r + 4), cd_disk = le16(r + 6), n_disk = le16(r + 8), n = le16(r + 10);
	uint32_t cd_size = le32(r + 12), cd_off = le32(r + 16);
	if (n == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu)
		return fail(err, errlen, "zip64 archives are not supported");
	if (disk != 0 || cd_disk != 0 || n_disk != n)
		return fail(err, errlen, "multi-disk archives are not supported");
	if (n > lim->max_entries)
		return fail(err, errlen, "too many entries (%u, at most %u)", n, lim->max_entries);
	if ((uint64_t)cd_off + cd_size > (uint64_t)eo)
		return fail(err, errlen, "central directory is truncated");
	entry *es = calloc(n ? n : 1, sizeof *es);
	if (!es)
		return fail(err, errlen, "out of memory");
	int rc = 0;
	uint64_t total = 0;
	size_t p = cd_off, cd_end = (size_t)cd_off + cd_size, count = 0;
	for (; count < n && rc == 0; count++) {
		if (cd_end - p < CDH_SIZE || le32(z + p) != SIG_CDH) {
			rc = fail(err, errlen, "central directory is truncated or corrupt");
			break;
		}
		rc = read_record(z, p, cd_end, cd_off, &es[count], lim, &total, err, errlen);
		p += CDH_SIZE + le16(z + p + 28) + le16(z + p + 30) + le16(z + p + 32);
	}
	if (rc == 0 && p != cd_end)
		rc = fail(err, errlen, "central directory size does not match its records");
	if (rc == 0) {   /* no two entries may share bytes */
		entry *byoff = malloc((n ? n : 1) * sizeof *byoff);
		if (!byoff)
			rc = fail(err, errlen, "out of memory");
		else {
			size_t m = 0;
			for (size_t i = 0; i < n; i++)
				if (es[i].path)
					byoff[m++] = es[i];
			qsort(byoff, m, sizeof *byoff, cmp_start);
			for (size_t i = 1; i < m && rc == 0; i++)
				if (byoff[i].start < byoff[i - 1].end)
					rc = fail(err, errlen, "%s: entries overlap (zip bomb?)", byoff[i].path);
			qsort(byoff, m, sizeof *byoff, cmp_path);
			for (size_t i = 1; i < m && rc == 0; i++)
				if (!strcmp(byoff[i].path, byoff[i - 1].path))
					rc = fail(err, errlen, "%s: duplicate name", byoff[i].path);
			free(byoff);   /* shallow copies: the paths stay es[]'s */
		}
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!es[i].path || es[i].dir)
			continue;
		out_buf o = {0};
		rc = decode(z, &es[i], &o, err, errlen);
		if (rc == 0 && cb(ctx, es[i].path, o.p, o.len, es[i].mode, err, errlen) != 0) {
			if (!err[0])
				fail(err, errlen, "stopped");
			rc = -1;
		}
		free(o.p);
	}
	for (size_t i = 0; i < count && i < n; i++)
		free(es[i].path);
	free(es);
	return rc;
}
