"""Package manager: repositories over a plain path, file://, http:// and
https:// (a CA and certificates made here with openssl, served by Python's
ssl + http.server on loopback), verified atomic installs, hostile archives,
kill -9 mid-install, concurrent installs, and the engine's /api/v2/packages.

Most cases use `piston ppman --data DIR` (no engine); the engine cases run
when `piston serve` is built.
"""
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import pty
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import BUSYBOX, Checker, Engine, free_port  # noqa: E402

BIN = os.environ.get("PISTON_BIN", "./piston")
C = Checker()
ROOT = tempfile.mkdtemp(prefix="piston-pkgs-")
REPO = os.path.join(ROOT, "repo")
os.makedirs(REPO)


# ---------------------------------------------------------------- packages

def add(tf, name, data=b"", mode=0o644, kind=tarfile.REGTYPE, link="", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.linkname = link
    for k, v in kw.items():
        setattr(ti, k, v)
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)


def package_bytes(lang, version, extra=None, busybox=False, prefix="./"):
    """A gzip'd tar package; extra(tf) may add members (hostile ones too)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        if prefix:
            add(tf, prefix, kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, prefix + "usr", kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, prefix + "usr/bin", kind=tarfile.DIRTYPE, mode=0o755)
        meta = {"language": lang, "version": version, "aliases": [lang[:2] + "x"]}
        add(tf, prefix + "metadata.json", json.dumps(meta).encode())
        add(tf, prefix + "run", b"#!/bin/sh\nexec /bin/sh \"$@\"\n", mode=0o755)
        add(tf, prefix + "environment", b"GREETING=hi\n")
        add(tf, prefix + "usr/bin/tool", b"tool data\n", mode=0o4755)   # setuid is dropped
        add(tf, prefix + "usr/bin/tool-link", kind=tarfile.SYMTYPE, link="tool")
        add(tf, prefix + "usr/bin/tool-hard", kind=tarfile.LNKTYPE, link=prefix + "usr/bin/tool")
        add(tf, prefix + "usr/share/deep/er/file.txt", b"implicit parents\n", mtime=1500000000)
        if busybox:
            with open(BUSYBOX, "rb") as f:
                add(tf, prefix + "usr/bin/busybox", f.read(), mode=0o755)
            for a in ("sh", "echo", "cat", "sleep"):
                add(tf, prefix + "usr/bin/" + a, kind=tarfile.SYMTYPE, link="busybox")
        if extra:
            extra(tf)
    return gzip.compress(raw.getvalue(), 6)


def publish(name, data):
    with open(os.path.join(REPO, name), "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def index(name, lines):
    with open(os.path.join(REPO, name), "w") as f:
        f.write("\n".join(",".join(x) for x in lines) + "\n")
    return os.path.join(REPO, name)


# ---------------------------------------------------------------- servers

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_file(self, name, mode):
        path = os.path.join(REPO, os.path.basename(name))
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not found")
            return
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        if mode == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(data), 7777):
                part = data[i:i + 7777]
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "truncated":
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "slow":
            half = len(data) // 2
            self.wfile.write(data[:half])
            self.wfile.flush()
            time.sleep(float(os.environ.get("SLOW_SECONDS", "4")))
            try:
                self.wfile.write(data[half:])
            except OSError:
                pass
            return
        self.wfile.write(data)

    def do_GET(self):
        parts = self.path.split("/")
        if len(parts) >= 3 and parts[1] == "redirect":
            self.send_response(302)
            self.send_header("Location", "../files/" + parts[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if len(parts) >= 3 and parts[1] == "loop":
            self.send_response(301)
            self.send_header("Location", "/loop/" + parts[2])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if len(parts) >= 3:
            self.send_file(parts[-1], parts[1])
            return
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass   # clients that we kill on purpose hang up mid-transfer


def serve(context=None):
    srv = Server(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    if context:
        srv.socket = context.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def openssl(*args):
    subprocess.run(["openssl"] + list(args), cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs():
    """ca.pem signs good (localhost), wrong (wrong.example), expired (localhost);
    other-ca.pem is an unrelated CA."""
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key",
                "-out", ca + ".pem", "-days", "30", "-subj", "/CN=piston test " + ca)
    for name, host, days in (("good", "localhost", "30"), ("wrong", "wrong.example", "30"),
                             ("expired", "localhost", "0")):
        with open(os.path.join(ROOT, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s\n" % host)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=" + host)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", days, "-extfile", name + ".ext")
    # an EC CA and server key, for BearSSL's EC trust anchor path
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ec-ca.key", "-out", "ec-ca.pem", "-days", "30", "-subj", "/CN=piston test EC CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
            "ec.key", "-out", "ec.csr", "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", "ec.csr", "-CA", "ec-ca.pem", "-CAkey", "ec-ca.key", "-CAcreateserial",
            "-out", "ec.pem", "-days", "30", "-extfile", "good.ext")


def tls_server(name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(ROOT, name + ".pem"), os.path.join(ROOT, name + ".key"))
    return serve(ctx)


# ---------------------------------------------------------------- helpers

def ppman(data, *args, repo=None, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("PISTON_REPO_URL", None)
    e["PISTON_CA_FILE"] = os.path.join(ROOT, "ca.pem")
    e.update(env or {})
    cmd = [BIN, "ppman", "--data", data] + (["--repo", repo] if repo else []) + list(args)
    p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def leftovers(data):
    d = os.path.join(data, "packages")
    if not os.path.isdir(d):
        return []
    return [n for n in os.listdir(d) if n.startswith(".staging-") or n.startswith(".trash-")]


def installed(data, lang, version):
    return os.path.exists(os.path.join(data, "packages", lang, version, ".ppman-installed"))


def fresh():
    return tempfile.mkdtemp(prefix="data-", dir=ROOT)


def expect_reject(name, data_bytes, want, sha=None, lang="bad", env=None, url=None):
    """Installing this package fails with `want` (or one of a tuple) in the error, leaves nothing."""
    fname = "%s-1.0.0.pkg.tar.gz" % name
    real = publish(fname, data_bytes)
    idx = index("index-" + name, [(lang, "1.0.0", sha or real, url or fname)])
    d = fresh()
    rc, out, err = ppman(d, "install", lang, repo=idx, env=env)
    wants = want if isinstance(want, tuple) else (want,)
    C.check(rc != 0 and any(w in err for w in wants), name + ": rejected with a clear error", (rc, out, err))
    C.check(not installed(d, lang, "1.0.0") and not leftovers(d), name + ": nothing installed, no leftovers",
            os.listdir(os.path.join(d, "packages")) if os.path.isdir(os.path.join(d, "packages")) else "")
    rc, out, lerr = ppman(d, "list", repo=idx)
    C.check(rc == 0 and "installed" not in out, name + ": not listed as installed", (rc, out, lerr))
    return err   # the install's


# ---------------------------------------------------------------- cases

def local_installs():
    good = package_bytes("demo", "1.2.0")
    sha = publish("demo-1.2.0.pkg.tar.gz", good)
    old = package_bytes("demo", "1.0.0", prefix="")
    sha_old = publish("demo-1.0.0.pkg.tar.gz", old)
    idx = index("index", [("demo", "1.0.0", sha_old, "demo-1.0.0.pkg.tar.gz"),
                          ("demo", "1.2.0", sha, "demo-1.2.0.pkg.tar.gz")])
    d = fresh()
    rc, out, err = ppman(d, "list", repo=REPO)
    C.check(rc == 0 and out.split() == ["demo", "1.0.0", "-", "demo", "1.2.0", "-"],
            "list from a directory repository", (rc, out, err))
    rc, out, err = ppman(d, "install", "demo", repo=REPO)
    C.check(rc == 0 and "demo-1.2.0" in out and installed(d, "demo", "1.2.0"),
            "install newest from a directory path", (rc, out, err))
    C.check(os.listdir(os.path.join(d, "packages")) == ["demo"], "packages/ holds only the language (no locks)",
            os.listdir(os.path.join(d, "packages")))
    p = os.path.join(d, "packages", "demo", "1.2.0")
    st = os.stat(os.path.join(p, "usr/bin/tool"))
    C.check(st.st_mode & 0o7777 == 0o755, "setuid bit dropped", oct(st.st_mode))
    C.check(os.readlink(os.path.join(p, "usr/bin/tool-link")) == "tool", "symlink extracted")
    C.check(os.stat(os.path.join(p, "usr/bin/tool-hard")).st_ino == st.st_ino, "hard link extracted")
    C.check(open(os.path.join(p, "usr/share/deep/er/file.txt")).read() == "implicit parents\n",
            "parent directories created")
    mt = os.stat(os.path.join(p, "usr/share/deep/er/file.txt")).st_mtime
    C.check(int(mt) == 1500000000, "file keeps the archive's modification time", mt)
    C.check(os.access(os.path.join(p, "run"), os.X_OK), "run is executable")
    rc, out, err = ppman(d, "install", "demo=1.0.0", repo="file://" + idx)
    C.check(rc == 0 and installed(d, "demo", "1.0.0"), "install an exact version via file:// (entries without ./)",
            (rc, out, err))
    rc, out, err = ppman(d, "install", "demo=1.x", repo=idx)
    C.check(rc != 0 and "Already installed" in err, "Already installed", (rc, out, err))
    rc, out, err = ppman(d, "--if-missing", "install", "demo=1.x", repo=idx)
    C.check(rc == 0 and "already installed demo-1.2.0" in out, "--if-missing: already installed is success",
            (rc, out, err))
    rc, out, err = ppman(d, "--if-missing", "install", "nope", repo=idx)
    C.check(rc != 0 and "does not exist" in err, "--if-missing: an unknown package still fails", (rc, out, err))
    rc, out, err = ppman(d, "list", repo=idx)
    C.check(out.split().count("installed") == 2, "list shows both installed", out)
    rc, out, err = ppman(d, "install", "nope", repo=idx)
    C.check(rc != 0 and "Requested package nope-* does not exist" in err, "unknown package message", err)
    rc, out, err = ppman(d, "install", "demo=9", repo=idx)
    C.check(rc != 0 and "Requested package demo-9 does not exist" in err, "no matching version", err)
    rc, out, err = ppman(d, "uninstall", "demo=1.0.0", repo=idx)
    C.check(rc == 0 and not os.path.exists(os.path.join(d, "packages", "demo", "1.0.0")) and not leftovers(d),
            "uninstall removes the package", (rc, out, err, leftovers(d)))
    rc, out, err = ppman(d, "uninstall", "demo=1.0.0", repo=idx)
    C.check(rc != 0 and "demo-1.0.0 is not installed" in err, "uninstall: not installed", err)
    rc, out, err = ppman(d, "install", "demo=1.0.0", repo=idx)
    C.check(rc == 0 and installed(d, "demo", "1.0.0"), "reinstall after uninstall", (rc, out, err))
    # a leftover directory without the marker is not installed and is replaced
    os.makedirs(os.path.join(d, "packages", "half", "1.0.0", "junk"))
    hb = package_bytes("half", "1.0.0")
    idx2 = index("index-half", [("half", "1.0.0", publish("half-1.0.0.pkg.tar.gz", hb), "half-1.0.0.pkg.tar.gz")])
    rc, out, err = ppman(d, "install", "half", repo=idx2)
    C.check(rc == 0 and installed(d, "half", "1.0.0") and
            not os.path.exists(os.path.join(d, "packages", "half", "1.0.0", "junk")),
            "unmarked directory replaced by the install", (rc, out, err))
    # on a terminal, ppman draws a progress bar on stderr (and nothing when it is not a terminal)
    d2 = fresh()
    master, slave = pty.openpty()
    p = subprocess.Popen([BIN, "ppman", "--data", d2, "--repo", REPO, "install", "demo"],
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        tty += chunk
    os.close(master)
    p.wait(timeout=60)
    C.check(p.returncode == 0 and b"100%" in tty and b"[####" in tty, "progress bar on a terminal", tty[-300:])
    C.check(err == "" or "%" not in err, "no progress bar when stderr is not a terminal", err)
    rc, out, err = ppman(d, "list", repo=os.path.join(ROOT, "missing-dir", "index"))
    C.check(rc != 0 and "cannot open" in err, "missing index: clear error", err)
    bad_idx = index("index-bad", [("demo", "1.0.0", "zz", "x")])
    rc, out, err = ppman(d, "list", repo=bad_idx)
    C.check(rc != 0 and "line 1" in err, "malformed index: clear error", err)


def http_installs():
    srv = serve()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    data = package_bytes("web", "2.0.0")
    sha = publish("web-2.0.0.pkg.tar.gz", data)
    for mode in ("files", "chunked", "redirect"):
        idx = index("index-web-" + mode, [("web", "2.0.0", sha, "../%s/web-2.0.0.pkg.tar.gz" % mode)])
        d = fresh()
        rc, out, err = ppman(d, "install", "web", repo=base + "/files/" + os.path.basename(idx))
        C.check(rc == 0 and installed(d, "web", "2.0.0"), "http install (%s)" % mode, (rc, out, err))
    idx = index("index-web-loop", [("web", "2.0.0", sha, "../loop/web-2.0.0.pkg.tar.gz")])
    expect_reject("redirect-loop", data, "HTTP 301", sha=sha, lang="web",
                  url=base + "/loop/web-2.0.0.pkg.tar.gz")
    expect_reject("truncated", data, "connection closed after", sha=sha, lang="web",
                  url=base + "/truncated/truncated-1.0.0.pkg.tar.gz")
    expect_reject("http-404", data, "HTTP 404", sha=sha, lang="web", url=base + "/files/nothing-here.tar.gz")
    port = srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    d = fresh()
    rc, out, err = ppman(d, "list", repo="http://127.0.0.1:%d/files/index" % port)
    C.check(rc != 0 and "cannot connect" in err and "refused" in err, "unreachable repository", err)
    return data, sha


def https_installs(data, sha):
    publish("sec-2.0.0.pkg.tar.gz", data)
    idx = index("index-sec", [("web", "2.0.0", sha, "sec-2.0.0.pkg.tar.gz")])
    good = tls_server("good")
    url = "https://localhost:%d/files/%s" % (good.server_address[1], os.path.basename(idx))
    d = fresh()
    rc, out, err = ppman(d, "install", "web", repo=url)
    C.check(rc == 0 and installed(d, "web", "2.0.0"), "https install with a trusted CA", (rc, out, err))
    ec = tls_server("ec")
    d2 = fresh()
    rc, out, err = ppman(d2, "install", "web", env={"PISTON_CA_FILE": os.path.join(ROOT, "ec-ca.pem")},
                         repo="https://localhost:%d/files/%s" % (ec.server_address[1], os.path.basename(idx)))
    C.check(rc == 0 and installed(d2, "web", "2.0.0"), "https with an EC CA and EC server key", (rc, out, err))
    ec.shutdown()
    ec.server_close()
    rc, out, err = ppman(d, "list", repo=url.replace("/files/", "/chunked/"))
    C.check(rc == 0 and "installed" in out, "https chunked index", (rc, out, err))
    cases = [
        ("unknown CA", url, {"PISTON_CA_FILE": os.path.join(ROOT, "other-ca.pem")}, "not trusted"),
        ("host name", url.replace("localhost", "127.0.0.1"), {}, "host name mismatch"),
    ]
    wrong = tls_server("wrong")
    cases.append(("wrong cert name", "https://localhost:%d/files/%s" % (wrong.server_address[1],
                                                                        os.path.basename(idx)),
                  {}, "host name mismatch"))
    time.sleep(1.2)   # the expired certificate's notAfter is "now" at creation
    expired = tls_server("expired")
    cases.append(("expired", "https://localhost:%d/files/%s" % (expired.server_address[1],
                                                                os.path.basename(idx)),
                  {}, "expired"))
    cases.append(("missing CA file", url, {"PISTON_CA_FILE": os.path.join(ROOT, "nope.pem")}, "cannot read CA file"))
    for name, u, env, want in cases:
        d = fresh()
        rc, out, err = ppman(d, "install", "web", repo=u, env=env)
        C.check(rc != 0 and want in err and not installed(d, "web", "2.0.0") and not leftovers(d),
                "https %s: rejected (%s)" % (name, want), (rc, out, err))
    # the package URL (not just the index) is verified too
    idx2 = index("index-mixed", [("web", "2.0.0", sha, "https://127.0.0.1:%d/files/sec-2.0.0.pkg.tar.gz"
                                  % good.server_address[1])])
    d = fresh()
    rc, out, err = ppman(d, "install", "web", repo=idx2)
    C.check(rc != 0 and "host name mismatch" in err and not installed(d, "web", "2.0.0"),
            "https package URL checked too", (rc, out, err))
    for s in (good, wrong, expired):
        s.shutdown()
        s.server_close()


def hostile_archives():
    good = package_bytes("bad", "1.0.0")
    expect_reject("checksum", good, "Checksum miss-match want: " + "0" * 64 + " got: " +
                  hashlib.sha256(good).hexdigest(), sha="0" * 64)
    corrupt = bytearray(good)
    for i in range(len(corrupt) // 2, len(corrupt) // 2 + 16):
        corrupt[i] ^= 0x55
    # flipped bits in the deflate stream: caught by the gzip decoder, or (when
    # the damaged stream still decodes) by the tar checksum before the gzip CRC
    expect_reject("corrupt-gzip", bytes(corrupt), ("bad gzip data", "bad tar archive"))
    expect_reject("cut-gzip", good[:len(good) - 20], "bad gzip data")
    expect_reject("not-gzip", b"this is not a package at all\n" * 10, "bad gzip data")
    cases = [
        ("dotdot", lambda tf: add(tf, "./usr/../../escape", b"x"), "unsafe path"),
        ("dotdot-dir", lambda tf: add(tf, "../escape", kind=tarfile.DIRTYPE), "unsafe path"),
        ("absolute", lambda tf: add(tf, "/tmp/piston-escape", b"x"), "unsafe path"),
        ("symlink-out", lambda tf: add(tf, "./usr/lib", kind=tarfile.SYMTYPE, link="../../../../etc"),
         "points outside"),
        ("symlink-abs", lambda tf: add(tf, "./usr/passwd", kind=tarfile.SYMTYPE, link="/etc/passwd"),
         "points outside"),
        ("hardlink-out", lambda tf: add(tf, "./usr/h", kind=tarfile.LNKTYPE, link="../../etc/passwd"),
         "points outside"),
        ("hardlink-abs", lambda tf: add(tf, "./usr/h", kind=tarfile.LNKTYPE, link="/etc/passwd"),
         "points outside"),
        ("chardev", lambda tf: add(tf, "./dev-null", kind=tarfile.CHRTYPE, devmajor=1, devminor=3),
         "device nodes"),
        ("blockdev", lambda tf: add(tf, "./sda", kind=tarfile.BLKTYPE, devmajor=8, devminor=0), "device nodes"),
        ("fifo", lambda tf: add(tf, "./fifo", kind=tarfile.FIFOTYPE), "FIFO"),
        ("through-link", lambda tf: (add(tf, "./usr/in", kind=tarfile.SYMTYPE, link="bin"),
                                     add(tf, "./usr/in/x", b"x")), "goes through a link"),
        ("marker", lambda tf: add(tf, "./.ppman-installed", b""), "install marker"),
        # links judged as the sandbox sees them (SPEC section 3): whatever leaves the package's tree
        ("symlink-proc", lambda tf: add(tf, "./usr/lib/p", kind=tarfile.SYMTYPE, link="/proc/self/root"),
         "points outside"),
        ("symlink-home", lambda tf: add(tf, "./usr/lib/h", kind=tarfile.SYMTYPE, link="/home"), "points outside"),
        ("symlink-root", lambda tf: add(tf, "./usr/lib/r", kind=tarfile.SYMTYPE, link="/"), "points outside"),
        ("symlink-box", lambda tf: add(tf, "./usr/lib/b", kind=tarfile.SYMTYPE, link="/box/x"), "points outside"),
        ("symlink-escape", lambda tf: add(tf, "./usr/lib/e", kind=tarfile.SYMTYPE, link="../../../../../etc/shadow"),
         "points outside"),
        # from /usr/lib in the sandbox, ../../etc is the sandbox's /etc, not the package's
        ("symlink-sandbox-etc", lambda tf: add(tf, "./usr/lib/e", kind=tarfile.SYMTYPE, link="../../etc/passwd"),
         "in the sandbox it names /etc/passwd"),
        ("symlink-dotdot-after-name", lambda tf: (add(tf, "./usr/lib/up", kind=tarfile.SYMTYPE, link="/pkg"),
                                                  add(tf, "./usr/lib/e", kind=tarfile.SYMTYPE,
                                                      link="/usr/lib/up/../../etc/passwd")), "after a name"),
        ("symlink-usr", lambda tf: add(tf, "./usr", kind=tarfile.SYMTYPE, link="/usr"), ("must be a directory",
                                                                                          "cannot create symlink")),
        ("through-abs-link", lambda tf: (add(tf, "./usr/in", kind=tarfile.SYMTYPE, link="/usr/bin"),
                                         add(tf, "./usr/in/x", b"x")), "goes through a link"),
    ]
    for name, extra, want in cases:
        expect_reject(name, package_bytes("bad", "1.0.0", extra=extra), want)
    C.check(not os.path.exists("/tmp/piston-escape"), "nothing written outside")
    # no metadata: not a package
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        add(tf, "./hello", b"hi")
    expect_reject("no-metadata", gzip.compress(raw.getvalue()), "metadata.json or run is missing")
    # gzip bomb: 64 MiB of zeros under a 16 MB cap
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        ti = tarfile.TarInfo("./usr/zeros")
        ti.size = 64 << 20

        class Zeros(io.RawIOBase):
            left = ti.size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n
        tf.addfile(ti, io.BufferedReader(Zeros(), 1 << 20))
    bomb = gzip.compress(raw.getvalue(), 9)
    publish("ebomb-1.0.0.pkg.tar.gz", bomb)
    expect_reject("gzip-bomb", bomb, "exceeds", env={"PISTON_PACKAGE_MAX_SIZE": "16000000"})
    many = package_bytes("bad", "1.0.0", extra=lambda tf: [add(tf, "./f%d" % i, b"") for i in range(300)])
    expect_reject("too-many-entries", many, "too many entries", env={"PISTON_PACKAGE_MAX_FILES": "100"})


def upstream_format():
    """Upstream Piston's packages (pkg-info.json; built in upstream's Docker
    image) are recognised and refused with a message saying what they are,
    whatever else is wrong with them (here: a link into /piston/packages
    before pkg-info.json, and the older layout without metadata.json)."""
    def v3(tf):   # `tar czf X -C python/3.12.0 .` after build.sh, as upstream's packages/Makefile does
        add(tf, "./", kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, "./bin", kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, "./lib", kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, "./lib/libpython3.12.so", kind=tarfile.SYMTYPE,
            link="/piston/packages/python/3.12.0/lib/libpython3.12.so.1.0")
        add(tf, "./bin/python3.12", b"\x7fELF...", mode=0o755)
        add(tf, "./build.sh", b"#!/usr/bin/env bash\n./configure --prefix \"$PWD\"\n", mode=0o755)
        add(tf, "./environment", b"export PATH=$PWD/bin:$PATH\n")
        add(tf, "./metadata.json", json.dumps({"language": "python", "version": "3.12.0",
                                               "aliases": ["py"]}).encode())
        add(tf, "./run", b"#!/bin/bash\npython3.12 \"$@\"\n", mode=0o755)
        add(tf, "./pkg-info.json", json.dumps({"language": "python", "version": "3.12.0",
                                               "build_platform": "docker-debian"}).encode())

    def old(tf):  # the older common.mk layout: run, pkg-info.json, the build directory; no metadata.json
        add(tf, "run", b"#!/bin/bash\npython3.9 \"$@\"\n", mode=0o755)
        add(tf, "pkg-info.json", json.dumps({"language": "python", "version": "3.9.4"}).encode())
        add(tf, "python-3.9.4/bin/python3.9", b"\x7fELF...", mode=0o755)
        add(tf, "python-3.9.4/environment", b"PATH=/piston/packages/python/3.9.4/python-3.9.4/bin\n")

    for name, build in (("upstream-v3", v3), ("upstream-old", old)):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
            build(tf)
        err = expect_reject(name, gzip.compress(raw.getvalue()), "upstream Piston package", lang="python")
        C.check("tools/mkrepo" in err and "PISTON_REPO_URL" in err and "metadata.json or run" not in err
                and "points outside" not in err, name + ": says what it is and what to do instead", err)
    # this engine's own package with a pkg-info.json beside usr/ is not mistaken for one
    ours = package_bytes("withinfo", "1.0.0", extra=lambda tf: add(tf, "./pkg-info.json", b"{}"))
    idx = index("index-withinfo", [("withinfo", "1.0.0", publish("withinfo-1.0.0.pkg.tar.gz", ours),
                                    "withinfo-1.0.0.pkg.tar.gz")])
    d = fresh()
    rc, out, err = ppman(d, "install", "withinfo", repo=idx)
    C.check(rc == 0 and installed(d, "withinfo", "1.0.0"), "a package with usr/ and pkg-info.json installs",
            (rc, out, err))


def no_repository():
    """PISTON_REPO_URL has no default (upstream's index cannot work here): every
    way in says how to build a repository or point at one."""
    d = fresh()
    for args in (("list",), ("install", "python")):
        rc, out, err = ppman(d, *args)
        C.check(rc != 0 and "no package repository is configured" in err and "tools/mkrepo" in err
                and "PISTON_REPO_URL" in err, "ppman --data %s with no repository: how to get one" % args[0],
                (rc, out, err))
    probe = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
    C.check("PISTON_REPO_URL" in probe.stdout and "build/repo/index" in probe.stdout and
            "engineer-man" not in probe.stdout, "serve --help: no upstream default, says what builds one",
            probe.stdout[-2000:])
    saved = os.environ.pop("PISTON_REPO_URL", None)
    try:
        eng = Engine(packages=False, env={"PISTON_LOG_LEVEL": "INFO"})
    finally:
        if saved is not None:
            os.environ["PISTON_REPO_URL"] = saved
    try:
        st, body = eng.request("GET", "/api/v2/packages")
        C.check(st == 502 and "no package repository is configured" in body.get("message", "")
                and "tools/mkrepo" in body.get("message", ""), "GET /api/v2/packages with no repository", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "python", "version": "*"})
        C.check(st == 502 and "tools/mkrepo" in body.get("message", ""), "POST /api/v2/packages with no repository",
                (st, body))
        p = subprocess.run([BIN, "ppman", "-u", eng.url, "install", "python"], capture_output=True, text=True,
                           timeout=60)
        C.check(p.returncode != 0 and "tools/mkrepo" in p.stderr, "ppman through the engine: the same message",
                (p.returncode, p.stdout, p.stderr))
        C.check("no package repository is configured" in eng.logtext(), "serve says so at start", eng.logtext())
    finally:
        eng.stop()


HOST_LIBS = "/lib/x86_64-linux-gnu"


def hand_built():
    """A package made by hand from a Debian root, as air-gapped sites do: the
    host's dynamically linked dash with its libc and loader, and Debian's own
    absolute links (usr/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/...,
    usr/bin/sh -> /bin/dash, ...). It installs, its links come out rewritten
    to stay in the package, and it runs in the sandbox's empty root."""
    need = ["/bin/dash", HOST_LIBS + "/libc.so.6", HOST_LIBS + "/ld-linux-x86-64.so.2"]
    if not all(os.path.isfile(p) for p in need):
        print("skip hand-built package: not an x86_64 Debian host (%s)" % need)
        return 1

    def extra(tf):
        for src, dst in ((need[0], "./usr/bin/dash"), (need[1], "./usr/lib/x86_64-linux-gnu/libc.so.6"),
                         (need[2], "./usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")):
            with open(src, "rb") as f:
                add(tf, dst, f.read(), mode=0o755)
        add(tf, "./usr/lib64", kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, "./usr/lib64/ld-linux-x86-64.so.2", kind=tarfile.SYMTYPE,
            link="/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
        add(tf, "./usr/bin/hsh", kind=tarfile.SYMTYPE, link="/bin/dash")
        add(tf, "./usr/bin/hsh2", kind=tarfile.SYMTYPE, link="/usr/bin/hsh")
        add(tf, "./usr/bin/pkgrun", kind=tarfile.SYMTYPE, link="/pkg/run")
        add(tf, "./entry", kind=tarfile.SYMTYPE, link="/pkg/run")
        add(tf, "./libc-link", kind=tarfile.SYMTYPE, link="/lib/x86_64-linux-gnu/libc.so.6")
        # run (a later duplicate replaces the first): the package's own dynamically linked shell,
        # through /bin (a link into usr/ in the sandbox) and a chain of rewritten links
        add(tf, "./run", b"#!/bin/hsh2\nexec /bin/hsh \"$@\"\n", mode=0o755)
    data = package_bytes("handbuilt", "1.0.0", extra=extra)
    sha = publish("handbuilt-1.0.0.pkg.tar.gz", data)
    idx = index("index-handbuilt", [("handbuilt", "1.0.0", sha, "handbuilt-1.0.0.pkg.tar.gz")])
    d = fresh()
    rc, out, err = ppman(d, "install", "handbuilt", repo=idx)
    C.check(rc == 0 and installed(d, "handbuilt", "1.0.0"), "hand-built package with absolute library links installs",
            (rc, out, err))
    p = os.path.join(d, "packages", "handbuilt", "1.0.0")
    if rc != 0:
        return 0
    links = {"usr/lib64/ld-linux-x86-64.so.2": "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
             "usr/bin/hsh": "dash", "usr/bin/hsh2": "hsh", "usr/bin/pkgrun": "/pkg/run", "entry": "run",
             "libc-link": "usr/lib/x86_64-linux-gnu/libc.so.6"}
    got = {k: os.readlink(os.path.join(p, k)) for k in links}
    C.check(got == links, "absolute links rewritten relative (or /pkg/... from usr/)", got)
    C.check(os.path.realpath(os.path.join(p, "usr/lib64/ld-linux-x86-64.so.2")) ==
            os.path.realpath(os.path.join(p, "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")),
            "the loader link names the package's own loader on the host too")
    eng = Engine(packages=False, link_packages=[p])
    try:
        st, r = eng.execute({"language": "handbuilt", "version": "*", "args": ["built", 3],
                             "files": [{"content": "echo hand $1 $2; /usr/bin/pkgrun -c 'echo via pkg'; "
                                                   "/pkg/entry -c 'echo via entry'"}]})
        run = r.get("run", {}) if isinstance(r, dict) else {}
        C.check(st == 200 and run.get("stdout") == "hand built 3\nvia pkg\nvia entry\n" and run.get("code") == 0,
                "hand-built package runs in the sandbox (its dynamic shell, loader and libc)", (st, r))
    finally:
        eng.stop()
    return 0


def kill_during_install():
    """kill -9 while the archive is half extracted: not listed, no leftovers
    after the next start (here: the next ppman run)."""
    srv = serve()
    big = package_bytes("slow", "1.0.0", extra=lambda tf: add(tf, "./usr/blob", os.urandom(4 << 20)))
    sha = publish("slow-1.0.0.pkg.tar.gz", big)
    idx = index("index-slow", [("slow", "1.0.0", sha, "http://127.0.0.1:%d/slow/slow-1.0.0.pkg.tar.gz"
                                % srv.server_address[1])])
    d = fresh()
    e = dict(os.environ)
    e["PISTON_CA_FILE"] = os.path.join(ROOT, "ca.pem")
    p = subprocess.Popen([BIN, "ppman", "--data", d, "--repo", idx, "install", "slow"], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    saw_staging = False
    deadline = time.time() + 30
    while time.time() < deadline and p.poll() is None:
        if leftovers(d):
            saw_staging = True
            time.sleep(0.3)   # let it extract some of the first half
            break
        time.sleep(0.02)
    p.send_signal(signal.SIGKILL)
    p.wait()
    C.check(saw_staging, "kill -9: the install was mid-extraction")
    C.check(not installed(d, "slow", "1.0.0"), "kill -9: not installed")
    rc, out, err = ppman(d, "list", repo=idx)
    C.check(rc == 0 and "installed" not in out and not leftovers(d), "kill -9: cleaned at next start",
            (out, err, leftovers(d)))
    # concurrent installs of one package: one wins, the other says Already installed
    os.environ["SLOW_SECONDS"] = "1"
    d = fresh()
    procs = [subprocess.Popen([BIN, "ppman", "--data", d, "--repo", idx, "install", "slow"], env=e,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(q.wait(timeout=120), q.stdout.read(), q.stderr.read()) for q in procs]
    oks = [r for r in results if r[0] == 0]
    already = [r for r in results if "Already installed" in r[2]]
    C.check(len(oks) == 1 and len(already) == 2 and installed(d, "slow", "1.0.0") and not leftovers(d),
            "concurrent installs are serialised", results)
    # many racing installs (each ppman run also cleans leftovers at its start): never a lost staging dir
    fast = package_bytes("race", "1.0.0", extra=lambda tf: [add(tf, "./usr/f%d" % i, b"x" * 5000) for i in range(200)])
    idx_r = index("index-race", [("race", "1.0.0", publish("race-1.0.0.pkg.tar.gz", fast), "race-1.0.0.pkg.tar.gz")])
    bad = []
    for _ in range(4):
        d = fresh()
        procs = [subprocess.Popen([BIN, "ppman", "--data", d, "--repo", idx_r, "install", "race"], env=e,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
        results = [(q.wait(timeout=120), q.stdout.read(), q.stderr.read()) for q in procs]
        if (sum(r[0] == 0 for r in results) != 1 or
                sum("Already installed" in r[2] for r in results) != 5 or leftovers(d)):
            bad.append(results)
    C.check(not bad, "racing installs and cleanups: exactly one install, no errors", bad[:1])
    srv.shutdown()
    srv.server_close()


def installed_by_hand():
    """Packages put into a running engine's data directory by `ppman --data` are used without a
    restart (inotify), and uninstalled ones go; SIGHUP rescans too."""
    busy = package_bytes("hb", "1.0.0", busybox=True)
    sha = publish("hb-1.0.0.pkg.tar.gz", busy)
    idx = index("index-hand", [("hb", "1.0.0", sha, "hb-1.0.0.pkg.tar.gz")])
    eng = Engine(packages=False, env={"PISTON_LOG_LEVEL": "INFO"})
    try:
        def langs(want, timeout=5.0):
            deadline = time.time() + timeout
            while True:
                st, body = eng.request("GET", "/api/v2/runtimes")
                got = sorted(r["language"] for r in body) if st == 200 else None
                if got == want or time.time() > deadline:
                    return got
                time.sleep(0.05)
        rc, out, err = ppman(eng.data, "install", "hb", repo=idx)
        C.check(rc == 0 and langs(["hb"]) == ["hb"], "ppman --data install into a running engine's directory is used",
                (rc, out, err, langs(["hb"], 0)))
        st, body = eng.request("POST", "/api/v2/execute", {"language": "hb", "version": "*",
                                                           "files": [{"content": "echo OK"}]})
        C.check(st == 200 and body["run"]["stdout"] == "OK\n", "and runs", (st, body))
        rc, out, err = ppman(eng.data, "uninstall", "hb")
        C.check(rc == 0 and langs([]) == [], "ppman --data uninstall: gone from /api/v2/runtimes", (rc, out, err))
        rc, out, err = ppman(eng.data, "install", "hb", repo=idx)
        langs(["hb"])
        os.rename(os.path.join(eng.data, "packages", "hb"), os.path.join(ROOT, "hb-moved"))
        langs([])
        eng.proc.send_signal(signal.SIGSTOP)   # no events while paused are lost: the queue keeps them
        os.rename(os.path.join(ROOT, "hb-moved"), os.path.join(eng.data, "packages", "hb"))
        eng.proc.send_signal(signal.SIGCONT)
        C.check(langs(["hb"]) == ["hb"], "a package directory moved in is picked up", langs(["hb"], 0))
        eng.proc.send_signal(signal.SIGHUP)   # for file systems inotify cannot see into (NFS)
        deadline = time.time() + 5
        while "SIGHUP; rescanning" not in eng.logtext() and time.time() < deadline:
            time.sleep(0.05)
        C.check(eng.proc.poll() is None and "SIGHUP; rescanning" in eng.logtext() and langs(["hb"]) == ["hb"],
                "SIGHUP rescans and the engine keeps running", eng.logtext()[-500:])
    finally:
        eng.stop()


def engine_api():
    probe = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True)
    if "not built yet" in probe.stderr:
        print("skip engine cases: piston serve is not built yet")
        return 1
    busy = package_bytes("bb", "1.0.0", busybox=True)
    sha = publish("bb-1.0.0.pkg.tar.gz", busy)
    sha_bad = publish("evil-1.0.0.pkg.tar.gz",
                      package_bytes("evil", "1.0.0", extra=lambda tf: add(tf, "../x", b"x")))
    sha_sum = publish("sum-1.0.0.pkg.tar.gz", package_bytes("sum", "1.0.0"))
    srv = serve()
    with open(os.path.join(REPO, "ebomb-1.0.0.pkg.tar.gz"), "rb") as f:
        sha_bomb = hashlib.sha256(f.read()).hexdigest()
    idx = index("index-engine", [("bb", "1.0.0", sha, "bb-1.0.0.pkg.tar.gz"),
                                 ("bomb", "1.0.0", sha_bomb, "ebomb-1.0.0.pkg.tar.gz"),
                                 ("cut", "1.0.0", sha, "http://127.0.0.1:%d/truncated/bb-1.0.0.pkg.tar.gz"
                                  % srv.server_address[1]),
                                 ("evil", "1.0.0", sha_bad, "evil-1.0.0.pkg.tar.gz"),
                                 ("sum", "1.0.0", "1" * 64, "sum-1.0.0.pkg.tar.gz")])
    eng = Engine(packages=False, env={"PISTON_REPO_URL": idx, "PISTON_CA_FILE": os.path.join(ROOT, "ca.pem"),
                                      "PISTON_PACKAGE_MAX_SIZE": "16000000"})
    try:
        st, body = eng.request("GET", "/api/v2/packages")
        C.check(st == 200 and {"language": "bb", "language_version": "1.0.0", "installed": False} in body,
                "GET /api/v2/packages", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "bb", "version": "1.x"})
        C.check(st == 200 and body == {"language": "bb", "version": "1.0.0"}, "POST installs", (st, body))
        st, body = eng.request("GET", "/api/v2/runtimes")
        C.check(st == 200 and any(r["language"] == "bb" and r["version"] == "1.0.0" for r in body),
                "installed package is in /api/v2/runtimes at once", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "bb", "version": "1.0.0"})
        C.check(st == 409 and body.get("message") == "Already installed", "POST again: Already installed", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "zzz", "version": "*"})
        C.check(st == 404 and body.get("message") == "Requested package zzz-* does not exist", "POST unknown: 404",
                (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "sum", "version": "1.0.0"})
        C.check(st >= 400 and body.get("message", "").startswith("Checksum miss-match want: " + "1" * 64 + " got: "),
                "POST checksum mismatch", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "evil", "version": "1.0.0"})
        C.check(st >= 400 and "unsafe path" in body.get("message", ""), "POST hostile archive rejected", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "bomb", "version": "1.0.0"})
        C.check(st >= 400 and "exceeds" in body.get("message", ""), "POST gzip bomb rejected", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": "cut", "version": "1.0.0"})
        C.check(st == 502 and "connection closed after" in body.get("message", ""), "POST truncated download",
                (st, body))
        st, body = eng.request("POST", "/api/v2/packages", {"language": 5})
        C.check(st == 400 and body.get("message") == "language is required as a string", "POST validation", (st, body))
        st, body = eng.request("POST", "/api/v2/packages", b"{not json")
        C.check(st == 400 and "message" in body, "POST bad JSON", (st, body))
        st, body = eng.request("GET", "/api/v2/packages")
        inst = {(p["language"], p["installed"]) for p in body}
        C.check(("bb", True) in inst and ("evil", False) in inst and ("sum", False) in inst and
                ("bomb", False) in inst and ("cut", False) in inst,
                "only the good package is installed", body)
        st, body = eng.execute({"language": "bb", "version": "*", "files": [{"content": "echo hello"}]})
        ran = st == 200 and body.get("run", {}).get("stdout") == "hello\n"
        if ran:
            C.check(True, "installed package runs")
        else:
            print("note: execute did not run the package (sandbox unavailable?): %s %s" % (st, str(body)[:200]))
        if ran:
            job = {}
            t = threading.Thread(target=lambda: job.update(r=eng.execute(
                {"language": "bb", "version": "1.0.0", "files": [{"content": "sleep 2; echo done"}]})))
            t.start()
            time.sleep(0.7)
            st, body = eng.request("DELETE", "/api/v2/packages", {"language": "bb", "version": "1.0.0"})
            C.check(st == 409 and "in use" in body.get("message", ""), "DELETE refused while a job uses it", (st, body))
            t.join()
            C.check(job["r"][0] == 200 and job["r"][1]["run"]["stdout"] == "done\n", "the job finished normally",
                    job["r"])
        st, body = eng.request("DELETE", "/api/v2/packages", {"language": "bb", "version": "1.0.0"})
        C.check(st == 200 and body == {"language": "bb", "version": "1.0.0"}, "DELETE uninstalls", (st, body))
        st, body = eng.request("GET", "/api/v2/runtimes")
        C.check(st == 200 and not any(r["language"] == "bb" for r in body), "gone from /api/v2/runtimes", body)
        st, body = eng.request("DELETE", "/api/v2/packages", {"language": "bb", "version": "1.0.0"})
        C.check(st == 400 and body.get("message") == "bb-1.0.0 is not installed", "DELETE again: not installed",
                (st, body))
        time.sleep(0.5)
        C.check(not leftovers(eng.data), "no leftovers in the engine's data directory", leftovers(eng.data))
        st, body = eng.request("GET", "/")
        C.check(st == 200, "engine still serving after hostile installs", (st, body))
        # ppman against the engine
        e = dict(os.environ)
        r = subprocess.run([BIN, "ppman", "-u", eng.url, "install", "bb"], env=e, capture_output=True, text=True)
        C.check(r.returncode == 0 and "installed bb-1.0.0" in r.stdout, "ppman -u install", (r.stdout, r.stderr))
        r = subprocess.run([BIN, "ppman", "-u", eng.url + "/", "list"], env=e, capture_output=True, text=True)
        C.check(r.returncode == 0 and "installed" in r.stdout, "ppman -u list", (r.stdout, r.stderr))
        r = subprocess.run([BIN, "ppman", "-u", eng.url, "uninstall", "bb=1"], env=e, capture_output=True, text=True)
        C.check(r.returncode == 0 and "uninstalled bb-1.0.0" in r.stdout, "ppman -u uninstall", (r.stdout, r.stderr))
        r = subprocess.run([BIN, "ppman", "-u", eng.url, "install", "nope"], env=e, capture_output=True, text=True)
        C.check(r.returncode != 0 and "does not exist" in r.stderr, "ppman -u error message", r.stderr)
        # concurrent POSTs of one package: one installs, the others say Already installed
        res = []
        ts = [threading.Thread(target=lambda: res.append(eng.request(
            "POST", "/api/v2/packages", {"language": "bb", "version": "1.0.0"}))) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        codes = sorted(r[0] for r in res)
        C.check(codes == [200, 409, 409], "concurrent POSTs are serialised", res)
    finally:
        eng.stop()
    # package workers are bounded: a burst of slow GETs gets some 503s, and the engine recovers
    os.environ["SLOW_SECONDS"] = "4"
    eng = Engine(packages=False, env={"PISTON_REPO_URL": "http://127.0.0.1:%d/slow/%s" % (
        srv.server_address[1], os.path.basename(idx))})
    try:
        res = []
        ts = [threading.Thread(target=lambda: res.append(eng.request("GET", "/api/v2/packages")[0]))
              for _ in range(24)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        C.check(res.count(200) >= 16 and res.count(503) >= 1 and set(res) <= {200, 503},
                "package workers are bounded (503 beyond)", sorted(res))
        st, body = eng.request("GET", "/api/v2/packages")
        C.check(st == 200 and len(body) == 5, "GET works again after the burst", (st, body))
    finally:
        eng.stop()
        srv.shutdown()
        srv.server_close()
    engine_kill_during_install()
    return 0


def start_serve(data, port, env):
    e = dict(os.environ)
    e.update({"PISTON_DATA_DIRECTORY": data, "PISTON_BIND_ADDRESS": "127.0.0.1:%d" % port,
              "PISTON_LOG_LEVEL": "WARN"})
    e.update(env)
    p = subprocess.Popen([BIN, "serve"], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.05)
    p.kill()
    p.wait()
    raise RuntimeError("piston serve did not start")


def engine_kill_during_install():
    """kill -9 of the engine while its worker extracts: after a restart the
    package is not listed and no leftovers remain."""
    srv = serve()
    os.environ["SLOW_SECONDS"] = "5"
    big = package_bytes("slow", "1.0.0", extra=lambda tf: add(tf, "./usr/blob", os.urandom(4 << 20)))
    sha = publish("eslow-1.0.0.pkg.tar.gz", big)
    idx = index("index-eslow", [("slow", "1.0.0", sha, "http://127.0.0.1:%d/slow/eslow-1.0.0.pkg.tar.gz"
                                 % srv.server_address[1])])
    d = fresh()
    port = free_port()
    env = {"PISTON_REPO_URL": idx}
    p = start_serve(d, port, env)
    try:
        def post():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("POST", "/api/v2/packages", body=json.dumps({"language": "slow", "version": "*"}))
                c.getresponse().read()
            except (OSError, http.client.HTTPException):
                pass
        t = threading.Thread(target=post, daemon=True)
        t.start()
        deadline = time.time() + 30
        while time.time() < deadline and not leftovers(d):
            time.sleep(0.02)
        C.check(bool(leftovers(d)), "engine kill -9: the install was mid-extraction")
        p.send_signal(signal.SIGKILL)
        p.wait()
        time.sleep(0.5)   # the worker dies with the engine (PR_SET_PDEATHSIG)
        p = start_serve(d, port, env)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("GET", "/api/v2/runtimes")
        body = json.loads(c.getresponse().read())
        C.check(not any(r["language"] == "slow" for r in body) and not installed(d, "slow", "1.0.0")
                and not leftovers(d), "engine kill -9: not listed, leftovers removed at restart",
                (body, leftovers(d)))
    finally:
        p.kill()
        p.wait()
        srv.shutdown()
        srv.server_close()


def main():
    skipped = 0
    try:
        make_certs()
        local_installs()
        data, sha = http_installs()
        https_installs(data, sha)
        hostile_archives()
        skipped += hand_built()
        upstream_format()
        no_repository()
        kill_during_install()
        installed_by_hand()
        skipped += engine_api()
    finally:
        shutil.rmtree(ROOT, ignore_errors=True)
    return C.done(skipped)


if __name__ == "__main__":
    sys.exit(main())
