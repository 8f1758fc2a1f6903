/* SPDX-License-Identifier: MIT */
/*
 * `kiln seed`: a NoCloud seed volume, as cloud-localds makes one.
 *
 * An unpartitioned FAT volume labelled CIDATA holding user-data, meta-data
 * and, when given, vendor-data and network-config, written by kiln's FAT
 * writer (builder/fat.h) at the smallest size FAT allows for them (1 MiB of
 * FAT12 for a few small files).  Attached to a guest as a second disk, it
 * is found by cloud-init's NoCloud datasource and by kiln-init's.
 *
 * meta-data is the given file, byte for byte, or is generated:
 *
 *     instance-id: iid-<16 hex digits>
 *     local-hostname: HOST            (only with --hostname)
 *
 * The generated instance id (unless --instance-id names one) is derived
 * from the contents: a SHA-256 over user-data, vendor-data, network-config
 * and the host name.  The same inputs give the same id, so rebuilding a
 * seed does not make the guest a new instance; changed user data gives a
 * new id, so the guest applies it (cloud-init and kiln-init apply user data
 * once per instance id).  Volume serial number and file times follow the
 * same rule (SOURCE_DATE_EPOCH, else the current time, for the times), so
 * with SOURCE_DATE_EPOCH the output is reproducible.
 *
 * The volume goes to a temporary name in the output's folder and is renamed
 * into place when complete; a failure or a signal leaves nothing behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "disk.h"
#include "fat.h"
#include "instance.h"
#include "userdata.h"
#include "util.h"

/* A seed file larger than what kiln-init reads from a datasource would be
 * useless to it; cloud-init's own limits are no larger in practice. */
#define SEED_MAX_FILE KILN_UD_MAX_BYTES
#define SEED_LABEL "CIDATA"
#define HOSTNAME_MAX 253


static void usage_seed(FILE *f)
{
        fputs("usage: kiln seed --user-data FILE [--meta-data FILE] [--vendor-data FILE]\n"
              "                 [--network-config FILE] [--instance-id ID] [--hostname NAME]\n"
              "                 -o|--output SEED.img [-q|--quiet]\n"
              "writes a NoCloud seed volume (FAT, label CIDATA) for cloud-init or kiln-init\n",
              f);
}

/* One file of the volume. */
struct seed_file {
        const char *name;    /* on the volume */
        const char *option;  /* where it came from, for messages */
        const char *path;    /* NULL: not given */
        uint8_t *data;
        size_t len;
};

static int load(struct seed_file *sf)
{
        int r;

        if (!sf->path)
                return 0;
        r = read_full_file(sf->path, SEED_MAX_FILE, &sf->data, &sf->len);
        if (r == -EFBIG)
                kiln_fail("cannot read %s '%s': larger than %u MiB, the most a datasource reads", sf->option,
                          sf->path, SEED_MAX_FILE >> 20);
        else if (r == -EINVAL)
                kiln_fail("cannot read %s '%s': not a regular file", sf->option, sf->path);
        else if (r < 0)
                kiln_fail("cannot read %s '%s': %s", sf->option, sf->path, strerror(-r));
        return r;
}

/* An instance id is checked with the guest's own rule,
 * kiln_instance_id_valid() (instance.h): what the seed carries, the guest
 * takes.  In a message, a byte that would break the line shows as '?'. */
static const char *shown_id(const char *s, char buf[80])
{
        size_t i;

        for (i = 0; s[i] && i < 79; i++)
                buf[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f ? '?' : s[i];
        buf[i] = 0;
        return buf;
}

/* A host name as RFC 1123 has it: dot-separated labels of 1..63 letters,
 * digits and inner hyphens, at most 253 characters. */
static bool hostname_ok(const char *s)
{
        size_t n = strlen(s), label = 0;

        if (n == 0 || n > HOSTNAME_MAX)
                return false;
        for (size_t i = 0; i <= n; i++) {
                char c = s[i];
                if (c == '.' || c == 0) {
                        if (label == 0 || label > 63 || s[i - 1] == '-')
                                return false;
                        label = 0;
                        continue;
                }
                bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && !(c == '-' && label > 0))
                        return false;
                label++;
        }
        return true;
}

/* A value the validators above passed is a YAML plain scalar, but one that
 * starts with a digit or reads as a boolean or null ("12", "1.5", "no")
 * would not come back as the same string: quote those. */
static bool needs_quotes(const char *s)
{
        static const char *const words[] = { "y", "n", "yes", "no", "true", "false", "on", "off", "null" };

        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
                return true;
        for (size_t i = 0; i < ARRAY_SIZE(words); i++)
                if (!strcasecmp(s, words[i]))
                        return true;
        return false;
}

/* A valid instance id as a YAML scalar: plain when it is letters, digits
 * and . _ - and reads back as a string, else single-quoted ('' for ').
 * malloc'd. */
static char *yaml_instance_id(const char *id)
{
        size_t n = strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
        char *out, *o;

        if (!id[n] && !needs_quotes(id))
                return strdup(id);
        out = malloc(2 * strlen(id) + 3);
        if (!out)
                return NULL;
        o = out;
        *o++ = '\'';
        for (const char *p = id; *p; p++) {
                if (*p == '\'')
                        *o++ = '\'';
                *o++ = *p;
        }
        *o++ = '\'';
        *o = 0;
        return out;
}

/* The content-derived instance id (see the top of this file). */
static void derive_instance_id(const struct seed_file *files, size_t n, const char *hostname, char ret[64])
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0, cap = 64 + (hostname ? strlen(hostname) : 0);
        uint8_t id[16];

        for (size_t i = 0; i < n; i++)
                cap += strlen(files[i].name) + 1 + 8 + files[i].len;
        buf = malloc(cap);
        if (buf) {
                /* name, NUL, 64-bit length, bytes: no two inputs give the same stream */
                for (size_t i = 0; i < n; i++) {
                        size_t nl = strlen(files[i].name) + 1;
                        memcpy(buf + len, files[i].name, nl);
                        len += nl;
                        put_le64(buf + len, files[i].data ? files[i].len : UINT64_MAX);
                        len += 8;
                        if (files[i].len)
                                memcpy(buf + len, files[i].data, files[i].len);
                        len += files[i].len;
                }
                if (hostname) {
                        memcpy(buf + len, hostname, strlen(hostname));
                        len += strlen(hostname);
                }
                derive_uuid(buf, len, "nocloud-instance-id", id);
        } else {
                random_uuid(id);
        }
        snprintf(ret, 64, "iid-%02x%02x%02x%02x%02x%02x%02x%02x", id[0], id[1], id[2], id[3], id[8], id[9], id[10],
                 id[11]);
}

/* The temporary a signal handler removes (unlink is async-signal-safe). */
static char *volatile live_temp;

static void on_signal(int sig)
{
        if (live_temp)
                unlink(live_temp);
        signal(sig, SIG_DFL);
        raise(sig);
}

static int open_temp(const char *output, char **ret_path, int *ret_fd)
{
        _cleanup_free_ char *d1 = strdup(output), *d2 = strdup(output);
        char *path;
        int fd;

        if (!d1 || !d2 || asprintf(&path, "%s/.%s.kiln-XXXXXX", dirname(d1), basename(d2)) < 0)
                return -ENOMEM;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                free(path);
                return r;
        }
        mode_t um = umask(0);
        umask(um);
        if (fchmod(fd, 0666 & ~um) < 0) {
                int r = -errno;
                close(fd);
                unlink(path);
                free(path);
                return r;
        }
        *ret_path = path;
        *ret_fd = fd;
        return 0;
}

static int parse_epoch(time_t *ret)
{
        const char *e = getenv("SOURCE_DATE_EPOCH");
        char *end;

        if (!e || !*e) {
                *ret = time(NULL);
                return 0;
        }
        errno = 0;
        long long v = strtoll(e, &end, 10);
        if (errno || *end || v < 0) {
                kiln_fail("SOURCE_DATE_EPOCH='%s' is not a number of seconds", e);
                return -EINVAL;
        }
        *ret = (time_t)v;
        return 0;
}

/* Build the volume in fat and write it to output through a temporary. */
static int write_seed(struct kiln_fat *fat, const struct kiln_fat_opts *fo, const char *output,
                      struct kiln_fat_result *res, uint64_t *ret_size)
{
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -1;
        struct kiln_disk *disk = NULL;
        uint64_t size;
        int r;

        r = kiln_fat_min_size(fat, 0, &size);
        if (r < 0) {
                kiln_fail("cannot write '%s': %s", output, kiln_last_error());
                return r;
        }
        r = open_temp(output, &tmp, &fd);
        if (r < 0) {
                kiln_fail("cannot create output '%s': %s", output, strerror(-r));
                return r;
        }
        live_temp = tmp;
        r = kiln_disk_new_file(fd, size, &disk);
        if (r < 0) {
                kiln_fail("cannot size output '%s': %s", output, strerror(-r));
                goto fail;
        }
        r = kiln_fat_write(fat, disk, fo, res);
        if (r < 0) {
                kiln_fail("cannot write '%s': %s", output, kiln_last_error());
                goto fail;
        }
        r = kiln_disk_flush(disk);
        if (r < 0) {
                kiln_fail("cannot write '%s': %s", output, strerror(-r));
                goto fail;
        }
        kiln_disk_free(disk);
        disk = NULL;
        if (close(TAKE_FD(fd)) < 0) {
                r = -errno;
                kiln_fail("cannot write '%s': %s", output, strerror(-r));
                goto fail;
        }
        if (rename(tmp, output) < 0) {
                r = -errno;
                kiln_fail("cannot rename into '%s': %s", output, strerror(-r));
                goto fail;
        }
        live_temp = NULL;
        *ret_size = size;
        return 0;
fail:
        kiln_disk_free(disk);
        unlink(tmp);
        live_temp = NULL;
        return r;
}

int cmd_seed(int argc, char **argv)
{
        enum { OPT_USER = 256, OPT_META, OPT_VENDOR, OPT_NETWORK, OPT_IID, OPT_HOST };
        static const struct option longopts[] = {
                { "user-data", required_argument, NULL, OPT_USER },
                { "meta-data", required_argument, NULL, OPT_META },
                { "vendor-data", required_argument, NULL, OPT_VENDOR },
                { "network-config", required_argument, NULL, OPT_NETWORK },
                { "instance-id", required_argument, NULL, OPT_IID },
                { "hostname", required_argument, NULL, OPT_HOST },
                { "output", required_argument, NULL, 'o' },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        /* The volume's files, in the order cloud-localds writes them. */
        struct seed_file files[] = {
                { .name = "user-data", .option = "--user-data" },
                { .name = "meta-data", .option = "--meta-data" },
                { .name = "vendor-data", .option = "--vendor-data" },
                { .name = "network-config", .option = "--network-config" },
        };
        struct seed_file *user = &files[0], *meta = &files[1];
        const char *output = NULL, *iid = NULL, *host = NULL;
        bool quiet = false;
        struct kiln_fat *fat = NULL;
        struct kiln_fat_opts fo = { .label = SEED_LABEL };
        struct kiln_fat_result res;
        char gen_iid[64];
        _cleanup_free_ char *gen_meta = NULL;
        uint64_t size = 0;
        uint8_t vid[16];
        int c, r = 1;

        optind = 1;
        while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
                switch (c) {
                case OPT_USER: files[0].path = optarg; break;
                case OPT_META: files[1].path = optarg; break;
                case OPT_VENDOR: files[2].path = optarg; break;
                case OPT_NETWORK: files[3].path = optarg; break;
                case OPT_IID: iid = optarg; break;
                case OPT_HOST: host = optarg; break;
                case 'o': output = optarg; break;
                case 'q': quiet = true; break;
                case 'h': usage_seed(stdout); return 0;
                default: usage_seed(stderr); return 2;
                }
        }
        if (optind < argc) {
                kiln_fail("seed takes no arguments, got '%s' (inputs are named by --user-data and friends)",
                          argv[optind]);
                return 2;
        }
        if (!user->path) {
                kiln_fail("seed needs --user-data FILE");
                return 2;
        }
        if (!output || !*output) {
                kiln_fail("seed needs -o|--output SEED.img");
                return 2;
        }
        if (meta->path && (iid || host)) {
                kiln_fail("--%s is for generated meta-data; put it in the --meta-data file '%s' instead",
                          iid ? "instance-id" : "hostname", meta->path);
                return 2;
        }
        if (iid && !kiln_instance_id_valid(iid)) {
                char b[80];
                kiln_fail("bad --instance-id '%s': not a valid instance id (" KILN_INSTANCE_ID_RULE ")",
                          shown_id(iid, b));
                return 2;
        }
        if (host && !hostname_ok(host)) {
                kiln_fail("bad --hostname '%s': dot-separated labels of letters, digits and inner hyphens "
                          "(at most 63 each, %d in all)",
                          host, HOSTNAME_MAX);
                return 2;
        }
        if (parse_epoch(&fo.mtime) < 0)
                return 2;

        for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                if (load(&files[i]) < 0)
                        goto out;
        /* A network-config the guest would refuse never reaches a seed. */
        if (files[3].data) {
                int k = kiln_network_config_check(files[3].path, files[3].data, files[3].len, quiet ? "" : NULL, false);
                if (k != 0)
                        goto out;
        }

        if (!meta->path) {
                if (!iid) {
                        derive_instance_id(files, ARRAY_SIZE(files), host, gen_iid);
                        iid = gen_iid;
                }
                _cleanup_free_ char *yid = yaml_instance_id(iid);
                const char *q2 = host && needs_quotes(host) ? "'" : "";
                int n = !yid ? -1
                        : host ? asprintf(&gen_meta, "instance-id: %s\nlocal-hostname: %s%s%s\n", yid, q2, host, q2)
                               : asprintf(&gen_meta, "instance-id: %s\n", yid);
                if (n < 0) {
                        gen_meta = NULL;
                        kiln_fail("cannot write '%s': out of memory", output);
                        goto out;
                }
                meta->data = (uint8_t *)TAKE_PTR(gen_meta);
                meta->len = (size_t)n;
        }
        /* The meta-data as the guest's NoCloud datasource parses it: one it
         * would refuse (an instance id it cannot use, say) never reaches a
         * seed, and generated meta-data reads back as what was asked. */
        {
                struct kiln_instance in = { 0 };
                kiln_clear_error();
                int k = kiln_nocloud_metadata_parse(&in, meta->data, meta->len);
                bool same = meta->path || (k >= 0 && in.instance_id && !strcmp(in.instance_id, iid) &&
                                           (!host || (in.local_hostname && !strcmp(in.local_hostname, host))));
                kiln_instance_free(&in);
                if (k < 0 && meta->path) {
                        kiln_fail("bad --meta-data '%s': %s", meta->path, kiln_last_error());
                        goto out;
                }
                if (!same) {
                        char b[80];
                        kiln_fail("cannot write '%s': the generated meta-data does not read back as instance-id '%s'",
                                  output, shown_id(iid, b));
                        goto out;
                }
        }

        r = kiln_fat_new(&fat);
        if (r < 0) {
                kiln_fail("cannot write '%s': %s", output, strerror(-r));
                r = 1;
                goto out;
        }
        for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                if (!files[i].data)
                        continue;
                r = kiln_fat_add_file(fat, files[i].name, files[i].data, files[i].len);
                if (r < 0) {
                        kiln_fail("cannot add %s to '%s': %s", files[i].name, output, kiln_last_error());
                        r = 1;
                        goto out;
                }
        }
        /* The serial number: from the contents too, like the instance id. */
        {
                char digest[64];
                derive_instance_id(files, ARRAY_SIZE(files), NULL, digest);
                derive_uuid(digest, strlen(digest), "nocloud-volume-id", vid);
                fo.volume_id = (uint32_t)vid[0] | (uint32_t)vid[1] << 8 | (uint32_t)vid[2] << 16 |
                               (uint32_t)vid[3] << 24;
        }

        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        r = write_seed(fat, &fo, output, &res, &size);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        if (r < 0) {
                r = 1;
                goto out;
        }
        if (!quiet) {
                char sz[32];
                format_size(size, sz, sizeof(sz));
                printf("%s: NoCloud seed, FAT%u label %s, %s\n", output, res.fat_bits, SEED_LABEL, sz);
                for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
                        if (!files[i].data)
                                continue;
                        printf("  %-15s %zu bytes", files[i].name, files[i].len);
                        if (files[i].path)
                                printf(" from '%s'", files[i].path);
                        else
                                printf(", generated: instance-id %s%s%s", iid, host ? ", local-hostname " : "",
                                       host ? host : "");
                        putchar('\n');
                }
        }
        r = 0;
out:
        kiln_fat_free(fat);
        for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                free(files[i].data);
        return r;
}
