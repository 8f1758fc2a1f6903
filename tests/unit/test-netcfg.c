/* SPDX-License-Identifier: MIT */
/*
 * network-config parsing (netcfg.h): cloud-init's documented Version 1
 * examples (physical + dhcp, three NICs, static with a prefix and with a
 * netmask, subnet routes, nameserver entries, top-level routes) and Version
 * 2 ones (ethernets matched by MAC with set-name, dhcp4-overrides, routes
 * to default, nameservers, the long example with bonds, bridges and VLANs),
 * the wrapped "network:" form, "config: disabled", the primary interface,
 * warnings, and every error: versions, addresses, MACs, names, shapes, hard
 * limits.  *ret is untouched on error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tap.h"
#include "netcfg.h"
#include "util.h"
#include "yamltree.h"

static int parse(const char *doc, struct kiln_netcfg *cfg)
{
        int r = kiln_netcfg_parse("nc", doc, strlen(doc), cfg);

        if (r < 0)
                tap_diag("  %s", kiln_last_error());
        return r;
}

static bool streq(const char *a, const char *b)
{
        return a && b && !strcmp(a, b);
}

static size_t n_strv(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static bool strv_is(char *const *v, const char *joined)
{
        char buf[1024] = "";

        for (size_t i = 0; v && v[i]; i++)
                snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s%s", i ? "," : "", v[i]);
        if (strcmp(buf, joined))
                tap_diag("  got '%s', expected '%s'", buf, joined);
        return !strcmp(buf, joined);
}

static bool has_warning(const struct kiln_netcfg *cfg, const char *needle)
{
        for (size_t i = 0; cfg->warnings && cfg->warnings[i]; i++)
                if (strstr(cfg->warnings[i], needle))
                        return true;
        for (size_t i = 0; cfg->warnings && cfg->warnings[i]; i++)
                tap_diag("  warning: %s", cfg->warnings[i]);
        return false;
}

static bool route_is(const struct kiln_net_route *rt, const char *to, const char *via, long metric)
{
        bool good = streq(rt->to, to) && (via ? streq(rt->via, via) : !rt->via) && rt->metric == metric;

        if (!good)
                tap_diag("  route %s via %s metric %ld", rt->to, rt->via ? rt->via : "(none)", rt->metric);
        return good;
}

static int n_primary(const struct kiln_netcfg *cfg)
{
        int n = 0;

        for (size_t i = 0; i < cfg->n_ifaces; i++)
                n += cfg->ifaces[i].primary;
        return n;
}

/* --- Version 1 --------------------------------------------------------------- */

static void test_v1_physical(void)
{
        struct kiln_netcfg cfg;
        const struct kiln_net_iface *f;

        ok(parse("network:\n  version: 1\n  config:\n  - type: physical\n    name: eth0\n    subnets:\n"
                 "      - type: dhcp\n", &cfg) == 0 &&
           cfg.version == 1 && !cfg.disabled && cfg.n_ifaces == 1,
           "v1 physical + dhcp (the docs' first example, wrapped in network:)");
        f = &cfg.ifaces[0];
        ok(streq(f->id, "eth0") && f->dhcp4 && !f->dhcp6 && !f->match_mac && !f->match_name && !f->set_name &&
           f->dhcp4_metric == -1 && f->accept_ra == -1 && f->mtu == 0 && !f->addresses && f->primary && !cfg.warnings,
           "eth0: dhcp4, no MAC (the name is the NIC's), primary");
        kiln_netcfg_free(&cfg);

        ok(parse("network:\n  version: 1\n  config:\n    # Simple network adapter\n    - type: physical\n"
                 "      name: interface0\n      mac_address: '00:11:22:33:44:55'\n    # Second nic with Jumbo frames\n"
                 "    - type: physical\n      name: jumbo0\n      mac_address: 'aa:11:22:33:44:55'\n      mtu: 9000\n"
                 "    # 10G pair\n    - type: physical\n      name: gbe0\n      mac_address: 'cd:11:22:33:44:00'\n"
                 "    - type: physical\n      name: gbe1\n      mac_address: 'CD:11:22:33:44:02'\n", &cfg) == 0 &&
           cfg.n_ifaces == 4, "v1 physical example: four NICs");
        ok(streq(cfg.ifaces[0].id, "interface0") && streq(cfg.ifaces[0].match_mac, "00:11:22:33:44:55") &&
           streq(cfg.ifaces[0].set_name, "interface0") && cfg.ifaces[1].mtu == 9000 &&
           streq(cfg.ifaces[3].match_mac, "cd:11:22:33:44:02") && streq(cfg.ifaces[3].set_name, "gbe1"),
           "mac_address -> match_mac (lowercase) and set_name = name; mtu");
        ok(n_primary(&cfg) == 0, "no DHCP, no gateway: no primary interface");
        kiln_netcfg_free(&cfg);
}

static void test_v1_subnets(void)
{
        struct kiln_netcfg cfg;
        const struct kiln_net_iface *f;

        ok(parse("network:\n  version: 1\n  config:\n    - type: physical\n      name: interface0\n"
                 "      mac_address: '00:11:22:33:44:55'\n      subnets:\n        - type: static\n"
                 "          address: 192.168.23.14/27\n          gateway: 192.168.23.1\n          dns_nameservers:\n"
                 "            - 192.168.23.2\n            - 8.8.8.8\n          dns_search:\n"
                 "            - exemplary.maas\n", &cfg) == 0 && cfg.n_ifaces == 1,
           "v1 static subnet example (address with /prefix)");
        f = &cfg.ifaces[0];
        ok(strv_is(f->addresses, "192.168.23.14/27") && streq(f->gateway4, "192.168.23.1") && !f->gateway6 &&
           strv_is(f->nameservers, "192.168.23.2,8.8.8.8") && strv_is(f->search, "exemplary.maas") && !f->dhcp4 &&
           f->primary, "address, gateway -> gateway4, dns_nameservers, dns_search; a gateway4 makes it primary");
        kiln_netcfg_free(&cfg);

        ok(parse("network:\n  version: 1\n  config:\n    - type: physical\n      name: interface0\n"
                 "      mac_address: '00:11:22:33:44:55'\n      subnets:\n        - type: dhcp\n"
                 "        - type: static\n"
                 "          address: 10.184.225.122\n          netmask: 255.255.255.252\n          routes:\n"
                 "            - gateway: 10.184.225.121\n              netmask: 255.240.0.0\n"
                 "              destination: 10.176.0.0\n            - gateway: 10.184.225.121\n"
                 "              netmask: 255.240.0.0\n              destination: 10.208.0.0\n", &cfg) == 0,
           "v1 subnet routes example (address with netmask)");
        f = &cfg.ifaces[0];
        ok(f->dhcp4 && strv_is(f->addresses, "10.184.225.122/30") && f->n_routes == 2 &&
           route_is(&f->routes[0], "10.176.0.0/12", "10.184.225.121", -1) &&
           route_is(&f->routes[1], "10.208.0.0/12", "10.184.225.121", -1),
           "dhcp and a static alias: netmask 255.255.255.252 -> /30; routes with netmask -> /12");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n"
                 "      - {type: static, address: 10.0.0.2, prefix: 8}\n"
                 "      - {type: static, address: 10.1.0.2}\n"
                 "      - {type: static6, address: '2001:DB8:0::2', netmask: 'ffff:ffff:ffff:ffff::',"
                 " gateway: '2001:db8::1'}\n"
                 "      - {type: static, address: 10.2.0.2/255.255.0.0, dns_nameservers: 1.1.1.1 8.8.8.8,"
                 " dns_search: a.example b.example}\n"
                 "      - {type: static6, address: 'fd00::2'}\n"
                 "      - type: static\n        address: 10.3.0.2/24\n        routes:\n"
                 "          - {network: 172.16.0.0, prefix: 12, gateway: 10.3.0.1, metric: 50}\n"
                 "          - {destination: 192.168.7.9, gateway: 10.3.0.1}\n"
                 "          - {destination: '0.0.0.0/0', gateway: 10.3.0.254, metric: '10'}\n", &cfg) == 0,
           "v1 static shapes: prefix:, no mask, IPv6 netmask, ADDR/NETMASK, string DNS lists, routes");
        f = &cfg.ifaces[0];
        ok(strv_is(f->addresses, "10.0.0.2/8,10.1.0.2/24,2001:db8::2/64,10.2.0.2/16,fd00::2/64,10.3.0.2/24"),
           "prefixes: prefix: 8, /24 and /64 by default (as cloud-init), IPv6 canonical, /255.255.0.0 -> /16");
        ok(streq(f->gateway6, "2001:db8::1") && !f->gateway4 && strv_is(f->nameservers, "1.1.1.1,8.8.8.8") &&
           strv_is(f->search, "a.example,b.example"), "gateway -> gateway6 by family; dns_* strings split");
        ok(f->n_routes == 3 && route_is(&f->routes[0], "172.16.0.0/12", "10.3.0.1", 50) &&
           route_is(&f->routes[1], "192.168.7.0/24", "10.3.0.1", -1) &&
           route_is(&f->routes[2], "0.0.0.0/0", "10.3.0.254", 10),
           "routes: network + prefix, metric; a bare destination is a /24 network (cloud-init's default); "
           "'10' is a metric too");
        ok(f->primary, "a route to 0.0.0.0/0 makes it primary");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 1\nconfig:\n"
                 "  - {type: physical, name: a, subnets: [{type: dhcp6, metric: 7}, {type: dhcp4, metric: 200}]}\n"
                 "  - {type: physical, name: b, subnets: [{type: ipv6_slaac}]}\n"
                 "  - {type: physical, name: c, subnets: [{type: ipv6_dhcpv6-stateless}]}\n"
                 "  - {type: physical, name: d, subnets: [{type: ipv6_dhcpv6-stateful}]}\n"
                 "  - {type: physical, name: e, accept-ra: false, subnets: [{type: ipv6_slaac}]}\n"
                 "  - {type: physical, name: f, accept-ra: yes, subnets: [{type: manual}, {type: dhcp, "
                 "gateway: 10.0.0.1}]}\n", &cfg) == 0 && cfg.n_ifaces == 6,
           "v1 subnet types: dhcp6, dhcp4, ipv6_slaac, stateless, stateful, unknown");
        ok(cfg.ifaces[0].dhcp6 && cfg.ifaces[0].dhcp6_metric == 7 && cfg.ifaces[0].dhcp4 &&
           cfg.ifaces[0].dhcp4_metric == 200, "dhcp6 and dhcp4 with a metric");
        ok(!cfg.ifaces[1].dhcp6 && cfg.ifaces[1].accept_ra == 1, "ipv6_slaac -> accept_ra 1");
        ok(cfg.ifaces[2].dhcp6 && cfg.ifaces[2].accept_ra == 1, "ipv6_dhcpv6-stateless -> dhcp6 and accept_ra 1");
        ok(cfg.ifaces[3].dhcp6 && cfg.ifaces[3].accept_ra == -1, "ipv6_dhcpv6-stateful -> dhcp6");
        ok(cfg.ifaces[4].accept_ra == 0 && cfg.ifaces[5].accept_ra == 1 && cfg.ifaces[5].dhcp4 &&
           !cfg.ifaces[5].gateway4, "an explicit accept-ra wins; accept-ra: yes (YAML 1.1)");
        ok(has_warning(&cfg, "nc:8: config[5].subnets[0].type: subnet type 'manual' is not supported") &&
           has_warning(&cfg, "config[5].subnets[1]: a dhcp subnet takes no address"),
           "an unknown subnet type and a gateway on a dhcp subnet are warnings");
        ok(cfg.ifaces[0].primary && n_primary(&cfg) == 1, "the first with dhcp4 is the only primary");
        kiln_netcfg_free(&cfg);
}

static void test_v1_nameserver_route(void)
{
        struct kiln_netcfg cfg;

        ok(parse("network:\n  version: 1\n  config:\n    - type: physical\n      name: interface0\n"
                 "      mac_address: '00:11:22:33:44:55'\n      subnets:\n         - type: static\n"
                 "           address: 192.168.23.14/27\n           gateway: 192.168.23.1\n    - type: nameserver\n"
                 "      interface: interface0  # Ties nameserver to interface0 only\n      address:\n"
                 "        - 192.168.23.2\n        - 8.8.8.8\n      search:\n        - exemplary\n", &cfg) == 0 &&
           cfg.n_ifaces == 1, "v1 nameserver example (tied to an interface)");
        ok(strv_is(cfg.ifaces[0].nameservers, "192.168.23.2,8.8.8.8") && strv_is(cfg.ifaces[0].search, "exemplary") &&
           !cfg.nameservers && !cfg.search, "the interface's name servers, none global");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 1\nconfig:\n  - type: nameserver\n    address: 10.0.0.53\n    search: corp.example\n"
                 "  - {type: nameserver, address: ['2001:4860:4860::8888', 10.0.0.53], search: [a.example, '~.']}\n"
                 "  - type: nameserver\n    interface: eth0\n    address: 9.9.9.9\n"
                 "  - {type: physical, name: eth0, subnets: [{type: dhcp}]}\n", &cfg) == 0,
           "global nameserver entries; one for an interface listed later");
        ok(strv_is(cfg.nameservers, "10.0.0.53,2001:4860:4860::8888") &&
           strv_is(cfg.search, "corp.example,a.example,~.") &&
           strv_is(cfg.ifaces[0].nameservers, "9.9.9.9"),
           "strings and lists, duplicates once; the later interface gets its own");
        kiln_netcfg_free(&cfg);

        ok(parse("network:\n  version: 1\n  config:\n    - type: physical\n      name: interface0\n"
                 "      mac_address: '00:11:22:33:44:55'\n      subnets:\n         - type: static\n"
                 "           address: 192.168.23.14/24\n           gateway: 192.168.23.1\n    - type: route\n"
                 "      destination: 192.168.24.0/24\n      gateway: 192.168.24.1\n      metric: 3\n", &cfg) == 0,
           "v1 route example");
        ok(cfg.ifaces[0].n_routes == 1 && route_is(&cfg.ifaces[0].routes[0], "192.168.24.0/24", "192.168.24.1", 3),
           "a top-level route goes to the primary interface when no address holds its gateway");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 1\nconfig:\n  - type: route\n    network: 10.20.0.0\n    netmask: 255.255.0.0\n"
                 "    gateway: 10.1.0.1\n"
                 "  - {type: physical, name: eth0, subnets: [{type: dhcp}]}\n"
                 "  - {type: physical, name: eth1, subnets: [{type: static, address: 10.1.0.5/16}]}\n"
                 "  - {type: route, destination: 0.0.0.0/0, gateway: 172.31.0.1}\n", &cfg) == 0 &&
           cfg.n_ifaces == 2, "top-level routes before and after the interfaces");
        ok(cfg.ifaces[1].n_routes == 1 && route_is(&cfg.ifaces[1].routes[0], "10.20.0.0/16", "10.1.0.1", -1) &&
           cfg.ifaces[0].n_routes == 1 && route_is(&cfg.ifaces[0].routes[0], "0.0.0.0/0", "172.31.0.1", -1),
           "to the interface on the gateway's subnet, else the primary");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 1\nconfig:\n  - {type: route, destination: 10.0.0.0/8, gateway: 10.0.0.1}\n", &cfg) == 0 &&
           cfg.n_ifaces == 0 && has_warning(&cfg, "nc:3: config[0]: the route to 10.0.0.0/8 has no interface"),
           "a route with no interface at all is a warning");
        kiln_netcfg_free(&cfg);
}

static void test_v1_skipped(void)
{
        struct kiln_netcfg cfg;

        ok(parse("network:\n  version: 1\n  config:\n    - type: physical\n      name: eth0\n"
                 "      mac_address: 'c0:d6:9f:2c:e8:80'\n    - type: physical\n      name: eth1\n"
                 "      mac_address: 'aa:d6:9f:2c:e8:80'\n    - type: bond\n      name: bond0\n"
                 "      bond_interfaces:\n        - eth0\n        - eth1\n      params:\n"
                 "        bond-mode: active-backup\n      subnets:\n        - type: static\n"
                 "          address: 192.168.0.10/24\n    - type: vlan\n      name: bond0.200\n"
                 "      vlan_link: bond0\n      vlan_id: 200\n    - type: bridge\n      name: br0\n"
                 "      bridge_interfaces: [eth1]\n    - type: infiniband\n      name: ib0\n"
                 "    - type: loopback\n      name: lo\n    - type: wireguard\n      name: wg0\n"
                 "    - type: nameserver\n      interface: bond0\n      address: 192.168.0.1\n", &cfg) == 0,
           "a bonded VLAN with a bridge and more parses");
        ok(cfg.n_ifaces == 2 && streq(cfg.ifaces[0].id, "eth0") && streq(cfg.ifaces[1].id, "eth1"),
           "the two physical interfaces are kept");
        ok(has_warning(&cfg, "nc:10: bonds are not supported (bond0 skipped)") &&
           has_warning(&cfg, "VLANs are not supported (bond0.200 skipped)") &&
           has_warning(&cfg, "bridges are not supported (br0 skipped)") &&
           has_warning(&cfg, "InfiniBand interfaces are not supported (ib0 skipped)") &&
           has_warning(&cfg, "loopback interfaces are not supported (lo skipped)") &&
           has_warning(&cfg, "type 'wireguard' is not supported (wg0 skipped)") &&
           has_warning(&cfg, "network.config[8]: the name servers of 'bond0' are skipped with it"),
           "one warning each: bond, vlan, bridge, infiniband, loopback, an unknown type, its nameserver");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 1\nconfig:\n  - {type: physical, name: eth0, subnets: [{type: dhcp}], wakeonlan: true}\n"
                 "  - {type: physical, name: eth0, mtu: 1500}\nextra: 1\n", &cfg) == 0 && cfg.n_ifaces == 1 &&
           !cfg.ifaces[0].dhcp4 && cfg.ifaces[0].mtu == 1500 &&
           has_warning(&cfg, "nc:4: config[1]: physical 'eth0' is listed again, the earlier entry is dropped") &&
           has_warning(&cfg, "config[0].wakeonlan: not supported by kiln, ignored") &&
           has_warning(&cfg, "nc:5: extra: not supported by kiln"),
           "a repeated physical replaces the earlier one (as cloud-init); unknown keys are warnings");
        kiln_netcfg_free(&cfg);
}

/* --- Version 2 ---------------------------------------------------------------- */

static void test_v2(void)
{
        struct kiln_netcfg cfg;
        const struct kiln_net_iface *f;

        ok(parse("network:\n  version: 2\n  ethernets:\n    eno1:\n      dhcp4: true\n", &cfg) == 0 &&
           cfg.version == 2 && cfg.n_ifaces == 1 && streq(cfg.ifaces[0].id, "eno1") && cfg.ifaces[0].dhcp4 &&
           !cfg.ifaces[0].match_mac && !cfg.ifaces[0].match_name && !cfg.ifaces[0].match_driver &&
           cfg.ifaces[0].primary && !cfg.warnings,
           "v2: an ethernet identified by its name, DHCP (wrapped)");
        kiln_netcfg_free(&cfg);

        ok(parse("network:\n  version: 2\n  ethernets:\n"
                 "    # opaque ID for physical interfaces, only referred to by other stanzas\n    id0:\n"
                 "      match:\n        macaddress: '00:11:22:33:44:55'\n      wakeonlan: true\n      dhcp4: true\n"
                 "      addresses:\n        - 192.168.14.2/24\n        - 2001:1::1/64\n      gateway4: 192.168.14.1\n"
                 "      gateway6: 2001:1::2\n      nameservers:\n        search: [foo.local, bar.local]\n"
                 "        addresses: [8.8.8.8]\n      # static routes\n      routes:\n        - to: 192.0.2.0/24\n"
                 "          via: 11.0.0.1\n          metric: 3\n    lom:\n      match:\n        driver: ixgbe\n"
                 "      # you are responsible for setting tight enough match rules\n"
                 "      # that only match one device if you use set-name\n      set-name: lom1\n      dhcp6: true\n"
                 "    switchports:\n      # all cards on second PCI bus; unconfigured by themselves, will be added\n"
                 "      # to br0 below\n      match:\n        name: enp2*\n      mtu: 1280\n  bonds:\n    bond0:\n"
                 "      interfaces: [id0, lom]\n  bridges:\n"
                 "    # the key name is the name for virtual (created) interfaces; no match: and\n"
                 "    # set-name: allowed\n    br0:\n"
                 "      # IDs of the components; switchports expands into multiple interfaces\n"
                 "      interfaces: [wlp1s0, switchports]\n      dhcp4: true\n  vlans:\n    en-intra:\n      id: 1\n"
                 "      link: id0\n      dhcp4: yes\n", &cfg) == 0 && cfg.n_ifaces == 3,
           "v2: the docs' complex example parses; three ethernets");
        f = &cfg.ifaces[0];
        ok(streq(f->id, "id0") && streq(f->match_mac, "00:11:22:33:44:55") && !f->set_name && f->dhcp4 &&
           strv_is(f->addresses, "192.168.14.2/24,2001:1::1/64") && streq(f->gateway4, "192.168.14.1") &&
           streq(f->gateway6, "2001:1::2") && strv_is(f->search, "foo.local,bar.local") &&
           strv_is(f->nameservers, "8.8.8.8") && f->n_routes == 1 &&
           route_is(&f->routes[0], "192.0.2.0/24", "11.0.0.1", 3) && f->primary,
           "id0: match macaddress, dhcp4, addresses, gateways, nameservers, a route; primary");
        f = &cfg.ifaces[1];
        ok(streq(f->id, "lom") && streq(f->match_driver, "ixgbe") && streq(f->set_name, "lom1") && f->dhcp6 &&
           !f->dhcp4 && !f->primary, "lom: match driver, set-name, dhcp6");
        f = &cfg.ifaces[2];
        ok(streq(f->id, "switchports") && streq(f->match_name, "enp2*") && f->mtu == 1280,
           "switchports: match name (a glob), mtu");
        ok(has_warning(&cfg, "nc:8: network.ethernets.id0.wakeonlan: not supported by kiln, ignored") &&
           has_warning(&cfg, "nc:37: bonds are not supported (bond0 skipped)") &&
           has_warning(&cfg, "nc:42: bridges are not supported (br0 skipped)") &&
           has_warning(&cfg, "nc:47: VLANs are not supported (en-intra skipped)") && n_strv(cfg.warnings) == 4,
           "warnings: wakeonlan, one each for the bond, the bridge and the VLAN, with their lines");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 2\nrenderer: networkd\nethernets:\n  primary-nic:\n    match:\n"
                 "      macaddress: 0A:1B:2C:3D:4E:5F\n    set-name: eth0\n    dhcp4: yes\n"
                 "    dhcp4-overrides: {route-metric: 100, use-dns: false}\n    dhcp6: on\n"
                 "    dhcp6-overrides: {route-metric: 0x10}\n    accept-ra: off\n    optional: true\n"
                 "    critical: true\n    renderer: NetworkManager\n    mtu: 9001\n    addresses:\n"
                 "      - '10.0.0.5/24':\n          lifetime: 0\n          label: x\n      - 2001:DB8::5/64\n"
                 "    routes:\n      - to: default\n        via: 10.0.0.1\n      - to: default\n"
                 "        via: '2001:db8::1'\n        metric: 1024\n      - {to: 10.9.9.9, on-link: true}\n"
                 "      - {to: 10.8.0.0/16, via: 10.0.0.254, table: 100}\n"
                 "    nameservers:\n      addresses: [1.1.1.1, '2606:4700:4700::1111']\n      search: [ec2.internal]\n"
                 "  eth1: {}\n  eth2:\n", &cfg) == 0 && cfg.n_ifaces == 3,
           "v2: overrides, routes to default, the address mapping form, on-link, empty entries");
        f = &cfg.ifaces[0];
        ok(streq(f->match_mac, "0a:1b:2c:3d:4e:5f") && streq(f->set_name, "eth0") && f->dhcp4 &&
           f->dhcp4_metric == 100 && f->dhcp6 && f->dhcp6_metric == 16 && f->accept_ra == 0 && f->optional &&
           f->mtu == 9001,
           "match macaddress normalised, set-name, dhcp4/6-overrides route-metric, accept-ra, optional");
        ok(strv_is(f->addresses, "10.0.0.5/24,2001:db8::5/64"), "addresses: the mapping form's key; IPv6 canonical");
        ok(f->n_routes == 4 && route_is(&f->routes[0], "0.0.0.0/0", "10.0.0.1", -1) &&
           route_is(&f->routes[1], "::/0", "2001:db8::1", 1024) && route_is(&f->routes[2], "10.9.9.9/32", NULL, -1) &&
           f->routes[2].on_link && !f->routes[0].on_link && route_is(&f->routes[3], "10.8.0.0/16", "10.0.0.254", -1),
           "to: default by the via's family; a bare address is a host route; on-link");
        ok(strv_is(f->nameservers, "1.1.1.1,2606:4700:4700::1111") && strv_is(f->search, "ec2.internal"),
           "nameservers addresses and search");
        ok(has_warning(&cfg, "ethernets.primary-nic.dhcp4-overrides.use-dns: not supported") &&
           has_warning(&cfg, "ethernets.primary-nic.routes[3].table: not supported") && n_strv(cfg.warnings) == 2,
           "use-dns and a route table are warnings; critical and renderer are not");
        ok(streq(cfg.ifaces[1].id, "eth1") && streq(cfg.ifaces[2].id, "eth2") && !cfg.ifaces[1].dhcp4 &&
           cfg.ifaces[2].accept_ra == -1 && f->primary && !cfg.ifaces[1].primary,
           "eth1: {} and eth2: null are interfaces with nothing set");
        kiln_netcfg_free(&cfg);

        ok(parse("version: 2\nethernets:\n  eth0:\n    set-name: foo\n    addresses: ['2001:db8::2/64']\n"
                 "    gateway6: '2001:db8::1'\n  eth1:\n    match: {name: 'ens*', driver: 'virtio_net', path: x}\n"
                 "    addresses: [192.0.2.9/24]\n    gateway4: 192.0.2.1\n  eth2: {dhcp4: true}\n"
                 "wifis:\n  wlan0: {}\ntunnels: {he-ipv6: {}}\nvrfs: null\nfoo: bar\n", &cfg) == 0 &&
           cfg.n_ifaces == 3, "v2: set-name without match, other match keys, other device types");
        ok(!cfg.ifaces[0].set_name && has_warning(&cfg, "nc:4: ethernets.eth0.set-name: set-name needs match:"),
           "set-name without match: is a warning and ignored");
        ok(streq(cfg.ifaces[1].match_name, "ens*") && streq(cfg.ifaces[1].match_driver, "virtio_net") &&
           has_warning(&cfg, "ethernets.eth1.match.path: kiln matches only on macaddress, name and driver"),
           "match name and driver; match path is a warning");
        ok(!cfg.ifaces[0].primary && cfg.ifaces[1].primary && !cfg.ifaces[2].primary,
           "primary: the first with gateway4, not the IPv6-only one before it nor the DHCP one after it");
        ok(has_warning(&cfg, "nc:13: wifis are not supported (wlan0 skipped)") &&
           has_warning(&cfg, "tunnels are not supported (he-ipv6 skipped)") &&
           has_warning(&cfg, "nc:16: foo: not supported by kiln, ignored") && n_strv(cfg.warnings) == 5,
           "wifis, tunnels: one warning per entry; an unknown key; vrfs: null nothing");
        kiln_netcfg_free(&cfg);

        /* YAML 1.1 as PyYAML has it: an unquoted MAC that is a base-60 number, anchors and merge keys. */
        ok(parse("version: 2\nx-common: &common\n  dhcp4: true\n  mtu: 1500\nethernets:\n"
                 "  a:\n    <<: *common\n    match: {macaddress: 52:54:00:12:34:56}\n"
                 "  b:\n    <<: *common\n    mtu: 9000\n", &cfg) == 0 && cfg.n_ifaces == 2 &&
           streq(cfg.ifaces[0].match_mac, "52:54:00:12:34:56") && cfg.ifaces[0].dhcp4 && cfg.ifaces[0].mtu == 1500 &&
           cfg.ifaces[1].dhcp4 && cfg.ifaces[1].mtu == 9000 && has_warning(&cfg, "x-common"),
           "anchors and '<<' merge keys; an unquoted MAC is taken as written");
        kiln_netcfg_free(&cfg);

        ok(parse("{\"version\": 2, \"ethernets\": {\"ens5\": {\"dhcp4\": true, \"match\": "
                 "{\"macaddress\": \"02:00:00:00:00:01\"}}}}", &cfg) == 0 && cfg.n_ifaces == 1 &&
           streq(cfg.ifaces[0].match_mac, "02:00:00:00:00:01"), "JSON is YAML too");
        kiln_netcfg_free(&cfg);
}

/* --- shapes --------------------------------------------------------------------- */

static void test_shapes(void)
{
        static const char *const disabled[] = {
                "network:\n  config: disabled\n",
                "config: disabled\n",
                "network: {version: 2, config: disabled, ethernets: {eth0: {dhcp4: true}}}\n",
                "version: 1\nconfig: disabled\n",
        };
        static const char *const empty[] = {
                "", "# nothing\n", "---\n...\n", "network:\n", "network: {}\n", "{}\n", "~\n",
                "version: 2\n", "version: 1\nconfig: []\n", "network:\n  version: 2\n  ethernets: {}\n",
        };
        struct kiln_netcfg cfg;

        for (size_t i = 0; i < ARRAY_SIZE(disabled); i++) {
                ok(parse(disabled[i], &cfg) == 0 && cfg.disabled && cfg.n_ifaces == 0, "config: disabled (%zu)", i);
                kiln_netcfg_free(&cfg);
        }
        for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
                ok(parse(empty[i], &cfg) == 0 && !cfg.disabled && cfg.n_ifaces == 0 && !cfg.nameservers &&
                   !cfg.warnings && (i < 7 ? cfg.version == 0 : cfg.version > 0),
                   "an empty configuration (%zu)", i);
                kiln_netcfg_free(&cfg);
        }
        ok(parse("network:\n  version: 2\n  ethernets: {eth0: {dhcp4: true}}\nother: 1\n", &cfg) == 0 &&
           cfg.n_ifaces == 1 && has_warning(&cfg, "nc:4: other: not supported by kiln"),
           "wrapped: keys beside network: are warnings");
        kiln_netcfg_free(&cfg);
        ok(parse("version: 2\nnetwork: {version: 2}\nethernets: {eth0: {dhcp4: true}}\n", &cfg) == 0 &&
           cfg.n_ifaces == 0, "both shapes at once: network: wins (the rest is a warning)");
        kiln_netcfg_free(&cfg);

        /* The same code from a node, as cloudconfig.c calls it. */
        {
                static const struct kiln_yaml_limits lim = { .max_depth = 16, .max_items = 64, .max_scalar = 4096 };
                static const char doc[] = "hostname: x\nnetwork:\n  version: 2\n  ethernets:\n    eth0:\n"
                                          "      dhcp4: perhaps\n";
                struct kiln_yaml y;
                struct kiln_yaml_entries es;
                int r;

                r = kiln_yaml_load(&y, "user-data", doc, strlen(doc), &lim);
                if (r >= 0)
                        r = kiln_yaml_entries(&y, y.root, "", &es);
                if (r >= 0) {
                        r = kiln_netcfg_from_node(&y, es.e[1].v, "network", &cfg);
                        kiln_yaml_entries_free(&es);
                }
                ok(r == -EBADMSG &&
                   streq(kiln_last_error(), "user-data:6: key 'network.ethernets.eth0.dhcp4': expected true or false"),
                   "kiln_netcfg_from_node(): messages name the document and the key path: %s", kiln_last_error());
                ok(kiln_netcfg_from_node(&y, NULL, "network", &cfg) == 0 && cfg.n_ifaces == 0 && cfg.version == 0,
                   "kiln_netcfg_from_node(NULL) is an empty configuration");
                kiln_netcfg_free(&cfg);
                kiln_yaml_free(&y);
        }
}

static void test_mac(void)
{
        char a[] = "0A:1b:2C:3d:4E:5f", b[] = "00:11:22:33:44", c[] = "00-11-22-33-44-55", d[] = "00:11:22:33:44:5g",
             e[] = "00:11:22:33:44:55:66", f[] = "000:11:22:33:44:5", g[] = "";

        ok(kiln_net_mac_normalize(a) && !strcmp(a, "0a:1b:2c:3d:4e:5f"), "kiln_net_mac_normalize: lowercase");
        ok(!kiln_net_mac_normalize(b) && !kiln_net_mac_normalize(c) && !kiln_net_mac_normalize(d) &&
           !kiln_net_mac_normalize(e) && !kiln_net_mac_normalize(f) && !kiln_net_mac_normalize(g),
           "kiln_net_mac_normalize: five pairs, dashes, a non-hex digit, seven pairs, misplaced colons, empty");
}

/* --- errors ------------------------------------------------------------------------ */

static void test_errors(void)
{
        static const struct {
                const char *what, *doc, *msg;
        } cases[] = {
                { "bad YAML", "version: 2\nethernets:\n\t- eth0\n", "nc:3: invalid YAML" },
                { "two documents", "version: 2\n---\nversion: 1\n", "more than one YAML document" },
                { "a list", "- a\n- b\n", "nc:1: a network configuration must be a mapping, not a list" },
                { "a string", "dhcp\n", "nc:1: a network configuration must be a mapping, not a string" },
                { "network: a list", "network: [a]\n",
                  "nc:1: key 'network': a network configuration must be a mapping" },
                { "no version", "ethernets: {eth0: {dhcp4: true}}\n", "nc:1: 'version' is required (1 or 2)" },
                { "version 3", "version: 3\n", "nc:1: key 'version': version 3 is not one kiln reads (1 or 2)" },
                { "version 0", "network:\n  version: 0\n", "nc:2: key 'network.version': version 0 is not one" },
                { "version '2'", "version: '2'\n", "key 'version': expected the number 1 or 2, not '2'" },
                { "version 2.0", "version: 2.0\n", "expected the number 1 or 2, not '2.0'" },
                { "v1 without config", "version: 1\n", "nc:1: version 1 needs 'config'" },
                { "v1 config a mapping", "version: 1\nconfig: {a: 1}\n", "key 'config': expected a list of entries" },
                { "v1 entry not a mapping", "version: 1\nconfig: [physical]\n",
                  "key 'config[0]': expected an entry (a mapping with a type)" },
                { "v1 entry without type", "version: 1\nconfig:\n  - name: eth0\n",
                  "nc:3: key 'config[0]': an entry needs a 'type'" },
                { "physical without name",
                  "version: 1\nconfig:\n  - type: physical\n    mac_address: '00:11:22:33:44:55'\n",
                  "nc:3: key 'config[0]': a physical interface needs a 'name'" },
                { "physical name with a slash", "version: 1\nconfig:\n  - {type: physical, name: ../eth0}\n",
                  "key 'config[0].name': '../eth0' is not an interface name" },
                { "physical name too long", "version: 1\nconfig:\n  - {type: physical, name: abcdefghijklmnop}\n",
                  "'abcdefghijklmnop' is not an interface name (1 to 15" },
                { "v1 bad MAC",
                  "version: 1\nconfig:\n  - {type: physical, name: eth0, mac_address: 'zz:11:22:33:44:55'}\n",
                  "key 'config[0].mac_address': 'zz:11:22:33:44:55' is not a MAC address" },
                { "v1 subnets a mapping", "version: 1\nconfig:\n  - {type: physical, name: e, subnets: {type: dhcp}}\n",
                  "key 'config[0].subnets': expected a list of subnets" },
                { "subnet without type",
                  "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{address: 10.0.0.1}]}\n",
                  "key 'config[0].subnets[0]': a subnet needs a 'type'" },
                { "static without address",
                  "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{type: static}]}\n",
                  "key 'config[0].subnets[0]': a static subnet needs an 'address'" },
                { "v1 bad address", "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{type: static, "
                  "address: 10.0.0.256/24}]}\n",
                  "key 'config[0].subnets[0].address': '10.0.0.256/24' is not an IP address" },
                { "v1 bad prefix", "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{type: static, "
                  "address: 10.0.0.1/33}]}\n", "'10.0.0.1/33' is not an IP address" },
                { "v1 bad netmask", "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{type: static, "
                  "address: 10.0.0.1, netmask: 255.0.255.0}]}\n",
                  "key 'config[0].subnets[0].netmask': '255.0.255.0' is not an IPv4 netmask" },
                { "v1 prefix 40", "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{type: static, "
                  "address: 10.0.0.1, prefix: 40}]}\n",
                  "key 'config[0].subnets[0].prefix': expected a number from 0 to 32" },
                { "v1 bad gateway", "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{type: static, "
                  "address: 10.0.0.1/8, gateway: 10.0.0}]}\n",
                  "key 'config[0].subnets[0].gateway': '10.0.0' is not an IP" },
                { "v1 bad dns", "version: 1\nconfig:\n  - {type: physical, name: e, subnets: [{type: dhcp, "
                  "dns_nameservers: [dns.example]}]}\n",
                  "key 'config[0].subnets[0].dns_nameservers[0]': 'dns.example' is not an IP address" },
                { "v1 route without destination", "version: 1\nconfig:\n  - {type: route, gateway: 10.0.0.1}\n",
                  "key 'config[0]': a route needs a 'destination'" },
                { "v1 route gateway of the other family", "version: 1\nconfig:\n  - {type: route, destination: "
                  "10.0.0.0/8, gateway: '::1'}\n", "key 'config[0].gateway': '::1' is not an IPv4 address" },
                { "v1 route metric -1", "version: 1\nconfig:\n  - {type: route, destination: 10.0.0.0/8, metric: -1}\n",
                  "key 'config[0].metric': expected a number from 0 to 4294967295" },
                { "nameserver without address", "version: 1\nconfig:\n  - {type: nameserver, search: [a]}\n",
                  "key 'config[0]': a nameserver entry needs an 'address'" },
                { "nameserver for a missing interface", "version: 1\nconfig:\n  - {type: nameserver, interface: eth9, "
                  "address: 10.0.0.2}\n", "key 'config[0].interface': no interface 'eth9' in the configuration" },
                { "nameserver with spaces", "version: 1\nconfig:\n  - {type: nameserver, address: 1.1.1.1 8.8.8.8}\n",
                  "'1.1.1.1 8.8.8.8' is not an IP address" },
                { "bad search domain",
                  "version: 1\nconfig:\n  - {type: nameserver, address: 1.1.1.1, search: \"a\\nb\"}\n",
                  "'a\\x0ab' is not a domain name" },
                { "ethernets a list", "version: 2\nethernets: [eth0]\n",
                  "key 'ethernets': expected a mapping of IDs to ethernet configurations" },
                { "an ethernet a string", "version: 2\nethernets:\n  eth0: dhcp\n",
                  "nc:3: key 'ethernets.eth0': expected a mapping" },
                { "an ID that is no name", "version: 2\nethernets:\n  'eth 0': {dhcp4: true}\n",
                  "key 'ethernets.eth 0': 'eth 0' is not an interface name" },
                { "a matched ID with a slash", "version: 2\nethernets:\n  a/b: {match: {name: e*}}\n",
                  "'a/b' is not an ID" },
                { "dhcp4: maybe", "version: 2\nethernets:\n  eth0:\n    dhcp4: maybe\n",
                  "nc:4: key 'ethernets.eth0.dhcp4': expected true or false" },
                { "v2 bad MAC", "version: 2\nethernets:\n  e:\n    match: {macaddress: '00:11:22:33:44'}\n",
                  "key 'ethernets.e.match.macaddress': '00:11:22:33:44' is not a MAC address" },
                { "v2 MAC a list", "version: 2\nethernets:\n  e:\n    match: {macaddress: [a]}\n",
                  "key 'ethernets.e.match.macaddress': expected a string" },
                { "v2 match a string", "version: 2\nethernets:\n  e:\n    match: eth0\n",
                  "key 'ethernets.e.match': expected a mapping" },
                { "bad match name", "version: 2\nethernets:\n  e:\n    match: {name: 'e n'}\n",
                  "'e n' is not an interface name or glob" },
                { "bad set-name", "version: 2\nethernets:\n  e:\n    match: {name: e*}\n    set-name: 'a:b'\n",
                  "key 'ethernets.e.set-name': 'a:b' is not an interface name" },
                { "v2 address without prefix", "version: 2\nethernets:\n  eth0:\n    addresses: [10.0.0.3]\n",
                  "key 'ethernets.eth0.addresses[0]': '10.0.0.3' needs a prefix length" },
                { "v2 bad address", "version: 2\nethernets:\n  eth0:\n    addresses: [10.0.0.300/24]\n",
                  "'10.0.0.300/24' is not an address with a prefix length" },
                { "v2 IPv6 prefix 129", "version: 2\nethernets:\n  eth0:\n    addresses: ['2001:db8::1/129']\n",
                  "'2001:db8::1/129' is not an address with a prefix length" },
                { "v2 addresses a string", "version: 2\nethernets:\n  eth0:\n    addresses: 10.0.0.3/24\n",
                  "key 'ethernets.eth0.addresses': expected a list of addresses" },
                { "v2 address mapping of two", "version: 2\nethernets:\n  eth0:\n    addresses: [{a: 1, b: 2}]\n",
                  "expected an address, or a mapping with one address as its key" },
                { "gateway4 IPv6", "version: 2\nethernets:\n  eth0:\n    gateway4: '2001:db8::1'\n",
                  "key 'ethernets.eth0.gateway4': '2001:db8::1' is not an IPv4 address" },
                { "gateway6 IPv4", "version: 2\nethernets:\n  eth0:\n    gateway6: 10.0.0.1\n",
                  "'10.0.0.1' is not an IPv6 address" },
                { "route without to", "version: 2\nethernets:\n  eth0:\n    routes: [{via: 10.0.0.1}]\n",
                  "key 'ethernets.eth0.routes[0]': a route needs 'to'" },
                { "route to a name", "version: 2\nethernets:\n  eth0:\n    routes: [{to: somewhere, via: 10.0.0.1}]\n",
                  "'somewhere' is not a destination" },
                { "route across families", "version: 2\nethernets:\n  eth0:\n    routes: [{to: 10.0.0.0/8, "
                  "via: 'fe80::1'}]\n",
                  "the gateway fe80::1 and the destination 10.0.0.0/8 are not of one IP version" },
                { "route metric a word", "version: 2\nethernets:\n  eth0:\n    routes: [{to: default, via: 10.0.0.1, "
                  "metric: low}]\n", "key 'ethernets.eth0.routes[0].metric': expected a number" },
                { "routes a mapping", "version: 2\nethernets:\n  eth0:\n    routes: {to: default}\n",
                  "key 'ethernets.eth0.routes': expected a list of routes" },
                { "on-link: sometimes",
                  "version: 2\nethernets:\n  eth0:\n    routes: [{to: default, on-link: sometimes}]\n",
                  "key 'ethernets.eth0.routes[0].on-link': expected true or false" },
                { "mtu 10", "version: 2\nethernets:\n  eth0:\n    mtu: 10\n",
                  "key 'ethernets.eth0.mtu': expected a number from 68 to 65535" },
                { "route-metric -5", "version: 2\nethernets:\n  eth0:\n    dhcp4-overrides: {route-metric: -5}\n",
                  "key 'ethernets.eth0.dhcp4-overrides.route-metric': expected a number from 0" },
                { "overrides a list", "version: 2\nethernets:\n  eth0:\n    dhcp4-overrides: [1]\n",
                  "key 'ethernets.eth0.dhcp4-overrides': expected a mapping" },
                { "nameservers a list", "version: 2\nethernets:\n  eth0:\n    nameservers: [1.1.1.1]\n",
                  "key 'ethernets.eth0.nameservers': expected a mapping (addresses, search)" },
                { "v2 bad name server", "version: 2\nethernets:\n  eth0:\n    nameservers: {addresses: [1.1.1]}\n",
                  "nc:4: key 'ethernets.eth0.nameservers.addresses[0]': '1.1.1' is not an IP address" },
                { "an alias without anchor", "version: 2\nethernets: *e\n", "alias '*e' has no anchor" },
                { "an unknown tag", "version: !!python/int 2\n", "unsupported YAML tag" },
                { "a mapping as a key", "version: 2\nethernets:\n  ? [a]\n  : {}\n", "keys must be strings" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct kiln_netcfg cfg = { .version = 42 };
                int r = kiln_netcfg_parse("nc", cases[i].doc, strlen(cases[i].doc), &cfg);

                ok(r == -EBADMSG && strstr(kiln_last_error(), cases[i].msg) && cfg.version == 42 && !cfg.ifaces,
                   "%s: %s", cases[i].what, kiln_last_error());
                if (r == 0)
                        kiln_netcfg_free(&cfg);
        }
        ok(kiln_netcfg_parse(NULL, "[", 1, &(struct kiln_netcfg){ 0 }) == -EBADMSG &&
           !strncmp(kiln_last_error(), "network-config:", 15), "the default name is network-config: %s",
           kiln_last_error());
}

/* --- limits ---------------------------------------------------------------------------- */

/* head, then n copies of tmpl with each '@' replaced by the copy's number, then tail. */
static char *repeat(const char *head, const char *tmpl, int n, const char *tail)
{
        size_t cap = strlen(head) + strlen(tail) + (size_t)n * strlen(tmpl) * 8 + 1;
        char *s = malloc(cap), *p = s;

        p += sprintf(p, "%s", head);
        for (int i = 0; i < n; i++)
                for (const char *t = tmpl; *t; t++) {
                        if (*t == '@')
                                p += sprintf(p, "%d", i);
                        else
                                *p++ = *t;
                }
        sprintf(p, "%s", tail);
        return s;
}

static void test_limits(void)
{
        static const struct {
                const char *what, *head, *tmpl, *tail, *msg;
                int n;
                int err;
        } cases[] = {
                { "32 interfaces", "version: 2\nethernets:\n", "  e@: {dhcp4: true}\n", "", NULL, 32, 0 },
                { "33 interfaces", "version: 2\nethernets:\n", "  e@: {dhcp4: true}\n", "",
                  "nc:35: key 'ethernets.e32': more than 32 interfaces", 33, -E2BIG },
                { "33 v1 interfaces", "version: 1\nconfig:\n", "  - {type: physical, name: e@}\n", "",
                  "key 'config[32]': more than 32 interfaces", 33, -E2BIG },
                { "64 addresses", "version: 2\nethernets:\n  eth0:\n    addresses:\n", "      - 10.0.@.@/24\n", "",
                  NULL, 64, 0 },
                { "65 addresses", "version: 2\nethernets:\n  eth0:\n    addresses:\n", "      - 10.0.@.@/24\n", "",
                  "key 'ethernets.eth0.addresses[64]': more than 64 addresses on interface 'eth0'", 65, -E2BIG },
                { "65 v1 addresses", "version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n",
                  "      - {type: static, address: 10.1.@.@/16}\n", "", "more than 64 addresses on interface 'eth0'",
                  65, -E2BIG },
                { "65 routes", "version: 2\nethernets:\n  eth0:\n    routes:\n",
                  "      - {to: 10.@.@.0/24, via: 192.0.2.1}\n", "",
                  "key 'ethernets.eth0.routes[64]': more than 64 routes on interface 'eth0'", 65, -E2BIG },
                { "65 top-level routes", "version: 1\nconfig:\n  - {type: physical, name: eth0}\n",
                  "  - {type: route, destination: 10.@.@.0/24}\n", "", "more than 64 routes on interface 'eth0'", 65,
                  -E2BIG },
                { "16 name servers", "version: 2\nethernets:\n  eth0:\n    nameservers:\n      addresses:\n",
                  "        - 10.0.@.@\n", "", NULL, 16, 0 },
                { "17 name servers", "version: 2\nethernets:\n  eth0:\n    nameservers:\n      addresses:\n",
                  "        - 10.0.@.@\n", "",
                  "nc:22: key 'ethernets.eth0.nameservers.addresses': more than 16 name servers", 17, -E2BIG },
                { "17 search domains", "version: 1\nconfig:\n  - type: nameserver\n    address: 1.1.1.1\n    search:\n",
                  "      - d@.e@.example\n", "", "key 'config[0].search': more than 16 search domains", 17, -E2BIG },
                { "17 global name servers in 17 entries", "version: 1\nconfig:\n",
                  "  - {type: nameserver, address: 10.1.@.@}\n", "", "more than 16 name servers", 17, -E2BIG },
                { "a mapping of 1025 keys", "version: 2\nethernets: {}\n", "k@: @\n", "",
                  "more than 1024 entries in one mapping", 1025, -EBADMSG },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct kiln_netcfg cfg = { .version = 42 };
                char *doc = repeat(cases[i].head, cases[i].tmpl, cases[i].n, cases[i].tail);
                int r = kiln_netcfg_parse("nc", doc, strlen(doc), &cfg);

                if (!cases[i].err)
                        ok(r == 0, "%s: within the limit", cases[i].what);
                else
                        ok(r == cases[i].err && strstr(kiln_last_error(), cases[i].msg) && cfg.version == 42,
                           "%s: %s", cases[i].what, kiln_last_error());
                if (r == 0)
                        kiln_netcfg_free(&cfg);
                free(doc);
        }

        /* Aliases over and over: 1024 entries, each the same nameserver with
         * 1024 search domains (all one, so no list limit is reached). */
        {
                char *list = repeat("x: &s [", "a,", 1023, "a]\n");
                char *entries = repeat("n: &n {type: nameserver, address: 1.1.1.1, search: *s}\nversion: 1\nconfig: [",
                                       "*n,", 1023, "*n]\n");
                char *doc = malloc(strlen(list) + strlen(entries) + 1);
                struct kiln_netcfg cfg;
                int r;

                strcpy(stpcpy(doc, list), entries);
                r = kiln_netcfg_parse("nc", doc, strlen(doc), &cfg);
                ok(r == -EBADMSG && strstr(kiln_last_error(), "expands to too much data"), "alias bomb: %s",
                   kiln_last_error());
                free(list);
                free(entries);
                free(doc);
        }
        {
                size_t big = KILN_NETCFG_MAX_BYTES + 1;
                char *doc = malloc(big);
                struct kiln_netcfg cfg;

                memset(doc, '#', big);
                ok(kiln_netcfg_parse("nc", doc, big, &cfg) == -EFBIG && strstr(kiln_last_error(), "1 MiB"),
                   "1 MiB + 1: %s", kiln_last_error());
                free(doc);
        }
        {
                char doc[256], *p = doc + sprintf(doc, "version: 2\nethernets: ");
                struct kiln_netcfg cfg;

                for (int i = 0; i < 17; i++)
                        *p++ = '[';
                for (int i = 0; i < 17; i++)
                        *p++ = ']';
                *p = 0;
                ok(kiln_netcfg_parse("nc", doc, strlen(doc), &cfg) == -EBADMSG &&
                   strstr(kiln_last_error(), "nesting deeper than 16"), "17 levels: %s", kiln_last_error());
        }
        {
                /* Warnings stop at a bound; the configuration still parses. */
                char *doc = repeat("version: 2\nbonds:\n", "  bond@: {mode: x}\n", 200, "");
                struct kiln_netcfg cfg;

                ok(kiln_netcfg_parse("nc", doc, strlen(doc), &cfg) == 0 && n_strv(cfg.warnings) == 64,
                   "200 bonds: 64 warnings kept");
                kiln_netcfg_free(&cfg);
                free(doc);
        }
}

int main(void)
{
        test_v1_physical();
        test_v1_subnets();
        test_v1_nameserver_route();
        test_v1_skipped();
        test_v2();
        test_shapes();
        test_mac();
        test_errors();
        test_limits();
        return tap_done();
}
