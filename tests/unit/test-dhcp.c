/* SPDX-License-Identifier: MIT */
/*
 * DHCPv4 packets: DISCOVER and REQUEST byte layouts, and replies shaped like
 * QEMU slirp's and EC2's (OFFER, ACK, NAK), option overload into file and
 * sname, split options (RFC 3396), replies for someone else, and malformed
 * ones, each with its message.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tap.h"
#include "dhcp.h"
#include "util.h"

static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t other_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
#define XID 0x3903f326u

static uint32_t a(const char *s)
{
        struct in_addr in;

        inet_pton(AF_INET, s, &in);
        return in.s_addr;
}

/* A reply: header, magic cookie, then opts at 240; returns its length. */
static size_t reply(uint8_t *p, uint8_t op, uint32_t xid, const uint8_t *hw, const char *yiaddr,
                    const char *siaddr, const uint8_t *opts, size_t optlen)
{
        uint32_t yi = a(yiaddr), si = a(siaddr);

        memset(p, 0, 1600);
        p[0] = op;
        p[1] = 1;
        p[2] = 6;
        p[4] = (uint8_t)(xid >> 24);
        p[5] = (uint8_t)(xid >> 16);
        p[6] = (uint8_t)(xid >> 8);
        p[7] = (uint8_t)xid;
        p[10] = 0x80;
        memcpy(p + 16, &yi, 4);
        memcpy(p + 20, &si, 4);
        memcpy(p + 28, hw, 6);
        p[236] = 99;
        p[237] = 130;
        p[238] = 83;
        p[239] = 99;
        memcpy(p + 240, opts, optlen);
        return MAX((size_t)300, 240 + optlen);
}

#define REPLY(buf, op, xid, hw, yi, si, ...)                                                      \
        ({                                                                                        \
                static const uint8_t _o[] = { __VA_ARGS__ };                                      \
                reply(buf, op, xid, hw, yi, si, _o, sizeof(_o));                                  \
        })

/* Find option code in a built request's options; NULL if absent. */
static const uint8_t *find_opt(const uint8_t *p, size_t len, uint8_t code)
{
        for (size_t i = 240; i + 1 < len && p[i] != 255;) {
                if (p[i] == 0) {
                        i++;
                        continue;
                }
                if (p[i] == code)
                        return p + i;
                i += 2 + p[i + 1];
        }
        return NULL;
}

static void test_build(void)
{
        uint8_t p[600];
        const uint8_t *o;
        int n;

        n = kiln_dhcp_build(KILN_DHCP_DISCOVER, XID, mac, a("10.0.2.15"), a("10.0.2.2"), 3, p, sizeof(p));
        is_int(n, 300, "discover is padded to 300 bytes");
        ok(p[0] == 1 && p[1] == 1 && p[2] == 6 && p[3] == 0, "discover: BOOTREQUEST, ethernet, hlen 6, hops 0");
        ok(p[4] == 0x39 && p[5] == 0x03 && p[6] == 0xf3 && p[7] == 0x26, "discover: xid big-endian");
        ok(p[8] == 0 && p[9] == 3, "discover: secs");
        ok(p[10] == 0x80 && p[11] == 0, "discover: broadcast flag");
        ok(!memcmp(p + 28, mac, 6), "discover: chaddr");
        ok(p[236] == 99 && p[237] == 130 && p[238] == 83 && p[239] == 99, "discover: magic cookie");
        o = find_opt(p, (size_t)n, 53);
        ok(o && o[1] == 1 && o[2] == 1, "discover: option 53 = DISCOVER");
        o = find_opt(p, (size_t)n, 61);
        ok(o && o[1] == 7 && o[2] == 1 && !memcmp(o + 3, mac, 6), "discover: client id is type 1 + MAC");
        o = find_opt(p, (size_t)n, 55);
        ok(o && o[1] == 7 && !memcmp(o + 2, "\x01\x03\x06\x0c\x0f\x1a\x33", 7),
           "discover: parameter request list mask, router, dns, hostname, domain, mtu, lease");
        ok(!find_opt(p, (size_t)n, 50) && !find_opt(p, (size_t)n, 54), "discover: no requested ip, no server id");

        n = kiln_dhcp_build(KILN_DHCP_REQUEST, XID, mac, a("10.0.2.15"), a("10.0.2.2"), 0, p, sizeof(p));
        is_int(n, 300, "request length");
        o = find_opt(p, (size_t)n, 53);
        ok(o && o[2] == 3, "request: option 53 = REQUEST");
        o = find_opt(p, (size_t)n, 50);
        ok(o && o[1] == 4 && !memcmp(o + 2, "\x0a\x00\x02\x0f", 4), "request: requested ip 10.0.2.15");
        o = find_opt(p, (size_t)n, 54);
        ok(o && o[1] == 4 && !memcmp(o + 2, "\x0a\x00\x02\x02", 4), "request: server id 10.0.2.2");
        ok(!memcmp(p + 12, "\0\0\0\0", 4), "request: ciaddr stays 0 (SELECTING)");

        /* Our own broadcast, looped back, is not a reply. */
        struct kiln_dhcp_lease l;
        is_int(kiln_dhcp_parse(p, (size_t)n, XID, mac, &l), -ENOMSG, "our own request is not a reply");

        is_int(kiln_dhcp_build(KILN_DHCP_ACK, XID, mac, 0, 0, 0, p, sizeof(p)), -EINVAL, "cannot build an ACK");
        is_int(kiln_dhcp_build(KILN_DHCP_DISCOVER, XID, mac, 0, 0, 0, p, 299), -ENOBUFS, "299-byte buffer refused");
}

static void test_slirp_offer_ack(void)
{
        uint8_t p[1600];
        struct kiln_dhcp_lease l;
        size_t n;
        char s[INET_ADDRSTRLEN];

        /* What QEMU's slirp sends (slirp/src/bootp.c): type, server id, mask, router, dns, lease. */
        n = REPLY(p, 2, XID, mac, "10.0.2.15", "10.0.2.2", 53, 1, 2, 54, 4, 10, 0, 2, 2, 1, 4, 255, 255, 255, 0, 3, 4,
                  10, 0, 2, 2, 6, 4, 10, 0, 2, 3, 51, 4, 0, 1, 0x51, 0x80, 255);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "slirp offer parses");
        is_int(l.type, KILN_DHCP_OFFER, "offer: type");
        ok(l.yiaddr == a("10.0.2.15"), "offer: yiaddr %s", inet_ntop(AF_INET, &l.yiaddr, s, sizeof(s)));
        ok(l.mask == a("255.255.255.0"), "offer: mask");
        ok(l.router == a("10.0.2.2"), "offer: router");
        ok(l.server == a("10.0.2.2"), "offer: server id");
        ok(l.n_dns == 1 && l.dns[0] == a("10.0.2.3"), "offer: one dns server");
        is_int(l.lease, 86400, "offer: lease 86400 s");
        ok(l.mtu == 0 && !l.hostname[0] && !l.domain[0], "offer: no mtu, hostname or domain");

        memset(&l, 0x5a, sizeof(l));
        n = REPLY(p, 2, XID, mac, "10.0.2.15", "10.0.2.2", 53, 1, 5, 54, 4, 10, 0, 2, 2, 255);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "minimal ack parses");
        is_int(l.type, KILN_DHCP_ACK, "ack: type");
        ok(l.mask == a("255.0.0.0"), "ack without option 1: classful mask of 10.x");
        ok(l.router == 0 && l.n_dns == 0 && l.lease == 0, "ack: no router, dns, lease");
}

static void test_ec2_ack(void)
{
        uint8_t p[1600];
        struct kiln_dhcp_lease l;
        size_t n;

        /* EC2 VPC: /20, router .1, AmazonProvidedDNS .2, domain, hostname, MTU 9001. */
        n = REPLY(p, 2, XID, mac, "172.31.5.6", "0.0.0.0", 53, 1, 5, 54, 4, 172, 31, 0, 1, 51, 4, 0, 0, 0x0e, 0x10, 1, 4,
                  255, 255, 240, 0, 3, 4, 172, 31, 0, 1, 6, 8, 172, 31, 0, 2, 8, 8, 8, 8, 15, 12, 'e', 'c', '2', '.',
                  'i', 'n', 't', 'e', 'r', 'n', 'a', 'l', 12, 14, 'i', 'p', '-', '1', '7', '2', '-', '3', '1', '-', '5',
                  '-', '6', 0, 26, 2, 0x23, 0x29, 255);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "ec2-shaped ack parses");
        ok(l.mask == a("255.255.240.0"), "ec2: /20");
        ok(l.n_dns == 2 && l.dns[1] == a("8.8.8.8"), "ec2: two dns servers");
        ok(!strcmp(l.domain, "ec2.internal"), "ec2: domain '%s'", l.domain);
        ok(!strcmp(l.hostname, "ip-172-31-5-6"), "ec2: hostname '%s' (trailing NUL dropped)", l.hostname);
        is_int(l.mtu, 9001, "ec2: mtu 9001");
        is_int(l.lease, 3600, "ec2: lease 3600");

        n = REPLY(p, 2, XID, mac, "0.0.0.0", "0.0.0.0", 53, 1, 6, 54, 4, 172, 31, 0, 1, 56, 5, 'n', 'o', 'p', 'e', 0,
                  255);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "nak parses");
        ok(l.type == KILN_DHCP_NAK && l.server == a("172.31.0.1"), "nak: type and server");

        /* No server id: siaddr. */
        n = REPLY(p, 2, XID, mac, "192.168.1.20", "192.168.1.1", 53, 1, 2, 255);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "offer without option 54");
        ok(l.server == a("192.168.1.1") && l.mask == a("255.255.255.0"), "server from siaddr; classful /24");
}

static void test_overload_split(void)
{
        uint8_t p[1600];
        struct kiln_dhcp_lease l;
        size_t n;

        /* Option 52 = 3: router in file, dns in sname. */
        n = REPLY(p, 2, XID, mac, "10.1.2.3", "10.1.2.1", 53, 1, 5, 52, 1, 3, 1, 4, 255, 255, 255, 0, 255);
        memcpy(p + 108, "\x03\x04\x0a\x01\x02\x01\xff", 7);
        memcpy(p + 44, "\x06\x04\x0a\x01\x02\x35\xff", 7);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "overloaded file and sname parse");
        ok(l.router == a("10.1.2.1"), "router from the file field");
        ok(l.n_dns == 1 && l.dns[0] == a("10.1.2.53"), "dns from the sname field");

        /* Without option 52 the file field is only a file name. */
        n = REPLY(p, 2, XID, mac, "10.1.2.3", "10.1.2.1", 53, 1, 5, 255);
        memcpy(p + 108, "\x03\x04\x0a\x01\x02\x01\xff", 7);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "file field ignored without overload");
        is_int(l.router, 0, "no router then");

        /* RFC 3396: one option in two instances is concatenated. */
        n = REPLY(p, 2, XID, mac, "10.1.2.3", "10.1.2.1", 53, 1, 5, 15, 4, 'e', 'x', 'a', 'm', 1, 4, 255, 255, 0, 0, 15,
                  8, 'p', 'l', 'e', '.', 'c', 'o', 'm', 0, 6, 4, 1, 1, 1, 1, 6, 4, 9, 9, 9, 9, 255);
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), 0, "split options parse");
        ok(!strcmp(l.domain, "example.com"), "split domain '%s' concatenated", l.domain);
        ok(l.n_dns == 2 && l.dns[0] == a("1.1.1.1") && l.dns[1] == a("9.9.9.9"), "split dns list concatenated");
}

struct bad {
        const char *what, *message;
        uint8_t opts[64];
        size_t len;
        const char *yiaddr;
};

static void test_malformed(void)
{
        static const struct bad cases[] = {
                { "option past the end", "dhcp reply: options: option 3 (8 bytes) runs past the end",
                  { 53, 1, 2, 3, 8, 10, 0 }, 7, NULL },
                { "no end option", "dhcp reply: options: no end option", { 53, 1, 2 }, 3, NULL },
                { "no message type", "dhcp reply: no message type (option 53)", { 1, 4, 255, 255, 255, 0, 255 }, 7, NULL },
                { "long message type", "dhcp reply: message type (option 53) is not one byte", { 53, 2, 2, 2, 255 }, 5,
                  NULL },
                { "a REQUEST from a server", "dhcp reply: message type 3 (DHCPREQUEST) is not one a server sends",
                  { 53, 1, 3, 255 }, 4, NULL },
                { "mask of 3 bytes", "dhcp reply: subnet mask (option 1) is 3 bytes, not 4",
                  { 53, 1, 2, 1, 3, 255, 255, 255, 255 }, 9, NULL },
                { "non-contiguous mask", "dhcp reply: subnet mask 255.0.255.0 is not contiguous",
                  { 53, 1, 2, 1, 4, 255, 0, 255, 0, 255 }, 10, NULL },
                { "dns of 6 bytes", "dhcp reply: dns servers (option 6): 6 bytes is not a list of addresses",
                  { 53, 1, 2, 6, 6, 1, 1, 1, 1, 2, 2, 255 }, 12, NULL },
                { "router of 0 bytes", "dhcp reply: router (option 3): 0 bytes is not a list of addresses",
                  { 53, 1, 2, 3, 0, 255 }, 6, NULL },
                { "lease of 2 bytes", "dhcp reply: lease time (option 51) is 2 bytes, not 4",
                  { 53, 1, 2, 51, 2, 1, 1, 255 }, 8, NULL },
                { "mtu of 4 bytes", "dhcp reply: interface MTU (option 26) is 4 bytes, not 2",
                  { 53, 1, 2, 26, 4, 0, 0, 5, 220, 255 }, 10, NULL },
                { "hostname with a space", "dhcp reply: host name (option 12): byte 0x20 is not allowed in a name",
                  { 53, 1, 2, 12, 3, 'a', ' ', 'b', 255 }, 9, NULL },
                { "server id of 8 bytes", "dhcp reply: server identifier (option 54) is 8 bytes, not 4",
                  { 53, 1, 2, 54, 8, 1, 2, 3, 4, 5, 6, 7, 8, 255 }, 14, NULL },
                { "bad overload value", "dhcp reply: options: bad option overload (52)", { 53, 1, 2, 52, 1, 4, 255 }, 7,
                  NULL },
                { "offer without an address", "dhcp reply: DHCPOFFER offers no usable address (yiaddr)",
                  { 53, 1, 2, 255 }, 4, "0.0.0.0" },
                { "length byte missing", "dhcp reply: options: option 53 has no length byte", { 53 }, 1, NULL },
        };
        uint8_t p[1600];
        struct kiln_dhcp_lease l, before;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                const struct bad *c = &cases[i];
                /* Cut at the options' end, so no zero padding follows them. */
                size_t n = 240 + c->len;
                int r;

                reply(p, 2, XID, mac, c->yiaddr ? c->yiaddr : "10.0.0.5", "10.0.0.1", c->opts, c->len);
                memset(&l, 0x77, sizeof(l));
                before = l;
                r = kiln_dhcp_parse(p, n, XID, mac, &l);
                is_int(r, -EBADMSG, "%s: -EBADMSG", c->what);
                ok(!strcmp(kiln_last_error(), c->message), "%s: '%s'", c->what, kiln_last_error());
                ok(!memcmp(&l, &before, sizeof(l)), "%s: lease untouched", c->what);
        }

        size_t n = REPLY(p, 2, XID, mac, "10.0.0.5", "10.0.0.1", 53, 1, 2, 255);
        is_int(kiln_dhcp_parse(p, 239, XID, mac, &l), -EBADMSG, "239 bytes: too short");
        ok(!strcmp(kiln_last_error(), "dhcp reply: 239 bytes is shorter than a DHCP header (240)"), "short: '%s'",
           kiln_last_error());
        is_int(kiln_dhcp_parse(p, 1501, XID, mac, &l), -EBADMSG, "1501 bytes: too long");
        is_int(kiln_dhcp_parse(p, n, XID + 1, mac, &l), -ENOMSG, "another xid: not ours");
        is_int(kiln_dhcp_parse(p, n, XID, other_mac, &l), -ENOMSG, "another chaddr: not ours");
        p[236] = 0;
        is_int(kiln_dhcp_parse(p, n, XID, mac, &l), -EBADMSG, "no magic cookie");
        ok(!strcmp(kiln_last_error(), "dhcp reply: no DHCP magic cookie"), "magic: '%s'", kiln_last_error());

        /* 255 option instances is the limit. */
        uint8_t big[1500];
        n = reply(big, 2, XID, mac, "10.0.0.5", "10.0.0.1", (const uint8_t *)"\x35\x01\x02", 3);
        size_t o = 243;
        for (int i = 0; i < 300 && o + 3 < sizeof(big); i++) {
                big[o++] = 200;
                big[o++] = 1;
                big[o++] = 0;
        }
        big[o++] = 255;
        is_int(kiln_dhcp_parse(big, o, XID, mac, &l), -EBADMSG, "more than 255 option instances refused");
}

int main(void)
{
        tap_plan_lazy();
        test_build();
        test_slirp_offer_ack();
        test_ec2_ack();
        test_overload_split();
        test_malformed();
        return tap_done();
}
