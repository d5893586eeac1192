/*
 * tar: a push parser over 512-byte blocks. Headers are gathered into one
 * block buffer; file data is passed straight from the caller's input to
 * the data callback. GNU long names/links and pax extended headers are
 * collected (bounded) in a buf and applied to the next real entry.
 */
#include "tar.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

enum { BLOCK = 512 };

typedef enum {
	S_HEADER,   /* gathering a header block */
	S_META,     /* gathering the data of an 'L', 'K' or 'x' header */
	S_DATA,     /* passing (or skipping) an entry's data */
	S_PAD,      /* skipping the padding to the next block */
	S_END,      /* two zero blocks seen: the rest is ignored */
	S_ERROR,
} tar_state;

struct tar_reader {
	tar_callbacks cb;
	tar_state state;
	const char *err;
	uint8_t block[BLOCK];
	size_t block_fill;
	unsigned zero_blocks;
	uint64_t remaining;      /* data bytes left in this entry or meta header */
	size_t pad;              /* padding bytes left */
	bool deliver;            /* data goes to cb.data (regular files) */
	char meta_type;          /* 'L', 'K', 'x' or 'g' while in S_META / skipping */
	buf meta;                /* the meta header's data */
	/* overrides for the next entry (from 'L', 'K', 'x') */
	bool have_path, have_link, have_size, have_mtime, have_uid, have_gid;
	uint64_t pax_size, pax_uid, pax_gid;
	int64_t pax_mtime;
	tar_entry entry;
	char path[TAR_PATH_MAX + 1];
	char link[TAR_PATH_MAX + 1];
};

static int fail(tar_reader *t, const char *msg)
{
	if (!t->err)
		t->err = msg;
	t->state = S_ERROR;
	return -1;
}

tar_reader *tar_init(const tar_callbacks *cb)
{
	tar_reader *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	if (cb)
		t->cb = *cb;
	return t;
}

void tar_free(tar_reader *t)
{
	if (!t)
		return;
	buf_free(&t->meta);
	free(t);
}

const char *tar_error(const tar_reader *t)
{
	return t->err ? t->err : "";
}

bool tar_at_end(const tar_reader *t)
{
	return t->state == S_END;
}

/*
 * A numeric header field: octal digits (leading spaces allowed, ended by
 * NUL or space), or GNU base-256 when the first byte has its top bit set
 * (big-endian two's complement). False if malformed or out of range.
 */
static bool parse_number(const uint8_t *f, size_t n, bool allow_negative, int64_t *out)
{
	if (f[0] & 0x80) {
		bool negative = f[0] & 0x40;
		if (negative && !allow_negative)
			return false;
		uint64_t v = f[0] & 0x3f;
		if (negative)
			v |= ~(uint64_t)0x3f;  /* sign-extend */
		for (size_t i = 1; i < n; i++) {
			if (!negative && v >> 55)
				return false;
			if (negative && (int64_t)v < INT64_MIN / 256)
				return false;
			v = v << 8 | f[i];
		}
		if (!negative && v > INT64_MAX)
			return false;
		*out = (int64_t)v;
		return true;
	}
	size_t i = 0;
	while (i < n && f[i] == ' ')
		i++;
	uint64_t v = 0;
	size_t digits = 0;
	for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
		if (v >> 60)
			return false;
		v = v << 3 | (uint64_t)(f[i] - '0');
	}
	if (i < n && f[i] != ' ' && f[i] != '\0')
		return false;
	for (; i < n; i++)  /* only terminators after the digits */
		if (f[i] != ' ' && f[i] != '\0')
			return false;
	if (!digits)
		v = 0;  /* an empty field means zero (old archives) */
	*out = (int64_t)v;
	return true;
}

static bool checksum_ok(const uint8_t *b)
{
	int64_t stored;
	if (!parse_number(b + 148, 8, false, &stored))
		return false;
	uint32_t usum = 0;
	int32_t ssum = 0;
	for (int i = 0; i < BLOCK; i++) {
		uint8_t c = (i >= 148 && i < 156) ? ' ' : b[i];
		usum += c;
		ssum += (signed char)c;
	}
	return stored == (int64_t)usum || stored == (int64_t)ssum;
}

static bool all_zero(const uint8_t *b)
{
	for (int i = 0; i < BLOCK; i++)
		if (b[i])
			return false;
	return true;
}

static void clear_overrides(tar_reader *t)
{
	t->have_path = t->have_link = t->have_size = t->have_mtime = t->have_uid = t->have_gid = false;
}

static bool set_string(char *dst, const char *src, size_t len)
{
	if (len > TAR_PATH_MAX || memchr(src, '\0', len))
		return false;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return true;
}

static bool parse_decimal(const char *s, size_t len, bool allow_fraction, bool allow_negative, int64_t *out)
{
	size_t i = 0;
	bool negative = false;
	if (allow_negative && i < len && s[i] == '-') {
		negative = true;
		i++;
	}
	if (i == len)
		return false;
	uint64_t v = 0;
	size_t start = i;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (uint64_t)INT64_MAX / 10)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > (uint64_t)INT64_MAX)
			return false;
	}
	if (i == start)
		return false;
	if (i < len) {
		if (!allow_fraction || s[i] != '.')
			return false;
		for (i++; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return false;
	}
	*out = negative ? -(int64_t)v : (int64_t)v;
	return true;
}

/* Applies the records "LEN KEY=VALUE\n" of a pax 'x' header. */
static int apply_pax(tar_reader *t, const char *p, size_t n)
{
	while (n) {
		size_t i = 0, len = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9' && i < 8) {
			len = len * 10 + (size_t)(p[i] - '0');
			i++;
		}
		if (i == 0 || i >= n || p[i] != ' ' || len <= i + 1 || len > n || p[len - 1] != '\n')
			return fail(t, "malformed pax extended header");
		const char *kv = p + i + 1, *end = p + len - 1;
		const char *eq = memchr(kv, '=', (size_t)(end - kv));
		if (!eq)
			return fail(t, "malformed pax extended header");
		size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
		const char *v = eq + 1;
		int64_t num;
#define KEY(s) (klen == sizeof(s) - 1 && memcmp(kv, s, klen) == 0)
		if (KEY("path")) {
			if (!(t->have_path = vlen > 0))
				;
			else if (!set_string(t->path, v, vlen))
				return fail(t, "pax path too long or contains NUL");
		} else if (KEY("linkpath")) {
			if (!(t->have_link = vlen > 0))
				;
			else if (!set_string(t->link, v, vlen))
				return fail(t, "pax linkpath too long or contains NUL");
		} else if (KEY("size")) {
			if (!(t->have_size = vlen > 0))
				;
			else if (!parse_decimal(v, vlen, false, false, &num))
				return fail(t, "malformed pax size");
			else
				t->pax_size = (uint64_t)num;
		} else if (KEY("mtime")) {
			if ((t->have_mtime = vlen > 0) && parse_decimal(v, vlen, true, true, &num))
				t->pax_mtime = num;
			else
				t->have_mtime = false;  /* an odd mtime is not worth failing for */
		} else if (KEY("uid")) {
			if ((t->have_uid = vlen > 0) && parse_decimal(v, vlen, false, false, &num))
				t->pax_uid = (uint64_t)num;
			else
				t->have_uid = false;
		} else if (KEY("gid")) {
			if ((t->have_gid = vlen > 0) && parse_decimal(v, vlen, false, false, &num))
				t->pax_gid = (uint64_t)num;
			else
				t->have_gid = false;
		}
#undef KEY
		p += len;
		n -= len;
	}
	return 0;
}

/* The data of an 'L', 'K' or 'x' header is complete. */
static int finish_meta(tar_reader *t)
{
	if (buf_failed(&t->meta))
		return fail(t, "out of memory");
	const char *p = t->meta.data ? t->meta.data : "";
	size_t n = t->meta.len;
	int r = 0;
	if (t->meta_type == 'x') {
		r = apply_pax(t, p, n);
	} else if (t->meta_type == 'L' || t->meta_type == 'K') {
		size_t len = strnlen(p, n);  /* GNU pads the name with NULs */
		char *dst = t->meta_type == 'L' ? t->path : t->link;
		if (!set_string(dst, p, len))
			return fail(t, "GNU long name too long");
		if (t->meta_type == 'L')
			t->have_path = true;
		else
			t->have_link = true;
	}
	buf_reset(&t->meta);
	return r;
}

static tar_type type_of(char flag)
{
	switch (flag) {
	case '0': case '\0': case '7': return TAR_FILE;
	case '1': return TAR_HARDLINK;
	case '2': return TAR_SYMLINK;
	case '3': return TAR_CHARDEV;
	case '4': return TAR_BLOCKDEV;
	case '5': return TAR_DIR;
	case '6': return TAR_FIFO;
	default: return TAR_OTHER;
	}
}

static size_t padding_for(uint64_t size)
{
	return (size_t)((BLOCK - size % BLOCK) % BLOCK);
}

static int entry_end(tar_reader *t)
{
	t->state = S_HEADER;
	if (t->meta_type)
		return 0;
	if (t->cb.entry_end && t->cb.entry_end(t->cb.ctx, &t->entry) != 0)
		return fail(t, "stopped by the consumer");
	return 0;
}

/* After an entry's data is consumed: skip the padding, then entry_end. */
static int after_data(tar_reader *t)
{
	if (t->meta_type == 'L' || t->meta_type == 'K' || t->meta_type == 'x') {
		if (finish_meta(t) < 0)
			return -1;
	}
	t->pad = padding_for(t->entry.size);
	t->state = t->pad ? S_PAD : S_HEADER;
	if (t->state == S_HEADER)
		return entry_end(t);
	return 0;
}

static int header(tar_reader *t)
{
	const uint8_t *b = t->block;
	if (all_zero(b)) {
		if (++t->zero_blocks == 2)
			t->state = S_END;
		return 0;
	}
	t->zero_blocks = 0;  /* a lone zero block inside the archive is tolerated */
	if (!checksum_ok(b))
		return fail(t, "tar header checksum mismatch");
	int64_t size, mode, mtime, uid, gid, major = 0, minor = 0;
	if (!parse_number(b + 124, 12, false, &size))
		return fail(t, "invalid size in tar header");
	if (!parse_number(b + 100, 8, false, &mode) || !parse_number(b + 136, 12, true, &mtime))
		return fail(t, "invalid number in tar header");
	if (!parse_number(b + 108, 8, false, &uid))
		uid = 0;
	if (!parse_number(b + 116, 8, false, &gid))
		gid = 0;
	bool ustar = memcmp(b + 257, "ustar", 5) == 0;
	bool posix = memcmp(b + 257, "ustar\0", 6) == 0;
	if (ustar) {
		if (!parse_number(b + 329, 8, false, &major))
			major = 0;
		if (!parse_number(b + 337, 8, false, &minor))
			minor = 0;
	}
	char flag = (char)b[156];
	t->meta_type = 0;

	if (flag == 'L' || flag == 'K' || flag == 'x' || flag == 'g') {
		uint64_t limit = flag == 'x' ? TAR_PAX_MAX : flag == 'g' ? UINT64_MAX : TAR_PATH_MAX + BLOCK;
		if ((uint64_t)size > limit)
			return fail(t, flag == 'x' ? "pax extended header too large" : "GNU long name too long");
		t->meta_type = flag;
		t->entry.size = (uint64_t)size;
		t->remaining = (uint64_t)size;
		t->deliver = false;
		buf_reset(&t->meta);
		t->state = S_META;
		return t->remaining ? 0 : after_data(t);
	}

	tar_entry *e = &t->entry;
	memset(e, 0, sizeof *e);
	e->typeflag = flag;
	e->type = type_of(flag);
	if (!t->have_path) {
		size_t nlen = strnlen((const char *)b, 100), plen = 0;
		if (posix)
			plen = strnlen((const char *)b + 345, 155);
		if (plen) {
			memcpy(t->path, b + 345, plen);
			t->path[plen] = '/';
			plen++;
		}
		memcpy(t->path + plen, b, nlen);
		t->path[plen + nlen] = '\0';
	}
	if (!t->have_link) {
		size_t llen = strnlen((const char *)b + 157, 100);
		memcpy(t->link, b + 157, llen);
		t->link[llen] = '\0';
	}
	e->path = t->path;
	e->linkpath = (e->type == TAR_HARDLINK || e->type == TAR_SYMLINK) ? t->link : "";
	e->mode = (uint32_t)mode & 07777;
	e->size = t->have_size ? t->pax_size : (uint64_t)size;
	e->mtime = t->have_mtime ? t->pax_mtime : mtime;
	e->uid = t->have_uid ? t->pax_uid : (uint64_t)uid;
	e->gid = t->have_gid ? t->pax_gid : (uint64_t)gid;
	e->devmajor = (uint32_t)major;
	e->devminor = (uint32_t)minor;
	/* POSIX: links, devices, directories and FIFOs have no data records. */
	if (e->type != TAR_FILE && e->type != TAR_OTHER)
		e->size = 0;
	clear_overrides(t);
	if (t->cb.entry && t->cb.entry(t->cb.ctx, e) != 0)
		return fail(t, "stopped by the consumer");
	t->remaining = e->size;
	t->deliver = e->type == TAR_FILE;
	t->state = S_DATA;
	return t->remaining ? 0 : after_data(t);
}

int tar_feed(tar_reader *t, const void *data, size_t len)
{
	const uint8_t *p = data;
	while (len) {
		switch (t->state) {
		case S_HEADER: {
			size_t n = BLOCK - t->block_fill;
			if (n > len)
				n = len;
			memcpy(t->block + t->block_fill, p, n);
			t->block_fill += n;
			p += n;
			len -= n;
			if (t->block_fill == BLOCK) {
				t->block_fill = 0;
				if (header(t) < 0)
					return -1;
			}
			break;
		}
		case S_META:
		case S_DATA: {
			size_t n = len;
			if (n > t->remaining)
				n = (size_t)t->remaining;
			if (t->state == S_META && t->meta_type != 'g')
				buf_append(&t->meta, p, n);
			else if (t->deliver && t->cb.data && t->cb.data(t->cb.ctx, p, n) != 0)
				return fail(t, "stopped by the consumer");
			p += n;
			len -= n;
			t->remaining -= n;
			if (!t->remaining && after_data(t) < 0)
				return -1;
			break;
		}
		case S_PAD: {
			size_t n = len < t->pad ? len : t->pad;
			p += n;
			len -= n;
			t->pad -= n;
			if (!t->pad && entry_end(t) < 0)
				return -1;
			break;
		}
		case S_END:
			return 0;
		case S_ERROR:
			return -1;
		}
	}
	return t->state == S_ERROR ? -1 : 0;
}

int tar_sink(void *reader, const void *data, size_t len)
{
	return tar_feed(reader, data, len);
}

int tar_finish(tar_reader *t)
{
	if (t->state == S_ERROR)
		return -1;
	if (t->state == S_END)
		return 0;
	if (t->state == S_HEADER && t->block_fill == 0 && t->zero_blocks == 1)
		return 0;
	return fail(t, "truncated tar archive");
}

void tar_path_normalize(char *path)
{
	char *out = path;
	const char *p = path;
	if (*p == '/')
		*out++ = *p++;
	char *start = out;
	while (*p) {
		const char *comp = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - comp);
		while (*p == '/')
			p++;
		if (n == 0 || (n == 1 && comp[0] == '.'))
			continue;
		if (out != start)
			*out++ = '/';
		memmove(out, comp, n);
		out += n;
	}
	*out = '\0';
}

bool tar_path_is_safe(const char *path)
{
	if (!path[0] || path[0] == '/' || strlen(path) > TAR_PATH_MAX)
		return false;
	for (const char *p = path; *p;) {
		const char *comp = p;
		while (*p && *p != '/')
			p++;
		if (p - comp == 2 && comp[0] == '.' && comp[1] == '.')
			return false;
		while (*p == '/')
			p++;
	}
	return true;
}

bool tar_link_is_safe(const char *entry_path, const char *target)
{
	if (!tar_path_is_safe(entry_path) || !target[0] || target[0] == '/' || strlen(target) > TAR_PATH_MAX)
		return false;
	/* depth of the directory holding the link */
	long depth = 0;
	for (const char *p = entry_path; *p;) {
		const char *comp = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - comp);
		while (*p == '/')
			p++;
		if (n && !(n == 1 && comp[0] == '.') && *p)
			depth++;
	}
	bool seen_name = false;
	for (const char *p = target; *p;) {
		const char *comp = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - comp);
		while (*p == '/')
			p++;
		if (n == 0 || (n == 1 && comp[0] == '.'))
			continue;
		if (n == 2 && comp[0] == '.' && comp[1] == '.') {
			/* ".." after a name could climb out of a symlink named
			 * there ("up/../.." with up -> ..): only leading ones */
			if (seen_name || --depth < 0)
				return false;
		} else {
			seen_name = true;
		}
	}
	return true;
}
