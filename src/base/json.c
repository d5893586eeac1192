/*
 * json: strict RFC 8259 reader and the writer (see json.h).
 *
 * The reader makes two passes over the text with the same grammar code.
 * Pass 1 validates everything and counts: values, decoded string bytes and
 * the number of children of each container (in pre-order). Then one arena
 * is allocated with the exact size, and pass 2 fills it: a container's
 * children are placed contiguously because their count is already known.
 * Pass 2 cannot fail, so the tree is never half-built.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Word-at-a-time byte tests (exact for "is there such a byte"). */
#define BYTES_01 0x0101010101010101ull
#define BYTES_80 0x8080808080808080ull
static inline uint64_t load8(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
	return w;
}
static inline uint64_t any_zero_byte(uint64_t w) { return (w - BYTES_01) & ~w & BYTES_80; }
static inline uint64_t any_byte_eq(uint64_t w, unsigned char c) { return any_zero_byte(w ^ (BYTES_01 * c)); }
static inline uint64_t any_byte_below(uint64_t w, unsigned char n) { return (w - BYTES_01 * n) & ~w & BYTES_80; }
/* a byte that needs attention in a JSON string: '"', '\\', control, non-ASCII */
static inline uint64_t any_string_special(uint64_t w)
{
	return any_byte_eq(w, '"') | any_byte_eq(w, '\\') | any_byte_below(w, 0x20) | (w & BYTES_80);
}

/* ---------------------------------------------------------------- UTF-8 */

int json_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	int need;
	unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0)
			lo = 0xA0;          /* no overlongs */
		else if (c == 0xED)
			hi = 0x9F;          /* no UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0)
			lo = 0x90;          /* no overlongs */
		else if (c == 0xF4)
			hi = 0x8F;          /* nothing above U+10FFFF */
	} else {
		return -1;              /* continuation byte, C0/C1, F5..FF */
	}
	for (int i = 1; i <= need; i++) {
		if ((size_t)i >= n)
			return -i;
		unsigned char b = s[i];
		if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF))
			return -i;
	}
	return need + 1;
}

utf8_status json_utf8_check(const char *text, size_t n, size_t *checked)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	utf8_status st = UTF8_VALID;
	while (i < n) {
		/* fast path: 8 ASCII bytes at a time */
		while (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ull)
				break;
			i += 8;
		}
		if (i >= n)
			break;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		int k = json_utf8_seq(s + i, n - i);
		if (k > 0) {
			i += (size_t)k;
			continue;
		}
		/* truncated: a valid lead whose maximal subpart reaches the end */
		bool lead = s[i] >= 0xC2 && s[i] <= 0xF4;
		st = (lead && i + (size_t)-k == n) ? UTF8_TRUNCATED : UTF8_INVALID;
		break;
	}
	if (checked)
		*checked = i;
	return st;
}

/* --------------------------------------------------------------- reader */

struct json_doc {
	size_t n_values;
	json_value values[];   /* values[0] is the root; strings follow */
};

typedef struct parser {
	const unsigned char *start, *p, *end;
	json_error *err;
	bool failed;
	bool build;              /* false: pass 1 (validate, count); true: pass 2 */
	/* pass 1 results */
	size_t n_values;
	size_t string_bytes;
	uint32_t *counts;        /* children per container, pre-order */
	size_t n_containers, counts_cap;
	uint32_t counts_inline[32];  /* small documents need no allocation */
	size_t longest_number;   /* strtod needs a terminated copy */
	/* pass 2 cursors */
	char *number_copy;       /* longest_number + 1 bytes */
	size_t next_container;
	json_value *next_value;
	char *next_string;
} parser;

static bool fail_at(parser *ps, const unsigned char *at, const char *msg)
{
	if (!ps->failed) {
		ps->failed = true;
		if (ps->err) {
			ps->err->offset = (size_t)(at - ps->start);
			snprintf(ps->err->message, sizeof ps->err->message, "%s", msg);
		}
	}
	return false;
}

/* "unexpected X, expected WANT" at the current position */
static bool fail_unexpected(parser *ps, const char *want)
{
	char msg[96];
	if (ps->p >= ps->end) {
		snprintf(msg, sizeof msg, "unexpected end of input, expected %s", want);
	} else {
		unsigned char c = *ps->p;
		if (c > 0x20 && c < 0x7F)
			snprintf(msg, sizeof msg, "unexpected '%c', expected %s", c, want);
		else
			snprintf(msg, sizeof msg, "unexpected byte 0x%02X, expected %s", c, want);
	}
	return fail_at(ps, ps->p, msg);
}

static inline void skip_ws(parser *ps)
{
	const unsigned char *p = ps->p, *end = ps->end;
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	ps->p = p;
}

static inline bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* 4 hex digits at p (bounds checked by the caller), or -1 */
static long hex4(const unsigned char *p)
{
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex_value(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* String byte classes: 0 plain, 1 '"' or '\\', 2 control, 3 non-ASCII. */
static const unsigned char string_class[256] = {
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	[0x80 ... 0xFF] = 3,
};

/*
 * Parses the string literal at ps->p (which is '"'). Pass 1 validates and
 * adds the decoded size to string_bytes; pass 2 decodes into the arena.
 */
static bool parse_string(parser *ps, const char **out, uint32_t *out_len)
{
	const unsigned char *open = ps->p, *p = ps->p + 1, *end = ps->end;
	char *dst = ps->build ? ps->next_string : NULL;
	size_t len = 0;
	for (;;) {
		const unsigned char *run = p;
		if (ps->build) {
			/* already validated: only quotes and escapes matter */
			while (end - p >= 8 && !(any_byte_eq(load8(p), '"') | any_byte_eq(load8(p), '\\')))
				p += 8;
			while (string_class[*p] != 1)
				p++;
		} else {
			while (end - p >= 8 && !any_string_special(load8(p)))
				p += 8;
			while (p < end && string_class[*p] == 0)
				p++;
		}
		if (dst && p > run)
			memcpy(dst + len, run, (size_t)(p - run));
		len += (size_t)(p - run);
		if (p >= end)
			return fail_at(ps, open, "unterminated string");
		unsigned char c = *p;
		if (c == '"')
			break;
		if (c >= 0x80) {
			int k = json_utf8_seq(p, (size_t)(end - p));
			if (k < 0)
				return fail_at(ps, p, "invalid UTF-8 in string");
			if (dst)
				memcpy(dst + len, p, (size_t)k);
			len += (size_t)k;
			p += k;
			continue;
		}
		if (c < 0x20)
			return fail_at(ps, p, "control character in string (must be escaped)");
		/* backslash escape */
		const unsigned char *esc = p;
		if (end - p < 2)
			return fail_at(ps, open, "unterminated string");
		char one;
		switch (p[1]) {
		case '"': one = '"'; break;
		case '\\': one = '\\'; break;
		case '/': one = '/'; break;
		case 'b': one = '\b'; break;
		case 'f': one = '\f'; break;
		case 'n': one = '\n'; break;
		case 'r': one = '\r'; break;
		case 't': one = '\t'; break;
		case 'u': one = 0; break;
		default:
			return fail_at(ps, esc, "invalid escape in string");
		}
		if (p[1] != 'u') {
			if (dst)
				dst[len] = one;
			len++;
			p += 2;
			continue;
		}
		if (end - p < 6)
			return fail_at(ps, esc, "truncated \\u escape");
		long cp = hex4(p + 2);
		if (cp < 0)
			return fail_at(ps, esc, "invalid \\u escape (need 4 hex digits)");
		p += 6;
		if (cp >= 0xDC00 && cp <= 0xDFFF)
			return fail_at(ps, esc, "lone low surrogate in \\u escape");
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			long low = (end - p >= 6 && p[0] == '\\' && p[1] == 'u') ? hex4(p + 2) : -1;
			if (low < 0xDC00 || low > 0xDFFF)
				return fail_at(ps, esc, "lone high surrogate in \\u escape");
			cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
			p += 6;
		}
		char tmp[4];
		size_t k = utf8_encode((uint32_t)cp, dst ? dst + len : tmp);
		len += k;
	}
	if (len > UINT32_MAX)
		return fail_at(ps, open, "string too long");
	ps->p = p + 1;
	if (dst) {
		dst[len] = 0;
		ps->next_string += len + 1;
		*out = dst;
	} else {
		ps->string_bytes += len + 1;
		*out = NULL;
	}
	*out_len = (uint32_t)len;
	return true;
}

/*
 * Clinger's fast path: when the significant digits fit in 2^53 and the
 * power of ten is at most 22 (both exact doubles), one multiply or divide
 * is correctly rounded, so strtod is not needed. [p, end) is a validated
 * number without its sign.
 */
static bool fast_decimal(const unsigned char *p, const unsigned char *end, bool neg, double *out)
{
	static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	uint64_t mant = 0;
	int exp10 = 0, significant = 0;
	bool fraction = false;
	for (; p < end && (is_digit(*p) || *p == '.'); p++) {
		if (*p == '.') {
			fraction = true;
			continue;
		}
		if (mant || *p != '0') {
			if (++significant > 19)
				return false;
			mant = mant * 10 + (uint64_t)(*p - '0');
		}
		if (fraction)
			exp10--;
	}
	if (p < end) {   /* exponent */
		p++;
		bool eneg = *p == '-';
		if (*p == '-' || *p == '+')
			p++;
		int e = 0;
		for (; p < end; p++) {
			if (e > 1000)
				return false;
			e = e * 10 + (*p - '0');
		}
		exp10 += eneg ? -e : e;
	}
	if (mant > (1ull << 53) || exp10 < -22 || exp10 > 22)
		return mant == 0 ? (*out = neg ? -0.0 : 0.0, true) : false;
	double v = (double)mant;
	v = exp10 >= 0 ? v * pow10[exp10] : v / pow10[-exp10];
	*out = neg ? -v : v;
	return true;
}

static bool parse_number(parser *ps, json_value *out)
{
	const unsigned char *s = ps->p, *q = s, *end = ps->end;
	bool neg = false, integral = true;
	if (q < end && *q == '-') {
		neg = true;
		q++;
	}
	if (q >= end || !is_digit(*q)) {
		ps->p = q;
		return fail_unexpected(ps, "a digit");
	}
	const unsigned char *digits = q;
	if (*q == '0') {
		q++;
		if (q < end && is_digit(*q))
			return fail_at(ps, s, "leading zero in number");
	} else {
		while (q < end && is_digit(*q))
			q++;
	}
	const unsigned char *digits_end = q;
	if (q < end && *q == '.') {
		q++;
		if (q >= end || !is_digit(*q))
			return fail_at(ps, q, "expected a digit after the decimal point");
		while (q < end && is_digit(*q))
			q++;
		integral = false;
	}
	if (q < end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < end && (*q == '+' || *q == '-'))
			q++;
		if (q >= end || !is_digit(*q))
			return fail_at(ps, q, "expected a digit in the exponent");
		while (q < end && is_digit(*q))
			q++;
		integral = false;
	}
	ps->p = q;
	size_t n = (size_t)(q - s);
	if (n > UINT32_MAX)
		return fail_at(ps, s, "number too long");
	if (!out) {
		if (n > ps->longest_number)
			ps->longest_number = n;
		ps->string_bytes += n + 1;   /* the number's text, kept in the arena */
		return true;
	}
	out->type = JSON_NUMBER;
	out->is_integer = false;
	out->integer = 0;
	memcpy(ps->next_string, s, n);
	ps->next_string[n] = 0;
	out->text = ps->next_string;
	out->len = (uint32_t)n;
	ps->next_string += n + 1;
	if (integral && digits_end - digits <= 19) {
		uint64_t mag = 0;
		for (const unsigned char *d = digits; d < digits_end; d++)
			mag = mag * 10 + (uint64_t)(*d - '0');  /* <= 19 digits: no wrap */
		uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		if (mag <= limit) {
			out->is_integer = true;
			out->integer = neg ? (int64_t)(0 - mag) : (int64_t)mag;
			if (neg && mag == 0)
				out->u.number = -0.0;
			else if (mag < (1ull << 53))
				out->u.number = (double)out->integer;  /* exact */
			else
				goto use_strtod;
			return true;
		}
	}
use_strtod:;
	if (fast_decimal(digits, q, neg, &out->u.number))
		return true;
	memcpy(ps->number_copy, s, n);
	ps->number_copy[n] = 0;
	out->u.number = strtod(ps->number_copy, NULL);  /* overflow gives +-HUGE_VAL */
	return true;
}

static bool parse_literal(parser *ps, const char *word, size_t n)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0)
		return fail_unexpected(ps, "a value");
	ps->p += n;
	return true;
}

static bool parse_value(parser *ps, json_value *out, int depth);

/* Pass 1: reserve a count slot for the container that is opening. */
static bool open_container(parser *ps, size_t *slot, json_value **children, int depth)
{
	if (depth >= JSON_MAX_DEPTH)
		return fail_at(ps, ps->p, "nesting too deep");
	if (ps->build) {
		uint32_t n = ps->counts[ps->next_container++];
		*children = ps->next_value;
		ps->next_value += n;
		return true;
	}
	if (ps->n_containers == ps->counts_cap) {
		size_t cap = ps->counts_cap * 2;
		bool on_heap = ps->counts != ps->counts_inline;
		uint32_t *c = realloc(on_heap ? ps->counts : NULL, cap * sizeof *c);
		if (!c)
			return fail_at(ps, ps->p, "out of memory");
		if (!on_heap)
			memcpy(c, ps->counts_inline, sizeof ps->counts_inline);
		ps->counts = c;
		ps->counts_cap = cap;
	}
	*slot = ps->n_containers++;
	*children = NULL;
	return true;
}

static bool close_container(parser *ps, size_t slot, size_t n, json_value *out)
{
	if (n > UINT32_MAX)
		return fail_at(ps, ps->p, "too many elements");
	if (!ps->build)
		ps->counts[slot] = (uint32_t)n;
	else
		out->len = (uint32_t)n;
	return true;
}

static bool parse_array(parser *ps, json_value *out, int depth)
{
	size_t slot = 0, n = 0;
	json_value *children;
	if (!open_container(ps, &slot, &children, depth))
		return false;
	if (out) {
		out->type = JSON_ARRAY;
		out->u.children = children;
	}
	ps->p++;  /* '[' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		return close_container(ps, slot, 0, out);
	}
	for (;;) {
		if (!parse_value(ps, out ? &children[n] : NULL, depth + 1))
			return false;
		n++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == ']') {
			ps->p++;
			return close_container(ps, slot, n, out);
		}
		return fail_unexpected(ps, "',' or ']'");
	}
}

static bool parse_object(parser *ps, json_value *out, int depth)
{
	size_t slot = 0, n = 0;
	json_value *children;
	if (!open_container(ps, &slot, &children, depth))
		return false;
	if (out) {
		out->type = JSON_OBJECT;
		out->u.children = children;
	}
	ps->p++;  /* '{' */
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		return close_container(ps, slot, 0, out);
	}
	for (;;) {
		if (ps->p >= ps->end || *ps->p != '"')
			return fail_unexpected(ps, "a member name string");
		const char *key;
		uint32_t key_len;
		if (!parse_string(ps, &key, &key_len))
			return false;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':')
			return fail_unexpected(ps, "':' after member name");
		ps->p++;
		json_value *child = out ? &children[n] : NULL;
		if (!parse_value(ps, child, depth + 1))
			return false;
		if (child) {
			child->key = key;
			child->key_len = key_len;
		}
		n++;
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			skip_ws(ps);
			continue;
		}
		if (ps->p < ps->end && *ps->p == '}') {
			ps->p++;
			return close_container(ps, slot, n, out);
		}
		return fail_unexpected(ps, "',' or '}'");
	}
}

static bool parse_value(parser *ps, json_value *out, int depth)
{
	skip_ws(ps);
	ps->n_values++;
	if (out) {
		out->key = NULL;
		out->key_len = 0;
		out->len = 0;
		out->is_integer = false;
		out->integer = 0;
		out->text = NULL;
	}
	if (ps->p >= ps->end)
		return fail_unexpected(ps, "a value");
	switch (*ps->p) {
	case '{':
		return parse_object(ps, out, depth);
	case '[':
		return parse_array(ps, out, depth);
	case '"': {
		const char *s;
		uint32_t n;
		if (!parse_string(ps, &s, &n))
			return false;
		if (out) {
			out->type = JSON_STRING;
			out->u.string = s;
			out->len = n;
		}
		return true;
	}
	case 't':
		if (out)
			out->type = JSON_TRUE;
		return parse_literal(ps, "true", 4);
	case 'f':
		if (out)
			out->type = JSON_FALSE;
		return parse_literal(ps, "false", 5);
	case 'n':
		if (out)
			out->type = JSON_NULL;
		return parse_literal(ps, "null", 4);
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return parse_number(ps, out);
	default:
		return fail_unexpected(ps, "a value");
	}
}

json_doc *json_parse(const char *text, size_t len, json_error *err)
{
	parser ps = {0};
	ps.counts = ps.counts_inline;
	ps.counts_cap = sizeof ps.counts_inline / sizeof *ps.counts_inline;
	ps.start = ps.p = (const unsigned char *)(text ? text : "");
	ps.end = ps.start + (text ? len : 0);
	ps.err = err;
	if (err) {
		err->offset = 0;
		err->message[0] = 0;
	}
	if (!text && len) {   /* a NULL text is parsed as empty */
		fail_at(&ps, ps.start, "no input");
		return NULL;
	}
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
		fail_at(&ps, ps.start, "byte order mark is not allowed");
		return NULL;
	}
	/* pass 1: validate and count */
	if (!parse_value(&ps, NULL, 0))
		goto fail;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		fail_at(&ps, ps.p, "unexpected data after the JSON value");
		goto fail;
	}
	size_t n_values = ps.n_values;
	json_doc *doc = malloc(sizeof *doc + n_values * sizeof(json_value) + ps.string_bytes);
	if (!doc) {
		fail_at(&ps, ps.start, "out of memory");
		goto fail;
	}
	doc->n_values = n_values;
	char small[64];
	ps.number_copy = ps.longest_number < sizeof small ? small : malloc(ps.longest_number + 1);
	if (!ps.number_copy) {
		free(doc);
		fail_at(&ps, ps.start, "out of memory");
		goto fail;
	}
	/* pass 2: build (cannot fail: same input, same grammar) */
	ps.build = true;
	ps.p = ps.start;
	ps.n_values = 0;
	ps.next_container = 0;
	ps.next_value = doc->values + 1;
	ps.next_string = (char *)(doc->values + n_values);
	parse_value(&ps, &doc->values[0], 0);
	if (ps.number_copy != small)
		free(ps.number_copy);
	if (ps.counts != ps.counts_inline)
		free(ps.counts);
	return doc;
fail:
	if (ps.counts != ps.counts_inline)
		free(ps.counts);
	return NULL;
}

const json_value *json_root(const json_doc *doc) { return doc ? &doc->values[0] : NULL; }

void json_free(json_doc *doc) { free(doc); }

const json_value *json_get(const json_value *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT || !key)
		return NULL;
	size_t n = strlen(key);
	for (uint32_t i = obj->len; i-- > 0;) {
		const json_value *m = &obj->u.children[i];
		if (m->key_len == n && memcmp(m->key, key, n) == 0)
			return m;
	}
	return NULL;
}

const char *json_type_name(json_type t)
{
	switch (t) {
	case JSON_NULL: return "null";
	case JSON_FALSE: case JSON_TRUE: return "a boolean";
	case JSON_NUMBER: return "a number";
	case JSON_STRING: return "a string";
	case JSON_ARRAY: return "an array";
	case JSON_OBJECT: return "an object";
	}
	return "a value";
}

const json_value *json_at(const json_value *arr, size_t i)
{
	if (!arr || arr->type != JSON_ARRAY || i >= arr->len)
		return NULL;
	return &arr->u.children[i];
}

/* --------------------------------------------------------------- writer */

/* 0: copy as is; 1: escape; 2: non-ASCII (check UTF-8) */
static const unsigned char escape_class[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	[0x80 ... 0xFF] = 2,
};

void json_escape(buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	buf_putc(out, '"');
	while (p < end) {
		/* the longest run that is copied as is: ASCII and valid UTF-8 */
		const unsigned char *run = p;
		int bad = 0;    /* bytes of an invalid sequence that ends the run */
		for (;;) {
			while (end - p >= 8 && !any_string_special(load8(p)))
				p += 8;
			while (p < end && escape_class[*p] == 0)
				p++;
			if (p < end && escape_class[*p] == 2) {
				int k = json_utf8_seq(p, (size_t)(end - p));
				if (k > 0) {
					p += k;
					continue;
				}
				bad = -k;
			}
			break;
		}
		if (p > run)
			buf_append(out, run, (size_t)(p - run));
		if (p >= end || !buf_reserve(out, 6))
			break;
		char *o = out->data + out->len;
		size_t w = 2;
		o[0] = '\\';
		if (bad) {
			memcpy(o, "\xEF\xBF\xBD", 3);   /* U+FFFD for the maximal subpart */
			w = 3;
			p += bad;
		} else {
			switch (*p) {
			case '"': o[1] = '"'; break;
			case '\\': o[1] = '\\'; break;
			case '\b': o[1] = 'b'; break;
			case '\f': o[1] = 'f'; break;
			case '\n': o[1] = 'n'; break;
			case '\r': o[1] = 'r'; break;
			case '\t': o[1] = 't'; break;
			default:
				memcpy(o + 1, "u00", 3);
				o[4] = hex[*p >> 4];
				o[5] = hex[*p & 15];
				w = 6;
			}
			p++;
		}
		out->len += w;
	}
	buf_putc(out, '"');   /* also restores the NUL terminator */
}

void jw_init(jw *w, buf *out)
{
	w->out = out;
	w->need_comma = 0;
	w->depth = 0;
	w->after_key = false;
}

/* Comma bookkeeping before any value or key. Levels beyond 64 share the
 * last bit; the project never writes that deep. */
static void jw_prefix(jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0)
		return;
	uint64_t bit = 1ull << ((w->depth - 1) & 63);
	if (w->need_comma & bit)
		buf_putc(w->out, ',');
	else
		w->need_comma |= bit;
}

static void jw_open(jw *w, char c)
{
	jw_prefix(w);
	buf_putc(w->out, c);
	w->depth++;
	w->need_comma &= ~(1ull << ((w->depth - 1) & 63));
}

static void jw_close(jw *w, char c)
{
	if (w->depth > 0)
		w->depth--;
	w->after_key = false;
	buf_putc(w->out, c);
}

void jw_object_begin(jw *w) { jw_open(w, '{'); }
void jw_object_end(jw *w) { jw_close(w, '}'); }
void jw_array_begin(jw *w) { jw_open(w, '['); }
void jw_array_end(jw *w) { jw_close(w, ']'); }

void jw_key(jw *w, const char *key) { jw_key_n(w, key, strlen(key)); }

void jw_key_n(jw *w, const char *key, size_t n)
{
	jw_prefix(w);
	json_escape(w->out, key, n);
	buf_putc(w->out, ':');
	w->after_key = true;
}

void jw_value(jw *w, const json_value *v)
{
	switch (v->type) {
	case JSON_NULL: jw_null(w); break;
	case JSON_FALSE: jw_bool(w, false); break;
	case JSON_TRUE: jw_bool(w, true); break;
	case JSON_NUMBER:
		/* A parsed number is written back as sent: the proxy forwards a
		 * request it rewrote, and args like 3.50 must reach the engine as
		 * 3.50 (SPEC section 1). A tree built by hand may lack the text. */
		if (v->text) {
			jw_raw(w, v->text, v->len);
			break;
		}
		/* "-0" parses as the integer 0 with number -0.0: keep its sign, so
		 * that writing back what was parsed is stable (found by fuzz_json) */
		if (v->is_integer && !(v->integer == 0 && signbit(v->u.number)))
			jw_int(w, v->integer);
		else
			jw_double(w, v->u.number);
		break;
	case JSON_STRING: jw_string_n(w, v->u.string, v->len); break;
	case JSON_ARRAY:
		jw_array_begin(w);
		for (uint32_t i = 0; i < v->len; i++)
			jw_value(w, &v->u.children[i]);
		jw_array_end(w);
		break;
	case JSON_OBJECT:
		jw_object_begin(w);
		for (uint32_t i = 0; i < v->len; i++) {
			const json_value *m = &v->u.children[i];
			jw_key_n(w, m->key, m->key_len);
			jw_value(w, m);
		}
		jw_object_end(w);
		break;
	}
}

void jw_string(jw *w, const char *s)
{
	if (!s) {
		jw_null(w);
		return;
	}
	jw_string_n(w, s, strlen(s));
}

void jw_string_n(jw *w, const char *s, size_t n)
{
	jw_prefix(w);
	json_escape(w->out, s, n);
}

static size_t u64_to_dec(uint64_t v, char *end)
{
	char *p = end;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return (size_t)(end - p);
}

void jw_uint(jw *w, uint64_t v)
{
	char tmp[24];
	size_t n = u64_to_dec(v, tmp + sizeof tmp);
	jw_prefix(w);
	buf_append(w->out, tmp + sizeof tmp - n, n);
}

void jw_int(jw *w, int64_t v)
{
	char tmp[24];
	uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	size_t n = u64_to_dec(mag, tmp + sizeof tmp);
	if (v < 0)
		tmp[sizeof tmp - ++n] = '-';
	jw_prefix(w);
	buf_append(w->out, tmp + sizeof tmp - n, n);
}

void jw_double(jw *w, double v)
{
	if (!isfinite(v)) {
		jw_null(w);
		return;
	}
	if (v == 0) {
		jw_prefix(w);
		buf_append(w->out, signbit(v) ? "-0" : "0", signbit(v) ? 2 : 1);
		return;
	}
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		jw_int(w, (int64_t)v);
		return;
	}
	/* shortest of %.15g..%.17g that reads back as the same double */
	char tmp[40];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, v);
		if (prec == 17 || strtod(tmp, NULL) == v)
			break;
	}
	jw_prefix(w);
	buf_puts(w->out, tmp);
}

void jw_bool(jw *w, bool v)
{
	jw_prefix(w);
	buf_append(w->out, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(jw *w)
{
	jw_prefix(w);
	buf_append(w->out, "null", 4);
}

void jw_raw(jw *w, const char *json, size_t n)
{
	jw_prefix(w);
	buf_append(w->out, json, n);
}
