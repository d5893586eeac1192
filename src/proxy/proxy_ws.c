/*
 * proxy_ws: the proxy's WebSocket tunnel (GET /api/v2/connect).
 *
 * The proxy answers the handshake itself, reads the client's first frame
 * (the init message) to learn the language, then opens the engine's
 * WebSocket with the same key, checks its 101, and from there moves bytes
 * both ways untouched. The init frame and anything behind it is replayed
 * to the engine right behind its handshake request.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_parse.h"
#include "proxy_int.h"
#include "ws.h"

#define TUNNEL_CHUNK (64 * 1024)
#define TUNNEL_FIRST_MAX (1024 * 1024)   /* bytes held while waiting for init */
#define TUNNEL_INIT_WAIT_MS 1000         /* then route without a language */

typedef enum { T_AWAIT_INIT, T_CONNECTING, T_HANDSHAKE, T_PUMP } tunnel_state;

typedef struct pipe_dir {
	int from, to;
	buf pending;                   /* read from `from`, not yet written to `to` */
	size_t off;
	bool eof, shut;
} pipe_dir;

struct tunnel {
	proxy *p;
	tunnel *prev, *next;
	tunnel_state state;
	engine_up *e;
	int cfd, ufd;
	uint64_t tried;
	pipe_dir up, down;             /* up: client -> engine; down: engine -> client */
	buf head;                      /* the upgrade request for the engine */
	buf first;                     /* client bytes read before an engine was chosen */
	buf reply;                     /* the engine's handshake answer, until complete */
	char lang[64], version[64];
	loop_timer *timer;
};

static void tunnel_io(loop *l, int fd, unsigned events, void *arg);

void proxy_tunnel_free(tunnel *t)
{
	proxy *p = t->p;
	if (t->timer)
		loop_timer_cancel(p->l, t->timer);
	if (t->cfd >= 0) {
		loop_unwatch(p->l, t->cfd);
		close(t->cfd);
	}
	if (t->ufd >= 0) {
		loop_unwatch(p->l, t->ufd);
		close(t->ufd);
	}
	if (t->e)
		t->e->u.in_flight--;
	if (t->prev)
		t->prev->next = t->next;
	else
		p->tunnels = t->next;
	if (t->next)
		t->next->prev = t->prev;
	p->ntunnels--;
	buf_free(&t->up.pending);
	buf_free(&t->down.pending);
	buf_free(&t->head);
	buf_free(&t->first);
	buf_free(&t->reply);
	free(t);
}

/* No engine: tell the client in the protocol's own terms, then close. */
static void tunnel_fail(tunnel *t, const char *msg)
{
	buf b = BUF_INIT, m = BUF_INIT;
	buf_append(&b, t->down.pending.data + t->down.off, t->down.pending.len - t->down.off);
	buf_puts(&m, "{\"type\":\"error\",\"message\":");
	json_escape(&m, msg, strlen(msg));
	buf_putc(&m, '}');
	ws_encode(&b, WS_OP_TEXT, m.data, m.len, NULL);
	ws_encode_close(&b, 1013, "Try Again Later", 15, NULL);
	if (!buf_failed(&b))
		(void)send(t->cfd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	t->p->no_engine++;
	buf_free(&b);
	buf_free(&m);
	proxy_tunnel_free(t);
}

static void tunnel_rewatch(tunnel *t)
{
	proxy *p = t->p;
	unsigned ce = 0, ue = 0;
	bool down_pending = t->down.pending.len > t->down.off;
	switch (t->state) {
	case T_AWAIT_INIT:
		ce = LOOP_READ | (down_pending ? LOOP_WRITE : 0);
		break;
	case T_CONNECTING:
		ce = down_pending ? LOOP_WRITE : 0;
		ue = LOOP_WRITE;
		break;
	case T_HANDSHAKE:
		ce = down_pending ? LOOP_WRITE : 0;
		ue = LOOP_READ | (t->up.pending.len > t->up.off ? LOOP_WRITE : 0);
		break;
	case T_PUMP:
		if (!t->up.eof && t->up.pending.len == t->up.off)
			ce |= LOOP_READ;
		if (!t->down.eof && !down_pending)
			ue |= LOOP_READ;
		if (t->up.pending.len > t->up.off)
			ue |= LOOP_WRITE;
		if (down_pending)
			ce |= LOOP_WRITE;
		break;
	}
	loop_watch(p->l, t->cfd, ce, tunnel_io, t);
	if (t->ufd >= 0)
		loop_watch(p->l, t->ufd, ue, tunnel_io, t);
}

/* Connect to the next engine (least loaded, with the language when known). */
static void tunnel_next_engine(tunnel *t)
{
	proxy *p = t->p;
	if (t->timer) {
		loop_timer_cancel(p->l, t->timer);
		t->timer = NULL;
	}
	if (t->ufd >= 0) {
		loop_unwatch(p->l, t->ufd);
		close(t->ufd);
		t->ufd = -1;
	}
	if (t->e) {
		t->e->u.in_flight--;
		t->e = NULL;
	}
	for (;;) {
		engine_up *best = NULL;
		for (int pass = 0; pass < 2 && !best; pass++)
			for (size_t i = 0; i < p->nups; i++) {
				engine_up *e = &p->ups[i];
				if (!e->u.healthy || (t->tried >> i & 1))
					continue;
				/* pass 0: engines with the language; pass 1 (no engine has
				 * ever listed it): any engine, which reports the unknown runtime */
				if (pass == 0 && t->lang[0] && !proxy_engine_has(e, t->lang, t->version[0] ? t->version : "*"))
					continue;
				if (pass == 1 && t->lang[0] &&
				    proxy_language_known(p, t->lang, t->version[0] ? t->version : "*"))
					break;   /* its engines are down: no engine, not "unknown" */
				if (!best || e->u.in_flight < best->u.in_flight)
					best = e;
			}
		if (!best) {
			tunnel_fail(t, "No engine is available for this request");
			return;
		}
		t->tried |= 1ull << (size_t)(best - p->ups);
		int fd = upstream_connect(&best->u);
		if (fd < 0) {
			proxy_mark_down(p, best, "connection refused or failed");
			continue;
		}
		t->e = best;
		best->u.in_flight++;
		t->ufd = fd;
		t->state = T_CONNECTING;
		t->up.to = t->down.from = fd;
		buf_reset(&t->up.pending);
		t->up.off = 0;
		buf_append(&t->up.pending, t->head.data, t->head.len);
		buf_append(&t->up.pending, t->first.data, t->first.len);
		buf_reset(&t->reply);
		if (buf_failed(&t->up.pending)) {
			tunnel_fail(t, "Out of memory");
			return;
		}
		tunnel_rewatch(t);
		return;
	}
}

/* One client frame at d[0..n): 1 complete (header fields filled), 0 need
 * more bytes, -1 not a frame the proxy should read (unmasked, too big). */
static int peek_frame(const unsigned char *d, size_t n, unsigned *op, bool *fin, size_t *hl, uint64_t *len)
{
	if (n < 2)
		return 0;
	*op = d[0] & 0x0f;
	*fin = d[0] & 0x80;
	if (!(d[1] & 0x80))
		return -1;
	*len = d[1] & 0x7f;
	*hl = 2;
	if (*len == 126) {
		if (n < 4)
			return 0;
		*len = (uint64_t)d[2] << 8 | d[3];
		*hl = 4;
	} else if (*len == 127) {
		if (n < 10)
			return 0;
		*len = 0;
		for (int i = 0; i < 8; i++)
			*len = *len << 8 | d[2 + i];
		*hl = 10;
	}
	*hl += 4;   /* the mask key */
	if (*len > TUNNEL_FIRST_MAX)
		return -1;
	return n >= *hl + *len ? 1 : 0;
}

/* Has the client's first message arrived (fragments reassembled, control
 * frames in between skipped)? Then take language and version from it when
 * it is an init message, and pick an engine. The bytes are not changed:
 * the engine gets them exactly as the client sent them. */
static void tunnel_check_first(tunnel *t, bool give_up)
{
	const unsigned char *d = (const unsigned char *)t->first.data;
	size_t n = t->first.len, pos = 0;
	buf msg = BUF_INIT;
	bool decided = false, text = false;
	while (!decided) {
		unsigned op;
		bool fin;
		size_t hl;
		uint64_t len;
		int r = peek_frame(d + pos, n - pos, &op, &fin, &hl, &len);
		if (r == 0)
			break;
		if (r < 0) {
			decided = true;   /* the engine will judge it */
			break;
		}
		const unsigned char *key = d + pos + hl - 4;
		if (op >= 8) {
			pos += hl + (size_t)len;   /* ping/pong/close between fragments */
			if (op == 8)
				decided = true;
			continue;
		}
		if ((msg.len == 0 && !text && op != 1) || (text && op != 0)) {
			decided = true;   /* not a text message: no language to read */
			break;
		}
		text = true;
		size_t at = msg.len;
		buf_append(&msg, d + pos + hl, (size_t)len);
		if (buf_failed(&msg) || msg.len > TUNNEL_FIRST_MAX) {
			decided = true;
			break;
		}
		if (len)
			ws_mask(msg.data + at, (size_t)len, key, 0);
		pos += hl + (size_t)len;
		if (fin) {
			json_error err;
			json_doc *doc = json_parse(msg.data ? msg.data : "", msg.len, &err);
			const json_value *root = doc ? json_root(doc) : NULL;
			const json_value *ty = json_get(root, "type"), *l = json_get(root, "language"),
			                 *v = json_get(root, "version");
			if (json_is(ty, JSON_STRING) && !strcmp(ty->u.string, "init")) {
				if (json_is(l, JSON_STRING) && l->len < sizeof t->lang && !memchr(l->u.string, 0, l->len))
					memcpy(t->lang, l->u.string, l->len + 1);
				if (json_is(v, JSON_STRING) && v->len < sizeof t->version && !memchr(v->u.string, 0, v->len))
					memcpy(t->version, v->u.string, v->len + 1);
			}
			json_free(doc);
			decided = true;
		}
	}
	buf_free(&msg);
	if (decided || give_up || t->first.len >= TUNNEL_FIRST_MAX)
		tunnel_next_engine(t);
	else
		tunnel_rewatch(t);   /* wait for the rest of the message */
}

static void tunnel_init_wait(loop *l, void *arg)
{
	tunnel *t = arg;
	t->timer = NULL;
	if (t->state == T_AWAIT_INIT)
		tunnel_check_first(t, true);
}

/* Move bytes one way; false when the tunnel must close. */
static bool pump(pipe_dir *d, bool can_read, bool can_write)
{
	if (can_write && d->pending.len > d->off) {
		ssize_t n = send(d->to, d->pending.data + d->off, d->pending.len - d->off, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return false;
		if (n > 0)
			d->off += (size_t)n;
		if (d->off == d->pending.len) {
			buf_reset(&d->pending);
			d->off = 0;
		}
	}
	if (can_read && !d->eof && d->pending.len == d->off) {
		if (!buf_reserve(&d->pending, TUNNEL_CHUNK))
			return false;
		ssize_t n = recv(d->from, d->pending.data, TUNNEL_CHUNK, 0);
		if (n == 0) {
			d->eof = true;
		} else if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return false;
		} else {
			d->pending.len = (size_t)n;
			d->off = 0;
			ssize_t w = send(d->to, d->pending.data, d->pending.len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				return false;
			if (w > 0)
				d->off = (size_t)w;
			if (d->off == d->pending.len) {
				buf_reset(&d->pending);
				d->off = 0;
			}
		}
	}
	if (d->eof && d->pending.len == d->off && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
	return true;
}

/* Bytes from the engine while its handshake answer is incomplete. */
static void tunnel_read_reply(tunnel *t)
{
	char tmp[4096];
	for (;;) {
		ssize_t n = recv(t->ufd, tmp, sizeof tmp, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			proxy_mark_down(t->p, t->e, "closed the connection during a WebSocket handshake");
			tunnel_next_engine(t);
			return;
		}
		buf_append(&t->reply, tmp, (size_t)n);
		http_response_head h;
		ssize_t hl = http_parse_response(t->reply.data, t->reply.len, 16384, &h);
		if (hl == HTTP_PARSE_INCOMPLETE && !buf_failed(&t->reply))
			continue;
		if (hl >= 0 && h.status == 503 && http_find_header(h.headers, h.nheaders, "X-Piston-Draining")) {
			t->e->draining = true;   /* out of rotation now, not at the next health check */
			proxy_mark_down(t->p, t->e, "draining (refused a WebSocket with X-Piston-Draining)");
			tunnel_next_engine(t);
			return;
		}
		if (hl < 0 || h.status != 101) {
			log_warn("proxy: engine %s refused a WebSocket (status %d)", t->e->u.url, hl < 0 ? 0 : h.status);
			tunnel_next_engine(t);
			return;
		}
		/* the client already has our 101: what follows the engine's goes on */
		buf_append(&t->down.pending, t->reply.data + hl, t->reply.len - (size_t)hl);
		buf_free(&t->reply);
		buf_free(&t->first);
		t->state = T_PUMP;
		return;
	}
}

static void tunnel_io(loop *l, int fd, unsigned events, void *arg)
{
	tunnel *t = arg;
	bool from_client = fd == t->cfd;
	bool rd = events & (LOOP_READ | LOOP_ERROR), wr = events & (LOOP_WRITE | LOOP_ERROR);
	if (from_client && wr && !pump(&t->down, false, true)) {
		proxy_tunnel_free(t);
		return;
	}
	switch (t->state) {
	case T_AWAIT_INIT:
		if (from_client && rd) {
			if (!buf_reserve(&t->first, TUNNEL_CHUNK)) {
				proxy_tunnel_free(t);
				return;
			}
			ssize_t n = recv(fd, t->first.data + t->first.len, TUNNEL_CHUNK, 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
				proxy_tunnel_free(t);   /* the client left before saying anything */
				return;
			}
			if (n > 0)
				t->first.len += (size_t)n;
			tunnel_check_first(t, false);
			return;   /* the tunnel may be gone; the next state re-watched */
		}
		break;
	case T_CONNECTING: {
		if (from_client)
			break;
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			proxy_mark_down(t->p, t->e, "connection refused or failed");
			tunnel_next_engine(t);
			return;
		}
		t->state = T_HANDSHAKE;
	}
		/* fall through */
	case T_HANDSHAKE:
		if (from_client)
			break;
		if (wr || t->up.pending.len > t->up.off) {
			if (!pump(&t->up, false, true)) {
				proxy_mark_down(t->p, t->e, "closed the connection during a WebSocket handshake");
				tunnel_next_engine(t);
				return;
			}
		}
		if (rd) {
			tunnel_read_reply(t);
			if (t->state != T_PUMP)
				return;   /* re-watched by tunnel_next_engine, or waiting */
		}
		break;
	case T_PUMP:
		if (from_client ? !pump(&t->up, rd, false) : !(pump(&t->down, rd, false) && pump(&t->up, false, wr))) {
			proxy_tunnel_free(t);
			return;
		}
		if (t->up.shut && t->down.shut) {
			proxy_tunnel_free(t);
			return;
		}
		break;
	}
	tunnel_rewatch(t);
}

static bool header_skipped(const http_header *h)
{
	static const char *const skip[] = {"Host", "Authorization", "X-Auth-Token", "X-Forwarded-For", "Content-Length"};
	for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
		if (h->name_len == strlen(skip[i]) && !strncasecmp(h->name, skip[i], h->name_len))
			return true;
	return false;
}

void proxy_ws_connect(http_conn *c, const http_request *req, void *ctx)
{
	proxy *p = ctx;
	admission a;
	if (!proxy_admit(p, c, req, false, &a, proxy_ws_connect))
		return;
	size_t ul = 0, kl = 0, vl = 0;
	const char *up = http_header_get(req, "Upgrade", &ul);
	const char *key = http_header_get(req, "Sec-WebSocket-Key", &kl);
	const char *ver = http_header_get(req, "Sec-WebSocket-Version", &vl);
	if (!up || !http_header_has_token(up, ul, "websocket")) {
		proxy_respond_msg(p, c, 426, a.rl, "This endpoint needs a WebSocket upgrade");
		return;
	}
	if (!ver || vl != 2 || memcmp(ver, "13", 2)) {
		proxy_respond_msg(p, c, 426, a.rl, "Unsupported WebSocket version (13 is supported)");
		return;
	}
	if (!key || !ws_key_valid(key, kl)) {
		proxy_respond_msg(p, c, 400, a.rl, "Missing or invalid Sec-WebSocket-Key");
		return;
	}
	tunnel *t = calloc(1, sizeof *t);
	if (!t) {
		proxy_respond_msg(p, c, 500, a.rl, "Out of memory");
		return;
	}
	t->p = p;
	t->ufd = -1;
	char xff[320];
	proxy_set_xff(xff, sizeof xff, req);
	buf_printf(&t->head, "GET /api/v2/connect%s%.*s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: %s\r\n",
	           req->query ? "?" : "", req->query ? (int)req->query_len : 0, req->query ? req->query : "",
	           "engine", xff);
	for (size_t i = 0; i < req->nheaders; i++) {
		const http_header *h = &req->headers[i];
		if (header_skipped(h))
			continue;
		buf_append(&t->head, h->name, h->name_len);
		buf_append(&t->head, ": ", 2);
		buf_append(&t->head, h->value, h->value_len);
		buf_append(&t->head, "\r\n", 2);
	}
	buf_append(&t->head, "\r\n", 2);
	char accept[29];
	ws_accept_key(key, kl, accept);
	buf_printf(&t->down.pending, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                             "Sec-WebSocket-Accept: %s\r\n%s%s\r\n", accept, proxy_cors_headers, a.rl);
	int cfd = -1;
	http_conn_detach(c, &cfd, &t->first);
	t->cfd = cfd;
	t->up.from = t->down.to = cfd;
	p->responses[1]++;
	t->next = p->tunnels;
	if (p->tunnels)
		p->tunnels->prev = t;
	p->tunnels = t;
	p->ntunnels++;
	if (buf_failed(&t->head) || buf_failed(&t->down.pending) || buf_failed(&t->first)) {
		proxy_tunnel_free(t);
		return;
	}
	t->state = T_AWAIT_INIT;
	if (!pump(&t->down, false, true)) {
		proxy_tunnel_free(t);
		return;
	}
	t->timer = loop_timer_add(p->l, TUNNEL_INIT_WAIT_MS, tunnel_init_wait, t);
	if (t->first.len)
		tunnel_check_first(t, false);   /* the init came right behind the handshake */
	else
		tunnel_rewatch(t);
}

