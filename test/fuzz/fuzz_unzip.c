/* libFuzzer harness: the zip reader (src/archive/unzip.c). Byte 0 picks the
 * limits (small ones make the size, ratio and count refusals reachable);
 * every file handed on must have a safe, normalized path and at most the
 * per-file limit of bytes, and the sum stays within the total. */
#include <assert.h>
#include <string.h>
#include "tar.h"
#include "unzip.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

typedef struct state {
	unzip_limits lim;
	uint64_t total;
} state;

static int on_file(void *ctx, const char *path, const void *p, size_t n, unsigned mode, char *err, size_t errlen)
{
	state *s = ctx;
	assert(tar_path_is_safe(path));
	assert(mode == 0644 || mode == 0755);
	assert(n <= s->lim.max_file);
	s->total += n;
	assert(s->total <= s->lim.max_total);
	if (n) {
		volatile unsigned char a = ((const unsigned char *)p)[0], b = ((const unsigned char *)p)[n - 1];
		(void)a, (void)b;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	if (len < 1)
		return 0;
	state s = {.lim = unzip_default_limits(data[0] & 1 ? 4096 : 1 << 20)};
	s.lim.max_entries = data[0] & 2 ? 4 : 1024;
	s.lim.max_ratio = data[0] & 4 ? 2 : 200;
	char err[256];
	int rc = unzip_extract(data + 1, len - 1, &s.lim, on_file, &s, err, sizeof err);
	if (rc < 0)
		assert(err[0] != '\0' && memchr(err, 0, sizeof err));
	return 0;
}
