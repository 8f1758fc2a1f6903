#!/bin/bash
# kiln build -t none of mktree's synthetic tree, from the folder and from each
# tarball variant: e2fsck -fn clean and verify-image.py finds nothing lost
# (types, modes, owners, times to the ns, xattrs, ACLs, links, content, holes,
# devices, odd names); SOURCE_DATE_EPOCH clamps times; the source is left
# exactly as it was; xattr values larger than a block; the tarball spool gives
# the same image whether it lives in memory or in a file.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq ROOT || skip_all "needs root (mktree: mknod, chown, trusted.* xattrs)"
test_have_prereq KILN || skip_all "kiln is not built (make)"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"

# Inside the tree's range of times (mktree: SOURCE_DATE_EPOCH 1700000000 and
# before, atimes up to a day after): some times are clamped, most are not.
CLAMP=1699990000

# libarchive (3.6.2 here, and still in its current source) reads a pax time
# "-1.5" as -1 s + 0.5 s: the sign is applied to the seconds only.  mktree's
# /files/small has mtime -1.5 and atime -86400.000000001, so every tarball
# build shows exactly these two mismatches; they have their own test below.
NEG_TIME='^MISMATCH /files/small: (mtime|atime): '

# verify IMAGE [ARGS]: verify-image.py of the tree against IMAGE; the report
# is kept in IMAGE.verify and shown when it fails.
verify() {
	local img=$1
	shift
	"$VERIFY_IMAGE" "$@" tree "$img" >"$img.verify" 2>&1 || { cat "$img.verify"; return 1; }
}

# verify_tar IMAGE [ARGS]: the same for an image built from a tarball, which
# carries no ctime; the two pre-1970 fractional times are left to their own
# test, every other mismatch fails.
verify_tar() {
	local img=$1 status
	shift
	"$VERIFY_IMAGE" --no-ctime "$@" tree "$img" >"$img.verify" 2>&1
	status=$?
	grep '^MISMATCH ' "$img.verify" | grep -Ev "$NEG_TIME" >"$img.unexpected"
	if [ $status -eq 0 ] || { [ $status -eq 1 ] && ! [ -s "$img.unexpected" ]; }; then
		return 0
	fi
	cat "$img.verify"
	return 1
}

fsck_clean() {
	e2fsck -fn "$1" >"$1.fsck" 2>&1 || { cat "$1.fsck"; return 1; }
}

test_expect_success 'mktree makes the tree and its four tarballs' '
	"$MKTREE" "$TEST_OUT" >/dev/null &&
	for f in tree.tar tree.tar.gz tree.tar.zst tree.tar.xz; do [ -s "$f" ] || return 1; done
'

test_expect_success 'built from the folder: e2fsck -fn clean, verify-image finds nothing lost' '
	"$SNAPSHOT_TREE" tree >tree.before &&
	[ "$(wc -l <tree.before)" -eq 3150 ] &&
	"$KILN" build -t none -r tree -o dir.img >dir.out &&
	"$SNAPSHOT_TREE" tree >tree.after-build &&
	cat dir.out &&
	fsck_clean dir.img &&
	verify dir.img &&
	grep "^# verify-image: ok: 3150 source paths" dir.img.verify
'

test_expect_success 'the build left the source tree exactly as it was (atimes included)' '
	test_cmp tree.before tree.after-build
'

# mktree's sparse files hold 119 MiB of apparent size, 100 MiB of it one
# file with no data at all: a 64 MiB image can hold the tree only if holes
# stay holes.
test_expect_success 'holes stay holes: the tree fits a 64 MiB image, smaller than its holes' '
	holes=$(stat -c %s tree/files/sparse tree/files/sparse-all-hole tree/files/sparse-tail | awk "{s += \$1} END {print s}") &&
	"$KILN" build -q -t none -s 64M -r tree -o small.img &&
	img=$(stat -c %s small.img) &&
	echo "sparse files: $holes bytes; image: $img bytes" &&
	[ "$img" -eq $((64 << 20)) ] && [ "$img" -lt "$holes" ] &&
	fsck_clean small.img &&
	verify small.img &&
	debugfs -R "stat /files/sparse-all-hole" small.img 2>/dev/null | grep -q "Blockcount: 0$" &&
	debugfs -R "stat /files/sparse" small.img 2>/dev/null | grep -q "Blockcount: 24$" &&
	debugfs -R "stat /files/sparse-tail" small.img 2>/dev/null | grep -q "Blockcount: 8$"
'

test_expect_success 'the largest xattr that fits a block (4040 bytes) does not turn on ea_inode' '
	! grep ea_inode dir.out &&
	! dumpe2fs -h dir.img 2>/dev/null | grep "^Filesystem features:.* ea_inode"
'

test_expect_success 'SOURCE_DATE_EPOCH: every time clamped to it (folder), the source untouched' '
	"$SNAPSHOT_TREE" tree >tree.before-clamp &&
	SOURCE_DATE_EPOCH=$CLAMP "$KILN" build -q -t none -r tree -o clamp-dir.img &&
	"$SNAPSHOT_TREE" tree >tree.after-clamp &&
	test_cmp tree.before-clamp tree.after-clamp &&
	fsck_clean clamp-dir.img &&
	verify clamp-dir.img --clamp $CLAMP
'

for v in tar tar.gz tar.zst tar.xz; do
	test_expect_success "built from tree.$v: e2fsck -fn clean, verify-image finds nothing lost" '
		"$KILN" build -q -t none -r tree.'$v' -o '$v'.img &&
		fsck_clean '$v'.img &&
		verify_tar '$v'.img
	'
done

test_expect_success 'SOURCE_DATE_EPOCH: every time clamped to it (tarball)' '
	SOURCE_DATE_EPOCH=$CLAMP "$KILN" build -q -t none -r tree.tar.zst -o clamp-tar.img &&
	fsck_clean clamp-tar.img &&
	verify_tar clamp-tar.img --clamp $CLAMP
'

test_expect_failure 'pre-1970 fractional times from a pax header (GNU tar writes -1.5; libarchive reads -0.5)' '
	[ -s tar.img.verify ] && cat tar.img.verify &&
	! grep -E "$NEG_TIME" tar.img.verify
'

# Values past a block need ea_inode (each value in an inode of its own); the
# host filesystem cannot hold them, so only a tarball can carry them.
test_expect_success 'a tarball with xattr values > 4 KiB (pax SCHILY.xattr) builds' '
	/usr/bin/python3 - <<-\EOF &&
	import io, tarfile
	vals = {"huge-8k": "".join("%06d:" % i for i in range(1200))[:8000],
	        "huge-64k": "".join("%07d," % i for i in range(9000))[:65536]}
	with tarfile.open("bigxattr.tar", "w", format=tarfile.PAX_FORMAT) as t:
	    d = tarfile.TarInfo("."); d.type = tarfile.DIRTYPE; d.mode = 0o755; d.mtime = 1700000000
	    t.addfile(d)
	    for name, val in sorted(vals.items()):
	        data = name.encode() + b"\n"
	        f = tarfile.TarInfo("./" + name); f.size = len(data); f.mode = 0o644; f.mtime = 1700000000
	        f.pax_headers = {"SCHILY.xattr.user.huge": val, "SCHILY.xattr.user.small": "s"}
	        t.addfile(f, io.BytesIO(data))
	        open(name + ".val", "w").write(val)
	EOF
	"$KILN" build -t none -r bigxattr.tar -o bigxattr.img >bigxattr.out &&
	cat bigxattr.out &&
	grep -q "^  note: " bigxattr.out && grep -q "ea_inode" bigxattr.out &&
	dumpe2fs -h bigxattr.img 2>/dev/null | grep -q "^Filesystem features:.* ea_inode"
'

test_expect_success 'the values read back whole (debugfs ea_get), the small one beside them too' '
	for f in huge-8k huge-64k; do
		debugfs -R "ea_get -f $f.got /$f user.huge" bigxattr.img 2>/dev/null &&
		cmp $f.val $f.got &&
		[ "$(debugfs -R "ea_get -V /$f user.small" bigxattr.img 2>/dev/null)" = s ] || return 1
	done &&
	[ "$(wc -c <huge-64k.got)" -eq 65536 ]
'

test_expect_success 'the image with ea_inode values is e2fsck -fn clean' '
	fsck_clean bigxattr.img
'

# The spool: tarball data in memory (default: up to a quarter of RAM), in an
# unlinked file (0), or both (64K: the first 64 KiB in memory).  Same output
# name in three folders, so the metadata files must match too.
test_expect_success 'KILN_SPOOL_MEMORY=0 and =64K give the same image as the default' '
	mkdir sp-default sp-0 sp-64k &&
	SOURCE_DATE_EPOCH=1700000000 "$KILN" build -q -t none -r tree.tar.zst -o sp-default/root.img &&
	SOURCE_DATE_EPOCH=1700000000 KILN_SPOOL_MEMORY=0 \
		"$KILN" build -q -t none -r tree.tar.zst -o sp-0/root.img &&
	SOURCE_DATE_EPOCH=1700000000 KILN_SPOOL_MEMORY=64K \
		"$KILN" build -q -t none -r tree.tar.zst -o sp-64k/root.img &&
	for d in sp-0 sp-64k; do
		for f in root.img root.img.json root.img.kiln.json; do
			cmp sp-default/$f $d/$f || return 1
		done &&
		[ "$(ls -A $d | tr "\n" " ")" = "root.img root.img.json root.img.kiln.json " ] || return 1
	done &&
	fsck_clean sp-0/root.img
'

test_done
