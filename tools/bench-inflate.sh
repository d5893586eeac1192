#!/usr/bin/env bash
# Benchmarks src/archive/inflate.c against the system's gzip on the same ~100 MB
# mixed file compressed with gzip -6: best of 3 runs each, decompressed MB/s
# and the speed ratio to gzip -dc; also to zlib itself when its headers are
# installed (zlib1g-dev; a reference only, piston never links it).
# Times are CPU seconds (user + sys), which stay meaningful on a busy machine.
#   tools/bench-inflate.sh [SIZE_MB]
set -eu
cd "$(dirname "$0")/.."
size_mb=${1:-100}
tmp=$(mktemp -d /tmp/piston-bench-inflate.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
make -s build/obj/inflate.o
musl-gcc -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Werror -Isrc/archive -static \
	-o "$tmp/gunzip-check" tools/gunzip-check.c build/obj/inflate.o

# Half text-like (words, lines, numbers), half binaries and libraries.
awk 'BEGIN { srand(42); split("the of and to in is that for it as with was on be by this are from at or an have not which but all", w, " ");
	for (i = 0; i < 700000; i++) { printf "%s%s", w[int(rand() * 26) + 1], (rand() < 0.08 ? sprintf(" %d\n", int(rand() * 100000)) : " ") } }' > "$tmp/text"
half=$((size_mb * 1024 * 1024 / 2))
{ while :; do cat "$tmp/text"; done | head -c "$half"
  find /usr/lib /usr/bin -type f -size +100k 2>/dev/null | sort | xargs cat 2>/dev/null | head -c "$half"
} > "$tmp/data"
bytes=$(stat -c %s "$tmp/data")
gzip -6 -c "$tmp/data" > "$tmp/data.gz"
echo "input: $((bytes / 1048576)) MiB mixed, gzip -6 -> $(($(stat -c %s "$tmp/data.gz") / 1048576)) MiB"
"$tmp/gunzip-check" < "$tmp/data.gz" | cmp - "$tmp/data" || { echo "MISMATCH"; exit 1; }

best() {  # prints the lowest CPU time (user + sys, seconds) of 3 runs of "$@"
	local b="" t
	for _ in 1 2 3; do
		t=$( { TIMEFORMAT='%3U %3S'; time "$@" > /dev/null 2>&1; } 2>&1 | awk '{ print $1 + $2 }')
		if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
	done
	echo "$b"
}
t_gzip=$(best gzip -dc "$tmp/data.gz")
zlib_ref=""
if [ -f /usr/include/zlib.h ]; then
	cat > "$tmp/zlib-ref.c" <<'C'
#include <zlib.h>
#include <unistd.h>
int main(void)
{
	static unsigned char in[1 << 16], out[1 << 18];
	z_stream s = {0};
	ssize_t n;
	if (inflateInit2(&s, 31) != Z_OK)
		return 2;
	while ((n = read(0, in, sizeof in)) > 0) {
		s.next_in = in;
		s.avail_in = (unsigned)n;
		while (s.avail_in) {
			s.next_out = out;
			s.avail_out = sizeof out;
			int r = inflate(&s, Z_NO_FLUSH);
			if (r == Z_STREAM_END)
				inflateReset(&s);
			else if (r != Z_OK && r != Z_BUF_ERROR)
				return 1;
		}
	}
	return 0;
}
C
	gcc -O2 -o "$tmp/zlib-ref" "$tmp/zlib-ref.c" -lz 2>/dev/null && zlib_ref=$tmp/zlib-ref
fi
[ -n "$zlib_ref" ] && t_zlib=$(best sh -c "\"$zlib_ref\" < \"$tmp/data.gz\"")
t_ours=$(best sh -c "\"$tmp/gunzip-check\" -n < \"$tmp/data.gz\"")
mbs() { echo "scale=1; $bytes / 1048576 / $1" | bc; }
printf 'gzip -dc:        %6.3f s  %7s MiB/s\n' "$t_gzip" "$(mbs "$t_gzip")"
[ -n "$zlib_ref" ] && printf 'zlib %-11s%6.3f s  %7s MiB/s\n' "$(zlib_version=$(ls /usr/lib/*/libz.so.1.* 2>/dev/null | head -1); echo "${zlib_version##*.so.}"):" "$t_zlib" "$(mbs "$t_zlib")"
printf 'piston inflate:  %6.3f s  %7s MiB/s\n' "$t_ours" "$(mbs "$t_ours")"
printf 'speed ratio piston/gzip: %sx\n' "$(echo "scale=2; $t_gzip / $t_ours" | bc)"
[ -n "$zlib_ref" ] && printf 'speed ratio piston/zlib: %sx\n' "$(echo "scale=2; $t_zlib / $t_ours" | bc)"
exit 0
