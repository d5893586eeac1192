#!/usr/bin/env python3
"""Judge0 callback_url (src/judge0/j0_callback.c, judge0.c): a PUT of the result's
default fields to a real http.server on 127.0.0.1 (the engine run with
PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE=true), base64, retries with growing
gaps, a hanging receiver abandoned within the deadline while the engine
stays responsive, a 302 not followed; the delivery pool: a receiver that
accepts and never answers does not hold back a healthy one, more hanging
ones than workers all end and the healthy one behind them still arrives,
at most 2 workers per host:port and 4 in all; kill -9 mid-callback
delivered after the restart, and a try cut by SIGTERM sent again after the
restart; without the flag loopback/link-local URLs are 422 at submit and a
name resolving to loopback is refused at delivery; the delivery queue's
bound (1000 held, the rest dropped with a WARN line) with 1020 finished
submissions whose receiver never answers."""
import base64
import http.server
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import SHELL_RUN, Checker, Engine, make_package, request  # noqa: E402

DEFAULT_FIELDS = ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"]
t = Checker()
check = t.check


class Recorded:
    """What both receivers share: self.hits, a list of (path, time, ...)
    under self.lock, and waiting for a path's hits."""

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, path):
        with self.lock:
            return [h for h in self.hits if h[0] == path]

    def wait_for(self, path, n=1, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline and len(self.on(path)) < n:
            time.sleep(0.02)
        return self.on(path)


class Receiver(Recorded):
    """Records every PUT (path, time, JSON body); behaviour by path."""

    def __init__(self):
        self.hits = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.fails = {}
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):   # a redirect turned into a GET is recorded too
                self.do_PUT()

            def do_PUT(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                try:
                    body = json.loads(data)
                except ValueError:
                    body = data
                with rec.lock:
                    rec.hits.append((self.path, time.time(), body, self.headers.get("Content-Type")))
                    nfail = rec.fails.get(self.path, 0)
                    if nfail:
                        rec.fails[self.path] = nfail - 1
                code = 200
                if self.path.startswith("/fail") and nfail:
                    code = 500
                elif self.path.startswith("/hang"):
                    time.sleep(20)
                elif self.path.startswith("/hold"):
                    rec.release.wait(60)
                elif self.path.startswith("/redirect"):
                    self.send_response(302 if self.path == "/redirect302" else 307)
                    self.send_header("Location", "/target")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()


class Gauge:
    """The connections open at once over a group of Silent receivers, and
    the most seen, in all and per receiver. A connection counts as closed as
    soon as the engine's FIN has arrived (looked at when the next one is
    accepted), not when its reading thread gets to run: the engine closes a
    try before it connects for the next one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = {}   # socket -> receiver
        self.max = 0
        self.max_per = {}

    def opened(self, c, receiver):
        with self.lock:
            for o in list(self.open):
                try:
                    if select.select([o], [], [], 0)[0] and o.recv(1, socket.MSG_PEEK) == b"":
                        del self.open[o]
                except (OSError, ValueError):   # closed meanwhile by its thread
                    self.open.pop(o, None)
            self.open[c] = receiver
            self.max = max(self.max, len(self.open))
            n = sum(1 for r in self.open.values() if r is receiver)
            self.max_per[receiver] = max(self.max_per.get(receiver, 0), n)

    def closed(self, c):
        with self.lock:
            self.open.pop(c, None)


class Silent(Recorded):
    """A receiver that accepts and never answers: it reads the request and
    keeps the connection until the engine drops it (its try's timeout).
    Records (path, time) per connection in self.hits."""

    def __init__(self, gauge):
        self.gauge = gauge
        self.lock = threading.Lock()
        self.hits = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.gauge.opened(c, self)
            threading.Thread(target=self._hold, args=(c,), daemon=True).start()

    def _hold(self, c):
        data = b""
        c.settimeout(30)   # bounded: the engine's try drops it after 3 s
        try:
            while b"\r\n" not in data:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            parts = data.split(b" ")
            with self.lock:
                self.hits.append((parts[1].decode() if len(parts) > 1 else "?", time.time()))
            while c.recv(4096):
                pass
        except OSError:
            pass
        finally:
            self.gauge.closed(c)
            c.close()

    def max_at_once(self):
        with self.gauge.lock:
            return self.gauge.max_per.get(self, 0)

    def close(self):
        self.sock.close()


def fulllog(e):
    e.log.flush()
    with open(e.log.name) as f:
        return f.read()


def wait_log(e, texts, timeout):
    """Whether every one of texts appears in the engine's log within timeout seconds."""
    deadline = time.time() + timeout
    while True:
        log = fulllog(e)
        if all(x in log for x in texts):
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.1)


def given_up(tok):
    return "callback for %s not delivered" % tok


def submit(e, body, query=""):
    return e.request("POST", "/submissions" + query, body)


def delivery(e, r):
    st, res = submit(e, {"source_code": "echo hi; echo oops >&2", "language_id": 46,
                         "callback_url": r.url("/ok")})
    check(st == 201, "submit with callback_url: 201", (st, res))
    tok = res.get("token")
    hits = r.wait_for("/ok")
    check(len(hits) == 1, "one PUT received", hits)
    if not hits:
        return
    body, ctype = hits[0][2], hits[0][3]
    check(isinstance(body, dict) and sorted(body) == sorted(DEFAULT_FIELDS), "the default fields", body)
    check(ctype == "application/json", "Content-Type application/json", ctype)
    check(body.get("token") == tok and body.get("status") == {"id": 3, "description": "Accepted"}
          and body.get("stdout") == "hi\n" and body.get("stderr") == "oops\n", "token, status 3, stdout, stderr",
          body)
    check(re.match(r"^\d+\.\d{3}$", body.get("time") or "") and isinstance(body.get("memory"), int),
          "time a string of seconds, memory an integer", body)
    st, g = e.request("GET", "/submissions/%s" % tok)
    check(st == 200 and g == body, "the same as GET /submissions/{token}", (g, body))
    # base64
    st, res = submit(e, {"source_code": base64.b64encode(b"printf '\\377x'").decode(), "language_id": 46,
                         "callback_url": r.url("/b64")}, "?base64_encoded=true")
    hits = r.wait_for("/b64")
    check(st == 201 and len(hits) == 1 and hits[0][2].get("stdout") == base64.b64encode(b"\xffx").decode(),
          "base64_encoded=true: the callback's stdout is base64", hits)


def retries(e, r):
    r.fails["/fail2"] = 2
    submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": r.url("/fail2")})
    hits = r.wait_for("/fail2", 3, timeout=20)
    time.sleep(0.5)
    hits = r.on("/fail2")
    check(len(hits) == 3, "a receiver failing twice (500) gets 3 tries", len(hits))
    st, m = e.request("GET", "/metrics")
    m = m.decode() if isinstance(m, bytes) else str(m)
    check('piston_judge0_callbacks_total{result="delivered"} 3' in m, "metrics: 3 callbacks delivered",
          [ln for ln in m.splitlines() if "callbacks" in ln])
    if len(hits) == 3:
        g1, g2 = hits[1][1] - hits[0][1], hits[2][1] - hits[1][1]
        print("gaps between tries: %.2f s, %.2f s" % (g1, g2))
        check(0.9 <= g1 < 1.8 and 1.9 <= g2 < 3.0 and g2 > g1, "growing gaps (1 s, 2 s)", (g1, g2))


def hang_and_redirect(e, r):
    start = time.time()
    st, res = submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": r.url("/hang")})
    check(st == 201, "submit with a hanging callback_url: 201", (st, res))
    hang_tok = res.get("token")
    r.wait_for("/hang", 1)
    # the engine answers meanwhile
    t0 = time.time()
    st, res = e.execute({"language": "bash", "version": "*", "files": [{"content": "echo alive"}]})
    dt = time.time() - t0
    print("execute while a callback hangs: %.3f s" % dt)
    check(st == 200 and res["run"]["stdout"] == "alive\n" and dt < 1, "execute answered < 1 s meanwhile",
          (st, dt))
    for p in ("/redirect302", "/redirect307"):
        submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": r.url(p)})
    r.wait_for("/redirect307", 1, timeout=30)
    check(wait_log(e, [given_up(hang_tok)], 20), "the hanging callback is given up", fulllog(e)[-400:])
    hang = r.on("/hang")
    last = hang[-1][1] - start if hang else 0
    check(1 <= len(hang) <= 3 and last < 15, "hanging receiver: at most 3 tries, the last within 15 s",
          (len(hang), last))
    time.sleep(4)   # room for a wrongly followed redirect to arrive
    check(len(r.on("/redirect302")) >= 1 and len(r.on("/redirect307")) >= 1 and r.on("/target") == [],
          "a 302 and a 307 are not followed", (len(r.on("/redirect302")), r.on("/target")))


def start_again(e):
    """A new `piston serve` on the same data directory and port (after a kill or a stop)."""
    env = dict(os.environ)
    env.update({"PISTON_DATA_DIRECTORY": e.data, "PISTON_BIND_ADDRESS": "127.0.0.1:%d" % e.port,
                "PISTON_LOG_LEVEL": "WARN", "PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE": "true"})
    e.proc = subprocess.Popen([os.environ.get("PISTON_BIN", "./piston"), "serve"], env=env, stdout=e.log,
                              stderr=e.log)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            if request(e.port, "GET", "/")[0] == 200:
                break
        except OSError:
            time.sleep(0.05)


def hang_does_not_hold_others(e, r):
    """One receiver that accepts and never answers, then a healthy one: the
    healthy callback arrives at once (with one delivery thread it waited
    until the hanging delivery was given up, ~12 s)."""
    h = Silent(Gauge())
    _, res = submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": h.url("/silent")})
    tok = res.get("token")
    check(len(h.wait_for("/silent", 1, timeout=10)) == 1, "the silent receiver is called", h.hits)
    t0 = time.time()
    st, _ = submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": r.url("/healthy")})
    got = r.wait_for("/healthy", 1, timeout=20)
    dt = got[0][1] - t0 if got else None
    print("healthy callback while another receiver hangs: %s s" % ("%.3f" % dt if got else "never"))
    check(st == 201 and got and dt < 1.5, "the healthy callback arrives within 1.5 s while another hangs", dt)
    check(wait_log(e, [given_up(tok)], 20) and 1 <= len(h.on("/silent")) <= 3,
          "the silent one: 1 to 3 tries, then given up", len(h.on("/silent")))
    h.close()


def many_hanging(e, r):
    """7 callbacks to 3 silent receivers (3, 2 and 2 of them) > 4 workers,
    then a healthy one: at most 2 at once per receiver and 4 in all, every
    silent one tried and given up, the healthy one still delivered."""
    gauge = Gauge()
    hs = [Silent(gauge) for _ in range(3)]
    plan = [(0, "/m1"), (0, "/m2"), (0, "/m3"), (1, "/m4"), (1, "/m5"), (2, "/m6"), (2, "/m7")]
    toks = []
    for i, path in plan:
        st, res = submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": hs[i].url(path)})
        toks.append(res.get("token") if st == 201 else None)
    check(all(toks), "7 submissions with silent receivers: 201", toks)
    deadline = time.time() + 10
    while time.time() < deadline and gauge.max < 4:
        time.sleep(0.02)
    t0 = time.time()
    st, _ = e.request("GET", "/submissions/%s" % toks[0])
    dt = time.time() - t0
    check(st == 200 and dt < 1, "GET /submissions answered < 1 s while all workers wait", (st, dt))
    submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": r.url("/after-silent")})
    got = r.wait_for("/after-silent", 1, timeout=40)
    print("healthy callback behind 7 hanging ones: %s s" % ("%.1f" % (got[0][1] - t0) if got else "never"))
    check(len(got) == 1, "the healthy callback behind 7 hanging ones (4 workers) is delivered", got)
    ended = wait_log(e, [given_up(tk) for tk in toks], 60)
    check(ended, "all 7 hanging callbacks are given up", fulllog(e)[-600:])
    tries = [len(hs[i].on(path)) for i, path in plan]
    check(all(1 <= n <= 3 for n in tries), "each hanging callback: 1 to 3 tries", tries)
    check(gauge.max == 4, "4 deliveries at once (the pool), never more", gauge.max)
    per = [h.max_at_once() for h in hs]
    check(all(n <= 2 for n in per) and per[0] == 2, "at most 2 at once to one host:port (2 with 3 queued)", per)
    for h in hs:
        h.close()


def sigterm(e):
    """SIGTERM and wait for the exit (killed after 20 s); the seconds it took."""
    t0 = time.time()
    e.proc.send_signal(signal.SIGTERM)
    try:
        e.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        e.proc.kill()
        e.proc.wait()
    return time.time() - t0


def shutdown_keeps_pending(e):
    """SIGTERM while a try hangs: the engine exits within one try's time and
    the cut callback, still pending in the journal, is sent after the restart."""
    h = Silent(Gauge())
    submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": h.url("/cut")})
    check(len(h.wait_for("/cut", 1, timeout=10)) == 1, "the silent receiver is called before the stop", h.hits)
    dt = sigterm(e)
    print("SIGTERM with a callback try hanging: exit after %.2f s" % dt)
    check(e.proc.returncode == 0 and dt < 5 and "Sanitizer" not in fulllog(e),
          "the engine exits 0 within one try's time (3 s), no sanitizer report", (e.proc.returncode, dt))
    n = len(h.on("/cut"))
    start_again(e)
    got = h.wait_for("/cut", n + 1, timeout=15)
    check(len(got) > n, "a callback cut by SIGTERM is sent again after the restart", (n, len(got)))
    h.close()


def stopped_clean(e, what):
    """SIGTERM: exit 0 and no sanitizer report in the log (an ASan build
    exits non-zero on a leak, e.g. a delivery not freed at shutdown)."""
    sigterm(e)
    log = fulllog(e)
    check(e.proc.returncode == 0 and "Sanitizer" not in log, what + ": exits 0, no sanitizer report",
          (e.proc.returncode, log[-1500:]))


def kill9(e, r):
    submit(e, {"source_code": "echo survived", "language_id": 46, "callback_url": r.url("/hold")})
    got = r.wait_for("/hold", 1)
    check(len(got) == 1, "the held callback arrived once before the kill", got)
    e.proc.send_signal(signal.SIGKILL)
    e.proc.wait()
    r.release.set()   # the old connection is gone; the next answer is 200
    start_again(e)
    got = r.wait_for("/hold", 2, timeout=20)
    check(len(got) >= 2 and got[-1][2].get("stdout") == "survived\n",
          "kill -9 mid-callback: delivered again after the restart", [(h[0], h[2]) for h in got])
    time.sleep(1)   # the 200 reaches the engine, which journals the delivery
    n = len(r.on("/hold"))
    # delivered now (journaled "c"): a second restart sends nothing more
    e.proc.send_signal(signal.SIGTERM)
    e.proc.wait()
    start_again(e)
    time.sleep(3)
    check(len(r.on("/hold")) == n, "a delivered callback is not sent again after a restart", len(r.on("/hold")))


def no_private(r, pkgs):
    e = Engine(link_packages=pkgs, packages=False)
    try:
        for url in ["ftp://x", "http://127.0.0.1:%d/np" % r.port, "http://169.254.169.254/", "http://[::1]/",
                    "http://[::ffff:127.0.0.1]:%d/np" % r.port, "http://x/" + "a" * 2100, "nope"]:
            st, res = submit(e, {"source_code": "echo", "language_id": 46, "callback_url": url})
            check(st == 422 and isinstance(res, dict) and list(res) == ["callback_url"], "422 for " + url[:40],
                  (st, res))
        # a name resolving to loopback passes the submit check and is refused at delivery
        st, res = submit(e, {"source_code": "echo", "language_id": 46,
                             "callback_url": "http://localhost:%d/np" % r.port})
        check(st == 201, "a name is accepted at submit", (st, res))
        deadline = time.time() + 15
        while time.time() < deadline and "refused" not in e.logtext():
            time.sleep(0.1)
        time.sleep(0.5)
        check("refused" in e.logtext() and r.on("/np") == [], "localhost refused at delivery, nothing sent",
              e.logtext()[-400:])
        st, m = e.request("GET", "/metrics")
        m = m.decode() if isinstance(m, bytes) else str(m)
        check('piston_judge0_callbacks_total{result="failed"} 1' in m, "metrics: one failed callback",
              [ln for ln in m.splitlines() if "callbacks" in ln])
        st, c = e.request("GET", "/config_info")
        check(c.get("enable_callbacks") is True and c.get("callbacks_max_tries") == 3, "config_info", c)
        stopped_clean(e, "without the flag")
    finally:
        e.stop()


def queue_bound(pkgs):
    """More finished submissions with a callback than the delivery queue
    holds (J0CB_MAX_QUEUED, 1000): every callback goes to one receiver that
    never answers, so none ends for about 12 s and the queue fills. 1020
    submissions in batches of 20: the 20 beyond the bound are dropped with a
    WARN line each (fewer if some deliveries were given up meanwhile, as
    under emulation), never more; the engine keeps answering; SIGTERM with
    1000 callbacks held exits 0 within one try's time."""
    h = Silent(Gauge())
    e = Engine(link_packages=pkgs, packages=False, env={"PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE": "true"})
    try:
        n, toks, refused = 1020, [], 0
        t0 = time.time()
        for b in range(n // 20):
            batch = [{"source_code": "echo %d" % (b * 20 + i), "language_id": 46,
                      "callback_url": h.url("/q%d" % (b * 20 + i))} for i in range(20)]
            st, res = e.request("POST", "/submissions/batch", {"submissions": batch})
            got = [x.get("token") for x in res] if st == 201 and isinstance(res, list) else []
            refused += 20 - sum(1 for tk in got if tk)
            toks += [tk for tk in got if tk]
            deadline = time.time() + 60
            while time.time() < deadline:   # this batch finished (its callbacks enqueued) before the next
                st, r = e.request("GET", "/submissions/batch?fields=status_id&tokens=" + ",".join(got))
                if st == 200 and all(x["status_id"] > 2 for x in r["submissions"]):
                    break
                time.sleep(0.02)
        print("%d submissions with a silent callback receiver: %.1f s" % (len(toks), time.time() - t0))
        check(len(toks) == n and refused == 0, "1020 submissions in 51 batches: 201 with a token each",
              (len(toks), refused))
        log = fulllog(e)
        dropped = log.count("dropped: the queue is full")
        ended = log.count(" not delivered")
        print("callbacks dropped at the bound: %d; given up meanwhile: %d" % (dropped, ended))
        check(max(0, n - 1000 - ended) <= dropped <= n - 1000,
              "the delivery queue holds at most 1000: the rest dropped with a WARN line", (dropped, ended))
        t1 = time.time()
        st, _ = e.request("GET", "/api/v2/runtimes")
        dt = time.time() - t1
        check(st == 200 and dt < 1, "the engine answers < 1 s with 1000 callbacks held", (st, dt))
        dt = sigterm(e)
        check(e.proc.returncode == 0 and dt < 5 and "Sanitizer" not in fulllog(e),
              "SIGTERM with 1000 callbacks held: exit 0 within one try's time, no sanitizer report",
              (e.proc.returncode, dt, fulllog(e)[-800:]))
    finally:
        e.stop()
        h.close()


def main():
    import tempfile
    d = tempfile.mkdtemp(prefix="piston-j0cb-")
    pkgs = [make_package(d, "bash", "5.2.15", SHELL_RUN)]
    r = Receiver()
    e = Engine(link_packages=pkgs, packages=False, env={"PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE": "true"})
    try:
        delivery(e, r)
        retries(e, r)
        hang_and_redirect(e, r)
        hang_does_not_hold_others(e, r)
        many_hanging(e, r)
        kill9(e, r)
        shutdown_keeps_pending(e)
        stopped_clean(e, "SIGTERM with a callback try hanging, after the restart")
    finally:
        e.stop()
    no_private(r, pkgs)
    queue_bound(pkgs)
    sys.exit(t.done())


if __name__ == "__main__":
    main()
