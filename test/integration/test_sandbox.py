#!/usr/bin/env python3
"""The sandbox against hostile programs, through `piston sandbox`.

Containment, limits and their statuses, and that neither the host nor the
next run is affected. Builds the busybox test package (tools/mk-busybox-pkg.sh)
and compiles test/sandbox/hostile.c statically into the box. Needs root.
Uses runner uids 1401/1402 (PISTON_RUNNER_UID_MIN) so its checks for leftover
processes cannot see another suite's jobs.
"""
import glob
import json
import os
import resource
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cgroups  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PISTON = os.environ.get("PISTON_BIN", os.path.join(ROOT, "piston"))
RUNNER = 1401
passed = failed = skipped = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, ":", str(detail)[:600])


def skip(name, why):
    global skipped
    skipped += 1
    print("skip", name, ":", why)


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.pkg = os.path.join(tmp, "pkg")
        self.box = os.path.join(tmp, "box")
        self.stderr = []
        self.env = dict(os.environ, PISTON_RUNNER_UID_MIN=str(RUNNER), PISTON_RUNNER_GID_MIN=str(RUNNER),
                        PISTON_LOG_LEVEL="WARN")

    def argv(self, cmd, opts=()):
        return [PISTON, "sandbox", "--root", self.pkg, "--box", self.box, *opts, "--", *cmd]

    def run(self, cmd, *opts, env=None, timeout=120):
        e = dict(self.env, **(env or {}))
        p = subprocess.run(self.argv(cmd, opts), capture_output=True, env=e, timeout=timeout)
        self.stderr.append(p.stderr.decode(errors="replace"))
        try:
            return json.loads(p.stdout)
        except ValueError:
            return {"status": "<no json>", "stdout": "", "stderr": p.stderr.decode(errors="replace"),
                    "exit": p.returncode}

    def sh(self, script, *opts, **kw):
        return self.run(["/bin/sh", "-c", script], *opts, **kw)


def runner_procs(*uids):
    out = subprocess.run(["pgrep", "-a", "-u", ",".join(str(u) for u in (uids or (RUNNER,)))],
                         capture_output=True, text=True).stdout
    return out.strip()


def mount_points():
    """This namespace's mounts: (mount point, filesystem, source) each."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            found.append((fields[4], fields[sep + 1], fields[sep + 2]))
    return sorted(found)


def dead_engine_cgroups():
    """cgroup directories of `piston sandbox` runs (at most 2 slots) whose
    process is gone, on either layout; and v2 leaves (piston-engine-PID)
    of gone engines that hold no process."""
    found = set()
    for d in cgroups.find_prefix("piston-"):
        pid = d.rsplit("-", 1)[1]
        leaf = os.path.basename(d).startswith("piston-engine-")
        if not pid.isdigit() or len(glob.glob(d + "/slot*")) > 2 or (leaf and cgroups.holds_processes(d)):
            continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                found.add(d)
            except PermissionError:
                pass
    return found


def basics(s):
    r = s.sh("echo hi; echo oops >&2; exit 3")
    check("exit code is reported as RE", r["status"] == "RE" and r["code"] == 3, r)
    check("stdout and stderr are captured", r["stdout"] == "hi\n" and r["stderr"] == "oops\n", r)
    check("a clean exit has a null status", s.sh("true")["status"] is None)
    r = s.sh("kill -SEGV $$")
    check("a signal is reported as SG", r["status"] == "SG" and r["signal"] == "SIGSEGV" and r["code"] is None, r)
    r = s.run(["/box/hostile", "ids"])
    ids = "uid=%d euid=%d gid=%d egid=%d" % ((RUNNER,) * 4)
    check("runs as the slot's unprivileged uid/gid", ids in r["stdout"], r)
    check("cannot become root", "setuid0=Operation not permitted" in r["stdout"], r)
    r = s.sh("env")
    names = sorted(line.split("=")[0] for line in r["stdout"].splitlines())
    check("clean environment (package env, HOME, PATH only)",
          set(names) <= {"HOME", "PATH", "PISTON_TEST_PKG", "PWD", "SHLVL", "_"} and "HOME=/tmp" in r["stdout"], r)
    r = s.run(["/bin/wc", "-c"], "--stdin", os.path.join(s.box, "hostile"))
    check("stdin byte count matches", r["stdout"].split()[0] == str(os.path.getsize(os.path.join(s.box, "hostile"))), r)
    stdin_file = os.path.join(s.tmp, "stdin.txt")
    with open(stdin_file, "w") as f:
        f.write("piston\n")
    r = s.sh("echo out > /dev/stdout; echo err > /dev/stderr; cat /dev/stdin; echo fd1 > /proc/self/fd/1", "--stdin", stdin_file)
    check("the job reopens its stdin, stdout and stderr by path (/dev/stdin, /dev/stderr, /proc/self/fd/1)",
          r["stdout"] == "out\npiston\nfd1\n" and r["stderr"] == "err\n", r)


def root_tree(s):
    r = s.sh("ls /; cat /etc/shadow; ls /root; ls /piston; ls %s; cat /etc/passwd" % s.tmp, "--output", "100000")
    lines = r["stdout"].split()
    check("the root holds only the sandbox's tree",
          lines[:11] == "bin box dev etc lib lib64 pkg proc sbin tmp usr".split(), r)
    err = r["stderr"]
    check("host files are invisible (/etc/shadow, /root, data dir, test dir)",
          all(x in err for x in ("/etc/shadow", "/root", "/piston", s.tmp)) and err.count("No such file") == 4, r)
    check("generated /etc/passwd names the runner", "runner:x:%d:%d:" % (RUNNER, RUNNER) in r["stdout"], r)
    r = s.sh("ls /proc | grep -c '^[0-9]'")
    check("/proc shows only the job", int(r["stdout"].split()[0]) <= 4, r)
    r = s.run(["/bin/grep", "^Cpus_allowed_list", "/proc/self/status"])
    with open("/proc/self/status") as f:
        host_cpus = [l for l in f.read().splitlines() if l.startswith("Cpus_allowed_list")]
    check("the program may use every CPU the engine may (init's own pinning is not inherited)",
          r["stdout"].splitlines() == host_cpus, (r, host_cpus))
    # The engine ignores SIGPIPE itself; here its parent also left SIGUSR1 and
    # SIGHUP ignored and a mask set: the program must see none of that.
    def inherit_junk():
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    p = subprocess.run(s.argv(["/bin/grep", "^Sig[IBC]", "/proc/self/status"]), capture_output=True, env=s.env,
                       timeout=60, preexec_fn=inherit_junk)
    r = json.loads(p.stdout or b"{}")
    check("the program starts with default signal dispositions and an empty mask whatever the engine inherited",
          r.get("stdout", "").split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16, "SigCgt:", "0" * 16], r)
    # init is root and shares the engine's memory: hidden from the job (hidepid=2).
    r = s.sh("tr '\\0' ' ' </proc/1/cmdline; cat /proc/1/comm /proc/1/maps /proc/1/environ")
    check("/proc/1 (init) is hidden from the job: nothing of the engine shows",
          "piston" not in r["stdout"] + r["stderr"] and s.pkg not in r["stdout"] and r["stdout"].strip() == ""
          and r["stderr"].count("such file") == 4, r)
    r = s.sh("touch /usr/x 2>&1; touch /pkg/x 2>&1; touch /x 2>&1; mknod /tmp/n c 1 3 2>&1; ls /dev")
    out = r["stdout"]
    check("/usr, /pkg and / are read-only", out.count("Read-only file system") == 3, r)
    check("no mknod", "Operation not permitted" in out, r)
    check("minimal /dev", all(n in out.split() for n in ("null", "zero", "full", "random", "urandom", "shm")), r)
    r = s.sh("echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c")
    check("/dev nodes work", r["stdout"].split() == ["4", "4"] and r["status"] is None, r)


def seccomp(s):
    r = s.run(["/box/hostile", "syscalls"])
    out = r["stdout"]
    for pair in ["unshare_user=Operation", "unshare_net=Operation", "vsock=Address", "packet=Address",
                 "io_uring=Operation", "bpf=Operation", "keyctl=Operation", "add_key=Operation",
                 "perf=Operation", "userfaultfd=Operation", "mount=Operation", "x32_getpid=Operation",
                 "clone_newns=Operation", "clone3=Function not implemented", "fork=ok", "unix=ok", "inet6=ok"]:
        check("seccomp: " + pair.split("=")[0], pair in out, out)
    # The engine's own filter lets the sandbox's code through with a 64-bit key
    # as the sixth argument; clone3 is the call whose answer tells the filter
    # (ENOSYS) from a pass (a new process), so guess keys on it.
    r = s.run(["/box/hostile", "gate"])
    check("seccomp: 2004 guessed gate keys open nothing", "gate tries=2004 opened=0" in r["stdout"], r)
    host = subprocess.run([os.path.join(s.box, "hostile"), "int80"], capture_output=True)
    if host.returncode == 0:
        r = s.run(["/box/hostile", "int80"])
        check("seccomp: the i386 ABI kills the process", r["signal"] == "SIGSYS" and "survived" not in r["stdout"], r)
    else:
        skip("seccomp: the i386 ABI", "int 0x80 does not work on this host even outside the sandbox")


def limits(s):
    r = s.sh("exec 2>/dev/null; b() { b | b & }; b; sleep 100", "--procs", "32", "--wall", "4000")
    check("fork bomb is contained and ends at the wall limit (TO)", r["status"] == "TO" and r["wall_time"] < 8000, r)
    check("fork bomb leaves no process", runner_procs() == "", runner_procs())
    r = s.run(["/box/hostile", "threads"], "--procs", "40", "--wall", "5000")
    n = r["stdout"].replace("threads=", "").strip()
    check("thread bomb stops at the process limit", n.isdigit() and int(n) < 40, r)
    r = s.run(["/box/hostile", "memory"], "--mem", "50000000", "--wall", "10000")
    check("memory bomb is reported as EL", r["status"] == "EL" and "emory limit" in r["message"], r)
    check("peak memory is reported", r["memory"] > 10000000, r)
    r = s.sh("while :; do :; done", "--time", "500", "--wall", "20000")
    check("CPU loop ends at the CPU limit (TO)",
          r["status"] == "TO" and "CPU" in r["message"] and r["cpu_time"] >= 500 and r["wall_time"] < 10000, r)
    r = s.run(["/bin/sleep", "100"], "--wall", "700")
    check("sleep past the wall limit (TO)", r["status"] == "TO" and 700 <= r["wall_time"] < 5000, r)
    # Killed by the engine, init dies too and reports no peak RSS: before
    # 6.12 (no per-stage memory.peak) the figure is memory.current at the kill.
    # (sleep is not the last command: a shell execs that one, freeing the string)
    # Building the string takes a few CPU seconds under emulation (TCG): time
    # it alone first, so the wall limit falls during the sleep, not before.
    grow = "a=x; while [ ${#a} -lt 32000000 ]; do a=$a$a; done; echo held"
    r = s.sh(grow, "--time", "60000", "--wall", "60000")
    wall = max(4000, 3 * int(r.get("wall_time") or 0) + 2000)
    r = s.sh(grow + "; sleep 1000; echo ${#a}", "--time", str(wall), "--wall", str(wall))
    check("a stage killed at its time limit reports the memory it held (at least 32 MB)",
          r["status"] == "TO" and r["stdout"] == "held\n" and r["memory"] >= 32000000, r)
    r = s.sh("for s in HUP INT QUIT TERM USR1 USR2 ALRM PIPE CHLD TSTP TTIN TTOU XCPU XFSZ; do trap '' $s; done;"
             " sh -c \"trap '' TERM INT; sleep 100\" & sleep 100", "--wall", "700")
    check("a program trapping every signal is killed (TO)", r["status"] == "TO" and runner_procs() == "", r)
    r = s.run(["/bin/yes", "flood"], "--output", "1000")
    check("output flood: OL, cut exactly at the cap",
          r["status"] == "OL" and len(r["stdout"]) == 1000 and len(r["output"]) == 1000, r.get("message"))
    r = s.sh("echo out; yes err >&2", "--output", "1000")
    check("stderr flood: OL names stderr, stdout kept",
          r["status"] == "OL" and "stderr" in r["message"] and r["stdout"] == "out\n" and len(r["stderr"]) == 1000, r)
    # Engine memory stays bounded under a flood on both streams.
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(s.argv(["/bin/sh", "-c", "yes aaaaaaaaaaaaaaaaaaaa & yes bbbbbbbbbbbbbbbbbbbbb >&2 & wait"],
                          ["--output", "1000000", "--wall", "3000"]),
                   env=s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    check("engine memory stays bounded under an output flood (max RSS %d KiB)" % rss, rss < 40000 or rss == before)
    r = s.sh("dd if=/dev/zero of=/box/big bs=1M count=50 2>&1; dd if=/dev/zero of=/tmp/big bs=1M count=50 2>&1;"
             " dd if=/dev/zero of=/dev/shm/big bs=1M count=50 2>&1", "--fsize", "0",
             env={"PISTON_BOX_SIZE": "8000000"})
    check("/box, /tmp and /dev/shm are size-capped", r["stdout"].count("No space left") == 3, r)
    r = s.sh("dd if=/dev/zero of=/box/big bs=1M count=5", "--fsize", "100000")
    check("file size limit (EL)", r["status"] == "EL" and r["signal"] == "SIGXFSZ", r)
    r = s.run(["/box/hostile", "files", "/tmp"], "--wall", "60000")
    n = r["stdout"].split()[0].replace("files=", "") if r["stdout"] else ""
    check("millions of empty files stop at the inode cap", n.isdigit() and int(n) < 20000, r)
    r = s.sh("ulimit -n", "--files", "20")
    check("open files limit", r["stdout"].strip() == "20", r)


def escapes(s):
    r = s.run(["/box/hostile", "daemon"])
    time.sleep(0.3)
    check("a double-forked setsid daemon does not outlive the job",
          r["stdout"] == "daemonized\n" and runner_procs() == "", (r, runner_procs()))
    # A listener on the host's loopback must see nothing.
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(0.5)
    port = ls.getsockname()[1]
    r = s.run(["/box/hostile", "connect", "127.0.0.1", str(port)])
    check("network: the host's loopback is unreachable", r["stdout"].strip() == "connect=Connection refused", r)
    try:
        ls.accept()
        accepted = True
    except OSError:
        accepted = False
    ls.close()
    check("network: the host listener saw no connection", not accepted)
    r = s.sh("ip -o link | cut -d: -f2")
    check("network: only lo exists", r["stdout"].split() == ["lo"], r)
    # kill(-1) and ptrace reach nothing outside, even a process of the same uid.
    host = subprocess.Popen(["setpriv", "--reuid", str(RUNNER), "--regid", str(RUNNER), "--clear-groups",
                             "sleep", "60"])
    try:
        time.sleep(0.2)
        r = s.run(["/box/hostile", "killall"])
        check("kill(-1) reaches only the job", host.poll() is None, r)
        r = s.run(["/box/hostile", "ptrace", str(host.pid)])
        out = r["stdout"]
        check("ptrace of outside and inside processes fails",
              ("attach=No such process" in out or "attach=Operation not permitted" in out)
              and "attach_child=Operation not permitted" in out, r)
    finally:
        host.kill()
        host.wait()
    # A setuid-root binary, in /usr, gains nothing.
    suid = os.path.join(s.pkg, "usr/bin/suid-hostile")
    shutil.copy(os.path.join(s.box, "hostile"), suid)
    os.chown(suid, 0, 0)
    os.chmod(suid, 0o4755)
    r = s.run(["/usr/bin/suid-hostile", "ids"])
    os.unlink(suid)
    check("a setuid binary gains nothing", "euid=%d" % RUNNER in r["stdout"], r)
    s.sh("echo secret > /tmp/left; echo secret > /dev/shm/left; echo secret > /box/left")
    r = s.sh("cat /tmp/left /dev/shm/left /box/left 2>&1 | grep -c secret")
    check("files left in /tmp, /dev/shm, /box are gone in the next job", r["stdout"].strip() == "0", r)
    check("the box copy never touched the host directory", not os.path.exists(os.path.join(s.box, "left")))


def failures_and_crashes(s):
    p = subprocess.run([PISTON, "sandbox", "--root", s.tmp + "/no-such-package", "--", "/bin/true"],
                       capture_output=True, env=s.env, timeout=60)
    r = json.loads(p.stdout or b"{}")
    check("a missing package is an internal error (XX) with a message",
          p.returncode == 0 and r.get("status") == "XX" and "package" in r.get("message", ""), (p, r))
    r = s.run(["/no/such/program"])
    check("a missing program is XX, not a crash", r["status"] == "XX" and "/no/such/program" in r["message"], r)
    # The engine is killed with -9 mid-stage: the stage dies with it, and the
    # next engine removes its cgroups.
    a = subprocess.Popen(s.argv(["/bin/sleep", "1000"], ["--wall", "60000"]), env=s.env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while runner_procs() == "" and time.time() < deadline:
        time.sleep(0.1)
    check("stage of the engine to be killed is running", runner_procs() != "")
    a.kill()
    a.wait()
    deadline = time.time() + 10
    while runner_procs() != "" and time.time() < deadline:
        time.sleep(0.1)
    check("kill -9 of the engine kills its stage", runner_procs() == "", runner_procs())
    stale = cgroups.engine_dirs(a.pid)
    r = s.run(["/bin/true"])
    left = [d for d in stale if os.path.exists(d)]
    check("the next engine removes a killed engine's cgroups", stale and not left and r["status"] is None,
          (stale, left, r))
    # An engine in another PID namespace (a container sharing the host's
    # cgroup tree) sees no process behind a live engine's piston-<pid>: the
    # live engine's lock on its directories keeps them.
    # (8 s: the other engine must still be running when the second has finished, even under emulation)
    a = subprocess.Popen(s.argv(["/bin/sleep", "8"], ["--wall", "60000"]), env=s.env,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while runner_procs() == "" and time.time() < deadline:
        time.sleep(0.1)
    mine = sorted(s for d in cgroups.engine_dirs(a.pid) for s in glob.glob(d + "/slot*"))
    b = subprocess.run(["unshare", "--pid", "--fork"] + s.argv(["/bin/true"]), env=s.env, capture_output=True,
                       timeout=60)
    kept = [d for d in mine if os.path.exists(d)]
    out, _ = a.communicate(timeout=60)
    ra = json.loads(out or b"{}")
    check("an engine in another PID namespace leaves a live engine's cgroups alone",
          len(mine) >= cgroups.hierarchies() and kept == mine and b.returncode == 0 and ra.get("status") is None and ra.get("memory", 0) > 0,
          (mine, kept, b.returncode, b.stderr[-300:], ra))


def stalled_setup(s):
    """The wall limit is the command's time, from its execve: a set-up the
    kernel stalls (made here with PISTON_SANDBOX_SETUP_DELAY_MS; seen for 3 s
    under emulation after a kill -9 of the engine) does not use it up, and a
    set-up that never ends is still stopped, 10 s after the limit."""
    t0 = time.monotonic()
    r = s.sh("echo hi", "--wall", "1000", env={"PISTON_SANDBOX_SETUP_DELAY_MS": "1500"})
    took = time.monotonic() - t0
    check("a set-up stalled 1.5 s does not spend a 1 s wall limit (echo runs, wall_time its own)",
          r.get("status") is None and r.get("stdout") == "hi\n" and r.get("wall_time", 9999) < 1000 and took >= 1.5,
          (r, round(took, 2)))
    t0 = time.monotonic()
    r = s.run(["/bin/sleep", "100"], "--wall", "1000", env={"PISTON_SANDBOX_SETUP_DELAY_MS": "1500"})
    took = time.monotonic() - t0
    check("after a stalled set-up the command still gets its whole wall limit, no more (TO at ~1 s of its own)",
          r.get("status") == "TO" and 1000 <= r.get("wall_time", 0) < 2000 and 2.5 <= took < 6, (r, round(took, 2)))
    t0 = time.monotonic()
    r = s.sh("echo never", "--wall", "300", env={"PISTON_SANDBOX_SETUP_DELAY_MS": "30000"})
    took = time.monotonic() - t0
    check("a set-up that never ends is stopped 10 s after the wall limit (TO)",
          r.get("status") == "TO" and r.get("stdout") == "" and 10 <= took < 20, (r, round(took, 2)))


def without_cgroups(s):
    """No cgroup hierarchy mounted: the engine still runs, says what it cannot
    enforce, and falls back to rlimits and rusage."""
    script = ('for m in /sys/fs/cgroup/*; do umount -l "$m"; done; umount -l /sys/fs/cgroup; '
              'exec "$@"')
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                        *s.argv(["/bin/sh", "-c", "while :; do :; done"], ["--time", "700", "--wall", "20000"])],
                       capture_output=True, env=s.env, timeout=120)
    try:
        r = json.loads(p.stdout)
    except ValueError:
        r = {}
    err = p.stderr.decode(errors="replace")
    check("without cgroups: the engine says which limits it cannot enforce",
          "cannot enforce: memory" in err, err[:300])
    check("without cgroups: CPU limit still ends the job (TO via RLIMIT_CPU)",
          r.get("status") == "TO" and r.get("cpu_time", 0) >= 700, r)


def in_cgroup(s, cgroup, cmd, opts=()):
    """Run `piston sandbox` started inside cgroup (v2), as a service there would be."""
    argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, *s.argv(cmd, opts)]
    p = subprocess.run(argv, capture_output=True, env=s.env, timeout=120)
    try:
        r = json.loads(p.stdout)
    except ValueError:
        r = {"status": "<no json>", "exit": p.returncode}
    return r, p.stderr.decode(errors="replace")


def cgroup_v2_placements(s):
    """cgroup v2 only: the engine in a delegated subtree without the memory
    controller, and in a non-root cgroup that already holds a process."""
    if cgroups.layout() != "v2":
        skip("cgroup v2 placements", "this host's /sys/fs/cgroup is cgroup v1")
        return
    top = os.path.join(cgroups.ROOT, "ptest-%d" % os.getpid())
    sleeper = None
    try:
        with open(os.path.join(cgroups.ROOT, "cgroup.subtree_control"), "w") as f:
            f.write("+memory +pids")
        os.mkdir(top)
        # A subtree handed pids only: the engine must name what is missing and
        # still contain a memory bomb, per process.
        with open(os.path.join(top, "cgroup.subtree_control"), "w") as f:
            f.write("+pids")
        svc = os.path.join(top, "nomem.service")
        os.mkdir(svc)
        r, err = in_cgroup(s, svc, ["/box/hostile", "memory"], ["--mem", "50000000", "--wall", "10000"])
        check("v2 without memory: the missing controller is named with why and the cost, at WARN",
              "WARN" in err and "'memory' is missing" in err and "Delegate=yes" in err and "RLIMIT_DATA" in err, err[:600])
        got = int(r.get("stdout", "").replace("allocated=", "").strip() or 0)
        check("v2 without memory: the bomb is held to the limit per process (RLIMIT_DATA)",
              got <= 50000000 and "per process only" in (r.get("message") or ""), r)
        check("v2 without memory: the engine's leaf is gone after a clean exit",
              not [d for d in cgroups.below(svc) if os.path.basename(d).startswith("piston-engine-")],
              cgroups.below(svc))
        check("v2 without memory: the service's cgroup is handed back as it was",
              cgroups.below(svc) == [] and open(os.path.join(svc, "cgroup.subtree_control")).read().strip() == "",
              (cgroups.below(svc), open(os.path.join(svc, "cgroup.subtree_control")).read()))
        # A cgroup that already holds another process: the engine moves into a
        # leaf with it, limits work, its own cgroups go at exit.
        busy = os.path.join(top, "busy.service")
        os.mkdir(busy)
        with open(os.path.join(top, "cgroup.subtree_control"), "w") as f:
            f.write("+memory +pids")
        sleeper = subprocess.Popen(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec sleep 60', busy])
        time.sleep(0.3)
        r, err = in_cgroup(s, busy, ["/box/hostile", "memory"], ["--mem", "50000000", "--wall", "10000"])
        check("v2 busy cgroup: a memory bomb is EL (the memory cgroup works there)", r.get("status") == "EL", (r, err[:300]))
        left = [d for d in cgroups.below(busy) if os.path.basename(d).startswith("piston-") and
                not os.path.basename(d).startswith("piston-engine-")]
        check("v2 busy cgroup: the engine's job cgroups are gone after exit", not left, left)
    except OSError as e:
        check("cgroup v2 placements could be set up", False, repr(e))
    finally:
        if sleeper:
            sleeper.kill()
            sleeper.wait()
        time.sleep(0.2)
        for d in reversed([top] + cgroups.below(top)):
            try:
                os.rmdir(d)
            except OSError:
                pass


def concurrent(s):
    a = subprocess.Popen(s.argv(["/box/hostile", "serve", "pistontest", "4555", "4242", "3"], ["--wall", "8000"]),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=s.env)
    time.sleep(1.0)
    b = s.run(["/box/hostile", "reach", "pistontest", "4555", "4242"],
              env={"PISTON_RUNNER_UID_MIN": "1402", "PISTON_RUNNER_GID_MIN": "1402"})
    out_a, _ = a.communicate(timeout=60)
    ra = json.loads(out_a)
    check("concurrent job A set up its channels",
          all(x in ra["stdout"] for x in ("abstract_listen=ok", "tcp_listen=ok", "shm_create=ok")), ra)
    out = b["stdout"]
    check("job B cannot reach A (abstract socket, loopback TCP, SysV shm)",
          "abstract_connect=Connection refused" in out and "tcp_connect=Connection refused" in out
          and "shm_get=No such file" in out, b)


def main():
    if os.geteuid() != 0:
        print("0 passed, 0 failed, 1 skipped (the sandbox needs root)")
        return 0
    tmp = tempfile.mkdtemp(prefix="sbxtest.")
    try:
        mounts_before = mount_points()
        cgroups_before = dead_engine_cgroups()
        s = Env(tmp)
        subprocess.run([os.path.join(ROOT, "tools/mk-busybox-pkg.sh"), s.pkg], check=True)
        os.mkdir(s.box)
        subprocess.run(["musl-gcc", "-static", "-O1", "-pthread", "-o", os.path.join(s.box, "hostile"),
                        os.path.join(ROOT, "test/sandbox/hostile.c")], check=True)
        for part in (basics, root_tree, seccomp, limits, escapes, failures_and_crashes, stalled_setup, without_cgroups, cgroup_v2_placements, concurrent):
            try:
                part(s)
            except Exception as e:  # a crash in one part is one failure, not the end of the suite
                check("%s ran to completion" % part.__name__, False, repr(e))
        time.sleep(0.2)
        check("no leftover processes of the runner uids", runner_procs(RUNNER, RUNNER + 1) == "",
              runner_procs(RUNNER, RUNNER + 1))
        mounts_after = mount_points()
        check("no leftover mounts", mounts_after == mounts_before,
              (sorted(set(mounts_after) - set(mounts_before)), sorted(set(mounts_before) - set(mounts_after))))
        left = dead_engine_cgroups() - cgroups_before
        check("no leftover cgroups", not left, left)
        errs = "".join(s.stderr)
        check("the CLI reported no error", "error" not in errs.lower() and "cannot" not in errs, errs[:500])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tail = ", %d skipped" % skipped if skipped else ""
    print("%d passed, %d failed%s" % (passed, failed, tail))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
