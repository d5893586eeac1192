/* libFuzzer harness: the repository index parser, then version selection
 * over what it accepted. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "repo.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	char *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	repo_index idx;
	memset(&idx, 0, sizeof idx);
	char err[256];
	err[0] = 0;
	const char *base = (len & 1) ? "https://repo.example/packages/index" : "/srv/repo/index";
	if (repo_parse_index(copy, len, base, &idx, err, sizeof err) == 0) {
		for (size_t i = 0; i < idx.n; i++) {
			const repo_entry *e = &idx.entries[i];
			assert(repo_name_ok(e->language) && repo_name_ok(e->version));
			assert(strlen(e->sha256) == 64 && e->url && e->url[0]);
			const repo_entry *best = repo_find(&idx, e->language, "*");
			if (!e->ver.pre[0])   /* prereleases match only ranges naming them */
				assert(best && semver_cmp(&best->ver, &e->ver) >= 0);
			(void)repo_find(&idx, e->language, e->version);
		}
		repo_index_free(&idx);
	} else {
		assert(err[0] && memchr(err, 0, sizeof err));
	}
	free(copy);
	return 0;
}
