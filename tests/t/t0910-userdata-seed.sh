#!/bin/bash
# cloud-init-lite with a NoCloud seed (`kiln seed`, attached as a virtio
# disk), and cloud-init's per-instance / per-boot semantics on one writable
# disk: the first boot of instance A runs bootcmd, runcmd and final_message
# and powers off (power_state); booting A again runs bootcmd and
# final_message only; the same disk launched as instance B (a seed with
# another instance-id) runs everything again, SSH host keys included.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
. "$TEST_ROOT/tests/lib/debian-net.sh"
need_cmd qemu-system-x86_64 grub-mkimage tar fsck.fat mtype blkid
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
tar --version 2>/dev/null | grep -q 'GNU tar' || skip_all "needs GNU tar (tar -r)"
tarball=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" boot 2>fetch.err) ||
	skip_all "cannot make the Debian rootfs: $(tail -n 1 fetch.err)"

test_expect_success 'a Debian image and two seeds, instance A and instance B' '
	debian_net_tarball "$tarball" debian.tar &&
	"$KILN" build -q -r debian.tar -o debian.raw -s 1G &&
	cat >user-data <<-\EOF &&
	#cloud-config
	bootcmd:
	  - echo "=== t0910 bootcmd" >/dev/console
	runcmd:
	  - echo "=== t0910 runcmd on $(cat /var/lib/kiln/instance-id)" >/dev/console
	write_files:
	  - path: /var/lib/t0910/written
	    content: A
	    append: true
	final_message: "=== t0910 final"
	power_state:
	  mode: poweroff
	EOF
	"$KILN" seed --user-data user-data --instance-id iid-t0910-a --hostname alpha -o seed-a.img &&
	"$KILN" seed --user-data user-data --instance-id iid-t0910-b --hostname beta -o seed-b.img &&
	blkid -o value -s LABEL seed-a.img | grep -qx CIDATA &&
	fsck.fat -n seed-a.img &&
	mtype -i seed-a.img ::user-data | cmp - user-data
'

boot() {   # boot LOG SEED MARKER [-e]
	"$BOOT" -w -t 400 -s "$2" -m "$3" -l "$1" ${4:-} debian.raw >/dev/null 2>&1
	tr -d "\r" <"$1" >"$1.txt"
	grep -E "^(datasource|instance |task userdata|=== t0910|users:|hostname:)" "$1.txt"
}

test_expect_success 'instance A, first boot: everything runs, then power_state powers off' '
	boot a1.log seed-a.img "=== t0910 final" -e &&
	grep -q "^datasource: nocloud " a1.log.txt &&
	grep -q "^instance iid-t0910-a (new: first boot)" a1.log.txt &&
	grep -q "^=== t0910 bootcmd" a1.log.txt &&
	grep -q "^=== t0910 runcmd on iid-t0910-a" a1.log.txt &&
	grep -q "^=== t0910 final" a1.log.txt &&
	console_block a1.log FINGERPRINTS >keys-a &&
	test -s keys-a
'

test_expect_success 'instance A again (a reboot): bootcmd and final_message, not runcmd' '
	boot a2.log seed-a.img "=== t0910 final" &&
	grep -q "^instance iid-t0910-a (seen before)" a2.log.txt &&
	grep -q "^=== t0910 bootcmd" a2.log.txt &&
	! grep -q "^=== t0910 runcmd" a2.log.txt &&
	! console_block a2.log FINGERPRINTS | grep -q .
'

test_expect_success 'the same disk as instance B: runcmd runs again, new host keys' '
	boot b1.log seed-b.img "=== t0910 final" -e &&
	grep -q "^instance iid-t0910-b (new: first boot)" b1.log.txt &&
	grep -q "^=== t0910 runcmd on iid-t0910-b" b1.log.txt &&
	console_block b1.log FINGERPRINTS >keys-b &&
	test -s keys-b &&
	! cmp -s keys-a keys-b
'

test_expect_success 'on the disk: write_files appended once per instance, hostname of B, the log' '
	debugfs -R "cat /var/lib/t0910/written" "$(root_e2 debian.raw)" 2>/dev/null >written &&
	printf AA | cmp - written &&
	debugfs -R "cat /etc/hostname" "$(root_e2 debian.raw)" 2>/dev/null | grep -qx beta &&
	debugfs -R "cat /var/log/kiln-userdata.log" "$(root_e2 debian.raw)" 2>/dev/null >userdata.log &&
	cat userdata.log &&
	[ "$(grep -c "runcmd" userdata.log)" -ge 2 ] &&
	debugfs -R "cat /var/lib/kiln/instances/iid-t0910-a/scripts/STATUS" "$(root_e2 debian.raw)" 2>/dev/null |
		grep -qx "runcmd 0"
'

test_done
