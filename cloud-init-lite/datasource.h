/* SPDX-License-Identifier: MIT */
/*
 * Datasources: where an instance learns who it is.  NoCloud reads a seed
 * volume labelled cidata (or CIDATA), vfat or iso9660, mounted read-only;
 * EC2 asks the instance metadata service (IMDSv2, IMDSv1 only when allowed)
 * after an ephemeral DHCP on the first NIC (net.h).  Both fill a struct
 * kiln_instance (instance.h).  kiln-init calls them before switch_root.
 */
#ifndef KILN_CLOUD_INIT_LITE_DATASOURCE_H
#define KILN_CLOUD_INIT_LITE_DATASOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "instance.h"
#include "net.h"

enum kiln_ds_kind { KILN_DSK_NONE, KILN_DSK_NOCLOUD, KILN_DSK_EC2 };

#define KILN_DS_SEED_MOUNT "/run/kiln/seed"
#define KILN_DS_IMDS_HOST "169.254.169.254"
#define KILN_DS_IMDS_PORT 80
#define KILN_DS_EC2_TIMEOUT_MS 60000u
#define KILN_DS_MAX_USER_DATA (16u << 20)   /* user-data and vendor-data, as served */

struct kiln_ds_opts {
        const char *root;          /* prefix for /sys and /dev (tests); NULL or "" = the system's */
        const char *seed_mount;    /* NULL = KILN_DS_SEED_MOUNT */
        const char *imds_host;     /* dotted IPv4; NULL = KILN_DS_IMDS_HOST */
        uint16_t imds_port;        /* 0 = KILN_DS_IMDS_PORT */
        bool imds_v1;              /* IMDSv1 (no token) allowed when the token PUT is refused */
        bool no_network;           /* ec2: the network is up already, no DHCP (tests, --firstboot) */
        const char *ifname;        /* ec2: the NIC for DHCP; NULL = kiln_net_find_nic() */
        unsigned timeout_ms;       /* ec2: overall deadline, DHCP included; 0 = KILN_DS_EC2_TIMEOUT_MS */
        kiln_log_fn log;           /* one-line progress and reports; may be NULL */
        void *log_ud;
};

const char *kiln_ds_kind_to_string(enum kiln_ds_kind k);

/*
 * Which datasource, and why (one line into reason).  cmdline_choice is
 * kiln.ds's value: NULL, "" or "auto", "ec2", "nocloud", "none" (-EINVAL for
 * anything else).  "auto" picks NoCloud when a seed volume is present, EC2
 * when DMI says so (sys_vendor, board_vendor or bios_vendor "Amazon EC2", or
 * product_uuid beginning with "ec2"), else none.  kiln_ds_detect_at() reads
 * /sys and /dev under o->root.
 */
int kiln_ds_detect(const char *cmdline_choice, enum kiln_ds_kind *ret, char *reason, size_t reasonlen);
int kiln_ds_detect_at(const struct kiln_ds_opts *o, const char *cmdline_choice, enum kiln_ds_kind *ret,
                      char *reason, size_t reasonlen);

/* A NoCloud seed volume found by its label. */
struct kiln_seed {
        char device[264];          /* "/dev/vdb" (under o->root) */
        char label[8];             /* "cidata" or "CIDATA" */
        char fstype[16];           /* "vfat" or "iso9660" */
};

/*
 * Is a seed present?  Probes every block device of /sys/class/block (sorted,
 * empty ones skipped) with libblkid for a vfat or iso9660 filesystem
 * labelled cidata or CIDATA.  1 and *ret when found, 0 when not: waiting for
 * a late seed is the caller's loop.
 */
int kiln_ds_seed_find(const struct kiln_ds_opts *o, struct kiln_seed *ret);

/*
 * Read a NoCloud seed's files from a folder: meta-data and user-data (both
 * required, as cloud-init requires them), vendor-data and network-config
 * (optional; network-config is kept raw in ret->network_config for
 * kiln-init's network pass).  source names the seed in messages and in
 * ret->source.  The instance id defaults to "nocloud", as in
 * cloud-init.  *ret is written only on success.
 */
int kiln_ds_nocloud_read_dir(const struct kiln_ds_opts *o, const char *dir, const char *source,
                             struct kiln_instance *ret);

/* Find the seed (-ENOENT if none), mount it read-only on o->seed_mount
 * (its type, then the other of vfat/iso9660), read it, unmount. */
int kiln_ds_nocloud(const struct kiln_ds_opts *o, struct kiln_instance *ret);

/*
 * EC2: DHCP on the first NIC unless o->no_network, PUT /latest/api/token
 * (TTL 21600), then GET meta-data instance-id (required), local-hostname,
 * instance-type, placement/availability-zone, public-keys/, each
 * block-device-mapping/ entry, each network/interfaces/macs/ entry
 * (device-number, local-ipv4s, subnet-ipv4-cidr-block, ipv6s; sorted by
 * device-number), and user-data (404: none).  The DHCP lease's name servers
 * and domain go into ret->dns_servers and ret->dns_domain.  Connection
 * errors, 429 and 5xx are retried with exponential backoff until the
 * deadline; 401 fetches a new token; 403 and 404 are final.  The network is
 * torn down at the end, success or not.
 */
int kiln_ds_ec2(const struct kiln_ds_opts *o, struct kiln_instance *ret);

#endif
