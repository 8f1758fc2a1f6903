/* SPDX-License-Identifier: MIT */
/*
 * The ephemeral network (see net.h): sysfs to pick the NIC, ioctls to set
 * flags, address and routes, and a UDP socket on port 68 bound to the device
 * for DHCP.  With SO_BINDTODEVICE the kernel sends to 255.255.255.255 from
 * 0.0.0.0 through the link although it has no address, and delivers the
 * server's broadcast replies (the request sets the broadcast flag) to us.
 */
#include "net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "netcfg.h"
#include "util.h"

#define MAX_BACKOFF_MS 4000u
#define REQUEST_TRIES 3 /* unanswered REQUESTs before starting over */

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int read_long(const char *path, long *ret)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len;
        char *end;
        int r;

        r = read_full_file(path, 64, &buf, &len);
        if (r < 0)
                return r;
        errno = 0;
        *ret = strtol((char *)buf, &end, 10);
        if (errno || end == (char *)buf || (*end && *end != '\n'))
                return -EINVAL;
        return 0;
}

static int nic_order(const void *a, const void *b)
{
        const struct kiln_netif *x = a, *y = b;

        if (x->has_device != y->has_device)
                return x->has_device ? -1 : 1;
        return x->ifindex < y->ifindex ? -1 : x->ifindex > y->ifindex;
}

int kiln_net_list_nics(const char *root, struct kiln_netif *ret, size_t max, size_t *ret_n)
{
        char path[512];
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        root = root ? root : "";
        snprintf(path, sizeof(path), "%s/sys/class/net", root);
        d = opendir(path);
        if (!d)
                return kiln_errorf(-errno, "cannot list network interfaces in '%s': %s", path, strerror(errno));
        while ((de = readdir(d)) && n < max) {
                struct kiln_netif *nic = &ret[n];
                _cleanup_free_ uint8_t *addr = NULL;
                size_t len;
                long type, index;

                if (de->d_name[0] == '.' || !strcmp(de->d_name, "lo") || strlen(de->d_name) >= IF_NAMESIZE)
                        continue;
                snprintf(path, sizeof(path), "%s/sys/class/net/%s/type", root, de->d_name);
                if (read_long(path, &type) < 0 || type != ARPHRD_ETHER)
                        continue;
                snprintf(path, sizeof(path), "%s/sys/class/net/%s/ifindex", root, de->d_name);
                if (read_long(path, &index) < 0 || index <= 0)
                        continue;
                *nic = (struct kiln_netif){ .ifindex = (int)index };
                memcpy(nic->ifname, de->d_name, strlen(de->d_name) + 1);
                snprintf(path, sizeof(path), "%s/sys/class/net/%s/address", root, de->d_name);
                if (read_full_file(path, 64, &addr, &len) >= 0) {
                        snprintf(nic->mac, sizeof(nic->mac), "%.17s", (char *)addr);
                        if (!kiln_net_mac_normalize(nic->mac))
                                nic->mac[0] = 0;
                }
                /* A NIC on a bus (virtio, ENA, e1000) has "device"; ifb, veth, bridges do not. */
                snprintf(path, sizeof(path), "%s/sys/class/net/%s/device", root, de->d_name);
                nic->has_device = access(path, F_OK) == 0;
                n++;
        }
        closedir(d);
        qsort(ret, n, sizeof(*ret), nic_order);
        *ret_n = n;
        return 0;
}

int kiln_net_find_nic(const char *root, char ifname[IF_NAMESIZE], int *ret_ifindex)
{
        struct kiln_netif nics[KILN_NET_MAX_NICS];
        size_t n;
        int r;

        r = kiln_net_list_nics(root, nics, ARRAY_SIZE(nics), &n);
        if (r < 0)
                return r;
        if (n == 0)
                return kiln_errorf(-ENODEV, "no ethernet interface in '%s/sys/class/net'", root ? root : "");
        memcpy(ifname, nics[0].ifname, IF_NAMESIZE);
        *ret_ifindex = nics[0].ifindex;
        return 0;
}

static void ifr_init(struct ifreq *ifr, const char *ifname)
{
        memset(ifr, 0, sizeof(*ifr));
        snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
}

static void set_sin(struct sockaddr *sa, uint32_t addr)
{
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = addr };

        memcpy(sa, &sin, sizeof(sin));
}

static const char *ip(uint32_t addr, char buf[INET_ADDRSTRLEN])
{
        struct in_addr a = { .s_addr = addr };

        return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

/* Add or delete a route through the NIC: a host route when gw is 0. */
static int route(int fd, unsigned long req, const char *ifname, uint32_t dst, uint32_t mask, uint32_t gw)
{
        struct rtentry rt = { 0 };
        char dev[IF_NAMESIZE];

        snprintf(dev, sizeof(dev), "%s", ifname);
        set_sin(&rt.rt_dst, dst);
        set_sin(&rt.rt_genmask, mask);
        set_sin(&rt.rt_gateway, gw);
        rt.rt_flags = RTF_UP | (gw ? RTF_GATEWAY : 0) | (mask == 0xffffffffu ? RTF_HOST : 0);
        rt.rt_dev = dev;
        if (ioctl(fd, req, &rt) < 0)
                return -errno;
        return 0;
}

static void logf_(kiln_log_fn log, void *ud, const char *fmt, ...) _printf_(3, 4);
static void logf_(kiln_log_fn log, void *ud, const char *fmt, ...)
{
        char buf[256];
        va_list ap;

        if (!log)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log(ud, "%s", buf);
}

static int dhcp_socket(const char *ifname)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(KILN_DHCP_CLIENT_PORT) };
        int fd, one = 1;

        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return kiln_errorf(-errno, "dhcp on %s: socket: %s", ifname, strerror(errno));
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0 ||
            bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                int e = errno;

                close(fd);
                return kiln_errorf(-e, "dhcp on %s: cannot bind udp port 68: %s", ifname, strerror(e));
        }
        return fd;
}

static int dhcp_send(int fd, struct kiln_net *n, uint8_t type, uint32_t xid, uint64_t start)
{
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(KILN_DHCP_SERVER_PORT),
                                  .sin_addr.s_addr = INADDR_BROADCAST };
        uint8_t pkt[KILN_DHCP_MIN_PACKET];
        uint64_t secs = (now_ms() - start) / 1000;
        int len;

        len = kiln_dhcp_build(type, xid, n->mac, type == KILN_DHCP_REQUEST ? n->lease.yiaddr : 0,
                              type == KILN_DHCP_REQUEST ? n->lease.server : 0, (uint16_t)MIN(secs, 65535u), pkt,
                              sizeof(pkt));
        if (len < 0)
                return len;
        if (sendto(fd, pkt, (size_t)len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
                return kiln_errorf(-errno, "dhcp on %s: cannot send %s: %s", n->ifname,
                                   kiln_dhcp_type_to_string(type), strerror(errno));
        return 0;
}

static uint32_t new_xid(void)
{
        uint32_t x;

        if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x))
                x = (uint32_t)now_ms() ^ (uint32_t)getpid() << 16;
        return x;
}

static int dhcp_run(struct kiln_net *n, uint64_t deadline, kiln_log_fn log, void *log_ud)
{
        uint64_t start = now_ms();
        uint32_t xid = new_xid(), backoff = 1000;
        uint8_t type = KILN_DHCP_DISCOVER, pkt[KILN_DHCP_MAX_PACKET];
        unsigned tries = 0, bad = 0;
        char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
        _cleanup_close_ int fd = -1;
        int r;

        fd = dhcp_socket(n->ifname);
        if (fd < 0)
                return fd;
        for (;;) {
                uint64_t now = now_ms(), until;

                if (now >= deadline)
                        return kiln_errorf(-ETIMEDOUT, "dhcp on %s: no %s after %llu s", n->ifname,
                                           type == KILN_DHCP_DISCOVER ? "offer" : "acknowledgement",
                                           (unsigned long long)(now - start) / 1000);
                r = dhcp_send(fd, n, type, xid, start);
                if (r < 0)
                        return r;
                tries++;
                until = MIN(now + backoff, deadline);
                for (;;) {
                        struct pollfd p = { .fd = fd, .events = POLLIN };
                        struct kiln_dhcp_lease l;
                        ssize_t len;

                        now = now_ms();
                        if (now >= until)
                                break;
                        r = poll(&p, 1, (int)(until - now));
                        if (r < 0 && errno != EINTR)
                                return kiln_errorf(-errno, "dhcp on %s: poll: %s", n->ifname, strerror(errno));
                        if (r <= 0)
                                continue;
                        len = recv(fd, pkt, sizeof(pkt), MSG_TRUNC);
                        /* MSG_TRUNC: the real length, so a cut-off reply is seen as one. */
                        if (len < 0 || (size_t)len > sizeof(pkt))
                                continue;
                        r = kiln_dhcp_parse(pkt, (size_t)len, xid, n->mac, &l);
                        if (r == -ENOMSG)
                                continue;
                        if (r < 0) {
                                if (bad++ == 0)
                                        logf_(log, log_ud, "dhcp on %s: ignoring a reply: %s", n->ifname,
                                              kiln_last_error());
                                continue;
                        }
                        if (type == KILN_DHCP_DISCOVER && l.type == KILN_DHCP_OFFER) {
                                n->lease = l;
                                logf_(log, log_ud, "dhcp on %s: offer of %s from %s", n->ifname, ip(l.yiaddr, a),
                                      ip(l.server, b));
                                type = KILN_DHCP_REQUEST;
                        } else if (type == KILN_DHCP_REQUEST && l.type == KILN_DHCP_ACK) {
                                if (l.yiaddr != n->lease.yiaddr)
                                        continue;
                                n->lease = l;
                                return 0;
                        } else if (type == KILN_DHCP_REQUEST && l.type == KILN_DHCP_NAK) {
                                logf_(log, log_ud, "dhcp on %s: %s refused %s, starting over", n->ifname,
                                      ip(l.server, b), ip(n->lease.yiaddr, a));
                                type = KILN_DHCP_DISCOVER;
                                xid = new_xid();
                        } else {
                                continue;
                        }
                        /* Answer right away, with a fresh backoff. */
                        backoff = 500;
                        tries = 0;
                        break;
                }
                if (type == KILN_DHCP_REQUEST && tries >= REQUEST_TRIES) {
                        type = KILN_DHCP_DISCOVER;
                        xid = new_xid();
                        tries = 0;
                }
                backoff = MIN(backoff * 2, MAX_BACKOFF_MS);
        }
}

static int configure(int fd, struct kiln_net *n, uint32_t extra_host, kiln_log_fn log, void *log_ud)
{
        const struct kiln_dhcp_lease *l = &n->lease;
        uint32_t subnet = l->yiaddr & l->mask;
        struct ifreq ifr;
        char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];
        unsigned nr = 0;
        int r;

        ifr_init(&ifr, n->ifname);
        set_sin(&ifr.ifr_addr, l->yiaddr);
        if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
                return kiln_errorf(-errno, "%s: cannot set address %s: %s", n->ifname, ip(l->yiaddr, a),
                                   strerror(errno));
        n->configured = true;
        ifr_init(&ifr, n->ifname);
        set_sin(&ifr.ifr_netmask, l->mask);
        if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
                return kiln_errorf(-errno, "%s: cannot set netmask %s: %s", n->ifname, ip(l->mask, a),
                                   strerror(errno));
        ifr_init(&ifr, n->ifname);
        set_sin(&ifr.ifr_broadaddr, l->yiaddr | ~l->mask);
        if (ioctl(fd, SIOCSIFBRDADDR, &ifr) < 0)
                return kiln_errorf(-errno, "%s: cannot set the broadcast address: %s", n->ifname, strerror(errno));

        if (l->router) {
                /* A router off the subnet (a /32 lease) needs a route to itself first. */
                if ((l->router & l->mask) != subnet) {
                        r = route(fd, SIOCADDRT, n->ifname, l->router, 0xffffffffu, 0);
                        if (r < 0 && r != -EEXIST)
                                return kiln_errorf(r, "%s: cannot add a route to router %s: %s", n->ifname,
                                                   ip(l->router, a), strerror(-r));
                        if (r == 0)
                                n->routes[nr++] = l->router;
                }
                r = route(fd, SIOCADDRT, n->ifname, 0, 0, l->router);
                if (r < 0 && r != -EEXIST)
                        return kiln_errorf(r, "%s: cannot add a default route via %s: %s", n->ifname,
                                           ip(l->router, a), strerror(-r));
                n->default_route = r == 0;
        } else if (extra_host && (extra_host & l->mask) != subnet) {
                r = route(fd, SIOCADDRT, n->ifname, extra_host, 0xffffffffu, 0);
                if (r < 0 && r != -EEXIST)
                        return kiln_errorf(r, "%s: cannot add a route to %s: %s", n->ifname, ip(extra_host, a),
                                           strerror(-r));
                if (r == 0)
                        n->routes[nr++] = extra_host;
        }
        logf_(log, log_ud, "dhcp on %s: %s/%d, router %s, lease %u s", n->ifname, ip(l->yiaddr, a),
              __builtin_popcount(l->mask), l->router ? ip(l->router, b) : "none", l->lease);
        return 0;
}

int kiln_net_up(const char *root, const char *ifname, uint32_t extra_host, unsigned timeout_ms, kiln_log_fn log,
                void *log_ud, struct kiln_net *ret)
{
        uint64_t deadline = now_ms() + timeout_ms;
        struct kiln_net n = { 0 };
        struct ifreq ifr;
        _cleanup_close_ int fd = -1;
        int r;

        if (ifname) {
                if (strlen(ifname) >= IF_NAMESIZE)
                        return kiln_errorf(-EINVAL, "interface name '%s' is too long", ifname);
                snprintf(n.ifname, sizeof(n.ifname), "%s", ifname);
        } else {
                r = kiln_net_find_nic(root, n.ifname, &n.ifindex);
                if (r < 0)
                        return r;
        }
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return kiln_errorf(-errno, "socket: %s", strerror(errno));
        ifr_init(&ifr, n.ifname);
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
                return kiln_errorf(-errno, "%s: cannot read the hardware address: %s", n.ifname, strerror(errno));
        if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
                return kiln_errorf(-EOPNOTSUPP, "%s: not an ethernet interface", n.ifname);
        memcpy(n.mac, ifr.ifr_hwaddr.sa_data, 6);
        ifr_init(&ifr, n.ifname);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return kiln_errorf(-errno, "%s: cannot read the link flags: %s", n.ifname, strerror(errno));
        n.old_flags = ifr.ifr_flags;
        n.ifindex = n.ifindex ? n.ifindex : (int)if_nametoindex(n.ifname);
        if (!(ifr.ifr_flags & IFF_UP)) {
                ifr.ifr_flags |= IFF_UP;
                if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                        return kiln_errorf(-errno, "%s: cannot bring the link up: %s", n.ifname, strerror(errno));
                n.up = true;
        }
        logf_(log, log_ud, "dhcp on %s (%02x:%02x:%02x:%02x:%02x:%02x)", n.ifname, n.mac[0], n.mac[1], n.mac[2],
              n.mac[3], n.mac[4], n.mac[5]);
        r = dhcp_run(&n, deadline, log, log_ud);
        if (r >= 0)
                r = configure(fd, &n, extra_host, log, log_ud);
        if (r < 0) {
                int saved = r;

                kiln_net_down(&n);
                /* kiln_net_down() may have replaced the message; keep the first. */
                return saved;
        }
        *ret = n;
        return 0;
}

int kiln_net_down(struct kiln_net *n)
{
        _cleanup_close_ int fd = -1;
        struct ifreq ifr;
        int r = 0;

        if (!n->ifname[0] || (!n->configured && !n->up))
                return 0;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (n->default_route && route(fd, SIOCDELRT, n->ifname, 0, 0, n->lease.router) < 0 && errno != ESRCH)
                r = -errno;
        for (size_t i = 0; i < ARRAY_SIZE(n->routes); i++)
                if (n->routes[i])
                        route(fd, SIOCDELRT, n->ifname, n->routes[i], 0xffffffffu, 0);
        if (n->configured) {
                /* Setting 0.0.0.0 deletes the address, and the kernel drops its routes with it. */
                ifr_init(&ifr, n->ifname);
                set_sin(&ifr.ifr_addr, 0);
                if (ioctl(fd, SIOCSIFADDR, &ifr) < 0 && r == 0)
                        r = -errno;
        }
        if (n->up) {
                ifr_init(&ifr, n->ifname);
                if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
                        ifr.ifr_flags &= (short)~IFF_UP;
                        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0 && r == 0)
                                r = -errno;
                }
        }
        n->default_route = false;
        memset(n->routes, 0, sizeof(n->routes));
        n->configured = false;
        n->up = false;
        if (r < 0)
                return kiln_errorf(r, "%s: cannot remove the ephemeral network: %s", n->ifname, strerror(-r));
        return 0;
}
