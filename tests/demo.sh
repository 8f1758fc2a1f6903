#!/bin/bash
# tests/demo.sh — `make demo`: build a small busybox rootfs into an ext4
# image with kiln, then show it with the e2fsprogs tools.
#
#   $O/demo/rootfs/      the tree: the host's static busybox (Debian package
#                        busybox-static) and its applet links, a few files in
#                        /etc, and some things the scrubber must remove
#   $O/demo/rootfs.tar   the same tree as a pax tarball owned by root, so
#                        neither step needs root
#   $O/demo.img          the image: a bare ext4 filesystem (-t none; a bootable
#                        disk needs a kernel in the rootfs), with its metadata
#                        $O/demo.img.json and $O/demo.img.kiln.json
#
# Then: e2fsck -fn of the image, a debugfs listing, and a second build that
# must be byte-identical (SOURCE_DATE_EPOCH is set).  Needs no root.
set -euo pipefail
export LC_ALL=C TZ=UTC

cd "$(dirname "$0")/.."
O=${O:-build}
KILN=${KILN:-$O/kiln}
BUSYBOX=${BUSYBOX:-/bin/busybox}
WORK=$O/demo
IMG=$O/demo.img
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

die() { echo "demo: $*" >&2; exit 1; }

[ -x "$KILN" ] || die "no kiln at '$KILN': run 'make' first"
[ -x "$BUSYBOX" ] || die "no '$BUSYBOX': apt-get install busybox-static"
for cmd in e2fsck debugfs; do
	command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install e2fsprogs"
done
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed to pack the demo rootfs"

# --- the rootfs ---------------------------------------------------------------
rm -rf "$WORK"
root=$WORK/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/ssh,dev,proc,sys,run,tmp,root,var/log}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$BUSYBOX" "$root/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
	case $applet in
	*/*) [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet" ;;
	esac
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf 'kiln-demo\n' >"$root/etc/hostname"
printf '::sysinit:/bin/mount -t proc proc /proc\n::sysinit:/bin/hostname -F /etc/hostname\n::respawn:-/bin/sh\n' \
	>"$root/etc/inittab"
# What a builder machine leaves behind; kiln's scrubber removes it.
printf '0123456789abcdef0123456789abcdef\n' >"$root/etc/machine-id"
printf 'not a real key: the scrubber must remove it\n' >"$root/etc/ssh/ssh_host_ed25519_key"
chmod 0600 "$root/etc/ssh/ssh_host_ed25519_key"
printf 'echo secret-token\n' >"$root/root/.ash_history"

tar --create --format=pax --sort=name --owner=0 --group=0 --numeric-owner \
	--mtime="@$SOURCE_DATE_EPOCH" --pax-option=delete=atime,delete=ctime \
	-C "$root" -f "$WORK/rootfs.tar" .

# --- the image ----------------------------------------------------------------
echo "== kiln build -r $WORK/rootfs.tar -o $IMG -t none --label demo"
"$KILN" build -r "$WORK/rootfs.tar" -o "$IMG" -t none --label demo

echo
echo "== e2fsck -fn $IMG"
e2fsck -fn "$IMG"

echo
echo "== debugfs -R 'ls -l /' $IMG"
debugfs -R 'ls -l /' "$IMG" 2>/dev/null
echo
echo "== debugfs -R 'ls -l /etc' $IMG   (machine-id emptied)"
debugfs -R 'ls -l /etc' "$IMG" 2>/dev/null
echo
echo "== debugfs -R 'ls -l /etc/ssh' $IMG   (host key removed)"
debugfs -R 'ls -l /etc/ssh' "$IMG" 2>/dev/null

echo
echo "== reproducible: build again with SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH and compare"
"$KILN" build -q -r "$WORK/rootfs.tar" -o "$WORK/again.img" -t none --label demo
cmp "$IMG" "$WORK/again.img"
rm -f "$WORK"/again.img*
echo "identical: $IMG"
