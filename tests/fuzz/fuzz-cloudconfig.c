/* SPDX-License-Identifier: MIT */
/*
 * kiln_cloud_config_parse() on arbitrary bytes.  Beyond "no crash, no
 * leak": errors are -EBADMSG, -EFBIG or -ENOMEM with a message and leave the
 * struct as it was (checked by parsing a known document first and comparing
 * what it set); otherwise the result counts the keys and entries not
 * applied, each in cc->errors with its document, what and message, every
 * list is NULL-terminated, counts are within the limits, enums are in range
 * and each write_files entry has a path.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudconfig.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char base[] = "hostname: before\nruncmd: [a, [b, c]]\nusers: [default]\npackages: [x]\n";

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static void check(const struct kiln_cloud_config *cc)
{
        if (cc->n_users > KILN_CC_MAX_ITEMS || cc->n_groups > KILN_CC_MAX_ITEMS ||
            cc->n_write_files > KILN_CC_MAX_ITEMS || cc->n_runcmd > KILN_CC_MAX_ITEMS ||
            cc->n_bootcmd > KILN_CC_MAX_ITEMS || cc->n_mounts > KILN_CC_MAX_ITEMS)
                abort();
        if (cc->manage_etc_hosts < KILN_HOSTS_UNSET || cc->manage_etc_hosts > KILN_HOSTS_LOCALHOST ||
            cc->resize_rootfs < KILN_RESIZE_UNSET || cc->resize_rootfs > KILN_RESIZE_NOBLOCK ||
            cc->power_state.mode < KILN_POWER_UNSET || cc->power_state.mode > KILN_POWER_HALT)
                abort();
        for (size_t i = 0; i < cc->n_users; i++)
                if (!cc->users[i].name || strv_len(cc->users[i].groups) > KILN_CC_MAX_ITEMS)
                        abort();
        for (size_t i = 0; i < cc->n_write_files; i++) {
                const struct kiln_cc_file *f = &cc->write_files[i];

                if (!f->path || !f->content || f->content[f->len] || f->permissions < -1 || f->permissions > 07777)
                        abort();
        }
        for (size_t i = 0; i < cc->n_runcmd; i++)
                if (!cc->runcmd[i].shell == !cc->runcmd[i].argv)
                        abort();
        if (strv_len(cc->unsupported) > KILN_CC_MAX_ITEMS || strv_len(cc->warnings) > KILN_CC_MAX_ITEMS)
                abort();
        if (cc->n_errors > KILN_CC_MAX_ITEMS || (cc->n_errors && !cc->errors))
                abort();
        for (size_t i = 0; i < cc->n_errors; i++)
                if (!cc->errors[i].doc || !cc->errors[i].what || !*cc->errors[i].what || !cc->errors[i].message)
                        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_cloud_config cc;
        char *buf = malloc(size ? size : 1);
        int r;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        kiln_cloud_config_init(&cc);
        if (kiln_cloud_config_parse(&cc, "base", base, strlen(base)) != 0)
                abort();
        r = kiln_cloud_config_parse(&cc, "fuzz", buf, size);
        if (r < 0) {
                if ((r != -EBADMSG && r != -EFBIG && r != -ENOMEM) || !kiln_last_error()[0])
                        abort();
                /* Untouched: what the base document set is all there. */
                if (!cc.hostname || strcmp(cc.hostname, "before") || cc.n_runcmd != 2 || cc.n_users != 1 ||
                    strv_len(cc.unsupported) != 1 || cc.n_write_files || cc.n_errors)
                        abort();
        } else if ((size_t)r != cc.n_errors) {
                abort();
        }
        check(&cc);
        if (size && memcmp(buf, data, size))
                abort();
        kiln_cloud_config_free(&cc);
        free(buf);
        return 0;
}
