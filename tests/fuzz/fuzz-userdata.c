/* SPDX-License-Identifier: MIT */
/*
 * kiln_userdata_decode() on arbitrary bytes (the MIME and gzip paths), and
 * every #cloud-config part it finds through kiln_cloud_config_parse(), as
 * kiln-init does.  Beyond "no crash, no leak": errors are -EBADMSG, -EFBIG
 * or -ENOMEM with a message; every part is typed, NUL-terminated and within
 * the limits; decoding is deterministic and leaves the input alone.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudconfig.h"
#include "userdata.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_userdata ud, again;
        struct kiln_cloud_config cc;
        uint8_t *buf = malloc(size ? size : 1);
        size_t total = 0;
        int r;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size); /* a private copy: ASan sees reads past the end */
        memset(&ud, 0x5a, sizeof(ud));
        r = kiln_userdata_decode(buf, size, &ud);
        if (r < 0) {
                if ((r != -EBADMSG && r != -EFBIG && r != -ENOMEM) || !kiln_last_error()[0])
                        abort();
                goto out;
        }
        if (ud.n_parts > KILN_UD_MAX_PARTS || ud.gzip_layers > KILN_UD_MAX_DEPTH ||
            ud.mime_depth > KILN_UD_MAX_DEPTH || (ud.n_parts && !ud.parts))
                abort();
        kiln_cloud_config_init(&cc);
        for (size_t i = 0; i < ud.n_parts; i++) {
                const struct kiln_ud_part *p = &ud.parts[i];

                if (!kiln_ud_type_to_string(p->type) || !p->content_type || !p->data || p->data[p->len])
                        abort();
                if ((p->type == KILN_UD_SCRIPT || p->type == KILN_UD_BOOTHOOK) && !p->filename)
                        abort();
                total += p->len;
                if (p->type == KILN_UD_CLOUD_CONFIG) {
                        r = kiln_cloud_config_parse(&cc, "part", p->data, p->len);
                        if (r < 0 && r != -EBADMSG && r != -EFBIG && r != -ENOMEM)
                                abort();
                }
        }
        kiln_cloud_config_free(&cc);
        /* Inflated bytes are bounded, so parts are too (base64 only shrinks). */
        if (total > (size_t)KILN_UD_MAX_BYTES * (KILN_UD_MAX_DEPTH + 1) + size * (KILN_UD_MAX_DEPTH + 1))
                abort();
        if (size && memcmp(buf, data, size))
                abort();
        if (kiln_userdata_decode(buf, size, &again) != 0 || again.n_parts != ud.n_parts)
                abort();
        for (size_t i = 0; i < ud.n_parts; i++)
                if (again.parts[i].type != ud.parts[i].type || again.parts[i].len != ud.parts[i].len ||
                    memcmp(again.parts[i].data, ud.parts[i].data, ud.parts[i].len))
                        abort();
        kiln_userdata_free(&again);
        kiln_userdata_free(&ud);
out:
        free(buf);
        return 0;
}
