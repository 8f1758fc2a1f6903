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
#include "network.h"
#include "cloudinit.h"
#include "pid1.h"
#include "state.h"
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

/* A #cloud-config part is applied key by key: only one that is not YAML (or
 * not a mapping) is dropped whole; a bad key or entry is named, with its line. */
static void parse_configs(struct kiln_ci *ci)
{
        for (size_t i = 0; i < ci->ud.n_parts; i++) {
                const struct kiln_ud_part *p = &ci->ud.parts[i];
                log_part(i, p);
                if (p->type != KILN_UD_CLOUD_CONFIG)
                        continue;
                char name[64];
                size_t seen = ci->cc.n_errors;
                snprintf(name, sizeof(name), "user-data part %zu", i + 1);
                kiln_clear_error();
                int r = kiln_cloud_config_parse(&ci->cc, name, p->data, p->len);
                if (r < 0) {
                        pid1_log("#cloud-config NOT APPLIED: %s", kiln_last_error());
                        continue;
                }
                for (size_t k = seen; k < ci->cc.n_errors; k++) {
                        const struct kiln_cc_error *e = &ci->cc.errors[k];
                        pid1_log("#cloud-config: %s: line %zu: %s NOT APPLIED: %s", e->doc, e->line, e->what,
                                 e->message);
                }
                if (r > 0)
                        pid1_log("#cloud-config: %s: applied, except %d bad key%s or entr%s (above)", name, r,
                                 r == 1 ? "" : "s", r == 1 ? "y" : "ies");
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

        snprintf(path, sizeof(path), "%s/etc/kiln/cloud.cfg", root);
        if (read_full_file(path, 1u << 20, &buf, &len) < 0)
                return;
        kiln_cloud_config_init(&image);
        kiln_clear_error();
        if (kiln_cloud_config_parse(&image, "/etc/kiln/cloud.cfg", buf, len) < 0) {
                pid1_log("image config: %s", kiln_last_error());
                goto out;
        }
        for (size_t k = 0; k < image.n_errors; k++)
                pid1_log("image config: %s: line %zu: %s NOT APPLIED: %s", image.errors[k].doc, image.errors[k].line,
                         image.errors[k].what, image.errors[k].message);
        if (image.network_set) {
                kiln_netcfg_free(&ci->image_net);
                ci->image_net = image.network;
                kiln_netcfg_init(&image.network);
                ci->image_net_set = true;
        }
        if (ci->have_instance && !ci->cc.default_user_set && image.default_user_set) {
                ci->cc.default_user = image.default_user;
                ci->cc.default_user_set = true;
                memset(&image.default_user, 0, sizeof(image.default_user));
                image.default_user_set = false;
        }
out:
        kiln_cloud_config_free(&image);
        free(buf);
}

/* --- the network ---------------------------------------------------------- */

#define NET_STATE KILN_STATE_DIR "/network"

/* "0a:..,0a:..": the NICs the instance has now, in kiln_net_list_nics() order. */
static void mac_set(const struct kiln_netif *nics, size_t n, char *buf, size_t len)
{
        size_t at = 0;

        buf[0] = 0;
        for (size_t i = 0; i < n && at < len; i++)
                at += (size_t)snprintf(buf + at, len - at, "%s%s", i ? "," : "", nics[i].mac);
}

/* Which configuration, by cloud-init's precedence: 0 with *cfg filled, 1
 * when disabled, 2 when there is no NIC and no configuration names one. */
static int pick_network(struct kiln_ci *ci, const struct kiln_netif *nics, size_t n_nics, struct kiln_netcfg *cfg,
                        const char **ret_from)
{
        const struct kiln_instance *in = &ci->instance;
        bool user_net = ci->have_cc && ci->cc.network_set;

        if ((ci->image_net_set && ci->image_net.disabled) || (user_net && ci->cc.network.disabled)) {
                *ret_from = ci->image_net_set && ci->image_net.disabled ? "/etc/kiln/cloud.cfg" : "user data";
                return 1;
        }
        if (user_net)
                pid1_log("network: the user data's network: key is not applied, as in cloud-init (only "
                         "'config: disabled' is); the seed's network-config or the image's cloud.cfg carries one");
        if (ci->image_net_set && ci->image_net.n_ifaces) {
                *cfg = ci->image_net;
                kiln_netcfg_init(&ci->image_net);
                *ret_from = "/etc/kiln/cloud.cfg";
                return 0;
        }
        if (ci->have_instance && in->network_config) {
                kiln_clear_error();
                int r = kiln_netcfg_parse("network-config", in->network_config, in->network_config_len, cfg);
                if (r < 0) {
                        pid1_log("network: the seed's %s; using the fallback", kiln_last_error());
                } else {
                        for (size_t i = 0; cfg->warnings && cfg->warnings[i]; i++)
                                pid1_log("network: %s", cfg->warnings[i]);
                        *ret_from = "the seed's network-config";
                        if (cfg->disabled)
                                return 1;
                        if (cfg->n_ifaces)
                                return 0;
                        kiln_netcfg_free(cfg);
                }
        }
        if (ci->have_instance && in->n_nics) {
                *ret_from = "the EC2 metadata";
                return kiln_netcfg_from_ec2(in, cfg);
        }
        if (!n_nics)
                return 2;
        *ret_from = "the fallback (DHCP on the first NIC)";
        return kiln_netcfg_fallback(&nics[0], cfg);
}

int kiln_ci_network(struct kiln_ci *ci, const char *root, const char *instance_id)
{
        struct kiln_netif nics[KILN_NET_MAX_NICS];
        struct kiln_netcfg cfg;
        char macs[KILN_NET_MAX_NICS * 18 + 1], path[PATH_MAX], want[sizeof(macs) + 300];
        _cleanup_free_ char *state = NULL;
        const char *from = "";
        size_t n_nics = 0, len;
        int r;

        kiln_netcfg_init(&cfg);
        if (kiln_net_list_nics("", nics, ARRAY_SIZE(nics), &n_nics) < 0)
                n_nics = 0;
        mac_set(nics, n_nics, macs, sizeof(macs));
        /* Rendered once per instance and again when its NICs change (a NIC
         * attached or moved while the instance was stopped), never at a
         * plain reboot: the image's administrator may edit the files. */
        snprintf(want, sizeof(want), "instance=%s\nmacs=%s\n", instance_id, macs);
        snprintf(path, sizeof(path), "%s" NET_STATE, root);
        if (read_full_file(path, 4096, (uint8_t **)&state, &len) >= 0 && !strcmp(state, want)) {
                pid1_log("network: unchanged (instance seen before, same NICs: %s)", macs[0] ? macs : "none");
                return 1;
        }
        r = pick_network(ci, nics, n_nics, &cfg, &from);
        if (r < 0)
                return r;
        if (r == 1) {
                pid1_log("network: configuration disabled by %s: the image's own files are left as they are", from);
                return 1;
        }
        if (r == 2) {
                pid1_log("network: no ethernet interface: nothing to render");
                return 1;
        }
        r = kiln_netcfg_bind(&cfg, nics, n_nics);
        if (r < 0)
                goto out;
        pid1_log("network: %zu interface%s from %s", cfg.n_ifaces, cfg.n_ifaces == 1 ? "" : "s", from);

        int rootfd = open(root[0] ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0) {
                r = kiln_errorf(-errno, "cannot open %s: %s", root, strerror(errno));
                goto out;
        }
        struct kiln_apply_ctx ctx = { .rootfd = rootfd, .root_name = root, .log = ci_log, .instance = &ci->instance };
        enum kiln_net_stack stack;
        kiln_clear_error();
        r = kiln_apply_network(&ctx, &cfg, ci->have_instance ? ci->instance.dns_servers : NULL,
                               ci->have_instance ? ci->instance.dns_domain : NULL, &stack);
        close(rootfd);
        /* Not a failure of the boot: such an image (an appliance, the
         * demo) configures its NICs its own way, if at all. */
        if (r >= 0 && stack == KILN_NET_STACK_NONE)
                pid1_log("network: WARNING: the image has no network stack kiln can render for (netplan, ifupdown, "
                         "NetworkManager or systemd-networkd): nothing written");
        if (r >= 0) {
                /* Recorded only once everything was written: a failure renders
                 * again next boot.  (KILN_STATE_DIR exists: kiln-init made the
                 * instance's folder beneath it before its tasks.) */
                snprintf(path, sizeof(path), "%s" NET_STATE, root);
                kiln_clear_error();
                if (kiln_state_write(path, want, strlen(want)) < 0)
                        r = kiln_error_prefix(-EIO, "the network is rendered but not recorded, so it is rendered "
                                                    "again next boot");
        }
out:
        kiln_netcfg_free(&cfg);
        return r;
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
        kiln_netcfg_free(&ci->image_net);
        kiln_userdata_free(&ci->ud);
        kiln_cloud_config_free(&ci->cc);
        if (ci->have_instance)
                kiln_instance_free(&ci->instance);
}
