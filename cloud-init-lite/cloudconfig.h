/* SPDX-License-Identifier: MIT */
/*
 * #cloud-config: YAML bytes -> struct kiln_cloud_config, with cloud-init's
 * meaning for each supported key (https://cloudinit.readthedocs.io, module
 * reference).  Pure: no I/O.  Several #cloud-config parts merge the way
 * cloud-init merges them by default: a later part's top-level key replaces
 * the earlier one's.
 *
 * Strings are NUL-terminated and owned by the struct; string lists are
 * NULL-terminated arrays (NULL itself when the key is absent).
 *
 * YAML is read as cloud-init's PyYAML reads it: YAML 1.1 scalars (plain
 * 0644 is octal, yes/no are booleans), anchors and aliases (resolved; an
 * alias inside the node it names is refused, and a document that aliases
 * its way past a work budget fails), "<<" merge keys, !!binary.
 *
 * Like cloud-init, which validates with warnings and runs each module on
 * what it can, a document is applied key by key: a key whose value is
 * invalid is listed in errors and left unset, the others are applied.  In
 * users, groups and write_files the unit is one entry: a bad user or file is
 * left out, the other entries stay.  Only a document that is not YAML, or
 * not a mapping, or that exceeds a limit on the whole document, is refused.
 */
#ifndef KILN_CLOUD_INIT_LITE_CLOUDCONFIG_H
#define KILN_CLOUD_INIT_LITE_CLOUDCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netcfg.h"

/* Hard limits on what one document may hold. */
#define KILN_CC_MAX_BYTES (16u << 20)
#define KILN_CC_MAX_ITEMS 4096 /* entries of any one list */
#define KILN_CC_MAX_DEPTH 16

/* A key that may be absent, false or true. */
enum kiln_tristate { KILN_UNSET = -1, KILN_FALSE = 0, KILN_TRUE = 1 };

/* runcmd / bootcmd entries: a string runs under /bin/sh -c, a list is argv. */
struct kiln_cc_command {
        char *shell;  /* set for the string form */
        char **argv;  /* set for the list form */
};

struct kiln_cc_user {
        char *name;
        bool is_default;       /* the "default" entry: the image's default user */
        char *gecos;
        char **groups;         /* supplementary groups (string "a, b" or a list) */
        char *primary_group;
        char **sudo;           /* sudoers rules; NULL = none; sudo: false also NULL */
        char *shell;
        enum kiln_tristate lock_passwd; /* cloud-init's default: true */
        char *passwd;          /* a crypt(3) hash, as `passwd:` or `hashed_passwd:` */
        char *plain_text_passwd; /* reported as unsupported, never written */
        char **ssh_authorized_keys;
        bool system;
        char *homedir;
        bool no_create_home;
        long uid;              /* -1 when not given */
};

struct kiln_cc_group {
        char *name;
        char **members;
};

/* One write_files entry, content already decoded (b64, gzip, gz+b64). */
struct kiln_cc_file {
        char *path;
        uint8_t *content;
        size_t len;
        char *owner;           /* "user:group"; NULL = root:root */
        int permissions;       /* mode bits; -1 = 0644 */
        bool append;
        bool defer;            /* write in the final stage, after users exist */
};

/* ssh_keys: host keys given by the user, e.g. ed25519_private/ed25519_public. */
struct kiln_cc_ssh_key {
        char *type;            /* rsa, ecdsa, ed25519 */
        char *private_key;     /* may be NULL */
        char *public_key;      /* may be NULL */
        char *certificate;     /* TYPE_certificate, may be NULL */
};

/* A mounts entry: cloud-init's fstab six-tuple; missing fields are NULL
 * (filled from mount_default_fields when applied); a NULL mount point
 * (a one-field entry or null) removes the device's entry. */
struct kiln_cc_mount {
        char *field[6];
};

enum kiln_cc_etc_hosts { KILN_HOSTS_UNSET = -1, KILN_HOSTS_FALSE, KILN_HOSTS_TRUE, KILN_HOSTS_LOCALHOST };
enum kiln_cc_growpart_mode { KILN_GROWPART_UNSET = -1, KILN_GROWPART_OFF, KILN_GROWPART_AUTO };
enum kiln_cc_resize { KILN_RESIZE_UNSET = -1, KILN_RESIZE_FALSE, KILN_RESIZE_TRUE, KILN_RESIZE_NOBLOCK };
enum kiln_cc_power { KILN_POWER_UNSET = -1, KILN_POWER_POWEROFF, KILN_POWER_REBOOT, KILN_POWER_HALT };

/*
 * A key, or one entry of users, groups or write_files, that a document held
 * and that is not applied because its value is invalid.
 */
struct kiln_cc_error {
        char *doc;             /* the document's name, as given to kiln_cloud_config_parse() */
        size_t line;           /* 1-based line of the bad value; 0 when unknown */
        char *what;            /* what is not applied: "runcmd", "users[2] (carol)", "write_files[0] (/etc/x)" */
        char *message;         /* what is wrong: "key 'users[2].sudo': expected a string, a list or false" */
};

struct kiln_cloud_config {
        char *hostname;
        char *fqdn;
        enum kiln_tristate preserve_hostname;
        enum kiln_cc_etc_hosts manage_etc_hosts;

        struct kiln_cc_user *users; /* users: (NULL/0 = absent: only the default user) */
        size_t n_users;
        bool users_set;             /* the key was present (an empty list means no users) */
        struct kiln_cc_group *groups;
        size_t n_groups;

        char **ssh_authorized_keys;
        enum kiln_tristate disable_root;   /* default true */
        char *disable_root_opts;           /* NULL = cloud-init's default */
        enum kiln_tristate ssh_pwauth;
        enum kiln_tristate ssh_deletekeys; /* default true */
        char **ssh_genkeytypes;            /* NULL = default (ecdsa, ed25519 here) */
        struct kiln_cc_ssh_key *ssh_keys;
        size_t n_ssh_keys;

        struct kiln_cc_file *write_files;
        size_t n_write_files;

        struct kiln_cc_command *bootcmd;
        size_t n_bootcmd;
        struct kiln_cc_command *runcmd;
        size_t n_runcmd;

        enum kiln_cc_growpart_mode growpart_mode;
        char **growpart_devices;           /* NULL = ["/"] */
        enum kiln_cc_resize resize_rootfs;

        struct kiln_cc_mount *mounts;
        size_t n_mounts;
        bool mounts_set;
        char *mount_default_fields[6];     /* NULL entries = cloud-init's defaults */

        char *timezone;
        char *final_message;

        struct {
                enum kiln_cc_power mode;
                char *delay;                /* "now", "+N" minutes; NULL = now */
                char *message;
                long timeout;               /* seconds; -1 = 30 */
                struct kiln_cc_command condition; /* both NULL = true */
                bool condition_false;       /* condition: false */
        } power_state;

        /* system_info.default_user (from /etc/kiln/cloud.cfg, written by kiln build). */
        struct kiln_cc_user default_user;
        bool default_user_set;

        /* network: a network configuration in either of cloud-init's shapes
         * (netcfg.h): {version: 1|2, ...}, the same under another network:,
         * or {config: disabled}.  Its warnings stay in network.warnings. */
        struct kiln_netcfg network;
        bool network_set;

        /* Top-level keys kiln does not apply, in document order, for one report line. */
        char **unsupported;
        /* Supported keys with values kiln ignores (e.g. plain_text_passwd), as
         * "key: reason" lines. */
        char **warnings;
        /* Keys and entries not applied because their values are invalid, in
         * document order, every document's (at most KILN_CC_MAX_ITEMS). */
        struct kiln_cc_error *errors;
        size_t n_errors;
};

void kiln_cloud_config_init(struct kiln_cloud_config *cc);
void kiln_cloud_config_free(struct kiln_cloud_config *cc);

/*
 * Parse one #cloud-config document (the "#cloud-config" line included or not)
 * and merge it into cc: each top-level key it holds replaces cc's, a key
 * whose value is invalid too (the key is then unset, as the module would
 * have nothing to run on in cloud-init).  name is used in messages
 * ("user-data part 2").  Returns the number of keys and entries not applied
 * (each appended to cc->errors), 0 when everything applies.  -EBADMSG with
 * "NAME:LINE: what is wrong" in kiln_last_error() when the document is not
 * YAML, not a mapping or past a limit of the whole document (-EFBIG for its
 * size, -ENOMEM); cc is then left as it was before the call.
 */
int kiln_cloud_config_parse(struct kiln_cloud_config *cc, const char *name, const void *buf, size_t len);

/*
 * The default user as the users module creates it (cloud-init's
 * _normalize_users): system_info's default_user, its unset fields filled
 * from the users: entry for the default user ("default", or entries
 * without a name, which cloud-init gives to the default user), and that
 * entry's groups, when it has them, in place of the image's.  The fields
 * borrow cc's strings: *ret must not be freed, nor outlive cc.
 */
void kiln_cc_default_user_view(const struct kiln_cloud_config *cc, struct kiln_cc_user *ret);

/* Whether the users module, run on cc, creates (or updates) user name, or
 * creates group name (groups:, users' private, primary and supplementary
 * groups). */
bool kiln_cc_creates_user(const struct kiln_cloud_config *cc, const char *name);
bool kiln_cc_creates_group(const struct kiln_cloud_config *cc, const char *name);

#endif
