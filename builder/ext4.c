/* SPDX-License-Identifier: MIT */
/*
 * kiln's ext4 populator.  libext2fs lays out the filesystem (superblock,
 * group descriptors, bitmaps, inode tables, journal, resize inode) and
 * writes inodes and xattrs; kiln writes what it can do faster knowing the
 * whole tree up front:
 *   - file data: one contiguous allocation per file, copied in large
 *     sequential writes (copy_file_range where the kernel allows);
 *   - extent trees: built directly from the allocation;
 *   - folders: every block formatted at once, hash-indexed (htree) when a
 *     folder needs more than one block, as the kernel would leave it.
 * mke2fs -d instead links one entry at a time with a linear scan of the
 * folder, which is quadratic in the folder's size.
 */
#include "ext4.h"

#include <errno.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <ext2fs/ext3_extents.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ext2io.h"
#include "util.h"

#define BS 4096u
#define INODE_SIZE 256u
#define EXTRA_ISIZE 32u
#define INODE_RATIO 16384u
#define MAX_EXTENT_LEN 32768u
#define EXTENTS_PER_BLOCK ((BS - sizeof(struct ext3_extent_header) - 4) / sizeof(struct ext3_extent))
#define LPF_BLOCKS 4u
/* Room for online growth to 2 TiB (Ubuntu's -E resize=536870912). */
#define GROW_TO_BLOCKS (UINT64_C(1) << 29)

struct extent {
        uint32_t lblk;
        uint32_t len;
        uint64_t pblk;
};

struct extents {
        struct extent *v;
        size_t n, cap;
};

struct writer {
        ext2_filsys fs;
        struct kiln_disk *disk;
        struct kiln_tree *t;
        const struct kiln_ext4_opts *o;
        blk64_t cursor;
        uint32_t next_ino;
        int hash_version;
        uint64_t files, bytes;
        struct kiln_ext4_result res;
        uint8_t *blockbuf; /* scratch, grown as needed */
        size_t blockbuf_len;
        struct extents ext;
};

/* ---------- on-disk helpers ---------- */

static int ftype_of(mode_t m)
{
        switch (m & S_IFMT) {
        case S_IFREG: return EXT2_FT_REG_FILE;
        case S_IFDIR: return EXT2_FT_DIR;
        case S_IFCHR: return EXT2_FT_CHRDEV;
        case S_IFBLK: return EXT2_FT_BLKDEV;
        case S_IFIFO: return EXT2_FT_FIFO;
        case S_IFSOCK: return EXT2_FT_SOCK;
        case S_IFLNK: return EXT2_FT_SYMLINK;
        }
        return EXT2_FT_UNKNOWN;
}

/* ext4 keeps 32 low bits of seconds, and 2 epoch bits plus nanoseconds in
 * the _extra field, so times past 2038 and before 1970 survive. */
static void put_time(__u32 *t, __u32 *extra, struct timespec ts)
{
        int64_t sec = ts.tv_sec;
        *t = (__u32)(int32_t)sec;
        *extra = (__u32)(((uint64_t)(sec - (int32_t)sec) >> 32) & 3) | ((__u32)ts.tv_nsec << 2);
}

static uint32_t generation_of(const struct writer *w, uint32_t ino)
{
        uint64_t x;
        memcpy(&x, w->o->hash_seed, 8);
        x ^= (uint64_t)ino * 0x9E3779B97F4A7C15ULL;
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ULL;
        x ^= x >> 27;
        return (uint32_t)x;
}

static uint8_t *scratch(struct writer *w, size_t len)
{
        if (len > w->blockbuf_len) {
                uint8_t *n = realloc(w->blockbuf, len);
                if (!n)
                        return NULL;
                w->blockbuf = n;
                w->blockbuf_len = len;
        }
        memset(w->blockbuf, 0, len);
        return w->blockbuf;
}

/* ---------- block allocation ---------- */

/* Allocate up to want blocks as one run at or after the cursor. */
static int alloc_run(struct writer *w, blk64_t want, blk64_t *ret_start, blk64_t *ret_len)
{
        blk64_t start, len;
        errcode_t e = ext2fs_new_range(w->fs, 0, w->cursor, MIN(want, (blk64_t)MAX_EXTENT_LEN), NULL,
                                       &start, &len);

        if (e) {
                char need[32];
                format_size(want * BS, need, sizeof(need));
                return kiln_errorf(-ENOSPC, "the filesystem is full (needed %s more)", need);
        }
        ext2fs_block_alloc_stats_range(w->fs, start, (blk_t)len, +1);
        w->cursor = start + len;
        *ret_start = start;
        *ret_len = len;
        return 0;
}

static int extents_push(struct extents *x, uint32_t lblk, uint64_t pblk, uint32_t len)
{
        if (x->n > 0) {
                struct extent *l = &x->v[x->n - 1];
                if (l->lblk + l->len == lblk && l->pblk + l->len == pblk && l->len + len <= MAX_EXTENT_LEN) {
                        l->len += len;
                        return 0;
                }
        }
        if (x->n == x->cap) {
                size_t cap = x->cap ? x->cap * 2 : 16;
                struct extent *n = realloc(x->v, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                x->v = n;
                x->cap = cap;
        }
        x->v[x->n++] = (struct extent){ lblk, len, pblk };
        return 0;
}

/* Map logical blocks [lblk, lblk+count) to freshly allocated runs. */
static int alloc_blocks(struct writer *w, uint32_t lblk, uint64_t count)
{
        while (count > 0) {
                blk64_t start, len;
                int r = alloc_run(w, count, &start, &len);
                if (r < 0)
                        return r;
                r = extents_push(&w->ext, lblk, start, (uint32_t)len);
                if (r < 0)
                        return r;
                lblk += (uint32_t)len;
                count -= len;
        }
        return 0;
}

/* The physical byte offset of a file's logical byte offset, and how many
 * bytes are contiguous from there. */
static uint64_t map_offset(const struct extents *x, uint64_t off, uint64_t *ret_contig)
{
        uint64_t lblk = off / BS;

        for (size_t i = 0; i < x->n; i++) {
                const struct extent *e = &x->v[i];
                if (lblk >= e->lblk && lblk < (uint64_t)e->lblk + e->len) {
                        uint64_t phys = (e->pblk + (lblk - e->lblk)) * BS + off % BS;
                        *ret_contig = ((uint64_t)e->lblk + e->len) * BS - off;
                        return phys;
                }
        }
        *ret_contig = 0;
        return 0;
}

/* ---------- extent trees ---------- */

static void put_extent_header(uint8_t *p, uint16_t entries, uint16_t max, uint16_t depth)
{
        put_le16(p, EXT3_EXT_MAGIC);
        put_le16(p + 2, entries);
        put_le16(p + 4, max);
        put_le16(p + 6, depth);
        put_le32(p + 8, 0);
}

static void put_extent(uint8_t *p, const struct extent *e)
{
        put_le32(p, e->lblk);
        put_le16(p + 4, (uint16_t)e->len);
        put_le16(p + 6, (uint16_t)(e->pblk >> 32));
        put_le32(p + 8, (uint32_t)e->pblk);
}

static void put_index(uint8_t *p, uint32_t lblk, uint64_t pblk)
{
        put_le32(p, lblk);
        put_le32(p + 4, (uint32_t)pblk);
        put_le16(p + 8, (uint16_t)(pblk >> 32));
        put_le16(p + 10, 0);
}

/*
 * Lay the extents out: up to 4 in the inode; else one level of leaf blocks
 * (up to 4 x 340 extents), else two.  Tree blocks are allocated here and
 * written by write_extent_blocks() once the inode exists (their checksums
 * cover the inode's generation).
 */
struct tree_plan {
        uint32_t depth;
        size_t n_leaves, n_nodes;
        blk64_t *blocks; /* leaves then nodes */
};

static int plan_extent_tree(struct writer *w, struct ext2_inode_large *inode, struct tree_plan *p)
{
        const struct extents *x = &w->ext;
        uint8_t *ib = (uint8_t *)inode->i_block;

        memset(p, 0, sizeof(*p));
        if (x->n <= 4) {
                put_extent_header(ib, (uint16_t)x->n, 4, 0);
                for (size_t i = 0; i < x->n; i++)
                        put_extent(ib + 12 + 12 * i, &x->v[i]);
                return 0;
        }
        p->n_leaves = DIV_ROUND_UP(x->n, EXTENTS_PER_BLOCK);
        p->depth = 1;
        if (p->n_leaves > 4) {
                p->n_nodes = DIV_ROUND_UP(p->n_leaves, EXTENTS_PER_BLOCK);
                p->depth = 2;
                if (p->n_nodes > 4)
                        return kiln_errorf(-EFBIG, "file is too fragmented (%zu extents)", x->n);
        }
        p->blocks = calloc(p->n_leaves + p->n_nodes, sizeof(*p->blocks));
        if (!p->blocks)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_leaves + p->n_nodes; i++) {
                blk64_t len;
                int r = alloc_run(w, 1, &p->blocks[i], &len);
                if (r < 0)
                        return r;
        }
        /* Root in the inode: indexes to leaves (depth 1) or nodes (depth 2). */
        size_t n_root = p->depth == 1 ? p->n_leaves : p->n_nodes;
        size_t per_root = p->depth == 1 ? EXTENTS_PER_BLOCK : EXTENTS_PER_BLOCK * EXTENTS_PER_BLOCK;
        put_extent_header(ib, (uint16_t)n_root, 4, (uint16_t)p->depth);
        for (size_t i = 0; i < n_root; i++)
                put_index(ib + 12 + 12 * i, x->v[i * per_root].lblk,
                          p->depth == 1 ? p->blocks[i] : p->blocks[p->n_leaves + i]);
        return 0;
}

static int write_extent_blocks(struct writer *w, uint32_t ino, struct tree_plan *p)
{
        const struct extents *x = &w->ext;
        uint8_t *buf = scratch(w, BS);

        if (!buf)
                return -ENOMEM;
        for (size_t l = 0; l < p->n_leaves; l++) {
                size_t first = l * EXTENTS_PER_BLOCK, n = MIN(EXTENTS_PER_BLOCK, x->n - first);
                memset(buf, 0, BS);
                put_extent_header(buf, (uint16_t)n, (uint16_t)EXTENTS_PER_BLOCK, 0);
                for (size_t i = 0; i < n; i++)
                        put_extent(buf + 12 + 12 * i, &x->v[first + i]);
                errcode_t e = ext2fs_extent_block_csum_set(w->fs, ino, (struct ext3_extent_header *)buf);
                if (e)
                        return kiln_ext2_error(e, "extent block checksum");
                int r = kiln_disk_pwrite(w->disk, buf, BS, p->blocks[l] * BS);
                if (r < 0)
                        return r;
        }
        for (size_t nd = 0; nd < p->n_nodes; nd++) {
                size_t first = nd * EXTENTS_PER_BLOCK, n = MIN(EXTENTS_PER_BLOCK, p->n_leaves - first);
                memset(buf, 0, BS);
                put_extent_header(buf, (uint16_t)n, (uint16_t)EXTENTS_PER_BLOCK, 1);
                for (size_t i = 0; i < n; i++)
                        put_index(buf + 12 + 12 * i, x->v[(first + i) * EXTENTS_PER_BLOCK].lblk,
                                  p->blocks[first + i]);
                errcode_t e = ext2fs_extent_block_csum_set(w->fs, ino, (struct ext3_extent_header *)buf);
                if (e)
                        return kiln_ext2_error(e, "extent block checksum");
                int r = kiln_disk_pwrite(w->disk, buf, BS, p->blocks[p->n_leaves + nd] * BS);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---------- folders ---------- */

struct dirent_src {
        const char *name;
        uint8_t name_len;
        uint8_t ftype;
        uint32_t ino;
        uint32_t hash, minor;
};

static unsigned rec_len_of(unsigned name_len) { return ROUND_UP(8 + name_len, 4); }

static unsigned leaf_space(const struct writer *w)
{
        return ext2fs_has_feature_metadata_csum(w->fs->super) ? BS - 12 : BS;
}

static void put_dirent(uint8_t *p, uint32_t ino, unsigned rec_len, const char *name, unsigned name_len,
                       uint8_t ftype)
{
        put_le32(p, ino);
        put_le16(p + 4, (uint16_t)rec_len);
        p[6] = (uint8_t)name_len;
        p[7] = ftype;
        memcpy(p + 8, name, name_len);
}

/* Finish a leaf block: the last entry takes the rest, then the csum tail. */
static void close_leaf(struct writer *w, uint8_t *blk, unsigned last_off, unsigned used)
{
        unsigned space = leaf_space(w);

        if (used == 0) /* an empty block: one unused entry spans it */
                put_dirent(blk, 0, space, "", 0, 0);
        else
                put_le16(blk + last_off + 4, (uint16_t)(space - last_off));
        if (space != BS)
                ext2fs_initialize_dirent_tail(w->fs, (struct ext2_dir_entry_tail *)(blk + space));
}

/* Pack entries into leaf blocks starting at buf; returns blocks used and,
 * in first_of[], the index of the first entry of each block. */
static size_t pack_leaves(struct writer *w, const struct dirent_src *ents, size_t n, uint8_t *buf,
                          size_t *first_of)
{
        unsigned space = leaf_space(w), used = 0, last = 0;
        size_t blocks = 1;

        if (first_of)
                first_of[0] = 0;
        for (size_t i = 0; i < n; i++) {
                unsigned rl = rec_len_of(ents[i].name_len);
                if (used + rl > space) {
                        if (buf)
                                close_leaf(w, buf + (blocks - 1) * BS, last, used);
                        if (first_of)
                                first_of[blocks] = i;
                        blocks++;
                        used = 0;
                }
                if (buf)
                        put_dirent(buf + (blocks - 1) * BS + used, ents[i].ino, rl, ents[i].name,
                                   ents[i].name_len, ents[i].ftype);
                last = used;
                used += rl;
        }
        if (buf)
                close_leaf(w, buf + (blocks - 1) * BS, last, used);
        return blocks;
}

static int cmp_hash(const void *a, const void *b)
{
        const struct dirent_src *x = a, *y = b;
        if (x->hash != y->hash)
                return x->hash < y->hash ? -1 : 1;
        if (x->minor != y->minor)
                return x->minor < y->minor ? -1 : 1;
        return strcmp(x->name, y->name);
}

static unsigned dx_root_limit(const struct writer *w)
{
        return (BS - 32 - (ext2fs_has_feature_metadata_csum(w->fs->super) ? 8 : 0)) / 8;
}

static unsigned dx_node_limit(const struct writer *w)
{
        return (BS - 8 - (ext2fs_has_feature_metadata_csum(w->fs->super) ? 8 : 0)) / 8;
}

/* A dx entry's hash: the first entry's, with bit 0 set when the previous
 * block ends with the same hash (a collision continues across blocks). */
static uint32_t dx_hash(const struct dirent_src *ents, size_t first)
{
        uint32_t h = ents[first].hash;
        if (first > 0 && ents[first - 1].hash == h)
                h |= 1;
        return h;
}

static void put_countlimit(uint8_t *p, unsigned limit, unsigned count, uint32_t block0)
{
        put_le16(p, (uint16_t)limit);
        put_le16(p + 2, (uint16_t)count);
        put_le32(p + 4, block0);
}

/*
 * Format a folder into *ret_buf (nblocks blocks).  One block: linear.  More:
 * htree with one or two index levels; leaves sorted by name hash.
 */
static int build_dir(struct writer *w, struct kiln_dentry *d, uint32_t ino, uint32_t parent_ino,
                     uint8_t **ret_buf, size_t *ret_blocks, bool *ret_htree)
{
        size_t n = d->n_children;
        struct dirent_src *ents = calloc(n + 2, sizeof(*ents));
        uint8_t *buf = NULL;
        size_t *first_of = NULL;
        int r = 0;

        if (!ents)
                return -ENOMEM;
        ents[0] = (struct dirent_src){ ".", 1, EXT2_FT_DIR, ino, 0, 0 };
        ents[1] = (struct dirent_src){ "..", 2, EXT2_FT_DIR, parent_ino, 0, 0 };
        for (size_t i = 0; i < n; i++) {
                struct kiln_dentry *c = d->children[i];
                ents[i + 2] = (struct dirent_src){ c->name, (uint8_t)strlen(c->name), (uint8_t)ftype_of(c->inode->mode),
                                                   c->inode->ino, 0, 0 };
        }

        size_t linear = pack_leaves(w, ents, n + 2, NULL, NULL);
        bool is_lpf = d->parent == w->t->root && !strcmp(d->name, "lost+found");
        if (linear == 1 || !ext2fs_has_feature_dir_index(w->fs->super)) {
                size_t blocks = MAX(linear, is_lpf ? (size_t)LPF_BLOCKS : 1);
                buf = calloc(blocks, BS);
                if (!buf) {
                        r = -ENOMEM;
                        goto out;
                }
                pack_leaves(w, ents, n + 2, buf, NULL);
                for (size_t b = linear; b < blocks; b++)
                        close_leaf(w, buf + b * BS, 0, 0);
                *ret_buf = buf;
                *ret_blocks = blocks;
                *ret_htree = false;
                goto out;
        }

        /* htree: "." and ".." live in the root block; the rest by hash. */
        struct dirent_src *kids = ents + 2;
        for (size_t i = 0; i < n; i++) {
                errcode_t e = ext2fs_dirhash2(w->hash_version, kids[i].name, kids[i].name_len, NULL, 0,
                                              w->fs->super->s_hash_seed, &kids[i].hash, &kids[i].minor);
                if (e) {
                        r = kiln_ext2_error(e, "folder name hash");
                        goto out;
                }
        }
        qsort(kids, n, sizeof(*kids), cmp_hash);
        first_of = calloc(n + 1, sizeof(*first_of));
        if (!first_of) {
                r = -ENOMEM;
                goto out;
        }
        size_t leaves = pack_leaves(w, kids, n, NULL, first_of);
        unsigned rlimit = dx_root_limit(w), nlimit = dx_node_limit(w);
        size_t nodes = leaves <= rlimit ? 0 : DIV_ROUND_UP(leaves, nlimit);
        if (nodes > rlimit) {
                r = kiln_errorf(-EFBIG, "folder has too many entries (%zu) for a two-level htree", n);
                goto out;
        }
        size_t blocks = 1 + nodes + leaves;
        buf = calloc(blocks, BS);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        uint8_t *leafbuf = buf + (1 + nodes) * BS;
        pack_leaves(w, kids, n, leafbuf, NULL);

        /* Root block. */
        uint8_t *root = buf;
        put_dirent(root, ino, 12, ".", 1, EXT2_FT_DIR);
        put_dirent(root + 12, parent_ino, BS - 12, "..", 2, EXT2_FT_DIR);
        root[24 + 4] = (uint8_t)(w->fs->super->s_def_hash_version);
        root[24 + 5] = 8; /* info_length */
        root[24 + 6] = nodes ? 1 : 0;
        uint32_t leaf0 = (uint32_t)(1 + nodes);
        if (!nodes) {
                put_countlimit(root + 32, rlimit, (unsigned)leaves, leaf0);
                for (size_t l = 1; l < leaves; l++) {
                        put_le32(root + 32 + 8 * l, dx_hash(kids, first_of[l]));
                        put_le32(root + 32 + 8 * l + 4, leaf0 + (uint32_t)l);
                }
        } else {
                put_countlimit(root + 32, rlimit, (unsigned)nodes, 1);
                for (size_t nd = 0; nd < nodes; nd++) {
                        size_t l0 = nd * nlimit, cnt = MIN((size_t)nlimit, leaves - l0);
                        uint8_t *node = buf + (1 + nd) * BS;
                        if (nd > 0) {
                                put_le32(root + 32 + 8 * nd, dx_hash(kids, first_of[l0]));
                                put_le32(root + 32 + 8 * nd + 4, (uint32_t)(1 + nd));
                        }
                        put_dirent(node, 0, BS, "", 0, 0);
                        put_countlimit(node + 8, nlimit, (unsigned)cnt, leaf0 + (uint32_t)l0);
                        for (size_t l = 1; l < cnt; l++) {
                                put_le32(node + 8 + 8 * l, dx_hash(kids, first_of[l0 + l]));
                                put_le32(node + 8 + 8 * l + 4, leaf0 + (uint32_t)(l0 + l));
                        }
                }
        }
        *ret_buf = buf;
        *ret_blocks = blocks;
        *ret_htree = true;
        w->res.htree_dirs++;
out:
        if (r < 0)
                free(buf);
        free(first_of);
        free(ents);
        return r;
}

/* ---------- inodes ---------- */

static void fill_common(struct writer *w, struct ext2_inode_large *in, const struct kiln_inode *src, uint32_t ino)
{
        memset(in, 0, sizeof(*in));
        in->i_mode = (__u16)src->mode;
        in->i_uid = (__u16)src->uid;
        in->osd2.linux2.l_i_uid_high = (__u16)(src->uid >> 16);
        in->i_gid = (__u16)src->gid;
        in->osd2.linux2.l_i_gid_high = (__u16)(src->gid >> 16);
        put_time(&in->i_atime, &in->i_atime_extra, src->atime);
        put_time(&in->i_mtime, &in->i_mtime_extra, src->mtime);
        put_time(&in->i_ctime, &in->i_ctime_extra, src->ctime);
        /* Birth time: the build, clamped like every other time. */
        struct timespec born = { MIN(w->o->now, src->ctime.tv_sec), 0 };
        put_time(&in->i_crtime, &in->i_crtime_extra, born);
        in->i_links_count = (__u16)(src->nlink > EXT2_LINK_MAX ? 1 : src->nlink);
        in->i_extra_isize = EXTRA_ISIZE;
        in->i_generation = generation_of(w, ino);
}

static void set_size_blocks(struct ext2_inode_large *in, uint64_t size, uint64_t fs_blocks)
{
        uint64_t sectors = fs_blocks * (BS / 512);
        in->i_size = (__u32)size;
        in->i_size_high = (__u32)(size >> 32);
        in->i_blocks = (__u32)sectors;
        in->osd2.linux2.l_i_blocks_hi = (__u16)(sectors >> 32);
}

static int write_inode(struct writer *w, uint32_t ino, struct ext2_inode_large *in)
{
        errcode_t e = ext2fs_write_inode_full(w->fs, ino, (struct ext2_inode *)in, sizeof(*in));
        return e ? kiln_ext2_error(e, "writing an inode") : 0;
}

static int write_xattrs(struct writer *w, uint32_t ino, const struct kiln_inode *src, const char *path)
{
        struct ext2_xattr_handle *h;
        errcode_t e;

        if (!src->n_xattrs)
                return 0;
        e = ext2fs_xattrs_open(w->fs, ino, &h);
        if (e)
                return kiln_ext2_error(e, path);
        e = ext2fs_xattrs_read(h);
        for (size_t i = 0; !e && i < src->n_xattrs; i++) {
                e = ext2fs_xattr_set(h, src->xattrs[i].name, src->xattrs[i].value, src->xattrs[i].len);
                if (e) {
                        ext2fs_xattrs_close(&h);
                        if (e == EXT2_ET_EA_NO_SPACE || e == EXT2_ET_EA_INODE_CORRUPTED || e == EXT2_ET_INLINE_DATA_NO_SPACE)
                                return kiln_errorf(-EFBIG, "'%s': xattr '%s' (%zu bytes) does not fit in an ext4 xattr block",
                                                   path, src->xattrs[i].name, src->xattrs[i].len);
                        return kiln_ext2_error(e, path) ;
                }
        }
        errcode_t e2 = ext2fs_xattrs_close(&h);
        if (e || e2)
                return kiln_ext2_error(e ? e : e2, path);
        /* e2fsck (and the kernel's quota) charge an EA inode's blocks to the
         * inode that owns the value; libext2fs does not. Values above 4040
         * bytes (EXT4_XATTR_MIN_LARGE_EA_SIZE of a 4 KiB block) go there. */
        if (ext2fs_has_feature_ea_inode(w->fs->super)) {
                uint64_t extra = 0;
                for (size_t i = 0; i < src->n_xattrs; i++)
                        if (src->xattrs[i].len > BS - 20 - 32 - 4)
                                extra += (src->xattrs[i].len + BS - 1) / BS * (BS / 512);
                if (extra) {
                        struct ext2_inode_large in;
                        e = ext2fs_read_inode_full(w->fs, ino, (struct ext2_inode *)&in, sizeof(in));
                        if (e)
                                return kiln_ext2_error(e, path);
                        uint64_t b = in.i_blocks | (uint64_t)in.osd2.linux2.l_i_blocks_hi << 32;
                        b += extra;
                        in.i_blocks = (__u32)b;
                        in.osd2.linux2.l_i_blocks_hi = (__u16)(b >> 32);
                        e = ext2fs_write_inode_full(w->fs, ino, (struct ext2_inode *)&in, sizeof(in));
                        if (e)
                                return kiln_ext2_error(e, path);
                }
        }
        return 0;
}

/* Data segments of a regular file from the rootfs folder, found with
 * SEEK_DATA/SEEK_HOLE so holes stay holes. */
static int path_segments(int fd, uint64_t size, struct kiln_segment **ret, size_t *ret_n)
{
        struct kiln_segment *v = NULL;
        size_t n = 0, cap = 0;
        off_t pos = 0;

        while ((uint64_t)pos < size) {
                off_t data = lseek(fd, pos, SEEK_DATA);
                if (data < 0) {
                        if (errno == ENXIO)
                                break;
                        if (errno == EINVAL || errno == EOPNOTSUPP) { /* no hole support */
                                data = pos;
                        } else {
                                free(v);
                                return -errno;
                        }
                }
                if ((uint64_t)data >= size)
                        break;
                off_t hole = lseek(fd, data, SEEK_HOLE);
                if (hole < 0 || (uint64_t)hole > size)
                        hole = (off_t)size;
                if (n == cap) {
                        cap = cap ? cap * 2 : 4;
                        struct kiln_segment *nv = realloc(v, cap * sizeof(*nv));
                        if (!nv) {
                                free(v);
                                return -ENOMEM;
                        }
                        v = nv;
                }
                v[n++] = (struct kiln_segment){ (uint64_t)data, (uint64_t)(hole - data), (uint64_t)data };
                pos = hole;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static int write_file_data(struct writer *w, struct kiln_inode *src, const char *path, uint64_t *ret_blocks)
{
        _cleanup_close_ int fd = -1;
        struct kiln_segment *segs = src->segs, *own = NULL;
        size_t n_segs = src->n_segs;
        int srcfd = w->t->spool_fd, r = 0;
        uint64_t blocks = 0;

        w->ext.n = 0;
        *ret_blocks = 0;
        if (src->data == KILN_DATA_NONE || src->size == 0)
                return 0;
        if (src->data == KILN_DATA_MEM) {
                own = calloc(1, sizeof(*own));
                if (!own)
                        return -ENOMEM;
                *own = (struct kiln_segment){ 0, src->size, 0 };
                segs = own;
                n_segs = 1;
        }
        if (src->data == KILN_DATA_PATH) {
                /* Beneath the rootfs, and still the file its walk found (tree.h). */
                r = kiln_tree_open_source(w->t, src, &fd);
                if (r < 0)
                        return r;
                r = path_segments(fd, src->size, &own, &n_segs);
                if (r < 0)
                        return kiln_errorf(r, "cannot read rootfs file '%s/%s': %s",
                                           w->t->src_root ? w->t->src_root : ".", src->src_path, strerror(-r));
                segs = own;
                srcfd = fd;
        }

        /* Allocate the blocks the segments touch, in order. */
        uint64_t next = 0;
        for (size_t i = 0; i < n_segs && r >= 0; i++) {
                uint64_t end = MIN(segs[i].off + segs[i].len, src->size);
                if (end <= segs[i].off)
                        continue;
                uint64_t first = MAX(segs[i].off / BS, next), last = DIV_ROUND_UP(end, BS);
                if (last > first) {
                        r = alloc_blocks(w, (uint32_t)first, last - first);
                        blocks += last - first;
                        next = last;
                }
        }
        /* Copy each segment to where its blocks went. */
        for (size_t i = 0; i < n_segs && r >= 0; i++) {
                uint64_t off = segs[i].off, end = MIN(segs[i].off + segs[i].len, src->size);
                uint64_t src_off = segs[i].src_off;
                while (off < end && r >= 0) {
                        uint64_t contig, phys = map_offset(&w->ext, off, &contig);
                        uint64_t len = MIN(contig, end - off);
                        if (!contig) {
                                r = kiln_errorf(-EIO, "internal error mapping '%s'", path);
                                break;
                        }
                        if (src->data == KILN_DATA_MEM) {
                                r = kiln_disk_pwrite(w->disk, src->mem + src_off, (size_t)len, phys);
                        } else if (src->data == KILN_DATA_SPOOL && src_off < w->t->spool_mem_len) {
                                len = MIN(len, w->t->spool_mem_len - src_off);
                                r = kiln_disk_pwrite(w->disk, w->t->spool_mem + src_off, (size_t)len, phys);
                        } else {
                                uint64_t file_off = src->data == KILN_DATA_SPOOL ? src_off - w->t->spool_mem_cap : src_off;
                                r = kiln_disk_copy_from_fd(w->disk, srcfd, file_off, (size_t)len, phys);
                        }
                        if (r < 0) {
                                if (src->data == KILN_DATA_PATH && r != -ENOSPC && !strstr(kiln_last_error(), "injected"))
                                        r = kiln_errorf(r, "cannot read rootfs file '%s/%s': %s",
                                                        w->t->src_root ? w->t->src_root : ".", src->src_path, strerror(-r));
                                break;
                        }
                        off += len;
                        src_off += len;
                        w->bytes += len;
                }
        }
        free(own);
        *ret_blocks = blocks;
        return r;
}

static int write_one(struct writer *w, struct kiln_dentry *d)
{
        struct kiln_inode *src = d->inode;
        uint32_t ino = src->ino;
        struct ext2_inode_large in;
        struct tree_plan plan = { 0 };
        char path[4096];
        uint64_t blocks = 0;
        int r = 0;
        _cleanup_free_ uint8_t *dirbuf = NULL;
        size_t dirblocks = 0;

        kiln_tree_path(d, path, sizeof(path));
        fill_common(w, &in, src, ino);
        w->ext.n = 0;

        switch (src->mode & S_IFMT) {
        case S_IFREG:
                r = write_file_data(w, src, path, &blocks);
                if (r < 0)
                        return r;
                in.i_flags = EXT4_EXTENTS_FL;
                set_size_blocks(&in, src->size, blocks);
                break;
        case S_IFDIR: {
                bool htree;
                uint32_t parent_ino = d->parent ? d->parent->inode->ino : ino;
                r = build_dir(w, d, ino, parent_ino, &dirbuf, &dirblocks, &htree);
                if (r < 0)
                        return kiln_error_prefix(r, "folder '%s'", path);
                r = alloc_blocks(w, 0, dirblocks);
                if (r < 0)
                        return r;
                blocks = dirblocks;
                in.i_flags = EXT4_EXTENTS_FL | (htree ? EXT2_INDEX_FL : 0);
                if (d->n_subdirs + 2 > EXT2_LINK_MAX)
                        in.i_links_count = 1;
                set_size_blocks(&in, dirblocks * BS, blocks);
                break;
        }
        case S_IFLNK: {
                size_t len = strlen(src->symlink);
                if (len < sizeof(in.i_block)) {
                        memcpy(in.i_block, src->symlink, len);
                        set_size_blocks(&in, len, 0);
                } else {
                        uint8_t *buf = scratch(w, BS);
                        if (!buf)
                                return -ENOMEM;
                        r = alloc_blocks(w, 0, 1);
                        if (r < 0)
                                return r;
                        memcpy(buf, src->symlink, len);
                        r = kiln_disk_pwrite(w->disk, buf, BS, w->ext.v[0].pblk * BS);
                        if (r < 0)
                                return r;
                        in.i_flags = EXT4_EXTENTS_FL;
                        blocks = 1;
                        set_size_blocks(&in, len, 1);
                }
                break;
        }
        case S_IFCHR:
        case S_IFBLK: {
                unsigned ma = major(src->rdev), mi = minor(src->rdev);
                if (ma < 256 && mi < 256) {
                        in.i_block[0] = ma * 256 + mi;
                } else {
                        in.i_block[1] = (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
                }
                break;
        }
        default:
                break;
        }

        if (in.i_flags & EXT4_EXTENTS_FL) {
                r = plan_extent_tree(w, &in, &plan);
                if (r < 0)
                        goto out;
                blocks += plan.n_leaves + plan.n_nodes;
                set_size_blocks(&in, (uint64_t)in.i_size | (uint64_t)in.i_size_high << 32, blocks);
        }
        r = write_inode(w, ino, &in);
        if (r < 0)
                goto out;
        /* Checksums of these blocks cover the inode, so they come after it. */
        r = write_extent_blocks(w, ino, &plan);
        if (r < 0)
                goto out;
        if (dirbuf) {
                for (size_t b = 0; b < dirblocks; b++) {
                        errcode_t e = ext2fs_dir_block_csum_set(w->fs, ino, (struct ext2_dir_entry *)(dirbuf + b * BS));
                        if (e && ext2fs_has_feature_metadata_csum(w->fs->super)) {
                                r = kiln_ext2_error(e, path);
                                goto out;
                        }
                }
                uint64_t lb = 0;
                for (size_t i = 0; i < w->ext.n && r >= 0; i++) {
                        r = kiln_disk_pwrite(w->disk, dirbuf + lb * BS, (size_t)w->ext.v[i].len * BS,
                                             w->ext.v[i].pblk * BS);
                        lb += w->ext.v[i].len;
                }
                if (r < 0)
                        goto out;
        }
        r = write_xattrs(w, ino, src, path);
        w->files++;
        if (w->o->progress && (w->files & 255) == 0)
                w->o->progress(w->o->progress_ud, w->files, w->bytes);
out:
        free(plan.blocks);
        return r;
}

/* ---------- layout ---------- */

static int assign_ino(struct kiln_dentry *d, void *ud)
{
        struct writer *w = ud;

        if (d->inode->ino)
                return 0;
        d->inode->ino = w->next_ino++;
        ext2fs_inode_alloc_stats2(w->fs, d->inode->ino, +1, S_ISDIR(d->inode->mode));
        return 0;
}

static int write_visit(struct kiln_dentry *d, void *ud)
{
        struct writer *w = ud;
        struct kiln_inode *src = d->inode;

        if (src->writer) /* a hardlink whose inode is written already */
                return 0;
        src->writer = w;
        return write_one(w, d);
}

static unsigned reserved_gdt_for(uint64_t blocks)
{
        uint64_t groups = DIV_ROUND_UP(blocks, 32768);
        uint64_t desc_per_block = BS / EXT2_MIN_DESC_SIZE_64BIT;
        uint64_t now = DIV_ROUND_UP(groups, desc_per_block);
        uint64_t want = DIV_ROUND_UP(DIV_ROUND_UP(MAX(GROW_TO_BLOCKS, MIN(blocks * 1024, 0xffffffffULL)), 32768),
                                     desc_per_block);
        /* The resize inode's one indirect block bounds the reservation. */
        return (unsigned)MIN(want > now ? want - now : 0, (uint64_t)(BS / 4));
}

static void set_features(struct ext2_super_block *s)
{
        ext2fs_set_feature_journal(s);
        ext2fs_set_feature_xattr(s);
        ext2fs_set_feature_resize_inode(s);
        ext2fs_set_feature_dir_index(s);
        ext2fs_set_feature_filetype(s);
        ext2fs_set_feature_extents(s);
        ext2fs_set_feature_flex_bg(s);
        ext2fs_set_feature_64bit(s);
        ext2fs_set_feature_sparse_super(s);
        ext2fs_set_feature_large_file(s);
        ext2fs_set_feature_huge_file(s);
        ext2fs_set_feature_dir_nlink(s);
        ext2fs_set_feature_extra_isize(s);
        ext2fs_set_feature_metadata_csum(s);
        /* Not metadata_csum_seed (GRUB 2.06 cannot read it) nor orphan_file. */
}

/* An xattr value too big for an xattr block needs the ea_inode feature,
 * which GRUB cannot read; it is turned on only when the tree needs it. */
static size_t xattr_short_name_len(const char *name)
{
        static const char *const prefixes[] = { "system.posix_acl_access", "system.posix_acl_default",
                                                "user.", "trusted.", "security.", "system." };
        for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
                        return strlen(name) - strlen(prefixes[i]);
        return strlen(name);
}

/* header (32) + one entry (16 + name, rounded to 4) + value (rounded to 4) + end (4) */
static bool value_fits_block(const struct kiln_xattr *x)
{
        return 32 + ((16 + xattr_short_name_len(x->name) + 3) & ~3u) + ((x->len + 3) & ~(size_t)3) + 4 <= BS;
}

static int ea_inode_visit(struct kiln_dentry *d, void *ud)
{
        for (size_t i = 0; i < d->inode->n_xattrs; i++)
                if (!value_fits_block(&d->inode->xattrs[i])) {
                        *(bool *)ud = true;
                        return -1; /* stop the walk */
                }
        return 0;
}

static bool tree_needs_ea_inode(struct kiln_tree *t)
{
        bool need = false;
        kiln_tree_walk(t, ea_inode_visit, &need);
        return need;
}

static int fs_create(struct kiln_disk *disk, uint64_t blocks, uint64_t inodes, bool ea_inode, ext2_filsys *ret)
{
        struct ext2_super_block param;
        char name[64];
        errcode_t e;

        memset(&param, 0, sizeof(param));
        ext2fs_blocks_count_set(&param, blocks);
        param.s_log_block_size = 2;
        param.s_rev_level = EXT2_DYNAMIC_REV;
        param.s_inode_size = INODE_SIZE;
        param.s_inodes_count = (__u32)MIN(inodes, (uint64_t)UINT32_MAX - 1024);
        param.s_log_groups_per_flex = 4;
        param.s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
        param.s_min_extra_isize = EXTRA_ISIZE;
        param.s_want_extra_isize = EXTRA_ISIZE;
        param.s_reserved_gdt_blocks = (__u16)reserved_gdt_for(blocks);
        ext2fs_r_blocks_count_set(&param, blocks * 5 / 100);
        set_features(&param);
        if (ea_inode)
                ext2fs_set_feature_ea_inode(&param);
        kiln_io_name(disk, name, sizeof(name));
        e = ext2fs_initialize(name, EXT2_FLAG_64BITS, &param, kiln_io_manager, ret);
        if (e)
                return kiln_ext2_error(e, "cannot lay out the filesystem");
        return 0;
}

/*
 * Online growth adds groups in one journal transaction whose credits count
 * every reserved GDT block; jbd2 refuses (ENOSPC) a transaction larger than
 * a quarter of the journal.  mke2fs's default journal for a small volume is
 * too small for the 2 TiB reservation, so it gets at least 16 MiB.
 */
static blk64_t journal_blocks(uint64_t blocks)
{
        int def = ext2fs_default_journal_size(blocks);
        blk64_t want = MIN((blk64_t)4096, blocks / 4);
        return MAX(def > 0 ? (blk64_t)def : 0, want);
}

/* ---------- sizing ---------- */

struct need {
        struct writer *w;
        uint64_t blocks;
};

static int count_visit(struct kiln_dentry *d, void *ud)
{
        struct need *n = ud;
        struct kiln_inode *src = d->inode;

        if (src->writer == n)
                return 0;
        src->writer = n;
        switch (src->mode & S_IFMT) {
        case S_IFREG: {
                uint64_t b = DIV_ROUND_UP(src->alloc_bytes, BS);
                uint64_t ext = DIV_ROUND_UP(b, MAX_EXTENT_LEN) + src->n_segs;
                n->blocks += b + (ext > 4 ? DIV_ROUND_UP(ext, EXTENTS_PER_BLOCK) + 1 : 0);
                break;
        }
        case S_IFDIR: {
                size_t ne = d->n_children + 2;
                struct dirent_src *ents = calloc(ne, sizeof(*ents));
                if (!ents)
                        return -ENOMEM;
                ents[0].name_len = 1;
                ents[1].name_len = 2;
                for (size_t i = 0; i < d->n_children; i++)
                        ents[i + 2].name_len = (uint8_t)strlen(d->children[i]->name);
                size_t b = pack_leaves(n->w, ents, ne, NULL, NULL);
                free(ents);
                /* htree packing by hash can take a few more blocks; index blocks on top */
                n->blocks += b == 1 ? LPF_BLOCKS : b + b / 8 + 2 + DIV_ROUND_UP(b, 500);
                break;
        }
        case S_IFLNK:
                n->blocks += strlen(src->symlink) >= 60;
                break;
        }
        size_t xsize = 0;
        for (size_t i = 0; i < src->n_xattrs; i++)
                xsize += 16 + ROUND_UP(strlen(src->xattrs[i].name), 4) + ROUND_UP(src->xattrs[i].len, 4);
        if (xsize > INODE_SIZE - EXT2_GOOD_OLD_INODE_SIZE - EXTRA_ISIZE - 8)
                n->blocks += DIV_ROUND_UP(xsize, BS);
        return 0;
}

static int reset_visit(struct kiln_dentry *d, void *ud)
{
        (void)ud;
        d->inode->writer = NULL;
        return 0;
}

static uint64_t inodes_for(const struct kiln_tree *t, uint64_t blocks)
{
        uint64_t need = t->n_inodes + EXT2_GOOD_OLD_FIRST_INO + t->n_inodes / 8 + 256;
        return MAX(need, blocks * BS / INODE_RATIO);
}

/* Free blocks left once metadata, journal and resize inode are laid out. */
static int free_after_layout(struct kiln_tree *t, uint64_t blocks, uint64_t *ret)
{
        struct kiln_disk *null;
        ext2_filsys fs;
        int r = kiln_disk_new_memory(0, &null);

        if (r < 0)
                return r;
        null->size = blocks * BS; /* never written: layout only */
        r = fs_create(null, blocks, inodes_for(t, blocks), false, &fs);
        if (r < 0) {
                kiln_disk_free(null);
                return r;
        }
        errcode_t e = ext2fs_allocate_tables(fs);
        if (e) {
                ext2fs_free(fs);
                kiln_disk_free(null);
                return kiln_ext2_error(e, "cannot lay out the filesystem");
        }
        uint64_t free_blocks = ext2fs_free_blocks_count(fs->super);
        uint64_t resize = (uint64_t)fs->super->s_reserved_gdt_blocks * 8 + 2; /* backups, bounded */
        uint64_t used = journal_blocks(blocks) + resize;
        ext2fs_free(fs);
        kiln_disk_free(null);
        *ret = free_blocks > used ? free_blocks - used : 0;
        return 0;
}

int kiln_ext4_min_size(struct kiln_tree *t, uint64_t extra_bytes, uint64_t *ret)
{
        struct writer w = { .t = t };
        struct ext2_super_block sb = { 0 };
        struct struct_ext2_filsys fake = { .super = &sb };
        struct need n = { &w, 0 };
        int r;

        set_features(&sb);
        w.fs = &fake;
        r = kiln_tree_walk(t, count_visit, &n);
        kiln_tree_walk(t, reset_visit, NULL);
        if (r < 0)
                return r;
        uint64_t content = n.blocks + DIV_ROUND_UP(extra_bytes, BS) + 16;
        uint64_t blocks = MAX(content + content / 16, (uint64_t)8192); /* at least 32 MiB */
        for (int iter = 0; iter < 64; iter++) {
                uint64_t avail = 0;
                blocks = ROUND_UP(blocks, 256); /* whole MiB */
                r = free_after_layout(t, blocks, &avail);
                if (r < 0)
                        return r;
                /* The 5% reserve is for root at run time; the build may use it,
                 * but keep it free so the image boots with room to log. */
                uint64_t reserve = blocks * 5 / 100;
                if (avail >= content + reserve) {
                        *ret = blocks * BS;
                        return 0;
                }
                blocks += content + reserve - avail;
        }
        return kiln_errorf(-EFBIG, "cannot find a filesystem size that holds the tree");
}

/* ---------- the whole filesystem ---------- */

static int ensure_lost_found(struct writer *w)
{
        struct kiln_dentry *lpf = kiln_tree_child(w->t, w->t->root, "lost+found");
        struct kiln_inode *in;

        if (lpf) {
                if (!S_ISDIR(lpf->inode->mode))
                        return kiln_errorf(-EINVAL, "'/lost+found' in the rootfs is not a folder");
        } else {
                in = kiln_tree_new_inode(w->t);
                if (!in)
                        return -ENOMEM;
                in->mode = S_IFDIR | 0700;
                in->atime = in->mtime = in->ctime = (struct timespec){ w->o->now, 0 };
                int r = kiln_tree_add_child(w->t, w->t->root, "lost+found", in, &lpf);
                if (r < 0)
                        return r;
                kiln_tree_finalize(w->t);
        }
        return 0;
}

int kiln_ext4_write(struct kiln_disk *disk, struct kiln_tree *t, const struct kiln_ext4_opts *o,
                    struct kiln_ext4_result *ret)
{
        struct writer w = { .disk = disk, .t = t, .o = o };
        uint64_t blocks = disk->size / BS;
        errcode_t e;
        int r;

        if (blocks < 2048)
                return kiln_errorf(-ENOSPC, "a volume of %llu bytes is too small for ext4",
                                   (unsigned long long)disk->size);
        r = ensure_lost_found(&w);
        if (r < 0)
                return r;
        w.res.ea_inode = tree_needs_ea_inode(t);
        r = fs_create(disk, blocks, inodes_for(t, blocks), w.res.ea_inode, &w.fs);
        if (r < 0)
                return r;
        ext2_filsys fs = w.fs;
        struct ext2_super_block *s = fs->super;

        fs->now = o->now;
        memcpy(s->s_uuid, o->uuid, 16);
        memcpy(s->s_hash_seed, o->hash_seed, 16);
        s->s_checksum_type = EXT2_CRC32C_CHKSUM;
        ext2fs_init_csum_seed(fs);
        s->s_def_hash_version = EXT2_HASH_HALF_MD4;
        /* Fixed, not the build host's char signedness: reproducible anywhere. */
        s->s_flags = (s->s_flags & ~EXT2_FLAGS_SIGNED_HASH) | EXT2_FLAGS_UNSIGNED_HASH;
        w.hash_version = EXT2_HASH_HALF_MD4_UNSIGNED;
        s->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
        s->s_max_mnt_count = (__s16)-1;
        s->s_checkinterval = 0;
        s->s_mkfs_time = s->s_wtime = s->s_lastcheck = (__u32)o->now;
        s->s_mtime = 0;
        if (o->label)
                strncpy((char *)s->s_volume_name, o->label, sizeof(s->s_volume_name));

        e = ext2fs_allocate_tables(fs);
        if (e) {
                r = kiln_ext2_error(e, "cannot lay out the filesystem");
                goto fail;
        }
        /* The disk reads as zeros, so inode tables are already clean. */
        for (dgrp_t g = 0; g < fs->group_desc_count; g++)
                ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);

        /* Reserved inodes (bad blocks, quota, journal, resize, ...). */
        for (ext2_ino_t i = 1; i < EXT2_FIRST_INODE(s); i++)
                if (i != EXT2_ROOT_INO)
                        ext2fs_inode_alloc_stats2(fs, i, +1, 0);
        {
                struct ext2_inode_large bb = { 0 };
                bb.i_atime = bb.i_mtime = bb.i_ctime = (__u32)o->now;
                bb.i_extra_isize = EXTRA_ISIZE;
                r = write_inode(&w, EXT2_BAD_INO, &bb);
                if (r < 0)
                        goto fail;
        }
        e = ext2fs_create_resize_inode(fs);
        if (e) {
                r = kiln_ext2_error(e, "cannot create the resize inode");
                goto fail;
        }
        {
                struct ext2fs_journal_params jp;
                e = ext2fs_get_journal_params(&jp, fs);
                jp.num_journal_blocks = (blk_t)journal_blocks(ext2fs_blocks_count(s));
                if (!e)
                        e = ext2fs_add_journal_inode3(fs, &jp, ~0ULL,
                                                      EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK);
                if (e) {
                        r = kiln_ext2_error(e, "cannot create the journal");
                        goto fail;
                }
        }

        /* Inode numbers first (folders need their children's), then contents
         * in the same depth-first order, so data follows the tree. */
        t->root->inode->ino = EXT2_ROOT_INO;
        ext2fs_inode_alloc_stats2(fs, EXT2_ROOT_INO, +1, 1);
        struct kiln_dentry *lpf = kiln_tree_child(t, t->root, "lost+found");
        lpf->inode->ino = EXT2_FIRST_INODE(s);
        ext2fs_inode_alloc_stats2(fs, lpf->inode->ino, +1, 1);
        w.next_ino = EXT2_FIRST_INODE(s) + 1;
        kiln_tree_walk(t, reset_visit, NULL);
        r = kiln_tree_walk(t, assign_ino, &w);
        if (r < 0)
                goto fail;
        w.cursor = ext2fs_group_first_block2(fs, 0);
        r = kiln_tree_walk(t, write_visit, &w);
        if (r < 0)
                goto fail;

        e = ext2fs_set_gdt_csum(fs);
        if (e) {
                r = kiln_ext2_error(e, "cannot finish group descriptors");
                goto fail;
        }
        w.res.blocks = ext2fs_blocks_count(s);
        w.res.free_blocks = ext2fs_free_blocks_count(s);
        w.res.inodes = s->s_inodes_count;
        w.res.free_inodes = s->s_free_inodes_count;
        w.res.block_size = BS;
        fs->now = o->now;
        e = ext2fs_close_free(&w.fs);
        if (e) {
                r = kiln_ext2_error(e, "cannot write the filesystem metadata");
                goto fail;
        }
        if (o->progress)
                o->progress(o->progress_ud, w.files, w.bytes);
        if (ret)
                *ret = w.res;
        free(w.ext.v);
        free(w.blockbuf);
        kiln_tree_walk(t, reset_visit, NULL);
        return 0;
fail:
        if (w.fs)
                ext2fs_free(w.fs);
        free(w.ext.v);
        free(w.blockbuf);
        kiln_tree_walk(t, reset_visit, NULL);
        return r;
}
