/*
 * runtimes: scan DATA/packages into an immutable, reference-counted
 * snapshot, with the /api/v2/runtimes body rendered once.
 *
 * Like upstream Piston, a package with `provides` is listed once per
 * provided language (with "runtime" = the package's language), and a
 * package without it once under its own language.
 */
#include "runtimes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define MAX_METADATA_SIZE (1024 * 1024)
#define MAX_ENVIRONMENT_SIZE (1024 * 1024)
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

struct runtime_set {
	int refs;
	runtime *items;
	size_t n, cap;
	json_doc **docs;          /* metadata documents (limit_overrides point into them) */
	size_t ndocs, docs_cap;
	buf json;
};

/* Reads a whole small regular file (no symlinks followed at the last step). */
static char *read_small(int dirfd, const char *name, size_t max, size_t *len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	struct stat st;
	char *data = NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size <= max &&
	    (data = malloc((size_t)st.st_size + 1))) {
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		data[got] = 0;
		*len = got;
	}
	close(fd);
	return data;
}

static void free_entry(runtime *r)
{
	free(r->language);
	free(r->version);
	for (size_t i = 0; i < r->naliases; i++)
		free(r->aliases[i]);
	free(r->aliases);
	free(r->package);
	free(r->pkg_dir);
	for (size_t i = 0; i < r->nenv; i++)
		free(r->env[i]);
	free(r->env);
}

static bool valid_env_key(const char *s, size_t n)
{
	if (!n || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!(ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
			return false;
	}
	return true;
}

/* KEY=VALUE lines; blank lines and # comments skipped, an `export ` prefix
 * and one pair of surrounding quotes tolerated. No shell is involved. */
static int parse_environment(const char *text, size_t len, const char *where, char ***out, size_t *nout)
{
	char **env = NULL;
	size_t n = 0, cap = 0;
	bool have_path = false;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p;
		p = nl ? nl + 1 : end;
		while (s < le && (*s == ' ' || *s == '\t'))
			s++;
		const char *e = le;
		while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (s == e || *s == '#')
			continue;
		if (e - s > 7 && !memcmp(s, "export ", 7))
			s += 7;
		const char *eq = memchr(s, '=', (size_t)(e - s));
		if (!eq || !valid_env_key(s, (size_t)(eq - s)) || memchr(s, 0, (size_t)(e - s))) {
			log_warn("runtimes: %s/environment: ignoring line '%.*s'", where, (int)(e - s > 80 ? 80 : e - s), s);
			continue;
		}
		const char *v = eq + 1, *ve = e;
		if (ve - v >= 2 && (*v == '"' || *v == '\'') && ve[-1] == *v) {
			v++;
			ve--;
		}
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 16;
			char **np = realloc(env, cap * sizeof *np);
			if (!np)
				goto oom;
			env = np;
		}
		size_t kl = (size_t)(eq - s), vl = (size_t)(ve - v);
		char *kv = malloc(kl + 1 + vl + 1);
		if (!kv)
			goto oom;
		memcpy(kv, s, kl);
		kv[kl] = '=';
		memcpy(kv + kl + 1, v, vl);
		kv[kl + 1 + vl] = 0;
		if (kl == 4 && !memcmp(s, "PATH", 4))
			have_path = true;
		env[n++] = kv;
	}
	if (!have_path) {
		if (n + 1 > cap) {
			char **np = realloc(env, (n + 1) * sizeof *np);
			if (!np)
				goto oom;
			env = np;
		}
		if (!(env[n] = strdup(DEFAULT_PATH)))
			goto oom;
		n++;
	}
	*out = env;
	*nout = n;
	return 0;
oom:
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	return -1;
}

static char **copy_aliases(const json_value *arr, size_t *n)
{
	*n = 0;
	if (!json_is(arr, JSON_ARRAY) || !arr->len)
		return NULL;
	char **a = calloc(arr->len, sizeof *a);
	if (!a)
		return NULL;
	for (uint32_t i = 0; i < arr->len; i++) {
		const json_value *v = &arr->u.children[i];
		if (json_is(v, JSON_STRING) && v->len && !memchr(v->u.string, 0, v->len) && (a[*n] = strdup(v->u.string)))
			(*n)++;
	}
	return a;
}

static int push_entry(runtime_set *rs, const runtime *r)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 16;
		runtime *p = realloc(rs->items, cap * sizeof *p);
		if (!p)
			return -1;
		rs->items = p;
		rs->cap = cap;
	}
	rs->items[rs->n++] = *r;
	return 0;
}

static char **dup_env(char **env, size_t n)
{
	char **d = calloc(n ? n : 1, sizeof *d);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(d[i] = strdup(env[i]))) {
			while (i--)
				free(d[i]);
			free(d);
			return NULL;
		}
	return d;
}

/* One entry (own language or one provided language) of a package. */
static int add_entry(runtime_set *rs, const char *language, const json_value *aliases, const char *version,
                     const semver *ver, const char *package, bool provided, const char *pkg_dir,
                     bool has_compile, char **env, size_t nenv, const json_value *overrides)
{
	runtime r = {0};
	r.language = strdup(language);
	r.version = strdup(version);
	r.ver = *ver;
	r.aliases = copy_aliases(aliases, &r.naliases);
	r.package = strdup(package);
	r.provided = provided;
	r.pkg_dir = strdup(pkg_dir);
	r.has_compile = has_compile;
	r.env = dup_env(env, nenv);
	r.nenv = r.env ? nenv : 0;
	r.limit_overrides = json_is(overrides, JSON_OBJECT) ? overrides : NULL;
	if (!r.language || !r.version || !r.package || !r.pkg_dir || !r.env || push_entry(rs, &r) < 0) {
		free_entry(&r);
		return -1;
	}
	return 0;
}

static bool is_plain_name(const char *s)
{
	return s[0] && s[0] != '.' && !strchr(s, '/');
}

static void scan_version(runtime_set *rs, const char *packages, const char *lang, const char *vname, int vfd)
{
	char where[512];
	snprintf(where, sizeof where, "%s/%s", lang, vname);
	struct stat st;
	if (fstatat(vfd, ".ppman-installed", &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;   /* not (completely) installed */
	/* The sandbox mounts DATA/packages/LANG/VERSION/usr by path, which would
	 * follow a link there on the host with the engine's privileges (usr -> /
	 * would show the host's root to jobs). The installer never makes one; a
	 * package placed by hand with one is not used. */
	if (fstatat(vfd, "usr", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
		log_warn("runtimes: %s: usr is not a directory (a link is never followed); skipped", where);
		return;
	}
	size_t mlen = 0;
	char *mtext = read_small(vfd, "metadata.json", MAX_METADATA_SIZE, &mlen);
	if (!mtext) {
		log_warn("runtimes: %s: no readable metadata.json; skipped", where);
		return;
	}
	json_error jerr;
	json_doc *doc = json_parse(mtext, mlen, &jerr);
	free(mtext);
	if (!doc) {
		log_warn("runtimes: %s/metadata.json: %s at byte %zu; skipped", where, jerr.message, jerr.offset);
		return;
	}
	const json_value *root = json_root(doc);
	const json_value *jl = json_get(root, "language"), *jv = json_get(root, "version");
	const char *language = json_is(jl, JSON_STRING) && jl->len ? jl->u.string : lang;
	const char *version = json_is(jv, JSON_STRING) && jv->len ? jv->u.string : vname;
	semver ver;
	if (!json_is(root, JSON_OBJECT) || semver_parse(version, &ver) < 0) {
		log_warn("runtimes: %s: metadata.json is not an object with a semver version; skipped", where);
		json_free(doc);
		return;
	}
	char **env = NULL;
	size_t nenv = 0;
	size_t elen = 0;
	char *etext = read_small(vfd, "environment", MAX_ENVIRONMENT_SIZE, &elen);
	int er = parse_environment(etext ? etext : "", etext ? elen : 0, where, &env, &nenv);
	free(etext);
	if (er < 0) {
		json_free(doc);
		return;
	}
	bool has_compile = fstatat(vfd, "compile", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
	char pkg_dir[8192];
	snprintf(pkg_dir, sizeof pkg_dir, "%s/%s/%s", packages, lang, vname);

	size_t before = rs->n;
	const json_value *provides = json_get(root, "provides");
	int rc = 0;
	if (json_is(provides, JSON_ARRAY) && provides->len) {
		for (uint32_t i = 0; i < provides->len && rc == 0; i++) {
			const json_value *p = &provides->u.children[i];
			const json_value *pl = json_get(p, "language");
			if (!json_is(pl, JSON_STRING) || !pl->len) {
				log_warn("runtimes: %s: provides[%u] has no language; ignored", where, i);
				continue;
			}
			rc = add_entry(rs, pl->u.string, json_get(p, "aliases"), version, &ver, language, true, pkg_dir,
			               has_compile, env, nenv, json_get(p, "limit_overrides"));
		}
	} else {
		rc = add_entry(rs, language, json_get(root, "aliases"), version, &ver, language, false, pkg_dir,
		               has_compile, env, nenv, json_get(root, "limit_overrides"));
	}
	for (size_t i = 0; i < nenv; i++)
		free(env[i]);
	free(env);
	if (rc == 0 && rs->n > before && rs->ndocs == rs->docs_cap) {
		size_t cap = rs->docs_cap ? rs->docs_cap * 2 : 16;
		json_doc **p = realloc(rs->docs, cap * sizeof *p);
		if (p) {
			rs->docs = p;
			rs->docs_cap = cap;
		} else {
			rc = -1;
		}
	}
	if (rc < 0 || rs->n == before) {
		if (rc < 0)
			log_error("runtimes: %s: out of memory", where);
		while (rs->n > before)
			free_entry(&rs->items[--rs->n]);
		json_free(doc);
		return;
	}
	rs->docs[rs->ndocs++] = doc;
}

static int cmp_entries(const void *a, const void *b)
{
	const runtime *x = a, *y = b;
	int c = strcmp(x->language, y->language);
	return c ? c : -semver_cmp(&x->ver, &y->ver);
}

static void render(runtime_set *rs)
{
	jw w;
	jw_init(&w, &rs->json);
	jw_array_begin(&w);
	for (size_t i = 0; i < rs->n; i++) {
		const runtime *r = &rs->items[i];
		jw_object_begin(&w);
		jw_key(&w, "language");
		jw_string(&w, r->language);
		jw_key(&w, "version");
		jw_string(&w, r->version);
		jw_key(&w, "aliases");
		jw_array_begin(&w);
		for (size_t k = 0; k < r->naliases; k++)
			jw_string(&w, r->aliases[k]);
		jw_array_end(&w);
		if (r->provided) {
			jw_key(&w, "runtime");
			jw_string(&w, r->package);
		}
		jw_object_end(&w);
	}
	jw_array_end(&w);
}

runtime_set *runtimes_scan(const char *data_dir)
{
	runtime_set *rs = calloc(1, sizeof *rs);
	if (!rs)
		return NULL;
	rs->refs = 1;
	char packages[4200];
	snprintf(packages, sizeof packages, "%s/packages", data_dir);
	int pfd = open(packages, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *pd = pfd >= 0 ? fdopendir(pfd) : NULL;
	if (!pd) {
		if (pfd >= 0)
			close(pfd);
		else if (errno != ENOENT)
			log_warn("runtimes: cannot open %s: %s", packages, strerror(errno));
	}
	for (struct dirent *le; pd && (le = readdir(pd));) {
		if (!is_plain_name(le->d_name))
			continue;
		int lfd = openat(pfd, le->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		DIR *ld = lfd >= 0 ? fdopendir(lfd) : NULL;
		if (!ld) {
			if (lfd >= 0)
				close(lfd);
			continue;
		}
		for (struct dirent *ve; (ve = readdir(ld));) {
			if (!is_plain_name(ve->d_name))
				continue;
			int vfd = openat(lfd, ve->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (vfd < 0)
				continue;
			scan_version(rs, packages, le->d_name, ve->d_name, vfd);
			close(vfd);
		}
		closedir(ld);
	}
	if (pd)
		closedir(pd);
	if (rs->n)
		qsort(rs->items, rs->n, sizeof *rs->items, cmp_entries);
	render(rs);
	if (buf_failed(&rs->json)) {
		runtimes_unref(rs);
		return NULL;
	}
	return rs;
}

void runtimes_ref(runtime_set *rs)
{
	if (rs)
		rs->refs++;
}

void runtimes_unref(runtime_set *rs)
{
	if (!rs || --rs->refs > 0)
		return;
	for (size_t i = 0; i < rs->n; i++)
		free_entry(&rs->items[i]);
	free(rs->items);
	for (size_t i = 0; i < rs->ndocs; i++)
		json_free(rs->docs[i]);
	free(rs->docs);
	buf_free(&rs->json);
	free(rs);
}

size_t runtimes_count(const runtime_set *rs) { return rs ? rs->n : 0; }

const runtime *runtimes_at(const runtime_set *rs, size_t i) { return rs && i < rs->n ? &rs->items[i] : NULL; }

static bool answers_to(const runtime *r, const char *language)
{
	if (!strcmp(r->language, language))
		return true;
	for (size_t i = 0; i < r->naliases; i++)
		if (!strcmp(r->aliases[i], language))
			return true;
	return false;
}

const runtime *runtimes_find(const runtime_set *rs, const char *language, const char *selector)
{
	const runtime *best = NULL;
	if (!rs || !language || !selector)
		return NULL;
	for (size_t i = 0; i < rs->n; i++) {
		const runtime *r = &rs->items[i];
		if (!answers_to(r, language) || !semver_satisfies(&r->ver, selector))
			continue;
		if (!best || semver_cmp(&r->ver, &best->ver) > 0)
			best = r;
	}
	return best;
}

const buf *runtimes_json(const runtime_set *rs) { return &rs->json; }
