/* journal: records survive a reopen; cut and corrupt records are skipped
 * (the ones after a corrupt record still replay); a cut tail is truncated
 * before new appends; compaction replaces the file whole. Group commit:
 * waiters are answered from the loop, never inside the call; one fdatasync
 * covers every record appended before it (three waiters, two syncs); a
 * cancelled waiter is never called; a compaction while a sync is in flight
 * answers its waiters and closes the old file only once that sync is back.
 * Compaction off the loop: appends and waiters go on while it runs, each
 * waiter answered only once its record is in the file named PATH (a copy
 * taken at that moment, as a crash would leave it, replays it); all records
 * after reopen, in order; over the tail limit, an unwritable PATH.tmp or a
 * close mid-way: aborted, the old journal whole. prepare: fill is called
 * back from the loop. journal_close at every stage of a compaction: the
 * old file or the new one, whole, with every record appended. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "loop.h"
#include "t.h"

typedef struct seen {
	int n;
	char recs[16][64];
} seen;

static void on_rec(void *ctx, const char *data, size_t len)
{
	seen *s = ctx;
	if (s->n < 16)
		snprintf(s->recs[s->n], 64, "%.*s", (int)len, data);
	s->n++;
}

static journal *reopen(const char *path, seen *s)
{
	char err[256];
	memset(s, 0, sizeof *s);
	journal *j = journal_open(path, NULL, on_rec, s, err, sizeof err);
	CHECKF(j != NULL, "%s", err);
	return j;
}

static off_t fsize(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* ---- group commit ---- */

typedef struct waited {
	int calls, err, order;
} waited;

static int answered, outstanding;
static loop *gl;

static void on_synced(void *arg, int err)
{
	waited *w = arg;
	w->calls++;
	w->err = err;
	w->order = ++answered;
	if (--outstanding == 0)
		loop_stop(gl);
}

static bool timed_out;
static void on_timeout(loop *l, void *arg)
{
	timed_out = true;
	loop_stop(l);
}

/* Runs the loop until every registered waiter has been answered (or 10 s). */
static void run_until_answered(void)
{
	timed_out = false;
	loop_timer *t = loop_timer_add(gl, 10000, on_timeout, NULL);
	loop_run(gl);
	if (!timed_out)
		loop_timer_cancel(gl, t);
	CHECK(!timed_out);
}

static journal_waiter *wait_for(journal *j, waited *w)
{
	memset(w, 0, sizeof *w);
	journal_waiter *h = journal_after_sync(j, on_synced, w);
	CHECK(h != NULL);
	outstanding++;
	return h;
}

static int open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d)); )
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* A new loop in gl and the journal DIR/NAME/journal on it (its path in
 * path); NULL, a failed check, when it cannot be opened. */
static journal *open_on_new_loop(const char *dir, const char *name, char *path, size_t pathlen)
{
	char err[256];
	snprintf(path, pathlen, "%s/%s/journal", dir, name);
	gl = loop_new();
	journal *j = journal_open(path, gl, NULL, NULL, err, sizeof err);
	CHECKF(j != NULL, "%s", err);
	return j;
}

static void test_group_commit(const char *dir)
{
	char path[256];
	journal *j = open_on_new_loop(dir, "gc", path, sizeof path);
	if (!j)
		return;
	journal_counters jc;
	waited w1, w2, w3, w4;
	/* a, then b and c each appended while the sync of a is in flight */
	CHECK(journal_append(j, "a", 1) == 0);
	wait_for(j, &w1);
	CHECK(journal_append(j, "b", 1) == 0);
	wait_for(j, &w2);
	CHECK(journal_append(j, "c", 1) == 0);
	wait_for(j, &w3);
	CHECK(w1.calls == 0 && w2.calls == 0 && w3.calls == 0);   /* only from the loop */
	run_until_answered();
	CHECK(w1.calls == 1 && w2.calls == 1 && w3.calls == 1);
	CHECK(w1.err == 0 && w2.err == 0 && w3.err == 0);
	CHECK(w1.order < w2.order && w2.order < w3.order);
	journal_get_counters(j, &jc);
	CHECKF(jc.syncs == 2 && jc.records == 3 && jc.waiters == 3, "syncs %llu records %llu waiters %llu",
	       (unsigned long long)jc.syncs, (unsigned long long)jc.records, (unsigned long long)jc.waiters);

	/* nothing new appended: answered on the next iteration, no sync */
	wait_for(j, &w1);
	CHECK(w1.calls == 0);
	run_until_answered();
	journal_get_counters(j, &jc);
	CHECK(w1.calls == 1 && w1.err == 0 && jc.syncs == 2);

	/* a cancelled waiter is never called */
	CHECK(journal_append(j, "d", 1) == 0);
	journal_waiter *h = wait_for(j, &w1);
	wait_for(j, &w2);
	journal_waiter_cancel(j, h);
	outstanding--;
	run_until_answered();
	CHECK(w1.calls == 0 && w2.calls == 1 && w2.err == 0);

	/* compaction while the sync of e is in flight: e's waiter is answered,
	 * f (after the rename) is synced in the new file, the old descriptor is
	 * closed once its sync is back */
	int fds = open_fds();
	CHECK(journal_append(j, "e", 1) == 0);
	wait_for(j, &w3);
	CHECK(journal_rewrite_begin(j) == 0);
	CHECK(journal_rewrite_add(j, "kept", 4) == 0);
	CHECK(journal_rewrite_add(j, "e", 1) == 0);
	CHECK(journal_rewrite_commit(j) == 0);
	CHECK(open_fds() == fds + 1);   /* the old file, held for the syncer */
	CHECK(journal_append(j, "f", 1) == 0);
	wait_for(j, &w4);
	run_until_answered();
	CHECK(w3.calls == 1 && w3.err == 0 && w4.calls == 1 && w4.err == 0);
	CHECKF(open_fds() == fds, "%d descriptors, %d before", open_fds(), fds);

	/* a waiter left at close is dropped, never called */
	CHECK(journal_append(j, "g", 1) == 0);
	wait_for(j, &w1);
	journal_close(j);
	CHECK(w1.calls == 0);
	outstanding = 0;
	seen s;
	j = reopen(path, &s);
	CHECK(s.n == 4 && !strcmp(s.recs[0], "kept") && !strcmp(s.recs[1], "e") && !strcmp(s.recs[2], "f") &&
	      !strcmp(s.recs[3], "g"));
	/* no loop: no syncer */
	CHECK(journal_after_sync(j, on_synced, &w1) == NULL && errno == ENOTSUP);
	journal_close(j);
	loop_free(gl);
}

/* ---- compaction off the loop (journal_rewrite_start) ---- */

/* Every record of a journal, replayed (names only: up to 15 bytes). */
typedef struct names {
	int n;
	char (*v)[16];
} names;

static void on_name(void *ctx, const char *data, size_t len)
{
	names *s = ctx;
	if (s->n % 1024 == 0)
		s->v = realloc(s->v, (size_t)(s->n + 1024) * sizeof *s->v);
	const char *sp = memchr(data, ' ', len);   /* the p records: name, space, padding */
	if (sp)
		len = (size_t)(sp - data);
	snprintf(s->v[s->n++], 16, "%.*s", (int)(len < 15 ? len : 15), data);
}

static bool has_name(const names *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], name))
			return true;
	return false;
}

/* What journal_open would find after kill -9 now: the file named path
 * (PATH.tmp is unlinked at open, so it is not copied). */
static void crash_copy(const char *path, const char *copy, names *out)
{
	char cmd[700];
	snprintf(cmd, sizeof cmd, "cp %s %s 2>/dev/null || : > %s; rm -f %s.tmp", path, copy, copy, copy);
	CHECK(system(cmd) == 0);
	char err[256];
	free(out->v);
	memset(out, 0, sizeof *out);
	journal *c = journal_open(copy, NULL, on_name, out, err, sizeof err);
	CHECKF(c != NULL, "%s", err);
	journal_close(c);
}

typedef struct async_run {
	journal *j;
	const char *path, *copy;
	int sent, answered, during, total;
	int missing;          /* waiters answered before their record was synced under PATH */
	int errs;
	bool done;            /* the compaction finished (and some records after it) */
	loop_timer *tick;
} async_run;

typedef struct async_waiter {
	async_run *r;
	int i;
	uint64_t syncs;       /* the syncer's count when it registered */
} async_waiter;

static void on_async_synced(void *arg, int err)
{
	async_waiter *w = arg;
	async_run *r = w->r;
	char name[16];
	snprintf(name, sizeof name, "t%05d", w->i);
	names s = {0};
	crash_copy(r->path, r->copy, &s);
	journal_counters jc;
	journal_get_counters(r->j, &jc);
	if (!has_name(&s, name) || jc.syncs <= w->syncs)   /* a sync must have come back since */
		r->missing++;
	free(s.v);
	r->errs += err != 0;
	r->answered++;
	free(w);
	if (r->done && r->answered == r->sent)
		loop_stop(gl);
}

/* Every ms: one record and its waiter; the compaction is in flight for the
 * first ones, then 20 more after it ended. */
static void on_async_tick(loop *l, void *arg)
{
	async_run *r = arg;
	r->tick = NULL;
	char name[16];
	snprintf(name, sizeof name, "t%05d", r->sent);
	bool busy = journal_rewrite_busy(r->j);
	CHECK(journal_append(r->j, name, strlen(name)) == 0);
	async_waiter *w = malloc(sizeof *w);
	w->r = r;
	w->i = r->sent++;
	journal_counters jc;
	journal_get_counters(r->j, &jc);
	w->syncs = jc.syncs;
	r->during += busy;
	CHECK(journal_after_sync(r->j, on_async_synced, w) != NULL);
	if (!busy && r->total == 0)
		r->total = r->sent + 20;
	if (r->total && r->sent >= r->total) {
		r->done = true;
		return;
	}
	r->tick = loop_timer_add(l, 1, on_async_tick, r);
}

static void on_synced_none(void *arg, int err)
{
}

static void on_async_timeout(loop *l, void *arg)
{
	timed_out = true;
	loop_stop(l);
}

static void test_async_compaction(const char *dir)
{
	char path[256], copy[300], tmp[300], err[256];
	journal *j = open_on_new_loop(dir, "async", path, sizeof path);
	snprintf(copy, sizeof copy, "%s/async/crash-copy", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (!j)
		return;
	/* 8 MiB of old records, p00000..; the compaction keeps the odd ones */
	static char rec[1024];
	for (int i = 0; i < 8192; i++) {
		memset(rec, 'x', sizeof rec);
		int n = snprintf(rec, sizeof rec, "p%05d", i);
		rec[n] = ' ';
		CHECK(journal_append(j, rec, sizeof rec) == 0);
	}
	waited w0;
	wait_for(j, &w0);
	run_until_answered();
	int fds = open_fds();
	CHECK(journal_rewrite_begin(j) == 0);
	for (int i = 1; i < 8192; i += 2) {
		memset(rec, 'x', sizeof rec);
		int n = snprintf(rec, sizeof rec, "p%05d", i);
		rec[n] = ' ';
		CHECK(journal_rewrite_add(j, rec, sizeof rec) == 0);
	}
	uint64_t t0 = mono_ns();
	CHECK(journal_rewrite_start(j) == 0);
	CHECKF(mono_ns() - t0 < 5000000, "start took %llu us", (unsigned long long)(mono_ns() - t0) / 1000);
	CHECK(journal_rewrite_busy(j));
	CHECK(journal_rewrite_begin(j) < 0 && errno == EBUSY);   /* one at a time */

	async_run r = { .j = j, .path = path, .copy = copy };
	r.tick = loop_timer_add(gl, 0, on_async_tick, &r);
	timed_out = false;
	loop_timer *t = loop_timer_add(gl, 20000, on_async_timeout, NULL);
	loop_run(gl);
	if (!timed_out)
		loop_timer_cancel(gl, t);
	CHECK(!timed_out);
	CHECKF(r.answered == r.sent && r.missing == 0 && r.errs == 0,
	       "%d sent, %d answered, %d answered before their record was under the journal's name, %d errors",
	       r.sent, r.answered, r.missing, r.errs);
	CHECKF(r.during > 0, "%d appended during the compaction", r.during);
	journal_counters jc;
	journal_get_counters(j, &jc);
	CHECKF(jc.compactions == 1 && jc.compaction_aborts == 0, "%llu compactions, %llu aborts",
	       (unsigned long long)jc.compactions, (unsigned long long)jc.compaction_aborts);
	CHECK(!journal_rewrite_busy(j) && fsize(tmp) < 0);
	CHECKF(open_fds() == fds, "%d descriptors, %d before", open_fds(), fds);   /* the old file closed */
	CHECK(journal_size(j) == (uint64_t)fsize(path));
	journal_close(j);

	/* after reopen: the kept records, then every t record, in order */
	names s = {0};
	j = journal_open(path, NULL, on_name, &s, err, sizeof err);
	CHECKF(j != NULL, "%s", err);
	bool ordered = s.n == 4096 + r.sent;
	for (int i = 0; ordered && i < s.n; i++) {
		char want[16];
		snprintf(want, sizeof want, i < 4096 ? "p%05d" : "t%05d", i < 4096 ? 2 * i + 1 : i - 4096);
		ordered = !strcmp(s.v[i], want);
	}
	CHECKF(ordered, "%d records after reopen, %d expected, in order", s.n, 4096 + r.sent);
	free(s.v);
	journal_close(j);

	/* over the tail limit: aborted, the old journal stays whole */
	j = journal_open(path, gl, NULL, NULL, err, sizeof err);
	CHECKF(j != NULL, "%s", err);
	journal_set_tail_limit(j, 100);
	CHECK(journal_rewrite_begin(j) == 0 && journal_rewrite_add(j, "only", 4) == 0);
	CHECK(journal_rewrite_start(j) == 0);
	for (int i = 0; i < 10; i++)
		CHECK(journal_append(j, "over-the-limit", 14) == 0);
	wait_for(j, &w0);
	run_until_answered();
	for (int i = 0; i < 200 && journal_rewrite_busy(j); i++) {   /* the writer's answer */
		wait_for(j, &w0);
		run_until_answered();
		usleep(10000);
	}
	CHECK(!journal_rewrite_busy(j) && fsize(tmp) < 0);
	journal_get_counters(j, &jc);
	CHECK(jc.compactions == 0 && jc.compaction_aborts == 1);
	journal_close(j);
	s = (names){0};
	j = journal_open(path, NULL, on_name, &s, err, sizeof err);
	CHECKF(s.n == 4096 + r.sent + 10 && !strcmp(s.v[s.n - 1], "over-the-limit"), "%d records", s.n);
	free(s.v);
	journal_close(j);

	/* PATH.tmp cannot be written: aborted, nothing lost, waiters answered */
	CHECK(mkdir(tmp, 0700) == 0);
	j = journal_open(path, gl, NULL, NULL, err, sizeof err);
	CHECK(journal_rewrite_begin(j) == 0 && journal_rewrite_add(j, "only", 4) == 0);
	CHECK(journal_rewrite_start(j) == 0);
	CHECK(journal_append(j, "while-failing", 13) == 0);
	waited w1;
	wait_for(j, &w1);
	run_until_answered();
	for (int i = 0; i < 200 && journal_rewrite_busy(j); i++) {
		wait_for(j, &w0);
		run_until_answered();
		usleep(10000);
	}
	CHECK(w1.calls == 1 && w1.err == 0);
	journal_get_counters(j, &jc);
	CHECK(jc.compactions == 0 && jc.compaction_aborts == 1);
	journal_close(j);
	CHECK(rmdir(tmp) == 0);
	s = (names){0};
	j = journal_open(path, NULL, on_name, &s, err, sizeof err);
	CHECKF(s.n == 4096 + r.sent + 11 && !strcmp(s.v[s.n - 1], "while-failing"), "%d records", s.n);
	free(s.v);
	journal_close(j);

	/* closed while the writer runs: the old journal stays, no PATH.tmp */
	j = journal_open(path, gl, NULL, NULL, err, sizeof err);
	CHECK(journal_rewrite_begin(j) == 0 && journal_rewrite_add(j, "only", 4) == 0);
	CHECK(journal_rewrite_start(j) == 0);
	CHECK(journal_append(j, "at-close", 8) == 0);
	journal_close(j);
	CHECK(fsize(tmp) < 0);
	s = (names){0};
	j = journal_open(path, NULL, on_name, &s, err, sizeof err);
	CHECKF(s.n >= 2 && !strcmp(s.v[s.n - 1], "at-close"), "%d records", s.n);
	free(s.v);
	journal_close(j);
	loop_free(gl);
}

static int fill_calls;
static int fill_two(void *arg)
{
	journal *j = arg;
	fill_calls++;
	return journal_rewrite_add(j, "kept-1", 6) | journal_rewrite_add(j, "kept-2", 6);
}

/* journal_rewrite_prepare: fill runs later, from the loop; the records
 * appended before it are dropped with the rest, those after it kept. */
static void test_prepare(const char *dir)
{
	char path[256], tmp[300], err[256];
	journal *j = open_on_new_loop(dir, "prepare", path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (!j)
		return;
	CHECK(journal_append(j, "old", 3) == 0);
	fill_calls = 0;
	CHECK(journal_rewrite_prepare(j, fill_two, j) == 0);
	CHECK(fill_calls == 0 && journal_rewrite_busy(j));
	CHECK(journal_rewrite_prepare(j, fill_two, j) < 0 && errno == EBUSY);
	journal_counters jc;
	waited w;
	for (int i = 0; i < 500; i++) {   /* until the compaction is through */
		journal_get_counters(j, &jc);
		if (jc.compactions)
			break;
		if (fill_calls)
			CHECK(journal_append(j, "after-fill", 10) == 0);
		wait_for(j, &w);
		run_until_answered();
		usleep(2000);
	}
	journal_get_counters(j, &jc);
	CHECKF(fill_calls == 1 && jc.compactions == 1, "%d fills, %llu compactions", fill_calls,
	       (unsigned long long)jc.compactions);
	CHECK(!journal_rewrite_busy(j) && fsize(tmp) < 0);
	journal_close(j);
	names s = {0};
	j = journal_open(path, NULL, on_name, &s, err, sizeof err);
	bool ok = s.n >= 3 && !strcmp(s.v[0], "kept-1") && !strcmp(s.v[1], "kept-2");
	for (int i = 2; ok && i < s.n; i++)
		ok = !strcmp(s.v[i], "after-fill");
	CHECKF(ok, "%d records", s.n);
	free(s.v);
	journal_close(j);
	/* closed before fill ran: nothing changes, nothing leaks */
	j = journal_open(path, gl, NULL, NULL, err, sizeof err);
	fill_calls = 0;
	CHECK(journal_rewrite_prepare(j, fill_two, j) == 0);
	journal_close(j);
	CHECK(fill_calls == 0 && fsize(tmp) < 0);
	s = (names){0};
	j = journal_open(path, NULL, on_name, &s, err, sizeof err);
	CHECK(s.n >= 3 && !strcmp(s.v[0], "kept-1"));
	free(s.v);
	journal_close(j);
	loop_free(gl);
}

typedef struct close_run {
	journal *j;
	int sent;
	int stop_after;   /* ticks */
	int at_fill;      /* sent when fill ran (-1: not yet): the snapshot point */
} close_run;
static close_run *cur_close;

static void on_close_tick(loop *l, void *arg)
{
	close_run *r = arg;
	char name[16];
	snprintf(name, sizeof name, "c%05d", r->sent++);
	CHECK(journal_append(r->j, name, strlen(name)) == 0);
	static int dummy;   /* waiters left at close are dropped, never called */
	journal_after_sync(r->j, on_synced_none, &dummy);
	if (r->sent >= r->stop_after)
		loop_stop(l);
	else
		loop_timer_add(l, 1, on_close_tick, r);
}

static int fill_big(void *arg)
{
	journal *j = arg;
	static char rec[1024];
	memset(rec, 'x', sizeof rec);
	int rc = 0;
	cur_close->at_fill = cur_close->sent;   /* what came before is dropped, as a caller's store would not */
	for (int i = 0; i < 2048 && rc == 0; i++) {   /* 2 MiB: the writer takes a while */
		int n = snprintf(rec, sizeof rec, "k%05d", i);
		rec[n] = ' ';
		rc = journal_rewrite_add(j, rec, sizeof rec);
	}
	return rc;
}

/* journal_close at every stage of a compaction (after 0..40 ms of appends):
 * every appended record is there after reopen, in order, and either all
 * the snapshot's records or the old ones; no PATH.tmp is left. */
static void test_close_mid_compaction(const char *dir)
{
	char path[256], tmp[300], err[256], cmd[400];
	snprintf(path, sizeof path, "%s/midclose/journal", dir);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	gl = loop_new();
	int renamed = 0, kept_old = 0;
	for (int round = 0; round < 20; round++) {
		snprintf(cmd, sizeof cmd, "rm -rf %s/midclose", dir);
		CHECK(system(cmd) == 0);
		journal *j = journal_open(path, gl, NULL, NULL, err, sizeof err);
		CHECKF(j != NULL, "%s", err);
		if (!j)
			break;
		CHECK(journal_append(j, "old", 3) == 0);
		CHECK(journal_rewrite_prepare(j, fill_big, j) == 0);
		close_run r = { .j = j, .stop_after = 1 + round * 2, .at_fill = -1 };
		cur_close = &r;
		loop_timer_add(gl, 0, on_close_tick, &r);
		loop_run(gl);
		journal_close(j);
		CHECK(fsize(tmp) < 0);
		names s = {0};
		j = journal_open(path, NULL, on_name, &s, err, sizeof err);
		CHECKF(j != NULL, "%s", err);
		journal_close(j);
		/* the old file: old, c0..; the new one: the snapshot, then what came after fill */
		bool old_file = s.n > 0 && !strcmp(s.v[0], "old");
		int at = old_file ? 1 : 2048, first = old_file ? 0 : r.at_fill;
		bool ok = (old_file || r.at_fill >= 0) && s.n == at + r.sent - first;
		if (ok && !old_file)
			ok = !strcmp(s.v[0], "k00000") && !strcmp(s.v[2047], "k02047");
		for (int i = first; ok && i < r.sent; i++) {
			char want[16];
			snprintf(want, sizeof want, "c%05d", i);
			ok = !strcmp(s.v[at + i - first], want);
		}
		CHECKF(ok, "round %d: %d records, %d appended", round, s.n, r.sent);
		renamed += at == 2048;
		kept_old += at == 1;
		free(s.v);
	}
	printf("close mid-compaction: %d rounds renamed, %d kept the old file\n", renamed, kept_old);
	loop_free(gl);
}

typedef struct tight_run {
	journal *j;
	int sent, answered, early, after;
	bool stopping;
} tight_run;

typedef struct tight_waiter {
	tight_run *r;
	uint64_t syncs;
} tight_waiter;

static void on_tight_synced(void *arg, int err)
{
	tight_waiter *w = arg;
	journal_counters jc;
	journal_get_counters(w->r->j, &jc);
	/* its record was appended after any sync then in flight was asked for:
	 * at least one more must have come back */
	w->r->early += jc.syncs <= w->syncs || err;
	w->r->answered++;
	if (w->r->stopping && w->r->answered == w->r->sent)
		loop_stop(gl);
	free(w);
}

static void on_tight_tick(loop *l, void *arg)
{
	tight_run *r = arg;
	if (!journal_rewrite_busy(r->j) && ++r->after > 50) {
		r->stopping = true;
		if (r->answered == r->sent)
			loop_stop(l);
		return;
	}
	for (int k = 0; k < 4; k++) {
		char name[16];
		snprintf(name, sizeof name, "w%05d", r->sent);
		CHECK(journal_append(r->j, name, strlen(name)) == 0);
		tight_waiter *w = malloc(sizeof *w);
		journal_counters jc;
		journal_get_counters(r->j, &jc);
		*w = (tight_waiter){ r, jc.syncs };
		r->sent++;
		CHECK(journal_after_sync(r->j, on_tight_synced, w) != NULL);
	}
	loop_timer_add(l, 0, on_tight_tick, r);
}

/* Waiters registered as fast as the loop turns during 5 compactions: none
 * answered without a sync (or the FINAL) that came back after it. */
static void test_waiters_during_compaction(const char *dir)
{
	char path[256];
	journal *j = open_on_new_loop(dir, "tight", path, sizeof path);
	if (!j)
		return;
	tight_run r = { .j = j };
	for (int round = 0; round < 5; round++) {
		cur_close = &(close_run){ .j = j };
		CHECK(journal_rewrite_prepare(j, fill_big, j) == 0);
		r.after = 0;
		r.stopping = false;
		loop_timer_add(gl, 0, on_tight_tick, &r);
		loop_run(gl);
	}
	journal_counters jc;
	journal_get_counters(j, &jc);
	CHECKF(r.answered == r.sent && r.early == 0 && jc.compactions == 5,
	       "%d waiters, %d answered, %d without a sync after them, %llu compactions", r.sent, r.answered, r.early,
	       (unsigned long long)jc.compactions);
	journal_close(j);
	loop_free(gl);
}

int main(void)
{
	log_set_level(LOG_ERROR);
	char dir[] = "/tmp/journal-test-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char path[256];
	snprintf(path, sizeof path, "%s/sub/journal", dir);
	seen s;
	journal *j = reopen(path, &s);
	CHECK(s.n == 0 && journal_size(j) == 0);
	CHECK(journal_append(j, "one", 3) == 0);
	CHECK(journal_append(j, "two", 3) == 0);
	CHECK(journal_append(j, "", 0) == 0);
	CHECK(journal_append(j, "three", 5) == 0);
	CHECK(journal_size(j) == 4 * 12 + 11 && fsize(path) == 59);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 4 && !strcmp(s.recs[0], "one") && !strcmp(s.recs[1], "two") && !strcmp(s.recs[2], "") &&
	      !strcmp(s.recs[3], "three"));
	journal_close(j);

	/* corrupt one byte of "two": it is skipped, the rest replay */
	int fd = open(path, O_RDWR);
	CHECK(pwrite(fd, "X", 1, 15 + 12) == 1);
	close(fd);
	j = reopen(path, &s);
	CHECK(s.n == 3 && !strcmp(s.recs[0], "one") && !strcmp(s.recs[1], "") && !strcmp(s.recs[2], "three"));
	journal_close(j);

	/* a cut tail: half of a record; then an append goes after the good part */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "PJR1\x20\0\0\0abcdabcd", 16) == 16);
	close(fd);
	off_t before = fsize(path);
	j = reopen(path, &s);
	CHECK(s.n == 3);
	CHECK(fsize(path) == before - 16 && journal_size(j) == (uint64_t)(before - 16));
	CHECK(journal_append(j, "four", 4) == 0);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 4 && !strcmp(s.recs[3], "four"));
	journal_close(j);

	/* garbage in front of good records, and a huge length field */
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "PJR1\xff\xff\xff\xff", 8) == 8);
	close(fd);
	j = reopen(path, &s);
	CHECK(s.n == 4);
	CHECK(journal_append(j, "five", 4) == 0);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 5 && !strcmp(s.recs[4], "five"));

	/* compaction: only what is added survives */
	CHECK(journal_rewrite_begin(j) == 0);
	CHECK(journal_rewrite_add(j, "kept", 4) == 0);
	CHECK(journal_rewrite_commit(j) == 0);
	CHECK(journal_size(j) == 16 && fsize(path) == 16);
	CHECK(journal_append(j, "after", 5) == 0);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 2 && !strcmp(s.recs[0], "kept") && !strcmp(s.recs[1], "after"));
	/* an aborted compaction leaves the journal as it was */
	CHECK(journal_rewrite_begin(j) == 0);
	CHECK(journal_rewrite_add(j, "lost", 4) == 0);
	journal_rewrite_abort(j);
	journal_close(j);
	j = reopen(path, &s);
	CHECK(s.n == 2);
	journal_close(j);

	/* every truncation of a good journal replays a prefix, never crashes */
	unsigned char *all = NULL;
	fd = open(path, O_RDONLY);
	off_t n = fsize(path);
	all = malloc((size_t)n);
	CHECK(read(fd, all, (size_t)n) == n);
	close(fd);
	for (off_t cut = 0; cut <= n; cut++) {
		fd = open(path, O_WRONLY | O_TRUNC);
		CHECK(write(fd, all, (size_t)cut) == cut);
		close(fd);
		j = reopen(path, &s);
		CHECKF(s.n == (cut >= n ? 2 : cut >= 16 ? 1 : 0), "cut %lld: %d records", (long long)cut, s.n);
		journal_close(j);
	}
	free(all);
	CHECK(journal_crc32("123456789", 9) == 0xcbf43926u);
	test_group_commit(dir);
	test_async_compaction(dir);
	test_prepare(dir);
	test_close_mid_compaction(dir);
	test_waiters_during_compaction(dir);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return t_done();
}
