#!/bin/bash
# kiln seed: a NoCloud seed volume as cloud-localds makes one.  Read back
# with the real tools: blkid sees a vfat volume labelled CIDATA, fsck.fat
# finds it clean, mtools reads each file back byte for byte (a binary gzip
# user-data too); meta-data is the given file or generated; bad input fails
# with one line naming it and leaves no output, not even a temporary.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq KILN || skip_all "kiln is not built (make)"
need_cmd blkid fsck.fat mtype mdir gzip
command -v setpriv >/dev/null && test_set_prereq SETPRIV
export MTOOLS_SKIP_CHECK=1
EPOCH=1700000000
SQ="'"

# check_volume IMG: the volume a NoCloud datasource looks for.
check_volume() {
	blkid -o export "$1" >blkid.out &&
	grep -qx "TYPE=vfat" blkid.out &&
	grep -qx "LABEL=CIDATA" blkid.out &&
	fsck.fat -n "$1" >fsck.out 2>&1 ||
	{ cat blkid.out fsck.out >&2; return 1; }
}

# same_file IMG NAME FILE: ::NAME on IMG holds exactly FILE's bytes.
same_file() {
	mtype -i "$1" "::$2" >got.out && cmp got.out "$3"
}

test_expect_success 'inputs' '
	mkdir in &&
	printf "#cloud-config\nruncmd:\n  - echo KILN-SEED-TEST > /dev/console\n" >in/user-data &&
	head -c 200000 /dev/urandom | base64 | gzip -9 -c >in/user-data.gz &&
	printf "instance-id: i-0123456789abcdef0\nlocal-hostname: given\npublic-keys:\n  - ssh-ed25519 AAAA test\n" >in/meta-data &&
	printf "#cloud-config\npackages: []\n" >in/vendor-data &&
	printf "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n" >in/network-config &&
	printf "line one\r\nline two\r\n\000nul\n" >in/crlf
'

test_expect_success 'user-data alone: CIDATA vfat, 1 MiB, clean, user-data byte for byte' '
	"$KILN" seed --user-data in/user-data -o seed.img >out &&
	check_volume seed.img &&
	test "$(stat -c %s seed.img)" = 1048576 &&
	same_file seed.img user-data in/user-data &&
	mdir -b -i seed.img :: | sort >names &&
	printf "::/meta-data\n::/user-data\n" >names.want &&
	test_cmp names.want names &&
	grep -q "FAT12 label CIDATA" out
'

test_expect_success 'generated meta-data: a content-derived instance id, no host name' '
	mtype -i seed.img ::meta-data >md &&
	grep -Eqx "instance-id: iid-[0-9a-f]{16}" md &&
	test "$(wc -l <md)" = 1 &&
	"$KILN" seed -q --user-data in/user-data -o again.img &&
	mtype -i again.img ::meta-data >md2 && test_cmp md md2 &&
	"$KILN" seed -q --user-data in/crlf -o other.img &&
	mtype -i other.img ::meta-data >md3 &&
	! cmp -s md md3
'

test_expect_success '--instance-id and --hostname in generated meta-data' '
	"$KILN" seed -q --user-data in/user-data --instance-id i-abc.1 --hostname web-1.example.org -o named.img &&
	mtype -i named.img ::meta-data >md &&
	printf "instance-id: i-abc.1\nlocal-hostname: web-1.example.org\n" >md.want &&
	test_cmp md.want md &&
	"$KILN" seed -q --user-data in/user-data --instance-id 1234 --hostname yes -o quoted.img &&
	mtype -i quoted.img ::meta-data >md &&
	printf "instance-id: '"'"'1234'"'"'\nlocal-hostname: '"'"'yes'"'"'\n" >md.want &&
	test_cmp md.want md
'

test_expect_success 'every file given: all four byte for byte' '
	"$KILN" seed -q --user-data in/user-data --meta-data in/meta-data --vendor-data in/vendor-data \
		--network-config in/network-config -o full.img &&
	check_volume full.img &&
	same_file full.img user-data in/user-data &&
	same_file full.img meta-data in/meta-data &&
	same_file full.img vendor-data in/vendor-data &&
	same_file full.img network-config in/network-config
'

test_expect_success 'binary user data (gzip) and CR LF NUL bytes come back unchanged' '
	"$KILN" seed -q --user-data in/user-data.gz -o gz.img &&
	check_volume gz.img &&
	same_file gz.img user-data in/user-data.gz &&
	"$KILN" seed -q --user-data in/crlf -o crlf.img &&
	same_file crlf.img user-data in/crlf
'

test_expect_success 'a user-data of several MiB: the smallest volume that holds it' '
	head -c 5000000 /dev/urandom >in/big &&
	"$KILN" seed -q --user-data in/big -o big.img &&
	check_volume big.img &&
	same_file big.img user-data in/big &&
	size=$(stat -c %s big.img) &&
	test $((size % 1048576)) = 0 &&
	test "$size" -le $((6 * 1048576))
'

test_expect_success 'the same inputs and SOURCE_DATE_EPOCH give the same bytes' '
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" seed -q --user-data in/user-data --hostname h -o r1.img &&
	sleep 1 &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" seed -q --user-data in/user-data --hostname h -o r2.img &&
	cmp r1.img r2.img
'

# fails_cleanly NAME REGEX ARGS...: `kiln seed ARGS -o out-NAME/seed.img`
# fails with one stderr line matching REGEX and leaves out-NAME/ empty.
fails_cleanly() {
	local name=$1 re=$2
	shift 2
	mkdir "out-$name" &&
	must_fail_with "$re" "$KILN" seed "$@" -o "out-$name/seed.img" &&
	assert_empty_dir "out-$name"
}

test_expect_success 'a missing input file: an error naming it, no output' '
	fails_cleanly nouser "^kiln: cannot read --user-data '"'"'in/nope'"'"': No such file or directory$" \
		--user-data in/nope &&
	fails_cleanly novendor "^kiln: cannot read --vendor-data '"'"'in/nope'"'"': No such file or directory$" \
		--user-data in/user-data --vendor-data in/nope &&
	fails_cleanly dir "^kiln: cannot read --meta-data '"'"'in'"'"': not a regular file$" \
		--user-data in/user-data --meta-data in
'

test_expect_success 'a failed seed leaves an existing output as it was' '
	cp seed.img keep.img &&
	must_fail_with "^kiln: cannot read --network-config '"'"'in/nope'"'"'" \
		"$KILN" seed --user-data in/user-data --network-config in/nope -o seed.img &&
	cmp keep.img seed.img
'

test_expect_success 'bad options: one line each, no output' '
	fails_cleanly nouserdata "^kiln: seed needs --user-data FILE$" --meta-data in/meta-data &&
	fails_cleanly both "^kiln: --instance-id is for generated meta-data" \
		--user-data in/user-data --meta-data in/meta-data --instance-id x &&
	fails_cleanly badiid "^kiln: bad --instance-id '"'"'a b'"'"'" --user-data in/user-data --instance-id "a b" &&
	fails_cleanly badhost "^kiln: bad --hostname '"'"'-x'"'"'" --user-data in/user-data --hostname -x &&
	fails_cleanly dothost "^kiln: bad --hostname '"'"'a..b'"'"'" --user-data in/user-data --hostname a..b &&
	must_fail_with "^kiln: seed needs -o" "$KILN" seed --user-data in/user-data &&
	head -c $((16 * 1048576 + 1)) /dev/zero >in/huge &&
	fails_cleanly huge "^kiln: cannot read --user-data '"'"'in/huge'"'"': larger than 16 MiB" --user-data in/huge
'

# The guest's rule for instance ids (kiln_instance_id_valid): 1-255 ASCII
# letters, digits and punctuation, no '/', not . or ..; kiln-init keeps the
# id as it is and escapes only its folder's name.
test_expect_success '--instance-id: every id the guest takes, quoted where YAML needs it' '
	"$KILN" seed -q --user-data in/user-data --instance-id web:1 -o colon.img &&
	mtype -i colon.img ::meta-data >md &&
	printf "instance-id: %s\n" "${SQ}web:1${SQ}" >md.want &&
	test_cmp md.want md &&
	"$KILN" seed -q --user-data in/user-data --instance-id "it${SQ}s#1{x}:" -o odd.img &&
	mtype -i odd.img ::meta-data >md &&
	printf "instance-id: %s\n" "${SQ}it${SQ}${SQ}s#1{x}:${SQ}" >md.want &&
	test_cmp md.want md &&
	long=$(printf "%0255d" 0 | tr 0 a) &&
	"$KILN" seed -q --user-data in/user-data --instance-id "$long" -o long.img &&
	mtype -i long.img ::meta-data >md &&
	printf "instance-id: %s\n" "$long" >md.want &&
	test_cmp md.want md &&
	colons=$(printf "%0255d" 0 | tr 0 :) &&
	"$KILN" seed -q --user-data in/user-data --instance-id "$colons" -o colons.img &&
	mtype -i colons.img ::meta-data >md &&
	printf "instance-id: %s\n" "${SQ}${colons}${SQ}" >md.want &&
	test_cmp md.want md
'

test_expect_success '--instance-id the guest would refuse: one line, no output' '
	rule="not a valid instance id \(1-255 ASCII letters, digits and punctuation; no ${SQ}/${SQ}; not ${SQ}\.${SQ} or ${SQ}\.\.${SQ}\)$" &&
	fails_cleanly slash "^kiln: bad --instance-id ${SQ}a/b${SQ}: $rule" --user-data in/user-data --instance-id a/b &&
	fails_cleanly dotdot "^kiln: bad --instance-id ${SQ}\.\.${SQ}: $rule" --user-data in/user-data --instance-id .. &&
	fails_cleanly tab "^kiln: bad --instance-id ${SQ}a\?b${SQ}: $rule" --user-data in/user-data --instance-id "$(printf "a\tb")" &&
	fails_cleanly nonascii "^kiln: bad --instance-id ${SQ}caf" --user-data in/user-data --instance-id "$(printf "caf\303\251")" &&
	fails_cleanly toolong "^kiln: bad --instance-id ${SQ}aaaa" --user-data in/user-data \
		--instance-id "$(printf "%0256d" 0 | tr 0 a)"
'

test_expect_success '--meta-data: an instance id the guest would refuse stops the seed' '
	printf "local-hostname: h\ninstance-id: a/b\n" >in/md-slash &&
	fails_cleanly mdslash "^kiln: bad --meta-data ${SQ}in/md-slash${SQ}: meta-data:2: instance-id: ${SQ}a/b${SQ} is not a valid instance id" \
		--user-data in/user-data --meta-data in/md-slash &&
	printf "instance-id: [a, b]\n" >in/md-list &&
	fails_cleanly mdlist "^kiln: bad --meta-data ${SQ}in/md-list${SQ}: meta-data:1: instance-id: expected a string" \
		--user-data in/user-data --meta-data in/md-list &&
	printf "instance-id: web:1\n" >in/md-colon &&
	"$KILN" seed -q --user-data in/user-data --meta-data in/md-colon -o md-colon.img &&
	same_file md-colon.img meta-data in/md-colon
'

test_expect_success 'an output folder that does not exist or is a file' '
	must_fail_with "^kiln: cannot create output '"'"'no-such-dir/seed.img'"'"': No such file or directory$" \
		"$KILN" seed --user-data in/user-data -o no-such-dir/seed.img &&
	assert_no_file no-such-dir &&
	must_fail_with "^kiln: cannot create output '"'"'in/user-data/seed.img'"'"': Not a directory$" \
		"$KILN" seed --user-data in/user-data -o in/user-data/seed.img
'

# Root writes anywhere: as root, run kiln as nobody (from a world-searchable
# scratch folder, wherever the checkout is); otherwise as ourselves.
test_expect_success 'an unwritable output folder: an error, nothing left' '
	nb=$(mktemp -d /tmp/kiln-t0810-XXXXXX) && chmod 0755 "$nb" &&
	install -m 0755 "$KILN" "$nb/kiln" && install -m 0644 in/user-data "$nb/user-data" &&
	mkdir -m 0555 "$nb/ro" &&
	if [ "$(id -u)" = 0 ]; then
		test_have_prereq SETPRIV || { echo "setpriv missing" >&2; rm -rf "$nb"; return 1; }
		run=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	else
		run=()
	fi &&
	must_fail_with "^kiln: cannot create output '"'"'$nb/ro/seed.img'"'"': Permission denied$" \
		"${run[@]}" "$nb/kiln" seed --user-data "$nb/user-data" -o "$nb/ro/seed.img" &&
	assert_empty_dir "$nb/ro" &&
	rm -rf "$nb"
'

test_done
