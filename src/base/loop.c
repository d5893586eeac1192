#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

struct fd_slot {
	loop_fd_fn *fn;
	void *arg;
	uint32_t gen;      /* bumped on every (un)watch: stale events are dropped */
	unsigned events;
	bool active;
};

struct loop_timer {
	uint64_t when;
	uint64_t seq;      /* ties fire in creation order */
	size_t heap_index;
	loop_timer_fn *fn;
	void *arg;
};

struct signal_slot {
	loop_signal_fn *fn;
	void *arg;
};

struct loop {
	int epfd;
	int sigfd;
	sigset_t sigmask;
	bool stopping;
	uint64_t now;
	uint64_t timer_seq;
	struct fd_slot *fds;
	size_t nfds;
	loop_timer **heap;
	size_t heap_len, heap_cap;
	struct signal_slot signals[65];
};

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void refresh_now(loop *l) { l->now = mono_ns() / 1000000u; }

uint64_t loop_now(const loop *l) { return l->now; }

loop *loop_new(void)
{
	loop *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	refresh_now(l);
	return l;
}

void loop_free(loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->heap_len; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l->fds);
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l);
}

static struct fd_slot *slot_for(loop *l, int fd)
{
	if (fd < 0)
		return NULL;
	if ((size_t)fd >= l->nfds) {
		size_t n = l->nfds ? l->nfds : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct fd_slot *p = realloc(l->fds, n * sizeof *p);
		if (!p)
			return NULL;
		memset(p + l->nfds, 0, (n - l->nfds) * sizeof *p);
		l->fds = p;
		l->nfds = n;
	}
	return &l->fds[fd];
}

static uint32_t to_epoll(unsigned ev)
{
	uint32_t e = 0;
	if (ev & LOOP_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (ev & LOOP_WRITE)
		e |= EPOLLOUT;
	return e;
}

int loop_watch(loop *l, int fd, unsigned events, loop_fd_fn *fn, void *arg)
{
	struct fd_slot *s = slot_for(l, fd);
	if (!s)
		return -1;
	s->gen++;
	struct epoll_event ev = {
		.events = to_epoll(events),
		.data.u64 = (uint64_t)(uint32_t)fd | (uint64_t)s->gen << 32,
	};
	int op = s->active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
		return -1;
	s->active = true;
	s->fn = fn;
	s->arg = arg;
	s->events = events;
	return 0;
}

void loop_unwatch(loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].active)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].active = false;
	l->fds[fd].gen++;
}

/* ---- timers: a binary min-heap on (when, seq) ---- */

static bool timer_before(const loop_timer *a, const loop_timer *b)
{
	return a->when != b->when ? a->when < b->when : a->seq < b->seq;
}

static void heap_set(loop *l, size_t i, loop_timer *t)
{
	l->heap[i] = t;
	t->heap_index = i;
}

static void heap_up(loop *l, size_t i)
{
	loop_timer *t = l->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, l->heap[parent]))
			break;
		heap_set(l, i, l->heap[parent]);
		i = parent;
	}
	heap_set(l, i, t);
}

static void heap_down(loop *l, size_t i)
{
	loop_timer *t = l->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->heap_len)
			break;
		if (c + 1 < l->heap_len && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_set(l, i, l->heap[c]);
		i = c;
	}
	heap_set(l, i, t);
}

static void heap_remove(loop *l, size_t i)
{
	loop_timer *last = l->heap[--l->heap_len];
	if (i == l->heap_len)
		return;
	heap_set(l, i, last);
	heap_down(l, i);
	heap_up(l, last->heap_index);
}

loop_timer *loop_timer_add(loop *l, uint64_t after_ms, loop_timer_fn *fn, void *arg)
{
	if (l->heap_len == l->heap_cap) {
		size_t n = l->heap_cap ? l->heap_cap * 2 : 64;
		loop_timer **p = realloc(l->heap, n * sizeof *p);
		if (!p)
			return NULL;
		l->heap = p;
		l->heap_cap = n;
	}
	loop_timer *t = malloc(sizeof *t);
	if (!t)
		return NULL;
	t->when = l->now + after_ms;
	t->seq = l->timer_seq++;
	t->fn = fn;
	t->arg = arg;
	l->heap_len++;
	heap_set(l, l->heap_len - 1, t);
	heap_up(l, l->heap_len - 1);
	return t;
}

void loop_timer_cancel(loop *l, loop_timer *t)
{
	if (!t)
		return;
	heap_remove(l, t->heap_index);
	free(t);
}

static void run_timers(loop *l)
{
	/* Timers added by callbacks in this pass with a 0 delay wait for the
	 * next iteration, so a timer that re-arms itself cannot starve I/O. */
	uint64_t limit_seq = l->timer_seq;
	while (l->heap_len && l->heap[0]->when <= l->now && l->heap[0]->seq < limit_seq) {
		loop_timer *t = l->heap[0];
		heap_remove(l, 0);
		loop_timer_fn *fn = t->fn;
		void *arg = t->arg;
		free(t);
		fn(l, arg);
	}
}

/* ---- signals ---- */

static void on_signalfd(loop *l, int fd, unsigned events, void *arg)
{
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo < 65 && l->signals[si.ssi_signo].fn)
			l->signals[si.ssi_signo].fn(l, (int)si.ssi_signo, l->signals[si.ssi_signo].arg);
	}
}

int loop_signal(loop *l, int signo, loop_signal_fn *fn, void *arg)
{
	if (signo <= 0 || signo >= 65)
		return -1;
	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
		return -1;
	int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		if (loop_watch(l, fd, LOOP_READ, on_signalfd, NULL) < 0)
			return -1;
	}
	l->signals[signo].fn = fn;
	l->signals[signo].arg = arg;
	return 0;
}

/* ---- the loop ---- */

void loop_stop(loop *l) { l->stopping = true; }

int loop_run(loop *l)
{
	struct epoll_event events[256];
	l->stopping = false;
	while (!l->stopping) {
		int timeout = -1;
		if (l->heap_len) {
			refresh_now(l);
			uint64_t when = l->heap[0]->when;
			timeout = when <= l->now ? 0 : (int)(when - l->now > 60000 ? 60000 : when - l->now);
		}
		int n = epoll_wait(l->epfd, events, 256, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		refresh_now(l);
		for (int i = 0; i < n; i++) {
			int fd = (int)(uint32_t)events[i].data.u64;
			uint32_t gen = (uint32_t)(events[i].data.u64 >> 32);
			if ((size_t)fd >= l->nfds)
				continue;
			struct fd_slot *s = &l->fds[fd];
			if (!s->active || s->gen != gen)
				continue;
			unsigned ev = 0;
			uint32_t e = events[i].events;
			if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				ev |= LOOP_READ;
			if (e & EPOLLOUT)
				ev |= LOOP_WRITE;
			if (e & (EPOLLHUP | EPOLLERR))
				ev |= LOOP_ERROR;
			ev &= s->events | LOOP_ERROR;
			if (ev)
				s->fn(l, fd, ev, s->arg);
		}
		run_timers(l);
	}
	return 0;
}

int loop_thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);   /* the new thread inherits the mask */
	int rc = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
