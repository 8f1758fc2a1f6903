/* SPDX-License-Identifier: MIT */
/* HTTP/1.x request bytes -> struct kiln_http_request.  Pure; see http.h. */
#include "http.h"

#include <errno.h>
#include <string.h>

#include "util.h"

static const char *const method_names[] = {
        [KILN_HTTP_OTHER] = NULL,      [KILN_HTTP_GET] = "GET",         [KILN_HTTP_HEAD] = "HEAD",
        [KILN_HTTP_PUT] = "PUT",       [KILN_HTTP_POST] = "POST",       [KILN_HTTP_DELETE] = "DELETE",
        [KILN_HTTP_OPTIONS] = "OPTIONS", [KILN_HTTP_PATCH] = "PATCH",
};

const char *kiln_http_method_to_string(enum kiln_http_method m)
{
        if ((size_t)m >= ARRAY_SIZE(method_names) || !method_names[m])
                return "OTHER";
        return method_names[m];
}

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool mem_caseeq(const char *a, const char *b, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (lower(a[i]) != lower(b[i]))
                        return false;
        return true;
}

bool kiln_http_slice_eq(struct kiln_http_slice s, const char *str)
{
        size_t n = strlen(str);
        return s.ptr && s.len == n && mem_caseeq(s.ptr, str, n);
}

const struct kiln_http_header *kiln_http_header_get(const struct kiln_http_request *req, const char *name)
{
        for (size_t i = 0; i < req->n_headers; i++)
                if (kiln_http_slice_eq(req->headers[i].name, name))
                        return &req->headers[i];
        return NULL;
}

/* RFC 9110 5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                return true;
        return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* field-vchar, SP, HTAB (RFC 9110 5.5); obs-text allowed. */
static bool is_field_char(unsigned char c)
{
        return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* A complete line [start, *ret_end) without its CRLF/LF; *ret_next after it.
 * 0 when no LF within [start, limit), 1 when found; -EBADMSG for a CR that
 * does not end the line. */
static int find_line(const char *b, size_t start, size_t limit, size_t *ret_end, size_t *ret_next)
{
        const char *nl = memchr(b + start, '\n', limit - start);
        size_t end;

        if (!nl)
                return 0;
        end = (size_t)(nl - b);
        *ret_next = end + 1;
        if (end > start && b[end - 1] == '\r')
                end--;
        if (memchr(b + start, '\r', end - start))
                return -EBADMSG;
        *ret_end = end;
        return 1;
}

static enum kiln_http_method method_from(const char *p, size_t n)
{
        for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
                if (method_names[i] && strlen(method_names[i]) == n && !memcmp(method_names[i], p, n))
                        return (enum kiln_http_method)i; /* methods are case-sensitive */
        return KILN_HTTP_OTHER;
}

static int parse_request_line(const char *b, size_t start, size_t end, struct kiln_http_request *r)
{
        size_t i = start, m, t;

        while (i < end && is_tchar((unsigned char)b[i]))
                i++;
        m = i - start;
        if (m == 0 || i >= end || b[i] != ' ')
                return kiln_errorf(-EBADMSG, "http: malformed request line (method)");
        if (m > KILN_HTTP_METHOD_MAX)
                return kiln_errorf(-EBADMSG, "http: method longer than %u bytes", KILN_HTTP_METHOD_MAX);
        r->method_name = (struct kiln_http_slice){ b + start, m };
        r->method = method_from(b + start, m);

        t = ++i;
        while (i < end && (unsigned char)b[i] > 0x20 && (unsigned char)b[i] < 0x7f)
                i++;
        if (i == t || i >= end || b[i] != ' ')
                return kiln_errorf(-EBADMSG, "http: malformed request line (target)");
        r->target = (struct kiln_http_slice){ b + t, i - t };
        if (b[t] != '/')
                return kiln_errorf(-EBADMSG, "http: request target is not a path");
        if (memchr(b + t, '#', i - t))
                return kiln_errorf(-EBADMSG, "http: request target holds a fragment");
        const char *q = memchr(b + t, '?', i - t);
        if (q) {
                r->path = (struct kiln_http_slice){ b + t, (size_t)(q - (b + t)) };
                r->query = (struct kiln_http_slice){ q + 1, (size_t)(b + i - q - 1) };
        } else {
                r->path = r->target;
                r->query = (struct kiln_http_slice){ NULL, 0 };
        }

        i++;
        /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. */
        if (end - i != 8 || memcmp(b + i, "HTTP/", 5) || b[i + 5] < '0' || b[i + 5] > '9' || b[i + 6] != '.' ||
            b[i + 7] < '0' || b[i + 7] > '9')
                return kiln_errorf(-EBADMSG, "http: malformed request line (version)");
        if (b[i + 5] != '1')
                return kiln_errorf(-EPROTONOSUPPORT, "http: version HTTP/%c.%c not supported", b[i + 5], b[i + 7]);
        r->version_minor = (unsigned)(b[i + 7] - '0');
        return 0;
}

/* "close" and "keep-alive" in a Connection list. */
static void parse_connection(struct kiln_http_slice v, bool *close, bool *keep)
{
        size_t i = 0;

        while (i < v.len) {
                while (i < v.len && (v.ptr[i] == ' ' || v.ptr[i] == '\t' || v.ptr[i] == ','))
                        i++;
                size_t s = i;
                while (i < v.len && v.ptr[i] != ',' && v.ptr[i] != ' ' && v.ptr[i] != '\t')
                        i++;
                struct kiln_http_slice tok = { v.ptr + s, i - s };
                if (kiln_http_slice_eq(tok, "close"))
                        *close = true;
                else if (kiln_http_slice_eq(tok, "keep-alive"))
                        *keep = true;
        }
}

static int parse_content_length(struct kiln_http_slice v, uint64_t *ret)
{
        uint64_t n = 0;

        if (v.len == 0)
                return kiln_errorf(-EBADMSG, "http: empty Content-Length");
        for (size_t i = 0; i < v.len; i++) {
                if (v.ptr[i] < '0' || v.ptr[i] > '9')
                        return kiln_errorf(-EBADMSG, "http: Content-Length is not a number");
                if (n <= KILN_HTTP_BODY_MAX)
                        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
        }
        *ret = n; /* saturates just above the limit */
        return 0;
}

static int set_once(struct kiln_http_slice *field, struct kiln_http_slice v, const char *name)
{
        if (field->ptr)
                return kiln_errorf(-EBADMSG, "http: header '%s' given twice", name);
        *field = v;
        return 0;
}

static int parse_header(const char *b, size_t start, size_t end, struct kiln_http_request *r, bool *cl_seen,
                        bool *conn_close, bool *conn_keep)
{
        size_t i = start, vs, ve;
        int k;

        if (b[start] == ' ' || b[start] == '\t')
                return kiln_errorf(-EBADMSG, "http: obsolete header line folding");
        while (i < end && is_tchar((unsigned char)b[i]))
                i++;
        if (i == start || i >= end || b[i] != ':')
                return kiln_errorf(-EBADMSG, "http: malformed header line");
        struct kiln_http_slice name = { b + start, i - start };
        vs = i + 1;
        ve = end;
        while (vs < ve && (b[vs] == ' ' || b[vs] == '\t'))
                vs++;
        while (ve > vs && (b[ve - 1] == ' ' || b[ve - 1] == '\t'))
                ve--;
        for (size_t j = vs; j < ve; j++)
                if (!is_field_char((unsigned char)b[j]))
                        return kiln_errorf(-EBADMSG, "http: control character in header '%.*s'",
                                           (int)MIN(name.len, 64), name.ptr);
        struct kiln_http_slice value = { b + vs, ve - vs };

        if (r->n_headers >= KILN_HTTP_MAX_HEADERS)
                return kiln_errorf(-EMSGSIZE, "http: more than %u header fields", KILN_HTTP_MAX_HEADERS);
        r->headers[r->n_headers++] = (struct kiln_http_header){ name, value };

        if (kiln_http_slice_eq(name, "Content-Length")) {
                uint64_t n = 0;
                k = parse_content_length(value, &n);
                if (k < 0)
                        return k;
                if (*cl_seen && n != r->content_length)
                        return kiln_errorf(-EBADMSG, "http: conflicting Content-Length headers");
                *cl_seen = true;
                r->content_length = n;
                if (n > KILN_HTTP_BODY_MAX)
                        return kiln_errorf(-EFBIG, "http: body larger than %u bytes", KILN_HTTP_BODY_MAX);
        } else if (kiln_http_slice_eq(name, "Transfer-Encoding")) {
                return kiln_errorf(-EOPNOTSUPP, "http: Transfer-Encoding not supported");
        } else if (kiln_http_slice_eq(name, "Connection")) {
                parse_connection(value, conn_close, conn_keep);
        } else if (kiln_http_slice_eq(name, "Host")) {
                return set_once(&r->host, value, "Host");
        } else if (kiln_http_slice_eq(name, "X-aws-ec2-metadata-token")) {
                return set_once(&r->token, value, "X-aws-ec2-metadata-token");
        } else if (kiln_http_slice_eq(name, "X-aws-ec2-metadata-token-ttl-seconds")) {
                return set_once(&r->token_ttl, value, "X-aws-ec2-metadata-token-ttl-seconds");
        } else if (kiln_http_slice_eq(name, "X-Forwarded-For")) {
                r->has_forwarded_for = true;
        }
        return 0;
}

/* Bytes that can never start a request line: reject binary early (a TLS
 * hello) instead of waiting for a line end that will not come. */
static bool has_binary(const char *b, size_t start, size_t end)
{
        for (size_t i = start; i < end; i++) {
                unsigned char c = (unsigned char)b[i];
                if ((c < 0x20 && c != '\r' && c != '\n') || c >= 0x7f)
                        return true;
        }
        return false;
}

int kiln_http_parse(const void *buf, size_t len, struct kiln_http_request *ret)
{
        const char *b = buf;
        struct kiln_http_request r = { 0 };
        size_t off = 0, end, next, hstart, limit;
        bool cl_seen = false, conn_close = false, conn_keep = false;
        int k;

        /* Empty lines before the request line (RFC 9112 2.2), within the line budget. */
        while (off < len && (b[off] == '\n' || b[off] == '\r')) {
                if (b[off] == '\r') {
                        if (off + 1 >= len)
                                return 0;
                        if (b[off + 1] != '\n')
                                return kiln_errorf(-EBADMSG, "http: stray carriage return");
                        off++;
                }
                off++;
                if (off > KILN_HTTP_LINE_MAX)
                        return kiln_errorf(-EBADMSG, "http: only empty lines");
        }

        limit = MIN(len, off + KILN_HTTP_LINE_MAX + 2);
        k = find_line(b, off, limit, &end, &next);
        if (k < 0)
                return kiln_errorf(k, "http: stray carriage return in the request line");
        if (k == 0) {
                if (limit - off > KILN_HTTP_LINE_MAX + 1)
                        return kiln_errorf(-ENAMETOOLONG, "http: request line longer than %u bytes",
                                           KILN_HTTP_LINE_MAX);
                if (has_binary(b, off, limit))
                        return kiln_errorf(-EBADMSG, "http: binary bytes in the request line");
                return 0;
        }
        if (end - off > KILN_HTTP_LINE_MAX)
                return kiln_errorf(-ENAMETOOLONG, "http: request line longer than %u bytes", KILN_HTTP_LINE_MAX);
        k = parse_request_line(b, off, end, &r);
        if (k < 0)
                return k;

        hstart = next;
        for (;;) {
                limit = MIN(len, hstart + KILN_HTTP_HEADERS_MAX);
                if (next >= limit && len >= hstart + KILN_HTTP_HEADERS_MAX)
                        return kiln_errorf(-EMSGSIZE, "http: headers longer than %u bytes", KILN_HTTP_HEADERS_MAX);
                if (next >= limit)
                        return 0;
                size_t line = next;
                k = find_line(b, line, limit, &end, &next);
                if (k < 0)
                        return kiln_errorf(k, "http: stray carriage return in a header");
                if (k == 0) {
                        if (len >= hstart + KILN_HTTP_HEADERS_MAX)
                                return kiln_errorf(-EMSGSIZE, "http: headers longer than %u bytes",
                                                   KILN_HTTP_HEADERS_MAX);
                        return 0;
                }
                if (end == line)
                        break; /* the blank line */
                k = parse_header(b, line, end, &r, &cl_seen, &conn_close, &conn_keep);
                if (k < 0)
                        return k;
        }

        r.header_len = next;
        if (len - next < r.content_length)
                return 0;
        r.body = (struct kiln_http_slice){ r.content_length ? b + next : NULL, (size_t)r.content_length };
        r.total_len = next + (size_t)r.content_length;
        r.keep_alive = !conn_close && (r.version_minor >= 1 || conn_keep);
        *ret = r;
        return (int)r.total_len;
}

int kiln_http_error_status(int err)
{
        switch (err) {
        case -EBADMSG: return 400;
        case -ENAMETOOLONG: return 414;
        case -EMSGSIZE: return 431;
        case -EFBIG: return 413;
        case -EOPNOTSUPP: return 501;
        case -EPROTONOSUPPORT: return 505;
        default: return 500;
        }
}

const char *kiln_http_reason(int status)
{
        switch (status) {
        case 200: return "OK";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 503: return "Service Unavailable";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
        }
}
