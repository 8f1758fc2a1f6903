/* SPDX-License-Identifier: MIT */
/*
 * The ext4 writer over the memory backend: contents read back through
 * libext2fs, e2fsck -fn on the result, reproducibility, and every disk
 * write failed in turn without a crash or a success report.
 */
#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "disk.h"
#include "ext2io.h"
#include "ext4.h"
#include "tree.h"
#include "util.h"

#define SIZE (64u << 20)

static struct kiln_tree *make_tree(void)
{
        struct kiln_tree *t;
        struct kiln_inode *in;
        char name[64];

        kiln_tree_new(&t);
        t->default_time = (struct timespec){ 1600000000, 0 };
        t->root->inode->mtime = t->root->inode->atime = t->root->inode->ctime = t->default_time;
        in = kiln_tree_new_inode(t);
        in->mode = S_IFLNK | 0777;
        in->symlink = strdup("/a/target/that/is/longer/than/sixty/bytes/so/it/needs/a/block/of/its/own");
        in->size = strlen(in->symlink);
        in->mtime = (struct timespec){ 1234567890, 123456789 };
        kiln_tree_add(t, "etc/long-link", in, NULL);
        in = kiln_tree_new_inode(t);
        in->mode = S_IFCHR | 0600;
        in->rdev = makedev(300, 70000);
        kiln_tree_add(t, "dev/odd", in, NULL);
        in = kiln_tree_new_inode(t);
        in->mode = S_IFREG | 04755;
        in->uid = 100000;
        in->gid = 70000;
        kiln_inode_set_xattr(in, "user.comment", "hello", 5);
        kiln_tree_add(t, "usr/bin/empty", in, NULL);
        kiln_tree_add(t, "usr/bin/empty-link", in, NULL); /* a hardlink */
        for (int i = 0; i < 400; i++) {
                in = kiln_tree_new_inode(t);
                in->mode = S_IFREG | 0644;
                snprintf(name, sizeof(name), "big/entry-with-a-long-name-%04d", i);
                kiln_tree_add(t, name, in, NULL);
        }
        kiln_tree_finalize(t);
        return t;
}

static const struct kiln_ext4_opts opts = {
        .label = "test",
        .uuid = { 1, 2, 3, 4, 5, 6, 0x47, 8, 0x89, 10, 11, 12, 13, 14, 15, 16 },
        .hash_seed = { 9, 9, 9, 9 },
        .now = 1700000000,
};

static int write_image(struct kiln_disk *d)
{
        struct kiln_tree *t = make_tree();
        int r = kiln_ext4_write(d, t, &opts, NULL);
        kiln_tree_free(t);
        return r;
}

static void check_contents(struct kiln_disk *d)
{
        char name[64];
        ext2_filsys fs;
        ext2_ino_t ino;
        struct ext2_inode_large in;

        kiln_io_name(d, name, sizeof(name));
        ok(ext2fs_open(name, EXT2_FLAG_64BITS, 0, 0, kiln_io_manager, &fs) == 0, "libext2fs opens it");
        ok(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "usr/bin/empty", &ino) == 0, "namei usr/bin/empty");
        ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof(in));
        is_int(in.i_mode, S_IFREG | 04755, "mode kept with setuid");
        is_int(inode_uid(in), 100000, "32-bit uid kept");
        is_int(inode_gid(in), 70000, "32-bit gid kept");
        is_int(in.i_links_count, 2, "hardlink count");
        ok(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "etc/long-link", &ino) == 0, "namei long link");
        ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof(in));
        is_int(in.i_mtime, 1234567890, "mtime seconds");
        is_int(in.i_mtime_extra >> 2, 123456789, "mtime nanoseconds");
        ok(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "big/entry-with-a-long-name-0399", &ino) == 0,
           "lookup in the hash-indexed folder");
        ok(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "big", &ino) == 0, "namei big");
        ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)&in, sizeof(in));
        ok(in.i_flags & EXT2_INDEX_FL, "a multi-block folder is hash-indexed");
        ok(!(fs->super->s_feature_incompat & EXT4_FEATURE_INCOMPAT_CSUM_SEED), "no metadata_csum_seed (GRUB 2.06)");
        ok(fs->super->s_reserved_gdt_blocks >= 256 - fs->desc_blocks, "reserved GDT for growth to 2 TiB");
        ext2fs_close_free(&fs);
}

static void check_fsck(struct kiln_disk *d)
{
        char path[] = "/tmp/kiln-test-ext4-XXXXXX", cmd[128];
        int fd = mkstemp(path);
        const uint8_t *data = kiln_disk_memory_data(d);
        size_t off = 0;

        while (off < SIZE) {
                size_t n = MIN((size_t)(1 << 20), SIZE - off);
                bool zero = true;
                for (size_t i = 0; i < n && zero; i++)
                        zero = data[off + i] == 0;
                if (!zero && pwrite(fd, data + off, n, (off_t)off) != (ssize_t)n)
                        break;
                off += n;
        }
        ftruncate(fd, SIZE);
        close(fd);
        snprintf(cmd, sizeof(cmd), "e2fsck -fn %s >/dev/null 2>&1", path);
        ok(system(cmd) == 0, "e2fsck -fn is clean");
        unlink(path);
}

int main(void)
{
        struct kiln_disk *a, *b;

        kiln_disk_new_memory(SIZE, &a);
        ok(write_image(a) == 0, "write a filesystem into memory: %s", kiln_last_error());
        check_contents(a);
        check_fsck(a);
        kiln_disk_new_memory(SIZE, &b);
        write_image(b);
        ok(memcmp(kiln_disk_memory_data(a), kiln_disk_memory_data(b), SIZE) == 0,
           "same inputs give the same bytes");
        /* Fail each write in turn: the build must fail with the injected
         * error, or (where libext2fs retries, as ext2fs_zero_blocks2 falls
         * back from zeroout to plain writes) produce the very same image. */
        struct kiln_disk *m, *f;
        kiln_disk_new_memory(SIZE, &m);
        kiln_disk_new_fault(m, 0, &f);
        write_image(f);
        unsigned total = kiln_disk_fault_writes(f), failed = 0, recovered = 0, wrong = 0;
        kiln_disk_free(f);
        for (unsigned n = 1; n <= total; n++) {
                kiln_disk_new_memory(SIZE, &m);
                kiln_disk_new_fault(m, n, &f);
                int r = write_image(f);
                if (r == -EIO && strstr(kiln_last_error(), "injected")) {
                        failed++;
                } else if (r == 0 && !memcmp(kiln_disk_memory_data(m), kiln_disk_memory_data(a), SIZE)) {
                        recovered++;
                } else {
                        wrong++;
                        tap_diag("write %u: result %d: %s", n, r, kiln_last_error());
                }
                kiln_disk_free(f);
        }
        ok(total > 10 && wrong == 0, "each of %u writes failed in turn: %u builds failed cleanly, %u recovered identically",
           total, failed, recovered);
        kiln_disk_free(a);
        kiln_disk_free(b);
        return tap_done();
}
