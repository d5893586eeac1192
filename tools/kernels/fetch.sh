#!/bin/sh
# Fetch one Debian kernel (vmlinuz + modules) for the qemu kernel matrix,
# through a private apt configuration: the host's apt set-up (sources, lists,
# preferences, archives) is never read for packages nor changed. The mirror
# is the one the host's own apt sources name.
#   tools/kernels/fetch.sh SUITE      e.g. bookworm, bullseye, bookworm-backports
# Prints the directory holding vmlinuz and modules/ (links); cached under
# $PISTON_KERNEL_CACHE (default /var/cache/piston-kernels), re-used while present.
set -eu
suite=$1
cache=${PISTON_KERNEL_CACHE:-/var/cache/piston-kernels}
top=$cache/$suite
if [ -f "$top/.complete" ]; then echo "$top"; exit 0; fi

mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
	grep -Eo 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n 1 | tr -d ' ')
mirror=${mirror:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

apt=$top/apt
rm -rf "$top"
mkdir -p "$apt/lists/partial" "$apt/parts" "$apt/prefs" "$apt/cache" "$top/debs" "$top/root"
echo "deb [signed-by=$keyring] ${mirror%/} $suite main" >"$apt/sources.list"
set -- -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts="$apt/parts" \
	-o Dir::Etc::PreferencesParts="$apt/prefs" -o Dir::Etc::Preferences="$apt/prefs/none" \
	-o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" -o Dir::State::status=/dev/null \
	-o Acquire::Languages=none -o APT::Get::List-Cleanup=false -o APT::Sandbox::User=root
apt-get "$@" -qq update >&2

# linux-image-amd64 -> linux-image-VERSION-amd64 (or -unsigned); from 7.x on
# that one is split into linux-binary/-modules/-base of the same version.
image=$(apt-cache "$@" depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n 1)
[ -n "$image" ] || { echo "fetch.sh: no linux-image package in $suite" >&2; exit 1; }
parts=$(apt-cache "$@" depends "$image" | sed -n 's/^ *Depends: \(linux-\(binary\|modules\|base\)-[0-9][^ ]*\)$/\1/p')
cd "$top/debs"
apt-get "$@" -qq download "$image" $parts >&2
for deb in *.deb; do dpkg-deb -x "$deb" "$top/root"; done
rm -f ./*.deb
# boot/vmlinuz-V and lib/modules/V up to 6.x; usr/lib/modules/V/vmlinuz from 7.x
moddir=$(ls -d "$top"/root/lib/modules/* "$top"/root/usr/lib/modules/* 2>/dev/null | head -n 1)
kernel=$(ls "$top"/root/boot/vmlinuz-* "$moddir/vmlinuz" 2>/dev/null | head -n 1)
[ -n "$moddir" ] && [ -n "$kernel" ] || { echo "fetch.sh: no kernel or modules in the $suite packages" >&2; exit 1; }
ln -sfn "$kernel" "$top/vmlinuz"
ln -sfn "$moddir" "$top/modules"
touch "$top/.complete"
echo "$top"
