#!/bin/bash
# Fills the git-ignored cache with Debian's cloud kernel, unpacked:
#   ${KILN_CACHE:-.cache}/kernel/boot/vmlinuz-VERSION and lib/modules/VERSION
# (apt-get download + dpkg-deb -x: no root filesystem changes, no postinst,
# so there is no modules.dep; kiln reads each module's own depends=).
# Prints the unpacked folder.
set -euo pipefail
cache=${KILN_CACHE:-$(cd "$(dirname "$0")/../.." && pwd)/.cache}
dest=$cache/kernel
if [ -d "$dest/boot" ] && ls "$dest"/boot/vmlinuz-* >/dev/null 2>&1; then
	echo "$dest"
	exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/.kernel-XXXXXX")
trap 'rm -rf "$work"' EXIT
# The metapackage names the current versioned image package.
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
	echo "fetch-kernel: cannot resolve linux-image-cloud-amd64 (run apt-get update)" >&2
	exit 1
fi
(cd "$work" && apt-get download -q "$pkg" >/dev/null)
dpkg-deb -x "$work"/*.deb "$work/root"
rm -rf "$dest"
mv "$work/root" "$dest"
echo "$dest"
