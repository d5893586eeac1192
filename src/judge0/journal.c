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
 * Compaction at run time (journal_rewrite_start/prepare) never syncs on
 * the loop:
 *   0. (prepare) the writer thread allocates and touches the snapshot's
 *      memory, then the loop's fill callback runs as step 1.
 *   1. begin/add copy the live records into a memory snapshot (on-disk
 *      format, CRCs left to the writer); from then on every append also
 *      goes to a tail buffer (bounded by tail_max: beyond it the
 *      compaction is aborted).
 *   2. a short-lived writer thread writes the snapshot to PATH.tmp and
 *      fdatasyncs it (tens of ms to seconds; ordinary syncs of PATH go on
 *      meanwhile on the syncer, undelayed).
 *   3. back on the loop, once no fdatasync is in flight, the tail goes to
 *      PATH.tmp (one write, page cache) and the syncer gets a FINAL
 *      request: fdatasync(tmp), rename(tmp, PATH), fsync(dir).
 *   4. when it is back, the tail of what was appended during the FINAL goes
 *      to the new file, the old descriptor is closed and appends go to the
 *      new file. The syncer opened the old file before the rename and
 *      closes that last reference at its next request, so freeing the old
 *      file's blocks is not the loop's either.
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
enum { REQ_SYNC, REQ_FINAL, DONE_SNAPSHOT, DONE_BUFFER };
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
enum { C_IDLE, C_PREPARING, C_SNAPSHOT, C_WRITING, C_CANCELLED, C_READY, C_FINALIZING };

#define TAIL_MAX_DEFAULT (32u << 20)

/* what the writer thread owns while it runs; read by the loop after join */
struct writer_job {
	char tmp_path[PATH_MAX + 8];
	unsigned char *data;   /* the snapshot: its CRCs are filled here */
	size_t len;
	int done_w;
	int fd, err;          /* results */
	/* journal_rewrite_prepare: the writer first allocates and touches
	 * prefault bytes (buf, taken by the loop at DONE_BUFFER), then waits
	 * for a byte on go_r (EOF: cancelled) */
	size_t prefault;
	unsigned char *buf;
	int go_r;
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
	int go_w;                     /* journal_rewrite_prepare: tells the writer the snapshot is ready */
	journal_fill_fn *fill;
	void *fill_arg;
	uint64_t c_start_ns;
	int done_w;                   /* the writer's end of the completion pipe */
	journal_counters counters;
};

/* The CRC-32 of each byte value (the reflected polynomial 0xedb88320):
 * a byte per step instead of a bit, so a 1 MiB record costs ~1 ms less. */
static const uint32_t crc_table[256] = {
	0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
	0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
	0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
	0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
	0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
	0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
	0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
	0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
	0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
	0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
	0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
	0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
	0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
	0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
	0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
	0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
	0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
	0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
	0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
	0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
	0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
	0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
	0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
	0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
	0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
	0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
	0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
	0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
	0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
	0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
	0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
	0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
	0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
	0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
	0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
	0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
	0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
	0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
	0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
	0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
	0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
	0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
	0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t journal_crc32(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < len; i++)
		c = crc_table[(c ^ p[i]) & 0xffu] ^ (c >> 8);
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

/* Appends header + payload to b; -1 (ENOMEM, or EFBIG beyond max). Without
 * crc the CRC field is left for fill_crcs (the snapshot's: computed by the
 * writer thread, not the loop). */
static int bytes_add_record(bytes *b, const void *data, size_t len, size_t max, bool crc)
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
	put32(h + 8, crc ? journal_crc32(data, len) : 0);
	memcpy(h + HDR, data, len);
	b->len = need;
	return 0;
}

/* Fills the CRC field of every record in p[0..len) (built by
 * bytes_add_record without crc). */
static void fill_crcs(unsigned char *p, size_t len)
{
	for (size_t off = 0; off + HDR <= len; ) {
		uint32_t n = le32(p + off + 4);
		put32(p + off + 8, journal_crc32(p + off + HDR, n));
		off += HDR + n;
	}
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
	int old_ref = -1;   /* the file a FINAL renamed over, kept for the next request */
	for (;;) {
		ssize_t n = read(st->req_r, &r, sizeof r);
		if (n < 0 && errno == EINTR)
			continue;
		/* The loop closed its descriptor of the replaced file before
		 * sending anything after the FINAL's answer, so this is the
		 * last reference: freeing its blocks (ms for a big file) is
		 * paid here, not on the loop. */
		if (old_ref >= 0) {
			close(old_ref);
			old_ref = -1;
		}
		if (n != (ssize_t)sizeof r)
			break;   /* EOF: journal_close */
		uint64_t t0 = mono_ns();
		struct sync_done d = { .seq = r.seq, .kind = r.kind };
		if (fdatasync_retry(r.fd) < 0) {
			d.err = errno;
		} else if (r.kind == REQ_FINAL) {
			/* the tmp file is whole on disk: only now may it become PATH */
			old_ref = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
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
	if (w->prefault) {
		/* A fresh 10 MiB costs ~10 ms of page faults on first touch:
		 * paid here, so the loop's copy into it is a plain memcpy. */
		w->buf = malloc(w->prefault);
		/* a write to each page (not memset 0: the compiler may turn
		 * malloc + memset into calloc, which touches nothing) */
		for (size_t i = 0; w->buf && i < w->prefault; i += 4096)
			((volatile unsigned char *)w->buf)[i] = 1;
		struct sync_done b = { .kind = DONE_BUFFER };
		while (write(w->done_w, &b, sizeof b) < 0 && errno == EINTR)
			;
		char go;
		ssize_t n;
		do
			n = read(w->go_r, &go, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1) {
			w->err = ECANCELED;
			struct sync_done d = { .kind = DONE_SNAPSHOT };
			while (write(w->done_w, &d, sizeof d) < 0 && errno == EINTR)
				;
			return NULL;
		}
	}
	fill_crcs(w->data, w->len);
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
	int rc = loop_thread_start(&j->syncer, syncer_main, st);
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
	if (j->go_w >= 0) {   /* the writer waits for the snapshot: EOF ends it */
		close(j->go_w);
		j->go_w = -1;
	}
	if (j->c_state == C_PREPARING || j->c_state == C_WRITING || j->c_state == C_CANCELLED) {
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
	if (w->go_r >= 0)
		close(w->go_r);
	free(w->buf);   /* allocated, never taken (cancelled first) */
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

/* journal_rewrite_prepare's buffer is ready: the snapshot now, into it. */
static void on_buffer_ready(journal *j)
{
	struct writer_job *w = j->job;
	if (!w)
		return;
	unsigned char *buf = w->buf;   /* the writer no longer touches it: it waits on go_r */
	w->buf = NULL;
	if (j->c_state != C_PREPARING) {   /* cancelled meanwhile; go_w is closed, the writer ends */
		free(buf);
		return;
	}
	bytes_free(&j->snap);
	bytes_free(&j->tail);
	j->snap = (bytes){ buf, 0, buf ? w->prefault : 0 };
	j->c_state = C_SNAPSHOT;
	int rc = j->fill(j->fill_arg);
	if (rc < 0 || j->c_state != C_SNAPSHOT) {
		if (rc < 0)
			log_warn("journal %s: compaction aborted, the old journal stays (snapshot: %s)", j->path,
			         strerror(errno));
		j->counters.compaction_aborts += rc < 0;
		bytes_free(&j->snap);
		j->c_state = C_CANCELLED;
		compaction_drop(j);   /* closes go_w: the writer ends, its answer cleans up */
		return;
	}
	w->data = j->snap.p;
	w->len = j->snap.len;
	j->tmp_size = j->snap.len;
	j->c_state = C_WRITING;
	char go = 1;
	if (write(j->go_w, &go, 1) != 1)   /* an empty pipe: never blocks */
		compaction_failed(j, "the writer thread is unreachable", errno);
	close(j->go_w);
	j->go_w = -1;
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
	close(j->fd);   /* cheap: the syncer holds the last reference (syncer_main) */   /* the old file: no request in flight uses it */
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
	if (d.kind == DONE_BUFFER) {
		on_buffer_ready(j);
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
	j->tmp_fd = j->req_w = j->done_r = j->done_w = j->retired_fd = j->in_flight_fd = j->go_w = -1;
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
		if (j->go_w >= 0) {   /* a prepared writer waits for the snapshot: EOF ends it */
			close(j->go_w);
			j->go_w = -1;
		}
		pthread_join(j->writer, NULL);
		if (j->job->fd >= 0)
			close(j->job->fd);
		if (j->job->go_r >= 0)
			close(j->job->go_r);
		free(j->job->buf);
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
	int rc;
	if (len > JOURNAL_MAX_RECORD) {   /* refused before it could abort a compaction */
		errno = EFBIG;
		return -1;
	}
	if (j->c_state != C_IDLE && j->c_state != C_CANCELLED && j->c_state != C_PREPARING) {
		/* a compaction runs: the record goes to the tail too, built once */
		bool final = j->c_state == C_FINALIZING;
		size_t at = j->tail.len;
		if (bytes_add_record(&j->tail, data, len, final ? SIZE_MAX : j->tail_max, true) == 0) {
			rc = write_all(j->fd, j->tail.p + at, j->tail.len - at);
			if (rc < 0)
				j->tail.len = at;   /* never in the new file what the old one refused */
			goto written;
		}
		if (final)
			return -1;   /* the rename is under way: the record would miss the new file */
		/* the caller retries later (journal_rewrite_busy is false again) */
		compaction_failed(j, "more appended during it than the tail buffer holds", errno);
	}
	rc = write_record(j->fd, data, len);
written:
	if (rc < 0)
		return -1;
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
	/* the live records are at most about the file: one allocation, not a
	 * doubling series of copies on the loop */
	if (j->size && j->size < SIZE_MAX / 2 && (j->snap.p = malloc((size_t)j->size + 65536)))
		j->snap.cap = (size_t)j->size + 65536;
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
	return bytes_add_record(&j->snap, data, len, SIZE_MAX, false);
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
	fill_crcs(j->snap.p, j->snap.len);
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
	w->go_r = -1;
	int rc = loop_thread_start(&j->writer, writer_main, w);
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

int journal_rewrite_prepare(journal *j, journal_fill_fn *fill, void *arg)
{
	if (journal_rewrite_busy(j)) {
		errno = EBUSY;
		return -1;
	}
	if (!j->syncer_running) {   /* no loop to come back to: all of it now */
		if (journal_rewrite_begin(j) < 0)
			return -1;
		if (fill(arg) < 0) {
			int saved = errno;
			journal_rewrite_abort(j);
			errno = saved;
			return -1;
		}
		return journal_rewrite_commit(j);
	}
	int go[2];
	struct writer_job *w = calloc(1, sizeof *w);
	if (!w || pipe2(go, O_CLOEXEC) < 0) {
		free(w);
		return -1;
	}
	snprintf(w->tmp_path, sizeof w->tmp_path, "%s", j->tmp_path);
	w->done_w = j->done_w;
	w->fd = -1;
	w->go_r = go[0];
	w->prefault = j->size < SIZE_MAX / 2 ? (size_t)j->size + 65536 : 65536;
	int rc = loop_thread_start(&j->writer, writer_main, w);
	if (rc != 0) {
		close(go[0]), close(go[1]), free(w);
		errno = rc;
		return -1;
	}
	bytes_free(&j->snap);
	bytes_free(&j->tail);
	j->job = w;
	j->go_w = go[1];
	j->fill = fill;
	j->fill_arg = arg;
	j->c_state = C_PREPARING;
	j->c_start_ns = mono_ns();
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
