/* SPDX-License-Identifier: MIT */
/* write_files, as cloud-init's write_files and write_files_deferred modules. */
#include "apply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rootio.h"
#include "util.h"

/* "user", "user:group" (cloud-init's default "root:root") -> IDs from the root. */
static int resolve_owner(const struct kiln_apply_ctx *ctx, const char *owner, unsigned *ret_uid, unsigned *ret_gid)
{
        _cleanup_free_ char *user = NULL;
        const char *colon, *group;
        unsigned uid, gid;
        int r;

        if (!owner || !*owner)
                owner = "root:root";
        colon = strchr(owner, ':');
        user = colon ? strndup(owner, (size_t)(colon - owner)) : strdup(owner);
        if (!user)
                return -ENOMEM;
        group = colon ? colon + 1 : NULL;
        if (!*user) {
                uid = KEEP_ID;
                gid = KEEP_ID;
        } else {
                r = kiln_root_getpwnam(ctx->rootfd, user, &uid, &gid, NULL);
                if (r < 0)
                        return r;
                /* chownbyname(path, user, None) leaves the group as it is: root's here. */
                gid = 0;
        }
        if (group && *group) {
                r = kiln_root_getgrnam(ctx->rootfd, group, &gid);
                if (r < 0)
                        return r;
        }
        if (uid == KEEP_ID)
                uid = 0;
        if (gid == KEEP_ID)
                gid = 0;
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

/*
 * Whether owner ("user[:group]") names a user or a group that the root lacks
 * now and that the users module, run on cc, makes: the file is then written
 * owned by root and given its owner once that module has run.  (cloud-init
 * runs write_files before users_groups and fails such a file.)
 */
static bool owner_after_users(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, const char *owner)
{
        _cleanup_free_ char *user = NULL;
        const char *colon, *group;
        unsigned id;
        bool later = false;

        if (!owner || !*owner)
                return false;
        colon = strchr(owner, ':');
        user = colon ? strndup(owner, (size_t)(colon - owner)) : strdup(owner);
        if (!user)
                return false;
        group = colon ? colon + 1 : NULL;
        if (*user && kiln_root_getpwnam(ctx->rootfd, user, &id, &id, NULL) < 0) {
                if (!kiln_cc_creates_user(cc, user))
                        return false;
                later = true;
        }
        if (group && *group && kiln_root_getgrnam(ctx->rootfd, group, &id) < 0) {
                if (!kiln_cc_creates_group(cc, group))
                        return false;
                later = true;
        }
        kiln_clear_error();
        return later;
}

/* as_root: owned by root for now, the owner comes after the users module. */
static int write_one(const struct kiln_apply_ctx *ctx, const struct kiln_cc_file *f, bool as_root)
{
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int dirfd = -1, fd = -1;
        mode_t mode = f->permissions >= 0 ? (mode_t)f->permissions & 07777 : 0644;
        unsigned uid, gid;
        const char *path = f->path;
        int r;

        if (!path || !*path)
                return kiln_errorf(-EINVAL, "write_files: an entry has no path");
        if (strpbrk(path, "\n\r"))
                return kiln_errorf(-EINVAL, "write_files: path '%.64s' holds a line break", path);
        if (as_root) {
                uid = 0;
                gid = 0;
        } else {
                r = resolve_owner(ctx, f->owner, &uid, &gid);
                if (r < 0)
                        return kiln_error_prefix(r, "write_files: '%s': owner '%s'", path,
                                                 f->owner ? f->owner : "root:root");
        }
        dirfd = root_open_parent(ctx->rootfd, path, true, &base);
        if (dirfd < 0)
                return kiln_error_prefix(dirfd, "write_files: '%s'", path);
        if (!f->append) {
                r = dir_write_file(dirfd, base, path, f->content ? f->content : (const uint8_t *)"", f->len, mode, uid,
                                   gid, 0);
                if (r < 0)
                        return kiln_error_prefix(r, "write_files");
        } else {
                /* Resolved inside the root, a symlink at the end is followed there. */
                fd = root_open(ctx->rootfd, path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY, mode);
                if (fd < 0)
                        return kiln_errorf(fd, "write_files: cannot open '%s' to append: %s", path, strerror(-fd));
                struct stat st;
                if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                        return kiln_errorf(-EINVAL, "write_files: '%s' is not a regular file", path);
                r = write_full(fd, f->content, f->len);
                if (r < 0)
                        return kiln_errorf(r, "write_files: cannot append to '%s': %s", path, strerror(-r));
                r = fchown_maybe(fd, uid, gid);
                if (r < 0 || fchmod(fd, mode) < 0)
                        return kiln_errorf(r < 0 ? r : -errno, "write_files: cannot finish '%s': %s", path,
                                           strerror(r < 0 ? -r : errno));
        }
        apply_log(ctx, "write_files: %s %s (%zu bytes, %04o, %u:%u%s%s%s)", f->append ? "appended to" : "wrote", path,
                  f->len, (unsigned)mode, uid, gid, as_root ? "; owner " : "", as_root ? f->owner : "",
                  as_root ? " after the users module" : "");
        return 0;
}

/* later: NULL, or where to mark the entries written as root for now. */
static int write_files(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, bool deferred, bool *later)
{
        char first_msg[512] = "";
        int first = 0;

        for (size_t i = 0; i < cc->n_write_files; i++) {
                const struct kiln_cc_file *f = &cc->write_files[i];
                bool as_root;
                int r;

                if (f->defer != deferred)
                        continue;
                as_root = later && owner_after_users(ctx, cc, f->owner);
                r = write_one(ctx, f, as_root);
                if (r >= 0 && as_root)
                        later[i] = true;
                if (r < 0) {
                        apply_log(ctx, "%s", kiln_last_error());
                        if (!first) {
                                first = r;
                                snprintf(first_msg, sizeof(first_msg), "%s", kiln_last_error());
                        }
                }
        }
        if (first)
                kiln_errorf(first, "%s", first_msg);
        return first;
}

int kiln_apply_write_files(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, bool deferred)
{
        return write_files(ctx, cc, deferred, NULL);
}

int kiln_apply_write_files_first(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, bool **ret_later)
{
        _cleanup_free_ bool *later = calloc(cc->n_write_files + 1, sizeof(*later));
        bool any = false;
        int r;

        if (!later)
                return -ENOMEM;
        r = write_files(ctx, cc, false, later);
        for (size_t i = 0; i < cc->n_write_files; i++)
                any |= later[i];
        *ret_later = any ? TAKE_PTR(later) : NULL;
        return r;
}

int kiln_apply_write_files_owners(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                                  const bool *later)
{
        char first_msg[512] = "";
        int first = 0;

        for (size_t i = 0; later && i < cc->n_write_files; i++) {
                const struct kiln_cc_file *f = &cc->write_files[i];
                mode_t mode = f->permissions >= 0 ? (mode_t)f->permissions & 07777 : 0644;
                _cleanup_close_ int fd = -1;
                unsigned uid, gid;
                struct stat st;
                int r;

                if (!later[i])
                        continue;
                r = resolve_owner(ctx, f->owner, &uid, &gid);
                if (r < 0) {
                        r = kiln_error_prefix(r, "write_files: %s: owner '%s' still unknown after the users module, the "
                                              "file stays owned by root", f->path, f->owner);
                } else if ((fd = root_open(ctx->rootfd, f->path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0)) < 0) {
                        r = kiln_errorf(fd, "write_files: %s: cannot open it to set its owner: %s", f->path,
                                        strerror(-fd));
                } else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                        r = kiln_errorf(-EINVAL, "write_files: %s: not a regular file any more; owner not set", f->path);
                } else if ((r = fchown_maybe(fd, uid, gid)) < 0 || fchmod(fd, mode) < 0) {
                        /* chown(2) clears the set-ID bits: the mode again. */
                        r = r < 0 ? r : -errno;
                        r = kiln_errorf(r, "write_files: %s: cannot set its owner %u:%u: %s", f->path, uid, gid,
                                        strerror(-r));
                } else {
                        apply_log(ctx, "write_files: %s: owner %s applied after the users module (%u:%u)", f->path,
                                  f->owner, uid, gid);
                        continue;
                }
                apply_log(ctx, "%s", kiln_last_error());
                if (!first) {
                        first = r;
                        snprintf(first_msg, sizeof(first_msg), "%s", kiln_last_error());
                }
        }
        if (first)
                kiln_errorf(first, "%s", first_msg);
        return first;
}
