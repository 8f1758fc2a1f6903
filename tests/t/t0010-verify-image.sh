#!/bin/bash
# The image verifier, checked against mke2fs -d as a stand-in builder:
#  * on mke2fs's own image it reports only mke2fs's known losses (timestamps);
#  * once those are patched into the image with debugfs, it passes clean;
#  * every planted fault (debugfs -w on a copy) is caught, by the right field.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq ROOT || skip_all "needs root (mknod, chown, trusted.* xattrs)"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"

NL_NAME=$'names/new\nline'

# fix_times TREE IMAGE [CLAMP]: write the tree's atime/mtime/ctime, with
# nanoseconds and epoch bits, into the image (what mke2fs -d drops), clamped
# to CLAMP when given.  Paths with a newline cannot be named to debugfs.
fix_times() {
	local tree=$1 img=$2 clamp=${3:-} a m c p f t sec ns lo s32 epoch q
	find "$tree" -printf '%A@ %T@ %C@ %P\0' |
	while IFS= read -r -d '' line; do
		read -r a m c p <<<"$line"
		p=${line#* * * }
		case $p in *$'\n'*) continue;; esac
		q=/${p//\"/\"\"}
		for f in a m c; do
			eval "t=\$$f"
			sec=${t%.*} ns=${t#*.}
			ns=$((10#${ns:0:9}))
			if [ -n "$clamp" ] && [ "$sec" -ge "$clamp" ]; then
				sec=$clamp ns=0
			fi
			lo=$((sec & 0xffffffff))
			s32=$(( lo >= 2147483648 ? lo - 4294967296 : lo ))
			epoch=$(( ((sec - s32) >> 32) & 3 ))
			printf 'sif "%s" %stime @%d\n' "$q" "$f" "$s32"
			printf 'sif "%s" %stime_extra %d\n' "$q" "$f" $(( (ns << 2) | epoch ))
		done
	done >fix.cmds &&
	debugfs -w -f fix.cmds "$img" >/dev/null 2>fix.err &&
	! grep -v '^debugfs [0-9]' fix.err
}

# verify IMAGE [ARGS...]: run the verifier on the tree, output in verify.out,
# return its exit status.
verify() {
	local img=$1
	shift
	"$VERIFY_IMAGE" "$@" tree "$img" >verify.out 2>&1
}

# fault NAME DEBUGFS-COMMANDS...: a copy of the clean image with a fault planted.
fault() {
	local name=$1
	shift
	cp --sparse=always clean.img "$name.img" &&
	printf '%s\n' "$@" >"$name.cmds" &&
	debugfs -w -f "$name.cmds" "$name.img" >/dev/null 2>"$name.err" &&
	! grep -v '^debugfs [0-9]' "$name.err"
}

# caught NAME 'LINE-REGEX'...: verifying NAME.img fails, every regex matches a
# MISMATCH line, and there are no MISMATCH lines beyond those.
caught() {
	local name=$1 re n
	shift
	verify "$name.img" --ignore "$NL_NAME"
	[ $? -eq 1 ] || { echo "verifier did not exit 1:"; cat verify.out; return 1; }
	for re in "$@"; do
		grep -Eq "^MISMATCH $re" verify.out || { echo "no line matches /$re/:"; cat verify.out; return 1; }
	done
	n=$(grep -c '^MISMATCH ' verify.out)
	[ "$n" -eq $# ] || { echo "want $# mismatch lines, got $n:"; cat verify.out; return 1; }
}

test_expect_success 'make the synthetic tree and tarballs' '
	start=$(date +%s%N) &&
	"$MKTREE" "$TEST_OUT" >/dev/null &&
	echo "# mktree: $(( ($(date +%s%N) - start) / 1000000 )) ms" &&
	for f in tree.tar tree.tar.gz tree.tar.zst tree.tar.xz; do [ -s "$f" ] || return 1; done &&
	[ "$(find tree | wc -l)" -gt 3100 ]
'

test_expect_success 'tarballs are deterministic for the same date' '
	mkdir again && "$MKTREE" again >/dev/null &&
	cmp tree.tar again/tree.tar && cmp tree.tar.gz again/tree.tar.gz &&
	cmp tree.tar.zst again/tree.tar.zst && cmp tree.tar.xz again/tree.tar.xz &&
	rm -rf again
'

test_expect_success 'mke2fs -d image: only timestamps differ (its known losses)' '
	mke2fs -q -F -t ext4 -b 4096 -d tree mke2fs.img 64M 2>mke2fs.err &&
	verify mke2fs.img --max-report 100000
	[ $? -eq 1 ] &&
	! grep "^MISMATCH" verify.out | grep -Ev "^MISMATCH .*: (mtime|atime|ctime): " &&
	grep -q "^MISMATCH /files/sparse: mtime: image=[0-9]*\.000000000 " verify.out &&
	grep -q "^MISMATCH /files/one-byte: mtime: image=-192522496\.000000000 source=4102444800\.999999999" verify.out &&
	grep -q "^MISMATCH /: mtime: " verify.out &&
	grep -q "# verify-image: FAILED.* e2fsck clean" verify.out
'

test_expect_success 'timestamps patched in: the verifier passes clean' '
	cp --sparse=always mke2fs.img clean.img &&
	fix_times tree clean.img &&
	verify clean.img --ignore "$NL_NAME" &&
	grep -q "^# verify-image: ok: " verify.out &&
	! grep -q "^MISMATCH" verify.out
'

test_expect_success 'the newline-named file is compared too (only its times differ)' '
	verify clean.img
	[ $? -eq 1 ] &&
	[ "$(grep -c "^MISMATCH /names/new\\\\nline: [acm]time: " verify.out)" -eq "$(grep -c "^MISMATCH" verify.out)" ]
'

test_expect_success 'the image may sit at an offset in a bigger file' '
	{ head -c 1048576 /dev/zero; cat clean.img; } >offset.img &&
	verify offset.img --offset 1048576 --ignore "$NL_NAME" &&
	verify "offset.img" --ignore "$NL_NAME"
	[ $? -eq 2 ] && grep -q "cannot open" verify.out
'

test_expect_success 'an image name with ? works' '
	ln -s clean.img "odd?name.img" &&
	verify "odd?name.img" --ignore "$NL_NAME"
'

test_expect_success 'mode, setuid bit' '
	fault mode "sif /modes/file-4755 mode 0100755" &&
	caught mode "/modes/file-4755: mode: image=0755 source=4755"
'

test_expect_success 'file type' '
	fault type "sif /dev/fifo mode 0140644" &&
	caught type "/dev/fifo: type: image=socket source=fifo" "/: e2fsck -fn: image=exit 4 source=clean"
'

test_expect_success 'uid, gid above 16 bits' '
	fault owner "sif /owners/1234:5678 uid 1235" "sif /owners/4000000000:4000000001 gid_hi 0" &&
	caught owner "/owners/1234:5678: uid: image=1235 source=1234" \
		"/owners/4000000000:4000000001: gid: image=[0-9]+ source=4000000001"
'

test_expect_success 'nanoseconds and times past 2038' '
	fault times "sif /files/sparse mtime_extra 0" "sif /files/one-byte mtime_extra 0" \
		"sif /dirs/empty atime_extra 4" "sif /acl/dir ctime @0" &&
	caught times "/files/sparse: mtime: image=[0-9]+\.000000000 " \
		"/files/one-byte: mtime: image=-192522496\.000000000 source=4102444800\.999999999" \
		"/dirs/empty: atime: image=[0-9]+\.000000001 " \
		"/acl/dir: ctime: image=0\.[0-9]{9} "
'

test_expect_success 'crtime and symlink atime are not compared' '
	fault crtime "sif /files/small crtime @5" "sif /links/short atime @5" &&
	verify crtime.img --ignore "$NL_NAME"
'

test_expect_success 'xattr value changed, removed, added' '
	fault xattr "ea_set /xattr/user user.plain hellO" "ea_rm /xattr/cap security.capability" \
		"ea_set /files/empty user.extra x" &&
	caught xattr "/xattr/user: xattr user.plain: image=.hellO. source=.hello.$" \
		"/xattr/cap: xattr security.capability: image=absent source=0x01000002" \
		"/files/empty: xattr user.extra: image=.x. source=absent$"
'

test_expect_success 'one byte of a 4040-byte xattr' '
	getfattr --only-values -n user.big tree/xattr/big >big.val &&
	[ "$(wc -c <big.val)" -eq 4040 ] &&
	printf X | dd of=big.val bs=1 seek=4000 conv=notrunc status=none &&
	fault bigxattr "ea_set -f big.val /xattr/big user.big" &&
	caught bigxattr "/xattr/big: xattr user.big: image=differs at byte 4000: .X"
'

test_expect_success 'security.selinux without its trailing NUL' '
	fault selinux "ea_set /xattr/selinux security.selinux system_u:object_r:bin_t:s0" &&
	caught selinux "/xattr/selinux: xattr security.selinux: image=.system_u:object_r:bin_t:s0. source=.system_u:object_r:bin_t:s0.x00.$"
'

test_expect_success 'ACL permission changed' '
	touch acl-scratch && setfacl -m u:1234:r,u:65534:r,g:5678:r,g:65534:rw,m:rw acl-scratch &&
	getfattr --only-values -n system.posix_acl_access acl-scratch >acl.val &&
	fault acl "ea_set -f acl.val /acl/file system.posix_acl_access" &&
	caught acl "/acl/file: xattr system.posix_acl_access: image=user::rw-,user:1234:r--,.* source=user::rw-,user:1234:rw-,"
'

test_expect_success 'ACL stored in the POSIX xattr form instead of ext4 form' '
	getfattr --only-values -n system.posix_acl_access tree/acl/file >acl2.val &&
	fault aclraw "ea_set -r -f acl2.val /acl/file system.posix_acl_access" &&
	caught aclraw "/acl/file: xattr system.posix_acl_access: image=not ext4 ACL form: 0x02000000"
'

test_expect_success 'default ACL removed' '
	fault acldef "ea_rm /acl/dir system.posix_acl_default" &&
	caught acldef "/acl/dir: xattr system.posix_acl_default: image=absent source=0x0200"
'

test_expect_success 'one byte of content' '
	fault content "zap_block -f /files/big -o 100 -l 1 -p 0x41 3" &&
	caught content "/files/big: content: image=differs at byte 12388: .A"
'

test_expect_success 'a hole filled with allocated blocks' '
	fault hole "fallocate /files/sparse 0 3" &&
	caught hole "/files/sparse: holes: image=[0-9]+ blocks of 4096 allocated in source holes \(first at byte 0\)"
'

test_expect_success 'symlink targets, fast and slow' '
	fault link "sif /links/short block[0] 0x41414141" "zap_block -f /links/long200 -o 0 -l 1 -p 0x5a 0" &&
	caught link "/links/short: target: image=.AAAAiles/small. source=.\.\./files/small.$" \
		"/links/long200: target: image=.Z\./"
'

test_expect_success 'device numbers' '
	fault dev "sif /dev/sda1 block[0] 0x0802" &&
	caught dev "/dev/sda1: rdev: image=8:2 source=8:1"
'

test_expect_success 'file removed' '
	fault removed "rm /files/one-block" &&
	caught removed "/files/one-block: presence: image=absent source=file"
'

test_expect_success 'directory removed: reported once, not per child' '
	fault rmdir "rm /deep/level01/level02/level03/level04/level05/level06/level07/level08/level09/level10/level11/level12/level13/level14/level15/level16/level17/level18/level19/level20/level21/level22/level23/level24/level25/level26/level27/level28/level29/level30/level31/level32/level33/level34/level35/level36/level37/level38/level39/level40/leaf" \
		"rmdir /deep/level01/level02/level03/level04/level05/level06/level07/level08/level09/level10/level11/level12/level13/level14/level15/level16/level17/level18/level19/level20/level21/level22/level23/level24/level25/level26/level27/level28/level29/level30/level31/level32/level33/level34/level35/level36/level37/level38/level39/level40" &&
	caught rmdir ".*/level39/level40: presence: image=absent source=directory with 1 paths below$"
'

test_expect_success 'directory removed, with siblings that sort between it and its children' '
	fault rmdir2 "rm /dirs/x/child" "rmdir /dirs/x" &&
	caught rmdir2 "/dirs/x: presence: image=absent source=directory with 1 paths below$"
'

test_expect_success 'extra file' '
	echo extra >extra.src &&
	fault extra "write extra.src /dirs/extra" &&
	caught extra "/dirs/extra: presence: image=file source=absent"
'

test_expect_success 'renamed entry with an odd name' '
	fault rename "ln \"/names/quote\"\"double\" /names/renamed" "unlink \"/names/quote\"\"double\"" &&
	caught rename "/names/quote\"double: presence: image=absent source=file" \
		"/names/renamed: presence: image=file source=absent"
'

test_expect_success 'hard link broken apart' '
	fault hardlink "unlink /hard/a/two" "write tree/hard/one /hard/a/two" "sif /hard/one links_count 2" \
		"sif /hard/a/two links_count 1" &&
	verify hardlink.img --ignore "$NL_NAME" --max-report 1000
	[ $? -eq 1 ] &&
	grep -q "^MISMATCH /files/three: hardlinks: image=/files/three,/hard/one;/hard/a/two source=/files/three,/hard/a/two,/hard/one" verify.out &&
	grep -q "^MISMATCH /hard/a/two: links: image=1 source=3" verify.out
'

test_expect_success 'wrong link count, and e2fsck notices' '
	fault links "sif /files/small links_count 2" &&
	caught links "/files/small: links: image=2 source=1" "/: e2fsck -fn: image=exit [0-9]+ source=clean"
'

test_expect_success 'corruption only e2fsck sees' '
	fault fsck "freeb $(debugfs -R "bmap /files/big 0" clean.img 2>/dev/null)" &&
	caught fsck "/: e2fsck -fn: image=exit 4 source=clean"
'

test_expect_success '--ignore and --expect-absent' '
	verify removed.img --ignore "$NL_NAME" --ignore /files/one-block &&
	verify removed.img --ignore "$NL_NAME" --expect-absent files/one-block &&
	verify clean.img --ignore "$NL_NAME" --expect-absent files/one-block
	[ $? -eq 1 ] && grep -q "^MISMATCH /files/one-block: presence: image=file source=expected absent" verify.out
'

test_expect_success '--clamp: times after EPOCH must be EPOCH' '
	clamp=1699990000 &&
	cp --sparse=always mke2fs.img clamped.img &&
	fix_times tree clamped.img $clamp &&
	verify clamped.img --ignore "$NL_NAME" --clamp $clamp &&
	verify clean.img --ignore "$NL_NAME" --clamp $clamp
	[ $? -eq 1 ] && grep -q "^MISMATCH /files/one-byte: mtime: image=4102444800\.999999999 source=$clamp\.000000000" verify.out
'

test_expect_success '--no-ctime and --no-atime' '
	fault noctime "sif /files/small ctime @7" "sif /files/small atime @7" &&
	verify noctime.img --ignore "$NL_NAME" --no-ctime --no-atime &&
	caught noctime "/files/small: atime: " "/files/small: ctime: "
'

test_expect_success 'usage errors exit 2 with one line' '
	must_fail_with "^verify-image: source .nowhere. is not a directory$" "$VERIFY_IMAGE" nowhere clean.img &&
	must_fail_with "^verify-image: image .none.img. does not exist$" "$VERIFY_IMAGE" tree none.img &&
	echo garbage >garbage.img &&
	must_fail_with "^verify-image: debugfs cannot open" "$VERIFY_IMAGE" tree garbage.img
'

test_done
