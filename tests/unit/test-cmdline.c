/* SPDX-License-Identifier: MIT */
/*
 * The kernel command line parser against real command lines (Debian's and
 * Ubuntu's grub.cfg, Amazon Linux), the kernel's quoting, duplicates, kiln.*
 * options, malformed values and the hard limits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tap.h"
#include "cmdline.h"
#include "util.h"

struct expect {
        const char *what, *line;
        enum kiln_root_kind root;
        const char *root_value; /* NULL: not checked */
        const char *rootfstype, *rootflags, *init;
        enum kiln_rw rw;
        bool rootwait;
        int rootdelay;
        bool debug, brk;
        const char *break_at, *instance_id;
        enum kiln_ds ds;
        const char *skip; /* comma-joined */
        unsigned ignored;
};

#define PU "8b0d6e3c-2f6e-4d8a-9c1e-7c1a3b9f0d21"
#define FU "3d2f1e6b-9a57-4c1f-8f0a-1b2c3d4e5f60"

static const struct expect cases[] = {
        { "debian 12 cloud (grub.cfg)",
          "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-cloud-amd64 root=PARTUUID=" PU " ro console=tty0 console=ttyS0,115200 "
          "earlyprintk=ttyS0,115200 consoleblank=0\n",
          KILN_ROOT_PARTUUID, PU, "", "", "", KILN_RW_RO, false, -1 },
        { "debian installed (quiet)", "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=" FU " ro quiet",
          KILN_ROOT_UUID, FU, "", "", "", KILN_RW_RO, false, -1 },
        { "ubuntu 24.04 aws",
          "BOOT_IMAGE=/boot/vmlinuz-6.8.0-1012-aws root=PARTUUID=" PU " ro console=tty1 console=ttyS0 "
          "nvme_core.io_timeout=4294967295 panic=-1",
          KILN_ROOT_PARTUUID, PU, "", "", "", KILN_RW_RO, false, -1 },
        { "ubuntu cloudimg (LABEL)",
          "BOOT_IMAGE=/boot/vmlinuz-5.15.0-91-generic root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0",
          KILN_ROOT_LABEL, "cloudimg-rootfs", "", "", "", KILN_RW_RO, false, -1 },
        { "amazon linux 2023",
          "BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-6.1.72-96.166.amzn2023.x86_64 root=UUID=" FU " ro console=tty0 "
          "console=ttyS0,115200n8 nvme_core.io_timeout=4294967295 rd.emergency=poweroff rd.shell=0 selinux=1 "
          "security=selinux quiet",
          KILN_ROOT_UUID, FU, "", "", "", KILN_RW_RO, false, -1 },
        { "raspberry-pi style, MBR PARTUUID",
          "console=serial0,115200 console=tty1 root=PARTUUID=5eed1234-02 rootfstype=ext4 fsck.repair=yes rootwait",
          KILN_ROOT_PARTUUID, "5eed1234-02", "ext4", "", "", KILN_RW_UNSET, true, -1 },
        { "PARTUUID upper case, PARTNROFF", "root=PARTUUID=8B0D6E3C-2F6E-4D8A-9C1E-7C1A3B9F0D21/PARTNROFF=1 rw",
          KILN_ROOT_PARTUUID, PU, "", "", "", KILN_RW_RW, false, -1 },
        { "PARTLABEL", "root=PARTLABEL=root rootflags=discard", KILN_ROOT_PARTLABEL, "root", "", "discard", "",
          KILN_RW_UNSET, false, -1 },
        { "quoted values",
          "root=\"LABEL=my root\" kiln.instance_id=\"i-0abc123def4567890\" \"rootflags=data=ordered,discard\" "
          "kiln.skip=\"growpart, ssh-keys\" init=\"/bin/sh -x\"",
          KILN_ROOT_LABEL, "my root", "", "data=ordered,discard", "/bin/sh -x", KILN_RW_UNSET, false, -1, false, false,
          "", "i-0abc123def4567890", KILN_DS_AUTO, "growpart,ssh-keys" },
        { "duplicates: the last wins",
          "root=/dev/vda1 ro root=/dev/nvme0n1p1 rw rootfstype=ext4 rootfstype=xfs kiln.ds=ec2 kiln.ds=nocloud "
          "rootdelay=5 rootdelay=10 kiln.instance_id=a kiln.instance_id=b",
          KILN_ROOT_PATH, "/dev/nvme0n1p1", "xfs", "", "", KILN_RW_RW, false, 10, false, false, "", "b",
          KILN_DS_NOCLOUD },
        { "kiln options, then init's",
          "kiln.debug kiln.break=pre-mount kiln.skip=growpart,resizefs,growpart kiln.ds=none root=/dev/sda1 "
          "init=/sbin/init -- single kiln.debug=0 rw",
          KILN_ROOT_PATH, "/dev/sda1", "", "", "/sbin/init", KILN_RW_UNSET, false, -1, true, true, "pre-mount", "",
          KILN_DS_NONE, "growpart,resizefs" },
        { "kiln.* booleans and dashes", "kiln.debug=yes kiln.debug=off kiln.break kiln.instance-id=nocloud-1 kiln.DS=EC2",
          KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET, false, -1, false, true, "", "nocloud-1", KILN_DS_AUTO },
        { "kiln.ds case-insensitive value", "kiln.ds=EC2 kiln.break=0", KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET,
          false, -1, false, false, "", "", KILN_DS_EC2 },
        { "malformed values are ignored, earlier ones kept",
          "rootdelay=3 rootdelay=abc kiln.ds=azure kiln.instance_id=../etc kiln.skip=ok kiln.skip=a/b kiln.debug=maybe "
          "rootwait=forever rootdelay=99999",
          KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET, false, 3, false, false, "", "", KILN_DS_AUTO, "ok", 7 },
        { "root= not understood", "root=PARTUUID=nothex ro", KILN_ROOT_INVALID, "", "", "", "", KILN_RW_RO, false, -1,
          false, false, "", "", KILN_DS_AUTO, "", 1 },
        { "bare device name", "root=sda1", KILN_ROOT_PATH, "/dev/sda1", "", "", "", KILN_RW_UNSET, false, -1 },
        { "MAJ:MIN", "root=259:1 rootwait=30", KILN_ROOT_DEVNUM, "259:1", "", "", "", KILN_RW_UNSET, true, -1 },
        { "an empty root= clears", "root=/dev/sda1 root=", KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET, false, -1 },
        { "kiln.skip= clears", "kiln.skip=a,b kiln.skip=", KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET, false, -1,
          false, false, "", "", KILN_DS_AUTO, "" },
        { "ro=1 is not ro (nor for the kernel)", "ro=1 rw=yes rootwait=", KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET,
          false, -1, false, false, "", "", KILN_DS_AUTO, "", 1 },
        { "tabs and newlines are white space", "\t ro\trootwait\n root=/dev/vda1\n\n", KILN_ROOT_PATH, "/dev/vda1", "",
          "", "", KILN_RW_RO, true, -1 },
        { "an unterminated quote runs to the end", "root=\"LABEL=x ro rootwait", KILN_ROOT_LABEL, "x ro rootwait", "",
          "", "", KILN_RW_UNSET, false, -1 },
        { "a quote inside a value toggles quoting", "rootflags=a\"b c\"d ro", KILN_ROOT_NONE, NULL, "", "a\"b c\"d", "",
          KILN_RW_RO, false, -1 },
        { "empty", "", KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET, false, -1 },
        { "only white space and --", "   --  root=/dev/sda1", KILN_ROOT_NONE, NULL, "", "", "", KILN_RW_UNSET, false, -1 },
};

static void join_skip(const struct kiln_cmdline *c, char *buf, size_t size)
{
        buf[0] = 0;
        for (uint32_t i = 0; i < c->n_skip; i++) {
                if (i)
                        strncat(buf, ",", size - strlen(buf) - 1);
                strncat(buf, c->skip[i], size - strlen(buf) - 1);
        }
}

#define CHECK_STR(field, want)                                                                            \
        do {                                                                                              \
                if ((want) && strcmp(c.field, (want))) {                                                  \
                        tap_diag("  %s: got '%s', expected '%s'", #field, c.field, (const char *)(want)); \
                        good = false;                                                                     \
                }                                                                                         \
        } while (0)
#define CHECK_INT(field, want)                                                                                   \
        do {                                                                                                     \
                if ((long long)c.field != (long long)(want)) {                                                   \
                        tap_diag("  %s: got %lld, expected %lld", #field, (long long)c.field, (long long)(want)); \
                        good = false;                                                                            \
                }                                                                                                \
        } while (0)

static void test_table(void)
{
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                const struct expect *e = &cases[i];
                struct kiln_cmdline c;
                char skip[4096];
                bool good = true;

                if (kiln_cmdline_parse(e->line, strlen(e->line), &c) != 0) {
                        ok(0, "%s: parsed", e->what);
                        continue;
                }
                join_skip(&c, skip, sizeof(skip));
                CHECK_INT(root.kind, e->root);
                CHECK_STR(root.value, e->root_value);
                CHECK_STR(rootfstype, e->rootfstype);
                CHECK_STR(rootflags, e->rootflags);
                CHECK_STR(init, e->init);
                CHECK_INT(rw, e->rw);
                CHECK_INT(rootwait, e->rootwait);
                CHECK_INT(rootdelay, e->rootdelay);
                CHECK_INT(debug, e->debug);
                CHECK_INT(brk, e->brk);
                CHECK_STR(break_at, e->break_at ? e->break_at : "");
                CHECK_STR(instance_id, e->instance_id ? e->instance_id : "");
                CHECK_INT(ds, e->ds);
                if (strcmp(skip, e->skip ? e->skip : "")) {
                        tap_diag("  skip: got '%s', expected '%s'", skip, e->skip ? e->skip : "");
                        good = false;
                }
                CHECK_INT(n_ignored, e->ignored);
                if ((c.n_ignored > 0) != (c.problem[0] != 0)) {
                        tap_diag("  problem '%s' with %u ignored", c.problem, c.n_ignored);
                        good = false;
                }
                ok(good, "%s%s%s", e->what, c.problem[0] ? ": " : "", c.problem);
        }
}

static void test_details(void)
{
        struct kiln_cmdline c, before;
        static const uint8_t pu[16] = { 0x8b, 0x0d, 0x6e, 0x3c, 0x2f, 0x6e, 0x4d, 0x8a,
                                        0x9c, 0x1e, 0x7c, 0x1a, 0x3b, 0x9f, 0x0d, 0x21 };
        const char *l;

        l = "root=PARTUUID=" PU;
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && !c.root.partuuid_mbr && !memcmp(c.root.partuuid, pu, 16) &&
           c.root.partnroff == 0, "GPT PARTUUID as bytes");
        l = "root=PARTUUID=5EED1234-0a/PARTNROFF=-1";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && c.root.partuuid_mbr && c.root.mbr_signature == 0x5eed1234 &&
           c.root.mbr_partno == 10 && c.root.partnroff == -1 && !strcmp(c.root.value, "5eed1234-0a"),
           "MBR PARTUUID: signature, partition number in hex, offset");
        ok(!strcmp(c.root.raw, "PARTUUID=5EED1234-0a/PARTNROFF=-1"), "raw keeps the value as given");
        l = "root=PARTUUID=5eed1234-00";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && c.root.kind == KILN_ROOT_INVALID, "MBR partition 00 is invalid");
        l = "root=PARTUUID=" PU "/PARTNROFF=x";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && c.root.kind == KILN_ROOT_INVALID, "a bad PARTNROFF is invalid");
        l = "root=259:1";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && c.root.major == 259 && c.root.minor == 1, "MAJ:MIN numbers");
        l = "root=bad:1x";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && c.root.kind == KILN_ROOT_INVALID, "bad MAJ:MIN");

        ok(kiln_cmdline_parse("ro\0rw", 5, &c) == 0 && c.rw == KILN_RW_RO, "stops at a NUL");
        l = "kiln.skip=growpart,ssh-keys";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && kiln_cmdline_skips(&c, "ssh-keys") &&
           !kiln_cmdline_skips(&c, "ssh"), "kiln_cmdline_skips()");
        l = "kiln.imds_v1";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && c.imds_v1, "kiln.imds_v1 alone allows IMDSv1");
        l = "kiln.imds_v1=1 kiln.imds_v1=no";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && !c.imds_v1, "the last kiln.imds_v1 wins");
        l = "kiln.imds_v1=maybe";
        ok(kiln_cmdline_parse(l, strlen(l), &c) == 0 && !c.imds_v1 && c.n_ignored == 1, "kiln.imds_v1=maybe is ignored");
        ok(kiln_cmdline_parse("", 0, &c) == 0 && !c.imds_v1, "IMDSv1 is off by default");

        /* Hard limits. */
        {
                char big[KILN_CMDLINE_MAX + 2];
                memset(big, 'x', sizeof(big) - 1);
                big[sizeof(big) - 1] = 0;
                memset(&c, 0x5a, sizeof(c));
                memcpy(&before, &c, sizeof(c));
                ok(kiln_cmdline_parse(big, KILN_CMDLINE_MAX + 1, &c) == -E2BIG && !memcmp(&c, &before, sizeof(c)),
                   "over %u bytes: -E2BIG, result untouched", KILN_CMDLINE_MAX);
                ok(kiln_cmdline_parse(big, KILN_CMDLINE_MAX, &c) == 0, "exactly %u bytes: parsed", KILN_CMDLINE_MAX);
        }
        {
                char line[4096] = "kiln.skip=keep kiln.skip=";
                for (int i = 0; i < 65; i++)
                        snprintf(line + strlen(line), sizeof(line) - strlen(line), "%st%d", i ? "," : "", i);
                ok(kiln_cmdline_parse(line, strlen(line), &c) == 0 && c.n_skip == 1 && !strcmp(c.skip[0], "keep") &&
                   strstr(c.problem, "more than 64"), "65 skip tasks: ignored: %s", c.problem);
                line[strlen(line) - 4] = 0; /* drop ",t64" */
                ok(kiln_cmdline_parse(line, strlen(line), &c) == 0 && c.n_skip == 64 && !strcmp(c.skip[63], "t63"),
                   "64 skip tasks: kept");
        }
        {
                char line[400] = "kiln.skip=";
                memset(line + 10, 'a', 32);
                ok(kiln_cmdline_parse(line, strlen(line), &c) == 0 && c.n_skip == 0 && c.n_ignored == 1,
                   "a 32-byte task name is refused");
                snprintf(line, sizeof(line), "root=/dev/%0300d", 0);
                ok(kiln_cmdline_parse(line, strlen(line), &c) == 0 && c.root.kind == KILN_ROOT_NONE && c.n_ignored == 1,
                   "a root= over 255 bytes is refused: %s", c.problem);
                snprintf(line, sizeof(line), "kiln.instance_id=%0128d", 0);
                ok(kiln_cmdline_parse(line, strlen(line), &c) == 0 && !c.instance_id[0] && c.n_ignored == 1,
                   "a 128-byte instance id is refused");
        }
        ok(!strcmp(kiln_ds_to_string(KILN_DS_NOCLOUD), "nocloud") && !kiln_ds_to_string((enum kiln_ds)42),
           "kiln_ds_to_string");
        ok(!strcmp(kiln_root_kind_to_string(KILN_ROOT_PARTLABEL), "partlabel") &&
           !kiln_root_kind_to_string((enum kiln_root_kind)42), "kiln_root_kind_to_string");
}

/* Options kiln writes for kiln-init (ssh_host_key_types) and its crash tests. */
static void test_kiln_settings(void)
{
        struct kiln_cmdline c;
        const char *line = "root=PARTUUID=01234567-01 kiln.ssh_keytypes=ed25519,rsa kiln.test_crash=growpart:3";

        ok(kiln_cmdline_parse(line, strlen(line), &c) == 0, "parse kiln settings");
        ok(!strcmp(c.ssh_keytypes, "ed25519,rsa"), "kiln.ssh_keytypes kept: '%s'", c.ssh_keytypes);
        ok(!strcmp(c.crash_task, "growpart") && c.crash_after == 3, "kiln.test_crash=growpart:3");
        line = "kiln.ssh_keytypes=ed25519;reboot kiln.test_crash=growpart";
        ok(kiln_cmdline_parse(line, strlen(line), &c) == 0 && !c.ssh_keytypes[0] && !c.crash_after &&
           c.n_ignored == 2, "malformed settings are ignored and counted");
}

int main(void)
{
        test_table();
        test_details();
        test_kiln_settings();
        return tap_done();
}
