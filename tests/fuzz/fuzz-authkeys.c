/* SPDX-License-Identifier: MIT */
/*
 * kiln_authkey_parse() on arbitrary bytes: no crash, and on success every
 * part lies inside the line, the key type is known, the blob is base64 and
 * non-empty, the key text starts at the type and covers the blob, and a key
 * is the same key as itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(size_t off, size_t len, size_t size)
{
        if (off > size || len > size - off)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *buf = (const char *)data;
        struct kiln_authkey k;

        if (kiln_authkey_parse(buf, size, &k) < 0)
                return 0;
        inside(k.opts_off, k.opts_len, size);
        inside(k.type_off, k.type_len, size);
        inside(k.blob_off, k.blob_len, size);
        inside(k.comment_off, k.comment_len, size);
        inside(k.key_off, k.key_len, size);
        if (!kiln_authkey_known_type(buf + k.type_off, k.type_len) || k.blob_len == 0)
                abort();
        if (k.key_off != k.type_off || k.key_off + k.key_len < k.blob_off + k.blob_len)
                abort();
        if (k.opts_len && k.opts_off + k.opts_len > k.type_off)
                abort();
        for (size_t i = 0; i < k.blob_len; i++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", buf[k.blob_off + i]) ||
                    !buf[k.blob_off + i])
                        abort();
        if (!kiln_authkey_same(buf, &k, buf, &k))
                abort();
        /* The key text alone parses to the same key. */
        struct kiln_authkey k2;
        if (kiln_authkey_parse(buf + k.key_off, k.key_len, &k2) < 0 || k2.opts_len ||
            !kiln_authkey_same(buf, &k, buf + k.key_off, &k2))
                abort();
        return 0;
}
