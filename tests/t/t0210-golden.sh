#!/bin/bash
# Golden layouts: under SOURCE_DATE_EPOCH=1700000000 and a fixed -s 1G, each of
# the four layouts has one right partition table (sfdisk --dump) and one right
# root superblock (dumpe2fs -h), kept in tests/golden/.  Any change to the
# plan, the derived GUIDs or the ext4 geometry shows here as a diff.
#
#   KILN_UPDATE_GOLDEN=1 prove tests/t/t0210-golden.sh   rewrites the files
#
# Filtered, and only these, as they are not kiln's to fix:
#  * sfdisk's "device:" line: the path of the image;
#  * dumpe2fs's Free blocks, Free inodes and Checksum: they count the demo
#    rootfs, whose bytes come from the build host (busybox, the GRUB modules
#    kiln copies into /boot/grub) and from Debian's current cloud kernel.
# Times stay: under SOURCE_DATE_EPOCH they are the epoch.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"

test_have_prereq KILN || skip_all "no kiln binary (run make)"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
need_cmd sfdisk dumpe2fs
[ -r /usr/lib/grub/i386-pc/boot.img ] || skip_all "needs grub-pc-bin (/usr/lib/grub/i386-pc)"
[ -r /usr/lib/grub/x86_64-efi/normal.mod ] || skip_all "needs grub-efi-amd64-bin (/usr/lib/grub/x86_64-efi)"

GOLDEN=$TEST_ROOT/tests/golden
EPOCH=1700000000
make_demo_rootfs rootfs

# golden NAME FILE: compare FILE with tests/golden/NAME, or write it there.
golden() {
	if [ "${KILN_UPDATE_GOLDEN:-0}" = 1 ]; then
		mkdir -p "$GOLDEN" && cp "$2" "$GOLDEN/$1" && echo "updated tests/golden/$1"
	else
		[ -r "$GOLDEN/$1" ] || { echo "no tests/golden/$1 (make it with KILN_UPDATE_GOLDEN=1)"; return 1; }
		test_cmp "$GOLDEN/$1" "$2"
	fi
}

for layout in gpt-uefi-preferred gpt-uefi gpt-legacy-bios mbr-legacy-bios; do
	table=${layout%%-*} mode=${layout#*-}
	img=$layout.img

	test_expect_success "$layout: reproducible build, -s 1G" '
		SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -r rootfs -o "$img" -t "$table" -b "$mode" -s 1G &&
		[ "$(stat -c %s "$img")" -eq 1073741824 ]
	'

	test_expect_success "$layout: sfdisk --dump matches tests/golden/$layout.sfdisk" '
		sfdisk --dump "$img" >dump.raw &&
		grep -v "^device: " dump.raw >"$layout.sfdisk" &&
		[ "$(($(wc -l <dump.raw) - $(wc -l <"$layout.sfdisk")))" -eq 1 ] &&
		golden "$layout.sfdisk" "$layout.sfdisk"
	'

	test_expect_success "$layout: dumpe2fs -h of the root matches tests/golden/$layout.dumpe2fs" '
		if [ "$table" = gpt ]; then
			start=$(sf_part "$img" $GUID_ROOT_X86_64 start)
		else
			start=$(sf_part "$img" 83 start)
		fi &&
		dumpe2fs -h "$(e2_at "$img" $((start * 512)))" >dumpe2fs.raw 2>dumpe2fs.err &&
		grep -Ev "^(Free blocks|Free inodes|Checksum):" dumpe2fs.raw >"$layout.dumpe2fs" &&
		[ "$(($(wc -l <dumpe2fs.raw) - $(wc -l <"$layout.dumpe2fs")))" -eq 3 ] &&
		grep -q "^Filesystem created: *Tue Nov 14 22:13:20 2023\$" "$layout.dumpe2fs" &&
		golden "$layout.dumpe2fs" "$layout.dumpe2fs"
	'
done

test_expect_success 'a second build is bit-identical (gpt-uefi-preferred)' '
	mkdir again &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q -r rootfs -o again/gpt-uefi-preferred.img \
		-t gpt -b uefi-preferred -s 1G &&
	cmp gpt-uefi-preferred.img again/gpt-uefi-preferred.img &&
	cmp gpt-uefi-preferred.img.json again/gpt-uefi-preferred.img.json &&
	cmp gpt-uefi-preferred.img.kiln.json again/gpt-uefi-preferred.img.kiln.json
'

test_expect_success 'every golden file is used' '
	[ "${KILN_UPDATE_GOLDEN:-0}" = 1 ] ||
	{
		ls "$GOLDEN" | grep -E "\.(sfdisk|dumpe2fs)\$" | sort >golden.have &&
		for l in gpt-uefi-preferred gpt-uefi gpt-legacy-bios mbr-legacy-bios; do
			echo "$l.dumpe2fs" && echo "$l.sfdisk"
		done | sort >golden.want &&
		test_cmp golden.want golden.have
	}
'

test_done
