#!/usr/bin/env bash
# test-pkgs.sh: run every installed package's test program through the engine's API and print a table.
#
#   tools/test-pkgs.sh [-u URL] [-d DATA_DIR] [LANG...]
#
# For each DATA_DIR/packages/LANG/VERSION/ holding .ppman-installed (DATA_DIR defaults to
# $PISTON_DATA_DIRECTORY, else ./data) and each test case it carries (its test.* sent with no name,
# as clients send code, and tests/tests.json: see tools/pkgtests.py), POSTs /api/v2/execute (URL
# default http://127.0.0.1:2000) and checks run.stdout and run.stderr. Prints one row per case:
# language, version, OK/FAIL, wall ms (request round trip), case, then "N passed, N failed". Exit
# status 1 when a case failed or nothing was installed.
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
exec python3 - "$(dirname "$0")" "$url" "$data" "$@" <<'EOF'
import json, os, sys, time, urllib.request, urllib.error
sys.path.insert(0, sys.argv[1])
import pkgtests

url, data, only = sys.argv[2].rstrip("/"), sys.argv[3], set(sys.argv[4:])
root = os.path.join(data, "packages")
rows, failed = [], 0

def execute(lang, version, case):
    files = [{"content": f["content"], **({"name": f["name"]} if f["name"] else {})} for f in case["files"]]
    body = json.dumps({"language": lang, "version": version, "files": files,
                       "stdin": case["stdin"], "args": case["args"]}).encode()
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
        try:
            meta, cases = pkgtests.cases(pdir)
        except (OSError, ValueError) as e:
            failed += 1
            rows.append((lang_dir, ver, "FAIL", "-", "-", str(e)))
            continue
        for case in cases:
            lang = case["language"]
            if only and lang not in only and lang_dir not in only:
                continue
            start = time.monotonic()
            res = execute(lang, meta["version"], case)
            ms = (time.monotonic() - start) * 1000
            run = res.get("run") or {}
            why = res.get("error") or pkgtests.judge(case, run.get("stdout", ""), run.get("stderr", ""))
            detail = ""
            if why:
                failed += 1
                comp = res.get("compile") or {}
                detail = "%s (status=%s %s)" % (why, run.get("status"),
                                                 ("compile stderr=%r" % comp.get("stderr", "")[:300]) if comp.get("code") else "")
            rows.append((lang, meta["version"], "FAIL" if why else "OK", "%.0f" % ms, case["label"], detail))

print("%-12s %-10s %-5s %8s  %s" % ("language", "version", "test", "wall ms", "case"))
for r in rows:
    print("%-12s %-10s %-5s %8s  %s  %s" % r)
print("%d passed, %d failed" % (len(rows) - failed, failed))
sys.exit(1 if failed or not rows else 0)
EOF
