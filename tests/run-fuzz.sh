#!/bin/bash
# Replays each fuzz target's corpus (tests/fuzz/corpus/NAME/) under ASan+UBSan.
O=${O:-build}
n=0; status=0
for t in "$O"/fuzz/fuzz-*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	n=$((n + 1))
	if out=$(ASAN_OPTIONS=detect_leaks=1 "$t" "tests/fuzz/corpus/${name#fuzz-}" 2>&1); then
		echo "ok $n - $name corpus replay (${out##*replayed })"
	else
		printf '%s\n' "$out" | tail -30 | sed 's/^/# /'
		echo "not ok $n - $name corpus replay"; status=1
	fi
done
echo "1..$n"
exit $status
