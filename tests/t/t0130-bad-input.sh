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
	end=$(/usr/bin/python3 -c "
import tarfile
t = tarfile.open(\"in/good.tar\"); t.getmembers(); print(t.offset)") &&
	echo "end-of-archive marker at $end of $(stat -c %s in/good.tar)" &&
	head -c "$end" in/good.tar >in/trunc-no-end.tar &&
	head -c $((end + 512)) in/good.tar >in/trunc-one-zero.tar &&
	head -c $((end + 1024)) in/good.tar >in/end-exact.tar &&
	for z in gz zst xz; do
		case $z in gz) c="gzip -n";; zst) c="zstd -q";; xz) c=xz;; esac
		$c -c in/good.tar >in/good.tar.$z &&
		head -c $(( $(stat -c %s in/good.tar.$z) / 2 )) in/good.tar.$z >in/trunc.tar.$z &&
		$c -c in/trunc-boundary.tar >in/trunc-boundary.tar.$z || return 1
	done &&
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

# Cut exactly between two entries, it would read as a whole archive without
# its end-of-archive blocks (libarchive, like GNU tar, does not insist on
# them): kiln does, so a cut file never builds a smaller tree.
test_expect_success 'a tarball cut exactly between two entries is refused' '
	fails_cleanly trunc-boundary "^kiln: cannot read rootfs '"'"'in/trunc-boundary\.tar'"'"': truncated archive: no end-of-archive marker \(two zero blocks\) at offset 3072: the file stops between two entries$" \
		-t none -r in/trunc-boundary.tar
'

test_expect_success 'a tarball cut after its last entry, or inside its end marker, is refused' '
	fails_cleanly trunc-no-end "^kiln: cannot read rootfs '"'"'in/trunc-no-end\.tar'"'"': truncated archive: no end-of-archive marker \(two zero blocks\) at offset $end: the file stops between two entries$" \
		-t none -r in/trunc-no-end.tar &&
	fails_cleanly trunc-one-zero "^kiln: cannot read rootfs '"'"'in/trunc-one-zero\.tar'"'"': truncated archive: no end-of-archive marker \(two zero blocks\) at offset $end: the file stops inside the marker$" \
		-t none -r in/trunc-one-zero.tar
'

test_expect_success 'a tarball that ends right after its two zero blocks builds' '
	mkdir out-end-exact &&
	"$KILN" build -q -t none -r in/end-exact.tar -o out-end-exact/disk.img &&
	e2fsck -fn out-end-exact/disk.img
'

# Compressed: a stream cut in the middle fails in the decompressor (xz only
# says "No progress is possible": kiln adds that the file ended); a whole
# stream of a tar cut between two entries fails on the missing end marker.
for z in gz zst xz; do
	test_expect_success "a .tar.$z builds; cut mid-stream or between two entries, it is refused" '
		mkdir out-good-$z &&
		"$KILN" build -q -t none -r in/good.tar.$z -o out-good-$z/disk.img &&
		fails_cleanly trunc-mid-$z "^kiln: cannot read rootfs '"'"'in/trunc\.tar\.$z'"'"': .*[Tt]runcated" \
			-t none -r in/trunc.tar.$z &&
		fails_cleanly trunc-boundary-$z "^kiln: cannot read rootfs '"'"'in/trunc-boundary\.tar\.$z'"'"': truncated archive: no end-of-archive marker \(two zero blocks\) at offset 3072 of the uncompressed tar: the file stops between two entries$" \
			-t none -r in/trunc-boundary.tar.$z
	'
done

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

# ---- installing the outputs: a failure at each step --------------------------

# The three files go into place one rename each (IMAGE.json, IMAGE.kiln.json,
# then IMAGE), then the folder is synced.  KILN_TEST_FAIL_RENAME=N fails step
# N (4: the folder's fsync): the build fails with one line, and the folder
# holds exactly what it held before, the old set byte for byte, or nothing.
# old_set DIR: a build of in/src named old-image into DIR/disk.img, saved in DIR.saved/.
old_set() {
	rm -rf "$1" "$1.saved" && mkdir "$1" &&
	"$KILN" build -q -t none -r in/src --name old-image -o "$1/disk.img" &&
	cp -a "$1" "$1.saved"
}
# new_build DIR N [ENV...]: the build of a different tree (big/), named
# new-image, whose install fails at step N.
new_build() {
	local d=$1 n=$2
	shift 2
	must_fail_with "^kiln: cannot install '$d/disk\.img': .*injected (rename|folder sync) failure \(step #$n\)" \
		env KILN_TEST_FAIL_RENAME=$n "$@" "$KILN" build -t none -r big --name new-image -o "$d/disk.img"
}

# Where the filesystem has no RENAME_EXCHANGE (NFS), each old file is renamed
# aside before the new one comes in: KILN_TEST_NO_RENAME_EXCHANGE=1 takes
# that way here.
for x in "" noexchange; do
	env=${x:+KILN_TEST_NO_RENAME_EXCHANGE=1}
	for n in 1 2 3 4; do
		test_expect_success "an install failing at step $n${x:+ ($x)} leaves the old image and metadata" '
			old_set out-rename-$n$x &&
			new_build out-rename-$n$x $n $env &&
			diff -r out-rename-$n$x.saved out-rename-$n$x &&
			[ "$(ls -A out-rename-$n$x | tr "\n" " ")" = "disk.img disk.img.json disk.img.kiln.json " ]
		'
		test_expect_success "an install failing at step $n${x:+ ($x)}, no old output: nothing is left" '
			rm -rf out-rename-new-$n$x && mkdir out-rename-new-$n$x &&
			new_build out-rename-new-$n$x $n $env &&
			assert_empty_dir out-rename-new-$n$x
		'
	done
done

for x in "" noexchange; do
	env=${x:+KILN_TEST_NO_RENAME_EXCHANGE=1}
	test_expect_success "past the last step${x:+ ($x)} the build succeeds and replaces the whole set" '
		old_set out-rename-5$x &&
		env KILN_TEST_FAIL_RENAME=5 $env "$KILN" build -q -t none -r big --name new-image -o out-rename-5$x/disk.img &&
		[ "$(ls -A out-rename-5$x | tr "\n" " ")" = "disk.img disk.img.json disk.img.kiln.json " ] &&
		grep -q "\"Name\": *\"new-image\"" out-rename-5$x/disk.img.json &&
		! cmp -s out-rename-5$x.saved/disk.img.kiln.json out-rename-5$x/disk.img.kiln.json &&
		! cmp -s out-rename-5$x.saved/disk.img out-rename-5$x/disk.img
	'
done

# A real failure, not an injected one: an immutable old image (chattr +i)
# cannot be replaced, after both JSON files were.  Both are put back.
probe=$TEST_OUT/.chattr-probe
touch "$probe" && chattr +i "$probe" 2>/dev/null && chattr -i "$probe" && test_set_prereq CHATTR
rm -f "$probe"
test_prereq_what[CHATTR]="root and a filesystem with chattr +i under tests/out"
for x in "" noexchange; do
	env=${x:+KILN_TEST_NO_RENAME_EXCHANGE=1}
	test_expect_success CHATTR "an old image that cannot be replaced${x:+ ($x)}: the old metadata comes back" '
		old_set out-immutable$x &&
		chattr +i out-immutable$x/disk.img &&
		must_fail_with "^kiln: cannot install '"'"'out-immutable$x/disk\.img'"'"': cannot rename '"'"'out-immutable$x/disk\.img'"'"' into place: Operation not permitted$" \
			env $env "$KILN" build -t none -r big --name new-image -o out-immutable$x/disk.img;
		status=$?
		chattr -i out-immutable$x/disk.img &&
		[ $status -eq 0 ] &&
		diff -r out-immutable$x.saved out-immutable$x &&
		[ "$(ls -A out-immutable$x | tr "\n" " ")" = "disk.img disk.img.json disk.img.kiln.json " ]
	'
done

# strace sees the order: each metadata file synced before its rename, the
# image synced, the renames (JSON, kiln JSON, image), then the folder synced.
command -v strace >/dev/null && strace -f -o /dev/null true 2>/dev/null && test_set_prereq STRACE
test_prereq_what[STRACE]="strace, allowed to trace (.ci/packages)"
test_expect_success STRACE 'outputs are synced, renamed in order, then their folder is synced' '
	old_set out-strace &&
	strace -f -qq -e trace=openat,fsync,fdatasync,rename,renameat,renameat2 -o strace.out \
		"$KILN" build -q -t none -r big --name new-image -o out-strace/disk.img &&
	old_set out-strace-noexchange &&
	KILN_TEST_NO_RENAME_EXCHANGE=1 strace -f -qq -e trace=openat,fsync,fdatasync,rename,renameat,renameat2 \
		-o strace-noexchange.out "$KILN" build -q -t none -r big --name new-image -o out-strace-noexchange/disk.img &&
	[ "$(ls -A out-strace-noexchange | tr "\n" " ")" = "disk.img disk.img.json disk.img.kiln.json " ] &&
	grep -q "\"Name\": *\"new-image\"" out-strace-noexchange/disk.img.json &&
	/usr/bin/python3 - strace.out out-strace strace-noexchange.out out-strace-noexchange <<-\EOF
	import re, sys
	def events(log, d):
	    fds, events = {}, []
	    for line in open(log):
	        line = line.split(None, 1)[1] if line[:1].isdigit() else line
	        m = re.match(r"openat\(AT_FDCWD, \"([^\"]*)\".* = (\d+)$", line)
	        if m:
	            fds[m.group(2)] = m.group(1)
	            continue
	        m = re.match(r"(fsync|fdatasync)\((\d+)\) += 0", line)
	        if m:
	            events.append("sync " + fds.get(m.group(2), "?"))
	            continue
	        m = re.match(r"rename(?:at2?)?\((?:AT_FDCWD, )?\"([^\"]*)\", (?:AT_FDCWD, )?\"([^\"]*)\"(.*)\) += 0", line)
	        if m:
	            events.append("rename %s -> %s%s" % (m.group(1), m.group(2), " (exchange)" if "EXCHANGE" in m.group(3) else ""))
	    return [re.sub(r"\.kiln-\w{6}", ".kiln-XXXXXX", e) for e in events if d in e]
	for log, d, exchange in (sys.argv[1], sys.argv[2], True), (sys.argv[3], sys.argv[4], False):
	    ev = events(log, d)
	    print("\n".join(ev))
	    want = ["sync %s/.disk.img.kiln-XXXXXX" % d,
	            "sync %s/.disk.img.json.kiln-XXXXXX" % d,
	            "sync %s/.disk.img.kiln.json.kiln-XXXXXX" % d]
	    for f in "disk.img.json", "disk.img.kiln.json", "disk.img":
	        if exchange:
	            want.append("rename %s/.%s.kiln-XXXXXX -> %s/%s (exchange)" % (d, f, d, f))
	        else:
	            want.append("rename %s/%s -> %s/.%s.old.kiln-XXXXXX" % (d, f, d, f))
	            want.append("rename %s/.%s.kiln-XXXXXX -> %s/%s" % (d, f, d, f))
	    want.append("sync %s" % d)
	    assert ev == want, "want:\n" + "\n".join(want)
	EOF
'

test_done
