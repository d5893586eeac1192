/*
 * httpc: a small blocking HTTP/1.1 client for the command-line tools and
 * the package installer (never used on the engine's event loop thread).
 *
 * Promises:
 * - http:// and https:// (tls.c: CA bundle, host name check); IPv4, IPv6
 *   ("[::1]"), names through the resolver.
 * - One request per connection (Connection: close). Request bodies are sent
 *   with Content-Length. Responses: Content-Length, chunked (http_parse's
 *   decoder) or until-close bodies; a body cut short is an error.
 * - Redirects (301/302/303/307/308) are followed, at most HTTPC_MAX_REDIRECTS;
 *   303, and 301/302 after a POST, become a GET without a body; with
 *   no_redirects the 3xx is the final response.
 * - With options.address set, the host is not resolved: the one connection
 *   goes to exactly that address (the URL's host still names the Host header
 *   and the TLS server name). Callers that vetted an address use this.
 * - Bounded: connect timeout per address, an optional idle timeout (a server
 *   that sends nothing for that long), one total deadline for the whole request
 *   including redirects, response head <= 64 KiB.
 * - The body is streamed to on_body in pieces as it arrives (never held
 *   whole), for every final response whatever its status.
 * - Errors are one clear line in err: "cannot connect to HOST:PORT:
 *   Connection refused", "TLS handshake with HOST failed: certificate
 *   expired", "timed out", "connection closed after 10 of 20 bytes", ...
 */
#ifndef PISTON_HTTPC_H
#define PISTON_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define HTTPC_MAX_REDIRECTS 5
#define HTTPC_UNKNOWN_LENGTH UINT64_MAX

/* Receives body bytes; nonzero aborts the transfer (httpc_request then
 * fails with "aborted"). */
typedef int (*httpc_body_fn)(void *ctx, const void *data, size_t len);

typedef struct httpc_options {
	uint64_t connect_timeout_ms;   /* per address; 0: 10 s */
	uint64_t total_timeout_ms;     /* whole request; 0: 10 min */
	uint64_t idle_timeout_ms;      /* longest wait for any progress; 0: only the total deadline */
	const char *ca_file;           /* NULL/"": $PISTON_CA_FILE, else TLS_SYSTEM_CA_FILE */
	/* Called once with the final response's status and Content-Length
	 * (HTTPC_UNKNOWN_LENGTH if not given) before any body byte; returning
	 * nonzero skips the body: httpc_request returns 0 with *status set. */
	int (*on_head)(void *ctx, int status, uint64_t content_length);
	bool no_redirects;                   /* a 3xx is returned, never followed */
	const struct sockaddr *address;      /* non-NULL: connect only here, no resolution */
	unsigned address_len;
} httpc_options;

/* extra_headers: NULL or "Name: value\r\n" lines. body may be NULL (len 0).
 * Returns 0 with *status set when a response was received, -1 with err. */
int httpc_request(const char *method, const char *url, const char *extra_headers,
                  const void *body, size_t len, httpc_body_fn on_body, void *ctx,
                  int *status, char *err, size_t errlen);
/* The same with options (opts may be NULL). */
int httpc_request_ex(const char *method, const char *url, const char *extra_headers,
                     const void *body, size_t len, httpc_body_fn on_body, void *ctx,
                     const httpc_options *opts, int *status, char *err, size_t errlen);

/* A parsed http(s) URL (pointers into the caller's string are not kept). */
typedef struct httpc_url {
	bool https;
	char host[256];       /* without brackets for IPv6 */
	bool host_is_ipv6;
	unsigned port;
	char target[4096];    /* path and query, "/" at least; no fragment */
} httpc_url;

/* 0, or -1 if url is not an absolute http(s) URL we can use. */
int httpc_parse_url(const char *url, httpc_url *out);

#endif
