/* libFuzzer harness: the streaming tar reader and the extractor's path
 * policy helpers. Byte 0 picks the arrival size. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "pkglink.h"
#include "tar.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

typedef struct state {
	uint64_t expect, got;
	bool in_file;
} state;

static int on_entry(void *ctx, const tar_entry *e)
{
	state *s = ctx;
	size_t pl = strlen(e->path), ll = strlen(e->linkpath);
	assert(pl <= TAR_PATH_MAX && ll <= TAR_PATH_MAX);
	assert((e->mode & ~07777u) == 0);
	char *p = malloc(pl + 1);
	memcpy(p, e->path, pl + 1);
	tar_path_normalize(p);
	assert(strlen(p) <= pl);
	if (tar_path_is_safe(p)) {
		assert(p[0] != '/' && p[0] != '\0');
		if (e->type == TAR_SYMLINK) {
			(void)tar_link_is_safe(p, e->linkpath);
			/* what the installer creates stays in the package: relative
			 * and host-safe, or /pkg/... (pkglink.h) */
			char out[TAR_PATH_MAX + 1], why[300];
			if (pkglink_judge(p, e->linkpath, out, sizeof out, why, sizeof why) == 0)
				assert(strlen(out) <= TAR_PATH_MAX &&
				       (out[0] == '/' ? !strncmp(out, "/pkg", 4) && (!out[4] || out[4] == '/')
				                      : tar_link_is_safe(p, out)));
			else
				assert(memchr(why, 0, sizeof why));
		}
	}
	free(p);
	s->expect = e->type == TAR_FILE ? e->size : 0;
	s->got = 0;
	s->in_file = true;
	return 0;
}

static int on_data(void *ctx, const void *p, size_t n)
{
	state *s = ctx;
	assert(s->in_file);
	if (n) {
		volatile unsigned char a = ((const unsigned char *)p)[0], b = ((const unsigned char *)p)[n - 1];
		(void)a, (void)b;
	}
	s->got += n;
	assert(s->got <= s->expect);
	return 0;
}

static int on_end(void *ctx, const tar_entry *e)
{
	state *s = ctx;
	assert(s->in_file && s->got == s->expect);
	s->in_file = false;
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	if (len < 1)
		return 0;
	size_t step = (size_t)data[0] * 8 + 1;
	data++, len--;
	state s = {0};
	tar_callbacks cb = {.entry = on_entry, .data = on_data, .entry_end = on_end, .ctx = &s};
	tar_reader *t = tar_init(&cb);
	assert(t);
	int rc = 0;
	for (size_t off = 0; off < len && rc == 0; off += step) {
		size_t n = len - off < step ? len - off : step;
		unsigned char *piece = malloc(n);
		memcpy(piece, data + off, n);
		rc = tar_feed(t, piece, n);
		free(piece);
	}
	if (rc == 0)
		rc = tar_finish(t);
	if (rc < 0)
		assert(tar_error(t)[0] != '\0');
	else
		assert(!s.in_file);
	tar_free(t);
	return 0;
}
