/* libFuzzer harness: http_chunked_decode. The first input byte picks how the
 * rest is split into arrivals; the split decode must produce exactly what a
 * one-shot decode of the same bytes produces. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "http_parse.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

/* Decodes in arrivals of at most step bytes, as a connection would: unconsumed
 * bytes stay at the front of the input buffer. Returns 1 done, 0 needs more,
 * -1 error; the payload goes to out. */
static int decode(const unsigned char *in, size_t len, size_t step, char *out, size_t *out_len)
{
	http_chunked c;
	memset(&c, 0, sizeof c);
	char *pending = malloc(len ? len : 1);
	size_t have = 0, fed = 0;
	*out_len = 0;
	int result = 0;
	while (!c.done) {
		size_t add = len - fed < step ? len - fed : step;
		memcpy(pending + have, in + fed, add);
		have += add;
		fed += add;
		/* An exact-size buffer per call: reads past it are ASan reports. */
		char *b = malloc(have ? have : 1);
		memcpy(b, pending, have);
		size_t consumed = 0;
		ssize_t n = http_chunked_decode(&c, b, have, &consumed);
		if (n < 0) {
			free(b);
			result = -1;
			break;
		}
		assert(consumed <= have && (size_t)n <= consumed);
		memcpy(out + *out_len, b, (size_t)n);
		*out_len += (size_t)n;
		memmove(pending, pending + consumed, have - consumed);
		have -= consumed;
		free(b);
		if (c.done) {
			result = 1;
			break;
		}
		if (fed == len && consumed == 0)
			break;      /* no progress and no more input */
	}
	free(pending);
	return result;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	if (len < 1)
		return 0;
	size_t step = (size_t)(data[0] % 16) + 1;
	data++, len--;
	char *whole = malloc(len + 1), *split = malloc(len + 1);
	size_t whole_len, split_len;
	int a = decode(data, len, len ? len : 1, whole, &whole_len);
	int b = decode(data, len, step, split, &split_len);
	assert(whole_len <= len && split_len <= len);
	if (a == 1 && b == 1)
		assert(whole_len == split_len && memcmp(whole, split, whole_len) == 0);
	if (a == 1)
		assert(b == 1);   /* a complete body is complete however it arrives */
	free(whole);
	free(split);
	return 0;
}
