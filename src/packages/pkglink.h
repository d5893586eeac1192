/*
 * pkglink: how the installer judges a symbolic link in a package archive
 * (SPEC section 3): as the sandbox will see it.
 *
 * In the sandbox the package directory is /pkg, its usr/ is mounted as /usr,
 * and /bin, /lib, /lib64, /sbin are links to usr/bin, usr/lib, usr/lib64,
 * usr/sbin. A package built by hand from a Debian root is full of links such
 * as usr/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2,
 * which in the sandbox name the package's own files.
 *
 * Promises (pkglink_judge):
 * - The target is resolved as the sandbox would resolve it from the link's
 *   place (/usr/... for a link under usr/, /pkg/... for any other), then
 *   mapped back into the package: /usr/X -> usr/X; /bin/X, /lib/X, /lib64/X,
 *   /sbin/X -> usr/bin/X ...; /pkg/X -> X. Anything else ("/", /etc/passwd,
 *   /proc, /home, /box, /tmp, a relative target climbing to those) is
 *   refused. A ".." after a name is refused: that name may itself be a link,
 *   so where it leads cannot be told from the text.
 * - The link to create is written to out: relative, climbing no higher than
 *   the common part of the link's directory and the target (so it means the
 *   same on the host, as /usr/... and as /pkg/usr/... in the sandbox, and
 *   passes tar_link_is_safe), except for a link under usr/ naming a file
 *   outside usr/ (e.g. /pkg/run): no relative form means that file both on
 *   the host and in the sandbox, so it is stored as the absolute /pkg/...,
 *   which the engine never follows on the host.
 * - A link named usr at the package root is refused (usr/ must be a
 *   directory: the sandbox mounts it).
 * - Bounded: entry_path and target of at most TAR_PATH_MAX bytes; the result
 *   fits TAR_PATH_MAX or the link is refused.
 */
#ifndef PISTON_PKGLINK_H
#define PISTON_PKGLINK_H

#include <stddef.h>

/* entry_path: the link's normalized, safe path in the package (tar.h);
 * target: as the archive gives it. 0 with out (outlen >= TAR_PATH_MAX + 1)
 * holding the link to create, or -1 with why (a phrase that follows
 * "symlink PATH -> TARGET ") saying why it is refused. */
int pkglink_judge(const char *entry_path, const char *target, char *out, size_t outlen,
                  char *why, size_t whylen);

#endif
