#!/bin/sh
# Build a header directory for musl-gcc that exposes only what piston may use
# from the host: BearSSL's headers (libbearssl-dev) and the kernel's uapi
# headers (linux-libc-dev) for seccomp, clone3, openat2 and friends.
# glibc's /usr/include must stay invisible to the musl build.
set -eu
out=$1
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
for h in /usr/include/bearssl.h /usr/include/bearssl; do
	ln -s "$h" "$out.tmp/"
done
ln -s /usr/include/linux "$out.tmp/linux"
ln -s /usr/include/asm-generic "$out.tmp/asm-generic"
ln -s "/usr/include/$multiarch/asm" "$out.tmp/asm"
rm -rf "$out" && mv "$out.tmp" "$out"
