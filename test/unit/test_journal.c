/* journal: records survive a reopen; cut and corrupt records are skipped
 * (the ones after a corrupt record still replay); a cut tail is truncated
 * before new appends; compaction replaces the file whole. Group commit:
 * waiters are answered from the loop, never inside the call; one fdatasync
 * covers every record appended before it (three waiters, two syncs); a
 * cancelled waiter is never called; a compaction while a sync is in flight
 * answers its waiters and closes the old file only once that sync is back. */
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

static void test_group_commit(const char *dir)
{
	char path[256], err[256];
	snprintf(path, sizeof path, "%s/gc/journal", dir);
	gl = loop_new();
	journal *j = journal_open(path, gl, NULL, NULL, err, sizeof err);
	CHECKF(j != NULL, "%s", err);
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
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
	return t_done();
}
