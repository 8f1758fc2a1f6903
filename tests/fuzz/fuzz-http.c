/* SPDX-License-Identifier: MIT */
/*
 * kiln_http_parse() and kiln_imds_respond() on arbitrary bytes.  Beyond "no
 * crash, no leak": the result is one of the documented ones; a complete
 * request lies inside the buffer (every slice), within the limits, and is
 * self-delimiting (its own bytes parse to the same length); *ret is
 * untouched unless a request is complete; the same bytes give the same
 * answer; each request of a pipelined buffer gets an answer from the
 * responder with a status kiln sends, a body it can read and a head that
 * fits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "imds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *lo, *hi;

static void check_slice(struct kiln_http_slice s)
{
        if (!s.ptr) {
                if (s.len)
                        abort();
                return;
        }
        if (s.ptr < lo || s.ptr + s.len > hi)
                abort();
}

static void check_request(const struct kiln_http_request *r, int k)
{
        if ((size_t)k != r->total_len || r->header_len > r->total_len ||
            r->total_len - r->header_len != r->content_length || r->body.len != r->content_length)
                abort();
        if (r->n_headers > KILN_HTTP_MAX_HEADERS || r->content_length > KILN_HTTP_BODY_MAX ||
            r->target.len > KILN_HTTP_LINE_MAX || r->version_minor > 9)
                abort();
        if (!r->method_name.len || r->method_name.len > KILN_HTTP_METHOD_MAX || !r->path.len || r->path.ptr[0] != '/')
                abort();
        if (r->path.ptr != r->target.ptr || (r->query.ptr && r->query.ptr != r->path.ptr + r->path.len + 1))
                abort();
        check_slice(r->method_name);
        check_slice(r->target);
        check_slice(r->path);
        check_slice(r->query);
        check_slice(r->host);
        check_slice(r->token);
        check_slice(r->token_ttl);
        check_slice(r->body);
        for (size_t i = 0; i < r->n_headers; i++) {
                check_slice(r->headers[i].name);
                check_slice(r->headers[i].value);
                if (!r->headers[i].name.len)
                        abort();
        }
}

static bool known_status(int s)
{
        static const int ok[] = { 200, 400, 401, 403, 404, 405, 413, 414, 431, 501, 505 };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                if (s == ok[i])
                        return true;
        return false;
}

static void check_response(const struct kiln_imds_response *r)
{
        char head[KILN_IMDS_HEAD_MAX];
        volatile uint8_t sum = 0;

        if (!known_status(r->status))
                abort();
        for (size_t i = 0; i < r->body_len; i++)
                sum ^= r->body[i]; /* ASan checks every byte is readable */
        if (kiln_imds_response_head(r, 1700000000u, head, sizeof(head)) <= 0)
                abort();
}

static struct kiln_imds_state *state(void)
{
        static struct kiln_imds_state *st;
        static const uint8_t secret[KILN_IMDS_SECRET_SIZE] = { 42 };

        if (st)
                return st;
        if (kiln_imds_state_new(secret, true, &st) < 0 ||
            kiln_imds_state_add(st, "meta-data/instance-id", "i-0123456789abcdef0", 19) < 0 ||
            kiln_imds_state_add(st, "meta-data/placement/region", "us-east-1", 9) < 0 ||
            kiln_imds_state_add(st, "meta-data/public-keys/.listing", "0=k", 3) < 0 ||
            kiln_imds_state_add(st, "meta-data/public-keys/0/openssh-key", "ssh-ed25519 AAAA", 16) < 0 ||
            kiln_imds_state_add(st, "user-data", "", 0) < 0 || kiln_imds_state_add(st, "empty", NULL, 0) < 0)
                abort();
        return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_http_request *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *before = malloc(sizeof(*before));
        char *buf = malloc(size ? size : 1);
        size_t off = 0;

        if (!a || !b || !before || !buf)
                goto out;
        /* A private copy, so ASan catches reads past the end. */
        if (size)
                memcpy(buf, data, size);
        while (off <= size) {
                const char *p = buf + off;
                size_t n = size - off;
                lo = p;
                hi = p + n;
                memset(a, 0x5a, sizeof(*a));
                memcpy(before, a, sizeof(*a));
                int k = kiln_http_parse(p, n, a);
                if (k == 0 || k < 0) {
                        if (memcmp(a, before, sizeof(*a)))
                                abort();
                        if (k < 0) {
                                struct kiln_imds_response r;
                                if (kiln_http_error_status(k) == 500)
                                        abort(); /* an error the header does not list */
                                kiln_imds_respond_error(k, &r);
                                check_response(&r);
                                if (!r.close)
                                        abort();
                        }
                        if (kiln_http_parse(p, n, b) != k)
                                abort();
                        break;
                }
                if ((size_t)k > n)
                        abort();
                check_request(a, k);
                if (kiln_http_parse(p, (size_t)k, b) != k || b->n_headers != a->n_headers ||
                    b->keep_alive != a->keep_alive || b->method != a->method)
                        abort();

                struct kiln_imds_response r;
                uint64_t now = 1700000000u + (n ? (uint8_t)p[0] : 0);
                if (kiln_imds_respond(state(), a, now, &r) == 0) {
                        check_response(&r);
                        if (r.status == 200 && a->method != KILN_HTTP_GET && a->method != KILN_HTTP_PUT)
                                abort();
                        /* A fresh token is accepted by a GET at the same time. */
                        if (r.status == 200 && a->method == KILN_HTTP_PUT) {
                                char req[256];
                                int m = snprintf(req, sizeof(req),
                                                 "GET /latest/meta-data/instance-id HTTP/1.1\r\n"
                                                 "X-aws-ec2-metadata-token: %.*s\r\n\r\n",
                                                 (int)r.body_len, (const char *)r.body);
                                struct kiln_imds_response g;
                                lo = req;
                                hi = req + m;
                                if (kiln_http_parse(req, (size_t)m, b) != m ||
                                    kiln_imds_respond(state(), b, now, &g) != 0 || g.status != 200 ||
                                    g.body_len != 19)
                                        abort();
                                kiln_imds_response_free(&g);
                        }
                        kiln_imds_response_free(&r);
                }
                off += (size_t)k;
        }
        /* Nothing above may change the input. */
        if (size && memcmp(buf, data, size))
                abort();
out:
        free(a);
        free(b);
        free(before);
        free(buf);
        return 0;
}
