#!/bin/bash
# The instance's network, rendered by kiln-init for the stack each image
# has, on rootfs trees made the README's way with nothing added by the test:
#   - systemd-networkd (README's rootfs), a NoCloud network-config v2 with a
#     static address on a NIC matched by its MAC;
#   - ifupdown (README's + ifupdown, isc-dhcp-client), network-config v1
#     with DHCP, the NIC's name pinned to its MAC;
#   - netplan (README's + netplan.io), two NICs from kiln run
#     (--nics 2): both addressed by DHCP, the primary with the lower route
#     metric (kiln run's isolated networks offer no router by DHCP, so the
#     metrics are read from the configuration, not a routing table);
#   - an image with its own networkd file and `network: {config: disabled}`
#     in the user data: kiln writes nothing, the image's file does the work.
# Every check logs in with kiln run --ssh, so a wrong render fails the login.
. "$(dirname "$0")/../lib/test-lib.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage ssh ssh-keygen tar
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
tar --version 2>/dev/null | grep -q 'GNU tar' || skip_all "needs GNU tar (tar -r)"
for f in "" ifupdown netplan; do
	t=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" $f 2>fetch.err) ||
		skip_all "cannot make the Debian rootfs ${f:-README}: $(tail -n 1 fetch.err)"
	eval "tar_${f:-networkd}=\$t"
done
mkdir -p tmp
export TMPDIR=$TEST_OUT/tmp

# minbase has no iproute2: default routes from the kernel's own table, the
# gateway in little-endian hex (169.254.0.1 is 0100FEA9).
ROUTES="awk '\$2 == \"00000000\" { print \"route:\", \$1, \$3 }' /proc/net/route"

run() {   # run IMAGE LOG [kiln run options...] -- COMMAND: kiln run --ssh
	local img=$1 log=$2
	shift 2
	"$KILN" run "$img" --key-name key.pub --timeout 500 --console-log "$log" --ssh "$@" 2>"$log.err" ||
		{ cat "$log.err"; tail -n 80 "$log" | tr -d "\r"; false; }
}

test_expect_success 'three images, each with its network stack named in the build summary' '
	ssh-keygen -q -t ed25519 -N "" -C kiln-t0740 -f key &&
	"$KILN" build -r "$tar_networkd" -o networkd.img >b1.out &&
	grep "^  network:" b1.out &&
	grep -q "^  network:     systemd-networkd, rendered by kiln-init" b1.out &&
	"$KILN" build -r "$tar_ifupdown" -o ifupdown.img >b2.out &&
	grep -q "^  network:     ifupdown, rendered by kiln-init" b2.out &&
	"$KILN" build -r "$tar_netplan" -o netplan.img >b3.out &&
	grep -q "^  network:     netplan, rendered by kiln-init" b3.out
'

test_expect_success 'networkd: network-config v2, a static address on the NIC with this MAC' '
	cat >nc-static <<-\EOF &&
	version: 2
	ethernets:
	  lan:
	    match:
	      macaddress: "0A:4B:00:07:40:01"
	    addresses: [169.254.0.15/16]
	    routes:
	      - to: default
	        via: 169.254.0.1
	    nameservers:
	      addresses: [169.254.0.3]
	      search: [t0740.test]
	EOF
	printf "instance-id: iid-t0740-static\npublic-keys:\n  - %s\n" "$(cat key.pub)" >md-static &&
	printf "#cloud-config\n" >ud &&
	"$KILN" user-data check --network-config nc-static >check-static.out &&
	cat check-static.out &&
	grep -q "^interface lan: match MAC 0a:4b:00:07:40:01, addresses 169.254.0.15/16" check-static.out &&
	"$KILN" seed --user-data ud --meta-data md-static --network-config nc-static -o seed-static.img &&
	run networkd.img static.log --seed seed-static.img \
		--network-interfaces "[{\"DeviceIndex\": 0, \"MacAddress\": \"0a:4b:00:07:40:01\"}]" -- \
		"$ROUTES; hostname -I; cat /etc/resolv.conf; ls /etc/systemd/network; cat /etc/systemd/network/*.network;
		 echo leases: \$(ls /run/systemd/netif/leases | wc -l)" >static.out &&
	cat static.out &&
	grep -Eq "^route: [a-z0-9]+ 0100FEA9\$" static.out &&
	grep -Eq "^169.254.0.15 ?\$" static.out &&
	grep -qx "leases: 0" static.out &&
	grep -qx "MACAddress=0a:4b:00:07:40:01" static.out &&
	grep -qx "Address=169.254.0.15/16" static.out &&
	! grep -q "^DHCP=" static.out &&
	grep -qx "nameserver 169.254.0.3" static.out &&
	grep -qx "search t0740.test" static.out &&
	grep -qx "10-kiln-lan.network" static.out &&
	tr -d "\r" <static.log | grep -q "^network: 1 interface from the seed.s network-config"
'

test_expect_success 'ifupdown: network-config v1, DHCP on eth0 pinned to its MAC' '
	cat >nc-v1 <<-\EOF &&
	version: 1
	config:
	  - type: physical
	    name: eth0
	    mac_address: "0a:4b:00:07:40:02"
	    subnets:
	      - type: dhcp
	EOF
	printf "instance-id: iid-t0740-v1\npublic-keys:\n  - %s\n" "$(cat key.pub)" >md-v1 &&
	"$KILN" seed --user-data ud --meta-data md-v1 --network-config nc-v1 -o seed-v1.img >seed-v1.out &&
	cat seed-v1.out &&
	run ifupdown.img v1.log --seed seed-v1.img \
		--network-interfaces "[{\"DeviceIndex\": 0, \"MacAddress\": \"0a:4b:00:07:40:02\"}]" -- \
		"ls /sys/class/net; hostname -I; cat /etc/network/interfaces.d/50-kiln /etc/udev/rules.d/70-kiln-net.rules;
		 ls /etc/systemd/network; ls /run/network" >v1.out &&
	cat v1.out &&
	grep -Eq "^169.254.0.15 ?\$" v1.out &&
	grep -qx "iface eth0 inet dhcp" v1.out &&
	grep -q "ATTR{address}==\"0a:4b:00:07:40:02\", NAME=\"eth0\"" v1.out &&
	! grep -q "^10-kiln" v1.out &&
	grep -qx ifstate.eth0 v1.out
'

test_expect_success 'netplan: two NICs from kiln run, both addressed, the primary with route metric 100' '
	# netplan keeps its files root-only and the login is the default user:
	# bootcmd (root, early) leaves a readable copy.
	printf "#cloud-config\nbootcmd:\n  - install -m 0644 /etc/netplan/50-kiln.yaml /run/50-kiln.yaml\n" >ud-np &&
	run netplan.img two.log --nics 2 --user-data ud-np -- \
		"echo addresses: \$(hostname -I); echo leases: \$(ls /run/systemd/netif/leases | wc -l);
		 cat /sys/class/net/*/address; cat /run/50-kiln.yaml; ls /run/systemd/network" >two.out &&
	cat two.out &&
	[ "$(sed -n "s/^addresses: //p" two.out | wc -w)" = 2 ] &&
	grep -q "^addresses: .*169.254.0.15\b" two.out &&
	grep -q "^addresses: .*100.64.16.15\b" two.out &&
	grep -qx "leases: 2" two.out &&
	grep -A6 "^    \"eth0\":" two.out | grep -q "route-metric: 100" &&
	grep -A6 "^    \"eth1\":" two.out | grep -q "route-metric: 200" &&
	grep -q "^10-netplan-eth0.network" two.out &&
	tr -d "\r" <two.log | grep -q "^network: 2 interfaces from the EC2 metadata"
'

test_expect_success 'network: {config: disabled}: the image'"'"'s own networkd file, nothing of kiln'"'"'s' '
	mkdir -p own/etc/systemd/network own/etc/systemd/system/multi-user.target.wants &&
	printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" >own/etc/systemd/network/80-own.network &&
	chmod 0644 own/etc/systemd/network/80-own.network &&
	ln -s /lib/systemd/system/systemd-networkd.service \
		own/etc/systemd/system/multi-user.target.wants/systemd-networkd.service &&
	cp "$tar_networkd" own.tar &&
	tar -rf own.tar -C own --numeric-owner --owner=0 --group=0 --no-recursion \
		./etc/systemd/network/80-own.network \
		./etc/systemd/system/multi-user.target.wants/systemd-networkd.service &&
	"$KILN" build -q -r own.tar -o own.img &&
	printf "#cloud-config\nnetwork:\n  config: disabled\n" >ud-disabled &&
	run own.img own.log --user-data ud-disabled -- "ls /etc/systemd/network" >own.out &&
	cat own.out &&
	echo 80-own.network | test_cmp - own.out &&
	tr -d "\r" <own.log | grep -q "^network: configuration disabled by user data"
'

test_done
