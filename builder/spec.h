/* SPDX-License-Identifier: MIT */
/*
 * The image spec: a small YAML document whose keys follow Packer's amazon-ebs
 * builder where one exists.  kiln_spec_parse() is a pure parser: bytes in,
 * struct out, no I/O, hard limits on sizes and nesting.
 */
#ifndef KILN_SPEC_H
#define KILN_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tables.h"

#define KILN_SPEC_MAX_BYTES (1024 * 1024)
#define KILN_SPEC_MAX_BDMS 64
#define KILN_SPEC_MAX_MODULES 256

/* One entry of launch_block_device_mappings (Packer names, EC2 meaning). */
struct kiln_bdm {
        char *device_name;          /* required, e.g. "/dev/xvda" */
        char *virtual_name;         /* "ephemeral0".. for instance store, else NULL */
        uint64_t volume_size_gib;   /* 0 = unset */
        int volume_type;            /* enum kiln_volume_type, -1 = unset */
        int delete_on_termination;  /* -1 unset, 0, 1 */
        int encrypted;              /* -1 unset, 0, 1 */
        uint32_t iops;              /* 0 = unset */
        uint32_t throughput;        /* 0 = unset */
        char *snapshot_id;          /* NULL = unset */
        bool no_device;
};

/* What the scrubber removes; each defaults to true. */
struct kiln_scrub {
        bool ssh_host_keys;
        bool machine_id;
        bool dbus_machine_id;
        bool shell_history;
};

/* The image's default user, created by cloud-init-lite on first boot and
 * given the launch's SSH key (cloud-init's system_info.default_user). */
struct kiln_default_user {
        char *name;                 /* NULL = "admin" */
        char *gecos;
        char *groups;               /* comma-separated; NULL = "adm" */
        char *sudo;                 /* a sudoers rule; NULL = "ALL=(ALL) NOPASSWD:ALL"; "" = none */
        char *shell;                /* NULL = /bin/bash when the rootfs has it */
};

struct kiln_spec {
        char *ami_name;             /* "ami_name" */
        char *ami_description;      /* "ami_description" */
        int virt;                   /* "ami_virtualization_type": enum kiln_virt, -1 unset */
        int arch;                   /* "architecture": enum kiln_arch, -1 unset */
        int boot_mode;              /* "boot_mode": enum kiln_boot_mode, -1 unset */
        int ena_support;            /* "ena_support": -1 unset, 0, 1 */
        char *imds_support;         /* "imds_support": only "v2.0" is valid */
        char *rootfs;               /* "rootfs": path, relative to the spec's folder */
        char *output;               /* "output": path, relative to the spec's folder */
        uint64_t size;              /* "size": bytes; 0 with size_auto = auto */
        bool size_set, size_auto;
        int ptable;                 /* "partition_table": enum kiln_ptable, -1 unset */
        char *fs_label;             /* "fs_label", at most 16 bytes */
        uint8_t fs_uuid[16];        /* "fs_uuid" */
        bool fs_uuid_set;
        char *kernel;               /* "kernel": a version in /boot, or /boot/vmlinuz-VERSION */
        char *kernel_cmdline;       /* "kernel_cmdline" */
        char *initramfs;            /* "initramfs": "kiln" (default) or "distro" */
        char **initramfs_modules;   /* "initramfs_modules": extra module names */
        int image_digest;           /* "image_digest": -1 unset, 0, 1 */
        char *ssh_host_key_types;   /* "ssh_host_key_types": e.g. "ed25519,ecdsa,rsa"; NULL = default */
        size_t n_initramfs_modules;
        struct kiln_scrub scrub;    /* "scrub": mapping of the bools above */
        struct kiln_default_user default_user; /* "default_user" */
        struct kiln_bdm *bdms;      /* "launch_block_device_mappings" */
        size_t n_bdms;
};

/* Fill *ret with defaults (everything unset, scrub all true). */
void kiln_spec_init(struct kiln_spec *spec);

/*
 * Parse YAML from buf.  filename is used only in messages.  On failure
 * returns -EBADMSG (or -ENOMEM, -E2BIG) with kiln_last_error() set to
 * "FILE:LINE: ..." naming the key, and *ret untouched (freed).
 */
int kiln_spec_parse(const char *buf, size_t len, const char *filename, struct kiln_spec *ret);
void kiln_spec_free(struct kiln_spec *spec);

#endif
