/* SPDX-License-Identifier: MIT */
/* Every first-boot module, in cloud-init's order; see apply.h. */
#include "apply.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rootio.h"
#include "util.h"

/* "NAME: FAILED: MESSAGE", without repeating NAME when the message starts with it. */
static void log_failure(const struct kiln_apply_ctx *ctx, const char *name, int r)
{
        const char *msg = kiln_last_error()[0] ? kiln_last_error() : strerror(-r);
        size_t n = strlen(name);

        if (!strncmp(msg, name, n) && msg[n] == ':')
                msg += n + 1 + (msg[n + 1] == ' ');
        apply_log(ctx, "%s: FAILED: %s", name, msg);
}

#define STEP(name, call)                                   \
        do {                                               \
                kiln_clear_error();                        \
                int _r = (call);                           \
                if (_r < 0) {                              \
                        log_failure(ctx, name, _r);        \
                        failed++;                          \
                }                                          \
        } while (0)

int kiln_apply_all(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc,
                   const struct kiln_userdata *ud, unsigned *ret_given_keys, int *ret_units)
{
        struct kiln_cloud_config view = *cc; /* shallow: never freed */
        bool *later = NULL;
        unsigned given = 0;
        int failed = 0, units = 0;

        /* The default user with the users: entries cloud-init gives it. */
        kiln_cc_default_user_view(cc, &view.default_user);
        /* cloud-init's init stage order (write_files, mounts, set_hostname,
         * update_etc_hosts, users_groups, ssh), then its config stage's
         * (timezone, set_passwords).  Files owned by a user or group that
         * the users module makes get their owner right after it. */
        STEP("write_files", kiln_apply_write_files_first(ctx, cc, &later));
        STEP("mounts", kiln_apply_mounts(ctx, cc));
        STEP("hostname", kiln_apply_hostname(ctx, cc));
        STEP("manage_etc_hosts", kiln_apply_etc_hosts(ctx, cc));
        STEP("users", kiln_apply_users(ctx, &view));
        if (later)
                STEP("write_files", kiln_apply_write_files_owners(ctx, cc, later));
        free(later);
        STEP("ssh_keys", kiln_apply_ssh_host_keys(ctx, cc, &given));
        STEP("ssh_authorized_keys", kiln_apply_ssh_authorized_keys(ctx, &view));
        STEP("timezone", kiln_apply_timezone(ctx, cc));
        STEP("ssh_pwauth", kiln_apply_ssh_pwauth(ctx, cc));
        STEP("staging", kiln_stage_write(ctx, cc, ud));
        STEP("bootcmd", kiln_stage_bootcmd(ctx, cc));
        STEP("units", units = kiln_units_write(ctx, NULL));
        if (ret_given_keys)
                *ret_given_keys = given;
        if (ret_units)
                *ret_units = units;
        return failed;
}

int kiln_stage_every_boot(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, const char *self,
                          const char *init, int *ret_units)
{
        int failed = 0, units = 0;

        if (self)
                STEP("stages", kiln_stage_install_self(ctx, self));
        STEP("units", units = kiln_units_write(ctx, init));
        if (cc)
                STEP("bootcmd", kiln_stage_bootcmd(ctx, cc));
        if (ret_units)
                *ret_units = units;
        return failed;
}
