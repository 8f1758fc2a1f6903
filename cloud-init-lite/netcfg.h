/* SPDX-License-Identifier: MIT */
/*
 * An instance's network configuration, as cloud-init models it: one struct
 * whatever it came from (a NoCloud seed's network-config, version 1 or 2;
 * the EC2 metadata's network/interfaces/macs/; the fallback of DHCP on the
 * first NIC), rendered for the network stack the image has (netrender.h).
 *
 * The parser is pure (YAML bytes -> struct, no I/O) with hard limits, and
 * reads YAML as cloud-init's PyYAML does (yamltree.h).  What cloud-init's
 * network-config can say and kiln does not render (bonds, bridges, VLANs,
 * wifis, ...) is reported in ->warnings, one line each, and skipped: the
 * rest of the configuration still applies.
 */
#ifndef KILN_CLOUD_INIT_LITE_NETCFG_H
#define KILN_CLOUD_INIT_LITE_NETCFG_H

#include <stdbool.h>
#include <stddef.h>

/* Hard limits on one configuration. */
#define KILN_NETCFG_MAX_BYTES (1u << 20)
#define KILN_NETCFG_MAX_IFACES 32
#define KILN_NETCFG_MAX_ADDRS 64     /* addresses of one interface */
#define KILN_NETCFG_MAX_ROUTES 64    /* routes of one interface */
#define KILN_NETCFG_MAX_DNS 16       /* name servers or search domains in one list */

struct kiln_net_route {
        char *to;       /* "0.0.0.0/0", "10.0.0.0/8", "::/0", "192.0.2.1/32" */
        char *via;      /* the gateway; NULL for an on-link route */
        long metric;    /* -1: not given */
        bool on_link;   /* v2 on-link: true (the gateway is reachable without a route to it) */
};

/*
 * One ethernet interface.  Which NIC it is: match_mac / match_name /
 * match_driver when any is set (all of them must match); when none is set
 * (a v2 entry without match:, a v1 physical without mac_address), the NIC
 * whose name is id.
 */
struct kiln_net_iface {
        char *id;               /* v2: the ethernets key; v1: the name; "eth0" for the fallback */
        char *match_mac;        /* "0a:1b:2c:3d:4e:5f", lowercase; NULL: not matched by MAC */
        char *match_name;       /* v2 match: name (may be a glob); NULL: none */
        char *match_driver;     /* v2 match: driver; NULL: none */
        char *set_name;         /* v2 set-name, v1 name with a mac_address; NULL: keep the name */
        /* The name the NIC has now, in the initramfs ("eth0"), filled by the
         * caller from the MAC; a stack that needs a name and has no set_name
         * uses it (and pins it to the MAC).  NULL: the id. */
        char *ifname_hint;
        bool dhcp4, dhcp6;
        long dhcp4_metric;      /* v2 dhcp4-overrides route-metric; -1: not given */
        long dhcp6_metric;
        int accept_ra;          /* -1: not given, else 0/1 */
        char **addresses;       /* CIDR: "192.0.2.10/24", "2001:db8::5/64"; NULL-terminated or NULL */
        char *gateway4;         /* v2 gateway4, v1 static gateway; NULL: none */
        char *gateway6;
        struct kiln_net_route *routes;
        size_t n_routes;
        char **nameservers;     /* addresses; NULL-terminated or NULL */
        char **search;          /* search domains */
        unsigned mtu;           /* 0: not given */
        bool optional;          /* v2 optional: true (boot does not wait for it) */
        /* The NIC that carries the default route (EC2 device-number 0, the
         * fallback).  From a network-config: the first interface in document
         * order that has dhcp4, a gateway4 or a route to 0.0.0.0/0; none
         * when no interface has any of them. */
        bool primary;
};

struct kiln_netcfg {
        int version;            /* 1 or 2; 0 for a configuration kiln made (EC2, fallback) */
        bool disabled;          /* "config: disabled": render nothing, leave the image's files alone */
        struct kiln_net_iface *ifaces;
        size_t n_ifaces;
        char **nameservers;     /* global (v1 "nameserver" entries): every stack gets them */
        char **search;
        char **warnings;        /* "network-config:LINE: bonds are not supported (bond0 skipped)" */
};

void kiln_netcfg_init(struct kiln_netcfg *cfg);
void kiln_netcfg_free(struct kiln_netcfg *cfg);

/*
 * What the parser makes of cloud-init's two formats (its "Networking config
 * Version 1" and "Version 2"):
 *
 *  v1  config: entries by type.  physical -> an interface (name required;
 *      with a mac_address, match_mac is the MAC and set_name the name, as
 *      cloud-init renames the NIC to it).  Subnets: dhcp/dhcp4 -> dhcp4,
 *      dhcp6 -> dhcp6, ipv6_dhcpv6-stateful -> dhcp6, ipv6_dhcpv6-stateless
 *      -> dhcp6 and accept_ra 1, ipv6_slaac -> accept_ra 1; static/static6
 *      -> an address (its prefix from ADDR/PREFIX, ADDR/NETMASK, prefix: or
 *      netmask:, else /24 or /64 as cloud-init), gateway -> gateway4 or
 *      gateway6 by its family, dns_nameservers/dns_search and routes -> the
 *      interface's; metric: on a dhcp subnet -> dhcp4_metric/dhcp6_metric.
 *      nameserver -> global name servers and search domains, or the named
 *      interface's with interface:.  A top-level route has no interface in
 *      v1; kiln gives it to the interface with a static address on the
 *      gateway's subnet, else to the one that is primary (rule above), else
 *      to the first interface (with a warning when there is none).  Route
 *      destinations (destination: or network:, with netmask:/prefix: or a
 *      /PREFIX; /24 or /64 when none, as cloud-init) are kept as networks:
 *      "10.1.2.3/24" becomes "10.1.2.0/24".
 *  v2  ethernets: ID -> an interface: match (macaddress, name, driver),
 *      set-name, dhcp4, dhcp6, dhcp4/6-overrides route-metric, accept-ra,
 *      addresses (strings ADDR/PREFIX, or the mapping form whose key is the
 *      address), gateway4, gateway6, routes (to: default is 0.0.0.0/0, or
 *      ::/0 with an IPv6 via; a bare address is a host route), nameservers,
 *      mtu, optional; critical and renderer are ignored.  Without match: the
 *      ID is the interface's name (match_* all NULL).
 *  Both: bonds, bridges, VLANs, wifis, tunnels, ... -> one warning each,
 *  skipped; keys kiln does not render -> a warning.  MAC addresses are
 *  normalised to lowercase; the text of a scalar is taken as written, so an
 *  unquoted MAC that YAML 1.1 would read as a base-60 number still works.
 *  Addresses are checked with inet_pton(3) and written in its canonical
 *  form.  Over a limit above: -E2BIG; a document over
 *  KILN_NETCFG_MAX_BYTES: -EFBIG.
 *
 * Parse a network-config document: a NoCloud seed's network-config, or the
 * value of a #cloud-config's "network:" key.  Either shape is accepted, the
 * configuration itself ({version: 1, config: [...]}, {version: 2,
 * ethernets: {...}}) or the same wrapped in a top-level "network:" key, and
 * {config: disabled} in both.  An empty document is an empty configuration
 * (cloud-init treats it as "none given": *ret->n_ifaces == 0, version 0).
 * name is used in messages ("network-config").  -EBADMSG with a one-line
 * message "NAME:LINE: ..." (kiln_last_error()) for what cloud-init would
 * refuse (not YAML, an unknown version, a physical interface without a
 * name, an address that is not an address); *ret is written only on success.
 */
int kiln_netcfg_parse(const char *name, const void *buf, size_t len, struct kiln_netcfg *ret);

/*
 * The same from a node of a loaded YAML document (yamltree.h): a
 * #cloud-config's "network:" value.  v NULL is an empty configuration.
 * Messages name y->name and the line, with path (the node's key path, ""
 * at the top) in "key 'PATH': ..."; the walk is charged to y's budget.
 */
struct kiln_yaml;
struct kiln_ynode;
int kiln_netcfg_from_node(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path,
                          struct kiln_netcfg *ret);

/* "0A:1b:..." -> "0a:1b:..." in place; false if s is not six hex pairs separated by ':'. */
bool kiln_net_mac_normalize(char *s);

#endif
