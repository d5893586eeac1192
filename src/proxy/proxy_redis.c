/*
 * proxy_redis: admissions that wait for Redis (`--redis`). The request is
 * copied (an http_request lives only during its handler), the handler
 * returns with the response pending, and when Redis answers -- or does not
 * in time -- the same handler runs again on the copy with the verdict in
 * p->redo, so every route's admission goes through one proxy_admit.
 */
#include "proxy_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct deferred {
	proxy *p;
	http_conn *c;
	http_handler *h;
	http_request req;              /* points into mem */
	char mem[];
} deferred;

static void copy_str(char **at, const char *s, size_t n, const char **out)
{
	if (!s) {
		*out = NULL;
		return;
	}
	memcpy(*at, s, n);
	(*at)[n] = 0;
	*out = *at;
	*at += n + 1;
}

static deferred *copy_request(const http_request *req)
{
	size_t need = req->method_len + req->path_len + req->query_len + req->body_len + 8;
	need += req->peer ? strlen(req->peer) + 1 : 0;
	for (size_t i = 0; i < req->nheaders; i++)
		need += req->headers[i].name_len + req->headers[i].value_len + 2;
	deferred *d = malloc(sizeof *d + need);
	if (!d)
		return NULL;
	d->req = *req;
	char *at = d->mem;
	copy_str(&at, req->method, req->method_len, &d->req.method);
	copy_str(&at, req->path, req->path_len, &d->req.path);
	copy_str(&at, req->query, req->query_len, &d->req.query);
	for (size_t i = 0; i < req->nheaders; i++) {
		copy_str(&at, req->headers[i].name, req->headers[i].name_len, &d->req.headers[i].name);
		copy_str(&at, req->headers[i].value, req->headers[i].value_len, &d->req.headers[i].value);
	}
	copy_str(&at, req->body ? req->body : "", req->body_len, &d->req.body);
	copy_str(&at, req->peer, req->peer ? strlen(req->peer) : 0, &d->req.peer);
	return d;
}

static void deferred_gone(void *arg)
{
	deferred *d = arg;
	redis_take_cancel(d->p->redis, d);
	free(d);
}

static void deferred_done(void *arg, const redis_verdict *v)
{
	deferred *d = arg;
	proxy *p = d->p;
	http_conn_on_close(d->c, NULL, NULL);
	admit_redo redo = {.c = d->c, .v = *v};
	const admit_redo *outer = p->redo;
	p->redo = &redo;
	d->h(d->c, &d->req, p);
	p->redo = outer;
	free(d);
}

bool proxy_redis_defer(proxy *p, http_conn *c, const http_request *req, http_handler *self, const char *key,
                       uint32_t rate, uint32_t burst, uint32_t cost)
{
	deferred *d = copy_request(req);
	if (!d) {
		redis_note_fallback(p->redis);
		return false;
	}
	d->p = p;
	d->c = c;
	d->h = self;
	if (!redis_take(p->redis, key, rate, burst, cost, deferred_done, d)) {
		free(d);
		return false;
	}
	http_conn_on_close(c, deferred_gone, d);
	return true;
}

void proxy_redis_metrics(const proxy *p, buf *b)
{
	if (!p->redis)
		return;
	redis_stats st;
	redis_get_stats(p->redis, &st);
	buf_printf(b, "# HELP piston_proxy_redis_up 1 while rate limits are shared through Redis.\n"
	              "# TYPE piston_proxy_redis_up gauge\npiston_proxy_redis_up %d\n"
	              "# TYPE piston_proxy_redis_admissions_total counter\n"
	              "piston_proxy_redis_admissions_total{decided=\"redis\"} %llu\n"
	              "piston_proxy_redis_admissions_total{decided=\"local\"} %llu\n"
	              "# TYPE piston_proxy_redis_timeouts_total counter\npiston_proxy_redis_timeouts_total %llu\n"
	              "# TYPE piston_proxy_redis_reconnects_total counter\npiston_proxy_redis_reconnects_total %llu\n",
	           st.up, (unsigned long long)st.admissions, (unsigned long long)st.fallbacks,
	           (unsigned long long)st.timeouts, (unsigned long long)st.reconnects);
}
