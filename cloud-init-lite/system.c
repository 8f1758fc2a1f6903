/* SPDX-License-Identifier: MIT */
/*
 * hostname, /etc/hosts, timezone and mounts, as cloud-init's
 * set_hostname/update_hostname, update_etc_hosts, timezone and mounts
 * modules do them on Debian.
 */
#include "apply.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rootio.h"
#include "util.h"

/* ---- hostname ----------------------------------------------------------------- */

static bool valid_hostname(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                      *s == '.' || *s == '_'))
                        return false;
        return true;
}

/* DataSource.get_hostname(): local-hostname split at its first dot; an IP
 * address becomes "ip-A-B-C-D"; the fqdn keeps the domain unless it is
 * cloud-init's "localdomain". */
static int metadata_hostname(const char *lhost, char **ret_host, char **ret_fqdn)
{
        _cleanup_free_ char *host = NULL, *fqdn = NULL;
        unsigned char addr[16];
        const char *dot;

        if (inet_pton(AF_INET, lhost, addr) == 1 || inet_pton(AF_INET6, lhost, addr) == 1) {
                if (asprintf(&host, "ip-%s", lhost) < 0)
                        return -ENOMEM;
                for (char *p = host; *p; p++)
                        if (*p == '.' || *p == ':')
                                *p = '-';
                fqdn = strdup(host);
        } else {
                dot = strchr(lhost, '.');
                host = dot ? strndup(lhost, (size_t)(dot - lhost)) : strdup(lhost);
                if (dot && strcmp(dot + 1, "localdomain"))
                        fqdn = strdup(lhost);
                else
                        fqdn = host ? strdup(host) : NULL;
        }
        if (!host || !fqdn)
                return -ENOMEM;
        *ret_host = TAKE_PTR(host);
        *ret_fqdn = TAKE_PTR(fqdn);
        return 0;
}

int kiln_cc_hostname_fqdn(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, char **ret_hostname,
                          char **ret_fqdn)
{
        _cleanup_free_ char *host = NULL, *fqdn = NULL;
        const char *lhost = ctx->instance ? ctx->instance->local_hostname : NULL;
        int r;

        if (cc->fqdn) {
                /* fqdn given: the host name defaults to its first label. */
                const char *dot = strchr(cc->fqdn, '.');
                fqdn = strdup(cc->fqdn);
                host = cc->hostname ? strdup(cc->hostname) :
                       dot          ? strndup(cc->fqdn, (size_t)(dot - cc->fqdn)) :
                                      strdup(cc->fqdn);
        } else if (cc->hostname && strchr(cc->hostname, '.') && cc->hostname[0] != '.') {
                /* a hostname with a dot is taken as the fqdn */
                fqdn = strdup(cc->hostname);
                host = strndup(cc->hostname, (size_t)(strchr(cc->hostname, '.') - cc->hostname));
        } else {
                if (lhost && *lhost) {
                        r = metadata_hostname(lhost, &host, &fqdn);
                        if (r < 0)
                                return r;
                }
                if (cc->hostname) {
                        free(host);
                        host = strdup(cc->hostname);
                        if (!fqdn)
                                fqdn = strdup(cc->hostname);
                }
                if (!host)
                        return kiln_errorf(-ENOENT, "no hostname: neither the cloud-config nor the meta-data gives one");
        }
        if (!host || !fqdn)
                return -ENOMEM;
        if (!valid_hostname(host))
                return kiln_errorf(-EINVAL, "hostname '%.64s' is not valid", host);
        if (!valid_hostname(fqdn))
                return kiln_errorf(-EINVAL, "fqdn '%.64s' is not valid", fqdn);
        *ret_hostname = TAKE_PTR(host);
        *ret_fqdn = TAKE_PTR(fqdn);
        return 0;
}

int kiln_apply_hostname(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        _cleanup_free_ char *host = NULL, *fqdn = NULL, *text = NULL;
        int r;

        if (cc->preserve_hostname == KILN_TRUE) {
                apply_log(ctx, "hostname: preserve_hostname is set; /etc/hostname left as it is");
                return 0;
        }
        r = kiln_cc_hostname_fqdn(ctx, cc, &host, &fqdn);
        if (r == -ENOENT) {
                apply_log(ctx, "hostname: %s; /etc/hostname left as it is", kiln_last_error());
                return 0;
        }
        if (r < 0)
                return kiln_error_prefix(r, "hostname");
        /* Debian keeps the short name in /etc/hostname (prefer_fqdn_over_hostname: false). */
        if (asprintf(&text, "%s\n", host) < 0)
                return -ENOMEM;
        r = root_write_file(ctx->rootfd, "etc/hostname", text, strlen(text), 0644, 0, 0, WRITE_KEEP_ATTRS);
        if (r < 0)
                return kiln_error_prefix(r, "hostname");
        apply_log(ctx, "hostname: /etc/hostname: %s (fqdn %s)", host, fqdn);
        return 0;
}

/* ---- /etc/hosts ------------------------------------------------------------------- */

/* Debian's hosts template of cloud-init (hosts.debian.tmpl), rendered. */
static const char HOSTS_TEMPLATE[] =
        "# Your system has configured 'manage_etc_hosts' as True.\n"
        "# As a result, if you wish for changes to this file to persist\n"
        "# then you will need to either\n"
        "# a.) change or remove the value of 'manage_etc_hosts' in\n"
        "#     the cloud-config of the instance's user data\n"
        "# b.) make the changes after every instance's first boot\n"
        "# (written by kiln-init, cloud-init-lite)\n"
        "#\n"
        "127.0.1.1 %s %s\n"
        "127.0.0.1 localhost\n"
        "\n"
        "# The following lines are desirable for IPv6 capable hosts\n"
        "::1 localhost ip6-localhost ip6-loopback\n"
        "ff02::1 ip6-allnodes\n"
        "ff02::2 ip6-allrouters\n";

/* distro.update_etc_hosts(): keep a 127.0.1.1 line naming fqdn then host, else
 * replace every 127.0.1.1 line with one that does. */
static int hosts_localhost(const struct kiln_apply_ctx *ctx, const char *host, const char *fqdn)
{
        _cleanup_free_ char *buf = NULL, *out = NULL, *entry = NULL;
        struct lines l = { 0 };
        size_t len = 0, first_at = (size_t)-1;
        bool found = false;
        int r;

        r = root_read_file(ctx->rootfd, "etc/hosts", &buf, &len, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT)
                r = lines_push(&l, "# Added by kiln-init (cloud-init-lite)");
        else
                r = lines_split(&l, buf, len);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < l.n; i++) {
                char *copy = strdup(l.v[i]), *save = NULL, *tok;
                if (!copy) {
                        r = -ENOMEM;
                        goto out;
                }
                char *hash = strchr(copy, '#');
                if (hash)
                        *hash = 0;
                tok = strtok_r(copy, " \t", &save);
                if (tok && !strcmp(tok, "127.0.1.1")) {
                        char *name = strtok_r(NULL, " \t", &save);
                        if (name && !strcmp(name, fqdn))
                                for (char *a = strtok_r(NULL, " \t", &save); a; a = strtok_r(NULL, " \t", &save))
                                        if (!strcmp(a, host))
                                                found = true;
                        if (first_at == (size_t)-1)
                                first_at = i;
                }
                free(copy);
        }
        if (found) {
                apply_log(ctx, "manage_etc_hosts: /etc/hosts already has '127.0.1.1 %s %s'", fqdn, host);
                goto out;
        }
        /* Drop the old 127.0.1.1 lines; the new one goes where the first was. */
        for (size_t i = l.n; i-- > 0;) {
                char *p = l.v[i];
                while (*p == ' ' || *p == '\t')
                        p++;
                if (!strncmp(p, "127.0.1.1", 9) && (p[9] == ' ' || p[9] == '\t'))
                        lines_remove(&l, i);
        }
        if (asprintf(&entry, "127.0.1.1 %s %s", fqdn, host) < 0) {
                r = -ENOMEM;
                goto out;
        }
        r = lines_insert(&l, first_at == (size_t)-1 ? l.n : first_at, entry);
        if (r < 0)
                goto out;
        out = lines_join(&l, &len);
        r = out ? root_write_file(ctx->rootfd, "etc/hosts", out, len, 0644, 0, 0, WRITE_KEEP_ATTRS) : -ENOMEM;
        if (r == 0)
                apply_log(ctx, "manage_etc_hosts: /etc/hosts: '%s'", entry);
out:
        lines_free(&l);
        return r;
}

int kiln_apply_etc_hosts(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        _cleanup_free_ char *host = NULL, *fqdn = NULL, *text = NULL;
        int r;

        if (cc->manage_etc_hosts != KILN_HOSTS_TRUE && cc->manage_etc_hosts != KILN_HOSTS_LOCALHOST)
                return 0;
        r = kiln_cc_hostname_fqdn(ctx, cc, &host, &fqdn);
        if (r < 0)
                return kiln_error_prefix(r, "manage_etc_hosts");
        if (cc->manage_etc_hosts == KILN_HOSTS_LOCALHOST) {
                r = hosts_localhost(ctx, host, fqdn);
                return r < 0 ? kiln_error_prefix(r, "manage_etc_hosts") : 0;
        }
        if (asprintf(&text, HOSTS_TEMPLATE, fqdn, host) < 0)
                return -ENOMEM;
        r = root_write_file(ctx->rootfd, "etc/hosts", text, strlen(text), 0644, 0, 0, WRITE_KEEP_ATTRS);
        if (r < 0)
                return kiln_error_prefix(r, "manage_etc_hosts");
        apply_log(ctx, "manage_etc_hosts: /etc/hosts written for %s (%s)", fqdn, host);
        return 0;
}

/* ---- timezone ------------------------------------------------------------------- */

static bool valid_zone(const char *z)
{
        if (!*z || *z == '/' || strlen(z) > 128)
                return false;
        for (const char *p = z; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '/' ||
                      *p == '_' || *p == '-' || *p == '+' || *p == '.'))
                        return false;
        for (const char *p = z; (p = strstr(p, "..")); p++)
                if ((p == z || p[-1] == '/') && (p[2] == '/' || !p[2]))
                        return false;
        return true;
}

int kiln_apply_timezone(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        _cleanup_free_ char *zpath = NULL, *target = NULL, *text = NULL;
        _cleanup_close_ int fd = -1, etc = -1;
        char tmp[64];
        struct stat st;
        int r;

        if (!cc->timezone)
                return 0;
        if (!valid_zone(cc->timezone))
                return kiln_errorf(-EINVAL, "timezone: '%.64s' is not a time zone name", cc->timezone);
        if (asprintf(&zpath, "usr/share/zoneinfo/%s", cc->timezone) < 0 || asprintf(&target, "/%s", zpath) < 0 ||
            asprintf(&text, "%s\n", cc->timezone) < 0)
                return -ENOMEM;
        fd = root_open(ctx->rootfd, zpath, O_RDONLY, 0);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return kiln_errorf(-ENOENT, "timezone: unknown time zone '%s': no file '%s' in the root (is tzdata installed?)",
                                   cc->timezone, target);
        r = root_write_file(ctx->rootfd, "etc/timezone", text, strlen(text), 0644, 0, 0, WRITE_KEEP_ATTRS);
        if (r < 0)
                return kiln_error_prefix(r, "timezone");
        etc = root_open(ctx->rootfd, "etc", O_RDONLY | O_DIRECTORY, 0);
        if (etc < 0)
                return kiln_errorf(etc, "timezone: cannot open '/etc': %s", strerror(-etc));
        snprintf(tmp, sizeof(tmp), ".localtime.kiln-%d", (int)getpid());
        unlinkat(etc, tmp, 0);
        if (symlinkat(target, etc, tmp) < 0)
                return kiln_errorf(-errno, "timezone: cannot make symlink '/etc/localtime': %m");
        if (renameat(etc, tmp, etc, "localtime") < 0) {
                r = kiln_errorf(-errno, "timezone: cannot replace '/etc/localtime': %m");
                unlinkat(etc, tmp, 0);
                return r;
        }
        apply_log(ctx, "timezone: %s (/etc/localtime -> %s)", cc->timezone, target);
        return 0;
}

/* ---- mounts --------------------------------------------------------------------- */

#define MNT_COMMENT "comment=cloudconfig"

/*
 * cloud-init's mount_default_fields for systemd distros (cc_mounts.py and
 * its schema's documented default today): [None, None, "auto",
 * "defaults,nofail,x-systemd.after=cloud-init-network.service,_netdev", "0",
 * "2"], with kiln's unit for cloud-init's.  cloud-init names the unit that
 * formats the disks (disk_setup) and writes fstab; here that is
 * kiln-bootcmd.service, whose boot stage makes the instance store ext4, so
 * systemd never mounts it before.  nofail: a volume that is missing never
 * fails the boot; _netdev keeps the mount out of local-fs.target, as
 * cloud-init does.
 */
static const char *const default_fields[6] = {
        NULL, NULL, "auto", "defaults,nofail,x-systemd.after=kiln-bootcmd.service,_netdev", "0", "2",
};

struct mnt {
        char *f[6];
};

static void mnts_free(struct mnt *m, size_t n)
{
        for (size_t i = 0; i < n; i++)
                for (int j = 0; j < 6; j++)
                        free(m[i].f[j]);
        free(m);
}

/* cloud-init's sanitize_devname(): NULL (with *skipped set) when the name is
 * a device the instance does not have. */
static char *sanitize_dev(const struct kiln_apply_ctx *ctx, const char *name, bool *logged)
{
        char *out = NULL;

        if (name[0] == '/' || strchr(name, '='))
                return strdup(name);
        if (!strcmp(name, "ephemeral0")) {
                if (ctx->ephemeral0)
                        return strdup(ctx->ephemeral0);
                if (!*logged)
                        apply_log(ctx, "mounts: the instance has no instance store (ephemeral0); its entry is skipped");
                *logged = true;
                return NULL;
        }
        if (!strncmp(name, "ephemeral", 9) || !strcmp(name, "swap") || !strcmp(name, "ami") || !strcmp(name, "root"))
                return NULL;
        if (asprintf(&out, "/dev/%s", name) < 0)
                return NULL;
        return out;
}

static bool valid_fstab_field(const char *s)
{
        if (!*s)
                return false;
        for (; *s; s++)
                if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '#')
                        return false;
        return true;
}

int kiln_apply_mounts(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        static const struct kiln_cc_mount default_mounts[] = {
                { { (char *)"ephemeral0", (char *)"/mnt", NULL, NULL, NULL, NULL } },
        };
        const struct kiln_cc_mount *cfg = cc->mounts_set ? cc->mounts : default_mounts;
        size_t n_cfg = cc->mounts_set ? cc->n_mounts : ARRAY_SIZE(default_mounts);
        const char *defvals[6];
        _cleanup_free_ char *buf = NULL, *out = NULL, *idir = NULL, *fmt_path = NULL, *fmt = NULL;
        struct mnt *m = NULL;
        struct lines l = { 0 };
        size_t n = 0, len = 0, added = 0;
        bool logged = false;
        int r = 0;

        for (int j = 0; j < 6; j++)
                defvals[j] = cc->mount_default_fields[j] ? cc->mount_default_fields[j] : default_fields[j];
        m = calloc(n_cfg + 1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        for (size_t i = 0; i < n_cfg; i++) {
                char *dev;
                if (!cfg[i].field[0])
                        continue;
                dev = sanitize_dev(ctx, cfg[i].field[0], &logged);
                if (!dev)
                        continue;
                m[n].f[0] = dev;
                for (int j = 1; j < 6; j++) {
                        const char *v = cfg[i].field[j] ? cfg[i].field[j] : defvals[j];
                        if (v && !(m[n].f[j] = strdup(v))) {
                                r = -ENOMEM;
                                goto out;
                        }
                }
                /* No mount point: the device's earlier entries go too. */
                if (!m[n].f[1])
                        for (size_t k = 0; k < n; k++)
                                if (!strcmp(m[k].f[0], dev)) {
                                        free(m[k].f[1]);
                                        m[k].f[1] = NULL;
                                }
                n++;
        }
        /* The default ephemeral0 entry, unless the config names that device. */
        if (cc->mounts_set && ctx->ephemeral0) {
                bool has = false;
                for (size_t i = 0; i < n; i++)
                        has |= !strcmp(m[i].f[0], ctx->ephemeral0);
                if (!has) {
                        struct mnt *nm = realloc(m, (n + 2) * sizeof(*m));
                        if (!nm) {
                                r = -ENOMEM;
                                goto out;
                        }
                        m = nm;
                        memset(&m[n], 0, 2 * sizeof(m[n]));
                        m[n].f[0] = strdup(ctx->ephemeral0);
                        m[n].f[1] = strdup("/mnt");
                        for (int j = 2; j < 6; j++)
                                m[n].f[j] = defvals[j] ? strdup(defvals[j]) : NULL;
                        n++;
                        for (int j = 0; j < 6; j++)
                                if (!m[n - 1].f[j]) {
                                        r = -ENOMEM;
                                        goto out;
                                }
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (!m[i].f[1])
                        continue;
                for (int j = 0; j < 6; j++)
                        if (!m[i].f[j] || !valid_fstab_field(m[i].f[j])) {
                                r = kiln_errorf(-EINVAL, "mounts: entry for '%.64s': field %d is missing or holds white space or '#'",
                                                m[i].f[0], j + 1);
                                goto out;
                        }
        }

        r = root_read_file(ctx->rootfd, "etc/fstab", &buf, &len, NULL);
        if (r < 0 && r != -ENOENT)
                goto out;
        if (r == 0 && (r = lines_split(&l, buf, len)) < 0)
                goto out;
        for (size_t i = l.n; i-- > 0;) {
                char *copy = strdup(l.v[i]), *save = NULL, *tok = NULL;
                if (!copy) {
                        r = -ENOMEM;
                        goto out;
                }
                tok = strtok_r(copy, " \t", &save);
                for (int j = 0; tok && j < 3; j++)
                        tok = strtok_r(NULL, " \t", &save);
                if (copy[0] != '#' && tok && strstr(tok, MNT_COMMENT))
                        lines_remove(&l, i);
                free(copy);
        }
        for (size_t i = 0; i < n; i++) {
                if (!m[i].f[1])
                        continue;
                r = lines_pushf(&l, "%s\t%s\t%s\t%s,%s\t%s\t%s", m[i].f[0], m[i].f[1], m[i].f[2], m[i].f[3], MNT_COMMENT,
                                m[i].f[4], m[i].f[5]);
                if (r < 0)
                        goto out;
                added++;
                if (m[i].f[1][0] == '/') {
                        int fd = root_mkdir_p(ctx->rootfd, m[i].f[1], 0755);
                        if (fd < 0) {
                                r = kiln_error_prefix(fd, "mounts");
                                goto out;
                        }
                        close(fd);
                }
                apply_log(ctx, "mounts: %s on %s (%s, %s)", m[i].f[0], m[i].f[1], m[i].f[2], m[i].f[3]);
                if (ctx->ephemeral0 && !strcmp(m[i].f[0], ctx->ephemeral0) && !fmt &&
                    asprintf(&fmt, "%s ephemeral0\n", ctx->ephemeral0) < 0) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        out = lines_join(&l, &len);
        if (!out) {
                r = -ENOMEM;
                goto out;
        }
        if (added == 0 && !buf) {
                r = 0; /* nothing to add and no fstab: leave it absent */
        } else {
                r = root_write_file(ctx->rootfd, "etc/fstab", out, len, 0644, 0, 0, WRITE_KEEP_ATTRS);
                if (r < 0)
                        goto out;
        }
        /* The instance-store device the boot stage formats when blank. */
        r = instance_dir(ctx, &idir);
        if (r < 0)
                goto out;
        if (asprintf(&fmt_path, "%s/format", idir) < 0) {
                r = -ENOMEM;
                goto out;
        }
        if (fmt) {
                r = root_write_file(ctx->rootfd, fmt_path, fmt, strlen(fmt), 0644, 0, 0, WRITE_MKDIRS);
        } else {
                int dfd = root_open(ctx->rootfd, idir, O_RDONLY | O_DIRECTORY, 0);
                if (dfd >= 0) {
                        unlinkat(dfd, "format", 0);
                        close(dfd);
                }
        }
out:
        lines_free(&l);
        mnts_free(m, n + 1);
        if (r < 0 && !strstr(kiln_last_error(), "mounts"))
                kiln_error_prefix(r, "mounts");
        return r;
}
