"""piston proxy (SPEC section 5): three real engines on loopback behind one
proxy -- routing by language, least-loaded spreading, limit clamping, keys
(missing, unknown, user on package endpoints, admin), SIGHUP reload, exact
rate limiting, CORS, the WebSocket tunnel, an engine killed under steady
load (failover, 502 for the requests in flight), 503 with no engine left;
plus a fake engine (a Python HTTP server: the proxy is the system under
test) to see the headers the proxy sends, and anonymous use."""
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import SHELL_RUN, CC_COMPILE, CC_RUN, MULTI_RUN, WS, make_package, free_port  # noqa: E402
from harness import Tally  # noqa: E402

BIN = os.environ.get("PISTON_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "piston")
t = Tally()
check = t.check
TMP = tempfile.mkdtemp(prefix="piston-proxy-test-")
procs = []


def http_req(port, method, path, body=None, headers=None, timeout=60, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        try:
            obj = json.loads(data)
        except ValueError:
            obj = data
        return r.status, hdrs, obj
    finally:
        if conn is None:
            c.close()


def wait_http(port, proc, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            if http_req(port, "GET", "/", timeout=2)[0] == 200:
                return True
        except OSError:
            time.sleep(0.05)
    return False


class RealEngine:
    def __init__(self, packages, env=None):
        self.dir = tempfile.mkdtemp(prefix="eng-", dir=TMP)
        data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(data, "packages"))
        for p in packages:
            make_package(data, *p[:2], **p[2])
        self.port = free_port()
        env = dict(os.environ, PISTON_DATA_DIRECTORY=data, PISTON_BIND_ADDRESS="127.0.0.1:%d" % self.port,
                   PISTON_LOG_LEVEL="WARN", **(env or {}))
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=self.log, stderr=self.log)
        procs.append(self.proc)
        if not wait_http(self.port, self.proc):
            raise RuntimeError("engine did not start: " + open(os.path.join(self.dir, "log")).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def stats(self):
        return http_req(self.port, "GET", "/api/v2/stats")[2]


class Proxy:
    def __init__(self, args, env=None):
        self.port = free_port()
        self.log_path = os.path.join(TMP, "proxy-%d.log" % self.port)
        e = dict(os.environ, PISTON_PROXY_LOG_LEVEL="INFO")
        e.update(env or {})
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "proxy", "--bind", "127.0.0.1:%d" % self.port] + args,
                                     env=e, stdout=self.logf, stderr=self.logf)
        procs.append(self.proc)
        if not wait_http(self.port, self.proc):
            raise RuntimeError("proxy did not start: " + self.log())

    def log(self):
        return open(self.log_path).read()

    def req(self, method, path, body=None, key=None, headers=None, **kw):
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + key
        if body is not None:
            h.setdefault("Content-Type", "application/json")
        return http_req(self.port, method, path, body, h, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def keygen(*args):
    out = subprocess.run([BIN, "proxy", "keygen"] + list(args), capture_output=True, text=True, check=True)
    key, line = out.stdout.splitlines()
    return key, line


def sh(code, version="*", **kw):
    d = {"language": "shell", "version": version, "files": [{"content": code}]}
    d.update(kw)
    return d


def wait_until(fn, timeout=10, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


# ----------------------------------------------------------------------------

def config_errors():
    r = subprocess.run([BIN, "proxy", "--upstream", "http://127.0.0.1:1", "--keys", "/nonexistent"],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "PISTON_PROXY_KEYS" in r.stderr, "missing keys file: exit 1 naming the key", r.stderr)
    r = subprocess.run([BIN, "proxy", "--anonymous", "5/s"], capture_output=True, text=True,
                       env=dict(os.environ, PISTON_PROXY_UPSTREAMS="ftp://x"))
    check(r.returncode == 1 and "PISTON_PROXY_UPSTREAMS" in r.stderr, "bad upstream URL: exit 1 naming the key",
          r.stderr)
    r = subprocess.run([BIN, "proxy", "--anonymous", "5/s", "--upstream", "http://127.0.0.1:1"],
                       capture_output=True, text=True, env=dict(os.environ, PISTON_PROXY_MAX_RUN_TIMEOUT="x"))
    check(r.returncode == 1 and "PISTON_PROXY_MAX_RUN_TIMEOUT" in r.stderr, "bad number: exit 1 naming the key")
    r = subprocess.run([BIN, "proxy", "keygen", "bob", "--role", "root"], capture_output=True, text=True)
    check(r.returncode != 0, "keygen refuses an unknown role")
    key, line = keygen("carol", "--rate", "3/s", "--burst", "4")
    f = line.split()
    check(len(f) == 5 and f[1:] == ["carol", "user", "3/s", "4"] and key not in line and len(f[0]) == 64,
          "keygen prints the key, then a line with its hash (never the key)", line)


def main_suite():
    shell2 = ("shell", "2.0.0", {"run": SHELL_RUN, "meta_extra": {"aliases": ["sh"]}})
    shell1 = ("shell", "1.0.0", {"run": SHELL_RUN, "meta_extra": {"aliases": ["sh"]}})
    cc = ("cc", "1.0.0", {"run": CC_RUN, "compile_script": CC_COMPILE})
    multi = ("multi", "1.0.0", {"run": MULTI_RUN, "meta_extra": {
        "provides": [{"language": "mlang1", "aliases": ["m1"]}, {"language": "mlang2", "aliases": []}]}})
    e1 = RealEngine([shell2])
    e2 = RealEngine([shell2, cc])
    e3 = RealEngine([shell1, multi])
    user, uline = keygen("user1", "--rate", "1000/s", "--burst", "1000")
    admin, aline = keygen("admin1", "--role", "admin", "--rate", "1000/s", "--burst", "1000")
    slow, sline = keygen("slow", "--rate", "1/s", "--burst", "5")
    keys_path = os.path.join(TMP, "keys")
    with open(keys_path, "w") as f:
        f.write("# test keys\n%s\n%s\n%s\n" % (uline, aline, sline))
    p = Proxy(["--upstream", e1.url, "--upstream", e2.url, "--upstream", e3.url, "--keys", keys_path,
               "--health-interval", "300", "--max-run-timeout", "2500"])
    try:
        # ---- runtimes: union of the engines, once each
        def union():
            st, _, rt = p.req("GET", "/api/v2/runtimes", key=user)
            return rt if st == 200 and isinstance(rt, list) and len(rt) == 5 else None
        rt = wait_until(union, 10)
        got = sorted((r["language"], r["version"], r.get("runtime")) for r in (rt or []))
        check(got == [("cc", "1.0.0", None), ("mlang1", "1.0.0", "multi"), ("mlang2", "1.0.0", "multi"),
                      ("shell", "1.0.0", None), ("shell", "2.0.0", None)],
              "GET /api/v2/runtimes is the union of the engines' runtimes (no duplicates)", got)

        # ---- keys
        st, h, body = p.req("POST", "/api/v2/execute", sh("echo hi"))
        check(st == 401 and isinstance(body, dict) and "message" in body, "no key: 401 JSON", (st, body))
        check(h.get("access-control-allow-origin") == "*", "CORS header on a 401")
        st, _, body = p.req("POST", "/api/v2/execute", sh("echo hi"), key="pst_nope")
        check(st == 401 and "message" in body, "unknown key: 401 JSON", (st, body))
        st, _, body = p.req("POST", "/api/v2/execute", sh("echo hi"), headers={"Authorization": user})
        check(st == 200 and body["run"]["stdout"] == "hi\n", "a bare key is accepted", (st, body))
        for m in ("GET", "POST", "DELETE"):
            b = None if m == "GET" else {"language": "shell", "version": "9.9.9"}
            st, _, body = p.req(m, "/api/v2/packages", b, key=user)
            check(st == 403 and "message" in body, "user key on %s /api/v2/packages: 403" % m, (st, body))
        st, _, body = p.req("GET", "/api/v2/packages")
        check(st == 401, "no key on /api/v2/packages: 401", st)
        st, _, body = p.req("GET", "/api/v2/packages", key=admin)
        check(st not in (401, 403, 404, 405), "admin key on GET /api/v2/packages reaches an engine", (st, body))
        st, _, body = p.req("DELETE", "/api/v2/packages", {"language": "nosuch", "version": "1.0.0"}, key=admin)
        check(st >= 400 and isinstance(body, dict) and "nosuch" in body.get("message", ""),
              "admin DELETE of a missing package: the engines' own error", (st, body))
        st, _, body = p.req("GET", "/metrics", key=user)
        check(st == 403, "/metrics needs an admin key", st)
        st, h, body = p.req("GET", "/metrics", key=admin)
        check(st == 200 and b"piston_proxy_engine_up" in body and h["content-type"].startswith("text/plain"),
              "/metrics (Prometheus text) for an admin", body[:200] if isinstance(body, bytes) else body)

        # ---- CORS preflight
        st, h, _ = p.req("OPTIONS", "/api/v2/execute", headers={"Origin": "https://x.example",
                                                                  "Access-Control-Request-Method": "POST"})
        check(st == 204 and h.get("access-control-allow-origin") == "*"
              and "authorization" in h.get("access-control-allow-headers", "").lower()
              and "POST" in h.get("access-control-allow-methods", ""), "OPTIONS preflight answered", (st, h))

        # ---- routing by language
        st, h, body = p.req("POST", "/api/v2/execute", sh("echo one", version="1.0.0"), key=user)
        check(st == 200 and body["version"] == "1.0.0" and body["run"]["stdout"] == "one\n",
              "shell 1.0.0 goes to the only engine that has it", (st, body))
        check(all(k in h for k in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")),
              "RateLimit-* headers on an admitted response", h)
        st, _, body = p.req("POST", "/api/v2/execute", {"language": "cc", "version": "*",
                                                        "files": [{"content": "echo compiled"}]}, key=user)
        check(st == 200 and body["run"]["stdout"] == "compiled\n" and "compile" in body,
              "cc goes to the engine that has it", (st, body))
        st, _, body = p.req("POST", "/api/v2/execute", {"language": "m1", "version": "1",
                                                        "files": [{"content": "echo x"}]}, key=user)
        check(st == 200 and body["language"] == "mlang1" and "lang=mlang1" in body["run"]["stdout"],
              "an alias of a provided language is routed", (st, body))
        st, _, body = p.req("POST", "/api/v2/execute", {"language": "cobol", "version": "*",
                                                        "files": [{"content": "x"}]}, key=user)
        check(st == 400 and body.get("message") == "cobol-* runtime is unknown",
              "a language no engine has: the engine's exact 400", (st, body))
        st, _, body = p.req("POST", "/api/v2/execute", {"version": "*", "files": [{"content": "x"}]}, key=user)
        check(st == 400 and body.get("message") == "language is required as a string",
              "validation errors come from the engine unchanged", (st, body))
        st, _, body = p.req("POST", "/api/v2/execute", "{not json", key=user)
        check(400 <= st < 500 and "message" in body, "a body that is not JSON: 4xx JSON", (st, body))

        # ---- limit clamping: the engine would refuse run_timeout over its limit of 3000
        st, _, body = p.req("POST", "/api/v2/execute", sh("echo ok", run_timeout=999999, run_memory_limit=10**9,
                                                          args=["a"], stdin="in"), key=user)
        check(st == 200 and body["run"]["stdout"] == "ok\n", "run_timeout over the maximum is clamped", (st, body))
        st, _, body = p.req("POST", "/api/v2/execute", sh("sleep 5", run_timeout=999999), key=user)
        check(st == 200 and body["run"]["status"] == "TO" and body["run"]["wall_time"] < 4000,
              "the clamped limit (2500 ms) is the one enforced", (st, body))
        # number and boolean args reach the program as their JSON text as sent (SPEC section 1), through
        # the proxy untouched and through a body it rewrote (json.dumps would turn 3.50 into 3.5)
        for extra, what in (("", "passed on"), (',"run_timeout":999999', "in a clamped body")):
            raw = ('{"language":"shell","version":"*","files":[{"content":"for a; do printf \'[%s]\' \\"$a\\"; '
                   'done"}],"args":["foo",3,3.50,true,-1e3]' + extra + '}')
            st, _, body = p.req("POST", "/api/v2/execute", raw, key=user)
            check(st == 200 and body["run"]["stdout"] == "[foo][3][3.50][true][-1e3]",
                  "number args through the proxy: JSON text as sent (%s)" % what, (st, body))

        # ---- least loaded: concurrent slow jobs spread over both shell 2 engines
        before = [e1.stats()["jobs"]["total"], e2.stats()["jobs"]["total"]]
        res = []

        def one():
            res.append(p.req("POST", "/api/v2/execute", sh("sleep 1; echo done", version="2"), key=user)[0])
        ths = [threading.Thread(target=one) for _ in range(6)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        after = [e1.stats()["jobs"]["total"], e2.stats()["jobs"]["total"]]
        d = [after[0] - before[0], after[1] - before[1]]
        check(res == [200] * 6 and d[0] + d[1] == 6 and min(d) >= 2,
              "6 concurrent jobs spread over the 2 engines with the language", (res, d))

        # ---- exact rate limiting: burst 5, 1/s
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=30)
        codes, retry, t0 = [], None, time.time()
        for _ in range(20):
            st, h, body = http_req(p.port, "GET", "/api/v2/runtimes", headers={"Authorization": "Bearer " + slow},
                                   conn=c)
            codes.append(st)
            if st == 429:
                retry = (h, body)
        elapsed = time.time() - t0
        c.close()
        allowed = codes.count(200)
        check(set(codes) <= {200, 429} and 5 <= allowed <= 5 + int(elapsed) and codes[:5] == [200] * 5,
              "burst 5 at 1/s: %d of 20 admitted in %.2fs (bucket allows %d..%d)" %
              (allowed, elapsed, 5, 5 + int(elapsed)), codes)
        check(retry and retry[0].get("retry-after") == "1" and retry[0].get("ratelimit-remaining") == "0"
              and "ratelimit-limit" in retry[0] and "message" in retry[1], "429 has Retry-After, RateLimit-*, JSON",
              retry)
        # refill: 1 token per second since the bucket was emptied
        t1_start, t1_end = t0, t0 + elapsed
        time.sleep(2.05)
        c = http.client.HTTPConnection("127.0.0.1", p.port, timeout=30)
        t2_start = time.time()
        codes = [http_req(p.port, "GET", "/api/v2/runtimes", headers={"Authorization": "Bearer " + slow},
                          conn=c)[0] for _ in range(10)]
        t2_end = time.time()
        lo, hi = int(t2_start - t1_end), int(t2_end - t1_start)
        check(lo <= codes.count(200) <= hi and codes.count(200) + codes.count(429) == 10,
              "after %.2fs: %d admitted (refill allows %d..%d)" % (t2_start - t1_end, codes.count(200), lo, hi),
              codes)

        # SIGHUP does not drop open connections
        st_before = http_req(p.port, "GET", "/api/v2/runtimes", headers={"Authorization": "Bearer " + user},
                             conn=c)[0]
        p.proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        st_after = http_req(p.port, "GET", "/api/v2/runtimes", headers={"Authorization": "Bearer " + user},
                            conn=c)[0]
        c.close()
        check(st_before == 200 and st_after == 200, "a keep-alive connection survives SIGHUP",
              (st_before, st_after))

        # ---- SIGHUP reload
        newkey, nline = keygen("late")
        check(p.req("GET", "/api/v2/runtimes", key=newkey)[0] == 401, "a key not yet in the file: 401")
        with open(keys_path, "a") as f:
            f.write(nline + "\n")
        p.proc.send_signal(signal.SIGHUP)
        check(wait_until(lambda: p.req("GET", "/api/v2/runtimes", key=newkey)[0] == 200, 5),
              "after SIGHUP the new key works")
        good = open(keys_path).read()
        with open(keys_path, "w") as f:
            f.write(good + "this line is broken\n")
        p.proc.send_signal(signal.SIGHUP)
        check(wait_until(lambda: "keeping the" in p.log(), 5), "a bad keys file is logged on SIGHUP")
        check(p.req("GET", "/api/v2/runtimes", key=newkey)[0] == 200 and
              p.req("GET", "/api/v2/runtimes", key=user)[0] == 200, "a bad keys file keeps the old keys")
        with open(keys_path, "w") as f:
            f.write(good.replace(nline + "\n", ""))
        p.proc.send_signal(signal.SIGHUP)
        check(wait_until(lambda: p.req("GET", "/api/v2/runtimes", key=newkey)[0] == 401, 5),
              "a key removed from the file stops working after SIGHUP")

        # ---- WebSocket through the proxy
        ws = ws_connect(p.port, {"Authorization": "Bearer " + user})
        check(ws.ok, "WebSocket handshake through the proxy (101, right accept)", ws.head)
        if ws.ok:
            ws.send({"type": "init", "language": "shell", "version": "*",
                     "files": [{"content": "read x; echo got $x; exit 2"}]})
            first = ws.recv()
            ws.send({"type": "data", "stream": "stdin", "data": "hello\n"})
            msgs = [first] + ws.until_close()
            out = "".join(m["data"] for m in msgs if isinstance(m, dict) and m.get("type") == "data")
            ex = [m for m in msgs if isinstance(m, dict) and m.get("type") == "exit"]
            check(first.get("type") == "runtime" and out == "got hello\n" and ex and ex[-1]["code"] == 2
                  and msgs[-1][0] == "close" and msgs[-1][1] == 4999, "interactive job through the tunnel", msgs)
            ws.close()
        outs = []
        for lang, code in (("cc", "echo cc-ws"), ("cc", "echo cc-ws"), ("cc", "echo cc-ws"),
                           ("m1", "echo m1-ws")):
            ws = ws_connect(p.port, {"Authorization": "Bearer " + user})
            ws.send({"type": "init", "language": lang, "version": "*", "files": [{"content": code}]})
            msgs = ws.until_close()
            ws.close()
            outs.append("".join(m["data"] for m in msgs if isinstance(m, dict) and m.get("type") == "data"
                                and m.get("stream") == "stdout"))
        check(all(o.endswith("cc-ws\n") for o in outs[:3]) and "lang=mlang1\nm1-ws\n" == outs[3],
              "WebSocket sessions are routed by the init message's language", outs)
        # odd first frames are not the proxy's to judge: the engine answers them
        ws = ws_connect(p.port, {"Authorization": "Bearer " + user})
        init = json.dumps({"type": "init", "language": "cc", "version": "*", "files": [{"content": "echo frag"}]})
        ws.send_frame(1, init[:20], fin=False)
        ws.send_frame(0, init[20:])
        msgs = ws.until_close()
        ws.close()
        check(any(isinstance(m, dict) and m.get("data") == "frag\n" for m in msgs),
              "a fragmented init goes through (routed when complete)", msgs)
        ws = ws_connect(p.port, {"Authorization": "Bearer " + user})
        ws.send_frame(1, init, mask=False)
        msgs = ws.until_close()
        ws.close()
        check(msgs and msgs[-1][0] == "close" and msgs[-1][1] == 1002, "an unmasked first frame: the engine's 1002",
              msgs)
        ws = ws_connect(p.port, {"Authorization": "Bearer " + user})
        ws.sock.sendall(bytes([0x81, 0xFF]) + (1 << 40).to_bytes(8, "big") + b"abcd")
        msgs = ws.until_close()
        ws.close()
        check(msgs and msgs[-1][0] == "close" and msgs[-1][1] == 1009, "a huge first frame: the engine's 1009", msgs)
        check(p.req("GET", "/", key=user)[0] == 200, "the proxy is still there")
        ws = ws_connect(p.port, {"Authorization": "Bearer " + user})
        t0 = time.time()
        msgs = ws.until_close()
        ws.close()
        check(msgs and msgs[-1][0] == "close" and msgs[-1][1] == 4001 and time.time() - t0 < 10,
              "no init: the engine's 4001 Initialization Timeout comes through", msgs)
        ws = ws_connect(p.port, {})
        check(not ws.ok and ws.head.startswith("HTTP/1.1 401"), "WebSocket without a key: 401", ws.head)
        ws.close()

        # ---- an engine killed under steady load
        steady(p, e1, e2, user)

        # ---- no engine left
        e3.proc.kill()
        e3.proc.wait()
        st, _, body = p.req("POST", "/api/v2/execute", {"language": "m1", "version": "*",
                                                        "files": [{"content": "echo x"}]}, key=user)
        check(st == 503 and "message" in body, "a language whose only engine is down: 503 (not unknown)",
              (st, body))
        e2.proc.kill()
        e2.proc.wait()
        st, _, body = p.req("POST", "/api/v2/execute", sh("echo x"), key=user)
        check(st == 503 and "message" in body, "no engine left: 503 JSON", (st, body))
        check(wait_until(lambda: p.req("GET", "/api/v2/runtimes", key=user)[2] == [], 5),
              "runtimes of dead engines leave the union")
        check(p.stop() == 0, "SIGTERM: the proxy exits 0")
    finally:
        for e in (e1, e2, e3):
            if e.proc.poll() is None:
                e.proc.send_signal(signal.SIGTERM)
                try:
                    e.proc.wait(15)
                except subprocess.TimeoutExpired:
                    e.proc.kill()
        p.stop()


def ws_connect(port, headers):
    """exec_fixture.WS with extra handshake headers (the API key)."""
    import base64 as b64
    import hashlib
    w = WS.__new__(WS)
    w.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    key = b64.b64encode(os.urandom(16)).decode()
    extra = "".join("%s: %s\r\n" % kv for kv in headers.items())
    w.sock.sendall(("GET /api/v2/connect HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
                    % (key, extra)).encode())
    w.buf = b""
    while b"\r\n\r\n" not in w.buf:
        d = w.sock.recv(4096)
        if not d:
            break
        w.buf += d
    head, _, w.buf = w.buf.partition(b"\r\n\r\n")
    w.head = head.decode("latin-1")
    want = b64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                         .digest()).decode()
    w.ok = w.head.startswith("HTTP/1.1 101") and want in w.head
    return w


def steady(p, e1, e2, key):
    """4 clients send shell jobs (0.4 s each) to the two shell-2 engines; e1 is
    SIGKILLed mid-way. Requests in flight on e1 may fail with a clear 502;
    nothing else may fail, and after the health check nothing fails at all."""
    stop = threading.Event()
    results = []   # (t_start, t_end, status, body)
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            s = time.time()
            try:
                st, _, body = p.req("POST", "/api/v2/execute", sh("sleep 0.4; echo ok", version="2"), key=key,
                                    timeout=60)
            except OSError as ex:
                st, body = -1, str(ex)
            with lock:
                results.append((s, time.time(), st, body))
    ths = [threading.Thread(target=client) for _ in range(4)]
    for th in ths:
        th.start()
    time.sleep(1.5)
    kill_at = time.time()
    e1.proc.kill()
    e1.proc.wait()
    time.sleep(4)
    stop.set()
    for th in ths:
        th.join()
    bad = [r for r in results if r[2] != 200 or r[3]["run"]["stdout"] != "ok\n"]
    # SIGKILL takes effect a moment after kill() returns: a request sent in
    # that moment is in flight on the dying engine too
    in_flight = [r for r in bad if r[0] < kill_at + 0.1 and kill_at < r[1]]
    check(len(results) > 8 and len(bad) == len(in_flight),
          "engine killed under load: only requests in flight at the kill failed (%d of %d)" %
          (len(bad), len(results)), bad)
    check(all(r[2] == 502 and "failed during the request" in r[3].get("message", "") for r in bad),
          "those failed with a clear 502 JSON", bad)
    late = [r for r in results if r[0] > kill_at + 1.0]
    check(len(late) >= 4 and all(r[2] == 200 for r in late), "after the health check, no request fails",
          len(late))
    st, _, m = p.req("GET", "/metrics", key=None, headers={})
    check(st == 401, "metrics without a key: 401")


class FakeEngine(http.server.BaseHTTPRequestHandler):
    """A stand-in engine that records what the proxy sends."""
    protocol_version = "HTTP/1.1"
    seen = []
    dead = False

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def do_GET(self):
        if FakeEngine.dead:   # hang up without an answer, like a crashed engine
            self.close_connection = True
            return
        if self.path == "/api/v2/runtimes":
            self.reply(200, [{"language": "fake", "version": "1.0.0", "aliases": []}])
        else:
            self.reply(404, {"message": "Not Found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        FakeEngine.seen.append((dict(self.headers), body))
        if self.path == "/api/v2/execute":
            # chunked answer: the proxy must de-chunk it
            b = json.dumps({"language": "fake", "version": "1.0.0", "run": {"stdout": "fake"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(b), 7):
                part = b[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.reply(404, {"message": "Not Found"})


def fake_suite():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeEngine)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    p = Proxy(["--upstream", url, "--anonymous", "2/s:3", "--health-interval", "200",
               "--max-body-size", "2000", "--max-run-timeout", "1000", "--max-compile-memory-limit", "5000"])
    try:
        wait_until(lambda: p.req("GET", "/api/v2/runtimes")[2] != [], 5, 0.5)
        time.sleep(2)   # polling took anonymous tokens: let the bucket (3 at 2/s) fill up
        body = {"language": "fake", "version": "1", "files": [{"content": "x"}], "run_timeout": 5000,
                "compile_memory_limit": 9999, "run_cpu_time": 10, "nested": {"k": [1, 2.5, None, True]},
                "a\u0000b": "\u00e9"}
        st, h, got = p.req("POST", "/api/v2/execute", body, headers={"X-Forwarded-For": "203.0.113.7",
                                                                      "Authorization": "Bearer whatever"})
        # anonymous allowed, but a presented unknown key is still refused
        check(st == 401, "anonymous mode: an unknown key is still 401", st)
        st, h, got = p.req("POST", "/api/v2/execute", body, headers={"X-Forwarded-For": "203.0.113.7"})
        check(st == 200 and got == {"language": "fake", "version": "1.0.0", "run": {"stdout": "fake"}},
              "anonymous request proxied; chunked engine answer de-chunked", (st, got))
        hdrs, sent = FakeEngine.seen[-1]
        sent = json.loads(sent)
        check(hdrs.get("X-Forwarded-For") == "203.0.113.7, 127.0.0.1", "X-Forwarded-For appended",
              hdrs.get("X-Forwarded-For"))
        check("Authorization" not in hdrs, "Authorization is not passed to the engine")
        check(sent["run_timeout"] == 1000 and sent["compile_memory_limit"] == 5000 and sent["run_cpu_time"] == 10
              and sent["nested"] == body["nested"] and sent["a\u0000b"] == "\u00e9" and sent["files"] == body["files"],
              "over-limit values clamped, everything else kept", sent)
        small = {"language": "fake", "version": "1", "files": [{"content": "x"}], "run_timeout": 10}
        st = p.req("POST", "/api/v2/execute", small)[0]
        check(st == 200 and json.loads(FakeEngine.seen[-1][1]) == small, "a body within limits is passed unchanged",
              st)
        st, h, got = p.req("POST", "/api/v2/execute", {"language": "fake", "version": "1",
                                                       "files": [{"content": "x" * 3000}]})
        check(st == 413, "request body over the cap: 413", st)
        time.sleep(2)   # 2/s refills the burst of 3
        t0 = time.time()
        codes = [p.req("GET", "/api/v2/runtimes")[0] for _ in range(8)]
        elapsed = time.time() - t0
        check(3 <= codes.count(200) <= 3 + int(elapsed * 2) and codes[:3] == [200] * 3 and 429 in codes,
              "anonymous use limited per client address (burst 3, 2/s; %.2fs)" % elapsed, codes)
        st, _, _ = p.req("GET", "/api/v2/packages")
        check(st == 401, "anonymous use never reaches package endpoints", st)
        # the engine goes away: health check notices, then 503
        FakeEngine.dead = True
        srv.shutdown()
        srv.server_close()
        check(wait_until(lambda: p.req("GET", "/api/v2/runtimes")[0] == 200 and
                         p.req("GET", "/api/v2/runtimes")[2] == [], 6, 0.6), "a dead engine leaves the union")
    finally:
        p.stop()


def raw_engine_suite():
    """An engine speaking odd but legal HTTP (until-close bodies, HTTP/1.0),
    and broken HTTP: the proxy must relay the first and answer 502 JSON to
    the second, never hang or crash."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)
    mode = {"execute": b""}
    runtimes = json.dumps([{"language": "raw", "version": "1.0.0", "aliases": []}]).encode()

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    def handle(c):
        data = b""
        try:
            while True:
                while b"\r\n\r\n" not in data:
                    d = c.recv(65536)
                    if not d:
                        return
                    data += d
                head, _, data = data.partition(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length":
                        n = int(v)
                while len(data) < n:
                    data += c.recv(65536)
                data = data[n:]
                if head.startswith(b"GET /api/v2/runtimes"):
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(runtimes), runtimes))
                    continue
                if mode["execute"] == b"hang":
                    time.sleep(3)
                else:
                    c.sendall(mode["execute"])
                c.close()
                return
        except OSError:
            pass
        finally:
            c.close()
    threading.Thread(target=serve, daemon=True).start()
    url = "http://127.0.0.1:%d" % ls.getsockname()[1]
    p = Proxy(["--upstream", url, "--anonymous", "1000/s", "--health-interval", "200", "--upstream-timeout", "700"])
    try:
        wait_until(lambda: p.req("GET", "/api/v2/runtimes")[2] != [], 5)
        ex = {"language": "raw", "version": "1", "files": [{"content": "x"}]}
        mode["execute"] = b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"until":"close"}'
        st, _, body = p.req("POST", "/api/v2/execute", ex)
        check(st == 200 and body == {"until": "close"}, "a body delimited by the engine closing is relayed", (st, body))
        mode["execute"] = b"garbage\r\n\r\n"
        st, _, body = p.req("POST", "/api/v2/execute", ex)
        check(st == 502 and "malformed" in body.get("message", ""), "a malformed engine answer: 502 JSON", (st, body))
        mode["execute"] = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"
        st, _, body = p.req("POST", "/api/v2/execute", ex)
        check(st == 502 and "closed" in body.get("message", ""), "an answer cut short: 502 JSON", (st, body))
        # an engine that hangs up mid-answer is marked down until its next health check
        up = lambda: p.req("GET", "/api/v2/runtimes")[2] != []  # noqa: E731
        check(wait_until(up, 5), "the health check brings the engine back")
        mode["execute"] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
        st, _, body = p.req("POST", "/api/v2/execute", ex)
        check(st == 502, "a bad chunked answer: 502", (st, body))
        mode["execute"] = b""
        wait_until(up, 5)
        st, _, body = p.req("POST", "/api/v2/execute", ex)
        check(st == 502 and "message" in body, "an engine that hangs up without answering: 502 JSON", (st, body))
        wait_until(up, 5)
        mode["execute"] = b"hang"
        t0 = time.time()
        st, _, body = p.req("POST", "/api/v2/execute", ex)
        check(st == 504 and "in time" in body.get("message", "") and time.time() - t0 < 2.5,
              "an engine that does not answer within --upstream-timeout: 504 JSON", (st, body))
        check(p.req("GET", "/")[0] == 200, "the proxy still answers")
    finally:
        ls.close()
        p.stop()


def run_suites(*suites, tally=None):
    """Runs each suite, then kills every process started here (procs),
    removes TMP, and prints tally's (default: this module's) summary; the
    proxy suites that import this module end the same way."""
    try:
        for suite in suites:
            suite()
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        subprocess.run(["rm", "-rf", TMP])
    (tally or t).done()


def main():
    run_suites(config_errors, fake_suite, raw_engine_suite, main_suite)


if __name__ == "__main__":
    main()
