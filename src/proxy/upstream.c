#include "upstream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_parse.h"
#include "log.h"

#define UP_MAX_HEAD (64 * 1024)

typedef enum { CS_CONNECTING, CS_WRITING, CS_READING } call_state;

struct up_call {
	upstream *u;
	int fd;
	bool reused;                   /* the connection came from the pool */
	bool head_request;
	call_state state;
	buf out;
	size_t out_off;
	buf in;
	/* response parsing */
	bool have_head;
	size_t head_len;
	http_response_head head;
	http_body_kind kind;
	uint64_t length;
	http_chunked chunked;
	size_t raw_pos;                /* chunked: next undecoded byte */
	size_t body_have;              /* chunked: decoded bytes (after the head) */
	loop_timer *timer;
	up_done_fn *fn;
	void *arg;
};

const char *up_result_text(up_result r)
{
	switch (r) {
	case UP_OK: return "ok";
	case UP_ERR_CONNECT: return "could not connect";
	case UP_ERR_BROKEN: return "the engine closed the connection before answering";
	case UP_ERR_TIMEOUT: return "the engine did not answer in time";
	case UP_ERR_PROTOCOL: return "the engine's answer was malformed or too large";
	}
	return "?";
}

/* ---------------------------------------------------------- setup */

int upstream_init(upstream *u, loop *l, const char *url, char *err, size_t errlen)
{
	memset(u, 0, sizeof *u);
	u->l = l;
	if (strlen(url) >= sizeof u->url) {
		snprintf(err, errlen, "URL too long");
		return -1;
	}
	snprintf(u->url, sizeof u->url, "%s", url);
	if (strncmp(url, "http://", 7)) {
		snprintf(err, errlen, "%s: only http:// upstream URLs are supported", url);
		return -1;
	}
	const char *p = url + 7;
	size_t hl = strcspn(p, "/");
	if (p[hl] && strcmp(p + hl, "/")) {
		snprintf(err, errlen, "%s: an upstream URL has no path", url);
		return -1;
	}
	char hostport[256];
	if (hl == 0 || hl >= sizeof hostport) {
		snprintf(err, errlen, "%s: missing or too long host", url);
		return -1;
	}
	memcpy(hostport, p, hl);
	hostport[hl] = 0;
	snprintf(u->host_header, sizeof u->host_header, "%s", hostport);
	char host[256], port[8] = "80";
	if (hostport[0] == '[') {
		char *close = strchr(hostport, ']');
		if (!close) {
			snprintf(err, errlen, "%s: bad IPv6 address", url);
			return -1;
		}
		*close = 0;
		snprintf(host, sizeof host, "%s", hostport + 1);
		if (close[1] == ':')
			snprintf(port, sizeof port, "%.7s", close + 2);
		else if (close[1]) {
			snprintf(err, errlen, "%s: bad host", url);
			return -1;
		}
	} else {
		char *colon = strchr(hostport, ':');
		if (colon) {
			*colon = 0;
			snprintf(port, sizeof port, "%.7s", colon + 1);
		}
		snprintf(host, sizeof host, "%s", hostport);
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (!port[0] || *end || pn < 1 || pn > 65535) {
		snprintf(err, errlen, "%s: bad port", url);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc || !res) {
		snprintf(err, errlen, "%s: cannot resolve %s: %s", url, host, gai_strerror(rc));
		return -1;
	}
	memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
	u->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	u->healthy = false;   /* until the first health check answers */
	return 0;
}

int upstream_connect(const upstream *u)
{
	int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)&u->addr, u->addrlen) < 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ---------------------------------------------------------- idle pool */

static void pool_remove_at(upstream *u, size_t i)
{
	loop_unwatch(u->l, u->idle[i]);
	close(u->idle[i]);
	u->nidle--;
	u->idle[i] = u->idle[u->nidle];
	u->idle_since[i] = u->idle_since[u->nidle];
}

/* An idle connection became readable: the engine closed it (or sent bytes
 * nobody asked for). Either way it is no longer usable. */
static void on_idle_event(loop *l, int fd, unsigned events, void *arg)
{
	upstream *u = arg;
	for (size_t i = 0; i < u->nidle; i++)
		if (u->idle[i] == fd) {
			pool_remove_at(u, i);
			return;
		}
	loop_unwatch(l, fd);
	close(fd);
}

static void pool_put(upstream *u, int fd)
{
	if (u->nidle == UP_POOL_MAX || loop_watch(u->l, fd, LOOP_READ, on_idle_event, u) < 0) {
		loop_unwatch(u->l, fd);
		close(fd);
		return;
	}
	u->idle[u->nidle] = fd;
	u->idle_since[u->nidle] = loop_now(u->l);
	u->nidle++;
}

/* The most recently pooled connection that is still young enough. */
static int pool_take(upstream *u)
{
	uint64_t now = loop_now(u->l);
	while (u->nidle) {
		size_t i = u->nidle - 1;
		int fd = u->idle[i];
		if (now - u->idle_since[i] >= UP_IDLE_MAX_MS) {
			pool_remove_at(u, i);
			continue;
		}
		/* The engine may have closed it (or died) a moment ago, before the
		 * loop delivered the event: a peek costs one syscall and saves a
		 * request from being sent into a dead connection. */
		char probe_byte;
		ssize_t r = recv(fd, &probe_byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (!(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
			pool_remove_at(u, i);
			continue;
		}
		u->nidle--;
		return fd;   /* still registered: the caller re-watches it (one MOD) */
	}
	return -1;
}

void upstream_expire_idle(upstream *u, uint64_t now_ms)
{
	for (size_t i = 0; i < u->nidle;) {
		if (now_ms - u->idle_since[i] >= UP_IDLE_MAX_MS)
			pool_remove_at(u, i);
		else
			i++;
	}
}

void upstream_close_idle(upstream *u)
{
	while (u->nidle)
		pool_remove_at(u, u->nidle - 1);
}

/* ---------------------------------------------------------- calls */

static void call_io(loop *l, int fd, unsigned events, void *arg);

static void call_free(up_call *c, bool pool_connection)
{
	upstream *u = c->u;
	if (c->timer)
		loop_timer_cancel(u->l, c->timer);
	if (c->fd >= 0) {
		if (pool_connection && u->healthy) {
			pool_put(u, c->fd);
		} else {
			loop_unwatch(u->l, c->fd);
			close(c->fd);
		}
	}
	u->in_flight--;
	buf_free(&c->out);
	buf_free(&c->in);
	free(c);
}

static void call_finish(up_call *c, up_result r, const up_response *res, bool pool_connection)
{
	if (r != UP_OK)
		c->u->failures++;
	up_done_fn *fn = c->fn;
	void *arg = c->arg;
	/* The response points into c->in: call back first, free after. */
	if (c->timer) {
		loop_timer_cancel(c->u->l, c->timer);
		c->timer = NULL;
	}
	/* A pooled connection stays registered (re-watched once in pool_put);
	 * any other is silenced before the callback runs. */
	if (c->fd >= 0 && !(pool_connection && c->u->healthy))
		loop_unwatch(c->u->l, c->fd);
	fn(arg, r, res);
	call_free(c, pool_connection);
}

static void call_timeout(loop *l, void *arg)
{
	up_call *c = arg;
	c->timer = NULL;
	call_finish(c, c->state == CS_CONNECTING ? UP_ERR_CONNECT : UP_ERR_TIMEOUT, NULL, false);
}

/* A fresh connection for a call whose pooled one failed before any byte of
 * the request could have been processed (or the first connect). */
static bool call_connect(up_call *c)
{
	c->fd = upstream_connect(c->u);
	if (c->fd < 0)
		return false;
	c->reused = false;
	c->state = CS_CONNECTING;
	return loop_watch(c->u->l, c->fd, LOOP_WRITE, call_io, c) == 0;
}

up_call *up_call_start(upstream *u, buf *request, bool head_request,
                       uint64_t timeout_ms, up_done_fn *fn, void *arg)
{
	up_call *c = buf_failed(request) || !request->len ? NULL : calloc(1, sizeof *c);
	if (!c) {
		buf_free(request);
		return NULL;
	}
	c->u = u;
	c->fn = fn;
	c->arg = arg;
	c->head_request = head_request;
	c->fd = -1;
	c->out = *request;
	*request = (buf)BUF_INIT;
	u->in_flight++;
	u->requests++;
	c->timer = loop_timer_add(u->l, timeout_ms, call_timeout, c);
	int fd;
	while ((fd = pool_take(u)) >= 0) {
		/* A pooled connection is writable: send now rather than wait a
		 * loop iteration for EPOLLOUT (the request usually fits at once). */
		ssize_t n = send(fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			/* the engine dropped it; nothing of this request went out */
			loop_unwatch(u->l, fd);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->reused = true;
		c->out_off = n > 0 ? (size_t)n : 0;
		if (c->out_off == c->out.len) {
			c->state = CS_READING;
			buf_free(&c->out);
			c->out_off = 0;
			loop_watch(u->l, fd, LOOP_READ, call_io, c);
		} else {
			c->state = CS_WRITING;
			loop_watch(u->l, fd, LOOP_WRITE | LOOP_READ, call_io, c);
		}
		return c;
	}
	if (!call_connect(c)) {
		/* Report asynchronously: callers expect the callback after return. */
		if (c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
		if (c->timer)
			loop_timer_cancel(u->l, c->timer);
		c->state = CS_CONNECTING;
		c->timer = loop_timer_add(u->l, 0, call_timeout, c);
	}
	return c;
}

void up_call_cancel(up_call *c)
{
	if (c)
		call_free(c, false);
}

static const char *find_header(const http_response_head *h, const char *name, size_t *len)
{
	const http_header *x = http_find_header(h->headers, h->nheaders, name);
	if (!x)
		return NULL;
	*len = x->value_len;
	return x->value;
}

/* Examine c->in; returns true when the call finished (c is freed). */
static bool try_complete(up_call *c, bool eof)
{
	if (!c->have_head) {
		ssize_t n = http_parse_response(c->in.data, c->in.len, UP_MAX_HEAD, &c->head);
		if (n == HTTP_PARSE_INCOMPLETE) {
			if (eof) {
				call_finish(c, UP_ERR_BROKEN, NULL, false);
				return true;
			}
			return false;
		}
		if (n < 0) {
			call_finish(c, UP_ERR_PROTOCOL, NULL, false);
			return true;
		}
		if (c->head.status >= 100 && c->head.status < 200) {
			/* interim (100 Continue): drop it and parse the real head */
			buf_consume(&c->in, (size_t)n);
			return try_complete(c, eof);
		}
		c->have_head = true;
		c->head_len = (size_t)n;
		if (http_body_framing(c->head.headers, c->head.nheaders, true, c->head.status, c->head_request,
		                      &c->kind, &c->length) < 0 ||
		    (c->kind == HTTP_BODY_LENGTH && c->length > UP_MAX_RESPONSE)) {
			call_finish(c, UP_ERR_PROTOCOL, NULL, false);
			return true;
		}
		c->raw_pos = c->head_len;
		c->body_have = 0;
	}
	size_t body_len = 0;
	bool complete = false, reusable = true;
	switch (c->kind) {
	case HTTP_BODY_NONE:
		complete = true;
		break;
	case HTTP_BODY_LENGTH:
		if (c->in.len - c->head_len >= c->length) {
			complete = true;
			body_len = (size_t)c->length;
			reusable = c->in.len - c->head_len == c->length;
		}
		break;
	case HTTP_BODY_CHUNKED: {
		size_t consumed = 0;
		ssize_t got = http_chunked_decode(&c->chunked, c->in.data + c->raw_pos, c->in.len - c->raw_pos,
		                                  &consumed);
		if (got < 0) {
			call_finish(c, UP_ERR_PROTOCOL, NULL, false);
			return true;
		}
		memmove(c->in.data + c->head_len + c->body_have, c->in.data + c->raw_pos, (size_t)got);
		c->body_have += (size_t)got;
		c->raw_pos += consumed;
		if (c->chunked.done) {
			complete = true;
			body_len = c->body_have;
			reusable = c->raw_pos == c->in.len;
		}
		break;
	}
	case HTTP_BODY_UNTIL_CLOSE:
		if (eof) {
			complete = true;
			body_len = c->in.len - c->head_len;
			reusable = false;
		}
		break;
	}
	if (!complete) {
		if (eof) {
			call_finish(c, UP_ERR_BROKEN, NULL, false);
			return true;
		}
		return false;
	}
	/* c->in may have moved since the head was parsed: parse it again so the
	 * header pointers point into the buffer as it is now. */
	if (http_parse_response(c->in.data, c->head_len, UP_MAX_HEAD, &c->head) != (ssize_t)c->head_len) {
		call_finish(c, UP_ERR_PROTOCOL, NULL, false);
		return true;
	}
	size_t conn_len = 0;
	const char *conn = find_header(&c->head, "Connection", &conn_len);
	if (c->head.minor_version == 0 ? !(conn && http_header_has_token(conn, conn_len, "keep-alive"))
	                               : (conn && http_header_has_token(conn, conn_len, "close")))
		reusable = false;
	if (eof)
		reusable = false;
	up_response res = {.status = c->head.status, .body = c->in.data + c->head_len, .body_len = body_len};
	res.content_type = find_header(&c->head, "Content-Type", &res.content_type_len);
	size_t dl = 0;   /* HEALTH_DRAINING_HEADER (health.h) */
	res.draining = find_header(&c->head, "X-Piston-Draining", &dl) != NULL;
	call_finish(c, UP_OK, &res, reusable);
	return true;
}

static void call_io(loop *l, int fd, unsigned events, void *arg)
{
	up_call *c = arg;
	if (c->state == CS_CONNECTING) {
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			call_finish(c, UP_ERR_CONNECT, NULL, false);
			return;
		}
		c->state = CS_WRITING;
	}
	if (c->state == CS_WRITING) {
		while (c->out_off < c->out.len) {
			ssize_t n = send(fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					loop_watch(l, fd, LOOP_READ | LOOP_WRITE, call_io, c);
					return;
				}
				call_finish(c, UP_ERR_BROKEN, NULL, false);
				return;
			}
			c->out_off += (size_t)n;
		}
		buf_free(&c->out);
		c->out_off = 0;
		c->state = CS_READING;
		loop_watch(l, fd, LOOP_READ, call_io, c);
		if (!(events & LOOP_READ))
			return;
	}
	for (;;) {
		ssize_t n = recv(fd, c->u->scratch, sizeof c->u->scratch, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			try_complete(c, true);
			return;
		}
		if (n == 0) {
			try_complete(c, true);
			return;
		}
		buf_append(&c->in, c->u->scratch, (size_t)n);
		if (buf_failed(&c->in) || c->in.len > UP_MAX_RESPONSE + UP_MAX_HEAD) {
			call_finish(c, UP_ERR_PROTOCOL, NULL, false);
			return;
		}
		if ((size_t)n < sizeof c->u->scratch)   /* short read: drained for now */
			break;
	}
	try_complete(c, false);
}
