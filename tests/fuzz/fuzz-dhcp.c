/* SPDX-License-Identifier: MIT */
/*
 * kiln_dhcp_parse() on arbitrary bytes, with the xid and chaddr taken from
 * the input so the parser gets past the "is it ours" check.  Checks: only
 * the documented errors, *ret untouched on failure, a lease that is
 * consistent (a server's message type, an address in OFFER/ACK, a
 * contiguous mask, at most KILN_DHCP_MAX_DNS servers, terminated printable
 * names), the same answer twice; and that a request built from the same
 * xid and MAC is never taken for a reply.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dhcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *s, size_t size)
{
        if (!memchr(s, 0, size))
                abort();
        for (; *s; s++)
                if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
                        abort();
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t mac[6] = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 }, req[KILN_DHCP_MIN_PACKET];
        struct kiln_dhcp_lease a, b, before;
        uint32_t xid = 0x3903f326u;
        uint8_t *buf = malloc(size ? size : 1);
        int r, r2;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        if (size >= 34) {
                xid = be32(data + 4);
                memcpy(mac, data + 28, 6);
        }
        memset(&a, 0xa5, sizeof(a));
        before = a;
        r = kiln_dhcp_parse(buf, size, xid, mac, &a);
        if (r < 0) {
                if (r != -EBADMSG && r != -ENOMSG && r != -ENOMEM)
                        abort();
                if (memcmp(&a, &before, sizeof(a)))
                        abort();
        } else {
                uint8_t *m = (uint8_t *)&a.mask;
                uint32_t mask = be32(m);

                if (r != 0 || (a.type != KILN_DHCP_OFFER && a.type != KILN_DHCP_ACK && a.type != KILN_DHCP_NAK))
                        abort();
                if (a.type != KILN_DHCP_NAK && (!a.yiaddr || a.yiaddr == 0xffffffffu || (mask & (~mask >> 1))))
                        abort();
                if (a.n_dns > KILN_DHCP_MAX_DNS || (a.mtu && a.mtu < 68))
                        abort();
                check_name(a.hostname, sizeof(a.hostname));
                check_name(a.domain, sizeof(a.domain));
                if (!kiln_dhcp_type_to_string(a.type))
                        abort();
        }
        r2 = kiln_dhcp_parse(buf, size, xid, mac, &b);
        if (r2 != r || (r == 0 && (a.type != b.type || a.yiaddr != b.yiaddr || a.mask != b.mask ||
                                   a.router != b.router || strcmp(a.hostname, b.hostname) ||
                                   strcmp(a.domain, b.domain))))
                abort();
        if (size && memcmp(buf, data, size))
                abort();

        /* A request from the same client is never a reply. */
        for (uint8_t t = KILN_DHCP_DISCOVER; t <= KILN_DHCP_REQUEST; t += 2) {
                int n = kiln_dhcp_build(t, xid, mac, a.yiaddr, a.server, 0, req, sizeof(req));

                if (n != KILN_DHCP_MIN_PACKET || kiln_dhcp_parse(req, (size_t)n, xid, mac, &b) != -ENOMSG)
                        abort();
        }
        free(buf);
        return 0;
}
