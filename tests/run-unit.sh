#!/bin/bash
# Runs every C unit test binary as one TAP stream per binary (subtests).
O=${O:-build}
status=0
n=0
for t in "$O"/tests/unit/test-*; do
	[ -x "$t" ] || continue
	n=$((n + 1))
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	if [ $rc -eq 0 ]; then echo "ok $n - $(basename "$t")"; else echo "not ok $n - $(basename "$t")"; status=1; fi
done
echo "1..$n"
exit $status
