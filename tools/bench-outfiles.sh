#!/usr/bin/env bash
# bench-outfiles: what output_files adds to an execute answer (issue 14's
# goal: a 1 MiB output file adds <= 5 ms).
#
#   tools/bench-outfiles.sh [N]        (default 40 requests per row)
#
# One engine with the test packages, one keep-alive connection; the same
# shell program writes a file of SIZE bytes (0, 64 KiB, 1 MiB) in the box in
# every request; the rows alternate request by request between asking for
# the file back (output_files: ["f"]) and not, so machine noise hits both
# alike. Reports p50 and mean of each, their difference (the cost of
# reading, base64-encoding and sending the file), and the answer's size.
set -eu
cd "$(dirname "$0")/.."
make -s piston >/dev/null
export PISTON_BIN="$PWD/piston" BENCH_N="${1:-40}"
exec python3 - <<'EOF'
import http.client, json, os, statistics, sys, time
sys.path.insert(0, "test/integration")
from exec_fixture import Engine

N = int(os.environ["BENCH_N"])
e = Engine()
try:
    conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=60)

    def once(size, ask):
        code = "head -c %d /dev/zero | tr '\\000' a > f" % size
        body = {"language": "shell", "version": "*", "files": [{"content": code}]}
        if ask:
            body["output_files"] = ["f"]
        data = json.dumps(body)
        t0 = time.perf_counter()
        conn.request("POST", "/api/v2/execute", data, {"Content-Type": "application/json"})
        r = conn.getresponse()
        raw = r.read()
        dt = (time.perf_counter() - t0) * 1000
        assert r.status == 200, raw[:200]
        if ask:
            f = json.loads(raw)["run"]["files"][0]
            assert f["size"] == size and len(f["content"]) == (size + 2) // 3 * 4, f.get("error")
        return dt, len(raw)

    print("%-10s %-22s %-22s %-12s %s" % ("file", "without p50/mean ms", "with p50/mean ms", "added p50", "answer bytes"))
    for size in (0, 64 << 10, 1 << 20):
        for _ in range(5):   # warm up
            once(size, False)
            once(size, True)
        a, b, nb = [], [], 0
        for _ in range(N):
            a.append(once(size, False)[0])
            dt, nb = once(size, True)
            b.append(dt)
        pa, pb = statistics.median(a), statistics.median(b)
        print("%-10s %7.2f / %-12.2f %7.2f / %-12.2f %+8.2f ms   %d" %
              ("%d KiB" % (size >> 10), pa, statistics.mean(a), pb, statistics.mean(b), pb - pa, nb))
    print("loadavg: %s" % open("/proc/loadavg").read().split()[:3])
finally:
    e.stop()
EOF
