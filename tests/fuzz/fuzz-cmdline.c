/* SPDX-License-Identifier: MIT */
/*
 * kiln_cmdline_parse() on arbitrary bytes.  Beyond "no crash, no leak", it
 * checks what kiln-init relies on: every string field is terminated, task
 * names and the instance id are safe path components, the root spec is
 * consistent with its kind, a problem is reported exactly when something
 * was ignored, the same bytes always give the same result, and *ret is
 * untouched on failure.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t size)
{
        if (!memchr(s, 0, size))
                abort();
}

static void check_name(const char *s, size_t max, bool may_be_empty)
{
        size_t n = strlen(s);

        if ((!may_be_empty && n == 0) || n > max || !strcmp(s, ".") || !strcmp(s, ".."))
                abort();
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                      *s == '_' || *s == '.'))
                        abort();
}

static void check(const struct kiln_cmdline *c)
{
        const struct kiln_root_spec *r = &c->root;

        check_str(r->raw, sizeof(r->raw));
        check_str(r->value, sizeof(r->value));
        check_str(c->rootfstype, sizeof(c->rootfstype));
        check_str(c->rootflags, sizeof(c->rootflags));
        check_str(c->init, sizeof(c->init));
        check_str(c->break_at, sizeof(c->break_at));
        check_str(c->instance_id, sizeof(c->instance_id));
        check_str(c->problem, sizeof(c->problem));
        check_name(c->instance_id, sizeof(c->instance_id) - 1, true);
        check_name(c->break_at, KILN_CMDLINE_TASK_MAX, true);
        if (c->break_at[0] && !c->brk)
                abort();
        if (c->n_skip > KILN_CMDLINE_MAX_SKIP)
                abort();
        for (uint32_t i = 0; i < c->n_skip; i++) {
                check_str(c->skip[i], sizeof(c->skip[i]));
                check_name(c->skip[i], KILN_CMDLINE_TASK_MAX, false);
                for (uint32_t j = 0; j < i; j++)
                        if (!strcmp(c->skip[i], c->skip[j]))
                                abort();
                if (!kiln_cmdline_skips(c, c->skip[i]))
                        abort();
        }
        if ((c->n_ignored > 0) != (c->problem[0] != 0))
                abort();
        if ((unsigned)c->rw > KILN_RW_RW || (unsigned)c->ds > KILN_DS_NONE || !kiln_ds_to_string(c->ds))
                abort();
        if (c->rootdelay < -1 || c->rootdelay > 3600 || c->rootwait_timeout < -1 || c->rootwait_timeout > 3600 ||
            (!c->rootwait && c->rootwait_timeout != -1))
                abort();
        if (!kiln_root_kind_to_string(r->kind))
                abort();
        switch (r->kind) {
        case KILN_ROOT_NONE:
                if (r->raw[0] || r->value[0])
                        abort();
                break;
        case KILN_ROOT_INVALID:
                if (!r->raw[0] || r->value[0] || !c->n_ignored)
                        abort();
                break;
        case KILN_ROOT_PATH:
                if (r->value[0] != '/')
                        abort();
                break;
        case KILN_ROOT_PARTUUID:
                if (r->partuuid_mbr ? (strlen(r->value) != 11 || r->mbr_partno == 0 || r->mbr_partno > 0xff)
                                    : strlen(r->value) != 36)
                        abort();
                if (r->partnroff < -255 || r->partnroff > 255)
                        abort();
                break;
        default:
                if (!r->value[0] || !r->raw[0])
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_cmdline *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b)), *before = malloc(sizeof(*before));
        char *buf = malloc(size ? size : 1);
        int r;

        if (!a || !b || !before || !buf)
                goto out;
        /* A private copy, so ASan catches reads past the end. */
        if (size)
                memcpy(buf, data, size);
        memset(a, 0x5a, sizeof(*a));
        memcpy(before, a, sizeof(*a));
        r = kiln_cmdline_parse(buf, size, a);
        if (r < 0) {
                if (r != -E2BIG || strnlen(buf, size) <= KILN_CMDLINE_MAX || memcmp(a, before, sizeof(*a)))
                        abort();
                goto out;
        }
        if (strnlen(buf, size) > KILN_CMDLINE_MAX)
                abort();
        check(a);
        /* Deterministic, and the input is not modified. */
        if (size && memcmp(buf, data, size))
                abort();
        if (kiln_cmdline_parse(buf, size, b) != 0 || a->root.kind != b->root.kind ||
            strcmp(a->root.value, b->root.value) || strcmp(a->rootflags, b->rootflags) || a->n_skip != b->n_skip ||
            a->n_ignored != b->n_ignored || strcmp(a->problem, b->problem) || strcmp(a->init, b->init))
                abort();
out:
        free(a);
        free(b);
        free(before);
        free(buf);
        return 0;
}
