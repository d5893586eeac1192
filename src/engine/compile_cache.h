/*
 * compile_cache: compiled boxes kept for identical requests (SPEC section 1,
 * "Test cases, output files, compile cache"; PISTON_COMPILE_CACHE_SIZE).
 *
 * Promises:
 * - An entry is a successful compile's box (its detached tmpfs, never read
 *   by the engine) and its compile STAGE, under a 32-byte key the caller
 *   derives (ccache_key: the runtime's installed identity, the files'
 *   names, contents and encodings, the compile limits).
 * - Bounded: the entries' bytes (statfs of their tmpfs, at least a page
 *   each) stay within max_bytes and at most CCACHE_MAX_ENTRIES; least
 *   recently used out first. An entry in use (ccache_get/put's reference)
 *   leaves the index at once when evicted or dropped, and its box is
 *   destroyed when the last user releases it: a cached box never changes
 *   and is never pulled from under a running stage.
 * - ccache_drop_changed forgets every entry whose package directory is
 *   gone or was reinstalled since (its identity differs).
 * - Lost on restart (it is a cache); never shared between engines.
 */
#ifndef PISTON_COMPILE_CACHE_H
#define PISTON_COMPILE_CACHE_H

#include <stdint.h>

#include "sandbox.h"

#define CCACHE_MAX_ENTRIES 1024

typedef struct compile_cache compile_cache;
typedef struct ccache_entry ccache_entry;

typedef struct ccache_stats {
	uint64_t hits, misses, bytes, entries, evictions;
} ccache_stats;

compile_cache *ccache_new(uint64_t max_bytes);
void ccache_free(compile_cache *c);   /* entries still in use are freed at their release */
/* The package's installed identity (device, inode, change time of its
 * directory and of its .ppman-installed marker): 0, or -1 if not there. */
int ccache_pkg_identity(const char *pkg_dir, uint64_t out[6]);
/* A hit: a new reference (ccache_release it), counted as a hit; NULL: a miss. */
ccache_entry *ccache_get(compile_cache *c, const uint8_t key[32]);
/* Keep box (ownership passes to the cache) and a copy of the compile's
 * result; returns the entry with a reference for the caller, or NULL (the
 * box then destroyed) when it cannot be kept. */
ccache_entry *ccache_put(compile_cache *c, const uint8_t key[32], sbx_box *box, const sbx_result *compile,
                         const char *pkg_dir, const uint64_t identity[6]);
void ccache_release(compile_cache *c, ccache_entry *e);
sbx_box *ccache_box(const ccache_entry *e);
const sbx_result *ccache_result(const ccache_entry *e);
void ccache_drop_changed(compile_cache *c);
void ccache_stats_get(const compile_cache *c, ccache_stats *s);
/* A deep copy of a stage's result (its buffers too); 0 or -1. */
int ccache_result_copy(sbx_result *dst, const sbx_result *src);

#endif
