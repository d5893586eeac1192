#!/usr/bin/env python3
"""The Judge0 CE 1.13 fields and routes beyond test_judge0.py (src/judge0/judge0.c):
cpu_extra_time and the per-process limit flags (isolate's -x, --cg-timing
off, -m: a CPU-burning busybox loop, four children, awk holding memory),
stack_limit enforced as the run stage's RLIMIT_STACK (busybox `ulimit -s`
prints it in KB), compiler_options passed to the compile stage as
PISTON_COMPILER_OPTIONS (a fixture compiler that echoes them, and
pkgs/gcc's real compile script in front of a fake gcc that records its
argv: words split, globbing off, no shell), DELETE /submissions/{token}
(PISTON_JUDGE0_ALLOW_DELETE; gone from memory and from the journal across
kill -9 and restarts) and GET /submissions (PISTON_JUDGE0_ALLOW_LIST; paged,
newest first, Judge0's meta), each with Judge0's error bodies for bad input.
With a real gcc package installed (./data or $PISTON_TEST_DATA, as
test_execute finds them), -DVALUE=7 changes a C program's output."""
import base64
import glob
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import CC_COMPILE, CC_RUN, SHELL_RUN, Checker, Engine, make_package  # noqa: E402
from test_judge0 import Restartable, poll  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
t = Checker()
check = t.check
skipped = 0

# A compiler that records what it got: the options (one line), then argv.
OPTS_COMPILE = """#!/bin/sh
printf '%s' "$PISTON_COMPILER_OPTIONS" > /box/opts.txt
{ echo '#!/bin/sh'; echo 'cat /box/opts.txt; echo; echo "run sees [$PISTON_COMPILER_OPTIONS]"'; } > /box/a.out
chmod 755 /box/a.out
"""
# A stand-in for gcc behind pkgs/gcc's own compile script: one line per argument.
FAKE_GCC = """#!/bin/sh
for a do echo "[$a]"; done > /box/args.txt
{ echo '#!/bin/sh'; echo 'cat /box/args.txt'; } > /box/a.out
chmod 755 /box/a.out
"""


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def wait(e, body, query=""):
    return e.request("POST", "/submissions?wait=true" + query, body)


def packages(d):
    with open(os.path.join(ROOT, "pkgs", "gcc", "12.2.0", "compile")) as f:
        gcc_compile = f.read()
    with open(os.path.join(ROOT, "pkgs", "gcc", "12.2.0", "run")) as f:
        gcc_run = f.read()
    pkgs = [make_package(d, "bash", "5.2.15", SHELL_RUN),
            make_package(d, "c", "13.2.0", CC_RUN, compile_script=OPTS_COMPILE),
            make_package(d, "c++", "12.2.0", gcc_run, compile_script=gcc_compile),
            make_package(d, "rust", "1.0.0", CC_RUN, compile_script=CC_COMPILE)]
    fake = os.path.join(pkgs[2], "usr", "bin", "g++")
    with open(fake, "w") as f:
        f.write(FAKE_GCC)
    os.chmod(fake, 0o755)
    return pkgs


def stack_limit(e):
    for extra, want in (({}, "64000"), ({"stack_limit": 8192}, "8192"), ({"stack_limit": 12345}, "12345"),
                        ({"stack_limit": "2048"}, "2048"), ({"stack_limit": 0}, "unlimited")):
        body = {"source_code": "ulimit -s", "language_id": 46}
        body.update(extra)
        st, r = wait(e, body, "&fields=stdout,stack_limit,status")
        check(st == 201 and r["stdout"] == want + "\n" and r["status"]["id"] == 3,
              "stack_limit %s: ulimit -s prints %s" % (extra.get("stack_limit", "default"), want), (st, r))
    st, r = e.request("GET", "/config_info")
    check(r["stack_limit"] == 64000 and r["max_stack_limit"] == 128000, "config_info: stack_limit 64000/128000", r)
    # a deep recursion dies under a small stack and lives under a big one
    deep = "f() { [ $1 -gt 0 ] && f $(($1 - 1)); }; f 3000; echo survived"
    st, small = wait(e, {"source_code": deep, "language_id": 46, "stack_limit": 64})
    st, big = wait(e, {"source_code": deep, "language_id": 46, "stack_limit": 64000})
    check(small["status"]["id"] != 3 and small["stdout"] is None and big["stdout"] == "survived\n",
          "stack_limit: a deep recursion fails under 64 KB, runs under 64000 KB", (small, big))
    for value, msg in ((128001, "must be less than or equal to 128000"), (-1, "must be greater than or equal to 0"),
                       (1.5, "must be an integer"), ("abc", "is not a number"), ([1], "is not a number")):
        st, r = e.request("POST", "/submissions", {"source_code": "echo", "language_id": 46, "stack_limit": value})
        check(st == 422 and r == {"stack_limit": [msg]}, "422 stack_limit=%r: %s" % (value, msg), (st, r))


def compiler_options(e):
    st, r = wait(e, {"source_code": "x", "language_id": 50, "compiler_options": "-O3 -DX=1  -Wall"},
                 "&fields=stdout,compiler_options,status")
    check(st == 201 and r["stdout"] == "-O3 -DX=1  -Wall\nrun sees []\n" and r["status"]["id"] == 3
          and r["compiler_options"] == "-O3 -DX=1  -Wall",
          "compiler_options reach the compile stage only (PISTON_COMPILER_OPTIONS)", (st, r))
    # Judge0 removes $&;<>|` before its compile script; surrounding blanks go too
    st, r = wait(e, {"source_code": "x", "language_id": 50, "compiler_options": "  -DA=$(id);B|C>`x` \n"},
                 "&fields=stdout,compiler_options")
    check(st == 201 and r["stdout"].startswith("-DA=(id)BCx\n") and r["compiler_options"] == "  -DA=$(id);B|C>`x` \n",
          "compiler_options: $&;<>|` removed as Judge0 does, the field kept as sent", (st, r))
    # the same source with other options: never the compile cache's earlier box
    outs = []
    for v in ("-DV=1", "-DV=2", "-DV=1", ""):
        st, r = wait(e, {"source_code": "same", "language_id": 50, "compiler_options": v})
        outs.append(r["stdout"].split("\n")[0])
    check(outs == ["-DV=1", "-DV=2", "-DV=1", ""], "compiler_options are part of the compile cache's key", outs)
    # pkgs/gcc/12.2.0/compile: words at blanks, no globbing, options before the sources
    st, r = wait(e, {"source_code": "int main(){}", "language_id": 54,
                     "compiler_options": "-DX=* *.cpp /usr/b*  -DQ='a b' -O1"})
    check(st == 201 and r["stdout"] == "[-std=gnu++17]\n[-O2]\n[-DX=*]\n[*.cpp]\n[/usr/b*]\n[-DQ='a]\n[b']\n[-O1]\n"
          "[-o]\n[a.out]\n[main.cpp]\n[-lm]\n",
          "pkgs/gcc compile: options split into words, globbing off, never a shell", (st, r))
    st, r = wait(e, {"source_code": "int main(){}", "language_id": 54})
    check(st == 201 and r["stdout"] == "[-std=gnu++17]\n[-O2]\n[-o]\n[a.out]\n[main.cpp]\n[-lm]\n",
          "pkgs/gcc compile: no options, no extra words", (st, r))
    st, r = e.request("GET", "/config_info")
    check(r["enable_compiler_options"] is True and r["allowed_languages_for_compile_options"] == ["C", "C++"],
          "config_info: compiler options enabled for C and C++", r)
    # blank options are ignored, also for interpreted languages (Judge0: blank?)
    st, r = wait(e, {"source_code": "echo ok", "language_id": 46, "compiler_options": "   "})
    check(st == 201 and r["stdout"] == "ok\n", "blank compiler_options ignored", (st, r))
    cases = [
        (46, "-O2", "setting compiler options is only allowed for compiled languages"),
        (73, "-O2", "setting compiler options is only allowed for C and C++"),
        (50, "x" * 513, "is too long (maximum is 512 characters)"),
        (50, 5, "must be a string"),
        (50, ["-O2"], "must be a string"),
    ]
    for lang, value, msg in cases:
        st, r = e.request("POST", "/submissions", {"source_code": "x", "language_id": lang, "compiler_options": value})
        check(st == 422 and r == {"compiler_options": [msg]},
              "422 compiler_options=%r (language %d): %s" % (value if len(repr(value)) < 20 else "...", lang, msg),
              (st, r))
    st, r = wait(e, {"source_code": "x", "language_id": 50, "compiler_options": "y" * 512})
    check(st == 201 and r["stdout"].startswith("y" * 512 + "\n"), "512 characters of options are allowed", (st, r))


def real_gcc():
    """-DVALUE=7 through a real gcc package, when one is installed."""
    global skipped
    data = os.environ.get("PISTON_TEST_DATA", os.path.join(ROOT, "data"))
    found = sorted(glob.glob(os.path.join(data, "packages", "gcc", "*", ".ppman-installed")))
    if not found:
        print("skipped: real gcc package (none installed under %s/packages/gcc)" % data)
        skipped += 1
        return
    e = Engine(link_packages=[os.path.dirname(found[-1])], packages=False)
    try:
        src = '#include <stdio.h>\n#ifndef VALUE\n#define VALUE 1\n#endif\nint main(void){printf("%d\\n", VALUE);}'
        st, a = wait(e, {"source_code": src, "language_id": 50})
        st, b = wait(e, {"source_code": src, "language_id": 50, "compiler_options": "-DVALUE=7"})
        check(a.get("stdout") == "1\n" and b.get("stdout") == "7\n", "real gcc: -DVALUE=7 changes the output", (a, b))
    finally:
        e.stop()


def delete(e, off):
    st, r = wait(e, {"source_code": "echo gone", "language_id": 46})
    tok = r["token"]
    st, d = off.request("DELETE", "/submissions/%s" % tok)
    check(st == 400 and d.get("error") == "delete not allowed", "DELETE when not enabled: 400 delete not allowed",
          (st, d))
    st, c = off.request("GET", "/config_info")
    check(c["enable_submission_delete"] is False, "config_info: enable_submission_delete false by default", c)
    st, c = e.request("GET", "/config_info")
    check(c["enable_submission_delete"] is True, "config_info: enable_submission_delete true when enabled", c)
    st, d = e.request("DELETE", "/submissions/%s?fields=nope" % tok)
    check(st == 400 and "nope" in d.get("error", ""), "DELETE ?fields=nope -> 400", (st, d))
    st, d = e.request("DELETE", "/submissions/%s" % tok)
    check(st == 200 and d.get("stdout") == b64("gone\n") and d["token"] == tok and d["status"]["id"] == 3
          and sorted(d) == sorted(["stdout", "time", "memory", "stderr", "token", "compile_output", "message",
                                   "status"]),
          "DELETE: 200 with the submission, base64-encoded", (st, d))
    st, g = e.request("GET", "/submissions/%s" % tok)
    check(st == 404, "DELETE: then GET is 404", (st, g))
    st, d = e.request("DELETE", "/submissions/%s" % tok)
    check(st == 404, "DELETE twice: 404", (st, d))
    st, d = e.request("DELETE", "/submissions/nope")
    check(st == 404, "DELETE of a malformed token: 404", (st, d))
    st, r = wait(e, {"source_code": "echo x", "language_id": 46})
    st, d = e.request("DELETE", "/submissions/%s?fields=stdout,status_id&base64_encoded=false" % r["token"])
    check(st == 200 and d == {"stdout": b64("x\n"), "status_id": 3}, "DELETE ?fields=, always base64", (st, d))
    st, r = e.request("POST", "/submissions", {"source_code": "sleep 2", "language_id": 46})
    st, d = e.request("DELETE", "/submissions/%s" % r["token"])
    check(st == 400 and re.match(r"^submission cannot be deleted because its status is (1 \(In Queue\)|"
                                 r"2 \(Processing\))$", d.get("error", "")),
          "DELETE while in queue or processing: 400 with its status", (st, d))
    st, g = poll(e, r["token"])
    check(st == 200 and g["status"]["id"] == 3, "...and it still runs to its end", g)


def delete_restart(pkgs):
    r = Restartable(pkgs, env={"PISTON_JUDGE0_ALLOW_DELETE": "true"})
    try:
        r.start()
        st, a = r.request("POST", "/submissions?wait=true", {"source_code": "echo keep", "language_id": 46})
        st, b = r.request("POST", "/submissions?wait=true", {"source_code": "echo drop", "language_id": 46})
        st, d = r.request("DELETE", "/submissions/%s" % b["token"])
        check(st == 200, "delete+restart: deleted", (st, d))
        r.kill9()
        r.start()
        st, g = r.request("GET", "/submissions/%s" % b["token"])
        check(st == 404, "delete+restart: a deleted submission stays gone after kill -9", (st, g))
        st, g = r.request("GET", "/submissions/%s" % a["token"])
        check(st == 200 and g["stdout"] == "keep\n", "delete+restart: the others are still served", (st, g))
        with open(r.journal, "rb") as f:
            check(b["token"].encode() not in f.read(), "delete+restart: compaction dropped its records", r.journal)
        r.kill9()
        r.start()
        st, g = r.request("GET", "/submissions/%s" % b["token"])
        check(st == 404, "delete+restart: and after a second restart", (st, g))
    finally:
        r.cleanup()


def listing(e, off):
    st, r = off.request("GET", "/submissions")
    check(st == 403, "GET /submissions when not enabled: 403 (Judge0 without authorization)", (st, r))
    st, r = e.request("GET", "/submissions?per_page=100")
    before = r["meta"]["total_count"] if st == 200 else None
    check(st == 200 and isinstance(r["submissions"], list) and before == len(r["submissions"]),
          "GET /submissions: a list and meta", (st, r))
    tokens = []
    for i in range(5):
        st, s = wait(e, {"source_code": "echo list%d" % i, "language_id": 46})
        tokens.append(s["token"])
    total = before + 5
    pages = (total + 1) // 2
    st, r = e.request("GET", "/submissions?per_page=2")
    check(st == 200 and [s["token"] for s in r["submissions"]] == tokens[::-1][:2]
          and sorted(r["submissions"][0]) == sorted(["stdout", "time", "memory", "stderr", "token",
                                                     "compile_output", "message", "status"])
          and r["submissions"][0]["stdout"] == "list4\n"
          and r["meta"] == {"current_page": 1, "next_page": 2, "prev_page": None, "total_pages": pages,
                            "total_count": total},
          "GET /submissions?per_page=2: newest first, default fields, meta", (st, r))
    st, r = e.request("GET", "/submissions?page=2&per_page=2&fields=token,stdout")
    check(st == 200 and r["submissions"] == [{"token": tokens[2], "stdout": "list2\n"},
                                             {"token": tokens[1], "stdout": "list1\n"}]
          and r["meta"]["prev_page"] == 1 and r["meta"]["current_page"] == 2,
          "page 2, fields=token,stdout", (st, r))
    st, r = e.request("GET", "/submissions?page=%d&per_page=2" % pages)
    check(st == 200 and r["meta"]["next_page"] is None and r["meta"]["prev_page"] == pages - 1
          and len(r["submissions"]) == (2 if total % 2 == 0 else 1), "the last page: next_page null", (st, r))
    st, r = e.request("GET", "/submissions?page=%d&per_page=2" % (pages + 3))
    check(st == 200 and r["submissions"] == [] and r["meta"]["next_page"] is None
          and r["meta"]["prev_page"] == pages + 2, "past the last page: an empty list", (st, r))
    st, r = e.request("GET", "/submissions?per_page=1&base64_encoded=true&fields=stdout")
    check(st == 200 and r["submissions"] == [{"stdout": b64("list4\n")}], "base64_encoded=true", (st, r))
    st, r = e.request("GET", "/submissions")
    check(st == 200 and len(r["submissions"]) == min(20, total), "per_page defaults to 20", (st, r))
    for q, msg in (("page=0", "invalid page: 0"), ("page=-4", "invalid page: -4"), ("page=abc", "invalid page: 0"),
                   ("per_page=-2", "invalid per_page: -2"), ("per_page=0", "invalid per_page: 0"),
                   ("per_page=101", "invalid per_page: 101 (at most 100)"),
                   ("per_page=" + "9" * 5000, "invalid per_page"), ("fields=nope", "invalid fields: [nope]"),
                   ("base64_encoded=maybe", "base64_encoded must be true or false")):
        st, r = e.request("GET", "/submissions?" + q)
        check(st == 400 and r.get("error", "").startswith(msg), "GET /submissions?%s: 400 %s" % (q[:20], msg),
              (st, r))
    st, r = wait(e, {"source_code": "printf '\\376'", "language_id": 46})
    st, r = e.request("GET", "/submissions?per_page=1")
    check(st == 400 and r.get("error") == "some attributes for one or more submissions cannot be converted to "
          "UTF-8, use base64_encoded=true query parameter", "a submission that is not UTF-8: 400", (st, r))
    st, r = e.request("GET", "/submissions?per_page=1&base64_encoded=true")
    check(st == 200 and r["submissions"][0]["stdout"] == b64(b"\xfe"), "...and fine with base64", (st, r))

# Burns its own CPU (utime + stime of /proc/self/stat, in ticks of 10 ms) up
# to $1 ticks, then returns: a loop that ends by itself, so a run that prints
# after it was not killed before. `read` is a builtin: /proc/self is the
# shell (or subshell) that runs it.
BURN = ("burn() { n=$1; while :; do read -r s < /proc/self/stat; set -- $s; "
        "[ $((${14} + ${15})) -ge $n ] && return; done; }\n")
FOUR_CHILDREN = BURN + "for k in 1 2 3 4; do ( burn 60 ) & done; wait; echo ok"
# busybox awk holding a string of $1 bytes (its heap: ~1.2x that) for a moment
HOLD = "awk 'BEGIN { s = sprintf(\"%%%ds\", \"x\"); system(\"sleep 1\"); print length(s) }'"


LIMITS_ENV = {"PISTON_RUN_TIMEOUT": "15000", "PISTON_RUN_CPU_TIME": "6000"}


def limits(e):
    """cpu_extra_time and the per-process flags, as isolate's -x, --cg-timing
    (off with the time flag) and -m (RLIMIT_AS, with the memory flag)."""
    base = {"language_id": 46, "wall_time_limit": 8}
    # 1.3 s of CPU under a 1 s limit and 1 s of extra time: not killed, but TLE
    st, r = wait(e, dict(base, source_code=BURN + "burn 130; echo done", cpu_time_limit=1, cpu_extra_time=1),
                 "&fields=stdout,status,time,cpu_extra_time")
    check(st == 201 and r["status"]["id"] == 5 and r["stdout"] == "done\n" and float(r["time"]) >= 1.2
          and r["cpu_extra_time"] == 1,
          "cpu_extra_time 1: a 1.3 s loop runs to its end and is Time Limit Exceeded, time >= 1.2", (st, r))
    st, r = wait(e, dict(base, source_code=BURN + "burn 130; echo done", cpu_time_limit=1, cpu_extra_time=0),
                 "&fields=stdout,status,time")
    check(st == 201 and r["status"]["id"] == 5 and r["stdout"] is None and float(r["time"]) < 1.2,
          "cpu_extra_time 0: the same loop is killed at ~1 s", (st, r))
    st, r = wait(e, dict(base, source_code=BURN + "burn 40; echo done", cpu_time_limit=0.5, cpu_extra_time=1),
                 "&fields=stdout,status,time")
    check(st == 201 and r["status"]["id"] == 3 and r["stdout"] == "done\n",
          "cpu_extra_time: a run within cpu_time_limit is Accepted", (st, r))
    # 4 children of 0.6 s each: over 1 s together, under it each
    for flag, want in ((True, 3), (False, 5)):
        st, r = wait(e, dict(base, source_code=FOUR_CHILDREN, cpu_time_limit=1, cpu_extra_time=0, wall_time_limit=15,
                             enable_per_process_and_thread_time_limit=flag),
                     "&fields=stdout,status,time,enable_per_process_and_thread_time_limit")
        ok = r.get("status", {}).get("id") == want and r["enable_per_process_and_thread_time_limit"] is flag
        if flag:
            ok = ok and r["stdout"] == "ok\n" and float(r["time"]) >= 2.0
        check(st == 201 and ok, "4 children x 0.6 s under a 1 s limit, per-process time %s: status %d"
              % (flag, want), (st, r))
    # with the flag, extra time is each process's: one over the limit runs on, and is TLE
    st, r = wait(e, dict(base, source_code=BURN + "burn 130; echo done", cpu_time_limit=1, cpu_extra_time=1,
                         enable_per_process_and_thread_time_limit=True), "&fields=stdout,status,time")
    check(st == 201 and r["status"]["id"] == 5 and r["stdout"] == "done\n" and float(r["time"]) >= 1.2,
          "per-process time and cpu_extra_time 1: a 1.3 s process runs to its end and is TLE", (st, r))
    # ...and one process over the limit is still TLE with the flag, at ~1 s
    for pre, what in (("", ""), ("trap '' XCPU; ", " (ignoring SIGXCPU)")):
        st, r = wait(e, dict(base, source_code=BURN + pre + "burn 250; echo done", cpu_time_limit=1, cpu_extra_time=0,
                             enable_per_process_and_thread_time_limit=True), "&fields=stdout,status,time,message")
        check(st == 201 and r["status"]["id"] == 5 and r["stdout"] is None and 0.95 <= float(r["time"]) < 1.4,
              "per-process time: one process over 1 s%s is killed at ~1 s, TLE" % what, (st, r))
    # two children over it each: the whole job is TLE (not only the children
    # stopped, with the parent's "ok" Accepted)
    st, r = wait(e, dict(base, source_code=BURN + "( burn 130 ) & ( burn 130 ) & wait; echo ok", cpu_time_limit=1,
                         cpu_extra_time=0, enable_per_process_and_thread_time_limit=True),
                 "&fields=stdout,status,time")
    check(st == 201 and r["status"]["id"] == 5 and r["stdout"] is None,
          "per-process time: two children over 1 s each make the job TLE", (st, r))
    # memory_limit per process (RLIMIT_AS) instead of the job's cgroup
    two = "%s & %s & wait" % (HOLD % 12000000, HOLD % 12000000)
    for flag in (True, False):
        st, r = wait(e, dict(base, source_code=two, memory_limit=25000,
                             enable_per_process_and_thread_memory_limit=flag),
                     "&fields=stdout,stderr,status,memory,enable_per_process_and_thread_memory_limit")
        if flag:
            check(st == 201 and r["status"]["id"] == 3 and r["stdout"] == "12000000\n12000000\n"
                  and r["enable_per_process_and_thread_memory_limit"] is True,
                  "per-process memory: two processes of ~14 MB each run under a 25000 KB limit", (st, r))
        else:
            check(st == 201 and r["status"]["id"] != 3 and r["stdout"] != "12000000\n12000000\n",
                  "job memory: the same two processes together exceed 25000 KB", (st, r))
    st, r = wait(e, dict(base, source_code=HOLD % 20000000, memory_limit=25000,
                         enable_per_process_and_thread_memory_limit=True), "&fields=stdout,stderr,status")
    check(st == 201 and r["status"]["id"] == 11 and r["stdout"] is None and "out of memory" in (r["stderr"] or ""),
          "per-process memory: one process over 25000 KB fails its allocation (awk: out of memory, exit 1)", (st, r))
    st, r = e.request("GET", "/config_info")
    check(r["allow_enable_per_process_and_thread_time_limit"] is True
          and r["allow_enable_per_process_and_thread_memory_limit"] is True
          and r["enable_per_process_and_thread_time_limit"] is False,
          "config_info: the per-process flags may be set (off by default)", r)


def main():
    d = tempfile.mkdtemp(prefix="judge0-extras-")
    pkgs = packages(d)
    e = Engine(link_packages=pkgs, packages=False,
               env={"PISTON_JUDGE0_ALLOW_DELETE": "true", "PISTON_JUDGE0_ALLOW_LIST": "true"})
    off = Engine(link_packages=pkgs[:1], packages=False)
    # room for 1 s limits plus extra time, and for 4 x 0.6 s of CPU in one job
    lim = Engine(link_packages=pkgs[:1], packages=False, env=LIMITS_ENV)
    try:
        try:
            limits(lim)
        except Exception as ex:
            check(False, "limits raised", repr(ex) + " " + lim.logtext()[-1500:])
        for part in (stack_limit, compiler_options, lambda x: delete(x, off), lambda x: listing(x, off)):
            try:
                part(e)
            except Exception as ex:  # a crash in one part is a failure, the rest still runs
                check(False, "%s raised" % getattr(part, "__name__", "part"), repr(ex) + " " + e.logtext()[-1500:])
        st, _ = e.request("GET", "/")
        check(st == 200 and e.proc.poll() is None, "the engine is still up", e.logtext())
    finally:
        e.stop()
        off.stop()
        lim.stop()
    try:
        delete_restart(pkgs[:1])
    except Exception as ex:
        check(False, "delete_restart raised", repr(ex))
    real_gcc()
    return t.done(skipped)


if __name__ == "__main__":
    sys.exit(main())
