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
        char **notes;          /* e.g. "network-config is not supported (ignored)" */
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
/* An instance id kiln can use as a file name: 1..255 bytes, printable ASCII
 * without '/' or white space, not "." or "..". */
int kiln_instance_id_valid(const char *s);

/* NoCloud meta-data (YAML, or cloud-init's legacy "key: value" lines):
 * instance-id, local-hostname (or hostname), public-keys (string, list or
 * map of lists).  -EBADMSG with "meta-data:LINE: ..." on malformed input. */
int kiln_nocloud_metadata_parse(struct kiln_instance *in, const void *buf, size_t len);

#endif
