#!/bin/bash
# Bootable-disk layouts, checked from the outside: for GPT with each boot mode
# and for MBR, built from the demo rootfs, every byte kiln claims to have
# written is read back by a tool that is not kiln:
#  * the tables: sgdisk -v, sfdisk --verify, sfdisk -J (Debian's cloud layout:
#    p14 BIOS boot at 2048, 3 MiB; p15 ESP, 124 MiB; p1 root to the last
#    usable LBA), the protective/classic MBR entries decoded by hand;
#  * the filesystems: blkid -p on each partition, e2fsck -fn on the root,
#    fsck.fat -n on the ESP, every ESP file through mtools and through GRUB's
#    own FAT driver (grub-fstest), /boot through GRUB's own ext2 driver;
#  * the boot code: boot.img's patched fields and its untouched code, the
#    embedded core.img and its block list, the menu's root=PARTUUID=;
#  * the identities: fstab's root and ESP UUIDs, the FAT serial.
# No loop devices, no mounts, no QEMU (boot tests live elsewhere).
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"

test_have_prereq KILN || skip_all "no kiln binary (run make)"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
need_cmd sgdisk sfdisk blkid fsck.fat mdir mtype minfo grub-fstest grub-mkimage od cmp dd numfmt
[ -r /usr/lib/grub/i386-pc/boot.img ] || skip_all "needs grub-pc-bin (/usr/lib/grub/i386-pc)"
[ -r /usr/lib/grub/x86_64-efi/normal.mod ] || skip_all "needs grub-efi-amd64-bin (/usr/lib/grub/x86_64-efi)"

make_demo_rootfs rootfs
KVER=$(cd rootfs/boot && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)

# A second rootfs with Debian's signed shim and GRUB, when the host has them:
# kiln then puts those on the ESP instead of a GRUB image of its own.
SHIM=/usr/lib/shim/shimx64.efi.signed
MM=/usr/lib/shim/mmx64.efi.signed
SIGNED_GRUB=/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
if [ -r "$SHIM" ] && [ -r "$MM" ] && [ -r "$SIGNED_GRUB" ]; then
	test_set_prereq SHIM
fi

# layout NAME TABLE MODE [SIZE]: the tests for one image, NAME.img.
layout() {
	name=$1 table=$2 mode=$3 size=${4:-} src=${ROOTFS:-rootfs}
	img=$name.img
	if [ "$table" = gpt ]; then gp=gpt; else gp=msdos; fi
	has_bios=no has_esp=no
	[ "$mode" != uefi ] && has_bios=yes
	[ "$table" = gpt ] && [ "$mode" != legacy-bios ] && has_esp=yes

	test_expect_success ${PREREQ:-} "$name: kiln build -t $table -b $mode${size:+ -s $size}" '
		"$KILN" build -q -r "$src" -o "$img" -t "$table" -b "$mode" ${size:+-s "$size"} &&
		assert_file "$img" "$img.json" "$img.kiln.json" &&
		bytes=$(stat -c %s "$img") &&
		N=$((bytes / 512)) &&
		[ $((N * 512)) -eq "$bytes" ] &&
		if [ -n "$size" ]; then
			want=$(numfmt --from=iec "$size") &&
			[ "$bytes" -eq "$want" ] || { echo "size $bytes, want $size"; return 1; }
		fi &&
		fsuuid=$(kiln_json "$img" "d[\"filesystem\"][\"uuid\"]") &&
		echo "$N sectors, fs UUID $fsuuid"
	'

	test_expect_success ${PREREQ:-} "$name: sgdisk -v and sfdisk --verify find no problem" '
		if [ "$table" = gpt ]; then
			sgdisk -v "$img" >sgdisk.out && cat sgdisk.out &&
			grep -q "^No problems found" sgdisk.out
		fi &&
		sfdisk --verify "$img" >verify.out 2>&1 && cat verify.out &&
		grep -q "No errors detected" verify.out &&
		! grep -qi -e warning -e error: verify.out
	'

	test_expect_success ${PREREQ:-} "$name: the partitions follow the layout (Debian cloud for GPT)" '
		if [ "$table" = gpt ]; then
			esp_start=$BIOS_BOOT_START
			[ $has_bios = yes ] && esp_start=$((esp_start + BIOS_BOOT_SECTORS))
			root_start=$esp_start
			[ $has_esp = yes ] && root_start=$((root_start + ESP_SECTORS))
			{
				echo "1 $root_start $((N - 34 - root_start + 1)) $GUID_ROOT_X86_64 0"
				[ $has_bios = yes ] && echo "14 $BIOS_BOOT_START $BIOS_BOOT_SECTORS $GUID_BIOS_BOOT 0"
				[ $has_esp = yes ] && echo "15 $esp_start $ESP_SECTORS $GUID_ESP 0"
				true
			} >parts.expect
		else
			echo "1 2048 $((N - 2048)) 83 1" >parts.expect
		fi &&
		sf_parts "$img" | cut -d" " -f1-4,6 >parts.actual &&
		test_cmp parts.expect parts.actual &&
		if [ "$table" = gpt ]; then
			# the root partition ends at the last usable LBA
			[ "$(sf_table "$img" lastlba)" -eq $((N - 34)) ] &&
			[ "$(sf_table "$img" firstlba)" -eq 34 ] &&
			[ "$(blkid -p -s PTTYPE -o value "$img")" = gpt ] &&
			[ "$(blkid -p -s PTUUID -o value "$img")" = "$(kiln_json "$img" "d[\"disk_guid\"]")" ]
		else
			[ "$(blkid -p -s PTTYPE -o value "$img")" = dos ] &&
			[ "$(blkid -p -s PTUUID -o value "$img")" = "$(kiln_json "$img" "d[\"mbr_signature\"]")" ]
		fi
	'

	test_expect_success ${PREREQ:-} "$name: the partitions' offsets" '
		if [ "$table" = gpt ]; then
			root_start=$(sf_part "$img" $GUID_ROOT_X86_64 start) &&
			root_sectors=$(sf_part "$img" $GUID_ROOT_X86_64 size) &&
			root_partuuid=$(sf_part "$img" $GUID_ROOT_X86_64 partuuid)
		else
			root_start=$(sf_part "$img" 83 start) &&
			root_sectors=$(sf_part "$img" 83 size) &&
			root_partuuid=$(sf_part "$img" 83 partuuid)
		fi &&
		root_off=$((root_start * 512)) &&
		esp_start= esp_off= bios_start= &&
		if [ $has_esp = yes ]; then
			esp_start=$(sf_part "$img" $GUID_ESP start) &&
			esp_off=$((esp_start * 512))
		fi &&
		if [ $has_bios = yes ] && [ "$table" = gpt ]; then
			bios_start=$(sf_part "$img" $GUID_BIOS_BOOT start)
		fi &&
		echo "root at $root_start ($root_partuuid), esp at ${esp_start:-none}, bios boot at ${bios_start:-none}"
	'

	test_expect_success ${PREREQ:-} "$name: blkid -p identifies each partition" '
		[ "$(blkid_at "$img" $root_off TYPE)" = ext4 ] &&
		[ "$(blkid_at "$img" $root_off UUID)" = "$fsuuid" ] &&
		if [ $has_esp = yes ]; then
			[ "$(blkid_at "$img" $esp_off TYPE)" = vfat ] &&
			[ "$(blkid_at "$img" $esp_off VERSION)" = FAT32 ] &&
			[ "$(blkid_at "$img" $esp_off LABEL)" = EFI ]
		fi &&
		if [ -n "$bios_start" ]; then
			# GRUB core image only: no filesystem signature (exit 2)
			blkid -p -O $((bios_start * 512)) "$img" >bios.blkid
			[ $? -eq 2 ] || { cat bios.blkid; return 1; }
		fi
	'

	test_expect_success ${PREREQ:-} "$name: the root filesystem is clean and fits its partition" '
		e2fsck -fn "$(e2_at "$img" $root_off)" &&
		dumpe2fs -h "$(e2_at "$img" $root_off)" >dumpe2fs.out 2>/dev/null &&
		blocks=$(sed -n "s/^Block count: *//p" dumpe2fs.out) &&
		bsize=$(sed -n "s/^Block size: *//p" dumpe2fs.out) &&
		fs_bytes=$((blocks * bsize)) part_bytes=$((root_sectors * 512)) &&
		echo "filesystem $fs_bytes bytes in a partition of $part_bytes" &&
		[ $fs_bytes -le $part_bytes ] && [ $fs_bytes -gt $((part_bytes - bsize)) ]
	'

	test_expect_success ${PREREQ:-} "$name: GRUB reads /boot and a menu with root=PARTUUID= of the root partition" '
		grub-fstest "$img" ls "(loop0,${gp}1)/boot/" | tr " " "\n" >boot.ls &&
		cat boot.ls &&
		grep -qx "vmlinuz-$KVER" boot.ls &&
		grep -qx "grub/" boot.ls &&
		grub-fstest "$img" cat "(loop0,${gp}1)/boot/grub/grub.cfg" >grub.cfg &&
		cat grub.cfg &&
		grep -q "^search --no-floppy --fs-uuid --set=root $fsuuid\$" grub.cfg &&
		grep -Eq "^	linux /boot/vmlinuz-$KVER root=PARTUUID=$root_partuuid ro( |\$)" grub.cfg &&
		[ "$(grep -c "root=PARTUUID=" grub.cfg)" -eq 1 ] &&
		grub-fstest "$img" ls "(loop0,${gp}1)/boot/grub/" | tr " " "\n" >grub.ls &&
		if [ $has_bios = yes ]; then
			grep -qx i386-pc/ grub.ls &&
			grub-fstest "$img" ls "(loop0,${gp}1)/boot/grub/i386-pc/" | tr " " "\n" >i386.ls &&
			grep -qx core.img i386.ls && grep -qx normal.mod i386.ls && grep -qx boot.img i386.ls
		else
			! grep -qx i386-pc/ grub.ls
		fi &&
		if [ $has_esp = yes ] && [ -z "${SB:-}" ]; then
			grep -qx x86_64-efi/ grub.ls &&
			grub-fstest "$img" ls "(loop0,${gp}1)/boot/grub/x86_64-efi/" | tr " " "\n" >efi.ls &&
			grep -qx normal.mod efi.ls && grep -qx linux.mod efi.ls
		else
			! grep -qx x86_64-efi/ grub.ls
		fi
	'

	test_expect_success ${PREREQ:-} "$name: the MBR's four entries are what sfdisk reads" '
		for i in 0 1 2 3; do
			e=$((0x1be + 16 * i))
			type=$(hex_at "$img" $((e + 4)) 1)
			[ "$type" = 00 ] && continue
			flag=$(hex_at "$img" $e 1)
			case $flag in 80) boot=1;; 00) boot=0;; *) echo "entry $i: boot flag $flag"; return 1;; esac
			echo "$((i + 1)) $(le_uint "$img" 4 $((e + 8))) $(le_uint "$img" 4 $((e + 12))) $type $boot"
		done >mbr.actual &&
		if [ "$table" = gpt ]; then
			sf_parts "$img" --nested | cut -d" " -f1-4,6 >mbr.expect &&
			max=$(( N - 1 > 0xffffffff ? 0xffffffff : N - 1 )) &&
			echo "1 1 $max ee 0" >pmbr.expect &&
			test_cmp pmbr.expect mbr.expect
		else
			sf_parts "$img" | cut -d" " -f1-4,6 >mbr.expect &&
			[ "$(hex_at "$img" 0x1b8 4)" = "$(printf %s "$(kiln_json "$img" "d[\"mbr_signature\"]")" |
				sed -E "s/(..)(..)(..)(..)/\4\3\2\1/")" ]
		fi &&
		test_cmp mbr.expect mbr.actual &&
		[ "$(hex_at "$img" 0x1fe 2)" = 55aa ]
	'

	if [ $has_bios = yes ]; then
		test_expect_success ${PREREQ:-} "$name: boot.img in sector 0 points at the core image" '
			if [ "$table" = gpt ]; then core_start=$bios_start; else core_start=1; fi &&
			[ "$(hex_at "$img" 0x1fe 2)" = 55aa ] &&
			[ "$(le_uint "$img" 8 0x5c)" = "$core_start" ] &&
			[ "$(hex_at "$img" 0x64 1)" = ff ] &&
			[ "$(hex_at "$img" 0x66 2)" = 9090 ] &&
			# the rest is GRUB boot.img as shipped (in the image at /boot/grub)
			debugfs -R "dump /boot/grub/i386-pc/boot.img boot.img" "$(e2_at "$img" $root_off)" 2>/dev/null &&
			[ "$(stat -c %s boot.img)" -eq 512 ] &&
			cmp -n 3 boot.img "$img" &&
			cmp -i 0x5a -n 2 boot.img "$img" &&
			cmp -i 0x65 -n 1 boot.img "$img" &&
			cmp -i 0x68 -n $((0x1b8 - 0x68)) boot.img "$img"
		'

		test_expect_success ${PREREQ:-} "$name: core.img is embedded, with its block list" '
			debugfs -R "dump /boot/grub/i386-pc/core.img core.img" "$(e2_at "$img" $root_off)" 2>/dev/null &&
			len=$(stat -c %s core.img) &&
			sectors=$(( (len + 511) / 512 )) &&
			base=$((core_start * 512)) &&
			echo "core.img: $len bytes, $sectors sectors at $core_start" &&
			[ "$(le_uint "$img" 8 $((base + 0x1f4)))" -eq $((core_start + 1)) ] &&
			[ "$(le_uint "$img" 2 $((base + 0x1fc)))" -eq $((sectors - 1)) ] &&
			[ "$(le_uint "$img" 2 $((base + 0x1fe)))" -eq $((0x820)) ] &&
			[ "$(le_uint "$img" 2 $((base + 0x1f0)))" -eq 0 ] &&
			cmp -i 0:$base -n $((0x1f4)) core.img "$img" &&
			cmp -i 512:$((base + 512)) -n $((len - 512)) core.img "$img" &&
			if [ "$table" = gpt ]; then
				[ $((core_start + sectors)) -le $((bios_start + BIOS_BOOT_SECTORS)) ]
			else
				[ $((core_start + sectors)) -le "$root_start" ]
			fi
		'
	fi

	if [ $has_esp = yes ]; then
		test_expect_success ${PREREQ:-} "$name: the ESP is a clean FAT32 volume (fsck.fat -n)" '
			dd if="$img" of=esp.slice bs=512 skip=$esp_start count=$ESP_SECTORS conv=sparse status=none &&
			fsck.fat -n esp.slice >fsck.out 2>&1; rc=$?
			cat fsck.out &&
			[ $rc -eq 0 ] &&
			[ "$(wc -l <fsck.out)" -eq 2 ] &&
			minfo -i esp.slice :: >minfo.out &&
			grep -qx "hidden sectors: $esp_start" minfo.out &&
			grep -q "^fats: 2" minfo.out
		'

		test_expect_success ${PREREQ:-} "$name: mtools and GRUB read every ESP file back alike" '
			mdir -i "$img@@$esp_off" -/ -b :: >esp.list &&
			cat esp.list &&
			if [ -n "${SB:-}" ]; then
				printf "%s\n" ::/EFI/ ::/EFI/BOOT/ ::/EFI/debian/ ::/EFI/BOOT/BOOTX64.EFI ::/EFI/BOOT/grub.cfg \
					::/EFI/BOOT/grubx64.efi ::/EFI/BOOT/mmx64.efi ::/EFI/debian/grub.cfg
			else
				printf "%s\n" ::/EFI/ ::/EFI/BOOT/ ::/EFI/BOOT/BOOTX64.EFI
			fi >esp.expect &&
			test_cmp esp.expect esp.list &&
			grep -v "/\$" esp.list | while read -r f; do
				local_name=esp-file.$(basename "$f") &&
				mtype -i "$img@@$esp_off" "$f" >"$local_name" &&
				[ -s "$local_name" ] &&
				grub-fstest "$img" cmp "(loop0,gpt15)${f#::}" "$local_name" ||
				{ echo "ESP file $f: mtools and GRUB disagree"; exit 1; }
			done &&
			if [ -n "${SB:-}" ]; then
				cmp "$SHIM" esp-file.BOOTX64.EFI &&
				cmp "$SIGNED_GRUB" esp-file.grubx64.efi &&
				cmp "$MM" esp-file.mmx64.efi &&
				printf "search.fs_uuid %s root\nset prefix=(\$root)'"'"'/boot/grub'"'"'\nconfigfile \$prefix/grub.cfg\n" \
					"$fsuuid" >grub.cfg.expect &&
				test_cmp grub.cfg.expect esp-file.grub.cfg &&
				mtype -i "$img@@$esp_off" ::/EFI/debian/grub.cfg >debian.cfg &&
				test_cmp grub.cfg.expect debian.cfg
			else
				# a PE image with the early config that finds the root by UUID
				[ "$(hex_at esp-file.BOOTX64.EFI 0 2)" = 4d5a ] &&
				grep -aq "search.fs_uuid $fsuuid root" esp-file.BOOTX64.EFI
			fi
		'

		test_expect_success ${PREREQ:-} "$name: fstab mounts the ESP by its FAT serial and / by the fs UUID" '
			serial=$(blkid_at "$img" $esp_off UUID) &&
			raw=$(le_uint "$img" 4 $((esp_off + 0x43))) &&
			[ "$serial" = "$(printf "%04X-%04X" $((raw >> 16)) $((raw & 0xffff)))" ] &&
			debugfs -R "cat /etc/fstab" "$(e2_at "$img" $root_off)" >fstab 2>/dev/null &&
			cat fstab &&
			[ "$(awk "\$2 == \"/boot/efi\" { print \$1, \$3 }" fstab)" = "UUID=$serial vfat" ] &&
			[ "$(awk "\$2 == \"/\" { print \$1, \$3 }" fstab)" = "UUID=$fsuuid ext4" ]
		'
	else
		test_expect_success ${PREREQ:-} "$name: fstab mounts / by the fs UUID, and no ESP" '
			debugfs -R "cat /etc/fstab" "$(e2_at "$img" $root_off)" >fstab 2>/dev/null &&
			cat fstab &&
			[ "$(awk "\$2 == \"/\" { print \$1, \$3 }" fstab)" = "UUID=$fsuuid ext4" ] &&
			! grep -q /boot/efi fstab
		'
	fi
}

layout gpt-uefi-preferred gpt uefi-preferred
layout gpt-uefi gpt uefi 314573312          # 300 MiB + one sector: not MiB-aligned
layout gpt-legacy-bios gpt legacy-bios
layout mbr-legacy-bios mbr legacy-bios 200M

test_expect_success SHIM 'a rootfs with shim-signed and grub-efi-amd64-signed' '
	cp -a rootfs rootfs-sb &&
	mkdir -p rootfs-sb/usr/lib/shim rootfs-sb/usr/lib/grub/x86_64-efi-signed &&
	cp "$SHIM" "$MM" rootfs-sb/usr/lib/shim/ &&
	cp "$SIGNED_GRUB" rootfs-sb/usr/lib/grub/x86_64-efi-signed/
'
PREREQ=SHIM SB=1 ROOTFS=rootfs-sb layout gpt-secure-boot gpt uefi-preferred

test_expect_success SHIM 'the Secure Boot build says where its EFI loader came from' '
	[ "$(kiln_json gpt-secure-boot.img "d[\"grub\"][\"efi\"]")" = \
		"rootfs shim-signed + grub-efi-amd64-signed (Secure Boot)" ]
'

# fstab names /boot/efi, but nothing creates the mount point in the image:
# mount -a (busybox, util-linux without X-mount.mkdir, sysvinit's
# mountall.sh) fails on it; only systemd creates missing mount points.
test_expect_success 'the ESP mount point /boot/efi exists in the root filesystem' '
	root_off=$(( $(sf_part gpt-uefi-preferred.img $GUID_ROOT_X86_64 start) * 512 )) &&
	debugfs -R "stat /boot/efi" "$(e2_at gpt-uefi-preferred.img $root_off)" 2>&1 | grep -q "Type: directory"
'

# kernel_cmdline is written raw into grub.cfg (GRUB script) and into
# /etc/default/grub.d/kiln.cfg (shell, sourced by update-grub in the guest).
# Kernel parameters may hold double quotes (dyndbg="module ext4 +p"): the
# line GRUB_CMDLINE_LINUX="... dyndbg="module ext4 +p"" runs 'ext4' as a
# command when sourced.
test_expect_success 'kernel_cmdline with double quotes: kiln.cfg stays valid shell, same value' '
	printf "%s\n" "rootfs: rootfs" "kernel_cmdline: '"'"'dyndbg=\"module ext4 +p\" quiet'"'"'" >quoted.yaml &&
	cat quoted.yaml &&
	"$KILN" build -q quoted.yaml -o quoted.img -t mbr &&
	debugfs -R "cat /etc/default/grub.d/kiln.cfg" "$(e2_at quoted.img 1048576)" >kiln.cfg 2>/dev/null &&
	cat kiln.cfg &&
	got=$(sh -ec ". ./kiln.cfg; printf %s \"\$GRUB_CMDLINE_LINUX\"" 2>&1) &&
	echo "sourced: $got" &&
	[ "$got" = "console=tty0 console=ttyS0,115200 dyndbg=\"module ext4 +p\" quiet" ]
'

# A newline in kernel_cmdline (a YAML "\n") is taken as is: it adds a line
# of its own to grub.cfg and to kiln.cfg.  Refusing it would do; so would
# escaping it.
test_expect_success 'kernel_cmdline with a newline adds no line to grub.cfg' '
	printf "%s\n" "rootfs: rootfs" "kernel_cmdline: \"quiet\\ninsmod evil\"" >newline.yaml &&
	cat newline.yaml &&
	if "$KILN" build -q newline.yaml -o newline.img -t mbr 2>newline.err; then
		grub-fstest newline.img cat "(loop0,msdos1)/boot/grub/grub.cfg" >newline.cfg &&
		cat newline.cfg &&
		! grep -q "^insmod evil" newline.cfg
	else
		cat newline.err &&
		[ "$(wc -l <newline.err)" -eq 1 ]
	fi
'

test_done
