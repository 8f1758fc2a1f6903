#!/bin/bash
# The root is checked before anything writes to it (kiln-init(8), step 6):
# kiln-init mounts it read-only first, remounts it read-write for the tasks
# only when its ext4 superblock says it may, runs the initramfs's e2fsck -p
# (the rootfs's own, with its libraries) on a root marked with errors or not
# cleanly unmounted, and otherwise leaves the disk alone and hands the root
# over read-only.  And the kernel's arguments for init reach the real init.
#
# The demo image (busybox, no e2fsck) and a copy of its rootfs with this
# host's e2fsck and its libraries added boot under QEMU (TCG, SeaBIOS, NVMe).
# The oracles are the console, and the image file read after power-off with
# e2fsprogs: debugfs for /var/log/kiln-init.log and
# /var/lib/kiln/instance-id, dumpe2fs -h for the filesystem state, cpio for
# the initramfs's files.  The demo init prints "=== init args: $*".
# Console logs stay in tests/out on failure.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
need_cmd qemu-system-x86_64 sgdisk sfdisk debugfs e2fsck dumpe2fs zstd cpio ldd cmp
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
export SOURCE_DATE_EPOCH=1700000000
UUID1=06400000-0000-4000-8000-000000000001
UUID2=06400000-0000-4000-8000-000000000002
DEV=/dev/nvme0n1p1

# e2 IMG: the root file system as e2fsprogs name it.
e2() { root_e2 "$1"; }
# fs_state IMG: dumpe2fs -h's "Filesystem state:".
fs_state() { dumpe2fs -h "$(e2 "$1")" 2>/dev/null | sed -n 's/^Filesystem state: *//p'; }
# disk_file IMG PATH OUT: a file of the root, read with debugfs ("" when absent).
disk_file() { debugfs -R "cat $2" "$(e2 "$1")" >"$3" 2>/dev/null; }
# kiln_lines LOG: kiln-init's lines and the demo's.
kiln_lines() { console "$1" | grep -E "^(task|fsck|root|init|instance|kiln-init|growpart|resizefs|===)"; }
# line_no LOG REGEX: the number of the first console line matching REGEX.
line_no() { console "$1" | grep -nE "$2" | head -n 1 | cut -d: -f1; }
# initrd_files IMG DIR: the image's kiln initramfs unpacked into DIR, its
# list in DIR.list.
initrd_files() {
	local kver
	kver=$(debugfs -R "ls -p /boot" "$(e2 "$1")" 2>/dev/null | awk -F/ '$6 ~ /^kiln-initrd-/ { print $6 }') &&
	rm -rf "$2" && mkdir "$2" &&
	debugfs -R "dump /boot/$kver $2.zst" "$(e2 "$1")" 2>/dev/null &&
	zstd -q -d -c "$2.zst" >"$2.cpio" &&
	(cd "$2" && cpio -i -d --quiet <"../$2.cpio") &&
	cpio -i -t --quiet <"$2.cpio" | sort >"$2.list"
}
# add_e2fsck ROOT: this host's e2fsck into ROOT/sbin, with the libraries and
# loader ldd names at their paths; a symlink among them is copied as a
# symlink, with its target (one level) in ROOT too, as a distribution lays
# them out (libext2fs.so.2 -> libext2fs.so.2.4; /lib64/ld-linux-x86-64.so.2
# -> /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2).
add_e2fsck() {
	local root=$1 f t dst
	mkdir -p "$root/sbin" && cp -L /sbin/e2fsck "$root/sbin/e2fsck" || return 1
	for f in $(ldd /sbin/e2fsck | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
		mkdir -p "$root$(dirname "$f")" && cp -P "$f" "$root$f" || return 1
		if [ -L "$f" ]; then
			t=$(readlink "$f")
			case $t in /*) dst=$root$t ;; *) dst=$root$(dirname "$f")/$t ;; esac
			mkdir -p "$(dirname "$dst")" && cp -L "$f" "$dst" || return 1
		fi
	done
}

test_expect_success 'the demo image builds at 1 GiB; kernel, initrd and command line taken out' '
	make_demo_rootfs root &&
	"$KILN" build -q -r root -o demo.raw -s 1G &&
	cp --sparse=always demo.raw pristine.raw &&
	debugfs -R "cat /boot/grub/grub.cfg" "$(e2 demo.raw)" >grub.cfg 2>/dev/null &&
	kernel=$(awk "\$1 == \"linux\" { print \$2; exit }" grub.cfg) &&
	initrd=$(awk "\$1 == \"initrd\" { print \$2; exit }" grub.cfg) &&
	cmdline=$(awk "\$1 == \"linux\" { \$1 = \"\"; \$2 = \"\"; sub(/^ +/, \"\"); print; exit }" grub.cfg) &&
	echo "kernel $kernel initrd $initrd cmdline $cmdline" &&
	case $cmdline in root=PARTUUID=*) ;; *) false ;; esac &&
	debugfs -R "dump $kernel vmlinuz" "$(e2 demo.raw)" 2>/dev/null &&
	debugfs -R "dump $initrd initrd" "$(e2 demo.raw)" 2>/dev/null &&
	[ -s vmlinuz ] && [ -s initrd ] &&
	initrd_files demo.raw demo.initrd &&
	! grep -q e2fsck demo.initrd.list
'

# (1) A normal first boot: read-only first, then read-write for the tasks,
# which all ran; the log is on the disk; the init gets the root read-only.
test_expect_success 'first boot: the root is mounted read-only first, then read-write for the tasks' '
	"$BOOT" -w -e -t 180 -u $UUID1 -l boot1.log demo.raw &&
	kiln_lines boot1.log &&
	ro=$(line_no boot1.log "^root: $DEV mounted read-only on /newroot\$") &&
	rw=$(line_no boot1.log "^root: $DEV remounted read-write for the tasks\$") &&
	inst=$(line_no boot1.log "^instance $UUID1 \\(new: first boot\\)") &&
	resize=$(line_no boot1.log "^task resizefs: ok") &&
	fsck=$(line_no boot1.log "^fsck: $DEV is clean\$") &&
	echo "fsck $fsck, read-only $ro, read-write $rw, instance $inst, resizefs $resize" &&
	[ "$fsck" -lt "$ro" ] && [ "$ro" -lt "$rw" ] && [ "$rw" -lt "$inst" ] && [ "$inst" -lt "$resize" ] &&
	console boot1.log | grep -Eq "^kiln-init: first boot finished in [0-9]+ ms\$" &&
	console boot1.log | grep -Eq "^=== root: $DEV / ext4 ro," &&
	console boot1.log | grep -q "^=== kiln demo: boot ok" &&
	! console boot1.log | grep -E "FAILED|NOT writing"
'

test_expect_success 'first boot: its log and the instance are on the disk, e2fsck -fn is clean' '
	disk_file demo.raw /var/log/kiln-init.log log1 &&
	grep -q "^root: $DEV mounted read-only on /newroot\$" log1 &&
	grep -q "^root: $DEV remounted read-write for the tasks\$" log1 &&
	disk_file demo.raw /var/lib/kiln/instance-id id1 &&
	[ "$(cat id1)" = $UUID1 ] &&
	[ "$(fs_state demo.raw)" = clean ] &&
	e2fsck -fn "$(e2 demo.raw)"
'

# (2) The errors flag, and no e2fsck in the initramfs: a new instance, yet
# nothing is written: not the log, not the instance record.
test_expect_success 'errors flag set, no e2fsck: kiln-init says it will not write, and the boot goes on read-only' '
	debugfs -w -R "ssv state 2" "$(e2 demo.raw)" &&
	[ "$(fs_state demo.raw)" = "not clean with errors" ] &&
	cp log1 log.before &&
	"$BOOT" -w -e -t 180 -u $UUID2 -l boot2.log demo.raw &&
	kiln_lines boot2.log &&
	console boot2.log | grep -q "^kiln-init: NOT writing to the root: $DEV is marked with errors (state 0x0002), and this initramfs has no e2fsck (the rootfs has none), so fsck was not possible; skipping growpart, resizefs, userdata, network, sshkeys, the instance record and /var/log/kiln-init.log, and handing the root over read-only\$" &&
	[ "$(console boot2.log | grep -c "NOT writing")" = 1 ] &&
	console boot2.log | grep -q "^root: $DEV mounted read-only on /newroot\$" &&
	! console boot2.log | grep -E "^(task (growpart|resizefs|userdata|network|sshkeys)|instance |root: .* read-write)" &&
	console boot2.log | grep -Eq "^kiln-init: boot finished in [0-9]+ ms \\(the root was not written, see above\\)\$" &&
	console boot2.log | grep -Eq "^=== root: $DEV / ext4 ro," &&
	console boot2.log | grep -q "^=== kiln demo: boot ok"
'

test_expect_success 'errors flag set: the log is not appended, the instance not recorded, the flag still set' '
	disk_file demo.raw /var/log/kiln-init.log log.after &&
	test_cmp log.before log.after &&
	disk_file demo.raw /var/lib/kiln/instance-id id2 &&
	[ "$(cat id2)" = $UUID1 ] &&
	[ "$(fs_state demo.raw)" = "not clean with errors" ]
'

# (3) The kernel's arguments for init: bare words the kernel does not take
# for itself, and everything after "--".
test_expect_success 'single on the command line reaches the image'"'"'s init, and what follows --' '
	"$BOOT" -t 180 -u $UUID1 -k vmlinuz -i initrd -a "$cmdline single -- emergency x=1" -l boot3.log pristine.raw &&
	kiln_lines boot3.log &&
	console boot3.log | grep -q "^init: /sbin/init with the kernel'"'"'s arguments for init: single emergency x=1\$" &&
	console boot3.log | grep -q "^=== init args: single emergency x=1\$"
'

test_expect_success 'without init arguments the init gets none' '
	console boot1.log | grep -q "^=== init args: \$" &&
	! console boot1.log | grep -q "^init: "
'

# (4) e2fsck in the initramfs, from the rootfs.
test_expect_success 'a rootfs with e2fsck: the initramfs carries it, its libraries and loader, byte for byte' '
	rm -rf rootf && cp -a root rootf &&
	add_e2fsck rootf &&
	"$KILN" build -r rootf -o fsck.raw -s 1G >build.out &&
	cat build.out &&
	grep -Eq "^ +.*e2fsck: /sbin/e2fsck, with [0-9]+ more files" build.out &&
	initrd_files fsck.raw fsck.initrd &&
	grep -x -e sbin/e2fsck -e lib64/ld-linux-x86-64.so.2 -e "lib/x86_64-linux-gnu/lib.*" fsck.initrd.list &&
	cmp fsck.initrd/sbin/e2fsck /sbin/e2fsck &&
	cmp fsck.initrd/lib64/ld-linux-x86-64.so.2 /lib64/ld-linux-x86-64.so.2 &&
	for f in $(ldd /sbin/e2fsck | awk "\$2 == \"=>\" && \$3 ~ /^\\// { print \$3 }"); do
		cmp "fsck.initrd${f#/usr}" "$f" || return 1
	done &&
	[ "$(stat -c %a fsck.initrd/sbin/e2fsck)" = 755 ]
'

test_expect_success 'e2fsck: a clean root is not checked; the first boot writes as usual' '
	"$BOOT" -w -e -t 180 -u $UUID1 -l fboot1.log fsck.raw &&
	kiln_lines fboot1.log &&
	console fboot1.log | grep -q "^fsck: $DEV is clean\$" &&
	! console fboot1.log | grep -q "running e2fsck" &&
	console fboot1.log | grep -q "^root: $DEV remounted read-write for the tasks\$" &&
	console fboot1.log | grep -q "^=== kiln demo: boot ok" &&
	disk_file fsck.raw /var/log/kiln-init.log flog1 &&
	grep -q "^fsck: $DEV is clean\$" flog1
'

test_expect_success 'e2fsck: the errors flag set, e2fsck -p -f corrects it, and the boot writes' '
	debugfs -w -R "ssv state 2" "$(e2 fsck.raw)" &&
	"$BOOT" -w -e -t 240 -u $UUID2 -l fboot2.log fsck.raw &&
	kiln_lines fboot2.log &&
	console fboot2.log | grep -q "^fsck: $DEV is marked with errors (state 0x0002): running e2fsck -p -f $DEV\$" &&
	console fboot2.log | grep -Eq "^fsck: e2fsck -p $DEV: exit status [01] \\((clean|errors corrected)\\) after [0-9]+ ms\$" &&
	! console fboot2.log | grep -q "NOT writing" &&
	console fboot2.log | grep -q "^root: $DEV remounted read-write for the tasks\$" &&
	console fboot2.log | grep -q "^instance $UUID2 (new: first boot)" &&
	console fboot2.log | grep -q "^=== kiln demo: boot ok" &&
	[ "$(fs_state fsck.raw)" = clean ] &&
	disk_file fsck.raw /var/log/kiln-init.log flog2 &&
	grep -q "^fsck: e2fsck -p $DEV: exit status" flog2 &&
	disk_file fsck.raw /var/lib/kiln/instance-id fid2 &&
	[ "$(cat fid2)" = $UUID2 ]
'

test_expect_success 'e2fsck: a root not cleanly unmounted is checked with e2fsck -p, then written' '
	debugfs -w -R "ssv state 0" "$(e2 fsck.raw)" &&
	[ "$(fs_state fsck.raw)" = "not clean" ] &&
	"$BOOT" -w -e -t 240 -u $UUID2 -l fboot3.log fsck.raw &&
	kiln_lines fboot3.log &&
	console fboot3.log | grep -q "^fsck: $DEV is not cleanly unmounted (state 0x0000): running e2fsck -p $DEV\$" &&
	console fboot3.log | grep -Eq "^fsck: e2fsck -p $DEV: exit status [01] " &&
	console fboot3.log | grep -q "^root: $DEV remounted read-write for the tasks\$" &&
	console fboot3.log | grep -q "^=== kiln demo: boot ok" &&
	[ "$(fs_state fsck.raw)" = clean ]
'

# Two files sharing a block (/etc/passwd's first extent, i_block[3..5],
# made to start at /etc/group's block): e2fsck -p stops ("UNEXPECTED
# INCONSISTENCY; RUN fsck MANUALLY"), exit status 4.
test_expect_success 'e2fsck: errors e2fsck -p cannot correct: exit status 4, nothing written, the root read-only' '
	blk=$(debugfs -R "blocks /etc/group" "$(e2 fsck.raw)" 2>/dev/null | awk "{ print \$1 }") &&
	[ -n "$blk" ] &&
	debugfs -w -R "sif /etc/passwd block[5] $blk" "$(e2 fsck.raw)" &&
	debugfs -w -R "ssv state 2" "$(e2 fsck.raw)" &&
	disk_file fsck.raw /var/log/kiln-init.log flog.before &&
	"$BOOT" -w -e -t 240 -u $UUID1 -l fboot4.log fsck.raw &&
	kiln_lines fboot4.log &&
	console fboot4.log | grep -Eq "^fsck: e2fsck -p $DEV: exit status 4 \\(errors left uncorrected\\)" &&
	console fboot4.log | grep -q "^kiln-init: NOT writing to the root: e2fsck -p $DEV exited with 4 (errors left uncorrected); skipping" &&
	! console fboot4.log | grep -E "^(task (growpart|resizefs|userdata|network|sshkeys)|instance |root: .* read-write)" &&
	console fboot4.log | grep -Eq "^=== root: $DEV / ext4 ro," &&
	console fboot4.log | grep -q "^=== kiln demo: boot ok" &&
	disk_file fsck.raw /var/log/kiln-init.log flog.after &&
	test_cmp flog.before flog.after &&
	disk_file fsck.raw /var/lib/kiln/instance-id fid4 &&
	[ "$(cat fid4)" = $UUID2 ]
'

test_done
