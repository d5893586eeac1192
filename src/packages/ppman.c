/*
 * ppman: `piston ppman list|install|uninstall` -- the package manager CLI,
 * against an engine's /api/v2/packages (-u URL) or directly on a data
 * directory (--data DIR, no engine needed; the repository from --repo or
 * PISTON_REPO_URL).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "commands.h"
#include "httpc.h"
#include "config.h"
#include "install.h"
#include "json.h"
#include "loop.h"
#include "repo.h"

#define DEFAULT_ENGINE "http://127.0.0.1:2000"

typedef struct ppman_opts {
	const char *engine;     /* -u */
	const char *data_dir;   /* --data */
	const char *repo;       /* --repo */
	const char *ca_file;
	bool tty;
	bool if_missing;   /* --if-missing: "Already installed" is success */
} ppman_opts;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: piston ppman [-u URL | --data DIR [--repo URL]] COMMAND [ARGS]\n\n"
	        "commands:\n"
	        "  list                         packages in the repository, and which are installed\n"
	        "  install LANG[=VERSION]...    install (VERSION is a semver selector, default: newest)\n"
	        "  uninstall LANG[=VERSION]...  uninstall (default: the newest installed version)\n\n"
	        "options:\n"
	        "  -u, --url URL     the engine to manage (default " DEFAULT_ENGINE ")\n"
	        "  --data DIR        work directly on a data directory instead (no engine running)\n"
	        "  --repo URL        repository index for --data (default $PISTON_REPO_URL):\n"
	        "                    https://..., http://..., file:///... or a directory path;\n"
	        "                    tools/mkrepo builds one (build/repo/index)\n"
	        "  --if-missing      with --data: a package already installed is no error\n"
	        "                    (an init container run again over its volume)\n"
	        "environment: PISTON_REPO_URL, PISTON_CA_FILE, PISTON_PACKAGE_MAX_SIZE,\n"
	        "             PISTON_PACKAGE_MAX_FILES\n");
}

/* ---- progress bar (stderr, only on a terminal) ---- */

typedef struct progress {
	const char *label;
	uint64_t last_ns;
	bool shown;
} progress;

static void progress_draw(void *ctx, uint64_t done, uint64_t total)
{
	progress *p = ctx;
	uint64_t now = mono_ns();
	if (p->shown && now - p->last_ns < 100000000 && done != total)
		return;
	p->last_ns = now;
	p->shown = true;
	if (total == UINT64_MAX || total == 0) {
		fprintf(stderr, "\r%s  %.1f MB", p->label, (double)done / 1e6);
	} else {
		int width = 30;
		int fill = (int)(done * (uint64_t)width / total);
		if (fill > width)
			fill = width;
		char bar[64];
		memset(bar, '#', (size_t)fill);
		memset(bar + fill, '.', (size_t)(width - fill));
		bar[width] = '\0';
		fprintf(stderr, "\r%s [%s] %3d%% %.1f/%.1f MB", p->label, bar,
		        (int)(done * 100 / total), (double)done / 1e6, (double)total / 1e6);
	}
	fflush(stderr);
}

static void progress_end(progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r\033[K");
}

/* Split "LANG[=VERSION]" (also "LANG@VERSION"). */
static void split_spec(const char *spec, char *lang, size_t langlen, const char **version)
{
	size_t n = strcspn(spec, "=@");
	snprintf(lang, langlen, "%.*s", (int)n, spec);
	*version = spec[n] ? spec + n + 1 : NULL;
}

/* ---- direct mode (--data) ---- */

static int direct_list(const ppman_opts *o)
{
	repo_index idx;
	char err[600];
	if (repo_fetch_index(o->repo, o->ca_file, &idx, err, sizeof err) < 0) {
		fprintf(stderr, "piston ppman: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < idx.n; i++) {
		char v[80], msg[200];
		bool inst = install_find_installed(o->data_dir, idx.entries[i].language, idx.entries[i].version,
		                                   v, sizeof v, msg, sizeof msg) == 0;
		printf("%-20s %-14s %s\n", idx.entries[i].language, idx.entries[i].version,
		       inst ? "installed" : "-");
	}
	repo_index_free(&idx);
	return 0;
}

static int direct_install(const ppman_opts *o, const char *spec)
{
	char lang[128], version[80], msg[1024];
	const char *sel;
	split_spec(spec, lang, sizeof lang, &sel);
	progress p = {.label = spec};
	install_request rq = {
		.data_dir = o->data_dir, .repo_url = o->repo, .ca_file = o->ca_file,
		.language = lang, .selector = sel,
		.progress = o->tty ? progress_draw : NULL, .progress_ctx = &p,
	};
	int st = install_package(&rq, version, sizeof version, msg, sizeof msg);
	progress_end(&p);
	if (st == 409 && o->if_missing) {
		/* an init container that runs again over a kept volume */
		printf("already installed %s-%s\n", lang, version);
		return 0;
	}
	if (st != 0) {
		fprintf(stderr, "piston ppman: %s: %s\n", spec, msg);
		return 1;
	}
	printf("installed %s-%s\n", lang, version);
	return 0;
}

static int direct_uninstall(const ppman_opts *o, const char *spec)
{
	char lang[128], version[80], msg[1024];
	const char *sel;
	split_spec(spec, lang, sizeof lang, &sel);
	int st = install_find_installed(o->data_dir, lang, sel, version, sizeof version, msg, sizeof msg);
	if (st == 0)
		st = install_uninstall(o->data_dir, lang, version, 0, msg, sizeof msg);
	if (st != 0) {
		fprintf(stderr, "piston ppman: %s: %s\n", spec, msg);
		return 1;
	}
	printf("uninstalled %s-%s\n", lang, version);
	return 0;
}

/* ---- engine mode (-u) ---- */

static int collect(void *ctx, const void *data, size_t len)
{
	buf *b = ctx;
	if (b->len + len > (64u << 20))
		return 1;
	buf_append(b, data, len);
	return buf_failed(b) ? 1 : 0;
}

/* Request to the engine; returns the status (0 if no response) and the
 * parsed body (NULL if not JSON). */
static int engine_call(const ppman_opts *o, const char *method, const buf *body, json_doc **doc, char *err, size_t errlen)
{
	size_t base = strlen(o->engine);
	while (base > 0 && o->engine[base - 1] == '/')
		base--;   /* "http://host:2000/" works too */
	char url[4200];
	snprintf(url, sizeof url, "%.*s/api/v2/packages", (int)(base < 4000 ? base : 4000), o->engine);
	buf resp = BUF_INIT;
	int status = 0;
	httpc_options opt = {.total_timeout_ms = 3600000, .ca_file = o->ca_file};
	*doc = NULL;
	if (httpc_request_ex(method, url, body ? "Content-Type: application/json\r\n" : NULL,
	                     body ? body->data : NULL, body ? body->len : 0, collect, &resp, &opt,
	                     &status, err, errlen) < 0) {
		buf_free(&resp);
		return 0;
	}
	json_error je;
	*doc = json_parse(resp.data ? resp.data : "", resp.len, &je);
	if (!*doc)
		snprintf(err, errlen, "HTTP %d with a non-JSON body", status);
	buf_free(&resp);
	return status;
}

static const char *message_of(json_doc *doc, const char *fallback)
{
	const json_value *m = doc ? json_get(json_root(doc), "message") : NULL;
	return json_is(m, JSON_STRING) ? m->u.string : fallback;
}

static int engine_list(const ppman_opts *o)
{
	char err[600];
	json_doc *doc;
	int st = engine_call(o, "GET", NULL, &doc, err, sizeof err);
	const json_value *root = doc ? json_root(doc) : NULL;
	if (st != 200 || !json_is(root, JSON_ARRAY)) {
		fprintf(stderr, "piston ppman: %s\n", st ? message_of(doc, err) : err);
		json_free(doc);
		return 1;
	}
	for (size_t i = 0; i < root->len; i++) {
		const json_value *p = json_at(root, i);
		const json_value *l = json_get(p, "language"), *v = json_get(p, "language_version");
		const json_value *in = json_get(p, "installed");
		if (!json_is(l, JSON_STRING) || !json_is(v, JSON_STRING))
			continue;
		printf("%-20s %-14s %s\n", l->u.string, v->u.string, json_is(in, JSON_TRUE) ? "installed" : "-");
	}
	json_free(doc);
	return 0;
}

static int engine_change(const ppman_opts *o, const char *method, const char *spec)
{
	char lang[128], err[600];
	const char *sel;
	split_spec(spec, lang, sizeof lang, &sel);
	buf body = BUF_INIT;
	jw w;
	jw_init(&w, &body);
	jw_object_begin(&w);
	jw_key(&w, "language");
	jw_string(&w, lang);
	jw_key(&w, "version");
	jw_string(&w, sel ? sel : "*");
	jw_object_end(&w);
	bool install = !strcmp(method, "POST");
	if (o->tty)
		fprintf(stderr, "%s %s ...", install ? "installing" : "uninstalling", spec);
	json_doc *doc;
	int st = engine_call(o, method, &body, &doc, err, sizeof err);
	if (o->tty)
		fprintf(stderr, "\r\033[K");
	buf_free(&body);
	const json_value *v = doc ? json_get(json_root(doc), "version") : NULL;
	int rc = 0;
	if (st == 200 && json_is(v, JSON_STRING)) {
		printf("%s %s-%s\n", install ? "installed" : "uninstalled", lang, v->u.string);
	} else {
		fprintf(stderr, "piston ppman: %s: %s\n", spec, st ? message_of(doc, err) : err);
		rc = 1;
	}
	json_free(doc);
	return rc;
}

int cmd_ppman(int argc, char **argv)
{
	/* PISTON_* variables (package caps, ...) are checked like the engine's:
	 * a bad value exits 1 naming the key. */
	if (config_load(1, argv) < 0)
		return 1;
	ppman_opts o = {.engine = DEFAULT_ENGINE, .tty = isatty(2) == 1};
	o.repo = getenv("PISTON_REPO_URL");   /* unset or empty: none (repo.h says how to get one) */
	o.ca_file = getenv("PISTON_CA_FILE");
	const char *words[256];
	int nwords = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		} else if ((!strcmp(a, "-u") || !strcmp(a, "--url")) && has_val) {
			o.engine = argv[++i];
		} else if (!strcmp(a, "--data") && has_val) {
			o.data_dir = argv[++i];
		} else if (!strcmp(a, "--repo") && has_val) {
			o.repo = argv[++i];
		} else if (!strcmp(a, "--if-missing")) {
			o.if_missing = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "piston ppman: unknown option or missing value: %s\n\n", a);
			usage(stderr);
			return 2;
		} else if (nwords < (int)(sizeof words / sizeof words[0])) {
			words[nwords++] = a;
		}
	}
	if (nwords == 0) {
		usage(stderr);
		return 2;
	}
	const char *cmd = words[0];
	bool is_list = !strcmp(cmd, "list");
	bool is_install = !strcmp(cmd, "install");
	bool is_uninstall = !strcmp(cmd, "uninstall");
	if (!is_list && !is_install && !is_uninstall) {
		fprintf(stderr, "piston ppman: unknown command '%s'\n\n", cmd);
		usage(stderr);
		return 2;
	}
	if (!is_list && nwords < 2) {
		fprintf(stderr, "piston ppman: %s needs at least one LANG[=VERSION]\n", cmd);
		return 2;
	}
	if (o.data_dir)
		install_cleanup(o.data_dir);
	if (is_list)
		return o.data_dir ? direct_list(&o) : engine_list(&o);
	int rc = 0;
	for (int i = 1; i < nwords; i++) {
		if (o.data_dir)
			rc |= is_install ? direct_install(&o, words[i]) : direct_uninstall(&o, words[i]);
		else
			rc |= engine_change(&o, is_install ? "POST" : "DELETE", words[i]);
	}
	return rc;
}
