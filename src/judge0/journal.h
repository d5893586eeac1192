/*
 * journal: an append-only file of records that survives kill -9 (the Judge0
 * API's submissions, judge0.c). Each record on disk is
 *   magic "PJR1" | u32 length (LE) | u32 CRC-32 of the payload (LE) | payload
 *
 * Promises:
 * - journal_open replays every intact record in file order through the
 *   callback, then appends after the last intact one. A record that is cut
 *   (the engine died mid-write) or corrupt (length beyond JOURNAL_MAX_RECORD
 *   or the file, CRC mismatch, no magic) is skipped with one log line
 *   naming its offset and the bytes skipped; reading resynchronizes at the
 *   next magic, so one bad record never hides the good ones after it. A
 *   cut tail is truncated away before appending. Never a crash on any file.
 * - Group commit, off the event loop: journal_append is one write() (page
 *   cache, microseconds) and never syncs. journal_after_sync(fn) calls fn
 *   on the loop once every record appended before the call is on disk: a
 *   syncer thread runs fdatasync, at most one at a time, and each one
 *   covers every record appended before it was requested -- so all the
 *   waiters that arrive during one fdatasync share the next. fn gets 0, or
 *   the errno of the fdatasync that failed (its records may not be on
 *   disk). A caller answers its client from fn, so no answer precedes its
 *   record's fdatasync and kill -9 at any moment loses no answered record.
 *   fn runs from the loop, never inside journal_after_sync or any other
 *   journal call.
 * - Compaction (journal_rewrite_*): begin, add the live records (copied
 *   to memory), then start (at run time) or commit (at start, before
 *   serving); prepare is start with the snapshot's memory readied (page
 *   faulted) by the writer thread first and the adds called back from the
 *   loop then. Either writes them to PATH.tmp, syncs it, renames it over
 *   PATH and fsyncs the directory: kill -9 at any point leaves either the
 *   old or the new journal, whole, and no record whose waiter was answered
 *   is lost. commit does all of it on the caller's thread. start never
 *   syncs on the caller's thread: a writer thread writes and fdatasyncs the
 *   snapshot; appends meanwhile go to the old file as ever and are kept in
 *   memory too (bounded: past journal_set_tail_limit the compaction is
 *   aborted with a log line and the caller retries later); the loop then
 *   writes them to PATH.tmp and the syncer does the fdatasync, rename and
 *   directory fsync as one more group-commit request. Until that rename,
 *   PATH is the old file with every record: any failure before it drops
 *   PATH.tmp (journal_open unlinks a leftover one) with a WARN line and
 *   loses nothing. A waiter registered during a compaction is answered
 *   after a sync of the old file while it is PATH, or after the rename,
 *   never in between. A compaction makes every record appended before its
 *   rename durable as far as the caller re-added it (what it left out it
 *   dropped on purpose). The syncer never syncs a closed or reused
 *   descriptor: the old one is closed only with no fdatasync in flight on
 *   it.
 * - The caller bounds the journal by compacting (journal_size tells when).
 */
#ifndef PISTON_JOURNAL_H
#define PISTON_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "loop.h"

#define JOURNAL_MAX_RECORD (64u << 20)

typedef struct journal journal;

/* Called for each intact record during journal_open; data is valid only
 * during the call. */
typedef void (*journal_replay_cb)(void *ctx, const char *data, size_t len);

typedef struct journal_waiter journal_waiter;
/* err: 0 once the records are on disk, else the failed fdatasync's errno. */
typedef void journal_synced_fn(void *arg, int err);

typedef struct journal_counters {
	uint64_t records;    /* appended since open (compaction's rewrites not counted) */
	uint64_t syncs;      /* fdatasync calls the syncer made */
	uint64_t sync_us;    /* time spent in them, microseconds */
	uint64_t waiters;    /* journal_after_sync calls answered */
	uint64_t compactions;        /* completed (renamed over PATH) */
	uint64_t compact_us;         /* their time, begin to rename, microseconds (wall, not the loop's) */
	uint64_t compaction_aborts;  /* failed or over the tail limit: the old journal stayed */
} journal_counters;

/* Opens (creating it and its directory, mode 0700) the journal at path and
 * starts its syncer thread, whose completions arrive on l. l may be NULL
 * (no syncer: journal_after_sync then fails with ENOTSUP). NULL with a
 * message in err on failure. */
journal *journal_open(const char *path, loop *l, journal_replay_cb cb, void *ctx, char *err, size_t errlen);
/* Stops the syncer (waits for an fdatasync in flight); pending waiters are
 * dropped without a call. */
void journal_close(journal *j);

/* Appends one record (len <= JOURNAL_MAX_RECORD), not synced. 0, or -1
 * with errno. */
int journal_append(journal *j, const void *data, size_t len);

/* fn(arg, err) on the loop once everything appended so far is on disk (see
 * the promises). The handle is valid until fn runs or it is cancelled;
 * NULL with errno (ENOMEM, ENOTSUP) and fn is never called. */
journal_waiter *journal_after_sync(journal *j, journal_synced_fn *fn, void *arg);
/* fn will not be called (the client went away). */
void journal_waiter_cancel(journal *j, journal_waiter *w);

void journal_get_counters(const journal *j, journal_counters *out);

/* Bytes in the file now. */
uint64_t journal_size(const journal *j);

/* Compaction (see the promises): begin, add each live record, then commit
 * (synchronous) or start (in the background; without a loop it commits),
 * or abort. begin fails with EBUSY while a started one runs; abort does
 * nothing once its rename is under way. On any failure the old journal
 * stays in use. 0, or -1 with errno. */
int journal_rewrite_begin(journal *j);
int journal_rewrite_add(journal *j, const void *data, size_t len);
int journal_rewrite_commit(journal *j);
int journal_rewrite_start(journal *j);
void journal_rewrite_abort(journal *j);
/* Adds the live records (journal_rewrite_add only); 0, or -1 with errno. */
typedef int journal_fill_fn(void *arg);
/* journal_rewrite_start with the snapshot's memory readied first by the
 * writer thread (page faults: ~10 ms per 10 MiB on the loop otherwise):
 * fill(arg) is called later from the loop, never inside this call, and the
 * compaction goes on as if begin, fill and start had been called then.
 * Without a loop: begin, fill and commit now. 0, or -1 with errno (EBUSY
 * while one runs). */
int journal_rewrite_prepare(journal *j, journal_fill_fn *fill, void *arg);
/* A started compaction has not finished (renamed or aborted) yet. */
bool journal_rewrite_busy(const journal *j);
/* Bytes of the records added since begin (the size the journal will have). */
uint64_t journal_rewrite_size(const journal *j);
/* Most bytes kept in memory for appends during a started compaction
 * (default 32 MiB); beyond it the compaction is aborted. */
void journal_set_tail_limit(journal *j, size_t limit);

/* CRC-32 (the zip/gzip polynomial), shared with the tests. */
uint32_t journal_crc32(const void *data, size_t len);

#endif
