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
 * - journal_append with sync=true returns only after fdatasync: the record
 *   is on disk when the caller answers its client.
 * - Compaction (journal_rewrite_*) writes the live records to PATH.tmp,
 *   fsyncs it, renames it over PATH and fsyncs the directory: a crash at
 *   any point leaves either the old or the new journal, whole.
 * - The caller bounds the journal by compacting (journal_size tells when).
 */
#ifndef PISTON_JOURNAL_H
#define PISTON_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_MAX_RECORD (64u << 20)

typedef struct journal journal;

/* Called for each intact record during journal_open; data is valid only
 * during the call. */
typedef void (*journal_replay_cb)(void *ctx, const char *data, size_t len);

/* Opens (creating it and its directory, mode 0700) the journal at path.
 * NULL with a message in err on failure. */
journal *journal_open(const char *path, journal_replay_cb cb, void *ctx, char *err, size_t errlen);
void journal_close(journal *j);

/* Appends one record (len <= JOURNAL_MAX_RECORD). 0, or -1 with errno. */
int journal_append(journal *j, const void *data, size_t len, bool sync);

/* fdatasync of everything appended so far (one sync for a batch). */
int journal_sync(journal *j);

/* Bytes in the file now. */
uint64_t journal_size(const journal *j);

/* Compaction: begin, add each live record, commit (or abort). On any
 * failure the old journal stays in use. 0, or -1 with errno. */
int journal_rewrite_begin(journal *j);
int journal_rewrite_add(journal *j, const void *data, size_t len);
int journal_rewrite_commit(journal *j);
void journal_rewrite_abort(journal *j);

/* CRC-32 (the zip/gzip polynomial), shared with the tests. */
uint32_t journal_crc32(const void *data, size_t len);

#endif
