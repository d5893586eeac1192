#!/usr/bin/env bash
# try-pkg.sh: run a built package in an otherwise empty root, proving it needs nothing of the host.
#
#   tools/try-pkg.sh PKGDIR                      run every test case the package carries (its test.*
#                                                sent with no name, and tests/tests.json: see
#                                                tools/pkgtests.py); prints "PASS|FAIL LANG CASE MS ..."
#   tools/try-pkg.sh [-l LANG] [--compile-log F] PKGDIR FILE... [-- ARGS]   compile+run FILE(s) with
#                                                their names, stdin passed on; output passed through
#                                                (the compile's into F when given)
#   tools/try-pkg.sh [--writable] --exec PKGDIR -- CMD...  run CMD in the root (as root; --writable:
#                                                /usr is writable, for post-install work)
#   PKGDIR may also be a LANG-VERSION.pkg.tar.gz (unpacked into a temporary directory).
#
# The root is a fresh directory: PKGDIR/usr bind-mounted read-only at /usr, /bin /lib /lib64 /sbin as
# links into it, PKGDIR read-only at /pkg, the files at /box (writable, cwd), an empty /tmp, /dev with
# null zero full random urandom and an empty shm, a fresh /proc, a generated /etc/passwd and /etc/group -- nothing else.
# It runs in new mount, PID, network, IPC and UTS namespaces as uid/gid 1001, with only the package's
# environment plus PISTON_LANGUAGE, HOME=/tmp and PATH. Each stage has a 60 s wall limit
# (TRY_PKG_TIMEOUT). Needs root.
set -euo pipefail
shopt -s nullglob
die() { echo "try-pkg: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (namespaces, chroot, mounts)"

lang="" exec_mode=0 writable=0 compile_log=""
while [ $# -gt 0 ]; do
	case "$1" in
		-l) lang=$2; shift 2 ;;
		--exec) exec_mode=1; shift ;;
		--writable) writable=1; shift ;;
		--compile-log) compile_log=$2; shift 2 ;;
		-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
		-*) die "unknown option $1" ;;
		*) break ;;
	esac
done
[ $# -ge 1 ] || die "usage: try-pkg.sh [-l LANG] PKGDIR [FILE... [-- ARGS]]"
pkg=$1; shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/try-pkg.XXXXXX")
cleanup() { rm -rf --one-file-system "$tmp"; }
trap cleanup EXIT
if [ -f "$pkg" ]; then
	mkdir "$tmp/pkg"
	tar -xzf "$pkg" -C "$tmp/pkg"
	pkg="$tmp/pkg"
fi
pkg=$(cd "$pkg" && pwd)
[ -d "$pkg/usr" ] && [ -f "$pkg/metadata.json" ] || die "$pkg is not a package directory (usr/, metadata.json)"
timeout_s=${TRY_PKG_TIMEOUT:-60}

meta_language() { sed -n 's/^{"language":"\([^"]*\)".*/\1/p' "$pkg/metadata.json"; }

# The package's environment as env(1) arguments; PATH defaulted as the engine does.
envargs=(HOME=/tmp)
has_path=0
if [ -f "$pkg/environment" ]; then
	while IFS= read -r line || [ -n "$line" ]; do
		case "$line" in ''|'#'*) continue ;; PATH=*) has_path=1 ;; esac
		envargs+=("$line")
	done < "$pkg/environment"
fi
[ $has_path -eq 1 ] || envargs+=(PATH=/usr/local/bin:/usr/bin:/bin)

# in_root UID CMD... : build the root and run CMD there, cwd /box; prints CMD's output; returns its status.
in_root() {
	local uid=$1; shift
	local r="$tmp/root"
	rm -rf --one-file-system "$r"
	mkdir -p "$r"/{usr,pkg,tmp,dev,proc,etc}
	chmod 1777 "$r/tmp"
	for l in bin lib lib64 sbin; do ln -s "usr/$l" "$r/$l"; done
	printf 'root:x:0:0:root:/root:/bin/sh\nrunner:x:1001:1001:runner:/tmp:/bin/sh\n' > "$r/etc/passwd"
	printf 'root:x:0:\nrunner:x:1001:\n' > "$r/etc/group"
	mv "$tmp/box" "$r/box"
	chown -R "$uid:$uid" "$r/box"
	local ro=ro
	[ $writable -eq 1 ] && ro=rw
	local rc=0
	timeout -s KILL "$timeout_s" unshare -m -p -f -n -i -u --propagation private -- bash -c '
		set -e
		r=$1 pkg=$2 ro=$3 uid=$4 nenv=$5; shift 5
		envs=("${@:1:$nenv}"); shift "$nenv"
		mount --bind "$pkg/usr" "$r/usr"; mount -o "remount,bind,$ro,nosuid,nodev" "$r/usr"
		mount --bind "$pkg" "$r/pkg"; mount -o remount,bind,ro,nosuid,nodev "$r/pkg"
		mount -t tmpfs -o size=256m,mode=1777,nosuid,nodev tmpfs "$r/tmp"
		for d in null zero full random urandom; do : > "$r/dev/$d"; mount --bind "/dev/$d" "$r/dev/$d"; done
		mkdir "$r/dev/shm"; mount -t tmpfs -o size=64m,mode=1777,nosuid,nodev tmpfs "$r/dev/shm"
		mount -t proc -o nosuid,nodev,noexec proc "$r/proc"
		exec env -i "${envs[@]}" /usr/sbin/chroot --userspec="$uid:$uid" "$r" /bin/sh -c "cd /box && exec \"\$@\"" sh "$@"
	' try-pkg "$r" "$pkg" "$ro" "$uid" "$(( ${#envargs[@]} + 1 ))" "${envargs[@]}" PISTON_LANGUAGE="$lang" "$@" || rc=$?
	mv "$r/box" "$tmp/box"
	return $rc
}

if [ $exec_mode -eq 1 ]; then
	[ "${1:-}" = "--" ] && shift
	[ $# -ge 1 ] || die "--exec needs a command"
	mkdir -p "$tmp/box"
	in_root 0 "$@"
	exit
fi

# stage FILES... [-- ARGS]: compile (if the package has it) and run; stdout to $tmp/out.
stage() {
	local files=() args=() f
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
	[ $# -gt 0 ] && shift
	args=("$@")
	rm -rf "$tmp/box"; mkdir -p "$tmp/box"
	local names=()
	for f in "${files[@]}"; do cp "$f" "$tmp/box/"; names+=("$(basename "$f")"); done
	local t0 t1 rc=0
	t0=$(date +%s%N)
	if [ -x "$pkg/compile" ]; then
		local crc=0
		if [ -n "$compile_log" ]; then in_root 1001 /pkg/compile "${names[@]}" < /dev/null > "$compile_log" 2>&1 || crc=$?
		else in_root 1001 /pkg/compile "${names[@]}" < /dev/null >&2 || crc=$?; fi
		[ $crc -eq 0 ] || { echo "try-pkg: compile failed ($crc)" >&2; return 1; }
	fi
	t1=$(date +%s%N)
	in_root 1001 /pkg/run "${names[0]}" "${args[@]}" || rc=$?
	echo "compile_ms=$(( (t1 - t0) / 1000000 )) run_ms=$(( ($(date +%s%N) - t1) / 1000000 ))" > "$tmp/times"
	return $rc
}

if [ $# -gt 0 ]; then
	[ -n "$lang" ] || lang=$(meta_language)
	stage "$@"
	exit
fi

# Test mode: every case, each through this script's file mode (same root, same rules).
exec python3 - "$0" "$pkg" "$tmp" <<'EOF'
import os, subprocess, sys, time
self, pkg, tmp = sys.argv[1:4]
sys.path.insert(0, os.path.dirname(os.path.abspath(self)))
import pkgtests
try:
    meta, cases = pkgtests.cases(pkg)
except (OSError, ValueError) as e:
    print("FAIL %s: %s" % (pkg, e)); sys.exit(1)
fails = 0
for n, c in enumerate(cases):
    d = os.path.join(tmp, "case%d" % n)
    os.makedirs(d)
    paths = []
    for name, f in zip(pkgtests.box_names(c["files"]), c["files"]):
        paths.append(os.path.join(d, name))
        with open(paths[-1], "w", encoding="utf-8") as out:
            out.write(f["content"])
    clog = os.path.join(tmp, "compile%d.log" % n)
    start = time.monotonic()
    r = subprocess.run(["bash", self, "-l", c["language"], "--compile-log", clog, pkg] + paths + ["--"] + c["args"],
                       input=c["stdin"].encode(), capture_output=True)
    ms = (time.monotonic() - start) * 1000
    stdout, stderr = r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")
    why = pkgtests.judge(c, stdout, stderr)
    if why is None:
        print("PASS %s %s %.0fms" % (c["language"], c["label"], ms))
    else:
        fails += 1
        clogtext = open(clog, errors="replace").read()[-600:] if os.path.exists(clog) else ""
        print("FAIL %s %s %.0fms: %s%s" % (c["language"], c["label"], ms, why,
              (" compile: %r" % clogtext) if clogtext else ""))
sys.exit(1 if fails or not cases else 0)
EOF
