/* SPDX-License-Identifier: MIT */
/*
 * `kiln run` as a library: an image's metadata and a launch request ->
 * a checked plan (instance type, firmware, volumes in EC2's bus order,
 * identities) -> the run folder (overlays, volumes, firmware variables,
 * the IMDS folder) -> QEMU's argv.  Parsing, checking and argv planning are
 * pure; kiln_launch_setup() and kiln_launch_cleanup() do the file work.
 * Never prints or exits: -errno with a one-line message (kiln_last_error()).
 */
#ifndef KILN_LAUNCH_H
#define KILN_LAUNCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "instance_types.h"
#include "tables.h"

/* Hard limits on what a launch takes in. */
#define KILN_BDM_MAX 32                     /* mappings in one list */
#define KILN_BDM_JSON_MAX (256u * 1024)     /* bytes of --block-device-mapping */
#define KILN_IMAGE_JSON_MAX (1024u * 1024)  /* bytes of IMAGE.json, IMAGE.kiln.json */
#define KILN_VOLUME_GIB_MAX 16384u          /* EBS's largest volume (16 TiB) */

/*
 * One block device mapping, the AWS CLI's shape:
 *   {"DeviceName": "/dev/sdf", "VirtualName": "ephemeral0", "NoDevice": "",
 *    "Ebs": {"VolumeSize": 2, "VolumeType": "gp3", "DeleteOnTermination": true,
 *            "SnapshotId": "snap-..." | "file:PATH"}}
 * "file:PATH" is kiln's extension: the volume starts as a copy-on-write
 * overlay of the raw file PATH (which is never written).
 */
struct kiln_bdm {
        char *device_name;
        char *virtual_name;             /* "ephemeralN" or NULL */
        bool no_device;
        bool ebs;                       /* has an "Ebs" object */
        uint64_t volume_size;           /* GiB; 0: not given */
        char *volume_type;              /* NULL: not given */
        int delete_on_termination;      /* -1: not given, else 0/1 */
        char *snapshot_id;              /* NULL: none */
};

struct kiln_bdm_list {
        struct kiln_bdm *v;
        size_t n;
};

/* Parse a mapping list (a JSON array).  `what` names the input in messages
 * ("--block-device-mapping", a file name); bad JSON is reported with its
 * byte offset.  -EBADMSG for malformed input, -E2BIG over the limits. */
int kiln_bdm_parse(const char *what, const char *buf, size_t len, struct kiln_bdm_list *ret);
void kiln_bdm_list_free(struct kiln_bdm_list *l);

/*
 * The network interfaces of a launch, the AWS CLI's --network-interfaces:
 *   [{"DeviceIndex": 0}, {"DeviceIndex": 1, "Description": "backend",
 *     "Ipv6AddressCount": 1}]
 * DeviceIndex is required and unique, 0 must be there; other keys are
 * refused but kiln's "MacAddress": "0a:1b:2c:3d:4e:5f" (a unicast MAC, in
 * place of the derived one: a network-config can then match it).  The instance type's limit is checked by kiln_launch_plan().
 */
#define KILN_NIC_MAX 16                     /* entries; DeviceIndex 0..KILN_NIC_MAX-1 */
#define KILN_NIC_JSON_MAX (64u * 1024)      /* bytes of --network-interfaces */
#define KILN_NIC_DESCRIPTION_MAX 255u       /* EC2's limit */

struct kiln_nic_spec {
        unsigned device_index;
        char *description;              /* NULL: none */
        unsigned ipv6_count;            /* 0 or 1: the NIC's SLAAC address */
        char mac[18];                   /* "0a:...", lowercase; "": derived */
};

struct kiln_nic_spec_list {
        struct kiln_nic_spec *v;
        size_t n;
};

/* Parse a list (a JSON array); `what` names the input in messages.
 * -EBADMSG for malformed input, -E2BIG over the limits. */
int kiln_nics_parse(const char *what, const char *buf, size_t len, struct kiln_nic_spec_list *ret);
/* --nics N: DeviceIndex 0..N-1 (N from 1 to KILN_NIC_MAX). */
int kiln_nics_count(unsigned n, struct kiln_nic_spec_list *ret);
void kiln_nic_spec_list_free(struct kiln_nic_spec_list *l);

/* What `kiln build` wrote beside an image: IMAGE.json (RegisterImage) and,
 * when present, IMAGE.kiln.json. */
struct kiln_image {
        char *path;                     /* as given */
        char *name;
        enum kiln_arch arch;
        enum kiln_virt virt;
        enum kiln_boot_mode boot_mode;
        char *root_device;
        struct kiln_bdm_list bdm;
        bool ena_support;
        char *imds_support;             /* "v2.0" or NULL */
        uint64_t size;                  /* bytes of the raw image */
        char sha256[65];                /* from IMAGE.kiln.json, or "" */
        char *default_user;             /* from IMAGE.kiln.json (cloud-init-lite), or NULL */
};

/* Pure: both JSON texts (kjson may be NULL) and the image's size. */
int kiln_image_parse(const char *path, const char *json, size_t len, const char *kjson, size_t klen,
                     uint64_t size, struct kiln_image *ret);
/* Reads PATH.json, PATH.kiln.json (if any) and the image's size. */
int kiln_image_load(const char *path, struct kiln_image *ret);
void kiln_image_free(struct kiln_image *img);

struct kiln_launch_req {
        const char *instance_type;              /* NULL: KILN_DEFAULT_INSTANCE_TYPE */
        const char *boot_mode;                  /* NULL: the image's */
        const struct kiln_bdm_list *bdm;        /* --block-device-mapping, or NULL */
        const struct kiln_nic_spec_list *nics;  /* --network-interfaces, or NULL: one, DeviceIndex 0 */
        const uint8_t *seed;                    /* identities are derived from it */
        size_t seed_len;
};

enum kiln_vol_kind { KILN_VOL_ROOT, KILN_VOL_EBS, KILN_VOL_STORE };

struct kiln_volume {
        enum kiln_vol_kind kind;
        char *device_name;              /* "/dev/xvda", "/dev/sdf", "/dev/sdb" */
        char *imds_name;                /* "root", "ebs1", "ephemeral0" */
        uint64_t size_gib;
        char *volume_type;              /* EBS: "gp3" ...; instance store: NULL */
        bool delete_on_termination;
        char *source;                   /* raw file under an overlay, or NULL: empty */
        char id[24];                    /* "vol-" + 17 hex; instance store: "" */
        char serial[21];                /* NVMe serial: "vol" + 17 hex, "AWS" + 17 HEX */
        char *path;                     /* the file QEMU opens (kiln_launch_paths) */
        bool qcow2;                     /* else raw */
};

/*
 * A network interface as planned: its own QEMU user network and
 * virtio-net-pci device (PCI slot KILN_NIC_PCI_SLOT + device index, so the
 * guest enumerates them in DeviceIndex order).  DeviceIndex 0 is on
 * 169.254.0.0/16 with the IMDS and the SSH forward; DeviceIndex k > 0 on
 * 100.64.(16k).0/20, in the VPC's secondary block 100.64.0.0/16 (shared
 * address space, not private-use).  The guest's DHCP lease is .15 of its
 * network; with Ipv6AddressCount 1, the network also has the IPv6 prefix
 * fd00:ec2:0:k::/64 (in the VPC's fd00:ec2::/56) and the guest's SLAAC
 * address is that prefix and the EUI-64 of the MAC.
 */
struct kiln_nic {
        unsigned device_index;
        char *description;              /* NULL: none */
        char mac[18];                   /* "0a:..": locally administered, unicast, distinct */
        char interface_id[22];          /* "eni-" + 17 hex */
        char subnet_id[25];             /* "subnet-" + 17 hex */
        char net[20];                   /* "169.254.0.0/16", "100.64.16.0/20" */
        char host[16];                  /* QEMU's address in it: "169.254.0.1", "100.64.16.1" */
        char ipv4[16];                  /* the guest's: "169.254.0.15", "100.64.16.15" */
        char hostname[40];              /* "ip-169-254-0-15.ec2.internal" */
        char ipv6_net[52];              /* "fd00:ec2:0:1::/64", or "" */
        char ipv6[40];                  /* the guest's SLAAC address, or "" */
};

#define KILN_NIC_PCI_SLOT 0x3           /* DeviceIndex k is at PCI slot 0x3 + k (disks from 0x10) */
#define KILN_VPC_IPV4_CIDR2 "100.64.0.0/16"  /* the VPC's second block: NICs 1..15 */
#define KILN_VPC_IPV6_CIDR "fd00:ec2::/56"

struct kiln_launch {
        const struct kiln_instance_type *type;
        enum kiln_boot_mode firmware;   /* KILN_BOOT_LEGACY_BIOS (SeaBIOS) or KILN_BOOT_UEFI (OVMF) */
        char instance_id[20];           /* "i-" + 17 hex */
        char ami_id[22];                /* "ami-" + 17 hex, from the image's digest or name */
        char uuid[37];                  /* SMBIOS system UUID, "ec2..." like Nitro's */
        char vpc_id[22];                /* "vpc-" + 17 hex */
        char security_group_id[21];     /* "sg-" + 17 hex: the VPC's "default" group */
        struct kiln_nic *nics;          /* by DeviceIndex; nics[0] is DeviceIndex 0, the primary */
        size_t n_nics;
        struct kiln_volume *vols;       /* root, EBS in mapping order, instance store */
        size_t n_vols;
        bool imds_v1;                   /* IMDSv1 allowed (ImdsSupport is not v2.0) */
        bool ena_support;
};

/*
 * Check a launch before anything starts and plan it: the instance type
 * exists and matches the image's architecture, virtualization type, ENA
 * support and boot mode; the mappings merged the way EC2 merges them (same
 * DeviceName overrides field by field, NoDevice removes, the root volume may
 * grow but not shrink below the image).  Pure.
 */
int kiln_launch_plan(const struct kiln_image *img, const struct kiln_launch_req *req,
                     struct kiln_launch *ret);
void kiln_launch_free(struct kiln_launch *l);

/* Where each volume lives: deleted-on-termination ones in run_dir, the
 * others (kept after the instance ends) in vol_dir, as ID.qcow2 / ID.raw. */
int kiln_launch_paths(struct kiln_launch *l, const char *run_dir, const char *vol_dir);

/* What QEMU's command line needs besides the plan. */
struct kiln_qemu_env {
        const char *qemu;               /* "qemu-system-x86_64" */
        const char *run_dir;            /* shell-safe (kiln_path_is_shell_safe) */
        const char *kiln;               /* shell-safe path of kiln, for `kiln imds serve` */
        const char *imds_dir;           /* shell-safe */
        const char *ovmf_code;          /* UEFI only */
        const char *ovmf_vars;          /* UEFI only: the run's private copy */
        const char *seed;               /* NoCloud seed image, or NULL */
        const char *monitor;            /* HMP unix socket path, or NULL */
        bool kvm;
        int ssh_port;
};

#define KILN_GUEST_NET "169.254.0.0/16"
#define KILN_GUEST_HOST "169.254.0.1"
#define KILN_GUEST_IPV4 "169.254.0.15"
#define KILN_IMDS_ADDR "169.254.169.254"
#define KILN_OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define KILN_OVMF_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"

/* The whole argv, NULL-terminated; free with kiln_argv_free().  Pure. */
int kiln_launch_qemu_argv(const struct kiln_launch *l, const struct kiln_qemu_env *env, char ***ret);
void kiln_argv_free(char **argv);

/* Whether a path can go into `guestfwd=...-cmd:` (run by /bin/sh, inside a
 * QEMU option): only letters, digits and / . _ + - */
bool kiln_path_is_shell_safe(const char *p);

/* I/O: the run folder and the volumes. */
struct kiln_launch_io {
        const char *kiln;               /* the running kiln binary */
        const char *vol_dir;            /* kept volumes; NULL: "." */
        const char *seed;               /* NoCloud seed, or NULL */
        const char *key_name;           /* --key-name: a .pub file, or NULL */
        const void *user_data;
        size_t user_data_len;
        const char *image_path;         /* for IMDS ami-id and messages */
};

struct kiln_run {
        char *run_dir;                  /* $TMPDIR/kiln-run.XXXXXX */
        char *kiln;                     /* run_dir/kiln -> the kiln binary */
        char *imds_dir;
        char *ovmf_vars;
        char *console;                  /* run_dir/console.log */
        char *monitor;                  /* run_dir/monitor.sock */
        int ssh_port;
};

/* Make the run folder and everything QEMU opens: the root overlay, EBS and
 * instance-store volumes, a private OVMF variable store, the IMDS folder.
 * On failure whatever was made is removed. */
int kiln_launch_setup(struct kiln_launch *l, const struct kiln_launch_io *io, struct kiln_run *ret);
/* Remove the run folder (unless keep) and the volumes the plan deletes on
 * termination.  Idempotent; safe from a signal-driven exit path. */
void kiln_launch_cleanup(const struct kiln_launch *l, struct kiln_run *r, bool keep);

/* An unused local TCP port (bound and released). */
int kiln_free_port(int *ret);
/* "auto", "kvm" or "tcg" -> whether to use KVM: auto picks KVM when
 * /dev/kvm opens read-write, creates a VM, and the host is not itself a
 * virtual machine (nested KVM hangs at kernel start on some hosts). */
int kiln_accel_pick(const char *accel, bool *ret_kvm);

/*
 * The serial console, line by line (pure): timings of the boot and the SSH
 * host key blocks kiln-init (or cloud-init) prints.
 */
#define KILN_CONSOLE_TASKS 16
#define KILN_CONSOLE_KEYS 8
#define KILN_CONSOLE_NET_LINES 3
#define KILN_CONSOLE_NET_LINE_MAX 160

struct kiln_console_task {
        char name[24];
        uint64_t ms;                    /* as kiln-init measured it */
        bool ok;
};

struct kiln_console {
        int64_t linux_ms;               /* "Linux version" seen, ms since QEMU start; -1 */
        int64_t init_ms;                /* "kiln-init ... starting" */
        int64_t ready_ms;               /* kiln-init's "... boot finished in N ms" */
        bool first_boot;
        uint64_t init_total_ms;         /* N in the marker */
        struct kiln_console_task tasks[KILN_CONSOLE_TASKS];
        size_t n_tasks;
        int block;                      /* inside: 0 none, 1 FINGERPRINTS, 2 KEYS */
        char *fingerprints[KILN_CONSOLE_KEYS];  /* "SHA256:..." */
        size_t n_fingerprints;
        char *keys[KILN_CONSOLE_KEYS];          /* "TYPE BASE64" */
        size_t n_keys;
        bool keys_done;                 /* an END SSH HOST KEY KEYS was seen */
        /* The last lines about the network (eth0, ens5, enp0s3, DHCP,
         * "network", "link"), oldest first, control characters blanked:
         * what kiln run shows while it waits for SSH. */
        char net_lines[KILN_CONSOLE_NET_LINES][KILN_CONSOLE_NET_LINE_MAX];
        size_t n_net_lines;
        uint64_t net_seq;               /* network lines seen so far */
};

void kiln_console_init(struct kiln_console *c);
/* One line (without its newline; a trailing \r is ignored) seen at t_ms. */
void kiln_console_line(struct kiln_console *c, const char *line, size_t len, int64_t t_ms);
/* Whether a console line is about the network: an interface name (eth0,
 * ens5, enp0s3), or "dhcp", "network" or the word "link", in any case. */
bool kiln_console_is_net_line(const char *line);
void kiln_console_free(struct kiln_console *c);
/*
 * A known_hosts text for HOST (e.g. "[127.0.0.1]:2222") from the KEYS block,
 * every key checked against the FINGERPRINTS block (its SHA-256 must be
 * there).  -ENOKEY when the console had no key block, -EBADMSG when a key is
 * malformed or has no matching fingerprint.
 */
int kiln_console_known_hosts(const struct kiln_console *c, const char *host, char **ret);

#endif
