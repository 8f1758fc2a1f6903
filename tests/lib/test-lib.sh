# test-lib.sh — a tiny TAP library for kiln's numbered integration tests
# (tests/t/tNNNN-name.sh), after git's t/test-lib.sh.  Source it, then:
#
#   test_expect_success 'what it proves' '
#           "$KILN" build ... &&
#           "$VERIFY_IMAGE" tree img
#   '
#   test_expect_success ROOT,KILN 'needs both prerequisites' '...'
#   test_done
#
# Each script gets a scratch folder tests/out/<script name>/ and runs its test
# bodies inside it; the folder is removed when every test passed and kept when
# one failed (to look at).  A body runs in the script's own shell (variables
# carry to later tests) with stdin from /dev/null; its output is kept in
# tests/out/<name>.log and shown as '# ' lines when it fails.  Chain commands
# with && as in git: a body's status is its last command's.
#
# Environment:
#   KILN          the kiln binary (default: <repo>/${O:-build}/kiln)
#   TEST_VERBOSE  1: show every body's output (as # lines), not only on failure
#   KEEP_OUT      1: keep the scratch folder even on success
#   KILN_REQUIRE_ALL  1: every skip fails (CI); 0: skips skip; unset: 1 when
#                 CI is set to anything but "", 0 or false
#
# Provided:
#   test_expect_success [PREREQS] DESC BODY
#   test_expect_failure [PREREQS] DESC BODY   (known breakage: "not ok # TODO")
#   skip_all [--ci-ok] REASON whole script skipped: "1..0 # SKIP REASON", exit 0
#                             (in CI a failure, unless --ci-ok: see below)
#   test_done                 plan line, cleanup, exit status
#   test_set_prereq NAME / test_have_prereq NAME[,NAME]
#       set by default: ROOT (uid 0), KILN (the binary is executable),
#       E2FSPROGS (mke2fs, debugfs, e2fsck), PYTHON3 (/usr/bin/python3),
#       GRUB_BIOS (/usr/lib/grub/i386-pc: grub-pc-bin), GRUB_EFI
#       (/usr/lib/grub/x86_64-efi: grub-efi-amd64-bin) — what kiln takes from
#       the build host to make a bootable gpt or mbr disk
#   must_fail_with REGEX CMD...  CMD exits non-zero (not by a signal, not 127)
#                             and its stderr is exactly one line matching REGEX
#   assert_no_file PATH...    none of PATH exist (not even as a dangling symlink)
#   assert_file PATH...       each PATH exists
#   assert_empty_dir DIR      DIR is a folder holding nothing, dotfiles included
#                             (what a failed build must leave behind)
#   test_cmp EXPECTED ACTUAL  files equal, else a diff
#   need_cmd CMD...           skip_all unless every CMD is on PATH
#   test_ci_may_lack NAME WHY a missing prerequisite NAME is an allowed skip
#                             in CI too (WHY: why it can never be had there)
#
# Skips in CI.  A skip is for a prerequisite that truly cannot exist on the
# machine at hand; CI's machine is set up to have them all (.ci/packages,
# the fetchers in tests/lib), so there a skip means something is missing and
# the run must fail, not pass with fewer tests.  With KILN_REQUIRE_ALL=1, or
# CI set (CI=true) and KILN_REQUIRE_ALL not 0, skip_all prints a failing
# test naming the reason and exits 1, and a test whose prerequisite is
# missing is "not ok" naming it.  Only `skip_all --ci-ok` and prerequisites
# declared with test_ci_may_lack still skip there; a plain `make check`
# (no CI variable) skips as before.
#
# Paths: $TEST_ROOT (the repository), $TEST_OUT (scratch), $KILN,
# $VERIFY_IMAGE, $MKTREE, $FETCH_ROOTFS, $SNAPSHOT_TREE (the tools in tests/lib).

TEST_NAME=$(basename "$0" .sh)
TEST_ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
TEST_OUT=$TEST_ROOT/tests/out/$TEST_NAME
TEST_LOG=$TEST_ROOT/tests/out/$TEST_NAME.log
KILN=${KILN:-$TEST_ROOT/${O:-build}/kiln}
VERIFY_IMAGE=$TEST_ROOT/tests/lib/verify-image.py
MKTREE=$TEST_ROOT/tests/lib/mktree.sh
FETCH_ROOTFS=$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh
SNAPSHOT_TREE=$TEST_ROOT/tests/lib/snapshot-tree.py
export KILN VERIFY_IMAGE MKTREE FETCH_ROOTFS SNAPSHOT_TREE TEST_ROOT TEST_OUT
export LC_ALL=C TZ=UTC
# kiln's environment knobs are each test's own choice, never the caller's.
unset SOURCE_DATE_EPOCH KILN_SPOOL_MEMORY KILN_TEST_FAIL_WRITE KILN_TEST_FAIL_RENAME KILN_TEST_NO_RENAME_EXCHANGE \
	KILN_TEST_PAUSE_AFTER_WALK

case ${KILN_REQUIRE_ALL:-} in
1) test_require_all=1 ;;
0) test_require_all= ;;
*) case ${CI:-} in ""|0|false|False|FALSE) test_require_all= ;; *) test_require_all=1 ;; esac ;;
esac
# What the prerequisites set below stand for, for the message of a skip.
declare -A test_prereq_what=(
	[ROOT]="root (uid 0)"
	[KILN]="the kiln binary ($KILN: run make)"
	[E2FSPROGS]="e2fsprogs (mke2fs, debugfs, e2fsck)"
	[PYTHON3]="/usr/bin/python3"
	[GRUB_BIOS]="grub-pc-bin (/usr/lib/grub/i386-pc)"
	[GRUB_EFI]="grub-efi-amd64-bin (/usr/lib/grub/x86_64-efi)"
)
declare -A test_ci_may_lack_=()

test_count=0
test_failed=0
test_fixed=0
test_broken=0
test_prereqs=" "

rm -rf "$TEST_OUT"
mkdir -p "$TEST_OUT" || exit 1
: >"$TEST_LOG"
cd "$TEST_OUT" || exit 1

test_set_prereq() { test_prereqs="$test_prereqs$1 "; }
test_have_prereq() {
	local p IFS=,
	for p in $1; do
		case $test_prereqs in *" $p "*) ;; *) return 1;; esac
	done
	return 0
}
[ "$(id -u)" = 0 ] && test_set_prereq ROOT
[ -x "$KILN" ] && test_set_prereq KILN
command -v mke2fs >/dev/null && command -v debugfs >/dev/null && command -v e2fsck >/dev/null &&
	test_set_prereq E2FSPROGS
[ -x /usr/bin/python3 ] && test_set_prereq PYTHON3
[ -d /usr/lib/grub/i386-pc ] && test_set_prereq GRUB_BIOS
[ -d /usr/lib/grub/x86_64-efi ] && test_set_prereq GRUB_EFI

say() { printf '%s\n' "$*"; }
diag() { printf '%s\n' "$@" | sed 's/^/# /'; }

test_ci_may_lack() { test_ci_may_lack_[$1]=$2; }

# skip_all [--ci-ok] REASON.  Called after some tests ran, the rest of the
# script is one skipped test (a "1..0" plan would contradict the lines before).
skip_all() {
	local ci_ok=
	[ "$1" = --ci-ok ] && { ci_ok=1; shift; }
	if [ -n "$test_require_all" ] && [ -z "$ci_ok" ]; then
		test_count=$((test_count + 1))
		test_failed=$((test_failed + 1))
		say "not ok $test_count - $TEST_NAME cannot run: $1"
		diag "skipped in CI (KILN_REQUIRE_ALL=1 or CI set): every test must run there;" \
			"install what is missing (.ci/packages, tests/lib/fetch-*.sh) or, when it can never" \
			"exist on CI's machine, mark the skip allowed (skip_all --ci-ok)"
		test_done
	fi
	[ -n "$ci_ok" ] && [ -n "$test_require_all" ] && set -- "$1 (allowed in CI)"
	if [ "$test_count" -gt 0 ]; then
		test_count=$((test_count + 1))
		say "ok $test_count # skip the rest of $TEST_NAME: $1"
		test_done
	fi
	say "1..0 # SKIP $1"
	cd "$TEST_ROOT" && rm -rf "$TEST_OUT" "$TEST_LOG" "$TEST_BODY_OUT"
	exit 0
}

need_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip_all "$c not installed"
	done
}

# test_eval_ BODY: a function, so a body may "return 1" early.
test_eval_() { eval "$1"; }

# test_run_ BODY: run BODY in this shell, output to $TEST_BODY_OUT, appended to
# the log; return its status.
TEST_BODY_OUT=$TEST_ROOT/tests/out/$TEST_NAME.body
test_run_() {
	local test_status_ test_start_ test_ms_
	test_start_=$(date +%s%N)
	test_eval_ "$1" </dev/null >"$TEST_BODY_OUT" 2>&1
	test_status_=$?
	test_ms_=$(( ($(date +%s%N) - test_start_) / 1000000 ))
	cd "$TEST_OUT" || exit 1
	{
		printf '=== %s %d: %s\n' "$TEST_NAME" "$test_count" "$test_desc"
		cat "$TEST_BODY_OUT"
		printf '=== exit %d (%d ms)\n' "$test_status_" "$test_ms_"
	} >>"$TEST_LOG"
	[ "${TEST_VERBOSE:-0}" = 1 ] && sed 's/^/# /' "$TEST_BODY_OUT"
	return "$test_status_"
}

test_show_failure_() {
	diag "failed: $test_desc" "body:"
	printf '%s\n' "$1" | sed 's/^/#     /'
	diag "output:"
	head -n 200 "$TEST_BODY_OUT" | sed 's/^/#     /'
}

# test_args_ "$@": set test_req, test_desc, test_body; 0 when the test should run.
test_args_() {
	if [ $# -eq 3 ]; then
		test_req=$1; shift
	elif [ $# -eq 2 ]; then
		test_req=
	else
		echo "bug in $TEST_NAME: test_expect_* takes [PREREQS] DESC BODY" >&2
		exit 99
	fi
	test_desc=$1
	test_body=$2
	test_count=$((test_count + 1))
	if [ -n "$test_req" ] && ! test_have_prereq "$test_req"; then
		local p missing= what= ci_ok=1 IFS=,
		for p in $test_req; do
			test_have_prereq "$p" && continue
			missing=${missing:+$missing,}$p
			what="$what${what:+; }$p: ${test_prereq_what[$p]:-set by the script when it has what it needs}"
			[ -n "${test_ci_may_lack_[$p]:-}" ] || ci_ok=
		done
		if [ -n "$test_require_all" ] && [ -z "$ci_ok" ]; then
			test_failed=$((test_failed + 1))
			say "not ok $test_count - $test_desc (skipped: missing $missing)"
			diag "skipped in CI (KILN_REQUIRE_ALL=1 or CI set): $what" \
				"install it, or declare it with test_ci_may_lack when CI's machine can never have it"
		else
			say "ok $test_count # skip $test_desc (missing $test_req)"
		fi
		return 1
	fi
	return 0
}

test_expect_success() {
	test_args_ "$@" || return 0
	if test_run_ "$test_body"; then
		say "ok $test_count - $test_desc"
	else
		test_failed=$((test_failed + 1))
		say "not ok $test_count - $test_desc"
		test_show_failure_ "$test_body"
	fi
}

test_expect_failure() {
	test_args_ "$@" || return 0
	if test_run_ "$test_body"; then
		test_fixed=$((test_fixed + 1))
		say "ok $test_count - $test_desc # TODO known breakage vanished"
	else
		test_broken=$((test_broken + 1))
		say "not ok $test_count - $test_desc # TODO known breakage"
	fi
}

test_done() {
	say "1..$test_count"
	rm -f "$TEST_BODY_OUT"
	if [ "$test_failed" -eq 0 ]; then
		if [ "${KEEP_OUT:-0}" != 1 ]; then
			cd "$TEST_ROOT" && rm -rf "$TEST_OUT"
		fi
		exit 0
	fi
	diag "$test_failed of $test_count failed; scratch kept in $TEST_OUT, log in $TEST_LOG"
	exit 1
}

# ---------------------------------------------------------------- helpers

# must_fail_with REGEX CMD...: CMD fails cleanly with one matching stderr line.
must_fail_with() {
	local re=$1 status err lines
	shift
	err=$(mktemp "$TEST_OUT/.stderr.XXXXXX") || return 1
	"$@" 2>"$err"
	status=$?
	lines=$(wc -l <"$err")
	# A last line without a newline still counts as a line.
	[ -s "$err" ] && [ -n "$(tail -c 1 "$err")" ] && lines=$((lines + 1))
	if [ "$status" -eq 0 ]; then
		echo "must_fail_with: '$*' succeeded" >&2
	elif [ "$status" -gt 128 ] && [ "$status" -le 192 ]; then
		echo "must_fail_with: '$*' died of signal $((status - 128))" >&2
	elif [ "$status" -eq 127 ] || [ "$status" -eq 126 ]; then
		echo "must_fail_with: '$*' could not be run (exit $status)" >&2
	elif [ "$lines" -ne 1 ]; then
		echo "must_fail_with: '$*' wrote $lines lines to stderr, want exactly 1:" >&2
		sed 's/^/    /' "$err" >&2
	elif ! grep -Eq -e "$re" "$err"; then
		echo "must_fail_with: stderr of '$*' does not match /$re/:" >&2
		sed 's/^/    /' "$err" >&2
	else
		rm -f "$err"
		return 0
	fi
	rm -f "$err"
	return 1
}

assert_no_file() {
	local p ok=0
	for p in "$@"; do
		if [ -e "$p" ] || [ -L "$p" ]; then
			echo "assert_no_file: '$p' exists" >&2
			ok=1
		fi
	done
	return $ok
}

assert_file() {
	local p ok=0
	for p in "$@"; do
		if ! [ -e "$p" ]; then
			echo "assert_file: '$p' does not exist" >&2
			ok=1
		fi
	done
	return $ok
}

assert_empty_dir() {
	local left
	if ! [ -d "$1" ]; then
		echo "assert_empty_dir: '$1' is not a folder" >&2
		return 1
	fi
	left=$(ls -A "$1")
	if [ -n "$left" ]; then
		echo "assert_empty_dir: '$1' holds:" >&2
		ls -lA "$1" | sed 's/^/    /' >&2
		return 1
	fi
}

test_cmp() {
	diff -u "$1" "$2" >&2
}
