/*
 * journal: see journal.h. The file is read whole at open (it is bounded by
 * compaction); appends are single write() calls of header + payload.
 */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define HDR 12
static const unsigned char magic[4] = {'P', 'J', 'R', '1'};

struct journal {
	int fd, tmp_fd;
	char path[PATH_MAX], tmp_path[PATH_MAX + 8], dir[PATH_MAX];
	uint64_t size, tmp_size;
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

journal *journal_open(const char *path, journal_replay_cb cb, void *ctx, char *err, size_t errlen)
{
	journal *j = calloc(1, sizeof *j);
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	j->tmp_fd = -1;
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
	return j;
}

void journal_close(journal *j)
{
	if (!j)
		return;
	journal_rewrite_abort(j);
	close(j->fd);
	free(j);
}

int journal_append(journal *j, const void *data, size_t len, bool sync)
{
	if (write_record(j->fd, data, len) < 0)
		return -1;
	j->size += HDR + len;
	return sync ? fdatasync(j->fd) : 0;
}

int journal_sync(journal *j)
{
	return fdatasync(j->fd);
}

uint64_t journal_size(const journal *j)
{
	return j->size;
}

int journal_rewrite_begin(journal *j)
{
	journal_rewrite_abort(j);
	j->tmp_fd = open(j->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	j->tmp_size = 0;
	return j->tmp_fd < 0 ? -1 : 0;
}

int journal_rewrite_add(journal *j, const void *data, size_t len)
{
	if (j->tmp_fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (write_record(j->tmp_fd, data, len) < 0)
		return -1;
	j->tmp_size += HDR + len;
	return 0;
}

int journal_rewrite_commit(journal *j)
{
	if (j->tmp_fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (fsync(j->tmp_fd) < 0 || rename(j->tmp_path, j->path) < 0) {
		int saved = errno;
		journal_rewrite_abort(j);
		errno = saved;
		return -1;
	}
	fsync_dir(j->dir);
	close(j->fd);
	j->fd = j->tmp_fd;   /* the renamed file is the journal now */
	j->tmp_fd = -1;
	j->size = j->tmp_size;
	return 0;
}

void journal_rewrite_abort(journal *j)
{
	if (j->tmp_fd >= 0) {
		close(j->tmp_fd);
		j->tmp_fd = -1;
		unlink(j->tmp_path);
	}
}
