#!/usr/bin/env bash
# Cross-checks src/archive/inflate.c against the gzip tool: varied data compressed
# with gzip -1..-9 is decoded by tools/gunzip-check (built here from the
# project's object) and compared byte for byte; concatenated members, fed in
# 1-byte and odd-sized pieces; corrupted CRCs, truncations, flipped bits and
# trailing garbage must fail cleanly (exit 1, never a crash or a hang).
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }

tmp=$(mktemp -d /tmp/piston-test-gzip.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if ! make -s build/obj/inflate.o >/dev/null 2>&1 ||
	! musl-gcc -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Werror -Isrc/archive -static \
		-o "$tmp/gunzip-check" tools/gunzip-check.c build/obj/inflate.o; then
	echo "FAIL cannot build tools/gunzip-check"
	echo "0 passed, 1 failed"
	exit 1
fi
gc="timeout 60 $tmp/gunzip-check"

# ---- the data ----
d=$tmp/data
mkdir "$d"
: > "$d/empty"
printf 'x' > "$d/one"
head -c 300000 /dev/zero > "$d/zeros"
head -c 200000 /dev/urandom > "$d/random"
awk 'BEGIN { srand(7); for (i = 0; i < 60000; i++) { printf "%s%s", (rand() < 0.1 ? "\n" : " "), \
	substr("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor", int(rand() * 60) + 1, int(rand() * 9) + 2) } }' > "$d/text"
head -c 30000 /dev/urandom > "$tmp/block"
for i in 1 2 3 4 5 6 7 8 9 10; do cat "$tmp/block"; done > "$d/repeats"   # matches ~30000 back, near the window's edge
{ head -c 400000 "$(command -v bash)"; cat "$d/text"; head -c 50000 /dev/urandom; head -c 100000 /dev/zero; cat "$d/text"; } > "$d/mix"
{ for i in $(seq 8); do cat "$d/mix"; done; } > "$d/large"                # ~7 MB: many window slides

# ---- round trips ----
for f in "$d"/*; do
	name=$(basename "$f")
	for level in 1 2 3 4 5 6 7 8 9; do
		case "$name" in large) [ "$level" = 1 ] || [ "$level" = 6 ] || [ "$level" = 9 ] || continue ;; esac
		gzip -"$level" -c "$f" > "$tmp/z.gz"
		if $gc < "$tmp/z.gz" > "$tmp/out" 2> "$tmp/err" && cmp -s "$tmp/out" "$f"; then
			ok "$name gzip -$level"
		else
			bad "$name gzip -$level: $(cat "$tmp/err")"
		fi
	done
done
# odd chunk sizes (every state must resume correctly)
for name in text repeats mix random; do
	gzip -6 -c "$d/$name" > "$tmp/z.gz"
	for chunk in 1 3 511 4097; do
		[ "$chunk" = 1 ] && [ "$name" = mix ] && continue
		if $gc -c "$chunk" < "$tmp/z.gz" | cmp -s - "$d/$name"; then ok "$name chunk $chunk"; else bad "$name chunk $chunk"; fi
	done
done
# incompressible data is stored; names and concatenated members
gzip -9 -c "$d/random" > "$tmp/a.gz"
gzip -1 -c "$d/text" > "$tmp/b.gz"
gzip -c < "$d/empty" > "$tmp/e.gz"
cat "$tmp/a.gz" "$tmp/e.gz" "$tmp/b.gz" > "$tmp/multi.gz"
cat "$d/random" "$d/text" > "$tmp/multi.want"
if $gc -c 777 < "$tmp/multi.gz" | cmp -s - "$tmp/multi.want"; then ok "three members"; else bad "three members"; fi
cp "$d/text" "$tmp/named.txt" && gzip -f "$tmp/named.txt"
if $gc < "$tmp/named.txt.gz" | cmp -s - "$d/text"; then ok "FNAME header"; else bad "FNAME header"; fi

# ---- failures: exit status 1 and a message, never a signal or a hang ----
expect_fail() {  # description, file, message substring
	$gc < "$2" > /dev/null 2> "$tmp/err"
	rc=$?
	if [ "$rc" = 1 ] && grep -q -- "$3" "$tmp/err"; then ok "$1"; else bad "$1: exit $rc, $(cat "$tmp/err")"; fi
}
gzip -6 -c "$d/mix" > "$tmp/m.gz"
size=$(stat -c %s "$tmp/m.gz")
cp "$tmp/m.gz" "$tmp/crc.gz"
printf '\x00\x00\x00\x00' | dd of="$tmp/crc.gz" bs=1 seek=$((size - 8)) conv=notrunc status=none
expect_fail "corrupted CRC" "$tmp/crc.gz" "CRC32"
cp "$tmp/m.gz" "$tmp/isize.gz"
printf '\x01' | dd of="$tmp/isize.gz" bs=1 seek=$((size - 1)) conv=notrunc status=none
expect_fail "corrupted ISIZE" "$tmp/isize.gz" "ISIZE"
for cut in 1 5 10 11 100 5000 $((size / 2)) $((size - 9)) $((size - 4)) $((size - 1)); do
	head -c "$cut" "$tmp/m.gz" > "$tmp/t.gz"
	expect_fail "truncated at $cut" "$tmp/t.gz" "truncated"
done
{ cat "$tmp/m.gz"; printf 'garbage'; } > "$tmp/g.gz"
expect_fail "trailing garbage" "$tmp/g.gz" "trailing garbage"
{ cat "$tmp/m.gz"; head -c 512 /dev/zero; } > "$tmp/g.gz"
expect_fail "trailing zeros" "$tmp/g.gz" "trailing garbage"
expect_fail "not gzip" "$d/text" "not gzip"
expect_fail "empty input" "$d/empty" "empty input"
$gc -m 100000 < "$tmp/m.gz" > /dev/null 2> "$tmp/err"
if [ $? = 1 ] && grep -q "size limit" "$tmp/err"; then ok "output cap"; else bad "output cap"; fi
if $gc -m "$(stat -c %s "$d/mix")" < "$tmp/m.gz" | cmp -s - "$d/mix"; then ok "output cap exactly met"; else bad "output cap exactly met"; fi
head -c 100000000 /dev/zero | gzip -9 > "$tmp/bomb.gz"
$gc -m 1000000 < "$tmp/bomb.gz" > /dev/null 2> "$tmp/err"
if [ $? = 1 ] && grep -q "size limit" "$tmp/err"; then ok "gzip bomb ($(stat -c %s "$tmp/bomb.gz") bytes -> 100 MB) stopped"; else bad "gzip bomb"; fi

# flipped bits: any result but a crash, a hang, or wrong data accepted
crashes=0 wrong=0 rejected=0
python3 - "$tmp/m.gz" "$tmp" <<'PY'
import random, sys
data = open(sys.argv[1], 'rb').read()
rng = random.Random(5)
for i in range(40):
    b = bytearray(data)
    for _ in range(3):
        pos = rng.randrange(10, len(b) - 8)
        b[pos] ^= 1 << rng.randrange(8)
    open('%s/f%d.gz' % (sys.argv[2], i), 'wb').write(b)
PY
for i in $(seq 0 39); do
	$gc < "$tmp/f$i.gz" > "$tmp/out" 2>/dev/null
	rc=$?
	if [ "$rc" = 0 ]; then cmp -s "$tmp/out" "$d/mix" || wrong=$((wrong + 1));
	elif [ "$rc" = 1 ]; then rejected=$((rejected + 1));
	else crashes=$((crashes + 1)); fi
done
if [ "$crashes" = 0 ] && [ "$wrong" = 0 ]; then ok "40 streams with 3 flipped bits: $rejected rejected, none crashed or hung"
else bad "flipped bits: $crashes crashes/hangs, $wrong wrong outputs accepted"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
