#!/bin/bash
# Fills the git-ignored cache with Debian's signed EFI boot loaders, unpacked
# as tests/lib/fetch-kernel.sh unpacks the kernel:
#   ${KILN_CACHE:-.cache}/efi-signed/usr/lib/shim/shimx64.efi.signed   (shim-signed)
#   .../usr/lib/shim/mmx64.efi.signed                  (shim-helpers-amd64-signed)
#   .../usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed  (grub-efi-amd64-signed)
# apt-get download + dpkg-deb -x, not apt-get install: nothing on the host
# changes and no postinst runs (grub-efi-amd64-signed's would install GRUB
# into the host's ESP).  The Secure Boot layout tests copy these files into
# a rootfs, where kiln finds them as it would in a Debian image.
# Prints the unpacked folder.
set -euo pipefail
cache=${KILN_CACHE:-$(cd "$(dirname "$0")/../.." && pwd)/.cache}
dest=$cache/efi-signed
files="usr/lib/shim/shimx64.efi.signed usr/lib/shim/mmx64.efi.signed usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
have_all() {
	local f
	for f in $files; do
		[ -s "$dest/$f" ] || return 1
	done
}
if have_all; then
	echo "$dest"
	exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.efi-signed-XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download -q shim-signed shim-helpers-amd64-signed grub-efi-amd64-signed >/dev/null 2>"$work/apt.err"); then
	echo "fetch-efi-signed: apt-get download failed: $(grep -v '^W: Download is performed unsandboxed' "$work/apt.err" | tail -n 1) (run apt-get update?)" >&2
	exit 1
fi
for deb in "$work"/*.deb; do
	dpkg-deb -x "$deb" "$work/root"
done
rm -rf "$dest"
mv "$work/root" "$dest"
if ! have_all; then
	echo "fetch-efi-signed: the packages hold no $files" >&2
	exit 1
fi
echo "$dest"
