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
#
# GPT partition type GUIDs (as sfdisk prints them):
GUID_BIOS_BOOT=21686148-6449-6E6F-744E-656564454649
GUID_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
GUID_ROOT_X86_64=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709

PY=/usr/bin/python3
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
