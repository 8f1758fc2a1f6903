#!/usr/bin/python3
"""snapshot-tree.py DIR — print everything about a tree that a reader could
change, one line per path, sorted, so two snapshots compare with cmp/diff.

    snapshot-tree.py tree >before && kiln build -r tree ... &&
    snapshot-tree.py tree >after && cmp before after

Per path: type and mode, uid, gid, size, link count, inode number, device
number (devices), atime, mtime and ctime in nanoseconds, symlink target, every
xattr (name and hex value) and a SHA-256 of regular files' content.

It changes nothing itself: folders and files are opened with O_NOATIME (run
as root or as the tree's owner; the kernel refuses O_NOATIME to others), xattrs
and stat never move an atime.  Symlink atimes are left out: readlink(2) moves
them under relatime and no flag prevents it (see verify-image.py --no-atime),
so every reader, this one included, changes them.

Exit 0, or 2 when DIR is not a folder or cannot be read.
"""

import hashlib
import os
import stat
import sys


def read_noatime(path):
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOATIME)
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            h.update(b)
    finally:
        os.close(fd)
    return h.hexdigest()


def xattrs(path):
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return "-"
    return ",".join("%s=%s" % (n, os.getxattr(path, n, follow_symlinks=False).hex()) for n in names) or "-"


def walk(root, rel, out):
    path = os.path.join(root, rel) if rel else root
    st = os.lstat(path)
    fmt = stat.S_IFMT(st.st_mode)
    fields = ["%06o" % st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_nlink, st.st_ino,
              "-" if fmt == stat.S_IFLNK else st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns]
    if fmt in (stat.S_IFCHR, stat.S_IFBLK):
        fields.append("%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
    elif fmt == stat.S_IFLNK:
        fields.append(repr(os.readlink(path)))
    elif fmt == stat.S_IFREG:
        fields.append(read_noatime(path))
    fields.append(xattrs(path))
    out.append("%r %s" % (rel or ".", " ".join(str(f) for f in fields)))
    if fmt == stat.S_IFDIR:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
        try:
            names = sorted(os.listdir(fd))
        finally:
            os.close(fd)
        for n in names:
            walk(root, os.path.join(rel, n), out)


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("usage: snapshot-tree.py DIR", file=sys.stderr)
        return 2
    out = []
    try:
        walk(sys.argv[1], "", out)
    except OSError as e:
        print("snapshot-tree: %s" % e, file=sys.stderr)
        return 2
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
