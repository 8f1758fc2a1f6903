/* SPDX-License-Identifier: MIT */
/*
 * cloud-init-lite/mkfs.c, kiln-init's own mkfs for the instance store, on
 * sparse files: the file system passes e2fsck -fn; dumpe2fs -h shows the
 * fields mke2fs's ext4 defaults give (compared with the host's mke2fs -t ext4
 * on a file of the same size, when it has one); libblkid finds it by its
 * label; the inode tables are left to the kernel (no group marked
 * ITABLE_ZEROED) and a 75 GiB store is made in seconds, writing little.
 * Errors: too small, no such device, a label over 16 bytes.  Then the boot
 * stage (kiln_stage_run "boot") on a root in a temporary folder: a blank
 * store in "format" is made ext4 with no mkfs.ext4 in the root and mounted
 * with the root's mount(8); at the next boot it is left alone; a store that
 * cannot be made is logged and its mount skipped, and neither it nor a
 * missing nofail volume fails the stage.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "apply.h"
#include "mkfs.h"
#include "util.h"

static char base[] = "/tmp/kiln-test-mkfs-XXXXXX";

#define MiB (1024ull * 1024)
#define GiB (1024ull * MiB)

/* ---- helpers -------------------------------------------------------------- */

static char *path_of(const char *rel)
{
        static char buf[8][4096];
        static int i;
        char *p = buf[i++ % 8];

        snprintf(p, 4096, "%s/%s", base, rel);
        return p;
}

/* A sparse file of size bytes. */
static char *sparse(const char *name, uint64_t size)
{
        char *path = strdup(path_of(name));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
                tap_diag("cannot make %s: %m", path);
        if (fd >= 0)
                close(fd);
        return path;
}

static void put(const char *rel, const char *text)
{
        char *path = path_of(rel), cmd[4200];
        FILE *f;

        snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
        if (system(cmd) != 0)
                tap_diag("cannot make the folder of %s", path);
        f = fopen(path, "we");
        if (!f) {
                tap_diag("cannot write %s: %m", path);
                return;
        }
        fputs(text, f);
        fclose(f);
}

static char *slurp(const char *path)
{
        uint8_t *data = NULL;
        size_t len = 0;

        if (read_full_file(path, 1u << 24, &data, &len) < 0)
                return NULL;
        return (char *)data;
}

/* A command's standard output (stderr dropped), or NULL when it failed. */
static char *run_out(const char *cmd)
{
        char *buf = NULL;
        size_t len = 0, n;
        char chunk[4096];
        FILE *p = popen(cmd, "re");
        FILE *m = open_memstream(&buf, &len);

        if (!p || !m) {
                if (p)
                        pclose(p);
                if (m)
                        fclose(m);
                free(buf);
                return NULL;
        }
        while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
                fwrite(chunk, 1, n, m);
        fclose(m);
        if (pclose(p) != 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* The value of "Field:" in dumpe2fs -h output, trimmed; malloc'd or NULL. */
static char *field(const char *dump, const char *name)
{
        size_t n = strlen(name);

        for (const char *p = dump; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                if (strncmp(p, name, n) || p[n] != ':')
                        continue;
                const char *v = p + n + 1, *e;
                while (*v == ' ' || *v == '\t')
                        v++;
                e = strchr(v, '\n');
                if (!e)
                        e = v + strlen(v);
                while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                        e--;
                return strndup(v, (size_t)(e - v));
        }
        return NULL;
}

static void is_field(const char *dump, const char *name, const char *expected, const char *what)
{
        char *v = field(dump, name);

        if (!ok(v && !strcmp(v, expected), "%s", what))
                tap_diag("  %s: got '%s', expected '%s'", name, v ? v : "(none)", expected);
        free(v);
}

static bool have(const char *prog)
{
        char cmd[256];

        snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH command -v %s >/dev/null 2>&1", prog);
        return system(cmd) == 0;
}

static char *dumpe2fs(const char *path)
{
        char cmd[4200];

        snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH dumpe2fs -h '%s' 2>/dev/null", path);
        return run_out(cmd);
}

/* ---- the file system ------------------------------------------------------- */

static void test_small(void)
{
        struct kiln_mkfs_result res;
        char *img = sparse("small.img", 256 * MiB);
        int r;

        r = kiln_mkfs_ext4(img, "ephemeral0", &res);
        ok(r == 0, "256 MiB file made ext4 (%s)", r < 0 ? kiln_last_error() : "");
        is_int(res.block_size, 4096, "4 KiB blocks");
        is_int(res.blocks, 65536, "every block of the file");
        is_int(res.inodes, 256 * MiB / 16384, "one inode per 16 KiB, as mke2fs");

        /* libblkid, as the boot stage's probe and mount(8) see it */
        blkid_probe pr = blkid_new_probe_from_filename(img);
        const char *type = NULL, *label = NULL;
        bool found = pr && blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 &&
                     blkid_probe_lookup_value(pr, "LABEL", &label, NULL) == 0;
        ok(found && !strcmp(type, "ext4") && !strcmp(label, "ephemeral0"), "libblkid: TYPE ext4, LABEL ephemeral0 (%s, %s)",
           type ? type : "-", label ? label : "-");
        if (pr)
                blkid_free_probe(pr);

        if (!have("e2fsck") || !have("dumpe2fs")) {
                tap_skip("e2fsprogs not installed: no e2fsck -fn, no dumpe2fs");
                return;
        }
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH e2fsck -fn '%s' >'%s' 2>&1", img, path_of("fsck.out"));
        int st = system(cmd);
        if (!ok(st == 0, "e2fsck -fn: clean"))
                tap_diag("%s", slurp(path_of("fsck.out")));

        char *d = dumpe2fs(img);
        ok(d != NULL, "dumpe2fs -h reads it");
        char *feat = field(d, "Filesystem features");
        ok(feat && !strcmp(feat, "has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg "
                                 "sparse_super large_file huge_file dir_nlink extra_isize metadata_csum"),
           "features: kiln's root's, mke2fs's ext4 (%s)", feat ? feat : "-");
        is_field(d, "Filesystem volume name", "ephemeral0", "label ephemeral0");
        is_field(d, "Inode size", "256", "256-byte inodes");
        is_field(d, "Flex block group size", "16", "flex_bg of 16");
        is_field(d, "Reserved block count", "3276", "5% reserved for root");
        is_field(d, "Default mount options", "user_xattr acl", "default mount options user_xattr acl");
        /* mke2fs says signed on x86, unsigned on arm64 (its build host's char);
         * kiln says unsigned everywhere, as for its root: the kernel reads the flag. */
        is_field(d, "Filesystem flags", "unsigned_directory_hash", "directory hash flagged unsigned");
        is_field(d, "Maximum mount count", "-1", "no periodic check by count");
        char *v = field(d, "Filesystem UUID");
        ok(v && strlen(v) == 36 && strcmp(v, "00000000-0000-0000-0000-000000000000"), "a random UUID (%s)", v ? v : "-");
        free(v);

        free(d);
        free(feat);
        unlink(img);
        free(img);
}

/*
 * 2 GiB made by kiln and by the host's mke2fs -t ext4 (Debian 12's
 * mke2fs.conf): the fields mke2fs's defaults decide for a store (a "default"
 * type, not "small": over 512 MiB) are the same.
 */
static void test_as_mke2fs(void)
{
        char cmd[4200];
        char *img = sparse("same.img", 2 * GiB), *d;
        int r;

        r = kiln_mkfs_ext4(img, "ephemeral0", NULL);
        ok(r == 0, "2 GiB made ext4 (%s)", r < 0 ? kiln_last_error() : "");
        if (!have("dumpe2fs") || !(d = dumpe2fs(img))) {
                tap_skip("no dumpe2fs");
                return;
        }
        if (have("mke2fs")) {
                char *ref = sparse("ref.img", 2 * GiB);
                snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH MKE2FS_CONFIG=/etc/mke2fs.conf mke2fs -q -F -t ext4 -L ephemeral0 '%s' >/dev/null 2>&1", ref);
                if (system(cmd) == 0) {
                        char *rd = dumpe2fs(ref);
                        static const char *const same[] = {
                                "Filesystem features", "Inode count", "Block count", "Reserved block count",
                                "Block size", "Inode size", "Blocks per group", "Inodes per group",
                                "Flex block group size", "Reserved GDT blocks", "Total journal blocks",
                                "Journal features",
                                "Default mount options", "Required extra isize", "Desired extra isize",
                                "Default directory hash", "Checksum type", "Maximum mount count",
                        };
                        for (size_t i = 0; i < ARRAY_SIZE(same); i++) {
                                char *a = field(d, same[i]), *b = field(rd, same[i]);
                                if (!ok(a && b && !strcmp(a, b), "as mke2fs -t ext4: %s", same[i]))
                                        tap_diag("  kiln: '%s', mke2fs: '%s'", a ? a : "-", b ? b : "-");
                                free(a);
                                free(b);
                        }
                        free(rd);
                } else {
                        tap_skip("the host's mke2fs -t ext4 failed: nothing to compare with");
                }
                unlink(ref);
                free(ref);
        } else {
                tap_skip("no mke2fs on the host: nothing to compare with");
        }
        free(d);
        unlink(img);
        free(img);
}

/* 75 GiB, an m5d.large's store: lazy inode tables, so seconds and few bytes written. */
static void test_large(void)
{
        struct kiln_mkfs_result res;
        struct timespec t0, t1;
        struct stat st;
        char *img = sparse("large.img", 75 * GiB);
        int r;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = kiln_mkfs_ext4(img, "ephemeral0", &res);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        ok(r == 0, "75 GiB made ext4 (%s)", r < 0 ? kiln_last_error() : "");
        ok(secs < 20, "in seconds: %.2f s", secs);
        /* The journal's 512 MiB are zeroed with fallocate (unwritten extents, counted here). */
        bool st_ok = stat(img, &st) == 0;
        ok(st_ok && (uint64_t)st.st_blocks * 512 < 1 * GiB,
           "little written: %llu MiB allocated of 75 GiB (inode tables left to the kernel)",
           st_ok ? (unsigned long long)st.st_blocks * 512 / MiB : 0ull);
        is_int(res.journal_blocks, 131072, "mke2fs's default journal for 75 GiB: 512 MiB");
        if (have("dumpe2fs")) {
                char cmd[4200];
                snprintf(cmd, sizeof(cmd),
                         "PATH=/usr/sbin:/sbin:$PATH dumpe2fs '%s' 2>/dev/null | grep -c '^Group [0-9]*:.*ITABLE_ZEROED'", img);
                char *n = run_out(cmd);
                /* grep -c exits 1 on no match: run_out gives NULL, which is what we want */
                ok(!n || atoi(n) == 0, "no group's inode table marked zeroed: ext4lazyinit's job (%s)", n ? n : "0");
                free(n);
                snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH dumpe2fs '%s' 2>/dev/null | grep -c '^Group [0-9]*:.*INODE_UNINIT'", img);
                n = run_out(cmd);
                if (n)
                        n[strcspn(n, "\n")] = 0;
                ok(n && atoi(n) >= 590, "groups without inodes marked INODE_UNINIT (%s of 600)", n ? n : "none");
                free(n);
        } else {
                tap_skip("no dumpe2fs");
        }
        if (have("e2fsck")) {
                char cmd[4200];
                snprintf(cmd, sizeof(cmd), "PATH=/usr/sbin:/sbin:$PATH e2fsck -fn '%s' >'%s' 2>&1", img, path_of("fsck2.out"));
                if (!ok(system(cmd) == 0, "e2fsck -fn: clean"))
                        tap_diag("%s", slurp(path_of("fsck2.out")));
        } else {
                tap_skip("no e2fsck");
        }
        unlink(img);
        free(img);
}

static void test_errors(void)
{
        char *img = sparse("tiny.img", 4 * MiB);
        int r;

        r = kiln_mkfs_ext4(img, "ephemeral0", NULL);
        ok(r == -ENOSPC && strstr(kiln_last_error(), img) && strstr(kiln_last_error(), "too small"),
           "4 MiB: too small (%s)", kiln_last_error());
        r = kiln_mkfs_ext4(path_of("no/such/device"), "ephemeral0", NULL);
        ok(r == -ENOENT && strstr(kiln_last_error(), "no/such/device"), "no such device (%s)", kiln_last_error());
        free(img);
        img = sparse("label.img", 64 * MiB);
        r = kiln_mkfs_ext4(img, "a-label-of-17-byt", NULL);
        ok(r == -EINVAL && strstr(kiln_last_error(), "16 bytes"), "label over 16 bytes refused (%s)", kiln_last_error());
        r = kiln_mkfs_ext4(img, "sixteen-bytes-ok", NULL);
        ok(r == 0, "a 16-byte label is fine (%s)", r < 0 ? kiln_last_error() : "");
        unlink(img);
        free(img);
}

/* ---- the boot stage -------------------------------------------------------- */

static int blank_only(void *ud, const char *dev)
{
        (void)ud;
        return strstr(dev, "missing-store") ? 1 : -EIO;
}

static void test_stage(void)
{
        const char *idir = "root/var/lib/kiln/instances/i-0123456789abcdef0";
        char *store = sparse("store.img", 128 * MiB), fake[512], text[8192], rel[512];
        struct kiln_stage_opts opts = { .root = strdup(path_of("root")) };
        char *log, *args;
        int r;

        put("root/var/lib/kiln/instance-id", "i-0123456789abcdef0\n");
        snprintf(rel, sizeof(rel), "%s/format", idir);
        snprintf(text, sizeof(text), "%s ephemeral0\n", store);
        put(rel, text);
        snprintf(text, sizeof(text),
                 "UUID=1 / ext4 defaults 0 1\n"
                 "%s\t/mnt\tauto\tdefaults,nofail,x-systemd.after=kiln-bootcmd.service,_netdev,comment=cloudconfig\t0\t2\n"
                 "/dev/kiln-test-no-such-volume\t/data\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2\n",
                 store);
        put("root/etc/fstab", text);
        /* the root's mount(8) records its arguments; it has no mkfs.ext4 */
        snprintf(fake, sizeof(fake), "#!/bin/sh\necho \"$@\" >> %s\n", path_of("mount.args"));
        put("root/bin/mount", fake);
        chmod(path_of("root/bin/mount"), 0755);

        r = kiln_stage_run("boot", &opts);
        is_int(r, 0, "boot stage: nothing failed");
        log = slurp(path_of("root/var/log/kiln-userdata.log"));
        snprintf(text, sizeof(text), "kiln-userdata: instance store %s: made ext4, label ephemeral0, 128.0 MiB, 8192 inodes, in ", store);
        ok(log && strstr(log, text), "blank store made ext4 by kiln-init, no mkfs.ext4 in the root");
        if (!log || !strstr(log, text))
                tap_diag("log: %s", log ? log : "(none)");
        blkid_probe pr = blkid_new_probe_from_filename(store);
        const char *type = NULL, *uuid = NULL;
        ok(pr && blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 &&
                   !strcmp(type, "ext4"),
           "the store is ext4");
        char first_uuid[64] = "";
        if (pr && blkid_probe_lookup_value(pr, "UUID", &uuid, NULL) == 0)
                snprintf(first_uuid, sizeof(first_uuid), "%s", uuid);
        if (pr)
                blkid_free_probe(pr);
        args = slurp(path_of("mount.args"));
        snprintf(text, sizeof(text), "-t auto -o defaults,nofail,x-systemd.after=kiln-bootcmd.service,_netdev,comment=cloudconfig %s %s\n",
                 store, path_of("root/mnt"));
        ok(args && !strcmp(args, text), "then mounted with the root's mount(8)");
        if (!args || strcmp(args, text))
                tap_diag("mount args: %s", args ? args : "(none)");
        ok(log && strstr(log, "mounts: /data not mounted: no device /dev/kiln-test-no-such-volume (nofail)"),
           "a missing nofail volume: logged, not mounted, not a failure");
        free(log);
        free(args);

        /* next boot: the store holds a file system; left alone */
        unlink(path_of("mount.args"));
        r = kiln_stage_run("boot", &opts);
        is_int(r, 0, "second boot: nothing failed");
        log = slurp(path_of("root/var/log/kiln-userdata.log"));
        snprintf(text, sizeof(text), "kiln-userdata: instance store %s: has a file system\n", store);
        ok(log && strstr(log, text), "second boot: the store has a file system, not made again");
        pr = blkid_new_probe_from_filename(store);
        ok(pr && blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "UUID", &uuid, NULL) == 0 &&
                   !strcmp(uuid, first_uuid),
           "same UUID as at the first boot");
        if (pr)
                blkid_free_probe(pr);
        free(log);

        /* a store that cannot be made: logged, mount skipped, not a failure */
        snprintf(text, sizeof(text), "%s ephemeral0\n", path_of("missing-store"));
        put(rel, text);
        snprintf(text, sizeof(text),
                 "%s\t/mnt\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2\n", path_of("missing-store"));
        put("root/etc/fstab", text);
        unlink(path_of("mount.args"));
        unlink(path_of("root/var/log/kiln-userdata.log"));
        opts.is_blank = blank_only;
        r = kiln_stage_run("boot", &opts);
        is_int(r, 0, "a store that cannot be made does not fail the stage");
        log = slurp(path_of("root/var/log/kiln-userdata.log"));
        snprintf(text, sizeof(text), "kiln-userdata: instance store %s: blank, but cannot make ext4: ", path_of("missing-store"));
        ok(log && strstr(log, text) && strstr(log, "; left as it is and not mounted (not a failure of the boot)\n"),
           "logged in one line with the reason");
        snprintf(text, sizeof(text), "mounts: /mnt not mounted: %s was left blank (above)", path_of("missing-store"));
        ok(log && strstr(log, text) && access(path_of("mount.args"), F_OK) < 0, "its mount skipped");
        ok(log && strstr(log, "kiln-userdata: stage boot: finished\n"), "the stage finished without failures");
        if (!log || !strstr(log, "stage boot: finished\n"))
                tap_diag("log: %s", log ? log : "(none)");
        free(log);
        free((char *)opts.root);
        unlink(store);
        free(store);
}

int main(void)
{
        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return 1;
        }
        test_small();
        test_as_mke2fs();
        test_large();
        test_errors();
        test_stage();
        if (!getenv("KILN_TEST_KEEP")) {
                char cmd[256];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
                if (system(cmd) != 0)
                        tap_diag("could not remove %s", base);
        } else {
                tap_diag("kept %s", base);
        }
        return tap_done();
}
