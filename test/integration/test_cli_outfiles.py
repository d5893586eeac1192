"""`piston run --output-file` (batch and -t) and `piston run --test
IN[:EXPECTED]` against a real engine: files saved where asked and nowhere
else, the per-test table, the exit status when a test fails."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import Checker, Engine  # noqa: E402

t = Checker()
check = t.check
BIN = os.path.abspath(os.environ.get("PISTON_BIN", "./piston"))


def run(e, cwd, *args, stdin=b"", timeout=60):
    p = subprocess.run([BIN, "run", "-u", e.url, *args], input=stdin, cwd=cwd,
                       capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def write(d, name, text):
    with open(os.path.join(d, name), "w") as f:
        f.write(text)


def read(d, name):
    try:
        with open(os.path.join(d, name), "rb") as f:
            return f.read()
    except OSError:
        return None


def output_files(e, d):
    write(d, "prog.sh", "printf '\\001\\002\\377' > out.bin; mkdir -p sub; echo nested > sub/x.txt;"
                        "busybox ln -s /etc/passwd link; echo done; exit 3\n")
    os.mkdir(os.path.join(d, "sub"))
    rc, out, err = run(e, d, "shell", "prog.sh", "-o", "out.bin", "--output-file", "sub/x.txt",
                       "-o", "missing", "-o", "link")
    check(rc == 3 and out == "done\n", "--output-file: the program's output and exit code", (rc, out, err))
    check(read(d, "out.bin") == b"\x01\x02\xff", "a binary output file saved as ./out.bin", read(d, "out.bin"))
    check(read(d, "sub/x.txt") == b"nested\n", "a nested output file saved as ./sub/x.txt")
    check("output file missing: not found" in err and "output file link: not a regular file" in err and
          read(d, "link") is None, "missing and link files: reported, nothing saved", err)
    os.remove(os.path.join(d, "out.bin"))
    rc, out, err = run(e, d, "shell", "prog.sh", "-t", "-o", "out.bin")
    check(rc == 3 and read(d, "out.bin") == b"\x01\x02\xff", "-t: the files message is saved too", (rc, err))


def engine_has_tests(e):
    st, b = e.execute({"language": "shell", "version": "*", "files": [{"content": "cat"}],
                       "tests": [{"stdin": "x"}]})
    return st == 200 and isinstance(b, dict) and "tests" in b


def tests_table(e, d):
    write(d, "double.sh", "read n; echo $((n * 2)); echo $n > seen.txt\n")
    write(d, "in1.txt", "2\n")
    write(d, "out1.txt", "4\n")
    write(d, "in2.txt", "5\n")
    write(d, "out2.txt", "11\n")
    write(d, "in3.txt", "7\n")
    rc, out, err = run(e, d, "shell", "double.sh", "--test", "in1.txt:out1.txt", "--test", "in2.txt:out2.txt",
                       "--test", "in3.txt", "-o", "seen.txt")
    lines = out.splitlines()
    rows = {ln.split()[0]: ln.split() for ln in lines[1:4] if ln.split()}
    check(lines and lines[0].split() == ["TEST", "STATUS", "PASSED", "TIME", "MEMORY"], "--test: a table header", out)
    check(rows.get("in1.txt", [])[1:3] == ["ok", "yes"] and rows.get("in2.txt", [])[1:3] == ["ok", "no"] and
          rows.get("in3.txt", [])[1:3] == ["ok", "-"], "one line a test: status and passed", out)
    check("--- in2.txt" in out and "10" in out, "the failed test's output is shown", out)
    check(rc == 1, "a failed test: exit status 1", (rc, err))
    check(read(d, "1-seen.txt") == b"2\n" and read(d, "2-seen.txt") == b"5\n" and read(d, "3-seen.txt") == b"7\n",
          "each test's output file saved as N-NAME", [read(d, "%d-seen.txt" % i) for i in (1, 2, 3)])
    rc, out, err = run(e, d, "shell", "double.sh", "--test", "in1.txt:out1.txt")
    check(rc == 0, "every test passed: exit status 0", (rc, out, err))
    rc, out, err = run(e, d, "shell", "double.sh", "--test", "nope.txt:out1.txt")
    check(rc == 1 and "nope.txt" in err, "a missing IN file: a clear error", (rc, err))


def help_text():
    p = subprocess.run([BIN, "run", "--help"], capture_output=True, text=True)
    check("--test IN[:EXPECTED]" in p.stdout and "--output-file PATH" in p.stdout,
          "--help shows --test and --output-file", p.stdout)


def main():
    help_text()
    e = Engine()
    skipped = 0
    try:
        with tempfile.TemporaryDirectory() as d:
            output_files(e, d)
        with tempfile.TemporaryDirectory() as d:
            if engine_has_tests(e):
                tests_table(e, d)
            else:
                print("skipped: --test end to end (this engine build has no `tests` support yet)")
                skipped += 1
                rc, out, err = run(e, d, "shell", "-", "--test", "/dev/null", stdin=b"cat\n")
                check(rc == 1 and "no tests" in err, "--test against an engine without tests: a clear error",
                      (rc, out, err))
    finally:
        e.stop()
    return t.done(skipped)


if __name__ == "__main__":
    sys.exit(main())
