#!/bin/bash
# Bad input fails cleanly: a non-zero exit, one line on stderr naming the file
# and the problem, nothing in the output folder (no image, no metadata, no
# temporary, no spool), and the input exactly as it was.  Injected disk write
# failures give a clean failure or an image identical to a good build, never
# a partial file; a failed build leaves an existing output as it was.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq KILN || skip_all "kiln is not built (make)"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"
test_have_prereq ROOT || skip_all "needs root (owners of the test trees, running kiln as nobody)"
test_have_prereq GRUB_BIOS,GRUB_EFI && test_set_prereq GPT
command -v setpriv >/dev/null && test_set_prereq SETPRIV
EPOCH=1700000000

# stamp_inputs: everything about the inputs under in/ that a build could
# change: each folder's full snapshot (atimes included), each file's content,
# size, mode, owner, mtime and ctime (a tarball's atime moves when anything
# reads it, kiln included: not compared).
stamp_inputs() {
	local p
	for p in in/*; do
		if [ -d "$p" ]; then
			echo "== $p" && "$SNAPSHOT_TREE" "$p" || return 1
		else
			stat -c "%n %s %a %u %g %i %Y %Z" "$p" && sha256sum <"$p" || return 1
		fi
	done
}

# fails_cleanly NAME REGEX ARGS...: `kiln build ARGS -o out-NAME/disk.img`
# fails with one stderr line matching REGEX; out-NAME/ (made here, empty)
# stays empty and the inputs are unchanged.
fails_cleanly() {
	local name=$1 re=$2
	shift 2
	mkdir "out-$name" &&
	stamp_inputs >"stamp-$name.before" &&
	must_fail_with "$re" "$KILN" build "$@" -o "out-$name/disk.img" &&
	assert_no_file "out-$name/disk.img" "out-$name/disk.img.json" "out-$name/disk.img.kiln.json" &&
	assert_empty_dir "out-$name" &&
	stamp_inputs >"stamp-$name.after" &&
	test_cmp "stamp-$name.before" "stamp-$name.after"
}

test_expect_success 'the inputs: folders, tarballs, specs' '
	mkdir -p in/src/etc/ssh in/src/usr/bin big/data &&
	echo hello >in/src/etc/hello && echo "Port 22" >in/src/etc/ssh/sshd_config &&
	head -c 1048576 /dev/urandom >in/src/usr/bin/tool && ln -s tool in/src/usr/bin/link &&
	for i in 1 2 3 4 5 6; do head -c 8388608 /dev/urandom >big/data/f$i || return 1; done &&
	tar -C in/src -cf in/good.tar --format=posix --sort=name . &&
	zstd -q -c in/good.tar >in/good.tar.zst &&
	head -c 600000 in/good.tar >in/trunc-data.tar &&
	/usr/bin/python3 -c "
import tarfile
m = tarfile.open(\"in/good.tar\").getmembers()[1]
# ./etc: pax header block at 1536, its data at 2048, ustar header at 2560,
# no data: 2048 is inside a pax header, 3072 is between two entries.
assert (m.name, m.offset, m.offset_data, m.size) == (\"./etc\", 1536, 3072, 0), m
" &&
	head -c 2048 in/good.tar >in/trunc-pax.tar &&
	head -c 3072 in/good.tar >in/trunc-boundary.tar &&
	head -c $(( $(stat -c %s in/good.tar.zst) / 2 )) in/good.tar.zst >in/trunc.tar.zst &&
	/usr/bin/python3 - <<-\EOF &&
	import io, tarfile
	def add(t, name, data=None, link=None):
	    i = tarfile.TarInfo(name); i.mtime = 1700000000; i.mode = 0o644
	    if link:
	        i.type = tarfile.LNKTYPE; i.linkname = link
	    elif data is None:
	        i.type = tarfile.DIRTYPE; i.mode = 0o755
	    else:
	        i.size = len(data)
	    t.addfile(i, io.BytesIO(data) if data else None)
	with tarfile.open("in/dotdot.tar", "w", format=tarfile.PAX_FORMAT) as t:
	    add(t, "./etc"); add(t, "./etc/fine", b"fine\n"); add(t, "./etc/../../escaped", b"evil\n")
	with tarfile.open("in/hardlink-out.tar", "w", format=tarfile.PAX_FORMAT) as t:
	    add(t, "./etc"); add(t, "./etc/passwd", link="../../etc/passwd")
	EOF
	printf "ami_name: test-image\npartition_table: none\ncolour: blue\n" >in/bad-key.yaml &&
	printf "size: 12Q\n" >in/bad-size.yaml
'

test_expect_success 'a tarball truncated in the middle of a file' '
	fails_cleanly trunc-data "^kiln: cannot read rootfs '"'"'in/trunc-data\.tar'"'"': .*usr/bin/tool.*[Tt]runcated" \
		-t none -r in/trunc-data.tar
'

test_expect_success 'a zstd tarball cut in half, data spooled to a file (KILN_SPOOL_MEMORY=0)' '
	KILN_SPOOL_MEMORY=0 fails_cleanly trunc-zst \
		"^kiln: cannot read rootfs '"'"'in/trunc\.tar\.zst'"'"': .*[Tt]runcated" -t none -r in/trunc.tar.zst
'

# Cut after the header block of a pax extended header, before its data: the
# message must still say what is wrong (not "(null)") and give no negative
# offset (libarchive's header position is an error code in that state).
test_expect_success 'a tarball cut inside a pax header: the message says what is wrong' '
	fails_cleanly trunc-pax "^kiln: cannot read rootfs '"'"'in/trunc-pax\.tar'"'"': [A-Za-z][^-]*$" \
		-t none -r in/trunc-pax.tar
'

# Cut exactly between two entries, it reads as a whole archive without its
# end-of-archive blocks (libarchive, like GNU tar, does not insist on them).
test_expect_failure 'a tarball cut exactly between two entries is refused' '
	fails_cleanly trunc-boundary "^kiln: cannot read rootfs '"'"'in/trunc-boundary\.tar'"'"': " \
		-t none -r in/trunc-boundary.tar
'

test_expect_success 'a tar entry whose name climbs out of the root with ..' '
	fails_cleanly dotdot "^kiln: cannot read rootfs '"'"'in/dotdot\.tar'"'"': entry '"'"'\./etc/\.\./\.\./escaped'"'"' has a '"'"'\.\.'"'"' component" \
		-t none -r in/dotdot.tar
'

test_expect_success 'a tar hard link whose target climbs out of the root' '
	fails_cleanly hardlink-out "^kiln: cannot read rootfs '"'"'in/hardlink-out\.tar'"'"': hard link '"'"'\./etc/passwd'"'"' -> '"'"'\.\./\.\./etc/passwd'"'"' escapes the root" \
		-t none -r in/hardlink-out.tar
'

test_expect_success 'a spec with an unknown key: FILE:LINE and the key' '
	fails_cleanly bad-key "^kiln: in/bad-key\.yaml:3: unknown key '"'"'colour'"'"'$" \
		in/bad-key.yaml -r in/src
'

test_expect_success 'a spec with a bad size: FILE:LINE and the value' '
	fails_cleanly bad-size "^kiln: in/bad-size\.yaml:1: bad value for '"'"'size'"'"': '"'"'12Q'"'"'" \
		in/bad-size.yaml -t none -r in/src
'

test_expect_success 'a bad --size on the command line' '
	fails_cleanly bad-size-opt "^kiln: bad --size '"'"'12Q'"'"'" -t none -s 12Q -r in/src
'

# big/ (48 MiB) is kept out of in/: hashing it for every case costs seconds.
test_expect_success 'an image too small (-s 8M for 48 MiB of data): the message says the size needed' '
	"$SNAPSHOT_TREE" big >big.before &&
	fails_cleanly too-small "^kiln: image too small for rootfs .big.: it needs at least [0-9]+ MiB \([0-9]+ bytes\), the size given is 8388608 bytes$" \
		-t none -s 8M -r big &&
	"$SNAPSHOT_TREE" big >big.after && test_cmp big.before big.after &&
	! "$KILN" build -t none -s 8M -r big -o out-too-small/disk.img 2>too-small.err &&
	need=$(sed -n "s/.*(\([0-9]*\) bytes).*/\1/p" too-small.err) &&
	echo "needed: $need bytes" &&
	[ "$need" -gt $((48 << 20)) ]
'

test_expect_success 'the size it says is needed is enough, and a MiB less is not' '
	"$KILN" build -q -t none -s "$need" -r big -o out-too-small/disk.img &&
	e2fsck -fn out-too-small/disk.img &&
	rm out-too-small/disk.img* &&
	fails_cleanly too-small-2 "^kiln: image too small for rootfs .*\($need bytes\)" -t none -s $((need - 1048576)) -r big
'

test_expect_success 'a rootfs that does not exist' '
	fails_cleanly missing "^kiln: cannot read rootfs '"'"'in/no-such-rootfs'"'"': No such file or directory$" \
		-t none -r in/no-such-rootfs
'

test_expect_success 'an output folder that does not exist' '
	stamp_inputs >stamp-nodir.before &&
	must_fail_with "^kiln: cannot write output '"'"'no-such-dir/disk\.img'"'"': folder '"'"'no-such-dir'"'"' does not exist$" \
		"$KILN" build -t none -r in/src -o no-such-dir/disk.img &&
	assert_no_file no-such-dir &&
	stamp_inputs >stamp-nodir.after &&
	test_cmp stamp-nodir.before stamp-nodir.after
'

# kiln as nobody on a tree nobody owns (so O_NOATIME is allowed and nothing
# may move an atime), world-readable but for one mode-000 file.
# nobody must reach the tree, the output folder and kiln itself, wherever the
# checkout is (a CI clone may sit in a folder only root can enter): all three
# live in a world-searchable scratch folder under /tmp.
test_expect_success SETPRIV 'an unreadable source file (kiln run as nobody)' '
	nb=$(mktemp -d /tmp/kiln-t0130-XXXXXX) && chmod 0755 "$nb" &&
	install -m 0755 "$KILN" "$nb/kiln" &&
	mkdir -p "$nb/locked/etc" "$nb/locked/srv" &&
	echo readable >"$nb/locked/etc/readable" && echo secret >"$nb/locked/srv/secret" &&
	chown -R 65534:65534 "$nb/locked" && chmod 0000 "$nb/locked/srv/secret" &&
	"$SNAPSHOT_TREE" "$nb/locked" >stamp-unreadable.before &&
	mkdir "$nb/out" && chown 65534:65534 "$nb/out" &&
	must_fail_with "^kiln: .*srv/secret'"'"'?: Permission denied$" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$nb/kiln" build -t none -r "$nb/locked" -o "$nb/out/disk.img" &&
	assert_empty_dir "$nb/out" &&
	"$SNAPSHOT_TREE" "$nb/locked" >stamp-unreadable.after &&
	test_cmp stamp-unreadable.before stamp-unreadable.after &&
	rm -rf "$nb"
'

test_expect_success 'gpt on a rootfs with no kernel' '
	fails_cleanly no-kernel "^kiln: cannot make rootfs .in/src. bootable: the rootfs has no kernel \(no /boot/vmlinuz-\*\)" -t gpt -r in/src
'

test_expect_success 'mbr with -b uefi' '
	fails_cleanly mbr-uefi "^kiln: an MBR disk boots only in legacy-bios mode, not '"'"'uefi'"'"'" \
		-t mbr -b uefi -r in/src
'

test_expect_success 'a bad --boot-mode' '
	fails_cleanly bad-boot "^kiln: bad --boot-mode '"'"'bios'"'"' \(expected legacy-bios, uefi or uefi-preferred\)$" \
		-b bios -r in/src
'

test_expect_success 'a bad --partition-table' '
	fails_cleanly bad-pt "^kiln: bad --partition-table '"'"'gtp'"'"'" -t gtp -r in/src
'

# ---- injected disk write failures ------------------------------------------

# fault_one N REF ARGS...: the build with write #N failing either fails
# cleanly (one line naming the output and the injected failure, out-fault/
# left empty) or succeeds with files identical to REF/disk.img*.  Prints
# "fail" or "same".
fault_one() {
	local n=$1 ref=$2 f
	shift 2
	if SOURCE_DATE_EPOCH=$EPOCH KILN_TEST_FAIL_WRITE=$n "$KILN" build -q "$@" -o out-fault/disk.img 2>fault.err; then
		for f in disk.img disk.img.json disk.img.kiln.json; do
			cmp "$ref/$f" "out-fault/$f" || { echo "write #$n: $f differs from a good build"; return 1; }
		done
		rm out-fault/disk.img out-fault/disk.img.json out-fault/disk.img.kiln.json &&
		assert_empty_dir out-fault && echo same
	else
		[ "$(wc -l <fault.err)" -eq 1 ] &&
		grep -q "^kiln: cannot write 'out-fault/disk\.img': .*injected write failure (write #$n)$" fault.err ||
			{ echo "write #$n: unexpected stderr:"; cat fault.err; return 1; }
		assert_empty_dir out-fault || { echo "write #$n left files behind"; return 1; }
		echo fail
	fi
}

# fault_scan LABEL STEP ARGS...: a good build (the reference), then the
# number of disk writes W (bisection: write #N fails the build for N <= W and
# not past it), then fault_one for N = 1..5, every STEP-th, and W-3..W+2.
fault_scan() {
	local label=$1 step=$2 lo=2 hi=65536 mid n r fails=0 sames=0
	shift 2
	mkdir -p "ref-$label" out-fault &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -q "$@" -o "ref-$label/disk.img" || return 1
	[ "$(fault_one $lo "ref-$label" "$@")" = fail ] && [ "$(fault_one $hi "ref-$label" "$@")" = same ] ||
		{ echo "write #$lo does not fail or #$hi does"; return 1; }
	while [ $((hi - lo)) -gt 1 ]; do
		mid=$(( (lo + hi) / 2 ))
		r=$(fault_one $mid "ref-$label" "$@") || { echo "$r"; return 1; }
		if [ "$r" = fail ]; then lo=$mid; else hi=$mid; fi
	done
	echo "$label: $lo disk writes"
	for n in $( { seq 1 5; seq "$step" "$step" "$lo"; seq $((lo - 3)) $((lo + 2)); } | sort -nu); do
		r=$(fault_one "$n" "ref-$label" "$@") || { echo "$r"; return 1; }
		case $r in fail) fails=$((fails + 1));; same) sames=$((sames + 1));; esac
	done
	echo "$label: $fails clean failures, $sames identical images"
	[ "$fails" -gt 0 ]
}

test_expect_success 'injected write failures, folder, -t none: every third write' '
	fault_scan none 3 -t none -r in/src
'

test_expect_success 'injected write failures, tarball, -t none' '
	fault_scan tar 11 -t none -r in/good.tar.zst
'

test_expect_success GPT 'injected write failures, gpt (ESP, partition table, GRUB)' '
	mkdir -p in/boot-src && cp -a in/src/. in/boot-src/ && mkdir in/boot-src/boot &&
	echo "not a kernel" >in/boot-src/boot/vmlinuz-6.1.0-kiln-test &&
	fault_scan gpt 97 -r in/boot-src
'

test_expect_success 'a failed build leaves an existing output as it was' '
	mkdir out-keep &&
	"$KILN" build -q -t none -r in/src -o out-keep/disk.img &&
	for f in disk.img disk.img.json disk.img.kiln.json; do cp out-keep/$f keep-$f || return 1; done &&
	must_fail_with "injected write failure" env KILN_TEST_FAIL_WRITE=5 \
		"$KILN" build -t none -r big -o out-keep/disk.img &&
	must_fail_with "^kiln: cannot read rootfs" "$KILN" build -t none -r in/trunc-data.tar -o out-keep/disk.img &&
	for f in disk.img disk.img.json disk.img.kiln.json; do cmp keep-$f out-keep/$f || return 1; done &&
	[ "$(ls -A out-keep | tr "\n" " ")" = "disk.img disk.img.json disk.img.kiln.json " ]
'

test_done
