#!/bin/bash
# The test library itself: TAP lines, prerequisites, scratch folders kept on
# failure and removed on success, must_fail_with, assert_no_file.
. "$(dirname "$0")/../lib/test-lib.sh"

# run_sub NAME BODY: run a test script with BODY in a fake repository that
# links to the real test-lib; its stdout lands in NAME.out, status in NAME.rc.
run_sub() {
	mkdir -p "fake/tests/t" "fake/tests/lib" &&
	ln -sf "$TEST_ROOT/tests/lib/test-lib.sh" fake/tests/lib/test-lib.sh &&
	{
		echo '. "$(dirname "$0")/../lib/test-lib.sh"'
		printf '%s\n' "$2"
	} >"fake/tests/t/$1.sh" &&
	{ KILN= bash "fake/tests/t/$1.sh" >"$1.out" 2>"$1.err"; echo $? >"$1.rc"; }
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
	run_sub tsub-kiln "echo \"# KILN=\$KILN\"; test_done" &&
	grep -qx "# KILN=$TEST_OUT/fake/build/kiln" tsub-kiln.out
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

test_expect_success PYTHON3 'snapshot-tree.py moves no atime and sees a read, a chmod, an xattr' '
	mkdir -p snap/sub && echo data >snap/sub/file && ln -s sub/file snap/link &&
	touch -a -d @1000 snap/sub/file snap/sub snap &&
	"$SNAPSHOT_TREE" snap >snap.1 && "$SNAPSHOT_TREE" snap >snap.2 &&
	test_cmp snap.1 snap.2 &&
	grep -q "^.sub/file. .* 1000000000000 " snap.1 &&
	cat snap/sub/file >/dev/null && "$SNAPSHOT_TREE" snap >snap.3 &&
	! cmp -s snap.2 snap.3 &&
	chmod 0600 snap/sub/file && "$SNAPSHOT_TREE" snap >snap.4 &&
	! cmp -s snap.3 snap.4 &&
	{ ! command -v setfattr >/dev/null ||
		{ setfattr -n user.k -v v snap/sub/file && "$SNAPSHOT_TREE" snap >snap.5 &&
		  grep -q "user.k=76" snap.5; }; }
'

test_done
