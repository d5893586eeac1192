/*
 * pkglink: symbolic links judged as the sandbox sees them (see pkglink.h).
 */
#include "pkglink.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tar.h"

/* A path being built: components joined by '/', no leading '/'. Room for
 * the link's directory plus the whole target (each at most TAR_PATH_MAX). */
typedef struct spath {
	char s[2 * TAR_PATH_MAX + 8];
	size_t n;
} spath;

static bool sp_append(spath *p, const char *c, size_t n)
{
	if (p->n + 1 + n >= sizeof p->s)
		return false;
	if (p->n)
		p->s[p->n++] = '/';
	memcpy(p->s + p->n, c, n);
	p->n += n;
	p->s[p->n] = '\0';
	return true;
}

/* ".." in the sandbox: drop the last component; at "/" it stays "/". */
static void sp_pop(spath *p)
{
	char *slash = memrchr(p->s, '/', p->n);
	p->n = slash ? (size_t)(slash - p->s) : 0;
	p->s[p->n] = '\0';
}

static bool has_prefix_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* Length of the first component of s. */
static size_t first_len(const char *s)
{
	return strcspn(s, "/");
}

__attribute__((format(printf, 3, 4)))
static int refuse(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The relative link from directory dir to path t (both package-relative,
 * normalized; "" is the package root): ".." up to their common part, then
 * the rest of t. dir's components are real directories (the extractor
 * never creates an entry through a link), so ".." there is exact. */
static bool relative(const char *dir, const char *t, char *out, size_t outlen)
{
	const char *a = dir, *b = t;   /* both normalized: single '/' between components */
	for (;;) {
		size_t la = first_len(a), lb = first_len(b);
		if (!la || la != lb || memcmp(a, b, la))
			break;
		a += la + (a[la] == '/');
		b += lb + (b[lb] == '/');
	}
	size_t n = 0;
	while (*a) {
		size_t k = first_len(a);
		a += k + (a[k] == '/');
		if (n + 4 >= outlen)
			return false;
		if (n)
			out[n++] = '/';
		out[n++] = '.';
		out[n++] = '.';
	}
	size_t bl = strlen(b);
	if (bl) {
		if (n + 1 + bl >= outlen)
			return false;
		if (n)
			out[n++] = '/';
		memcpy(out + n, b, bl);
		n += bl;
	}
	if (!n) {
		if (outlen < 2)
			return false;
		out[n++] = '.';
	}
	out[n] = '\0';
	return true;
}

int pkglink_judge(const char *entry_path, const char *target, char *out, size_t outlen,
                  char *why, size_t whylen)
{
	if (!target[0])
		return refuse(why, whylen, "has an empty target");
	if (strlen(target) > TAR_PATH_MAX || strlen(entry_path) > TAR_PATH_MAX)
		return refuse(why, whylen, "is too long");
	if (!strcmp(entry_path, "usr"))
		return refuse(why, whylen, "replaces usr/, which must be a directory");
	bool in_usr = has_prefix_dir(entry_path, "usr");
	const char *slash = strrchr(entry_path, '/');
	size_t dirlen = slash ? (size_t)(slash - entry_path) : 0;

	/* Where the target leads in the sandbox, as an absolute path without
	 * its leading '/'. A relative one starts at the link's directory:
	 * /usr/... for a link under usr/ (usr/ is mounted there), else /pkg/.... */
	static const spath empty;
	spath s = empty;
	if (target[0] != '/') {
		if (!in_usr && !sp_append(&s, "pkg", 3))
			return refuse(why, whylen, "is too long");
		if (dirlen && !sp_append(&s, entry_path, dirlen))
			return refuse(why, whylen, "is too long");
	}
	bool seen_name = false;
	for (const char *p = target; *p;) {
		const char *c = p;
		size_t n = first_len(p);
		p += n;
		while (*p == '/')
			p++;
		if (n == 0 || (n == 1 && c[0] == '.'))
			continue;
		if (n == 2 && c[0] == '.' && c[1] == '.') {
			if (seen_name)
				return refuse(why, whylen, "has a \"..\" after a name, which may itself be a link");
			sp_pop(&s);
			continue;
		}
		seen_name = true;
		if (!sp_append(&s, c, n))
			return refuse(why, whylen, "is too long");
	}

	/* Back into the package: /usr, /bin, /lib, /lib64, /sbin, /pkg. */
	char t[sizeof s.s + 8];
	size_t f = first_len(s.s);
	const char *rest = s.s + f + (s.s[f] == '/');
	if (f == 3 && !memcmp(s.s, "usr", 3)) {
		snprintf(t, sizeof t, "%s", s.s);
	} else if ((f == 3 && (!memcmp(s.s, "bin", 3) || !memcmp(s.s, "lib", 3))) ||
	           (f == 4 && !memcmp(s.s, "sbin", 4)) || (f == 5 && !memcmp(s.s, "lib64", 5))) {
		snprintf(t, sizeof t, "usr/%s", s.s);   /* the sandbox's /bin is a link to usr/bin */
	} else if (f == 3 && !memcmp(s.s, "pkg", 3)) {
		snprintf(t, sizeof t, "%s", rest);
	} else {
		return refuse(why, whylen, "points outside the package (in the sandbox it names /%.200s)", s.s);
	}

	bool t_in_usr = has_prefix_dir(t, "usr");
	if (in_usr && !t_in_usr) {
		/* No relative form names it from /usr/... and from the host alike. */
		int k = snprintf(out, outlen, "/pkg%s%s", t[0] ? "/" : "", t);
		if (k < 0 || (size_t)k >= outlen || (size_t)k > TAR_PATH_MAX)
			return refuse(why, whylen, "is too long once rewritten");
		return 0;
	}
	char dir[TAR_PATH_MAX + 1];
	memcpy(dir, entry_path, dirlen);
	dir[dirlen] = '\0';
	if (!relative(dir, t, out, outlen) || strlen(out) > TAR_PATH_MAX)
		return refuse(why, whylen, "is too long once rewritten");
	/* The rewritten link climbs only to the common part: never out of the
	 * package on the host. Checked again rather than trusted. */
	if (!tar_link_is_safe(entry_path, out))
		return refuse(why, whylen, "points outside the package");
	return 0;
}
