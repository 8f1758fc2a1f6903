/* SPDX-License-Identifier: MIT */
/*
 * One authorized_keys line (sshd(8) "AUTHORIZED_KEYS FILE FORMAT"):
 * [options] keytype base64 [comment].  Pure: bytes in, offsets out, no I/O.
 * Used to merge keys into ~/.ssh/authorized_keys without duplicates, the way
 * cloud-init's AuthKeyLineParser does.
 */
#ifndef KILN_CLOUD_INIT_LITE_AUTHKEYS_H
#define KILN_CLOUD_INIT_LITE_AUTHKEYS_H

#include <stdbool.h>
#include <stddef.h>

#define KILN_AUTHKEY_MAX_LINE 16384 /* OpenSSH's SSH_MAX_PUBKEY_BYTES */

/* Offsets into the line parsed; a part that is absent has length 0. */
struct kiln_authkey {
        size_t opts_off, opts_len;
        size_t type_off, type_len;
        size_t blob_off, blob_len;
        size_t comment_off, comment_len;
        size_t key_off, key_len; /* "type blob[ comment]", trailing white space cut */
};

/*
 * Parse one line (a trailing "\n" or "\r\n" is allowed).  -EBADMSG with the
 * reason in kiln_last_error() for an empty line, a comment, an unknown key
 * type, a bad options field (an unclosed quote), a missing or non-base64
 * key, a NUL or a line break inside; -E2BIG beyond KILN_AUTHKEY_MAX_LINE.
 */
int kiln_authkey_parse(const char *buf, size_t len, struct kiln_authkey *ret);

/* The same key: type and base64 blob equal (options and comments aside). */
bool kiln_authkey_same(const char *a, const struct kiln_authkey *ka, const char *b, const struct kiln_authkey *kb);

/* A key type sshd knows ("ssh-ed25519", "ecdsa-sha2-nistp256", certificates...). */
bool kiln_authkey_known_type(const char *s, size_t len);

#endif
