/* SPDX-License-Identifier: MIT */
/* The IMDS state folder and the request -> response function; see imds.h. */
#include "imds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <arpa/inet.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "json.h"
#include "util.h"

#define TOKEN_RAW 40u /* 8 bytes of expiry + 32 of HMAC */
#define MAX_SEGMENTS 32u

struct imds_entry {
        char *path;        /* "" for tree/ itself, else "meta-data/placement" */
        const char *name;  /* its last name, inside path */
        bool dir;
        uint8_t *data;     /* a file's bytes, or a folder's .listing */
        size_t len;
        bool has_listing;
};

struct kiln_imds_state {
        uint8_t secret[KILN_IMDS_SECRET_SIZE];
        bool imds_v1;
        uint32_t max_conn;
        struct imds_entry *e;
        size_t n, cap;
        size_t total;
};

static bool is_digits(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* -------------------------------------------------------------- the state */

void kiln_imds_state_free(struct kiln_imds_state *st)
{
        if (!st)
                return;
        for (size_t i = 0; i < st->n; i++) {
                free(st->e[i].path);
                free(st->e[i].data);
        }
        free(st->e);
        OPENSSL_cleanse(st->secret, sizeof(st->secret));
        free(st);
}

static void state_freep(struct kiln_imds_state **p) { kiln_imds_state_free(*p); }

static struct imds_entry *find(const struct kiln_imds_state *st, const char *path, size_t len)
{
        for (size_t i = 0; i < st->n; i++)
                if (strlen(st->e[i].path) == len && !memcmp(st->e[i].path, path, len))
                        return &st->e[i];
        return NULL;
}

static int push(struct kiln_imds_state *st, const char *path, size_t len, bool dir)
{
        if (st->n >= KILN_IMDS_MAX_ENTRIES)
                return kiln_errorf(-E2BIG, "more than %u names in the metadata tree", KILN_IMDS_MAX_ENTRIES);
        if (st->n == st->cap) {
                size_t cap = st->cap ? st->cap * 2 : 64;
                struct imds_entry *e = realloc(st->e, cap * sizeof(*e));
                if (!e)
                        return kiln_errorf(-ENOMEM, "out of memory");
                st->e = e;
                st->cap = cap;
        }
        char *p = strndup(path, len);
        if (!p)
                return kiln_errorf(-ENOMEM, "out of memory");
        const char *slash = strrchr(p, '/');
        st->e[st->n++] = (struct imds_entry){ .path = p, .name = slash ? slash + 1 : p, .dir = dir };
        return 0;
}

int kiln_imds_state_new(const uint8_t secret[KILN_IMDS_SECRET_SIZE], bool imds_v1, struct kiln_imds_state **ret)
{
        _cleanup_(state_freep) struct kiln_imds_state *st = calloc(1, sizeof(*st));
        int k;

        if (!st)
                return kiln_errorf(-ENOMEM, "out of memory");
        memcpy(st->secret, secret, KILN_IMDS_SECRET_SIZE);
        st->imds_v1 = imds_v1;
        st->max_conn = KILN_IMDS_CONN_DEFAULT;
        k = push(st, "", 0, true);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(st);
        return 0;
}

/* A name the tree may hold: printable ASCII without '/' or '\', not "." or
 * ".."; hidden (leading '.') only as ".listing". */
static bool name_ok(const char *s, size_t n, bool listing_ok)
{
        if (n == 0 || n > KILN_IMDS_NAME_MAX)
                return false;
        if (s[0] == '.')
                return listing_ok && n == 8 && !memcmp(s, ".listing", 8);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == '/' || s[i] == '\\')
                        return false;
        return true;
}

int kiln_imds_state_add(struct kiln_imds_state *st, const char *path, const void *data, size_t len)
{
        size_t plen = strlen(path), start = 0, depth = 0;
        int k;

        if (data && len > KILN_IMDS_FILE_MAX)
                return kiln_errorf(-EFBIG, "metadata file '%s' is larger than %u bytes", path, KILN_IMDS_FILE_MAX);
        if (data && st->total + len > KILN_IMDS_TOTAL_MAX)
                return kiln_errorf(-EFBIG, "metadata tree is larger than %u bytes", KILN_IMDS_TOTAL_MAX);
        for (;;) {
                const char *slash = memchr(path + start, '/', plen - start);
                size_t end = slash ? (size_t)(slash - path) : plen;
                bool last = !slash;

                if (!name_ok(path + start, end - start, last && data))
                        return kiln_errorf(-EINVAL, "bad name in metadata path '%s'", path);
                if (++depth > KILN_IMDS_MAX_DEPTH + 1)
                        return kiln_errorf(-E2BIG, "metadata path '%s' is deeper than %u folders", path,
                                           KILN_IMDS_MAX_DEPTH);
                struct imds_entry *e = find(st, path, end);
                if (!last) {
                        if (e && !e->dir)
                                return kiln_errorf(-EEXIST, "metadata path '%s': '%.*s' is a file", path,
                                                   (int)end, path);
                        if (!e && (k = push(st, path, end, true)) < 0)
                                return k;
                        start = end + 1;
                        continue;
                }
                if (data && end - start == 8 && !memcmp(path + start, ".listing", 8)) {
                        struct imds_entry *parent = find(st, path, start ? start - 1 : 0);
                        if (!parent || !parent->dir)
                                return kiln_errorf(-EEXIST, "metadata path '%s' has no folder", path);
                        if (parent->has_listing)
                                return kiln_errorf(-EEXIST, "metadata listing '%s' given twice", path);
                        e = parent;
                } else if (e) {
                        if (!data && e->dir)
                                return 0;
                        return kiln_errorf(-EEXIST, "metadata path '%s' given twice", path);
                } else {
                        if ((k = push(st, path, plen, !data)) < 0)
                                return k;
                        e = &st->e[st->n - 1];
                        if (!data)
                                return 0;
                }
                e->data = malloc(len ? len : 1);
                if (!e->data)
                        return kiln_errorf(-ENOMEM, "out of memory");
                memcpy(e->data, data, len);
                e->len = len;
                e->has_listing = e->dir;
                st->total += len;
                return 0;
        }
}

/* ------------------------------------------------------------- loading */

static void dirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* A regular file at dfd/name, not a link, at most max bytes. */
static int read_at(int dfd, const char *name, size_t max, uint8_t **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t)st.st_size > max)
                return -EFBIG;
        _cleanup_free_ uint8_t *buf = malloc((size_t)st.st_size + 1);
        size_t n = 0;
        if (!buf)
                return -ENOMEM;
        while (n < (size_t)st.st_size) {
                ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r == 0)
                        break;
                n += (size_t)r;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

/* Walk dfd (tree/ or below, at prefix) into st.  Links and odd files are
 * skipped; so are names the tree cannot hold. */
static int load_tree(struct kiln_imds_state *st, int dfd, const char *dir, const char *prefix, unsigned depth)
{
        int fd = dup(dfd);
        if (fd < 0)
                return kiln_errorf(-errno, "cannot read folder '%s': %m", dir);
        _cleanup_(dirp) DIR *d = fdopendir(fd);
        struct dirent *de;
        int k;

        if (!d) {
                k = -errno;
                close(fd);
                return kiln_errorf(k, "cannot read folder '%s': %m", dir);
        }
        while ((errno = 0, de = readdir(d))) {
                const char *name = de->d_name;
                size_t nlen = strlen(name);
                struct stat sb;

                if (!strcmp(name, ".") || !strcmp(name, ".."))
                        continue;
                if (!name_ok(name, nlen, true))
                        continue;
                if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s%s%s", prefix, *prefix ? "/" : "", name) < 0)
                        return kiln_errorf(-ENOMEM, "out of memory");
                if (S_ISDIR(sb.st_mode) && name[0] != '.') {
                        if (depth >= KILN_IMDS_MAX_DEPTH)
                                return kiln_errorf(-E2BIG, "metadata folder '%s/%s' is deeper than %u folders",
                                                   dir, name, KILN_IMDS_MAX_DEPTH);
                        _cleanup_close_ int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                continue; /* replaced by a link since: not followed */
                        if ((k = kiln_imds_state_add(st, path, NULL, 0)) < 0)
                                return k;
                        _cleanup_free_ char *subdir = NULL;
                        if (asprintf(&subdir, "%s/%s", dir, name) < 0)
                                return kiln_errorf(-ENOMEM, "out of memory");
                        if ((k = load_tree(st, sub, subdir, path, depth + 1)) < 0)
                                return k;
                } else if (S_ISREG(sb.st_mode)) {
                        _cleanup_free_ uint8_t *data = NULL;
                        size_t len;
                        k = read_at(dfd, name, KILN_IMDS_FILE_MAX, &data, &len);
                        if (k == -ELOOP || k == -EINVAL || k == -ENOENT)
                                continue; /* a link or not a file any more */
                        if (k == -EFBIG)
                                return kiln_errorf(k, "metadata file '%s/%s' is larger than %u bytes", dir, name,
                                                   KILN_IMDS_FILE_MAX);
                        if (k < 0)
                                return kiln_errorf(k, "cannot read '%s/%s': %s", dir, name, strerror(-k));
                        if ((k = kiln_imds_state_add(st, path, data, len)) < 0)
                                return k;
                }
        }
        if (errno)
                return kiln_errorf(-errno, "cannot read folder '%s': %m", dir);
        return 0;
}

/* settings: "key=value" lines, '#' comments: imds_v1=0|1, max_connections=N. */
static int parse_settings(const char *file, const char *buf, size_t len, bool *ret_v1, uint32_t *ret_max)
{
        bool v1 = false;
        uint32_t max = KILN_IMDS_CONN_DEFAULT;
        unsigned lineno = 0;

        for (size_t i = 0; i < len;) {
                const char *nl = memchr(buf + i, '\n', len - i);
                size_t end = nl ? (size_t)(nl - buf) : len;
                const char *line = buf + i;
                size_t n = end - i;

                lineno++;
                i = end + 1;
                if (n == 0 || line[0] == '#')
                        continue;
                if (n == 9 && !memcmp(line, "imds_v1=0", 9))
                        v1 = false;
                else if (n == 9 && !memcmp(line, "imds_v1=1", 9))
                        v1 = true;
                else if (n > 16 && n <= 20 && !memcmp(line, "max_connections=", 16) && is_digits(line + 16, n - 16) &&
                         line[16] != '0' && (max = (uint32_t)strtoul(line + 16, NULL, 10)) <= KILN_IMDS_CONN_MAX)
                        continue;
                else
                        return kiln_errorf(-EBADMSG,
                                           "'%s' line %u: expected imds_v1=0, imds_v1=1 or max_connections=1..%u",
                                           file, lineno, KILN_IMDS_CONN_MAX);
        }
        *ret_v1 = v1;
        *ret_max = max;
        return 0;
}

int kiln_imds_load(const char *dir, struct kiln_imds_state **ret)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int tfd = -1;
        _cleanup_(state_freep) struct kiln_imds_state *st = NULL;
        _cleanup_free_ uint8_t *secret = NULL, *settings = NULL;
        size_t slen, setlen;
        struct stat sb;
        bool v1 = false;
        uint32_t max = KILN_IMDS_CONN_DEFAULT;
        int k;

        if (dfd < 0)
                return kiln_errorf(-errno, "cannot open imds folder '%s': %m", dir);
        k = read_at(dfd, "secret", KILN_IMDS_SECRET_SIZE, &secret, &slen);
        if (k == -EFBIG || (k == 0 && slen != KILN_IMDS_SECRET_SIZE))
                return kiln_errorf(-EBADMSG, "'%s/secret' is not %u bytes", dir, KILN_IMDS_SECRET_SIZE);
        if (k == -EINVAL || k == -ELOOP)
                return kiln_errorf(-EBADMSG, "'%s/secret' is not a regular file", dir);
        if (k < 0)
                return kiln_errorf(k, "cannot read '%s/secret': %s", dir, strerror(-k));
        if (fstatat(dfd, "secret", &sb, AT_SYMLINK_NOFOLLOW) < 0)
                return kiln_errorf(-errno, "cannot stat '%s/secret': %m", dir);
        if (sb.st_mode & 077) {
                OPENSSL_cleanse(secret, slen);
                return kiln_errorf(-EPERM, "'%s/secret' is readable by others (mode %04o)", dir,
                                   (unsigned)(sb.st_mode & 07777));
        }
        k = read_at(dfd, "settings", 4096, &settings, &setlen);
        if (k < 0) {
                OPENSSL_cleanse(secret, slen);
                return kiln_errorf(k == -EFBIG || k == -EINVAL || k == -ELOOP ? -EBADMSG : k,
                                   "cannot read '%s/settings': %s", dir,
                                   k == -EFBIG ? "larger than 4096 bytes" : k == -EINVAL || k == -ELOOP
                                                                                 ? "not a regular file"
                                                                                 : strerror(-k));
        }
        _cleanup_free_ char *setname = NULL;
        if (asprintf(&setname, "%s/settings", dir) < 0)
                return kiln_errorf(-ENOMEM, "out of memory");
        k = parse_settings(setname, (const char *)settings, setlen, &v1, &max);
        if (k >= 0)
                k = kiln_imds_state_new(secret, v1, &st);
        OPENSSL_cleanse(secret, slen);
        if (k < 0)
                return k;
        st->max_conn = max;

        tfd = openat(dfd, "tree", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (tfd < 0)
                return kiln_errorf(-errno, "cannot open '%s/tree': %m", dir);
        _cleanup_free_ char *tree = NULL;
        if (asprintf(&tree, "%s/tree", dir) < 0)
                return kiln_errorf(-ENOMEM, "out of memory");
        k = load_tree(st, tfd, tree, "", 0);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(st);
        return 0;
}

/* -------------------------------------------------------------- tokens */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void b64url_encode(const uint8_t *in, size_t n, char *out)
{
        size_t o = 0, i;
        for (i = 0; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
                out[o++] = b64url[v >> 18 & 63];
                out[o++] = b64url[v >> 12 & 63];
                out[o++] = b64url[v >> 6 & 63];
                out[o++] = b64url[v & 63];
        }
        if (n - i == 1) {
                uint32_t v = (uint32_t)in[i] << 16;
                out[o++] = b64url[v >> 18 & 63];
                out[o++] = b64url[v >> 12 & 63];
        } else if (n - i == 2) {
                uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
                out[o++] = b64url[v >> 18 & 63];
                out[o++] = b64url[v >> 12 & 63];
                out[o++] = b64url[v >> 6 & 63];
        }
        out[o] = 0;
}

static int b64url_value(char c)
{
        const char *p = c ? strchr(b64url, c) : NULL;
        return p ? (int)(p - b64url) : -1;
}

/* Exactly KILN_IMDS_TOKEN_LEN characters -> TOKEN_RAW bytes, canonical only. */
static bool b64url_decode_token(const char *in, size_t n, uint8_t out[TOKEN_RAW])
{
        uint8_t again[TOKEN_RAW];
        char check[KILN_IMDS_TOKEN_LEN + 1];
        size_t o = 0;
        uint32_t acc = 0;
        unsigned bits = 0;

        if (n != KILN_IMDS_TOKEN_LEN)
                return false;
        for (size_t i = 0; i < n; i++) {
                int v = b64url_value(in[i]);
                if (v < 0)
                        return false;
                acc = acc << 6 | (uint32_t)v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        if (o >= TOKEN_RAW)
                                return false;
                        again[o++] = (uint8_t)(acc >> bits);
                }
        }
        if (o != TOKEN_RAW)
                return false;
        b64url_encode(again, TOKEN_RAW, check);
        if (memcmp(check, in, n)) /* stray low bits */
                return false;
        memcpy(out, again, TOKEN_RAW);
        return true;
}

static int token_mac(const struct kiln_imds_state *st, const uint8_t expiry[8], uint8_t mac[32])
{
        /* v2: the expiry in milliseconds (v1 had whole seconds). */
        static const char label[] = "kiln-imds-token-v2";
        uint8_t msg[sizeof(label) - 1 + 8];
        unsigned int n = 32;

        memcpy(msg, label, sizeof(label) - 1);
        memcpy(msg + sizeof(label) - 1, expiry, 8);
        if (!HMAC(EVP_sha256(), st->secret, (int)sizeof(st->secret), msg, sizeof(msg), mac, &n) || n != 32)
                return -ENOMEM;
        return 0;
}

static int token_make(const struct kiln_imds_state *st, uint64_t expiry_ms, char out[KILN_IMDS_TOKEN_LEN + 1])
{
        uint8_t raw[TOKEN_RAW];
        int k;

        for (int i = 0; i < 8; i++)
                raw[i] = (uint8_t)(expiry_ms >> (56 - 8 * i));
        k = token_mac(st, raw, raw + 8);
        if (k < 0)
                return k;
        b64url_encode(raw, TOKEN_RAW, out);
        return 0;
}

/* Milliseconds the token has left, or 0 when it is not valid now: expired,
 * forged, or living longer than the longest TTL from now (the clock went
 * back). */
static uint64_t token_check(const struct kiln_imds_state *st, struct kiln_http_slice tok, uint64_t now_ms)
{
        uint8_t raw[TOKEN_RAW], mac[32];
        uint64_t expiry = 0;

        if (!b64url_decode_token(tok.ptr, tok.len, raw))
                return 0;
        if (token_mac(st, raw, mac) < 0 || CRYPTO_memcmp(mac, raw + 8, 32))
                return 0;
        for (int i = 0; i < 8; i++)
                expiry = expiry << 8 | raw[i];
        if (expiry <= now_ms || expiry - now_ms > (uint64_t)KILN_IMDS_TTL_MAX * 1000)
                return 0;
        return expiry - now_ms;
}

/* 1..21600, plain decimal digits. */
static uint32_t parse_ttl(struct kiln_http_slice v)
{
        uint32_t n = 0;

        if (!v.ptr || v.len == 0 || v.len > 10)
                return 0;
        for (size_t i = 0; i < v.len; i++) {
                if (v.ptr[i] < '0' || v.ptr[i] > '9')
                        return 0;
                n = n * 10 + (uint32_t)(v.ptr[i] - '0');
                if (n > KILN_IMDS_TTL_MAX)
                        return 0;
        }
        return n;
}

/* ----------------------------------------------------------- responses */

/* EC2's API versions, as "GET /" lists them. */
static const char versions[] = "1.0\n2007-01-19\n2007-03-01\n2007-08-29\n2007-10-10\n2007-12-15\n2008-02-01\n"
                               "2008-09-01\n2009-04-04\n2011-01-01\n2011-05-01\n2012-01-12\n2014-02-25\n"
                               "2014-11-05\n2015-10-20\n2016-04-19\n2016-06-30\n2016-09-02\n2018-03-28\n"
                               "2018-08-17\n2018-09-24\n2019-10-01\n2020-10-27\n2021-01-03\n2021-03-23\n"
                               "2021-07-15\nlatest";

/* "latest", "1.0" or YYYY-MM-DD with a real month and day. */
static bool version_ok(const char *s, size_t n)
{
        if ((n == 6 && !memcmp(s, "latest", 6)) || (n == 3 && !memcmp(s, "1.0", 3)))
                return true;
        if (n != 10 || s[4] != '-' || s[7] != '-' || !is_digits(s, 4) || !is_digits(s + 5, 2) ||
            !is_digits(s + 8, 2))
                return false;
        int month = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
        return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

struct segs {
        char buf[KILN_HTTP_LINE_MAX + 1]; /* the decoded path, '/' split to NULs */
        const char *s[MAX_SEGMENTS];
        size_t len[MAX_SEGMENTS];
        size_t n;
        bool slash;     /* ended with '/' */
        bool too_many;
};

/* Percent-decode the path and split it.  False when it is malformed. */
static bool split_path(struct kiln_http_slice p, struct segs *g)
{
        size_t o = 0, start = 0;

        if (p.len == 0 || p.ptr[0] != '/' || p.len > KILN_HTTP_LINE_MAX)
                return false;
        g->n = 0;
        g->slash = false;
        g->too_many = false;
        for (size_t i = 1; i <= p.len; i++) {
                unsigned char c;
                bool sep = i == p.len || p.ptr[i] == '/';

                if (!sep) {
                        c = (unsigned char)p.ptr[i];
                        if (c == '%') {
                                int hi = i + 2 < p.len ? hexval(p.ptr[i + 1]) : -1;
                                int lo = hi >= 0 ? hexval(p.ptr[i + 2]) : -1;
                                if (lo < 0)
                                        return false;
                                c = (unsigned char)(hi << 4 | lo);
                                i += 2;
                                if (c == '/')
                                        return false;
                        }
                        if (c < 0x20 || c == 0x7f || c == '\\')
                                return false;
                        g->buf[o++] = (char)c;
                        continue;
                }
                size_t n = o - start;
                if (n == 0 && i == p.len) {
                        g->slash = p.len > 1; /* "/x/", not "/" */
                        break;
                }
                if (n == 0)
                        return false; /* "//" */
                if ((n == 1 && g->buf[start] == '.') || (n == 2 && !memcmp(g->buf + start, "..", 2)))
                        return false;
                if (g->n >= MAX_SEGMENTS) {
                        g->too_many = true;
                } else {
                        g->s[g->n] = g->buf + start;
                        g->len[g->n] = n;
                        g->n++;
                }
                g->buf[o++] = '/';
                start = o;
        }
        return true;
}

static void set_text(struct kiln_imds_response *r, int status, const void *body, size_t len)
{
        r->status = status;
        r->body = body;
        r->body_len = len;
}

static void set_error(struct kiln_imds_response *r, int status)
{
        const char *reason = kiln_http_reason(status);
        set_text(r, status, reason, strlen(reason));
}

static int cmp_names(const void *a, const void *b)
{
        const struct imds_entry *const *x = a, *const *y = b;
        return strcmp((*x)->name, (*y)->name);
}

/* A folder's listing: its .listing, else its names sorted, folders with '/'. */
static int listing(const struct kiln_imds_state *st, const struct imds_entry *dir, struct kiln_imds_response *r)
{
        size_t dlen = strlen(dir->path), n = 0, total = 0;

        if (dir->has_listing) {
                set_text(r, 200, dir->data, dir->len);
                return 0;
        }
        _cleanup_free_ const struct imds_entry **kids = calloc(st->n ? st->n : 1, sizeof(*kids));
        if (!kids)
                return -ENOMEM;
        for (size_t i = 1; i < st->n; i++) {
                const struct imds_entry *e = &st->e[i];
                size_t plen = (size_t)(e->name - e->path);
                /* parent path is e->path[0 .. plen - 1) */
                if (dlen == 0 ? plen != 0 : plen != dlen + 1 || memcmp(e->path, dir->path, dlen))
                        continue;
                kids[n++] = e;
                total += strlen(e->name) + 2;
        }
        qsort(kids, n, sizeof(*kids), cmp_names);
        uint8_t *buf = malloc(total + 1);
        size_t o = 0;
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(kids[i]->name);
                if (i)
                        buf[o++] = '\n';
                memcpy(buf + o, kids[i]->name, l);
                o += l;
                if (kids[i]->dir)
                        buf[o++] = '/';
        }
        r->owned = buf;
        set_text(r, 200, buf, o);
        return 0;
}

int kiln_imds_respond(const struct kiln_imds_state *st, const struct kiln_http_request *req, uint64_t now_ms,
                      struct kiln_imds_response *ret)
{
        struct kiln_imds_response r = { .close = !req->keep_alive };
        _cleanup_free_ struct segs *g = malloc(sizeof(*g));
        uint64_t left = 0;
        int k;

        if (!g)
                return -ENOMEM;
        if (req->method != KILN_HTTP_GET && req->method != KILN_HTTP_PUT) {
                set_error(&r, 405);
                r.allow = true;
                goto done;
        }
        if (!split_path(req->path, g)) {
                set_error(&r, 400);
                goto done;
        }
        bool token_path = g->n == 3 && !g->slash && version_ok(g->s[0], g->len[0]) && g->len[1] == 3 &&
                          !memcmp(g->s[1], "api", 3) && g->len[2] == 5 && !memcmp(g->s[2], "token", 5);
        if (req->method == KILN_HTTP_PUT || token_path) {
                if (req->method != KILN_HTTP_PUT || !token_path) {
                        set_error(&r, 405);
                        r.allow = true;
                        goto done;
                }
                if (req->has_forwarded_for) {
                        set_error(&r, 403);
                        goto done;
                }
                uint32_t ttl = parse_ttl(req->token_ttl);
                if (!ttl) {
                        set_error(&r, 400);
                        goto done;
                }
                char *tok = malloc(KILN_IMDS_TOKEN_LEN + 1);
                if (!tok)
                        return -ENOMEM;
                k = token_make(st, now_ms + (uint64_t)ttl * 1000, tok);
                if (k < 0) {
                        free(tok);
                        return k;
                }
                r.owned = (uint8_t *)tok;
                r.token_ttl = ttl;
                set_text(&r, 200, tok, KILN_IMDS_TOKEN_LEN);
                goto done;
        }

        if (req->token.ptr) {
                left = token_check(st, req->token, now_ms);
                if (!left) {
                        set_error(&r, 401);
                        goto done;
                }
                r.token_ttl = (uint32_t)((left + 999) / 1000); /* whole seconds left, rounded up */
        } else if (!st->imds_v1) {
                set_error(&r, 401);
                goto done;
        }

        if (g->n == 0) {
                set_text(&r, 200, versions, sizeof(versions) - 1);
                goto done;
        }
        if (g->too_many || !version_ok(g->s[0], g->len[0])) {
                set_error(&r, 404);
                goto done;
        }
        /* The rest, "meta-data/placement", is how the tree names it. */
        const char *rel = g->n > 1 ? g->s[1] : "";
        size_t rlen = g->n > 1 ? (size_t)(g->s[g->n - 1] + g->len[g->n - 1] - rel) : 0;
        for (size_t i = 1; i < g->n; i++)
                if (g->s[i][0] == '.') {
                        set_error(&r, 404);
                        goto done;
                }
        const struct imds_entry *e = find(st, rel, rlen);
        if (!e || (!e->dir && g->slash)) {
                set_error(&r, 404);
                goto done;
        }
        if (e->dir) {
                k = listing(st, e, &r);
                if (k < 0)
                        return k;
        } else {
                set_text(&r, 200, e->data, e->len);
        }
done:
        *ret = r;
        return 0;
}

void kiln_imds_respond_error(int parse_err, struct kiln_imds_response *ret)
{
        struct kiln_imds_response r = { .close = true };
        set_error(&r, kiln_http_error_status(parse_err));
        *ret = r;
}

void kiln_imds_respond_throttled(struct kiln_imds_response *ret)
{
        struct kiln_imds_response r = { .close = true };
        set_error(&r, 429);
        *ret = r;
}

/* ------------------------------------------------------- connection slots */

uint32_t kiln_imds_max_connections(const struct kiln_imds_state *st)
{
        return st->max_conn;
}

int kiln_imds_slot_take(const char *dir, uint32_t max, int *ret_fd)
{
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        _cleanup_close_ int sfd = -1;
        char name[16];

        if (dfd < 0)
                return kiln_errorf(-errno, "cannot open imds folder '%s': %m", dir);
        if (max == 0 || max > KILN_IMDS_CONN_MAX)
                return kiln_errorf(-EINVAL, "imds: %u connections is not 1..%u", max, KILN_IMDS_CONN_MAX);
        if (mkdirat(dfd, "slots", 0700) < 0 && errno != EEXIST)
                return kiln_errorf(-errno, "cannot make '%s/slots': %m", dir);
        sfd = openat(dfd, "slots", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
                return kiln_errorf(-errno, "cannot open '%s/slots': %m", dir);
        for (uint32_t i = 0; i < max; i++) {
                snprintf(name, sizeof(name), "%" PRIu32, i);
                int fd = openat(sfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0)
                        return kiln_errorf(-errno, "cannot open '%s/slots/%s': %m", dir, name);
                if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
                        *ret_fd = fd;
                        return 0;
                }
                int e = errno;
                close(fd);
                if (e != EWOULDBLOCK && e != EINTR)
                        return kiln_errorf(-e, "cannot lock '%s/slots/%s': %s", dir, name, strerror(e));
        }
        return -EBUSY;
}

int kiln_imds_response_head(const struct kiln_imds_response *r, uint64_t now, char *buf, size_t size)
{
        static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        time_t t = (time_t)now;
        struct tm tm;
        char ttl[64] = "";
        int n;

        if (!gmtime_r(&t, &tm))
                memset(&tm, 0, sizeof(tm));
        if (r->token_ttl)
                snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %" PRIu32 "\r\n", r->token_ttl);
        n = snprintf(buf, size,
                     "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain\r\n"
                     "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n"
                     "Server: EC2ws\r\n"
                     "Content-Length: %zu\r\n"
                     "%s%s"
                     "Connection: %s\r\n"
                     "\r\n",
                     r->status, kiln_http_reason(r->status), days[(unsigned)tm.tm_wday % 7], tm.tm_mday,
                     months[(unsigned)tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     r->body_len, ttl, r->allow ? "Allow: GET, PUT\r\n" : "", r->close ? "close" : "keep-alive");
        if (n < 0 || (size_t)n >= size)
                return -ENOSPC;
        return n;
}

void kiln_imds_response_free(struct kiln_imds_response *r)
{
        free(r->owned);
        r->owned = NULL;
        r->body = NULL;
}

/* ------------------------------------------------------- writing DIR */

static bool printable(const char *s, size_t max)
{
        size_t n = strlen(s);
        if (n == 0 || n > max)
                return false;
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
                        return false;
        return true;
}

static bool hex_run(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static bool ipv4_ok(const char *s)
{
        unsigned parts = 0;
        while (parts < 4) {
                size_t n = 0;
                unsigned v = 0;
                while (s[n] >= '0' && s[n] <= '9' && n < 3)
                        v = v * 10 + (unsigned)(s[n++] - '0');
                if (n == 0 || v > 255 || (n > 1 && s[0] == '0'))
                        return false;
                s += n;
                parts++;
                if (parts < 4 && *s++ != '.')
                        return false;
        }
        return *s == 0;
}

static bool mac_ok(const char *s)
{
        if (strlen(s) != 17)
                return false;
        for (int i = 0; i < 17; i++)
                if (i % 3 == 2 ? s[i] != ':' : !hex_run(s + i, 1))
                        return false;
        return true;
}

/* us-east-1a, eu-west-2c, us-west-2-lax-1a: lowercase, digits and '-',
 * ending in a digit and one letter. */
static bool az_ok(const char *s)
{
        size_t n = strlen(s);
        if (n < 3 || n > 64 || s[n - 1] < 'a' || s[n - 1] > 'z' || s[n - 2] < '0' || s[n - 2] > '9' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

/* PREFIX + 8 or 17 lowercase hex digits: eni-, subnet-, vpc-, sg-. */
static bool id_ok(const char *s, const char *prefix)
{
        size_t p = strlen(prefix), n = s ? strlen(s) : 0;
        return n > p && !strncmp(s, prefix, p) && (n - p == 8 || n - p == 17) && hex_run(s + p, n - p);
}

/* "A.B.C.D/N", N 0..32, no host bits set. */
static bool cidr4_parse(const char *s, uint32_t *ret_net, unsigned *ret_len)
{
        char addr[16];
        const char *slash = s ? strchr(s, '/') : NULL;
        struct in_addr a;

        if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1] || strlen(slash + 1) > 2 ||
            !is_digits(slash + 1, strlen(slash + 1)) || (slash[1] == '0' && slash[2]))
                return false;
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = 0;
        unsigned len = (unsigned)atoi(slash + 1);
        if (len > 32 || !ipv4_ok(addr) || inet_pton(AF_INET, addr, &a) != 1)
                return false;
        uint32_t net = ntohl(a.s_addr), mask = len ? ~(uint32_t)0 << (32 - len) : 0;
        if (net & ~mask)
                return false;
        *ret_net = net;
        *ret_len = len;
        return true;
}

static bool in_cidr4(const char *ip, uint32_t net, unsigned len)
{
        struct in_addr a;
        uint32_t mask = len ? ~(uint32_t)0 << (32 - len) : 0;
        return inet_pton(AF_INET, ip, &a) == 1 && (ntohl(a.s_addr) & mask) == net;
}

/* "PREFIX/N", N 1..128, no host bits set. */
static bool cidr6_parse(const char *s, struct in6_addr *ret, unsigned *ret_len)
{
        char addr[INET6_ADDRSTRLEN];
        const char *slash = s ? strchr(s, '/') : NULL;

        if (!slash || (size_t)(slash - s) >= sizeof(addr) || !slash[1] || strlen(slash + 1) > 3 ||
            !is_digits(slash + 1, strlen(slash + 1)) || slash[1] == '0')
                return false;
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = 0;
        unsigned len = (unsigned)atoi(slash + 1);
        if (len > 128 || inet_pton(AF_INET6, addr, ret) != 1)
                return false;
        for (unsigned b = len; b < 128; b++)
                if (ret->s6_addr[b / 8] & (0x80 >> (b % 8)))
                        return false;
        *ret_len = len;
        return true;
}

static bool in_cidr6(const char *ip, const struct in6_addr *net, unsigned len)
{
        struct in6_addr a;
        if (inet_pton(AF_INET6, ip, &a) != 1)
                return false;
        for (unsigned b = 0; b < len; b++)
                if ((a.s6_addr[b / 8] ^ net->s6_addr[b / 8]) & (0x80 >> (b % 8)))
                        return false;
        return true;
}

/* The network interfaces, the VPC and its security group. */
static int check_nics(const struct kiln_imds_instance *in)
{
        bool have0 = false, v6 = false;
        uint32_t net;
        unsigned len;
        struct in6_addr net6;

        if (in->n_nics > KILN_IMDS_NICS_MAX || !in->nics)
                return kiln_errorf(-EINVAL, "imds: %zu network interfaces, at most %u", in->n_nics, KILN_IMDS_NICS_MAX);
        if (!id_ok(in->vpc_id, "vpc-"))
                return kiln_errorf(-EINVAL, "imds: vpc id '%s' is not vpc- and 8 or 17 lowercase hex digits",
                                   in->vpc_id ? in->vpc_id : "");
        if (!id_ok(in->security_group_id, "sg-"))
                return kiln_errorf(-EINVAL, "imds: security group id '%s' is not sg- and 8 or 17 lowercase hex digits",
                                   in->security_group_id ? in->security_group_id : "");
        if (in->security_group && (!printable(in->security_group, 255)))
                return kiln_errorf(-EINVAL, "imds: security group name '%s' is empty or not printable",
                                   in->security_group);
        if (in->n_vpc_ipv4_cidrs == 0 || in->n_vpc_ipv4_cidrs > 5 || !in->vpc_ipv4_cidrs)
                return kiln_errorf(-EINVAL, "imds: a VPC has 1 to 5 IPv4 blocks, not %zu", in->n_vpc_ipv4_cidrs);
        for (size_t i = 0; i < in->n_vpc_ipv4_cidrs; i++)
                if (!cidr4_parse(in->vpc_ipv4_cidrs[i], &net, &len))
                        return kiln_errorf(-EINVAL, "imds: VPC block '%s' is not A.B.C.D/N",
                                           in->vpc_ipv4_cidrs[i] ? in->vpc_ipv4_cidrs[i] : "");
        if (in->vpc_ipv6_cidr && !cidr6_parse(in->vpc_ipv6_cidr, &net6, &len))
                return kiln_errorf(-EINVAL, "imds: VPC IPv6 block '%s' is not PREFIX/N", in->vpc_ipv6_cidr);
        for (size_t i = 0; i < in->n_nics; i++) {
                const struct kiln_imds_nic *c = &in->nics[i];
                if (c->device_number >= KILN_IMDS_NICS_MAX)
                        return kiln_errorf(-EINVAL, "imds: network interface device number %u is not 0..%u",
                                           c->device_number, KILN_IMDS_NICS_MAX - 1);
                if (!c->mac || !mac_ok(c->mac))
                        return kiln_errorf(-EINVAL, "imds: network interface %u: mac '%s' is not six lowercase hex pairs",
                                           c->device_number, c->mac ? c->mac : "");
                for (size_t j = 0; j < i; j++) {
                        if (in->nics[j].device_number == c->device_number)
                                return kiln_errorf(-EINVAL, "imds: network interface device number %u given twice",
                                                   c->device_number);
                        if (!strcmp(in->nics[j].mac, c->mac))
                                return kiln_errorf(-EINVAL, "imds: mac %s given twice", c->mac);
                }
                if (!id_ok(c->interface_id, "eni-"))
                        return kiln_errorf(-EINVAL, "imds: network interface %u: interface id '%s' is not eni- and 8 or 17 lowercase hex digits",
                                           c->device_number, c->interface_id ? c->interface_id : "");
                if (!id_ok(c->subnet_id, "subnet-"))
                        return kiln_errorf(-EINVAL, "imds: network interface %u: subnet id '%s' is not subnet- and 8 or 17 lowercase hex digits",
                                           c->device_number, c->subnet_id ? c->subnet_id : "");
                if (!c->local_hostname || !printable(c->local_hostname, 255) || strchr(c->local_hostname, ' '))
                        return kiln_errorf(-EINVAL, "imds: network interface %u: local hostname '%s' is missing or not printable",
                                           c->device_number, c->local_hostname ? c->local_hostname : "");
                if (!c->local_ipv4 || !ipv4_ok(c->local_ipv4))
                        return kiln_errorf(-EINVAL, "imds: network interface %u: local ipv4 '%s' is not a dotted quad",
                                           c->device_number, c->local_ipv4 ? c->local_ipv4 : "");
                if (!cidr4_parse(c->subnet_ipv4_cidr, &net, &len) || !in_cidr4(c->local_ipv4, net, len))
                        return kiln_errorf(-EINVAL, "imds: network interface %u: subnet '%s' is not A.B.C.D/N holding %s",
                                           c->device_number, c->subnet_ipv4_cidr ? c->subnet_ipv4_cidr : "",
                                           c->local_ipv4);
                if (c->ipv6) {
                        if (!cidr6_parse(c->subnet_ipv6_cidr, &net6, &len) || !in_cidr6(c->ipv6, &net6, len))
                                return kiln_errorf(-EINVAL, "imds: network interface %u: IPv6 subnet '%s' is not PREFIX/N holding '%s'",
                                                   c->device_number, c->subnet_ipv6_cidr ? c->subnet_ipv6_cidr : "",
                                                   c->ipv6);
                        v6 = true;
                } else if (c->subnet_ipv6_cidr) {
                        return kiln_errorf(-EINVAL, "imds: network interface %u: an IPv6 subnet without an IPv6 address",
                                           c->device_number);
                }
                if (c->device_number == 0) {
                        have0 = true;
                        if (strcmp(c->mac, in->mac) || strcmp(c->local_ipv4, in->local_ipv4))
                                return kiln_errorf(-EINVAL, "imds: network interface 0 (%s, %s) is not the instance's (%s, %s)",
                                                   c->mac, c->local_ipv4, in->mac, in->local_ipv4);
                }
        }
        if (!have0)
                return kiln_errorf(-EINVAL, "imds: no network interface with device number 0");
        if (v6 && !in->vpc_ipv6_cidr)
                return kiln_errorf(-EINVAL, "imds: a network interface has an IPv6 address but the VPC no IPv6 block");
        return 0;
}

static bool bdm_name_ok(const char *s)
{
        if (!strcmp(s, "ami") || !strcmp(s, "root") || !strcmp(s, "swap"))
                return true;
        size_t p = !strncmp(s, "ebs", 3) ? 3 : !strncmp(s, "ephemeral", 9) ? 9 : 0;
        size_t n = strlen(s);
        return p && n > p && n - p <= 3 && is_digits(s + p, n - p);
}

static int check_instance(const struct kiln_imds_instance *in)
{
        const char *id = in->instance_id;
        size_t idn = id ? strlen(id) : 0;

        if (!id || idn < 2 || memcmp(id, "i-", 2) || (idn != 10 && idn != 19) || !hex_run(id + 2, idn - 2))
                return kiln_errorf(-EINVAL, "imds: instance id '%s' is not i- and 8 or 17 lowercase hex digits",
                                   id ? id : "");
        if (!in->ami_id || strncmp(in->ami_id, "ami-", 4) || strlen(in->ami_id) < 12 || strlen(in->ami_id) > 21 ||
            !hex_run(in->ami_id + 4, strlen(in->ami_id) - 4))
                return kiln_errorf(-EINVAL, "imds: image id '%s' is not ami- and 8 or 17 lowercase hex digits",
                                   in->ami_id ? in->ami_id : "");
        const struct {
                const char *what, *v;
        } text[] = {
                { "instance type", in->instance_type }, { "hostname", in->hostname },
                { "local ipv4", in->local_ipv4 },       { "mac", in->mac },
                { "availability zone", in->availability_zone },
        };
        for (size_t i = 0; i < ARRAY_SIZE(text); i++)
                if (!text[i].v || !printable(text[i].v, 255) || strchr(text[i].v, ' '))
                        return kiln_errorf(-EINVAL, "imds: %s '%s' is missing or not printable", text[i].what,
                                           text[i].v ? text[i].v : "");
        if (!ipv4_ok(in->local_ipv4))
                return kiln_errorf(-EINVAL, "imds: local ipv4 '%s' is not a dotted quad", in->local_ipv4);
        if (!mac_ok(in->mac))
                return kiln_errorf(-EINVAL, "imds: mac '%s' is not six lowercase hex pairs", in->mac);
        if (!az_ok(in->availability_zone))
                return kiln_errorf(-EINVAL, "imds: availability zone '%s' is not like us-east-1a",
                                   in->availability_zone);
        if (in->public_key && (!*in->public_key || strlen(in->public_key) > 16384 || strchr(in->public_key, '\r')))
                return kiln_errorf(-EINVAL, "imds: public key is empty, too long or has a carriage return");
        if (in->key_name && (!printable(in->key_name, 255) || strchr(in->key_name, '=')))
                return kiln_errorf(-EINVAL, "imds: key name '%s' is empty or not printable", in->key_name);
        if (in->architecture && !printable(in->architecture, 32))
                return kiln_errorf(-EINVAL, "imds: architecture '%s' is not printable", in->architecture);
        if (in->user_data && in->user_data_len > KILN_IMDS_FILE_MAX)
                return kiln_errorf(-EFBIG, "imds: user data is larger than %u bytes", KILN_IMDS_FILE_MAX);
        if (in->n_bdm && !in->bdm)
                return kiln_errorf(-EINVAL, "imds: block device mappings missing");
        if (in->n_bdm > 64)
                return kiln_errorf(-EINVAL, "imds: more than 64 block device mappings");
        for (size_t i = 0; i < in->n_bdm; i++) {
                const struct kiln_imds_bdm *b = &in->bdm[i];
                if (!b->name || !bdm_name_ok(b->name))
                        return kiln_errorf(-EINVAL, "imds: block device mapping name '%s' is not ami, root, swap, "
                                           "ebsN or ephemeralN", b->name ? b->name : "");
                if (!b->device || !printable(b->device, 64))
                        return kiln_errorf(-EINVAL, "imds: block device mapping '%s' has no device", b->name);
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(in->bdm[j].name, b->name))
                                return kiln_errorf(-EINVAL, "imds: block device mapping '%s' given twice",
                                                   b->name);
        }
        if (in->max_connections > KILN_IMDS_CONN_MAX)
                return kiln_errorf(-EINVAL, "imds: %u connections at once, at most %u", in->max_connections,
                                   KILN_IMDS_CONN_MAX);
        if (in->n_nics)
                return check_nics(in);
        return 0;
}

/* Write rel (folders made as needed) under dfd; O_EXCL, never through a link. */
static int put_file(int dfd, const char *rel, const void *data, size_t len, mode_t mode)
{
        _cleanup_free_ char *copy = strdup(rel);
        _cleanup_close_ int cur = -1;
        int at = dfd, k;
        char *p, *slash;

        if (!copy)
                return -ENOMEM;
        for (p = copy; (slash = strchr(p, '/')); p = slash + 1) {
                *slash = 0;
                if (mkdirat(at, p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                int next = openat(at, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0)
                        return -errno;
                if (cur >= 0)
                        close(cur);
                cur = next;
                at = cur;
        }
        _cleanup_close_ int fd = openat(at, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        k = write_full(fd, data, len);
        if (k < 0)
                return k;
        return close(TAKE_FD(fd)) < 0 ? -errno : 0;
}

static int put_str(int dfd, const char *rel, const char *s)
{
        return put_file(dfd, rel, s, strlen(s), 0644);
}

/* Remove name under dfd and everything in it, never following a link. */
static void remove_tree_at(int dfd, const char *name, unsigned depth)
{
        int fd;
        DIR *d;
        struct dirent *de;

        if (unlinkat(dfd, name, 0) == 0 || errno != EISDIR || depth > 32)
                return;
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(fd);
        if (!d) {
                close(fd);
                return;
        }
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        remove_tree_at(fd, de->d_name, depth + 1);
        closedir(d);
        unlinkat(dfd, name, AT_REMOVEDIR);
}

static int identity_document(const struct kiln_imds_instance *in, const char *region, char **ret)
{
        struct kiln_json j = { 0 };
        char when[32];
        time_t t = in->pending_time ? (time_t)in->pending_time : time(NULL);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
                return -EINVAL;
        kiln_json_begin_object(&j, NULL);
        kiln_json_string(&j, "accountId", "000000000000"); /* no account: a local launch */
        kiln_json_string(&j, "architecture", in->architecture ? in->architecture : "x86_64");
        kiln_json_string(&j, "availabilityZone", in->availability_zone);
        kiln_json_string(&j, "imageId", in->ami_id);
        kiln_json_string(&j, "instanceId", in->instance_id);
        kiln_json_string(&j, "instanceType", in->instance_type);
        kiln_json_string(&j, "pendingTime", when);
        kiln_json_string(&j, "privateIp", in->local_ipv4);
        kiln_json_string(&j, "region", region);
        kiln_json_string(&j, "version", "2017-09-30");
        kiln_json_end_object(&j);
        *ret = kiln_json_finish(&j);
        return *ret ? 0 : -ENOMEM;
}

/* One "a\nb\nc" text from a list. */
static char *join_lines(const char *const *v, size_t n)
{
        size_t len = 1;
        for (size_t i = 0; i < n; i++)
                len += strlen(v[i]) + 1;
        char *s = malloc(len), *p = s;
        if (!s)
                return NULL;
        for (size_t i = 0; i < n; i++)
                p += sprintf(p, "%s%s", i ? "\n" : "", v[i]);
        *p = 0;
        return s;
}

/* meta-data/network/interfaces/macs/MAC/, one folder per interface. */
static int fill_nics(int dfd, const struct kiln_imds_instance *in)
{
        char path[512], number[16];
        int k;

        if (in->n_nics == 0) {
                const struct {
                        const char *name, *value;
                } nic[] = {
                        { "device-number", "0" },
                        { "local-hostname", in->hostname },
                        { "local-ipv4s", in->local_ipv4 },
                        { "mac", in->mac },
                };
                for (size_t i = 0; i < ARRAY_SIZE(nic); i++) {
                        snprintf(path, sizeof(path), "tree/meta-data/network/interfaces/macs/%s/%s", in->mac,
                                 nic[i].name);
                        if ((k = put_str(dfd, path, nic[i].value)) < 0)
                                return k;
                }
                return 0;
        }
        _cleanup_free_ char *vpc4 = join_lines(in->vpc_ipv4_cidrs, in->n_vpc_ipv4_cidrs);
        if (!vpc4)
                return -ENOMEM;
        for (size_t i = 0; i < in->n_nics; i++) {
                const struct kiln_imds_nic *c = &in->nics[i];
                snprintf(number, sizeof(number), "%u", c->device_number);
                const struct {
                        const char *name, *value;
                } f[] = {
                        { "device-number", number },
                        { "interface-id", c->interface_id },
                        { "local-hostname", c->local_hostname },
                        { "local-ipv4s", c->local_ipv4 },
                        { "mac", c->mac },
                        { "owner-id", "000000000000" }, /* no account: a local launch */
                        { "security-group-ids", in->security_group_id },
                        { "security-groups", in->security_group ? in->security_group : "default" },
                        { "subnet-id", c->subnet_id },
                        { "subnet-ipv4-cidr-block", c->subnet_ipv4_cidr },
                        { "vpc-id", in->vpc_id },
                        { "vpc-ipv4-cidr-block", in->vpc_ipv4_cidrs[0] },
                        { "vpc-ipv4-cidr-blocks", vpc4 },
                        { "ipv6s", c->ipv6 },
                        { "subnet-ipv6-cidr-blocks", c->ipv6 ? c->subnet_ipv6_cidr : NULL },
                        { "vpc-ipv6-cidr-blocks", c->ipv6 ? in->vpc_ipv6_cidr : NULL },
                };
                for (size_t j = 0; j < ARRAY_SIZE(f); j++) {
                        if (!f[j].value)
                                continue;
                        snprintf(path, sizeof(path), "tree/meta-data/network/interfaces/macs/%s/%s", c->mac,
                                 f[j].name);
                        if ((k = put_str(dfd, path, f[j].value)) < 0)
                                return k;
                }
        }
        return 0;
}

static int fill(int dfd, const struct kiln_imds_instance *in)
{
        uint8_t secret[KILN_IMDS_SECRET_SIZE];
        char region[64], path[512];
        const char *hostname = in->hostname;
        int k;

        if (RAND_bytes(secret, sizeof(secret)) != 1)
                return kiln_errorf(-EIO, "imds: no random bytes for the token secret");
        k = put_file(dfd, "secret", secret, sizeof(secret), 0600);
        OPENSSL_cleanse(secret, sizeof(secret));
        if (k < 0)
                return k;
        char settings[64];
        snprintf(settings, sizeof(settings), "imds_v1=%d\nmax_connections=%u\n", in->imds_v1 ? 1 : 0,
                 in->max_connections ? in->max_connections : KILN_IMDS_CONN_DEFAULT);
        if ((k = put_str(dfd, "settings", settings)) < 0)
                return k;
        if (mkdirat(dfd, "slots", 0700) < 0)
                return -errno;

        snprintf(region, sizeof(region), "%.*s", (int)strlen(in->availability_zone) - 1, in->availability_zone);
        const struct {
                const char *path, *value;
        } files[] = {
                { "tree/meta-data/ami-id", in->ami_id },
                { "tree/meta-data/ami-launch-index", "0" },
                { "tree/meta-data/hostname", hostname },
                { "tree/meta-data/instance-action", "none" },
                { "tree/meta-data/instance-id", in->instance_id },
                { "tree/meta-data/instance-type", in->instance_type },
                { "tree/meta-data/local-hostname", hostname },
                { "tree/meta-data/local-ipv4", in->local_ipv4 },
                { "tree/meta-data/mac", in->mac },
                { "tree/meta-data/placement/availability-zone", in->availability_zone },
                { "tree/meta-data/placement/region", region },
                { "tree/meta-data/services/domain", "amazonaws.com" },
                { "tree/meta-data/services/partition", "aws" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                if ((k = put_str(dfd, files[i].path, files[i].value)) < 0)
                        return k;

        if ((k = fill_nics(dfd, in)) < 0)
                return k;

        for (size_t i = 0; i < in->n_bdm; i++) {
                snprintf(path, sizeof(path), "tree/meta-data/block-device-mapping/%s", in->bdm[i].name);
                if ((k = put_str(dfd, path, in->bdm[i].device)) < 0)
                        return k;
        }

        if (in->public_key) {
                _cleanup_free_ char *list = NULL;
                if (asprintf(&list, "0=%s", in->key_name ? in->key_name : "kiln") < 0)
                        return -ENOMEM;
                if ((k = put_str(dfd, "tree/meta-data/public-keys/.listing", list)) < 0 ||
                    (k = put_str(dfd, "tree/meta-data/public-keys/0/openssh-key", in->public_key)) < 0)
                        return k;
        }
        if (in->user_data && (k = put_file(dfd, "tree/user-data", in->user_data, in->user_data_len, 0644)) < 0)
                return k;

        _cleanup_free_ char *doc = NULL;
        if ((k = identity_document(in, region, &doc)) < 0)
                return k;
        return put_str(dfd, "tree/dynamic/instance-identity/document", doc);
}

int kiln_imds_dir_write(const char *dir, const struct kiln_imds_instance *in)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int dfd = -1;
        int k;

        k = check_instance(in);
        if (k < 0)
                return k;
        if (!*dir)
                return kiln_errorf(-EINVAL, "imds: empty folder name");
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
                n--;
        if (asprintf(&tmp, "%.*s.tmp-XXXXXX", (int)n, dir) < 0)
                return kiln_errorf(-ENOMEM, "out of memory");
        if (!mkdtemp(tmp))
                return kiln_errorf(-errno, "cannot make a folder beside '%s': %m", dir);
        dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
                k = kiln_errorf(-errno, "cannot open '%s': %m", tmp);
                rmdir(tmp);
                return k;
        }
        kiln_clear_error();
        k = fill(dfd, in);
        if (k < 0) {
                if (!*kiln_last_error())
                        kiln_errorf(k, "cannot write imds folder '%s': %s", tmp, strerror(-k));
                goto fail;
        }
        if (rename(tmp, dir) < 0) {
                k = -errno;
                if (k == -ENOTEMPTY || k == -EEXIST)
                        kiln_errorf(-EEXIST, "imds folder '%s' already exists and is not empty", dir);
                else
                        kiln_errorf(k, "cannot rename '%s' to '%s': %s", tmp, dir, strerror(-k));
                k = k == -ENOTEMPTY ? -EEXIST : k;
                goto fail;
        }
        return 0;
fail:
        remove_tree_at(AT_FDCWD, tmp, 0);
        return k;
}
