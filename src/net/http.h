/*
 * http: the HTTP/1.1 server on the event loop (non-blocking sockets, one
 * thread), with a zero-copy request parser in the style of picohttpparser.
 *
 * Promises:
 * - Request line, case-insensitive headers, Content-Length and chunked
 *   bodies, keep-alive, HTTP/1.0, HEAD, Expect: 100-continue; pipelined
 *   requests are answered strictly in order (while a handler's response is
 *   pending, later requests wait in the input buffer).
 * - Limits: header block > 16 KiB -> 431; body > cfg.max_body_size -> 413;
 *   malformed -> 400; idle/slow client -> 408 and close; unknown route ->
 *   404 {"message":"Not Found"}; known path, wrong method -> 405. Every error
 *   is a JSON {"message"} body.
 * - An http_request and everything it points to is valid only during the
 *   handler call; a handler copies what it keeps.
 * - A handler may answer later (async): it keeps the http_conn and must call
 *   one http_respond* exactly once, unless the on_close callback it set has
 *   fired (the client went away; the conn is gone, forget it).
 */
#ifndef PISTON_HTTP_H
#define PISTON_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "loop.h"

#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_HEADER_BYTES (16 * 1024)

typedef struct http_header {
	const char *name, *value;
	size_t name_len, value_len;
} http_header;

typedef struct http_request {
	const char *method, *path, *query;  /* path excludes the query; query may be NULL */
	size_t method_len, path_len, query_len;
	int minor_version;                  /* HTTP/1.x */
	http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	const char *body;                   /* de-chunked, contiguous */
	size_t body_len;
	bool keep_alive;
	const char *peer;                   /* client address text, e.g. "127.0.0.1" */
} http_request;

typedef struct http_server http_server;
typedef struct http_conn http_conn;
typedef void http_handler(http_conn *c, const http_request *req, void *ctx);

http_server *http_server_new(loop *l, const char *bind_address, char *err, size_t errlen);
void http_server_free(http_server *s);
/* Exact-path route; a path ending in '*' matches that prefix followed by at
 * least one byte (routes are tried in registration order). A path
 * registered for other methods answers 405. */
int http_route(http_server *s, const char *method, const char *path, http_handler *h, void *ctx);
/* Stop accepting new connections (graceful shutdown); open ones finish. */
void http_server_stop_accepting(http_server *s);
size_t http_server_connections(const http_server *s);
/* Connections with a request arriving or in a handler, or a response not
 * fully written (graceful shutdown waits for them; the idle timeout bounds
 * a request that never completes). */
size_t http_server_busy(const http_server *s);
/* The bound port (useful with port 0). */
int http_server_port(const http_server *s);

/* Header value by case-insensitive name, or NULL. */
const char *http_header_get(const http_request *req, const char *name, size_t *len);

/* Respond. extra_headers: NULL or preformatted "Name: value\r\n" lines. */
void http_respond_ex(http_conn *c, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len);
void http_respond_json(http_conn *c, int status, const char *json, size_t len);
void http_respond_error(http_conn *c, int status, const char *message);
/* Called once if the client disconnects before the response was sent. */
void http_conn_on_close(http_conn *c, void (*fn)(void *arg), void *arg);
/* Take the socket over (WebSocket upgrade, proxy tunnel): the server forgets
 * the connection; *fd is the non-blocking socket and `rest` receives bytes
 * already read beyond the current request. */
void http_conn_detach(http_conn *c, int *fd, buf *rest);
const char *http_status_text(int status);

#endif
