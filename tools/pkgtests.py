"""The test cases a package carries, read the same way by tools/try-pkg.sh (in an empty root) and
tools/test-pkgs.sh (through the engine's API).

A package (and its recipe folder, pkgs/LANG/VERSION/) holds:
  test.EXT           a program printing OK; sent as clients send code: one file with no name
                     (the engine calls it file0.code). EXT picks the language of a multi-language
                     package (its name or an alias in `provides`).
  tests/tests.json   more cases: a JSON array of
                       {"name": "stdin",                 what the case shows
                        "language": "c++",               optional; else from the first file's extension
                        "files": [{"src": "stdin.c",     a file in tests/
                                   "name": "main.c"}],   optional: without it the file is sent unnamed
                        "stdin": "...", "args": ["a b", "3"],   optional
                        "stdout": "...",                 expected (trailing whitespace ignored)
                        "stderr": ""}                    expected run stderr, default "" (no noise)
Unnamed files are named file<i>.code, as the engine names them.
"""
import json
import os


def language_for(meta, ext):
    """The language a file with extension EXT asks for in the package described by META."""
    provides = meta.get("provides") or []
    for p in provides:
        if ext == p["language"] or ext in p.get("aliases", []):
            return p["language"]
    return provides[0]["language"] if provides else meta["language"]


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def cases(pkgdir):
    """Every case of the package at PKGDIR: dicts with label, language, files [{name|None, content}],
    stdin, args, stdout, stderr. Raises ValueError for a malformed tests.json."""
    meta = json.loads(_read(os.path.join(pkgdir, "metadata.json")))
    out = []
    for f in sorted(os.listdir(pkgdir)):
        path = os.path.join(pkgdir, f)
        if f.startswith("test.") and os.path.isfile(path):
            out.append({"label": f + " sent with no name", "language": language_for(meta, f.rsplit(".", 1)[1]),
                        "files": [{"name": None, "content": _read(path)}],
                        "stdin": "", "args": [], "stdout": "OK", "stderr": ""})
    manifest = os.path.join(pkgdir, "tests", "tests.json")
    if os.path.exists(manifest):
        try:
            spec = json.loads(_read(manifest))
        except json.JSONDecodeError as e:
            raise ValueError("%s: %s" % (manifest, e))
        if not isinstance(spec, list):
            raise ValueError("%s: not a JSON array" % manifest)
        for i, c in enumerate(spec):
            files = c.get("files") if isinstance(c, dict) else None
            if not files or not isinstance(c.get("stdout"), str):
                raise ValueError("%s: case %d needs files and stdout" % (manifest, i))
            for fl in files:
                src = fl.get("src", "")
                if not src or src.startswith("/") or ".." in src.split("/"):
                    raise ValueError("%s: case %d: bad src %r" % (manifest, i, src))
            args = c.get("args", [])
            if not all(isinstance(a, str) for a in args):
                raise ValueError("%s: case %d: args must be strings" % (manifest, i))
            ext = files[0]["src"].rsplit(".", 1)[-1]
            out.append({"label": c.get("name", "case %d" % i),
                        "language": c.get("language") or language_for(meta, ext),
                        "files": [{"name": fl.get("name"), "content": _read(os.path.join(pkgdir, "tests", fl["src"]))}
                                  for fl in files],
                        "stdin": c.get("stdin", ""), "args": args,
                        "stdout": c["stdout"], "stderr": c.get("stderr", "")})
    return meta, out


def box_names(files):
    """The names the files get in /box: as given, else file<i>.code."""
    return [f["name"] or "file%d.code" % i for i, f in enumerate(files)]


def judge(case, stdout, stderr):
    """None when the output is what CASE expects, else a short reason."""
    if stdout.rstrip() != case["stdout"].rstrip():
        return "stdout %r, expected %r" % (stdout[:200], case["stdout"][:200])
    if stderr.rstrip() != case["stderr"].rstrip():
        return "stderr %r, expected %r" % (stderr[:300], case["stderr"][:200])
    return None
