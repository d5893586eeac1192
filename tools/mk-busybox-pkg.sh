#!/bin/sh
# mk-busybox-pkg.sh DIR: build the tiny test package from Debian's busybox-static
# in DIR (created): usr/bin/busybox and its applet links (sh, cat, echo, ls, true,
# sleep, dd, yes, ...), metadata.json, run (sh FILE ARGS...), environment, and the
# install marker, as an installed package directory (SPEC section 3).
set -eu
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
dir=$1
bb=/bin/busybox
[ -x "$bb" ] || { echo "mk-busybox-pkg: $bb missing (apt-get install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q "statically linked" ||
	{ echo "mk-busybox-pkg: $bb is not static (install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/usr/bin" "$dir/usr/sbin" "$dir/usr/lib"
cp "$bb" "$dir/usr/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] && continue
	[ -e "$dir/usr/bin/$applet" ] || ln -s busybox "$dir/usr/bin/$applet"
done
cat > "$dir/metadata.json" <<'JSON'
{"language":"busybox","version":"1.0.0","aliases":["sh-busybox"]}
JSON
cat > "$dir/run" <<'SH'
#!/bin/sh
exec sh "$@"
SH
chmod 755 "$dir/run"
printf 'PISTON_TEST_PKG=busybox\n' > "$dir/environment"
: > "$dir/.ppman-installed"
