/*
 * buf: a growable byte buffer, the project's one way to build output.
 *
 * A buf owns its memory (NULL until the first append). Appends grow the
 * buffer geometrically; on allocation failure the buffer is marked failed,
 * further appends are ignored, and buf_failed() reports it, so callers can
 * check once at the end instead of after every append. data is always
 * NUL-terminated when len > 0 (the terminator is not counted in len).
 */
#ifndef PISTON_BUF_H
#define PISTON_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool failed;
} buf;

#define BUF_INIT {0}

void buf_free(buf *b);
void buf_reset(buf *b);                       /* len = 0, keeps memory */
bool buf_reserve(buf *b, size_t extra);       /* room for extra more bytes */
void buf_append(buf *b, const void *p, size_t n);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);
void buf_consume(buf *b, size_t n);           /* drop n bytes from the front */
char *buf_steal(buf *b);                      /* hand over data, leave b empty */
static inline bool buf_failed(const buf *b) { return b->failed; }

#endif
