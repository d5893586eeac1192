/*
 * resp: the RESP2 wire format of Redis, as far as piston's Redis client
 * needs it: encoding commands, and a bounded parser of replies.
 *
 * Promises:
 * - resp_parse never reads outside data[0..len), never allocates, and
 *   needs no NUL terminator. It returns the bytes one whole reply used,
 *   RESP_INCOMPLETE when more bytes are needed, or RESP_BAD for anything
 *   malformed or beyond the bounds below -- including an incomplete reply
 *   that has already passed a bound, so a hostile server cannot make the
 *   caller buffer without end.
 * - Bounds: a status/error/integer line <= RESP_LINE_MAX bytes; a bulk
 *   string <= RESP_BULK_MAX bytes; an array <= RESP_ARRAY_MAX elements,
 *   each a scalar (nested arrays are refused: no reply we ask for has them).
 * - Strings in a parsed reply point into data; they are not NUL-terminated.
 */
#ifndef PISTON_RESP_H
#define PISTON_RESP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define RESP_LINE_MAX 4096
#define RESP_BULK_MAX (64 * 1024)
#define RESP_ARRAY_MAX 16

#define RESP_INCOMPLETE ((ssize_t)0)
#define RESP_BAD ((ssize_t)-1)

typedef enum {
	RESP_STATUS,   /* +OK */
	RESP_ERROR,    /* -ERR message */
	RESP_INT,      /* :42 */
	RESP_BULK,     /* $3\r\nabc */
	RESP_NIL,      /* $-1 or *-1 */
	RESP_ARRAY,    /* *2 ... (of scalars) */
} resp_type;

typedef struct resp_scalar {
	resp_type type;        /* an element: never RESP_ARRAY */
	int64_t integer;       /* RESP_INT */
	const char *str;       /* RESP_STATUS, RESP_ERROR, RESP_BULK */
	size_t len;
} resp_scalar;

typedef struct resp_reply {
	resp_scalar v;         /* the reply itself when it is not an array (type RESP_ARRAY otherwise) */
	resp_type type;
	size_t n;              /* RESP_ARRAY: element count */
	resp_scalar elem[RESP_ARRAY_MAX];
} resp_reply;

ssize_t resp_parse(const char *data, size_t len, resp_reply *out);

/* Append a command as a RESP array of bulk strings. */
void resp_command(buf *out, size_t argc, const char *const *argv, const size_t *lens);

#endif
