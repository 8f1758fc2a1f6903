# firstboot-lib.sh — helpers for the first-boot tests under QEMU (t06NN-*.sh),
# sourced after test-lib.sh and layout-lib.sh.  They read what kiln-init did
# from the serial console and from the image file itself with independent
# tools (sfdisk, sgdisk, e2fsck, debugfs, ssh-keygen); nothing asks kiln.
#
#   BOOT                        tests/lib/qemu-boot.sh
#   console LOG                 the console log without carriage returns
#   console_block LOG NAME      the lines between -----BEGIN SSH HOST KEY NAME-----
#                               and -----END SSH HOST KEY NAME----- (NAME:
#                               FINGERPRINTS or KEYS), markers excluded
#   root_start IMG / root_end IMG / root_offset IMG
#                               the root partition's (GPT type x86-64 root)
#                               first and last sector, and its byte offset
#   root_e2 IMG                 'IMG?offset=N' of the root file system
#   check_disk IMG              sgdisk -v finds no problem, e2fsck -fn is clean,
#                               the root partition ends at the last usable LBA
#   check_root_size LOG IMG     the demo's '=== root size: N KiB' is 95-100 %
#                               of the root partition (ext4 keeps the rest for
#                               inode tables and the journal), and is printed
#                               once
#   dump_ssh IMG DIR            debugfs rdump of the image's /etc/ssh into DIR/ssh
#   check_keypairs DIR          every DIR/ssh_host_*_key has a .pub, ssh-keygen
#                               -l reads both, and -y of the private key is the
#                               .pub key
#   check_key_modes IMG         private host keys 0600, public 0644, owner 0
#   key_fingerprints DIR        ssh-keygen -l of every .pub, sorted
#   free_port                   an unused local TCP port

BOOT=$TEST_ROOT/tests/lib/qemu-boot.sh

console() { tr -d '\r' <"$1"; }

console_block() {
	console "$1" | sed -n "/^-----BEGIN SSH HOST KEY $2-----\$/,/^-----END SSH HOST KEY $2-----\$/p" |
		sed '1d;$d'
}

root_start() { sf_part "$1" "$GUID_ROOT_X86_64" start; }
root_end() {
	local start size
	start=$(sf_part "$1" "$GUID_ROOT_X86_64" start) &&
		size=$(sf_part "$1" "$GUID_ROOT_X86_64" size) &&
		echo $((start + size - 1))
}
root_offset() {
	local start
	start=$(root_start "$1") && echo $((start * 512))
}
root_e2() {
	local off
	off=$(root_offset "$1") && e2_at "$1" "$off"
}

check_disk() {
	local img=$1 out last end
	out=$(sgdisk -v "$img" 2>&1)
	if [ $? -ne 0 ] || ! printf '%s\n' "$out" | grep -q '^No problems found'; then
		echo "check_disk: sgdisk -v $img:" >&2
		printf '%s\n' "$out" >&2
		return 1
	fi
	e2fsck -fn "$(root_e2 "$img")" >&2 || {
		echo "check_disk: e2fsck -fn $(root_e2 "$img") is not clean" >&2
		return 1
	}
	last=$(sf_table "$img" lastlba) && end=$(root_end "$img") || return 1
	if [ "$end" != "$last" ]; then
		echo "check_disk: the root partition ends at $end, the last usable LBA is $last" >&2
		return 1
	fi
}

check_root_size() {
	local kib part
	kib=$(console "$1" | sed -n 's/^=== root size: \([0-9][0-9]*\) KiB$/\1/p')
	if [ "$(printf '%s\n' "$kib" | grep -c .)" != 1 ]; then
		echo "check_root_size: want one '=== root size' line in $1, got '$kib'" >&2
		return 1
	fi
	part=$(( ($(sf_part "$2" "$GUID_ROOT_X86_64" size) * 512) / 1024 ))
	echo "root size $kib KiB, root partition $part KiB"
	if [ "$kib" -gt "$part" ] || [ $((kib * 100)) -lt $((part * 95)) ]; then
		echo "check_root_size: $kib KiB is not 95-100 % of the root partition ($part KiB)" >&2
		return 1
	fi
}

dump_ssh() {
	rm -rf "$2" && mkdir -p "$2" &&
		debugfs -R "rdump /etc/ssh $2" "$(root_e2 "$1")" 2>/dev/null &&
		[ -d "$2/ssh" ]
}

check_keypairs() {
	local dir=$1 priv n=0
	for priv in "$dir"/ssh_host_*_key; do
		[ -f "$priv" ] || continue
		n=$((n + 1))
		assert_file "$priv.pub" || return 1
		ssh-keygen -l -f "$priv" >/dev/null || { echo "check_keypairs: ssh-keygen -l cannot read $priv" >&2; return 1; }
		ssh-keygen -l -f "$priv.pub" >/dev/null || { echo "check_keypairs: ssh-keygen -l cannot read $priv.pub" >&2; return 1; }
		[ "$(ssh-keygen -y -f "$priv" | cut -d' ' -f1-2)" = "$(cut -d' ' -f1-2 "$priv.pub")" ] || {
			echo "check_keypairs: ssh-keygen -y $priv is not the key in $priv.pub" >&2
			return 1
		}
	done
	# A .pub without its private key is not a pair either.
	for priv in "$dir"/ssh_host_*_key.pub; do
		[ -f "$priv" ] || continue
		assert_file "${priv%.pub}" || return 1
	done
	echo "$n valid key pairs in $dir"
}

check_key_modes() {
	local img=$1 e2 f want st
	e2=$(root_e2 "$img") || return 1
	# ls -p: /INODE/MODE/UID/GID/NAME/SIZE/, one entry a line.
	for f in $(debugfs -R 'ls -p /etc/ssh' "$e2" 2>/dev/null | awk -F/ '$6 ~ /^ssh_host_/ { print $6 }'); do
		case $f in *.pub) want=0644 ;; *) want=0600 ;; esac
		st=$(debugfs -R "stat /etc/ssh/$f" "$e2" 2>/dev/null)
		printf '%s\n' "$st" | grep -q "Mode:  $want " || {
			echo "check_key_modes: /etc/ssh/$f: want mode $want:" >&2
			printf '%s\n' "$st" | head -3 >&2
			return 1
		}
		printf '%s\n' "$st" | grep -Eq '^User: +0 +Group: +0 ' || {
			echo "check_key_modes: /etc/ssh/$f is not owned by 0:0" >&2
			return 1
		}
	done
}

key_fingerprints() {
	local pub
	for pub in "$1"/ssh_host_*_key.pub; do
		ssh-keygen -l -f "$pub"
	done | sort
}

free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
