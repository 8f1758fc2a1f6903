/* SPDX-License-Identifier: MIT */
/*
 * One HTTP/1.x request, as the IMDS server reads it from a guest.  A pure
 * parser: bytes in, struct out, no I/O, no allocation.  The struct's slices
 * point into the caller's buffer, which must outlive it.
 *
 * Call it on the bytes received so far: it answers "need more" (0), "one
 * complete request of N bytes" (N > 0; the rest of the buffer is the next,
 * pipelined, request) or an error, decided as early as the bytes allow (a
 * header section past its limit is refused before its end arrives):
 *
 *   -EBADMSG          malformed (400): request line, header syntax, obsolete
 *                     line folding, control characters, a target that is not
 *                     origin-form ("/..."), a '#' in it, bad or conflicting
 *                     Content-Length, a repeated Host or token header
 *   -ENAMETOOLONG     request line over KILN_HTTP_LINE_MAX (414)
 *   -EMSGSIZE         header section over KILN_HTTP_HEADERS_MAX bytes or over
 *                     KILN_HTTP_MAX_HEADERS fields (431)
 *   -EFBIG            Content-Length over KILN_HTTP_BODY_MAX (413)
 *   -EOPNOTSUPP       any Transfer-Encoding: chunked bodies are not taken (501)
 *   -EPROTONOSUPPORT  a version other than HTTP/1.x (505)
 *
 * Line ends are CRLF or a bare LF (RFC 9112 2.2); empty lines before the
 * request line are skipped.  After an error the stream cannot be resynced:
 * answer kiln_http_error_status() and close.  *ret is written only when a
 * request is complete.
 */
#ifndef KILN_BOOT_HTTP_H
#define KILN_BOOT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_HTTP_LINE_MAX 8192u      /* request line, without its line end */
#define KILN_HTTP_HEADERS_MAX 16384u  /* header section after the request line, blank line included */
#define KILN_HTTP_MAX_HEADERS 64u     /* header fields */
#define KILN_HTTP_BODY_MAX 65536u     /* Content-Length */
#define KILN_HTTP_METHOD_MAX 32u
/* The most bytes one request (with leading empty lines) can take. */
#define KILN_HTTP_REQUEST_MAX (2u * KILN_HTTP_LINE_MAX + 2u + KILN_HTTP_HEADERS_MAX + KILN_HTTP_BODY_MAX)

enum kiln_http_method {
        KILN_HTTP_OTHER, /* a well-formed method kiln does not know: method_name has it */
        KILN_HTTP_GET,
        KILN_HTTP_HEAD,
        KILN_HTTP_PUT,
        KILN_HTTP_POST,
        KILN_HTTP_DELETE,
        KILN_HTTP_OPTIONS,
        KILN_HTTP_PATCH,
};

struct kiln_http_slice {
        const char *ptr; /* into the parsed buffer; NULL when absent */
        size_t len;
};

struct kiln_http_header {
        struct kiln_http_slice name, value; /* value without surrounding white space */
};

struct kiln_http_request {
        enum kiln_http_method method;
        struct kiln_http_slice method_name;
        struct kiln_http_slice target;      /* as sent: "/latest/meta-data/?x" */
        struct kiln_http_slice path, query; /* target split at the first '?'; query without it */
        unsigned version_minor;             /* HTTP/1.<minor> */

        struct kiln_http_header headers[KILN_HTTP_MAX_HEADERS];
        size_t n_headers;

        /* Fields the IMDS server looks at, from the headers above. */
        struct kiln_http_slice host;        /* Host */
        struct kiln_http_slice token;       /* X-aws-ec2-metadata-token */
        struct kiln_http_slice token_ttl;   /* X-aws-ec2-metadata-token-ttl-seconds, unparsed */
        bool has_forwarded_for;             /* X-Forwarded-For */
        uint64_t content_length;
        struct kiln_http_slice body;        /* content_length bytes, skipped by the server */
        bool keep_alive;                    /* HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with keep-alive */

        size_t header_len;                  /* leading empty lines, request line and headers */
        size_t total_len;                   /* plus the body: what the request consumed */
};

/* See above: 0 need more bytes, > 0 the request's length, or -errno. */
int kiln_http_parse(const void *buf, size_t len, struct kiln_http_request *ret);

/* Whether a slice equals a string, ASCII case ignored (header names, tokens). */
bool kiln_http_slice_eq(struct kiln_http_slice s, const char *str);
/* The first header named name (case ignored), or NULL. */
const struct kiln_http_header *kiln_http_header_get(const struct kiln_http_request *req, const char *name);

/* The status code for a kiln_http_parse() error (500 for anything else). */
int kiln_http_error_status(int err);
/* "OK", "Not Found", ...; "Unknown" for codes kiln never sends. */
const char *kiln_http_reason(int status);
const char *kiln_http_method_to_string(enum kiln_http_method m);

#endif
