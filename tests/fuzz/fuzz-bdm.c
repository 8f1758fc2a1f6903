/* SPDX-License-Identifier: MIT */
/*
 * kiln_bdm_parse() (kiln run's --block-device-mapping) on arbitrary bytes.
 * Beyond "no crash, no leak": a failure is -EBADMSG or -E2BIG with a
 * one-line message naming the input, *ret is untouched then; a success
 * holds at most KILN_BDM_MAX mappings, each with a "/dev/" device name,
 * exactly one of Ebs, VirtualName and NoDevice, sizes in EBS's range, no
 * device twice; and the same bytes give the same list.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct kiln_bdm_list *l)
{
        if (l->n > KILN_BDM_MAX)
                abort();
        for (size_t i = 0; i < l->n; i++) {
                const struct kiln_bdm *b = &l->v[i];
                if (!b->device_name || strncmp(b->device_name, "/dev/", 5) || !b->device_name[5])
                        abort();
                if (b->ebs + !!b->virtual_name + b->no_device != 1)
                        abort();
                if (b->volume_size > KILN_VOLUME_GIB_MAX || b->delete_on_termination < -1 ||
                    b->delete_on_termination > 1)
                        abort();
                if (b->virtual_name && strncmp(b->virtual_name, "ephemeral", 9))
                        abort();
                if (b->snapshot_id && strncmp(b->snapshot_id, "snap-", 5) && strncmp(b->snapshot_id, "file:", 5))
                        abort();
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(l->v[j].device_name, b->device_name))
                                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_bdm_list a, b, before;
        char *buf = malloc(size ? size : 1);
        int r;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        memset(&a, 0x5a, sizeof(a));
        before = a;
        r = kiln_bdm_parse("fuzz", buf, size, &a);
        if (r < 0) {
                const char *m = kiln_last_error();
                if ((r != -EBADMSG && r != -E2BIG) || memcmp(&a, &before, sizeof(a)) || strncmp(m, "fuzz", 4) ||
                    strchr(m, '\n'))
                        abort();
                goto out;
        }
        check(&a);
        if (kiln_bdm_parse("fuzz", buf, size, &b) != 0 || a.n != b.n)
                abort();
        for (size_t i = 0; i < a.n; i++)
                if (strcmp(a.v[i].device_name, b.v[i].device_name) || a.v[i].volume_size != b.v[i].volume_size)
                        abort();
        kiln_bdm_list_free(&a);
        kiln_bdm_list_free(&b);
out:
        free(buf);
        return 0;
}
