/* SPDX-License-Identifier: MIT */
/* kiln-init's cloud-init-lite pass; see cloudinit.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "apply.h"
#include "cloudinit.h"
#include "pid1.h"
#include "util.h"

/* A late seed volume (kiln.ds=nocloud) gets this long to appear. */
#define SEED_WAIT_MS 10000

static void ci_log(void *ud, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        (void)ud;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        pid1_log("%s", line);
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
}

/* kiln.ds wins; then cloud-init's SMBIOS convention (a system serial number
 * holding "ds=nocloud", as `kiln run --seed` sets it); else detection. */
static const char *ds_choice(const struct kiln_cmdline *cmd)
{
        char serial[256] = "";

        if (cmd->ds != KILN_DS_AUTO)
                return kiln_ds_to_string(cmd->ds);
        if (pid1_read_file("/sys/class/dmi/id/product_serial", serial, sizeof(serial)) > 0 &&
            strstr(serial, "ds=nocloud"))
                return "nocloud";
        return "auto";
}

static void log_part(size_t i, const struct kiln_ud_part *p)
{
        const char *why = NULL;

        switch (p->type) {
        case KILN_UD_INCLUDE: why = "#include (text/x-include-url) is not supported"; break;
        case KILN_UD_PART_HANDLER: why = "part handlers (text/part-handler) are not supported"; break;
        case KILN_UD_JINJA: why = "jinja templates (text/jinja2) are not supported"; break;
        case KILN_UD_UNKNOWN: why = "unknown content type"; break;
        default: break;
        }
        pid1_log("user-data part %zu: %s%s%s, %zu bytes%s%s", i + 1, p->content_type, p->filename ? " " : "",
                 p->filename ? p->filename : "", p->len, why ? ": NOT APPLIED: " : "", why ? why : "");
}

/* Decode one blob (vendor data or user data) and append its parts to ci->ud. */
static int take_parts(struct kiln_ci *ci, const char *what, const uint8_t *buf, size_t len)
{
        struct kiln_userdata ud = { 0 };
        int r;

        if (!buf || !len)
                return 0;
        kiln_clear_error();
        r = kiln_userdata_decode(buf, len, &ud);
        if (r < 0) {
                pid1_log("%s: cannot decode: %s", what, kiln_last_error());
                return r;
        }
        if (ud.gzip_layers || ud.mime_depth)
                pid1_log("%s: %zu part%s (%u gzip layer%s, MIME depth %u)", what, ud.n_parts,
                         ud.n_parts == 1 ? "" : "s", ud.gzip_layers, ud.gzip_layers == 1 ? "" : "s", ud.mime_depth);
        struct kiln_ud_part *parts = realloc(ci->ud.parts, (ci->ud.n_parts + ud.n_parts) * sizeof(*parts) + 1);
        if (!parts) {
                kiln_userdata_free(&ud);
                return -ENOMEM;
        }
        memcpy(parts + ci->ud.n_parts, ud.parts, ud.n_parts * sizeof(*parts));
        ci->ud.parts = parts;
        ci->ud.n_parts += ud.n_parts;
        ci->ud.gzip_layers = MAX(ci->ud.gzip_layers, ud.gzip_layers);
        ci->ud.mime_depth = MAX(ci->ud.mime_depth, ud.mime_depth);
        free(ud.parts); /* the parts' contents moved to ci->ud */
        return 0;
}

static void log_list(const char *what, char **list)
{
        char line[768];
        size_t n = 0;

        if (!list || !list[0])
                return;
        line[0] = 0;
        for (size_t i = 0; list[i]; i++)
                n += (size_t)snprintf(line + MIN(n, sizeof(line) - 1), sizeof(line) - MIN(n, sizeof(line) - 1),
                                      "%s%s", i ? ", " : "", list[i]);
        pid1_log("%s%s", what, line);
}

static void parse_configs(struct kiln_ci *ci)
{
        for (size_t i = 0; i < ci->ud.n_parts; i++) {
                const struct kiln_ud_part *p = &ci->ud.parts[i];
                log_part(i, p);
                if (p->type != KILN_UD_CLOUD_CONFIG)
                        continue;
                char name[64];
                snprintf(name, sizeof(name), "user-data part %zu", i + 1);
                kiln_clear_error();
                if (kiln_cloud_config_parse(&ci->cc, name, p->data, p->len) < 0) {
                        pid1_log("#cloud-config NOT APPLIED: %s", kiln_last_error());
                        continue;
                }
                ci->have_cc = true;
        }
        log_list("#cloud-config: unsupported keys, ignored: ", ci->cc.unsupported);
        for (size_t i = 0; ci->cc.warnings && ci->cc.warnings[i]; i++)
                pid1_log("#cloud-config: %s", ci->cc.warnings[i]);
}

int kiln_ci_fetch(struct kiln_ci *ci, const struct kiln_cmdline *cmd)
{
        struct kiln_ds_opts o = { .imds_v1 = cmd->imds_v1, .log = ci_log };
        const char *choice = ds_choice(cmd);
        int r;

        kiln_cloud_config_init(&ci->cc);
        kiln_clear_error();
        r = kiln_ds_detect(choice, &ci->kind, ci->reason, sizeof(ci->reason));
        if (r < 0)
                return r;
        if (ci->kind == KILN_DSK_NOCLOUD) {
                struct kiln_seed seed;
                unsigned waited = 0;
                while (kiln_ds_seed_find(&o, &seed) <= 0 && waited < SEED_WAIT_MS) {
                        sleep_ms(100);
                        waited += 100;
                }
        }
        pid1_log("datasource: %s (%s)", kiln_ds_kind_to_string(ci->kind), ci->reason);
        kiln_clear_error();
        switch (ci->kind) {
        case KILN_DSK_NONE:
                return 0;
        case KILN_DSK_NOCLOUD:
                r = kiln_ds_nocloud(&o, &ci->instance);
                break;
        case KILN_DSK_EC2:
                r = kiln_ds_ec2(&o, &ci->instance);
                break;
        }
        if (r < 0)
                return r;
        ci->have_instance = true;
        for (size_t i = 0; ci->instance.notes && ci->instance.notes[i]; i++)
                pid1_log("datasource: %s", ci->instance.notes[i]);
        pid1_log("datasource: instance %s from %s, user data %zu bytes%s", ci->instance.instance_id,
                 ci->instance.source ? ci->instance.source : "?", ci->instance.user_data_len,
                 ci->instance.vendor_data_len ? ", vendor data too" : "");
        /* Vendor data first: the user's #cloud-config replaces its keys. */
        take_parts(ci, "vendor-data", ci->instance.vendor_data, ci->instance.vendor_data_len);
        take_parts(ci, "user-data", ci->instance.user_data, ci->instance.user_data_len);
        parse_configs(ci);
        return 0;
}

bool kiln_ci_growpart_off(const struct kiln_ci *ci)
{
        return ci->have_cc && ci->cc.growpart_mode == KILN_GROWPART_OFF;
}

bool kiln_ci_resize_off(const struct kiln_ci *ci)
{
        return ci->have_cc && ci->cc.resize_rootfs == KILN_RESIZE_FALSE;
}

void kiln_ci_load_image_config(struct kiln_ci *ci, const char *root)
{
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        size_t len = 0;
        struct kiln_cloud_config image;

        if (!ci->have_instance || ci->cc.default_user_set)
                return;
        snprintf(path, sizeof(path), "%s/etc/kiln/cloud.cfg", root);
        if (read_full_file(path, 1u << 20, &buf, &len) < 0)
                return;
        kiln_cloud_config_init(&image);
        kiln_clear_error();
        if (kiln_cloud_config_parse(&image, "/etc/kiln/cloud.cfg", buf, len) < 0) {
                pid1_log("image config: %s", kiln_last_error());
        } else if (image.default_user_set) {
                ci->cc.default_user = image.default_user;
                ci->cc.default_user_set = true;
                memset(&image.default_user, 0, sizeof(image.default_user));
                image.default_user_set = false;
        }
        kiln_cloud_config_free(&image);
        free(buf);
}

/* Instance store: the block device mapping's ephemeral0 when the datasource
 * gave one and it exists, else the first NVMe namespace that EC2's instance
 * storage model or serial ("AWS...", where EBS volumes say "vol...") names. */
static void find_ephemeral0(struct kiln_ci *ci)
{
        char path[PATH_MAX], buf[128];

        for (size_t i = 0; ci->instance.block_devices && ci->instance.block_devices[i]; i++) {
                const char *e = ci->instance.block_devices[i];
                if (strncmp(e, "ephemeral0=", 11))
                        continue;
                const char *dev = e + 11;
                if (!strncmp(dev, "/dev/", 5))
                        dev += 5;
                char alt[64];
                /* EC2 says sdb; Xen guests name it xvdb. */
                snprintf(alt, sizeof(alt), "xvd%s", !strncmp(dev, "sd", 2) ? dev + 2 : dev);
                const char *cands[] = { dev, alt };
                for (size_t k = 0; k < ARRAY_SIZE(cands); k++) {
                        snprintf(path, sizeof(path), "/sys/class/block/%s", cands[k]);
                        if (access(path, F_OK) == 0) {
                                snprintf(ci->ephemeral0, sizeof(ci->ephemeral0), "/dev/%.50s", cands[k]);
                                return;
                        }
                }
        }
        struct dirent **names = NULL;
        int n = scandir("/sys/class/block", &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                unsigned a, b;
                char tail;
                if (!ci->ephemeral0[0] && sscanf(name, "nvme%un%u%c", &a, &b, &tail) == 2) {
                        bool store = false;
                        snprintf(path, sizeof(path), "/sys/class/block/%s/device/model", name);
                        if (pid1_read_file(path, buf, sizeof(buf)) > 0 && strstr(buf, "Amazon EC2 NVMe Instance Storage"))
                                store = true;
                        snprintf(path, sizeof(path), "/sys/class/block/%s/device/serial", name);
                        if (pid1_read_file(path, buf, sizeof(buf)) > 0 && !strncmp(buf + strspn(buf, " "), "AWS", 3))
                                store = true;
                        if (store)
                                snprintf(ci->ephemeral0, sizeof(ci->ephemeral0), "/dev/%.50s", name);
                }
                free(names[i]);
        }
        free(names);
}

static void save_blob(const char *dir, const char *name, const void *buf, size_t len)
{
        char path[PATH_MAX], tmp[PATH_MAX + 8];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if (!buf) {
                unlink(path);
                return;
        }
        /* User data may hold secrets: root only. */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return;
        /* Synced with everything else the pass writes (kiln-init's syncfs). */
        bool okw = write(fd, buf, len) == (ssize_t)len;
        close(fd);
        if (!okw || rename(tmp, path) < 0) {
                unlink(tmp);
                pid1_log("cannot keep %s", path);
        }
}

static void save_instance(const struct kiln_ci *ci, const char *state)
{
        char *text = NULL;
        const struct kiln_instance *in = &ci->instance;

        save_blob(state, "user-data", in->user_data, in->user_data_len);
        save_blob(state, "vendor-data", in->vendor_data, in->vendor_data_len);
        if (asprintf(&text, "datasource=%s\nsource=%s\ninstance-id=%s\nlocal-hostname=%s\ninstance-type=%s\n",
                     kiln_ds_kind_to_string(ci->kind), in->source ? in->source : "", in->instance_id,
                     in->local_hostname ? in->local_hostname : "", in->instance_type ? in->instance_type : "") >= 0) {
                save_blob(state, "instance", text, strlen(text));
                free(text);
        }
}

int kiln_ci_apply(struct kiln_ci *ci, const char *root, const char *state_dir, bool first_time)
{
        int failed = 0, units = 0;

        if (!ci->have_instance)
                return 0;
        int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
                pid1_log("cloud-init-lite: cannot open %s: %s", root, strerror(errno));
                return 1;
        }
        find_ephemeral0(ci);
        struct kiln_apply_ctx ctx = {
                .rootfd = rootfd,
                .root_name = root,
                .log = ci_log,
                .instance = &ci->instance,
                .ephemeral0 = ci->ephemeral0[0] ? ci->ephemeral0 : NULL,
        };
        if (first_time) {
                save_instance(ci, state_dir);
                failed = kiln_apply_all(&ctx, &ci->cc, &ci->ud, &ci->given_keys, &units);
        } else {
                kiln_clear_error();
                if (kiln_stage_bootcmd(&ctx, &ci->cc) < 0) {
                        pid1_log("bootcmd: FAILED: %s", kiln_last_error());
                        failed++;
                }
                kiln_clear_error();
                units = kiln_units_write(&ctx, NULL);
                if (units < 0) {
                        pid1_log("units: FAILED: %s", kiln_last_error());
                        failed++;
                }
        }
        /* The stages run this very binary after switch_root (/run moves along). */
        kiln_clear_error();
        if (kiln_stage_install_self(&ctx, "/init") < 0) {
                pid1_log("cannot install /run/kiln/kiln-init: %s", kiln_last_error());
                failed++;
        }
        if (units == KILN_UNITS_NOT_SYSTEMD)
                pid1_log("user data stages: the root's init is not systemd; run '/run/kiln/kiln-init --stage boot' "
                         "early and '--stage final' late in its boot (kiln-init(8))");
        close(rootfd);
        return failed;
}

unsigned kiln_ci_keytypes(const struct kiln_ci *ci, unsigned defaults)
{
        if (!ci->have_cc)
                return defaults;
        if (ci->cc.ssh_genkeytypes)
                return kiln_ssh_genkeytypes(&ci->cc) & ~ci->given_keys;
        return defaults & ~ci->given_keys;
}

void kiln_ci_free(struct kiln_ci *ci)
{
        kiln_userdata_free(&ci->ud);
        kiln_cloud_config_free(&ci->cc);
        if (ci->have_instance)
                kiln_instance_free(&ci->instance);
}
