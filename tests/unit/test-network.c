/* SPDX-License-Identifier: MIT */
/*
 * The network module (network.h) on roots in a temporary folder: the
 * configurations kiln makes itself (EC2's NICs, the fallback), names bound
 * from the NICs present, and kiln_apply_network() choosing the root's stack,
 * writing its files and links, removing kiln's stale files and no others,
 * and writing etc/resolv.conf only when nothing in the image manages it.
 * The renderers' output itself is checked byte for byte by test-netrender.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "network.h"
#include "util.h"

/* The structs hold char *, as the parsers fill them; here literals do. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

static char base[] = "/tmp/kiln-test-network-XXXXXX";

static void mkdirs(const char *path)
{
        char tmp[4096];

        snprintf(tmp, sizeof(tmp), "%s", path);
        for (char *p = tmp + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        mkdir(tmp, 0755);
                        *p = '/';
                }
        mkdir(tmp, 0755);
}

static void put(const char *root, const char *rel, const char *text)
{
        char p[4096], dir[4096];

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        snprintf(dir, sizeof(dir), "%s", p);
        *strrchr(dir, '/') = 0;
        mkdirs(dir);
        FILE *f = fopen(p, "w");
        if (f) {
                fputs(text, f);
                fclose(f);
        }
        chmod(p, 0755);
}

static void link_in(const char *root, const char *rel, const char *target)
{
        char p[4096], dir[4096];

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        snprintf(dir, sizeof(dir), "%s", p);
        *strrchr(dir, '/') = 0;
        mkdirs(dir);
        symlink(target, p);
}

static char *slurp(const char *root, const char *rel)
{
        char p[4096];
        uint8_t *buf = NULL;
        size_t len;

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        return read_full_file(p, 1 << 20, &buf, &len) < 0 ? NULL : (char *)buf;
}

static bool exists(const char *root, const char *rel)
{
        char p[4096];
        struct stat st;

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        return lstat(p, &st) == 0;
}

static void is_str(const char *got, const char *want, const char *what)
{
        if (!tap_ok(got && !strcmp(got, want), "%s", what))
                tap_diag("  got '%s', expected '%s'", got ? got : "(null)", want);
}

static char logbuf[8192];

static void logger(void *ud, const char *fmt, ...)
{
        va_list ap;
        size_t n = strlen(logbuf);

        (void)ud;
        va_start(ap, fmt);
        vsnprintf(logbuf + n, sizeof(logbuf) - n, fmt, ap);
        va_end(ap);
        n = strlen(logbuf);
        if (n + 1 < sizeof(logbuf))
                strcat(logbuf, "\n");
}

static char *make_root(const char *name)
{
        static char roots[8][4096];
        static int i;
        char *r = roots[i++ % 8];

        snprintf(r, 4096, "%s/%s", base, name);
        mkdirs(r);
        return r;
}

static int apply(const char *root, const struct kiln_netcfg *cfg, char *const *dns, const char *domain,
                 enum kiln_net_stack *stack)
{
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct kiln_apply_ctx ctx = { .rootfd = fd, .root_name = root, .log = logger };

        logbuf[0] = 0;
        kiln_clear_error();
        int r = kiln_apply_network(&ctx, cfg, dns, domain, stack);
        close(fd);
        return r;
}

static void test_ec2(void)
{
        char *v4a[] = { "172.31.5.6", NULL }, *v4b[] = { "172.31.40.7", NULL }, *v6[] = { "2600:1f18::5", NULL };
        struct kiln_instance_nic nics[] = {
                { .mac = "0a:00:00:00:00:01", .device_number = 0, .local_ipv4s = v4a },
                { .mac = "0a:00:00:00:00:02", .device_number = 1, .local_ipv4s = v4b, .ipv6s = v6 },
        };
        struct kiln_instance in = { .nics = nics, .n_nics = 2 };
        struct kiln_netcfg cfg;

        is_int(kiln_netcfg_from_ec2(&in, &cfg), 0, "ec2: two NICs");
        is_int((int)cfg.n_ifaces, 2, "ec2: two interfaces");
        if (cfg.n_ifaces == 2) {
                const struct kiln_net_iface *a = &cfg.ifaces[0], *b = &cfg.ifaces[1];
                tap_ok(!strcmp(a->id, "eth0") && !strcmp(a->match_mac, "0a:00:00:00:00:01") && a->dhcp4 &&
                       a->dhcp4_metric == 100 && !a->dhcp6 && a->primary, "ec2: device 0: eth0, metric 100, primary");
                tap_ok(!strcmp(b->id, "eth1") && b->dhcp4 && b->dhcp4_metric == 200 && b->dhcp6 &&
                       b->dhcp6_metric == 200 && !b->primary, "ec2: device 1: eth1, metric 200, IPv6 by DHCPv6");
        }
        kiln_netcfg_free(&cfg);

        /* No device 0 (detached): the first listed is the primary. */
        nics[0].device_number = 2;
        is_int(kiln_netcfg_from_ec2(&in, &cfg), 0, "ec2: no device 0");
        tap_ok(cfg.n_ifaces == 2 && cfg.ifaces[0].primary && !cfg.ifaces[1].primary &&
               cfg.ifaces[0].dhcp4_metric == 300, "ec2: the first NIC is the primary, metric by its device");
        kiln_netcfg_free(&cfg);
}

static void test_fallback_bind(void)
{
        struct kiln_netif nics[] = { { .ifname = "ens5", .ifindex = 2, .mac = "0a:00:00:00:00:09", .has_device = true },
                                   { .ifname = "eth7", .ifindex = 3, .mac = "0a:00:00:00:00:01", .has_device = true } };
        struct kiln_netcfg cfg;

        is_int(kiln_netcfg_fallback(&nics[0], &cfg), 0, "fallback");
        tap_ok(cfg.n_ifaces == 1 && !strcmp(cfg.ifaces[0].id, "ens5") &&
               !strcmp(cfg.ifaces[0].match_mac, "0a:00:00:00:00:09") && cfg.ifaces[0].dhcp4 &&
               !cfg.ifaces[0].dhcp6 && cfg.ifaces[0].primary, "fallback: DHCPv4 on the first NIC, by its MAC");
        kiln_netcfg_free(&cfg);

        char *v4[] = { NULL };
        struct kiln_instance_nic inics[] = { { .mac = "0a:00:00:00:00:01", .device_number = 0, .local_ipv4s = v4 },
                                            { .mac = "0a:00:00:00:00:05", .device_number = 1 } };
        struct kiln_instance in = { .nics = inics, .n_nics = 2 };
        kiln_netcfg_from_ec2(&in, &cfg);
        is_int(kiln_netcfg_bind(&cfg, nics, 2), 0, "bind");
        tap_ok(cfg.ifaces[0].ifname_hint && !strcmp(cfg.ifaces[0].ifname_hint, "eth7") && !cfg.ifaces[1].ifname_hint,
               "bind: the NIC with that MAC names it; a MAC not present gets no name");
        kiln_netcfg_free(&cfg);
}

static void test_apply_networkd(void)
{
        char *root = make_root("networkd");
        struct kiln_netif nic = { .ifname = "eth0", .mac = "0a:00:00:00:00:01" };
        struct kiln_netcfg cfg;
        enum kiln_net_stack stack = KILN_NET_STACK_NONE;
        char *dns[] = { "169.254.0.3", NULL };

        put(root, "usr/lib/systemd/systemd", "");
        put(root, "usr/lib/systemd/systemd-networkd", "");
        link_in(root, "sbin", "usr/sbin");
        link_in(root, "usr/sbin/init", "/lib/systemd/systemd");
        link_in(root, "lib", "usr/lib");
        put(root, "etc/systemd/network/80-own.network", "[Match]\nName=e*\n");
        put(root, "etc/systemd/network/10-kiln-old.network", "[Match]\nName=old\n");
        put(root, "etc/resolv.conf", "nameserver 10.255.255.53\n");

        kiln_netcfg_fallback(&nic, &cfg);
        is_int(apply(root, &cfg, dns, "ec2.internal", &stack), 0, "networkd: applied");
        is_str(kiln_net_stack_to_string(stack), "systemd-networkd", "networkd: the stack");
        char *text = slurp(root, "etc/systemd/network/10-kiln-eth0.network");
        tap_ok(text && strstr(text, "MACAddress=0a:00:00:00:00:01") && strstr(text, "DHCP=ipv4"),
               "networkd: 10-kiln-eth0.network matches the MAC, DHCPv4");
        free(text);
        char target[256] = "";
        char p[4096];
        snprintf(p, sizeof(p), "%s/etc/systemd/system/multi-user.target.wants/systemd-networkd.service", root);
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = 0;
        is_str(target, "/lib/systemd/system/systemd-networkd.service", "networkd: enabled");
        tap_ok(!exists(root, "etc/systemd/network/10-kiln-old.network"), "networkd: kiln's stale file removed");
        tap_ok(exists(root, "etc/systemd/network/80-own.network"), "networkd: the image's own file kept");
        text = slurp(root, "etc/resolv.conf");
        tap_ok(text && strstr(text, "nameserver 169.254.0.3\n") && strstr(text, "search ec2.internal\n") &&
               !strstr(text, "10.255.255.53"), "networkd without resolved: resolv.conf from the lease");
        free(text);
        tap_ok(strstr(logbuf, "network: removed /etc/systemd/network/10-kiln-old.network") != NULL,
               "networkd: the removal logged");

        /* Again: the same files, nothing removed, links left as they are. */
        is_int(apply(root, &cfg, dns, NULL, &stack), 0, "networkd: applied again");
        tap_ok(!strstr(logbuf, "removed"), "networkd: nothing removed the second time");
        kiln_netcfg_free(&cfg);

        /* With systemd-resolved, resolv.conf is not kiln's. */
        put(root, "usr/lib/systemd/systemd-resolved", "");
        put(root, "etc/resolv.conf", "nameserver 127.0.0.53\n");
        kiln_netcfg_fallback(&nic, &cfg);
        apply(root, &cfg, dns, NULL, &stack);
        text = slurp(root, "etc/resolv.conf");
        is_str(text, "nameserver 127.0.0.53\n", "networkd with resolved: resolv.conf left alone");
        free(text);
        kiln_netcfg_free(&cfg);
}

static void test_apply_ifupdown_none(void)
{
        char *root = make_root("ifupdown");
        struct kiln_netif nic = { .ifname = "ens3", .mac = "0a:00:00:00:00:02" };
        struct kiln_netcfg cfg;
        enum kiln_net_stack stack;

        put(root, "usr/sbin/ifup", "");
        put(root, "usr/sbin/dhclient", "");
        put(root, "usr/sbin/dhclient-script", "");
        link_in(root, "sbin", "usr/sbin");
        put(root, "etc/network/interfaces", "source /etc/network/interfaces.d/*\n");
        put(root, "etc/resolv.conf", "nameserver 10.255.255.53\n");
        kiln_netcfg_fallback(&nic, &cfg);
        kiln_netcfg_bind(&cfg, &nic, 1);
        is_int(apply(root, &cfg, NULL, NULL, &stack), 0, "ifupdown: applied");
        is_str(kiln_net_stack_to_string(stack), "ifupdown", "ifupdown: the stack");
        char *text = slurp(root, "etc/network/interfaces.d/50-kiln");
        tap_ok(text && strstr(text, "iface ens3 inet dhcp"), "ifupdown: 50-kiln, the NIC's name now");
        free(text);
        text = slurp(root, "etc/udev/rules.d/70-kiln-net.rules");
        tap_ok(text && strstr(text, "ATTR{address}==\"0a:00:00:00:00:02\", NAME=\"ens3\""),
               "ifupdown: the name pinned to the MAC");
        free(text);
        text = slurp(root, "etc/resolv.conf");
        is_str(text, "nameserver 10.255.255.53\n", "ifupdown with dhclient: resolv.conf is dhclient's");
        free(text);

        char *bare = make_root("bare");
        put(bare, "etc/hostname", "x\n");
        is_int(apply(bare, &cfg, NULL, NULL, &stack), 0, "no stack: not an error here");
        tap_ok(stack == KILN_NET_STACK_NONE && !exists(bare, "etc/systemd") && !exists(bare, "etc/network"),
               "no stack: nothing written");
        kiln_netcfg_free(&cfg);
}

static void test_symlink_out(void)
{
        /* A folder the image points outside the root: written inside it. */
        char *root = make_root("escape");
        char *outside = make_root("outside");
        struct kiln_netif nic = { .ifname = "eth0", .mac = "0a:00:00:00:00:03" };
        struct kiln_netcfg cfg;
        enum kiln_net_stack stack;
        char target[4200];

        put(root, "usr/lib/systemd/systemd", "");
        put(root, "usr/lib/systemd/systemd-networkd", "");
        link_in(root, "sbin", "usr/sbin");
        link_in(root, "usr/sbin/init", "/lib/systemd/systemd");
        link_in(root, "lib", "usr/lib");
        mkdirs(outside);
        snprintf(target, sizeof(target), "%s", outside);
        mkdirs(target);
        char p[4096];
        snprintf(p, sizeof(p), "%s/etc/systemd", root);
        mkdirs(p);
        snprintf(p, sizeof(p), "%s/etc/systemd/network", root);
        symlink(outside, p);
        kiln_netcfg_fallback(&nic, &cfg);
        apply(root, &cfg, NULL, NULL, &stack);
        snprintf(p, sizeof(p), "%s/10-kiln-eth0.network", outside);
        tap_ok(access(p, F_OK) != 0, "a symlink out of the root is not followed out");
        kiln_netcfg_free(&cfg);
}

int main(void)
{
        if (!mkdtemp(base)) {
                tap_diag("mkdtemp: %s", strerror(errno));
                return 1;
        }
        test_ec2();
        test_fallback_bind();
        test_apply_networkd();
        test_apply_ifupdown_none();
        test_symlink_out();
        char cmd[200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        if (system(cmd) != 0)
                tap_diag("cannot remove %s", base);
        return tap_done();
}
