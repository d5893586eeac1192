/*
 * proxy: `piston proxy`, the public face in front of many engines (SPEC
 * section 5). Same event loop and HTTP server as the engine.
 *
 * Promises:
 * - POST /api/v2/execute goes to a healthy engine that has the language
 *   (language/version read from the body), the one with the fewest requests
 *   in flight; an engine that refuses the connection is marked down and the
 *   request goes to the next (only requests that never reached an engine are
 *   retried); none left: 503; an engine that fails with the request in
 *   flight: 502; no answer within the upstream timeout: 504. Every error is
 *   JSON {"message"}.
 * - GET /api/v2/runtimes answers the union of the healthy engines' runtimes,
 *   refreshed by a background health check (GET /api/v2/runtimes on each
 *   engine every health interval, on the loop).
 * - GET /api/v2/connect (WebSocket): the proxy answers the handshake, reads
 *   the client's first message (the init, fragments reassembled) to learn
 *   the language, opens the WebSocket of the least-loaded healthy engine that
 *   has it, replays the client's bytes unchanged and from then on moves bytes
 *   both ways untouched. No init within 1 s: any engine (its own init
 *   timeout applies). No engine: an error message and close 1013.
 * - /api/v2/packages (GET/POST/DELETE) and /metrics need an admin key;
 *   POST/DELETE go to every healthy engine.
 * - Keys (keys.h) from the Authorization header ("Bearer KEY" or the bare
 *   key), or without one from Judge0's X-Auth-Token header: missing or unknown -> 401 unless anonymous use is enabled (then a
 *   bucket per client address); user key on admin routes -> 403; over the
 *   rate -> 429 with Retry-After; RateLimit-Limit/-Remaining/-Reset on every
 *   admitted response. SIGHUP reloads the keys file (a bad file keeps the
 *   old keys and logs why); buckets survive reloads.
 * - Per-request limits in execute bodies are clamped to the configured
 *   maximums (the body is rewritten only when a value is over); request
 *   bodies are capped; CORS headers on every response, OPTIONS preflight
 *   answered; X-Forwarded-For added (appended to the client's own).
 * - The Authorization and X-Auth-Token headers are never passed on to the
 *   engines.
 * - The Judge0 API (SPEC section 6) through the proxy: keys, per-run cost,
 *   limit clamping and token -> engine routing as proxy_int.h says above
 *   proxy_j0_register (proxy_judge0.c).
 * - GET /healthz (no key): 200 while serving with an engine up; 503 while
 *   draining after SIGTERM (for --drain-delay, then open requests finish)
 *   or with no engine up. Engines are checked through their /healthz (503
 *   draining: out of rotation at once; 404: judged by their runtimes); an
 *   execute or WebSocket an engine refuses with X-Piston-Draining is sent
 *   to another engine (it never ran).
 * - --upstream dns://NAME:PORT: engines are NAME's A/AAAA records, followed
 *   as the DNS changes (proxy_dns.c); removed engines finish their
 *   in-flight requests.
 */
#ifndef PISTON_PROXY_H
#define PISTON_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"

/* Maximums for the per-request limits; 0 (or -1 for memory) = no clamp. */
typedef struct proxy_limits {
	uint64_t run_timeout, compile_timeout, run_cpu_time, compile_cpu_time;
	int64_t run_memory_limit, compile_memory_limit;
	uint32_t max_tests;        /* most `tests` per request (0: no limit); beyond: 400 */
} proxy_limits;

/* Rewrite an execute body so no limit exceeds lim. Returns 1 and fills out
 * when something was clamped, 0 when the body can go as it is (including
 * when it is not a JSON object: the engine reports that), -1 out of memory.
 * lang/version (size n) receive the body's language and version strings
 * ("" when absent or not strings). */
int proxy_clamp_body(const char *body, size_t len, const proxy_limits *lim, buf *out,
                     char *lang, char *version, size_t n);
/* The same, and each test's own limits (tests[i].run_timeout, ...) clamped
 * too; *ntests (may be NULL) receives the length of the body's `tests`
 * array (0 without one): the request's run stages, what it is charged. */
int proxy_clamp_execute(const char *body, size_t len, const proxy_limits *lim, buf *out,
                        char *lang, char *version, size_t n, size_t *ntests);

/* What proxy_j0_clamp learns of a Judge0 body. */
typedef struct proxy_j0_info {
	uint32_t cost;             /* rate-limit tokens: number_of_runs, summed over a batch;
	                              1 when the body is not what the engine takes */
	long language_ids[20];     /* each submission's language_id (integers only) */
	size_t nlanguages;
} proxy_j0_info;

/* Judge0 bodies (proxy_judge0.c): POST /submissions (batch false) or
 * /submissions/batch; cpu_time_limit, wall_time_limit and memory_limit above
 * lim (converted to seconds and KB) rewritten to it. Returns 1 and fills out
 * when something was clamped, 0 when the body can go as it is, -1 out of
 * memory; info is filled either way. */
int proxy_j0_clamp(const char *body, size_t len, const proxy_limits *lim, bool batch, buf *out,
                   proxy_j0_info *info);
/* Is s (n bytes) a UUID (8-4-4-4-12 hex)? Its 16 bytes into out. */
bool proxy_j0_uuid(const char *s, size_t n, uint8_t out[16]);

#endif
