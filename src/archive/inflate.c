/*
 * inflate: DEFLATE and gzip decoding as a resumable state machine.
 *
 * Input is pulled into a 64-bit bit buffer. The stream is decoded in
 * "units" that each need at most 48 bits (a block header, one code length,
 * one literal, one length+distance pair, one header byte): a unit starts
 * only when its bits are all in the buffer, so a unit never has to stop
 * halfway and the state between feeds is just the mode plus a few counters.
 * When the caller says the input has ended, the buffer is padded with zero
 * bits (counted in pad_bits); a unit that eats into the padding proves the
 * stream was truncated.
 *
 * While at least 8 input bytes remain and the output buffer has room for
 * a whole match, a fast loop decodes without any of those checks.
 *
 * Output goes into out[OUT_SIZE]; its last 32 KiB are the window. When it
 * fills up, the new bytes go to the sink (and into the CRC) and the window
 * slides to the front.
 */
#include "inflate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
	WINDOW_SIZE = 32768,
	OUT_SIZE = 256 * 1024,
	MAX_MATCH = 258,
	OUT_SLACK = 16,           /* the fast copies may write a word past a match */
	LIT_ROOT = 10, DIST_ROOT = 8, CLEN_ROOT = 7,
	LIT_TABLE_CAP = 2048,     /* root + subtables; a complete code needs <= 1332 */
	DIST_TABLE_CAP = 1024,    /* a complete code needs <= 402 */
	MAX_LIT_SYMS = 288, MAX_DIST_SYMS = 32, CLEN_SYMS = 19,
};

/*
 * A table entry: bits 0-7 how many bits the code takes, bits 8-15 flags,
 * bits 16-31 a value. Flags: a literal (value = byte), end of block, a
 * pointer to a subtable (value = its offset, low 4 flag bits its index
 * width), an invalid code; otherwise a length or distance whose value is
 * the base and whose low 4 flag bits count the extra bits.
 */
#define E_LIT 0x8000u
#define E_EOB 0x4000u
#define E_SUB 0x2000u
#define E_BAD 0x1000u
#define E_EXTRA(e) (((e) >> 8) & 15)
#define E_BITS(e) ((e) & 0xff)
#define E_VALUE(e) ((e) >> 16)

typedef enum {
	M_GZ_HEADER, M_GZ_XLEN, M_GZ_EXTRA, M_GZ_NAME, M_GZ_COMMENT, M_GZ_HCRC,
	M_BLOCK, M_STORED_HEAD, M_STORED_COPY, M_DYN_HEAD, M_DYN_CLEN, M_DYN_LENS,
	M_DECODE, M_GZ_TRAILER, M_GZ_NEXT, M_DONE, M_ERROR,
} inflate_mode;

struct inflate_stream {
	inflate_mode mode;
	inflate_format format;
	bool finishing;          /* inflate_finish: no more input will come */
	bool last_block;
	bool fixed_built;
	uint64_t bitbuf;
	unsigned bitcnt;
	unsigned pad_bits;       /* zero bits added at the end of input */
	const uint8_t *in, *in_end;

	inflate_sink sink;
	void *sink_ctx;
	uint64_t max_output, total_out;
	const char *err;

	size_t pos;              /* next output byte in out */
	size_t flushed;          /* out[flushed..pos) not yet given to the sink */
	size_t hist_start;       /* the current gzip member's first byte in out */

	/* gzip member state */
	unsigned members;
	unsigned hdr_count, gz_flags, hdr_need;
	uint32_t hdr_crc, member_crc, member_size;

	/* block state */
	uint32_t stored_left;
	unsigned nlit, ndist, nclen, lens_count;
	const uint32_t *lit, *dist;
	uint8_t lens[MAX_LIT_SYMS + MAX_DIST_SYMS];
	uint32_t clen_table[1 << CLEN_ROOT];
	uint32_t lit_table[LIT_TABLE_CAP], dist_table[DIST_TABLE_CAP];
	uint32_t fixed_lit[LIT_TABLE_CAP], fixed_dist[DIST_TABLE_CAP];
	uint32_t crc_table[8][256];
	uint8_t out[OUT_SIZE + OUT_SLACK];
};

static const uint16_t length_base[29] = {
	3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
	35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t length_extra[29] = {
	0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
	3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {
	1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
	257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {
	0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
	7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t clen_order[CLEN_SYMS] = {
	16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

typedef enum { SYMS_LIT, SYMS_DIST, SYMS_CLEN } symbol_kind;

/* The entry (without its bit count) that a symbol decodes to. */
static uint32_t symbol_entry(symbol_kind kind, unsigned sym)
{
	switch (kind) {
	case SYMS_LIT:
		if (sym < 256)
			return E_LIT | sym << 16;
		if (sym == 256)
			return E_EOB;
		if (sym - 257 < 29)
			return (uint32_t)length_extra[sym - 257] << 8 | (uint32_t)length_base[sym - 257] << 16;
		return E_BAD;
	case SYMS_DIST:
		if (sym < 30)
			return (uint32_t)dist_extra[sym] << 8 | (uint32_t)dist_base[sym] << 16;
		return E_BAD;
	case SYMS_CLEN:
		return (uint32_t)sym << 16;
	}
	return E_BAD;
}

static unsigned reverse_bits(unsigned code, unsigned len)
{
	unsigned r = 0;
	for (unsigned i = 0; i < len; i++, code >>= 1)
		r = r << 1 | (code & 1);
	return r;
}

/*
 * Builds a lookup table for the canonical Huffman code with the given code
 * lengths: a root table indexed by root_bits, and for each root slot whose
 * codes are longer a subtable just wide enough for the longest of them.
 * Returns an error message, or NULL. Over-subscribed codes are always
 * rejected; incomplete ones only allowed for a single code of length 1
 * (RFC 1951 permits one distance code) or for no codes at all, except in
 * the code length code (allow_incomplete false).
 */
static const char *build_table(uint32_t *table, unsigned cap, unsigned root_bits,
	const uint8_t *lens, unsigned n, symbol_kind kind, bool allow_incomplete)
{
	unsigned count[16] = {0}, next_code[16];
	for (unsigned i = 0; i < n; i++)
		count[lens[i]]++;
	count[0] = 0;
	int left = 1;
	unsigned max_len = 0;
	for (unsigned len = 1; len < 16; len++) {
		left = left * 2 - (int)count[len];
		if (left < 0)
			return "invalid Huffman code (over-subscribed)";
		if (count[len])
			max_len = len;
	}
	if (left > 0 && max_len > 0 && !(allow_incomplete && max_len == 1))
		return "invalid Huffman code (incomplete)";
	/* Canonical codes: each length's codes follow the shorter ones'. */
	unsigned code = 0;
	for (unsigned len = 1; len < 16; len++) {
		next_code[len] = code;
		code = (code + count[len]) << 1;
	}

	unsigned root_size = 1u << root_bits;
	for (unsigned i = 0; i < root_size; i++)
		table[i] = E_BAD | 1;
	if (max_len == 0)
		return NULL;

	/* Subtable widths: the longest code below each root slot. */
	uint8_t sub_len[1 << LIT_ROOT] = {0};
	unsigned codes[MAX_LIT_SYMS];
	for (unsigned s = 0; s < n; s++) {
		unsigned len = lens[s];
		if (!len)
			continue;
		codes[s] = reverse_bits(next_code[len]++, len);
		if (len > root_bits) {
			unsigned slot = codes[s] & (root_size - 1);
			if (len > sub_len[slot])
				sub_len[slot] = (uint8_t)len;
		}
	}
	unsigned used = root_size;
	for (unsigned slot = 0; slot < root_size; slot++) {
		if (!sub_len[slot])
			continue;
		unsigned bits = sub_len[slot] - root_bits;
		if (used + (1u << bits) > cap)
			return "invalid Huffman code (table overflow)";
		table[slot] = E_SUB | bits << 8 | (uint32_t)used << 16 | root_bits;
		for (unsigned i = 0; i < (1u << bits); i++)
			table[used + i] = E_BAD | 1;
		used += 1u << bits;
	}
	for (unsigned s = 0; s < n; s++) {
		unsigned len = lens[s];
		if (!len)
			continue;
		uint32_t entry = symbol_entry(kind, s) | len;
		if (len <= root_bits) {
			for (unsigned i = codes[s]; i < root_size; i += 1u << len)
				table[i] = entry;
		} else {
			uint32_t sub = table[codes[s] & (root_size - 1)];
			unsigned bits = E_EXTRA(sub);
			uint32_t *t = table + E_VALUE(sub);
			for (unsigned i = codes[s] >> root_bits; i < (1u << bits); i += 1u << (len - root_bits))
				t[i] = entry;
		}
	}
	return NULL;
}

static void crc_init_tables(uint32_t t[8][256])
{
	for (unsigned n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
		t[0][n] = c;
	}
	for (unsigned n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			t[k][n] = (t[k - 1][n] >> 8) ^ t[0][t[k - 1][n] & 0xff];
}

static inline uint64_t load64_le(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* Slice-by-8 CRC-32 (the gzip polynomial). */
static uint32_t crc_update(const uint32_t t[8][256], uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	while (n >= 8) {
		uint64_t v = load64_le(p) ^ crc;
		crc = t[7][v & 0xff] ^ t[6][(v >> 8) & 0xff] ^ t[5][(v >> 16) & 0xff] ^
			t[4][(v >> 24) & 0xff] ^ t[3][(v >> 32) & 0xff] ^ t[2][(v >> 40) & 0xff] ^
			t[1][(v >> 48) & 0xff] ^ t[0][v >> 56];
		p += 8;
		n -= 8;
	}
	while (n--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

static int fail(inflate_stream *z, const char *msg)
{
	if (!z->err)
		z->err = msg;
	z->mode = M_ERROR;
	return -1;
}

inflate_stream *inflate_init(inflate_format format, uint64_t max_output, inflate_sink sink, void *ctx)
{
	inflate_stream *z = malloc(sizeof *z);
	if (!z)
		return NULL;
	memset(z, 0, offsetof(inflate_stream, lens));
	z->format = format;
	z->mode = format == INFLATE_GZIP ? M_GZ_HEADER : M_BLOCK;
	z->max_output = max_output;
	z->sink = sink;
	z->sink_ctx = ctx;
	crc_init_tables(z->crc_table);
	return z;
}

void inflate_free(inflate_stream *z)
{
	free(z);
}

const char *inflate_error(const inflate_stream *z)
{
	return z->err ? z->err : "";
}

uint64_t inflate_total_out(const inflate_stream *z)
{
	return z->total_out;
}

/* Hands out[flushed..pos) to the sink. */
static int flush(inflate_stream *z)
{
	size_t n = z->pos - z->flushed;
	if (!n)
		return 0;
	if (z->max_output && n > z->max_output - z->total_out)
		return fail(z, "output exceeds the size limit");
	const uint8_t *p = z->out + z->flushed;
	if (z->format == INFLATE_GZIP) {
		z->member_crc = crc_update(z->crc_table, z->member_crc, p, n);
		z->member_size += (uint32_t)n;
	}
	z->total_out += n;
	z->flushed = z->pos;
	if (z->sink && z->sink(z->sink_ctx, p, n) != 0)
		return fail(z, "output consumer failed");
	return 0;
}

/* Makes room for at least `room` more output bytes, keeping the window. */
static int make_room(inflate_stream *z, size_t room)
{
	if (z->pos + room <= OUT_SIZE)
		return 0;
	if (flush(z) < 0)
		return -1;
	size_t shift = z->pos - WINDOW_SIZE;
	memmove(z->out, z->out + shift, WINDOW_SIZE);
	z->pos = WINDOW_SIZE;
	z->flushed = WINDOW_SIZE;
	z->hist_start = z->hist_start > shift ? z->hist_start - shift : 0;
	return 0;
}

/*
 * Ensures n (<= 48) bits are in the bit buffer. Without enough input it
 * takes in all there is and returns false (the caller suspends); after
 * inflate_finish it pads with zero bits instead.
 */
static bool need(inflate_stream *z, unsigned n)
{
	if (z->bitcnt >= n)
		return true;
	while (z->bitcnt <= 56 && z->in < z->in_end) {
		z->bitbuf |= (uint64_t)*z->in++ << z->bitcnt;
		z->bitcnt += 8;
	}
	if (z->bitcnt >= n)
		return true;
	if (!z->finishing)
		return false;
	while (z->bitcnt <= 56) {
		z->bitcnt += 8;
		z->pad_bits += 8;
	}
	return true;
}

static inline uint32_t take(inflate_stream *z, unsigned n)
{
	uint32_t v = (uint32_t)(z->bitbuf & ((1ull << n) - 1));
	z->bitbuf >>= n;
	z->bitcnt -= n;
	return v;
}

/* Real (not padding) bits left in the buffer. */
static inline unsigned real_bits(const inflate_stream *z)
{
	return z->bitcnt - z->pad_bits;
}

static inline uint32_t lookup(const uint32_t *table, unsigned root_bits, uint64_t bits)
{
	uint32_t e = table[bits & ((1u << root_bits) - 1)];
	if (e & E_SUB)
		e = table[E_VALUE(e) + ((bits >> root_bits) & ((1u << E_EXTRA(e)) - 1))];
	return e;
}

static inline void copy_match(uint8_t *out, size_t pos, unsigned dist, unsigned len)
{
	uint8_t *dst = out + pos;
	const uint8_t *src = dst - dist;
	uint8_t *end = dst + len;
	if (dist >= 8) {
		do {
			memcpy(dst, src, 8);
			dst += 8;
			src += 8;
		} while (dst < end);
	} else if (dist == 1) {
		memset(dst, *src, len);
	} else {
		do
			*dst++ = *src++;
		while (dst < end);
	}
}

/*
 * Decodes one literal or length/distance pair from at least 48 buffered
 * bits into out at *pos (which has room for MAX_MATCH bytes). Returns 0,
 * 1 at the end of the block, or -1 with *err set.
 */
static inline __attribute__((always_inline)) int decode_symbol(const uint32_t *lit, const uint32_t *dist, uint64_t *bitbuf,
	unsigned *bitcnt, uint8_t *out, size_t *pos, size_t hist_start, const char **err)
{
	uint64_t bb = *bitbuf;
	uint32_t e = lookup(lit, LIT_ROOT, bb);
	unsigned n = E_BITS(e);
	if (e & E_LIT) {
		out[(*pos)++] = (uint8_t)E_VALUE(e);
		*bitbuf = bb >> n;
		*bitcnt -= n;
		return 0;
	}
	if (e & (E_EOB | E_BAD)) {
		*bitbuf = bb >> n;
		*bitcnt -= n;
		if (e & E_EOB)
			return 1;
		*err = "invalid literal/length code";
		return -1;
	}
	bb >>= n;
	unsigned extra = E_EXTRA(e);
	unsigned len = E_VALUE(e) + (unsigned)(bb & ((1u << extra) - 1));
	bb >>= extra;
	unsigned used = n + extra;
	e = lookup(dist, DIST_ROOT, bb);
	n = E_BITS(e);
	if (e & (E_BAD | E_EOB | E_LIT)) {
		*err = "invalid distance code";
		return -1;
	}
	bb >>= n;
	extra = E_EXTRA(e);
	unsigned d = E_VALUE(e) + (unsigned)(bb & ((1u << extra) - 1));
	bb >>= extra;
	used += n + extra;
	if (d > *pos - hist_start) {
		*err = "invalid distance too far back";
		return -1;
	}
	copy_match(out, *pos, d, len);
	*pos += len;
	*bitbuf = bb;
	*bitcnt -= used;
	return 0;
}

/* The fast loop: plenty of input and output room, no suspension checks. */
static int decode_fast(inflate_stream *z)
{
	uint64_t bb = z->bitbuf;
	unsigned bc = z->bitcnt;
	const uint8_t *in = z->in;
	const uint8_t *in_limit = z->in_end - 8;
	uint8_t *out = z->out;
	size_t pos = z->pos;
	const size_t pos_limit = OUT_SIZE - MAX_MATCH;
	const size_t hist = z->hist_start;
	const uint32_t *lit = z->lit, *dist = z->dist;
	const char *err = NULL;
	int r = 0;
	while (in <= in_limit && pos <= pos_limit) {
		bb |= load64_le(in) << bc;
		in += (63 - bc) >> 3;
		bc |= 56;
		r = decode_symbol(lit, dist, &bb, &bc, out, &pos, hist, &err);
		if (r)
			break;
	}
	/* in is exact: the bits above bc are look-ahead copies of *in.. and
	 * will be OR-ed in again identically (a stored block clears them). */
	z->bitbuf = bb;
	z->bitcnt = bc;
	z->in = in;
	z->pos = pos;
	if (r < 0)
		return fail(z, err);
	return r;
}

static int end_of_block(inflate_stream *z)
{
	if (!z->last_block) {
		z->mode = M_BLOCK;
		return 0;
	}
	if (z->format == INFLATE_RAW) {
		z->mode = M_DONE;
		return flush(z);
	}
	z->mode = M_GZ_TRAILER;
	z->hdr_count = 0;
	take(z, z->bitcnt & 7);
	return flush(z);
}

static int read_header_byte(inflate_stream *z, unsigned *byte)
{
	if (!need(z, 8))
		return 0;
	*byte = take(z, 8);
	z->hdr_crc = crc_update(z->crc_table, z->hdr_crc, &(uint8_t){(uint8_t)*byte}, 1);
	return 1;
}

static void start_member(inflate_stream *z)
{
	z->mode = M_GZ_HEADER;
	z->hdr_count = 0;
	z->hdr_crc = 0;
	z->member_crc = 0;
	z->member_size = 0;
	z->hist_start = z->pos;
}

/* Runs the state machine until the input is used up, the end, or an error. */
static int run(inflate_stream *z)
{
	unsigned byte;
	for (;;) {
		if (z->pad_bits > z->bitcnt)
			return fail(z, "truncated stream");
		switch (z->mode) {
		case M_GZ_HEADER:
			if (!read_header_byte(z, &byte))
				return 0;
			if (z->pad_bits > z->bitcnt)
				continue;
			switch (z->hdr_count++) {
			case 0:
				if (byte != 0x1f)
					return fail(z, z->members ? "trailing garbage after gzip data" : "not gzip data");
				break;
			case 1:
				if (byte != 0x8b)
					return fail(z, z->members ? "trailing garbage after gzip data" : "not gzip data");
				break;
			case 2:
				if (byte != 8)
					return fail(z, "unknown gzip compression method");
				break;
			case 3:
				if (byte & 0xe0)
					return fail(z, "reserved gzip header flags set");
				z->gz_flags = byte;
				break;
			case 9:
				z->mode = M_GZ_XLEN;
				z->hdr_count = 0;
				if (!(z->gz_flags & 4))
					z->mode = M_GZ_NAME;
				break;
			}
			continue;
		case M_GZ_XLEN:
			if (!read_header_byte(z, &byte))
				return 0;
			if (z->hdr_count++ == 0) {
				z->hdr_need = byte;
			} else {
				z->hdr_need |= byte << 8;
				z->mode = M_GZ_EXTRA;
			}
			continue;
		case M_GZ_EXTRA:
			if (z->hdr_need) {
				if (!read_header_byte(z, &byte))
					return 0;
				z->hdr_need--;
				continue;
			}
			z->mode = M_GZ_NAME;
			continue;
		case M_GZ_NAME:
		case M_GZ_COMMENT: {
			unsigned flag = z->mode == M_GZ_NAME ? 8 : 16;
			if (z->gz_flags & flag) {
				if (!read_header_byte(z, &byte))
					return 0;
				if (byte)
					continue;
			}
			z->mode = z->mode == M_GZ_NAME ? M_GZ_COMMENT : M_GZ_HCRC;
			z->hdr_count = 0;
			continue;
		}
		case M_GZ_HCRC:
			if (z->gz_flags & 2) {
				if (!need(z, 16))
					return 0;
				if (take(z, 16) != (z->hdr_crc & 0xffff))
					return fail(z, "gzip header CRC mismatch");
			}
			z->mode = M_BLOCK;
			continue;
		case M_BLOCK: {
			if (!need(z, 3))
				return 0;
			z->last_block = take(z, 1);
			unsigned type = take(z, 2);
			if (type == 0) {
				z->mode = M_STORED_HEAD;
			} else if (type == 1) {
				if (!z->fixed_built) {
					uint8_t lens[MAX_LIT_SYMS];
					memset(lens, 8, 144);
					memset(lens + 144, 9, 112);
					memset(lens + 256, 7, 24);
					memset(lens + 280, 8, 8);
					build_table(z->fixed_lit, LIT_TABLE_CAP, LIT_ROOT, lens, MAX_LIT_SYMS, SYMS_LIT, false);
					memset(lens, 5, MAX_DIST_SYMS);
					build_table(z->fixed_dist, DIST_TABLE_CAP, DIST_ROOT, lens, MAX_DIST_SYMS, SYMS_DIST, false);
					z->fixed_built = true;
				}
				z->lit = z->fixed_lit;
				z->dist = z->fixed_dist;
				z->mode = M_DECODE;
			} else if (type == 2) {
				z->mode = M_DYN_HEAD;
			} else {
				return fail(z, "invalid block type");
			}
			continue;
		}
		case M_STORED_HEAD: {
			take(z, z->bitcnt & 7);
			if (!need(z, 32))
				return 0;
			uint32_t len = take(z, 16), nlen = take(z, 16);
			if (z->pad_bits > z->bitcnt)
				continue;
			if (len != (~nlen & 0xffff))
				return fail(z, "stored block length mismatch");
			z->stored_left = len;
			z->mode = M_STORED_COPY;
			continue;
		}
		case M_STORED_COPY:
			while (z->stored_left) {
				if (make_room(z, 1) < 0)
					return -1;
				if (real_bits(z) >= 8) {
					z->out[z->pos++] = (uint8_t)take(z, 8);
					z->stored_left--;
					continue;
				}
				if (z->in == z->in_end) {
					if (z->finishing)
						return fail(z, "truncated stream");
					return 0;
				}
				z->bitbuf = 0; /* bitcnt is 0: drop stale look-ahead bits */
				size_t n = z->stored_left;
				if (n > (size_t)(z->in_end - z->in))
					n = (size_t)(z->in_end - z->in);
				if (n > OUT_SIZE - z->pos)
					n = OUT_SIZE - z->pos;
				memcpy(z->out + z->pos, z->in, n);
				z->pos += n;
				z->in += n;
				z->stored_left -= (uint32_t)n;
			}
			if (end_of_block(z) < 0)
				return -1;
			continue;
		case M_DYN_HEAD:
			if (!need(z, 14))
				return 0;
			z->nlit = take(z, 5) + 257;
			z->ndist = take(z, 5) + 1;
			z->nclen = take(z, 4) + 4;
			if (z->pad_bits > z->bitcnt)
				continue;
			if (z->nlit > 286 || z->ndist > 30)
				return fail(z, "too many length or distance symbols");
			memset(z->lens, 0, CLEN_SYMS);
			z->lens_count = 0;
			z->mode = M_DYN_CLEN;
			continue;
		case M_DYN_CLEN:
			if (z->lens_count < z->nclen) {
				if (!need(z, 3))
					return 0;
				z->lens[clen_order[z->lens_count++]] = (uint8_t)take(z, 3);
				continue;
			}
			{
				const char *e = build_table(z->clen_table, 1 << CLEN_ROOT, CLEN_ROOT, z->lens, CLEN_SYMS, SYMS_CLEN, false);
				if (e)
					return fail(z, "invalid code lengths set");
			}
			z->lens_count = 0;
			z->mode = M_DYN_LENS;
			continue;
		case M_DYN_LENS: {
			unsigned total = z->nlit + z->ndist;
			if (z->lens_count < total) {
				if (!need(z, 14))
					return 0;
				uint32_t e = z->clen_table[z->bitbuf & ((1u << CLEN_ROOT) - 1)];
				if (e & E_BAD)
					return fail(z, "invalid code lengths set");
				take(z, E_BITS(e));
				unsigned sym = E_VALUE(e), rep, value = 0;
				if (sym < 16) {
					z->lens[z->lens_count++] = (uint8_t)sym;
					continue;
				}
				if (sym == 16) {
					if (z->lens_count == 0)
						return fail(z, "invalid bit length repeat");
					value = z->lens[z->lens_count - 1];
					rep = 3 + take(z, 2);
				} else if (sym == 17) {
					rep = 3 + take(z, 3);
				} else {
					rep = 11 + take(z, 7);
				}
				if (z->pad_bits > z->bitcnt)
					continue;
				if (z->lens_count + rep > total)
					return fail(z, "invalid bit length repeat");
				memset(z->lens + z->lens_count, (int)value, rep);
				z->lens_count += rep;
				continue;
			}
			if (z->lens[256] == 0)
				return fail(z, "invalid code: missing end-of-block");
			const char *e = build_table(z->lit_table, LIT_TABLE_CAP, LIT_ROOT, z->lens, z->nlit, SYMS_LIT, true);
			if (!e)
				e = build_table(z->dist_table, DIST_TABLE_CAP, DIST_ROOT, z->lens + z->nlit, z->ndist, SYMS_DIST, true);
			if (e)
				return fail(z, e);
			z->lit = z->lit_table;
			z->dist = z->dist_table;
			z->mode = M_DECODE;
			continue;
		}
		case M_DECODE: {
			if (make_room(z, MAX_MATCH) < 0)
				return -1;
			int r;
			if (z->in_end - z->in >= 8) {
				r = decode_fast(z);
			} else {
				if (!need(z, 48))
					return 0;
				const char *err = NULL;
				r = decode_symbol(z->lit, z->dist, &z->bitbuf, &z->bitcnt, z->out, &z->pos, z->hist_start, &err);
				if (z->pad_bits > z->bitcnt)
					continue;
				if (r < 0)
					return fail(z, err);
			}
			if (r < 0)
				return -1;
			if (r == 1 && end_of_block(z) < 0)
				return -1;
			continue;
		}
		case M_GZ_TRAILER:
			if (!need(z, 32))
				return 0;
			if (z->hdr_count == 0) {
				if (take(z, 32) != z->member_crc && z->pad_bits <= z->bitcnt)
					return fail(z, "gzip CRC32 mismatch");
				z->hdr_count = 1;
			} else {
				if (take(z, 32) != z->member_size && z->pad_bits <= z->bitcnt)
					return fail(z, "gzip length (ISIZE) mismatch");
				z->members++;
				z->mode = M_GZ_NEXT;
			}
			continue;
		case M_GZ_NEXT:
			if (real_bits(z) == 0 && z->in == z->in_end)
				return 0;
			start_member(z);
			continue;
		case M_DONE:
			if (real_bits(z) >= 8 || z->in != z->in_end)
				return fail(z, "trailing garbage after deflate stream");
			return 0;
		case M_ERROR:
			return -1;
		}
	}
}

int inflate_feed(inflate_stream *z, const void *data, size_t len)
{
	if (z->mode == M_ERROR)
		return -1;
	if (z->finishing)
		return fail(z, "data fed after the end of input");
	z->in = data;
	z->in_end = z->in + len;
	if (run(z) < 0)
		return -1;
	return flush(z);
}

int inflate_finish(inflate_stream *z)
{
	if (z->mode == M_ERROR)
		return -1;
	if (z->format == INFLATE_GZIP && z->members == 0 && z->mode == M_GZ_HEADER && z->hdr_count == 0 && z->bitcnt == 0)
		return fail(z, "empty input (no gzip data)");
	z->finishing = true;
	z->in = z->in_end = NULL;
	if (run(z) < 0)
		return -1;
	if (flush(z) < 0)
		return -1;
	bool complete = z->format == INFLATE_GZIP ? z->mode == M_GZ_NEXT && z->members > 0 : z->mode == M_DONE;
	if (!complete)
		return fail(z, "truncated stream");
	return 0;
}
