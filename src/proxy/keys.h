/*
 * keys: the proxy's API keys and rate limits (SPEC section 5).
 *
 * Keys file: one key a line, fields separated by spaces or tabs:
 *     SHA256HEX NAME ROLE RATE/s BURST
 * e.g. "9f86d08...0f00a08 alice user 10/s 20". SHA256HEX is the SHA-256 of
 * the key text (the key itself is never stored); NAME is [A-Za-z0-9._@-]{1,63};
 * ROLE is user or admin; RATE (1..1000000 requests per second) refills the
 * bucket, BURST (1..1000000) is its size. Blank lines and lines starting with
 * '#' are ignored. Any bad line rejects the whole file (with its line number),
 * so a reload never half-applies.
 *
 * Token buckets use integer arithmetic in milli-tokens over loop
 * milliseconds, so the outcome of a burst of requests is exact: a fresh
 * bucket admits BURST requests at once, then one more every 1000/RATE ms.
 */
#ifndef PISTON_KEYS_H
#define PISTON_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYS_NAME_MAX 63
#define KEYS_RATE_MAX 1000000u

typedef enum { KEY_ROLE_USER, KEY_ROLE_ADMIN } key_role;

typedef struct tbucket {
	uint64_t milli;          /* tokens * 1000 */
	uint64_t debt;           /* milli-tokens owed by a request dearer than the burst */
	uint64_t last_ms;        /* last refill */
	bool started;            /* a fresh bucket starts full */
} tbucket;

typedef struct tb_verdict {
	bool allowed;
	uint32_t limit;          /* RateLimit-Limit: the burst */
	uint32_t remaining;      /* RateLimit-Remaining: whole tokens left */
	uint32_t reset_s;        /* RateLimit-Reset: seconds until the bucket is full */
	uint32_t retry_after_s;  /* Retry-After (when refused): seconds until one token */
} tb_verdict;

/* Take one token at now_ms (refill first); fills v either way. */
void tb_take(tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms, tb_verdict *v);
/* Take n tokens (a request with n test runs). Admitted when the bucket holds
 * min(n, burst) and owes nothing; what it lacks of n becomes debt that the
 * refill pays before the bucket fills again. */
void tb_take_n(tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms, uint32_t n, tb_verdict *v);
/* The verdict for a bucket left with milli milli-tokens (negative: debt)
 * after a take of n (allowed) or a refusal: what tb_take_n reports, for
 * buckets kept elsewhere (redis.c). */
void tb_verdict_set(tb_verdict *v, bool allowed, int64_t milli, uint32_t n, uint32_t rate, uint32_t burst);
/* "RateLimit-Limit: ..\r\nRateLimit-Remaining: ..\r\nRateLimit-Reset: ..\r\n"
 * plus "Retry-After: ..\r\n" when refused. Returns the length written. */
size_t tb_format_headers(const tb_verdict *v, char *out, size_t n);

typedef struct key_entry {
	uint8_t digest[32];
	char name[KEYS_NAME_MAX + 1];
	key_role role;
	uint32_t rate, burst;
	tbucket bucket;
} key_entry;

typedef struct keys_set keys_set;

/* Parse a keys file's text. NULL on error, with "line N: reason" in err. */
keys_set *keys_parse(const char *text, size_t len, char *err, size_t errlen);
/* Read and parse a file; NULL on error with the reason in err. */
keys_set *keys_load(const char *path, char *err, size_t errlen);
void keys_free(keys_set *ks);
size_t keys_count(const keys_set *ks);
/* Carry each key's bucket over from old (same digest), so a reload does not
 * refill anybody's bucket. */
void keys_inherit_buckets(keys_set *ks, const keys_set *old);
/* The entry for a presented key (hashed here), or NULL. */
key_entry *keys_lookup(keys_set *ks, const char *key, size_t len);

/* The key in an Authorization header value: "Bearer KEY" (scheme
 * case-insensitive) or the bare key; surrounding blanks trimmed.
 * Returns false when nothing usable is left. */
bool keys_from_authorization(const char *value, size_t len, const char **key, size_t *key_len);

/* `piston proxy keygen NAME [--role user|admin] [--rate N/s] [--burst N]`:
 * prints the fresh key, then the keys-file line. Returns the exit status. */
int keys_keygen_main(int argc, char **argv);

/* Per-client-address buckets for anonymous use. Bounded: when full, idle
 * (refilled) entries are dropped; if none is idle, the table grows up to a
 * cap, beyond which new addresses share one overflow bucket. */
typedef struct addr_limiter addr_limiter;
addr_limiter *addr_limiter_new(uint32_t rate, uint32_t burst);
void addr_limiter_free(addr_limiter *al);
void addr_limiter_take(addr_limiter *al, const char *addr, uint64_t now_ms, tb_verdict *v);
void addr_limiter_take_n(addr_limiter *al, const char *addr, uint64_t now_ms, uint32_t n, tb_verdict *v);
size_t addr_limiter_size(const addr_limiter *al);

/* Parses "N" or "N/s" (1..KEYS_RATE_MAX). */
int keys_parse_rate(const char *s, uint32_t *out);

#endif
