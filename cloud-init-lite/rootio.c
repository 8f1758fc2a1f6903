/* SPDX-License-Identifier: MIT */
/* Files inside a root folder, never followed out of it; see rootio.h. */
#include "rootio.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "instance.h"
#include "util.h"

static bool have_openat2 = true;

/* Without openat2: one component at a time, refusing every symlink and "..". */
static int walk_open(int rootfd, const char *path, int flags, mode_t mode)
{
        _cleanup_free_ char *copy = strdup(path);
        int fd, next;
        char *save = NULL, *comp, *following;

        if (!copy)
                return -ENOMEM;
        fd = dup(rootfd);
        if (fd < 0)
                return -errno;
        comp = strtok_r(copy, "/", &save);
        if (!comp) {
                close(fd);
                fd = openat(rootfd, ".", (flags & ~(O_CREAT | O_EXCL)) | O_CLOEXEC, mode);
                return fd < 0 ? -errno : fd;
        }
        for (;;) {
                following = strtok_r(NULL, "/", &save);
                if (!strcmp(comp, "..")) {
                        close(fd);
                        return -EXDEV;
                }
                if (following)
                        next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                else
                        next = openat(fd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                int saved = errno;
                close(fd);
                if (next < 0)
                        return -saved;
                fd = next;
                if (!following)
                        return fd;
                comp = following;
        }
}

int root_open(int rootfd, const char *path, int flags, mode_t mode)
{
        while (*path == '/')
                path++;
        if (!*path)
                path = ".";
        if (have_openat2) {
                struct open_how how = {
                        .flags = (uint64_t)(flags | O_CLOEXEC),
                        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
                };
                long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int)fd;
                if (errno != ENOSYS)
                        return -errno;
                have_openat2 = false;
        }
        return walk_open(rootfd, path, flags, mode);
}

int root_mkdir_p(int rootfd, const char *path, mode_t mode)
{
        _cleanup_free_ char *copy = NULL;
        char *p;
        int fd;

        while (*path == '/')
                path++;
        fd = root_open(rootfd, path, O_RDONLY | O_DIRECTORY, 0);
        if (fd >= 0 || fd != -ENOENT)
                return fd >= 0 ? fd : kiln_errorf(fd, "cannot open folder '/%s': %s", path, strerror(-fd));
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        /* Each prefix in turn: open it, or make it in its (resolved) parent. */
        p = copy;
        for (;;) {
                char *slash = strchr(p, '/');
                if (slash)
                        *slash = 0;
                if (*p) {
                        fd = root_open(rootfd, copy, O_RDONLY | O_DIRECTORY, 0);
                        if (fd == -ENOENT) {
                                char *last = strrchr(copy, '/');
                                int parent;
                                if (last) {
                                        *last = 0;
                                        parent = root_open(rootfd, copy, O_RDONLY | O_DIRECTORY, 0);
                                        *last = '/';
                                } else {
                                        parent = dup(rootfd);
                                        if (parent < 0)
                                                parent = -errno;
                                }
                                if (parent < 0)
                                        return kiln_errorf(parent, "cannot open folder '/%s': %s", copy,
                                                           strerror(-parent));
                                const char *name = last ? last + 1 : copy;
                                if (mkdirat(parent, name, mode) < 0 && errno != EEXIST) {
                                        int e = -errno;
                                        close(parent);
                                        return kiln_errorf(e, "cannot make folder '/%s': %s", copy, strerror(-e));
                                }
                                close(parent);
                                fd = root_open(rootfd, copy, O_RDONLY | O_DIRECTORY, 0);
                        }
                        if (fd < 0)
                                return kiln_errorf(fd, "cannot open folder '/%s': %s", copy, strerror(-fd));
                        if (!slash)
                                return fd;
                        close(fd);
                }
                if (!slash)
                        return kiln_errorf(-EINVAL, "empty folder name");
                *slash = '/';
                p = slash + 1;
        }
}

int root_open_parent(int rootfd, const char *path, bool mkdirs, char **ret_base)
{
        _cleanup_free_ char *copy = NULL;
        char *slash;
        int fd;

        while (*path == '/')
                path++;
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        /* No trailing slashes: the last component is a file name. */
        for (size_t n = strlen(copy); n > 0 && copy[n - 1] == '/'; n--)
                copy[n - 1] = 0;
        slash = strrchr(copy, '/');
        const char *base = slash ? slash + 1 : copy;
        if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
                return kiln_errorf(-EINVAL, "'/%s' is not a file name", path);
        if (slash) {
                *slash = 0;
                fd = mkdirs ? root_mkdir_p(rootfd, copy, 0755) : root_open(rootfd, copy, O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0 && !mkdirs)
                        return kiln_errorf(fd, "cannot open folder '/%s': %s", copy, strerror(-fd));
        } else {
                fd = root_open(rootfd, ".", O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0)
                        return kiln_errorf(fd, "cannot open the root: %s", strerror(-fd));
        }
        if (fd < 0)
                return fd;
        *ret_base = strdup(base);
        if (!*ret_base) {
                close(fd);
                return -ENOMEM;
        }
        return fd;
}

int root_read_file(int rootfd, const char *path, char **ret, size_t *ret_len, struct stat *ret_st)
{
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t len = 0;

        while (*path == '/')
                path++;
        fd = root_open(rootfd, path, O_RDONLY | O_NOCTTY, 0);
        if (fd == -ENOENT)
                return -ENOENT;
        if (fd < 0)
                return kiln_errorf(fd, "cannot open '/%s': %s", path, strerror(-fd));
        if (fstat(fd, &st) < 0)
                return kiln_errorf(-errno, "cannot stat '/%s': %m", path);
        if (!S_ISREG(st.st_mode))
                return kiln_errorf(-EINVAL, "'/%s' is not a regular file", path);
        int r = read_full_fd(fd, ROOT_FILE_MAX, &buf, &len);
        if (r == -EFBIG)
                return kiln_errorf(r, "'/%s' is larger than %u bytes", path, ROOT_FILE_MAX);
        if (r < 0)
                return kiln_errorf(r, "cannot read '/%s': %s", path, strerror(-r));
        if (ret_st)
                *ret_st = st;
        if (ret_len)
                *ret_len = len;
        *ret = (char *)TAKE_PTR(buf);
        return 0;
}

int fchown_maybe(int fd, unsigned uid, unsigned gid)
{
        if (uid == KEEP_ID && gid == KEEP_ID)
                return 0;
        if (fchown(fd, uid, gid) == 0)
                return 0;
        if (errno == EPERM && geteuid() != 0)
                return 0;
        return -errno;
}

int dir_write_file(int dirfd, const char *name, const char *what, const void *data, size_t len,
                   mode_t mode, unsigned uid, unsigned gid, unsigned flags)
{
        char tmp[300];
        uint8_t rnd[6];
        struct stat st;
        int fd = -1, r;

        if (strlen(name) > 200 || strchr(name, '/'))
                return kiln_errorf(-EINVAL, "'%s': bad file name", what);
        if ((flags & WRITE_KEEP_ATTRS) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode)) {
                mode = st.st_mode & 07777;
                uid = st.st_uid;
                gid = st.st_gid;
        }
        for (int tries = 0; fd < 0; tries++) {
                /* A unique name, not a secret: never wait for the kernel's
                 * entropy (about a second this early in a first boot). */
                if (getrandom(rnd, sizeof(rnd), GRND_INSECURE) != (ssize_t)sizeof(rnd) &&
                    getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
                        memset(rnd, tries, sizeof(rnd));
                snprintf(tmp, sizeof(tmp), ".%s.kiln-%02x%02x%02x%02x%02x%02x", name, rnd[0], rnd[1], rnd[2],
                         rnd[3], rnd[4], rnd[5]);
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && (errno != EEXIST || tries > 8))
                        return kiln_errorf(-errno, "cannot create a temporary file for '%s': %m", what);
        }
        r = write_full(fd, data, len);
        if (r < 0) {
                kiln_errorf(r, "cannot write '%s': %s", what, strerror(-r));
                goto fail;
        }
        r = fchown_maybe(fd, uid, gid);
        if (r < 0) {
                kiln_errorf(r, "cannot set the owner of '%s' to %u:%u: %s", what, uid, gid, strerror(-r));
                goto fail;
        }
        /* No fsync per file: under emulation each one is a host flush and
         * first boot writes dozens; the caller syncs the file system once
         * before it records the work as done (rootio.h). */
        if (fchmod(fd, mode & 07777) < 0) {
                r = kiln_errorf(-errno, "cannot write '%s': %m", what);
                goto fail;
        }
        if (close(fd) < 0) {
                fd = -1;
                r = kiln_errorf(-errno, "cannot write '%s': %m", what);
                goto fail;
        }
        fd = -1;
        if (renameat(dirfd, tmp, dirfd, name) < 0) {
                r = kiln_errorf(-errno, "cannot rename into '%s': %m", what);
                goto fail;
        }
        return 0;
fail:
        if (fd >= 0)
                close(fd);
        unlinkat(dirfd, tmp, 0);
        return r;
}

int root_write_file(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
                    unsigned uid, unsigned gid, unsigned flags)
{
        _cleanup_free_ char *base = NULL, *what = NULL;
        _cleanup_close_ int dirfd = -1;

        while (*path == '/')
                path++;
        dirfd = root_open_parent(rootfd, path, flags & WRITE_MKDIRS, &base);
        if (dirfd < 0)
                return dirfd;
        if (asprintf(&what, "/%s", path) < 0)
                return -ENOMEM;
        return dir_write_file(dirfd, base, what, data, len, mode, uid, gid, flags);
}

/* ---- lines ----------------------------------------------------------------- */

void lines_free(struct lines *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (struct lines){ 0 };
}

int lines_insert(struct lines *l, size_t at, const char *s)
{
        char *copy;

        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 16;
                char **v = realloc(l->v, cap * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        if (at > l->n)
                at = l->n;
        memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof(*l->v));
        l->v[at] = copy;
        l->n++;
        return 0;
}

int lines_push(struct lines *l, const char *s) { return lines_insert(l, l->n, s); }

int lines_pushf(struct lines *l, const char *fmt, ...)
{
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return lines_push(l, s);
}

void lines_remove(struct lines *l, size_t at)
{
        if (at >= l->n)
                return;
        free(l->v[at]);
        memmove(l->v + at, l->v + at + 1, (l->n - at - 1) * sizeof(*l->v));
        l->n--;
}

int lines_split(struct lines *l, const char *buf, size_t len)
{
        size_t start = 0;

        for (size_t i = 0; i <= len; i++) {
                if (i < len && buf[i] != '\n')
                        continue;
                if (i == len && start == len)
                        break;
                _cleanup_free_ char *s = strndup(buf + start, i - start);
                if (!s || lines_push(l, s) < 0)
                        return -ENOMEM;
                start = i + 1;
        }
        return 0;
}

char *lines_join(const struct lines *l, size_t *ret_len)
{
        size_t len = 0, at = 0;
        char *out;

        for (size_t i = 0; i < l->n; i++)
                len += strlen(l->v[i]) + 1;
        out = malloc(len + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < l->n; i++) {
                size_t n = strlen(l->v[i]);
                memcpy(out + at, l->v[i], n);
                out[at + n] = '\n';
                at += n + 1;
        }
        out[at] = 0;
        if (ret_len)
                *ret_len = at;
        return out;
}

void apply_log(const struct kiln_apply_ctx *ctx, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        if (!ctx->log)
                return;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        for (char *p = line; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        ctx->log(ctx->log_ud, "%s", line);
}

int instance_dir(const struct kiln_apply_ctx *ctx, char **ret)
{
        const char *id = ctx->instance ? ctx->instance->instance_id : NULL;
        char name[KILN_INSTANCE_DIR_NAME_MAX + 1];
        int r;

        if (!id || !*id)
                return kiln_errorf(-EINVAL, "no instance id");
        r = kiln_instance_dir_name(id, name);
        if (r < 0)
                return r;
        if (asprintf(ret, "var/lib/kiln/instances/%s", name) < 0)
                return -ENOMEM;
        return 0;
}
