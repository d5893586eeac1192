"""Scale-out (SPEC section 5, issue 15 part A): GET /healthz on the engine
and the proxy; the engine's drain after SIGTERM (running jobs finish and are
answered, new executes get 503, /healthz says 503, then exit 0); the proxy
routing away from a draining engine with no failed request; an engine
without /healthz still checked by its runtimes; the proxy's own drain with
--drain-delay; and `--upstream dns://NAME:PORT` against a real dnsmasq on
127.0.0.53 whose records change under load: every request answered, the new
engine gets traffic, the removed one drained. All traffic is loopback."""
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import SHELL_RUN, make_package, free_port  # noqa: E402
from harness import Tally  # noqa: E402

BIN = os.environ.get("PISTON_BIN") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "piston")
t = Tally()
check = t.check
TMP = tempfile.mkdtemp(prefix="piston-scale-test-")
procs = []


def http_req(host, port, method, path, body=None, headers=None, timeout=60):
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers = dict(headers or {}, **{"Content-Type": "application/json"})
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
        c.close()


def wait_until(fn, timeout=10, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def sh(code):
    return {"language": "shell", "version": "*", "files": [{"content": code}]}


def answers(host, port, path="/"):
    try:
        return http_req(host, port, "GET", path, timeout=2)[0] in (200, 503)
    except OSError:
        return False


class Engine:
    def __init__(self, host="127.0.0.1", port=None, packages=True, grace=None):
        self.dir = tempfile.mkdtemp(prefix="eng-", dir=TMP)
        data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(data, "packages"))
        if packages:
            make_package(data, "shell", "1.0.0", SHELL_RUN)
        self.host = host
        self.port = port or free_port()
        env = dict(os.environ, PISTON_DATA_DIRECTORY=data, PISTON_BIND_ADDRESS="%s:%d" % (host, self.port),
                   PISTON_LOG_LEVEL="INFO")
        if grace:
            env["PISTON_SHUTDOWN_GRACE"] = str(grace)
        self.log_path = os.path.join(self.dir, "log")
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "serve"], env=env, stdout=self.logf, stderr=self.logf)
        procs.append(self.proc)
        if not wait_until(lambda: self.proc.poll() is not None or answers(host, self.port), 20):
            raise RuntimeError("engine did not start: " + self.log())
        self.url = "http://%s:%d" % (host, self.port)

    def log(self):
        return open(self.log_path).read()

    def req(self, method, path, body=None, **kw):
        return http_req(self.host, self.port, method, path, body, **kw)


class Proxy:
    def __init__(self, args):
        self.port = free_port()
        self.log_path = os.path.join(TMP, "proxy-%d.log" % self.port)
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "proxy", "--bind", "127.0.0.1:%d" % self.port,
                                      "--anonymous", "10000/s:10000", "--health-interval", "300"] + args,
                                     env=dict(os.environ, PISTON_PROXY_LOG_LEVEL="INFO"),
                                     stdout=self.logf, stderr=self.logf)
        procs.append(self.proc)
        if not wait_until(lambda: self.proc.poll() is not None or answers("127.0.0.1", self.port), 20):
            raise RuntimeError("proxy did not start: " + self.log())

    def log(self):
        return open(self.log_path).read()

    def req(self, method, path, body=None, **kw):
        return http_req("127.0.0.1", self.port, method, path, body, **kw)

    def healthz(self):
        try:
            return self.req("GET", "/healthz", timeout=5)
        except OSError as e:
            return None, {}, repr(e)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ engine

class Load:
    """Four clients sending `sleep 0.3; echo ok` through the proxy p until
    stop(), which returns every (status, headers, body) answered."""

    def __init__(self, p, clients=4):
        self.p, self.stop_ev, self.results, self.lock = p, threading.Event(), [], threading.Lock()
        self.threads = [threading.Thread(target=self.client) for _ in range(clients)]
        for th in self.threads:
            th.start()

    def client(self):
        while not self.stop_ev.is_set():
            try:
                r = self.p.req("POST", "/api/v2/execute", sh("sleep 0.3; echo ok"), timeout=60)
            except OSError as ex:
                r = (-1, {}, repr(ex))
            with self.lock:
                self.results.append(r)

    def stop(self):
        self.stop_ev.set()
        for th in self.threads:
            th.join()
        return self.results


def engine_suite():
    empty = Engine(packages=False)
    st, h, b = empty.req("GET", "/healthz")
    check(st == 503 and b.get("status") == "no_runtime" and "No runtime" in b.get("message", ""),
          "engine without a runtime: /healthz 503 no_runtime", (st, b))
    stop(empty.proc)

    e = Engine(grace=20000)
    st, h, b = e.req("GET", "/healthz")
    check(st == 200 and b == {"status": "ok", "runtimes": 1} and h.get("content-type") == "application/json",
          "engine with a runtime: /healthz 200 ok", (st, b))
    st, _, b = e.req("POST", "/api/v2/execute", sh("echo hi"))
    if st != 200 or b.get("run", {}).get("stdout") != "hi\n":
        t.skip("engine drain with a running job", "jobs do not run here: %s %s" % (st, b))
        stop(e.proc)
        return
    result = {}
    worker = threading.Thread(target=lambda: result.update(r=e.req("POST", "/api/v2/execute",
                                                                     sh("sleep 2; echo finished"))))
    worker.start()
    time.sleep(0.7)
    t0 = time.time()
    e.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    st, h, b = e.req("GET", "/healthz")
    check(st == 503 and b.get("status") == "draining", "SIGTERM: /healthz 503 draining while the job runs",
          (st, b))
    st, h, b = e.req("POST", "/api/v2/execute", sh("echo new"))
    check(st == 503 and h.get("x-piston-draining") == "1" and "shutting down" in b.get("message", ""),
          "SIGTERM: a new execute is refused with 503, X-Piston-Draining and a clear message", (st, h, b))
    st, h, b = e.req("GET", "/api/v2/connect", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                       "Sec-WebSocket-Version": "13",
                                                       "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    check(st == 503 and h.get("x-piston-draining") == "1", "SIGTERM: a new WebSocket is refused the same way", (st, h))
    rc = e.proc.wait(30)
    worker.join(30)
    took = time.time() - t0
    st, b = result.get("r", (None, None, None))[0], result.get("r", (None, None, None))[2]
    check(st == 200 and b["run"]["stdout"] == "finished\n", "the running job finishes and is answered", (st, b))
    check(rc == 0 and took < 10, "then the engine exits 0 (%.1f s after SIGTERM)" % took, rc)


# ------------------------------------------------------------------- proxy

class LegacyEngine(http.server.BaseHTTPRequestHandler):
    """An engine older than /healthz: 404 there, runtimes and execute work."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/api/v2/runtimes":
            self.reply(200, [{"language": "legacy", "version": "1.0.0", "aliases": []}])
        else:
            self.reply(404, {"message": "Not found"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.reply(200, {"run": {"stdout": "legacy\n"}})


def proxy_suite():
    p = Proxy(["--upstream", "http://127.0.0.1:1"])
    st, _, b = p.healthz()
    check(st == 503 and b.get("status") == "no_engine", "proxy with no engine up: /healthz 503 no_engine", (st, b))
    p.stop()

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LegacyEngine)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    p = Proxy(["--upstream", "http://127.0.0.1:%d" % srv.server_address[1]])
    ok = wait_until(lambda: p.healthz()[0] == 200, 10)
    st, _, b = p.req("POST", "/api/v2/execute", {"language": "legacy", "version": "*", "files": []})
    check(ok and st == 200 and b["run"]["stdout"] == "legacy\n",
          "an engine without /healthz (404) is checked by its runtimes and used", (st, b))
    p.stop()
    srv.shutdown()

    e1, e2 = Engine(grace=30000), Engine(grace=30000)
    p = Proxy(["--upstream", e1.url, "--upstream", e2.url, "--drain-delay", "1500"])
    ok = wait_until(lambda: p.healthz()[0] == 200 and p.healthz()[2].get("engines_up") == 2, 10)
    check(ok, "proxy with two engines up: /healthz 200 ok", p.healthz())
    st, _, b = p.req("POST", "/api/v2/execute", sh("echo hi"))
    if st != 200:
        t.skip("proxy routes away from a draining engine", "jobs do not run here: %s %s" % (st, b))
        return
    # steady load; e1 gets SIGTERM with jobs running on it
    load = Load(p)
    time.sleep(1.5)
    # a 2 s job straight on e1 keeps its drain longer than a few health
    # checks (300 ms), however fast or slow the machine runs the load's jobs
    slow = []
    slow_th = threading.Thread(target=lambda: slow.append(e1.req("POST", "/api/v2/execute", sh("sleep 2; echo ok"))))
    slow_th.start()
    wait_until(lambda: "sleep 2" in subprocess.run(["pgrep", "-af", "sleep 2"], capture_output=True,
                                                     text=True).stdout, 10)
    e1.proc.send_signal(signal.SIGTERM)
    rc1 = e1.proc.wait(30)
    slow_th.join(30)
    time.sleep(1.5)
    results = load.stop()
    bad = [r for r in results if r[0] != 200 or r[2]["run"]["stdout"] != "ok\n"]
    check(len(results) > 10 and not bad,
          "engine drained under load: no request failed (%d answered, %d failed)" % (len(results), len(bad)), bad[:3])
    check(rc1 == 0, "the draining engine exited 0 after its jobs", rc1)
    check(slow and slow[0][0] == 200 and slow[0][2]["run"]["stdout"] == "ok\n",
          "the job running on the engine at SIGTERM was answered", slow)
    check("draining" in p.log(), "the proxy logged the engine as draining", p.log()[-2000:])
    st, _, b = p.healthz()
    check(st == 200 and b.get("engines_up") == 1, "proxy /healthz: still ok with one engine", (st, b))

    # the proxy's own drain: /healthz 503 while it still serves for --drain-delay
    p.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    st, _, b = p.healthz()
    check(st == 503 and b.get("status") == "draining", "proxy SIGTERM: /healthz 503 draining", (st, b))
    st2, _, b2 = p.req("POST", "/api/v2/execute", sh("echo still"))
    check(st2 == 200 and b2["run"]["stdout"] == "still\n", "and it still serves during --drain-delay", (st2, b2))
    rc = p.proc.wait(20)
    check(rc == 0, "then the proxy exits 0", rc)
    stop(e2.proc)


# --------------------------------------------------------------------- dns

def metric(p, admin, name, engine):
    try:
        st, _, body = p.req("GET", "/metrics", headers={"Authorization": "Bearer " + admin}, timeout=5)
    except OSError:
        return None
    m = re.search(r'^%s\{engine="%s"\} (\d+)$' % (name, re.escape(engine)), body.decode(), re.M)
    return int(m.group(1)) if m else None


def dns_suite():
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(dnsmasq):
        t.skip("dns:// discovery", "dnsmasq is not installed (make deps installs it)")
        return
    dns_port = free_port()
    hosts = os.path.join(TMP, "hosts")
    name = "engines.piston.test"
    port = free_port()
    addrs = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    try:
        engines = {a: Engine(host=a, port=port, grace=30000) for a in addrs}
    except (RuntimeError, OSError) as ex:
        t.skip("dns:// discovery", "cannot bind engines on 127.0.0.x: %s" % ex)
        return

    def set_hosts(which, later=()):
        with open(hosts + ".new", "w") as f:
            for a in which:
                f.write("%s %s\n" % (a, name))
            for a in later:
                f.write("%s later.piston.test\n" % a)
        os.chmod(hosts + ".new", 0o644)
        os.rename(hosts + ".new", hosts)
    set_hosts(addrs[:2])
    os.chmod(TMP, 0o755)
    dlog = open(os.path.join(TMP, "dnsmasq.log"), "w")
    dm = subprocess.Popen([dnsmasq, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                           "--addn-hosts=" + hosts, "--listen-address=127.0.0.53", "--bind-interfaces",
                           "--port=%d" % dns_port, "--local-ttl=1", "--local=/piston.test/", "--user=root",
                           "--pid-file=", "--log-facility=-"], stdout=dlog, stderr=dlog)
    procs.append(dm)
    time.sleep(0.5)
    if dm.poll() is not None:
        t.skip("dns:// discovery", "dnsmasq did not start: " + open(os.path.join(TMP, "dnsmasq.log")).read())
        return

    keys = os.path.join(TMP, "keys")
    out = subprocess.run([BIN, "proxy", "keygen", "ops", "--role", "admin", "--rate", "1000/s"],
                         capture_output=True, text=True, check=True)
    admin, line = out.stdout.splitlines()
    with open(keys, "w") as f:
        f.write(line + "\n")
    p = Proxy(["--upstream", "dns://%s:%d" % (name, port), "--dns-server", "127.0.0.53:%d" % dns_port,
               "--keys", keys])
    url = {a: "http://%s:%d" % (a, port) for a in addrs}
    ok = wait_until(lambda: p.healthz()[2].get("engines_up") == 2 if p.healthz()[0] == 200 else False, 15)
    check(ok, "dns://: both engines of the name are found and up", (p.healthz(), p.log()[-1500:]))
    check(metric(p, admin, "piston_proxy_engine_up", url[addrs[2]]) is None,
          "the engine not in DNS is not used")

    load = Load(p)
    time.sleep(1.5)
    before = metric(p, admin, "piston_proxy_engine_requests_total", url[addrs[0]]) or 0
    set_hosts(addrs[1:])   # .11 leaves, .13 joins
    dm.send_signal(signal.SIGHUP)
    t0 = time.time()
    joined = wait_until(lambda: (metric(p, admin, "piston_proxy_engine_requests_total", url[addrs[2]]) or 0) > 0, 15)
    t_join = time.time() - t0
    left = wait_until(lambda: "drained and released" in p.log(), 15)
    t_left = time.time() - t0
    time.sleep(1.5)
    results = load.stop()
    bad = [r for r in results if r[0] != 200 or r[2]["run"]["stdout"] != "ok\n"]
    check(len(results) > 10 and not bad,
          "dns:// records changed under load: every request answered (%d, %d failed)" % (len(results), len(bad)),
          bad[:3])
    check(joined, "the engine added to DNS gets traffic (%.1f s after SIGHUP)" % t_join, p.log()[-1500:])
    check(left and metric(p, admin, "piston_proxy_engine_up", url[addrs[0]]) is None,
          "the engine removed from DNS is drained and released (%.1f s, it had %d requests)" % (t_left, before),
          p.log()[-1500:])
    st, _, stats = engines[addrs[0]].req("GET", "/api/v2/stats")
    n_after = metric(p, admin, "piston_proxy_engine_requests_total", url[addrs[2]]) or 0
    check(n_after > 0, "the new engine served %d requests" % n_after)
    st, _, body = p.req("GET", "/metrics", headers={"Authorization": "Bearer " + admin})
    check(re.search(r'piston_proxy_dns_lookups_total\{name="%s",result="ok"\} [1-9]' % re.escape(name),
                    body.decode()) is not None, "metrics count the DNS lookups")

    # a name with no records yet (a headless Service before its pods): found
    # soon after it gets one, not after the longest TTL (30 s)
    p2 = Proxy(["--upstream", "dns://later.piston.test:%d" % port, "--dns-server", "127.0.0.53:%d" % dns_port])
    time.sleep(1.5)
    check(p2.healthz()[0] == 503, "dns:// name without records: the proxy has no engine (503)", p2.healthz())
    set_hosts(addrs[1:], later=addrs[2:])
    dm.send_signal(signal.SIGHUP)
    t0 = time.time()
    ok = wait_until(lambda: p2.healthz()[0] == 200, 15)
    took = time.time() - t0
    check(ok and took < 5, "a name that gets its first record is found within 5 s (%.1f s)" % took, p2.log()[-1500:])
    check(p2.stop() == 0, "second proxy exits 0")

    # DNS goes away: the engines stay (a DNS hiccup drains nothing)
    dm.kill()
    dm.wait()
    time.sleep(3)
    st, _, b = p.req("POST", "/api/v2/execute", sh("echo still"))
    check(st == 200 and b["run"]["stdout"] == "still\n" and "DNS lookup of %s" % name in p.log(),
          "nameserver gone: a WARN, and the engines found before keep serving", (st, b))
    check(p.stop() == 0, "proxy exits 0")
    for e in engines.values():
        stop(e.proc)


def config_suite():
    r = subprocess.run([BIN, "proxy", "--upstream", "dns://bad..name:80", "--anonymous", "1/s"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "not a valid host name" in r.stderr, "dns:// with a bad name: a clear error", r.stderr)
    r = subprocess.run([BIN, "proxy", "--upstream", "dns://name", "--anonymous", "1/s"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "dns://NAME:PORT" in r.stderr, "dns:// without a port: a clear error", r.stderr)
    r = subprocess.run([BIN, "proxy", "--upstream", "dns://a.b:80", "--dns-server", "nonsense", "--anonymous", "1/s"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 1 and "--dns-server" in r.stderr, "a bad --dns-server: a clear error", r.stderr)


def main():
    try:
        config_suite()
        engine_suite()
        proxy_suite()
        dns_suite()
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
        subprocess.run(["rm", "-rf", TMP])
    t.done()


if __name__ == "__main__":
    main()
