/* libFuzzer harness: RESP2 reply parsing (what a hostile or broken Redis
 * sends the proxy) and the redis:// URL parser. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "redis.h"
#include "resp.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	char *copy = malloc(len ? len : 1);   /* exact size: ASan sees any overread */
	memcpy(copy, data, len);
	size_t at = 0;
	while (at < len) {   /* a pipelined stream, reply by reply */
		resp_reply r;
		ssize_t n = resp_parse(copy + at, len - at, &r);
		if (n <= 0)
			break;
		assert((size_t)n <= len - at);
		if (r.type == RESP_ARRAY) {
			assert(r.n <= RESP_ARRAY_MAX);
			for (size_t i = 0; i < r.n; i++) {
				assert(r.elem[i].type != RESP_ARRAY);
				if (r.elem[i].type == RESP_BULK || r.elem[i].type == RESP_STATUS || r.elem[i].type == RESP_ERROR)
					assert(r.elem[i].str >= copy + at && r.elem[i].str + r.elem[i].len <= copy + at + (size_t)n);
			}
		} else if (r.type == RESP_BULK) {
			assert(r.v.len <= RESP_BULK_MAX && r.v.str + r.v.len <= copy + at + (size_t)n);
		}
		at += (size_t)n;
	}
	char *z = malloc(len + 1);
	memcpy(z, data, len);
	z[len] = 0;
	redis_url u;
	char err[256];
	err[0] = 0;
	if (redis_url_parse(z, &u, err, sizeof err) == 0)
		assert(u.host[0] && u.port[0] && memchr(u.password, 0, sizeof u.password));
	else
		assert(err[0]);
	free(z);
	free(copy);
	return 0;
}
