/* SPDX-License-Identifier: MIT */
/*
 * DHCPv4 messages (RFC 2131, options RFC 2132), pure: packets are built into
 * and parsed from buffers; net.c does the sending.  Only what an ephemeral
 * client needs: DISCOVER and REQUEST out, OFFER, ACK and NAK in.
 *
 * Addresses are IPv4 in network byte order (as in struct in_addr's s_addr).
 */
#ifndef KILN_CLOUD_INIT_LITE_DHCP_H
#define KILN_CLOUD_INIT_LITE_DHCP_H

#include <stddef.h>
#include <stdint.h>

#define KILN_DHCP_CLIENT_PORT 68
#define KILN_DHCP_SERVER_PORT 67
#define KILN_DHCP_MIN_PACKET 300  /* BOOTP's minimum; requests are padded to it */
#define KILN_DHCP_MAX_PACKET 1500 /* replies longer than an Ethernet MTU are refused */
#define KILN_DHCP_MAX_DNS 4

/* Option 53 values. */
enum kiln_dhcp_type {
        KILN_DHCP_DISCOVER = 1,
        KILN_DHCP_OFFER = 2,
        KILN_DHCP_REQUEST = 3,
        KILN_DHCP_DECLINE = 4,
        KILN_DHCP_ACK = 5,
        KILN_DHCP_NAK = 6,
        KILN_DHCP_RELEASE = 7,
};

struct kiln_dhcp_lease {
        uint8_t type;           /* KILN_DHCP_OFFER, _ACK or _NAK */
        uint32_t yiaddr;        /* the address offered (0 in a NAK) */
        uint32_t mask;          /* option 1, else the classful mask of yiaddr */
        uint32_t router;        /* the first of option 3; 0 if none */
        uint32_t server;        /* option 54 (server identifier), else siaddr */
        uint32_t dns[KILN_DHCP_MAX_DNS];
        unsigned n_dns;
        uint32_t lease;         /* option 51, seconds; 0 if absent */
        uint16_t mtu;           /* option 26; 0 if absent or below 68 */
        char hostname[64];      /* option 12, "" if absent */
        char domain[256];       /* option 15, "" if absent */
};

const char *kiln_dhcp_type_to_string(uint8_t type);

/*
 * Build a DISCOVER or REQUEST from the client with hardware address mac into
 * buf (at least KILN_DHCP_MIN_PACKET bytes): broadcast flag set, client id
 * (type 1 + MAC), parameter request list (mask, router, DNS, hostname,
 * domain, MTU, lease time).  A REQUEST carries requested_ip (option 50) and
 * server_id (option 54) when they are non-zero.  secs is the time since the
 * client began.  Returns the length, or -EINVAL / -ENOBUFS.
 */
int kiln_dhcp_build(uint8_t type, uint32_t xid, const uint8_t mac[6], uint32_t requested_ip,
                    uint32_t server_id, uint16_t secs, uint8_t *buf, size_t size);

/*
 * Parse a reply.  -ENOMSG when it is not a reply to us (not a BOOTREPLY,
 * another xid or another chaddr): callers skip it quietly.  -EBADMSG with a
 * one-line message when it is malformed (short, no magic cookie, an option
 * running past the end, wrong option lengths, no message type, a type a
 * server does not send, no address in an OFFER or ACK).  *ret is written
 * only on success.  Options may be overloaded into file and sname (option 52)
 * and split into several instances (RFC 3396); both are handled.
 */
int kiln_dhcp_parse(const void *buf, size_t len, uint32_t xid, const uint8_t mac[6],
                    struct kiln_dhcp_lease *ret);

#endif
