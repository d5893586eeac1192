#!/bin/sh
# Build the guest's initramfs for one fetched kernel: busybox-static, the
# modules that mount the host's shares (virtio, 9p, overlay; with their
# dependencies, decompressed: busybox insmod reads plain .ko only) and
# test/kernels/guest-init as /init.
#   tools/kernels/initramfs.sh KERNEL_DIR OUT.cpio.gz
set -eu
kdir=$1 out=$2
here=$(cd "$(dirname "$0")/../.." && pwd)
moddir=$(readlink -f "$kdir/modules")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/busybox" "$stage/modules" "$stage/proc" "$stage/sys" "$stage/dev"
cp /bin/busybox "$stage/busybox/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$stage/busybox/$applet"; done
cp "$here/test/kernels/guest-init" "$stage/init"
chmod 755 "$stage/init"

# The .modinfo "depends=" of one module file (any compression).
module_file() { find "$moddir/kernel" -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" -o -name "$1.ko.gz" | head -n 1; }
plain() {
	case "$1" in
	*.xz) busybox xzcat "$1" ;; *.zst) zstd -dc "$1" ;; *.gz) gzip -dc "$1" ;; *) cat "$1" ;;
	esac
}
n=0
add() {   # add MODULE after its dependencies; built-in or absent ones are skipped
	local name f deps d
	name=$(echo "$1" | tr - _)
	[ -e "$stage/modules/.have-$name" ] && return 0
	: >"$stage/modules/.have-$name"
	f=$(module_file "$name"); [ -n "$f" ] || f=$(module_file "$(echo "$name" | tr _ -)")
	[ -n "$f" ] || return 0
	deps=$(plain "$f" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1 | tr , ' ')
	for d in $deps; do add "$d"; done
	n=$((n + 1))
	plain "$f" >"$stage/modules/$(printf %03d $n)-$name.ko"
}
for m in virtio_pci 9pnet_virtio 9p overlay; do add "$m"; done
rm -f "$stage/modules"/.have-*
(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$out"
