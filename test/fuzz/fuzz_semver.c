/* libFuzzer harness: semver_parse, semver_cmp and the selector grammar.
 * Input: VERSION '\n' SELECTOR (either may be empty or absent). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "semver.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	const unsigned char *nl = memchr(data, '\n', len);
	size_t vlen = nl ? (size_t)(nl - data) : len;
	size_t slen = nl ? len - vlen - 1 : 0;
	char *ver = malloc(vlen + 1), *sel = malloc(slen + 1);
	memcpy(ver, data, vlen);
	ver[vlen] = 0;
	if (slen)
		memcpy(sel, nl + 1, slen);
	sel[slen] = 0;
	semver v, w;
	if (semver_parse(ver, &v) == 0) {
		assert(memchr(v.pre, 0, sizeof v.pre));
		assert(semver_cmp(&v, &v) == 0);
		bool valid = semver_selector_valid(sel);
		bool sat = semver_satisfies(&v, sel);
		assert(valid || !sat);   /* an invalid selector matches nothing */
		if (semver_parse(sel, &w) == 0)
			assert(semver_cmp(&v, &w) == -semver_cmp(&w, &v));
	} else {
		(void)semver_selector_valid(sel);
	}
	free(ver);
	free(sel);
	return 0;
}
