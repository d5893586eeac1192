#!/usr/bin/env bash
# docker-smoke.sh: build the Dockerfile for real and prove the image runs code. A manual tool, not
# part of `make test` (it installs packages with apt and takes a few minutes).
#
#   tools/docker-smoke.sh           (as root, on Debian 12; needs only Debian's package archive)
#
# 1. installs docker.io, debootstrap, curl and python3 when missing; starts dockerd when none answers
#    (stopped again at the end);
# 2. imports a debootstrapped minimal bookworm as debian:12 when that image is missing (no Docker Hub:
#    the root file system comes from the apt mirror);
# 3. builds piston:smoke (no packages) and piston:smoke-pkgs (PACKAGES="bash python" installed at
#    build time from build/repo, served over http on 127.0.0.1; tools/mkrepo builds it when missing);
#    checks the image size and that the image holds only /usr/bin/piston and /piston;
# 4. runs piston:smoke-pkgs, and piston:smoke with a data directory mounted at /piston (filled by
#    `ppman install` run in the image itself), and checks GET /api/v2/runtimes, a bash and a python
#    execute, a memory bomb (EL), no "cannot enforce" warning, and `docker stop` (SIGTERM, exit 0).
# Prints PASS/FAIL per check and a last line "N passed, N failed" (exit status 1 on a failure).
# Its containers, the http server and a dockerd it started are removed on exit; images stay.
#
# Environment:
#   SMOKE_PRIV    auto (default): --privileged when the capability bounding set is full, else caps;
#                 privileged; caps: the narrow set of README "Running in a container"
#   SMOKE_PORT    engine port on 127.0.0.1 (default 23910; the repository server uses SMOKE_PORT+1)
#   SMOKE_LOGS    directory for the dockerd, build and container logs (default /tmp/docker-smoke)
#   DEBIAN_MIRROR mirror for debootstrap (default: the first bookworm mirror in /etc/apt/sources.list*)
#   DOCKERD_ARGS  extra dockerd flags when this script starts it (split on blanks)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$PWD
port=${SMOKE_PORT:-23910}
rport=$((port + 1))
logs=${SMOKE_LOGS:-/tmp/docker-smoke}
priv=${SMOKE_PRIV:-auto}
pass=0 fail=0
dockerd_pid="" http_pid="" containers=()
mkdir -p "$logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/docker-smoke.XXXXXX")

say() { printf '%s\n' "docker-smoke: $*"; }
check() { # name ok(0/1) [detail]
	if [ "$2" = 0 ]; then
		pass=$((pass + 1)); printf 'PASS  %s\n' "$1"
	else
		fail=$((fail + 1)); printf 'FAIL  %s%s\n' "$1" "${3:+ -- $3}"
	fi
}
finish() {
	local c
	for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1; done
	if [ -n "$http_pid" ]; then kill "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null; fi
	if [ -n "$dockerd_pid" ]; then
		kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
summary() { echo "$pass passed, $fail failed"; [ "$fail" = 0 ]; }
trap finish EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "docker-smoke: run as root"; exit 2; }
case "$priv" in auto|privileged|caps) ;; *) echo "docker-smoke: SMOKE_PRIV must be auto, privileged or caps"; exit 2 ;; esac

# 1. tools and dockerd
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
	say "apt-get install ${need[*]}"
	apt-get update -q >"$logs/apt.log" 2>&1 &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >>"$logs/apt.log" 2>&1
	check "apt-get install ${need[*]}" $? "see $logs/apt.log"
fi
if ! docker info >/dev/null 2>&1; then
	read -r -a dargs <<< "${DOCKERD_ARGS:-}"
	say "starting dockerd${dargs[*]:+ ${dargs[*]}} (log $logs/dockerd.log)"
	dockerd "${dargs[@]}" >"$logs/dockerd.log" 2>&1 &
	dockerd_pid=$!
	for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
fi
docker info >/dev/null 2>&1
check "dockerd answers" $? "see $logs/dockerd.log"
[ "$fail" = 0 ] || { summary; exit 1; }

# 2. debian:12 without Docker Hub
detect_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		sed -n -e 's|^deb \(\[[^]]*\] \)\{0,1\}\(https\{0,1\}://[^ ]*\) bookworm .*|\2|p' \
			-e 's|^URIs: *\(https\{0,1\}://[^ ]*/debian\)/\{0,1\} *$|\1|p' "$f"
	done | head -n 1
}
if ! docker image inspect debian:12 >/dev/null 2>&1; then
	mirror=${DEBIAN_MIRROR:-$(detect_mirror)}
	mirror=${mirror:-http://deb.debian.org/debian}
	say "debootstrap bookworm from $mirror, imported as debian:12 (log $logs/debootstrap.log)"
	if debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$logs/debootstrap.log" 2>&1; then
		rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
		tar --numeric-owner -C "$work/rootfs" -c . | docker import --change 'CMD ["bash"]' - debian:12 >/dev/null
	fi
	rm -rf "$work/rootfs"
fi
docker image inspect debian:12 >/dev/null 2>&1
check "debian:12 image present" $? "see $logs/debootstrap.log"
[ "$fail" = 0 ] || { summary; exit 1; }

# 3. builds
say "docker build -t piston:smoke . (log $logs/build.log)"
docker build --network host -t piston:smoke . >"$logs/build.log" 2>&1
check "docker build (no packages)" $? "see $logs/build.log"
docker image inspect piston:smoke >/dev/null 2>&1 || { summary; exit 1; }

repo=$root/build/repo
have_repo() {
	local l f
	for l in bash python; do
		f=$(sed -n "s/^$l,[^,]*,[^,]*,\(.*\)$/\1/p" "$repo/index" 2>/dev/null | head -n 1)
		[ -n "$f" ] && [ -f "$repo/$f" ] || return 1
	done
}
if ! have_repo; then
	say "tools/mkrepo -o build/repo bash python (log $logs/mkrepo.log)"
	tools/mkrepo -o "$repo" bash python >"$logs/mkrepo.log" 2>&1
fi
have_repo
check "package repository build/repo holds bash and python" $? "see $logs/mkrepo.log"
python3 -m http.server --bind 127.0.0.1 --directory "$repo" "$rport" >"$logs/http.log" 2>&1 &
http_pid=$!
for _ in $(seq 40); do curl -sf "http://127.0.0.1:$rport/index" >/dev/null && break; sleep 0.25; done
curl -sf "http://127.0.0.1:$rport/index" >/dev/null
check "repository served on http://127.0.0.1:$rport/index" $? "see $logs/http.log"

say "docker build -t piston:smoke-pkgs --build-arg PACKAGES=\"bash python\" . (log $logs/build-pkgs.log)"
docker build --network host -t piston:smoke-pkgs --build-arg PACKAGES="bash python" \
	--build-arg PISTON_REPO_URL="http://127.0.0.1:$rport/index" . >"$logs/build-pkgs.log" 2>&1
check "docker build (PACKAGES=\"bash python\")" $? "see $logs/build-pkgs.log"

size=$(docker image inspect -f '{{.Size}}' piston:smoke 2>/dev/null || echo 0)
say "image sizes: piston:smoke $size bytes, piston:smoke-pkgs $(docker image inspect -f '{{.Size}}' piston:smoke-pkgs 2>/dev/null) bytes"
[ "$size" -gt 0 ] && [ "$size" -lt 5000000 ]
check "piston:smoke is under 5 MB ($size bytes)" $?

image_files() { # image: every path in its layers, one a line
	local d=$work/save l
	rm -rf "$d"; mkdir -p "$d"
	docker save "$1" | tar -x -C "$d" || return 1
	sed -n 's/.*"Layers":\[\([^]]*\)\].*/\1/p' "$d/manifest.json" | tr ',' '\n' | tr -d '"' |
		while read -r l; do tar -t -f "$d/$l"; done
	rm -rf "$d"
}
files=$(image_files piston:smoke)
others=$(printf '%s\n' "$files" | sed 's,^\./,,' | grep -Ev '^(usr/|usr/bin/|usr/bin/piston|piston/.*)$')
printf '%s\n' "$files" | grep -Eq '^(\./)?usr/bin/piston$' && [ -z "$others" ]
ok=$?
check "piston:smoke holds only /usr/bin/piston and /piston" $ok "$(printf '%s' "$others" | head -n 5 | tr '\n' ' ')"

# 4. runs
bnd=$((16#$(awk '/^CapBnd/ {print $2}' /proc/self/status)))
last=$(cat /proc/sys/kernel/cap_last_cap)
if [ "$priv" = auto ]; then
	if [ $((bnd & ((1 << (last + 1)) - 1))) = $(((1 << (last + 1)) - 1)) ]; then priv=privileged; else
		priv=caps
		say "the capability bounding set ($(awk '/^CapBnd/ {print $2}' /proc/self/status)) is not full: runc refuses --privileged; using the narrow capability set"
	fi
fi
if [ "$priv" = privileged ]; then
	runopts=(--privileged)
else
	runopts=(--cap-drop ALL)
	for c in SYS_ADMIN SYS_CHROOT SETUID SETGID MKNOD NET_ADMIN CHOWN FOWNER DAC_OVERRIDE KILL; do
		runopts+=(--cap-add "$c")
	done
	runopts+=(--security-opt seccomp=unconfined --security-opt apparmor=unconfined)
	# cgroup v1 (tried): the host hierarchy, writable. cgroup v2 (not tried): the same with the
	# host's cgroup namespace, so the engine's /proc/self/cgroup path exists under the mount.
	[ -f /sys/fs/cgroup/cgroup.controllers ] && runopts+=(--cgroupns host)
	runopts+=(-v /sys/fs/cgroup:/sys/fs/cgroup:rw)
fi
say "container privileges: ${runopts[*]}"

api() { curl -s --max-time 60 "$@"; }
execute() { api -X POST -H 'content-type: application/json' -d "$1" "http://127.0.0.1:$port/api/v2/execute"; }

run_checks() { # label image [docker run options...]
	local label=$1 image=$2 name=piston-smoke-$1 r t0 t1 ms code ok
	shift 2
	docker rm -f "$name" >/dev/null 2>&1
	containers+=("$name")
	if ! docker run -d --name "$name" "${runopts[@]}" --network host \
		-e PISTON_BIND_ADDRESS="127.0.0.1:$port" "$@" "$image" >/dev/null 2>"$logs/$name.run.log"; then
		check "$label: docker run $image" 1 "$(head -n 1 "$logs/$name.run.log" | head -c 300)"
		return
	fi
	for _ in $(seq 80); do api -f "http://127.0.0.1:$port/api/v2/runtimes" >/dev/null && break; sleep 0.25; done
	r=$(api "http://127.0.0.1:$port/api/v2/runtimes")
	[[ "$r" == *'"language":"bash"'* && "$r" == *'"language":"python"'* ]]
	check "$label: GET /api/v2/runtimes lists bash and python" $? "$r"
	r=$(execute '{"language":"bash","version":"*","files":[{"content":"echo hi"}]}')
	[[ "$r" == *'"stdout":"hi\n"'* && "$r" == *'"code":0'* ]]
	check "$label: bash echo hi" $? "$r"
	r=$(execute '{"language":"python","version":"*","files":[{"content":"print(42)"}]}')
	[[ "$r" == *'"stdout":"42\n"'* && "$r" == *'"code":0'* ]]
	check "$label: python print(42)" $? "$r"
	r=$(execute '{"language":"python","version":"*","files":[{"content":"a = []\nwhile True: a.append(bytearray(10**6))"}],"run_memory_limit":50000000}')
	[[ "$r" == *'"status":"EL"'* ]]
	check "$label: memory bomb is EL" $? "$r"
	docker logs "$name" >"$logs/$name.log" 2>&1
	! grep -q 'cannot enforce' "$logs/$name.log"
	ok=$?
	check "$label: every limit enforced (no 'cannot enforce' in the log)" $ok "$(grep 'WARN' "$logs/$name.log" | head -n 3)"
	t0=$(date +%s%N)
	docker stop -t 10 "$name" >/dev/null
	t1=$(date +%s%N)
	code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
	docker logs "$name" >"$logs/$name.log" 2>&1
	ms=$(((t1 - t0) / 1000000))
	[ "$code" = 0 ] && [ "$ms" -lt 10000 ]
	check "$label: docker stop exits 0 ($ms ms)" $? "exit code $code"
	docker rm -f "$name" >/dev/null 2>&1
}

if docker image inspect piston:smoke-pkgs >/dev/null 2>&1; then
	run_checks baked piston:smoke-pkgs
fi
mkdir -p "$work/data"
docker run --rm --network host -v "$work/data:/piston" piston:smoke \
	ppman --data /piston --repo "http://127.0.0.1:$rport/index" install bash python >"$logs/ppman.log" 2>&1
check "ppman in piston:smoke installs bash python into a mounted data directory" $? "see $logs/ppman.log"
run_checks mounted piston:smoke -v "$work/data:/piston"

summary
