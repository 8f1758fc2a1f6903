#!/bin/bash
# The spec's initramfs keys (kiln(1): THE SPEC FILE, INITRAMFS), checked in
# the images kiln writes, read back with tools that are not kiln (sfdisk,
# debugfs, zstd, cpio, modinfo, grub-fstest); no boot.
#  * initramfs_modules: the modules named (vmw_pvscsi, hv_storvsc: in
#    Debian's cloud kernel, not in kiln's default list) are in kiln's
#    initramfs with everything they depend on (modinfo -F depends of the
#    fetched kernel's .ko files, followed to the end), byte for byte, and
#    kiln.load loads each after its dependencies; the archive holds exactly
#    the default initramfs's modules plus those.  hv_storvsc's dependencies
#    hv_vmbus and scsi_transport_fc are in no default module's closure, so
#    the dependency check has something to find.
#  * a name the kernel does not have is listed in the summary under the
#    initramfs line, not an error, and adds nothing; a built-in one is named
#    as built in; a name that is no module name is refused by the parser.
#  * initramfs: distro: the menu (grub.cfg, read back with debugfs) loads
#    the rootfs's /boot/initrd.img-VERSION (Debian's tarball, which has one)
#    or no initramfs (the demo rootfs, which has none), never
#    /boot/kiln-initrd-*; no kiln initramfs is written, no
#    /etc/kiln/cloud.cfg either, initramfs_modules is not used, and the
#    build needs no kiln-init (KILN_INIT names a missing file, which fails a
#    kiln-initramfs build: the control).  The same Debian tarball built with
#    kiln's initramfs is the control that the absent files are seen when
#    there.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"

test_have_prereq KILN || skip_all "no kiln binary (run make)"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
need_cmd sfdisk blkid zstd cpio modinfo grub-fstest grub-mkimage cmp tar
[ -r /usr/lib/grub/i386-pc/boot.img ] || skip_all "needs grub-pc-bin (/usr/lib/grub/i386-pc)"

make_demo_rootfs rootfs
KERNEL=$("$TEST_ROOT/tests/lib/fetch-kernel.sh" 2>"$TEST_OUT/fetch-kernel.err") ||
	skip_all "no Debian cloud kernel: $(tail -n 1 "$TEST_OUT/fetch-kernel.err")"
KVER=$(cd rootfs/boot && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
KMODS=$KERNEL/lib/modules/$KVER

# Debian's tarball, for a rootfs with its own initrd.img.
if TARBALL=$("$FETCH_ROOTFS" 2>"$TEST_OUT/fetch.err"); then
	test_set_prereq DEBIAN
fi
test_prereq_what[DEBIAN]="the Debian rootfs tarball (tests/lib/fetch-debian-rootfs.sh: $(tail -n 1 "$TEST_OUT/fetch.err"))"

# root_dev IMG: the root filesystem of an mbr image, as e2fsprogs name it.
root_dev() { e2_at "$1" $(( $(sf_part "$1" 83 start) * 512 )); }

# e2_has DEV PATH / e2_lacks DEV PATH: debugfs finds PATH / says it is not
# there (not merely "cannot open": a bad offset must not pass for absence).
e2_has() { debugfs -R "stat $2" "$1" 2>&1 | grep -q "^Inode: [0-9]"; }
e2_lacks() { debugfs -R "stat $2" "$1" 2>&1 | grep -q "^$2: File not found by ext2_lookup"; }

# initrd_paths IMG: the paths of the .ko files in the image's kiln initramfs,
# relative to lib/modules/KVER, sorted; the archive is left in IMG.initrd/.
initrd_paths() {
	rm -rf "$1.initrd" && mkdir "$1.initrd" &&
	debugfs -R "dump /boot/kiln-initrd-$KVER $1.initrd.zst" "$(root_dev "$1")" 2>/dev/null &&
	zstd -q -d -c "$1.initrd.zst" >"$1.initrd.cpio" &&
	(cd "$1.initrd" && cpio -i -d --quiet <"../$1.initrd.cpio") &&
	cpio -i -t --quiet <"$1.initrd.cpio" | sed -n "s|^lib/modules/$KVER/\\(.*\\.ko\\)\$|\\1|p" | sort
}

# The fetched kernel's modules: "NAME PATH" (NAME with - as _, PATH relative
# to lib/modules/KVER), and the closure of a list of names over modinfo's
# depends=, as paths.
(cd "$KMODS" && find kernel -name '*.ko') |
	awk '{ n = $0; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n); print n, $0 }' >ko.index
ko_path() { awk -v n="$(printf %s "$1" | tr - _)" '$1 == n { print $2; f = 1 } END { exit !f }' ko.index; }
mod_closure() {
	local todo=" $* " seen=" " m p d
	while [ -n "${todo// /}" ]; do
		set -- $todo
		m=$(printf %s "$1" | tr - _)
		shift
		todo=" $* "
		case $seen in *" $m "*) continue;; esac
		seen="$seen$m "
		p=$(ko_path "$m") || { echo "mod_closure: no module $m in $KMODS" >&2; return 1; }
		echo "$p"
		d=$(modinfo -F depends "$KMODS/$p") || return 1
		todo="$todo ${d//,/ } "
	done
}

test_expect_success 'the kernel has the modules this script asks for, and they are not in the default initramfs' '
	ko_path vmw_pvscsi && ko_path hv_storvsc &&
	"$KILN" build -q -r rootfs -o base.img -t mbr 2>base.err &&
	initrd_paths base.img >base.paths &&
	cat base.paths &&
	mod_closure vmw_pvscsi hv_storvsc | sort -u >extra.closure &&
	cat extra.closure &&
	comm -13 base.paths extra.closure >extra.new &&
	echo "not in the default initramfs:" && cat extra.new &&
	# the two modules asked for and at least one dependency of their own
	grep -qx "$(ko_path vmw_pvscsi)" extra.new &&
	grep -qx "$(ko_path hv_storvsc)" extra.new &&
	grep -qx "$(ko_path hv_vmbus)" extra.new &&
	grep -qx "$(ko_path scsi_transport_fc)" extra.new
'

test_expect_success 'initramfs_modules: the modules with all they depend on, byte for byte, each loaded after its dependencies' '
	printf "%s\n" "rootfs: rootfs" "initramfs_modules: [vmw_pvscsi, hv_storvsc]" >mods.yaml &&
	"$KILN" build mods.yaml -o mods.img -t mbr >mods.out 2>mods.err &&
	cat mods.out &&
	initrd_paths mods.img >mods.paths &&
	sort -u base.paths extra.closure >mods.expect &&
	test_cmp mods.expect mods.paths &&
	while read -r p; do
		cmp "$KMODS/$p" "mods.img.initrd/lib/modules/$KVER/$p" || return 1
	done <mods.paths &&
	# kiln.load: every module of the archive once, each after what modinfo
	# says it depends on
	sed "s|^/lib/modules/$KVER/||" "mods.img.initrd/lib/modules/$KVER/kiln.load" >load.order &&
	sort load.order | test_cmp mods.paths - &&
	n=0 && : >loaded &&
	while read -r p; do
		for d in $(modinfo -F depends "$KMODS/$p" | tr , " "); do
			grep -qx "$(ko_path "$d")" loaded || { echo "kiln.load: $p before its dependency $d"; return 1; }
		done
		echo "$p" >>loaded
		n=$((n + 1))
	done <load.order &&
	grep -q "^  initramfs:   /boot/kiln-initrd-$KVER (kiln-init, $n modules, " mods.out &&
	# the menu loads it
	debugfs -R "cat /boot/grub/grub.cfg" "$(root_dev mods.img)" 2>/dev/null >mods.cfg &&
	[ "$(grep "^	initrd " mods.cfg)" = "	initrd /boot/kiln-initrd-$KVER" ]
'

# kiln(1): "A name the kernel has neither as a module nor built in is listed
# in the summary, not an error"; the line under the initramfs line "names
# the modules asked for that are built into the kernel or that the kernel
# does not have".  ext4 is built into Debian's cloud kernel.
test_expect_success 'initramfs_modules: a module the kernel lacks is named in the summary, not an error, and adds nothing' '
	! ko_path kiln_no_such_module &&
	grep -q "/ext4\\.ko\$" "$KMODS/modules.builtin" &&
	printf "%s\n" "rootfs: rootfs" "initramfs_modules: [kiln_no_such_module, ext4]" >unknown.yaml &&
	"$KILN" build unknown.yaml -o unknown.img -t mbr >unknown.out 2>unknown.err &&
	cat unknown.out unknown.err &&
	! grep -q kiln_no_such_module unknown.err &&
	sed -n "/^  initramfs:   /{n;p}" unknown.out >note &&
	cat note &&
	tr ";" "\n" <note | sed -n "s/^ *not in this kernel://p" | tr " " "\n" | grep -qx kiln_no_such_module &&
	tr ";" "\n" <note | sed -n "s/^ *built in://p" | tr " " "\n" | grep -qx ext4 &&
	! tr ";" "\n" <note | sed -n "s/^ *built in://p" | tr " " "\n" | grep -qx kiln_no_such_module &&
	initrd_paths unknown.img >unknown.paths &&
	test_cmp base.paths unknown.paths
'

test_expect_success 'initramfs_modules: a name that is no module name is refused by the parser, naming the key' '
	printf "%s\n" "rootfs: rootfs" "initramfs_modules:" "  - vfat" "  - ../evil" >badname.yaml &&
	mkdir badname &&
	must_fail_with "^kiln: badname\\.yaml:4: bad value for .initramfs_modules.: .\\.\\./evil." \
		"$KILN" build -q badname.yaml -o badname/x.img -t mbr &&
	assert_empty_dir badname
'

# KILN_INIT, when set, is where kiln-init is taken from "whether or not the
# file is there" (kiln(1), FILES): a missing one fails a build that makes
# kiln's initramfs.  That is the control for the next tests.
test_expect_success 'control: with KILN_INIT naming a missing file, a kiln-initramfs build fails' '
	mkdir noinit &&
	KILN_INIT=$TEST_OUT/no-such-kiln-init must_fail_with "kiln-init.*no-such-kiln-init" \
		"$KILN" build -q -r rootfs -o noinit/x.img -t mbr &&
	assert_empty_dir noinit
'

test_expect_success 'initramfs: distro on a rootfs without initrd.img: no initrd line, no kiln initramfs, no cloud.cfg, no kiln-init needed' '
	printf "%s\n" "rootfs: rootfs" "initramfs: distro" "initramfs_modules: [hv_storvsc]" >distro.yaml &&
	KILN_INIT=$TEST_OUT/no-such-kiln-init "$KILN" build distro.yaml -o distro.img -t mbr >distro.out 2>distro.err &&
	cat distro.out distro.err &&
	! grep -q "^  initramfs:" distro.out &&
	dev=$(root_dev distro.img) &&
	debugfs -R "cat /boot/grub/grub.cfg" "$dev" 2>/dev/null >distro.cfg &&
	cat distro.cfg &&
	grep -q "^	linux /boot/vmlinuz-$KVER root=PARTUUID=" distro.cfg &&
	! grep -q "initrd" distro.cfg &&
	debugfs -R "ls -p /boot" "$dev" 2>/dev/null | cut -d/ -f6 >distro.boot &&
	grep -qx "vmlinuz-$KVER" distro.boot &&
	! grep -q "kiln-initrd" distro.boot &&
	e2_lacks "$dev" /etc/kiln/cloud.cfg &&
	e2_has "$dev" /etc/fstab
'

test_expect_success DEBIAN 'initramfs: distro on the Debian tarball: the menu loads its initrd.img, nothing of kiln'"'"'s' '
	tar -tf "$TARBALL" | sed -n "s|^\\./boot/vmlinuz-||p; s|^boot/vmlinuz-||p" | sort -V | tail -n 1 >dver &&
	DKVER=$(cat dver) && [ -n "$DKVER" ] &&
	printf "%s\n" "rootfs: $TARBALL" "initramfs: distro" "initramfs_modules: [hv_storvsc]" >deb-distro.yaml &&
	KILN_INIT=$TEST_OUT/no-such-kiln-init "$KILN" build deb-distro.yaml -o deb-distro.img -t mbr >deb-distro.out 2>deb-distro.err &&
	cat deb-distro.out deb-distro.err &&
	grep -qx "  initramfs:   /boot/initrd.img-$DKVER (the distribution'"'"'s)" deb-distro.out &&
	dev=$(root_dev deb-distro.img) &&
	debugfs -R "cat /boot/grub/grub.cfg" "$dev" 2>/dev/null >deb-distro.cfg &&
	cat deb-distro.cfg &&
	grep -q "^	linux /boot/vmlinuz-$DKVER root=PARTUUID=" deb-distro.cfg &&
	[ "$(grep "initrd" deb-distro.cfg)" = "	initrd /boot/initrd.img-$DKVER" ] &&
	debugfs -R "ls -p /boot" "$dev" 2>/dev/null | cut -d/ -f6 >deb-distro.boot &&
	! grep -q "kiln-initrd" deb-distro.boot &&
	e2_lacks "$dev" /etc/kiln/cloud.cfg &&
	# the initrd the menu names is the distribution'"'"'s file, and GRUB finds it
	debugfs -R "dump /boot/initrd.img-$DKVER deb.initrd" "$dev" 2>/dev/null &&
	{ tar -xOf "$TARBALL" "./boot/initrd.img-$DKVER" 2>/dev/null || tar -xOf "$TARBALL" "boot/initrd.img-$DKVER"; } >tar.initrd &&
	[ -s tar.initrd ] && cmp tar.initrd deb.initrd &&
	grub-fstest deb-distro.img ls "(loop0,msdos1)/boot/" | tr " " "\n" | grep -qx "initrd.img-$DKVER"
'

test_expect_success DEBIAN 'control: the same tarball with kiln'"'"'s initramfs has them all' '
	printf "%s\n" "rootfs: $TARBALL" >deb-kiln.yaml &&
	"$KILN" build -q deb-kiln.yaml -o deb-kiln.img -t mbr &&
	dev=$(root_dev deb-kiln.img) &&
	debugfs -R "cat /boot/grub/grub.cfg" "$dev" 2>/dev/null >deb-kiln.cfg &&
	[ "$(grep "initrd" deb-kiln.cfg)" = "	initrd /boot/kiln-initrd-$DKVER" ] &&
	debugfs -R "ls -p /boot" "$dev" 2>/dev/null | cut -d/ -f6 >deb-kiln.boot &&
	grep -qx "kiln-initrd-$DKVER" deb-kiln.boot &&
	grep -qx "initrd.img-$DKVER" deb-kiln.boot &&
	e2_has "$dev" /etc/kiln/cloud.cfg
'

test_done
