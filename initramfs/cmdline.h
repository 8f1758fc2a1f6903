/* SPDX-License-Identifier: MIT */
/*
 * The kernel command line, as kiln-init reads it from /proc/cmdline.  A pure
 * parser: bytes in, struct out, fixed-size fields, no allocation.
 *
 * Splitting follows the kernel's own next_arg() (lib/cmdline.c): words are
 * separated by white space; a double quote toggles quoting, so key="a b" and
 * "key=a b" both give key = a b; a leading quote on the value and a trailing
 * quote on the word are dropped; "--" ends the kernel's part (the rest is for
 * init).  Parameter names compare with '-' and '_' alike, as the kernel's do.
 * Unknown options are ignored; for a known one the last occurrence wins, and
 * a malformed value is ignored (the earlier value stays) and reported in
 * problem.  root= is the exception: the last one always counts, an
 * unusable one as KILN_ROOT_INVALID, so kiln-init can say which root= it
 * could not find instead of quietly mounting an earlier one.
 */
#ifndef KILN_CMDLINE_H
#define KILN_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_CMDLINE_MAX 4096u     /* bytes, up to the first NUL */
#define KILN_CMDLINE_MAX_SKIP 64u  /* kiln.skip tasks */
#define KILN_CMDLINE_TASK_MAX 31u  /* bytes in a task name */
#define KILN_CMDLINE_VALUE_MAX 255u

enum kiln_root_kind {
        KILN_ROOT_NONE,      /* no root= (or an empty one) */
        KILN_ROOT_UUID,      /* UUID=<filesystem UUID>, value as given */
        KILN_ROOT_PARTUUID,  /* PARTUUID=<GPT GUID> or <SSSSSSSS-NN> (MBR) */
        KILN_ROOT_LABEL,     /* LABEL=<filesystem label> */
        KILN_ROOT_PARTLABEL, /* PARTLABEL=<GPT partition name> */
        KILN_ROOT_PATH,      /* /dev/vda1; a bare "vda1" becomes "/dev/vda1" */
        KILN_ROOT_DEVNUM,    /* MAJOR:MINOR */
        KILN_ROOT_INVALID,   /* given but not understood; raw holds it */
};

enum kiln_rw { KILN_RW_UNSET, KILN_RW_RO, KILN_RW_RW };
enum kiln_ds { KILN_DS_AUTO, KILN_DS_EC2, KILN_DS_NOCLOUD, KILN_DS_NONE };

struct kiln_root_spec {
        enum kiln_root_kind kind;
        char raw[KILN_CMDLINE_VALUE_MAX + 1];   /* root='s value, quotes removed */
        char value[KILN_CMDLINE_VALUE_MAX + 1]; /* after UUID=, LABEL=...; the path; the PARTUUID lowercased */
        /* KILN_ROOT_PARTUUID */
        bool partuuid_mbr;      /* the SSSSSSSS-NN form */
        uint8_t partuuid[16];   /* GPT form, canonical byte order */
        uint32_t mbr_signature; /* MBR form: NT disk signature */
        uint32_t mbr_partno;    /* MBR form: partition number (hex in the string) */
        int partnroff;          /* "/PARTNROFF=N" after the PARTUUID, else 0 */
        /* KILN_ROOT_DEVNUM */
        uint32_t major, minor;
};

struct kiln_cmdline {
        struct kiln_root_spec root;
        char rootfstype[64];
        char rootflags[KILN_CMDLINE_VALUE_MAX + 1];
        enum kiln_rw rw;            /* unset: the kernel's default, read-only */
        char init[KILN_CMDLINE_VALUE_MAX + 1];
        bool rootwait;
        int rootwait_timeout;       /* rootwait=N (Linux 6.5+), seconds; -1 forever */
        int rootdelay;              /* seconds, -1 when absent; at most 3600 */

        /* kiln.* */
        bool debug;                 /* kiln.debug[=bool] */
        bool brk;                   /* kiln.break[=bool|stage] */
        char break_at[KILN_CMDLINE_TASK_MAX + 1]; /* the stage, "" for the default */
        char instance_id[128];      /* kiln.instance_id=, [A-Za-z0-9._-], not . or .. */
        enum kiln_ds ds;            /* kiln.ds=ec2|nocloud|none */
        bool imds_v1;               /* kiln.imds_v1[=bool]: allow IMDSv1 when no token is served */
        char skip[KILN_CMDLINE_MAX_SKIP][KILN_CMDLINE_TASK_MAX + 1]; /* kiln.skip=a,b */
        uint32_t n_skip;

        char ssh_keytypes[64];      /* kiln.ssh_keytypes=a,b,c as given, "" for the default */
        char crash_task[32];        /* kiln.test_crash=TASK:N, for kiln's own tests */
        uint32_t crash_after;       /* N; 0 = no crash */
        uint32_t n_ignored;         /* malformed known options */
        char problem[160];          /* the first of them, one line; "" if none */
};

/*
 * Parse buf[0..len) (up to the first NUL; a trailing newline, as in
 * /proc/cmdline, is white space).  Returns 0, or -E2BIG when the line is
 * longer than KILN_CMDLINE_MAX; *ret is written only on success.
 */
int kiln_cmdline_parse(const char *buf, size_t len, struct kiln_cmdline *ret);

/* Whether kiln.skip names the task. */
bool kiln_cmdline_skips(const struct kiln_cmdline *c, const char *task);

const char *kiln_ds_to_string(enum kiln_ds ds);
const char *kiln_root_kind_to_string(enum kiln_root_kind k);

#endif
