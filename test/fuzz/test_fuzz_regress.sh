#!/usr/bin/env bash
# Replays every saved fuzz input -- the crashes found so far
# (test/fuzz/regress/NAME/) and the seed corpora (test/fuzz/corpus/NAME/) --
# through the harnesses built with ASan+UBSan but without libFuzzer
# (build/asan/regress_NAME, test/fuzz/regress_main.c). Each input runs in its
# own process; a crash, sanitizer report or failed assertion is a failure.
set -u
cd "$(dirname "$0")/../.."
if ! command -v clang >/dev/null; then
	echo "0 passed, 0 failed, 1 skipped (clang not installed: make deps)"
	exit 0
fi
if ! make -s fuzz-regress >/tmp/fuzz-regress-build.$$ 2>&1; then
	tail -n 30 /tmp/fuzz-regress-build.$$
	rm -f /tmp/fuzz-regress-build.$$
	echo "0 passed, 1 failed"
	exit 1
fi
rm -f /tmp/fuzz-regress-build.$$
pass=0 fail=0
for src in test/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c); name=${name#fuzz_}
	dirs=()
	for d in test/fuzz/regress/"$name" test/fuzz/corpus/"$name"; do [ -d "$d" ] && dirs+=("$d"); done
	[ ${#dirs[@]} -eq 0 ] && continue
	out=$(ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 build/asan/regress_"$name" "${dirs[@]}" 2>&1)
	printf '%s\n' "$out" | grep -v '^[0-9]* passed' | grep -v '^ok ' | tail -n 40
	last=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$last" ]; then fail=$((fail + 1)); echo "FAIL $name: no summary"; continue; fi
	p=${last%% passed*}; f=${last#*passed, }; f=${f%% failed*}
	pass=$((pass + p)); fail=$((fail + f))
	echo "ok $name: $last"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
