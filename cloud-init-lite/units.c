/* SPDX-License-Identifier: MIT */
/*
 * The systemd units that run the stages in the booted system, written as
 * runtime units (run/systemd/system, a tmpfs the caller moves into the new
 * root), so nothing is left in the image's /etc.  Ordered like cloud-init's:
 * the boot stage like cloud-init.service (bootcmd: local file systems
 * mounted, before sysinit.target), the final stage like cloud-final.service
 * (after network-online.target and multi-user.target, so it never holds up
 * a login prompt).
 */
#include "apply.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rootio.h"
#include "util.h"

#define UNIT_DIR "run/systemd/system"
#define SELF_PATH "/run/kiln/kiln-init"
#define SELF_MAX (64u << 20)

static const char BOOT_UNIT[] =
        "# Written by kiln-init at boot (cloud-init-lite); see kiln-init(8).\n"
        "[Unit]\n"
        "Description=kiln user data: instance store, mounts, boothooks, bootcmd\n"
        "Documentation=man:kiln-init(8)\n"
        "DefaultDependencies=no\n"
        "Wants=local-fs.target\n"
        /* Not after the network: with sysinit.target waiting for this
         * unit, that would hold the whole boot until DHCP answered.
         * bootcmd runs early; cloud-init promises no network there either. */
        "After=local-fs.target systemd-remount-fs.service\n"
        "Before=sysinit.target shutdown.target\n"
        "Conflicts=shutdown.target\n"
        "ConditionPathExists=" SELF_PATH "\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "ExecStart=" SELF_PATH " --stage boot\n"
        "StandardOutput=journal\n"
        "StandardError=journal\n"
        "TimeoutSec=0\n";

static const char FINAL_UNIT[] =
        "# Written by kiln-init at boot (cloud-init-lite); see kiln-init(8).\n"
        "[Unit]\n"
        "Description=kiln user data: deferred write_files, scripts, runcmd, final_message\n"
        "Documentation=man:kiln-init(8)\n"
        "Wants=network-online.target\n"
        "After=network-online.target multi-user.target rc-local.service kiln-bootcmd.service\n"
        "Before=apt-daily.service\n"
        "ConditionPathExists=" SELF_PATH "\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        "RemainAfterExit=yes\n"
        "ExecStart=" SELF_PATH " --stage final\n"
        "StandardOutput=journal\n"
        "StandardError=journal\n"
        "TimeoutSec=0\n"
        "KillMode=process\n"
        "TasksMax=infinity\n";

/* Where a path of the root leads, followed inside the root, as the kernel names it. */
static int resolved_name(int rootfd, const char *path, char *buf, size_t len)
{
        char proc[64];
        ssize_t n;
        int fd = root_open(rootfd, path, O_PATH, 0);

        if (fd < 0)
                return fd;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        n = readlink(proc, buf, len - 1);
        close(fd);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

static bool root_is_systemd(const struct kiln_apply_ctx *ctx, const char *init)
{
        char target[4096];
        const char *base;
        int r;

        r = resolved_name(ctx->rootfd, init ? init : "sbin/init", target, sizeof(target));
        if (r == 0) {
                base = strrchr(target, '/');
                return base && !strcmp(base + 1, "systemd");
        }
        if (init)
                return false;
        return resolved_name(ctx->rootfd, "lib/systemd/systemd", target, sizeof(target)) == 0 ||
               resolved_name(ctx->rootfd, "usr/lib/systemd/systemd", target, sizeof(target)) == 0;
}

static int wants_link(const struct kiln_apply_ctx *ctx, const char *target_dir, const char *unit)
{
        _cleanup_free_ char *dir = NULL, *target = NULL;
        _cleanup_close_ int fd = -1;
        char tmp[128];

        if (asprintf(&dir, UNIT_DIR "/%s.wants", target_dir) < 0 || asprintf(&target, "../%s", unit) < 0)
                return -ENOMEM;
        fd = root_mkdir_p(ctx->rootfd, dir, 0755);
        if (fd < 0)
                return fd;
        snprintf(tmp, sizeof(tmp), ".%s.kiln-%d", unit, (int)getpid());
        unlinkat(fd, tmp, 0);
        if (symlinkat(target, fd, tmp) < 0 || renameat(fd, tmp, fd, unit) < 0) {
                int e = -errno;
                unlinkat(fd, tmp, 0);
                return kiln_errorf(e, "cannot link '/%s/%s': %s", dir, unit, strerror(-e));
        }
        return 0;
}

int kiln_units_write(const struct kiln_apply_ctx *ctx, const char *init)
{
        int r;

        if (!root_is_systemd(ctx, init)) {
                apply_log(ctx, "units: the root's init (%s) is not systemd; no units written", init ? init : "/sbin/init");
                return KILN_UNITS_NOT_SYSTEMD;
        }
        r = root_write_file(ctx->rootfd, UNIT_DIR "/kiln-bootcmd.service", BOOT_UNIT, strlen(BOOT_UNIT), 0644, 0, 0,
                            WRITE_MKDIRS);
        if (r >= 0)
                r = root_write_file(ctx->rootfd, UNIT_DIR "/kiln-userdata.service", FINAL_UNIT, strlen(FINAL_UNIT), 0644,
                                    0, 0, WRITE_MKDIRS);
        if (r >= 0)
                r = wants_link(ctx, "sysinit.target", "kiln-bootcmd.service");
        if (r >= 0)
                r = wants_link(ctx, "multi-user.target", "kiln-userdata.service");
        if (r < 0)
                return kiln_error_prefix(r, "units");
        apply_log(ctx, "units: kiln-bootcmd.service and kiln-userdata.service in /" UNIT_DIR);
        return 0;
}

int kiln_stage_install_self(const struct kiln_apply_ctx *ctx, const char *self)
{
        _cleanup_free_ uint8_t *data = NULL;
        size_t len;
        int r;

        r = read_full_file(self, SELF_MAX, &data, &len);
        if (r < 0)
                return kiln_errorf(r, "cannot read '%s': %s", self, strerror(-r));
        r = root_write_file(ctx->rootfd, SELF_PATH, data, len, 0755, 0, 0, WRITE_MKDIRS);
        if (r < 0)
                return r;
        apply_log(ctx, "installed %s for the user data stages", SELF_PATH);
        return 0;
}
