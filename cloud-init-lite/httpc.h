/* SPDX-License-Identifier: MIT */
/*
 * A tiny HTTP/1.1 client for the instance metadata service: one request per
 * connection (Connection: close), IPv4 literal hosts, no TLS, no redirects.
 * Responses with Content-Length, chunked or read to the close; a hard limit on
 * the body.  The response head parser and the chunked decoder are pure
 * (tests/fuzz/fuzz-httpc.c); kiln_http_request() does the socket I/O.
 */
#ifndef KILN_CLOUD_INIT_LITE_HTTPC_H
#define KILN_CLOUD_INIT_LITE_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_HTTP_MAX_HEAD 16384  /* status line and headers */
#define KILN_HTTP_MAX_HEADERS 100

struct kiln_http_head {
        int status;               /* 100..999 */
        size_t head_len;          /* bytes up to and including the blank line */
        bool chunked;             /* Transfer-Encoding: chunked */
        bool has_length;          /* Content-Length given */
        uint64_t content_length;
};

/*
 * Parse a response head at the start of buf[0..len).  -EAGAIN when the blank
 * line that ends it is not there yet (and len is below KILN_HTTP_MAX_HEAD);
 * -EBADMSG with a message for a malformed or oversized head (bad status line,
 * a header without a colon, conflicting or bad Content-Length, a transfer
 * coding other than chunked).  *ret is written only on success.
 */
int kiln_http_parse_head(const void *buf, size_t len, struct kiln_http_head *ret);

/* Incremental chunked transfer decoding (RFC 9112 section 7.1). */
struct kiln_http_chunked {
        int state;
        uint64_t left;            /* of the current chunk's data */
        unsigned digits;
        size_t line;              /* bytes in the current size or trailer line */
        bool done;                /* the last chunk and the trailer were read */
};

/*
 * Feed in[0..len): the chunk data is appended to out (out_len bytes used of
 * out_size).  Returns how many bytes of in were consumed (less than len only
 * once done, the rest being past the message), -EFBIG when the data would
 * exceed out_size, -EBADMSG on a malformed chunk size or framing.
 */
long kiln_http_chunked_feed(struct kiln_http_chunked *c, const uint8_t *in, size_t len, uint8_t *out,
                            size_t out_size, size_t *out_len);

/*
 * One request: method ("GET", "PUT") to host_ip:port (dotted IPv4) for path,
 * with extra header lines (each "Name: value", NULL-terminated list, may be
 * NULL) and no request body.  timeout_ms bounds the whole exchange, connect
 * included.  On success the status is in *ret_status and the body, whatever
 * the status, in *ret_body (NUL-terminated, not counted in *ret_len; free()
 * it).  -ETIMEDOUT, -ECONNREFUSED and other connection errors, -EFBIG when
 * the body exceeds max_body, -EPROTO when the connection closes early,
 * -EBADMSG for a malformed response; each with a message naming the URL.
 */
int kiln_http_request(const char *method, const char *host_ip, uint16_t port, const char *path,
                      const char *const *headers, unsigned timeout_ms, size_t max_body, int *ret_status,
                      uint8_t **ret_body, size_t *ret_len);

#endif
