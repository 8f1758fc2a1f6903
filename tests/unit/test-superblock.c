/* SPDX-License-Identifier: MIT */
/*
 * The ext4 superblock reader kiln-init decides with (initramfs/superblock.h):
 * built byte by byte (clean, the errors flag, an error count alone, not
 * cleanly unmounted with and without a journal to replay, 64bit block
 * counts, a bad magic, an impossible block size, a short buffer), then the
 * superblock of a real filesystem made by mke2fs and changed with debugfs
 * (e2fsprogs are the oracle: "ssv state 2" is the errors flag, "ssv state 0"
 * not clean, "feature needs_recovery" a journal to replay).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "superblock.h"
#include "util.h"

static void put16(uint8_t *sb, size_t off, uint16_t v)
{
        put_le16(sb + off, v);
}

static void put32(uint8_t *sb, size_t off, uint32_t v)
{
        put_le32(sb + off, v);
}

/* A clean ext4 superblock: 4 KiB blocks, a journal, state VALID. */
static void clean_sb(uint8_t sb[KILN_EXT4_SB_SIZE])
{
        memset(sb, 0, KILN_EXT4_SB_SIZE);
        put32(sb, 0x04, 262144);  /* s_blocks_count_lo */
        put32(sb, 0x18, 2);       /* s_log_block_size: 4096 */
        put16(sb, 0x38, 0xef53);  /* s_magic */
        put16(sb, 0x3a, 1);       /* s_state: VALID */
        put16(sb, 0x3c, 1);       /* s_errors: continue */
        put32(sb, 0x5c, 0x3c);    /* compat: has_journal ext_attr resize_inode dir_index */
        put32(sb, 0x60, 0x242);   /* incompat: filetype extents flex_bg */
}

static void test_built(void)
{
        uint8_t sb[KILN_EXT4_SB_SIZE];
        struct kiln_ext4_sb s;
        char line[200];

        clean_sb(sb);
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), 0, "clean: parses");
        ok(s.clean && !s.has_errors && !s.needs_recovery && s.has_journal, "clean: clean, no errors, has a journal");
        is_int(s.block_size, 4096, "clean: block size 4096");
        is_int(s.blocks_count, 262144, "clean: block count");
        kiln_ext4_sb_describe(&s, line, sizeof(line));
        ok(!strcmp(line, "clean"), "clean: described as 'clean' (%s)", line);

        clean_sb(sb);
        put16(sb, 0x3a, 3); /* VALID | ERROR, as the kernel leaves it */
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), 0, "errors flag: parses");
        ok(s.has_errors && !s.clean, "errors flag: has errors, not clean");
        kiln_ext4_sb_describe(&s, line, sizeof(line));
        ok(strstr(line, "marked with errors") && strstr(line, "0x0003"), "errors flag: described (%s)", line);

        clean_sb(sb);
        put16(sb, 0x3a, 2); /* ERROR alone, as debugfs "ssv state 2" sets it */
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), 0, "errors flag alone: parses");
        ok(s.has_errors && !s.clean, "errors flag alone: has errors");

        clean_sb(sb);
        put32(sb, 0x194, 3);          /* s_error_count */
        put32(sb, 0x198, 1700000000); /* s_first_error_time */
        put32(sb, 0x1cc, 1700000100); /* s_last_error_time */
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), 0, "error count: parses");
        ok(s.has_errors && !s.clean && s.error_count == 3, "error count alone: has errors (3)");
        ok(s.first_error_time == 1700000000 && s.last_error_time == 1700000100, "error count: the error times");
        kiln_ext4_sb_describe(&s, line, sizeof(line));
        ok(strstr(line, "3 errors recorded since the last check") != NULL, "error count: described (%s)", line);

        clean_sb(sb);
        put32(sb, 0x60, 0x242 | 0x4); /* INCOMPAT_RECOVER */
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), 0, "needs_recovery: parses");
        ok(!s.clean && !s.has_errors && s.needs_recovery, "needs_recovery: not clean, no errors");
        kiln_ext4_sb_describe(&s, line, sizeof(line));
        ok(strstr(line, "not cleanly unmounted") && strstr(line, "journal"), "needs_recovery: described (%s)", line);

        clean_sb(sb);
        put16(sb, 0x3a, 0); /* no VALID: a journal-less ext2 left mounted */
        put32(sb, 0x5c, 0x38);
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), 0, "not valid: parses");
        ok(!s.clean && !s.has_errors && !s.needs_recovery && !s.has_journal, "not valid: not clean, no errors");
        kiln_ext4_sb_describe(&s, line, sizeof(line));
        ok(strstr(line, "not cleanly unmounted (state 0x0000)") != NULL, "not valid: described (%s)", line);

        clean_sb(sb);
        put32(sb, 0x60, 0x242 | 0x80); /* 64bit */
        put32(sb, 0x150, 2);
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), 0, "64bit: parses");
        is_int(s.blocks_count, (2ull << 32) + 262144, "64bit: the high half of the block count counts");

        clean_sb(sb);
        put16(sb, 0x38, 0x1234);
        memset(&s, 0xa5, sizeof(s));
        struct kiln_ext4_sb before = s;
        kiln_clear_error();
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), -EBADMSG, "bad magic: -EBADMSG");
        ok(!memcmp(&s, &before, sizeof(s)), "bad magic: ret untouched");
        ok(strstr(kiln_last_error(), "magic 0x1234") != NULL, "bad magic: the message names it (%s)", kiln_last_error());

        clean_sb(sb);
        put32(sb, 0x18, 40);
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb), &s), -EBADMSG, "impossible block size: -EBADMSG");

        clean_sb(sb);
        is_int(kiln_ext4_sb_parse(sb, sizeof(sb) - 1, &s), -EINVAL, "1023 bytes: -EINVAL");
        is_int(kiln_ext4_sb_parse(NULL, 0, &s), -EINVAL, "no buffer: -EINVAL");
}

/* The superblock of a real filesystem file, after debugfs CMD (NULL: none). */
static int real_sb(const char *img, const char *cmd, struct kiln_ext4_sb *ret)
{
        char line[600];
        uint8_t sb[KILN_EXT4_SB_SIZE];

        snprintf(line, sizeof(line), "mke2fs -q -F -t ext4 -E root_owner=0:0 %s 8M >/dev/null 2>&1", img);
        if (system(line) != 0)
                return -ENOEXEC;
        if (cmd) {
                snprintf(line, sizeof(line), "debugfs -w -R '%s' %s >/dev/null 2>&1", cmd, img);
                if (system(line) != 0)
                        return -ENOEXEC;
        }
        int fd = open(img, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = pread(fd, sb, sizeof(sb), KILN_EXT4_SB_OFFSET);
        close(fd);
        if (n != (ssize_t)sizeof(sb))
                return -EIO;
        return kiln_ext4_sb_parse(sb, sizeof(sb), ret);
}

static void test_real(void)
{
        char img[] = "/tmp/kiln-test-sb-XXXXXX";
        struct kiln_ext4_sb s;
        int fd = mkstemp(img);

        if (fd < 0 || system("command -v mke2fs >/dev/null && command -v debugfs >/dev/null") != 0) {
                tap_skip("mke2fs and debugfs (e2fsprogs) are needed for the real superblocks");
                if (fd >= 0) {
                        close(fd);
                        unlink(img);
                }
                return;
        }
        close(fd);
        is_int(real_sb(img, NULL, &s), 0, "mke2fs: parses");
        ok(s.clean && s.has_journal && s.block_size >= 1024, "mke2fs: a new filesystem is clean");
        is_int(real_sb(img, "ssv state 2", &s), 0, "ssv state 2: parses");
        ok(s.has_errors && !s.clean, "ssv state 2: has errors");
        is_int(real_sb(img, "ssv state 0", &s), 0, "ssv state 0: parses");
        ok(!s.clean && !s.has_errors, "ssv state 0: not clean, no errors");
        is_int(real_sb(img, "feature needs_recovery", &s), 0, "needs_recovery: parses");
        ok(!s.clean && s.needs_recovery && !s.has_errors, "needs_recovery: not clean, no errors");
        is_int(real_sb(img, "ssv error_count 5", &s), 0, "ssv error_count 5: parses");
        ok(s.has_errors && s.error_count == 5, "ssv error_count 5: has errors");
        unlink(img);
}

int main(void)
{
        test_built();
        test_real();
        return tap_done();
}
