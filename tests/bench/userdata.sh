#!/bin/bash
# tests/bench/userdata.sh — first boot with user data: kiln-init and
# cloud-init-lite against Debian's cloud-init, and both against the plain
# boot of the same image with no first-boot agent at all (the floor), in the
# same run, under identical QEMU settings.  Not part of `make check`; run it
# by hand (`make bench` runs it too):
#
#   tests/bench/userdata.sh
#
#   rootfs     the Debian 12 "cloudinit" tarball (minbase + cloud kernel,
#              OpenSSH, systemd-sysv, signed shim/GRUB, cloud-guest-utils,
#              cloud-init, e2fsprogs: ${KILN_CACHE:-.cache}/
#              debian-bookworm-cloudinit.tar, made by
#              tests/lib/fetch-debian-rootfs.sh cloudinit when missing, which
#              needs root) plus, appended with GNU tar (owners 0), a
#              systemd-networkd DHCP config and its enabling symlink, as in
#              tests/bench/firstboot.sh.
#   user data  one #cloud-config for both agents: a user "bench" with an SSH
#              key, write_files (a file, and the runcmd script with mode
#              0755), and a runcmd running that script, which prints
#              "KILN-BENCH-RUNCMD-DONE up=<guest uptime> user=<uid of bench>
#              file=<the written file> keys=<keys in bench's
#              authorized_keys>" to /dev/ttyS0, so the console shows both
#              when runcmd ran and that the work before it was done.  The
#              script builds the marker with printf, so the marker's text is
#              in no file an agent might echo to the console.
#   seed       `kiln seed --user-data ... --hostname kiln-bench`: a NoCloud
#              seed volume (FAT, label CIDATA), attached as a virtio-blk disk
#              (tests/lib/qemu-boot.sh -s) to both agents' guests: the same
#              datasource kind, the same instance id.
#   kiln       kiln build -s 2G: kiln's initramfs (kiln-init grows the root
#              and makes the host keys; cloud-init-lite applies the user
#              data); cloud-init installed but disabled
#              (/etc/cloud/cloud-init.disabled in the appended layer), so the
#              image is the same tarball.
#   cloud-init the tarball as it is, built with 'initramfs: distro' (Debian's
#              initramfs-tools); cloud-init's growpart and resizefs run from
#              the booted system, as on Debian's own cloud images.
#   floor      the cloud-init image with cloud-init disabled and no seed, plus
#              the runcmd script run by a oneshot unit ordered like a runcmd
#              unit (After= and Wants=network-online.target, WantedBy=
#              multi-user.target), printing KILN-BENCH-FLOOR-DONE: the point
#              where runcmd would run if no agent had work to do.
#
# Every image is copied and grown to 8 GiB (qemu-img resize) before its
# boot, so there is a partition and a file system to grow, and booted
# writable by tests/lib/qemu-boot.sh with the same options (SeaBIOS, NVMe
# root, TCG, 1 GiB, one CPU, user networking with a virtio NIC, the same
# SMBIOS UUID), one boot at a time under flock /tmp/kiln-qemu.lock (taken
# before the clock starts).  Times are from the start of QEMU to a line on
# the serial console, polled every 0.25 s: the runcmd marker for the two
# agents; for the floor, the login prompt (the issue's floor) and its
# runcmd point.  The guest is then stopped.
#
# Cost is an agent's time minus the floor.  Against the login prompt (the
# issue's definition) a cost can be negative: kiln's image boots through
# kiln's initramfs, which reaches the root sooner than initramfs-tools, and
# a runcmd unit may run before getty prints the prompt; so costs are also
# printed against the floor's runcmd point, which is what the same boot with
# nothing to apply would take to reach runcmd.  Output, one line per round:
#
#   userdata-runcmd: kiln 31.0 s, cloud-init 85.2 s, floor 36.1 s (login); kiln cost -5.1 s, cloud-init cost 49.1 s; ratio 0.36
#
# then '#' lines: the floor's runcmd point and the costs against it, the
# targets (kiln at most half of cloud-init's time; kiln's cost at most a
# tenth of cloud-init's) as met or not, each guest's own uptime at runcmd and
# what the marker says was done, login prompts, cloud-init's "finished"
# line and kiln-init's task lines.  Timings are reported, never asserted; a
# side that does not reach its marker within the timeout is reported as
# such ("kiln side: runcmd marker not seen within 300 s"), the other sides
# still run, and the script exits 1 at the end.
#
# Environment:
#   O             build folder holding kiln (default build)
#   KILN_CACHE    where the Debian tarball is (default .cache)
#   BENCH_RUNS    rounds (default 1; each boots every side once, the order
#                 rotating from round to round)
#   BENCH_SIDES   the sides to boot (default "kiln cloud-init floor")
#   BENCH_TIMEOUT seconds from QEMU start to give up on a marker (default 300)
#   BENCH_OUT     scratch folder (default $O/bench-userdata; kept)
set -uo pipefail
export LC_ALL=C TZ=UTC
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case $O in /*) ;; *) O=$ROOT/$O ;; esac
KILN=${KILN:-$O/kiln}
BOOT=$ROOT/tests/lib/qemu-boot.sh
RUNS=${BENCH_RUNS:-1}
SIDES=${BENCH_SIDES:-kiln cloud-init floor}
TIMEOUT=${BENCH_TIMEOUT:-300}
OUT=${BENCH_OUT:-$O/bench-userdata}
LOCK=/tmp/kiln-qemu.lock
SIZE=8G
UUID=0b000000-0000-4000-8000-0000005eed01
GRACE=120   # seconds after the login prompt to keep waiting for runcmd

die() { echo "userdata-bench: $*" >&2; exit 1; }
skip() { echo "# userdata-runcmd: skipped: $*"; exit 0; }

[ -x "$KILN" ] || die "no kiln at '$KILN': run make first"
for c in qemu-system-x86_64 qemu-img ssh-keygen flock python3; do
	command -v $c >/dev/null || skip "$c not installed"
done
tar --version 2>/dev/null | grep -q 'GNU tar' || skip "needs GNU tar"
for s in $SIDES; do
	case $s in kiln|cloud-init|floor) ;; *) die "unknown side '$s' in BENCH_SIDES (kiln, cloud-init, floor)" ;; esac
done
tarball=$("$ROOT/tests/lib/fetch-debian-rootfs.sh" cloudinit) || skip "no Debian cloudinit rootfs (see above)"

rm -rf "$OUT" && mkdir -p "$OUT" && cd "$OUT" || die "cannot make '$OUT'"

# ---- user data, seed and images ------------------------------------------------

ssh-keygen -q -t ed25519 -N '' -C kiln-bench -f id_bench || die "ssh-keygen failed"

# The runcmd script: the marker, the guest's uptime, and what the agent did
# before runcmd.  $1 names the marker (RUNCMD, FLOOR).
runcmd_script='#!/bin/sh
up=$(cut -d" " -f1 /proc/uptime)
uid=$(id -u bench 2>/dev/null || echo missing)
file=$(cat /etc/kiln-bench/hello 2>/dev/null || echo missing)
keys=$(grep -c "^ssh-" /home/bench/.ssh/authorized_keys 2>/dev/null)
printf "KILN-BENCH-%s-DONE up=%s user=%s file=%s keys=%s\n" "${1:-RUNCMD}" "$up" "$uid" "$file" "${keys:-0}" >/dev/ttyS0
'
{
	echo '#cloud-config'
	echo 'users:'
	echo '  - name: bench'
	echo '    gecos: kiln benchmark user'
	echo '    shell: /bin/bash'
	echo '    lock_passwd: true'
	echo '    ssh_authorized_keys:'
	echo "      - $(cat id_bench.pub)"
	echo 'write_files:'
	echo '  - path: /etc/kiln-bench/hello'
	echo '    content: |'
	echo '      written-by-user-data'
	echo "    permissions: '0644'"
	echo '  - path: /usr/local/sbin/kiln-bench-runcmd'
	echo "    permissions: '0755'"
	echo '    content: |'
	printf '%s' "$runcmd_script" | sed 's/^/      /'
	echo 'runcmd:'
	echo '  - /usr/local/sbin/kiln-bench-runcmd'
} >user-data.yaml
"$KILN" seed -q --user-data user-data.yaml --hostname kiln-bench -o seed.img || die "kiln seed failed"

# The layers appended to the tarball (owners 0).
mkdir -p add/etc/systemd/network add/etc/systemd/system/multi-user.target.wants
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n' >add/etc/systemd/network/80-dhcp.network
ln -s /lib/systemd/system/systemd-networkd.service add/etc/systemd/system/multi-user.target.wants/systemd-networkd.service
chmod 0644 add/etc/systemd/network/80-dhcp.network
common=(./etc/systemd/network/80-dhcp.network
	./etc/systemd/system/multi-user.target.wants/systemd-networkd.service)

mkdir -p off/etc/cloud
: >off/etc/cloud/cloud-init.disabled
chmod 0644 off/etc/cloud/cloud-init.disabled

mkdir -p floor/usr/local/sbin floor/etc/systemd/system/multi-user.target.wants
printf '%s' "$runcmd_script" >floor/usr/local/sbin/kiln-bench-runcmd
chmod 0755 floor/usr/local/sbin/kiln-bench-runcmd
cat >floor/etc/systemd/system/kiln-bench-floor.service <<'EOF'
[Unit]
Description=Benchmark floor: where runcmd would run with no agent
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kiln-bench-runcmd FLOOR
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
chmod 0644 floor/etc/systemd/system/kiln-bench-floor.service
ln -s /etc/systemd/system/kiln-bench-floor.service \
	floor/etc/systemd/system/multi-user.target.wants/kiln-bench-floor.service

append() {   # append TAR DIR PATHS...
	local t=$1 d=$2
	shift 2
	tar -rf "$t" -C "$d" --numeric-owner --owner=0 --group=0 --no-recursion "$@"
}
printf 'initramfs: distro\n' >distro.yaml
cp "$tarball" base.tar && append base.tar add "${common[@]}" || die "cannot append to base.tar"
for s in $SIDES; do
	case $s in
	kiln)
		cp base.tar kiln.tar && append kiln.tar off ./etc/cloud/cloud-init.disabled ||
			die "cannot append to kiln.tar"
		"$KILN" build -q -r kiln.tar -o kiln.raw -s 2G || die "kiln build of kiln.raw failed"
		rm -f kiln.tar ;;
	cloud-init)
		"$KILN" build -q distro.yaml -r base.tar -o cloud-init.raw -s 2G ||
			die "kiln build of cloud-init.raw (initramfs: distro) failed" ;;
	floor)
		cp base.tar floor.tar && append floor.tar off ./etc/cloud/cloud-init.disabled &&
			append floor.tar floor ./usr/local/sbin/kiln-bench-runcmd \
				./etc/systemd/system/kiln-bench-floor.service \
				./etc/systemd/system/multi-user.target.wants/kiln-bench-floor.service ||
			die "cannot append to floor.tar"
		"$KILN" build -q distro.yaml -r floor.tar -o floor.raw -s 2G ||
			die "kiln build of floor.raw (initramfs: distro) failed"
		rm -f floor.tar ;;
	esac
done
rm -f base.tar

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# ---- one timed boot ----------------------------------------------------------

boot_pid=
stop_guest() {
	if [ -n "$boot_pid" ] && kill -0 "$boot_pid" 2>/dev/null; then
		pkill -TERM -P "$boot_pid" 2>/dev/null   # QEMU, the child of our qemu-boot.sh
		wait "$boot_pid" 2>/dev/null
	fi
	boot_pid=
}
trap stop_guest EXIT

now() { date +%s%N; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e9 }'; }
seen() { [ -f "$1" ] && tr -d '\r' <"$1" | grep -q -- "$2"; }

# timed_boot SIDE ROUND: sets mark_ns (the runcmd marker, or the floor's
# runcmd point) and login_ns, 0 when not seen; fails when the marker was not
# seen.
timed_boot() {
	local side=$1 round=$2 img=$1-$2.raw log=$1-$2.console marker start t el seed_opt=()
	case $side in
	floor) marker='KILN-BENCH-FLOOR-DONE' ;;
	*) marker='KILN-BENCH-RUNCMD-DONE' seed_opt=(-s seed.img) ;;
	esac
	cp --sparse=always "$side.raw" "$img" && qemu-img resize -q -f raw "$img" $SIZE || return 1
	mark_ns=0 login_ns=0
	exec 8>"$LOCK"
	flock -w 3600 8 || { echo "userdata-bench: $side: cannot take $LOCK" >&2; return 1; }
	start=$(now)
	"$BOOT" -w -e -t $((TIMEOUT + 30)) -m "$marker" -n "$(free_port)" -u $UUID -l "$log" "${seed_opt[@]}" "$img" \
		>"$side-$round.qemu" 2>&1 8>&- &
	boot_pid=$!
	while kill -0 $boot_pid 2>/dev/null; do
		t=$(now)
		el=$(( (t - start) / 1000000000 ))
		[ "$login_ns" = 0 ] && seen "$log" 'login:' && login_ns=$((t - start))
		[ "$mark_ns" = 0 ] && seen "$log" "$marker" && mark_ns=$((t - start))
		if [ "$mark_ns" != 0 ] && [ "$login_ns" != 0 ]; then
			# cloud-init's own summary comes a moment after runcmd: keep it
			# for the report (not timed against).
			[ "$side" != cloud-init ] || seen "$log" 'Cloud-init v\. .* finished at' ||
				[ $(( (t - start - mark_ns) / 1000000000 )) -ge 20 ] || { sleep 0.25; continue; }
			break
		fi
		[ "$el" -lt "$TIMEOUT" ] || break
		# No marker long after the login prompt: the agent did not run it.
		[ "$login_ns" != 0 ] && [ "$mark_ns" = 0 ] && [ $(( (t - start - login_ns) / 1000000000 )) -ge $GRACE ] && break
		sleep 0.25
	done
	el=$(( ($(now) - start) / 1000000000 ))
	stop_guest
	exec 8>&-
	rm -f "$img"
	if [ "$mark_ns" = 0 ]; then
		local what="runcmd marker" why
		[ "$side" = floor ] && what="runcmd point"
		why="within $el s"
		[ "$login_ns" != 0 ] && why="$why (login prompt at $(secs "$login_ns") s)"
		echo "userdata-bench: $side side: $what not seen $why; console: $OUT/$log" >&2
		return 1
	fi
}

# ---- the rounds --------------------------------------------------------------

fmt() { [ "${1:-0}" != 0 ] && echo "$(secs "$1") s" || echo "not seen"; }
# fmt_side SIDE NS: as fmt, or "not run" for a side BENCH_SIDES left out
fmt_side() { case " $SIDES " in *" $1 "*) fmt "$2" ;; *) echo "not run" ;; esac; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (a - b) / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
cost() { [ "$1" != 0 ] && [ "$2" != 0 ] && echo "$(diff_s "$1" "$2") s" || echo "n/a"; }
# met CONDITION: "met" or "not met"
met() { awk "BEGIN { exit !($1) }" && echo met || echo "not met"; }

status=0
read -r -a order <<<"$SIDES"
for round in $(seq 1 "$RUNS"); do
	declare -A mark=() login=()
	for side in "${order[@]}"; do
		timed_boot "$side" "$round" || status=1
		mark[$side]=$mark_ns login[$side]=$login_ns
	done
	order=("${order[@]:1}" "${order[0]}")   # the next round starts with the next side

	k=${mark[kiln]:-0} c=${mark[cloud-init]:-0} f=${login[floor]:-0} fp=${mark[floor]:-0}
	line="userdata-runcmd: kiln $(fmt_side kiln "$k"), cloud-init $(fmt_side cloud-init "$c"), floor $(fmt_side floor "$f") (login)"
	line="$line; kiln cost $(cost "$k" "$f"), cloud-init cost $(cost "$c" "$f")"
	if [ "$k" != 0 ] && [ "$c" != 0 ]; then line="$line; ratio $(ratio "$k" "$c")"; else line="$line; ratio n/a"; fi
	echo "$line"

	echo "# round $round floor: runcmd point (oneshot after network-online.target) $(fmt_side floor "$fp"); kiln cost $(cost "$k" "$fp"), cloud-init cost $(cost "$c" "$fp") against it"
	if [ "$k" != 0 ] && [ "$c" != 0 ]; then
		echo "# round $round target kiln <= 0.5 x cloud-init to runcmd: $(met "$k <= 0.5 * $c")"
		for base in "$f:login" "$fp:runcmd point"; do
			b=${base%%:*} name=${base#*:}
			[ "$b" != 0 ] || continue
			kc=$((k - b)) cc=$((c - b))
			echo "# round $round target kiln cost <= 0.1 x cloud-init cost (floor $name): $(met "$kc <= 0.1 * $cc") ($(diff_s "$k" "$b") s vs $(diff_s "$c" "$b") s)"
		done
	fi
	for side in kiln cloud-init floor; do
		log=$side-$round.console
		[ -f "$log" ] || continue
		echo "# round $round $side: login prompt $(fmt "${login[$side]:-0}"); marker: $(tr -d '\r' <"$log" | grep -o 'KILN-BENCH-[A-Z]*-DONE .*' | head -n 1)"
	done
	fin=$([ -f cloud-init-$round.console ] &&
		tr -d '\r' <cloud-init-$round.console | grep -o 'Cloud-init v\. .* finished at .*' | head -n 1)
	[ -z "$fin" ] || echo "# round $round cloud-init: $fin"
	ki=$([ -f kiln-$round.console ] && tr -d '\r' <kiln-$round.console |
		grep -E '^(task [a-z]+: |kiln-init: |cloud-init-lite: )' | head -n 20 | paste -sd ';' | sed 's/;/; /g')
	[ -z "$ki" ] || echo "# round $round kiln-init: $ki"
done
[ $status = 0 ] || echo "userdata-bench: a side did not reach its marker; consoles and scratch kept in $OUT" >&2
exit $status
