/* SPDX-License-Identifier: MIT */
/*
 * First-boot modules: a parsed #cloud-config (cloudconfig.h) applied to a
 * root file system that is not the running one, the way cloud-init's
 * modules of the same names apply it.  kiln-init calls them from the
 * initramfs with the real root mounted; everything that has to run inside
 * the booted system (scripts, runcmd, bootcmd, deferred write_files,
 * final_message, power_state) is staged into the root and run later by
 * kiln_stage_run() ("kiln-init --stage boot|final").
 *
 * Every module works on a root given as an open folder (ctx->rootfd); every
 * path is relative to it and resolved inside it (openat2 RESOLVE_IN_ROOT):
 * a symlink never leads out of the root.  Owners and groups are looked up
 * in the root's etc/passwd and etc/group, never through NSS.
 *
 * Each module returns >= 0 on success and -errno with a one-line message
 * (kiln_last_error()) naming the file or key on failure; within a module one
 * failing item (a user, a file) is logged through ctx->log and the others
 * are still done, the first failure being returned.  A failing module never
 * stops the others: the caller runs them all, in the order of
 * kiln_apply_all().  Lines through ctx->log are one line each, without a
 * newline, and never hold secrets (password hashes, private keys).
 */
#ifndef KILN_CLOUD_INIT_LITE_APPLY_H
#define KILN_CLOUD_INIT_LITE_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "cloudconfig.h"
#include "instance.h"
#include "userdata.h"

struct kiln_apply_ctx {
        int rootfd;                 /* the root, open O_RDONLY|O_DIRECTORY */
        const char *root_name;      /* for messages only, e.g. "/newroot" */
        /* One line per thing done ("users: added 'alice' (uid 1000)"); may be NULL. */
        void (*log)(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
        void *log_ud;
        const struct kiln_instance *instance; /* instance_id, local_hostname, public_keys */
        /* The instance-store device "ephemeral0" maps to ("/dev/nvme1n1"),
         * or NULL when the instance has none. */
        const char *ephemeral0;
};

/* ---- passwd.c: users and groups (cloud-init's users_groups) -------------- */

/*
 * groups: (created, members added), then the users cloud-init would make
 * (the default user when users: is absent or lists "default"), each added to
 * etc/passwd, etc/shadow, etc/group, etc/gshadow under etc/.pwd.lock (held
 * with an fcntl lock, as lckpwdf() holds it), every changed file written to
 * a temporary FILE+ in etc/, fsync'd and renamed, keeping the original's
 * mode and owner.  IDs are picked like useradd (UID_MIN... from
 * etc/login.defs), a user private group unless primary_group is given,
 * supplementary groups created when missing, the home made from etc/skel,
 * sudo rules in etc/sudoers.d/90-cloud-init-users.  An existing user is
 * updated: groups and sudo rules added, the password hash set, locked.
 */
int kiln_apply_users(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);

/*
 * The users cloud-init would create, in order: pointers into cc (the
 * default user is &cc->default_user).  *ret is malloc'd, NULL when none.
 */
int kiln_cc_effective_users(const struct kiln_cloud_config *cc, const struct kiln_cc_user ***ret,
                            size_t *ret_n);
/* The default user's name, or NULL when there is none. */
const char *kiln_cc_default_user_name(const struct kiln_cloud_config *cc);

/* A login or group name useradd accepts: [A-Za-z_][A-Za-z0-9_.-]*[$]?, at most 32. */
bool kiln_valid_user_name(const char *name);

/* The root's account data, for owners: -ENOENT (with a message) when absent.
 * ret_home may be NULL; *ret_home is malloc'd. */
int kiln_root_getpwnam(int rootfd, const char *name, unsigned *ret_uid, unsigned *ret_gid,
                       char **ret_home);
int kiln_root_getgrnam(int rootfd, const char *name, unsigned *ret_gid);

/* ---- ssh.c: keys, sshd settings, host keys (cloud-init's ssh, set_passwords) */

/*
 * Authorized keys: each user's own ssh_authorized_keys; the meta-data public
 * keys and the top-level ssh_authorized_keys to the default user; the same
 * keys to root, behind cloud-init's forced command when disable_root is true
 * (the default).  ~/.ssh is 0700 and ~/.ssh/authorized_keys 0600, owned by
 * the user; a key already there (same type and blob) is replaced in place,
 * never duplicated.
 */
int kiln_apply_ssh_authorized_keys(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);

/* The option prefix root's keys get: cloud-init's disable_root_opts with
 * $USER = user (NULL: "NONE") and $DISABLE_USER = root.  malloc'd. */
char *kiln_ssh_disable_root_opts(const struct kiln_cloud_config *cc, const char *user);

/*
 * ssh_pwauth: "PasswordAuthentication yes|no" in
 * etc/ssh/sshd_config.d/50-kiln-cloud-init.conf when etc/ssh/sshd_config
 * includes that folder, else sshd_config's own line edited (atomically).
 * Nothing when ssh_pwauth is unset.
 */
int kiln_apply_ssh_pwauth(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);

/* Host key types kiln knows, as bits of the masks below. */
enum { KILN_HOSTKEY_RSA = 1u << 0, KILN_HOSTKEY_ECDSA = 1u << 1, KILN_HOSTKEY_ED25519 = 1u << 2 };
/* "rsa", "ecdsa", "ed25519" -> bit; 0 for anything else. */
unsigned kiln_hostkey_type_bit(const char *type);

/*
 * ssh_deletekeys (default true): etc/ssh/ssh_host_*key* removed.  Then
 * ssh_keys installed: ssh_host_TYPE_key (0600), .pub (0644),
 * -cert.pub (0644), root-owned, atomically.  *ret_given (may be NULL) gets
 * the types whose private key was given, which the caller must not generate.
 */
int kiln_apply_ssh_host_keys(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                             unsigned *ret_given);

/* The host key types to generate: ssh_genkeytypes (default ecdsa, ed25519)
 * minus those given in ssh_keys, as a mask.  Unknown names are skipped. */
unsigned kiln_ssh_genkeytypes(const struct kiln_cloud_config *cc);

/* ---- files.c: write_files ----------------------------------------------- */

/*
 * The write_files entries whose defer equals deferred: parents made 0755,
 * content through a temporary file and rename (append: O_APPEND on the
 * existing file), permissions, owner "user[:group]" from the root's
 * etc/passwd and etc/group.  The initramfs writes the others; the final
 * stage writes the deferred ones (staged by kiln_stage_write()).
 */
int kiln_apply_write_files(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                           bool deferred);

/*
 * kiln_apply_all()'s pass of the entries not deferred: as
 * kiln_apply_write_files(ctx, cc, false), except that an entry whose owner
 * is a user or group the root lacks and cc's users module makes
 * (kiln_cc_creates_user(), kiln_cc_creates_group()) is written owned by root
 * and marked in *ret_later (malloc'd, one bool per write_files entry; NULL
 * when there is none), for kiln_apply_write_files_owners() to give it its
 * owner (and its mode again) once kiln_apply_users() has run: "write_files:
 * PATH: owner USER:GROUP applied after the users module".
 */
int kiln_apply_write_files_first(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                                 bool **ret_later);
int kiln_apply_write_files_owners(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                                  const bool *later);

/* ---- system.c: hostname, hosts, timezone, mounts --------------------------- */

/* hostname and fqdn as cloud-init's get_hostname_fqdn() picks them from the
 * config and the meta-data's local-hostname.  -ENOENT when neither has one. */
int kiln_cc_hostname_fqdn(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                          char **ret_hostname, char **ret_fqdn);
/* etc/hostname (the short name), unless preserve_hostname. */
int kiln_apply_hostname(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);
/* manage_etc_hosts: true rewrites etc/hosts from Debian's template;
 * localhost adds or updates only the 127.0.1.1 line. */
int kiln_apply_etc_hosts(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);
/* etc/timezone and etc/localtime -> /usr/share/zoneinfo/ZONE (which must exist). */
int kiln_apply_timezone(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);
/*
 * mounts + mount_default_fields (cloud-init's cc_mounts, with the default
 * [ephemeral0, /mnt]): etc/fstab's lines whose options hold
 * "comment=cloudconfig" are replaced, mount points are made, and an
 * ephemeral0 that is mounted is listed in the instance's "format" file for
 * the boot stage (made ext4 there, labelled ephemeral0, by kiln-init itself
 * through mkfs.h when blank).
 */
int kiln_apply_mounts(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);

/* ---- stage.c: what runs after switch_root ------------------------------- */

/*
 * Into var/lib/kiln/instances/ID/ (see kiln-init(8), "User data stages"):
 * scripts/part-NNN (the user scripts run once per instance, 0700, in
 * order), scripts/runcmd, scripts-per-boot/part-NNN
 * (text/x-shellscript-per-boot), scripts-per-once/part-NNN
 * (text/x-shellscript-per-once), boothooks/part-NNN, bootcmd, deferred/
 * (the deferred write_files), final.conf (final_message, power_state),
 * power-condition.  ud may be NULL (no scripts).  What was staged before
 * for the same instance is replaced.
 */
int kiln_stage_write(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                     const struct kiln_userdata *ud);
/* bootcmd for this boot: run/kiln/bootcmd (0700); removed when there is none. */
int kiln_stage_bootcmd(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc);

/* cloud-init's shellify(): "#!/bin/sh\n", strings verbatim, lists with
 * each word in single quotes (' as '\'').  malloc'd. */
char *kiln_shellify(const struct kiln_cc_command *cmds, size_t n);

struct kiln_stage_opts {
        const char *root;     /* "/" in the booted system; NULL = "/" */
        const char *log;      /* NULL = ROOT/var/log/kiln-userdata.log */
        const char *console;  /* a copy of every line; NULL = none */
        /* 1 = blank, 0 = holds something, -errno; NULL = libblkid's probe. */
        int (*is_blank)(void *ud, const char *device);
        void *ud;
};

/*
 * "boot" (every boot): instance-store devices listed in "format" made ext4
 * when blank, the fstab's cloudconfig mounts mounted when they are not,
 * boothooks, bootcmd.  "final", in cloud-init's order: deferred write_files
 * (once per instance); the per-once scripts whose content has no marker in
 * var/lib/kiln/per-once/ yet (the marker, kept for the life of the disk
 * whatever the instance id, is made before the script runs); the per-boot
 * scripts (every boot); the scripts in name order (part-NNN, then runcmd)
 * once per instance (scripts/STATUS gets "NAME STATUS" lines, per-once ones
 * as "per-once/NAME", final.done marks them done); then final_message
 * (every boot), then power_state (once).  Output goes to the log and the
 * console.  Returns 0 when everything ran and succeeded, 1 when something
 * failed (logged), -errno when the stage could not run at all.
 */
int kiln_stage_run(const char *stage, const struct kiln_stage_opts *opts);

/* ---- units.c: systemd units for the stages --------------------------------- */

#define KILN_UNITS_NOT_SYSTEMD 1

/*
 * kiln-bootcmd.service and kiln-userdata.service into run/systemd/system,
 * wanted by sysinit.target and multi-user.target.  Returns 0, or
 * KILN_UNITS_NOT_SYSTEMD (nothing written) when init (NULL = sbin/init) is
 * not systemd: the caller then logs the hook of kiln-init(8).
 */
int kiln_units_write(const struct kiln_apply_ctx *ctx, const char *init);
/* Copy the running program (self, e.g. "/init") to run/kiln/kiln-init, 0755. */
int kiln_stage_install_self(const struct kiln_apply_ctx *ctx, const char *self);

/* ---- everything, in cloud-init's order ----------------------------------- */

/*
 * An instance's first boot: write_files (not deferred), mounts, hostname,
 * etc/hosts, users, the owners of the write_files entries that waited for
 * the users (kiln_apply_write_files_first()), ssh host keys, authorized
 * keys, timezone, ssh_pwauth, then kiln_stage_write(), kiln_stage_bootcmd()
 * and kiln_units_write(NULL): each run whatever the others did, a failure
 * logged as "NAME: FAILED: MESSAGE".  The users and authorized keys see the
 * default user as kiln_cc_default_user_view() makes it.  Returns the number
 * of modules that failed.
 * *ret_given_keys as in kiln_apply_ssh_host_keys(); *ret_units gets
 * kiln_units_write()'s result (both may be NULL).  Later boots need only
 * kiln_stage_every_boot().
 */
int kiln_apply_all(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                   const struct kiln_userdata *ud, unsigned *ret_given_keys, int *ret_units);

/*
 * At every boot (run/ is a fresh tmpfs each time): self copied to
 * run/kiln/kiln-init, the units written (init as kiln_units_write()), and
 * run/kiln/bootcmd from cc when the user data was read at this boot (cc may
 * be NULL: the boot stage then runs the instance's staged copy).  Returns
 * the number of steps that failed (logged); *ret_units (may be NULL) gets
 * kiln_units_write()'s result, KILN_UNITS_NOT_SYSTEMD telling the caller to
 * log the hook of kiln-init(8).
 */
int kiln_stage_every_boot(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, const char *self,
                          const char *init, int *ret_units);

#endif
