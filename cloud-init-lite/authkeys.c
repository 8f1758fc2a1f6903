/* SPDX-License-Identifier: MIT */
/* authorized_keys lines; see authkeys.h.  Pure: no I/O. */
#include "authkeys.h"

#include <errno.h>
#include <string.h>

#include "util.h"

static const char *const key_types[] = {
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ssh-ed448",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ecdsa-sha2-nistp256@openssh.com",
        "sk-ssh-ed25519@openssh.com",
        "rsa-sha2-256",
        "rsa-sha2-512",
};

#define CERT_SUFFIX "-cert-v01@openssh.com"

bool kiln_authkey_known_type(const char *s, size_t len)
{
        size_t sl = strlen(CERT_SUFFIX);

        /* "ssh-ed25519-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com" */
        if (len > sl && !memcmp(s + len - sl, CERT_SUFFIX, sl)) {
                len -= sl;
                if (len > 12 && !memcmp(s + len - 12, "@openssh.com", 12))
                        return false;
                for (size_t i = 0; i < ARRAY_SIZE(key_types); i++) {
                        const char *t = key_types[i], *at = strchr(t, '@');
                        size_t tl = at ? (size_t)(at - t) : strlen(t);
                        if (tl == len && !memcmp(s, t, len))
                                return true;
                }
                return false;
        }
        for (size_t i = 0; i < ARRAY_SIZE(key_types); i++)
                if (strlen(key_types[i]) == len && !memcmp(s, key_types[i], len))
                        return true;
        return false;
}

static bool is_space(char c) { return c == ' ' || c == '\t'; }

static bool is_b64(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
               c == '=';
}

static size_t token_end(const char *buf, size_t at, size_t len)
{
        while (at < len && !is_space(buf[at]))
                at++;
        return at;
}

int kiln_authkey_parse(const char *buf, size_t len, struct kiln_authkey *ret)
{
        struct kiln_authkey k = { 0 };
        size_t at = 0, end;

        if (len > KILN_AUTHKEY_MAX_LINE)
                return kiln_errorf(-E2BIG, "authorized key line longer than %d bytes", KILN_AUTHKEY_MAX_LINE);
        if (len > 0 && buf[len - 1] == '\n')
                len--;
        if (len > 0 && buf[len - 1] == '\r')
                len--;
        if (memchr(buf, 0, len) || memchr(buf, '\n', len) || memchr(buf, '\r', len))
                return kiln_errorf(-EBADMSG, "authorized key holds a NUL or a line break");
        while (at < len && is_space(buf[at]))
                at++;
        if (at == len || buf[at] == '#')
                return kiln_errorf(-EBADMSG, "authorized key line is empty or a comment");
        end = token_end(buf, at, len);
        if (!kiln_authkey_known_type(buf + at, end - at)) {
                /* Options: up to the first white space outside double quotes. */
                bool quoted = false;
                k.opts_off = at;
                for (end = at; end < len; end++) {
                        if (buf[end] == '\\' && quoted && end + 1 < len) {
                                end++;
                                continue;
                        }
                        if (buf[end] == '"')
                                quoted = !quoted;
                        else if (!quoted && is_space(buf[end]))
                                break;
                }
                if (quoted)
                        return kiln_errorf(-EBADMSG, "authorized key options: unclosed '\"'");
                k.opts_len = end - at;
                at = end;
                while (at < len && is_space(buf[at]))
                        at++;
                end = token_end(buf, at, len);
                if (!kiln_authkey_known_type(buf + at, end - at))
                        return kiln_errorf(-EBADMSG, "authorized key: unknown key type '%.*s'",
                                           (int)MIN(end - at, (size_t)40), buf + at);
        }
        k.type_off = at;
        k.type_len = end - at;
        k.key_off = at;
        at = end;
        while (at < len && is_space(buf[at]))
                at++;
        end = token_end(buf, at, len);
        if (end == at)
                return kiln_errorf(-EBADMSG, "authorized key: no key after '%.*s'", (int)k.type_len, buf + k.type_off);
        for (size_t i = at; i < end; i++)
                if (!is_b64(buf[i]))
                        return kiln_errorf(-EBADMSG, "authorized key: the key is not base64");
        k.blob_off = at;
        k.blob_len = end - at;
        at = end;
        while (at < len && is_space(buf[at]))
                at++;
        end = len;
        while (end > at && is_space(buf[end - 1]))
                end--;
        k.comment_off = at;
        k.comment_len = end - at;
        k.key_len = (k.comment_len ? end : k.blob_off + k.blob_len) - k.key_off;
        *ret = k;
        return 0;
}

bool kiln_authkey_same(const char *a, const struct kiln_authkey *ka, const char *b, const struct kiln_authkey *kb)
{
        return ka->type_len == kb->type_len && ka->blob_len == kb->blob_len &&
               !memcmp(a + ka->type_off, b + kb->type_off, ka->type_len) &&
               !memcmp(a + ka->blob_off, b + kb->blob_off, ka->blob_len);
}
