/* SPDX-License-Identifier: MIT */
/*
 * Reads a rootfs tarball (tar, tar.gz, tar.zst, tar.xz, ...) with libarchive.
 * Headers give owners, modes, times, xattrs and ACLs, so no root is needed.
 * File data is copied once into an unlinked spool file, holes left out, and
 * the tree records where each file's bytes are.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tree.h"
#include "util.h"

/*
 * Data lands in anonymous memory while it fits (a quarter of RAM at most),
 * which costs one copy; past that in an unlinked file beside the output.
 */
struct spool {
        struct kiln_tree *t;
        const char *dir;
        int64_t input_size; /* bytes of the file read (compressed or not); -1 unknown */
        uint64_t pos; /* total bytes spooled */
        char buf[1 << 20];
        size_t fill;  /* buffered for the file part */
};

static uint64_t spool_mem_limit(void)
{
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        const char *env = getenv("KILN_SPOOL_MEMORY");
        uint64_t lim = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz / 4 : UINT64_C(1) << 30;

        if (env) {
                uint64_t v;
                if (parse_size(env, &v) == 0 || !strcmp(env, "0"))
                        lim = strcmp(env, "0") ? v : 0;
        }
        return lim & ~UINT64_C(4095);
}

static int spool_open_file(struct spool *s)
{
        int fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

        if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
                char tmpl[4096];
                snprintf(tmpl, sizeof(tmpl), "%s/.kiln-spool-XXXXXX", s->dir);
                fd = mkostemp(tmpl, O_CLOEXEC);
                if (fd >= 0)
                        unlink(tmpl);
        }
        if (fd < 0)
                return kiln_errorf(-errno, "cannot create a spool file in '%s': %m", s->dir);
        s->t->spool_fd = fd;
        return 0;
}

static int spool_flush(struct spool *s)
{
        size_t done = 0;
        uint64_t base = s->pos - s->fill - s->t->spool_mem_cap;

        while (done < s->fill) {
                ssize_t n = pwrite(s->t->spool_fd, s->buf + done, s->fill - done, (off_t)(base + done));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return kiln_errorf(-errno, "cannot write the spool file: %m");
                }
                done += (size_t)n;
        }
        s->fill = 0;
        return 0;
}

static int spool_write(struct spool *s, const void *buf, size_t len)
{
        struct kiln_tree *t = s->t;
        const char *p = buf;

        if (t->spool_mem_len < t->spool_mem_cap) {
                size_t n = (size_t)MIN((uint64_t)len, t->spool_mem_cap - t->spool_mem_len);
                memcpy(t->spool_mem + t->spool_mem_len, p, n);
                t->spool_mem_len += n;
                s->pos += n;
                p += n;
                len -= n;
        }
        if (len > 0 && t->spool_fd < 0) {
                int r = spool_open_file(s);
                if (r < 0)
                        return r;
        }
        while (len > 0) {
                size_t n = MIN(len, sizeof(s->buf) - s->fill);
                memcpy(s->buf + s->fill, p, n);
                s->fill += n;
                s->pos += n;
                p += n;
                len -= n;
                if (s->fill == sizeof(s->buf)) {
                        int r = spool_flush(s);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int add_segment(struct kiln_inode *inode, uint64_t off, uint64_t len, uint64_t src_off)
{
        if (inode->n_segs > 0) {
                struct kiln_segment *last = &inode->segs[inode->n_segs - 1];
                if (last->off + last->len == off && last->src_off + last->len == src_off) {
                        last->len += len;
                        return 0;
                }
        }
        struct kiln_segment *n = realloc(inode->segs, (inode->n_segs + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        inode->segs = n;
        n[inode->n_segs++] = (struct kiln_segment){ off, len, src_off };
        return 0;
}

/*
 * libarchive's message for a failed read.  A decompressor that runs out of
 * input does not always say so (xz: "Lzma library error: No progress is
 * possible"): when the whole file was consumed, that is what happened.
 */
static const char *why(struct archive *a, const struct spool *s, char *buf, size_t size)
{
        const char *msg = archive_error_string(a);

        if (!msg)
                msg = "truncated or damaged archive";
        if (!strcasestr(msg, "truncated") && archive_filter_count(a) > 1 && s->input_size > 0 &&
            archive_filter_bytes(a, -1) >= s->input_size) {
                snprintf(buf, size, "%s (the %s stream ends before the archive does: truncated)", msg,
                         archive_filter_name(a, 0));
                return buf;
        }
        return msg;
}

static int read_data(struct archive *a, struct spool *s, struct kiln_inode *inode, const char *name)
{
        char msg[1024];
        const void *buf;
        size_t size;
        la_int64_t off;
        int r;

        for (;;) {
                r = archive_read_data_block(a, &buf, &size, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return kiln_errorf(-EBADMSG, "'%s': %s", name, why(a, s, msg, sizeof(msg)));
                if (size == 0)
                        continue;
                r = add_segment(inode, (uint64_t)off, size, s->pos);
                if (r < 0)
                        return r;
                r = spool_write(s, buf, size);
                if (r < 0)
                        return r;
        }
        /* Allocation is per 4 KiB block; count the blocks the segments touch. */
        uint64_t blocks = 0, last = UINT64_MAX;
        for (size_t i = 0; i < inode->n_segs; i++) {
                uint64_t first = inode->segs[i].off / 4096, end = DIV_ROUND_UP(inode->segs[i].off + inode->segs[i].len, 4096);
                if (first == last)
                        first++;
                if (end > first)
                        blocks += end - first;
                last = end - 1;
        }
        inode->alloc_bytes = blocks * 4096;
        inode->data = inode->n_segs ? KILN_DATA_SPOOL : KILN_DATA_NONE;
        return 0;
}

/* POSIX ACL entries as the kernel's system.posix_acl_* xattr value. */
static int acl_to_xattr(struct archive_entry *e, int type, struct kiln_inode *inode, const char *xname)
{
        struct { uint16_t tag, perm; uint32_t id; } ents[1024];
        size_t n = 0;
        int atype, perm, tag, id;
        const char *aname;

        if (archive_entry_acl_reset(e, type) <= 0)
                return 0;
        while (archive_entry_acl_next(e, type, &atype, &perm, &tag, &id, &aname) == ARCHIVE_OK) {
                uint16_t t;
                switch (tag) {
                case ARCHIVE_ENTRY_ACL_USER_OBJ: t = 0x01; id = -1; break;
                case ARCHIVE_ENTRY_ACL_USER: t = 0x02; break;
                case ARCHIVE_ENTRY_ACL_GROUP_OBJ: t = 0x04; id = -1; break;
                case ARCHIVE_ENTRY_ACL_GROUP: t = 0x08; break;
                case ARCHIVE_ENTRY_ACL_MASK: t = 0x10; id = -1; break;
                case ARCHIVE_ENTRY_ACL_OTHER: t = 0x20; id = -1; break;
                default: continue; /* NFSv4 entries have no POSIX form */
                }
                if (n == ARRAY_SIZE(ents))
                        return kiln_errorf(-E2BIG, "too many ACL entries");
                ents[n].tag = t;
                ents[n].perm = (uint16_t)(perm & 7);
                ents[n].id = (uint32_t)id;
                n++;
        }
        if (n == 0)
                return 0;
        /* The kernel wants entries ordered by tag, then id. */
        for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && (ents[j - 1].tag > ents[j].tag ||
                                             (ents[j - 1].tag == ents[j].tag && ents[j - 1].id > ents[j].id)); j--) {
                        __typeof__(ents[0]) tmp = ents[j];
                        ents[j] = ents[j - 1];
                        ents[j - 1] = tmp;
                }
        uint8_t buf[4 + sizeof(ents)];
        size_t len = 4;
        buf[0] = 2; buf[1] = buf[2] = buf[3] = 0; /* version 2, little-endian */
        for (size_t i = 0; i < n; i++) {
                uint8_t *p = buf + len;
                p[0] = (uint8_t)ents[i].tag; p[1] = (uint8_t)(ents[i].tag >> 8);
                p[2] = (uint8_t)ents[i].perm; p[3] = (uint8_t)(ents[i].perm >> 8);
                for (int k = 0; k < 4; k++)
                        p[4 + k] = (uint8_t)(ents[i].id >> (8 * k));
                len += 8;
        }
        return kiln_inode_set_xattr(inode, xname, buf, len);
}

static bool has_xattr(const struct kiln_inode *inode, const char *name)
{
        for (size_t i = 0; i < inode->n_xattrs; i++)
                if (!strcmp(inode->xattrs[i].name, name))
                        return true;
        return false;
}

static int fill_inode(struct archive_entry *e, struct kiln_inode *inode, const char *name)
{
        const char *xname;
        const void *xval;
        size_t xlen;
        int r;

        inode->mode = archive_entry_mode(e);
        inode->uid = (uid_t)archive_entry_uid(e);
        inode->gid = (gid_t)archive_entry_gid(e);
        inode->mtime = (struct timespec){ archive_entry_mtime(e), archive_entry_mtime_nsec(e) };
        inode->atime = archive_entry_atime_is_set(e)
                               ? (struct timespec){ archive_entry_atime(e), archive_entry_atime_nsec(e) }
                               : inode->mtime;
        inode->ctime = archive_entry_ctime_is_set(e)
                               ? (struct timespec){ archive_entry_ctime(e), archive_entry_ctime_nsec(e) }
                               : inode->mtime;
        switch (inode->mode & S_IFMT) {
        case S_IFREG:
                inode->size = archive_entry_size_is_set(e) ? (uint64_t)archive_entry_size(e) : 0;
                break;
        case S_IFLNK: {
                const char *target = archive_entry_symlink(e);
                if (!target)
                        target = archive_entry_symlink_utf8(e);
                if (!target || !*target)
                        return kiln_errorf(-EBADMSG, "symlink '%s' has no target", name);
                if (strlen(target) > 4095)
                        return kiln_errorf(-EBADMSG, "symlink '%s' target is longer than 4095 bytes", name);
                inode->symlink = strdup(target);
                if (!inode->symlink)
                        return -ENOMEM;
                inode->size = strlen(target);
                break;
        }
        case S_IFCHR:
        case S_IFBLK:
                inode->rdev = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
                break;
        case S_IFDIR:
        case S_IFIFO:
        case S_IFSOCK:
                break;
        default:
                return kiln_errorf(-EBADMSG, "'%s' has an unknown file type (mode %o)", name, inode->mode);
        }
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &xname, &xval, &xlen) == ARCHIVE_OK) {
                r = kiln_inode_set_xattr(inode, xname, xval, xlen);
                if (r < 0)
                        return r;
        }
        if (!has_xattr(inode, "system.posix_acl_access")) {
                r = acl_to_xattr(e, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, inode, "system.posix_acl_access");
                if (r < 0)
                        return r;
        }
        if (S_ISDIR(inode->mode) && !has_xattr(inode, "system.posix_acl_default")) {
                r = acl_to_xattr(e, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, inode, "system.posix_acl_default");
                if (r < 0)
                        return r;
        }
        /* libarchive sets the mode's group bits from the ACL's group:: entry;
         * with a mask, they are the mask's (acl(5)). */
        for (size_t i = 0; i < inode->n_xattrs; i++) {
                const struct kiln_xattr *x = &inode->xattrs[i];
                if (strcmp(x->name, "system.posix_acl_access"))
                        continue;
                const uint8_t *v = x->value;
                for (size_t off = 4; off + 8 <= x->len; off += 8)
                        if ((v[off] | v[off + 1] << 8) == 0x10)
                                inode->mode = (inode->mode & ~(mode_t)070) | (mode_t)((v[off + 2] & 7) << 3);
        }
        return 0;
}

static bool is_root_path(const char *p)
{
        for (; *p; p++)
                if (*p != '/' && *p != '.')
                        return false;
        return true;
}

static bool escapes(const char *p)
{
        for (const char *c = p; *c;) {
                while (*c == '/')
                        c++;
                const char *end = strchrnul(c, '/');
                if (end - c == 2 && c[0] == '.' && c[1] == '.')
                        return true;
                c = end;
        }
        return false;
}

/*
 * A tar archive ends with two zero blocks.  libarchive, like GNU tar, does
 * not insist on them: at the end of the input it reports the end of the
 * archive wherever the last entry stopped, so a file cut exactly between two
 * entries (a copy or download that stopped there) would read as a smaller,
 * complete-looking tree.  At its end, the tar reader has consumed the zero
 * blocks it found: the end begins at the header position, and the bytes of
 * (uncompressed) tar consumed, archive_filter_bytes(a, 0), must reach 1024
 * past it.  Checked for compressed input too: a whole gzip/zstd/xz stream of
 * a cut tar is just as incomplete.
 */
static int check_end_of_archive(struct archive *a)
{
        la_int64_t start = archive_read_header_position(a), end = archive_filter_bytes(a, 0);

        if (start < 0 || end < 0 || end - start >= 1024)
                return 0;
        return kiln_errorf(-EBADMSG,
                           "truncated archive: no end-of-archive marker (two zero blocks) at offset %lld%s: "
                           "the file stops %s",
                           (long long)start, archive_filter_count(a) > 1 ? " of the uncompressed tar" : "",
                           end > start ? "inside the marker" : "between two entries");
}

static int read_entries(struct kiln_tree *t, struct archive *a, struct spool *s)
{
        struct archive_entry *e;
        char msg[1024];
        int r;

        for (;;) {
                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        return check_end_of_archive(a);
                if (r < ARCHIVE_WARN) {
                        la_int64_t pos = archive_read_header_position(a);
                        const char *problem = why(a, s, msg, sizeof(msg));
                        if (pos < 0)
                                return kiln_errorf(-EBADMSG, "%s", problem);
                        return kiln_errorf(-EBADMSG, "%s at offset %lld", problem, (long long)pos);
                }
                const char *name = archive_entry_pathname(e);
                if (!name)
                        name = archive_entry_pathname_utf8(e);
                if (!name)
                        return kiln_errorf(-EBADMSG, "entry at offset %lld has no usable name",
                                           (long long)archive_read_header_position(a));
                if (escapes(name))
                        return kiln_errorf(-EBADMSG, "entry '%s' has a '..' component (would escape the root)", name);

                const char *link = archive_entry_hardlink(e);
                if (!link)
                        link = archive_entry_hardlink_utf8(e);
                if (link) {
                        struct kiln_dentry *target;
                        if (escapes(link))
                                return kiln_errorf(-EBADMSG, "hard link '%s' -> '%s' escapes the root", name, link);
                        r = kiln_tree_lookup(t, link, &target);
                        if (r < 0)
                                return kiln_errorf(-EBADMSG, "hard link '%s' points to '%s', which is not in the archive before it",
                                                   name, link);
                        if (S_ISDIR(target->inode->mode))
                                return kiln_errorf(-EBADMSG, "hard link '%s' points to folder '%s'", name, link);
                        r = kiln_tree_add(t, name, target->inode, NULL);
                        if (r < 0)
                                return kiln_error_prefix(r, "entry '%s'", name);
                        continue;
                }

                struct kiln_inode *inode = kiln_tree_new_inode(t);
                if (!inode)
                        return -ENOMEM;
                r = fill_inode(e, inode, name);
                if (r < 0)
                        return r;
                if (S_ISREG(inode->mode)) {
                        r = read_data(a, s, inode, name);
                        if (r < 0)
                                return r;
                }
                if (is_root_path(name)) {
                        if (!S_ISDIR(inode->mode))
                                return kiln_errorf(-EBADMSG, "entry '%s' names the root but is not a folder", name);
                        r = kiln_tree_add(t, "", inode, NULL);
                } else {
                        r = kiln_tree_add(t, name, inode, NULL);
                }
                if (r < 0)
                        return kiln_error_prefix(r, "entry '%s'", name);
        }
}

int kiln_rootfs_read_tar(struct kiln_tree *t, const char *path, const char *spool_dir)
{
        struct archive *a = archive_read_new();
        struct spool *s = NULL;
        int r;

        if (!a)
                return -ENOMEM;
        archive_read_support_filter_all(a);
        archive_read_support_format_tar(a);
        archive_read_support_format_gnutar(a);
        if (archive_read_open_filename(a, path, 1 << 20) != ARCHIVE_OK) {
                r = kiln_errorf(-EBADMSG, "%s", archive_error_string(a));
                goto out;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                r = -ENOMEM;
                goto out;
        }
        s->t = t;
        s->dir = spool_dir;
        struct stat st;
        s->input_size = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
        t->spool_mem_cap = spool_mem_limit();
        if (t->spool_mem_cap) {
                /* Reserved, not committed: pages appear as data is written. */
                void *m = mmap(NULL, t->spool_mem_cap, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
                if (m == MAP_FAILED) {
                        t->spool_mem_cap = 0;
                } else {
                        t->spool_mem = m;
                }
        }
        r = read_entries(t, a, s);
        if (r >= 0)
                r = spool_flush(s);
out:
        free(s);
        archive_read_free(a);
        return r;
}
