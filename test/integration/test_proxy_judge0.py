"""The Judge0 API through `piston proxy` (src/proxy/proxy_judge0.c): two real
engines (busybox sh as Judge0's bash, id 46) behind a proxy with a keys
file. Keys (X-Auth-Token or Authorization; missing/bad: 401), a batch
costing one token per submission, async submissions spread over both
engines with every token answering its own result through the proxy, a
SECOND proxy (which never saw the POSTs) still finding each token's engine,
batch GET across both engines in the client's order, unknown tokens 404,
wait=true, and Judge0's limit fields clamped to the proxy's maximums.
list_suite: GET /submissions through the proxy lists both engines'
submissions merged newest first (meta over both counts, paging across
engine pages, fields and base64_encoded, the client's 400s, the rate limit,
an engine that is down or does not list)."""
import base64
import http.server
import json
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_proxy as tp  # noqa: E402  (its Proxy, RealEngine, keygen helpers; main() not run)
from exec_fixture import CC_COMPILE, CC_RUN, SHELL_RUN  # noqa: E402

t = tp.t
check = t.check


def key_file(name, *lines):
    """A proxy --keys file in the suite's temporary directory, one key line each."""
    path = os.path.join(tp.TMP, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def req(p, method, path, body=None, token=None, bearer=None, **kw):
    h = {}
    if token is not None:
        h["X-Auth-Token"] = token
    if bearer is not None:
        h["Authorization"] = "Bearer " + bearer
    return p.req(method, path, body, headers=h, **kw)


def poll(p, token, key, fields="", timeout=30):
    deadline = time.time() + timeout
    while True:
        st, h, r = req(p, "GET", "/submissions/%s%s" % (token, fields), token=key)
        if st != 200 or not isinstance(r, dict) or r.get("status", {}).get("id", 0) > 2 or time.time() > deadline:
            return st, r
        time.sleep(0.05)


def sub(code, **extra):
    d = {"source_code": code, "language_id": 46}
    d.update(extra)
    return d


def holder(engines, token):
    """Which engine (index) answers 200 for token, asked directly."""
    return [i for i, e in enumerate(engines) if tp.http_req(e.port, "GET", "/submissions/" + token)[0] == 200]


def metric(p, admin, name):
    st, h, body = req(p, "GET", "/metrics", bearer=admin)
    text = body.decode() if isinstance(body, bytes) else str(body)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(line.split()[1])
    return -1


def main_suite():
    bash = ("bash", "5.2.15", {"run": SHELL_RUN})
    cc = ("c", "13.2.0", {"run": CC_RUN, "compile_script": CC_COMPILE})
    allow = {"PISTON_JUDGE0_ALLOW_DELETE": "true"}
    engines = [tp.RealEngine([bash], allow), tp.RealEngine([bash, cc], allow)]   # only the second has C (Judge0 id 50)
    key, line = tp.keygen("judge", "--rate", "1000/s", "--burst", "1000")
    bkey, bline = tp.keygen("batcher", "--rate", "1/s", "--burst", "12")
    admin, aline = tp.keygen("root", "--role", "admin", "--rate", "1000/s", "--burst", "1000")
    keys = key_file("j0keys", line, bline, aline)
    args = ["--keys", keys, "--health-interval", "200", "--max-run-timeout", "2000", "--max-run-cpu-time", "1500",
            "--max-run-memory-limit", str(64 << 20), "--max-body-size", "65536"]
    for e in engines:
        args += ["--upstream", e.url]
    p = tp.Proxy(args)
    p2 = None
    try:
        tp.wait_until(lambda: len(req(p, "GET", "/api/v2/runtimes", token=key)[2]) == 2 and
                      metric(p, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[1].url) == 1, 10, 0.2)
        # keys
        st, h, r = req(p, "POST", "/submissions", sub("echo hi"))
        check(st == 401, "no key: 401", (st, r))
        st, h, r = req(p, "POST", "/submissions", sub("echo hi"), token="not-a-key")
        check(st == 401, "a bad X-Auth-Token: 401", (st, r))
        st, h, r = req(p, "GET", "/submissions/" + str(uuid.uuid4()), token="wrong")
        check(st == 401, "a bad key on a token GET: 401 (before any engine is asked)", (st, r))
        st, h, r = req(p, "POST", "/submissions", sub("echo viaheader"), token=key)
        check(st == 201 and list(r) == ["token"], "X-Auth-Token is the key: 201 with a token", (st, r))
        st, g = poll(p, r["token"], key)
        check(st == 200 and g.get("stdout") == "viaheader\n", "... and its result through the proxy", (st, g))
        st, h, r = req(p, "GET", "/languages", bearer=key)
        check(st == 200 and any(x.get("id") == 46 for x in r), "Authorization works too: GET /languages", (st, r))
        for path in ("/languages/46", "/statuses", "/about", "/config_info", "/system_info", "/workers"):
            st, h, r = req(p, "GET", path, token=key)
            check(st == 200 and isinstance(r, (dict, list)) and r, "GET %s passes through" % path, (st, r))
        st, h, r = req(p, "HEAD", "/languages", token=key, timeout=10)
        check(st == 200 and int(h.get("content-length", "0")) > 0, "HEAD /languages: the engine asked a GET", (st, h))
        st, h, r = req(p, "GET", "/submissions", token="nope")
        check(st == 401, "GET /submissions (the list) needs the key too", (st, r))
        st, h, r = req(p, "GET", "/submissions", token=key)
        check(st == 403 and "PISTON_JUDGE0_ALLOW_LIST" in r.get("error", ""),
              "GET /submissions when no engine allows the list: the engines' 403", (st, r))
        st, h, r = req(p, "POST", "/authenticate", token=key)
        check(st == 200, "POST /authenticate with a good key: 200", st)
        st, h, r = req(p, "POST", "/authenticate", token="nope")
        check(st == 401, "POST /authenticate with a bad key: 401", st)

        # async submissions spread over both engines, each token its own result
        tokens = []
        for i in range(10):
            st, h, r = req(p, "POST", "/submissions", sub("echo tok-%d" % i), token=key)
            check(st == 201 and "token" in r, "submission %d accepted" % i, (st, r))
            tokens.append(r.get("token"))
        where = [holder(engines, tk) for tk in tokens]
        check(all(len(w) == 1 for w in where), "each token is held by exactly one engine", where)
        check({w[0] for w in where if w} == {0, 1}, "the submissions spread over both engines", where)
        for i, tk in enumerate(tokens):
            st, g = poll(p, tk, key)
            check(st == 200 and g.get("stdout") == "tok-%d\n" % i and g.get("token") == tk,
                  "token %d answers its own stdout through the proxy" % i, (st, g))

        # DELETE goes to the engine holding the token (fresh submissions until one is on each engine)
        doomed = {}
        for i in range(12):
            st, h, r = req(p, "POST", "/submissions", sub("echo del-%d" % i), token=key)
            w = holder(engines, r.get("token", "x")) if st == 201 else []
            if w and w[0] not in doomed:
                doomed[w[0]] = (i, r["token"])
            if len(doomed) == 2:
                break
        check(len(doomed) == 2, "submissions to delete on both engines", doomed)
        for eng, (i, tk) in sorted(doomed.items()):
            poll(p, tk, key)
            st, h, r = req(p, "DELETE", "/submissions/" + tk, token=key)
            out = base64.b64decode(r.get("stdout") or "").decode() if st == 200 and isinstance(r, dict) else None
            check(st == 200 and out == "del-%d\n" % i, "DELETE through the proxy on engine %d: its answer" % eng,
                  (st, r))
            check(holder(engines, tk) == [], "... and engine %d no longer has it" % eng, holder(engines, tk))

        # routed by language: only engine 1 has C
        ctoks = []
        for i in range(4):
            st, h, r = req(p, "POST", "/submissions", sub("echo c-%d" % i, language_id=50), token=key)
            check(st == 201, "C submission %d accepted" % i, (st, r))
            ctoks.append(r.get("token", "x"))
        check([holder(engines, tk) for tk in ctoks] == [[1]] * 4, "C submissions all go to the engine with C",
              [holder(engines, tk) for tk in ctoks])
        for i, tk in enumerate(ctoks):
            st, g = poll(p, tk, key)
            check(st == 200 and g.get("stdout") == "c-%d\n" % i and g["status"]["id"] == 3,
                  "C token %d answers its own result" % i, g)
        st, h, r = req(p, "POST", "/submissions/batch", {"submissions": [sub("echo mix"), sub("echo cc", language_id=50)]},
                       token=key)
        check(st == 201 and [holder(engines, x.get("token", "x")) for x in r] == [[1], [1]],
              "a batch mixing bash and C goes to the engine that has both", (st, r))

        # a second proxy: it never saw the POSTs, finds every engine by asking
        p2 = tp.Proxy(args)
        tp.wait_until(lambda: metric(p2, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[0].url) == 1 and
                      metric(p2, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[1].url) == 1, 10, 0.2)
        for i, tk in enumerate(tokens):
            st, h, g = req(p2, "GET", "/submissions/" + tk, token=key)
            check(st == 200 and isinstance(g, dict) and g.get("stdout") == "tok-%d\n" % i,
                  "second proxy: token %d found on engine %s" % (i, where[i]), (st, g))
        check(metric(p2, admin, 'piston_proxy_judge0_tokens_total{event="search_found"}') == 10,
              "second proxy: the 10 tokens were found by asking the engines")
        for i, tk in enumerate(tokens[:3]):
            st, h, g = req(p2, "GET", "/submissions/" + tk, token=key)
            check(st == 200 and g.get("stdout") == "tok-%d\n" % i, "second proxy: token %d again" % i, (st, g))
        check(metric(p2, admin, 'piston_proxy_judge0_tokens_total{event="hit"}') == 3,
              "... now from its memory (3 hits, no search)")

        # batch GET: tokens from both engines, and an unknown one, in the client's order
        unknown = str(uuid.uuid4())
        order = [tokens[7], tokens[0], unknown, tokens[3], tokens[4], tokens[1]]
        expect = ["tok-7\n", "tok-0\n", None, "tok-3\n", "tok-4\n", "tok-1\n"]
        for name, px in (("first proxy", p), ("second proxy", p2)):
            st, h, r = req(px, "GET", "/submissions/batch?tokens=%s&fields=stdout,token" % ",".join(order), token=key)
            subs = r.get("submissions") if isinstance(r, dict) else None
            got = [s and s.get("stdout") for s in subs] if isinstance(subs, list) else None
            check(st == 200 and got == expect, "%s: batch GET across both engines in order, null for unknown" % name,
                  (st, r))
            check(st == 200 and [s and s.get("token") for s in subs] == [tk if x else None for tk, x in zip(order, expect)],
                  "%s: ... each entry its own token" % name, r)
        p3 = tp.Proxy(args)
        tp.wait_until(lambda: metric(p3, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[1].url) == 1 and
                      metric(p3, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[0].url) == 1, 10, 0.2)
        st, h, r = req(p3, "GET", "/submissions/batch?tokens=%s" % ",".join(order), token=key)
        got = [s and s.get("stdout") for s in r.get("submissions", [])] if isinstance(r, dict) else None
        check(st == 200 and got == expect, "a fresh proxy: batch GET asks every engine, merged in order", (st, r))
        p3.stop()

        st, h, r = req(p, "POST", "/submissions", sub("echo " + "x" * 70000), token=key)
        check(st == 413, "a body over --max-body-size: 413", (st, r))

        # unknown tokens
        st, h, r = req(p, "GET", "/submissions/" + unknown, token=key)
        check(st == 404 and r.get("error") == "Not Found", "unknown UUID: 404 after asking every engine", (st, r))
        st, h, r = req(p, "GET", "/submissions/not-a-uuid", token=key)
        check(st == 404, "a token that is not a UUID: 404", (st, r))

        # wait=true
        st, h, r = req(p, "POST", "/submissions?wait=true", sub("echo waited"), token=key)
        check(st in (200, 201) and r.get("stdout") == "waited\n" and r.get("status", {}).get("id") == 3,
              "wait=true through the proxy: the result in the answer", (st, r))
        st, h, g = req(p2, "GET", "/submissions/%s" % r.get("token"), token=key)
        check(st == 200 and g.get("stdout") == "waited\n", "... and its token found through the other proxy", (st, g))

        # limits clamped to the proxy's maximums (engine maximum: wall 3 s, so 15 unclamped is a 422)
        st, h, r = tp.http_req(engines[0].port, "POST", "/submissions", sub("echo", wall_time_limit=15))[0], None, None
        check(st == 422, "the engine alone refuses wall_time_limit 15 (its maximum is 3)", st)
        st, h, r = req(p, "POST", "/submissions", sub("echo clamped", wall_time_limit=15, cpu_time_limit="10",
                                                      memory_limit=512000), token=key)
        check(st == 201, "through the proxy the limits are clamped, not refused", (st, r))
        st, g = poll(p, r.get("token"), key, "?fields=stdout,wall_time_limit,cpu_time_limit,memory_limit,status")
        check(st == 200 and g.get("wall_time_limit") == 2 and g.get("cpu_time_limit") == 1.5 and
              g.get("memory_limit") == 65536 and g.get("stdout") == "clamped\n",
              "wall 15 -> 2 s, cpu 10 -> 1.5 s, memory 512000 -> 65536 KB", g)
        st, h, r = req(p, "POST", "/submissions/batch", {"submissions": [sub("echo b0"), sub("echo b1", wall_time_limit=9)]},
                       token=key)
        check(st == 201 and all("token" in x for x in r), "a batch's submissions are clamped each", (st, r))
        st, g = poll(p, r[1].get("token") if isinstance(r, list) and len(r) > 1 else "x", key,
                     "?fields=wall_time_limit,stdout,status")
        check(st == 200 and g.get("wall_time_limit") == 2 and g.get("stdout") == "b1\n", "... the second too", g)

        # cost: a 10-submission batch takes 10 tokens
        batch = {"submissions": [sub("echo batch-%d" % i) for i in range(10)]}
        st, h, r = req(p, "POST", "/submissions/batch", batch, token=bkey)
        check(st == 201 and isinstance(r, list) and len(r) == 10, "a batch of 10 is accepted", (st, r))
        check(int(h.get("ratelimit-remaining", -1)) == 2, "... and costs 10 of the 12 tokens",
              h.get("ratelimit-remaining"))
        st2, h2, r2 = req(p, "POST", "/submissions/batch", {"submissions": [sub("echo x")] * 3}, token=bkey)
        check(st2 == 429 and "retry-after" in h2 and "costs 3 tokens" in r2.get("message", ""),
              "a batch of 3 right after: 429 naming its cost", (st2, r2))
        st2, h2, r2 = req(p, "POST", "/submissions", sub("echo runs", number_of_runs=2), token=bkey)
        check(st2 == 201 and int(h2.get("ratelimit-remaining", -1)) == 0, "number_of_runs 2 costs 2 tokens",
              (st2, h2.get("ratelimit-remaining")))
        st2, h2, r2 = req(p, "GET", "/submissions/batch?tokens=" + ",".join(x["token"] for x in r), token=key)
        outs = [s and s.get("stdout") for s in r2.get("submissions", [])] if isinstance(r2, dict) else None
        deadline = time.time() + 30
        while st2 == 200 and outs and None in outs and time.time() < deadline:
            time.sleep(0.1)
            st2, h2, r2 = req(p, "GET", "/submissions/batch?tokens=" + ",".join(x["token"] for x in r), token=key)
            outs = [s and s.get("stdout") for s in r2.get("submissions", [])]
        check(outs == ["batch-%d\n" % i for i in range(10)], "the batch's results, in order", r2)
        check(metric(p, admin, 'piston_proxy_judge0_requests_total{route="batch_submit"}') >= 2,
              "per-route metrics count the batches")

        # an engine down: its tokens are 503 (it may hold them), not a false 404; the other's still answer
        on0 = [tk for tk, w in zip(tokens, where) if w == [0]]
        on1 = [tk for tk, w in zip(tokens, where) if w == [1]]
        engines[0].proc.kill()
        engines[0].proc.wait()
        tp.wait_until(lambda: metric(p, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[0].url) == 0, 10, 0.1)
        st, h, r = req(p, "GET", "/submissions/" + on0[0], token=key)
        check(st == 503, "a token of the engine that is down: 503", (st, r))
        st, h, r = req(p, "GET", "/submissions/" + str(uuid.uuid4()), token=key)
        check(st == 503, "an unknown token while an engine is down: 503, not 404", (st, r))
        st, h, r = req(p, "GET", "/submissions/" + on1[0], token=key)
        check(st == 200 and r.get("token") == on1[0], "a token of the engine that is up still answers", (st, r))
        st, h, r = req(p, "POST", "/submissions", sub("echo still"), token=key)
        check(st == 201 and holder(engines[1:], r.get("token", "x")) == [0], "new submissions go to the engine left",
              (st, r))
    finally:
        p.stop()
        if p2:
            p2.stop()


def direct_list(e, fields="token,created_at"):
    """Every submission on engine e, asked directly, newest first."""
    out, page = [], 1
    while True:
        st, h, r = tp.http_req(e.port, "GET", "/submissions?per_page=100&page=%d&fields=%s" % (page, fields))
        if st != 200:
            raise RuntimeError("engine list: %s %s" % (st, r))
        out += r["submissions"]
        if r["meta"]["next_page"] is None:
            return out
        page += 1


def proxy_list(p, key, query):
    st, h, r = req(p, "GET", "/submissions?" + query, token=key)
    subs = r.get("submissions") if st == 200 and isinstance(r, dict) else None
    return st, h, r, subs


SHIFTED = [{"token": str(uuid.UUID(int=i + 1)), "created_at": "2026-01-01T00:%02d:%02d.000Z" % divmod(300 - i, 60),
            "stdout": "fake-%d" % i} for i in range(151)]


class ListFake(http.server.BaseHTTPRequestHandler):
    """A healthy engine (it lists bash) whose GET /submissions goes wrong
    as its server's `mode` says: 500, a 200 that is not JSON, or too slow;
    or "shifting": 151 entries, page 2 (of 100) answered as if one more had
    been submitted after page 1 (its first entry is page 1's last)."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        mode = self.server.mode
        if self.path == "/api/v2/runtimes":
            code, b = 200, json.dumps([{"language": "bash", "version": "5.2.15", "aliases": []}]).encode()
        elif self.path.startswith("/submissions?") and mode == "error":
            code, b = 500, b'{"error":"boom"}'
        elif self.path.startswith("/submissions?") and mode == "garbage":
            code, b = 200, b"<html>not a list</html>"
        elif self.path.startswith("/submissions?") and mode == "slow":
            time.sleep(3)
            code, b = 200, b'{"submissions":[],"meta":{"total_count":0}}'
        elif self.path.startswith("/submissions?") and mode == "shifting":
            q = dict(x.split("=", 1) for x in self.path.split("?", 1)[1].split("&"))
            page, per = int(q["page"]), int(q["per_page"])
            start = (page - 1) * per - (1 if page > 1 else 0)
            code, b = 200, json.dumps({"submissions": SHIFTED[start:start + per],
                                       "meta": {"total_count": len(SHIFTED)}}).encode()
        else:
            code, b = 404, b'{"message":"Not Found"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)


def list_fake(mode):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ListFake)
    srv.daemon_threads = True
    srv.mode = mode
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, "http://127.0.0.1:%d" % srv.server_address[1]


def list_suite():
    bash = ("bash", "5.2.15", {"run": SHELL_RUN})
    allow = {"PISTON_JUDGE0_ALLOW_LIST": "true"}
    engines = [tp.RealEngine([bash], allow), tp.RealEngine([bash], allow)]
    closed = tp.RealEngine([bash])   # listing off: 403
    key, line = tp.keygen("lister", "--rate", "1000/s", "--burst", "1000")
    slow, sline = tp.keygen("slow", "--rate", "1/s", "--burst", "2")
    admin, aline = tp.keygen("root", "--role", "admin", "--rate", "1000/s", "--burst", "1000")
    keys = key_file("j0listkeys", line, sline, aline)
    base = ["--keys", keys, "--health-interval", "200"]
    p = tp.Proxy(base + ["--upstream", engines[0].url, "--upstream", engines[1].url])
    p2 = tp.Proxy(base + ["--upstream", engines[0].url, "--upstream", closed.url])
    try:
        for px, es in ((p, engines), (p2, [engines[0], closed])):
            tp.wait_until(lambda: all(metric(px, admin, 'piston_proxy_engine_up{engine="%s"}' % e.url) == 1
                                      for e in es), 10, 0.1)
        # submissions made to each engine directly (the proxy never saw them), in a known order
        plan = [0, 1, 1, 0, 1, 0, 0]
        made = []   # (token, engine, stdout), oldest first
        for i, eng in enumerate(plan):
            st, h, r = tp.http_req(engines[eng].port, "POST", "/submissions", sub("echo list-%d" % i),
                                   {"Content-Type": "application/json"})
            check(st == 201 and "token" in r, "submission %d made on engine %d" % (i, eng), (st, r))
            made.append((r.get("token"), eng, "list-%d\n" % i))
            time.sleep(0.02)   # created_at has milliseconds: each one newer
        newest = [m[0] for m in reversed(made)]
        tp.wait_until(lambda: all(x.get("status", {}).get("id") == 3
                                  for e in engines for x in direct_list(e, "status")), 30, 0.1)

        hits, misses = (metric(p, admin, 'piston_proxy_judge0_tokens_total{event="%s"}' % ev) for ev in ("hit", "miss"))
        st, h, r, subs = proxy_list(p, key, "per_page=100")
        check(subs is not None and [x.get("token") for x in subs] == newest,
              "the list through the proxy: both engines' submissions, newest first", (st, r, newest))
        check(st == 200 and r.get("meta") == {"current_page": 1, "next_page": None, "prev_page": None,
                                              "total_pages": 1, "total_count": 7},
              "... meta over both engines' counts", r.get("meta") if isinstance(r, dict) else r)
        check("x-piston-unlisted-engines" not in h, "... no engine left out", h)
        own = tp.http_req(engines[0].port, "GET", "/submissions")[2]["submissions"][0]
        check(subs and all(sorted(x) == sorted(own) for x in subs),
              "... the engine's default fields, no created_at added", (subs, own))
        check(subs and [x.get("stdout") for x in subs] == [m[2] for m in reversed(made)] and
              all(x["status"]["id"] == 3 for x in subs), "... each entry its own result", subs)
        st, h, g = req(p, "GET", "/submissions/" + made[1][0], token=key)
        check(st == 200 and g.get("stdout") == "list-1\n" and
              metric(p, admin, 'piston_proxy_judge0_tokens_total{event="hit"}') == hits + 1 and
              metric(p, admin, 'piston_proxy_judge0_tokens_total{event="miss"}') == misses,
              "a token seen in the list is remembered: its GET goes straight to its engine (a hit, no search)", (st, g))

        # paging: per_page 3 over 7 (page 1 and 2 cross between the engines)
        pages = []
        for page, meta in ((1, (None, 2)), (2, (1, 3)), (3, (2, None))):
            st, h, r, subs = proxy_list(p, key, "page=%d&per_page=3" % page)
            pages.append([x.get("token") for x in subs or []])
            check(st == 200 and r.get("meta") == {"current_page": page, "prev_page": meta[0], "next_page": meta[1],
                                                  "total_pages": 3, "total_count": 7},
                  "page %d of 3 (per_page 3): Judge0's meta" % page, r)
        check(pages == [newest[0:3], newest[3:6], newest[6:7]], "... the pages: 3, 3 and the oldest 1, in order",
              (pages, newest))
        st, h, r, subs = proxy_list(p, key, "page=4&per_page=3")
        check(subs == [] and r["meta"]["prev_page"] == 3 and r["meta"]["next_page"] is None,
              "a page past the end: empty, prev_page 3", r)

        # fields and base64_encoded
        st, h, r, subs = proxy_list(p, key, "fields=stdout,status&per_page=5")
        check(subs is not None and len(subs) == 5 and all(sorted(x) == ["status", "stdout"] for x in subs) and
              [x["stdout"] for x in subs] == [m[2] for m in reversed(made)][:5],
              "fields=stdout,status: only those (created_at and token dropped again), in order", r)
        st, h, r, subs = proxy_list(p, key, "fields=created_at,token")
        ats = [x.get("created_at") for x in subs or []]
        check(subs is not None and all(sorted(x) == ["created_at", "token"] for x in subs) and
              ats == sorted(ats, reverse=True) and len(set(ats)) == 7, "fields=created_at,token: newest first", r)
        st, h, r, subs = proxy_list(p, key, "fields=*&per_page=2")
        check(subs is not None and len(subs) == 2 and "source_code" in subs[0] and "created_at" in subs[0] and
              subs[0]["source_code"] == "echo list-6", "fields=*: every field", r)
        st, h, r, subs = proxy_list(p, key, "fields=stdout%2Ctoken&base64_encoded=true&per_page=1")
        check(subs is not None and len(subs) == 1 and sorted(subs[0]) == ["stdout", "token"] and
              base64.b64decode(subs[0]["stdout"]) == b"list-6\n", "base64_encoded=true, fields percent-encoded", r)

        # the client's mistakes, answered by the proxy in Judge0's words
        for q, msg in (("page=0", "invalid page: 0"), ("page=abc", "invalid page: 0"), ("page=-2", "invalid page: -2"),
                       ("per_page=0", "invalid per_page: 0"), ("per_page=101", "invalid per_page: 101 (at most 100)"),
                       ("fields=stdout,bogus", "invalid fields: [bogus]"),
                       ("base64_encoded=maybe", "base64_encoded must be true or false"),
                       ("page=11&per_page=100", "invalid page: 11 (through the proxy page * per_page is at most 1000)")):
            st, h, r = req(p, "GET", "/submissions?" + q, token=key)
            check(st == 400 and isinstance(r, dict) and r.get("error") == msg, "?%s: 400 %r" % (q, msg), (st, r))

        # keys and the rate limit: one token a list, however many engines it asks
        st, h, r = req(p, "GET", "/submissions")
        check(st == 401, "no key: 401", st)
        got = [req(p, "GET", "/submissions", token=slow)[:2] for _ in range(3)]
        check([g[0] for g in got] == [200, 200, 429] and got[0][1].get("ratelimit-remaining") == "1" and
              "retry-after" in got[2][1], "a list costs one token (burst 2: 200, 200, then 429)",
              [(g[0], g[1].get("ratelimit-remaining")) for g in got])

        # deeper than one engine page: 120 more on engine 0 (batches), paged through 60 at a time
        for b in range(6):
            st, h, r = tp.http_req(engines[0].port, "POST", "/submissions/batch",
                                   {"submissions": [sub("echo deep-%d-%d" % (b, i)) for i in range(20)]},
                                   {"Content-Type": "application/json"})
            check(st == 201 and len(r) == 20, "batch %d of 20 on engine 0" % b, (st, r))
            time.sleep(0.01)
        per_engine = [[x["token"] for x in direct_list(e)] for e in engines]
        total = sum(map(len, per_engine))
        check(total == 127 and len(per_engine[0]) == 124, "127 submissions, 124 on engine 0", list(map(len, per_engine)))
        seen, ats = [], []
        for page in range(1, 4):
            st, h, r, subs = proxy_list(p, key, "page=%d&per_page=60&fields=token,created_at" % page)
            check(st == 200 and r["meta"]["total_count"] == 127 and r["meta"]["total_pages"] == 3 and
                  len(subs) == (60 if page < 3 else 7), "per_page 60, page %d: %d entries" % (page, 60 if page < 3 else 7),
                  (st, r.get("meta") if isinstance(r, dict) else r, len(subs or [])))
            seen += [x["token"] for x in subs or []]
            ats += [x["created_at"] for x in subs or []]
        check(len(seen) == 127 and set(seen) == set(per_engine[0]) | set(per_engine[1]),
              "pages 1-3 (engine 0 asked for its second page of 100): every submission once", len(set(seen)))
        check(ats == sorted(ats, reverse=True), "... newest first across the pages")
        check(all([tk for tk in seen if tk in set(pe)] == pe for pe in per_engine),
              "... each engine's own order kept")
        st, h, r, subs = proxy_list(p, key, "page=10&per_page=100&fields=token")
        check(subs == [] and r["meta"]["total_pages"] == 2, "page 10 of per_page 100 (the deepest allowed): empty", r)

        # an engine that does not list (403): the others' list, the header says one is missing
        st, h, r, subs = proxy_list(p2, key, "per_page=100&fields=token")
        check(st == 200 and [x["token"] for x in subs] == per_engine[0][:100] and r["meta"]["total_count"] == 124 and
              h.get("x-piston-unlisted-engines") == "1", "an engine answering 403: listed without it (header 1)",
              (st, h, r.get("meta") if isinstance(r, dict) else r))
        check("does not list its submissions" in p2.log(), "... and a log line names it")

        # engines that answer 500, a malformed 200, or too late: the list from the good one, in bounded time
        fakes = [list_fake(m) for m in ("error", "garbage", "slow")]
        p3 = tp.Proxy(base + ["--upstream-timeout", "1000", "--upstream", engines[0].url] +
                      sum((["--upstream", u] for _, u in fakes), []))
        try:
            tp.wait_until(lambda: all(metric(p3, admin, 'piston_proxy_engine_up{engine="%s"}' % u) == 1
                                      for u in [engines[0].url] + [u for _, u in fakes]), 10, 0.1)
            t0 = time.time()
            st, h, r, subs = proxy_list(p3, key, "per_page=100&fields=token")
            took = time.time() - t0
            check(st == 200 and [x["token"] for x in subs] == per_engine[0][:100] and r["meta"]["total_count"] == 124 and
                  h.get("x-piston-unlisted-engines") == "3",
                  "engines answering 500, garbage and too late: engine 0's list, 200, header 3", (st, h, r))
            check(0.9 < took < 2.5, "... answered when the slow engine's time was up (1 s), not after its 3 s",
                  round(took, 2))
            log = p3.log()
            check("answered 500; listed without it" in log and "with a malformed list" in log and
                  "failed (" in log, "... each named in a log line", log[-1500:])
        finally:
            p3.stop()
            for srv, _ in fakes:
                srv.shutdown()
        srv, url = list_fake("shifting")
        p4 = tp.Proxy(base + ["--upstream", url])
        try:
            tp.wait_until(lambda: metric(p4, admin, 'piston_proxy_engine_up{engine="%s"}' % url) == 1, 10, 0.1)
            st, h, r, subs = proxy_list(p4, key, "page=2&per_page=60&fields=token,stdout")
            check(st == 200 and [x.get("stdout") for x in subs] == ["fake-%d" % i for i in range(60, 120)],
                  "an engine's page 2 shifted by a submission made meanwhile: its repeated entry listed once",
                  (st, [x.get("stdout") for x in subs or []]))
        finally:
            p4.stop()
            srv.shutdown()

        # an engine down: its entries missing, still 200
        engines[1].proc.kill()
        engines[1].proc.wait()
        st, h, r, subs = proxy_list(p, key, "per_page=100&fields=token")   # likely before a health check saw it
        check(st == 200 and [x["token"] for x in subs] == per_engine[0][:100] and r["meta"]["total_count"] == 124 and
              h.get("x-piston-unlisted-engines") == "1", "engine 1 just killed: engine 0's list, 200, header 1",
              (st, h, r.get("meta") if isinstance(r, dict) else r))
        tp.wait_until(lambda: metric(p, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[1].url) == 0, 10, 0.1)
        st, h, r, subs = proxy_list(p, key, "page=3&per_page=50&fields=token")
        check(st == 200 and [x["token"] for x in subs] == per_engine[0][100:124] and
              r["meta"] == {"current_page": 3, "next_page": None, "prev_page": 2, "total_pages": 3, "total_count": 124} and
              h.get("x-piston-unlisted-engines") == "1", "engine 1 marked down: not asked, engine 0's page 3 of 50",
              (st, h, r))
        engines[0].proc.kill()
        engines[0].proc.wait()
        tp.wait_until(lambda: metric(p, admin, 'piston_proxy_engine_up{engine="%s"}' % engines[0].url) == 0, 10, 0.1)
        st, h, r = req(p, "GET", "/submissions", token=key)
        check(st == 503, "every engine down: 503", (st, r))
    finally:
        p.stop()
        p2.stop()


def main():
    tp.run_suites(main_suite, list_suite)


if __name__ == "__main__":
    main()
