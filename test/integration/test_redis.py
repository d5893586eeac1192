"""piston proxy --redis (SPEC section 5, issue 15): rate limits shared through
a real redis-server (Debian's, started here on 127.0.0.1 with a free port and
no persistence). Two proxy replicas in front of one engine, a key limited to
R/s: together they admit about R/s + burst, not 2R. Redis killed mid-run:
every request is still answered (200, or 429 with Retry-After), each proxy
logs one WARN, and once Redis is back shared limiting resumes. Also: a bad
URL exits 1 naming the flag, a wrong password is a WARN (and requests are
still served from local buckets), the password may come from
PISTON_PROXY_REDIS_PASSWORD."""
import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_proxy as tp  # noqa: E402  (engine/proxy helpers)
from exec_fixture import SHELL_RUN, free_port  # noqa: E402
from harness import Tally  # noqa: E402

t = Tally()
check = t.check
PASSWORD = "s3cret-pw"
RATE, BURST = 10, 10


class Redis:
    """redis-server on 127.0.0.1:port, in memory only."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.proc = None

    def start(self):
        self.log = open(os.path.join(tp.TMP, "redis-%d.log" % self.port), "a")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--requirepass", PASSWORD,
                                      "--daemonize", "no", "--dir", tp.TMP],
                                     stdout=self.log, stderr=self.log)
        tp.procs.append(self.proc)
        end = time.time() + 10
        while time.time() < end:
            try:
                if self.cmd("PING") == b"+PONG":
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def cmd(self, *args):
        """AUTH, the command, QUIT; the command's raw reply (bytes)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            out = b""
            for c in (("AUTH", PASSWORD), ("SELECT", "1"), args, ("QUIT",)):
                out += b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a.encode()) for a in c)
            s.sendall(out)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        assert data.startswith(b"+OK\r\n+OK\r\n") and data.endswith(b"+OK\r\n"), data
        return data[10:-5].rstrip(b"\r\n")


class FakeRedis:
    """A Redis impostor on loopback: answers the handshake, then EVALSHA as
    mode says: "slow" (never), "garbage" (a malformed reply), "noscript"
    (NOSCRIPT, then the EVAL that follows with a verdict)."""

    def __init__(self, mode):
        self.mode = mode
        self.seen = []
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def commands(data):
        """Complete RESP commands at the front of data: (list of argv, rest)."""
        out = []
        while data.startswith(b"*") and b"\r\n" in data:
            head, rest = data.split(b"\r\n", 1)
            argv = []
            for _ in range(int(head[1:])):
                if b"\r\n" not in rest:
                    return out, data
                ln, rest2 = rest.split(b"\r\n", 1)
                n = int(ln[1:])
                if len(rest2) < n + 2:
                    return out, data
                argv.append(rest2[:n].decode("latin-1"))
                rest = rest2[n + 2:]
            out.append(argv)
            data = rest
        return out, data

    def serve(self, c):
        data = b""
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    return
                data += chunk
                cmds, data = self.commands(data)
                for argv in cmds:
                    self.seen.append(argv[0].upper())
                    verb = argv[0].upper()
                    if verb == "SCRIPT":
                        c.sendall(b"$40\r\n" + b"a" * 40 + b"\r\n")
                    elif verb in ("AUTH", "SELECT"):
                        c.sendall(b"+OK\r\n")
                    elif verb == "EVALSHA" and self.mode == "garbage":
                        c.sendall(b"!bogus\r\n")
                    elif verb == "EVALSHA" and self.mode == "noscript":
                        c.sendall(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")
                    elif verb == "EVAL":
                        c.sendall(b"*2\r\n:1\r\n:5000\r\n")
                    # "slow": no answer at all
        except OSError:
            return

    def close(self):
        self.ls.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


def hostile_redis(engine_url, keys_path, key):
    for mode in ("slow", "garbage", "noscript"):
        fake = FakeRedis(mode)
        p = tp.Proxy(["--upstream", engine_url, "--keys", keys_path, "--redis", "redis://:pw@127.0.0.1:%d/3" % fake.port])
        try:
            tp.wait_until(lambda: "rate limits are shared" in p.log(), 10)
            times, statuses, remaining = [], [], []
            for _ in range(5):
                t0 = time.time()
                st, h, _ = p.req("GET", "/api/v2/runtimes", key=key, timeout=10)
                times.append(time.time() - t0)
                statuses.append(st)
                remaining.append(h.get("ratelimit-remaining"))
                time.sleep(0.05)
            log = p.log()
            check(all(s in (200, 429) for s in statuses) and 200 in statuses,
                  "a %s Redis: requests still answered from local buckets" % mode, (statuses, log[-1500:]))
            check(fake.seen[:3] == ["AUTH", "SELECT", "SCRIPT"], "handshake: AUTH, SELECT, SCRIPT LOAD (%s)" % mode,
                  fake.seen[:4])
            if mode == "slow":
                print("# a Redis that never answers: request times %s s" % ["%.3f" % x for x in times])
                check(max(times) < 1.0 and sorted(times)[2] < 0.3,
                      "a Redis that never answers: each request waits about --redis-timeout (50 ms), not more",
                      ["%.3f" % x for x in times])
                check(log.count("got no answer within 50 ms") == 1, "one WARN about slow answers, not one per request",
                      log[-1500:])
            elif mode == "garbage":
                check("malformed reply" in log and log.count("fall back") == 1,
                      "a malformed reply drops the connection with one WARN", log[-1500:])
                check(p.req("GET", "/")[0] == 200, "the proxy survives a hostile Redis")
            else:
                check("EVAL" in fake.seen and remaining[0] == "5",
                      "NOSCRIPT: the script is sent with EVAL and its verdict used (5 tokens left)",
                      (fake.seen, remaining))
            check(p.stop() == 0, "the proxy stops cleanly after a %s Redis (exit 0)" % mode)
        finally:
            p.stop()
            fake.close()


def config_errors(engine_url):
    for url, what in (("http://127.0.0.1:6379", "scheme"), ("redis://127.0.0.1:99999", "port"),
                      ("redis://h/x", "database")):
        r = subprocess.run([tp.BIN, "proxy", "--anonymous", "5/s", "--upstream", engine_url, "--redis", url],
                           capture_output=True, text=True, timeout=20)
        check(r.returncode == 1 and "--redis" in r.stderr and "PISTON_PROXY_REDIS" in r.stderr,
              "bad --redis URL (%s): exit 1 naming the flag" % what, (r.returncode, r.stderr))
    r = subprocess.run([tp.BIN, "proxy", "--help"], capture_output=True, text=True, timeout=20)
    check("--redis" in r.stdout and "PISTON_PROXY_REDIS_PASSWORD" in r.stdout, "--help describes --redis")


class Load:
    """One thread per proxy, keep-alive, paced (bounded request count):
    GET /api/v2/runtimes with the key, every answer recorded."""

    def __init__(self, proxies, key, seconds, pace=0.01):
        self.results = []          # (t, proxy index, status, headers) or (t, i, "error: ...", {})
        self.lock = threading.Lock()
        self.stop_at = time.time() + seconds
        self.threads = [threading.Thread(target=self.run, args=(i, p, key, pace)) for i, p in enumerate(proxies)]
        for th in self.threads:
            th.start()

    def run(self, i, p, key, pace):
        conn = None
        while time.time() < self.stop_at:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", p.port, timeout=10)
                conn.request("GET", "/api/v2/runtimes", headers={"Authorization": "Bearer " + key})
                r = conn.getresponse()
                r.read()
                rec = (time.time(), i, r.status, {k.lower(): v for k, v in r.getheaders()})
            except (OSError, http.client.HTTPException) as e:
                rec = (time.time(), i, "error: %r" % e, {})
                conn = None
            with self.lock:
                self.results.append(rec)
            time.sleep(pace)

    def join(self):
        for th in self.threads:
            th.join()
        return self.results


def admitted(results, t0, t1):
    return sum(1 for (ts, _, st, _) in results if t0 <= ts < t1 and st == 200)


def metric(p, admin, name):
    st, _, body = p.req("GET", "/metrics", key=admin)
    for line in (body.decode() if isinstance(body, bytes) else "").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            yield line


def main_suite():
    engine = tp.RealEngine([("shell", "1.0.0", {"run": SHELL_RUN})])
    config_errors(engine.url)
    redis = Redis()
    redis.start()
    key, kline = tp.keygen("limited", "--rate", "%d/s" % RATE, "--burst", str(BURST))
    admin, aline = tp.keygen("ops", "--role", "admin", "--rate", "1000/s", "--burst", "1000")
    keys_path = os.path.join(tp.TMP, "keys")
    with open(keys_path, "w") as f:
        f.write("%s\n%s\n" % (kline, aline))
    url = "redis://:%s@127.0.0.1:%d/1" % (PASSWORD, redis.port)
    hostile_redis(engine.url, keys_path, key)

    # ---- a wrong password: a clear WARN, requests still served (locally)
    bad = tp.Proxy(["--upstream", engine.url, "--keys", keys_path, "--redis",
                    "redis://:wrong@127.0.0.1:%d" % redis.port])
    try:
        ok = tp.wait_until(lambda: "WARN" in bad.log() and "AUTH refused" in bad.log(), 10)
        check(ok, "wrong Redis password: a WARN saying AUTH was refused", bad.log())
        st, h, _ = bad.req("GET", "/api/v2/runtimes", key=key)
        check(st == 200 and "ratelimit-limit" in h, "wrong password: requests still answered from local buckets",
              (st, h))
    finally:
        bad.stop()
    # ---- the password from PISTON_PROXY_REDIS_PASSWORD
    envp = tp.Proxy(["--upstream", engine.url, "--keys", keys_path, "--redis", "redis://127.0.0.1:%d" % redis.port],
                    env={"PISTON_PROXY_REDIS_PASSWORD": PASSWORD})
    try:
        check(tp.wait_until(lambda: "rate limits are shared" in envp.log(), 10),
              "the password from PISTON_PROXY_REDIS_PASSWORD: connected", envp.log())
        check("WARN" not in envp.log(), "no warning with the right password", envp.log())
    finally:
        envp.stop()
    redis.cmd("FLUSHALL")

    args = ["--upstream", engine.url, "--keys", keys_path, "--redis", url, "--redis-timeout", "500",
            "--health-interval", "300"]
    pa = tp.Proxy(args)
    pb = tp.Proxy(args)
    try:
        for p in (pa, pb):
            check(tp.wait_until(lambda: "rate limits are shared" in p.log(), 10), "replica connected to Redis",
                  p.log())
        tp.wait_until(lambda: pa.req("GET", "/api/v2/runtimes", key=admin)[0] == 200, 10)
        # ---- execute through a Redis admission (the request is parked, then replayed)
        for p in (pa, pb):
            st, h, body = p.req("POST", "/api/v2/execute", tp.sh("echo via-redis"), key=admin)
            check(st == 200 and isinstance(body, dict) and body["run"]["stdout"] == "via-redis\n",
                  "execute through a Redis-backed admission", (st, body))
        # ---- the WebSocket tunnel through a Redis admission (the upgrade waits for the verdict)
        ws = tp.ws_connect(pb.port, {"Authorization": "Bearer " + admin})
        out = ""
        if ws.ok:
            ws.send({"type": "init", "language": "shell", "version": "*", "files": [{"content": "echo ws-redis"}]})
            msgs = ws.until_close()
            out = "".join(m["data"] for m in msgs if isinstance(m, dict) and m.get("type") == "data")
        ws.close()
        check(ws.ok and out == "ws-redis\n", "WebSocket session through a Redis-backed admission", (ws.head, out))
        bucket = "piston:rl:k:" + hashlib.sha256(key.encode()).hexdigest()[:32]
        st = pa.req("GET", "/api/v2/runtimes", key=key)[0]
        ttl = redis.cmd("PTTL", bucket)
        check(st == 200 and ttl.startswith(b":") and 0 < int(ttl[1:]) <= 1100,
              "the bucket lives in Redis (DB 1) and expires once it would be full again (100 ms + 1 s)", ttl)
        check(redis.cmd("HGET", bucket, "m").endswith(b"9000"), "one token taken: 9000 milli-tokens left")
        # ---- a request with tests costs one token per test run, in Redis as locally
        def with_tests(n):
            body = tp.sh("cat")
            body["tests"] = [{"stdin": "t%d\n" % i, "expected_output": "t%d" % i} for i in range(n)]
            return pa.req("POST", "/api/v2/execute", body, key=key)
        redis.cmd("DEL", bucket)
        st, h, body = with_tests(4)
        check(st == 200 and isinstance(body, dict) and body.get("summary", {}).get("passed") == 4,
              "4 tests through a Redis-backed admission", (st, body))
        check(redis.cmd("HGET", bucket, "m") == b"$4\r\n6000",
              "4 tests took 4 tokens in Redis: 6000 milli-tokens left", redis.cmd("HGET", bucket, "m"))
        redis.cmd("DEL", bucket)
        st, h, body = with_tests(15)
        check(st == 200, "15 tests (more than the burst of 10) admitted with a full bucket", (st, body))
        m = redis.cmd("HGET", bucket, "m")
        check(m.startswith(b"$") and m.split(b"\r\n")[-1] == b"-5000",
              "and leave a debt of 5 tokens in Redis (-5000)", m)
        st, h, body = pa.req("GET", "/api/v2/runtimes", key=key)
        check(st == 429 and int(h.get("retry-after", "0")) >= 1, "the next request waits for the debt", (st, h))
        redis.cmd("DEL", bucket)

        # ---- two replicas, one limit
        secs = 4.0
        t0 = time.time()
        res = Load([pa, pb], key, secs).join()
        n = admitted(res, t0, t0 + secs + 1)
        per = [admitted([r for r in res if r[1] == i], t0, t0 + secs + 1) for i in (0, 1)]
        expect = BURST + RATE * secs
        print("# shared limit: %d requests, %d admitted over %.1f s by 2 replicas (%s); expected about %d, "
              "unshared would be %d" % (len(res), n, secs, per, expect, 2 * expect))
        check(len(res) > 4 * expect, "the load offered far more than the limit", len(res))
        check(expect * 0.8 <= n <= expect + RATE * 0.5 + 3,
              "2 replicas together admit R/s + burst (%d), not 2x (%d)" % (expect, 2 * expect), n)
        check(per[0] > 5 and per[1] > 5, "both replicas admitted requests", per)
        refused = [r for r in res if r[2] == 429]
        check(refused and all("retry-after" in r[3] and "ratelimit-remaining" in r[3] for r in refused),
              "refusals are 429 with Retry-After and RateLimit-*")
        check(all(r[2] in (200, 429) for r in res), "every request answered 200 or 429",
              [r[2] for r in res if r[2] not in (200, 429)][:5])
        ad = list(metric(pa, admin, "piston_proxy_redis_admissions_total"))
        check(any('decided="redis"' in x and int(x.split()[-1]) > 0 for x in ad),
              "/metrics counts admissions decided by Redis", ad)
        print("# " + "; ".join(ad + list(metric(pa, admin, "piston_proxy_redis_timeouts_total"))))

        # ---- Redis killed mid-run, then back
        time.sleep(1.5)   # let the bucket refill
        t0 = time.time()
        load = Load([pa, pb], key, 9.0)
        time.sleep(2.0)
        redis.kill()
        t_kill = time.time()
        time.sleep(2.5)
        redis.start()
        t_back = time.time()
        res = load.join()
        run_secs = time.time() - t_kill + 2.0
        bad_answers = [r[2] for r in res if r[2] not in (200, 429)]
        check(not bad_answers, "Redis killed mid-run: every request answered 200 or 429 (%d requests)" % len(res),
              bad_answers[:5])
        refused = [r for r in res if r[2] == 429]
        check(all("retry-after" in r[3] for r in refused), "every 429 carries Retry-After")
        during = admitted(res, t_kill + 0.5, t_back)
        check(during > 0, "while Redis is down, requests are still admitted (local buckets)", during)
        for name, p in (("A", pa), ("B", pb)):
            log = p.log()
            warns = [ln for ln in log.splitlines() if "WARN" in ln and "fall back" in ln]
            check(len(warns) == 1, "replica %s: one WARN for the outage, not one per request" % name, warns)
            check(tp.wait_until(lambda: "shared again" in p.log(), 10), "replica %s: back on Redis, says so" % name,
                  log[-2000:])
        # shared limiting resumes: measure a window after both reconnected
        time.sleep(0.5)
        t0 = time.time()
        res2 = Load([pa, pb], key, 3.0).join()
        n2 = admitted(res2, t0, t0 + 4)
        exp2 = BURST + RATE * 3
        print("# after the restart: %d admitted in 3 s by 2 replicas, expected about %d (unshared %d); during the "
              "outage (%.1f s): %d admitted; the killed-Redis run lasted %.1f s" % (
                  n2, exp2, 2 * exp2, t_back - t_kill - 0.5, during, run_secs))
        check(exp2 * 0.7 <= n2 <= exp2 + RATE * 0.5 + 3, "after Redis returns, the shared limit holds again", n2)
        check(redis.cmd("EXISTS", bucket) == b":1", "the restarted Redis holds the bucket again")
        rcs = [pa.stop(), pb.stop()]
        check(rcs == [0, 0], "both replicas stop cleanly on SIGTERM (exit 0)", rcs)
        # ---- control: the same load on two replicas without Redis gets about twice the limit
        local = [tp.Proxy(["--upstream", engine.url, "--keys", keys_path]) for _ in (0, 1)]
        t0 = time.time()
        res3 = Load(local, key, 3.0).join()
        n3 = admitted(res3, t0, t0 + 4)
        for lp in local:
            lp.stop()
        print("# control without --redis: %d admitted in 3 s by 2 replicas (each its own bucket: about %d)"
              % (n3, 2 * exp2))
        # about 2 x exp2; 1.5 x still lies well above the shared bound (exp2 + RATE/2 + 3)
        check(n3 >= 1.5 * exp2, "control: without Redis two replicas admit about twice the limit", n3)
    finally:
        pa.stop()
        pb.stop()
        if redis.proc and redis.proc.poll() is None:
            redis.kill()


def main():
    if not shutil.which("redis-server"):
        t.skip("redis", "redis-server is not installed (make deps installs it)")
        t.done()
    tp.run_suites(main_suite, tally=t)


if __name__ == "__main__":
    main()
