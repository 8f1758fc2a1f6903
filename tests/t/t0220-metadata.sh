#!/bin/bash
# What kiln writes beside the image:
#  * OUT.json, the input of EC2 RegisterImage: validated offline by Debian's
#    awscli against the real API model (a dead endpoint: validation passes
#    when the only error left is the connection), and its fields checked;
#  * OUT.kiln.json, the build facts: the image's sha256, the partitions
#    (PARTUUIDs as sfdisk reads them), the filesystem, kernel and GRUB.
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"

test_have_prereq KILN || skip_all "no kiln binary (run make)"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"
need_cmd sfdisk blkid sha256sum
[ -r /usr/lib/grub/i386-pc/boot.img ] || skip_all "needs grub-pc-bin (/usr/lib/grub/i386-pc)"
[ -r /usr/lib/grub/x86_64-efi/normal.mod ] || skip_all "needs grub-efi-amd64-bin (/usr/lib/grub/x86_64-efi)"
# Debian's awscli, not whatever a pyenv shim puts first on PATH.
[ -x /usr/bin/aws ] && test_set_prereq AWSCLI

make_demo_rootfs rootfs
KVER=$(cd rootfs/boot && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)
GIB=1073741824

# aws_validate FILE: awscli accepts FILE as register-image input: with no
# endpoint to talk to, it gets as far as connecting.
aws_validate() {
	AWS_ACCESS_KEY_ID=x AWS_SECRET_ACCESS_KEY=x AWS_DEFAULT_REGION=us-east-1 \
	AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true \
	AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard AWS_PAGER= \
		/usr/bin/aws ec2 register-image --cli-input-json "file://$1" \
		--endpoint-url http://127.0.0.1:9 >aws.out 2>&1
	cat aws.out
	! grep -q "Parameter validation failed" aws.out &&
	grep -q "Could not connect to the endpoint URL" aws.out
}

# check_register IMG NAME BOOTMODE: the fields of IMG.json, the root volume
# being the image rounded up to whole GiB.
check_register() {
	local gib=$(( ($(stat -c %s "$1") + GIB - 1) / GIB ))
	"$PY" - "$1.json" "$2" "$3" "$gib" <<-'EOF'
	import json, sys
	d = json.load(open(sys.argv[1]))
	name, mode, gib = sys.argv[2], sys.argv[3], int(sys.argv[4])
	want = {
	    "Name": name,
	    "Architecture": "x86_64",
	    "VirtualizationType": "hvm",
	    "BootMode": mode,
	    "RootDeviceName": "/dev/xvda",
	    "BlockDeviceMappings": [{
	        "DeviceName": "/dev/xvda",
	        "Ebs": {"VolumeSize": gib, "VolumeType": "gp3", "DeleteOnTermination": True},
	    }],
	    "EnaSupport": True,
	    "ImdsSupport": "v2.0",
	}
	bad = [f"{k}: {d.get(k)!r}, want {want.get(k)!r}" for k in sorted(set(d) | set(want)) if d.get(k) != want.get(k)]
	print("\n".join(bad) or "ok")
	sys.exit(1 if bad else 0)
	EOF
}

# check_facts IMG TABLE MODE: IMG.kiln.json against the image and sfdisk.
check_facts() {
	local img=$1
	sha256sum "$img" | cut -d" " -f1 >sha.actual &&
	kiln_json "$img" 'd["image"]["sha256"]' >sha.claimed &&
	test_cmp sha.actual sha.claimed &&
	[ "$(kiln_json "$img" 'd["image"]["size"]')" -eq "$(stat -c %s "$img")" ] &&
	[ "$(kiln_json "$img" 'd["image"]["format"]')" = raw ] &&
	[ "$(kiln_json "$img" 'd["image"]["partition_table"]')" = "$2" ] &&
	[ "$(kiln_json "$img" 'd["image"]["boot_mode"]')" = "$3" ] &&
	[ "$(kiln_json "$img" 'd["kernel"]["version"]')" = "$KVER" ] &&
	# partitions: number, start, size (in sectors here) and PARTUUID
	sf_parts "$img" | cut -d" " -f1-3,5 | sort -n >parts.sfdisk &&
	kiln_json "$img" '"\n".join("%d %d %d %s" % (p["number"], p["start"] // 512, p["size"] // 512, p["partuuid"])
		for p in sorted(d["partitions"], key=lambda p: p["number"]))' >parts.kiln &&
	test_cmp parts.sfdisk parts.kiln &&
	[ "$(kiln_json "$img" 'all(p["start"] % 512 == 0 and p["size"] % 512 == 0 for p in d["partitions"])')" = true ] &&
	if [ "$2" = gpt ]; then
		[ "$(kiln_json "$img" 'd["disk_guid"]')" = "$(sf_table "$img" id | tr A-F a-f)" ]
	else
		[ "$(kiln_json "$img" 'd["mbr_signature"]')" = "$(sf_table "$img" id | sed s/^0x//)" ]
	fi &&
	root_start=$(kiln_json "$img" '[p["start"] for p in d["partitions"] if p["role"] == "root"][0]') &&
	[ "$(blkid_at "$img" "$root_start" UUID)" = "$(kiln_json "$img" 'd["filesystem"]["uuid"]')" ] &&
	[ "$(kiln_json "$img" 'd["filesystem"]["type"]')" = ext4 ] &&
	# GRUB: from the build host, for the modes that boot that way
	kiln_json "$img" 'd["grub"]' >grub.facts &&
	case $3 in
	uefi-preferred) want='{"bios": "build host /usr/lib/grub/i386-pc", "efi": "build host /usr/lib/grub/x86_64-efi"}';;
	uefi) want='{"efi": "build host /usr/lib/grub/x86_64-efi"}';;
	legacy-bios) want='{"bios": "build host /usr/lib/grub/i386-pc"}';;
	esac &&
	echo "$want" >grub.want &&
	test_cmp grub.want grub.facts
}

test_expect_success 'builds: the default (gpt, uefi-preferred), uefi, legacy-bios, mbr' '
	"$KILN" build -q --digest -r rootfs -o default.img &&
	"$KILN" build -q --digest -r rootfs -o uefi.img -b uefi &&
	"$KILN" build -q --digest -r rootfs -o legacy.img -b legacy-bios &&
	"$KILN" build -q --digest -r rootfs -o mbr.img -t mbr
'

test_expect_success 'RegisterImage fields for each boot mode; the name from the output file' '
	check_register default.img default uefi-preferred &&
	check_register uefi.img uefi uefi &&
	check_register legacy.img legacy legacy-bios &&
	check_register mbr.img mbr legacy-bios
'

test_expect_success AWSCLI 'awscli validates each OUT.json (only the endpoint is missing)' '
	aws_validate default.img.json &&
	aws_validate uefi.img.json &&
	aws_validate legacy.img.json &&
	aws_validate mbr.img.json
'

test_expect_success AWSCLI 'the validator bites: VolumeSize as a string is refused' '
	sed "s/\"VolumeSize\": \([0-9]*\)/\"VolumeSize\": \"\1\"/" default.img.json >broken.json &&
	! cmp -s default.img.json broken.json &&
	! aws_validate broken.json &&
	grep -q "Parameter validation failed" aws.out &&
	grep -q "VolumeSize" aws.out
'

test_expect_success 'OUT.kiln.json: sha256, partitions, filesystem, kernel, GRUB sources' '
	check_facts default.img gpt uefi-preferred &&
	check_facts uefi.img gpt uefi &&
	check_facts legacy.img gpt legacy-bios &&
	check_facts mbr.img mbr legacy-bios &&
	[ "$(kiln_json default.img "sorted(p[\"role\"] for p in d[\"partitions\"])")" = "[\"bios-boot\", \"esp\", \"root\"]" ] &&
	[ "$(kiln_json mbr.img "[p[\"partuuid\"] for p in d[\"partitions\"]]")" = "[\"$(kiln_json mbr.img "d[\"mbr_signature\"]")-01\"]" ] &&
	[ "$(kiln_json default.img "\"source_date_epoch\" in d")" = false ]
'

test_expect_success 'VolumeSize is the image rounded up to whole GiB' '
	"$KILN" build -q -r rootfs -o one.img -s 1G &&
	check_register one.img one uefi-preferred &&
	[ "$(json_get one.img.json "d[\"BlockDeviceMappings\"][0][\"Ebs\"][\"VolumeSize\"]")" = 1 ] &&
	"$KILN" build -q -r rootfs -o more.img -s $((GIB + 512)) &&
	[ "$(json_get more.img.json "d[\"BlockDeviceMappings\"][0][\"Ebs\"][\"VolumeSize\"]")" = 2 ]
'

cat >bdm.yaml <<'EOF'
ami_name: "kiln demo (test) [1.0] v/2 'x'@y_z-"
ami_description: "tab\there \"quoted\" back\\slash caf\u00e9"
boot_mode: legacy-bios
rootfs: rootfs
launch_block_device_mappings:
  - device_name: /dev/xvda
    volume_size: 1
    volume_type: gp3
  - device_name: /dev/xvdb
    volume_size: 20
    volume_type: gp3
    delete_on_termination: false
    encrypted: true
    iops: 4000
    throughput: 250
  - device_name: xvdc
    virtual_name: ephemeral0
EOF

test_expect_success 'a spec with launch_block_device_mappings: extra gp3 volume, ephemeral0' '
	SOURCE_DATE_EPOCH=1700000000 "$KILN" build -q bdm.yaml -o bdm.img -s $((2 * GIB + 4096)) &&
	"$PY" - bdm.img.json <<-\EOF &&
	import json, sys
	d = json.load(open(sys.argv[1]))
	want = {
	    "Name": "kiln demo (test) [1.0] v/2 '"'"'x'"'"'@y_z-",
	    "Description": "tab\there \"quoted\" back\\slash caf\u00e9",
	    "Architecture": "x86_64",
	    "VirtualizationType": "hvm",
	    "BootMode": "legacy-bios",
	    "RootDeviceName": "/dev/xvda",
	    "BlockDeviceMappings": [
	        # the root: volume_size 1 raised to the image (2 GiB + 4 KiB)
	        {"DeviceName": "/dev/xvda",
	         "Ebs": {"VolumeSize": 3, "VolumeType": "gp3", "DeleteOnTermination": True}},
	        {"DeviceName": "/dev/xvdb",
	         "Ebs": {"VolumeSize": 20, "VolumeType": "gp3", "DeleteOnTermination": False,
	                 "Encrypted": True, "Iops": 4000, "Throughput": 250}},
	        {"DeviceName": "xvdc", "VirtualName": "ephemeral0"},
	    ],
	    "EnaSupport": True,
	    "ImdsSupport": "v2.0",
	}
	bad = [f"{k}: {d.get(k)!r}, want {want.get(k)!r}" for k in sorted(set(d) | set(want)) if d.get(k) != want.get(k)]
	print("\n".join(bad) or "ok")
	sys.exit(1 if bad else 0)
	EOF
	[ "$(kiln_json bdm.img "d[\"source_date_epoch\"]")" = 1700000000 ]
'

test_expect_success AWSCLI 'awscli validates the spec-driven OUT.json' '
	aws_validate bdm.img.json
'

test_expect_success 'bad image names are refused, and nothing is left behind' '
	mkdir refused &&
	printf "ami_name: \"bad!name\"\nrootfs: ../rootfs\n" >refused/bad.yaml &&
	must_fail_with "^kiln: bad image name .bad!name.: 3-128 characters" \
		"$KILN" build -q refused/bad.yaml -o refused/bad.img &&
	must_fail_with "^kiln: bad image name .ab.:" "$KILN" build -q -r rootfs -o refused/short.img --name ab &&
	long=$(printf "%0129d" 0) &&
	must_fail_with "^kiln: bad image name" "$KILN" build -q -r rootfs -o refused/long.img --name "$long" &&
	[ "$(ls -A refused)" = bad.yaml ]
'

# kiln(1): "Every error is one line on standard error".  The name is refused
# for its newlines, then printed with them raw: three lines.
test_expect_success 'a name with newlines is refused in one line' '
	must_fail_with "^kiln: bad image name" "$KILN" build -q -r rootfs -o refused/nl.img --name "$(printf "a\nb\nc")" &&
	[ "$(ls -A refused)" = bad.yaml ]
'

test_expect_success 'a short output name gets a valid default image name' '
	"$KILN" build -q -r rootfs -o x.img -t none &&
	[ "$(json_get x.img.json "d[\"Name\"]")" = x-image ]
'

test_done
