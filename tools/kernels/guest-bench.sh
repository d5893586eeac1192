#!/bin/sh
# guest-bench.sh: what a kernel-matrix guest runs for SUITE=bench
# (tools/test-kernels.sh) instead of test/run -- the issue-17 pause rows on
# that kernel's pure cgroup v2: the bare sandbox (`piston sandbox --bench
# --pauses`, beside plain fork+execs) and execute (tools/bench-execute.sh
# --pauses-only, beside the bare program) when ./data holds bash or python
# packages (`make run` leaves them). Under TCG everything is ~10x slower
# than on the host: compare paused with back to back inside one guest run.
# Last line "N passed, N failed": one per benchmark that ran to its end.
cd "$(dirname "$0")/../.."
pass=0 fail=0
n=${GUEST_BENCH_N:-12}
echo "guest-bench: kernel $(uname -r), $(nproc) CPUs, cgroup $(stat -fc %T /sys/fs/cgroup)"
tmp=$(mktemp -d)
if tools/mk-busybox-pkg.sh "$tmp/pkg" >/dev/null &&
	PISTON_LOG_LEVEL=WARN ./piston sandbox --bench "$n" --parallel 1 --pauses 0,20,100,500 --root "$tmp/pkg" -- /bin/true; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
fi
rm -rf "$tmp"
if ls data/packages/*/*/.ppman-installed >/dev/null 2>&1; then
	if PISTON_BENCH_PAUSE_N=$n tools/bench-execute.sh 1 --pauses-only; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
else
	echo "guest-bench: no packages under data/ (make run): execute not measured"
fi
echo "$pass passed, $fail failed"
