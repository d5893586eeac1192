/*
 * redis: token buckets in Redis, one pipelined connection on the event
 * loop (promises in redis.h).
 */
#include "redis.h"

#include <errno.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "resp.h"

/* KEYS[1] the bucket; ARGV[1] rate (tokens/s), ARGV[2] burst, ARGV[3] the
 * request's cost n (one per run stage). State: a hash {m: milli-tokens,
 * negative while a costly request's debt is paid back; t: Redis ms of the
 * last refill}. Rate tokens per second is rate milli-tokens per
 * millisecond, as in keys.c. Admitted with min(n, burst) tokens and no
 * debt; the whole n is taken (tb_take_n's rule). Returns {1 if taken else
 * 0, milli-tokens left}. */
const char redis_take_script[] =
	"local rate = tonumber(ARGV[1])\n"
	"local cap = tonumber(ARGV[2]) * 1000\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
	"local b = redis.call('HMGET', KEYS[1], 'm', 't')\n"
	"local m = tonumber(b[1])\n"
	"local last = tonumber(b[2])\n"
	"if not m then m = cap end\n"
	"if not last or last > now then last = now end\n"
	"m = math.min(cap, m + (now - last) * rate)\n"
	"local n = tonumber(ARGV[3]) or 1\n"
	"if n < 1 then n = 1 end\n"
	"local ok = 0\n"
	"if m >= math.min(n, tonumber(ARGV[2])) * 1000 then m = m - n * 1000 ok = 1 end\n"
	"redis.call('HSET', KEYS[1], 'm', m, 't', now)\n"
	"redis.call('PEXPIRE', KEYS[1], math.ceil((cap - m) / rate) + 1000)\n"
	"return {ok, m}\n";

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define CONNECT_TIMEOUT_MS 2000
#define SLOW_WARN_EVERY_MS 60000

typedef enum { SLOT_AUTH, SLOT_SELECT, SLOT_LOAD, SLOT_TAKE } slot_kind;

typedef struct slot {
	slot_kind kind;
	bool by_eval;                  /* sent as EVAL (after NOSCRIPT) */
	redis_take_fn *fn;             /* NULL: cancelled or timed out */
	void *arg;
	uint64_t sent_ms, deadline_ms;
	uint32_t rate, burst, cost;
	char key[REDIS_KEY_MAX + 1];
} slot;

typedef enum { ST_WAIT, ST_CONNECTING, ST_HANDSHAKE, ST_READY } conn_state;

struct redis_limiter {
	loop *l;
	redis_url u;
	uint64_t timeout_ms;
	struct sockaddr_storage addr;
	socklen_t addrlen;             /* 0: not resolved yet */
	int fd;
	conn_state st;
	buf in, out;
	bool want_write;
	char sha[41];
	slot *slots;                   /* ring of REDIS_MAX_PENDING */
	size_t head, count;
	loop_timer *tick;              /* admission deadlines */
	uint64_t tick_at;              /* when it fires */
	loop_timer *retry;             /* backoff, or the connect timeout */
	loop_timer *broken_timer;      /* a send failed inside redis_take */
	char broken_why[128];
	uint64_t backoff_ms;
	bool outage;                   /* warned; INFO when back */
	bool ever_ready;
	uint64_t last_slow_warn_ms;
	redis_stats stats;
};

static void conn_lost(redis_limiter *r, const char *why);
static void start_connect(redis_limiter *r);
static void arm_tick(redis_limiter *r);

/* ---------------------------------------------------------------- URL */

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int a = i + 2 < n ? hexval(s[i + 1]) : -1;
			int b = i + 2 < n ? hexval(s[i + 2]) : -1;
			if (a < 0 || b < 0)
				return -1;
			c = (char)(a * 16 + b);
			i += 2;
		}
		if (!c || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = 0;
	return 0;
}

int redis_url_parse(const char *text, redis_url *u, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	strcpy(u->port, "6379");
	static const char scheme[] = "redis://";
	if (strncmp(text, scheme, sizeof scheme - 1)) {
		snprintf(err, errlen, "'%s' is not a redis://[:PASSWORD@]HOST[:PORT][/DB] URL", text);
		return -1;
	}
	const char *p = text + sizeof scheme - 1;
	const char *end = p + strcspn(p, "/?#");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		const char *user_end = colon ? colon : at;
		if (pct_decode(p, (size_t)(user_end - p), u->user, sizeof u->user) < 0 ||
		    (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), u->password, sizeof u->password) < 0)) {
			snprintf(err, errlen, "bad user or password in the redis URL");
			return -1;
		}
		if (!colon) {   /* redis://PASSWORD@HOST: the common shorthand */
			strcpy(u->password, u->user);
			u->user[0] = 0;
		}
		p = at + 1;
	}
	const char *host = p, *host_end, *port = NULL;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (!rb) {
			snprintf(err, errlen, "bad IPv6 address in the redis URL");
			return -1;
		}
		host = p + 1;
		host_end = rb;
		if (rb + 1 < end) {
			if (rb[1] != ':') {
				snprintf(err, errlen, "junk after the IPv6 address in the redis URL");
				return -1;
			}
			port = rb + 2;
		}
	} else {
		const char *colon = memchr(p, ':', (size_t)(end - p));
		host_end = colon ? colon : end;
		if (colon)
			port = colon + 1;
	}
	size_t hl = (size_t)(host_end - host);
	if (!hl || hl >= sizeof u->host) {
		snprintf(err, errlen, "missing or too long host in the redis URL");
		return -1;
	}
	for (size_t i = 0; i < hl; i++) {
		char c = host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == '_' || c == ':')) {
			snprintf(err, errlen, "bad character in the redis URL's host");
			return -1;
		}
	}
	memcpy(u->host, host, hl);
	u->host[hl] = 0;
	if (port) {
		size_t pl = (size_t)(end - port);
		unsigned v = 0;
		for (size_t i = 0; i < pl; i++) {
			if (port[i] < '0' || port[i] > '9' || v > 65535) {
				v = 70000;
				break;
			}
			v = v * 10 + (unsigned)(port[i] - '0');
		}
		if (!pl || !v || v > 65535) {
			snprintf(err, errlen, "bad port in the redis URL (1..65535)");
			return -1;
		}
		snprintf(u->port, sizeof u->port, "%u", v);
	}
	if (*end == '/' && end[1]) {
		const char *d = end + 1;
		unsigned v = 0;
		size_t i = 0;
		for (; d[i]; i++) {
			if (d[i] < '0' || d[i] > '9' || v > 1000000) {
				snprintf(err, errlen, "bad database number in the redis URL (/0../1000000)");
				return -1;
			}
			v = v * 10 + (unsigned)(d[i] - '0');
		}
		if (v > 1000000) {
			snprintf(err, errlen, "bad database number in the redis URL (/0../1000000)");
			return -1;
		}
		u->db = v;
	} else if (*end && strcmp(end, "/")) {
		snprintf(err, errlen, "unexpected '%s' in the redis URL", end);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- ring */

static slot *slot_at(redis_limiter *r, size_t i)
{
	return &r->slots[(r->head + i) % REDIS_MAX_PENDING];
}

static slot *push(redis_limiter *r, slot_kind kind)
{
	if (r->count == REDIS_MAX_PENDING)
		return NULL;
	slot *s = slot_at(r, r->count++);
	memset(s, 0, offsetof(slot, key) + 1);
	s->kind = kind;
	s->sent_ms = loop_now(r->l);
	s->deadline_ms = s->sent_ms + r->timeout_ms;
	return s;
}

static slot pop(redis_limiter *r)
{
	slot s = r->slots[r->head];
	r->head = (r->head + 1) % REDIS_MAX_PENDING;
	r->count--;
	return s;
}

static void give_up(redis_limiter *r, redis_take_fn *fn, void *arg)
{
	r->stats.fallbacks++;
	redis_verdict v = {.ok = false};
	fn(arg, &v);
}

/* ---------------------------------------------------------------- I/O */

static void set_watch(redis_limiter *r);

static void on_broken(loop *l, void *arg)
{
	(void)l;
	redis_limiter *r = arg;
	r->broken_timer = NULL;
	conn_lost(r, r->broken_why);
}

/* Writes what it can. A failure drops the connection now, or (later) on
 * the next loop iteration when !now: redis_take never runs a callback. */
static void flush_out_ex(redis_limiter *r, bool now)
{
	if (r->st < ST_HANDSHAKE || r->broken_timer)
		return;
	const char *why = NULL;
	while (r->out.len) {
		ssize_t n = send(r->fd, r->out.data, r->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			why = strerror(errno);
			break;
		}
		buf_consume(&r->out, (size_t)n);
	}
	if (!why && buf_failed(&r->out))
		why = "out of memory";
	if (why) {
		if (now) {
			conn_lost(r, why);
		} else {
			snprintf(r->broken_why, sizeof r->broken_why, "%s", why);
			r->broken_timer = loop_timer_add(r->l, 0, on_broken, r);
		}
		return;
	}
	set_watch(r);
}

static void flush_out(redis_limiter *r)
{
	flush_out_ex(r, true);
}

static void send_take(redis_limiter *r, slot *s)
{
	char rate[16], burst[16], cost[16];
	snprintf(rate, sizeof rate, "%u", s->rate);
	snprintf(burst, sizeof burst, "%u", s->burst);
	snprintf(cost, sizeof cost, "%u", s->cost);
	const char *argv[7] = {s->by_eval ? "EVAL" : "EVALSHA", s->by_eval ? redis_take_script : r->sha, "1", s->key, rate,
	                       burst, cost};
	resp_command(&r->out, 7, argv, NULL);
}

/* The handshake went through. An outage ends (INFO, backoff reset) only
 * with the first admission Redis answers well: a server that accepts the
 * handshake and then fails every admission is one outage, one WARN. */
static void on_ready(redis_limiter *r)
{
	r->st = ST_READY;
	if (!r->outage && !r->ever_ready)
		log_info("redis: connected to %s:%s; rate limits are shared", r->u.host, r->u.port);
	else
		log_debug("redis: reconnected to %s:%s", r->u.host, r->u.port);
	r->ever_ready = true;
	r->stats.up = true;
}

static void admission_worked(redis_limiter *r)
{
	if (!r->outage)
		return;
	r->outage = false;
	r->backoff_ms = BACKOFF_MIN_MS;
	log_info("redis: %s:%s answers again; rate limits are shared again", r->u.host, r->u.port);
}

static void warn_slow(redis_limiter *r, const char *what)
{
	uint64_t now = loop_now(r->l);
	if (r->last_slow_warn_ms && now - r->last_slow_warn_ms < SLOW_WARN_EVERY_MS)
		return;
	r->last_slow_warn_ms = now;
	log_warn("redis: %s; those requests used this proxy's own buckets (said at most once a minute)", what);
}

/* One reply, for the oldest request. false: the connection was dropped. */
static bool handle_reply(redis_limiter *r, const resp_reply *rep)
{
	if (!r->count) {
		conn_lost(r, "a reply to nothing was asked");
		return false;
	}
	slot s = pop(r);
	char msg[200];
	if (rep->type == RESP_ERROR)
		snprintf(msg, sizeof msg, "%.*s", (int)(rep->v.len < 150 ? rep->v.len : 150), rep->v.str);
	switch (s.kind) {
	case SLOT_AUTH:
	case SLOT_SELECT:
		if (rep->type != RESP_STATUS) {
			char why[300];
			snprintf(why, sizeof why, "%s refused: %s", s.kind == SLOT_AUTH ? "AUTH" : "SELECT",
			         rep->type == RESP_ERROR ? msg : "unexpected reply");
			conn_lost(r, why);
			return false;
		}
		return true;
	case SLOT_LOAD:
		if (rep->type != RESP_BULK || rep->v.len != 40) {
			conn_lost(r, rep->type == RESP_ERROR ? msg : "SCRIPT LOAD: unexpected reply");
			return false;
		}
		memcpy(r->sha, rep->v.str, 40);
		r->sha[40] = 0;
		on_ready(r);
		return true;
	case SLOT_TAKE:
		break;
	}
	if (rep->type == RESP_ERROR && !strncmp(msg, "NOSCRIPT", 8) && !s.by_eval) {
		/* the script cache was flushed: send the script itself (Redis caches
		 * it again), behind what is already in flight */
		slot *again = push(r, SLOT_TAKE);
		if (again) {
			*again = s;
			again->by_eval = true;
			send_take(r, again);
			return true;
		}
	}
	bool good = rep->type == RESP_ARRAY && rep->n == 2 && rep->elem[0].type == RESP_INT &&
	            rep->elem[1].type == RESP_INT && rep->elem[1].integer >= 0 &&
	            (rep->elem[0].integer == 0 || rep->elem[0].integer == 1);
	if (!good) {
		char what[260];
		snprintf(what, sizeof what, "an admission failed: %s", rep->type == RESP_ERROR ? msg : "unexpected reply");
		warn_slow(r, what);
		if (s.fn)
			give_up(r, s.fn, s.arg);
		return true;
	}
	admission_worked(r);
	if (!s.fn)
		return true;   /* timed out (decided locally) or cancelled */
	r->stats.admissions++;
	redis_verdict v = {.ok = true, .allowed = rep->elem[0].integer == 1, .milli = (int64_t)rep->elem[1].integer};
	s.fn(s.arg, &v);
	return true;
}

static void on_readable(redis_limiter *r)
{
	for (;;) {
		if (!buf_reserve(&r->in, 16384)) {
			conn_lost(r, "out of memory");
			return;
		}
		ssize_t n = read(r->fd, r->in.data + r->in.len, r->in.cap - r->in.len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_lost(r, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_lost(r, "Redis closed the connection");
			return;
		}
		r->in.len += (size_t)n;
		size_t at = 0;
		for (;;) {
			resp_reply rep;
			ssize_t used = resp_parse(r->in.data + at, r->in.len - at, &rep);
			if (used == RESP_BAD) {
				conn_lost(r, "malformed reply");
				return;
			}
			if (used == RESP_INCOMPLETE)
				break;
			at += (size_t)used;
			if (!handle_reply(r, &rep))
				return;
		}
		buf_consume(&r->in, at);
		if ((size_t)n < 16384)
			break;
	}
	if (r->out.len) {   /* an EVAL after NOSCRIPT */
		flush_out(r);
		if (r->fd < 0)
			return;
	}
	arm_tick(r);
}

static void on_fd(loop *l, int fd, unsigned events, void *arg)
{
	(void)l;
	(void)fd;
	redis_limiter *r = arg;
	if (r->st == ST_CONNECTING) {
		int e = 0;
		socklen_t el = sizeof e;
		if (getsockopt(r->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
			e = errno;
		if (e) {
			conn_lost(r, strerror(e));
			return;
		}
		if (!(events & (LOOP_WRITE | LOOP_ERROR)))
			return;
		r->st = ST_HANDSHAKE;
		if (r->retry) {
			loop_timer_cancel(r->l, r->retry);
			r->retry = NULL;
		}
		flush_out(r);
		return;
	}
	if (events & (LOOP_READ | LOOP_ERROR)) {
		on_readable(r);
		if (r->fd < 0)
			return;
	}
	if (events & LOOP_WRITE)
		flush_out(r);
}

static void set_watch(redis_limiter *r)
{
	if (r->fd < 0)
		return;
	unsigned ev = r->st == ST_CONNECTING ? LOOP_WRITE : LOOP_READ | (r->out.len ? LOOP_WRITE : 0);
	if (loop_watch(r->l, r->fd, ev, on_fd, r) < 0)
		conn_lost(r, "cannot watch the socket");
}

/* ---------------------------------------------------------------- timers */

static void on_tick(loop *l, void *arg)
{
	redis_limiter *r = arg;
	r->tick = NULL;
	uint64_t now = loop_now(l);
	size_t expired = 0;
	for (size_t i = 0; i < r->count; i++) {
		slot *s = slot_at(r, i);
		if (s->deadline_ms > now)
			break;
		if (s->kind == SLOT_TAKE && s->fn) {
			redis_take_fn *fn = s->fn;
			s->fn = NULL;
			r->stats.timeouts++;
			expired++;
			give_up(r, fn, s->arg);
		}
	}
	if (expired) {
		char what[128];
		snprintf(what, sizeof what, "%zu admission(s) got no answer within %llu ms", expired,
		         (unsigned long long)r->timeout_ms);
		warn_slow(r, what);
	}
	if (r->count && now - slot_at(r, 0)->sent_ms >= REDIS_DEAD_MS && r->st >= ST_HANDSHAKE) {
		conn_lost(r, "no answer for 2 s");
		return;
	}
	arm_tick(r);
}

/* The timer fires at the first live admission's deadline, or when the
 * oldest request in flight would make the connection dead, whichever is
 * first; an earlier timer already armed is kept. */
static void arm_tick(redis_limiter *r)
{
	if (!r->count)
		return;
	uint64_t now = loop_now(r->l), when = slot_at(r, 0)->sent_ms + REDIS_DEAD_MS;
	for (size_t i = 0; i < r->count; i++) {
		slot *s = slot_at(r, i);
		if (s->fn) {
			if (s->deadline_ms < when)
				when = s->deadline_ms;
			break;
		}
	}
	if (r->tick) {
		if (r->tick_at <= when)
			return;
		loop_timer_cancel(r->l, r->tick);
	}
	r->tick_at = when;
	r->tick = loop_timer_add(r->l, when > now ? when - now : 0, on_tick, r);
}

static void on_retry(loop *l, void *arg)
{
	(void)l;
	redis_limiter *r = arg;
	r->retry = NULL;
	if (r->st == ST_CONNECTING) {
		conn_lost(r, "connect timed out");
		return;
	}
	start_connect(r);
}

/* ---------------------------------------------------------------- connection */

static void conn_lost(redis_limiter *r, const char *why)
{
	if (r->fd >= 0) {
		loop_unwatch(r->l, r->fd);
		close(r->fd);
		r->fd = -1;
	}
	r->st = ST_WAIT;
	r->stats.up = false;
	buf_reset(&r->in);
	buf_reset(&r->out);
	if (!r->outage) {
		log_warn("redis: %s:%s: %s; rate limits fall back to this proxy's own buckets until it is back",
		         r->u.host, r->u.port, why);
		r->outage = true;
	} else {
		log_debug("redis: %s:%s: %s", r->u.host, r->u.port, why);
	}
	while (r->count) {
		slot s = pop(r);
		if (s.kind == SLOT_TAKE && s.fn)
			give_up(r, s.fn, s.arg);
	}
	if (r->tick) {
		loop_timer_cancel(r->l, r->tick);
		r->tick = NULL;
	}
	if (r->broken_timer) {
		loop_timer_cancel(r->l, r->broken_timer);
		r->broken_timer = NULL;
	}
	if (r->retry)
		loop_timer_cancel(r->l, r->retry);
	r->retry = loop_timer_add(r->l, r->backoff_ms, on_retry, r);
	r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Resolves HOST (blocking, but only until it first succeeds: an IP literal
 * needs no lookup, and a name -- a Kubernetes Service -- keeps its address). */
static int resolve(redis_limiter *r, char *why, size_t n)
{
	if (r->addrlen)
		return 0;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int gr = getaddrinfo(r->u.host, r->u.port, &hints, &res);
	if (gr || !res) {
		snprintf(why, n, "cannot resolve %s: %s", r->u.host, gai_strerror(gr));
		return -1;
	}
	memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
	r->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void start_connect(redis_limiter *r)
{
	char why[300];
	if (resolve(r, why, sizeof why) < 0) {
		conn_lost(r, why);
		return;
	}
	r->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->fd < 0) {
		conn_lost(r, strerror(errno));
		return;
	}
	int one = 1;
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	r->stats.reconnects += r->ever_ready;
	if (connect(r->fd, (struct sockaddr *)&r->addr, r->addrlen) < 0 && errno != EINPROGRESS) {
		conn_lost(r, strerror(errno));
		return;
	}
	r->st = ST_CONNECTING;
	/* the handshake, pipelined; sent once connected */
	if (r->u.password[0]) {
		const char *argv[3] = {"AUTH", r->u.user[0] ? r->u.user : r->u.password, r->u.password};
		resp_command(&r->out, r->u.user[0] ? 3 : 2, argv, NULL);
		push(r, SLOT_AUTH);
	}
	if (r->u.db) {
		char db[16];
		snprintf(db, sizeof db, "%u", r->u.db);
		const char *argv[2] = {"SELECT", db};
		resp_command(&r->out, 2, argv, NULL);
		push(r, SLOT_SELECT);
	}
	const char *argv[3] = {"SCRIPT", "LOAD", redis_take_script};
	resp_command(&r->out, 3, argv, NULL);
	push(r, SLOT_LOAD);
	set_watch(r);
	r->retry = loop_timer_add(r->l, CONNECT_TIMEOUT_MS, on_retry, r);
	arm_tick(r);
}

redis_limiter *redis_limiter_new(loop *l, const redis_url *u, uint64_t timeout_ms)
{
	redis_limiter *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->slots = calloc(REDIS_MAX_PENDING, sizeof *r->slots);
	if (!r->slots) {
		free(r);
		return NULL;
	}
	r->l = l;
	r->u = *u;
	r->timeout_ms = timeout_ms;
	r->fd = -1;
	r->backoff_ms = BACKOFF_MIN_MS;
	start_connect(r);
	return r;
}

void redis_limiter_free(redis_limiter *r)
{
	if (!r)
		return;
	if (r->fd >= 0) {
		loop_unwatch(r->l, r->fd);
		close(r->fd);
	}
	if (r->tick)
		loop_timer_cancel(r->l, r->tick);
	if (r->retry)
		loop_timer_cancel(r->l, r->retry);
	if (r->broken_timer)
		loop_timer_cancel(r->l, r->broken_timer);
	buf_free(&r->in);
	buf_free(&r->out);
	free(r->slots);
	free(r);
}

bool redis_take(redis_limiter *r, const char *key, uint32_t rate, uint32_t burst, uint32_t cost, redis_take_fn *fn,
                void *arg)
{
	size_t kl = strlen(key);
	if (r->st != ST_READY || kl > REDIS_KEY_MAX || !rate || !burst) {
		r->stats.fallbacks++;
		return false;
	}
	slot *s = push(r, SLOT_TAKE);
	if (!s) {
		r->stats.fallbacks++;
		return false;
	}
	s->fn = fn;
	s->arg = arg;
	s->rate = rate;
	s->burst = burst;
	s->cost = cost ? cost : 1;
	memcpy(s->key, key, kl + 1);
	send_take(r, s);
	flush_out_ex(r, false);
	arm_tick(r);
	return true;
}

void redis_take_cancel(redis_limiter *r, void *arg)
{
	for (size_t i = 0; i < r->count; i++) {
		slot *s = slot_at(r, i);
		if (s->arg == arg)
			s->fn = NULL;
	}
}

void redis_note_fallback(redis_limiter *r)
{
	r->stats.fallbacks++;
}

void redis_get_stats(const redis_limiter *r, redis_stats *out)
{
	*out = r->stats;
}
