/* SPDX-License-Identifier: MIT */
/*
 * A cpio "newc" (SVR4, magic 070701, no CRC) writer into memory, and the
 * zstd compression of the result: the format the kernel unpacks as an
 * initramfs (init/initramfs.c, Documentation/driver-api/early-userspace/
 * buffer-format.rst).
 *
 * Deterministic: entries are written sorted by path (a parent always before
 * what it holds), folders a path needs but nobody added are made (0755),
 * inode numbers count up from 1 in that order, nlink is 2 + subfolders for a
 * folder and 1 for anything else, uid/gid are 0, mtimes are clamped, every
 * padding byte is zero, and the archive ends with TRAILER!!!.
 */
#ifndef KILN_INITRAMFS_CPIO_H
#define KILN_INITRAMFS_CPIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KILN_CPIO_MAX_PATH 4095        /* bytes of a path, without its NUL */
#define KILN_CPIO_MAX_FILE 0xffffffffu /* newc sizes are 8 hex digits */

struct kiln_cpio;

/* clamp: every mtime is at most this (SOURCE_DATE_EPOCH); -1 for none.
 * Folders made up for a path get the clamp time, or 0 without one. */
int kiln_cpio_new(int64_t clamp, struct kiln_cpio **ret);
void kiln_cpio_free(struct kiln_cpio *c);

/*
 * Add an entry (data copied).  path: "lib/modules/x.ko" or "/init"; '/' at
 * either end, doubled '/' and "." components are dropped; ".." components
 * are refused (-EINVAL).  mode: type and permission bits; S_IFREG takes data,
 * S_IFLNK takes the target as data, S_IFDIR/S_IFIFO/S_IFSOCK take none,
 * S_IFCHR/S_IFBLK take the device numbers.  A path added twice is -EEXIST
 * (at add or, for a file under a file, at write: -ENOTDIR).
 */
int kiln_cpio_add(struct kiln_cpio *c, const char *path, mode_t mode, int64_t mtime, const void *data,
                  size_t len);
int kiln_cpio_add_dir(struct kiln_cpio *c, const char *path, mode_t perm, int64_t mtime);
int kiln_cpio_add_node(struct kiln_cpio *c, const char *path, mode_t mode, int64_t mtime, unsigned major,
                       unsigned minor);

/* The archive, uncompressed (malloc'd). */
int kiln_cpio_write(struct kiln_cpio *c, uint8_t **ret, size_t *ret_len);

/*
 * zstd for the kernel: one frame with the content size and a checksum,
 * window at most 2^KILN_ZSTD_WINDOW_LOG.  The kernel decompresses an
 * initramfs in streaming mode (lib/decompress_unzstd.c, called with a
 * flush() by init/initramfs.c): it reads the frame's window size, refuses
 * one above 1 << ZSTD_WINDOWLOG_MAX (27, 128 MiB, in the zstd 1.3.1 import of
 * kernels 5.9-5.15, the first with zstd initramfs support; larger in the
 * zstd 1.4.10+ import of 5.16+) and vmallocs a workspace of about the window
 * size plus 2 x 128 KiB buffers.  Level 19 alone would pick 2^23; 2^22 keeps
 * that allocation at ~4 MiB on the smallest instances for a ratio loss too
 * small to see on an initramfs of a few MiB.
 * workers: 0 single-threaded; >= 1 splits inputs of at least
 * KILN_ZSTD_MT_MIN bytes into KILN_ZSTD_JOB_SIZE jobs (the frame stays one
 * frame, and the output is the same for any worker count >= 1).
 */
#define KILN_ZSTD_LEVEL 19
#define KILN_ZSTD_WINDOW_LOG 22
#define KILN_ZSTD_MT_MIN (8u << 20)
#define KILN_ZSTD_JOB_SIZE (4u << 20)
int kiln_zstd_compress(const void *src, size_t len, int level, int workers, uint8_t **ret, size_t *ret_len);

/* Decompress a whole zstd stream (one or more frames), at most max bytes out. */
int kiln_zstd_decompress(const void *src, size_t len, size_t max, uint8_t **ret, size_t *ret_len);

/*
 * The one place a zstd return code becomes -errno plus a message:
 * "<what>: <zstd's error name>".  Returns 0 when code is no error.
 * -ENOMEM allocation, -EBADMSG corrupt/unknown/truncated input,
 * -EFBIG output too large, -EINVAL bad parameter, -EIO anything else.
 */
int kiln_zstd_error(size_t code, const char *what);

#endif
