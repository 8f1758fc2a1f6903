#!/bin/bash
# kiln run --ssh on a Debian 12 image: the "boot" rootfs tarball plus, as in
# t0620, a systemd-networkd DHCP config and root's authorized_keys appended
# with GNU tar.  `kiln run IMG --key-name KEY.pub --ssh -- CMD` waits for the
# guest, builds a known_hosts from the host key block kiln-init printed on
# the console (each key checked against the printed fingerprints), logs in
# with StrictHostKeyChecking=yes, runs CMD, powers the instance off and
# exits with CMD's status.  CMD also asks the guest's IMDS (169.254.169.254,
# IMDSv2 token first) for the instance id, with bash's /dev/tcp.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
. "$TEST_ROOT/tests/lib/debian-net.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage ssh ssh-keygen tar sha256sum
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
tar --version 2>/dev/null | grep -q 'GNU tar' || skip_all "needs GNU tar (tar -r)"
tarball=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" boot 2>fetch.err) ||
	skip_all "cannot make the Debian rootfs: $(tail -n 1 fetch.err)"
mkdir -p tmp
export TMPDIR=$TEST_OUT/tmp

test_expect_success 'the Debian image gets a DHCP network and an authorized key, and is built' '
	ssh-keygen -q -t ed25519 -N "" -C kiln-t0720 -f id_test &&
	mkdir -p add/root/.ssh &&
	cp id_test.pub add/root/.ssh/authorized_keys &&
	chmod 0700 add/root/.ssh && chmod 0600 add/root/.ssh/authorized_keys &&
	debian_net_tarball "$tarball" debian.tar &&
	tar -rf debian.tar -C add --numeric-owner --owner=0 --group=0 --no-recursion \
		./root/.ssh ./root/.ssh/authorized_keys &&
	"$KILN" build -q -r debian.tar -o debian.raw &&
	sha256sum debian.raw >debian.sha256 &&
	cat debian.raw.json
'

# What the guest runs (bash -s, from kiln run's stdin): the kernel command
# line, then two IMDSv2 requests, then a status of its own.
cat >guest.sh <<'EOF'
cat /proc/cmdline
imds() {  # METHOD PATH HEADER: the response body
	exec 3<>/dev/tcp/169.254.169.254/80 || return 1
	printf '%s %s HTTP/1.1\r\nHost: 169.254.169.254\r\n%s\r\nConnection: close\r\n\r\n' "$1" "$2" "$3" >&3
	sed '1,/^\r$/d' <&3
	exec 3<&-
}
token=$(imds PUT /latest/api/token "X-aws-ec2-metadata-token-ttl-seconds: 60")
echo "imds instance-id: $(imds GET /latest/meta-data/instance-id "X-aws-ec2-metadata-token: $token")"
echo "imds instance-type: $(imds GET /latest/meta-data/instance-type "X-aws-ec2-metadata-token: $token")"
exit 7
EOF

test_expect_success 'kiln run --ssh -- bash -s: the command runs over a verified SSH login; its status is kept' '
	start=$SECONDS &&
	{ "$KILN" run debian.raw -t t3.small --boot-mode legacy-bios --key-name id_test.pub --timeout 500 \
		--console-log console.log --keep --ssh -- bash -s <guest.sh >out 2>err; status=$?; } &&
	echo "kiln run: status $status after $((SECONDS - start)) s" &&
	cat err && cat out &&
	[ "$status" = 7 ]
'

test_expect_success 'it printed the kernel command line: the image root by PARTUUID' '
	partuuid=$(sf_part debian.raw "$GUID_ROOT_X86_64" partuuid) &&
	grep -q "root=PARTUUID=$partuuid " out
'

test_expect_success 'the known_hosts kiln used holds exactly the console block keys, for the forwarded port' '
	run=$(sed -n "s/^kiln: run folder kept: //p" err) &&
	port=$(sed -n "s/.*; ssh port \([0-9]*\)\$/\1/p" err) &&
	[ -n "$run" ] && [ -n "$port" ] &&
	console_block console.log KEYS | awk -v h="[127.0.0.1]:$port" "{ print h, \$1, \$2 }" >want &&
	[ "$(wc -l <want)" -ge 1 ] &&
	test_cmp want "$run/known_hosts" &&
	console_block console.log FINGERPRINTS >fps &&
	ssh-keygen -l -f want | awk "{ print \$2 }" | while read -r fp; do grep -q "$fp" fps || exit 1; done
'

test_expect_success 'the guest reached the IMDS: the instance id and type kiln launched' '
	id=$(sed -n "s/^kiln: launching \(i-[0-9a-f]*\) .*/\1/p" err) &&
	echo "$id" | grep -Eq "^i-[0-9a-f]{17}\$" &&
	grep -qx "imds instance-id: $id" out &&
	grep -qx "imds instance-type: t3.small" out &&
	grep -q "^instance $id (new: first boot)" console.log
'

test_expect_success 'the instance ended; the image is unchanged; the kept run folder is removable' '
	! grep -Eq "not ready|QEMU ended|interrupted" err &&
	sha256sum -c debian.sha256 &&
	rm -rf "$run" &&
	assert_empty_dir tmp
'

test_done
