/*
 * http_parse: strict HTTP/1.x head parsing, body framing and chunked
 * decoding. Lines end in CRLF only: a bare LF, obs-fold, control characters
 * and malformed versions are errors (request smuggling hides in leniency).
 */
#include "http_parse.h"

#include <string.h>

/* RFC 9110 tchar: token characters. */
static const unsigned char tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
	['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

/* Field value octets: VCHAR, SP, HTAB, obs-text. */
static inline bool is_field_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

/* Request-target octets: visible ASCII (and raw UTF-8, which some clients send). */
static inline bool is_target_char(unsigned char ch)
{
	return ch > 0x20 && ch != 0x7f;
}

typedef struct cursor {
	const char *p, *end;
} cursor;

enum { OK = 0, MORE = HTTP_PARSE_INCOMPLETE, BAD = HTTP_PARSE_ERROR, BIG = HTTP_PARSE_TOO_LARGE };

/* Expects CRLF at the cursor. */
static int eat_crlf(cursor *c)
{
	if (c->p == c->end)
		return MORE;
	if (*c->p != '\r')
		return BAD;
	if (c->p + 1 == c->end)
		return MORE;
	if (c->p[1] != '\n')
		return BAD;
	c->p += 2;
	return OK;
}

/* "HTTP/1.x" -> minor version. */
static int parse_version(cursor *c, int *minor)
{
	static const char proto[] = "HTTP/1.";
	for (size_t i = 0; i < 7; i++) {
		if (c->p == c->end)
			return MORE;
		if (*c->p != proto[i])
			return BAD;
		c->p++;
	}
	if (c->p == c->end)
		return MORE;
	if (*c->p != '0' && *c->p != '1')
		return BAD;
	*minor = *c->p - '0';
	c->p++;
	return OK;
}

/* Header lines up to and including the blank line. */
static int parse_headers(cursor *c, http_header *h, size_t *nh)
{
	*nh = 0;
	for (;;) {
		if (c->p == c->end)
			return MORE;
		if (*c->p == '\r')
			return eat_crlf(c);
		const char *name = c->p;
		while (c->p < c->end && tchar[(unsigned char)*c->p])
			c->p++;
		if (c->p == c->end)
			return MORE;
		/* Empty name (this also rejects obs-fold's leading SP/HTAB) or a
		 * space before the colon: both are smuggling vectors. */
		if (c->p == name || *c->p != ':')
			return BAD;
		size_t name_len = (size_t)(c->p - name);
		c->p++;
		while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
			c->p++;
		const char *value = c->p;
		while (c->p < c->end && is_field_char((unsigned char)*c->p))
			c->p++;
		if (c->p == c->end)
			return MORE;
		const char *vend = c->p;
		while (vend > value && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		int r = eat_crlf(c);
		if (r)
			return r;
		if (*nh == HTTP_MAX_HEADERS)
			return BIG;
		h[*nh] = (http_header){name, value, name_len, (size_t)(vend - value)};
		(*nh)++;
	}
}

static ssize_t finish(int r, const char *start, const cursor *c, size_t len, size_t max_head)
{
	if (r == OK)
		return (size_t)(c->p - start) > max_head ? BIG : c->p - start;
	if (r == MORE && len >= max_head)
		return BIG;
	return r;
}

static int parse_request_head(cursor *c, http_request *req)
{
	/* RFC 9112 2.2: ignore at least one empty line before the request-line. */
	while (c->end - c->p >= 2 && c->p[0] == '\r' && c->p[1] == '\n')
		c->p += 2;
	const char *m = c->p;
	while (c->p < c->end && tchar[(unsigned char)*c->p])
		c->p++;
	if (c->p == c->end)
		return MORE;
	if (c->p == m || *c->p != ' ')
		return BAD;
	req->method = m;
	req->method_len = (size_t)(c->p - m);
	c->p++;
	const char *t = c->p, *q = NULL;
	while (c->p < c->end && is_target_char((unsigned char)*c->p)) {
		if (*c->p == '?' && !q)
			q = c->p;
		c->p++;
	}
	if (c->p == c->end)
		return MORE;
	if (c->p == t || *c->p != ' ')
		return BAD;
	req->path = t;
	req->path_len = (size_t)((q ? q : c->p) - t);
	req->query = q ? q + 1 : NULL;
	req->query_len = q ? (size_t)(c->p - q - 1) : 0;
	c->p++;
	int r = parse_version(c, &req->minor_version);
	if (!r)
		r = eat_crlf(c);
	if (!r)
		r = parse_headers(c, req->headers, &req->nheaders);
	return r;
}

ssize_t http_parse_request(const char *data, size_t len, size_t max_head, http_request *req)
{
	req->body = NULL;
	req->body_len = 0;
	req->nheaders = 0;
	if (len == 0)   /* data may be NULL (an empty buf): no NULL + 0 (UBSan) */
		return HTTP_PARSE_INCOMPLETE;
	cursor c = {data, data + len};
	int r = parse_request_head(&c, req);
	return finish(r, data, &c, len, max_head);
}

static int parse_response_head(cursor *c, http_response_head *res)
{
	int r = parse_version(c, &res->minor_version);
	if (r)
		return r;
	if (c->p == c->end)
		return MORE;
	if (*c->p != ' ')
		return BAD;
	c->p++;
	int status = 0;
	for (int i = 0; i < 3; i++) {
		if (c->p == c->end)
			return MORE;
		if (*c->p < '0' || *c->p > '9')
			return BAD;
		status = status * 10 + (*c->p - '0');
		c->p++;
	}
	if (status < 100)
		return BAD;
	res->status = status;
	if (c->p == c->end)
		return MORE;
	/* The reason phrase may be empty, and some servers omit the SP before it. */
	if (*c->p == ' ')
		c->p++;
	else if (*c->p != '\r')
		return BAD;
	const char *reason = c->p;
	while (c->p < c->end && is_field_char((unsigned char)*c->p))
		c->p++;
	res->reason = reason;
	res->reason_len = (size_t)(c->p - reason);
	r = eat_crlf(c);
	if (!r)
		r = parse_headers(c, res->headers, &res->nheaders);
	return r;
}

ssize_t http_parse_response(const char *data, size_t len, size_t max_head, http_response_head *res)
{
	res->nheaders = 0;
	res->reason = NULL;
	res->reason_len = 0;
	if (len == 0)   /* data may be NULL (an empty buf): no NULL + 0 (UBSan) */
		return HTTP_PARSE_INCOMPLETE;
	cursor c = {data, data + len};
	int r = parse_response_head(&c, res);
	return finish(r, data, &c, len, max_head);
}

static inline unsigned char lower(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

static bool name_eq(const char *a, size_t alen, const char *b)
{
	size_t i = 0;
	for (; i < alen; i++)
		if (!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return b[i] == 0;
}

const http_header *http_find_header(const http_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (name_eq(h[i].name, h[i].name_len, name))
			return &h[i];
	return NULL;
}

/* Splits a comma-separated list: returns the next element (OWS trimmed)
 * at *pos, or false at the end. Empty elements are skipped. */
static bool next_element(const char *v, size_t len, size_t *pos, const char **el, size_t *el_len)
{
	while (*pos < len) {
		size_t s = *pos;
		while (*pos < len && v[*pos] != ',')
			(*pos)++;
		size_t e = *pos;
		if (*pos < len)
			(*pos)++;
		while (s < e && (v[s] == ' ' || v[s] == '\t'))
			s++;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e > s) {
			*el = v + s;
			*el_len = e - s;
			return true;
		}
	}
	return false;
}

bool http_header_has_token(const char *value, size_t len, const char *token)
{
	size_t pos = 0, n;
	const char *el;
	while (next_element(value, len, &pos, &el, &n))
		if (name_eq(el, n, token))
			return true;
	return false;
}

/* Content-Length: 1*DIGIT, at most 2^63-1. */
static int parse_length(const char *s, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT64_MAX)
		return -1;
	*out = v;
	return 0;
}

int http_body_framing(const http_header *h, size_t n, bool is_response, int status,
                      bool head_request, http_body_kind *kind, uint64_t *length)
{
	bool have_length = false, have_te = false, chunked_last = false;
	uint64_t len = 0;
	int codings = 0;
	for (size_t i = 0; i < n; i++) {
		if (name_eq(h[i].name, h[i].name_len, "content-length")) {
			/* Repeated values (in one header or several) must all agree. */
			size_t pos = 0, el_len;
			const char *el;
			bool any = false;
			while (next_element(h[i].value, h[i].value_len, &pos, &el, &el_len)) {
				uint64_t v;
				if (parse_length(el, el_len, &v) < 0)
					return -1;
				if (have_length && v != len)
					return -1;
				len = v;
				have_length = any = true;
			}
			if (!any)
				return -1;
		} else if (name_eq(h[i].name, h[i].name_len, "transfer-encoding")) {
			size_t pos = 0, el_len;
			const char *el;
			have_te = true;
			while (next_element(h[i].value, h[i].value_len, &pos, &el, &el_len)) {
				if (chunked_last)
					return -1;  /* nothing may follow chunked */
				chunked_last = name_eq(el, el_len, "chunked");
				codings++;
			}
		}
	}
	*length = 0;
	if (is_response && (head_request || (status >= 100 && status < 200) || status == 204 || status == 304)) {
		*kind = HTTP_BODY_NONE;
		return 0;
	}
	if (have_te) {
		if (have_length || codings == 0)
			return -1;
		if (chunked_last && codings == 1) {
			*kind = HTTP_BODY_CHUNKED;
			return 0;
		}
		/* Other codings: a request cannot be framed (we decode none); a
		 * response ending in chunked is still chunked-framed, else it runs
		 * until close. */
		if (!is_response)
			return -1;
		*kind = chunked_last ? HTTP_BODY_CHUNKED : HTTP_BODY_UNTIL_CLOSE;
		return 0;
	}
	if (have_length) {
		*kind = HTTP_BODY_LENGTH;
		*length = len;
		return 0;
	}
	*kind = is_response ? HTTP_BODY_UNTIL_CLOSE : HTTP_BODY_NONE;
	return 0;
}

/* ---- chunked transfer coding ---- */

enum {
	CH_SIZE_START,   /* first hex digit of a chunk size */
	CH_SIZE,         /* more hex digits, or ';' / CR */
	CH_EXT,          /* chunk extension, until CR */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER_START,/* start of a trailer line, or the final CRLF */
	CH_TRAILER,      /* inside a trailer line */
	CH_TRAILER_LF,
	CH_FINAL_LF,
};

#define CH_MAX_SIZE_LINE 4096      /* size + extensions */
#define CH_MAX_TRAILERS (16 * 1024) /* all trailer lines together */

static int hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = lower(ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

ssize_t http_chunked_decode(http_chunked *c, char *data, size_t len, size_t *consumed)
{
	size_t in = 0, out = 0;
	while (in < len && !c->done) {
		unsigned char ch = (unsigned char)data[in];
		switch (c->state) {
		case CH_SIZE_START:
		case CH_SIZE: {
			int d = hexval(ch);
			if (d >= 0) {
				if (c->remaining >> 60)
					return -1;  /* more than 2^64-1 */
				c->remaining = c->remaining << 4 | (uint64_t)d;
				c->state = CH_SIZE;
			} else if (c->state == CH_SIZE_START) {
				return -1;
			} else if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = CH_EXT;
			} else if (ch == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				return -1;
			}
			if (++c->line_len > CH_MAX_SIZE_LINE)
				return -1;
			in++;
			break;
		}
		case CH_EXT:
			if (ch == '\r')
				c->state = CH_SIZE_LF;
			else if (!is_field_char(ch))
				return -1;
			if (++c->line_len > CH_MAX_SIZE_LINE)
				return -1;
			in++;
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return -1;
			in++;
			c->line_len = 0;
			c->state = c->remaining ? CH_DATA : CH_TRAILER_START;
			break;
		case CH_DATA: {
			size_t n = len - in;
			if (n > c->remaining)
				n = (size_t)c->remaining;
			if (out != in)
				memmove(data + out, data + in, n);
			out += n;
			in += n;
			c->remaining -= n;
			if (!c->remaining)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch != '\r')
				return -1;
			in++;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				return -1;
			in++;
			c->state = CH_SIZE_START;
			break;
		case CH_TRAILER_START:
			if (ch == '\r') {
				c->state = CH_FINAL_LF;
				in++;
				break;
			}
			if (!tchar[ch])
				return -1;
			c->state = CH_TRAILER;
			/* fall through */
		case CH_TRAILER:
			if (ch == '\r')
				c->state = CH_TRAILER_LF;
			else if (!is_field_char(ch))
				return -1;
			if (++c->line_len > CH_MAX_TRAILERS)
				return -1;
			in++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return -1;
			in++;
			c->state = CH_TRAILER_START;
			break;
		case CH_FINAL_LF:
			if (ch != '\n')
				return -1;
			in++;
			c->done = true;
			break;
		default:
			return -1;
		}
	}
	*consumed = in;
	return (ssize_t)out;
}
