#!/bin/sh
# bench-tests.sh: issue 14's goals, side by side in one run (not a timed test).
#  1. a compiled program (the test fixture's "cc" language, or a real C
#     program with gcc when PISTON_BENCH_C_PKG names an unpacked gcc package,
#     DIR/gcc/12.2.0) with 20 tests in one request vs the same 20 inputs as
#     20 separate execute requests (each a different source: each compiles,
#     checked by compile.cached being false). The goal is judged per
#     request too (each round's overhead over its own compile and runs),
#     beside the bound from the medians.
#  2. a compile-cache hit vs running the compiled program alone (a plain
#     shell request printing the same thing).
# Usage: tools/bench-tests.sh [ROUNDS]   (needs root: it starts `piston serve`)
# PISTON_BENCH_SLOTS=N: the engine's slots (default 8), the bound's divisor.
set -eu
cd "$(dirname "$0")/.."
ROUNDS=${1:-15}
exec python3 - "$ROUNDS" <<'PY'
import os, statistics, sys, time
sys.path.insert(0, "test/integration")
from exec_fixture import Engine
rounds = int(sys.argv[1])
cpkg = os.environ.get("PISTON_BENCH_C_PKG")
slots_used = int(os.environ.get("PISTON_BENCH_SLOTS", "8"))
e = Engine(env={"PISTON_MAX_CONCURRENT_JOBS": str(slots_used)}, link_packages=[cpkg] if cpkg else ())
lang = "c" if cpkg else "cc"
def req(code, **kw):
    r = {"language": lang, "version": "*", "files": [{"name": "main.c", "content": code}]}
    r.update(kw)
    return r
try:
    if cpkg:
        prog = '#include <stdio.h>\nint main(void) { long x; if (scanf("%ld", &x) != 1) return 1; printf("%ld\\n", x * x); return 0; }\n//'
        print("language: c (gcc, %s)" % cpkg)
    else:
        prog = "read x; echo $((x * x))"
        print("language: the fixture's cc (its compile is nearly free; PISTON_BENCH_C_PKG for gcc)")
    tests = [{"stdin": str(i), "expected_output": str(i * i)} for i in range(20)]
    batch, separate, comp, runs, slots = [], [], [], [], []
    for k in range(rounds):
        code = prog + " # %d" % k            # a new program each round: no cache hit
        t0 = time.perf_counter()
        st, r = e.execute(req(code, tests=tests))
        batch.append((time.perf_counter() - t0) * 1000)
        assert st == 200 and r["summary"]["passed"] == 20, r
        # wall_time is whole milliseconds, cut down (Piston's format): each
        # stage really took 0.5 ms more on average, counted back here.
        comp.append(r["compile"]["wall_time"] + 0.5)
        runs.append(sum(x["wall_time"] + 0.5 for x in r["tests"]))
        t0 = time.perf_counter()
        for i in range(20):
            st, r = e.execute(req(code + " %d" % i, stdin=str(i)))
            assert st == 200 and r["run"]["stdout"] == "%d\n" % (i * i), r
            assert not r["compile"].get("cached"), r
        separate.append((time.perf_counter() - t0) * 1000)
    med = statistics.median
    used = slots_used
    print("20 tests in one request: p50 %.1f ms (compile p50 %.1f ms, 20 runs' wall sum p50 %.1f ms, %d slots;"
          " each wall_time + 0.5 ms for its whole-ms truncation)"
          % (med(batch), med(comp), med(runs), used))
    print("  goal: <= compile + runs/slots + 5 ms = %.1f ms (from the medians above)" % (med(comp) + med(runs) / used + 5))
    # The goal is per request: each round's own overhead, request - its
    # compile - its runs/slots (the medians above come from different
    # rounds, and the compile alone varies by 10 ms between them).
    over = sorted(b - c - r / used for b, c, r in zip(batch, comp, runs))
    print("  per request: overhead = request - compile - runs/slots, p50 %.2f ms (%.2f-%.2f), %d of %d rounds"
          " <= 5 ms (goal p50 <= 5 ms)" % (med(over), over[0], over[-1], sum(o <= 5 for o in over), len(over)))
    print("20 separate requests: p50 %.1f ms -> the batch is %.1fx faster (goal >= 10x)"
          % (med(separate), med(separate) / med(batch)))
    cached = req(prog)
    e.execute(cached)
    alone = {"language": "shell", "version": "*", "files": [{"content": "echo 1"}], "stdin": "1"}
    hit, solo = [], []
    for k in range(rounds * 4):
        t0 = time.perf_counter()
        st, r = e.execute(dict(cached, stdin="1"))
        hit.append((time.perf_counter() - t0) * 1000)
        assert r["compile"].get("cached") is True
        t0 = time.perf_counter()
        e.execute(alone)
        solo.append((time.perf_counter() - t0) * 1000)
    print("compile-cache hit: p50 %.2f ms; the program alone (no compile stage): p50 %.2f ms; difference %.2f ms"
          " (goal <= 2 ms)" % (med(hit), med(solo), med(hit) - med(solo)))
finally:
    e.stop()
PY
