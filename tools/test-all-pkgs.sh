#!/usr/bin/env bash
# test-all-pkgs.sh (`make test-pkgs-all`): build every recipe and run every package's test cases,
# first in an empty root (tools/try-pkg.sh), then through the engine's API (tools/test-pkgs.sh).
#
#   tools/test-all-pkgs.sh [-o REPO] [--table FILE] [LANG...]
#
# REPO defaults to build/repo (incremental: unchanged recipes are not rebuilt). A recipe that fails to
# build is counted as a failure and the rest go on. --table FILE writes the README's language table
# (language, version, aliases, package size, unpacked size, hello-world wall ms through the API).
# Last line: "N passed, N failed". Needs root.
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
repo=build/repo table=""
while [ $# -gt 0 ]; do
	case "$1" in
		-o) repo=$2; shift 2 ;;
		--table) table=$2; shift 2 ;;
		-h|--help) sed -n '2,10p' "$0"; exit 0 ;;
		-*) echo "test-all-pkgs: unknown option $1" >&2; exit 2 ;;
		*) break ;;
	esac
done
PISTON_BIN=${PISTON_BIN:-./piston}
[ -x "$PISTON_BIN" ] || make piston >/dev/null || exit 1
pass=0 fail=0
tmp=$(mktemp -d /tmp/test-all-pkgs.XXXXXX)
server=""
cleanup() {
	[ -z "$server" ] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }
	rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# 1. Build (every recipe, or the named ones); failures are listed by mkrepo and counted here.
tools/mkrepo -o "$repo" "$@" 2>&1 | tee "$tmp/build.log" | grep -E '^mkrepo: (\[|built|.*FAILED)|^  pkgs/'
repo=$(cd "$repo" && pwd)
nfail=$(sed -nE 's/^mkrepo: ([0-9]+) of [0-9]+ recipes FAILED.*/\1/p' "$tmp/build.log")
fail=$((fail + ${nfail:-0}))

# The packages to test: those of the named languages, or all in the index.
pkgs=()
while IFS=, read -r lang ver _ url; do
	[ -n "$lang" ] || continue
	if [ $# -gt 0 ]; then
		want=0
		for a in "$@"; do [ "${a%%/*}" = "$lang" ] && want=1; done
		[ $want -eq 1 ] || continue
	fi
	pkgs+=("$lang,$ver,$url")
done < "$repo/index"

# 2. Every case in an empty root.
for p in "${pkgs[@]}"; do
	IFS=, read -r lang ver url <<< "$p"
	while read -r line; do
		case "$line" in
			PASS*) echo "ok empty root $lang $ver: $line"; pass=$((pass + 1)) ;;
			"") ;;
			*) echo "FAIL empty root $lang $ver: $line"; fail=$((fail + 1)) ;;
		esac
	done < <(tools/try-pkg.sh "$repo/$url" 2>&1)
done

# 3. Every case through the engine's API.
data=$tmp/data; mkdir -p "$data"
for p in "${pkgs[@]}"; do
	IFS=, read -r lang ver url <<< "$p"
	if ! PISTON_REPO_URL=$repo/index "$PISTON_BIN" ppman --data "$data" install "$lang=$ver" > "$tmp/ppman.log" 2>&1; then
		echo "FAIL ppman install $lang=$ver: $(tail -1 "$tmp/ppman.log")"; fail=$((fail + 1))
	fi
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PISTON_DATA_DIRECTORY=$data PISTON_BIND_ADDRESS=127.0.0.1:$port "$PISTON_BIN" serve > "$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
tools/test-pkgs.sh -u "http://127.0.0.1:$port" -d "$data" > "$tmp/api.log" 2>&1
sed '$d' "$tmp/api.log"
read -r ap af < <(tail -1 "$tmp/api.log" | sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p')
if [ -z "${ap:-}" ]; then echo "FAIL test-pkgs.sh gave no summary: $(tail -3 "$tmp/api.log")"; fail=$((fail + 1))
else pass=$((pass + ap)); fail=$((fail + af)); fi

# 4. The language table: sizes from the packages, the hello world (test.*) as the median of 5 runs
# through the API once everything is warm.
if [ -n "$table" ]; then
	python3 - "$repo" "$data" "http://127.0.0.1:$port" > "$table" <<'EOF'
import json, os, sys, time, urllib.request
sys.path.insert(0, "tools")
import pkgtests
repo, data, url = sys.argv[1:4]
def hello_ms(case, version):
    body = json.dumps({"language": case["language"], "version": version,
                       "files": [{"content": case["files"][0]["content"]}]}).encode()
    times = []
    for _ in range(6):
        start = time.monotonic()
        req = urllib.request.Request(url + "/api/v2/execute", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            ok = (json.load(r).get("run") or {}).get("stdout", "").strip() == "OK"
        times.append((time.monotonic() - start) * 1000)
        if not ok:
            return "fails"
    return "%.0f" % sorted(times[1:])[2]
print("| language | version | aliases | package | unpacked | hello world (API, ms) |")
print("|---|---|---|---|---|---|")
for line in open(os.path.join(repo, "index")):
    lang, ver, _, url_ = line.strip().split(",")
    pdir = os.path.join(data, "packages", lang, ver)
    if not os.path.exists(os.path.join(pdir, ".ppman-installed")):
        continue  # its install failed (counted above)
    meta, cases = pkgtests.cases(pdir)
    size = os.path.getsize(os.path.join(repo, url_)) / 2**20
    unpacked = sum(os.lstat(os.path.join(d, n)).st_size for d, _, ns in os.walk(pdir) for n in ns) / 2**20
    langs = [(p["language"], p.get("aliases", [])) for p in meta.get("provides") or []] or [(meta["language"], meta.get("aliases", []))]
    for l, al in langs:
        hello = [c for c in cases if c["language"] == l and c["label"].startswith("test.")]
        print("| %s | %s | %s | %.0f MiB | %.0f MiB | %s |" % (l, ver, ", ".join(al), size, unpacked,
              hello_ms(hello[0], ver) if hello else "-"))
EOF
	echo "table: $table"
fi
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
