/* SPDX-License-Identifier: MIT */
/*
 * The instance metadata service of `kiln run`: what EC2 serves a guest on
 * 169.254.169.254, from a state folder written once per launch.
 *
 * The folder (kiln_imds_dir_write):
 *   secret      32 random bytes, mode 0600: the key of the tokens' HMAC
 *   settings    "imds_v1=0|1": whether token-less (IMDSv1) requests are
 *               answered; "max_connections=N": how many guest connections
 *               are served at once (default 16)
 *   slots/      one file per connection served now, each held with an
 *               exclusive flock() by its `kiln imds serve` (kiln_imds_slot_take)
 *   tree/       what /VERSION/ serves: meta-data/..., user-data,
 *               dynamic/instance-identity/document.  A folder is listed one
 *               name a line, sub-folders with a trailing '/', unless it holds
 *               a ".listing" file, served instead (public-keys/ lists "0=NAME").
 *               Other names starting with '.' are never served.
 *
 * kiln_imds_load() reads the folder into memory, each name opened with
 * O_NOFOLLOW: symbolic links are skipped, never followed, so nothing outside
 * the tree can be served.  kiln_imds_respond() is then pure over (state,
 * request, now): a guest's path is looked up in memory, never on disk.
 *
 * Tokens carry their state: base64url(expiry || HMAC-SHA256(secret, expiry)),
 * expiry in milliseconds since the epoch, big-endian, so a token lives its
 * TTL to the millisecond (a 1-second token made at 10.999 s is good until
 * 11.999 s); any process holding the folder's secret checks any token.
 */
#ifndef KILN_BOOT_IMDS_H
#define KILN_BOOT_IMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

#define KILN_IMDS_SECRET_SIZE 32u
#define KILN_IMDS_TTL_MAX 21600u          /* seconds, EC2's limit */
#define KILN_IMDS_TOKEN_LEN 54u           /* base64url of 8 + 32 bytes, unpadded */
#define KILN_IMDS_MAX_ENTRIES 1024u       /* files and folders in a tree */
#define KILN_IMDS_MAX_DEPTH 16u           /* folders below tree/ */
#define KILN_IMDS_NAME_MAX 255u           /* bytes in a name */
#define KILN_IMDS_FILE_MAX (1u << 20)     /* bytes in one file (user data: EC2 takes 16 KiB) */
#define KILN_IMDS_TOTAL_MAX (16u << 20)   /* bytes in a whole tree */
#define KILN_IMDS_HEAD_MAX 512u           /* a response's status line and headers */
#define KILN_IMDS_CONN_DEFAULT 16u        /* guest connections served at once, per instance */
#define KILN_IMDS_CONN_MAX 1024u          /* the most max_connections may say */

struct kiln_imds_bdm {
        const char *name;   /* "ami", "root", "swap", "ebsN", "ephemeralN" */
        const char *device; /* "/dev/xvda", "sdf", "sdb" */
};

/* A network interface, as meta-data/network/interfaces/macs/MAC/ serves it. */
struct kiln_imds_nic {
        unsigned device_number;         /* DeviceIndex, below KILN_IMDS_NICS_MAX */
        const char *mac;                /* lowercase; device 0's is the instance's mac */
        const char *interface_id;       /* eni- + 8 or 17 lowercase hex */
        const char *local_hostname;     /* ip-100-64-16-15.ec2.internal */
        const char *local_ipv4;         /* device 0's is the instance's local_ipv4 */
        const char *subnet_id;          /* subnet- + 8 or 17 lowercase hex */
        const char *subnet_ipv4_cidr;   /* A.B.C.D/N, holding local_ipv4 */
        const char *ipv6;               /* NULL: no IPv6 (no ipv6s, subnet-ipv6-cidr-blocks) */
        const char *subnet_ipv6_cidr;   /* with ipv6: PREFIX/N, holding it */
};

#define KILN_IMDS_NICS_MAX 16u

struct kiln_imds_instance {
        const char *instance_id;       /* i- + 8 or 17 lowercase hex */
        const char *ami_id;            /* ami- + hex */
        const char *instance_type;     /* t3.micro */
        const char *hostname;          /* ip-10-0-2-15.ec2.internal: hostname and local-hostname */
        const char *local_ipv4;        /* dotted quad */
        const char *mac;               /* 52:54:00:12:34:56, lowercase */
        const char *availability_zone; /* us-east-1a: the region is it without its last letter */
        const char *key_name, *public_key; /* public_key NULL: no public-keys/; key_name NULL: "kiln" */
        const struct kiln_imds_bdm *bdm;
        size_t n_bdm;
        const void *user_data;         /* NULL: user-data answers 404 */
        size_t user_data_len;
        bool imds_v1;                  /* allow token-less requests */
        const char *architecture;      /* identity document; NULL: "x86_64" */
        uint64_t pending_time;         /* identity document, seconds since the epoch; 0: now */
        /*
         * The network interfaces.  None (n_nics 0): one interface, from mac,
         * local_ipv4 and hostname, with device-number, local-hostname,
         * local-ipv4s and mac only.  Else each with what EC2 serves: also
         * interface-id, owner-id, security-group-ids, security-groups,
         * subnet-id, subnet-ipv4-cidr-block, vpc-id, vpc-ipv4-cidr-block(s),
         * and ipv6s, subnet-ipv6-cidr-blocks, vpc-ipv6-cidr-blocks for one
         * with an IPv6 address; device 0 must be there.
         */
        const struct kiln_imds_nic *nics;
        size_t n_nics;
        const char *vpc_id;                 /* vpc- + hex; with nics */
        const char *const *vpc_ipv4_cidrs;  /* the VPC's blocks, its primary first; with nics */
        size_t n_vpc_ipv4_cidrs;
        const char *vpc_ipv6_cidr;          /* needed by a NIC with an IPv6 address */
        const char *security_group_id;      /* sg- + hex; with nics */
        const char *security_group;         /* its name; NULL: "default" */
        uint32_t max_connections;           /* guest connections served at once; 0: KILN_IMDS_CONN_DEFAULT */
};

/*
 * Write the state folder DIR (which must not exist, or be an empty folder):
 * filled under a temporary name beside it, renamed into place, removed on
 * failure.  -EINVAL with a message naming the field for a bad instance.
 */
int kiln_imds_dir_write(const char *dir, const struct kiln_imds_instance *in);

struct kiln_imds_state;

/* Read DIR (see above).  -EBADMSG for a bad settings file or secret,
 * -EFBIG / -E2BIG past the limits above, -errno from the file system. */
int kiln_imds_load(const char *dir, struct kiln_imds_state **ret);
void kiln_imds_state_free(struct kiln_imds_state *st);
/* The folder's max_connections. */
uint32_t kiln_imds_max_connections(const struct kiln_imds_state *st);

/*
 * Take one of DIR's max connection slots: DIR/slots/0 .. max-1 (the folder
 * and files made as needed, never through a link), the first one no other
 * process holds an exclusive flock() on.  The lock lives as long as *ret_fd
 * is open, so a process that ends, however it ends, frees its slot, and no
 * two processes ever hold the same one.  -EBUSY when all are held (the
 * caller answers 429), -errno from the file system.
 */
int kiln_imds_slot_take(const char *dir, uint32_t max, int *ret_fd);

/* A state in memory, for kiln_imds_load() and for tests. */
int kiln_imds_state_new(const uint8_t secret[KILN_IMDS_SECRET_SIZE], bool imds_v1, struct kiln_imds_state **ret);
/*
 * Add a file (data != NULL) or a folder (data == NULL) at path, relative to
 * tree/ ("meta-data/placement/region"); missing folders are made.  A last
 * name ".listing" sets its folder's listing.  -EINVAL for a name that is
 * empty, ".", "..", holds a control character, a backslash or starts with
 * '.'; -EEXIST for a clash; -EFBIG / -E2BIG past the limits.
 */
int kiln_imds_state_add(struct kiln_imds_state *st, const char *path, const void *data, size_t len);

struct kiln_imds_response {
        int status;
        bool close;          /* "Connection: close"; the caller closes after sending */
        uint32_t token_ttl;  /* > 0: X-aws-ec2-metadata-token-ttl-seconds */
        bool allow;          /* 405: "Allow: GET, PUT" */
        const uint8_t *body; /* into the state or owned */
        size_t body_len;
        uint8_t *owned;      /* freed by kiln_imds_response_free */
};

/*
 * The answer to one parsed request at time now_ms (milliseconds since the
 * epoch):
 *   PUT /VERSION/api/token  200 with a token; 403 with X-Forwarded-For; 400
 *                           without a TTL of 1..21600
 *   GET                     401 without a valid, unexpired token (unless
 *                           imds_v1 and no token at all); 404 unknown path;
 *                           200 a file, or a folder's listing
 *   other methods, or a method the path does not take   405
 *   a malformed path ("..", ".", "//", %-escapes of '/', NUL, control
 *   characters, backslash)   400
 * VERSION is "latest", "1.0" or any YYYY-MM-DD; "/" lists versions.
 * Returns 0, or -ENOMEM (then *ret is untouched).
 */
int kiln_imds_respond(const struct kiln_imds_state *st, const struct kiln_http_request *req, uint64_t now_ms,
                      struct kiln_imds_response *ret);
/* The answer to a kiln_http_parse() error: 400, 413, 414, 431, 501 or 505, and close. */
void kiln_imds_respond_error(int parse_err, struct kiln_imds_response *ret);
/* The answer on a connection over max_connections: 429 Too Many Requests, and
 * close, as EC2 throttles. */
void kiln_imds_respond_throttled(struct kiln_imds_response *ret);
/* Status line and headers (Date from now) into buf; their length, or -ENOSPC. */
int kiln_imds_response_head(const struct kiln_imds_response *r, uint64_t now, char *buf, size_t size);
void kiln_imds_response_free(struct kiln_imds_response *r);

#endif
