/*
 * proxy_int: what proxy.c (routes, forwarding, health checks) and
 * proxy_ws.c (the WebSocket tunnel) share. Internal to the proxy.
 */
#ifndef PISTON_PROXY_INT_H
#define PISTON_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "proxy.h"
#include "upstream.h"

#define PROXY_MAX_UPSTREAMS 64

typedef struct proxy_opts {
	char bind[256];
	char keys_path[4096];
	char *upstreams[PROXY_MAX_UPSTREAMS];
	size_t nupstreams;
	bool anonymous;
	uint32_t anon_rate, anon_burst;
	proxy_limits max;
	uint64_t max_body_size;
	uint64_t health_interval_ms;
	uint64_t upstream_timeout_ms;
	log_level level;
} proxy_opts;

typedef struct engine_up {
	upstream u;
	json_doc *runtimes;            /* last good /api/v2/runtimes answer */
	buf runtimes_raw;
	up_call *check;                /* health check in progress */
	struct proxy *p;
} engine_up;

typedef struct tunnel tunnel;

typedef struct proxy {
	loop *l;
	http_server *http;
	proxy_opts o;
	engine_up ups[PROXY_MAX_UPSTREAMS];
	size_t nups;
	size_t rr;                     /* round-robin start among equals */
	keys_set *keys;
	addr_limiter *anon;
	buf runtimes_json;             /* union, rendered when a snapshot changes */
	loop_timer *health_timer;
	tunnel *tunnels;
	size_t ntunnels;
	bool stopping;
	uint64_t stop_deadline_ms;     /* shutdown: stop waiting for open connections */
	/* counters for /metrics */
	uint64_t responses[6];         /* by status class 1xx..5xx (index 1..5) */
	uint64_t unauthorized, forbidden, rate_limited, retried, no_engine, reloads, reload_failures;
	uint64_t added_ns_total, added_count;   /* execute: proxy time excluding the engine */
} proxy;

typedef struct admission {
	char rl[256];                  /* RateLimit-* (+ Retry-After) header lines */
	uint32_t rate;                 /* the bucket's refill rate (no pointer into the
	                                  keys set: SIGHUP may free it meanwhile) */
} admission;

/* CORS lines added to every response. */
extern const char proxy_cors_headers[];

/* Checks the key, role and rate; true when the request may go on, else the
 * response (401/403/429) has been sent. */
bool proxy_admit(proxy *p, http_conn *c, const http_request *req, bool need_admin, admission *a);
/* The same for a request that costs `cost` tokens (an execute with tests:
 * one per test run; keys.h tb_take_n). */
bool proxy_admit_n(proxy *p, http_conn *c, const http_request *req, bool need_admin, uint32_t cost,
                   admission *a);
/* A JSON {"message"} response with the CORS and rl header lines. */
void proxy_respond_msg(proxy *p, http_conn *c, int status, const char *rl, const char *msg);
/* Does engine e list language (or an alias) in a version matching selector? */
bool proxy_engine_has(const engine_up *e, const char *lang, const char *selector);
/* Has any engine, up or down, listed language in a matching version? */
bool proxy_language_known(const proxy *p, const char *lang, const char *selector);
/* Take an engine out of rotation until its next good health check. */
void proxy_mark_down(proxy *p, engine_up *e, const char *why);
/* X-Forwarded-For value: the client's own list (if sane), then its address. */
void proxy_set_xff(char *out, size_t n, const http_request *req);

/* proxy_ws.c: the GET /api/v2/connect handler, and closing a tunnel. */
void proxy_ws_connect(http_conn *c, const http_request *req, void *ctx);
void proxy_tunnel_free(tunnel *t);

#endif
