/*
 * outfiles: reading back the files a job asked for (promises in outfiles.h).
 *
 * Why this is safe with the engine's privileges: the box is a private tmpfs
 * of the job's own; a hard link cannot cross file systems, so every inode a
 * path below the box can reach is one the job made (or was given) there;
 * RESOLVE_NO_XDEV refuses any other mount on the way, RESOLVE_NO_SYMLINKS
 * and O_NOFOLLOW every link (also a last component that is a link), and
 * RESOLVE_NO_MAGICLINKS the /proc kind. O_NONBLOCK keeps a FIFO (or a lease
 * a job left) from blocking the event loop, and nothing but a regular file
 * is read. By the time this runs every process of the stage is gone, and
 * the read is bounded by the cap whatever the file's size says.
 */
#include "outfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base64.h"
#include "sandbox.h"

int outfiles_parse(const json_value *v, outfiles_list *out, char *msg, size_t msglen)
{
	out->n = 0;
	if (!v || json_is(v, JSON_NULL))
		return 0;
	if (!json_is(v, JSON_ARRAY)) {
		snprintf(msg, msglen, "output_files must be an array of strings");
		return -1;
	}
	if (v->len > OUTFILES_MAX) {
		snprintf(msg, msglen, "output_files must not hold more than %d paths", OUTFILES_MAX);
		return -1;
	}
	for (size_t i = 0; i < v->len; i++) {
		const json_value *e = json_at(v, i);
		if (!json_is(e, JSON_STRING)) {
			snprintf(msg, msglen, "output_files[%zu] must be a string", i);
			return -1;
		}
		const char *why = sbx_box_path_problem(e->u.string, e->len, OUTFILES_NAME_MAX);
		if (why) {
			snprintf(msg, msglen, "output_files[%zu] %s", i, why);
			return -1;
		}
		out->names[out->n++] = e->u.string;
	}
	return 0;
}

static int open_beneath(int dirfd, const char *path, int flags)
{
	/* openat2 refuses O_PATH with any flag but O_CLOEXEC, O_DIRECTORY and
	 * O_NOFOLLOW (EINVAL). */
	if (!(flags & O_PATH))
		flags |= O_NOCTTY;
	struct open_how how = {
		.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	int fd;
	do
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/* An overlay whiteout (a deleted lower file) is a 0:0 character device. */
static bool is_whiteout(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && st->st_rdev == 0;
}

/* Why a path that could not be opened for reading is not returned: look at
 * it through an O_PATH descriptor (which opens nothing: no FIFO, device or
 * lease semantics), never following a link. */
static const char *classify_failure(int dirfd, const char *path, int open_errno)
{
	if (open_errno == ENOENT || open_errno == ENOTDIR)
		return "not found";
	int pfd = open_beneath(dirfd, path, O_PATH);
	if (pfd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return "not found";
	if (pfd < 0)   /* ELOOP: a link on the way; EXDEV: a mount crossed */
		return errno == ELOOP || errno == EXDEV ? "not a regular file" : "cannot be read";
	struct stat st;
	const char *why = "not a regular file";
	if (fstat(pfd, &st) == 0 && is_whiteout(&st))
		why = "not found";
	else if (fstat(pfd, &st) == 0 && S_ISREG(st.st_mode))
		why = "cannot be read";
	close(pfd);
	return why;
}

static void write_error(buf *out, const char *name, const char *why)
{
	buf_puts(out, "{\"name\":");
	json_escape(out, name, strlen(name));
	buf_puts(out, ",\"error\":");
	json_escape(out, why, strlen(why));
	buf_putc(out, '}');
}

/* Read up to want bytes from fd; the count read, or -1. */
static ssize_t read_bounded(int fd, char *dst, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t n = pread(fd, dst + got, want - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Open name for reading below upper, else (a plain miss, not a whiteout)
 * below lower. fd >= 0, or -1 with *why set. */
static int open_layers(int upper, int lower, const char *name, const char **why)
{
	int fd = open_beneath(upper, name, O_RDONLY | O_NONBLOCK);
	if (fd >= 0)
		return fd;
	*why = classify_failure(upper, name, errno);
	if (lower < 0 || strcmp(*why, "not found"))
		return -1;
	/* A whiteout in the upper layer: the test deleted the lower file. */
	int pfd = open_beneath(upper, name, O_PATH);
	if (pfd >= 0) {
		close(pfd);
		return -1;
	}
	fd = open_beneath(lower, name, O_RDONLY | O_NONBLOCK);
	if (fd < 0)
		*why = classify_failure(lower, name, errno);
	return fd;
}

int outfiles_collect(int dirfd, const outfiles_list *list, uint64_t cap, buf *out)
{
	return outfiles_collect_layers(dirfd, -1, list, cap, out);
}

int outfiles_collect_layers(int upper, int lower, const outfiles_list *list, uint64_t cap, buf *out)
{
	uint64_t left = cap;
	buf_putc(out, '[');
	for (size_t i = 0; i < list->n; i++) {
		const char *name = list->names[i];
		if (i)
			buf_putc(out, ',');
		const char *why = "not found";
		int fd = open_layers(upper, lower, name, &why);
		if (fd < 0) {
			write_error(out, name, why);
			continue;
		}
		struct stat st;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			bool gone = fstat(fd, &st) == 0 && is_whiteout(&st);
			close(fd);
			write_error(out, name, gone ? "not found" : "not a regular file");
			continue;
		}
		uint64_t size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
		size_t want = (size_t)(size < left ? size : left);
		char *data = want ? malloc(want) : NULL;
		if (want && !data) {
			close(fd);
			buf_free(out);
			out->failed = true;
			return -1;
		}
		ssize_t got = want ? read_bounded(fd, data, want) : 0;
		close(fd);
		if (got < 0) {
			free(data);
			write_error(out, name, "cannot be read");
			continue;
		}
		left -= (uint64_t)got;
		buf_puts(out, "{\"name\":");
		json_escape(out, name, strlen(name));
		buf_puts(out, ",\"content\":\"");
		size_t enc = base64_encoded_len((size_t)got);
		if (buf_reserve(out, enc + 128)) {
			base64_encode(data, (size_t)got, out->data + out->len);
			out->len += enc;
		}
		free(data);
		buf_printf(out, "\",\"encoding\":\"base64\",\"size\":%llu", (unsigned long long)size);
		if ((uint64_t)got < size)
			buf_puts(out, ",\"truncated\":true");
		buf_putc(out, '}');
	}
	buf_putc(out, ']');
	return buf_failed(out) ? -1 : 0;
}

int outfiles_collect_box(int boxfd, bool overlay_upper, int lower, const outfiles_list *list, uint64_t cap,
                         buf *out)
{
	if (!overlay_upper)
		return outfiles_collect_layers(boxfd, -1, list, cap, out);
	int upper = open_beneath(boxfd, "u", O_PATH | O_DIRECTORY);
	if (upper < 0)   /* not made (cannot happen once the test ran): the lower layer only */
		return outfiles_collect_layers(lower, -1, list, cap, out);
	int rc = outfiles_collect_layers(upper, lower, list, cap, out);
	close(upper);
	return rc;
}
