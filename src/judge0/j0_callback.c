/*
 * j0_callback: see j0_callback.h. The queue is a singly linked FIFO under a
 * mutex; the thread sleeps on a condition variable (also between tries, so
 * j0cb_free wakes it). A finished item's pointer is written to a pipe; the
 * loop reads it, runs done and frees the item.
 */
#include "j0_callback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "httpc.h"
#include "log.h"
#include "loop.h"

typedef struct item {
	struct item *next;
	char token[37];
	char *url;
	char *body;
	size_t len;
	bool delivered;
} item;

struct j0cb {
	loop *l;
	j0cb_done_fn *done;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	item *head, *tail;   /* waiting, guarded by mu */
	size_t queued, queued_bytes;
	bool stop;
	int done_r, done_w;  /* pipe: finished item pointers */
};

/* ------------------------------------------------------------ addresses */

static const char *v4_refused(uint32_t a)   /* host order */
{
	if ((a >> 24) == 127) return "loopback";
	if ((a >> 24) == 0) return "unspecified";
	if ((a >> 16) == 0xa9fe) return "link-local";
	if ((a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8) return "private";
	return NULL;
}

const char *j0cb_address_refused(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return v4_refused(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
	if (sa->sa_family != AF_INET6)
		return "not an IP address";
	const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (!memcmp(b, mapped, 12))
		return v4_refused((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
	bool zero15 = true;
	for (int i = 0; i < 15; i++)
		zero15 = zero15 && b[i] == 0;
	if (zero15 && b[15] == 1) return "loopback";
	if (zero15 && b[15] == 0) return "unspecified";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
	if ((b[0] & 0xfe) == 0xfc) return "private";
	return NULL;
}

/* Whether sa is one of this host's interface addresses. */
static bool own_address(const struct sockaddr *sa)
{
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs) < 0)
		return true;   /* cannot tell: refuse */
	bool own = false;
	for (struct ifaddrs *i = ifs; i && !own; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET)
			own = ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
			      ((const struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr;
		else
			own = !memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr,
			              &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
	}
	freeifaddrs(ifs);
	return own;
}

const char *j0cb_url_problem(const char *url, size_t len, bool allow_private)
{
	if (len > J0CB_URL_MAX)
		return "is too long (maximum is 2048 characters)";
	httpc_url u;
	if (strlen(url) != len || httpc_parse_url(url, &u) < 0)
		return "must be an http or https URL";
	if (allow_private)
		return NULL;
	struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
	struct sockaddr_in a4 = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, u.host, &a4.sin_addr) == 1 && j0cb_address_refused((struct sockaddr *)&a4))
		return "must not be a loopback, link-local, private or unspecified address";
	if (inet_pton(AF_INET6, u.host, &a6.sin6_addr) == 1 && j0cb_address_refused((struct sockaddr *)&a6))
		return "must not be a loopback, link-local, private or unspecified address";
	return NULL;
}

/* ------------------------------------------------------------- delivery */

static uint64_t now_ms(void) { return mono_ns() / 1000000; }

/* Sleeps until ms from now or j0cb_free; false if stopping. */
static bool pause_ms(j0cb *q, uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&q->mu);
	while (!q->stop && pthread_cond_timedwait(&q->cv, &q->mu, &ts) != ETIMEDOUT)
		;
	bool go = !q->stop;
	pthread_mutex_unlock(&q->mu);
	return go;
}

enum { CB_SENT, CB_RETRY, CB_REFUSED };

static int drop_body(void *ctx, const void *data, size_t len) { (void)ctx, (void)data, (void)len; return 0; }

/* One try: resolve once, vet every address, PUT to the first one. */
static int try_once(const item *it, uint64_t budget_ms)
{
	httpc_url u;
	if (httpc_parse_url(it->url, &u) < 0) {
		log_warn("judge0: callback for %s: invalid URL, not delivered", it->token);
		return CB_REFUSED;
	}
	char port[8];
	snprintf(port, sizeof port, "%u", u.port);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
	int r = getaddrinfo(u.host, port, &hints, &res);
	if (r != 0) {
		log_warn("judge0: callback for %s: cannot resolve %s: %s", it->token, u.host, gai_strerror(r));
		return CB_RETRY;
	}
	if (!cfg.judge0_callback_allow_private)
		for (struct addrinfo *a = res; a; a = a->ai_next) {
			const char *why = j0cb_address_refused(a->ai_addr);
			if (why || own_address(a->ai_addr)) {
				char ip[INET6_ADDRSTRLEN] = "?";
				const void *p = a->ai_family == AF_INET ? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
				                                        : (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
				inet_ntop(a->ai_family, p, ip, sizeof ip);
				log_warn("judge0: callback for %s refused: %s resolves to %s (%s); set "
				         "PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE=true to allow", it->token, u.host, ip,
				         why ? why : "an address of this host");
				freeaddrinfo(res);
				return CB_REFUSED;
			}
		}
	struct sockaddr_storage ss;
	memcpy(&ss, res->ai_addr, res->ai_addrlen);
	httpc_options o = {.connect_timeout_ms = budget_ms, .total_timeout_ms = budget_ms, .no_redirects = true,
	                   .address = (struct sockaddr *)&ss, .address_len = (unsigned)res->ai_addrlen};
	freeaddrinfo(res);
	int status = 0;
	char err[300];
	if (httpc_request_ex("PUT", it->url, "Content-Type: application/json\r\n", it->body, it->len, drop_body,
	                     NULL, &o, &status, err, sizeof err) < 0) {
		log_warn("judge0: callback for %s to %s failed: %s", it->token, u.host, err);
		return CB_RETRY;
	}
	if (status < 200 || status > 299) {
		log_warn("judge0: callback for %s to %s answered %d", it->token, u.host, status);
		return CB_RETRY;
	}
	return CB_SENT;
}

static void deliver(j0cb *q, item *it)
{
	uint64_t end = now_ms() + J0CB_DEADLINE_MS, gap = J0CB_FIRST_GAP_MS;
	for (int t = 1; t <= J0CB_TRIES; t++) {
		uint64_t now = now_ms();
		if (now >= end)
			break;
		uint64_t budget = end - now < J0CB_TRY_MS ? end - now : J0CB_TRY_MS;
		int r = try_once(it, budget);
		if (r == CB_SENT) {
			it->delivered = true;
			return;
		}
		if (r == CB_REFUSED || t == J0CB_TRIES)
			break;
		if (now_ms() + gap >= end || !pause_ms(q, gap))
			break;
		gap *= 2;
	}
	log_warn("judge0: callback for %s not delivered", it->token);
}

static void *thread_main(void *arg)
{
	j0cb *q = arg;
	for (;;) {
		pthread_mutex_lock(&q->mu);
		while (!q->stop && !q->head)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->stop) {
			pthread_mutex_unlock(&q->mu);
			return NULL;
		}
		item *it = q->head;
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		q->queued--;
		q->queued_bytes -= it->len;
		pthread_mutex_unlock(&q->mu);
		deliver(q, it);
		/* A pointer (8 bytes < PIPE_BUF) is written whole; the loop frees it. */
		while (write(q->done_w, &it, sizeof it) < 0 && errno == EINTR)
			;
	}
}

static void item_free(item *it)
{
	free(it->url);
	free(it->body);
	free(it);
}

static void on_done_pipe(loop *l, int fd, unsigned events, void *arg)
{
	(void)l, (void)events;
	j0cb *q = arg;
	item *its[64];
	ssize_t n;
	while ((n = read(fd, its, sizeof its)) > 0)
		for (size_t i = 0; i < (size_t)n / sizeof its[0]; i++) {
			q->done(q->ctx, its[i]->token, its[i]->delivered);
			item_free(its[i]);
		}
}

j0cb *j0cb_new(loop *l, j0cb_done_fn *done, void *ctx)
{
	j0cb *q = calloc(1, sizeof *q);
	int p[2];
	if (!q || pipe2(p, O_CLOEXEC) < 0) {
		log_error("judge0: callbacks disabled: %s", strerror(errno));
		free(q);
		return NULL;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);   /* the loop end; the thread's end blocks */
	q->l = l, q->done = done, q->ctx = ctx, q->done_r = p[0], q->done_w = p[1];
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv, &ca);
	pthread_condattr_destroy(&ca);
	/* The thread must never take a signal meant for the loop's signalfd. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&q->thread, NULL, thread_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0 || loop_watch(l, q->done_r, LOOP_READ, on_done_pipe, q) < 0) {
		log_error("judge0: callbacks disabled: cannot start their thread");
		if (rc == 0) {
			pthread_mutex_lock(&q->mu);
			q->stop = true;
			pthread_cond_signal(&q->cv);
			pthread_mutex_unlock(&q->mu);
			pthread_join(q->thread, NULL);
		}
		close(p[0]), close(p[1]);
		free(q);
		return NULL;
	}
	return q;
}

void j0cb_free(j0cb *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	on_done_pipe(q->l, q->done_r, LOOP_READ, q);   /* finished ones are reported */
	loop_unwatch(q->l, q->done_r);
	for (item *it = q->head, *nx; it; it = nx) {
		nx = it->next;
		item_free(it);
	}
	close(q->done_r), close(q->done_w);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q);
}

int j0cb_enqueue(j0cb *q, const char *token, const char *url, const char *body, size_t len)
{
	item *it = calloc(1, sizeof *it);
	if (it) {
		snprintf(it->token, sizeof it->token, "%s", token);
		it->url = strdup(url);
		it->body = malloc(len ? len : 1);
		it->len = len;
	}
	if (!it || !it->url || !it->body) {
		log_warn("judge0: callback for %s dropped: out of memory", token);
		if (it)
			item_free(it);
		return -1;
	}
	memcpy(it->body, body, len);
	pthread_mutex_lock(&q->mu);
	bool full = q->queued >= J0CB_MAX_QUEUED || q->queued_bytes + len > J0CB_MAX_QUEUED_BYTES;
	if (!full) {
		if (q->tail)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
		q->queued++;
		q->queued_bytes += len;
		pthread_cond_signal(&q->cv);
	}
	pthread_mutex_unlock(&q->mu);
	if (full) {
		log_warn("judge0: callback for %s dropped: %d callbacks already queued", token, J0CB_MAX_QUEUED);
		item_free(it);
		return -1;
	}
	return 0;
}
