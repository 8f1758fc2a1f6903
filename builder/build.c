/* SPDX-License-Identifier: MIT */
#include "build.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "tree.h"
#include "util.h"

/* Auto-sized images get this much free space beyond the tree (or a tenth
 * of the tree, if more): enough to boot, log and install a package before
 * first boot grows the volume. */
#define AUTO_HEADROOM (UINT64_C(64) << 20)

struct progress_ctx {
        const struct kiln_build_opts *o;
};

static void ext4_progress(void *ud, uint64_t files, uint64_t bytes)
{
        const struct kiln_build_opts *o = ud;
        o->progress(o->progress_ud, "writing", files, bytes);
}

static int read_rootfs(struct kiln_tree *t, const char *rootfs, const char *spool_dir)
{
        struct stat st;
        int r;

        if (stat(rootfs, &st) < 0)
                return kiln_errorf(-errno, "cannot read rootfs '%s': %m", rootfs);
        if (S_ISDIR(st.st_mode))
                r = kiln_rootfs_read_dir(t, rootfs);
        else if (S_ISREG(st.st_mode))
                r = kiln_rootfs_read_tar(t, rootfs, spool_dir);
        else
                return kiln_errorf(-EINVAL, "cannot read rootfs '%s': not a folder or a tarball", rootfs);
        if (r < 0)
                return kiln_error_prefix(r, "cannot read rootfs '%s'", rootfs);
        return 0;
}

static int open_temp(const char *output, char **ret_path, int *ret_fd)
{
        _cleanup_free_ char *dup1 = strdup(output), *dup2 = strdup(output);
        char *path;
        int fd;

        if (!dup1 || !dup2)
                return -ENOMEM;
        if (asprintf(&path, "%s/.%s.kiln-XXXXXX", dirname(dup1), basename(dup2)) < 0)
                return -ENOMEM;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
                int r = kiln_errorf(-errno, "cannot create output '%s': %m", output);
                free(path);
                return r;
        }
        /* mkostemp makes 0600; an image is as readable as any new file. */
        mode_t um = umask(0);
        umask(um);
        fchmod(fd, 0666 & ~um);
        *ret_path = path;
        *ret_fd = fd;
        return 0;
}

static char *dir_of(const char *path)
{
        _cleanup_free_ char *d = strdup(path);
        return d ? strdup(dirname(d)) : NULL;
}

int kiln_build(const struct kiln_build_opts *o, struct kiln_build_result *ret)
{
        struct kiln_tree *t = NULL;
        struct kiln_disk *disk = NULL;
        struct kiln_build_result res = { 0 };
        _cleanup_free_ char *tmp = NULL, *outdir = NULL;
        _cleanup_close_ int fd = -1;
        time_t now = o->reproducible ? o->epoch : time(NULL);
        int r;

        if (o->ptable != KILN_PTABLE_NONE)
                return kiln_errorf(-EOPNOTSUPP, "partition table '%s' is not supported yet; use --partition-table none",
                                   kiln_ptable_to_string(o->ptable));
        if (o->size % 4096)
                return kiln_errorf(-EINVAL, "image size %llu is not a multiple of 4096 bytes",
                                   (unsigned long long)o->size);
        outdir = dir_of(o->output);
        if (!outdir)
                return -ENOMEM;
        struct stat st;
        if (stat(outdir, &st) < 0 || !S_ISDIR(st.st_mode))
                return kiln_errorf(-ENOENT, "cannot write output '%s': folder '%s' does not exist", o->output, outdir);

        r = kiln_tree_new(&t);
        if (r < 0)
                return r;
        t->default_time = (struct timespec){ now, 0 };
        if (o->progress)
                o->progress(o->progress_ud, "reading", 0, 0);
        r = read_rootfs(t, o->rootfs, outdir);
        if (r < 0)
                goto out;
        r = kiln_scrub(t, &o->scrub, &res.scrubbed);
        if (r < 0)
                goto out;
        if (o->reproducible)
                kiln_tree_clamp_times(t, o->epoch);
        kiln_tree_finalize(t);

        if (o->progress)
                o->progress(o->progress_ud, "sizing", t->n_inodes, t->data_bytes);
        uint64_t need;
        if (o->size) {
                r = kiln_ext4_min_size(t, 0, &need);
                if (r < 0)
                        goto out;
                if (need > o->size) {
                        char have_s[32], need_s[32];
                        format_size(o->size, have_s, sizeof(have_s));
                        format_size(need, need_s, sizeof(need_s));
                        r = kiln_errorf(-ENOSPC, "image too small: the tree needs at least %s (%llu bytes), size is %s",
                                        need_s, (unsigned long long)need, have_s);
                        goto out;
                }
                res.size = o->size;
        } else {
                r = kiln_ext4_min_size(t, MAX(AUTO_HEADROOM, t->data_bytes / 10), &res.size);
                if (r < 0)
                        goto out;
        }

        struct kiln_ext4_opts eo = { .label = o->label, .now = now };
        if (o->fs_uuid)
                memcpy(eo.uuid, o->fs_uuid, 16);
        else if (o->reproducible)
                derive_uuid(o->seed, o->seed_len, "ext4-uuid", eo.uuid);
        else
                random_uuid(eo.uuid);
        if (o->reproducible)
                derive_uuid(o->seed, o->seed_len, "ext4-hash-seed", eo.hash_seed);
        else
                random_uuid(eo.hash_seed);
        if (o->progress) {
                eo.progress = ext4_progress;
                eo.progress_ud = (void *)o;
        }

        r = open_temp(o->output, &tmp, &fd);
        if (r < 0)
                goto out;
        r = kiln_disk_new_file(fd, res.size, &disk);
        if (r < 0) {
                r = kiln_errorf(r, "cannot size output '%s': %s", o->output, strerror(-r));
                goto out;
        }
        if (o->fail_write) {
                struct kiln_disk *f;
                r = kiln_disk_new_fault(disk, o->fail_write, &f);
                if (r < 0)
                        goto out;
                disk = f;
        }
        r = kiln_ext4_write(disk, t, &eo, &res.fs);
        if (r < 0) {
                kiln_error_prefix(r, "cannot write '%s'", o->output);
                goto out;
        }
        if (o->progress)
                o->progress(o->progress_ud, "syncing", t->n_inodes, t->data_bytes);
        r = kiln_disk_flush(disk);
        if (r < 0) {
                r = kiln_errorf(r, "cannot write '%s': %s", o->output, strerror(-r));
                goto out;
        }
        if (rename(tmp, o->output) < 0) {
                r = kiln_errorf(-errno, "cannot rename into '%s': %m", o->output);
                goto out;
        }
        free(tmp);
        tmp = NULL;
        memcpy(res.fs_uuid, eo.uuid, 16);
        res.files = t->n_inodes;
        res.data_bytes = t->data_bytes;
        *ret = res;
        res.scrubbed = (struct kiln_scrub_report){ 0 };
out:
        if (tmp)
                unlink(tmp);
        kiln_disk_free(disk);
        kiln_tree_free(t);
        kiln_scrub_report_free(&res.scrubbed);
        return r;
}

void kiln_build_result_free(struct kiln_build_result *r)
{
        kiln_scrub_report_free(&r->scrubbed);
}
