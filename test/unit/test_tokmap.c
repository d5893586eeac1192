/* tokmap against a plain array model: random puts, gets and deletes
 * (backward-shift deletion across the table's wrap included). */
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "tokmap.h"

#define KEYS 5000

static char keys[KEYS][TOKMAP_KEY_LEN + 1];
static int present[KEYS];

static void make_key(char *k, unsigned seed)
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < TOKMAP_KEY_LEN; i++)
		k[i] = (i == 8 || i == 13 || i == 18 || i == 23) ? '-' : hex[(seed = seed * 1103515245u + 12345u) >> 28];
	k[TOKMAP_KEY_LEN] = 0;
}

int main(void)
{
	tokmap m = TOKMAP_INIT;
	CHECK(tokmap_get(&m, "x", 1) == NULL);
	CHECK(tokmap_get(&m, "00000000-0000-0000-0000-000000000000", 36) == NULL);
	tokmap_del(&m, "00000000-0000-0000-0000-000000000000");   /* empty map: nothing */
	for (unsigned i = 0; i < KEYS; i++)
		make_key(keys[i], i * 2654435761u + 7);
	srand(1);
	size_t n = 0;
	int wrong = 0;
	for (int round = 0; round < 200000; round++) {
		int k = rand() % KEYS, op = rand() % 3;
		if (op == 0) {
			if (tokmap_put(&m, keys[k], &present[k]) < 0)
				wrong++;
			n += !present[k];
			present[k] = 1;
		} else if (op == 1) {
			tokmap_del(&m, keys[k]);
			n -= present[k];
			present[k] = 0;
		} else {
			char copy[TOKMAP_KEY_LEN];
			memcpy(copy, keys[k], sizeof copy);   /* found by content, not by pointer */
			void *v = tokmap_get(&m, copy, sizeof copy);
			wrong += present[k] ? v != &present[k] : v != NULL;
		}
		if (m.n != n)
			wrong++;
	}
	CHECKF(wrong == 0, "%d mismatches against the model", wrong);
	CHECKF(m.n * 2 <= m.cap, "at most half full: %zu of %zu", m.n, m.cap);
	for (int k = 0; k < KEYS; k++) {
		void *v = tokmap_get(&m, keys[k], TOKMAP_KEY_LEN);
		wrong += present[k] ? v != &present[k] : v != NULL;
	}
	CHECKF(wrong == 0, "final sweep: %d mismatches", wrong);
	CHECK(tokmap_get(&m, keys[0], TOKMAP_KEY_LEN - 1) == NULL);   /* a short key finds nothing */
	for (int k = 0; k < KEYS; k++)
		tokmap_del(&m, keys[k]);
	CHECKF(m.n == 0, "all deleted: %zu left", m.n);
	tokmap_free(&m);
	CHECK(m.cap == 0 && m.e == NULL);
	return t_done();
}
