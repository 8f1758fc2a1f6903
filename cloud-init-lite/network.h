/* SPDX-License-Identifier: MIT */
/*
 * The network module: the instance's network configuration (netcfg.h)
 * chosen from its sources, rendered for the root's network stack
 * (netrender.h) and written into the root, the way cloud-init's network
 * stage does it before the real init starts.
 *
 * The configurations kiln makes itself are cloud-init's:
 *  - EC2: every NIC of network/interfaces/macs/, matched by MAC, DHCPv4
 *    with route metric 100 * (device-number + 1) (the primary, device 0,
 *    carries the default route), DHCPv6 where the NIC has ipv6s;
 *  - the fallback: DHCPv4 on the first ethernet NIC, matched by MAC.
 */
#ifndef KILN_CLOUD_INIT_LITE_NETWORK_H
#define KILN_CLOUD_INIT_LITE_NETWORK_H

#include <stdbool.h>
#include <stddef.h>

#include "apply.h"
#include "instance.h"
#include "net.h"
#include "netcfg.h"
#include "netrender.h"

/* From EC2's NICs (in->nics, in->n_nics > 0).  Pure. */
int kiln_netcfg_from_ec2(const struct kiln_instance *in, struct kiln_netcfg *ret);
/* DHCPv4 on nic, matched by its MAC.  Pure. */
int kiln_netcfg_fallback(const struct kiln_netif *nic, struct kiln_netcfg *ret);
/* Each interface matched by MAC gets the name that NIC has now
 * (ifname_hint), for the stacks that need a name.  Pure. */
int kiln_netcfg_bind(struct kiln_netcfg *cfg, const struct kiln_netif *nics, size_t n);

/* A probe (netrender.h) answering from the root open at *rootfd, every
 * path resolved inside it. */
void kiln_net_probe_root(const int *rootfd, struct kiln_net_probe *ret);

/*
 * Render cfg for the root's stack and write it: the stack's files replaced
 * through temporary names, kiln's files that this render did not write
 * again removed (a stack or a NIC that went away), and etc/resolv.conf
 * written from cfg and extra_dns / extra_domain (a DHCP lease's; may be
 * NULL) when nothing in the image manages it.  One log line through
 * ctx->log per file.  *ret_stack (may be NULL) gets the stack;
 * KILN_NET_STACK_NONE writes nothing and returns 0 (the caller warns).
 */
int kiln_apply_network(const struct kiln_apply_ctx *ctx, const struct kiln_netcfg *cfg, char *const *extra_dns,
                       const char *extra_domain, enum kiln_net_stack *ret_stack);

#endif
