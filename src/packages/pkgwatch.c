/*
 * pkgwatch: rescan the runtimes when DATA/packages changes on disk (see pkgwatch.h).
 */
#include "pkgwatch.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

struct pkgwatch {
	engine *e;
	int fd;                 /* inotify */
	loop_timer *settle;     /* pending rescan, or NULL */
	char dir[PATH_MAX];     /* DATA/packages */
};

/* What changes the set of installed packages: entries appearing, going, renamed in or out. */
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)

/* Watch each language directory (an existing watch is only refreshed by the kernel). */
static void watch_languages(pkgwatch *w)
{
	DIR *d = opendir(w->dir);
	if (!d)
		return;
	struct dirent *de;
	char path[PATH_MAX];
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;   /* ppman's staging and trash entries start with a dot */
		if (snprintf(path, sizeof path, "%s/%s", w->dir, de->d_name) >= (int)sizeof path)
			continue;
		inotify_add_watch(w->fd, path, WATCH_MASK);   /* not a directory: refused, fine */
	}
	closedir(d);
}

static void on_settled(loop *l, void *arg)
{
	pkgwatch *w = arg;
	w->settle = NULL;   /* fired: freed by the loop */
	watch_languages(w);
	log_info("runtimes: %s changed on disk; rescanning", w->dir);
	engine_rescan(w->e);
}

static void on_events(loop *l, int fd, unsigned events, void *arg)
{
	pkgwatch *w = arg;
	char b[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	for (;;) {
		ssize_t n = read(fd, b, sizeof b);
		if (n <= 0)
			break;   /* EAGAIN: drained */
		for (char *p = b; p < b + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			/* A new language directory: watch it now, so an install into it right after is seen. */
			if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && (ev->mask & IN_ISDIR))
				watch_languages(w);
			changed = true;
			p += sizeof *ev + ev->len;
		}
	}
	if (changed) {
		if (w->settle)
			loop_timer_cancel(l, w->settle);
		w->settle = loop_timer_add(l, PKGWATCH_SETTLE_MS, on_settled, w);
	}
}

static void on_hup(loop *l, int signo, void *arg)
{
	log_info("runtimes: SIGHUP; rescanning");
	engine_rescan(arg);
}

pkgwatch *pkgwatch_start(engine *e)
{
	if (loop_signal(e->loop, SIGHUP, on_hup, e) < 0)
		log_warn("runtimes: cannot watch SIGHUP");
	pkgwatch *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->e = e;
	if (snprintf(w->dir, sizeof w->dir, "%s/packages", cfg.data_directory) >= (int)sizeof w->dir)
		goto fail;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0 || inotify_add_watch(w->fd, w->dir, WATCH_MASK) < 0 ||
	    loop_watch(e->loop, w->fd, LOOP_READ, on_events, w) < 0) {
		log_warn("runtimes: cannot watch %s (%s): packages added there by hand are used after a restart or SIGHUP",
		         w->dir, strerror(errno));
		if (w->fd >= 0)
			close(w->fd);
		goto fail;
	}
	watch_languages(w);
	return w;
fail:
	free(w);
	return NULL;
}

void pkgwatch_stop(pkgwatch *w)
{
	if (!w)
		return;
	if (w->settle)
		loop_timer_cancel(w->e->loop, w->settle);
	loop_unwatch(w->e->loop, w->fd);
	close(w->fd);
	free(w);
}
