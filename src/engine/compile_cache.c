/*
 * compile_cache: an LRU list of compiled boxes (compile_cache.h). Linear
 * lookup: at most CCACHE_MAX_ENTRIES keys of 32 bytes.
 */
#include "compile_cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"

struct ccache_entry {
	ccache_entry *prev, *next;   /* LRU: head most recent */
	uint8_t key[32];
	sbx_box *box;
	sbx_result res;
	char *pkg_dir;
	uint64_t identity[6];
	uint64_t bytes;
	unsigned refs;               /* users, plus one while in the index */
	bool indexed;
};

struct compile_cache {
	ccache_entry *head, *tail;
	uint64_t max_bytes;
	ccache_stats st;
};

compile_cache *ccache_new(uint64_t max_bytes)
{
	compile_cache *c = calloc(1, sizeof *c);
	if (c)
		c->max_bytes = max_bytes;
	return c;
}

static void entry_free(ccache_entry *e)
{
	sbx_box_destroy(e->box);
	sbx_result_free(&e->res);
	free(e->pkg_dir);
	free(e);
}

static void unlink_entry(compile_cache *c, ccache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
	e->indexed = false;
	c->st.bytes -= e->bytes;
	c->st.entries--;
	if (--e->refs == 0)
		entry_free(e);
}

static void push_front(compile_cache *c, ccache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	else
		c->tail = e;
	c->head = e;
}

void ccache_free(compile_cache *c)
{
	if (!c)
		return;
	while (c->head)
		unlink_entry(c, c->head);
	free(c);
}

int ccache_pkg_identity(const char *pkg_dir, uint64_t out[6])
{
	struct stat a, b;
	char marker[4200];
	size_t n = strlen(pkg_dir);
	if (n + sizeof "/.ppman-installed" > sizeof marker)
		return -1;
	memcpy(marker, pkg_dir, n);
	memcpy(marker + n, "/.ppman-installed", sizeof "/.ppman-installed");
	if (stat(pkg_dir, &a) < 0 || stat(marker, &b) < 0)
		return -1;
	out[0] = a.st_dev;
	out[1] = a.st_ino;
	out[2] = (uint64_t)a.st_ctim.tv_sec * 1000000000u + (uint64_t)a.st_ctim.tv_nsec;
	out[3] = b.st_dev;
	out[4] = b.st_ino;
	out[5] = (uint64_t)b.st_mtim.tv_sec * 1000000000u + (uint64_t)b.st_mtim.tv_nsec;
	return 0;
}

ccache_entry *ccache_get(compile_cache *c, const uint8_t key[32])
{
	for (ccache_entry *e = c->head; e; e = e->next) {
		if (memcmp(e->key, key, 32))
			continue;
		if (e != c->head) {
			if (e->prev)
				e->prev->next = e->next;
			if (e->next)
				e->next->prev = e->prev;
			else
				c->tail = e->prev;
			push_front(c, e);
		}
		c->st.hits++;
		e->refs++;
		return e;
	}
	c->st.misses++;
	return NULL;
}

int ccache_result_copy(sbx_result *dst, const sbx_result *src)
{
	*dst = *src;
	dst->out = dst->err = dst->output = (buf)BUF_INIT;
	buf_append(&dst->out, src->out.data, src->out.len);
	buf_append(&dst->err, src->err.data, src->err.len);
	buf_append(&dst->output, src->output.data, src->output.len);
	if (buf_failed(&dst->out) || buf_failed(&dst->err) || buf_failed(&dst->output)) {
		sbx_result_free(dst);
		return -1;
	}
	return 0;
}

ccache_entry *ccache_put(compile_cache *c, const uint8_t key[32], sbx_box *box, const sbx_result *compile,
                         const char *pkg_dir, const uint64_t identity[6])
{
	sbx_box_usage u;
	ccache_entry *e = calloc(1, sizeof *e);
	if (!e || sbx_box_usage_get(box, &u) < 0 || ccache_result_copy(&e->res, compile) < 0 ||
	    !(e->pkg_dir = strdup(pkg_dir))) {
		if (e) {
			sbx_result_free(&e->res);
			free(e);
		}
		sbx_box_destroy(box);
		return NULL;
	}
	memcpy(e->key, key, 32);
	memcpy(e->identity, identity, sizeof e->identity);
	e->box = box;
	e->bytes = u.bytes < 4096 ? 4096 : u.bytes;
	e->refs = 1;   /* the caller's */
	if (e->bytes > c->max_bytes)
		return e;   /* too big to keep: the caller's alone, freed at its release */
	/* An older entry under the same key (two identical compiles at once). */
	for (ccache_entry *o = c->head; o; o = o->next)
		if (!memcmp(o->key, key, 32)) {
			unlink_entry(c, o);
			break;
		}
	while (c->tail && (c->st.bytes + e->bytes > c->max_bytes || c->st.entries >= CCACHE_MAX_ENTRIES)) {
		c->st.evictions++;
		unlink_entry(c, c->tail);
	}
	e->refs++;
	e->indexed = true;
	push_front(c, e);
	c->st.bytes += e->bytes;
	c->st.entries++;
	return e;
}

void ccache_release(compile_cache *c, ccache_entry *e)
{
	(void)c;
	if (e && --e->refs == 0)
		entry_free(e);
}

sbx_box *ccache_box(const ccache_entry *e) { return e->box; }
const sbx_result *ccache_result(const ccache_entry *e) { return &e->res; }

void ccache_drop_changed(compile_cache *c)
{
	for (ccache_entry *e = c->head, *next; e; e = next) {
		next = e->next;
		uint64_t id[6];
		if (ccache_pkg_identity(e->pkg_dir, id) < 0 || memcmp(id, e->identity, sizeof id))
			unlink_entry(c, e);
	}
}

void ccache_stats_get(const compile_cache *c, ccache_stats *s)
{
	if (c)
		*s = c->st;
	else
		memset(s, 0, sizeof *s);
}
