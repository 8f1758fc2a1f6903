#!/bin/bash
# fetch-debian-rootfs.sh [FLAVOUR [SUITE]] — make sure a Debian rootfs tarball
# (bookworm unless SUITE says otherwise) is in the cache and print its path:
#
#   tar=$(tests/lib/fetch-debian-rootfs.sh) || skip_all "no Debian rootfs"
#   tar=$(tests/lib/fetch-debian-rootfs.sh "" trixie) || skip_all "no Debian 13 rootfs"
#
# The cache is the git-ignored .cache/ at the repository root, or $KILN_CACHE.
# When debian-SUITE[-FLAVOUR].tar is missing it is made with README.md's command
#   mmdebstrap --variant=minbase --include=linux-image-cloud-amd64,openssh-server,systemd-sysv
#              --format=tar SUITE TMP SOURCES...
# from this machine's own apt sources (every file of /etc/apt/sources.list and
# sources.list.d that names the suite, passed by path, so no host name is
# written anywhere) and its proxy / Check-Valid-Until settings, then renamed
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
#
# SUITE: bookworm (Debian 12, the default) or trixie (Debian 13, whose
# minbase has no e2fsprogs: tests/t/t0750).  This machine's sources name
# bookworm only, so for trixie, unless some source names trixie itself, a
# sources list is derived at run time from the machine's bookworm entries
# (one-line or deb822): the suite names rewritten (bookworm -> trixie,
# bookworm-updates -> trixie-updates, bookworm-security -> trixie-security,
# other bookworm-* suites dropped), URIs, components, options and Signed-By
# kept as they are.  It goes to a temporary folder outside the repository
# (removed on exit), so again no host name is written anywhere.
FLAVOUR=${1:-}
SUITE=${2:-bookworm}
case $SUITE in
bookworm | trixie) ;;
*) echo "fetch-debian-rootfs: unknown suite '$SUITE' (expected 'bookworm' or 'trixie')" >&2; exit 2 ;;
esac
BASE_SUITE=bookworm   # the suite this machine's own apt sources name
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

# This machine's apt source files that name suite $1, by path.
machine_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		if grep -Eq "^[^#]*[[:space:]]$1([[:space:]]|\$)" "$f"; then
			printf '%s\n' "$f"
		fi
	done
}

# derive_sources FILE DIR: FILE's entries for $BASE_SUITE (and its -updates
# and -security) rewritten for $SUITE, into DIR/N-NAME, NAME being FILE's
# (its .list or .sources suffix tells mmdebstrap the format).  Nothing else
# of an entry changes; a file left with no entry is not passed.
derive_sources() {
	local f=$1 dir=$2 out
	case $f in
	*.sources)
		out=$dir/$(( ${#derived[@]} + 1 ))-$(basename "$f")
		# deb822: stanzas are separated by blank lines; a stanza is kept
		# when its Suites: field names a base suite, with that field rewritten.
		awk -v from="$BASE_SUITE" -v to="$SUITE" '
			function flush() {
				if (keep && n) { if (printed) print ""; for (i = 1; i <= n; i++) print st[i]; printed = 1 }
				n = 0; keep = 0
			}
			/^[[:space:]]*$/ { flush(); next }
			/^[Ss]uites:/ {
				line = "Suites:"
				m = split(substr($0, 8), w, /[[:space:]]+/)
				for (i = 1; i <= m; i++) {
					if (w[i] == "") continue
					if (w[i] == from) s = to
					else if (w[i] == from "-updates") s = to "-updates"
					else if (w[i] == from "-security") s = to "-security"
					else continue
					line = line " " s; keep = 1
				}
				st[++n] = line; next
			}
			{ st[++n] = $0 }
			END { flush() }' "$f" >"$out" ;;
	*)
		out=$dir/$(( ${#derived[@]} + 1 ))-$(basename "$f")
		# One-line: "deb [OPTIONS] URI SUITE COMPONENT...": the field after
		# the URI is the suite; a line for another suite is dropped.
		awk -v from="$BASE_SUITE" -v to="$SUITE" '
			/^[[:space:]]*(#|$)/ { next }
			{
				i = 2
				if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				s = $(i + 1)
				if (s == from) $(i + 1) = to
				else if (s == from "-updates") $(i + 1) = to "-updates"
				else if (s == from "-security") $(i + 1) = to "-security"
				else next
				print
			}' "$f" >"$out" ;;
	esac
	[ -s "$out" ] && derived+=("$out")
	return 0
}

mapfile -t sources < <(machine_sources "$SUITE")
if [ ${#sources[@]} -eq 0 ] && [ "$SUITE" != "$BASE_SUITE" ]; then
	mapfile -t base < <(machine_sources "$BASE_SUITE")
	[ ${#base[@]} -gt 0 ] ||
		die "cannot build '$OUT': no apt source on this machine names $SUITE or $BASE_SUITE"
	srcdir=$(mktemp -d "${TMPDIR:-/tmp}/fetch-debian-rootfs.XXXXXX")
	trap 'rm -rf "$srcdir"' EXIT
	derived=()
	for f in "${base[@]}"; do
		derive_sources "$f" "$srcdir"
	done
	sources=("${derived[@]}")
	echo "fetch-debian-rootfs: $SUITE from this machine's $BASE_SUITE sources, suites rewritten:" >&2
	cat "${sources[@]}" | grep -Ei '^([[:space:]]*deb|suites:)' | sed 's/^/  /' >&2 || true
fi
[ ${#sources[@]} -gt 0 ] || die "cannot build '$OUT': no apt source on this machine names $SUITE"

# The machine's own apt settings that decide whether a download works here.
aptopts=()
while IFS= read -r line; do
	aptopts+=(--aptopt="$line")
done < <(apt-config dump 2>/dev/null | grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date) ' || true)

tmp=$(mktemp "$CACHE/.$NAME.tar.XXXXXX")
trap 'rm -f "$tmp"; [ -z "${srcdir:-}" ] || rm -rf "$srcdir"' EXIT
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
[ -z "${srcdir:-}" ] || rm -rf "$srcdir"
trap - EXIT
echo "$OUT"
