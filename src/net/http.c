/*
 * http: the HTTP/1.1 server.
 *
 * Design for the hot path (keep-alive GET of a cached body):
 * - Input is read into one server-wide scratch buffer and parsed there;
 *   only the tail of an incomplete request is copied into the connection's
 *   own buffer. An idle connection owns no input memory.
 * - Responses to a batch of pipelined requests are appended to the
 *   connection's output buffer and written with one send() after the batch.
 * - The epoll registration only changes when the wanted events change, and
 *   the per-connection deadline is a field: its timer is re-armed lazily
 *   when it fires, so a request costs no timer allocation.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "http_parse.h"
#include "json.h"
#include "log.h"

#define HTTP_MAX_CONNECTIONS 10000   /* further ones get a 503 and are closed */
#define HTTP_MAX_ROUTES 64
#define SCRATCH_SIZE (64 * 1024)
#define LINGER_MS 2000            /* how long a closing connection drains input */
#define PENDING_INPUT_CAP (256 * 1024)  /* pipelined bytes held while a handler works */
#define OUT_KEEP_CAP (64 * 1024)  /* larger output buffers are freed when drained */
#define OUT_HIGH_WATER (256 * 1024) /* unsent output above which we stop reading requests */

typedef struct route {
	const char *method, *path;
	size_t path_len;
	http_handler *fn;
	void *ctx;
} route;

typedef enum {
	ST_READ,      /* reading a request */
	ST_HANDLER,   /* a handler owns the current request (maybe async) */
	ST_LINGER,    /* response sent, write side shut: draining input, then close */
} conn_state;

struct http_conn {
	http_server *s;
	http_conn *prev, *next;
	int fd;
	conn_state state;
	unsigned watched;         /* events currently registered with the loop */
	buf in;                   /* the unprocessed tail of the input */
	buf out;
	size_t out_off;           /* bytes of out already written */
	uint64_t deadline;        /* loop ms; 0 = none (a handler is working) */
	loop_timer *timer;
	uint64_t timer_due;       /* when `timer` fires */
	/* the request being read (offsets from its first byte) */
	bool have_head, sent_continue;
	size_t head_len;
	http_body_kind body_kind;
	uint64_t body_len;        /* Content-Length */
	http_chunked chunked;
	size_t raw_pos;           /* chunked: next undecoded byte */
	size_t body_have;         /* chunked: decoded payload bytes */
	/* the response being produced */
	bool head_request, close_after, keep_alive_header;
	unsigned served;          /* requests answered on this connection */
	int busy;                 /* >0 while our code is on the stack for this conn */
	bool dead;                /* closed while busy: free when busy drops to 0 */
	bool processing;          /* inside process(): responses are flushed after */
	bool detached;
	bool throttled;           /* process() stopped: too much unsent output */
	const char *rest;         /* during a handler: bytes after the current request */
	size_t rest_len;
	void (*on_close)(void *arg);
	void *on_close_arg;
	char peer[INET6_ADDRSTRLEN];
};

struct http_server {
	loop *l;
	int listen_fd;
	int port;
	bool accepting;
	loop_timer *accept_pause;
	route routes[HTTP_MAX_ROUTES];
	size_t nroutes;
	http_conn *conns;
	size_t nconns;
	size_t max_conns;         /* HTTP_MAX_CONNECTIONS, or less if descriptors are few
	                             (set at the first accept, once other modules hold theirs) */
	http_request req;         /* the request handed to a handler (one at a time) */
	time_t date_sec;          /* the second `date` was formatted for */
	char date[40];            /* "\r\nDate: Wed, 25 Nov 2026 20:14:45 GMT" */
	size_t date_len;
	char scratch[SCRATCH_SIZE];
};

static void conn_io(loop *l, int fd, unsigned events, void *arg);
static void conn_timer(loop *l, void *arg);
static void flush(http_conn *c);

/* ---------------------------------------------------------- status texts */

const char *http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	case 507: return "Insufficient Storage";
	default: return status < 200 ? "Informational" : status < 300 ? "Success" :
	                status < 400 ? "Redirection" : status < 500 ? "Client Error" : "Server Error";
	}
}

/* ---------------------------------------------------------- connections */

static void set_events(http_conn *c, unsigned events)
{
	if (c->watched == events)
		return;
	if (loop_watch(c->s->l, c->fd, events, conn_io, c) == 0)
		c->watched = events;
}

static void arm_deadline(http_conn *c, uint64_t after_ms)
{
	loop *l = c->s->l;
	c->deadline = loop_now(l) + after_ms;
	/* An armed timer that fires earlier re-arms itself for the rest; only
	 * a nearer deadline (a lingering close) needs a new one. */
	if (c->timer && c->timer_due > c->deadline) {
		loop_timer_cancel(l, c->timer);
		c->timer = NULL;
	}
	if (!c->timer) {
		c->timer = loop_timer_add(l, after_ms, conn_timer, c);
		c->timer_due = c->deadline;
	}
}

static void conn_free(http_conn *c)
{
	http_server *s = c->s;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	if (c->timer)
		loop_timer_cancel(s->l, c->timer);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* Closes the socket now; the memory goes when no caller is using it. */
static void conn_close(http_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	if (c->state == ST_HANDLER && c->on_close) {
		void (*fn)(void *) = c->on_close;
		c->on_close = NULL;
		fn(c->on_close_arg);
	}
	if (c->fd >= 0) {
		loop_unwatch(c->s->l, c->fd);
		close(c->fd);
		c->fd = -1;
	}
	if (!c->busy)
		conn_free(c);
}

static void conn_release(http_conn *c)
{
	if (--c->busy == 0 && c->dead)
		conn_free(c);
}

/* ---------------------------------------------------------- responses */

static void put_uint(buf *b, uint64_t v)
{
	char tmp[24];
	size_t i = sizeof tmp;
	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_append(b, tmp + i, sizeof tmp - i);
}

/* The Date header (RFC 9110 6.6.1), formatted at most once a second. */
static void put_date(http_server *s, buf *o)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	if (ts.tv_sec != s->date_sec || !s->date_len) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		s->date_len = strftime(s->date, sizeof s->date, "\r\nDate: %a, %d %b %Y %H:%M:%S GMT", &tm);
		s->date_sec = ts.tv_sec;
	}
	buf_append(o, s->date, s->date_len);
}

/* Appends a whole response to the output and ends the current request. */
static void respond(http_conn *c, int status, const char *content_type, const char *extra,
                    const void *body, size_t len)
{
	buf *o = &c->out;
	if (c->s->accepting == false && c->s->listen_fd < 0)
		c->close_after = true;   /* shutting down: finish this one and go */
	static const char proto[] = "HTTP/1.1 ";
	buf_reserve(o, 128 + len + (extra ? strlen(extra) : 0));
	buf_append(o, proto, sizeof proto - 1);
	put_uint(o, (uint64_t)status);
	buf_putc(o, ' ');
	buf_puts(o, http_status_text(status));
	put_date(c->s, o);
	if (content_type) {
		buf_append(o, "\r\nContent-Type: ", 16);
		buf_puts(o, content_type);
	}
	if (status >= 200 && status != 204 && status != 304) {
		buf_append(o, "\r\nContent-Length: ", 18);
		put_uint(o, len);
	}
	if (c->close_after)
		buf_append(o, "\r\nConnection: close", 19);
	else if (c->keep_alive_header)
		buf_append(o, "\r\nConnection: keep-alive", 24);
	buf_append(o, "\r\n", 2);
	if (extra)
		buf_puts(o, extra);
	buf_append(o, "\r\n", 2);
	if (!c->head_request && len)
		buf_append(o, body, len);
	if (buf_failed(o)) {
		log_error("http: out of memory for a response to %s", c->peer);
		conn_close(c);
		return;
	}
	c->served++;
	c->on_close = NULL;
	c->state = ST_READ;
	c->have_head = false;
	c->sent_continue = false;
	arm_deadline(c, cfg.idle_timeout_ms);
}

/* A response the server makes itself (errors in the request), then close. */
static void respond_error_close(http_conn *c, int status, const char *message)
{
	log_debug("http: %s: %d %s; closing", c->peer, status, message);
	buf body = BUF_INIT;
	buf_puts(&body, "{\"message\":");
	json_escape(&body, message, strlen(message));
	buf_putc(&body, '}');
	c->close_after = true;
	c->head_request = false;
	respond(c, status, "application/json", NULL, body.data, body.len);
	buf_free(&body);
}

static void process(http_conn *c, char *data, size_t len, size_t *consumed);

/* After an async response, or once throttled output drained: answer what
 * was pipelined behind, then write; repeat while that makes progress. */
static void resume(http_conn *c)
{
	c->busy++;
	for (;;) {
		size_t used = 0;
		if (c->in.len && c->state == ST_READ && !c->close_after) {
			process(c, c->in.data, c->in.len, &used);
			if (!c->dead)
				buf_consume(&c->in, used);
		}
		if (c->dead)
			break;
		flush(c);
		if (c->dead || !used || c->out.len || !c->throttled)
			break;
	}
	conn_release(c);
}

void http_respond_ex(http_conn *c, int status, const char *content_type,
                     const char *extra_headers, const void *body, size_t len)
{
	if (c->dead || c->state != ST_HANDLER) {
		log_warn("http: a handler answered twice (status %d); ignored", status);
		return;
	}
	respond(c, status, content_type, extra_headers, body, len);
	if (!c->processing && !c->dead)
		resume(c);
}

void http_respond_json(http_conn *c, int status, const char *json, size_t len)
{
	http_respond_ex(c, status, "application/json", NULL, json, len);
}

void http_respond_error(http_conn *c, int status, const char *message)
{
	buf body = BUF_INIT;
	buf_append(&body, "{\"message\":", 11);
	json_escape(&body, message, strlen(message));
	buf_putc(&body, '}');
	if (buf_failed(&body))
		http_respond_json(c, 500, "{\"message\":\"out of memory\"}", 27);
	else
		http_respond_json(c, status, body.data, body.len);
	buf_free(&body);
}

void http_conn_on_close(http_conn *c, void (*fn)(void *arg), void *arg)
{
	c->on_close = fn;
	c->on_close_arg = arg;
}

void http_conn_detach(http_conn *c, int *fd, buf *rest)
{
	/* Write what earlier pipelined responses left, best effort. */
	if (c->out.len > c->out_off)
		(void)send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (c->state == ST_HANDLER && c->rest)
		buf_append(rest, c->rest, c->rest_len);
	else
		buf_append(rest, c->in.data, c->in.len);
	loop_unwatch(c->s->l, c->fd);
	*fd = c->fd;
	c->fd = -1;
	c->detached = true;
	c->on_close = NULL;
	c->state = ST_READ;
	conn_close(c);
}

const char *http_header_get(const http_request *req, const char *name, size_t *len)
{
	const http_header *h = http_find_header(req->headers, req->nheaders, name);
	if (!h)
		return NULL;
	if (len)
		*len = h->value_len;
	return h->value;
}

/* ---------------------------------------------------------- output */

static void flush(http_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* A client that pipelines requests but does not read the
				 * answers is not read from until it catches up. */
				bool high = c->out.len - c->out_off > OUT_HIGH_WATER;
				set_events(c, high ? LOOP_WRITE : LOOP_READ | LOOP_WRITE);
				return;
			}
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
		/* A client that reads what we send is not idle. */
		if (c->state == ST_READ && c->out_off < c->out.len)
			arm_deadline(c, cfg.idle_timeout_ms);
	}
	c->out_off = 0;
	if (c->out.cap > OUT_KEEP_CAP)
		buf_free(&c->out);
	else
		buf_reset(&c->out);
	if (c->state == ST_READ && c->close_after) {
		/* Lingering close: shut our side, drain what the client still
		 * sends, so unread input does not turn our FIN into an RST that
		 * destroys the response before the client reads it. */
		shutdown(c->fd, SHUT_WR);
		c->state = ST_LINGER;
		buf_free(&c->in);
		arm_deadline(c, LINGER_MS);
		set_events(c, LOOP_READ);
		return;
	}
	/* While a handler works we keep reading (to notice a hang-up) until
	 * too much pipelined input is held. */
	if (c->state == ST_HANDLER && c->in.len >= PENDING_INPUT_CAP)
		set_events(c, 0);
	else
		set_events(c, LOOP_READ);
}

/* ---------------------------------------------------------- requests */

static void dispatch(http_conn *c, http_request *req)
{
	http_server *s = c->s;
	bool is_head = req->method_len == 4 && !memcmp(req->method, "HEAD", 4);
	size_t conn_len = 0;
	const char *conn_hdr = http_header_get(req, "Connection", &conn_len);
	if (req->minor_version == 0)
		req->keep_alive = conn_hdr && http_header_has_token(conn_hdr, conn_len, "keep-alive");
	else
		req->keep_alive = !(conn_hdr && http_header_has_token(conn_hdr, conn_len, "close"));
	req->peer = c->peer;
	log_debug("http: %s %.*s %.*s", c->peer, (int)req->method_len, req->method,
	          (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
	c->head_request = is_head;
	c->close_after = !req->keep_alive || s->listen_fd < 0;
	c->keep_alive_header = req->keep_alive && req->minor_version == 0;
	c->state = ST_HANDLER;
	c->deadline = 0;
	c->on_close = NULL;

	const route *match = NULL;
	bool path_known = false;
	for (size_t i = 0; i < s->nroutes; i++) {
		const route *r = &s->routes[i];
		/* A path ending in "*" matches its prefix followed by at least one byte. */
		bool prefix = r->path_len > 1 && r->path[r->path_len - 1] == '*';
		size_t pl = prefix ? r->path_len - 1 : r->path_len;
		if (prefix ? req->path_len <= pl || memcmp(r->path, req->path, pl)
		           : r->path_len != req->path_len || memcmp(r->path, req->path, req->path_len))
			continue;
		path_known = true;
		size_t ml = strlen(r->method);
		if ((ml == req->method_len && !memcmp(r->method, req->method, ml)) ||
		    (is_head && !strcmp(r->method, "GET"))) {
			match = r;
			break;
		}
	}
	if (match) {
		match->fn(c, req, match->ctx);
		return;
	}
	if (!path_known) {
		http_respond_json(c, 404, "{\"message\":\"Not Found\"}", 23);
		return;
	}
	char allow[160] = "Allow: ";
	size_t al = 7;
	for (size_t i = 0; i < s->nroutes; i++) {
		const route *r = &s->routes[i];
		if (r->path_len == req->path_len && !memcmp(r->path, req->path, req->path_len) &&
		    al + strlen(r->method) + 10 < sizeof allow)
			al += (size_t)snprintf(allow + al, sizeof allow - al, "%s%s%s", al > 7 ? ", " : "", r->method,
			                       !strcmp(r->method, "GET") ? ", HEAD" : "");
	}
	snprintf(allow + al, sizeof allow - al, "\r\n");
	http_respond_ex(c, 405, "application/json", allow, "{\"message\":\"Method Not Allowed\"}", 32);
}

/* Head parsed: check framing and limits. Returns false if the request was
 * refused (and the connection is closing). */
static bool start_body(http_conn *c, const http_request *req, size_t head_len, size_t avail)
{
	if (http_body_framing(req->headers, req->nheaders, false, 0, false, &c->body_kind, &c->body_len) < 0) {
		respond_error_close(c, 400, "Invalid Content-Length or Transfer-Encoding");
		return false;
	}
	if (c->body_kind == HTTP_BODY_LENGTH && c->body_len > cfg.max_body_size) {
		respond_error_close(c, 413, "Request body too large");
		return false;
	}
	size_t elen = 0;
	const char *expect = http_header_get(req, "Expect", &elen);
	bool has_body = c->body_kind == HTTP_BODY_CHUNKED || (c->body_kind == HTTP_BODY_LENGTH && c->body_len);
	if (expect) {
		if (!(elen == 12 && !strncasecmp(expect, "100-continue", 12))) {
			respond_error_close(c, 417, "Unsupported Expect header");
			return false;
		}
		bool complete = c->body_kind == HTTP_BODY_LENGTH && avail - head_len >= c->body_len;
		if (has_body && !complete && req->minor_version == 1 && !c->sent_continue) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			buf_append(&c->out, cont, sizeof cont - 1);
			c->sent_continue = true;
		}
	}
	c->have_head = true;
	c->head_len = head_len;
	c->raw_pos = head_len;
	c->body_have = 0;
	c->chunked = (http_chunked){0};
	return true;
}

/* Answers the complete requests in data[0..len) in order, stopping at an
 * incomplete one or while a handler works. *consumed: bytes fully used. */
static void process(http_conn *c, char *data, size_t len, size_t *consumed)
{
	http_server *s = c->s;
	size_t at = 0;
	c->processing = true;
	c->throttled = false;
	while (c->state == ST_READ && !c->dead && !c->close_after && at < len) {
		if (c->out.len - c->out_off > OUT_HIGH_WATER) {
			/* Answer the rest once the client has read these. */
			c->throttled = true;
			break;
		}
		char *cur = data + at;
		size_t avail = len - at;
		http_request *req = &s->req;
		ssize_t n = http_parse_request(cur, avail, HTTP_MAX_HEADER_BYTES, req);
		if (n == HTTP_PARSE_INCOMPLETE)
			break;
		if (n == HTTP_PARSE_TOO_LARGE) {
			respond_error_close(c, 431, "Request header fields too large");
			break;
		}
		if (n < 0) {
			respond_error_close(c, 400, "Malformed HTTP request");
			break;
		}
		size_t head_len = (size_t)n;
		if (!c->have_head && !start_body(c, req, head_len, avail))
			break;
		size_t end;
		if (c->body_kind == HTTP_BODY_LENGTH) {
			if (avail - head_len < c->body_len) {
				/* make room for the rest at once: one allocation per body */
				if (data == c->in.data)
					buf_reserve(&c->in, (size_t)(c->body_len - (avail - head_len)));
				break;
			}
			req->body = cur + head_len;
			req->body_len = (size_t)c->body_len;
			end = head_len + (size_t)c->body_len;
		} else if (c->body_kind == HTTP_BODY_CHUNKED) {
			size_t used = 0;
			ssize_t got = http_chunked_decode(&c->chunked, cur + c->raw_pos, avail - c->raw_pos, &used);
			if (got < 0) {
				respond_error_close(c, 400, "Malformed chunked request body");
				break;
			}
			if (got && c->raw_pos != head_len + c->body_have)
				memmove(cur + head_len + c->body_have, cur + c->raw_pos, (size_t)got);
			c->body_have += (size_t)got;
			c->raw_pos += used;
			if (c->body_have > cfg.max_body_size) {
				respond_error_close(c, 413, "Request body too large");
				break;
			}
			if (!c->chunked.done)
				break;
			req->body = cur + head_len;
			req->body_len = c->body_have;
			end = c->raw_pos;
		} else {
			req->body = cur + head_len;
			req->body_len = 0;
			end = head_len;
		}
		c->rest = cur + end;
		c->rest_len = avail - end;
		at += end;
		dispatch(c, req);
		c->rest = NULL;
	}
	c->processing = false;
	*consumed = at;
}

static void on_readable(http_conn *c)
{
	http_server *s = c->s;
	if (c->state == ST_LINGER) {
		ssize_t n = read(c->fd, s->scratch, sizeof s->scratch);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			conn_close(c);
		return;
	}
	char *data;
	size_t len;
	ssize_t n;
	if (c->in.len == 0) {
		n = read(c->fd, s->scratch, sizeof s->scratch);
		data = s->scratch;
	} else {
		size_t want = c->in.cap > c->in.len + 4096 ? c->in.cap - c->in.len - 1 : 16384;
		if (!buf_reserve(&c->in, want)) {
			conn_close(c);
			return;
		}
		n = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
		if (n > 0) {
			c->in.len += (size_t)n;
			c->in.data[c->in.len] = 0;
		}
		data = c->in.data;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			conn_close(c);
		return;
	}
	if (n == 0) {
		/* The client is gone (or half-closed: it can read no answer we
		 * could be sure to deliver); a waiting handler learns it now. */
		conn_close(c);
		return;
	}
	len = data == s->scratch ? (size_t)n : c->in.len;
	if (c->state == ST_HANDLER) {
		/* pipelined behind a pending request: keep it for later */
		if (data == s->scratch)
			buf_append(&c->in, data, len);
		if (c->in.len >= PENDING_INPUT_CAP)
			set_events(c, 0);
		return;
	}
	c->busy++;
	size_t used = 0;
	process(c, data, len, &used);
	if (!c->dead) {
		if (data == s->scratch) {
			if (used < len && c->state != ST_LINGER && !c->close_after)
				buf_append(&c->in, data + used, len - used);
		} else {
			buf_consume(&c->in, used);
		}
		if (c->close_after && c->state != ST_HANDLER)
			buf_reset(&c->in);   /* we answer no more requests on it */
		flush(c);
		if (!c->dead && c->throttled && !c->out.len)
			resume(c);
	}
	conn_release(c);
}

static void conn_io(loop *l, int fd, unsigned events, void *arg)
{
	http_conn *c = arg;
	c->busy++;
	if (events & LOOP_WRITE) {
		flush(c);
		if (!c->dead && c->throttled && !c->out.len)
			resume(c);
	}
	if (!c->dead && (events & (LOOP_READ | LOOP_ERROR)))
		on_readable(c);
	conn_release(c);
}

static void conn_timer(loop *l, void *arg)
{
	http_conn *c = arg;
	c->timer = NULL;
	if (c->dead)
		return;   /* unreachable: conn_free cancels the timer */
	if (!c->deadline)
		return;   /* a handler works; its response re-arms */
	uint64_t now = loop_now(l);
	if (now < c->deadline) {
		c->timer = loop_timer_add(l, c->deadline - now, conn_timer, c);
		c->timer_due = c->deadline;
		return;
	}
	if (c->state == ST_LINGER || c->out.len > c->out_off) {
		conn_close(c);   /* the client does not read what we send */
		return;
	}
	bool partial = c->in.len || c->have_head;
	if (!partial && c->served) {
		conn_close(c);   /* an idle keep-alive connection */
		return;
	}
	c->busy++;
	respond_error_close(c, 408, "Request timeout");
	if (!c->dead) {
		buf_reset(&c->in);
		flush(c);
	}
	conn_release(c);
}

/* ---------------------------------------------------------- accepting */

static void on_accept(loop *l, int fd, unsigned events, void *arg);

static void resume_accept(loop *l, void *arg)
{
	http_server *s = arg;
	s->accept_pause = NULL;
	if (s->accepting && s->listen_fd >= 0)
		loop_watch(l, s->listen_fd, LOOP_READ, on_accept, s);
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t n)
{
	out[0] = 0;
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ss)->sin_addr, out, (socklen_t)n);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const void *)ss;
		if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr))
			inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], out, (socklen_t)n);
		else
			inet_ntop(AF_INET6, &a6->sin6_addr, out, (socklen_t)n);
	}
}

/* Leave descriptors for jobs (pipes, pidfds, boxes): a flood of connections
 * must not make the sandbox fail. first_fd: the lowest free descriptor at
 * the first accept, about how many the engine holds for itself. */
static size_t connection_cap(int first_fd)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return HTTP_MAX_CONNECTIONS;
	rlim_t reserve = rl.rlim_cur / 4 < 256 ? rl.rlim_cur / 4 : 256;
	rlim_t used = (rlim_t)first_fd + reserve;
	if (rl.rlim_cur <= used + 16)
		return 16;
	return rl.rlim_cur - used < HTTP_MAX_CONNECTIONS ? (size_t)(rl.rlim_cur - used) : HTTP_MAX_CONNECTIONS;
}

static void on_accept(loop *l, int fd, unsigned events, void *arg)
{
	http_server *s = arg;
	for (int i = 0; i < 128; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* Out of descriptors: pause accepting briefly rather than
				 * spin on a listen socket that stays readable. */
				log_warn("http: accept: %s; pausing accepts for 100 ms", strerror(errno));
				loop_unwatch(l, fd);
				if (!s->accept_pause)
					s->accept_pause = loop_timer_add(l, 100, resume_accept, s);
			}
			return;
		}
		if (!s->max_conns) {
			s->max_conns = connection_cap(cfd);
			log_debug("http: at most %zu connections", s->max_conns);
		}
		if (s->nconns >= s->max_conns) {
#define BUSY_BODY "{\"message\":\"Too many open connections\"}"
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
			                           "Connection: close\r\nContent-Length: 39\r\n\r\n" BUSY_BODY;
			_Static_assert(sizeof BUSY_BODY - 1 == 39, "Content-Length of the 503 body");
#undef BUSY_BODY
			(void)send(cfd, busy, sizeof busy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(cfd);
			continue;
		}
		http_conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(cfd);
			continue;
		}
		int one = 1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->s = s;
		c->fd = cfd;
		c->state = ST_READ;
		peer_text(&ss, c->peer, sizeof c->peer);
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
		set_events(c, LOOP_READ);
		if (!c->watched) {
			conn_close(c);
			continue;
		}
		arm_deadline(c, cfg.idle_timeout_ms);
	}
}

/* "HOST:PORT" or "[V6]:PORT" -> a bound, listening, non-blocking socket. */
static int listen_on(const char *address, char *err, size_t errlen)
{
	char host[256];
	const char *colon = strrchr(address, ':');
	if (!colon || (size_t)(colon - address) >= sizeof host) {
		snprintf(err, errlen, "bad bind address '%s' (expected HOST:PORT)", address);
		return -1;
	}
	size_t hl = (size_t)(colon - address);
	memcpy(host, address, hl);
	host[hl] = 0;
	char *h = host;
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
		h[hl - 1] = 0;
		h++;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res = NULL;
	int gr = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
	if (gr) {
		snprintf(err, errlen, "cannot resolve bind address '%s': %s", address, gai_strerror(gr));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int one = 1, zero = 0;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);  /* [::] takes IPv4 too */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0)
			break;
		snprintf(err, errlen, "cannot listen on %s: %s", address, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

http_server *http_server_new(loop *l, const char *bind_address, char *err, size_t errlen)
{
	http_server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->l = l;
	s->listen_fd = listen_on(bind_address, err, errlen);
	if (s->listen_fd < 0) {
		free(s);
		return NULL;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	if (getsockname(s->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&ss)->sin6_port
		                                         : ((struct sockaddr_in *)(void *)&ss)->sin_port);
	if (loop_watch(l, s->listen_fd, LOOP_READ, on_accept, s) < 0) {
		snprintf(err, errlen, "cannot watch the listening socket: %s", strerror(errno));
		close(s->listen_fd);
		free(s);
		return NULL;
	}
	s->accepting = true;
	return s;
}

void http_server_stop_accepting(http_server *s)
{
	if (!s || s->listen_fd < 0)
		return;
	/* Connections the kernel has queued but we have not accepted yet would
	 * be reset by the close: take them in, they are served like the rest
	 * (a client then sees a refusal, never a reset, once we are gone). */
	if (s->accepting && !s->accept_pause)
		for (int i = 0; i < 8; i++)
			on_accept(s->l, s->listen_fd, LOOP_READ, s);
	s->accepting = false;
	if (s->accept_pause) {
		loop_timer_cancel(s->l, s->accept_pause);
		s->accept_pause = NULL;
	}
	loop_unwatch(s->l, s->listen_fd);
	close(s->listen_fd);
	s->listen_fd = -1;
	/* Idle keep-alive connections will send nothing we want to answer; a
	 * new one (nothing served yet) is about to send its request. */
	for (http_conn *c = s->conns, *next; c; c = next) {
		next = c->next;
		if (c->served && c->state == ST_READ && !c->in.len && !c->have_head && c->out.len == c->out_off)
			conn_close(c);
	}
}

void http_server_free(http_server *s)
{
	if (!s)
		return;
	http_server_stop_accepting(s);
	while (s->conns) {
		http_conn *c = s->conns;
		c->busy = 0;
		c->dead = false;
		conn_close(c);
	}
	free(s);
}

int http_route(http_server *s, const char *method, const char *path, http_handler *h, void *ctx)
{
	if (s->nroutes == HTTP_MAX_ROUTES)
		return -1;
	s->routes[s->nroutes++] = (route){method, path, strlen(path), h, ctx};
	return 0;
}

size_t http_server_connections(const http_server *s) { return s->nconns; }

size_t http_server_busy(const http_server *s)
{
	size_t n = 0;
	for (const http_conn *c = s->conns; c; c = c->next)
		n += c->state == ST_HANDLER || c->out.len > c->out_off ||
		     (c->state == ST_READ && (c->have_head || c->in.len));   /* a request arriving */
	return n;
}

int http_server_port(const http_server *s) { return s->port; }
