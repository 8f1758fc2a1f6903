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

static int write_one(const struct kiln_apply_ctx *ctx, const struct kiln_cc_file *f)
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
        r = resolve_owner(ctx, f->owner, &uid, &gid);
        if (r < 0)
                return kiln_error_prefix(r, "write_files: '%s': owner '%s'", path, f->owner ? f->owner : "root:root");
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
        apply_log(ctx, "write_files: %s %s (%zu bytes, %04o, %u:%u)", f->append ? "appended to" : "wrote", path, f->len,
                  (unsigned)mode, uid, gid);
        return 0;
}

int kiln_apply_write_files(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, bool deferred)
{
        char first_msg[512] = "";
        int first = 0;

        for (size_t i = 0; i < cc->n_write_files; i++) {
                const struct kiln_cc_file *f = &cc->write_files[i];
                int r;

                if (f->defer != deferred)
                        continue;
                r = write_one(ctx, f);
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
