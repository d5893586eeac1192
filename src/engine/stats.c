/*
 * stats: job counters by language and status, latency histograms and a
 * window of recent latencies (for exact percentiles), rendered as JSON for
 * GET /api/v2/stats and as Prometheus text for GET /metrics.
 */
#include "stats.h"
#include "compile_cache.h"

#include <stdlib.h>
#include <string.h>

#include "execute.h"
#include "journal.h"
#include "json.h"
#include "judge0.h"
#include "log.h"

enum { ST_OK, ST_RE, ST_SG, ST_TO, ST_OL, ST_EL, ST_XX, ST_ERROR, ST_CANCELLED, ST_COUNT };
static const char *const status_names[ST_COUNT] = {
	"ok", "RE", "SG", "TO", "OL", "EL", "XX", "error", "cancelled",
};

/* Histogram bucket upper bounds, microseconds (Prometheus "le" in seconds):
 * fine below 10 ms, where set-up and teardown live. */
static const uint64_t bucket_us[] = {100, 250, 500, 1000, 2000, 3000, 5000, 10000, 25000, 50000, 100000,
                                     250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])
#define WINDOW 1024   /* recent jobs kept for percentiles */

typedef struct histogram {
	uint64_t buckets[NBUCKETS + 1];   /* last: +Inf */
	uint64_t count, sum_us;
	uint32_t recent[WINDOW];          /* ring of the last WINDOW values, us (capped at ~71 min) */
} histogram;

/* The parts of a job's latency, in the order they are rendered. */
enum { LAT_TOTAL, LAT_QUEUE, LAT_SETUP, LAT_RUN, LAT_TEARDOWN, LAT_COUNT };
static const struct {
	const char *name, *metric, *help;
} lat_parts[LAT_COUNT] = {
	{ "total", "piston_job_duration_seconds", "Time from request to response of finished jobs." },
	{ "queue", "piston_job_queue_seconds", "Time jobs waited for a sandbox slot." },
	{ "setup", "piston_job_setup_seconds",
	  "Sandbox set-up of finished jobs: box, files, each stage up to its command's exec." },
	{ "run", "piston_job_run_seconds", "The programs' own run time (exec to exit), all stages." },
	{ "teardown", "piston_job_teardown_seconds",
	  "From each stage's program exit to its result (PID namespace end, cgroup check), all stages." },
};

typedef struct lang_stats {
	char *language;
	uint64_t by_status[ST_COUNT];
} lang_stats;

struct stats {
	engine *e;
	lang_stats *langs;
	size_t nlangs, cap;
	uint64_t rejected, invalid;
	uint64_t callbacks_delivered, callbacks_failed;   /* Judge0 callback_url */
	uint64_t test_runs[ST_COUNT];   /* each run of a request's `tests`, by status */
	histogram lat[LAT_COUNT];
};

static int status_index(const char *status)
{
	if (!status || !status[0])
		return ST_OK;
	for (int i = 1; i < ST_COUNT; i++)
		if (!strcmp(status_names[i], status))
			return i;
	return ST_XX;
}

static void histogram_add(histogram *h, uint64_t us)
{
	size_t b = 0;
	while (b < NBUCKETS && us > bucket_us[b])
		b++;
	h->buckets[b]++;
	h->recent[h->count % WINDOW] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	h->count++;
	h->sum_us += us;
}

static lang_stats *lang_get(stats *s, const char *language)
{
	for (size_t i = 0; i < s->nlangs; i++)
		if (!strcmp(s->langs[i].language, language))
			return &s->langs[i];
	if (s->nlangs == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		lang_stats *n = realloc(s->langs, cap * sizeof *n);
		if (!n)
			return NULL;
		s->langs = n;
		s->cap = cap;
	}
	lang_stats *l = &s->langs[s->nlangs];
	memset(l, 0, sizeof *l);
	if (!(l->language = strdup(language)))
		return NULL;
	s->nlangs++;
	return l;
}

void stats_job_done(stats *s, const char *language, const char *status, const stats_latency *lat)
{
	lang_stats *l = lang_get(s, language);
	if (l)
		l->by_status[status_index(status)]++;
	const uint64_t v[LAT_COUNT] = { lat->total_us, lat->queue_us, lat->setup_us, lat->run_us, lat->teardown_us };
	for (int i = 0; i < LAT_COUNT; i++)
		histogram_add(&s->lat[i], v[i]);
}

void stats_job_rejected(stats *s) { s->rejected++; }
void stats_judge0_callback(stats *s, bool delivered)
{
	if (delivered)
		s->callbacks_delivered++;
	else
		s->callbacks_failed++;
}
void stats_test_run(stats *s, const char *status) { s->test_runs[status_index(status)]++; }
void stats_job_invalid(stats *s) { s->invalid++; }

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void render_latency(jw *w, const histogram *h)
{
	size_t n = h->count < WINDOW ? h->count : WINDOW;
	uint32_t sorted[WINDOW];
	memcpy(sorted, h->recent, n * sizeof *sorted);
	qsort(sorted, n, sizeof *sorted, cmp_u32);
	jw_object_begin(w);
	jw_key(w, "count");
	jw_uint(w, h->count);
	jw_key(w, "mean");
	jw_double(w, h->count ? (double)h->sum_us / 1000.0 / (double)h->count : 0);
	static const struct { const char *name; unsigned pct; } q[] = {{"p50", 50}, {"p90", 90}, {"p99", 99}, {"max", 100}};
	for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
		jw_key(w, q[i].name);
		if (n)
			jw_double(w, (double)sorted[(n - 1) * q[i].pct / 100] / 1000.0);
		else
			jw_null(w);
	}
	jw_object_end(w);
}

static uint64_t uptime_ms(const engine *e)
{
	uint64_t now = loop_now(e->loop);
	return now > e->started_ms ? now - e->started_ms : 0;
}

static void stats_json_handler(http_conn *c, const http_request *req, void *ctx)
{
	stats *s = ctx;
	engine *e = s->e;
	buf out = BUF_INIT;
	jw w;
	jw_init(&w, &out);
	jw_object_begin(&w);
	jw_key(&w, "uptime_seconds");
	jw_double(&w, (double)uptime_ms(e) / 1000.0);

	uint64_t by_status[ST_COUNT] = {0}, total = 0;
	for (size_t i = 0; i < s->nlangs; i++)
		for (int k = 0; k < ST_COUNT; k++) {
			by_status[k] += s->langs[i].by_status[k];
			total += s->langs[i].by_status[k];
		}
	jw_key(&w, "jobs");
	jw_object_begin(&w);
	jw_key(&w, "total");
	jw_uint(&w, total);
	jw_key(&w, "running");
	jw_uint(&w, execute_running(e));
	jw_key(&w, "queued");
	jw_uint(&w, execute_queued(e));
	jw_key(&w, "rejected");
	jw_uint(&w, s->rejected);
	jw_key(&w, "invalid");
	jw_uint(&w, s->invalid);
	jw_key(&w, "by_status");
	jw_object_begin(&w);
	for (int k = 0; k < ST_COUNT; k++) {
		jw_key(&w, status_names[k]);
		jw_uint(&w, by_status[k]);
	}
	jw_object_end(&w);
	jw_key(&w, "by_language");
	jw_object_begin(&w);
	for (size_t i = 0; i < s->nlangs; i++) {
		jw_key(&w, s->langs[i].language);
		jw_object_begin(&w);
		for (int k = 0; k < ST_COUNT; k++) {
			if (!s->langs[i].by_status[k])
				continue;
			jw_key(&w, status_names[k]);
			jw_uint(&w, s->langs[i].by_status[k]);
		}
		jw_object_end(&w);
	}
	jw_object_end(&w);
	jw_object_end(&w);
	uint64_t tests_total = 0;
	for (int k = 0; k < ST_COUNT; k++)
		tests_total += s->test_runs[k];
	ccache_stats cc;
	execute_cache_stats(e, &cc);
	jw_key(&w, "compile_cache");
	jw_object_begin(&w);
	static const char *const cc_names[] = { "hits", "misses", "bytes", "entries", "evictions" };
	const uint64_t cc_vals[] = { cc.hits, cc.misses, cc.bytes, cc.entries, cc.evictions };
	for (int k = 0; k < 5; k++) {
		jw_key(&w, cc_names[k]);
		jw_uint(&w, cc_vals[k]);
	}
	jw_object_end(&w);
	jw_key(&w, "test_runs");
	jw_object_begin(&w);
	jw_key(&w, "total");
	jw_uint(&w, tests_total);
	jw_key(&w, "by_status");
	jw_object_begin(&w);
	for (int k = 0; k < ST_COUNT; k++) {
		jw_key(&w, status_names[k]);
		jw_uint(&w, s->test_runs[k]);
	}
	jw_object_end(&w);
	jw_object_end(&w);

	jw_key(&w, "latency_ms");
	jw_object_begin(&w);
	for (int i = 0; i < LAT_COUNT; i++) {
		jw_key(&w, lat_parts[i].name);
		render_latency(&w, &s->lat[i]);
	}
	jw_object_end(&w);

	journal_counters jc;
	jw_key(&w, "judge0_journal");   /* null until the first Judge0 submission */
	if (judge0_journal_counters(e, &jc)) {
		jw_object_begin(&w);
		jw_key(&w, "records");
		jw_uint(&w, jc.records);
		jw_key(&w, "syncs");
		jw_uint(&w, jc.syncs);
		jw_key(&w, "sync_ms");
		jw_double(&w, (double)jc.sync_us / 1000.0);
		jw_key(&w, "waiters");
		jw_uint(&w, jc.waiters);
		jw_key(&w, "compactions");
		jw_uint(&w, jc.compactions);
		jw_key(&w, "compact_ms");   /* wall time, off the loop but for the copy */
		jw_double(&w, (double)jc.compact_us / 1000.0);
		jw_key(&w, "compaction_aborts");
		jw_uint(&w, jc.compaction_aborts);
		jw_object_end(&w);
	} else {
		jw_null(&w);
	}

	jw_key(&w, "packages");
	jw_array_begin(&w);
	size_t npkgs = e->runtimes ? runtimes_count(e->runtimes) : 0;
	for (size_t i = 0; i < npkgs; i++) {
		const runtime *rt = runtimes_at(e->runtimes, i);
		jw_object_begin(&w);
		jw_key(&w, "language");
		jw_string(&w, rt->language);
		jw_key(&w, "version");
		jw_string(&w, rt->version);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	jw_object_end(&w);
	if (buf_failed(&out))
		http_respond_error(c, 500, "out of memory");
	else
		http_respond_json(c, 200, out.data, out.len);
	buf_free(&out);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void prom_label(buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			buf_putc(out, '\\');
		if (*s == '\n') {
			buf_puts(out, "\\n");
			continue;
		}
		buf_putc(out, *s);
	}
}

static void prom_histogram(buf *out, const char *name, const char *help, const histogram *h)
{
	buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cumulative = 0;
	for (size_t b = 0; b < NBUCKETS; b++) {
		cumulative += h->buckets[b];
		buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, (double)bucket_us[b] / 1e6,
		           (unsigned long long)cumulative);
	}
	cumulative += h->buckets[NBUCKETS];
	buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
	           (unsigned long long)cumulative, name, (double)h->sum_us / 1e6, name,
	           (unsigned long long)h->count);
}

static void metrics_handler(http_conn *c, const http_request *req, void *ctx)
{
	stats *s = ctx;
	engine *e = s->e;
	buf out = BUF_INIT;
	buf_puts(&out, "# HELP piston_jobs_total Jobs finished, by language and status (of the last stage).\n"
	               "# TYPE piston_jobs_total counter\n");
	for (size_t i = 0; i < s->nlangs; i++)
		for (int k = 0; k < ST_COUNT; k++) {
			if (!s->langs[i].by_status[k])
				continue;
			buf_puts(&out, "piston_jobs_total{language=\"");
			prom_label(&out, s->langs[i].language);
			buf_printf(&out, "\",status=\"%s\"} %llu\n", status_names[k],
			           (unsigned long long)s->langs[i].by_status[k]);
		}
	buf_puts(&out, "# HELP piston_test_runs_total Runs of requests' tests, by status.\n"
	               "# TYPE piston_test_runs_total counter\n");
	for (int k = 0; k < ST_COUNT; k++)
		buf_printf(&out, "piston_test_runs_total{status=\"%s\"} %llu\n", status_names[k],
		           (unsigned long long)s->test_runs[k]);
	ccache_stats cc;
	execute_cache_stats(e, &cc);
	buf_printf(&out, "# HELP piston_compile_cache_hits_total Requests that skipped their compile (cache hit).\n"
	                 "# TYPE piston_compile_cache_hits_total counter\npiston_compile_cache_hits_total %llu\n"
	                 "# HELP piston_compile_cache_misses_total Cacheable compiles not in the cache.\n"
	                 "# TYPE piston_compile_cache_misses_total counter\npiston_compile_cache_misses_total %llu\n"
	                 "# HELP piston_compile_cache_evictions_total Entries dropped for room.\n"
	                 "# TYPE piston_compile_cache_evictions_total counter\npiston_compile_cache_evictions_total %llu\n"
	                 "# HELP piston_compile_cache_bytes Bytes of compiled boxes kept.\n"
	                 "# TYPE piston_compile_cache_bytes gauge\npiston_compile_cache_bytes %llu\n"
	                 "# HELP piston_compile_cache_entries Compiled boxes kept.\n"
	                 "# TYPE piston_compile_cache_entries gauge\npiston_compile_cache_entries %llu\n",
	           (unsigned long long)cc.hits, (unsigned long long)cc.misses, (unsigned long long)cc.evictions,
	           (unsigned long long)cc.bytes, (unsigned long long)cc.entries);
	size_t npkgs = e->runtimes ? runtimes_count(e->runtimes) : 0;
	buf_printf(&out,
	           "# HELP piston_jobs_rejected_total Requests refused because the job queue was full.\n"
	           "# TYPE piston_jobs_rejected_total counter\npiston_jobs_rejected_total %llu\n"
	           "# HELP piston_requests_invalid_total Execute requests that failed validation.\n"
	           "# TYPE piston_requests_invalid_total counter\npiston_requests_invalid_total %llu\n"
	           "# HELP piston_jobs_running Sandbox slots in use (a job, or one run of its tests).\n"
	           "# TYPE piston_jobs_running gauge\npiston_jobs_running %zu\n"
	           "# HELP piston_jobs_queued Jobs and test runs waiting for a slot.\n"
	           "# TYPE piston_jobs_queued gauge\npiston_jobs_queued %zu\n"
	           "# HELP piston_uptime_seconds Seconds since the engine started.\n"
	           "# TYPE piston_uptime_seconds gauge\npiston_uptime_seconds %.3f\n"
	           "# HELP piston_packages_installed Installed language runtimes.\n"
	           "# TYPE piston_packages_installed gauge\npiston_packages_installed %zu\n",
	           (unsigned long long)s->rejected, (unsigned long long)s->invalid,
	           execute_running(e), execute_queued(e), (double)uptime_ms(e) / 1000.0, npkgs);
	buf_printf(&out,
	           "# HELP piston_judge0_callbacks_total Judge0 callback_url deliveries by how they ended.\n"
	           "# TYPE piston_judge0_callbacks_total counter\n"
	           "piston_judge0_callbacks_total{result=\"delivered\"} %llu\n"
	           "piston_judge0_callbacks_total{result=\"failed\"} %llu\n",
	           (unsigned long long)s->callbacks_delivered, (unsigned long long)s->callbacks_failed);
	buf_puts(&out, "# HELP piston_runtime_info An installed runtime.\n# TYPE piston_runtime_info gauge\n");
	for (size_t i = 0; i < npkgs; i++) {
		const runtime *rt = runtimes_at(e->runtimes, i);
		buf_puts(&out, "piston_runtime_info{language=\"");
		prom_label(&out, rt->language);
		buf_puts(&out, "\",version=\"");
		prom_label(&out, rt->version);
		buf_puts(&out, "\"} 1\n");
	}
	for (int i = 0; i < LAT_COUNT; i++)
		prom_histogram(&out, lat_parts[i].metric, lat_parts[i].help, &s->lat[i]);
	journal_counters jc;
	if (judge0_journal_counters(e, &jc))
		buf_printf(&out,
		           "# HELP piston_judge0_journal_records_total Records appended to the Judge0 journal.\n"
		           "# TYPE piston_judge0_journal_records_total counter\npiston_judge0_journal_records_total %llu\n"
		           "# HELP piston_judge0_journal_syncs_total fdatasync calls of the journal (group commit: "
		           "one covers every record appended before it).\n"
		           "# TYPE piston_judge0_journal_syncs_total counter\npiston_judge0_journal_syncs_total %llu\n"
		           "# HELP piston_judge0_journal_sync_seconds_total Time spent in those fdatasync calls.\n"
		           "# TYPE piston_judge0_journal_sync_seconds_total counter\n"
		           "piston_judge0_journal_sync_seconds_total %.6f\n"
		           "# HELP piston_judge0_journal_compactions_total Compactions of the Judge0 journal (renamed over it).\n"
		           "# TYPE piston_judge0_journal_compactions_total counter\npiston_judge0_journal_compactions_total %llu\n",
		           (unsigned long long)jc.records, (unsigned long long)jc.syncs, (double)jc.sync_us / 1e6,
		           (unsigned long long)jc.compactions);
	if (buf_failed(&out))
		http_respond_error(c, 500, "out of memory");
	else
		http_respond_ex(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.data, out.len);
	buf_free(&out);
}

void stats_register(engine *e)
{
	stats *s = calloc(1, sizeof *s);
	if (!s) {
		log_error("stats: out of memory");
		return;
	}
	s->e = e;
	e->stats = s;
	http_route(e->http, "GET", "/api/v2/stats", stats_json_handler, s);
	http_route(e->http, "GET", "/metrics", metrics_handler, s);
}

void stats_free(stats *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlangs; i++)
		free(s->langs[i].language);
	free(s->langs);
	free(s);
}
