#!/bin/bash
# Power cuts during first boot: kiln.test_crash=TASK:N makes kiln-init reboot
# at once (no sync) after the Nth write of TASK, and QEMU, run with
# -no-reboot, exits there.  For every write of the GPT grow (as many as
# there are: N counts up until a boot goes through uncut), right after the
# online ext4 resize, and after the first SSH host key pair, the next normal
# boot (through GRUB) must complete: root at about 4 GiB, sgdisk -v and
# e2fsck -fn clean, the root partition at the end of the disk, and only
# valid key pairs in /etc/ssh.
#
# The crash boots load the image's own kernel and kiln initramfs directly
# (-kernel/-initrd, taken out with debugfs) with grub.cfg's command line.
# QEMU's writable drive keeps every write the guest issued to the device
# (cache=unsafe writes to the host page cache): a cut loses what the guest
# still held in its own cache, not what a real disk might lose from its
# volatile cache.  Console logs stay in tests/out on failure.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage sgdisk sfdisk debugfs e2fsck ssh-keygen
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
export SOURCE_DATE_EPOCH=1700000000
UUID=06300000-0000-4000-8000-000000000001
MAX_GROW_WRITES=12

test_expect_success 'the demo image (with /etc/ssh) builds at 1 GiB; kernel, initrd, command line taken out' '
	make_demo_rootfs root &&
	mkdir root/etc/ssh &&
	"$KILN" build -q -r root -o demo.raw -s 1G &&
	cp --sparse=always demo.raw base.raw &&
	qemu-img resize -q -f raw base.raw 4G &&
	debugfs -R "cat /boot/grub/grub.cfg" "$(root_e2 base.raw)" >grub.cfg 2>/dev/null &&
	kernel=$(awk "\$1 == \"linux\" { print \$2; exit }" grub.cfg) &&
	initrd=$(awk "\$1 == \"initrd\" { print \$2; exit }" grub.cfg) &&
	cmdline=$(awk "\$1 == \"linux\" { \$1 = \"\"; \$2 = \"\"; sub(/^ +/, \"\"); print; exit }" grub.cfg) &&
	echo "kernel $kernel initrd $initrd cmdline $cmdline" &&
	case $initrd in /boot/kiln-initrd-*) ;; *) false ;; esac &&
	case $cmdline in root=PARTUUID=*) ;; *) false ;; esac &&
	debugfs -R "dump $kernel vmlinuz" "$(root_e2 base.raw)" 2>/dev/null &&
	debugfs -R "dump $initrd initrd" "$(root_e2 base.raw)" 2>/dev/null &&
	[ -s vmlinuz ] && [ -s initrd ]
'

# crash_boot TASK N: a fresh copy of base.raw, booted directly with the cut;
# sets $img and $cut (1 when the console shows the cut, 0 when the boot went
# through).  Fails when QEMU did not exit, or a cut boot went on.
crash_boot() {
	local task=$1 n=$2 log=crash-$1-$2.log
	img=$1-$2.raw
	cp --sparse=always base.raw "$img" &&
	"$BOOT" -w -e -t 120 -u $UUID -k vmlinuz -i initrd -a "$cmdline kiln.test_crash=$task:$n" \
		-m "kiln.test_crash: cutting the power in $task after write $n" -l "$log" "$img"
	if console "$log" | grep -q "^kiln.test_crash: cutting the power in $task after write $n\$"; then
		cut=1
		console "$log" | grep -E "^(task|growpart|resizefs|instance|kiln)" &&
		# The cut is the last thing kiln-init did, and the kernel restarted.
		[ "$(console "$log" | grep -E "^(task |growpart|resizefs|instance |kiln)" | tail -n 1)" = \
			"kiln.test_crash: cutting the power in $task after write $n" ] &&
		console "$log" | grep -q "reboot: Restarting system" &&
		! console "$log" | grep -q "=== kiln demo" || {
			echo "crash_boot: the boot went on after the cut" >&2
			return 1
		}
		echo "sgdisk -v right after the cut:" && { sgdisk -v "$img" || true; }
	else
		cut=0
		console "$log" | grep -q "^=== kiln demo: boot ok" || {
			echo "crash_boot: no cut and no complete boot:" >&2
			console "$log" | tail -n 30 >&2
			return 1
		}
	fi
}

# recover TASK N: the next normal boot, through GRUB, completes and leaves
# a clean disk.
recover() {
	local log=recover-$1-$2.log
	"$BOOT" -w -e -t 120 -u $UUID -l "$log" "$img" &&
	console "$log" | grep -E "^(task|growpart|resizefs|instance|kiln|===)" &&
	! console "$log" | grep -E "FAILED|emergency|kiln.test_crash" &&
	console "$log" | grep -q "^=== kiln demo: boot ok" &&
	check_root_size "$log" "$img" &&
	kib=$(console "$log" | sed -n "s/^=== root size: \([0-9]*\) KiB\$/\1/p") &&
	[ "$kib" -gt $(( 37 * 1024 * 1024 / 10 )) ] &&
	check_disk "$img"
}

# ssh_state LOG: the key files in the image are ecdsa and ed25519 pairs,
# valid, and those the console (LOG) announced.
ssh_state() {
	dump_ssh "$img" "dump-$img" &&
	ls -l "dump-$img/ssh" &&
	check_keypairs "dump-$img/ssh" &&
	(cd "dump-$img/ssh" && ls ssh_host_*) >files &&
	printf "%s\n" ssh_host_ecdsa_key ssh_host_ecdsa_key.pub ssh_host_ed25519_key ssh_host_ed25519_key.pub >files.want &&
	test_cmp files.want files &&
	check_key_modes "$img" &&
	console_block "$1" FINGERPRINTS | sort >fp.console &&
	key_fingerprints "dump-$img/ssh" | test_cmp - fp.console
}

grow_writes=
n=1
while [ -z "$grow_writes" ] && [ $n -le $MAX_GROW_WRITES ]; do
	test_expect_success "growpart:$n: a cut after GPT write $n (or a whole boot past the last), then a clean boot" '
		crash_boot growpart $n &&
		if [ $cut = 1 ]; then
			recover growpart $n
		else
			grow_writes=$((n - 1)) &&
			echo "no write $n: a GPT grow makes $grow_writes writes" &&
			check_root_size crash-growpart-$n.log "$img" &&
			check_disk "$img"
		fi
	'
	# No cut seen: past the last write (or broken before it); stop.
	[ -f "crash-growpart-$n.log" ] && console "crash-growpart-$n.log" | grep -q "cutting the power" || break
	n=$((n + 1))
done

test_expect_success 'every write of the GPT grow was cut once (at least three: backup, header, ...)' '
	echo "GPT grow writes: ${grow_writes:-unknown}" &&
	[ -n "$grow_writes" ] && [ "$grow_writes" -ge 3 ]
'

test_expect_success 'resizefs:1: a cut right after the online resize, then a clean boot' '
	crash_boot resizefs 1 &&
	[ $cut = 1 ] &&
	console crash-resizefs-1.log | grep -q "^task growpart: ok" &&
	recover resizefs 1
'

test_expect_success 'sshkeys:1: a cut after the first key pair, then a clean boot with valid pairs' '
	crash_boot sshkeys 1 &&
	[ $cut = 1 ] &&
	recover sshkeys 1 &&
	console recover-sshkeys-1.log | grep -Eq "^task sshkeys: ok in [0-9]+ ms\$" &&
	ssh_state recover-sshkeys-1.log
'

test_done
