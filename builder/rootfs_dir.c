/* SPDX-License-Identifier: MIT */
/* Reads a rootfs folder into the tree: lstat-based, never follows symlinks,
 * sorted, with xattrs; file data is read later, by path beneath the folder,
 * checked to be the file seen here (kiln_tree_open_source). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tree.h"
#include "util.h"

struct hardlink {
        dev_t dev;
        ino_t ino;
        struct kiln_inode *inode;
};

struct walker {
        struct kiln_tree *t;
        char path[PATH_MAX]; /* root + "/" + relative path */
        size_t root_len;
        struct hardlink *links;
        size_t n_links, cap_links;
};

static struct kiln_inode *find_link(struct walker *w, dev_t dev, ino_t ino)
{
        if (!w->cap_links)
                return NULL;
        size_t mask = w->cap_links - 1;
        for (size_t i = (size_t)(ino * 0x9E3779B97F4A7C15ULL ^ dev) & mask; w->links[i].inode; i = (i + 1) & mask)
                if (w->links[i].dev == dev && w->links[i].ino == ino)
                        return w->links[i].inode;
        return NULL;
}

static int remember_link(struct walker *w, dev_t dev, ino_t ino, struct kiln_inode *inode)
{
        if ((w->n_links + 1) * 2 > w->cap_links) {
                size_t cap = w->cap_links ? w->cap_links * 2 : 256;
                struct hardlink *n = calloc(cap, sizeof(*n)), *old = w->links;
                size_t oldcap = w->cap_links;
                if (!n)
                        return -ENOMEM;
                w->links = n;
                w->cap_links = cap;
                w->n_links = 0;
                for (size_t i = 0; i < oldcap; i++)
                        if (old[i].inode)
                                remember_link(w, old[i].dev, old[i].ino, old[i].inode);
                free(old);
        }
        size_t mask = w->cap_links - 1;
        size_t i = (size_t)(ino * 0x9E3779B97F4A7C15ULL ^ dev) & mask;
        while (w->links[i].inode)
                i = (i + 1) & mask;
        w->links[i] = (struct hardlink){ dev, ino, inode };
        w->n_links++;
        return 0;
}

/*
 * The xattrs of name in the folder dirfd (or of that folder, name NULL).
 * By path, since a symlink has no descriptor to read them through; the
 * path goes through the folder's descriptor (/proc/self/fd/N/NAME), so a
 * folder on the way swapped for a symlink meanwhile cannot lead elsewhere.
 * Without /proc, the walk's path (w->path) is used.
 */
static int read_xattrs(struct walker *w, int dirfd, const char *name, struct kiln_inode *inode)
{
        static int have_proc = -1;
        char list[65536], via[64 + NAME_MAX];
        const char *path = w->path;

        if (have_proc < 0)
                have_proc = access("/proc/self/fd", F_OK) == 0;
        if (have_proc && name && snprintf(via, sizeof(via), "/proc/self/fd/%d/%s", dirfd, name) < (int)sizeof(via))
                path = via;
        ssize_t n = name ? llistxattr(path, list, sizeof(list)) : flistxattr(dirfd, list, sizeof(list));

        if (n < 0) {
                if (errno == ENOTSUP)
                        return 0;
                return kiln_errorf(-errno, "cannot list xattrs of '%s': %m", w->path);
        }
        for (char *x = list; x < list + n; x += strlen(x) + 1) {
                char value[65536];
                ssize_t len = name ? lgetxattr(path, x, value, sizeof(value)) : fgetxattr(dirfd, x, value, sizeof(value));
                if (len < 0) {
                        if (errno == ENODATA)
                                continue;
                        return kiln_errorf(-errno, "cannot read xattr '%s' of '%s': %m", x, w->path);
                }
                int r = kiln_inode_set_xattr(inode, x, value, (size_t)len);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int fill_inode(struct walker *w, int dirfd, const char *name, const struct stat *st,
                      struct kiln_inode *inode)
{
        inode->mode = st->st_mode;
        inode->uid = st->st_uid;
        inode->gid = st->st_gid;
        inode->atime = st->st_atim;
        inode->mtime = st->st_mtim;
        inode->ctime = st->st_ctim;
        if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
                inode->rdev = st->st_rdev;
        if (S_ISLNK(st->st_mode)) {
                char target[PATH_MAX + 1];
                ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);
                if (n < 0)
                        return kiln_errorf(-errno, "cannot read symlink '%s': %m", w->path);
                target[n] = 0;
                inode->symlink = strdup(target);
                if (!inode->symlink)
                        return -ENOMEM;
                inode->size = (uint64_t)n;
        }
        if (S_ISREG(st->st_mode)) {
                inode->size = (uint64_t)st->st_size;
                if (st->st_size > 0) {
                        inode->data = KILN_DATA_PATH;
                        inode->src_dev = st->st_dev;
                        inode->src_ino = st->st_ino;
                        inode->src_path = strdup(w->path + w->root_len + 1);
                        if (!inode->src_path)
                                return -ENOMEM;
                        /* Holes are found when the data is copied; for sizing,
                         * what the source occupies is a close upper bound. */
                        inode->alloc_bytes = MIN((uint64_t)st->st_blocks * 512,
                                                 ROUND_UP((uint64_t)st->st_size, 4096));
                }
        }
        return read_xattrs(w, dirfd, name, inode);
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walker *w, int dirfd, struct kiln_dentry *dir)
{
        DIR *dh = fdopendir(dirfd);
        char **names = NULL;
        size_t n = 0, cap = 0;
        size_t base = strlen(w->path);
        int r = 0;

        if (!dh) {
                r = kiln_errorf(-errno, "cannot open folder '%s': %m", w->path);
                close(dirfd);
                return r;
        }
        for (struct dirent *de; (errno = 0, de = readdir(dh));) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (n == cap) {
                        cap = cap ? cap * 2 : 64;
                        char **nn = realloc(names, cap * sizeof(*nn));
                        if (!nn) {
                                r = -ENOMEM;
                                goto out;
                        }
                        names = nn;
                }
                names[n] = strdup(de->d_name);
                if (!names[n]) {
                        r = -ENOMEM;
                        goto out;
                }
                n++;
        }
        if (errno) {
                r = kiln_errorf(-errno, "cannot read folder '%s': %m", w->path);
                goto out;
        }
        if (n > 1)
                qsort(names, n, sizeof(*names), cmp_names);

        for (size_t i = 0; i < n && r >= 0; i++) {
                struct stat st;
                struct kiln_dentry *d;
                struct kiln_inode *inode;
                size_t nl = strlen(names[i]);

                if (base + 1 + nl >= sizeof(w->path)) {
                        r = kiln_errorf(-ENAMETOOLONG, "path too long under '%s'", w->path);
                        break;
                }
                w->path[base] = '/';
                memcpy(w->path + base + 1, names[i], nl + 1);
                if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = kiln_errorf(-errno, "cannot stat '%s': %m", w->path);
                        break;
                }
                inode = !S_ISDIR(st.st_mode) && st.st_nlink > 1 ? find_link(w, st.st_dev, st.st_ino) : NULL;
                if (!inode) {
                        inode = kiln_tree_new_inode(w->t);
                        if (!inode) {
                                r = -ENOMEM;
                                break;
                        }
                        r = fill_inode(w, dirfd, names[i], &st, inode);
                        if (r >= 0 && !S_ISDIR(st.st_mode) && st.st_nlink > 1)
                                r = remember_link(w, st.st_dev, st.st_ino, inode);
                        if (r < 0)
                                break;
                }
                r = kiln_tree_add_child(w->t, dir, names[i], inode, &d);
                if (r < 0)
                        break;
                if (S_ISDIR(st.st_mode)) {
                        /* O_NOATIME: reading a rootfs must not change it. */
                        int fd = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
                        if (fd < 0 && errno == EPERM)
                                fd = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (fd < 0) {
                                r = kiln_errorf(-errno, "cannot open folder '%s': %m", w->path);
                                break;
                        }
                        r = walk_dir(w, fd, d);
                }
        }
        w->path[base] = 0;
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(dh);
        return r;
}

/*
 * Tests only: with KILN_TEST_PAUSE_AFTER_WALK=FLAG, once the walk is done
 * (the tree holds what it saw, no file data read yet) kiln creates FLAG and
 * waits, up to a minute, until it is removed: a test changes the rootfs in
 * between, with no race, to check that the reads find what the walk saw.
 */
static void test_pause_after_walk(void)
{
        const char *flag = getenv("KILN_TEST_PAUSE_AFTER_WALK");
        int fd;

        if (!flag || !*flag)
                return;
        fd = open(flag, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        close(fd);
        for (int i = 0; i < 6000 && access(flag, F_OK) == 0; i++)
                usleep(10000);
}

int kiln_rootfs_read_dir(struct kiln_tree *t, const char *path)
{
        struct walker w = { .t = t };
        struct stat st;
        int fd, r;

        if (strlen(path) >= sizeof(w.path) - 2)
                return kiln_errorf(-ENAMETOOLONG, "rootfs path too long");
        strcpy(w.path, path);
        w.root_len = strlen(w.path);
        while (w.root_len > 1 && w.path[w.root_len - 1] == '/')
                w.path[--w.root_len] = 0;
        fd = open(w.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOATIME);
        if (fd < 0 && errno == EPERM)
                fd = open(w.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return kiln_errorf(-errno, "%m");
        if (fstat(fd, &st) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        t->root->inode->mode = st.st_mode;
        t->root->inode->uid = st.st_uid;
        t->root->inode->gid = st.st_gid;
        t->root->inode->atime = st.st_atim;
        t->root->inode->mtime = st.st_mtim;
        t->root->inode->ctime = st.st_ctim;
        r = read_xattrs(&w, fd, NULL, t->root->inode);
        if (r < 0) {
                close(fd);
                return r;
        }
        t->src_root = strdup(w.path);
        t->src_dirfd = dup(fd);
        if (t->src_dirfd < 0) {
                close(fd);
                return -errno;
        }
        r = walk_dir(&w, fd, t->root);
        free(w.links);
        if (r >= 0)
                test_pause_after_walk();
        return r;
}
