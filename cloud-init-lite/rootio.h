/* SPDX-License-Identifier: MIT */
/*
 * Files inside a root given as a folder fd, for the first-boot modules
 * (apply.h): every path is resolved inside the root (openat2 with
 * RESOLVE_IN_ROOT, or a walk that refuses symlinks where openat2 is
 * missing), files are replaced through a temporary name and rename, so a
 * reader sees the old file or the new one.  Durability is the caller's: it
 * syncs the file system once (syncfs) before recording the work as done, as
 * kiln-init does before it commits the instance; a power cut before that
 * means the next boot applies everything again.
 * Paths may start with '/'; they are always taken relative to the root.
 * Messages name the path as seen inside the root ("/etc/passwd").
 */
#ifndef KILN_CLOUD_INIT_LITE_ROOTIO_H
#define KILN_CLOUD_INIT_LITE_ROOTIO_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "apply.h"

#define ROOT_FILE_MAX (16u << 20)
#define KEEP_ID ((unsigned)-1)

/* open(2) of path inside the root; returns the fd or -errno (no message). */
int root_open(int rootfd, const char *path, int flags, mode_t mode);

/* Make path and its missing parents (mode, owned by the caller); returns an
 * O_RDONLY|O_DIRECTORY fd of it or -errno with a message. */
int root_mkdir_p(int rootfd, const char *path, mode_t mode);

/* The parent folder of path (made with 0755 when mkdirs), as an fd, and the
 * last component in *ret_base (malloc'd).  -errno with a message. */
int root_open_parent(int rootfd, const char *path, bool mkdirs, char **ret_base);

/* Read a whole regular file (at most ROOT_FILE_MAX), NUL-terminated.
 * -ENOENT without a message when missing; ret_st may be NULL. */
int root_read_file(int rootfd, const char *path, char **ret, size_t *ret_len, struct stat *ret_st);

/* Replace a file through ".NAME.kiln-XXXXXX" in its folder: written, fchown'd
 * (uid/gid KEEP_ID: the caller's), fchmod'd, renamed (not fsync'd: see
 * above).  WRITE_KEEP_ATTRS takes mode and owner from the file replaced,
 * when there is one.  WRITE_MKDIRS makes missing parents 0755. */
enum { WRITE_KEEP_ATTRS = 1, WRITE_MKDIRS = 2 };
int root_write_file(int rootfd, const char *path, const void *data, size_t len, mode_t mode,
                    unsigned uid, unsigned gid, unsigned flags);
/* The same in an open folder; name is one component, what is used in messages. */
int dir_write_file(int dirfd, const char *name, const char *what, const void *data, size_t len,
                   mode_t mode, unsigned uid, unsigned gid, unsigned flags);

/* fchown that is not an error when not running as root (tests). */
int fchown_maybe(int fd, unsigned uid, unsigned gid);

/* Lines of a text file, without their newlines. */
struct lines {
        char **v;
        size_t n, cap;
};
void lines_free(struct lines *l);
int lines_push(struct lines *l, const char *s);
int lines_pushf(struct lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int lines_insert(struct lines *l, size_t at, const char *s);
void lines_remove(struct lines *l, size_t at);
int lines_split(struct lines *l, const char *buf, size_t len);
/* Every line followed by '\n'; malloc'd. */
char *lines_join(const struct lines *l, size_t *ret_len);

/* A line to ctx->log, when there is one. */
void apply_log(const struct kiln_apply_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* var/lib/kiln/instances/NAME for ctx->instance's id, NAME its
 * kiln_instance_dir_name() (instance.h); malloc'd.  -EINVAL with a
 * message when the id is not valid. */
int instance_dir(const struct kiln_apply_ctx *ctx, char **ret);

#endif
