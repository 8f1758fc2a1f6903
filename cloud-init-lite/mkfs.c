/* SPDX-License-Identifier: MIT */
/*
 * ext4 on an instance store, the way mke2fs makes it with its defaults (see
 * mkfs.h): mke2fs.c's main() reduced to the steps an empty file system
 * needs, with the same libext2fs calls kiln's root builder (builder/ext4.c)
 * uses for the sequence.  The builder writes through the disk seam and
 * knows the disk reads as zeros; here the device is a real one with
 * unknown contents, opened by path through libext2fs's unix_io_manager, so
 * what is not zeroed is marked for the kernel to initialise.
 */
#include "mkfs.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <ext2fs/ext2fs.h>

#include "util.h"

#define MKFS_BLOCK_SIZE 4096u
#define MKFS_LOG_BLOCK_SIZE 2      /* 1024 << 2 */
#define MKFS_INODE_SIZE 256
#define MKFS_INODE_RATIO 16384u    /* bytes per inode */
#define MKFS_LOG_GROUPS_PER_FLEX 4 /* flex_bg of 16 */
#define MKFS_MIN_BLOCKS 2048u      /* 8 MiB */
#define MKFS_LPF_BYTES (16u * 1024) /* lost+found's size, as mke2fs makes it */

/* libext2fs's errcode_t -> -errno and the message, for this file only (the
 * builder's adapter, builder/ext2io.c, is above cloud-init-lite's layer). */
static int mkfs_error(errcode_t e, const char *device, const char *what)
{
        if (e > 0 && e < 4096)
                return kiln_errorf(-(int)e, "'%s': %s: %s", device, what, strerror((int)e));
        if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL || e == EXT2_ET_DIR_NO_SPACE)
                return kiln_errorf(-ENOSPC, "'%s': %s: %s", device, what, error_message(e));
        return kiln_errorf(-EIO, "'%s': %s: %s", device, what, error_message(e));
}

static void set_features(struct ext2_super_block *s)
{
        /* mke2fs.conf's base_features and ext4's features, as Debian 12
         * and 13 ship them; the same set as kiln's root (builder/ext4.c). */
        ext2fs_set_feature_sparse_super(s);
        ext2fs_set_feature_large_file(s);
        ext2fs_set_feature_filetype(s);
        ext2fs_set_feature_resize_inode(s);
        ext2fs_set_feature_dir_index(s);
        ext2fs_set_feature_xattr(s);
        ext2fs_set_feature_journal(s);
        ext2fs_set_feature_extents(s);
        ext2fs_set_feature_huge_file(s);
        ext2fs_set_feature_flex_bg(s);
        ext2fs_set_feature_metadata_csum(s);
        ext2fs_set_feature_64bit(s);
        ext2fs_set_feature_dir_nlink(s);
        ext2fs_set_feature_extra_isize(s);
}

/*
 * mke2fs's zap_sector() and the wipe of the device's end: old metadata
 * another tool might find later (bytes 1 KiB..4 KiB of block 0 around the
 * superblock; MD RAID's and others' superblocks in the last 64 KiB), and a
 * check that the device is as large as its size says.
 */
static errcode_t wipe_edges(ext2_filsys fs)
{
        static const char zeros[3072];
        blk64_t rsv = 65536 / fs->blocksize, blocks = ext2fs_blocks_count(fs->super), start;
        errcode_t e;

        e = io_channel_write_byte(fs->io, 1024, (int)sizeof(zeros), zeros);
        if (e)
                return e;
        start = blocks & ~(rsv - 1);
        if (start > rsv)
                start -= rsv;
        if (start > 0)
                return ext2fs_zero_blocks2(fs, start, (int)(blocks - start), NULL, NULL);
        return 0;
}

/*
 * mke2fs's write_inode_tables() with lazy_itable_init: of each group's
 * inode table only the blocks that hold inodes in use are zeroed; the
 * others keep EXT2_BG_INODE_ZEROED clear, and the kernel's ext4lazyinit
 * thread zeroes them after the first mount.  Then the reserved inodes get
 * valid checksums, as metadata_csum needs.
 */
static errcode_t write_inode_tables(ext2_filsys fs)
{
        struct ext2_inode_large *inode;
        errcode_t e;

        for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
                blk64_t blk = ext2fs_inode_table_loc(fs, g);
                uint64_t used = fs->super->s_inodes_per_group - ext2fs_bg_itable_unused(fs, g);
                int num = (int)DIV_ROUND_UP(used * EXT2_INODE_SIZE(fs->super), fs->blocksize);

                if (num > 0 && (e = ext2fs_zero_blocks2(fs, blk, num, NULL, NULL)))
                        return e;
        }
        e = ext2fs_get_memzero(EXT2_INODE_SIZE(fs->super), &inode);
        if (e)
                return e;
        for (ext2_ino_t ino = 1; ino < EXT2_FIRST_INODE(fs->super) && !e; ino++)
                e = ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)inode, EXT2_INODE_SIZE(fs->super));
        ext2fs_free_mem(&inode);
        return e;
}

/* The root folder, lost+found (16 KiB, 0700, as e2fsck wants it), the
 * reserved inodes taken, the bad-blocks inode (empty). */
static errcode_t make_dirs(ext2_filsys fs, const char **what)
{
        ext2_ino_t lpf;
        errcode_t e;

        *what = "cannot make the root folder";
        e = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, NULL);
        if (e)
                return e;
        *what = "cannot make lost+found";
        fs->umask = 077;
        e = ext2fs_mkdir(fs, EXT2_ROOT_INO, 0, "lost+found");
        fs->umask = 022;
        if (!e)
                e = ext2fs_lookup(fs, EXT2_ROOT_INO, "lost+found", 10, NULL, &lpf);
        for (unsigned size = fs->blocksize; !e && size < MKFS_LPF_BYTES; size += fs->blocksize)
                e = ext2fs_expand_dir(fs, lpf);
        if (e)
                return e;
        *what = "cannot reserve the special inodes";
        for (ext2_ino_t ino = EXT2_ROOT_INO + 1; ino < EXT2_FIRST_INODE(fs->super); ino++)
                ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
        ext2fs_mark_ib_dirty(fs);
        ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
        ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
        return ext2fs_update_bb_inode(fs, NULL);
}

int kiln_mkfs_ext4(const char *device, const char *label, struct kiln_mkfs_result *ret)
{
        struct ext2_super_block param;
        struct ext2fs_journal_params jp = { 0 };
        struct kiln_mkfs_result res = { 0 };
        ext2_filsys fs = NULL;
        blk64_t blocks = 0;
        const char *what;
        errcode_t e;
        int r;

        initialize_ext2_error_table();
        if (label && strlen(label) > sizeof(param.s_volume_name))
                return kiln_errorf(-EINVAL, "'%s': label '%s' is longer than 16 bytes", device, label);
        e = ext2fs_get_device_size2(device, MKFS_BLOCK_SIZE, &blocks);
        if (e)
                return mkfs_error(e, device, "cannot read its size");
        if (blocks < MKFS_MIN_BLOCKS)
                return kiln_errorf(-ENOSPC, "'%s': %llu bytes is too small for ext4 (at least 8 MiB)", device,
                                   (unsigned long long)blocks * MKFS_BLOCK_SIZE);

        memset(&param, 0, sizeof(param));
        ext2fs_blocks_count_set(&param, blocks);
        param.s_log_block_size = MKFS_LOG_BLOCK_SIZE;
        param.s_rev_level = EXT2_DYNAMIC_REV;
        param.s_inode_size = MKFS_INODE_SIZE;
        param.s_inodes_count = (__u32)MIN(blocks * MKFS_BLOCK_SIZE / MKFS_INODE_RATIO, (uint64_t)UINT32_MAX - 1024);
        param.s_log_groups_per_flex = MKFS_LOG_GROUPS_PER_FLEX;
        ext2fs_r_blocks_count_set(&param, blocks * 5 / 100);
        set_features(&param);
        /* As mke2fs: the resize inode cannot describe growth past 2^32 blocks. */
        if (blocks > UINT32_MAX)
                ext2fs_clear_feature_resize_inode(&param);

        /* EXCLUSIVE: O_EXCL on a block device, so one mounted or in use is refused. */
        e = ext2fs_initialize(device, EXT2_FLAG_EXCLUSIVE | EXT2_FLAG_64BITS, &param, unix_io_manager, &fs);
        if (e)
                return mkfs_error(e, device, "cannot lay out the file system");

        struct ext2_super_block *s = fs->super;
        random_uuid(s->s_uuid);
        random_uuid((uint8_t *)s->s_hash_seed);
        s->s_checksum_type = EXT2_CRC32C_CHKSUM;
        ext2fs_init_csum_seed(fs);
        s->s_def_hash_version = EXT2_HASH_HALF_MD4;
        s->s_flags = (s->s_flags & ~EXT2_FLAGS_SIGNED_HASH) | EXT2_FLAGS_UNSIGNED_HASH;
        s->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
        s->s_max_mnt_count = (__s16)-1;
        s->s_checkinterval = 0;
        if (label)
                strncpy((char *)s->s_volume_name, label, sizeof(s->s_volume_name));

        what = "cannot wipe old metadata";
        e = wipe_edges(fs);
        if (!e) {
                what = "cannot lay out the file system";
                e = ext2fs_allocate_tables(fs);
        }
        if (!e) {
                what = "cannot write the inode tables";
                e = write_inode_tables(fs);
        }
        if (!e)
                e = make_dirs(fs, &what);
        if (!e && ext2fs_has_feature_resize_inode(s)) {
                what = "cannot make the resize inode";
                e = ext2fs_create_resize_inode(fs);
        }
        if (!e) {
                /* mke2fs's default size; zeroed (by zero-out where the
                 * device has it), not lazily: the device's old contents
                 * are unknown. */
                what = "cannot make the journal";
                e = ext2fs_get_journal_params(&jp, fs);
                if (!e)
                        e = ext2fs_add_journal_inode3(fs, &jp, ~0ULL, EXT2_MKJOURNAL_NO_MNT_CHECK);
        }
        if (!e) {
                what = "cannot finish the group descriptors";
                e = ext2fs_set_gdt_csum(fs);
        }
        if (e) {
                r = mkfs_error(e, device, what);
                ext2fs_free(fs);
                return r;
        }
        res.blocks = ext2fs_blocks_count(s);
        res.block_size = fs->blocksize;
        res.inodes = s->s_inodes_count;
        res.journal_blocks = jp.num_journal_blocks;
        memcpy(res.uuid, s->s_uuid, sizeof(res.uuid));
        /* Superblocks, group descriptors, bitmaps, then the device flushed. */
        e = ext2fs_close_free(&fs);
        if (e)
                return mkfs_error(e, device, "cannot write the file system's metadata");
        if (ret)
                *ret = res;
        return 0;
}
