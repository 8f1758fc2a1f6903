/* SPDX-License-Identifier: MIT */
/*
 * kiln-init's cloud-init-lite pass: the datasource (before growpart, which
 * the user data may turn off), the image's /etc/kiln/cloud.cfg and the
 * user data's #cloud-config once the root is mounted, then the first-boot
 * modules once per instance and, on every boot, bootcmd and the units that
 * run the staged scripts after switch_root.
 */
#ifndef KILN_INITRAMFS_CLOUDINIT_H
#define KILN_INITRAMFS_CLOUDINIT_H

#include <stdbool.h>

#include "cloudconfig.h"
#include "cmdline.h"
#include "datasource.h"
#include "instance.h"
#include "netcfg.h"
#include "userdata.h"

/* kiln-init's state in the root. */
#define KILN_STATE_DIR "/var/lib/kiln"

struct kiln_ci {
        enum kiln_ds_kind kind;
        char reason[256];
        bool have_instance;         /* a datasource answered */
        struct kiln_instance instance;
        struct kiln_userdata ud;    /* user data parts (vendor data first) */
        struct kiln_cloud_config cc;
        bool have_cc;               /* the user data held #cloud-config */
        unsigned given_keys;        /* host key types the user data installed */
        char ephemeral0[64];        /* "/dev/nvme1n1", "" when none */
        struct kiln_netcfg image_net; /* network: in the image's /etc/kiln/cloud.cfg */
        bool image_net_set;
};

/* Find and read the datasource, decode the user data, parse its
 * #cloud-config parts.  Logs what it found; failures are logged and leave
 * ci without user data.  -errno when nothing could be read. */
int kiln_ci_fetch(struct kiln_ci *ci, const struct kiln_cmdline *cmd);

/* Whether the user data turns growpart / resize_rootfs off. */
bool kiln_ci_growpart_off(const struct kiln_ci *ci);
bool kiln_ci_resize_off(const struct kiln_ci *ci);

/* The root is mounted at root: ROOT/etc/kiln/cloud.cfg's network: (kept
 * for kiln_ci_network()) and its default user, unless the user data names
 * its own. */
void kiln_ci_load_image_config(struct kiln_ci *ci, const char *root);

/*
 * Per instance (first_time): the user data and meta-data kept in
 * state_dir, then every module of kiln_apply_all().  Every boot: bootcmd,
 * the units and /run/kiln/kiln-init.  Returns the number of failures.
 */
int kiln_ci_apply(struct kiln_ci *ci, const char *root, const char *state_dir, bool first_time);

/*
 * The network (network.h): rendered for the root's stack when the instance
 * (instance_id) or the set of its NICs' MACs differs from what
 * ROOT/var/lib/kiln/network recorded.  The configuration, by cloud-init's
 * precedence: disabled by the image's cloud.cfg or the user data
 * ("network: {config: disabled}"); the image's cloud.cfg network:; the
 * NoCloud seed's network-config; EC2's NICs; the fallback.  1 when nothing
 * was to be done, 0 rendered, -errno with a message.
 */
int kiln_ci_network(struct kiln_ci *ci, const char *root, const char *instance_id);

/* The SSH host key types to make (KILN_HOSTKEY_* bits of apply.h): the
 * user data's ssh_genkeytypes, else defaults, minus the types its ssh_keys
 * installed. */
unsigned kiln_ci_keytypes(const struct kiln_ci *ci, unsigned defaults);

void kiln_ci_free(struct kiln_ci *ci);

#endif
