#!/usr/bin/env python3
"""Judge0 callback_url (src/judge0/j0_callback.c, judge0.c): a PUT of the result's
default fields to a real http.server on 127.0.0.1 (the engine run with
PISTON_JUDGE0_CALLBACK_ALLOW_PRIVATE=true), base64, retries with growing
gaps, a hanging receiver abandoned within the deadline while the engine
stays responsive, a 302 not followed, kill -9 mid-callback delivered after
the restart; without the flag loopback/link-local URLs are 422 at submit
and a name resolving to loopback is refused at delivery."""
import base64
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import SHELL_RUN, Checker, Engine, make_package, request  # noqa: E402

DEFAULT_FIELDS = ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"]
t = Checker()
check = t.check


class Receiver:
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

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def on(self, path):
        with self.lock:
            return [h for h in self.hits if h[0] == path]

    def wait_for(self, path, n=1, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.on(path)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return self.on(path)


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
    submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": r.url("/hang")})
    r.wait_for("/hang", 1)
    # the engine answers meanwhile
    t0 = time.time()
    st, res = e.execute({"language": "bash", "version": "*", "files": [{"content": "echo alive"}]})
    dt = time.time() - t0
    print("execute while a callback hangs: %.3f s" % dt)
    check(st == 200 and res["run"]["stdout"] == "alive\n" and dt < 1, "execute answered < 1 s meanwhile",
          (st, dt))
    # the redirect is queued behind the hanging one (one delivery thread)
    for p in ("/redirect302", "/redirect307"):
        submit(e, {"source_code": "echo x", "language_id": 46, "callback_url": r.url(p)})
    r.wait_for("/redirect307", 1, timeout=30)
    hang = r.on("/hang")
    last = hang[-1][1] - start if hang else 0
    check(1 <= len(hang) <= 3 and last < 15, "hanging receiver: at most 3 tries, the last within 15 s",
          (len(hang), last))
    deadline = time.time() + 20
    while time.time() < deadline and "callback for" not in e.logtext():
        time.sleep(0.1)
    time.sleep(4)   # room for a wrongly followed redirect to arrive
    check(len(r.on("/redirect302")) >= 1 and len(r.on("/redirect307")) >= 1 and r.on("/target") == [],
          "a 302 and a 307 are not followed", (len(r.on("/redirect302")), r.on("/target")))


def kill9(e, r):
    submit(e, {"source_code": "echo survived", "language_id": 46, "callback_url": r.url("/hold")})
    got = r.wait_for("/hold", 1)
    check(len(got) == 1, "the held callback arrived once before the kill", got)
    e.proc.send_signal(signal.SIGKILL)
    e.proc.wait()
    r.release.set()   # the old connection is gone; the next answer is 200
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
    got = r.wait_for("/hold", 2, timeout=20)
    check(len(got) >= 2 and got[-1][2].get("stdout") == "survived\n",
          "kill -9 mid-callback: delivered again after the restart", [(h[0], h[2]) for h in got])
    time.sleep(1)   # the 200 reaches the engine, which journals the delivery
    n = len(r.on("/hold"))
    # delivered now (journaled "c"): a second restart sends nothing more
    e.proc.send_signal(signal.SIGTERM)
    e.proc.wait()
    e.proc = subprocess.Popen([os.environ.get("PISTON_BIN", "./piston"), "serve"], env=env, stdout=e.log,
                              stderr=e.log)
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
    finally:
        e.stop()


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
        kill9(e, r)
    finally:
        e.stop()
    no_private(r, pkgs)
    sys.exit(t.done())


if __name__ == "__main__":
    main()
