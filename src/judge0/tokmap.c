#include "tokmap.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a over the 36 bytes: tokens are random, any spread will do. */
static size_t hash(const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < TOKMAP_KEY_LEN; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ull;
	}
	return (size_t)(h ^ (h >> 32));
}

static size_t find(const tokmap *m, const char *key)
{
	size_t mask = m->cap - 1, i = hash(key) & mask;
	while (m->e[i].key && memcmp(m->e[i].key, key, TOKMAP_KEY_LEN))
		i = (i + 1) & mask;
	return i;
}

static int grow(tokmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	tokmap_entry *old = m->e, *e = calloc(cap, sizeof *e);
	if (!e) {
		errno = ENOMEM;
		return -1;
	}
	size_t oldcap = m->cap;
	m->e = e;
	m->cap = cap;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].key)
			m->e[find(m, old[i].key)] = old[i];
	free(old);
	return 0;
}

int tokmap_put(tokmap *m, const char *key, void *value)
{
	if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
		return -1;
	size_t i = find(m, key);
	if (!m->e[i].key)
		m->n++;
	m->e[i] = (tokmap_entry){key, value};
	return 0;
}

void *tokmap_get(const tokmap *m, const char *key, size_t len)
{
	if (len != TOKMAP_KEY_LEN || !m->cap)
		return NULL;
	return m->e[find(m, key)].value;
}

void tokmap_del(tokmap *m, const char *key)
{
	if (!m->cap)
		return;
	size_t mask = m->cap - 1, i = find(m, key);
	if (!m->e[i].key)
		return;
	/* Backward shift: pull each later entry of the run into the hole when
	 * its home slot does not lie between the hole and it (cyclically). */
	for (size_t j = i;;) {
		m->e[i].key = NULL;
		m->e[i].value = NULL;
		for (;;) {
			j = (j + 1) & mask;
			if (!m->e[j].key) {
				m->n--;
				return;
			}
			size_t home = hash(m->e[j].key) & mask;
			if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
				break;
		}
		m->e[i] = m->e[j];
		i = j;
	}
}

void tokmap_free(tokmap *m)
{
	free(m->e);
	*m = (tokmap)TOKMAP_INIT;
}
