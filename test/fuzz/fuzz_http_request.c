/* libFuzzer harness: http_parse_request on untrusted request heads, then the
 * body framing decision the server takes from the parsed headers. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "http_parse.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

static void check_inside(const char *p, size_t n, const char *base, size_t len)
{
	if (n == 0)
		return;
	assert(p >= base && (size_t)(p - base) + n <= len);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	/* An exact-size copy, so a read one past the end is an ASan report. */
	char *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	http_request req;
	memset(&req, 0, sizeof req);
	ssize_t r = http_parse_request(copy, len, 4096, &req);
	assert(r == HTTP_PARSE_INCOMPLETE || r == HTTP_PARSE_ERROR || r == HTTP_PARSE_TOO_LARGE ||
	       (r > 0 && (size_t)r <= len));
	if (r > 0) {
		assert(r <= 4096);
		check_inside(req.method, req.method_len, copy, (size_t)r);
		check_inside(req.path, req.path_len, copy, (size_t)r);
		if (req.query)
			check_inside(req.query, req.query_len, copy, (size_t)r);
		assert(req.nheaders <= HTTP_MAX_HEADERS);
		for (size_t i = 0; i < req.nheaders; i++) {
			check_inside(req.headers[i].name, req.headers[i].name_len, copy, (size_t)r);
			check_inside(req.headers[i].value, req.headers[i].value_len, copy, (size_t)r);
		}
		http_body_kind kind;
		uint64_t length = 0;
		(void)http_body_framing(req.headers, req.nheaders, false, 0, false, &kind, &length);
		(void)http_find_header(req.headers, req.nheaders, "connection");
		/* The same head parsed on its own gives the same answer. */
		http_request again;
		assert(http_parse_request(copy, (size_t)r, 4096, &again) == r);
		/* One byte short of the head is never complete. */
		assert(http_parse_request(copy, (size_t)r - 1, 4096, &again) < 0);
	}
	free(copy);
	return 0;
}
