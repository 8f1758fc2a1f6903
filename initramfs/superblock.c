/* SPDX-License-Identifier: MIT */
/* An ext2/3/4 superblock -> its health.  Pure; see superblock.h. */
#include "superblock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define EXT4_MAGIC 0xef53u
#define COMPAT_HAS_JOURNAL 0x0004u
#define INCOMPAT_RECOVER 0x0004u
#define INCOMPAT_64BIT 0x0080u

static uint16_t le16(const uint8_t *p)
{
        return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int kiln_ext4_sb_parse(const void *buf, size_t len, struct kiln_ext4_sb *ret)
{
        const uint8_t *p = buf;
        struct kiln_ext4_sb sb = { 0 };
        uint32_t log_bs;

        if (!buf || len < KILN_EXT4_SB_SIZE)
                return kiln_errorf(-EINVAL, "an ext4 superblock is %u bytes, got %zu", KILN_EXT4_SB_SIZE,
                                   buf ? len : 0);
        if (le16(p + 0x38) != EXT4_MAGIC)
                return kiln_errorf(-EBADMSG, "no ext2/3/4 superblock (magic 0x%04x, not 0xef53)", le16(p + 0x38));
        /* ext4 allows 1 KiB to 64 KiB blocks (e2fsprogs: EXT2_MAX_BLOCK_LOG_SIZE 16). */
        log_bs = le32(p + 0x18);
        if (log_bs > 6)
                return kiln_errorf(-EBADMSG, "ext4 superblock: block size 2^%u KiB is impossible", log_bs);
        sb.block_size = 1024u << log_bs;
        sb.state = le16(p + 0x3a);
        sb.errors = le16(p + 0x3c);
        sb.feature_compat = le32(p + 0x5c);
        sb.feature_incompat = le32(p + 0x60);
        sb.feature_ro_compat = le32(p + 0x64);
        sb.blocks_count = le32(p + 0x04);
        if (sb.feature_incompat & INCOMPAT_64BIT)
                sb.blocks_count |= (uint64_t)le32(p + 0x150) << 32;
        sb.error_count = le32(p + 0x194);
        sb.first_error_time = le32(p + 0x198);
        sb.last_error_time = le32(p + 0x1cc);
        sb.has_journal = (sb.feature_compat & COMPAT_HAS_JOURNAL) != 0;
        sb.needs_recovery = (sb.feature_incompat & INCOMPAT_RECOVER) != 0;
        sb.has_errors = (sb.state & KILN_EXT4_STATE_ERROR) || sb.error_count > 0;
        sb.clean = (sb.state & KILN_EXT4_STATE_VALID) && !sb.needs_recovery && !sb.has_errors;
        *ret = sb;
        return 0;
}

void kiln_ext4_sb_describe(const struct kiln_ext4_sb *sb, char *buf, size_t len)
{
        if (sb->has_errors) {
                int n = snprintf(buf, len, "marked with errors (state 0x%04x", sb->state);
                if (n >= 0 && (size_t)n < len && sb->error_count)
                        n += snprintf(buf + n, len - (size_t)n, ", %u error%s recorded since the last check",
                                      sb->error_count, sb->error_count == 1 ? "" : "s");
                if (n >= 0 && (size_t)n < len)
                        snprintf(buf + n, len - (size_t)n, ")");
        } else if (sb->needs_recovery) {
                snprintf(buf, len, "not cleanly unmounted (its journal needs replaying)");
        } else if (!(sb->state & KILN_EXT4_STATE_VALID)) {
                snprintf(buf, len, "not cleanly unmounted (state 0x%04x)", sb->state);
        } else {
                snprintf(buf, len, "clean");
        }
}
