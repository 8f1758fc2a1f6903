/* SPDX-License-Identifier: MIT */
/*
 * DHCPv4 packets, built and parsed in buffers (see dhcp.h).  Layout, RFC 2131
 * section 2: op htype hlen hops | xid | secs flags | ciaddr | yiaddr | siaddr
 * | giaddr | chaddr[16] | sname[64] | file[128] | magic cookie | options.
 */
#include "dhcp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define OFF_OP 0
#define OFF_HTYPE 1
#define OFF_HLEN 2
#define OFF_XID 4
#define OFF_SECS 8
#define OFF_FLAGS 10
#define OFF_CIADDR 12
#define OFF_YIADDR 16
#define OFF_SIADDR 20
#define OFF_CHADDR 28
#define OFF_SNAME 44
#define OFF_FILE 108
#define OFF_MAGIC 236
#define OFF_OPTIONS 240
#define SNAME_LEN 64
#define FILE_LEN 128

#define BOOTREQUEST 1
#define BOOTREPLY 2
#define FLAG_BROADCAST 0x8000

enum {
        OPT_PAD = 0,
        OPT_MASK = 1,
        OPT_ROUTER = 3,
        OPT_DNS = 6,
        OPT_HOSTNAME = 12,
        OPT_DOMAIN = 15,
        OPT_MTU = 26,
        OPT_REQUESTED_IP = 50,
        OPT_LEASE = 51,
        OPT_OVERLOAD = 52,
        OPT_MSG_TYPE = 53,
        OPT_SERVER_ID = 54,
        OPT_PARAMS = 55,
        OPT_MAX_SIZE = 57,
        OPT_CLIENT_ID = 61,
        OPT_END = 255,
};

static const uint8_t magic[4] = { 99, 130, 83, 99 };

static void put_be16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
        put_be16(p, (uint16_t)(v >> 16));
        put_be16(p + 2, (uint16_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

const char *kiln_dhcp_type_to_string(uint8_t type)
{
        static const char *const names[] = {
                [KILN_DHCP_DISCOVER] = "DHCPDISCOVER", [KILN_DHCP_OFFER] = "DHCPOFFER",
                [KILN_DHCP_REQUEST] = "DHCPREQUEST",   [KILN_DHCP_DECLINE] = "DHCPDECLINE",
                [KILN_DHCP_ACK] = "DHCPACK",           [KILN_DHCP_NAK] = "DHCPNAK",
                [KILN_DHCP_RELEASE] = "DHCPRELEASE",
        };

        return type < ARRAY_SIZE(names) && names[type] ? names[type] : NULL;
}

int kiln_dhcp_build(uint8_t type, uint32_t xid, const uint8_t mac[6], uint32_t requested_ip,
                    uint32_t server_id, uint16_t secs, uint8_t *buf, size_t size)
{
        static const uint8_t params[] = { OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME,
                                          OPT_DOMAIN, OPT_MTU, OPT_LEASE };
        size_t o = OFF_OPTIONS;

        if (type != KILN_DHCP_DISCOVER && type != KILN_DHCP_REQUEST)
                return kiln_errorf(-EINVAL, "dhcp: cannot build a %s", kiln_dhcp_type_to_string(type) ?: "message");
        if (size < KILN_DHCP_MIN_PACKET)
                return kiln_errorf(-ENOBUFS, "dhcp: buffer of %zu bytes is too small", size);
        memset(buf, 0, KILN_DHCP_MIN_PACKET);
        buf[OFF_OP] = BOOTREQUEST;
        buf[OFF_HTYPE] = 1; /* Ethernet */
        buf[OFF_HLEN] = 6;
        put_be32(buf + OFF_XID, xid);
        put_be16(buf + OFF_SECS, secs);
        /* No address yet: ask for replies to the broadcast address. */
        put_be16(buf + OFF_FLAGS, FLAG_BROADCAST);
        memcpy(buf + OFF_CHADDR, mac, 6);
        memcpy(buf + OFF_MAGIC, magic, 4);

        buf[o++] = OPT_MSG_TYPE;
        buf[o++] = 1;
        buf[o++] = type;
        buf[o++] = OPT_CLIENT_ID;
        buf[o++] = 7;
        buf[o++] = 1;
        memcpy(buf + o, mac, 6);
        o += 6;
        buf[o++] = OPT_MAX_SIZE;
        buf[o++] = 2;
        put_be16(buf + o, 576);
        o += 2;
        if (type == KILN_DHCP_REQUEST && requested_ip) {
                buf[o++] = OPT_REQUESTED_IP;
                buf[o++] = 4;
                memcpy(buf + o, &requested_ip, 4);
                o += 4;
        }
        if (type == KILN_DHCP_REQUEST && server_id) {
                buf[o++] = OPT_SERVER_ID;
                buf[o++] = 4;
                memcpy(buf + o, &server_id, 4);
                o += 4;
        }
        buf[o++] = OPT_PARAMS;
        buf[o++] = sizeof(params);
        memcpy(buf + o, params, sizeof(params));
        o += sizeof(params);
        buf[o++] = OPT_END;
        /* 240 + 3 + 9 + 4 + 6 + 6 + 9 + 1 = 278 bytes at most: padded to 300. */
        return KILN_DHCP_MIN_PACKET;
}

/* --- parsing -------------------------------------------------------------- */

#define MAX_CHUNKS 255 /* option instances in one packet */

struct chunk {
        uint8_t code, len;
        const uint8_t *data;
};

struct opts {
        struct chunk c[MAX_CHUNKS];
        size_t n;
        int overload; /* -1 until option 52 is seen */
};

static int parse_error(const char *fmt, ...) _printf_(1, 2);
static int parse_error(const char *fmt, ...)
{
        char msg[200];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        kiln_errorf(-EBADMSG, "dhcp reply: %s", msg);
        return -EBADMSG;
}

/* Collect the option instances of one field; "where" names it in messages. */
static int scan_options(const uint8_t *p, size_t len, const char *where, bool need_end, struct opts *o)
{
        size_t i = 0;

        while (i < len) {
                uint8_t code = p[i++];

                if (code == OPT_PAD)
                        continue;
                if (code == OPT_END)
                        return 0;
                if (i >= len)
                        return parse_error("%s: option %u has no length byte", where, code);
                uint8_t olen = p[i++];
                if (olen > len - i)
                        return parse_error("%s: option %u (%u bytes) runs past the end", where, code, olen);
                if (o->n >= MAX_CHUNKS)
                        return parse_error("%s: more than %d options", where, MAX_CHUNKS);
                o->c[o->n++] = (struct chunk){ code, olen, p + i };
                if (code == OPT_OVERLOAD) {
                        if (olen != 1 || p[i] < 1 || p[i] > 3)
                                return parse_error("%s: bad option overload (52)", where);
                        if (o->overload >= 0 && o->overload != p[i])
                                return parse_error("%s: conflicting option overloads", where);
                        o->overload = p[i];
                }
                i += olen;
        }
        /* The options field must end with END; file and sname may be padded out. */
        if (need_end)
                return parse_error("%s: no end option", where);
        return 0;
}

/* The concatenation of every instance of code (RFC 3396), at most size bytes. */
static int get_opt(const struct opts *o, uint8_t code, uint8_t *out, size_t size, size_t *ret_len)
{
        size_t n = 0;
        bool found = false;

        for (size_t i = 0; i < o->n; i++) {
                if (o->c[i].code != code)
                        continue;
                found = true;
                if (o->c[i].len > size - n)
                        return parse_error("option %u is longer than %zu bytes", code, size);
                memcpy(out + n, o->c[i].data, o->c[i].len);
                n += o->c[i].len;
        }
        *ret_len = n;
        return found ? 1 : 0;
}

static int get_addrs(const struct opts *o, uint8_t code, const char *name, uint32_t *out, unsigned max,
                     unsigned *ret_n)
{
        uint8_t b[1024];
        size_t len;
        int r;

        r = get_opt(o, code, b, sizeof(b), &len);
        if (r <= 0) {
                *ret_n = 0;
                return r;
        }
        if (len == 0 || len % 4)
                return parse_error("%s (option %u): %zu bytes is not a list of addresses", name, code, len);
        *ret_n = (unsigned)MIN(len / 4, (size_t)max);
        for (unsigned i = 0; i < *ret_n; i++)
                memcpy(&out[i], b + 4 * i, 4);
        return 1;
}

/* A host or domain name: printable, no spaces, trailing NULs dropped. */
static int get_name(const struct opts *o, uint8_t code, const char *name, char *out, size_t size)
{
        uint8_t b[1024];
        size_t len;
        int r;

        r = get_opt(o, code, b, sizeof(b), &len);
        if (r <= 0)
                return r;
        while (len > 0 && b[len - 1] == 0)
                len--;
        if (len >= size)
                return parse_error("%s (option %u): longer than %zu bytes", name, code, size - 1);
        for (size_t i = 0; i < len; i++)
                if (b[i] <= 0x20 || b[i] >= 0x7f)
                        return parse_error("%s (option %u): byte 0x%02x is not allowed in a name", name,
                                           code, b[i]);
        memcpy(out, b, len);
        out[len] = 0;
        return 1;
}

static uint32_t classful_mask(uint32_t addr_be)
{
        const uint8_t *a = (const uint8_t *)&addr_be;
        uint32_t m = a[0] < 128 ? 0xff000000u : a[0] < 192 ? 0xffff0000u : 0xffffff00u;
        uint8_t b[4];

        put_be32(b, m);
        memcpy(&m, b, 4);
        return m;
}

int kiln_dhcp_parse(const void *buf, size_t len, uint32_t xid, const uint8_t mac[6],
                    struct kiln_dhcp_lease *ret)
{
        const uint8_t *p = buf;
        struct kiln_dhcp_lease l = { 0 };
        struct opts *o;
        uint8_t b[16];
        size_t n;
        unsigned cnt;
        int r;

        if (len < OFF_OPTIONS)
                return parse_error("%zu bytes is shorter than a DHCP header (%d)", len, OFF_OPTIONS);
        if (len > KILN_DHCP_MAX_PACKET)
                return parse_error("%zu bytes is longer than %d", len, KILN_DHCP_MAX_PACKET);
        if (p[OFF_OP] != BOOTREPLY || get_be32(p + OFF_XID) != xid || p[OFF_HTYPE] != 1 || p[OFF_HLEN] != 6 ||
            memcmp(p + OFF_CHADDR, mac, 6))
                return kiln_errorf(-ENOMSG, "dhcp: not a reply to this client");
        if (memcmp(p + OFF_MAGIC, magic, 4))
                return parse_error("no DHCP magic cookie");

        o = calloc(1, sizeof(*o));
        if (!o)
                return kiln_errorf(-ENOMEM, "dhcp: out of memory");
        o->overload = -1;
        r = scan_options(p + OFF_OPTIONS, len - OFF_OPTIONS, "options", true, o);
        /* RFC 2131 4.1: options, then file, then sname. */
        if (r >= 0 && o->overload > 0 && (o->overload & 1))
                r = scan_options(p + OFF_FILE, FILE_LEN, "file field", false, o);
        if (r >= 0 && o->overload > 0 && (o->overload & 2))
                r = scan_options(p + OFF_SNAME, SNAME_LEN, "sname field", false, o);
        if (r < 0)
                goto out;

        r = get_opt(o, OPT_MSG_TYPE, b, sizeof(b), &n);
        if (r < 0)
                goto out;
        if (r == 0 || n != 1) {
                r = parse_error(r == 0 ? "no message type (option 53)" : "message type (option 53) is not one byte");
                goto out;
        }
        l.type = b[0];
        if (l.type != KILN_DHCP_OFFER && l.type != KILN_DHCP_ACK && l.type != KILN_DHCP_NAK) {
                r = parse_error("message type %u (%s) is not one a server sends", l.type,
                                kiln_dhcp_type_to_string(l.type) ?: "unknown");
                goto out;
        }
        r = get_addrs(o, OPT_SERVER_ID, "server identifier", &l.server, 1, &cnt);
        if (r < 0)
                goto out;
        if (r > 0 && get_opt(o, OPT_SERVER_ID, b, sizeof(b), &n) > 0 && n != 4) {
                r = parse_error("server identifier (option 54) is %zu bytes, not 4", n);
                goto out;
        }
        if (!l.server)
                memcpy(&l.server, p + OFF_SIADDR, 4);
        if (l.type == KILN_DHCP_NAK) {
                r = 0;
                goto out;
        }

        memcpy(&l.yiaddr, p + OFF_YIADDR, 4);
        if (!l.yiaddr || l.yiaddr == 0xffffffffu) {
                r = parse_error("%s offers no usable address (yiaddr)", kiln_dhcp_type_to_string(l.type));
                goto out;
        }
        r = get_opt(o, OPT_MASK, b, sizeof(b), &n);
        if (r < 0)
                goto out;
        if (r > 0) {
                uint32_t m;

                if (n != 4) {
                        r = parse_error("subnet mask (option 1) is %zu bytes, not 4", n);
                        goto out;
                }
                memcpy(&l.mask, b, 4);
                /* A mask is ones then zeros. */
                m = get_be32(b);
                if (m & (~m >> 1)) {
                        r = parse_error("subnet mask %u.%u.%u.%u is not contiguous", b[0], b[1], b[2], b[3]);
                        goto out;
                }
        } else {
                l.mask = classful_mask(l.yiaddr);
        }
        r = get_addrs(o, OPT_ROUTER, "router", &l.router, 1, &cnt);
        if (r < 0)
                goto out;
        r = get_addrs(o, OPT_DNS, "dns servers", l.dns, KILN_DHCP_MAX_DNS, &l.n_dns);
        if (r < 0)
                goto out;
        r = get_opt(o, OPT_LEASE, b, sizeof(b), &n);
        if (r < 0)
                goto out;
        if (r > 0) {
                if (n != 4) {
                        r = parse_error("lease time (option 51) is %zu bytes, not 4", n);
                        goto out;
                }
                l.lease = get_be32(b);
        }
        r = get_opt(o, OPT_MTU, b, sizeof(b), &n);
        if (r < 0)
                goto out;
        if (r > 0) {
                if (n != 2) {
                        r = parse_error("interface MTU (option 26) is %zu bytes, not 2", n);
                        goto out;
                }
                l.mtu = (uint16_t)(b[0] << 8 | b[1]);
                if (l.mtu < 68)
                        l.mtu = 0;
        }
        r = get_name(o, OPT_HOSTNAME, "host name", l.hostname, sizeof(l.hostname));
        if (r < 0)
                goto out;
        r = get_name(o, OPT_DOMAIN, "domain name", l.domain, sizeof(l.domain));
        if (r < 0)
                goto out;
        r = 0;
out:
        free(o);
        if (r < 0)
                return r;
        *ret = l;
        return 0;
}
