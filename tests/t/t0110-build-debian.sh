#!/bin/bash
# A real rootfs: Debian bookworm minbase with a cloud kernel and OpenSSH
# (tests/lib/fetch-debian-rootfs.sh, cached in .cache/), built -t none from
# its tarball.  e2fsck -fn clean; verify-image.py against the tarball unpacked
# by GNU tar finds nothing lost but what kiln scrubs (SSH host keys removed,
# /etc/machine-id emptied when the rootfs has one), and the summary lists
# exactly those paths.  `scrub: {ssh_host_keys: false}` keeps the keys.  The
# scrub rules kiln documents are each checked on a small folder too.
#
# The unpacking is done here, not taken from .cache/debian-bookworm.dir:
# that folder (when there is one) is mmdebstrap's own output, which the
# tarball was packed from without --sparse (three of its binaries hold holes
# the tarball stores as zeros) and whose atimes move whenever something
# reads it.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq ROOT || skip_all "needs root (unpacking device nodes and owners)"
test_have_prereq KILN || skip_all "kiln is not built (make)"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"
TARBALL=$("$FETCH_ROOTFS" 2>"$TEST_OUT/fetch.err") ||
	skip_all "no Debian rootfs tarball: $(tail -n 1 "$TEST_OUT/fetch.err")"

# scrub_expect TARBALL [ssh]: what kiln's scrub rules (kiln(1), SCRUBBING)
# do to the tarball's entries, one "/path (removed|emptied)" line each,
# sorted; "nossh" leaves the SSH host keys out.
scrub_expect() {
	/usr/bin/python3 - "$@" <<-\EOF
	import os, sys, tarfile
	ssh = sys.argv[2:] != ["nossh"]
	hist = [".bash_history", ".zsh_history", ".sh_history", ".ash_history", ".history",
	        ".local/share/fish/fish_history", ".python_history", ".mysql_history",
	        ".psql_history", ".sqlite_history", ".lesshst"]
	ents = {}
	with tarfile.open(sys.argv[1]) as t:
	    for m in t:
	        n = os.path.normpath(m.name.lstrip("/"))
	        ents[n] = m    # a later entry replaces an earlier one
	out = []
	homes = ["root"] + ["home/" + n.split("/")[1] for n, m in ents.items()
	                    if n.startswith("home/") and n.count("/") == 1 and m.isdir()]
	for n, m in ents.items():
	    if m.isdir():
	        continue
	    d, b = os.path.split(n)
	    if ssh and d == "etc/ssh" and b.startswith("ssh_host_"):
	        out.append("/%s (removed)" % n)
	    elif n == "etc/machine-id" and m.isfile() and m.size > 0:
	        out.append("/%s (emptied)" % n)
	    elif n == "var/lib/dbus/machine-id":
	        out.append("/%s (removed)" % n)
	    elif any(n == h + "/" + f for h in homes for f in hist):
	        out.append("/%s (removed)" % n)
	for line in sorted(out):
	    print(line)
	EOF
}

# acls_from_xattr_records TARBALL DIR: mmdebstrap stores POSIX ACLs (systemd's
# /var/log/journal) as SCHILY.xattr.system.posix_acl_* records, which GNU
# tar --xattrs leaves to --acls and --acls reads only from SCHILY.acl.*;
# kiln keeps them, so the oracle's copy must have them too.
acls_from_xattr_records() {
	/usr/bin/python3 - "$@" <<-\EOF
	import os, sys, tarfile
	with tarfile.open(sys.argv[1]) as t:
	    for m in t:
	        for k, v in m.pax_headers.items():
	            if k.startswith("SCHILY.xattr.system.posix_acl_"):
	                path = os.path.join(sys.argv[2], m.name)
	                os.setxattr(path, k[len("SCHILY.xattr."):], v.encode("utf-8", "surrogateescape"),
	                            follow_symlinks=False)
	                print("acl", k[len("SCHILY.xattr."):], "on", m.name)
	EOF
}

# summary_scrubbed OUT: the paths a build's summary says it scrubbed, sorted.
summary_scrubbed() {
	sed -n '/^  scrubbed: /,$p' "$1" | sed -n 's/^    //p' | sort
}

# verify_args EXPECTED: verify-image.py options for what kiln scrubs:
# removed paths must be absent, emptied ones are checked on their own.
verify_args() {
	sed -n 's/^\(.*\) (removed)$/--expect-absent\n\1/p; s/^\(.*\) (emptied)$/--ignore\n\1/p' "$1"
}

# run_verify REPORT ARGS...: verify-image.py ARGS, its report in REPORT, shown
# when it fails.
run_verify() {
	local report=$1
	shift
	"$VERIFY_IMAGE" "$@" >"$report" 2>&1 || { cat "$report"; return 1; }
}

# check_emptied IMAGE EXPECTED: each emptied path is in the image, 0 bytes.
check_emptied() {
	local p
	for p in $(sed -n 's/ (emptied)$//p' "$2"); do
		debugfs -R "stat $p" "$1" 2>/dev/null | grep -q "Size: 0$" ||
			{ echo "$p is not an empty file in $1"; return 1; }
	done
}

test_expect_success 'the tarball unpacks (GNU tar: owners, xattrs, ACLs)' '
	echo "tarball: $TARBALL" &&
	mkdir deb &&
	tar -xf "$TARBALL" -C deb --xattrs --xattrs-include="*" --acls --numeric-owner \
		--same-owner --same-permissions &&
	acls_from_xattr_records "$TARBALL" deb &&
	[ -d deb/etc/ssh ] && ls deb/boot/vmlinuz-* &&
	scrub_expect "$TARBALL" >expect.scrub &&
	scrub_expect "$TARBALL" nossh >expect.nossh &&
	cat expect.scrub &&
	grep -q "^/etc/ssh/ssh_host_ed25519_key (removed)$" expect.scrub &&
	[ "$(grep -c "^/etc/ssh/ssh_host_" expect.scrub)" -ge 2 ] &&
	! grep "^/etc/ssh/ssh_host_" expect.nossh
'

test_expect_success 'built -t none from the tarball: e2fsck -fn clean' '
	"$KILN" build -t none -r "$TARBALL" -o debian.img >debian.out &&
	cat debian.out &&
	e2fsck -fn debian.img
'

# Atimes and ctimes are not compared: the unpacking sets both to "now" (the
# tarball has the originals, t0100 checks kiln keeps them).
test_expect_success 'verify-image: nothing lost but the scrubbed paths' '
	verify_args expect.scrub >verify.args &&
	mapfile -t args <verify.args &&
	run_verify debian.verify --no-atime --no-ctime "${args[@]}" deb debian.img &&
	tail -n 1 debian.verify &&
	check_emptied debian.img expect.scrub
'

test_expect_success 'the summary lists exactly the scrubbed paths' '
	summary_scrubbed debian.out >got.scrub &&
	test_cmp expect.scrub got.scrub &&
	grep -q "^  scrubbed:    $(wc -l <expect.scrub) paths$" debian.out
'

# (The rest of this image is the image above plus the keys: not verified
# again, the keys are compared.)
test_expect_success 'with scrub: {ssh_host_keys: false} the host keys stay' '
	printf "scrub: {ssh_host_keys: false}\n" >keep-keys.yaml &&
	"$KILN" build keep-keys.yaml -t none -r "$TARBALL" -o keep.img >keep.out &&
	cat keep.out &&
	summary_scrubbed keep.out >got.nossh &&
	test_cmp expect.nossh got.nossh &&
	for k in $(grep "^/etc/ssh/ssh_host_" expect.scrub | sed "s/ (removed)$//"); do
		debugfs -R "dump $k keep.key" keep.img 2>/dev/null && cmp "deb$k" keep.key &&
		[ "$(debugfs -R "stat $k" keep.img 2>/dev/null | sed -n "s/.*Mode: *\([0-7]*\).*/\1/p")" = \
			"$(stat -c %04a "deb$k")" ] || { echo "$k: not kept as it was"; return 1; }
	done
'

# The rules Debian minbase does not exercise (it has no machine-id, D-Bus or
# shell history), on a folder that has each, plus things that look alike
# and must stay.
test_expect_success 'each scrub rule, on a small folder' '
	mkdir -p small/etc/ssh/ssh_host_keys.d small/var/lib/dbus small/root small/home/ann/.local/share/fish \
		small/home/bob small/srv &&
	for f in etc/ssh/ssh_host_rsa_key etc/ssh/ssh_host_rsa_key.pub etc/ssh/ssh_host_ed25519_key-cert.pub \
		etc/ssh/sshd_config etc/ssh/ssh_host_keys.d/kept etc/machine-id var/lib/dbus/machine-id \
		root/.bash_history root/.lesshst root/notes home/ann/.zsh_history \
		home/ann/.local/share/fish/fish_history home/bob/.python_history home/bob/.bashrc \
		srv/.bash_history; do
		echo "$f" >small/$f || return 1
	done &&
	chmod 0444 small/etc/machine-id &&
	"$KILN" build -t none -r small -o small.img >small.out &&
	summary_scrubbed small.out >got.small &&
	cat >expect.small <<-\EOF &&
	/etc/machine-id (emptied)
	/etc/ssh/ssh_host_ed25519_key-cert.pub (removed)
	/etc/ssh/ssh_host_rsa_key (removed)
	/etc/ssh/ssh_host_rsa_key.pub (removed)
	/home/ann/.local/share/fish/fish_history (removed)
	/home/ann/.zsh_history (removed)
	/home/bob/.python_history (removed)
	/root/.bash_history (removed)
	/root/.lesshst (removed)
	/var/lib/dbus/machine-id (removed)
	EOF
	test_cmp expect.small got.small &&
	verify_args expect.small >verify.args &&
	mapfile -t args <verify.args &&
	run_verify small.verify "${args[@]}" small small.img &&
	check_emptied small.img expect.small &&
	debugfs -R "stat /etc/machine-id" small.img 2>/dev/null | grep -q "Mode:  0444"
'

test_expect_success 'every scrub rule turned off: nothing scrubbed, nothing lost' '
	printf "scrub:\n  ssh_host_keys: false\n  machine_id: no\n  dbus_machine_id: off\n  shell_history: false\n" >off.yaml &&
	"$KILN" build off.yaml -t none -r small -o off.img >off.out &&
	grep -q "^  scrubbed:    nothing to remove$" off.out &&
	run_verify off.verify small off.img
'

test_done
