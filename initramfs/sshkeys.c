/* SPDX-License-Identifier: MIT */
/*
 * SSH host keys: EVP keygen, OpenSSH's "openssh-key-v1" private key format
 * (unencrypted), .pub lines, SHA256 fingerprints, atomic writes.
 *
 * The byte layouts follow OpenSSH's PROTOCOL.key and sshkey.c
 * (sshkey_private_to_blob2, the per-type serializers in ssh-ed25519.c,
 * ssh-ecdsa.c and ssh-rsa.c) and sshbuf-misc.c for the 70-column base64;
 * tests/unit/test-sshkeys.c checks the files with ssh-keygen and sshd.
 * Everything secret is built in a buffer
 * that is wiped before it is freed or grown.
 */
#include "sshkeys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util.h"

/* ---- the type table ---------------------------------------------------- */

struct sshkey_type_info {
        const char *name;      /* kiln's name */
        const char *ssh_name;  /* key type on the wire */
        const char *label;     /* ssh-keygen -l */
        const char *file_name; /* sshd's default HostKey */
};

static const struct sshkey_type_info type_table[_KILN_SSHKEY_TYPE_MAX] = {
        [KILN_SSHKEY_ED25519] = { "ed25519", "ssh-ed25519", "ED25519", "ssh_host_ed25519_key" },
        [KILN_SSHKEY_ECDSA] = { "ecdsa", "ecdsa-sha2-nistp256", "ECDSA", "ssh_host_ecdsa_key" },
        [KILN_SSHKEY_RSA] = { "rsa", "ssh-rsa", "RSA", "ssh_host_rsa_key" },
};

#define RSA_BITS 3072
#define ECDSA_CURVE "nistp256" /* the SSH name of OpenSSL's "P-256" */
#define ED25519_LEN 32
#define P256_POINT_LEN 65 /* 0x04 || X || Y */

static const struct sshkey_type_info *type_info(enum kiln_sshkey_type t)
{
        /* Enums may hold any int; reject rather than index. */
        return (unsigned)t < _KILN_SSHKEY_TYPE_MAX ? &type_table[t] : NULL;
}

const char *kiln_sshkey_type_to_string(enum kiln_sshkey_type t)
{
        return type_info(t) ? type_info(t)->name : NULL;
}

int kiln_sshkey_type_from_string(const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(type_table); i++)
                if (strcmp(type_table[i].name, s) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *kiln_sshkey_type_ssh_name(enum kiln_sshkey_type t)
{
        return type_info(t) ? type_info(t)->ssh_name : NULL;
}

const char *kiln_sshkey_type_label(enum kiln_sshkey_type t)
{
        return type_info(t) ? type_info(t)->label : NULL;
}

const char *kiln_sshkey_type_file_name(enum kiln_sshkey_type t)
{
        return type_info(t) ? type_info(t)->file_name : NULL;
}

/* ---- errors ------------------------------------------------------------ */

/*
 * The one place an OpenSSL error queue becomes a message: "what: reason",
 * the reason being the first error queued (the root cause; OpenSSL's
 * reasons are fixed strings, never key material).  The queue is emptied so
 * nothing stale reaches a later caller.
 */
static int _printf_(2, 3) openssl_errorf(int err, const char *fmt, ...)
{
        char what[256];
        unsigned long e, first = 0;
        const char *reason = NULL;
        va_list ap;

        while ((e = ERR_get_error()) != 0)
                if (!first)
                        first = e;
        if (first) {
                reason = ERR_reason_error_string(first);
                if (ERR_GET_REASON(first) == ERR_R_MALLOC_FAILURE)
                        err = -ENOMEM;
        }
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        if (reason)
                return kiln_errorf(err, "%s: %s", what, reason);
        if (first)
                return kiln_errorf(err, "%s: OpenSSL error %lx", what, first);
        return kiln_errorf(err, "%s", what);
}

/* ---- a buffer for secrets ---------------------------------------------- */

/*
 * Append-only, with a sticky error so a serializer can be written as a
 * straight list of puts and checked once.  Growing copies into a new block
 * and wipes the old one (realloc could leave key material in freed memory).
 */
struct sbuf {
        uint8_t *data;
        size_t len, cap;
        int err;
};

static void sbuf_wipe(struct sbuf *b)
{
        if (b->data) {
                OPENSSL_cleanse(b->data, b->cap);
                free(b->data);
        }
        *b = (struct sbuf){ 0 };
}

/* Room for n more bytes; returns where they go (and counts them) or NULL. */
static uint8_t *sbuf_append(struct sbuf *b, size_t n)
{
        if (b->err)
                return NULL;
        if (n > SIZE_MAX / 4 - b->len) {
                b->err = -ENOMEM;
                return NULL;
        }
        if (b->len + n > b->cap) {
                size_t cap = b->cap ? b->cap : 512;
                while (cap < b->len + n)
                        cap *= 2;
                uint8_t *p = malloc(cap);
                if (!p) {
                        b->err = -ENOMEM;
                        return NULL;
                }
                if (b->len)
                        memcpy(p, b->data, b->len);
                if (b->data) {
                        OPENSSL_cleanse(b->data, b->cap);
                        free(b->data);
                }
                b->data = p;
                b->cap = cap;
        }
        uint8_t *at = b->data + b->len;
        b->len += n;
        return at;
}

static void put_be32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}

static void sbuf_put(struct sbuf *b, const void *data, size_t n)
{
        uint8_t *p = sbuf_append(b, n);
        if (p && n)
                memcpy(p, data, n);
}

static void sbuf_puts(struct sbuf *b, const char *s)
{
        sbuf_put(b, s, strlen(s));
}

/* prefix, s, newline */
static void sbuf_put_line(struct sbuf *b, const char *prefix, const char *s)
{
        sbuf_puts(b, prefix);
        sbuf_puts(b, s);
        sbuf_put(b, "\n", 1);
}

static void sbuf_put_u32(struct sbuf *b, uint32_t v)
{
        uint8_t *p = sbuf_append(b, 4);
        if (p)
                put_be32(p, v);
}

/* SSH "string": u32 length, bytes. */
static void sbuf_put_string(struct sbuf *b, const void *data, size_t n)
{
        if (n > UINT32_MAX) {
                if (!b->err)
                        b->err = -EINVAL;
                return;
        }
        sbuf_put_u32(b, (uint32_t)n);
        sbuf_put(b, data, n);
}

static void sbuf_put_cstring(struct sbuf *b, const char *s)
{
        sbuf_put_string(b, s, strlen(s));
}

/*
 * SSH "mpint" of a non-negative number: big-endian, minimal, with a 0x00
 * in front when the top bit is set; zero is the empty string.  Written in
 * place, so a secret never passes through a temporary.
 */
static void sbuf_put_mpint(struct sbuf *b, const BIGNUM *bn)
{
        if (!bn || BN_is_negative(bn)) {
                if (!b->err)
                        b->err = -EINVAL;
                return;
        }
        size_t n = (size_t)BN_num_bytes(bn);
        uint8_t *p = sbuf_append(b, 4 + 1 + n);
        if (!p)
                return;
        BN_bn2bin(bn, p + 5);
        if (n > 0 && (p[5] & 0x80)) {
                p[4] = 0;
                put_be32(p, (uint32_t)(n + 1));
        } else {
                memmove(p + 4, p + 5, n);
                p[4 + n] = 0; /* the byte given back below; wiped with the rest anyway */
                b->len--;
                put_be32(p, (uint32_t)n);
        }
}

/* ---- keys ---------------------------------------------------------------- */

struct kiln_sshkey {
        enum kiln_sshkey_type type;
        EVP_PKEY *pkey;
};

int kiln_sshkey_generate(enum kiln_sshkey_type type, struct kiln_sshkey **ret)
{
        struct kiln_sshkey *key;
        EVP_PKEY *pkey = NULL;

        if (!type_info(type))
                return kiln_errorf(-EINVAL, "unknown ssh host key type %d", (int)type);

        ERR_clear_error();
        switch (type) {
        case KILN_SSHKEY_ED25519:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
                break;
        case KILN_SSHKEY_ECDSA:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
                break;
        case KILN_SSHKEY_RSA:
                pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
                break;
        default:
                break;
        }
        if (!pkey)
                return openssl_errorf(-EIO, "cannot generate %s ssh host key", type_info(type)->name);

        key = calloc(1, sizeof(*key));
        if (!key) {
                EVP_PKEY_free(pkey);
                return kiln_errorf(-ENOMEM, "out of memory");
        }
        key->type = type;
        key->pkey = pkey;
        *ret = key;
        return 0;
}

void kiln_sshkey_free(struct kiln_sshkey *key)
{
        if (!key)
                return;
        EVP_PKEY_free(key->pkey); /* OpenSSL clears private key material as it frees */
        free(key);
}

enum kiln_sshkey_type kiln_sshkey_get_type(const struct kiln_sshkey *key)
{
        return key->type;
}

unsigned kiln_sshkey_bits(const struct kiln_sshkey *key)
{
        int bits = EVP_PKEY_get_bits(key->pkey);
        return bits > 0 ? (unsigned)bits : 0;
}

/* The uncompressed point of an ECDSA key, as sshbuf_put_eckey() writes it. */
static int ec_point(const struct kiln_sshkey *key, uint8_t q[P256_POINT_LEN])
{
        size_t len = 0;

        if (!EVP_PKEY_get_octet_string_param(key->pkey, OSSL_PKEY_PARAM_PUB_KEY, q,
                                             P256_POINT_LEN, &len))
                return openssl_errorf(-EIO, "cannot read the ecdsa public key");
        if (len != P256_POINT_LEN || q[0] != 0x04)
                return kiln_errorf(-EIO, "ecdsa public key is not an uncompressed P-256 point");
        return 0;
}

static int get_bn(const struct kiln_sshkey *key, const char *param, BIGNUM **ret)
{
        *ret = NULL;
        if (!EVP_PKEY_get_bn_param(key->pkey, param, ret))
                return openssl_errorf(-EIO, "cannot read the %s key's '%s'",
                                      type_info(key->type)->name, param);
        return 0;
}

/* "string type" and the public fields: the public key blob. */
static int put_public(struct sbuf *b, const struct kiln_sshkey *key)
{
        int r = 0;

        sbuf_put_cstring(b, type_info(key->type)->ssh_name);
        switch (key->type) {
        case KILN_SSHKEY_ED25519: {
                uint8_t pk[ED25519_LEN];
                size_t len = sizeof(pk);
                if (!EVP_PKEY_get_raw_public_key(key->pkey, pk, &len) || len != sizeof(pk))
                        return openssl_errorf(-EIO, "cannot read the ed25519 public key");
                sbuf_put_string(b, pk, len);
                break;
        }
        case KILN_SSHKEY_ECDSA: {
                uint8_t q[P256_POINT_LEN];
                r = ec_point(key, q);
                if (r < 0)
                        return r;
                sbuf_put_cstring(b, ECDSA_CURVE);
                sbuf_put_string(b, q, sizeof(q));
                break;
        }
        case KILN_SSHKEY_RSA: {
                BIGNUM *n = NULL, *e = NULL;
                r = get_bn(key, OSSL_PKEY_PARAM_RSA_N, &n);
                if (r >= 0)
                        r = get_bn(key, OSSL_PKEY_PARAM_RSA_E, &e);
                if (r >= 0) {
                        /* The public blob has e before n (RFC 4253 6.6). */
                        sbuf_put_mpint(b, e);
                        sbuf_put_mpint(b, n);
                }
                BN_free(n);
                BN_free(e);
                break;
        }
        default:
                return kiln_errorf(-EINVAL, "unknown ssh host key type");
        }
        if (r >= 0 && b->err)
                r = kiln_errorf(b->err, "cannot encode the %s public key", type_info(key->type)->name);
        return r;
}

/* "string type" and the private fields, as sshkey_private_serialize() has them. */
static int put_private(struct sbuf *b, const struct kiln_sshkey *key)
{
        int r = 0;

        sbuf_put_cstring(b, type_info(key->type)->ssh_name);
        switch (key->type) {
        case KILN_SSHKEY_ED25519: {
                /* string pk(32), string sk(64) where sk = seed || pk. */
                uint8_t sk[2 * ED25519_LEN];
                size_t slen = ED25519_LEN, plen = ED25519_LEN;
                if (!EVP_PKEY_get_raw_private_key(key->pkey, sk, &slen) || slen != ED25519_LEN ||
                    !EVP_PKEY_get_raw_public_key(key->pkey, sk + ED25519_LEN, &plen) ||
                    plen != ED25519_LEN) {
                        OPENSSL_cleanse(sk, sizeof(sk));
                        return openssl_errorf(-EIO, "cannot read the ed25519 key");
                }
                sbuf_put_string(b, sk + ED25519_LEN, ED25519_LEN);
                sbuf_put_string(b, sk, sizeof(sk));
                OPENSSL_cleanse(sk, sizeof(sk));
                break;
        }
        case KILN_SSHKEY_ECDSA: {
                /* string curve, string Q, mpint d. */
                uint8_t q[P256_POINT_LEN];
                BIGNUM *d = NULL;
                r = ec_point(key, q);
                if (r >= 0)
                        r = get_bn(key, OSSL_PKEY_PARAM_PRIV_KEY, &d);
                if (r >= 0) {
                        sbuf_put_cstring(b, ECDSA_CURVE);
                        sbuf_put_string(b, q, sizeof(q));
                        sbuf_put_mpint(b, d);
                }
                BN_clear_free(d);
                break;
        }
        case KILN_SSHKEY_RSA: {
                /* mpint n, e, d, iqmp, p, q: n before e here, unlike the public blob. */
                static const char *const params[] = {
                        OSSL_PKEY_PARAM_RSA_N,        OSSL_PKEY_PARAM_RSA_E,
                        OSSL_PKEY_PARAM_RSA_D,        OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
                        OSSL_PKEY_PARAM_RSA_FACTOR1,  OSSL_PKEY_PARAM_RSA_FACTOR2,
                };
                /* OpenSSL's coefficient1 is q^-1 mod p, OpenSSH's iqmp. */
                for (size_t i = 0; i < ARRAY_SIZE(params) && r >= 0; i++) {
                        BIGNUM *v = NULL;
                        r = get_bn(key, params[i], &v);
                        if (r >= 0)
                                sbuf_put_mpint(b, v);
                        BN_clear_free(v);
                }
                break;
        }
        default:
                return kiln_errorf(-EINVAL, "unknown ssh host key type");
        }
        if (r >= 0 && b->err)
                r = kiln_errorf(b->err, "cannot encode the %s private key", type_info(key->type)->name);
        return r;
}

int kiln_sshkey_public_blob(const struct kiln_sshkey *key, uint8_t **ret, size_t *ret_len)
{
        struct sbuf b = { 0 };
        int r;

        ERR_clear_error();
        r = put_public(&b, key);
        if (r < 0) {
                sbuf_wipe(&b);
                return r;
        }
        *ret = b.data;
        *ret_len = b.len;
        return 0;
}

/* ---- text -------------------------------------------------------------- */

static int check_comment(const char *comment)
{
        size_t n = strlen(comment);

        if (n > KILN_SSHKEY_COMMENT_MAX)
                return kiln_errorf(-EINVAL, "ssh key comment is longer than %d bytes",
                                   KILN_SSHKEY_COMMENT_MAX);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)comment[i];
                if (c < 0x20 || c == 0x7f)
                        return kiln_errorf(-EINVAL, "ssh key comment holds a control character");
        }
        return 0;
}

/* The comment to use: the one given, or "root@HOSTNAME"; checked. */
static int resolve_comment(const char *comment, char buf[KILN_SSHKEY_COMMENT_MAX + 1],
                           const char **ret)
{
        if (!comment) {
                char host[HOST_NAME_MAX + 1] = "";
                if (gethostname(host, sizeof(host)) < 0 || !host[0])
                        snprintf(host, sizeof(host), "localhost");
                host[sizeof(host) - 1] = 0;
                snprintf(buf, KILN_SSHKEY_COMMENT_MAX + 1, "root@%s", host);
                comment = buf;
        }
        int r = check_comment(comment);
        if (r < 0)
                return r;
        *ret = comment;
        return 0;
}

/* Plain base64 (with padding) of n bytes, NUL-terminated, into a new sbuf. */
static int base64(const uint8_t *data, size_t n, struct sbuf *out)
{
        size_t need = 4 * ((n + 2) / 3) + 1;

        if (n > INT_MAX / 2)
                return -EINVAL;
        uint8_t *p = sbuf_append(out, need);
        if (!p)
                return out->err;
        EVP_EncodeBlock(p, data, (int)n);
        out->len--; /* not counting the NUL */
        return 0;
}

int kiln_sshkey_private_text(const struct kiln_sshkey *key, const char *comment, char **ret)
{
        static const char magic[] = "openssh-key-v1"; /* written with its NUL */
        static const char begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
        static const char end[] = "-----END OPENSSH PRIVATE KEY-----\n";
        char cbuf[KILN_SSHKEY_COMMENT_MAX + 1];
        struct sbuf pub = { 0 }, priv = { 0 }, blob = { 0 }, b64 = { 0 }, text = { 0 };
        uint32_t check;
        int r;

        ERR_clear_error();
        r = resolve_comment(comment, cbuf, &comment);
        if (r < 0)
                return r;
        r = put_public(&pub, key);
        if (r < 0)
                goto out;

        /* The private section: checkint twice, the key, the comment, padding
         * 1, 2, 3... to the block size of cipher "none", 8. */
        if (RAND_bytes((unsigned char *)&check, sizeof(check)) != 1) {
                r = openssl_errorf(-EIO, "cannot get random bytes for the key's check value");
                goto out;
        }
        sbuf_put_u32(&priv, check);
        sbuf_put_u32(&priv, check);
        r = put_private(&priv, key);
        if (r < 0)
                goto out;
        sbuf_put_cstring(&priv, comment);
        for (uint8_t i = 1; !priv.err && priv.len % 8; i++)
                sbuf_put(&priv, &i, 1);

        sbuf_put(&blob, magic, sizeof(magic));
        sbuf_put_cstring(&blob, "none"); /* cipher */
        sbuf_put_cstring(&blob, "none"); /* kdf */
        sbuf_put_string(&blob, "", 0);   /* kdf options */
        sbuf_put_u32(&blob, 1);          /* number of keys */
        sbuf_put_string(&blob, pub.data, pub.len);
        sbuf_put_string(&blob, priv.data, priv.len);
        r = priv.err ? priv.err : blob.err;
        if (r < 0) {
                r = kiln_errorf(r, "cannot encode the %s private key", type_info(key->type)->name);
                goto out;
        }

        r = base64(blob.data, blob.len, &b64);
        if (r < 0) {
                r = kiln_errorf(r, "cannot encode the %s private key", type_info(key->type)->name);
                goto out;
        }
        /* Armored, a newline after every 70 characters and at the end. */
        sbuf_puts(&text, begin);
        for (size_t i = 0; i < b64.len; i += 70) {
                size_t n = MIN((size_t)70, b64.len - i);
                sbuf_put(&text, b64.data + i, n);
                sbuf_put(&text, "\n", 1);
        }
        sbuf_puts(&text, end);
        sbuf_put(&text, "", 1);
        if (text.err) {
                r = kiln_errorf(text.err, "out of memory");
                goto out;
        }
        *ret = (char *)text.data;
        text = (struct sbuf){ 0 };
        r = 0;
out:
        OPENSSL_cleanse(&check, sizeof(check));
        sbuf_wipe(&pub);
        sbuf_wipe(&priv);
        sbuf_wipe(&blob);
        sbuf_wipe(&b64);
        sbuf_wipe(&text);
        return r;
}

void kiln_sshkey_secret_free(char *text)
{
        if (!text)
                return;
        OPENSSL_cleanse(text, strlen(text));
        free(text);
}

int kiln_sshkey_public_line(const struct kiln_sshkey *key, const char *comment, char **ret)
{
        char cbuf[KILN_SSHKEY_COMMENT_MAX + 1];
        struct sbuf pub = { 0 }, line = { 0 };
        const char *name = type_info(key->type)->ssh_name;
        int r;

        ERR_clear_error();
        r = resolve_comment(comment, cbuf, &comment);
        if (r < 0)
                return r;
        r = put_public(&pub, key);
        if (r < 0)
                goto out;
        /* ssh-keygen writes "TYPE BASE64 COMMENT\n", the space even when
         * the comment is empty. */
        sbuf_puts(&line, name);
        sbuf_puts(&line, " ");
        r = base64(pub.data, pub.len, &line);
        if (r < 0)
                goto nomem;
        sbuf_puts(&line, " ");
        sbuf_put_line(&line, "", comment);
        sbuf_put(&line, "", 1);
        if (line.err) {
                r = line.err;
                goto nomem;
        }
        *ret = (char *)line.data;
        line = (struct sbuf){ 0 };
        r = 0;
        goto out;
nomem:
        r = kiln_errorf(r, "cannot encode the %s public key", type_info(key->type)->name);
out:
        sbuf_wipe(&pub);
        sbuf_wipe(&line);
        return r;
}

int kiln_sshkey_fingerprint(const struct kiln_sshkey *key, const char *comment, char *buf,
                            size_t len)
{
        char cbuf[KILN_SSHKEY_COMMENT_MAX + 1];
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        struct sbuf pub = { 0 }, b64 = { 0 };
        int r, n;

        ERR_clear_error();
        r = resolve_comment(comment, cbuf, &comment);
        if (r < 0)
                return r;
        r = put_public(&pub, key);
        if (r < 0)
                goto out;
        if (!EVP_Digest(pub.data, pub.len, md, &mdlen, EVP_sha256(), NULL)) {
                r = openssl_errorf(-EIO, "cannot hash the %s public key", type_info(key->type)->name);
                goto out;
        }
        r = base64(md, mdlen, &b64);
        if (r < 0) {
                r = kiln_errorf(r, "out of memory");
                goto out;
        }
        while (b64.len > 0 && b64.data[b64.len - 1] == '=')
                b64.data[--b64.len] = 0;
        /* ssh-keygen's fingerprint_one_key(): bits, hash, comment or
         * "no comment", type label. */
        n = snprintf(buf, len, "%u SHA256:%s %s (%s)", kiln_sshkey_bits(key), (char *)b64.data,
                     comment[0] ? comment : "no comment", type_info(key->type)->label);
        if (n < 0 || (size_t)n >= len)
                r = kiln_errorf(-ENOBUFS, "fingerprint does not fit in %zu bytes", len);
        else
                r = 0;
out:
        sbuf_wipe(&pub);
        sbuf_wipe(&b64);
        return r;
}

/* ---- the console block ----------------------------------------------------- */

static int cmp_by_file_name(const void *a, const void *b)
{
        const struct kiln_sshkey *const *x = a, *const *y = b;
        return strcmp(type_info((*x)->type)->file_name, type_info((*y)->type)->file_name);
}

int kiln_sshkey_console_text(const struct kiln_sshkey *const *keys, size_t n_keys,
                             const char *comment, const char *line_prefix, char **ret)
{
        static const char hashes[] = "#############################################################";
        char cbuf[KILN_SSHKEY_COMMENT_MAX + 1], fp[KILN_SSHKEY_FINGERPRINT_MAX];
        const struct kiln_sshkey **sorted = NULL;
        const char *pre = line_prefix ? line_prefix : "";
        struct sbuf text = { 0 };
        int r;

        r = resolve_comment(comment, cbuf, &comment);
        if (r < 0)
                return r;
        sorted = calloc(n_keys ? n_keys : 1, sizeof(*sorted));
        if (!sorted)
                return kiln_errorf(-ENOMEM, "out of memory");
        if (n_keys)
                memcpy(sorted, keys, n_keys * sizeof(*sorted));
        qsort(sorted, n_keys, sizeof(*sorted), cmp_by_file_name);

        /* The helper's leading `echo` reaches the console only through
         * logger, as a line holding just the prefix. */
        if (line_prefix)
                sbuf_put_line(&text, pre, "");
        sbuf_put_line(&text, pre, hashes);
        sbuf_put_line(&text, pre, "-----BEGIN SSH HOST KEY FINGERPRINTS-----");
        for (size_t i = 0; i < n_keys; i++) {
                r = kiln_sshkey_fingerprint(sorted[i], comment, fp, sizeof(fp));
                if (r < 0)
                        goto out;
                sbuf_put_line(&text, pre, fp);
        }
        sbuf_put_line(&text, pre, "-----END SSH HOST KEY FINGERPRINTS-----");
        sbuf_put_line(&text, pre, hashes);
        sbuf_put_line(&text, "", "-----BEGIN SSH HOST KEY KEYS-----");
        for (size_t i = 0; i < n_keys; i++) {
                char *line = NULL;
                r = kiln_sshkey_public_line(sorted[i], comment, &line);
                if (r < 0)
                        goto out;
                sbuf_puts(&text, line); /* has its newline */
                free(line);
        }
        sbuf_put_line(&text, "", "-----END SSH HOST KEY KEYS-----");
        sbuf_put(&text, "", 1);
        if (text.err) {
                r = kiln_errorf(text.err, "out of memory");
                goto out;
        }
        *ret = (char *)text.data;
        text = (struct sbuf){ 0 };
        r = 0;
out:
        free(sorted);
        sbuf_wipe(&text);
        return r;
}

/* ---- writing files ------------------------------------------------------- */

/* "dir/name" for messages. */
static void join(char *buf, size_t len, const char *dir, const char *name)
{
        size_t n = strlen(dir);
        snprintf(buf, len, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", name);
}

/* A destination must be absent or a regular file: never replace a symlink
 * (rename would not follow it, but a symlink there is not ours to drop). */
static int check_destination(int dirfd, const char *dir, const char *name)
{
        char path[PATH_MAX];
        struct stat st;

        join(path, sizeof(path), dir, name);
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return kiln_errorf(-errno, "cannot stat '%s': %s", path, strerror(errno));
        }
        if (S_ISLNK(st.st_mode))
                return kiln_errorf(-ELOOP, "refusing to replace '%s': it is a symlink", path);
        if (!S_ISREG(st.st_mode))
                return kiln_errorf(-EEXIST, "refusing to replace '%s': it is not a regular file", path);
        return 0;
}

/*
 * Create ".NAME.XXXXXXXX" in dirfd exclusively, never through a symlink,
 * give it mode and root:root, fill it and fsync it.  On success its name is
 * in tmp (the caller renames or removes it); on failure nothing is left.
 */
static int write_temp(int dirfd, const char *dir, const char *name, const char *data, size_t len,
                      mode_t mode, char tmp[NAME_MAX + 1])
{
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        char path[PATH_MAX];
        int fd = -1, r;

        for (int attempt = 0; fd < 0; attempt++) {
                unsigned char rnd[8];
                char suffix[sizeof(rnd) + 1];

                if (RAND_bytes(rnd, sizeof(rnd)) != 1)
                        return openssl_errorf(-EIO, "cannot name a temporary file in '%s'", dir);
                for (size_t i = 0; i < sizeof(rnd); i++)
                        suffix[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
                suffix[sizeof(rnd)] = 0;
                snprintf(tmp, NAME_MAX + 1, ".%s.%s", name, suffix);
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (fd < 0 && (errno != EEXIST || attempt >= 100)) {
                        join(path, sizeof(path), dir, name);
                        r = kiln_errorf(-errno, "cannot create a temporary file for '%s': %s", path,
                                        strerror(errno));
                        tmp[0] = 0;
                        return r;
                }
        }

        /* Messages name the destination: the temporary goes away. */
        join(path, sizeof(path), dir, name);
        if (geteuid() == 0 && fchown(fd, 0, 0) < 0) {
                r = kiln_errorf(-errno, "cannot chown '%s' to root: %s", path, strerror(errno));
                goto fail;
        }
        /* Explicitly: the umask may have taken bits from the .pub's 0644. */
        if (fchmod(fd, mode) < 0) {
                r = kiln_errorf(-errno, "cannot chmod '%s': %s", path, strerror(errno));
                goto fail;
        }
        r = write_full(fd, data, len);
        if (r < 0) {
                r = kiln_errorf(r, "cannot write '%s': %s", path, strerror(-r));
                goto fail;
        }
        if (fsync(fd) < 0) {
                r = kiln_errorf(-errno, "cannot sync '%s': %s", path, strerror(errno));
                goto fail;
        }
        r = close(fd);
        fd = -1;
        if (r < 0) {
                r = kiln_errorf(-errno, "cannot write '%s': %s", path, strerror(errno));
                goto fail;
        }
        return 0;
fail:
        if (fd >= 0)
                close(fd);
        unlinkat(dirfd, tmp, 0);
        tmp[0] = 0;
        return r;
}

int kiln_sshkey_write_at(const struct kiln_sshkey *key, int dirfd, const char *dir_name,
                         const char *comment)
{
        char cbuf[KILN_SSHKEY_COMMENT_MAX + 1];
        char pub_name[64];
        char priv_tmp[NAME_MAX + 1] = "", pub_tmp[NAME_MAX + 1] = "";
        char path[PATH_MAX], from[PATH_MAX];
        char *priv_text = NULL, *pub_line = NULL;
        const char *dir = dir_name ? dir_name : ".";
        int r;

        if (!key || !type_info(key->type))
                return kiln_errorf(-EINVAL, "no ssh host key to write");
        r = resolve_comment(comment, cbuf, &comment);
        if (r < 0)
                return r;
        const char *priv_name = type_info(key->type)->file_name;
        snprintf(pub_name, sizeof(pub_name), "%s.pub", priv_name);

        r = check_destination(dirfd, dir, priv_name);
        if (r >= 0)
                r = check_destination(dirfd, dir, pub_name);
        if (r < 0)
                return r;

        r = kiln_sshkey_private_text(key, comment, &priv_text);
        if (r < 0)
                goto out;
        r = kiln_sshkey_public_line(key, comment, &pub_line);
        if (r < 0)
                goto out;

        r = write_temp(dirfd, dir, priv_name, priv_text, strlen(priv_text), 0600, priv_tmp);
        if (r < 0)
                goto out;
        r = write_temp(dirfd, dir, pub_name, pub_line, strlen(pub_line), 0644, pub_tmp);
        if (r < 0)
                goto out;

        /* Both are on disk; put them in place, the private key first. */
        if (renameat(dirfd, priv_tmp, dirfd, priv_name) < 0) {
                join(from, sizeof(from), dir, priv_tmp);
                join(path, sizeof(path), dir, priv_name);
                r = kiln_errorf(-errno, "cannot rename '%s' to '%s': %s", from, path, strerror(errno));
                goto out;
        }
        priv_tmp[0] = 0;
        if (renameat(dirfd, pub_tmp, dirfd, pub_name) < 0) {
                join(from, sizeof(from), dir, pub_tmp);
                join(path, sizeof(path), dir, pub_name);
                r = kiln_errorf(-errno, "cannot rename '%s' to '%s': %s", from, path, strerror(errno));
                goto out;
        }
        pub_tmp[0] = 0;
        /* Make the renames durable; a file system that cannot sync a
         * folder (EINVAL) has nothing more to do. */
        if (fsync(dirfd) < 0 && errno != EINVAL) {
                r = kiln_errorf(-errno, "cannot sync folder '%s': %s", dir, strerror(errno));
                goto out;
        }
        r = 0;
out:
        if (priv_tmp[0])
                unlinkat(dirfd, priv_tmp, 0);
        if (pub_tmp[0])
                unlinkat(dirfd, pub_tmp, 0);
        kiln_sshkey_secret_free(priv_text);
        free(pub_line);
        return r;
}

int kiln_sshkey_write(const struct kiln_sshkey *key, const char *dir, const char *comment)
{
        struct stat st;
        int fd, r;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                /* O_NOFOLLOW|O_DIRECTORY on a symlink says ENOTDIR (or ELOOP). */
                if ((r == -ENOTDIR || r == -ELOOP) && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
                        return kiln_errorf(-ELOOP, "refusing to write ssh host keys into '%s': it is a symlink",
                                           dir);
                return kiln_errorf(r, "cannot open folder '%s': %s", dir, strerror(-r));
        }
        r = kiln_sshkey_write_at(key, fd, dir, comment);
        close(fd);
        return r;
}
