#!/bin/bash
# tests/bench/run.sh — kiln against the conventional tools, in the same run
# on the same machine.  `make bench` runs it; it is not part of `make check`.
# Needs root (tar -x keeps owners, device nodes and trusted.* xattrs only as
# root).
#
#   debian-tarball   the Debian 12 rootfs tarball (${KILN_CACHE:-.cache}/
#                    debian-bookworm.tar): kiln build from the tarball versus
#                    GNU tar -x (--xattrs --xattrs-include='*' --acls
#                    --numeric-owner) into a fresh folder + mke2fs -d, both
#                    writing an image of the same size.
#   folder-40000     one folder of 40,000 empty files: kiln from the folder
#                    versus mke2fs -d of the same folder.  mke2fs -d links one
#                    entry at a time with a linear scan of the folder, so it
#                    is quadratic here; each run is capped at 600 s.
#
# Each side is timed best-of-N (default 3) by wall clock.  The page cache is
# never dropped: the inputs are read once before timing, so kiln and the
# peer both see the same warm cache.  Both sides end with the image synced
# (kiln fdatasync()s, mke2fs fsync()s).  Output, one line per measurement:
#
#   debian-tarball: kiln 1.52 s, tar -x + mke2fs -d 3.10 s, ratio 0.49
#
# ratio is kiln/peer (below 1: kiln is faster).  Lines starting with '#' are
# context.  Timings are reported, never asserted; the script fails only when
# a side cannot run or kiln's image is not clean under e2fsck -fn.
#
# Environment:
#   O                  build folder holding kiln (default build)
#   KILN_CACHE         where the Debian tarball is (default .cache)
#   KILN_BENCH_DIR     scratch folder (default $O/bench); emptied at the end
#   KILN_BENCH_RUNS    runs per side (default 3)
#   KILN_BENCH_SIZE    image size for debian-tarball (default 2G)
#   KILN_BENCH_FILES   files in the big folder (default 40000)
#   KILN_BENCH_CAP     seconds before a peer run is stopped (default 600)
#   KILN_BENCH_KEEP=1  keep the scratch folder and images
set -uo pipefail
export LC_ALL=C TZ=UTC

cd "$(dirname "$0")/../.." || exit 1
O=${O:-build}
KILN=${KILN:-$O/kiln}
CACHE=${KILN_CACHE:-.cache}
WORK=${KILN_BENCH_DIR:-$O/bench}
RUNS=${KILN_BENCH_RUNS:-3}
SIZE=${KILN_BENCH_SIZE:-2G}
NFILES=${KILN_BENCH_FILES:-40000}
CAP=${KILN_BENCH_CAP:-600}
# Same size for both sides of folder-40000; at least 512 MiB so mke2fs uses
# its default ext4 type (4 KiB blocks), not "small".
SYN_SIZE=1G

die() { echo "bench: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (tar -x must keep owners, device nodes and trusted.* xattrs): run 'sudo make bench'"
[ -x "$KILN" ] || die "no kiln at '$KILN': run 'make' first"
command -v mke2fs >/dev/null || die "mke2fs not found (apt-get install e2fsprogs)"
command -v e2fsck >/dev/null || die "e2fsck not found (apt-get install e2fsprogs)"
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed for the peer (--xattrs --acls)"
command -v timeout >/dev/null || die "timeout not found (coreutils)"

mkdir -p "$WORK" || die "cannot create '$WORK'"
WORK=$(cd "$WORK" && pwd)
cleanup() {
	[ "${KILN_BENCH_KEEP:-0}" = 1 ] && { echo "# kept $WORK"; return; }
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Seconds (3 decimals) that "$@" takes; its output goes to $WORK/cmd.log.
# Returns the command's status.
elapsed=
timed() {
	local t0 t1 rc
	t0=$EPOCHREALTIME
	"$@" >"$WORK/cmd.log" 2>&1
	rc=$?
	t1=$EPOCHREALTIME
	elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	return $rc
}

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
secs() { awk -v s="$1" 'BEGIN { printf "%.2f", s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
on_disk() { du -B1 "$1" | awk '{ printf "%.1f MiB", $1 / 1048576 }'; }
apparent() { du -B1 --apparent-size "$1" | awk '{ printf "%.1f MiB", $1 / 1048576 }'; }

show_log() { sed 's/^/#   /' "$WORK/cmd.log" | tail -20 >&2; }

fsck_clean() {   # NAME IMAGE: e2fsck -fn must be clean for kiln's image
	if e2fsck -fn "$2" >"$WORK/fsck.log" 2>&1; then
		echo "# $1: kiln image clean under e2fsck -fn"
	else
		echo "# $1: kiln image NOT clean under e2fsck -fn:"
		sed 's/^/#   /' "$WORK/fsck.log" | tail -20
		failed=1
	fi
}

failed=0
echo "# kiln bench: $("$KILN" version), $(mke2fs -V 2>&1 | head -1), $(tar --version | head -1)"
echo "# $(uname -sr), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
	"scratch $WORK on $(findmnt -no FSTYPE -T "$WORK" 2>/dev/null || echo '?')"
echo "# best of $RUNS runs per side, wall clock; page cache not dropped: inputs are read once"
echo "# before timing, so kiln and the peer see the same warm cache"

# --- debian-tarball ----------------------------------------------------------
tarball=$CACHE/debian-bookworm.tar
if [ ! -f "$tarball" ]; then
	if [ -x tests/lib/fetch-debian-rootfs.sh ]; then
		echo "# $tarball missing: making it with tests/lib/fetch-debian-rootfs.sh (about a minute)"
		tarball=$(KILN_CACHE=$CACHE tests/lib/fetch-debian-rootfs.sh) || tarball=
	else
		tarball=
	fi
fi
if [ -z "$tarball" ] || [ ! -f "$tarball" ]; then
	echo "debian-tarball: skipped (no $CACHE/debian-bookworm.tar; make one as root with" \
		"'mmdebstrap --variant=minbase --include=linux-image-cloud-amd64,openssh-server,systemd-sysv" \
		"bookworm $CACHE/debian-bookworm.tar')"
	failed=1
else
	cat "$tarball" >/dev/null
	kbest='' pbest='' ptar='' pmkfs=''
	for ((i = 1; i <= RUNS; i++)); do
		rm -f "$WORK/deb-kiln.img"
		timed "$KILN" build -q -r "$tarball" -o "$WORK/deb-kiln.img" -t none -s "$SIZE" ||
			{ show_log; die "kiln build of '$tarball' failed"; }
		kbest=$(min "$kbest" "$elapsed")

		rm -rf "$WORK/deb-tree" "$WORK/deb-peer.img"
		mkdir "$WORK/deb-tree"
		timed tar -x --xattrs --xattrs-include='*' --acls --numeric-owner \
			-f "$tarball" -C "$WORK/deb-tree" || { show_log; die "tar -x of '$tarball' failed"; }
		t_tar=$elapsed
		timed mke2fs -q -F -t ext4 -d "$WORK/deb-tree" "$WORK/deb-peer.img" "$SIZE" ||
			{ show_log; die "mke2fs -d of the extracted tree failed"; }
		t_mkfs=$elapsed
		total=$(awk -v a="$t_tar" -v b="$t_mkfs" 'BEGIN { printf "%.3f", a + b }')
		if [ -z "$pbest" ] || [ "$(min "$pbest" "$total")" = "$total" ]; then
			pbest=$total ptar=$t_tar pmkfs=$t_mkfs
		fi
	done
	echo "debian-tarball: kiln $(secs "$kbest") s, tar -x + mke2fs -d $(secs "$pbest") s," \
		"ratio $(ratio "$kbest" "$pbest")"
	echo "# debian-tarball: peer's best run was tar -x $(secs "$ptar") s + mke2fs -d $(secs "$pmkfs") s;" \
		"kiln vs mke2fs -d alone: ratio $(ratio "$kbest" "$pmkfs")"
	echo "debian-tarball image on disk: kiln $(on_disk "$WORK/deb-kiln.img"), tar -x + mke2fs -d" \
		"$(on_disk "$WORK/deb-peer.img") (apparent $(apparent "$WORK/deb-kiln.img") each)"
	fsck_clean debian-tarball "$WORK/deb-kiln.img"
	rm -rf "$WORK/deb-tree"
fi

# --- folder-40000 -------------------------------------------------------------
name=folder-$NFILES
syn=$WORK/syn
rm -rf "$syn"
mkdir -p "$syn/many" || die "cannot create '$syn'"
(cd "$syn/many" && seq -f 'file-%06g' 1 "$NFILES" | xargs touch) || die "cannot create $NFILES files in '$syn/many'"
ls -f "$syn/many" >/dev/null   # warm the dentry cache for both sides
kbest='' pbest='' capped=''
for ((i = 1; i <= RUNS; i++)); do
	rm -f "$WORK/syn-kiln.img"
	timed "$KILN" build -q -r "$syn" -o "$WORK/syn-kiln.img" -t none -s "$SYN_SIZE" ||
		{ show_log; die "kiln build of '$syn' failed"; }
	kbest=$(min "$kbest" "$elapsed")
done
for ((i = 1; i <= RUNS; i++)); do
	rm -f "$WORK/syn-peer.img"
	timed timeout "$CAP" mke2fs -q -F -t ext4 -d "$syn" "$WORK/syn-peer.img" "$SYN_SIZE"
	rc=$?
	if [ $rc -eq 124 ]; then
		capped=1
		break   # another run would hit the cap too
	fi
	[ $rc -eq 0 ] || { show_log; die "mke2fs -d of '$syn' failed"; }
	pbest=$(min "$pbest" "$elapsed")
done
if [ -n "$capped" ] && [ -z "$pbest" ]; then
	# A capped run says only that the peer needs more than CAP seconds.
	echo "$name: kiln $(secs "$kbest") s, mke2fs -d >$CAP s, ratio <$(ratio "$kbest" "$CAP")"
	echo "$name image on disk: kiln $(on_disk "$WORK/syn-kiln.img"), mke2fs -d (stopped at ${CAP} s)"
else
	echo "$name: kiln $(secs "$kbest") s, mke2fs -d $(secs "$pbest") s, ratio $(ratio "$kbest" "$pbest")"
	echo "# $name: mke2fs -d takes $(awk -v a="$pbest" -v b="$kbest" 'BEGIN { printf "%.0f", a / b }')x" \
		"kiln's time here"
	echo "$name image on disk: kiln $(on_disk "$WORK/syn-kiln.img"), mke2fs -d" \
		"$(on_disk "$WORK/syn-peer.img") (apparent $(apparent "$WORK/syn-kiln.img") each)"
fi
fsck_clean "$name" "$WORK/syn-kiln.img"

exit $failed
