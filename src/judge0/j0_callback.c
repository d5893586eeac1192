/*
 * j0_callback: see j0_callback.h. The waiting deliveries are a singly linked
 * FIFO under one mutex; J0CB_WORKERS threads take from it. A worker takes the
 * oldest waiting item whose destination (host:port) has fewer than
 * J0CB_PER_DESTINATION workers on it, so items to a busy destination wait
 * while later ones to others go ahead. Idle workers sleep on `work`, the
 * pauses between tries on `stopping` (so j0cb_free wakes them). A finished
 * item goes onto the `finished` list (same mutex) and the eventfd is bumped;
 * the loop takes the whole list, runs done and frees the items. An eventfd,
 * not a pipe of pointers: its write never blocks, so a worker never waits on
 * the loop, not even at j0cb_free (which joins the workers before the loop
 * reads what they finished).
 */
#include "j0_callback.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
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
	char dest[264];      /* "host:port", host lowercased: the per-destination limit's key */
	char *url;
	char *body;
	size_t len;
	bool delivered;
} item;

typedef struct worker {
	j0cb *q;
	pthread_t thread;
	const item *current;   /* being delivered, or NULL; guarded by q->mu */
} worker;

struct j0cb {
	loop *l;
	j0cb_done_fn *done;
	void *ctx;
	worker workers[J0CB_WORKERS];
	pthread_mutex_t mu;
	pthread_cond_t work;       /* an item was queued, or stop */
	pthread_cond_t stopping;   /* stop: ends the pauses between tries */
	item *head, *tail;         /* waiting; guarded by mu */
	item *finished, *finished_tail;   /* delivered or given up, for the loop; guarded by mu */
	size_t held, held_bytes;   /* every item from enqueue until freed; guarded by mu */
	bool stop;
	int finished_fd;           /* eventfd: bumped when finished gets an item */
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
	while (!q->stop && pthread_cond_timedwait(&q->stopping, &q->mu, &ts) != ETIMEDOUT)
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

enum outcome { DELIVERED, GAVE_UP, CUT_BY_STOP };

static enum outcome deliver(j0cb *q, item *it)
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
			return DELIVERED;
		}
		if (r == CB_REFUSED || t == J0CB_TRIES || now_ms() + gap >= end)
			break;
		if (!pause_ms(q, gap)) {
			/* Not given up: unreported, it stays pending in the journal and
			 * is sent again after the restart. */
			log_info("judge0: callback for %s cut by the shutdown: sent again after the restart", it->token);
			return CUT_BY_STOP;
		}
		gap *= 2;
	}
	log_warn("judge0: callback for %s not delivered", it->token);
	return GAVE_UP;
}

static void item_free(item *it)
{
	free(it->url);
	free(it->body);
	free(it);
}

/* Under mu: how many workers deliver to dest now. */
static unsigned workers_on(const j0cb *q, const char *dest)
{
	unsigned n = 0;
	for (size_t i = 0; i < J0CB_WORKERS; i++)
		n += q->workers[i].current && !strcmp(q->workers[i].current->dest, dest);
	return n;
}

/* Under mu: unlinks the oldest waiting item whose destination has room;
 * NULL if none has. */
static item *take_next(j0cb *q)
{
	item *prev = NULL;
	for (item **link = &q->head; *link; prev = *link, link = &(*link)->next) {
		item *it = *link;
		if (workers_on(q, it->dest) >= J0CB_PER_DESTINATION)
			continue;
		*link = it->next;
		if (q->tail == it)
			q->tail = prev;
		it->next = NULL;
		return it;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	j0cb *q = w->q;
	pthread_mutex_lock(&q->mu);
	for (;;) {
		item *it = NULL;
		while (!q->stop && !(it = take_next(q)))
			pthread_cond_wait(&q->work, &q->mu);
		if (!it)
			break;   /* stopping */
		w->current = it;
		pthread_mutex_unlock(&q->mu);
		enum outcome o = deliver(q, it);
		pthread_mutex_lock(&q->mu);
		w->current = NULL;
		if (q->head)   /* a place at it->dest is free: a waiting item may fit now */
			pthread_cond_broadcast(&q->work);
		if (o == CUT_BY_STOP) {
			q->held--;
			q->held_bytes -= it->len;
			item_free(it);
			continue;
		}
		if (q->finished_tail)
			q->finished_tail->next = it;
		else
			q->finished = it;
		q->finished_tail = it;
		uint64_t one = 1;
		ssize_t wr = write(q->finished_fd, &one, sizeof one);   /* never blocks: a counter */
		(void)wr;
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

/* On the loop thread: done for every finished item, in finishing order. */
static void report_finished(j0cb *q)
{
	uint64_t bumps;
	ssize_t rd = read(q->finished_fd, &bumps, sizeof bumps);   /* resets it; what follows is seen next time */
	(void)rd;
	pthread_mutex_lock(&q->mu);
	item *list = q->finished;
	q->finished = q->finished_tail = NULL;
	for (item *it = list; it; it = it->next) {
		q->held--;
		q->held_bytes -= it->len;
	}
	pthread_mutex_unlock(&q->mu);
	for (item *it = list, *next; it; it = next) {
		next = it->next;
		q->done(q->ctx, it->token, it->delivered);
		item_free(it);
	}
}

static void on_finished(loop *l, int fd, unsigned events, void *arg)
{
	(void)l, (void)fd, (void)events;
	report_finished(arg);
}

/* Sets stop, wakes every worker (idle or pausing) and joins the first n. */
static void stop_workers(j0cb *q, size_t n)
{
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->stopping);
	pthread_mutex_unlock(&q->mu);
	for (size_t i = 0; i < n; i++)
		pthread_join(q->workers[i].thread, NULL);
}

static void j0cb_destroy(j0cb *q)
{
	for (item *it = q->head, *next; it; it = next) {
		next = it->next;
		item_free(it);
	}
	close(q->finished_fd);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->stopping);
	free(q);
}

j0cb *j0cb_new(loop *l, j0cb_done_fn *done, void *ctx)
{
	j0cb *q = calloc(1, sizeof *q);
	int fd = q ? eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1;
	if (fd < 0) {
		log_error("judge0: callbacks disabled: %s", strerror(q ? errno : ENOMEM));
		free(q);
		return NULL;
	}
	q->l = l, q->done = done, q->ctx = ctx, q->finished_fd = fd;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);   /* pause_ms's deadlines */
	pthread_cond_init(&q->stopping, &ca);
	pthread_condattr_destroy(&ca);
	size_t started = 0;
	while (started < J0CB_WORKERS) {
		q->workers[started].q = q;
		if (loop_thread_start(&q->workers[started].thread, worker_main, &q->workers[started]) != 0)
			break;
		started++;
	}
	if (started < J0CB_WORKERS || loop_watch(l, fd, LOOP_READ, on_finished, q) < 0) {
		log_error("judge0: callbacks disabled: cannot start their threads");
		stop_workers(q, started);
		j0cb_destroy(q);
		return NULL;
	}
	return q;
}

void j0cb_free(j0cb *q)
{
	if (!q)
		return;
	stop_workers(q, J0CB_WORKERS);
	report_finished(q);   /* finished ones are reported; the waiting ones are not */
	loop_unwatch(q->l, q->finished_fd);
	j0cb_destroy(q);
}

/* "host:port", host lowercased ("" if url does not parse: try_once then
 * refuses it anyway). */
static void destination_of(const char *url, char *out, size_t size)
{
	httpc_url u;
	if (httpc_parse_url(url, &u) < 0) {
		out[0] = 0;
		return;
	}
	for (char *c = u.host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	snprintf(out, size, "%s:%u", u.host, u.port);
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
	destination_of(url, it->dest, sizeof it->dest);
	pthread_mutex_lock(&q->mu);
	bool full = q->held >= J0CB_MAX_QUEUED || q->held_bytes + len > J0CB_MAX_QUEUED_BYTES;
	if (!full) {
		if (q->tail)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
		q->held++;
		q->held_bytes += len;
		pthread_cond_signal(&q->work);   /* one idle worker is enough for one item */
	}
	pthread_mutex_unlock(&q->mu);
	if (full) {
		log_warn("judge0: callback for %s dropped: the queue is full (%d callbacks or %u MiB held)", token,
		         J0CB_MAX_QUEUED, J0CB_MAX_QUEUED_BYTES >> 20);
		item_free(it);
		return -1;
	}
	return 0;
}
