/*
 * install: verified, atomic package installs into DATA/packages (SPEC
 * section 3), shared by the engine's /api/v2/packages and `ppman --data`.
 *
 * Promises:
 * - The package file is streamed once: sha256 and gunzip -> tar -> extract
 *   run on each piece as it arrives; nothing holds the whole file.
 * - Extraction goes into DATA/packages/.staging-LANG-VERSION-PID through
 *   directory fds only (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS,
 *   O_NOFOLLOW|O_EXCL, mkdirat, symlinkat, linkat): never by path from the
 *   root, never through a link. Absolute paths, "..", device nodes, FIFOs,
 *   and links leading outside the package as the sandbox sees it are refused
 *   (absolute ones into its own tree are rewritten, pkglink.h); setuid/setgid bits
 *   are dropped; total unpacked bytes and entry count are capped (a gzip
 *   bomb fails cleanly).
 * - After a refusal the rest of the archive is still read (names only,
 *   nothing written, at most 20000 more entries) to tell what it is: an
 *   upstream Piston package (pkg-info.json and no usr/ tree at the root) is
 *   refused with a message saying so and what to use instead, before any
 *   other reason.
 * - Only after the checksum matches and the archive ended properly: the
 *   data is synced, `.ppman-installed` is written, and the staging
 *   directory is renamed to DATA/packages/LANG/VERSION. A failure at any
 *   point (kill -9 included) leaves nothing listed as installed.
 * - Installs and uninstalls of one LANG-VERSION are serialised across
 *   processes by flock on DATA/.ppman-locks/LANG-VERSION.
 * - Uninstall renames the package to .trash-* (atomic), then deletes it.
 *   install_cleanup removes .staging-* and .trash-* leftovers (not a staging
 *   directory that a live install still holds locked).
 *
 * Results are HTTP statuses: 0 on success, else 404 (no such package),
 * 409 (Already installed), 400 (not installed), 502 (repository
 * unreachable), 500 (checksum or archive rejected, I/O error), 507 (the
 * data directory is full), with the SPEC's message in msg.
 */
#ifndef PISTON_INSTALL_H
#define PISTON_INSTALL_H

#include <stddef.h>
#include <stdint.h>

#define INSTALL_MARKER ".ppman-installed"
#define INSTALL_DEFAULT_MAX_BYTES (4ull << 30)   /* PISTON_PACKAGE_MAX_SIZE */
#define INSTALL_DEFAULT_MAX_ENTRIES 500000u      /* PISTON_PACKAGE_MAX_FILES */

typedef struct install_request {
	const char *data_dir;
	const char *repo_url;
	const char *ca_file;          /* NULL: default */
	const char *language;
	const char *selector;         /* semver selector or exact version; NULL = "*" */
	uint64_t max_bytes;           /* unpacked bytes; 0: env or default */
	uint64_t max_entries;         /* 0: env or default */
	/* progress (may be NULL): bytes downloaded so far, total or UINT64_MAX */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
} install_request;

/* Install the highest version matching the selector; the chosen version is
 * written to version (NUL-terminated). */
int install_package(const install_request *rq, char *version, size_t versionlen, char *msg, size_t msglen);

/* Install straight from a package file already chosen (bench, tests):
 * location is a path or URL, sha256 the expected hex digest. */
int install_from(const install_request *rq, const char *version, const char *location,
                 const char *sha256, char *msg, size_t msglen);

/* The highest installed version of language matching selector ("*" for
 * any); 0 with version filled, or 400 "LANG-SELECTOR is not installed". */
int install_find_installed(const char *data_dir, const char *language, const char *selector,
                           char *version, size_t versionlen, char *msg, size_t msglen);

/* Rename DATA/packages/LANG/VERSION away atomically (it stops being
 * installed at once), then delete it. Flags: INSTALL_DEFER_DELETE leaves
 * the renamed tree for install_cleanup (run it off the event loop);
 * INSTALL_NO_WAIT fails with 409 instead of waiting while an install or
 * uninstall of the same package holds its lock. */
#define INSTALL_DEFER_DELETE 1u
#define INSTALL_NO_WAIT 2u
int install_uninstall(const char *data_dir, const char *language, const char *version,
                      unsigned flags, char *msg, size_t msglen);

/* Remove .staging-* and .trash-* leftovers in DATA/packages. */
void install_cleanup(const char *data_dir);

#endif
