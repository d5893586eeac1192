/*
 * upstream: the proxy's asynchronous HTTP/1.1 client to its engines, on the
 * event loop (non-blocking connect, one request per call, responses framed
 * by http_parse: Content-Length, chunked, or until close).
 *
 * Promises:
 * - Keep-alive connections are reused from a per-upstream idle pool. An
 *   idle connection stays watched: when the engine closes it, it leaves the
 *   pool at once; it is also retired after UP_IDLE_MAX_MS (below the
 *   engine's idle timeout), so a request is not sent on a connection the
 *   engine is about to drop, and it is peeked at before reuse (a close not
 *   yet seen by the loop is caught there).
 * - A call ends with exactly one callback, or none after up_call_cancel.
 *   UP_ERR_CONNECT means the request never reached the engine (connect
 *   refused or failed): the caller may send it elsewhere. UP_ERR_BROKEN
 *   means the engine hung up with the request in flight; UP_ERR_TIMEOUT that
 *   it did not answer in time; UP_ERR_PROTOCOL that the answer was
 *   malformed or too large. Only UP_ERR_CONNECT is safe to retry.
 * - The response passed to the callback (status, content type, de-chunked
 *   body) is valid only during the callback.
 * - in_flight counts the calls running on each upstream (least-loaded
 *   routing reads it).
 */
#ifndef PISTON_UPSTREAM_H
#define PISTON_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "loop.h"

#define UP_IDLE_MAX_MS 4000
#define UP_POOL_MAX 128
#define UP_MAX_RESPONSE (64u * 1024 * 1024)

typedef struct upstream {
	char url[256];                 /* as configured, e.g. http://127.0.0.1:2000 */
	char host_header[272];         /* host[:port] for the Host header */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool healthy;
	uint32_t in_flight;
	uint64_t requests, failures;   /* counters for /metrics */
	int idle[UP_POOL_MAX];         /* pooled keep-alive connections (fds) */
	uint64_t idle_since[UP_POOL_MAX];
	size_t nidle;
	loop *l;
	char scratch[16384];           /* responses are read here, then copied: a
	                                  call's buffer stays the size of its answer */
} upstream;

/* Parse "http://HOST[:PORT][/]" (HOST: IPv4, [IPv6], or a name resolved
 * now). Returns 0, or -1 with a reason in err. */
int upstream_init(upstream *u, loop *l, const char *url, char *err, size_t errlen);
/* Close every pooled connection. */
void upstream_close_idle(upstream *u);
/* Drop pooled connections idle for longer than UP_IDLE_MAX_MS. */
void upstream_expire_idle(upstream *u, uint64_t now_ms);

typedef enum { UP_OK, UP_ERR_CONNECT, UP_ERR_BROKEN, UP_ERR_TIMEOUT, UP_ERR_PROTOCOL } up_result;

typedef struct up_response {
	int status;
	const char *content_type;      /* NULL if absent */
	size_t content_type_len;
	const char *body;
	size_t body_len;
	bool draining;                 /* X-Piston-Draining: the engine drains and did
	                                  not run the request (safe to send elsewhere) */
} up_response;

typedef void up_done_fn(void *arg, up_result r, const up_response *res);
typedef struct up_call up_call;

/* Send request (a complete HTTP/1.1 request: head and body) to u; the call
 * takes the buffer over (request is left empty either way). timeout_ms
 * bounds the whole call. Returns NULL only when out of memory. */
up_call *up_call_start(upstream *u, buf *request, bool head_request,
                       uint64_t timeout_ms, up_done_fn *fn, void *arg);
/* Abandon a call: no callback; its connection is closed, not pooled. */
void up_call_cancel(up_call *c);
const char *up_result_text(up_result r);

/* Open a new non-blocking connection to u (connect may be in progress).
 * Returns the fd or -1 (errno set) if it failed at once. */
int upstream_connect(const upstream *u);

#endif
