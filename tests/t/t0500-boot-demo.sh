#!/bin/bash
# Boots the demo image (busybox + Debian's cloud kernel) under QEMU (TCG) in
# every layout and boot mode: GRUB from the BIOS boot partition or the MBR
# gap under SeaBIOS, GRUB's EFI image from the ESP under OVMF.  The disk is
# NVMe, as on Nitro instances.  Console logs stay in tests/out on failure.
. "$(dirname "$0")/../lib/test-lib.sh"
need_cmd qemu-system-x86_64 grub-mkimage
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || skip_all "OVMF is not installed (apt-get install ovmf)"
[ -d /usr/lib/grub/i386-pc ] && [ -d /usr/lib/grub/x86_64-efi ] ||
	skip_all "GRUB images are not installed (apt-get install grub-pc-bin grub-efi-amd64-bin)"
BOOT=$TEST_ROOT/tests/lib/qemu-boot.sh
export SOURCE_DATE_EPOCH=1700000000

test_expect_success 'the demo rootfs is made' '
	"$TEST_ROOT/tests/lib/mkdemo-rootfs.sh" root >/dev/null &&
	ls root/boot/vmlinuz-*
'

# boot_check IMAGE FIRMWARE: boots, then checks the markers the demo init prints.
boot_check() {
	"$BOOT" -f "$2" -t 120 -l "$1.$2.log" "$1" &&
	grep -q "=== firmware: $3" "$1.$2.log" &&
	grep -Eq "=== root: /dev/(root|nvme0n1p1) / ext4" "$1.$2.log"
}

test_expect_success 'gpt + legacy-bios boots under SeaBIOS' '
	"$KILN" build -q -t gpt -b legacy-bios -r root -o gpt-bios.raw &&
	boot_check gpt-bios.raw bios bios
'

test_expect_success 'gpt + uefi boots under OVMF' '
	"$KILN" build -q -t gpt -b uefi -r root -o gpt-uefi.raw &&
	boot_check gpt-uefi.raw uefi uefi
'

test_expect_success 'gpt + uefi-preferred boots under SeaBIOS' '
	"$KILN" build -q -t gpt -b uefi-preferred -r root -o gpt-hybrid.raw &&
	boot_check gpt-hybrid.raw bios bios
'

test_expect_success 'the same gpt + uefi-preferred image boots under OVMF' '
	boot_check gpt-hybrid.raw uefi uefi
'

test_expect_success 'mbr + legacy-bios boots under SeaBIOS' '
	"$KILN" build -q -t mbr -r root -o mbr.raw &&
	boot_check mbr.raw bios bios
'

test_expect_success 'booting never modified the images (QEMU snapshot mode)' '
	"$KILN" build -q -t gpt -b uefi-preferred -r root -o again.raw &&
	cmp gpt-hybrid.raw again.raw
'

test_done
