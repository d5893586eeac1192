/*
 * proxy_dns: `--upstream dns://NAME:PORT` (SPEC section 5). Every A/AAAA
 * record of NAME is an engine on PORT. The name is re-resolved as the
 * answer's TTL says (clamped to 1..30 s) over UDP on the event loop (never a
 * blocking lookup), from the nameserver of --dns-server or the first one in
 * /etc/resolv.conf. An engine that appears gets a slot and is health-checked
 * at once (routed to once it passes); one that disappears is removed: out
 * of rotation at once, its in-flight requests finish, and its slot is
 * reaped when nothing is left in flight. A failed lookup (timeout, SERVFAIL,
 * garbage) keeps the engines as they are: a DNS hiccup drains nothing. An
 * answer of "no such name" or no records empties the set, and the name is
 * asked again every second until it has records.
 */
#include "proxy_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"

#define DNS_TIMEOUT_MS 2000
#define DNS_RETRY_MS 2000
#define DNS_MIN_TTL_S 1
#define DNS_MAX_TTL_S 30
#define DNS_EMPTY_RETRY_S 1
#define DNS_MAX_FOUND (2 * DNS_MAX_ADDRS)

struct dns_watch {
	proxy *p;
	size_t index;                  /* engine_up.dns_source of its engines */
	char name[DNS_MAX_NAME + 2];
	uint16_t port;
	struct sockaddr_storage server;
	socklen_t server_len;
	char server_text[160];
	int fd;                        /* -1 between lookups */
	loop_timer *timer;             /* the next lookup, or this lookup's timeout */
	uint16_t id[2];                /* A, AAAA */
	bool done[2];
	bool failed;
	char why[128];
	dns_addr found[DNS_MAX_FOUND];
	size_t nfound;
	uint32_t ttl;
	bool was_failing;
	uint64_t lookups_ok, lookups_failed, added, removed;
};

static const uint16_t qtypes[2] = {DNS_TYPE_A, DNS_TYPE_AAAA};

/* ---------------------------------------------------------- nameserver */

/* "IP", "IP:PORT", "[IPv6]:PORT" or a bare IPv6 address. */
static int parse_server(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	unsigned port = 53;
	memset(ss, 0, sizeof *ss);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || (size_t)(close - s - 1) >= sizeof host)
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = 0;
		if (close[1] == ':') {
			char *end;
			unsigned long v = strtoul(close + 2, &end, 10);
			if (*end || !v || v > 65535)
				return -1;
			port = (unsigned)v;
		} else if (close[1]) {
			return -1;
		}
	} else {
		const char *colon = strchr(s, ':');
		bool v6 = colon && strchr(colon + 1, ':');
		size_t hl = colon && !v6 ? (size_t)(colon - s) : strlen(s);
		if (hl >= sizeof host)
			return -1;
		memcpy(host, s, hl);
		host[hl] = 0;
		if (colon && !v6) {
			char *end;
			unsigned long v = strtoul(colon + 1, &end, 10);
			if (*end || !v || v > 65535)
				return -1;
			port = (unsigned)v;
		}
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof *a4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof *a6;
		return 0;
	}
	return -1;
}

/* The first usable "nameserver" line of /etc/resolv.conf. */
static int resolv_conf_server(char *out, size_t n)
{
	FILE *f = fopen("/etc/resolv.conf", "re");
	if (!f)
		return -1;
	char line[512];
	int rc = -1;
	while (rc < 0 && fgets(line, sizeof line, f)) {
		char addr[128];
		if (sscanf(line, " nameserver %127s", addr) != 1)
			continue;
		char *pct = strchr(addr, '%');   /* a zone index: not for us */
		if (pct)
			*pct = 0;
		struct sockaddr_storage ss;
		socklen_t sl;
		if (parse_server(addr, &ss, &sl) == 0 && strlen(addr) < n) {
			strcpy(out, addr);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

/* ------------------------------------------------------------- engines */

static void addr_to_sockaddr(const dns_addr *d, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (d->family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		memcpy(&a->sin_addr, d->addr, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		memcpy(&a->sin6_addr, d->addr, 16);
	}
}

static bool engine_is(const engine_up *e, const dns_addr *d, uint16_t port)
{
	struct sockaddr_storage ss;
	addr_to_sockaddr(d, port, &ss);
	if (e->u.addr.ss_family != ss.ss_family)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&e->u.addr, *b = (const void *)&ss;
		return a->sin_port == b->sin_port && !memcmp(&a->sin_addr, &b->sin_addr, 4);
	}
	const struct sockaddr_in6 *a = (const void *)&e->u.addr, *b = (const void *)&ss;
	return a->sin6_port == b->sin6_port && !memcmp(&a->sin6_addr, &b->sin6_addr, 16);
}

static void vacate(engine_up *e)
{
	upstream_close_idle(&e->u);
	json_free(e->runtimes);
	buf_free(&e->runtimes_raw);
	memset(e, 0, sizeof *e);
	e->vacant = true;
}

void proxy_dns_reap(proxy *p)
{
	for (size_t i = 0; i < p->nups; i++) {
		engine_up *e = &p->ups[i];
		if (e->removed && !e->u.in_flight && !e->check) {
			log_info("proxy: engine %s drained and released", e->u.url);
			vacate(e);
		}
	}
	while (p->nups && p->ups[p->nups - 1].vacant)
		p->nups--;
}

static void remove_engine(dns_watch *w, engine_up *e)
{
	log_info("proxy: engine %s left %s: draining (%u in flight)", e->u.url, w->name, e->u.in_flight);
	if (e->check) {
		up_call_cancel(e->check);
		e->check = NULL;
	}
	proxy_mark_down(w->p, e, "removed from DNS");
	e->removed = true;
	w->removed++;
}

static void add_engine(dns_watch *w, const dns_addr *d)
{
	proxy *p = w->p;
	size_t i = 0;
	while (i < p->nups && !p->ups[i].vacant)
		i++;
	if (i == PROXY_MAX_UPSTREAMS) {
		log_warn("proxy: %s: more than %d engines; ignoring the rest", w->name, PROXY_MAX_UPSTREAMS);
		return;
	}
	char ip[INET6_ADDRSTRLEN], url[128], err[256];
	inet_ntop(d->family, d->addr, ip, sizeof ip);
	snprintf(url, sizeof url, d->family == AF_INET ? "http://%s:%u" : "http://[%s]:%u", ip, w->port);
	engine_up *e = &p->ups[i];
	memset(e, 0, sizeof *e);
	if (upstream_init(&e->u, p->l, url, err, sizeof err) < 0) {   /* a literal: no lookup */
		log_warn("proxy: %s: %s", w->name, err);
		e->vacant = true;
		return;
	}
	e->p = p;
	e->dns_source = w->index + 1;
	if (i == p->nups)
		p->nups++;
	w->added++;
	log_info("proxy: engine %s found through %s; checking it", url, w->name);
	proxy_health_check(e);
}

/* Make the engines of w exactly w->found. */
static void apply(dns_watch *w)
{
	proxy *p = w->p;
	for (size_t i = 0; i < p->nups; i++) {
		engine_up *e = &p->ups[i];
		if (e->vacant || e->removed || e->dns_source != w->index + 1)
			continue;
		bool keep = false;
		for (size_t k = 0; k < w->nfound && !keep; k++)
			keep = engine_is(e, &w->found[k], w->port);
		if (!keep)
			remove_engine(w, e);
	}
	for (size_t k = 0; k < w->nfound; k++) {
		engine_up *have = NULL;
		for (size_t i = 0; i < p->nups && !have; i++) {
			engine_up *e = &p->ups[i];
			if (!e->vacant && e->dns_source == w->index + 1 && engine_is(e, &w->found[k], w->port))
				have = e;
		}
		if (have && have->removed) {   /* came back before it drained */
			log_info("proxy: engine %s is back in %s", have->u.url, w->name);
			have->removed = false;
			proxy_health_check(have);
		} else if (!have) {
			add_engine(w, &w->found[k]);
		}
	}
}

/* -------------------------------------------------------------- lookup */

static void lookup_start(loop *l, void *arg);

static void lookup_end(dns_watch *w)
{
	if (w->fd >= 0) {
		loop_unwatch(w->p->l, w->fd);
		close(w->fd);
		w->fd = -1;
	}
	if (w->timer) {
		loop_timer_cancel(w->p->l, w->timer);
		w->timer = NULL;
	}
	uint64_t next_ms;
	if (w->failed) {
		w->lookups_failed++;
		if (!w->was_failing)
			log_warn("proxy: DNS lookup of %s via %s failed (%s); keeping its %s engines, retrying every %d ms",
			         w->name, w->server_text, w->why, "current", DNS_RETRY_MS);
		w->was_failing = true;
		next_ms = DNS_RETRY_MS;
	} else {
		w->lookups_ok++;
		if (w->was_failing)
			log_info("proxy: DNS lookup of %s works again", w->name);
		w->was_failing = false;
		apply(w);
		/* No records (no such name yet, e.g. a headless Service before its
		 * pods are ready): ask again soon, not after the longest TTL. */
		uint32_t ttl = w->nfound ? w->ttl : DNS_EMPTY_RETRY_S;
		if (ttl < DNS_MIN_TTL_S)
			ttl = DNS_MIN_TTL_S;
		if (ttl > DNS_MAX_TTL_S)
			ttl = DNS_MAX_TTL_S;
		next_ms = (uint64_t)ttl * 1000;
	}
	w->timer = loop_timer_add(w->p->l, next_ms, lookup_start, w);
}

static void lookup_timeout(loop *l, void *arg)
{
	dns_watch *w = arg;
	w->timer = NULL;
	w->failed = true;
	snprintf(w->why, sizeof w->why, "no answer within %d ms", DNS_TIMEOUT_MS);
	lookup_end(w);
}

static void take_answer(dns_watch *w, size_t q, const dns_answer *a)
{
	w->done[q] = true;
	if (a->rcode != DNS_RCODE_NOERROR && a->rcode != DNS_RCODE_NXDOMAIN) {
		w->failed = true;
		snprintf(w->why, sizeof w->why, "%s query answered rcode %d", q ? "AAAA" : "A", a->rcode);
		return;
	}
	if (a->truncated)
		log_debug("proxy: DNS answer for %s truncated; using the %zu records it holds", w->name, a->naddrs);
	for (size_t i = 0; i < a->naddrs && w->nfound < DNS_MAX_FOUND; i++) {
		bool dup = false;
		for (size_t k = 0; k < w->nfound && !dup; k++)
			dup = w->found[k].family == a->addrs[i].family &&
			      !memcmp(w->found[k].addr, a->addrs[i].addr, a->addrs[i].family == AF_INET ? 4 : 16);
		if (!dup)
			w->found[w->nfound++] = a->addrs[i];
	}
	if (a->min_ttl < w->ttl)
		w->ttl = a->min_ttl;
}

static void on_readable(loop *l, int fd, unsigned events, void *arg)
{
	dns_watch *w = arg;
	for (int n = 0; n < 16; n++) {   /* bounded: stray datagrams cannot hold the loop */
		uint8_t pkt[DNS_MAX_UDP + 256];
		ssize_t len = recv(fd, pkt, sizeof pkt, 0);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			w->failed = true;   /* e.g. ECONNREFUSED: nothing listens there */
			snprintf(w->why, sizeof w->why, "%s", strerror(errno));
			lookup_end(w);
			return;
		}
		dns_answer *a = malloc(sizeof *a);
		if (!a)
			return;
		for (size_t q = 0; q < 2; q++)
			if (!w->done[q] && dns_parse_response(pkt, (size_t)len, w->id[q], w->name, qtypes[q], a) == 0)
				take_answer(w, q, a);
		free(a);
		if (w->done[0] && w->done[1]) {
			lookup_end(w);
			return;
		}
	}
}

static void lookup_start(loop *l, void *arg)
{
	dns_watch *w = arg;
	w->timer = NULL;
	w->failed = false;
	w->done[0] = w->done[1] = false;
	w->nfound = 0;
	w->ttl = UINT32_MAX;
	uint16_t ids[2];
	if (getrandom(ids, sizeof ids, 0) != sizeof ids) {   /* unpredictable ids: no blind spoofing */
		ids[0] = (uint16_t)mono_ns();
		ids[1] = (uint16_t)(ids[0] ^ 0x5a5a);
	}
	if (ids[1] == ids[0])
		ids[1] ^= 1;
	w->id[0] = ids[0];
	w->id[1] = ids[1];
	w->fd = socket(w->server.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/* connect: only the nameserver's datagrams reach this socket */
	if (w->fd < 0 || connect(w->fd, (struct sockaddr *)&w->server, w->server_len) < 0 ||
	    loop_watch(l, w->fd, LOOP_READ, on_readable, w) < 0) {
		w->failed = true;
		snprintf(w->why, sizeof w->why, "socket: %s", strerror(errno));
		lookup_end(w);
		return;
	}
	for (size_t q = 0; q < 2; q++) {
		uint8_t pkt[DNS_MAX_NAME + 32];
		int n = dns_build_query(pkt, sizeof pkt, w->id[q], w->name, qtypes[q]);
		if (n < 0 || send(w->fd, pkt, (size_t)n, 0) != n) {
			w->failed = true;
			snprintf(w->why, sizeof w->why, "send: %s", n < 0 ? "bad name" : strerror(errno));
			lookup_end(w);
			return;
		}
	}
	w->timer = loop_timer_add(l, DNS_TIMEOUT_MS, lookup_timeout, w);
}

/* ---------------------------------------------------------------- API */

int proxy_dns_add(proxy *p, const char *url, char *err, size_t errlen)
{
	const char *s = url + strlen("dns://");
	const char *colon = strrchr(s, ':');
	char *end = NULL;
	unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
	if (!colon || !colon[1] || *end || !port || port > 65535) {
		snprintf(err, errlen, "%s: expected dns://NAME:PORT", url);
		return -1;
	}
	size_t nl = (size_t)(colon - s);
	dns_watch *w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	w->fd = -1;
	w->p = p;
	w->port = (uint16_t)port;
	if (nl >= sizeof w->name) {
		free(w);
		snprintf(err, errlen, "%s: name too long", url);
		return -1;
	}
	memcpy(w->name, s, nl);
	w->name[nl] = 0;
	if (!dns_name_valid(w->name)) {
		free(w);
		snprintf(err, errlen, "%s: '%.*s' is not a valid host name", url, (int)nl, s);
		return -1;
	}
	const char *server = p->o.dns_server;
	if (!server[0]) {
		if (resolv_conf_server(w->server_text, sizeof w->server_text) < 0) {
			free(w);
			snprintf(err, errlen, "%s: no nameserver in /etc/resolv.conf (set --dns-server IP:PORT)", url);
			return -1;
		}
		server = w->server_text;
	}
	if (parse_server(server, &w->server, &w->server_len) < 0) {
		free(w);
		snprintf(err, errlen, "--dns-server %s: expected IP, IP:PORT or [IPv6]:PORT", server);
		return -1;
	}
	snprintf(w->server_text, sizeof w->server_text, "%s", server);
	w->index = p->ndns;
	p->dns[p->ndns++] = w;
	w->timer = loop_timer_add(p->l, 0, lookup_start, w);
	log_info("proxy: engines of %s (port %lu) come from DNS via %s", w->name, port, w->server_text);
	return 0;
}

void proxy_dns_metrics(const proxy *p, buf *b)
{
	if (!p->ndns)
		return;
	buf_puts(b, "# HELP piston_proxy_dns_lookups_total DNS lookups of dns:// upstreams.\n"
	            "# TYPE piston_proxy_dns_lookups_total counter\n");
	for (size_t i = 0; i < p->ndns; i++) {
		const dns_watch *w = p->dns[i];
		buf_printf(b, "piston_proxy_dns_lookups_total{name=\"%s\",result=\"ok\"} %llu\n", w->name,
		           (unsigned long long)w->lookups_ok);
		buf_printf(b, "piston_proxy_dns_lookups_total{name=\"%s\",result=\"failed\"} %llu\n", w->name,
		           (unsigned long long)w->lookups_failed);
	}
	buf_puts(b, "# TYPE piston_proxy_dns_engines_changed_total counter\n");
	for (size_t i = 0; i < p->ndns; i++) {
		const dns_watch *w = p->dns[i];
		buf_printf(b, "piston_proxy_dns_engines_changed_total{name=\"%s\",change=\"added\"} %llu\n", w->name,
		           (unsigned long long)w->added);
		buf_printf(b, "piston_proxy_dns_engines_changed_total{name=\"%s\",change=\"removed\"} %llu\n", w->name,
		           (unsigned long long)w->removed);
	}
}

void proxy_dns_free_all(proxy *p)
{
	for (size_t i = 0; i < p->ndns; i++) {
		dns_watch *w = p->dns[i];
		if (w->fd >= 0) {
			loop_unwatch(p->l, w->fd);
			close(w->fd);
		}
		if (w->timer)
			loop_timer_cancel(p->l, w->timer);
		free(w);
	}
	p->ndns = 0;
}
