/*
 * loop: the engine's single-threaded event loop (epoll), in the spirit of
 * Redis's ae.c. Everything that waits -- sockets, pipes, pidfds, timers,
 * signals -- waits here, so hundreds of connections and jobs share one
 * thread.
 *
 * Promises:
 * - A callback for an fd runs only while that fd is watched: unwatching (or
 *   re-watching) an fd inside any callback cancels events already collected
 *   for it in the current batch.
 * - Timers fire in deadline order, at or after their deadline, never early.
 *   A timer is freed after it fires; its owner must forget the handle inside
 *   the callback (loop_timer_cancel on a fired timer is a use-after-free).
 * - Signals registered with loop_signal are blocked for the whole process and
 *   delivered through a signalfd, as ordinary loop events.
 * - No allocation per event; one allocation per timer.
 * - loop_thread_start's threads never take a signal: they all stay the
 *   loop's, for its signalfd.
 */
#ifndef PISTON_LOOP_H
#define PISTON_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct loop loop;
typedef struct loop_timer loop_timer;

enum {
	LOOP_READ = 1u << 0,   /* readable, or peer hung up (read returns 0/err) */
	LOOP_WRITE = 1u << 1,  /* writable */
	LOOP_ERROR = 1u << 2,  /* reported only: EPOLLERR/EPOLLHUP; delivered even
	                          to a muted fd, whose owner must then close it */
};

typedef void loop_fd_fn(loop *l, int fd, unsigned events, void *arg);
typedef void loop_timer_fn(loop *l, void *arg);
typedef void loop_signal_fn(loop *l, int signo, void *arg);

loop *loop_new(void);
void loop_free(loop *l);

/* Add or change the watch on fd; events 0 keeps the registration but mutes it. */
int loop_watch(loop *l, int fd, unsigned events, loop_fd_fn *fn, void *arg);
void loop_unwatch(loop *l, int fd);

/* Run fn once, after_ms milliseconds from now (0: on the next iteration). */
loop_timer *loop_timer_add(loop *l, uint64_t after_ms, loop_timer_fn *fn, void *arg);
void loop_timer_cancel(loop *l, loop_timer *t);

int loop_signal(loop *l, int signo, loop_signal_fn *fn, void *arg);

/* Run until loop_stop; returns 0, or -1 if epoll failed. */
int loop_run(loop *l);
/* pthread_create(t, NULL, fn, arg) with every signal blocked in the new
 * thread (a helper thread picked to take a signal would steal it from the
 * loop's signalfd). 0, or pthread_create's error number. */
int loop_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
void loop_stop(loop *l);

/* Monotonic milliseconds, refreshed once per iteration (cheap). */
uint64_t loop_now(const loop *l);
/* Monotonic clock read now, in nanoseconds (a syscall-free vDSO call). */
uint64_t mono_ns(void);

#endif
