#!/usr/bin/python3
"""verify-image.py — prove that an ext4 image holds exactly a source tree.

usage: verify-image.py SRC_DIR IMAGE [--offset BYTES] [--ignore PATH ...]
                       [--expect-absent PATH ...] [--clamp EPOCH]
                       [--no-ctime] [--no-atime] [--no-fsck] [--max-report N]

Every path under SRC_DIR (walked with lstat, symlinks never followed) must be
in the image with the same type, permission bits (setuid/setgid/sticky too),
uid, gid, mtime/atime/ctime to the nanosecond, size, symlink target, device
major/minor, xattrs (names and values, POSIX ACLs included), hard-link
grouping and link count, and regular-file content.  Every path in the image
must be in the source, except a /lost+found directory when the source has
none.  Then `e2fsck -fn` must find the image clean.  crtime is not compared
(a source has none to give).

  links       a directory: 2 + its subdirectories in the image (1 past
              65000, as the kernel does); anything else: the number of names
              the inode has in SRC_DIR (not st_nlink, which counts names
              outside the tree too).
  hardlinks   the names of one source inode are the names of one image inode.
  holes       no image block lies wholly inside a hole of the source file
              (its SEEK_DATA/SEEK_HOLE map); data that is all zeros may be
              stored as a hole.
  content     compared byte for byte (debugfs `dump`); a file with no blocks
              in the image is not dumped, its source data must be zeros.
  atime       The source is lstat'ed before anything reads it and read with
              O_NOATIME, so this script moves no atime (symlinks aside, see
              --no-atime).  A builder that reads without O_NOATIME (mke2fs -d
              does) moves the source's atimes after taking them: then the
              image holds the older value and atime mismatches; verify
              against a fresh tree or pass --no-atime.

Output, one line per mismatch, then a summary:
    MISMATCH /path: field: image=X source=Y
    # verify-image: ok: 3150 source paths, 3151 image paths, ... e2fsck clean
Missing and extra paths are field "presence" (a missing or extra directory is
reported once, not per child); "# note:" lines are information only (a
multi-block directory without an htree index).  Exit 0 when everything
matches, 1 on any mismatch, 2 when it cannot run.

How it reads the image: e2fsprogs' debugfs only, in a handful of
`debugfs -f CMDFILE IMAGE` runs (one per directory depth to list the tree by
inode number, then one for `stat` of every inode, one for `ea_get` of every
xattr, then `dump`s of file contents batched by size, 256 MiB of temporary
space at most).  Inodes are named `<N>`, so no file name is ever quoted for
debugfs: names with spaces, quotes and newlines all work.  About 5 s for a
Debian minbase rootfs (11k paths, 320 MiB).

Options:
  --offset BYTES    the filesystem starts BYTES into IMAGE (a partition in a
                    disk image).  Passed to debugfs and e2fsck as
                    IMAGE?offset=BYTES (both go through ext2fs_open, which
                    takes unix_io options after '?'); no loop device, no root
                    needed.  An IMAGE whose name holds '?' is reached through
                    a symlink in a temporary folder.
  --ignore PATH     leave PATH and everything below it out, on both sides
                    (PATH relative to the root; a leading / is optional).
  --expect-absent PATH
                    PATH (and below) must NOT be in the image, whether or not
                    the source has it (a builder that scrubs machine-id, host
                    keys, ...).
  --clamp EPOCH     timestamps in the image must equal min(source, EPOCH)
                    (SOURCE_DATE_EPOCH-style clamping; nanoseconds become 0
                    where clamped).
  --no-ctime        do not compare ctime (a tarball carries none; userspace
                    can never set one).
  --no-atime        do not compare atime at all.  Symlink atimes are never
                    compared: readlink(2) updates them under relatime and no
                    flag prevents it, so every reader (tar, the builder, this
                    script) changes them.
  --no-fsck         skip e2fsck -fn.
  --max-report N    print at most N mismatch lines (default 500); all are
                    counted.

Notes on what debugfs shows:
  * `ea_list`/`stat` show system.posix_acl_* in ext4's on-disk form (version
    1, 4-byte entries for USER_OBJ/GROUP_OBJ/MASK/OTHER, 8-byte ones for named
    USER/GROUP); plain `ea_get` converts to the POSIX xattr form (version 2,
    8-byte entries) but writes id 0 where the kernel writes 0xffffffff.  We
    read the raw on-disk value (`ea_get -r`), check it is valid ext4 ACL form,
    and compare the decoded entries (tag, perm, id for named entries) with the
    decoded os.getxattr() value.
  * stat hides values of 40 bytes or more and its quoting is ambiguous, so
    every value is read again with `ea_get -x` (hex).
  * system.data (the inline-data xattr) is storage, not a file xattr: skipped.
  * `dump` of an inline-data file writes the whole inline area (60+ bytes,
    zero padded) and stops there even when i_size is larger: only the first
    i_size bytes are compared, and a short inline dump is zero-extended.
  * `ls -p` of an inline-data directory lists its free space as inode 0.
  * Timestamps are decoded from the raw fields: seconds = (int32)lo +
    ((extra & 3) << 32), nanoseconds = extra >> 2.
"""

import argparse
import collections
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
import tempfile

ROOT_INO = 2
DUMP_BATCH_BYTES = 256 << 20
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = 1, 2, 4, 8, 0x10, 0x20
ACL_NAMES = {ACL_USER_OBJ: "user", ACL_USER: "user", ACL_GROUP_OBJ: "group",
             ACL_GROUP: "group", ACL_MASK: "mask", ACL_OTHER: "other"}
ACL_XATTRS = (b"system.posix_acl_access", b"system.posix_acl_default")
EXT4_LINK_MAX = 65000

DEBUGFS_TYPES = {
    b"regular": stat.S_IFREG, b"directory": stat.S_IFDIR, b"symlink": stat.S_IFLNK,
    b"character special": stat.S_IFCHR, b"block special": stat.S_IFBLK,
    b"FIFO": stat.S_IFIFO, b"socket": stat.S_IFSOCK, b"bad type": 0,
}
TYPE_NAMES = {stat.S_IFREG: "file", stat.S_IFDIR: "directory", stat.S_IFLNK: "symlink",
              stat.S_IFCHR: "char-device", stat.S_IFBLK: "block-device",
              stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket", 0: "bad-type"}


class Fatal(Exception):
    pass


# ---------------------------------------------------------------- formatting

def show_path(rel):
    """Printable form of a relative path (bytes): '/a/b', control bytes escaped."""
    s = ("/" + rel.decode("utf-8", "backslashreplace")) if rel else "/"
    out = []
    for ch in s:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, "\\x%02x" % ord(ch)))
        else:
            out.append(ch)
    return "".join(out)


def show_bytes(b, limit=48):
    if b is None:
        return "absent"
    printable = all(32 <= c < 127 for c in b.rstrip(b"\0"))
    if printable and b:
        s = repr(b[:limit])[1:]
    else:
        s = "0x" + b[:limit].hex()
    if len(b) > limit:
        s += "...(%d bytes)" % len(b)
    return s


def show_time(t):
    """(sec, ns) with 0 <= ns < 1e9 as a decimal: (-2, 500000000) is -1.500000000."""
    total = t[0] * 1000000000 + t[1]
    return ("-" if total < 0 else "") + "%d.%09d" % divmod(abs(total), 1000000000)


def show_acl(entries):
    parts = []
    for tag, perm, ident in entries:
        p = ("r" if perm & 4 else "-") + ("w" if perm & 2 else "-") + ("x" if perm & 1 else "-")
        if perm & ~7:
            p += "+0x%x" % (perm & ~7)
        name = ACL_NAMES.get(tag, "tag0x%x" % tag)
        parts.append("%s:%s:%s" % (name, "" if ident is None else ident, p))
    return ",".join(parts)


# ---------------------------------------------------------------- ACLs

def parse_posix_acl(v):
    """POSIX ACL xattr (what getxattr returns): version 2, 8-byte entries."""
    if len(v) < 4 or (len(v) - 4) % 8:
        return None
    if struct.unpack_from("<I", v, 0)[0] != 2:
        return None
    out = []
    for off in range(4, len(v), 8):
        tag, perm, ident = struct.unpack_from("<HHI", v, off)
        out.append((tag, perm, ident if tag in (ACL_USER, ACL_GROUP) else None))
    return out


def parse_ext4_acl(v):
    """ext4 on-disk ACL: version 1, short entries for the *_OBJ/MASK/OTHER tags."""
    if len(v) < 4 or struct.unpack_from("<I", v, 0)[0] != 1:
        return None
    out, off = [], 4
    while off < len(v):
        if off + 4 > len(v):
            return None
        tag, perm = struct.unpack_from("<HH", v, off)
        if tag in (ACL_USER, ACL_GROUP):
            if off + 8 > len(v):
                return None
            out.append((tag, perm, struct.unpack_from("<I", v, off + 4)[0]))
            off += 8
        elif tag in (ACL_USER_OBJ, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER):
            out.append((tag, perm, None))
            off += 4
        else:
            return None
    return out


# ---------------------------------------------------------------- source side

class Src:
    __slots__ = ("rel", "st", "xattrs", "target", "data", "children")


def open_noatime(path, flags):
    try:
        return os.open(path, flags | os.O_NOATIME | os.O_NOFOLLOW)
    except PermissionError:
        return os.open(path, flags | os.O_NOFOLLOW)


def data_segments(path, size):
    """[(start, end)] byte ranges holding data, per SEEK_DATA/SEEK_HOLE."""
    if size == 0:
        return []
    fd = open_noatime(path, os.O_RDONLY)
    try:
        segs, pos = [], 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as e:
                if e.errno == 6:  # ENXIO: no data after pos
                    break
                return [(0, size)]  # no SEEK_DATA support: all data
            end = os.lseek(fd, start, os.SEEK_HOLE)
            segs.append((start, min(end, size)))
            pos = end
        return segs
    finally:
        os.close(fd)


def read_xattrs(path):
    out = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for n in names:
        try:
            out[os.fsencode(n)] = os.getxattr(path, n, follow_symlinks=False)
        except OSError:
            pass
    return out


def walk_source(root, excluded):
    """All paths under root; stat before anything that could move an atime."""
    rootb = os.fsencode(root)
    entries = {}
    stack = [b""]
    while stack:
        rel = stack.pop()
        full = os.path.join(rootb, rel) if rel else rootb
        e = Src()
        e.rel = rel
        e.st = os.lstat(full)
        e.xattrs = read_xattrs(full)
        e.target = None
        e.data = None
        e.children = []
        mode = e.st.st_mode
        if stat.S_ISDIR(mode):
            fd = open_noatime(full, os.O_RDONLY | os.O_DIRECTORY)
            try:
                names = sorted(os.fsencode(n) for n in os.listdir(fd))
            finally:
                os.close(fd)
            for n in names:
                child = rel + b"/" + n if rel else n
                if excluded(child):
                    continue
                e.children.append(n)
                stack.append(child)
        elif stat.S_ISLNK(mode):
            e.target = os.readlink(full)
        elif stat.S_ISREG(mode):
            e.data = data_segments(full, e.st.st_size)
        entries[rel] = e
    return entries


# ---------------------------------------------------------------- debugfs side

class Debugfs:
    def __init__(self, spec, tmp):
        self.spec = spec
        self.tmp = tmp
        self.runs = 0

    def run(self, cmds):
        """Run cmds in one debugfs process; return each command's stdout (bytes)."""
        if not cmds:
            return []
        self.runs += 1
        cmdfile = os.path.join(self.tmp, "cmds")
        errfile = os.path.join(self.tmp, "stderr")
        with open(cmdfile, "wb") as f:
            for c in cmds:
                if b"\n" in c or b"\r" in c or c.startswith(b"#"):
                    raise Fatal("internal: bad debugfs command %r" % c)
                f.write(c + b"\n")
        with open(errfile, "wb") as err:
            p = subprocess.run(["debugfs", "-f", cmdfile, self.spec], stdout=subprocess.PIPE,
                               stderr=err, env=dict(os.environ, LC_ALL="C"))
        out = p.stdout
        with open(errfile, "rb") as f:
            errtext = f.read()
        if b"Filesystem not open" in errtext or b"while trying to open" in errtext \
                or b"while opening filesystem" in errtext:
            raise Fatal("debugfs cannot open '%s': %s" % (
                self.spec, errtext.decode("utf-8", "replace").strip().splitlines()[-1]))
        # Split on the echo debugfs prints before each command.
        res, pos = [], 0
        marks = []
        for c in cmds:
            m = b"debugfs: " + c + b"\n"
            i = out.find(m, pos)
            if i < 0:
                raise Fatal("debugfs output lost track at command %r (exit %d): %s" % (
                    c, p.returncode, errtext.decode("utf-8", "replace")[-500:]))
            marks.append((i, i + len(m)))
            pos = i + len(m)
        for k, (start, body) in enumerate(marks):
            end = marks[k + 1][0] if k + 1 < len(marks) else len(out)
            res.append(out[body:end])
        return res


LSP_RE = re.compile(rb"/(\d+)/([0-7]{6})/(-?\d+)/(-?\d+)/([^/]*)/(\d*)/\n")


def parse_ls_p(out):
    """`ls -p` records: /ino/mode/uid/gid/name/size/ ; names may hold newlines."""
    recs, pos = [], 0
    while pos < len(out):
        if out[pos:pos + 1] == b"\n":  # blank line at the end
            pos += 1
            continue
        m = LSP_RE.match(out, pos)
        if not m:
            raise Fatal("cannot parse debugfs ls -p output at %r" % out[pos:pos + 80])
        recs.append((int(m.group(1)), int(m.group(2), 8), m.group(5)))
        pos = m.end()
    return recs


class Ino:
    __slots__ = ("ino", "mode", "flags", "uid", "gid", "size", "links", "blockcount",
                 "times", "rdev", "fastlink", "xattr_names", "extents", "xattrs",
                 "inline", "content")


STAT_HEAD = re.compile(rb"Inode: (\d+)\s+Type: (.+?)\s+Mode:\s+([0-7]+)\s+Flags: 0x([0-9a-fA-F]+)")
STAT_OWNER = re.compile(rb"User:\s+(-?\d+)\s+Group:\s+(-?\d+)(?:\s+Project:\s+-?\d+)?\s+Size: (\d+)")
STAT_LINKS = re.compile(rb"Links: (\d+)\s+Blockcount: (\d+)")
STAT_TIME = re.compile(rb"^\s*(ctime|atime|mtime|crtime): 0x([0-9a-fA-F]{8})(?::([0-9a-fA-F]{8}))? --", re.M)
STAT_DEV = re.compile(rb"major/minor number: (\d+):(\d+)")
STAT_XATTR = re.compile(rb"^  (.+?) \((\d+)\)(?: = .*)?$")
EXTENT_RE = re.compile(rb"\((\d+)(?:-(\d+))?(?:\[u\])?\):(\d+)(?:-(\d+))?")


def decode_time(lo, extra):
    sec = struct.unpack("<i", struct.pack("<I", lo))[0]
    if extra is None:
        return (sec, 0)
    return (sec + ((extra & 3) << 32), extra >> 2)


def unescape_debugfs(b):
    """Undo print_xattr_string's \\ooo escapes (a raw backslash is ambiguous)."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), b)


def parse_stat(out):
    h = STAT_HEAD.search(out)
    if not h:
        return None
    e = Ino()
    e.ino = int(h.group(1))
    e.mode = DEBUGFS_TYPES.get(h.group(2).strip(), 0) | int(h.group(3), 8)
    e.flags = int(h.group(4), 16)
    o = STAT_OWNER.search(out)
    e.uid, e.gid, e.size = int(o.group(1)) & 0xFFFFFFFF, int(o.group(2)) & 0xFFFFFFFF, int(o.group(3))
    lk = STAT_LINKS.search(out)
    e.links, e.blockcount = int(lk.group(1)), int(lk.group(2))
    e.times = {}
    for m in STAT_TIME.finditer(out):
        e.times[m.group(1).decode()] = decode_time(
            int(m.group(2), 16), int(m.group(3), 16) if m.group(3) else None)
    d = STAT_DEV.search(out)
    e.rdev = (int(d.group(1)), int(d.group(2))) if d else None
    e.fastlink = None
    i = out.find(b'Fast link dest: "')
    if i >= 0:
        start = i + len(b'Fast link dest: "')
        e.fastlink = out[start:start + e.size]
    e.xattr_names = []
    i = out.find(b"Extended attributes:\n")
    if i >= 0:
        for line in out[i + len(b"Extended attributes:\n"):].split(b"\n"):
            m = STAT_XATTR.match(line)
            if not m:
                break
            e.xattr_names.append((unescape_debugfs(m.group(1)), int(m.group(2))))
    e.extents = None
    # Leaf ranges "(LBLK[-LBLK][[u]]):PBLK[-PBLK]"; index blocks "(ETB0):N" and
    # indirect blocks "(IND):N" and the "TOTAL: N" line do not match.
    m = re.search(rb"^(EXTENTS|BLOCKS):\n(.*)", out, re.M | re.S)
    if m:
        e.extents = []
        for x in EXTENT_RE.finditer(m.group(2)):
            lo = int(x.group(1))
            hi = int(x.group(2)) if x.group(2) else lo
            e.extents.append((lo, hi))
    m = re.search(rb"Size of inline data: (\d+)", out)
    e.inline = int(m.group(1)) if m else None
    e.xattrs = {}
    e.content = None
    return e


def parse_ea_get(out, name):
    """`ea_get -x` output: 'NAME (LEN) = xx xx ...' or 'NAME (0)'."""
    line = out.split(b"\n", 1)[0]
    m = re.match(rb"^.*? \((\d+)\)(?: = ((?:[0-9a-f]{2} )*))?\s*$", line)
    if not m:
        return None
    n = int(m.group(1))
    val = bytes.fromhex(m.group(2).decode()) if m.group(2) else b""
    if len(val) != n:
        return None
    return val


def quote_arg(b):
    return b'"' + b.replace(b'"', b'""') + b'"'


# ---------------------------------------------------------------- comparison

class Report:
    def __init__(self, limit):
        self.limit = limit
        self.count = 0

    def mismatch(self, rel, field, image, source):
        self.count += 1
        if self.count <= self.limit:
            print("MISMATCH %s: %s: image=%s source=%s" % (show_path(rel), field, image, source))
        elif self.count == self.limit + 1:
            print("# (further mismatches counted, not shown)")
        sys.stdout.flush()

    def note(self, text):
        print("# " + text)


def norm_path(p):
    b = os.fsencode(p)
    while b.startswith(b"./"):
        b = b[2:]
    return b.strip(b"/")


def under(rel, prefixes):
    for p in prefixes:
        if p == b"" or rel == p or rel.startswith(p + b"/"):
            return True
    return False


def clamp_time(t, clamp):
    if clamp is not None and t > (clamp, 0):
        return (clamp, 0)
    return t


def split_ns(ns):
    sec, rem = divmod(ns, 1000000000)
    return (sec, rem)


def holes_allocated(extents, data, bs):
    """Image blocks (from extents) that lie wholly in source holes: (count, first byte)."""
    if not extents:
        return 0, None
    dblocks = []
    for s, e in data:
        dblocks.append((s // bs, (e - 1) // bs))
    dblocks.sort()
    count, first = 0, None
    for lo, hi in extents:
        b = lo
        for ds, de in dblocks:
            if de < b:
                continue
            if ds > hi:
                break
            if ds > b:
                count += ds - b
                first = b if first is None else first
            b = max(b, de + 1)
            if b > hi:
                break
        if b <= hi:
            count += hi - b + 1
            first = b if first is None else first
    return count, (first * bs if first is not None else None)


def compare_content(srcpath, dumppath, size, img_size, inline):
    """Return None when equal, else (image, source) descriptions of the first
    difference.  Only the image's first i_size bytes are file content: debugfs
    1.47 dumps an inline-data file as its whole inline area (60+ bytes), and
    stops there even when i_size is larger (the rest reads as zeros)."""
    try:
        g = open(dumppath, "rb")
    except OSError:
        return ("not dumped by debugfs", "%d bytes" % size)
    fd = open_noatime(srcpath, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f, g:
        off = 0
        while True:
            a = f.read(1 << 20)
            want = min(len(a) if a else 1 << 20, max(img_size - off, 0))
            b = g.read(want)
            if inline and len(b) < want:
                b += bytes(want - len(b))
            if a != b:
                n = min(len(a), len(b))
                i = next((k for k in range(n) if a[k] != b[k]), n)
                if i == len(b) and len(b) < len(a):
                    return ("ends at byte %d" % (off + i), "%d bytes" % size)
                if i == len(a) and len(a) < len(b):
                    return ("goes on past byte %d" % (off + i), "%d bytes" % size)
                return ("differs at byte %d: %s" % (off + i, show_bytes(b[i:i + 8])),
                        "%s (%d bytes)" % (show_bytes(a[i:i + 8]), size))
            if not a:
                return None
            off += len(a)


def compare_zeros(srcpath, segments, size):
    """The image file has no blocks: the source's data must be all zeros."""
    fd = open_noatime(srcpath, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        for start, end in segments:
            f.seek(start)
            off = start
            while off < end:
                a = f.read(min(1 << 20, end - off))
                if not a:
                    break
                i = next((k for k, c in enumerate(a) if c), None)
                if i is not None:
                    return ("differs at byte %d: zeros (no blocks allocated)" % (off + i),
                            "%s (%d bytes)" % (show_bytes(a[i:i + 8]), size))
                off += len(a)
    return None


def main():
    ap = argparse.ArgumentParser(
        usage=__doc__.split("\n\n")[1][len("usage: "):],
        description=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", metavar="SRC_DIR")
    ap.add_argument("image", metavar="IMAGE")
    ap.add_argument("--offset", type=int, default=0, metavar="BYTES")
    ap.add_argument("--ignore", action="append", default=[], metavar="PATH")
    ap.add_argument("--expect-absent", action="append", default=[], metavar="PATH")
    ap.add_argument("--clamp", type=int, default=None, metavar="EPOCH")
    ap.add_argument("--no-ctime", action="store_true")
    ap.add_argument("--no-atime", action="store_true")
    ap.add_argument("--no-fsck", action="store_true")
    ap.add_argument("--max-report", type=int, default=500, metavar="N")
    args = ap.parse_args()

    if not os.path.isdir(args.src):
        print("verify-image: source '%s' is not a directory" % args.src, file=sys.stderr)
        return 2
    if not os.path.exists(args.image):
        print("verify-image: image '%s' does not exist" % args.image, file=sys.stderr)
        return 2
    for tool in ("debugfs", "e2fsck"):
        if not shutil.which(tool):
            print("verify-image: %s not found (Debian package e2fsprogs)" % tool, file=sys.stderr)
            return 2

    tmp = tempfile.mkdtemp(prefix="verify-image.")
    try:
        return verify(args, tmp)
    except Fatal as e:
        print("verify-image: %s" % e, file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify(args, tmp):
    rep = Report(args.max_report)
    ignore = [norm_path(p) for p in args.ignore]
    absent = [norm_path(p) for p in args.expect_absent]

    image = os.path.abspath(args.image)
    if "?" in image:
        link = os.path.join(tmp, "image")
        os.symlink(image, link)
        image = link
    spec = image + ("?offset=%d" % args.offset if args.offset else "")
    dbg = Debugfs(spec, tmp)

    # 1. The source, stat'ed before anything reads it.
    src = walk_source(args.src, lambda rel: under(rel, ignore) or under(rel, absent))

    # 2. The image's tree, by inode number, one debugfs run per depth.
    sb = dbg.run([b"stats -h"])[0]
    m = re.search(rb"Block size:\s+(\d+)", sb)
    if not m:
        raise Fatal("debugfs cannot read the superblock of '%s'" % spec)
    bs = int(m.group(1))
    img = {b"": ROOT_INO}           # rel -> inode number
    img_isdir = {b"": True}
    img_children = {}               # rel of dir -> [child names]
    frontier = [b""]
    while frontier:
        outs = dbg.run([b"ls -p <%d>" % img[rel] for rel in frontier])
        nxt = []
        for rel, out in zip(frontier, outs):
            names = []
            for ino, mode, name in parse_ls_p(out):
                # Inline-data directories list their free space as inode 0.
                if name in (b".", b"..") or ino == 0:
                    continue
                child = rel + b"/" + name if rel else name
                if under(child, ignore):
                    continue
                names.append(name)
                img[child] = ino
                img_isdir[child] = stat.S_ISDIR(mode)
                # Descend only where the source has a directory too: an extra
                # or mistyped directory is reported once, not its contents.
                s = src.get(child)
                if stat.S_ISDIR(mode) and s is not None and stat.S_ISDIR(s.st.st_mode):
                    nxt.append(child)
            img_children[rel] = names
        frontier = nxt

    # 3. stat every inode.
    inos = sorted(set(img.values()))
    inodes = {}
    for ino, out in zip(inos, dbg.run([b"stat <%d>" % i for i in inos])):
        e = parse_stat(out)
        if e is None:
            raise Fatal("cannot parse debugfs stat of inode %d: %r" % (ino, out[:200]))
        inodes[ino] = e

    # 4. xattr values, and contents of regular files / slow symlinks, batched.
    cmds, todo = [], []
    for ino, e in inodes.items():
        for name, _ in e.xattr_names:
            if name == b"system.data":
                continue
            flag = b"-r -x" if name in ACL_XATTRS else b"-x"
            cmds.append(b"ea_get %s <%d> %s" % (flag, ino, quote_arg(name)))
            todo.append((ino, name))
    for (ino, name), out in zip(todo, dbg.run(cmds)):
        v = parse_ea_get(out, name)
        inodes[ino].xattrs[name] = v if v is not None else b"<debugfs ea_get failed>"

    # Which image inodes back which source paths (for dumps and hard links).
    wanted = {}
    for rel, s in src.items():
        ino = img.get(rel)
        if ino is None:
            continue
        e = inodes[ino]
        if stat.S_ISREG(s.st.st_mode) and stat.S_ISREG(e.mode):
            wanted.setdefault(ino, rel)
        elif stat.S_ISLNK(s.st.st_mode) and stat.S_ISLNK(e.mode) and e.fastlink is None:
            wanted.setdefault(ino, rel)

    content_bytes = 0
    batch, batch_size = [], 0

    def flush_batch():
        nonlocal batch, batch_size
        dumpdir = os.path.join(tmp, "dump")
        os.makedirs(dumpdir, exist_ok=True)
        dbg.run([b"dump <%d> %s" % (ino, quote_arg(os.fsencode(os.path.join(dumpdir, str(ino)))))
                 for ino, _ in batch])
        for ino, rel in batch:
            e, s = inodes[ino], src[rel]
            p = os.path.join(dumpdir, str(ino))
            if stat.S_ISLNK(e.mode):
                try:
                    with open(p, "rb") as f:
                        e.content = f.read()
                except OSError:
                    e.content = b"<debugfs dump failed>"
            else:
                full = os.path.join(os.fsencode(args.src), rel)
                e.content = compare_content(full, p, s.st.st_size, e.size,
                                            e.inline is not None) or "same"
            try:
                os.unlink(p)
            except OSError:
                pass
        batch, batch_size = [], 0

    for ino in sorted(wanted):
        rel = wanted[ino]
        e = inodes[ino]
        if stat.S_ISREG(e.mode) and e.extents == [] and e.inline is None:
            # No block at all: the image reads as zeros, so no dump (an
            # all-hole file can be far larger than the image).
            e.content = compare_zeros(os.path.join(os.fsencode(args.src), rel),
                                      src[rel].data or [], src[rel].st.st_size) or "same"
            continue
        batch.append((ino, rel))
        batch_size += inodes[ino].size
        content_bytes += src[rel].st.st_size
        if batch_size >= DUMP_BATCH_BYTES:
            flush_batch()
    if batch:
        flush_batch()

    # 5. Compare.
    src_groups = collections.defaultdict(list)   # (dev, ino) -> [rel]
    for rel, s in src.items():
        if not stat.S_ISDIR(s.st.st_mode):
            src_groups[(s.st.st_dev, s.st.st_ino)].append(rel)
    img_groups = collections.defaultdict(list)   # image ino -> [rel]
    for rel, ino in img.items():
        if not img_isdir.get(rel):
            img_groups[ino].append(rel)

    # A missing, extra or mistyped directory is reported once, not per child.
    skipped = set()

    def below_skipped(rel):
        i = rel.rfind(b"/")
        while i > 0:
            if rel[:i] in skipped:
                return True
            i = rel.rfind(b"/", 0, i)
        return False

    for rel in sorted(set(src) | set(img)):
        if below_skipped(rel):
            continue
        s = src.get(rel)
        ino = img.get(rel)
        if under(rel, absent):
            if ino is not None:
                rep.mismatch(rel, "presence", TYPE_NAMES.get(stat.S_IFMT(inodes[ino].mode), "?"),
                             "expected absent")
                skipped.add(rel)
            continue
        if s is None:
            if rel == b"lost+found" and img_isdir.get(rel):
                continue
            rep.mismatch(rel, "presence", TYPE_NAMES.get(stat.S_IFMT(inodes[ino].mode), "?"), "absent")
            skipped.add(rel)
            continue
        smode = s.st.st_mode
        if ino is None:
            below = sum(1 for r in src if r.startswith(rel + b"/")) if stat.S_ISDIR(smode) else 0
            rep.mismatch(rel, "presence", "absent",
                         TYPE_NAMES.get(stat.S_IFMT(smode), "?") +
                         (" with %d paths below" % below if below else ""))
            skipped.add(rel)
            continue
        e = inodes[ino]
        if stat.S_IFMT(e.mode) != stat.S_IFMT(smode):
            rep.mismatch(rel, "type", TYPE_NAMES.get(stat.S_IFMT(e.mode), "?"),
                         TYPE_NAMES.get(stat.S_IFMT(smode), "?"))
            skipped.add(rel)
            continue
        compare_one(rep, args, rel, s, e, img_children, img_isdir, src_groups, bs)

    # Hard links: each source group must be one image inode with exactly the
    # group's names (of those present; a missing name is reported above).
    for group in src_groups.values():
        present = sorted(r for r in group if r in img and not below_skipped(r)
                         and stat.S_IFMT(inodes[img[r]].mode) == stat.S_IFMT(src[r].st.st_mode))
        if not present:
            continue
        inos = sorted(set(img[r] for r in present))
        names = [sorted(img_groups[i]) for i in inos]
        if len(inos) > 1 or names[0] != present:
            rep.mismatch(min(present), "hardlinks",
                         ";".join(",".join(show_path(r) for r in n) for n in names),
                         ",".join(show_path(r) for r in sorted(group)))

    # 6. e2fsck.
    fsck = "not run"
    if not args.no_fsck:
        p = subprocess.run(["e2fsck", "-fn", spec], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=dict(os.environ, LC_ALL="C"))
        if p.returncode == 0:
            fsck = "clean"
        else:
            fsck = "NOT clean (exit %d)" % p.returncode
            rep.mismatch(b"", "e2fsck -fn", "exit %d" % p.returncode, "clean")
            for line in p.stdout.decode("utf-8", "replace").splitlines()[:40]:
                print("#   " + line)

    status = "ok" if rep.count == 0 else "FAILED, %d mismatches" % rep.count
    print("# verify-image: %s: %d source paths, %d image paths, %d inodes, %.1f MiB of content "
          "compared, %d debugfs runs, e2fsck %s" % (
              status, len(src), len(img), len(inodes), content_bytes / 1048576.0, dbg.runs, fsck))
    return 0 if rep.count == 0 else 1


def compare_one(rep, args, rel, s, e, img_children, img_isdir, src_groups, bs):
    st = s.st
    ftype = stat.S_IFMT(st.st_mode)

    if stat.S_IMODE(e.mode) != stat.S_IMODE(st.st_mode):
        rep.mismatch(rel, "mode", "%04o" % stat.S_IMODE(e.mode), "%04o" % stat.S_IMODE(st.st_mode))
    if e.uid != st.st_uid:
        rep.mismatch(rel, "uid", e.uid, st.st_uid)
    if e.gid != st.st_gid:
        rep.mismatch(rel, "gid", e.gid, st.st_gid)

    fields = [("mtime", st.st_mtime_ns)]
    if not args.no_atime and ftype != stat.S_IFLNK:
        fields.append(("atime", st.st_atime_ns))
    if not args.no_ctime:
        fields.append(("ctime", st.st_ctime_ns))
    for name, ns in fields:
        want = clamp_time(split_ns(ns), args.clamp)
        got = e.times.get(name)
        if got != want:
            rep.mismatch(rel, name, show_time(got) if got else "absent", show_time(want))

    # Link count: directories 2 + subdirectories in the image (what the kernel
    # keeps; 1 past EXT4_LINK_MAX), other files the number of names the
    # source tree gives the inode.
    if ftype == stat.S_IFDIR:
        subdirs = sum(1 for n in img_children.get(rel, [])
                      if img_isdir.get(rel + b"/" + n if rel else n))
        want = 2 + subdirs
        if e.links != want and not (e.links == 1 and want > EXT4_LINK_MAX):
            rep.mismatch(rel, "links", e.links, want)
    else:
        group = src_groups[(st.st_dev, st.st_ino)]
        if e.links != len(group):
            rep.mismatch(rel, "links", e.links, len(group))

    if ftype in (stat.S_IFREG, stat.S_IFLNK) and e.size != st.st_size:
        rep.mismatch(rel, "size", e.size, st.st_size)

    if ftype in (stat.S_IFCHR, stat.S_IFBLK):
        want = (os.major(st.st_rdev), os.minor(st.st_rdev))
        if e.rdev != want:
            rep.mismatch(rel, "rdev", "%d:%d" % e.rdev if e.rdev else "absent", "%d:%d" % want)

    if ftype == stat.S_IFLNK:
        got = e.fastlink if e.fastlink is not None else e.content
        if got != s.target:
            rep.mismatch(rel, "target", show_bytes(got, 80), show_bytes(s.target, 80))

    # xattrs
    names = sorted(set(s.xattrs) | set(e.xattrs))
    for n in names:
        sv, iv = s.xattrs.get(n), e.xattrs.get(n)
        field = "xattr " + n.decode("utf-8", "backslashreplace")
        if n in ACL_XATTRS and sv is not None and iv is not None:
            sa, ia = parse_posix_acl(sv), parse_ext4_acl(iv)
            if ia is None:
                rep.mismatch(rel, field, "not ext4 ACL form: " + show_bytes(iv),
                             show_acl(sa) if sa is not None else show_bytes(sv))
            elif sa is None or sa != ia:
                rep.mismatch(rel, field, show_acl(ia),
                             show_acl(sa) if sa is not None else show_bytes(sv))
            continue
        if sv != iv:
            if sv is not None and iv is not None and len(sv) == len(iv) and len(sv) > 24:
                i = next(k for k in range(len(sv)) if sv[k] != iv[k])
                rep.mismatch(rel, field, "differs at byte %d: %s" % (i, show_bytes(iv[i:i + 16])),
                             show_bytes(sv[i:i + 16]))
            else:
                rep.mismatch(rel, field, show_bytes(iv), show_bytes(sv))

    if ftype == stat.S_IFREG:
        if e.content not in (None, "same"):
            rep.mismatch(rel, "content", e.content[0], e.content[1])
        if e.extents and s.data is not None:
            n, first = holes_allocated(e.extents, s.data, bs)
            if n:
                rep.mismatch(rel, "holes", "%d blocks of %d allocated in source holes (first at byte %d)"
                             % (n, bs, first), "sparse, %d bytes of data" % sum(b - a for a, b in s.data))

    if ftype == stat.S_IFDIR and e.size > bs and not e.flags & 0x1000 and not e.inline:
        rep.note("note: %s: %d-block directory without an htree index" % (show_path(rel), e.size // bs))


if __name__ == "__main__":
    sys.exit(main())
