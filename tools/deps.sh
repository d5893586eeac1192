#!/bin/sh
# Install what building and testing piston needs (Debian 12). Idempotent and
# quiet when everything is already there.
set -eu
# libclang-rt-14-dev: libFuzzer and the sanitizer runtimes (make fuzz, make test-asan)
# qemu-system-x86: the kernel matrix (make test-kernels)
# dnsmasq: the DNS server the proxy's dns:// upstream test resolves against
# redis-server: the proxy's shared rate limits (test/integration/test_redis.py)
# (both: tools/cluster-sim.sh, make test-cluster)
pkgs="make gcc musl-tools libbearssl-dev linux-libc-dev clang file bc python3
busybox-static openssl wrk nginx-light curl ca-certificates iproute2
libclang-rt-14-dev qemu-system-x86 dnsmasq redis-server"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
