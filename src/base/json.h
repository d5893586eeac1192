/*
 * json: a strict RFC 8259 reader into a compact read-only tree, and a writer.
 *
 * Reader promises:
 * - Validates everything: UTF-8 (no overlongs, no surrogates, <= U+10FFFF),
 *   escapes, \u surrogate pairs (a lone surrogate is an error), number
 *   grammar, no trailing garbage, nesting depth <= JSON_MAX_DEPTH.
 * - The whole tree lives in one arena allocated by json_parse; json_free
 *   releases it. Strings are decoded (escapes resolved), NUL-terminated,
 *   and carry their byte length (they may contain U+0000).
 * - On error returns NULL and fills err with a short message and the byte
 *   offset; never reads past len.
 * - Duplicate object keys: the last one wins for json_get.
 *
 * Writer promises (jw_*): appends to a buf; strings are escaped per RFC 8259
 * and invalid UTF-8 bytes become U+FFFD; commas are inserted automatically.
 */
#ifndef PISTON_JSON_H
#define PISTON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define JSON_MAX_DEPTH 64

typedef enum {
	JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT
} json_type;

typedef struct json_value json_value;
struct json_value {          /* 48 bytes: fields ordered to avoid padding */
	json_type type;
	uint32_t len;            /* string, number text: bytes; array/object: number of children */
	const char *key;         /* member name when the parent is an object, else NULL */
	uint32_t key_len;
	bool is_integer;         /* number written without fraction/exponent and fits int64 */
	union {
		double number;
		const char *string;
		json_value *children; /* array/object: len contiguous values */
	} u;
	int64_t integer;         /* valid when is_integer */
	/* number: its JSON text exactly as sent ("3.50", "-1e3"), len bytes,
	 * NUL-terminated, in the arena; NULL for other types. Kept because some
	 * values (execute's args) must be passed on as the client wrote them. */
	const char *text;
};

typedef struct json_doc json_doc;  /* owns the arena; root via json_root */

typedef struct json_error {
	size_t offset;
	char message[96];
} json_error;

json_doc *json_parse(const char *text, size_t len, json_error *err);
const json_value *json_root(const json_doc *doc);
void json_free(json_doc *doc);

/* Object member by name (last duplicate wins), or NULL. NULL-safe on obj. */
const json_value *json_get(const json_value *obj, const char *key);
/* Array element i, or NULL. */
const json_value *json_at(const json_value *arr, size_t i);
/* "null", "a boolean", "a number", "a string", "an array", "an object": for messages. */
const char *json_type_name(json_type t);
static inline bool json_is(const json_value *v, json_type t) { return v && v->type == t; }

/* ---- writer ---- */
typedef struct jw {
	buf *out;
	uint64_t need_comma;     /* one bit per nesting level */
	int depth;
	bool after_key;
} jw;

void jw_init(jw *w, buf *out);
void jw_object_begin(jw *w);
void jw_object_end(jw *w);
void jw_array_begin(jw *w);
void jw_array_end(jw *w);
void jw_key(jw *w, const char *key);
void jw_key_n(jw *w, const char *key, size_t n);       /* key may hold NUL */
void jw_string(jw *w, const char *s);
void jw_string_n(jw *w, const char *s, size_t n);   /* invalid UTF-8 -> U+FFFD */
void jw_int(jw *w, int64_t v);
void jw_uint(jw *w, uint64_t v);
void jw_double(jw *w, double v);                     /* non-finite -> null */
void jw_bool(jw *w, bool v);
void jw_null(jw *w);
void jw_raw(jw *w, const char *json, size_t n);      /* pre-encoded value */
void jw_value(jw *w, const json_value *v);          /* a parsed tree, written back (numbers as sent) */
/* Append s as a JSON string literal (quotes included) to out. */
void json_escape(buf *out, const char *s, size_t n);

/* ---- UTF-8 (shared with the WebSocket codec) ---- */
/* Length (1..4) of the valid UTF-8 sequence at s (n >= 1 bytes available),
 * or minus the length of its maximal invalid subpart (WHATWG: that many
 * bytes become one U+FFFD). A sequence cut short by n counts as invalid. */
int json_utf8_seq(const unsigned char *s, size_t n);
typedef enum { UTF8_VALID, UTF8_TRUNCATED, UTF8_INVALID } utf8_status;
/* Checks s[0..n): UTF8_TRUNCATED means valid except that the last sequence
 * is incomplete (more bytes may complete it); *checked (may be NULL) is the
 * length of the longest prefix made of complete valid sequences. */
utf8_status json_utf8_check(const char *s, size_t n, size_t *checked);

#endif
