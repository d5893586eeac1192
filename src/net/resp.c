/*
 * resp: RESP2 encoding and bounded reply parsing (promises in resp.h).
 */
#include "resp.h"

#include <string.h>

/* The line starting at data[at]: its length before "\r\n" in *n.
 * RESP_INCOMPLETE / RESP_BAD as for resp_parse. */
static ssize_t find_line(const char *data, size_t len, size_t at, size_t *n)
{
	size_t limit = len - at < RESP_LINE_MAX + 2 ? len - at : RESP_LINE_MAX + 2;
	const char *p = data + at;
	for (size_t i = 0; i < limit; i++) {
		if (p[i] == '\r') {
			if (i + 1 == len - at)
				return RESP_INCOMPLETE;
			if (p[i + 1] != '\n')
				return RESP_BAD;
			*n = i;
			return 1;
		}
		if (p[i] == '\n')
			return RESP_BAD;
	}
	return len - at < RESP_LINE_MAX + 2 ? RESP_INCOMPLETE : RESP_BAD;
}

/* A decimal integer, optional '-', no blanks, fits in int64. */
static int parse_int(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	if (n && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == n || n - i > 19)
		return -1;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* One scalar at data[at]; *end is where it stops. *is_array set instead
 * when the type byte is '*' (then s->integer holds the count, -1 nil). */
static ssize_t parse_scalar(const char *data, size_t len, size_t at, resp_scalar *s, size_t *end, int *is_array)
{
	*is_array = 0;
	if (at >= len)
		return RESP_INCOMPLETE;
	char t = data[at];
	size_t n = 0;
	ssize_t r = find_line(data, len, at + 1, &n);
	if (r <= 0)
		return r;
	const char *line = data + at + 1;
	size_t after = at + 1 + n + 2;
	memset(s, 0, sizeof *s);
	switch (t) {
	case '+':
	case '-':
		s->type = t == '+' ? RESP_STATUS : RESP_ERROR;
		s->str = line;
		s->len = n;
		*end = after;
		return 1;
	case ':':
		if (parse_int(line, n, &s->integer) < 0)
			return RESP_BAD;
		s->type = RESP_INT;
		*end = after;
		return 1;
	case '$': {
		int64_t bl;
		if (parse_int(line, n, &bl) < 0 || bl < -1 || bl > RESP_BULK_MAX)
			return RESP_BAD;
		if (bl == -1) {
			s->type = RESP_NIL;
			*end = after;
			return 1;
		}
		size_t need = (size_t)bl + 2;
		if (len - after < need)
			return RESP_INCOMPLETE;
		if (data[after + (size_t)bl] != '\r' || data[after + (size_t)bl + 1] != '\n')
			return RESP_BAD;
		s->type = RESP_BULK;
		s->str = data + after;
		s->len = (size_t)bl;
		*end = after + need;
		return 1;
	}
	case '*':
		if (parse_int(line, n, &s->integer) < 0 || s->integer < -1 || s->integer > RESP_ARRAY_MAX)
			return RESP_BAD;
		*is_array = 1;
		*end = after;
		return 1;
	default:
		return RESP_BAD;
	}
}

ssize_t resp_parse(const char *data, size_t len, resp_reply *out)
{
	memset(out, 0, sizeof *out);
	size_t end = 0;
	int arr = 0;
	ssize_t r = parse_scalar(data, len, 0, &out->v, &end, &arr);
	if (r <= 0)
		return r;
	if (!arr) {
		out->type = out->v.type;
		return (ssize_t)end;
	}
	if (out->v.integer < 0) {
		memset(&out->v, 0, sizeof out->v);
		out->v.type = out->type = RESP_NIL;
		return (ssize_t)end;
	}
	out->type = RESP_ARRAY;
	out->n = (size_t)out->v.integer;
	memset(&out->v, 0, sizeof out->v);
	out->v.type = RESP_ARRAY;
	for (size_t i = 0; i < out->n; i++) {
		r = parse_scalar(data, len, end, &out->elem[i], &end, &arr);
		if (r <= 0)
			return r;
		if (arr)
			return RESP_BAD;
	}
	return (ssize_t)end;
}

void resp_command(buf *out, size_t argc, const char *const *argv, const size_t *lens)
{
	buf_printf(out, "*%zu\r\n", argc);
	for (size_t i = 0; i < argc; i++) {
		size_t n = lens ? lens[i] : strlen(argv[i]);
		buf_printf(out, "$%zu\r\n", n);
		buf_append(out, argv[i], n);
		buf_puts(out, "\r\n");
	}
}
