/* libFuzzer harness: json_parse, then jw_value writes the tree back; the
 * written text must parse again and write back to the very same bytes. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	size_t checked = 0;
	utf8_status st = json_utf8_check(copy, len, &checked);
	assert(checked <= len && (st != UTF8_VALID || checked == len));
	json_error err;
	json_doc *doc = json_parse(copy, len, &err);
	if (!doc) {
		assert(err.offset <= len && memchr(err.message, 0, sizeof err.message));
		free(copy);
		return 0;
	}
	const json_value *root = json_root(doc);
	(void)json_get(root, "language");
	(void)json_at(root, 0);
	buf out1 = BUF_INIT, out2 = BUF_INIT;
	jw w;
	jw_init(&w, &out1);
	jw_value(&w, root);
	assert(!buf_failed(&out1));
	json_doc *doc2 = json_parse(out1.data, out1.len, &err);
	assert(doc2);
	jw_init(&w, &out2);
	jw_value(&w, json_root(doc2));
	assert(out1.len == out2.len && memcmp(out1.data, out2.data, out1.len) == 0);
	json_free(doc2);
	json_free(doc);
	buf_free(&out1);
	buf_free(&out2);
	free(copy);
	return 0;
}
