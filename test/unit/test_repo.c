/* Unit tests: repository index parsing, URL resolution, URL parsing. */
#include <stdlib.h>
#include <string.h>

#include "httpc.h"
#include "repo.h"
#include "t.h"

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"

static void check_resolve(const char *base, const char *ref, const char *want)
{
	char *got = repo_resolve(base, ref);
	CHECKF(got && !strcmp(got, want), "resolve(%s, %s) = %s, want %s", base, ref, got ? got : "(null)", want);
	free(got);
}

static int parse_fails(const char *text, const char *want_in_err)
{
	repo_index idx;
	char err[256] = "";
	int rc = repo_parse_index(text, strlen(text), "/r/index", &idx, err, sizeof err);
	if (rc == 0)
		repo_index_free(&idx);
	return rc < 0 && strstr(err, want_in_err) != NULL;
}

/* No repository configured: a message that says how to build or point at one. */
static void test_no_repository(void)
{
	const char *urls[] = {NULL, ""};
	for (size_t i = 0; i < 2; i++) {
		repo_index idx = {0};
		char err[600] = "";
		CHECK(repo_fetch_index(urls[i], NULL, &idx, err, sizeof err) == -1 && idx.n == 0);
		CHECKF(!strcmp(err, REPO_NONE_MESSAGE) && strstr(err, "tools/mkrepo") && strstr(err, "PISTON_REPO_URL"),
		       "%s", err);
	}
}

int main(void)
{
	test_no_repository();
	/* a normal index: blank lines, CRLF, spaces, relative and absolute urls */
	const char *text =
		"python,3.11.2," SHA_A ",python-3.11.2.pkg.tar.gz\r\n"
		"\n"
		"  \t\n"
		"python,3.12.0," SHA_B ",https://cdn.example/p/python-3.12.0.pkg.tar.gz\n"
		"python,3.9.1," SHA_A ",sub/python-3.9.1.pkg.tar.gz\n"
		"bash,5.2.0," SHA_A ",/abs/bash.pkg.tar.gz";
	repo_index idx;
	char err[256] = "";
	CHECKF(repo_parse_index(text, strlen(text), "https://repo.example/pkgs/index", &idx, err, sizeof err) == 0, "%s", err);
	CHECK(idx.n == 4);
	if (idx.n == 4) {
		CHECK(!strcmp(idx.entries[0].language, "python"));
		CHECK(!strcmp(idx.entries[0].version, "3.11.2"));
		CHECK(!strcmp(idx.entries[0].url, "https://repo.example/pkgs/python-3.11.2.pkg.tar.gz"));
		CHECK(!strcmp(idx.entries[1].sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"));
		CHECK(!strcmp(idx.entries[1].url, "https://cdn.example/p/python-3.12.0.pkg.tar.gz"));
		CHECK(!strcmp(idx.entries[2].url, "https://repo.example/pkgs/sub/python-3.9.1.pkg.tar.gz"));
		CHECK(!strcmp(idx.entries[3].url, "https://repo.example/abs/bash.pkg.tar.gz"));
		const repo_entry *e = repo_find(&idx, "python", "3.x");
		CHECK(e && !strcmp(e->version, "3.12.0"));
		e = repo_find(&idx, "python", "3.11.2");
		CHECK(e && !strcmp(e->version, "3.11.2"));
		e = repo_find(&idx, "python", "<3.11");
		CHECK(e && !strcmp(e->version, "3.9.1"));
		e = repo_find(&idx, "python", "*");
		CHECK(e && !strcmp(e->version, "3.12.0"));
		CHECK(repo_find(&idx, "python", "4") == NULL);
		CHECK(repo_find(&idx, "ruby", "*") == NULL);
		CHECK(repo_find(&idx, "bash", "5") != NULL);
	}
	repo_index_free(&idx);

	/* an empty index is fine (and has no packages) */
	CHECK(repo_parse_index("", 0, "/r/index", &idx, err, sizeof err) == 0 && idx.n == 0);
	CHECK(repo_parse_index("\n\n", 2, "/r/index", &idx, err, sizeof err) == 0 && idx.n == 0);

	/* malformed lines name their line number */
	CHECK(parse_fails("\npython,3.1.0,abc,x\n", "line 2: invalid sha256"));
	CHECK(parse_fails("python,3.1.0," SHA_A "\n", "line 1: expected"));
	CHECK(parse_fails("../etc,3.1.0," SHA_A ",x\n", "invalid language"));
	CHECK(parse_fails(".hidden,3.1.0," SHA_A ",x\n", "invalid language"));
	CHECK(parse_fails("py/thon,3.1.0," SHA_A ",x\n", "invalid language"));
	CHECK(parse_fails("python,../3," SHA_A ",x\n", "invalid version"));
	CHECK(parse_fails("python,banana," SHA_A ",x\n", "invalid version"));
	CHECK(parse_fails("python,3.1.0," SHA_A ",\n", "empty url"));
	CHECK(parse_fails("python,3.1.0," SHA_A ",file://\n", "empty url"));       /* found by fuzz_repo */
	CHECK(parse_fails("python,3.1.0," SHA_A "0,x\n", "invalid sha256"));
	CHECK(parse_fails("python,3.1.0," SHA_A ",ftp://h/x\n", "unsupported url scheme"));
	{
		/* a remote index cannot point the installer at local files */
		const char *t = "python,3.1.0," SHA_A ",file:///etc/shadow\n";
		CHECK(repo_parse_index(t, strlen(t), "https://h.example/index", &idx, err, sizeof err) < 0 &&
		      strstr(err, "may not name local files"));
		CHECK(repo_parse_index(t, strlen(t), "/srv/index", &idx, err, sizeof err) == 0 && idx.n == 1 &&
		      !strcmp(idx.entries[0].url, "/etc/shadow"));
		repo_index_free(&idx);
	}
	{
		/* bounded line length */
		size_t n = REPO_LINE_MAX + 100;
		char *big = malloc(n + 1);
		memset(big, 'a', n);
		big[n] = '\0';
		CHECK(parse_fails(big, "too long"));
		free(big);
	}
	{
		/* NUL bytes inside a line are refused */
		const char t[] = "python,3.1.0," SHA_A ",x\0y\n";
		CHECK(repo_parse_index(t, sizeof t - 1, "/r/index", &idx, err, sizeof err) < 0);
	}

	/* URL resolution */
	check_resolve("https://h.example/a/b/index", "p.tgz", "https://h.example/a/b/p.tgz");
	check_resolve("https://h.example/a/b/index?x=1", "p.tgz", "https://h.example/a/b/p.tgz");
	check_resolve("https://h.example:8443/index", "/x/p.tgz", "https://h.example:8443/x/p.tgz");
	check_resolve("https://h.example", "p.tgz", "https://h.example/p.tgz");
	check_resolve("http://h.example/a/index", "//other.example/p.tgz", "http://other.example/p.tgz");
	check_resolve("http://h.example/a/index", "https://o.example/p.tgz", "https://o.example/p.tgz");
	check_resolve("/srv/repo/index", "p.tgz", "/srv/repo/p.tgz");
	check_resolve("/srv/repo/index", "/else/p.tgz", "/else/p.tgz");
	check_resolve("/srv/repo/index", "file:///else/p.tgz", "/else/p.tgz");
	check_resolve("index", "p.tgz", "p.tgz");
	{
		char *loc = repo_index_location("file:///nonexistent-piston-dir/index");
		CHECK(loc && !strcmp(loc, "/nonexistent-piston-dir/index"));
		free(loc);
		loc = repo_index_location("/tmp");
		CHECK(loc && !strcmp(loc, "/tmp/index"));
		free(loc);
		loc = repo_index_location("file:///tmp/");
		CHECK(loc && !strcmp(loc, "/tmp/index"));
		free(loc);
		loc = repo_index_location("https://h.example/index");
		CHECK(loc && !strcmp(loc, "https://h.example/index"));
		free(loc);
	}

	/* names */
	CHECK(repo_name_ok("c++"));
	CHECK(repo_name_ok("python"));
	CHECK(repo_name_ok("3.11.2-rc1"));
	CHECK(!repo_name_ok(""));
	CHECK(!repo_name_ok(".."));
	CHECK(!repo_name_ok("a/b"));
	CHECK(!repo_name_ok("a b"));

	/* httpc URL parsing */
	httpc_url u;
	CHECK(httpc_parse_url("http://example.com", &u) == 0 && !u.https && u.port == 80 &&
	      !strcmp(u.host, "example.com") && !strcmp(u.target, "/"));
	CHECK(httpc_parse_url("HTTPS://example.com:8443/a/b?c=d#frag", &u) == 0 && u.https && u.port == 8443 &&
	      !strcmp(u.target, "/a/b?c=d"));
	CHECK(httpc_parse_url("http://[::1]:2000/api", &u) == 0 && u.host_is_ipv6 && !strcmp(u.host, "::1") &&
	      u.port == 2000 && !strcmp(u.target, "/api"));
	CHECK(httpc_parse_url("http://h.example?q", &u) == 0 && !strcmp(u.target, "/?q"));
	CHECK(httpc_parse_url("ftp://example.com/", &u) < 0);
	CHECK(httpc_parse_url("http://", &u) < 0);
	CHECK(httpc_parse_url("http://h:0/", &u) < 0);
	CHECK(httpc_parse_url("http://h:65536/", &u) < 0);
	CHECK(httpc_parse_url("http://h:/", &u) < 0);
	CHECK(httpc_parse_url("http://user:pw@h/", &u) < 0);
	CHECK(httpc_parse_url("http://h/a b", &u) < 0);
	CHECK(httpc_parse_url("http://h/a\r\nX: y", &u) < 0);
	CHECK(httpc_parse_url("http://h x/", &u) < 0);
	return t_done();
}
