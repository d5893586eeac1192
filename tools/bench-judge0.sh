#!/usr/bin/env bash
# bench-judge0: the Judge0-compatible API beside Piston's execute, on the
# same program (`echo hi` in a busybox shell package made here) in the same
# run. Rounds interleave the three kinds so a busy machine hits them alike:
#   execute  POST /api/v2/execute
#   wait     POST /submissions?wait=true (journaled + fdatasync, then run)
#   async    POST /submissions (201 with a token: journal + fdatasync only)
# then `async end-to-end`: N tokens created, then polled until each has its
# result. Prints req/s and p50 per kind (medians over the rounds).
# Goal (issue 16): wait within 10% of execute.
#   tools/bench-judge0.sh [REQUESTS-PER-ROUND] [ROUNDS] [CONCURRENCY]   (default 300 3 4)
set -eu
cd "$(dirname "$0")/.."
make -s piston >/dev/null
export PISTON_BIN="$PWD/piston" N="${1:-300}" ROUNDS="${2:-3}" C="${3:-4}"
exec python3 - <<'EOF'
import http.client, json, os, statistics, sys, tempfile, threading, time
sys.path.insert(0, "test/integration")
from exec_fixture import Engine, make_package, SHELL_RUN
N, ROUNDS, C = int(os.environ["N"]), int(os.environ["ROUNDS"]), int(os.environ["C"])
d = tempfile.mkdtemp(prefix="bench-judge0-")
e = Engine(link_packages=[make_package(d, "bash", "5.2.15", SHELL_RUN)], packages=False)
REQ = {
    "execute": ("/api/v2/execute", {"language": "bash", "version": "*", "files": [{"content": "echo hi"}]},
                lambda r: r["run"]["stdout"] == "hi\n"),
    "wait": ("/submissions?wait=true", {"source_code": "echo hi", "language_id": 46}, lambda r: r["stdout"] == "hi\n"),
    "async": ("/submissions", {"source_code": "echo hi", "language_id": 46}, lambda r: "token" in r),
}
def run(kind):
    path, body, ok = REQ[kind]
    body = json.dumps(body)
    lat, errors, lock, idx = [], [0], threading.Lock(), [0]
    def worker():
        c = http.client.HTTPConnection("127.0.0.1", e.port, timeout=60)
        while True:
            with lock:
                if idx[0] >= N:
                    return
                idx[0] += 1
            t0 = time.time()
            try:
                c.request("POST", path, body, {"Content-Type": "application/json"})
                good = ok(json.loads(c.getresponse().read()))
            except Exception:
                good = False
                c = http.client.HTTPConnection("127.0.0.1", e.port, timeout=60)
            with lock:
                lat.append(time.time() - t0)
                errors[0] += not good
    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(C)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return N / (time.time() - t0), statistics.median(lat) * 1000, errors[0]
try:
    res = {k: [] for k in REQ}
    for _ in range(ROUNDS):
        for k in REQ:
            res[k].append(run(k))
    for k, rs in res.items():
        print("%-8s %d x %d requests, concurrency %d: %.0f req/s, p50 %.1f ms, %d errors" % (
            k, ROUNDS, N, C, statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs),
            sum(r[2] for r in rs)))
    ex, wa = statistics.median(r[0] for r in res["execute"]), statistics.median(r[0] for r in res["wait"])
    print("wait / execute throughput: %.0f%%" % (100 * wa / ex))
    t0 = time.time()
    toks = [e.request("POST", "/submissions", {"source_code": "echo %d" % i, "language_id": 46})[1]["token"]
            for i in range(N)]
    for i, t in enumerate(toks):
        while True:
            st, r = e.request("GET", "/submissions/" + t)
            if r["status"]["id"] > 2:
                break
            time.sleep(0.005)
        assert r["stdout"] == "%d\n" % i, r
    print("async end-to-end: %d submissions answered in %.2f s (%.0f/s)" % (N, time.time() - t0, N / (time.time() - t0)))
finally:
    e.stop()
EOF
