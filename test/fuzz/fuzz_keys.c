/* libFuzzer harness: the proxy's keys file parser, key lookup, the
 * Authorization header reader and rate parsing. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "keys.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	char err[256];
	err[0] = 0;
	keys_set *ks = keys_parse(copy, len, err, sizeof err);
	if (ks) {
		size_t n = keys_count(ks);
		(void)keys_lookup(ks, copy, len);
		keys_set *again = keys_parse(copy, len, err, sizeof err);
		assert(again && keys_count(again) == n);
		keys_inherit_buckets(again, ks);
		keys_free(again);
		keys_free(ks);
	} else {
		assert(err[0] && memchr(err, 0, sizeof err));
	}
	const char *key;
	size_t key_len;
	if (keys_from_authorization(copy, len, &key, &key_len))
		assert(key_len > 0 && key >= copy && key + key_len <= copy + len);
	char *z = malloc(len + 1);
	memcpy(z, data, len);
	z[len] = 0;
	uint32_t rate;
	if (keys_parse_rate(z, &rate) == 0)
		assert(rate >= 1 && rate <= KEYS_RATE_MAX);
	free(z);
	free(copy);
	return 0;
}
