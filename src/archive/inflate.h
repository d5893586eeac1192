/*
 * inflate: streaming DEFLATE (RFC 1951) and gzip (RFC 1952) decoder.
 *
 * Push model, so it sits between a network reader and the tar reader:
 *   inflate_stream *z = inflate_init(INFLATE_GZIP, max_out, tar_sink, tr);
 *   while (bytes arrive) if (inflate_feed(z, p, n) < 0) fail(inflate_error(z));
 *   if (inflate_finish(z) < 0) fail(inflate_error(z));
 *   inflate_free(z);
 * Input may be split anywhere (even one byte per call). Decoded bytes go to
 * the sink in chunks of up to ~256 KiB; the decoder keeps only the 32 KiB
 * window, never the whole stream. Memory: one allocation of ~300 KiB.
 *
 * gzip: header flags FEXTRA/FNAME/FCOMMENT/FHCRC are parsed (and the header
 * CRC checked); CRC32 and ISIZE are checked at each trailer; concatenated
 * members are decoded in sequence; any other bytes after a member (trailing
 * garbage, including zero padding) are an error.
 *
 * Every malformed stream is a clean error (never a crash or hang): the
 * stream is then dead and each later call returns -1 with the same
 * message. max_output (0 = unlimited) caps the total decoded bytes, so a
 * gzip bomb stops with "output exceeds the size limit".
 */
#ifndef PISTON_INFLATE_H
#define PISTON_INFLATE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { INFLATE_RAW, INFLATE_GZIP } inflate_format;

/* Receives decoded bytes; returns 0 to continue, nonzero to abort (the
 * feed then returns -1 and inflate_error() says "output consumer failed";
 * the caller knows its own reason). */
typedef int (*inflate_sink)(void *ctx, const void *data, size_t len);

typedef struct inflate_stream inflate_stream;

/* NULL if out of memory. */
inflate_stream *inflate_init(inflate_format format, uint64_t max_output, inflate_sink sink, void *ctx);
void inflate_free(inflate_stream *z);

/* Decodes as much of the input as possible and passes complete output on.
 * 0 = fine (more input may follow), -1 = error (see inflate_error). */
int inflate_feed(inflate_stream *z, const void *data, size_t len);

/* The input has ended: flushes the rest of the output. 0 if the stream is
 * complete (raw: final block done; gzip: at least one member and its
 * trailer, nothing partial after it); -1 if truncated or otherwise bad. */
int inflate_finish(inflate_stream *z);

/* The error message ("invalid distance too far back", "gzip CRC32
 * mismatch", "truncated stream", ...); "" while there is no error. */
const char *inflate_error(const inflate_stream *z);

/* Total decoded bytes so far (all gzip members). */
uint64_t inflate_total_out(const inflate_stream *z);

#endif
