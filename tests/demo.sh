#!/bin/bash
# `make demo`: the main job, end to end.  Builds a small bootable image with
# kiln — busybox-static plus Debian's cloud kernel (fetched with apt-get
# download and unpacked into the git-ignored .cache) — as a GPT disk that
# boots under both BIOS and UEFI, then boots it under QEMU twice (SeaBIOS and
# OVMF, TCG, the disk attached as NVMe as on EC2 Nitro) and shows the guest's
# console, then launches it with `kiln run` as an EC2 instance would start
# (NVMe, a local IMDSv2 serving #cloud-config user data, which kiln-init and
# cloud-init-lite apply).  Outputs: build/demo/demo.raw, .json
# (RegisterImage), .kiln.json.
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
echo "== kiln run: launched like an EC2 instance (t3.micro, NVMe, local IMDSv2) with user data"
cat >"$WORK/user-data" <<'USERDATA'
#cloud-config
hostname: kiln-demo
write_files:
  - path: /etc/motd
    content: written by cloud-init-lite
runcmd:
  - 'echo "=== user data: runcmd ran on $(hostname) as $(id -un); motd: $(cat /etc/motd)"' 
USERDATA
"$KILN" user-data check "$WORK/user-data"
if "$KILN" run "$WORK/demo.raw" --user-data "$WORK/user-data" --timeout 180 --console-log "$WORK/console-run.log"; then
	grep -aE '^(datasource|hostname:|write_files:|=== user data)' "$WORK/console-run.log" | tr -d '\r'
	grep -aq '^=== user data: runcmd ran on kiln-demo' "$WORK/console-run.log" ||
		die "runcmd did not run; console log: $WORK/console-run.log"
else
	tail -40 "$WORK/console-run.log" | tr -d '\r'
	die "kiln run failed; console log: $WORK/console-run.log"
fi
echo "== the demo image boots under BIOS and UEFI, and as an instance with user data: $WORK/demo.raw"
