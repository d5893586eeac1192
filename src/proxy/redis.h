/*
 * redis: the proxy's token buckets kept in Redis (SPEC section 5,
 * `--redis`), so any number of proxy replicas enforce one limit per key.
 *
 * Promises:
 * - One connection, non-blocking on the event loop, pipelined: admissions
 *   are sent as they come and Redis answers them in order.
 * - One round trip per admission: a Lua script (EVALSHA; EVAL when Redis
 *   answers NOSCRIPT) refills the bucket by the time elapsed on Redis's
 *   own clock (TIME inside the script: every replica shares one clock, so
 *   skew between proxy hosts cannot mint tokens), takes a token or not, and
 *   sets the key to expire once the bucket would be full again (a missing
 *   key is a full bucket, so Redis holds only the keys in use).
 * - On connect: AUTH (when a password is set), SELECT (when DB > 0),
 *   SCRIPT LOAD, pipelined; redis_take refuses (returns false) until the
 *   script is loaded.
 * - Every admission ends with exactly one callback, never from inside
 *   redis_take, unless cancelled first: ok with Redis's verdict, or not ok
 *   (no answer within the timeout, connection lost, error reply); then the
 *   caller decides with its local bucket. A connection whose oldest
 *   request waits beyond REDIS_DEAD_MS is dropped.
 * - Redis unreachable: reconnects with backoff (100 ms doubling to 5 s);
 *   one WARN per outage, one INFO when it is back (when an admission is
 *   answered again: a handshake alone does not end an outage); admissions that run into
 *   the timeout WARN at most once a minute.
 * - Bounded: at most REDIS_MAX_PENDING admissions in flight (beyond:
 *   false), replies parsed by resp.c's bounded parser (a malformed reply
 *   drops the connection).
 */
#ifndef PISTON_REDIS_H
#define PISTON_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define REDIS_MAX_PENDING 4096
#define REDIS_KEY_MAX 128
#define REDIS_DEAD_MS 2000

typedef struct redis_url {
	char host[256];
	char port[8];
	char user[128];            /* empty: AUTH with the password only */
	char password[512];        /* empty: no AUTH */
	unsigned db;
} redis_url;

/* "redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]" (HOST: a name, IPv4 or
 * [IPv6]; PORT default 6379; DB 0..1000000). Returns 0, or -1 with the
 * reason in err. Percent-escapes in USER and PASSWORD are decoded. */
int redis_url_parse(const char *text, redis_url *u, char *err, size_t errlen);

typedef struct redis_limiter redis_limiter;

typedef struct redis_verdict {
	bool ok;                   /* false: Redis gave no verdict; decide locally */
	bool allowed;
	int64_t milli;             /* milli-tokens left after the take (negative: debt) */
} redis_verdict;

typedef void redis_take_fn(void *arg, const redis_verdict *v);

typedef struct redis_stats {
	uint64_t admissions;       /* answered by Redis */
	uint64_t fallbacks;        /* decided locally: Redis down, slow or full */
	uint64_t timeouts;
	uint64_t reconnects;
	bool up;
} redis_stats;

/* Starts connecting at once. timeout_ms bounds each admission. */
redis_limiter *redis_limiter_new(loop *l, const redis_url *u, uint64_t timeout_ms);
/* Cancels every admission in flight (no callbacks) and closes. */
void redis_limiter_free(redis_limiter *r);

/* Take cost tokens (tb_take_n's rule) from bucket key (rate tokens/s, burst tokens; key at
 * most REDIS_KEY_MAX bytes). false when Redis cannot be asked now (not
 * connected, too many in flight): decide locally; this counts as a
 * fallback. */
bool redis_take(redis_limiter *r, const char *key, uint32_t rate, uint32_t burst, uint32_t cost, redis_take_fn *fn,
                void *arg);
/* Forget every admission in flight for arg: no callback will run for it. */
void redis_take_cancel(redis_limiter *r, void *arg);
/* Counts an admission decided locally without asking Redis. */
void redis_note_fallback(redis_limiter *r);

void redis_get_stats(const redis_limiter *r, redis_stats *out);

/* The Lua script (exposed for tests). */
extern const char redis_take_script[];

#endif
