/*
 * connect: GET /api/v2/connect. After the upgrade the socket belongs to a
 * ws_session on the event loop: input is parsed with the ws codec, client
 * messages drive one interactive job, and job events become server
 * messages. A session is destroyed only from its own loop callbacks (fd
 * events and timers), never from inside a job callback, so the job module
 * is never re-entered while it is calling us.
 */
#include "connect.h"
#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "execute.h"
#include "json.h"
#include "log.h"
#include "ws.h"

#define INIT_TIMEOUT_MS 1000
#define CLOSE_LINGER_MS 2000
#define READ_CHUNK 65536
/* Output is capped per stage, so only a client that never reads (and keeps
 * sending pings or messages) can fill this: it is dropped. */
#define MAX_PENDING_OUT (4u << 20)

typedef struct ws_session {
	engine *e;
	int fd;
	buf in, out;
	ws_parser parser;
	size_t max_message;
	job *job;
	bool initialized;          /* an init was accepted (job may since be over) */
	bool close_sent;           /* our close frame is queued: ignore further input */
	bool write_blocked;        /* waiting for LOOP_WRITE */
	bool dead;                 /* destroy at the next loop callback */
	loop_timer *init_timer, *linger_timer, *reaper;
	char carry[2][4];          /* incomplete UTF-8 tail per stream (stdout, stderr) */
	size_t carry_len[2];
} ws_session;

static void session_io(loop *l, int fd, unsigned events, void *arg);

static void session_destroy(ws_session *s)
{
	if (s->job)
		job_cancel(s->job);
	s->job = NULL;
	if (s->init_timer)
		loop_timer_cancel(s->e->loop, s->init_timer);
	if (s->linger_timer)
		loop_timer_cancel(s->e->loop, s->linger_timer);
	if (s->reaper)
		loop_timer_cancel(s->e->loop, s->reaper);
	loop_unwatch(s->e->loop, s->fd);
	close(s->fd);
	ws_parser_free(&s->parser);
	buf_free(&s->in);
	buf_free(&s->out);
	free(s);
}

static void reap(loop *l, void *arg)
{
	ws_session *s = arg;
	s->reaper = NULL;
	session_destroy(s);
}

/* Safe from anywhere: the session dies on the next loop iteration. */
static void session_kill(ws_session *s)
{
	if (s->dead)
		return;
	s->dead = true;
	loop_watch(s->e->loop, s->fd, 0, session_io, s);
	s->reaper = loop_timer_add(s->e->loop, 0, reap, s);
	if (!s->reaper) {
		log_error("connect: cannot schedule session cleanup; closing the socket now");
		shutdown(s->fd, SHUT_RDWR);
	}
}

static void flush(ws_session *s)
{
	/* The files message comes in one piece: room for it besides. */
	if (s->out.len > MAX_PENDING_OUT + cfg.output_files_max_size / 3 * 4 + 65536) {
		log_info("connect: dropping a client that does not read (%zu bytes pending)", s->out.len);
		session_kill(s);
		return;
	}
	while (s->out.len && !s->dead) {
		ssize_t n = send(s->fd, s->out.data, s->out.len, MSG_NOSIGNAL);
		if (n > 0) {
			buf_consume(&s->out, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!s->write_blocked) {
				s->write_blocked = true;
				loop_watch(s->e->loop, s->fd, LOOP_READ | LOOP_WRITE, session_io, s);
			}
			return;
		}
		session_kill(s);
		return;
	}
	if (s->write_blocked && !s->dead) {
		s->write_blocked = false;
		loop_watch(s->e->loop, s->fd, LOOP_READ, session_io, s);
	}
	if (!s->out.len && s->close_sent && !s->dead)
		shutdown(s->fd, SHUT_WR);   /* our close is out; the peer's close or EOF ends it */
}

static void send_json(ws_session *s, buf *msg)
{
	if (s->close_sent || s->dead)
		return;
	if (buf_failed(msg)) {
		session_kill(s);
		return;
	}
	ws_encode(&s->out, WS_OP_TEXT, msg->data, msg->len, NULL);
	if (buf_failed(&s->out)) {
		session_kill(s);
		return;
	}
	flush(s);
}

/* Every server message is a JSON object whose first member is its type. */
static void message_begin(jw *w, buf *m, const char *type)
{
	jw_init(w, m);
	jw_object_begin(w);
	jw_key(w, "type");
	jw_string(w, type);
}

static void message_send(ws_session *s, jw *w, buf *m)
{
	jw_object_end(w);
	send_json(s, m);
	buf_free(m);
}

static void linger_over(loop *l, void *arg)
{
	ws_session *s = arg;
	s->linger_timer = NULL;
	session_kill(s);
}

static void send_close(ws_session *s, uint16_t code, const char *reason)
{
	if (s->close_sent || s->dead)
		return;
	if (s->init_timer) {
		loop_timer_cancel(s->e->loop, s->init_timer);
		s->init_timer = NULL;
	}
	ws_encode_close(&s->out, code, reason, strlen(reason), NULL);
	s->close_sent = true;
	s->linger_timer = loop_timer_add(s->e->loop, CLOSE_LINGER_MS, linger_over, s);
	flush(s);
}

static void send_error(ws_session *s, const char *message)
{
	buf m = BUF_INIT;
	jw w;
	message_begin(&w, &m, "error");
	jw_key(&w, "message");
	jw_string(&w, message);
	message_send(s, &w, &m);
	/* A close reason is limited to 123 bytes: the message goes first. */
	send_close(s, 4002, "Notified Error");
}

/* ----------------------------------------------------------- job events */

static void ev_primed(void *arg, job *j)
{
	ws_session *s = arg;
	buf m = BUF_INIT;
	jw w;
	message_begin(&w, &m, "runtime");
	jw_key(&w, "language");
	jw_string(&w, job_language(j));
	jw_key(&w, "version");
	jw_string(&w, job_version(j));
	message_send(s, &w, &m);
}

static void ev_stage(void *arg, job *j, const char *stage)
{
	ws_session *s = arg;
	buf m = BUF_INIT;
	jw w;
	message_begin(&w, &m, "stage");
	jw_key(&w, "stage");
	jw_string(&w, stage);
	message_send(s, &w, &m);
}

static void send_data(ws_session *s, int idx, const char *data, size_t n)
{
	if (!n)
		return;
	buf m = BUF_INIT;
	jw w;
	message_begin(&w, &m, "data");
	jw_key(&w, "stream");
	jw_string(&w, idx ? "stderr" : "stdout");
	jw_key(&w, "data");
	jw_string_n(&w, data, n);
	message_send(s, &w, &m);
}

static void flush_carry(ws_session *s, int idx)
{
	size_t n = s->carry_len[idx];
	s->carry_len[idx] = 0;
	send_data(s, idx, s->carry[idx], n);   /* an unfinished character: U+FFFD */
}

/* Output may end inside a UTF-8 character: hold its first bytes back and
 * send them with the next chunk, so each message is whole characters. */
static void ev_output(void *arg, job *j, sbx_stream stream, const char *data, size_t n)
{
	ws_session *s = arg;
	int idx = stream == SBX_STDERR;
	char *carry = s->carry[idx];
	size_t *clen = &s->carry_len[idx];
	while (*clen && n) {
		/* complete the held character byte by byte (at most 3 steps) */
		carry[(*clen)++] = *data++;
		n--;
		size_t ok = 0;
		utf8_status st = json_utf8_check(carry, *clen, &ok);
		if (st != UTF8_TRUNCATED || *clen == 4)
			flush_carry(s, idx);
	}
	if (!n)
		return;
	size_t ok = 0;
	utf8_status st = json_utf8_check(data, n, &ok);
	if (st == UTF8_TRUNCATED && n - ok < 4) {
		send_data(s, idx, data, ok);
		memcpy(carry, data + ok, n - ok);
		*clen = n - ok;
		return;
	}
	send_data(s, idx, data, n);
}

static void ev_stage_done(void *arg, job *j, const char *stage, const sbx_result *r)
{
	ws_session *s = arg;
	flush_carry(s, 0);
	flush_carry(s, 1);
	buf m = BUF_INIT;
	jw w;
	message_begin(&w, &m, "exit");
	jw_key(&w, "stage");
	jw_string(&w, stage);
	jw_key(&w, "code");
	if (r->exited)
		jw_int(&w, r->code);
	else
		jw_null(&w);
	jw_key(&w, "signal");
	const char *sig = sbx_signal_name(r->signal);
	if (!r->exited && sig)
		jw_string(&w, sig);
	else
		jw_null(&w);
	jw_key(&w, "status");
	if (r->status[0])
		jw_string(&w, r->status);
	else
		jw_null(&w);
	jw_key(&w, "message");
	if (r->status[0] && r->message[0])
		jw_string(&w, r->message);
	else
		jw_null(&w);
	message_send(s, &w, &m);
	const buf *files = job_output_files(j);
	if (files && !strcmp(stage, "run")) {
		message_begin(&w, &m, "files");
		jw_key(&w, "files");
		jw_raw(&w, files->data, files->len);
		message_send(s, &w, &m);
	}
}

static void ev_done(void *arg, job *j)
{
	ws_session *s = arg;
	s->job = NULL;
	const char *message;
	if (job_failed(j, &message))
		send_error(s, message);
	else
		send_close(s, 4999, "Job Completed");
}

/* ------------------------------------------------------ client messages */

static void on_init(ws_session *s, json_doc *doc)
{
	if (s->initialized) {
		json_free(doc);
		send_close(s, 4000, "Already Initialized");
		return;
	}
	char msg[512];
	int status = 0;
	job *j = job_new(s->e, doc, json_root(doc), true, &status, msg, sizeof msg);
	if (!j) {
		json_free(doc);
		send_error(s, msg);
		return;
	}
	s->initialized = true;
	if (s->init_timer) {
		loop_timer_cancel(s->e->loop, s->init_timer);
		s->init_timer = NULL;
	}
	job_events ev = {
		.on_primed = ev_primed, .on_stage = ev_stage, .on_output = ev_output,
		.on_stage_done = ev_stage_done, .on_done = ev_done, .arg = s,
	};
	s->job = j;   /* before job_start: ev_done may clear it synchronously */
	if (job_start(j, &ev, msg, sizeof msg) < 0) {
		s->job = NULL;
		send_error(s, msg);
	}
}

static void on_message(ws_session *s, const char *data, size_t len)
{
	json_error jerr;
	json_doc *doc = json_parse(data, len, &jerr);
	if (!doc) {
		char msg[160];
		snprintf(msg, sizeof msg, "Invalid JSON message: %s at byte %zu", jerr.message, jerr.offset);
		send_error(s, msg);
		return;
	}
	const json_value *root = json_root(doc);
	const json_value *type = json_get(root, "type");
	const char *t = json_is(type, JSON_STRING) ? type->u.string : "";
	if (!strcmp(t, "init")) {
		on_init(s, doc);   /* takes doc */
		return;
	}
	if (!strcmp(t, "data")) {
		const json_value *stream = json_get(root, "stream");
		const json_value *d = json_get(root, "data");
		if (!s->initialized)
			send_close(s, 4003, "Not yet initialized");
		else if (!json_is(stream, JSON_STRING) || strcmp(stream->u.string, "stdin"))
			send_close(s, 4004, "Can only write to stdin");
		else if (d && !json_is(d, JSON_STRING))
			send_error(s, "data is required as a string");
		else {
			/* Extension: "eof": true ends the program's stdin (upstream
			 * clients never send it; a piped `piston run -t` does). */
			if (d && s->job && job_write_stdin(s->job, d->u.string, d->len) < 0)
				log_debug("connect: stdin for a finished stage dropped");
			if (json_is(json_get(root, "eof"), JSON_TRUE) && s->job)
				job_close_stdin(s->job);
			else if (!d)
				send_error(s, "data is required as a string");
		}
	} else if (!strcmp(t, "signal")) {
		const json_value *sig = json_get(root, "signal");
		int signo = json_is(sig, JSON_STRING) ? sbx_signal_number(sig->u.string) : 0;
		if (!s->initialized)
			send_close(s, 4003, "Not yet initialized");
		else if (!signo)
			send_close(s, 4005, "Invalid signal");
		else if (s->job)
			job_signal(s->job, signo);
	}
	/* Other types are ignored, as upstream does. */
	json_free(doc);
}

/* ------------------------------------------------------------------ I/O */

static void process_input(ws_session *s)
{
	while (!s->dead && s->in.len) {
		size_t consumed = 0;
		ws_event ev;
		ws_result r = ws_parse(&s->parser, s->in.data, s->in.len, &consumed, &ev);
		switch (r) {
		case WS_NEED_MORE:
			buf_consume(&s->in, consumed);
			return;
		case WS_MESSAGE:
			if (!s->close_sent)
				on_message(s, ev.data, ev.len);
			break;
		case WS_PING:
			if (!s->close_sent) {
				ws_encode(&s->out, WS_OP_PONG, ev.data, ev.len, NULL);
				flush(s);
			}
			break;
		case WS_PONG:
			break;
		case WS_CLOSE:
			/* Echo the peer's code (as RFC 6455 suggests); then we are done. */
			if (!s->close_sent) {
				uint16_t code = ev.close_code == WS_CLOSE_NO_STATUS ? 0 : ev.close_code;
				ws_encode_close(&s->out, code, "", 0, NULL);
				s->close_sent = true;
				flush(s);
			}
			session_kill(s);
			return;
		case WS_ERROR:
			if (!s->close_sent) {
				const char *why = ev.error ? ev.error : "protocol error";
				ws_encode_close(&s->out, ev.close_code, why, strlen(why), NULL);
				s->close_sent = true;
				flush(s);
			}
			session_kill(s);
			return;
		}
		buf_consume(&s->in, consumed);
	}
}

static void session_io(loop *l, int fd, unsigned events, void *arg)
{
	ws_session *s = arg;
	if (s->dead)
		return;
	if (events & LOOP_WRITE)
		flush(s);
	if (s->dead)
		return;
	if (events & (LOOP_READ | LOOP_ERROR)) {
		for (;;) {
			if (!buf_reserve(&s->in, READ_CHUNK)) {
				session_kill(s);
				return;
			}
			ssize_t n = recv(fd, s->in.data + s->in.len, READ_CHUNK, 0);
			if (n > 0) {
				s->in.len += (size_t)n;
				if (s->in.len > s->max_message + WS_MAX_HEADER + READ_CHUNK) {
					/* The parser refuses oversized frames from their header,
					 * so this only happens with many small pipelined frames:
					 * parse before reading more. */
					break;
				}
				if ((size_t)n < READ_CHUNK)
					break;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			/* EOF or error: the client is gone; so is its job. */
			process_input(s);
			session_kill(s);
			return;
		}
		process_input(s);
	}
}

static void init_timeout(loop *l, void *arg)
{
	ws_session *s = arg;
	s->init_timer = NULL;
	if (!s->initialized)
		send_close(s, 4001, "Initialization Timeout");
}

/* "Connection: keep-alive, Upgrade" contains the token "upgrade". */
static bool header_has_token(const http_request *req, const char *name, const char *token)
{
	size_t len = 0, tlen = strlen(token);
	const char *v = http_header_get(req, name, &len);
	if (!v)
		return false;
	const char *end = v + len;
	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		const char *start = v;
		while (v < end && *v != ',')
			v++;
		const char *stop = v;
		while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if ((size_t)(stop - start) == tlen && !strncasecmp(start, token, tlen))
			return true;
	}
	return false;
}

static void connect_handler(http_conn *c, const http_request *req, void *ctx)
{
	engine *e = ctx;
	if (health_refuse_if_draining(e, c))
		return;
	size_t keylen = 0, verlen = 0;
	const char *key = http_header_get(req, "Sec-WebSocket-Key", &keylen);
	const char *ver = http_header_get(req, "Sec-WebSocket-Version", &verlen);
	if (!header_has_token(req, "Upgrade", "websocket") || !header_has_token(req, "Connection", "upgrade")) {
		http_respond_ex(c, 426, "application/json", "Upgrade: websocket\r\nConnection: Upgrade\r\n",
		                "{\"message\":\"This endpoint needs a WebSocket upgrade\"}", 52);
		return;
	}
	if (!ver || verlen != 2 || memcmp(ver, "13", 2)) {
		http_respond_ex(c, 426, "application/json", "Sec-WebSocket-Version: 13\r\n",
		                "{\"message\":\"Unsupported WebSocket version (13 is supported)\"}", 59);
		return;
	}
	if (!key || !ws_key_valid(key, keylen)) {
		http_respond_error(c, 400, "Missing or invalid Sec-WebSocket-Key");
		return;
	}
	ws_session *s = calloc(1, sizeof *s);
	if (!s) {
		http_respond_error(c, 503, "out of memory");
		return;
	}
	char accept[29];
	ws_accept_key(key, keylen, accept);
	s->e = e;
	s->max_message = cfg.max_body_size ? cfg.max_body_size : 16u << 20;
	ws_parser_init(&s->parser, false, s->max_message);
	http_conn_detach(c, &s->fd, &s->in);
	buf_printf(&s->out, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	if (loop_watch(e->loop, s->fd, LOOP_READ, session_io, s) < 0) {
		close(s->fd);
		ws_parser_free(&s->parser);
		buf_free(&s->in);
		buf_free(&s->out);
		free(s);
		return;
	}
	s->init_timer = loop_timer_add(e->loop, INIT_TIMEOUT_MS, init_timeout, s);
	flush(s);
	if (s->in.len)
		process_input(s);   /* frames sent right behind the handshake */
}

void connect_register(engine *e)
{
	http_route(e->http, "GET", "/api/v2/connect", connect_handler, e);
}
