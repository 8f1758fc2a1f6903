#!/bin/bash
# `make demo`: the main job, end to end.  Builds a small bootable image with
# kiln — busybox-static plus Debian's cloud kernel (fetched with apt-get
# download and unpacked into the git-ignored .cache) — as a GPT disk that
# boots under both BIOS and UEFI, then boots it under QEMU twice (SeaBIOS and
# OVMF, TCG, the disk attached as NVMe as on EC2 Nitro) and shows the guest's
# console.  Outputs: build/demo/demo.raw, .json (RegisterImage), .kiln.json.
set -euo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
KILN=${KILN:-$O/kiln}
WORK=$O/demo
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}

die() { echo "demo: $*" >&2; exit 1; }
[ -x "$KILN" ] || die "no kiln at '$KILN': run 'make' first"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found: apt-get install qemu-system-x86"

mkdir -p "$WORK"
echo "== the rootfs: busybox + Debian's cloud kernel"
tests/lib/mkdemo-rootfs.sh "$WORK/rootfs" >/dev/null
echo "== kiln build"
"$KILN" build -r "$WORK/rootfs" -o "$WORK/demo.raw" --name kiln-demo
echo "== RegisterImage input ($WORK/demo.raw.json)"
cat "$WORK/demo.raw.json"
for fw in bios uefi; do
	echo "== booting under $( [ $fw = bios ] && echo SeaBIOS || echo OVMF) (TCG, NVMe disk); guest console:"
	if tests/lib/qemu-boot.sh -f $fw -t 180 -l "$WORK/console-$fw.log" "$WORK/demo.raw"; then
		grep -aE '^=== |Linux version' "$WORK/console-$fw.log" | tr -d '\r'
	else
		tail -40 "$WORK/console-$fw.log" | tr -d '\r'
		die "the demo image did not boot under $fw; full console log: $WORK/console-$fw.log"
	fi
done
echo "== the demo image boots under BIOS and UEFI: $WORK/demo.raw"
