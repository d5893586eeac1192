"""The Judge0 API through `piston proxy` (src/proxy/proxy_judge0.c): two real
engines (busybox sh as Judge0's bash, id 46) behind a proxy with a keys
file. Keys (X-Auth-Token or Authorization; missing/bad: 401), a batch
costing one token per submission, async submissions spread over both
engines with every token answering its own result through the proxy, a
SECOND proxy (which never saw the POSTs) still finding each token's engine,
batch GET across both engines in the client's order, unknown tokens 404,
wait=true, and Judge0's limit fields clamped to the proxy's maximums."""
import base64
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_proxy as tp  # noqa: E402  (its Proxy, RealEngine, keygen helpers; main() not run)
from exec_fixture import CC_COMPILE, CC_RUN, SHELL_RUN  # noqa: E402

t = tp.t
check = t.check


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
    keys = os.path.join(tp.TMP, "j0keys")
    with open(keys, "w") as f:
        f.write("\n".join([line, bline, aline]) + "\n")
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


def main():
    tp.run_suites(main_suite)


if __name__ == "__main__":
    main()
