"""Faults the other suites do not cover (kill -9 mid-install and SIGTERM
draining are in test_packages.py, test_execute.py and test_http.py):
- kill -9 of `piston serve` with jobs running and queued: every job process
  dies with it, the clients see the connection end, and the next engine on
  the same data directory removes the dead engine's cgroups and resurrects
  no job;
- a full disk: the data directory is a small tmpfs, filled; an install fails
  with a clear message, leaves no staging directory, and the package already
  installed is still listed and runs; once space is freed installs work."""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import Checker, free_port, make_all_packages, pgrep, request  # noqa: E402
import test_packages as tp  # noqa: E402  (package builders; its main() is not run)
import cgroups  # noqa: E402

t = Checker()
check = t.check
BIN = os.environ.get("PISTON_BIN", "./piston")


def start(data, port, env=None):
    e = dict(os.environ, PISTON_DATA_DIRECTORY=data, PISTON_BIND_ADDRESS="127.0.0.1:%d" % port,
             PISTON_LOG_LEVEL="WARN", **(env or {}))
    p = subprocess.Popen([BIN, "serve"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline and p.poll() is None:
        try:
            if request(port, "GET", "/")[0] == 200:
                return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    p.wait()
    raise RuntimeError("piston serve did not start")


def sh(code, **kw):
    req = {"language": "shell", "version": "*", "files": [{"content": code}]}
    req.update(kw)
    return req


def engine_cgroups(pid):
    return cgroups.engine_dirs(pid)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def kill_mid_jobs():
    tmp = tempfile.mkdtemp(prefix="piston-faults-")
    data = os.path.join(tmp, "data")
    make_all_packages(data)
    port = free_port()
    env = {"PISTON_MAX_CONCURRENT_JOBS": "3", "PISTON_RUN_TIMEOUT": "60000"}
    p = start(data, port, env)
    marker = b"sleep\x0031337"
    outcomes = []
    try:
        def job(i):
            try:
                outcomes.append(request(port, "POST", "/api/v2/execute",
                                        sh("echo started; sleep 31337", run_timeout=60000), timeout=60)[0])
            except (OSError, http.client.HTTPException) as ex:
                outcomes.append(type(ex).__name__)

        threads = [threading.Thread(target=job, args=(i,)) for i in range(5)]
        for th in threads:
            th.start()
        deadline = time.time() + 30
        while time.time() < deadline:
            st, stats = request(port, "GET", "/api/v2/stats")
            if len(pgrep(marker)) >= 3 and stats["jobs"]["queued"] == 2:
                break
            time.sleep(0.1)
        check(len(pgrep(marker)) >= 3 and stats["jobs"]["running"] == 3 and stats["jobs"]["queued"] == 2,
              "3 jobs running and 2 queued before the kill", stats["jobs"])
        cgroups = engine_cgroups(p.pid)
        p.send_signal(signal.SIGKILL)
        p.wait()
        deadline = time.time() + 10
        while time.time() < deadline and pgrep(marker):
            time.sleep(0.1)
        check(not pgrep(marker), "kill -9: every job process dies with the engine", pgrep(marker))
        for th in threads:
            th.join(30)
        check(len(outcomes) == 5 and all(o != 200 for o in outcomes),
              "kill -9: every client sees its connection end (no hang, no fake answer)", outcomes)
        check(bool(cgroups), "the engine had its cgroups", cgroups)
        p = start(data, port, env)
        left = [d for d in cgroups if os.path.exists(d)]
        check(not left, "restart removes the killed engine's cgroups", left)
        st, stats = request(port, "GET", "/api/v2/stats")
        time.sleep(1.5)
        check(st == 200 and stats["jobs"]["running"] == 0 and stats["jobs"]["queued"] == 0 and not pgrep(marker),
              "restart: no job from before is resurrected", (stats, pgrep(marker)))
        st, r = request(port, "POST", "/api/v2/execute", sh("echo alive"))
        check(st == 200 and r["run"]["stdout"] == "alive\n", "restart: executes work", r)
        mounts_before = open("/proc/self/mountinfo").read().count("\n")
        stop(p)
        check(p.returncode == 0, "restarted engine exits 0 on SIGTERM", p.returncode)
        check(open("/proc/self/mountinfo").read().count("\n") == mounts_before, "no host mount left")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def full_disk():
    tmp = tempfile.mkdtemp(prefix="piston-fulldisk-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", data]).returncode != 0:
        print("skip full disk: cannot mount a tmpfs")
        shutil.rmtree(tmp, ignore_errors=True)
        return 1
    p = None
    try:
        bb = tp.package_bytes("bb", "1.0.0", busybox=True)
        big = tp.package_bytes("big", "1.0.0", busybox=True,
                               extra=lambda tf: tp.add(tf, "./usr/blob", os.urandom(3 << 20)))
        idx = tp.index("index-faults", [("bb", "1.0.0", tp.publish("fbb-1.0.0.pkg.tar.gz", bb), "fbb-1.0.0.pkg.tar.gz"),
                                        ("big", "1.0.0", tp.publish("fbig-1.0.0.pkg.tar.gz", big),
                                         "fbig-1.0.0.pkg.tar.gz")])
        port = free_port()
        p = start(data, port, {"PISTON_REPO_URL": idx})
        st, r = request(port, "POST", "/api/v2/packages", {"language": "bb", "version": "1.0.0"})
        check(st == 200, "install on the small data disk", (st, r))
        # fill the disk, leaving less than the next package needs
        with open(os.path.join(data, "filler"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        os.truncate(os.path.join(data, "filler"), os.path.getsize(os.path.join(data, "filler")) - (512 << 10))
        st, r = request(port, "POST", "/api/v2/packages", {"language": "big", "version": "1.0.0"})
        msg = r.get("message", "") if isinstance(r, dict) else ""
        check(st == 507 and "space" in msg.lower(), "full disk: install fails with 507 Insufficient Storage and a clear message",
              (st, r))
        staging = [n for n in os.listdir(os.path.join(data, "packages")) if n.startswith(".")]
        check(not staging, "full disk: no staging directory left", staging)
        st, rts = request(port, "GET", "/api/v2/runtimes")
        langs = sorted(x["language"] for x in rts) if st == 200 else rts
        check(langs == ["bb"], "full disk: the installed package is still listed, the failed one is not", langs)
        st, r = request(port, "POST", "/api/v2/execute",
                        {"language": "bb", "version": "1.0.0", "files": [{"content": "echo still here"}]})
        check(st == 200 and r["run"]["stdout"] == "still here\n", "full disk: the installed package still runs", r)
        stop(p)
        p = start(data, port, {"PISTON_REPO_URL": idx})
        st, rts = request(port, "GET", "/api/v2/runtimes")
        check(st == 200 and sorted(x["language"] for x in rts) == ["bb"], "full disk: a restart lists the same",
              rts)
        os.unlink(os.path.join(data, "filler"))
        st, r = request(port, "POST", "/api/v2/packages", {"language": "big", "version": "1.0.0"})
        check(st == 200, "space freed: the install works", (st, r))
        stop(p)
        check(p.returncode == 0, "engine exits 0 on SIGTERM", p.returncode)
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        subprocess.run(["umount", "-l", data])
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main():
    skipped = 0
    try:
        kill_mid_jobs()
        skipped += full_disk()
    finally:
        shutil.rmtree(tp.ROOT, ignore_errors=True)
    return t.done(skipped)


if __name__ == "__main__":
    sys.exit(main())
