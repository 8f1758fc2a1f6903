/* SPDX-License-Identifier: MIT */
/* The network module; see network.h. */
#include "network.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rootio.h"
#include "util.h"

static int oom(void)
{
        return kiln_errorf(-ENOMEM, "out of memory");
}

static struct kiln_net_iface *add_iface(struct kiln_netcfg *cfg)
{
        struct kiln_net_iface *v = realloc(cfg->ifaces, (cfg->n_ifaces + 1) * sizeof(*v));

        if (!v)
                return NULL;
        cfg->ifaces = v;
        v += cfg->n_ifaces++;
        *v = (struct kiln_net_iface){ .dhcp4_metric = -1, .dhcp6_metric = -1, .accept_ra = -1 };
        return v;
}

int kiln_netcfg_from_ec2(const struct kiln_instance *in, struct kiln_netcfg *ret)
{
        struct kiln_netcfg cfg;
        bool have_primary = false;

        kiln_netcfg_init(&cfg);
        for (size_t i = 0; i < in->n_nics; i++) {
                const struct kiln_instance_nic *nic = &in->nics[i];
                struct kiln_net_iface *f = add_iface(&cfg);
                int dev = nic->device_number >= 0 ? nic->device_number : (int)i;

                if (!f)
                        goto nomem;
                /* The name EC2's own images give device N; only a file name here. */
                if (asprintf(&f->id, "eth%d", dev) < 0) {
                        f->id = NULL;
                        goto nomem;
                }
                if (!(f->match_mac = strdup(nic->mac)))
                        goto nomem;
                f->dhcp4 = true;
                f->dhcp4_metric = 100L * (dev + 1);
                if (nic->ipv6s && nic->ipv6s[0]) {
                        f->dhcp6 = true;
                        f->dhcp6_metric = f->dhcp4_metric;
                }
                /* Device 0 when there is one, else the first listed. */
                if (dev == 0 && !have_primary)
                        have_primary = f->primary = true;
        }
        if (!have_primary && cfg.n_ifaces)
                cfg.ifaces[0].primary = true;
        *ret = cfg;
        return 0;
nomem:
        kiln_netcfg_free(&cfg);
        return oom();
}

int kiln_netcfg_fallback(const struct kiln_netif *nic, struct kiln_netcfg *ret)
{
        struct kiln_netcfg cfg;
        struct kiln_net_iface *f;

        kiln_netcfg_init(&cfg);
        f = add_iface(&cfg);
        if (!f || !(f->id = strdup(nic->ifname)) || (nic->mac[0] && !(f->match_mac = strdup(nic->mac)))) {
                kiln_netcfg_free(&cfg);
                return oom();
        }
        f->dhcp4 = true;
        f->primary = true;
        *ret = cfg;
        return 0;
}

int kiln_netcfg_bind(struct kiln_netcfg *cfg, const struct kiln_netif *nics, size_t n)
{
        for (size_t i = 0; i < cfg->n_ifaces; i++) {
                struct kiln_net_iface *f = &cfg->ifaces[i];
                if (!f->match_mac || f->ifname_hint)
                        continue;
                for (size_t k = 0; k < n; k++)
                        if (!strcmp(nics[k].mac, f->match_mac)) {
                                if (!(f->ifname_hint = strdup(nics[k].ifname)))
                                        return oom();
                                break;
                        }
        }
        return 0;
}

/* --- the probe over a root fd --------------------------------------------- */

static bool probe_exists(void *ud, const char *path)
{
        int fd = root_open(*(const int *)ud, path, O_PATH | O_NOFOLLOW, 0);

        if (fd < 0)
                return false;
        close(fd);
        return true;
}

static int probe_read(void *ud, const char *path, char **ret, size_t *ret_len)
{
        return root_read_file(*(const int *)ud, path, ret, ret_len, NULL);
}

static int probe_readlink(void *ud, const char *path, char **ret)
{
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int dfd = root_open_parent(*(const int *)ud, path, false, &base);
        char buf[PATH_MAX];

        if (dfd < 0)
                return dfd;
        ssize_t n = readlinkat(dfd, base, buf, sizeof(buf) - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

void kiln_net_probe_root(const int *rootfd, struct kiln_net_probe *ret)
{
        *ret = (struct kiln_net_probe){
                .exists = probe_exists, .read = probe_read, .readlink = probe_readlink, .ud = (void *)rootfd
        };
}

/* --- writing ------------------------------------------------------------- */

static int put_symlink(const struct kiln_apply_ctx *ctx, const struct kiln_net_file *f)
{
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int dfd = root_open_parent(ctx->rootfd, f->path, true, &base);
        char now[PATH_MAX];

        if (dfd < 0)
                return kiln_errorf(dfd, "cannot open the folder of /%s: %s", f->path, strerror(-dfd));
        ssize_t n = readlinkat(dfd, base, now, sizeof(now) - 1);
        if (n >= 0) {
                now[n] = 0;
                if (!strcmp(now, f->symlink))
                        return 0;
        }
        if ((n >= 0 || errno == EINVAL) && unlinkat(dfd, base, 0) < 0)
                return kiln_errorf(-errno, "cannot replace /%s: %s", f->path, strerror(errno));
        if (symlinkat(f->symlink, dfd, base) < 0)
                return kiln_errorf(-errno, "cannot link /%s: %s", f->path, strerror(errno));
        return 0;
}

static bool rendered(const struct kiln_net_files *files, const char *dir, const char *name)
{
        size_t dl = strlen(dir);

        for (size_t i = 0; i < files->n; i++) {
                const char *p = files->v[i].path;
                if (!strncmp(p, dir, dl) && p[dl] == '/' && !strcmp(p + dl + 1, name))
                        return true;
        }
        return false;
}

/* kiln's files from an earlier render that this one does not write. */
static int remove_stale(const struct kiln_apply_ctx *ctx, const struct kiln_net_files *files)
{
        int first = 0;

        for (size_t i = 0; kiln_net_dirs[i]; i++) {
                const char *dir = kiln_net_dirs[i];
                int fd = root_open(ctx->rootfd, dir, O_RDONLY | O_DIRECTORY, 0);
                if (fd < 0)
                        continue;
                DIR *d = fdopendir(fd);
                if (!d) {
                        close(fd);
                        continue;
                }
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (!kiln_net_is_ours(dir, de->d_name) || rendered(files, dir, de->d_name))
                                continue;
                        if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
                                apply_log(ctx, "network: cannot remove /%s/%s: %s", dir, de->d_name, strerror(errno));
                                if (!first)
                                        first = kiln_errorf(-errno, "cannot remove /%s/%s", dir, de->d_name);
                        } else {
                                apply_log(ctx, "network: removed /%s/%s (no longer rendered)", dir, de->d_name);
                        }
                }
                closedir(d);
        }
        return first;
}

int kiln_apply_network(const struct kiln_apply_ctx *ctx, const struct kiln_netcfg *cfg, char *const *extra_dns,
                       const char *extra_domain, enum kiln_net_stack *ret_stack)
{
        struct kiln_net_probe probe;
        struct kiln_net_files files = { 0 };
        char reason[256] = "";
        int r, first = 0;

        kiln_net_probe_root(&ctx->rootfd, &probe);
        enum kiln_net_stack stack = kiln_net_stack_pick(&probe, reason, sizeof(reason));
        if (ret_stack)
                *ret_stack = stack;
        if (stack == KILN_NET_STACK_NONE)
                return 0;
        apply_log(ctx, "network: %s (%s)", kiln_net_stack_to_string(stack), reason);
        r = kiln_net_render(stack, cfg, &files);
        if (r < 0)
                return r;
        for (size_t i = 0; i < files.n; i++) {
                const struct kiln_net_file *f = &files.v[i];
                if (f->symlink)
                        r = put_symlink(ctx, f);
                else
                        r = root_write_file(ctx->rootfd, f->path, f->content, f->len, f->mode, 0, 0, WRITE_MKDIRS);
                if (r < 0) {
                        apply_log(ctx, "network: FAILED: /%s: %s", f->path, kiln_last_error());
                        if (!first)
                                first = r;
                        continue;
                }
                apply_log(ctx, f->symlink ? "network: /%s -> %s" : "network: wrote /%s", f->path,
                          f->symlink ? f->symlink : "");
        }
        r = remove_stale(ctx, &files);
        if (r < 0 && !first)
                first = r;
        kiln_net_files_free(&files);

        if (kiln_net_resolv_is_ours(stack, &probe)) {
                char *search[] = { (char *)extra_domain, NULL };
                _cleanup_free_ char *text = NULL;
                r = kiln_net_render_resolv(cfg, extra_dns, extra_domain ? search : NULL, &text);
                if (r >= 0 && text)
                        r = root_write_file(ctx->rootfd, "etc/resolv.conf", text, strlen(text), 0644, 0, 0,
                                            WRITE_MKDIRS);
                if (r < 0) {
                        apply_log(ctx, "network: FAILED: /etc/resolv.conf: %s", kiln_last_error());
                        if (!first)
                                first = r;
                } else if (text) {
                        apply_log(ctx, "network: wrote /etc/resolv.conf (nothing else in the image manages it)");
                }
        }
        return first;
}
