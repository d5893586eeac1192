/*
 * execute: request validation -> job -> queue -> stages -> response.
 *
 * Data flow: the HTTP handler parses the body once (the json_doc then stays
 * with the job, so file contents, names and args are used in place, never
 * copied); job_new validates in upstream Piston's order; job_start queues
 * the job; when a slot is free the job gets a box, its files are written,
 * and the stages run on the event loop through sbx_start; the last on_done
 * renders the response.
 */
#include "execute.h"
#include "health.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "compile_cache.h"
#include "config.h"
#include "log.h"
#include "outfiles.h"
#include "sha256.h"
#include "stats.h"
#include "tests.h"

#define JOB_MAX_FILES 1024
#define JOB_MAX_ARGS 4096
#define NAME_MAX_TOTAL 4096

typedef struct job_file {
	const char *name;          /* validated relative path (in the doc or "fileN.code") */
	const char *data;          /* contents (in the doc, or decoded in `decoded`) */
	size_t len;
	bool utf8;
	char *decoded;             /* owned: base64/hex decoding */
	char default_name[32];
} job_file;

enum job_state { JOB_NEW, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
	engine *e;
	job *prev, *next;          /* in the queue's waiting or running list */
	enum job_state state;
	bool interactive;

	json_doc *doc;
	runtime_set *rs;           /* reference held while the job lives */
	const runtime *rt;

	job_file *files;
	size_t nfiles;
	const char **compile_argv; /* "/pkg/compile", utf8 names..., NULL */
	const char **run_argv;     /* "/pkg/run", first utf8 name, args..., NULL */
	const char **envp;
	char *lang_env;            /* "PISTON_LANGUAGE=..." */
	const char **compile_envp; /* envp plus compile_env (job_set_compile_env), or NULL: envp */
	char *compile_env;         /* "NAME=VALUE", owned */
	char *stdin_copy;          /* stdin with the trailing newline upstream adds */
	const char *stdin_data;
	size_t stdin_len;
	buf pending_stdin;         /* interactive stdin that arrived before `run` */
	bool stdin_eof;            /* the client ended stdin (close it once run starts) */
	sbx_limits compile_limits, run_limits;
	outfiles_list outfiles;    /* output_files (names in doc) */
	buf run_files;             /* the run stage's files: a JSON array, or empty */
	double run_configured[3];  /* the configured run memory, timeout, cpu maxima (tests.h) */

	/* `tests` (tests.h): compile once into `lower`, then one stage per test,
	 * each in a box of its own over it, on as many slots as fairness allows
	 * (test_slot_allowed). */
	test_set tests;
	bool has_tests;
	sbx_box *lower;            /* what the compile left, read-only for the tests */
	size_t tests_next;         /* the first test not yet started or skipped */
	size_t tests_running;      /* slots the job's tests hold */
	bool lower_alone;          /* the first test over `lower` must run alone (sandbox.h) */
	bool tests_begun;          /* compiled: the tests may take slots */

	/* The compile cache (compile_cache.h): the key, whether the request may
	 * use it, and the entry whose box is `lower` (then owned by the cache). */
	uint8_t cache_key[32];
	uint64_t pkg_identity[6];
	bool cacheable, compile_cached;
	ccache_entry *centry;

	unsigned slot;
	bool has_slot;
	sbx_box *box;
	sbx_run *run;
	const char *stage;         /* current stage name */
	sbx_result compile_res, run_res;
	bool has_compile_res, has_run_res;

	int fail_status;           /* non-zero: the job could not run */
	char fail_msg[256];

	job_events ev;
	/* The latency split (stats.h), CLOCK_MONOTONIC ns: submitted, given a
	 * slot (0: not yet); the stages' run and teardown summed in us. */
	uint64_t t_submit, t_start;
	uint64_t run_us, teardown_us;
};

typedef struct job_list {
	job *head, *tail;
	size_t len;
} job_list;

struct job_queue {
	engine *e;
	job_list waiting, running;
	unsigned *free_slots;      /* stack of free slot numbers */
	sbx_box **spare;           /* per slot: a fresh empty box made after the
	                              last job answered, off the latency path */
	unsigned nfree, nslots;
	json_doc *overrides;       /* PISTON_LIMIT_OVERRIDES, or NULL */
	compile_cache *cache;      /* NULL: PISTON_COMPILE_CACHE_SIZE 0, or no overlayfs */
	bool dispatching;
	char sandbox_error[256];
};

/* ---------------------------------------------------------------- lists */

static void list_push(job_list *l, job *j)
{
	j->next = NULL;
	j->prev = l->tail;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->len++;
}

static void list_remove(job_list *l, job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		l->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		l->tail = j->prev;
	j->prev = j->next = NULL;
	l->len--;
}

/* ----------------------------------------------------------- validation */

static int fail(int *status, char *msg, size_t msglen, int code, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static int fail(int *status, char *msg, size_t msglen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	*status = code;
	return -1;
}

/* JavaScript truthiness, as upstream's `if (!value)` tests it. */
static bool js_truthy(const json_value *v)
{
	if (!v)
		return false;
	switch (v->type) {
	case JSON_NULL: case JSON_FALSE: return false;
	case JSON_NUMBER: return v->u.number != 0 && !isnan(v->u.number);
	case JSON_STRING: return v->len > 0;
	default: return true;
	}
}

/* A limit from PISTON_LIMIT_OVERRIDES[language], else the package's
 * limit_overrides, else the global value. */
static double effective_limit(const job_queue *q, const runtime *rt, const char *key, double global)
{
	const json_value *v = NULL;
	if (q->overrides)
		v = json_get(json_get(json_root(q->overrides), rt->language), key);
	if (!json_is(v, JSON_NUMBER))
		v = json_get(rt->limit_overrides, key);
	return json_is(v, JSON_NUMBER) ? v->u.number : global;
}

static uint64_t clamp_u64(double v)
{
	if (!(v > 0))
		return 0;
	if (v >= 1.8e19)
		return UINT64_MAX;
	return (uint64_t)v;
}

static int parse_files(job *j, const json_value *files, int *status, char *msg, size_t msglen)
{
	if (files->len > JOB_MAX_FILES)
		return fail(status, msg, msglen, 400, "files must not hold more than %d files", JOB_MAX_FILES);
	j->files = calloc(files->len ? files->len : 1, sizeof *j->files);
	if (!j->files)
		return fail(status, msg, msglen, 503, "out of memory");
	j->nfiles = files->len;
	for (size_t i = 0; i < j->nfiles; i++) {
		const json_value *f = json_at(files, i);
		job_file *jf = &j->files[i];
		const json_value *name = json_get(f, "name");
		const json_value *enc = json_get(f, "encoding");
		const json_value *content = json_get(f, "content");
		if (js_truthy(name)) {
			if (!json_is(name, JSON_STRING))
				return fail(status, msg, msglen, 400, "files[%zu].name must be a string", i);
			const char *why = sbx_box_path_problem(name->u.string, name->len, NAME_MAX_TOTAL);
			if (why)
				return fail(status, msg, msglen, 400, "files[%zu].name %s", i, why);
			jf->name = name->u.string;
		} else {
			snprintf(jf->default_name, sizeof jf->default_name, "file%zu.code", i);
			jf->name = jf->default_name;
		}
		const char *encoding = "utf8";
		if (js_truthy(enc)) {
			if (!json_is(enc, JSON_STRING) ||
			    (strcmp(enc->u.string, "utf8") && strcmp(enc->u.string, "base64") &&
			     strcmp(enc->u.string, "hex")))
				return fail(status, msg, msglen, 400,
				            "files[%zu].encoding must be one of utf8, base64, hex", i);
			encoding = enc->u.string;
		}
		jf->utf8 = !strcmp(encoding, "utf8");
		if (jf->utf8) {
			jf->data = content->u.string;
			jf->len = content->len;
			continue;
		}
		jf->decoded = malloc(content->len / (encoding[0] == 'h' ? 2 : 1) + 4);
		if (!jf->decoded)
			return fail(status, msg, msglen, 503, "out of memory");
		ssize_t n = encoding[0] == 'h'
			? hex_decode(content->u.string, content->len, jf->decoded)
			: base64_decode(content->u.string, content->len, jf->decoded);
		if (n < 0)
			return fail(status, msg, msglen, 400, "files[%zu].content is not valid %s", i, encoding);
		jf->data = jf->decoded;
		jf->len = (size_t)n;
	}
	return 0;
}

/* Upstream's loop over {memory_limit, timeout, cpu_time} x {compile, run}. */
static int parse_limits(job *j, const json_value *root, int *status, char *msg, size_t msglen)
{
	static const char *const constraints[] = {"memory_limit", "timeout", "cpu_time"};
	static const char *const types[] = {"compile", "run"};
	job_queue *q = j->e->jobs;
	for (int ci = 0; ci < 3; ci++) {
		for (int ti = 0; ti < 2; ti++) {
			char name[32];
			snprintf(name, sizeof name, "%s_%s", types[ti], constraints[ci]);
			bool run = ti == 1;
			double global = ci == 0 ? (double)(run ? cfg.run_memory_limit : cfg.compile_memory_limit)
			              : ci == 1 ? (double)(run ? cfg.run_timeout : cfg.compile_timeout)
			                        : (double)(run ? cfg.run_cpu_time : cfg.compile_cpu_time);
			double configured = effective_limit(q, j->rt, name, global);
			if (run)
				j->run_configured[ci] = configured;
			double value = configured;
			const json_value *v = json_get(root, name);
			if (js_truthy(v)) {
				if (!json_is(v, JSON_NUMBER))
					return fail(status, msg, msglen, 400, "If specified, %s must be a number", name);
				value = v->u.number;
				if (configured > 0 && value > configured)
					return fail(status, msg, msglen, 400,
					            "%s cannot exceed the configured limit of %.17g", name, configured);
				if (configured > 0 && value < 0)
					return fail(status, msg, msglen, 400, "%s must be non-negative", name);
			}
			/* Round fractions up: 0.5 ms must not become 0 = "no limit". */
			if (value > 0)
				value = ceil(value);
			sbx_limits *l = run ? &j->run_limits : &j->compile_limits;
			if (ci == 0)
				l->memory_bytes = value > 0 ? (int64_t)fmin(value, 9.2e18) : -1;
			else if (ci == 1)
				l->wall_ms = clamp_u64(value);
			else
				l->cpu_ms = clamp_u64(value);
		}
	}
	const runtime *rt = j->rt;
	for (int ti = 0; ti < 2; ti++) {
		sbx_limits *l = ti ? &j->run_limits : &j->compile_limits;
		l->max_procs = (uint32_t)fmin(clamp_u64(effective_limit(q, rt, "max_process_count",
		                                                         cfg.max_process_count)), UINT32_MAX);
		l->max_open_files = (uint32_t)fmin(clamp_u64(effective_limit(q, rt, "max_open_files",
		                                                              cfg.max_open_files)), UINT32_MAX);
		l->max_file_size = clamp_u64(effective_limit(q, rt, "max_file_size", (double)cfg.max_file_size));
		l->output_max = clamp_u64(effective_limit(q, rt, "output_max_size", (double)cfg.output_max_size));
	}
	return 0;
}

const char *job_arg_text(const json_value *a)
{
	if (!a)
		return NULL;
	switch (a->type) {
	case JSON_STRING: return a->u.string;
	/* Upstream Piston's CLI sends `3` for an argument that looks like a number,
	 * and upstream passes it on as the text the client wrote (SPEC section 1). */
	case JSON_NUMBER: return a->text;
	case JSON_TRUE: return "true";
	case JSON_FALSE: return "false";
	default: return NULL;
	}
}

static int build_argv_env(job *j, const json_value *args, int *status, char *msg, size_t msglen)
{
	size_t nutf8 = 0;
	for (size_t i = 0; i < j->nfiles; i++)
		nutf8 += j->files[i].utf8;
	size_t nargs = args ? args->len : 0;
	if (nargs > JOB_MAX_ARGS)
		return fail(status, msg, msglen, 400, "args must not hold more than %d strings", JOB_MAX_ARGS);
	j->compile_argv = malloc((nutf8 + 2) * sizeof *j->compile_argv);
	j->run_argv = malloc((nargs + 3) * sizeof *j->run_argv);
	j->envp = malloc((j->rt->nenv + 3) * sizeof *j->envp);
	size_t langlen = strlen(j->rt->language);
	j->lang_env = malloc(sizeof "PISTON_LANGUAGE=" + langlen);
	if (!j->compile_argv || !j->run_argv || !j->envp || !j->lang_env)
		return fail(status, msg, msglen, 503, "out of memory");

	size_t n = 0;
	j->compile_argv[n++] = "/pkg/compile";
	const char *first = NULL;
	for (size_t i = 0; i < j->nfiles; i++) {
		if (!j->files[i].utf8)
			continue;
		j->compile_argv[n++] = j->files[i].name;
		if (!first)
			first = j->files[i].name;
	}
	j->compile_argv[n] = NULL;

	n = 0;
	j->run_argv[n++] = "/pkg/run";
	j->run_argv[n++] = first;
	for (size_t i = 0; i < nargs; i++) {
		const char *arg = job_arg_text(json_at(args, i));
		if (!arg)
			return fail(status, msg, msglen, 400,
			            "args[%zu] must be a string, a number or a boolean, not %s", i,
			            json_type_name(json_at(args, i)->type));
		if (json_is(json_at(args, i), JSON_STRING) && memchr(arg, '\0', json_at(args, i)->len))
			return fail(status, msg, msglen, 400, "args[%zu] must not contain a NUL byte", i);
		j->run_argv[n++] = arg;
	}
	j->run_argv[n] = NULL;

	memcpy(j->lang_env, "PISTON_LANGUAGE=", 16);
	memcpy(j->lang_env + 16, j->rt->language, langlen + 1);
	n = 0;
	for (size_t i = 0; i < j->rt->nenv; i++)
		if (strncmp(j->rt->env[i], "HOME=", 5) && strncmp(j->rt->env[i], "PISTON_LANGUAGE=", 16))
			j->envp[n++] = j->rt->env[i];
	j->envp[n++] = j->lang_env;
	j->envp[n++] = "HOME=/tmp";
	j->envp[n] = NULL;
	return 0;
}

static void job_free(job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->nfiles; i++)
		free(j->files[i].decoded);
	free(j->files);
	free(j->compile_argv);
	free(j->run_argv);
	free(j->envp);
	free(j->lang_env);
	free(j->compile_envp);
	free(j->compile_env);
	free(j->stdin_copy);
	buf_free(&j->pending_stdin);
	buf_free(&j->run_files);
	tests_free(&j->tests);
	if (j->has_compile_res)
		sbx_result_free(&j->compile_res);
	if (j->has_run_res)
		sbx_result_free(&j->run_res);
	if (j->rs)
		runtimes_unref(j->rs);
	json_free(j->doc);
	free(j);
}

/* The request's `tests` (tests.h), if any. */
static int tests_requested(job *j, const json_value *root, int *status, char *msg, size_t msglen)
{
	const json_value *t = json_get(root, "tests");
	if (j->interactive) {
		if (t && !json_is(t, JSON_NULL))
			return fail(status, msg, msglen, 400, "tests are not available on the WebSocket");
		return 0;
	}
	tests_defaults d = {
		.run = &j->run_limits,
		.configured_memory = j->run_configured[0],
		.configured_timeout = j->run_configured[1],
		.configured_cpu = j->run_configured[2],
		.run_argv = j->run_argv,
		.stdin_data = j->stdin_data,
		.stdin_len = j->stdin_len,
	};
	int code = tests_parse(&j->tests, root, &d, msg, msglen);
	if (code) {
		*status = code;
		return -1;
	}
	j->has_tests = j->tests.t != NULL;
	return 0;
}

job *job_new(engine *e, json_doc *doc, const json_value *root, bool interactive,
             int *status, char *msg, size_t msglen)
{
	const json_value *language = json_get(root, "language");
	const json_value *version = json_get(root, "version");
	const json_value *files = json_get(root, "files");
	if (!js_truthy(language) || !json_is(language, JSON_STRING)) {
		fail(status, msg, msglen, 400, "language is required as a string");
		return NULL;
	}
	if (!js_truthy(version) || !json_is(version, JSON_STRING)) {
		fail(status, msg, msglen, 400, "version is required as a string");
		return NULL;
	}
	if (!json_is(files, JSON_ARRAY)) {
		fail(status, msg, msglen, 400, "files is required as an array");
		return NULL;
	}
	for (size_t i = 0; i < files->len; i++) {
		if (!json_is(json_get(json_at(files, i), "content"), JSON_STRING)) {
			fail(status, msg, msglen, 400, "files[%zu].content is required as a string", i);
			return NULL;
		}
	}
	runtime_set *rs = e->runtimes;
	const runtime *rt = rs ? runtimes_find(rs, language->u.string, version->u.string) : NULL;
	if (!rt) {
		/* Long names are truncated to msglen rather than refused. */
		fail(status, msg, msglen, 400, "%s-%s runtime is unknown", language->u.string, version->u.string);
		return NULL;
	}
	bool any_utf8 = false;
	for (size_t i = 0; i < files->len && !any_utf8; i++) {
		const json_value *enc = json_get(json_at(files, i), "encoding");
		any_utf8 = !js_truthy(enc) || (json_is(enc, JSON_STRING) && !strcmp(enc->u.string, "utf8"));
	}
	if (!any_utf8) {
		fail(status, msg, msglen, 400, "files must include at least one utf8 encoded file");
		return NULL;
	}
	if (!e->jobs || !e->sandbox) {
		fail(status, msg, msglen, 503, "the sandbox is not available on this engine%s%s",
		     e->jobs && e->jobs->sandbox_error[0] ? ": " : "",
		     e->jobs ? e->jobs->sandbox_error : "");
		return NULL;
	}

	job *j = calloc(1, sizeof *j);
	if (!j) {
		fail(status, msg, msglen, 503, "out of memory");
		return NULL;
	}
	j->e = e;
	j->rt = rt;
	j->rs = rs;
	runtimes_ref(rs);
	j->interactive = interactive;
	const json_value *args = json_get(root, "args");
	const json_value *in = json_get(root, "stdin");
	if (args && !json_is(args, JSON_NULL) && !json_is(args, JSON_ARRAY)) {
		fail(status, msg, msglen, 400, "args must be an array of strings");
		goto bad;
	}
	if (in && !json_is(in, JSON_NULL) && !json_is(in, JSON_STRING)) {
		fail(status, msg, msglen, 400, "stdin must be a string");
		goto bad;
	}
	if (parse_limits(j, root, status, msg, msglen) || parse_files(j, files, status, msg, msglen) ||
	    build_argv_env(j, json_is(args, JSON_ARRAY) ? args : NULL, status, msg, msglen))
		goto bad;
	if (outfiles_parse(json_get(root, "output_files"), &j->outfiles, msg, msglen) < 0) {
		*status = 400;
		goto bad;
	}
	if (!interactive) {
		/* Upstream appends a newline to stdin when it lacks one. */
		const char *s = json_is(in, JSON_STRING) ? in->u.string : "";
		size_t n = json_is(in, JSON_STRING) ? in->len : 0;
		if (n > 0 && s[n - 1] == '\n') {
			j->stdin_data = s;
			j->stdin_len = n;
		} else {
			j->stdin_copy = malloc(n + 1);
			if (!j->stdin_copy) {
				fail(status, msg, msglen, 503, "out of memory");
				goto bad;
			}
			memcpy(j->stdin_copy, s, n);
			j->stdin_copy[n] = '\n';
			j->stdin_data = j->stdin_copy;
			j->stdin_len = n + 1;
		}
	}
	if (tests_requested(j, root, status, msg, msglen) < 0)
		goto bad;
	j->doc = doc;
	j->t_submit = mono_ns();
	return j;
bad:
	job_free(j);
	return NULL;
}

const char *job_language(const job *j) { return j->rt->language; }
const buf *job_output_files(const job *j) { return j->run_files.len ? &j->run_files : NULL; }
const char *job_version(const job *j) { return j->rt->version; }

int job_failed(const job *j, const char **message)
{
	if (message)
		*message = j->fail_msg;
	return j->fail_status;
}

/* ------------------------------------------------------------ execution */

static void dispatch(job_queue *q);
static void stage_start(job *j, bool compile);
static void tests_compiled(job *j);
static void lower_release(job *j);
static int cache_run_box(job *j);
static void tests_cancel(job *j);
static bool tests_dispatch(job_queue *q);

static bool stage_failed(const sbx_result *r)
{
	return r->status[0] || !r->exited || r->code != 0;
}

/* Where the job's time went so far (stats.h): what is neither queueing,
 * the programs' run nor teardown is set-up (box, files, sandbox start). */
static stats_latency job_latency(const job *j)
{
	uint64_t now = mono_ns();
	stats_latency lat = { .total_us = (now - j->t_submit) / 1000u };
	if (!j->t_start) {
		lat.queue_us = lat.total_us;
		return lat;
	}
	lat.queue_us = (j->t_start - j->t_submit) / 1000u;
	uint64_t busy = (now - j->t_start) / 1000u;
	lat.run_us = j->run_us;
	lat.teardown_us = j->teardown_us;
	lat.setup_us = busy > j->run_us + j->teardown_us ? busy - j->run_us - j->teardown_us : 0;
	return lat;
}

/* Tell the owner first (the answer goes out now), then release the box and
 * the slot (unmounting the box's tmpfs costs milliseconds), free the job and
 * start the next one. */
static void job_finish(job *j)
{
	engine *e = j->e;
	job_queue *q = e->jobs;
	if (j->state == JOB_RUNNING)
		list_remove(&q->running, j);
	j->state = JOB_DONE;
	if (e->stats) {
		const char *status = j->fail_status ? "error"
			: j->has_run_res ? j->run_res.status
			: j->has_compile_res ? j->compile_res.status : j->has_tests ? "" : "XX";
		stats_latency lat = job_latency(j);
		stats_job_done(e->stats, j->rt->language, status, &lat);
	}
	j->ev.on_done(j->ev.arg, j);
	if (j->box) {
		sbx_box_destroy(j->box);
		j->box = NULL;
	}
	lower_release(j);
	bool had_slot = j->has_slot;
	unsigned slot = j->slot;
	if (j->has_slot) {
		q->free_slots[q->nfree++] = j->slot;
		j->has_slot = false;
	}
	job_free(j);
	dispatch(q);
	/* The slot is on top of the free stack, so the next job takes it: give
	 * it an empty box now, while the client reads its answer. */
	if (had_slot && q->nfree && q->free_slots[q->nfree - 1] == slot && !q->spare[slot] && !e->shutting_down) {
		char err[256];
		q->spare[slot] = sbx_box_create(e->sandbox, slot, cfg.box_size, err, sizeof err);
	}
}

static void job_fail(job *j, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The key of a compile: everything its result depends on. */
static void cache_key_make(job *j)
{
	br_sha256_context c;
	br_sha256_init(&c);
	br_sha256_update(&c, "piston compile cache 1", 23);
	br_sha256_update(&c, j->rt->pkg_dir, strlen(j->rt->pkg_dir) + 1);
	br_sha256_update(&c, j->rt->language, strlen(j->rt->language) + 1);
	br_sha256_update(&c, j->pkg_identity, sizeof j->pkg_identity);
	uint64_t n = j->nfiles;
	br_sha256_update(&c, &n, sizeof n);
	for (size_t i = 0; i < j->nfiles; i++) {
		const job_file *f = &j->files[i];
		uint64_t lens[3] = { strlen(f->name), f->len, f->utf8 };
		br_sha256_update(&c, lens, sizeof lens);
		br_sha256_update(&c, f->name, lens[0]);
		br_sha256_update(&c, f->data, f->len);
	}
	const sbx_limits *l = &j->compile_limits;
	uint64_t lim[] = { l->wall_ms, l->cpu_ms, (uint64_t)l->memory_bytes, l->max_procs, l->max_open_files,
	                   l->max_file_size, l->max_stack, l->output_max, cfg.box_size };
	br_sha256_update(&c, lim, sizeof lim);
	/* The compile's own environment (e.g. Judge0's compiler options). */
	const char *ce = j->compile_env ? j->compile_env : "";
	br_sha256_update(&c, ce, strlen(ce) + 1);
	br_sha256_out(&c, j->cache_key);
}

/* The compile box becomes the cache's (a clean compile that fits): from
 * here on it is only ever a read-only lower layer. */
static void cache_keep(job *j)
{
	job_queue *q = j->e->jobs;
	if (!j->cacheable || !q->cache || !j->box)
		return;
	j->centry = ccache_put(q->cache, j->cache_key, j->box, &j->compile_res, j->rt->pkg_dir, j->pkg_identity);
	j->box = NULL;
	j->lower = j->centry ? ccache_box(j->centry) : NULL;
}

static void lower_release(job *j)
{
	if (j->centry)
		ccache_release(j->e->jobs->cache, j->centry);
	else if (j->lower)
		sbx_box_destroy(j->lower);
	j->centry = NULL;
	j->lower = NULL;
}
static void job_fail(job *j, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->fail_msg, sizeof j->fail_msg, fmt, ap);
	va_end(ap);
	j->fail_status = status;
	job_finish(j);
}

static void on_stage_output(void *arg, sbx_stream s, const char *data, size_t n)
{
	job *j = arg;
	if (j->ev.on_output)
		j->ev.on_output(j->ev.arg, j, s, data, n);
}

/* A cacheable plain request: the compiled box goes to the cache and the run
 * gets a fresh box over it, as on a hit. 0, or -1 (the job failed). */
static int cache_run_box(job *j)
{
	sbx_box_usage u;
	if (sbx_box_usage_get(j->box, &u) == 0 && u.full)
		return 0;   /* a compile that filled its box is not kept: run as ever */
	cache_keep(j);
	if (!j->lower)
		return 0;
	char err[256] = "";
	j->box = sbx_box_create(j->e->sandbox, j->slot, cfg.box_size, err, sizeof err);
	if (!j->box || sbx_box_make_upper(j->box) < 0) {
		job_fail(j, 500, "could not create the job's box: %s", j->box ? strerror(errno) : err);
		return -1;
	}
	return 0;
}

static void on_stage_done(void *arg, sbx_result *res)
{
	job *j = arg;
	bool compile = j->stage[0] == 'c';
	j->run = NULL;
	j->run_us += res->run_us;
	j->teardown_us += res->teardown_us;
	if (compile) {
		j->compile_res = *res;
		j->has_compile_res = true;
	} else {
		j->run_res = *res;
		j->has_run_res = true;
	}
	memset(res, 0, sizeof *res);
	const sbx_result *r = compile ? &j->compile_res : &j->run_res;
	/* Now: the stage's processes are gone, nothing else uses the box yet. */
	/* A run over a kept compile (the cache) wrote only its upper layer:
	 * that first, then the compiled box below it, as for a test. */
	bool layered = j->lower && sbx_overlay_available(j->e->sandbox);
	if (!compile && j->outfiles.n && j->box &&
	    outfiles_collect_box(sbx_box_dirfd(j->box), layered, layered ? sbx_box_dirfd(j->lower) : -1, &j->outfiles,
	                         cfg.output_files_max_size, &j->run_files) < 0) {
		j->fail_status = 500;
		snprintf(j->fail_msg, sizeof j->fail_msg, "out of memory reading output_files");
	}
	if (j->ev.on_stage_done)
		j->ev.on_stage_done(j->ev.arg, j, j->stage, r);
	if (j->has_tests) {
		tests_compiled(j);
	} else if (compile && !stage_failed(r)) {
		if (j->cacheable && cache_run_box(j) < 0)
			return;
		stage_start(j, false);
	} else {
		job_finish(j);
	}
}

static void stage_start(job *j, bool compile)
{
	j->stage = compile ? "compile" : "run";
	if (j->ev.on_stage)
		j->ev.on_stage(j->ev.arg, j, j->stage);
	sbx_spec spec = {
		.pkg_dir = j->rt->pkg_dir,
		.box = j->box,
		.lower = compile ? NULL : j->lower,
		.slot = j->slot,
		.argv = compile ? j->compile_argv : j->run_argv,
		.envp = compile && j->compile_envp ? j->compile_envp : j->envp,
		.stdin_data = compile ? NULL : j->stdin_data,
		.stdin_len = compile ? 0 : j->stdin_len,
		.interactive = j->interactive && !compile,
		.limits = compile ? j->compile_limits : j->run_limits,
	};
	sbx_callbacks cb = {on_stage_output, on_stage_done, j};
	char err[256] = "";
	j->run = sbx_start(j->e->sandbox, j->e->loop, &spec, &cb, err, sizeof err);
	if (!j->run) {
		/* Report it as the stage's internal error, like a sandbox failure. */
		sbx_result r = {0};
		snprintf(r.status, sizeof r.status, "XX");
		snprintf(r.message, sizeof r.message, "could not start the %s stage: %s", j->stage, err);
		log_error("job %s-%s: %s", j->rt->language, j->rt->version, r.message);
		on_stage_done(j, &r);
		return;
	}
	if (spec.interactive && j->pending_stdin.len) {
		sbx_write_stdin(j->run, j->pending_stdin.data, j->pending_stdin.len);
		buf_free(&j->pending_stdin);
	}
	if (spec.interactive && j->stdin_eof)
		sbx_close_stdin(j->run);
}

static void job_begin(job *j, unsigned slot)
{
	job_queue *q = j->e->jobs;
	j->slot = slot;
	j->has_slot = true;
	j->state = JOB_RUNNING;
	list_push(&q->running, j);
	j->t_start = mono_ns();
	char err[256] = "";
	j->box = q->spare[slot];
	q->spare[slot] = NULL;
	if (!j->box)
		j->box = sbx_box_create(j->e->sandbox, slot, cfg.box_size, err, sizeof err);
	if (!j->box) {
		job_fail(j, 500, "could not create the job's box: %s", err);
		return;
	}
	j->cacheable = q->cache && j->rt->has_compile && !j->interactive &&
	               ccache_pkg_identity(j->rt->pkg_dir, j->pkg_identity) == 0;
	if (j->cacheable) {
		cache_key_make(j);
		j->centry = ccache_get(q->cache, j->cache_key);
	}
	if (j->centry) {
		/* A hit: the recorded compile, and what it left as the lower layer. */
		j->lower = ccache_box(j->centry);
		if (ccache_result_copy(&j->compile_res, ccache_result(j->centry)) < 0) {
			job_fail(j, 500, "out of memory");
			return;
		}
		j->has_compile_res = j->compile_cached = true;
		if (j->ev.on_primed)
			j->ev.on_primed(j->ev.arg, j);
		if (j->has_tests) {
			tests_compiled(j);
			return;
		}
		if (sbx_box_make_upper(j->box) < 0) {
			job_fail(j, 500, "could not prepare the job's box: %s", strerror(errno));
			return;
		}
		stage_start(j, false);
		return;
	}
	for (size_t i = 0; i < j->nfiles; i++) {
		const job_file *f = &j->files[i];
		if (sbx_box_write(j->box, f->name, f->data, f->len, 0644) < 0) {
			int saved = errno;
			if (saved == ENOSPC || saved == EDQUOT || saved == EFBIG)
				job_fail(j, 413, "files are larger than the box allows (%" PRIu64 " bytes)", cfg.box_size);
			else if (saved == ENOMEM || saved == EIO)
				job_fail(j, 500, "could not write files[%zu]: %s", i, strerror(saved));
			else
				job_fail(j, 400, "files[%zu].name cannot be written: %s", i, strerror(saved));
			return;
		}
	}
	if (j->ev.on_primed)
		j->ev.on_primed(j->ev.arg, j);
	if (j->has_tests && !j->rt->has_compile)
		tests_compiled(j);   /* nothing to compile here: the tests begin */
	else
		stage_start(j, j->rt->has_compile);
}

static void dispatch(job_queue *q)
{
	if (q->dispatching)
		return;   /* the outer call's loop picks up the slot */
	q->dispatching = true;
	while (q->nfree > 0 && q->waiting.head) {   /* also while shutting down: queued work finishes */
		job *j = q->waiting.head;
		list_remove(&q->waiting, j);
		job_begin(j, q->free_slots[--q->nfree]);
	}
	/* Then the slots left over go to running jobs' pending tests. */
	while (q->nfree > 0 && !q->waiting.head && tests_dispatch(q))
		;
	q->dispatching = false;
}

/* ---------------------------------------------------------------- tests */

/* May j's tests take one more slot? The one it has, always; more while no
 * request waits; otherwise at most half the slots: one big batch must not
 * starve the queue. */
static bool test_slot_allowed(const job_queue *q, const job *j)
{
	if (j->lower_alone && j->tests_running > 0)
		return false;
	unsigned cap = q->nslots / 2 ? q->nslots / 2 : 1;
	return j->tests_running == 0 || !q->waiting.head || j->tests_running < cap;
}

static test_case *test_next_pending(job *j)
{
	while (j->tests_next < j->tests.n && j->tests.t[j->tests_next].state != TEST_PENDING)
		j->tests_next++;
	return j->tests_next < j->tests.n ? &j->tests.t[j->tests_next] : NULL;
}

static void test_stop(job_queue *q, test_case *tc)
{
	if (tc->run)
		sbx_cancel(tc->run);
	tc->run = NULL;
	if (tc->box)
		sbx_box_destroy(tc->box);
	tc->box = NULL;
	if (tc->state == TEST_RUNNING) {
		q->free_slots[q->nfree++] = tc->slot;
		((job *)tc->job)->tests_running--;
	}
}

/* stop_on_failure: the tests after `after` are not run (SK). */
static void tests_skip_after(job *j, size_t after)
{
	for (size_t k = after + 1; k < j->tests.n; k++) {
		test_case *tc = &j->tests.t[k];
		if (tc->state == TEST_RUNNING || tc->state == TEST_PENDING) {
			test_stop(j->e->jobs, tc);
			tc->state = TEST_SKIPPED;
		}
	}
}

static void tests_cancel(job *j)
{
	if (!j->has_tests)
		return;
	for (size_t k = 0; k < j->tests.n; k++)
		if (j->tests.t[k].state == TEST_RUNNING)
			test_stop(j->e->jobs, &j->tests.t[k]);
}

static void test_stage_done(void *arg, sbx_result *res);

/* Run tc's next stage in its box: its own compile (no overlay), or the
 * test. 0, or -1 (res filled with an XX result). */
static int test_stage(job *j, test_case *tc, bool compile, sbx_result *res)
{
	bool overlay = sbx_overlay_available(j->e->sandbox);
	tc->compiling = compile;
	sbx_spec spec = {
		.pkg_dir = j->rt->pkg_dir,
		.box = tc->box,
		.lower = overlay ? j->lower : NULL,
		.slot = tc->slot,
		.argv = compile ? j->compile_argv : tc->argv ? tc->argv : j->run_argv,
		.envp = compile && j->compile_envp ? j->compile_envp : j->envp,
		.stdin_data = compile ? NULL : tc->stdin_data,
		.stdin_len = compile ? 0 : tc->stdin_len,
		.limits = compile ? j->compile_limits : tc->limits,
	};
	sbx_callbacks cb = {NULL, test_stage_done, tc};
	char err[256] = "";
	tc->run = sbx_start(j->e->sandbox, j->e->loop, &spec, &cb, err, sizeof err);
	if (tc->run)
		return 0;
	memset(res, 0, sizeof *res);
	snprintf(res->status, sizeof res->status, "XX");
	snprintf(res->message, sizeof res->message, "could not start the test: %s", err);
	log_error("job %s-%s: %s", j->rt->language, j->rt->version, res->message);
	return -1;
}

/* Start tc on slot. 0: running; -1: it could not start and is done (an XX
 * result) -- the slot is still the caller's. */
static int test_start(job *j, test_case *tc, unsigned slot)
{
	job_queue *q = j->e->jobs;
	bool overlay = sbx_overlay_available(j->e->sandbox);
	tc->job = j;
	tc->slot = slot;
	sbx_result res = {0};
	char err[256] = "";
	tc->box = q->spare[slot];
	q->spare[slot] = NULL;
	if (!tc->box)
		tc->box = sbx_box_create(j->e->sandbox, slot, cfg.box_size, err, sizeof err);
	if (!tc->box) {
		snprintf(res.status, sizeof res.status, "XX");
		snprintf(res.message, sizeof res.message, "could not create the test's box: %s", err);
	} else if (overlay ? sbx_box_make_upper(tc->box) < 0 : 0) {
		snprintf(res.status, sizeof res.status, "XX");
		snprintf(res.message, sizeof res.message, "could not prepare the test's box: %s", strerror(errno));
	} else {
		for (size_t i = 0; !overlay && i < j->nfiles && !res.status[0]; i++)
			if (sbx_box_write(tc->box, j->files[i].name, j->files[i].data, j->files[i].len, 0644) < 0) {
				snprintf(res.status, sizeof res.status, "XX");
				snprintf(res.message, sizeof res.message, "could not write files[%zu]: %s", i, strerror(errno));
			}
		if (!res.status[0] && test_stage(j, tc, !overlay && j->rt->has_compile, &res) == 0) {
			tc->state = TEST_RUNNING;
			j->tests_running++;
			return 0;
		}
	}
	if (tc->box)
		sbx_box_destroy(tc->box);
	tc->box = NULL;
	tc->res = res;
	tc->has_res = true;
	tc->state = TEST_DONE;
	return -1;
}

/* j holds `slot` (a test of its ended, or the queue gave it one): run its
 * next tests there while it may, else give the slot back; finish the job
 * when nothing is left. j may be freed on return. */
static void tests_use_slot(job *j, unsigned slot)
{
	job_queue *q = j->e->jobs;
	for (;;) {
		test_case *next = test_next_pending(j);
		if (!next || !test_slot_allowed(q, j))
			break;
		j->tests_next++;
		if (test_start(j, next, slot) == 0) {
			dispatch(q);   /* more free slots may take more tests */
			return;
		}
		if (j->tests.stop_on_failure && test_failed(&j->tests, next))
			tests_skip_after(j, next->index);
	}
	q->free_slots[q->nfree++] = slot;
	if (!j->tests_running && !test_next_pending(j))
		job_finish(j);
	else
		dispatch(q);
}

static void test_stage_done(void *arg, sbx_result *res)
{
	test_case *tc = arg;
	job *j = tc->job;
	tc->run = NULL;
	if (tc->compiling && !stage_failed(res)) {
		sbx_result_free(res);
		sbx_result r;
		if (test_stage(j, tc, false, &r) == 0)
			return;
		*res = r;
	}
	tc->res = *res;
	memset(res, 0, sizeof *res);
	tc->has_res = true;
	tc->state = TEST_DONE;
	/* Its files, before its box goes: the upper layer it wrote, then the
	 * compiled box below it (never through the overlay itself). */
	if (tc->box && j->outfiles.n) {
		bool layered = j->lower && sbx_overlay_available(j->e->sandbox);
		if (outfiles_collect_box(sbx_box_dirfd(tc->box), layered, layered ? sbx_box_dirfd(j->lower) : -1,
		                         &j->outfiles, cfg.output_files_max_size, &tc->files) < 0) {
			j->fail_status = 500;
			snprintf(j->fail_msg, sizeof j->fail_msg, "out of memory reading output_files");
		}
	}
	if (tc->box)
		sbx_box_destroy(tc->box);
	tc->box = NULL;
	j->tests_running--;
	j->lower_alone = false;
	if (j->e->stats)
		stats_test_run(j->e->stats, tc->res.status);
	if (j->tests.stop_on_failure && test_failed(&j->tests, tc))
		tests_skip_after(j, tc->index);
	tests_use_slot(j, tc->slot);
}

/* The compile is over (or there is none): the tests begin on the job's
 * slot, over what the compile left. */
static void tests_compiled(job *j)
{
	sbx_system *sys = j->e->sandbox;
	sbx_box_usage u;
	/* What a compile may leave is bounded by its box's caps; one that hit
	 * them (whether it noticed or not) fails the request, clearly. */
	if (j->has_compile_res && !j->compile_cached && sbx_box_usage_get(j->box, &u) == 0 && u.full) {
		snprintf(j->compile_res.status, sizeof j->compile_res.status, "EL");
		snprintf(j->compile_res.message, sizeof j->compile_res.message,
		         "the compile stage filled its box (%" PRIu64 " of %" PRIu64 " bytes, %" PRIu64 " of %" PRIu64
		         " files): no test is run over it", u.bytes, u.max_bytes, u.inodes, u.max_inodes);
	}
	if (j->has_compile_res && stage_failed(&j->compile_res)) {
		job_finish(j);   /* every test SK */
		return;
	}
	if (j->compile_cached) {
		sbx_box_destroy(j->box);   /* the cached box is the lower layer */
	} else if (sbx_overlay_available(sys)) {
		if (j->has_compile_res)
			cache_keep(j);
		if (!j->lower)
			j->lower = j->box;
		j->lower_alone = !j->has_compile_res && sbx_lower_first_use_alone(sys);
	} else {
		sbx_box_destroy(j->box);   /* each test writes and compiles its own */
	}
	j->box = NULL;
	j->tests_begun = true;
	j->has_slot = false;
	tests_use_slot(j, j->slot);
}

/* One free slot to a running job's pending tests, round robin; false if
 * none may take it. */
static bool tests_dispatch(job_queue *q)
{
	for (job *j = q->running.head; j; j = j->next) {
		if (!j->has_tests || !j->tests_begun || !test_next_pending(j) || !test_slot_allowed(q, j))
			continue;
		list_remove(&q->running, j);
		list_push(&q->running, j);
		tests_use_slot(j, q->free_slots[--q->nfree]);
		return true;
	}
	return false;
}

static bool queue_full(const job_queue *q)
{
	return q->nfree == 0 && q->waiting.len >= cfg.max_queued_jobs;
}

int job_start(job *j, const job_events *ev, char *msg, size_t msglen)
{
	job_queue *q = j->e->jobs;
	if (queue_full(q)) {
		snprintf(msg, msglen, "Too many jobs are waiting (%zu); try again later", q->waiting.len);
		if (j->e->stats)
			stats_job_rejected(j->e->stats);
		job_free(j);
		return -1;
	}
	j->ev = *ev;
	j->state = JOB_QUEUED;
	list_push(&q->waiting, j);
	dispatch(q);
	return 0;
}

void job_cancel(job *j)
{
	job_queue *q = j->e->jobs;
	if (j->state == JOB_QUEUED) {
		list_remove(&q->waiting, j);
	} else if (j->state == JOB_RUNNING) {
		tests_cancel(j);
		if (j->run) {
			sbx_cancel(j->run);
			j->run = NULL;
		}
		if (j->box)
			sbx_box_destroy(j->box);
		j->box = NULL;
		lower_release(j);
		if (j->has_slot)
			q->free_slots[q->nfree++] = j->slot;
		j->has_slot = false;
		list_remove(&q->running, j);
	}
	if (j->e->stats && j->state != JOB_NEW) {
		stats_latency lat = job_latency(j);
		stats_job_done(j->e->stats, j->rt->language, "cancelled", &lat);
	}
	j->state = JOB_DONE;
	job_free(j);
	dispatch(q);
}

int job_write_stdin(job *j, const char *data, size_t n)
{
	if (!j->interactive)
		return -1;
	if (j->run && j->stage && j->stage[0] == 'r')
		return sbx_write_stdin(j->run, data, n);
	if (j->pending_stdin.len + n > 1024 * 1024)
		return -1;   /* bounded: a client cannot park unbounded data here */
	buf_append(&j->pending_stdin, data, n);
	return buf_failed(&j->pending_stdin) ? -1 : 0;
}

void job_close_stdin(job *j)
{
	if (!j->interactive || j->stdin_eof)
		return;
	j->stdin_eof = true;
	if (j->run && j->stage && j->stage[0] == 'r')
		sbx_close_stdin(j->run);
}

sbx_limits *job_stage_limits(job *j, bool run)
{
	return run ? &j->run_limits : &j->compile_limits;
}

int job_set_compile_env(job *j, const char *name, const char *value)
{
	if (j->compile_env || strchr(name, '=')) {
		errno = EINVAL;
		return -1;
	}
	size_t nl = strlen(name), vl = strlen(value), n = 0;
	while (j->envp[n])
		n++;
	j->compile_env = malloc(nl + vl + 2);
	j->compile_envp = malloc((n + 2) * sizeof *j->compile_envp);
	if (!j->compile_env || !j->compile_envp) {
		free(j->compile_env);
		free(j->compile_envp);
		j->compile_env = NULL;
		j->compile_envp = NULL;
		errno = ENOMEM;
		return -1;
	}
	memcpy(j->compile_env, name, nl);
	j->compile_env[nl] = '=';
	memcpy(j->compile_env + nl + 1, value, vl + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)   /* the package's own value of NAME gives way */
		if (strncmp(j->envp[i], name, nl) || j->envp[i][nl] != '=')
			j->compile_envp[k++] = j->envp[i];
	j->compile_envp[k++] = j->compile_env;
	j->compile_envp[k] = NULL;
	return 0;
}

int job_signal(job *j, int signo)
{
	if (!j->run)
		return -1;
	return sbx_signal(j->run, signo);
}

/* ------------------------------------------------------------- response */

static void write_compile(jw *w, const job *j)
{
	jw_object_begin(w);
	sbx_result_write_fields(w, &j->compile_res);
	if (j->compile_cached) {
		jw_key(w, "cached");
		jw_bool(w, true);
	}
	jw_object_end(w);
}

void job_render(const job *j, buf *out)
{
	jw w;
	/* Output files may be megabytes: one allocation, not a doubling chain. */
	if (j->run_files.len)
		buf_reserve(out, j->run_files.len + 4096);
	jw_init(&w, out);
	jw_object_begin(&w);
	jw_key(&w, "language");
	jw_string(&w, j->rt->language);
	jw_key(&w, "version");
	jw_string(&w, j->rt->version);
	if (j->has_tests) {
		if (j->has_compile_res) {
			jw_key(&w, "compile");
			write_compile(&w, j);
		}
		tests_render(&w, &j->tests);
		jw_object_end(&w);
		return;
	}
	jw_key(&w, "run");
	jw_object_begin(&w);
	sbx_result_write_fields(&w, j->has_run_res ? &j->run_res : &j->compile_res);
	if (j->has_run_res && j->run_files.len) {
		jw_key(&w, "files");
		jw_raw(&w, j->run_files.data, j->run_files.len);
	}
	jw_object_end(&w);
	if (j->has_compile_res) {
		jw_key(&w, "compile");
		write_compile(&w, j);
	}
	jw_object_end(&w);
}

/* -------------------------------------------------------- HTTP endpoint */

static void http_job_done(void *arg, job *j)
{
	http_conn *c = arg;
	const char *message;
	int status = job_failed(j, &message);
	if (status) {
		http_respond_error(c, status, message);
		return;
	}
	buf out = BUF_INIT;
	job_render(j, &out);
	if (buf_failed(&out))
		http_respond_error(c, 500, "out of memory");
	else
		http_respond_json(c, 200, out.data, out.len);
	buf_free(&out);
}

static void http_client_gone(void *arg)
{
	job_cancel(arg);
}

static void execute_handler(http_conn *c, const http_request *req, void *ctx)
{
	engine *e = ctx;
	if (health_refuse_if_draining(e, c))
		return;
	json_error jerr;
	char msg[512];
	int status = 400;
	json_doc *doc = json_parse(req->body ? req->body : "", req->body_len, &jerr);
	if (!doc) {
		snprintf(msg, sizeof msg, "Invalid JSON body: %s at byte %zu", jerr.message, jerr.offset);
		if (e->stats)
			stats_job_invalid(e->stats);
		http_respond_error(c, 400, msg);
		return;
	}
	job *j = job_new(e, doc, json_root(doc), false, &status, msg, sizeof msg);
	if (!j) {
		json_free(doc);
		if (e->stats && status == 400)
			stats_job_invalid(e->stats);
		http_respond_error(c, status, msg);
		return;
	}
	job_events ev = {.on_done = http_job_done, .arg = c};
	if (queue_full(e->jobs)) {
		job_start(j, &ev, msg, sizeof msg);   /* refuses, frees, counts it */
		http_respond_error(c, 503, msg);
		return;
	}
	/* Set before queueing: on_done may run before job_start returns. */
	http_conn_on_close(c, http_client_gone, j);
	job_start(j, &ev, msg, sizeof msg);
}

/* ------------------------------------------------------------- registry */

void execute_register(engine *e)
{
	job_queue *q = calloc(1, sizeof *q);
	unsigned slots = cfg.max_concurrent_jobs ? cfg.max_concurrent_jobs : 1;
	if (!q || !(q->free_slots = malloc(slots * sizeof *q->free_slots)) ||
	    !(q->spare = calloc(slots, sizeof *q->spare))) {
		log_error("execute: out of memory");
		if (q)
			free(q->free_slots);
		free(q);
		return;
	}
	q->e = e;
	q->nslots = q->nfree = slots;
	for (unsigned i = 0; i < slots; i++)
		q->free_slots[i] = slots - 1 - i;   /* pop gives slot 0 first */
	if (cfg.limit_overrides_json) {
		json_error jerr;
		q->overrides = json_parse(cfg.limit_overrides_json, strlen(cfg.limit_overrides_json), &jerr);
		if (!q->overrides)
			log_warn("PISTON_LIMIT_OVERRIDES ignored: %s", jerr.message);
	}
	e->jobs = q;
	if (!e->sandbox) {
		e->sandbox = sbx_system_init(slots, q->sandbox_error, sizeof q->sandbox_error);
		if (!e->sandbox)
			log_error("sandbox unavailable, jobs will be refused: %s", q->sandbox_error);
	}
	if (e->sandbox && cfg.compile_cache_size && sbx_overlay_available(e->sandbox))
		q->cache = ccache_new(cfg.compile_cache_size);
	http_route(e->http, "POST", "/api/v2/execute", execute_handler, e);
}

void execute_unregister(engine *e)
{
	job_queue *q = e->jobs;
	if (!q)
		return;
	while (q->waiting.head)
		job_cancel(q->waiting.head);
	while (q->running.head)
		job_cancel(q->running.head);
	for (unsigned i = 0; i < q->nslots; i++)
		if (q->spare[i])
			sbx_box_destroy(q->spare[i]);
	free(q->spare);
	ccache_free(q->cache);
	json_free(q->overrides);
	free(q->free_slots);
	free(q);
	e->jobs = NULL;
}

bool execute_package_in_use(engine *e, const char *pkg_dir)
{
	job_queue *q = e->jobs;
	if (!q)
		return false;
	for (job *j = q->running.head; j; j = j->next)
		if (!strcmp(j->rt->pkg_dir, pkg_dir))
			return true;
	for (job *j = q->waiting.head; j; j = j->next)
		if (!strcmp(j->rt->pkg_dir, pkg_dir))
			return true;
	return false;
}

size_t execute_running(engine *e)
{
	/* Each test run holds a slot of its own: count slots, not jobs. */
	return e->jobs ? e->jobs->nslots - e->jobs->nfree : 0;
}

size_t execute_queued(engine *e)
{
	job_queue *q = e->jobs;
	if (!q)
		return 0;
	size_t n = q->waiting.len;
	for (job *j = q->running.head; j; j = j->next)
		if (j->has_tests)
			n += j->tests.n - j->tests_next;
	return n;
}

void execute_packages_changed(engine *e)
{
	if (e->jobs && e->jobs->cache)
		ccache_drop_changed(e->jobs->cache);
}

void execute_cache_stats(engine *e, ccache_stats *out)
{
	ccache_stats_get(e->jobs ? e->jobs->cache : NULL, out);
}
