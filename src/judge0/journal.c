/*
 * journal: see journal.h. The file is read whole at open (it is bounded by
 * compaction); appends are single write() calls of header + payload.
 *
 * Group commit: records are numbered as they are appended (appended);
 * durable is the highest number known to be on disk. A waiter waits for
 * the number appended when it registered. The loop sends the syncer thread
 * {fd, appended} through a pipe when waiters wait beyond durable and no
 * fdatasync is in flight; the thread answers {seq, errno} through another
 * pipe that the loop watches. One request at a time, so the request pipe
 * never holds more than one message and the loop's write never blocks.
 *
 * Compaction at run time (journal_rewrite_start) never syncs on the loop:
 *   1. begin/add copy the live records into a memory snapshot (on-disk
 *      format); from begin on, every append also goes to a tail buffer
 *      (bounded by tail_max: beyond it the compaction is aborted).
 *   2. a short-lived writer thread writes the snapshot to PATH.tmp and
 *      fdatasyncs it (tens of ms to seconds; ordinary syncs of PATH go on
 *      meanwhile on the syncer, undelayed).
 *   3. back on the loop, once no fdatasync is in flight, the tail goes to
 *      PATH.tmp (one write, page cache) and the syncer gets a FINAL
 *      request: fdatasync(tmp), rename(tmp, PATH), fsync(dir).
 *   4. when it is back, the tail of what was appended during the FINAL goes
 *      to the new file, the old descriptor is closed and appends go to the
 *      new file.
 * Why this keeps every promise: until the rename succeeded, every record
 * is appended to the old file too, which is PATH -- a failure anywhere
 * before it just drops PATH.tmp (journal_open would unlink it anyway) and
 * loses nothing. The FINAL request is one more request of the one-at-a-
 * time syncer, so no fdatasync of the old file can complete after the
 * rename: a waiter answered by one had its record durable under PATH then,
 * and the record is in the new file too, synced before the rename. A
 * waiter registered while the FINAL is pending or in flight waits for it
 * (it covers every record appended before it was sent, all of which were
 * flushed to PATH.tmp first) or for the next fdatasync, of the new file.
 * The old descriptor is closed with no request in flight, so the syncer
 * never syncs a closed or reused descriptor.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define HDR 12
static const unsigned char magic[4] = {'P', 'J', 'R', '1'};

struct journal_waiter {
	journal_waiter *prev, *next;
	uint64_t seq;              /* on disk once durable >= seq */
	journal_synced_fn *fn;
	void *arg;
};

/* loop -> syncer, and back (the writer thread answers on the same pipe:
 * each message is far below PIPE_BUF, so never split or interleaved) */
enum { REQ_SYNC, REQ_FINAL, DONE_SNAPSHOT };
struct sync_req {
	int kind;             /* REQ_SYNC: fdatasync(fd); REQ_FINAL: also rename tmp over PATH, fsync dir */
	int fd;
	uint64_t seq;
};
struct sync_done {
	uint64_t seq, ns;
	int kind, err;
	bool renamed;         /* REQ_FINAL: the rename happened (err may still be the dir's fsync) */
};

/* compaction's states (see the top) */
enum { C_IDLE, C_SNAPSHOT, C_WRITING, C_CANCELLED, C_READY, C_FINALIZING };

#define TAIL_MAX_DEFAULT (32u << 20)

/* what the writer thread owns while it runs; read by the loop after join */
struct writer_job {
	char tmp_path[PATH_MAX + 8];
	const unsigned char *data;
	size_t len;
	int done_w;
	int fd, err;          /* results */
};

typedef struct bytes {
	unsigned char *p;
	size_t len, cap;
} bytes;

struct journal {
	int fd, tmp_fd;
	char path[PATH_MAX], tmp_path[PATH_MAX + 8], dir[PATH_MAX];
	uint64_t size, tmp_size;
	/* group commit (loop side) */
	loop *l;
	bool syncer_running;
	pthread_t syncer;
	int req_w, done_r;            /* pipe ends; -1 without a syncer */
	uint64_t appended, durable;   /* record numbers */
	bool in_flight;               /* an fdatasync of in_flight_fd up to in_flight_seq */
	int in_flight_fd;
	uint64_t in_flight_seq;
	int retired_fd;               /* the pre-compaction file, open until its sync returns */
	journal_waiter *wait_head, *wait_tail;   /* by seq, oldest first */
	loop_timer *fire_timer;       /* answers waiters already durable, next iteration */
	int failed_err;               /* an inline fdatasync failed up to failed_seq */
	uint64_t failed_seq;
	/* compaction */
	int c_state;
	bytes snap, tail;             /* the live records; what was appended since begin */
	size_t tail_max;
	pthread_t writer;
	struct writer_job *job;       /* non-NULL while the writer thread exists */
	uint64_t c_start_ns;
	int done_w;                   /* the writer's end of the completion pipe */
	journal_counters counters;
};

uint32_t journal_crc32(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
	}
	return ~c;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16),
	p[3] = (unsigned char)(v >> 24);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* header + payload in one buffer, so a record is one write() */
static int write_record(int fd, const void *data, size_t len)
{
	if (len > JOURNAL_MAX_RECORD) {
		errno = EFBIG;
		return -1;
	}
	unsigned char *b = malloc(HDR + len);
	if (!b)
		return -1;
	memcpy(b, magic, 4);
	put32(b + 4, (uint32_t)len);
	put32(b + 8, journal_crc32(data, len));
	memcpy(b + HDR, data, len);
	int rc = write_all(fd, b, HDR + len);
	int saved = errno;
	free(b);
	errno = saved;
	return rc;
}

/* appends header + payload to b; -1 (ENOMEM, or EFBIG beyond max) */
static int bytes_add_record(bytes *b, const void *data, size_t len, size_t max)
{
	size_t need = b->len + HDR + len;
	if (len > JOURNAL_MAX_RECORD || need > max) {
		errno = EFBIG;
		return -1;
	}
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < need)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	unsigned char *h = b->p + b->len;
	memcpy(h, magic, 4);
	put32(h + 4, (uint32_t)len);
	put32(h + 8, journal_crc32(data, len));
	memcpy(h + HDR, data, len);
	b->len = need;
	return 0;
}

static void bytes_free(bytes *b)
{
	free(b->p);
	*b = (bytes){0};
}

static int fdatasync_retry(int fd)
{
	int rc;
	do
		rc = fdatasync(fd);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static int fsync_dir(const char *dir)
{
	int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -1;
	int rc = fsync(d);
	close(d);
	return rc;
}

/* Reads the whole file; NULL (and *len 0) for an empty one. */
static char *read_file(int fd, size_t *len, char *err, size_t errlen)
{
	struct stat st;
	*len = 0;
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "fstat: %s", strerror(errno));
		return NULL;
	}
	if (st.st_size == 0)
		return NULL;
	char *b = malloc((size_t)st.st_size);
	if (!b) {
		snprintf(err, errlen, "out of memory for a %lld-byte journal", (long long)st.st_size);
		return NULL;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, b + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	*len = got;
	return b;
}

/* Replays b[0..n); returns the end of the last intact record. */
static size_t replay(const char *path, const char *b, size_t n, journal_replay_cb cb, void *ctx)
{
	size_t off = 0, good_end = 0;
	while (off < n) {
		const unsigned char *p = (const unsigned char *)b + off;
		bool ok = n - off >= HDR && !memcmp(p, magic, 4);
		uint32_t len = ok ? le32(p + 4) : 0;
		ok = ok && len <= JOURNAL_MAX_RECORD && len <= n - off - HDR;
		ok = ok && journal_crc32(p + HDR, len) == le32(p + 8);
		if (ok) {
			if (cb)
				cb(ctx, b + off + HDR, len);
			off += HDR + len;
			good_end = off;
			continue;
		}
		/* Skip to the next magic (or the end). */
		size_t next = off + 1;
		while (next < n && (next + 4 > n || memcmp(b + next, magic, 4)))
			next++;
		log_warn("journal %s: %s record at offset %zu, skipped %zu bytes", path,
		         n - off < HDR || next == n ? "cut or corrupt" : "corrupt", off, next - off);
		off = next;
	}
	return good_end;
}

/* ---- the syncer thread: it touches nothing but its two pipe ends and the
 * descriptors it is sent (kept open by the loop until it answers). */

/* The paths are copies: the thread reads nothing of the journal's. */
struct syncer_start {
	int req_r, done_w;
	char path[PATH_MAX], tmp_path[PATH_MAX + 8], dir[PATH_MAX];
};

static void *syncer_main(void *arg)
{
	struct syncer_start *st = arg;
	struct sync_req r;
	for (;;) {
		ssize_t n = read(st->req_r, &r, sizeof r);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof r)
			break;   /* EOF: journal_close */
		uint64_t t0 = mono_ns();
		struct sync_done d = { .seq = r.seq, .kind = r.kind };
		if (fdatasync_retry(r.fd) < 0) {
			d.err = errno;
		} else if (r.kind == REQ_FINAL) {
			/* the tmp file is whole on disk: only now may it become PATH */
			if (rename(st->tmp_path, st->path) < 0) {
				d.err = errno;
			} else {
				d.renamed = true;
				if (fsync_dir(st->dir) < 0)
					d.err = errno;
			}
		}
		d.ns = mono_ns() - t0;
		while (write(st->done_w, &d, sizeof d) < 0 && errno == EINTR)
			;
	}
	close(st->req_r);
	free(st);
	return NULL;
}

/* The writer thread: the snapshot to PATH.tmp, fdatasync'd. */
static void *writer_main(void *arg)
{
	struct writer_job *w = arg;
	w->fd = open(w->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0 || write_all(w->fd, w->data, w->len) < 0 || fdatasync_retry(w->fd) < 0)
		w->err = errno ? errno : EIO;
	struct sync_done d = { .kind = DONE_SNAPSHOT };
	while (write(w->done_w, &d, sizeof d) < 0 && errno == EINTR)
		;
	return NULL;
}

static void on_sync_done(loop *l, int fd, unsigned events, void *arg);

static int syncer_start(journal *j, char *err, size_t errlen)
{
	int req[2], done[2] = { -1, -1 };
	struct syncer_start *st = malloc(sizeof *st);
	if (!st || pipe2(req, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "syncer pipe: %s", strerror(errno));
		free(st);
		return -1;
	}
	if (pipe2(done, O_CLOEXEC | O_NONBLOCK) < 0) {
		snprintf(err, errlen, "syncer pipe: %s", strerror(errno));
		close(req[0]), close(req[1]), free(st);
		return -1;
	}
	st->req_r = req[0];
	st->done_w = done[1];
	snprintf(st->path, sizeof st->path, "%s", j->path);
	snprintf(st->tmp_path, sizeof st->tmp_path, "%s", j->tmp_path);
	snprintf(st->dir, sizeof st->dir, "%s", j->dir);
	/* The thread must never take a signal meant for the loop's signalfd. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int rc = pthread_create(&j->syncer, NULL, syncer_main, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "syncer thread: %s", strerror(rc));
		close(req[0]), close(req[1]), close(done[0]), close(done[1]), free(st);
		return -1;
	}
	j->syncer_running = true;
	j->req_w = req[1];
	j->done_r = done[0];
	j->done_w = done[1];
	if (loop_watch(j->l, j->done_r, LOOP_READ, on_sync_done, j) < 0) {
		snprintf(err, errlen, "watch the syncer pipe: %s", strerror(errno));
		return -1;   /* journal_close stops the thread */
	}
	return 0;
}

/* ---- the loop side of group commit */

static void waiter_unlink(journal *j, journal_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		j->wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		j->wait_tail = w->prev;
}

/* Answers the waiters up to seq: 0 for those durable, err for the rest. A
 * callback may append, register or cancel waiters: the list is re-read
 * after each one. */
static void answer_waiters(journal *j, uint64_t seq, int err)
{
	while (j->wait_head && j->wait_head->seq <= seq) {
		journal_waiter *w = j->wait_head;
		waiter_unlink(j, w);
		journal_synced_fn *fn = w->fn;
		void *arg = w->arg;
		int e = w->seq <= j->durable ? 0 : err;
		free(w);
		j->counters.waiters++;
		fn(arg, e);
	}
}

static void on_fire_timer(loop *l, void *arg);

static void schedule_fire(journal *j)
{
	if (!j->fire_timer)
		j->fire_timer = loop_timer_add(j->l, 0, on_fire_timer, j);
}

/* Ends a compaction that has not reached its rename: PATH.tmp goes, the
 * old journal (which has every record) stays. While the writer thread
 * runs, it still owns the snapshot and the file: it is only marked, and
 * its completion cleans up. */
static void compaction_drop(journal *j)
{
	if (j->c_state == C_WRITING || j->c_state == C_CANCELLED) {
		j->c_state = C_CANCELLED;
		bytes_free(&j->tail);
		return;
	}
	if (j->tmp_fd >= 0) {
		close(j->tmp_fd);
		j->tmp_fd = -1;
	}
	if (j->c_state != C_IDLE && j->c_state != C_SNAPSHOT)
		unlink(j->tmp_path);   /* metadata only; never synced here */
	bytes_free(&j->snap);
	bytes_free(&j->tail);
	j->c_state = C_IDLE;
}

static void compaction_failed(journal *j, const char *what, int err)
{
	log_warn("journal %s: compaction aborted, the old journal stays (%s: %s)", j->path, what, strerror(err));
	j->counters.compaction_aborts++;
	compaction_drop(j);
}

/* What was appended since the snapshot (or the last flush) goes to PATH.tmp:
 * one write, page cache. */
static int flush_tail(journal *j)
{
	if (j->tail.len && write_all(j->tmp_fd, j->tail.p, j->tail.len) < 0)
		return -1;
	j->tmp_size += j->tail.len;
	j->tail.len = 0;
	return 0;
}

/* Snapshot on disk, nothing in flight: the tail to PATH.tmp, and the syncer
 * makes it PATH (fdatasync, rename, fsync dir). 0, or -1 and the
 * compaction is dropped. */
static int start_final(journal *j)
{
	if (flush_tail(j) < 0) {
		compaction_failed(j, "write PATH.tmp", errno);
		return -1;
	}
	struct sync_req r = { REQ_FINAL, j->tmp_fd, j->appended };
	if (write(j->req_w, &r, sizeof r) != (ssize_t)sizeof r) {
		compaction_failed(j, "syncer unreachable", errno);
		return -1;
	}
	j->in_flight = true;
	j->in_flight_fd = j->tmp_fd;
	j->in_flight_seq = j->appended;
	j->c_state = C_FINALIZING;
	return 0;
}

/* Starts the next fdatasync if a waiter needs one (or a compaction's final
 * step), or schedules the answer of waiters that are durable already
 * (never answered from inside the caller's own journal call). */
static void kick(journal *j)
{
	if (!j->in_flight && j->c_state == C_READY && start_final(j) == 0)
		return;
	if (!j->wait_head)
		return;
	if (j->wait_head->seq <= j->durable) {
		schedule_fire(j);
		return;
	}
	if (j->in_flight)
		return;   /* its completion kicks again */
	struct sync_req r = { REQ_SYNC, j->fd, j->appended };
	if (write(j->req_w, &r, sizeof r) != (ssize_t)sizeof r) {
		/* Cannot happen with one message in an empty pipe. Never answer
		 * as if synced: sync here (blocking, but correct). */
		log_warn("journal %s: syncer unreachable (%s), syncing inline", j->path, strerror(errno));
		if (fdatasync(j->fd) == 0) {
			j->durable = j->appended;
		} else {
			log_warn("journal %s: fdatasync: %s", j->path, strerror(errno));
			j->failed_err = errno;
			j->failed_seq = j->appended;
		}
		j->counters.syncs++;
		schedule_fire(j);
		return;
	}
	j->in_flight = true;
	j->in_flight_fd = j->fd;
	j->in_flight_seq = j->appended;
}

static void on_fire_timer(loop *l, void *arg)
{
	journal *j = arg;
	j->fire_timer = NULL;
	if (j->failed_err) {
		int e = j->failed_err;
		j->failed_err = 0;
		answer_waiters(j, j->failed_seq, e);
	}
	answer_waiters(j, j->durable, 0);
	kick(j);
}

/* The writer thread is done with the snapshot. */
static void on_snapshot_written(journal *j)
{
	struct writer_job *w = j->job;
	if (!w)
		return;
	pthread_join(j->writer, NULL);   /* its message was its last act: it is ending */
	j->job = NULL;
	bytes_free(&j->snap);
	if (j->c_state != C_WRITING || w->err) {
		if (w->fd >= 0)
			close(w->fd);
		unlink(j->tmp_path);
		if (j->c_state == C_WRITING) {
			log_warn("journal %s: compaction aborted, the old journal stays (write PATH.tmp: %s)", j->path,
			         strerror(w->err));
			j->counters.compaction_aborts++;
		}   /* else cancelled meanwhile, and logged then */
		j->c_state = C_IDLE;
		bytes_free(&j->tail);
		free(w);
		kick(j);
		return;
	}
	j->tmp_fd = w->fd;
	free(w);
	j->c_state = C_READY;
	kick(j);
}

/* The syncer is back from REQ_FINAL (nothing is in flight now). */
static void on_final_done(journal *j, const struct sync_done *d)
{
	if (!d->renamed) {   /* PATH is still the old file, which has every record */
		compaction_failed(j, "sync and rename PATH.tmp", d->err);
		return;          /* waiters up to d->seq: the next fdatasync, of the old file */
	}
	if (d->err)   /* renamed, but the directory's fsync failed: as the synchronous path, go on */
		log_warn("journal %s: compacted, but fsync of %s: %s", j->path, j->dir, strerror(d->err));
	int werr = flush_tail(j) < 0 ? errno : 0;   /* appended during the FINAL */
	close(j->fd);   /* the old file: no request in flight uses it */
	j->fd = j->tmp_fd;
	j->tmp_fd = -1;
	j->size = j->tmp_size;
	bytes_free(&j->tail);
	j->c_state = C_IDLE;
	j->counters.compactions++;
	j->counters.compact_us += (mono_ns() - j->c_start_ns) / 1000;
	if (d->seq > j->durable)
		j->durable = d->seq;
	if (werr) {   /* those records are in the old, unlinked file only: their waiters fail */
		log_warn("journal %s: write after compaction: %s", j->path, strerror(werr));
		j->failed_err = werr;
		j->failed_seq = j->appended;
		schedule_fire(j);
	}
	answer_waiters(j, d->seq, 0);
}

static void on_sync_done(loop *l, int fd, unsigned events, void *arg)
{
	journal *j = arg;
	struct sync_done d;
	ssize_t n = read(j->done_r, &d, sizeof d);
	if (n == 0) {   /* the thread is gone (it ends only at journal_close): no busy loop */
		log_error("journal %s: the syncer thread ended", j->path);
		loop_unwatch(l, fd);
		return;
	}
	if (n != (ssize_t)sizeof d)
		return;   /* EAGAIN (spurious wake-up); a message is never split (< PIPE_BUF) */
	if (d.kind == DONE_SNAPSHOT) {
		on_snapshot_written(j);
		return;
	}
	j->in_flight = false;
	if (j->retired_fd >= 0 && j->retired_fd == j->in_flight_fd) {
		close(j->retired_fd);   /* a synchronous compaction replaced it while it was being synced */
		j->retired_fd = -1;
	}
	j->counters.syncs++;
	j->counters.sync_us += d.ns / 1000;
	if (d.kind == REQ_FINAL) {
		on_final_done(j, &d);
		kick(j);
		return;
	}
	if (d.err == 0 && d.seq > j->durable)
		j->durable = d.seq;
	else if (d.err)
		log_warn("journal %s: fdatasync: %s", j->path, strerror(d.err));
	answer_waiters(j, d.seq, d.err);
	kick(j);
}

journal_waiter *journal_after_sync(journal *j, journal_synced_fn *fn, void *arg)
{
	if (!j->syncer_running) {
		errno = ENOTSUP;
		return NULL;
	}
	journal_waiter *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->seq = j->appended;
	w->fn = fn;
	w->arg = arg;
	w->prev = j->wait_tail;
	if (j->wait_tail)
		j->wait_tail->next = w;
	else
		j->wait_head = w;
	j->wait_tail = w;
	kick(j);
	return w;
}

void journal_waiter_cancel(journal *j, journal_waiter *w)
{
	if (!w)
		return;
	waiter_unlink(j, w);
	free(w);
}

void journal_get_counters(const journal *j, journal_counters *out)
{
	*out = j->counters;
}

journal *journal_open(const char *path, loop *l, journal_replay_cb cb, void *ctx, char *err, size_t errlen)
{
	journal *j = calloc(1, sizeof *j);
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->tmp_fd = j->req_w = j->done_r = j->done_w = j->retired_fd = j->in_flight_fd = -1;
	j->tail_max = TAIL_MAX_DEFAULT;
	j->l = l;
	snprintf(j->path, sizeof j->path, "%s", path);
	snprintf(j->tmp_path, sizeof j->tmp_path, "%s.tmp", path);
	char copy[PATH_MAX];
	snprintf(copy, sizeof copy, "%s", path);
	snprintf(j->dir, sizeof j->dir, "%s", dirname(copy));
	if (mkdir(j->dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", j->dir, strerror(errno));
		free(j);
		return NULL;
	}
	unlink(j->tmp_path);   /* a compaction that died before its rename */
	j->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		snprintf(err, errlen, "open %s: %s", path, strerror(errno));
		free(j);
		return NULL;
	}
	size_t n;
	err[0] = 0;
	char *b = read_file(j->fd, &n, err, errlen);
	if (!b && err[0]) {
		close(j->fd);
		free(j);
		return NULL;
	}
	size_t end = replay(path, b, n, cb, ctx);
	free(b);
	if (end < n && ftruncate(j->fd, (off_t)end) < 0) {   /* drop a cut tail before appending */
		snprintf(err, errlen, "truncate %s: %s", path, strerror(errno));
		close(j->fd);
		free(j);
		return NULL;
	}
	j->size = end;
	if (l && syncer_start(j, err, errlen) < 0) {
		journal_close(j);
		return NULL;
	}
	return j;
}

/* journal_close with a compaction under way: the writer is joined; a
 * FINAL the syncer answered (it has been joined) is completed -- if the
 * rename happened, what was appended since goes to the new file -- and
 * anything short of a rename is dropped. */
static void compaction_close(journal *j)
{
	if (j->job) {
		pthread_join(j->writer, NULL);
		if (j->job->fd >= 0)
			close(j->job->fd);
		free(j->job);
		j->job = NULL;
		j->c_state = C_CANCELLED;
	}
	if (j->c_state == C_FINALIZING) {
		struct sync_done d;
		while (read(j->done_r, &d, sizeof d) == (ssize_t)sizeof d) {
			if (d.kind != REQ_FINAL)
				continue;
			if (d.renamed && flush_tail(j) < 0)
				log_warn("journal %s: write after compaction: %s", j->path, strerror(errno));
			if (d.renamed) {
				close(j->tmp_fd);
				j->tmp_fd = -1;
				j->c_state = C_IDLE;   /* keep PATH (it is the new file) */
			}
			break;
		}
		if (j->c_state == C_FINALIZING)
			j->c_state = C_READY;   /* not renamed: drop PATH.tmp below */
	}
	if (j->c_state != C_IDLE) {
		if (j->c_state == C_CANCELLED)
			j->c_state = C_READY;   /* so that compaction_drop unlinks */
		compaction_drop(j);
	}
	bytes_free(&j->snap);
	bytes_free(&j->tail);
}

void journal_close(journal *j)
{
	if (!j)
		return;
	if (j->job)   /* first: the writer answers on the syncer's pipe */
		compaction_close(j);
	if (j->syncer_running) {
		close(j->req_w);   /* EOF: the thread finishes its sync, answers, ends */
		pthread_join(j->syncer, NULL);
	}
	compaction_close(j);
	if (j->syncer_running) {
		loop_unwatch(j->l, j->done_r);
		close(j->done_r);
		close(j->done_w);
	}
	if (j->fire_timer)
		loop_timer_cancel(j->l, j->fire_timer);
	while (j->wait_head)
		journal_waiter_cancel(j, j->wait_head);
	if (j->retired_fd >= 0)
		close(j->retired_fd);
	close(j->fd);
	free(j);
}

int journal_append(journal *j, const void *data, size_t len)
{
	size_t tail_was = j->tail.len;
	bool tailed = false;
	if (j->c_state != C_IDLE && j->c_state != C_CANCELLED) {
		bool final = j->c_state == C_FINALIZING;
		if (bytes_add_record(&j->tail, data, len, final ? SIZE_MAX : j->tail_max) == 0) {
			tailed = true;
		} else if (final) {
			return -1;   /* the rename is under way: the record would miss the new file */
		} else {   /* the caller retries later (journal_rewrite_busy is false again) */
			compaction_failed(j, "more appended during it than the tail buffer holds", errno);
		}
	}
	if (write_record(j->fd, data, len) < 0) {
		if (tailed)
			j->tail.len = tail_was;   /* never in the new file what the old one refused */
		return -1;
	}
	j->size += HDR + len;
	j->appended++;
	j->counters.records++;
	return 0;
}

uint64_t journal_size(const journal *j)
{
	return j->size;
}

int journal_rewrite_begin(journal *j)
{
	if (journal_rewrite_busy(j)) {
		errno = EBUSY;
		return -1;
	}
	bytes_free(&j->snap);
	bytes_free(&j->tail);
	j->c_state = C_SNAPSHOT;
	j->c_start_ns = mono_ns();
	return 0;
}

int journal_rewrite_add(journal *j, const void *data, size_t len)
{
	if (j->c_state != C_SNAPSHOT) {
		errno = EBADF;
		return -1;
	}
	return bytes_add_record(&j->snap, data, len, SIZE_MAX);
}

uint64_t journal_rewrite_size(const journal *j)
{
	return j->snap.len;
}

bool journal_rewrite_busy(const journal *j)
{
	return j->c_state != C_IDLE && j->c_state != C_SNAPSHOT;
}

void journal_set_tail_limit(journal *j, size_t limit)
{
	j->tail_max = limit;
}

int journal_rewrite_commit(journal *j)
{
	if (j->c_state != C_SNAPSHOT) {
		errno = EBADF;
		return -1;
	}
	int fd = open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || write_all(fd, j->snap.p, j->snap.len) < 0 || write_all(fd, j->tail.p, j->tail.len) < 0 ||
	    fsync(fd) < 0 || rename(j->tmp_path, j->path) < 0) {
		int saved = errno;
		if (fd >= 0)
			close(fd);
		unlink(j->tmp_path);
		compaction_drop(j);
		errno = saved;
		return -1;
	}
	fsync_dir(j->dir);
	if (j->in_flight && j->in_flight_fd == j->fd)
		j->retired_fd = j->fd;   /* the syncer holds its number: closed when it answers */
	else
		close(j->fd);
	j->fd = fd;   /* the renamed file is the journal now */
	j->size = j->snap.len + j->tail.len;
	bytes_free(&j->snap);
	bytes_free(&j->tail);
	j->c_state = C_IDLE;
	j->counters.compactions++;
	j->counters.compact_us += (mono_ns() - j->c_start_ns) / 1000;
	/* Every live record is in the new file, synced: waiters need no more. */
	j->durable = j->appended;
	if (j->syncer_running)
		kick(j);
	return 0;
}

int journal_rewrite_start(journal *j)
{
	if (j->c_state != C_SNAPSHOT) {
		errno = EBADF;
		return -1;
	}
	if (!j->syncer_running)
		return journal_rewrite_commit(j);   /* no loop to come back to */
	struct writer_job *w = calloc(1, sizeof *w);
	if (!w) {
		compaction_drop(j);
		errno = ENOMEM;
		return -1;
	}
	snprintf(w->tmp_path, sizeof w->tmp_path, "%s", j->tmp_path);
	w->data = j->snap.p;
	w->len = j->snap.len;
	w->done_w = j->done_w;
	w->fd = -1;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);   /* signals are the loop's signalfd's */
	int rc = pthread_create(&j->writer, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		free(w);
		compaction_drop(j);
		errno = rc;
		return -1;
	}
	j->job = w;
	j->tmp_size = j->snap.len;
	j->c_state = C_WRITING;
	return 0;
}

void journal_rewrite_abort(journal *j)
{
	if (j->c_state == C_FINALIZING)
		return;   /* the rename is under way: its answer completes it */
	if (j->c_state != C_IDLE && j->c_state != C_CANCELLED)
		log_info("journal %s: compaction abandoned", j->path);
	compaction_drop(j);
}
