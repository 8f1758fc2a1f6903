#!/bin/bash
# End to end, the way people use a cloud image: a Debian 12 image built by
# kiln boots under QEMU (TCG, SeaBIOS, NVMe, user networking with the guest's
# port 22 forwarded to a local port), kiln-init generates the SSH host keys
# and prints them on the console, and an OpenSSH client that trusts only the
# keys from that console block (StrictHostKeyChecking=yes) logs in as root
# with a key in /root/.ssh/authorized_keys.  A known_hosts with another key
# is refused.  The rootfs is the "boot" tarball plus, appended with GNU tar
# (owners 0), the test's authorized_keys; nothing for the network: with no
# datasource, kiln-init renders cloud-init's fallback (DHCP on the first
# NIC) for the image's systemd-networkd.  Console logs stay in tests/out on failure.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
need_cmd qemu-system-x86_64 grub-mkimage ssh ssh-keygen tar
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
tar --version 2>/dev/null | grep -q 'GNU tar' || skip_all "needs GNU tar (tar -r)"
tarball=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" boot 2>fetch.err) ||
	skip_all "cannot make the Debian rootfs: $(tail -n 1 fetch.err)"
UUID=06200000-0000-4000-8000-000000000001
LOGIN_TIMEOUT=300
SSH_RETRY=60

# The guest runs in the background while the client talks to it; whatever
# happens, it does not outlive the script (its QEMU is the boot script's child).
boot_pid=
stop_guest() {
	[ -n "$boot_pid" ] || return 0
	if kill -0 "$boot_pid" 2>/dev/null; then
		pkill -TERM -P "$boot_pid" 2>/dev/null
		wait "$boot_pid" 2>/dev/null
	fi
	boot_pid=
}
trap stop_guest EXIT

guest_ssh() {   # guest_ssh KNOWN_HOSTS CMD...
	local kh=$1
	shift
	ssh -F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$kh" -o GlobalKnownHostsFile=/dev/null \
		-o BatchMode=yes -o ConnectTimeout=10 -o IdentitiesOnly=yes -i "$TEST_OUT/id_test" \
		-p "$port" root@127.0.0.1 "$@"
}

test_expect_success 'the rootfs tarball gets an authorized key for root (nothing for the network)' '
	ssh-keygen -q -t ed25519 -N "" -C kiln-t0620 -f id_test &&
	mkdir -p add/root/.ssh &&
	cp id_test.pub add/root/.ssh/authorized_keys &&
	chmod 0700 add/root/.ssh && chmod 0600 add/root/.ssh/authorized_keys &&
	cp "$tarball" debian.tar &&
	tar -rf debian.tar -C add --numeric-owner --owner=0 --group=0 --no-recursion \
		./root/.ssh ./root/.ssh/authorized_keys &&
	tar -tvf debian.tar --numeric-owner | tail -n 2 >appended &&
	cat appended &&
	grep -q "^drwx------ 0/0 .* ./root/.ssh/\$" appended &&
	grep -q "^-rw------- 0/0 .* ./root/.ssh/authorized_keys\$" appended &&
	! tar -tf debian.tar | grep -q "^./etc/systemd/network/."
'

test_expect_success 'kiln builds the Debian image at 1 GiB; the disk is grown to 4 GiB' '
	"$KILN" build -q -r debian.tar -o debian.raw -s 1G &&
	debugfs -R "cat /root/.ssh/authorized_keys" "$(root_e2 debian.raw)" 2>/dev/null | test_cmp id_test.pub - &&
	debugfs -R "ls -p /etc/ssh" "$(root_e2 debian.raw)" 2>/dev/null >etc-ssh &&
	! grep ssh_host_ etc-ssh &&
	qemu-img resize -q -f raw debian.raw 4G
'

test_expect_success 'it boots to a login prompt with the host keys on the console' '
	port=$(free_port) &&
	echo "forwarding 127.0.0.1:$port to the guest port 22" &&
	{ "$BOOT" -w -e -t $((LOGIN_TIMEOUT + 300)) -m "login:" -n "$port" -u $UUID -l console.log debian.raw \
		>boot.out 2>&1 & } &&
	boot_pid=$! &&
	start=$SECONDS &&
	while ! console console.log 2>/dev/null | grep -q "login:"; do
		kill -0 $boot_pid 2>/dev/null && [ $((SECONDS - start)) -lt $LOGIN_TIMEOUT ] || break
		sleep 1
	done &&
	echo "login prompt after $((SECONDS - start)) s" &&
	console console.log | grep -q "login:" &&
	console console.log | grep -E "^(task|growpart|resizefs|instance|kiln-init)" &&
	console console.log | grep -Eq "^kiln-init: first boot finished in [0-9]+ ms\$" &&
	console_block console.log KEYS >keys &&
	cat keys &&
	[ "$(wc -l <keys)" = 2 ]
'

test_expect_success 'known_hosts made only from the console block lets ssh in (strict checking)' '
	awk -v h="[127.0.0.1]:$port" "{ print h, \$1, \$2 }" keys >known_hosts &&
	cat known_hosts &&
	start=$SECONDS &&
	until guest_ssh known_hosts cat /proc/cmdline >cmdline 2>ssh.err; do
		cat ssh.err
		# Host key mismatches are final; only a guest still starting up is retried.
		grep -q "Host key verification failed" ssh.err && break
		[ $((SECONDS - start)) -lt $SSH_RETRY ] || break
		sleep 3
	done &&
	echo "ssh in after $((SECONDS - start)) s" &&
	cat cmdline &&
	partuuid=$(sf_part debian.raw "$GUID_ROOT_X86_64" partuuid) &&
	grep -q "root=PARTUUID=$partuuid " cmdline
'

test_expect_success 'the guest runs sshd with the keys kiln-init made' '
	guest_ssh known_hosts "cat /etc/ssh/ssh_host_*_key.pub" | cut -d" " -f1-2 | sort >guest-keys &&
	cut -d" " -f1-2 keys | sort | test_cmp - guest-keys
'

test_expect_success 'the guest sees a root of about 4 GiB' '
	guest_ssh known_hosts "df -k /" >df.out &&
	cat df.out &&
	kib=$(awk "NR == 2 { print \$2 }" df.out) &&
	[ "$kib" -gt $((37 * 1024 * 1024 / 10)) ] && [ "$kib" -lt $((4 * 1024 * 1024)) ]
'

# The same binary, run by hand in the booted system: every task is done
# already for this instance, so it only reports.
test_expect_success 'kiln-init --firstboot in the booted system finds nothing left to do' '
	guest_ssh known_hosts "cat >/tmp/kiln-init && chmod 755 /tmp/kiln-init" <"$TEST_ROOT/build/kiln-init" &&
	guest_ssh known_hosts "/tmp/kiln-init --firstboot" >firstboot.out 2>&1 &&
	cat firstboot.out &&
	grep -Eq "^task growpart: ok in [0-9]+ ms \(nothing to do\)\$" firstboot.out &&
	grep -Eq "^task resizefs: ok in [0-9]+ ms \(nothing to do\)\$" firstboot.out &&
	grep -Eq "^task sshkeys: ok in [0-9]+ ms \(nothing to do\)\$" firstboot.out &&
	guest_ssh known_hosts "tail -n 5 /var/log/kiln-init.log" | grep -q "task sshkeys"
'

test_expect_success 'a known_hosts with another key for the host is refused' '
	ssh-keygen -q -t ed25519 -N "" -C other -f other &&
	ssh-keygen -q -t ecdsa -N "" -C other -f other-ecdsa &&
	cat other.pub other-ecdsa.pub | awk -v h="[127.0.0.1]:$port" "{ print h, \$1, \$2 }" >wrong_hosts &&
	! guest_ssh wrong_hosts true 2>wrong.err &&
	cat wrong.err &&
	grep -q "Host key verification failed" wrong.err &&
	: >empty_hosts &&
	! guest_ssh empty_hosts true 2>empty.err &&
	cat empty.err &&
	grep -q "Host key verification failed" empty.err
'

test_expect_success 'the guest powers off when asked' '
	guest_ssh known_hosts "systemctl poweroff" >/dev/null 2>&1
	start=$SECONDS &&
	while kill -0 $boot_pid 2>/dev/null && [ $((SECONDS - start)) -lt 120 ]; do sleep 1; done &&
	! kill -0 $boot_pid 2>/dev/null &&
	wait $boot_pid &&
	boot_pid= &&
	console console.log | grep -q "reboot: Power down"
'

test_expect_success 'after power-off: the table and the filesystem are clean, the root fills the disk' '
	check_disk debian.raw
'

stop_guest
test_done
