/* SPDX-License-Identifier: MIT */
/*
 * An empty ext4 on an instance-store device, made by kiln-init itself with
 * libext2fs (linked statically into it), for the boot stage (stage.c): the
 * image needs no mkfs.ext4, and the file system is the same whatever the
 * image holds.  mke2fs's minimum with its ext4 defaults (mke2fs.conf of
 * Debian 12 and 13, which their kernels mount): 4 KiB blocks, 256-byte
 * inodes, one inode per 16 KiB, 5 % reserved for root, flex_bg of 16, and
 * kiln's root features (has_journal, ext_attr, resize_inode, dir_index,
 * filetype, extent, flex_bg, 64bit, sparse_super, large_file, huge_file,
 * dir_nlink, extra_isize, metadata_csum).  Inode tables are left for the
 * kernel to zero in the background (lazy_itable_init, the groups marked
 * uninitialised, as mke2fs does by default), so a 75 GiB store is made in
 * seconds; the journal is zeroed through the device's zero-out when it has
 * one (BLKZEROOUT, NVMe Write Zeroes), as mke2fs zeroes it.
 */
#ifndef KILN_CLOUD_INIT_LITE_MKFS_H
#define KILN_CLOUD_INIT_LITE_MKFS_H

#include <stdint.h>

struct kiln_mkfs_result {
        uint64_t blocks;         /* file system blocks */
        uint32_t block_size;     /* bytes */
        uint64_t inodes;
        uint64_t journal_blocks;
        uint8_t uuid[16];
};

/*
 * Make ext4 on device (a block device, opened O_EXCL so a mounted one is
 * refused, or a regular file), labelled label (at most 16 bytes; NULL for
 * none), with a random UUID.  Whatever the device holds is overwritten: the
 * caller checks first that it is blank.  Returns 0 (and *ret, which may be
 * NULL), or -errno with a message naming the device: -ENOSPC when it is
 * smaller than 8 MiB, -EINVAL for a label over 16 bytes, -EBUSY when it is
 * in use.
 */
int kiln_mkfs_ext4(const char *device, const char *label, struct kiln_mkfs_result *ret);

#endif
