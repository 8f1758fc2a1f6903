/* SPDX-License-Identifier: MIT */
/*
 * Rendering an instance's network configuration (netcfg.h) for the network
 * stack an image has, the way cloud-init's renderers do: which stack (a pure
 * choice over what the root holds, asked through a probe), and the files
 * for it (pure: struct -> paths and contents).  Writing them into a root is
 * the caller's (network.c in kiln-init, the build summary in kiln).
 *
 * Every file kiln renders carries kiln's name, so that a later render
 * replaces exactly kiln's files and never touches the image's own:
 *   netplan          etc/netplan/50-kiln.yaml
 *   ifupdown         etc/network/interfaces.d/50-kiln,
 *                    etc/udev/rules.d/70-kiln-net.rules (names pinned to MACs)
 *   NetworkManager   etc/NetworkManager/system-connections/kiln-ID.nmconnection
 *   systemd-networkd etc/systemd/network/10-kiln-ID.network (and .link for set-name),
 *                    plus the links that enable systemd-networkd
 * NetworkManager's set-name is the same 10-kiln-ID.link (udev renames, not
 * NetworkManager); netplan gets the networkd links too (netrender.c says why).
 *
 * ID is the interface's id when that is 1 to 64 of [A-Za-z0-9._-] and not
 * "." or ".."; any other id (or none) is rendered by the interface's index
 * in cfg->ifaces, from 0: "if2" for the third ("10-kiln-if2.network").  Two
 * interfaces that would share a name are refused (-EBADMSG).
 */
#ifndef KILN_CLOUD_INIT_LITE_NETRENDER_H
#define KILN_CLOUD_INIT_LITE_NETRENDER_H

#include <stdbool.h>
#include <stddef.h>

#include "netcfg.h"

/* In the order they are chosen (see kiln_net_stack_pick()). */
enum kiln_net_stack {
        KILN_NET_STACK_NONE,
        KILN_NET_STACK_NETPLAN,
        KILN_NET_STACK_IFUPDOWN,
        KILN_NET_STACK_NETWORKMANAGER,
        KILN_NET_STACK_NETWORKD,
};

/* "none", "netplan", "ifupdown", "NetworkManager", "systemd-networkd". */
const char *kiln_net_stack_to_string(enum kiln_net_stack s);

/* What the chooser may ask about a root; paths are relative ("usr/sbin/netplan"),
 * their folders resolved inside the root ("sbin" may be a link to "usr/sbin"). */
struct kiln_net_probe {
        /* Whether the path exists (lstat: a symlink counts, dangling or not). */
        bool (*exists)(void *ud, const char *path);
        /* Read a small regular file (following symlinks inside the root):
         * malloc'd, NUL-terminated; -errno when it cannot. */
        int (*read)(void *ud, const char *path, char **ret, size_t *ret_len);
        /* The target of the symlink path, malloc'd and NUL-terminated;
         * -EINVAL when path is not a symlink, -ENOENT when it is absent.
         * May be NULL: then no symlink is seen (an installed systemd counts
         * as the init, etc/resolv.conf as a plain file). */
        int (*readlink)(void *ud, const char *path, char **ret);
        void *ud;
};

/*
 * The stack, in this order, with one line saying why into reason (may be
 * NULL; 256 bytes hold every reason):
 *  1. netplan, when its command is installed (usr/sbin/netplan or sbin/netplan):
 *     it renders for networkd or NetworkManager itself, at boot;
 *  2. ifupdown, when ifup is installed (sbin/ifup or usr/sbin/ifup) and
 *     etc/network/interfaces reads etc/network/interfaces.d/50-kiln: a line
 *     "source PATTERN" whose pattern (a relative one taken from
 *     /etc/network) is a glob in /etc/network/interfaces.d matching
 *     "50-kiln" ("*" does, "*.cfg" does not), or "source-directory DIR"
 *     (or "source-dir") with DIR /etc/network/interfaces.d or interfaces.d;
 *  3. NetworkManager, when installed (usr/sbin/NetworkManager or
 *     sbin/NetworkManager) and enabled
 *     (etc/systemd/system/multi-user.target.wants/NetworkManager.service);
 *  4. systemd-networkd, when its daemon is there
 *     (lib/systemd/systemd-networkd or usr/lib/systemd/systemd-networkd) and
 *     the init is systemd: sbin/init or usr/sbin/init is a symlink whose
 *     target's last component is "systemd", or lib/systemd/systemd (or
 *     usr/lib/systemd/systemd) exists while neither sbin/init nor
 *     usr/sbin/init does.  kiln enables it;
 *  5. none.
 */
enum kiln_net_stack kiln_net_stack_pick(const struct kiln_net_probe *p, char *reason, size_t reasonlen);

/*
 * Whether nothing else in the image manages etc/resolv.conf for this stack,
 * so that kiln must write it itself.  False when etc/resolv.conf is a
 * symlink, when systemd-resolved (usr/lib/systemd/systemd-resolved or
 * lib/...) or resolvconf (sbin/resolvconf or usr/sbin/resolvconf) is
 * installed, for NetworkManager (it writes the file), and for ifupdown when
 * a DHCP client that writes it is installed (sbin/dhclient with
 * sbin/dhclient-script, or the same pair under usr/sbin, or dhcpcd in
 * usr/sbin or sbin); true otherwise.
 */
bool kiln_net_resolv_is_ours(enum kiln_net_stack s, const struct kiln_net_probe *p);

struct kiln_net_file {
        char *path;     /* relative to the root: "etc/netplan/50-kiln.yaml" */
        char *content;  /* NUL-terminated; NULL for a symlink */
        size_t len;
        unsigned mode;  /* 0644, 0600 (NetworkManager, netplan); 0777 for a symlink */
        char *symlink;  /* the link's target ("/lib/systemd/system/systemd-networkd.service") or NULL */
};

struct kiln_net_files {
        struct kiln_net_file *v;
        size_t n;
};

void kiln_net_files_free(struct kiln_net_files *f);

/*
 * The files for stack s (not NONE: -EINVAL) from cfg, sorted by path.  Each
 * interface is matched by its MAC where it has one, so the kernel's or
 * udev's renaming does not matter.  When several interfaces use DHCP for a
 * family, those without a metric of their own get 100 for the primary and
 * 200, 300, ... for the others in order (cloud-init's EC2 configuration), so
 * the primary interface's DHCP routes get the lowest metric; when one is
 * primary, the boot does not wait for the others.  An interface without
 * name servers or search domains of its own gets the configuration's global
 * ones.  -EBADMSG for a value that is not what it claims (an address, a MAC,
 * a domain, a name: nothing reaches a file that could end a line or a
 * quote), -EOPNOTSUPP for what the stack cannot express, each with a
 * message.  A disabled or empty cfg renders no files.
 */
int kiln_net_render(enum kiln_net_stack s, const struct kiln_netcfg *cfg, struct kiln_net_files *ret);

/*
 * etc/resolv.conf from the configuration's name servers and search domains
 * (global first, then each interface's; cfg may be NULL) and extra ones (a
 * DHCP lease's; may be NULL), without duplicates (domains compared without
 * case), after a comment line: at most 3 nameserver lines as glibc reads,
 * one search line of at most 6 domains.  NULL in *ret when there is no name
 * server at all.  -EBADMSG for an entry that is not an address or a domain.
 */
int kiln_net_render_resolv(const struct kiln_netcfg *cfg, char *const *extra_dns, char *const *extra_search,
                           char **ret);

/* Whether NAME in folder DIR (relative, "etc/systemd/network") is a file
 * some kiln renderer writes: a render removes those it did not write again.
 * The links that enable systemd-networkd are not: they may be the image's. */
bool kiln_net_is_ours(const char *dir, const char *name);
/* The folders kiln_net_is_ours() knows, NULL-terminated. */
extern const char *const kiln_net_dirs[];

#endif
