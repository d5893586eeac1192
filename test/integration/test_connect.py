"""WebSocket /api/v2/connect (SPEC section 1): the RFC 6455 handshake,
ping/pong, fragmentation, the message protocol (runtime, stage, data, exit,
error), stdin, signals that reach the program, every close code (4000-4005,
4999), the output cap, a client that goes away."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exec_fixture import WS, Checker, Engine, pgrep  # noqa: E402

t = Checker()
check = t.check


def init(code, **kw):
    m = {"type": "init", "language": "shell", "version": "*", "files": [{"content": code}]}
    m.update(kw)
    return m


def texts(msgs, stream):
    return "".join(m["data"] for m in msgs if isinstance(m, dict) and m.get("type") == "data"
                   and m.get("stream") == stream)


def last_close(msgs):
    return msgs[-1] if msgs and isinstance(msgs[-1], tuple) and msgs[-1][0] == "close" else None


def basic(e):
    w = WS(e.port)
    check(w.ok, "handshake: 101 with the right Sec-WebSocket-Accept", w.head)
    w.send_frame(9, b"ping!")
    check(w.recv() == ("pong", b"ping!"), "ping answered by pong with the payload")
    w.send(init("echo out; echo err >&2; exit 3"))
    msgs = w.until_close()
    w.close()
    types = [m["type"] if isinstance(m, dict) else m[0] for m in msgs]
    check(types[0] == "runtime" and msgs[0]["language"] == "shell" and msgs[0]["version"] == "2.0.0",
          "runtime message first", msgs[:1])
    check(types[1] == "stage" and msgs[1]["stage"] == "run", "stage run", msgs[:2])
    check(texts(msgs, "stdout") == "out\n" and texts(msgs, "stderr") == "err\n", "live stdout and stderr", msgs)
    ex = [m for m in msgs if isinstance(m, dict) and m["type"] == "exit"]
    check(len(ex) == 1 and ex[0]["stage"] == "run" and ex[0]["code"] == 3 and ex[0]["signal"] is None,
          "exit message with stage, code, signal", ex)
    check(last_close(msgs) == ("close", 4999, "Job Completed"), "close 4999 Job Completed", msgs[-1])


def stdin_and_signals(e):
    w = WS(e.port)
    w.send(init("read x; echo got $x; read y; echo then $y"))
    w.send({"type": "data", "stream": "stdin", "data": "early\n"})   # before the run stage starts
    seen = ""
    deadline = time.time() + 20
    while "got early" not in seen and time.time() < deadline:
        m = w.recv()
        if isinstance(m, dict) and m.get("type") == "data":
            seen += m["data"]
    w.send({"type": "data", "stream": "stdin", "data": "late\n"})
    msgs = w.until_close()
    w.close()
    check("got early" in seen and "then late" in texts(msgs, "stdout"), "stdin reaches the program", (seen, msgs))

    w = WS(e.port)
    w.send(init("cat; echo END"))
    w.send({"type": "data", "stream": "stdin", "data": "abc"})
    w.send({"type": "data", "stream": "stdin", "eof": True})
    msgs = w.until_close()
    w.close()
    check(texts(msgs, "stdout") == "abcEND\n" and last_close(msgs)[1] == 4999,
          "extension: \"eof\": true closes the program's stdin", msgs)

    w = WS(e.port)
    w.send(init("trap 'echo caught INT; exit 7' INT; echo ready; while :; do sleep 0.05; done"))
    seen = ""
    while "ready" not in seen:
        m = w.recv()
        if isinstance(m, dict) and m.get("type") == "data":
            seen += m["data"]
    w.send({"type": "signal", "signal": "SIGINT"})
    msgs = w.until_close()
    w.close()
    ex = [m for m in msgs if isinstance(m, dict) and m["type"] == "exit"]
    check("caught INT" in texts(msgs, "stdout") and ex and ex[0]["code"] == 7,
          "SIGINT reaches the program (trap runs)", msgs)

    w = WS(e.port)
    w.send(init("echo ready; sleep 30"))
    while True:
        m = w.recv()
        if isinstance(m, dict) and m.get("type") == "data":
            break
    w.send({"type": "signal", "signal": "SIGTERM"})
    start = time.time()
    msgs = w.until_close()
    w.close()
    ex = [m for m in msgs if isinstance(m, dict) and m["type"] == "exit"]
    check(ex and ex[0]["signal"] == "SIGTERM" and ex[0]["code"] is None and time.time() - start < 5,
          "SIGTERM kills the program: exit reports the signal", ex)


def number_args(e):
    """The init message takes args like execute: numbers and booleans pass as
    their JSON text as sent (a hand-written frame: json.dumps rewrites 3.50)."""
    w = WS(e.port)
    w.send_frame(1, '{"type":"init","language":"shell","version":"*",'
                    '"files":[{"content":"for a; do printf \'[%s]\' \\"$a\\"; done"}],'
                    '"args":["foo",3,3.50,true,-1e3]}')
    msgs = w.until_close()
    w.close()
    check(texts(msgs, "stdout") == "[foo][3][3.50][true][-1e3]" and last_close(msgs)[1] == 4999,
          "init: number and boolean args pass as their JSON text", msgs)


def close_codes(e):
    w = WS(e.port)
    w.send(init("sleep 1"))
    w.send(init("sleep 1"))
    msgs = w.until_close()
    w.close()
    check(last_close(msgs) == ("close", 4000, "Already Initialized"), "4000 Already Initialized", msgs)

    w = WS(e.port)
    start = time.time()
    msgs = w.until_close()
    w.close()
    check(last_close(msgs) == ("close", 4001, "Initialization Timeout") and 0.9 < time.time() - start < 3,
          "4001 Initialization Timeout after 1 s", msgs)

    w = WS(e.port)
    w.send({"type": "init", "version": "*", "files": [{"content": ""}]})
    msgs = w.until_close()
    w.close()
    check(msgs[0] == {"type": "error", "message": "language is required as a string"}
          and last_close(msgs) == ("close", 4002, "Notified Error"), "4002 Notified Error after an error", msgs)

    w = WS(e.port)
    w.send(init("", args=["a", None]))
    msgs = w.until_close()
    w.close()
    check(msgs[0] == {"type": "error", "message": "args[1] must be a string, a number or a boolean, not null"}
          and last_close(msgs) == ("close", 4002, "Notified Error"), "init with a null arg -> error + 4002", msgs)

    w = WS(e.port)
    w.send_frame(1, "{oops")
    msgs = w.until_close()
    w.close()
    check(msgs[0].get("type") == "error" and last_close(msgs)[1] == 4002, "invalid JSON -> error + 4002", msgs)

    for msg in ({"type": "data", "stream": "stdin", "data": "x"}, {"type": "signal", "signal": "SIGINT"}):
        w = WS(e.port)
        w.send(msg)
        msgs = w.until_close()
        w.close()
        check(last_close(msgs) == ("close", 4003, "Not yet initialized"), "4003 for %s before init" % msg["type"],
              msgs)

    w = WS(e.port)
    w.send(init("sleep 2"))
    w.send({"type": "data", "stream": "stdout", "data": "x"})
    msgs = w.until_close()
    w.close()
    check(last_close(msgs) == ("close", 4004, "Can only write to stdin"), "4004 Can only write to stdin", msgs)

    w = WS(e.port)
    w.send(init("sleep 2"))
    w.send({"type": "signal", "signal": "SIGNOPE"})
    msgs = w.until_close()
    w.close()
    check(last_close(msgs) == ("close", 4005, "Invalid signal"), "4005 Invalid signal", msgs)

    w = WS(e.port)
    w.send({"type": "whatever"})
    w.send(init("echo fine"))
    msgs = w.until_close()
    w.close()
    check(texts(msgs, "stdout") == "fine\n" and last_close(msgs)[1] == 4999, "unknown types are ignored", msgs)


def protocol(e):
    w = WS(e.port)
    import json
    text = json.dumps(init("echo fragmented"))
    w.send_frame(1, text[:10], fin=False)
    w.send_frame(9, b"mid")                        # a control frame between fragments
    w.send_frame(0, text[10:20], fin=False)
    w.send_frame(0, text[20:], fin=True)
    msgs = w.until_close()
    w.close()
    check(("pong", b"mid") in msgs and texts(msgs, "stdout") == "fragmented\n", "fragmented message reassembled",
          msgs)

    w = WS(e.port)
    w.send_frame(1, "{}", mask=False)
    msgs = w.until_close()
    w.close()
    check(last_close(msgs)[1] == 1002, "unmasked client frame -> 1002", msgs)

    w = WS(e.port)
    w.send_frame(8, (1000).to_bytes(2, "big") + b"bye")
    msgs = w.until_close()
    w.close()
    check(last_close(msgs)[1] == 1000, "client close is echoed", msgs)

    w = WS(e.port)
    w.send(init("yes 0123456789"))
    msgs = w.until_close()
    w.close()
    ex = [m for m in msgs if isinstance(m, dict) and m["type"] == "exit"]
    check(len(texts(msgs, "stdout")) == 1024 and ex and ex[0]["status"] == "OL", "streamed output capped", ex)

    w = WS(e.port)
    w.send(init("printf '\\342'; sleep 0.2; printf '\\202\\254\\n'"))
    msgs = w.until_close()
    w.close()
    check(texts(msgs, "stdout") == "\u20ac\n", "a UTF-8 character split across writes stays whole", msgs)

    w = WS(e.port)
    w.send({"type": "init", "language": "cc", "version": "*", "files": [{"name": "m.c", "content": "echo ran"}]})
    msgs = w.until_close()
    w.close()
    seq = [(m["type"], m.get("stage")) for m in msgs if isinstance(m, dict) and m["type"] in ("stage", "exit")]
    check(seq == [("stage", "compile"), ("exit", "compile"), ("stage", "run"), ("exit", "run")]
          and "ran" in texts(msgs, "stdout"), "compile then run stages", seq)

    w = WS(e.port)
    w.send(init("sleep 31338"))
    deadline = time.time() + 10
    while time.time() < deadline and not pgrep(b"sleep\x0031338"):
        time.sleep(0.05)
    w.close()
    deadline = time.time() + 5
    while time.time() < deadline and pgrep(b"sleep\x0031338"):
        time.sleep(0.05)
    check(not pgrep(b"sleep\x0031338"), "a client that goes away cancels its job")

    st, r = e.request("GET", "/api/v2/connect")
    check(st == 426, "plain GET on /api/v2/connect -> 426", (st, r))


def init_cpu_seconds(engine_pid):
    """CPU time (s) of the engine's stage inits (comm "init", children of the engine)."""
    total, found = 0.0, 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        comm, rest = st[st.index("(") + 1:st.rindex(")")], st[st.rindex(")") + 2:].split()
        if comm == "init" and int(rest[1]) == engine_pid:
            total += (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")
            found += 1
    return total, found


def idle_init(e):
    """An interactive stage's init sleeps while its program runs (it once
    closed its own signalfd with the cgroup descriptors and spun on poll's
    POLLNVAL for the whole run, on the CPU the program started on)."""
    w = WS(e.port)
    w.send(init("sleep 1.5; echo slept"))
    deadline = time.time() + 10
    while time.time() < deadline and not init_cpu_seconds(e.proc.pid)[1]:
        time.sleep(0.02)
    time.sleep(0.2)
    before, found = init_cpu_seconds(e.proc.pid)
    time.sleep(1.0)
    after, _ = init_cpu_seconds(e.proc.pid)
    msgs = w.until_close()
    w.close()
    check(found == 1 and after - before < 0.15,
          "an interactive stage's init uses no CPU while its program sleeps (%.2f s of 1 s)" % (after - before),
          found)
    check(texts(msgs, "stdout") == "slept\n" and last_close(msgs)[1] == 4999, "and the job ends normally", msgs)


def engine_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def stdin_reader_gone(e):
    """An interactive program that closes its stdin and goes on running: the
    engine's loop stays idle (the pipe's error, reported even to a muted
    descriptor, once woke it over and over until the stage ended, taking
    the CPU from the stage: a WebSocket job took twice execute's time), and
    stdin sent afterwards is dropped without ending the job."""
    w = WS(e.port)
    w.send(init("exec 0<&-; echo closed; sleep 1.2; echo slept"))
    first = w.recv()
    while not (isinstance(first, dict) and first.get("type") == "data"):
        first = w.recv()
    time.sleep(0.1)
    before = engine_cpu_seconds(e.proc.pid)
    time.sleep(0.8)
    w.send({"type": "data", "stream": "stdin", "data": "late\n"})
    spent = engine_cpu_seconds(e.proc.pid) - before
    msgs = [first] + w.until_close()
    w.close()
    check(spent < 0.15, "the engine stays idle while a program without stdin runs (%.2f s CPU of 0.8 s)" % spent)
    check(texts(msgs, "stdout") == "closed\nslept\n" and last_close(msgs)[1] == 4999,
          "and the job ends normally", msgs)


def main():
    e = Engine()
    try:
        basic(e)
        stdin_and_signals(e)
        number_args(e)
        close_codes(e)
        protocol(e)
        idle_init(e)
        stdin_reader_gone(e)
    finally:
        e.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
