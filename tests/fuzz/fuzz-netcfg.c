/* SPDX-License-Identifier: MIT */
/*
 * kiln_netcfg_parse() on arbitrary bytes.  Beyond "no crash, no leak":
 * errors are -EBADMSG, -E2BIG, -EFBIG or -ENOMEM with a one-line message
 * naming the document, and leave *ret as it was; on success every count is
 * within netcfg.h's limits, lists are NULL-terminated, each address and
 * route parses back (inet_pton) with a prefix in range, MACs are six
 * lowercase pairs, at most one interface is primary, a disabled
 * configuration has no interface, warnings are single lines; the same
 * input gives the same answer twice and is not modified.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netcfg.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static void check_line(const char *s)
{
        if (!s || !*s || strpbrk(s, "\n\r"))
                abort();
}

/* "ADDR" (prefix < 0 wanted) or "ADDR/PREFIX". */
static void check_ip(const char *s, bool with_prefix)
{
        char buf[64];
        unsigned char bin[16];
        const char *slash;
        int family;

        if (!s)
                abort();
        slash = strchr(s, '/');
        if (!slash != !with_prefix || strlen(s) >= sizeof(buf))
                abort();
        memcpy(buf, s, slash ? (size_t)(slash - s) : strlen(s) + 1);
        if (slash)
                buf[slash - s] = 0;
        if (inet_pton(AF_INET, buf, bin) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, buf, bin) == 1)
                family = AF_INET6;
        else
                abort();
        if (slash) {
                char *end;
                long p = strtol(slash + 1, &end, 10);

                if (*end || end == slash + 1 || p < 0 || p > (family == AF_INET ? 32 : 128))
                        abort();
        }
}

static void check_mac(const char *s)
{
        if (!s)
                return;
        if (strlen(s) != 17)
                abort();
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !strchr("0123456789abcdef", s[i]))
                        abort();
}

static void check(const struct kiln_netcfg *cfg)
{
        int primary = 0;

        if (cfg->version < 0 || cfg->version > 2 || cfg->n_ifaces > KILN_NETCFG_MAX_IFACES ||
            (cfg->n_ifaces && !cfg->ifaces) || (cfg->disabled && cfg->n_ifaces))
                abort();
        if (strv_len(cfg->nameservers) > KILN_NETCFG_MAX_DNS || strv_len(cfg->search) > KILN_NETCFG_MAX_DNS)
                abort();
        for (char **s = cfg->nameservers; s && *s; s++)
                check_ip(*s, false);
        for (char **s = cfg->search; s && *s; s++)
                check_line(*s);
        for (char **s = cfg->warnings; s && *s; s++)
                if (strncmp(*s, "fuzz:", 5))
                        abort();
                else
                        check_line(*s);
        for (size_t i = 0; i < cfg->n_ifaces; i++) {
                const struct kiln_net_iface *f = &cfg->ifaces[i];

                check_line(f->id);
                if (strlen(f->id) > 64 || strchr(f->id, '/'))
                        abort();
                check_mac(f->match_mac);
                if (f->set_name && (strlen(f->set_name) > 15 || strchr(f->set_name, '/')))
                        abort();
                if (f->ifname_hint || f->accept_ra < -1 || f->accept_ra > 1 || f->dhcp4_metric < -1 ||
                    f->dhcp6_metric < -1 || f->mtu > 65535)
                        abort();
                if (strv_len(f->addresses) > KILN_NETCFG_MAX_ADDRS || f->n_routes > KILN_NETCFG_MAX_ROUTES ||
                    (f->n_routes && !f->routes) || strv_len(f->nameservers) > KILN_NETCFG_MAX_DNS ||
                    strv_len(f->search) > KILN_NETCFG_MAX_DNS)
                        abort();
                for (char **s = f->addresses; s && *s; s++)
                        check_ip(*s, true);
                for (char **s = f->nameservers; s && *s; s++)
                        check_ip(*s, false);
                for (char **s = f->search; s && *s; s++)
                        check_line(*s);
                if (f->gateway4)
                        check_ip(f->gateway4, false);
                if (f->gateway6)
                        check_ip(f->gateway6, false);
                for (size_t j = 0; j < f->n_routes; j++) {
                        check_ip(f->routes[j].to, true);
                        if (f->routes[j].via)
                                check_ip(f->routes[j].via, false);
                        if (f->routes[j].metric < -1)
                                abort();
                }
                primary += f->primary;
        }
        if (primary > 1)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_netcfg a = { .version = 42 }, b = { .version = 42 };
        char *buf = malloc(size ? size : 1);
        int r, r2;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        r = kiln_netcfg_parse("fuzz", buf, size, &a);
        if (r < 0) {
                const char *msg = kiln_last_error();

                if (r != -EBADMSG && r != -E2BIG && r != -EFBIG && r != -ENOMEM)
                        abort();
                if (strncmp(msg, "fuzz", 4) || strpbrk(msg, "\n\r"))
                        abort();
                /* Untouched. */
                if (a.version != 42 || a.ifaces || a.warnings || a.nameservers)
                        abort();
        } else {
                if (r != 0)
                        abort();
                check(&a);
        }
        r2 = kiln_netcfg_parse("fuzz", buf, size, &b);
        if (r2 != r || (r == 0 && (b.n_ifaces != a.n_ifaces || b.disabled != a.disabled || b.version != a.version ||
                                   strv_len(b.warnings) != strv_len(a.warnings))))
                abort();
        if (size && memcmp(buf, data, size))
                abort();
        if (r == 0) {
                kiln_netcfg_free(&a);
                kiln_netcfg_free(&b);
        }
        free(buf);
        return 0;
}
