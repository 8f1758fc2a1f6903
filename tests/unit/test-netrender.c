/* SPDX-License-Identifier: MIT */
/*
 * netrender: configurations built by hand (no parser), rendered for each
 * stack and compared with tests/golden/net/CASE.STACK, every file as
 * "=== PATH (MODE)" and its content, or "=== PATH -> TARGET".  The folder is
 * $KILN_GOLDEN_DIR, else tests/golden/net from the working folder (the top
 * of the tree, where tests/run-unit.sh runs); KILN_UPDATE_GOLDEN=1 rewrites
 * the files instead, to be read before they are committed.
 *
 * Then the chooser and the resolv.conf rules over a fake root, resolv.conf,
 * kiln's names, the errors, and the oracles this machine has: netplan's YAML
 * read back by python3's yaml module, every [Section] Key= of the .network
 * files looked up in the installed systemd-networkd's own table, the enable
 * links compared with what `systemctl --root enable` makes from the host's
 * units, and the NetworkManager UUID against python's uuid5.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "netrender.h"
#include "util.h"

#define S(x) ((char *)(x))

static const char *const stacks[][2] = {
        { "networkd", "systemd-networkd" },
        { "ifupdown", "ifupdown" },
        { "netplan", "netplan" },
        { "nm", "NetworkManager" },
};
static const enum kiln_net_stack stack_ids[] = {
        KILN_NET_STACK_NETWORKD,
        KILN_NET_STACK_IFUPDOWN,
        KILN_NET_STACK_NETPLAN,
        KILN_NET_STACK_NETWORKMANAGER,
};

static struct kiln_net_iface iface(const char *id)
{
        return (struct kiln_net_iface){ .id = S(id), .dhcp4_metric = -1, .dhcp6_metric = -1, .accept_ra = -1 };
}

/* --- golden files ---------------------------------------------------------- */

static char *dump(const struct kiln_net_files *fs)
{
        char *p = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&p, &len);

        if (!f)
                return NULL;
        for (size_t i = 0; i < fs->n; i++) {
                const struct kiln_net_file *x = &fs->v[i];
                if (x->symlink)
                        fprintf(f, "=== %s -> %s\n", x->path, x->symlink);
                else
                        fprintf(f, "=== %s (%04o)\n%s", x->path, x->mode, x->content);
        }
        fclose(f);
        return p;
}

static const char *golden_dir(void)
{
        const char *d = getenv("KILN_GOLDEN_DIR");

        return d && *d ? d : "tests/golden/net";
}

static void golden(const char *name, const char *got)
{
        char path[512];
        uint8_t *want = NULL;
        size_t len = 0;
        const char *upd = getenv("KILN_UPDATE_GOLDEN");

        snprintf(path, sizeof(path), "%s/%s", golden_dir(), name);
        if (upd && !strcmp(upd, "1")) {
                FILE *f = fopen(path, "w");
                ok(f && fputs(got, f) >= 0 && fclose(f) == 0, "%s: golden file rewritten", name);
                return;
        }
        if (read_full_file(path, 1 << 20, &want, &len) < 0) {
                ok(false, "%s: matches the golden file", name);
                tap_diag("  cannot read %s (run from the top of the tree, or set KILN_GOLDEN_DIR; "
                         "KILN_UPDATE_GOLDEN=1 writes it)",
                         path);
                return;
        }
        if (!ok(len == strlen(got) && !memcmp(want, got, len), "%s: matches the golden file", name)) {
                /* The first line that differs. */
                const char *a = (const char *)want, *b = got;
                int line = 1;
                while (*a && *a == *b) {
                        if (*a == '\n')
                                line++;
                        a++, b++;
                }
                while (a > (const char *)want && a[-1] != '\n')
                        a--, b--;
                tap_diag("  line %d: want '%.*s'", line, (int)strcspn(a, "\n"), a);
                tap_diag("  line %d:  got '%.*s'", line, (int)strcspn(b, "\n"), b);
        }
        free(want);
}

/* Renders cfg for every stack in mask (bit i: stacks[i]) and compares each
 * with CASE.STACK; the files are kept in out[i] (may be NULL). */
static void render_case(const char *name, const struct kiln_netcfg *cfg, unsigned mask,
                        struct kiln_net_files out[4])
{
        for (size_t i = 0; i < ARRAY_SIZE(stack_ids); i++) {
                struct kiln_net_files fs = { 0 };
                char gname[128];
                int r;

                if (!(mask & (1u << i)))
                        continue;
                snprintf(gname, sizeof(gname), "%s.%s", name, stacks[i][0]);
                r = kiln_net_render(stack_ids[i], cfg, &fs);
                if (!ok(r == 0, "%s: renders for %s", gname, stacks[i][1])) {
                        tap_diag("  %d: %s", r, kiln_last_error());
                        continue;
                }
                _cleanup_free_ char *d = dump(&fs);
                golden(gname, d ? d : "");
                if (out)
                        out[i] = fs;
                else
                        kiln_net_files_free(&fs);
        }
}

/* --- the oracles ----------------------------------------------------------- */

static bool have_python_yaml(void)
{
        static int have = -1;

        if (have < 0)
                have = system("python3 -c 'import yaml' >/dev/null 2>&1") == 0;
        return have;
}

/* netplan's YAML as python's yaml module reads it, the "ethernets" map as
 * compact JSON with sorted keys; NULL when it does not load. */
static char *netplan_json(const struct kiln_net_files *fs)
{
        static const char script[] =
                "import json, sys, yaml\n"
                "d = yaml.safe_load(open(sys.argv[1]))\n"
                "n = d['network']\n"
                "assert sorted(n) == ['ethernets', 'version'] and n['version'] == 2\n"
                "print(json.dumps(n['ethernets'], sort_keys=True, separators=(',', ':')))\n";
        char tmp[] = "/tmp/kiln-netrender-XXXXXX", cmd[1024], *out = NULL;
        size_t cap = 0;
        const struct kiln_net_file *y = NULL;
        FILE *p;
        int fd;

        for (size_t i = 0; i < fs->n; i++)
                if (!strcmp(fs->v[i].path, "etc/netplan/50-kiln.yaml"))
                        y = &fs->v[i];
        if (!y || (fd = mkstemp(tmp)) < 0)
                return NULL;
        if (write_full(fd, y->content, y->len) < 0) {
                close(fd);
                unlink(tmp);
                return NULL;
        }
        close(fd);
        snprintf(cmd, sizeof(cmd), "python3 - %s <<'EOF'\n%sEOF\n", tmp, script);
        p = popen(cmd, "r");
        if (p) {
                ssize_t n = getline(&out, &cap, p);
                if (pclose(p) != 0 || n <= 0) {
                        free(out);
                        out = NULL;
                } else {
                        out[strcspn(out, "\n")] = 0;
                }
        }
        unlink(tmp);
        return out;
}

static void check_netplan(const char *name, const struct kiln_net_files *fs, const char *want)
{
        if (!have_python_yaml()) {
                tap_skip("%s: netplan YAML read back: python3 with its yaml module is not installed", name);
                return;
        }
        _cleanup_free_ char *got = netplan_json(fs);
        if (!ok(got && (!want || !strcmp(got, want)), "%s: python's yaml reads the netplan file%s", name,
                want ? " as intended" : ""))
                tap_diag("  got  %s\n#   want %s", got ? got : "(does not load)", want ? want : "(any)");
}

static uint8_t *networkd_bin;
static size_t networkd_len;

/* "Section.Key" as a whole string of networkd's table: NUL on both sides. */
static bool networkd_knows(const char *key)
{
        char needle[130];
        int n = snprintf(needle + 1, sizeof(needle) - 1, "%s", key);

        needle[0] = 0;
        return n > 0 && (size_t)n < sizeof(needle) - 2 &&
               memmem(networkd_bin, networkd_len, needle, (size_t)n + 2) != NULL;
}

/* Every "Key=" under "[Section]" of the .network files is a name in
 * networkd's own configuration table ("Section.Key", NUL-terminated). */
static void check_networkd_keys(const char *name, const struct kiln_net_files *fs)
{
        char bad[256] = "";
        size_t keys = 0;

        if (!networkd_bin) {
                tap_skip("%s: keys known to systemd-networkd: /lib/systemd/systemd-networkd is not installed", name);
                return;
        }
        for (size_t i = 0; i < fs->n; i++) {
                const char *c = fs->v[i].content, *sec = NULL;
                size_t seclen = 0;
                size_t pl = strlen(fs->v[i].path);

                if (!c || pl < 8 || strcmp(fs->v[i].path + pl - 8, ".network"))
                        continue;
                for (const char *line = c; *line; line += strcspn(line, "\n") + (line[strcspn(line, "\n")] != 0)) {
                        size_t ll = strcspn(line, "\n"), kl = strcspn(line, "=\n");
                        char needle[128];
                        if (line[0] == '[') {
                                sec = line + 1;
                                seclen = strcspn(sec, "]");
                                continue;
                        }
                        if (line[0] == '#' || !ll || kl >= ll || !sec)
                                continue;
                        snprintf(needle, sizeof(needle), "%.*s.%.*s", (int)seclen, sec, (int)kl, line);
                        keys++;
                        if (!networkd_knows(needle) && !*bad)
                                snprintf(bad, sizeof(bad), "%s", needle);
                }
        }
        if (!ok(keys && !*bad, "%s: the %zu keys of the .network files are known to systemd-networkd", name, keys))
                tap_diag("  unknown: %s", bad);
}

/* What `systemctl --root=DIR enable systemd-networkd.service` makes from
 * the host's units, against the links kiln renders. */
static void check_enable_links(const struct kiln_net_files *fs)
{
        static const char *const units[] = { "systemd-networkd.service", "systemd-networkd.socket",
                                             "systemd-networkd-wait-online.service",
                                             "systemd-network-generator.service" };
        char dir[] = "/tmp/kiln-netrender-root-XXXXXX", cmd[1024], want[2048] = "", *line = NULL;
        size_t cap = 0;
        FILE *p;

        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
                char u[256];
                snprintf(u, sizeof(u), "/lib/systemd/system/%s", units[i]);
                if (access(u, R_OK) < 0) {
                        tap_skip("enable links: systemctl's own: %s is not installed here", u);
                        return;
                }
        }
        if (system("systemctl --version >/dev/null 2>&1") != 0) {
                tap_skip("enable links: systemctl's own: systemctl is not installed");
                return;
        }
        if (!mkdtemp(dir)) {
                ok(false, "enable links: a temporary root");
                return;
        }
        snprintf(cmd, sizeof(cmd),
                 "mkdir -p %1$s/lib/systemd/system %1$s/etc/systemd/system && "
                 "cp /lib/systemd/system/systemd-networkd.service /lib/systemd/system/systemd-networkd.socket "
                 "/lib/systemd/system/systemd-networkd-wait-online.service "
                 "/lib/systemd/system/systemd-network-generator.service %1$s/lib/systemd/system/ && "
                 "systemctl --root=%1$s enable systemd-networkd.service >/dev/null 2>&1 && "
                 "cd %1$s && find etc -type l -printf '%%p -> %%l\\n' | LC_ALL=C sort",
                 dir);
        p = popen(cmd, "r");
        while (p && getline(&line, &cap, p) > 0)
                strncat(want, line, sizeof(want) - strlen(want) - 1);
        int st = p ? pclose(p) : -1;
        free(line);

        char got[2048] = "";
        for (size_t i = 0; i < fs->n; i++)
                if (fs->v[i].symlink) {
                        char l[512];
                        snprintf(l, sizeof(l), "%s -> %s\n", fs->v[i].path, fs->v[i].symlink);
                        strncat(got, l, sizeof(got) - strlen(got) - 1);
                }
        if (!ok(st == 0 && *want && !strcmp(got, want),
                "enable links: the same as `systemctl --root enable systemd-networkd` makes here"))
                tap_diag("  systemctl made:\n%s#   kiln renders:\n%s", want, got);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
                tap_diag("  could not remove %s", dir);
}

/* --- the cases ------------------------------------------------------------- */

/* The key oracle tells keys apart: systemd 252 has no [DHCPv6] UseMTU=,
 * which is why kiln writes none. */
static void test_networkd_oracle(void)
{
        if (!networkd_bin) {
                tap_skip("systemd-networkd's table: /lib/systemd/systemd-networkd is not installed");
                return;
        }
        ok(networkd_knows("Match.Type") && networkd_knows("DHCPv4.UseMTU") && !networkd_knows("DHCPv6.UseMTU") &&
                   !networkd_knows("Match.Bogus") && !networkd_knows("Type"),
           "systemd-networkd's table: Match.Type and DHCPv4.UseMTU known, DHCPv6.UseMTU not");
}

static void test_fallback(void)
{
        struct kiln_net_iface f = iface("eth0");
        struct kiln_netcfg cfg = { .ifaces = &f, .n_ifaces = 1 };
        struct kiln_net_files out[4] = { 0 };

        f.match_mac = S("52:54:00:12:34:56");
        f.ifname_hint = S("eth0");
        f.dhcp4 = true;
        f.primary = true;
        render_case("fallback", &cfg, 0xf, out);
        check_networkd_keys("fallback", &out[0]);
        check_enable_links(&out[0]);
        check_netplan("fallback", &out[2],
                      "{\"eth0\":{\"dhcp4\":true,\"dhcp6\":false,\"match\":{\"macaddress\":\"52:54:00:12:34:56\"}}}");
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

/* Two NICs as EC2 gives them, the secondary listed first: the primary still
 * gets metric 100, IPv6 only on the primary. */
static void test_ec2(void)
{
        struct kiln_net_iface f[2] = { iface("eth1"), iface("eth0") };
        struct kiln_netcfg cfg = { .ifaces = f, .n_ifaces = 2 };
        struct kiln_net_files out[4] = { 0 };

        f[0].match_mac = S("0a:00:00:00:00:02");
        f[0].ifname_hint = S("eth1");
        f[0].dhcp4 = true;
        f[1].match_mac = S("0A:00:00:00:00:01"); /* lowercased in every file */
        f[1].ifname_hint = S("eth0");
        f[1].dhcp4 = true;
        f[1].dhcp6 = true;
        f[1].primary = true;
        render_case("ec2", &cfg, 0xf, out);
        check_networkd_keys("ec2", &out[0]);
        check_netplan("ec2", &out[2],
                      "{\"eth0\":{\"dhcp4\":true,\"dhcp4-overrides\":{\"route-metric\":100},\"dhcp6\":true,"
                      "\"match\":{\"macaddress\":\"0a:00:00:00:00:01\"}},"
                      "\"eth1\":{\"dhcp4\":true,\"dhcp4-overrides\":{\"route-metric\":200},\"dhcp6\":false,"
                      "\"match\":{\"macaddress\":\"0a:00:00:00:00:02\"},\"optional\":true}}");
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

static void test_static(void)
{
        static char *const addrs[] = { S("192.0.2.10/24"), S("192.0.2.11/24"), S("2001:db8::10/64"), NULL };
        static char *const dns[] = { S("192.0.2.53"), S("2001:db8::53"), NULL };
        static char *const search[] = { S("example.com"), S("corp.example.com"), NULL };
        struct kiln_net_route routes[] = {
                { S("10.0.0.0/8"), S("192.0.2.254"), -1 },
                { S("198.51.100.0/24"), NULL, 50 },              /* on-link */
                { S("203.0.113.0/24"), S("198.51.100.1"), -1 },  /* gateway outside every prefix */
                { S("2001:db8:1::/48"), S("2001:db8::1"), 200 },
        };
        struct kiln_net_iface f = iface("eth0");
        struct kiln_netcfg cfg = { .version = 2, .ifaces = &f, .n_ifaces = 1 };
        struct kiln_net_files out[4] = { 0 };

        f.match_mac = S("52:54:00:aa:bb:cc");
        f.ifname_hint = S("eth0");
        f.addresses = (char **)addrs;
        f.gateway4 = S("192.0.2.1");
        f.gateway6 = S("fe80::1");
        f.routes = routes;
        f.n_routes = ARRAY_SIZE(routes);
        f.nameservers = (char **)dns;
        f.search = (char **)search;
        f.mtu = 9001;
        f.accept_ra = 0;
        f.primary = true;
        render_case("static", &cfg, 0xf, out);
        check_networkd_keys("static", &out[0]);
        check_netplan("static", &out[2],
                      "{\"eth0\":{\"accept-ra\":false,"
                      "\"addresses\":[\"192.0.2.10/24\",\"192.0.2.11/24\",\"2001:db8::10/64\"],"
                      "\"dhcp4\":false,\"dhcp6\":false,"
                      "\"match\":{\"macaddress\":\"52:54:00:aa:bb:cc\"},\"mtu\":9001,"
                      "\"nameservers\":{\"addresses\":[\"192.0.2.53\",\"2001:db8::53\"],"
                      "\"search\":[\"example.com\",\"corp.example.com\"]},"
                      "\"routes\":[{\"to\":\"0.0.0.0/0\",\"via\":\"192.0.2.1\"},{\"to\":\"::/0\",\"via\":\"fe80::1\"},"
                      "{\"to\":\"10.0.0.0/8\",\"via\":\"192.0.2.254\"},{\"metric\":50,\"to\":\"198.51.100.0/24\"},"
                      "{\"on-link\":true,\"to\":\"203.0.113.0/24\",\"via\":\"198.51.100.1\"},"
                      "{\"metric\":200,\"to\":\"2001:db8:1::/48\",\"via\":\"2001:db8::1\"}]}}");
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

/* A /32 with its gateway outside, as some providers hand out. */
static void test_onlink(void)
{
        static char *const addrs[] = { S("203.0.113.5/32"), NULL };
        struct kiln_net_iface f = iface("eth0");
        struct kiln_netcfg cfg = { .version = 2, .ifaces = &f, .n_ifaces = 1 };
        struct kiln_net_files out[4] = { 0 };

        f.match_mac = S("52:54:00:00:00:05");
        f.ifname_hint = S("eth0");
        f.addresses = (char **)addrs;
        f.gateway4 = S("203.0.113.1");
        render_case("onlink", &cfg, 0xf, out);
        check_networkd_keys("onlink", &out[0]);
        check_netplan("onlink", &out[2],
                      "{\"eth0\":{\"addresses\":[\"203.0.113.5/32\"],\"dhcp4\":false,\"dhcp6\":false,"
                      "\"match\":{\"macaddress\":\"52:54:00:00:00:05\"},"
                      "\"routes\":[{\"on-link\":true,\"to\":\"0.0.0.0/0\",\"via\":\"203.0.113.1\"}]}}");
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

/* Version 1: interfaces by name, no MAC, no primary; the global name
 * servers go to the interface without its own. */
static void test_v1_name(void)
{
        static char *const gdns[] = { S("10.0.0.2"), NULL };
        static char *const gsearch[] = { S("internal.test"), NULL };
        static char *const addrs[] = { S("10.1.0.5/16"), NULL };
        static char *const dns[] = { S("10.1.0.2"), NULL };
        struct kiln_net_iface f[2] = { iface("ens3"), iface("ens4") };
        struct kiln_netcfg cfg = { .version = 1, .ifaces = f, .n_ifaces = 2 };
        struct kiln_net_files out[4] = { 0 };

        cfg.nameservers = (char **)gdns;
        cfg.search = (char **)gsearch;
        f[0].dhcp4 = true;
        f[1].addresses = (char **)addrs;
        f[1].nameservers = (char **)dns;
        render_case("v1-name", &cfg, 0xf, out);
        check_networkd_keys("v1-name", &out[0]);
        check_netplan("v1-name", &out[2], NULL);
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

static void test_set_name(void)
{
        struct kiln_net_iface f = iface("lan");
        struct kiln_netcfg cfg = { .version = 2, .ifaces = &f, .n_ifaces = 1 };
        struct kiln_net_files out[4] = { 0 };

        f.match_mac = S("52:54:00:00:00:07");
        f.set_name = S("lan0");
        f.ifname_hint = S("eth1");
        f.dhcp4 = true;
        f.optional = true;
        f.primary = true;
        render_case("set-name", &cfg, 0xf, out);
        check_networkd_keys("set-name", &out[0]);
        check_netplan("set-name", &out[2],
                      "{\"lan\":{\"dhcp4\":true,\"dhcp6\":false,\"match\":{\"macaddress\":\"52:54:00:00:00:07\"},"
                      "\"optional\":true,\"set-name\":\"lan0\"}}");
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

/* An id that may not stand in a file name is rendered by its index. */
static void test_unsafe_id(void)
{
        struct kiln_net_iface f[2] = { iface("eth0"), iface("nic 1/../x") };
        struct kiln_netcfg cfg = { .version = 2, .ifaces = f, .n_ifaces = 2 };
        struct kiln_net_files out[4] = { 0 };

        f[0].match_mac = S("52:54:00:00:00:01");
        f[0].ifname_hint = S("eth0");
        f[0].dhcp4 = true;
        f[0].primary = true;
        f[1].match_mac = S("52:54:00:00:00:02");
        f[1].ifname_hint = S("eth1");
        f[1].dhcp4 = true;
        render_case("unsafe-id", &cfg, 0xf, out);
        for (size_t i = 0; i < 4; i++) {
                bool seen = false;
                for (size_t k = 0; k < out[i].n; k++) {
                        ok(!strstr(out[i].v[k].path, "nic") && !strstr(out[i].v[k].path, ".."),
                           "unsafe-id.%s: %s does not carry the id", stacks[i][0], out[i].v[k].path);
                        seen |= strstr(out[i].v[k].path, "if1") != NULL;
                }
                if (i != 1 && i != 2) /* ifupdown and netplan have one file for all */
                        ok(seen, "unsafe-id.%s: the second interface is 'if1'", stacks[i][0]);
        }
        check_netplan("unsafe-id", &out[2], NULL);
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);

        /* "." and ".." and a 65-character id too. */
        struct kiln_net_iface g = iface("..");
        struct kiln_netcfg one = { .ifaces = &g, .n_ifaces = 1 };
        struct kiln_net_files fs = { 0 };
        g.match_mac = S("52:54:00:00:00:03");
        g.dhcp4 = true;
        ok(kiln_net_render(KILN_NET_STACK_NETWORKD, &one, &fs) == 0 && fs.n > 0 &&
                   !strcmp(fs.v[0].path, "etc/systemd/network/10-kiln-if0.network"),
           "'..' is rendered as if0");
        kiln_net_files_free(&fs);
        g.id = S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        ok(kiln_net_render(KILN_NET_STACK_NETWORKD, &one, &fs) == 0 && fs.n > 0 &&
                   !strcmp(fs.v[0].path, "etc/systemd/network/10-kiln-if0.network"),
           "a 65-character id is rendered as if0");
        kiln_net_files_free(&fs);
        g.id = S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        ok(kiln_net_render(KILN_NET_STACK_NETWORKD, &one, &fs) == 0 && fs.n > 0 &&
                   !strncmp(fs.v[0].path, "etc/systemd/network/10-kiln-aaaa", 32),
           "a 64-character id is kept");
        kiln_net_files_free(&fs);
}

/* A name pattern: fine where the stack matches by pattern, refused by
 * ifupdown, which needs one name. */
static void test_match_glob(void)
{
        struct kiln_net_iface f = iface("lan");
        struct kiln_netcfg cfg = { .version = 2, .ifaces = &f, .n_ifaces = 1 };
        struct kiln_net_files out[4] = { 0 }, fs = { 0 };

        f.match_name = S("en*");
        f.dhcp4 = true;
        render_case("match-glob", &cfg, 0xd, out);
        check_networkd_keys("match-glob", &out[0]);
        check_netplan("match-glob", &out[2], "{\"lan\":{\"dhcp4\":true,\"dhcp6\":false,\"match\":{\"name\":\"en*\"}}}");
        is_int(kiln_net_render(KILN_NET_STACK_IFUPDOWN, &cfg, &fs), -EOPNOTSUPP,
               "match-glob.ifupdown: -EOPNOTSUPP");
        ok(strstr(kiln_last_error(), "en*") != NULL, "  the message names the pattern: %s", kiln_last_error());
        f.ifname_hint = S("ens5");
        ok(kiln_net_render(KILN_NET_STACK_IFUPDOWN, &cfg, &fs) == 0 && fs.n == 1 &&
                   strstr(fs.v[0].content, "auto ens5"),
           "match-glob.ifupdown: with the NIC's name known, that name");
        kiln_net_files_free(&fs);
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

/* The branches the cases above leave: an MTU and a gateway beside DHCP
 * only, RAs without DHCPv6, DHCPv6 without RAs, a metric of its own, a
 * driver beside the MAC, a name to match, an interface with nothing to
 * configure. */
static void test_misc(void)
{
        struct kiln_net_iface f[3] = { iface("eth0"), iface("spare"), iface("idle") };
        struct kiln_netcfg cfg = { .version = 2, .ifaces = f, .n_ifaces = 3 };
        struct kiln_net_files out[4] = { 0 };

        f[0].match_mac = S("52:54:00:00:00:10");
        f[0].match_driver = S("virtio_net");
        f[0].ifname_hint = S("eth0");
        f[0].dhcp4 = true;
        f[0].dhcp4_metric = 50;
        f[0].mtu = 1400;
        f[0].gateway4 = S("10.0.2.2");
        f[0].accept_ra = 1;
        f[0].primary = true;
        f[1].match_name = S("ens9");
        f[1].dhcp4 = true;
        f[1].dhcp6 = true;
        f[1].accept_ra = 0;
        f[2].match_mac = S("52:54:00:00:00:12");
        f[2].ifname_hint = S("eth2");
        f[2].optional = true;
        render_case("misc", &cfg, 0xf, out);
        check_networkd_keys("misc", &out[0]);
        check_netplan("misc", &out[2],
                      "{\"eth0\":{\"accept-ra\":true,\"dhcp4\":true,\"dhcp4-overrides\":{\"route-metric\":50},"
                      "\"dhcp6\":false,\"match\":{\"driver\":\"virtio_net\",\"macaddress\":\"52:54:00:00:00:10\"},"
                      "\"mtu\":1400,\"routes\":[{\"to\":\"0.0.0.0/0\",\"via\":\"10.0.2.2\"}]},"
                      "\"idle\":{\"dhcp4\":false,\"dhcp6\":false,\"match\":{\"macaddress\":\"52:54:00:00:00:12\"},"
                      "\"optional\":true},"
                      "\"spare\":{\"accept-ra\":false,\"dhcp4\":true,\"dhcp4-overrides\":{\"route-metric\":200},"
                      "\"dhcp6\":true,\"match\":{\"name\":\"ens9\"},\"optional\":true}}");
        for (size_t i = 0; i < 4; i++)
                kiln_net_files_free(&out[i]);
}

/* Rendered files are kiln's, in the folders network.c sweeps. */
static void test_names_of_rendered(void)
{
        static char *const addrs[] = { S("192.0.2.10/24"), NULL };
        struct kiln_net_iface f[2] = { iface("eth0"), iface("lan") };
        struct kiln_netcfg cfg = { .ifaces = f, .n_ifaces = 2 };
        size_t files = 0, theirs = 0;

        f[0].match_mac = S("52:54:00:00:00:01");
        f[0].dhcp4 = true;
        f[1].match_mac = S("52:54:00:00:00:02");
        f[1].set_name = S("lan0");
        f[1].addresses = (char **)addrs;
        for (size_t i = 0; i < ARRAY_SIZE(stack_ids); i++) {
                struct kiln_net_files fs = { 0 };
                if (kiln_net_render(stack_ids[i], &cfg, &fs) < 0)
                        continue;
                for (size_t k = 0; k < fs.n; k++) {
                        char dir[256];
                        const char *slash = strrchr(fs.v[k].path, '/');
                        bool listed = false;
                        if (fs.v[k].symlink)
                                continue;
                        files++;
                        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - fs.v[k].path), fs.v[k].path);
                        for (size_t d = 0; kiln_net_dirs[d]; d++)
                                listed |= !strcmp(kiln_net_dirs[d], dir);
                        if (!listed || !kiln_net_is_ours(dir, slash + 1)) {
                                theirs++;
                                tap_diag("  not kiln's: %s", fs.v[k].path);
                        }
                }
                kiln_net_files_free(&fs);
        }
        /* networkd 3 (eth0.network, lan.link, lan.network), ifupdown 2,
         * netplan 1, NetworkManager 3 (lan.link and two keyfiles). */
        ok(files == 9 && !theirs, "every rendered file (%zu) is kiln's, in a folder of kiln_net_dirs", files);
}

static void test_is_ours(void)
{
        static const struct {
                const char *dir, *name;
                bool ours;
        } t[] = {
                { "etc/systemd/network", "10-kiln-eth0.network", true },
                { "etc/systemd/network", "10-kiln-if3.link", true },
                { "etc/systemd/network/", "10-kiln-eth0.network", true },
                { "etc/systemd/network", "10-kiln-.network", false },
                { "etc/systemd/network", "10-kiln-eth0.network~", false },
                { "etc/systemd/network", "10-kiln-a b.network", false },
                { "etc/systemd/network", "10-kiln-...network", false },
                { "etc/systemd/network", "10-netplan-eth0.network", false },
                { "etc/systemd/network", "99-default.link", false },
                { "etc/systemd/network", "50-kiln", false },
                { "etc/network/interfaces.d", "50-kiln", true },
                { "etc/network/interfaces.d", "50-kiln.bak", false },
                { "etc/network/interfaces.d", "50-cloud-init", false },
                { "etc/udev/rules.d", "70-kiln-net.rules", true },
                { "etc/udev/rules.d", "70-persistent-net.rules", false },
                { "etc/netplan", "50-kiln.yaml", true },
                { "etc/netplan", "50-cloud-init.yaml", false },
                { "etc/NetworkManager/system-connections", "kiln-eth0.nmconnection", true },
                { "etc/NetworkManager/system-connections", "kiln-.nmconnection", false },
                { "etc/NetworkManager/system-connections", "Wired connection 1.nmconnection", false },
                { "etc/systemd/system/multi-user.target.wants", "systemd-networkd.service", false },
                { "etc/netplan", "kiln-eth0.nmconnection", false },
                { "etc", "50-kiln.yaml", false },
        };
        size_t bad = 0;

        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                if (kiln_net_is_ours(t[i].dir, t[i].name) != t[i].ours) {
                        bad++;
                        tap_diag("  %s/%s: want %s", t[i].dir, t[i].name, t[i].ours ? "ours" : "not ours");
                }
        ok(!bad, "kiln_net_is_ours: %zu names", ARRAY_SIZE(t));
        size_t n = 0;
        while (kiln_net_dirs[n])
                n++;
        is_int(n, 5, "kiln_net_dirs: five folders");
}

static void test_resolv(void)
{
        static char *const gdns[] = { S("1.1.1.1"), S("8.8.8.8"), NULL };
        static char *const gsearch[] = { S("Example.com"), NULL };
        static char *const dns[] = { S("8.8.8.8"), S("9.9.9.9"), S("10.0.0.2"), NULL };
        static char *const search[] = { S("example.com"), S("a.test"), S("b.test"), S("c.test"),
                                        S("d.test"),      S("e.test"), S("f.test"), NULL };
        static char *const extra[] = { S("192.0.2.53"), NULL };
        static char *const extra_search[] = { S("lease.test"), NULL };
        struct kiln_net_iface f = iface("eth0");
        struct kiln_netcfg cfg = { .ifaces = &f, .n_ifaces = 1, .nameservers = (char **)gdns,
                                   .search = (char **)gsearch };
        char *text = NULL;

        f.nameservers = (char **)dns;
        f.search = (char **)search;
        if (!ok(kiln_net_render_resolv(&cfg, (char **)extra, (char **)extra_search, &text) == 0 && text &&
                        !strcmp(text, "# Written by kiln-init from the instance's network configuration.\n"
                                      "nameserver 1.1.1.1\n"
                                      "nameserver 8.8.8.8\n"
                                      "nameserver 9.9.9.9\n"
                                      "search Example.com a.test b.test c.test d.test e.test\n"),
                "resolv.conf: global first, no duplicates (domains without case), 3 servers, 6 domains"))
                tap_diag("  got: %s", text ? text : "(null)");
        free(text);
        text = NULL;

        ok(kiln_net_render_resolv(NULL, (char **)extra, (char **)extra_search, &text) == 0 && text &&
                   !strcmp(text, "# Written by kiln-init from the instance's network configuration.\n"
                                 "nameserver 192.0.2.53\n"
                                 "search lease.test\n"),
           "resolv.conf: a lease's alone");
        free(text);
        text = S("x");

        struct kiln_netcfg nodns = { .search = (char **)gsearch };
        ok(kiln_net_render_resolv(&nodns, NULL, NULL, &text) == 0 && !text, "resolv.conf: none without a server");

        static char *const evil[] = { S("example.com\nnameserver 6.6.6.6"), NULL };
        struct kiln_netcfg bad = { .nameservers = (char **)gdns, .search = (char **)evil };
        is_int(kiln_net_render_resolv(&bad, NULL, NULL, &text), -EBADMSG, "resolv.conf: a domain with a newline");
        static char *const evil2[] = { S("1.1.1.1 # x"), NULL };
        bad = (struct kiln_netcfg){ .nameservers = (char **)evil2 };
        is_int(kiln_net_render_resolv(&bad, NULL, NULL, &text), -EBADMSG, "resolv.conf: a server that is no address");
}

static void test_errors(void)
{
        static char *const bad_addr[] = { S("192.0.2.300/24"), NULL };
        static char *const bad_prefix[] = { S("192.0.2.3/33"), NULL };
        static char *const bad_search[] = { S("a.test\n[Network]"), NULL };
        struct kiln_net_iface f = iface("eth0");
        struct kiln_netcfg cfg = { .ifaces = &f, .n_ifaces = 1 };
        struct kiln_net_files fs = { 0 };

        f.dhcp4 = true;
        is_int(kiln_net_render(KILN_NET_STACK_NONE, &cfg, &fs), -EINVAL, "render for none: -EINVAL");
        cfg.disabled = true;
        ok(kiln_net_render(KILN_NET_STACK_NETWORKD, &cfg, &fs) == 0 && fs.n == 0, "disabled: no files");
        cfg.disabled = false;
        cfg.n_ifaces = 0;
        ok(kiln_net_render(KILN_NET_STACK_NETPLAN, &cfg, &fs) == 0 && fs.n == 0, "empty: no files, no links");
        cfg.n_ifaces = 1;

        f.addresses = (char **)bad_addr;
        is_int(kiln_net_render(KILN_NET_STACK_NETWORKD, &cfg, &fs), -EBADMSG, "an address that is none: -EBADMSG");
        ok(strstr(kiln_last_error(), "192.0.2.300/24") && strstr(kiln_last_error(), "'eth0'"),
           "  the message names it and the interface: %s", kiln_last_error());
        f.addresses = (char **)bad_prefix;
        is_int(kiln_net_render(KILN_NET_STACK_NETWORKD, &cfg, &fs), -EBADMSG, "a prefix over 32: -EBADMSG");
        f.addresses = NULL;
        f.search = (char **)bad_search;
        for (size_t i = 0; i < ARRAY_SIZE(stack_ids); i++)
                is_int(kiln_net_render(stack_ids[i], &cfg, &fs), -EBADMSG, "a domain with a newline, %s: -EBADMSG",
                       stacks[i][1]);
        f.search = NULL;
        f.match_mac = S("52:54:00:00:00:0g");
        is_int(kiln_net_render(KILN_NET_STACK_IFUPDOWN, &cfg, &fs), -EBADMSG, "a MAC that is none: -EBADMSG");
        f.match_mac = NULL;
        f.set_name = S("lan0\"x");
        is_int(kiln_net_render(KILN_NET_STACK_NETPLAN, &cfg, &fs), -EBADMSG, "a set-name with a quote: -EBADMSG");
        f.set_name = S("lan0");
        is_int(kiln_net_render(KILN_NET_STACK_NETWORKD, &cfg, &fs), -EOPNOTSUPP,
               "set-name with nothing to match: -EOPNOTSUPP");
        is_int(kiln_net_render(KILN_NET_STACK_IFUPDOWN, &cfg, &fs), -EOPNOTSUPP,
               "ifupdown: set-name without a MAC: -EOPNOTSUPP");
        f.set_name = NULL;

        struct kiln_net_route r = { S("10.0.0.0/8"), S("2001:db8::1"), -1 };
        f.routes = &r;
        f.n_routes = 1;
        is_int(kiln_net_render(KILN_NET_STACK_NETWORKD, &cfg, &fs), -EBADMSG, "a route via another family: -EBADMSG");
        r = (struct kiln_net_route){ S("default"), NULL, -1 };
        is_int(kiln_net_render(KILN_NET_STACK_NETWORKD, &cfg, &fs), -EBADMSG, "a default route without a gateway");
        r = (struct kiln_net_route){ S("default"), S("192.0.2.1"), 7 };
        ok(kiln_net_render(KILN_NET_STACK_NETWORKD, &cfg, &fs) == 0 && fs.n &&
                   strstr(fs.v[0].content, "[Route]\nDestination=0.0.0.0/0\nGateway=192.0.2.1\n"),
           "'default' is 0.0.0.0/0");
        kiln_net_files_free(&fs);
        f.routes = NULL;
        f.n_routes = 0;

        struct kiln_net_iface two[2] = { iface("if1"), iface("bad id") };
        struct kiln_netcfg dup = { .ifaces = two, .n_ifaces = 2 };
        two[0].match_mac = S("52:54:00:00:00:01");
        two[1].match_mac = S("52:54:00:00:00:02");
        is_int(kiln_net_render(KILN_NET_STACK_NETWORKD, &dup, &fs), -EBADMSG,
               "an id and an index that meet ('if1' twice): -EBADMSG");

        /* No MAC and an id that is no name: nothing to match by. */
        struct kiln_net_iface g = iface("bad id");
        struct kiln_netcfg one = { .ifaces = &g, .n_ifaces = 1 };
        g.dhcp4 = true;
        for (size_t i = 0; i < ARRAY_SIZE(stack_ids); i++)
                is_int(kiln_net_render(stack_ids[i], &one, &fs), -EOPNOTSUPP,
                       "no MAC and no usable name, %s: -EOPNOTSUPP", stacks[i][1]);
}

/* The connection UUID: name-based (SHA-1) in kiln's namespace, stable,
 * different for another MAC. */
static void test_nm_uuid(void)
{
        struct kiln_net_iface f = iface("eth0");
        struct kiln_netcfg cfg = { .ifaces = &f, .n_ifaces = 1 };
        struct kiln_net_files a = { 0 }, b = { 0 };
        char ua[37] = "", ub[37] = "";

        f.match_mac = S("52:54:00:12:34:56");
        f.dhcp4 = true;
        if (kiln_net_render(KILN_NET_STACK_NETWORKMANAGER, &cfg, &a) == 0 && a.n == 1)
                sscanf(strstr(a.v[0].content, "uuid=") + 5, "%36s", ua);
        f.match_mac = S("52:54:00:12:34:57");
        if (kiln_net_render(KILN_NET_STACK_NETWORKMANAGER, &cfg, &b) == 0 && b.n == 1)
                sscanf(strstr(b.v[0].content, "uuid=") + 5, "%36s", ub);
        ok(strlen(ua) == 36 && ua[14] == '5' && strchr("89ab", ua[19]) && strcmp(ua, ub),
           "NetworkManager uuid: version 5, RFC 4122 variant, another for another MAC (%s, %s)", ua, ub);
        kiln_net_files_free(&a);
        kiln_net_files_free(&b);

        if (system("python3 -c 'import uuid' >/dev/null 2>&1") != 0) {
                tap_skip("NetworkManager uuid against python's uuid5: python3 is not installed");
                return;
        }
        char want[64] = "";
        FILE *p = popen("python3 -c 'import uuid; "
                        "ns = uuid.UUID(\"5ef37a54-d728-42a4-a22b-4c6a7ba59537\"); "
                        "print(uuid.uuid5(ns, \"eth0/52:54:00:12:34:56\"))'",
                        "r");
        if (p) {
                if (!fgets(want, sizeof(want), p))
                        want[0] = 0;
                pclose(p);
        }
        want[strcspn(want, "\n")] = 0;
        ok(!strcmp(ua, want), "NetworkManager uuid: python's uuid5 of \"ID/MAC\" agrees (%s)", want);
}

/* --- the chooser over a fake root ------------------------------------------------ */

struct entry {
        const char *path;
        const char *content; /* a file */
        const char *target;  /* or a symlink */
};

static const struct entry *lookup(void *ud, const char *path)
{
        for (const struct entry *e = ud; e->path; e++)
                if (!strcmp(e->path, path))
                        return e;
        return NULL;
}

static bool fake_exists(void *ud, const char *path)
{
        return lookup(ud, path) != NULL;
}

static int fake_read(void *ud, const char *path, char **ret, size_t *ret_len)
{
        const struct entry *e = lookup(ud, path);

        if (!e)
                return -ENOENT;
        if (!e->content)
                return -EINVAL;
        if (!(*ret = strdup(e->content)))
                return -ENOMEM;
        *ret_len = strlen(e->content);
        return 0;
}

static int fake_readlink(void *ud, const char *path, char **ret)
{
        const struct entry *e = lookup(ud, path);

        if (!e)
                return -ENOENT;
        if (!e->target)
                return -EINVAL;
        return (*ret = strdup(e->target)) ? 0 : -ENOMEM;
}

#define F(p, c) { p, c, NULL }
#define L(p, t) { p, NULL, t }
#define X(p) { p, "", NULL }
#define END { NULL, NULL, NULL }

static void test_stack_pick(void)
{
#define ENI(text) F("etc/network/interfaces", text)
        static const struct entry netplan[] = { X("usr/sbin/netplan"), X("sbin/ifup"),
                                                ENI("source-directory /etc/network/interfaces.d\n"), END };
        static const struct entry eni_glob[] = {
                X("sbin/ifup"), ENI("auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n"),
                X("lib/systemd/systemd-networkd"), L("sbin/init", "/lib/systemd/systemd"), END
        };
        static const struct entry eni_dir[] = { X("usr/sbin/ifup"),
                                                ENI("  source-directory /etc/network/interfaces.d/\n"), END };
        static const struct entry eni_reldir[] = { X("sbin/ifup"), ENI("source-directory interfaces.d\n"), END };
        static const struct entry eni_relglob[] = { X("sbin/ifup"), ENI("\tsource interfaces.d/[0-9]*\n"), END };
        static const struct entry eni_cfg[] = { X("sbin/ifup"), ENI("source /etc/network/interfaces.d/*.cfg\n"),
                                                X("lib/systemd/systemd-networkd"),
                                                L("sbin/init", "/lib/systemd/systemd"), END };
        static const struct entry eni_comment[] = { X("sbin/ifup"),
                                                    ENI("# source-directory /etc/network/interfaces.d\n"
                                                        "sources /etc/network/interfaces.d/*\n"),
                                                    END };
        static const struct entry eni_other[] = { X("sbin/ifup"),
                                                  ENI("source /etc/network/other.d/*\n"
                                                      "source-directory /etc/network/if-up.d\n"),
                                                  END };
        static const struct entry eni_noifup[] = { ENI("source /etc/network/interfaces.d/*\n"), END };
#undef ENI
        static const struct entry nm[] = { X("usr/sbin/NetworkManager"),
                                           L("etc/systemd/system/multi-user.target.wants/NetworkManager.service",
                                             "/lib/systemd/system/NetworkManager.service"),
                                           X("lib/systemd/systemd-networkd"), L("sbin/init", "/lib/systemd/systemd"),
                                           END };
        static const struct entry nm_off[] = { X("usr/sbin/NetworkManager"), X("lib/systemd/systemd-networkd"),
                                               L("sbin/init", "/lib/systemd/systemd"), END };
        static const struct entry nd_usr[] = { X("usr/lib/systemd/systemd-networkd"),
                                               L("usr/sbin/init", "../lib/systemd/systemd"), END };
        static const struct entry nd_noinit[] = { X("lib/systemd/systemd-networkd"), X("lib/systemd/systemd"), END };
        static const struct entry sysv[] = { X("lib/systemd/systemd-networkd"), X("lib/systemd/systemd"),
                                             X("sbin/init"), END };
        static const struct entry busybox[] = { X("lib/systemd/systemd-networkd"), L("sbin/init", "/bin/busybox"),
                                                END };
        static const struct entry nothing[] = { X("bin/sh"), END };
        static const struct {
                const char *what;
                const struct entry *root;
                enum kiln_net_stack want;
                const char *reason; /* a part of it */
        } t[] = {
                { "netplan first", netplan, KILN_NET_STACK_NETPLAN, "netplan is installed (usr/sbin/netplan)" },
                { "ifupdown, source /etc/network/interfaces.d/*", eni_glob, KILN_NET_STACK_IFUPDOWN,
                  "ifupdown is installed (sbin/ifup)" },
                { "ifupdown, source-directory with a slash", eni_dir, KILN_NET_STACK_IFUPDOWN, "usr/sbin/ifup" },
                { "ifupdown, source-directory interfaces.d", eni_reldir, KILN_NET_STACK_IFUPDOWN, "sources" },
                { "ifupdown, source interfaces.d/[0-9]*", eni_relglob, KILN_NET_STACK_IFUPDOWN, "sources" },
                { "ifupdown, *.cfg does not read 50-kiln", eni_cfg, KILN_NET_STACK_NETWORKD,
                  "the init is systemd and systemd-networkd is installed (lib/systemd/systemd-networkd)" },
                { "ifupdown, a comment and a typo source nothing", eni_comment, KILN_NET_STACK_NONE,
                  "does not source" },
                { "ifupdown, other folders", eni_other, KILN_NET_STACK_NONE, "does not source" },
                { "interfaces without ifup", eni_noifup, KILN_NET_STACK_NONE, "no ifupdown" },
                { "NetworkManager enabled", nm, KILN_NET_STACK_NETWORKMANAGER,
                  "NetworkManager is installed (usr/sbin/NetworkManager) and enabled" },
                { "NetworkManager not enabled", nm_off, KILN_NET_STACK_NETWORKD, "systemd-networkd" },
                { "networkd, usr/sbin/init -> ../lib/systemd/systemd", nd_usr, KILN_NET_STACK_NETWORKD,
                  "usr/lib/systemd/systemd-networkd" },
                { "networkd, systemd without sbin/init", nd_noinit, KILN_NET_STACK_NETWORKD, "systemd-networkd" },
                { "networkd, sysvinit's sbin/init", sysv, KILN_NET_STACK_NONE,
                  "systemd-networkd without systemd as the init" },
                { "networkd, busybox init", busybox, KILN_NET_STACK_NONE, "without systemd as the init" },
                { "nothing", nothing, KILN_NET_STACK_NONE,
                  "no netplan; no ifupdown; no NetworkManager; no systemd-networkd" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                struct kiln_net_probe p = { fake_exists, fake_read, fake_readlink, (void *)t[i].root };
                char reason[256] = "";
                enum kiln_net_stack s = kiln_net_stack_pick(&p, reason, sizeof(reason));
                if (!ok(s == t[i].want && strstr(reason, t[i].reason), "stack_pick: %s: %s", t[i].what,
                        kiln_net_stack_to_string(t[i].want)))
                        tap_diag("  got %s (%s)", kiln_net_stack_to_string(s), reason);
        }

        struct kiln_net_probe p = { fake_exists, fake_read, fake_readlink, (void *)netplan };
        ok(kiln_net_stack_pick(&p, NULL, 0) == KILN_NET_STACK_NETPLAN, "stack_pick: no room for a reason");
        p = (struct kiln_net_probe){ fake_exists, fake_read, NULL, (void *)sysv };
        ok(kiln_net_stack_pick(&p, NULL, 0) == KILN_NET_STACK_NETWORKD,
           "stack_pick: without readlink, an installed systemd is the init");
        ok(!strcmp(kiln_net_stack_to_string(KILN_NET_STACK_NETWORKMANAGER), "NetworkManager") &&
                   !strcmp(kiln_net_stack_to_string(KILN_NET_STACK_NONE), "none") &&
                   !strcmp(kiln_net_stack_to_string((enum kiln_net_stack)42), "unknown"),
           "stack names");
}

static void test_resolv_is_ours(void)
{
        static const struct entry plain[] = { F("etc/resolv.conf", "nameserver 10.0.2.3\n"), END };
        static const struct entry link[] = { L("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf"), END };
        static const struct entry resolved[] = { X("usr/lib/systemd/systemd-resolved"), END };
        static const struct entry resolved_lib[] = { X("lib/systemd/systemd-resolved"), END };
        static const struct entry resolvconf[] = { X("sbin/resolvconf"), END };
        static const struct entry dhclient[] = { X("sbin/dhclient"), X("sbin/dhclient-script"), END };
        static const struct entry dhclient_usr[] = { X("usr/sbin/dhclient"), X("usr/sbin/dhclient-script"), END };
        static const struct entry dhclient_alone[] = { X("sbin/dhclient"), END };
        static const struct entry dhcpcd[] = { X("usr/sbin/dhcpcd"), END };
        static const struct {
                const char *what;
                enum kiln_net_stack s;
                const struct entry *root;
                bool want;
        } t[] = {
                { "networkd, nothing else", KILN_NET_STACK_NETWORKD, plain, true },
                { "resolv.conf a symlink", KILN_NET_STACK_NETWORKD, link, false },
                { "systemd-resolved", KILN_NET_STACK_NETWORKD, resolved, false },
                { "systemd-resolved in lib", KILN_NET_STACK_NETPLAN, resolved_lib, false },
                { "resolvconf", KILN_NET_STACK_IFUPDOWN, resolvconf, false },
                { "NetworkManager", KILN_NET_STACK_NETWORKMANAGER, plain, false },
                { "ifupdown with dhclient and its script", KILN_NET_STACK_IFUPDOWN, dhclient, false },
                { "ifupdown with dhclient in usr/sbin", KILN_NET_STACK_IFUPDOWN, dhclient_usr, false },
                { "ifupdown with dhclient but no script", KILN_NET_STACK_IFUPDOWN, dhclient_alone, true },
                { "ifupdown with dhcpcd", KILN_NET_STACK_IFUPDOWN, dhcpcd, false },
                { "networkd with dhcpcd installed", KILN_NET_STACK_NETWORKD, dhcpcd, true },
                { "ifupdown, no DHCP client", KILN_NET_STACK_IFUPDOWN, plain, true },
                { "no stack", KILN_NET_STACK_NONE, plain, true },
        };

        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                struct kiln_net_probe p = { fake_exists, fake_read, fake_readlink, (void *)t[i].root };
                ok(kiln_net_resolv_is_ours(t[i].s, &p) == t[i].want, "resolv_is_ours: %s: %s", t[i].what,
                   t[i].want ? "kiln writes it" : "not kiln's");
        }
}

int main(void)
{
        tap_plan_lazy();
        if (read_full_file("/lib/systemd/systemd-networkd", 64u << 20, &networkd_bin, &networkd_len) < 0)
                networkd_bin = NULL;

        test_networkd_oracle();
        test_fallback();
        test_ec2();
        test_static();
        test_onlink();
        test_v1_name();
        test_set_name();
        test_unsafe_id();
        test_match_glob();
        test_misc();
        test_names_of_rendered();
        test_is_ours();
        test_resolv();
        test_errors();
        test_nm_uuid();
        test_stack_pick();
        test_resolv_is_ours();

        free(networkd_bin);
        return tap_done();
}
