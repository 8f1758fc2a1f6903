/* SPDX-License-Identifier: MIT */
/*
 * kiln's initramfs: the cpio newc writer (read back by a small reader here
 * and by GNU cpio), zstd for the kernel (frame header, round trip), the
 * .modinfo parser (against kmod's modinfo), and the module closure on
 * Debian's real cloud kernel (tests/lib/fetch-kernel.sh, in .cache/kernel):
 * read through kiln_rootfs_read_dir into a tree, resolved from each module's
 * .modinfo, then again from modules.dep on a depmod'ed copy, from a copy
 * with xz/zstd/gzip-compressed modules, and from a merged-/usr rootfs made
 * here from the same kernel (lib -> usr/lib, depmod'ed).  The archive is unpacked with `zstd -d` and `cpio`, and
 * every module compared with its original.  Needs zstd, cpio, xz, gzip; kmod
 * (depmod, modinfo) for the oracle parts, which are skipped without it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "../lib/tap.h"
#include "cpio.h"
#include "modinfo.h"
#include "modules.h"
#include "tree.h"
#include "util.h"

#define MTIME 1700000001 /* 2023-11-14 22:13:21 UTC */

static char tmpdir[] = "/tmp/kiln-test-initramfs-XXXXXX";
static const char init_bytes[] = "\177ELF kiln-init stands in here: the initramfs takes any bytes as /init\n";

/* ---------------------------------------------------------------- helpers */

/* Run a shell command line (printf-style); its exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
        char *cmd;
        va_list ap;
        int st;

        va_start(ap, fmt);
        if (vasprintf(&cmd, fmt, ap) < 0)
                abort();
        va_end(ap);
        st = system(cmd);
        free(cmd);
        return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Run a shell command line; its standard output (malloc'd, NUL-terminated). */
static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...)
{
        char *cmd, *out = NULL;
        size_t len = 0, cap = 0, n;
        va_list ap;
        FILE *p;

        va_start(ap, fmt);
        if (vasprintf(&cmd, fmt, ap) < 0)
                abort();
        va_end(ap);
        p = popen(cmd, "r");
        free(cmd);
        if (!p)
                return NULL;
        do {
                if (cap - len < 4096 && !(out = realloc(out, cap = cap * 2 + 8192)))
                        abort();
                n = fread(out + len, 1, cap - len - 1, p);
                len += n;
        } while (n > 0);
        out[len] = 0;
        pclose(p);
        return out;
}

/* A copy of a folder: hard links when it is on the same file system (what
 * the tests change is added or replaced, never written in place). */
static int copy_tree(const char *from, const char *to)
{
        return sh("cp -al '%s' '%s' 2>/dev/null || { rm -rf '%s' && cp -a '%s' '%s'; }", from, to, to, from, to);
}

static bool have(const char *prog)
{
        return sh("command -v %s >/dev/null 2>&1", prog) == 0;
}

static uint8_t *slurp(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, n;

        if (!f)
                return NULL;
        do {
                if (cap - len < 65536 && !(buf = realloc(buf, cap = cap * 2 + 65536)))
                        abort();
                n = fread(buf + len, 1, cap - len, f);
                len += n;
        } while (n > 0);
        fclose(f);
        *ret_len = len;
        return buf;
}

static void spit(const char *path, const void *data, size_t len)
{
        FILE *f = fopen(path, "wb");

        if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
                abort();
}

/* ----------------------------------------------- a tree as a kiln_modsrc */

static int tree_read(void *ud, const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
        struct kiln_tree *t = ud;
        struct kiln_dentry *d;

        /* Symlinks followed inside the tree: a merged-/usr rootfs has lib -> usr/lib. */
        if (kiln_tree_lookup_follow(t, path, &d) < 0 || !S_ISREG(d->inode->mode))
                return -ENOENT;
        return kiln_tree_read_file(t, d->inode, max, ret, ret_len);
}

static int tree_walk_files(struct kiln_tree *t, struct kiln_dentry *dir, char *rel, size_t len,
                           int (*fn)(void *ctx, const char *rel), void *ctx)
{
        for (size_t i = 0; i < dir->n_children; i++) {
                struct kiln_dentry *d = dir->children[i];
                size_t n = strlen(d->name), l = len;
                int r = 0;
                if (d->removed || l + n + 2 > PATH_MAX)
                        continue;
                if (l)
                        rel[l++] = '/';
                memcpy(rel + l, d->name, n + 1);
                if (S_ISREG(d->inode->mode))
                        r = fn(ctx, rel);
                else if (S_ISDIR(d->inode->mode))
                        r = tree_walk_files(t, d, rel, l + n, fn, ctx);
                rel[len] = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int tree_list(void *ud, const char *dir, int (*fn)(void *ctx, const char *rel), void *ctx)
{
        struct kiln_tree *t = ud;
        struct kiln_dentry *d;
        char rel[PATH_MAX] = "";

        if (kiln_tree_lookup_follow(t, dir, &d) < 0 || !S_ISDIR(d->inode->mode))
                return -ENOENT;
        return tree_walk_files(t, d, rel, 0, fn, ctx);
}

static struct kiln_tree *load_tree(const char *dir)
{
        struct kiln_tree *t;

        if (kiln_tree_new(&t) < 0 || kiln_rootfs_read_dir(t, dir) < 0) {
                tap_diag("cannot read '%s': %s", dir, kiln_last_error());
                return NULL;
        }
        return t;
}

static void tree_src(struct kiln_tree *t, struct kiln_modsrc *ret)
{
        *ret = (struct kiln_modsrc){ .read = tree_read, .list = tree_list, .ud = t };
}

/* ------------------------------------------------------ a newc reader */

struct newc {
        char name[4096];
        uint32_t ino, mode, uid, gid, nlink, mtime, size, devmaj, devmin, rmaj, rmin, check;
        const uint8_t *data;
};

static bool hex8(const uint8_t *p, uint32_t *ret)
{
        uint32_t v = 0;

        for (int i = 0; i < 8; i++) {
                int c = p[i], d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
                if (d < 0)
                        return false;
                v = v << 4 | (uint32_t)d;
        }
        *ret = v;
        return true;
}

static bool zeros(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

/* 1 an entry, 0 the trailer, -1 malformed (uppercase hex, zero padding: ours). */
static int newc_next(const uint8_t *buf, size_t len, size_t *off, struct newc *e)
{
        uint32_t f[13], namesize;
        size_t o = *off;

        if (o + 110 > len || memcmp(buf + o, "070701", 6))
                return -1;
        for (int i = 0; i < 13; i++)
                if (!hex8(buf + o + 6 + 8 * i, &f[i]))
                        return -1;
        e->ino = f[0], e->mode = f[1], e->uid = f[2], e->gid = f[3], e->nlink = f[4], e->mtime = f[5];
        e->size = f[6], e->devmaj = f[7], e->devmin = f[8], e->rmaj = f[9], e->rmin = f[10];
        namesize = f[11], e->check = f[12];
        if (namesize < 2 || namesize > sizeof(e->name) || o + 110 + namesize > len ||
            buf[o + 110 + namesize - 1] != 0)
                return -1;
        memcpy(e->name, buf + o + 110, namesize);
        size_t hdr_end = ROUND_UP(o + 110 + namesize, 4);
        if (hdr_end > len || !zeros(buf + o + 110 + namesize, hdr_end - (o + 110 + namesize)))
                return -1;
        size_t data_end = ROUND_UP(hdr_end + e->size, 4);
        if (data_end > len || !zeros(buf + hdr_end + e->size, data_end - hdr_end - e->size))
                return -1;
        e->data = buf + hdr_end;
        *off = data_end;
        return strcmp(e->name, "TRAILER!!!") ? 1 : 0;
}

/* -------------------------------------------------------------- cpio */

static void test_cpio(void)
{
        struct kiln_cpio *c;
        uint8_t *out, *out2;
        size_t len, len2;
        struct newc e;
        int r;

        ok(kiln_cpio_new(MTIME - 100, &c) == 0, "cpio: new");
        is_int(kiln_cpio_add(c, "/usr/lib/b.txt", S_IFREG | 0644, MTIME, "hello", 5), 0, "cpio: add a file (clamped time)");
        is_int(kiln_cpio_add(c, "usr//lib/./a", S_IFREG | 0600, 1000, "abcd", 4), 0, "cpio: add a path with '//' and '.'");
        is_int(kiln_cpio_add(c, "./init", S_IFREG | 0755, 1000, init_bytes, sizeof(init_bytes)), 0, "cpio: add ./init");
        is_int(kiln_cpio_add(c, "bin/sh", S_IFLNK | 0777, 1000, "../init", 7), 0, "cpio: add a symlink");
        is_int(kiln_cpio_add_node(c, "dev/console", S_IFCHR | 0600, 1000, 5, 1), 0, "cpio: add a device node");
        is_int(kiln_cpio_add_dir(c, "usr/share/empty", 0700, 1000), 0, "cpio: add an empty folder");
        is_int(kiln_cpio_add(c, "/init", S_IFREG | 0755, 1000, "x", 1), -EEXIST, "cpio: the same path twice is -EEXIST");
        is_int(kiln_cpio_add(c, "a/../b", S_IFREG | 0644, 1000, "x", 1), -EINVAL, "cpio: '..' is refused");
        is_int(kiln_cpio_add(c, "/", S_IFREG | 0644, 1000, "x", 1), -EINVAL, "cpio: an empty path is refused");
        is_int(kiln_cpio_add_dir(c, "usr", 0755, 1000), 0, "cpio: a folder named after its contents");
        r = kiln_cpio_write(c, &out, &len);
        is_int(r, 0, "cpio: write");
        if (r < 0)
                return;
        ok(len % 4 == 0, "cpio: %zu bytes, a multiple of 4", len);
        ok(kiln_cpio_write(c, &out2, &len2) == 0 && len2 == len && !memcmp(out, out2, len),
           "cpio: writing twice gives the same bytes");
        free(out2);

        static const struct {
                const char *name;
                uint32_t mode, nlink, mtime, size;
        } want[] = {
                { "bin", S_IFDIR | 0755, 2, MTIME - 100, 0 },
                { "bin/sh", S_IFLNK | 0777, 1, 1000, 7 },
                { "dev", S_IFDIR | 0755, 2, MTIME - 100, 0 },
                { "dev/console", S_IFCHR | 0600, 1, 1000, 0 },
                { "init", S_IFREG | 0755, 1, 1000, sizeof(init_bytes) },
                { "usr", S_IFDIR | 0755, 4, 1000, 0 },
                { "usr/lib", S_IFDIR | 0755, 2, MTIME - 100, 0 },
                { "usr/lib/a", S_IFREG | 0600, 1, 1000, 4 },
                { "usr/lib/b.txt", S_IFREG | 0644, 1, MTIME - 100, 5 },
                { "usr/share", S_IFDIR | 0755, 3, MTIME - 100, 0 },
                { "usr/share/empty", S_IFDIR | 0700, 2, 1000, 0 },
        };
        size_t off = 0, i = 0;
        bool good = true;
        while ((r = newc_next(out, len, &off, &e)) > 0) {
                if (i >= ARRAY_SIZE(want) || strcmp(e.name, want[i].name) || e.mode != want[i].mode ||
                    e.nlink != want[i].nlink || e.mtime != want[i].mtime || e.size != want[i].size ||
                    e.ino != i + 1 || e.uid || e.gid || e.check || e.devmaj || e.devmin) {
                        tap_diag("entry %zu: '%s' mode %o nlink %u mtime %u size %u ino %u", i, e.name, e.mode,
                                 e.nlink, e.mtime, e.size, e.ino);
                        good = false;
                }
                if (!strcmp(e.name, "dev/console") && (e.rmaj != 5 || e.rmin != 1))
                        good = false;
                if (!strcmp(e.name, "usr/lib/b.txt") && memcmp(e.data, "hello", 5))
                        good = false;
                i++;
        }
        ok(good && r == 0 && i == ARRAY_SIZE(want), "cpio: sorted, parents implied, inodes 1..%zu, nlink, modes, "
           "clamped times, zero padding", ARRAY_SIZE(want));
        ok(r == 0 && off == len && e.ino == 0 && e.nlink == 1 && e.size == 0, "cpio: ends with TRAILER!!!");

        if (have("cpio")) {
                char path[PATH_MAX];
                snprintf(path, sizeof(path), "%s/small.cpio", tmpdir);
                spit(path, out, len);
                char *list = capture("cpio -it --quiet < '%s' 2>&1", path);
                ok(list && !strcmp(list, "bin\nbin/sh\ndev\ndev/console\ninit\nusr\nusr/lib\nusr/lib/a\n"
                                         "usr/lib/b.txt\nusr/share\nusr/share/empty\n"),
                   "cpio: GNU cpio -t lists the entries");
                free(list);
        }
        free(out);
        kiln_cpio_free(c);

        ok(kiln_cpio_new(-1, &c) == 0, "cpio: new, no clamp");
        kiln_cpio_add(c, "a", S_IFREG | 0644, 5, "x", 1);
        kiln_cpio_add(c, "a/b", S_IFREG | 0644, 5, "y", 1);
        is_int(kiln_cpio_write(c, &out, &len), -ENOTDIR, "cpio: a file under a file is -ENOTDIR");
        kiln_cpio_free(c);
}

/* -------------------------------------------------------------- zstd */

/* A zstd frame header, read by hand (RFC 8878 3.1.1.1): what the kernel's
 * decompressor looks at before it allocates its window. */
struct zframe {
        uint64_t window, content;
        bool checksum, single;
};

static bool zstd_frame(const uint8_t *p, size_t len, struct zframe *f)
{
        static const unsigned dict_size[] = { 0, 1, 2, 4 };
        size_t o = 5;

        if (len < 6 || memcmp(p, "\x28\xb5\x2f\xfd", 4))
                return false;
        unsigned fhd = p[4], fcs_flag = fhd >> 6;
        f->single = fhd & 0x20;
        f->checksum = fhd & 0x04;
        if (!f->single) {
                unsigned wd = p[o++];
                uint64_t base = 1ull << (10 + (wd >> 3));
                f->window = base + base / 8 * (wd & 7);
        }
        o += dict_size[fhd & 3];
        unsigned fcs = fcs_flag == 0 ? (f->single ? 1 : 0) : 1u << fcs_flag;
        if (o + fcs > len)
                return false;
        f->content = 0;
        for (unsigned i = 0; i < fcs; i++)
                f->content |= (uint64_t)p[o + i] << (8 * i);
        if (fcs == 2)
                f->content += 256;
        if (f->single)
                f->window = f->content;
        return true;
}

static void test_zstd(void)
{
        size_t n = KILN_ZSTD_MT_MIN + (2u << 20), clen, dlen; /* past the multi-threading threshold */
        uint8_t *src = malloc(n), *z1, *z2, *d;
        struct zframe h = { 0 };
        uint64_t x = 1;

        /* Compressible but not trivial: words from a small LCG. */
        for (size_t i = 0; i < n; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                src[i] = (uint8_t)("kiln-initramfs "[(x >> 60) & 15]);
        }
        is_int(kiln_zstd_compress(src, n, 3, 0, &z1, &clen), 0, "zstd: compress %zu MiB", n >> 20);
        bool framed = zstd_frame(z1, clen, &h);
        ok(framed && h.window <= (1u << KILN_ZSTD_WINDOW_LOG) && h.checksum && h.content == n,
           "zstd: one frame, window %llu <= 2^%d, content size and checksum", (unsigned long long)h.window,
           KILN_ZSTD_WINDOW_LOG);
        ok(ZSTD_findFrameCompressedSize(z1, clen) == clen, "zstd: exactly one frame");
        ok(kiln_zstd_decompress(z1, clen, n, &d, &dlen) == 0 && dlen == n && !memcmp(d, src, n),
           "zstd: round trip");
        free(d);
        is_int(kiln_zstd_decompress(z1, clen, n - 1, &d, &dlen), -EFBIG, "zstd: the output limit holds");
        is_int(kiln_zstd_decompress(z1, clen - 5, n, &d, &dlen), -EBADMSG, "zstd: truncated input is -EBADMSG");
        ok(strstr(kiln_last_error(), "zstd data") != NULL, "zstd: message '%s'", kiln_last_error());
        is_int(kiln_zstd_decompress("not zstd", 8, n, &d, &dlen), -EBADMSG, "zstd: not zstd is -EBADMSG");
        free(z1);
        ok(kiln_zstd_compress(src, n, 3, 1, &z1, &clen) == 0 && kiln_zstd_compress(src, n, 3, 2, &z2, &dlen) == 0 &&
                   clen == dlen && !memcmp(z1, z2, clen),
           "zstd: 1 and 2 workers give the same frame (%zu-byte jobs)", (size_t)KILN_ZSTD_JOB_SIZE);
        ok(zstd_frame(z2, dlen, &h) && h.window <= (1u << KILN_ZSTD_WINDOW_LOG),
           "zstd: multi-threaded frame keeps the window");
        free(z1);
        free(z2);
        is_int(kiln_zstd_compress(src, 10, 99, 0, &z1, &clen), 0, "zstd: a level past the maximum is clamped by zstd");
        free(z1);
        free(src);
}

/* ------------------------------------------------------------ modinfo */

/* A minimal ELF64 LE with sections: NULL, .shstrtab, .modinfo. */
static size_t make_elf(uint8_t *buf, const char *modinfo, size_t mlen)
{
        static const char shstr[] = "\0.shstrtab\0.modinfo";
        size_t off = 64;

        memset(buf, 0, 4096);
        memcpy(buf, "\177ELF\2\1\1", 7);
        size_t shstr_off = off;
        memcpy(buf + off, shstr, sizeof(shstr));
        off += sizeof(shstr);
        size_t mi_off = off;
        memcpy(buf + off, modinfo, mlen);
        off = ROUND_UP(off + mlen, 8);
        size_t shoff = off;
#define W(p, v, n) for (unsigned _i = 0; _i < (n); _i++) (buf)[(p) + _i] = (uint8_t)((uint64_t)(v) >> (8 * _i))
        W(40, shoff, 8);
        W(58, 64, 2);
        W(60, 3, 2);
        W(62, 1, 2);
        /* section 1: .shstrtab */
        W(shoff + 64 + 0, 1, 4);
        W(shoff + 64 + 4, 3, 4);
        W(shoff + 64 + 24, shstr_off, 8);
        W(shoff + 64 + 32, sizeof(shstr), 8);
        /* section 2: .modinfo */
        W(shoff + 128 + 0, 11, 4);
        W(shoff + 128 + 4, 1, 4);
        W(shoff + 128 + 24, mi_off, 8);
        W(shoff + 128 + 32, mlen, 8);
#undef W
        return shoff + 3 * 64;
}

static void test_modinfo_synthetic(void)
{
        static const char mi[] = "license=GPL\0depends=virtio,virtio_ring\0\0\0alias=fs-x\0name=x\0"
                                 "softdep=pre: crc32c\0alias=x-2\0noequals\0=novalue\0vermagic=6.1.0 SMP \0"
                                 "depends=ignored";
        uint8_t buf[4096];
        size_t len = make_elf(buf, mi, sizeof(mi) - 1);
        struct kiln_modinfo m;
        int r;

        r = kiln_modinfo_parse(buf, len, &m);
        is_int(r, 0, "modinfo: a synthetic ELF64 parses");
        if (r == 0) {
                ok(m.name && !strcmp(m.name, "x") && m.depends && !strcmp(m.depends, "virtio,virtio_ring") &&
                           m.vermagic && !strcmp(m.vermagic, "6.1.0 SMP "),
                   "modinfo: name, depends (first wins), vermagic");
                ok(m.n_aliases == 2 && !strcmp(m.aliases[0], "fs-x") && !strcmp(m.aliases[1], "x-2") &&
                           m.n_softdeps == 1 && !strcmp(m.softdeps[0], "pre: crc32c"),
                   "modinfo: aliases and softdeps");
                kiln_modinfo_free(&m);
        }
        memset(&m, 0x5a, sizeof(m));
        struct kiln_modinfo before = m;
        bool all = true;
        for (size_t cut = 0; cut < len; cut++) {
                r = kiln_modinfo_parse(buf, cut, &m);
                if (r == 0) {
                        kiln_modinfo_free(&m);
                        memset(&m, 0x5a, sizeof(m));
                        continue; /* the section table fits: fine */
                }
                if (r != -EBADMSG || memcmp(&m, &before, sizeof(m)))
                        all = false;
        }
        ok(all, "modinfo: every truncation is -EBADMSG with the result untouched");
        buf[4] = 1;
        is_int(kiln_modinfo_parse(buf, len, &m), -EOPNOTSUPP, "modinfo: ELF32 is -EOPNOTSUPP");
        buf[4] = 2;
        buf[62] = 7;
        is_int(kiln_modinfo_parse(buf, len, &m), -EBADMSG, "modinfo: a bad string table index is -EBADMSG");
        buf[62] = 1;
        buf[len - 64 + 24] = 0xff; /* .modinfo offset far away */
        buf[len - 64 + 30] = 0x7f;
        is_int(kiln_modinfo_parse(buf, len, &m), -EBADMSG, "modinfo: a section past the end is -EBADMSG");
        is_int(kiln_modinfo_parse("#!/bin/sh\n", 10, &m), -EBADMSG, "modinfo: not ELF is -EBADMSG");

        const char *key, *value;
        size_t kl, vl, pos = 0, n = 0;
        static const char run[] = "\0\0a.alias=b\0c=d";
        while (kiln_modinfo_next(run, sizeof(run) - 1, &pos, &key, &kl, &value, &vl) > 0)
                n++;
        ok(n == 2 && vl == 1 && *value == 'd', "modinfo: the iterator takes an unterminated last entry");
        ok(kiln_module_name_eq("xen-blkfront", "xen_blkfront") && !kiln_module_name_eq("a-b", "a_c"),
           "modinfo: '-' and '_' are one");
}

/* --------------------------------------------------- the real kernel */

static const char *const brief_list[] = { "virtio_blk", "virtio_pci", "virtio_scsi", "nvme", "xen-blkfront",
                                          "ena", "virtio_net", "vfat", "iso9660" };

static size_t strv_len(const char *const *v)
{
        size_t n = 0;
        while (v[n])
                n++;
        return n;
}

static const struct kiln_module *find_mod(const struct kiln_modules *m, const char *name)
{
        for (size_t i = 0; i < m->n_mods; i++)
                if (kiln_module_name_eq(m->mods[i].name, name))
                        return &m->mods[i];
        return NULL;
}

static ssize_t mod_index(const struct kiln_modules *m, const char *name)
{
        const struct kiln_module *k = find_mod(m, name);
        return k ? k - m->mods : -1;
}

static bool has_name(char *const *v, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (kiln_module_name_eq(v[i], name))
                        return true;
        return false;
}

static void diag_modules(const char *what, const struct kiln_modules *m)
{
        tap_diag("%s: %zu modules (%llu bytes), dependencies from %s", what, m->n_mods,
                 (unsigned long long)m->total_bytes, m->from_modules_dep ? "modules.dep" : ".modinfo depends=");
        for (size_t i = 0; i < m->n_mods; i++) {
                char deps[512] = "";
                for (size_t j = 0; j < m->mods[i].n_deps; j++)
                        snprintf(deps + strlen(deps), sizeof(deps) - strlen(deps), "%s%s", j ? "," : "",
                                 m->mods[i].deps[j]);
                tap_diag("  included %-24s %7zu bytes  %s%s%s%s", m->mods[i].name, m->mods[i].len,
                         m->mods[i].wanted ? "wanted" : "needed", *deps ? " (after " : "", deps, *deps ? ")" : "");
        }
        for (size_t i = 0; i < m->n_builtin; i++)
                tap_diag("  built in %s", m->builtin[i]);
        for (size_t i = 0; i < m->n_missing; i++)
                tap_diag("  missing  %s", m->missing[i]);
        for (size_t i = 0; i < m->n_notes; i++)
                tap_diag("  note     %s", m->notes[i]);
}

/* Every module loads after all it depends on (its own list and, as an
 * independent check, kmod's modinfo on the original). */
static bool order_holds(const struct kiln_modules *m, const char *root)
{
        bool good = true, oracle = have("modinfo");

        for (size_t i = 0; i < m->n_mods; i++) {
                for (size_t j = 0; j < m->mods[i].n_deps; j++) {
                        ssize_t k = mod_index(m, m->mods[i].deps[j]);
                        if (k < 0 || (size_t)k >= i) {
                                tap_diag("%s loads before its dependency %s", m->mods[i].name, m->mods[i].deps[j]);
                                good = false;
                        }
                }
                if (!oracle || !root)
                        continue;
                char *out = capture("modinfo -F depends '%s/%s' 2>/dev/null", root, m->mods[i].src_path);
                if (!out)
                        continue;
                out[strcspn(out, "\n")] = 0;
                for (char *s = strtok(out, ","); s; s = strtok(NULL, ",")) {
                        ssize_t k = mod_index(m, s);
                        if (k < 0 ? !has_name(m->builtin, m->n_builtin, s) : (size_t)k >= i) {
                                tap_diag("modinfo says %s depends on %s: not before it", m->mods[i].name, s);
                                good = false;
                        }
                }
                free(out);
        }
        return good;
}

static bool same_closure(const struct kiln_modules *a, const struct kiln_modules *b, bool src_paths)
{
        if (a->n_mods != b->n_mods || a->n_builtin != b->n_builtin || a->n_missing != b->n_missing)
                return false;
        for (size_t i = 0; i < a->n_mods; i++) {
                const struct kiln_module *x = &a->mods[i], *y = &b->mods[i];
                if (strcmp(x->name, y->name) || strcmp(x->path, y->path) || x->len != y->len ||
                    memcmp(x->data, y->data, x->len) || x->wanted != y->wanted ||
                    (src_paths && strcmp(x->src_path, y->src_path))) {
                        tap_diag("differ at %zu: %s (%s) vs %s (%s)", i, x->name, x->src_path, y->name, y->src_path);
                        return false;
                }
        }
        for (size_t i = 0; i < a->n_builtin; i++)
                if (strcmp(a->builtin[i], b->builtin[i]))
                        return false;
        for (size_t i = 0; i < a->n_missing; i++)
                if (strcmp(a->missing[i], b->missing[i]))
                        return false;
        return true;
}

/* The wanted list: the default one and crc32c (an alias of a built-in). */
static const char **wanted_list(size_t *ret_n)
{
        size_t n = strv_len(kiln_initramfs_default_modules);
        const char **v = calloc(n + 2, sizeof(*v));

        for (size_t i = 0; i < n; i++)
                v[i] = kiln_initramfs_default_modules[i];
        v[n++] = "crc32c";
        *ret_n = n;
        return v;
}

static int resolve_tree(const char *root, const char *version, const char *const *wanted, size_t n,
                        struct kiln_modules *ret)
{
        struct kiln_tree *t = load_tree(root);
        struct kiln_modsrc src;
        int r;

        if (!t)
                return -EIO;
        tree_src(t, &src);
        r = kiln_modules_resolve(&src, version, wanted, n, ret);
        if (r < 0)
                tap_diag("resolve in '%s': %s", root, kiln_last_error());
        kiln_tree_free(t);
        return r;
}

/* Extract the archive with zstd + GNU cpio and compare every module with the
 * original (decompressed by the stock tool when it was compressed). */
static void check_extracted(const char *tag, const uint8_t *z, size_t zlen, const struct kiln_modules *m,
                            const char *root)
{
        char dir[PATH_MAX], zpath[PATH_MAX], cpath[PATH_MAX];
        size_t n;
        uint8_t *buf;

        snprintf(dir, sizeof(dir), "%s/x-%s", tmpdir, tag);
        snprintf(zpath, sizeof(zpath), "%s/%s.cpio.zst", tmpdir, tag);
        snprintf(cpath, sizeof(cpath), "%s/%s.cpio", tmpdir, tag);
        spit(zpath, z, zlen);
        ok(sh("zstd -d -q -f '%s' -o '%s'", zpath, cpath) == 0, "%s: zstd -d unpacks the archive", tag);

        /* The names GNU cpio lists, against the names expected. */
        char lpath[PATH_MAX], epath[PATH_MAX];
        snprintf(lpath, sizeof(lpath), "%s/%s.list", tmpdir, tag);
        snprintf(epath, sizeof(epath), "%s/%s.expected", tmpdir, tag);
        FILE *f = fopen(epath, "w");
        fputs("init\ndev\ndev/console\nproc\nsys\nrun\ntmp\n", f);
        if (m) {
                fprintf(f, "lib/modules/%s/kiln.load\n", m->version);
                for (size_t i = 0; i < m->n_mods; i++) {
                        char p[PATH_MAX];
                        snprintf(p, sizeof(p), "%s", m->mods[i].path);
                        fprintf(f, "%s\n", p);
                        for (char *s = strrchr(p, '/'); s; s = strrchr(p, '/')) {
                                *s = 0;
                                fprintf(f, "%s\n", p);
                        }
                }
        }
        fclose(f);
        ok(sh("cpio -it --quiet < '%s' > '%s'", cpath, lpath) == 0 &&
                   sh("LC_ALL=C sort -u '%s' -o '%s' && LC_ALL=C sort '%s' | diff - '%s' >&2", epath, epath, lpath,
                      epath) == 0,
           "%s: cpio -t lists exactly the expected names", tag);
        ok(sh("sort '%s' | uniq -d | grep -q . ", lpath) != 0, "%s: no name twice", tag);

        ok(sh("mkdir -p '%s' && cd '%s' && cpio -id --quiet --no-absolute-filenames -f 'dev/console' < '%s'", dir,
              dir, cpath) == 0,
           "%s: cpio -i extracts it", tag);
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/init", dir);
        buf = slurp(p, &n);
        ok(buf && n == sizeof(init_bytes) && !memcmp(buf, init_bytes, n), "%s: /init is the given bytes", tag);
        free(buf);
        if (!m)
                return;

        bool same = true;
        for (size_t i = 0; i < m->n_mods; i++) {
                const char *src = m->mods[i].src_path;
                const char *tool = strstr(src, ".ko.xz") ? "xz -dc" : strstr(src, ".ko.zst") ? "zstd -dcq"
                                   : strstr(src, ".ko.gz") ? "gzip -dc" : "cat";
                if (sh("%s '%s/%s' | cmp -s - '%s/%s'", tool, root, src, dir, m->mods[i].path) != 0) {
                        tap_diag("%s differs from %s '%s'", m->mods[i].path, tool, src);
                        same = false;
                }
        }
        ok(same, "%s: all %zu extracted modules are byte-identical to the originals (decompressed)", tag, m->n_mods);

        char *load, *lp;
        size_t load_len;
        kiln_modules_load_list(m, &load, &load_len);
        kiln_modules_load_path(m, &lp);
        snprintf(p, sizeof(p), "%s/%s", dir, lp);
        buf = slurp(p, &n);
        ok(buf && n == load_len && !memcmp(buf, load, n), "%s: /%s lists the load order", tag, lp);
        bool lines = buf != NULL;
        for (size_t i = 0; lines && i < m->n_mods; i++) {
                char want[PATH_MAX];
                snprintf(want, sizeof(want), "/%s\n", m->mods[i].path);
                lines = strstr(load, want) != NULL;
        }
        ok(lines && load_len > 0 && load[load_len - 1] == '\n', "%s: one absolute path a line", tag);
        free(buf);
        free(load);
        free(lp);
}

static uint8_t *make(const struct kiln_modules *m, size_t *ret_len, size_t *ret_raw)
{
        struct kiln_initramfs_opts o = {
                .init = init_bytes,
                .init_len = sizeof(init_bytes),
                .modules = m,
                .mtime = MTIME,
                .clamp = MTIME,
                .workers = 2,
        };
        uint8_t *z;

        if (kiln_initramfs_make(&o, &z, ret_len, ret_raw) < 0) {
                tap_diag("initramfs: %s", kiln_last_error());
                return NULL;
        }
        return z;
}

static void test_kernel(void)
{
        const char *cache = getenv("KILN_CACHE") ? getenv("KILN_CACHE") : ".cache";
        char root[PATH_MAX], version[256] = "", mods[PATH_MAX + 32];
        struct kiln_modules m = { 0 }, m2 = { 0 }, md = { 0 }, mc = { 0 }, mh = { 0 }, mb = { 0 }, mx = { 0 };
        size_t n_wanted, zlen, zlen2, raw, zlen0, raw0;
        const char **wanted = wanted_list(&n_wanted);
        uint8_t *z, *z2, *z0;
        struct dirent *de;
        DIR *d;

        snprintf(root, sizeof(root), "%s/kernel", cache);
        snprintf(mods, sizeof(mods), "%s/lib/modules", root);
        if (access(mods, F_OK) != 0 && sh("tests/lib/fetch-kernel.sh >/dev/null") != 0) {
                tap_skip("no Debian cloud kernel in %s and tests/lib/fetch-kernel.sh failed", root);
                free(wanted);
                return;
        }
        if (!have("zstd") || !have("cpio") || !have("xz")) {
                tap_skip("needs zstd, cpio and xz");
                free(wanted);
                return;
        }
        d = opendir(mods);
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.')
                        snprintf(version, sizeof(version), "%s", de->d_name);
        if (d)
                closedir(d);
        tap_diag("kernel %s in %s", version, root);

        /* 1. The brief's list, as it stands. */
        int r = resolve_tree(root, version, brief_list, ARRAY_SIZE(brief_list), &mb);
        is_int(r, 0, "kernel: the closure of virtio_blk, virtio_pci, virtio_scsi, nvme, xen-blkfront, ena, "
                     "virtio_net, vfat, iso9660 resolves");
        if (r == 0) {
                diag_modules("brief list", &mb);
                ok(!mb.from_modules_dep, "kernel: no modules.dep, dependencies from .modinfo");
                ok(order_holds(&mb, root), "kernel: dependencies load first (own list and kmod's modinfo agree)");
        }

        /* 2. The default list (+ crc32c): the one kiln uses. */
        r = resolve_tree(root, version, wanted, n_wanted, &m);
        is_int(r, 0, "kernel: the default list resolves");
        if (r < 0)
                goto out;
        diag_modules("default list", &m);
        static const char *const must[] = { "virtio_blk", "virtio_pci", "virtio_scsi", "xen_blkfront", "ena",
                                            "virtio_net", "vfat", "fat", "isofs", "cdrom", "virtio",
                                            "virtio_ring", "scsi_mod", "sd_mod", "sr_mod", "nls_cp437",
                                            "nls_ascii", "nls_iso8859_1", "net_failover", "failover",
                                            "xen_netfront", "virtio_pci_modern_dev" };
        bool all = true;
        for (size_t i = 0; i < ARRAY_SIZE(must); i++)
                if (!find_mod(&m, must[i])) {
                        tap_diag("not included: %s", must[i]);
                        all = false;
                }
        ok(all, "kernel: every module needed is included");
        ok(has_name(m.builtin, m.n_builtin, "nvme") && has_name(m.builtin, m.n_builtin, "crc32c_generic") &&
                   m.n_missing == 0,
           "kernel: nvme and crc32c (crc32c_generic) are built in, nothing missing");
        ok(find_mod(&m, "isofs") && find_mod(&m, "isofs")->wanted && !find_mod(&m, "fat")->wanted,
           "kernel: iso9660 resolves to isofs by alias (wanted), fat is a dependency");
        ok(order_holds(&m, root), "kernel: dependency order holds");
        all = true;
        for (size_t i = 0; i < m.n_mods; i++)
                if (!m.mods[i].vermagic || strncmp(m.mods[i].vermagic, version, strlen(version)) ||
                    m.mods[i].len < 64 || memcmp(m.mods[i].data, "\177ELF", 4))
                        all = false;
        ok(all, "kernel: every module is an ELF file whose vermagic names %s", version);

        /* 3. Missing names are noted, not errors. */
        static const char *const odd[] = { "kiln_no_such_module", "iso9660", "crc32c", "vfat", "VFAT" };
        r = resolve_tree(root, version, odd, ARRAY_SIZE(odd), &mx);
        ok(r == 0 && mx.n_missing == 2 && !strcmp(mx.missing[0], "VFAT") &&
                   !strcmp(mx.missing[1], "kiln_no_such_module") && find_mod(&mx, "isofs") && find_mod(&mx, "vfat"),
           "kernel: unknown names are listed missing, the rest resolves");
        kiln_modules_free(&mx);

        /* 4. The archive: listed, extracted, compared. */
        z = make(&m, &zlen, &raw);
        ok(z != NULL, "initramfs: made with %zu modules", m.n_mods);
        if (!z)
                goto out;
        struct zframe h = { 0 };
        bool framed = zstd_frame(z, zlen, &h);
        ok(framed && h.window <= (1u << KILN_ZSTD_WINDOW_LOG) && h.content == raw && h.checksum &&
                   ZSTD_findFrameCompressedSize(z, zlen) == zlen,
           "initramfs: one zstd frame, window %llu bytes (the kernel takes up to 2^27), content size %zu, checksum",
           (unsigned long long)h.window, raw);
        check_extracted("kernel", z, zlen, &m, root);

        z0 = make(NULL, &zlen0, &raw0);
        ok(z0 != NULL, "initramfs: made without modules");
        if (z0)
                check_extracted("nomod", z0, zlen0, NULL, root);
        tap_diag("size: without modules %zu bytes compressed (%zu raw); with %zu modules %zu bytes compressed "
                 "(%zu raw, modules %llu bytes): modules add %zu bytes, ratio %.2f",
                 zlen0, raw0, m.n_mods, zlen, raw, (unsigned long long)m.total_bytes, zlen - zlen0,
                 (double)raw / (double)zlen);
        free(z0);

        /* 5. Reproducible: resolve and make again. */
        r = resolve_tree(root, version, wanted, n_wanted, &m2);
        z2 = r == 0 ? make(&m2, &zlen2, NULL) : NULL;
        ok(z2 && zlen2 == zlen && !memcmp(z, z2, zlen), "initramfs: two builds are byte-identical (%zu bytes)", zlen);
        free(z2);

        /* 6. depmod'ed copy: modules.dep gives the same closure. */
        char dep[PATH_MAX];
        snprintf(dep, sizeof(dep), "%s/depmod", tmpdir);
        if (!have("depmod")) {
                tap_skip("depmod (kmod) is not installed");
        } else if (copy_tree(root, dep) != 0 || sh("depmod -b '%s' '%s'", dep, version) != 0) {
                ok(false, "depmod -b on a copy of the kernel");
        } else {
                r = resolve_tree(dep, version, wanted, n_wanted, &md);
                ok(r == 0 && md.from_modules_dep, "depmod: the closure comes from modules.dep");
                ok(r == 0 && same_closure(&m, &md, true), "depmod: the same closure, order and bytes as .modinfo's");
                if (r == 0 && !same_closure(&m, &md, true))
                        diag_modules("depmod", &md);
        }

        /* 7. Compressed modules (.ko.xz, .ko.zst, .ko.gz) through the host
         * folder source: unpacked, named .ko, identical bytes. */
        char cz[PATH_MAX];
        snprintf(cz, sizeof(cz), "%s/compressed", tmpdir);
        bool made = copy_tree(root, cz) == 0;
        const char *tools[] = { "xz --check=crc32 -c", "zstd -q -19 -c", "gzip -9 -n -c" };
        const char *sfx[] = { ".xz", ".zst", ".gz" };
        for (size_t i = 0; made && i < m.n_mods; i++) {
                const char *src = m.mods[i].src_path;
                made = sh("cd '%s' && %s '%s' > '%s%s' && rm '%s'", cz, tools[i % 3], src, src, sfx[i % 3], src) == 0;
        }
        ok(made, "compressed: %zu modules of a copy compressed with xz, zstd and gzip in turn", m.n_mods);
        if (made) {
                struct kiln_modsrc hsrc;
                kiln_modsrc_host_dir(cz, &hsrc);
                r = kiln_modules_resolve(&hsrc, version, wanted, n_wanted, &mc);
                if (r < 0)
                        tap_diag("%s", kiln_last_error());
                ok(r == 0 && same_closure(&m, &mc, false), "compressed: the same closure and decompressed bytes");
                bool sfx_ok = r == 0;
                for (size_t i = 0; sfx_ok && i < mc.n_mods; i++)
                        sfx_ok = strstr(mc.mods[i].src_path, ".ko.") && strstr(mc.mods[i].path, ".ko") &&
                                 !strstr(mc.mods[i].path, ".ko.");
                ok(sfx_ok, "compressed: sources keep .ko.xz/.zst/.gz, the initramfs names .ko");
                size_t zc_len;
                uint8_t *zc = r == 0 ? make(&mc, &zc_len, NULL) : NULL;
                ok(zc && zc_len == zlen && !memcmp(zc, z, zlen), "compressed: the same initramfs, byte for byte");
                if (zc)
                        check_extracted("compressed", zc, zc_len, &mc, cz);
                free(zc);
                /* depmod writes modules.dep from the compressed modules;
                 * Debian's kmod reads no .ko.gz (built without zlib), so
                 * there the gzip'd ones go back to .ko first, on a copy. */
                char czd[PATH_MAX];
                snprintf(czd, sizeof(czd), "%s/compressed-depmod", tmpdir);
                bool gz = sh("kmod --version | grep -q '+ZLIB'") == 0;
                if (!have("depmod")) {
                        tap_skip("depmod (kmod) is not installed");
                } else if (copy_tree(cz, czd) != 0 ||
                           (!gz && sh("find '%s' -name '*.ko.gz' -exec gzip -df {} +", czd) != 0) ||
                           sh("depmod -b '%s' '%s'", czd, version) != 0) {
                        ok(false, "compressed: depmod -b on the compressed copy");
                } else {
                        struct kiln_modsrc dsrc;
                        struct kiln_modules mcd = { 0 };
                        kiln_modsrc_host_dir(czd, &dsrc);
                        r = kiln_modules_resolve(&dsrc, version, wanted, n_wanted, &mcd);
                        ok(r == 0 && mcd.from_modules_dep && same_closure(&mc, &mcd, gz),
                           "compressed: depmod's modules.dep (.ko.xz, .ko.zst%s) gives the same closure",
                           gz ? ", .ko.gz" : "; this kmod reads no .ko.gz: those unpacked");
                        kiln_modules_free(&mcd);
                }
        }

        /* 7b. Broken modules: skipped while looking for aliases, an error
         * when needed. */
        if (made && sh("cd '%s/lib/modules/%s' && rm -f modules.dep && printf 'not a module' > kernel/zz_junk.ko && "
                       "printf 'not xz' > kernel/zz_trunc.ko.xz && "
                       "head -c 65536 /bin/sh | xz -c | head -c 100 > kernel/zz_cut.ko.xz", cz, version) == 0) {
                struct kiln_modsrc hsrc;
                struct kiln_modules mj = { 0 };
                static const char *const alias_only[] = { "iso9660" };
                kiln_modsrc_host_dir(cz, &hsrc);
                r = kiln_modules_resolve(&hsrc, version, alias_only, 1, &mj);
                bool noted = false;
                for (size_t i = 0; r == 0 && i < mj.n_notes; i++)
                        noted |= strstr(mj.notes[i], "zz_junk.ko: skipped") != NULL;
                ok(r == 0 && find_mod(&mj, "isofs") && noted,
                   "broken: a junk module is skipped (with a note) while looking for an alias");
                kiln_modules_free(&mj);
                static const char *const junk[] = { "zz_junk" }, *const trunc[] = { "zz_trunc" },
                                         *const cut[] = { "zz_cut" };
                r = kiln_modules_resolve(&hsrc, version, junk, 1, &mj);
                ok(r == -EBADMSG && strstr(kiln_last_error(), "zz_junk.ko"), "broken: a junk module wanted is "
                   "-EBADMSG: %s", kiln_last_error());
                r = kiln_modules_resolve(&hsrc, version, trunc, 1, &mj);
                ok(r == -EBADMSG && strstr(kiln_last_error(), "zz_trunc.ko.xz"), "broken: bad xz is -EBADMSG: %s",
                   kiln_last_error());
                r = kiln_modules_resolve(&hsrc, version, cut, 1, &mj);
                ok(r == -EBADMSG, "broken: truncated xz is -EBADMSG: %s", kiln_last_error());
        }

        /* 8. The host folder source agrees with the tree. */
        struct kiln_modsrc hs;
        kiln_modsrc_host_dir(root, &hs);
        r = kiln_modules_resolve(&hs, version, wanted, n_wanted, &mh);
        ok(r == 0 && same_closure(&m, &mh, true), "host folder: the same closure as the tree");

        /* 9. A merged-/usr rootfs (lib -> usr/lib, depmod'ed by its
         * postinst), made here as Debian's would hold the kernel package. */
        char rootfs[PATH_MAX], rmods[PATH_MAX + 300];
        snprintf(rootfs, sizeof(rootfs), "%s/merged-usr", tmpdir);
        snprintf(rmods, sizeof(rmods), "%s/usr/lib/modules/%s/modules.dep", rootfs, version);
        if (!have("depmod")) {
                tap_skip("depmod (kmod) is not installed: no modules.dep for the merged-/usr rootfs");
        } else if (sh("mkdir -p '%s/usr/lib' && ln -s usr/lib '%s/lib'", rootfs, rootfs) != 0 ||
                   sh("cp -al '%s/lib/modules' '%s/usr/lib/' 2>/dev/null || cp -a '%s/lib/modules' '%s/usr/lib/'",
                      root, rootfs, root, rootfs) != 0 ||
                   sh("depmod -b '%s' '%s'", rootfs, version) != 0 || access(rmods, R_OK) != 0) {
                ok(false, "rootfs: a merged-/usr rootfs with kernel %s, depmod'ed, in %s", version, rootfs);
        } else {
                struct kiln_modules mr = { 0 };
                r = resolve_tree(rootfs, version, wanted, n_wanted, &mr);
                ok(r == 0 && mr.from_modules_dep && same_closure(&m, &mr, false),
                   "rootfs: through the lib -> usr/lib symlink, modules.dep gives the same closure");
                kiln_modules_free(&mr);
        }

        /* 10. Errors. */
        struct kiln_modules me;
        r = kiln_modules_resolve(&hs, "0.0.0-none", wanted, n_wanted, &me);
        ok(r == -ENOENT && strstr(kiln_last_error(), "lib/modules/0.0.0-none"),
           "errors: an absent kernel version is -ENOENT: %s", kiln_last_error());
        r = kiln_modules_resolve(&hs, "../x", wanted, n_wanted, &me);
        is_int(r, -EINVAL, "errors: a version with '/' is refused");
        free(z);
out:
        kiln_modules_free(&m);
        kiln_modules_free(&m2);
        kiln_modules_free(&md);
        kiln_modules_free(&mc);
        kiln_modules_free(&mh);
        kiln_modules_free(&mb);
        free(wanted);
}

/* The real modules' .modinfo against kmod's modinfo, for a few. */
static void test_modinfo_real(void)
{
        const char *cache = getenv("KILN_CACHE") ? getenv("KILN_CACHE") : ".cache";
        static const char *const rel[] = { "kernel/drivers/block/virtio_blk.ko", "kernel/fs/isofs/isofs.ko",
                                           "kernel/lib/libcrc32c.ko", "kernel/drivers/net/virtio_net.ko" };
        char mods[PATH_MAX], version[256] = "";
        struct dirent *de;
        DIR *d;

        snprintf(mods, sizeof(mods), "%s/kernel/lib/modules", cache);
        if (access(mods, F_OK) != 0)
                sh("tests/lib/fetch-kernel.sh >/dev/null");
        d = opendir(mods);
        while (d && (de = readdir(d)))
                if (de->d_name[0] != '.')
                        snprintf(version, sizeof(version), "%s", de->d_name);
        if (d)
                closedir(d);
        if (!*version || !have("modinfo")) {
                tap_skip("no kernel or no kmod modinfo for the .modinfo oracle");
                return;
        }
        for (size_t i = 0; i < ARRAY_SIZE(rel); i++) {
                char path[PATH_MAX * 2];
                snprintf(path, sizeof(path), "%s/%s/%s", mods, version, rel[i]);
                size_t len;
                uint8_t *buf = slurp(path, &len);
                struct kiln_modinfo mi;
                if (!buf || kiln_modinfo_parse(buf, len, &mi) < 0) {
                        ok(false, "modinfo: %s parses", rel[i]);
                        free(buf);
                        continue;
                }
                /* depends, name, vermagic, then the aliases and softdeps, as kmod prints them. */
                char *want = capture("(modinfo -F depends '%s'; modinfo -F name '%s'; modinfo -F vermagic '%s'; "
                                     "modinfo -F alias '%s'; modinfo -F softdep '%s') 2>/dev/null",
                                     path, path, path, path, path);
                char got[8192];
                size_t o = (size_t)snprintf(got, sizeof(got), "%s\n%s\n%s\n", mi.depends ? mi.depends : "",
                                            mi.name ? mi.name : "", mi.vermagic ? mi.vermagic : "");
                for (size_t j = 0; j < mi.n_aliases && o < sizeof(got); j++)
                        o += (size_t)snprintf(got + o, sizeof(got) - o, "%s\n", mi.aliases[j]);
                for (size_t j = 0; j < mi.n_softdeps && o < sizeof(got); j++)
                        o += (size_t)snprintf(got + o, sizeof(got) - o, "%s\n", mi.softdeps[j]);
                if (!ok(want && !strcmp(got, want), "modinfo: %s: depends, name, vermagic, aliases, softdeps as kmod's "
                        "modinfo prints them", rel[i]))
                        tap_diag("got:\n%s# kmod:\n%s", got, want);
                free(want);
                kiln_modinfo_free(&mi);
                free(buf);
        }
}

int main(void)
{
        if (!mkdtemp(tmpdir))
                return 1;
        test_cpio();
        test_zstd();
        test_modinfo_synthetic();
        test_modinfo_real();
        test_kernel();
        if (getenv("KILN_KEEP_TMP"))
                tap_diag("kept %s", tmpdir);
        else
                sh("rm -rf '%s'", tmpdir);
        return tap_done();
}
