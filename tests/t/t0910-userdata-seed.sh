#!/bin/bash
# cloud-init-lite with a NoCloud seed (`kiln seed`, attached as a virtio
# disk), and cloud-init's per-instance / per-boot / per-once semantics on one
# writable disk (MIME user data: a per-boot, a per-once and a per-instance
# script, and #cloud-config with one bad users entry, which is reported and
# skipped while the rest applies, and a file owned by a user the same user
# data makes): the first boot of instance A runs bootcmd, runcmd and final_message
# and powers off (power_state); booting A again runs bootcmd and
# final_message only (the boot runs to the login prompt: no second
# power-off); the same disk launched as instance B (a seed with another
# instance-id) runs everything again, SSH host keys included, and B booted
# with another NIC renders the network again and nothing else.  The first
# boots must end by themselves (qemu-boot.sh -e: a guest still running at
# the timeout fails), with the kernel's "reboot: Power down".
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
need_cmd qemu-system-x86_64 grub-mkimage tar fsck.fat mtype blkid debugfs
PY=/usr/bin/python3
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
tarball=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" boot 2>fetch.err) ||
	skip_all "cannot make the Debian rootfs: $(tail -n 1 fetch.err)"

test_expect_success 'a Debian image and two seeds, instance A and instance B' '
	"$KILN" build -q -r "$tarball" -o debian.raw -s 1G &&
	cat >cloud-config <<-\EOF &&
	#cloud-config
	bootcmd:
	  - echo "=== t0910 bootcmd" >/dev/console
	runcmd:
	  - echo "=== t0910 runcmd on $(cat /var/lib/kiln/instance-id)" >/dev/console
	users:
	  - default
	  - name: alice
	    groups: [adm]
	  - name: bob
	    sudo: true
	write_files:
	  - path: /var/lib/t0910/written
	    content: A
	    append: true
	  - path: /var/lib/t0910/alice
	    content: owned by a user this user data makes
	    owner: alice:adm
	final_message: "=== t0910 final"
	power_state:
	  mode: poweroff
	EOF
	"$PY" - <<-\EOF &&
	from email.mime.multipart import MIMEMultipart
	from email.mime.text import MIMEText
	m = MIMEMultipart()
	for kind in ("per-boot", "per-once", ""):
	    name = kind or "per-instance"
	    script = "#!/bin/sh\necho \"=== t0910 %s on $(cat /var/lib/kiln/instance-id)\" >/dev/console\n" % name
	    m.attach(MIMEText(script, "x-shellscript" + ("-" + kind if kind else "")))
	m.attach(MIMEText(open("cloud-config").read(), "cloud-config"))
	open("user-data", "w").write(m.as_string())
	EOF
	"$KILN" user-data check user-data >check.out &&
	cat check.out &&
	grep -q "NOT APPLIED: users\[2\] (bob)" check.out &&
	"$KILN" seed --user-data user-data --instance-id iid-t0910-a --hostname alpha -o seed-a.img &&
	"$KILN" seed --user-data user-data --instance-id iid-t0910-b --hostname beta -o seed-b.img &&
	blkid -o value -s LABEL seed-a.img | grep -qx CIDATA &&
	fsck.fat -n seed-a.img &&
	mtype -i seed-a.img ::user-data | cmp - user-data
'

boot() {   # boot LOG SEED MARKER [-e]: qemu-boot.sh's status (marker seen; with -e, the guest ended itself)
	local status=0
	"$BOOT" -w -t 400 -n "$(free_port)" ${NIC_MAC:+-M "$NIC_MAC"} -s "$2" -m "$3" -l "$1" ${4:-} debian.raw \
		>"$1.boot" 2>&1 || status=$?
	tr -d "\r" <"$1" >"$1.txt"
	grep -E "^(datasource|instance |task userdata|task network|network|=== t0910|users:|hostname:|#cloud-config|write_files|per-once)" "$1.txt"
	cat "$1.boot"
	return $status
}

test_expect_success 'instance A, first boot: everything runs, then power_state powers off' '
	boot a1.log seed-a.img "=== t0910 final" -e &&
	grep -q "^datasource: nocloud " a1.log.txt &&
	grep -q "^instance iid-t0910-a (new: first boot)" a1.log.txt &&
	grep -q "^network: 1 interface from the fallback (DHCP on the first NIC)" a1.log.txt &&
	grep -q "^network: wrote /etc/systemd/network/10-kiln-" a1.log.txt &&
	grep -q "^=== t0910 bootcmd" a1.log.txt &&
	grep -q "^=== t0910 runcmd on iid-t0910-a" a1.log.txt &&
	grep -q "^=== t0910 final" a1.log.txt &&
	grep -q "reboot: Power down" a1.log.txt &&
	grep -q "^=== t0910 per-boot on iid-t0910-a" a1.log.txt &&
	grep -q "^=== t0910 per-once on iid-t0910-a" a1.log.txt &&
	grep -q "^=== t0910 per-instance on iid-t0910-a" a1.log.txt &&
	grep -q "^#cloud-config: user-data part 4: line [0-9]*: users\[2\] (bob) NOT APPLIED: " a1.log.txt &&
	grep -q "^write_files: /var/lib/t0910/alice: owner alice:adm applied after the users module" a1.log.txt &&
	console_block a1.log FINGERPRINTS >keys-a &&
	test -s keys-a
'

test_expect_success 'instance A again (a reboot): bootcmd and final_message, not runcmd, no power-off' '
	boot a2.log seed-a.img "login:" &&
	grep -q "^=== t0910 final" a2.log.txt &&
	grep -q "^kiln-userdata: stage final: finished" a2.log.txt &&
	grep -q "^=== t0910 per-boot on iid-t0910-a" a2.log.txt &&
	! grep -q "^=== t0910 per-once" a2.log.txt &&
	! grep -q "^=== t0910 per-instance" a2.log.txt &&
	! grep -q "reboot: Power down" a2.log.txt &&
	grep -q "^instance iid-t0910-a (seen before)" a2.log.txt &&
	grep -q "^network: unchanged (instance seen before, same NICs: " a2.log.txt &&
	! grep -q "^network: wrote" a2.log.txt &&
	grep -q "^=== t0910 bootcmd" a2.log.txt &&
	! grep -q "^=== t0910 runcmd" a2.log.txt &&
	! console_block a2.log FINGERPRINTS | grep -q .
'

test_expect_success 'the same disk as instance B: runcmd runs again, new host keys' '
	boot b1.log seed-b.img "=== t0910 final" -e &&
	grep -q "^instance iid-t0910-b (new: first boot)" b1.log.txt &&
	grep -q "^network: wrote /etc/systemd/network/10-kiln-" b1.log.txt &&
	grep -q "^=== t0910 runcmd on iid-t0910-b" b1.log.txt &&
	grep -q "^=== t0910 per-boot on iid-t0910-b" b1.log.txt &&
	grep -q "^=== t0910 per-instance on iid-t0910-b" b1.log.txt &&
	! grep -q "^=== t0910 per-once" b1.log.txt &&
	grep -q "reboot: Power down" b1.log.txt &&
	console_block b1.log FINGERPRINTS >keys-b &&
	test -s keys-b &&
	! cmp -s keys-a keys-b
'

test_expect_success 'instance B again with another NIC: the network rendered again, nothing else' '
	NIC_MAC=0a:09:10:00:00:02 boot b2.log seed-b.img "login:" &&
	grep -q "^kiln-userdata: stage final: finished" b2.log.txt &&
	grep -q "^=== t0910 per-boot on iid-t0910-b" b2.log.txt &&
	! grep -q "^=== t0910 per-instance" b2.log.txt &&
	grep -q "^instance iid-t0910-b (seen before)" b2.log.txt &&
	grep -q "^network: 1 interface from the fallback" b2.log.txt &&
	grep -q "^network: wrote /etc/systemd/network/10-kiln-" b2.log.txt &&
	! grep -q "^=== t0910 runcmd" b2.log.txt &&
	! console_block b2.log FINGERPRINTS | grep -q .
'

test_expect_success 'on the disk: write_files appended once per instance, hostname of B, the log' '
	debugfs -R "cat /var/lib/t0910/written" "$(root_e2 debian.raw)" 2>/dev/null >written &&
	printf AA | cmp - written &&
	debugfs -R "cat /etc/hostname" "$(root_e2 debian.raw)" 2>/dev/null | grep -qx beta &&
	debugfs -R "ls /var/lib/kiln/per-once" "$(root_e2 debian.raw)" 2>/dev/null >per-once &&
	cat per-once &&
	[ "$(tr -s " " "\n" <per-once | grep -cE "^[0-9a-f]{64}$")" = 1 ] &&
	uid=$(debugfs -R "cat /etc/passwd" "$(root_e2 debian.raw)" 2>/dev/null | awk -F: "\$1 == \"alice\" { print \$3 }") &&
	[ -n "$uid" ] &&
	debugfs -R "stat /var/lib/t0910/alice" "$(root_e2 debian.raw)" 2>/dev/null | grep -Eq "User: +$uid " &&
	debugfs -R "cat /var/log/kiln-userdata.log" "$(root_e2 debian.raw)" 2>/dev/null >userdata.log &&
	cat userdata.log &&
	[ "$(grep -c "runcmd" userdata.log)" -ge 2 ] &&
	debugfs -R "cat /var/lib/kiln/instances/iid-t0910-a/scripts/STATUS" "$(root_e2 debian.raw)" 2>/dev/null |
		grep -qx "runcmd 0"
'

test_done
