#!/bin/bash
# The test library itself: TAP lines, prerequisites, scratch folders kept on
# failure and removed on success, must_fail_with, assert_no_file.
. "$(dirname "$0")/../lib/test-lib.sh"

# run_sub NAME BODY: run a test script with BODY in a fake repository that
# links to the real test-lib; its stdout lands in NAME.out, status in NAME.rc.
# It runs outside CI (CI and KILN_REQUIRE_ALL unset, whatever runs this
# script) unless SUB_CI / SUB_REQUIRE say otherwise.
run_sub() {
	mkdir -p "fake/tests/t" "fake/tests/lib" &&
	ln -sf "$TEST_ROOT/tests/lib/test-lib.sh" fake/tests/lib/test-lib.sh &&
	{
		echo '. "$(dirname "$0")/../lib/test-lib.sh"'
		printf '%s\n' "$2"
	} >"fake/tests/t/$1.sh" &&
	{
		env -u CI -u KILN_REQUIRE_ALL ${SUB_CI:+CI=$SUB_CI} ${SUB_REQUIRE:+KILN_REQUIRE_ALL=$SUB_REQUIRE} \
			KILN= bash "fake/tests/t/$1.sh" >"$1.out" 2>"$1.err"
		echo $? >"$1.rc"
	}
}

test_expect_success 'passing and failing tests print ok / not ok and a plan' '
	run_sub tsub-mixed "
test_expect_success \"one passes\" \"true\"
test_expect_success \"one fails\" \"echo some output; false\"
test_expect_failure \"known bug\" \"false\"
test_done" &&
	grep -qx "ok 1 - one passes" tsub-mixed.out &&
	grep -qx "not ok 2 - one fails" tsub-mixed.out &&
	grep -qx "not ok 3 - known bug # TODO known breakage" tsub-mixed.out &&
	grep -qx "1..3" tsub-mixed.out &&
	grep -q "^#     some output" tsub-mixed.out &&
	[ "$(cat tsub-mixed.rc)" = 1 ]
'

test_expect_success 'scratch folder is kept on failure, removed on success' '
	[ -d fake/tests/out/tsub-mixed ] &&
	run_sub tsub-pass "
test_expect_success \"writes a file\" \"echo x >here && [ -f \\\$TEST_OUT/here ]\"
test_done" &&
	[ "$(cat tsub-pass.rc)" = 0 ] &&
	assert_no_file fake/tests/out/tsub-pass
'

test_expect_success 'variables carry between tests; bodies run in the scratch folder' '
	run_sub tsub-vars "
test_expect_success \"set\" \"v=42 && cd /\"
test_expect_success \"see\" \"[ \\\"\\\$v\\\" = 42 ] && [ \\\"\\\$PWD\\\" = \\\"\\\$TEST_OUT\\\" ]\"
test_done" &&
	[ "$(cat tsub-vars.rc)" = 0 ] && grep -qx "ok 2 - see" tsub-vars.out
'

test_expect_success 'missing prerequisite skips; skip_all skips the script' '
	run_sub tsub-prereq "
test_expect_success NO_SUCH_THING \"needs it\" \"false\"
test_done" &&
	grep -qx "ok 1 # skip needs it (missing NO_SUCH_THING)" tsub-prereq.out &&
	[ "$(cat tsub-prereq.rc)" = 0 ] &&
	run_sub tsub-skip "skip_all \"nothing to do here\"" &&
	grep -qx "1..0 # SKIP nothing to do here" tsub-skip.out &&
	[ "$(cat tsub-skip.rc)" = 0 ] &&
	assert_no_file fake/tests/out/tsub-skip
'

test_expect_success 'KILN defaults to build/kiln in the repository' '
	O= run_sub tsub-kiln "echo \"# KILN=\$KILN\"; test_done" &&
	grep -qx "# KILN=$TEST_OUT/fake/build/kiln" tsub-kiln.out
'

# ---- skips in CI: every one fails, naming what is missing --------------------

test_expect_success 'in CI (KILN_REQUIRE_ALL=1) a missing prerequisite fails, naming it' '
	SUB_REQUIRE=1 run_sub tsub-ci-prereq "
test_expect_success NO_SUCH_THING \"needs it\" \"true\"
test_expect_success KILN,NO_SUCH_THING \"needs two\" \"true\"
test_expect_success \"runs\" \"true\"
test_done" &&
	cat tsub-ci-prereq.out &&
	grep -qx "not ok 1 - needs it (skipped: missing NO_SUCH_THING)" tsub-ci-prereq.out &&
	grep -qx "not ok 2 - needs two (skipped: missing KILN,NO_SUCH_THING)" tsub-ci-prereq.out &&
	grep -q "^# skipped in CI .*KILN: the kiln binary" tsub-ci-prereq.out &&
	grep -qx "ok 3 - runs" tsub-ci-prereq.out &&
	grep -qx "1..3" tsub-ci-prereq.out &&
	[ "$(cat tsub-ci-prereq.rc)" = 1 ]
'

test_expect_success 'with CI=true, skip_all fails the script with its reason' '
	SUB_CI=true run_sub tsub-ci-skip "skip_all \"OVMF is not installed\"" &&
	cat tsub-ci-skip.out &&
	grep -qx "not ok 1 - tsub-ci-skip cannot run: OVMF is not installed" tsub-ci-skip.out &&
	grep -qx "1..1" tsub-ci-skip.out &&
	! grep -q "SKIP" tsub-ci-skip.out &&
	[ "$(cat tsub-ci-skip.rc)" = 1 ] &&
	SUB_CI=1 run_sub tsub-ci-need "need_cmd no-such-command-here" &&
	grep -qx "not ok 1 - tsub-ci-need cannot run: no-such-command-here not installed" tsub-ci-need.out &&
	[ "$(cat tsub-ci-need.rc)" = 1 ]
'

test_expect_success 'KILN_REQUIRE_ALL=0 wins over CI=true; CI=false is not CI' '
	SUB_CI=true SUB_REQUIRE=0 run_sub tsub-ci-off "skip_all \"not here\"" &&
	grep -qx "1..0 # SKIP not here" tsub-ci-off.out &&
	[ "$(cat tsub-ci-off.rc)" = 0 ] &&
	SUB_CI=false run_sub tsub-ci-false "skip_all \"not here\"" &&
	grep -qx "1..0 # SKIP not here" tsub-ci-false.out &&
	[ "$(cat tsub-ci-false.rc)" = 0 ]
'

test_expect_success 'in CI, skip_all --ci-ok and test_ci_may_lack still skip' '
	SUB_REQUIRE=1 run_sub tsub-ci-ok "skip_all --ci-ok \"no such kernel here\"" &&
	grep -qx "1..0 # SKIP no such kernel here (allowed in CI)" tsub-ci-ok.out &&
	[ "$(cat tsub-ci-ok.rc)" = 0 ] &&
	SUB_REQUIRE=1 run_sub tsub-ci-lack "
test_ci_may_lack NO_KVM \"no nested KVM\"
test_expect_success NO_KVM \"needs KVM\" \"true\"
test_done" &&
	grep -qx "ok 1 # skip needs KVM (missing NO_KVM)" tsub-ci-lack.out &&
	[ "$(cat tsub-ci-lack.rc)" = 0 ] &&
	run_sub tsub-noci-ok "skip_all --ci-ok \"no such kernel here\"" &&
	grep -qx "1..0 # SKIP no such kernel here" tsub-noci-ok.out
'

test_expect_success 'skip_all after some tests: the rest is one test, the plan matches' '
	run_sub tsub-late "
test_expect_success \"first\" \"true\"
skip_all \"the rest needs a rootfs\"" &&
	cat tsub-late.out &&
	printf "%s\n" "ok 1 - first" "ok 2 # skip the rest of tsub-late: the rest needs a rootfs" "1..2" >late.expect &&
	test_cmp late.expect tsub-late.out &&
	[ "$(cat tsub-late.rc)" = 0 ] &&
	SUB_REQUIRE=1 run_sub tsub-late-ci "
test_expect_success \"first\" \"true\"
skip_all \"the rest needs a rootfs\"" &&
	grep -qx "not ok 2 - tsub-late-ci cannot run: the rest needs a rootfs" tsub-late-ci.out &&
	grep -qx "1..2" tsub-late-ci.out &&
	[ "$(cat tsub-late-ci.rc)" = 1 ]
'

test_expect_success 'prove: skips pass outside CI, fail in CI' '
	(cd fake && env -u CI -u KILN_REQUIRE_ALL prove -e bash tests/t/tsub-skip.sh tests/t/tsub-prereq.sh) >prove-noci.out 2>&1 &&
	cat prove-noci.out &&
	grep -q "^tests/t/tsub-skip.sh .* skipped: nothing to do here" prove-noci.out &&
	! (cd fake && KILN_REQUIRE_ALL=1 prove -e bash tests/t/tsub-skip.sh) >prove-ci.out 2>&1 &&
	cat prove-ci.out &&
	grep -q "^Result: FAIL" prove-ci.out
'

# The C side (tests/lib/tap.c) and tests/run-unit.sh, with a small test
# binary built here.
command -v cc >/dev/null && test_set_prereq CC
test_prereq_what[CC]="a C compiler (build-essential)"
test_expect_success CC 'tap.c: a skip passes outside CI, fails in CI unless allowed' '
	mkdir -p unit/tests/unit &&
	cat >skipper.c <<-\EOF &&
	#include "tap.h"
	int main(void)
	{
	        ok(1, "runs");
	        tap_skip("no %s here", "frobnicator");
	        ok(1, "# SKIP legacy form: no widget");
	        tap_skip_ci_ok("never on CI: no iso9660");
	        return tap_done();
	}
	EOF
	cc -I"$TEST_ROOT/tests/lib" -o unit/tests/unit/test-fake skipper.c "$TEST_ROOT/tests/lib/tap.c" &&
	env -u CI -u KILN_REQUIRE_ALL unit/tests/unit/test-fake >noci.out && cat noci.out &&
	printf "%s\n" "ok 1 - runs" "ok 2 - # SKIP no frobnicator here" "ok 3 - # SKIP legacy form: no widget" \
		"ok 4 - # SKIP never on CI: no iso9660" "1..4" >noci.expect &&
	test_cmp noci.expect noci.out &&
	! env -u KILN_REQUIRE_ALL CI=true unit/tests/unit/test-fake >ci.out && cat ci.out &&
	grep -qx "not ok 2 - skipped: no frobnicator here" ci.out &&
	grep -qx "not ok 3 - skipped: legacy form: no widget" ci.out &&
	grep -qx "ok 4 - # SKIP never on CI: no iso9660" ci.out &&
	KILN_REQUIRE_ALL=0 CI=true unit/tests/unit/test-fake >off.out && test_cmp noci.expect off.out &&
	! KILN_REQUIRE_ALL=1 KILN_CI_SKIP_OK="test-fake: no frob" unit/tests/unit/test-fake >listed.out &&
	grep -qx "ok 2 - # SKIP no frobnicator here" listed.out &&
	grep -qx "not ok 3 - skipped: legacy form: no widget" listed.out &&
	KILN_REQUIRE_ALL=1 KILN_CI_SKIP_OK="$(printf "test-other: legacy\ntest-fake: no frob\ntest-fake: legacy")" \
		unit/tests/unit/test-fake >listed2.out &&
	KILN_REQUIRE_ALL=1 KILN_CI_SKIP_OK="test-fake-2: no frob" unit/tests/unit/test-fake >listed3.out;
	grep -qx "not ok 2 - skipped: no frobnicator here" listed3.out
'

test_expect_success CC 'run-unit.sh repeats inner skips and failures where make check shows them' '
	env -u CI -u KILN_REQUIRE_ALL O=unit "$TEST_ROOT/tests/run-unit.sh" >ru-noci.out && cat ru-noci.out &&
	grep -qx "# skipped in test-fake: no frobnicator here" ru-noci.out &&
	grep -qx "# skipped in test-fake: never on CI: no iso9660" ru-noci.out &&
	grep -qx "ok 1 - test-fake" ru-noci.out &&
	! env -u CI KILN_REQUIRE_ALL=1 O=unit "$TEST_ROOT/tests/run-unit.sh" >ru-ci.out && cat ru-ci.out &&
	grep -qx "# test-fake: not ok 2 - skipped: no frobnicator here" ru-ci.out &&
	grep -qx "not ok 1 - test-fake" ru-ci.out
'

# make check shows prove's output through a filter and lists every skip
# under the totals (Makefile: CHECK_FILTER, CHECK_SKIPS_AWK).
make_var() {
	make -s --no-print-directory -C "$TEST_ROOT" -f Makefile --eval "kiln-print-var: ; \$(info \$($1))@:" kiln-print-var
}
test_expect_success 'make check: the filter keeps skip lines, the summary lists every skip' '
	filter=$(make_var CHECK_FILTER) && echo "filter: $filter" &&
	make_var CHECK_SKIPS_AWK >skips.awk && cat skips.awk &&
	cat >prove.log <<-\EOF &&
	[01:17:41] tests/run-unit.sh ........... 
	    ok 246 - # SKIP xorriso not installed
	# skipped in test-datasource: xorriso not installed
	ok 3 - test-datasource
	[01:19:32] tests/t/t0500-boot-demo.sh .. skipped: OVMF is not installed
	tests/t/t0510-boot-debian.sh .. skipped: no rootfs
	[01:19:33] tests/t/t0200-layouts.sh .. 
	ok 1 - built
	ok 2 # skip secure boot (missing SHIM)
	ok 3 - other
	1..3
	ok      123 ms
	All tests successful.
	EOF
	grep -E "$filter" prove.log >filtered &&
	grep -qx "\[01:19:32\] tests/t/t0500-boot-demo.sh .. skipped: OVMF is not installed" filtered &&
	grep -qx "tests/t/t0510-boot-debian.sh .. skipped: no rootfs" filtered &&
	grep -qx "ok 2 # skip secure boot (missing SHIM)" filtered &&
	grep -qx "# skipped in test-datasource: xorriso not installed" filtered &&
	awk -f skips.awk prove.log >summary && cat summary &&
	printf "%s\n" "Skipped: 4" \
		"  tests/run-unit.sh: test-datasource: xorriso not installed" \
		"  tests/t/t0500-boot-demo.sh: OVMF is not installed" \
		"  tests/t/t0510-boot-debian.sh: no rootfs" \
		"  tests/t/t0200-layouts.sh: secure boot (missing SHIM)" >summary.expect &&
	test_cmp summary.expect summary &&
	printf "ok 1 - a\n1..1\n" | awk -f skips.awk >none && grep -qx "Skipped: none" none
'

fails_one_line() { echo "kiln: cannot read rootfs 'x.tar': truncated" >&2; return 1; }
fails_two_lines() { echo "kiln: first" >&2; echo "kiln: second" >&2; return 1; }
fails_silently() { return 3; }
fails_no_newline() { printf "kiln: no newline" >&2; return 1; }
succeeds() { echo "kiln: warning" >&2; return 0; }
dies() { bash -c "kill -SEGV \$\$"; }

test_expect_success 'must_fail_with: non-zero exit and exactly one matching stderr line' '
	must_fail_with "^kiln: cannot read rootfs .x\.tar.: " fails_one_line &&
	must_fail_with "no newline$" fails_no_newline &&
	! must_fail_with "first" fails_two_lines 2>/dev/null &&
	! must_fail_with "." fails_silently 2>/dev/null &&
	! must_fail_with "warning" succeeds 2>/dev/null &&
	! must_fail_with "other words" fails_one_line 2>/dev/null &&
	! must_fail_with "." dies 2>/dev/null &&
	! must_fail_with "." no-such-command-here 2>/dev/null
'

test_expect_success 'assert_no_file sees files, folders and dangling symlinks' '
	assert_no_file nothing-here &&
	touch f && mkdir d && ln -s gone dangling &&
	! assert_no_file f 2>/dev/null &&
	! assert_no_file d 2>/dev/null &&
	! assert_no_file dangling 2>/dev/null &&
	assert_file f d
'

test_expect_success 'assert_empty_dir: an empty folder passes; a dotfile, a file, no folder fail' '
	mkdir empty holds-dot &&
	assert_empty_dir empty &&
	touch holds-dot/.kiln-spool &&
	! assert_empty_dir holds-dot 2>err && grep -q "\.kiln-spool" err &&
	! assert_empty_dir f 2>/dev/null &&
	! assert_empty_dir no-such-folder 2>/dev/null
'

test_expect_success PYTHON3 'snapshot-tree.py moves no atime and sees a read, a chmod' '
	mkdir -p snap/sub && echo data >snap/sub/file && ln -s sub/file snap/link &&
	touch -a -d @1000 snap/sub/file snap/sub snap &&
	"$SNAPSHOT_TREE" snap >snap.1 && "$SNAPSHOT_TREE" snap >snap.2 &&
	test_cmp snap.1 snap.2 &&
	grep -q "^.sub/file. .* 1000000000000 " snap.1 &&
	cat snap/sub/file >/dev/null && "$SNAPSHOT_TREE" snap >snap.3 &&
	! cmp -s snap.2 snap.3 &&
	chmod 0600 snap/sub/file && "$SNAPSHOT_TREE" snap >snap.4 &&
	! cmp -s snap.3 snap.4
'

command -v setfattr >/dev/null && test_set_prereq SETFATTR
test_prereq_what[SETFATTR]="setfattr (attr)"
test_expect_success PYTHON3,SETFATTR 'snapshot-tree.py sees an xattr' '
	setfattr -n user.k -v v snap/sub/file && "$SNAPSHOT_TREE" snap >snap.5 &&
	! cmp -s snap.4 snap.5 &&
	grep -q "user.k=76" snap.5
'

test_done
