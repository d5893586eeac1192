/* Unit tests for runtimes: scanning, provides, environment, find, JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtimes.h"
#include "t.h"

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[512], dir[512];
	snprintf(path, sizeof path, "%s/%s", root, rel);
	snprintf(dir, sizeof dir, "%s", path);
	for (char *p = dir + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		mkdir(dir, 0755);
		*p = '/';
	}
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static const char *env_get(const runtime *r, const char *key)
{
	size_t kl = strlen(key);
	for (size_t i = 0; i < r->nenv; i++)
		if (!strncmp(r->env[i], key, kl) && r->env[i][kl] == '=')
			return r->env[i] + kl + 1;
	return NULL;
}

int main(void)
{
	snprintf(root, sizeof root, "/tmp/piston-rt-%d", (int)getpid());
	mkdir(root, 0755);

	/* an empty or missing data directory is an empty list */
	runtime_set *rs = runtimes_scan(root);
	CHECK(rs && runtimes_count(rs) == 0);
	CHECK(rs && runtimes_json(rs)->len == 2 && !strcmp(runtimes_json(rs)->data, "[]"));
	runtimes_unref(rs);

	put("packages/python/3.12.0/metadata.json", "{\"language\":\"python\",\"version\":\"3.12.0\",\"aliases\":[\"py\"],"
	    "\"limit_overrides\":{\"run_timeout\":5000}}");
	put("packages/python/3.12.0/.ppman-installed", "");
	put("packages/python/3.12.0/environment", "# comment\nexport PYTHONHOME=\"/usr/lib/py\"\n\nBAD LINE\nX=a=b\r\n");
	put("packages/python/3.9.1/metadata.json", "{\"language\":\"python\",\"version\":\"3.9.1\",\"aliases\":[\"py\"]}");
	put("packages/python/3.9.1/.ppman-installed", "");
	put("packages/python/3.9.1/environment", "PATH=/opt/bin\n");
	put("packages/gcc/10.2.0/metadata.json", "{\"language\":\"gcc\",\"version\":\"10.2.0\",\"aliases\":[],"
	    "\"provides\":[{\"language\":\"c\",\"aliases\":[\"gcc\"]},"
	    "{\"language\":\"c++\",\"aliases\":[\"cpp\"],\"limit_overrides\":{\"max_process_count\":128}}]}");
	put("packages/gcc/10.2.0/.ppman-installed", "");
	put("packages/gcc/10.2.0/compile", "#!/bin/sh\n");
	put("packages/broken/1.0.0/metadata.json", "{\"language\":");
	put("packages/broken/1.0.0/.ppman-installed", "");
	put("packages/nover/1.0.0/metadata.json", "{\"language\":\"nover\",\"version\":\"banana\"}");
	put("packages/nover/1.0.0/.ppman-installed", "");
	put("packages/partial/1.0.0/metadata.json", "{\"language\":\"partial\",\"version\":\"1.0.0\"}");
	/* usr/ is mounted by path in the sandbox: a package whose usr is a link
	 * (placed by hand; the installer refuses one) is never used */
	put("packages/linkusr/1.0.0/metadata.json", "{\"language\":\"linkusr\",\"version\":\"1.0.0\"}");
	put("packages/linkusr/1.0.0/.ppman-installed", "");
	char lpath[512];
	snprintf(lpath, sizeof lpath, "%s/packages/linkusr/1.0.0/usr", root);
	CHECK(symlink("/", lpath) == 0);
	put("packages/python/3.9.1/usr/bin/x", "");   /* a real usr/ is fine */

	rs = runtimes_scan(root);
	CHECKF(rs && runtimes_count(rs) == 4, "count %zu", runtimes_count(rs));
	const char *json = runtimes_json(rs)->data;
	CHECKF(!strcmp(json, "[{\"language\":\"c\",\"version\":\"10.2.0\",\"aliases\":[\"gcc\"],\"runtime\":\"gcc\"},"
	                     "{\"language\":\"c++\",\"version\":\"10.2.0\",\"aliases\":[\"cpp\"],\"runtime\":\"gcc\"},"
	                     "{\"language\":\"python\",\"version\":\"3.12.0\",\"aliases\":[\"py\"]},"
	                     "{\"language\":\"python\",\"version\":\"3.9.1\",\"aliases\":[\"py\"]}]"), "%s", json);

	const runtime *r = runtimes_find(rs, "py", "*");
	CHECK(r && !strcmp(r->version, "3.12.0") && !r->provided && !r->has_compile);
	CHECK(r && r->limit_overrides && json_get(r->limit_overrides, "run_timeout"));
	CHECK(r && env_get(r, "PYTHONHOME") && !strcmp(env_get(r, "PYTHONHOME"), "/usr/lib/py"));
	CHECK(r && env_get(r, "X") && !strcmp(env_get(r, "X"), "a=b"));
	CHECK(r && env_get(r, "PATH") && !strcmp(env_get(r, "PATH"), "/usr/local/bin:/usr/bin:/bin"));
	CHECK(r && !env_get(r, "BAD LINE") && r->nenv == 3);
	CHECK(r && strstr(r->pkg_dir, "/packages/python/3.12.0"));
	r = runtimes_find(rs, "python", "3.9.x");
	CHECK(r && !strcmp(r->version, "3.9.1") && !strcmp(env_get(r, "PATH"), "/opt/bin") && r->nenv == 1);
	r = runtimes_find(rs, "python", "<3.12");
	CHECK(r && !strcmp(r->version, "3.9.1"));
	CHECK(!runtimes_find(rs, "python", "4"));
	CHECK(!runtimes_find(rs, "python", "not a selector"));
	/* a provides package answers to its provided languages and their aliases */
	r = runtimes_find(rs, "gcc", "*");
	CHECK(r && !strcmp(r->language, "c"));
	CHECK(!runtimes_find(rs, "nope", "*"));
	r = runtimes_find(rs, "cpp", "10");
	CHECK(r && !strcmp(r->language, "c++") && r->provided && !strcmp(r->package, "gcc") && r->has_compile);
	CHECK(r && json_get(r->limit_overrides, "max_process_count"));
	r = runtimes_find(rs, "c", "10.2.0");
	CHECK(r && !strcmp(r->language, "c") && !r->limit_overrides);
	CHECK(!runtimes_find(rs, "broken", "*") && !runtimes_find(rs, "partial", "*") && !runtimes_find(rs, "nover", "*"));

	/* a reference keeps a snapshot alive */
	runtimes_ref(rs);
	runtimes_unref(rs);
	CHECK(runtimes_count(rs) == 4 && runtimes_at(rs, 0) && !runtimes_at(rs, 4));
	runtimes_unref(rs);

	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", root);
	CHECK(system(cmd) == 0);
	return t_done();
}
