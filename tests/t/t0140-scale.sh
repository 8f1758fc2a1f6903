#!/bin/bash
# Large folders: 40,000 entries from a folder, 150,000 long names from a
# tarball.  Each builds, e2fsck -fn is clean, the folder is hash-indexed
# (a two-level tree for the 150,000), every name is there, and a name picked
# at random is found the way the kernel finds it: its hash (debugfs dx_hash,
# with the filesystem's hash seed) leads through the index to the leaf block
# that holds it (and so are the names on both sides of any hash collision
# split over two leaves).  Build times are printed as '#' lines, never
# asserted on.
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

# htree_lookup IMAGE DIR LEVELS NAME...: find each NAME in DIR as ext4's
# dx_probe does: hash it (the superblock's default hash and seed, debugfs
# dx_hash), take the last index entry whose hash is <= it at each level of
# `debugfs htree`, and expect NAME with that hash in the leaf block reached
# (or, past a hash collision split over two leaves, in the next ones that
# continue that hash, as ext4_htree_next_block does).  The names on both
# sides of each such split are looked up too.  LEVELS: the "Indirect levels"
# the index must have.
htree_lookup() {
	local img=$1 dir=$2 levels=$3 alg seed n
	shift 3
	alg=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Default directory hash: *//p') &&
	seed=$(dumpe2fs -h "$img" 2>/dev/null | sed -n 's/^Directory Hash Seed: *//p') &&
	for n in "$@"; do echo "dx_hash -h $alg -s $seed $n"; done >dx_hash.cmds &&
	debugfs -f dx_hash.cmds "$img" 2>/dev/null >dx_hash.out &&
	debugfs -R "htree $dir" "$img" 2>/dev/null >htree.out &&
	/usr/bin/python3 - "$levels" "$@" <<-\EOF
	import re, sys
	want_levels, names = int(sys.argv[1]), sys.argv[2:]
	hashes = dict((n, int(h, 16)) for n, h in re.findall(r"Hash of (\S+) is (0x[0-9a-f]+)", open("dx_hash.out").read()))
	assert sorted(hashes) == sorted(names), "dx_hash said: %r" % open("dx_hash.out").read()
	lines = open("htree.out").read().split("\n")
	levels = int(re.search(r"Indirect levels: (\d+)", "\n".join(lines[:10])).group(1))
	assert levels == want_levels, "Indirect levels: %d, want %d" % (levels, want_levels)
	# "(**)": the hash's low bit, set where a run of equal hashes goes on
	# from the block before.
	entry = re.compile(r"^Entry #\d+: Hash (0x[0-9a-f]+)(?: \(\*\*\))?, block (\d+)$")
	# Index nodes: the root, then each interior block (its "Entry" line in
	# the parent's walk is followed by its own "Number of entries" header);
	# leaves: "Reading directory block N" and their entries.
	def entries(i):
	    ents = []
	    while not lines[i].startswith("Entry #"):
	        i += 1
	    while i < len(lines) and lines[i].startswith("Entry #"):
	        e = entry.match(lines[i])
	        assert e, "cannot read %r" % lines[i]
	        ents.append((int(e.group(1), 16), int(e.group(2))))
	        i += 1
	    return ents, i
	nodes, leaves, order, cur = {}, {}, [], None
	nodes["root"], i = entries(0)
	while i < len(lines):
	    l = lines[i]
	    mm = entry.match(l)
	    if mm and i + 1 < len(lines) and lines[i + 1].startswith("Number of entries"):
	        nodes[int(mm.group(2))], i = entries(i + 1)
	        continue
	    r = re.match(r"^Reading directory block (\d+), phys \d+$", l)
	    if r:
	        cur = leaves.setdefault(int(r.group(1)), {})
	        order.append(int(r.group(1)))
	    elif cur is not None:
	        # "INO 0xHASH-MINOR (RECLEN) NAME   ", as many as fit 80 columns
	        for ino, eh, en in re.findall(r"(\d+) 0x([0-9a-f]{8})-[0-9a-f]{8} \(\d+\) (\S+)   ", l):
	            cur[en] = int(eh, 16)
	    i += 1
	# Every leaf in hash order with the hash its index entry starts at.
	flat = []
	for h0, b in nodes["root"]:
	    if levels:
	        flat += [(h0 if k == 0 else eh, eb) for k, (eh, eb) in enumerate(nodes[b])]
	    else:
	        flat.append((h0, b))
	assert [b for h0, b in flat] == order, "index and leaves disagree"
	def probe(ents, h):
	    blk = ents[0][1]
	    for eh, eb in ents[1:]:
	        if eh > h:
	            break
	        blk = eb
	    return blk
	def lookup(name, h):
	    path = [probe(nodes["root"], h)]
	    for _ in range(levels):
	        path.append(probe(nodes[path[-1]], h))
	    k = order.index(path[-1])
	    while leaves[order[k]].get(name) != h:
	        k += 1
	        assert k < len(flat) and flat[k][0] & ~1 == h and flat[k][0] & 1, \
	            "%s (hash %#x) not in leaf block %d nor in a continuation" % (name, h, path[-1])
	        path.append(order[k])
	    return path
	for name in names:
	    print("found %s, hash %#x, via blocks %s" % (name, hashes[name], " -> ".join(map(str, lookup(name, hashes[name])))))
	splits = [k for k in range(1, len(flat)) if flat[k][0] & 1]
	for k in splits:
	    for blk in order[k - 1], order[k]:
	        for name, h in leaves[blk].items():
	            if h == flat[k][0] & ~1:
	                lookup(name, h)
	print("%d index nodes, %d leaves, %d names, %d leaves continuing a hash collision (names on both sides found)" %
	      (len(nodes), len(leaves), sum(map(len, leaves.values())), len(splits)))
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

test_expect_success 'the folder builds (-t none); e2fsck -fn clean' '
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
	htree_lookup big.img /dir 0 "$pick" file-number-000001.conf link-1000 folder-0001 &&
	debugfs -R "stat /dir/$pick" big.img 2>/dev/null | grep -q "^Inode: "
'

# 100-byte names: the longest a plain ustar header holds (no pax record
# per entry: 512 bytes each, 77 MB of tar, 0.5 MB compressed).  ~108 bytes a
# directory entry, 37 to a block: ~4,000 leaf blocks, more than one index
# block (507 entries) can point to, so the index has two levels.
test_expect_success '150,000 long names in a tarball (python tarfile)' '
	/usr/bin/python3 - <<-\EOF &&
	import subprocess, tarfile
	# tarfile makes each header; only the name and checksum change from one
	# to the next, so they are patched into the first (8x faster than a
	# TarInfo per entry).
	def header(name):
	    f = tarfile.TarInfo(name); f.mode = 0o644; f.mtime = 1700000000
	    return f.tobuf(tarfile.USTAR_FORMAT)
	n0 = ("%06d-" % 0).ljust(100, "a")
	tmpl = bytearray(header("long/" + n0))
	assert tmpl[0:100] == n0.encode() and tmpl[345:350] == b"long\0"
	z = subprocess.Popen(["zstd", "-q", "-1", "-f", "-o", "long.tar.zst"], stdin=subprocess.PIPE)
	with tarfile.open(fileobj=z.stdin, mode="w|", format=tarfile.USTAR_FORMAT) as t:
	    d = tarfile.TarInfo("long"); d.type = tarfile.DIRTYPE; d.mode = 0o755; d.mtime = 1700000000
	    t.addfile(d)
	    names = []
	    for i in range(150000):
	        n = ("%06d-" % i).ljust(100, "abcdefghijklmnopqrstuvwxyz"[i % 26])
	        h = tmpl
	        h[0:100] = n.encode()
	        h[148:156] = b"        "
	        h[148:156] = b"%06o\0 " % sum(h)
	        if i == 7:
	            assert bytes(h) == header("long/" + n)
	        t.fileobj.write(bytes(h))
	        t.offset += 512
	        names.append(n + "\n")
	open("long.names", "w").write("".join(names))
	z.stdin.close()
	assert z.wait() == 0
	EOF
	tar -tf long.tar.zst | sed -n "2p;\$p"
'

test_expect_success 'the tarball builds (-t none); e2fsck -fn clean' '
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
	htree_lookup long.img /long 1 "$pick" "$(head -n 1 long.names)" "$(tail -n 1 long.names)"
'

test_done
