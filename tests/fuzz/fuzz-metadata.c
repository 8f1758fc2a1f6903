/* SPDX-License-Identifier: MIT */
/*
 * kiln_nocloud_metadata_parse() on arbitrary bytes.  Checks: only the
 * documented errors, each a single "meta-data..." line; the struct untouched
 * on failure; on success an instance id that can name a folder, one-line
 * hostname and keys, at most KILN_META_MAX_KEYS keys; the same answer twice;
 * the input not modified.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *s)
{
        if (s && strpbrk(s, "\n\r"))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_instance a = { 0 }, b = { 0 };
        char *buf = malloc(size ? size : 1);
        int r;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        a.instance_id = strdup("before");
        r = kiln_nocloud_metadata_parse(&a, buf, size);
        if (r < 0) {
                if (r != -EBADMSG && r != -EFBIG && r != -ENOMEM)
                        abort();
                if (strncmp(kiln_last_error(), "meta-data", 9) || strchr(kiln_last_error(), '\n'))
                        abort();
                if (!a.instance_id || strcmp(a.instance_id, "before") || a.local_hostname || a.public_keys ||
                    a.notes)
                        abort();
        } else {
                if (r != 0 || !a.instance_id || !kiln_instance_id_valid(a.instance_id))
                        abort();
                check_line(a.local_hostname);
                if (a.local_hostname && strlen(a.local_hostname) > 255)
                        abort();
                if (kiln_instance_count(a.public_keys) > KILN_META_MAX_KEYS)
                        abort();
                for (char **k = a.public_keys; k && *k; k++) {
                        check_line(*k);
                        if (!**k || strlen(*k) > KILN_META_MAX_VALUE)
                                abort();
                }
        }
        if (kiln_nocloud_metadata_parse(&b, buf, size) != r ||
            kiln_instance_count(a.public_keys) != kiln_instance_count(b.public_keys) ||
            (r == 0 && b.instance_id && strcmp(a.instance_id, b.instance_id)))
                abort();
        if (size && memcmp(buf, data, size))
                abort();
        kiln_instance_free(&a);
        kiln_instance_free(&b);
        free(buf);
        return 0;
}
