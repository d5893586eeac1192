#include "keys.h"

#include <bearssl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"

#define KEYS_FILE_MAX (16u * 1024 * 1024)

/* ---- token bucket ---- */

static uint32_t div_ceil_u64(uint64_t a, uint64_t b)
{
	uint64_t q = (a + b - 1) / b;
	return q > UINT32_MAX ? UINT32_MAX : (uint32_t)q;
}

void tb_take(tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms, tb_verdict *v)
{
	tb_take_n(b, rate, burst, now_ms, 1, v);
}

void tb_take_n(tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms, uint32_t n, tb_verdict *v)
{
	uint64_t full = (uint64_t)burst * 1000u;
	if (!b->started) {
		b->started = true;
		b->milli = full;
		b->debt = 0;
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		/* rate tokens per second == rate milli-tokens per millisecond;
		 * what a costly request left owing is paid back first */
		uint64_t add = (now_ms - b->last_ms) * (uint64_t)rate;
		uint64_t pay = add < b->debt ? add : b->debt;
		b->debt -= pay;
		add -= pay;
		b->milli = (full - b->milli <= add) ? full : b->milli + add;
		b->last_ms = now_ms;
	}
	if (b->milli > full)   /* the burst shrank on a reload */
		b->milli = full;
	if (n == 0)
		n = 1;
	/* A request dearer than the burst waits for a full bucket, then leaves
	 * the rest as debt: it is never refused for good, and still pays all. */
	uint64_t need = (uint64_t)(n < burst ? n : burst) * 1000u, cost = (uint64_t)n * 1000u;
	bool allowed = !b->debt && b->milli >= need;
	if (allowed) {
		if (b->milli >= cost) {
			b->milli -= cost;
		} else {
			b->debt = cost - b->milli;
			b->milli = 0;
		}
	}
	tb_verdict_set(v, allowed, (int64_t)b->milli - (int64_t)b->debt, n, rate, burst);
}

void tb_verdict_set(tb_verdict *v, bool allowed, int64_t milli, uint32_t n, uint32_t rate, uint32_t burst)
{
	int64_t full = (int64_t)burst * 1000;
	if (milli > full)
		milli = full;
	if (!rate)
		rate = 1;
	if (n == 0)
		n = 1;
	int64_t need = (int64_t)(n < burst ? n : burst) * 1000;
	v->allowed = allowed;
	v->limit = burst;
	v->remaining = milli > 0 ? (uint32_t)(milli / 1000) : 0;
	/* milli-tokens / (rate milli-tokens per ms) = ms; reported in whole seconds */
	v->reset_s = div_ceil_u64(div_ceil_u64((uint64_t)(full - milli), rate), 1000);
	v->retry_after_s = allowed ? 0 : div_ceil_u64(div_ceil_u64(milli < need ? (uint64_t)(need - milli) : 0, rate), 1000);
	if (!allowed && v->retry_after_s == 0)
		v->retry_after_s = 1;
}

size_t tb_format_headers(const tb_verdict *v, char *out, size_t n)
{
	int w = snprintf(out, n, "RateLimit-Limit: %u\r\nRateLimit-Remaining: %u\r\nRateLimit-Reset: %u\r\n",
	                 v->limit, v->remaining, v->reset_s);
	if (w < 0 || (size_t)w >= n)
		return 0;
	if (!v->allowed) {
		int w2 = snprintf(out + w, n - (size_t)w, "Retry-After: %u\r\n", v->retry_after_s);
		if (w2 < 0 || (size_t)w2 >= n - (size_t)w) {
			out[w] = 0;
			return (size_t)w;
		}
		w += w2;
	}
	return (size_t)w;
}

/* ---- keys file ---- */

struct keys_set {
	key_entry *v;    /* sorted by digest */
	size_t n;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool parse_u32(const char *s, size_t n, uint32_t min, uint32_t max, uint32_t *out)
{
	if (n == 0 || n > 10)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

int keys_parse_rate(const char *s, uint32_t *out)
{
	size_t n = strlen(s);
	if (n >= 2 && s[n - 2] == '/' && s[n - 1] == 's')
		n -= 2;
	return parse_u32(s, n, 1, KEYS_RATE_MAX, out) ? 0 : -1;
}

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > KEYS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '-'))
			return false;
	}
	return true;
}

static int digest_cmp(const void *a, const void *b)
{
	return memcmp(((const key_entry *)a)->digest, ((const key_entry *)b)->digest, 32);
}

/* Splits one line into at most max fields (blank-separated). */
static size_t split_fields(const char *s, size_t n, const char **f, size_t *fl, size_t max)
{
	size_t k = 0, i = 0;
	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= n)
			break;
		size_t start = i;
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		if (k == max)
			return max + 1;
		f[k] = s + start;
		fl[k] = i - start;
		k++;
	}
	return k;
}

static bool parse_line(const char *s, size_t n, key_entry *e, char *why, size_t whylen)
{
	const char *f[5];
	size_t fl[5];
	size_t k = split_fields(s, n, f, fl, 5);
	if (k != 5) {
		snprintf(why, whylen, "expected 5 fields (sha256 name role rate/s burst), got %s",
		         k > 5 ? "more" : (k == 4 ? "4" : k == 3 ? "3" : k == 2 ? "2" : "1"));
		return false;
	}
	if (fl[0] != 64) {
		snprintf(why, whylen, "the first field must be 64 hex digits (SHA-256 of the key)");
		return false;
	}
	if (hex_decode(f[0], 64, e->digest) != 32) {
		snprintf(why, whylen, "the first field must be 64 hex digits (SHA-256 of the key)");
		return false;
	}
	if (!name_ok(f[1], fl[1])) {
		snprintf(why, whylen, "bad name (1-63 of A-Z a-z 0-9 . _ @ -)");
		return false;
	}
	memcpy(e->name, f[1], fl[1]);
	e->name[fl[1]] = 0;
	if (fl[2] == 4 && !memcmp(f[2], "user", 4))
		e->role = KEY_ROLE_USER;
	else if (fl[2] == 5 && !memcmp(f[2], "admin", 5))
		e->role = KEY_ROLE_ADMIN;
	else {
		snprintf(why, whylen, "role must be user or admin");
		return false;
	}
	size_t rl = fl[3];
	if (rl >= 2 && f[3][rl - 2] == '/' && f[3][rl - 1] == 's')
		rl -= 2;
	if (!parse_u32(f[3], rl, 1, KEYS_RATE_MAX, &e->rate)) {
		snprintf(why, whylen, "rate must be N/s with N in 1..%u", KEYS_RATE_MAX);
		return false;
	}
	if (!parse_u32(f[4], fl[4], 1, KEYS_RATE_MAX, &e->burst)) {
		snprintf(why, whylen, "burst must be in 1..%u", KEYS_RATE_MAX);
		return false;
	}
	memset(&e->bucket, 0, sizeof e->bucket);
	return true;
}

keys_set *keys_parse(const char *text, size_t len, char *err, size_t errlen)
{
	keys_set *ks = calloc(1, sizeof *ks);
	if (!ks) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	size_t cap = 0, lineno = 0;
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *s = text + pos;
		size_t n = end - pos;
		pos = end + 1;
		lineno++;
		if (n && s[n - 1] == '\r')
			n--;
		size_t i = 0;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n || s[i] == '#')
			continue;
		if (memchr(s, 0, n)) {
			set_err(err, errlen, "line %zu: NUL byte", lineno);
			goto fail;
		}
		if (ks->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			key_entry *nv = realloc(ks->v, ncap * sizeof *nv);
			if (!nv) {
				set_err(err, errlen, "out of memory");
				goto fail;
			}
			ks->v = nv;
			cap = ncap;
		}
		char why[128];
		if (!parse_line(s, n, &ks->v[ks->n], why, sizeof why)) {
			set_err(err, errlen, "line %zu: %s", lineno, why);
			goto fail;
		}
		ks->n++;
	}
	if (ks->n)
		qsort(ks->v, ks->n, sizeof *ks->v, digest_cmp);
	for (size_t i = 1; i < ks->n; i++)
		if (!memcmp(ks->v[i - 1].digest, ks->v[i].digest, 32)) {
			set_err(err, errlen, "the same key hash appears twice (%s and %s)", ks->v[i - 1].name,
			        ks->v[i].name);
			goto fail;
		}
	return ks;
fail:
	keys_free(ks);
	return NULL;
}

keys_set *keys_load(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > KEYS_FILE_MAX) {
		set_err(err, errlen, "%s: not a regular file of at most 16 MiB", path);
		close(fd);
		return NULL;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *text = malloc(cap);
	if (!text) {
		close(fd);
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	for (;;) {
		if (len == cap) {   /* the file grew while we read it */
			set_err(err, errlen, "%s: changed while being read", path);
			free(text);
			close(fd);
			return NULL;
		}
		ssize_t r = read(fd, text + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			set_err(err, errlen, "%s: %s", path, strerror(errno));
			free(text);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	char why[256];
	keys_set *ks = keys_parse(text, len, why, sizeof why);
	free(text);
	if (!ks)
		set_err(err, errlen, "%s: %s", path, why);
	return ks;
}

void keys_free(keys_set *ks)
{
	if (!ks)
		return;
	free(ks->v);
	free(ks);
}

size_t keys_count(const keys_set *ks) { return ks ? ks->n : 0; }

static key_entry *find_digest(const keys_set *ks, const uint8_t d[32])
{
	size_t lo = 0, hi = ks->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ks->v[mid].digest, d, 32);
		if (c == 0)
			return &ks->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

void keys_inherit_buckets(keys_set *ks, const keys_set *old)
{
	if (!ks || !old)
		return;
	for (size_t i = 0; i < ks->n; i++) {
		const key_entry *o = find_digest(old, ks->v[i].digest);
		if (o)
			ks->v[i].bucket = o->bucket;
	}
}

key_entry *keys_lookup(keys_set *ks, const char *key, size_t len)
{
	if (!ks || !ks->n || !len)
		return NULL;
	br_sha256_context c;
	uint8_t d[32];
	br_sha256_init(&c);
	br_sha256_update(&c, key, len);
	br_sha256_out(&c, d);
	return find_digest(ks, d);
}

bool keys_from_authorization(const char *value, size_t len, const char **key, size_t *key_len)
{
	while (len && (*value == ' ' || *value == '\t'))
		value++, len--;
	while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len > 7 && !strncasecmp(value, "bearer", 6) && (value[6] == ' ' || value[6] == '\t')) {
		value += 7;
		len -= 7;
		while (len && (*value == ' ' || *value == '\t'))
			value++, len--;
	}
	if (!len || memchr(value, ' ', len) || memchr(value, '\t', len))
		return false;
	*key = value;
	*key_len = len;
	return true;
}

/* ---- keygen ---- */

static int keygen_usage(FILE *f)
{
	fprintf(f, "usage: piston proxy keygen NAME [--role user|admin] [--rate N/s] [--burst N]\n"
	           "Prints a fresh random API key, then the line to append to the keys file\n"
	           "(which holds only the key's SHA-256). Defaults: --role user --rate 10/s,\n"
	           "--burst twice the rate.\n");
	return f == stdout ? 0 : 2;
}

int keys_keygen_main(int argc, char **argv)
{
	const char *name = NULL, *role = "user";
	uint32_t rate = 10, burst = 20;
	bool burst_set = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h"))
			return keygen_usage(stdout);
		if (!strncmp(a, "--", 2)) {
			const char *eq = strchr(a, '=');
			size_t n = eq ? (size_t)(eq - a) : strlen(a);
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				fprintf(stderr, "piston proxy keygen: %s needs a value\n", a);
				return 2;
			}
			if (n == 6 && !strncmp(a, "--role", n)) {
				if (strcmp(val, "user") && strcmp(val, "admin")) {
					fprintf(stderr, "piston proxy keygen: --role must be user or admin\n");
					return 2;
				}
				role = val;
			} else if (n == 6 && !strncmp(a, "--rate", n)) {
				if (keys_parse_rate(val, &rate) < 0) {
					fprintf(stderr, "piston proxy keygen: --rate must be N/s, N in 1..%u\n", KEYS_RATE_MAX);
					return 2;
				}
			} else if (n == 7 && !strncmp(a, "--burst", n)) {
				if (!parse_u32(val, strlen(val), 1, KEYS_RATE_MAX, &burst)) {
					fprintf(stderr, "piston proxy keygen: --burst must be in 1..%u\n", KEYS_RATE_MAX);
					return 2;
				}
				burst_set = true;
			} else {
				fprintf(stderr, "piston proxy keygen: unknown option %s\n", a);
				return keygen_usage(stderr);
			}
		} else if (!name) {
			name = a;
		} else {
			fprintf(stderr, "piston proxy keygen: unexpected argument %s\n", a);
			return keygen_usage(stderr);
		}
	}
	if (!name)
		return keygen_usage(stderr);
	if (!name_ok(name, strlen(name))) {
		fprintf(stderr, "piston proxy keygen: bad NAME (1-63 of A-Z a-z 0-9 . _ @ -)\n");
		return 2;
	}
	if (!burst_set)
		burst = rate > KEYS_RATE_MAX / 2 ? KEYS_RATE_MAX : rate * 2;
	uint8_t raw[32];
	size_t got = 0;
	while (got < sizeof raw) {
		ssize_t r = getrandom(raw + got, sizeof raw - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "piston proxy keygen: getrandom: %s\n", strerror(errno));
			return 1;
		}
		got += (size_t)r;
	}
	static const char hexd[] = "0123456789abcdef";
	char key[4 + 64 + 1] = "pst_";
	for (size_t i = 0; i < 32; i++) {
		key[4 + 2 * i] = hexd[raw[i] >> 4];
		key[4 + 2 * i + 1] = hexd[raw[i] & 15];
	}
	key[68] = 0;
	br_sha256_context c;
	uint8_t d[32];
	br_sha256_init(&c);
	br_sha256_update(&c, key, 68);
	br_sha256_out(&c, d);
	char dh[65];
	for (size_t i = 0; i < 32; i++) {
		dh[2 * i] = hexd[d[i] >> 4];
		dh[2 * i + 1] = hexd[d[i] & 15];
	}
	dh[64] = 0;
	printf("%s\n%s %s %s %u/s %u\n", key, dh, name, role, rate, burst);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- per-address buckets ---- */

#define ADDR_MAX 64
#define ADDR_TABLE_MIN 1024u
#define ADDR_TABLE_MAX (1u << 17)

typedef struct addr_slot {
	char addr[ADDR_MAX];   /* "" = free */
	tbucket bucket;
} addr_slot;

struct addr_limiter {
	uint32_t rate, burst;
	addr_slot *slots;
	size_t cap, used;
	tbucket overflow;      /* shared by new addresses when the table is at its cap */
	uint64_t next_sweep_ms;  /* at the cap, sweep at most once a second */
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

addr_limiter *addr_limiter_new(uint32_t rate, uint32_t burst)
{
	addr_limiter *al = calloc(1, sizeof *al);
	if (!al)
		return NULL;
	al->rate = rate;
	al->burst = burst;
	al->cap = ADDR_TABLE_MIN;
	al->slots = calloc(al->cap, sizeof *al->slots);
	if (!al->slots) {
		free(al);
		return NULL;
	}
	return al;
}

void addr_limiter_free(addr_limiter *al)
{
	if (!al)
		return;
	free(al->slots);
	free(al);
}

size_t addr_limiter_size(const addr_limiter *al) { return al->used; }

static addr_slot *probe(addr_slot *slots, size_t cap, const char *addr)
{
	size_t i = (size_t)fnv1a(addr) & (cap - 1);
	while (slots[i].addr[0] && strcmp(slots[i].addr, addr))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

static bool bucket_idle(const addr_limiter *al, const tbucket *b, uint64_t now)
{
	uint64_t full = (uint64_t)al->burst * 1000u;
	uint64_t el = now > b->last_ms ? now - b->last_ms : 0;
	return (!b->debt && b->milli >= full) || el * al->rate >= full - b->milli + b->debt;
}

/* Rehash into newcap slots, dropping buckets that are full again (an idle
 * address is indistinguishable from a new one). */
static bool rebuild(addr_limiter *al, size_t newcap, uint64_t now)
{
	addr_slot *ns = calloc(newcap, sizeof *ns);
	if (!ns)
		return false;
	size_t used = 0;
	for (size_t i = 0; i < al->cap; i++) {
		addr_slot *s = &al->slots[i];
		if (!s->addr[0] || bucket_idle(al, &s->bucket, now))
			continue;
		*probe(ns, newcap, s->addr) = *s;
		used++;
	}
	free(al->slots);
	al->slots = ns;
	al->cap = newcap;
	al->used = used;
	return true;
}

void addr_limiter_take(addr_limiter *al, const char *addr, uint64_t now_ms, tb_verdict *v)
{
	addr_limiter_take_n(al, addr, now_ms, 1, v);
}

void addr_limiter_take_n(addr_limiter *al, const char *addr, uint64_t now_ms, uint32_t n, tb_verdict *v)
{
	char key[ADDR_MAX];
	size_t len = strlen(addr);
	if (len >= ADDR_MAX)
		len = ADDR_MAX - 1;
	memcpy(key, addr, len);
	key[len] = 0;
	if (!key[0]) {
		key[0] = '?';
		key[1] = 0;
	}
	addr_slot *s = probe(al->slots, al->cap, key);
	if (!s->addr[0]) {
		if ((al->used + 1) * 4 > al->cap * 3) {
			if (al->cap >= ADDR_TABLE_MAX && now_ms < al->next_sweep_ms) {
				tb_take_n(&al->overflow, al->rate, al->burst, now_ms, n, v);
				return;
			}
			al->next_sweep_ms = now_ms + 1000;
			rebuild(al, al->cap, now_ms);
			if ((al->used + 1) * 2 > al->cap && al->cap < ADDR_TABLE_MAX)
				rebuild(al, al->cap * 2, now_ms);
			s = probe(al->slots, al->cap, key);
			if ((al->used + 1) * 4 > al->cap * 3) {
				tb_take_n(&al->overflow, al->rate, al->burst, now_ms, n, v);
				return;
			}
		}
		strcpy(s->addr, key);
		memset(&s->bucket, 0, sizeof s->bucket);
		al->used++;
	}
	tb_take_n(&s->bucket, al->rate, al->burst, now_ms, n, v);
}
