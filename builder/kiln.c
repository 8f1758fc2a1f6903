/* SPDX-License-Identifier: MIT */
/* The `kiln` command: a thin front end over libkiln.  It alone prints. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "build.h"
#include "commands.h"
#include "metadata.h"
#include "spec.h"
#include "util.h"

static int verbosity = 1; /* 0 quiet, 1 normal, 2 verbose */

/* Every error is one line: control characters from names are shown escaped. */
void kiln_vprint_line(FILE *f, const char *prefix, const char *fmt, va_list ap)
{
        char msg[2048];

        vsnprintf(msg, sizeof(msg), fmt, ap);
        fputs(prefix, f);
        for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
                if (*p == '\n')
                        fputs("\\n", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\x%02x", *p);
                else
                        fputc(*p, f);
        }
        fputc('\n', f);
}

void kiln_fail(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        kiln_vprint_line(stderr, "kiln: ", fmt, ap);
        va_end(ap);
}

/* Ctrl-C or a kill: remove the build's temporaries, then die of the signal. */
static void on_signal(int sig)
{
        kiln_build_abort_cleanup();
        signal(sig, SIG_DFL);
        raise(sig);
}

static void usage_build(FILE *f)
{
        fputs("usage: kiln build [SPEC.yaml] [-r|--rootfs PATH] [-o|--output PATH] [-s|--size SIZE|auto]\n"
              "                  [-t|--partition-table gpt|mbr|none] [-b|--boot-mode legacy-bios|uefi|uefi-preferred]\n"
              "                  [--name NAME] [--label LABEL] [--fs-uuid UUID] [--digest] [-q|--quiet] [-v|--verbose]\n",
              f);
}

static void usage(FILE *f)
{
        fputs("usage: kiln <command> [options]\n\n"
              "commands:\n"
              "  build      turn a rootfs (folder or tarball) and a spec into a disk image\n"
              "  seed       write a NoCloud seed volume (CIDATA) with user data\n"
              "  imds       the instance metadata service of kiln run (serve, listen, write)\n"
              "  run        launch an image under QEMU like an EC2 instance\n"
              "  user-data  check user data the way an instance reads it (user-data check FILE)\n"
              "  version    print the version\n"
              "  help       this text\n\n"
              "'kiln <command> --help' shows a command's options; man kiln has them all.\n",
              f);
}

/* Paths in a spec are relative to the spec's folder. */
static char *spec_relative(const char *spec_path, const char *p)
{
        char *out;

        if (!p)
                return NULL;
        if (p[0] == '/' || !spec_path)
                return strdup(p);
        _cleanup_free_ char *d = strdup(spec_path);
        if (!d || asprintf(&out, "%s/%s", dirname(d), p) < 0)
                return NULL;
        return out;
}

/* kiln-init: $KILN_INIT, else beside the kiln binary (the build tree), else
 * where `make install` puts it (PREFIX/lib/kiln, found relative to PREFIX/bin). */
static const char *find_kiln_init(void)
{
        static char path[PATH_MAX];
        char exe[PATH_MAX];
        const char *env = getenv("KILN_INIT");
        ssize_t n;

        if (env && *env)
                return env;
        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0)
                return NULL;
        exe[n] = 0;
        char *dir = dirname(exe);
        snprintf(path, sizeof(path), "%s/kiln-init", dir);
        if (access(path, R_OK) == 0)
                return path;
        snprintf(path, sizeof(path), "%s/../lib/kiln/kiln-init", dir);
        if (access(path, R_OK) == 0)
                return path;
        return NULL;
}

struct seed {
        char *buf;
        size_t len;
};

static void seed_add(struct seed *s, const char *key, const void *val, size_t len)
{
        size_t klen = strlen(key);
        char *n = realloc(s->buf, s->len + klen + 1 + len + 1);

        if (!n)
                return;
        s->buf = n;
        memcpy(s->buf + s->len, key, klen + 1);
        memcpy(s->buf + s->len + klen + 1, val, len);
        s->buf[s->len + klen + 1 + len] = 0;
        s->len += klen + 1 + len + 1;
}

struct progress_state {
        struct timespec start, last, phase_start;
        const char *phase;
        bool shown, tty;
        char phases[512];
};

static double elapsed(const struct timespec *a, const struct timespec *b)
{
        return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void show_progress(void *ud, const char *phase, uint64_t files, uint64_t bytes)
{
        struct progress_state *p = ud;
        struct timespec now;
        char sz[32];

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (p->phase != phase) {
                /* Phase durations for -v: where a build spends its time. */
                if (p->phase) {
                        size_t l = strlen(p->phases);
                        snprintf(p->phases + l, sizeof(p->phases) - l, "%s%s %.2f s", l ? ", " : "", p->phase,
                                 elapsed(&p->phase_start, &now));
                }
                p->phase = phase;
                p->phase_start = now;
        }
        if (!p->tty || (p->shown && elapsed(&p->last, &now) < 0.1))
                return;
        p->last = now;
        p->shown = true;
        double secs = elapsed(&p->start, &now);
        format_size(bytes, sz, sizeof(sz));
        fprintf(stderr, "\r\033[K  %s: %" PRIu64 " files, %s", phase, files, sz);
        if (secs > 0.5 && bytes)
                fprintf(stderr, ", %.0f MiB/s", (double)bytes / 1048576.0 / secs);
        fflush(stderr);
}

static int parse_epoch(time_t *ret, bool *ret_set)
{
        const char *e = getenv("SOURCE_DATE_EPOCH");
        char *end;

        *ret_set = false;
        if (!e || !*e)
                return 0;
        errno = 0;
        long long v = strtoll(e, &end, 10);
        if (errno || *end || v < 0) {
                kiln_fail("SOURCE_DATE_EPOCH='%s' is not a number of seconds", e);
                return -EINVAL;
        }
        *ret = (time_t)v;
        *ret_set = true;
        return 0;
}

static int cmd_build(int argc, char **argv)
{
        enum { OPT_NAME = 256, OPT_LABEL, OPT_FS_UUID, OPT_DIGEST };
        bool opt_digest = false;
        const char *opt_boot = NULL;
        static const struct option longopts[] = {
                { "rootfs", required_argument, NULL, 'r' },
                { "output", required_argument, NULL, 'o' },
                { "size", required_argument, NULL, 's' },
                { "partition-table", required_argument, NULL, 't' },
                { "boot-mode", required_argument, NULL, 'b' },
                { "name", required_argument, NULL, OPT_NAME },
                { "label", required_argument, NULL, OPT_LABEL },
                { "fs-uuid", required_argument, NULL, OPT_FS_UUID },
                { "digest", no_argument, NULL, OPT_DIGEST },
                { "quiet", no_argument, NULL, 'q' },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *opt_rootfs = NULL, *opt_output = NULL, *opt_size = NULL, *opt_pt = NULL,
                   *opt_name = NULL, *opt_label = NULL, *opt_uuid = NULL;
        struct kiln_spec spec;
        struct kiln_build_opts bo = { 0 };
        struct kiln_build_result res;
        struct seed seed = { 0 };
        _cleanup_free_ char *rootfs = NULL, *output = NULL, *spec_buf = NULL;
        const char *spec_path = NULL;
        uint8_t uuid[16];
        int c, r;

        kiln_spec_init(&spec);
        while ((c = getopt_long(argc, argv, "r:o:s:t:b:qvh", longopts, NULL)) != -1) {
                switch (c) {
                case 'r': opt_rootfs = optarg; break;
                case 'o': opt_output = optarg; break;
                case 's': opt_size = optarg; break;
                case 't': opt_pt = optarg; break;
                case 'b': opt_boot = optarg; break;
                case OPT_NAME: opt_name = optarg; break;
                case OPT_LABEL: opt_label = optarg; break;
                case OPT_FS_UUID: opt_uuid = optarg; break;
                case OPT_DIGEST: opt_digest = true; break;
                case 'q': verbosity = 0; break;
                case 'v': verbosity = 2; break;
                case 'h': usage_build(stdout); return 0;
                default: usage_build(stderr); return 2;
                }
        }
        if (optind < argc - 1) {
                kiln_fail("build takes at most one spec file, got '%s' and '%s'", argv[optind], argv[optind + 1]);
                return 2;
        }
        if (optind == argc - 1) {
                size_t len = 0;
                spec_path = argv[optind];
                r = read_full_file(spec_path, KILN_SPEC_MAX_BYTES, (uint8_t **)&spec_buf, &len);
                if (r < 0) {
                        kiln_fail("cannot read spec '%s': %s", spec_path,
                             r == -E2BIG ? "larger than 1 MiB" : r == -EINVAL ? "not a regular file" : strerror(-r));
                        return 1;
                }
                r = kiln_spec_parse(spec_buf, len, spec_path, &spec);
                if (r < 0) {
                        kiln_fail("%s", kiln_last_error());
                        return 1;
                }
                seed_add(&seed, "spec", spec_buf, len);
        }

        r = 1;
        rootfs = opt_rootfs ? strdup(opt_rootfs) : spec_relative(spec_path, spec.rootfs);
        output = opt_output ? strdup(opt_output) : spec_relative(spec_path, spec.output);
        if (!rootfs) {
                kiln_fail("no rootfs given (use --rootfs or 'rootfs:' in the spec)");
                goto out;
        }
        if (!output) {
                kiln_fail("no output given (use --output or 'output:' in the spec)");
                goto out;
        }
        bo.rootfs = rootfs;
        bo.output = output;
        bo.size = spec.size_set && !spec.size_auto ? spec.size : 0;
        if (opt_size) {
                if (!strcmp(opt_size, "auto")) {
                        bo.size = 0;
                } else if (parse_size(opt_size, &bo.size) < 0 || bo.size == 0) {
                        kiln_fail("bad --size '%s' (expected a size like 8G, 512M or 'auto')", opt_size);
                        goto out;
                }
                seed_add(&seed, "size", opt_size, strlen(opt_size));
        }
        bo.ptable = spec.ptable >= 0 ? spec.ptable : KILN_PTABLE_GPT;
        if (opt_pt) {
                int p = kiln_ptable_from_string(opt_pt);
                if (p < 0) {
                        kiln_fail("bad --partition-table '%s' (expected gpt, mbr or none)", opt_pt);
                        goto out;
                }
                bo.ptable = p;
                seed_add(&seed, "ptable", opt_pt, strlen(opt_pt));
        }
        bo.boot_mode = spec.boot_mode >= 0 ? spec.boot_mode : KILN_BOOT_UEFI_PREFERRED;
        if (opt_boot) {
                int m = kiln_boot_mode_from_string(opt_boot);
                if (m < 0) {
                        kiln_fail("bad --boot-mode '%s' (expected legacy-bios, uefi or uefi-preferred)", opt_boot);
                        goto out;
                }
                bo.boot_mode = m;
                seed_add(&seed, "boot-mode", opt_boot, strlen(opt_boot));
        }
        if (bo.ptable == KILN_PTABLE_MBR && !opt_boot && spec.boot_mode < 0)
                bo.boot_mode = KILN_BOOT_LEGACY_BIOS; /* the only mode an MBR disk boots in */
        bo.arch = spec.arch >= 0 ? spec.arch : KILN_ARCH_X86_64;
        bo.virt = spec.virt >= 0 ? spec.virt : KILN_VIRT_HVM;
        bo.ena_support = spec.ena_support != 0;
        bo.imds_support = spec.imds_support;
        bo.description = spec.ami_description;
        bo.kernel_cmdline = spec.kernel_cmdline;
        bo.ssh_host_key_types = spec.ssh_host_key_types;
        bo.digest = opt_digest || spec.image_digest == 1;
        bo.kernel = spec.kernel;
        bo.distro_initramfs = spec.initramfs && !strcmp(spec.initramfs, "distro");
        bo.extra_modules = (const char *const *)spec.initramfs_modules;
        bo.n_extra_modules = spec.n_initramfs_modules;
        bo.init_binary = find_kiln_init();
        bo.bdms = spec.bdms;
        bo.n_bdms = spec.n_bdms;
        if (bo.arch != KILN_ARCH_X86_64 && bo.ptable != KILN_PTABLE_NONE) {
                kiln_fail("architecture '%s' is not supported for bootable disks yet (x86_64 only)",
                     kiln_arch_to_string(bo.arch));
                goto out;
        }
        {
                /* The image name: --name, ami_name, else the output's base name. */
                static char fallback[129];
                const char *base = strrchr(output, '/') ? strrchr(output, '/') + 1 : output;
                snprintf(fallback, sizeof(fallback), "%.*s", (int)strcspn(base, "."), base);
                for (char *p = fallback; *p; p++)
                        if (!strchr("()[] ./'@_-", *p) && !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                                                              (*p >= '0' && *p <= '9')))
                                *p = '-';
                if (strlen(fallback) < 3)
                        strncat(fallback, "-image", sizeof(fallback) - strlen(fallback) - 1);
                bo.name = opt_name ? opt_name : spec.ami_name ? spec.ami_name : fallback;
                if (kiln_image_name_valid(bo.name) < 0) {
                        kiln_fail("bad image name '%s': 3-128 characters of letters, digits and ()[] ./'@_-", bo.name);
                        goto out;
                }
        }
        bo.label = opt_label ? opt_label : spec.fs_label;
        if (bo.label && strlen(bo.label) > 16) {
                kiln_fail("bad --label '%s': at most 16 bytes", bo.label);
                goto out;
        }
        if (opt_label)
                seed_add(&seed, "label", opt_label, strlen(opt_label));
        if (opt_uuid) {
                if (parse_uuid(opt_uuid, uuid) < 0) {
                        kiln_fail("bad --fs-uuid '%s' (expected a UUID like 01234567-89ab-cdef-0123-456789abcdef)", opt_uuid);
                        goto out;
                }
                bo.fs_uuid = uuid;
        } else if (spec.fs_uuid_set) {
                bo.fs_uuid = spec.fs_uuid;
        }
        if (opt_name)
                seed_add(&seed, "name", opt_name, strlen(opt_name));
        bo.scrub = spec.scrub;
        bo.default_user = &spec.default_user;
        if (parse_epoch(&bo.epoch, &bo.reproducible) < 0)
                goto out;
        seed_add(&seed, "epoch", &bo.epoch, sizeof(bo.epoch));
        bo.seed = seed.buf;
        bo.seed_len = seed.len;
        const char *fw = getenv("KILN_TEST_FAIL_WRITE");
        if (fw)
                bo.fail_write = (unsigned)strtoul(fw, NULL, 10);
        const char *frename = getenv("KILN_TEST_FAIL_RENAME");
        if (frename)
                bo.fail_rename = (unsigned)strtoul(frename, NULL, 10);
        bo.no_rename_exchange = getenv("KILN_TEST_NO_RENAME_EXCHANGE") != NULL;

        struct progress_state ps = { 0 };
        clock_gettime(CLOCK_MONOTONIC, &ps.start);
        ps.tty = verbosity > 0 && isatty(STDERR_FILENO);
        bo.progress = show_progress;
        bo.progress_ud = &ps;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        r = kiln_build(&bo, &res);
        show_progress(&ps, "done", 0, 0);
        if (ps.shown)
                fputs("\r\033[K", stderr);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                r = 1;
                goto out;
        }
        struct timespec end;
        clock_gettime(CLOCK_MONOTONIC, &end);
        /* Even with -q: an image that cannot boot, or that nobody can reach, is worth a line. */
        if (res.no_init)
                fprintf(stderr, "kiln: warning: rootfs '%s' has no /sbin/init: instances of '%s' will stop in the "
                                "initramfs (install an init, e.g. Debian's systemd-sysv)\n",
                        bo.rootfs, output);
        if (res.net_reason[0] && !res.net_stack[0])
                fprintf(stderr, "kiln: warning: rootfs '%s' has no network stack kiln-init can configure (%s): "
                                "instances of '%s' will have no network\n",
                        bo.rootfs, res.net_reason, output);
        if (verbosity > 0) {
                char sz[32], data[32], uuid_s[37], fr[32];
                format_size(res.size, sz, sizeof(sz));
                format_size(res.data_bytes, data, sizeof(data));
                format_size(res.fs.free_blocks * res.fs.block_size, fr, sizeof(fr));
                format_uuid(res.fs_uuid, uuid_s);
                printf("kiln: built '%s' in %.2f s\n", output, elapsed(&ps.start, &end));
                printf("  image:       %s (%" PRIu64 " bytes), partition table: %s\n", sz, res.size,
                       kiln_ptable_to_string(bo.ptable));
                for (size_t i = 0; i < res.layout.n_parts; i++) {
                        const struct kiln_part *p = &res.layout.parts[i];
                        char psz[32], pu[40];
                        format_size(p->size * KILN_SECTOR, psz, sizeof(psz));
                        kiln_part_uuid_string(&res.layout, p, pu);
                        printf("  partition %-2u %-10s at sector %-7llu %10s, PARTUUID %s\n", p->number,
                               p->role == KILN_PART_ROOT ? "root" : p->role == KILN_PART_ESP ? "esp" : "bios-boot",
                               (unsigned long long)p->start, psz, pu);
                }
                printf("  filesystem:  ext4, UUID %s%s%s%s, %s free\n", uuid_s, bo.label ? ", label '" : "",
                       bo.label ? bo.label : "", bo.label ? "'" : "", fr);
                printf("  contents:    %" PRIu64 " inodes, %s of file data, %u hash-indexed folders\n", res.files,
                       data, res.fs.htree_dirs);
                if (res.kernel[0])
                        printf("  kernel:      %s (boot mode %s)\n", res.kernel, kiln_boot_mode_to_string(bo.boot_mode));
                if (res.initrd[0] && !bo.distro_initramfs) {
                        char isz[32];
                        format_size(res.initrd_size, isz, sizeof(isz));
                        printf("  initramfs:   %s (kiln-init, %zu modules, %s zstd)\n", res.initrd, res.initrd_modules, isz);
                        if (res.initrd_note[0])
                                printf("               %s\n", res.initrd_note);
                } else if (res.initrd[0]) {
                        printf("  initramfs:   %s (the distribution's)\n", res.initrd);
                }
                if (res.net_stack[0])
                        printf("  network:     %s, rendered by kiln-init at first boot (%s)\n", res.net_stack,
                               res.net_reason);
                else if (res.net_reason[0])
                        printf("  network:     none (%s)\n", res.net_reason);
                if (res.grub_bios[0])
                        printf("  grub bios:   %s\n", res.grub_bios);
                if (res.grub_efi[0])
                        printf("  grub efi:    %s\n", res.grub_efi);
                if (res.fstab_added)
                        printf("  fstab:       root entry added to /etc/fstab\n");
                printf("  metadata:    %s.json (RegisterImage), %s.kiln.json\n", output, output);
                if (res.digest[0])
                        printf("  sha256:      %s\n", res.digest);
                if (res.fs.ea_inode)
                        printf("  note:        an xattr value is larger than a block, so the filesystem uses\n"
                               "               ea_inode, which GRUB cannot read: /boot cannot live on it\n");
                if (verbosity > 1)
                        printf("  phases:      %s\n", ps.phases);
                if (bo.reproducible)
                        printf("  reproducible: SOURCE_DATE_EPOCH=%lld\n", (long long)bo.epoch);
                if (res.scrubbed.n == 0) {
                        printf("  scrubbed:    nothing to remove\n");
                } else {
                        printf("  scrubbed:    %zu path%s\n", res.scrubbed.n, res.scrubbed.n == 1 ? "" : "s");
                        for (size_t i = 0; i < res.scrubbed.n; i++)
                                printf("    %s\n", res.scrubbed.lines[i]);
                }
        }
        kiln_build_result_free(&res);
        r = 0;
out:
        free(seed.buf);
        kiln_spec_free(&spec);
        return r;
}

int main(int argc, char **argv)
{
        /* Names in tarballs are bytes; a UTF-8 locale keeps libarchive from
         * rejecting non-ASCII ones when converting pax (UTF-8) headers. */
        if (!setlocale(LC_CTYPE, "C.UTF-8"))
                setlocale(LC_CTYPE, "");
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        const char *cmd = argv[1];
        if (!strcmp(cmd, "build"))
                return cmd_build(argc - 1, argv + 1);
        if (!strcmp(cmd, "seed")) return cmd_seed(argc - 1, argv + 1);
        if (!strcmp(cmd, "imds")) return cmd_imds(argc - 1, argv + 1);
        if (!strcmp(cmd, "run")) return cmd_run(argc - 1, argv + 1);
        if (!strcmp(cmd, "user-data")) return cmd_user_data(argc - 1, argv + 1);
        if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
                printf("kiln %s\n", KILN_VERSION);
                return 0;
        }
        if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
                usage(stdout);
                return 0;
        }
        kiln_fail("unknown command '%s' (see 'kiln help')", cmd);
        return 2;
}
