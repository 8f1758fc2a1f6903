#!/bin/bash
# Runs every C unit test binary as one TAP stream per binary (subtests), and
# the ones built with ASan+UBSan (LeakSanitizer included) under $O/san-unit:
# `make check` builds test-spec so (its leak check needs them); `make
# check-asan` builds them all and runs this with --asan (those alone).
#
# A binary's own lines are indented (prove reads only the verdict per
# binary); its skips and failures are repeated unindented as
#   # skipped in test-NAME: REASON
#   # test-NAME: not ok N - ...
# so that `make check`'s filtered output and skip summary show them.
#
# In CI every skip fails (tests/lib/tap.h); KILN_CI_SKIP_OK lists the ones
# CI's machine can never run, "PROGRAM: REASON-PREFIX" a line:
#  * test-datasource mounts an iso9660 NoCloud seed only where the kernel
#    has iso9660: CI's kernel has neither iso9660 nor modules (DESIGN.md,
#    "Testing under QEMU"); the boot tests mount the seed in a guest.
export KILN_CI_SKIP_OK="test-datasource: the kernel cannot mount iso9660 here"
O=${O:-build}
status=0
n=0
if [ "${1:-}" = --asan ]; then
	set -- "$O"/san-unit/test-*
else
	set -- "$O"/tests/unit/test-* "$O"/san-unit/test-spec
fi
for t in "$@"; do
	[ -x "$t" ] || continue
	case $t in */san-unit/*) name="$(basename "$t") (ASan+UBSan)";; *) name=$(basename "$t");; esac
	n=$((n + 1))
	out=$(ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$t" 2>&1); rc=$?
	printf '%s\n' "$out" | sed 's/^/    /'
	printf '%s\n' "$out" | sed -n -e "s/^ok [0-9]* - # SKIP \(.*\)/# skipped in $name: \1/p" \
		-e "s/^\(not ok .*\)/# $name: \1/p"
	if [ $rc -eq 0 ]; then echo "ok $n - $name"; else echo "not ok $n - $name"; status=1; fi
done
echo "1..$n"
exit $status
