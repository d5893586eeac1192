/* libFuzzer harness: streaming gzip/raw DEFLATE decoding. Byte 0 picks the
 * format and the arrival size; the decode is done whole and split, and both
 * must agree on the outcome and the output. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "inflate.h"
#include "sha256.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

typedef struct sink_state {
	uint64_t total;
	sha256_ctx hash;
} sink_state;

static int sink(void *ctx, const void *p, size_t n)
{
	sink_state *s = ctx;
	if (n) {
		volatile unsigned char first = ((const unsigned char *)p)[0];
		volatile unsigned char last = ((const unsigned char *)p)[n - 1];
		(void)first, (void)last;
	}
	s->total += n;
	sha256_update(&s->hash, p, n);
	return 0;
}

static int decode(inflate_format fmt, const unsigned char *in, size_t len, size_t step,
                  char digest[65], uint64_t *total)
{
	sink_state s = {0};
	sha256_init(&s.hash);
	inflate_stream *z = inflate_init(fmt, 1u << 18, sink, &s);
	assert(z);
	int rc = 0;
	for (size_t off = 0; off < len && rc == 0; off += step) {
		size_t n = len - off < step ? len - off : step;
		unsigned char *piece = malloc(n);   /* exact size for ASan */
		memcpy(piece, in + off, n);
		rc = inflate_feed(z, piece, n);
		free(piece);
	}
	if (rc == 0)
		rc = inflate_finish(z);
	if (rc < 0)
		assert(inflate_error(z)[0] != '\0');
	assert(inflate_total_out(z) == s.total && s.total <= (1u << 18));
	inflate_free(z);
	sha256_final_hex(&s.hash, digest);
	*total = s.total;
	return rc;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	if (len < 1)
		return 0;
	inflate_format fmt = (data[0] & 1) ? INFLATE_GZIP : INFLATE_RAW;
	size_t step = (size_t)(data[0] >> 1) + 1;
	data++, len--;
	char d1[65], d2[65];
	uint64_t t1, t2;
	int a = decode(fmt, data, len, len ? len : 1, d1, &t1);
	int b = decode(fmt, data, len, step, d2, &t2);
	assert(a == b);
	if (a == 0)
		assert(t1 == t2 && memcmp(d1, d2, 65) == 0);
	return 0;
}
