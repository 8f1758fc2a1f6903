#!/bin/bash
# Makes the small demo rootfs: busybox-static, Debian's cloud kernel in
# /boot, and an init that reports on the serial console and powers off.
#   tests/lib/mkdemo-rootfs.sh OUTDIR
set -euo pipefail
out=$1
here=$(cd "$(dirname "$0")" && pwd)
kernel=$("$here/fetch-kernel.sh")
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
	busybox=/bin/busybox
fi
if [ ! -x "$busybox" ]; then
	echo "mkdemo-rootfs: busybox-static is not installed" >&2
	exit 1
fi
rm -rf "$out"
mkdir -p "$out"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,boot,mnt}
cp "$busybox" "$out/bin/busybox"
for app in sh mount umount cat echo ls df uname poweroff sleep mkdir dmesg grep sync reboot; do
	ln -s busybox "$out/bin/$app"
done
cp "$kernel"/boot/vmlinuz-* "$out/boot/"
cat > "$out/sbin/init" <<'INIT'
#!/bin/sh
# The demo image's whole userland: say what booted, then power off.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "=== kiln demo: init started"
echo "=== kernel: $(uname -r)"
if [ -d /sys/firmware/efi ]; then echo "=== firmware: uefi"; else echo "=== firmware: bios"; fi
echo "=== root: $(grep ' / ' /proc/mounts | head -1)"
df -k / | tail -1 | while read -r fs size used avail pct mnt; do echo "=== root size: $size KiB"; done
# Each disk: name, size, and the controller's serial and model (kiln run's
# EBS volumes are NVMe serial vol..., instance store AWS...).
for b in /sys/block/nvme* /sys/block/vd*; do
	[ -e "$b/size" ] || continue
	read -r sectors < "$b/size"
	serial=-; model=-
	[ -r "$b/device/serial" ] && read -r serial < "$b/device/serial"
	[ -r "$b/device/model" ] && read -r model < "$b/device/model"
	echo "=== block: ${b##*/} $((sectors / 2)) KiB serial $serial model $model"
done
echo "=== kiln demo: boot ok"
sync
poweroff -f
INIT
chmod 755 "$out/sbin/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$out/etc/passwd"
printf 'NAME="kiln demo"\nPRETTY_NAME="kiln demo (busybox)"\nID=kiln-demo\n' > "$out/etc/os-release"
echo "$out"
