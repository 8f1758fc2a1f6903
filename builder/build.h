/* SPDX-License-Identifier: MIT */
/* `kiln build` as a library call: rootfs + options -> image + metadata. */
#ifndef KILN_BUILD_H
#define KILN_BUILD_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "ext4.h"
#include "ptable.h"
#include "scrub.h"
#include "spec.h"

struct kiln_build_opts {
        const char *rootfs;        /* folder or tarball */
        const char *output;        /* image path; written via a temporary name */
        uint64_t size;             /* bytes of the whole disk; 0 = auto */
        int ptable;                /* enum kiln_ptable */
        int boot_mode;             /* enum kiln_boot_mode */
        int arch;                  /* enum kiln_arch */
        int virt;                  /* enum kiln_virt */
        const char *name;          /* image name (RegisterImage Name) */
        const char *description;
        const char *label;         /* filesystem label or NULL */
        const uint8_t *fs_uuid;    /* NULL = derive or random */
        const char *kernel;        /* version or /boot/vmlinuz-VERSION; NULL = newest */
        const char *kernel_cmdline;
        const char *ssh_host_key_types; /* "ed25519,ecdsa,rsa" for kiln-init; NULL = its default */
        bool distro_initramfs;     /* keep the rootfs's initrd instead of kiln's */
        const char *init_binary;   /* kiln-init, for kiln's initramfs */
        const char *const *extra_modules;
        size_t n_extra_modules;
        bool ena_support;
        const char *imds_support;  /* "v2.0" or NULL */
        const struct kiln_bdm *bdms;
        size_t n_bdms;
        struct kiln_scrub scrub;
        const struct kiln_default_user *default_user; /* NULL = all defaults */
        bool digest;               /* SHA-256 of the image into .kiln.json (costs ~1 s per GiB) */
        bool reproducible;         /* SOURCE_DATE_EPOCH given */
        time_t epoch;              /* SOURCE_DATE_EPOCH, when reproducible */
        const void *seed;          /* what derived UUIDs hash (the spec, options) */
        size_t seed_len;
        unsigned fail_write;       /* tests: fail the Nth disk write (0 = never) */
        unsigned fail_rename;      /* tests: fail the Nth step of installing the outputs (0 = never) */
        bool no_rename_exchange;   /* tests: install as on a filesystem without RENAME_EXCHANGE */
        void (*progress)(void *ud, const char *phase, uint64_t files, uint64_t bytes);
        void *progress_ud;
};

struct kiln_build_result {
        uint64_t size;             /* bytes of the image */
        uint8_t fs_uuid[16];
        uint64_t files, data_bytes;
        struct kiln_ext4_result fs;
        struct kiln_scrub_report scrubbed;
        struct kiln_layout layout;
        char kernel[128];          /* "" for a bare filesystem */
        char grub_bios[160];       /* where GRUB came from, "" when not installed */
        char grub_efi[160];
        bool fstab_added;
        char initrd[256];          /* path in the image, "" when none */
        uint64_t initrd_size;      /* compressed bytes */
        size_t initrd_modules;     /* modules inside */
        char initrd_note[512];     /* built-in / missing modules, one line */
        char digest[65];           /* sha256 of the image, hex */
        char default_user[33];     /* in /etc/kiln/cloud.cfg; "" when kiln's initramfs is not used */
        bool no_init;              /* kiln's initramfs, and the rootfs has no executable /sbin/init */
        char net_stack[32];        /* the stack kiln-init will render for; "" when none */
        char net_reason[256];      /* why that stack, or why none; "" when kiln-init is not used */
};

/* On failure nothing is left at output (nor any temporary). */
int kiln_build(const struct kiln_build_opts *o, struct kiln_build_result *ret);
void kiln_build_result_free(struct kiln_build_result *r);
/* From a signal handler: remove the running build's temporaries. */
void kiln_build_abort_cleanup(void);

#endif
