/* SPDX-License-Identifier: MIT */
/*
 * kiln_spec_parse() on arbitrary bytes.  Beyond "no crash, no leak", it
 * checks the contract callers rely on: a result or a one-line message that
 * starts with the file name, and *ret untouched on failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spec.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spec(const struct kiln_spec *s)
{
        if (s->n_bdms > KILN_SPEC_MAX_BDMS || (s->n_bdms > 0) != (s->bdms != NULL))
                abort();
        for (size_t i = 0; i < s->n_bdms; i++)
                if (!s->bdms[i].device_name)
                        abort();
        if (s->fs_label && strlen(s->fs_label) > 16)
                abort();
        if (s->kernel_cmdline && strlen(s->kernel_cmdline) > 4096)
                abort();
        if (s->size_auto && (!s->size_set || s->size != 0))
                abort();
        if (s->size_set && !s->size_auto && s->size < (UINT64_C(1) << 20))
                abort();
}

static void check_error(int r, const struct kiln_spec *s, const struct kiln_spec *before)
{
        const char *msg = kiln_last_error();

        if (r != -EBADMSG && r != -ENOMEM && r != -E2BIG)
                abort();
        if (strncmp(msg, "fuzz.yaml:", 10) || strchr(msg, '\n'))
                abort();
        if (memcmp(s, before, sizeof(*s)))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_spec spec, before;
        char *buf;
        int r;

        /* A private copy, so ASan catches reads past the end. */
        buf = malloc(size ? size : 1);
        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        memset(&spec, 0x5a, sizeof(spec));
        memcpy(&before, &spec, sizeof(spec));
        kiln_clear_error();
        r = kiln_spec_parse(buf, size, "fuzz.yaml", &spec);
        if (r >= 0) {
                check_spec(&spec);
                kiln_spec_free(&spec);
        } else {
                check_error(r, &spec, &before);
        }
        free(buf);
        return 0;
}
