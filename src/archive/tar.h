/*
 * tar: streaming tar archive reader (ustar, GNU, pax). It never touches the
 * file system: it reports entries and file data through callbacks, and the
 * caller (the package installer) decides what to write and enforces policy,
 * with the path helpers below.
 *
 *   tar_callbacks cb = {.entry = on_entry, .data = on_data, .entry_end = on_end, .ctx = me};
 *   tar_reader *t = tar_init(&cb);
 *   feed bytes: tar_feed(t, p, n), or use tar_sink as inflate's sink;
 *   tar_finish(t); tar_free(t);
 *
 * Understood: ustar names (prefix + name), GNU long names/links ('L'/'K'),
 * pax extended headers ('x': path, linkpath, size, mtime; 'g' ignored),
 * header checksums (unsigned and signed sums), octal and base-256 numbers.
 * Long names are bounded (TAR_PATH_MAX), pax headers too (TAR_PAX_MAX).
 * The archive ends at two zero blocks (EOF after one is tolerated); bytes
 * after the end marker are ignored (tar pads archives to a record size).
 */
#ifndef PISTON_TAR_H
#define PISTON_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_PATH_MAX 4096       /* longest path or link target accepted */
#define TAR_PAX_MAX (1u << 20)  /* largest pax extended header accepted */

typedef enum {
	TAR_FILE,      /* '0', '\0', '7' (contiguous) */
	TAR_HARDLINK,  /* '1': linkpath names an earlier archive member */
	TAR_SYMLINK,   /* '2' */
	TAR_CHARDEV,   /* '3' */
	TAR_BLOCKDEV,  /* '4' */
	TAR_DIR,       /* '5' */
	TAR_FIFO,      /* '6' */
	TAR_OTHER,     /* anything else (GNU sparse, volume header...): see typeflag */
} tar_type;

typedef struct tar_entry {
	tar_type type;
	char typeflag;         /* the raw header byte */
	const char *path;      /* as stored (pax/GNU long name applied); NUL-terminated */
	const char *linkpath;  /* "" unless a link */
	uint32_t mode;         /* permission bits and suid/sgid/sticky (07777) */
	uint64_t size;         /* bytes of data that follow (TAR_FILE) */
	int64_t mtime;         /* seconds since the epoch */
	uint64_t uid, gid;
	uint32_t devmajor, devminor;
} tar_entry;

/* Each callback returns 0 to continue, nonzero to stop (the feed returns -1
 * and tar_error() says "stopped by the consumer"). Strings in the entry are
 * valid only during the entry callback. data gets a regular file's contents
 * in order (any chunk sizes; never for other types); entry_end follows the
 * last chunk of every entry. Any callback may be NULL. */
typedef struct tar_callbacks {
	int (*entry)(void *ctx, const tar_entry *e);
	int (*data)(void *ctx, const void *data, size_t len);
	int (*entry_end)(void *ctx, const tar_entry *e);
	void *ctx;
} tar_callbacks;

typedef struct tar_reader tar_reader;

tar_reader *tar_init(const tar_callbacks *cb);  /* NULL if out of memory */
void tar_free(tar_reader *t);
/* 0 = fine, -1 = error (see tar_error); after an error every call fails. */
int tar_feed(tar_reader *t, const void *data, size_t len);
/* Same as tar_feed, typed as an inflate_sink (ctx is the tar_reader). */
int tar_sink(void *reader, const void *data, size_t len);
/* End of input: 0 if the archive ended properly (end marker, or EOF right
 * after one zero block); -1 if truncated inside a header or entry. */
int tar_finish(tar_reader *t);
const char *tar_error(const tar_reader *t);  /* "" while there is no error */
bool tar_at_end(const tar_reader *t);        /* the end marker was seen */

/* Path policy helpers for extractors. tar_path_normalize rewrites path in
 * place: strips leading "./" (and repeats), collapses "//" and "/./", drops
 * a trailing "/"; the package root itself ("./" or ".") becomes "".
 * tar_path_is_safe: relative (no leading '/'), no ".." component, no empty
 * path, at most TAR_PATH_MAX bytes -- judged on the normalized form.
 * tar_link_is_safe: a symlink at entry_path (normalized) with the given
 * target stays inside the root: the target is relative, its ".."
 * components all come first (so no ".." follows a name that might itself
 * be a symlink) and never climb above the root. If every symlink passes and
 * directories are created without following links, no chain of links
 * resolves outside the root. */
void tar_path_normalize(char *path);
bool tar_path_is_safe(const char *path);
bool tar_link_is_safe(const char *entry_path, const char *target);

#endif
