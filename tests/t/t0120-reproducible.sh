#!/bin/bash
# SOURCE_DATE_EPOCH makes builds reproducible: two builds of the same rootfs
# (folder or tarball), with -t none and with the bootable gpt and mbr layouts,
# give cmp-identical images, .json and .kiln.json.  The same tree made again
# a second later (other inode numbers, other ctimes, other readdir order) is
# the same rootfs and gives the same image too.  Without SOURCE_DATE_EPOCH the
# filesystem UUIDs differ from build to build.
#
# The rootfs is mktree's synthetic tree plus a small file named like a kernel
# (/boot/vmlinuz-6.1.0-kiln-test): enough for kiln to make a bootable layout
# (GRUB from the build host, grub.cfg, fstab), not enough to boot, which is
# not tried here.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq ROOT || skip_all "needs root (mktree: mknod, chown, trusted.* xattrs)"
test_have_prereq KILN || skip_all "kiln is not built (make)"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
test_have_prereq GRUB_BIOS,GRUB_EFI && test_set_prereq GPT
test_have_prereq GRUB_BIOS && test_set_prereq MBR

EPOCH=1700000000

# same_build A B: A/disk.img and B/disk.img, with their metadata, are identical.
same_build() {
	local f
	for f in disk.img disk.img.json disk.img.kiln.json; do
		cmp "$1/$f" "$2/$f" || return 1
	done
}

# fs_uuid IMAGE: the UUID in the superblock of IMAGE's root filesystem
# (found at the root partition's offset in IMAGE.kiln.json), checked against
# what IMAGE.kiln.json says.
fs_uuid() {
	/usr/bin/python3 - "$1" <<-\EOF
	import json, sys, uuid
	img = sys.argv[1]
	meta = json.load(open(img + ".kiln.json"))
	off = [p["start"] for p in meta.get("partitions", []) if p["role"] == "root"] or [0]
	with open(img, "rb") as f:
	    f.seek(off[0] + 1024)
	    sb = f.read(1024)
	assert sb[0x38:0x3a] == b"\x53\xef", "no ext4 superblock at %d" % off[0]
	u = str(uuid.UUID(bytes=sb[0x68:0x78]))
	assert u == meta["filesystem"]["uuid"], "superblock %s, kiln.json %s" % (u, meta["filesystem"]["uuid"])
	print(u)
	EOF
}

# digest_ok IMAGE: the sha256 in IMAGE.kiln.json is the image's.
digest_ok() {
	[ "$(sha256sum <"$1" | cut -d" " -f1)" = "$(sed -n 's/^ *"sha256": "\(.*\)",*$/\1/p' "$1.kiln.json")" ]
}

# add_kernel TREE: the kernel-named file, times set as mktree sets them.
add_kernel() {
	mkdir "$1/boot" &&
	printf "not a kernel, only its name\n" >"$1/boot/vmlinuz-6.1.0-kiln-test" &&
	touch -d @$((EPOCH - 3600)) "$1/boot/vmlinuz-6.1.0-kiln-test" "$1/boot" "$1"
}

test_expect_success 'the rootfs: mktree and a kernel-named file, made twice; a tarball' '
	"$MKTREE" "$TEST_OUT" >/dev/null &&
	add_kernel tree &&
	sleep 1 &&
	mkdir again && "$MKTREE" again >/dev/null && mv again/tree copy && rm -rf again &&
	add_kernel copy &&
	tar -C tree -cf tree-boot.tar --format=posix --xattrs --xattrs-include="*" --acls --numeric-owner \
		--sparse --sort=name --atime-preserve=system . &&
	[ "$(stat -c %i tree/files/big)" != "$(stat -c %i copy/files/big)" ]
'

test_expect_success 'folder, -t none: two builds are identical' '
	mkdir none-a none-b none-copy &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q --digest -t none -r tree -o none-a/disk.img &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q --digest -t none -r tree -o none-b/disk.img &&
	same_build none-a none-b &&
	digest_ok none-a/disk.img &&
	e2fsck -fn none-a/disk.img
'

test_expect_success 'folder, -t none: the same tree made again later gives the same image' '
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q --digest -t none -r copy -o none-copy/disk.img &&
	same_build none-a none-copy
'

test_expect_success 'tarball, -t none: two builds are identical' '
	mkdir tar-a tar-b &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -t none -r tree-boot.tar -o tar-a/disk.img &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -t none -r tree-boot.tar -o tar-b/disk.img &&
	same_build tar-a tar-b
'

test_expect_success GPT 'folder, gpt (the default): two builds are identical' '
	mkdir gpt-a gpt-b &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build --digest -r tree -o gpt-a/disk.img >gpt-a.out &&
	cat gpt-a.out &&
	grep -q "partition table: gpt" gpt-a.out &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q --digest -r tree -o gpt-b/disk.img &&
	same_build gpt-a gpt-b &&
	digest_ok gpt-a/disk.img
'

test_expect_success GPT 'tarball, gpt: two builds are identical' '
	mkdir gpt-tar-a gpt-tar-b &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -r tree-boot.tar -o gpt-tar-a/disk.img &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -r tree-boot.tar -o gpt-tar-b/disk.img &&
	same_build gpt-tar-a gpt-tar-b
'

test_expect_success MBR 'folder, mbr: two builds are identical' '
	mkdir mbr-a mbr-b &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -t mbr -r tree -o mbr-a/disk.img &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -t mbr -r tree -o mbr-b/disk.img &&
	same_build mbr-a mbr-b
'

test_expect_success 'without SOURCE_DATE_EPOCH: the filesystem UUIDs differ (-t none)' '
	mkdir rand-a rand-b &&
	(unset SOURCE_DATE_EPOCH && "$KILN" build -q -t none -r tree -o rand-a/disk.img) &&
	(unset SOURCE_DATE_EPOCH && "$KILN" build -q -t none -r tree -o rand-b/disk.img) &&
	a=$(fs_uuid rand-a/disk.img) && b=$(fs_uuid rand-b/disk.img) &&
	echo "$a $b" && [ "$a" != "$b" ] &&
	[ "$a" != "$(fs_uuid none-a/disk.img)" ] &&
	! cmp -s rand-a/disk.img rand-b/disk.img
'

test_expect_success GPT 'without SOURCE_DATE_EPOCH: the filesystem UUIDs differ (gpt)' '
	mkdir rand-gpt-a rand-gpt-b &&
	(unset SOURCE_DATE_EPOCH && "$KILN" build -q -r tree -o rand-gpt-a/disk.img) &&
	(unset SOURCE_DATE_EPOCH && "$KILN" build -q -r tree -o rand-gpt-b/disk.img) &&
	a=$(fs_uuid rand-gpt-a/disk.img) && b=$(fs_uuid rand-gpt-b/disk.img) &&
	echo "$a $b" && [ "$a" != "$b" ] &&
	! cmp -s rand-gpt-a/disk.img.kiln.json rand-gpt-b/disk.img.kiln.json
'

test_done
