/* SPDX-License-Identifier: MIT */
/* The ext4 root volume, written through libext2fs straight into a disk. */
#ifndef KILN_EXT4_H
#define KILN_EXT4_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "disk.h"
#include "tree.h"

struct kiln_ext4_opts {
        const char *label;        /* NULL or at most 16 bytes */
        uint8_t uuid[16];
        uint8_t hash_seed[16];    /* also seeds inode generation numbers */
        time_t now;               /* creation time (SOURCE_DATE_EPOCH when set) */
        void (*progress)(void *ud, uint64_t files, uint64_t bytes);
        void *progress_ud;
};

struct kiln_ext4_result {
        uint64_t blocks, free_blocks;
        uint32_t inodes, free_inodes;
        uint32_t block_size;
        uint32_t htree_dirs;      /* folders written hash-indexed */
        bool ea_inode;            /* an xattr value needed its own inode (GRUB cannot read this) */
};

/* The smallest volume (bytes, a multiple of 1 MiB) that holds the tree with
 * extra free space of at least extra_bytes. */
int kiln_ext4_min_size(struct kiln_tree *t, uint64_t extra_bytes, uint64_t *ret);

/* Write the tree as an ext4 filesystem filling the whole disk.  The disk
 * must read as zeros where nothing was written (a fresh sparse file). */
int kiln_ext4_write(struct kiln_disk *disk, struct kiln_tree *t, const struct kiln_ext4_opts *o,
                    struct kiln_ext4_result *ret);

#endif
