/*
 * fdtable: grow this process's descriptor table ahead of need, while the
 * process is still single-threaded.
 *
 * Why: when a table shared by several threads (the engine has a helper
 * thread, sandbox.c) must grow, the kernel first waits for an RCU grace
 * period (fs/file.c expand_fdtable: synchronize_rcu when the table has more
 * than one user) -- 10-20 ms on the event loop, each time the number of
 * open descriptors passes a power of two. Grown once up front, it never
 * waits below that size (tables never shrink).
 *
 * Promise: after fdtable_reserve(n), descriptors below n (capped by
 * RLIMIT_NOFILE) are allocated without growing the table. Costs 8 bytes of
 * kernel memory per slot; nothing stays open.
 */
#ifndef PISTON_FDTABLE_H
#define PISTON_FDTABLE_H

/* The size reached (0 when it could not grow it). Call before any thread
 * is started. */
unsigned fdtable_reserve(unsigned n);

#endif
