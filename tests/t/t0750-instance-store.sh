#!/bin/bash
# The instance store on an image with no e2fsprogs: Debian 13 (trixie)
# minbase, with nothing added (tests/lib/fetch-debian-rootfs.sh "" trixie),
# built by kiln and launched by `kiln run -t m5d.large` (a 75 GiB NVMe
# instance store beside the root) with no user data.  kiln-init lists the
# store for the boot stage; kiln-bootcmd.service (kiln-init --stage boot)
# makes it ext4 with kiln-init's own mkfs (libext2fs, linked in: the image
# has no mkfs.ext4) and mounts it on /mnt.  Looked at over SSH as the
# default user: the store is ext4 on /mnt, its fstab line has cloud-init's
# nofail and is ordered after kiln-bootcmd.service, kiln-bootcmd.service
# finished, and no unit failed, so the system is not degraded.  minbase has
# no D-Bus, so `systemctl is-system-running` cannot reach PID 1 as a user
# (its answer is shown, not checked); the journal, which the default user
# reads as a member of adm, says instead whether any unit failed ("Failed
# with result"), and the console must show kiln-bootcmd.service's OK line
# and no FAILED one.  The same launch of Debian 12 (README's rootfs, which
# has mkfs.ext4) shows kiln-init makes the store the same way when the
# image has one; t0900 covers the rest of Debian 12 with user data.
. "$(dirname "$0")/../lib/test-lib.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage ssh ssh-keygen tar
test_have_prereq KILN,GRUB_BIOS || skip_all "needs kiln and grub-pc-bin"
trixie=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" "" trixie 2>fetch.err) ||
	skip_all "cannot make the Debian 13 rootfs: $(tail -n 1 fetch.err)"
bookworm=$("$TEST_ROOT/tests/lib/fetch-debian-rootfs.sh" 2>fetch12.err) ||
	skip_all "cannot make the Debian 12 rootfs: $(tail -n 1 fetch12.err)"

# What the guest is asked; each part after an "== NAME" line.
GUEST='id -un
echo "== mnt"; findmnt -n -r -o SOURCE,FSTYPE,OPTIONS /mnt || echo "mnt not mounted"
echo "== by-label"; ls /dev/disk/by-label/ 2>&1
echo "== fstab"; grep comment=cloudconfig /etc/fstab
echo "== is-system-running"; systemctl is-system-running 2>&1 || true
echo "== bootcmd"; journalctl -b --no-pager -o cat -u kiln-bootcmd.service 2>&1
echo "== failed"; journalctl -b --no-pager -o cat 2>&1 | grep -E "Failed with result|EXT4-fs error" || echo "no unit failed"
echo "== userdata-log"; cat /var/log/kiln-userdata.log'

# boot_and_look NAME IMAGE: kiln run as an m5d.large, the guest's answers in
# NAME.out (the console in NAME.console, stripped of colours in NAME.c).
boot_and_look() {
	"$KILN" run "$2" -t m5d.large --key-name launch.pub --ssh --console-log "$1.console" \
		--timeout 240 -- "$GUEST" >"$1.out" 2>"$1.err" ||
		{ cat "$1.err"; tail -n 60 "$1.console" | tr -d "\r"; false; } &&
	sed 's/\x1b\[[0-9;]*m//g' "$1.console" | tr -d "\r" >"$1.c" &&
	cat "$1.out"
}

# section NAME FILE: the lines of FILE's "== NAME" part.
section() {
	awk -v want="== $1" '/^== / { on = ($0 == want); next } on' "$2"
}

# looks_right NAME: what both images must show.
looks_right() {
	section mnt "$1.out" >"$1.mnt" &&
	grep -Eq "^/dev/nvme[0-9]+n1 ext4 rw," "$1.mnt" &&
	dev=$(cut -d" " -f1 "$1.mnt") &&
	section by-label "$1.out" | grep -qx ephemeral0 &&
	section fstab "$1.out" >"$1.fstab" &&
	[ "$(wc -l <"$1.fstab")" = 1 ] &&
	grep -q "^${dev}[[:space:]]/mnt[[:space:]]auto[[:space:]]defaults,nofail,x-systemd.after=kiln-bootcmd.service,_netdev,comment=cloudconfig[[:space:]]0[[:space:]]2\$" "$1.fstab" &&
	section userdata-log "$1.out" | grep -q "^kiln-userdata: instance store $dev: made ext4, label ephemeral0, 75.0 GiB, [0-9]* inodes, in [0-9]* ms\$" &&
	section userdata-log "$1.out" | grep -q "^kiln-userdata: mounts: mount /mnt: done (status 0)\$" &&
	section userdata-log "$1.out" | grep -q "^kiln-userdata: stage boot: finished\$" &&
	section bootcmd "$1.out" | grep -q "^Finished kiln-bootcmd.service" &&
	! section bootcmd "$1.out" | grep -q "Failed" &&
	section failed "$1.out" | grep -qx "no unit failed" &&
	grep -q "^\[  OK  \] Finished kiln-bootcmd\.serv" "$1.c" &&
	! grep "^\[FAILED\]" "$1.c"
}

test_expect_success 'Debian 13 minbase has no mkfs.ext4; Debian 12 minbase has one' '
	! tar -tf "$trixie" | grep -E "^\./(usr/)?s?bin/mkfs\.ext4\$" &&
	tar -tf "$bookworm" | grep -qE "^\./(usr/)?s?bin/mkfs\.ext4\$"
'

test_expect_success 'Debian 13 and Debian 12 images (nothing added), a launch key' '
	"$KILN" build -q -r "$trixie" -o trixie.raw -s 2G &&
	"$KILN" build -q -r "$bookworm" -o bookworm.raw -s 2G &&
	ssh-keygen -q -t ed25519 -N "" -C launch-key -f launch
'

test_expect_success 'Debian 13, m5d.large: kiln-init made the store ext4, mounted on /mnt; nothing failed' '
	boot_and_look trixie trixie.raw &&
	looks_right trixie
'

test_expect_success 'Debian 12, m5d.large: the same, kiln-init'"'"'s mkfs though the image has mkfs.ext4' '
	boot_and_look bookworm bookworm.raw &&
	looks_right bookworm
'

test_done
