"""POST /api/v2/execute conformance (SPEC section 1): every field, default
and error message; each status produced for real; compile-then-run and a
compile error; 64 concurrent requests; the bounded queue (503); a client
that disconnects mid-job; /api/v2/stats and /metrics."""
import base64
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import Checker, Engine, pgrep  # noqa: E402

t = Checker()
check = t.check


def sh(code, **kw):
    req = {"language": "shell", "version": "*", "files": [{"content": code}]}
    req.update(kw)
    return req


def run_ok(e, code, **kw):
    st, r = e.execute(sh(code, **kw))
    return st, r, (r.get("run") if isinstance(r, dict) else None)


def validation(e):
    cases = [
        ({}, "language is required as a string"),
        ({"language": 5}, "language is required as a string"),
        ({"language": ""}, "language is required as a string"),
        ({"language": "shell"}, "version is required as a string"),
        ({"language": "shell", "version": 2}, "version is required as a string"),
        ({"language": "shell", "version": "*"}, "files is required as an array"),
        ({"language": "shell", "version": "*", "files": "x"}, "files is required as an array"),
        ({"language": "shell", "version": "*", "files": [{"content": "a"}, {"name": "x"}]},
         "files[1].content is required as a string"),
        ({"language": "shell", "version": "*", "files": [{"content": 3}]},
         "files[0].content is required as a string"),
        ({"language": "shell", "version": "*", "files": [7]}, "files[0].content is required as a string"),
        ({"language": "nope", "version": "*", "files": [{"content": ""}]}, "nope-* runtime is unknown"),
        ({"language": "shell", "version": "9.x", "files": [{"content": ""}]}, "shell-9.x runtime is unknown"),
        ({"language": "shell", "version": "*", "files": []}, "files must include at least one utf8 encoded file"),
        ({"language": "shell", "version": "*", "files": [{"content": "aGk=", "encoding": "base64"}]},
         "files must include at least one utf8 encoded file"),
        (sh("", run_timeout="5"), "If specified, run_timeout must be a number"),
        (sh("", compile_memory_limit=True), "If specified, compile_memory_limit must be a number"),
        (sh("", run_timeout=3001), "run_timeout cannot exceed the configured limit of 3000"),
        (sh("", compile_timeout=10001), "compile_timeout cannot exceed the configured limit of 10000"),
        (sh("", run_cpu_time=99999), "run_cpu_time cannot exceed the configured limit of 3000"),
        (sh("", compile_cpu_time=10001), "compile_cpu_time cannot exceed the configured limit of 10000"),
        (sh("", run_timeout=-5), "run_timeout must be non-negative"),
        (sh("", compile_cpu_time=-1), "compile_cpu_time must be non-negative"),
        # upstream's order: memory_limit, then timeout, then cpu_time; compile before run
        (sh("", run_timeout=5000, compile_memory_limit="x"), "If specified, compile_memory_limit must be a number"),
        ({"language": "limited", "version": "*", "files": [{"content": ""}], "run_timeout": 2500},
         "run_timeout cannot exceed the configured limit of 2000"),
        ({"language": "mlang2", "version": "*", "files": [{"content": ""}], "run_timeout": 1600},
         "run_timeout cannot exceed the configured limit of 1500"),
    ]
    for req, msg in cases:
        st, r = e.execute(req)
        check(st == 400 and isinstance(r, dict) and r.get("message") == msg,
              "validation: " + msg, (st, r, req))
    # hostile file names
    for name in ["/etc/passwd", "../escape", "a/../../b", "a/./b", "a//b", "dir/", "a\u0000b",
                 "x" * 256, "/".join(["d" * 200] * 21)]:
        st, r = e.execute(sh("echo hi", files=[{"name": name, "content": "echo hi"}]))
        check(st == 400 and "files[0].name" in r.get("message", ""), "hostile name %r rejected" % name[:40],
              (st, r))
    st, r = e.execute(sh("", files=[{"content": "x"}] * 1025))
    check(st == 400 and "files" in r.get("message", ""), "too many files rejected", (st, r))
    st, r = e.execute(sh("", files=[{"content": "@@@", "encoding": "base64"}, {"content": "x"}]))
    check(st == 400 and "base64" in r.get("message", ""), "invalid base64 rejected", (st, r))
    st, r = e.execute(sh("", files=[{"content": "abc", "encoding": "hex"}, {"content": "x"}]))
    check(st == 400 and "hex" in r.get("message", ""), "invalid hex rejected", (st, r))
    st, r = e.execute(sh("", files=[{"content": "x"}, {"content": "x", "encoding": "latin1"}]))
    check(st == 400 and "encoding" in r.get("message", ""), "unknown encoding rejected", (st, r))
    st, r = e.execute(sh("", args="notalist"))
    check(st == 400 and "args" in r.get("message", ""), "args must be an array", (st, r))
    for bad, kind in ((None, "null"), ({"a": 1}, "an object"), ([1], "an array")):
        st, r = e.execute(sh("", args=["ok", bad]))
        check(st == 400 and r.get("message") == "args[1] must be a string, a number or a boolean, not " + kind,
              "args element %s refused with a clear message" % kind, (st, r))
    st, r = e.execute(sh("", stdin=5))
    check(st == 400 and "stdin" in r.get("message", ""), "stdin must be a string", (st, r))
    st, r = e.request("POST", "/api/v2/execute", body="{not json")
    check(st == 400 and "JSON" in r.get("message", ""), "malformed JSON -> 400 message", (st, r))
    st, r = e.request("POST", "/api/v2/execute", body="[1,2]")
    check(st == 400 and r.get("message") == "language is required as a string", "non-object body", (st, r))


def fields(e):
    st, r, run = run_ok(e, 'echo "argv0=$0 args=$*"; echo err >&2; cat', args=["a b", "c"], stdin="in put")
    check(st == 200, "simple run 200", (st, r))
    if st != 200:
        return
    check(set(r) >= {"language", "version", "run"} and "compile" not in r, "response keys", r)
    check(r["language"] == "shell" and r["version"] == "2.0.0", "highest version for *", r)
    keys = {"stdout", "stderr", "output", "code", "signal", "message", "status", "memory", "cpu_time", "wall_time"}
    check(set(run) == keys, "stage has exactly the SPEC fields", sorted(run))
    check(run["stdout"] == "argv0=file0.code args=a b c\nin put\n", "default name, args, stdin (+newline)", run)
    check(run["stderr"] == "err\n", "stderr", run)
    check(run["code"] == 0 and run["signal"] is None and run["status"] is None and run["message"] is None,
          "clean exit: code 0, nulls", run)
    check(all(isinstance(run[k], (int, float)) and run[k] >= 0 for k in ("memory", "cpu_time", "wall_time")),
          "memory/cpu_time/wall_time are numbers", run)
    check(run["wall_time"] < 3000, "wall_time in ms", run)

    st, r, run = run_ok(e, "echo a; sleep 0.05; echo b >&2; sleep 0.05; echo c; sleep 0.05; echo d >&2")
    check(st == 200 and run["output"] == "a\nb\nc\nd\n", "output interleaved in arrival order", run)

    st, r, run = run_ok(e, "cat")
    check(st == 200 and run["stdout"] == "\n", "stdin default empty (upstream adds a newline)", run)
    st, r, run = run_ok(e, "cat", stdin="x\n")
    check(st == 200 and run["stdout"] == "x\n", "stdin with newline kept as is", run)

    st, r, run = run_ok(e, "echo $GREETING; echo $HOME; echo $PISTON_LANGUAGE; echo $PATH")
    check(st == 200 and run["stdout"] == "hello from env\n/tmp\nshell\n/usr/local/bin:/usr/bin:/bin\n",
          "environment: package env, HOME, PISTON_LANGUAGE, PATH", run)

    files = [{"name": "main.sh", "content": "cat dir/sub/data.txt; cat bin.dat; cat hex.dat; echo; cat file4.code"},
             {"name": "dir/sub/data.txt", "content": "nested\n"},
             {"name": "bin.dat", "content": base64.b64encode(b"b64\n").decode(), "encoding": "base64"},
             {"name": "hex.dat", "content": b"hex".hex(), "encoding": "hex"},
             {"content": "default-named", "encoding": "utf8"}]
    st, r, run = run_ok(e, "", files=files)
    check(st == 200 and run["stdout"] == "nested\nb64\nhex\ndefault-named", "subdirs, base64, hex, file<i>.code",
          (st, r))

    st, r, run = run_ok(e, "printf 'ok\\377\\376end'")
    check(st == 200 and run["stdout"] == "ok\ufffd\ufffdend", "invalid UTF-8 -> U+FFFD", run)

    st, r = e.request("POST", "/api/v2/execute", body=json.dumps(sh("echo plain")),
                      headers={"Content-Type": "text/plain"})
    check(st == 200 and r["run"]["stdout"] == "plain\n", "text/plain body accepted", (st, r))

    # runtime selection
    for lang, ver, want in [("shell", "1.x", "1.2.0"), ("shell", "1.0.0", "1.0.0"), ("sh", "*", "2.0.0"),
                            ("bb", ">=1.1 <2", "1.2.0"), ("shell", "2", "2.0.0")]:
        st, r = e.execute({"language": lang, "version": ver, "files": [{"content": "true"}]})
        check(st == 200 and r.get("version") == want and r.get("language") == "shell",
              "select %s %s -> %s" % (lang, ver, want), (st, r))
    for lang, want in [("mlang1", "lang=mlang1\n"), ("m1", "lang=mlang1\n"), ("mlang2", "lang=mlang2\n")]:
        st, r = e.execute({"language": lang, "version": "*", "files": [{"content": "true"}]})
        check(st == 200 and r["run"]["stdout"] == want and r["language"] == want[5:-1],
              "provides: %s" % lang, (st, r))


def number_args(e):
    """SPEC section 1: upstream's CLI sends `"args":["foo",3]`; a number or a
    boolean reaches the program as its JSON text exactly as sent. The body is
    written by hand: json.dumps would turn 3.50 into 3.5."""
    body = ('{"language":"shell","version":"*","files":[{"content":"for a; do printf \'[%s]\' \\"$a\\"; done"}],'
            '"args":["foo",3,3.50,true,false,-1e3,0,-0,1E+2,"x"]}')
    st, r = e.request("POST", "/api/v2/execute", body=body)
    run = r.get("run", {}) if isinstance(r, dict) else {}
    check(st == 200 and run.get("stdout") == "[foo][3][3.50][true][false][-1e3][0][-0][1E+2][x]",
          "number and boolean args pass as their JSON text", (st, r))


def statuses(e):
    st, r, run = run_ok(e, "echo partial; exit 3")
    check(st == 200 and run["status"] == "RE" and run["code"] == 3 and run["signal"] is None
          and run["message"], "RE: non-zero exit", run)
    st, r, run = run_ok(e, "kill -SEGV $$")
    check(st == 200 and run["status"] == "SG" and run["code"] is None and run["signal"] == "SIGSEGV",
          "SG: killed by a signal", run)
    st, r, run = run_ok(e, "echo before; sleep 20", run_timeout=700)
    check(st == 200 and run["status"] == "TO" and run["code"] is None and run["signal"] == "SIGKILL"
          and run["stdout"] == "before\n" and 600 <= run["wall_time"] < 3000, "TO: wall time limit", run)
    st, r, run = run_ok(e, "while :; do :; done", run_cpu_time=300, run_timeout=3000)
    check(st == 200 and run["status"] == "TO" and run["signal"] == "SIGKILL", "TO: cpu time limit", run)
    st, r, run = run_ok(e, "yes 0123456789")
    check(st == 200 and run["status"] == "OL" and len(run["stdout"]) == 1024 and run["signal"] == "SIGKILL",
          "OL: stdout cut at 1024 and killed", (run or {}).get("status"))
    st, r, run = run_ok(e, "yes e >&2")
    check(st == 200 and run["status"] == "OL" and len(run["stderr"]) == 1024, "OL: stderr too", (run or {}).get("status"))
    # (a string doubling in awk: 20 MB in a few ms of CPU, even under
    # emulation, where a shell copying 100 MB used up its 3 s of CPU first)
    st, r, run = run_ok(e, "awk 'BEGIN { s = \"x\"; for (;;) s = s s }'", run_memory_limit=20000000)
    check(st == 200 and run["status"] == "EL" and run["stdout"] == "", "EL: memory limit", run)
    st, r, run = run_ok(e, "sleep 0.2; echo done", run_timeout=1, run_cpu_time=1)
    check(st == 200 and run["status"] == "TO", "1 ms limits honoured", run)
    st, r, run = run_ok(e, "sleep 0.5; echo done", run_timeout=0.5, run_cpu_time=0.5)
    check(st == 200 and run["status"] == "TO", "fractional limits round up, never to 'no limit'", run)
    st, r, run = run_ok(e, "sleep 0.2; echo done", run_timeout=0)
    check(st == 200 and run["stdout"] == "done\n", "0 means the default", run)


def compiled(e):
    st, r = e.execute({"language": "cc", "version": "*", "stdin": "IN",
                       "files": [{"name": "main.c", "content": "echo \"run $*\"; cat; echo \"cstdin=$(cat compile_stdin.txt)\"; ls /box\n"},
                                 {"name": "lib.c", "content": "echo lib\n"},
                                 {"name": "blob", "content": "AA==", "encoding": "base64"}],
                       "args": ["x"]})
    ok = st == 200 and "compile" in r
    check(ok, "compile stage present", (st, r))
    if not ok:
        return
    c, run = r["compile"], r["run"]
    check(c["stdout"] == "compiling main.c lib.c\n" and c["code"] == 0 and c["status"] is None,
          "compile gets all utf8 names as argv", c)
    check(run["stdout"].startswith("run x\nIN\n") and run["stdout"].endswith("lib\n"),
          "run: artifact from compile, args, stdin", run)
    check("a.out" in run["stdout"] and "main.c" in run["stdout"], "compile output carries to run", run)
    check("cstdin=\n" in run["stdout"], "stdin goes to run only (compile reads nothing)", run)
    st, r = e.execute({"language": "cc", "version": "*",
                       "files": [{"name": "bad.c", "content": "SYNTAX_ERROR"}]})
    check(st == 200 and r["compile"]["status"] == "RE" and r["compile"]["code"] == 1
          and "syntax error" in r["compile"]["stderr"] and r["run"] == r["compile"],
          "compile error: run equals compile", (st, r))
    st, r = e.execute({"language": "cc", "version": "*", "files": [{"content": "sleep 5"}],
                       "compile_timeout": 10000, "run_timeout": 300})
    check(st == 200 and r["run"]["status"] == "TO" and r["compile"]["status"] is None,
          "compiled program's own run limit", (st, r))


def concurrency(e):
    results = [None] * 64

    def one(i):
        try:
            results[i] = e.execute(sh("sleep 0.3; echo job%d" % i), timeout=120)
        except Exception as ex:  # noqa: BLE001
            results[i] = (0, str(ex))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
    start = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    good = sum(1 for i, (st, r) in enumerate(results)
               if st == 200 and r["run"]["stdout"] == "job%d\n" % i)
    check(good == 64, "64 concurrent requests all answered correctly", [x for x in results if x[0] != 200][:3])
    check(time.time() - start < 60, "64 concurrent requests ran concurrently", time.time() - start)


def closer_table(e):
    """The engine's unmount thread has a descriptor table of its own holding
    only its socket: what it is sent to close has left the loop's table, so
    no stage cloned later inherits it (issue 17: init's set-up waited for
    another job's unmount)."""
    pid = e.proc.pid

    def snapshot():
        tables = {}
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                fds = os.listdir("/proc/%d/task/%s/fd" % (pid, tid))
            except OSError:
                continue   # a thread that just ended
            links = []
            for fd in fds:
                try:
                    links.append(os.readlink("/proc/%d/task/%s/fd/%s" % (pid, tid, fd)))
                except OSError:
                    pass   # closed while listing
            tables[tid] = sorted(links)
        return tables
    # the loop's table changes while it works: read until two reads agree
    tables = snapshot()
    for _ in range(50):
        again = snapshot()
        if again == tables:
            break
        tables = again
        time.sleep(0.02)
    own = [t for t, v in tables.items() if len(v) == 1 and v[0].startswith("socket:")]
    check(len(own) == 1 and len(tables.get(str(pid), [])) > 1,
          "the closer thread's table is its own and holds only its socket",
          {t: v[:6] for t, v in tables.items()})


def disconnect(e):
    body = json.dumps(sh("sleep 31337", run_timeout=3000)).encode()
    s = socket.create_connection(("127.0.0.1", e.port))
    s.sendall(b"POST /api/v2/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    deadline = time.time() + 10
    while time.time() < deadline and not pgrep(b"sleep\x0031337"):
        time.sleep(0.05)
    check(bool(pgrep(b"sleep\x0031337")), "job started")
    s.close()
    deadline = time.time() + 5
    while time.time() < deadline and pgrep(b"sleep\x0031337"):
        time.sleep(0.05)
    check(not pgrep(b"sleep\x0031337"), "client disconnect kills the job at once")
    st, r = e.request("GET", "/api/v2/stats")
    check(st == 200 and r["jobs"]["running"] == 0 and r["jobs"]["by_status"]["cancelled"] >= 1,
          "cancelled job counted, slot free", r)
    st, r, run = run_ok(e, "echo still")
    check(st == 200 and run["stdout"] == "still\n", "engine fine after a disconnect", (st, r))


def stats(e):
    st, r = e.request("GET", "/api/v2/stats")
    check(st == 200 and isinstance(r, dict), "GET /api/v2/stats", (st, r))
    if st != 200:
        return
    j = r["jobs"]
    check(j["by_language"]["shell"].get("ok", 0) >= 10 and j["by_language"]["shell"].get("TO", 0) >= 2
          and j["by_status"]["RE"] >= 1 and j["invalid"] >= 20, "jobs by language and status", j)
    check(j["queued"] == 0 and j["running"] == 0 and r["uptime_seconds"] > 0, "queue, running, uptime", r)
    check(r["latency_ms"]["total"]["count"] >= 10 and r["latency_ms"]["total"]["p50"] is not None,
          "latencies", r["latency_ms"])
    check({"language": "mlang1", "version": "1.0.0"} in r["packages"] and len(r["packages"]) >= 6,
          "installed packages", r["packages"])
    st, text = e.request("GET", "/metrics")
    text = text.decode() if isinstance(text, bytes) else json.dumps(text)
    check(st == 200 and 'piston_jobs_total{language="shell",status="ok"}' in text
          and "piston_jobs_queued 0" in text and "piston_job_duration_seconds_bucket{le=\"+Inf\"}" in text
          and "piston_uptime_seconds" in text and "piston_packages_installed" in text,
          "GET /metrics Prometheus text", text[:400])


def latency_split():
    """GET /api/v2/stats and /metrics split each job's latency into queue,
    set-up, run and teardown (the parts add up to the total); one slot, so
    the second of two jobs sent together queues for the first's run."""
    e = Engine(env={"PISTON_MAX_CONCURRENT_JOBS": "1"})
    try:
        res = []
        th = [threading.Thread(target=lambda: res.append(e.execute(sh("sleep 0.3; echo x")))) for _ in range(2)]
        for x in th:
            x.start()
            time.sleep(0.05)
        for x in th:
            x.join()
        st, r = e.execute({"language": "cc", "version": "*", "files": [{"name": "p.c", "content": "sleep 0.3"}]})
        check(len(res) == 2 and all(a == 200 and b["run"]["stdout"] == "x\n" for a, b in res) and st == 200
              and r["run"]["code"] == 0, "latency split: jobs ran", (res, r))
        st, r = e.request("GET", "/api/v2/stats")
        lat = r.get("latency_ms", {}) if isinstance(r, dict) else {}
        parts = ("total", "queue", "setup", "run", "teardown")
        check(all(k in lat and lat[k]["count"] == 3 and all(isinstance(lat[k][q], (int, float))
                                                          for q in ("mean", "p50", "p90", "p99", "max"))
                  for k in parts), "latency split: every part in /api/v2/stats", lat)
        if all(k in lat for k in parts):
            check(lat["run"]["p50"] >= 300 and lat["run"]["max"] < 3000,
                  "latency split: run is the programs' own time (0.3 s each)", lat["run"])
            check(lat["queue"]["max"] >= 200 and lat["queue"]["p50"] < 100,
                  "latency split: the queued job's wait is queue, the others' none", lat["queue"])
            check(0 < lat["setup"]["p50"] < 250 and 0 <= lat["teardown"]["p50"] < 250
                  and lat["setup"]["max"] < 1000 and lat["teardown"]["max"] < 1000,
                  "latency split: set-up and teardown plausible (ms)", (lat["setup"], lat["teardown"]))
            s = sum(lat[k]["mean"] for k in parts[1:])
            check(abs(s - lat["total"]["mean"]) < 0.05, "latency split: the parts add up to the total",
                  (s, lat["total"]["mean"]))
        st, text = e.request("GET", "/metrics")
        text = text.decode() if isinstance(text, bytes) else json.dumps(text)
        check(all("piston_job_%s_seconds_count 3" % n in text for n in ("queue", "setup", "run", "teardown"))
              and "piston_job_duration_seconds_count 3" in text and 'piston_job_setup_seconds_bucket{le="0.001"}' in text,
              "latency split: histograms in /metrics", text[-1200:])
    finally:
        e.stop()


def overload():
    e = Engine(env={"PISTON_MAX_CONCURRENT_JOBS": "1", "PISTON_MAX_QUEUED_JOBS": "1", "PISTON_BOX_SIZE": "1048576",
                    "PISTON_LIMIT_OVERRIDES": json.dumps({"shell": {"run_timeout": 1234}})})
    try:
        st, r = e.execute(sh("", run_timeout=1235))
        check(st == 400 and r.get("message") == "run_timeout cannot exceed the configured limit of 1234",
              "PISTON_LIMIT_OVERRIDES wins", (st, r))
        st, r = e.execute(sh("echo small", files=[{"content": "echo small"}, {"name": "big", "content": "x" * 2000000}]))
        check(st == 413 and "box" in r.get("message", ""), "files over the box size -> 413 with a message", (st, r))
        st, r, run = run_ok(e, "echo after")
        check(st == 200 and run["stdout"] == "after\n", "engine fine after a too-big job", (st, r))
        results = []
        lock = threading.Lock()

        def one():
            res = e.execute(sh("sleep 0.8; echo x"), timeout=60)
            with lock:
                results.append(res)

        threads = [threading.Thread(target=one) for _ in range(4)]
        for th in threads:
            th.start()
            time.sleep(0.1)
        for th in threads:
            th.join()
        codes = sorted(st for st, _ in results)
        msgs = [r.get("message", "") for st, r in results if st == 503]
        check(codes == [200, 200, 503, 503] and all(msgs), "queue bounded: 503 with a message", results)
        st, r = e.request("GET", "/api/v2/stats")
        check(st == 200 and r["jobs"]["rejected"] == 2, "rejections counted", r)
        # FIFO: with one slot, jobs finish in the order they were sent
        order = []

        def ordered(i):
            st, r = e.execute(sh("echo %d" % i), timeout=60)
            with lock:
                order.append(r["run"]["stdout"].strip() if st == 200 else "503")

        e2 = []
        for i in range(2):
            th = threading.Thread(target=ordered, args=(i,))
            th.start()
            e2.append(th)
            time.sleep(0.2)
        for th in e2:
            th.join()
        check(order == ["0", "1"], "FIFO order", order)
        # a queued job whose client leaves is dropped from the queue
        th = threading.Thread(target=lambda: e.execute(sh("sleep 1.5; echo long"), timeout=60))
        th.start()
        time.sleep(0.3)
        body = json.dumps(sh("echo never")).encode()
        s = socket.create_connection(("127.0.0.1", e.port))
        s.sendall(b"POST /api/v2/execute HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.3)
        st, r = e.request("GET", "/api/v2/stats")
        queued_before = r["jobs"]["queued"]
        s.close()
        time.sleep(0.3)
        st, r = e.request("GET", "/api/v2/stats")
        check(queued_before == 1 and r["jobs"]["queued"] == 0 and r["jobs"]["running"] == 1,
              "queued job dropped when its client leaves", (queued_before, r["jobs"]))
        th.join()
        # graceful shutdown: SIGTERM lets running and queued jobs finish and answer
        res = {}

        def late(i):
            res[i] = e.execute(sh("sleep 0.7; echo done%d" % i), timeout=60)

        ths = [threading.Thread(target=late, args=(i,)) for i in range(2)]
        for th in ths:
            th.start()
            time.sleep(0.15)
        e.proc.send_signal(signal.SIGTERM)
        for th in ths:
            th.join()
        rc = e.proc.wait(timeout=30)
        check(rc == 0 and all(res[i][0] == 200 and res[i][1]["run"]["stdout"] == "done%d\n" % i for i in range(2)),
              "SIGTERM: running and queued jobs finish, then exit 0", (rc, res))
    finally:
        e.stop()


def real_packages():
    """Installed language packages (./data from `make run`, or
    $PISTON_TEST_DATA), when present."""
    import glob
    data = os.environ.get("PISTON_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "data"))
    found = {}
    for marker in sorted(glob.glob(os.path.join(data, "packages", "*", "*", ".ppman-installed"))):
        found[os.path.basename(os.path.dirname(os.path.dirname(marker)))] = os.path.dirname(marker)
    cases = {
        "python": [("import sys\nprint(42, sys.argv[1:], input())", ["a"], "hi",
                    lambda r: r["run"]["stdout"] == "42 ['a'] hi\n"),
                   ("raise SystemExit('bye')", [], "", lambda r: r["run"]["status"] == "RE"
                    and r["run"]["code"] == 1 and "bye" in r["run"]["stderr"])],
        "bash": [('echo "$BASH_VERSION $1"; read x; echo "$x"', ["z"], "in",
                  lambda r: r["run"]["stdout"].endswith(" z\nin\n"))],
        "gcc": [('#include <stdio.h>\nint main(int c, char **v){printf("c %s\\n", v[1]);return 2;}', ["arg"], "",
                 lambda r: r["run"]["stdout"] == "c arg\n" and r["run"]["code"] == 2 and "compile" in r)],
    }
    use = {k: v for k, v in found.items() if k in cases}
    if not use:
        print("skipped: real language packages (none of %s installed under %s)" % (", ".join(cases), data))
        return 1
    e = Engine(link_packages=list(use.values()))
    try:
        for lang in use:
            for code, args, stdin, ok in cases[lang]:
                lang_name = "c" if lang == "gcc" else lang
                st, r = e.execute({"language": lang_name, "version": "*", "files": [{"content": code}],
                                   "args": args, "stdin": stdin})
                check(st == 200 and ok(r), "real package %s: %s" % (lang, code[:30].replace("\n", " ")), (st, r))
    finally:
        e.stop()
    return 0


def main():
    e = Engine()
    try:
        validation(e)
        fields(e)
        number_args(e)
        statuses(e)
        compiled(e)
        concurrency(e)
        closer_table(e)
        disconnect(e)
        stats(e)
    finally:
        e.stop()
    latency_split()
    overload()
    skipped = real_packages()
    return t.done(skipped)


if __name__ == "__main__":
    sys.exit(main())
