/* SPDX-License-Identifier: MIT */
/*
 * User data -> parts, typed the way cloud-init types them (its user-data
 * formats page and user_data.py): pure, in memory, bounded.
 *
 *   - gzip (magic 1f 8b) is inflated, layer after layer, every inflated byte
 *     charged to one budget of KILN_UD_MAX_BYTES, so a gzip bomb stops early;
 *     concatenated gzip members are one stream, as gzip(1) reads them.
 *   - MIME: a document whose header block holds "MIME-Version:", or one that
 *     starts with "Content-Type: multipart".  Multipart bodies are split on
 *     their boundary (quoted or not, CRLF or LF, preamble and epilogue
 *     ignored), nested multiparts recurse; leaves are decoded per
 *     Content-Transfer-Encoding (base64, quoted-printable, 7bit, 8bit,
 *     binary).  A part declared gzip (application/gzip, application/x-gzip)
 *     or carrying the gzip magic is inflated.
 *   - A leaf declared text/plain, application/octet-stream (or nothing) is
 *     typed by what it starts with, lower-cased and after leading white
 *     space, longest prefix first, as cloud-init's type_from_starts_with().
 *
 * Where cloud-init's Python email parser is lenient about broken framing
 * (a multipart without its closing boundary, a base64 body with junk), kiln
 * stops with a message naming the part: user data the guest would read
 * differently from what its author meant is better caught early.
 */
#include "userdata.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "util.h"

#define MAX_HEADER_BLOCK (64 * 1024) /* bytes of one entity's header block */
#define MAX_HEADER_FIELD 8192        /* bytes of one unfolded header field */
#define MAX_BOUNDARY 200             /* RFC 2046 says 70; be lenient, not unbounded */
#define MAX_PARAM 1024               /* bytes of a header parameter's value */
#define MIME_SNIFF 4096              /* cloud-init looks for mime-version this far */
#define WHERE_SIZE 64

struct decoder {
        struct kiln_userdata ud;
        size_t budget;        /* inflated bytes still allowed */
        size_t alloc;         /* parts allocated */
        unsigned mime_level;  /* multiparts open around the current one */
};

/* --- small helpers --------------------------------------------------------- */

static char lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive prefix test on bytes (not NUL-terminated). */
static bool has_prefix_ci(const uint8_t *buf, size_t len, const char *prefix)
{
        size_t n = strlen(prefix);

        if (len < n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (lower((char)buf[i]) != lower(prefix[i]))
                        return false;
        return true;
}

static bool is_gzip(const uint8_t *buf, size_t len)
{
        return len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
}

static bool is_ws(uint8_t c)
{
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* --- gzip ------------------------------------------------------------------ */

/*
 * Inflate every gzip member of buf into a new buffer, charging the output to
 * d->budget.  NUL padding after the last member is allowed (tape-style
 * archives have it); anything else after it is an error.
 */
int kiln_ud_gunzip(const char *where, const void *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
        const uint8_t *buf = in;
        _cleanup_free_ uint8_t *out = NULL;
        size_t cap = 0, n = 0, off = 0;
        z_stream z = { 0 };
        int zr, r = 0;

        if (len > UINT32_MAX)
                return kiln_errorf(-EFBIG, "%s: gzip: compressed data too large", where);
        if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
                return kiln_errorf(-ENOMEM, "%s: gzip: cannot set up zlib", where);
        z.next_in = (Bytef *)(uintptr_t)buf;
        z.avail_in = (uInt)len;
        for (;;) {
                if (n == cap) {
                        size_t want = cap ? cap * 2 : MAX(len * 4, (size_t)4096);
                        uint8_t *p;

                        if (cap >= max) {
                                if (max % (1u << 20) == 0)
                                        r = kiln_errorf(-EFBIG, "%s: gzip: inflates to more than %zu MiB (the limit)",
                                                        where, max >> 20);
                                else
                                        r = kiln_errorf(-EFBIG, "%s: gzip: inflates to more than %zu bytes (the limit)",
                                                        where, max);
                                goto out;
                        }
                        want = MIN(want, max);
                        p = realloc(out, want + 1);
                        if (!p) {
                                r = kiln_errorf(-ENOMEM, "%s: gzip: out of memory", where);
                                goto out;
                        }
                        out = p;
                        cap = want;
                }
                z.next_out = out + n;
                z.avail_out = (uInt)(cap - n);
                zr = inflate(&z, Z_NO_FLUSH);
                n = cap - z.avail_out;
                off = len - z.avail_in;
                if (zr == Z_STREAM_END) {
                        size_t rest = z.avail_in;
                        const uint8_t *p = z.next_in;

                        if (rest >= 2 && is_gzip(p, rest)) {
                                /* Another member: gzip(1) concatenates them. */
                                if (inflateReset(&z) != Z_OK) {
                                        r = kiln_errorf(-ENOMEM, "%s: gzip: cannot reset zlib", where);
                                        goto out;
                                }
                                continue;
                        }
                        for (size_t i = 0; i < rest; i++)
                                if (p[i]) {
                                        r = kiln_errorf(-EBADMSG, "%s: gzip: trailing garbage at byte %zu", where,
                                                        off + i);
                                        goto out;
                                }
                        break;
                }
                if (zr == Z_BUF_ERROR && z.avail_in == 0) {
                        r = kiln_errorf(-EBADMSG, "%s: gzip: truncated stream (input ends at byte %zu)", where, len);
                        goto out;
                }
                if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT) {
                        r = kiln_errorf(-EBADMSG, "%s: gzip: corrupt deflate stream at byte %zu (%s)", where, off,
                                        z.msg ? z.msg : "bad data");
                        goto out;
                }
                if (zr == Z_MEM_ERROR) {
                        r = kiln_errorf(-ENOMEM, "%s: gzip: out of memory", where);
                        goto out;
                }
                if (zr != Z_OK && zr != Z_BUF_ERROR) {
                        r = kiln_errorf(-EBADMSG, "%s: gzip: zlib error %d at byte %zu", where, zr, off);
                        goto out;
                }
                if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
                        r = kiln_errorf(-EBADMSG, "%s: gzip: truncated stream (input ends at byte %zu)", where, len);
                        goto out;
                }
        }
        out[n] = 0;
        *ret = TAKE_PTR(out);
        *ret_len = n;
out:
        inflateEnd(&z);
        return r;
}

/* --- transfer encodings ---------------------------------------------------- */

static int b64_value(uint8_t c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

/*
 * base64 ignoring white space; '=' padding optional at the very end; any
 * other byte, or data after the padding, is an error with its offset.
 */
int kiln_ud_base64_decode(const char *where, const void *buf, size_t len, uint8_t **ret, size_t *ret_len)
{
        const uint8_t *in = buf;
        _cleanup_free_ uint8_t *out = malloc(len / 4 * 3 + 4);
        uint32_t acc = 0;
        size_t n = 0, pad = 0;
        unsigned bits = 0, chars = 0;

        if (!out)
                return kiln_errorf(-ENOMEM, "%s: out of memory", where);
        for (size_t i = 0; i < len; i++) {
                uint8_t c = in[i];
                int v;

                if (is_ws(c))
                        continue;
                if (c == '=') {
                        pad++;
                        if (chars % 4 < 2 || pad > 2)
                                return kiln_errorf(-EBADMSG, "%s: base64: misplaced '=' at byte %zu", where, i);
                        continue;
                }
                v = b64_value(c);
                if (v < 0)
                        return kiln_errorf(-EBADMSG, "%s: base64: invalid character 0x%02x at byte %zu", where, c, i);
                if (pad)
                        return kiln_errorf(-EBADMSG, "%s: base64: data after '=' padding at byte %zu", where, i);
                acc = (acc << 6) | (uint32_t)v;
                bits += 6;
                chars++;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (uint8_t)(acc >> bits);
                }
        }
        if (chars % 4 == 1)
                return kiln_errorf(-EBADMSG, "%s: base64: truncated (a lone character at the end)", where);
        out[n] = 0;
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}

static int hex_value(uint8_t c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (uint8_t)lower((char)c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* RFC 2045 6.7: "=XX", soft breaks "=\n"; a malformed "=" is kept as it is
 * (the robustness rule of 6.7 (1)); white space before a line break goes. */
static int qp_decode(const char *where, const uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ uint8_t *out = malloc(len + 1);
        size_t n = 0;

        if (!out)
                return kiln_errorf(-ENOMEM, "%s: out of memory", where);
        for (size_t i = 0; i < len; i++) {
                uint8_t c = in[i];

                if (c == '=') {
                        size_t j = i + 1;

                        /* Soft line break, with optional white space before it. */
                        while (j < len && (in[j] == ' ' || in[j] == '\t'))
                                j++;
                        if (j < len && (in[j] == '\n' || (in[j] == '\r' && j + 1 < len && in[j + 1] == '\n'))) {
                                i = in[j] == '\r' ? j + 1 : j;
                                continue;
                        }
                        if (j == len) {
                                i = len;
                                continue;
                        }
                        if (i + 2 < len && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
                                out[n++] = (uint8_t)(hex_value(in[i + 1]) << 4 | hex_value(in[i + 2]));
                                i += 2;
                                continue;
                        }
                        out[n++] = c;
                        continue;
                }
                if (c == ' ' || c == '\t') {
                        size_t j = i;

                        while (j < len && (in[j] == ' ' || in[j] == '\t'))
                                j++;
                        if (j == len || in[j] == '\n' || in[j] == '\r') {
                                i = j - 1;
                                continue;
                        }
                }
                out[n++] = c;
        }
        out[n] = 0;
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}

/* --- MIME headers ------------------------------------------------------------ */

struct entity {
        char ctype[128];        /* "type/subtype", lower case; "" = none given */
        char boundary[MAX_BOUNDARY + 1];
        char filename[256];     /* Content-Disposition's filename= */
        char name[256];         /* Content-Type's name=, the fallback */
        char cte[32];           /* lower case; "" = none given */
};

/* Length of the line at p (without its LF or CRLF), and of its terminator. */
static size_t line_len(const uint8_t *p, size_t len, size_t *ret_eol)
{
        const uint8_t *nl = memchr(p, '\n', len);
        size_t n = nl ? (size_t)(nl - p) : len;

        *ret_eol = nl ? 1 : 0;
        if (n > 0 && p[n - 1] == '\r') {
                n--;
                *ret_eol += 1;
        }
        return n;
}

/* "Name:" where Name is printable ASCII without ':' or space (RFC 5322 2.2). */
static size_t header_name_len(const uint8_t *p, size_t len)
{
        size_t i = 0;

        while (i < len && p[i] > 0x20 && p[i] < 0x7f && p[i] != ':')
                i++;
        if (i == 0 || i >= len || p[i] != ':')
                return 0;
        return i;
}

/* Copy a parameter value (token or quoted-string) from s; advance s. */
static void param_value(const char **s, char *out, size_t size)
{
        const char *p = *s;
        size_t o = 0;

        if (*p == '"') {
                p++;
                while (*p && *p != '"') {
                        if (*p == '\\' && p[1])
                                p++;
                        if (o + 1 < size)
                                out[o++] = *p;
                        p++;
                }
                if (*p == '"')
                        p++;
        } else {
                while (*p && *p != ';' && *p != ' ' && *p != '\t') {
                        if (o + 1 < size)
                                out[o++] = *p;
                        p++;
                }
        }
        out[o] = 0;
        *s = p;
}

/*
 * Walk "value; a=b; c="d"" and call back for each parameter.  The leading
 * value (up to the first ';') goes to head.  Lenient like Python's email
 * package: a parameter without '=' is skipped.
 */
static void parse_params(const char *s, char *head, size_t head_size,
                         void (*cb)(struct entity *e, const char *name, const char *value, bool for_ctype),
                         struct entity *e, bool for_ctype)
{
        char name[64], value[MAX_PARAM];
        size_t o = 0;

        while (*s == ' ' || *s == '\t')
                s++;
        while (*s && *s != ';') {
                if (o + 1 < head_size && *s != ' ' && *s != '\t')
                        head[o++] = lower(*s);
                s++;
        }
        head[o] = 0;
        while (*s == ';') {
                size_t n = 0;

                s++;
                while (*s == ' ' || *s == '\t')
                        s++;
                while (*s && *s != '=' && *s != ';' && *s != ' ' && *s != '\t') {
                        if (n + 1 < sizeof(name))
                                name[n++] = lower(*s);
                        s++;
                }
                name[n] = 0;
                while (*s == ' ' || *s == '\t')
                        s++;
                if (*s != '=') {
                        while (*s && *s != ';')
                                s++;
                        continue;
                }
                s++;
                while (*s == ' ' || *s == '\t')
                        s++;
                param_value(&s, value, sizeof(value));
                cb(e, name, value, for_ctype);
                while (*s && *s != ';')
                        s++;
        }
}

static void set_param(struct entity *e, const char *name, const char *value, bool for_ctype)
{
        if (for_ctype && !strcmp(name, "boundary"))
                snprintf(e->boundary, sizeof(e->boundary), "%s", value);
        else if (for_ctype && !strcmp(name, "name"))
                snprintf(e->name, sizeof(e->name), "%s", value);
        else if (!for_ctype && !strcmp(name, "filename"))
                snprintf(e->filename, sizeof(e->filename), "%s", value);
}

static int handle_field(const char *where, struct entity *e, const char *field, bool *seen_ctype, bool *seen_cte,
                        bool *seen_cd)
{
        const char *colon = strchr(field, ':');
        size_t nlen = (size_t)(colon - field);
        const char *v = colon + 1;
        char head[128];

        if (nlen == 12 && !strncasecmp(field, "content-type", 12)) {
                if (*seen_ctype)
                        return 0; /* the first one counts, as in Python */
                *seen_ctype = true;
                parse_params(v, head, sizeof(head), set_param, e, true);
                /* An invalid type falls back to text/plain (RFC 2045 5.2). */
                const char *slash = strchr(head, '/');
                if (slash && slash != head && slash[1] && !strchr(slash + 1, '/'))
                        snprintf(e->ctype, sizeof(e->ctype), "%s", head);
                else
                        snprintf(e->ctype, sizeof(e->ctype), "text/plain");
                return 0;
        }
        if (nlen == 25 && !strncasecmp(field, "content-transfer-encoding", 25)) {
                if (*seen_cte)
                        return 0;
                *seen_cte = true;
                parse_params(v, head, sizeof(head), set_param, e, false);
                if (strlen(head) >= sizeof(e->cte))
                        return kiln_errorf(-EBADMSG, "%s: unsupported Content-Transfer-Encoding '%.40s'", where,
                                           head);
                memcpy(e->cte, head, strlen(head) + 1);
                return 0;
        }
        if (nlen == 19 && !strncasecmp(field, "content-disposition", 19)) {
                if (*seen_cd)
                        return 0;
                *seen_cd = true;
                parse_params(v, head, sizeof(head), set_param, e, false);
                return 0;
        }
        return 0;
}

/*
 * Read the header block at buf: fields (folded lines unfolded) up to an
 * empty line.  A line that is not a field ends the block without an empty
 * line (Python's email is as lenient).  *ret_body is where the body starts.
 */
static int parse_headers(const char *where, const uint8_t *buf, size_t len, struct entity *e, size_t *ret_body)
{
        _cleanup_free_ char *field = malloc(MAX_HEADER_FIELD + 1);
        size_t off = 0, flen = 0, field_at = 0;
        bool seen_ctype = false, seen_cte = false, seen_cd = false, have = false;
        int r;

        if (!field)
                return kiln_errorf(-ENOMEM, "%s: out of memory", where);
        memset(e, 0, sizeof(*e));
        for (;;) {
                size_t eol = 0, n;
                bool end = off >= len;

                n = end ? 0 : line_len(buf + off, len - off, &eol);
                if (!end && off > MAX_HEADER_BLOCK)
                        return kiln_errorf(-EFBIG, "%s: MIME header block longer than %d bytes", where,
                                           MAX_HEADER_BLOCK);
                /* A continuation line folds into the field before it. */
                if (!end && n > 0 && (buf[off] == ' ' || buf[off] == '\t') && have) {
                        if (flen + n > MAX_HEADER_FIELD)
                                return kiln_errorf(-EFBIG, "%s: MIME header field at byte %zu longer than %d bytes",
                                                   where, field_at, MAX_HEADER_FIELD);
                        memcpy(field + flen, buf + off, n);
                        flen += n;
                        off += n + eol;
                        continue;
                }
                if (have) {
                        field[flen] = 0;
                        /* A NUL inside a header would cut the field short. */
                        if (strlen(field) != flen)
                                return kiln_errorf(-EBADMSG, "%s: NUL byte in MIME header at byte %zu", where,
                                                   field_at);
                        r = handle_field(where, e, field, &seen_ctype, &seen_cte, &seen_cd);
                        if (r < 0)
                                return r;
                        have = false;
                }
                if (end) {
                        *ret_body = len;
                        return 0;
                }
                if (n == 0) {
                        *ret_body = off + eol;
                        return 0;
                }
                if (!header_name_len(buf + off, n)) {
                        *ret_body = off;
                        return 0;
                }
                if (n > MAX_HEADER_FIELD)
                        return kiln_errorf(-EFBIG, "%s: MIME header field at byte %zu longer than %d bytes", where,
                                           off, MAX_HEADER_FIELD);
                memcpy(field, buf + off, n);
                flen = n;
                field_at = off;
                have = true;
                off += n + eol;
        }
}

/* cloud-init parses user data as MIME when "mime-version:" shows up near the
 * start; a document starting "Content-Type: multipart" is MIME too. */
static bool looks_like_mime(const uint8_t *buf, size_t len)
{
        size_t eol, n, sniff = MIN(len, (size_t)MIME_SNIFF);

        if (has_prefix_ci(buf, len, "content-type:")) {
                size_t i = 13;

                while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
                        i++;
                if (has_prefix_ci(buf + i, len - i, "multipart/"))
                        return true;
        }
        /* The first line must be a header field, or Python would read the
         * whole document as a text/plain body. */
        n = line_len(buf, len, &eol);
        if (!header_name_len(buf, n))
                return false;
        for (size_t i = 0; i + 13 <= sniff; i++)
                if ((i == 0 || buf[i - 1] == '\n') && has_prefix_ci(buf + i, sniff - i, "mime-version:"))
                        return true;
        return false;
}

/* --- types --------------------------------------------------------------- */

static const struct {
        const char *prefix, *ctype;
        enum kiln_ud_type type;
} starts_with[] = {
        /* Longest first, so "#include-once" is not read as "#include". */
        { "#cloud-config-archive", "text/cloud-config-archive", KILN_UD_UNKNOWN },
        { "#cloud-config-jsonp", "text/cloud-config-jsonp", KILN_UD_UNKNOWN },
        { "## template: jinja", "text/jinja2", KILN_UD_JINJA },
        { "#cloud-boothook", "text/cloud-boothook", KILN_UD_BOOTHOOK },
        { "#include-once", "text/x-include-once-url", KILN_UD_INCLUDE },
        { "#cloud-config", "text/cloud-config", KILN_UD_CLOUD_CONFIG },
        { "#part-handler", "text/part-handler", KILN_UD_PART_HANDLER },
        { "#upstart-job", "text/upstart-job", KILN_UD_UNKNOWN },
        { "#include", "text/x-include-url", KILN_UD_INCLUDE },
        { "#!", "text/x-shellscript", KILN_UD_SCRIPT },
};

static const struct {
        const char *ctype;
        enum kiln_ud_type type;
} declared[] = {
        { "text/x-shellscript", KILN_UD_SCRIPT },
        { "text/x-shellscript-per-boot", KILN_UD_SCRIPT },
        { "text/x-shellscript-per-instance", KILN_UD_SCRIPT },
        { "text/x-shellscript-per-once", KILN_UD_SCRIPT },
        { "text/cloud-config", KILN_UD_CLOUD_CONFIG },
        { "text/cloud-boothook", KILN_UD_BOOTHOOK },
        { "text/x-include-url", KILN_UD_INCLUDE },
        { "text/x-include-once-url", KILN_UD_INCLUDE },
        { "text/part-handler", KILN_UD_PART_HANDLER },
        { "text/jinja2", KILN_UD_JINJA },
};

const char *kiln_ud_type_to_string(enum kiln_ud_type t)
{
        static const char *const names[] = {
                [KILN_UD_SCRIPT] = "script",        [KILN_UD_CLOUD_CONFIG] = "cloud-config",
                [KILN_UD_BOOTHOOK] = "boothook",    [KILN_UD_INCLUDE] = "include",
                [KILN_UD_PART_HANDLER] = "part-handler", [KILN_UD_JINJA] = "jinja",
                [KILN_UD_UNKNOWN] = "unknown",
        };

        if ((unsigned)t >= ARRAY_SIZE(names))
                return NULL;
        return names[t];
}

enum kiln_ud_freq kiln_ud_script_freq(const struct kiln_ud_part *p)
{
        if (p->type != KILN_UD_SCRIPT || !p->content_type)
                return KILN_UD_PER_INSTANCE;
        if (!strcmp(p->content_type, "text/x-shellscript-per-boot"))
                return KILN_UD_PER_BOOT;
        if (!strcmp(p->content_type, "text/x-shellscript-per-once"))
                return KILN_UD_PER_ONCE;
        return KILN_UD_PER_INSTANCE;
}

/* Types cloud-init sniffs by content rather than trusting the declaration. */
static bool needs_sniffing(const char *ctype)
{
        return !ctype || !*ctype || !strcmp(ctype, "text/plain") || !strcmp(ctype, "text/x-not-multipart") ||
               !strcmp(ctype, "application/octet-stream");
}

static bool is_gzip_type(const char *ctype)
{
        return ctype && (!strcmp(ctype, "application/gzip") || !strcmp(ctype, "application/x-gzip") ||
                         !strcmp(ctype, "application/x-gzip-compressed") ||
                         !strcmp(ctype, "application/gzip-compressed"));
}

/* --- parts ---------------------------------------------------------------- */

static int add_part(struct decoder *d, const char *where, enum kiln_ud_type type, const char *ctype,
                    const char *filename, const uint8_t *data, size_t len)
{
        struct kiln_ud_part *p;

        if (d->ud.n_parts >= KILN_UD_MAX_PARTS)
                return kiln_errorf(-EFBIG, "%s: more than %d parts", where, KILN_UD_MAX_PARTS);
        if (d->ud.n_parts == d->alloc) {
                size_t n = d->alloc ? d->alloc * 2 : 4;

                p = realloc(d->ud.parts, n * sizeof(*p));
                if (!p)
                        return kiln_errorf(-ENOMEM, "%s: out of memory", where);
                d->ud.parts = p;
                d->alloc = n;
        }
        p = &d->ud.parts[d->ud.n_parts];
        memset(p, 0, sizeof(*p));
        p->type = type;
        p->len = len;
        d->ud.n_parts++; /* owned now: freed with the rest on error */
        p->content_type = strdup(ctype);
        p->data = malloc(len + 1);
        if (!p->content_type || !p->data)
                return kiln_errorf(-ENOMEM, "%s: out of memory", where);
        if (filename && *filename) {
                p->filename = strdup(filename);
                if (!p->filename)
                        return kiln_errorf(-ENOMEM, "%s: out of memory", where);
        } else if (type == KILN_UD_SCRIPT || type == KILN_UD_BOOTHOOK) {
                /* cloud-init names an unnamed part by its number: part-001, ... */
                if (asprintf(&p->filename, "part-%03zu", d->ud.n_parts) < 0) {
                        p->filename = NULL;
                        return kiln_errorf(-ENOMEM, "%s: out of memory", where);
                }
        }
        if (len)
                memcpy(p->data, data, len);
        p->data[len] = 0;
        return 0;
}

static int decode_entity(struct decoder *d, const char *where, const uint8_t *buf, size_t len, unsigned depth);
static int decode_mime(struct decoder *d, const char *where, const uint8_t *buf, size_t len, unsigned depth);

/* A leaf: its payload (transfer encoding undone), its declared type. */
static int decode_leaf(struct decoder *d, const char *where, const uint8_t *buf, size_t len, const char *ctype,
                       const char *filename, unsigned depth)
{
        _cleanup_free_ uint8_t *inflated = NULL;
        int r;

        while (is_gzip(buf, len) || is_gzip_type(ctype)) {
                uint8_t *out;
                size_t n;

                if (depth >= KILN_UD_MAX_DEPTH)
                        return kiln_errorf(-EFBIG, "%s: more than %d levels of gzip and MIME nesting", where,
                                           KILN_UD_MAX_DEPTH);
                if (!is_gzip(buf, len))
                        return kiln_errorf(-EBADMSG, "%s: declared %s but not gzip data", where, ctype);
                r = kiln_ud_gunzip(where, buf, len, d->budget, &out, &n);
                if (r < 0)
                        return r;
                d->budget -= n;
                free(inflated);
                inflated = out;
                d->ud.gzip_layers++;
                buf = inflated;
                len = n;
                depth++;
                if (is_gzip_type(ctype))
                        ctype = NULL;
                if (needs_sniffing(ctype) && looks_like_mime(buf, len))
                        return decode_entity(d, where, buf, len, depth);
        }
        if (needs_sniffing(ctype)) {
                size_t skip = 0;

                while (skip < len && is_ws(buf[skip]))
                        skip++;
                for (size_t i = 0; i < ARRAY_SIZE(starts_with); i++)
                        if (has_prefix_ci(buf + skip, len - skip, starts_with[i].prefix))
                                return add_part(d, where, starts_with[i].type, starts_with[i].ctype, filename, buf,
                                                len);
                return add_part(d, where, KILN_UD_UNKNOWN, ctype && *ctype ? ctype : "text/plain", filename, buf,
                                len);
        }
        for (size_t i = 0; i < ARRAY_SIZE(declared); i++)
                if (!strcmp(ctype, declared[i].ctype))
                        return add_part(d, where, declared[i].type, ctype, filename, buf, len);
        return add_part(d, where, KILN_UD_UNKNOWN, ctype, filename, buf, len);
}

/* Is the line at p (n bytes, terminator excluded) "--B" or "--B--", with
 * optional trailing white space?  1 delimiter, 2 close delimiter, 0 neither. */
static int delimiter_kind(const uint8_t *p, size_t n, const char *b, size_t blen)
{
        size_t i;
        int kind = 1;

        if (n < blen + 2 || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, blen))
                return 0;
        i = blen + 2;
        if (i + 2 <= n && p[i] == '-' && p[i + 1] == '-') {
                kind = 2;
                i += 2;
        }
        for (; i < n; i++)
                if (p[i] != ' ' && p[i] != '\t')
                        return 0;
        return kind;
}

static int split_multipart(struct decoder *d, const char *where, const uint8_t *buf, size_t len,
                           const char *boundary, unsigned depth);

static int decode_multipart(struct decoder *d, const char *where, const uint8_t *buf, size_t len,
                            const char *boundary, unsigned depth)
{
        int r;

        if (!*boundary)
                return kiln_errorf(-EBADMSG, "%s: multipart without a boundary parameter", where);
        if (depth >= KILN_UD_MAX_DEPTH)
                return kiln_errorf(-EFBIG, "%s: more than %d levels of gzip and MIME nesting", where,
                                   KILN_UD_MAX_DEPTH);
        d->mime_level++;
        d->ud.mime_depth = MAX(d->ud.mime_depth, d->mime_level);
        r = split_multipart(d, where, buf, len, boundary, depth);
        d->mime_level--;
        return r;
}

static int split_multipart(struct decoder *d, const char *where, const uint8_t *buf, size_t len,
                           const char *boundary, unsigned depth)
{
        size_t blen = strlen(boundary), off = 0, part_start = 0, part_no = 0;
        bool in_part = false;
        int r;

        while (off < len) {
                size_t eol, n = line_len(buf + off, len - off, &eol);
                int kind = delimiter_kind(buf + off, n, boundary, blen);

                if (kind) {
                        if (in_part) {
                                char sub[WHERE_SIZE];
                                /* The line break before a delimiter is the delimiter's. */
                                size_t end = off;

                                if (end > part_start && buf[end - 1] == '\n')
                                        end--;
                                if (end > part_start && buf[end - 1] == '\r')
                                        end--;
                                if (!strncmp(where, "MIME part", 9))
                                        snprintf(sub, sizeof(sub), "%s.%zu", where, part_no);
                                else
                                        snprintf(sub, sizeof(sub), "MIME part %zu", part_no);
                                r = decode_mime(d, sub, buf + part_start, end - part_start, depth + 1);
                                if (r < 0)
                                        return r;
                        }
                        if (kind == 2)
                                return 0; /* the epilogue is ignored */
                        in_part = true;
                        part_no++;
                        part_start = off + n + eol;
                }
                off += n + eol;
        }
        if (!in_part)
                return kiln_errorf(-EBADMSG, "%s: boundary '--%s' not found in the multipart body", where, boundary);
        if (!strncmp(where, "MIME part", 9))
                return kiln_errorf(-EBADMSG, "%s.%zu: no closing boundary '--%s--'", where, part_no, boundary);
        return kiln_errorf(-EBADMSG, "MIME part %zu: no closing boundary '--%s--'", part_no, boundary);
}

/* A MIME entity: headers, then a multipart body or a leaf. */
static int decode_mime(struct decoder *d, const char *where, const uint8_t *buf, size_t len, unsigned depth)
{
        _cleanup_free_ uint8_t *decoded = NULL;
        struct entity e;
        size_t body = 0, n = 0;
        int r;

        r = parse_headers(where, buf, len, &e, &body);
        if (r < 0)
                return r;
        buf += body;
        len -= body;
        if (!strncmp(e.ctype, "multipart/", 10)) {
                if (e.cte[0] && strcmp(e.cte, "7bit") && strcmp(e.cte, "8bit") && strcmp(e.cte, "binary"))
                        return kiln_errorf(-EBADMSG, "%s: a multipart may not be %s-encoded (RFC 2045 6.4)", where,
                                           e.cte);
                return decode_multipart(d, where, buf, len, e.boundary, depth);
        }
        if (!e.cte[0] || !strcmp(e.cte, "7bit") || !strcmp(e.cte, "8bit") || !strcmp(e.cte, "binary")) {
                /* as it is */
        } else if (!strcmp(e.cte, "base64")) {
                r = kiln_ud_base64_decode(where, buf, len, &decoded, &n);
                if (r < 0)
                        return r;
                buf = decoded;
                len = n;
        } else if (!strcmp(e.cte, "quoted-printable")) {
                r = qp_decode(where, buf, len, &decoded, &n);
                if (r < 0)
                        return r;
                buf = decoded;
                len = n;
        } else {
                return kiln_errorf(-EBADMSG, "%s: unsupported Content-Transfer-Encoding '%s'", where, e.cte);
        }
        return decode_leaf(d, where, buf, len, e.ctype[0] ? e.ctype : NULL,
                           e.filename[0] ? e.filename : e.name[0] ? e.name : NULL, depth);
}

/* Anything: gzip, a MIME document, or a single part typed by content. */
static int decode_entity(struct decoder *d, const char *where, const uint8_t *buf, size_t len, unsigned depth)
{
        if (depth > KILN_UD_MAX_DEPTH)
                return kiln_errorf(-EFBIG, "%s: more than %d levels of gzip and MIME nesting", where,
                                   KILN_UD_MAX_DEPTH);
        if (!is_gzip(buf, len) && looks_like_mime(buf, len))
                return decode_mime(d, where, buf, len, depth);
        return decode_leaf(d, where, buf, len, NULL, NULL, depth);
}

void kiln_userdata_free(struct kiln_userdata *ud)
{
        if (!ud)
                return;
        for (size_t i = 0; i < ud->n_parts; i++) {
                free(ud->parts[i].content_type);
                free(ud->parts[i].filename);
                free(ud->parts[i].data);
        }
        free(ud->parts);
        memset(ud, 0, sizeof(*ud));
}

int kiln_userdata_decode(const void *buf, size_t len, struct kiln_userdata *ret)
{
        struct decoder d = { .budget = KILN_UD_MAX_BYTES };
        int r;

        if (len > KILN_UD_MAX_BYTES)
                return kiln_errorf(-EFBIG, "user data: %zu bytes, more than the %u MiB limit", len,
                                   KILN_UD_MAX_BYTES >> 20);
        if (len > 0) {
                r = decode_entity(&d, "user data", buf, len, 0);
                if (r < 0) {
                        kiln_userdata_free(&d.ud);
                        return r;
                }
        }
        *ret = d.ud;
        return 0;
}
