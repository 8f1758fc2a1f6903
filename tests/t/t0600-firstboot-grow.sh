#!/bin/bash
# First boot on a bigger disk than the image, as when an AMI is launched with
# a larger root volume: kiln-init grows the root partition to the end of the
# disk (GPT rewrite + BLKPG) and ext4 online, and the next boot grows
# nothing.  The demo image (busybox) is built at 1 GiB, copied and grown to
# 4 GiB, then to a 1 TiB sparse file, and booted writable under QEMU (TCG,
# SeaBIOS, NVMe).  The oracles are the demo init's '=== root size' line (df
# inside the guest: 4 GiB less the 128 MiB before the root partition and
# ext4's inode tables and journal, about 3.79 GiB), sgdisk -v, e2fsck -fn, sfdisk and dumpe2fs on the image
# after the guest powered off.  Console logs stay in tests/out on failure.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage sgdisk sfdisk debugfs e2fsck dumpe2fs
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
export SOURCE_DATE_EPOCH=1700000000
UUID=06000000-0000-4000-8000-000000000001

# grows_fs IMG: ext4 fills the root partition (whole blocks).
grows_fs() {
	local bs count part
	bs=$(dumpe2fs -h "$(root_e2 "$1")" 2>/dev/null | sed -n 's/^Block size: *//p') &&
	count=$(dumpe2fs -h "$(root_e2 "$1")" 2>/dev/null | sed -n 's/^Block count: *//p') &&
	part=$(( $(sf_part "$1" "$GUID_ROOT_X86_64" size) * 512 )) || return 1
	echo "ext4: $count blocks of $bs, partition $part bytes"
	[ "$count" -eq $((part / bs)) ]
}

test_expect_success 'the demo image builds at 1 GiB' '
	make_demo_rootfs root &&
	"$KILN" build -q -r root -o demo.raw -s 1G &&
	[ "$(stat -c %s demo.raw)" -eq $((1 << 30)) ] &&
	sgdisk -v demo.raw | grep -q "^No problems found"
'

test_expect_success 'a copy grown to 4 GiB boots; the root reports about 4 GiB' '
	cp --sparse=always demo.raw 4g.raw &&
	qemu-img resize -q -f raw 4g.raw 4G &&
	"$BOOT" -w -e -t 120 -u $UUID -l 4g-boot1.log 4g.raw &&
	console 4g-boot1.log | grep -E "^(task|growpart|resizefs|kiln-init|instance|===)" &&
	check_root_size 4g-boot1.log 4g.raw &&
	kib=$(console 4g-boot1.log | sed -n "s/^=== root size: \([0-9]*\) KiB\$/\1/p") &&
	[ "$kib" -gt $(( 37 * 1024 * 1024 / 10 )) ]
'

test_expect_success 'kiln-init logged growpart and resizefs ok, and a first boot' '
	console 4g-boot1.log | grep -Eq "^task growpart: ok in [0-9]+ ms\$" &&
	console 4g-boot1.log | grep -Eq "^growpart: /dev/nvme0n1 partition 1: [0-9]+ -> [0-9]+ sectors\$" &&
	console 4g-boot1.log | grep -Eq "^task resizefs: ok in [0-9]+ ms\$" &&
	console 4g-boot1.log | grep -Eq "^kiln-init: first boot finished in [0-9]+ ms\$" &&
	! console 4g-boot1.log | grep -E "FAILED|kiln-init: emergency"
'

test_expect_success 'after power-off: sgdisk -v and e2fsck -fn clean, root ends at the last usable LBA' '
	check_disk 4g.raw &&
	[ "$(sf_table 4g.raw lastlba)" -eq $(( (4 << 30) / 512 - 34 )) ] &&
	grows_fs 4g.raw
'

test_expect_success 'kiln-init wrote its log into the root' '
	debugfs -R "cat /var/log/kiln-init.log" "$(root_e2 4g.raw)" >kiln-init.log 2>/dev/null &&
	grep -q "^task growpart: ok" kiln-init.log &&
	grep -q "^task resizefs: ok" kiln-init.log
'

test_expect_success 'a second boot grows nothing and still boots' '
	sfdisk -d 4g.raw >table.before &&
	"$BOOT" -w -e -t 120 -u $UUID -l 4g-boot2.log 4g.raw &&
	console 4g-boot2.log | grep -E "^(task|growpart|resizefs|kiln-init|instance|===)" &&
	console 4g-boot2.log | grep -Eq "^task growpart: ok in [0-9]+ ms \(nothing to do\)\$" &&
	console 4g-boot2.log | grep -Eq "^kiln-init: boot finished in [0-9]+ ms\$" &&
	! console 4g-boot2.log | grep -E "FAILED|first boot" &&
	check_root_size 4g-boot2.log 4g.raw &&
	sfdisk -d 4g.raw >table.after &&
	test_cmp table.before table.after &&
	check_disk 4g.raw
'

test_expect_success 'the second boot: resizefs has nothing to do either' '
	console 4g-boot2.log | grep -Eq "^task resizefs: ok in [0-9]+ ms \(nothing to do\)\$" &&
	! console 4g-boot2.log | grep -q "^resizefs: "
'

test_expect_success 'a 1 TiB sparse disk: the root grows to about 1 TiB, the file stays sparse' '
	cp --sparse=always demo.raw 1t.raw &&
	qemu-img resize -q -f raw 1t.raw 1T &&
	"$BOOT" -w -e -t 240 -u $UUID -l 1t-boot1.log 1t.raw &&
	console 1t-boot1.log | grep -E "^(task|growpart|resizefs|kiln-init|instance|===)" &&
	console 1t-boot1.log | grep -Eq "^task growpart: ok in [0-9]+ ms\$" &&
	console 1t-boot1.log | grep -Eq "^task resizefs: ok in [0-9]+ ms\$" &&
	check_root_size 1t-boot1.log 1t.raw &&
	kib=$(console 1t-boot1.log | sed -n "s/^=== root size: \([0-9]*\) KiB\$/\1/p") &&
	[ $((kib * 100)) -gt $((95 << 30)) ] &&
	[ "$(stat -c %s 1t.raw)" -eq $((1 << 40)) ] &&
	du -k 1t.raw &&
	[ "$(du -k 1t.raw | cut -f1)" -lt $((256 * 1024)) ]
'

test_expect_success 'the 1 TiB disk: sgdisk -v and e2fsck -fn clean, root ends at the last usable LBA' '
	check_disk 1t.raw &&
	[ "$(sf_table 1t.raw lastlba)" -eq $(( (1 << 40) / 512 - 34 )) ] &&
	grows_fs 1t.raw
'

test_done
