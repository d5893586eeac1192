/* test_pkglink: symbolic links in a package judged as the sandbox sees them
 * (SPEC section 3): absolute targets into the package's own tree are kept
 * (rewritten relative, or as /pkg/...), anything leaving it is refused. */
#include <string.h>

#include "pkglink.h"
#include "t.h"
#include "tar.h"

static void keeps(const char *entry, const char *target, const char *want)
{
	char out[TAR_PATH_MAX + 1], why[300] = "";
	int rc = pkglink_judge(entry, target, out, sizeof out, why, sizeof why);
	CHECKF(rc == 0 && !strcmp(out, want), "%s -> %s: want %s, got rc %d %s (%s)", entry, target, want, rc,
	       rc == 0 ? out : "", why);
	/* every relative result stays in the package on the host as well */
	if (rc == 0 && out[0] != '/')
		CHECKF(tar_link_is_safe(entry, out), "%s -> %s", entry, out);
	if (rc == 0 && out[0] == '/')
		CHECKF(!strncmp(out, "/pkg", 4) && (out[4] == '/' || !out[4]), "%s -> %s", entry, out);
}

static void refuses(const char *entry, const char *target, const char *want_why)
{
	char out[TAR_PATH_MAX + 1], why[300] = "";
	int rc = pkglink_judge(entry, target, out, sizeof out, why, sizeof why);
	CHECKF(rc == -1 && strstr(why, want_why), "%s -> %s: want refused (%s), got rc %d (%s)", entry, target,
	       want_why, rc, rc == 0 ? out : why);
}

int main(void)
{
	/* a hand-built Debian root: absolute library links */
	keeps("usr/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
	      "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
	keeps("usr/lib/x86_64-linux-gnu/libz.so", "/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1");
	keeps("usr/lib/x86_64-linux-gnu/libz.so", "/usr/lib/x86_64-linux-gnu/libz.so.1", "libz.so.1");
	keeps("usr/bin/sh", "/bin/dash", "dash");
	keeps("usr/bin/sh", "/usr/bin/dash", "dash");
	keeps("usr/sbin/x", "/sbin/y", "y");
	keeps("usr/bin/python3", "/usr/lib/python3/dist/py", "../lib/python3/dist/py");
	keeps("usr/share/a/b/c", "/lib64/ld.so", "../../../lib64/ld.so");
	keeps("usr/bin/x", "//usr/./bin//y", "y");
	keeps("usr/bin/x", "/usr", "..");
	keeps("usr/bin/x", "/bin", ".");
	keeps("usr/bin/x", "/../usr/bin/y", "y");     /* "/.." is "/" */
	/* /pkg is the package directory in the sandbox */
	keeps("tool", "/pkg/usr/bin/tool", "usr/bin/tool");
	keeps("sub/dir/l", "/pkg/sub/other", "../other");
	keeps("runner", "/pkg/run", "run");
	keeps("root-link", "/pkg", ".");
	keeps("usr/bin/x", "/pkg/run", "/pkg/run");   /* from /usr/... no relative form reaches /pkg */
	keeps("usr/bin/x", "/pkg", "/pkg");
	keeps("usr/bin/x", "/pkg/usr/bin/y", "y");
	keeps("bin-link", "/bin/sh", "usr/bin/sh");
	/* relative links: as before, and the same ones as the sandbox resolves them */
	keeps("usr/bin/tool-link", "tool", "tool");
	keeps("usr/bin/a", "../lib/b", "../lib/b");
	keeps("usr/bin/a", "./b", "b");
	keeps("usr/lib/a", "../../usr/lib/b", "b");   /* /usr/lib/../../usr/lib/b */
	keeps("usr/lib/a", "../../bin/sh", "../bin/sh");
	keeps("usr/lib/a", "../../pkg/run", "/pkg/run");
	keeps("run2", "usr/bin/sh", "usr/bin/sh");
	keeps("a/b", "../usr/lib", "../usr/lib");
	keeps("a", "../usr/bin/sh", "usr/bin/sh");    /* /pkg/../usr/bin/sh is /usr/bin/sh */
	keeps("a", ".", ".");

	/* leaving the package's tree */
	refuses("usr/passwd", "/etc/passwd", "in the sandbox it names /etc/passwd");
	refuses("usr/lib/p", "/proc/self/root", "outside");
	refuses("usr/lib/h", "/home/user/.ssh/id_rsa", "outside");
	refuses("usr/lib/b", "/box/file0.code", "outside");
	refuses("usr/lib/t", "/tmp/x", "outside");
	refuses("usr/lib/r", "/", "outside");
	refuses("usr/lib/l32", "/lib32/x", "outside");
	refuses("usr/lib", "../../../../etc", "outside");
	refuses("usr/lib/x", "../../etc/passwd", "names /etc/passwd");   /* in the sandbox /etc, not the package's */
	refuses("usr/lib/x", "../../../../../../../../..", "outside");
	refuses("usr/lib/x", "../../run", "names /run");
	refuses("a", "../../../etc", "outside");
	refuses("a", "..", "outside");
	refuses("usr/bin/x", "/usrx/y", "outside");
	refuses("usr/bin/x", "/pkgs/y", "outside");
	/* ".." after a name: that name may be a link */
	refuses("usr/bin/x", "/usr/lib/../../etc/passwd", "after a name");
	refuses("usr/bin/x", "sub/../../../etc", "after a name");
	refuses("usr/bin/x", "/lib/x/..", "after a name");
	/* the usr directory itself, empty and overlong targets */
	refuses("usr", "/usr", "must be a directory");
	refuses("usr", "lib", "must be a directory");
	refuses("usr/bin/x", "", "empty");
	char longt[TAR_PATH_MAX + 10];
	memset(longt, 'a', sizeof longt - 1);
	longt[sizeof longt - 1] = 0;
	refuses("usr/bin/x", longt, "too long");
	/* a target that fits but whose rewrite would not */
	char deep[TAR_PATH_MAX + 1];
	size_t n = 0;
	memcpy(deep, "usr", 3);
	n = 3;
	while (n + 2 < 2200) {
		deep[n++] = '/';
		deep[n++] = 'd';
	}
	deep[n] = 0;
	char abs_long[TAR_PATH_MAX + 1] = "/lib/";
	memset(abs_long + 5, 'x', 4000 - 5);
	abs_long[4000] = 0;
	refuses(deep, abs_long, "too long");
	return t_done();
}
