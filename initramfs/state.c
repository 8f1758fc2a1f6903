/* SPDX-License-Identifier: MIT */
/* kiln-init's state files, all or nothing; see state.h. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* A state file is a line or nothing; what is larger cannot be put back. */
#define STATE_MAX 65536

static enum kiln_state_step fail_step;
static int fail_err;

void kiln_state_test_fail(enum kiln_state_step step, int err)
{
        fail_step = step;
        fail_err = err;
}

/* Whether the test asked this step to fail; then errno is set, once. */
static bool injected(enum kiln_state_step step)
{
        if (fail_step == KILN_STATE_FAIL_NONE || fail_step != step)
                return false;
        fail_step = KILN_STATE_FAIL_NONE;
        errno = fail_err;
        return true;
}

static int sync_folder(const char *path)
{
        _cleanup_free_ char *folder = strdup(path);
        char *slash;
        int fd, r = 0;

        if (!folder)
                return -ENOMEM;
        slash = strrchr(folder, '/');
        if (!slash)
                strcpy(folder, ".");
        else if (slash == folder)
                folder[1] = 0;
        else
                *slash = 0;
        if (injected(KILN_STATE_FAIL_SYNC_DIR))
                return -errno;
        fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* The bytes of tmp, renamed over path; no fsync (a best effort). */
static void put_back(const char *path, const char *tmp, int had, const void *old, size_t old_len)
{
        int fd;

        if (had == -ENOENT) {
                unlink(path);
                return;
        }
        if (had < 0)
                return;
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return;
        bool good = write_full(fd, old, old_len) >= 0;
        if (close(fd) < 0)
                good = false;
        if (!good || rename(tmp, path) < 0)
                unlink(tmp);
}

int kiln_state_write(const char *path, const void *data, size_t len)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_free_ uint8_t *old = NULL;
        size_t old_len = 0;
        int fd, r, had;

        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return kiln_errorf(-ENOMEM, "cannot write '%s': out of memory", path);
        /* What was there, to put back when the rename cannot be made durable. */
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                had = -errno;
        } else {
                had = read_full_fd(fd, STATE_MAX, &old, &old_len);
                close(fd);
        }

        /* A temporary left by a power cut (or planted: a symlink) is
         * removed, never followed or written through. */
        unlink(tmp);
        if (injected(KILN_STATE_FAIL_OPEN))
                fd = -1;
        else
                fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0) {
                r = -errno;
                return kiln_errorf(r, "cannot write '%s': %s", path, strerror(-r));
        }
        r = injected(KILN_STATE_FAIL_WRITE) ? -errno : write_full(fd, data, len);
        if (r >= 0 && (injected(KILN_STATE_FAIL_FSYNC) || fsync(fd) < 0))
                r = -errno;
        if (close(fd) < 0 && r >= 0)
                r = -errno;
        if (r >= 0 && injected(KILN_STATE_FAIL_CLOSE))
                r = -errno;
        if (r >= 0 && (injected(KILN_STATE_FAIL_RENAME) || rename(tmp, path) < 0))
                r = -errno;
        if (r < 0) {
                unlink(tmp);
                return kiln_errorf(r, "cannot write '%s': %s", path, strerror(-r));
        }
        /* The rename reaches the disk with its folder. */
        r = sync_folder(path);
        if (r < 0) {
                put_back(path, tmp, had, old, old_len);
                return kiln_errorf(r, "cannot write '%s': syncing its folder: %s", path, strerror(-r));
        }
        return 0;
}

int kiln_state_mark_done(const char *dir, const char *task)
{
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s.done", dir, task) < 0)
                return kiln_errorf(-ENOMEM, "cannot mark %s done: out of memory", task);
        return kiln_state_write(path, "", 0);
}
