#!/bin/bash
# mktree.sh OUTDIR — build a synthetic rootfs that holds every file type and
# every piece of metadata an ext4 root filesystem can carry, then pack it as
# tarballs that carry the same metadata.
#
#   OUTDIR/tree            the tree (must be made as root: mknod, chown, trusted.*)
#   OUTDIR/tree.tar        pax tarball of it (+ .tar.gz .tar.zst .tar.xz)
#   OUTDIR/tree.manifest   what was made and why, one line per case (for humans)
#
# About 3 s and 6 MiB on disk (apparent size 130 MiB: sparse files); ~3150 paths.
#
# Deterministic: every timestamp derives from SOURCE_DATE_EPOCH (default
# 1700000000), names are packed sorted, compressors store no name or date, so
# the same date gives byte-identical tarballs (t0010 checks it).  The tree's
# ctimes are "now" (no userspace call can set a ctime), so the tarballs leave
# ctime out: verify an image built from a tarball with verify-image.py
# --no-ctime.  Everything else the tree holds, the tarball holds: extracting
# it with GNU tar --xattrs --xattrs-include='*' --acls --numeric-owner gives
# the same tree (extraction itself sets atimes to "now"; the archive has them).
#
# Debian packages this needs (CI: apt-get install -y these):
#   attr (setfattr)  acl (setfacl)  libcap2-bin (setcap)  tar gzip xz-utils zstd
#   coreutils util-linux (unshare)
# They are installed here when missing.
#
# Why GNU tar and not bsdtar: see "tarballs" below.
#
# Limits worth knowing (measured on the build host, ext4 with 4 KiB blocks):
#  * The largest single xattr value that fits an ext4 inode whose only xattr is
#    named user.big is 4040 bytes (4096 block - 32 header - 20 entry - 4 end).
#    The tree stores exactly that, and one file with 30 xattrs (~1.2 KiB), so
#    an image needs 4 KiB blocks (mke2fs picks 1 KiB blocks below 512 MiB
#    unless told -b 4096).
#  * readlink(2) updates a symlink's atime under relatime, and nothing (no
#    O_NOATIME) prevents it, so any reader changes symlink atimes; the verifier
#    does not compare them.
#  * Names hold no '/' or NUL, and one name holds a newline: the verifier walks
#    the image by inode number, so it never quotes a name for debugfs.
set -euo pipefail
export LC_ALL=C TZ=UTC

die() { echo "mktree: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: mktree.sh OUTDIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (mknod, chown, trusted.* xattrs)"
OUT=$1
EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
case $EPOCH in ''|*[!0-9]*) die "SOURCE_DATE_EPOCH '$EPOCH' is not a number of seconds";; esac

need_pkgs=()
command -v setfattr >/dev/null || need_pkgs+=(attr)
command -v setfacl >/dev/null || need_pkgs+=(acl)
command -v setcap >/dev/null || need_pkgs+=(libcap2-bin)
command -v zstd >/dev/null || need_pkgs+=(zstd)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
	echo "mktree: installing ${need_pkgs[*]}" >&2
	apt-get install -y -qq "${need_pkgs[@]}" >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${need_pkgs[@]}" >/dev/null; } ||
		die "cannot install ${need_pkgs[*]}"
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T=$OUT/tree
rm -rf "$T" "$OUT"/tree.tar*
mkdir "$T"
MANIFEST=$OUT/tree.manifest
: >"$MANIFEST"
note() { printf '%s\t%s\n' "$1" "$2" >>"$MANIFEST"; }
# counted N: N bytes of decimal counting "12345678910...", no block alike.
counted() { (set +o pipefail; seq 1 9999999 | tr -d '\n' | head -c "$1"); }

# The host filesystem must keep what we are about to put in it.
probe=$T/.probe
touch "$probe"
setfattr -n trusted.probe -v 1 "$probe" 2>/dev/null || die "$T: filesystem has no trusted.* xattrs"
setfacl -m u:1:r "$probe" 2>/dev/null || die "$T: filesystem has no POSIX ACLs"
rm -f "$probe"

# --- regular files ----------------------------------------------------------
mkdir "$T/files"
: >"$T/files/empty";                                note files/empty "0 bytes"
printf 'hello, kiln\n' >"$T/files/small";           note files/small "12 bytes"
printf 'x' >"$T/files/one-byte";                    note files/one-byte "1 byte"
# 5 MiB + 123 bytes, every 4 KiB block different, last block partial.
counted $((5 * 1048576 + 123)) >"$T/files/big"
note files/big "5 MiB + 123 bytes, distinct blocks"
head -c 4096 /dev/zero | tr '\0' 'B' >"$T/files/one-block"; note files/one-block "exactly 4096 bytes"
# Sparse: hole 0-1 MiB, data 1 MiB-1 MiB+8 KiB, hole to 8 MiB, 3 bytes at
# 8 MiB, hole to 16 MiB (end).
truncate -s 16M "$T/files/sparse"
head -c 8192 /dev/zero | tr '\0' 'S' | dd of="$T/files/sparse" bs=4096 seek=256 conv=notrunc status=none
printf 'mid' | dd of="$T/files/sparse" bs=1 seek=$((8 * 1048576)) conv=notrunc status=none
note files/sparse "16 MiB apparent; holes at start, middle and end"
# All hole, larger than a 64 MiB test image: only a hole-aware copy fits.
truncate -s 100M "$T/files/sparse-all-hole";       note files/sparse-all-hole "100 MiB, no data at all"
# Data, then a hole to the end, size not block aligned.
printf 'head' >"$T/files/sparse-tail"; truncate -s $((3 * 1048576 + 5)) "$T/files/sparse-tail"
note files/sparse-tail "4 bytes then a hole; size 3 MiB + 5"
# Zeros written as data (not a hole): a builder may store them either way.
head -c 65536 /dev/zero >"$T/files/zeros";          note files/zeros "64 KiB of written zeros"

# --- directories, names -------------------------------------------------------
mkdir "$T/dirs" "$T/dirs/empty"
note dirs/empty "empty directory"
mkdir "$T/dirs/x" "$T/dirs/x.d"; printf 'c\n' >"$T/dirs/x/child"; : >"$T/dirs/x-y"
note dirs/x "siblings x-y and x.d sort between x and x/child (byte order)"
mkdir "$T/names"
n255=$(printf 'n%.0s' $(seq 255))
: >"$T/names/$n255";                                note "names/n*255" "255-byte name"
mkdir "$T/names/d${n255:1}"; : >"$T/names/d${n255:1}/inside"; note "names/d*255" "255-byte directory name"
u255=$(printf '\xc3\xa9%.0s' $(seq 127))x            # 127 x 'é' (2 bytes) + 'x' = 255 bytes
: >"$T/names/$u255";                                note "names/é*127x" "255-byte UTF-8 name"
for n in 'with space' ' leading-space' 'trailing-space ' '-dash' '--' '.hidden' '..dots' \
	'tab	inside' 'quote"double' "quote'single" 'back\slash' 'glob*?[x]' 'percent%s' \
	'semi;colon' '$dollar' '#hash' 'héllo wörld' '日本語のファイル' 'emoji-🦀' 'CAPS' 'caps' \
	'new
line'; do
	printf '%s' "$n" >"$T/names/$n"
done
note names/* "spaces, quotes, glob characters, UTF-8, a newline"
# Deep path: 40 levels.
d=$T/deep
for i in $(seq -w 1 40); do d=$d/level$i; done
mkdir -p "$d"; printf 'bottom\n' >"$d/leaf";       note "deep/level01/.../level40/leaf" "40 levels"
# 3000 entries: a multi-block, hash-indexed directory.
mkdir "$T/many"
(cd "$T/many" && seq -f 'entry-with-a-longish-name-%05g' 0 2999 | xargs touch)
note many/* "3000 entries"

# --- symlinks ---------------------------------------------------------------
mkdir "$T/links"
ln -s ../files/small "$T/links/short";              note links/short "relative, fast symlink"
ln -s /files/small "$T/links/absolute";             note links/absolute "absolute target"
ln -s does/not/exist "$T/links/dangling";           note links/dangling "dangling"
ln -s "$(printf 'a%.0s' $(seq 59))" "$T/links/len59"; note links/len59 "59-byte target: largest fast symlink"
ln -s "$(printf 'b%.0s' $(seq 60))" "$T/links/len60"; note links/len60 "60-byte target: smallest slow symlink"
long=$(printf '../%.0s' $(seq 20))$(printf 'L%.0s' $(seq 140))
ln -s "$long" "$T/links/long200";                   note links/long200 "200-byte target"
ln -s 'target with space/日本' "$T/links/utf8";      note links/utf8 "target with space and UTF-8"
ln -s ../dirs "$T/links/to-dir";                    note links/to-dir "symlink to a directory"

# --- hard links: one inode, three names in three directories ------------------
mkdir "$T/hard" "$T/hard/a" "$T/hard/b"
printf 'shared inode\n' >"$T/hard/one"
ln "$T/hard/one" "$T/hard/a/two"
ln "$T/hard/one" "$T/files/three"
note hard/one "hard link group: hard/one hard/a/two files/three"

# --- special files ----------------------------------------------------------
mkdir "$T/dev"
mknod "$T/dev/null" c 1 3;                          note dev/null "char 1:3"
mknod "$T/dev/sda1" b 8 1;                          note dev/sda1 "block 8:1"
mknod "$T/dev/big-char" c 300 70000;                note dev/big-char "char 300:70000 (major > 255, minor > 65535)"
mknod "$T/dev/big-block" b 259 256;                 note dev/big-block "block 259:256"
mknod "$T/dev/zero-zero" c 0 0;                     note dev/zero-zero "char 0:0"
mkfifo "$T/dev/fifo";                               note dev/fifo "FIFO"
# A unix socket is left out: tar cannot carry one.

# --- ownership and modes ------------------------------------------------------
mkdir "$T/owners" "$T/modes"
for o in 1234:5678 65534:65534 0:5678 70000:70001 4000000000:4000000001; do
	: >"$T/owners/$o"; chown "$o" "$T/owners/$o"
done
note owners/* "odd uids/gids: nobody, > 16 bits, > 2^31"
mkdir "$T/owners/dir-1234"; chown 1234:5678 "$T/owners/dir-1234"
ln -s ../files/small "$T/owners/link-1234"; chown -h 1234:5678 "$T/owners/link-1234"
mknod "$T/owners/dev-1234" c 10 200; chown 1234:5678 "$T/owners/dev-1234"
for m in 0000 0400 0644 0755 4755 2755 6755 1755 7777 4000 2000 1000; do
	printf 'mode %s\n' "$m" >"$T/modes/file-$m"
	chown 1234:5678 "$T/modes/file-$m"               # chown clears setuid: chmod after
	chmod "$m" "$T/modes/file-$m"
done
mkdir "$T/modes/dir-1777" "$T/modes/dir-2775" "$T/modes/dir-0700" "$T/modes/dir-0000"
chmod 1777 "$T/modes/dir-1777"; chmod 2775 "$T/modes/dir-2775"
chmod 0700 "$T/modes/dir-0700"; chmod 0000 "$T/modes/dir-0000"
note modes/* "setuid, setgid, sticky, all bits, no bits; on files and directories"

# --- xattrs -------------------------------------------------------------------
mkdir "$T/xattr"
x=$T/xattr/user
printf 'data\n' >"$x"
setfattr -n user.plain -v 'hello' "$x"
setfattr -n user.empty "$x"                        # zero-length value
setfattr -n user.binary -v 0x00ff00fe0a0d22275c "$x"  # NUL, 0xff, newline, quote, backslash
setfattr -n user.mixed.Case_name-1 -v '"quoted" and \back' "$x"
note xattr/user "user.* incl. empty and binary values"
printf 'data\n' >"$T/xattr/trusted"
setfattr -n trusted.overlay.opaque -v y "$T/xattr/trusted"
setfattr -n trusted.md5sum -v 0x0123456789abcdef0123456789abcdef "$T/xattr/trusted"
note xattr/trusted "trusted.*"
printf '#!/bin/sh\n' >"$T/xattr/cap"
chmod 0755 "$T/xattr/cap"
setcap 'cap_net_raw,cap_net_admin+ep' "$T/xattr/cap"   # VFS_CAP_REVISION_2 blob, 20 bytes
note xattr/cap "security.capability v2 (cap_net_raw,cap_net_admin+ep)"
printf 'data\n' >"$T/xattr/selinux"
# SELinux stores the context with its trailing NUL.
setfattr -n security.selinux -v "0x$(printf 'system_u:object_r:bin_t:s0' | od -An -tx1 | tr -d ' \n')00" "$T/xattr/selinux"
note xattr/selinux "security.selinux with trailing NUL"
printf 'data\n' >"$T/xattr/big"
setfattr -n user.big -v "0x$(counted 4040 | od -An -tx1 | tr -d ' \n')" "$T/xattr/big"
note xattr/big "user.big, 4040 bytes: the largest value that fits one 4 KiB block"
printf 'data\n' >"$T/xattr/many"
for i in $(seq -w 1 30); do setfattr -n "user.attr$i" -v "value number $i" "$T/xattr/many"; done
note xattr/many "30 xattrs: spills out of the inode into a block"
mkdir "$T/xattr/dir"; setfattr -n user.on-dir -v d "$T/xattr/dir"
ln -s ../files/small "$T/xattr/link"; setfattr -h -n trusted.on-link -v l "$T/xattr/link"
mknod "$T/xattr/dev" c 1 5; setfattr -n trusted.on-dev -v c "$T/xattr/dev"
note xattr/dir,link,dev "xattrs on a directory, a symlink (trusted.*: user.* is not allowed there) and a device"
# Every kind at once on one file, plus an ACL.
printf 'all\n' >"$T/xattr/all"
chmod 0750 "$T/xattr/all"
setcap 'cap_sys_admin+eip' "$T/xattr/all"
setfattr -n user.k -v v "$T/xattr/all"
setfattr -n trusted.k -v v "$T/xattr/all"
setfattr -n security.selinux -v "0x$(printf 'system_u:object_r:etc_t:s0' | od -An -tx1 | tr -d ' \n')00" "$T/xattr/all"
setfacl -m u:1234:r,g:5678:rx "$T/xattr/all"
note xattr/all "capability, selinux, user, trusted and an access ACL"

# --- POSIX ACLs ---------------------------------------------------------------
mkdir "$T/acl"
printf 'acl\n' >"$T/acl/file"
setfacl -m u:1234:rw,u:65534:r,g:5678:r,g:65534:rw,m:rw "$T/acl/file"
note acl/file "access ACL: named users/groups (65534 has a name on the host, 1234 has none)"
mkdir "$T/acl/dir"
setfacl -m u:1234:rwx "$T/acl/dir"
setfacl -d -m u::rwx,g::rx,o::-,u:1234:rwx,g:5678:rx "$T/acl/dir"
note acl/dir "access and default ACL on a directory"
mkdir "$T/acl/default-only"
setfacl -d -m u:65534:rx "$T/acl/default-only"
note acl/default-only "default ACL only"

# --- timestamps -----------------------------------------------------------------
# Every path gets its own mtime and atime, with nanoseconds, atime != mtime, so a
# swapped or truncated field shows.  A few get the edges: before 1970, after
# 2038 (needs the ext4 epoch bits), zero nanoseconds, 999999999 ns.
# many/* share one time (3000 touch calls would be slow).  Directories are done
# last, deepest first, so creating their entries cannot move their mtime.
stamp() {   # stamp PATH MTIME ATIME   (times as SECONDS.NANOSECONDS)
	touch -h -m -d "@$2" "$1"
	touch -h -a -d "@$3" "$1"
}
(cd "$T/many" && find . -mindepth 1 -print0 | xargs -0 touch -h -m -d "@$((EPOCH - 7200)).5")
(cd "$T/many" && find . -mindepth 1 -print0 | xargs -0 touch -h -a -d "@$((EPOCH - 3600)).25")
i=0
while IFS= read -r -d '' p; do
	i=$((i + 1))
	ns=$(printf '%09d' $(( (i * 123456789 + 7) % 1000000000 )))
	ans=$(printf '%09d' $(( (i * 987654321 + 3) % 1000000000 )))
	stamp "$T/$p" "$((EPOCH - i * 3607)).$ns" "$((EPOCH - i * 1801 + 86400)).$ans"
done < <(cd "$T" && find . -mindepth 1 -path ./many -prune -o ! -type d -print0 | sort -z)
stamp "$T/files/small" "-1.500000000" "-86400.000000001"; note files/small "mtime 1969-12-31T23:59:58.5 (negative)"
stamp "$T/files/one-byte" "4102444800.999999999" "4294967296.000000000"; note files/one-byte "mtime 2100-01-01, atime 2106-02-07 (> 32 bits)"
stamp "$T/files/empty" "$EPOCH.000000000" "$EPOCH.000000000"; note files/empty "whole seconds"
stamp "$T/files/big" "2147483647.999999999" "2147483648.000000000"; note files/big "mtime 2^31-1, atime 2^31"
i=0
while IFS= read -r -d '' p; do
	i=$((i + 1))
	ns=$(printf '%09d' $(( (i * 314159265 + 11) % 1000000000 )))
	stamp "$T/$p" "$((EPOCH - i * 7919)).$ns" "$((EPOCH - i * 613)).$ns"
done < <(cd "$T" && find . -mindepth 1 -type d -print0 | sort -rz)
chmod 0755 "$T"; chown 0:0 "$T"
stamp "$T" "$EPOCH.424242424" "$EPOCH.424242424"

# --- tarballs -----------------------------------------------------------------
# GNU tar (pax format) rather than bsdtar, after packing this tree with both
# and reading the headers back:
#  * both keep every xattr namespace as SCHILY.xattr.* (security.capability,
#    security.selinux with its NUL, trusted.*, the 4040-byte value), nanosecond
#    times, uids/gids > 2^21, device numbers > 255, hard links, sparse maps;
#  * bsdtar 3.6 writes negative fractional times wrong (mtime -1.5 as "-2.5"),
#    updates directory atimes while reading (GNU tar opens with O_NOATIME), has
#    no --sort (member order is readdir order), and always writes ctime;
#  * ACLs: GNU tar writes SCHILY.acl.access/default as text with *names*
#    ("user:nobody:r--", --numeric-owner does not change that) but, with
#    --xattrs-include='*', also the exact binary system.posix_acl_access /
#    system.posix_acl_default values as SCHILY.xattr.*; bsdtar writes text with
#    names and ids ("user:nobody:r--:65534") and no binary copy.  So the GNU
#    tarball carries each ACL twice: a reader that maps names with the host's
#    passwd gets the same ids here only because 65534 is nobody/nogroup on
#    both sides; the binary xattr is the exact one.
# Options:
#   --atime-preserve=system  read with O_NOATIME: packing keeps the tree's atimes
#   exthdr.name              no PID in the pax header names
#   delete=ctime             the tree's ctimes are "now": leaving them out keeps
#                            the tarball deterministic (and carries no ctime)
#   unshare --pid            GNU tar names each sparse member
#                            "GNUSparseFile.<PID>" in its ustar header, and no
#                            option changes that: as PID 1 of a new PID
#                            namespace the name is always the same
pack_tarball() {
	local tar=(tar --create --file="$OUT/tree.tar.tmp" --directory="$T"
		--format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=ctime'
		--xattrs --xattrs-include='*' --acls --numeric-owner --sparse
		--sort=name --atime-preserve=system .)
	if ! unshare --pid --fork "${tar[@]}" 2>/dev/null; then
		echo "mktree: unshare --pid failed: tree.tar holds tar's PID (not reproducible)" >&2
		"${tar[@]}"
	fi
	mv "$OUT/tree.tar.tmp" "$OUT/tree.tar"
}
pack_tarball
gzip -6 -n -c "$OUT/tree.tar" >"$OUT/tree.tar.gz.tmp" && mv "$OUT/tree.tar.gz.tmp" "$OUT/tree.tar.gz"
zstd -q -3 -c "$OUT/tree.tar" >"$OUT/tree.tar.zst.tmp" && mv "$OUT/tree.tar.zst.tmp" "$OUT/tree.tar.zst"
xz -T1 -1 -c "$OUT/tree.tar" >"$OUT/tree.tar.xz.tmp" && mv "$OUT/tree.tar.xz.tmp" "$OUT/tree.tar.xz"
echo "$T"
