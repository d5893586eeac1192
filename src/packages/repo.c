/* repo: repository index and file streaming (see repo.h). */
#include "repo.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "httpc.h"

static bool is_http(const char *s)
{
	return !strncasecmp(s, "http://", 7) || !strncasecmp(s, "https://", 8);
}

static bool has_scheme(const char *s)
{
	size_t i = 0;
	if (!isalpha((unsigned char)s[0]))
		return false;
	while (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
		i++;
	return s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/';
}

bool repo_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._+-", s[i]))
			return false;
	return true;
}

char *repo_index_location(const char *repo_url)
{
	const char *path = repo_url;
	if (!strncasecmp(repo_url, "file://", 7)) {
		path = repo_url + 7;
		if (!strncasecmp(path, "localhost/", 10))
			path += 9;
	} else if (is_http(repo_url)) {
		return strdup(repo_url);
	}
	struct stat st;
	buf b = BUF_INIT;
	buf_puts(&b, path);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		buf_puts(&b, path[0] && path[strlen(path) - 1] == '/' ? "index" : "/index");
	return buf_failed(&b) ? (buf_free(&b), NULL) : buf_steal(&b);
}

char *repo_resolve(const char *base, const char *ref)
{
	buf b = BUF_INIT;
	if (has_scheme(ref)) {
		if (!strncasecmp(ref, "file://", 7))
			return repo_index_location(ref);
		buf_puts(&b, ref);
	} else if (is_http(base)) {
		const char *auth = strstr(base, "://") + 3;
		size_t origin = (size_t)(auth - base) + strcspn(auth, "/?#");
		if (ref[0] == '/' && ref[1] == '/') {
			buf_append(&b, base, (size_t)(auth - base) - 2);
			buf_puts(&b, ref);
		} else if (ref[0] == '/') {
			buf_append(&b, base, origin);
			buf_puts(&b, ref);
		} else {
			size_t end = origin + strcspn(base + origin, "?#");
			size_t dir = end;
			while (dir > origin && base[dir - 1] != '/')
				dir--;
			buf_append(&b, base, dir > origin ? dir : origin);
			if (dir <= origin)
				buf_putc(&b, '/');
			buf_puts(&b, ref);
		}
	} else if (ref[0] == '/') {
		buf_puts(&b, ref);
	} else {
		const char *slash = strrchr(base, '/');
		if (slash)
			buf_append(&b, base, (size_t)(slash - base) + 1);
		buf_puts(&b, ref);
	}
	if (!b.data)
		buf_puts(&b, "");
	return buf_failed(&b) ? (buf_free(&b), NULL) : buf_steal(&b);
}

void repo_index_free(repo_index *idx)
{
	for (size_t i = 0; i < idx->n; i++) {
		free(idx->entries[i].language);
		free(idx->entries[i].version);
		free(idx->entries[i].url);
	}
	free(idx->entries);
	idx->entries = NULL;
	idx->n = 0;
}

static char *trimmed_dup(const char *s, size_t n)
{
	while (n > 0 && isspace((unsigned char)*s))
		s++, n--;
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	return strndup(s, n);
}

/* One `language,version,sha256,url` line into e; message on error. */
static const char *parse_line(const char *line, size_t len, const char *base, repo_entry *e)
{
	const char *field[4];
	size_t flen[4];
	size_t f = 0;
	const char *p = line, *end = line + len;
	while (f < 4) {
		const char *comma = f < 3 ? memchr(p, ',', (size_t)(end - p)) : NULL;
		const char *stop = comma ? comma : end;
		field[f] = p;
		flen[f] = (size_t)(stop - p);
		f++;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (f != 4)
		return "expected language,version,sha256,url";
	for (size_t i = 0; i < 4; i++)
		if (memchr(field[i], '\0', flen[i]))
			return "NUL byte";
	e->language = trimmed_dup(field[0], flen[0]);
	e->version = trimmed_dup(field[1], flen[1]);
	char *sha = trimmed_dup(field[2], flen[2]);
	char *ref = trimmed_dup(field[3], flen[3]);
	const char *msg = NULL;
	if (!e->language || !e->version || !sha || !ref)
		msg = "out of memory";
	else if (!repo_name_ok(e->language))
		msg = "invalid language name";
	else if (!repo_name_ok(e->version) || semver_parse(e->version, &e->ver) < 0)
		msg = "invalid version";
	else if (strlen(sha) != 64 || strspn(sha, "0123456789abcdefABCDEF") != 64)
		msg = "invalid sha256 (want 64 hex digits)";
	else if (!ref[0])
		msg = "empty url";
	if (!msg) {
		for (int i = 0; i < 64; i++)
			e->sha256[i] = (char)tolower((unsigned char)sha[i]);
		e->sha256[64] = '\0';
		bool is_file = !strncasecmp(ref, "file://", 7);
		if (has_scheme(ref) && !is_http(ref) && !is_file)
			msg = "unsupported url scheme (use https://, http://, file:// or a path)";
		else if (is_http(base) && (is_file || (!is_http(ref) && has_scheme(ref))))
			msg = "a remote index may not name local files";
		else if (!(e->url = repo_resolve(base, ref)))
			msg = "out of memory";
		else if (!e->url[0])
			msg = "empty url";   /* "file://" or "file://localhost" with no path */
	}
	free(sha);
	free(ref);
	return msg;
}

int repo_parse_index(const char *text, size_t len, const char *base, repo_index *out,
                     char *err, size_t errlen)
{
	out->entries = NULL;
	out->n = 0;
	size_t cap = 0, lineno = 0;
	const char *p = text, *end = text + len;
	if (len > REPO_INDEX_MAX) {
		snprintf(err, errlen, "repository index is larger than %u bytes", REPO_INDEX_MAX);
		return -1;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		size_t ll = (size_t)(le - p);
		lineno++;
		const char *line = p;
		p = nl ? nl + 1 : end;
		while (ll > 0 && isspace((unsigned char)line[ll - 1]))
			ll--;
		size_t lead = 0;
		while (lead < ll && isspace((unsigned char)line[lead]))
			lead++;
		if (lead == ll)
			continue;
		if (ll > REPO_LINE_MAX) {
			snprintf(err, errlen, "repository index line %zu is too long", lineno);
			goto fail;
		}
		if (out->n == REPO_ENTRIES_MAX) {
			snprintf(err, errlen, "repository index has more than %u entries", REPO_ENTRIES_MAX);
			goto fail;
		}
		if (out->n == cap) {
			cap = cap ? cap * 2 : 32;
			repo_entry *ne = realloc(out->entries, cap * sizeof *ne);
			if (!ne) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			out->entries = ne;
		}
		repo_entry *e = &out->entries[out->n];
		memset(e, 0, sizeof *e);
		const char *msg = parse_line(line, ll, base, e);
		out->n++;
		if (msg) {
			snprintf(err, errlen, "repository index line %zu: %s", lineno, msg);
			goto fail;
		}
	}
	return 0;
fail:
	repo_index_free(out);
	return -1;
}

const repo_entry *repo_find(const repo_index *idx, const char *language, const char *selector)
{
	const repo_entry *best = NULL;
	for (size_t i = 0; i < idx->n; i++) {
		const repo_entry *e = &idx->entries[i];
		if (strcmp(e->language, language) != 0)
			continue;
		if (strcmp(selector, e->version) != 0 && !semver_satisfies(&e->ver, selector))
			continue;
		if (!best || semver_cmp(&e->ver, &best->ver) > 0)
			best = e;
	}
	return best;
}

/* ---- streaming ---- */

typedef struct http_stream {
	repo_sink sink;
	void (*on_size)(void *ctx, uint64_t size);
	void *ctx;
	int status;
} http_stream;

static int stream_head(void *ctx, int status, uint64_t length)
{
	http_stream *s = ctx;
	s->status = status;
	if (status != 200)
		return 1;
	if (s->on_size)
		s->on_size(s->ctx, length);
	return 0;
}

static int stream_body(void *ctx, const void *data, size_t len)
{
	http_stream *s = ctx;
	return s->sink(s->ctx, data, len);
}

int repo_stream(const char *location, const char *ca_file, repo_sink sink,
                void (*on_size)(void *ctx, uint64_t size), void *ctx, char *err, size_t errlen)
{
	if (is_http(location)) {
		http_stream s = {.sink = sink, .on_size = on_size, .ctx = ctx};
		/* a repository that stalls for a minute is treated as down */
		httpc_options o = {.ca_file = ca_file, .on_head = stream_head, .idle_timeout_ms = 60000};
		int status = 0;
		char e[512];
		if (httpc_request_ex("GET", location, NULL, NULL, 0, stream_body, &s, &o, &status, e, sizeof e) < 0) {
			snprintf(err, errlen, "fetching %s: %s", location, e);
			return -1;
		}
		if (status != 200) {
			snprintf(err, errlen, "fetching %s: HTTP %d%s", location, status,
			         status == 404 ? " Not Found" : "");
			return -1;
		}
		return 0;
	}
	int fd = open(location, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", location, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot read %s: not a regular file", location);
		close(fd);
		return -1;
	}
	if (on_size)
		on_size(ctx, (uint64_t)st.st_size);
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	size_t cap = 256 * 1024;
	char *chunk = malloc(cap);
	int rc = chunk ? 0 : -1;
	if (!chunk)
		snprintf(err, errlen, "out of memory");
	while (rc == 0) {
		ssize_t n = read(fd, chunk, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "reading %s: %s", location, strerror(errno));
			rc = -1;
		} else if (n == 0) {
			break;
		} else if (sink(ctx, chunk, (size_t)n) != 0) {
			snprintf(err, errlen, "aborted");
			rc = -1;
		}
	}
	free(chunk);
	close(fd);
	return rc;
}

/* ---- index fetch ---- */

static int collect(void *ctx, const void *data, size_t len)
{
	buf *b = ctx;
	if (b->len + len > REPO_INDEX_MAX)
		return 1;
	buf_append(b, data, len);
	return buf_failed(b) ? 1 : 0;
}

int repo_fetch_index(const char *repo_url, const char *ca_file, repo_index *out, char *err, size_t errlen)
{
	out->entries = NULL;
	out->n = 0;
	if (!repo_url || !*repo_url) {
		snprintf(err, errlen, "%s", REPO_NONE_MESSAGE);
		return -1;
	}
	char *loc = repo_index_location(repo_url);
	if (!loc) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	buf text = BUF_INIT;
	int rc = repo_stream(loc, ca_file, collect, NULL, &text, err, errlen);
	if (rc < 0 && (text.len >= REPO_INDEX_MAX || buf_failed(&text)))
		snprintf(err, errlen, "repository index %s is larger than %u bytes", loc, REPO_INDEX_MAX);
	if (rc == 0)
		rc = repo_parse_index(text.data ? text.data : "", text.len, loc, out, err, errlen);
	buf_free(&text);
	free(loc);
	return rc;
}
