/* SPDX-License-Identifier: MIT */
/*
 * `kiln imds`: the instance metadata service of `kiln run`.
 *
 *   kiln imds serve DIR       one connection on stdin/stdout, as QEMU's
 *                             guestfwd=...-cmd: runs it for each guest
 *                             connection: requests are answered until EOF,
 *                             "Connection: close", a malformed request or
 *                             the idle timeout (60 s).  At most the folder's
 *                             max_connections (16) are served at once, each
 *                             holding a flock'd slot in DIR/slots/; past
 *                             that a connection gets 429 Too Many Requests
 *   kiln imds listen DIR --port N [--bind ADDR]
 *                             the same on a TCP socket (127.0.0.1 unless
 *                             --bind), a process per connection (at most
 *                             512 at once; the slots are serve's); prints
 *                             "listening on ADDR:PORT" (--port 0: a free
 *                             port); SIGTERM or SIGINT stop it
 *   kiln imds write DIR --instance-id ID --ami-id AMI [...]
 *                             write a state folder, as `kiln run` does
 *                             (one NIC: device-number, local-hostname,
 *                             local-ipv4s, mac; --max-connections N)
 *
 * DIR is read once (boot/imds.h: kiln_imds_load); every answer then comes
 * from memory.  A guest cannot crash the server: a bad request gets its
 * 4xx and the connection is closed after the response has been delivered.
 * When DIR cannot be read, serve says so once and answers 500 (which
 * clients retry) until the connection ends, exiting 1.  QEMU hands serve
 * the connection as stderr too: then nothing but HTTP is written to it
 * (errors are dropped; -v and --log FILE log one line per request).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "http.h"
#include "imds.h"
#include "util.h"

#define IDLE_DEFAULT 60    /* seconds without a byte before a connection is dropped */
#define MAX_CHILDREN 512   /* connections served at once by `listen` */
#define LINGER_MS 2000     /* after an error: how long unread input is drained */
#define LINGER_BYTES (1u << 20)

static FILE *request_log; /* -v: stderr; --log FILE; NULL: none */
static bool stderr_muted;  /* serve under QEMU: stderr is the guest's connection */

static void vmsg(FILE *f, const char *fmt, va_list ap)
{
        kiln_vprint_line(f, "kiln imds: ", fmt, ap);
        fflush(f);
}

/* Errors: one line on stderr (unless it is the connection). */
static void _printf_(1, 2) imds_msg(const char *fmt, ...)
{
        va_list ap;

        if (stderr_muted)
                return;
        va_start(ap, fmt);
        vmsg(stderr, fmt, ap);
        va_end(ap);
}

static void _printf_(1, 2) log_line(const char *fmt, ...)
{
        va_list ap;

        if (!request_log)
                return;
        va_start(ap, fmt);
        vmsg(request_log, fmt, ap);
        va_end(ap);
}

static void usage(FILE *f)
{
        fputs("usage: kiln imds serve DIR [--timeout SECONDS] [-v|--verbose] [--log FILE]\n"
              "       kiln imds listen DIR --port N [--bind ADDR] [--timeout SECONDS] [-v|--verbose] [--log FILE]\n"
              "       kiln imds write DIR --instance-id ID --ami-id AMI [--instance-type TYPE]\n"
              "                       [--hostname NAME] [--local-ipv4 ADDR] [--mac MAC]\n"
              "                       [--availability-zone AZ] [--key-name NAME] [--public-key FILE]\n"
              "                       [--user-data FILE] [--block-device NAME=DEVICE]... [--imds-v1]\n"
              "                       [--max-connections N]\n",
              f);
}

static uint64_t now_s(void)
{
        return (uint64_t)time(NULL);
}

/* Tokens live to the millisecond (boot/imds.h): the wall clock, shared by
 * every serve process. */
static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_all(int fd, struct iovec *iov, int n)
{
        while (n > 0) {
                ssize_t w = writev(fd, iov, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0)
                        return -errno;
                while (n > 0 && (size_t)w >= iov->iov_len) {
                        w -= (ssize_t)iov->iov_len;
                        iov++;
                        n--;
                }
                if (n > 0) {
                        iov->iov_base = (char *)iov->iov_base + w;
                        iov->iov_len -= (size_t)w;
                }
        }
        return 0;
}

static int send_response(int out, const struct kiln_imds_response *r)
{
        char head[KILN_IMDS_HEAD_MAX];
        int n = kiln_imds_response_head(r, now_s(), head, sizeof(head));
        struct iovec iov[2] = {
                { head, n > 0 ? (size_t)n : 0 },
                { (void *)r->body, r->body_len },
        };

        if (n < 0)
                return n;
        return send_all(out, iov, r->body_len ? 2 : 1);
}

static void log_request(const struct kiln_http_request *req, int status)
{
        log_line("%s %.*s %d", req ? kiln_http_method_to_string(req->method) : "-", req ? (int)MIN(req->target.len, 200) : 1,
                  req ? req->target.ptr : "-", status);
}

/* After answering an error: stop sending, then read (and drop) what the
 * client still sends for a while, so closing does not reset the connection
 * and destroy the answer before the client has read it. */
static void linger_close(int in, int out)
{
        char junk[4096];
        size_t total = 0;
        struct timespec start, t;

        if (shutdown(out, SHUT_WR) < 0 && errno == ENOTSOCK)
                close(out);
        clock_gettime(CLOCK_MONOTONIC, &start);
        while (total < LINGER_BYTES) {
                clock_gettime(CLOCK_MONOTONIC, &t);
                long ms = (t.tv_sec - start.tv_sec) * 1000 + (t.tv_nsec - start.tv_nsec) / 1000000;
                if (ms >= LINGER_MS)
                        break;
                struct pollfd p = { .fd = in, .events = POLLIN };
                int k = poll(&p, 1, (int)(LINGER_MS - ms));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                ssize_t n = read(in, junk, sizeof(junk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                total += (size_t)n;
        }
}

/* Serve one connection: requests in order (pipelined ones too) until EOF,
 * close, an error or idle seconds of silence.  Throttled (over the
 * connection cap): the first request gets 429 and the connection ends. */
static int serve_connection(const struct kiln_imds_state *st, int in, int out, int idle, bool throttled)
{
        size_t cap = KILN_HTTP_REQUEST_MAX, len = 0;
        _cleanup_free_ char *buf = malloc(cap);
        _cleanup_free_ struct kiln_http_request *req = malloc(sizeof(*req));
        int k;

        if (!buf || !req)
                return -ENOMEM;
        for (;;) {
                if (len > 0) {
                        struct kiln_imds_response r;
                        k = kiln_http_parse(buf, len, req);
                        if (k < 0) {
                                kiln_imds_respond_error(k, &r);
                                log_request(NULL, r.status);
                                send_response(out, &r);
                                linger_close(in, out);
                                return 0;
                        }
                        if (k > 0) {
                                /* No state (DIR did not load) or no memory: 500, which clients retry. */
                                int e = 0;
                                if (throttled)
                                        kiln_imds_respond_throttled(&r);
                                else
                                        e = st ? kiln_imds_respond(st, req, now_ms(), &r) : -ENOENT;
                                if (e < 0) {
                                        r = (struct kiln_imds_response){ .status = 500, .close = true,
                                                                         .body = (const uint8_t *)"Internal Server Error",
                                                                         .body_len = 21 };
                                }
                                log_request(req, r.status);
                                e = send_response(out, &r);
                                kiln_imds_response_free(&r);
                                if (e < 0)
                                        return 0; /* the client went away */
                                memmove(buf, buf + k, len - (size_t)k);
                                len -= (size_t)k;
                                if (r.close) {
                                        linger_close(in, out);
                                        return 0;
                                }
                                continue;
                        }
                }
                if (len >= cap) { /* cannot happen: the parser's limits come first */
                        struct kiln_imds_response r;
                        kiln_imds_respond_error(-EMSGSIZE, &r);
                        send_response(out, &r);
                        linger_close(in, out);
                        return 0;
                }
                struct pollfd p = { .fd = in, .events = POLLIN };
                k = poll(&p, 1, idle * 1000);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0; /* idle: drop it, as EC2 does */
                ssize_t n = read(in, buf + len, cap - len);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n <= 0)
                        return 0; /* EOF (a partial request is dropped) or a reset */
                len += (size_t)n;
        }
}

struct common_opts {
        const char *dir;
        const char *bind;
        long port;
        int timeout;
};

static int parse_int(const char *s, long min, long max, long *ret)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Options of serve and listen; 0, 1 (--help shown) or 2 (usage error). */
static int parse_common(int argc, char **argv, bool listen_, struct common_opts *o)
{
        static const struct option opts[] = {
                { "port", required_argument, NULL, 'p' },
                { "bind", required_argument, NULL, 'b' },
                { "timeout", required_argument, NULL, 't' },
                { "verbose", no_argument, NULL, 'v' },
                { "log", required_argument, NULL, 'l' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        long v;
        int c;

        o->bind = "127.0.0.1";
        o->port = -1;
        o->timeout = IDLE_DEFAULT;
        optind = 1;
        while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
                switch (c) {
                case 'p':
                        if (!listen_ || parse_int(optarg, 0, 65535, &o->port) < 0) {
                                imds_msg(listen_ ? "bad port '%s' (expected 0..65535)" : "--port is for listen",
                                          optarg);
                                return 2;
                        }
                        break;
                case 'b':
                        if (!listen_) {
                                imds_msg("--bind is for listen");
                                return 2;
                        }
                        o->bind = optarg;
                        break;
                case 't':
                        if (parse_int(optarg, 1, 3600, &v) < 0) {
                                imds_msg("bad timeout '%s' (expected 1..3600 seconds)", optarg);
                                return 2;
                        }
                        o->timeout = (int)v;
                        break;
                case 'v':
                        if (!request_log)
                                request_log = stderr;
                        break;
                case 'l':
                        if (request_log && request_log != stderr)
                                fclose(request_log);
                        request_log = fopen(optarg, "ae");
                        if (!request_log) {
                                imds_msg("cannot open log '%s': %m", optarg);
                                return 2;
                        }
                        break;
                case 'h': usage(stdout); return 1;
                default: usage(stderr); return 2;
                }
        }
        if (optind != argc - 1) {
                imds_msg("expected one state folder (see 'kiln imds --help')");
                return 2;
        }
        o->dir = argv[optind];
        if (listen_ && o->port < 0) {
                imds_msg("listen needs --port N (0 picks a free port)");
                return 2;
        }
        return 0;
}

static int do_serve(int argc, char **argv)
{
        struct common_opts o;
        struct kiln_imds_state *st = NULL;
        int k = parse_common(argc, argv, false, &o);

        if (k)
                return k == 1 ? 0 : 2;
        signal(SIGPIPE, SIG_IGN);
        /* QEMU's guestfwd hands the connection over as stdin, stdout and
         * stderr alike: then nothing but HTTP may be written to it. */
        struct stat so, se;
        if (fstat(STDOUT_FILENO, &so) == 0 && fstat(STDERR_FILENO, &se) == 0 && so.st_dev == se.st_dev &&
            so.st_ino == se.st_ino && S_ISSOCK(so.st_mode)) {
                stderr_muted = true;
                if (request_log == stderr)
                        request_log = NULL;
        }
        k = kiln_imds_load(o.dir, &st);
        if (k < 0) {
                /* Said once; the guest's requests get 500 until it gives up. */
                imds_msg("%s", kiln_last_error());
                serve_connection(NULL, STDIN_FILENO, STDOUT_FILENO, o.timeout, false);
                return 1;
        }
        /* A slot of the folder's, held (flock) until this process ends. */
        int slot = -1;
        k = kiln_imds_slot_take(o.dir, kiln_imds_max_connections(st), &slot);
        if (k < 0 && k != -EBUSY) {
                imds_msg("%s", kiln_last_error());
                kiln_imds_state_free(st);
                serve_connection(NULL, STDIN_FILENO, STDOUT_FILENO, o.timeout, false);
                return 1;
        }
        if (k == -EBUSY)
                log_line("%u connections already: 429 for this one", kiln_imds_max_connections(st));
        k = serve_connection(st, STDIN_FILENO, STDOUT_FILENO, o.timeout, k == -EBUSY);
        kiln_imds_state_free(st);
        if (slot >= 0)
                close(slot);
        if (k < 0 && k != -ECONNRESET && k != -EPIPE) {
                imds_msg("connection on stdin: %s", strerror(-k));
                return 1;
        }
        return 0;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
        stop_signal = sig;
}

static int open_listener(const struct common_opts *o, char *where, size_t wlen)
{
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                                  .ai_socktype = SOCK_STREAM };
        struct addrinfo *ai = NULL;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char port[16], host[NI_MAXHOST], serv[NI_MAXSERV];
        int one = 1, fd, k;

        snprintf(port, sizeof(port), "%ld", o->port);
        k = getaddrinfo(o->bind, port, &hints, &ai);
        if (k) {
                imds_msg("cannot listen on '%s': not a numeric IPv4 or IPv6 address", o->bind);
                return -1;
        }
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 256) < 0 ||
            getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
            getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), serv, sizeof(serv),
                        NI_NUMERICHOST | NI_NUMERICSERV)) {
                imds_msg("cannot listen on '%s' port %ld: %m", o->bind, o->port);
                if (fd >= 0)
                        close(fd);
                freeaddrinfo(ai);
                return -1;
        }
        snprintf(where, wlen, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
        freeaddrinfo(ai);
        return fd;
}

struct children {
        pid_t pid[MAX_CHILDREN];
        size_t n;
};

static void reap(struct children *c, bool block)
{
        pid_t pid;

        while (c->n && (pid = waitpid(-1, NULL, block ? 0 : WNOHANG)) > 0) {
                for (size_t i = 0; i < c->n; i++)
                        if (c->pid[i] == pid) {
                                c->pid[i] = c->pid[--c->n];
                                break;
                        }
        }
}

static int do_listen(int argc, char **argv)
{
        struct common_opts o;
        struct kiln_imds_state *st = NULL;
        struct children kids = { .n = 0 };
        char where[NI_MAXHOST + NI_MAXSERV + 4];
        struct sigaction sa = { .sa_handler = on_stop };
        int k = parse_common(argc, argv, true, &o), lfd;

        if (k)
                return k == 1 ? 0 : 2;
        signal(SIGPIPE, SIG_IGN);
        k = kiln_imds_load(o.dir, &st);
        if (k < 0) {
                imds_msg("%s", kiln_last_error());
                return 1;
        }
        lfd = open_listener(&o, where, sizeof(where));
        if (lfd < 0) {
                kiln_imds_state_free(st);
                return 1;
        }
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: poll() returns EINTR */
        sigaction(SIGINT, &sa, NULL);
        printf("listening on %s\n", where);
        fflush(stdout);

        while (!stop_signal) {
                reap(&kids, false);
                if (kids.n >= MAX_CHILDREN) {
                        struct timespec ts = { 0, 50 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                        continue;
                }
                struct pollfd p = { .fd = lfd, .events = POLLIN };
                k = poll(&p, 1, 500);
                if (k <= 0)
                        continue;
                int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (cfd < 0)
                        continue; /* EINTR, a client that gave up, EMFILE: try again */
                pid_t pid = fork();
                if (pid == 0) {
                        signal(SIGTERM, SIG_DFL);
                        signal(SIGINT, SIG_DFL);
                        close(lfd);
                        k = serve_connection(st, cfd, cfd, o.timeout, false);
                        close(cfd);
                        _exit(k < 0 ? 1 : 0);
                }
                if (pid < 0)
                        imds_msg("cannot fork for a connection: %m");
                else
                        kids.pid[kids.n++] = pid;
                close(cfd);
        }
        close(lfd);
        for (size_t i = 0; i < kids.n; i++)
                kill(kids.pid[i], SIGTERM);
        reap(&kids, true);
        kiln_imds_state_free(st);
        return 0;
}

static int read_file_arg(const char *what, const char *path, uint8_t **ret, size_t *ret_len)
{
        int k = read_full_file(path, KILN_IMDS_FILE_MAX, ret, ret_len);

        if (k == -EFBIG)
                imds_msg("%s '%s' is larger than %u bytes", what, path, KILN_IMDS_FILE_MAX);
        else if (k == -EINVAL)
                imds_msg("%s '%s' is not a regular file", what, path);
        else if (k < 0)
                imds_msg("cannot read %s '%s': %s", what, path, strerror(-k));
        return k;
}

static int do_write(int argc, char **argv)
{
        static const struct option opts[] = {
                { "instance-id", required_argument, NULL, 'i' },
                { "ami-id", required_argument, NULL, 'a' },
                { "instance-type", required_argument, NULL, 't' },
                { "hostname", required_argument, NULL, 'H' },
                { "local-ipv4", required_argument, NULL, '4' },
                { "mac", required_argument, NULL, 'm' },
                { "availability-zone", required_argument, NULL, 'z' },
                { "key-name", required_argument, NULL, 'k' },
                { "public-key", required_argument, NULL, 'K' },
                { "user-data", required_argument, NULL, 'u' },
                { "block-device", required_argument, NULL, 'b' },
                { "imds-v1", no_argument, NULL, '1' },
                { "max-connections", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct kiln_imds_instance in = {
                .instance_type = "t3.micro",
                .local_ipv4 = "10.0.2.15",   /* QEMU's user network gives the guest this */
                .mac = "52:54:00:12:34:56",  /* and QEMU's first NIC this */
                .availability_zone = "us-east-1a",
        };
        static struct kiln_imds_bdm bdm[64];
        static const struct kiln_imds_bdm default_bdm[] = { { "ami", "/dev/xvda" }, { "root", "/dev/xvda" } };
        _cleanup_free_ uint8_t *user_data = NULL, *public_key = NULL;
        _cleanup_free_ char *hostname = NULL;
        const char *user_data_path = NULL, *public_key_path = NULL;
        size_t n_bdm = 0, len;
        int c, k;

        optind = 1;
        while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (c) {
                case 'i': in.instance_id = optarg; break;
                case 'a': in.ami_id = optarg; break;
                case 't': in.instance_type = optarg; break;
                case 'H': in.hostname = optarg; break;
                case '4': in.local_ipv4 = optarg; break;
                case 'm': in.mac = optarg; break;
                case 'z': in.availability_zone = optarg; break;
                case 'k': in.key_name = optarg; break;
                case 'K': public_key_path = optarg; break;
                case 'u': user_data_path = optarg; break;
                case '1': in.imds_v1 = true; break;
                case 'c': {
                        long v;
                        if (parse_int(optarg, 1, KILN_IMDS_CONN_MAX, &v) < 0) {
                                imds_msg("bad --max-connections '%s' (expected 1..%u)", optarg, KILN_IMDS_CONN_MAX);
                                return 2;
                        }
                        in.max_connections = (uint32_t)v;
                        break;
                }
                case 'b': {
                        char *eq = strchr(optarg, '=');
                        if (!eq || eq == optarg || !eq[1]) {
                                imds_msg("bad block device '%s' (expected NAME=DEVICE, like ephemeral0=sdb)", optarg);
                                return 2;
                        }
                        if (n_bdm >= ARRAY_SIZE(bdm)) {
                                imds_msg("more than %zu block devices", ARRAY_SIZE(bdm));
                                return 2;
                        }
                        *eq = 0;
                        bdm[n_bdm++] = (struct kiln_imds_bdm){ optarg, eq + 1 };
                        break;
                }
                case 'h': usage(stdout); return 0;
                default: usage(stderr); return 2;
                }
        }
        if (optind != argc - 1) {
                imds_msg("expected one state folder (see 'kiln imds --help')");
                return 2;
        }
        if (!in.instance_id || !in.ami_id) {
                imds_msg("write needs --instance-id and --ami-id");
                return 2;
        }
        if (!in.hostname) {
                /* EC2's private DNS name: ip-10-0-2-15.ec2.internal */
                if (asprintf(&hostname, "ip-%s.ec2.internal", in.local_ipv4) < 0)
                        return 1;
                for (char *p = hostname + 3, *end = strstr(hostname, ".ec2.internal"); p < end; p++)
                        if (*p == '.')
                                *p = '-';
                in.hostname = hostname;
        }
        if (public_key_path) {
                if (read_file_arg("public key", public_key_path, &public_key, &len) < 0)
                        return 1;
                /* EC2 serves the key line without trailing white space. */
                while (len && (public_key[len - 1] == '\n' || public_key[len - 1] == ' '))
                        public_key[--len] = 0;
                if (memchr(public_key, 0, len)) {
                        imds_msg("public key '%s' holds a NUL byte", public_key_path);
                        return 1;
                }
                in.public_key = (const char *)public_key;
        }
        if (user_data_path) {
                if (read_file_arg("user data", user_data_path, &user_data, &len) < 0)
                        return 1;
                in.user_data = user_data;
                in.user_data_len = len;
        }
        in.bdm = n_bdm ? bdm : default_bdm;
        in.n_bdm = n_bdm ? n_bdm : ARRAY_SIZE(default_bdm);
        k = kiln_imds_dir_write(argv[optind], &in);
        if (k < 0) {
                imds_msg("%s", kiln_last_error());
                return 1;
        }
        return 0;
}

int cmd_imds(int argc, char **argv)
{
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *sub = argv[1];
        if (!strcmp(sub, "serve"))
                return do_serve(argc - 1, argv + 1);
        if (!strcmp(sub, "listen"))
                return do_listen(argc - 1, argv + 1);
        if (!strcmp(sub, "write"))
                return do_write(argc - 1, argv + 1);
        if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
                usage(stdout);
                return 0;
        }
        imds_msg("unknown subcommand '%s' (expected serve, listen or write)", sub);
        return 2;
}
