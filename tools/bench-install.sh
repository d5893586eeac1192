#!/usr/bin/env bash
# bench-install.sh: how long `piston ppman --data` takes to install a ~30 MB
# package (gzip'd; ~90 MB and ~5000 files unpacked, built from the host's
# /usr/lib/python3.11, /usr/share/perl and some shared libraries) from a local
# directory repository.
# Goal: < 1 s. Prints one line per run and the best/median.
#   tools/bench-install.sh [RUNS]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=${PISTON_BIN:-./piston}
[ -x "$bin" ] || make -s
work=$(mktemp -d /tmp/piston-bench-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
[ -n "${BENCH_KEEP:-}" ] && trap - EXIT && echo "work: $work"
pkg=$work/pkg
mkdir -p "$pkg/usr/lib" "$work/repo"
cp -a /usr/lib/python3.11 "$pkg/usr/lib/"
mkdir -p "$pkg/usr/share" "$pkg/usr/lib/so"
cp -a /usr/share/perl "$pkg/usr/share/" 2>/dev/null || true
for lib in /usr/lib/x86_64-linux-gnu/lib{crypto,ssl,stdc++,sqlite3,python3.11,LLVM,clang-cpp,z3}*.so*; do
	[ -f "$lib" ] && [ "$(du -sm "$pkg" | cut -f1)" -lt 90 ] && cp -L "$lib" "$pkg/usr/lib/so/"
done
find "$pkg" -type l -lname '/*' -delete   # host-absolute links are not allowed in a package
echo '{"language":"bench","version":"1.0.0","aliases":[]}' > "$pkg/metadata.json"
printf '#!/bin/sh\nexec /usr/bin/python3 "$@"\n' > "$pkg/run"
chmod 755 "$pkg/run"
tar -C "$pkg" -cf - . | gzip -6 > "$work/repo/bench-1.0.0.pkg.tar.gz"
sha=$(sha256sum "$work/repo/bench-1.0.0.pkg.tar.gz" | cut -c1-64)
echo "bench,1.0.0,$sha,bench-1.0.0.pkg.tar.gz" > "$work/repo/index"
size=$(stat -c %s "$work/repo/bench-1.0.0.pkg.tar.gz")
unpacked=$(du -sb "$pkg" | cut -f1)
files=$(find "$pkg" | wc -l)
printf 'package: %.1f MB gzip, %.1f MB unpacked, %d entries\n' "$(echo "$size/1000000" | bc -l)" \
	"$(echo "$unpacked/1000000" | bc -l)" "$files"
times=()
for i in $(seq "$runs"); do
	rm -rf "$work/data"
	sync
	start=$(date +%s.%N)
	cpu=$( { TIMEFORMAT='%U %S'; time "$bin" ppman --data "$work/data" --repo "$work/repo" install bench >/dev/null; } 2>&1 | tail -n 1)
	end=$(date +%s.%N)
	t=$(echo "$end - $start" | bc -l)
	times+=("$t")
	[ -f "$work/data/packages/bench/1.0.0/.ppman-installed" ] || { echo "install failed" >&2; exit 1; }
	printf 'run %d: %.3f s (cpu: %s s user, %s s sys)\n' "$i" "$t" ${cpu% *} ${cpu#* }
done
# The same archive with GNU tar (no checksum, no sync) on the same disk, for scale.
rm -rf "$work/tar" && mkdir "$work/tar" && sync
start=$(date +%s.%N)
tar -C "$work/tar" -xzf "$work/repo/bench-1.0.0.pkg.tar.gz"
printf 'baseline: GNU tar -xzf of the same file: %.3f s\n' "$(echo "$(date +%s.%N) - $start" | bc -l)"
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
best=$(head -n 1 <<<"$sorted")
median=$(sed -n "$(( (runs + 1) / 2 ))p" <<<"$sorted")
printf 'install: best %.3f s, median %.3f s (goal < 1 s)\n' "$best" "$median"
