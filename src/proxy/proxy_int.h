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
#include "redis.h"
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
	uint64_t drain_delay_ms;       /* SIGTERM: keep serving (healthz 503) this long */
	char dns_server[128];          /* "" = the first nameserver of /etc/resolv.conf */
	log_level level;
	char redis[1024];              /* --redis URL, "" for none */
	uint64_t redis_timeout_ms;
} proxy_opts;

/* An admission's Redis verdict, handed to the handler it re-runs. */
typedef struct admit_redo {
	const http_conn *c;
	redis_verdict v;
} admit_redo;

typedef struct engine_up {
	upstream u;
	json_doc *runtimes;            /* last good /api/v2/runtimes answer */
	buf runtimes_raw;
	up_call *check;                /* health check in progress */
	struct proxy *p;
	uint8_t check_stage;           /* 0: GET /healthz, 1: GET /api/v2/runtimes */
	bool no_healthz;               /* an older engine: its runtimes are its health */
	bool draining;                 /* its /healthz said 503 draining */
	size_t dns_source;             /* 0: --upstream http://; else 1 + the dns:// watch */
	bool removed;                  /* gone from DNS: no new requests, in-flight finish */
	bool vacant;                   /* a free slot (a removed engine, reaped) */
} engine_up;

typedef struct dns_watch dns_watch;

typedef struct tunnel tunnel;

typedef struct proxy_j0 proxy_j0;

typedef struct proxy {
	loop *l;
	http_server *http;
	proxy_opts o;
	engine_up ups[PROXY_MAX_UPSTREAMS];
	size_t nups;
	size_t rr;                     /* round-robin start among equals */
	keys_set *keys;
	addr_limiter *anon;
	redis_limiter *redis;          /* --redis: shared buckets, else NULL */
	const admit_redo *redo;        /* set while a deferred handler re-runs */
	buf runtimes_json;             /* union, rendered when a snapshot changes */
	loop_timer *health_timer;
	loop_timer *drain_timer;       /* SIGTERM with --drain-delay */
	tunnel *tunnels;
	size_t ntunnels;
	dns_watch *dns[PROXY_MAX_UPSTREAMS];   /* --upstream dns://NAME:PORT (proxy_dns.c) */
	size_t ndns;
	proxy_j0 *j0;                  /* the Judge0 routes' token memory and counters */
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
 * response (401/403/429) has been sent -- or, with --redis, the request
 * waits for Redis's verdict: then handler `self` runs again later with a
 * copy of req (and this call's admission then has the verdict). */
bool proxy_admit(proxy *p, http_conn *c, const http_request *req, bool need_admin, admission *a,
                 http_handler *self);
/* The same for a request that costs `cost` tokens (an execute with tests:
 * one per test run; keys.h tb_take_n), locally or in Redis. */
bool proxy_admit_n(proxy *p, http_conn *c, const http_request *req, bool need_admin, uint32_t cost,
                   admission *a, http_handler *self);

/* proxy_redis.c: park req until Redis decides on bucket key (false:
 * Redis cannot be asked now; decide locally). */
bool proxy_redis_defer(proxy *p, http_conn *c, const http_request *req, http_handler *self, const char *key,
                       uint32_t rate, uint32_t burst, uint32_t cost);
/* The Redis lines of /metrics. */
void proxy_redis_metrics(const proxy *p, buf *b);
/* A response with the CORS and rl header lines (and the status counted). */
void proxy_respond(proxy *p, http_conn *c, int status, const char *ctype, const char *rl, const void *body,
                   size_t len);
/* The OPTIONS preflight answer. */
void proxy_on_options(http_conn *c, const http_request *req, void *ctx);
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

/* Start a health check of e now (unless one is running). */
void proxy_health_check(engine_up *e);

/* proxy_dns.c: engines discovered through DNS. proxy_dns_add parses
 * "dns://NAME:PORT" and starts resolving on the loop (-1 and err: bad URL
 * or no nameserver); proxy_dns_reap frees the slots of removed engines with
 * nothing in flight; proxy_dns_metrics appends its counters. */
int proxy_dns_add(proxy *p, const char *url, char *err, size_t errlen);
void proxy_dns_reap(proxy *p);
void proxy_dns_metrics(const proxy *p, buf *b);
void proxy_dns_free_all(proxy *p);

/* proxy_judge0.c: the Judge0 CE 1.13 paths (SPEC section 6) through the proxy.
 * - Routes: POST /submissions, POST and GET /submissions/batch, GET and
 *   DELETE /submissions/{token}, GET /submissions (the list: every
 *   engine's, merged), GET /languages[/{id}], /statuses, /about,
 *   /config_info, /system_info, /workers, and POST /authenticate (200 when
 *   the key is good: Judge0's key check). Keys as everywhere (proxy_admit_n;
 *   Authorization or X-Auth-Token); the key never reaches an engine.
 * - POSTs go to the least-loaded healthy engine that has every submission's
 *   language (language_id as judge0_language_of maps it, against the
 *   engine's runtimes); no engine ever listed them: any healthy engine (its
 *   422 names the id); only engines that are down: 503. A refused connection or a draining engine: the next engine.
 * - Cost: a submission costs number_of_runs tokens (1 unless an integer in
 *   1..20), a batch the sum over its submissions (a batch the engine refuses
 *   whole, > 20: one); every other request one, like any proxy request: a
 *   poll is a request, and a token the proxy does not know is asked of every
 *   engine, so a free GET would be an unmetered amplifier.
 * - Limits: cpu_time_limit, wall_time_limit (seconds) and memory_limit (KB)
 *   above --max-run-cpu-time, --max-run-timeout, --max-run-memory-limit are
 *   rewritten to the maximum, in each submission of a batch too (absent
 *   ones: the engine's defaults, which its own maxima bound), as execute
 *   bodies are clamped; body size is the server's --max-body-size.
 * - Tokens (the engines' UUIDs, passed on unchanged) route back to the
 *   engine that issued them: the proxy remembers token -> engine from the
 *   engines' 2xx answers to POSTs (a direct-mapped table of 65536 slots,
 *   1.5 MiB once used: a collision forgets the older token). A token not
 *   remembered (evicted, this proxy restarted, another replica took the
 *   POST) is asked of every healthy engine at once, for at most 5 s; the
 *   first 2xx answers (and is remembered), else 404 when every engine said
 *   404, else 503 (some engine could not be asked). A string that is not a
 *   UUID is 404 at once (no engine issues one).
 * - GET /submissions/batch?tokens=: one call per engine with the tokens
 *   remembered there plus those remembered nowhere; the answers merged in
 *   the client's order (null where no engine has it).
 * - GET /submissions: the client's page, per_page, fields and
 *   base64_encoded are checked here with the engine's words (400s,
 *   judge0_list_query_parse), and page * per_page is at most 1000 (else
 *   400). Every healthy engine is asked at once (within 5 s) for its newest
 *   page * per_page entries, in pages of at most 100 asked one after the
 *   other (an entry a page repeats is dropped), with created_at and token
 *   asked even when fields leaves them out (dropped again from the
 *   answer). The answer is the k-way merge by created_at, newest first
 *   (ties: the engine listed first), and Judge0's meta over the sum of the
 *   engines' total_count; each listed token is remembered. An engine down,
 *   failing or answering an error or 403 is left out (a WARN line for
 *   those asked) and counted in X-Piston-Unlisted-Engines; an engine's 400
 *   (a text it cannot show without base64_encoded) is the answer; 403 when
 *   every engine said 403; 503 when none could list.
 * - Errors are Judge0's {"error","message"}; 401/403/429 are the proxy's.
 * - All of it on the loop: engine calls are upstream.c's. */
int proxy_j0_register(proxy *p, http_server *s);
void proxy_j0_metrics(const proxy *p, buf *b);
void proxy_j0_free(proxy *p);

/* proxy_ws.c: the GET /api/v2/connect handler, and closing a tunnel. */
void proxy_ws_connect(http_conn *c, const http_request *req, void *ctx);
void proxy_tunnel_free(tunnel *t);

#endif
