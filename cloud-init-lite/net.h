/* SPDX-License-Identifier: MIT */
/*
 * An ephemeral IPv4 network for reaching the instance metadata service from
 * the initramfs, the way cloud-init's EphemeralDHCPv4 does: the first NIC is
 * brought up, configured by DHCP (dhcp.c) over a UDP socket bound to the
 * device, given a default route (and host routes where the router or the
 * metadata address is not on the subnet), and torn down again before
 * switch_root so the real OS configures the NIC its own way.
 */
#ifndef KILN_CLOUD_INIT_LITE_NET_H
#define KILN_CLOUD_INIT_LITE_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "dhcp.h"

typedef void (*kiln_log_fn)(void *ud, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct kiln_net {
        char ifname[IF_NAMESIZE];
        int ifindex;
        uint8_t mac[6];
        short old_flags;         /* the link's flags before kiln_net_up() */
        bool up;                 /* kiln_net_up() set IFF_UP */
        bool configured;         /* the address is set */
        struct kiln_dhcp_lease lease;
        uint32_t routes[3];      /* host routes added (network order); 0 = none */
        bool default_route;
};

/* An ethernet NIC as sysfs shows it. */
struct kiln_netif {
        char ifname[IF_NAMESIZE];
        int ifindex;
        char mac[18];            /* lowercase "0a:1b:..."; "" when unreadable */
        bool has_device;         /* on a bus (virtio, ENA, e1000), not ifb/veth/bridge */
};

#define KILN_NET_MAX_NICS 64

/*
 * The ethernet NICs under root/sys/class/net (root "" or NULL for the real
 * one), lo and non-ethernet types skipped, the first NIC (below) first:
 * those with a "device" link before those without, each by ifindex.  At
 * most max; -errno with a message when the folder cannot be read.
 */
int kiln_net_list_nics(const char *root, struct kiln_netif *ret, size_t max, size_t *ret_n);

/*
 * The first NIC: among root/sys/class/net/NAME (root "" or NULL for the real
 * one), skipping lo, the lowest ifindex whose type is 1 (ARPHRD_ETHER) and
 * that is not a bridge, bond or virtual device (no "device" link is fine for
 * tests: only lo, "bonding" and "bridge" entries are skipped).  -ENODEV when
 * there is none.
 */
int kiln_net_find_nic(const char *root, char ifname[IF_NAMESIZE], int *ret_ifindex);

/*
 * Bring up ifname (NULL: kiln_net_find_nic()), get a lease by DHCP with
 * retries (1, 2, 4, 4... s) until timeout_ms, configure the address, the MTU,
 * a default route and a host route to extra_host (network order, 0 = none,
 * e.g. 169.254.169.254) when it is off the subnet and there is no router.
 * log, if not NULL, gets one-line progress reports.  On failure everything
 * done so far is undone.
 */
int kiln_net_up(const char *root, const char *ifname, uint32_t extra_host, unsigned timeout_ms, kiln_log_fn log,
                void *log_ud, struct kiln_net *ret);

/* Undo kiln_net_up(): routes, the address, the link state.  Idempotent. */
int kiln_net_down(struct kiln_net *n);

#endif
