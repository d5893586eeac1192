#!/bin/sh
# bench-sandbox.sh [N] [PARALLEL]: N sequential sandboxed runs of /bin/true from the
# busybox test package against N plain fork+execs of the same binary (p50, p99, ratio),
# then N runs with PARALLEL concurrent sandboxes (runs/s, beside N plain runs split over
# PARALLEL worker processes: the machine's own rate for the program) -- all inside one
# `piston sandbox --bench` process, so the CLI's own start-up is not measured.
# Each sandboxed run includes creating and destroying its box. Then the floor
# (tools/sandbox-floor.c): namespaces and three fresh mounts per run with
# nothing else, PARALLEL workers -- what no sandbox with this isolation can
# beat on the machine. Last, runs after idle pauses (issue 17): PAUSE_N
# (default 25) sandboxed runs after each pause of PAUSES ms (default
# 0,20,100,500), interleaved with plain fork+execs after the same pause --
# the sandbox's pause penalty beside the machine's own -- with the stage's
# set-up/run/teardown split. Needs root.
set -eu
n=${1:-500}
par=${2:-2}
pause_n=${PAUSE_N:-25}
pauses=${PAUSES:-0,20,100,500}
cd "$(dirname "$0")/.."
[ -x ./piston ] || make -s piston
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-sandbox.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tools/mk-busybox-pkg.sh "$tmp/pkg"
echo "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)"
PISTON_LOG_LEVEL=WARN ./piston sandbox --bench "$n" --parallel "$par" --root "$tmp/pkg" -- /bin/true
cc=$(command -v musl-gcc || command -v cc)
"$cc" -std=c17 -O2 -static -o "$tmp/floor" tools/sandbox-floor.c
"$tmp/floor" "$n" "$par" "$tmp/pkg/usr/bin/true"
echo "== after idle pauses: $pause_n runs per pause, each after its pause (medians, ms)"
PISTON_LOG_LEVEL=WARN ./piston sandbox --bench "$pause_n" --parallel 1 --pauses "$pauses" --root "$tmp/pkg" -- /bin/true |
	sed -n '/^pause ms/,$p'
