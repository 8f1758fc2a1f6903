#!/bin/bash
# Makes the small demo rootfs: busybox-static, Debian's cloud kernel in
# /boot with its modules (kiln's initramfs takes the disk, network and seed
# drivers from them), a minimal account database, and an init that runs the
# user data stages (kiln-init(8)'s hook for an init that is not systemd),
# reports on the serial console and powers off.
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
for app in sh mount umount mountpoint cat echo ls df uname poweroff sleep mkdir dmesg grep sync reboot id hostname; do
	ln -s busybox "$out/bin/$app"
done
cp "$kernel"/boot/vmlinuz-* "$out/boot/"
mkdir -p "$out/lib/modules"
# Hard links when the cache is on the same file system: no copy of ~90 MiB.
cp -al "$kernel"/lib/modules/* "$out/lib/modules/" 2>/dev/null || cp -a "$kernel"/lib/modules/* "$out/lib/modules/"
cat > "$out/sbin/init" <<'INIT'
#!/bin/sh
# The demo image's whole userland: say what booted, then power off.
# kiln-init hands over with /proc, /sys and /dev mounted; another initramfs may not.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev 2>/dev/null
[ -s /etc/hostname ] && hostname -F /etc/hostname
echo "=== kiln demo: init started"
# What the kernel (through the initramfs) passed to init: "single", "--" ...
echo "=== init args: $*"
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
# The user data stages: kiln-init leaves itself in /run/kiln when the
# instance has a datasource; an init that is not systemd runs them itself.
if [ -x /run/kiln/kiln-init ]; then
	mount -o remount,rw /
	/run/kiln/kiln-init --stage boot
	/run/kiln/kiln-init --stage final
	mount -o remount,ro /
fi
echo "=== kiln demo: boot ok"
sync
poweroff -f
INIT
chmod 755 "$out/sbin/init"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$out/etc/passwd"
printf 'root:*:19700:0:99999:7:::\n' > "$out/etc/shadow"
printf 'root:x:0:\nadm:x:4:\nusers:x:100:\n' > "$out/etc/group"
printf 'root:*::\nadm:*::\nusers:*::\n' > "$out/etc/gshadow"
chmod 0640 "$out/etc/shadow" "$out/etc/gshadow"
printf 'NAME="kiln demo"\nPRETTY_NAME="kiln demo (busybox)"\nID=kiln-demo\n' > "$out/etc/os-release"
echo "$out"
