#!/usr/bin/python3
"""grub-bios-core.py — read a GRUB i386-pc core image out of a disk image the
way the boot code would, without asking the builder what it wrote.

usage: grub-bios-core.py IMAGE GRUBDIR

GRUBDIR is the i386-pc folder the core was made from (for kiln's tests the
build host's /usr/lib/grub/i386-pc).  Offsets are GRUB's own
(include/grub/i386/pc/boot.h, grub-core/boot/i386/pc/diskboot.S,
include/grub/offsets.h, util/mkimage.c, util/setup.c, include/grub/kernel.h).
Prints one fact a line, for the test to compare with what it knows
independently:

  kernel_sector S        boot.img's u64 at 0x5c: where the BIOS boot code
                         reads core.img's first sector (diskboot.img) from
  blocklist START LEN SEG  the first 12-byte entry at 0x1f4 of sector S
  terminator LEN         the len of the next entry (0x1e8): 0 ends the list
  diskboot same|differs  sector S's bytes [0, 0x1f4) against GRUBDIR/diskboot.img
                         (grub-mkimage puts it first and patches only the
                         block list)
  decompressor same|differs  the first sector the list names, against
                         GRUBDIR/lzma_decompress.img but for the fields
                         grub-mkimage fills in, [0x08, 0x1c)
  payload SECTORS        what lzma_decompress.img plus the compressed kernel
                         and modules take: ceil((decompressor + compressed
                         size at 0x08) / 512); the block list must load that
  module NAME same|differs   each module in the decompressed payload (its
                         ELF .modname) against GRUBDIR/NAME.mod
  config LINE            each line of the embedded early config
  prefix PREFIX          the embedded prefix

Only the sectors the block list names are read (what diskboot loads); the
list may have several entries, each loading its sectors in order.  A payload
that does not decompress or has no module area is an error (exit 1).
"""
import lzma
import os
import re
import struct
import sys


def die(msg):
    print("grub-bios-core: %s" % msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 3:
        die("usage: grub-bios-core.py IMAGE GRUBDIR")
    image, grubdir = sys.argv[1:]
    with open(os.path.join(grubdir, "diskboot.img"), "rb") as f:
        diskboot = f.read()
    with open(os.path.join(grubdir, "lzma_decompress.img"), "rb") as f:
        decomp = f.read()
    img = open(image, "rb")

    def sectors(start, count):
        img.seek(start * 512)
        data = img.read(count * 512)
        if len(data) != count * 512:
            die("sectors %d..%d lie beyond the end of '%s'" % (start, start + count - 1, image))
        return data

    boot = sectors(0, 1)
    kernel_sector = struct.unpack_from("<Q", boot, 0x5C)[0]
    print("kernel_sector %d" % kernel_sector)
    first = sectors(kernel_sector, 1)

    # diskboot's block list grows down from 0x1f4 and ends at a len of 0.
    entries = []
    off = 0x1F4
    while True:
        start, length, seg = struct.unpack_from("<QHH", first, off)
        if length == 0:
            break
        entries.append((start, length, seg))
        off -= 12
        if off < 0x1F4 - 12 * 8:
            die("no end to the block list in sector %d" % kernel_sector)
    if not entries:
        die("the block list at 0x1f4 of sector %d is empty" % kernel_sector)
    for start, length, seg in entries:
        print("blocklist %d %d 0x%x" % (start, length, seg))
    print("terminator %d" % struct.unpack_from("<H", first, off + 8)[0])
    print("diskboot %s" % ("same" if first[:0x1F4] == diskboot[:0x1F4] else "differs"))

    body = b"".join(sectors(s, n) for s, n, _ in entries)
    same = body[:0x08] == decomp[:0x08] and body[0x1C:len(decomp)] == decomp[0x1C:]
    print("decompressor %s" % ("same" if same else "differs"))
    csize, usize = struct.unpack_from("<II", body, 0x08)
    print("payload %d" % -(-(len(decomp) + csize) // 512))
    if len(decomp) + csize > len(body):
        die("compressed size %d runs past the %d sectors the block list loads" % (csize, len(body) // 512))

    # util/mkimage.c, compress_kernel_lzma: lc 3, lp 0, pb 2, a 64 KiB dictionary.
    try:
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=[
            {"id": lzma.FILTER_LZMA1, "dict_size": 1 << 16, "lc": 3, "lp": 0, "pb": 2}])
        out = dec.decompress(body[len(decomp):len(decomp) + csize], max_length=usize)
    except lzma.LZMAError as e:
        die("the core's payload does not decompress: %s" % e)
    if len(out) != usize:
        die("the payload decompressed to %d bytes, the header says %d" % (len(out), usize))

    # The module area follows kernel.img: struct grub_module_info32 {magic
    # "mimg", offset 12, size to the end}, then {u32 type, u32 size} headers
    # (include/grub/kernel.h: OBJ_TYPE_ELF 0, CONFIG 2, PREFIX 3).
    area = [m.start() for m in re.finditer(b"mimg", out)
            if struct.unpack_from("<II", out, m.start() + 4) == (12, len(out) - m.start())]
    if len(area) != 1:
        die("no module area (grub_module_info32) at the end of the payload")
    p = area[0] + 12
    while p < len(out):
        kind, size = struct.unpack_from("<II", out, p)
        if size < 8 or p + size > len(out):
            die("bad module header at payload offset %d" % p)
        data = out[p + 8:p + size]
        if kind == 0:
            name = modname(data)
            try:
                with open(os.path.join(grubdir, name + ".mod"), "rb") as f:
                    mod = f.read()
            except OSError:
                mod = None
            ok = mod is not None and data[:len(mod)] == mod and not any(data[len(mod):])
            print("module %s %s" % (name, "same" if ok else "differs"))
        elif kind == 2:
            for line in data.rstrip(b"\0").decode("utf-8", "replace").splitlines():
                print("config %s" % line)
        elif kind == 3:
            print("prefix %s" % data.rstrip(b"\0").decode("utf-8", "replace"))
        else:
            print("object type %d, %d bytes" % (kind, size - 8))
        p += size


def modname(elf):
    """The .modname section of a 32-bit ELF GRUB module."""
    if elf[:4] != b"\x7fELF" or elf[4] != 1:
        die("a module in the core image is not a 32-bit ELF object")
    shoff = struct.unpack_from("<I", elf, 0x20)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x2E)

    def section(k):
        return struct.unpack_from("<IIIIII", elf, shoff + k * shentsize)

    names = section(shstrndx)
    for k in range(shnum):
        s = section(k)
        if elf[names[4] + s[0]:].split(b"\0", 1)[0] == b".modname":
            return elf[s[4]:s[4] + s[5]].split(b"\0", 1)[0].decode()
    die("a module in the core image has no .modname section")


main()
