"""`tests` in POST /api/v2/execute (SPEC section 1, "Test cases, output
files, compile cache"; issue 14): compile once, one fresh box per test over
what the compile left, compare modes, stop_on_failure, the answer's order and
summary, validation (400s), hostile compile output (a link to /etc/shadow, a
FIFO, a million files, a 100 GB sparse file), tests that damage the compiled
program or leave files, 100 fork bombs, 100 sleepers, fairness between a big
batch and a single request, a client that goes away, the stats; each with
overlayfs and with the fallback (each test compiles again)."""
import os
import socket
import sys
import threading
import time
import json

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import exec_fixture  # noqa: E402
from exec_fixture import Checker, Engine, make_package  # noqa: E402

t = Checker()
check = t.check

# A compiled language whose compile step is the first file itself (a shell
# script run in /box): it must leave /box/prog, which run executes.
SCC_COMPILE = "#!/bin/sh\nexec /bin/sh \"$1\"\n"
SCC_RUN = "#!/bin/sh\nshift\nexec /bin/sh /box/prog \"$@\"\n"


def add_packages(data):
    make_package(data, "scc", "1.0.0", SCC_RUN, compile_script=SCC_COMPILE,
                 meta_extra={"limit_overrides": {"max_file_size": 200 * 1024 ** 3}})


_make_all = exec_fixture.make_all_packages


def _make_all_and_scc(data):
    _make_all(data)
    add_packages(data)


exec_fixture.make_all_packages = _make_all_and_scc
TEngine = Engine


def cc(code, tests, **kw):
    req = {"language": "cc", "version": "*", "files": [{"name": "main.c", "content": code}], "tests": tests}
    req.update(kw)
    return req


def scc(compile_script, prog, tests, **kw):
    script = compile_script + "\ncat > /box/prog <<'PROG_EOF'\n" + prog + "\nPROG_EOF\n"
    req = {"language": "scc", "version": "*", "files": [{"name": "build.sh", "content": script}], "tests": tests}
    req.update(kw)
    return req


def basics(e, mode):
    st, r = e.execute(cc("read x; echo \"in=$x args=$*\"",
                         [{"name": "one", "stdin": "1", "expected_output": "in=1 args="},
                          {"stdin": "2", "args": ["a", 3], "expected_output": "in=2 args=a 3\n\n\n"},
                          {"stdin": "3", "expected_output": "wrong"},
                          {"stdin": "4"}]))
    ok = st == 200 and isinstance(r, dict)
    check(ok and "run" not in r and r.get("compile", {}).get("code") == 0, mode + ": compile, no run", (st, r))
    if not ok:
        return
    names = [x.get("name") for x in r.get("tests", [])]
    check(names == ["one", "test1", "test2", "test3"], mode + ": tests in request order, default names", names)
    outs = [x.get("stdout") for x in r["tests"]]
    check(outs == ["in=1 args=\n", "in=2 args=a 3\n", "in=3 args=\n", "in=4 args=\n"],
          mode + ": each test's own stdin and args", outs)
    check([x.get("passed") for x in r["tests"]] == [True, True, False, None],
          mode + ": passed true/false/null (lines mode ignores trailing empty lines)", r["tests"])
    check(r.get("summary") == {"passed": 3, "failed": 1, "skipped": 0, "total": 4}, mode + ": summary", r.get("summary"))
    st, r = e.execute(cc("echo hi", []))
    check(st == 200 and r.get("tests") == [] and r.get("summary", {}).get("total") == 0 and "compile" in r,
          mode + ": tests [] compiles, runs nothing", (st, r))
    # the request's stdin and args are the tests' defaults
    st, r = e.execute(cc("read x; echo \"$x $*\"", [{}, {"stdin": "own"}], stdin="shared", args=["q"]))
    check(st == 200 and [x["stdout"] for x in r["tests"]] == ["shared q\n", "own q\n"],
          mode + ": absent fields take the request's", (st, r))
    # a plain request is unchanged
    st, r = e.execute({"language": "cc", "version": "*", "files": [{"content": "echo plain"}]})
    check(st == 200 and set(r) == {"language", "version", "run", "compile"} and r["run"]["stdout"] == "plain\n",
          mode + ": a request without tests is unchanged", (st, r))


def compile_failure(e, mode):
    st, r = e.execute(cc("SYNTAX_ERROR", [{"name": "a"}, {"name": "b"}]))
    check(st == 200 and r["compile"]["status"] == "RE" and "run" not in r
          and r["tests"] == [{"name": "a", "status": "SK", "message": "skipped"},
                             {"name": "b", "status": "SK", "message": "skipped"}]
          and r["summary"] == {"passed": 0, "failed": 0, "skipped": 2, "total": 2},
          mode + ": failed compile: compile only, every test SK", (st, r))


def compare_modes(e, mode):
    prog = "printf 'a  b\\n c \\n\\n\\n'"
    cases = [("exact", "a  b\n c \n\n\n", True), ("exact", "a  b\n c\n", False),
             ("lines", "a  b\n c", True), ("lines", "a b\n c", False), ("lines", "a  b\nc", False),
             ("tokens", "a b c", True), ("tokens", "a\nb\n\nc\n", True), ("tokens", "a b", False),
             ("tokens", "ab c", False)]
    for cmp, exp, want in cases:
        st, r = e.execute(cc(prog, [{"expected_output": exp}], compare=cmp))
        check(st == 200 and r["tests"][0]["passed"] is want, "%s: compare %s %r -> %s" % (mode, cmp, exp, want), (st, r))
    st, r = e.execute(cc(prog, [{"expected_output": "x"}], compare="fuzzy"))
    check(st == 400 and r.get("message") == "compare must be one of exact, lines, tokens", mode + ": unknown compare 400",
          (st, r))
    # a test that ends with a status fails whatever its output
    st, r = e.execute(cc("echo ok; exit 3", [{"expected_output": "ok"}]))
    check(st == 200 and r["tests"][0]["status"] == "RE" and r["tests"][0]["passed"] is False
          and r["summary"]["failed"] == 1, mode + ": a non-zero exit fails the test", (st, r))


def stop_on_failure(e, mode):
    tests = [{"name": "t0", "stdin": "0", "expected_output": "0"},
             {"name": "t1", "stdin": "1", "expected_output": "not 1"},
             {"name": "t2", "stdin": "sleep", "expected_output": "sleep"},
             {"name": "t3", "stdin": "sleep", "expected_output": "sleep"}]
    prog = "read x; [ \"$x\" = sleep ] && sleep 2; echo \"$x\""
    st, r = e.execute(cc(prog, tests, stop_on_failure=True))
    ok = st == 200
    check(ok and r["tests"][0]["passed"] is True and r["tests"][1]["passed"] is False
          and r["tests"][2] == {"name": "t2", "status": "SK", "message": "skipped"}
          and r["tests"][3] == {"name": "t3", "status": "SK", "message": "skipped"}
          and r["summary"] == {"passed": 1, "failed": 1, "skipped": 2, "total": 4},
          mode + ": stop_on_failure skips the rest", (st, r))
    st, r = e.execute(cc(prog, tests[:2], stop_on_failure=False))
    check(st == 200 and r["summary"] == {"passed": 1, "failed": 1, "skipped": 0, "total": 2},
          mode + ": without it every test runs", (st, r))
    st, r = e.execute(cc(prog, tests[:2], stop_on_failure="yes"))
    check(st == 400 and r["message"] == "stop_on_failure must be a boolean", mode + ": stop_on_failure type", (st, r))


def validation(e, mode):
    base = {"language": "cc", "version": "*", "files": [{"content": "echo"}]}
    cases = [
        ({"tests": "x"}, "tests must be an array"),
        ({"tests": [1]}, "tests[0] must be an object"),
        ({"tests": [{}, {}, {}, {"stdin": 5}]}, "tests[3].stdin must be a string"),
        ({"tests": [{"name": 1}]}, "tests[0].name must be a string"),
        ({"tests": [{"args": "x"}]}, "tests[0].args must be an array of strings"),
        ({"tests": [{"args": [{}]}]}, "tests[0].args[0] must be a string, a number or a boolean, not an object"),
        ({"tests": [{"expected_output": 1}]}, "tests[0].expected_output must be a string"),
        ({"tests": [{"run_timeout": "x"}]}, "If specified, tests[0].run_timeout must be a number"),
        ({"tests": [{"run_timeout": 3001}]}, "tests[0].run_timeout cannot exceed the configured limit of 3000"),
        ({"tests": [{"run_cpu_time": -1}]}, "tests[0].run_cpu_time must be non-negative"),
        ({"tests": [{"run_memory_limit": True}]}, "If specified, tests[0].run_memory_limit must be a number"),
        ({"tests": [{}] * 101}, "tests holds 101 tests; the configured limit is 100"),
    ]
    for extra, msg in cases:
        req = dict(base)
        req.update(extra)
        st, r = e.execute(req)
        check(st == 400 and isinstance(r, dict) and r.get("message") == msg, "%s: 400 %s" % (mode, msg), (st, r))
    st, r = e.execute(dict(base, tests=[{}] * 100))
    check(st == 200 and r["summary"]["total"] == 100, mode + ": 100 tests accepted", (st, str(r)[:300]))


def isolation(e, mode):
    # each test checks the compiled program is intact and nothing of another
    # test is there, then damages the program and leaves a file
    prog = ("grep -q MARKER /box/a.out && echo intact; ls /box | grep -c leftover; "
            "echo broken > /box/a.out 2>/dev/null; rm -f /box/a.out; echo x > /box/leftover; "
            "mkdir -p /box/d && echo y > /box/d/f; echo done # MARKER")
    st, r = e.execute(cc(prog, [{"name": str(i), "expected_output": "intact\n0\ndone"} for i in range(12)]))
    check(st == 200 and r["summary"]["passed"] == 12, mode + ": a test deleting or rewriting the compiled program, "
          "or leaving files: the next sees the original and none of them", (st, str(r)[:800]))
    # limits per test, clamped
    st, r = e.execute(cc("sleep 2; echo late", [{"run_timeout": 300}, {"name": "default"}], run_timeout=2500))
    check(st == 200 and r["tests"][0]["status"] == "TO" and r["tests"][1]["stdout"] == "late\n",
          mode + ": a test's own run_timeout", (st, r))


def hostile(e, mode):
    # a link to /etc/shadow and a FIFO left by the compile
    st, r = e.execute(scc("ln -s /etc/shadow /box/shadow; mkfifo /box/fifo 2>/dev/null || busybox mkfifo /box/fifo; "
                "ln -s /box/fifo /box/fifolink; true",
                "cat /box/shadow 2>&1 | head -c 80; echo; ls -l /box | grep -c '^[lp]'",
                [{"name": "links"}, {"name": "fifo", "run_timeout": 500, "stdin": ""}]))
    ok = st == 200 and r["compile"]["status"] is None
    check(ok and "root:" not in r["tests"][0]["stdout"] and "No such file" in r["tests"][0]["stdout"],
          mode + ": a link to /etc/shadow from the compile reaches nothing of the host", (st, r))
    st, r = e.execute(scc("mkfifo /box/fifo 2>/dev/null || busybox mkfifo /box/fifo; true", "cat /box/fifo",
                [{"name": "reads-fifo", "run_timeout": 500}]))
    check(st == 200 and r["tests"][0]["status"] == "TO", mode + ": a FIFO left by the compile: the test times out, "
          "the engine is not stuck", (st, r))
    # a million files: the box's inode cap stops it; a clear failure
    t0 = time.time()
    st, r = e.execute(scc("i=0; while [ $i -lt 1000000 ] && : > /box/f$i 2>/dev/null; do i=$((i+1)); done; echo made $i; true",
                "echo ran", [{"name": "never"}], compile_timeout=10000), timeout=120)
    check(st == 200 and r["compile"]["status"] == "EL" and "filled its box" in (r["compile"]["message"] or "")
          and r["tests"][0]["status"] == "SK",
          mode + ": a compile leaving 1,000,000 files hits the inode cap: EL, clear message, tests SK (%.1f s)"
          % (time.time() - t0), (st, str(r)[:600]))
    # a 100 GB sparse file
    st, r = e.execute(scc("dd if=/dev/zero of=/box/big bs=1 count=1 seek=107374182400 2>/dev/null; ls -l /box/big | "
                "awk '{print $5}'; true",
                "wc -c < /box/big; echo more >> /box/big; echo rc=$?",
                [{"name": "reads", "run_timeout": 2000}, {"name": "again", "run_timeout": 2000}]), timeout=120)
    ok = st == 200 and r["compile"]["status"] is None and "107374182401" in r["compile"]["stdout"]
    check(ok and all(x.get("status") in (None, "RE", "TO", "EL") for x in r["tests"]),
          mode + ": a 100 GB sparse file from the compile: tests answer (%s)" %
          [(x.get("status"), x.get("stdout", "")[:40]) for x in r.get("tests", [])] if ok else "", (st, str(r)[:600]))
    st, _ = e.request("GET", "/")
    check(st == 200, mode + ": the engine is alive after the hostile boxes")


def fork_bombs(e, mode):
    t0 = time.time()
    st, r = e.execute(cc(":(){ :|:& };:; sleep 1; echo survived",
                         [{"name": str(i), "run_timeout": 1000} for i in range(100)]), timeout=300)
    dt = time.time() - t0
    check(st == 200 and r["summary"]["total"] == 100 and r["summary"]["skipped"] == 0,
          mode + ": 100 tests of a fork bomb answer (%.1f s)" % dt, (st, str(r)[:400]))
    st, r = e.execute(cc("echo fine", [{}]))
    check(st == 200 and r["tests"][0]["stdout"] == "fine\n", mode + ": the engine runs tests after the bombs", (st, r))


def sleepers(e, mode, slots):
    limit = 500
    t0 = time.time()
    st, r = e.execute(cc("sleep 5", [{"name": str(i), "run_timeout": limit} for i in range(100)]), timeout=300)
    dt = time.time() - t0
    waves = (100 + slots - 1) // slots
    ok = st == 200 and all(x.get("status") == "TO" for x in r.get("tests", []))
    # about one limit per slot wave (here %d waves); sequential would be 50 s
    check(ok and dt < waves * limit / 1000.0 * 3 + 6,
          "%s: 100 tests sleeping past a %d ms limit end in %.1f s (%d waves of %d slots; sequential: 50 s)"
          % (mode, limit, dt, waves, slots),
          (st, sorted(set((x.get("status"), x.get("message")) for x in r.get("tests", []))) if st == 200 else r))


def fairness(e, mode, slots):
    """A batch of many slow tests, then a single request: the single one gets
    a slot within about one test's time, not after the whole batch."""
    n = slots * 6
    res = {}

    def batch():
        t0 = time.time()
        res["batch"] = e.execute(cc("sleep 0.6", [{"name": str(i)} for i in range(n)]), timeout=300)
        res["batch_t"] = time.time() - t0

    th = threading.Thread(target=batch)
    th.start()
    time.sleep(0.8)
    _, s = e.request("GET", "/api/v2/stats")
    running = s.get("jobs", {}).get("running")
    queued = s.get("jobs", {}).get("queued")
    t0 = time.time()
    st, r = e.execute({"language": "shell", "version": "*", "files": [{"content": "echo single"}]})
    single_t = time.time() - t0
    th.join()
    check(running == slots and queued and queued > 0,
          "%s: the batch uses every free slot while no one waits; stats count test runs (running %s, queued %s)"
          % (mode, running, queued), s.get("jobs"))
    bst, br = res["batch"]
    check(st == 200 and r["run"]["stdout"] == "single\n" and bst == 200 and br["summary"]["passed"] == n
          and single_t < res["batch_t"] / 2 and single_t < 4,
          "%s: a single request beside a batch of %d tests waits %.2f s (batch %.1f s): not starved"
          % (mode, n, single_t, res["batch_t"]), (st, r, bst))


def client_gone(e, mode):
    s = socket.create_connection(("127.0.0.1", e.port))
    body = json.dumps(cc("sleep 5", [{"run_timeout": 3000} for _ in range(6)])).encode()
    s.sendall(b"POST /api/v2/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
              + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.8)
    _, st1 = e.request("GET", "/api/v2/stats")
    s.close()
    deadline = time.time() + 3
    running = None
    while time.time() < deadline:
        _, st2 = e.request("GET", "/api/v2/stats")
        running = st2["jobs"]["running"]
        if running == 0:
            break
        time.sleep(0.1)
    check(st1["jobs"]["running"] >= 2 and running == 0,
          mode + ": a client that goes away cancels all its tests (running %s -> %s)" % (st1["jobs"]["running"], running))


def stats_counts(e, mode):
    _, s0 = e.request("GET", "/api/v2/stats")
    e.execute(cc("exit 1", [{}, {}, {}]))
    _, s1 = e.request("GET", "/api/v2/stats")
    d = s1["test_runs"]["total"] - s0["test_runs"]["total"]
    dre = s1["test_runs"]["by_status"]["RE"] - s0["test_runs"]["by_status"]["RE"]
    check(d == 3 and dre == 3, mode + ": /api/v2/stats counts each test run (by status)", (d, dre))
    st, m = e.request("GET", "/metrics")
    text = m.decode() if isinstance(m, bytes) else str(m)
    check('piston_test_runs_total{status="RE"}' in text, mode + ": /metrics counts test runs")


def cache_stats(e):
    return e.request("GET", "/api/v2/stats")[1]["compile_cache"]


def cache(mode, env):
    e = TEngine(env=dict(env, PISTON_COMPILE_CACHE_SIZE="40000"))
    try:
        plain = {"language": "cc", "version": "*", "files": [{"name": "m.c", "content": "ls /box; rm -f a.out; echo run"}]}
        s0 = cache_stats(e)
        st1, r1 = e.execute(plain)
        st2, r2 = e.execute(plain)
        st3, r3 = e.execute(plain)
        s1 = cache_stats(e)
        check(st1 == 200 and "cached" not in r1["compile"] and r2["compile"].get("cached") is True
              and r2["compile"]["stdout"] == r1["compile"]["stdout"] and r3["compile"].get("cached") is True,
              mode + ": an identical request answers the recorded compile with cached: true", (r1, r2))
        check(r1["run"]["stdout"] == r2["run"]["stdout"] == r3["run"]["stdout"]
              and "a.out" in r3["run"]["stdout"],
              mode + ": runs over the cached box see what the compile left, never what a run removed", (r1, r3))
        check(s1["hits"] - s0["hits"] == 2 and s1["misses"] - s0["misses"] == 1 and s1["entries"] == 1
              and s1["bytes"] > 0, mode + ": stats count hits, misses, bytes, entries", s1)
        st, r = e.execute(cc("echo t", [{}, {}]))
        st, r = e.execute(cc("echo t", [{}, {}]))
        check(st == 200 and r["compile"].get("cached") is True and [x["stdout"] for x in r["tests"]] == ["t\n", "t\n"],
              mode + ": tests over a cached compile", (st, r))
        other = dict(plain, files=[{"name": "m.c", "content": "echo other"}])
        st, r = e.execute(other)
        check(st == 200 and "cached" not in r["compile"], mode + ": other files: a miss", r)
        st, r = e.execute(dict(plain, compile_timeout=5000))
        check(st == 200 and "cached" not in r["compile"], mode + ": other compile limits: a miss", r)
        st, r = e.execute(cc("SYNTAX_ERROR", []))
        st, r = e.execute(cc("SYNTAX_ERROR", []))
        check(st == 200 and "cached" not in r["compile"], mode + ": a failed compile is not kept", r)
        for i in range(12):
            e.execute(dict(plain, files=[{"name": "m.c", "content": "echo %d" % i}]))
        s2 = cache_stats(e)
        check(s2["evictions"] > 0 and s2["bytes"] <= 40000, mode + ": bounded in bytes, LRU evictions", s2)
        # the package reinstalled (its marker rewritten): dropped at the rescan
        e.execute(plain)
        marker = os.path.join(e.data, "packages", "cc", "1.0.0", ".ppman-installed")
        os.unlink(marker)
        open(marker, "w").close()
        e.proc.send_signal(1)
        deadline = time.time() + 5
        while time.time() < deadline and cache_stats(e)["entries"] > 0:
            time.sleep(0.1)
        s3 = cache_stats(e)
        st, r = e.execute(plain)
        check(s3["entries"] == 0 and st == 200 and "cached" not in r["compile"],
              mode + ": a reinstalled package's entries are dropped", (s3, r.get("compile")))
    finally:
        e.stop()
    e = TEngine(env=dict(env, PISTON_COMPILE_CACHE_SIZE="0"))
    try:
        plain = {"language": "cc", "version": "*", "files": [{"content": "echo x"}]}
        e.execute(plain)
        st, r = e.execute(plain)
        check(st == 200 and "cached" not in r["compile"] and cache_stats(e)["misses"] == 0,
              mode + ": PISTON_COMPILE_CACHE_SIZE=0 disables the cache", r)
    finally:
        e.stop()


def suite(mode, env, slots):
    e = TEngine(env=dict(env, PISTON_MAX_CONCURRENT_JOBS=str(slots)))
    try:
        basics(e, mode)
        compile_failure(e, mode)
        compare_modes(e, mode)
        stop_on_failure(e, mode)
        validation(e, mode)
        isolation(e, mode)
        hostile(e, mode)
        fork_bombs(e, mode)
        sleepers(e, mode, slots)
        fairness(e, mode, 4 if slots == 4 else slots)
        client_gone(e, mode)
        stats_counts(e, mode)
    finally:
        e.stop()


def start_line(env, want):
    e = TEngine(env=dict(env, PISTON_LOG_LEVEL="INFO"))
    try:
        log = e.logtext()
    finally:
        e.stop()
    check(want in log, "start line says how tests run: %r" % want, log[-600:])


def main():
    start_line({}, "tests: each over the compiled box (overlayfs)")
    start_line({"PISTON_NO_OVERLAY": "1"}, "tests: no overlayfs here: each test compiles again in its own box")
    cache("overlay", {})
    cache("holder-namespace", {"PISTON_SANDBOX_FALLBACKS": "1"})
    suite("overlay", {}, 8)
    suite("holder-namespace", {"PISTON_SANDBOX_FALLBACKS": "1"}, 4)
    suite("no-overlay", {"PISTON_NO_OVERLAY": "1"}, 4)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
