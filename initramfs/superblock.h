/* SPDX-License-Identifier: MIT */
/*
 * The health of an ext2/3/4 filesystem, from its primary superblock: a pure
 * parser over the superblock's 1024 bytes (no I/O; kiln-init reads them
 * from the block device at byte KILN_EXT4_SB_OFFSET), so kiln-init needs no
 * libext2fs.  The fields are e2fsprogs' lib/ext2fs/ext2_fs.h and the
 * kernel's fs/ext4/ext4.h, all little-endian:
 *
 *   0x004 s_blocks_count_lo   0x03a s_state (VALID 1, ERROR 2, ORPHAN 4)
 *   0x018 s_log_block_size    0x03c s_errors (what the kernel does on one)
 *   0x038 s_magic 0xef53      0x060 s_feature_incompat (RECOVER 0x4, 64BIT 0x80)
 *   0x05c s_feature_compat (HAS_JOURNAL 0x4)
 *   0x150 s_blocks_count_hi   0x194 s_error_count
 *   0x198 s_first_error_time  0x1cc s_last_error_time
 *
 * "Errors": the kernel found the filesystem inconsistent and said so in the
 * superblock (s_state ERROR, which e2fsck clears after a full check, or a
 * non-zero s_error_count, which it clears too).  "Clean": VALID is set and
 * no journal waits to be replayed (RECOVER: mounted read-write and never
 * unmounted, as after a power cut).
 */
#ifndef KILN_INITRAMFS_SUPERBLOCK_H
#define KILN_INITRAMFS_SUPERBLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_EXT4_SB_OFFSET 1024u
#define KILN_EXT4_SB_SIZE 1024u

#define KILN_EXT4_STATE_VALID 0x0001u
#define KILN_EXT4_STATE_ERROR 0x0002u
#define KILN_EXT4_STATE_ORPHAN 0x0004u

struct kiln_ext4_sb {
        uint16_t state;          /* s_state */
        uint16_t errors;         /* s_errors: 1 continue, 2 remount-ro, 3 panic */
        uint32_t feature_compat, feature_incompat, feature_ro_compat;
        uint32_t block_size;     /* 1024 << s_log_block_size */
        uint64_t blocks_count;   /* with the high half when 64bit */
        uint32_t error_count;    /* s_error_count */
        uint32_t first_error_time, last_error_time;
        bool has_journal;
        bool needs_recovery;     /* INCOMPAT_RECOVER: a journal to replay */
        bool has_errors;         /* state ERROR, or error_count > 0 */
        bool clean;              /* state VALID, no journal to replay, no errors */
};

/*
 * Parse the superblock in buf[0..len), len at least KILN_EXT4_SB_SIZE (the
 * bytes from KILN_EXT4_SB_OFFSET on).  -EINVAL when len is short, -EBADMSG
 * when the magic is not ext2/3/4's or the block size is impossible; *ret is
 * written only on success.
 */
int kiln_ext4_sb_parse(const void *buf, size_t len, struct kiln_ext4_sb *ret);

/* One line for the console: "errors (state 0x0003, 2 errors since the last
 * check)", "not cleanly unmounted (journal to replay)", "clean". */
void kiln_ext4_sb_describe(const struct kiln_ext4_sb *sb, char *buf, size_t len);

#endif
