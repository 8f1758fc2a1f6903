#!/bin/bash
# Large folders: 40,000 entries from a folder, 150,000 long names from a
# tarball.  Each builds, e2fsck -fn is clean, the folder is hash-indexed
# (a two-level tree for the 150,000), every name is there, and a name picked
# at random is found the way the kernel finds it: its hash (debugfs dx_hash,
# with the filesystem's hash seed) leads through the index to the leaf block
# that holds it.  Build times are printed as '#' lines, never asserted on.
. "$(dirname "$0")/../lib/test-lib.sh"

test_have_prereq KILN || skip_all "kiln is not built (make)"
test_have_prereq E2FSPROGS || skip_all "needs e2fsprogs"
test_have_prereq PYTHON3 || skip_all "needs /usr/bin/python3"
need_cmd zstd

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

fsck_clean() {
	e2fsck -fn "$1" >"$1.fsck" 2>&1 || { cat "$1.fsck"; return 1; }
}

# image_names IMAGE DIR: the names in DIR (not . and .., nor the empty
# inode-0 entries that hold interior index blocks), sorted, one a line.
image_names() {
	debugfs -R "ls -p $2" "$1" 2>/dev/null |
		awk -F/ 'NF >= 7 && $2 != 0 && $6 != "." && $6 != ".." {print $6}' | sort
}

# htree_lookup IMAGE DIR NAME [LEVELS]: find NAME in DIR as ext4's dx_probe
# does: hash it (the superblock's default hash and seed), take the last index
# entry whose hash is <= it at each level of `debugfs htree`, and expect NAME
# with that hash in the leaf block reached.  LEVELS: the expected
# "Indirect levels".
htree_lookup() {
	local img=$1 dir=$2 name=$3 levels=${4:-0} alg seed
	alg=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Default directory hash: *//p') &&
	seed=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Directory Hash Seed: *//p') &&
	debugfs -R "dx_hash -h $alg -s $seed $name" "$img" 2>/dev/null >dx_hash.out &&
	debugfs -R "htree $dir" "$img" 2>/dev/null >htree.out &&
	/usr/bin/python3 - "$name" "$levels" <<-\EOF
	import re, sys
	name, want_levels = sys.argv[1], int(sys.argv[2])
	m = re.search(r"Hash of (.*) is (0x[0-9a-f]+)", open("dx_hash.out").read())
	assert m and m.group(1) == name, "dx_hash said: %r" % open("dx_hash.out").read()
	h = int(m.group(2), 16)
	lines = open("htree.out").read().split("\n")
	levels = int(re.search(r"Indirect levels: (\d+)", "\n".join(lines[:10])).group(1))
	assert levels == want_levels, "Indirect levels: %d, want %d" % (levels, want_levels)
	entry = re.compile(r"^Entry #\d+: Hash (0x[0-9a-f]+), block (\d+)$")
	# Index nodes: the root, then each interior block (its "Entry" line in
	# the parent's walk is followed by its own "Number of entries" header).
	nodes, leaves, cur = {}, {}, None
	i = 0
	root = []
	while not lines[i].startswith("Entry #"):
	    i += 1
	while i < len(lines) and lines[i].startswith("Entry #"):
	    mm = entry.match(lines[i]); root.append((int(mm.group(1), 16), int(mm.group(2)))); i += 1
	nodes["root"] = root
	while i < len(lines):
	    l = lines[i]
	    mm = entry.match(l)
	    if mm and i + 1 < len(lines) and lines[i + 1].startswith("Number of entries"):
	        blk, ents = int(mm.group(2)), []
	        i += 1
	        while i < len(lines) and not lines[i].startswith("Entry #"):
	            i += 1
	        while i < len(lines) and lines[i].startswith("Entry #"):
	            e = entry.match(lines[i]); ents.append((int(e.group(1), 16), int(e.group(2)))); i += 1
	        nodes[blk] = ents
	        continue
	    r = re.match(r"^Reading directory block (\d+), phys \d+$", l)
	    if r:
	        cur = leaves.setdefault(int(r.group(1)), {})
	    elif cur is not None:
	        # "INO 0xHASH-MINOR (RECLEN) NAME   ", as many as fit 80 columns
	        for ino, eh, en in re.findall(r"(\d+) 0x([0-9a-f]{8})-[0-9a-f]{8} \(\d+\) (\S+)   ", l):
	            cur[en] = int(eh, 16)
	    i += 1
	def probe(ents):
	    blk = ents[0][1]
	    for eh, eb in ents[1:]:
	        if eh > h:
	            break
	        blk = eb
	    return blk
	blk = probe(nodes["root"])
	path = [blk]
	for _ in range(levels):
	    blk = probe(nodes[blk])
	    path.append(blk)
	assert blk in leaves, "block %d is not a leaf" % blk
	assert leaves[blk].get(name) == h, "%s (hash %#x) not in leaf block %d" % (name, h, blk)
	print("found %s, hash %#x, via blocks %s; %d index nodes, %d leaves" %
	      (name, h, " -> ".join(map(str, path)), len(nodes), len(leaves)))
	EOF
}

test_expect_success 'a folder with 40,000 entries (38,000 files, 1,000 folders, 1,000 symlinks)' '
	/usr/bin/python3 - <<-\EOF &&
	import os
	os.makedirs("big/dir")
	os.chdir("big/dir")
	for i in range(1, 38001):
	    open("file-number-%06d.conf" % i, "w").close()
	for i in range(1, 1001):
	    os.mkdir("folder-%04d" % i)
	    os.symlink("folder-%04d" % i, "link-%04d" % i)
	os.chdir("../..")
	open("dir.names", "w").write("".join(n + "\n" for n in sorted(os.listdir("big/dir"))))
	EOF
	[ "$(wc -l <dir.names)" -eq 40000 ]
'

test_expect_success 'it builds; e2fsck -fn clean' '
	start=$(now_ms) &&
	"$KILN" build -t none -r big -o big.img >big.out &&
	build_ms=$(( $(now_ms) - start )) &&
	cat big.out &&
	fsck_clean big.img
'
diag "kiln build of the 40,000-entry folder: ${build_ms:-?} ms"

test_expect_success 'the folder is hash-indexed (debugfs htree), 1,002 links' '
	debugfs -R "htree /dir" big.img 2>/dev/null >htree-dir.out &&
	grep -q "^Root node dump:" htree-dir.out &&
	grep -q "Indirect levels: 0" htree-dir.out &&
	debugfs -R "stat /dir" big.img 2>/dev/null >stat-dir.out &&
	flags=$(sed -n "s/.*Flags: \(0x[0-9a-f]*\).*/\1/p" stat-dir.out) &&
	echo "flags $flags" && [ $(( flags & 0x1000 )) -ne 0 ] &&
	grep -q "Links: 1002 " stat-dir.out
'

test_expect_success 'every name is there (debugfs ls)' '
	image_names big.img /dir >img.names &&
	echo "$(wc -l <img.names) names" &&
	test_cmp dir.names img.names
'

test_expect_success 'a random name is found through the index' '
	pick=$(sed -n "$(( (RANDOM * 32768 + RANDOM) % 40000 + 1 ))p" dir.names) &&
	htree_lookup big.img /dir "$pick" 0 &&
	htree_lookup big.img /dir file-number-000001.conf 0 &&
	htree_lookup big.img /dir link-1000 0 &&
	debugfs -R "stat /dir/$pick" big.img 2>/dev/null | grep -q "^Inode: "
'

# 100-byte names: the longest a plain ustar header holds (no pax record
# per entry: 512 bytes each, 77 MB of tar, 0.5 MB compressed).  ~108 bytes a
# directory entry, 37 to a block: ~4,000 leaf blocks, more than one index
# block (507 entries) can point to, so the index has two levels.
test_expect_success '150,000 long names in a tarball (python tarfile)' '
	/usr/bin/python3 - <<-\EOF
	import subprocess, tarfile
	z = subprocess.Popen(["zstd", "-q", "-1", "-f", "-o", "long.tar.zst"], stdin=subprocess.PIPE)
	with tarfile.open(fileobj=z.stdin, mode="w|", format=tarfile.USTAR_FORMAT) as t:
	    d = tarfile.TarInfo("long"); d.type = tarfile.DIRTYPE; d.mode = 0o755; d.mtime = 1700000000
	    t.addfile(d)
	    names = open("long.names", "w")
	    for i in range(150000):
	        n = ("%06d-" % i).ljust(100, "abcdefghijklmnopqrstuvwxyz"[i % 26])
	        f = tarfile.TarInfo("long/" + n); f.mode = 0o644; f.mtime = 1700000000
	        t.addfile(f)
	        names.write(n + "\n")
	    names.close()
	z.stdin.close()
	assert z.wait() == 0
	EOF
'

test_expect_success 'it builds; e2fsck -fn clean' '
	start=$(now_ms) &&
	"$KILN" build -t none -r long.tar.zst -o long.img >long.out &&
	long_ms=$(( $(now_ms) - start )) &&
	cat long.out &&
	fsck_clean long.img
'
diag "kiln build of 150,000 long names from a tarball: ${long_ms:-?} ms"

test_expect_success 'a two-level hash index (Indirect levels: 1), every name there' '
	debugfs -R "htree /long" long.img 2>/dev/null >htree-long.out &&
	grep -q "Indirect levels: 1" htree-long.out &&
	image_names long.img /long >img-long.names &&
	sort long.names >long.sorted &&
	echo "$(wc -l <img-long.names) names" &&
	test_cmp long.sorted img-long.names
'

test_expect_success 'a random long name is found through both index levels' '
	pick=$(sed -n "$(( (RANDOM * 32768 + RANDOM) % 150000 + 1 ))p" long.names) &&
	htree_lookup long.img /long "$pick" 1 &&
	htree_lookup long.img /long "$(head -n 1 long.names)" 1 &&
	htree_lookup long.img /long "$(tail -n 1 long.names)" 1
'

test_done
