#!/bin/bash
# tests/bench/firstboot.sh — first boot to a working sshd: kiln's initramfs
# (kiln-init grows the root partition and ext4 and makes the SSH host keys
# before switch_root) against the conventional way (the distribution's
# initramfs, then a systemd oneshot unit running growpart, resize2fs and
# ssh-keygen -A before ssh.service), in the same run, under identical QEMU
# settings.  Not part of `make check`; run it by hand:
#
#   tests/bench/firstboot.sh
#
#   rootfs   the Debian 12 "firstboot" tarball (minbase + cloud kernel,
#            OpenSSH, systemd-sysv, signed shim/GRUB, cloud-guest-utils for
#            growpart: ${KILN_CACHE:-.cache}/debian-bookworm-firstboot.tar,
#            made by tests/lib/fetch-debian-rootfs.sh firstboot when missing,
#            which needs root) plus, appended with GNU tar (owners 0): a
#            systemd-networkd DHCP config and its enabling symlink, and an
#            authorized key for root (to power the guest off afterwards).
#   kiln     kiln build -r TARBALL -o kiln.raw -s 2G (kiln's initramfs)
#   peer     the same tarball plus /usr/local/sbin/firstboot-peer and
#            firstboot-peer.service (WantedBy multi-user.target, Before
#            ssh.service, once: a flag file in /var/lib), built by kiln with
#            a spec of 'initramfs: distro' (Debian's initramfs-tools initrd)
#   both     copied and grown to 8 GiB (qemu-img resize) so that the first
#            boot has a partition and a file system to grow; kiln scrubs the
#            tarball's host keys from both images, so both make keys.
#
# Each image is booted writable by tests/lib/qemu-boot.sh with the same
# options (SeaBIOS, NVMe, TCG, 1 GiB, one CPU, user networking with a host
# port forwarded to the guest's 22, the same SMBIOS UUID), and timed from
# the start of QEMU until sshd answers (ssh-keyscan -t ed25519 through the
# forwarded port, polled every 0.5 s); the login prompt on the serial
# console is noted on the way.  One connection per probe, on purpose: QEMU's
# user network holds a forwarded connection made before the guest has an
# address and hands it to the guest later, so a probe opening several
# connections at a time (plain ssh-keyscan opens one per key type) floods a
# sshd that starts right after DHCP into MaxStartups throttling and delays
# the answer by seconds (seen here: 8-10 s, on the kiln side only, since
# the peer's sshd waits for its oneshot).  What remains is QEMU's SYN
# retransmission to the guest: the measure is good to a second or two.  The guest is then powered off over ssh (the host key
# taken from that ssh-keyscan answer) and the disk is checked: the root
# partition ends at the disk's last usable LBA and e2fsck -fn is clean.
#
# Note what each side does: kiln-init makes ecdsa and ed25519 keys;
# ssh-keygen -A makes rsa (3072 bits), ecdsa and ed25519, as Debian's own
# first boot and cloud-init's defaults do.  Output, one line per round:
#
#   firstboot-ssh: kiln 31.2 s, distro initramfs + oneshot 41.9 s, ratio 0.74
#
# then '#' lines: the login prompt times, kiln-init's task durations and
# the peer's step durations, from the consoles, and each guest's own view
# (systemd-analyze time, and when ssh.service started in its critical chain;
# with kiln's initramfs systemd sees no initrd, so its "kernel" time
# includes kiln-init).  Timings are reported,
# never asserted; the script fails only when a side cannot boot to sshd.
#
# Environment:
#   O             build folder holding kiln (default build)
#   KILN_CACHE    where the Debian tarball is (default .cache)
#   BENCH_RUNS    rounds (default 1; each round boots both images once,
#                 alternating which goes first)
#   BENCH_OUT     scratch folder (default $O/bench-firstboot; kept)
set -uo pipefail
export LC_ALL=C TZ=UTC
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case $O in /*) ;; *) O=$ROOT/$O ;; esac
KILN=${KILN:-$O/kiln}
BOOT=$ROOT/tests/lib/qemu-boot.sh
RUNS=${BENCH_RUNS:-1}
OUT=${BENCH_OUT:-$O/bench-firstboot}
SIZE=8G
UUID=0b000000-0000-4000-8000-00000000f1b7
BOOT_TIMEOUT=400

die() { echo "firstboot-bench: $*" >&2; exit 1; }
skip() { echo "# firstboot-ssh: skipped: $*"; exit 0; }

[ -x "$KILN" ] || die "no kiln at '$KILN': run make first"
for c in qemu-system-x86_64 qemu-img ssh ssh-keyscan ssh-keygen sfdisk e2fsck python3; do
	command -v $c >/dev/null || skip "$c not installed"
done
tar --version 2>/dev/null | grep -q 'GNU tar' || skip "needs GNU tar"
tarball=$("$ROOT/tests/lib/fetch-debian-rootfs.sh" firstboot) || skip "no Debian firstboot rootfs (see above)"

rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT" || die "cannot make '$OUT'"

# ---- the two images ----------------------------------------------------------

ssh-keygen -q -t ed25519 -N '' -C kiln-bench -f id_bench || die "ssh-keygen failed"
mkdir -p add/etc/systemd/network add/etc/systemd/system/multi-user.target.wants add/root/.ssh
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >add/etc/systemd/network/80-dhcp.network
ln -s /lib/systemd/system/systemd-networkd.service add/etc/systemd/system/multi-user.target.wants/systemd-networkd.service
cp id_bench.pub add/root/.ssh/authorized_keys
chmod 0644 add/etc/systemd/network/80-dhcp.network
chmod 0700 add/root/.ssh
chmod 0600 add/root/.ssh/authorized_keys
common=(./etc/systemd/network/80-dhcp.network
	./etc/systemd/system/multi-user.target.wants/systemd-networkd.service
	./root/.ssh ./root/.ssh/authorized_keys)

mkdir -p peer/usr/local/sbin peer/etc/systemd/system/multi-user.target.wants
cat >peer/usr/local/sbin/firstboot-peer <<'EOF'
#!/bin/sh
# A conventional first boot: grow the root partition and ext4, make the
# SSH host keys.  Each step's time goes to the console.
set -u
ms() { echo $(( $(date +%s%N) / 1000000 )); }
src=$(findmnt -n -o SOURCE /)
dev=${src#/dev/}
part=$(cat /sys/class/block/$dev/partition)
disk=/dev/$(basename "$(readlink -f /sys/class/block/$dev/..)")
t0=$(ms)
growpart "$disk" "$part"
t1=$(ms)
resize2fs "$src"
t2=$(ms)
ssh-keygen -A
t3=$(ms)
mkdir -p /var/lib && touch /var/lib/firstboot-peer.done
echo "firstboot-peer: growpart $((t1 - t0)) ms, resize2fs $((t2 - t1)) ms, ssh-keygen -A $((t3 - t2)) ms, total $((t3 - t0)) ms"
EOF
chmod 0755 peer/usr/local/sbin/firstboot-peer
cat >peer/etc/systemd/system/firstboot-peer.service <<'EOF'
[Unit]
Description=First boot: growpart, resize2fs, ssh-keygen -A
After=systemd-remount-fs.service local-fs.target
Before=ssh.service
ConditionPathExists=!/var/lib/firstboot-peer.done

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/firstboot-peer
RemainAfterExit=yes
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 peer/etc/systemd/system/firstboot-peer.service
ln -s /etc/systemd/system/firstboot-peer.service peer/etc/systemd/system/multi-user.target.wants/firstboot-peer.service

cp "$tarball" kiln.tar &&
	tar -rf kiln.tar -C add --numeric-owner --owner=0 --group=0 --no-recursion "${common[@]}" ||
	die "cannot append to kiln.tar"
cp kiln.tar peer.tar &&
	tar -rf peer.tar -C peer --numeric-owner --owner=0 --group=0 --no-recursion \
		./usr/local/sbin/firstboot-peer ./etc/systemd/system/firstboot-peer.service \
		./etc/systemd/system/multi-user.target.wants/firstboot-peer.service ||
	die "cannot append to peer.tar"
printf 'initramfs: distro\n' >distro.yaml
"$KILN" build -q -r kiln.tar -o kiln.raw -s 2G || die "kiln build of kiln.raw failed"
"$KILN" build -q distro.yaml -r peer.tar -o peer.raw -s 2G || die "kiln build of peer.raw (initramfs: distro) failed"
rm -f kiln.tar peer.tar

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ---- one timed boot ---------------------------------------------------------------

boot_pid=
stop_guest() {
	if [ -n "$boot_pid" ] && kill -0 "$boot_pid" 2>/dev/null; then
		pkill -TERM -P "$boot_pid" 2>/dev/null
		wait "$boot_pid" 2>/dev/null
	fi
	boot_pid=
}
trap stop_guest EXIT

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e9 }'; }

# timed_boot SIDE ROUND: sets ssh_ns and login_ns (0 when not seen); fails
# when sshd never answered.
timed_boot() {
	local side=$1 round=$2 img=$1-$2.raw log=$1-$2.console port start t
	cp --sparse=always "$side.raw" "$img" && qemu-img resize -q -f raw "$img" $SIZE || return 1
	port=$(free_port)
	ssh_ns=0 login_ns=0
	start=$(now)
	"$BOOT" -w -e -t $BOOT_TIMEOUT -m 'login:' -n "$port" -u $UUID -l "$log" "$img" >"$side-$round.qemu" 2>&1 &
	boot_pid=$!
	while kill -0 $boot_pid 2>/dev/null; do
		t=$(now)
		[ $(( (t - start) / 1000000000 )) -lt $BOOT_TIMEOUT ] || break
		if [ "$login_ns" = 0 ] && [ -f "$log" ] && tr -d '\r' <"$log" | grep -q 'login:'; then
			login_ns=$((t - start))
		fi
		if ssh-keyscan -t ed25519 -T 3 -p "$port" 127.0.0.1 >"$side-$round.keyscan" 2>/dev/null &&
			[ -s "$side-$round.keyscan" ]; then
			ssh_ns=$(( $(now) - start ))
			break
		fi
		sleep 0.5
	done
	if [ "$ssh_ns" = 0 ]; then
		stop_guest
		echo "firstboot-bench: $side: sshd did not answer within ${BOOT_TIMEOUT} s; console: $OUT/$log" >&2
		return 1
	fi
	# The login prompt may come after sshd: wait for it (not timed against).
	while [ "$login_ns" = 0 ] && kill -0 $boot_pid 2>/dev/null && [ $(( ($(now) - start) / 1000000000 )) -lt $BOOT_TIMEOUT ]; do
		if tr -d '\r' <"$log" | grep -q 'login:'; then
			login_ns=$(( $(now) - start ))
		else
			sleep 0.5
		fi
	done
	# Power off over ssh, trusting the key sshd just showed, then check the disk.
	ssh -F /dev/null -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$side-$round.keyscan" \
		-o GlobalKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10 -o IdentitiesOnly=yes \
		-i id_bench -p "$port" root@127.0.0.1 \
		'df -k / | tail -n 1; ls /etc/ssh/ssh_host_*_key.pub
		 systemctl is-system-running --wait >/dev/null; systemd-analyze time
		 echo "ssh.service active at $(systemctl show -P ActiveEnterTimestampMonotonic ssh.service) us"
		 systemd-analyze blame --no-pager | head -n 4 | sed "s/^ */blame: /"
		 systemctl poweroff' >"$side-$round.ssh" 2>&1
	t=$SECONDS
	while kill -0 $boot_pid 2>/dev/null && [ $((SECONDS - t)) -lt 120 ]; do sleep 1; done
	stop_guest
	check_disk "$img" "$side" || return 1
	rm -f "$img"
}

# check_disk IMG SIDE: the root partition reached the end of the disk and
# its ext4 is clean.
check_disk() {
	local img=$1 last start size
	last=$(sfdisk -J "$img" 2>/dev/null | python3 -c 'import json, sys; print(json.load(sys.stdin)["partitiontable"]["lastlba"])')
	read -r start size < <(sfdisk -J "$img" 2>/dev/null | python3 -c 'import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p["type"].upper() == "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709": print(p["start"], p["size"])')
	if [ "$((start + size - 1))" != "$last" ]; then
		echo "firstboot-bench: $2: the root partition was not grown (ends at $((start + size - 1)), last usable LBA $last)" >&2
		return 1
	fi
	e2fsck -fn "$img?offset=$((start * 512))" >"$img.e2fsck" 2>&1 || {
		echo "firstboot-bench: $2: e2fsck -fn is not clean after the boot; see $OUT/$img.e2fsck" >&2
		return 1
	}
}

# ---- the rounds ---------------------------------------------------------------

status=0
for round in $(seq 1 "$RUNS"); do
	if [ $((round % 2)) = 1 ]; then order="kiln peer"; else order="peer kiln"; fi
	for side in $order; do
		timed_boot $side $round || { status=1; continue; }
		eval "${side}_ssh=$ssh_ns ${side}_login=$login_ns"
	done
	[ $status = 0 ] || break
	printf 'firstboot-ssh: kiln %s s, distro initramfs + oneshot %s s, ratio %s\n' \
		"$(secs "$kiln_ssh")" "$(secs "$peer_ssh")" "$(awk -v a="$kiln_ssh" -v b="$peer_ssh" 'BEGIN { printf "%.2f", a / b }')"
	printf '# round %s: login prompt on the console after kiln %s s, peer %s s\n' "$round" \
		"$(secs "$kiln_login")" "$(secs "$peer_login")"
	printf '# round %s kiln-init: %s\n' "$round" "$(tr -d '\r' <kiln-$round.console |
		grep -E '^(task [a-z]+: |kiln-init: .*finished)' | paste -sd ';' | sed 's/;/; /g')"
	printf '# round %s peer: %s\n' "$round" "$(tr -d '\r' <peer-$round.console |
		grep -o 'firstboot-peer: .*' | head -n 1)"
	for side in kiln peer; do
		printf '# round %s %s guest: %s; %s\n' "$round" "$side" \
			"$(grep -o 'Startup finished in .*' $side-$round.ssh | head -n 1)" \
			"$(awk '/^ssh.service active at [0-9]+ us$/ { printf "ssh.service active %.1f s after the kernel started", $4 / 1e6 }' $side-$round.ssh)"
		printf '# round %s %s guest: slowest units: %s\n' "$round" "$side" \
			"$(sed -n 's/^blame: //p' $side-$round.ssh | paste -sd ';' | sed 's/;/, /g')"
		printf '# round %s %s guest: root %s KiB; host keys: %s\n' "$round" "$side" \
			"$(awk 'NR == 1 { print $2 }' $side-$round.ssh)" \
			"$(grep -o 'ssh_host_[a-z0-9]*_key' $side-$round.ssh | sed 's/ssh_host_//; s/_key//' | paste -sd ' ')"
	done
done
[ $status = 0 ] || echo "firstboot-bench: failed; consoles and scratch kept in $OUT" >&2
exit $status
