# layout-lib.sh — helpers for the bootable-disk tests (t02NN-*.sh), sourced
# after test-lib.sh.  Everything reads the image as a plain file: no loop
# devices, no mounts, no root (this host's kernel can neither parse GPT nor
# mount vfat), and nothing here asks kiln what it wrote, except
# kiln_json, which reads OUT.kiln.json to compare it with what the
# independent tools (sfdisk, blkid, e2fsprogs, mtools, GRUB) see.
#
#   make_demo_rootfs DIR        tests/lib/mkdemo-rootfs.sh DIR, or skip_all
#   PY                          /usr/bin/python3 (a pyenv shim may shadow python3)
#   json_get FILE EXPR          print python EXPR over d = the JSON in FILE
#   kiln_json IMG EXPR          json_get IMG.kiln.json EXPR
#   sf_parts IMG [--nested]     one line per partition, from sfdisk -J:
#                                 NUMBER START SIZE TYPE PARTUUID BOOTABLE
#                               (sectors; PARTUUID as blkid and the kernel
#                               spell it, lowercase; --nested reads a GPT
#                               disk's protective MBR)
#   sf_part IMG TYPE FIELD      FIELD (start, size, number, partuuid) of the
#                               partition of TYPE (a GPT type GUID or an MBR
#                               type byte such as 83)
#   sf_table IMG FIELD          lastlba, firstlba, id of the table
#   le_uint IMG BYTES OFFSET    little-endian unsigned integer at OFFSET
#   hex_at IMG OFFSET COUNT     COUNT bytes at OFFSET as lowercase hex
#   blkid_at IMG OFFSET TAG     blkid -p -O OFFSET's value for TAG
#   e2_at IMG OFFSET            the 'IMG?offset=N' name e2fsprogs accept
#   mbr_by_sfdisk IMG OUT       OUT: sector 0 as sfdisk itself writes IMG's
#                               partition table (sfdisk --dump IMG replayed
#                               onto an empty file of IMG's size)
#   boot_img_check IMG S GRUBDIR   sector 0 of IMG is GRUBDIR/boot.img patched
#                               as grub-bios-setup does for a core image at
#                               sector S (GRUB util/setup.c); says what differs
#   grub_mod_closure GRUBDIR MOD...  MOD and every module it needs, after
#                               GRUBDIR/moddep.lst, one a line, sorted
#   GRUB_BIOS_CORE              tests/lib/grub-bios-core.py: the core image
#                               read from the disk as boot.img and diskboot
#                               find it, decoded (see its header)
#
# GPT partition type GUIDs (as sfdisk prints them):
GUID_BIOS_BOOT=21686148-6449-6E6F-744E-656564454649
GUID_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
GUID_ROOT_X86_64=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709

PY=/usr/bin/python3
GRUB_BIOS_CORE=$TEST_ROOT/tests/lib/grub-bios-core.py
# Debian's cloud layout, in 512-byte sectors.
BIOS_BOOT_START=2048 BIOS_BOOT_SECTORS=6144 ESP_SECTORS=253952

make_demo_rootfs() {
	"$TEST_ROOT/tests/lib/mkdemo-rootfs.sh" "$1" >/dev/null 2>"$TEST_OUT/mkdemo.err" ||
		skip_all "cannot make the demo rootfs: $(tail -n 1 "$TEST_OUT/mkdemo.err")"
}

json_get() {
	"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$1" "$2"
}

kiln_json() { json_get "$1.kiln.json" "$2"; }

sf_parts() {
	local img=$1 nested=
	[ "${2:-}" = --nested ] && nested="--label-nested dos"
	# shellcheck disable=SC2086
	sfdisk -J $nested "$img" | "$PY" -c 'import json, re, sys
t = json.load(sys.stdin)["partitiontable"]
for p in t["partitions"]:
    n = int(re.search(r"(\d+)$", p["node"]).group(1))
    if t["label"] == "gpt":
        uuid = p["uuid"].lower()
    else:
        uuid = "%08x-%02x" % (int(t["id"], 16), n)
    print(n, p["start"], p["size"], p["type"], uuid, 1 if p.get("bootable") else 0)'
}

sf_part() {
	local img=$1 type=$2 field=$3 col
	case $field in
	number) col=1;; start) col=2;; size) col=3;; partuuid) col=5;;
	*) echo "sf_part: bad field '$field'" >&2; return 1;;
	esac
	sf_parts "$img" | awk -v t="$type" -v c="$col" 'toupper($4) == toupper(t) { print $c; n++ } END { exit n != 1 }'
}

sf_table() {
	sfdisk -J "$1" | "$PY" -c 'import json, sys
print(json.load(sys.stdin)["partitiontable"][sys.argv[1]])' "$2"
}

le_uint() {
	od -An -v --endian=little -t "u$2" -j "$(($3))" -N "$2" "$1" | tr -d ' \n'
}

hex_at() {
	od -An -v -t x1 -j "$(($2))" -N "$3" "$1" | tr -d ' \n'
}

blkid_at() {
	blkid -p -O "$2" -s "$3" -o value "$1"
}

e2_at() {
	printf '%s?offset=%s' "$1" "$2"
}

mbr_by_sfdisk() {
	rm -f "$2.disk" &&
	truncate -s "$(stat -c %s "$1")" "$2.disk" &&
	sfdisk --dump "$1" >"$2.dump" &&
	sfdisk -q --no-reread --no-tell-kernel "$2.disk" <"$2.dump" >/dev/null &&
	dd if="$2.disk" of="$2" bs=512 count=1 status=none &&
	rm -f "$2.disk" "$2.dump"
}

# The bytes grub-bios-setup leaves as boot.img has them: the jump [0, 3),
# kernel_address [0x5a, 0x5c), after_BPB's first instruction 0x65 and the
# code from 0x68 to the disk signature.  [0x03, 0x5a) (the BPB) and
# [0x1b8, 0x1fe) (signature and partition table) come from the old sector 0,
# 0x5c/0x64/0x66 are patched.
boot_img_check() {
	local img=$1 s=$2 ref=$3/boot.img bad=0 v
	v=$(le_uint "$img" 8 0x5c)
	[ "$v" = "$s" ] || { echo "boot.img: kernel sector (0x5c) is $v, want $s"; bad=1; }
	v=$(hex_at "$img" 0x64 1)
	[ "$v" = ff ] || { echo "boot.img: boot drive (0x64) is $v, want ff"; bad=1; }
	v=$(hex_at "$img" 0x66 2)
	[ "$v" = 9090 ] || { echo "boot.img: drive check (0x66) is $v, want 9090 (NOPs)"; bad=1; }
	v=$(hex_at "$img" 0x1fe 2)
	[ "$v" = 55aa ] || { echo "sector 0: signature (0x1fe) is $v, want 55aa"; bad=1; }
	cmp -n 3 "$ref" "$img" &&
		cmp -i 0x5a -n 2 "$ref" "$img" &&
		cmp -i 0x65 -n 1 "$ref" "$img" &&
		cmp -i 0x68 -n $((0x1b8 - 0x68)) "$ref" "$img" ||
		{ echo "boot.img: the code differs from $ref"; bad=1; }
	return $bad
}

grub_mod_closure() {
	"$PY" - "$@" <<-\EOF
	import sys
	deps = {}
	for line in open(sys.argv[1] + "/moddep.lst"):
	    name, _, rest = line.partition(":")
	    deps[name.strip()] = rest.split()
	todo, seen = list(sys.argv[2:]), set()
	while todo:
	    m = todo.pop()
	    if m not in seen:
	        seen.add(m)
	        todo += deps.get(m, [])
	print("\n".join(sorted(seen)))
	EOF
}
