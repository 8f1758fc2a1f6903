#!/bin/bash
# Benchmark (not part of make check): the size of kiln-init and of kiln's
# initramfs, against the distribution's initramfs-tools initrd of the same
# Debian 12 rootfs, measured in the same run.  Target: kiln's initramfs under
# 2 MiB compressed without modules.  Prints sizes and ratios; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
O=${O:-build}
KILN=${KILN:-$O/kiln}
WORK=$O/bench-initramfs
rm -rf "$WORK" && mkdir -p "$WORK"
export SOURCE_DATE_EPOCH=1700000000

tarball=$(tests/lib/fetch-debian-rootfs.sh boot)
tests/lib/mkdemo-rootfs.sh "$WORK/demo" >/dev/null

size() { stat -c %s "$1"; }
root_e2() { # IMAGE -> IMAGE?offset=root partition start
	local start
	start=$(sfdisk -J "$1" | python3 -c 'import json,sys; t=json.load(sys.stdin)["partitiontable"]; print([p["start"] for p in t["partitions"] if p["node"].endswith("1") and not p["node"].endswith("11")][0])')
	echo "$1?offset=$((start * 512))"
}

"$KILN" build -q -r "$WORK/demo" -o "$WORK/demo.raw"
"$KILN" build -q -r "$tarball" -o "$WORK/debian.raw"
debugfs -R "dump /boot/kiln-initrd-$(ls "$WORK"/demo/boot | sed -n 's/^vmlinuz-//p') $WORK/kiln-nomod.img" "$(root_e2 "$WORK/demo.raw")" 2>/dev/null
ver=$(tar -tf "$tarball" | sed -n 's#^\./boot/vmlinuz-##p' | head -1)
debugfs -R "dump /boot/kiln-initrd-$ver $WORK/kiln-debian.img" "$(root_e2 "$WORK/debian.raw")" 2>/dev/null
debugfs -R "dump /boot/initrd.img-$ver $WORK/distro.img" "$(root_e2 "$WORK/debian.raw")" 2>/dev/null

init=$(size "$O/kiln-init")
nomod=$(size "$WORK/kiln-nomod.img")
kd=$(size "$WORK/kiln-debian.img")
dd_=$(size "$WORK/distro.img")
awk -v a="$init" -v b="$nomod" -v c="$kd" -v d="$dd_" 'BEGIN {
	printf "kiln-init: %d bytes (static, stripped)\n", a
	printf "kiln initramfs, no modules: %d bytes compressed (%.2f MiB; target < 2 MiB)\n", b, b / 1048576
	printf "initramfs for Debian 12 cloud: kiln %.2f MiB, initramfs-tools %.2f MiB, ratio %.2f\n", c / 1048576, d / 1048576, c / d
}'
