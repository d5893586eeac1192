"""Shared fixture of the execute, connect and cli_run suites: test packages
made from the host's static busybox, and a `piston serve` started on a free
loopback port with its own temporary data directory.

The packages (DATA/packages/LANG/VERSION, SPEC section 3):
  shell 1.0.0, 1.2.0, 2.0.0   aliases sh, bb; run = busybox sh on the file
  cc 1.0.0                    a "compiled language": compile checks the
                              sources (SYNTAX_ERROR -> exit 1 with a message on
                              stderr) and writes an executable /box/a.out;
                              run executes it
  multi 1.0.0                 provides mlang1 (alias m1) and mlang2 (its own
                              limit_overrides); run prints $PISTON_LANGUAGE
  limited 1.0.0               package limit_overrides (run_timeout 2000,
                              compile_timeout 5000)
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BUSYBOX = shutil.which("busybox") or "/bin/busybox"
APPLETS = ["sh", "cat", "echo", "sleep", "head", "tail", "tr", "printf", "kill", "yes",
           "grep", "chmod", "ls", "env", "wc", "dd", "seq", "true", "false", "sed", "cp",
           "rm", "mkdir", "test", "[", "awk", "od", "stat", "id", "touch"]


def make_package(data, lang, version, run, compile_script=None, meta_extra=None, env=None):
    d = os.path.join(data, "packages", lang, version)
    os.makedirs(os.path.join(d, "usr", "bin"), exist_ok=True)
    shutil.copy(BUSYBOX, os.path.join(d, "usr", "bin", "busybox"))
    for a in APPLETS:
        p = os.path.join(d, "usr", "bin", a)
        if not os.path.lexists(p):
            os.symlink("busybox", p)
    meta = {"language": lang, "version": version, "aliases": []}
    meta.update(meta_extra or {})
    with open(os.path.join(d, "metadata.json"), "w") as f:
        json.dump(meta, f)
    for name, text in (("run", run), ("compile", compile_script)):
        if text is None:
            continue
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(d, name), 0o755)
    with open(os.path.join(d, "environment"), "w") as f:
        f.write(env or "")
    open(os.path.join(d, ".ppman-installed"), "w").close()
    return d


SHELL_RUN = "#!/bin/sh\nexec /bin/sh \"$@\"\n"
CC_COMPILE = """#!/bin/sh
if grep -q SYNTAX_ERROR "$@"; then
  echo "cc: error: syntax error in $*" >&2
  exit 1
fi
echo "compiling $*"
cat > /box/compile_stdin.txt
{ echo '#!/bin/sh'; cat "$@"; } > /box/a.out && chmod 755 /box/a.out
"""
CC_RUN = "#!/bin/sh\nshift\nexec /box/a.out \"$@\"\n"
MULTI_RUN = "#!/bin/sh\necho \"lang=$PISTON_LANGUAGE\"\nexec /bin/sh \"$@\"\n"


def make_all_packages(data):
    for v in ("1.0.0", "1.2.0", "2.0.0"):
        make_package(data, "shell", v, SHELL_RUN, meta_extra={"aliases": ["sh", "bb"]},
                     env="GREETING=hello from env\n")
    make_package(data, "cc", "1.0.0", CC_RUN, compile_script=CC_COMPILE,
                 meta_extra={"aliases": ["c-sim"]})
    make_package(data, "multi", "1.0.0", MULTI_RUN, meta_extra={
        "provides": [{"language": "mlang1", "aliases": ["m1"]},
                     {"language": "mlang2", "aliases": [], "limit_overrides": {"run_timeout": 1500}}]})
    make_package(data, "limited", "1.0.0", SHELL_RUN,
                 meta_extra={"limit_overrides": {"run_timeout": 2000, "compile_timeout": 5000,
                                                 "run_cpu_time": 2000}})


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, method, path, body=None, headers=None, timeout=60):
    """One HTTP request to 127.0.0.1:port: (status, parsed JSON or raw bytes).
    A body that is not bytes/str is sent as JSON."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data
    finally:
        c.close()


class Engine:
    """`piston serve` with the test packages; always stop() it."""

    def __init__(self, env=None, packages=True, link_packages=()):
        """link_packages: installed package directories (.../LANG/VERSION)
        to use besides the test packages (hard-linked copies: the engine
        does not follow symbolic links in its data directory)."""
        self.dir = tempfile.mkdtemp(prefix="piston-exec-")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(os.path.join(self.data, "packages"))
        if packages:
            make_all_packages(self.data)
        for src in link_packages:
            lang_dir = os.path.join(self.data, "packages", os.path.basename(os.path.dirname(src)))
            os.makedirs(lang_dir, exist_ok=True)
            dst = os.path.join(lang_dir, os.path.basename(src))
            if subprocess.run(["cp", "-al", src, dst], stderr=subprocess.DEVNULL).returncode != 0:
                # another filesystem (a tmpfs /tmp): cp -al stopped half-way,
                # and cp -a into the directory it left would nest one deeper
                shutil.rmtree(dst, ignore_errors=True)
                subprocess.run(["cp", "-a", src, dst], check=True)
        self.port = free_port()
        e = dict(os.environ)
        e.update({"PISTON_DATA_DIRECTORY": self.data,
                  "PISTON_BIND_ADDRESS": "127.0.0.1:%d" % self.port,
                  "PISTON_LOG_LEVEL": "WARN"})
        e.update(env or {})
        self.log = open(os.path.join(self.dir, "serve.log"), "w+")
        binary = os.environ.get("PISTON_BIN", "./piston")
        self.proc = subprocess.Popen([binary, "serve"], env=e, stdout=self.log, stderr=self.log)
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("piston serve exited %s: %s" % (self.proc.returncode, self.logtext()))
            try:
                st, _ = self.request("GET", "/")
                if st == 200:
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("piston serve did not answer: " + self.logtext())

    def logtext(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-3000:]

    def request(self, method, path, body=None, headers=None, timeout=60):
        return request(self.port, method, path, body, headers, timeout)

    def execute(self, req, **kw):
        return self.request("POST", "/api/v2/execute", req, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Checker:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, cond, name, detail=""):
        if cond:
            self.passed += 1
            print("ok " + name)
        else:
            self.failed += 1
            print("FAIL %s %s" % (name, str(detail)[:600]))
        return cond

    def done(self, skipped=0):
        """The summary line (with the skips, whose reasons were printed above) and the exit code."""
        tail = ", %d skipped" % skipped if skipped else ""
        print("%d passed, %d failed%s" % (self.passed, self.failed, tail))
        return 1 if self.failed else 0


def pgrep(pattern):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if pattern in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


class WS:
    """A minimal RFC 6455 client: masked frames out, unmasked frames in."""

    def __init__(self, port, path="/api/v2/connect", timeout=30):
        import base64 as b64
        import hashlib
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = b64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(4096)
            if not d:
                raise OSError("closed during handshake")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        want = b64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                             .digest()).decode()
        self.ok = self.head.startswith("HTTP/1.1 101") and want in self.head

    def send_frame(self, opcode, payload, fin=True, mask=True):
        if isinstance(payload, str):
            payload = payload.encode()
        n = len(payload)
        h = bytes([(0x80 if fin else 0) | opcode])
        mbit = 0x80 if mask else 0
        if n < 126:
            h += bytes([mbit | n])
        elif n < 65536:
            h += bytes([mbit | 126]) + n.to_bytes(2, "big")
        else:
            h += bytes([mbit | 127]) + n.to_bytes(8, "big")
        if mask:
            k = os.urandom(4)
            h += k
            payload = bytes(b ^ k[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(h + payload)

    def send(self, obj):
        self.send_frame(1, json.dumps(obj))

    def _need(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("connection closed")
            self.buf += d

    def recv_frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = int.from_bytes(self.buf[2:4], "big"), 4
        elif n == 127:
            self._need(10)
            n, off = int.from_bytes(self.buf[2:10], "big"), 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0F, payload

    def recv(self):
        """Next message: a dict for text, ("close", code, reason), ("pong", data)."""
        op, p = self.recv_frame()
        if op == 1:
            return json.loads(p)
        if op == 8:
            code = int.from_bytes(p[:2], "big") if len(p) >= 2 else None
            return ("close", code, p[2:].decode())
        if op == 10:
            return ("pong", p)
        return ("op%d" % op, p)

    def until_close(self, limit=1000):
        msgs = []
        for _ in range(limit):
            m = self.recv()
            msgs.append(m)
            if isinstance(m, tuple) and m[0] == "close":
                break
        return msgs

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
