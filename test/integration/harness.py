"""Shared helpers for piston's integration tests (Python 3 standard library only).

    from harness import Server, Tally
    t = Tally()
    with Server(env={"PISTON_RUN_TIMEOUT": "5000"}) as s:
        status, headers, body = s.request("GET", "/")
        t.check(status == 200, "GET / answers 200")
        code, obj = s.json("POST", "/api/v2/execute", {...})
        sock = s.connect()                  # raw socket to the server
        s.send_raw(sock, b"GET / HTTP/1.1\\r\\n\\r\\n")
        status, headers, body = read_response(sock)
        t.check(s.stop() == 0, "SIGTERM exits 0")
    t.done()                                # prints "N passed, N failed", exits

Server starts `piston serve` ($PISTON_BIN, default ./piston) on a free
loopback port with its own temporary PISTON_DATA_DIRECTORY (or data_dir=),
waits until GET / answers, and always kills what it started.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref

_pending = weakref.WeakKeyDictionary()  # bytes read beyond a response, per socket


class Conn(socket.socket):
    """A socket that can carry bytes read past the last response."""
    _pending = b""


def set_pending(sock, data):
    try:
        sock._pending = data
    except AttributeError:
        _pending[sock] = data


def get_pending(sock):
    return getattr(sock, "_pending", None) or _pending.get(sock, b"")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PISTON_BIN = os.environ.get("PISTON_BIN") or os.path.join(ROOT, "piston")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_response(sock, head_request=False, timeout=10.0):
    """Reads one HTTP/1.x response (Content-Length, chunked or until-close
    framed) from a socket. Returns (status, headers dict with lower-case
    names, body bytes); raises EOFError if the peer closed before a status
    line, TimeoutError on timeout. Bytes beyond the response are kept
    with the socket for the next call."""
    sock.settimeout(timeout)
    data = get_pending(sock)

    def more():
        nonlocal data
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        data += chunk

    while True:
        while b"\r\n\r\n" not in data:
            more()
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if 100 <= status < 200 and status != 101:
            continue  # interim response: read the final one
        break
    body = b""
    if head_request or status in (204, 304) or status == 101:
        pass
    elif "content-length" in headers:
        n = int(headers["content-length"])
        while len(data) < n:
            more()
        body, data = data[:n], data[n:]
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            while b"\r\n" not in data:
                more()
            line, _, data = data.partition(b"\r\n")
            n = int(line.split(b";")[0], 16)
            while len(data) < n + 2:
                more()
            body += data[:n]
            data = data[n + 2:]
            if n == 0:
                break
    else:
        try:
            while True:
                more()
        except EOFError:
            pass
        body, data = data, b""
    set_pending(sock, data)
    return status, headers, body


def wait_closed(sock, timeout=10.0):
    """True if the peer closes the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    end = time.time() + timeout
    try:
        while time.time() < end:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


class Server:
    def __init__(self, env=None, args=(), data_dir=None, start_timeout=20.0, preexec_fn=None):
        self.extra_env = dict(env or {})
        self.args = list(args)
        self.own_data_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="piston-test-")
        self.start_timeout = start_timeout
        self.preexec_fn = preexec_fn  # e.g. to set resource limits of the server
        self.proc = None
        self.port = None
        self.log_path = None

    # -- lifecycle --
    def start(self):
        for _attempt in range(3):
            self.port = free_port()
            env = dict(os.environ)
            env.update({
                "PISTON_BIND_ADDRESS": "127.0.0.1:%d" % self.port,
                "PISTON_DATA_DIRECTORY": self.data_dir,
                "PISTON_LOG_LEVEL": env.get("PISTON_TEST_LOG_LEVEL", "WARN"),
            })
            env.update(self.extra_env)
            self.log_path = os.path.join(tempfile.gettempdir(), "piston-test-%d.log" % self.port)
            log = open(self.log_path, "wb")
            try:
                self.proc = subprocess.Popen([PISTON_BIN, "serve"] + self.args, env=env,
                                             stdout=log, stderr=subprocess.STDOUT, preexec_fn=self.preexec_fn)
            except OSError as e:
                log.close()
                os.unlink(self.log_path)
                raise RuntimeError("cannot start %s: %s" % (PISTON_BIN, e))
            log.close()
            if self._wait_ready():
                return self
            self.kill()
        raise RuntimeError("piston serve did not start; log:\n" + self.log())

    def _wait_ready(self):
        end = time.time() + self.start_timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                status, _, _ = self.request("GET", "/", timeout=2)
                if status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Signals the server and returns its exit status (None if it had to be killed)."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.kill()
            if self.own_data_dir:
                shutil.rmtree(self.data_dir, ignore_errors=True)
            raise

    def __exit__(self, *exc):
        self.kill()
        if self.own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if self.log_path and os.path.exists(self.log_path) and not exc[0]:
            os.unlink(self.log_path)
        return False

    # -- requests --
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, timeout=30.0):
        """One request on a fresh connection: (status, headers dict lower-case, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            if isinstance(body, str):
                body = body.encode()
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def json(self, method, path, obj=None, timeout=60.0):
        """JSON request: (status, parsed body or None if not JSON)."""
        body = None if obj is None else json.dumps(obj).encode()
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        status, _, data = self.request(method, path, body, hdrs, timeout)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, None

    def connect(self, timeout=10.0):
        sock = Conn(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            raise
        return sock

    @staticmethod
    def send_raw(sock, data):
        sock.sendall(data)


class Tally:
    """Counts checks; prints 'ok NAME' / 'FAIL NAME' and the summary line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def check(self, cond, name, detail=""):
        if cond:
            self.passed += 1
            print("ok " + name)
        else:
            self.failed += 1
            print("FAIL " + name + (": " + str(detail) if detail else ""))
        sys.stdout.flush()
        return bool(cond)

    def skip(self, name, reason):
        self.skipped += 1
        print("skip %s: %s" % (name, reason))

    def done(self):
        line = "%d passed, %d failed" % (self.passed, self.failed)
        if self.skipped:
            line += ", %d skipped" % self.skipped
        print(line)
        sys.exit(1 if self.failed else 0)
