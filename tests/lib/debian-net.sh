# debian-net.sh — sourced by the boot tests that need a Debian guest on the
# network.  Debian's minbase configures no NIC; a cloud image would carry
# that configuration (Debian's own cloud images use netplan or ifupdown
# with DHCP), so the tests append it to a copy of the tarball:
#
#   debian_net_tarball SRC.tar OUT.tar
#       OUT.tar = SRC.tar plus a systemd-networkd DHCP config for en*/eth*
#       and networkd enabled, appended with GNU tar, owned by root.

debian_net_tarball() {
	local src=$1 out=$2 add
	add=$(mktemp -d) || return 1
	mkdir -p "$add/etc/systemd/network" "$add/etc/systemd/system/multi-user.target.wants" &&
		printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" >"$add/etc/systemd/network/80-dhcp.network" &&
		chmod 0644 "$add/etc/systemd/network/80-dhcp.network" &&
		ln -s /lib/systemd/system/systemd-networkd.service \
			"$add/etc/systemd/system/multi-user.target.wants/systemd-networkd.service" &&
		cp "$src" "$out" &&
		tar -rf "$out" -C "$add" --numeric-owner --owner=0 --group=0 --no-recursion \
			./etc/systemd/network/80-dhcp.network \
			./etc/systemd/system/multi-user.target.wants/systemd-networkd.service
	local r=$?
	rm -rf "$add"
	return $r
}
