#!/bin/bash
# SSH host keys, once per instance: kiln-init generates ecdsa and ed25519
# host keys into /etc/ssh on an instance's first boot, prints them on the
# console in cloud-init's format, keeps them across reboots of the same
# instance, and makes new ones for a new instance (a new SMBIOS UUID, which
# is what `qemu -uuid` sets and what kiln-init falls back to as instance id).
# The demo image with an /etc/ssh is booted writable under QEMU (TCG,
# SeaBIOS, NVMe); the keys are read back from the image with debugfs and
# checked with ssh-keygen.  Console logs stay in tests/out on failure.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
. "$TEST_ROOT/tests/lib/firstboot-lib.sh"
need_cmd qemu-system-x86_64 grub-mkimage ssh-keygen debugfs sha256sum
test_have_prereq KILN,PYTHON3,GRUB_BIOS || skip_all "needs kiln, python3 and grub-pc-bin"
export SOURCE_DATE_EPOCH=1700000000
UUID1=06100000-0000-4000-8000-000000000001
UUID2=06100000-0000-4000-8000-000000000002
TYPES="ecdsa ed25519"

# keys_match_console LOG DIR: the console's blocks are the keys in DIR.
keys_match_console() {
	console_block "$1" FINGERPRINTS >fp.console &&
	key_fingerprints "$2" >fp.files &&
	sort fp.console | test_cmp fp.files - &&
	console_block "$1" KEYS | sort >keys.console &&
	cat "$2"/ssh_host_*_key.pub | sort | test_cmp - keys.console
}

# check_key_set DIR: exactly the ecdsa and ed25519 pairs, valid.
check_key_set() {
	local t
	(cd "$1" && ls ssh_host_*) >files &&
	for t in $TYPES; do printf 'ssh_host_%s_key\nssh_host_%s_key.pub\n' $t $t; done | sort >files.want &&
	sort files | test_cmp files.want - &&
	check_keypairs "$1" &&
	ssh-keygen -l -f "$1/ssh_host_ecdsa_key.pub" | grep -q "(ECDSA)\$" &&
	ssh-keygen -l -f "$1/ssh_host_ed25519_key.pub" | grep -q "(ED25519)\$"
}

test_expect_success 'the demo image with an /etc/ssh builds without host keys' '
	make_demo_rootfs root &&
	mkdir root/etc/ssh &&
	"$KILN" build -q -r root -o demo.raw &&
	debugfs -R "ls -p /etc/ssh" "$(root_e2 demo.raw)" 2>/dev/null >ls.before &&
	! grep -q ssh_host_ ls.before
'

test_expect_success 'first boot of instance 1 prints the host keys on the console' '
	"$BOOT" -w -e -t 120 -u $UUID1 -l boot1.log demo.raw &&
	console boot1.log | grep -E "^(task|instance|kiln-init|===)" &&
	console boot1.log | grep -Eq "^kiln-init: first boot finished in [0-9]+ ms\$" &&
	console boot1.log | grep -q "^=== kiln demo: boot ok" &&
	console boot1.log | grep -Eq "^task sshkeys: ok in [0-9]+ ms\$" &&
	[ "$(console boot1.log | grep -c "^-----BEGIN SSH HOST KEY FINGERPRINTS-----\$")" = 1 ] &&
	[ "$(console boot1.log | grep -c "^-----BEGIN SSH HOST KEY KEYS-----\$")" = 1 ] &&
	console_block boot1.log FINGERPRINTS >fp1 &&
	console_block boot1.log KEYS >keys1 &&
	cat fp1 keys1 &&
	[ "$(wc -l <fp1)" = 2 ] && [ "$(wc -l <keys1)" = 2 ] &&
	grep -Eq "^256 SHA256:[A-Za-z0-9+/]{43} root@localhost \(ECDSA\)\$" fp1 &&
	grep -Eq "^256 SHA256:[A-Za-z0-9+/]{43} root@localhost \(ED25519\)\$" fp1 &&
	grep -q "^ecdsa-sha2-nistp256 AAAA[^ ]* root@localhost\$" keys1 &&
	grep -q "^ssh-ed25519 AAAA[^ ]* root@localhost\$" keys1
'

test_expect_success 'the key files are valid pairs: ssh-keygen -l reads them, -y gives the .pub' '
	dump_ssh demo.raw dump1 &&
	ls -l dump1/ssh &&
	check_key_set dump1/ssh
'

test_expect_success 'private keys are 0600, public keys 0644, owned by root (debugfs stat)' '
	check_key_modes demo.raw
'

test_expect_success 'the console fingerprints and keys are those of the files' '
	keys_match_console boot1.log dump1/ssh
'

test_expect_success 'a reboot of the same instance keeps the keys and prints none' '
	(cd dump1/ssh && sha256sum ssh_host_*) >sums1 &&
	"$BOOT" -w -e -t 120 -u $UUID1 -l boot2.log demo.raw &&
	console boot2.log | grep -E "^(task|instance|kiln-init|===)" &&
	console boot2.log | grep -q "^=== kiln demo: boot ok" &&
	console boot2.log | grep -Eq "^kiln-init: boot finished in [0-9]+ ms\$" &&
	! console boot2.log | grep "first boot" &&
	console boot2.log | grep -Eq "^task sshkeys: ok in [0-9]+ ms \(nothing to do\)\$" &&
	! console boot2.log | grep "SSH HOST KEY" &&
	dump_ssh demo.raw dump2 &&
	(cd dump2/ssh && sha256sum ssh_host_*) >sums2 &&
	test_cmp sums1 sums2
'

test_expect_success 'a new instance (another UUID) gets new keys and a new console block' '
	"$BOOT" -w -e -t 120 -u $UUID2 -l boot3.log demo.raw &&
	console boot3.log | grep -E "^(task|instance|kiln-init|===)" &&
	console boot3.log | grep -q "^=== kiln demo: boot ok" &&
	console boot3.log | grep -Eq "^kiln-init: first boot finished in [0-9]+ ms\$" &&
	console boot3.log | grep -Eq "^task sshkeys: ok in [0-9]+ ms\$" &&
	console_block boot3.log FINGERPRINTS >fp3 &&
	[ "$(wc -l <fp3)" = 2 ] &&
	cut -d" " -f2 fp1 | sort >h1 && cut -d" " -f2 fp3 | sort >h3 &&
	[ -z "$(comm -12 h1 h3)" ] &&
	dump_ssh demo.raw dump3 &&
	check_key_set dump3/ssh &&
	check_key_modes demo.raw &&
	keys_match_console boot3.log dump3/ssh &&
	(cd dump3/ssh && sha256sum ssh_host_*) >sums3 &&
	[ -z "$(cut -d" " -f1 sums1 | sort | comm -12 - <(cut -d" " -f1 sums3 | sort))" ]
'

# The spec asks for RSA too (as a user data's ssh_genkeytypes will): kiln
# passes kiln.ssh_keytypes= on the kernel command line and kiln-init obeys.
test_expect_success 'ssh_host_key_types in the spec: rsa-3072 and ed25519 only' '
	printf "ssh_host_key_types: [ed25519, rsa]\n" >rsa.yaml &&
	"$KILN" build -q rsa.yaml -r root -o rsa.raw &&
	"$BOOT" -w -e -t 180 -u $UUID1 -l rsa.log rsa.raw &&
	console rsa.log | grep -Eq "^task sshkeys: ok in [0-9]+ ms\$" &&
	console_block rsa.log FINGERPRINTS >fp.rsa &&
	cat fp.rsa &&
	[ "$(wc -l <fp.rsa)" = 2 ] &&
	grep -Eq "^3072 SHA256:[A-Za-z0-9+/]{43} root@localhost \(RSA\)\$" fp.rsa &&
	grep -q "(ED25519)\$" fp.rsa &&
	dump_ssh rsa.raw dumprsa &&
	(cd dumprsa/ssh && ls ssh_host_*) >rsa.files &&
	printf "%s\n" ssh_host_ed25519_key ssh_host_ed25519_key.pub ssh_host_rsa_key ssh_host_rsa_key.pub | test_cmp - rsa.files &&
	check_keypairs dumprsa/ssh &&
	keys_match_console rsa.log dumprsa/ssh
'

test_done
