#!/bin/bash
# Boots a real Debian 12 image (cloud kernel, initramfs-tools, systemd, and
# Debian's signed shim + GRUB) built by kiln from a mmdebstrap tarball, on an
# NVMe disk as on Nitro: to a login prompt on ttyS0 under SeaBIOS, under
# OVMF, and under OVMF with Secure Boot enforcing (Microsoft's keys enrolled).
. "$(dirname "$0")/../lib/test-lib.sh"
need_cmd qemu-system-x86_64 grub-mkimage mmdebstrap
[ -f /usr/share/OVMF/OVMF_CODE_4M.secboot.fd ] || skip_all "OVMF is not installed (apt-get install ovmf)"
test_have_prereq ROOT || skip_all "mmdebstrap needs root to make the Debian rootfs"
BOOT=$TEST_ROOT/tests/lib/qemu-boot.sh
tarball=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" boot) || skip_all "cannot make the Debian rootfs"

test_expect_success 'the Debian image builds with the rootfs signed shim and GRUB' '
	"$KILN" build -r "$tarball" -o debian.raw -s 2G >summary &&
	grep "grub efi:.*shim-signed" summary &&
	grep "grub bios:" summary
'

test_expect_success 'it reaches a login prompt under SeaBIOS' '
	"$BOOT" -f bios -t 300 -m "login:" -l bios.log debian.raw
'

test_expect_success 'it reaches a login prompt under OVMF' '
	"$BOOT" -f uefi -t 300 -m "login:" -l uefi.log debian.raw &&
	grep -q "EFI v" uefi.log
'

test_expect_success 'it boots with Secure Boot enforcing and the guest says so' '
	"$BOOT" -f secboot -t 300 -m "login:" -l secboot.log debian.raw &&
	grep -q "Secure boot enabled" secboot.log
'

test_done
