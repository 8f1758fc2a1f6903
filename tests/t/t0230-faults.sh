#!/bin/bash
# Write faults across a whole bootable-disk build.  KILN_TEST_FAIL_WRITE=N
# fails the Nth write to the image; the writes come in phases, in this order:
# the ext4 root (data, then the metadata libext2fs flushes at close), the FAT
# ESP, the partition table, GRUB's BIOS embedding.  For every N, either
#  * the build fails: exit 1, one stderr line 'kiln: cannot write OUT: ...
#    injected write failure (write #N)' naming the phase, and its folder is
#    left empty (no OUT, OUT.json, OUT.kiln.json, temporaries, spool), or
#  * (only inside the ext4 writer, where libext2fs falls back on its own, as
#    ext2fs_zero_blocks2 does after a failed zeroout) it succeeds with an
#    image and metadata identical to the fault-free build's.
# The number of writes is found by bisection, the phase boundaries from the
# phase each error names, then checked on both sides; each phase is covered
# (every write of the small ones, a spread over ext4's).
. "$(dirname "$0")/../lib/test-lib.sh"
. "$TEST_ROOT/tests/lib/layout-lib.sh"

test_have_prereq KILN || skip_all "no kiln binary (run make)"
[ -r /usr/lib/grub/i386-pc/boot.img ] || skip_all "needs grub-pc-bin (/usr/lib/grub/i386-pc)"
[ -r /usr/lib/grub/x86_64-efi/normal.mod ] || skip_all "needs grub-efi-amd64-bin (/usr/lib/grub/x86_64-efi)"

EPOCH=1700000000
make_demo_rootfs rootfs
unset KILN_TEST_FAIL_WRITE

# The configurations: a GPT uefi-preferred build (every phase), an MBR one
# (its table and GRUB in the gap) and the GPT one from a tarball spooled to
# disk (the spool file is one more temporary to clean up).
cfg_args() {
	case $1 in
	gpt) ARGS=(-r rootfs -t gpt -b uefi-preferred);;
	mbr) ARGS=(-r rootfs -t mbr -b legacy-bios);;
	tar) ARGS=(-r rootfs.tar -t gpt -b uefi-preferred);;
	esac
}

# build CFG DIR [N]: build CFG into DIR/out.img, write #N failing; the
# command's output beside DIR (DIR.out, DIR.err), its status in rc.
build() {
	cfg_args "$1"
	mkdir -p "$2"
	KILN_TEST_FAIL_WRITE=${3:-0} SOURCE_DATE_EPOCH=$EPOCH KILN_SPOOL_MEMORY=0 \
		"$KILN" build -q "${ARGS[@]}" -o "$2/out.img" >"$2.out" 2>"$2.err"
	rc=$?
}

# fault CFG N: build CFG with write #N failing (once; remembered) and set
# class to the outcome: ext4, esp, ptable or grub (a clean failure in that
# phase), ok (success; compared with the reference later), or bad:WHY.
declare -A CLASS
fault() {
	local cfg=$1 n=$2 d=$1/$2 msg
	class=${CLASS[$cfg:$n]:-}
	[ -n "$class" ] && return 0
	build "$cfg" "$d" "$n"
	if [ $rc -eq 0 ]; then
		if [ "$(ls -A "$d" | tr '\n' ' ')" = "out.img out.img.json out.img.kiln.json " ]; then
			class=ok
		else
			class="bad:success-but-$(ls -A "$d" | tr '\n' ,)"
		fi
	elif [ $rc -ne 1 ]; then
		class=bad:exit-$rc
	elif [ "$(wc -l <"$d.err")" -ne 1 ] || [ -n "$(tail -c 1 "$d.err" | tr -d '\n')" ]; then
		class=bad:not-one-stderr-line
	elif [ -n "$(ls -A "$d")" ]; then
		class="bad:left-$(ls -A "$d" | tr '\n' ,)"
	else
		msg=$(cat "$d.err")
		case $msg in
		"kiln: cannot write '$d/out.img': injected write failure (write #$n)" | \
		"kiln: cannot write '$d/out.img': cannot write the filesystem metadata: injected write failure (write #$n)")
			class=ext4;;
		"kiln: cannot write '$d/out.img': writing the EFI system partition: "*"injected write failure (write #$n)")
			class=esp;;
		"kiln: cannot write '$d/out.img': writing the partition table: injected write failure (write #$n)")
			class=ptable;;
		"kiln: cannot write '$d/out.img': installing GRUB for BIOS: injected write failure (write #$n)")
			class=grub;;
		*)
			class=bad:message;;
		esac
	fi
	CLASS[$cfg:$n]=$class
	echo "write #$n: $class${msg:+ ($msg)}" >>"$cfg.log"
}

rank() {
	case $1 in ext4) echo 0;; esp) echo 1;; ptable) echo 2;; grub) echo 3;; ok) echo 4;; *) echo 9;; esac
}

# first_at_least CFG RANK LO HI: set found to the first N in (LO, HI] whose
# outcome ranks at least RANK, by bisection; LO ranks below, HI at or above.
# (Not in a $(subshell): the outcomes are remembered in CLASS.)
first_at_least() {
	local cfg=$1 want=$2 lo=$3 hi=$4 mid
	while [ $((hi - lo)) -gt 1 ]; do
		mid=$(((lo + hi) / 2))
		fault "$cfg" $mid
		case $class in bad:*) echo "write #$mid: $class: $(cat "$cfg/$mid.err")"; return 1;; esac
		if [ "$(rank "$class")" -ge "$want" ]; then hi=$mid; else lo=$mid; fi
	done
	found=$hi
}

# expect CFG CLASS N...: each N has outcome CLASS (ok: identical to the
# fault-free build).
expect() {
	local cfg=$1 want=$2 n
	shift 2
	for n in "$@"; do
		fault "$cfg" "$n"
		if [ "$class" != "$want" ]; then
			echo "write #$n: $class, want $want: $(cat "$cfg/$n.err")"
			return 1
		fi
		if [ "$class" = ok ]; then
			same "$cfg" "$n" || return 1
		fi
	done
}

same() {
	cmp "$1/ref/out.img" "$1/$2/out.img" &&
	cmp "$1/ref/out.img.json" "$1/$2/out.img.json" &&
	cmp "$1/ref/out.img.kiln.json" "$1/$2/out.img.kiln.json"
}

# spread LO HI COUNT: about COUNT numbers spread evenly over [LO, HI].
spread() {
	local lo=$1 hi=$2 count=$3 step
	step=$(( (hi - lo) / count ))
	[ $step -ge 1 ] || step=1
	seq "$lo" "$step" "$hi"
	echo "$hi"
}

# boundaries CFG: set W, the number of writes (the first N that succeeds
# past the failures, by doubling then bisection, less one), then walk back
# from W through the small phases to the ext4 writer, setting E (the first
# ESP write; gpt only), P (the table) and G (GRUB).  Every outcome seen on
# the way is remembered, so the per-phase tests below cost nothing more.
boundaries() {
	local cfg=$1 lo=2 hi=64 n
	fault "$cfg" 2
	[ "$class" = ext4 ] || { echo "write #2: $class, want ext4"; return 1; }
	while fault "$cfg" $hi && [ "$class" != ok ]; do
		case $class in bad:*) echo "write #$hi: $class: $(cat "$cfg/$hi.err")"; return 1;; esac
		[ $hi -lt 1048576 ] || { echo "no end of writes below $hi"; return 1; }
		lo=$hi hi=$((hi * 2))
	done
	first_at_least "$cfg" 4 $lo $hi || return 1
	W=$((found - 1)) E= P= G=
	for ((n = W; n > W - 256 && n > 2; n--)); do
		fault "$cfg" $n
		case $class in
		ext4) break;;
		esp) E=$n;;
		ptable) P=$n;;
		grub) G=$n;;
		*) echo "write #$n: $class: $(cat "$cfg/$n.err")"; return 1;;
		esac
	done
	[ "$class" = ext4 ] || { echo "no ext4 write in the last 256 before #$W"; return 1; }
	[ -n "$P" ] && [ -n "$G" ] || { echo "no table or GRUB writes"; return 1; }
	echo "$cfg: ${E:+ESP from write #$E, }table from #$P, GRUB from #$G, $W writes in all"
}

test_expect_success 'fault-free reference builds (gpt uefi-preferred, mbr, gpt from a spooled tarball)' '
	tar -C rootfs -cf rootfs.tar . &&
	for cfg in gpt mbr tar; do
		build $cfg $cfg/ref && [ $rc -eq 0 ] || { cat $cfg/ref.err; return 1; }
	done &&
	cmp gpt/ref/out.img tar/ref/out.img
'

test_expect_success 'kiln -v names the write phases, in order' '
	cfg_args gpt &&
	SOURCE_DATE_EPOCH=$EPOCH "$KILN" build -v "${ARGS[@]}" -o verbose.img >verbose.out &&
	grep "^  phases: " verbose.out >phases &&
	cat phases &&
	grep -Eq "writing [0-9.]+ s, esp [0-9.]+ s, partitions [0-9.]+ s, syncing" phases
'

test_expect_success 'gpt: the number of writes (by bisection) and the phase boundaries' '
	boundaries gpt &&
	[ "$E" -lt "$P" ] && [ "$P" -lt "$G" ] && [ "$G" -le "$W" ] &&
	gE=$E gP=$P gG=$G gW=$W
'

test_expect_success 'gpt: each boundary holds on both sides' '
	expect gpt ext4 $((gE - 1)) &&
	expect gpt esp $gE $((gP - 1)) &&
	expect gpt ptable $gP $((gG - 1)) &&
	expect gpt grub $gG $gW &&
	expect gpt ok $((gW + 1))
'

test_expect_success 'gpt: faults across the ext4 writer fail cleanly (or libext2fs recovers)' '
	for n in $(seq 1 6) $(spread 7 $((gE - 7)) 16) $(seq $((gE - 6)) $((gE - 1))); do
		fault gpt $n &&
		case $class in
		ext4) ;;
		ok) same gpt $n || { echo "write #$n: succeeded with a different image"; return 1; } ;;
		*) echo "write #$n: $class, want ext4 or ok: $(cat gpt/$n.err)"; return 1;;
		esac || return 1
	done &&
	for n in $(seq 1 $((gE - 1))); do
		if [ "${CLASS[gpt:$n]:-}" = ok ]; then
			echo "write #$n: libext2fs recovered; the image is the fault-free one"
		fi
	done &&
	# both the data writes and the metadata flushed at close were hit
	grep -q ": ext4 (kiln: cannot write .*: injected write failure" gpt.log &&
	grep -q ": ext4 (.*: cannot write the filesystem metadata: injected" gpt.log
'

test_expect_success 'gpt: every write of the FAT writer fails cleanly, naming the ESP' '
	expect gpt esp $(seq $gE $((gP - 1)))
'

test_expect_success 'gpt: every write of the GPT writer fails cleanly, naming the table' '
	expect gpt ptable $(seq $gP $((gG - 1)))
'

test_expect_success 'gpt: every write of the GRUB embedding fails cleanly, naming it' '
	expect gpt grub $(seq $gG $gW)
'

test_expect_success 'gpt: past the last write, the build is the fault-free one' '
	expect gpt ok $((gW + 1)) $((gW + 100))
'

test_expect_success 'mbr: the table and GRUB in the gap, every write, and the count' '
	boundaries mbr &&
	expect mbr ext4 $(seq $((P - 3)) $((P - 1))) &&
	expect mbr ptable $(seq $P $((G - 1))) &&
	expect mbr grub $(seq $G $W) &&
	expect mbr ok $((W + 1))
'

# Same tree, same image (checked above), so the same writes: the gpt
# boundaries are checked again rather than searched for.
test_expect_success 'tarball spooled to disk: faults in each phase leave no spool behind' '
	expect tar ext4 2 $((gE / 3)) $((gE - 1)) &&
	expect tar esp $gE $((gP - 1)) &&
	expect tar ptable $gP $((gG - 1)) &&
	expect tar grub $gG $gW &&
	expect tar ok $((gW + 1))
'

# kiln(1): "A failed build leaves neither the output nor any temporary
# behind."  A build stopped by SIGTERM (or ^C) leaves its temporary image:
# nothing removes it on a signal.  The 16 GiB image keeps the build busy
# (digesting) long after the temporary appears; it is sparse.
test_expect_success 'a build stopped by SIGTERM leaves no temporary behind' '
	mkdir killed &&
	cfg_args gpt &&
	{ "$KILN" build -q --digest "${ARGS[@]}" -o killed/out.img -s 16G 2>killed.err & } &&
	pid=$! &&
	for i in $(seq 100); do
		[ -n "$(ls -A killed)" ] && break
		sleep 0.1
	done &&
	sleep 0.5 &&
	kill -TERM $pid &&
	{ wait $pid; echo "exit $?"; } &&
	ls -lA killed &&
	[ -z "$(ls -A killed)" ]
'
rm -rf killed

test_expect_success 'nothing was left anywhere but in the successful builds' '
	find . -name ".*" ! -name . >dotfiles &&
	test_cmp /dev/null dotfiles
'

test_done
