/*
 * cli_run: `piston run LANG FILE... [-l VERSION] [-i STDIN-FILE] [-r MS]
 * [-c MS] [-t] [-u URL] [-- ARGS]`, like Piston's CLI: sends the files to
 * an engine, prints the program's stdout/stderr, exits with its exit code.
 * -t runs interactively over the WebSocket: the terminal's stdin goes to
 * the program, Ctrl-C (and other terminating signals) reach it as signals;
 * Ctrl-C twice within a second leaves; the end of our stdin ends the
 * program's. Engines are reached over http:// or https:// (also for -t:
 * wss through BearSSL, trusting PISTON_CA_FILE or the system bundle).
 * --test IN[:EXPECTED] (repeatable) sends `tests` (files: IN is the test's
 * stdin, EXPECTED its expected output) and prints a table, one line a test;
 * --output-file PATH (repeatable) asks for a file the program writes and
 * saves what comes back (SPEC section 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "buf.h"
#include "commands.h"
#include "execute.h"
#include "httpc.h"
#include "json.h"
#include "loop.h"
#include "tls.h"
#include "ws.h"

#define MAX_INPUT_FILE (64u << 20)

typedef struct run_opts {
	const char *language;
	const char *version;
	const char **files;
	size_t nfiles;
	const char *stdin_file;
	const char *url;
	const char *compare;
	bool stop_on_failure;
	long run_timeout, compile_timeout;   /* -1: not given */
	bool interactive, status;
	char **args;
	int nargs;
	const char **tests;        /* IN[:EXPECTED] as given */
	size_t ntests;
	const char **outfiles;     /* box-relative paths, saved below the current directory */
	size_t noutfiles;
} run_opts;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: piston run LANG FILE... [options] [-- ARGS...]\n\n"
	        "Runs FILE (the first one is the program; the others are extra files) with\n"
	        "language LANG on a piston engine; prints its output; exits with its exit code.\n\n"
	        "options:\n"
	        "  -l, --language-version VERSION  version or semver selector (default *)\n"
	        "  -f, --files FILE        an extra file (also accepted as a positional FILE)\n"
	        "  -i, --stdin FILE        give FILE (\"-\" = this terminal's stdin) as the program's stdin\n"
	        "  -r, --run-timeout MS    run stage wall-time limit\n"
	        "  -c, --compile-timeout MS compile stage wall-time limit\n"
	        "  -t, --interactive       live over the WebSocket: stdin to the program, Ctrl-C as SIGINT\n"
	        "  -s, --status            print runtime, stages and exit status to stderr\n"
	        "  -u, --url URL           engine (default $PISTON_URL or http://127.0.0.1:2000)\n"
	        "  --test IN[:EXPECTED]    a test case (repeatable): file IN is its stdin, file EXPECTED\n"
	        "                          its expected output (compared by lines; --compare exact|lines|tokens);\n"
	        "                          compiles once, runs every test, prints one line a test\n"
	        "                          (name, status, passed, time, memory) and exits 1 if any failed.\n"
	        "                          IN names a file as a whole if one exists, else it is split\n"
	        "                          at the last ':'\n"
	        "  --compare MODE          how --test compares: exact, lines (default), tokens\n"
	        "  --stop-on-failure       --test: skip the rest after the first failing test\n"
	        "  -o, --output-file PATH  a file the program writes, relative to its working directory\n"
	        "                          (repeatable); saved as ./PATH (its directory must exist);\n"
	        "                          with --test, test N's copy is saved as DIR/N-NAME\n");
}

static int read_file(const char *path, buf *out, char *err, size_t errlen)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		if (!buf_reserve(out, 65536)) {
			snprintf(err, errlen, "%s: out of memory", path);
			break;
		}
		ssize_t n = read(fd, out->data + out->len, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			break;
		}
		if (n == 0) {
			if (fd)
				close(fd);
			return 0;
		}
		out->len += (size_t)n;
		if (out->len > MAX_INPUT_FILE) {
			snprintf(err, errlen, "%s: larger than %u bytes", path, MAX_INPUT_FILE);
			break;
		}
	}
	if (fd)
		close(fd);
	return -1;
}

static long parse_ms(const char *opt, const char *v)
{
	char *end;
	errno = 0;
	long n = v ? strtol(v, &end, 10) : -1;
	if (!v || errno || end == v || *end || n < 0) {
		fprintf(stderr, "piston run: %s needs a number of milliseconds\n", opt);
		return -2;
	}
	return n;
}

static int parse_args(int argc, char **argv, run_opts *o)
{
	const char **files, **extras;
	size_t nextras = 0;
	o->version = "*";
	o->run_timeout = o->compile_timeout = -1;
	o->url = getenv("PISTON_URL");
	if (!o->url || !*o->url)
		o->url = "http://127.0.0.1:2000";
	/* One table: positional files in the first half, -f extras in the second. */
	files = calloc(4 * (size_t)argc, sizeof *files);
	if (!files)
		return -1;
	extras = files + argc;
	o->files = files;
	o->tests = files + 2 * (size_t)argc;
	o->outfiles = files + 3 * (size_t)argc;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			o->args = argv + i + 1;
			o->nargs = argc - i - 1;
			break;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 1;
		} else if (!strcmp(a, "-l") || !strcmp(a, "--language-version") || !strcmp(a, "--version")) {
			if (!next)
				goto missing;
			o->version = next;
			i++;
		} else if (!strcmp(a, "-i") || !strcmp(a, "--stdin")) {
			if (!next)
				goto missing;
			o->stdin_file = next;
			i++;
		} else if (!strcmp(a, "-r") || !strcmp(a, "--rt") || !strcmp(a, "--run-timeout")) {
			if ((o->run_timeout = parse_ms(a, next)) == -2)
				return -1;
			i++;
		} else if (!strcmp(a, "-c") || !strcmp(a, "--ct") || !strcmp(a, "--compile-timeout")) {
			if ((o->compile_timeout = parse_ms(a, next)) == -2)
				return -1;
			i++;
		} else if (!strcmp(a, "-u") || !strcmp(a, "--url")) {
			if (!next)
				goto missing;
			o->url = next;
			i++;
		} else if (!strcmp(a, "-f") || !strcmp(a, "--files")) {
			if (!next)   /* Piston's CLI spelling for an extra file */
				goto missing;
			extras[nextras++] = next;   /* after the positional files: FILE stays first */
			i++;
		} else if (!strcmp(a, "--test")) {
			if (!next)
				goto missing;
			o->tests[o->ntests++] = next;
			i++;
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output-file")) {
			if (!next)
				goto missing;
			o->outfiles[o->noutfiles++] = next;
			i++;
		} else if (!strcmp(a, "--compare")) {
			if (!next)
				goto missing;
			o->compare = next;
			i++;
		} else if (!strcmp(a, "--stop-on-failure")) {
			o->stop_on_failure = true;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--interactive")) {
			o->interactive = true;
		} else if (!strcmp(a, "-s") || !strcmp(a, "--status")) {
			o->status = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "piston run: unknown option %s\n", a);
			return -1;
		} else if (!o->language) {
			o->language = a;
		} else {
			files[o->nfiles++] = a;
		}
		continue;
missing:
		fprintf(stderr, "piston run: %s needs a value\n", a);
		return -1;
	}
	for (size_t k = 0; k < nextras; k++)
		files[o->nfiles++] = extras[k];
	if (!o->language || !o->nfiles) {
		usage(stderr);
		return -1;
	}
	if (o->ntests && o->interactive) {
		fprintf(stderr, "piston run: --test cannot be combined with -t\n");
		return -1;
	}
	return 0;
}

/* --test IN[:EXPECTED]: IN is the whole argument when such a file exists
 * (a name with a ':' in it), else the part before the last ':'. */
static void split_test(const char *spec, char *in, size_t n, const char **expected)
{
	const char *colon = strrchr(spec, ':');
	*expected = NULL;
	if (!colon || access(spec, F_OK) == 0) {
		snprintf(in, n, "%s", spec);
		return;
	}
	snprintf(in, n, "%.*s", (int)(colon - spec), spec);
	*expected = colon + 1;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

static int add_tests(const run_opts *o, jw *w)
{
	char err[512], in[4096];
	jw_key(w, "tests");
	jw_array_begin(w);
	for (size_t i = 0; i < o->ntests; i++) {
		const char *expected;
		split_test(o->tests[i], in, sizeof in, &expected);
		buf data = BUF_INIT;
		jw_object_begin(w);
		jw_key(w, "name");
		jw_string(w, in[0] ? base_name(in) : o->tests[i]);
		if (in[0] && read_file(in, &data, err, sizeof err) < 0)
			goto bad;
		jw_key(w, "stdin");
		jw_string_n(w, data.data ? data.data : "", data.len);
		if (expected) {
			buf_reset(&data);
			if (read_file(expected, &data, err, sizeof err) < 0)
				goto bad;
			jw_key(w, "expected_output");
			jw_string_n(w, data.data ? data.data : "", data.len);
		}
		jw_object_end(w);
		buf_free(&data);
		continue;
bad:
		fprintf(stderr, "piston run: --test %s: %s\n", o->tests[i], err);
		buf_free(&data);
		return -1;
	}
	jw_array_end(w);
	if (o->compare) {
		jw_key(w, "compare");
		jw_string(w, o->compare);
	}
	if (o->stop_on_failure) {
		jw_key(w, "stop_on_failure");
		jw_bool(w, true);
	}
	return 0;
}

/* The request body: the execute fields (plus "type":"init" for -t). */
static int build_request(const run_opts *o, buf *out)
{
	char err[512];
	jw w;
	jw_init(&w, out);
	jw_object_begin(&w);
	if (o->interactive) {
		jw_key(&w, "type");
		jw_string(&w, "init");
	}
	jw_key(&w, "language");
	jw_string(&w, o->language);
	jw_key(&w, "version");
	jw_string(&w, o->version);
	jw_key(&w, "files");
	jw_array_begin(&w);
	for (size_t i = 0; i < o->nfiles; i++) {
		buf content = BUF_INIT;
		if (read_file(o->files[i], &content, err, sizeof err) < 0) {
			fprintf(stderr, "piston run: %s\n", err);
			buf_free(&content);
			return -1;
		}
		const char *base = strrchr(o->files[i], '/');
		base = base ? base + 1 : o->files[i];
		jw_object_begin(&w);
		jw_key(&w, "name");
		jw_string(&w, base);
		jw_key(&w, "content");
		if (json_utf8_check(content.data ? content.data : "", content.len, NULL) == UTF8_VALID) {
			jw_string_n(&w, content.data ? content.data : "", content.len);
		} else {
			char *b64 = malloc(base64_encoded_len(content.len) + 1);
			if (!b64) {
				buf_free(&content);
				return -1;
			}
			size_t n = base64_encode(content.data, content.len, b64);
			jw_string_n(&w, b64, n);
			free(b64);
			jw_key(&w, "encoding");
			jw_string(&w, "base64");
		}
		jw_object_end(&w);
		buf_free(&content);
	}
	jw_array_end(&w);
	jw_key(&w, "args");
	jw_array_begin(&w);
	for (int i = 0; i < o->nargs; i++)
		jw_string(&w, o->args[i]);
	jw_array_end(&w);
	if (o->stdin_file && !o->interactive) {
		buf in = BUF_INIT;
		if (read_file(o->stdin_file, &in, err, sizeof err) < 0) {
			fprintf(stderr, "piston run: %s\n", err);
			buf_free(&in);
			return -1;
		}
		jw_key(&w, "stdin");
		jw_string_n(&w, in.data ? in.data : "", in.len);
		buf_free(&in);
	}
	if (o->ntests && add_tests(o, &w) < 0)
		return -1;
	if (o->noutfiles) {
		jw_key(&w, "output_files");
		jw_array_begin(&w);
		for (size_t i = 0; i < o->noutfiles; i++)
			jw_string(&w, o->outfiles[i]);
		jw_array_end(&w);
	}
	if (o->run_timeout >= 0) {
		jw_key(&w, "run_timeout");
		jw_int(&w, o->run_timeout);
	}
	if (o->compile_timeout >= 0) {
		jw_key(&w, "compile_timeout");
		jw_int(&w, o->compile_timeout);
	}
	jw_object_end(&w);
	return buf_failed(out) ? -1 : 0;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static const char *str_or(const json_value *v, const char *dflt)
{
	return json_is(v, JSON_STRING) ? v->u.string : dflt;
}

/* Exit status for a stage: its code, 128+signal, or 1 for other failures. */
static int stage_exit_status(const json_value *stage)
{
	const json_value *code = json_get(stage, "code");
	if (json_is(code, JSON_NUMBER))
		return (int)code->u.number & 255;
	int signo = sbx_signal_number(str_or(json_get(stage, "signal"), NULL));
	return signo ? 128 + signo : 1;
}

static int body_collect(void *ctx, const void *data, size_t len)
{
	buf_append(ctx, data, len);
	return buf_failed(ctx) ? -1 : 0;
}

/* Save the files that came back (only names we asked for: an answer cannot
 * make us write anywhere else). test_no > 0: test N's copy, DIR/N-NAME. */
static void save_files(const run_opts *o, const json_value *files, size_t test_no)
{
	for (size_t i = 0; json_is(files, JSON_ARRAY) && i < files->len; i++) {
		const json_value *f = json_at(files, i);
		const char *name = str_or(json_get(f, "name"), NULL);
		bool asked = false;
		for (size_t k = 0; name && k < o->noutfiles && !asked; k++)
			asked = !strcmp(name, o->outfiles[k]);
		if (!asked)
			continue;
		const char *error = str_or(json_get(f, "error"), NULL);
		const json_value *content = json_get(f, "content");
		if (error || !json_is(content, JSON_STRING)) {
			fprintf(stderr, "piston run: output file %s: %s\n", name, error ? error : "no content");
			continue;
		}
		char path[8192];
		const char *base = base_name(name);
		if (test_no)
			snprintf(path, sizeof path, "%.*s%zu-%s", (int)(base - name), name, test_no, base);
		else
			snprintf(path, sizeof path, "%s", name);
		char *data = malloc(base64_decoded_max(content->len) + 1);
		ssize_t n = data ? base64_decode(content->u.string, content->len, data) : -1;
		int fd = n >= 0 ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644) : -1;
		if (n < 0)
			fprintf(stderr, "piston run: output file %s: the engine sent bad base64\n", name);
		else if (fd < 0)
			fprintf(stderr, "piston run: cannot save output file %s as %s: %s\n", name, path, strerror(errno));
		else {
			write_all(fd, data, (size_t)n);
			close(fd);
			if (json_is(json_get(f, "truncated"), JSON_TRUE))
				fprintf(stderr, "piston run: output file %s was cut at the engine's cap (%zd of %.0f bytes)\n",
				        name, n, json_is(json_get(f, "size"), JSON_NUMBER) ? json_get(f, "size")->u.number : 0.0);
		}
		free(data);
	}
}

static void print_capped(const char *label, const json_value *v)
{
	if (!json_is(v, JSON_STRING) || !v->len)
		return;
	size_t n = v->len > 2000 ? 2000 : v->len;
	printf("  %s:\n%.*s%s", label, (int)n, v->u.string, v->u.string[n - 1] == '\n' ? "" : "\n");
	if (n < v->len)
		printf("  (%zu more bytes)\n", v->len - n);
}

/* --test: one line a test, then what the failed ones printed; 1 if any
 * test failed (passed false, or ended with a status: RE, TO, SK, ...). */
static int print_tests(const run_opts *o, const json_value *root)
{
	const json_value *compile = json_get(root, "compile");
	const json_value *tests = json_get(root, "tests");
	const char *cst = str_or(json_get(compile, "status"), NULL);
	if (compile && (cst || stage_exit_status(compile))) {
		const json_value *out = json_get(compile, "stdout"), *er = json_get(compile, "stderr");
		if (json_is(out, JSON_STRING))
			write_all(2, out->u.string, out->len);
		if (json_is(er, JSON_STRING))
			write_all(2, er->u.string, er->len);
		fprintf(stderr, "piston run: compile stage: %s\n", str_or(json_get(compile, "message"), "failed"));
	}
	if (!json_is(tests, JSON_ARRAY)) {
		fprintf(stderr, "piston run: the engine's answer has no tests (an engine without test support?)\n");
		return 1;
	}
	printf("%-24s %-7s %-7s %9s %11s\n", "TEST", "STATUS", "PASSED", "TIME", "MEMORY");
	bool any_failed = false;
	for (size_t i = 0; i < tests->len; i++) {
		const json_value *tc = json_at(tests, i);
		const char *st = str_or(json_get(tc, "status"), NULL);
		const json_value *passed = json_get(tc, "passed");
		const json_value *wall = json_get(tc, "wall_time"), *mem = json_get(tc, "memory");
		bool failed = json_is(passed, JSON_FALSE) || (st && *st);
		any_failed |= failed;
		char t[32] = "-", m[32] = "-";
		if (json_is(wall, JSON_NUMBER))
			snprintf(t, sizeof t, "%.0f ms", wall->u.number);
		if (json_is(mem, JSON_NUMBER))
			snprintf(m, sizeof m, "%.1f MiB", mem->u.number / 1048576.0);
		printf("%-24s %-7s %-7s %9s %11s\n", str_or(json_get(tc, "name"), "?"), st ? st : "ok",
		       json_is(passed, JSON_TRUE) ? "yes" : json_is(passed, JSON_FALSE) ? "no" : "-", t, m);
		if (o->noutfiles)
			save_files(o, json_get(tc, "files"), i + 1);
	}
	for (size_t i = 0; i < tests->len; i++) {
		const json_value *tc = json_at(tests, i);
		const char *st = str_or(json_get(tc, "status"), NULL);
		if (!(json_is(json_get(tc, "passed"), JSON_FALSE) || (st && *st && strcmp(st, "SK"))))
			continue;
		printf("--- %s: %s\n", str_or(json_get(tc, "name"), "?"),
		       str_or(json_get(tc, "message"), st ? st : "wrong output"));
		print_capped("stdout", json_get(tc, "stdout"));
		print_capped("stderr", json_get(tc, "stderr"));
	}
	const json_value *sum = json_get(root, "summary");
	const json_value *sp = json_get(sum, "passed"), *sf = json_get(sum, "failed"), *ss = json_get(sum, "skipped");
	if (json_is(sp, JSON_NUMBER) && json_is(sf, JSON_NUMBER) && json_is(ss, JSON_NUMBER))
		printf("%.0f passed, %.0f failed, %.0f skipped (%zu tests)\n", sp->u.number, sf->u.number, ss->u.number,
		       (size_t)tests->len);
	return any_failed ? 1 : 0;
}

static int run_batch(const run_opts *o, const buf *req)
{
	char url[4200], err[512];
	size_t ulen = strlen(o->url);
	while (ulen && o->url[ulen - 1] == '/')
		ulen--;
	snprintf(url, sizeof url, "%.*s/api/v2/execute", (int)ulen, o->url);
	buf resp = BUF_INIT;
	int status = 0;
	httpc_options opts = {.total_timeout_ms = 30 * 60 * 1000};
	if (httpc_request_ex("POST", url, "Content-Type: application/json\r\n", req->data, req->len,
	                     body_collect, &resp, &opts, &status, err, sizeof err) < 0) {
		fprintf(stderr, "piston run: cannot reach the engine at %s: %s\n", o->url, err);
		buf_free(&resp);
		return 1;
	}
	json_error jerr;
	json_doc *doc = json_parse(resp.data ? resp.data : "", resp.len, &jerr);
	const json_value *root = doc ? json_root(doc) : NULL;
	if (status != 200) {
		const char *msg = str_or(json_get(root, "message"), NULL);
		fprintf(stderr, "piston run: the engine answered %d: %s\n", status,
		        msg ? msg : resp.len ? resp.data : "(no message)");
		json_free(doc);
		buf_free(&resp);
		return 1;
	}
	if (!doc) {
		fprintf(stderr, "piston run: the engine's answer is not JSON (%s)\n", jerr.message);
		buf_free(&resp);
		return 1;
	}
	const json_value *compile = json_get(root, "compile");
	const json_value *run = json_get(root, "run");
	if (o->status)
		fprintf(stderr, "runtime: %s %s\n", str_or(json_get(root, "language"), "?"),
		        str_or(json_get(root, "version"), "?"));
	if (o->ntests) {
		int trc = print_tests(o, root);
		json_free(doc);
		buf_free(&resp);
		return trc;
	}
	if (o->noutfiles)
		save_files(o, json_get(run, "files"), 0);
	int rc = 0;
	for (int k = 0; k < 2; k++) {
		const json_value *stage = k ? run : compile;
		if (!stage)
			continue;
		const json_value *out = json_get(stage, "stdout"), *er = json_get(stage, "stderr");
		if (json_is(out, JSON_STRING))
			write_all(1, out->u.string, out->len);
		if (json_is(er, JSON_STRING))
			write_all(2, er->u.string, er->len);
		const char *st = str_or(json_get(stage, "status"), NULL);
		rc = stage_exit_status(stage);
		if (st && strcmp(st, "RE"))   /* a non-zero exit speaks through our exit code */
			fprintf(stderr, "piston run: %s stage: %s (%s)\n", k ? "run" : "compile",
			        str_or(json_get(stage, "message"), st), st);
		else if (o->status)
			fprintf(stderr, "%s stage exited with code %d\n", k ? "run" : "compile", rc);
		if (!k && (st || rc))
			break;   /* compilation failed: "run" repeats "compile" */
	}
	json_free(doc);
	buf_free(&resp);
	return rc;
}

/* ------------------------------------------------------------------ -t */

typedef struct ws_client {
	int fd;
	tls_conn *tls;             /* https:// engines (wss://) */
	buf in, out;
	ws_parser parser;
	int exit_code;
	bool got_exit;
	bool status;
	const run_opts *opts;
} ws_client;

static void conn_write(ws_client *c, const char *p, size_t n)
{
	if (c->tls)
		tls_write_all(c->tls, p, n);
	else
		write_all(c->fd, p, n);
}

/* BearSSL reads one record at a time from the socket, and a 64 KiB buffer
 * takes a whole record's plaintext, so poll() on the socket stays exact. */
static ssize_t conn_read(ws_client *c, char *p, size_t n)
{
	return c->tls ? tls_read(c->tls, p, n) : read(c->fd, p, n);
}

static int send_frame(ws_client *c, const char *text, size_t n)
{
	unsigned char key[4];
	if (getrandom(key, sizeof key, 0) != (ssize_t)sizeof key)
		return -1;
	buf_reset(&c->out);
	ws_encode(&c->out, WS_OP_TEXT, text, n, key);
	if (buf_failed(&c->out))
		return -1;
	conn_write(c, c->out.data, c->out.len);
	return 0;
}

static int dial(const httpc_url *u, char *err, size_t errlen)
{
	char port[16];
	snprintf(port, sizeof port, "%u", u->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(u->host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		snprintf(err, errlen, "cannot connect to %s:%u: %s", u->host, u->port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Send the upgrade request and check the 101 answer; bytes after the head
 * stay in c->in. */
static int ws_handshake(ws_client *c, const httpc_url *u, char *err, size_t errlen)
{
	unsigned char raw[16];
	char key[25], expect[29];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -1;
	}
	key[base64_encode(raw, sizeof raw, key)] = 0;
	ws_accept_key(key, strlen(key), expect);
	buf req = BUF_INIT;
	char path[4200];
	size_t tlen = strlen(u->target);
	while (tlen && u->target[tlen - 1] == '/')
		tlen--;
	snprintf(path, sizeof path, "%.*s/api/v2/connect", (int)tlen, u->target);
	buf_printf(&req, "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	                 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
	           path, u->host, u->port, key);
	conn_write(c, req.data, req.len);
	buf_free(&req);
	for (;;) {
		char *end = c->in.len ? memmem(c->in.data, c->in.len, "\r\n\r\n", 4) : NULL;
		if (end) {
			size_t head = (size_t)(end - c->in.data) + 4;
			int ok = !strncmp(c->in.data, "HTTP/1.1 101", 12) &&
			         memmem(c->in.data, head, expect, 28) != NULL;
			if (!ok) {
				const char *body = end + 4;
				snprintf(err, errlen, "the engine refused the WebSocket: %.*s %.*s",
				         (int)strcspn(c->in.data, "\r\n"), c->in.data,
				         (int)(c->in.len - head > 200 ? 200 : c->in.len - head), body);
				return -1;
			}
			buf_consume(&c->in, head);
			return 0;
		}
		if (c->in.len > 65536 || !buf_reserve(&c->in, 65536)) {
			snprintf(err, errlen, "the engine's answer is too long");
			return -1;
		}
		ssize_t n = conn_read(c, c->in.data + c->in.len, 65536);
		if (n < 0 && errno == EINTR && !c->tls)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "the engine closed the connection during the handshake");
			return -1;
		}
		c->in.len += (size_t)n;
	}
}

/* One server message; returns 1 when the session is over. */
static int ws_message(ws_client *c, const char *data, size_t len)
{
	json_error jerr;
	json_doc *doc = json_parse(data, len, &jerr);
	if (!doc)
		return 0;
	const json_value *m = json_root(doc);
	const char *type = str_or(json_get(m, "type"), "");
	if (!strcmp(type, "data")) {
		const json_value *d = json_get(m, "data");
		int fd = !strcmp(str_or(json_get(m, "stream"), ""), "stderr") ? 2 : 1;
		if (json_is(d, JSON_STRING))
			write_all(fd, d->u.string, d->len);
	} else if (!strcmp(type, "exit")) {
		c->exit_code = stage_exit_status(m);
		c->got_exit = true;
		const char *st = str_or(json_get(m, "status"), NULL);
		if (st && strcmp(st, "RE"))
			fprintf(stderr, "piston run: %s stage: %s (%s)\n", str_or(json_get(m, "stage"), "?"),
			        str_or(json_get(m, "message"), st), st);
		else if (c->status)
			fprintf(stderr, "%s stage exited with code %d\n", str_or(json_get(m, "stage"), "?"),
			        c->exit_code);
	} else if (!strcmp(type, "files")) {
		save_files(c->opts, json_get(m, "files"), 0);
	} else if (!strcmp(type, "error")) {
		fprintf(stderr, "piston run: %s\n", str_or(json_get(m, "message"), "error"));
		c->exit_code = 1;
		c->got_exit = true;
	} else if (c->status && !strcmp(type, "runtime")) {
		fprintf(stderr, "runtime: %s %s\n", str_or(json_get(m, "language"), "?"),
		        str_or(json_get(m, "version"), "?"));
	} else if (c->status && !strcmp(type, "stage")) {
		fprintf(stderr, "stage: %s\n", str_or(json_get(m, "stage"), "?"));
	}
	json_free(doc);
	return 0;
}

/* Parse what arrived; 1 when the server closed. */
static int ws_drain(ws_client *c)
{
	for (;;) {
		size_t consumed = 0;
		ws_event ev;
		ws_result r = ws_parse(&c->parser, c->in.data, c->in.len, &consumed, &ev);
		if (r == WS_NEED_MORE) {
			buf_consume(&c->in, consumed);
			return 0;
		}
		if (r == WS_MESSAGE)
			ws_message(c, ev.data, ev.len);
		if (r == WS_CLOSE) {
			if (ev.close_code != 4999 && !c->got_exit) {
				fprintf(stderr, "piston run: the engine closed the session: %u %.*s\n",
				        ev.close_code, (int)ev.len, ev.data);
				c->exit_code = 1;
			}
			buf_consume(&c->in, consumed);
			return 1;
		}
		if (r == WS_ERROR) {
			fprintf(stderr, "piston run: WebSocket error from the engine: %s\n", ev.error);
			c->exit_code = 1;
			return 1;
		}
		buf_consume(&c->in, consumed);
	}
}

static int run_interactive(const run_opts *o, const buf *init)
{
	httpc_url u;
	char err[512];
	if (httpc_parse_url(o->url, &u) < 0) {
		fprintf(stderr, "piston run: not an http(s) URL: %s\n", o->url);
		return 1;
	}
	ws_client c = {.fd = -1, .status = o->status, .opts = o};
	tls_trust *trust = NULL;
	ws_parser_init(&c.parser, true, 64u << 20);
	c.fd = dial(&u, err, sizeof err);
	if (c.fd >= 0 && u.https) {
		const char *ca = getenv("PISTON_CA_FILE");
		trust = tls_trust_load(ca && *ca ? ca : TLS_SYSTEM_CA_FILE, err, sizeof err);
		if (trust)
			c.tls = tls_connect(c.fd, u.host, trust, mono_ns() + 15000000000ull, err, sizeof err);
		if (c.tls)   /* an interactive session may be quiet for long */
			tls_set_deadline(c.tls, UINT64_MAX);
	}
	if (c.fd < 0 || (u.https && !c.tls) || ws_handshake(&c, &u, err, sizeof err) < 0) {
		fprintf(stderr, "piston run: cannot reach the engine at %s: %s\n", o->url, err);
		if (c.tls)
			tls_free(c.tls);
		tls_trust_free(trust);
		if (c.fd >= 0)
			close(c.fd);
		ws_parser_free(&c.parser);
		buf_free(&c.in);
		return 1;
	}
	send_frame(&c, init->data, init->len);

	static const int forwarded[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
	sigset_t set;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
		sigaddset(&set, forwarded[i]);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	struct timespec last_int = {0};
	bool stdin_open = true, done = ws_drain(&c);
	while (!done) {
		struct pollfd p[3] = {{c.fd, POLLIN, 0}, {sfd, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
				struct timespec now;
				clock_gettime(CLOCK_MONOTONIC, &now);
				if (si.ssi_signo == SIGINT && last_int.tv_sec &&
				    (now.tv_sec - last_int.tv_sec) * 1000 + (now.tv_nsec - last_int.tv_nsec) / 1000000 < 1000) {
					fprintf(stderr, "\npiston run: interrupted\n");
					c.exit_code = 130;
					break;
				}
				if (si.ssi_signo == SIGINT)
					last_int = now;
				char msg[64];
				int n = snprintf(msg, sizeof msg, "{\"type\":\"signal\",\"signal\":\"%s\"}",
				                 sbx_signal_name((int)si.ssi_signo));
				send_frame(&c, msg, (size_t)n);
			}
		}
		if (p[2].revents & (POLLIN | POLLHUP)) {
			char data[4096];
			ssize_t n = read(0, data, sizeof data);
			if (n <= 0) {
				stdin_open = false;
				static const char eof[] = "{\"type\":\"data\",\"stream\":\"stdin\",\"eof\":true}";
				send_frame(&c, eof, sizeof eof - 1);
			} else {
				buf m = BUF_INIT;
				jw w;
				jw_init(&w, &m);
				jw_object_begin(&w);
				jw_key(&w, "type");
				jw_string(&w, "data");
				jw_key(&w, "stream");
				jw_string(&w, "stdin");
				jw_key(&w, "data");
				jw_string_n(&w, data, (size_t)n);
				jw_object_end(&w);
				send_frame(&c, m.data, m.len);
				buf_free(&m);
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (!buf_reserve(&c.in, 65536))
				break;
			ssize_t n = conn_read(&c, c.in.data + c.in.len, 65536);
			if (n < 0 && errno == EINTR && !c.tls)
				continue;
			if (n <= 0) {
				if (!c.got_exit) {
					fprintf(stderr, "piston run: the engine closed the connection\n");
					c.exit_code = 1;
				}
				break;
			}
			c.in.len += (size_t)n;
			done = ws_drain(&c);
		}
	}
	unsigned char key[4] = {1, 2, 3, 4};
	buf_reset(&c.out);
	ws_encode_close(&c.out, WS_CLOSE_NORMAL, "", 0, key);
	conn_write(&c, c.out.data, c.out.len);
	if (c.tls)
		tls_free(c.tls);
	tls_trust_free(trust);
	close(c.fd);
	if (sfd >= 0)
		close(sfd);
	ws_parser_free(&c.parser);
	buf_free(&c.in);
	buf_free(&c.out);
	return c.exit_code;
}

int cmd_run(int argc, char **argv)
{
	run_opts o = {0};
	int rc = parse_args(argc, argv, &o);
	if (rc)
		return rc > 0 ? 0 : 2;
	buf req = BUF_INIT;
	if (build_request(&o, &req) < 0) {
		buf_free(&req);
		free(o.files);
		return 1;
	}
	rc = o.interactive ? run_interactive(&o, &req) : run_batch(&o, &req);
	buf_free(&req);
	free(o.files);
	return rc;
}
