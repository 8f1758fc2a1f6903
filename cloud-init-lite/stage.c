/* SPDX-License-Identifier: MIT */
/*
 * What cannot run in the initramfs: staged into the root by
 * kiln_stage_write() and kiln_stage_bootcmd(), run inside the booted system
 * by kiln_stage_run() ("kiln-init --stage boot|final").
 *
 * Layout, under var/lib/kiln/instances/NAME/ of the root (NAME: the
 * instance id's folder name, kiln_instance_dir_name()):
 *   scripts/part-NNN   user scripts run once per instance (0700), NNN = the
 *                      user-data part number
 *   scripts/runcmd     runcmd as a /bin/sh script (0700)
 *   scripts/STATUS     "NAME STATUS" per script run (the final stage writes it)
 *   scripts-per-boot/part-NNN  text/x-shellscript-per-boot: run at every boot
 *   scripts-per-once/part-NNN  text/x-shellscript-per-once: run once per disk
 *   boothooks/part-NNN cloud-boothooks (0700), run at every boot
 *   bootcmd            bootcmd (0700); run/kiln/bootcmd is this boot's copy
 *   deferred/index     deferred write_files: "NNN<TAB>MODE<TAB>APPEND<TAB>OWNER<TAB>PATH"
 *   deferred/NNN       their contents (0600)
 *   format             "DEVICE LABEL": instance-store devices to make ext4 if blank
 *                      (by kiln-init itself, mkfs.c)
 *   final.conf         key=value: datasource, final_message, power_*
 *   power-condition    power_state's condition as a /bin/sh script
 *   final.done         the final stage's once-per-instance part is done
 *   power.done         power_state was acted on
 * and outside it, for the life of the disk whatever the instance id (as
 * cloud-init keeps its per-once semaphores out of the instance's folder):
 *   var/lib/kiln/per-once/SHA256  a per-once script with that content ran
 *                                 ("NAME INSTANCE-ID"); it never runs again
 */
#include "apply.h"

#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mkfs.h"
#include "rootio.h"
#include "util.h"

#define PER_ONCE_DIR "var/lib/kiln/per-once"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

#define MAX_STAGED 4096

/* ---- shellify ------------------------------------------------------------------ */

char *kiln_shellify(const struct kiln_cc_command *cmds, size_t n)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        fputs("#!/bin/sh\n", f);
        for (size_t i = 0; i < n; i++) {
                if (cmds[i].argv) {
                        for (char **a = cmds[i].argv; *a; a++) {
                                fputs(a == cmds[i].argv ? "'" : " '", f);
                                for (const char *p = *a; *p; p++) {
                                        if (*p == '\'')
                                                fputs("'\\''", f);
                                        else
                                                fputc(*p, f);
                                }
                                fputc('\'', f);
                        }
                        fputc('\n', f);
                } else if (cmds[i].shell) {
                        fprintf(f, "%s\n", cmds[i].shell);
                }
        }
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* ---- staging ------------------------------------------------------------------- */

/* CRLF -> LF, as cloud-init's dos2unix. */
static char *dos2unix(const uint8_t *data, size_t len, size_t *ret_len)
{
        char *out = malloc(len + 1);
        size_t o = 0;

        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i++)
                if (!(data[i] == '\r' && i + 1 < len && data[i + 1] == '\n'))
                        out[o++] = (char)data[i];
        out[o] = 0;
        *ret_len = o;
        return out;
}

/* Every file in folder dir of the instance, except keep (may be NULL). */
static void clear_folder(int rootfd, const char *dir, const char *keep)
{
        int fd = root_open(rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
        struct lines names = { 0 };
        struct dirent *de;
        DIR *d;

        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d)))
                if (de->d_type != DT_DIR && (!keep || strcmp(de->d_name, keep)))
                        (void)lines_push(&names, de->d_name);
        for (size_t i = 0; i < names.n; i++)
                unlinkat(dirfd(d), names.v[i], 0);
        closedir(d);
        lines_free(&names);
}

static int stage_file(const struct kiln_apply_ctx *ctx, const char *idir, const char *name, const void *data,
                      size_t len, mode_t mode)
{
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/%s", idir, name) < 0)
                return -ENOMEM;
        return root_write_file(ctx->rootfd, path, data, len, mode, 0, 0, WRITE_MKDIRS);
}

static void remove_staged(const struct kiln_apply_ctx *ctx, const char *idir, const char *name)
{
        int fd = root_open(ctx->rootfd, idir, O_RDONLY | O_DIRECTORY, 0);
        if (fd >= 0) {
                unlinkat(fd, name, 0);
                close(fd);
        }
}

/* key=value with '\\' and newlines escaped. */
static void put_kv(FILE *f, const char *key, const char *value)
{
        fprintf(f, "%s=", key);
        for (const char *p = value; *p; p++) {
                if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p != '\r')
                        fputc(*p, f);
        }
        fputc('\n', f);
}

static bool valid_delay(const char *d)
{
        if (!strcmp(d, "now"))
                return true;
        if (*d == '+')
                d++;
        if (!*d || strlen(d) > 6)
                return false;
        for (; *d; d++)
                if (*d < '0' || *d > '9')
                        return false;
        return true;
}

static int stage_final_conf(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, const char *idir)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        FILE *f;
        int r = 0;

        f = open_memstream(&buf, &len);
        if (!f)
                return -ENOMEM;
        if (ctx->instance && ctx->instance->datasource)
                put_kv(f, "datasource", ctx->instance->datasource);
        if (cc->final_message)
                put_kv(f, "final_message", cc->final_message);
        if (cc->power_state.mode != KILN_POWER_UNSET) {
                static const char *const modes[] = { "poweroff", "reboot", "halt" };
                const char *delay = cc->power_state.delay ? cc->power_state.delay : "now";
                _cleanup_free_ char *d = NULL;

                if (!valid_delay(delay)) {
                        fclose(f);
                        return kiln_errorf(-EINVAL, "power_state: delay '%.32s' is not 'now' or '+MINUTES'", delay);
                }
                if (delay[0] != '+' && strcmp(delay, "now") && asprintf(&d, "+%s", delay) < 0) {
                        fclose(f);
                        return -ENOMEM;
                }
                put_kv(f, "power_mode", modes[cc->power_state.mode]);
                put_kv(f, "power_delay", d ? d : delay);
                if (cc->power_state.message)
                        put_kv(f, "power_message", cc->power_state.message);
                fprintf(f, "power_timeout=%ld\n", cc->power_state.timeout >= 0 ? cc->power_state.timeout : 30L);
                if (cc->power_state.condition_false) {
                        put_kv(f, "power_condition", "false");
                } else if (cc->power_state.condition.shell || cc->power_state.condition.argv) {
                        _cleanup_free_ char *script = kiln_shellify(&cc->power_state.condition, 1);
                        if (!script) {
                                fclose(f);
                                return -ENOMEM;
                        }
                        r = stage_file(ctx, idir, "power-condition", script, strlen(script), 0700);
                        put_kv(f, "power_condition", "script");
                } else {
                        put_kv(f, "power_condition", "true");
                }
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        if (r < 0)
                return r;
        return stage_file(ctx, idir, "final.conf", buf, len, 0600);
}

static int stage_deferred(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, const char *idir)
{
        _cleanup_free_ char *dir = NULL, *index = NULL;
        size_t len = 0, n = 0;
        FILE *f;
        int r = 0;

        if (asprintf(&dir, "%s/deferred", idir) < 0)
                return -ENOMEM;
        clear_folder(ctx->rootfd, dir, NULL);
        f = open_memstream(&index, &len);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < cc->n_write_files && r == 0; i++) {
                const struct kiln_cc_file *wf = &cc->write_files[i];
                char name[32];

                if (!wf->defer)
                        continue;
                if (!wf->path || !*wf->path || strpbrk(wf->path, "\t\n\r") ||
                    (wf->owner && strpbrk(wf->owner, "\t\n\r"))) {
                        r = kiln_errorf(-EINVAL, "write_files: deferred entry %zu: path or owner is empty or holds a tab or line break", i + 1);
                        break;
                }
                snprintf(name, sizeof(name), "deferred/%03zu", ++n);
                r = stage_file(ctx, idir, name, wf->content ? (const void *)wf->content : "", wf->len, 0600);
                fprintf(f, "%03zu\t%o\t%d\t%s\t%s\n", n, wf->permissions >= 0 ? (unsigned)wf->permissions & 07777 : 0644u,
                        wf->append ? 1 : 0, wf->owner && *wf->owner ? wf->owner : "-", wf->path);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        if (r < 0 || n == 0)
                return r;
        return stage_file(ctx, idir, "deferred/index", index, len, 0600);
}

int kiln_stage_write(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, const struct kiln_userdata *ud)
{
        static const char *const script_dirs[] = {
                [KILN_UD_PER_INSTANCE] = "scripts",
                [KILN_UD_PER_BOOT] = "scripts-per-boot",
                [KILN_UD_PER_ONCE] = "scripts-per-once",
        };
        _cleanup_free_ char *idir = NULL, *sdir = NULL, *bdir = NULL, *pbdir = NULL, *podir = NULL;
        size_t n_scripts[3] = { 0 }, n_hooks = 0;
        int r, fd;

        r = instance_dir(ctx, &idir);
        if (r < 0)
                return kiln_error_prefix(r, "staging");
        fd = root_mkdir_p(ctx->rootfd, idir, 0755);
        if (fd < 0)
                return kiln_error_prefix(fd, "staging");
        close(fd);
        if (asprintf(&sdir, "%s/scripts", idir) < 0 || asprintf(&bdir, "%s/boothooks", idir) < 0 ||
            asprintf(&pbdir, "%s/scripts-per-boot", idir) < 0 || asprintf(&podir, "%s/scripts-per-once", idir) < 0)
                return -ENOMEM;
        clear_folder(ctx->rootfd, sdir, "STATUS");
        clear_folder(ctx->rootfd, bdir, NULL);
        clear_folder(ctx->rootfd, pbdir, NULL);
        clear_folder(ctx->rootfd, podir, NULL);

        for (size_t i = 0; ud && i < ud->n_parts; i++) {
                const struct kiln_ud_part *p = &ud->parts[i];
                _cleanup_free_ char *text = NULL;
                char name[48];
                const char *body;
                size_t len;

                if (p->type != KILN_UD_SCRIPT && p->type != KILN_UD_BOOTHOOK)
                        continue;
                text = dos2unix(p->data, p->len, &len);
                if (!text)
                        return -ENOMEM;
                body = text;
                if (p->type == KILN_UD_BOOTHOOK) {
                        /* The "#cloud-boothook" line goes; the rest, left-stripped, is the hook. */
                        if (!strncmp(body, "#cloud-boothook", 15))
                                body += 15;
                        while (*body == ' ' || *body == '\t' || *body == '\n')
                                body++;
                        len -= (size_t)(body - text);
                }
                enum kiln_ud_freq freq = kiln_ud_script_freq(p);
                snprintf(name, sizeof(name), "%s/part-%03zu",
                         p->type == KILN_UD_SCRIPT ? script_dirs[freq] : "boothooks", i + 1);
                r = stage_file(ctx, idir, name, body, len, 0700);
                if (r < 0)
                        return kiln_error_prefix(r, "staging");
                if (p->type == KILN_UD_SCRIPT)
                        n_scripts[freq]++;
                else
                        n_hooks++;
        }
        if (cc && cc->n_runcmd) {
                _cleanup_free_ char *script = kiln_shellify(cc->runcmd, cc->n_runcmd);
                if (!script)
                        return -ENOMEM;
                r = stage_file(ctx, idir, "scripts/runcmd", script, strlen(script), 0700);
                if (r < 0)
                        return kiln_error_prefix(r, "staging");
        }
        if (cc && cc->n_bootcmd) {
                _cleanup_free_ char *script = kiln_shellify(cc->bootcmd, cc->n_bootcmd);
                if (!script)
                        return -ENOMEM;
                r = stage_file(ctx, idir, "bootcmd", script, strlen(script), 0700);
        } else {
                remove_staged(ctx, idir, "bootcmd");
        }
        if (r >= 0 && cc)
                r = stage_deferred(ctx, cc, idir);
        if (r >= 0 && cc)
                r = stage_final_conf(ctx, cc, idir);
        if (r < 0)
                return kiln_error_prefix(r, "staging");
        remove_staged(ctx, idir, "final.done");
        remove_staged(ctx, idir, "power.done");
        apply_log(ctx, "staged into /%s: %zu script(s)%s, %zu boothook(s)%s", idir, n_scripts[KILN_UD_PER_INSTANCE],
                  cc && cc->n_runcmd ? " + runcmd" : "", n_hooks, cc && cc->n_bootcmd ? ", bootcmd" : "");
        if (n_scripts[KILN_UD_PER_BOOT] || n_scripts[KILN_UD_PER_ONCE])
                apply_log(ctx, "staged: %zu script(s) to run at every boot, %zu to run once for the life of the disk",
                          n_scripts[KILN_UD_PER_BOOT], n_scripts[KILN_UD_PER_ONCE]);
        return 0;
}

int kiln_stage_bootcmd(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        _cleanup_free_ char *script = NULL;
        int r;

        if (!cc->n_bootcmd) {
                int fd = root_open(ctx->rootfd, "run/kiln", O_RDONLY | O_DIRECTORY, 0);
                if (fd >= 0) {
                        unlinkat(fd, "bootcmd", 0);
                        close(fd);
                }
                return 0;
        }
        script = kiln_shellify(cc->bootcmd, cc->n_bootcmd);
        if (!script)
                return -ENOMEM;
        r = root_write_file(ctx->rootfd, "run/kiln/bootcmd", script, strlen(script), 0700, 0, 0, WRITE_MKDIRS);
        if (r < 0)
                return kiln_error_prefix(r, "bootcmd");
        apply_log(ctx, "bootcmd: %zu command(s) staged in /run/kiln/bootcmd", cc->n_bootcmd);
        return 0;
}

/* ---- the runner -------------------------------------------------------------------- */

struct runner {
        const struct kiln_stage_opts *opts;
        char root[4096];   /* "" for "/", else the root without a trailing slash */
        int rootfd, logfd, confd;
        char *instance_id;
        char *idir;        /* relative to the root */
        int failures;
        /* Instance-store devices left blank at this boot: their mounts are skipped. */
        struct lines unformatted;
};

static void out_write(struct runner *r, const char *buf, size_t len)
{
        int fds[2] = { r->logfd, r->confd };

        /* Best effort: a log or console that fails must not stop the scripts. */
        for (int i = 0; i < 2; i++)
                if (fds[i] >= 0)
                        (void)write_full(fds[i], buf, len);
}

static void _printf_(2, 3) say(struct runner *r, const char *fmt, ...)
{
        char line[2048];
        va_list ap;
        int n;

        n = snprintf(line, sizeof(line), "kiln-userdata: ");
        va_start(ap, fmt);
        n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (n > (int)sizeof(line) - 2)
                n = (int)sizeof(line) - 2;
        line[n++] = '\n';
        out_write(r, line, (size_t)n);
}

static void runner_log(void *ud, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        say(ud, "%s", line);
}

/* ROOT/rel as a path the kernel resolves (for exec and mount). */
static char *root_path(const struct runner *r, const char *rel)
{
        char *out;

        while (*rel == '/')
                rel++;
        if (asprintf(&out, "%s/%s", r->root, rel) < 0)
                return NULL;
        return out;
}

/* The first of the root's programs that exists, as a full path. */
static char *find_program(const struct runner *r, const char *const *cands)
{
        for (; *cands; cands++) {
                int fd = root_open(r->rootfd, *cands, O_PATH, 0);
                if (fd >= 0) {
                        close(fd);
                        return root_path(r, *cands);
                }
        }
        return NULL;
}

/*
 * Run argv (argv[0] a full path) with stdout and stderr into the log and the
 * console, stdin from /dev/null, INSTANCE_ID in the environment.  A file
 * without "#!" is run by sh, as execvp would.  Returns the exit status,
 * 128+N for a signal, 126/127 when it could not be run, -errno on fork failure.
 */
static int run(struct runner *r, char *const argv[])
{
        int pipefd[2], status;
        pid_t pid;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int e = -errno;
                close(pipefd[0]);
                close(pipefd[1]);
                return e;
        }
        if (pid == 0) {
                int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (null >= 0)
                        dup2(null, 0);
                dup2(pipefd[1], 1);
                dup2(pipefd[1], 2);
                signal(SIGPIPE, SIG_DFL);
                if (r->instance_id)
                        setenv("INSTANCE_ID", r->instance_id, 1);
                if (!getenv("PATH"))
                        setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
                execv(argv[0], argv);
                if (errno == ENOEXEC) {
                        char *sh_argv[64] = { (char *)"/bin/sh" };
                        size_t i;
                        for (i = 0; argv[i] && i < 62; i++)
                                sh_argv[i + 1] = argv[i];
                        sh_argv[i + 1] = NULL;
                        execv("/bin/sh", sh_argv);
                }
                dprintf(2, "kiln-userdata: cannot run '%s': %s\n", argv[0], strerror(errno));
                _exit(errno == ENOENT ? 127 : 126);
        }
        close(pipefd[1]);
        for (;;) {
                char buf[4096];
                ssize_t n = read(pipefd[0], buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                out_write(r, buf, (size_t)n);
        }
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

static int read_small(struct runner *r, const char *rel, char **ret)
{
        size_t len;
        int e = root_read_file(r->rootfd, rel, ret, &len, NULL);
        return e;
}

static bool exists(struct runner *r, const char *rel)
{
        int fd = root_open(r->rootfd, rel, O_PATH, 0);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

static int touch(struct runner *r, const char *rel)
{
        int fd = root_open(r->rootfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return kiln_errorf(fd, "cannot create '/%s': %s", rel, strerror(-fd));
        fsync(fd);
        close(fd);
        return 0;
}

/* Names of the regular files in a folder of the root, sorted. */
static int list_folder(struct runner *r, const char *rel, struct lines *ret)
{
        int fd = root_open(r->rootfd, rel, O_RDONLY | O_DIRECTORY, 0);
        struct dirent *de;
        DIR *d;

        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return kiln_errorf(fd, "cannot open '/%s': %s", rel, strerror(-fd));
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d)) && ret->n < MAX_STAGED) {
                struct stat st;
                if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                if (lines_push(ret, de->d_name) < 0) {
                        closedir(d);
                        return -ENOMEM;
                }
        }
        closedir(d);
        for (size_t i = 1; i < ret->n; i++)
                for (size_t j = i; j > 0 && strcmp(ret->v[j - 1], ret->v[j]) > 0; j--) {
                        char *t = ret->v[j];
                        ret->v[j] = ret->v[j - 1];
                        ret->v[j - 1] = t;
                }
        return 0;
}

/* ---- boot -------------------------------------------------------------------------- */

static int blkid_is_blank(const char *dev)
{
        blkid_probe pr = blkid_new_probe_from_filename(dev);
        int rc;

        if (!pr)
                return kiln_errorf(-errno ? -errno : -EIO, "cannot probe '%s'", dev);
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_enable_partitions(pr, 1);
        rc = blkid_do_safeprobe(pr);
        blkid_free_probe(pr);
        if (rc == 1)
                return 1;
        if (rc == 0 || rc == -2)
                return 0;
        return kiln_errorf(-EIO, "cannot probe '%s'", dev);
}

/*
 * A device of "format" that could not be made ext4: logged, and its mounts
 * skipped, but not a failure of the stage: an instance store is optional
 * (its fstab entry has nofail), and kiln-bootcmd.service failing for it
 * would leave the whole system degraded.
 */
static void store_skipped(struct runner *r, const char *dev, const char *why)
{
        say(r, "instance store %s: %s; left as it is and not mounted (not a failure of the boot)", dev, why);
        if (lines_push(&r->unformatted, dev) < 0)
                r->failures++;
}

static void boot_format(struct runner *r)
{
        _cleanup_free_ char *rel = NULL, *buf = NULL;

        if (asprintf(&rel, "%s/format", r->idir) < 0 || read_small(r, rel, &buf) < 0)
                return;
        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                struct kiln_mkfs_result res;
                struct timespec t0, t1;
                char dev[256], label[17], size[32];
                int blank, e;

                if (sscanf(line, "%255s %16s", dev, label) != 2 || dev[0] != '/')
                        continue;
                blank = r->opts->is_blank ? r->opts->is_blank(r->opts->ud, dev) : blkid_is_blank(dev);
                if (blank < 0) {
                        store_skipped(r, dev, kiln_last_error());
                        continue;
                }
                if (!blank) {
                        say(r, "instance store %s: has a file system", dev);
                        continue;
                }
                /*
                 * kiln-init's own mkfs (libext2fs, linked in), never the
                 * root's mkfs.ext4, even when the image has one: the store
                 * is then made whatever the image holds (Debian 13's
                 * minbase has no e2fsprogs at all), with the same features
                 * on every image, and no mke2fs.conf of the image can pick
                 * features its kernel does not mount.
                 */
                clock_gettime(CLOCK_MONOTONIC, &t0);
                e = kiln_mkfs_ext4(dev, label, &res);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (e < 0) {
                        _cleanup_free_ char *why = NULL;
                        if (asprintf(&why, "blank, but cannot make ext4: %s", kiln_last_error()) < 0)
                                why = NULL;
                        store_skipped(r, dev, why ? why : "blank, but cannot make ext4");
                        continue;
                }
                format_size(res.blocks * res.block_size, size, sizeof(size));
                say(r, "instance store %s: made ext4, label %s, %s, %llu inodes, in %lld ms", dev, label, size,
                    (unsigned long long)res.inodes,
                    (long long)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        }
}

/* Whether path is a mount point now (/proc/self/mountinfo, octal escapes undone). */
static bool is_mounted(const char *path)
{
        FILE *f = fopen("/proc/self/mountinfo", "re");
        char line[8192];
        bool found = false;

        if (!f)
                return false;
        while (!found && fgets(line, sizeof(line), f)) {
                char *save = NULL, *tok = strtok_r(line, " ", &save);
                for (int i = 0; tok && i < 4; i++)
                        tok = strtok_r(NULL, " ", &save);
                if (!tok)
                        continue;
                char mp[4096];
                size_t o = 0;
                for (const char *p = tok; *p && o < sizeof(mp) - 1; p++) {
                        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] && p[3]) {
                                mp[o++] = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) | (p[3] - '0'));
                                p += 3;
                        } else {
                                mp[o++] = *p;
                        }
                }
                mp[o] = 0;
                found = !strcmp(mp, path);
        }
        fclose(f);
        return found;
}

/* mount(2) for roots without mount(8): the fstab's options minus the ones
 * only mount(8) and systemd read. */
static int mount_fallback(const char *dev, const char *path, const char *type, const char *opts)
{
        _cleanup_free_ char *copy = strdup(opts), *data = NULL;
        unsigned long flags = 0;
        size_t dl = 0;

        if (!copy)
                return -ENOMEM;
        data = calloc(1, strlen(opts) + 1);
        if (!data)
                return -ENOMEM;
        for (char *save = NULL, *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
                if (!strcmp(o, "defaults") || !strcmp(o, "nofail") || !strcmp(o, "auto") || !strcmp(o, "_netdev") ||
                    !strncmp(o, "x-", 2) || !strncmp(o, "comment=", 8) || !strcmp(o, "rw"))
                        continue;
                if (!strcmp(o, "ro"))
                        flags |= MS_RDONLY;
                else if (!strcmp(o, "noatime"))
                        flags |= MS_NOATIME;
                else if (!strcmp(o, "nodev"))
                        flags |= MS_NODEV;
                else if (!strcmp(o, "nosuid"))
                        flags |= MS_NOSUID;
                else if (!strcmp(o, "noexec"))
                        flags |= MS_NOEXEC;
                else {
                        dl += (size_t)sprintf(data + dl, "%s%s", dl ? "," : "", o);
                }
        }
        if (strcmp(type, "auto")) {
                if (mount(dev, path, type, flags, dl ? data : NULL) < 0)
                        return -errno;
                return 0;
        }
        static const char *const types[] = { "ext4", "xfs", "btrfs", "vfat" };
        int e = -ENODEV;
        for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
                if (mount(dev, path, types[i], flags, dl ? data : NULL) == 0)
                        return 0;
                e = -errno;
        }
        return e;
}

/* Whether an fstab options field (comma-separated) holds the option name. */
static bool has_option(const char *opts, const char *name)
{
        size_t n = strlen(name);

        for (const char *p = opts; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
                if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
                        return true;
        return false;
}

static void boot_mounts(struct runner *r)
{
        static const char *const mount_prog[] = { "bin/mount", "usr/bin/mount", "sbin/mount", NULL };
        _cleanup_free_ char *buf = NULL;

        if (read_small(r, "etc/fstab", &buf) < 0)
                return;
        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char dev[512], mp[512], type[64], opts[1024];
                _cleanup_free_ char *full = NULL, *prog = NULL;

                if (line[0] == '#' || sscanf(line, "%511s %511s %63s %1023s", dev, mp, type, opts) != 4 ||
                    !strstr(opts, "comment=cloudconfig") || mp[0] != '/' || !strcmp(type, "swap"))
                        continue;
                full = root_path(r, mp);
                if (!full)
                        continue;
                if (is_mounted(full)) {
                        say(r, "mounts: %s is mounted", mp);
                        continue;
                }
                bool skip = false;
                for (size_t i = 0; i < r->unformatted.n && !skip; i++)
                        skip = !strcmp(r->unformatted.v[i], dev);
                if (skip) {
                        say(r, "mounts: %s not mounted: %s was left blank (above)", mp, dev);
                        continue;
                }
                /* nofail, as systemd reads it: a volume that is not there is not a failure. */
                if (dev[0] == '/' && has_option(opts, "nofail") && access(dev, F_OK) < 0 && errno == ENOENT) {
                        say(r, "mounts: %s not mounted: no device %s (nofail)", mp, dev);
                        continue;
                }
                prog = find_program(r, mount_prog);
                if (prog && !r->root[0]) {
                        char *argv[] = { prog, mp, NULL };
                        int st = run(r, argv);
                        say(r, "mounts: mount %s: %s (status %d)", mp, st == 0 ? "done" : "FAILED", st);
                        if (st != 0)
                                r->failures++;
                } else if (prog) {
                        /* A root that is not "/": its mount(8) reads our fstab, so give it all. */
                        char *argv[] = { prog, (char *)"-t", type, (char *)"-o", opts, dev, full, NULL };
                        int st = run(r, argv);
                        say(r, "mounts: mount %s: %s (status %d)", mp, st == 0 ? "done" : "FAILED", st);
                        if (st != 0)
                                r->failures++;
                } else {
                        int e = mount_fallback(dev, full, type, opts);
                        if (e < 0) {
                                say(r, "mounts: cannot mount %s on %s: %s", dev, mp, strerror(-e));
                                r->failures++;
                        } else {
                                say(r, "mounts: mounted %s on %s", dev, mp);
                        }
                }
        }
}

/* Run a staged script; with status_rel, append "STATUS_NAME STATUS" to it
 * (status_name NULL: the script's file name). */
static void run_script(struct runner *r, const char *what, const char *rel, bool with_sh, const char *status_rel,
                       const char *status_name)
{
        _cleanup_free_ char *path = root_path(r, rel), *sh = NULL;
        static const char *const shells[] = { "bin/sh", "usr/bin/sh", NULL };
        int st;

        if (!path)
                return;
        if (with_sh) {
                sh = find_program(r, shells);
                if (!sh)
                        sh = strdup("/bin/sh");
                char *argv[] = { sh, path, NULL };
                st = run(r, argv);
        } else {
                char *argv[] = { path, NULL };
                st = run(r, argv);
        }
        say(r, "%s: %s (status %d)", what, st == 0 ? "ok" : "FAILED", st);
        if (st != 0)
                r->failures++;
        if (status_rel) {
                int fd = root_open(r->rootfd, status_rel, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0644);
                if (fd >= 0) {
                        const char *base = strrchr(rel, '/');
                        dprintf(fd, "%s %d\n", status_name ? status_name : base ? base + 1 : rel, st);
                        fsync(fd);
                        close(fd);
                } else {
                        say(r, "cannot record the status in '/%s': %s", status_rel, strerror(-fd));
                        r->failures++;
                }
        }
}

static void stage_boot(struct runner *r)
{
        struct lines hooks = { 0 };
        _cleanup_free_ char *hdir = NULL, *bootcmd = NULL;

        boot_format(r);
        boot_mounts(r);
        if (asprintf(&hdir, "%s/boothooks", r->idir) < 0)
                return;
        if (list_folder(r, hdir, &hooks) == 0)
                for (size_t i = 0; i < hooks.n; i++) {
                        _cleanup_free_ char *rel = NULL, *what = NULL;
                        if (asprintf(&rel, "%s/%s", hdir, hooks.v[i]) < 0 || asprintf(&what, "boothook %s", hooks.v[i]) < 0)
                                break;
                        run_script(r, what, rel, false, NULL, NULL);
                }
        lines_free(&hooks);
        if (exists(r, "run/kiln/bootcmd")) {
                run_script(r, "bootcmd", "run/kiln/bootcmd", true, NULL, NULL);
        } else if (asprintf(&bootcmd, "%s/bootcmd", r->idir) >= 0 && exists(r, bootcmd)) {
                run_script(r, "bootcmd", bootcmd, true, NULL, NULL);
        }
}

/* ---- final ------------------------------------------------------------------------- */

static char *unescape(const char *v)
{
        char *out = malloc(strlen(v) + 1), *o = out;

        if (!out)
                return NULL;
        for (; *v; v++) {
                if (*v == '\\' && v[1] == 'n') {
                        *o++ = '\n';
                        v++;
                } else if (*v == '\\' && v[1] == '\\') {
                        *o++ = '\\';
                        v++;
                } else {
                        *o++ = *v;
                }
        }
        *o = 0;
        return out;
}

/* final.conf's value for key, unescaped, or NULL. */
static char *conf_get(const char *conf, const char *key)
{
        size_t kl = strlen(key);

        for (const char *p = conf; p && *p;) {
                const char *nl = strchr(p, '\n');
                if (!strncmp(p, key, kl) && p[kl] == '=') {
                        _cleanup_free_ char *raw = strndup(p + kl + 1, nl ? (size_t)(nl - p - kl - 1) : strlen(p + kl + 1));
                        return raw ? unescape(raw) : NULL;
                }
                p = nl ? nl + 1 : NULL;
        }
        return NULL;
}

static void final_deferred(struct runner *r)
{
        _cleanup_free_ char *index_rel = NULL, *index = NULL;
        struct kiln_cloud_config cc = { 0 };
        struct kiln_cc_file files[256];
        size_t n = 0;

        if (asprintf(&index_rel, "%s/deferred/index", r->idir) < 0 || read_small(r, index_rel, &index) < 0)
                return;
        for (char *save = NULL, *line = strtok_r(index, "\n", &save); line && n < ARRAY_SIZE(files);
             line = strtok_r(NULL, "\n", &save)) {
                char *f[5], *s2 = NULL;
                int k = 0;
                for (char *t = strtok_r(line, "\t", &s2); t && k < 5; t = strtok_r(NULL, "\t", &s2))
                        f[k++] = t;
                if (k != 5)
                        continue;
                _cleanup_free_ char *data_rel = NULL;
                char *data = NULL;
                size_t len = 0;
                if (asprintf(&data_rel, "%s/deferred/%s", r->idir, f[0]) < 0 ||
                    root_read_file(r->rootfd, data_rel, &data, &len, NULL) < 0) {
                        say(r, "write_files (deferred): cannot read the staged '%s'", f[4]);
                        r->failures++;
                        continue;
                }
                files[n] = (struct kiln_cc_file){
                        .path = f[4],
                        .content = (uint8_t *)data,
                        .len = len,
                        .owner = strcmp(f[3], "-") ? f[3] : NULL,
                        .permissions = (int)strtol(f[1], NULL, 8),
                        .append = f[2][0] == '1',
                        .defer = true,
                };
                n++;
        }
        cc.write_files = files;
        cc.n_write_files = n;
        struct kiln_apply_ctx ctx = { .rootfd = r->rootfd, .root_name = r->root[0] ? r->root : "/", .log = runner_log, .log_ud = r };
        if (n && kiln_apply_write_files(&ctx, &cc, true) < 0)
                r->failures++;
        for (size_t i = 0; i < n; i++)
                free(files[i].content);
}

static void final_scripts(struct runner *r)
{
        _cleanup_free_ char *sdir = NULL, *status = NULL;
        struct lines names = { 0 };

        if (asprintf(&sdir, "%s/scripts", r->idir) < 0 || asprintf(&status, "%s/STATUS", sdir) < 0)
                return;
        if (list_folder(r, sdir, &names) < 0) {
                say(r, "scripts: %s", kiln_last_error());
                r->failures++;
                return;
        }
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *rel = NULL, *what = NULL;
                if (!strcmp(names.v[i], "STATUS"))
                        continue;
                if (asprintf(&rel, "%s/%s", sdir, names.v[i]) < 0 || asprintf(&what, "script %s", names.v[i]) < 0)
                        break;
                run_script(r, what, rel, false, status, NULL);
        }
        lines_free(&names);
}

/* text/x-shellscript-per-boot: every boot, in name order. */
static void final_per_boot(struct runner *r)
{
        _cleanup_free_ char *dir = NULL;
        struct lines names = { 0 };

        if (asprintf(&dir, "%s/scripts-per-boot", r->idir) < 0)
                return;
        if (list_folder(r, dir, &names) < 0) {
                say(r, "per-boot scripts: %s", kiln_last_error());
                r->failures++;
                return;
        }
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *rel = NULL, *what = NULL;
                if (asprintf(&rel, "%s/%s", dir, names.v[i]) < 0 || asprintf(&what, "per-boot script %s", names.v[i]) < 0)
                        break;
                run_script(r, what, rel, false, NULL, NULL);
        }
        lines_free(&names);
}

/* The per-once marker of a staged script: PER_ONCE_DIR/SHA-256 of its content. */
static int per_once_marker(struct runner *r, const char *rel, char **ret)
{
        _cleanup_free_ char *data = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        unsigned mdlen = 0;
        size_t len = 0;
        int e;

        e = root_read_file(r->rootfd, rel, &data, &len, NULL);
        if (e < 0)
                return kiln_errorf(e, "cannot read '/%s': %s", rel, strerror(-e));
        if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL))
                return kiln_errorf(-EIO, "cannot hash '/%s'", rel);
        for (unsigned i = 0; i < mdlen; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        if (asprintf(ret, PER_ONCE_DIR "/%s", hex) < 0)
                return -ENOMEM;
        return 0;
}

/*
 * text/x-shellscript-per-once: once for the life of the disk.  A script
 * whose content ran before, for this instance or another, is skipped; the
 * marker is made (and synced) before the script runs, as cloud-init takes
 * its semaphore before the module runs: a crash never runs it twice.
 */
static void final_per_once(struct runner *r, const char *status)
{
        _cleanup_free_ char *dir = NULL, *sdir = NULL;
        struct lines names = { 0 };
        int fd;

        if (asprintf(&dir, "%s/scripts-per-once", r->idir) < 0 || asprintf(&sdir, "%s/scripts", r->idir) < 0)
                return;
        if (list_folder(r, dir, &names) < 0) {
                say(r, "per-once scripts: %s", kiln_last_error());
                r->failures++;
                return;
        }
        if (names.n) {
                /* The marker folder, and scripts/ for STATUS. */
                fd = root_mkdir_p(r->rootfd, sdir, 0755);
                if (fd >= 0) {
                        close(fd);
                        fd = root_mkdir_p(r->rootfd, PER_ONCE_DIR, 0755);
                }
                if (fd < 0) {
                        say(r, "per-once scripts: %s; not run", kiln_last_error());
                        r->failures++;
                        lines_free(&names);
                        return;
                }
                close(fd);
        }
        for (size_t i = 0; i < names.n; i++) {
                _cleanup_free_ char *rel = NULL, *what = NULL, *marker = NULL, *seen = NULL, *line = NULL,
                                    *sname = NULL;
                if (asprintf(&rel, "%s/%s", dir, names.v[i]) < 0 ||
                    asprintf(&what, "per-once script %s", names.v[i]) < 0 ||
                    asprintf(&sname, "per-once/%s", names.v[i]) < 0 ||
                    asprintf(&line, "%s %s\n", names.v[i], r->instance_id) < 0)
                        break;
                if (per_once_marker(r, rel, &marker) < 0) {
                        say(r, "%s: %s; not run", what, kiln_last_error());
                        r->failures++;
                        continue;
                }
                if (read_small(r, marker, &seen) >= 0) {
                        seen[strcspn(seen, "\n")] = 0;
                        say(r, "%s: ran before on this disk (/%s: %s); not again", what, marker, seen);
                        continue;
                }
                int e = root_write_file(r->rootfd, marker, line, strlen(line), 0644, KEEP_ID, KEEP_ID, 0);
                if (e >= 0) {
                        fd = root_open(r->rootfd, marker, O_RDONLY, 0);
                        if (fd >= 0) {
                                fsync(fd);
                                close(fd);
                        }
                        fd = root_open(r->rootfd, PER_ONCE_DIR, O_RDONLY | O_DIRECTORY, 0);
                        if (fd >= 0) {
                                fsync(fd);
                                close(fd);
                        }
                }
                if (e < 0) {
                        say(r, "%s: cannot record it in '/%s' (%s); not run", what, marker, kiln_last_error());
                        r->failures++;
                        continue;
                }
                run_script(r, what, rel, false, status, sname);
        }
        lines_free(&names);
}

/* cloud-init's templater for final_message: $NAME, ${NAME}, either case. */
static char *render_message(const char *tmpl, const char *const subs[][2], size_t n_subs)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        if (!f)
                return NULL;
        for (const char *p = tmpl; *p;) {
                if (*p == '$') {
                        bool brace = p[1] == '{';
                        const char *s = p + 1 + brace, *e = s;
                        while ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') || *e == '_')
                                e++;
                        bool ok = e > s && (!brace || *e == '}');
                        for (size_t i = 0; ok && i < n_subs; i++)
                                if (strlen(subs[i][0]) == (size_t)(e - s) && !strncasecmp(s, subs[i][0], (size_t)(e - s))) {
                                        fputs(subs[i][1], f);
                                        p = e + brace;
                                        goto next;
                                }
                }
                fputc(*p++, f);
        next:;
        }
        fclose(f);
        return buf;
}

static void final_message(struct runner *r, const char *conf)
{
        _cleanup_free_ char *msg = conf_get(conf, "final_message"), *ds = conf_get(conf, "datasource"), *up = NULL,
                             *text = NULL;
        char ts[64], uptime[32] = "unknown";
        time_t now = time(NULL);
        struct tm tm;
        FILE *f;

        if ((f = fopen("/proc/uptime", "re"))) {
                if (fscanf(f, "%31s", uptime) != 1)
                        strcpy(uptime, "unknown");
                fclose(f);
        }
        strftime(ts, sizeof(ts), "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
        const char *subs[][2] = {
                { "uptime", uptime },
                { "timestamp", ts },
                { "version", KILN_VERSION },
                { "datasource", ds ? ds : "unknown" },
        };
        text = render_message(msg ? msg : "kiln-init v. $VERSION finished at $TIMESTAMP. Datasource $DATASOURCE.  Up $UPTIME seconds",
                              subs, ARRAY_SIZE(subs));
        if (!text)
                return;
        out_write(r, text, strlen(text));
        if (!*text || text[strlen(text) - 1] != '\n')
                out_write(r, "\n", 1);
}

static void final_power(struct runner *r, const char *conf)
{
        static const char *const shutdown_prog[] = { "sbin/shutdown", "usr/sbin/shutdown", "bin/systemctl", "usr/bin/systemctl", NULL };
        _cleanup_free_ char *mode = conf_get(conf, "power_mode"), *delay = conf_get(conf, "power_delay"),
                             *message = conf_get(conf, "power_message"), *cond = conf_get(conf, "power_condition"),
                             *done = NULL, *prog = NULL;

        if (!mode)
                return;
        if (asprintf(&done, "%s/power.done", r->idir) < 0)
                return;
        if (exists(r, done))
                return;
        if (cond && !strcmp(cond, "false")) {
                say(r, "power_state: condition is false; not acting");
                (void)touch(r, done);
                return;
        }
        if (cond && !strcmp(cond, "script")) {
                _cleanup_free_ char *rel = NULL, *path = NULL;
                if (asprintf(&rel, "%s/power-condition", r->idir) < 0 || !(path = root_path(r, rel)))
                        return;
                char *argv[] = { (char *)"/bin/sh", path, NULL };
                int st = run(r, argv);
                if (st != 0) {
                        say(r, "power_state: condition returned %d; not acting", st);
                        (void)touch(r, done);
                        return;
                }
        }
        (void)touch(r, done);
        prog = find_program(r, shutdown_prog);
        const char *opt = !strcmp(mode, "reboot") ? "-r" : !strcmp(mode, "halt") ? "-H" : "-P";
        if (prog && !strstr(prog, "systemctl")) {
                char *argv[] = { prog, (char *)opt, delay ? delay : (char *)"now", message, NULL };
                say(r, "power_state: shutdown %s %s%s%s", opt, delay ? delay : "now", message ? " " : "", message ? message : "");
                int st = run(r, argv);
                if (st != 0) {
                        say(r, "power_state: shutdown failed (status %d)", st);
                        r->failures++;
                }
                return;
        }
        if (prog) {
                const char *verb = !strcmp(mode, "reboot") ? "reboot" : !strcmp(mode, "halt") ? "halt" : "poweroff";
                char *argv[] = { prog, (char *)verb, NULL };
                say(r, "power_state: systemctl %s (delay %s not applied)", verb, delay ? delay : "now");
                if (run(r, argv) != 0)
                        r->failures++;
                return;
        }
        if (r->root[0]) {
                say(r, "power_state: no shutdown program in the root, and it is not '/': not acting");
                return;
        }
        say(r, "power_state: %s now (no shutdown program)", mode);
        sync();
        reboot(!strcmp(mode, "reboot") ? RB_AUTOBOOT : !strcmp(mode, "halt") ? RB_HALT_SYSTEM : RB_POWER_OFF);
        say(r, "power_state: reboot(2): %s", strerror(errno));
        r->failures++;
}

static void stage_final(struct runner *r)
{
        _cleanup_free_ char *done = NULL, *conf_rel = NULL, *conf = NULL, *status = NULL;
        bool first;

        if (asprintf(&done, "%s/final.done", r->idir) < 0 || asprintf(&conf_rel, "%s/final.conf", r->idir) < 0 ||
            asprintf(&status, "%s/scripts/STATUS", r->idir) < 0)
                return;
        /* cloud-init's final stage: write_files_deferred, scripts_per_once,
         * scripts_per_boot, scripts_per_instance and scripts_user, ...,
         * final_message, power_state_change. */
        first = !exists(r, done);
        if (first)
                final_deferred(r);
        final_per_once(r, status);
        final_per_boot(r);
        if (first) {
                final_scripts(r);
                if (touch(r, done) < 0) {
                        say(r, "%s", kiln_last_error());
                        r->failures++;
                }
        } else {
                say(r, "scripts and runcmd already ran for instance %s", r->instance_id);
        }
        if (read_small(r, conf_rel, &conf) < 0)
                conf = strdup("");
        if (!conf)
                return;
        final_message(r, conf);
        final_power(r, conf);
}

int kiln_stage_run(const char *stage, const struct kiln_stage_opts *opts)
{
        struct kiln_stage_opts defaults = { 0 };
        struct runner r = { .rootfd = -1, .logfd = -1, .confd = -1 };
        _cleanup_free_ char *id = NULL, *log = NULL;
        const char *root;
        int ret;

        if (!opts)
                opts = &defaults;
        r.opts = opts;
        if (!stage || (strcmp(stage, "boot") && strcmp(stage, "final")))
                return kiln_errorf(-EINVAL, "unknown stage '%s' (boot or final)", stage ? stage : "");
        root = opts->root ? opts->root : "/";
        snprintf(r.root, sizeof(r.root), "%s", root);
        for (size_t n = strlen(r.root); n > 0 && r.root[n - 1] == '/'; n--)
                r.root[n - 1] = 0;
        r.rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r.rootfd < 0)
                return kiln_errorf(-errno, "cannot open the root '%s': %m", root);
        if (opts->log) {
                r.logfd = open(opts->log, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC, 0640);
        } else {
                int fd = root_mkdir_p(r.rootfd, "var/log", 0755);
                if (fd >= 0)
                        close(fd);
                r.logfd = root_open(r.rootfd, "var/log/kiln-userdata.log", O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY, 0640);
                /* Readable by group adm, as Debian keeps cloud-init's logs
                 * (syslog_fix_perms), so admins read it without root. */
                unsigned adm;
                if (r.logfd >= 0 && kiln_root_getgrnam(r.rootfd, "adm", &adm) >= 0 && fchown(r.logfd, 0, adm) < 0)
                        say(&r, "cannot give the log to group adm: %s", strerror(errno));
        }
        log = strdup(opts->log ? opts->log : "/var/log/kiln-userdata.log");
        if (opts->console)
                r.confd = open(opts->console, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);
        if (r.logfd < 0)
                say(&r, "cannot open the log '%s'; output goes to the console only", log ? log : "");

        ret = read_small(&r, "var/lib/kiln/instance-id", &id);
        if (ret < 0) {
                say(&r, "stage %s: no instance id in /var/lib/kiln/instance-id; nothing to do", stage);
                ret = 0;
                goto out;
        }
        id[strcspn(id, "\n")] = 0;
        r.instance_id = id;
        struct kiln_instance inst = { .instance_id = id };
        struct kiln_apply_ctx ctx = { .rootfd = r.rootfd, .instance = &inst };
        ret = instance_dir(&ctx, &r.idir);
        if (ret < 0) {
                say(&r, "stage %s: %s", stage, kiln_last_error());
                goto out;
        }
        say(&r, "stage %s for instance %s", stage, id);
        if (!strcmp(stage, "boot"))
                stage_boot(&r);
        else
                stage_final(&r);
        say(&r, "stage %s: %s", stage, r.failures ? "finished with failures (see above)" : "finished");
        ret = r.failures ? 1 : 0;
out:
        lines_free(&r.unformatted);
        free(r.idir);
        if (r.logfd >= 0)
                close(r.logfd);
        if (r.confd >= 0)
                close(r.confd);
        close(r.rootfd);
        return ret;
}
