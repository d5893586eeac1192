/*
 * unzip: a small, bounded reader for zip archives held in memory (Judge0's
 * `additional_files`, a base64 zip). It never touches the file system: each
 * regular file is handed whole to a callback, and the caller writes it
 * (into a job's box through sbx_box_write).
 *
 *   unzip_limits lim = unzip_default_limits(total_bytes);
 *   if (unzip_extract(zip, len, &lim, on_file, me, err, sizeof err) < 0) refuse(err);
 *
 * Promises:
 * - The whole central directory is read and judged before the first file
 *   is handed on: the end record is searched only in the last 64 KiB + 22
 *   bytes; multi-disk and zip64 archives, encrypted entries and methods
 *   other than stored (0) and deflate (8) are refused.
 * - Refused like the package installer refuses a tar (src/install.c):
 *   absolute paths, `..` components, backslashes, NUL or empty names,
 *   duplicate names, symlink/device/FIFO/socket entries (Unix external
 *   attributes), more than max_entries entries, a declared or actual file
 *   size above max_file or a sum above max_total, a declared ratio
 *   (uncompressed / compressed) above max_ratio for files larger than
 *   64 KiB, entries whose local header or data overlap another entry or the
 *   central directory (the overlapping-file zip bomb), a local header that
 *   disagrees with the central one, a CRC-32 or size mismatch.
 * - Directory entries are skipped (the writer creates directories as
 *   needed). Memory: one file's uncompressed bytes at a time plus the
 *   inflater (~300 KiB) and an index of the entries.
 * - Every error is a message in err ("additional_files: ..."-free: the
 *   caller adds its own prefix); never a crash on any input.
 */
#ifndef PISTON_UNZIP_H
#define PISTON_UNZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct unzip_limits {
	uint64_t max_total;    /* sum of uncompressed sizes */
	uint64_t max_file;     /* one file's uncompressed size */
	uint32_t max_entries;  /* central directory records (directories included) */
	uint32_t max_ratio;    /* uncompressed / compressed, for files > 64 KiB */
} unzip_limits;

/* total for max_total and max_file, 1024 entries, ratio 200. */
unzip_limits unzip_default_limits(uint64_t total);

/* A regular file: path is normalized (tar_path_normalize) and safe
 * (tar_path_is_safe); mode is 0755 if the archive marks it executable,
 * else 0644. Return 0 to continue, nonzero to stop (unzip_extract then
 * fails with the message the callback put in err, or "stopped"). */
typedef int (*unzip_file_cb)(void *ctx, const char *path, const void *data, size_t len, unsigned mode,
                             char *err, size_t errlen);

/* 0, or -1 with a message in err. Files reach cb in central directory order. */
int unzip_extract(const void *zip, size_t len, const unzip_limits *lim, unzip_file_cb cb, void *ctx,
                  char *err, size_t errlen);

#endif
