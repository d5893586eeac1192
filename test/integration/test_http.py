"""HTTP server behaviour over the wire: framing, pipelining, keep-alive,
limits (400/404/405/408/413/431), hostile clients, many connections,
graceful shutdown, configuration errors."""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PISTON_BIN, Server, Tally, read_response, wait_closed  # noqa: E402

t = Tally()
MAX_BODY = 100000
IDLE_MS = 1500


def make_packages(data_dir):
    def pkg(lang, ver, meta, installed=True, extra=None):
        d = os.path.join(data_dir, "packages", lang, ver)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "metadata.json"), "w") as f:
            f.write(meta if isinstance(meta, str) else json.dumps(meta))
        if installed:
            open(os.path.join(d, ".ppman-installed"), "w").close()
        for name, text in (extra or {}).items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
    pkg("python", "3.12.0", {"language": "python", "version": "3.12.0", "aliases": ["py", "py3"]})
    pkg("python", "3.10.0", {"language": "python", "version": "3.10.0", "aliases": ["py"]})
    pkg("gcc", "10.2.0", {"language": "gcc", "version": "10.2.0", "aliases": [],
                          "provides": [{"language": "c", "aliases": ["gcc"]},
                                       {"language": "c++", "aliases": ["cpp", "g++"]}]},
        extra={"compile": "#!/bin/sh\n", "environment": "FOO=bar\n"})
    pkg("broken", "1.0.0", "{not json")
    pkg("half", "1.0.0", {"language": "half", "version": "1.0.0", "aliases": []}, installed=False)


def alive(s, name):
    try:
        status, _, body = s.request("GET", "/", timeout=10)
        t.check(status == 200 and b"Piston" in body, "server still answers after " + name)
    except OSError as e:
        t.check(False, "server still answers after " + name, e)


def raw(s, data, head=False):
    sock = s.connect()
    sock.sendall(data)
    try:
        return read_response(sock, head_request=head), sock
    except (EOFError, OSError) as e:
        return (None, {}, str(e).encode()), sock


def test_basics(s):
    status, headers, body = s.request("GET", "/")
    t.check(status == 200 and json.loads(body)["message"].startswith("Piston v"), "GET / message", body)
    t.check(headers.get("content-type") == "application/json", "GET / content type")

    status, _, body = s.request("GET", "/api/v2/runtimes")
    rts = json.loads(body)
    langs = sorted((r["language"], r["version"]) for r in rts)
    t.check(status == 200 and langs == [("c", "10.2.0"), ("c++", "10.2.0"), ("python", "3.10.0"), ("python", "3.12.0")],
            "runtimes lists installed packages and provides, skips broken and half-installed", langs)
    c = [r for r in rts if r["language"] == "c++"]
    t.check(c and c[0].get("runtime") == "gcc" and c[0]["aliases"] == ["cpp", "g++"], "provides entry has runtime", c)
    py = [r for r in rts if r["language"] == "python"]
    t.check(all("runtime" not in r for r in py) and py[0]["aliases"], "plain package has no runtime key", py)

    status, _, body = s.request("GET", "/no/such/path")
    t.check(status == 404 and json.loads(body) == {"message": "Not Found"}, "unknown path 404", body)
    status, headers, body = s.request("DELETE", "/api/v2/runtimes")
    t.check(status == 405 and "message" in json.loads(body) and "GET" in headers.get("allow", ""),
            "wrong method 405 with Allow", (status, headers))
    status, _, _ = s.request("GET", "/api/v2/runtimes?x=1")
    t.check(status == 200, "query string ignored for routing")


def test_pipelining(s):
    sock = s.connect()
    sock.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                 b"GET /api/v2/runtimes HTTP/1.1\r\nHost: x\r\n\r\n")
    got = [read_response(sock) for _ in range(3)]
    t.check([g[0] for g in got] == [404, 200, 200] and got[2][2].startswith(b"["),
            "3 pipelined requests answered in order", [g[0] for g in got])
    # a batch split at awkward places
    reqs = b"GET / HTTP/1.1\r\n\r\n" * 5
    for i in range(0, len(reqs), 7):
        sock.sendall(reqs[i:i + 7])
        time.sleep(0.002)
    got = [read_response(sock)[0] for _ in range(5)]
    t.check(got == [200] * 5, "pipelined requests split across writes", got)
    sock.close()


def test_keepalive_and_versions(s):
    sock = s.connect()
    ok = True
    for _ in range(3):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = read_response(sock)
        ok = ok and status == 200 and headers.get("connection") != "close"
    t.check(ok, "HTTP/1.1 keep-alive: 3 requests on one connection")
    sock.sendall(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    status, headers, _ = read_response(sock)
    t.check(status == 200 and headers.get("connection") == "close" and wait_closed(sock, 5),
            "Connection: close is honoured")
    sock.close()

    (status, headers, _), sock = raw(s, b"GET / HTTP/1.0\r\n\r\n")
    t.check(status == 200 and wait_closed(sock, 5), "HTTP/1.0 closes by default")
    sock.close()
    (status, headers, _), sock = raw(s, b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    t.check(status == 200 and headers.get("connection", "").lower() == "keep-alive", "HTTP/1.0 keep-alive header")
    sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    t.check(read_response(sock)[0] == 200, "HTTP/1.0 keep-alive connection reused")
    sock.close()

    (status, headers, body), sock = raw(s, b"HEAD /api/v2/runtimes HTTP/1.1\r\n\r\n", head=True)
    t.check(status == 200 and int(headers.get("content-length", "0")) > 10, "HEAD has the GET length", headers)
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    status, _, body = read_response(sock)
    t.check(status == 200 and body.startswith(b"{\"message\""), "HEAD sent no body (next response intact)")
    sock.close()


def test_bodies(s):
    # Content-Length body to a GET-only route: 405 after the body, connection usable
    (status, _, _), sock = raw(s, b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    t.check(status == 405 and read_response(sock)[0] == 200, "body to GET-only path: 405, connection reused")
    sock.close()
    # chunked body, in pieces
    sock = s.connect()
    sock.sendall(b"POST /api/v2/runtimes HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    time.sleep(0.05)
    sock.sendall(b"lo\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    a, b = read_response(sock), read_response(sock)
    t.check(a[0] == 405 and b[0] == 200, "chunked POST to known path: 405 then next request", (a[0], b[0]))
    sock.sendall(b"POST /nowhere HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                 b"GET / HTTP/1.1\r\n\r\n")
    a, b = read_response(sock), read_response(sock)
    t.check(a[0] == 404 and b[0] == 200, "chunked POST to unknown path: 404 then next request", (a[0], b[0]))
    sock.close()
    # Expect: 100-continue
    sock = s.connect()
    sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    sock.settimeout(5)
    interim = sock.recv(1024)
    t.check(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "Expect: 100-continue gets 100", interim)
    sock._pending = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
    sock.sendall(b"hello")
    t.check(read_response(sock)[0] == 405, "after 100 Continue the body is read and answered")
    sock.close()
    (status, _, _), sock = raw(s, b"POST / HTTP/1.1\r\nContent-Length: 5\r\nExpect: something\r\n\r\nhello")
    t.check(status == 417, "unknown Expect: 417", status)
    sock.close()


def test_limits(s):
    big = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (17 * 1024) + b"\r\n\r\n"
    (status, _, body), sock = raw(s, big)
    t.check(status == 431 and b"message" in body, "head over 16 KiB: 431", status)
    sock.close()
    alive(s, "431")

    sock = s.connect()
    sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    status, _, body = read_response(sock)  # without sending the body: answered as soon as known
    t.check(status == 413 and b"message" in body, "Content-Length over max body: 413 at once", status)
    sock.close()
    sock = s.connect()
    sock.sendall(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 30000 + b"x" * 30000 + b"\r\n"
    status = None
    try:
        for _ in range(5):
            sock.sendall(chunk)
        status = read_response(sock)[0]
    except OSError as e:
        status = str(e)
    t.check(status == 413, "chunked body over max body: 413", status)
    sock.close()
    alive(s, "413")

    for name, req in [
        ("bad request line", b"GET /\r\n\r\n"),
        ("bad version", b"GET / HTTP/2.0\r\n\r\n"),
        ("obs-fold", b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"),
        ("CL and TE", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("differing CLs", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        ("negative CL", b"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n"),
        ("bad chunk size", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        ("over-long chunk line", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 5000),
        ("garbage bytes", bytes(range(256)) * 4),
    ]:
        (status, _, body), sock = raw(s, req)
        t.check(status == 400 and b"message" in body and wait_closed(sock, 5), "400 for " + name, status)
        sock.close()
    alive(s, "400s")


def test_timeouts(s):
    # a client trickling bytes must not extend its deadline forever
    sock = s.connect()
    start = time.time()
    status = None
    try:
        for ch in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            sock.sendall(bytes([ch]))
            time.sleep(0.1)
            sock.settimeout(0.001)
            try:
                data = sock.recv(4096)
                if data:
                    sock._pending = data
                    status = read_response(sock)[0]
                break
            except socket.timeout:
                pass
    except OSError:
        pass
    took = time.time() - start
    t.check(status == 408 and took < IDLE_MS / 1000 + 3, "slowloris gets 408 near the deadline",
            (status, round(took, 2)))
    sock.close()
    sock = s.connect()
    start = time.time()
    try:
        status = read_response(sock, timeout=IDLE_MS / 1000 + 5)[0]
    except (EOFError, OSError) as e:
        status = str(e)
    t.check(status == 408 and wait_closed(sock, 5), "silent new connection gets 408 and close", status)
    sock.close()
    # an idle keep-alive connection is closed quietly
    sock = s.connect()
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    read_response(sock)
    t.check(wait_closed(sock, IDLE_MS / 1000 + 5), "idle keep-alive connection closed after the timeout")
    sock.close()
    alive(s, "timeouts")


def test_hostile(s):
    for part in [b"GET / HT", b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc",
                 b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"]:
        sock = s.connect()
        sock.sendall(part)
        sock.close()
    # reset instead of close
    sock = s.connect()
    sock.sendall(b"GET / HTTP/1.1\r\n")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    # closes before reading a pipelined burst of answers
    sock = s.connect()
    sock.sendall(b"GET /api/v2/runtimes HTTP/1.1\r\n\r\n" * 200)
    sock.close()
    time.sleep(0.2)
    alive(s, "clients disconnecting mid-request")


def vm_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def test_slow_reader(s):
    """A client pipelining many requests without reading the answers must
    not make the server buffer them all; every answer still arrives."""
    n = 100000
    before = vm_kib(s.proc.pid, "VmHWM")
    sock = s.connect()
    sender = threading.Thread(target=lambda: sock.sendall(b"GET /api/v2/runtimes HTTP/1.1\r\n\r\n" * n))
    sender.start()
    time.sleep(1.0)
    got = 0
    try:
        for _ in range(n):
            if read_response(sock, timeout=20)[0] == 200:
                got += 1
    except (EOFError, OSError) as e:
        got = "%d then %r" % (got, e)
    sender.join(30)
    sock.close()
    peak = vm_kib(s.proc.pid, "VmHWM")
    t.check(got == n, "%d pipelined requests from a slow reader all answered" % n, got)
    t.check(peak - before < 4096, "unsent answers are bounded (peak RSS grew %d KiB)" % (peak - before))
    alive(s, "slow reader")


def test_many_connections(s):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    socks = []
    try:
        for _ in range(1000):
            socks.append(s.connect(timeout=20))
        for sk in socks:
            sk.sendall(b"GET / HTTP/1.1\r\n\r\n")
        ok = sum(1 for sk in socks if read_response(sk, timeout=20)[0] == 200)
    except OSError as e:
        ok = "error: %s" % e
    for sk in socks:
        sk.close()
    t.check(ok == 1000, "1000 connections open at once all answered", ok)
    alive(s, "1000 connections")


def test_config_errors():
    for env, args, key in [({"PISTON_RUN_TIMEOUT": "abc"}, [], "PISTON_RUN_TIMEOUT"),
                           ({"PISTON_LIMIT_OVERRIDES": "{\"c\":{\"nope\":1}}"}, [], "PISTON_LIMIT_OVERRIDES"),
                           ({}, ["--bind-address", "nowhere"], "PISTON_BIND_ADDRESS"),
                           ({}, ["--max-body-size=-1"], "PISTON_MAX_BODY_SIZE")]:
        e = dict(os.environ)
        e.update(env)
        p = subprocess.run([PISTON_BIN, "serve"] + args, env=e, capture_output=True, timeout=30)
        t.check(p.returncode == 1 and key.encode() in p.stderr, "bad config exits 1 naming " + key, p.stderr[:200])
    p = subprocess.run([PISTON_BIN, "serve", "--help"], capture_output=True, timeout=30)
    t.check(p.returncode == 0 and b"PISTON_IDLE_TIMEOUT" in p.stdout and b"--run-timeout" in p.stdout,
            "serve --help lists keys and flags")
    with socket.socket() as taken:  # an address already in use
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        e = dict(os.environ)
        e.update({"PISTON_BIND_ADDRESS": "127.0.0.1:%d" % taken.getsockname()[1],
                  "PISTON_DATA_DIRECTORY": "/nonexistent"})
        try:
            p = subprocess.run([PISTON_BIN, "serve"], env=e, capture_output=True, timeout=30)
            t.check(p.returncode == 1 and b"cannot listen" in p.stderr, "address in use: exit 1", p.stderr[:200])
        except subprocess.TimeoutExpired:
            t.check(False, "address in use: exit 1", "still running")


def test_connection_cap():
    """With few descriptors the server keeps some for jobs: connections
    beyond its cap get a 503 and are closed; the others are served."""
    import select
    nofile = 400  # cap = 400 - (descriptors in use, ~30) - min(256, 400 / 4) = about 270

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

    with Server(preexec_fn=limit, args=["--max-concurrent-jobs", "2"]) as s:
        socks = [s.connect(timeout=20) for _ in range(330)]
        time.sleep(0.5)
        ready, _, _ = select.select(socks, [], [], 0)  # the refused ones were answered at once
        refused = served = other = 0
        for sk in ready:
            try:
                status, _, body = read_response(sk, timeout=5)
                refused += status == 503 and b"message" in body
                other += not (status == 503 and b"message" in body)
            except (EOFError, OSError):
                other += 1
        rest = [sk for sk in socks if sk not in ready]
        for sk in rest:
            sk.sendall(b"GET / HTTP/1.1\r\n\r\n")
        for sk in rest:
            try:
                served += read_response(sk, timeout=20)[0] == 200
            except (EOFError, OSError):
                other += 1
        for sk in socks:
            sk.close()
        t.check(200 <= served <= 320 and refused >= 10 and served + refused == 330 and other == 0,
                "connections over the cap get 503 (served %d, refused %d, other %d)" % (served, refused, other))
        time.sleep(0.3)
        alive(s, "the connection cap")


def test_graceful_shutdown():
    """SIGTERM lets a running job finish and its answer go out; new jobs
    are refused with 503 meanwhile and /healthz says draining; the grace
    period bounds the wait."""
    from exec_fixture import SHELL_RUN, make_package
    import threading as th

    def start(extra_args):
        srv = Server(args=extra_args)
        make_package(srv.data_dir, "shell", "1.0.0", SHELL_RUN)
        return srv.__enter__()

    code = {"language": "shell", "version": "*", "files": [{"content": "sleep 1.5; echo finished"}]}
    s = start([])
    try:
        status, body = s.json("POST", "/api/v2/execute",
                              {"language": "shell", "version": "*", "files": [{"content": "echo hi"}]})
        if status != 200 or (body or {}).get("run", {}).get("stdout") != "hi\n":
            t.skip("graceful shutdown with a running job", "jobs do not run here: %s %s" % (status, body))
            return
        result = {}
        worker = th.Thread(target=lambda: result.update(r=s.json("POST", "/api/v2/execute", code)))
        worker.start()
        upload = s.connect()
        body = json.dumps({"language": "shell", "version": "*", "files": [{"content": "echo uploaded"}]}).encode()
        upload.sendall(b"POST /api/v2/execute HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
        time.sleep(0.5)
        start_t = time.time()
        s.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        upload.sendall(body[10:])
        try:
            status, headers, answer = read_response(upload, timeout=20)
            answer = json.loads(answer)
        except (EOFError, OSError, ValueError) as e:
            status, headers, answer = None, {}, repr(e)
        upload.close()
        t.check(status == 503 and headers.get("x-piston-draining") == "1" and "shutting down" in answer["message"],
                "a request arriving during the drain is refused: 503, X-Piston-Draining, a clear message",
                (status, headers, answer))
        try:
            st, _, hz = s.request("GET", "/healthz", timeout=5)
            hz = json.loads(hz)
        except (OSError, ValueError) as e:
            st, hz = None, repr(e)
        t.check(st == 503 and hz.get("status") == "draining",
                "during the drain the engine still listens and /healthz says 503 draining", (st, hz))
        rc = s.proc.wait(30)
        worker.join(30)
        st, body = result.get("r", (None, None))
        t.check(rc == 0 and st == 200 and body["run"]["stdout"] == "finished\n",
                "SIGTERM waits for the running job and delivers its answer, exit 0", (rc, st, body))
        t.check(time.time() - start_t < 10, "shutdown after the job is prompt")
    finally:
        s.__exit__(None, None, None)

    s = start(["--shutdown-grace", "300", "--run-timeout", "30000"])
    try:
        slow = {"language": "shell", "version": "*", "files": [{"content": "sleep 10; echo late"}]}
        def cut_short():
            try:
                s.json("POST", "/api/v2/execute", slow)
            except OSError:
                pass  # the engine stopped the job at the end of the grace period
        worker = th.Thread(target=cut_short)
        worker.daemon = True
        worker.start()
        time.sleep(0.5)
        start_t = time.time()
        s.proc.send_signal(signal.SIGTERM)
        rc = s.proc.wait(30)
        took = time.time() - start_t
        t.check(rc == 0 and took < 6, "grace period bounds the wait (exit 0 after %.1fs)" % took, rc)
    finally:
        s.__exit__(None, None, None)


def test_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
            port = probe.getsockname()[1]
    except OSError:
        t.skip("IPv6 bind", "no IPv6 loopback on this machine")
        return
    srv = Server(env={"PISTON_BIND_ADDRESS": "[::]:%d" % port})
    srv.port = port
    e = dict(os.environ)
    e.update({"PISTON_BIND_ADDRESS": "[::]:%d" % port, "PISTON_DATA_DIRECTORY": srv.data_dir,
              "PISTON_LOG_LEVEL": "WARN"})
    p = subprocess.Popen([PISTON_BIN, "serve"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ok4 = ok6 = False
        for _ in range(100):
            try:
                with socket.create_connection(("::1", port), timeout=2) as sk:
                    sk.sendall(b"GET / HTTP/1.1\r\n\r\n")
                    ok6 = read_response(sk)[0] == 200
                with socket.create_connection(("127.0.0.1", port), timeout=2) as sk:
                    sk.sendall(b"GET / HTTP/1.1\r\n\r\n")
                    ok4 = read_response(sk)[0] == 200
                break
            except OSError:
                time.sleep(0.05)
        t.check(ok6 and ok4, "[::]:PORT serves IPv6 and IPv4", (ok6, ok4))
    finally:
        p.kill()
        p.wait()
        os.rmdir(srv.data_dir)


def main():
    try:
        run_all()
    except Exception as e:  # e.g. the server does not start: report, do not hide the summary
        t.check(False, "test run completed", repr(e))
    t.done()


def run_all():
    srv = Server(args=["--idle-timeout", str(IDLE_MS), "--max-body-size=%d" % MAX_BODY])
    make_packages(srv.data_dir)
    with srv as s:
        for test in (test_basics, test_pipelining, test_keepalive_and_versions, test_bodies, test_limits,
                     test_hostile, test_timeouts, test_many_connections):
            try:
                test(s)
            except Exception as e:  # a crash in one group must not hide the others
                t.check(False, test.__name__ + " raised", repr(e))
            if not s.alive():
                t.check(False, "server alive after " + test.__name__, s.log()[-2000:])
                break
        # graceful shutdown with an idle keep-alive connection open
        sock = s.connect()
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        read_response(sock)
        start = time.time()
        rc = s.stop(signal.SIGTERM, timeout=30)
        t.check(rc == 0 and time.time() - start < 10, "SIGTERM exits 0 promptly", rc)
        sock.close()
    # The slow reader on a server with the default idle timeout (10 s): under
    # emulation a reader that stalls for IDLE_MS is closed as idle, rightly.
    with Server(args=["--max-body-size=%d" % MAX_BODY]) as s:
        try:
            test_slow_reader(s)
        except Exception as e:
            t.check(False, "test_slow_reader raised", repr(e))
    test_config_errors()
    test_connection_cap()
    test_graceful_shutdown()
    test_ipv6()


main()
