/* SPDX-License-Identifier: MIT */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static int check_range(struct kiln_disk *d, size_t len, uint64_t off)
{
        if (off > d->size || len > d->size - off)
                return kiln_errorf(-ENOSPC, "write of %zu bytes at offset %llu is past the end of the disk (%llu bytes)",
                                   len, (unsigned long long)off, (unsigned long long)d->size);
        return 0;
}

int kiln_disk_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        int r = check_range(d, len, off);
        return r < 0 ? r : d->ops->pread(d, buf, len, off);
}

int kiln_disk_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        int r = check_range(d, len, off);
        if (r < 0)
                return r;
        r = d->ops->pwrite(d, buf, len, off);
        if (r >= 0)
                d->bytes_written += len;
        return r;
}

static int generic_copy(struct kiln_disk *d, int fd, uint64_t src_off, size_t len, uint64_t off)
{
        size_t bufsz = MIN(len, (size_t)1 << 20);
        _cleanup_free_ char *buf = malloc(bufsz ? bufsz : 1);

        if (!buf)
                return -ENOMEM;
        while (len > 0) {
                size_t want = MIN(len, bufsz);
                ssize_t n = pread(fd, buf, want, (off_t)src_off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return kiln_errorf(-EIO, "source file shrank while being read");
                int r = d->ops->pwrite(d, buf, (size_t)n, off);
                if (r < 0)
                        return r;
                src_off += (uint64_t)n;
                off += (uint64_t)n;
                len -= (size_t)n;
        }
        return 0;
}

int kiln_disk_copy_from_fd(struct kiln_disk *d, int fd, uint64_t src_off, size_t len, uint64_t off)
{
        int r = check_range(d, len, off);
        if (r < 0)
                return r;
        r = d->ops->copy_from_fd ? d->ops->copy_from_fd(d, fd, src_off, len, off)
                                 : generic_copy(d, fd, src_off, len, off);
        if (r >= 0)
                d->bytes_written += len;
        return r;
}

int kiln_disk_flush(struct kiln_disk *d) { return d->ops->flush ? d->ops->flush(d) : 0; }

void kiln_disk_free(struct kiln_disk *d)
{
        if (d)
                d->ops->free(d);
}

/* --- file backend --- */

struct file_disk {
        struct kiln_disk d;
        int fd;
        bool copy_range_ok;
};

static int file_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        struct file_disk *f = (struct file_disk *)d;
        char *p = buf;

        while (len > 0) {
                ssize_t n = pread(f->fd, p, len, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0) { /* past EOF of a sparse file: zeros */
                        memset(p, 0, len);
                        break;
                }
                p += n;
                off += (uint64_t)n;
                len -= (size_t)n;
        }
        return 0;
}

static int file_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        struct file_disk *f = (struct file_disk *)d;
        const char *p = buf;

        while (len > 0) {
                ssize_t n = pwrite(f->fd, p, len, (off_t)off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                off += (uint64_t)n;
                len -= (size_t)n;
        }
        return 0;
}

static int file_copy(struct kiln_disk *d, int fd, uint64_t src_off, size_t len, uint64_t off)
{
        struct file_disk *f = (struct file_disk *)d;

        /* copy_file_range keeps the data in the kernel (and may reflink);
         * it refuses some pairs of filesystems, then we copy by hand. */
        while (f->copy_range_ok && len > 0) {
                loff_t in = (loff_t)src_off, out = (loff_t)off;
                ssize_t n = copy_file_range(fd, &in, f->fd, &out, len, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
                            errno == ENOSYS) {
                                f->copy_range_ok = false;
                                break;
                        }
                        return -errno;
                }
                if (n == 0)
                        return kiln_errorf(-EIO, "source file shrank while being read");
                src_off += (uint64_t)n;
                off += (uint64_t)n;
                len -= (size_t)n;
        }
        return len ? generic_copy(d, fd, src_off, len, off) : 0;
}

static int file_flush(struct kiln_disk *d)
{
        struct file_disk *f = (struct file_disk *)d;
        return fdatasync(f->fd) < 0 ? -errno : 0;
}

static void file_free(struct kiln_disk *d) { free(d); }

static const struct kiln_disk_ops file_ops = {
        .pread = file_pread,
        .pwrite = file_pwrite,
        .copy_from_fd = file_copy,
        .flush = file_flush,
        .free = file_free,
};

int kiln_disk_new_fd(int fd, uint64_t size, struct kiln_disk **ret)
{
        struct file_disk *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        f->d.ops = &file_ops;
        f->d.size = size;
        f->fd = fd;
        f->copy_range_ok = true;
        *ret = &f->d;
        return 0;
}

/* A new image: sized first, so everything unwritten is a hole. */
int kiln_disk_new_file(int fd, uint64_t size, struct kiln_disk **ret)
{
        if (ftruncate(fd, (off_t)size) < 0)
                return -errno;
        return kiln_disk_new_fd(fd, size, ret);
}

/* --- memory backend --- */

struct mem_disk {
        struct kiln_disk d;
        uint8_t *data;
};

static int mem_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        memcpy(buf, ((struct mem_disk *)d)->data + off, len);
        return 0;
}

static int mem_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        memcpy(((struct mem_disk *)d)->data + off, buf, len);
        return 0;
}

static void mem_free(struct kiln_disk *d)
{
        free(((struct mem_disk *)d)->data);
        free(d);
}

static const struct kiln_disk_ops mem_ops = {
        .pread = mem_pread,
        .pwrite = mem_pwrite,
        .free = mem_free,
};

int kiln_disk_new_memory(uint64_t size, struct kiln_disk **ret)
{
        struct mem_disk *m = calloc(1, sizeof(*m));

        if (!m)
                return -ENOMEM;
        m->data = calloc(1, size ? (size_t)size : 1);
        if (!m->data) {
                free(m);
                return -ENOMEM;
        }
        m->d.ops = &mem_ops;
        m->d.size = size;
        *ret = &m->d;
        return 0;
}

const uint8_t *kiln_disk_memory_data(const struct kiln_disk *d)
{
        return d->ops == &mem_ops ? ((const struct mem_disk *)d)->data : NULL;
}

/* --- fault-injecting wrapper --- */

struct fault_disk {
        struct kiln_disk d;
        struct kiln_disk *inner;
        unsigned fail_write, writes;
};

static int fault_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        struct fault_disk *f = (struct fault_disk *)d;
        return f->inner->ops->pread(f->inner, buf, len, off);
}

static int fault_hit(struct fault_disk *f)
{
        if (++f->writes == f->fail_write)
                return kiln_errorf(-EIO, "injected write failure (write #%u)", f->writes);
        return 0;
}

static int fault_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        struct fault_disk *f = (struct fault_disk *)d;
        int r = fault_hit(f);
        return r < 0 ? r : f->inner->ops->pwrite(f->inner, buf, len, off);
}

static int fault_copy(struct kiln_disk *d, int fd, uint64_t src_off, size_t len, uint64_t off)
{
        struct fault_disk *f = (struct fault_disk *)d;
        int r = fault_hit(f);
        if (r < 0)
                return r;
        return f->inner->ops->copy_from_fd ? f->inner->ops->copy_from_fd(f->inner, fd, src_off, len, off)
                                           : generic_copy(f->inner, fd, src_off, len, off);
}

static int fault_flush(struct kiln_disk *d)
{
        struct fault_disk *f = (struct fault_disk *)d;
        return kiln_disk_flush(f->inner);
}

static void fault_free(struct kiln_disk *d)
{
        kiln_disk_free(((struct fault_disk *)d)->inner);
        free(d);
}

static const struct kiln_disk_ops fault_ops = {
        .pread = fault_pread,
        .pwrite = fault_pwrite,
        .copy_from_fd = fault_copy,
        .flush = fault_flush,
        .free = fault_free,
};

int kiln_disk_new_fault(struct kiln_disk *inner, unsigned fail_write, struct kiln_disk **ret)
{
        struct fault_disk *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        f->d.ops = &fault_ops;
        f->d.size = inner->size;
        f->inner = inner;
        f->fail_write = fail_write;
        *ret = &f->d;
        return 0;
}

unsigned kiln_disk_fault_writes(const struct kiln_disk *d)
{
        return d->ops == &fault_ops ? ((const struct fault_disk *)d)->writes : 0;
}

/* --- slice (a partition of a parent disk) --- */

struct slice_disk {
        struct kiln_disk d;
        struct kiln_disk *parent;
        uint64_t off;
};

static int slice_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        struct slice_disk *s = (struct slice_disk *)d;
        return kiln_disk_pread(s->parent, buf, len, s->off + off);
}

static int slice_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        struct slice_disk *s = (struct slice_disk *)d;
        return kiln_disk_pwrite(s->parent, buf, len, s->off + off);
}

static int slice_copy(struct kiln_disk *d, int fd, uint64_t src_off, size_t len, uint64_t off)
{
        struct slice_disk *s = (struct slice_disk *)d;
        return kiln_disk_copy_from_fd(s->parent, fd, src_off, len, s->off + off);
}

static int slice_flush(struct kiln_disk *d)
{
        return kiln_disk_flush(((struct slice_disk *)d)->parent);
}

static void slice_free(struct kiln_disk *d) { free(d); }

static const struct kiln_disk_ops slice_ops = {
        .pread = slice_pread,
        .pwrite = slice_pwrite,
        .copy_from_fd = slice_copy,
        .flush = slice_flush,
        .free = slice_free,
};

int kiln_disk_new_slice(struct kiln_disk *parent, uint64_t off, uint64_t size, struct kiln_disk **ret)
{
        struct slice_disk *s;

        if (off > parent->size || size > parent->size - off)
                return -EINVAL;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->d.ops = &slice_ops;
        s->d.size = size;
        s->parent = parent;
        s->off = off;
        *ret = &s->d;
        return 0;
}
