/* install: verified atomic package installs (see install.h). */
#include "install.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "inflate.h"
#include "log.h"
#include "pkglink.h"
#include "repo.h"
#include "semver.h"
#include "sha256.h"
#include "tar.h"

#define MAX_DEPTH 128          /* path components in a package entry */
#define REMOVE_MAX_DEPTH 512

/* ---- small fd helpers ---- */

static int open_beneath(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static int remove_tree_at(int dirfd, const char *name, int depth)
{
	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth >= REMOVE_MAX_DEPTH)
		return -1;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR) {
			if (remove_tree_at(fd, de->d_name, depth + 1) < 0)
				rc = -1;
		} else if (unlinkat(fd, de->d_name, 0) < 0 && errno != ENOENT) {
			if (remove_tree_at(fd, de->d_name, depth + 1) < 0)
				rc = -1;
		}
	}
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		rc = -1;
	return rc;
}

/* DATA/packages as a directory fd, created if missing. */
static int open_packages_dir(const char *data_dir, char *msg, size_t msglen)
{
	int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT && mkdir(data_dir, 0755) == 0)
		dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(msg, msglen, "cannot open data directory %s: %s", data_dir, strerror(errno));
		return -1;
	}
	if (mkdirat(dfd, "packages", 0755) < 0 && errno != EEXIST) {
		snprintf(msg, msglen, "cannot create %s/packages: %s", data_dir, strerror(errno));
		close(dfd);
		return -1;
	}
	int pfd = openat(dfd, "packages", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		snprintf(msg, msglen, "cannot open %s/packages: %s", data_dir, strerror(errno));
	close(dfd);
	return pfd;
}

/* DATA/.ppman-locks/NAME, created if needed (outside packages/, so nothing
 * that lists packages ever sees a lock); -1 with errno on failure. */
static int open_lock(int pfd, const char *name)
{
	int fd = -1;
	int dfd = openat(pfd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0 && (mkdirat(dfd, ".ppman-locks", 0700) == 0 || errno == EEXIST)) {
		int lfd = openat(dfd, ".ppman-locks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (lfd >= 0) {
			fd = openat(lfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
			close(lfd);
		}
	}
	int saved = errno;
	if (dfd >= 0)
		close(dfd);
	errno = saved;
	return fd;
}

static void flock_wait(int fd, int op)
{
	while (flock(fd, op) < 0 && errno == EINTR)
		;
}

/* flock on DATA/.ppman-locks/LANG-VERSION; returns the fd (close = unlock). */
static int lock_package(int pfd, const char *language, const char *version, bool wait,
                        char *msg, size_t msglen)
{
	char name[160];
	snprintf(name, sizeof name, "%s-%s", language, version);
	int fd = open_lock(pfd, name);
	if (fd < 0) {
		snprintf(msg, msglen, "cannot create lock %s: %s", name, strerror(errno));
		return -1;
	}
	while (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK && !wait) {
			snprintf(msg, msglen, "%s-%s is being installed or uninstalled right now; try again later",
			         language, version);
			close(fd);
			return -2;
		}
		if (errno != EINTR) {
			snprintf(msg, msglen, "cannot lock %s: %s", name, strerror(errno));
			close(fd);
			return -1;
		}
	}
	return fd;
}

static bool is_installed(int pfd, const char *language, const char *version)
{
	char path[160];
	snprintf(path, sizeof path, "%s/%s/" INSTALL_MARKER, language, version);
	int fd = open_beneath(pfd, path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* ---- extraction ---- */

typedef struct extractor {
	int root_fd;                     /* the staging directory */
	int parent_fd;                   /* cached directory of the last entry (or root_fd) */
	char parent_path[TAR_PATH_MAX + 1];
	int file_fd;                     /* the regular file being written, or -1 */
	uint32_t file_mode;
	uint64_t entries, max_entries;
	char path[TAR_PATH_MAX + 1];     /* current entry, normalized */
	char err[300];
	int errnum;                /* errno when err was set (507 for a full disk) */
	/* After the first refusal the rest of the archive is still read, names
	 * only (nothing is written), to tell what kind of package it is. */
	uint64_t observed;
	bool saw_pkg_info, saw_usr;      /* pkg-info.json, usr/ at the root */
} extractor;

/* Entries looked at after a refusal, at most (then reading stops). */
#define OBSERVE_MAX_ENTRIES 20000u

__attribute__((format(printf, 2, 3)))
static int fail(extractor *x, const char *fmt, ...)
{
	if (!x->err[0]) {
		x->errnum = errno;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(x->err, sizeof x->err, fmt, ap);   /* long paths are cut, which is fine in a message */
		va_end(ap);
	}
	return -1;
}

static void drop_parent(extractor *x)
{
	if (x->parent_fd >= 0 && x->parent_fd != x->root_fd)
		close(x->parent_fd);
	x->parent_fd = x->root_fd;
	x->parent_path[0] = '\0';
}

/* Create (if needed) and open dir, a relative path below the root,
 * component by component without following links. */
static int make_dirs(extractor *x, const char *dir)
{
	int fd = open_beneath(x->root_fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	char part[TAR_PATH_MAX + 1];
	int cur = x->root_fd;
	const char *p = dir;
	while (*p) {
		size_t n = strcspn(p, "/");
		memcpy(part, p, n);
		part[n] = '\0';
		if (mkdirat(cur, part, 0755) < 0 && errno != EEXIST) {
			if (cur != x->root_fd)
				close(cur);
			return -1;
		}
		int next = openat(cur, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cur != x->root_fd)
			close(cur);
		if (next < 0)
			return -1;
		cur = next;
		p += n;
		while (*p == '/')
			p++;
	}
	return cur;
}

/* The directory fd for x->path's parent; *base receives the last component. */
static int parent_of(extractor *x, const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		return x->root_fd;
	}
	*base = slash + 1;
	size_t n = (size_t)(slash - path);
	if (x->parent_fd >= 0 && strlen(x->parent_path) == n && !memcmp(x->parent_path, path, n))
		return x->parent_fd;
	drop_parent(x);
	char dir[TAR_PATH_MAX + 1];
	memcpy(dir, path, n);
	dir[n] = '\0';
	int fd = make_dirs(x, dir);
	if (fd < 0) {
		if (errno == ELOOP || errno == EXDEV || errno == ENOTDIR)
			return fail(x, "entry %s goes through a link or a file", path);
		return fail(x, "cannot create directory %s: %s", dir, strerror(errno));
	}
	x->parent_fd = fd;
	memcpy(x->parent_path, dir, n + 1);
	return fd;
}

/* What kind of package this is, from its root entries (upstream Piston's
 * packages have pkg-info.json and no usr/ tree). */
static void observe(extractor *x)
{
	if (!strcmp(x->path, "pkg-info.json"))
		x->saw_pkg_info = true;
	if (!strncmp(x->path, "usr", 3) && (x->path[3] == '\0' || x->path[3] == '/'))
		x->saw_usr = true;
}

static int extract_entry(extractor *x, const tar_entry *e);

static int on_entry(void *ctx, const tar_entry *e)
{
	extractor *x = ctx;
	size_t plen = strlen(e->path);
	if (plen > TAR_PATH_MAX)
		return fail(x, "entry path too long");
	memcpy(x->path, e->path, plen + 1);
	tar_path_normalize(x->path);
	observe(x);
	if (x->err[0])   /* refused already: names only, bounded */
		return ++x->observed > OBSERVE_MAX_ENTRIES ? -1 : 0;
	extract_entry(x, e);
	return 0;        /* a refusal (x->err) lets the names after it be read */
}

static int extract_entry(extractor *x, const tar_entry *e)
{
	if (++x->entries > x->max_entries)
		return fail(x, "archive has too many entries (limit reached at %s)", e->path);
	if (x->path[0] == '\0') {
		if (e->type == TAR_DIR)
			return 0;   /* the package root itself */
		return fail(x, "entry with an empty path");
	}
	if (!tar_path_is_safe(x->path))
		return fail(x, "unsafe path in archive: %s", e->path);
	int depth = 1;
	for (const char *p = x->path; *p; p++)
		depth += *p == '/';
	if (depth > MAX_DEPTH)
		return fail(x, "entry nested too deep: %.100s", x->path);
	if (!strcmp(x->path, INSTALL_MARKER))
		return fail(x, "archive contains the install marker %s", INSTALL_MARKER);
	const char *base;
	uint32_t mode = e->mode & 0777;
	switch (e->type) {
	case TAR_DIR: {
		int pfd = parent_of(x, x->path, &base);
		if (pfd < 0)
			return -1;
		if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST)
			return fail(x, "cannot create directory %s: %s", x->path, strerror(errno));
		int dfd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dfd < 0)
			return fail(x, "%s exists and is not a directory", x->path);
		fchmod(dfd, mode | 0700);
		close(dfd);
		return 0;
	}
	case TAR_FILE: {
		int pfd = parent_of(x, x->path, &base);
		if (pfd < 0)
			return -1;
		int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
		int fd = openat(pfd, base, flags, 0600);
		if (fd < 0 && errno == EEXIST && unlinkat(pfd, base, 0) == 0)
			fd = openat(pfd, base, flags, 0600);   /* a later duplicate replaces it, as tar does */
		if (fd < 0)
			return fail(x, "cannot create %s: %s", x->path, strerror(errno));
		x->file_fd = fd;
		x->file_mode = mode;
		return 0;
	}
	case TAR_SYMLINK: {
		/* Judged as the sandbox sees it; an absolute target into the
		 * package's own tree (a hand-built Debian root is full of them)
		 * comes back rewritten relative, or as /pkg/... (pkglink.h). */
		char target[TAR_PATH_MAX + 1], why[300];
		if (pkglink_judge(x->path, e->linkpath, target, sizeof target, why, sizeof why) < 0)
			return fail(x, "symlink %s -> %s %s", x->path, e->linkpath, why);
		int pfd = parent_of(x, x->path, &base);
		if (pfd < 0)
			return -1;
		if (symlinkat(target, pfd, base) < 0) {
			if (errno != EEXIST || unlinkat(pfd, base, 0) < 0 || symlinkat(target, pfd, base) < 0)
				return fail(x, "cannot create symlink %s: %s", x->path, strerror(errno));
		}
		return 0;
	}
	case TAR_HARDLINK: {
		char target[TAR_PATH_MAX + 1];
		size_t tl = strlen(e->linkpath);
		if (tl > TAR_PATH_MAX)
			return fail(x, "hard link target too long");
		memcpy(target, e->linkpath, tl + 1);
		tar_path_normalize(target);
		if (!tar_path_is_safe(target))
			return fail(x, "hard link %s -> %s points outside the package", x->path, e->linkpath);
		const char *tslash = strrchr(target, '/');
		int sfd = x->root_fd;
		const char *sbase = target;
		if (tslash) {
			*(char *)tslash = '\0';
			sfd = open_beneath(x->root_fd, target, O_PATH | O_DIRECTORY | O_NOFOLLOW);
			sbase = tslash + 1;
			if (sfd < 0)
				return fail(x, "hard link %s: target %s is not in the package", x->path, e->linkpath);
		}
		int pfd = parent_of(x, x->path, &base);
		int rc = 0;
		if (pfd < 0) {
			rc = -1;
		} else if (linkat(sfd, sbase, pfd, base, 0) < 0) {
			if (errno != EEXIST || unlinkat(pfd, base, 0) < 0 || linkat(sfd, sbase, pfd, base, 0) < 0)
				rc = fail(x, "hard link %s: %s", x->path, strerror(errno));
		}
		if (sfd != x->root_fd)
			close(sfd);
		return rc;
	}
	case TAR_CHARDEV:
	case TAR_BLOCKDEV:
	case TAR_FIFO:
		return fail(x, "device nodes and FIFOs are not allowed in a package: %s", x->path);
	default: {
		char t[2] = {e->typeflag, 0};
		return fail(x, "unsupported entry type '%s': %s", t, x->path);
	}
	}
}

static int on_data(void *ctx, const void *data, size_t len)
{
	extractor *x = ctx;
	if (x->err[0] || x->file_fd < 0)
		return 0;     /* refused: the rest is read, not written */
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(x->file_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			fail(x, "writing %s: %s", x->path, strerror(errno));
			return 0;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Failures land in x->err (the names after a refusal are still read). */
static int on_entry_end(void *ctx, const tar_entry *e)
{
	extractor *x = ctx;
	if (x->file_fd < 0)
		return 0;
	if (!x->err[0] && fchmod(x->file_fd, x->file_mode) < 0)
		fail(x, "chmod %s: %s", x->path, strerror(errno));
	/* Keep the archive's modification time: runtimes that compare a source
	 * file's time with its compiled cache (python's .pyc, guile's .go, java's
	 * CDS archive) would otherwise recompile or ignore the cache on every run. */
	struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = (time_t)e->mtime}};
	if (!x->err[0] && e->mtime > 0 && futimens(x->file_fd, times) < 0)
		fail(x, "setting the time of %s: %s", x->path, strerror(errno));
	if (close(x->file_fd) < 0)
		fail(x, "writing %s: %s", x->path, strerror(errno));
	x->file_fd = -1;
	return 0;
}

/* ---- the download pipeline: sha256 + gunzip -> tar -> extractor ---- */

typedef struct pipeline {
	sha256_ctx sha;
	inflate_stream *z;
	tar_reader *tar;
	extractor x;
	uint64_t downloaded, total, max_download;
	bool broken;            /* extraction failed: keep hashing, stop extracting */
	bool too_big;
	char archive_err[300];
	const install_request *rq;
} pipeline;

static void set_archive_error(pipeline *pl)
{
	if (pl->archive_err[0])
		return;
	pl->broken = true;
	if (pl->x.err[0])
		snprintf(pl->archive_err, sizeof pl->archive_err, "%s", pl->x.err);
	else if (tar_error(pl->tar)[0] && strcmp(inflate_error(pl->z), "output consumer failed") == 0)
		snprintf(pl->archive_err, sizeof pl->archive_err, "bad tar archive: %s", tar_error(pl->tar));
	else if (inflate_error(pl->z)[0])
		snprintf(pl->archive_err, sizeof pl->archive_err, "bad gzip data: %s", inflate_error(pl->z));
	else
		snprintf(pl->archive_err, sizeof pl->archive_err, "bad tar archive: %s", tar_error(pl->tar));
}

static void on_size(void *ctx, uint64_t size)
{
	pipeline *pl = ctx;
	pl->total = size;
}

static int on_download(void *ctx, const void *data, size_t len)
{
	pipeline *pl = ctx;
	pl->downloaded += len;
	if (pl->downloaded > pl->max_download) {
		pl->too_big = true;
		return 1;
	}
	sha256_update(&pl->sha, data, len);
	if (!pl->broken && inflate_feed(pl->z, data, len) < 0)
		set_archive_error(pl);
	if (pl->rq->progress)
		pl->rq->progress(pl->rq->progress_ctx, pl->downloaded, pl->total);
	return 0;
}

static bool has_regular(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* Everything after the index lookup: lock, stream, verify, publish. */
static bool out_of_space(int e)
{
	return e == ENOSPC || e == EDQUOT;
}

int install_from(const install_request *rq, const char *version, const char *location,
                 const char *sha256, char *msg, size_t msglen)
{
	const char *lang = rq->language;
	if (!repo_name_ok(lang) || !repo_name_ok(version)) {
		snprintf(msg, msglen, "Requested package %s-%s does not exist", lang, version);
		return 404;
	}
	int pfd = open_packages_dir(rq->data_dir, msg, msglen);
	if (pfd < 0)
		return 500;
	int status = 500;
	bool no_space = false;     /* a 500 caused by a full disk becomes 507 */
	int lock = -1, sfd = -1;
	pipeline *pl = NULL;
	char staging[200] = "";
	lock = lock_package(pfd, lang, version, true, msg, msglen);
	if (lock < 0)
		goto out;
	if (is_installed(pfd, lang, version)) {
		snprintf(msg, msglen, "Already installed");
		status = 409;
		goto out;
	}
	snprintf(staging, sizeof staging, ".staging-%s-%s-%ld", lang, version, (long)getpid());
	remove_tree_at(pfd, staging, 0);   /* our own pid's leftover: certainly dead */
	/* The staging directory is created and locked while holding the cleanup
	 * lock shared, so install_cleanup (exclusive) never sees it unlocked. */
	int cl = open_lock(pfd, ".cleanup");
	if (cl >= 0)
		flock_wait(cl, LOCK_SH);
	if (mkdirat(pfd, staging, 0755) < 0 ||
	    (sfd = openat(pfd, staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		no_space = out_of_space(errno);
		snprintf(msg, msglen, "cannot create staging directory: %s", strerror(errno));
		staging[0] = '\0';
		if (cl >= 0)
			close(cl);
		goto out;
	}
	flock_wait(sfd, LOCK_EX);   /* tells install_cleanup this staging directory is alive */
	if (cl >= 0)
		close(cl);
	fchmod(sfd, 0755);

	pl = calloc(1, sizeof *pl);
	uint64_t max_bytes = rq->max_bytes ? rq->max_bytes : (cfg.package_max_size ? cfg.package_max_size : INSTALL_DEFAULT_MAX_BYTES);
	if (!pl) {
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	pl->rq = rq;
	pl->total = UINT64_MAX;
	pl->max_download = max_bytes;
	pl->x.root_fd = sfd;
	pl->x.parent_fd = sfd;
	pl->x.file_fd = -1;
	pl->x.max_entries = rq->max_entries ? rq->max_entries : (cfg.package_max_files ? cfg.package_max_files : INSTALL_DEFAULT_MAX_ENTRIES);
	sha256_init(&pl->sha);
	tar_callbacks cb = {.entry = on_entry, .data = on_data, .entry_end = on_entry_end, .ctx = &pl->x};
	pl->tar = tar_init(&cb);
	pl->z = pl->tar ? inflate_init(INFLATE_GZIP, max_bytes, tar_sink, pl->tar) : NULL;
	if (!pl->z) {
		snprintf(msg, msglen, "out of memory");
		goto out;
	}
	char ferr[600];
	if (repo_stream(location, rq->ca_file, on_download, on_size, pl, ferr, sizeof ferr) < 0) {
		if (pl->too_big)
			snprintf(msg, msglen, "package file %s-%s is larger than %llu bytes", lang, version,
			         (unsigned long long)max_bytes);
		else
			snprintf(msg, msglen, "cannot download %s-%s: %s", lang, version, ferr);
		status = 502;
		goto out;
	}
	if (!pl->broken && inflate_finish(pl->z) < 0)
		set_archive_error(pl);
	if (!pl->broken && tar_finish(pl->tar) < 0)
		set_archive_error(pl);
	if (!pl->broken && pl->x.err[0])   /* refused, and read to the end to tell what it is */
		set_archive_error(pl);
	char got[SHA256_HEX_LEN + 1];
	sha256_final_hex(&pl->sha, got);
	if (strcmp(got, sha256) != 0) {
		snprintf(msg, msglen, "Checksum miss-match want: %s got: %s", sha256, got);
		goto out;
	}
	if (pl->x.saw_pkg_info && !pl->x.saw_usr) {
		/* Said before any other refusal: that one (a link into /piston/...,
		 * no metadata.json) would only be a symptom. */
		snprintf(msg, msglen, "package %s-%s rejected: it is an upstream Piston package (pkg-info.json, no usr/ "
		         "tree), built inside upstream's Docker image against that image's libraries and paths, so it "
		         "cannot run in this engine's empty sandbox root. Use a repository of this engine's packages: "
		         "build one with tools/mkrepo and set PISTON_REPO_URL to its index (build/repo/index)",
		         lang, version);
		goto out;
	}
	if (pl->broken) {
		snprintf(msg, msglen, "package %s-%s rejected: %s", lang, version, pl->archive_err);
		goto out;
	}
	if (!has_regular(sfd, "metadata.json") || !has_regular(sfd, "run")) {
		snprintf(msg, msglen, "package %s-%s rejected: metadata.json or run is missing", lang, version);
		goto out;
	}
	/* Durable before visible: the data, then the marker, then the rename. */
	syncfs(sfd);
	int mfd = openat(sfd, INSTALL_MARKER, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (mfd < 0) {
		no_space = out_of_space(errno);
		snprintf(msg, msglen, "cannot write the install marker: %s", strerror(errno));
		goto out;
	}
	char mark[200];
	int ml = snprintf(mark, sizeof mark, "%s %s %s %lld\n", lang, version, got, (long long)time(NULL));
	bool wrote = write(mfd, mark, (size_t)ml) == ml && fsync(mfd) == 0;
	close(mfd);
	if (!wrote || fsync(sfd) < 0) {
		no_space = out_of_space(errno);
		snprintf(msg, msglen, "cannot write the install marker: %s", strerror(errno));
		goto out;
	}
	if (mkdirat(pfd, lang, 0755) < 0 && errno != EEXIST) {
		no_space = out_of_space(errno);
		snprintf(msg, msglen, "cannot create %s: %s", lang, strerror(errno));
		goto out;
	}
	int lfd = openat(pfd, lang, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lfd < 0) {
		snprintf(msg, msglen, "cannot open %s: %s", lang, strerror(errno));
		goto out;
	}
	/* A directory left there without a marker is not installed: move it aside. */
	char trash[200];
	snprintf(trash, sizeof trash, ".trash-%s-%s-%ld-old", lang, version, (long)getpid());
	if (renameat(lfd, version, pfd, trash) == 0)
		remove_tree_at(pfd, trash, 0);
	if (syscall(SYS_renameat2, pfd, staging, lfd, version, RENAME_NOREPLACE) < 0) {
		no_space = out_of_space(errno);
		snprintf(msg, msglen, "cannot move the package into place: %s", strerror(errno));
		close(lfd);
		goto out;
	}
	staging[0] = '\0';
	fsync(lfd);
	close(lfd);
	status = 0;
out:
	if (status == 500 && (no_space || (pl && pl->broken && out_of_space(pl->x.errnum))))
		status = 507;
	if (pl) {
		if (pl->x.file_fd >= 0)
			close(pl->x.file_fd);
		drop_parent(&pl->x);
		inflate_free(pl->z);
		tar_free(pl->tar);
		free(pl);
	}
	if (staging[0])
		remove_tree_at(pfd, staging, 0);
	if (sfd >= 0)
		close(sfd);
	if (lock >= 0)
		close(lock);
	close(pfd);
	return status;
}

int install_package(const install_request *rq, char *version, size_t versionlen, char *msg, size_t msglen)
{
	const char *sel = rq->selector && *rq->selector ? rq->selector : "*";
	version[0] = '\0';
	repo_index idx;
	char err[600];
	if (repo_fetch_index(rq->repo_url, rq->ca_file, &idx, err, sizeof err) < 0) {
		snprintf(msg, msglen, "cannot read the package repository: %s", err);
		return 502;
	}
	const repo_entry *e = repo_find(&idx, rq->language, sel);
	int status;
	if (!e) {
		snprintf(msg, msglen, "Requested package %s-%s does not exist", rq->language, sel);
		status = 404;
	} else {
		snprintf(version, versionlen, "%s", e->version);
		status = install_from(rq, e->version, e->url, e->sha256, msg, msglen);
	}
	repo_index_free(&idx);
	return status;
}

int install_find_installed(const char *data_dir, const char *language, const char *selector,
                           char *version, size_t versionlen, char *msg, size_t msglen)
{
	const char *sel = selector && *selector ? selector : "*";
	version[0] = '\0';
	int pfd = -1, lfd = -1;
	DIR *d = NULL;
	if (repo_name_ok(language)) {
		char path[600];
		snprintf(path, sizeof path, "%s/packages", data_dir);
		pfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0)
			lfd = openat(pfd, language, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (lfd >= 0)
			d = fdopendir(lfd);
	}
	semver best = {0};
	struct dirent *de;
	while (d && (de = readdir(d))) {
		semver v;
		if (de->d_name[0] == '.' || !repo_name_ok(de->d_name) || semver_parse(de->d_name, &v) < 0)
			continue;
		if (strcmp(sel, de->d_name) != 0 && !semver_satisfies(&v, sel))
			continue;
		if (!is_installed(pfd, language, de->d_name))
			continue;
		if (!version[0] || semver_cmp(&v, &best) > 0) {
			best = v;
			snprintf(version, versionlen, "%s", de->d_name);
		}
	}
	if (d)
		closedir(d);
	else if (lfd >= 0)
		close(lfd);
	if (pfd >= 0)
		close(pfd);
	if (!version[0]) {
		snprintf(msg, msglen, "%s-%s is not installed", language, sel);
		return 400;
	}
	return 0;
}

int install_uninstall(const char *data_dir, const char *language, const char *version,
                      unsigned flags, char *msg, size_t msglen)
{
	if (!repo_name_ok(language) || !repo_name_ok(version)) {
		snprintf(msg, msglen, "%s-%s is not installed", language, version);
		return 400;
	}
	int pfd = open_packages_dir(data_dir, msg, msglen);
	if (pfd < 0)
		return 500;
	int status = 500;
	int lock = lock_package(pfd, language, version, !(flags & INSTALL_NO_WAIT), msg, msglen);
	int lfd = -1;
	if (lock < 0) {
		if (lock == -2)
			status = 409;
		goto out;
	}
	if (!is_installed(pfd, language, version)) {
		snprintf(msg, msglen, "%s-%s is not installed", language, version);
		status = 400;
		goto out;
	}
	lfd = openat(pfd, language, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char trash[200];
	snprintf(trash, sizeof trash, ".trash-%s-%s-%ld-%lld", language, version, (long)getpid(),
	         (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	if (lfd < 0 || renameat(lfd, version, pfd, trash) < 0) {
		snprintf(msg, msglen, "cannot uninstall %s-%s: %s", language, version, strerror(errno));
		goto out;
	}
	fsync(pfd);
	status = 0;
	if (!(flags & INSTALL_DEFER_DELETE) && remove_tree_at(pfd, trash, 0) < 0)
		log_warn("could not delete all of %s/packages/%s: %s", data_dir, trash, strerror(errno));
out:
	if (lfd >= 0)
		close(lfd);   /* the language directory stays: a concurrent install may be using it */
	if (lock >= 0)
		close(lock);
	close(pfd);
	return status;
}

void install_cleanup(const char *data_dir)
{
	char path[600];
	snprintf(path, sizeof path, "%s/packages", data_dir);
	int pfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return;
	int cl = open_lock(pfd, ".cleanup");
	if (cl >= 0)
		flock_wait(cl, LOCK_EX);   /* no install is between creating and locking its staging dir */
	int dfd = dup(pfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		bool staging = !strncmp(de->d_name, ".staging-", 9);
		bool trash = !strncmp(de->d_name, ".trash-", 7);
		if (!staging && !trash)
			continue;
		int fd = openat(pfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			unlinkat(pfd, de->d_name, 0);   /* not a directory: nothing we made */
			continue;
		}
		if (staging && flock(fd, LOCK_EX | LOCK_NB) < 0) {
			close(fd);   /* a live install holds it */
			continue;
		}
		if (remove_tree_at(pfd, de->d_name, 0) < 0)
			log_warn("could not remove leftover %s/%s: %s", path, de->d_name, strerror(errno));
		else
			log_info("removed leftover %s/%s", path, de->d_name);
		close(fd);
	}
	if (d)
		closedir(d);
	if (cl >= 0)
		close(cl);
	close(pfd);
}
