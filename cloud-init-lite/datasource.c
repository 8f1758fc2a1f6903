/* SPDX-License-Identifier: MIT */
/*
 * The NoCloud and EC2 datasources and their detection (see datasource.h).
 * The bytes they fetch go through pure parsers: meta-data through
 * kiln_nocloud_metadata_parse(), HTTP through httpc.c's head parser; the
 * IMDS's text answers are checked here (one line, printable, bounded).
 */
#include "datasource.h"
#include "netcfg.h"

#include <arpa/inet.h>
#include <blkid/blkid.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "httpc.h"
#include "util.h"

#define MAX_META_VALUE 4096       /* an IMDS text answer */
#define MAX_KEY_BYTES 65536       /* one public key answer */
#define MAX_LIST_BYTES 65536      /* a listing (public-keys/, block-device-mapping/) */
#define MAX_BDM 64
#define MAX_TOKEN 1024
#define REQUEST_TIMEOUT_MS 10000u
#define TOKEN_TTL "21600"

static const char *root_of(const struct kiln_ds_opts *o)
{
        return o && o->root ? o->root : "";
}

static void ds_log(const struct kiln_ds_opts *o, const char *fmt, ...) _printf_(2, 3);
static void ds_log(const struct kiln_ds_opts *o, const char *fmt, ...)
{
        char buf[512];
        va_list ap;

        if (!o || !o->log)
                return;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        o->log(o->log_ud, "%s", buf);
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *kiln_ds_kind_to_string(enum kiln_ds_kind k)
{
        switch (k) {
        case KILN_DSK_NONE:
                return "none";
        case KILN_DSK_NOCLOUD:
                return "nocloud";
        case KILN_DSK_EC2:
                return "ec2";
        }
        return NULL;
}

/* --- detection ------------------------------------------------------------ */

/* A sysfs attribute's first line, "" if unreadable. */
static void read_attr(const char *root, const char *rel, char *buf, size_t size)
{
        _cleanup_free_ uint8_t *data = NULL;
        char path[512];
        size_t len;

        buf[0] = 0;
        snprintf(path, sizeof(path), "%s%s", root, rel);
        if (read_full_file(path, 4096, &data, &len) < 0)
                return;
        len = strcspn((char *)data, "\n");
        while (len && ((char *)data)[len - 1] == ' ')
                len--;
        snprintf(buf, size, "%.*s", (int)len, (char *)data);
}

int kiln_ds_seed_find(const struct kiln_ds_opts *o, struct kiln_seed *ret)
{
        static char vfat[] = "vfat", iso9660[] = "iso9660";
        char *seed_types[] = { vfat, iso9660, NULL };
        const char *root = root_of(o);
        struct dirent **ents = NULL;
        char path[512];
        int n, found = 0;

        snprintf(path, sizeof(path), "%s/sys/class/block", root);
        n = scandir(path, &ents, NULL, alphasort);
        if (n < 0)
                return kiln_errorf(-errno, "cannot list block devices in '%s': %s", path, strerror(errno));
        for (int i = 0; i < n; i++) {
                const char *name = ents[i]->d_name, *label = NULL, *type = NULL;
                char size[32], rel[300];
                blkid_probe pr;

                if (found || name[0] == '.' || !strncmp(name, "ram", 3))
                        continue;
                snprintf(rel, sizeof(rel), "/sys/class/block/%s/size", name);
                read_attr(root, rel, size, sizeof(size));
                if (!strcmp(size, "0"))
                        continue; /* an empty loop device or CD drive */
                snprintf(path, sizeof(path), "%s/dev/%s", root, name);
                pr = blkid_new_probe_from_filename(path);
                if (!pr)
                        continue;
                blkid_probe_enable_superblocks(pr, 1);
                blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_TYPE);
                blkid_probe_filter_superblocks_type(pr, BLKID_FLTR_ONLYIN, seed_types);
                if (blkid_do_safeprobe(pr) == 0 && blkid_probe_lookup_value(pr, "LABEL", &label, NULL) == 0 &&
                    blkid_probe_lookup_value(pr, "TYPE", &type, NULL) == 0 &&
                    (!strcmp(label, "cidata") || !strcmp(label, "CIDATA"))) {
                        snprintf(ret->device, sizeof(ret->device), "/dev/%s", name);
                        snprintf(ret->label, sizeof(ret->label), "%s", label);
                        snprintf(ret->fstype, sizeof(ret->fstype), "%s", type);
                        found = 1;
                }
                blkid_free_probe(pr);
        }
        for (int i = 0; i < n; i++)
                free(ents[i]);
        free(ents);
        return found;
}

static bool dmi_says_ec2(const char *root, char *why, size_t size)
{
        static const char *const vendors[] = { "sys_vendor", "board_vendor", "bios_vendor" };
        char rel[64], v[256];

        for (size_t i = 0; i < ARRAY_SIZE(vendors); i++) {
                snprintf(rel, sizeof(rel), "/sys/class/dmi/id/%s", vendors[i]);
                read_attr(root, rel, v, sizeof(v));
                if (!strcmp(v, "Amazon EC2")) {
                        snprintf(why, size, "DMI %s is 'Amazon EC2'", vendors[i]);
                        return true;
                }
        }
        /* Xen instances: the UUID begins with ec2 (EC2 upper case on some). */
        read_attr(root, "/sys/class/dmi/id/product_uuid", v, sizeof(v));
        if (!strncasecmp(v, "ec2", 3)) {
                snprintf(why, size, "DMI product_uuid '%.40s' begins with ec2", v);
                return true;
        }
        return false;
}

int kiln_ds_detect_at(const struct kiln_ds_opts *o, const char *choice, enum kiln_ds_kind *ret, char *reason,
                      size_t reasonlen)
{
        struct kiln_seed seed;
        char why[256];
        int r;

        if (choice && *choice && strcasecmp(choice, "auto")) {
                enum kiln_ds_kind k;

                if (!strcasecmp(choice, "ec2"))
                        k = KILN_DSK_EC2;
                else if (!strcasecmp(choice, "nocloud"))
                        k = KILN_DSK_NOCLOUD;
                else if (!strcasecmp(choice, "none"))
                        k = KILN_DSK_NONE;
                else
                        return kiln_errorf(-EINVAL, "unknown datasource '%.40s' (auto, ec2, nocloud or none)",
                                           choice);
                snprintf(reason, reasonlen, "kiln.ds=%s on the kernel command line", kiln_ds_kind_to_string(k));
                *ret = k;
                return 0;
        }
        r = kiln_ds_seed_find(o, &seed);
        if (r > 0) {
                snprintf(reason, reasonlen, "seed volume %s labelled '%s' (%s)", seed.device, seed.label,
                         seed.fstype);
                *ret = KILN_DSK_NOCLOUD;
                return 0;
        }
        if (dmi_says_ec2(root_of(o), why, sizeof(why))) {
                snprintf(reason, reasonlen, "%s", why);
                *ret = KILN_DSK_EC2;
                return 0;
        }
        snprintf(reason, reasonlen, "no seed volume labelled cidata%s, and DMI does not say Amazon EC2",
                 r < 0 ? " (block devices unreadable)" : "");
        *ret = KILN_DSK_NONE;
        return 0;
}

int kiln_ds_detect(const char *cmdline_choice, enum kiln_ds_kind *ret, char *reason, size_t reasonlen)
{
        return kiln_ds_detect_at(NULL, cmdline_choice, ret, reason, reasonlen);
}

/* --- NoCloud -------------------------------------------------------------- */

static int read_seed_file(const char *dir, const char *name, const char *source, size_t max, bool required,
                          uint8_t **ret, size_t *ret_len)
{
        char path[4096];
        int r;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        r = read_full_file(path, max, ret, ret_len);
        if (r == -ENOENT && !required)
                return 0;
        if (r == -ENOENT)
                return kiln_errorf(r, "seed '%s': no %s (a NoCloud seed needs user-data and meta-data)", source,
                                   name);
        if (r == -EFBIG)
                return kiln_errorf(r, "seed '%s': %s is larger than %zu bytes", source, name, max);
        if (r < 0)
                return kiln_errorf(r, "seed '%s': cannot read %s: %s", source, name, strerror(-r));
        return 1;
}

int kiln_ds_nocloud_read_dir(const struct kiln_ds_opts *o, const char *dir, const char *source,
                             struct kiln_instance *ret)
{
        struct kiln_instance in = { 0 };
        _cleanup_free_ uint8_t *meta = NULL;
        size_t meta_len = 0;
        int r;

        r = read_seed_file(dir, "meta-data", source, KILN_META_MAX_BYTES, true, &meta, &meta_len);
        if (r < 0)
                return r;
        r = read_seed_file(dir, "user-data", source, KILN_DS_MAX_USER_DATA, true, &in.user_data,
                           &in.user_data_len);
        if (r < 0)
                goto fail;
        r = read_seed_file(dir, "vendor-data", source, KILN_DS_MAX_USER_DATA, false, &in.vendor_data,
                           &in.vendor_data_len);
        if (r < 0)
                goto fail;
        r = kiln_nocloud_metadata_parse(&in, meta, meta_len);
        if (r < 0) {
                kiln_error_prefix(r, "seed '%s'", source);
                goto fail;
        }
        /* Parsed and applied by kiln-init's network pass, which knows the root. */
        r = read_seed_file(dir, "network-config", source, KILN_NETCFG_MAX_BYTES, false, &in.network_config,
                           &in.network_config_len);
        if (r < 0)
                goto fail;
        if (!in.instance_id) {
                ds_log(o, "datasource nocloud: meta-data has no instance-id, using 'nocloud' as cloud-init does");
                in.instance_id = strdup("nocloud");
        }
        in.datasource = strdup("nocloud");
        in.source = strdup(source);
        if (!in.instance_id || !in.datasource || !in.source) {
                r = kiln_errorf(-ENOMEM, "out of memory");
                goto fail;
        }
        *ret = in;
        return 0;
fail:
        kiln_instance_free(&in);
        return r;
}

static int mkdir_p(const char *path)
{
        char buf[4096];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = 0;
                if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int kiln_ds_nocloud(const struct kiln_ds_opts *o, struct kiln_instance *ret)
{
        const char *mnt = o && o->seed_mount ? o->seed_mount : KILN_DS_SEED_MOUNT;
        const char *types[2];
        struct kiln_seed seed;
        char dev[512], source[300];
        int r, err = 0;

        r = kiln_ds_seed_find(o, &seed);
        if (r < 0)
                return r;
        if (r == 0)
                return kiln_errorf(-ENOENT, "no seed volume labelled cidata or CIDATA (vfat or iso9660)");
        snprintf(dev, sizeof(dev), "%s%s", root_of(o), seed.device);
        snprintf(source, sizeof(source), "%s (%s, %s)", seed.device, seed.label, seed.fstype);
        r = mkdir_p(mnt);
        if (r < 0)
                return kiln_errorf(r, "cannot make the seed mount point '%s': %s", mnt, strerror(-r));
        types[0] = seed.fstype;
        types[1] = strcmp(seed.fstype, "vfat") ? "vfat" : "iso9660";
        for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
                if (mount(dev, mnt, types[i], MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) == 0) {
                        err = 0;
                        break;
                }
                if (i == 0)
                        err = errno;
        }
        if (err)
                return kiln_errorf(-err, "cannot mount seed '%s' read-only on '%s': %s", source, mnt, strerror(err));
        ds_log(o, "datasource nocloud: %s", source);
        r = kiln_ds_nocloud_read_dir(o, mnt, source, ret);
        if (umount2(mnt, 0) < 0 && umount2(mnt, MNT_DETACH) < 0)
                ds_log(o, "datasource nocloud: cannot unmount '%s': %s", mnt, strerror(errno));
        return r;
}

/* --- EC2 ------------------------------------------------------------------ */

struct imds {
        const struct kiln_ds_opts *o;
        const char *host;
        uint16_t port;
        uint64_t deadline;
        char token[MAX_TOKEN + 1];
        bool v1;
};

static bool retryable(int err)
{
        return err == -ECONNREFUSED || err == -ETIMEDOUT || err == -EHOSTUNREACH || err == -ENETUNREACH ||
               err == -ECONNRESET || err == -EPROTO || err == -EPIPE || err == -ECONNABORTED ||
               err == -ENETDOWN;
}

/* Sleep before the next attempt, or say the deadline passed. */
static int backoff(struct imds *m, unsigned *delay_ms)
{
        uint64_t now = now_ms();
        struct timespec ts;

        if (now + *delay_ms >= m->deadline)
                return -ETIMEDOUT;
        ts.tv_sec = *delay_ms / 1000;
        ts.tv_nsec = (long)(*delay_ms % 1000) * 1000000;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        *delay_ms = MIN(*delay_ms * 2, 4000u);
        return 0;
}

/* One request, retried on connection errors, 429 and 5xx until the deadline. */
static int imds_call(struct imds *m, const char *method, const char *path, const char *const *headers, size_t max,
                     int *ret_status, uint8_t **ret_body, size_t *ret_len)
{
        unsigned delay = 250;
        char last[300] = "";

        for (;;) {
                uint64_t now = now_ms();
                unsigned t = (unsigned)MIN(m->deadline > now ? m->deadline - now : 0, (uint64_t)REQUEST_TIMEOUT_MS);
                int status = 0, r;

                if (t == 0)
                        r = -ETIMEDOUT;
                else
                        r = kiln_http_request(method, m->host, m->port, path, headers, t, max, &status, ret_body,
                                              ret_len);
                if (r < 0 && !retryable(r))
                        return r;
                if (r >= 0 && status != 429 && status < 500) {
                        *ret_status = status;
                        return 0;
                }
                if (r >= 0) {
                        free(*ret_body);
                        *ret_body = NULL;
                        snprintf(last, sizeof(last), "http://%s:%u%s: HTTP %d", m->host, m->port, path, status);
                } else {
                        snprintf(last, sizeof(last), "%s", kiln_last_error());
                }
                if (backoff(m, &delay) < 0)
                        return kiln_errorf(r < 0 ? r : -ETIMEDOUT, "imds: gave up at the deadline: %s", last);
        }
}

static int imds_get_token(struct imds *m)
{
        static const char *const hdr[] = { "X-aws-ec2-metadata-token-ttl-seconds: " TOKEN_TTL, NULL };
        _cleanup_free_ uint8_t *body = NULL;
        size_t len;
        int status, r;

        r = imds_call(m, "PUT", "/latest/api/token", hdr, MAX_TOKEN, &status, &body, &len);
        if (r == -EFBIG)
                return kiln_errorf(-EBADMSG, "imds: the token is longer than %d bytes", MAX_TOKEN);
        if (r < 0)
                return r;
        if (status == 200) {
                while (len && (body[len - 1] == '\n' || body[len - 1] == '\r'))
                        len--;
                if (len == 0)
                        return kiln_errorf(-EBADMSG, "imds: empty token");
                for (size_t i = 0; i < len; i++)
                        if (body[i] <= 0x20 || body[i] >= 0x7f)
                                return kiln_errorf(-EBADMSG, "imds: the token holds byte 0x%02x", body[i]);
                memcpy(m->token, body, len);
                m->token[len] = 0;
                m->v1 = false;
                return 0;
        }
        if (status == 403)
                return kiln_errorf(-EACCES, "imds refused a token (HTTP 403): instance metadata is disabled");
        if (m->o->imds_v1) {
                ds_log(m->o, "datasource ec2: no IMDSv2 token (HTTP %d), using IMDSv1 as allowed", status);
                m->v1 = true;
                m->token[0] = 0;
                return 0;
        }
        return kiln_errorf(-EOPNOTSUPP, "imds gave no IMDSv2 token (HTTP %d) and IMDSv1 is not allowed", status);
}

/* GET a path: 0 with the body, -ENOENT on 404. */
static int imds_get(struct imds *m, const char *path, size_t max, uint8_t **ret_body, size_t *ret_len)
{
        char hdr[MAX_TOKEN + 64];
        const char *hdrs[] = { hdr, NULL };
        unsigned refreshed = 0;

        for (;;) {
                uint8_t *body = NULL;
                size_t len;
                int status, r;

                snprintf(hdr, sizeof(hdr), "X-aws-ec2-metadata-token: %s", m->token);
                r = imds_call(m, "GET", path, m->v1 ? NULL : hdrs, max, &status, &body, &len);
                if (r == -EFBIG)
                        return kiln_errorf(r, "imds: %s is larger than %zu bytes", path, max);
                if (r < 0)
                        return r;
                if (status == 200) {
                        *ret_body = body;
                        *ret_len = len;
                        return 0;
                }
                free(body);
                if (status == 404)
                        return -ENOENT;
                if (status == 401 && !m->v1 && refreshed++ < 2) {
                        ds_log(m->o, "datasource ec2: token refused for %s, fetching a new one", path);
                        r = imds_get_token(m);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (status == 401 || status == 403)
                        return kiln_errorf(-EACCES, "imds refused %s (HTTP %d)", path, status);
                return kiln_errorf(-EPROTO, "imds: unexpected HTTP %d for %s", status, path);
        }
}

/* A one-line text answer, trimmed and checked; NULL on 404 when optional. */
static int imds_text(struct imds *m, const char *path, bool required, char **ret)
{
        _cleanup_free_ uint8_t *body = NULL;
        size_t len;
        int r;

        r = imds_get(m, path, MAX_META_VALUE, &body, &len);
        if (r == -ENOENT && !required) {
                *ret = NULL;
                return 0;
        }
        if (r == -ENOENT)
                return kiln_errorf(r, "imds has no %s (HTTP 404)", path);
        if (r < 0)
                return r;
        while (len && (body[len - 1] == '\n' || body[len - 1] == '\r' || body[len - 1] == ' '))
                len--;
        for (size_t i = 0; i < len; i++)
                if (body[i] < 0x20 || body[i] == 0x7f)
                        return kiln_errorf(-EBADMSG, "imds: %s holds a control character (byte %zu)", path, i);
        if (len > 255)
                return kiln_errorf(-EBADMSG, "imds: %s is longer than 255 bytes", path);
        body[len] = 0;
        *ret = (char *)TAKE_PTR(body);
        return 0;
}

/* Calls fn for each non-empty line of a listing. */
static int each_line(const uint8_t *buf, size_t len, int (*fn)(struct imds *, struct kiln_instance *, const char *),
                     struct imds *m, struct kiln_instance *in)
{
        const char *s = (const char *)buf, *end = s + len;

        while (s < end) {
                const char *nl = memchr(s, '\n', (size_t)(end - s)), *e = nl ? nl : end;
                char line[256];
                int r;

                while (e > s && (e[-1] == '\r' || e[-1] == ' '))
                        e--;
                if (e > s) {
                        if ((size_t)(e - s) >= sizeof(line))
                                return kiln_errorf(-EBADMSG, "imds: a listing line is longer than 255 bytes");
                        memcpy(line, s, (size_t)(e - s));
                        line[e - s] = 0;
                        r = fn(m, in, line);
                        if (r < 0)
                                return r;
                }
                s = nl ? nl + 1 : end;
        }
        return 0;
}

static int add_public_key(struct imds *m, struct kiln_instance *in, const char *line)
{
        _cleanup_free_ uint8_t *body = NULL;
        char path[300];
        size_t idx_len = strspn(line, "0123456789"), len;
        int r;

        /* "0=my-key" */
        if (idx_len == 0 || idx_len > 6 || (line[idx_len] != '=' && line[idx_len] != 0))
                return kiln_errorf(-EBADMSG, "imds: public-keys/ lists '%.60s', not INDEX=NAME", line);
        snprintf(path, sizeof(path), "/latest/meta-data/public-keys/%.*s/openssh-key", (int)idx_len, line);
        r = imds_get(m, path, MAX_KEY_BYTES, &body, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (char *s = (char *)body, *e; *s; s = e) {
                e = s + strcspn(s, "\n");
                char *b = s, *t = e;
                if (*e)
                        e++;
                while (b < t && (*b == ' ' || *b == '\t'))
                        b++;
                while (t > b && (t[-1] == ' ' || t[-1] == '\r' || t[-1] == '\t'))
                        t--;
                if (t == b || *b == '#')
                        continue;
                if (kiln_instance_count(in->public_keys) >= KILN_META_MAX_KEYS)
                        return kiln_errorf(-EBADMSG, "imds: more than %d public keys", KILN_META_MAX_KEYS);
                r = kiln_instance_push(&in->public_keys, b, (size_t)(t - b));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int add_block_device(struct imds *m, struct kiln_instance *in, const char *name)
{
        _cleanup_free_ char *dev = NULL;
        char path[300], pair[600];
        int r;

        if (name[strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_")] != 0)
                return kiln_errorf(-EBADMSG, "imds: block-device-mapping/ lists '%.60s'", name);
        if (kiln_instance_count(in->block_devices) >= MAX_BDM)
                return kiln_errorf(-EBADMSG, "imds: more than %d block device mappings", MAX_BDM);
        snprintf(path, sizeof(path), "/latest/meta-data/block-device-mapping/%s", name);
        r = imds_text(m, path, false, &dev);
        if (r < 0 || !dev)
                return r;
        snprintf(pair, sizeof(pair), "%s=%s", name, dev);
        return kiln_instance_push(&in->block_devices, pair, strlen(pair));
}

/* "0a:1b:2c:3d:4e:5f/" from network/interfaces/macs/: device-number,
 * local-ipv4s, subnet-ipv4-cidr-block, ipv6s (each optional, as EC2 omits
 * what a NIC does not have). */
static int add_nic(struct imds *m, struct kiln_instance *in, const char *line)
{
        char mac[32], path[160];
        _cleanup_free_ char *num = NULL;
        _cleanup_free_ uint8_t *body = NULL;
        size_t len;
        int r;

        if (strlen(line) > 18 || snprintf(mac, sizeof(mac), "%s", line) < 0)
                return kiln_errorf(-EBADMSG, "imds: network/interfaces/macs/ lists '%.60s', not a MAC", line);
        mac[strcspn(mac, "/")] = 0;
        if (!kiln_net_mac_normalize(mac))
                return kiln_errorf(-EBADMSG, "imds: network/interfaces/macs/ lists '%.60s', not a MAC", line);
        if (in->n_nics >= KILN_INSTANCE_MAX_NICS)
                return kiln_errorf(-EBADMSG, "imds: more than %d network interfaces", KILN_INSTANCE_MAX_NICS);
        struct kiln_instance_nic *v = realloc(in->nics, (in->n_nics + 1) * sizeof(*v));
        if (!v)
                return kiln_errorf(-ENOMEM, "out of memory");
        in->nics = v;
        struct kiln_instance_nic *nic = &in->nics[in->n_nics++];
        *nic = (struct kiln_instance_nic){ .device_number = -1, .mac = strdup(mac) };
        if (!nic->mac)
                return kiln_errorf(-ENOMEM, "out of memory");

        snprintf(path, sizeof(path), "/latest/meta-data/network/interfaces/macs/%s/device-number", mac);
        r = imds_text(m, path, false, &num);
        if (r < 0)
                return r;
        if (num) {
                char *end;
                long n = strtol(num, &end, 10);
                if (end == num || *end || n < 0 || n > 255)
                        return kiln_errorf(-EBADMSG, "imds: %s is '%.20s', not a number", path, num);
                nic->device_number = (int)n;
        }
        snprintf(path, sizeof(path), "/latest/meta-data/network/interfaces/macs/%s/subnet-ipv4-cidr-block", mac);
        r = imds_text(m, path, false, &nic->subnet_ipv4_cidr);
        if (r < 0)
                return r;
        static const char *const lists[] = { "local-ipv4s", "ipv6s" };
        for (size_t k = 0; k < ARRAY_SIZE(lists); k++) {
                char ***to = k == 0 ? &nic->local_ipv4s : &nic->ipv6s;
                snprintf(path, sizeof(path), "/latest/meta-data/network/interfaces/macs/%s/%s", mac, lists[k]);
                r = imds_get(m, path, MAX_LIST_BYTES, &body, &len);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                for (const char *s = (const char *)body, *end = s + len; s < end;) {
                        const char *nl = memchr(s, '\n', (size_t)(end - s)), *e = nl ? nl : end;
                        while (e > s && (e[-1] == '\r' || e[-1] == ' '))
                                e--;
                        if (e > s && kiln_instance_count(*to) < 64 && (r = kiln_instance_push(to, s, (size_t)(e - s))) < 0)
                                return r;
                        s = nl ? nl + 1 : end;
                }
                free(TAKE_PTR(body));
        }
        return 0;
}

static int nic_cmp(const void *a, const void *b)
{
        const struct kiln_instance_nic *x = a, *y = b;
        /* By device-number; those without one last, by MAC. */
        unsigned dx = (unsigned)x->device_number, dy = (unsigned)y->device_number;
        return dx != dy ? (dx < dy ? -1 : 1) : strcmp(x->mac, y->mac);
}

static int ec2_fetch(struct imds *m, struct kiln_instance *in)
{
        _cleanup_free_ uint8_t *list = NULL;
        size_t len;
        int r;

        r = imds_get_token(m);
        if (r < 0)
                return r;
        r = imds_text(m, "/latest/meta-data/instance-id", true, &in->instance_id);
        if (r < 0)
                return r;
        if (!kiln_instance_id_valid(in->instance_id))
                return kiln_errorf(-EBADMSG, "imds: instance-id '%.64s' is not an instance id (" KILN_INSTANCE_ID_RULE ")",
                                   in->instance_id);
        r = imds_text(m, "/latest/meta-data/local-hostname", false, &in->local_hostname);
        if (r >= 0)
                r = imds_text(m, "/latest/meta-data/instance-type", false, &in->instance_type);
        if (r >= 0)
                r = imds_text(m, "/latest/meta-data/placement/availability-zone", false, &in->availability_zone);
        if (r < 0)
                return r;
        if (in->availability_zone) {
                size_t n = strlen(in->availability_zone);

                /* us-east-1a -> us-east-1 */
                if (n > 1 && in->availability_zone[n - 1] >= 'a' && in->availability_zone[n - 1] <= 'z')
                        n--;
                in->region = strndup(in->availability_zone, n);
                if (!in->region)
                        return kiln_errorf(-ENOMEM, "out of memory");
        }

        r = imds_get(m, "/latest/meta-data/public-keys/", MAX_LIST_BYTES, &list, &len);
        if (r >= 0)
                r = each_line(list, len, add_public_key, m, in);
        if (r < 0 && r != -ENOENT)
                return r;
        free(TAKE_PTR(list));

        r = imds_get(m, "/latest/meta-data/block-device-mapping/", MAX_LIST_BYTES, &list, &len);
        if (r >= 0)
                r = each_line(list, len, add_block_device, m, in);
        if (r < 0 && r != -ENOENT)
                return r;
        free(TAKE_PTR(list));

        /* The NICs: what kiln-init renders the network configuration from. */
        r = imds_get(m, "/latest/meta-data/network/interfaces/macs/", MAX_LIST_BYTES, &list, &len);
        if (r >= 0)
                r = each_line(list, len, add_nic, m, in);
        if (r < 0 && r != -ENOENT)
                return r;
        if (in->n_nics > 1)
                qsort(in->nics, in->n_nics, sizeof(*in->nics), nic_cmp);

        r = imds_get(m, "/latest/user-data", KILN_DS_MAX_USER_DATA, &in->user_data, &in->user_data_len);
        if (r == -ENOENT) {
                in->user_data = NULL;
                in->user_data_len = 0;
                r = 0;
        }
        return r;
}

int kiln_ds_ec2(const struct kiln_ds_opts *o, struct kiln_instance *ret)
{
        static const struct kiln_ds_opts defaults = { 0 };
        struct imds m = { .o = o ? o : &defaults };
        struct kiln_instance in = { 0 };
        struct kiln_net net = { 0 };
        struct in_addr host;
        char source[80];
        int r;

        o = m.o;
        m.host = o->imds_host ? o->imds_host : KILN_DS_IMDS_HOST;
        m.port = o->imds_port ? o->imds_port : KILN_DS_IMDS_PORT;
        m.deadline = now_ms() + (o->timeout_ms ? o->timeout_ms : KILN_DS_EC2_TIMEOUT_MS);
        if (inet_pton(AF_INET, m.host, &host) != 1)
                return kiln_errorf(-EINVAL, "imds address '%s' is not an IPv4 address", m.host);
        if (!o->no_network) {
                uint64_t now = now_ms();

                r = kiln_net_up(o->root, o->ifname, host.s_addr, (unsigned)(m.deadline - now), o->log, o->log_ud,
                                &net);
                if (r < 0)
                        return kiln_error_prefix(r, "datasource ec2");
        }
        r = ec2_fetch(&m, &in);
        if (r >= 0) {
                snprintf(source, sizeof(source), "http://%s%s%.0u (%s)", m.host, m.port != 80 ? ":" : "",
                         m.port != 80 ? m.port : 0, m.v1 ? "IMDSv1" : "IMDSv2");
                in.datasource = strdup("ec2");
                in.source = strdup(source);
                if (!in.datasource || !in.source)
                        r = kiln_errorf(-ENOMEM, "out of memory");
        }
        /* The lease's name servers, for a resolv.conf nothing else writes. */
        for (unsigned i = 0; r >= 0 && !o->no_network && i < net.lease.n_dns; i++) {
                char a[INET_ADDRSTRLEN];
                struct in_addr ia = { .s_addr = net.lease.dns[i] };
                if (inet_ntop(AF_INET, &ia, a, sizeof(a)))
                        r = kiln_instance_push(&in.dns_servers, a, strlen(a));
        }
        if (r >= 0 && !o->no_network && net.lease.domain[0] && !(in.dns_domain = strdup(net.lease.domain)))
                r = kiln_errorf(-ENOMEM, "out of memory");
        if (!o->no_network) {
                /* Keep the first error's message: teardown only logs its own. */
                _cleanup_free_ char *msg = r < 0 ? strdup(kiln_last_error()) : NULL;

                if (kiln_net_down(&net) < 0)
                        ds_log(o, "datasource ec2: %s", kiln_last_error());
                if (msg)
                        kiln_errorf(r, "%s", msg);
        }
        if (r < 0) {
                kiln_instance_free(&in);
                return kiln_error_prefix(r, "datasource ec2");
        }
        ds_log(o, "datasource ec2: %s, instance %s", in.source, in.instance_id);
        *ret = in;
        return 0;
}
