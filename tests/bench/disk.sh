#!/bin/bash
# tests/bench/disk.sh — a whole bootable disk: kiln against the conventional
# pipeline a distro script runs, in the same run, from the same tarball.
# Not part of `make check`.  Needs root (loop devices, mounts, chroot); without
# it the benchmark is skipped with a message (exit 0).
#
#   disk-build   The Debian 12 "bench" rootfs tarball (minbase + cloud kernel,
#                OpenSSH, systemd-sysv, grub-pc-bin, grub-efi-amd64-bin,
#                grub2-common: ${KILN_CACHE:-.cache}/debian-bookworm-bench.tar,
#                made by tests/lib/fetch-debian-rootfs.sh bench when missing).
#
#   kiln:  kiln build -q -r TARBALL -o kiln.raw -s 2G   (GPT, uefi-preferred)
#          kiln reads the tarball itself and fdatasync()s the image.
#
#   peer:  the same disk the way a distro script makes it, every step timed:
#          truncate -s 2G; sgdisk: p14 BIOS boot (ef02) at 2048, 3 MiB;
#            p15 ESP (ef00) at 8192, 124 MiB; p1 root (8304) from 262144 to
#            the end — kiln's sectors, types and names.  sgdisk always calls
#            sync() and then sleeps 1 s (gdisk's DiskSync): that second is
#            part of the pipeline.  It runs before tar -x, the order cheapest
#            for the peer: its sync() then has no extracted tree to flush.
#          tar -x --xattrs --xattrs-include='*' --acls --numeric-owner into a
#            fresh folder; rm the SSH host keys (kiln scrubs them too)
#          losetup -f --show, partx -a (this kernel has no GPT parser, so
#            losetup -P makes no partition devices; partx -a adds them by BLKPG)
#          mkfs.vfat -F 32 on p15; mke2fs -q -t ext4 -d TREE on p1
#          mount p1 (ext4); fusefat -o rw+ p15 at ROOT/boot/efi (this kernel
#            has no vfat); bind /dev /proc /sys into ROOT
#          chroot ROOT grub-install --target=i386-pc /dev/loopN
#          chroot ROOT grub-install --target=x86_64-efi --removable
#            --efi-directory=/boot/efi --no-nvram --no-uefi-secure-boot
#          /etc/default/grub.d/bench.cfg (serial console, like kiln's
#            kiln.cfg), chroot ROOT update-grub; root and ESP lines in
#            /etc/fstab (kiln adds the same).  There is no udev here, so the
#            script makes the /dev/disk/by-uuid links udev would (else
#            update-grub writes root=/dev/loopNp1) and removes them after.
#          unmount everything, partx -d, losetup -d, then `sync IMAGE`
#            (fsync of the image file) before the clock stops.
#          The host's grub-install fails without udev, hence the chroot.
#
# Each side is timed best-of-N (default 3) by wall clock; runs alternate
# kiln, peer, kiln, peer ...  The page cache is never dropped: the tarball is
# read once before timing, so both sides see the same warm cache.  Output:
#
#   disk-build: kiln 3.02 s, conventional pipeline 12.71 s, ratio 0.24
#   disk-build image on disk: kiln 423.7 MiB, conventional pipeline 462.5 MiB (apparent 2048.0 MiB and 2048.0 MiB)
#
# ratio is kiln/peer (below 1: kiln is faster).  Lines starting with '#' are
# context (the peer's per-step times, the checks).  Timings are reported, never
# asserted.  The script fails (exit 1) only when a side cannot run or an image
# is not sane: both images are checked after timing with sgdisk -v, e2fsck -fn
# on the root partition, fsck.fat -n on the ESP, and the presence of
# EFI/BOOT/BOOTX64.EFI, /boot/grub/grub.cfg, /boot/grub/{i386-pc,x86_64-efi},
# GRUB's boot.img in LBA 0 and a core image in the BIOS boot partition.
#
# Loop devices, partition devices and every mount are undone in an EXIT trap,
# also on failure or ^C.
#
# Environment:
#   O                  build folder holding kiln (default build)
#   KILN               the kiln command (default $O/kiln)
#   KILN_CACHE         where the tarball is (default .cache)
#   KILN_BENCH_TARBALL use this rootfs tarball instead (it needs a kernel and
#                      grub-install / update-grub inside)
#   KILN_BENCH_DIR     scratch folder (default $O/bench-disk); removed at the end
#   KILN_BENCH_RUNS    runs per side (default 3)
#   KILN_BENCH_SIZE    disk size (default 2G)
#   KILN_BENCH_KEEP=1  keep the scratch folder and both images
set -uo pipefail
export LC_ALL=C TZ=UTC

cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
KILN=${KILN:-$O/kiln}
CACHE=${KILN_CACHE:-.cache}
WORK=${KILN_BENCH_DIR:-$O/bench-disk}
RUNS=${KILN_BENCH_RUNS:-3}
SIZE=${KILN_BENCH_SIZE:-2G}

# kiln's default GPT layout (docs/kiln.1), in 512-byte sectors; the peer's disk
# is compared with kiln's after timing.
BIOS_START=2048 BIOS_SECTORS=6144       # p14, 3 MiB
ESP_START=8192 ESP_SECTORS=253952       # p15, 124 MiB
ROOT_START=262144                       # p1, to the end of the disk

die() { echo "bench-disk: $*" >&2; exit 1; }
skip() { echo "disk-build: skipped ($*)"; exit 0; }

[ "$(id -u)" -eq 0 ] || skip "needs root for the conventional pipeline's loop devices, mounts and chroot: run 'sudo tests/bench/disk.sh'"
[ -x "$KILN" ] || die "no kiln at '$KILN': run 'make' first"
[ -e /dev/loop-control ] || skip "no loop devices on this machine (/dev/loop-control is missing)"
[ -e /dev/fuse ] || skip "no FUSE on this machine (/dev/fuse is missing): the ESP is mounted with fusefat"
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed for the peer (--xattrs --acls)"
need() {   # COMMAND PACKAGE
	command -v "$1" >/dev/null || die "$1 not found (apt-get install $2)"
}
need sgdisk gdisk
need losetup util-linux
need partx util-linux
need blkid util-linux
need mountpoint util-linux
need mkfs.vfat dosfstools
need fsck.fat dosfstools
need mke2fs e2fsprogs
need e2fsck e2fsprogs
need debugfs e2fsprogs
need fusefat fusefat
need fusermount fuse
need mdir mtools
need chroot coreutils
need truncate coreutils

mkdir -p "$WORK" || die "cannot create '$WORK'"
WORK=$(cd "$WORK" && pwd)
TREE=$WORK/tree          # tar -x target
MNT=$WORK/mnt            # the peer's root mount, chroot target
KIMG=$WORK/kiln.raw
PIMG=$WORK/peer.raw
LOG=$WORK/cmd.log

# --- the peer's state, undone by teardown (idempotent) ------------------------
LOOP=''          # whole-disk loop device we attached
PARTS=''         # 1 when partx -a added partitions to $LOOP
FUSE_PID=''      # the fusefat process (foreground mode, our child)
MOUNTS=()        # what we mounted, in order; unmounted in reverse
UDEV_LINKS=()    # /dev/disk/by-uuid links we made (see udev_links)
UDEV_DIRS=()     # and the folders for them we made

umount_one() {   # PATH: unmount, lazily if it stays busy
	mountpoint -q "$1" || return 0
	umount "$1" 2>>"$LOG" && return 0
	sleep 0.2
	umount "$1" 2>>"$LOG" && return 0
	echo "bench-disk: '$1' is busy; detaching it lazily (umount -l)" >&2
	umount -l "$1" 2>>"$LOG"
}

teardown() {
	local i m rc=0
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		if [ "$m" = "$MNT/boot/efi" ] && [ -n "$FUSE_PID" ]; then
			mountpoint -q "$m" && { fusermount -u "$m" 2>>"$LOG" || umount_one "$m" || rc=1; }
			# fusermount -u returns before fusefat has written its last
			# sectors and exited: wait for it before the loop goes away.
			wait "$FUSE_PID" 2>/dev/null
			FUSE_PID=''
		else
			umount_one "$m" || rc=1
		fi
	done
	MOUNTS=()
	for ((i = ${#UDEV_LINKS[@]} - 1; i >= 0; i--)); do
		rm -f "${UDEV_LINKS[i]}"
	done
	for ((i = ${#UDEV_DIRS[@]} - 1; i >= 0; i--)); do
		rmdir "${UDEV_DIRS[i]}" 2>/dev/null
	done
	UDEV_LINKS=() UDEV_DIRS=()
	if [ -n "$FUSE_PID" ]; then   # started but never became a mount
		kill "$FUSE_PID" 2>/dev/null
		wait "$FUSE_PID" 2>/dev/null
		FUSE_PID=''
	fi
	if [ -n "$LOOP" ]; then
		[ -n "$PARTS" ] && { partx -d "$LOOP" >>"$LOG" 2>&1 || rc=1; }
		losetup -d "$LOOP" >>"$LOG" 2>&1 || rc=1
		LOOP='' PARTS=''
	fi
	return $rc
}

still_mounted() {   # anything mounted at or below $WORK?
	findmnt -rn -o TARGET 2>/dev/null | awk -v w="$WORK" 'index($0, w) == 1 { f = 1 } END { exit !f }'
}

cleanup() {
	teardown
	if still_mounted; then
		# Never rm -rf a tree with /dev, /proc or /sys bound into it.
		echo "bench-disk: something is still mounted under $WORK; leaving it in place:" >&2
		findmnt -rn -o TARGET | grep -F "$WORK" >&2
		return
	fi
	if [ "${KILN_BENCH_KEEP:-0}" = 1 ]; then
		echo "# kept $WORK"
		return
	fi
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- timing ------------------------------------------------------------------
elapsed=
timed() {   # COMMAND...: seconds (3 decimals) in $elapsed; output to $LOG
	local t0 t1 rc
	t0=$EPOCHREALTIME
	"$@" >>"$LOG" 2>&1 </dev/null
	rc=$?
	t1=$EPOCHREALTIME
	elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	return $rc
}
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
secs() { awk -v s="$1" 'BEGIN { printf "%.2f", s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
on_disk() { du -B1 "$1" | awk '{ printf "%.1f MiB", $1 / 1048576 }'; }
apparent() { du -B1 --apparent-size "$1" | awk '{ printf "%.1f MiB", $1 / 1048576 }'; }
show_log() { sed 's/^/#   /' "$LOG" | tail -25 >&2; }
fail() { show_log; die "$*"; }   # the EXIT trap tears down

# --- the peer's steps -----------------------------------------------------------
p_extract() {
	tar -x --xattrs --xattrs-include='*' --acls --numeric-owner -f "$TARBALL" -C "$TREE" &&
		rm -f "$TREE"/etc/ssh/ssh_host_*_key "$TREE"/etc/ssh/ssh_host_*_key.pub
}

p_partition() {
	truncate -s "$SIZE" "$PIMG" &&
		sgdisk -n 14:$BIOS_START:+$BIOS_SECTORS -t 14:ef02 -c 14:bios \
			-n 15:$ESP_START:+$ESP_SECTORS -t 15:ef00 -c 15:esp \
			-n 1:$ROOT_START:0 -t 1:8304 -c 1:root "$PIMG"
}

p_attach() {
	local i
	LOOP=$(losetup -f --show "$PIMG") || return 1
	echo "loop: $LOOP"
	partx -a "$LOOP" || return 1
	PARTS=1
	for ((i = 0; i < 50; i++)); do   # no udev: devtmpfs makes the nodes
		[ -b "${LOOP}p1" ] && [ -b "${LOOP}p14" ] && [ -b "${LOOP}p15" ] && return 0
		sleep 0.1
	done
	# Offset loop devices (losetup -o) would do for mkfs and mount, but not
	# for grub-install --target=i386-pc, which needs the partition to be part
	# of the disk it embeds into: so stop here rather than time half a pipeline.
	echo "partx -a made no partition devices ${LOOP}p1, p14, p15 in 5 s" >&2
	return 1
}

p_mkfs() {
	mkfs.vfat -F 32 "${LOOP}p15" && mke2fs -q -t ext4 -d "$TREE" "${LOOP}p1"
}

p_mount() {
	local i d
	mount -t ext4 "${LOOP}p1" "$MNT" || return 1
	MOUNTS+=("$MNT")
	mkdir -p "$MNT/boot/efi" || return 1
	# fsname: mountinfo then names the device, which grub-probe reads to find
	# the ESP's filesystem.  -f keeps fusefat our child, so teardown can wait.
	fusefat -f -o rw+,fsname="${LOOP}p15" "${LOOP}p15" "$MNT/boot/efi" >>"$LOG" 2>&1 </dev/null &
	FUSE_PID=$!
	MOUNTS+=("$MNT/boot/efi")
	for ((i = 0; i < 100; i++)); do
		mountpoint -q "$MNT/boot/efi" && break
		kill -0 "$FUSE_PID" 2>/dev/null || { echo "fusefat exited" >&2; return 1; }
		sleep 0.05
	done
	mountpoint -q "$MNT/boot/efi" || { echo "fusefat did not mount in 5 s" >&2; return 1; }
	for d in dev proc sys; do
		mount --bind "/$d" "$MNT/$d" || return 1
		MOUNTS+=("$MNT/$d")
	done
}

# No udev here: make the /dev/disk/by-uuid links it would have made for the
# root and ESP, or update-grub's 10_linux, which tests for
# /dev/disk/by-uuid/UUID, falls back to root=/dev/loopNp1 on the kernel's
# command line.  They are in the host's /dev (bound into the chroot) and are
# removed by teardown, with the folders when this script made them.
udev_links() {   # UUID DEVICE...
	local d
	for d in /dev/disk /dev/disk/by-uuid; do
		[ -d "$d" ] && continue
		mkdir "$d" || return 1
		UDEV_DIRS+=("$d")
	done
	while [ $# -ge 2 ]; do
		ln -sfn "../../${2#/dev/}" "/dev/disk/by-uuid/$1" || return 1
		UDEV_LINKS+=("/dev/disk/by-uuid/$1")
		shift 2
	done
}

p_grub() {
	local root_uuid esp_uuid
	root_uuid=$(blkid -p -s UUID -o value "${LOOP}p1") && esp_uuid=$(blkid -p -s UUID -o value "${LOOP}p15") &&
		[ -n "$root_uuid" ] && [ -n "$esp_uuid" ] || { echo "blkid found no UUID on ${LOOP}p1 or p15" >&2; return 1; }
	udev_links "$root_uuid" "${LOOP}p1" "$esp_uuid" "${LOOP}p15" || return 1
	chroot "$MNT" grub-install --target=i386-pc "$LOOP" || return 1
	chroot "$MNT" grub-install --target=x86_64-efi --removable --efi-directory=/boot/efi \
		--no-nvram --no-uefi-secure-boot || return 1
	mkdir -p "$MNT/etc/default/grub.d" &&
		cat >"$MNT/etc/default/grub.d/bench.cfg" <<-'EOF' || return 1
			# Written by tests/bench/disk.sh: the serial console kiln's kiln.cfg sets;
			# the distributor grub-pc's /etc/default/grub would set.
			GRUB_DISTRIBUTOR=Debian
			GRUB_TIMEOUT=1
			GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"
			GRUB_TERMINAL="console serial"
			GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
		EOF
	chroot "$MNT" update-grub || return 1
	printf 'UUID=%s / ext4 rw,discard,errors=remount-ro 0 1\nUUID=%s /boot/efi vfat umask=0077 0 2\n' \
		"$root_uuid" "$esp_uuid" >>"$MNT/etc/fstab"
}

p_finish() {
	teardown && sync "$PIMG"
}

# One run of the peer; step times in P_STEPS ("name secs" lines), total in P_TOTAL.
P_STEPS='' P_TOTAL=''
peer_run() {
	local step total=0
	P_STEPS=''
	for step in partition extract attach mkfs mount grub finish; do
		timed "p_$step" || fail "the conventional pipeline's '$step' step failed (its last output is above)"
		P_STEPS+="$step $elapsed"$'\n'
		total=$(add "$total" "$elapsed")
	done
	P_TOTAL=$total
}

# --- checks (after timing) -----------------------------------------------------
failed=0
img_ok=1
bad() { echo "# $1: NOT sane: $2"; failed=1 img_ok=0; }

check_image() {   # NAME IMAGE
	local name=$1 img=$2 off mbr
	img_ok=1
	if sgdisk -v "$img" >"$WORK/check.log" 2>&1 && grep -q 'No problems found' "$WORK/check.log"; then
		echo "# $name: sgdisk -v: no problems found"
	else
		bad "$name" "sgdisk -v:"; sed 's/^/#   /' "$WORK/check.log" | tail -10
	fi
	sgdisk -p "$img" 2>/dev/null | awk -v n="$name" '/^ +[0-9]+ +[0-9]+ +[0-9]+/ {
		printf "# %s:   partition %s sectors %s-%s type %s %s\n", n, $1, $2, $3, $6, $7 }'
	off=$((ROOT_START * 512))
	if e2fsck -fn "$img?offset=$off" >"$WORK/check.log" 2>&1; then
		echo "# $name: root partition clean under e2fsck -fn ($(tail -1 "$WORK/check.log" | sed 's/^[^:]*: //'))"
	else
		bad "$name" "e2fsck -fn of the root partition:"; sed 's/^/#   /' "$WORK/check.log" | tail -10
	fi
	for f in /boot/grub/grub.cfg /boot/grub/i386-pc /boot/grub/x86_64-efi; do
		debugfs -R "stat $f" "$img?offset=$off" >"$WORK/check.log" 2>&1 &&
			grep -q '^Inode:' "$WORK/check.log" || bad "$name" "no $f in the root filesystem"
	done
	# The menu must find the root by UUID or PARTUUID, not by a build-time
	# loop device name.
	debugfs -R "cat /boot/grub/grub.cfg" "$img?offset=$off" 2>/dev/null |
		awk '$1 == "linux" { n++; if ($0 !~ /root=(PART)?UUID=/) bad++ } END { exit !(n > 0 && bad == 0) }' ||
		bad "$name" "a 'linux' line in /boot/grub/grub.cfg has no root=UUID= or root=PARTUUID="
	rm -f "$WORK/esp.slice"
	dd if="$img" of="$WORK/esp.slice" bs=512 skip=$ESP_START count=$ESP_SECTORS conv=sparse status=none
	if fsck.fat -n "$WORK/esp.slice" >"$WORK/check.log" 2>&1; then
		echo "# $name: ESP clean under fsck.fat -n"
	else
		bad "$name" "fsck.fat -n of the ESP:"; sed 's/^/#   /' "$WORK/check.log" | tail -10
	fi
	MTOOLS_SKIP_CHECK=1 mdir -b -i "$WORK/esp.slice" ::/EFI/BOOT >"$WORK/check.log" 2>&1
	grep -qi 'EFI/BOOT/BOOTX64.EFI' "$WORK/check.log" || bad "$name" "no EFI/BOOT/BOOTX64.EFI on the ESP"
	rm -f "$WORK/esp.slice"
	# GRUB's boot.img in LBA 0 (it carries the string "GRUB "), the 55 AA
	# signature, and a core image at the start of the BIOS boot partition.
	mbr=$(dd if="$img" bs=512 count=1 status=none | od -An -tx1 -v | tr -d ' \n')
	[ "${mbr:1020:4}" = 55aa ] || bad "$name" "no 55 AA signature in LBA 0"
	dd if="$img" bs=512 count=1 status=none | grep -aq 'GRUB ' || bad "$name" "no GRUB boot.img in LBA 0"
	[ -n "$(dd if="$img" bs=512 skip=$BIOS_START count=1 status=none | tr -d '\0')" ] ||
		bad "$name" "the BIOS boot partition is empty (no core image)"
	[ "$img_ok" = 1 ] && echo "# $name: ESP has EFI/BOOT/BOOTX64.EFI; root has /boot/grub/{grub.cfg,i386-pc,x86_64-efi}," \
		"the menu finds root by (PART)UUID; boot.img in LBA 0, core image in p14"
}

# --- the run ---------------------------------------------------------------------
TARBALL=${KILN_BENCH_TARBALL:-$CACHE/debian-bookworm-bench.tar}
if [ ! -f "$TARBALL" ] && [ -z "${KILN_BENCH_TARBALL:-}" ]; then
	echo "# $TARBALL missing: making it with tests/lib/fetch-debian-rootfs.sh bench (a few minutes)"
	TARBALL=$(KILN_CACHE=$CACHE tests/lib/fetch-debian-rootfs.sh bench) || TARBALL=
fi
if [ -z "$TARBALL" ] || [ ! -f "$TARBALL" ]; then
	echo "disk-build: skipped (no rootfs tarball; make one as root with 'tests/lib/fetch-debian-rootfs.sh bench')"
	exit 1
fi
tar -tf "$TARBALL" | grep -x './usr/sbin/grub-install' >/dev/null ||
	die "'$TARBALL' has no /usr/sbin/grub-install: the conventional pipeline runs it inside the rootfs (use the 'bench' flavour)"

echo "# kiln bench (disk): $("$KILN" version), $(tar --version | head -1), $(sgdisk --version 2>&1 | head -1 | sed 's/ *$//')," \
	"$(mke2fs -V 2>&1 | head -1), fusefat $(dpkg-query -W -f '${Version}' fusefat 2>/dev/null || echo '?')"
echo "# $(uname -sr), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"scratch $WORK on $(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || echo '?')"
echo "# rootfs $TARBALL ($(du -m --apparent-size "$TARBALL" | cut -f1) MiB), disk $SIZE, GPT: p14 BIOS boot, p15 ESP, p1 root"
echo "# best of $RUNS runs per side, wall clock, alternating; page cache not dropped (the tarball is read"
echo "# once before timing: both sides see the same warm cache).  Both end with their data on disk:"
echo "# kiln fdatasync()s its image; the peer runs 'sync IMAGE' (fsync of the image file) after"
echo "# unmounting and detaching its loop devices, before its clock stops."

cat "$TARBALL" >/dev/null
: >"$LOG"
kbest='' pbest='' psteps=''
for ((i = 1; i <= RUNS; i++)); do
	rm -f "$KIMG" "$KIMG".json "$KIMG".kiln.json
	timed "$KILN" build -q -r "$TARBALL" -o "$KIMG" -s "$SIZE" || fail "kiln build of '$TARBALL' failed"
	echo "# run $i: kiln $(secs "$elapsed") s"
	kbest=$(min "$kbest" "$elapsed")

	rm -rf --one-file-system "$TREE" "$MNT" && rm -f "$PIMG" || die "cannot clear the peer's scratch files"
	mkdir "$TREE" "$MNT" || die "cannot create '$TREE'"
	: >"$LOG"
	peer_run
	echo "# run $i: conventional pipeline $(secs "$P_TOTAL") s ($(echo -n "$P_STEPS" |
		awk '{ printf "%s%s %.2f", (NR > 1 ? ", " : ""), $1, $2 }'))"
	if [ -z "$pbest" ] || [ "$(min "$pbest" "$P_TOTAL")" = "$P_TOTAL" ]; then
		pbest=$P_TOTAL psteps=$P_STEPS
	fi
done
rm -rf --one-file-system "$TREE"

echo "disk-build: kiln $(secs "$kbest") s, conventional pipeline $(secs "$pbest") s, ratio $(ratio "$kbest" "$pbest")"
echo "# disk-build: the peer's best run: $(echo -n "$psteps" | awk '{ printf "%s%s %.2f s", (NR > 1 ? ", " : ""), $1, $2 }')"
echo "#   (partition = truncate + sgdisk, 1 s of it sgdisk's own sleep; extract = tar -x + rm host"
echo "#    keys; attach = losetup + partx -a; mkfs = mkfs.vfat + mke2fs -d; mount = ext4 + fusefat +"
echo "#    binds; grub = 2x grub-install + update-grub + fstab; finish = unmount, partx -d,"
echo "#    losetup -d, sync IMAGE)"
grub_s=$(echo -n "$psteps" | awk '$1 == "grub" { print $2 }')
echo "# disk-build: kiln vs the peer without its grub step: ratio $(ratio "$kbest" "$(awk -v a="$pbest" -v b="$grub_s" 'BEGIN { print a - b }')")"
echo "disk-build image on disk: kiln $(on_disk "$KIMG"), conventional pipeline $(on_disk "$PIMG")" \
	"(apparent $(apparent "$KIMG") and $(apparent "$PIMG"))"

table() { sgdisk -p "$1" 2>/dev/null | awk '/^ +[0-9]+ +[0-9]+ +[0-9]+/ { print $1, $2, $3, $6 }' | sort -n; }
if [ "$(table "$KIMG")" = "$(table "$PIMG")" ]; then
	echo "# disk-build: both disks have the same partitions (numbers, start and end sectors, types)"
else
	echo "# disk-build: the two disks' partitions differ:"
	diff <(table "$KIMG") <(table "$PIMG") | sed 's/^/#   /'
	failed=1
fi
check_image kiln "$KIMG"
check_image "conventional pipeline" "$PIMG"
exit $failed
