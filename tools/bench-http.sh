#!/usr/bin/env bash
# bench-http: GET /api/v2/runtimes from `piston serve` against nginx serving
# the same bytes as a static file, both single-process (nginx: one worker),
# with the same wrk load. Prints both req/s, the ratio and piston's peak RSS.
#   tools/bench-http.sh [DURATION_SECONDS]     (default 10)
# Needs wrk and nginx (Debian: wrk, nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
THREADS=2 CONNS=64

for tool in wrk nginx; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "bench-http: $tool is not installed" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
make -s piston

work=$(mktemp -d /tmp/piston-bench.XXXXXX)
piston_pid= nginx_pid=
cleanup() {
	[ -n "$piston_pid" ] && kill "$piston_pid" 2>/dev/null && wait "$piston_pid" 2>/dev/null
	[ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A few fake installed packages: enough for the runtimes list.
mkpkg() {
	local d="$work/data/packages/$1/$2"
	mkdir -p "$d"
	printf '%s\n' "$3" >"$d/metadata.json"
	touch "$d/.ppman-installed"
}
mkpkg python 3.12.0 '{"language":"python","version":"3.12.0","aliases":["py","py3","python3"]}'
mkpkg python 3.10.0 '{"language":"python","version":"3.10.0","aliases":["py","py3","python3"]}'
mkpkg node 20.11.1 '{"language":"node","version":"20.11.1","aliases":["javascript","js","node-javascript"]}'
mkpkg gcc 10.2.0 '{"language":"gcc","version":"10.2.0","aliases":[],"provides":[{"language":"c","aliases":["gcc"]},{"language":"c++","aliases":["cpp","g++"]}]}'
mkpkg bash 5.2.0 '{"language":"bash","version":"5.2.0","aliases":["sh"]}'
mkpkg rust 1.68.2 '{"language":"rust","version":"1.68.2","aliases":["rs"]}'

pport=$(free_port)
PISTON_DATA_DIRECTORY="$work/data" PISTON_LOG_LEVEL=WARN \
	./piston serve --bind-address "127.0.0.1:$pport" 2>"$work/piston.log" &
piston_pid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$pport/api/v2/runtimes" -o "$work/runtimes.json" 2>/dev/null && break
	sleep 0.05
done
[ -s "$work/runtimes.json" ] || { echo "bench-http: piston did not start" >&2; cat "$work/piston.log" >&2; exit 1; }

nport=$(free_port)
mkdir -p "$work/nginx/html/api/v2" "$work/nginx/logs"
cp "$work/runtimes.json" "$work/nginx/html/api/v2/runtimes"
cat >"$work/nginx/nginx.conf" <<EOF
user root;
daemon off;
master_process off;
worker_processes 1;
error_log $work/nginx/logs/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path $work/nginx/tmp_body;
	proxy_temp_path $work/nginx/tmp_proxy;
	fastcgi_temp_path $work/nginx/tmp_fcgi;
	uwsgi_temp_path $work/nginx/tmp_uwsgi;
	scgi_temp_path $work/nginx/tmp_scgi;
	server {
		listen 127.0.0.1:$nport;
		root $work/nginx/html;
		default_type application/json;
		etag off;
	}
}
EOF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$nport/api/v2/runtimes" -o /dev/null 2>/dev/null && break
	sleep 0.05
done
cmp -s <(curl -s "http://127.0.0.1:$nport/api/v2/runtimes") "$work/runtimes.json" ||
	{ echo "bench-http: nginx does not serve the same bytes" >&2; exit 1; }

run_wrk() {  # URL -> req/s
	wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$1" >"$work/wrk.out" 2>&1
	grep -E 'Non-2xx|Socket errors' "$work/wrk.out" >&2 || true
	awk '/^Requests\/sec:/ {print $2}' "$work/wrk.out"
}

echo "body: $(wc -c <"$work/runtimes.json") bytes; wrk -t$THREADS -c$CONNS -d${DURATION}s; both servers single-process"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime
t0=$(cpu_ticks "$piston_pid")
p_rps=$(run_wrk "http://127.0.0.1:$pport/api/v2/runtimes")
p_lat=$(awk '/^ +99%/ {print $2}' "$work/wrk.out")
p_reqs=$(awk '/requests in/ {print $1}' "$work/wrk.out")
p_cpu_us=$(echo "($(cpu_ticks "$piston_pid") - $t0) * 1000000 / $(getconf CLK_TCK) / $p_reqs" | bc -l)
n_rps=$(run_wrk "http://127.0.0.1:$nport/api/v2/runtimes")
n_lat=$(awk '/^ +99%/ {print $2}' "$work/wrk.out")
rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$piston_pid/status")
nginx_rss_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$nginx_pid/status")

printf 'piston: %10.0f req/s  (p99 %s; %.1f us CPU per request, user+kernel)\n' "$p_rps" "$p_lat" "$p_cpu_us"
printf 'nginx:  %10.0f req/s  (p99 %s)\n' "$n_rps" "$n_lat"
printf 'ratio piston/nginx: %.2f (goal >= 1.0)\n' "$(echo "$p_rps / $n_rps" | bc -l)"
printf 'piston peak RSS: %d KiB (%.2f MiB; goal < 8 MiB); nginx worker peak RSS: %d KiB\n' \
	"$rss_kb" "$(echo "$rss_kb / 1024" | bc -l)" "$nginx_rss_kb"
