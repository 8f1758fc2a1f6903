#!/bin/bash
# The README's example, verbatim, then kiln run --ssh looked at closely.
# The rootfs is exactly the README's (tests/lib/fetch-debian-rootfs.sh runs
# its mmdebstrap command: minbase, the cloud kernel, openssh-server) with
# nothing added: the instance's network is what kiln-init renders (from the
# EC2 metadata, for the image's systemd-networkd) and the login is the
# image's default user with the launch's key.  Then `kiln run IMG --key-name
# KEY.pub --ssh -- CMD` again: it waits for the guest, builds a known_hosts
# from the host key block kiln-init printed on the console (each key checked
# against the printed fingerprints), logs in with StrictHostKeyChecking=yes,
# runs CMD, powers the instance off and exits with CMD's status.  CMD also
# asks the guest's IMDS (169.254.169.254, IMDSv2 token first) for the
# instance id, with bash's /dev/tcp, and shows the guest's network.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage ssh ssh-keygen sha256sum
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
tarball=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" 2>fetch.err) ||
	skip_all "cannot make the Debian rootfs: $(tail -n 1 fetch.err)"
mkdir -p tmp
export TMPDIR=$TEST_OUT/tmp

test_expect_success 'README: the rootfs is the README'"'"'s mmdebstrap command' '
	readme=$(sed -n "s/^ *mmdebstrap --variant=minbase --include=\([^ ]*\) .*/\1/p" "$TEST_ROOT/README.md") &&
	fetch=$(sed -n "s/^INCLUDE=\([^ ]*\)\$/\1/p" "$FETCH_ROOTFS") &&
	echo "README: $readme; fetch-debian-rootfs.sh: $fetch" &&
	[ -n "$readme" ] && [ "$readme" = "$fetch" ] &&
	grep -qF -- "--variant=minbase" "$FETCH_ROOTFS" &&
	ln -s "$tarball" debian.tar
'

test_expect_success 'README: kiln build -r debian.tar -o debian.img -s 4G' '
	grep -qF "kiln build -r debian.tar -o debian.img -s 4G" "$TEST_ROOT/README.md" &&
	"$KILN" build -r debian.tar -o debian.img -s 4G >build.out 2>build.err &&
	cat build.out build.err &&
	grep -q "^  network:     systemd-networkd, rendered by kiln-init at first boot" build.out &&
	! grep -q warning build.err &&
	sha256sum debian.img >debian.sha256
'

test_expect_success 'README: kiln run debian.img --key-name key.pub --ssh -- uname -a' '
	grep -qF "kiln run debian.img --key-name key.pub --ssh -- uname -a" "$TEST_ROOT/README.md" &&
	ssh-keygen -q -t ed25519 -N "" -C kiln-t0720 -f key &&
	"$KILN" run debian.img --key-name key.pub --ssh -- uname -a >uname.out 2>uname.err &&
	cat uname.err uname.out &&
	grep -q "^Linux .* x86_64 GNU/Linux\$" uname.out
'

# What the guest runs (bash -s, from kiln run's stdin): the kernel command
# line, two IMDSv2 requests, the network, then a status of its own.
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
echo "addresses: $(hostname -I)"
echo "leases: $(ls /run/systemd/netif/leases | wc -l)"
ls /etc/systemd/network/ | sed 's/^/networkd: /'
grep -h '^RouteMetric=' /etc/systemd/network/*.network | sed 's/^/networkd: /'
exit 7
EOF

test_expect_success 'kiln run --ssh -- bash -s: the command runs over a verified SSH login; its status is kept' '
	start=$SECONDS &&
	{ "$KILN" run debian.img -t t3.small --boot-mode legacy-bios --key-name key.pub --timeout 500 \
		--console-log console.log --keep --ssh -- bash -s <guest.sh >out 2>err; status=$?; } &&
	echo "kiln run: status $status after $((SECONDS - start)) s" &&
	cat err && cat out &&
	[ "$status" = 7 ]
'

test_expect_success 'it printed the kernel command line: the image root by PARTUUID' '
	partuuid=$(sf_part debian.img "$GUID_ROOT_X86_64" partuuid) &&
	grep -q "root=PARTUUID=$partuuid " out
'

test_expect_success 'kiln-init rendered the EC2 metadata'"'"'s one NIC for systemd-networkd' '
	tr -d "\r" <console.log | grep "^network: " >net.lines &&
	cat net.lines &&
	grep -q "^network: 1 interface from the EC2 metadata" net.lines &&
	grep -q "^network: systemd-networkd (" net.lines &&
	grep -q "^network: wrote /etc/systemd/network/10-kiln-eth0.network" net.lines
'

test_expect_success 'the guest: its DHCP lease from networkd, kiln'"'"'s file alone, the primary'"'"'s route metric' '
	grep -Eq "^addresses: 169.254.0.15 ?\$" out &&
	grep -qx "leases: 1" out &&
	grep "^networkd: " out >nd &&
	printf "networkd: 10-kiln-eth0.network\nnetworkd: RouteMetric=100\n" | test_cmp - nd
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
