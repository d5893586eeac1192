/* httpc: blocking HTTP/1.1 client (see httpc.h). */
#include "httpc.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "http_parse.h"
#include "loop.h"
#include "tls.h"

#define HEAD_MAX (64 * 1024)
#define READ_CHUNK (64 * 1024)

/* ---- URLs ---- */

static bool host_char_ok(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_';
}

int httpc_parse_url(const char *url, httpc_url *u)
{
	memset(u, 0, sizeof *u);
	const char *p;
	if (!strncasecmp(url, "http://", 7)) {
		p = url + 7;
	} else if (!strncasecmp(url, "https://", 8)) {
		p = url + 8;
		u->https = true;
	} else {
		return -1;
	}
	size_t alen = strcspn(p, "/?#");
	const char *auth = p, *auth_end = p + alen;
	if (memchr(auth, '@', alen))
		return -1;   /* credentials in URLs are not supported */
	const char *host = auth, *host_end;
	const char *port = NULL;
	if (*auth == '[') {
		host = auth + 1;
		host_end = memchr(host, ']', (size_t)(auth_end - host));
		if (!host_end)
			return -1;
		for (const char *q = host; q < host_end; q++)
			if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.')
				return -1;
		u->host_is_ipv6 = true;
		if (host_end + 1 < auth_end) {
			if (host_end[1] != ':')
				return -1;
			port = host_end + 2;
		}
	} else {
		host_end = memchr(auth, ':', alen);
		if (host_end)
			port = host_end + 1;
		else
			host_end = auth_end;
		for (const char *q = host; q < host_end; q++)
			if (!host_char_ok((unsigned char)*q))
				return -1;
	}
	size_t hlen = (size_t)(host_end - host);
	if (hlen == 0 || hlen >= sizeof u->host)
		return -1;
	memcpy(u->host, host, hlen);
	u->port = u->https ? 443 : 80;
	if (port) {
		unsigned v = 0;
		if (port == auth_end)
			return -1;
		for (const char *q = port; q < auth_end; q++) {
			if (!isdigit((unsigned char)*q) || (v = v * 10 + (unsigned)(*q - '0')) > 65535)
				return -1;
		}
		if (v == 0)
			return -1;
		u->port = v;
	}
	const char *t = auth_end;
	size_t tlen = strcspn(t, "#");
	for (size_t i = 0; i < tlen; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			return -1;   /* never let a URL inject into the request line */
	size_t need = tlen + 2;
	if (need > sizeof u->target)
		return -1;
	if (tlen == 0 || t[0] != '/') {
		u->target[0] = '/';
		memcpy(u->target + 1, t, tlen);
	} else {
		memcpy(u->target, t, tlen);
	}
	return 0;
}

static void url_origin(const httpc_url *u, buf *out)
{
	buf_puts(out, u->https ? "https://" : "http://");
	if (u->host_is_ipv6)
		buf_printf(out, "[%s]", u->host);
	else
		buf_puts(out, u->host);
	if (u->port != (u->https ? 443u : 80u))
		buf_printf(out, ":%u", u->port);
}

/* The absolute URL a Location header names, relative to the current URL. */
static void resolve_location(const httpc_url *cur, const char *loc, size_t len, buf *out)
{
	buf_reset(out);
	if ((len >= 7 && !strncasecmp(loc, "http://", 7)) || (len >= 8 && !strncasecmp(loc, "https://", 8))) {
		buf_append(out, loc, len);
	} else if (len >= 2 && loc[0] == '/' && loc[1] == '/') {
		buf_puts(out, cur->https ? "https:" : "http:");
		buf_append(out, loc, len);
	} else {
		url_origin(cur, out);
		if (len > 0 && loc[0] == '/') {
			buf_append(out, loc, len);
		} else {
			size_t dir = strcspn(cur->target, "?");
			while (dir > 0 && cur->target[dir - 1] != '/')
				dir--;
			buf_append(out, cur->target, dir);
			buf_append(out, loc, len);
		}
	}
	if (!out->data)
		buf_puts(out, "");
}

/* ---- connections ---- */

typedef struct conn {
	int fd;
	tls_conn *tls;
	uint64_t total_deadline;   /* the whole request */
	uint64_t idle_ns;          /* longest wait for progress */
	uint64_t deadline;         /* the current wait: min(total, now + idle) */
	char *err;
	size_t errlen;
} conn;

static int wait_socket(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= deadline)
			return -1;
		uint64_t left = (deadline - now + 999999) / 1000000;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static int connect_to(conn *c, const httpc_url *u, uint64_t connect_ms, const httpc_options *opts)
{
	char port[8];
	snprintf(port, sizeof port, "%u", u->port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL, fixed = {0};
	int r = 0;
	if (opts && opts->address) {   /* the caller's vetted address, no second resolution */
		fixed = (struct addrinfo){.ai_family = opts->address->sa_family, .ai_socktype = SOCK_STREAM,
		                          .ai_addr = (struct sockaddr *)opts->address,
		                          .ai_addrlen = (socklen_t)opts->address_len};
	} else {
		r = getaddrinfo(u->host, port, &hints, &res);
	}
	if (r != 0) {
		snprintf(c->err, c->errlen, "cannot resolve %s: %s", u->host, gai_strerror(r));
		return -1;
	}
	int last_errno = 0;
	for (struct addrinfo *a = res ? res : &fixed; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			last_errno = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
			uint64_t dl = mono_ns() + connect_ms * 1000000;
			if (dl > c->total_deadline)
				dl = c->total_deadline;
			int soerr = 0;
			socklen_t sl = sizeof soerr;
			if (wait_socket(fd, POLLOUT, dl) < 0)
				soerr = ETIMEDOUT;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
			if (soerr == 0) {
				int one = 1;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
				c->fd = fd;
				if (res)
					freeaddrinfo(res);
				return 0;
			}
			last_errno = soerr;
		} else {
			last_errno = errno;
		}
		close(fd);
	}
	if (res)
		freeaddrinfo(res);
	snprintf(c->err, c->errlen, "cannot connect to %s:%u: %s", u->host, u->port,
	         last_errno == ETIMEDOUT ? "timed out" : strerror(last_errno ? last_errno : EHOSTUNREACH));
	return -1;
}

static void conn_close(conn *c)
{
	if (c->tls)
		tls_free(c->tls);
	c->tls = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void conn_arm(conn *c)
{
	uint64_t idle = mono_ns() + c->idle_ns;
	c->deadline = idle < c->total_deadline ? idle : c->total_deadline;
	if (c->tls)
		tls_set_deadline(c->tls, c->deadline);
}

/* > 0 bytes, 0 at EOF, -1 with c->err set. */
static ssize_t conn_read(conn *c, void *data, size_t len)
{
	conn_arm(c);
	if (c->tls) {
		ssize_t n = tls_read(c->tls, data, len);
		if (n < 0)
			snprintf(c->err, c->errlen, "%s", tls_error(c->tls));
		return n;
	}
	for (;;) {
		ssize_t n = read(c->fd, data, len);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			snprintf(c->err, c->errlen, "read failed: %s", strerror(errno));
			return -1;
		}
		if (wait_socket(c->fd, POLLIN, c->deadline) < 0) {
			snprintf(c->err, c->errlen, "timed out waiting for the server");
			return -1;
		}
	}
}

static int conn_write_all(conn *c, const void *data, size_t len)
{
	conn_arm(c);
	if (c->tls) {
		if (tls_write_all(c->tls, data, len) < 0) {
			snprintf(c->err, c->errlen, "%s", tls_error(c->tls));
			return -1;
		}
		return 0;
	}
	const char *p = data;
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			conn_arm(c);   /* progress resets the idle timer */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			snprintf(c->err, c->errlen, "send failed: %s", strerror(errno));
			return -1;
		}
		if (wait_socket(c->fd, POLLOUT, c->deadline) < 0) {
			snprintf(c->err, c->errlen, "timed out sending the request");
			return -1;
		}
	}
	return 0;
}

/* ---- body reading ---- */

typedef struct body_reader {
	conn *c;
	char *rbuf;
	size_t have;       /* bytes in rbuf */
	httpc_body_fn on_body;
	void *ctx;
} body_reader;

static int deliver(body_reader *br, const char *p, size_t n)
{
	if (n == 0 || !br->on_body)
		return 0;
	if (br->on_body(br->ctx, p, n) != 0) {
		snprintf(br->c->err, br->c->errlen, "aborted");
		return -1;
	}
	return 0;
}

static int read_more(body_reader *br)
{
	ssize_t n = conn_read(br->c, br->rbuf + br->have, READ_CHUNK - br->have);
	if (n > 0)
		br->have += (size_t)n;
	return (int)(n > 0 ? 1 : n);
}

static int read_length_body(body_reader *br, uint64_t length)
{
	uint64_t got = 0;
	for (;;) {
		size_t take = br->have;
		if (take > length - got)
			take = (size_t)(length - got);
		if (deliver(br, br->rbuf, take) < 0)
			return -1;
		got += take;
		br->have = 0;
		if (got == length)
			return 0;
		int r = read_more(br);
		if (r < 0)
			return -1;
		if (r == 0) {
			snprintf(br->c->err, br->c->errlen,
			         "connection closed after %llu of %llu body bytes",
			         (unsigned long long)got, (unsigned long long)length);
			return -1;
		}
	}
}

static int read_chunked_body(body_reader *br)
{
	http_chunked ch = {0};
	for (;;) {
		if (br->have > 0) {
			size_t used = 0;
			ssize_t out = http_chunked_decode(&ch, br->rbuf, br->have, &used);
			if (out < 0) {
				snprintf(br->c->err, br->c->errlen, "malformed chunked body");
				return -1;
			}
			if (deliver(br, br->rbuf, (size_t)out) < 0)
				return -1;
			memmove(br->rbuf, br->rbuf + used, br->have - used);
			br->have -= used;
			if (ch.done)
				return 0;
		}
		if (br->have == READ_CHUNK) {
			snprintf(br->c->err, br->c->errlen, "malformed chunked body (line too long)");
			return -1;
		}
		int r = read_more(br);
		if (r < 0)
			return -1;
		if (r == 0) {
			snprintf(br->c->err, br->c->errlen, "connection closed in the middle of a chunked body");
			return -1;
		}
	}
}

static int read_until_close(body_reader *br)
{
	for (;;) {
		if (deliver(br, br->rbuf, br->have) < 0)
			return -1;
		br->have = 0;
		int r = read_more(br);
		if (r <= 0)
			return r;
	}
}

/* ---- one request/response exchange ---- */

enum { EXCHANGE_DONE = 0, EXCHANGE_FAILED = -1, EXCHANGE_REDIRECT = 1 };

static int exchange(conn *c, const httpc_url *u, const tls_trust *trust, const char *method,
                    const char *extra_headers, const void *body, size_t len,
                    httpc_body_fn on_body, void *ctx, const httpc_options *opts,
                    bool may_redirect, int *status, buf *location)
{
	uint64_t connect_ms = opts && opts->connect_timeout_ms ? opts->connect_timeout_ms : 10000;
	if (connect_to(c, u, connect_ms, opts) < 0)
		return EXCHANGE_FAILED;
	if (u->https) {
		conn_arm(c);
		c->tls = tls_connect(c->fd, u->host, trust, c->deadline, c->err, c->errlen);
		if (!c->tls)
			return EXCHANGE_FAILED;
	}
	buf req = BUF_INIT;
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: ", method, u->target);
	if (u->host_is_ipv6)
		buf_printf(&req, "[%s]", u->host);
	else
		buf_puts(&req, u->host);
	if (u->port != (u->https ? 443u : 80u))
		buf_printf(&req, ":%u", u->port);
	buf_puts(&req, "\r\nUser-Agent: piston/" PISTON_VERSION "\r\nAccept-Encoding: identity\r\n"
	               "Connection: close\r\n");
	if (len > 0 || strcmp(method, "GET") != 0)
		buf_printf(&req, "Content-Length: %zu\r\n", len);
	if (extra_headers)
		buf_puts(&req, extra_headers);
	buf_puts(&req, "\r\n");
	if (len > 0)
		buf_append(&req, body, len);
	if (buf_failed(&req)) {
		buf_free(&req);
		snprintf(c->err, c->errlen, "out of memory");
		return EXCHANGE_FAILED;
	}
	int w = conn_write_all(c, req.data, req.len);
	buf_free(&req);
	if (w < 0)
		return EXCHANGE_FAILED;

	char *rbuf = malloc(HEAD_MAX > READ_CHUNK ? HEAD_MAX : READ_CHUNK);
	if (!rbuf) {
		snprintf(c->err, c->errlen, "out of memory");
		return EXCHANGE_FAILED;
	}
	body_reader br = {.c = c, .rbuf = rbuf, .on_body = on_body, .ctx = ctx};
	http_response_head head;
	ssize_t hl;
	int rc = EXCHANGE_FAILED;
	for (;;) {
		hl = http_parse_response(rbuf, br.have, HEAD_MAX, &head);
		if (hl > 0 && head.status >= 100 && head.status < 200 && head.status != 101) {
			memmove(rbuf, rbuf + hl, br.have - (size_t)hl);   /* 100 Continue and friends */
			br.have -= (size_t)hl;
			continue;
		}
		if (hl > 0)
			break;
		if (hl != HTTP_PARSE_INCOMPLETE || br.have == HEAD_MAX) {
			snprintf(c->err, c->errlen, "%s", hl == HTTP_PARSE_INCOMPLETE || hl == HTTP_PARSE_TOO_LARGE
			         ? "response head too large" : "malformed response from the server (not HTTP?)");
			goto out;
		}
		ssize_t n = conn_read(c, rbuf + br.have, HEAD_MAX - br.have);
		if (n < 0)
			goto out;
		if (n == 0) {
			snprintf(c->err, c->errlen, "connection closed before a response");
			goto out;
		}
		br.have += (size_t)n;
	}
	*status = head.status;
	bool is_head = !strcmp(method, "HEAD");
	if (may_redirect && (head.status == 301 || head.status == 302 || head.status == 303 ||
	                     head.status == 307 || head.status == 308)) {
		const http_header *loc = http_find_header(head.headers, head.nheaders, "Location");
		if (loc && loc->value_len > 0) {
			resolve_location(u, loc->value, loc->value_len, location);
			rc = EXCHANGE_REDIRECT;
			goto out;
		}
	}
	http_body_kind kind;
	uint64_t length = 0;
	if (http_body_framing(head.headers, head.nheaders, true, head.status, is_head, &kind, &length) < 0) {
		snprintf(c->err, c->errlen, "malformed response framing (Content-Length/Transfer-Encoding)");
		goto out;
	}
	memmove(rbuf, rbuf + hl, br.have - (size_t)hl);
	br.have -= (size_t)hl;
	if (opts && opts->on_head &&
	    opts->on_head(ctx, head.status, kind == HTTP_BODY_LENGTH ? length : HTTPC_UNKNOWN_LENGTH) != 0) {
		rc = EXCHANGE_DONE;
		goto out;
	}
	int r = 0;
	switch (kind) {
	case HTTP_BODY_NONE: break;
	case HTTP_BODY_LENGTH: r = read_length_body(&br, length); break;
	case HTTP_BODY_CHUNKED: r = read_chunked_body(&br); break;
	case HTTP_BODY_UNTIL_CLOSE: r = read_until_close(&br); break;
	}
	rc = r < 0 ? EXCHANGE_FAILED : EXCHANGE_DONE;
out:
	free(rbuf);
	return rc;
}

int httpc_request_ex(const char *method, const char *url, const char *extra_headers,
                     const void *body, size_t len, httpc_body_fn on_body, void *ctx,
                     const httpc_options *opts, int *status, char *err, size_t errlen)
{
	uint64_t total_ms = opts && opts->total_timeout_ms ? opts->total_timeout_ms : 600000;
	uint64_t idle_ms = opts && opts->idle_timeout_ms ? opts->idle_timeout_ms : total_ms;
	conn c = {.fd = -1, .total_deadline = mono_ns() + total_ms * 1000000, .idle_ns = idle_ms * 1000000,
	          .err = err, .errlen = errlen};
	c.deadline = c.total_deadline;
	tls_trust *trust = NULL;
	buf cur = BUF_INIT, next = BUF_INIT;
	buf_puts(&cur, url);
	int rc = -1;
	*status = 0;
	err[0] = '\0';
	for (int hop = 0;; hop++) {
		httpc_url u;
		if (buf_failed(&cur) || httpc_parse_url(cur.data, &u) < 0) {
			snprintf(err, errlen, "invalid URL: %.200s", cur.data ? cur.data : "");
			break;
		}
		if (u.https && !trust) {
			const char *ca = opts && opts->ca_file && *opts->ca_file ? opts->ca_file : getenv("PISTON_CA_FILE");
			if (!ca || !*ca)
				ca = TLS_SYSTEM_CA_FILE;
			trust = tls_trust_load(ca, err, errlen);
			if (!trust)
				break;
		}
		int r = exchange(&c, &u, trust, method, extra_headers, body, len, on_body, ctx, opts,
		                 hop < HTTPC_MAX_REDIRECTS && !(opts && opts->no_redirects), status, &next);
		conn_close(&c);
		if (r == EXCHANGE_FAILED) {
			if (!err[0])
				snprintf(err, errlen, "request failed");
			break;
		}
		if (r == EXCHANGE_DONE) {
			rc = 0;
			break;
		}
		/* a redirect: 303, and 301/302 after a POST, become GET without a body */
		if (*status == 303 || ((*status == 301 || *status == 302) && strcmp(method, "GET") && strcmp(method, "HEAD"))) {
			method = "GET";
			body = NULL;
			len = 0;
		}
		buf tmp = cur;
		cur = next;
		next = tmp;
		buf_reset(&next);
	}
	if (rc < 0 && *status == 0 && !err[0])
		snprintf(err, errlen, "request failed");
	buf_free(&cur);
	buf_free(&next);
	tls_trust_free(trust);
	return rc;
}

int httpc_request(const char *method, const char *url, const char *extra_headers,
                  const void *body, size_t len, httpc_body_fn on_body, void *ctx,
                  int *status, char *err, size_t errlen)
{
	return httpc_request_ex(method, url, extra_headers, body, len, on_body, ctx, NULL, status, err, errlen);
}
