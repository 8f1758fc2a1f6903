#!/bin/bash
# kiln run: the demo image (busybox + Debian's cloud kernel + kiln-init)
# launched like an EC2 instance under QEMU (TCG).  t3.micro under OVMF with
# the root grown to 3 GiB; m5d.large under SeaBIOS with a 2 GiB EBS volume
# kept after termination and its 75 GiB NVMe instance store.  The demo's
# init prints "=== block: NAME KiB serial SERIAL model MODEL" for each disk.
# Mismatched metadata is refused before QEMU starts; --timeout ends the
# instance and removes the run folder; the image is never modified.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"
need_cmd qemu-system-x86_64 qemu-img grub-mkimage sha256sum
test_have_prereq KILN,PYTHON3,GRUB_BIOS,GRUB_EFI || skip_all "needs kiln, python3, grub-pc-bin and grub-efi-amd64-bin"
[ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || skip_all "OVMF is not installed (apt-get install ovmf)"
export SOURCE_DATE_EPOCH=1700000000
# Run folders go here, so a test sees what a launch leaves behind.
mkdir -p tmp vols
export TMPDIR=$TEST_OUT/tmp

test_expect_success 'the demo image is built (gpt, uefi-preferred)' '
	make_demo_rootfs root >/dev/null &&
	"$KILN" build -q -t gpt -b uefi-preferred -r root -o demo.raw &&
	sha256sum demo.raw >demo.sha256 &&
	cat demo.raw.json
'

test_expect_success 't3.micro, uefi, root grown to 3 GiB: ready, one NVMe EBS disk, one NIC, --json' '
	"$KILN" run demo.raw --boot-mode uefi --timeout 240 --console-log uefi.log --json \
		--block-device-mapping "[{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"VolumeSize\": 3}}]" >uefi.json &&
	"$PY" -m json.tool uefi.json &&
	grep -q "=== firmware: uefi" uefi.log &&
	grep -q "=== kiln demo: boot ok" uefi.log &&
	grep -Eq "^kiln-init: first boot finished in [0-9]+ ms" uefi.log &&
	id=$(json_get uefi.json "d[\"instances\"][0][\"instance_id\"]") &&
	echo "$id" | grep -Eq "^i-[0-9a-f]{17}\$" &&
	grep -q "^instance $id (new: first boot)" uefi.log &&
	serial=$(json_get uefi.json "d[\"instances\"][0][\"volumes\"][0][\"serial\"]") &&
	grep -q "^=== block: nvme0n1 3145728 KiB serial $serial model " uefi.log &&
	[ "$(grep -c "^=== block:" uefi.log)" = 1 ] &&
	[ "$(json_get uefi.json "d[\"instances\"][0][\"instance_type\"]")" = t3.micro ] &&
	[ "$(json_get uefi.json "d[\"instances\"][0][\"firmware\"]")" = uefi ] &&
	[ "$(json_get uefi.json "d[\"instances\"][0][\"ready\"]")" = true ] &&
	[ "$(json_get uefi.json "d[\"instances\"][0][\"timings_ms\"][\"ready\"] > 0")" = true ] &&
	json_get uefi.json "[t[\"name\"] for t in d[\"instances\"][0][\"tasks\"]]" | grep -q growpart &&
	[ "$(json_get uefi.json "len(d[\"instances\"][0][\"network_interfaces\"])")" = 1 ] &&
	[ "$(json_get uefi.json "d[\"instances\"][0][\"network_interfaces\"][0][\"mac\"]")" = \
	  "$(json_get uefi.json "d[\"instances\"][0][\"mac\"]")" ] &&
	[ "$(json_get uefi.json "d[\"instances\"][0][\"network_interfaces\"][0][\"local_ipv4\"]")" = 169.254.0.15 ] &&
	[ "$(json_get uefi.json "d[\"instances\"][0][\"network_interfaces\"][0][\"subnet\"]")" = 169.254.0.0/16 ]
'

test_expect_success 'the root grew to about 3 GiB' '
	kib=$(sed -n "s/^=== root size: \([0-9]*\) KiB.*/\1/p" uefi.log | tr -d "\r") &&
	echo "root $kib KiB" &&
	[ "$kib" -gt $((28 * 1024 * 1024 / 10)) ] && [ "$kib" -le $((3 * 1024 * 1024)) ]
'

test_expect_success 'm5d.large, legacy-bios, a 2 GiB EBS volume kept: three NVMe disks in EC2 order' '
	"$KILN" run demo.raw -t m5d.large --boot-mode legacy-bios --timeout 240 --console-log bios.log --json \
		--volume-dir vols \
		--block-device-mapping "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeSize\": 2, \"DeleteOnTermination\": false}}]" \
		>bios.json 2>bios.err &&
	cat bios.err &&
	"$PY" -m json.tool bios.json >/dev/null &&
	grep -q "=== firmware: bios" bios.log &&
	grep "^=== block:" bios.log &&
	root=$(json_get bios.json "d[\"instances\"][0][\"volumes\"][0][\"serial\"]") &&
	ebs=$(json_get bios.json "d[\"instances\"][0][\"volumes\"][1][\"serial\"]") &&
	store=$(json_get bios.json "d[\"instances\"][0][\"volumes\"][2][\"serial\"]") &&
	echo "$root $ebs $store" &&
	echo "$store" | grep -Eq "^AWS[0-9A-F]{17}\$" &&
	grep -q "^=== block: nvme0n1 1048576 KiB serial $root " bios.log &&
	grep -q "^=== block: nvme[0-9]n1 2097152 KiB serial $ebs " bios.log &&
	grep -q "^=== block: nvme[0-9]n1 78643200 KiB serial $store " bios.log &&
	[ "$(grep -c "^=== block:" bios.log)" = 3 ]
'

test_expect_success 'the kept EBS volume is where --json says, 2 GiB; nothing else is left' '
	kept=$(json_get bios.json "d[\"instances\"][0][\"volumes\"][1][\"path\"]") &&
	echo "$kept" | grep -q "^vols/vol-[0-9a-f]*\.qcow2\$" &&
	qemu-img info --output=json "$kept" | grep -q "\"virtual-size\": 2147483648" &&
	[ "$(ls vols | wc -l)" = 1 ] &&
	assert_empty_dir tmp
'

test_expect_success 'the image is unchanged after the runs' '
	sha256sum -c demo.sha256
'

# Metadata edits: the same bytes under another name with its own JSON.
meta() {  # meta NAME SED
	ln -sf demo.raw "$1" && sed "$2" demo.raw.json >"$1.json"
}

test_expect_success 'an arm64 image is refused before QEMU starts' '
	meta arm.raw "s/\"x86_64\"/\"arm64\"/" &&
	must_fail_with "^kiln: image .arm\.raw. is arm64 but instance type t3\.micro is x86_64\$" "$KILN" run arm.raw &&
	assert_empty_dir tmp
'

test_expect_success 'a uefi image with --boot-mode legacy-bios is refused' '
	meta uefi.raw "s/\"uefi-preferred\"/\"uefi\"/" &&
	must_fail_with "^kiln: image .uefi\.raw. boots uefi only; --boot-mode legacy-bios cannot start it\$" \
		"$KILN" run uefi.raw --boot-mode legacy-bios &&
	assert_empty_dir tmp
'

test_expect_success 'other refusals: no ENA, a shrunk root, bad mapping JSON, unknown type' '
	meta noena.raw "s/\"EnaSupport\": true/\"EnaSupport\": false/" &&
	must_fail_with "requires ENA but image .noena\.raw. has EnaSupport false\$" "$KILN" run noena.raw -t m5.large &&
	meta big.raw "s/\"VolumeSize\": 1,/\"VolumeSize\": 2,/" &&
	must_fail_with "^kiln: root volume /dev/xvda of 1 GiB is smaller than image .big\.raw. \(2 GiB\)\$" "$KILN" run big.raw \
		--block-device-mapping "[{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"VolumeSize\": 1}}]" &&
	must_fail_with "^kiln: --block-device-mapping: bad JSON at offset [0-9]+: " "$KILN" run demo.raw \
		--block-device-mapping "[{\"DeviceName\": \"/dev/sdf\",}]" &&
	echo "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"SnapshotId\": \"snap-0123\"}}]" >snap.json &&
	must_fail_with "mapping /dev/sdf: snapshot .snap-0123. is not available locally" "$KILN" run demo.raw \
		--block-device-mapping @snap.json &&
	must_fail_with "^kiln: unknown instance type .t3\.giant." "$KILN" run demo.raw -t t3.giant &&
	assert_empty_dir tmp
'

test_expect_success '--timeout ends the instance and removes the run folder' '
	start=$SECONDS &&
	must_fail_with "not ready within 3 s \(--timeout\); instance terminated\$" \
		"$KILN" run demo.raw --boot-mode legacy-bios --timeout 3 -q &&
	echo "ended after $((SECONDS - start)) s" &&
	[ $((SECONDS - start)) -lt 60 ] &&
	assert_empty_dir tmp
'

test_expect_success 'Ctrl-C (SIGINT) terminates the instance and removes the run folder' '
	{ "$KILN" run demo.raw --boot-mode legacy-bios --timeout 300 -q >int.out 2>&1 & } &&
	pid=$! &&
	sleep 3 &&
	pgrep -f "qemu-system-x86_64 .*-name i-" >qemu.pids &&
	kill -INT $pid &&
	{ wait $pid; status=$?; } ;
	cat int.out &&
	echo "exit status $status" &&
	[ "$status" = 130 ] &&
	grep -q "^kiln: i-[0-9a-f]*: interrupted; instance terminated\$" int.out &&
	for q in $(cat qemu.pids); do ! kill -0 $q 2>/dev/null || return 1; done &&
	assert_empty_dir tmp
'

test_expect_success 'the image is still unchanged' '
	sha256sum -c demo.sha256
'

test_done
