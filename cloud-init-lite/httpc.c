/* SPDX-License-Identifier: MIT */
/*
 * A tiny HTTP/1.1 client (see httpc.h).  The head parser and the chunked
 * decoder at the top are pure; the socket code below them is the only I/O.
 */
#include "httpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "util.h"

#define MAX_LINE 4096           /* a chunk-size or trailer line */
#define MAX_TRAILER 16384       /* all trailer lines together */
#define MAX_CL (UINT64_C(1) << 62)

static int head_error(const char *fmt, ...) _printf_(1, 2);
static int head_error(const char *fmt, ...)
{
        char msg[200];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        kiln_errorf(-EBADMSG, "http response: %s", msg);
        return -EBADMSG;
}

static bool is_tchar(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* value[0..n) without surrounding blanks. */
static void trim(const char **v, size_t *n)
{
        while (*n && (**v == ' ' || **v == '\t'))
                (*v)++, (*n)--;
        while (*n && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
                (*n)--;
}

static bool name_is(const char *name, size_t n, const char *want)
{
        return strlen(want) == n && !strncasecmp(name, want, n);
}

int kiln_http_parse_head(const void *buf, size_t len, struct kiln_http_head *ret)
{
        const char *s = buf, *end;
        struct kiln_http_head h = { 0 };
        size_t pos = 0, n_headers = 0, limit = MIN(len, (size_t)KILN_HTTP_MAX_HEAD);
        bool first = true;

        for (;;) {
                const char *line = s + pos, *nl = memchr(line, '\n', limit - pos);
                size_t n;

                if (!nl) {
                        if (len >= KILN_HTTP_MAX_HEAD)
                                return head_error("head longer than %d bytes", KILN_HTTP_MAX_HEAD);
                        return -EAGAIN;
                }
                n = (size_t)(nl - line);
                pos += n + 1;
                if (n && line[n - 1] == '\r')
                        n--;
                if (memchr(line, 0, n))
                        return head_error("NUL byte in the head");
                if (first) {
                        /* HTTP/1.x SSS[ reason] */
                        if (n < 12 || memcmp(line, "HTTP/1.", 7) || line[7] < '0' || line[7] > '9' ||
                            line[8] != ' ' || line[9] < '1' || line[9] > '9' || line[10] < '0' || line[10] > '9' ||
                            line[11] < '0' || line[11] > '9' || (n > 12 && line[12] != ' '))
                                return head_error("bad status line '%.*s'", (int)MIN(n, (size_t)60), line);
                        h.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
                        first = false;
                        continue;
                }
                if (n == 0)
                        break;
                if (line[0] == ' ' || line[0] == '\t')
                        return head_error("folded header line (obsolete) after line %zu", n_headers + 1);
                if (++n_headers > KILN_HTTP_MAX_HEADERS)
                        return head_error("more than %d header lines", KILN_HTTP_MAX_HEADERS);
                const char *colon = memchr(line, ':', n);
                if (!colon || colon == line)
                        return head_error("header line without a name and a colon: '%.*s'",
                                          (int)MIN(n, (size_t)60), line);
                size_t nlen = (size_t)(colon - line), vlen = n - nlen - 1;
                const char *v = colon + 1;
                for (size_t i = 0; i < nlen; i++)
                        if (!is_tchar(line[i]))
                                return head_error("bad character in header name '%.*s'",
                                                  (int)MIN(nlen, (size_t)60), line);
                trim(&v, &vlen);
                if (name_is(line, nlen, "content-length")) {
                        uint64_t cl = 0;

                        if (vlen == 0)
                                return head_error("empty Content-Length");
                        for (size_t i = 0; i < vlen; i++) {
                                if (v[i] < '0' || v[i] > '9')
                                        return head_error("bad Content-Length '%.*s'", (int)MIN(vlen, (size_t)40),
                                                          v);
                                cl = cl * 10 + (uint64_t)(v[i] - '0');
                                if (cl > MAX_CL)
                                        return head_error("Content-Length too large");
                        }
                        if (h.has_length && h.content_length != cl)
                                return head_error("conflicting Content-Length headers");
                        h.has_length = true;
                        h.content_length = cl;
                } else if (name_is(line, nlen, "transfer-encoding")) {
                        if (vlen != 7 || strncasecmp(v, "chunked", 7))
                                return head_error("unsupported Transfer-Encoding '%.*s'",
                                                  (int)MIN(vlen, (size_t)40), v);
                        h.chunked = true;
                }
        }
        end = s + pos;
        h.head_len = (size_t)(end - s);
        /* Transfer-Encoding overrides Content-Length (RFC 9112 6.3). */
        if (h.chunked) {
                h.has_length = false;
                h.content_length = 0;
        }
        *ret = h;
        return 0;
}

enum {
        C_SIZE,
        C_EXT,
        C_DATA,
        C_DATA_CR,
        C_DATA_LF,
        C_TRAILER,
        C_TRAILER_LINE,
        C_TRAILER_LF,
};

static long chunk_error(const char *what)
{
        kiln_errorf(-EBADMSG, "http response: bad chunked body: %s", what);
        return -EBADMSG;
}

static void end_size_line(struct kiln_http_chunked *c)
{
        c->line = 0;
        c->state = c->left ? C_DATA : C_TRAILER;
}

long kiln_http_chunked_feed(struct kiln_http_chunked *c, const uint8_t *in, size_t len, uint8_t *out,
                            size_t out_size, size_t *out_len)
{
        size_t i = 0;

        while (i < len && !c->done) {
                uint8_t b = in[i];

                switch (c->state) {
                case C_SIZE: {
                        int d = b >= '0' && b <= '9' ? b - '0' : b >= 'a' && b <= 'f' ? b - 'a' + 10
                                                       : b >= 'A' && b <= 'F' ? b - 'A' + 10 : -1;
                        if (d >= 0) {
                                if (++c->digits > 15)
                                        return chunk_error("chunk size too large");
                                c->left = c->left * 16 + (uint64_t)d;
                        } else if (!c->digits) {
                                return chunk_error("no chunk size");
                        } else if (b == ';' || b == ' ' || b == '\t' || b == '\r') {
                                c->state = C_EXT;
                        } else if (b == '\n') {
                                end_size_line(c);
                        } else {
                                return chunk_error("bad character in chunk size");
                        }
                        i++;
                        break;
                }
                case C_EXT:
                        if (b == '\n')
                                end_size_line(c);
                        else if (++c->line > MAX_LINE)
                                return chunk_error("chunk extension too long");
                        i++;
                        break;
                case C_DATA: {
                        size_t n = (size_t)MIN((uint64_t)(len - i), c->left);

                        if (n > out_size - *out_len) {
                                kiln_errorf(-EFBIG, "http response: body larger than %zu bytes", out_size);
                                return -EFBIG;
                        }
                        memcpy(out + *out_len, in + i, n);
                        *out_len += n;
                        c->left -= n;
                        i += n;
                        if (!c->left)
                                c->state = C_DATA_CR;
                        break;
                }
                case C_DATA_CR:
                case C_DATA_LF:
                        if (b == '\r' && c->state == C_DATA_CR) {
                                c->state = C_DATA_LF;
                        } else if (b == '\n') {
                                c->state = C_SIZE;
                                c->digits = 0;
                        } else {
                                return chunk_error("no line end after chunk data");
                        }
                        i++;
                        break;
                case C_TRAILER:
                        if (b == '\r') {
                                c->state = C_TRAILER_LF;
                        } else if (b == '\n') {
                                c->done = true;
                        } else {
                                c->state = C_TRAILER_LINE;
                                if (++c->line > MAX_TRAILER)
                                        return chunk_error("trailer too long");
                        }
                        i++;
                        break;
                case C_TRAILER_LINE:
                        if (b == '\n')
                                c->state = C_TRAILER;
                        else if (++c->line > MAX_TRAILER)
                                return chunk_error("trailer too long");
                        i++;
                        break;
                case C_TRAILER_LF:
                        if (b != '\n')
                                return chunk_error("no line end after the trailer");
                        c->done = true;
                        i++;
                        break;
                default:
                        return chunk_error("internal state");
                }
        }
        return (long)i;
}

/* --- I/O ------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct conn {
        int fd;
        uint64_t deadline;
        char url[160];
};

/* Wait for events on the socket until the deadline: 0, or -ETIMEDOUT. */
static int wait_fd(struct conn *c, short events, const char *doing)
{
        for (;;) {
                uint64_t now = now_ms();
                struct pollfd p = { .fd = c->fd, .events = events };
                int r;

                if (now >= c->deadline)
                        return kiln_errorf(-ETIMEDOUT, "%s: timed out %s", c->url, doing);
                r = poll(&p, 1, (int)MIN(c->deadline - now, (uint64_t)60000));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return kiln_errorf(-errno, "%s: poll: %s", c->url, strerror(errno));
                if (r > 0)
                        return 0;
        }
}

/* Read what is there: >0 bytes, 0 at EOF, -errno. */
static ssize_t conn_read(struct conn *c, void *buf, size_t size)
{
        for (;;) {
                ssize_t n;
                int r = wait_fd(c, POLLIN, "waiting for the response");

                if (r < 0)
                        return r;
                n = recv(c->fd, buf, size, 0);
                if (n >= 0)
                        return n;
                if (errno == EINTR || errno == EAGAIN)
                        continue;
                return kiln_errorf(-errno, "%s: cannot read the response: %s", c->url, strerror(errno));
        }
}

static int conn_open(struct conn *c, const char *host_ip, uint16_t port)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int err = 0, r;
        socklen_t elen = sizeof(err);

        if (inet_pton(AF_INET, host_ip, &sa.sin_addr) != 1)
                return kiln_errorf(-EINVAL, "'%s' is not an IPv4 address", host_ip);
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
                return kiln_errorf(-errno, "%s: socket: %s", c->url, strerror(errno));
        if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
                return 0;
        if (errno != EINPROGRESS)
                return kiln_errorf(-errno, "%s: cannot connect: %s", c->url, strerror(errno));
        r = wait_fd(c, POLLOUT, "connecting");
        if (r < 0)
                return r;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
                err = errno;
        if (err)
                return kiln_errorf(-err, "%s: cannot connect: %s", c->url, strerror(err));
        return 0;
}

static int conn_send(struct conn *c, const char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n;
                int r = wait_fd(c, POLLOUT, "sending the request");

                if (r < 0)
                        return r;
                n = send(c->fd, buf, len, MSG_NOSIGNAL);
                if (n < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (n < 0)
                        return kiln_errorf(-errno, "%s: cannot send the request: %s", c->url, strerror(errno));
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* Make room for need more bytes in *buf (capacity *cap), never beyond limit. */
static int grow(uint8_t **buf, size_t *cap, size_t used, size_t need, size_t limit)
{
        size_t want = used + need + 1;
        uint8_t *p;

        if (want <= *cap)
                return 0;
        want = MAX(want, *cap * 2);
        want = MIN(want, limit + 1);
        p = realloc(*buf, want);
        if (!p)
                return kiln_errorf(-ENOMEM, "out of memory");
        *buf = p;
        *cap = want;
        return 0;
}

int kiln_http_request(const char *method, const char *host_ip, uint16_t port, const char *path,
                      const char *const *headers, unsigned timeout_ms, size_t max_body, int *ret_status,
                      uint8_t **ret_body, size_t *ret_len)
{
        struct conn c = { .fd = -1, .deadline = now_ms() + timeout_ms };
        _cleanup_free_ char *req = NULL;
        _cleanup_free_ uint8_t *head = NULL, *body = NULL;
        size_t req_len = 0, head_used = 0, body_len = 0, body_cap = 0;
        struct kiln_http_head h;
        struct kiln_http_chunked ch = { 0 };
        FILE *f;
        int r;

        snprintf(c.url, sizeof(c.url), "http://%s:%u%.100s", host_ip, port, path);
        if (path[0] != '/' || strpbrk(path, " \r\n") || strpbrk(method, " \r\n"))
                return kiln_errorf(-EINVAL, "%s: bad method or path", c.url);
        for (const char *const *hp = headers; hp && *hp; hp++)
                if (strpbrk(*hp, "\r\n") || !strchr(*hp, ':'))
                        return kiln_errorf(-EINVAL, "%s: bad request header '%.60s'", c.url, *hp);

        f = open_memstream(&req, &req_len);
        if (!f)
                return kiln_errorf(-ENOMEM, "out of memory");
        fprintf(f, "%s %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: kiln/%s\r\nAccept: */*\r\nConnection: close\r\n",
                method, path, host_ip, port, KILN_VERSION);
        if (!strcmp(method, "PUT") || !strcmp(method, "POST"))
                fputs("Content-Length: 0\r\n", f);
        for (const char *const *hp = headers; hp && *hp; hp++)
                fprintf(f, "%s\r\n", *hp);
        fputs("\r\n", f);
        if (fclose(f) != 0 || !req)
                return kiln_errorf(-ENOMEM, "out of memory");

        r = conn_open(&c, host_ip, port);
        if (r >= 0)
                r = conn_send(&c, req, req_len);
        if (r < 0)
                goto out;

        /* The head, skipping interim 1xx responses. */
        head = malloc(KILN_HTTP_MAX_HEAD);
        if (!head) {
                r = kiln_errorf(-ENOMEM, "out of memory");
                goto out;
        }
        for (;;) {
                r = kiln_http_parse_head(head, head_used, &h);
                if (r == 0 && h.status >= 100 && h.status < 200) {
                        memmove(head, head + h.head_len, head_used - h.head_len);
                        head_used -= h.head_len;
                        continue;
                }
                if (r == 0)
                        break;
                if (r != -EAGAIN) {
                        kiln_error_prefix(r, "%s", c.url);
                        goto out;
                }
                ssize_t n = conn_read(&c, head + head_used, KILN_HTTP_MAX_HEAD - head_used);
                if (n < 0) {
                        r = (int)n;
                        goto out;
                }
                if (n == 0) {
                        r = kiln_errorf(-EPROTO, "%s: connection closed %s", c.url,
                                        head_used ? "in the middle of the response head" : "without a response");
                        goto out;
                }
                head_used += (size_t)n;
        }

        /* The body: what came with the head, then the rest. */
        size_t extra = head_used - h.head_len;
        const uint8_t *rest = head + h.head_len;
        bool no_body = !strcmp(method, "HEAD") || h.status == 204 || h.status == 304;

        if (h.has_length && h.content_length > max_body) {
                r = kiln_errorf(-EFBIG, "%s: response body of %llu bytes is larger than %zu", c.url,
                                (unsigned long long)h.content_length, max_body);
                goto out;
        }
        r = grow(&body, &body_cap, 0, 0, max_body);
        if (r < 0)
                goto out;
        for (bool complete = no_body || (h.has_length && h.content_length == 0);;) {
                if (extra > 0 && !complete) {
                        if (h.chunked) {
                                r = grow(&body, &body_cap, body_len, extra, max_body);
                                if (r < 0)
                                        goto out;
                                long used = kiln_http_chunked_feed(&ch, rest, extra, body, MIN(body_cap - 1, max_body),
                                                                   &body_len);
                                if (used < 0) {
                                        r = (int)used;
                                        kiln_error_prefix(r, "%s", c.url);
                                        goto out;
                                }
                                complete = ch.done;
                        } else {
                                size_t want = extra;

                                if (h.has_length)
                                        want = (size_t)MIN((uint64_t)extra, h.content_length - body_len);
                                if (want > max_body - body_len) {
                                        r = kiln_errorf(-EFBIG, "%s: response body larger than %zu bytes", c.url,
                                                        max_body);
                                        goto out;
                                }
                                r = grow(&body, &body_cap, body_len, want, max_body);
                                if (r < 0)
                                        goto out;
                                memcpy(body + body_len, rest, want);
                                body_len += want;
                                complete = h.has_length && body_len == h.content_length;
                        }
                }
                if (complete)
                        break;
                ssize_t n = conn_read(&c, head, KILN_HTTP_MAX_HEAD);
                if (n < 0) {
                        r = (int)n;
                        goto out;
                }
                if (n == 0) {
                        if (!h.chunked && !h.has_length)
                                break; /* delimited by the close */
                        if (h.has_length)
                                r = kiln_errorf(-EPROTO, "%s: connection closed after %zu of %llu body bytes",
                                                c.url, body_len, (unsigned long long)h.content_length);
                        else
                                r = kiln_errorf(-EPROTO, "%s: connection closed in the middle of a chunked body",
                                                c.url);
                        goto out;
                }
                rest = head;
                extra = (size_t)n;
        }
        body[body_len] = 0;
        *ret_status = h.status;
        *ret_len = body_len;
        *ret_body = TAKE_PTR(body);
        r = 0;
out:
        if (c.fd >= 0)
                close(c.fd);
        return r;
}
