/* SPDX-License-Identifier: MIT */
/*
 * network-config -> struct kiln_netcfg (netcfg.h).  Pure, bounded: the YAML
 * through yamltree.h (PyYAML's YAML 1.1, aliases under a work budget), each
 * address through inet_pton(3), every list under a hard limit.
 *
 * A configuration is built in a fresh struct and handed out only whole.
 * v1 entries are read in two passes: physical interfaces and global name
 * servers first, then what refers to an interface (a nameserver with
 * interface:, a top-level route), which may come before the interface in
 * the document.
 */
#include "netcfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "yamltree.h"

#define MAX_DEPTH 16
#define MAX_ITEMS 1024
#define MAX_SCALAR (64u << 10)
#define MAX_WARNINGS 64
#define MAX_IFNAME 15           /* IFNAMSIZ - 1 */
#define MAX_TOKEN 64            /* a v2 ID that is not an interface name, a match glob, a driver */
#define MAX_DOMAIN 253

#define fail(n, v, path, ...) kiln_yaml_path_error((n)->name, v, path, __VA_ARGS__)

struct nctx {
        struct kiln_yaml *y;
        const char *name;
        struct kiln_netcfg *cfg;
        size_t n_warnings;
        char **skipped;         /* v1 devices skipped (bond0, br0): a nameserver may name one */
};

/* --- strings, messages ----------------------------------------------------- */

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static void strv_freep(char ***v)
{
        strv_free(*v);
}

/* Append s (owned; freed on failure). */
static int strv_add(char ***v, char *s)
{
        size_t n = strv_len(*v);
        char **p;

        if (!s)
                return -ENOMEM;
        p = realloc(*v, (n + 2) * sizeof(*p));
        if (!p) {
                free(s);
                return -ENOMEM;
        }
        p[n] = s;
        p[n + 1] = NULL;
        *v = p;
        return 0;
}

static bool strv_has(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (!strcmp(v[i], s))
                        return true;
        return false;
}

static int oom(const struct nctx *n)
{
        return kiln_errorf(-ENOMEM, "%s: out of memory", n->name);
}

/* "NAME:LINE: message" into cfg->warnings; past MAX_WARNINGS they are dropped. */
static int add_warning(struct nctx *n, const struct kiln_ynode *at, const char *fmt, ...) _printf_(3, 4);
static int add_warning(struct nctx *n, const struct kiln_ynode *at, const char *fmt, ...)
{
        char msg[512], *s;
        va_list ap;

        if (n->n_warnings >= MAX_WARNINGS)
                return 0;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (asprintf(&s, "%s:%zu: %s", n->name, at->line, msg) < 0)
                return oom(n);
        if (strv_add(&n->cfg->warnings, s) < 0)
                return oom(n);
        n->n_warnings++;
        return 0;
}

static int warn_key(struct nctx *n, const struct kiln_ynode *at, const char *path)
{
        return add_warning(n, at, "%s: not supported by kiln, ignored", path);
}

/* A hard limit: -E2BIG with "NAME:LINE: key 'PATH': message". */
static int too_many(const struct nctx *n, const struct kiln_ynode *at, const char *path, const char *fmt, ...)
        _printf_(4, 5);
static int too_many(const struct nctx *n, const struct kiln_ynode *at, const char *path, const char *fmt, ...)
{
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!path || !*path)
                return kiln_errorf(-E2BIG, "%s:%zu: %s", n->name, at->line, msg);
        return kiln_errorf(-E2BIG, "%s:%zu: key '%s': %s", n->name, at->line, path, msg);
}

/* The first bytes of s for a message. */
static const char *shown(const char *s, char out[KILN_YAML_SHOW_SIZE])
{
        kiln_yaml_show(s, strlen(s), out, KILN_YAML_SHOW_SIZE);
        return out;
}

/* --- checks on names and addresses ---------------------------------------- */

static bool token_ok(const char *s, size_t max, const char *extra)
{
        size_t len = strlen(s);

        if (len == 0 || len > max || !strcmp(s, ".") || !strcmp(s, ".."))
                return false;
        for (; *s; s++) {
                char c = *s;

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_' || c == '.' || (extra && strchr(extra, c))))
                        return false;
        }
        return true;
}

bool kiln_net_mac_normalize(char *s)
{
        for (size_t i = 0; i < 17; i++) {
                char c = s[i];

                if (i % 3 == 2) {
                        if (c != ':')
                                return false;
                } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
                        return false;
                }
        }
        if (s[17])
                return false;
        for (size_t i = 0; i < 17; i++)
                if (s[i] >= 'A' && s[i] <= 'F')
                        s[i] = (char)(s[i] - 'A' + 'a');
        return true;
}

struct ip {
        int family;
        unsigned char a[16];
};

static int ip_bits(const struct ip *ip)
{
        return ip->family == AF_INET ? 32 : 128;
}

static bool ip_parse(const char *s, size_t len, struct ip *ret)
{
        char buf[64];

        if (len == 0 || len >= sizeof(buf))
                return false;
        memcpy(buf, s, len);
        buf[len] = 0;
        memset(ret, 0, sizeof(*ret));
        if (inet_pton(AF_INET, buf, ret->a) == 1)
                ret->family = AF_INET;
        else if (inet_pton(AF_INET6, buf, ret->a) == 1)
                ret->family = AF_INET6;
        else
                return false;
        return true;
}

/* A prefix length: decimal digits, 0..max. */
static bool prefix_parse(const char *s, int max, int *ret)
{
        size_t len = strlen(s);
        int p;

        if (len == 0 || len > 3 || strspn(s, "0123456789") != len)
                return false;
        p = atoi(s);
        if (p > max)
                return false;
        *ret = p;
        return true;
}

/* A netmask of family (255.255.255.0, ffff:ffff:ffff:ffff::) or a prefix length. */
static bool mask_parse(const char *s, int family, int *ret)
{
        struct ip m;
        int p = 0, bits;

        if (prefix_parse(s, family == AF_INET ? 32 : 128, ret))
                return true;
        if (!ip_parse(s, strlen(s), &m) || m.family != family)
                return false;
        bits = ip_bits(&m);
        while (p < bits && (m.a[p / 8] & (0x80 >> (p % 8))))
                p++;
        for (int i = p; i < bits; i++)
                if (m.a[i / 8] & (0x80 >> (i % 8)))
                        return false; /* not contiguous */
        *ret = p;
        return true;
}

/* "ADDR" (*ret_prefix -1), "ADDR/PREFIX" or, with allow_mask, "ADDR/NETMASK". */
static bool cidr_parse(const char *s, bool allow_mask, struct ip *ret, int *ret_prefix)
{
        const char *slash = strchr(s, '/');

        if (!ip_parse(s, slash ? (size_t)(slash - s) : strlen(s), ret))
                return false;
        if (!slash) {
                *ret_prefix = -1;
                return true;
        }
        if (allow_mask)
                return mask_parse(slash + 1, ret->family, ret_prefix);
        return prefix_parse(slash + 1, ip_bits(ret), ret_prefix);
}

/* Clear the host bits: the network of ip/prefix. */
static void ip_mask(struct ip *ip, int prefix)
{
        for (int i = prefix; i < ip_bits(ip); i++)
                ip->a[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
}

static bool ip_in(const struct ip *net, int prefix, const struct ip *ip)
{
        struct ip a = *net, b = *ip;

        if (a.family != b.family)
                return false;
        ip_mask(&a, prefix);
        ip_mask(&b, prefix);
        return !memcmp(a.a, b.a, sizeof(a.a));
}

/* The canonical text, with "/prefix" when prefix >= 0. */
static char *ip_format(const struct ip *ip, int prefix)
{
        char buf[INET6_ADDRSTRLEN], *s;

        if (!inet_ntop(ip->family, ip->a, buf, sizeof(buf)))
                return NULL;
        if (prefix < 0)
                return strdup(buf);
        if (asprintf(&s, "%s/%d", buf, prefix) < 0)
                return NULL;
        return s;
}

static bool is_ipv4_default(const char *to)
{
        return !strcmp(to, "0.0.0.0/0");
}

/* --- typed values ------------------------------------------------------- */

static int get_ip(struct nctx *n, const struct kiln_ynode *v, const char *path, int family, struct ip *ret_ip,
                  char **ret)
{
        _cleanup_free_ char *s = NULL;
        char sh[KILN_YAML_SHOW_SIZE], *out;
        struct ip ip;
        int r;

        r = kiln_yaml_get_string(n->y, v, path, &s);
        if (r < 0)
                return r;
        if (!ip_parse(s, strlen(s), &ip))
                return fail(n, v, path, "'%s' is not an IP address", shown(s, sh));
        if (family && ip.family != family)
                return fail(n, v, path, "'%s' is not an %s address", shown(s, sh),
                            family == AF_INET ? "IPv4" : "IPv6");
        if (ret) {
                out = ip_format(&ip, -1);
                if (!out)
                        return oom(n);
                free(*ret);
                *ret = out;
        }
        if (ret_ip)
                *ret_ip = ip;
        return 0;
}

/* An integer from min to max: YAML 1.1's, or a quoted string of digits (cloud-init int()s them). */
static int get_num(struct nctx *n, const struct kiln_ynode *v, const char *path, long long min, long long max,
                   long long *ret)
{
        long long x;

        if (!kiln_ynode_int(v, &x)) {
                if (v->type != KILN_YNODE_SCALAR || v->plain || v->len == 0 || v->len > 18 ||
                    strspn(v->str, "0123456789") != v->len)
                        return fail(n, v, path, "expected a number");
                x = strtoll(v->str, NULL, 10);
        }
        if (x < min || x > max)
                return fail(n, v, path, "expected a number from %lld to %lld", min, max);
        *ret = x;
        return 0;
}

static int get_metric(struct nctx *n, const struct kiln_ynode *v, const char *path, long *ret)
{
        long long x;
        int r = get_num(n, v, path, 0, 0xffffffffLL, &x);

        if (r >= 0)
                *ret = (long)x;
        return r;
}

static int get_mtu(struct nctx *n, const struct kiln_ynode *v, const char *path, unsigned *ret)
{
        long long x;
        int r;

        if (kiln_ynode_is_null(v)) {
                *ret = 0;
                return 0;
        }
        r = get_num(n, v, path, 68, 65535, &x);
        if (r >= 0)
                *ret = (unsigned)x;
        return r;
}

static int get_mac(struct nctx *n, const struct kiln_ynode *v, const char *path, char **ret)
{
        _cleanup_free_ char *s = NULL;
        char sh[KILN_YAML_SHOW_SIZE];
        int r = kiln_yaml_get_string(n->y, v, path, &s);

        if (r < 0)
                return r;
        if (!kiln_net_mac_normalize(s))
                return fail(n, v, path, "'%s' is not a MAC address (six hex pairs such as 0a:1b:2c:3d:4e:5f)",
                            shown(s, sh));
        free(*ret);
        *ret = TAKE_PTR(s);
        return 0;
}

/* An interface name (max MAX_IFNAME), a token (an ID), a glob. */
static int get_name(struct nctx *n, const struct kiln_ynode *v, const char *path, size_t max, const char *extra,
                    const char *what, char **ret)
{
        _cleanup_free_ char *s = NULL;
        char sh[KILN_YAML_SHOW_SIZE];
        int r = kiln_yaml_get_string(n->y, v, path, &s);

        if (r < 0)
                return r;
        if (!token_ok(s, max, extra))
                return fail(n, v, path, "'%s' is not %s (1 to %zu of A-Z a-z 0-9 - _ .%s%s)", shown(s, sh), what,
                            max, extra ? " " : "", extra ? extra : "");
        free(*ret);
        *ret = TAKE_PTR(s);
        return 0;
}

/*
 * Name servers (kind 'n', checked as addresses) or search domains ('s')
 * appended to *list, within KILN_NETCFG_MAX_DNS.  A list, or one string
 * (split at white space when split: v1 subnets' dns_* are).
 */
static int add_dns(struct nctx *n, const struct kiln_ynode *v, const char *path, char kind, bool split, char ***list)
{
        _cleanup_(strv_freep) char **items = NULL;
        char sh[KILN_YAML_SHOW_SIZE];
        int r;

        if (kiln_ynode_is_null(v))
                return 0;
        r = kiln_yaml_get_strv(n->y, v, path, true, &items);
        if (r < 0)
                return r;
        for (size_t i = 0; items[i]; i++) {
                /* Messages point at the item (its line, "[i]") when v is a list. */
                const struct kiln_ynode *at = v->type == KILN_YNODE_SEQUENCE ? v->items[i] : v;
                char *save = NULL, *s = items[i], p[KILN_YAML_PATH_SIZE];

                if (v->type == KILN_YNODE_SEQUENCE)
                        kiln_yaml_indexpath(p, path, i);
                else
                        snprintf(p, sizeof(p), "%s", path);
                for (char *t = split ? strtok_r(s, " \t\n", &save) : s; t;
                     t = split ? strtok_r(NULL, " \t\n", &save) : NULL) {
                        char *out;

                        if (kind == 'n') {
                                struct ip ip;

                                if (!ip_parse(t, strlen(t), &ip))
                                        return fail(n, at, p, "'%s' is not an IP address", shown(t, sh));
                                out = ip_format(&ip, -1);
                        } else {
                                if (!token_ok(t, MAX_DOMAIN, "~"))
                                        return fail(n, at, p, "'%s' is not a domain name", shown(t, sh));
                                out = strdup(t);
                        }
                        if (!out)
                                return oom(n);
                        if (strv_has(*list, out)) {
                                free(out);
                                continue;
                        }
                        if (strv_len(*list) >= KILN_NETCFG_MAX_DNS) {
                                free(out);
                                return too_many(n, at, path, "more than %d %s", KILN_NETCFG_MAX_DNS,
                                                kind == 'n' ? "name servers" : "search domains");
                        }
                        if (strv_add(list, out) < 0)
                                return oom(n);
                }
        }
        return 0;
}

/* --- interfaces ------------------------------------------------------------ */

static void route_free(struct kiln_net_route *rt)
{
        free(rt->to);
        free(rt->via);
        rt->to = rt->via = NULL;
}

static void iface_free(struct kiln_net_iface *f)
{
        free(f->id);
        free(f->match_mac);
        free(f->match_name);
        free(f->match_driver);
        free(f->set_name);
        free(f->ifname_hint);
        strv_free(f->addresses);
        free(f->gateway4);
        free(f->gateway6);
        for (size_t i = 0; i < f->n_routes; i++)
                route_free(&f->routes[i]);
        free(f->routes);
        strv_free(f->nameservers);
        strv_free(f->search);
        memset(f, 0, sizeof(*f));
}

static void iface_init(struct kiln_net_iface *f)
{
        *f = (struct kiln_net_iface){ .dhcp4_metric = -1, .dhcp6_metric = -1, .accept_ra = -1 };
}

static struct kiln_net_iface *find_iface(const struct kiln_netcfg *cfg, const char *id)
{
        for (size_t i = 0; i < cfg->n_ifaces; i++)
                if (!strcmp(cfg->ifaces[i].id, id))
                        return &cfg->ifaces[i];
        return NULL;
}

/* Move *f into cfg (f is emptied either way). */
static int add_iface(struct nctx *n, const struct kiln_ynode *at, const char *path, struct kiln_net_iface *f)
{
        struct kiln_netcfg *cfg = n->cfg;
        struct kiln_net_iface *p;

        if (cfg->n_ifaces >= KILN_NETCFG_MAX_IFACES) {
                iface_free(f);
                return too_many(n, at, path, "more than %d interfaces", KILN_NETCFG_MAX_IFACES);
        }
        p = realloc(cfg->ifaces, (cfg->n_ifaces + 1) * sizeof(*p));
        if (!p) {
                iface_free(f);
                return oom(n);
        }
        cfg->ifaces = p;
        cfg->ifaces[cfg->n_ifaces++] = *f;
        iface_init(f);
        return 0;
}

/* Move *rt into f's routes (rt is emptied either way). */
static int add_route(struct nctx *n, const struct kiln_ynode *at, const char *path, struct kiln_net_iface *f,
                     struct kiln_net_route *rt)
{
        struct kiln_net_route *p;

        if (f->n_routes >= KILN_NETCFG_MAX_ROUTES) {
                route_free(rt);
                return too_many(n, at, path, "more than %d routes on interface '%s'", KILN_NETCFG_MAX_ROUTES, f->id);
        }
        p = realloc(f->routes, (f->n_routes + 1) * sizeof(*p));
        if (!p) {
                route_free(rt);
                return oom(n);
        }
        f->routes = p;
        f->routes[f->n_routes++] = *rt;
        *rt = (struct kiln_net_route){ .metric = -1 };
        return 0;
}

/* Add "ADDR/PREFIX" (owned) to f's addresses, once. */
static int add_address(struct nctx *n, const struct kiln_ynode *at, const char *path, struct kiln_net_iface *f,
                       char *s)
{
        if (!s)
                return oom(n);
        if (strv_has(f->addresses, s)) {
                free(s);
                return 0;
        }
        if (strv_len(f->addresses) >= KILN_NETCFG_MAX_ADDRS) {
                free(s);
                return too_many(n, at, path, "more than %d addresses on interface '%s'", KILN_NETCFG_MAX_ADDRS,
                                f->id);
        }
        if (strv_add(&f->addresses, s) < 0)
                return oom(n);
        return 0;
}

/* The gateway of a static subnet (v1) or gateway4/gateway6 (v2). */
static int set_gateway(struct nctx *n, const struct kiln_ynode *v, const char *path, int family,
                       struct kiln_net_iface *f)
{
        _cleanup_free_ char *gw = NULL;
        struct ip ip;
        char **slot;
        int r = get_ip(n, v, path, family, &ip, &gw);

        if (r < 0)
                return r;
        slot = ip.family == AF_INET ? &f->gateway4 : &f->gateway6;
        if (*slot && strcmp(*slot, gw))
                return add_warning(n, v, "%s: interface '%s' already has the gateway %s, %s is ignored", path, f->id, *slot,
                            gw);
        free(*slot);
        *slot = TAKE_PTR(gw);
        return 0;
}

/* --- v1 ------------------------------------------------------------------ */

/* A route: destination/network with netmask, prefix or /PREFIX; gateway; metric. */

/* v1's prefix for an address or route given without "/PREFIX": "prefix",
 * else "netmask", else cloud-init's default (/24, /64). */
static int v1_prefix(struct nctx *n, const char *path, const struct ip *ip, const struct kiln_ynode *prefix,
                     const struct kiln_ynode *netmask, int *ret)
{
        _cleanup_free_ char *m = NULL;
        char p[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        int r;

        if (prefix) {
                long long x;

                kiln_yaml_subpath(p, path, "prefix");
                r = get_num(n, prefix, p, 0, ip_bits(ip), &x);
                if (r < 0)
                        return r;
                *ret = (int)x;
        } else if (netmask) {
                kiln_yaml_subpath(p, path, "netmask");
                r = kiln_yaml_get_string(n->y, netmask, p, &m);
                if (r < 0)
                        return r;
                if (!mask_parse(m, ip->family, ret))
                        return fail(n, netmask, p, "'%s' is not an %s netmask", shown(m, sh),
                                    ip->family == AF_INET ? "IPv4" : "IPv6");
        } else {
                *ret = ip->family == AF_INET ? 24 : 64; /* cloud-init's default */
        }
        return 0;
}

static int v1_route(struct nctx *n, const struct kiln_ynode *v, const char *path, struct kiln_net_route *rt)
{
        const struct kiln_ynode *dest = NULL, *netmask = NULL, *prefix = NULL, *gateway = NULL;
        _cleanup_free_ char *d = NULL;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        struct ip ip, gw;
        int r, len;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected a route (a mapping with destination and gateway)");
        r = kiln_yaml_entries(n->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;

                kiln_yaml_subpath(p, path, k);
                if (kiln_ynode_is_null(val) || !strcmp(k, "type"))
                        continue;
                if (!strcmp(k, "destination") || (!strcmp(k, "network") && !dest))
                        dest = val;
                else if (!strcmp(k, "network"))
                        ;
                else if (!strcmp(k, "netmask"))
                        netmask = val;
                else if (!strcmp(k, "prefix"))
                        prefix = val;
                else if (!strcmp(k, "gateway"))
                        gateway = val;
                else if (!strcmp(k, "metric"))
                        r = get_metric(n, val, p, &rt->metric);
                else
                        r = warn_key(n, es.e[i].k, p);
        }
        kiln_yaml_entries_free(&es);
        if (r < 0)
                return r;
        if (!dest)
                return fail(n, v, path, "a route needs a 'destination' (or 'network')");
        kiln_yaml_subpath(p, path, "destination");
        r = kiln_yaml_get_string(n->y, dest, p, &d);
        if (r < 0)
                return r;
        if (!cidr_parse(d, true, &ip, &len))
                return fail(n, dest, p, "'%s' is not a network (ADDRESS or ADDRESS/PREFIX)", shown(d, sh));
        if (len < 0 && (r = v1_prefix(n, path, &ip, prefix, netmask, &len)) < 0)
                return r;
        ip_mask(&ip, len);
        rt->to = ip_format(&ip, len);
        if (!rt->to)
                return oom(n);
        if (gateway) {
                kiln_yaml_subpath(p, path, "gateway");
                r = get_ip(n, gateway, p, ip.family, &gw, &rt->via);
                if (r < 0)
                        return r;
        }
        return 0;
}

enum v1_subnet { S_DHCP4, S_DHCP6, S_STATIC, S_SLAAC, S_STATELESS, S_STATEFUL };

static int v1_static_address(struct nctx *n, const struct kiln_ynode *v, const char *path,
                             const struct kiln_ynode *address, const struct kiln_ynode *netmask,
                             const struct kiln_ynode *prefix, struct kiln_net_iface *f)
{
        _cleanup_free_ char *a = NULL;
        char p[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        struct ip ip;
        int r, len;

        if (!address)
                return fail(n, v, path, "a static subnet needs an 'address'");
        kiln_yaml_subpath(p, path, "address");
        r = kiln_yaml_get_string(n->y, address, p, &a);
        if (r < 0)
                return r;
        if (!cidr_parse(a, true, &ip, &len))
                return fail(n, address, p, "'%s' is not an IP address (with an optional /PREFIX)", shown(a, sh));
        if (len < 0 && (r = v1_prefix(n, path, &ip, prefix, netmask, &len)) < 0)
                return r;
        kiln_yaml_subpath(p, path, "address");
        return add_address(n, address, p, f, ip_format(&ip, len));
}

static int v1_subnet(struct nctx *n, const struct kiln_ynode *v, const char *path, struct kiln_net_iface *f,
                     bool *slaac)
{
        static const struct {
                const char *name;
                enum v1_subnet type;
        } types[] = {
                { "dhcp", S_DHCP4 },         { "dhcp4", S_DHCP4 },
                { "dhcp6", S_DHCP6 },        { "static", S_STATIC },
                { "static6", S_STATIC },     { "ipv6_slaac", S_SLAAC },
                { "ipv6_dhcpv6-stateless", S_STATELESS }, { "ipv6_dhcpv6-stateful", S_STATEFUL },
        };
        const struct kiln_ynode *type = NULL, *address = NULL, *netmask = NULL, *prefix = NULL, *gateway = NULL;
        _cleanup_free_ char *t = NULL;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        size_t ti;
        int r;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected a subnet (a mapping with a type)");
        r = kiln_yaml_entries(n->y, v, path, &es);
        if (r < 0)
                return r;
        for (size_t i = 0; i < es.n; i++)
                if (!strcmp(es.e[i].key, "type"))
                        type = es.e[i].v;
        if (!type) {
                kiln_yaml_entries_free(&es);
                return fail(n, v, path, "a subnet needs a 'type'");
        }
        kiln_yaml_subpath(p, path, "type");
        r = kiln_yaml_get_string(n->y, type, p, &t);
        for (ti = 0; r >= 0 && ti < ARRAY_SIZE(types); ti++)
                if (!strcmp(t, types[ti].name))
                        break;
        if (r >= 0 && ti == ARRAY_SIZE(types)) {
                r = add_warning(n, type, "%s: subnet type '%s' is not supported by kiln, ignored", p, shown(t, sh));
                kiln_yaml_entries_free(&es);
                return r;
        }
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;
                enum v1_subnet st = types[ti].type;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "type") || !strcmp(k, "control") || kiln_ynode_is_null(val))
                        continue;
                if (!strcmp(k, "address") || !strcmp(k, "ip_address"))
                        address = address ? address : val;
                else if (!strcmp(k, "netmask"))
                        netmask = val;
                else if (!strcmp(k, "prefix"))
                        prefix = val;
                else if (!strcmp(k, "gateway"))
                        gateway = val;
                else if (!strcmp(k, "dns_nameservers"))
                        r = add_dns(n, val, p, 'n', true, &f->nameservers);
                else if (!strcmp(k, "dns_search"))
                        r = add_dns(n, val, p, 's', true, &f->search);
                else if (!strcmp(k, "routes")) {
                        char q[KILN_YAML_PATH_SIZE];

                        if (val->type != KILN_YNODE_SEQUENCE) {
                                r = fail(n, val, p, "expected a list of routes");
                                break;
                        }
                        for (size_t j = 0; r >= 0 && j < val->n_items; j++) {
                                struct kiln_net_route rt = { .metric = -1 };

                                kiln_yaml_indexpath(q, p, j);
                                r = kiln_yaml_charge(n->y, val->items[j], 0);
                                if (r >= 0)
                                        r = v1_route(n, val->items[j], q, &rt);
                                if (r >= 0)
                                        r = add_route(n, val->items[j], q, f, &rt);
                                route_free(&rt);
                        }
                } else if (!strcmp(k, "metric") && (st == S_DHCP4 || st == S_DHCP6))
                        r = get_metric(n, val, p, st == S_DHCP4 ? &f->dhcp4_metric : &f->dhcp6_metric);
                else
                        r = warn_key(n, es.e[i].k, p);
        }
        kiln_yaml_entries_free(&es);
        if (r < 0)
                return r;
        switch (types[ti].type) {
        case S_DHCP4:
                f->dhcp4 = true;
                break;
        case S_DHCP6:
        case S_STATEFUL:
                f->dhcp6 = true;
                break;
        case S_STATELESS:
                f->dhcp6 = true;
                *slaac = true;
                break;
        case S_SLAAC:
                *slaac = true;
                break;
        case S_STATIC:
                r = v1_static_address(n, v, path, address, netmask, prefix, f);
                if (r >= 0 && gateway) {
                        kiln_yaml_subpath(p, path, "gateway");
                        r = set_gateway(n, gateway, p, 0, f);
                }
                return r;
        }
        /* Address keys on a dhcp or slaac subnet mean nothing to cloud-init either. */
        if (address || netmask || prefix || gateway) {
                const struct kiln_ynode *at = address ? address : netmask ? netmask : prefix ? prefix : gateway;

                return add_warning(n, at, "%s: a %s subnet takes no address, netmask, prefix or gateway, ignored", path,
                            types[ti].name);
        }
        return 0;
}

static int v1_physical(struct nctx *n, const struct kiln_ynode *v, const struct kiln_yaml_entries *es,
                       const char *path)
{
        const struct kiln_ynode *subnets = NULL, *accept_ra = NULL, *name = NULL;
        struct kiln_net_iface f, *old;
        char p[KILN_YAML_PATH_SIZE];
        bool slaac = false;
        int r = 0;

        iface_init(&f);
        for (size_t i = 0; i < es->n; i++)
                if (!strcmp(es->e[i].key, "name"))
                        name = es->e[i].v;
        if (!name || kiln_ynode_is_null(name))
                return fail(n, v, path, "a physical interface needs a 'name'");
        kiln_yaml_subpath(p, path, "name");
        r = get_name(n, name, p, MAX_IFNAME, NULL, "an interface name", &f.id);
        for (size_t i = 0; r >= 0 && i < es->n; i++) {
                const char *k = es->e[i].key;
                const struct kiln_ynode *val = es->e[i].v;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "type") || !strcmp(k, "name") || !strcmp(k, "id") || kiln_ynode_is_null(val))
                        continue;
                if (!strcmp(k, "mac_address"))
                        r = get_mac(n, val, p, &f.match_mac);
                else if (!strcmp(k, "mtu"))
                        r = get_mtu(n, val, p, &f.mtu);
                else if (!strcmp(k, "subnets"))
                        subnets = val;
                else if (!strcmp(k, "accept-ra"))
                        accept_ra = val;
                else
                        r = warn_key(n, es->e[i].k, p);
        }
        if (r >= 0 && subnets) {
                kiln_yaml_subpath(p, path, "subnets");
                if (subnets->type != KILN_YNODE_SEQUENCE)
                        r = fail(n, subnets, p, "expected a list of subnets");
                for (size_t i = 0; r >= 0 && i < subnets->n_items; i++) {
                        char q[KILN_YAML_PATH_SIZE];

                        kiln_yaml_indexpath(q, p, i);
                        r = kiln_yaml_charge(n->y, subnets->items[i], 0);
                        if (r >= 0)
                                r = v1_subnet(n, subnets->items[i], q, &f, &slaac);
                }
        }
        if (r >= 0 && slaac)
                f.accept_ra = 1;
        if (r >= 0 && accept_ra) {
                bool b = false;

                kiln_yaml_subpath(p, path, "accept-ra");
                r = kiln_yaml_get_bool(n->y, accept_ra, p, &b);
                f.accept_ra = b;
        }
        /* cloud-init renames the NIC with this MAC to the name. */
        if (r >= 0 && f.match_mac && !(f.set_name = strdup(f.id)))
                r = oom(n);
        if (r < 0) {
                iface_free(&f);
                return r;
        }
        old = find_iface(n->cfg, f.id);
        if (old) {
                /* cloud-init keeps the last one. */
                r = add_warning(n, v, "%s: physical '%s' is listed again, the earlier entry is dropped", path, f.id);
                iface_free(old);
                *old = f;
                return r;
        }
        return add_iface(n, v, path, &f);
}

static int v1_nameserver(struct nctx *n, const struct kiln_ynode *v, const struct kiln_yaml_entries *es,
                         const char *path, char ***ns, char ***search)
{
        bool have_address = false;
        char p[KILN_YAML_PATH_SIZE];
        int r = 0;

        for (size_t i = 0; r >= 0 && i < es->n; i++) {
                const char *k = es->e[i].key;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "type") || !strcmp(k, "interface"))
                        continue;
                if (!strcmp(k, "address")) {
                        have_address = true;
                        r = add_dns(n, es->e[i].v, p, 'n', false, ns);
                } else if (!strcmp(k, "search"))
                        r = add_dns(n, es->e[i].v, p, 's', false, search);
                else
                        r = warn_key(n, es->e[i].k, p);
        }
        if (r >= 0 && !have_address)
                r = fail(n, v, path, "a nameserver entry needs an 'address'");
        return r;
}

/* Which interface a top-level route goes with (see netcfg.h); NULL: none. */
static struct kiln_net_iface *route_iface(struct kiln_netcfg *cfg, const struct kiln_net_route *rt)
{
        struct ip gw, a;
        int len;

        if (rt->via && ip_parse(rt->via, strlen(rt->via), &gw))
                for (size_t i = 0; i < cfg->n_ifaces; i++)
                        for (char **s = cfg->ifaces[i].addresses; s && *s; s++)
                                if (cidr_parse(*s, false, &a, &len) && len >= 0 && ip_in(&a, len, &gw))
                                        return &cfg->ifaces[i];
        for (size_t i = 0; i < cfg->n_ifaces; i++) {
                const struct kiln_net_iface *f = &cfg->ifaces[i];

                if (f->dhcp4 || f->gateway4)
                        return &cfg->ifaces[i];
                for (size_t j = 0; j < f->n_routes; j++)
                        if (is_ipv4_default(f->routes[j].to))
                                return &cfg->ifaces[i];
        }
        return cfg->n_ifaces ? &cfg->ifaces[0] : NULL;
}

static const char *v1_plural(const char *type)
{
        static const char *const names[][2] = {
                { "bond", "bonds" },           { "bridge", "bridges" },
                { "vlan", "VLANs" },           { "infiniband", "InfiniBand interfaces" },
                { "loopback", "loopback interfaces" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (!strcmp(type, names[i][0]))
                        return names[i][1];
        return NULL;
}

/* A v1 entry kiln does not render: one warning, and its name remembered. */
static int v1_skip(struct nctx *n, const struct kiln_ynode *v, const struct kiln_yaml_entries *es, const char *type,
                   const char *path)
{
        char sh[KILN_YAML_SHOW_SIZE], who[KILN_YAML_PATH_SIZE];
        const char *plural = v1_plural(type);

        snprintf(who, sizeof(who), "%s", path);
        for (size_t i = 0; i < es->n; i++)
                if (!strcmp(es->e[i].key, "name") && es->e[i].v->type == KILN_YNODE_SCALAR &&
                    !kiln_ynode_is_null(es->e[i].v)) {
                        snprintf(who, sizeof(who), "%s", shown(es->e[i].v->str, sh));
                        if (strv_len(n->skipped) < MAX_ITEMS && strv_add(&n->skipped, strdup(es->e[i].v->str)) < 0)
                                return oom(n);
                }
        if (plural)
                return add_warning(n, v, "%s are not supported (%s skipped)", plural, who);
        return add_warning(n, v, "type '%s' is not supported (%s skipped)", shown(type, sh), who);
}

static int v1_entry_type(struct nctx *n, const struct kiln_ynode *v, const struct kiln_yaml_entries *es,
                         const char *path, char **ret)
{
        char p[KILN_YAML_PATH_SIZE];

        for (size_t i = 0; i < es->n; i++)
                if (!strcmp(es->e[i].key, "type")) {
                        kiln_yaml_subpath(p, path, "type");
                        return kiln_yaml_get_string(n->y, es->e[i].v, p, ret);
                }
        return fail(n, v, path, "an entry needs a 'type' (physical, nameserver, route, ...)");
}

static const struct kiln_ynode *entry_get(const struct kiln_yaml_entries *es, const char *key)
{
        for (size_t i = 0; i < es->n; i++)
                if (!strcmp(es->e[i].key, key))
                        return es->e[i].v;
        return NULL;
}

/* Pass 1: physical, global nameserver, what is skipped.  Pass 2: what names
 * an interface (nameserver with interface:) or needs one (route). */
static int v1_entry(struct nctx *n, const struct kiln_ynode *v, const char *path, int pass)
{
        const struct kiln_ynode *iface_node;
        _cleanup_free_ char *type = NULL;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        int r;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected an entry (a mapping with a type)");
        r = kiln_yaml_entries(n->y, v, path, &es);
        if (r < 0)
                return r;
        r = v1_entry_type(n, v, &es, path, &type);
        if (r < 0)
                goto out;
        iface_node = entry_get(&es, "interface");
        if (iface_node && kiln_ynode_is_null(iface_node))
                iface_node = NULL;
        if (!strcmp(type, "physical")) {
                if (pass == 1)
                        r = v1_physical(n, v, &es, path);
        } else if (!strcmp(type, "nameserver") && !iface_node) {
                if (pass == 1)
                        r = v1_nameserver(n, v, &es, path, &n->cfg->nameservers, &n->cfg->search);
        } else if (!strcmp(type, "nameserver")) {
                _cleanup_free_ char *name = NULL;
                struct kiln_net_iface *f;

                if (pass == 1)
                        goto out;
                kiln_yaml_subpath(p, path, "interface");
                r = kiln_yaml_get_string(n->y, iface_node, p, &name);
                if (r < 0)
                        goto out;
                f = find_iface(n->cfg, name);
                if (f)
                        r = v1_nameserver(n, v, &es, path, &f->nameservers, &f->search);
                else if (strv_has(n->skipped, name))
                        r = add_warning(n, v, "%s: the name servers of '%s' are skipped with it", path, shown(name, sh));
                else
                        r = fail(n, iface_node, p, "no interface '%s' in the configuration", shown(name, sh));
        } else if (!strcmp(type, "route")) {
                struct kiln_net_route rt = { .metric = -1 };
                struct kiln_net_iface *f;

                if (pass == 1)
                        goto out;
                r = v1_route(n, v, path, &rt);
                f = r >= 0 ? route_iface(n->cfg, &rt) : NULL;
                if (r >= 0 && f)
                        r = add_route(n, v, path, f, &rt);
                else if (r >= 0)
                        r = add_warning(n, v, "%s: the route to %s has no interface to go with, skipped", path, rt.to);
                route_free(&rt);
        } else if (pass == 1) {
                r = v1_skip(n, v, &es, type, path);
        }
out:
        kiln_yaml_entries_free(&es);
        return r;
}

static int parse_v1(struct nctx *n, const struct kiln_yaml_entries *top, const struct kiln_ynode *at,
                    const char *path)
{
        const struct kiln_ynode *config = NULL;
        char p[KILN_YAML_PATH_SIZE];
        int r = 0;

        for (size_t i = 0; r >= 0 && i < top->n; i++) {
                const char *k = top->e[i].key;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "config"))
                        config = top->e[i].v;
                else if (strcmp(k, "version"))
                        r = warn_key(n, top->e[i].k, p);
        }
        if (r < 0)
                return r;
        if (!config || kiln_ynode_is_null(config))
                return fail(n, at, path, "version 1 needs 'config' (a list of entries)");
        kiln_yaml_subpath(p, path, "config");
        if (config->type != KILN_YNODE_SEQUENCE)
                return fail(n, config, p, "expected a list of entries (physical, nameserver, route, ...)");
        for (int pass = 1; pass <= 2; pass++)
                for (size_t i = 0; r >= 0 && i < config->n_items; i++) {
                        char q[KILN_YAML_PATH_SIZE];

                        kiln_yaml_indexpath(q, p, i);
                        r = kiln_yaml_charge(n->y, config->items[i], 0);
                        if (r >= 0)
                                r = v1_entry(n, config->items[i], q, pass);
                }
        return r;
}

/* --- v2 ------------------------------------------------------------------ */

static int v2_route(struct nctx *n, const struct kiln_ynode *v, const char *path, struct kiln_net_route *rt)
{
        const struct kiln_ynode *to = NULL, *via = NULL;
        _cleanup_free_ char *t = NULL;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        struct ip ip, gw = { 0 };
        int r, len;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected a route (a mapping with to and via)");
        r = kiln_yaml_entries(n->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;

                kiln_yaml_subpath(p, path, k);
                if (kiln_ynode_is_null(val))
                        continue;
                if (!strcmp(k, "to"))
                        to = val;
                else if (!strcmp(k, "via"))
                        via = val;
                else if (!strcmp(k, "metric"))
                        r = get_metric(n, val, p, &rt->metric);
                else if (!strcmp(k, "on-link"))
                        r = kiln_yaml_get_bool(n->y, val, p, &rt->on_link);
                else
                        r = warn_key(n, es.e[i].k, p);
        }
        kiln_yaml_entries_free(&es);
        if (r < 0)
                return r;
        if (!to)
                return fail(n, v, path, "a route needs 'to'");
        if (via) {
                kiln_yaml_subpath(p, path, "via");
                r = get_ip(n, via, p, 0, &gw, &rt->via);
                if (r < 0)
                        return r;
        }
        kiln_yaml_subpath(p, path, "to");
        r = kiln_yaml_get_string(n->y, to, p, &t);
        if (r < 0)
                return r;
        if (!strcmp(t, "default")) {
                ip = (struct ip){ .family = via ? gw.family : AF_INET };
                len = 0;
        } else if (!cidr_parse(t, false, &ip, &len)) {
                return fail(n, to, p, "'%s' is not a destination (default, ADDRESS or ADDRESS/PREFIX)", shown(t, sh));
        } else if (len < 0) {
                len = ip_bits(&ip); /* a host route */
        }
        if (via && gw.family != ip.family)
                return fail(n, via, path, "the gateway %s and the destination %s are not of one IP version",
                            rt->via, shown(t, sh));
        ip_mask(&ip, len);
        rt->to = ip_format(&ip, len);
        return rt->to ? 0 : oom(n);
}

static int v2_address(struct nctx *n, const struct kiln_ynode *v, const char *path, struct kiln_net_iface *f)
{
        const struct kiln_ynode *a = v;
        _cleanup_free_ char *s = NULL;
        char sh[KILN_YAML_SHOW_SIZE];
        struct ip ip;
        int r, len;

        /* The mapping form: {"192.0.2.5/24": {lifetime: 0, label: x}}. */
        if (v->type == KILN_YNODE_MAPPING) {
                if (v->n_items != 2)
                        return fail(n, v, path, "expected an address, or a mapping with one address as its key");
                a = v->items[0];
        }
        r = kiln_yaml_get_string(n->y, a, path, &s);
        if (r < 0)
                return r;
        if (!cidr_parse(s, false, &ip, &len))
                return fail(n, a, path, "'%s' is not an address with a prefix length (ADDRESS/PREFIX)",
                            shown(s, sh));
        if (len < 1)
                return fail(n, a, path, "'%s' needs a prefix length from 1 to %d (ADDRESS/PREFIX)", shown(s, sh),
                            ip_bits(&ip));
        return add_address(n, a, path, f, ip_format(&ip, len));
}

static int v2_overrides(struct nctx *n, const struct kiln_ynode *v, const char *path, long *metric)
{
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected a mapping (route-metric, ...)");
        r = kiln_yaml_entries(n->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                kiln_yaml_subpath(p, path, es.e[i].key);
                if (!strcmp(es.e[i].key, "route-metric"))
                        r = get_metric(n, es.e[i].v, p, metric);
                else
                        r = warn_key(n, es.e[i].k, p);
        }
        kiln_yaml_entries_free(&es);
        return r;
}

static int v2_nameservers(struct nctx *n, const struct kiln_ynode *v, const char *path, struct kiln_net_iface *f)
{
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected a mapping (addresses, search)");
        r = kiln_yaml_entries(n->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                kiln_yaml_subpath(p, path, es.e[i].key);
                if (!strcmp(es.e[i].key, "addresses"))
                        r = add_dns(n, es.e[i].v, p, 'n', false, &f->nameservers);
                else if (!strcmp(es.e[i].key, "search"))
                        r = add_dns(n, es.e[i].v, p, 's', false, &f->search);
                else
                        r = warn_key(n, es.e[i].k, p);
        }
        kiln_yaml_entries_free(&es);
        return r;
}

static int v2_match(struct nctx *n, const struct kiln_ynode *v, const char *path, struct kiln_net_iface *f)
{
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected a mapping (macaddress, name, driver)");
        r = kiln_yaml_entries(n->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "macaddress"))
                        r = get_mac(n, val, p, &f->match_mac);
                else if (!strcmp(k, "name"))
                        r = get_name(n, val, p, MAX_TOKEN, "*?[]!", "an interface name or glob", &f->match_name);
                else if (!strcmp(k, "driver"))
                        r = get_name(n, val, p, MAX_TOKEN, "*?[]!", "a driver name or glob", &f->match_driver);
                else
                        r = add_warning(n, es.e[i].k, "%s: kiln matches only on macaddress, name and driver; ignored", p);
        }
        kiln_yaml_entries_free(&es);
        return r;
}

static int v2_ethernet(struct nctx *n, const struct kiln_yaml_entry *e, const char *path)
{
        const struct kiln_ynode *v = e->v, *set_name = NULL;
        struct kiln_yaml_entries es = { 0 };
        struct kiln_net_iface f;
        char p[KILN_YAML_PATH_SIZE], q[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        bool matched;
        int r = 0;

        iface_init(&f);
        if (!kiln_ynode_is_null(v) && v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "expected a mapping (an ethernet's configuration)");
        f.id = strdup(e->key); /* checked below, once match: is known */
        if (!f.id)
                return oom(n);
        if (v->type == KILN_YNODE_MAPPING)
                r = kiln_yaml_entries(n->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;
                bool b = false;

                kiln_yaml_subpath(p, path, k);
                if (kiln_ynode_is_null(val) || !strcmp(k, "critical") || !strcmp(k, "renderer"))
                        continue;
                if (!strcmp(k, "match"))
                        r = v2_match(n, val, p, &f);
                else if (!strcmp(k, "set-name"))
                        set_name = val;
                else if (!strcmp(k, "dhcp4")) {
                        r = kiln_yaml_get_bool(n->y, val, p, &f.dhcp4);
                } else if (!strcmp(k, "dhcp6")) {
                        r = kiln_yaml_get_bool(n->y, val, p, &f.dhcp6);
                } else if (!strcmp(k, "dhcp4-overrides")) {
                        r = v2_overrides(n, val, p, &f.dhcp4_metric);
                } else if (!strcmp(k, "dhcp6-overrides")) {
                        r = v2_overrides(n, val, p, &f.dhcp6_metric);
                } else if (!strcmp(k, "accept-ra")) {
                        r = kiln_yaml_get_bool(n->y, val, p, &b);
                        f.accept_ra = b;
                } else if (!strcmp(k, "addresses")) {
                        if (val->type != KILN_YNODE_SEQUENCE)
                                r = fail(n, val, p, "expected a list of addresses (ADDRESS/PREFIX)");
                        for (size_t j = 0; r >= 0 && j < val->n_items; j++) {
                                kiln_yaml_indexpath(q, p, j);
                                r = kiln_yaml_charge(n->y, val->items[j], 0);
                                if (r >= 0)
                                        r = v2_address(n, val->items[j], q, &f);
                        }
                } else if (!strcmp(k, "gateway4")) {
                        r = set_gateway(n, val, p, AF_INET, &f);
                } else if (!strcmp(k, "gateway6")) {
                        r = set_gateway(n, val, p, AF_INET6, &f);
                } else if (!strcmp(k, "routes")) {
                        if (val->type != KILN_YNODE_SEQUENCE)
                                r = fail(n, val, p, "expected a list of routes");
                        for (size_t j = 0; r >= 0 && j < val->n_items; j++) {
                                struct kiln_net_route rt = { .metric = -1 };

                                kiln_yaml_indexpath(q, p, j);
                                r = kiln_yaml_charge(n->y, val->items[j], 0);
                                if (r >= 0)
                                        r = v2_route(n, val->items[j], q, &rt);
                                if (r >= 0)
                                        r = add_route(n, val->items[j], q, &f, &rt);
                                route_free(&rt);
                        }
                } else if (!strcmp(k, "nameservers")) {
                        r = v2_nameservers(n, val, p, &f);
                } else if (!strcmp(k, "mtu")) {
                        r = get_mtu(n, val, p, &f.mtu);
                } else if (!strcmp(k, "optional")) {
                        r = kiln_yaml_get_bool(n->y, val, p, &f.optional);
                } else {
                        r = warn_key(n, es.e[i].k, p);
                }
        }
        kiln_yaml_entries_free(&es);
        matched = f.match_mac || f.match_name || f.match_driver;
        /* Without match: the ID is the interface's name; with it, a label. */
        if (r >= 0 && !token_ok(e->key, matched ? MAX_TOKEN : MAX_IFNAME, NULL))
                r = fail(n, e->k, path, "'%s' is not %s (1 to %d of A-Z a-z 0-9 - _ .)", shown(e->key, sh),
                         matched ? "an ID" : "an interface name (an ID without match: names the interface)",
                         matched ? MAX_TOKEN : MAX_IFNAME);
        if (r >= 0 && set_name) {
                kiln_yaml_subpath(p, path, "set-name");
                if (matched)
                        r = get_name(n, set_name, p, MAX_IFNAME, NULL, "an interface name", &f.set_name);
                else
                        r = add_warning(n, set_name, "%s: set-name needs match:, ignored (as netplan refuses it)", p);
        }
        if (r < 0) {
                iface_free(&f);
                return r;
        }
        return add_iface(n, e->k, path, &f);
}

static const char *const v2_devices[][2] = {
        { "bonds", "bonds" },           { "bridges", "bridges" },     { "vlans", "VLANs" },
        { "wifis", "wifis" },           { "tunnels", "tunnels" },     { "vrfs", "VRFs" },
        { "modems", "modems" },         { "dummy-devices", "dummy devices" },
        { "virtual-ethernets", "virtual ethernets" }, { "nm-devices", "NetworkManager devices" },
};

static int parse_v2(struct nctx *n, const struct kiln_yaml_entries *top, const char *path)
{
        char p[KILN_YAML_PATH_SIZE], q[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        int r = 0;

        for (size_t i = 0; r >= 0 && i < top->n; i++) {
                const char *k = top->e[i].key;
                const struct kiln_ynode *val = top->e[i].v;
                size_t d;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "version") || !strcmp(k, "renderer") || kiln_ynode_is_null(val))
                        continue;
                if (!strcmp(k, "ethernets")) {
                        struct kiln_yaml_entries es;

                        if (val->type != KILN_YNODE_MAPPING)
                                return fail(n, val, p, "expected a mapping of IDs to ethernet configurations");
                        r = kiln_yaml_entries(n->y, val, p, &es);
                        for (size_t j = 0; r >= 0 && j < es.n; j++) {
                                kiln_yaml_subpath(q, p, es.e[j].key);
                                r = v2_ethernet(n, &es.e[j], q);
                        }
                        kiln_yaml_entries_free(&es);
                        continue;
                }
                for (d = 0; d < ARRAY_SIZE(v2_devices); d++)
                        if (!strcmp(k, v2_devices[d][0]))
                                break;
                if (d == ARRAY_SIZE(v2_devices)) {
                        r = warn_key(n, top->e[i].k, p);
                } else if (val->type == KILN_YNODE_MAPPING) {
                        struct kiln_yaml_entries es;

                        r = kiln_yaml_entries(n->y, val, p, &es);
                        for (size_t j = 0; r >= 0 && j < es.n; j++)
                                r = add_warning(n, es.e[j].k, "%s are not supported (%s skipped)", v2_devices[d][1],
                                         shown(es.e[j].key, sh));
                        kiln_yaml_entries_free(&es);
                } else {
                        r = add_warning(n, val, "%s are not supported (%s skipped)", v2_devices[d][1], p);
                }
        }
        return r;
}

/* --- the top --------------------------------------------------------------- */

static void pick_primary(struct kiln_netcfg *cfg)
{
        bool found = false;

        for (size_t i = 0; i < cfg->n_ifaces; i++) {
                struct kiln_net_iface *f = &cfg->ifaces[i];
                bool def = f->dhcp4 || f->gateway4;

                for (size_t j = 0; j < f->n_routes && !def; j++)
                        def = is_ipv4_default(f->routes[j].to);
                f->primary = def && !found;
                found = found || def;
        }
}

static int parse_config(struct nctx *n, const struct kiln_ynode *v, const char *path, bool top)
{
        const struct kiln_ynode *version = NULL, *config = NULL, *network = NULL;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE], sh[KILN_YAML_SHOW_SIZE];
        long long ver;
        int r;

        if (!v || kiln_ynode_is_null(v))
                return 0; /* none given */
        if (v->type != KILN_YNODE_MAPPING)
                return fail(n, v, path, "a network configuration must be a mapping, not %s", kiln_ynode_kind(v));
        r = kiln_yaml_entries(n->y, v, path, &es);
        if (r < 0)
                return r;
        for (size_t i = 0; i < es.n; i++) {
                if (!strcmp(es.e[i].key, "version"))
                        version = es.e[i].v;
                else if (!strcmp(es.e[i].key, "config"))
                        config = es.e[i].v;
                else if (!strcmp(es.e[i].key, "network") && top)
                        network = es.e[i].v;
        }
        if (network) {
                /* The wrapped form: {network: {version: 2, ...}}. */
                for (size_t i = 0; r >= 0 && i < es.n; i++)
                        if (strcmp(es.e[i].key, "network")) {
                                kiln_yaml_subpath(p, path, es.e[i].key);
                                r = warn_key(n, es.e[i].k, p);
                        }
                kiln_yaml_entries_free(&es);
                if (r < 0)
                        return r;
                kiln_yaml_subpath(p, path, "network");
                return parse_config(n, network, p, false);
        }
        if (config && config->type == KILN_YNODE_SCALAR && !strcmp(config->str, "disabled")) {
                n->cfg->disabled = true;
                goto out;
        }
        if (es.n == 0)
                goto out; /* {} */
        if (!version) {
                r = fail(n, v, path, "'version' is required (1 or 2)");
                goto out;
        }
        kiln_yaml_subpath(p, path, "version");
        if (!kiln_ynode_int(version, &ver)) {
                r = fail(n, version, p, "expected the number 1 or 2, not %s%s%s",
                         version->type == KILN_YNODE_SCALAR ? "'" : "",
                         version->type == KILN_YNODE_SCALAR ? shown(version->str, sh) : kiln_ynode_kind(version),
                         version->type == KILN_YNODE_SCALAR ? "'" : "");
                goto out;
        }
        if (ver != 1 && ver != 2) {
                r = fail(n, version, p, "version %lld is not one kiln reads (1 or 2)", ver);
                goto out;
        }
        n->cfg->version = (int)ver;
        r = ver == 1 ? parse_v1(n, &es, v, path) : parse_v2(n, &es, path);
out:
        kiln_yaml_entries_free(&es);
        return r;
}

void kiln_netcfg_init(struct kiln_netcfg *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
}

void kiln_netcfg_free(struct kiln_netcfg *cfg)
{
        if (!cfg)
                return;
        for (size_t i = 0; i < cfg->n_ifaces; i++)
                iface_free(&cfg->ifaces[i]);
        free(cfg->ifaces);
        strv_free(cfg->nameservers);
        strv_free(cfg->search);
        strv_free(cfg->warnings);
        kiln_netcfg_init(cfg);
}

int kiln_netcfg_from_node(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path,
                          struct kiln_netcfg *ret)
{
        struct kiln_netcfg cfg;
        struct nctx n = { .y = y, .name = y->name, .cfg = &cfg };
        int r;

        kiln_netcfg_init(&cfg);
        r = parse_config(&n, v, path ? path : "", true);
        strv_free(n.skipped);
        if (r < 0) {
                kiln_netcfg_free(&cfg);
                return r;
        }
        pick_primary(&cfg);
        *ret = cfg;
        return 0;
}

int kiln_netcfg_parse(const char *name, const void *buf, size_t len, struct kiln_netcfg *ret)
{
        static const struct kiln_yaml_limits limits = {
                .max_depth = MAX_DEPTH,
                .max_items = MAX_ITEMS,
                .max_scalar = MAX_SCALAR,
        };
        struct kiln_yaml y;
        int r;

        if (!name)
                name = "network-config";
        if (len > KILN_NETCFG_MAX_BYTES)
                return kiln_errorf(-EFBIG, "%s: %zu bytes, more than the %u MiB limit of a network-config", name,
                                   len, KILN_NETCFG_MAX_BYTES >> 20);
        r = kiln_yaml_load(&y, name, buf, len, &limits);
        if (r < 0)
                return r;
        r = kiln_netcfg_from_node(&y, y.root, "", ret);
        kiln_yaml_free(&y);
        return r;
}
