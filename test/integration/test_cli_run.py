"""`piston run` against a real engine: output and exit code, extra files,
non-UTF-8 files (base64), -i, -l, -r, -- args, errors, and -t interactive
(stdin to the program, Ctrl-C as a signal)."""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import Checker, Engine  # noqa: E402

t = Checker()
check = t.check
BIN = os.environ.get("PISTON_BIN", "./piston")


def run(e, *args, stdin=b"", timeout=60):
    url = e.url if e else "http://127.0.0.1:1"
    if "-u" not in args:
        args = ("-u", url) + args
    p = subprocess.run([BIN, "run", *args], input=stdin,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def https_front(e, tmp, program):
    """The engine behind nginx with TLS (a self-signed certificate for
    localhost, trusted through PISTON_CA_FILE): batch and -t over https."""
    import shutil
    import socket
    if not shutil.which("nginx") or not shutil.which("openssl"):
        print("skipped: https front (nginx or openssl missing)")
        return
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; master_process off; user root; pid %(t)s/nginx.pid; error_log %(t)s/nginx.err;
events {}
http {
  access_log off; client_body_temp_path %(t)s; proxy_temp_path %(t)s; fastcgi_temp_path %(t)s;
  uwsgi_temp_path %(t)s; scgi_temp_path %(t)s;
  server {
    listen 127.0.0.1:%(port)d ssl; ssl_certificate %(cert)s; ssl_certificate_key %(key)s;
    location / {
      proxy_pass http://127.0.0.1:%(up)d; proxy_http_version 1.1; proxy_read_timeout 60s;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade";
    }
  }
}
""" % {"t": tmp, "port": port, "cert": cert, "key": key, "up": e.port})
    ng = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        url = "https://localhost:%d" % port
        env = dict(os.environ, PISTON_CA_FILE=cert)
        p = subprocess.run([BIN, "run", "-u", url, "shell", program], input=b"tls\n", env=env,
                           capture_output=True, timeout=60)
        check(p.returncode == 0 and p.stdout == b"got\n", "https engine (batch)", (p.returncode, p.stdout, p.stderr))
        p = subprocess.run([BIN, "run", "-u", url, "-t", "shell", program], input=b"tls\n", env=env,
                           capture_output=True, timeout=60)
        check(p.returncode == 0 and p.stdout == b"got tls\n", "https engine (-t over wss)", (p.returncode, p.stdout, p.stderr))
        p = subprocess.run([BIN, "run", "-u", url, "-t", "shell", program], input=b"tls\n",
                           env=dict(os.environ, PISTON_CA_FILE="/etc/ssl/certs/ca-certificates.crt"),
                           capture_output=True, timeout=60)
        check(p.returncode == 1 and b"cannot reach" in p.stderr, "-t: untrusted certificate refused",
              (p.returncode, p.stderr))
    finally:
        ng.terminate()
        ng.wait()


def main():
    tmp = tempfile.mkdtemp(prefix="piston-cli-")

    def write(name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path

    main_sh = write("main.sh", 'echo "args: $*"; cat helper.txt; wc -c < blob.bin; cat; echo oops >&2; exit 5\n')
    helper = write("helper.txt", "helper here\n")
    blob = write("blob.bin", b"\xff\xfe\x00\x01")
    stdin_file = write("input.txt", "from file\n")
    sleeper = write("sleep.sh", "echo start; sleep 10\n")
    bad_c = write("bad.c", "SYNTAX_ERROR\n")
    inter = write("inter.sh", "read x; echo got $x\n")
    trap = write("trap.sh", "trap 'echo caught; exit 7' INT; echo ready; while :; do sleep 0.05; done\n")

    e = Engine()
    try:
        rc, out, err = run(e, "shell", main_sh, helper, blob, "-i", stdin_file, "--", "a", "b c")
        check(rc == 5, "exit code of the program", (rc, out, err))
        check(out == "args: a b c\nhelper here\n4\nfrom file\n", "stdout, extra files, base64 blob, -i, args",
              (out, err))
        check(err == "oops\n", "stderr of the program", err)

        rc, out, err = run(e, "-f", helper, "sh", main_sh, "--files", blob, "-i", "-", stdin=b"piped\n")
        check(rc == 5 and out.endswith("piped\n"), "-i - reads our stdin; alias; -f extra files", (rc, out, err))

        rc, out, err = run(e, "shell", sleeper, "-r", "300")
        check(rc == 137 and out == "start\n" and "TO" in err, "-r run timeout: message, 128+9", (rc, out, err))

        rc, out, err = run(e, "shell", inter, "-l", "1.x", "-s")
        check(rc == 0 and out == "got\n" and "runtime: shell 1.2.0" in err, "-l version selector, -s status",
              (rc, out, err))

        rc, out, err = run(e, "nolang", main_sh)
        check(rc == 1 and "nolang-* runtime is unknown" in err and "400" in err, "engine error shown", (rc, err))

        rc, out, err = run(e, "cc", bad_c)
        check(rc == 1 and "syntax error" in err, "compile error: compiler output and its exit code", (rc, out, err))

        rc, out, err = run(None, "shell", main_sh)
        check(rc == 1 and "cannot reach the engine" in err, "unreachable engine: clear message", (rc, err))

        rc, out, err = run(e, "shell", os.path.join(tmp, "missing.sh"))
        check(rc != 0 and "missing.sh" in err, "missing file: clear message", (rc, err))

        rc, out, err = run(e, "shell", inter, "-t", stdin=b"typed\n")
        check(rc == 0 and out == "got typed\n", "-t: stdin to the program over the WebSocket", (rc, out, err))
        catter = write("cat.sh", "cat; echo END\n")
        rc, out, err = run(e, "shell", catter, "-t", stdin=b"one\ntwo")
        check(rc == 0 and out == "one\ntwoEND\n", "-t: end of our stdin ends the program's", (rc, out, err))

        p = subprocess.Popen([BIN, "run", "shell", trap, "-t", "-u", e.url], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = p.stdout.readline()
        p.send_signal(signal.SIGINT)
        try:
            out, err = p.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        check(line == b"ready\n" and b"caught" in out and p.returncode == 7,
              "-t: Ctrl-C reaches the program as SIGINT", (line, out, err, p.returncode))

        rc, out, err = run(e, "shell", inter, "-t", "-u", "http://127.0.0.1:1")
        check(rc == 1 and "cannot reach" in err, "-t unreachable engine", (rc, err))
        https_front(e, tmp, inter)
    finally:
        e.stop()
        subprocess.run(["rm", "-rf", tmp])
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
