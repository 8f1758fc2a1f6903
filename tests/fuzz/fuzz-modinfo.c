/* SPDX-License-Identifier: MIT */
/*
 * kiln_modinfo_parse() on arbitrary bytes, and the key=value iterator on the
 * same bytes.  Beyond "no crash, no leak, no read past the end" (the input is
 * a private copy of exactly its size, so ASan sees any over-read), it checks
 * the contract callers rely on: counts within limits and matching their
 * arrays, every string NUL-terminated inside its allocation, and on failure
 * an expected -errno, a one-line message and *ret untouched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modinfo.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_strv(char **v, size_t n, size_t max)
{
        if (n > max || (n > 0) != (v != NULL))
                abort();
        for (size_t i = 0; i < n; i++)
                if (!v[i] || strlen(v[i]) >= SIZE_MAX / 2)
                        abort();
}

static void check_iterator(const char *buf, size_t len)
{
        const char *key, *value;
        size_t klen, vlen, pos = 0, last = 0, n = 0;

        while (kiln_modinfo_next(buf, len, &pos, &key, &klen, &value, &vlen) > 0) {
                /* Inside the buffer, moving forward, key=value with a key. */
                if (pos <= last || pos > len || klen == 0 || key < buf || value != key + klen + 1 ||
                    value + vlen > buf + len || key[klen] != '=')
                        abort();
                if (memchr(key, 0, klen) || memchr(value, 0, vlen))
                        abort();
                last = pos;
                if (++n > len)
                        abort();
        }
        if (pos != len)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_modinfo mi, before;
        uint8_t *buf;
        int r;

        buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        memset(&mi, 0x5a, sizeof(mi));
        memcpy(&before, &mi, sizeof(mi));
        kiln_clear_error();
        r = kiln_modinfo_parse(buf, size, &mi);
        if (r >= 0) {
                if (r != 0)
                        abort();
                check_strv(mi.aliases, mi.n_aliases, KILN_MODINFO_MAX_ALIASES);
                check_strv(mi.softdeps, mi.n_softdeps, KILN_MODINFO_MAX_SOFTDEPS);
                (void)(mi.name && strlen(mi.name));
                (void)(mi.depends && strlen(mi.depends));
                (void)(mi.vermagic && strlen(mi.vermagic));
                kiln_modinfo_free(&mi);
        } else {
                const char *msg = kiln_last_error();
                if (r != -EBADMSG && r != -EOPNOTSUPP && r != -ENOENT && r != -E2BIG && r != -ENOMEM)
                        abort();
                if (!*msg || strchr(msg, '\n'))
                        abort();
                if (memcmp(&mi, &before, sizeof(mi)))
                        abort();
        }
        check_iterator((const char *)buf, size);
        free(buf);
        return 0;
}
