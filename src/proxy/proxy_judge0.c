/*
 * proxy_judge0: the Judge0 CE 1.13 paths through `piston proxy` (promises
 * in proxy_int.h, above proxy_j0_register). Keys and buckets are
 * proxy_admit_n's; engine calls are upstream.c's, all on the loop.
 */
#include "proxy.h"
#include "proxy_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "judge0.h"
#include "log.h"
#include "upstream.h"

#define PJ0_MAP_SLOTS 65536u        /* token -> engine memory: 1.5 MiB, direct-mapped */
#define PJ0_MAX_BATCH 20            /* the engine's J0_MAX_BATCH (judge0.h) */
#define PJ0_MAX_RUNS 20             /* Judge0's max_number_of_runs */
#define PJ0_FANOUT_MS 5000          /* a token search or a list asks the engines this long at most */
#define PJ0_LIST_DEPTH 1000         /* GET /submissions: page * per_page at most (each engine is asked
                                       for its newest page * per_page) */

typedef struct j0_slot {
	uint8_t uuid[16];
	uint32_t url_hash;              /* the engine's URL: a reused slot of ups[] is not it */
	uint16_t engine;                /* index into proxy.ups */
	uint8_t used;
} j0_slot;

enum { R_SUBMIT, R_BATCH_SUBMIT, R_GET, R_BATCH_GET, R_DELETE, R_LIST, R_INFO, R_AUTH, R_COUNT };
static const char *const route_names[R_COUNT] = {"submit", "batch_submit", "get", "batch_get", "delete",
                                                  "list", "info", "authenticate"};

struct proxy_j0 {
	j0_slot *map;                   /* allocated at the first token */
	uint64_t requests[R_COUNT];
	uint64_t remembered, map_hits, map_misses, searches_found, searches_missed;
};

/* ================================================================ tokens */

static int hexdigit(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

bool proxy_j0_uuid(const char *s, size_t n, uint8_t out[16])
{
	if (n != 36)
		return false;
	size_t k = 0;
	for (size_t i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return false;
			continue;
		}
		int hi = hexdigit(s[i]), lo = hexdigit(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[k++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return true;
}

static uint32_t fnv1a(const void *data, size_t n)
{
	const uint8_t *b = data;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

static void map_put(proxy *p, const uint8_t uuid[16], const engine_up *e)
{
	proxy_j0 *j = p->j0;
	if (!j->map && !(j->map = calloc(PJ0_MAP_SLOTS, sizeof *j->map)))
		return;   /* no memory: tokens are found by search instead */
	j0_slot *s = &j->map[fnv1a(uuid, 16) & (PJ0_MAP_SLOTS - 1)];
	memcpy(s->uuid, uuid, 16);
	s->url_hash = fnv1a(e->u.url, strlen(e->u.url));
	s->engine = (uint16_t)(e - p->ups);
	s->used = 1;
	j->remembered++;
}

/* The healthy engine remembered for uuid, or NULL. */
static engine_up *map_get(proxy *p, const uint8_t uuid[16])
{
	proxy_j0 *j = p->j0;
	const j0_slot *s = j->map ? &j->map[fnv1a(uuid, 16) & (PJ0_MAP_SLOTS - 1)] : NULL;
	if (!s || !s->used || memcmp(s->uuid, uuid, 16) || s->engine >= p->nups)
		return NULL;
	engine_up *e = &p->ups[s->engine];
	if (e->vacant || e->removed || !e->u.healthy || s->url_hash != fnv1a(e->u.url, strlen(e->u.url)))
		return NULL;
	return e;
}

/* Remember the token of {"token": ...} on e. */
static void remember_one(proxy *p, const json_value *o, const engine_up *e)
{
	const json_value *t = json_get(o, "token");
	uint8_t u[16];
	if (json_is(t, JSON_STRING) && proxy_j0_uuid(t->u.string, t->len, u))
		map_put(p, u, e);
}

/* An engine's 2xx answer to POST /submissions (an object) or
 * /submissions/batch (an array of objects). */
static void remember_answer(proxy *p, const char *body, size_t len, const engine_up *e)
{
	json_error err;
	json_doc *doc = json_parse(body, len, &err);
	const json_value *root = doc ? json_root(doc) : NULL;
	if (json_is(root, JSON_OBJECT))
		remember_one(p, root, e);
	for (uint32_t i = 0; json_is(root, JSON_ARRAY) && i < root->len; i++)
		remember_one(p, &root->u.children[i], e);
	json_free(doc);
}

/* ================================================================ limits and cost */

/* A limit field's value (a number, or a number in a string as Judge0
 * accepts), or NAN. */
static double field_number(const json_value *v)
{
	if (json_is(v, JSON_NUMBER))
		return v->u.number;
	if (json_is(v, JSON_STRING) && v->len && v->len < 64) {
		char tmp[64], *end;
		memcpy(tmp, v->u.string, v->len);
		tmp[v->len] = 0;
		double d = strtod(tmp, &end);
		if (*end == 0 && isfinite(d))
			return d;
	}
	return NAN;
}

/* The proxy's maximum for a Judge0 limit field (seconds or KB), or -1. */
static double j0_max(const proxy_limits *lim, const json_value *m)
{
	if (m->key_len == 14 && !memcmp(m->key, "cpu_time_limit", 14))
		return lim->run_cpu_time ? lim->run_cpu_time / 1000.0 : -1;
	if (m->key_len == 15 && !memcmp(m->key, "wall_time_limit", 15))
		return lim->run_timeout ? lim->run_timeout / 1000.0 : -1;
	if (m->key_len == 12 && !memcmp(m->key, "memory_limit", 12))
		return lim->run_memory_limit >= 0 ? floor(lim->run_memory_limit / 1024.0) : -1;
	return -1;
}

static bool sub_over(const json_value *o, const proxy_limits *lim)
{
	for (uint32_t i = 0; json_is(o, JSON_OBJECT) && i < o->len; i++) {
		double max = j0_max(lim, &o->u.children[i]), v = field_number(&o->u.children[i]);
		if (max >= 0 && v > max)
			return true;
	}
	return false;
}

static void write_sub(jw *w, const json_value *o, const proxy_limits *lim)
{
	jw_object_begin(w);
	for (uint32_t i = 0; i < o->len; i++) {
		const json_value *m = &o->u.children[i];
		jw_key_n(w, m->key, m->key_len);
		double max = j0_max(lim, m), v = field_number(m);
		if (max >= 0 && v > max)
			jw_double(w, max);
		else
			jw_value(w, m);
	}
	jw_object_end(w);
}

static void note_language(proxy_j0_info *info, const json_value *o)
{
	const json_value *id = json_get(o, "language_id");
	if (json_is(id, JSON_NUMBER) && id->u.number == floor(id->u.number) && fabs(id->u.number) < 1e9 &&
	    info->nlanguages < sizeof info->language_ids / sizeof info->language_ids[0])
		info->language_ids[info->nlanguages++] = (long)id->u.number;
}

static uint32_t runs_of(const json_value *o)
{
	double n = field_number(json_get(o, "number_of_runs"));
	return n >= 1 && n <= PJ0_MAX_RUNS && n == floor(n) ? (uint32_t)n : 1;
}

int proxy_j0_clamp(const char *body, size_t len, const proxy_limits *lim, bool batch, buf *out,
                   proxy_j0_info *info)
{
	memset(info, 0, sizeof *info);
	uint32_t *cost = &info->cost;
	*cost = 1;
	json_error err;
	json_doc *doc = json_parse(body, len, &err);
	const json_value *root = doc ? json_root(doc) : NULL;
	if (!json_is(root, JSON_OBJECT)) {   /* the engine answers that */
		json_free(doc);
		return 0;
	}
	const json_value *subs = batch ? json_get(root, "submissions") : NULL;
	bool need = false;
	if (!batch) {
		*cost = runs_of(root);
		note_language(info, root);
		need = sub_over(root, lim);
	} else if (json_is(subs, JSON_ARRAY) && subs->len >= 1 && subs->len <= PJ0_MAX_BATCH) {
		/* (a batch of more is refused whole by the engine: it costs one) */
		*cost = 0;
		for (uint32_t i = 0; i < subs->len; i++) {
			*cost += json_is(&subs->u.children[i], JSON_OBJECT) ? runs_of(&subs->u.children[i]) : 1;
			note_language(info, &subs->u.children[i]);
			need = need || sub_over(&subs->u.children[i], lim);
		}
	}
	if (!need) {
		json_free(doc);
		return 0;
	}
	jw w;
	jw_init(&w, out);
	if (!batch) {
		write_sub(&w, root, lim);
	} else {
		jw_object_begin(&w);
		for (uint32_t i = 0; i < root->len; i++) {
			const json_value *m = &root->u.children[i];
			jw_key_n(&w, m->key, m->key_len);
			if (m == subs) {
				jw_array_begin(&w);
				for (uint32_t k = 0; k < subs->len; k++) {
					const json_value *s = &subs->u.children[k];
					if (json_is(s, JSON_OBJECT))
						write_sub(&w, s, lim);
					else
						jw_value(&w, s);
				}
				jw_array_end(&w);
			} else {
				jw_value(&w, m);
			}
		}
		jw_object_end(&w);
	}
	json_free(doc);
	return buf_failed(out) ? -1 : 1;
}

/* ================================================================ requests */

typedef enum { K_ANY, K_TOKEN, K_SEARCH, K_BATCH_GET, K_LIST } j0_kind;

typedef struct j0_req j0_req;

typedef struct j0_part {
	j0_req *r;
	engine_up *e;
	up_call *call;
	bool done;
	up_result res;
	int status;
	buf body;
	char ctype[128];
	uint8_t idx[PJ0_MAX_BATCH];     /* batch GET: the client's token positions asked here */
	size_t nidx;
	uint32_t list_page;             /* list: the engine's page asked here (0: none) */
	json_doc *doc;                  /* list: the page, parsed */
} j0_part;

struct j0_req {
	proxy *p;
	http_conn *c;
	admission adm;
	j0_kind kind;
	int route;
	char method[8];
	buf target;                     /* path and query for the engine */
	buf body;
	char xff[320];
	uint64_t tried;                 /* K_ANY: bit per engine index */
	bool remember;                  /* POSTs: remember the answer's tokens */
	proxy_j0_info info;             /* POSTs: the languages, to pick an engine that has them */
	uint8_t uuid[16];
	/* K_BATCH_GET */
	size_t ntok;
	char tok[PJ0_MAX_BATCH][37];
	bool tok_ok[PJ0_MAX_BATCH];     /* a UUID (anything else is null: no engine issued it) */
	engine_up *owner[PJ0_MAX_BATCH];   /* remembered engine, or NULL: every engine is asked */
	buf rest_query;                 /* the query without tokens= */
	/* K_LIST */
	judge0_list_query lq;           /* the client's query, checked */
	size_t down;                    /* engines down when it started: not asked */
	uint32_t list_pages;            /* parts per engine: its pages of list_per entries */
	long long list_per;
	uint64_t list_deadline;         /* loop_now: no call after it */
	/* the engine calls */
	size_t pending;
	size_t nparts, cap;
	j0_part parts[];                /* cap of them */
};

static void req_free(j0_req *r)
{
	for (size_t i = 0; i < r->nparts; i++) {
		if (r->parts[i].call)
			up_call_cancel(r->parts[i].call);
		buf_free(&r->parts[i].body);
		json_free(r->parts[i].doc);
	}
	buf_free(&r->target);
	buf_free(&r->body);
	buf_free(&r->rest_query);
	free(r);
}

static void req_client_gone(void *arg)
{
	req_free(arg);
}

static void req_answer(j0_req *r, int status, const char *ctype, const void *body, size_t len)
{
	http_conn_on_close(r->c, NULL, NULL);
	proxy_respond(r->p, r->c, status, ctype, r->adm.rl, body, len);
	req_free(r);
}

/* Judge0's error shape, as the engine writes it. */
static void req_error(j0_req *r, int status, const char *msg)
{
	buf b = BUF_INIT;
	judge0_error_body(&b, msg);
	req_answer(r, status, "application/json", b.data, b.len);
	buf_free(&b);
}

static void build_request(const j0_req *r, const engine_up *e, const char *target, size_t tlen, buf *out)
{
	buf_printf(out, "%s %.*s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: %s\r\n", r->method, (int)tlen, target,
	           e->u.host_header, r->xff);
	if (strcmp(r->method, "GET")) {
		buf_printf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", r->body.len);
		buf_append(out, r->body.data, r->body.len);
	} else {
		buf_puts(out, "\r\n");
	}
}

static void part_done(void *arg, up_result res, const up_response *ur);

static bool part_start(j0_req *r, j0_part *pt, engine_up *e, const char *target, size_t tlen, uint64_t timeout)
{
	pt->r = r;
	pt->e = e;
	pt->done = false;
	buf req = BUF_INIT;
	build_request(r, e, target, tlen, &req);
	if (buf_failed(&req)) {
		buf_free(&req);
		return false;
	}
	pt->call = up_call_start(&e->u, &req, false, timeout, part_done, pt);
	return pt->call != NULL;
}

/* Does e have every language the submissions name (Judge0 ids as the
 * engine maps them)? An id Judge0 does not have: any engine answers 422. */
static bool has_languages(const engine_up *e, const proxy_j0_info *info)
{
	for (size_t i = 0; info && i < info->nlanguages; i++) {
		const char *lang, *sel;
		if (judge0_language_of(info->language_ids[i], &lang, &sel) && !proxy_engine_has(e, lang, sel))
			return false;
	}
	return true;
}

static engine_up *least_loaded(proxy *p, uint64_t tried, const proxy_j0_info *info)
{
	engine_up *best = NULL;
	size_t start = p->rr++;
	for (size_t k = 0; k < p->nups; k++) {
		engine_up *e = &p->ups[(start + k) % p->nups];
		if (!e->u.healthy || e->vacant || e->removed || (tried >> (size_t)(e - p->ups) & 1))
			continue;
		if (!has_languages(e, info))
			continue;
		if (!best || e->u.in_flight < best->u.in_flight)
			best = e;
	}
	return best;
}

/* Has any engine, up or down, listed all of the languages? */
static bool languages_known(const proxy *p, const proxy_j0_info *info)
{
	for (size_t i = 0; i < p->nups; i++)
		if (!p->ups[i].vacant && p->ups[i].runtimes && has_languages(&p->ups[i], info))
			return true;
	return false;
}

/* K_ANY: the least-loaded healthy engine not tried yet that has the
 * submissions' languages. When no engine ever listed them: any (its 422
 * names the id); when only engines that are down have them: none (503). */
static bool any_send(j0_req *r)
{
	engine_up *e = least_loaded(r->p, r->tried, &r->info);
	if (!e && !languages_known(r->p, &r->info))
		e = least_loaded(r->p, r->tried, NULL);
	if (!e)
		return false;
	r->tried |= 1ull << (size_t)(e - r->p->ups);
	r->nparts = 1;
	return part_start(r, &r->parts[0], e, r->target.data, r->target.len, r->p->o.upstream_timeout_ms);
}

static void answer_part(j0_req *r, const j0_part *pt)
{
	req_answer(r, pt->status, pt->ctype, pt->body.data, pt->body.len);
}

/* K_SEARCH over: the first engine's 2xx won already; else an engine's own
 * refusal (400 bad fields ...), else 404 when every engine answered it, else
 * 503 (the submission may be on an engine that could not answer). */
static void search_over(j0_req *r)
{
	proxy *p = r->p;
	const j0_part *refusal = NULL, *missing = NULL;
	size_t failed = 0;
	for (size_t i = 0; i < r->nparts; i++) {
		const j0_part *pt = &r->parts[i];
		if (pt->res != UP_OK || pt->status >= 500)
			failed++;
		else if (pt->status == 404)
			missing = missing ? missing : pt;
		else
			refusal = refusal ? refusal : pt;
	}
	size_t down = 0;
	for (size_t i = 0; i < p->nups; i++)
		down += !p->ups[i].vacant && !p->ups[i].removed && !p->ups[i].u.healthy;
	if (refusal) {
		answer_part(r, refusal);
	} else if (missing && !failed && !down) {
		p->j0->searches_missed++;
		answer_part(r, missing);
	} else {
		p->j0->searches_missed++;
		char msg[200];
		snprintf(msg, sizeof msg, "The submission was not found on the engines that answered; %zu of %zu could not "
		         "be asked", failed + down, r->nparts + down);
		req_error(r, 503, msg);
	}
}

/* K_BATCH_GET: every engine answered; the client's order, each token from
 * its engine (a token nobody remembered: the first engine that has it). */
static void batch_merge(j0_req *r)
{
	proxy *p = r->p;
	json_doc *docs[PROXY_MAX_UPSTREAMS] = {0};
	const json_value *arrs[PROXY_MAX_UPSTREAMS] = {0};
	for (size_t i = 0; i < r->nparts; i++) {
		j0_part *pt = &r->parts[i];
		if (pt->res != UP_OK) {
			char msg[400];
			snprintf(msg, sizeof msg, "Engine %s failed during the request: %s", pt->e->u.url, up_result_text(pt->res));
			req_error(r, pt->res == UP_ERR_TIMEOUT ? 504 : 502, msg);
			return;
		}
		if (pt->status != 200) {   /* its own refusal (bad ?fields ...): the client's answer */
			answer_part(r, pt);
			return;
		}
	}
	buf b = BUF_INIT;
	for (size_t i = 0; i < r->nparts; i++) {
		json_error err;
		docs[i] = json_parse(r->parts[i].body.data, r->parts[i].body.len, &err);
		const json_value *a = docs[i] ? json_get(json_root(docs[i]), "submissions") : NULL;
		if (!json_is(a, JSON_ARRAY) || a->len != r->parts[i].nidx) {
			for (size_t k = 0; k <= i; k++)
				json_free(docs[k]);
			req_error(r, 502, "An engine answered the batch with a malformed body");
			return;
		}
		arrs[i] = a;
	}
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	jw_key(&w, "submissions");
	jw_array_begin(&w);
	for (size_t t = 0; t < r->ntok; t++) {
		const json_value *found = NULL;
		for (size_t i = 0; i < r->nparts && !found; i++) {
			for (size_t k = 0; k < r->parts[i].nidx; k++) {
				const json_value *v = &arrs[i]->u.children[k];
				if (r->parts[i].idx[k] == t && !json_is(v, JSON_NULL)) {
					found = v;
					if (!r->owner[t]) {
						uint8_t u[16];
						proxy_j0_uuid(r->tok[t], 36, u);
						map_put(p, u, r->parts[i].e);
					}
					break;
				}
			}
		}
		if (found)
			jw_value(&w, found);
		else
			jw_null(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	for (size_t i = 0; i < r->nparts; i++)
		json_free(docs[i]);
	if (buf_failed(&b))
		req_error(r, 500, "out of memory");
	else
		req_answer(r, 200, "application/json", b.data, b.len);
	buf_free(&b);
}

/* ================================================================ the list */

/* One entry of an engine's list, with its merge key and token looked up once. */
typedef struct list_item {
	const json_value *v;
	const char *at, *token;         /* created_at ("2026-12-03T12:50:33.123Z": fixed width, so the
	                                   bytes compare as the times do; "" when absent: oldest), token */
	uint32_t at_len, token_len;
} list_item;

/* Each engine's answer to the list: its newest entries, pages joined. */
typedef struct list_src {
	engine_up *e;
	list_item *items;               /* newest first, at most page * per_page */
	size_t n, head;
	long long total;                /* its meta.total_count */
} list_src;

static const char *string_field(const json_value *item, const char *key, uint32_t *len)
{
	const json_value *v = json_is(item, JSON_OBJECT) ? json_get(item, key) : NULL;
	*len = json_is(v, JSON_STRING) ? v->len : 0;
	return *len ? v->u.string : "";
}

static bool same_token(const list_item *a, const list_item *b)
{
	return a->token_len && a->token_len == b->token_len && !memcmp(a->token, b->token, a->token_len);
}

/* An engine page's entries and total_count (a 200 with Judge0's list), or false. */
static bool list_page_of(const j0_part *pt, const json_value **arr, long long *total)
{
	const json_value *root = pt->doc ? json_root(pt->doc) : NULL;
	const json_value *a = json_is(root, JSON_OBJECT) ? json_get(root, "submissions") : NULL;
	const json_value *meta = json_is(root, JSON_OBJECT) ? json_get(root, "meta") : NULL;
	const json_value *t = json_is(meta, JSON_OBJECT) ? json_get(meta, "total_count") : NULL;
	if (!json_is(a, JSON_ARRAY) || !json_is(t, JSON_NUMBER) || !(t->u.number >= 0 && t->u.number < 1e15))
		return false;
	*arr = a;
	*total = (long long)t->u.number;
	return true;
}

/* Appends one engine page to src; false if it is not Judge0's list. The
 * pages are asked one after the other, so a submission made meanwhile
 * shifts the later ones down: an entry the previous page already had is
 * skipped (one deleted meanwhile shifts them up: an entry is missed, as
 * with any paging by offset). */
static bool list_add_page(list_src *src, const j0_part *pt, size_t depth)
{
	const json_value *arr;
	long long total;
	if (!list_page_of(pt, &arr, &total))
		return false;
	if (pt->list_page == 1)
		src->total = total;
	size_t prev_end = src->n, prev_start = src->n > J0_MAX_PER_PAGE ? src->n - J0_MAX_PER_PAGE : 0;
	bool shifted = pt->list_page > 1;   /* still among the previous page's entries */
	for (uint32_t i = 0; i < arr->len && src->n < depth; i++) {
		list_item it = {.v = &arr->u.children[i]};
		it.at = string_field(it.v, "created_at", &it.at_len);
		it.token = string_field(it.v, "token", &it.token_len);
		bool dup = false;
		for (size_t k = prev_start; shifted && k < prev_end && !dup; k++)
			dup = same_token(&src->items[k], &it);
		shifted = dup;   /* the order is kept: after one new entry, none repeats */
		if (!dup)
			src->items[src->n++] = it;
	}
	return true;
}

/* One entry with the fields the client asked for (created_at and token
 * were asked of the engines for the merge and the token memory). */
static void list_write_item(jw *w, const json_value *item, const char *fields)
{
	if (!json_is(item, JSON_OBJECT)) {
		jw_value(w, item);
		return;
	}
	jw_object_begin(w);
	for (uint32_t i = 0; i < item->len; i++) {
		const json_value *m = &item->u.children[i];
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)(m->key_len < sizeof name ? m->key_len : 0), m->key);
		if (name[0] && !judge0_field_wanted(fields, name))
			continue;
		jw_key_n(w, m->key, m->key_len);
		jw_value(w, m);
	}
	jw_object_end(w);
}

/* The k-way merge of the engines' newest-first lists: the page the client
 * asked for, and Judge0's meta over the sum of the engines' counts. */
static void list_render(j0_req *r, list_src *srcs, size_t nsrc, buf *b)
{
	const judge0_list_query *q = &r->lq;
	long long total = 0;
	for (size_t i = 0; i < nsrc; i++)
		total += srcs[i].total;
	long long pages = (total + q->per_page - 1) / q->per_page, skip = (q->page - 1) * q->per_page, shown = 0;
	jw w;
	jw_init(&w, b);
	jw_object_begin(&w);
	jw_key(&w, "submissions");
	jw_array_begin(&w);
	while (shown < q->per_page) {
		list_src *best = NULL;
		const list_item *top = NULL;
		for (size_t i = 0; i < nsrc; i++) {
			if (srcs[i].head == srcs[i].n)
				continue;
			const list_item *it = &srcs[i].items[srcs[i].head];
			int cmp = 1;
			if (top) {
				cmp = memcmp(it->at, top->at, it->at_len < top->at_len ? it->at_len : top->at_len);
				cmp = cmp ? cmp : (int)it->at_len - (int)top->at_len;
			}
			if (cmp > 0) {   /* ties: the earlier engine */
				best = &srcs[i];
				top = it;
			}
		}
		if (!best)
			break;
		best->head++;
		if (skip > 0) {
			skip--;
			continue;
		}
		list_write_item(&w, top->v, q->fields);
		uint8_t u[16];
		if (proxy_j0_uuid(top->token, top->token_len, u))   /* its next GET goes straight there */
			map_put(r->p, u, best->e);
		shown++;
	}
	jw_array_end(&w);
	jw_key(&w, "meta");
	jw_object_begin(&w);
	jw_key(&w, "current_page"), jw_int(&w, q->page);
	jw_key(&w, "next_page");
	q->page < pages ? jw_int(&w, q->page + 1) : jw_null(&w);
	jw_key(&w, "prev_page");
	q->page > 1 ? jw_int(&w, q->page - 1) : jw_null(&w);
	jw_key(&w, "total_pages"), jw_int(&w, pages);
	jw_key(&w, "total_count"), jw_int(&w, total);
	jw_object_end(&w);
	jw_object_end(&w);
}

/* K_LIST: every engine answered (or failed). A 400 from an engine (a
 * submission its text cannot show without base64_encoded=true, as Judge0
 * refuses the whole list) is the answer; else the merge of the engines
 * that answered 200, the others logged and counted in the
 * X-Piston-Unlisted-Engines header; 403 when every engine said 403
 * (listing is off there); 503 when none could list. */
static void list_over(j0_req *r)
{
	size_t depth = (size_t)(r->lq.page * r->lq.per_page), nsrc = 0, failed = 0, forbidden = 0, engines = 0;
	list_src *srcs = calloc(r->nparts ? r->nparts : 1, sizeof *srcs);   /* (freed after r: the items
	                                                                       point into r's parts) */
	const j0_part *refusal = NULL, *forbid = NULL;
	bool oom = !srcs;
	for (size_t i = 0; i < r->nparts && !oom; i += r->list_pages) {   /* an engine's parts: pages 1, 2 ... */
		size_t end = i + 1;
		while (end < i + r->list_pages && r->parts[end].list_page)
			end++;
		engines++;
		const j0_part *bad = NULL;
		for (size_t k = i; k < end && !bad; k++)
			if (r->parts[k].res != UP_OK || r->parts[k].status != 200)
				bad = &r->parts[k];
		list_src *src = &srcs[nsrc];
		src->e = r->parts[i].e;
		if (!bad && !(src->items = malloc(depth * sizeof *src->items)))
			oom = true;
		for (size_t k = i; k < end && !bad && !oom; k++)
			if (!list_add_page(src, &r->parts[k], depth))
				bad = &r->parts[k];
		if (!bad) {
			nsrc += !oom;
		} else if (bad->res == UP_OK && bad->status == 400) {
			refusal = refusal ? refusal : bad;
		} else if (bad->res == UP_OK && bad->status == 403) {
			forbidden++;
			forbid = forbid ? forbid : bad;
			log_warn("proxy: GET /submissions: engine %s does not list its submissions (403: is "
			         "PISTON_JUDGE0_ALLOW_LIST off there?); listed without it", bad->e->u.url);
		} else {
			failed++;
			if (bad->res != UP_OK)
				log_warn("proxy: GET /submissions: engine %s failed (%s); listed without it", bad->e->u.url,
				         up_result_text(bad->res));
			else
				log_warn("proxy: GET /submissions: engine %s answered %d%s; listed without it", bad->e->u.url,
				         bad->status, bad->status == 200 ? " with a malformed list" : "");
		}
		if (bad || oom) {
			free(src->items);
			memset(src, 0, sizeof *src);
		}
	}
	buf b = BUF_INIT;
	if (oom) {
		req_error(r, 500, "out of memory");
	} else if (refusal) {
		answer_part(r, refusal);
	} else if (!nsrc && forbidden && !failed && !r->down) {
		answer_part(r, forbid);
	} else if (!nsrc) {
		r->p->no_engine += !engines;
		char msg[200];
		snprintf(msg, sizeof msg, "No engine could list its submissions: %zu asked, %zu failed, %zu refused, %zu down",
		         engines, failed, forbidden, r->down);
		req_error(r, 503, msg);
	} else {
		list_render(r, srcs, nsrc, &b);
		size_t unlisted = failed + forbidden + r->down, used = strlen(r->adm.rl);
		if (unlisted)
			snprintf(r->adm.rl + used, sizeof r->adm.rl - used, "X-Piston-Unlisted-Engines: %zu\r\n", unlisted);
		if (buf_failed(&b))
			req_error(r, 500, "out of memory");
		else
			req_answer(r, 200, "application/json", b.data, b.len);
	}
	buf_free(&b);
	for (size_t i = 0; i < nsrc; i++)
		free(srcs[i].items);
	free(srcs);
}

/* Asks e (part pt) for its list page `page` of r->list_per entries, within
 * the list's deadline. False if it could not be asked (pt marked failed). */
static bool list_ask(j0_req *r, j0_part *pt, engine_up *e, uint32_t page)
{
	proxy *p = r->p;
	uint64_t now = loop_now(p->l), left = r->list_deadline > now ? r->list_deadline - now : 0;
	uint64_t timeout = p->o.upstream_timeout_ms < left ? p->o.upstream_timeout_ms : left;
	pt->list_page = page;
	pt->e = e;
	buf target = BUF_INIT;
	buf_printf(&target, "/submissions?%.*s&page=%u&per_page=%lld", (int)r->target.len, r->target.data, page,
	           r->list_per);
	bool ok = timeout > 0 && !buf_failed(&target) && part_start(r, pt, e, target.data, target.len, timeout);
	buf_free(&target);
	if (!ok) {
		pt->done = true;
		pt->res = timeout ? UP_ERR_CONNECT : UP_ERR_TIMEOUT;
	}
	return ok;
}

/* An engine's list page came back: its next page is asked when the
 * merge may need it (the page was full, the engine has more, and the
 * client's page reaches further). True when a call was started. */
static bool list_more(j0_req *r, j0_part *pt)
{
	if (pt->res != UP_OK || pt->status != 200)
		return false;
	json_error err;
	pt->doc = json_parse(pt->body.data, pt->body.len, &err);
	const json_value *arr;
	long long total;
	if (!list_page_of(pt, &arr, &total) || pt->list_page >= r->list_pages || arr->len < r->list_per ||
	    total <= (long long)pt->list_page * r->list_per)
		return false;
	return list_ask(r, pt + 1, pt->e, pt->list_page + 1);
}

static void part_done(void *arg, up_result res, const up_response *ur)
{
	j0_part *pt = arg;
	j0_req *r = pt->r;
	proxy *p = r->p;
	pt->call = NULL;
	pt->done = true;
	pt->res = res;
	if (res == UP_OK) {
		pt->status = ur->status;
		buf_reset(&pt->body);
		buf_append(&pt->body, ur->body, ur->body_len);
		snprintf(pt->ctype, sizeof pt->ctype, "%.*s", ur->content_type && ur->content_type_len < sizeof pt->ctype
		         ? (int)ur->content_type_len : 16, ur->content_type && ur->content_type_len < sizeof pt->ctype
		         ? ur->content_type : "application/json");
	}
	if (res == UP_ERR_CONNECT || res == UP_ERR_BROKEN)
		proxy_mark_down(p, pt->e, res == UP_ERR_CONNECT ? "connection refused or failed"
		                                                 : "closed a connection with a request in flight");
	bool draining = res == UP_OK && ur->draining;
	if (draining) {
		pt->e->draining = true;
		proxy_mark_down(p, pt->e, "draining (answered 503 X-Piston-Draining)");
	}
	switch (r->kind) {
	case K_ANY:
		if (res == UP_ERR_CONNECT || draining) {   /* it never ran: the next engine */
			p->retried++;
			if (any_send(r))
				return;
			p->no_engine++;
			req_error(r, 503, "No engine is available for this request");
			return;
		}
		/* fall through */
	case K_TOKEN:
		if (res != UP_OK) {
			char msg[300];
			snprintf(msg, sizeof msg, "Engine %s failed during the request: %s", pt->e->u.url, up_result_text(res));
			req_error(r, res == UP_ERR_TIMEOUT ? 504 : res == UP_ERR_CONNECT ? 503 : 502, msg);
			return;
		}
		if (r->remember && pt->status / 100 == 2)
			remember_answer(p, pt->body.data, pt->body.len, pt->e);
		answer_part(r, pt);
		return;
	case K_SEARCH:
		if (res == UP_OK && pt->status / 100 == 2) {   /* found: the other calls are cancelled */
			p->j0->searches_found++;
			map_put(p, r->uuid, pt->e);
			answer_part(r, pt);
			return;
		}
		if (--r->pending == 0)
			search_over(r);
		return;
	case K_BATCH_GET:
		if (--r->pending == 0)
			batch_merge(r);
		return;
	case K_LIST:
		if (list_more(r, pt))
			return;
		if (--r->pending == 0)
			list_over(r);
		return;
	}
}

/* ================================================================ handlers */

/* The request's method, HEAD as GET (the server answers HEAD from a GET
 * handler without the body; the engine is asked a GET). */
static void method_of(const http_request *req, char out[8])
{
	snprintf(out, 8, "%.*s", (int)(req->method_len < 7 ? req->method_len : 7), req->method);
	if (!strcmp(out, "HEAD"))
		strcpy(out, "GET");
}

static bool is(const http_request *req, const char *method, const char *path)
{
	char m[8];
	method_of(req, m);
	return !strcmp(m, method) && req->path_len == strlen(path) && !memcmp(req->path, path, req->path_len);
}

/* No control byte goes on into an engine's request line. */
static bool target_sane(const http_request *req)
{
	for (size_t i = 0; req->query && i < req->query_len; i++)
		if ((unsigned char)req->query[i] <= 0x20 || req->query[i] == 0x7f)
			return false;
	for (size_t i = 0; i < req->path_len; i++)
		if ((unsigned char)req->path[i] <= 0x20 || req->path[i] == 0x7f)
			return false;
	return true;
}

static void put_target(buf *b, const char *path, size_t plen, const http_request *req)
{
	buf_append(b, path, plen);
	if (req->query && req->query_len) {
		buf_putc(b, '?');
		buf_append(b, req->query, req->query_len);
	}
}

static j0_req *req_new(proxy *p, http_conn *c, const http_request *req, const admission *a, int route,
                       size_t cap)
{
	j0_req *r = calloc(1, sizeof *r + cap * sizeof r->parts[0]);
	if (!r)
		return NULL;
	r->cap = cap;
	r->p = p;
	r->c = c;
	r->adm = *a;
	r->route = route;
	method_of(req, r->method);
	proxy_set_xff(r->xff, sizeof r->xff, req);
	return r;
}

/* Splits ?tokens=a,b,c (the rest of the query kept for every engine). */
static int batch_tokens(j0_req *r, const http_request *req)
{
	const char *q = req->query ? req->query : "";
	size_t n = req->query ? req->query_len : 0, pos = 0;
	bool seen = false;
	while (pos < n) {
		size_t end = pos;
		while (end < n && q[end] != '&')
			end++;
		if (end - pos >= 7 && !memcmp(q + pos, "tokens=", 7) && !seen) {
			seen = true;
			size_t i = pos + 7;
			while (i < end) {   /* a,b,c (commas also as %2C); an empty one stays a (null) place */
				size_t e = i, sep = 0;
				for (; e < end; e++) {
					if (q[e] == ',') {
						sep = 1;
						break;
					}
					if (e + 2 < end && q[e] == '%' && q[e + 1] == '2' && (q[e + 2] | 0x20) == 'c') {
						sep = 3;
						break;
					}
				}
				if (r->ntok == PJ0_MAX_BATCH)
					return -1;
				size_t l = e - i;
				uint8_t u[16];
				r->tok_ok[r->ntok] = proxy_j0_uuid(q + i, l, u);
				snprintf(r->tok[r->ntok], sizeof r->tok[0], "%.*s", (int)(l < 36 ? l : 36), q + i);
				r->owner[r->ntok] = r->tok_ok[r->ntok] ? map_get(r->p, u) : NULL;
				r->ntok++;
				if (!sep)
					break;
				i = e + sep;
				if (i == end && r->ntok < PJ0_MAX_BATCH) {   /* a trailing comma: one more empty place */
					r->tok_ok[r->ntok] = false;
					r->owner[r->ntok] = NULL;
					r->tok[r->ntok++][0] = 0;
				}
			}
		} else if (end > pos) {
			if (r->rest_query.len)
				buf_putc(&r->rest_query, '&');
			buf_append(&r->rest_query, q + pos, end - pos);
		}
		pos = end + 1;
	}
	return 0;
}

static void start_batch_get(j0_req *r)
{
	proxy *p = r->p;
	size_t asked = 0;
	for (size_t i = 0; i < p->nups; i++) {
		engine_up *e = &p->ups[i];
		if (!e->u.healthy || e->vacant || e->removed)
			continue;
		j0_part *pt = &r->parts[r->nparts];
		for (size_t t = 0; t < r->ntok; t++)
			if (r->tok_ok[t] && (r->owner[t] == e || !r->owner[t]))
				pt->idx[pt->nidx++] = (uint8_t)t;
		if (!pt->nidx)
			continue;
		buf target = BUF_INIT;
		buf_puts(&target, "/submissions/batch?tokens=");
		for (size_t k = 0; k < pt->nidx; k++)
			buf_printf(&target, "%s%s", k ? "," : "", r->tok[pt->idx[k]]);
		if (r->rest_query.len) {
			buf_putc(&target, '&');
			buf_append(&target, r->rest_query.data, r->rest_query.len);
		}
		r->nparts++;
		r->pending++;
		bool ok = !buf_failed(&target) && part_start(r, pt, e, target.data, target.len, p->o.upstream_timeout_ms);
		buf_free(&target);
		if (!ok) {
			r->pending--;
			pt->done = true;
			pt->res = UP_ERR_CONNECT;
		}
		asked++;
	}
	if (!asked) {
		bool any_uuid = false;
		for (size_t t = 0; t < r->ntok; t++)
			any_uuid = any_uuid || r->tok_ok[t];
		if (any_uuid) {
			p->no_engine++;
			req_error(r, 503, "No engine is available for this request");
		} else {   /* nothing any engine could hold: all null */
			r->pending = 0;
			batch_merge(r);
		}
		return;
	}
	if (r->pending == 0)
		batch_merge(r);
}

/* Pages of at most J0_MAX_PER_PAGE that hold an engine's newest
 * page * per_page entries (a page deeper than PJ0_LIST_DEPTH is refused). */
static uint32_t list_pages_for(const judge0_list_query *q, long long *per)
{
	long long depth = q->page * q->per_page;
	*per = depth < J0_MAX_PER_PAGE ? depth : J0_MAX_PER_PAGE;
	return (uint32_t)((depth + *per - 1) / *per);
}

/* GET /submissions: every healthy engine is asked for its newest
 * page * per_page entries (page 1 of them, then its next pages one after
 * the other while needed), all engines at once, within PJ0_FANOUT_MS;
 * list_over merges. created_at (the merge's key) and token (the token
 * memory's) are asked even when the client's fields leave them out. */
static void start_list(j0_req *r)
{
	proxy *p = r->p;
	r->kind = K_LIST;
	r->list_pages = list_pages_for(&r->lq, &r->list_per);
	uint64_t fanout = p->o.upstream_timeout_ms < PJ0_FANOUT_MS ? p->o.upstream_timeout_ms : PJ0_FANOUT_MS;
	r->list_deadline = loop_now(p->l) + fanout;
	char ask[sizeof r->lq.fields + 32];
	snprintf(ask, sizeof ask, "%s%s%s", r->lq.fields, judge0_field_wanted(r->lq.fields, "created_at") ? "" : ",created_at",
	         judge0_field_wanted(r->lq.fields, "token") ? "" : ",token");
	if (strlen(ask) >= sizeof r->lq.fields)   /* longer than an engine reads: every field, filtered here */
		strcpy(ask, "*");
	buf_printf(&r->target, "base64_encoded=%s&fields=", r->lq.b64 ? "true" : "false");
	for (const char *c = ask; *c; c++) {
		bool plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		             *c == '_' || *c == ',' || *c == '*' || *c == '-' || *c == '.';
		if (plain)
			buf_putc(&r->target, *c);
		else
			buf_printf(&r->target, "%%%02X", (unsigned char)*c);
	}
	if (buf_failed(&r->target)) {
		req_error(r, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < p->nups; i++) {
		engine_up *e = &p->ups[i];
		if (e->vacant || e->removed)
			continue;
		if (!e->u.healthy) {
			r->down++;
			continue;
		}
		if (r->nparts + r->list_pages > r->cap)
			break;
		j0_part *pt = &r->parts[r->nparts];
		r->nparts += r->list_pages;
		r->pending++;
		if (!list_ask(r, pt, e, 1))
			r->pending--;
	}
	if (r->pending == 0)
		list_over(r);
}

static void start_token(j0_req *r, const http_request *req, const char *token)
{
	proxy *p = r->p;
	put_target(&r->target, req->path, req->path_len, req);
	engine_up *e = map_get(p, r->uuid);
	if (e) {
		p->j0->map_hits++;
		r->kind = K_TOKEN;
		r->nparts = 1;
		if (!part_start(r, &r->parts[0], e, r->target.data, r->target.len, p->o.upstream_timeout_ms))
			req_error(r, 500, "out of memory");
		return;
	}
	p->j0->map_misses++;
	r->kind = K_SEARCH;
	uint64_t timeout = p->o.upstream_timeout_ms < PJ0_FANOUT_MS ? p->o.upstream_timeout_ms : PJ0_FANOUT_MS;
	for (size_t i = 0; i < p->nups; i++) {
		engine_up *u = &p->ups[i];
		if (!u->u.healthy || u->vacant || u->removed)
			continue;
		j0_part *pt = &r->parts[r->nparts++];
		r->pending++;
		if (!part_start(r, pt, u, r->target.data, r->target.len, timeout)) {
			r->pending--;
			pt->done = true;
			pt->res = UP_ERR_CONNECT;
		}
	}
	(void)token;
	if (r->pending == 0)
		search_over(r);
}

static void on_j0(http_conn *c, const http_request *req, void *ctx)
{
	proxy *p = ctx;
	int route;
	bool post_one = is(req, "POST", "/submissions"), post_batch = is(req, "POST", "/submissions/batch");
	bool delete = req->method_len == 6 && !memcmp(req->method, "DELETE", 6);
	bool tokened = req->path_len > 13 && !memcmp(req->path, "/submissions/", 13) && !post_batch &&
	               !is(req, "GET", "/submissions/batch");
	if (post_one) route = R_SUBMIT;
	else if (post_batch) route = R_BATCH_SUBMIT;
	else if (is(req, "GET", "/submissions/batch")) route = R_BATCH_GET;
	else if (tokened) route = delete ? R_DELETE : R_GET;
	else if (is(req, "GET", "/submissions")) route = R_LIST;
	else if (is(req, "POST", "/authenticate")) route = R_AUTH;
	else route = R_INFO;
	/* The cost first (SPEC section 5): one token per run of each
	 * submission; everything else one, like every other request. */
	buf body = BUF_INIT;
	proxy_j0_info info = {.cost = 1};
	int rc = 0;
	if (post_one || post_batch)
		rc = proxy_j0_clamp(req->body, req->body_len, &p->o.max, post_batch, &body, &info);
	admission a;
	if (!proxy_admit_n(p, c, req, false, info.cost, &a, on_j0)) {
		buf_free(&body);
		return;
	}
	p->j0->requests[route]++;
	/* The list's query is checked here, with the engine's words; its
	 * engine calls need a part per engine page. */
	judge0_list_query lq;
	char lq_msg[200] = "";
	size_t cap = PROXY_MAX_UPSTREAMS;
	if (route == R_LIST && !judge0_list_query_parse(req, &lq, lq_msg, sizeof lq_msg)) {
		cap = 0;
	} else if (route == R_LIST && lq.page * lq.per_page > PJ0_LIST_DEPTH) {
		snprintf(lq_msg, sizeof lq_msg, "invalid page: %lld (through the proxy page * per_page is at most %d)",
		         lq.page, PJ0_LIST_DEPTH);
		cap = 0;
	} else if (route == R_LIST) {
		long long per;
		cap = p->nups * list_pages_for(&lq, &per);
	}
	j0_req *r = rc < 0 ? NULL : req_new(p, c, req, &a, route, cap);
	if (!r) {
		buf_free(&body);
		proxy_respond_msg(p, c, 500, a.rl, "Out of memory");
		return;
	}
	if (rc == 1) {
		r->body = body;
	} else {
		buf_free(&body);
		buf_append(&r->body, req->body, req->body_len);
	}
	http_conn_on_close(c, req_client_gone, r);
	if (route == R_AUTH) {   /* Judge0's key check: the admission was it */
		req_answer(r, 200, "application/json", "{}", 2);
		return;
	}
	if (!target_sane(req)) {
		req_error(r, 400, "malformed path or query string");
		return;
	}
	if (route == R_LIST) {
		if (lq_msg[0]) {
			req_error(r, 400, lq_msg);
			return;
		}
		r->lq = lq;
		start_list(r);
		return;
	}
	if (route == R_BATCH_GET) {
		r->kind = K_BATCH_GET;
		if (batch_tokens(r, req) < 0) {
			req_error(r, 400, "number of submissions in a batch should be less than or equal to 20");
			return;
		}
		if (!r->ntok) {
			req_error(r, 400, "tokens are required (?tokens=a,b,c)");
			return;
		}
		start_batch_get(r);
		return;
	}
	if (tokened) {
		const char *token = req->path + 13;
		if (!proxy_j0_uuid(token, req->path_len - 13, r->uuid)) {   /* no engine issues such a token */
			req_error(r, 404, "Not Found");
			return;
		}
		start_token(r, req, token);
		return;
	}
	r->kind = K_ANY;
	r->remember = post_one || post_batch;
	r->info = info;
	put_target(&r->target, req->path, req->path_len, req);
	if (buf_failed(&r->target) || buf_failed(&r->body)) {
		req_error(r, 500, "out of memory");
		return;
	}
	if (!any_send(r)) {
		p->no_engine++;
		req_error(r, 503, "No engine is available for this request");
	}
}

/* ================================================================ setup */

int proxy_j0_register(proxy *p, http_server *s)
{
	if (!(p->j0 = calloc(1, sizeof *p->j0)))
		return -1;
	static const struct {
		const char *method, *path;
	} routes[] = {
		{"POST", "/submissions"},       {"GET", "/submissions"},         {"POST", "/submissions/batch"},
		{"GET", "/submissions/batch"},  {"GET", "/submissions/*"},       {"DELETE", "/submissions/*"},
		{"GET", "/languages"},          {"GET", "/languages/*"},         {"GET", "/statuses"},
		{"GET", "/about"},              {"GET", "/config_info"},         {"GET", "/system_info"},
		{"GET", "/workers"},            {"POST", "/authenticate"},
	};
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		if (http_route(s, routes[i].method, routes[i].path, on_j0, p) < 0 ||
		    http_route(s, "OPTIONS", routes[i].path, proxy_on_options, p) < 0) {
			log_error("proxy: cannot register route %s %s", routes[i].method, routes[i].path);
			return -1;
		}
	}
	return 0;
}

void proxy_j0_metrics(const proxy *p, buf *b)
{
	const proxy_j0 *j = p->j0;
	if (!j)
		return;
	buf_puts(b, "# HELP piston_proxy_judge0_requests_total Judge0 API requests admitted, by route.\n"
	            "# TYPE piston_proxy_judge0_requests_total counter\n");
	for (int i = 0; i < R_COUNT; i++)
		buf_printf(b, "piston_proxy_judge0_requests_total{route=\"%s\"} %llu\n", route_names[i],
		           (unsigned long long)j->requests[i]);
	buf_printf(b, "# HELP piston_proxy_judge0_tokens_total Submission tokens: remembered from engine answers, "
	              "found in that memory, missed (then searched on every engine), found or not by that search.\n"
	              "# TYPE piston_proxy_judge0_tokens_total counter\n"
	              "piston_proxy_judge0_tokens_total{event=\"remembered\"} %llu\n"
	              "piston_proxy_judge0_tokens_total{event=\"hit\"} %llu\n"
	              "piston_proxy_judge0_tokens_total{event=\"miss\"} %llu\n"
	              "piston_proxy_judge0_tokens_total{event=\"search_found\"} %llu\n"
	              "piston_proxy_judge0_tokens_total{event=\"search_missed\"} %llu\n",
	           (unsigned long long)j->remembered, (unsigned long long)j->map_hits,
	           (unsigned long long)j->map_misses, (unsigned long long)j->searches_found,
	           (unsigned long long)j->searches_missed);
}

void proxy_j0_free(proxy *p)
{
	if (p->j0)
		free(p->j0->map);
	free(p->j0);
	p->j0 = NULL;
}
