#!/usr/bin/env bash
# bench-execute: POST /api/v2/execute latency and throughput, beside the same
# program started bare on the host in the same run.
#
#   tools/bench-execute.sh [SECONDS-PER-POINT] [--pauses-only]     (default 5)
#
# Then requests that arrive one at a time after an idle pause (0, 20, 100,
# 500 ms; issue 17): one keep-alive connection, 25 requests per row
# (PISTON_BENCH_PAUSE_N), each after its own pause, interleaved request by
# request with the bare program after the same pause; medians. Goal: at 100
# and 500 ms, engine p50 <= its back-to-back p50 + the bare program's pause
# penalty + 1 ms. PISTON_BENCH_BASELINE=/path/to/other/piston adds that
# build's engine to the same interleaving (before/after in one run).
# The same rows for the WebSocket (`ws`: GET /api/v2/connect, a new
# connection per job, handshake to close) and through `piston proxy` in
# front of the engine (`proxy`: execute on one keep-alive connection to the
# proxy; `proxy-ws`: the WebSocket through it), in the same interleaving;
# PISTON_BENCH_PAUSE_TARGETS picks them (default "engine ws proxy proxy-ws").
#
# Programs: `echo hi` in a busybox shell package (made here), and
# `print(42)` in python when a python package is installed in
# $PISTON_BENCH_DATA (default ./data, as `make run` leaves it).
# For each: sequential latency p50/p99 over keep-alive HTTP, then req/s at
# concurrency 1, 4, 16; the bare program (fork+exec on the host, no sandbox)
# measured the same way. Reference (upstream Piston on this machine): shell
# 32 req/s at c=1, 57 at c=16; python 21 and 41; p50 36 ms (shell), 52 ms
# (python). Goals: engine p50 - bare p50 < 1 ms; shell >= 15x Piston's
# req/s; python >= 90% of the bare interpreter's start-up rate.
set -eu
cd "$(dirname "$0")/.."
secs=5 only=0
for a in "$@"; do case "$a" in --pauses-only) only=1 ;; *) secs=$a ;; esac; done
make -s piston >/dev/null
export PISTON_BIN="$PWD/piston" BENCH_SECS="$secs" BENCH_DATA="${PISTON_BENCH_DATA:-$PWD/data}" BENCH_ONLY_PAUSES=$only
exec python3 - <<'EOF'
import glob, http.client, json, os, shutil, socket, statistics, subprocess, sys, threading, time
sys.path.insert(0, "test/integration")
from exec_fixture import Engine, WS, free_port

SECS = float(os.environ["BENCH_SECS"])
ONLY_PAUSES = os.environ.get("BENCH_ONLY_PAUSES") == "1"
PAUSE_N = int(os.environ.get("PISTON_BENCH_PAUSE_N", "25"))
PAUSES = (0, 20, 100, 500)


def installed(lang):
    found = sorted(glob.glob(os.path.join(os.environ["BENCH_DATA"], "packages", lang, "*", ".ppman-installed")))
    return [os.path.dirname(p) for p in found[-1:]]


py_pkgs, bash_pkgs = installed("python"), installed("bash")
engine = Engine(env={"PISTON_LOG_LEVEL": "ERROR"}, link_packages=py_pkgs + bash_pkgs)
baseline = None
if os.environ.get("PISTON_BENCH_BASELINE"):
    self_bin = os.environ["PISTON_BIN"]
    os.environ["PISTON_BIN"] = os.environ["PISTON_BENCH_BASELINE"]
    try:
        baseline = Engine(env={"PISTON_LOG_LEVEL": "ERROR"}, link_packages=py_pkgs + bash_pkgs)
    finally:
        os.environ["PISTON_BIN"] = self_bin


PAUSE_TARGETS = os.environ.get("PISTON_BENCH_PAUSE_TARGETS", "engine ws proxy proxy-ws").split()
proxy = None
if {"proxy", "proxy-ws"} & set(PAUSE_TARGETS):
    # `piston proxy` in front of the engine, one admin key without a rate limit
    keygen = subprocess.run([os.environ["PISTON_BIN"], "proxy", "keygen", "bench", "--role", "admin",
                             "--rate", "1000000/s", "--burst", "1000000"], capture_output=True, text=True, check=True)
    proxy_key, key_line = keygen.stdout.splitlines()[:2]
    with open(os.path.join(engine.dir, "keys"), "w") as f:
        f.write(key_line + "\n")
    proxy_port = free_port()
    proxy = subprocess.Popen([os.environ["PISTON_BIN"], "proxy", "--bind", "127.0.0.1:%d" % proxy_port,
                              "--upstream", engine.url, "--keys", os.path.join(engine.dir, "keys")],
                             env=dict(os.environ, PISTON_PROXY_LOG_LEVEL="WARN"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=10)
            c.request("GET", "/api/v2/runtimes", headers={"Authorization": "Bearer " + proxy_key})
            r = c.getresponse()
            ready = r.status == 200 and json.loads(r.read())
            c.close()
        except (OSError, ValueError):
            ready = False
        if ready:
            break
        if time.time() > deadline or proxy.poll() is not None:
            print("the proxy did not start"); engine.stop(); proxy.kill(); sys.exit(1)
        time.sleep(0.1)


def wrk(body, conc, secs):
    """req/s, p50 ms, p99 ms of the engine under wrk (keep-alive, conc connections)."""
    lua = os.path.join(engine.dir, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n'
                'function response(status, headers, body)\n'
                '  if status ~= 200 or not body:find(\'"status":null\', 1, true) then\n'
                '    io.stderr:write("bad answer: " .. status .. " " .. body:sub(1, 300) .. "\\n")\n'
                '    os.exit(1)\n  end\nend\n' % json.dumps(body))
    out = subprocess.run(["wrk", "-t1", "-c%d" % conc, "-d%ds" % max(1, int(secs)), "--latency", "-s", lua,
                          engine.url + "/api/v2/execute"], capture_output=True, text=True, timeout=secs + 60)
    if out.returncode != 0:
        print(out.stdout, out.stderr); sys.exit(1)
    def ms(label):
        for line in out.stdout.splitlines():
            parts = line.split()
            if parts[:1] == [label]:
                v = parts[1]
                for suf, mul in (("us", 0.001), ("ms", 1), ("s", 1000)):
                    if v.endswith(suf):
                        return float(v[:-len(suf)]) * mul
        return float("nan")
    rps = next(float(l.split()[1]) for l in out.stdout.splitlines() if l.startswith("Requests/sec:"))
    return rps, ms("50%"), ms("99%")


def bare_worker(argv, stop, lat, counts, idx):
    n = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, close_fds=False)
        lat.append(time.perf_counter() - t0)
        n += 1
    counts[idx] = n


def measure(worker, arg, conc, secs):
    stop, lat, counts = threading.Event(), [], [0] * conc
    ths = [threading.Thread(target=worker, args=(arg, stop, lat, counts, i)) for i in range(conc)]
    t0 = time.perf_counter()
    for t in ths: t.start()
    time.sleep(secs)
    stop.set()
    for t in ths: t.join()
    el = time.perf_counter() - t0
    lat.sort()
    return sum(counts) / el, lat[len(lat) // 2] * 1000, lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000


def bench(name, lang, code, bare_argv, piston_ref, script_argv=None):
    body = json.dumps({"language": lang, "version": "*", "files": [{"content": code}]})
    wrk(body, 1, 1)                           # warm-up
    measure(bare_worker, bare_argv, 1, 0.5)
    print("== %s" % name)
    _, p50, p99 = wrk(body, 1, SECS)
    _, b50, b99 = measure(bare_worker, bare_argv, 1, SECS)
    print("  sequential latency: engine p50 %.2f ms p99 %.2f ms | bare p50 %.2f ms p99 %.2f ms | added p50 %.2f ms"
          % (p50, p99, b50, b99, p50 - b50))
    if script_argv:
        # What the engine runs is the package's run script, which execs the
        # interpreter: the same two programs on the host, no sandbox.
        _, s50, s99 = measure(bare_worker, script_argv, 1, SECS)
        print("  bare through the package's run script: p50 %.2f ms p99 %.2f ms | added by the engine p50 %.2f ms"
              % (s50, s99, p50 - s50))
    for conc in (1, 4, 16):
        rps, _, _ = wrk(body, conc, SECS)
        brps, _, _ = measure(bare_worker, bare_argv, conc, SECS)
        ref = piston_ref.get(conc)
        print("  c=%-2d engine %7.1f req/s | bare %7.1f /s | engine/bare %5.1f%%%s" % (
            conc, rps, brps, 100 * rps / brps, " | vs upstream Piston %.1fx" % (rps / ref) if ref else ""))


def paused(name, lang, code, bare_argv):
    """Requests one at a time after an idle pause: p50 per pause for this
    engine (and the baseline build's), beside the bare program after the
    same pause, interleaved request by request; 25 (PAUSE_N) per row."""
    body = json.dumps({"language": lang, "version": "*", "files": [{"content": code}]})
    targets = [("engine", engine.port)] if "engine" in PAUSE_TARGETS else []
    targets += [("baseline", baseline.port)] if baseline else []
    targets += [("ws", engine.port)] if "ws" in PAUSE_TARGETS else []
    targets += [("base-ws", baseline.port)] if baseline and "ws" in PAUSE_TARGETS else []
    targets += [(l, proxy_port) for l in ("proxy", "proxy-ws") if proxy and l in PAUSE_TARGETS]
    auth = {"Authorization": "Bearer " + proxy_key} if proxy else {}
    conns = {label: http.client.HTTPConnection("127.0.0.1", port, timeout=60)
             for label, port in targets if not label.endswith("ws")}
    ws_init = dict(json.loads(body), type="init")

    def one_ws(label, port):
        """A job through the WebSocket: connect, init, everything up to the close."""
        t0 = time.perf_counter()
        if label == "proxy-ws":
            ws = ws_through_proxy(port)
        else:
            ws = WS(port, timeout=60)
        ws.send(ws_init)
        msgs = ws.until_close()
        ws.close()
        exits = [m for m in msgs if isinstance(m, dict) and m.get("type") == "exit"]
        if not ws.ok or not exits or msgs[-1][:2] != ("close", 4999):
            print("bad WebSocket answer (%s):" % label, str(msgs)[:300]); sys.exit(1)
        return time.perf_counter() - t0

    def ws_through_proxy(port):
        """WS with the proxy's key: the fixture's client sends no headers of
        its own, so its handshake is made here the same way."""
        import base64 as b64, hashlib
        ws = WS.__new__(WS)
        ws.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        key = b64.b64encode(os.urandom(16)).decode()
        ws.sock.sendall(("GET /api/v2/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                         "Authorization: Bearer %s\r\n\r\n" % (key, proxy_key)).encode())
        ws.buf = b""
        while b"\r\n\r\n" not in ws.buf:
            d = ws.sock.recv(4096)
            if not d:
                raise OSError("closed during handshake")
            ws.buf += d
        head, ws.buf = ws.buf.split(b"\r\n\r\n", 1)
        ws.head = head.decode()
        want = b64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        ws.ok = ws.head.startswith("HTTP/1.1 101") and want in ws.head
        return ws

    ports = dict(targets)

    def one_engine(label):
        if label.endswith("ws"):
            return one_ws(label, ports[label])
        c = conns[label]
        t0 = time.perf_counter()
        c.request("POST", "/api/v2/execute", body=body,
                  headers=dict({"Content-Type": "application/json"}, **(auth if label == "proxy" else {})))
        r = c.getresponse()
        d = json.loads(r.read())
        if r.status != 200 or d.get("run", {}).get("status") is not None:
            print("bad answer (%s):" % label, r.status, str(d)[:300]); sys.exit(1)
        return time.perf_counter() - t0

    def one_bare():
        t0 = time.perf_counter()
        subprocess.run(bare_argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        return time.perf_counter() - t0

    for label, _ in targets:
        one_engine(label)                    # warm-up (the connection, the slot's root)
    one_bare()
    print("== %s, one request at a time after an idle pause (%d per row, medians, ms; %s)"
          % (name, PAUSE_N, " ".join(bare_argv)))
    print("  %-9s %s %9s" % ("pause", " ".join("%9s" % l for l, _ in targets), "bare"))
    def split_sums():
        """This engine's own split so far: (sum s, count) per part, from /metrics."""
        st, text = engine.request("GET", "/metrics")
        text = text.decode() if isinstance(text, bytes) else ""
        got = {}
        for line in text.splitlines():
            for part in ("setup", "run", "teardown"):
                for kind in ("sum", "count"):
                    if line.startswith("piston_job_%s_seconds_%s " % (part, kind)):
                        got[(part, kind)] = float(line.split()[1])
        return got

    rows = {}
    for pause in PAUSES:
        before = split_sums()
        lat = {l: [] for l, _ in targets}
        lat["bare"] = []
        for _ in range(PAUSE_N):
            for label, _ in targets:
                time.sleep(pause / 1000)
                lat[label].append(one_engine(label))
            time.sleep(pause / 1000)
            lat["bare"].append(one_bare())
        rows[pause] = {k: statistics.median(v) * 1000 for k, v in lat.items()}
        after = split_sums()
        n = after.get(("setup", "count"), 0) - before.get(("setup", "count"), 0)
        split = " | engine's mean set-up %s run %s teardown %s" % tuple(
            "%.2f" % ((after.get((p, "sum"), 0) - before.get((p, "sum"), 0)) * 1000 / n) if n else "?"
            for p in ("setup", "run", "teardown"))
        print("  %-6d ms %s %9.2f%s" % (pause, " ".join("%9.2f" % rows[pause][l] for l, _ in targets),
                                        rows[pause]["bare"], split), flush=True)
    for label, _ in targets:
        for pause in (100, 500):
            allowed = rows[0][label] + (rows[pause]["bare"] - rows[0]["bare"]) + 1.0
            print("  goal %-8s %3d ms: p50 %.2f <= back-to-back %.2f + bare penalty %.2f + 1 = %.2f: %s" % (
                label, pause, rows[pause][label], rows[0][label], rows[pause]["bare"] - rows[0]["bare"],
                allowed, "met" if rows[pause][label] <= allowed else "MISSED"))
    for c in conns.values():
        c.close()


try:
    print("load average before: %.2f %.2f %.2f (on %d CPUs; numbers mean little on a busy machine)"
          % (os.getloadavg() + (os.cpu_count(),)))
    host_python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")
    host_bash = shutil.which("bash") or "/bin/bash"
    if bash_pkgs:
        paused("bash: echo 42", "bash", "echo 42", [host_bash, "-c", "echo 42"])
    else:
        paused("shell (busybox): echo 42", "shell", "echo 42", [shutil.which("busybox") or "/bin/busybox", "sh", "-c", "echo 42"])
    if py_pkgs:
        paused("python: print(42)", "python", "print(42)", [host_python, "-c", "print(42)"])
    if ONLY_PAUSES:
        sys.exit(0)
    busybox = shutil.which("busybox") or "/bin/busybox"
    hop = os.path.join(engine.dir, "bare-run")
    os.makedirs(hop, exist_ok=True)
    with open(os.path.join(hop, "run"), "w") as f:      # the shell package's run script, host paths
        f.write('#!/bin/sh\nexec %s sh "$@"\n' % busybox)
    with open(os.path.join(hop, "code"), "w") as f:
        f.write("echo hi\n")
    bench("shell: echo hi", "shell", "echo hi", [busybox, "sh", "-c", "echo hi"], {1: 32, 16: 57},
          [busybox, "sh", os.path.join(hop, "run"), os.path.join(hop, "code")])
    if py_pkgs:
        # the system interpreter, not a version-manager shim (pyenv's is a shell script)
        bench("python: print(42)", "python", "print(42)", [host_python, "-c", "print(42)"], {1: 21, 16: 41})
    else:
        print("== python: skipped (no python package under %s/packages)" % os.environ["BENCH_DATA"])
    st, stats = engine.request("GET", "/api/v2/stats")
    print("engine stats: %d jobs, latency p50 %s ms p99 %s ms (inside the engine, request to response)" % (
        stats["jobs"]["total"], stats["latency_ms"]["total"]["p50"], stats["latency_ms"]["total"]["p99"]))
finally:
    st, stats = engine.request("GET", "/api/v2/stats")
    if st == 200:
        print("engine's own split, p50 ms: " + ", ".join("%s %s" % (k, stats["latency_ms"][k]["p50"])
              for k in ("queue", "setup", "run", "teardown", "total") if k in stats["latency_ms"]))
    engine.stop()
    if proxy:
        proxy.terminate()
        proxy.wait()
    if baseline:
        baseline.stop()
EOF
