/* SPDX-License-Identifier: MIT */
/*
 * The one seam for disk I/O.  Every writer (ext4, partition tables, FAT,
 * boot-loader embedding) sees only this, so unit tests can run them over
 * memory and fault tests can fail the Nth write.
 */
#ifndef KILN_DISK_H
#define KILN_DISK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct kiln_disk;

struct kiln_disk_ops {
        int (*pread)(struct kiln_disk *d, void *buf, size_t len, uint64_t off);
        int (*pwrite)(struct kiln_disk *d, const void *buf, size_t len, uint64_t off);
        /* Copy len bytes from an open file at src_off; may be NULL (then the
         * generic read+pwrite loop is used). */
        int (*copy_from_fd)(struct kiln_disk *d, int fd, uint64_t src_off, size_t len,
                            uint64_t off);
        int (*flush)(struct kiln_disk *d);
        void (*free)(struct kiln_disk *d);
};

struct kiln_disk {
        const struct kiln_disk_ops *ops;
        uint64_t size;
        uint64_t bytes_written;
};

/* A fresh sparse file of the given size: everything not written reads as
 * zeros and occupies no space.  The file must already be open for writing. */
int kiln_disk_new_file(int fd, uint64_t size, struct kiln_disk **ret);
/* An existing file or block device of the given size, used as it is. */
int kiln_disk_new_fd(int fd, uint64_t size, struct kiln_disk **ret);
/* A zero-filled memory buffer (unit tests, small images). */
int kiln_disk_new_memory(uint64_t size, struct kiln_disk **ret);
const uint8_t *kiln_disk_memory_data(const struct kiln_disk *d);
/* Wraps another disk and fails its Nth write (1-based) with -EIO; the
 * wrapper owns the inner disk. */
int kiln_disk_new_fault(struct kiln_disk *inner, unsigned fail_write, struct kiln_disk **ret);
/* How many writes a fault disk has seen (failed ones included). */
unsigned kiln_disk_fault_writes(const struct kiln_disk *d);
/* A window [off, off+size) of another disk (a partition); does not own it. */
int kiln_disk_new_slice(struct kiln_disk *parent, uint64_t off, uint64_t size,
                        struct kiln_disk **ret);

int kiln_disk_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off);
int kiln_disk_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off);
int kiln_disk_copy_from_fd(struct kiln_disk *d, int fd, uint64_t src_off, size_t len,
                           uint64_t off);
int kiln_disk_flush(struct kiln_disk *d);
void kiln_disk_free(struct kiln_disk *d);

#endif
