/* SPDX-License-Identifier: MIT */
/*
 * libext2fs reads and rewrites inode-table and bitmap blocks one at a time;
 * a small direct-mapped write-back cache turns those round trips into one
 * write per block, while large data writes go straight to the disk.
 */
#include "ext2io.h"

#include <errno.h>
#include <et/com_err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CACHE_SLOTS 4096
#define NO_BLOCK UINT64_MAX

struct slot {
        uint64_t blk;
        bool dirty;
};

struct kiln_io {
        struct kiln_disk *disk;
        unsigned bs;
        struct slot slots[CACHE_SLOTS];
        uint8_t *data; /* CACHE_SLOTS * bs */
        struct struct_io_stats stats;
};

/* The seam's last failure, so its message is used for exactly that error
 * (libext2fs may recover from a failed write and fail later otherwise). */
static bool seam_error;
static errcode_t seam_errcode;

void kiln_io_name(struct kiln_disk *disk, char *buf, size_t len)
{
        snprintf(buf, len, "kiln-disk:%p", (void *)disk);
}

int kiln_ext2_error(errcode_t e, const char *what)
{
        if (seam_error && e == seam_errcode) {
                seam_error = false;
                return kiln_error_prefix(e > 0 && e < 4096 ? -(int)e : -EIO, "%s", what);
        }
        if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_INODE_ALLOC_FAIL || e == EXT2_ET_DIR_NO_SPACE)
                return kiln_errorf(-ENOSPC, "%s: %s", what, error_message(e));
        if (e > 0 && e < 4096)
                return kiln_errorf(-(int)e, "%s: %s", what, strerror((int)e));
        return kiln_errorf(-EIO, "%s: %s", what, error_message(e));
}

static errcode_t seam(int r)
{
        if (r >= 0)
                return 0;
        seam_error = true;
        seam_errcode = (errcode_t)-r;
        return (errcode_t)-r;
}

static uint8_t *slot_data(struct kiln_io *io, size_t i) { return io->data + i * io->bs; }

static errcode_t slot_writeback(struct kiln_io *io, size_t i)
{
        if (!io->slots[i].dirty)
                return 0;
        io->stats.bytes_written += io->bs;
        errcode_t e = seam(kiln_disk_pwrite(io->disk, slot_data(io, i), io->bs, io->slots[i].blk * io->bs));
        if (!e)
                io->slots[i].dirty = false;
        return e;
}

static errcode_t sync_slot(struct kiln_io *io, size_t i, bool drop)
{
        errcode_t e = slot_writeback(io, i);
        if (!e && drop)
                io->slots[i].blk = NO_BLOCK;
        return e;
}

/* Write back (and optionally drop) cached blocks in [blk, blk+n): a scan of
 * the cache for long ranges, a probe per block for short ones. */
static errcode_t sync_range(struct kiln_io *io, uint64_t blk, uint64_t n, bool drop)
{
        errcode_t e = 0;

        if (n >= CACHE_SLOTS) {
                for (size_t i = 0; i < CACHE_SLOTS && !e; i++)
                        if (io->slots[i].blk != NO_BLOCK && io->slots[i].blk >= blk && io->slots[i].blk < blk + n)
                                e = sync_slot(io, i, drop);
                return e;
        }
        for (uint64_t b = blk; b < blk + n && !e; b++)
                if (io->slots[b % CACHE_SLOTS].blk == b)
                        e = sync_slot(io, b % CACHE_SLOTS, drop);
        return e;
}

static errcode_t flush_all(struct kiln_io *io)
{
        return sync_range(io, 0, UINT64_MAX, false);
}

static void drop_all(struct kiln_io *io)
{
        for (size_t i = 0; i < CACHE_SLOTS; i++)
                io->slots[i] = (struct slot){ NO_BLOCK, false };
}

static errcode_t kio_open(const char *name, int flags, io_channel *ret)
{
        struct kiln_disk *disk = NULL;
        io_channel ch;
        struct kiln_io *io;

        (void)flags;
        if (!name || sscanf(name, "kiln-disk:%p", (void **)&disk) != 1 || !disk)
                return EXT2_ET_BAD_DEVICE_NAME;
        ch = calloc(1, sizeof(*ch));
        io = calloc(1, sizeof(*io));
        if (!ch || !io) {
                free(ch);
                free(io);
                return ENOMEM;
        }
        ch->name = strdup(name);
        io->bs = 1024;
        io->data = malloc((size_t)CACHE_SLOTS * io->bs);
        if (!ch->name || !io->data) {
                free(ch->name);
                free(io->data);
                free(io);
                free(ch);
                return ENOMEM;
        }
        drop_all(io);
        io->disk = disk;
        io->stats.num_fields = 2;
        ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
        ch->manager = kiln_io_manager;
        ch->block_size = 1024;
        ch->refcount = 1;
        ch->private_data = io;
        *ret = ch;
        return 0;
}

static errcode_t kio_close(io_channel ch)
{
        struct kiln_io *io = ch->private_data;
        errcode_t e;

        if (--ch->refcount > 0)
                return 0;
        e = flush_all(io);
        free(io->data);
        free(io);
        free(ch->name);
        free(ch);
        return e;
}

static errcode_t kio_set_blksize(io_channel ch, int blksize)
{
        struct kiln_io *io = ch->private_data;
        uint8_t *nd;
        errcode_t e;

        if ((unsigned)blksize == io->bs)
                return 0;
        e = flush_all(io);
        if (e)
                return e;
        nd = realloc(io->data, (size_t)CACHE_SLOTS * (size_t)blksize);
        if (!nd)
                return ENOMEM;
        io->data = nd;
        io->bs = (unsigned)blksize;
        ch->block_size = blksize;
        drop_all(io);
        return 0;
}

static errcode_t kio_read64(io_channel ch, unsigned long long blk, int count, void *buf)
{
        struct kiln_io *io = ch->private_data;
        size_t len = count < 0 ? (size_t)-count : (size_t)count * io->bs;
        uint64_t nblk = DIV_ROUND_UP(len, io->bs);
        errcode_t e;

        io->stats.bytes_read += len;
        if (count == 1) {
                size_t i = blk % CACHE_SLOTS;
                if (io->slots[i].blk != blk) {
                        e = slot_writeback(io, i);
                        if (e)
                                return e;
                        e = seam(kiln_disk_pread(io->disk, slot_data(io, i), io->bs, blk * io->bs));
                        if (e) {
                                io->slots[i].blk = NO_BLOCK;
                                return e;
                        }
                        io->slots[i] = (struct slot){ blk, false };
                }
                memcpy(buf, slot_data(io, i), io->bs);
                return 0;
        }
        e = sync_range(io, blk, nblk, false);
        return e ? e : seam(kiln_disk_pread(io->disk, buf, len, blk * io->bs));
}

static errcode_t kio_write64(io_channel ch, unsigned long long blk, int count, const void *buf)
{
        struct kiln_io *io = ch->private_data;
        size_t len = count < 0 ? (size_t)-count : (size_t)count * io->bs;
        uint64_t nblk = DIV_ROUND_UP(len, io->bs);
        errcode_t e;

        if (count == 1) {
                size_t i = blk % CACHE_SLOTS;
                if (io->slots[i].blk != blk) {
                        e = slot_writeback(io, i);
                        if (e)
                                return e;
                }
                memcpy(slot_data(io, i), buf, io->bs);
                io->slots[i] = (struct slot){ blk, true };
                return 0;
        }
        /* A partial-block write must land on top of any cached copy. */
        e = sync_range(io, blk, nblk, true);
        if (e)
                return e;
        io->stats.bytes_written += len;
        return seam(kiln_disk_pwrite(io->disk, buf, len, blk * io->bs));
}

static errcode_t kio_read(io_channel ch, unsigned long blk, int count, void *buf)
{
        return kio_read64(ch, blk, count, buf);
}

static errcode_t kio_write(io_channel ch, unsigned long blk, int count, const void *buf)
{
        return kio_write64(ch, blk, count, buf);
}

static errcode_t kio_flush(io_channel ch)
{
        struct kiln_io *io = ch->private_data;
        return flush_all(io);
}

static errcode_t kio_set_option(io_channel ch, const char *opt, const char *arg)
{
        (void)ch;
        (void)opt;
        (void)arg;
        return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t kio_get_stats(io_channel ch, io_stats *ret)
{
        *ret = &((struct kiln_io *)ch->private_data)->stats;
        return 0;
}

/* The image starts as a hole-filled file, so "zero these blocks" means only
 * forgetting what the cache holds for them. */
static errcode_t kio_zeroout(io_channel ch, unsigned long long blk, unsigned long long count)
{
        struct kiln_io *io = ch->private_data;
        static const uint8_t zero[65536];
        errcode_t e = sync_range(io, blk, count, true);

        if (e)
                return e;
        /* Only the seam knows whether the range was written before; write
         * zeros so that reusing a region stays correct. */
        for (uint64_t off = blk * io->bs, end = (blk + count) * io->bs; off < end;) {
                size_t n = (size_t)MIN(end - off, sizeof(zero));
                e = seam(kiln_disk_pwrite(io->disk, zero, n, off));
                if (e)
                        return e;
                off += n;
        }
        return 0;
}

static struct struct_io_manager manager = {
        .magic = EXT2_ET_MAGIC_IO_MANAGER,
        .name = "kiln disk seam",
        .open = kio_open,
        .close = kio_close,
        .set_blksize = kio_set_blksize,
        .read_blk = kio_read,
        .write_blk = kio_write,
        .flush = kio_flush,
        .set_option = kio_set_option,
        .get_stats = kio_get_stats,
        .read_blk64 = kio_read64,
        .write_blk64 = kio_write64,
        .zeroout = kio_zeroout,
};

io_manager kiln_io_manager = &manager;
