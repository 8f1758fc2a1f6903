#!/bin/bash
# kiln run's network, from inside the guest: the demo image (busybox,
# Debian's cloud kernel, kiln-init) with an init of its own that brings up
# every NIC with DHCP, waits for IPv6 SLAAC, asks the IMDS about each NIC,
# tries to reach a listener on the host's loopback through the user
# network's host addresses (169.254.0.1, 100.64.16.1: without restrict=on,
# QEMU relays both to 127.0.0.1), answers once on port 22 with a fake SSH
# banner, and powers off.  With user data "kiln-test: idle" it stays up
# without answering on port 22 instead: kiln run --ssh then says what it
# waits for and gives up at --ssh-timeout.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage ssh-keygen timeout curl
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
[ -x /usr/bin/ssh ] || skip_all "needs the OpenSSH client (/usr/bin/ssh)"
export SOURCE_DATE_EPOCH=1700000000
mkdir -p tmp
export TMPDIR=$TEST_OUT/tmp

# A listener on the host's loopback that the guest must not reach.
"$PY" -u -m http.server 0 --bind 127.0.0.1 >>http.log 2>&1 &
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null' EXIT
for _ in $(seq 50); do
	HOST_PORT=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9][0-9]*\) .*/\1/p' http.log)
	[ -n "$HOST_PORT" ] && break
	sleep 0.1
done

test_expect_success 'a loopback listener on the host answers there' '
	[ -n "$HOST_PORT" ] &&
	curl -s -m 5 -o /dev/null -w "%{http_code}" "http://127.0.0.1:$HOST_PORT/" | grep -qx 200 &&
	: >http.log
'

test_expect_success 'the network image is built' '
	make_demo_rootfs root >/dev/null &&
	for a in ip udhcpc nc sed tr readlink basename timeout head; do ln -sf busybox root/bin/$a || return 1; done &&
	echo "$HOST_PORT" >root/etc/host-port &&
	cat >root/bin/dhcp-script <<-\EOF &&
	#!/bin/sh
	# udhcpc hook: the lease on its interface (no routes), said on the console.
	case $1 in
	bound|renew)
		ip addr add "$ip/$mask" dev "$interface"
		echo "=== dhcp: $interface $ip/$mask" >/dev/console
		;;
	esac
	exit 0
	EOF
	cat >root/sbin/init <<-\EOF &&
	#!/bin/sh
	mountpoint -q /proc || mount -t proc proc /proc
	mountpoint -q /sys || mount -t sysfs sysfs /sys
	mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev 2>/dev/null
	echo "=== kiln net: init started"
	ip link set lo up
	for d in /sys/class/net/eth*; do
		n=${d##*/}
		echo "=== nic: $n $(cat "$d/address") pci $(basename "$(readlink -f "$d/device/..")")"
		ip link set "$n" up
	done
	for d in /sys/class/net/eth*; do
		udhcpc -i "${d##*/}" -n -q -f -t 5 -T 2 -s /bin/dhcp-script >/dev/null 2>&1 ||
			echo "=== dhcp: ${d##*/} failed"
	done
	imds() { # METHOD PATH [HEADER]: the body
		printf "%s /latest/%s HTTP/1.0\r\nHost: 169.254.169.254\r\n%s\r\n\r\n" "$1" "$2" "$3" |
			nc -w 5 169.254.169.254 80 | sed "1,/^\r$/d"
	}
	tok=$(imds PUT api/token "X-aws-ec2-metadata-token-ttl-seconds: 60")
	H="X-aws-ec2-metadata-token: $tok"
	if imds GET user-data "$H" | grep -q "kiln-test: idle"; then
		echo "=== kiln net: idle, nothing on port 22"
		sleep 600
		poweroff -f
	fi
	i=0
	while [ $i -lt 20 ] && ! ip -o -6 addr show scope global | grep -q inet6; do sleep 1; i=$((i + 1)); done
	ip -o -6 addr show scope global | while read -r _ n _ a _; do echo "=== ipv6: $n ${a%/*}"; done
	echo "=== imds mac: $(imds GET meta-data/mac "$H")"
	echo "=== imds local-ipv4: $(imds GET meta-data/local-ipv4 "$H")"
	for m in $(imds GET meta-data/network/interfaces/macs/ "$H"); do
		for f in $(imds GET "meta-data/network/interfaces/macs/$m" "$H"); do
			echo "=== imds $m$f: $(imds GET "meta-data/network/interfaces/macs/$m$f" "$H" | tr "\n" " ")"
		done
	done
	port=$(cat /etc/host-port)
	for h in 169.254.0.1 100.64.16.1; do
		out=$(printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 "$h" "$port" 2>&1 | head -n 1)
		case $out in
		HTTP/*) echo "=== host loopback via $h: reached";;
		*) echo "=== host loopback via $h: not reached";;
		esac
	done
	echo "=== ssh forward: listening"
	echo "SSH-2.0-kiln-guest" | timeout 120 nc -l -p 22 >/dev/null 2>&1 && echo "=== ssh forward: used"
	echo "=== kiln net: done"
	sync
	poweroff -f
	EOF
	chmod 755 root/sbin/init root/bin/dhcp-script &&
	"$KILN" build -q -t gpt -b uefi-preferred -r root -o net.raw
'

test_expect_success 'network interface refusals, before QEMU starts' '
	must_fail_with "^kiln: network interface DeviceIndex 2: instance type t3\.micro takes 2 network interfaces \(DeviceIndex 0 to 1\)\$" \
		"$KILN" run net.raw --nics 3 &&
	must_fail_with "^kiln: --network-interfaces: \[1\]\.SubnetId: unknown key \(kiln run takes DeviceIndex, Description, Ipv6AddressCount, MacAddress\)\$" \
		"$KILN" run net.raw --network-interfaces "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 1, \"SubnetId\": \"subnet-1\"}]" &&
	must_fail_with "^kiln: --network-interfaces: no DeviceIndex 0 \(the primary network interface\)\$" \
		"$KILN" run net.raw --network-interfaces "[{\"DeviceIndex\": 1}]" &&
	must_fail_with "^kiln: --network-interfaces: \[1\]: DeviceIndex 0 is given twice\$" \
		"$KILN" run net.raw --network-interfaces "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 0}]" &&
	must_fail_with "^kiln: --network-interfaces: \[0\]: no DeviceIndex\$" \
		"$KILN" run net.raw --network-interfaces "[{\"Description\": \"x\"}]" &&
	must_fail_with "Ipv6AddressCount: expected an integer from 0 to 1" \
		"$KILN" run net.raw --network-interfaces "[{\"DeviceIndex\": 0, \"Ipv6AddressCount\": 2}]" &&
	echo "[{\"DeviceIndex\": 0},]" >bad.json &&
	must_fail_with "^kiln: bad\.json: bad JSON at offset [0-9]+: " "$KILN" run net.raw --network-interfaces @bad.json &&
	must_fail_with "give one" "$KILN" run net.raw --nics 2 --network-interfaces "[{\"DeviceIndex\": 0}]" &&
	must_fail_with "^kiln: --nics: .17. is not a number from 1 to 16\$" "$KILN" run net.raw --nics 17 &&
	must_fail_with "^kiln: run: --ssh-timeout is for --ssh\$" "$KILN" run net.raw --ssh-timeout 5 &&
	assert_empty_dir tmp
'

NICS='[{"DeviceIndex": 0}, {"DeviceIndex": 2, "Description": "third"}, {"DeviceIndex": 1, "Ipv6AddressCount": 1}]'

test_expect_success 't3.small with three NICs: the guest sees them in DeviceIndex order' '
	{ timeout 400 "$KILN" run net.raw -t t3.small --boot-mode legacy-bios --timeout 300 \
		--console-log net.log --network-interfaces "$NICS" 2>net.err & } &&
	pid=$! &&
	for _ in $(seq 300); do
		grep -q "=== ssh forward: listening" net.log 2>/dev/null && break
		kill -0 $pid 2>/dev/null || break
		sleep 1
	done &&
	ssh_port=$(sed -n "s/.*; ssh port \([0-9]*\)\$/\1/p" net.err) &&
	echo "ssh port $ssh_port" &&
	timeout 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ssh_port && head -n 1 <&3" >banner &&
	{ wait $pid; status=$?; } &&
	cat net.err && grep "^===" net.log &&
	[ "$status" = 0 ] &&
	grep -qx "SSH-2.0-kiln-guest" banner &&
	grep -q "^=== ssh forward: used" net.log &&
	for k in 0 1 2; do
		mac=$(sed -n "s/^  nic $k  *\([0-9a-f:]*\)  .*/\1/p" net.err) &&
		echo "$mac" | grep -Eq "^0a(:[0-9a-f]{2}){5}\$" &&
		grep -q "^=== nic: eth$k $mac pci 0000:00:0$((3 + k)).0" net.log || return 1
	done &&
	[ "$(sed -n "s/^  nic [0-9]  *\([0-9a-f:]*\) .*/\1/p" net.err | sort -u | wc -l)" = 3 ] &&
	grep -q "^  nic 2 .* 100\.64\.32\.15  (100\.64\.32\.0/20)  \"third\"" net.err
'

test_expect_success 'each NIC took its DHCP address: 169.254.0.15, 100.64.16.15, 100.64.32.15' '
	grep -q "^=== dhcp: eth0 169\.254\.0\.15/16" net.log &&
	grep -q "^=== dhcp: eth1 100\.64\.16\.15/20" net.log &&
	grep -q "^=== dhcp: eth2 100\.64\.32\.15/20" net.log &&
	[ "$(grep -c "^=== dhcp:" net.log)" = 3 ]
'

test_expect_success 'NIC 1 got its SLAAC address: fd00:ec2:0:1:: and the EUI-64 of its MAC' '
	mac1=$(sed -n "s/^=== nic: eth1 \([0-9a-f:]*\) .*/\1/p" net.log) &&
	want=$("$PY" -c "import ipaddress, sys
m = bytes.fromhex(sys.argv[1].replace(\":\", \"\"))
eui = bytes([m[0] ^ 2]) + m[1:3] + b\"\xff\xfe\" + m[3:]
print(ipaddress.IPv6Address(bytes.fromhex(\"fd000ec200000001\") + eui))" "$mac1") &&
	echo "want $want" &&
	grep -qx "=== ipv6: eth1 $want" <(tr -d "\r" <net.log) &&
	[ "$(grep -c "^=== ipv6:" net.log)" = 1 ] &&
	grep -q "^  nic 1 .* 100\.64\.16\.15  $want  (100\.64\.16\.0/20)" net.err
'

# imds MAC FIELD: what the guest read from the IMDS.
imds() { sed -n "s|^=== imds $1/$2: \(.*\)\$|\1|p" net.log | tr -d "\r" | sed "s/ *\$//"; }

test_expect_success 'the IMDS serves every NIC under network/interfaces/macs/' '
	mac0=$(sed -n "s/^=== nic: eth0 \([0-9a-f:]*\) .*/\1/p" net.log) &&
	mac1=$(sed -n "s/^=== nic: eth1 \([0-9a-f:]*\) .*/\1/p" net.log) &&
	mac2=$(sed -n "s/^=== nic: eth2 \([0-9a-f:]*\) .*/\1/p" net.log) &&
	grep -q "^=== imds mac: $mac0" net.log &&
	grep -q "^=== imds local-ipv4: 169\.254\.0\.15" net.log &&
	[ "$(imds $mac0 device-number)" = 0 ] && [ "$(imds $mac1 device-number)" = 1 ] &&
	[ "$(imds $mac2 device-number)" = 2 ] &&
	[ "$(imds $mac2 local-ipv4s)" = 100.64.32.15 ] &&
	[ "$(imds $mac1 local-hostname)" = ip-100-64-16-15.ec2.internal ] &&
	[ "$(imds $mac2 subnet-ipv4-cidr-block)" = 100.64.32.0/20 ] &&
	[ "$(imds $mac0 subnet-ipv4-cidr-block)" = 169.254.0.0/16 ] &&
	[ "$(imds $mac0 vpc-ipv4-cidr-block)" = 169.254.0.0/16 ] &&
	[ "$(imds $mac1 vpc-ipv4-cidr-blocks)" = "169.254.0.0/16 100.64.0.0/16" ] &&
	[ "$(imds $mac1 ipv6s)" = "$(sed -n "s/^=== ipv6: eth1 //p" net.log | tr -d "\r")" ] &&
	[ "$(imds $mac1 subnet-ipv6-cidr-blocks)" = fd00:ec2:0:1::/64 ] &&
	[ "$(imds $mac1 vpc-ipv6-cidr-blocks)" = fd00:ec2::/56 ] &&
	[ -z "$(imds $mac2 ipv6s)" ] && [ -z "$(imds $mac0 subnet-ipv6-cidr-blocks)" ] &&
	for m in $mac0 $mac1 $mac2; do
		imds $m interface-id | grep -Eqx "eni-[0-9a-f]{17}" &&
		imds $m subnet-id | grep -Eqx "subnet-[0-9a-f]{17}" &&
		imds $m security-group-ids | grep -Eqx "sg-[0-9a-f]{17}" &&
		[ "$(imds $m security-groups)" = default ] &&
		[ "$(imds $m owner-id)" = 000000000000 ] &&
		[ "$(imds $m mac)" = $m ] &&
		[ "$(imds $m vpc-id)" = "$(imds $mac0 vpc-id)" ] || return 1
	done &&
	[ "$(imds $mac0 interface-id)" != "$(imds $mac1 interface-id)" ] &&
	[ "$(imds $mac1 subnet-id)" != "$(imds $mac2 subnet-id)" ]
'

test_expect_success 'restrict=on: the guest does not reach the host loopback listener' '
	grep -q "^=== host loopback via 169\.254\.0\.1: not reached" net.log &&
	grep -q "^=== host loopback via 100\.64\.16\.1: not reached" net.log &&
	! grep -q "reached\$" <(grep "host loopback" net.log | grep -v "not reached") &&
	! grep -q "GET /" http.log &&
	assert_empty_dir tmp
'

test_expect_success '--ssh on a guest without sshd: says why, gives up at --ssh-timeout' '
	ssh-keygen -q -t ed25519 -N "" -C kiln-t0730 -f id_test &&
	echo "kiln-test: idle" >idle.txt &&
	start=$SECONDS &&
	{ timeout 400 "$KILN" run net.raw --boot-mode legacy-bios --nics 2 --user-data idle.txt \
		--key-name id_test.pub --timeout 300 --ssh-timeout 25 --console-log idle.log --json \
		--ssh -- true >idle.json 2>idle.err; status=$?; } &&
	took=$((SECONDS - start)) &&
	cat idle.err && echo "status $status after $took s" &&
	[ "$status" = 1 ] && [ "$took" -lt 150 ] &&
	grep -q "^=== kiln net: idle" idle.log &&
	grep -Eq "^kiln: i-[0-9a-f]{17}: ready at [0-9.]+ s; waiting for SSH on 127\.0\.0\.1:[0-9]+: no SSH banner in the [0-9]+ s since: the guest refuses connections to its port 22 \(no sshd listening\?\); giving up at [0-9.]+ s \(--ssh-timeout 25\)\$" idle.err &&
	grep -q "^kiln:   the console.s last lines about the network:\$" idle.err &&
	grep -Eq "^kiln:     === dhcp: eth[01] " idle.err &&
	[ "$(grep -c "waiting for SSH" idle.err)" -le 3 ] &&
	tail -n 1 idle.err | grep -Eq "^kiln: i-[0-9a-f]{17}: unreachable: no SSH banner on 127\.0\.0\.1:[0-9]+ in the 25 s since it was ready at [0-9.]+ s \(--ssh-timeout\): the guest refuses connections to its port 22 \(no sshd listening\?\); instance terminated\$" &&
	[ "$(json_get idle.json "d[\"instances\"][0][\"end\"]")" = unreachable ] &&
	[ "$(json_get idle.json "len(d[\"instances\"][0][\"network_interfaces\"])")" = 2 ] &&
	[ "$(json_get idle.json "d[\"instances\"][0][\"network_interfaces\"][1][\"local_ipv4\"]")" = 100.64.16.15 ] &&
	[ "$(json_get idle.json "d[\"instances\"][0][\"network_interfaces\"][1][\"subnet\"]")" = 100.64.16.0/20 ] &&
	[ "$(json_get idle.json "d[\"instances\"][0][\"network_interfaces\"][0][\"mac\"]")" = \
	  "$(json_get idle.json "d[\"instances\"][0][\"mac\"]")" ] &&
	json_get idle.json "d[\"instances\"][0][\"network_interfaces\"][1][\"interface_id\"]" | grep -Eqx "eni-[0-9a-f]{17}" &&
	assert_empty_dir tmp
'

test_done
