"""Load: LOAD_REQUESTS executes (default 2000; the issue's figure is 10000)
at concurrency LOAD_CONCURRENCY (64) against one engine, one in five of them
hostile (fork bomb, output flood, memory bomb, infinite loop). Every request
must get its own correct answer (or a deliberate 503 with a message), and
afterwards nothing may be left: no process of a runner uid, no cgroup beyond
the engine's per-slot ones, no extra mount, the engine's fds back to the
baseline and its RSS bounded. Prints throughput and p50/p99 latency."""
import glob
import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import Checker, Engine  # noqa: E402
import cgroups  # noqa: E402

t = Checker()
check = t.check

REQUESTS = int(os.environ.get("LOAD_REQUESTS", "2000"))
CONCURRENCY = int(os.environ.get("LOAD_CONCURRENCY", "64"))
RUNNER_UIDS = range(1001, 1501)   # PISTON_RUNNER_UID_MIN..MAX defaults
RSS_GROWTH_LIMIT_KB = 64 * 1024   # after warm-up, the engine may not grow by more
HOSTILE = os.environ.get("LOAD_HOSTILE", "1") != "0"   # 0: normal programs only (the engine's own cost)
# Normal programs get a generous wall time limit: with fork bombs and busy
# loops saturating both cores, a two-line shell script can wait seconds for a
# CPU, and this test is about right answers and leftovers, not latency.
SLOTS = 64
ENGINE_ENV = {"PISTON_RUN_TIMEOUT": "30000", "PISTON_MAX_CONCURRENT_JOBS": str(SLOTS)}
# The engine keeps detached mounts per job slot, made on its first use (the
# root and /dev templates and the package tree: fds that readlink to "/"), so
# their count depends on how many slots the warm-up happened to touch; it is
# bounded by MOUNT_FDS_PER_SLOT * SLOTS. Every other kind of fd must be back
# exactly at its baseline count.
MOUNT_FDS_PER_SLOT = 3
# cgroup v2: a slot keeps its memory.peak open once used (a write to that
# open file resets the peak for the next stage): at most one per slot.
PER_SLOT_FILES = ("/memory.peak",)


# On kernels that cannot clone a detached mount (before 6.15) the templates
# and boxes are attached in the engine's holder namespace, as r<slot>,
# d<slot>, b<id>: their fds readlink to "/rN", "/dN", "/bN" instead of "/".
MOUNT_KINDS = ("/", "/rN", "/dN", "/bN")


def per_slot(kind):
    return kind.endswith(PER_SLOT_FILES)


def mount_fds(kinds):
    return sum(n for k, n in kinds.items() if k in MOUNT_KINDS)


def sh(code, stdin="", **kw):
    req = {"language": "shell", "version": "*", "files": [{"content": code}], "stdin": stdin}
    req.update(kw)
    return req


def normal_expect(r, i):
    run = r.get("run") or {}
    return run.get("status") is None and run.get("stdout") == "tok%d-42\n" % i and run.get("code") == 0


# kind -> (request for job i, is this answer right?)
KINDS = {
    "normal": (lambda i: sh('read x; echo "$x-$((6*7))"', stdin="tok%d\n" % i), normal_expect),
    # a recursive fork bomb: capped by the process limit, killed by the time limit
    "forkbomb": (lambda i: sh("f(){ f | f & }; f; sleep 5", run_timeout=1500),
                 lambda r, i: (r.get("run") or {}).get("status") in ("TO", "SG", "RE", "EL", "OL")),
    "flood": (lambda i: sh("yes 0123456789"),
              lambda r, i: r["run"]["status"] == "OL" and len(r["run"]["stdout"]) == 1024),
    # the shell's own string doubles until the limit stops it: a pipe of
    # 100 MB through tr took over 3 s of CPU under emulation (TCG), so the
    # CPU limit, not the memory limit, ended every one of them there
    "membomb": (lambda i: sh("a=x; while :; do a=$a$a; done; echo ${#a}",
                             run_memory_limit=20000000, run_timeout=5000),
                # EL; on a saturated machine the wall time limit may come first,
                # and the shell may fail an allocation itself (RE, where the
                # limit is a per-process rlimit). Never a clean exit.
                lambda r, i: r["run"]["status"] in ("EL", "TO", "RE") and r["run"]["stdout"] == ""),
    "loop": (lambda i: sh("while :; do :; done", run_cpu_time=200, run_timeout=3000),
             lambda r, i: r["run"]["status"] == "TO" and r["run"]["signal"] in ("SIGKILL", "SIGXCPU")),
}


def kind_of(i):
    if not HOSTILE:
        return "normal"
    return {0: "forkbomb", 5: "flood", 10: "membomb", 15: "loop"}.get(i % 20, "normal")


def ancestors(pid):
    seen = []
    while pid not in ("0", "1") and len(seen) < 64:
        try:
            with open("/proc/%s/stat" % pid) as f:
                pid = f.read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            break
        seen.append(pid)
    return seen


def runner_procs(engine_pid):
    """Processes of a runner uid that belong to this engine: in one of its
    cgroups or descended from it (other tests, or another engine, may run
    programs with the same uids beside this one)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/status" % pid) as f:
                uid = int([line for line in f if line.startswith("Uid:")][0].split()[1])
            if uid not in RUNNER_UIDS:
                continue
            with open("/proc/%s/cgroup" % pid) as g:
                in_ours = "/piston-%d/" % engine_pid in g.read()
            if in_ours or str(engine_pid) in ancestors(pid):
                found.append("%s %s" % (pid, describe(pid)))
        except (OSError, ValueError, IndexError):
            pass
    return found


def describe(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")[:80]
    except OSError:
        return "?"


def fd_kinds(pid):
    kinds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            # (the binary may be rebuilt while the test runs: "... (deleted)")
            k = re.sub(r"\d+", "N", os.readlink("/proc/%d/fd/%s" % (pid, fd)).replace(" (deleted)", ""))
        except OSError:
            continue
        kinds[k] = kinds.get(k, 0) + 1
    return kinds


def engine_cgroups(pid):
    """Every cgroup directory below the engine's own piston-PID cgroups."""
    found = []
    for top in cgroups.engine_dirs(pid):
        found.extend(cgroups.below(top))
    return sorted(found)


def mounts(pid="self"):
    """Mount points and sources (ids left out), except test_faults.py's data disk."""
    with open("/proc/%s/mountinfo" % pid) as f:
        return sorted(m for m in (line.split(" ", 4)[4] for line in f) if "/piston-fulldisk-" not in m)


def other_ns_mounts(pid):
    """kind -> count of the mounts in the engine's other mount namespaces
    (the holder namespace of kernels before 6.15, where its unmount thread
    lives): boxes attached there as /bN must all be gone after the load;
    the per-slot templates /rN and /dN stay, at most one of each per slot."""
    kinds = {}
    try:
        own = os.readlink("/proc/%d/ns/mnt" % pid)
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kinds
    seen = {own}
    for tid in tids:
        try:
            ns = os.readlink("/proc/%d/task/%s/ns/mnt" % (pid, tid))
            if ns in seen:
                continue
            seen.add(ns)
            with open("/proc/%d/task/%s/mountinfo" % (pid, tid)) as f:
                points = [line.split(" ")[4] for line in f]
        except (OSError, IndexError):
            continue
        for m in points:
            k = "%s %s" % (ns, re.sub(r"\d+", "N", m))
            kinds[k] = kinds.get(k, 0) + 1
    return kinds


def other_ns_back(base, now):
    return all(n <= (SLOTS if k.endswith((" /rN", " /dN")) else base.get(k, 0)) for k, n in now.items())


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def worker(e, jobs, lock, results):
    conn = None
    while True:
        with lock:
            if not jobs:
                break
            i = jobs.pop()
        kind = kind_of(i)
        body = json.dumps(KINDS[kind][0](i))
        start = time.time()
        status, obj = None, None
        for _attempt in range(2):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", e.port, timeout=120)
                conn.request("POST", "/api/v2/execute", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                obj = json.loads(data)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                break
            except (OSError, http.client.HTTPException, ValueError) as ex:
                if conn:
                    conn.close()
                conn = None
                status, obj = "error", str(ex)
        results.append((i, kind, status, obj, time.time() - start))
    if conn:
        conn.close()


def main():
    host_mounts = mounts()
    e = Engine(env=ENGINE_ENV)
    try:
        pid = e.proc.pid
        # warm up at full concurrency: the per-slot pools (mount fds of the
        # package trees, network namespaces) fill up to their fixed size
        warm, warm_jobs = [], [i for i in range(100000, 100000 + 4 * CONCURRENCY) if kind_of(i) == "normal"]
        warm_lock = threading.Lock()
        threads = [threading.Thread(target=worker, args=(e, warm_jobs, warm_lock, warm)) for _ in range(CONCURRENCY)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        time.sleep(0.5)
        base_fds, base_rss, base_mounts = fds(pid), rss_kb(pid), mounts(pid)
        base_fd_kinds = fd_kinds(pid)
        base_cgroups = engine_cgroups(pid)
        base_other_ns = other_ns_mounts(pid)

        jobs = list(range(REQUESTS))[::-1]
        lock = threading.Lock()
        results = []
        start = time.time()
        threads = [threading.Thread(target=worker, args=(e, jobs, lock, results)) for _ in range(CONCURRENCY)]
        for th in threads:
            th.start()
        peak_rss = base_rss
        while any(th.is_alive() for th in threads):
            peak_rss = max(peak_rss, rss_kb(pid))
            time.sleep(0.2)
        for th in threads:
            th.join()
        elapsed = time.time() - start

        wrong, rejected, by_kind = [], 0, {}
        for i, kind, status, obj, _lat in results:
            by_kind[kind] = by_kind.get(kind, 0) + 1
            if status == 503 and isinstance(obj, dict) and obj.get("message"):
                rejected += 1
                continue
            try:
                ok = status == 200 and KINDS[kind][1](obj, i)
            except (KeyError, TypeError):
                ok = False
            if not ok:
                run = obj.get("run") if isinstance(obj, dict) else None
                wrong.append((i, kind, status, {k: run.get(k) for k in ("status", "signal", "code", "message",
                                                                         "wall_time", "stdout", "stderr")} if run else str(obj)[:300]))
        check(len(results) == REQUESTS, "every request answered (%d)" % len(results))
        check(not wrong, "every answer is the right one for its own job (%s; %d deliberate 503s)"
              % (", ".join("%s %d" % kv for kv in sorted(by_kind.items())), rejected),
              "%d wrong, first: %s" % (len(wrong), wrong[:3]))
        # the memory limit must have stopped some memory bombs itself, not
        # only the time limits (the bombs' statuses are printed below)
        mem_status = {}
        for i, kind, status, obj, _lat in results:
            if kind == "membomb" and isinstance(obj, dict) and isinstance(obj.get("run"), dict):
                st_ = obj["run"].get("status")
                mem_status[st_] = mem_status.get(st_, 0) + 1
        if by_kind.get("membomb"):
            print("load: memory bombs ended by %s" % ", ".join("%s %d" % kv for kv in sorted(mem_status.items(), key=str)))
            check(mem_status.get("EL", 0) + mem_status.get("RE", 0) > 0,
                  "the memory limit stopped memory bombs (EL or RE), not only the time limits", mem_status)
        lat = sorted(r[4] for r in results)
        if lat:
            p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            print("load: %d requests, concurrency %d, %.1f s, %.0f req/s, p50 %.0f ms, p99 %.0f ms, "
                  "rss %d KiB -> peak %d KiB" % (REQUESTS, CONCURRENCY, elapsed, REQUESTS / elapsed,
                                                p50 * 1000, p99 * 1000, base_rss, peak_rss))
            for kind in sorted(by_kind):
                kl = sorted(r[4] for r in results if r[1] == kind)
                print("  %-8s n=%d p50 %.0f ms p99 %.0f ms" % (kind, len(kl), kl[len(kl) // 2] * 1000,
                                                             kl[min(len(kl) - 1, int(len(kl) * 0.99))] * 1000))

        # afterwards: the engine is idle and back where it started
        deadline = time.time() + 15
        def fds_back():
            now = fd_kinds(pid)
            return all(n <= base_fd_kinds.get(k, 0) for k, n in now.items() if k not in MOUNT_KINDS and not per_slot(k)) and \
                mount_fds(now) <= MOUNT_FDS_PER_SLOT * SLOTS and \
                all(n <= SLOTS for k, n in now.items() if per_slot(k))
        while time.time() < deadline and (runner_procs(pid) or not fds_back() or
                                          not other_ns_back(base_other_ns, other_ns_mounts(pid))):
            time.sleep(0.2)
        left = runner_procs(pid)
        check(not left, "no process of a runner uid is left", left[:10])
        check(fds_back(), "engine fds back to baseline (%d; mount fds at most %d)" % (base_fds, MOUNT_FDS_PER_SLOT * SLOTS),
              {k: (base_fd_kinds.get(k, 0), n) for k, n in fd_kinds(pid).items() if n != base_fd_kinds.get(k, 0)})
        check(engine_cgroups(pid) == base_cgroups and base_cgroups,
              "no job cgroup beyond the per-slot ones (%d)" % len(base_cgroups),
              sorted(set(engine_cgroups(pid)) - set(base_cgroups))[:10])
        check(mounts(pid) == base_mounts, "no extra mount in the engine's namespace",
              set(mounts(pid)) ^ set(base_mounts))
        holder = other_ns_mounts(pid)
        check(other_ns_back(base_other_ns, holder),
              "no box left mounted in the engine's holder namespace (%d mounts there at rest)" % sum(base_other_ns.values()),
              {k: (base_other_ns.get(k, 0), n) for k, n in holder.items() if n != base_other_ns.get(k, 0)})
        check(mounts() == host_mounts, "no extra mount on the host", set(mounts()) ^ set(host_mounts))
        end_rss = rss_kb(pid)
        check(peak_rss - base_rss < RSS_GROWTH_LIMIT_KB and end_rss - base_rss < RSS_GROWTH_LIMIT_KB,
              "RSS bounded: %d KiB at rest, peak %d KiB, after %d KiB" % (base_rss, peak_rss, end_rss))
        st, r = e.request("GET", "/api/v2/stats")
        check(st == 200 and r["jobs"]["running"] == 0 and r["jobs"]["queued"] == 0, "stats: idle again",
              r.get("jobs") if isinstance(r, dict) else r)
        st, r = e.execute(sh("echo after"))
        check(st == 200 and r["run"]["stdout"] == "after\n", "engine still answers", r)
    finally:
        e.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
