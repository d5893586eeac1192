/*
 * tokmap: an index from Judge0 tokens (36 characters) to pointers, so that
 * finding a submission costs the same with 10 or 100,000 in the store.
 *
 * Open addressing with linear probing and backward-shift deletion: no
 * tombstones, expected O(1) per call, at most half full. Keys are not
 * copied: an entry's key is the 36 bytes at the pointer given to
 * tokmap_put, which must stay valid and unchanged until tokmap_del.
 * Only the engine's own random tokens are inserted; a client's string is
 * only looked up, so no client can build long probe chains.
 */
#ifndef PISTON_TOKMAP_H
#define PISTON_TOKMAP_H

#include <stddef.h>

#define TOKMAP_KEY_LEN 36

typedef struct tokmap_entry {
	const char *key;   /* NULL: empty */
	void *value;
} tokmap_entry;

typedef struct tokmap {
	tokmap_entry *e;
	size_t cap;        /* a power of two, or 0 */
	size_t n;
} tokmap;

#define TOKMAP_INIT {NULL, 0, 0}

/* Adds key -> value, or replaces the value of key. -1 (ENOMEM): unchanged. */
int tokmap_put(tokmap *m, const char *key, void *value);

/* The value of key (len bytes: anything but TOKMAP_KEY_LEN finds nothing), or NULL. */
void *tokmap_get(const tokmap *m, const char *key, size_t len);

/* Removes key, if there. */
void tokmap_del(tokmap *m, const char *key);

void tokmap_free(tokmap *m);

#endif
