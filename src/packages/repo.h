/*
 * repo: package repositories (SPEC section 3): the index
 * (`language,version,sha256,url` lines) and streaming reads of the files it
 * names, over https://, http://, file:// or a plain path.
 *
 * Promises:
 * - The index is bounded (REPO_INDEX_MAX bytes, REPO_LINE_MAX per line,
 *   REPO_ENTRIES_MAX lines); blank lines and "\r" are ignored; a malformed
 *   line is an error naming its line number.
 * - A relative url is resolved against the index's own location; a
 *   repository given as a directory (path or file:// URL) means DIR/index.
 * - Package names and versions are checked to be safe as directory names.
 * - repo_stream never holds a whole file in memory.
 */
#ifndef PISTON_REPO_H
#define PISTON_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "semver.h"

#define REPO_INDEX_MAX (16u << 20)
#define REPO_LINE_MAX 8192
#define REPO_ENTRIES_MAX 100000

typedef struct repo_entry {
	char *language;
	char *version;
	semver ver;
	char sha256[65];    /* lowercase hex */
	char *url;          /* absolute: http(s)://, or a local path */
} repo_entry;

typedef struct repo_index {
	repo_entry *entries;
	size_t n;
} repo_index;

/* Parse index text; index_location is the resolved index URL or path that
 * relative urls are relative to. 0, or -1 with err. */
int repo_parse_index(const char *text, size_t len, const char *index_location,
                     repo_index *out, char *err, size_t errlen);
/* The answer when no repository is configured (PISTON_REPO_URL is empty,
 * its default): how to build one or point at one. There is no default
 * repository because none can work for every site: upstream Piston's index
 * holds packages in upstream's format, which cannot run here. */
#define REPO_NONE_MESSAGE \
	"no package repository is configured: build one from this project's recipes with tools/mkrepo " \
	"(it writes build/repo/index; `make run` does this) and set PISTON_REPO_URL (ppman --data: --repo) " \
	"to that index, or to a copy of it served over https://, http:// or file:// (upstream Piston's " \
	"index cannot be used: its packages need upstream's Docker image)"
/* Fetch and parse the index at repo_url (https/http/file URL or path);
 * NULL or "" fails with REPO_NONE_MESSAGE. */
int repo_fetch_index(const char *repo_url, const char *ca_file, repo_index *out, char *err, size_t errlen);
void repo_index_free(repo_index *idx);
/* Highest version of language matching selector, or NULL. */
const repo_entry *repo_find(const repo_index *idx, const char *language, const char *selector);

/* Where the index is: a directory path/file URL becomes .../index; a
 * file:// URL becomes a plain path. Returns a malloc'd string. */
char *repo_index_location(const char *repo_url);
/* ref resolved against base (an absolute URL or path); malloc'd, NULL if
 * ref cannot be resolved. */
char *repo_resolve(const char *base, const char *ref);

/* True for names safe as one directory component: [A-Za-z0-9._+-],
 * not starting with '.', at most 64 bytes. */
bool repo_name_ok(const char *s);

typedef int (*repo_sink)(void *ctx, const void *data, size_t len);
/* Stream the file at location (http(s) URL or local path) to sink.
 * on_size (may be NULL) gets the total size when known (else UINT64_MAX).
 * 0, or -1 with err ("HTTP 404 fetching URL", "cannot open PATH: ..."). */
int repo_stream(const char *location, const char *ca_file, repo_sink sink,
                void (*on_size)(void *ctx, uint64_t size), void *ctx, char *err, size_t errlen);

#endif
