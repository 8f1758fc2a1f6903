#!/bin/bash
# check-layering.sh [ROOT] — keep docs/ARCHITECTURE.md true: which folder may
# include which, what the pure parsers may touch, and who may print or exit.
# Greps #include lines and calls (comments blanked out first); prints TAP.
#
# Quoted includes are resolved the way the compiler sees them: the including
# file's folder first, then the Makefile's -I folders in order.  An include
# that resolves nowhere is left to the compiler to report.
set -u
export LC_ALL=C

ROOT=${1:-$(dirname "$0")/..}
cd "$ROOT" || { echo "Bail out! cannot cd to '$ROOT'"; exit 1; }

n=0
status=0

# The -I folders of KILN_CPPFLAGS, in order.
mapfile -t IDIRS < <(sed -n 's/^KILN_CPPFLAGS[[:space:]]*:*=//p' Makefile 2>/dev/null |
	grep -oE '(^|[[:space:]])-I[^[:space:]]+' | sed -E 's/^[[:space:]]*-I//')
[ ${#IDIRS[@]} -gt 0 ] || IDIRS=(common builder)

# Sources of a folder (recursive), one per line, sorted.
sources() {
	[ -d "$1" ] || return 0
	find "$1" -type f \( -name '*.c' -o -name '*.h' \) | sort
}

# The file with comments blanked out (line numbers kept, strings untouched),
# so a comment never counts as code.
code() {
	perl -0777 -pe 's{("(?:\\.|[^"\\\n])*"|\x27(?:\\.|[^\x27\\\n])*\x27)|/\*.*?\*/|//[^\n]*}{defined $1 ? $1 : ($& =~ tr/\n//cdr)}gse' "$1"
}

# "q NAME" or "a NAME" for each quoted or angle include of a file.
includes() {
	code "$1" | sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/q \1/p;
	                   s/^[[:space:]]*#[[:space:]]*include[[:space:]]*<([^>]+)>.*/a \1/p'
}

# Where a quoted include of FILE lands, as a path relative to ROOT.
resolve() {
	local file=$1 name=$2 dir cand
	dir=$(dirname "$file")
	for cand in "$dir/$name" "${IDIRS[@]/%//$name}"; do
		if [ -f "$cand" ]; then
			realpath -m --relative-to=. "$cand"
			return 0
		fi
	done
	return 1
}

# report NAME VIOLATIONS: one TAP line; violations go out as comments.
report() {
	n=$((n + 1))
	if [ -z "$2" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		printf '%s\n' "$2" | sed 's/^/#   /'
		status=1
	fi
}

# check_quoted FILES... -- ALLOWED...: every quoted include of FILES must land
# in one of ALLOWED (a folder "x/" or a single file "x/y.h").
check_quoted() {
	local files=() f kind name to ok a bad=""
	while [ "$1" != -- ]; do files+=("$1"); shift; done
	shift
	for f in "${files[@]}"; do
		[ -f "$f" ] || continue
		while read -r kind name; do
			[ "$kind" = q ] || continue
			to=$(resolve "$f" "$name") || continue
			ok=
			for a in "$@"; do
				case $a in
				*/) [[ $to == "$a"* ]] && ok=1 ;;
				*) [ "$to" = "$a" ] && ok=1 ;;
				esac
			done
			[ -n "$ok" ] || bad+="$f: #include \"$name\" ($to)"$'\n'
		done < <(includes "$f")
	done
	printf '%s' "${bad%$'\n'}"
}

# check_angle FILES... -- REGEX: no system include of FILES may match REGEX.
check_angle() {
	local files=() f kind name bad=""
	while [ "$1" != -- ]; do files+=("$1"); shift; done
	local re=$2
	for f in "${files[@]}"; do
		[ -f "$f" ] || continue
		while read -r kind name; do
			[ "$kind" = a ] || continue
			[[ $name =~ $re ]] && bad+="$f: #include <$name>"$'\n'
		done < <(includes "$f")
	done
	printf '%s' "${bad%$'\n'}"
}

# check_calls FILES... -- REGEX: no code line of FILES may match REGEX.
check_calls() {
	local files=() f bad=""
	while [ "$1" != -- ]; do files+=("$1"); shift; done
	for f in "${files[@]}"; do
		[ -f "$f" ] || continue
		bad+=$(code "$f" | grep -nE "$2" | sed "s|^|$f:|")
		[ -n "$bad" ] && [ "${bad: -1}" != $'\n' ] && bad+=$'\n'
	done
	printf '%s' "${bad%$'\n'}"
}

# Pure code may use other pure code and common/util.h, nothing else of ours.
check_parser_includes() {
	local f kind name bad=""
	for f in "${PURE[@]}"; do
		[ -f "$f" ] || continue
		while read -r kind name; do
			[ "$kind" = q ] || continue
			case $name in
			spec.h | tables.h | json.h | util.h | http.h | userdata.h | cloudconfig.h | yamltree.h | netcfg.h | netrender.h) ;;
			*) bad+="$f: #include \"$name\""$'\n' ;;
			esac
		done < <(includes "$f")
	done
	printf '%s' "${bad%$'\n'}"
}

# boot/ sits beside builder/'s I/O modules: it may use builder/ headers, but
# not the orchestrator above it (build.h, and metadata.h, which is build.h's).
check_boot() {
	check_quoted "${BOOT[@]}" -- boot/ common/ | awk '
		/\(builder\/(build|metadata)\.h\)$/ { print; next }
		/\(builder\/[^)]*\.h\)$/ { next }
		{ print }'
}

# Libraries that are not libc or OpenSSL.
THIRD_PARTY='^(ext2fs|et|blkid|uuid|libmount|libfdisk)/|^(archive|archive_entry|yaml|zstd|zstd_errors|zdict|zlib|lzma|bzlib|com_err)\.h$'
# Libraries that exist only on the build host, never in the static kiln-init
# (but for the one exception below).
HOST_ONLY='^(ext2fs|et)/|^(archive|archive_entry|com_err)\.h$'
# libext2fs (with libcom_err) is linked statically into kiln-init for one
# file, cloud-init-lite/mkfs.c: the boot stage makes the instance store's
# ext4 itself, so the image needs no mkfs.ext4 (Debian 13's minbase has none).
EXT2FS_IN_INIT=cloud-init-lite/mkfs.c
# Headers that mean file, folder or device I/O.
IO_HEADERS='^(fcntl|unistd|dirent|ftw|fts|poll|aio|termios)\.h$|^sys/(stat|statfs|statvfs|xattr|mman|ioctl|mount|socket|sendfile|uio|file)\.h$|^linux/|^(ext2fs|et|blkid)/|^(archive|archive_entry|zstd|zlib)\.h$'
# zlib means I/O only through its gz* file API; inflate/deflate over buffers
# is pure (gzip'd user data, write_files content), and so is libyaml's parser.
IO_HEADERS_PURE=${IO_HEADERS/|zlib/}
GZ_FILE_API='(^|[^[:alnum:]_.>])gz(open|open64|dopen|read|write|fread|fwrite|printf|puts|gets|putc|getc|close|close_r|close_w|seek|seek64|tell|tell64|rewind|flush|buffer|setparams|offset|eof)[[:space:]]*\('
# Printing to the terminal and leaving the process: the front end's job.
PRINT_EXIT='(^|[^[:alnum:]_.>])(printf|vprintf|puts|putchar|perror|err|errx|warn|warnx|exit|_exit|_Exit|abort)[[:space:]]*\(|(^|[^[:alnum:]_.>])(fprintf|vfprintf|fputs|fputc|putc|fflush)[[:space:]]*\([^;]*\b(stdout|stderr)\b'
EXIT='(^|[^[:alnum:]_.>])(exit|_exit|_Exit|abort)[[:space:]]*\('
# Starting another program: builder/exec.c's job.
RUN='(^|[^[:alnum:]_.>])(fork|vfork|execl|execlp|execle|execv|execvp|execvpe|execve|posix_spawn|posix_spawnp|system|popen)[[:space:]]*\('

mapfile -t COMMON < <(sources common)
# The front end: kiln.c and one builder/cmd_NAME.c per subcommand.
FRONT_RE='builder/kiln\.c|builder/cmd_[a-z_]+\.[ch]'
mapfile -t FRONT < <(sources builder | grep -xE "$FRONT_RE")
mapfile -t BUILDER_LIB < <(sources builder | grep -vxE "$FRONT_RE")
mapfile -t BUILDER_LOW < <(sources builder | grep -vxE "$FRONT_RE|builder/build\.c")
mapfile -t BUILDER_MID < <(sources builder | grep -vxE "$FRONT_RE|builder/(build|metadata)\.[ch]")
mapfile -t BOOT < <(sources boot)
mapfile -t CIL < <(sources cloud-init-lite)
mapfile -t INITRAMFS < <(sources initramfs)
PURE=(builder/spec.c builder/spec.h builder/tables.c builder/tables.h builder/json.c builder/json.h boot/http.c boot/http.h
	cloud-init-lite/userdata.c cloud-init-lite/userdata.h cloud-init-lite/cloudconfig.c cloud-init-lite/cloudconfig.h
	cloud-init-lite/yamltree.c cloud-init-lite/yamltree.h cloud-init-lite/netcfg.c cloud-init-lite/netcfg.h
	cloud-init-lite/netrender.c cloud-init-lite/netrender.h)
TOP=(builder/build.c "${FRONT[@]}")

report "common/ includes only common/" "$(check_quoted "${COMMON[@]}" -- common/)"
report "common/ uses only libc and OpenSSL" "$(check_angle "${COMMON[@]}" -- "$THIRD_PARTY")"
report "common/ never exits" "$(check_calls "${COMMON[@]}" -- "$EXIT")"
report "builder/ below build.c includes only builder/ and common/" \
	"$(check_quoted "${BUILDER_LOW[@]}" -- builder/ common/)"
report "only build.c, kiln.c and metadata.c use build.h and metadata.h" \
	"$(check_quoted "${BUILDER_MID[@]}" "${BOOT[@]}" -- common/ |
	   grep -E '\(builder/(build|metadata)\.h\)$')"
report "build.c and the front end include only builder/, common/, boot/, initramfs/, cloud-init-lite/" \
	"$(check_quoted "${TOP[@]}" -- builder/ common/ boot/ initramfs/ cloud-init-lite/)"
report "pure code (spec, tables, json, http, userdata, cloudconfig) includes no I/O headers (zlib, yaml in memory only)" \
	"$(check_angle "${PURE[@]}" -- "$IO_HEADERS_PURE")"
report "pure code uses none of zlib's gz* file functions" "$(check_calls "${PURE[@]}" -- "$GZ_FILE_API")"
report "pure code never prints or exits" "$(check_calls "${PURE[@]}" -- "$PRINT_EXIT")"
report "pure code includes only spec.h, tables.h, json.h, http.h, userdata.h, cloudconfig.h, yamltree.h, netcfg.h, netrender.h, util.h" "$(check_parser_includes)"
report "only the front end (kiln.c, cmd_*.c) prints or exits in builder/" "$(check_calls "${BUILDER_LIB[@]}" -- "$PRINT_EXIT")"
report "boot/ includes only boot/, common/ and builder/ below build.c" "$(check_boot)"
report "only builder/exec.c runs programs" \
	"$(check_calls "${BUILDER_LIB[@]/builder\/exec.c}" "${BOOT[@]}" -- "$RUN")"
report "boot/ never prints or exits" "$(check_calls "${BOOT[@]}" -- "$PRINT_EXIT")"
report "cloud-init-lite/ includes only cloud-init-lite/ and common/" \
	"$(check_quoted "${CIL[@]}" -- cloud-init-lite/ common/)"
report "initramfs/ includes only initramfs/, cloud-init-lite/, common/, builder/disk.h" \
	"$(check_quoted "${INITRAMFS[@]}" -- initramfs/ cloud-init-lite/ common/ builder/disk.h)"
report "kiln-init's code uses no host-only library (libarchive; libext2fs only in $EXT2FS_IN_INIT)" \
	"$(printf '%s\n' "$(check_angle "${INITRAMFS[@]}" "${CIL[@]/$EXT2FS_IN_INIT}" -- "$HOST_ONLY")" \
		"$(check_angle "$EXT2FS_IN_INIT" -- '^(archive|archive_entry)\.h$')" | sed '/^$/d')"

echo "1..$n"
exit $status
