/*
 * http_parse: zero-copy, bounded, incremental HTTP/1.x message parsing,
 * shared by the server (requests), the clients (responses) and the proxy.
 * Pure functions: no allocation, no I/O.
 *
 * The head parsers look at a whole buffer each time (the caller re-calls
 * them as bytes arrive, as picohttpparser does) and return:
 *   > 0  bytes consumed by the complete head (request line/status line and
 *        headers, through the blank line),
 *   HTTP_PARSE_INCOMPLETE  need more bytes,
 *   HTTP_PARSE_ERROR       malformed,
 *   HTTP_PARSE_TOO_LARGE   the head exceeds max_head bytes (431 for requests).
 * Pointers in the result point into the caller's buffer.
 */
#ifndef PISTON_HTTP_PARSE_H
#define PISTON_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http.h"   /* http_header, http_request, HTTP_MAX_HEADERS */

#define HTTP_PARSE_INCOMPLETE (-1)
#define HTTP_PARSE_ERROR (-2)
#define HTTP_PARSE_TOO_LARGE (-3)

/* Fills method, path, query, minor_version, headers (body left empty). */
ssize_t http_parse_request(const char *data, size_t len, size_t max_head, http_request *req);

typedef struct http_response_head {
	int minor_version;
	int status;
	const char *reason;
	size_t reason_len;
	http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
} http_response_head;

ssize_t http_parse_response(const char *data, size_t len, size_t max_head, http_response_head *res);

/* Case-insensitive header lookup in any header array. */
const http_header *http_find_header(const http_header *h, size_t n, const char *name);
/* True if a comma-separated header value contains token (case-insensitive). */
bool http_header_has_token(const char *value, size_t len, const char *token);

/* How the body is delimited, from the head's headers. */
typedef enum { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED, HTTP_BODY_UNTIL_CLOSE } http_body_kind;
/* Returns -1 for conflicting or invalid Content-Length / Transfer-Encoding. */
int http_body_framing(const http_header *h, size_t n, bool is_response, int status,
                      bool head_request, http_body_kind *kind, uint64_t *length);

/*
 * Incremental chunked decoder. Decodes in place: feed it a buffer, it moves
 * the payload bytes to the front of that same buffer and reports how many
 * input bytes it consumed and how many payload bytes it produced. Chunk
 * extensions are skipped; trailers are read and ignored.
 */
typedef struct http_chunked {
	int state;
	uint64_t remaining;     /* bytes left in the current chunk */
	size_t line_len;        /* guard against endless size/extension/trailer lines */
	bool done;              /* the terminating chunk and trailers were read */
} http_chunked;

/* Returns payload bytes written to the front of data, or -1 on malformed input.
 * *consumed receives the input bytes used (stops after the final CRLF). */
ssize_t http_chunked_decode(http_chunked *c, char *data, size_t len, size_t *consumed);

#endif
