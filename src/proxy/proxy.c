/*
 * proxy: `piston proxy` (promises in proxy.h). This file: options, body
 * clamping, the runtimes union and health checks, admission (keys, rate
 * limits), forwarding with failover, package fan-out, metrics, main.
 * The WebSocket tunnel is in proxy_ws.c; keys and buckets in keys.c; the
 * engine client in upstream.c.
 */
#include "proxy.h"
#include "proxy_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "commands.h"
#include "config.h"
#include "http.h"
#include "http_parse.h"
#include "keys.h"
#include "log.h"
#include "loop.h"
#include "semver.h"
#include "upstream.h"

/* ================================================================ options */

typedef enum { O_STR, O_UPSTREAMS, O_RATE, O_U64, O_MEM, O_LOG, O_REDIS } opt_kind;

typedef struct opt {
	const char *env, *flag;
	opt_kind kind;
	const char *def;
	uint64_t min, max;
	const char *help;
} opt;

static const opt opts_table[] = {
	{"PISTON_PROXY_BIND", "--bind", O_STR, "0.0.0.0:8080", 0, 0, "HOST:PORT to listen on"},
	{"PISTON_PROXY_UPSTREAMS", "--upstream", O_UPSTREAMS, "", 0, 0,
	 "engines: http://HOST:PORT, or dns://NAME:PORT for every A/AAAA record of NAME "
	 "(comma-separated; the flag may repeat)"},
	{"PISTON_PROXY_DNS_SERVER", "--dns-server", O_STR, "", 0, 0,
	 "nameserver IP[:PORT] for dns:// upstreams (default: first of /etc/resolv.conf)"},
	{"PISTON_PROXY_KEYS", "--keys", O_STR, "", 0, 0, "keys file (see `piston proxy keygen`)"},
	{"PISTON_PROXY_ANONYMOUS", "--anonymous", O_RATE, "", 0, 0,
	 "allow requests without a key at N/s per client address (N/s or N/s:BURST)"},
	{"PISTON_PROXY_MAX_RUN_TIMEOUT", "--max-run-timeout", O_U64, "3000", 0, 86400000, "run_timeout clamp, ms (0: none)"},
	{"PISTON_PROXY_MAX_COMPILE_TIMEOUT", "--max-compile-timeout", O_U64, "10000", 0, 86400000,
	 "compile_timeout clamp, ms (0: none)"},
	{"PISTON_PROXY_MAX_RUN_CPU_TIME", "--max-run-cpu-time", O_U64, "3000", 0, 86400000, "run_cpu_time clamp, ms (0: none)"},
	{"PISTON_PROXY_MAX_COMPILE_CPU_TIME", "--max-compile-cpu-time", O_U64, "10000", 0, 86400000,
	 "compile_cpu_time clamp, ms (0: none)"},
	{"PISTON_PROXY_MAX_RUN_MEMORY_LIMIT", "--max-run-memory-limit", O_MEM, "-1", 0, (uint64_t)INT64_MAX,
	 "run_memory_limit clamp, bytes (-1: none)"},
	{"PISTON_PROXY_MAX_COMPILE_MEMORY_LIMIT", "--max-compile-memory-limit", O_MEM, "-1", 0, (uint64_t)INT64_MAX,
	 "compile_memory_limit clamp, bytes (-1: none)"},
	{"PISTON_PROXY_MAX_TESTS", "--max-tests", O_U64, "100", 0, 100000,
	 "most tests per execute request, beyond: 400 (0: no limit); each test costs one rate-limit token"},
	{"PISTON_PROXY_MAX_BODY_SIZE", "--max-body-size", O_U64, "4194304", 1, 1u << 30, "largest request body, bytes (413)"},
	{"PISTON_PROXY_HEALTH_INTERVAL", "--health-interval", O_U64, "2000", 50, 3600000,
	 "ms between health checks of each engine"},
	{"PISTON_PROXY_UPSTREAM_TIMEOUT", "--upstream-timeout", O_U64, "120000", 100, 86400000,
	 "ms an engine may take to answer (504)"},
	{"PISTON_PROXY_DRAIN_DELAY", "--drain-delay", O_U64, "0", 0, 600000,
	 "ms to keep serving after SIGTERM with /healthz at 503 (load balancers notice)"},
	{"PISTON_PROXY_REDIS", "--redis", O_REDIS, "", 0, 0,
	 "redis://[:PASSWORD@]HOST[:PORT][/DB]: rate-limit buckets shared by every proxy replica"},
	{"PISTON_PROXY_REDIS_TIMEOUT", "--redis-timeout", O_U64, "50", 1, 10000,
	 "ms Redis may take to decide an admission (then this proxy's own bucket decides)"},
	{"PISTON_PROXY_LOG_LEVEL", "--log-level", O_LOG, "INFO", 0, 0, "DEBUG, INFO, WARN, ERROR or SILENT"},
};
#define NOPTS (sizeof opts_table / sizeof opts_table[0])

static void proxy_usage(FILE *f)
{
	fprintf(f, "usage: piston proxy --upstream URL [--upstream URL...] --keys FILE [options]\n"
	           "       piston proxy keygen NAME [--role user|admin] [--rate N/s] [--burst N]\n\n"
	           "options (each also an environment variable; flags win):\n");
	for (size_t i = 0; i < NOPTS; i++)
		fprintf(f, "  %-28s %-36s %s%s%s%s\n", opts_table[i].flag, opts_table[i].env, opts_table[i].help,
		        opts_table[i].def[0] ? " [" : "", opts_table[i].def, opts_table[i].def[0] ? "]" : "");
	fprintf(f, "\nThe Redis password may also come from PISTON_PROXY_REDIS_PASSWORD.\n"
	           "SIGHUP reloads the keys file; SIGTERM/SIGINT stop gracefully (after --drain-delay).\n"
	           "GET /healthz (no key): 200 ready; 503 draining or no engine up.\n");
}

static bool parse_u64_text(const char *s, uint64_t *out)
{
	if (!*s)
		return false;
	uint64_t v = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static int apply_opt(proxy_opts *o, const opt *k, const char *val, bool from_flag)
{
	uint64_t v = 0;
	switch (k->kind) {
	case O_STR: {
		bool bind = !strcmp(k->flag, "--bind"), dns = !strcmp(k->flag, "--dns-server");
		char *dst = bind ? o->bind : dns ? o->dns_server : o->keys_path;
		size_t cap = bind ? sizeof o->bind : dns ? sizeof o->dns_server : sizeof o->keys_path;
		if (strlen(val) >= cap)
			goto bad;
		strcpy(dst, val);
		return 0;
	}
	case O_UPSTREAMS: {
		if (!from_flag) {   /* the environment's list is replaced as a whole */
			for (size_t i = 0; i < o->nupstreams; i++)
				free(o->upstreams[i]);
			o->nupstreams = 0;
		}
		const char *p = val;
		while (*p) {
			size_t n = strcspn(p, ",");
			while (n && (*p == ' ')) p++, n--;
			size_t m = n;
			while (m && p[m - 1] == ' ') m--;
			if (m) {
				if (o->nupstreams == PROXY_MAX_UPSTREAMS) {
					fprintf(stderr, "piston: %s: at most %d engines\n", k->env, PROXY_MAX_UPSTREAMS);
					return -1;
				}
				o->upstreams[o->nupstreams++] = strndup(p, m);
			}
			p += n;
			if (*p == ',')
				p++;
		}
		return 0;
	}
	case O_RATE: {
		if (!*val) {
			o->anonymous = false;
			return 0;
		}
		char tmp[64];
		if (strlen(val) >= sizeof tmp)
			goto bad;
		strcpy(tmp, val);
		char *colon = strchr(tmp, ':');
		uint32_t burst = 0;
		if (colon) {
			*colon = 0;
			if (keys_parse_rate(colon + 1, &burst) < 0)
				goto bad;
		}
		if (keys_parse_rate(tmp, &o->anon_rate) < 0)
			goto bad;
		o->anon_burst = burst ? burst : (o->anon_rate > KEYS_RATE_MAX / 2 ? KEYS_RATE_MAX : o->anon_rate * 2);
		o->anonymous = true;
		return 0;
	}
	case O_U64:
		if (!parse_u64_text(val, &v) || v < k->min || v > k->max)
			goto bad;
		break;
	case O_MEM:
		if (!strcmp(val, "-1"))
			v = UINT64_MAX;
		else if (!parse_u64_text(val, &v) || v > k->max)
			goto bad;
		break;
	case O_REDIS: {
		char err[256];
		redis_url u;
		if (*val && redis_url_parse(val, &u, err, sizeof err) < 0) {
			fprintf(stderr, "piston: %s (%s): %s\n", k->env, k->flag, err);
			return -1;
		}
		if (strlen(val) >= sizeof o->redis)
			goto bad;
		strcpy(o->redis, val);
		return 0;
	}
	case O_LOG: {
		int lv = log_level_parse(val);
		if (lv < 0)
			goto bad;
		o->level = (log_level)lv;
		return 0;
	}
	}
	const char *f = k->flag;
	if (!strcmp(f, "--max-run-timeout")) o->max.run_timeout = v;
	else if (!strcmp(f, "--max-compile-timeout")) o->max.compile_timeout = v;
	else if (!strcmp(f, "--max-run-cpu-time")) o->max.run_cpu_time = v;
	else if (!strcmp(f, "--max-compile-cpu-time")) o->max.compile_cpu_time = v;
	else if (!strcmp(f, "--max-run-memory-limit")) o->max.run_memory_limit = v == UINT64_MAX ? -1 : (int64_t)v;
	else if (!strcmp(f, "--max-compile-memory-limit")) o->max.compile_memory_limit = v == UINT64_MAX ? -1 : (int64_t)v;
	else if (!strcmp(f, "--max-body-size")) o->max_body_size = v;
	else if (!strcmp(f, "--max-tests")) o->max.max_tests = (uint32_t)v;
	else if (!strcmp(f, "--health-interval")) o->health_interval_ms = v;
	else if (!strcmp(f, "--upstream-timeout")) o->upstream_timeout_ms = v;
	else if (!strcmp(f, "--drain-delay")) o->drain_delay_ms = v;
	else if (!strcmp(f, "--redis-timeout")) o->redis_timeout_ms = v;
	return 0;
bad:
	fprintf(stderr, "piston: %s: invalid value '%s' (%s)\n", k->env, val, k->help);
	return -1;
}

/* Returns 0, 1 after --help, -1 on a bad value. */
static int proxy_opts_load(proxy_opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	for (size_t i = 0; i < NOPTS; i++)
		if (apply_opt(o, &opts_table[i], opts_table[i].def, false) < 0)
			return -1;
	for (size_t i = 0; i < NOPTS; i++) {
		const char *e = getenv(opts_table[i].env);
		if (e && apply_opt(o, &opts_table[i], e, false) < 0)
			return -1;
	}
	bool flag_upstreams = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			proxy_usage(stdout);
			return 1;
		}
		const char *eq = strchr(a, '=');
		size_t n = eq ? (size_t)(eq - a) : strlen(a);
		const opt *k = NULL;
		for (size_t j = 0; j < NOPTS; j++)
			if (strlen(opts_table[j].flag) == n && !strncmp(opts_table[j].flag, a, n))
				k = &opts_table[j];
		if (!k) {
			fprintf(stderr, "piston proxy: unknown option '%s' (see --help)\n", a);
			return -1;
		}
		const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!val) {
			fprintf(stderr, "piston proxy: %s needs a value\n", k->flag);
			return -1;
		}
		if (k->kind == O_UPSTREAMS && !flag_upstreams) {
			for (size_t j = 0; j < o->nupstreams; j++)
				free(o->upstreams[j]);
			o->nupstreams = 0;
			flag_upstreams = true;
		}
		if (apply_opt(o, k, val, true) < 0)
			return -1;
	}
	if (!o->nupstreams) {
		fprintf(stderr, "piston: PISTON_PROXY_UPSTREAMS: at least one engine URL is required (--upstream URL)\n");
		return -1;
	}
	if (!o->keys_path[0] && !o->anonymous) {
		fprintf(stderr, "piston: PISTON_PROXY_KEYS: a keys file is required unless --anonymous is set\n");
		return -1;
	}
	return 0;
}

/* ================================================================ body clamp */

static const char *const limit_names[6] = {"run_timeout", "compile_timeout", "run_cpu_time",
                                           "compile_cpu_time", "run_memory_limit", "compile_memory_limit"};

static int64_t limit_max(const proxy_limits *lim, size_t i)
{
	switch (i) {
	case 0: return lim->run_timeout ? (int64_t)lim->run_timeout : -1;
	case 1: return lim->compile_timeout ? (int64_t)lim->compile_timeout : -1;
	case 2: return lim->run_cpu_time ? (int64_t)lim->run_cpu_time : -1;
	case 3: return lim->compile_cpu_time ? (int64_t)lim->compile_cpu_time : -1;
	case 4: return lim->run_memory_limit;
	default: return lim->compile_memory_limit;
	}
}

static int limit_index(const json_value *m)
{
	for (int i = 0; i < 6; i++)
		if (m->key_len == strlen(limit_names[i]) && !memcmp(m->key, limit_names[i], m->key_len))
			return i;
	return -1;
}

static bool over_limit(const json_value *m, int64_t max)
{
	return max >= 0 && m->type == JSON_NUMBER && m->u.number > (double)max;
}

/* A test's own limits over the maximum? (tests[i] is an object.) */
static bool test_over(const json_value *t, const proxy_limits *lim)
{
	for (uint32_t i = 0; json_is(t, JSON_OBJECT) && i < t->len; i++) {
		int k = limit_index(&t->u.children[i]);
		if (k >= 0 && over_limit(&t->u.children[i], limit_max(lim, (size_t)k)))
			return true;
	}
	return false;
}

/* An object's members, the limits over the maximum rewritten; `tests`
 * (top level only) element by element the same way. */
static void write_clamped(jw *w, const json_value *obj, const proxy_limits *lim, bool top)
{
	jw_object_begin(w);
	for (uint32_t i = 0; i < obj->len; i++) {
		const json_value *m = &obj->u.children[i];
		jw_key_n(w, m->key, m->key_len);
		int k = limit_index(m);
		if (k >= 0 && over_limit(m, limit_max(lim, (size_t)k))) {
			jw_int(w, limit_max(lim, (size_t)k));
		} else if (top && json_is(m, JSON_ARRAY) && m->key_len == 5 && !memcmp(m->key, "tests", 5)) {
			jw_array_begin(w);
			for (uint32_t t = 0; t < m->len; t++) {
				if (json_is(&m->u.children[t], JSON_OBJECT))
					write_clamped(w, &m->u.children[t], lim, false);
				else
					jw_value(w, &m->u.children[t]);
			}
			jw_array_end(w);
		} else {
			jw_value(w, m);
		}
	}
	jw_object_end(w);
}

int proxy_clamp_body(const char *body, size_t len, const proxy_limits *lim, buf *out,
                     char *lang, char *version, size_t n)
{
	return proxy_clamp_execute(body, len, lim, out, lang, version, n, NULL);
}

int proxy_clamp_execute(const char *body, size_t len, const proxy_limits *lim, buf *out,
                        char *lang, char *version, size_t n, size_t *ntests)
{
	lang[0] = version[0] = 0;
	if (ntests)
		*ntests = 0;
	json_error err;
	json_doc *doc = json_parse(body, len, &err);
	if (!doc)
		return 0;
	const json_value *root = json_root(doc);
	if (!json_is(root, JSON_OBJECT)) {
		json_free(doc);
		return 0;
	}
	const json_value *l = json_get(root, "language"), *v = json_get(root, "version");
	if (json_is(l, JSON_STRING) && l->len < n && !memchr(l->u.string, 0, l->len))
		memcpy(lang, l->u.string, l->len + 1);
	if (json_is(v, JSON_STRING) && v->len < n && !memchr(v->u.string, 0, v->len))
		memcpy(version, v->u.string, v->len + 1);
	const json_value *tests = json_get(root, "tests");
	if (ntests && json_is(tests, JSON_ARRAY))
		*ntests = tests->len;
	bool need = false;
	for (uint32_t i = 0; i < root->len && !need; i++) {
		int k = limit_index(&root->u.children[i]);
		need = k >= 0 && over_limit(&root->u.children[i], limit_max(lim, (size_t)k));
	}
	for (uint32_t i = 0; json_is(tests, JSON_ARRAY) && i < tests->len && !need; i++)
		need = test_over(&tests->u.children[i], lim);
	if (!need) {
		json_free(doc);
		return 0;
	}
	jw w;
	jw_init(&w, out);
	write_clamped(&w, root, lim, true);
	json_free(doc);
	return buf_failed(out) ? -1 : 1;
}

/* ================================================================ responses */

/* Requests carry no cookies, so the wildcards hold (and "*" exposes the
 * RateLimit-* and Retry-After headers to scripts). */
const char proxy_cors_headers[] =
	"Access-Control-Allow-Origin: *\r\n"
	"Access-Control-Expose-Headers: *\r\n";

static void respond(proxy *p, http_conn *c, int status, const char *ctype, const char *rl,
                    const void *body, size_t len)
{
	char extra[768];
	snprintf(extra, sizeof extra, "%s%s", proxy_cors_headers, rl ? rl : "");
	p->responses[status / 100 % 6]++;
	http_respond_ex(c, status, ctype, extra, body, len);
}

void proxy_respond(proxy *p, http_conn *c, int status, const char *ctype, const char *rl, const void *body,
                   size_t len)
{
	respond(p, c, status, ctype, rl, body, len);
}

void proxy_respond_msg(proxy *p, http_conn *c, int status, const char *rl, const char *msg)
{
	buf b = BUF_INIT;
	buf_puts(&b, "{\"message\":");
	json_escape(&b, msg, strlen(msg));
	buf_putc(&b, '}');
	respond(p, c, status, "application/json", rl, b.data, b.len);
	buf_free(&b);
}

/* ================================================================ runtimes */

static bool same_string(const json_value *a, const json_value *b)
{
	if (!a || !b)
		return a == b;
	return a->type == JSON_STRING && b->type == JSON_STRING && a->len == b->len &&
	       !memcmp(a->u.string, b->u.string, a->len);
}

static void render_union(proxy *p)
{
	buf_reset(&p->runtimes_json);
	jw w;
	jw_init(&w, &p->runtimes_json);
	jw_array_begin(&w);
	for (size_t i = 0; i < p->nups; i++) {
		const engine_up *e = &p->ups[i];
		if (!e->u.healthy || !e->runtimes)
			continue;
		const json_value *arr = json_root(e->runtimes);
		for (uint32_t k = 0; k < arr->len; k++) {
			const json_value *r = &arr->u.children[k];
			bool dup = false;
			/* first engine that lists (language, version, runtime) wins */
			for (size_t j = 0; j <= i && !dup; j++) {
				const engine_up *f = &p->ups[j];
				if (!f->u.healthy || !f->runtimes)
					continue;
				const json_value *fa = json_root(f->runtimes);
				uint32_t lim = j == i ? k : fa->len;
				for (uint32_t m = 0; m < lim && !dup; m++) {
					const json_value *q = &fa->u.children[m];
					dup = same_string(json_get(q, "language"), json_get(r, "language")) &&
					      same_string(json_get(q, "version"), json_get(r, "version")) &&
					      same_string(json_get(q, "runtime"), json_get(r, "runtime"));
				}
			}
			if (!dup)
				jw_value(&w, r);
		}
	}
	jw_array_end(&w);
}

/* Does engine e list a runtime for language (or alias) matching selector? */
bool proxy_engine_has(const engine_up *e, const char *lang, const char *selector)
{
	if (!e->runtimes)
		return false;
	const json_value *arr = json_root(e->runtimes);
	size_t ll = strlen(lang);
	for (uint32_t k = 0; k < arr->len; k++) {
		const json_value *r = &arr->u.children[k];
		const json_value *name = json_get(r, "language"), *ver = json_get(r, "version");
		if (!json_is(name, JSON_STRING) || !json_is(ver, JSON_STRING))
			continue;
		bool named = name->len == ll && !memcmp(name->u.string, lang, ll);
		const json_value *al = json_get(r, "aliases");
		for (uint32_t a = 0; !named && json_is(al, JSON_ARRAY) && a < al->len; a++) {
			const json_value *x = &al->u.children[a];
			named = x->type == JSON_STRING && x->len == ll && !memcmp(x->u.string, lang, ll);
		}
		if (!named)
			continue;
		semver v;
		if (semver_parse(ver->u.string, &v) == 0 && semver_satisfies(&v, selector))
			return true;
	}
	return false;
}

bool proxy_language_known(const proxy *p, const char *lang, const char *selector)
{
	for (size_t i = 0; i < p->nups; i++)
		if (proxy_engine_has(&p->ups[i], lang, selector))
			return true;
	return false;
}

void proxy_mark_down(proxy *p, engine_up *e, const char *why)
{
	if (e->u.healthy)
		log_warn("proxy: engine %s is down: %s", e->u.url, why);
	e->u.healthy = false;
	upstream_close_idle(&e->u);
	render_union(p);
}

/* ================================================================ health */

static void health_schedule(proxy *p);

static void health_start(engine_up *e, const char *path);

/* The /api/v2/runtimes stage: the runtimes this engine routes for. */
static void runtimes_done(engine_up *e, up_result r, const up_response *res)
{
	proxy *p = e->p;
	if (r != UP_OK || res->status != 200) {
		char why[160];
		if (r != UP_OK)
			snprintf(why, sizeof why, "health check: %s", up_result_text(r));
		else
			snprintf(why, sizeof why, "health check: GET /api/v2/runtimes answered %d", res->status);
		proxy_mark_down(p, e, why);
		return;
	}
	bool changed = !e->runtimes || e->runtimes_raw.len != res->body_len ||
	               memcmp(e->runtimes_raw.data, res->body, res->body_len);
	if (changed) {
		json_error err;
		json_doc *doc = json_parse(res->body, res->body_len, &err);
		if (!doc || !json_is(json_root(doc), JSON_ARRAY)) {
			json_free(doc);
			proxy_mark_down(p, e, "health check: /api/v2/runtimes is not a JSON array");
			return;
		}
		json_free(e->runtimes);
		e->runtimes = doc;
		buf_reset(&e->runtimes_raw);
		buf_append(&e->runtimes_raw, res->body, res->body_len);
	}
	if (!e->u.healthy) {
		log_info("proxy: engine %s is up (%u runtimes)", e->u.url, json_root(e->runtimes)->len);
		e->u.healthy = true;
		changed = true;
	}
	if (changed)
		render_union(p);
}

/* The /healthz stage. 200, or 503 "no_runtime" (an empty engine still takes
 * package installs): go on to the runtimes. Any other 503 (draining): out of
 * rotation at once. Unreachable or silent: down. 404: an engine older than
 * /healthz, checked by its runtimes alone from now on; any other answer
 * (odd status, malformed): judged by its runtimes this time. */
static void healthz_done(engine_up *e, up_result r, const up_response *res)
{
	bool empty = false;
	if (r == UP_OK && res->status == 503) {
		json_error err;
		json_doc *doc = json_parse(res->body, res->body_len, &err);
		const json_value *st = doc ? json_get(json_root(doc), "status") : NULL;
		empty = json_is(st, JSON_STRING) && st->len == 10 && !memcmp(st->u.string, "no_runtime", 10);
		json_free(doc);
	}
	bool down = r == UP_ERR_CONNECT || r == UP_ERR_TIMEOUT || (r == UP_OK && res->status == 503 && !empty);
	if (!down) {
		if (r == UP_OK && res->status == 404)
			e->no_healthz = true;
		e->draining = false;
		health_start(e, "/api/v2/runtimes");
		return;
	}
	char why[160];
	if (r != UP_OK)
		snprintf(why, sizeof why, "health check: %s", up_result_text(r));
	else
		snprintf(why, sizeof why, "health check: GET /healthz answered 503 (draining)");
	e->draining = r == UP_OK;
	proxy_mark_down(e->p, e, why);
}

static void health_done(void *arg, up_result r, const up_response *res)
{
	engine_up *e = arg;
	e->check = NULL;
	if (e->removed)
		return;
	if (e->check_stage == 0)
		healthz_done(e, r, res);
	else
		runtimes_done(e, r, res);
}

static void health_start(engine_up *e, const char *path)
{
	proxy *p = e->p;
	e->check_stage = strcmp(path, "/healthz") ? 1 : 0;
	buf req = BUF_INIT;
	buf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: piston-proxy\r\n\r\n", path, e->u.host_header);
	uint64_t timeout = p->o.health_interval_ms < 5000 ? 5000 : p->o.health_interval_ms;
	e->check = up_call_start(&e->u, &req, false, timeout, health_done, e);
}

void proxy_health_check(engine_up *e)
{
	if (e->check || e->removed || e->vacant)
		return;
	health_start(e, e->no_healthz ? "/api/v2/runtimes" : "/healthz");
}

static void health_check_all(proxy *p)
{
	for (size_t i = 0; i < p->nups; i++) {
		engine_up *e = &p->ups[i];
		if (e->vacant)
			continue;
		upstream_expire_idle(&e->u, loop_now(p->l));
		proxy_health_check(e);
	}
	proxy_dns_reap(p);
}

static void health_tick(loop *l, void *arg)
{
	proxy *p = arg;
	p->health_timer = NULL;
	health_check_all(p);
	health_schedule(p);
}

static void health_schedule(proxy *p)
{
	if (!p->stopping || p->drain_timer)   /* engines are still used during --drain-delay */
		p->health_timer = loop_timer_add(p->l, p->o.health_interval_ms, health_tick, p);
}

/* ================================================================ admission */

/* Checks the key, role and rate. Returns true when the request may go on;
 * otherwise the response has been sent. */
bool proxy_admit(proxy *p, http_conn *c, const http_request *req, bool need_admin, admission *a,
                 http_handler *self)
{
	return proxy_admit_n(p, c, req, need_admin, 1, a, self);
}

bool proxy_admit_n(proxy *p, http_conn *c, const http_request *req, bool need_admin, uint32_t cost,
                   admission *a, http_handler *self)
{
	const admit_redo *redo = p->redo && p->redo->c == c ? p->redo : NULL;
	char rkey[REDIS_KEY_MAX + 1] = "";
	uint32_t burst = 0;
	a->rl[0] = 0;
	a->rate = 0;
	size_t hl = 0;
	const char *h = http_header_get(req, "Authorization", &hl);
	const char *hname = "Authorization";
	if (!h) {   /* Judge0 clients send their key as X-Auth-Token */
		h = http_header_get(req, "X-Auth-Token", &hl);
		hname = "X-Auth-Token";
	}
	const char *k = NULL;
	size_t kl = 0;
	tb_verdict v;
	if (h && keys_from_authorization(h, hl, &k, &kl)) {
		key_entry *e = keys_lookup(p->keys, k, kl);
		if (!e) {
			p->unauthorized++;
			proxy_respond_msg(p, c, 401, NULL, "Invalid API key");
			return false;
		}
		if (need_admin && e->role != KEY_ROLE_ADMIN) {
			p->forbidden++;
			proxy_respond_msg(p, c, 403, NULL, "This endpoint needs an admin API key");
			return false;
		}
		a->rate = e->rate;
		burst = e->burst;
		if (p->redis && !redo) {
			int n = snprintf(rkey, sizeof rkey, "piston:rl:k:");
			for (int i = 0; i < 16; i++)
				n += snprintf(rkey + n, sizeof rkey - (size_t)n, "%02x", e->digest[i]);
			if (proxy_redis_defer(p, c, req, self, rkey, e->rate, e->burst, cost))
				return false;
		}
		if (redo && redo->v.ok)
			tb_verdict_set(&v, redo->v.allowed, redo->v.milli, cost, e->rate, e->burst);
		else
			tb_take_n(&e->bucket, e->rate, e->burst, loop_now(p->l), cost, &v);
	} else if (h && hl) {
		p->unauthorized++;
		char msg[120];
		snprintf(msg, sizeof msg, "Malformed %s header: send %s", hname,
		         hname[0] == 'A' ? "\"Bearer KEY\"" : "the key");
		proxy_respond_msg(p, c, 401, NULL, msg);
		return false;
	} else if (!p->anon || need_admin) {
		p->unauthorized++;
		proxy_respond_msg(p, c, 401, NULL, need_admin ? "This endpoint needs an admin API key"
		                                        : "An API key is required (Authorization: Bearer KEY, or X-Auth-Token: KEY)");
		return false;
	} else {
		a->rate = p->o.anon_rate;
		burst = p->o.anon_burst;
		if (p->redis && !redo) {
			snprintf(rkey, sizeof rkey, "piston:rl:a:%.64s", req->peer ? req->peer : "?");
			if (proxy_redis_defer(p, c, req, self, rkey, a->rate, burst, cost))
				return false;
		}
		if (redo && redo->v.ok)
			tb_verdict_set(&v, redo->v.allowed, redo->v.milli, cost, a->rate, burst);
		else
			addr_limiter_take_n(p->anon, req->peer ? req->peer : "", loop_now(p->l), cost, &v);
	}
	tb_format_headers(&v, a->rl, sizeof a->rl);
	if (!v.allowed) {
		p->rate_limited++;
		char msg[200];
		if (cost > 1)
			snprintf(msg, sizeof msg, "Rate limit exceeded: this request costs %u tokens (one per test; "
			         "%u requests, refilled at %u/s); retry after %u s", cost, v.limit, a->rate, v.retry_after_s);
		else
			snprintf(msg, sizeof msg, "Rate limit exceeded (%u requests, refilled at %u/s); retry after %u s",
			         v.limit, a->rate, v.retry_after_s);
		proxy_respond_msg(p, c, 429, a->rl, msg);
		return false;
	}
	return true;
}

/* ================================================================ forwarding */

typedef struct fwd {
	proxy *p;
	http_conn *c;
	up_call *call;
	engine_up *e;                  /* engine of the current attempt */
	uint64_t tried;                /* bit per engine index */
	char method[8];
	char path[32];
	char lang[64], version[64];
	bool by_language;              /* route only to engines with lang/version */
	bool head;
	buf body;                      /* the (possibly rewritten) request body */
	char xff[320];
	char ctype[128];
	admission adm;
	uint64_t start_ns;
	uint64_t call_ns;              /* when the current engine call started */
	uint64_t engine_ns;            /* time spent waiting for the engine */
	/* fan-out (package changes): every healthy engine */
	struct fanout *fan;
} fwd;

typedef struct fanout {
	proxy *p;
	http_conn *c;
	size_t pending;
	int best_status;               /* a 2xx if any engine succeeded, else the first answer */
	buf best_body;
	char best_ctype[128];
	bool client_gone;
	admission adm;
	fwd *calls[PROXY_MAX_UPSTREAMS];
	size_t ncalls;
} fanout;

static void fwd_free(fwd *f)
{
	buf_free(&f->body);
	free(f);
}

static void fwd_client_gone(void *arg)
{
	fwd *f = arg;
	if (f->call)
		up_call_cancel(f->call);
	fwd_free(f);
}

static engine_up *pick_engine(proxy *p, fwd *f)
{
	engine_up *best = NULL;
	size_t start = p->rr++;
	for (size_t k = 0; k < p->nups; k++) {
		size_t i = (start + k) % p->nups;
		engine_up *e = &p->ups[i];
		if (!e->u.healthy || (f->tried >> i & 1))
			continue;
		if (f->by_language && !proxy_engine_has(e, f->lang, f->version))
			continue;
		if (!best || e->u.in_flight < best->u.in_flight)
			best = e;
	}
	return best;
}

static void build_request(const fwd *f, const engine_up *e, buf *out)
{
	buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Forwarded-For: %s\r\n", f->method, f->path,
	           e->u.host_header, f->xff);
	if (f->body.len || strcmp(f->method, "GET")) {
		buf_printf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", f->body.len);
		buf_append(out, f->body.data, f->body.len);
	} else {
		buf_puts(out, "\r\n");
	}
}

static void fwd_done(void *arg, up_result r, const up_response *res);
static void fan_one_done(fwd *f, int status, const char *ctype, size_t ctl, const char *body, size_t len);

/* Start (or retry) the call; false when no engine is left. */
static bool fwd_send(fwd *f)
{
	proxy *p = f->p;
	engine_up *e = pick_engine(p, f);
	if (!e && f->by_language && !proxy_language_known(p, f->lang, f->version)) {
		/* no engine has ever listed it: let one give Piston's own
		 * "runtime is unknown" answer (when its engines are merely down,
		 * the answer is 503) */
		f->by_language = false;
		e = pick_engine(p, f);
		f->by_language = true;
	}
	if (!e)
		return false;
	f->e = e;
	f->tried |= 1ull << (size_t)(e - p->ups);
	buf req = BUF_INIT;
	buf_reserve(&req, 256 + f->body.len);
	build_request(f, e, &req);
	f->call_ns = mono_ns();
	f->call = up_call_start(&e->u, &req, f->head, p->o.upstream_timeout_ms, fwd_done, f);
	if (!f->call)
		return false;
	return true;
}

static void fwd_answer(fwd *f, int status, const char *ctype, const char *body, size_t len)
{
	proxy *p = f->p;
	if (f->fan) {
		fan_one_done(f, status, ctype, ctype ? strlen(ctype) : 0, body, len);
		return;
	}
	if (f->engine_ns && !strcmp(f->path, "/api/v2/execute")) {
		uint64_t total = mono_ns() - f->start_ns;
		p->added_ns_total += total > f->engine_ns ? total - f->engine_ns : 0;
		p->added_count++;
	}
	respond(p, f->c, status, ctype, f->adm.rl, body, len);
	fwd_free(f);
}

static void fwd_error(fwd *f, int status, const char *msg)
{
	buf b = BUF_INIT;
	buf_puts(&b, "{\"message\":");
	json_escape(&b, msg, strlen(msg));
	buf_putc(&b, '}');
	fwd_answer(f, status, "application/json", b.data, b.len);
	buf_free(&b);
}

static void fwd_done(void *arg, up_result r, const up_response *res)
{
	fwd *f = arg;
	proxy *p = f->p;
	f->call = NULL;
	engine_up *e = f->e;
	if (r == UP_ERR_CONNECT) {
		proxy_mark_down(p, e, "connection refused or failed");
		p->retried++;
		if (fwd_send(f))
			return;
		p->no_engine++;
		fwd_error(f, 503, "No engine is available for this request (all are down or lack the language)");
		return;
	}
	if (r == UP_OK && res->draining && !f->fan) {
		/* the engine drains and did not run it: another engine may */
		e->draining = true;
		proxy_mark_down(p, e, "draining (answered 503 X-Piston-Draining)");
		p->retried++;
		if (fwd_send(f))
			return;
		p->no_engine++;
		fwd_error(f, 503, "No engine is available for this request (all are down, draining or lack the language)");
		return;
	}
	if (r != UP_OK) {
		char msg[300];
		snprintf(msg, sizeof msg, "Engine %s failed during the request: %s", e->u.url, up_result_text(r));
		if (r == UP_ERR_BROKEN)
			proxy_mark_down(p, e, "closed a connection with a request in flight");
		fwd_error(f, r == UP_ERR_TIMEOUT ? 504 : 502, msg);
		return;
	}
	f->engine_ns = mono_ns() - f->call_ns;
	char ct[128] = "application/json";
	if (res->content_type && res->content_type_len < sizeof ct) {
		memcpy(ct, res->content_type, res->content_type_len);
		ct[res->content_type_len] = 0;
	}
	fwd_answer(f, res->status, ct, res->body, res->body_len);
}

void proxy_set_xff(char *out, size_t n_out, const http_request *req)
{
	size_t n = 0;
	const char *prev = http_header_get(req, "X-Forwarded-For", &n);
	const char *peer = req->peer ? req->peer : "unknown";
	bool ok = prev && n && n + strlen(peer) + 3 < n_out;
	for (size_t i = 0; ok && i < n; i++)   /* never pass control bytes on */
		ok = (unsigned char)prev[i] >= 0x20 && prev[i] != 0x7f;
	if (ok)
		snprintf(out, n_out, "%.*s, %s", (int)n, prev, peer);
	else
		snprintf(out, n_out, "%s", peer);
}

static fwd *fwd_new(proxy *p, http_conn *c, const http_request *req, const char *path)
{
	fwd *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->p = p;
	f->c = c;
	f->start_ns = mono_ns();
	snprintf(f->method, sizeof f->method, "%.*s", (int)req->method_len, req->method);
	if (!strcmp(f->method, "HEAD")) {
		strcpy(f->method, "GET");
		f->head = true;
	}
	snprintf(f->path, sizeof f->path, "%s", path);
	proxy_set_xff(f->xff, sizeof f->xff, req);
	return f;
}

static void on_execute(http_conn *c, const http_request *req, void *ctx)
{
	proxy *p = ctx;
	uint64_t t0 = mono_ns();
	/* The body first: a request is charged one token per run stage, one
	 * per test when it has tests (SPEC section 1). */
	buf body = BUF_INIT;
	char lang[64], version[64];
	size_t ntests = 0;
	int rc = proxy_clamp_execute(req->body, req->body_len, &p->o.max, &body, lang, version, sizeof lang, &ntests);
	uint32_t max_tests = p->o.max.max_tests;
	bool too_many = max_tests && ntests > max_tests;
	uint32_t cost = ntests && !too_many ? (uint32_t)ntests : 1;
	admission a;
	if (!proxy_admit_n(p, c, req, false, cost, &a, on_execute)) {
		buf_free(&body);
		return;
	}
	if (rc < 0) {
		buf_free(&body);
		proxy_respond_msg(p, c, 500, a.rl, "Out of memory");
		return;
	}
	if (too_many) {
		char msg[160];
		snprintf(msg, sizeof msg, "tests holds %zu tests; this service runs at most %u per request", ntests,
		         max_tests);
		buf_free(&body);
		proxy_respond_msg(p, c, 400, a.rl, msg);
		return;
	}
	fwd *f = fwd_new(p, c, req, "/api/v2/execute");
	if (!f) {
		buf_free(&body);
		proxy_respond_msg(p, c, 500, a.rl, "Out of memory");
		return;
	}
	f->start_ns = t0;
	f->adm = a;
	memcpy(f->lang, lang, sizeof f->lang);
	memcpy(f->version, version, sizeof f->version);
	if (rc == 0) {
		buf_append(&f->body, req->body, req->body_len);
		buf_free(&body);
	} else {
		f->body = body;
	}
	f->by_language = f->lang[0] && f->version[0];
	if (!fwd_send(f)) {
		p->no_engine++;
		fwd_error(f, 503, "No engine is available for this request (all are down or lack the language)");
		return;
	}
	http_conn_on_close(c, fwd_client_gone, f);
}

static void on_runtimes(http_conn *c, const http_request *req, void *ctx)
{
	proxy *p = ctx;
	admission a;
	if (!proxy_admit(p, c, req, false, &a, on_runtimes))
		return;
	if (!p->runtimes_json.len)
		render_union(p);
	respond(p, c, 200, "application/json", a.rl, p->runtimes_json.data, p->runtimes_json.len);
}

static void on_root(http_conn *c, const http_request *req, void *ctx)
{
	static const char msg[] = "{\"message\":\"Piston v" PISTON_VERSION " (proxy)\"}";
	respond(ctx, c, 200, "application/json", NULL, msg, sizeof msg - 1);
}

/* GET /healthz (no key: orchestrators probe it): 200 while this proxy
 * serves and at least one engine is up; 503 while it drains or with none. */
static void on_healthz(http_conn *c, const http_request *req, void *ctx)
{
	proxy *p = ctx;
	size_t up = 0, known = 0;
	for (size_t i = 0; i < p->nups; i++) {
		up += p->ups[i].u.healthy;
		known += !p->ups[i].vacant && !p->ups[i].removed;
	}
	char body[256];
	int status = 200;
	if (p->stopping) {
		status = 503;
		snprintf(body, sizeof body, "{\"status\":\"draining\",\"message\":\"This proxy is shutting down\"}");
	} else if (!up) {
		status = 503;
		snprintf(body, sizeof body, "{\"status\":\"no_engine\",\"message\":\"No engine is healthy (%zu known)\"}",
		         known);
	} else {
		snprintf(body, sizeof body, "{\"status\":\"ok\",\"engines\":%zu,\"engines_up\":%zu}", known, up);
	}
	respond(p, c, status, "application/json", "Cache-Control: no-store\r\n", body, strlen(body));
}

void proxy_on_options(http_conn *c, const http_request *req, void *ctx)
{
	static const char pre[] = "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\r\n"
	                          "Access-Control-Allow-Headers: Authorization, X-Auth-Token, Content-Type\r\n"
	                          "Access-Control-Max-Age: 86400\r\n";
	respond(ctx, c, 204, NULL, pre, "", 0);
}

/* ---- packages: admin only; changes go to every healthy engine ---- */

static void fan_finish(fanout *fo)
{
	proxy *p = fo->p;
	if (!fo->client_gone) {
		http_conn_on_close(fo->c, NULL, NULL);
		if (fo->best_status)
			respond(p, fo->c, fo->best_status, fo->best_ctype, fo->adm.rl, fo->best_body.data, fo->best_body.len);
		else
			proxy_respond_msg(p, fo->c, 503, fo->adm.rl, "No engine is available for this request");
	}
	buf_free(&fo->best_body);
	free(fo);
	health_check_all(p);   /* the runtimes changed: refresh the union now */
}

static void fan_one_done(fwd *f, int status, const char *ctype, size_t ctl, const char *body, size_t len)
{
	fanout *fo = f->fan;
	for (size_t i = 0; i < fo->ncalls; i++)
		if (fo->calls[i] == f)
			fo->calls[i] = NULL;
	bool better = !fo->best_status || (status / 100 == 2 && fo->best_status / 100 != 2);
	if (better) {
		fo->best_status = status;
		buf_reset(&fo->best_body);
		buf_append(&fo->best_body, body, len);
		snprintf(fo->best_ctype, sizeof fo->best_ctype, "%.*s", (int)ctl, ctype ? ctype : "");
	}
	fwd_free(f);
	if (--fo->pending == 0)
		fan_finish(fo);
}

static void fan_client_gone(void *arg)
{
	fanout *fo = arg;
	fo->client_gone = true;   /* the engines still finish their work */
}

static void on_packages(http_conn *c, const http_request *req, void *ctx)
{
	proxy *p = ctx;
	admission a;
	if (!proxy_admit(p, c, req, true, &a, on_packages))
		return;
	bool change = !(req->method_len == 3 && !memcmp(req->method, "GET", 3)) &&
	              !(req->method_len == 4 && !memcmp(req->method, "HEAD", 4));
	if (!change) {
		fwd *f = fwd_new(p, c, req, "/api/v2/packages");
		if (!f) {
			proxy_respond_msg(p, c, 500, a.rl, "Out of memory");
			return;
		}
		f->adm = a;
		if (!fwd_send(f)) {
			fwd_error(f, 503, "No engine is available for this request");
			return;
		}
		http_conn_on_close(c, fwd_client_gone, f);
		return;
	}
	fanout *fo = calloc(1, sizeof *fo);
	if (!fo) {
		proxy_respond_msg(p, c, 500, a.rl, "Out of memory");
		return;
	}
	fo->p = p;
	fo->c = c;
	fo->adm = a;
	fo->pending = 1;   /* held while starting the calls */
	for (size_t i = 0; i < p->nups; i++) {
		if (!p->ups[i].u.healthy)
			continue;
		fwd *f = fwd_new(p, c, req, "/api/v2/packages");
		if (!f)
			break;
		f->fan = fo;
		f->adm = a;
		buf_append(&f->body, req->body, req->body_len);
		f->tried = ~(1ull << i);   /* exactly this engine */
		fo->calls[fo->ncalls++] = f;
		fo->pending++;
		if (!fwd_send(f)) {
			fo->pending--;
			fo->calls[--fo->ncalls] = NULL;
			fwd_free(f);
		}
	}
	http_conn_on_close(c, fan_client_gone, fo);
	if (--fo->pending == 0)
		fan_finish(fo);
}

/* ================================================================ metrics */

static void on_metrics(http_conn *c, const http_request *req, void *ctx)
{
	proxy *p = ctx;
	admission a;
	if (!proxy_admit(p, c, req, true, &a, on_metrics))
		return;
	buf b = BUF_INIT;
	buf_puts(&b, "# HELP piston_proxy_responses_total Responses by status class.\n"
	             "# TYPE piston_proxy_responses_total counter\n");
	for (int i = 1; i <= 5; i++)
		buf_printf(&b, "piston_proxy_responses_total{class=\"%dxx\"} %llu\n", i, (unsigned long long)p->responses[i]);
	buf_printf(&b, "# TYPE piston_proxy_rejected_total counter\n"
	               "piston_proxy_rejected_total{reason=\"unauthorized\"} %llu\n"
	               "piston_proxy_rejected_total{reason=\"forbidden\"} %llu\n"
	               "piston_proxy_rejected_total{reason=\"rate_limited\"} %llu\n"
	               "piston_proxy_rejected_total{reason=\"no_engine\"} %llu\n"
	               "# TYPE piston_proxy_retries_total counter\npiston_proxy_retries_total %llu\n"
	               "# TYPE piston_proxy_key_reloads_total counter\n"
	               "piston_proxy_key_reloads_total{result=\"ok\"} %llu\n"
	               "piston_proxy_key_reloads_total{result=\"failed\"} %llu\n"
	               "# TYPE piston_proxy_keys gauge\npiston_proxy_keys %zu\n"
	               "# TYPE piston_proxy_connections gauge\npiston_proxy_connections %zu\n"
	               "# TYPE piston_proxy_tunnels gauge\npiston_proxy_tunnels %zu\n",
	           (unsigned long long)p->unauthorized, (unsigned long long)p->forbidden,
	           (unsigned long long)p->rate_limited, (unsigned long long)p->no_engine,
	           (unsigned long long)p->retried, (unsigned long long)p->reloads,
	           (unsigned long long)p->reload_failures, keys_count(p->keys), http_server_connections(p->http),
	           p->ntunnels);
	buf_printf(&b, "# HELP piston_proxy_execute_added_seconds Time the proxy adds to an execute request "
	               "(handler to response, minus the wait for the engine).\n"
	               "# TYPE piston_proxy_execute_added_seconds summary\n"
	               "piston_proxy_execute_added_seconds_sum %.6f\npiston_proxy_execute_added_seconds_count %llu\n",
	           (double)p->added_ns_total / 1e9, (unsigned long long)p->added_count);
	buf_puts(&b, "# HELP piston_proxy_engine_up 1 if the engine passed its last health check.\n"
	             "# TYPE piston_proxy_engine_up gauge\n");
	for (size_t i = 0; i < p->nups; i++)
		if (!p->ups[i].vacant)
			buf_printf(&b, "piston_proxy_engine_up{engine=\"%s\"} %d\n", p->ups[i].u.url, p->ups[i].u.healthy);
	buf_puts(&b, "# TYPE piston_proxy_engine_in_flight gauge\n");
	for (size_t i = 0; i < p->nups; i++)
		if (!p->ups[i].vacant)
			buf_printf(&b, "piston_proxy_engine_in_flight{engine=\"%s\"} %u\n", p->ups[i].u.url, p->ups[i].u.in_flight);
	buf_puts(&b, "# TYPE piston_proxy_engine_idle_connections gauge\n");
	for (size_t i = 0; i < p->nups; i++)
		if (!p->ups[i].vacant)
			buf_printf(&b, "piston_proxy_engine_idle_connections{engine=\"%s\"} %zu\n", p->ups[i].u.url, p->ups[i].u.nidle);
	buf_puts(&b, "# TYPE piston_proxy_engine_requests_total counter\n");
	for (size_t i = 0; i < p->nups; i++)
		if (!p->ups[i].vacant)
			buf_printf(&b, "piston_proxy_engine_requests_total{engine=\"%s\"} %llu\n", p->ups[i].u.url,
		           (unsigned long long)p->ups[i].u.requests);
	buf_puts(&b, "# TYPE piston_proxy_engine_failures_total counter\n");
	for (size_t i = 0; i < p->nups; i++)
		if (!p->ups[i].vacant)
			buf_printf(&b, "piston_proxy_engine_failures_total{engine=\"%s\"} %llu\n", p->ups[i].u.url,
		           (unsigned long long)p->ups[i].u.failures);
	proxy_dns_metrics(p, &b);
	proxy_redis_metrics(p, &b);
	proxy_j0_metrics(p, &b);
	if (buf_failed(&b))
		proxy_respond_msg(p, c, 500, a.rl, "Out of memory");
	else
		respond(p, c, 200, "text/plain; version=0.0.4", a.rl, b.data, b.len);
	buf_free(&b);
}

/* ================================================================ main */

static void on_hup(loop *l, int signo, void *arg)
{
	proxy *p = arg;
	if (!p->o.keys_path[0]) {
		log_info("proxy: SIGHUP: no keys file configured");
		return;
	}
	char err[512];
	keys_set *ks = keys_load(p->o.keys_path, err, sizeof err);
	if (!ks) {
		p->reload_failures++;
		log_error("proxy: keys reload failed, keeping the %zu old keys: %s", keys_count(p->keys), err);
		return;
	}
	keys_inherit_buckets(ks, p->keys);
	keys_free(p->keys);
	p->keys = ks;
	p->reloads++;
	log_info("proxy: keys reloaded from %s: %zu keys", p->o.keys_path, keys_count(ks));
}

static void stop_check(loop *l, void *arg)
{
	proxy *p = arg;
	if ((http_server_connections(p->http) == 0 && p->ntunnels == 0) || loop_now(l) > p->stop_deadline_ms) {
		loop_stop(l);
		return;
	}
	loop_timer_add(l, 50, stop_check, p);
}

static void stop_now(loop *l, proxy *p);

static void drain_over(loop *l, void *arg)
{
	proxy *p = arg;
	p->drain_timer = NULL;
	stop_now(l, p);
}

static void on_term(loop *l, int signo, void *arg)
{
	proxy *p = arg;
	if (p->stopping) {
		log_info("proxy: second signal (%s), stopping now", strsignal(signo));
		loop_stop(l);
		return;
	}
	p->stopping = true;   /* /healthz says 503 from now on */
	if (p->o.drain_delay_ms) {
		log_info("proxy: %s received; serving %llu ms more with /healthz at 503", strsignal(signo),
		         (unsigned long long)p->o.drain_delay_ms);
		p->drain_timer = loop_timer_add(l, p->o.drain_delay_ms, drain_over, p);
		return;
	}
	stop_now(l, p);
}

static void stop_now(loop *l, proxy *p)
{
	log_info("proxy: finishing open requests");
	http_server_stop_accepting(p->http);
	if (p->health_timer) {
		loop_timer_cancel(l, p->health_timer);
		p->health_timer = NULL;
	}
	p->stop_deadline_ms = loop_now(l) + 10000;
	stop_check(l, p);
}

int cmd_proxy(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "keygen"))
		return keys_keygen_main(argc - 1, argv + 1);
	proxy *p = calloc(1, sizeof *p);
	if (!p)
		return 1;
	int rc = proxy_opts_load(&p->o, argc, argv);
	if (rc) {
		for (size_t i = 0; i < p->o.nupstreams; i++)
			free(p->o.upstreams[i]);
		free(p);
		return rc > 0 ? 0 : 1;
	}
	/* The HTTP server reads its limits from the shared configuration. */
	config_defaults(&cfg);
	cfg.max_body_size = p->o.max_body_size;
	cfg.log_level = p->o.level;
	log_set_level(p->o.level);
	signal(SIGPIPE, SIG_IGN);
	int status = 1;
	char err[512];
	p->l = loop_new();
	if (!p->l) {
		log_error("proxy: cannot create the event loop");
		goto out;
	}
	for (size_t i = 0; i < p->o.nupstreams; i++) {
		if (!strncmp(p->o.upstreams[i], "dns://", 6)) {
			if (proxy_dns_add(p, p->o.upstreams[i], err, sizeof err) < 0) {
				fprintf(stderr, "piston: PISTON_PROXY_UPSTREAMS: %s\n", err);
				goto out;
			}
			continue;
		}
		engine_up *e = &p->ups[p->nups];
		e->p = p;
		if (upstream_init(&e->u, p->l, p->o.upstreams[i], err, sizeof err) < 0) {
			fprintf(stderr, "piston: PISTON_PROXY_UPSTREAMS: %s\n", err);
			goto out;
		}
		p->nups++;
	}
	if (p->o.keys_path[0]) {
		p->keys = keys_load(p->o.keys_path, err, sizeof err);
		if (!p->keys) {
			fprintf(stderr, "piston: PISTON_PROXY_KEYS: %s\n", err);
			goto out;
		}
	}
	if (p->o.anonymous && !(p->anon = addr_limiter_new(p->o.anon_rate, p->o.anon_burst))) {
		log_error("proxy: out of memory");
		goto out;
	}
	if (p->o.redis[0]) {
		redis_url ru;
		(void)redis_url_parse(p->o.redis, &ru, err, sizeof err);   /* checked with the options */
		const char *pw = getenv("PISTON_PROXY_REDIS_PASSWORD");
		if (!ru.password[0] && pw && strlen(pw) < sizeof ru.password)
			strcpy(ru.password, pw);
		if (!(p->redis = redis_limiter_new(p->l, &ru, p->o.redis_timeout_ms))) {
			log_error("proxy: out of memory");
			goto out;
		}
	}
	p->http = http_server_new(p->l, p->o.bind, err, sizeof err);
	if (!p->http) {
		fprintf(stderr, "piston: PISTON_PROXY_BIND: %s\n", err);
		goto out;
	}
	static const struct {
		const char *method, *path;
		http_handler *fn;
	} routes[] = {
		{"GET", "/", on_root},
		{"POST", "/api/v2/execute", on_execute},
		{"GET", "/api/v2/runtimes", on_runtimes},
		{"GET", "/api/v2/connect", proxy_ws_connect},
		{"GET", "/api/v2/packages", on_packages},
		{"POST", "/api/v2/packages", on_packages},
		{"DELETE", "/api/v2/packages", on_packages},
		{"GET", "/metrics", on_metrics},
		{"GET", "/healthz", on_healthz},
		{"OPTIONS", "/", proxy_on_options},
		{"OPTIONS", "/api/v2/execute", proxy_on_options},
		{"OPTIONS", "/api/v2/runtimes", proxy_on_options},
		{"OPTIONS", "/api/v2/connect", proxy_on_options},
		{"OPTIONS", "/api/v2/packages", proxy_on_options},
		{"OPTIONS", "/metrics", proxy_on_options},
	};
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (http_route(p->http, routes[i].method, routes[i].path, routes[i].fn, p) < 0) {
			log_error("proxy: cannot register route %s %s", routes[i].method, routes[i].path);
			goto out;
		}
	if (proxy_j0_register(p, p->http) < 0)
		goto out;
	if (loop_signal(p->l, SIGHUP, on_hup, p) < 0 || loop_signal(p->l, SIGTERM, on_term, p) < 0 ||
	    loop_signal(p->l, SIGINT, on_term, p) < 0) {
		log_error("proxy: cannot watch signals");
		goto out;
	}
	render_union(p);
	health_check_all(p);
	health_schedule(p);
	log_info("proxy: listening on %s (port %d), %zu engines%s, %zu keys%s%s", p->o.bind, http_server_port(p->http),
	         p->nups, p->ndns ? " (and those DNS finds)" : "", keys_count(p->keys), p->anon ? ", anonymous use allowed" : "",
	         p->redis ? ", rate limits in Redis" : "");
	status = loop_run(p->l) == 0 ? 0 : 1;
	log_info("proxy: stopped");
out:
	while (p->tunnels)
		proxy_tunnel_free(p->tunnels);
	proxy_dns_free_all(p);
	if (p->drain_timer)
		loop_timer_cancel(p->l, p->drain_timer);
	for (size_t i = 0; i < p->nups; i++) {
		if (p->ups[i].check)
			up_call_cancel(p->ups[i].check);
		upstream_close_idle(&p->ups[i].u);
		json_free(p->ups[i].runtimes);
		buf_free(&p->ups[i].runtimes_raw);
	}
	if (p->http)
		http_server_free(p->http);   /* before Redis: waiting requests forget their admissions */
	redis_limiter_free(p->redis);
	if (p->health_timer)
		loop_timer_cancel(p->l, p->health_timer);
	keys_free(p->keys);
	proxy_j0_free(p);
	addr_limiter_free(p->anon);
	buf_free(&p->runtimes_json);
	for (size_t i = 0; i < p->o.nupstreams; i++)
		free(p->o.upstreams[i]);
	if (p->l)
		loop_free(p->l);
	free(p);
	return status;
}
