/* SPDX-License-Identifier: MIT */
/*
 * What a datasource found: the instance's identity and its user data.
 * The NoCloud meta-data parser is pure (YAML bytes -> struct); the
 * datasources themselves (datasource.h) do the I/O.
 */
#ifndef KILN_CLOUD_INIT_LITE_INSTANCE_H
#define KILN_CLOUD_INIT_LITE_INSTANCE_H

#include <stddef.h>
#include <stdint.h>

/* One network interface from EC2's network/interfaces/macs/MAC/. */
struct kiln_instance_nic {
        char *mac;             /* "0a:1b:2c:3d:4e:5f", lowercase */
        int device_number;     /* device-number; -1 when the metadata has none */
        char **local_ipv4s;    /* NULL-terminated or NULL */
        char *subnet_ipv4_cidr; /* subnet-ipv4-cidr-block, or NULL */
        char **ipv6s;          /* NULL-terminated or NULL: no IPv6 on this NIC */
};

#define KILN_INSTANCE_MAX_NICS 32

struct kiln_instance {
        char *datasource;      /* "nocloud", "ec2" */
        char *source;          /* where it came from: "/dev/vdb (CIDATA, vfat)", "http://169.254.169.254" */
        char *instance_id;
        char *local_hostname;
        char *instance_type;   /* ec2 */
        char *region;          /* ec2 availability zone without its letter */
        char *availability_zone; /* ec2 placement/availability-zone, e.g. "us-east-1a" */
        char **public_keys;    /* NULL-terminated, OpenSSH one-line keys */
        /* block-device-mapping (ec2): "ephemeral0=sdb" style pairs, NULL-terminated */
        char **block_devices;
        uint8_t *user_data;    /* raw, as served (may be gzip); NULL = none */
        size_t user_data_len;
        uint8_t *vendor_data;
        size_t vendor_data_len;
        uint8_t *network_config; /* NoCloud: the seed's network-config, raw; NULL = none */
        size_t network_config_len;
        struct kiln_instance_nic *nics; /* ec2: the attached interfaces, by device-number */
        size_t n_nics;
        char **dns_servers;    /* ec2: what the initramfs' DHCP lease said (dotted quads) */
        char *dns_domain;      /* ec2: the lease's domain name, or NULL */
        char **notes;          /* e.g. "network-config: bonds are not supported" */
};

/* Hard limits of the meta-data parser. */
#define KILN_META_MAX_BYTES (1u << 20)  /* a meta-data file */
#define KILN_META_MAX_KEYS 256          /* public keys */
#define KILN_META_MAX_VALUE 16384       /* bytes in one value (a key line, the instance id) */

void kiln_instance_free(struct kiln_instance *in);

/* Append a copy of s[0..len) to a NULL-terminated list (*list may be NULL). */
int kiln_instance_push(char ***list, const char *s, size_t len);
size_t kiln_instance_count(char *const *list);
/* Add a one-line note ("network-config is not supported (ignored)"). */
int kiln_instance_note(struct kiln_instance *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The one rule for instance ids, applied by the NoCloud and EC2 parsers, by
 * kiln-init and by `kiln seed`: 1 to 255 bytes of ASCII letters, digits and
 * punctuation (0x21-0x7e: no white space, no control character), no '/',
 * not "." or "..".  The id is kept as it is: /var/lib/kiln/instance-id, the
 * logs and INSTANCE_ID show it, and a different id is a new instance.
 */
#define KILN_INSTANCE_ID_MAX 255
#define KILN_INSTANCE_ID_RULE "1-255 ASCII letters, digits and punctuation; no '/'; not '.' or '..'"
int kiln_instance_id_valid(const char *s);

/*
 * The name of an instance's folder under /var/lib/kiln/instances/, derived
 * from a valid id; the same id always gives the same name.
 *  - An id of only A-Z a-z 0-9 . _ - is its own name: every EC2 id, every
 *    cloud-localds "iid-..." or UUID, so folders keep the names they had.
 *  - Any other id is escaped: each byte outside that set becomes %XX
 *    (uppercase hex), "web:1" -> "web%3A1".  '%' is outside the set, so an
 *    escaped name always holds a '%' and a plain one never does: a plain id
 *    never lands in an escaped id's folder, even one spelled like that name
 *    ("web%3A1" as an id is escaped in turn, to "web%253A1").  The escape
 *    can be undone, so two escaped ids never share a name either.
 *  - An escaped name longer than 255 bytes (NAME_MAX; the id may be 255
 *    bytes, its escape three times that) keeps its first
 *    KILN_INSTANCE_DIR_NAME_KEEP bytes, cut between escapes, then "%%" and
 *    the SHA-256 of the whole id in hex.  An escape never holds "%%" (each
 *    '%' is followed by a hex digit), so these meet neither other form; two
 *    of them share a name only if their ids' SHA-256 digests collide.
 * The name is always made of A-Z a-z 0-9 . _ - %: safe in a shell word or
 * a glob, never "." or "..".  Returns 0 when the name is the id itself, 1
 * when it is escaped, -EINVAL (with a message) when the id is not valid.
 */
#define KILN_INSTANCE_DIR_NAME_MAX 255
#define KILN_INSTANCE_DIR_NAME_KEEP (KILN_INSTANCE_DIR_NAME_MAX - 2 - 64)
int kiln_instance_dir_name(const char *id, char ret[static KILN_INSTANCE_DIR_NAME_MAX + 1]);

/* NoCloud meta-data (YAML, or cloud-init's legacy "key: value" lines):
 * instance-id, local-hostname (or hostname), public-keys (string, list or
 * map of lists).  -EBADMSG with "meta-data:LINE: ..." on malformed input. */
int kiln_nocloud_metadata_parse(struct kiln_instance *in, const void *buf, size_t len);

#endif
