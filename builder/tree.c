/* SPDX-License-Identifier: MIT */
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* Every inode and dentry is owned by the tree through these lists. */
struct owned {
        void **items;
        size_t n, cap;
};

struct kiln_tree_priv {
        struct kiln_tree pub;
        struct owned inodes, dentries;
};

static int own(struct owned *o, void *p)
{
        if (o->n == o->cap) {
                size_t cap = o->cap ? o->cap * 2 : 1024;
                void **n = realloc(o->items, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                o->items = n;
                o->cap = cap;
        }
        o->items[o->n++] = p;
        return 0;
}

static uint64_t hash_key(const struct kiln_dentry *parent, const char *name)
{
        uint64_t h = 1469598103934665603ULL ^ (uint64_t)(uintptr_t)parent;
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
                h = (h ^ *p) * 1099511628211ULL;
        return h ^ (h >> 29);
}

static int hash_grow(struct kiln_tree *t)
{
        size_t cap = t->hash_cap ? t->hash_cap * 2 : 4096;
        struct kiln_dentry **n = calloc(cap, sizeof(*n));

        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < t->hash_cap; i++) {
                struct kiln_dentry *d = t->hash[i];
                if (!d)
                        continue;
                size_t j = hash_key(d->parent, d->name) & (cap - 1);
                while (n[j])
                        j = (j + 1) & (cap - 1);
                n[j] = d;
        }
        free(t->hash);
        t->hash = n;
        t->hash_cap = cap;
        return 0;
}

static struct kiln_dentry *hash_find(struct kiln_tree *t, struct kiln_dentry *parent, const char *name)
{
        if (!t->hash_cap)
                return NULL;
        for (size_t j = hash_key(parent, name) & (t->hash_cap - 1); t->hash[j]; j = (j + 1) & (t->hash_cap - 1)) {
                struct kiln_dentry *d = t->hash[j];
                if (d->parent == parent && strcmp(d->name, name) == 0)
                        return d;
        }
        return NULL;
}

static int hash_insert(struct kiln_tree *t, struct kiln_dentry *d)
{
        if ((t->hash_used + 1) * 2 > t->hash_cap) {
                int r = hash_grow(t);
                if (r < 0)
                        return r;
        }
        size_t j = hash_key(d->parent, d->name) & (t->hash_cap - 1);
        while (t->hash[j])
                j = (j + 1) & (t->hash_cap - 1);
        t->hash[j] = d;
        t->hash_used++;
        return 0;
}

struct kiln_inode *kiln_tree_new_inode(struct kiln_tree *t)
{
        struct kiln_tree_priv *p = (struct kiln_tree_priv *)t;
        struct kiln_inode *i = calloc(1, sizeof(*i));

        if (!i || own(&p->inodes, i) < 0) {
                free(i);
                return NULL;
        }
        t->n_inodes++;
        return i;
}

static void inode_free(struct kiln_inode *i)
{
        for (size_t x = 0; x < i->n_xattrs; x++) {
                free(i->xattrs[x].name);
                free(i->xattrs[x].value);
        }
        free(i->xattrs);
        free(i->symlink);
        free(i->src_path);
        free(i->segs);
        free(i->mem);
        free(i);
}

int kiln_tree_new(struct kiln_tree **ret)
{
        struct kiln_tree_priv *p = calloc(1, sizeof(*p));
        struct kiln_tree *t;
        struct kiln_dentry *root;

        if (!p)
                return -ENOMEM;
        t = &p->pub;
        t->spool_fd = -1;
        t->src_dirfd = -1;
        root = calloc(1, sizeof(*root));
        if (!root || own(&p->dentries, root) < 0) {
                free(root);
                free(p);
                return -ENOMEM;
        }
        root->name = strdup("");
        root->inode = kiln_tree_new_inode(t);
        if (!root->name || !root->inode) {
                kiln_tree_free(t);
                return -ENOMEM;
        }
        root->inode->mode = S_IFDIR | 0755;
        t->root = root;
        t->n_dentries = 1;
        *ret = t;
        return 0;
}

void kiln_tree_free(struct kiln_tree *t)
{
        struct kiln_tree_priv *p = (struct kiln_tree_priv *)t;

        if (!t)
                return;
        for (size_t i = 0; i < p->inodes.n; i++)
                inode_free(p->inodes.items[i]);
        for (size_t i = 0; i < p->dentries.n; i++) {
                struct kiln_dentry *d = p->dentries.items[i];
                free(d->name);
                free(d->children);
                free(d);
        }
        free(p->inodes.items);
        free(p->dentries.items);
        free(t->hash);
        free(t->src_root);
        if (t->spool_fd >= 0)
                close(t->spool_fd);
        if (t->spool_mem)
                munmap(t->spool_mem, t->spool_mem_cap);
        if (t->src_dirfd >= 0)
                close(t->src_dirfd);
        free(p);
}

struct kiln_dentry *kiln_tree_child(struct kiln_tree *t, struct kiln_dentry *dir, const char *name)
{
        struct kiln_dentry *d = hash_find(t, dir, name);
        return d && !d->removed ? d : NULL;
}

static int add_child(struct kiln_dentry *dir, struct kiln_dentry *d)
{
        if (dir->n_children == dir->cap_children) {
                size_t cap = dir->cap_children ? dir->cap_children * 2 : 8;
                struct kiln_dentry **n = realloc(dir->children, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                dir->children = n;
                dir->cap_children = cap;
        }
        dir->children[dir->n_children++] = d;
        return 0;
}

static int new_dentry(struct kiln_tree *t, struct kiln_dentry *parent, const char *name, size_t len,
                      struct kiln_inode *inode, struct kiln_dentry **ret)
{
        struct kiln_tree_priv *p = (struct kiln_tree_priv *)t;
        struct kiln_dentry *d = calloc(1, sizeof(*d));
        int r;

        if (!d || own(&p->dentries, d) < 0) {
                free(d);
                return -ENOMEM;
        }
        d->name = strndup(name, len);
        if (!d->name)
                return -ENOMEM;
        d->parent = parent;
        d->inode = inode;
        r = hash_insert(t, d);
        if (r < 0)
                return r;
        t->n_dentries++;
        r = add_child(parent, d);
        if (r < 0)
                return r;
        *ret = d;
        return 0;
}

/* Split off the next component; returns its length, 0 at the end. */
static size_t next_component(const char **path, const char **start)
{
        const char *p = *path;

        for (;;) {
                while (*p == '/')
                        p++;
                if (p[0] == '.' && (p[1] == '/' || p[1] == 0)) {
                        p++;
                        continue;
                }
                break;
        }
        *start = p;
        while (*p && *p != '/')
                p++;
        *path = p;
        return (size_t)(p - *start);
}

static int walk_path(struct kiln_tree *t, const char *path, struct kiln_inode *create,
                     struct kiln_dentry **ret)
{
        struct kiln_dentry *cur = t->root;
        const char *p = path, *comp;
        char name[256];
        size_t len;

        while ((len = next_component(&p, &comp)) > 0) {
                if (len > 255)
                        return kiln_errorf(-ENAMETOOLONG, "name longer than 255 bytes in '%s'", path);
                if (len == 2 && comp[0] == '.' && comp[1] == '.')
                        return kiln_errorf(-EINVAL, "path '%s' has a '..' component", path);
                memcpy(name, comp, len);
                name[len] = 0;
                if (!S_ISDIR(cur->inode->mode))
                        return kiln_errorf(-ENOTDIR, "'%s': a parent is not a folder", path);
                bool last = next_component(&(const char *){ p }, &(const char *){ NULL }) == 0;
                struct kiln_dentry *d = hash_find(t, cur, name);
                if (d && d->removed) {
                        if (!create)
                                return -ENOENT;
                        d->removed = false;
                        d->n_children = 0;
                        int r = add_child(cur, d);
                        if (r < 0)
                                return r;
                        if (!last) {
                                struct kiln_inode *dir = kiln_tree_new_inode(t);
                                if (!dir)
                                        return -ENOMEM;
                                dir->mode = S_IFDIR | 0755;
                                dir->atime = dir->mtime = dir->ctime = t->default_time;
                                d->inode = dir;
                        }
                }
                if (!d) {
                        if (!create)
                                return -ENOENT;
                        struct kiln_inode *ino = create;
                        if (!last) {
                                ino = kiln_tree_new_inode(t);
                                if (!ino)
                                        return -ENOMEM;
                                ino->mode = S_IFDIR | 0755;
                                ino->atime = ino->mtime = ino->ctime = t->default_time;
                        }
                        int r = new_dentry(t, cur, name, len, ino, &d);
                        if (r < 0)
                                return r;
                } else if (last && create) {
                        if (S_ISDIR(d->inode->mode) && !S_ISDIR(create->mode) && d->n_children > 0)
                                return kiln_errorf(-EEXIST, "'%s' replaces a non-empty folder", path);
                        if (S_ISDIR(d->inode->mode) && S_ISDIR(create->mode) && d->inode != create) {
                                /* A folder named twice (tar lists parents again): take
                                 * the later attributes, keep the children. */
                                d->inode->mode = create->mode;
                                d->inode->uid = create->uid;
                                d->inode->gid = create->gid;
                                d->inode->atime = create->atime;
                                d->inode->mtime = create->mtime;
                                d->inode->ctime = create->ctime;
                                struct kiln_xattr *x = d->inode->xattrs;
                                size_t nx = d->inode->n_xattrs;
                                d->inode->xattrs = create->xattrs;
                                d->inode->n_xattrs = create->n_xattrs;
                                create->xattrs = x;
                                create->n_xattrs = nx;
                        } else {
                                d->inode = create;
                        }
                }
                cur = d;
        }
        *ret = cur;
        return 0;
}

int kiln_tree_lookup(struct kiln_tree *t, const char *path, struct kiln_dentry **ret)
{
        return walk_path(t, path, NULL, ret);
}

int kiln_tree_add(struct kiln_tree *t, const char *path, struct kiln_inode *inode, struct kiln_dentry **ret)
{
        struct kiln_dentry *d;
        int r = walk_path(t, path, inode, &d);

        if (r < 0)
                return r;
        if (d == t->root && !S_ISDIR(inode->mode))
                return kiln_errorf(-EINVAL, "the root must be a folder");
        if (d == t->root && d->inode != inode) {
                d->inode->mode = inode->mode;
                d->inode->uid = inode->uid;
                d->inode->gid = inode->gid;
                d->inode->atime = inode->atime;
                d->inode->mtime = inode->mtime;
                d->inode->ctime = inode->ctime;
                struct kiln_xattr *x = d->inode->xattrs;
                size_t nx = d->inode->n_xattrs;
                d->inode->xattrs = inode->xattrs;
                d->inode->n_xattrs = inode->n_xattrs;
                inode->xattrs = x;
                inode->n_xattrs = nx;
        }
        if (ret)
                *ret = d;
        return 0;
}

int kiln_tree_add_child(struct kiln_tree *t, struct kiln_dentry *dir, const char *name,
                        struct kiln_inode *inode, struct kiln_dentry **ret)
{
        size_t len = strlen(name);

        if (len == 0 || len > 255)
                return kiln_errorf(-ENAMETOOLONG, "name '%s' is empty or longer than 255 bytes", name);
        if (kiln_tree_child(t, dir, name))
                return kiln_errorf(-EEXIST, "'%s' exists twice", name);
        return new_dentry(t, dir, name, len, inode, ret);
}

static void mark_removed(struct kiln_dentry *d)
{
        d->removed = true;
        for (size_t i = 0; i < d->n_children; i++)
                mark_removed(d->children[i]);
}

void kiln_tree_remove(struct kiln_tree *t, struct kiln_dentry *d)
{
        struct kiln_dentry *parent = d->parent;

        (void)t;
        if (!parent)
                return;
        for (size_t i = 0; i < parent->n_children; i++) {
                if (parent->children[i] == d) {
                        memmove(&parent->children[i], &parent->children[i + 1],
                                (parent->n_children - i - 1) * sizeof(*parent->children));
                        parent->n_children--;
                        break;
                }
        }
        mark_removed(d);
}

void kiln_tree_path(const struct kiln_dentry *d, char *buf, size_t len)
{
        const struct kiln_dentry *chain[4096];
        size_t n = 0, pos = 0;

        if (!d->parent) {
                snprintf(buf, len, "/");
                return;
        }
        for (; d && d->parent && n < ARRAY_SIZE(chain); d = d->parent)
                chain[n++] = d;
        buf[0] = 0;
        while (n-- > 0 && pos < len) {
                int w = snprintf(buf + pos, len - pos, "/%s", chain[n]->name);
                if (w < 0)
                        break;
                pos += (size_t)w;
        }
}

static int cmp_dentry(const void *a, const void *b)
{
        const struct kiln_dentry *x = *(struct kiln_dentry *const *)a, *y = *(struct kiln_dentry *const *)b;
        return strcmp(x->name, y->name);
}

static void finalize_dir(struct kiln_tree *t, struct kiln_dentry *dir)
{
        if (dir->n_children > 1) /* qsort(NULL, 0, ...) is undefined (UBSan says so) */
                qsort(dir->children, dir->n_children, sizeof(*dir->children), cmp_dentry);
        dir->n_subdirs = 0;
        for (size_t i = 0; i < dir->n_children; i++) {
                struct kiln_dentry *c = dir->children[i];
                struct kiln_inode *ino = c->inode;
                if (S_ISDIR(ino->mode)) {
                        dir->n_subdirs++;
                        finalize_dir(t, c);
                        continue;
                }
                if (ino->nlink++ == 0) {
                        t->n_inodes++;
                        t->data_bytes += ino->alloc_bytes;
                }
        }
        dir->inode->nlink = 2 + dir->n_subdirs;
        t->n_inodes++;
        t->n_dentries += dir->n_children;
}

int kiln_tree_finalize(struct kiln_tree *t)
{
        struct kiln_tree_priv *p = (struct kiln_tree_priv *)t;

        for (size_t i = 0; i < p->inodes.n; i++)
                ((struct kiln_inode *)p->inodes.items[i])->nlink = 0;
        t->n_inodes = 0;
        t->n_dentries = 1;
        t->data_bytes = 0;
        finalize_dir(t, t->root);
        return 0;
}

static int walk(struct kiln_dentry *d, int (*fn)(struct kiln_dentry *, void *), void *ud)
{
        int r = fn(d, ud);
        if (r < 0)
                return r;
        for (size_t i = 0; i < d->n_children; i++) {
                r = walk(d->children[i], fn, ud);
                if (r < 0)
                        return r;
        }
        return 0;
}

int kiln_tree_walk(struct kiln_tree *t, int (*fn)(struct kiln_dentry *d, void *ud), void *ud)
{
        return walk(t->root, fn, ud);
}

static int cmp_xattr(const void *a, const void *b)
{
        return strcmp(((const struct kiln_xattr *)a)->name, ((const struct kiln_xattr *)b)->name);
}

int kiln_inode_set_xattr(struct kiln_inode *inode, const char *name, const void *value, size_t len)
{
        char *n = strdup(name);
        void *v = malloc(len ? len : 1);

        if (!n || !v) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        if (len)
                memcpy(v, value, len);
        for (size_t i = 0; i < inode->n_xattrs; i++) {
                if (strcmp(inode->xattrs[i].name, name) == 0) {
                        free(n);
                        free(inode->xattrs[i].value);
                        inode->xattrs[i].value = v;
                        inode->xattrs[i].len = len;
                        return 0;
                }
        }
        struct kiln_xattr *x = realloc(inode->xattrs, (inode->n_xattrs + 1) * sizeof(*x));
        if (!x) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        inode->xattrs = x;
        x[inode->n_xattrs++] = (struct kiln_xattr){ n, v, len };
        qsort(x, inode->n_xattrs, sizeof(*x), cmp_xattr);
        return 0;
}

static void clamp(struct timespec *ts, time_t epoch)
{
        if (ts->tv_sec > epoch || (ts->tv_sec == epoch && ts->tv_nsec > 0)) {
                ts->tv_sec = epoch;
                ts->tv_nsec = 0;
        }
}

void kiln_tree_clamp_times(struct kiln_tree *t, time_t epoch)
{
        struct kiln_tree_priv *p = (struct kiln_tree_priv *)t;

        for (size_t i = 0; i < p->inodes.n; i++) {
                struct kiln_inode *ino = p->inodes.items[i];
                clamp(&ino->atime, epoch);
                clamp(&ino->mtime, epoch);
                clamp(&ino->ctime, epoch);
        }
}

/*
 * Reading a rootfs folder's files.  The walk (rootfs_dir.c) recorded each
 * file's path, device and inode; the data is read later, and the folder may
 * have changed in between.  A folder on the path swapped for a symbolic link
 * would lead outside the rootfs (the host's files in the image), a FIFO in
 * the file's place would hang the open.  So the path is resolved beneath the
 * rootfs folder's descriptor with no symbolic link anywhere on it (openat2's
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; where the kernel has no openat2, or
 * a seccomp filter refuses it, one component at a time with O_NOFOLLOW),
 * opened O_NONBLOCK, and the result must be the regular file the walk saw.
 */
#define SOURCE_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)

static int openat2_beneath(int dirfd, const char *path, int flags)
{
        struct open_how how = {
                .flags = (uint64_t)flags,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        static bool no_openat2 = false, checked = false;

        if (!checked) { /* tests: KILN_TEST_NO_OPENAT2 takes the other way */
                no_openat2 = getenv("KILN_TEST_NO_OPENAT2") != NULL;
                checked = true;
        }
        if (no_openat2) {
                errno = ENOSYS;
                return -1;
        }
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
        if (fd < 0 && (errno == ENOSYS || errno == EPERM) && !(flags & O_NOATIME))
                no_openat2 = true; /* not EPERM for O_NOATIME: that one is ours */
        return (int)fd;
}

/* Without openat2: each folder on the path opened O_NOFOLLOW from the last. */
static int open_walking(int dirfd, const char *path, int flags)
{
        _cleanup_free_ char *p = strdup(path);
        int at = dirfd, fd;
        char *c, *slash;

        if (!p) {
                errno = ENOMEM;
                return -1;
        }
        for (c = p; (slash = strchr(c, '/')); c = slash + 1) {
                *slash = 0;
                if (!*c || !strcmp(c, ".")) {
                        continue;
                }
                if (!strcmp(c, "..")) {
                        errno = EXDEV;
                        fd = -1;
                } else {
                        fd = openat(at, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        struct stat st;
                        /* O_DIRECTORY|O_NOFOLLOW says ENOTDIR for a symlink: say what it is. */
                        if (fd < 0 && errno == ENOTDIR && fstatat(at, c, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISLNK(st.st_mode))
                                errno = ELOOP;
                        else if (fd < 0 && errno == ENOTDIR)
                                errno = ENOTDIR; /* fstatat may have changed it */
                }
                if (at != dirfd) {
                        int e = errno;
                        close(at);
                        errno = e;
                }
                if (fd < 0)
                        return -1;
                at = fd;
        }
        fd = openat(at, c, flags);
        if (at != dirfd) {
                int e = errno;
                close(at);
                errno = e;
        }
        return fd;
}

static int open_beneath(int dirfd, const char *path, int flags)
{
        int fd = openat2_beneath(dirfd, path, flags);

        if (fd < 0 && (errno == ENOSYS || (errno == EPERM && !(flags & O_NOATIME))))
                fd = open_walking(dirfd, path, flags);
        return fd;
}

static const char *type_name(mode_t mode)
{
        switch (mode & S_IFMT) {
        case S_IFDIR: return "a folder";
        case S_IFLNK: return "a symbolic link";
        case S_IFIFO: return "a FIFO";
        case S_IFSOCK: return "a socket";
        case S_IFCHR: return "a character device";
        case S_IFBLK: return "a block device";
        default: return "something else";
        }
}

int kiln_tree_open_source(struct kiln_tree *t, const struct kiln_inode *inode, int *ret_fd)
{
        const char *root = t->src_root ? t->src_root : ".";
        struct stat st;
        int fd;

        /* O_NOATIME: reading a rootfs must not change it (it needs ownership). */
        fd = open_beneath(t->src_dirfd, inode->src_path, SOURCE_FLAGS | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = open_beneath(t->src_dirfd, inode->src_path, SOURCE_FLAGS);
        if (fd < 0) {
                if (errno == ELOOP || errno == EXDEV)
                        return kiln_errorf(-ELOOP, "cannot read rootfs file '%s/%s': a symbolic link is on its path "
                                           "(the rootfs changed while kiln read it?)", root, inode->src_path);
                if (errno == ENOTDIR)
                        return kiln_errorf(-ENOTDIR, "cannot read rootfs file '%s/%s': a folder on its path is not "
                                           "a folder any more", root, inode->src_path);
                return kiln_errorf(-errno, "cannot read rootfs file '%s/%s': %m", root, inode->src_path);
        }
        if (fstat(fd, &st) < 0) {
                int r = kiln_errorf(-errno, "cannot read rootfs file '%s/%s': %m", root, inode->src_path);
                close(fd);
                return r;
        }
        if (!S_ISREG(st.st_mode) || st.st_dev != inode->src_dev || st.st_ino != inode->src_ino) {
                close(fd);
                if (!S_ISREG(st.st_mode))
                        return kiln_errorf(-ESTALE, "cannot read rootfs file '%s/%s': it is now %s, not the regular "
                                           "file kiln found there", root, inode->src_path,
                                           type_name(st.st_mode));
                return kiln_errorf(-ESTALE, "cannot read rootfs file '%s/%s': it is now another file than the one "
                                   "kiln found there (the rootfs changed while kiln read it)", root, inode->src_path);
        }
        *ret_fd = fd;
        return 0;
}

int kiln_tree_read_file(struct kiln_tree *t, const struct kiln_inode *inode, size_t max, uint8_t **ret,
                        size_t *ret_len)
{
        uint8_t *buf;
        size_t len = (size_t)inode->size;
        int r = 0;

        if (!S_ISREG(inode->mode))
                return kiln_errorf(-EINVAL, "not a regular file");
        if (inode->size > max)
                return kiln_errorf(-EFBIG, "file larger than %zu bytes", max);
        buf = calloc(1, len + 1);
        if (!buf)
                return -ENOMEM;
        switch (inode->data) {
        case KILN_DATA_NONE:
                break;
        case KILN_DATA_MEM:
                memcpy(buf, inode->mem, len);
                break;
        case KILN_DATA_PATH: {
                int fd;
                r = kiln_tree_open_source(t, inode, &fd);
                if (r < 0)
                        break;
                size_t got = 0;
                while (got < len) {
                        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
                        if (n <= 0) {
                                r = kiln_errorf(n < 0 ? -errno : -EIO, "cannot read '%s'", inode->src_path);
                                break;
                        }
                        got += (size_t)n;
                }
                close(fd);
                break;
        }
        case KILN_DATA_SPOOL:
                for (size_t i = 0; i < inode->n_segs && r >= 0; i++) {
                        const struct kiln_segment *sg = &inode->segs[i];
                        uint64_t n = MIN(sg->len, inode->size - MIN(sg->off, inode->size));
                        if (sg->src_off + n <= t->spool_mem_len) {
                                memcpy(buf + sg->off, t->spool_mem + sg->src_off, (size_t)n);
                        } else if (pread(t->spool_fd, buf + sg->off, (size_t)n,
                                         (off_t)(sg->src_off - t->spool_mem_cap)) != (ssize_t)n) {
                                r = kiln_errorf(-EIO, "cannot read the spool");
                        }
                }
                break;
        }
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        *ret_len = len;
        return 0;
}

int kiln_tree_put_file(struct kiln_tree *t, const char *path, mode_t mode, const void *data, size_t len,
                       struct timespec when, struct kiln_inode **ret)
{
        struct kiln_inode *in = kiln_tree_new_inode(t);
        int r;

        if (!in)
                return -ENOMEM;
        in->mode = S_IFREG | (mode & 07777);
        in->atime = in->mtime = in->ctime = when;
        in->size = len;
        if (len) {
                in->mem = malloc(len);
                if (!in->mem)
                        return -ENOMEM;
                memcpy(in->mem, data, len);
                in->data = KILN_DATA_MEM;
                in->alloc_bytes = ROUND_UP((uint64_t)len, 4096);
        }
        r = kiln_tree_add(t, path, in, NULL);
        if (r < 0)
                return r;
        if (ret)
                *ret = in;
        return 0;
}

static int follow(struct kiln_tree *t, struct kiln_dentry *start, const char *path, int depth, struct kiln_dentry **ret)
{
        struct kiln_dentry *cur = path[0] == '/' ? t->root : start;
        const char *p = path, *comp;
        size_t len;

        if (depth > 40)
                return -ELOOP;
        while ((len = next_component(&p, &comp)) > 0) {
                char name[256];
                if (len > 255)
                        return -ENAMETOOLONG;
                if (len == 2 && comp[0] == '.' && comp[1] == '.') {
                        cur = cur->parent ? cur->parent : cur;
                        continue;
                }
                if (!S_ISDIR(cur->inode->mode))
                        return -ENOTDIR;
                memcpy(name, comp, len);
                name[len] = 0;
                struct kiln_dentry *d = kiln_tree_child(t, cur, name);
                if (!d)
                        return -ENOENT;
                if (S_ISLNK(d->inode->mode)) {
                        int r = follow(t, cur, d->inode->symlink, depth + 1, &d);
                        if (r < 0)
                                return r;
                }
                cur = d;
        }
        *ret = cur;
        return 0;
}

int kiln_tree_lookup_follow(struct kiln_tree *t, const char *path, struct kiln_dentry **ret)
{
        return follow(t, t->root, path, 0, ret);
}
