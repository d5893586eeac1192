/* libFuzzer harness: http_parse_response (the clients and the proxy read
 * upstream response heads with it) and the response body framing. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "http_parse.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	if (len == 0)   /* an empty buf has no data pointer (proxy, engine gone) */
		assert(http_parse_response(NULL, 0, 4096, &(http_response_head){0}) == HTTP_PARSE_INCOMPLETE);
	char *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	http_response_head res;
	memset(&res, 0, sizeof res);
	ssize_t r = http_parse_response(copy, len, 4096, &res);
	assert(r == HTTP_PARSE_INCOMPLETE || r == HTTP_PARSE_ERROR || r == HTTP_PARSE_TOO_LARGE ||
	       (r > 0 && (size_t)r <= len && r <= 4096));
	if (r > 0) {
		assert(res.status >= 100 && res.status <= 999);
		assert(res.nheaders <= HTTP_MAX_HEADERS);
		if (res.reason_len)
			assert(res.reason >= copy && res.reason + res.reason_len <= copy + r);
		for (size_t i = 0; i < res.nheaders; i++) {
			const http_header *h = &res.headers[i];
			assert(h->name >= copy && h->name + h->name_len <= copy + r);
			if (h->value_len)
				assert(h->value >= copy && h->value + h->value_len <= copy + r);
			(void)http_header_has_token(h->value, h->value_len, "chunked");
		}
		http_body_kind kind;
		uint64_t length = 0;
		(void)http_body_framing(res.headers, res.nheaders, true, res.status, false, &kind, &length);
		(void)http_body_framing(res.headers, res.nheaders, true, res.status, true, &kind, &length);
		http_response_head again;
		assert(http_parse_response(copy, (size_t)r - 1, 4096, &again) < 0);
	}
	free(copy);
	return 0;
}
