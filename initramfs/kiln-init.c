/* SPDX-License-Identifier: MIT */
/*
 * kiln-init: PID 1 of kiln's initramfs, and (as `kiln-init --firstboot`) a
 * first-boot runner inside a booted system, and (as `kiln-init --stage
 * boot|final`) the runner of the user data's scripts after switch_root.  In
 * order: mounts, the kernel command line, modules, the root device, the
 * datasource and its user data, checking the root's filesystem (e2fsck -p
 * when its superblock asks for it), growing the root partition, mounting it
 * read-only and then read-write, growing ext4 online, the user data's
 * first-boot modules and SSH host keys once per instance, the log, and
 * switch_root with the kernel's arguments for init.  A failed task is logged
 * and the boot goes on.  A root marked with errors is not written at all.
 */
#include <blkid/blkid.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apply.h"
#include "cloudinit.h"
#include "cmdline.h"
#include "disk.h"
#include "grow.h"
#include "parttable.h"
#include "pid1.h"
#include "sshkeys.h"
#include "state.h"
#include "superblock.h"
#include "util.h"

#define NEWROOT "/newroot"
#define STATE_DIR KILN_STATE_DIR
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, __u64)
#define DEFAULT_ROOT_WAIT_MS 30000
/* The root's checker, when the initramfs writer found one in the rootfs. */
#define E2FSCK "/sbin/e2fsck"

/*
 * Crash tests: kiln.test_crash=TASK:N cuts the power (an immediate reboot,
 * no sync) after the Nth write of TASK (growpart: disk writes; resizefs: 1
 * = right after the resize; sshkeys: key files written), so tests can prove
 * that the next boot completes and leaves a clean disk.
 */
static char crash_task[32];
static unsigned crash_after;

static void crash_point(const char *task, unsigned n)
{
        if (crash_after && n >= crash_after && !strcmp(task, crash_task)) {
                pid1_log("kiln.test_crash: cutting the power in %s after write %u", task, n);
                reboot(RB_AUTOBOOT);
        }
}

struct crash_disk {
        struct kiln_disk d;
        struct kiln_disk *inner;
        unsigned writes;
};

static int crash_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        struct crash_disk *c = (struct crash_disk *)d;
        return kiln_disk_pread(c->inner, buf, len, off);
}

static int crash_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        struct crash_disk *c = (struct crash_disk *)d;
        int r = kiln_disk_pwrite(c->inner, buf, len, off);
        /* The write must reach the device before the cut to model a torn
         * sequence rather than a lost cache. */
        kiln_disk_flush(c->inner);
        crash_point("growpart", ++c->writes);
        return r;
}

static int crash_flush(struct kiln_disk *d)
{
        return kiln_disk_flush(((struct crash_disk *)d)->inner);
}

static void crash_free(struct kiln_disk *d)
{
        kiln_disk_free(((struct crash_disk *)d)->inner);
        free(d);
}

static const struct kiln_disk_ops crash_ops = {
        .pread = crash_pread,
        .pwrite = crash_pwrite,
        .flush = crash_flush,
        .free = crash_free,
};

static struct kiln_disk *crash_wrap(struct kiln_disk *inner)
{
        struct crash_disk *c;

        if (!crash_after || strcmp(crash_task, "growpart"))
                return inner;
        c = calloc(1, sizeof(*c));
        if (!c)
                return inner;
        c->d.ops = &crash_ops;
        c->d.size = inner->size;
        c->inner = inner;
        return &c->d;
}

static void set_test_crash(const struct kiln_cmdline *cmd)
{
        snprintf(crash_task, sizeof(crash_task), "%s", cmd->crash_task);
        crash_after = cmd->crash_after;
}

struct ctx {
        struct kiln_cmdline cmd;
        const char *root;          /* where the real root is: NEWROOT, or "" for --firstboot */
        char root_dev[256];        /* "nvme0n1p1" */
        char disk_dev[256];         /* "nvme0n1", "" when the root is a whole disk */
        unsigned partno;
        char instance_id[KILN_INSTANCE_ID_MAX + 1];
        char state[PATH_MAX];      /* ROOT/var/lib/kiln/instances/NAME, NAME from kiln_instance_dir_name() */
        bool new_instance;
        bool no_writes;            /* the root is not to be written: errors, or no read-write mount */
        char no_writes_why[300];
        unsigned failed;
        struct kiln_ci ci;         /* the datasource and the user data */
};

/* ---------- tasks ---------- */

static bool done_before(struct ctx *c, const char *task)
{
        char path[PATH_MAX + 64];
        snprintf(path, sizeof(path), "%s/%s.done", c->state, task);
        return access(path, F_OK) == 0;
}

/* A task that cannot be recorded as done is not done: no marker is left,
 * so it runs again at the next boot, and this boot counts a failure. */
static void mark_done(struct ctx *c, const char *task)
{
        kiln_clear_error();
        if (kiln_state_mark_done(c->state, task) < 0) {
                c->failed++;
                pid1_log("task %s: cannot record it as done, so it runs again at the next boot: %s", task,
                         kiln_last_error());
        }
}

/* Run one task: skipped by kiln.skip, timed, never fatal. */
static void run_task(struct ctx *c, const char *name, int (*fn)(struct ctx *))
{
        if (kiln_cmdline_skips(&c->cmd, name)) {
                pid1_log("task %s: skipped (kiln.skip)", name);
                return;
        }
        uint64_t t0 = pid1_now_ms();
        kiln_clear_error();
        int r = fn(c);
        uint64_t ms = pid1_now_ms() - t0;
        if (r < 0) {
                c->failed++;
                pid1_log("task %s: FAILED after %llu ms: %s", name, (unsigned long long)ms,
                         *kiln_last_error() ? kiln_last_error() : strerror(-r));
        } else {
                pid1_log("task %s: ok in %llu ms%s", name, (unsigned long long)ms, r > 0 ? " (nothing to do)" : "");
        }
}

static int dev_size(const char *dev, uint64_t *ret)
{
        char path[300];
        snprintf(path, sizeof(path), "/dev/%s", dev);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return kiln_errorf(-errno, "cannot open %s: %m", path);
        int r = ioctl(fd, BLKGETSIZE64, ret) < 0 ? -errno : 0;
        close(fd);
        return r;
}

static int task_growpart(struct ctx *c)
{
        char path[300];
        struct kiln_disk *disk = NULL;
        struct kiln_parttable t;
        struct kiln_grow_plan plan;
        uint64_t size;
        int ssz = 512, r;

        if (!c->disk_dev[0]) {
                pid1_log("growpart: the root is a whole disk (no partition table)");
                return 1;
        }
        snprintf(path, sizeof(path), "/dev/%s", c->disk_dev);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return kiln_errorf(-errno, "cannot open %s: %m", path);
        if (ioctl(fd, BLKGETSIZE64, &size) < 0 || ioctl(fd, BLKSSZGET, &ssz) < 0) {
                r = kiln_errorf(-errno, "cannot size %s: %m", path);
                goto out;
        }
        r = kiln_disk_new_fd(fd, size, &disk);
        if (r < 0)
                goto out;
        disk = crash_wrap(disk);
        r = kiln_parttable_read(disk, (uint32_t)ssz, &t);
        if (r < 0)
                goto out;
        r = kiln_grow_plan(&t, size / (uint64_t)ssz, c->partno, &plan);
        if (r < 0)
                goto out;
        if (!plan.write) {
                pid1_log("growpart: %s", plan.reason);
                r = 1;
                goto out;
        }
        r = kiln_grow_apply(disk, &plan);
        if (r < 0)
                goto out;
        r = kiln_disk_flush(disk);
        if (r < 0)
                goto out;
        if (plan.new_last == plan.old_last) {
                /* Only the backup table was repaired; the kernel's view holds. */
                pid1_log("growpart: %s: %s", path, plan.reason);
                r = 0;
                goto out;
        }
        /* Tell the kernel without a table reread (the root is open). */
        struct blkpg_partition part = {
                .start = (long long)(plan.first * (uint64_t)ssz),
                .length = (long long)((plan.new_last - plan.first + 1) * (uint64_t)ssz),
                .pno = (int)c->partno,
        };
        struct blkpg_ioctl_arg arg = { .op = BLKPG_RESIZE_PARTITION, .datalen = sizeof(part), .data = &part };
        if (ioctl(fd, BLKPG, &arg) < 0) {
                r = kiln_errorf(-errno, "BLKPG_RESIZE_PARTITION on %s partition %u: %m", path, c->partno);
                goto out;
        }
        pid1_log("growpart: %s partition %u: %llu -> %llu sectors", path, c->partno,
                 (unsigned long long)(plan.old_last - plan.first + 1), (unsigned long long)(plan.new_last - plan.first + 1));
        r = 0;
out:
        kiln_disk_free(disk);
        close(fd);
        return r;
}

static int task_resizefs(struct ctx *c)
{
        char mnt[PATH_MAX];
        struct statfs before, after;
        uint64_t size;
        int r;

        snprintf(mnt, sizeof(mnt), "%s/", c->root);
        r = dev_size(c->root_dev, &size);
        if (r < 0)
                return r;
        int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return kiln_errorf(-errno, "cannot open %s: %m", mnt);
        if (fstatfs(fd, &before) < 0) {
                r = -errno;
                close(fd);
                return r;
        }
        uint64_t blocks = size / (uint64_t)before.f_bsize, current = 0;
        /* statfs leaves out ext4's own overhead; the superblock has the real
         * count (s_blocks_count_lo at 4, _hi at 0x150 with 64bit). */
        char devpath[300];
        uint8_t sb[1024];
        snprintf(devpath, sizeof(devpath), "/dev/%s", c->root_dev);
        int dfd = open(devpath, O_RDONLY | O_CLOEXEC);
        if (dfd >= 0 && pread(dfd, sb, sizeof(sb), 1024) == (ssize_t)sizeof(sb) && sb[0x38] == 0x53 && sb[0x39] == 0xef) {
                current = (uint64_t)sb[4] | (uint64_t)sb[5] << 8 | (uint64_t)sb[6] << 16 | (uint64_t)sb[7] << 24;
                if (sb[0x60] & 0x80) /* INCOMPAT_64BIT */
                        current |= ((uint64_t)sb[0x150] | (uint64_t)sb[0x151] << 8 | (uint64_t)sb[0x152] << 16 |
                                    (uint64_t)sb[0x153] << 24) << 32;
        }
        if (dfd >= 0)
                close(dfd);
        if (current && blocks <= current) {
                close(fd);
                return 1;
        }
        if (ioctl(fd, EXT4_IOC_RESIZE_FS, &blocks) < 0) {
                r = kiln_errorf(-errno, "EXT4_IOC_RESIZE_FS to %llu blocks: %m", (unsigned long long)blocks);
                close(fd);
                return r;
        }
        crash_point("resizefs", 1);
        fstatfs(fd, &after);
        close(fd);
        pid1_log("resizefs: /dev/%s: %llu -> %llu MiB", c->root_dev,
                 (unsigned long long)((uint64_t)before.f_blocks * (uint64_t)before.f_bsize >> 20),
                 (unsigned long long)((uint64_t)after.f_blocks * (uint64_t)after.f_bsize >> 20));
        return 0;
}

static void host_comment(struct ctx *c, char *buf, size_t len)
{
        char path[PATH_MAX], name[128] = "";
        snprintf(path, sizeof(path), "%s/etc/hostname", c->root);
        if (pid1_read_file(path, name, sizeof(name)) > 0)
                name[strcspn(name, " \t\r\n")] = 0;
        snprintf(buf, len, "root@%s", name[0] ? name : "localhost");
}

/* kiln.ssh_keytypes=ed25519,ecdsa,rsa; default ecdsa + ed25519 (RSA-3072
 * generation costs a second on real hardware, far more under emulation). */
static enum kiln_sshkey_type key_types[_KILN_SSHKEY_TYPE_MAX] = { KILN_SSHKEY_ECDSA, KILN_SSHKEY_ED25519 };
static size_t n_key_types = 2;

static void set_keytypes(const struct kiln_cmdline *cmd)
{
        char list[sizeof(cmd->ssh_keytypes)], *save = NULL;
        size_t n = 0;

        snprintf(list, sizeof(list), "%s", cmd->ssh_keytypes);
        for (char *t = strtok_r(list, ",", &save); t && n < _KILN_SSHKEY_TYPE_MAX; t = strtok_r(NULL, ",", &save)) {
                int k = kiln_sshkey_type_from_string(t);
                if (k < 0) {
                        pid1_log("kiln.ssh_keytypes: unknown key type '%s' ignored", t);
                        continue;
                }
                key_types[n++] = (enum kiln_sshkey_type)k;
        }
        if (n)
                n_key_types = n;
}

static int task_sshkeys(struct ctx *c)
{
        const enum kiln_sshkey_type *types = key_types;
        struct kiln_sshkey *keys[_KILN_SSHKEY_TYPE_MAX] = { NULL };
        char dir[PATH_MAX], comment[160];
        size_t n = 0;
        int r = 0;

        if (done_before(c, "sshkeys"))
                return 1;
        snprintf(dir, sizeof(dir), "%s/etc/ssh", c->root);
        if (access(dir, F_OK) < 0) {
                pid1_log("sshkeys: %s does not exist (no OpenSSH in the image)", dir);
                mark_done(c, "sshkeys");
                return 1;
        }
        host_comment(c, comment, sizeof(comment));
        for (size_t i = 0; i < n_key_types && r >= 0; i++) {
                r = kiln_sshkey_generate(types[i], &keys[n]);
                if (r >= 0)
                        r = kiln_sshkey_write(keys[n], dir, comment);
                if (keys[n])
                        n++;
                if (r >= 0)
                        crash_point("sshkeys", (unsigned)n);
        }
        if (r >= 0) {
                char *text = NULL;
                if (kiln_sshkey_console_text((const struct kiln_sshkey *const *)keys, n, comment, NULL, &text) >= 0) {
                        /* The block goes to the console as one write, unprefixed,
                         * exactly as people grep it from console logs. */
                        dprintf(1, "%s", text);
                        free(text);
                }
                mark_done(c, "sshkeys");
        }
        for (size_t i = 0; i < n; i++)
                kiln_sshkey_free(keys[i]);
        return r;
}

/* ---------- the root ---------- */

struct find {
        const struct kiln_root_spec *spec;
        char found[256];
};

static bool probe_matches(const char *name, const struct kiln_root_spec *s)
{
        char path[96];
        const char *v = NULL, *key = NULL;
        bool match = false;

        switch (s->kind) {
        case KILN_ROOT_UUID: key = "UUID"; break;
        case KILN_ROOT_LABEL: key = "LABEL"; break;
        case KILN_ROOT_PARTUUID: key = "PART_ENTRY_UUID"; break;
        case KILN_ROOT_PARTLABEL: key = "PART_ENTRY_NAME"; break;
        default: return false;
        }
        snprintf(path, sizeof(path), "/dev/%s", name);
        blkid_probe pr = blkid_new_probe_from_filename(path);
        if (!pr)
                return false;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_UUID | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
        if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, key, &v, NULL) == 0 && v)
                match = s->kind == KILN_ROOT_UUID || s->kind == KILN_ROOT_PARTUUID ? !strcasecmp(v, s->value)
                                                                                     : !strcmp(v, s->value);
        blkid_free_probe(pr);
        return match;
}

static int match_root(const char *name, void *ud)
{
        struct find *f = ud;
        const struct kiln_root_spec *s = f->spec;

        if (s->kind == KILN_ROOT_PATH) {
                const char *base = strrchr(s->value, '/');
                if (strcmp(base ? base + 1 : s->value, name))
                        return 0;
        } else if (s->kind == KILN_ROOT_DEVNUM) {
                char path[128], dev[32];
                snprintf(path, sizeof(path), "/sys/class/block/%s/dev", name);
                if (pid1_read_file(path, dev, sizeof(dev)) <= 0)
                        return 0;
                unsigned ma, mi;
                if (sscanf(dev, "%u:%u", &ma, &mi) != 2 || ma != s->major || mi != s->minor)
                        return 0;
        } else if (!probe_matches(name, s)) {
                return 0;
        }
        snprintf(f->found, sizeof(f->found), "%s", name);
        return 1;
}

static void find_disk(struct ctx *c)
{
        char path[PATH_MAX], real[PATH_MAX], num[16];

        snprintf(path, sizeof(path), "/sys/class/block/%s/partition", c->root_dev);
        if (pid1_read_file(path, num, sizeof(num)) <= 0)
                return; /* a whole disk */
        c->partno = (unsigned)strtoul(num, NULL, 10);
        snprintf(path, sizeof(path), "/sys/class/block/%s", c->root_dev);
        if (!realpath(path, real))
                return;
        char *slash = strrchr(real, '/');
        if (!slash)
                return;
        *slash = 0;
        slash = strrchr(real, '/');
        snprintf(c->disk_dev, sizeof(c->disk_dev), "%.255s", slash ? slash + 1 : real);
}

/* ---------- checking the root before any write ---------- */

static void no_writes(struct ctx *c, const char *fmt, ...) _printf_(2, 3);
static void no_writes(struct ctx *c, const char *fmt, ...)
{
        va_list ap;

        c->no_writes = true;
        va_start(ap, fmt);
        vsnprintf(c->no_writes_why, sizeof(c->no_writes_why), fmt, ap);
        va_end(ap);
}

/* The root's superblock, read from the device itself (not through a mount,
 * and with no libext2fs in kiln-init). */
static int read_superblock(const char *dev, struct kiln_ext4_sb *ret)
{
        uint8_t buf[KILN_EXT4_SB_SIZE];
        int fd = open(dev, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return kiln_errorf(-errno, "cannot open %s: %m", dev);
        ssize_t n = pread(fd, buf, sizeof(buf), KILN_EXT4_SB_OFFSET);
        int err = errno;
        close(fd);
        if (n != (ssize_t)sizeof(buf))
                return kiln_errorf(n < 0 ? -err : -EIO, "cannot read the superblock of %s: %s", dev,
                                   n < 0 ? strerror(err) : "short read");
        return kiln_ext4_sb_parse(buf, sizeof(buf), ret);
}

/* What e2fsck's exit status says (e2fsck(8): the bits are or'ed). */
static const char *e2fsck_meaning(int st)
{
        if (st >= 256)
                return "killed by a signal";
        if (st & 128)
                return "shared-library error";
        if (st & 32)
                return "cancelled by the user";
        if (st & 16)
                return "usage or syntax error";
        if (st & 8)
                return "operational error";
        if (st & 4)
                return "errors left uncorrected";
        if (st & 2)
                return "errors corrected, the system should be rebooted";
        if (st & 1)
                return "errors corrected";
        return "clean";
}

/*
 * Before the root is mounted, and so before anything writes to it: when its
 * superblock says it has errors, or it was not cleanly unmounted and the
 * initramfs has an e2fsck, run `e2fsck -p` on the device (e2fsck refuses a
 * mounted filesystem other than "/", and mounting would already replay the
 * journal).  Writing stays off when errors remain or e2fsck fails.
 */
static void check_root(struct ctx *c, const char *dev, const char *fstype)
{
        struct kiln_ext4_sb sb;
        char what[160];
        int st, r;

        if (strcmp(fstype, "ext4") && strcmp(fstype, "ext3") && strcmp(fstype, "ext2")) {
                pid1_log("fsck: %s is %s, not checked (ext2/3/4 only)", dev, fstype);
                return;
        }
        kiln_clear_error();
        if (read_superblock(dev, &sb) < 0) {
                /* Not ext2/3/4: mounting it as such fails next. */
                pid1_log("fsck: %s: %s; not checked", dev, kiln_last_error());
                return;
        }
        kiln_ext4_sb_describe(&sb, what, sizeof(what));
        if (sb.clean) {
                pid1_log("fsck: %s is clean", dev);
                return;
        }
        if (access(E2FSCK, X_OK) < 0) {
                if (sb.has_errors)
                        no_writes(c, "%s is %s, and this initramfs has no e2fsck (the rootfs has none), so fsck was not possible",
                                  dev, what);
                else
                        pid1_log("fsck: %s is %s; this initramfs has no e2fsck (the rootfs has none): the kernel replays the journal when it mounts it",
                                 dev, what);
                return;
        }
        /* -f: an error count alone does not make e2fsck -p check. */
        const char *argv[5] = { E2FSCK, "-p" };
        size_t n = 2;
        if (sb.has_errors)
                argv[n++] = "-f";
        argv[n++] = dev;
        argv[n] = NULL;
        pid1_log("fsck: %s is %s: running e2fsck -p%s %s", dev, what, sb.has_errors ? " -f" : "", dev);
        uint64_t t0 = pid1_now_ms();
        kiln_clear_error();
        r = pid1_run(argv, &st);
        if (r < 0) {
                if (sb.has_errors)
                        no_writes(c, "%s is %s, and e2fsck could not run: %s", dev, what, kiln_last_error());
                else
                        pid1_log("fsck: %s; the kernel replays the journal when it mounts %s", kiln_last_error(), dev);
                return;
        }
        pid1_log("fsck: e2fsck -p %s: exit status %d (%s) after %llu ms", dev, st, e2fsck_meaning(st),
                 (unsigned long long)(pid1_now_ms() - t0));
        if (st >= 4) {
                no_writes(c, "e2fsck -p %s exited with %d (%s)", dev, st, e2fsck_meaning(st));
                return;
        }
        if (st & 2) {
                pid1_log("fsck: rebooting, as e2fsck asks");
                sync();
                reboot(RB_AUTOBOOT);
                pid1_log("fsck: cannot reboot: %s; going on", strerror(errno));
        }
        kiln_clear_error();
        if (read_superblock(dev, &sb) < 0) {
                no_writes(c, "after e2fsck: %s", kiln_last_error());
        } else if (sb.has_errors) {
                kiln_ext4_sb_describe(&sb, what, sizeof(what));
                no_writes(c, "e2fsck -p left %s %s", dev, what);
        }
}

/* After the read-only mount, which may have replayed the journal: still no
 * errors?  (ext2/3/4 only; the superblock is read from the device.) */
static void recheck_root(struct ctx *c, const char *dev, const char *fstype)
{
        struct kiln_ext4_sb sb;
        char what[160];

        if (c->no_writes || (strcmp(fstype, "ext4") && strcmp(fstype, "ext3") && strcmp(fstype, "ext2")))
                return;
        if (read_superblock(dev, &sb) == 0 && sb.has_errors) {
                kiln_ext4_sb_describe(&sb, what, sizeof(what));
                no_writes(c, "%s is %s after its read-only mount", dev, what);
        }
}

/* A candidate read from DMI, without its trailing white space, when it is a
 * valid instance id. */
static bool dmi_id(const char *file, char *buf, size_t len)
{
        if (pid1_read_file(file, buf, len) <= 0)
                return false;
        buf[strcspn(buf, " \t\r\n")] = 0;
        return kiln_instance_id_valid(buf);
}

/* The instance id, kept as it is (kiln_instance_id_valid()'s rule): the
 * state folder's name is derived from it in open_state(). */
static void instance_id(struct ctx *c)
{
        char buf[KILN_INSTANCE_ID_MAX + 2] = "";
        const char *ds_id = c->ci.have_instance ? c->ci.instance.instance_id : NULL;

        /* kiln.instance_id= (the command line parser keeps it valid); the
         * datasource's word, as cloud-init takes it (its parsers keep it
         * valid); then EC2 Nitro's board asset tag, then the SMBIOS UUID. */
        if (c->cmd.instance_id[0] && kiln_instance_id_valid(c->cmd.instance_id)) {
                snprintf(buf, sizeof(buf), "%s", c->cmd.instance_id);
        } else if (ds_id && kiln_instance_id_valid(ds_id)) {
                snprintf(buf, sizeof(buf), "%s", ds_id);
        } else if (dmi_id("/sys/class/dmi/id/board_asset_tag", buf, sizeof(buf)) && !strncmp(buf, "i-", 2)) {
                /* buf holds it */
        } else if (dmi_id("/sys/class/dmi/id/product_uuid", buf, sizeof(buf))) {
                for (char *p = buf; *p; p++)
                        *p = (char)tolower((unsigned char)*p);
        } else {
                snprintf(buf, sizeof(buf), "unknown");
        }
        snprintf(c->instance_id, sizeof(c->instance_id), "%s", buf);
        /* The user data's modules stage into the folder of the datasource's
         * id; with kiln.instance_id= that must be this id too, or the
         * stages, which read /var/lib/kiln/instance-id, would not find what
         * was staged. */
        if (ds_id && strcmp(ds_id, c->instance_id)) {
                char *copy = strdup(c->instance_id);
                if (copy) {
                        pid1_log("instance %s: kiln.instance_id= replaces the datasource's '%s'", copy, ds_id);
                        free(c->ci.instance.instance_id);
                        c->ci.instance.instance_id = copy;
                }
        }
}

static void mkdirs(const char *path, mode_t mode)
{
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s", path);
        for (char *p = tmp + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        mkdir(tmp, mode);
                        *p = '/';
                }
        mkdir(tmp, mode);
}

/* Where per-instance markers live; a new instance id means a new folder. */
static void open_state(struct ctx *c)
{
        char path[PATH_MAX], prev[KILN_INSTANCE_ID_MAX + 2] = "", name[KILN_INSTANCE_DIR_NAME_MAX + 1], where[320] = "";
        struct stat st;
        int r;

        instance_id(c);
        kiln_clear_error();
        r = kiln_instance_dir_name(c->instance_id, name);
        if (r < 0) {
                /* instance_id() keeps the id valid: not reached. */
                pid1_log("instance %s: %s; using 'unknown'", c->instance_id, kiln_last_error());
                snprintf(c->instance_id, sizeof(c->instance_id), "unknown");
                snprintf(name, sizeof(name), "unknown");
        } else if (r > 0) {
                snprintf(where, sizeof(where), ", its folder " STATE_DIR "/instances/%s", name);
        }
        snprintf(c->state, sizeof(c->state), "%s" STATE_DIR "/instances/%s", c->root, name);
        mkdirs(c->state, 0755);
        if (stat(c->state, &st) < 0 || !S_ISDIR(st.st_mode))
                pid1_log("cannot make %s: the tasks done once per instance cannot be recorded and run again next boot",
                         c->state);
        snprintf(path, sizeof(path), "%s" STATE_DIR "/instance-id", c->root);
        pid1_read_file(path, prev, sizeof(prev));
        prev[strcspn(prev, "\n")] = 0;
        c->new_instance = strcmp(prev, c->instance_id) != 0;
        pid1_log("instance %s (%s)%s", c->instance_id, c->new_instance ? "new: first boot" : "seen before", where);
}

/* The instance counts as seen once its tasks ran: a first boot cut short
 * is still a first boot the next time, and so is one whose record cannot
 * be written (instance-id then keeps the previous instance). */
static void commit_state(struct ctx *c)
{
        char path[PATH_MAX], line[KILN_INSTANCE_ID_MAX + 2];

        if (!c->new_instance)
                return;
        snprintf(path, sizeof(path), "%s" STATE_DIR "/instance-id", c->root);
        snprintf(line, sizeof(line), "%s\n", c->instance_id);
        kiln_clear_error();
        if (kiln_state_write(path, line, strlen(line)) < 0) {
                c->failed++;
                pid1_log("instance %s: NOT recorded, so the next boot is its first boot again: %s", c->instance_id,
                         kiln_last_error());
        }
}

static void save_log(struct ctx *c)
{
        char path[PATH_MAX];
        size_t len;
        const char *text = pid1_log_text(&len);

        snprintf(path, sizeof(path), "%s/var/log", c->root);
        mkdirs(path, 0755);
        snprintf(path, sizeof(path), "%s/var/log/kiln-init.log", c->root);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
        if (fd < 0)
                return;
        if (write(fd, text, len) < 0)
                pid1_log("cannot write %s: %s", path, strerror(errno));
        fsync(fd);
        close(fd);
}

static int task_datasource(struct ctx *c)
{
        int r = kiln_ci_fetch(&c->ci, &c->cmd);
        return r < 0 ? r : c->ci.have_instance ? 0 : 1;
}

static int task_userdata(struct ctx *c)
{
        if (!c->ci.have_instance)
                return 1;
        bool first = c->new_instance || !done_before(c, "userdata");
        int failed = kiln_ci_apply(&c->ci, c->root, c->state, first);
        /* The modules do not fsync file by file (a host flush each, under
         * emulation); what they wrote reaches the disk before it counts as
         * done, and a power cut before that applies it all again. */
        int fd = open(c->root[0] ? c->root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                if (syncfs(fd) < 0)
                        pid1_log("userdata: syncfs: %s", strerror(errno));
                close(fd);
        }
        if (first)
                mark_done(c, "userdata");
        return failed ? kiln_errorf(-EIO, "%d module%s failed (see above)", failed, failed == 1 ? "" : "s") : 0;
}

/* The user data's ssh_genkeytypes and ssh_keys reshape the key list. */
static void userdata_keytypes(struct ctx *c)
{
        static const struct { enum kiln_sshkey_type t; unsigned bit; } map[] = {
                { KILN_SSHKEY_ECDSA, KILN_HOSTKEY_ECDSA },
                { KILN_SSHKEY_ED25519, KILN_HOSTKEY_ED25519 },
                { KILN_SSHKEY_RSA, KILN_HOSTKEY_RSA },
        };
        unsigned mask = 0;

        for (size_t i = 0; i < n_key_types; i++)
                for (size_t k = 0; k < ARRAY_SIZE(map); k++)
                        if (map[k].t == key_types[i])
                                mask |= map[k].bit;
        unsigned want = kiln_ci_keytypes(&c->ci, mask);
        if (want == mask)
                return;
        n_key_types = 0;
        for (size_t k = 0; k < ARRAY_SIZE(map); k++)
                if (want & map[k].bit)
                        key_types[n_key_types++] = map[k].t;
}

static int task_network(struct ctx *c)
{
        return kiln_ci_network(&c->ci, c->root, c->instance_id);
}

static void run_tasks(struct ctx *c)
{
        open_state(c);
        if (kiln_ci_resize_off(&c->ci))
                pid1_log("task resizefs: skipped (resize_rootfs: false)");
        else
                run_task(c, "resizefs", task_resizefs);
        kiln_ci_load_image_config(&c->ci, c->root);
        run_task(c, "userdata", task_userdata);
        run_task(c, "network", task_network);
        userdata_keytypes(c);
        run_task(c, "sshkeys", task_sshkeys);
        commit_state(c);
}

static int firstboot_main(void)
{
        struct ctx c = { .root = "" };
        struct stat st;
        char cmd[KILN_CMDLINE_MAX + 1];

        pid1_read_file("/proc/cmdline", cmd, sizeof(cmd));
        kiln_cmdline_parse(cmd, strlen(cmd), &c.cmd);
        set_keytypes(&c.cmd);
        /* The root's device, from the mount of "/". */
        if (stat("/", &st) == 0) {
                char path[96], real[PATH_MAX];
                snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
                if (realpath(path, real)) {
                        char *b = strrchr(real, '/');
                        snprintf(c.root_dev, sizeof(c.root_dev), "%.255s", b ? b + 1 : real);
                }
        }
        find_disk(&c);
        run_task(&c, "growpart", task_growpart);
        run_tasks(&c);
        save_log(&c);
        return c.failed ? 1 : 0;
}

/* `kiln-init --stage boot|final`: the user data's scripts, in the booted
 * system (kiln-bootcmd.service, kiln-userdata.service, or an init's hook). */
static int stage_main(const char *stage)
{
        if (strcmp(stage, "boot") && strcmp(stage, "final")) {
                fprintf(stderr, "kiln-init: unknown stage '%s' (expected boot or final)\n", stage);
                return 2;
        }
        struct kiln_stage_opts o = { .root = "/", .console = "/dev/console" };
        int r = kiln_stage_run(stage, &o);
        if (r < 0) {
                fprintf(stderr, "kiln-init: stage %s: %s\n", stage, kiln_last_error());
                return 1;
        }
        return r ? 1 : 0;
}

int main(int argc, char **argv)
{
        struct ctx c = { .root = NEWROOT };
        char cmd[KILN_CMDLINE_MAX + 1];
        uint64_t t0 = pid1_now_ms();
        unsigned loaded = 0;
        struct utsname un;

        /* As PID 1, argv is the kernel's arguments for init, never options
         * of this program: "-- --firstboot" on the command line must not
         * make PID 1 return (and the kernel panic). */
        if (getpid() != 1 && argc > 1 && !strcmp(argv[1], "--firstboot"))
                return firstboot_main();
        if (getpid() != 1 && argc > 2 && !strcmp(argv[1], "--stage"))
                return stage_main(argv[2]);
        if (getpid() != 1) {
                fprintf(stderr, "kiln-init: not PID 1; use --firstboot inside a booted system\n");
                return 2;
        }
        pid1_mount_basics();
        pid1_read_file("/proc/cmdline", cmd, sizeof(cmd));
        kiln_cmdline_parse(cmd, strlen(cmd), &c.cmd);
        pid1_log_open(c.cmd.debug);
        set_test_crash(&c.cmd);
        set_keytypes(&c.cmd);
        pid1_log("kiln-init %s starting", KILN_VERSION);
        if (c.cmd.problem[0])
                pid1_log("kernel command line: %s", c.cmd.problem);

        uname(&un);
        char list[PATH_MAX];
        snprintf(list, sizeof(list), "/lib/modules/%s/kiln.load", un.release);
        uint64_t tm = pid1_now_ms();
        pid1_load_modules(list, &loaded);
        pid1_log("task modules: ok in %llu ms (%u loaded)", (unsigned long long)(pid1_now_ms() - tm), loaded);

        if (c.cmd.root.kind == KILN_ROOT_NONE || c.cmd.root.kind == KILN_ROOT_INVALID)
                pid1_emergency("no usable root= on the kernel command line");
        struct find f = { .spec = &c.cmd.root };
        int wait_ms = DEFAULT_ROOT_WAIT_MS;
        if (c.cmd.rootwait)
                wait_ms = c.cmd.rootwait_timeout >= 0 ? c.cmd.rootwait_timeout * 1000 : -1;
        if (c.cmd.rootdelay > 0)
                wait_ms = c.cmd.rootdelay * 1000;
        tm = pid1_now_ms();
        if (pid1_wait_block(match_root, &f, wait_ms) < 0) {
                char why[512];
                snprintf(why, sizeof(why), "root device root=%s did not appear within %d s", c.cmd.root.raw,
                         wait_ms / 1000);
                pid1_emergency(why);
        }
        snprintf(c.root_dev, sizeof(c.root_dev), "%s", f.found);
        pid1_log("task root: ok in %llu ms (/dev/%s)", (unsigned long long)(pid1_now_ms() - tm), c.root_dev);
        find_disk(&c);
        run_task(&c, "datasource", task_datasource);

        char dev[300];
        snprintf(dev, sizeof(dev), "/dev/%s", c.root_dev);
        const char *fstype = c.cmd.rootfstype[0] ? c.cmd.rootfstype : "ext4";
        /* Nothing writes to the root's disk before its filesystem is checked. */
        check_root(&c, dev, fstype);
        if (!c.no_writes) {
                if (kiln_ci_growpart_off(&c.ci))
                        pid1_log("task growpart: skipped (growpart: mode off)");
                else
                        run_task(&c, "growpart", task_growpart);
        }
        mkdir(NEWROOT, 0755);
        /* Read-only first; read-write only when writing is allowed. */
        if (mount(dev, NEWROOT, fstype, MS_RDONLY, c.cmd.rootflags[0] ? c.cmd.rootflags : NULL) < 0) {
                char why[512];
                snprintf(why, sizeof(why), "cannot mount %s (%s) on " NEWROOT ": %s", dev, fstype, strerror(errno));
                pid1_emergency(why);
        }
        pid1_log("root: %s mounted read-only on " NEWROOT, dev);
        recheck_root(&c, dev, fstype);
        if (!c.no_writes) {
                if (mount(NULL, NEWROOT, NULL, MS_REMOUNT, NULL) < 0)
                        no_writes(&c, "cannot remount %s read-write: %s", dev, strerror(errno));
                else
                        pid1_log("root: %s remounted read-write for the tasks", dev);
        }
        if (c.no_writes)
                pid1_log("kiln-init: NOT writing to the root: %s; skipping growpart, resizefs, userdata, network, "
                         "sshkeys, the instance record and /var/log/kiln-init.log, and handing the root over read-only",
                         c.no_writes_why);
        /* /run goes into the new root now rather than at switch_root, so
         * that what the first-boot modules put there (the units, bootcmd,
         * this binary for the stages) lands on the tmpfs the system keeps. */
        mkdir(NEWROOT "/run", 0755);
        if (mount("/run", NEWROOT "/run", NULL, MS_MOVE, NULL) < 0)
                pid1_log("cannot move /run into the root: %s", strerror(errno));
        if (!c.no_writes)
                run_tasks(&c);
        pid1_log("kiln-init: %s finished in %llu ms%s%s", c.new_instance ? "first boot" : "boot",
                 (unsigned long long)(pid1_now_ms() - t0), c.failed ? " (with failed tasks, see above)" : "",
                 c.no_writes ? " (the root was not written, see above)" : "");
        if (!c.no_writes) {
                save_log(&c);
                if (c.cmd.rw != KILN_RW_RW && mount(NULL, NEWROOT, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
                        pid1_log("cannot remount the root read-only: %s", strerror(errno));
        } else if (c.cmd.rw == KILN_RW_RW) {
                pid1_log("root: stays read-only despite rw on the kernel command line, for the image's fsck");
        }
        if (c.cmd.brk) {
                /* kiln.break: a look around before the hand-over, when the
                 * initramfs has a shell (kiln's own has none). */
                if (access("/bin/sh", X_OK) == 0) {
                        pid1_log("kiln.break: starting /bin/sh; exit it to continue the boot");
                        pid_t pid = fork();
                        if (pid == 0) {
                                char *const sh[] = { (char *)"/bin/sh", NULL };
                                execv("/bin/sh", sh);
                                _exit(127);
                        }
                        if (pid > 0)
                                waitpid(pid, NULL, 0);
                } else {
                        pid1_log("kiln.break: no shell in this initramfs; going on");
                }
        }
        const char *init = c.cmd.init[0] ? c.cmd.init : "/sbin/init";
        /* The kernel's arguments for init ("single", what follows "--") are
         * this program's own: they go on to the real init as they came. */
        if (argc > 1) {
                char shown[512] = "";
                size_t l = 0;
                for (int i = 1; i < argc && l < sizeof(shown); i++)
                        l += (size_t)snprintf(shown + l, sizeof(shown) - l, " %s", argv[i]);
                pid1_log("init: %s with the kernel's arguments for init:%s", init, shown);
        }
        int r = pid1_switch_root(NEWROOT, init, (const char *const *)argv + 1);
        char why[512];
        snprintf(why, sizeof(why), "switch_root to %s failed: %s", init, strerror(-r));
        pid1_emergency(why);
}
