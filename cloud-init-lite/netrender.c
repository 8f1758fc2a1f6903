/* SPDX-License-Identifier: MIT */
/*
 * Rendering a network configuration (netcfg.h) for the image's network stack;
 * see netrender.h.  Pure: the chooser asks its probe, the renderers build
 * paths and contents in memory, nothing here opens a file.
 *
 * Every interface goes through one plan first (plan_build): its values
 * checked, so a string from the network configuration can never break a
 * line or a quote of the files below; the name its files carry; its DHCP
 * route metrics; whether the boot waits for it; its name servers.  The four
 * renderers read only the plan, so they agree with each other.
 */
#include "netrender.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "util.h"

#define HEADER "# Written by kiln-init from the instance's network configuration.\n"

#define ID_MAX 64          /* longer ids are rendered by their index */
#define IFNAME_MAX 15      /* IFNAMSIZ - 1 */
#define DOMAIN_MAX 253
#define PATTERN_MAX 64
#define RESOLV_MAX_NS 3    /* glibc's MAXNS */
#define RESOLV_MAX_SEARCH 6

/* The target systemctl writes for a unit of Debian 12's systemd package. */
#define UNIT_DIR "/lib/systemd/system/"

static const char *const stack_names[] = {
        [KILN_NET_STACK_NONE] = "none",
        [KILN_NET_STACK_NETPLAN] = "netplan",
        [KILN_NET_STACK_IFUPDOWN] = "ifupdown",
        [KILN_NET_STACK_NETWORKMANAGER] = "NetworkManager",
        [KILN_NET_STACK_NETWORKD] = "systemd-networkd",
};

const char *kiln_net_stack_to_string(enum kiln_net_stack s)
{
        if ((size_t)s >= ARRAY_SIZE(stack_names) || !stack_names[s])
                return "unknown";
        return stack_names[s];
}

const char *const kiln_net_dirs[] = {
        "etc/systemd/network",
        "etc/network/interfaces.d",
        "etc/udev/rules.d",
        "etc/netplan",
        "etc/NetworkManager/system-connections",
        NULL,
};

static int oom(void)
{
        return kiln_errorf(-ENOMEM, "out of memory");
}

/* --- a growing string ---------------------------------------------------- */

struct sbuf {
        char *p;
        size_t len, cap;
        bool failed; /* out of memory: every later put is a no-op */
};

static bool sb_reserve(struct sbuf *b, size_t more)
{
        if (b->failed)
                return false;
        if (b->len + more <= b->cap)
                return true;
        size_t cap = MAX(b->cap * 2, b->len + more + 256);
        char *p = realloc(b->p, cap);
        if (!p) {
                b->failed = true;
                return false;
        }
        b->p = p;
        b->cap = cap;
        return true;
}

static void _printf_(2, 3) sb_put(struct sbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->failed)
                return;
        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->failed = true;
                return;
        }
        if (!sb_reserve(b, (size_t)n + 1))
                return;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

/* "pre" l[0] sep l[1] ... "post", nothing when the list is empty. */
static void sb_list(struct sbuf *b, const char *pre, char *const *l, const char *sep, const char *post)
{
        if (!l || !l[0])
                return;
        sb_put(b, "%s", pre);
        for (size_t i = 0; l[i]; i++)
                sb_put(b, "%s%s", i ? sep : "", l[i]);
        sb_put(b, "%s", post);
}

static void sb_free(struct sbuf *b)
{
        free(b->p);
        *b = (struct sbuf){ 0 };
}

/* --- the file list --------------------------------------------------------- */

void kiln_net_files_free(struct kiln_net_files *f)
{
        if (!f)
                return;
        for (size_t i = 0; i < f->n; i++) {
                free(f->v[i].path);
                free(f->v[i].content);
                free(f->v[i].symlink);
        }
        free(f->v);
        *f = (struct kiln_net_files){ 0 };
}

/* Adds a file with the contents of b (taken, b is reset), or a symlink when
 * target is set. */
static int _printf_(5, 6) files_add(struct kiln_net_files *fs, struct sbuf *b, unsigned mode, const char *target,
                                    const char *pathfmt, ...)
{
        struct kiln_net_file f = { .mode = mode };
        va_list ap;
        int r;

        if (b && b->failed)
                goto nomem;
        va_start(ap, pathfmt);
        r = vasprintf(&f.path, pathfmt, ap);
        va_end(ap);
        if (r < 0) {
                f.path = NULL;
                goto nomem;
        }
        if (target && !(f.symlink = strdup(target)))
                goto nomem;
        struct kiln_net_file *v = realloc(fs->v, (fs->n + 1) * sizeof(*v));
        if (!v)
                goto nomem;
        fs->v = v;
        if (b) {
                if (!b->p && !sb_reserve(b, 1))
                        goto nomem;
                b->p[b->len] = 0;
                f.content = b->p;
                f.len = b->len;
                *b = (struct sbuf){ 0 };
        }
        fs->v[fs->n++] = f;
        return 0;
nomem:
        free(f.path);
        free(f.symlink);
        if (b)
                sb_free(b);
        return oom();
}

static int file_cmp(const void *a, const void *b)
{
        return strcmp(((const struct kiln_net_file *)a)->path, ((const struct kiln_net_file *)b)->path);
}

/* --- checking values ------------------------------------------------------- */

static bool has(char *const *l)
{
        return l && l[0];
}

static bool chars_in(const char *s, size_t n, const char *extra)
{
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x80 || !c || (!isalnum(c) && !strchr(extra, c)))
                        return false;
        }
        return true;
}

/* What may stand in a file name: [A-Za-z0-9._-], not "." or "..". */
static bool id_ok(const char *s, size_t n)
{
        if (n == 0 || n > ID_MAX || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
                return false;
        return chars_in(s, n, "._-");
}

/* An interface name the kernel and udev take, from a conservative set. */
static bool ifname_ok(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && n <= IFNAME_MAX && strcmp(s, ".") && strcmp(s, "..") && chars_in(s, n, "._-+@");
}

/* A name or a shell glob of names (v2 match: name). */
static bool pattern_ok(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && n <= PATTERN_MAX && chars_in(s, n, "._-+@*?[]!");
}

static bool is_glob(const char *s)
{
        return strpbrk(s, "*?[") != NULL;
}

static bool driver_ok(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && n <= PATTERN_MAX && chars_in(s, n, "._-*?[]");
}

static bool domain_ok(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && n <= DOMAIN_MAX && chars_in(s, n, "._-");
}

static bool mac_ok(const char *s)
{
        if (strlen(s) != 17)
                return false;
        for (size_t i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
                        return false;
        return true;
}

static void mac_case(const char *s, bool upper, char out[18])
{
        for (size_t i = 0; i < 17; i++)
                out[i] = (char)(upper ? toupper((unsigned char)s[i]) : tolower((unsigned char)s[i]));
        out[17] = 0;
}

/* An address with an optional prefix length, in the text it is rendered as
 * ("192.0.2.10/24"; a missing prefix becomes the full length, since
 * networkd, NetworkManager and netplan each guess otherwise). */
struct cidr {
        int family;
        uint8_t a[16];
        int prefix;
        char text[INET6_ADDRSTRLEN + 8];
};

static bool cidr_parse(const char *s, bool prefix_allowed, struct cidr *ret)
{
        char host[INET6_ADDRSTRLEN + 1];
        const char *slash = strchr(s, '/');
        size_t hl = slash ? (size_t)(slash - s) : strlen(s);
        int max;

        if (hl == 0 || hl >= sizeof(host) || (slash && !prefix_allowed))
                return false;
        memcpy(host, s, hl);
        host[hl] = 0;
        memset(ret, 0, sizeof(*ret));
        if (inet_pton(AF_INET, host, ret->a) == 1) {
                ret->family = AF_INET;
                max = 32;
        } else if (inet_pton(AF_INET6, host, ret->a) == 1) {
                ret->family = AF_INET6;
                max = 128;
        } else {
                return false;
        }
        ret->prefix = max;
        if (slash) {
                const char *p = slash + 1;
                size_t pl = strlen(p);
                if (pl == 0 || pl > 3 || strspn(p, "0123456789") != pl)
                        return false;
                ret->prefix = atoi(p);
                if (ret->prefix > max || (p[0] == '0' && p[1]))
                        return false;
        }
        if (prefix_allowed)
                snprintf(ret->text, sizeof(ret->text), "%s/%d", host, ret->prefix);
        else
                snprintf(ret->text, sizeof(ret->text), "%s", host);
        return true;
}

static bool cidr_contains(const struct cidr *net, const struct cidr *a)
{
        int bits = net->prefix;

        if (net->family != a->family)
                return false;
        for (int i = 0; bits > 0; i++, bits -= 8) {
                uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
                if ((net->a[i] & mask) != (a->a[i] & mask))
                        return false;
        }
        return true;
}

static bool is_link_local6(const struct cidr *a)
{
        return a->family == AF_INET6 && a->a[0] == 0xfe && (a->a[1] & 0xc0) == 0x80;
}

/* --- the plan ---------------------------------------------------------------- */

struct route_plan {
        struct cidr to; /* "default" is 0.0.0.0/0 or ::/0 */
        struct cidr via;
        bool has_via;
        bool onlink; /* the gateway is outside every prefix of the interface */
        long metric;
};

struct if_plan {
        const struct kiln_net_iface *f;
        size_t index;
        char fid[ID_MAX + 24]; /* the id in file names: the id, or "ifN" */
        long metric4, metric6; /* DHCP route metrics; -1: the stack's default */
        bool required;         /* the boot waits for it (network-online.target) */
        char *const *dns;      /* the interface's own, else the configuration's */
        char *const *search;
        struct cidr *addrs;
        size_t n_addrs, n4, n6;
        struct cidr gw4, gw6;
        bool has_gw4, has_gw6;
        bool gw4_onlink, gw6_onlink;
        struct route_plan *routes;
        size_t n_routes;
};

struct plan {
        const struct kiln_netcfg *cfg;
        struct if_plan *v;
        size_t n;
};

static void plan_free(struct plan *pl)
{
        for (size_t i = 0; i < pl->n; i++) {
                free(pl->v[i].addrs);
                free(pl->v[i].routes);
        }
        free(pl->v);
        *pl = (struct plan){ 0 };
}

static bool dynamic(const struct kiln_net_iface *f, int family)
{
        return family == AF_INET ? f->dhcp4 : f->dhcp6 || f->accept_ra == 1;
}

/*
 * Whether a gateway needs "on-link": it is not link-local, the family is not
 * configured dynamically (a lease's prefix is unknown here, so the gateway
 * is taken as reachable), and no static address's prefix holds it (EC2-style
 * /32 addresses, or a provider's gateway outside the subnet).  Without it
 * networkd and the kernel refuse the route.
 */
static bool needs_onlink(const struct if_plan *ip, const struct cidr *via)
{
        if (is_link_local6(via) || dynamic(ip->f, via->family))
                return false;
        for (size_t i = 0; i < ip->n_addrs; i++)
                if (cidr_contains(&ip->addrs[i], via))
                        return false;
        return true;
}

static bool metric_ok(long m)
{
        return m >= -1 && (m < 0 || (unsigned long)m <= UINT32_MAX);
}

/* An interface with nothing to match it by but an id that is no name. */
static int no_name(const struct if_plan *ip, const char *stack)
{
        return kiln_errorf(-EOPNOTSUPP,
                           "cannot render the network configuration for %s: interface '%s' has no MAC address "
                           "and no usable interface name",
                           stack, ip->fid);
}

static int bad(const struct if_plan *ip, const char *what, const char *value)
{
        return kiln_errorf(-EBADMSG, "cannot render the network configuration: interface '%s': %s '%s'", ip->fid,
                           what, value);
}

static int check_list(const struct if_plan *ip, char *const *l, bool domains)
{
        struct cidr c;

        for (size_t i = 0; l && l[i]; i++)
                if (domains ? !domain_ok(l[i]) : !cidr_parse(l[i], false, &c))
                        return ip ? bad(ip, domains ? "bad search domain" : "bad name server", l[i])
                                  : kiln_errorf(-EBADMSG,
                                                "cannot render the network configuration: bad %s '%s'",
                                                domains ? "search domain" : "name server", l[i]);
        return 0;
}

static int plan_iface(struct plan *pl, struct if_plan *ip)
{
        const struct kiln_net_iface *f = ip->f;
        size_t n = 0;
        int r;

        if (f->match_mac && !mac_ok(f->match_mac))
                return bad(ip, "bad MAC address", f->match_mac);
        if (f->set_name && !ifname_ok(f->set_name))
                return bad(ip, "bad set-name", f->set_name);
        if (f->ifname_hint && !ifname_ok(f->ifname_hint))
                return bad(ip, "bad interface name", f->ifname_hint);
        if (f->match_name && !pattern_ok(f->match_name))
                return bad(ip, "bad name to match", f->match_name);
        if (f->match_driver && !driver_ok(f->match_driver))
                return bad(ip, "bad driver to match", f->match_driver);
        if (f->mtu > 65535) {
                char s[16];
                snprintf(s, sizeof(s), "%u", f->mtu);
                return bad(ip, "bad MTU", s);
        }
        if (!metric_ok(f->dhcp4_metric) || !metric_ok(f->dhcp6_metric))
                return bad(ip, "bad route metric", "dhcp");

        while (f->addresses && f->addresses[n])
                n++;
        if (n > KILN_NETCFG_MAX_ADDRS)
                return bad(ip, "too many addresses", f->addresses[n - 1]);
        if (f->n_routes > KILN_NETCFG_MAX_ROUTES)
                return bad(ip, "too many routes", f->routes[0].to ? f->routes[0].to : "default");
        if (n && !(ip->addrs = calloc(n, sizeof(*ip->addrs))))
                return oom();
        for (size_t i = 0; i < n; i++) {
                if (!cidr_parse(f->addresses[i], true, &ip->addrs[i]))
                        return bad(ip, "bad address", f->addresses[i]);
                if (ip->addrs[i].family == AF_INET)
                        ip->n4++;
                else
                        ip->n6++;
        }
        ip->n_addrs = n;

        if (f->gateway4) {
                if (!cidr_parse(f->gateway4, false, &ip->gw4) || ip->gw4.family != AF_INET)
                        return bad(ip, "bad IPv4 gateway", f->gateway4);
                ip->has_gw4 = true;
                ip->gw4_onlink = needs_onlink(ip, &ip->gw4);
        }
        if (f->gateway6) {
                if (!cidr_parse(f->gateway6, false, &ip->gw6) || ip->gw6.family != AF_INET6)
                        return bad(ip, "bad IPv6 gateway", f->gateway6);
                ip->has_gw6 = true;
                ip->gw6_onlink = needs_onlink(ip, &ip->gw6);
        }

        if (f->n_routes && !(ip->routes = calloc(f->n_routes, sizeof(*ip->routes))))
                return oom();
        for (size_t i = 0; i < f->n_routes; i++) {
                const struct kiln_net_route *rt = &f->routes[i];
                struct route_plan *rp = &ip->routes[i];

                if (rt->via) {
                        if (!cidr_parse(rt->via, false, &rp->via))
                                return bad(ip, "bad route gateway", rt->via);
                        rp->has_via = true;
                }
                if (!rt->to || !strcmp(rt->to, "default")) {
                        if (!rp->has_via)
                                return bad(ip, "default route without a gateway", rt->to ? rt->to : "");
                        cidr_parse(rp->via.family == AF_INET ? "0.0.0.0/0" : "::/0", true, &rp->to);
                } else if (!cidr_parse(rt->to, true, &rp->to)) {
                        return bad(ip, "bad route destination", rt->to);
                }
                if (rp->has_via && rp->via.family != rp->to.family)
                        return bad(ip, "route gateway of another family", rt->via);
                if (!metric_ok(rt->metric))
                        return bad(ip, "bad route metric", rt->to ? rt->to : "default");
                rp->metric = rt->metric;
                rp->onlink = rp->has_via && needs_onlink(ip, &rp->via);
        }
        ip->n_routes = f->n_routes;

        ip->dns = has(f->nameservers) ? f->nameservers : pl->cfg->nameservers;
        ip->search = has(f->search) ? f->search : pl->cfg->search;
        r = check_list(ip, f->nameservers, false);
        if (r >= 0)
                r = check_list(ip, f->search, true);
        return r;
}

/*
 * DHCP route metrics, as cloud-init's EC2 configuration sets them: when more
 * than one interface uses DHCP for a family, the primary gets 100 and the
 * others 200, 300, ... in their order, so the default route leaves through
 * the primary.  An interface's own metric (dhcp4-overrides) always wins; a
 * lone DHCP interface keeps the stack's default.
 */
static void plan_metrics(struct plan *pl, bool v6)
{
        size_t users = 0;
        long next = 100;

        for (size_t i = 0; i < pl->n; i++)
                users += v6 ? pl->v[i].f->dhcp6 : pl->v[i].f->dhcp4;
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < pl->n; i++) {
                        struct if_plan *ip = &pl->v[i];
                        long m = v6 ? ip->f->dhcp6_metric : ip->f->dhcp4_metric;

                        if (!(v6 ? ip->f->dhcp6 : ip->f->dhcp4) || ip->f->primary != (pass == 0))
                                continue;
                        if (m < 0 && users > 1)
                                m = next;
                        next += 100;
                        *(v6 ? &ip->metric6 : &ip->metric4) = m;
                }
}

static int plan_build(const struct kiln_netcfg *cfg, struct plan *ret)
{
        struct plan pl = { .cfg = cfg };
        bool any_primary = false;
        int r;

        *ret = pl;
        if (!cfg->n_ifaces)
                return 0;
        if (!(pl.v = calloc(cfg->n_ifaces, sizeof(*pl.v))))
                return oom();
        pl.n = cfg->n_ifaces;
        for (size_t i = 0; i < pl.n; i++) {
                struct if_plan *ip = &pl.v[i];
                const char *id = cfg->ifaces[i].id;

                ip->f = &cfg->ifaces[i];
                ip->index = i;
                ip->metric4 = ip->metric6 = -1;
                if (id && id_ok(id, strlen(id)))
                        snprintf(ip->fid, sizeof(ip->fid), "%s", id);
                else
                        snprintf(ip->fid, sizeof(ip->fid), "if%zu", i);
                any_primary |= ip->f->primary;
        }
        for (size_t i = 0; i < pl.n; i++)
                for (size_t k = 0; k < i; k++)
                        if (!strcmp(pl.v[i].fid, pl.v[k].fid)) {
                                r = kiln_errorf(-EBADMSG,
                                                "cannot render the network configuration: interfaces %zu and %zu "
                                                "would both be written as '%s'",
                                                k, i, pl.v[i].fid);
                                goto fail;
                        }
        for (size_t i = 0; i < pl.n; i++) {
                r = plan_iface(&pl, &pl.v[i]);
                if (r < 0)
                        goto fail;
                /* With a primary named, the others are extras the boot
                 * does not wait for; without one, every interface counts. */
                pl.v[i].required = !pl.v[i].f->optional && (!any_primary || pl.v[i].f->primary);
        }
        r = check_list(NULL, cfg->nameservers, false);
        if (r >= 0)
                r = check_list(NULL, cfg->search, true);
        if (r < 0)
                goto fail;
        plan_metrics(&pl, false);
        plan_metrics(&pl, true);
        *ret = pl;
        return 0;
fail:
        plan_free(&pl);
        return r;
}

/* --- systemd-networkd ------------------------------------------------------ */

/*
 * What `systemctl enable systemd-networkd.service` makes on Debian 12
 * (systemd 252): the unit's [Install] has WantedBy=multi-user.target,
 * Alias=dbus-org.freedesktop.network1.service and Also= the socket, the
 * wait-online service and systemd-network-generator.service.
 */
static const struct {
        const char *link, *unit;
} networkd_enable[] = {
        { "dbus-org.freedesktop.network1.service", "systemd-networkd.service" },
        { "multi-user.target.wants/systemd-networkd.service", "systemd-networkd.service" },
        { "network-online.target.wants/systemd-networkd-wait-online.service", "systemd-networkd-wait-online.service" },
        { "sockets.target.wants/systemd-networkd.socket", "systemd-networkd.socket" },
        { "sysinit.target.wants/systemd-network-generator.service", "systemd-network-generator.service" },
};

static int networkd_links(struct kiln_net_files *out)
{
        for (size_t i = 0; i < ARRAY_SIZE(networkd_enable); i++) {
                char target[128];
                snprintf(target, sizeof(target), UNIT_DIR "%s", networkd_enable[i].unit);
                int r = files_add(out, NULL, 0777, target, "etc/systemd/system/%s", networkd_enable[i].link);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * The udev side of set-name, a .link file (read by systemd-udevd whatever
 * the stack).  Type=ether keeps VLANs and bridges that carry the same MAC
 * out of the match (networkd and udev have matched on Type= since well
 * before systemd 252).
 */
static int networkd_link_file(const struct if_plan *ip, struct kiln_net_files *out)
{
        const struct kiln_net_iface *f = ip->f;
        struct sbuf b = { 0 };
        char mac[18];

        if (!f->set_name)
                return 0;
        if (!f->match_mac && !f->match_name && !f->match_driver)
                return kiln_errorf(-EOPNOTSUPP,
                                   "cannot render the network configuration: interface '%s': set-name '%s' needs a "
                                   "match (macaddress, name or driver)",
                                   ip->fid, f->set_name);
        sb_put(&b, HEADER "[Match]\n");
        if (f->match_mac) {
                mac_case(f->match_mac, false, mac);
                sb_put(&b, "MACAddress=%s\n", mac);
        } else if (f->match_name) {
                sb_put(&b, "OriginalName=%s\n", f->match_name);
        }
        if (f->match_driver)
                sb_put(&b, "Driver=%s\n", f->match_driver);
        sb_put(&b, "Type=ether\n\n[Link]\nName=%s\n", f->set_name);
        return files_add(out, &b, 0644, NULL, "etc/systemd/network/10-kiln-%s.link", ip->fid);
}

static int networkd_network_file(const struct if_plan *ip, struct kiln_net_files *out)
{
        const struct kiln_net_iface *f = ip->f;
        struct sbuf b = { 0 };
        char mac[18];

        sb_put(&b, HEADER "[Match]\n");
        if (f->match_mac) {
                mac_case(f->match_mac, false, mac);
                sb_put(&b, "MACAddress=%s\n", mac);
                if (f->match_name && !f->set_name)
                        sb_put(&b, "Name=%s\n", f->match_name);
                sb_put(&b, "Type=ether\n");
        } else {
                const char *name = f->set_name ? f->set_name : f->match_name ? f->match_name : f->id;
                if (!name || !pattern_ok(name)) {
                        sb_free(&b);
                        return no_name(ip, "systemd-networkd");
                }
                sb_put(&b, "Name=%s\n", name);
        }
        if (f->match_driver)
                sb_put(&b, "Driver=%s\n", f->match_driver);

        if (f->mtu || !ip->required) {
                sb_put(&b, "\n[Link]\n");
                if (f->mtu)
                        sb_put(&b, "MTUBytes=%u\n", f->mtu);
                if (!ip->required)
                        sb_put(&b, "RequiredForOnline=no\n");
        }

        if (f->dhcp4 || f->dhcp6 || ip->n_addrs || (ip->has_gw4 && !ip->gw4_onlink) ||
            (ip->has_gw6 && !ip->gw6_onlink) || has(ip->dns) || has(ip->search) || f->accept_ra >= 0)
                sb_put(&b, "\n[Network]\n");
        if (f->dhcp4 || f->dhcp6)
                sb_put(&b, "DHCP=%s\n", f->dhcp4 && f->dhcp6 ? "yes" : f->dhcp4 ? "ipv4" : "ipv6");
        for (size_t i = 0; i < ip->n_addrs; i++)
                sb_put(&b, "Address=%s\n", ip->addrs[i].text);
        if (ip->has_gw4 && !ip->gw4_onlink)
                sb_put(&b, "Gateway=%s\n", ip->gw4.text);
        if (ip->has_gw6 && !ip->gw6_onlink)
                sb_put(&b, "Gateway=%s\n", ip->gw6.text);
        for (size_t i = 0; ip->dns && ip->dns[i]; i++)
                sb_put(&b, "DNS=%s\n", ip->dns[i]);
        sb_list(&b, "Domains=", ip->search, " ", "\n");
        if (f->accept_ra >= 0)
                sb_put(&b, "IPv6AcceptRA=%s\n", f->accept_ra ? "yes" : "no");

        /* networkd ignores the MTU a lease offers unless told (EC2 offers
         * 9001); a configured MTU wins over the lease's. */
        if (f->dhcp4 && (ip->metric4 >= 0 || !f->mtu)) {
                sb_put(&b, "\n[DHCPv4]\n");
                if (ip->metric4 >= 0)
                        sb_put(&b, "RouteMetric=%ld\n", ip->metric4);
                if (!f->mtu)
                        sb_put(&b, "UseMTU=true\n");
        }
        /* DHCPv6 starts when a router advertisement asks for it, unless RAs
         * are off; the IPv6 default route comes from the RA, so its metric
         * is set there too. */
        if (f->dhcp6 && (ip->metric6 >= 0 || f->accept_ra == 0)) {
                sb_put(&b, "\n[DHCPv6]\n");
                if (ip->metric6 >= 0)
                        sb_put(&b, "RouteMetric=%ld\n", ip->metric6);
                if (f->accept_ra == 0)
                        sb_put(&b, "WithoutRA=solicit\n");
        }
        if (f->dhcp6 && ip->metric6 >= 0 && f->accept_ra != 0)
                sb_put(&b, "\n[IPv6AcceptRA]\nRouteMetric=%ld\n", ip->metric6);

        if (ip->has_gw4 && ip->gw4_onlink)
                sb_put(&b, "\n[Route]\nGateway=%s\nGatewayOnLink=yes\n", ip->gw4.text);
        if (ip->has_gw6 && ip->gw6_onlink)
                sb_put(&b, "\n[Route]\nGateway=%s\nGatewayOnLink=yes\n", ip->gw6.text);
        for (size_t i = 0; i < ip->n_routes; i++) {
                const struct route_plan *rp = &ip->routes[i];
                sb_put(&b, "\n[Route]\nDestination=%s\n", rp->to.text);
                if (rp->has_via)
                        sb_put(&b, "Gateway=%s\n", rp->via.text);
                if (rp->onlink)
                        sb_put(&b, "GatewayOnLink=yes\n");
                if (rp->metric >= 0)
                        sb_put(&b, "Metric=%ld\n", rp->metric);
        }
        return files_add(out, &b, 0644, NULL, "etc/systemd/network/10-kiln-%s.network", ip->fid);
}

static int render_networkd(const struct plan *pl, struct kiln_net_files *out)
{
        for (size_t i = 0; i < pl->n; i++) {
                int r = networkd_link_file(&pl->v[i], out);
                if (r >= 0)
                        r = networkd_network_file(&pl->v[i], out);
                if (r < 0)
                        return r;
        }
        return networkd_links(out);
}

/* --- ifupdown ------------------------------------------------------------------ */

/* The name ifupdown knows the interface by; MAC-matched ones are pinned to
 * it by a udev rule. */
static int ifupdown_name(const struct if_plan *ip, const char **ret)
{
        const struct kiln_net_iface *f = ip->f;
        const char *name;

        if (f->set_name && !f->match_mac)
                return kiln_errorf(-EOPNOTSUPP,
                                   "cannot render the network configuration for ifupdown: interface '%s': set-name "
                                   "needs a MAC address to pin the name to",
                                   ip->fid);
        if (f->set_name)
                name = f->set_name;
        else if (f->match_mac)
                name = f->ifname_hint ? f->ifname_hint : f->id;
        else if (f->match_name && !is_glob(f->match_name))
                name = f->match_name;
        else if (f->ifname_hint)
                name = f->ifname_hint;
        else if (f->match_name || f->match_driver)
                return kiln_errorf(-EOPNOTSUPP,
                                   "cannot render the network configuration for ifupdown: interface '%s' is matched "
                                   "by %s '%s', and ifupdown needs a name",
                                   ip->fid, f->match_name ? "the pattern" : "the driver",
                                   f->match_name ? f->match_name : f->match_driver);
        else
                name = f->id;
        if (!name || !ifname_ok(name))
                return no_name(ip, "ifupdown");
        *ret = name;
        return 0;
}

/* One "iface NAME FAMILY METHOD" stanza of an interface. */
struct stanza {
        int family;
        const char *method;
        const struct cidr *addr; /* static: its address */
};

static void ifupdown_route(struct sbuf *b, const char *name, const struct cidr *to, const struct cidr *via,
                           bool onlink, long metric)
{
        for (int down = 0; down < 2; down++) {
                sb_put(b, "    %s ip%s route %s %s", down ? "pre-down" : "post-up",
                       to->family == AF_INET6 ? " -6" : "", down ? "del" : "add", to->text);
                if (via)
                        sb_put(b, " via %s", via->text);
                if (metric >= 0)
                        sb_put(b, " metric %ld", metric);
                sb_put(b, " dev %s%s || true\n", name, onlink && !down ? " onlink" : "");
        }
}

static void ifupdown_iface(const struct if_plan *ip, const char *name, struct sbuf *b)
{
        const struct kiln_net_iface *f = ip->f;
        struct stanza st[2 + KILN_NETCFG_MAX_ADDRS + 2];
        size_t n = 0, first4 = SIZE_MAX, first6 = SIZE_MAX, static4 = SIZE_MAX, static6 = SIZE_MAX;
        size_t mtu_at = SIZE_MAX;

        if (f->dhcp4)
                st[n++] = (struct stanza){ AF_INET, "dhcp", NULL };
        for (size_t i = 0; i < ip->n_addrs && n < ARRAY_SIZE(st) - 2; i++)
                if (ip->addrs[i].family == AF_INET)
                        st[n++] = (struct stanza){ AF_INET, "static", &ip->addrs[i] };
        if (f->dhcp6)
                st[n++] = (struct stanza){ AF_INET6, "dhcp", NULL };
        else if (f->accept_ra == 1 && !ip->n6)
                st[n++] = (struct stanza){ AF_INET6, "auto", NULL };
        for (size_t i = 0; i < ip->n_addrs && n < ARRAY_SIZE(st) - 1; i++)
                if (ip->addrs[i].family == AF_INET6)
                        st[n++] = (struct stanza){ AF_INET6, "static", &ip->addrs[i] };
        if (!n) /* nothing to configure: bring the link up */
                st[n++] = (struct stanza){ AF_INET, "manual", NULL };

        for (size_t i = 0; i < n; i++) {
                if (st[i].family == AF_INET && first4 == SIZE_MAX)
                        first4 = i;
                if (st[i].family == AF_INET6 && first6 == SIZE_MAX)
                        first6 = i;
                if (st[i].addr && st[i].family == AF_INET && static4 == SIZE_MAX)
                        static4 = i;
                if (st[i].addr && st[i].family == AF_INET6 && static6 == SIZE_MAX)
                        static6 = i;
        }
        /* ifupdown's static and manual methods take "mtu"; dhcp does not. */
        for (size_t i = 0; i < n && mtu_at == SIZE_MAX; i++)
                if (st[i].addr || !strcmp(st[i].method, "manual"))
                        mtu_at = i;

        sb_put(b, "\nauto %s\n", name);
        for (size_t i = 0; i < n; i++) {
                bool v6 = st[i].family == AF_INET6;

                sb_put(b, "iface %s %s %s\n", name, v6 ? "inet6" : "inet", st[i].method);
                if (st[i].addr)
                        sb_put(b, "    address %s\n", st[i].addr->text);
                if (i == static4 && ip->has_gw4)
                        sb_put(b, "    gateway %s\n", ip->gw4.text);
                if (i == static6 && ip->has_gw6)
                        sb_put(b, "    gateway %s\n", ip->gw6.text);
                if (!v6 && !st[i].addr && !strcmp(st[i].method, "dhcp") && ip->metric4 >= 0)
                        sb_put(b, "    metric %ld\n", ip->metric4);
                if (v6 && f->accept_ra >= 0 && (i == first6))
                        sb_put(b, "    accept_ra %d\n", f->accept_ra);
                if (f->mtu && i == mtu_at)
                        sb_put(b, "    mtu %u\n", f->mtu);
                else if (f->mtu && mtu_at == SIZE_MAX && i == 0)
                        sb_put(b, "    pre-up ip link set dev %s mtu %u\n", name, f->mtu);
                if (i == 0) {
                        sb_list(b, "    dns-nameservers ", ip->dns, " ", "\n");
                        sb_list(b, "    dns-search ", ip->search, " ", "\n");
                }
                /* Gateways without a static stanza to carry them, and the
                 * routes, in the first stanza of their family. */
                size_t home4 = first4 != SIZE_MAX ? first4 : 0, home6 = first6 != SIZE_MAX ? first6 : 0;
                if (i == home4 && ip->has_gw4 && static4 == SIZE_MAX) {
                        struct cidr def;
                        cidr_parse("0.0.0.0/0", true, &def);
                        ifupdown_route(b, name, &def, &ip->gw4, ip->gw4_onlink, -1);
                }
                if (i == home6 && ip->has_gw6 && static6 == SIZE_MAX) {
                        struct cidr def;
                        cidr_parse("::/0", true, &def);
                        ifupdown_route(b, name, &def, &ip->gw6, ip->gw6_onlink, -1);
                }
                for (size_t k = 0; k < ip->n_routes; k++) {
                        const struct route_plan *rp = &ip->routes[k];
                        if (i == (rp->to.family == AF_INET ? home4 : home6))
                                ifupdown_route(b, name, &rp->to, rp->has_via ? &rp->via : NULL, rp->onlink,
                                               rp->metric);
                }
        }
}

static int render_ifupdown(const struct plan *pl, struct kiln_net_files *out)
{
        struct sbuf b = { 0 }, rules = { 0 };
        bool any_rule = false;
        int r;

        sb_put(&b, HEADER);
        sb_put(&rules, HEADER);
        for (size_t i = 0; i < pl->n; i++) {
                const struct if_plan *ip = &pl->v[i];
                const char *name;
                char mac[18];

                r = ifupdown_name(ip, &name);
                if (r < 0)
                        goto fail;
                for (size_t k = 0; k < i; k++) {
                        const char *other;
                        if (ifupdown_name(&pl->v[k], &other) >= 0 && !strcmp(other, name)) {
                                r = kiln_errorf(-EOPNOTSUPP,
                                                "cannot render the network configuration for ifupdown: interfaces "
                                                "'%s' and '%s' would both be '%s'",
                                                pl->v[k].fid, ip->fid, name);
                                goto fail;
                        }
                }
                ifupdown_iface(ip, name, &b);
                if (ip->f->match_mac) {
                        mac_case(ip->f->match_mac, false, mac);
                        sb_put(&rules,
                               "SUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"%s\", "
                               "NAME=\"%s\"\n",
                               mac, name);
                        any_rule = true;
                }
        }
        r = files_add(out, &b, 0644, NULL, "etc/network/interfaces.d/50-kiln");
        if (r >= 0 && any_rule)
                r = files_add(out, &rules, 0644, NULL, "etc/udev/rules.d/70-kiln-net.rules");
fail:
        sb_free(&b);
        sb_free(&rules);
        return r;
}

/* --- netplan ------------------------------------------------------------------- */

/* A YAML double-quoted scalar; every value is one, so no string is ever
 * read as a number, a boolean or a MAC in base 60. */
static void yq(struct sbuf *b, const char *s)
{
        sb_put(b, "\"");
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if (c == '"' || c == '\\')
                        sb_put(b, "\\%c", c);
                else if (c < 0x20 || c == 0x7f)
                        sb_put(b, "\\x%02x", c);
                else
                        sb_put(b, "%c", c);
        }
        sb_put(b, "\"");
}

static void yq_list(struct sbuf *b, const char *indent, const char *key, char *const *l)
{
        if (!has(l))
                return;
        sb_put(b, "%s%s:\n", indent, key);
        for (size_t i = 0; l[i]; i++) {
                sb_put(b, "%s  - ", indent);
                yq(b, l[i]);
                sb_put(b, "\n");
        }
}

static void netplan_route(struct sbuf *b, const struct cidr *to, const struct cidr *via, bool onlink, long metric)
{
        sb_put(b, "        - to: ");
        yq(b, to->text);
        if (via) {
                sb_put(b, "\n          via: ");
                yq(b, via->text);
        }
        sb_put(b, "\n");
        if (onlink)
                sb_put(b, "          on-link: true\n");
        if (metric >= 0)
                sb_put(b, "          metric: %ld\n", metric);
}

static int netplan_iface(const struct if_plan *ip, struct sbuf *b)
{
        const struct kiln_net_iface *f = ip->f;
        bool renamed = !f->id || strcmp(ip->fid, f->id);
        char mac[18];

        /* No match: netplan takes the key as the name, so a key kiln had
         * to replace keeps the id as the name to match. */
        if (!f->match_mac && !f->match_name && !f->match_driver && renamed && (!f->id || !pattern_ok(f->id)))
                return no_name(ip, "netplan");
        sb_put(b, "    ");
        yq(b, ip->fid);
        sb_put(b, ":\n");
        if (f->match_mac || f->match_name || f->match_driver || renamed) {
                sb_put(b, "      match:\n");
                if (f->match_mac) {
                        mac_case(f->match_mac, false, mac);
                        sb_put(b, "        macaddress: ");
                        yq(b, mac);
                        sb_put(b, "\n");
                }
                if (f->match_name || (!f->match_mac && !f->match_driver)) {
                        sb_put(b, "        name: ");
                        yq(b, f->match_name ? f->match_name : f->id);
                        sb_put(b, "\n");
                }
                if (f->match_driver) {
                        sb_put(b, "        driver: ");
                        yq(b, f->match_driver);
                        sb_put(b, "\n");
                }
        }
        if (f->set_name) {
                sb_put(b, "      set-name: ");
                yq(b, f->set_name);
                sb_put(b, "\n");
        }
        sb_put(b, "      dhcp4: %s\n", f->dhcp4 ? "true" : "false");
        if (f->dhcp4 && ip->metric4 >= 0)
                sb_put(b, "      dhcp4-overrides:\n        route-metric: %ld\n", ip->metric4);
        sb_put(b, "      dhcp6: %s\n", f->dhcp6 ? "true" : "false");
        if (f->dhcp6 && ip->metric6 >= 0)
                sb_put(b, "      dhcp6-overrides:\n        route-metric: %ld\n", ip->metric6);
        if (f->accept_ra >= 0)
                sb_put(b, "      accept-ra: %s\n", f->accept_ra ? "true" : "false");
        if (ip->n_addrs) {
                sb_put(b, "      addresses:\n");
                for (size_t i = 0; i < ip->n_addrs; i++) {
                        sb_put(b, "        - ");
                        yq(b, ip->addrs[i].text);
                        sb_put(b, "\n");
                }
        }
        /* gateway4/gateway6 are deprecated in netplan: default routes
         * instead, written as prefixes every netplan version reads. */
        if (ip->has_gw4 || ip->has_gw6 || ip->n_routes) {
                struct cidr def4, def6;
                cidr_parse("0.0.0.0/0", true, &def4);
                cidr_parse("::/0", true, &def6);
                sb_put(b, "      routes:\n");
                if (ip->has_gw4)
                        netplan_route(b, &def4, &ip->gw4, ip->gw4_onlink, -1);
                if (ip->has_gw6)
                        netplan_route(b, &def6, &ip->gw6, ip->gw6_onlink, -1);
                for (size_t i = 0; i < ip->n_routes; i++) {
                        const struct route_plan *rp = &ip->routes[i];
                        netplan_route(b, &rp->to, rp->has_via ? &rp->via : NULL, rp->onlink, rp->metric);
                }
        }
        if (has(ip->dns) || has(ip->search)) {
                sb_put(b, "      nameservers:\n");
                yq_list(b, "        ", "addresses", ip->dns);
                yq_list(b, "        ", "search", ip->search);
        }
        if (f->mtu)
                sb_put(b, "      mtu: %u\n", f->mtu);
        if (!ip->required)
                sb_put(b, "      optional: true\n");
        return 0;
}

static int render_netplan(const struct plan *pl, struct kiln_net_files *out)
{
        struct sbuf b = { 0 };
        int r;

        sb_put(&b, HEADER "network:\n  version: 2\n  ethernets:\n");
        for (size_t i = 0; i < pl->n; i++) {
                r = netplan_iface(&pl->v[i], &b);
                if (r < 0) {
                        sb_free(&b);
                        return r;
                }
        }
        r = files_add(out, &b, 0600, NULL, "etc/netplan/50-kiln.yaml");
        /*
         * netplan renders for systemd-networkd unless told otherwise, and
         * its generator enables networkd only under /run, for the boot it
         * runs in, and only the service and wait-online: not the socket,
         * not the D-Bus name networkctl asks for.  The links `systemctl
         * enable systemd-networkd` makes keep networkd up whatever the
         * image had enabled, as on the cloud images netplan ships in.
         */
        if (r >= 0)
                r = networkd_links(out);
        return r;
}

/* --- NetworkManager ------------------------------------------------------------ */

/* kiln's namespace for connection UUIDs (RFC 4122 name-based, SHA-1). */
static const uint8_t nm_uuid_ns[16] = {
        0x5e, 0xf3, 0x7a, 0x54, 0xd7, 0x28, 0x42, 0xa4, 0xa2, 0x2b, 0x4c, 0x6a, 0x7b, 0xa5, 0x95, 0x37,
};

/* Version 5 UUID of name "ID/MAC" (MAC lowercase, or empty) in kiln's
 * namespace: the same interface gets the same connection on every boot. */
static int nm_uuid(const struct if_plan *ip, char out[37])
{
        const char *id = ip->f->id ? ip->f->id : ip->fid;
        char mac[18] = "";
        uint8_t md[EVP_MAX_MD_SIZE], u[16];
        unsigned mdlen = 0;
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        bool ok;

        if (!c)
                return oom();
        if (ip->f->match_mac)
                mac_case(ip->f->match_mac, false, mac);
        ok = EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(c, nm_uuid_ns, 16) == 1 &&
             EVP_DigestUpdate(c, id, strlen(id)) == 1 && EVP_DigestUpdate(c, "/", 1) == 1 &&
             EVP_DigestUpdate(c, mac, strlen(mac)) == 1 && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen >= 16;
        EVP_MD_CTX_free(c);
        if (!ok) {
                ERR_clear_error();
                return kiln_errorf(-EIO, "cannot derive the connection UUID of interface '%s': SHA-1 failed",
                                   ip->fid);
        }
        memcpy(u, md, 16);
        u[6] = (uint8_t)((u[6] & 0x0f) | 0x50);
        u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
        format_uuid(u, out);
        return 0;
}

static void nm_dns(struct sbuf *b, char *const *dns, int family)
{
        bool any = false;
        struct cidr c;

        for (size_t i = 0; dns && dns[i]; i++) {
                if (!cidr_parse(dns[i], false, &c) || c.family != family)
                        continue;
                sb_put(b, "%s%s;", any ? "" : "dns=", c.text);
                any = true;
        }
        if (any)
                sb_put(b, "\n");
}

static void nm_route(struct sbuf *b, size_t *n, const struct cidr *to, const struct cidr *via, bool onlink,
                     long metric)
{
        ++*n;
        sb_put(b, "route%zu=%s", *n, to->text);
        if (via || metric >= 0)
                sb_put(b, ",%s", via ? via->text : "");
        if (metric >= 0)
                sb_put(b, ",%ld", metric);
        sb_put(b, "\n");
        if (onlink)
                sb_put(b, "route%zu_options=onlink=true\n", *n);
}

static void nm_ip(const struct if_plan *ip, int family, const char *method, bool search_here, struct sbuf *b)
{
        bool v6 = family == AF_INET6;
        bool active = strcmp(method, "disabled") && strcmp(method, "ignore");
        size_t na = 0, nr = 0;
        const struct cidr *gw = v6 ? (ip->has_gw6 ? &ip->gw6 : NULL) : (ip->has_gw4 ? &ip->gw4 : NULL);
        bool gw_onlink = v6 ? ip->gw6_onlink : ip->gw4_onlink;
        long metric = v6 ? ip->metric6 : ip->metric4;

        sb_put(b, "\n[%s]\nmethod=%s\n", v6 ? "ipv6" : "ipv4", method);
        if (!active)
                return;
        for (size_t i = 0; i < ip->n_addrs; i++)
                if (ip->addrs[i].family == family)
                        sb_put(b, "address%zu=%s\n", ++na, ip->addrs[i].text);
        /* NetworkManager takes gateway= only beside a static address that
         * reaches it; any other gateway becomes a default route. */
        if (gw && na && !gw_onlink)
                sb_put(b, "gateway=%s\n", gw->text);
        nm_dns(b, ip->dns, family);
        if (search_here)
                sb_list(b, "dns-search=", ip->search, ";", ";\n");
        if (metric >= 0)
                sb_put(b, "route-metric=%ld\n", metric);
        if (gw && !(na && !gw_onlink)) {
                struct cidr def;
                cidr_parse(v6 ? "::/0" : "0.0.0.0/0", true, &def);
                nm_route(b, &nr, &def, gw, gw_onlink, -1);
        }
        for (size_t i = 0; i < ip->n_routes; i++) {
                const struct route_plan *rp = &ip->routes[i];
                if (rp->to.family == family)
                        nm_route(b, &nr, &rp->to, rp->has_via ? &rp->via : NULL, rp->onlink, rp->metric);
        }
}

static int nm_iface(const struct if_plan *ip, struct kiln_net_files *out)
{
        const struct kiln_net_iface *f = ip->f;
        struct sbuf b = { 0 };
        char uuid[37], mac[18];
        const char *m4, *m6, *ifname = NULL, *match_name = NULL;
        int r;

        r = nm_uuid(ip, uuid);
        if (r < 0)
                return r;
        m4 = f->dhcp4 ? "auto" : ip->n4 ? "manual" : "disabled";
        if (f->dhcp6)
                m6 = f->accept_ra == 0 ? "dhcp" : "auto";
        else if (f->accept_ra == 1)
                m6 = "auto";
        else
                m6 = ip->n6 ? "manual" : "ignore";

        /* The MAC picks the device; without one a name or [match] must, or
         * the connection would take any ethernet device.  What the
         * configuration matches on besides is required too, as networkd
         * and netplan require it. */
        if (f->set_name)
                ifname = f->set_name;
        else if (!f->match_mac && f->match_name && !is_glob(f->match_name))
                ifname = f->match_name;
        else if (!f->match_mac && !f->match_name && !f->match_driver) {
                ifname = f->ifname_hint ? f->ifname_hint : f->id;
                if (!ifname || !ifname_ok(ifname))
                        return no_name(ip, "NetworkManager");
        }
        if (f->match_name && !f->set_name && ifname != f->match_name)
                match_name = f->match_name;

        sb_put(&b, HEADER "\n[connection]\nid=kiln %s\nuuid=%s\ntype=ethernet\n", ip->fid, uuid);
        if (ifname)
                sb_put(&b, "interface-name=%s\n", ifname);
        sb_put(&b, "autoconnect-priority=120\n");
        sb_put(&b, "\n[ethernet]\n");
        if (f->match_mac) {
                mac_case(f->match_mac, true, mac);
                sb_put(&b, "mac-address=%s\n", mac);
        }
        if (f->mtu)
                sb_put(&b, "mtu=%u\n", f->mtu);
        if (match_name || f->match_driver) {
                sb_put(&b, "\n[match]\n");
                if (match_name)
                        sb_put(&b, "interface-name=%s\n", match_name);
                if (f->match_driver)
                        sb_put(&b, "driver=%s\n", f->match_driver);
        }
        /* Search domains go with IPv4 when it is on, else with IPv6: NM
         * refuses them in a disabled family. */
        bool on4 = strcmp(m4, "disabled") != 0, on6 = strcmp(m6, "ignore") != 0;
        nm_ip(ip, AF_INET, m4, on4, &b);
        nm_ip(ip, AF_INET6, m6, !on4 && on6, &b);
        return files_add(out, &b, 0600, NULL, "etc/NetworkManager/system-connections/kiln-%s.nmconnection", ip->fid);
}

static int render_nm(const struct plan *pl, struct kiln_net_files *out)
{
        for (size_t i = 0; i < pl->n; i++) {
                /* NetworkManager does not rename devices: udev does, from
                 * the same .link file as for networkd. */
                int r = networkd_link_file(&pl->v[i], out);
                if (r >= 0)
                        r = nm_iface(&pl->v[i], out);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* --- rendering ------------------------------------------------------------------- */

int kiln_net_render(enum kiln_net_stack s, const struct kiln_netcfg *cfg, struct kiln_net_files *ret)
{
        struct kiln_net_files out = { 0 };
        struct plan pl;
        int r;

        if (s == KILN_NET_STACK_NONE || (size_t)s >= ARRAY_SIZE(stack_names))
                return kiln_errorf(-EINVAL, "cannot render the network configuration: no network stack");
        if (cfg->disabled || !cfg->n_ifaces) {
                *ret = out;
                return 0;
        }
        r = plan_build(cfg, &pl);
        if (r < 0)
                return r;
        switch (s) {
        case KILN_NET_STACK_NETWORKD:
                r = render_networkd(&pl, &out);
                break;
        case KILN_NET_STACK_IFUPDOWN:
                r = render_ifupdown(&pl, &out);
                break;
        case KILN_NET_STACK_NETPLAN:
                r = render_netplan(&pl, &out);
                break;
        case KILN_NET_STACK_NETWORKMANAGER:
                r = render_nm(&pl, &out);
                break;
        default:
                r = kiln_errorf(-EINVAL, "cannot render the network configuration: unknown network stack");
                break;
        }
        plan_free(&pl);
        if (r < 0) {
                kiln_net_files_free(&out);
                return r;
        }
        if (out.n)
                qsort(out.v, out.n, sizeof(*out.v), file_cmp);
        *ret = out;
        return 0;
}

/* --- resolv.conf ------------------------------------------------------------------ */

static bool in_list(char *const *seen, size_t n, const char *s, bool fold)
{
        for (size_t i = 0; i < n; i++)
                if (fold ? !strcasecmp(seen[i], s) : !strcmp(seen[i], s))
                        return true;
        return false;
}

static int collect(char **seen, size_t *n, size_t max, char *const *l, bool domains)
{
        struct cidr c;

        for (size_t i = 0; l && l[i] && *n < max; i++) {
                if (domains ? !domain_ok(l[i]) : !cidr_parse(l[i], false, &c))
                        return kiln_errorf(-EBADMSG, "cannot write resolv.conf: bad %s '%s'",
                                           domains ? "search domain" : "name server", l[i]);
                if (!in_list(seen, *n, l[i], domains))
                        seen[(*n)++] = l[i];
        }
        return 0;
}

int kiln_net_render_resolv(const struct kiln_netcfg *cfg, char *const *extra_dns, char *const *extra_search,
                           char **ret)
{
        char *ns[RESOLV_MAX_NS], *search[RESOLV_MAX_SEARCH];
        size_t n_ns = 0, n_search = 0;
        struct sbuf b = { 0 };
        int r;

        for (int pass = 0; pass < 2; pass++) {
                bool domains = pass == 1;
                char **seen = domains ? search : ns;
                size_t *n = domains ? &n_search : &n_ns, max = domains ? RESOLV_MAX_SEARCH : RESOLV_MAX_NS;

                r = collect(seen, n, max, cfg ? (domains ? cfg->search : cfg->nameservers) : NULL, domains);
                for (size_t i = 0; r >= 0 && cfg && i < cfg->n_ifaces; i++)
                        r = collect(seen, n, max, domains ? cfg->ifaces[i].search : cfg->ifaces[i].nameservers,
                                    domains);
                if (r >= 0)
                        r = collect(seen, n, max, domains ? extra_search : extra_dns, domains);
                if (r < 0)
                        return r;
        }
        if (!n_ns) {
                *ret = NULL;
                return 0;
        }
        sb_put(&b, HEADER);
        for (size_t i = 0; i < n_ns; i++)
                sb_put(&b, "nameserver %s\n", ns[i]);
        for (size_t i = 0; i < n_search; i++)
                sb_put(&b, "%s%s%s", i ? " " : "search ", search[i], i + 1 == n_search ? "\n" : "");
        if (b.failed) {
                sb_free(&b);
                return oom();
        }
        *ret = b.p;
        return 0;
}

/* --- which stack ---------------------------------------------------------------------- */

static const char *first_of(const struct kiln_net_probe *p, const char *const *paths)
{
        for (size_t i = 0; paths[i]; i++)
                if (p->exists(p->ud, paths[i]))
                        return paths[i];
        return NULL;
}

static bool is_link_to_systemd(const struct kiln_net_probe *p, const char *path)
{
        _cleanup_free_ char *t = NULL;
        const char *base;

        if (!p->readlink || p->readlink(p->ud, path, &t) < 0 || !t)
                return false;
        base = strrchr(t, '/');
        return !strcmp(base ? base + 1 : t, "systemd");
}

static bool init_is_systemd(const struct kiln_net_probe *p)
{
        static const char *const systemd[] = { "lib/systemd/systemd", "usr/lib/systemd/systemd", NULL };

        if (is_link_to_systemd(p, "sbin/init") || is_link_to_systemd(p, "usr/sbin/init"))
                return true;
        if (!first_of(p, systemd))
                return false;
        /* Without readlink the probe cannot tell sysvinit's /sbin/init from
         * systemd's link: an installed systemd counts. */
        return !p->readlink || (!p->exists(p->ud, "sbin/init") && !p->exists(p->ud, "usr/sbin/init"));
}

/* "/etc/network/" + a relative path, trailing slashes dropped. */
static void ifupdown_abs(const char *tok, size_t n, char *out, size_t outlen)
{
        while (n > 1 && tok[n - 1] == '/')
                n--;
        snprintf(out, outlen, "%s%.*s", tok[0] == '/' ? "" : "/etc/network/", (int)n, tok);
}

/* Whether an interfaces(5) file reads etc/network/interfaces.d/50-kiln:
 * "source GLOB" with a glob in that folder matching the name, or
 * "source-directory" (or "source-dir") of the folder. */
static bool interfaces_sources_kiln(const char *text)
{
        static const char dir[] = "/etc/network/interfaces.d";

        for (const char *line = text; line && *line;) {
                const char *end = strchr(line, '\n'), *p = line;
                size_t len = end ? (size_t)(end - line) : strlen(line);
                const char *stop = line + len;

                line = end ? end + 1 : NULL;
                while (p < stop && (*p == ' ' || *p == '\t'))
                        p++;
                const char *kw = p;
                while (p < stop && *p != ' ' && *p != '\t')
                        p++;
                size_t kwl = (size_t)(p - kw);
                bool src = kwl == 6 && !strncmp(kw, "source", 6);
                bool srcdir = (kwl == 16 && !strncmp(kw, "source-directory", 16)) ||
                              (kwl == 10 && !strncmp(kw, "source-dir", 10));
                if (!src && !srcdir)
                        continue;
                while (p < stop) {
                        while (p < stop && (*p == ' ' || *p == '\t' || *p == '\r'))
                                p++;
                        const char *tok = p;
                        while (p < stop && *p != ' ' && *p != '\t' && *p != '\r')
                                p++;
                        char path[512];
                        if (p == tok || (size_t)(p - tok) >= sizeof(path) - 16)
                                continue;
                        ifupdown_abs(tok, (size_t)(p - tok), path, sizeof(path));
                        if (srcdir && !strcmp(path, dir))
                                return true;
                        if (src && !strncmp(path, dir, sizeof(dir) - 1) && path[sizeof(dir) - 1] == '/' &&
                            !strchr(path + sizeof(dir), '/') && fnmatch(path + sizeof(dir), "50-kiln", FNM_PERIOD) == 0)
                                return true;
                }
        }
        return false;
}

enum kiln_net_stack kiln_net_stack_pick(const struct kiln_net_probe *p, char *reason, size_t reasonlen)
{
        static const char *const netplan[] = { "usr/sbin/netplan", "sbin/netplan", NULL };
        static const char *const ifup[] = { "sbin/ifup", "usr/sbin/ifup", NULL };
        static const char *const nm[] = { "usr/sbin/NetworkManager", "sbin/NetworkManager", NULL };
        static const char *const networkd[] = { "lib/systemd/systemd-networkd", "usr/lib/systemd/systemd-networkd",
                                                NULL };
        char scratch[1];
        const char *found, *ifup_found, *nm_found, *networkd_found;
        bool ifupdown_sources = false, nm_enabled = false;

        if (!reason || !reasonlen) {
                reason = scratch;
                reasonlen = sizeof(scratch);
        }
        if ((found = first_of(p, netplan))) {
                snprintf(reason, reasonlen, "netplan is installed (%s)", found);
                return KILN_NET_STACK_NETPLAN;
        }
        if ((ifup_found = first_of(p, ifup))) {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                if (p->read(p->ud, "etc/network/interfaces", &text, &len) >= 0 && text)
                        ifupdown_sources = interfaces_sources_kiln(text);
                if (ifupdown_sources) {
                        snprintf(reason, reasonlen,
                                 "ifupdown is installed (%s) and etc/network/interfaces sources "
                                 "etc/network/interfaces.d",
                                 ifup_found);
                        return KILN_NET_STACK_IFUPDOWN;
                }
        }
        if ((nm_found = first_of(p, nm))) {
                nm_enabled = p->exists(p->ud, "etc/systemd/system/multi-user.target.wants/NetworkManager.service");
                if (nm_enabled) {
                        snprintf(reason, reasonlen, "NetworkManager is installed (%s) and enabled", nm_found);
                        return KILN_NET_STACK_NETWORKMANAGER;
                }
        }
        networkd_found = first_of(p, networkd);
        bool systemd = init_is_systemd(p);
        if (networkd_found && systemd) {
                snprintf(reason, reasonlen, "the init is systemd and systemd-networkd is installed (%s)",
                         networkd_found);
                return KILN_NET_STACK_NETWORKD;
        }
        snprintf(reason, reasonlen, "no network stack kiln can configure: no netplan; %s; %s; %s",
                 !ifup_found ? "no ifupdown" : "ifupdown's etc/network/interfaces does not source interfaces.d",
                 !nm_found ? "no NetworkManager" : "NetworkManager is not enabled",
                 !networkd_found ? "no systemd-networkd" : "systemd-networkd without systemd as the init");
        return KILN_NET_STACK_NONE;
}

bool kiln_net_resolv_is_ours(enum kiln_net_stack s, const struct kiln_net_probe *p)
{
        static const char *const resolved[] = { "usr/lib/systemd/systemd-resolved", "lib/systemd/systemd-resolved",
                                                NULL };
        static const char *const resolvconf[] = { "sbin/resolvconf", "usr/sbin/resolvconf", NULL };
        static const char *const dhcpcd[] = { "usr/sbin/dhcpcd", "sbin/dhcpcd", NULL };
        _cleanup_free_ char *target = NULL;

        if (p->readlink && p->readlink(p->ud, "etc/resolv.conf", &target) >= 0)
                return false;
        if (first_of(p, resolved) || first_of(p, resolvconf))
                return false;
        if (s == KILN_NET_STACK_NETWORKMANAGER)
                return false;
        if (s == KILN_NET_STACK_IFUPDOWN) {
                bool dhclient = (p->exists(p->ud, "sbin/dhclient") && p->exists(p->ud, "sbin/dhclient-script")) ||
                                (p->exists(p->ud, "usr/sbin/dhclient") &&
                                 p->exists(p->ud, "usr/sbin/dhclient-script"));
                if (dhclient || first_of(p, dhcpcd))
                        return false;
        }
        return true;
}

/* --- kiln's names ------------------------------------------------------------------------ */

static bool named(const char *name, const char *prefix, const char *suffix)
{
        size_t n = strlen(name), pl = strlen(prefix), sl = strlen(suffix);

        return n > pl + sl && !strncmp(name, prefix, pl) && !strcmp(name + n - sl, suffix) &&
               id_ok(name + pl, n - pl - sl);
}

bool kiln_net_is_ours(const char *dir, const char *name)
{
        size_t dl = strlen(dir);

        while (dl > 1 && dir[dl - 1] == '/')
                dl--;
#define DIR_IS(d) (dl == sizeof(d) - 1 && !strncmp(dir, d, dl))
        if (DIR_IS("etc/systemd/network"))
                return named(name, "10-kiln-", ".network") || named(name, "10-kiln-", ".link");
        if (DIR_IS("etc/network/interfaces.d"))
                return !strcmp(name, "50-kiln");
        if (DIR_IS("etc/udev/rules.d"))
                return !strcmp(name, "70-kiln-net.rules");
        if (DIR_IS("etc/netplan"))
                return !strcmp(name, "50-kiln.yaml");
        if (DIR_IS("etc/NetworkManager/system-connections"))
                return named(name, "kiln-", ".nmconnection");
#undef DIR_IS
        return false;
}
