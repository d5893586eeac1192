/*
 * judge0: see judge0.h. A submission's life: validate the Judge0 body
 * (422 field errors) -> a Piston execute body (json text) -> job_new ->
 * job_start; the stage results are copied as they end (on_stage_done), the
 * status is computed at on_done, and number_of_runs repeats the job with
 * the same body. Waiting clients (wait=true) are answered at the end.
 */
#include "judge0.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "config.h"
#include "execute.h"
#include "j0_callback.h"
#include "journal.h"
#include "json.h"
#include "log.h"
#include "stats.h"
#include "tar.h"
#include "tokmap.h"
#include "unzip.h"

#define J0_VERSION "1.13.0"
#define J0_TEXT_MAX 512           /* compiler_options, command_line_arguments */

/* ------------------------------------------------------------ languages */

typedef struct j0_lang {
	int id;
	const char *name;       /* Judge0's name without the version */
	const char *prefix;     /* before our version inside the parentheses */
	const char *language;   /* our language name (or an alias of it) */
	const char *selector;   /* which of our versions */
	const char *source;     /* Judge0's source file name */
	bool listed;            /* false: an older id that maps to the same runtime */
} j0_lang;

/* Judge0 CE 1.13's ids. */
static const j0_lang langs[] = {
	{45, "Assembly", "NASM ", "nasm64", "*", "main.asm", true},
	{46, "Bash", "", "bash", "*", "script.sh", true},
	{47, "Basic", "FBC ", "basic", "*", "main.bas", true},
	{48, "C", "GCC ", "c", "*", "main.c", false},
	{49, "C", "GCC ", "c", "*", "main.c", false},
	{50, "C", "GCC ", "c", "*", "main.c", true},
	{51, "C#", "Mono ", "csharp", "*", "Main.cs", true},
	{52, "C++", "GCC ", "c++", "*", "main.cpp", false},
	{53, "C++", "GCC ", "c++", "*", "main.cpp", false},
	{54, "C++", "GCC ", "c++", "*", "main.cpp", true},
	{55, "Common Lisp", "SBCL ", "lisp", "*", "script.lisp", true},
	{56, "D", "DMD ", "d", "*", "main.d", true},
	{57, "Elixir", "", "elixir", "*", "script.exs", true},
	{58, "Erlang", "OTP ", "erlang", "*", "main.erl", true},
	{59, "Fortran", "GFortran ", "fortran", "*", "main.f90", true},
	{60, "Go", "", "go", "*", "main.go", true},
	{61, "Haskell", "GHC ", "haskell", "*", "main.hs", true},
	{62, "Java", "OpenJDK ", "java", "*", "Main.java", true},
	{63, "JavaScript", "Node.js ", "javascript", "*", "script.js", true},
	{64, "Lua", "", "lua", "*", "script.lua", true},
	{65, "OCaml", "", "ocaml", "*", "main.ml", true},
	{66, "Octave", "", "octave", "*", "script.m", true},
	{67, "Pascal", "FPC ", "pascal", "*", "main.pas", true},
	{68, "PHP", "", "php", "*", "script.php", true},
	{69, "Prolog", "GNU Prolog ", "prolog", "*", "main.pro", true},
	{70, "Python", "", "python", "2.x", "script.py", true},
	{71, "Python", "", "python", ">=3", "script.py", true},
	{72, "Ruby", "", "ruby", "*", "script.rb", true},
	{73, "Rust", "", "rust", "*", "main.rs", true},
	{74, "TypeScript", "", "typescript", "*", "script.ts", true},
	{77, "COBOL", "GnuCOBOL ", "cobol", "*", "main.cob", true},
	{78, "Kotlin", "", "kotlin", "*", "Main.kt", true},
	{79, "Objective-C", "", "objective-c", "*", "main.m", true},
	{80, "R", "", "r", "*", "script.r", true},
	{81, "Scala", "", "scala", "*", "Main.scala", true},
	{82, "SQL", "SQLite ", "sqlite3", "*", "script.sql", true},
	{83, "Swift", "", "swift", "*", "Main.swift", true},
	{85, "Perl", "", "perl", "*", "script.pl", true},
	{86, "Clojure", "", "clojure", "*", "main.clj", true},
	{87, "F#", ".NET ", "fsharp", "*", "script.fsx", true},
	{88, "Groovy", "", "groovy", "*", "script.groovy", true},
};
#define NLANGS (sizeof langs / sizeof langs[0])

static const j0_lang *lang_by_id(long id)
{
	for (size_t i = 0; i < NLANGS; i++)
		if (langs[i].id == id)
			return &langs[i];
	return NULL;
}

bool judge0_language_of(long id, const char **language, const char **selector)
{
	const j0_lang *l = lang_by_id(id);
	if (!l)
		return false;
	*language = l->language;
	*selector = l->selector;
	return true;
}

static const runtime *lang_runtime(const engine *e, const j0_lang *l)
{
	return l ? runtimes_find(e->runtimes, l->language, l->selector) : NULL;
}

static void lang_name(const j0_lang *l, const runtime *rt, char *out, size_t n)
{
	snprintf(out, n, "%s (%s%s)", l->name, l->prefix, rt->version);
}

/* Judge0's allowed_languages_for_compile_options: the languages whose
 * package's compile script reads PISTON_COMPILER_OPTIONS (pkgs/gcc). */
#define J0_COMPILER_OPTIONS_LANGS "C and C++"
static bool lang_takes_compiler_options(const j0_lang *l)
{
	return !strcmp(l->name, "C") || !strcmp(l->name, "C++");
}

/* ------------------------------------------------------------- statuses */

static const char *const status_text[] = {
	"", "In Queue", "Processing", "Accepted", "Wrong Answer", "Time Limit Exceeded", "Compilation Error",
	"Runtime Error (SIGSEGV)", "Runtime Error (SIGXFSZ)", "Runtime Error (SIGFPE)",
	"Runtime Error (SIGABRT)", "Runtime Error (NZEC)", "Runtime Error (Other)", "Internal Error",
	"Exec Format Error",
};

const char *judge0_status_text(int id)
{
	return id >= 1 && id <= 14 ? status_text[id] : "";
}

/* Judge0's comparison: each line without trailing whitespace, then the
 * whole without trailing whitespace (so "a \n" equals "a"). */
static size_t next_line(const char *s, size_t n, size_t *pos, size_t *len)
{
	size_t start = *pos, e = start;
	while (e < n && s[e] != '\n')
		e++;
	size_t l = e;
	while (l > start && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
		l--;
	*len = l - start;
	*pos = e < n ? e + 1 : e;
	return start;
}

static size_t rstrip_len(const char *s, size_t n)
{
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	return n;
}

static bool outputs_match(const char *a, size_t an, const char *b, size_t bn)
{
	an = rstrip_len(a, an);
	bn = rstrip_len(b, bn);
	size_t pa = 0, pb = 0;
	while (pa < an || pb < bn) {
		if (pa >= an || pb >= bn)
			return false;
		size_t la, lb;
		size_t sa = next_line(a, an, &pa, &la), sb = next_line(b, bn, &pb, &lb);
		if (la != lb || memcmp(a + sa, b + sb, la))
			return false;
	}
	return true;
}

int judge0_status_of(bool compile_failed, const char *run_status, int signal, bool exited, int code,
                     const char *expected, size_t expected_len, const char *out, size_t out_len)
{
	if (compile_failed)
		return 6;
	if (!strcmp(run_status, "TO"))
		return 5;
	/* EL: a memory or file-size limit; the signal tells which (SIGXFSZ -> 8). */
	if (!strcmp(run_status, "SG") || (!strcmp(run_status, "EL") && signal) || (!run_status[0] && signal)) {
		switch (signal) {
		case SIGSEGV: return 7;
		case SIGXFSZ: return 8;
		case SIGFPE: return 9;
		case SIGABRT: return 10;
		default: return 12;
		}
	}
	if (!strcmp(run_status, "RE") || (exited && code != 0))
		return 11;
	if (!strcmp(run_status, "OL") || !strcmp(run_status, "EL"))
		return 12;
	if (run_status[0])
		return 13;
	if (expected && !outputs_match(expected, expected_len, out, out_len))
		return 4;
	return 3;
}

static uint64_t limit_ms(double seconds)
{
	return (uint64_t)fmax(1, ceil(seconds * 1000));   /* as the execute body: 0 would be "no limit" */
}

void judge0_cpu_limits(double cpu_time_limit, double cpu_extra_time, bool per_process, uint64_t engine_max_ms,
                       uint64_t *stage_ms, uint64_t *per_process_ms)
{
	uint64_t kill_at = limit_ms(cpu_time_limit) + (uint64_t)fmax(0, ceil(cpu_extra_time * 1000));
	if (engine_max_ms && kill_at > engine_max_ms)
		kill_at = engine_max_ms;
	*stage_ms = per_process ? engine_max_ms : kill_at;
	*per_process_ms = per_process ? kill_at : 0;
}

const char *judge0_run_status(const char *stage_status, uint64_t cpu_ms, uint64_t max_process_cpu_ms,
                              double cpu_time_limit, bool per_process)
{
	/* isolate's last check: TO whenever the time is over the limit, killed
	 * or not, before any exit status. */
	if ((per_process ? max_process_cpu_ms : cpu_ms) > limit_ms(cpu_time_limit))
		return "TO";
	return stage_status;
}

/* ---------------------------------------------------------- submissions */

typedef struct text {
	char *p;     /* NULL: null */
	size_t n;
} text;

typedef struct limits {
	double cpu_time_limit, cpu_extra_time, wall_time_limit;
	double memory_limit, stack_limit, max_procs, max_file_size, number_of_runs;
	bool per_proc_time, per_proc_memory, redirect, network;
} limits;

typedef struct judge0 judge0;

typedef struct sub {
	judge0 *owner;
	struct sub *prev, *next;             /* the store, oldest first */
	struct sub *fprev, *fnext;           /* the finished ones, by finished_at (store_expire) */
	char token[37];
	int status;                          /* what clients see: 1, 2, then result */
	int result;                          /* the last run's status */
	bool finished;
	bool b64;                            /* base64_encoded at submission: the callback's encoding */
	bool callback_done;                  /* callback_url delivered, refused or given up */
	int language_id;
	char language_name[96];
	text source, in, expected, compiler_options, args, additional_files, callback_url;
	limits lim;
	/* results */
	text out, err, compile_output;
	char message[256];
	bool has_message, has_exit_code, has_signal, has_time;
	int exit_code, exit_signal;
	double time_sum, wall_sum, mem_sum;   /* over the runs done */
	int runs_done;
	bool compile_failed;
	double created_at, finished_at;      /* realtime seconds */
	char *jrec;                          /* its journal record (kept for compaction) */
	size_t jrec_len;
	/* while running */
	char *body;                          /* the Piston execute request */
	size_t body_len;
	job *j;
	http_conn *waiter;                   /* wait=true */
	journal_waiter *sync_wait;           /* wait=true: its record's fdatasync is pending */
	bool waiter_b64;
	char waiter_fields[512];
} sub;

struct judge0 {
	engine *e;
	sub *head, *tail;   /* oldest first */
	size_t n;
	tokmap index;       /* token -> sub: every one in the store */
	sub *fin_head, *fin_tail;   /* the finished ones, earliest finished_at first */
	journal *jn;        /* DATA/judge0/journal; NULL: submissions are refused */
	uint64_t compact_at;
	bool restoring;     /* replaying the journal: nothing is written to it */
	bool journal_failed;
	j0cb *callbacks;    /* NULL: callback_url is refused (no delivery threads) */
};

/* compaction when the journal doubles past PISTON_JUDGE0_COMPACT_MIN
 * (8 MiB; a knob for tests) */

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void text_free(text *t)
{
	free(t->p);
	t->p = NULL;
	t->n = 0;
}

static int text_set(text *t, const char *s, size_t n)
{
	t->p = malloc(n + 1);
	if (!t->p)
		return -1;
	memcpy(t->p, s, n);
	t->p[n] = 0;
	t->n = n;
	return 0;
}

static void sub_free(sub *s)
{
	if (s->sync_wait)
		journal_waiter_cancel(s->owner->jn, s->sync_wait);
	text *ts[] = {&s->source, &s->in, &s->expected, &s->compiler_options, &s->args, &s->additional_files,
	              &s->callback_url, &s->out, &s->err, &s->compile_output};
	for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
		text_free(ts[i]);
	free(s->body);
	free(s->jrec);
	free(s);
}

static void finished_unlink(judge0 *g, sub *s)
{
	if (!s->fprev && g->fin_head != s)
		return;   /* not in the list */
	if (s->fprev)
		s->fprev->fnext = s->fnext;
	else
		g->fin_head = s->fnext;
	if (s->fnext)
		s->fnext->fprev = s->fprev;
	else
		g->fin_tail = s->fprev;
	s->fprev = s->fnext = NULL;
}

/* Into the finished list by finished_at: from the tail, where a result
 * just made (or one replayed in journal order) belongs. */
static void finished_add(judge0 *g, sub *s)
{
	finished_unlink(g, s);
	sub *after = g->fin_tail;
	while (after && after->finished_at > s->finished_at)
		after = after->fprev;
	s->fprev = after;
	s->fnext = after ? after->fnext : g->fin_head;
	if (s->fnext)
		s->fnext->fprev = s;
	else
		g->fin_tail = s;
	if (after)
		after->fnext = s;
	else
		g->fin_head = s;
}

/* Into the store (the newest) and its index; -1 (ENOMEM): not added. */
static int store_add(judge0 *g, sub *s)
{
	if (tokmap_put(&g->index, s->token, s) < 0)
		return -1;
	s->prev = g->tail;
	if (g->tail)
		g->tail->next = s;
	else
		g->head = s;
	g->tail = s;
	g->n++;
	return 0;
}

static void store_unlink(judge0 *g, sub *s)
{
	tokmap_del(&g->index, s->token);
	finished_unlink(g, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		g->head = s->next;
	if (s->next)
		s->next->prev = s->prev;
	else
		g->tail = s->prev;
	s->prev = s->next = NULL;
	g->n--;
}

/* Drops finished submissions past their TTL, and the earliest finished
 * beyond J0_MAX_KEPT: from the head of the finished list, stopping at the
 * first that stays -- per request O(what expires), not O(the store). */
static void store_expire(judge0 *g)
{
	double now = now_real();
	for (sub *s = g->fin_head, *nx; s; s = nx) {
		nx = s->fnext;
		if (s->sync_wait)   /* a wait=true client is still owed it */
			continue;
		if (now - s->finished_at <= (double)cfg.judge0_result_ttl && g->n <= J0_MAX_KEPT)
			break;
		store_unlink(g, s);
		sub_free(s);
	}
}

static sub *store_find(judge0 *g, const char *token, size_t n)
{
	return tokmap_get(&g->index, token, n);
}

static int new_token(char out[37])
{
	unsigned char r[16];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		return -1;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
	         r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
	return 0;
}

/* --------------------------------------------------------------- limits */

typedef struct limit_range {
	double def, max;
} limit_range;

typedef struct ranges {
	limit_range cpu, extra, wall, memory, stack, procs, fsize, runs;
} ranges;

/* Judge0's defaults and maxima, lowered to what this engine allows. */
static ranges effective_ranges(void)
{
	ranges r = {{5, 15}, {1, 5}, {10, 20}, {128000, 512000}, {64000, 128000}, {60, 120}, {1024, 4096}, {1, 20}};
	r.cpu.max = fmin(r.cpu.max, cfg.run_cpu_time / 1000.0);
	r.wall.max = fmin(r.wall.max, cfg.run_timeout / 1000.0);
	if (cfg.run_memory_limit > 0)
		r.memory.max = fmin(r.memory.max, floor(cfg.run_memory_limit / 1024.0));
	r.procs.max = fmin(r.procs.max, cfg.max_process_count);
	r.fsize.max = fmin(r.fsize.max, floor(cfg.max_file_size / 1024.0));
	limit_range *all[] = {&r.cpu, &r.extra, &r.wall, &r.memory, &r.stack, &r.procs, &r.fsize, &r.runs};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		all[i]->def = fmin(all[i]->def, all[i]->max);
	return r;
}

/* ----------------------------------------------------------- validation */

typedef struct errs {
	buf b;       /* "key":["msg"],... */
	int n;
} errs;

static void add_err(errs *x, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_err(errs *x, const char *field, const char *fmt, ...)
{
	char msg[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	char key[80];
	snprintf(key, sizeof key, "\"%s\":", field);
	if (x->b.len && memmem(x->b.data, x->b.len, key, strlen(key)))
		return;   /* one message per field: the first problem found */
	if (x->n++)
		buf_putc(&x->b, ',');
	json_escape(&x->b, field, strlen(field));   /* quotes included */
	buf_puts(&x->b, ":[");
	json_escape(&x->b, msg, strlen(msg));
	buf_puts(&x->b, "]");
}

/* A text field: absent/null -> null; a string (base64-decoded when b64). */
static void get_text(const json_value *o, const char *key, bool b64, text *t, errs *x)
{
	const json_value *v = json_get(o, key);
	t->p = NULL;
	t->n = 0;
	if (!v || json_is(v, JSON_NULL))
		return;
	if (!json_is(v, JSON_STRING)) {
		add_err(x, key, "must be a string");
		return;
	}
	if (!b64) {
		if (text_set(t, v->u.string, v->len) < 0)
			add_err(x, key, "is too large");
		return;
	}
	char *d = malloc(base64_decoded_max(v->len) + 4);
	ssize_t n = d ? base64_decode(v->u.string, v->len, d) : -1;
	if (n < 0) {
		free(d);
		add_err(x, key, "is not valid Base64");
		return;
	}
	d[n] = 0;
	t->p = d;
	t->n = (size_t)n;
}

/* A number field with Judge0's numericality rules. */
static double get_number(const json_value *o, const char *key, limit_range r, double min, bool integer,
                         const char *min_text, errs *x)
{
	const json_value *v = json_get(o, key);
	if (!v || json_is(v, JSON_NULL))
		return r.def;
	double d;
	char *end;
	if (json_is(v, JSON_NUMBER))
		d = v->u.number;
	else if (json_is(v, JSON_STRING) && v->len && (d = strtod(v->u.string, &end), *end == 0) && isfinite(d))
		;
	else {
		add_err(x, key, "is not a number");
		return r.def;
	}
	if (integer && d != floor(d)) {
		add_err(x, key, "must be an integer");
		return r.def;
	}
	if (d < min) {
		add_err(x, key, "must be %s %g", min_text, min);
		return r.def;
	}
	if (d > r.max) {
		add_err(x, key, "must be less than or equal to %g", r.max);
		return r.def;
	}
	return d;
}

static bool get_bool(const json_value *o, const char *key, bool def, errs *x)
{
	const json_value *v = json_get(o, key);
	if (!v || json_is(v, JSON_NULL))
		return def;
	if (json_is(v, JSON_TRUE) || json_is(v, JSON_FALSE))
		return json_is(v, JSON_TRUE);
	add_err(x, key, "must be true or false");
	return def;
}

typedef struct unzip_ctx {
	jw *w;
	size_t files;
} unzip_ctx;

static int unzip_to_body(void *ctx, const char *path, const void *data, size_t len, unsigned mode, char *err,
                         size_t errlen)
{
	unzip_ctx *u = ctx;
	char *b = malloc(base64_encoded_len(len) + 1);
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	size_t bl = base64_encode(data, len, b);
	jw_object_begin(u->w);
	jw_key(u->w, "name");
	jw_string(u->w, path);
	jw_key(u->w, "content");
	jw_string_n(u->w, b, bl);
	jw_key(u->w, "encoding");
	jw_string(u->w, "base64");
	jw_object_end(u->w);
	free(b);
	u->files++;
	return 0;
}

/* Splits command_line_arguments on blanks (Judge0 passes them to a shell;
 * here they never reach one: each word is one argv element). */
static void write_args(jw *w, const text *t)
{
	jw_key(w, "args");
	jw_array_begin(w);
	for (size_t i = 0; t->p && i < t->n; ) {
		while (i < t->n && (t->p[i] == ' ' || t->p[i] == '\t' || t->p[i] == '\n'))
			i++;
		size_t st = i;
		while (i < t->n && t->p[i] != ' ' && t->p[i] != '\t' && t->p[i] != '\n')
			i++;
		if (i > st)
			jw_string_n(w, t->p + st, i - st);
	}
	jw_array_end(w);
}

/* Parses one submission object into s (the Piston body included). On
 * field errors returns -1 with x filled. */
static int sub_parse(judge0 *g, sub *s, const json_value *o, bool b64, errs *x)
{
	engine *e = g->e;
	ranges r = effective_ranges();
	if (!json_is(o, JSON_OBJECT)) {
		add_err(x, "submission", "must be an object");
		return -1;
	}
	get_text(o, "source_code", b64, &s->source, x);
	get_text(o, "stdin", b64, &s->in, x);
	get_text(o, "expected_output", b64, &s->expected, x);
	get_text(o, "compiler_options", false, &s->compiler_options, x);
	get_text(o, "command_line_arguments", false, &s->args, x);
	get_text(o, "additional_files", false, &s->additional_files, x);
	get_text(o, "callback_url", false, &s->callback_url, x);
	const json_value *lid = json_get(o, "language_id");
	const j0_lang *lang = NULL;
	const runtime *rt = NULL;
	if (!lid || json_is(lid, JSON_NULL) || (json_is(lid, JSON_STRING) && lid->len == 0)) {
		add_err(x, "language_id", "can't be blank");
	} else {
		double id = NAN;
		char *end;
		if (json_is(lid, JSON_NUMBER))
			id = lid->u.number;
		else if (json_is(lid, JSON_STRING) && (id = strtod(lid->u.string, &end), *end != 0))
			id = NAN;
		if (!isfinite(id) || id != floor(id) || fabs(id) > 1e9)
			add_err(x, "language_id", "is not a number");
		else if (!(lang = lang_by_id((long)id)) || !(rt = lang_runtime(e, lang)))
			add_err(x, "language_id", "language with id %.0f doesn't exist", id);
		else {
			s->language_id = lang->id;
			lang_name(lang, rt, s->language_name, sizeof s->language_name);
		}
	}
	const json_value *src = json_get(o, "source_code");
	if (!s->additional_files.p && (!src || json_is(src, JSON_NULL)))
		add_err(x, "source_code", "can't be blank");
	if (s->compiler_options.p && s->compiler_options.n > J0_TEXT_MAX)
		add_err(x, "compiler_options", "is too long (maximum is %d characters)", J0_TEXT_MAX);
	else if (s->compiler_options.p && rstrip_len(s->compiler_options.p, s->compiler_options.n) && rt) {
		/* Judge0's checks, in its order (blank options are ignored). */
		if (!rt->has_compile)
			add_err(x, "compiler_options", "setting compiler options is only allowed for compiled languages");
		else if (!lang_takes_compiler_options(lang))
			add_err(x, "compiler_options", "setting compiler options is only allowed for %s",
			        J0_COMPILER_OPTIONS_LANGS);
	}
	if (s->args.p && s->args.n > J0_TEXT_MAX)
		add_err(x, "command_line_arguments", "is too long (maximum is %d characters)", J0_TEXT_MAX);
	if (s->callback_url.p) {
		/* a restored submission was accepted once: the flag may have changed since */
		const char *why = g->callbacks || g->restoring
			? j0cb_url_problem(s->callback_url.p, s->callback_url.n,
			                   cfg.judge0_callback_allow_private || g->restoring)
			: "callbacks are not available (no delivery threads)";
		if (why)
			add_err(x, "callback_url", "%s", why);
	}
	s->b64 = b64;
	limits *l = &s->lim;
	l->cpu_time_limit = get_number(o, "cpu_time_limit", r.cpu, 0, false, "greater than or equal to", x);
	l->cpu_extra_time = get_number(o, "cpu_extra_time", r.extra, 0, false, "greater than or equal to", x);
	l->wall_time_limit = get_number(o, "wall_time_limit", r.wall, 0, false, "greater than or equal to", x);
	l->memory_limit = get_number(o, "memory_limit", r.memory, 2048, false, "greater than or equal to", x);
	l->stack_limit = get_number(o, "stack_limit", r.stack, 0, true, "greater than or equal to", x);
	l->max_procs = get_number(o, "max_processes_and_or_threads", r.procs, 0, true, "greater than or equal to", x);
	l->max_file_size = get_number(o, "max_file_size", r.fsize, 0, true, "greater than or equal to", x);
	l->number_of_runs = get_number(o, "number_of_runs", r.runs, 1, true, "greater than or equal to", x);
	l->per_proc_time = get_bool(o, "enable_per_process_and_thread_time_limit", false, x);
	l->per_proc_memory = get_bool(o, "enable_per_process_and_thread_memory_limit", false, x);
	l->redirect = get_bool(o, "redirect_stderr_to_stdout", false, x);
	l->network = get_bool(o, "enable_network", false, x);
	if (l->network && cfg.disable_networking)
		add_err(x, "enable_network", "is not allowed (this engine runs jobs without network)");
	if (x->n)
		return -1;

	/* The Piston execute body. */
	buf body = BUF_INIT;
	jw w;
	jw_init(&w, &body);
	jw_object_begin(&w);
	jw_key(&w, "language");
	jw_string(&w, rt->language);
	jw_key(&w, "version");
	jw_string(&w, rt->version);
	jw_key(&w, "files");
	jw_array_begin(&w);
	jw_object_begin(&w);
	jw_key(&w, "name");
	jw_string(&w, lang->source);
	jw_key(&w, "content");
	jw_string_n(&w, s->source.p ? s->source.p : "", s->source.n);
	jw_object_end(&w);
	if (s->additional_files.p) {
		char *zip = malloc(base64_decoded_max(s->additional_files.n) + 4);
		ssize_t zn = zip ? base64_decode(s->additional_files.p, s->additional_files.n, zip) : -1;
		char err[300] = "";
		unzip_ctx u = {.w = &w};
		unzip_limits ul = unzip_default_limits(cfg.box_size);
		if (zn < 0)
			add_err(x, "additional_files", "is not valid Base64");
		else if (unzip_extract(zip, (size_t)zn, &ul, unzip_to_body, &u, err, sizeof err) < 0)
			add_err(x, "additional_files", "is not a valid zip archive: %s", err);
		free(zip);
	}
	jw_array_end(&w);
	jw_key(&w, "stdin");
	jw_string_n(&w, s->in.p ? s->in.p : "", s->in.n);
	write_args(&w, &s->args);
	/* Round up to whole ms: 0 would mean "no limit". */
	jw_key(&w, "run_timeout");
	jw_double(&w, fmax(1, ceil(l->wall_time_limit * 1000)));
	jw_key(&w, "run_cpu_time");
	jw_double(&w, fmax(1, ceil(l->cpu_time_limit * 1000)));
	jw_key(&w, "run_memory_limit");
	jw_double(&w, l->memory_limit * 1024);
	jw_object_end(&w);
	if (x->n || buf_failed(&body)) {
		if (!x->n)
			add_err(x, "submission", "is too large");
		buf_free(&body);
		return -1;
	}
	s->body_len = body.len;
	s->body = buf_steal(&body);
	return 0;
}

/* -------------------------------------------------------------- running */

static void sub_respond(sub *s);
static void sub_run(sub *s);
static void journal_done(sub *s);
static int journal_new(judge0 *g, sub *s, const json_value *o, bool b64);
static void journal_forget(judge0 *g, const char *token);
static void callback_start(sub *s);

/* Judge0 answers null, not "", for an empty output. */
static void copy_buf(text *t, const buf *b)
{
	text_free(t);
	if (b->len)
		text_set(t, b->data, b->len);
}

static void on_stage(void *arg, job *j, const char *stage)
{
	sub *s = arg;
	s->status = 2;   /* Processing */
}

static void on_stage_done(void *arg, job *j, const char *stage, const sbx_result *r)
{
	sub *s = arg;
	if (!strcmp(stage, "compile")) {
		s->compile_failed = r->status[0] || !r->exited || r->code != 0;
		if (r->output.len)
			copy_buf(&s->compile_output, &r->output);
		if (s->compile_failed) {
			s->result = 6;
			s->has_exit_code = r->exited;
			s->exit_code = r->code;
			if (r->status[0] == 'T')
				snprintf(s->message, sizeof s->message, "Compilation time limit exceeded");
			s->has_message = r->status[0] == 'T';
		}
		return;
	}
	copy_buf(&s->out, s->lim.redirect ? &r->output : &r->out);
	if (!s->lim.redirect)
		copy_buf(&s->err, &r->err);
	s->time_sum += r->cpu_ms / 1000.0;
	s->wall_sum += r->wall_ms / 1000.0;
	s->mem_sum += r->memory / 1024.0;
	s->has_time = true;
	s->has_exit_code = r->exited;
	s->exit_code = r->code;
	s->has_signal = r->signal != 0;
	s->exit_signal = r->signal;
	const char *status = judge0_run_status(r->status, r->cpu_ms, r->max_process_cpu_ms, s->lim.cpu_time_limit,
	                                       s->lim.per_proc_time);
	s->result = judge0_status_of(false, status, r->signal, r->exited, r->code, s->expected.p, s->expected.n,
	                             s->out.p, s->out.n);
	s->has_message = true;
	switch (s->result) {
	case 3: case 4: s->has_message = false; break;
	case 5: snprintf(s->message, sizeof s->message, "Time limit exceeded"); break;
	case 11: snprintf(s->message, sizeof s->message, "Exited with error status %d", r->code); break;
	case 7: case 8: case 9: case 10: case 12:
		if (r->signal)
			snprintf(s->message, sizeof s->message, "Caught fatal signal %d", r->signal);
		else
			snprintf(s->message, sizeof s->message, "%s", r->message);
		break;
	default: snprintf(s->message, sizeof s->message, "%s", r->message);
	}
}

static void sub_finish(sub *s, int status, const char *message)
{
	s->j = NULL;
	if (status) {
		s->result = status;
		snprintf(s->message, sizeof s->message, "%s", message);
		s->has_message = true;
	}
	s->finished_at = now_real();
	s->finished = true;
	finished_add(s->owner, s);
	s->status = s->result;
	free(s->body);
	s->body = NULL;
	journal_done(s);
	sub_respond(s);
	callback_start(s);
}

static void on_job_done(void *arg, job *j)
{
	sub *s = arg;
	const char *message;
	int failed = job_failed(j, &message);
	s->j = NULL;
	if (failed) {
		sub_finish(s, 13, message);
		return;
	}
	s->runs_done++;
	if (s->runs_done < (int)s->lim.number_of_runs && s->result == 3) {
		sub_run(s);   /* Judge0 averages time and memory over the runs */
		return;
	}
	sub_finish(s, 0, NULL);
}

/* The compile stage's PISTON_COMPILER_OPTIONS: the options without
 * surrounding blanks and without the characters Judge0 removes before its
 * compile script ($&;<>|`, and NUL, which no environment can hold). They
 * never reach a shell here: the package's compile script splits them into
 * words with globbing off. false when nothing is left. */
static bool compiler_options_value(const text *t, char *out, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; t->p && i < t->n && o + 1 < n; i++)
		if (!strchr("$&;<>|`", t->p[i]) && t->p[i])
			out[o++] = t->p[i];
	while (o && strchr(" \t\n\r\v\f", out[o - 1]))
		o--;
	out[o] = 0;
	size_t lead = strspn(out, " \t\n\r\v\f");
	memmove(out, out + lead, o - lead + 1);
	return out[0] != 0;
}

/* Starts one run of the submission's job; on refusal the submission ends
 * as an Internal Error (or the caller reports 503 for the first run). */
static int sub_start(sub *s, char *msg, size_t msglen, int *status)
{
	json_error jerr;
	json_doc *doc = json_parse(s->body, s->body_len, &jerr);
	if (!doc) {
		snprintf(msg, msglen, "internal: %s", jerr.message);
		*status = 500;
		return -1;
	}
	job *j = job_new(s->owner->e, doc, json_root(doc), false, status, msg, msglen);
	if (!j) {
		json_free(doc);
		return -1;
	}
	sbx_limits *rl = job_stage_limits(j, true);
	uint32_t procs = (uint32_t)s->lim.max_procs;
	if (procs && (rl->max_procs == 0 || procs < rl->max_procs))
		rl->max_procs = procs;
	uint64_t fsize = (uint64_t)s->lim.max_file_size * 1024;
	if (fsize && (rl->max_file_size == 0 || fsize < rl->max_file_size))
		rl->max_file_size = fsize;
	/* cpu_extra_time and the per-process flags (isolate's -x, --cg-timing
	 * off, -m): judge0_cpu_limits; wall_time_limit gets no extra time, as
	 * isolate's -w. */
	judge0_cpu_limits(s->lim.cpu_time_limit, s->lim.cpu_extra_time, s->lim.per_proc_time, cfg.run_cpu_time,
	                  &rl->cpu_ms, &rl->cpu_ms_per_process);
	if (s->lim.per_proc_memory) {
		/* Each process its memory_limit (RLIMIT_AS); the whole job still
		 * the engine's maximum, never unlimited. */
		rl->memory_per_process = (uint64_t)s->lim.memory_limit * 1024;
		rl->memory_bytes = cfg.run_memory_limit > 0 ? cfg.run_memory_limit
		                                            : (int64_t)effective_ranges().memory.max * 1024;
	}
	/* stack_limit (KB) as isolate's -k: 0 is no limit. */
	rl->max_stack = s->lim.stack_limit > 0 ? (uint64_t)s->lim.stack_limit * 1024 : UINT64_MAX;
	char copts[J0_TEXT_MAX + 1];
	if (compiler_options_value(&s->compiler_options, copts, sizeof copts) &&
	    job_set_compile_env(j, "PISTON_COMPILER_OPTIONS", copts) < 0) {
		snprintf(msg, msglen, "out of memory");
		*status = 503;
		job_cancel(j);
		return -1;
	}
	job_events ev = {.on_stage = on_stage, .on_stage_done = on_stage_done, .on_done = on_job_done, .arg = s};
	s->j = j;
	if (!s->finished && s->status < 1)
		s->status = 1;
	if (job_start(j, &ev, msg, msglen) < 0) {
		s->j = NULL;
		*status = 503;
		return -1;
	}
	return 0;
}

static void sub_run(sub *s)
{
	char msg[300];
	int status = 0;
	if (sub_start(s, msg, sizeof msg, &status) < 0)
		sub_finish(s, 13, msg);
}

/* ------------------------------------------------------------ rendering */

bool judge0_field_wanted(const char *fields, const char *name)
{
	if (!strcmp(fields, "*"))
		return true;
	size_t n = strlen(name);
	for (const char *p = fields; *p; ) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		if (l == n && !memcmp(p, name, n))
			return true;
		p += l + (c ? 1 : 0);
	}
	return false;
}

/* Every field Judge0 renders, in its order; F_* index all_fields. */
enum {
	F_SOURCE_CODE, F_LANGUAGE_ID, F_STDIN, F_EXPECTED_OUTPUT, F_STDOUT, F_STATUS_ID, F_CREATED_AT,
	F_FINISHED_AT, F_TIME, F_MEMORY, F_STDERR, F_TOKEN, F_NUMBER_OF_RUNS, F_CPU_TIME_LIMIT, F_CPU_EXTRA_TIME,
	F_WALL_TIME_LIMIT, F_MEMORY_LIMIT, F_STACK_LIMIT, F_MAX_PROCS, F_PER_PROC_TIME, F_PER_PROC_MEMORY,
	F_MAX_FILE_SIZE, F_COMPILE_OUTPUT, F_EXIT_CODE, F_EXIT_SIGNAL, F_MESSAGE, F_WALL_TIME, F_COMPILER_OPTIONS,
	F_ARGS, F_REDIRECT, F_CALLBACK_URL, F_ADDITIONAL_FILES, F_ENABLE_NETWORK, F_STATUS, F_LANGUAGE,
	F_COUNT
};
static const char *const all_fields[F_COUNT] = {
	"source_code", "language_id", "stdin", "expected_output", "stdout", "status_id", "created_at",
	"finished_at", "time", "memory", "stderr", "token", "number_of_runs", "cpu_time_limit", "cpu_extra_time",
	"wall_time_limit", "memory_limit", "stack_limit", "max_processes_and_or_threads",
	"enable_per_process_and_thread_time_limit", "enable_per_process_and_thread_memory_limit",
	"max_file_size", "compile_output", "exit_code", "exit_signal", "message", "wall_time", "compiler_options",
	"command_line_arguments", "redirect_stderr_to_stdout", "callback_url", "additional_files",
	"enable_network", "status", "language",
};

/* The fields list as a set of F_* bits: one walk of the list, once per
 * rendering (testing each of the 35 fields against the list cost more than
 * the rest of the rendering). The first unknown non-empty name, if any, is
 * copied into bad (may be NULL: rendering, after fields_valid). */
static uint64_t fields_mask(const char *fields, char *bad, size_t badlen)
{
	if (!strcmp(fields, "*"))
		return (UINT64_C(1) << F_COUNT) - 1;
	uint64_t m = 0;
	for (const char *p = fields; *p; ) {
		const char *c = strchr(p, ',');
		size_t l = c ? (size_t)(c - p) : strlen(p);
		size_t i = 0;
		while (i < F_COUNT && (strncmp(all_fields[i], p, l) || all_fields[i][l]))
			i++;
		if (i < F_COUNT)
			m |= UINT64_C(1) << i;
		else if (l && bad && !bad[0])
			snprintf(bad, badlen, "%.*s", (int)(l > 100 ? 100 : l), p);
		p += l + (c ? 1 : 0);
	}
	return m;
}

/* True if every field is known, else false with the first unknown one in bad. */
static bool fields_valid(const char *fields, char *bad, size_t badlen)
{
	bad[0] = 0;
	fields_mask(fields, bad, badlen);
	return !bad[0];
}

static bool text_utf8(const text *t)
{
	return !t->p || json_utf8_check(t->p, t->n, NULL) == UTF8_VALID;
}

static void put_text(jw *w, const char *key, const text *t, bool b64)
{
	jw_key(w, key);
	if (!t->p) {
		jw_null(w);
		return;
	}
	if (!b64) {
		jw_string_n(w, t->p, t->n);
		return;
	}
	char *b = malloc(base64_encoded_len(t->n) + 1);
	if (!b) {
		jw_null(w);
		return;
	}
	size_t n = base64_encode(t->p, t->n, b);
	jw_string_n(w, b, n);
	free(b);
}

static void put_time(jw *w, const char *key, bool has, double v)
{
	jw_key(w, key);
	if (!has) {
		jw_null(w);
		return;
	}
	char t[32];
	snprintf(t, sizeof t, "%.3f", v);
	jw_string(w, t);
}

static void put_date(jw *w, const char *key, double t)
{
	jw_key(w, key);
	if (t <= 0) {
		jw_null(w);
		return;
	}
	time_t sec = (time_t)t;
	struct tm tm;
	gmtime_r(&sec, &tm);
	char out[96];
	snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((t - (double)sec) * 1000) % 1000);
	jw_string(w, out);
}

/* One submission as Judge0 renders it; false if a text field is not UTF-8
 * and b64 is off (Judge0 then answers the token and an error instead). */
static bool render_sub(jw *w, const sub *s, const char *fields, bool b64)
{
	bool done = s->finished;
	uint64_t want = fields_mask(fields, NULL, 0);
	const text *texts[] = {&s->source, &s->in, &s->expected, &s->out, &s->err, &s->compile_output};
	const int text_fields[] = {F_SOURCE_CODE, F_STDIN, F_EXPECTED_OUTPUT, F_STDOUT, F_STDERR, F_COMPILE_OUTPUT};
	if (!b64)
		for (size_t i = 0; i < 6; i++)
			if ((want >> text_fields[i] & 1) && !text_utf8(texts[i])) {
				jw_object_begin(w);
				jw_key(w, "token");
				jw_string(w, s->token);
				jw_key(w, "error");
				jw_string(w, "some attributes for this submission cannot be converted to UTF-8, use "
				             "base64_encoded=true query parameter");
				jw_object_end(w);
				return false;
			}
	int runs = s->runs_done > 0 ? s->runs_done : 1;
	text msg = {s->has_message ? (char *)s->message : NULL, s->has_message ? strlen(s->message) : 0};
	const text none = {0};
	const limits *l = &s->lim;
	jw_object_begin(w);
	for (int i = 0; i < F_COUNT; i++) {
		if (!(want >> i & 1))
			continue;
		const char *f = all_fields[i];
		switch (i) {
		case F_SOURCE_CODE: put_text(w, f, &s->source, b64); break;
		case F_STDIN: put_text(w, f, &s->in, b64); break;
		case F_EXPECTED_OUTPUT: put_text(w, f, &s->expected, b64); break;
		case F_STDOUT: put_text(w, f, done ? &s->out : &none, b64); break;
		case F_STDERR: put_text(w, f, done ? &s->err : &none, b64); break;
		case F_COMPILE_OUTPUT: put_text(w, f, done ? &s->compile_output : &none, b64); break;
		case F_MESSAGE: put_text(w, f, done ? &msg : &none, b64); break;
		case F_COMPILER_OPTIONS: put_text(w, f, &s->compiler_options, false); break;
		case F_ARGS: put_text(w, f, &s->args, false); break;
		case F_CALLBACK_URL: put_text(w, f, &s->callback_url, false); break;
		case F_ADDITIONAL_FILES: put_text(w, f, &s->additional_files, false); break;
		case F_LANGUAGE_ID: jw_key(w, f); jw_int(w, s->language_id); break;
		case F_STATUS_ID: jw_key(w, f); jw_int(w, s->status); break;
		case F_TOKEN: jw_key(w, f); jw_string(w, s->token); break;
		case F_CREATED_AT: put_date(w, f, s->created_at); break;
		case F_FINISHED_AT: put_date(w, f, done ? s->finished_at : 0); break;
		case F_TIME: put_time(w, f, done && s->has_time, s->time_sum / runs); break;
		case F_WALL_TIME: put_time(w, f, done && s->has_time, s->wall_sum / runs); break;
		case F_MEMORY:
			jw_key(w, f);
			if (done && s->has_time)
				jw_int(w, (int64_t)llround(s->mem_sum / runs));
			else
				jw_null(w);
			break;
		case F_EXIT_CODE:
		case F_EXIT_SIGNAL: {
			bool code = i == F_EXIT_CODE;
			jw_key(w, f);
			if (done && (code ? s->has_exit_code : s->has_signal))
				jw_int(w, code ? s->exit_code : s->exit_signal);
			else
				jw_null(w);
			break;
		}
		case F_STATUS:
			jw_key(w, f);
			jw_object_begin(w);
			jw_key(w, "id");
			jw_int(w, s->status);
			jw_key(w, "description");
			jw_string(w, judge0_status_text(s->status));
			jw_object_end(w);
			break;
		case F_LANGUAGE:
			jw_key(w, f);
			jw_object_begin(w);
			jw_key(w, "id");
			jw_int(w, s->language_id);
			jw_key(w, "name");
			jw_string(w, s->language_name);
			jw_object_end(w);
			break;
		case F_NUMBER_OF_RUNS: jw_key(w, f); jw_int(w, (int64_t)l->number_of_runs); break;
		case F_CPU_TIME_LIMIT: jw_key(w, f); jw_double(w, l->cpu_time_limit); break;
		case F_CPU_EXTRA_TIME: jw_key(w, f); jw_double(w, l->cpu_extra_time); break;
		case F_WALL_TIME_LIMIT: jw_key(w, f); jw_double(w, l->wall_time_limit); break;
		case F_MEMORY_LIMIT: jw_key(w, f); jw_int(w, (int64_t)l->memory_limit); break;
		case F_STACK_LIMIT: jw_key(w, f); jw_int(w, (int64_t)l->stack_limit); break;
		case F_MAX_PROCS: jw_key(w, f); jw_int(w, (int64_t)l->max_procs); break;
		case F_MAX_FILE_SIZE: jw_key(w, f); jw_int(w, (int64_t)l->max_file_size); break;
		case F_PER_PROC_TIME: jw_key(w, f); jw_bool(w, l->per_proc_time); break;
		case F_PER_PROC_MEMORY: jw_key(w, f); jw_bool(w, l->per_proc_memory); break;
		case F_REDIRECT: jw_key(w, f); jw_bool(w, l->redirect); break;
		case F_ENABLE_NETWORK: jw_key(w, f); jw_bool(w, l->network); break;
		}
	}
	jw_object_end(w);
	return true;
}

static void respond_buf(http_conn *c, int status, buf *b)
{
	if (buf_failed(b))
		http_respond_error(c, 500, "out of memory");
	else
		http_respond_json(c, status, b->data, b->len);
	buf_free(b);
}

void judge0_error_body(buf *b, const char *msg)
{
	jw w;
	jw_init(&w, b);
	jw_object_begin(&w);
	jw_key(&w, "error");
	jw_string(&w, msg);
	jw_key(&w, "message");
	jw_string(&w, msg);
	jw_object_end(&w);
}

static void respond_error(http_conn *c, int status, const char *message)
{
	buf b = BUF_INIT;
	judge0_error_body(&b, message);
	respond_buf(c, status, &b);
}

static void waiter_gone(void *arg)
{
	sub *s = arg;
	s->waiter = NULL;   /* the submission goes on; its token still answers */
}

/* Answers the wait=true client once the run is over and its record is on
 * disk, whichever comes last. */
static void sub_respond(sub *s)
{
	http_conn *c = s->waiter;
	if (!c || !s->finished || s->sync_wait)
		return;
	s->waiter = NULL;
	http_conn_on_close(c, NULL, NULL);
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	render_sub(&w, s, s->waiter_fields, s->waiter_b64);
	respond_buf(c, 201, &b);
}

/* ---------------------------------------------------------------- query */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The percent-decoded value of key in the query; false if absent or too long. */
static bool query_get(const http_request *req, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	const char *q = req->query, *end = q ? q + req->query_len : NULL;
	for (const char *p = q; p && p < end; ) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		if ((size_t)(stop - p) >= kl && !memcmp(p, key, kl) && (p + kl == stop || p[kl] == '=')) {
			const char *v = p + kl < stop ? p + kl + 1 : stop;
			size_t o = 0;
			for (; v < stop; v++) {
				char ch = *v;
				if (ch == '+')
					ch = ' ';
				else if (ch == '%' && stop - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
					ch = (char)(hexval(v[1]) * 16 + hexval(v[2]));
					v += 2;
				}
				if (o + 1 >= outlen)
					return false;
				out[o++] = ch;
			}
			out[o] = 0;
			return true;
		}
		p = stop + 1;
	}
	return false;
}

/* ?name=true|false (Judge0 also takes 1/0); -1 for anything else. */
static int query_bool(const http_request *req, const char *name)
{
	char v[16];
	if (!query_get(req, name, v, sizeof v))
		return 0;
	if (!strcmp(v, "true") || !strcmp(v, "1") || !v[0])
		return !v[0] ? 0 : 1;
	if (!strcmp(v, "false") || !strcmp(v, "0"))
		return 0;
	return -1;
}

typedef struct opts {
	bool b64, wait;
	char fields[512];
} opts;

/* The query's options into o; false with the client's mistake in msg. */
static bool parse_opts(const http_request *req, opts *o, char *msg, size_t msglen)
{
	int b = query_bool(req, "base64_encoded"), w = query_bool(req, "wait");
	if (b < 0 || w < 0) {
		snprintf(msg, msglen, "%s", b < 0 ? "base64_encoded must be true or false" : "wait must be true or false");
		return false;
	}
	o->b64 = b == 1;
	o->wait = w == 1;
	if (!query_get(req, "fields", o->fields, sizeof o->fields) || !o->fields[0])
		snprintf(o->fields, sizeof o->fields, "%s", J0_DEFAULT_FIELDS);
	char bad[128];
	if (!fields_valid(o->fields, bad, sizeof bad)) {
		snprintf(msg, msglen, "invalid fields: [%s]", bad);
		return false;
	}
	return true;
}

static int read_opts(http_conn *c, const http_request *req, opts *o)
{
	char msg[200];
	if (!parse_opts(req, o, msg, sizeof msg)) {
		respond_error(c, 400, msg);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- handlers */

/* The query's options into o and the body's JSON document, or NULL after
 * answering the client's mistake (a bad option or body) itself. */
static json_doc *read_request(http_conn *c, const http_request *req, opts *o)
{
	if (read_opts(c, req, o) < 0)
		return NULL;
	json_error jerr;
	json_doc *doc = json_parse(req->body ? req->body : "", req->body_len, &jerr);
	if (!doc) {
		char msg[300];
		snprintf(msg, sizeof msg, "Invalid JSON body: %s at byte %zu", jerr.message, jerr.offset);
		respond_error(c, 400, msg);
	}
	return doc;
}

/* A new submission from o: queued, or 422 errors in x, or 503 in msg.
 * Returns the submission (owned by the store) or NULL. */
static sub *submit(judge0 *g, const json_value *o, bool b64, errs *x, int *status, char *msg, size_t msglen)
{
	sub *s = calloc(1, sizeof *s);
	if (!s) {
		*status = 503;
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	s->owner = g;
	s->created_at = now_real();
	if (sub_parse(g, s, o, b64, x) < 0) {
		*status = 422;
		sub_free(s);
		return NULL;
	}
	if (new_token(s->token) < 0) {
		*status = 503;
		snprintf(msg, msglen, "no randomness for a token: %s", strerror(errno));
		sub_free(s);
		return NULL;
	}
	if (journal_new(g, s, o, b64) < 0) {
		*status = 503;
		snprintf(msg, msglen, "could not journal the submission: %s", strerror(errno));
		sub_free(s);
		return NULL;
	}
	/* In the store before the job starts: on_done may run at once. */
	if (store_add(g, s) < 0) {
		*status = 503;
		snprintf(msg, msglen, "out of memory");
		journal_forget(g, s->token);
		sub_free(s);
		return NULL;
	}
	if (sub_start(s, msg, msglen, status) < 0) {
		journal_forget(g, s->token);
		store_unlink(g, s);
		sub_free(s);
		if (*status == 400)
			*status = 422;
		return NULL;
	}
	return s;
}

static void respond_sync_error(http_conn *c, int err)
{
	char m[200];
	snprintf(m, sizeof m, "could not journal the submission: %s", strerror(err));
	respond_error(c, 503, m);
}

/* wait=true: the record is on disk; answer if the run is over too. */
static void sub_synced(void *arg, int err)
{
	sub *s = arg;
	s->sync_wait = NULL;
	if (err && s->waiter) {
		http_conn *c = s->waiter;
		s->waiter = NULL;
		http_conn_on_close(c, NULL, NULL);
		respond_sync_error(c, err);
		return;
	}
	sub_respond(s);
}

/* A 201 body (tokens) held until the journal has its records on disk. */
typedef struct held_answer {
	judge0 *g;
	http_conn *c;
	journal_waiter *w;
	buf body;
} held_answer;

static void held_synced(void *arg, int err)
{
	held_answer *h = arg;
	http_conn_on_close(h->c, NULL, NULL);
	if (err)
		respond_sync_error(h->c, err);
	else
		respond_buf(h->c, 201, &h->body);
	buf_free(&h->body);
	free(h);
}

/* The client left first: nothing to answer, the submissions go on. */
static void held_gone(void *arg)
{
	held_answer *h = arg;
	journal_waiter_cancel(h->g->jn, h->w);
	buf_free(&h->body);
	free(h);
}

/* Answers 201 with *body once everything journaled so far is on disk;
 * takes the body. */
static void answer_after_sync(judge0 *g, http_conn *c, buf *body)
{
	if (!g->jn) {   /* nothing was journaled: every item was refused */
		respond_buf(c, 201, body);
		return;
	}
	held_answer *h = calloc(1, sizeof *h);
	if (h) {
		h->g = g;
		h->c = c;
		h->body = *body;
		h->w = journal_after_sync(g->jn, held_synced, h);
	}
	if (!h || !h->w) {
		int err = errno;
		free(h);
		buf_free(body);
		respond_sync_error(c, err);
		return;
	}
	*body = (buf)BUF_INIT;
	http_conn_on_close(c, held_gone, h);
}

static void create_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	opts o;
	json_doc *doc = read_request(c, req, &o);
	if (!doc)
		return;
	store_expire(g);
	errs x = {BUF_INIT, 0};
	char msg[300] = "";
	int status = 0;
	sub *s = submit(g, json_root(doc), o.b64, &x, &status, msg, sizeof msg);
	json_free(doc);
	if (!s) {
		if (x.n) {
			buf b = BUF_INIT;
			buf_printf(&b, "{%.*s}", (int)x.b.len, x.b.data ? x.b.data : "");
			respond_buf(c, 422, &b);
		} else if (status == 503) {
			respond_error(c, 503, strncmp(msg, "could not journal", 17) ? "queue is full" : msg);
		} else {
			respond_error(c, status ? status : 422, msg);   /* job_new's own refusal */
		}
		buf_free(&x.b);
		return;
	}
	buf_free(&x.b);
	/* The token is answered only once its record is on disk (group commit:
	 * the syncer thread's fdatasync, journal.h); the job runs meanwhile. */
	if (o.wait) {
		s->waiter = c;
		s->waiter_b64 = o.b64;
		snprintf(s->waiter_fields, sizeof s->waiter_fields, "%s", o.fields);
		s->sync_wait = journal_after_sync(g->jn, sub_synced, s);
		if (!s->sync_wait) {
			s->waiter = NULL;
			respond_sync_error(c, errno);
			return;
		}
		http_conn_on_close(c, waiter_gone, s);
		return;
	}
	buf b = BUF_INIT;
	buf_printf(&b, "{\"token\":\"%s\"}", s->token);
	answer_after_sync(g, c, &b);
}

/* The submission of /submissions/{token} (after dropping expired ones),
 * or NULL after answering 404. */
static sub *find_or_404(judge0 *g, http_conn *c, const http_request *req)
{
	store_expire(g);
	const char *token = req->path + strlen("/submissions/");
	sub *s = store_find(g, token, req->path_len - strlen("/submissions/"));
	if (!s)
		respond_error(c, 404, "Not Found");
	return s;
}

static void show_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	opts o;
	if (read_opts(c, req, &o) < 0)
		return;
	sub *s = find_or_404(g, c, req);
	if (!s)
		return;
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	render_sub(&w, s, o.fields, o.b64);
	respond_buf(c, 200, &b);
}

/* DELETE /submissions/{token}, as Judge0 CE 1.13: only when enabled
 * (else 400 "delete not allowed"), only a finished submission (400 naming
 * its status), answered as it was, always base64-encoded. It leaves the
 * store and the journal (a record that replay and compaction honour). */
static void delete_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	opts o;
	if (read_opts(c, req, &o) < 0)
		return;
	if (!cfg.judge0_allow_delete) {
		respond_error(c, 400, "delete not allowed");
		return;
	}
	sub *s = find_or_404(g, c, req);
	if (!s)
		return;
	if (s->sync_wait) {   /* not on disk yet: its wait=true client is still owed it */
		respond_error(c, 400, "submission cannot be deleted before its result has been sent");
		return;
	}
	if (!s->finished) {
		char msg[160];
		snprintf(msg, sizeof msg, "submission cannot be deleted because its status is %d (%s)", s->status,
		         judge0_status_text(s->status));
		respond_error(c, 400, msg);
		return;
	}
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	render_sub(&w, s, o.fields, true);
	journal_forget(g, s->token);
	store_unlink(g, s);
	sub_free(s);
	respond_buf(c, 200, &b);
}

/* Ruby's String#to_i, which Judge0 applies to page and per_page: leading
 * blanks, a sign, digits; anything else ends it (so "abc" is 0). */
static long long ruby_to_i(const char *v)
{
	while (*v == ' ' || *v == '\t' || *v == '\n')
		v++;
	int sign = *v == '-' ? -1 : 1;
	if (*v == '-' || *v == '+')
		v++;
	long long n = 0;
	for (; *v >= '0' && *v <= '9'; v++)
		n = n > 1000000000000LL ? n : n * 10 + (*v - '0');   /* saturates: only "too big" matters */
	return sign * n;
}

/* ?key= as ruby_to_i reads it; def when absent. */
static long long query_int(const http_request *req, const char *key, long long def)
{
	char *v = malloc(req->query_len + 1);
	long long n = v && query_get(req, key, v, req->query_len + 1) ? ruby_to_i(v) : def;
	free(v);
	return n;
}

bool judge0_list_query_parse(const http_request *req, judge0_list_query *q, char *msg, size_t msglen)
{
	opts o;
	if (!parse_opts(req, &o, msg, msglen))
		return false;
	q->b64 = o.b64;
	memcpy(q->fields, o.fields, sizeof q->fields);
	q->page = query_int(req, "page", 1);
	q->per_page = query_int(req, "per_page", J0_PER_PAGE);
	if (q->page <= 0) {
		snprintf(msg, msglen, "invalid page: %lld", q->page);
		return false;
	}
	/* Judge0 refuses only negative values (0 fails inside its paginator);
	 * here the page is also bounded. */
	if (q->per_page <= 0 || q->per_page > J0_MAX_PER_PAGE) {
		if (q->per_page > J0_MAX_PER_PAGE)
			snprintf(msg, msglen, "invalid per_page: %lld (at most %d)", q->per_page, J0_MAX_PER_PAGE);
		else
			snprintf(msg, msglen, "invalid per_page: %lld", q->per_page);
		return false;
	}
	return true;
}

/* GET /submissions: Judge0's paged list, newest first, with its `meta`.
 * Judge0 serves it to authorized users only; here only when
 * PISTON_JUDGE0_ALLOW_LIST is true (else 403), since it shows everyone's
 * source code. */
static void index_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	if (!cfg.judge0_allow_list) {
		respond_error(c, 403, "listing submissions is not allowed (PISTON_JUDGE0_ALLOW_LIST)");
		return;
	}
	judge0_list_query q;
	char msg[200];
	if (!judge0_list_query_parse(req, &q, msg, sizeof msg)) {
		respond_error(c, 400, msg);
		return;
	}
	long long page = q.page, per_page = q.per_page;
	store_expire(g);
	long long total = (long long)g->n, pages = (total + per_page - 1) / per_page;
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	jw_key(&w, "submissions");
	jw_array_begin(&w);
	long long skip = page > pages ? total : (page - 1) * per_page, shown = 0;
	for (sub *s = skip < total ? g->tail : NULL; s && shown < per_page; s = s->prev) {
		if (skip > 0) {
			skip--;
			continue;
		}
		if (!render_sub(&w, s, q.fields, q.b64)) {
			buf_free(&b);
			respond_error(c, 400, "some attributes for one or more submissions cannot be converted to UTF-8, "
			                      "use base64_encoded=true query parameter");
			return;
		}
		shown++;
	}
	jw_array_end(&w);
	jw_key(&w, "meta");
	jw_object_begin(&w);
	jw_key(&w, "current_page"), jw_int(&w, page);
	jw_key(&w, "next_page");
	page < pages ? jw_int(&w, page + 1) : jw_null(&w);
	jw_key(&w, "prev_page");
	page > 1 ? jw_int(&w, page - 1) : jw_null(&w);
	jw_key(&w, "total_pages"), jw_int(&w, pages);
	jw_key(&w, "total_count"), jw_int(&w, total);
	jw_object_end(&w);
	jw_object_end(&w);
	respond_buf(c, 200, &b);
}

static void batch_create_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	opts o;
	json_doc *doc = read_request(c, req, &o);
	if (!doc)
		return;
	const json_value *arr = json_get(json_root(doc), "submissions");
	if (!json_is(arr, JSON_ARRAY) || arr->len == 0 || arr->len > J0_MAX_BATCH) {
		char msg[160];
		if (!json_is(arr, JSON_ARRAY))
			snprintf(msg, sizeof msg, "submissions must be an array");
		else if (arr->len == 0)
			snprintf(msg, sizeof msg, "there should be at least one submission in a batch");
		else
			snprintf(msg, sizeof msg, "number of submissions in a batch should be less than or equal to %d",
			         J0_MAX_BATCH);
		json_free(doc);
		respond_error(c, 422, msg);
		return;
	}
	store_expire(g);
	buf b = BUF_INIT;
	buf_putc(&b, '[');
	for (size_t i = 0; i < arr->len; i++) {
		errs x = {BUF_INIT, 0};
		char msg[300] = "";
		int status = 0;
		sub *s = submit(g, json_at(arr, i), o.b64, &x, &status, msg, sizeof msg);
		if (i)
			buf_putc(&b, ',');
		if (s)
			buf_printf(&b, "{\"token\":\"%s\"}", s->token);
		else if (x.n)
			buf_printf(&b, "{%.*s}", (int)x.b.len, x.b.data);
		else {
			const char *m = status == 503 ? "queue is full" : msg;
			buf_puts(&b, "{\"error\":");
			json_escape(&b, m, strlen(m));
			buf_puts(&b, "}");
		}
		buf_free(&x.b);
	}
	buf_putc(&b, ']');
	json_free(doc);
	answer_after_sync(g, c, &b);   /* one sync (shared) for the whole batch */
}

static void batch_show_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	opts o;
	if (read_opts(c, req, &o) < 0)
		return;
	char tokens[J0_MAX_BATCH * 40 + 64];
	if (!query_get(req, "tokens", tokens, sizeof tokens) || !tokens[0]) {
		respond_error(c, 400, tokens[0] ? "number of submissions in a batch should be less than or equal to 20"
		                                 : "tokens are required (?tokens=a,b,c)");
		return;
	}
	size_t count = 1;
	for (const char *p = tokens; *p; p++)
		count += *p == ',';
	if (count > J0_MAX_BATCH) {
		respond_error(c, 400, "number of submissions in a batch should be less than or equal to 20");
		return;
	}
	store_expire(g);
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	jw_key(&w, "submissions");
	jw_array_begin(&w);
	for (char *p = tokens; ; ) {
		char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		sub *s = store_find(g, p, l);
		if (s)
			render_sub(&w, s, o.fields, o.b64);
		else
			jw_null(&w);
		if (!comma)
			break;
		p = comma + 1;
	}
	jw_array_end(&w);
	jw_object_end(&w);
	respond_buf(c, 200, &b);
}

static void languages_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_array_begin(&w);
	for (size_t i = 0; i < NLANGS; i++) {
		const runtime *rt = langs[i].listed ? lang_runtime(g->e, &langs[i]) : NULL;
		if (!rt)
			continue;
		char name[96];
		lang_name(&langs[i], rt, name, sizeof name);
		jw_object_begin(&w);
		jw_key(&w, "id");
		jw_int(&w, langs[i].id);
		jw_key(&w, "name");
		jw_string(&w, name);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	respond_buf(c, 200, &b);
}

static void language_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	const char *p = req->path + strlen("/languages/");
	size_t n = req->path_len - strlen("/languages/");
	long id = 0;
	bool digits = n > 0 && n < 10;
	for (size_t i = 0; i < n && digits; i++)
		digits = p[i] >= '0' && p[i] <= '9', id = id * 10 + (p[i] - '0');
	const j0_lang *l = digits ? lang_by_id(id) : NULL;
	const runtime *rt = lang_runtime(g->e, l);
	if (!rt) {
		respond_error(c, 404, "Not Found");
		return;
	}
	char name[96];
	lang_name(l, rt, name, sizeof name);
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	jw_key(&w, "id");
	jw_int(&w, l->id);
	jw_key(&w, "name");
	jw_string(&w, name);
	jw_key(&w, "is_archived");
	jw_bool(&w, false);
	jw_key(&w, "source_file");
	jw_string(&w, l->source);
	jw_key(&w, "compile_cmd");
	if (rt->has_compile)
		jw_string(&w, "/pkg/compile");
	else
		jw_null(&w);
	jw_key(&w, "run_cmd");
	jw_string(&w, "/pkg/run");
	jw_object_end(&w);
	respond_buf(c, 200, &b);
}

static void statuses_handler(http_conn *c, const http_request *req, void *ctx)
{
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_array_begin(&w);
	for (int i = 1; i <= 14; i++) {
		jw_object_begin(&w);
		jw_key(&w, "id");
		jw_int(&w, i);
		jw_key(&w, "description");
		jw_string(&w, status_text[i]);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	respond_buf(c, 200, &b);
}

static void about_handler(http_conn *c, const http_request *req, void *ctx)
{
	buf b = BUF_INIT;
	buf_puts(&b, "{\"version\":\"" J0_VERSION "\",\"homepage\":\"https://github.com/engineer-man/piston\","
	             "\"source_code\":\"https://github.com/engineer-man/piston\",\"maintainer\":\"piston\","
	             "\"piston_version\":\"" PISTON_VERSION "\"}");
	respond_buf(c, 200, &b);
}

static void config_handler(http_conn *c, const http_request *req, void *ctx)
{
	ranges r = effective_ranges();
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	static const char *const flags_true[] = {"enable_wait_result", "enable_compiler_options",
	                                         "enable_command_line_arguments", "enable_additional_files",
	                                         "enable_batched_submissions", "enable_callbacks"};
	static const char *const flags_false[] = {"maintenance_mode", "use_docs_as_homepage"};
	for (size_t i = 0; i < sizeof flags_true / sizeof flags_true[0]; i++)
		jw_key(&w, flags_true[i]), jw_bool(&w, true);
	for (size_t i = 0; i < sizeof flags_false / sizeof flags_false[0]; i++)
		jw_key(&w, flags_false[i]), jw_bool(&w, false);
	jw_key(&w, "enable_submission_delete"), jw_bool(&w, cfg.judge0_allow_delete);
	jw_key(&w, "allowed_languages_for_compile_options");
	jw_array_begin(&w);
	jw_string(&w, "C");
	jw_string(&w, "C++");
	jw_array_end(&w);
	jw_key(&w, "callbacks_max_tries"), jw_int(&w, J0CB_TRIES);
	jw_key(&w, "callbacks_timeout"), jw_double(&w, J0CB_TRY_MS / 1000.0);
	jw_key(&w, "max_queue_size"), jw_uint(&w, cfg.max_queued_jobs);
	struct { const char *key, *max_key; limit_range r; bool integer; } lim[] = {
		{"cpu_time_limit", "max_cpu_time_limit", r.cpu, false},
		{"cpu_extra_time", "max_cpu_extra_time", r.extra, false},
		{"wall_time_limit", "max_wall_time_limit", r.wall, false},
		{"memory_limit", "max_memory_limit", r.memory, true},
		{"stack_limit", "max_stack_limit", r.stack, true},
		{"max_processes_and_or_threads", "max_max_processes_and_or_threads", r.procs, true},
		{"max_file_size", "max_max_file_size", r.fsize, true},
		{"number_of_runs", "max_number_of_runs", r.runs, true},
	};
	for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++) {
		jw_key(&w, lim[i].key);
		lim[i].integer ? jw_int(&w, (int64_t)lim[i].r.def) : jw_double(&w, lim[i].r.def);
		jw_key(&w, lim[i].max_key);
		lim[i].integer ? jw_int(&w, (int64_t)lim[i].r.max) : jw_double(&w, lim[i].r.max);
	}
	jw_key(&w, "enable_per_process_and_thread_time_limit"), jw_bool(&w, false);
	jw_key(&w, "allow_enable_per_process_and_thread_time_limit"), jw_bool(&w, true);
	jw_key(&w, "enable_per_process_and_thread_memory_limit"), jw_bool(&w, false);
	jw_key(&w, "allow_enable_per_process_and_thread_memory_limit"), jw_bool(&w, true);
	jw_key(&w, "redirect_stderr_to_stdout"), jw_bool(&w, false);
	jw_key(&w, "max_extract_size"), jw_uint(&w, cfg.box_size / 1024);
	jw_key(&w, "max_submission_batch_size"), jw_int(&w, J0_MAX_BATCH);
	jw_key(&w, "submission_cache_duration"), jw_double(&w, 0);
	jw_key(&w, "allow_enable_network"), jw_bool(&w, !cfg.disable_networking);
	jw_key(&w, "enable_network"), jw_bool(&w, false);
	jw_object_end(&w);
	respond_buf(c, 200, &b);
}

static void system_handler(http_conn *c, const http_request *req, void *ctx)
{
	struct utsname u;
	if (uname(&u) < 0)
		memset(&u, 0, sizeof u);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	jw_key(&w, "Architecture"), jw_string(&w, u.machine);
	char t[64];
	snprintf(t, sizeof t, "%ld", cpus);
	jw_key(&w, "CPU(s)"), jw_string(&w, t);
	jw_key(&w, "Kernel"), jw_string(&w, u.release);
	snprintf(t, sizeof t, "%.1fG", pages > 0 && psize > 0 ? (double)pages * (double)psize / 1073741824.0 : 0.0);
	jw_key(&w, "Mem"), jw_string(&w, t);
	jw_object_end(&w);
	respond_buf(c, 200, &b);
}

static void workers_handler(http_conn *c, const http_request *req, void *ctx)
{
	judge0 *g = ctx;
	size_t running = execute_running(g->e), queued = execute_queued(g->e);
	size_t slots = cfg.max_concurrent_jobs;
	buf b = BUF_INIT;
	buf_printf(&b, "[{\"queue\":\"" J0_VERSION "\",\"size\":%zu,\"available\":%zu,\"idle\":%zu,\"working\":%zu,"
	               "\"paused\":0,\"failed\":0}]",
	           queued, slots, slots > running ? slots - running : 0, running);
	respond_buf(c, 200, &b);
}

/* -------------------------------------------------------------- journal */

/* A submission's result as one record (texts base64, so any bytes survive). */
static void done_record(const sub *s, buf *out)
{
	jw w;
	jw_init(&w, out);
	jw_object_begin(&w);
	jw_key(&w, "t"), jw_string(&w, "d");
	jw_key(&w, "token"), jw_string(&w, s->token);
	jw_key(&w, "finished_at"), jw_double(&w, s->finished_at);
	jw_key(&w, "status"), jw_int(&w, s->result);
	put_text(&w, "out", &s->out, true);
	put_text(&w, "err", &s->err, true);
	put_text(&w, "co", &s->compile_output, true);
	jw_key(&w, "msg");
	s->has_message ? jw_string(&w, s->message) : jw_null(&w);
	jw_key(&w, "ec");
	s->has_exit_code ? jw_int(&w, s->exit_code) : jw_null(&w);
	jw_key(&w, "sig");
	s->has_signal ? jw_int(&w, s->exit_signal) : jw_null(&w);
	jw_key(&w, "has_time"), jw_bool(&w, s->has_time);
	jw_key(&w, "time"), jw_double(&w, s->time_sum);
	jw_key(&w, "wall"), jw_double(&w, s->wall_sum);
	jw_key(&w, "mem"), jw_double(&w, s->mem_sum);
	jw_key(&w, "runs"), jw_int(&w, s->runs_done);
	jw_key(&w, "cb"), jw_bool(&w, s->callback_done);
	jw_object_end(&w);
}

/* The next compaction when the journal has doubled from size, and not
 * below PISTON_JUDGE0_COMPACT_MIN. */
static void set_compact_at(judge0 *g, uint64_t size)
{
	uint64_t min = cfg.judge0_compact_min;
	g->compact_at = size * 2 > min ? size * 2 : min;
}

/* Adds every live record to the compaction's snapshot: what the store
 * holds (expired results and forgotten submissions drop out). Copies only. */
static int compact_fill(void *arg)
{
	judge0 *g = arg;
	int rc = 0;
	buf b = BUF_INIT;
	for (sub *s = g->head; s && rc == 0; s = s->next) {
		rc = journal_rewrite_add(g->jn, s->jrec, s->jrec_len);
		if (rc == 0 && s->finished) {
			buf_reset(&b);
			done_record(s, &b);
			rc = buf_failed(&b) ? -1 : journal_rewrite_add(g->jn, b.data, b.len);
		}
	}
	buf_free(&b);
	set_compact_at(g, journal_rewrite_size(g->jn));
	return rc;
}

/* Rewrites the journal. at_start (nothing served yet) synchronously; else
 * off the loop (journal_rewrite_prepare): the loop only copies the records
 * into memory, appends and waiters go on meanwhile. */
static void compact(judge0 *g, bool at_start)
{
	if (!g->jn || journal_rewrite_busy(g->jn))
		return;
	int rc;
	if (at_start) {
		rc = journal_rewrite_begin(g->jn);
		rc = rc == 0 ? compact_fill(g) : rc;
		rc = rc == 0 ? journal_rewrite_commit(g->jn) : rc;
	} else {
		rc = journal_rewrite_prepare(g->jn, compact_fill, g);
	}
	if (rc < 0) {
		log_warn("judge0: journal compaction failed (%s); the old journal stays", strerror(errno));
		journal_rewrite_abort(g->jn);
		set_compact_at(g, journal_size(g->jn));
	}
}

static void journal_done(sub *s)
{
	judge0 *g = s->owner;
	if (g->restoring || !g->jn)
		return;
	buf b = BUF_INIT;
	done_record(s, &b);
	/* Not synced: if it is lost in a crash the submission simply runs again. */
	if (buf_failed(&b) || journal_append(g->jn, b.data, b.len) < 0)
		log_warn("judge0: could not journal the result of %s: %s", s->token, strerror(errno));
	buf_free(&b);
	if (journal_size(g->jn) > g->compact_at && !journal_rewrite_busy(g->jn)) {
		store_expire(g);
		compact(g, false);
	}
}

/* Journals a new submission (not yet synced: the handler answers after
 * the group commit's fdatasync, journal_after_sync). */
static int journal_new(judge0 *g, sub *s, const json_value *o, bool b64)
{
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	jw_object_begin(&w);
	jw_key(&w, "t"), jw_string(&w, "s");
	jw_key(&w, "token"), jw_string(&w, s->token);
	jw_key(&w, "created_at"), jw_double(&w, s->created_at);
	jw_key(&w, "b64"), jw_bool(&w, b64);
	jw_key(&w, "sub"), jw_value(&w, o);
	jw_object_end(&w);
	if (buf_failed(&b)) {
		buf_free(&b);
		errno = ENOMEM;
		return -1;
	}
	s->jrec_len = b.len;
	s->jrec = buf_steal(&b);
	if (!g->jn && !g->journal_failed) {   /* the first submission creates the journal */
		char path[4200], err[300];
		snprintf(path, sizeof path, "%s/judge0/journal", cfg.data_directory);
		g->jn = journal_open(path, g->e->loop, NULL, NULL, err, sizeof err);
		if (!g->jn)
			log_error("judge0: cannot create the journal (%s): submissions are refused with 503", err);
	}
	if (!g->jn) {
		errno = EROFS;
		return -1;
	}
	return journal_append(g->jn, s->jrec, s->jrec_len);
}

static void journal_forget(judge0 *g, const char *token)
{
	char rec[80];
	int n = snprintf(rec, sizeof rec, "{\"t\":\"x\",\"token\":\"%s\"}", token);
	if (g->jn)
		journal_append(g->jn, rec, (size_t)n);
}

static void get_b64_text(const json_value *o, const char *key, text *t)
{
	const json_value *v = json_get(o, key);
	text_free(t);
	if (!json_is(v, JSON_STRING))
		return;
	char *d = malloc(base64_decoded_max(v->len) + 1);
	ssize_t n = d ? base64_decode(v->u.string, v->len, d) : -1;
	if (n < 0) {
		free(d);
		return;
	}
	d[n] = 0;
	t->p = d;
	t->n = (size_t)n;
}

static double num_or(const json_value *o, const char *key, double def)
{
	const json_value *v = json_get(o, key);
	return json_is(v, JSON_NUMBER) ? v->u.number : def;
}

static void replay_record(void *ctx, const char *data, size_t len)
{
	judge0 *g = ctx;
	json_error je;
	json_doc *d = json_parse(data, len, &je);
	if (!d) {
		log_warn("judge0: journal record unreadable (%s), skipped", je.message);
		return;
	}
	const json_value *root = json_root(d), *t = json_get(root, "t"), *tok = json_get(root, "token");
	if (!json_is(t, JSON_STRING) || !json_is(tok, JSON_STRING) || tok->len != 36) {
		log_warn("judge0: journal record without a type or token, skipped");
		json_free(d);
		return;
	}
	sub *s = store_find(g, tok->u.string, tok->len);
	if (!strcmp(t->u.string, "s") && !s) {
		s = calloc(1, sizeof *s);
		if (!s) {
			free(s);
			json_free(d);
			return;
		}
		s->owner = g;
		memcpy(s->token, tok->u.string, 36);
		s->created_at = num_or(root, "created_at", now_real());
		errs x = {BUF_INIT, 0};
		if (sub_parse(g, s, json_get(root, "sub"), json_is(json_get(root, "b64"), JSON_TRUE), &x) < 0) {
			s->result = s->status = 13;
			s->finished = true;
			s->finished_at = now_real();
			s->has_message = true;
			snprintf(s->message, sizeof s->message, "could not be restored after a restart: {%.*s}",
			         (int)(x.b.len > 180 ? 180 : x.b.len), x.b.data ? x.b.data : "");
		}
		buf_free(&x.b);
		s->jrec = malloc(len ? len : 1);
		if (s->jrec) {
			memcpy(s->jrec, data, len);
			s->jrec_len = len;
		}
		if (store_add(g, s) < 0) {
			log_warn("judge0: out of memory restoring %s, skipped", s->token);
			sub_free(s);
		} else if (s->finished) {
			finished_add(g, s);
		}
	} else if (!strcmp(t->u.string, "d") && s) {
		s->result = s->status = (int)num_or(root, "status", 13);
		s->finished = true;
		s->finished_at = num_or(root, "finished_at", now_real());
		get_b64_text(root, "out", &s->out);
		get_b64_text(root, "err", &s->err);
		get_b64_text(root, "co", &s->compile_output);
		const json_value *m = json_get(root, "msg");
		s->has_message = json_is(m, JSON_STRING);
		if (s->has_message)
			snprintf(s->message, sizeof s->message, "%s", m->u.string);
		s->has_exit_code = json_is(json_get(root, "ec"), JSON_NUMBER);
		s->exit_code = (int)num_or(root, "ec", 0);
		s->has_signal = json_is(json_get(root, "sig"), JSON_NUMBER);
		s->exit_signal = (int)num_or(root, "sig", 0);
		s->has_time = json_is(json_get(root, "has_time"), JSON_TRUE);
		s->time_sum = num_or(root, "time", 0);
		s->wall_sum = num_or(root, "wall", 0);
		s->mem_sum = num_or(root, "mem", 0);
		s->runs_done = (int)num_or(root, "runs", 1);
		s->callback_done = json_is(json_get(root, "cb"), JSON_TRUE);
		finished_add(g, s);
		free(s->body);
		s->body = NULL;
	} else if (!strcmp(t->u.string, "c") && s) {
		s->callback_done = true;
	} else if (!strcmp(t->u.string, "x") && s) {
		store_unlink(g, s);
		sub_free(s);
	}
	json_free(d);
}

/* ------------------------------------------------------------ callbacks */

/* Queues the PUT of a finished submission's result (Judge0's default
 * fields, in the encoding it was submitted with). */
static void callback_start(sub *s)
{
	judge0 *g = s->owner;
	if (!s->callback_url.p || s->callback_done || !g->callbacks)
		return;
	buf b = BUF_INIT;
	jw w;
	jw_init(&w, &b);
	if (!render_sub(&w, s, J0_DEFAULT_FIELDS, s->b64) || buf_failed(&b)) {
		log_warn("judge0: callback for %s not sent: result not UTF-8 (submit with base64_encoded=true)",
		         s->token);
		buf_free(&b);
		return;
	}
	j0cb_enqueue(g->callbacks, s->token, s->callback_url.p, b.data, b.len);
	buf_free(&b);
}

/* On the loop thread: the delivery ended (delivered, refused or given up);
 * journaled so a restart does not send it again. */
static void callback_ended(void *ctx, const char *token, bool delivered)
{
	judge0 *g = ctx;
	sub *s = store_find(g, token, strlen(token));
	if (delivered)
		log_info("judge0: callback for %s delivered", token);
	if (g->e->stats)
		stats_judge0_callback(g->e->stats, delivered);
	if (!s)
		return;
	s->callback_done = true;
	char rec[80];
	int n = snprintf(rec, sizeof rec, "{\"t\":\"c\",\"token\":\"%s\"}", token);
	if (g->jn)
		journal_append(g->jn, rec, (size_t)n);
}

/* Opens the journal, restores the store, compacts, and queues again what
 * had not finished. */
static void journal_restore(judge0 *g)
{
	char path[4200], err[300];
	snprintf(path, sizeof path, "%s/judge0/journal", cfg.data_directory);
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return;   /* no Judge0 use yet: nothing is created until the first submission */
	g->restoring = true;
	g->jn = journal_open(path, g->e->loop, replay_record, g, err, sizeof err);
	g->restoring = false;
	if (!g->jn) {
		log_error("judge0: no journal (%s): submissions will be refused with 503", err);
		g->journal_failed = true;
		return;
	}
	store_expire(g);
	compact(g, true);   /* before serving: synchronous is fine */
	size_t again = 0, kept = 0;
	for (sub *s = g->head; s; s = s->next) {
		if (s->finished) {
			kept++;
			callback_start(s);   /* at-least-once: a callback cut by a crash is sent again */
			continue;
		}
		again++;
		sub_run(s);
	}
	if (again || kept)
		log_info("judge0: journal restored %zu results, queued %zu unfinished submissions again", kept, again);
}

/* ------------------------------------------------------------- registry */

void judge0_register(engine *e)
{
	if (!cfg.judge0_api)
		return;
	judge0 *g = calloc(1, sizeof *g);
	if (!g) {
		log_error("judge0: out of memory");
		return;
	}
	g->e = e;
	e->judge0 = g;
	g->callbacks = j0cb_new(e->loop, callback_ended, g);
	journal_restore(g);
	http_route(e->http, "POST", "/submissions", create_handler, g);
	http_route(e->http, "GET", "/submissions", index_handler, g);
	http_route(e->http, "POST", "/submissions/batch", batch_create_handler, g);
	http_route(e->http, "GET", "/submissions/batch", batch_show_handler, g);
	http_route(e->http, "GET", "/submissions/*", show_handler, g);
	http_route(e->http, "DELETE", "/submissions/*", delete_handler, g);
	http_route(e->http, "GET", "/languages", languages_handler, g);
	http_route(e->http, "GET", "/languages/*", language_handler, g);
	http_route(e->http, "GET", "/statuses", statuses_handler, g);
	http_route(e->http, "GET", "/about", about_handler, g);
	http_route(e->http, "GET", "/config_info", config_handler, g);
	http_route(e->http, "GET", "/system_info", system_handler, g);
	http_route(e->http, "GET", "/workers", workers_handler, g);
}

bool judge0_journal_counters(engine *e, journal_counters *out)
{
	judge0 *g = e->judge0;
	if (!g || !g->jn)
		return false;
	journal_get_counters(g->jn, out);
	return true;
}

void judge0_unregister(engine *e)
{
	judge0 *g = e->judge0;
	if (!g)
		return;
	j0cb_free(g->callbacks);   /* first: finished deliveries are journaled as done */
	g->callbacks = NULL;
	while (g->head) {
		sub *s = g->head;
		store_unlink(g, s);
		if (s->j)
			job_cancel(s->j);   /* waiters are gone: connections close first (serve.c) */
		sub_free(s);
	}
	journal_close(g->jn);
	tokmap_free(&g->index);
	free(g);
	e->judge0 = NULL;
}
