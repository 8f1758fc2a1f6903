#!/bin/bash
# fetch-debian-rootfs.sh — make sure a Debian bookworm rootfs tarball is in the
# cache and print its path:
#
#   tar=$(tests/lib/fetch-debian-rootfs.sh) || skip_all "no Debian rootfs"
#
# The cache is the git-ignored .cache/ at the repository root, or $KILN_CACHE.
# When debian-bookworm.tar is missing it is made with README.md's command
#   mmdebstrap --variant=minbase --include=linux-image-cloud-amd64,openssh-server,systemd-sysv
#              --format=tar bookworm TMP SOURCES...
# from this machine's own apt sources (every file of /etc/apt/sources.list and
# sources.list.d that names the suite bookworm, passed by path, so no host name
# is written anywhere) and its proxy / Check-Valid-Until settings, then renamed
# into place: a crash or ^C never leaves a half-written tarball under the
# final name.  A lock serialises concurrent runs of this script (parallel
# tests); the second waits, then finds the tarball.
#
# --format=tar is explicit: mmdebstrap picks the format from the target's name
# and makes a *directory* for a name it does not know (such as foo.tar.part).
#
# Needs root (mmdebstrap's root mode: device nodes, ownership) and the Debian
# packages mmdebstrap and util-linux (flock).  Takes about a minute and
# ~350 MiB.  Progress goes to stderr; stdout is only the path.
set -euo pipefail
export LC_ALL=C

die() { echo "fetch-debian-rootfs: $*" >&2; exit 1; }

SUITE=bookworm
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${KILN_CACHE:-$ROOT/.cache}
# The flavour: "" (README.md's: minbase + cloud kernel + sshd + an init),
# "boot", which adds Debian's signed shim and GRUB, for the boot tests
# (login prompt, Secure Boot), or "bench", which adds
# GRUB's BIOS and EFI images (grub-pc-bin, grub-efi-amd64-bin) with
# grub2-common's grub-install and update-grub (grub-common, which the -bin
# packages pull in, has grub-mkimage but not these), so that the conventional
# pipeline in tests/bench/disk.sh can run grub-install inside the rootfs.
# Not grub-pc / grub-efi-amd64: their postinst tries to install GRUB into a
# disk; grub2-common and the -bin packages have no postinst.  "firstboot" is
# "boot" plus cloud-guest-utils (growpart), for tests/bench/firstboot.sh's
# peer: the same first-boot work done the conventional way inside the guest.
# "cloudinit" is "firstboot" plus cloud-init (which pulls python3) and
# e2fsprogs (resize2fs for its resizefs), for tests/bench/userdata.sh's peer:
# Debian's cloud-init applying user data from a NoCloud seed.
# "ifupdown" and "netplan" are the README's rootfs plus ifupdown (with
# isc-dhcp-client, its DHCP client) or netplan.io: the network stacks
# kiln-init renders for besides systemd-networkd (tests/t/t0740).
FLAVOUR=${1:-}
INCLUDE=linux-image-cloud-amd64,openssh-server,systemd-sysv
NAME=debian-$SUITE
case $FLAVOUR in
"") ;;
boot) INCLUDE=$INCLUDE,shim-signed,grub-efi-amd64-signed; NAME=debian-$SUITE-boot ;;
bench) INCLUDE=$INCLUDE,grub-pc-bin,grub-efi-amd64-bin,grub2-common; NAME=debian-$SUITE-bench ;;
firstboot) INCLUDE=$INCLUDE,shim-signed,grub-efi-amd64-signed,cloud-guest-utils; NAME=debian-$SUITE-firstboot ;;
cloudinit) INCLUDE=$INCLUDE,shim-signed,grub-efi-amd64-signed,cloud-guest-utils,cloud-init,e2fsprogs; NAME=debian-$SUITE-cloudinit ;;
ifupdown) INCLUDE=$INCLUDE,ifupdown,isc-dhcp-client; NAME=debian-$SUITE-ifupdown ;;
netplan) INCLUDE=$INCLUDE,netplan.io; NAME=debian-$SUITE-netplan ;;
*) echo "fetch-debian-rootfs: unknown flavour '$FLAVOUR' (expected nothing, 'boot', 'bench', 'firstboot', 'cloudinit', 'ifupdown' or 'netplan')" >&2; exit 2 ;;
esac
OUT=$CACHE/$NAME.tar

is_tarball() {   # a regular, non-empty file with a ustar magic in its first header
	[ -f "$1" ] && [ ! -L "$1" ] && [ -s "$1" ] &&
		[ "$(dd if="$1" bs=1 skip=257 count=5 status=none 2>/dev/null)" = ustar ]
}

# OUT.include records the package list a tarball was made with: a tarball
# made from another list (an older version of this script) is made again.
check_existing() {
	if [ -e "$OUT" ] || [ -L "$OUT" ]; then
		if is_tarball "$OUT" && [ "$(cat "$OUT.include" 2>/dev/null)" = "$INCLUDE" ]; then
			echo "$OUT"
			exit 0
		fi
		is_tarball "$OUT" && return 0
		die "'$OUT' exists but is not a tar archive (a directory made by mmdebstrap's format guess?); move it away and run again"
	fi
}

check_existing
[ "$(id -u)" -eq 0 ] || die "cannot build '$OUT': mmdebstrap needs root"
command -v mmdebstrap >/dev/null || die "cannot build '$OUT': mmdebstrap not installed (apt-get install mmdebstrap)"
command -v flock >/dev/null || die "cannot build '$OUT': flock not installed (apt-get install util-linux)"
mkdir -p "$CACHE"

exec 9>"$CACHE/.$NAME.lock"
flock -w 1800 9 || die "cannot build '$OUT': another run holds $CACHE/.$NAME.lock"
check_existing   # made by the run we waited for

# This machine's apt sources for the suite, by path.
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
	[ -f "$f" ] || continue
	if grep -Eq "^[^#]*[[:space:]]$SUITE([[:space:]]|\$)" "$f"; then
		sources+=("$f")
	fi
done
[ ${#sources[@]} -gt 0 ] || die "cannot build '$OUT': no apt source on this machine names $SUITE"

# The machine's own apt settings that decide whether a download works here.
aptopts=()
while IFS= read -r line; do
	aptopts+=(--aptopt="$line")
done < <(apt-config dump 2>/dev/null | grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date) ' || true)

tmp=$(mktemp "$CACHE/.$NAME.tar.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "fetch-debian-rootfs: building $OUT with mmdebstrap (about a minute)" >&2
mmdebstrap --mode=root --format=tar --variant=minbase \
	--include="$INCLUDE" \
	"${aptopts[@]}" "$SUITE" "$tmp" "${sources[@]}" </dev/null >&2 ||
	die "cannot build '$OUT': mmdebstrap failed"
is_tarball "$tmp" || die "cannot build '$OUT': mmdebstrap wrote no tar archive"
chmod 0644 "$tmp"
printf '%s\n' "$INCLUDE" >"$OUT.include.tmp"
mv -f "$tmp" "$OUT"
mv -f "$OUT.include.tmp" "$OUT.include"
trap - EXIT
echo "$OUT"
