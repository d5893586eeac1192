/* base64: RFC 4648 base64 and hex (see base64.h). */
#include "base64.h"

#include <stdint.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Two output characters per 12 input bits, built by the compiler: the
 * encoder does two lookups per 3 bytes instead of four (output_files sends
 * up to megabytes of base64 per answer). */
#define B64C(x) ((char)((x) < 26 ? 'A' + (x) : (x) < 52 ? 'a' + (x) - 26 : (x) < 62 ? '0' + (x) - 52 : \
                        (x) == 62 ? '+' : '/'))
#define B64P(i) {B64C((i) >> 6), B64C((i) & 63)}
#define B64R4(i) B64P(i), B64P((i) + 1), B64P((i) + 2), B64P((i) + 3)
#define B64R16(i) B64R4(i), B64R4((i) + 4), B64R4((i) + 8), B64R4((i) + 12)
#define B64R64(i) B64R16(i), B64R16((i) + 16), B64R16((i) + 32), B64R16((i) + 48)
#define B64R256(i) B64R64(i), B64R64((i) + 64), B64R64((i) + 128), B64R64((i) + 192)
#define B64R1024(i) B64R256(i), B64R256((i) + 256), B64R256((i) + 512), B64R256((i) + 768)
static const char pairs[4096][2] = {
	B64R1024(0), B64R1024(1024), B64R1024(2048), B64R1024(3072),
};

/* value + 1 for alphabet characters (so 0 means invalid), 65 for '=' */
static const unsigned char sextet_plus1[256] = {
	['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
	['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
	['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
	['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
	['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
	['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
	['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
	['='] = 65,
};

/* 0..63 for alphabet characters, 64 for '=', 255 for anything else */
static inline unsigned sextet(unsigned char c) { return (unsigned char)(sextet_plus1[c] - 1); }

size_t base64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *s = in;
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		memcpy(o, pairs[v >> 12], 2);
		memcpy(o + 2, pairs[v & 4095], 2);
		o += 4;
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < n ? (uint32_t)s[i + 1] << 8 : 0);
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[v >> 12 & 63];
		*o++ = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	return (size_t)(o - out);
}

ssize_t base64_decode(const char *in, size_t n, void *out)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *o = out;
	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		unsigned a = sextet(s[i]), b = sextet(s[i + 1]), c = sextet(s[i + 2]), d = sextet(s[i + 3]);
		if ((a | b | c | d) < 64) {
			uint32_t v = a << 18 | b << 12 | c << 6 | d;
			*o++ = (unsigned char)(v >> 16);
			*o++ = (unsigned char)(v >> 8);
			*o++ = (unsigned char)v;
			continue;
		}
		/* padding: only in the last group, as "xx==" or "xxx=" */
		if (i + 4 != n || a >= 64 || b >= 64)
			return -1;
		if (c == 64 && d == 64) {
			if (b & 15)
				return -1;   /* non-zero unused bits */
			*o++ = (unsigned char)(a << 2 | b >> 4);
		} else if (c < 64 && d == 64) {
			if (c & 3)
				return -1;
			*o++ = (unsigned char)(a << 2 | b >> 4);
			*o++ = (unsigned char)((b & 15) << 4 | c >> 2);
		} else {
			return -1;
		}
	}
	return (ssize_t)(o - (unsigned char *)out);
}

static int hex_digit(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t hex_decode(const char *in, size_t n, void *out)
{
	const unsigned char *s = (const unsigned char *)in;
	unsigned char *o = out;
	if (n % 2)
		return -1;
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		*o++ = (unsigned char)(hi << 4 | lo);
	}
	return (ssize_t)(n / 2);
}
