#!/bin/bash
# A rootfs folder that changes between kiln's walk (which records each file:
# its path, type, device and inode) and the reads of file data: a folder on
# the path swapped for a symbolic link to the host's files, a file swapped
# for a FIFO, a symbolic link or another file, a file removed.  The build
# fails cleanly naming the path (or reads the file the walk saw), never reads
# a file outside the rootfs, never hangs.  KILN_TEST_PAUSE_AFTER_WALK=FLAG
# makes kiln create FLAG after its walk and wait until FLAG is removed, so
# the swap happens in between with no race; KILN_TEST_NO_OPENAT2=1 takes
# the way kiln reads on kernels without openat2 (one component at a time).
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq KILN || skip_all "kiln is not built (make)"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
need_cmd timeout mkfifo

# The host's files, outside the rootfs: nothing of them may reach an image.
mkdir -p host/conf && echo HOST-SECRET >host/conf/app.conf && echo HOST-SECRET >host/data &&
	mkdir -p host/root/etc/conf && echo HOST-SECRET >host/root/etc/conf/app.conf
HOST=$TEST_OUT/host

# make_tree NAME: a small rootfs in NAME/.
make_tree() {
	rm -rf "$1" "out-$1" && mkdir -p "$1/etc/conf" "out-$1" &&
	echo inside >"$1/etc/conf/app.conf" &&
	echo "data inside" >"$1/etc/data" &&
	echo "other file" >"$1/etc/other"
}

# race NAME SWAP [VAR=VALUE...]: build NAME/ into out-NAME/disk.img (-t none),
# kiln paused after its walk while the shell code SWAP runs; kiln's status in
# rc (124: killed by timeout after 60 s), its stderr in NAME.err.
race() {
	local name=$1 swap=$2 flag=$TEST_OUT/$1.flag pid i
	shift 2
	rm -f "$flag"
	env "$@" KILN_TEST_PAUSE_AFTER_WALK="$flag" timeout 60 \
		"$KILN" build -q -t none -r "$name" -o "out-$name/disk.img" 2>"$name.err" &
	pid=$!
	for i in $(seq 600); do
		[ -e "$flag" ] && break
		sleep 0.1
	done
	if ! [ -e "$flag" ]; then
		echo "kiln did not pause after its walk"
		kill "$pid"; wait "$pid"
		return 1
	fi
	eval "$swap" || { echo "the swap failed"; rm -f "$flag"; wait "$pid"; return 1; }
	rm -f "$flag"
	wait "$pid"
	rc=$?
	echo "kiln: exit $rc"
	cat "$name.err"
}

# no_host_bytes NAME: no image, or one without the host's bytes in it (the
# walk recorded the sizes: a host file may have been cut short, so not the
# whole of HOST-SECRET).
no_host_bytes() {
	! [ -e "out-$1/disk.img" ] || ! grep -aq HOST "out-$1/disk.img" ||
		{ echo "out-$1/disk.img holds the host's bytes"; return 1; }
}

# refused NAME REGEX: the build failed (exit 1, not a timeout or a signal)
# with one stderr line matching REGEX, left nothing, read nothing of the host.
refused() {
	no_host_bytes "$1" &&
	[ "$rc" -eq 1 ] || { echo "exit $rc, want 1"; return 1; }
	[ "$(wc -l <"$1.err")" -eq 1 ] && grep -Eq -e "$2" "$1.err" ||
		{ echo "stderr does not match /$2/"; return 1; }
	assert_empty_dir "out-$1"
}

image_file() {
	debugfs -R "cat $2" "out-$1/disk.img" 2>/dev/null
}

test_expect_success 'paused, unchanged: the build reads what the walk saw' '
	make_tree same && race same "true" &&
	[ "$rc" -eq 0 ] && [ "$(image_file same /etc/conf/app.conf)" = inside ]
'

for way in openat2 walk; do
	env=
	[ $way = walk ] && env=KILN_TEST_NO_OPENAT2=1

	test_expect_success "$way: a folder on the path swapped for a symlink to the host's folder" '
		make_tree dir-abs-$way &&
		race dir-abs-$way "mv dir-abs-$way/etc/conf dir-abs-$way/etc/conf.orig &&
			ln -s \"$HOST/conf\" dir-abs-$way/etc/conf" $env &&
		refused dir-abs-$way "^kiln: cannot read rootfs file .dir-abs-$way/etc/conf/app\.conf.: a symbolic link is on its path"
	'

	test_expect_success "$way: a folder on the path swapped for a symlink inside the rootfs" '
		make_tree dir-rel-$way &&
		race dir-rel-$way "mv dir-rel-$way/etc/conf dir-rel-$way/etc/conf.orig &&
			ln -s conf.orig dir-rel-$way/etc/conf" $env &&
		refused dir-rel-$way "^kiln: cannot read rootfs file .dir-rel-$way/etc/conf/app\.conf.: a symbolic link is on its path"
	'

	test_expect_success "$way: a file swapped for a FIFO: no hang" '
		make_tree fifo-$way &&
		race fifo-$way "rm fifo-$way/etc/data && mkfifo fifo-$way/etc/data" $env &&
		refused fifo-$way "^kiln: cannot read rootfs file .fifo-$way/etc/data.: it is now a FIFO, not the regular file kiln found there"
	'

	test_expect_success "$way: a file swapped for a symlink to a host file" '
		make_tree link-$way &&
		race link-$way "rm link-$way/etc/data && ln -s \"$HOST/data\" link-$way/etc/data" $env &&
		refused link-$way "^kiln: cannot read rootfs file .link-$way/etc/data.: a symbolic link is on its path"
	'

	test_expect_success "$way: a file replaced by another file" '
		make_tree other-$way &&
		race other-$way "echo HOST-SECRET >other-$way/etc/data.new && mv other-$way/etc/data.new other-$way/etc/data" $env &&
		refused other-$way "^kiln: cannot read rootfs file .other-$way/etc/data.: it is now another file than the one kiln found there"
	'

	test_expect_success "$way: a file removed" '
		make_tree gone-$way &&
		race gone-$way "rm gone-$way/etc/data" $env &&
		refused gone-$way "^kiln: cannot read rootfs file .gone-$way/etc/data.: No such file or directory$"
	'
done

test_expect_success 'a file rewritten in place (the same inode) is read as it is now' '
	make_tree inplace &&
	race inplace "printf \"DATA INSIDE\" | dd of=inplace/etc/data conv=notrunc status=none" &&
	[ "$rc" -eq 0 ] && [ "$(image_file inplace /etc/data)" = "DATA INSIDE" ]
'

test_expect_success 'the rootfs folder itself moved and replaced by a symlink: the folder walked is read' '
	make_tree moved &&
	race moved "mv moved moved.orig && ln -s \"$HOST/root\" moved && mkdir -p out-moved" &&
	[ "$rc" -eq 0 ] && no_host_bytes moved &&
	[ "$(image_file moved /etc/conf/app.conf)" = inside ]
'

test_done
