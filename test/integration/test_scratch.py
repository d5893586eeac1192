"""FROM scratch: `piston serve` in a root directory that holds only the static
binary and a data directory with the busybox test packages -- no /etc, /bin,
/lib or /dev from the host -- the way the Dockerfile's final stage runs it.

The root is entered with chroot inside fresh mount and PID namespaces
(`unshare --mount --pid --fork`, so the engine is PID 1 as in a container);
the only things added are the kernel interfaces the engine needs, as mounts
inside the new mount namespace: /proc (a fresh procfs of the new PID
namespace: /proc/self/exe, namespace files, mountinfo) and /sys/fs/cgroup
(a recursive bind of the host's cgroup hierarchies, for the job limits).
The root itself is bind-mounted onto itself first: in a container the root
is always a mount point, and the engine's sandbox needs that (it pivots into
an empty tmpfs mount namespace, which a bare chroot directory refuses).
POST /api/v2/execute must give the same answers as an engine on the host,
and SIGTERM must stop it with exit status 0."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import Checker, Engine, free_port, make_all_packages, request  # noqa: E402

t = Checker()
check = t.check
BIN = os.path.abspath(os.environ.get("PISTON_BIN", "./piston"))

SETUP = r"""set -e
root="$1"; shift
mount --bind "$root" "$root"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup"
exec chroot "$root" "$@"
"""

REQUESTS = [
    {"language": "shell", "version": "*", "files": [{"content": 'read x; echo "got $x"; echo err >&2; exit 3'}],
     "stdin": "input\n", "args": ["a", "b"]},
    {"language": "cc", "version": "1.0.0", "files": [{"name": "main.c", "content": 'echo "compiled $1"'}],
     "args": ["arg"]},
    {"language": "shell", "version": "*", "files": [{"content": "yes 0123456789"}]},
    {"language": "shell", "version": "*", "files": [{"content": "sleep 5"}], "run_timeout": 300},
    {"language": "shell", "version": "*", "files": [{"content": "id -u; ls /; cat /etc/passwd | wc -l"}]},
    {"language": "m1", "version": "*", "files": [{"content": "echo $PISTON_LANGUAGE"}]},
    {"language": "nope", "version": "*", "files": [{"content": ""}]},
]


def comparable(status, body):
    """The answer without the measurements that vary run to run."""
    if isinstance(body, dict):
        body = json.loads(json.dumps(body))
        for stage in ("compile", "run"):
            for k in ("memory", "cpu_time", "wall_time"):
                (body.get(stage) or {}).pop(k, None)
        # the runner uid depends on the job slot the engine picked
        run = body.get("run") or {}
        if run.get("stdout", "").split("\n")[0].isdigit():
            run["stdout"] = "UID" + run["stdout"][run["stdout"].index("\n"):]
            run["output"] = "UID" + run["output"][run["output"].index("\n"):]
    return status, body


def dynamically_linked(path):
    """True if the ELF file asks for a program interpreter (PT_INTERP): such
    a build (e.g. a sanitizer one) cannot run in an empty root."""
    import struct
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return any(struct.unpack_from("<I", table, i * phentsize)[0] == 3 for i in range(phnum))


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def main():
    if not shutil.which("unshare") or not shutil.which("chroot"):
        print("skip: unshare or chroot missing")
        print("0 passed, 0 failed, 1 skipped")
        return 0
    if dynamically_linked(BIN):
        print("skip: %s is dynamically linked: it cannot run FROM scratch" % BIN)
        print("0 passed, 0 failed, 1 skipped")
        return 0
    tmp = tempfile.mkdtemp(prefix="piston-scratch-")
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "proc"))
    os.makedirs(os.path.join(root, "sys", "fs", "cgroup"))
    shutil.copy(BIN, os.path.join(root, "piston"))
    make_all_packages(os.path.join(root, "piston-data"))
    check(sorted(os.listdir(root)) == ["piston", "piston-data", "proc", "sys"],
          "the root holds only the binary, the data directory and the two mount points", os.listdir(root))
    # A root that is not a mount point (a bare chroot) cannot hold the
    # sandbox: the engine says so in words rather than with a stray errno.
    r = subprocess.run(["unshare", "--mount", "chroot", root, "/piston", "sandbox", "--root", "/nothing",
                        "--", "/bin/true"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "is / a mount point?" in r.stderr,
          "a root that is not a mount point: a clear error naming the cause", (r.returncode, r.stderr))
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "PISTON_DATA_DIRECTORY": "/piston-data",
           "PISTON_BIND_ADDRESS": "127.0.0.1:%d" % port, "PISTON_LOG_LEVEL": "WARN"}
    log = open(os.path.join(tmp, "serve.log"), "w+")
    proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--kill-child",
                             "sh", "-c", SETUP, "setup", root, "/piston", "serve"],
                            env=env, stdout=log, stderr=log)
    host = None
    try:
        # the scratch engine answers at all
        up = False
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None and not up:
            try:
                up = request(port, "GET", "/")[0] == 200
            except OSError:
                time.sleep(0.1)
        log.flush()
        log.seek(0)
        if not check(up, "piston serve starts in the scratch root", log.read()[-2000:]):
            return t.done()
        engine = children(proc.pid)
        with open("/proc/%d/status" % engine[0]) as f:
            nspid = [line.split()[-1] for line in f if line.startswith("NSpid:")]
        check(nspid == ["1"], "the engine is PID 1 of its namespace, as in a container", nspid)
        check(os.readlink("/proc/%d/root" % engine[0]) == root, "the engine's root is the scratch root",
              os.readlink("/proc/%d/root" % engine[0]))
        host = Engine()
        for i, req in enumerate(REQUESTS):
            a = comparable(*request(port, "POST", "/api/v2/execute", req))
            b = comparable(*host.execute(req))
            check(a == b, "request %d: the same answer as on the host (%s)" % (i, req["files"][0]["content"][:30]),
                  (a, b))
        st, rts = request(port, "GET", "/api/v2/runtimes")
        check(st == 200 and rts == host.request("GET", "/api/v2/runtimes")[1], "the same runtimes as on the host")
        engine[0] and os.kill(engine[0], signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        check(rc == 0, "SIGTERM: the scratch engine exits 0", rc)
    finally:
        if proc.poll() is None:
            proc.kill()   # --kill-child: the engine dies with unshare
            proc.wait()
        if host:
            host.stop()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
