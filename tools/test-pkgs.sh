#!/usr/bin/env bash
# test-pkgs.sh: run every installed package's test program through the engine's API and print a table.
#
#   tools/test-pkgs.sh [-u URL] [-d DATA_DIR] [LANG...]
#
# For each DATA_DIR/packages/LANG/VERSION/ holding .ppman-installed (DATA_DIR defaults to
# $PISTON_DATA_DIRECTORY, else ./data) and each test.* file in it, POSTs /api/v2/execute (URL default
# http://127.0.0.1:2000) with that file and expects run.stdout to be "OK". A multi-language package
# (provides) tests each language whose name or alias is the file's extension. Prints one row per test:
# language, version, OK/FAIL, wall ms (request round trip), then "N passed, N failed". Exit status 1
# when a test failed or nothing was installed.
set -euo pipefail
url=http://127.0.0.1:2000 data=${PISTON_DATA_DIRECTORY:-./data}
while [ $# -gt 0 ]; do
	case "$1" in
		-u) url=$2; shift 2 ;;
		-d) data=$2; shift 2 ;;
		-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
		-*) echo "test-pkgs: unknown option $1" >&2; exit 2 ;;
		*) break ;;
	esac
done
exec python3 - "$url" "$data" "$@" <<'EOF'
import json, os, sys, time, urllib.request, urllib.error

url, data, only = sys.argv[1].rstrip("/"), sys.argv[2], set(sys.argv[3:])
root = os.path.join(data, "packages")
rows, failed = [], 0

def lang_for(meta, ext):
    provides = meta.get("provides") or []
    for p in provides:
        if ext == p["language"] or ext in p.get("aliases", []):
            return p["language"]
    return provides[0]["language"] if provides else meta["language"]

def execute(lang, version, name, content):
    body = json.dumps({"language": lang, "version": version,
                       "files": [{"name": name, "content": content}]}).encode()
    req = urllib.request.Request(url + "/api/v2/execute", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return {"error": "HTTP %d %s" % (e.code, e.read()[:200].decode(errors="replace"))}
    except Exception as e:  # unreachable engine, timeout, bad JSON
        return {"error": str(e)}

for lang_dir in sorted(os.listdir(root) if os.path.isdir(root) else []):
    if lang_dir.startswith(".") or not os.path.isdir(os.path.join(root, lang_dir)):
        continue  # ppman's locks, staging and trash entries
    for ver in sorted(os.listdir(os.path.join(root, lang_dir))):
        pdir = os.path.join(root, lang_dir, ver)
        if not os.path.exists(os.path.join(pdir, ".ppman-installed")):
            continue
        meta = json.load(open(os.path.join(pdir, "metadata.json")))
        for f in sorted(os.listdir(pdir)):
            if not f.startswith("test."):
                continue
            lang = lang_for(meta, f.rsplit(".", 1)[1])
            if only and lang not in only and lang_dir not in only:
                continue
            content = open(os.path.join(pdir, f), encoding="utf-8").read()
            start = time.monotonic()
            res = execute(lang, meta["version"], f, content)
            ms = (time.monotonic() - start) * 1000
            run = res.get("run") or {}
            ok = "error" not in res and run.get("stdout", "").strip() == "OK"
            detail = ""
            if not ok:
                failed += 1
                detail = res.get("error") or ("status=%s stdout=%r stderr=%r" % (
                    run.get("status"), run.get("stdout", "")[:80], (run.get("stderr") or
                    (res.get("compile") or {}).get("stderr", ""))[:300]))
            rows.append((lang, meta["version"], "OK" if ok else "FAIL", "%.0f" % ms, detail))

print("%-12s %-10s %-5s %8s" % ("language", "version", "test", "wall ms"))
for r in rows:
    print("%-12s %-10s %-5s %8s  %s" % r)
print("%d passed, %d failed" % (len(rows) - failed, failed))
sys.exit(1 if failed or not rows else 0)
EOF
