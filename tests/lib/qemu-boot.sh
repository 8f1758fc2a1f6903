#!/bin/bash
# Boots a disk image under QEMU (TCG here: nested KVM hangs) and waits for a
# marker on the serial console.
#   qemu-boot.sh [-f bios|uefi|secboot] [-d nvme|virtio] [-t SECONDS] [-m MARKER] [-l LOG]
#                [-w] [-u UUID] [-k KERNEL -i INITRD -a APPEND] [-e] [-n HOSTFWD_PORT [-M MAC]] [-s SEED] IMAGE
#   -w  write to IMAGE (default: snapshot, the image is never modified)
#   -u  SMBIOS system UUID (kiln-init's instance id without a datasource)
#   -k/-i/-a  boot KERNEL and INITRD directly with APPEND (crash tests)
#   -e  wait for QEMU to exit (power-off or reset) instead of killing it at MARKER
#   -n  forward host port N to the guest's port 22 (user networking)
#   -M  the NIC's MAC (default QEMU's, 52:54:00:12:34:56)
#   -s  attach SEED (a NoCloud seed volume, `kiln seed`) as a virtio-blk disk, never modified
# Exit 0 when MARKER was seen, 1 otherwise; the console log stays in LOG.
set -uo pipefail
fw=bios disk=nvme timeout=120 marker='=== kiln demo: boot ok' log= writable= uuid= kernel= initrd= append= wait_exit= fwd= seed= mac=
while getopts f:d:t:m:l:wu:k:i:a:en:s:M: o; do
	case $o in
	f) fw=$OPTARG ;; d) disk=$OPTARG ;; t) timeout=$OPTARG ;; m) marker=$OPTARG ;; l) log=$OPTARG ;;
	w) writable=1 ;; u) uuid=$OPTARG ;; k) kernel=$OPTARG ;; i) initrd=$OPTARG ;; a) append=$OPTARG ;;
	e) wait_exit=1 ;; n) fwd=$OPTARG ;; s) seed=$OPTARG ;; M) mac=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
img=$1
[ -n "$log" ] || log=$(mktemp)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=(-nodefaults -no-user-config -nographic -m 1024 -smp 1 -serial "file:$log" -monitor none -no-reboot)
if [ -e /dev/kvm ] && [ "${KILN_ACCEL:-tcg}" = kvm ]; then args+=(-accel kvm); else args+=(-accel tcg); fi
case $fw in
bios) args+=(-machine q35) ;;
uefi)
	cp /usr/share/OVMF/OVMF_VARS_4M.fd "$work/vars.fd"
	args+=(-machine q35 -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
		-drive if=pflash,format=raw,file="$work/vars.fd") ;;
secboot)
	cp /usr/share/OVMF/OVMF_VARS_4M.ms.fd "$work/vars.fd"
	args+=(-machine q35,smm=on -global driver=cfi.pflash01,property=secure,value=on
		-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd
		-drive if=pflash,format=raw,unit=1,file="$work/vars.fd") ;;
*) echo "qemu-boot: unknown firmware $fw" >&2; exit 2 ;;
esac
# snapshot=on: the image under test is never modified by booting it.
if [ -n "$writable" ]; then
	args+=(-drive "file=$img,if=none,id=root,format=raw,cache=unsafe")
else
	args+=(-drive "file=$img,if=none,id=root,format=raw,snapshot=on")
fi
[ -z "$uuid" ] || args+=(-uuid "$uuid")
[ -z "$kernel" ] || args+=(-kernel "$kernel" -append "$append")
[ -z "$initrd" ] || args+=(-initrd "$initrd")
if [ -n "$fwd" ]; then
	args+=(-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$fwd-:22" -device "virtio-net-pci,netdev=n0${mac:+,mac=$mac}")
fi
# With a seed disk beside it, the firmware must still boot the root disk.
rootboot=
[ -z "$seed" ] || rootboot=,bootindex=0
case $disk in
nvme) args+=(-device "nvme,drive=root,serial=vol0123456789abcdef0$rootboot") ;;
virtio) args+=(-device "virtio-blk-pci,drive=root$rootboot") ;;
*) echo "qemu-boot: unknown disk $disk" >&2; exit 2 ;;
esac
[ -z "$seed" ] || args+=(-drive "file=$seed,if=none,id=seed,format=raw,snapshot=on" -device virtio-blk-pci,drive=seed)
: > "$log"
qemu-system-x86_64 "${args[@]}" </dev/null >"$work/qemu.out" 2>&1 &
pid=$!
end=$((SECONDS + timeout))
status=1
while [ $SECONDS -lt $end ]; do
	if [ -z "$wait_exit" ] && grep -qF -- "$marker" "$log" 2>/dev/null; then status=0; break; fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.5
done
grep -qF -- "$marker" "$log" 2>/dev/null && status=0
# -e: the guest must end by itself (power-off or reset), not be killed here.
if [ -n "$wait_exit" ] && kill -0 $pid 2>/dev/null; then
	echo "qemu-boot: QEMU still running after ${timeout}s (-e waits for the guest to power off); console log: $log" >&2
	status=1
fi
kill $pid 2>/dev/null; wait $pid 2>/dev/null
[ $status -eq 0 ] || { echo "qemu-boot: no '$marker' within ${timeout}s; console log: $log" >&2; cat "$work/qemu.out" >&2; }
exit $status
