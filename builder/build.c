/* SPDX-License-Identifier: MIT */
/*
 * The build, in one direction: read the rootfs into a tree, scrub it, add
 * what booting needs (menu, GRUB modules, fstab line), size the disk, then
 * write the root filesystem, the ESP, the partition table and GRUB's boot
 * code into a temporary file that is renamed into place with its metadata.
 */
#include "build.h"
#include "netrender.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "fat.h"
#include "grub.h"
#include "metadata.h"
#include "modules.h"
#include "tree.h"
#include "util.h"

/* Auto-sized images get this much free space beyond the tree (or a tenth
 * of the tree, if more): enough to boot, log and install a package before
 * first boot grows the volume. */
#define AUTO_HEADROOM (UINT64_C(64) << 20)
#define MIB (UINT64_C(1) << 20)
#define DIGEST_MAX (UINT64_C(16) << 30)

struct build {
        const struct kiln_build_opts *o;
        struct kiln_build_result res;
        struct kiln_tree *t;
        char *outdir;
        time_t now;
        struct timespec when;
        /* identities that do not depend on the disk's size, made once */
        uint8_t disk_guid[16], part_uuid[3][16];
        uint32_t mbr_signature, esp_volume_id;
        /* boot pieces, made before the filesystem is written */
        struct kiln_kernel kernel;
        uint8_t *core_img, *boot_img;
        size_t core_len;
        struct kiln_fat *esp;
        /* temporaries */
        char *tmp_image, *tmp_json, *tmp_kjson;
};

static void phase(struct build *b, const char *name)
{
        if (b->o->progress)
                b->o->progress(b->o->progress_ud, name, b->t ? b->t->n_inodes : 0, b->t ? b->t->data_bytes : 0);
}

static void ext4_progress(void *ud, uint64_t files, uint64_t bytes)
{
        const struct kiln_build_opts *o = ud;
        o->progress(o->progress_ud, "writing", files, bytes);
}

static int read_rootfs(struct kiln_tree *t, const char *rootfs, const char *spool_dir)
{
        struct stat st;
        int r;

        if (stat(rootfs, &st) < 0)
                return kiln_errorf(-errno, "cannot read rootfs '%s': %m", rootfs);
        if (S_ISDIR(st.st_mode))
                r = kiln_rootfs_read_dir(t, rootfs);
        else if (S_ISREG(st.st_mode))
                r = kiln_rootfs_read_tar(t, rootfs, spool_dir);
        else
                return kiln_errorf(-EINVAL, "cannot read rootfs '%s': not a folder or a tarball", rootfs);
        if (r < 0)
                return kiln_error_prefix(r, "cannot read rootfs '%s'", rootfs);
        return 0;
}

static int open_temp(const char *output, const char *suffix, char **ret_path, int *ret_fd)
{
        _cleanup_free_ char *dup1 = strdup(output), *dup2 = strdup(output);
        char *path;
        int fd;

        if (!dup1 || !dup2)
                return -ENOMEM;
        if (asprintf(&path, "%s/.%s%s.kiln-XXXXXX", dirname(dup1), basename(dup2), suffix) < 0)
                return -ENOMEM;
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
                int r = kiln_errorf(-errno, "cannot create output '%s': %m", output);
                free(path);
                return r;
        }
        /* mkostemp makes 0600; outputs are as readable as any new file. */
        mode_t um = umask(0);
        umask(um);
        fchmod(fd, 0666 & ~um);
        *ret_path = path;
        *ret_fd = fd;
        return 0;
}

static int write_text_temp(const char *output, const char *suffix, const char *text, char **ret_path)
{
        int fd, r;
        size_t len = strlen(text);

        r = open_temp(output, suffix, ret_path, &fd);
        if (r < 0)
                return r;
        r = write_full(fd, text, len);
        if (r >= 0 && fsync(fd) < 0) /* on disk before its name is */
                r = -errno;
        if (r < 0) {
                r = kiln_errorf(r, "cannot write metadata for '%s': %s", output, strerror(-r));
                close(fd);
                return r;
        }
        if (close(fd) < 0)
                return kiln_errorf(-errno, "cannot write metadata for '%s': %m", output);
        return 0;
}

static char *dir_of(const char *path)
{
        _cleanup_free_ char *d = strdup(path);
        return d ? strdup(dirname(d)) : NULL;
}

/* ---------- UUIDs ---------- */

static void make_uuid(const struct kiln_build_opts *o, const char *purpose, uint8_t ret[16])
{
        if (o->reproducible)
                derive_uuid(o->seed, o->seed_len, purpose, ret);
        else
                random_uuid(ret);
}

static uint32_t u32_of(const uint8_t v[16])
{
        return (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
}

/* Every identity once: the menu, fstab and the tables must agree. */
static void make_ids(struct build *b)
{
        const struct kiln_build_opts *o = b->o;
        uint8_t v[16];

        make_uuid(o, "disk-guid", b->disk_guid);
        make_uuid(o, "partition-root", b->part_uuid[KILN_PART_ROOT]);
        make_uuid(o, "partition-bios-boot", b->part_uuid[KILN_PART_BIOS_BOOT]);
        make_uuid(o, "partition-esp", b->part_uuid[KILN_PART_ESP]);
        make_uuid(o, "mbr-signature", v);
        b->mbr_signature = u32_of(v);
        make_uuid(o, "esp-volume-id", v);
        b->esp_volume_id = u32_of(v);
}

/* ---------- boot preparation ---------- */

static const char *distro_name(struct kiln_tree *t, char *buf, size_t len)
{
        struct kiln_dentry *d;
        uint8_t *data;
        size_t n;

        snprintf(buf, len, "Linux");
        /* Debian's /etc/os-release is a symlink to ../usr/lib/os-release. */
        if ((kiln_tree_lookup_follow(t, "etc/os-release", &d) < 0 && kiln_tree_lookup_follow(t, "usr/lib/os-release", &d) < 0) ||
            !S_ISREG(d->inode->mode) || kiln_tree_read_file(t, d->inode, 65536, &data, &n) < 0)
                return buf;
        for (char *line = (char *)data; line && *line;) {
                char *next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (!strncmp(line, "PRETTY_NAME=", 12)) {
                        char *v = line + 12;
                        size_t l = strlen(v);
                        if (l >= 2 && (v[0] == '"' || v[0] == '\'') && v[l - 1] == v[0]) {
                                v[l - 1] = 0;
                                v++;
                        }
                        /* The title sits inside single quotes in grub.cfg. */
                        size_t o = 0;
                        for (; *v && o + 1 < len; v++)
                                if (*v != '\'' && *v != '\\')
                                        buf[o++] = *v;
                        buf[o] = 0;
                }
                line = next;
        }
        free(data);
        return buf;
}

/* Root must be mounted read-write after boot; images from debootstrap
 * carry a placeholder fstab, so add the root (and ESP) lines if missing. */
static int ensure_fstab(struct build *b, const char *fs_uuid, const char *esp_uuid)
{
        struct kiln_dentry *d;
        uint8_t *old = NULL;
        size_t old_len = 0;
        char *text = NULL;
        mode_t mode = 0644;
        int r;

        if (kiln_tree_lookup(b->t, "etc/fstab", &d) == 0 && S_ISREG(d->inode->mode)) {
                r = kiln_tree_read_file(b->t, d->inode, 1 << 20, &old, &old_len);
                if (r < 0)
                        return kiln_error_prefix(r, "reading /etc/fstab");
                mode = d->inode->mode & 07777;
                for (char *line = (char *)old; line && *line;) {
                        char *next = strchr(line, '\n');
                        char spec[512], mnt[512];
                        if (line[0] != '#' && sscanf(line, "%511s %511s", spec, mnt) == 2 && !strcmp(mnt, "/")) {
                                free(old);
                                return 0;
                        }
                        line = next ? next + 1 : NULL;
                }
        }
        char esp_line[160] = "";
        if (esp_uuid)
                snprintf(esp_line, sizeof(esp_line), "UUID=%s /boot/efi vfat umask=0077 0 2\n", esp_uuid);
        if (asprintf(&text, "%.*s%s# added by kiln\nUUID=%s / ext4 rw,discard,errors=remount-ro 0 1\n%s", (int)old_len,
                     old ? (char *)old : "", old_len && old[old_len - 1] != '\n' ? "\n" : "", fs_uuid, esp_line) < 0) {
                free(old);
                return -ENOMEM;
        }
        free(old);
        r = kiln_tree_put_file(b->t, "etc/fstab", mode, text, strlen(text), b->when, NULL);
        free(text);
        b->res.fstab_added = true;
        return r;
}

/* A YAML double-quoted scalar (values were checked to be one printable line). */
static void yaml_quoted(FILE *f, const char *s)
{
        fputc('"', f);
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        fputc('\\', f);
                fputc(*s, f);
        }
        fputc('"', f);
}

/*
 * /etc/kiln/cloud.cfg: the image's own settings for cloud-init-lite, in
 * cloud-init's shape (system_info.default_user), read by kiln-init before
 * the launch's user data, which may override them.
 */
static int add_cloud_cfg(struct build *b)
{
        const struct kiln_default_user *u = b->o->default_user;
        static const struct kiln_default_user none;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        char *save = NULL;
        int r;

        if (!u)
                u = &none;
        FILE *f = open_memstream(&text, &len);
        if (!f)
                return -ENOMEM;
        fputs("# Written by kiln build: the image's defaults for cloud-init-lite (kiln-init).\n"
              "# The launch's #cloud-config user data is applied over these.\n"
              "system_info:\n  default_user:\n    name: ", f);
        yaml_quoted(f, u->name ? u->name : "admin");
        if (u->gecos) {
                fputs("\n    gecos: ", f);
                yaml_quoted(f, u->gecos);
        }
        fputs("\n    groups: [", f);
        char groups[1025];
        snprintf(groups, sizeof(groups), "%s", u->groups ? u->groups : "adm");
        const char *sep = "";
        for (char *g = strtok_r(groups, ", ", &save); g; g = strtok_r(NULL, ", ", &save)) {
                fputs(sep, f);
                yaml_quoted(f, g);
                sep = ", ";
        }
        fputs("]\n", f);
        const char *sudo = u->sudo ? u->sudo : "ALL=(ALL) NOPASSWD:ALL";
        if (*sudo) {
                fputs("    sudo: [", f);
                yaml_quoted(f, sudo);
                fputs("]\n", f);
        }
        const char *shell = u->shell;
        if (!shell) {
                struct kiln_dentry *d;
                shell = kiln_tree_lookup_follow(b->t, "bin/bash", &d) >= 0 ? "/bin/bash" : "/bin/sh";
        }
        fputs("    shell: ", f);
        yaml_quoted(f, shell);
        fputs("\n    lock_passwd: true\n", f);
        snprintf(b->res.default_user, sizeof(b->res.default_user), "%s", u->name ? u->name : "admin");
        if (fclose(f) != 0)
                return -ENOMEM;
        r = kiln_tree_put_file(b->t, "etc/kiln/cloud.cfg", 0644, text, len, b->when, NULL);
        return r;
}

/* Which network stack kiln-init will render the instance's network for
 * (netrender.h), asked of the tree as kiln-init asks the root. */
static bool tree_exists(void *ud, const char *path)
{
        struct kiln_dentry *d;
        /* The link itself counts; a merged /usr (sbin -> usr/sbin) on the way too. */
        return kiln_tree_lookup(ud, path, &d) >= 0 || kiln_tree_lookup_follow(ud, path, &d) >= 0;
}

static int tree_read_text(void *ud, const char *path, char **ret, size_t *ret_len)
{
        struct kiln_dentry *d;
        int r = kiln_tree_lookup_follow(ud, path, &d);
        if (r < 0)
                return r;
        if (!S_ISREG(d->inode->mode))
                return -EINVAL;
        return kiln_tree_read_file(ud, d->inode, 1u << 20, (uint8_t **)ret, ret_len);
}

static int tree_readlink(void *ud, const char *path, char **ret)
{
        struct kiln_dentry *d;
        int r = kiln_tree_lookup(ud, path, &d);
        if (r < 0 && kiln_tree_lookup_follow(ud, path, &d) < 0)
                return r;
        if (!S_ISLNK(d->inode->mode) || !d->inode->symlink)
                return -EINVAL;
        *ret = strdup(d->inode->symlink);
        return *ret ? 0 : -ENOMEM;
}

static void probe_network(struct build *b)
{
        struct kiln_net_probe p = { .exists = tree_exists, .read = tree_read_text, .readlink = tree_readlink,
                                    .ud = b->t };
        enum kiln_net_stack s = kiln_net_stack_pick(&p, b->res.net_reason, sizeof(b->res.net_reason));

        snprintf(b->res.net_stack, sizeof(b->res.net_stack), "%s", s == KILN_NET_STACK_NONE ? "" : kiln_net_stack_to_string(s));
}

static int add_grub_defaults(struct build *b)
{
        char *text;
        const char *cmdline = b->o->kernel_cmdline ? b->o->kernel_cmdline : "";
        int r;

        /* Sourced by update-grub as shell: single quotes, ' written as '\''. */
        _cleanup_free_ char *quoted = malloc(4 * strlen(cmdline) + 1);
        if (!quoted)
                return -ENOMEM;
        char *q = quoted;
        for (const char *p = cmdline; *p; p++) {
                if (*p == '\'') {
                        memcpy(q, "'\\''", 4);
                        q += 4;
                } else {
                        *q++ = *p;
                }
        }
        *q = 0;
        cmdline = quoted;
        if (asprintf(&text,
                     "# Written by kiln: keeps the menu update-grub makes reachable on a serial console.\n"
                     "GRUB_TIMEOUT=1\n"
                     "GRUB_CMDLINE_LINUX='console=tty0 console=ttyS0,115200%s%s'\n"
                     "GRUB_TERMINAL=\"console serial\"\n"
                     "GRUB_SERIAL_COMMAND=\"serial --unit=0 --speed=115200\"\n",
                     *cmdline ? " " : "", cmdline) < 0)
                return -ENOMEM;
        r = kiln_tree_put_file(b->t, "etc/default/grub.d/kiln.cfg", 0644, text, strlen(text), b->when, NULL);
        free(text);
        return r;
}

static int prepare_bios(struct build *b, const char *fs_uuid, const char *part)
{
        static const char *const modules[] = { "biosdisk", "part_gpt", "part_msdos", "ext2", "search_fs_uuid", NULL };
        struct kiln_grub_dir d;
        char early[256], prefix[64];
        size_t blen;
        int r;

        r = kiln_grub_locate(b->t, "i386-pc", b->outdir, &d);
        if (r < 0)
                return r;
        snprintf(b->res.grub_bios, sizeof(b->res.grub_bios), "%s", d.from_rootfs ? "rootfs /usr/lib/grub/i386-pc" : "build host /usr/lib/grub/i386-pc");
        /* The prefix names only the partition: GRUB takes the disk it was
         * booted from, as grub-install's core images do.  The search makes
         * it robust against a moved root partition. */
        snprintf(prefix, sizeof(prefix), "(,%s)/boot/grub", part);
        snprintf(early, sizeof(early), "search.fs_uuid %s root\nset prefix=($root)/boot/grub\n", fs_uuid);
        r = kiln_grub_mkimage(&d, "i386-pc", prefix, early, modules, b->outdir, &b->core_img, &b->core_len);
        if (r >= 0)
                r = kiln_grub_read(&d, "boot.img", &b->boot_img, &blen);
        if (r >= 0 && blen != 512)
                r = kiln_errorf(-EINVAL, "GRUB's boot.img in '%s' is %zu bytes, not 512", d.path, blen);
        if (r >= 0)
                r = kiln_grub_copy_modules(b->t, &d, "i386-pc", b->when);
        if (r >= 0)
                r = kiln_tree_put_file(b->t, "boot/grub/i386-pc/core.img", 0644, b->core_img, b->core_len, b->when, NULL);
        kiln_grub_dir_free(&d);
        return r;
}

static int esp_add_tree_file(struct build *b, const char *tree_path, const char *esp_path)
{
        struct kiln_dentry *d;
        uint8_t *data;
        size_t len;
        int r;

        if (kiln_tree_lookup(b->t, tree_path, &d) < 0 || !S_ISREG(d->inode->mode))
                return -ENOENT;
        r = kiln_tree_read_file(b->t, d->inode, 64u << 20, &data, &len);
        if (r < 0)
                return r;
        r = kiln_fat_add_file(b->esp, esp_path, data, len);
        free(data);
        return r;
}

static int prepare_efi(struct build *b, const char *fs_uuid, const char *part)
{
        static const char *const modules[] = { "part_gpt", "part_msdos", "ext2", "fat", "search", "search_fs_uuid",
                                                "normal", "configfile", "linux", "echo", "test", "gzio", "efi_gop",
                                                "serial", "terminal", NULL };
        char cfg[256], prefix[64];
        uint8_t *img;
        size_t len;
        int r;

        r = kiln_fat_new(&b->esp);
        if (r < 0)
                return r;
        snprintf(cfg, sizeof(cfg), "search.fs_uuid %s root\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n",
                 fs_uuid);

        /* Debian's signed shim and GRUB, when the rootfs has them, so the
         * image boots with Secure Boot enforcing.  That GRUB looks for its
         * config in /EFI/debian (built-in prefix) and beside itself. */
        if (esp_add_tree_file(b, "usr/lib/shim/shimx64.efi.signed", "EFI/BOOT/BOOTX64.EFI") == 0) {
                r = esp_add_tree_file(b, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", "EFI/BOOT/grubx64.efi");
                if (r < 0)
                        return r == -ENOENT ? kiln_errorf(-ENOENT, "the rootfs has shim-signed but not grub-efi-amd64-signed "
                                                                    "(/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed)")
                                            : r;
                esp_add_tree_file(b, "usr/lib/shim/mmx64.efi.signed", "EFI/BOOT/mmx64.efi");
                r = kiln_fat_add_file(b->esp, "EFI/BOOT/grub.cfg", cfg, strlen(cfg));
                if (r >= 0)
                        r = kiln_fat_add_file(b->esp, "EFI/debian/grub.cfg", cfg, strlen(cfg));
                snprintf(b->res.grub_efi, sizeof(b->res.grub_efi), "rootfs shim-signed + grub-efi-amd64-signed (Secure Boot)");
                return r;
        }

        struct kiln_grub_dir d;
        r = kiln_grub_locate(b->t, "x86_64-efi", b->outdir, &d);
        if (r < 0)
                return r;
        snprintf(b->res.grub_efi, sizeof(b->res.grub_efi), "%s", d.from_rootfs ? "rootfs /usr/lib/grub/x86_64-efi" : "build host /usr/lib/grub/x86_64-efi");
        snprintf(prefix, sizeof(prefix), "(,%s)/boot/grub", part);
        snprintf(cfg, sizeof(cfg), "search.fs_uuid %s root\nset prefix=($root)/boot/grub\n", fs_uuid);
        r = kiln_grub_mkimage(&d, "x86_64-efi", prefix, cfg, modules, b->outdir, &img, &len);
        if (r >= 0) {
                r = kiln_fat_add_file(b->esp, "EFI/BOOT/BOOTX64.EFI", img, len);
                free(img);
        }
        if (r >= 0)
                r = kiln_grub_copy_modules(b->t, &d, "x86_64-efi", b->when);
        kiln_grub_dir_free(&d);
        return r;
}

/* ---------- kiln's initramfs ---------- */

struct tree_src {
        struct kiln_tree *t;
};

static int tree_src_read(void *ud, const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
        struct kiln_tree *t = ud;
        struct kiln_dentry *d;

        if (kiln_tree_lookup_follow(t, path, &d) < 0 || !S_ISREG(d->inode->mode))
                return -ENOENT;
        return kiln_tree_read_file(t, d->inode, max, ret, ret_len);
}

static int tree_list(struct kiln_dentry *dir, char *rel, size_t len, size_t cap, int (*fn)(void *, const char *),
                     void *ctx)
{
        int r = 0;

        for (size_t i = 0; i < dir->n_children && r >= 0; i++) {
                struct kiln_dentry *c = dir->children[i];
                size_t n = strlen(c->name), l = len;
                if (len + n + 2 > cap)
                        continue;
                if (l)
                        rel[l++] = '/';
                memcpy(rel + l, c->name, n + 1);
                if (S_ISREG(c->inode->mode))
                        r = fn(ctx, rel);
                else if (S_ISDIR(c->inode->mode))
                        r = tree_list(c, rel, l + n, cap, fn, ctx);
                rel[len] = 0;
        }
        return r;
}

static int tree_src_list(void *ud, const char *dir, int (*fn)(void *ctx, const char *rel), void *ctx)
{
        struct kiln_tree *t = ud;
        struct kiln_dentry *d;
        char rel[4096] = "";

        if (kiln_tree_lookup_follow(t, dir, &d) < 0 || !S_ISDIR(d->inode->mode))
                return -ENOENT;
        return tree_list(d, rel, 0, sizeof(rel), fn, ctx);
}

static void note_list(char *buf, size_t len, const char *what, char **names, size_t n)
{
        size_t l = strlen(buf);
        if (!n)
                return;
        l += (size_t)snprintf(buf + l, len > l ? len - l : 0, "%s%s:", l ? "; " : "", what);
        for (size_t i = 0; i < n && l < len; i++)
                l += (size_t)snprintf(buf + l, len - l, " %s", names[i]);
}

static int make_initramfs(struct build *b)
{
        const struct kiln_build_opts *o = b->o;
        struct kiln_modsrc src = { .read = tree_src_read, .list = tree_src_list, .ud = b->t };
        struct kiln_modules mods = { 0 };
        uint8_t *init = NULL, *img = NULL;
        size_t init_len = 0, img_len = 0, raw_len = 0;
        const char *wanted[KILN_SPEC_MAX_MODULES + 64];
        size_t n = 0;
        int r;

        if (!o->init_binary)
                return kiln_errorf(-ENOENT, "kiln-init was not found next to kiln; build it (make) or set 'initramfs: distro' in the spec");
        r = read_full_file(o->init_binary, 64u << 20, &init, &init_len);
        if (r < 0)
                return kiln_errorf(r, "cannot read kiln-init '%s': %s", o->init_binary, strerror(-r));
        for (size_t i = 0; kiln_initramfs_default_modules[i] && n < ARRAY_SIZE(wanted); i++)
                wanted[n++] = kiln_initramfs_default_modules[i];
        for (size_t i = 0; i < o->n_extra_modules && n < ARRAY_SIZE(wanted); i++)
                wanted[n++] = o->extra_modules[i];
        char moddir[300];
        struct kiln_dentry *md;
        snprintf(moddir, sizeof(moddir), "lib/modules/%s", b->kernel.version);
        bool have_modules = kiln_tree_lookup_follow(b->t, moddir, &md) == 0 && S_ISDIR(md->inode->mode);
        if (have_modules) {
                r = kiln_modules_resolve(&src, b->kernel.version, wanted, n, &mods);
                if (r < 0) {
                        free(init);
                        return kiln_error_prefix(r, "kernel modules for %s", b->kernel.version);
                }
                note_list(b->res.initrd_note, sizeof(b->res.initrd_note), "built in", mods.builtin, mods.n_builtin);
                note_list(b->res.initrd_note, sizeof(b->res.initrd_note), "not in this kernel", mods.missing,
                          mods.n_missing);
        } else {
                snprintf(b->res.initrd_note, sizeof(b->res.initrd_note), "the rootfs has no /%s: no modules", moddir);
        }
        /* e2fsck from the rootfs, for kiln-init's check of the root before it
         * writes; without one kiln-init can only refuse to write to a root
         * marked with errors.  One that cannot be carried is a note, not an
         * error: the image still boots. */
        struct kiln_initramfs_files progs = { 0 };
        kiln_clear_error();
        r = kiln_initramfs_e2fsck(&src, &progs);
        {
                size_t l = strlen(b->res.initrd_note);
                char *note = b->res.initrd_note + l, sz[32];
                size_t left = sizeof(b->res.initrd_note) - l;
                if (r > 0) {
                        format_size(progs.total_bytes, sz, sizeof(sz));
                        snprintf(note, left, "%se2fsck: /%s, with %zu more files (%s)", l ? "; " : "",
                                 progs.files[0].src_path, progs.n_files - 1, sz);
                } else if (r < 0) {
                        snprintf(note, left, "%se2fsck not carried: %s", l ? "; " : "", kiln_last_error());
                }
        }
        struct kiln_initramfs_opts io = {
                .init = init,
                .init_len = init_len,
                .modules = have_modules ? &mods : NULL,
                .files = progs.n_files ? &progs : NULL,
                .mtime = b->now,
                .clamp = b->now,
                /* Level 9: kiln-init alone (libcrypto, mostly) stays under 2 MiB
                 * and a build takes well under a second for it (19 takes five). */
                .level = 9,
                .workers = 2,
        };
        r = kiln_initramfs_make(&io, &img, &img_len, &raw_len);
        if (r >= 0) {
                snprintf(b->res.initrd, sizeof(b->res.initrd), "/boot/kiln-initrd-%s", b->kernel.version);
                r = kiln_tree_put_file(b->t, b->res.initrd + 1, 0644, img, img_len, b->when, NULL);
                b->res.initrd_size = img_len;
                b->res.initrd_modules = mods.n_mods;
                snprintf(b->kernel.initrd, sizeof(b->kernel.initrd), "%s", b->res.initrd);
        }
        free(img);
        free(init);
        kiln_initramfs_files_free(&progs);
        if (have_modules)
                kiln_modules_free(&mods);
        return r;
}

static int prepare_boot(struct build *b)
{
        const struct kiln_build_opts *o = b->o;
        char fs_uuid[37], partuuid[40], esp_uuid[16], distro[128], part[16];
        int r;

        r = kiln_find_kernel(b->t, o->kernel, &b->kernel);
        if (r < 0)
                return kiln_error_prefix(r, "cannot make rootfs '%s' bootable", o->rootfs);
        snprintf(b->res.kernel, sizeof(b->res.kernel), "%s", b->kernel.version);
        format_uuid(b->res.fs_uuid, fs_uuid);
        if (!o->distro_initramfs) {
                r = make_initramfs(b);
                if (r < 0)
                        return kiln_error_prefix(r, "making the initramfs");
                r = add_cloud_cfg(b);
                if (r < 0)
                        return kiln_error_prefix(r, "writing /etc/kiln/cloud.cfg");
                probe_network(b);
                /* What kiln-init's switch_root hands over to (unless the
                 * command line names another init=): without one the boot
                 * stops in the initramfs. */
                struct kiln_dentry *d;
                const char *cl = b->o->kernel_cmdline ? b->o->kernel_cmdline : "";
                bool own_init = !strncmp(cl, "init=", 5) || strstr(cl, " init=");
                b->res.no_init = !own_init && (kiln_tree_lookup_follow(b->t, "sbin/init", &d) < 0 ||
                                               !S_ISREG(d->inode->mode) || !(d->inode->mode & 0111));
        } else {
                snprintf(b->res.initrd, sizeof(b->res.initrd), "%.159s", b->kernel.initrd);
        }

        struct kiln_layout ids = { .kind = o->ptable, .mbr_signature = b->mbr_signature };
        struct kiln_part root = { .number = 1 };
        memcpy(root.uuid, b->part_uuid[KILN_PART_ROOT], 16);
        kiln_part_uuid_string(&ids, &root, partuuid);
        snprintf(part, sizeof(part), "%s1", o->ptable == KILN_PTABLE_GPT ? "gpt" : "msdos");

        /* kiln-init's settings travel on the kernel command line, where an
         * admin can see and change them in the boot menu. */
        _cleanup_free_ char *cmdline = NULL;
        if (asprintf(&cmdline, "%s%s%s%s", o->kernel_cmdline ? o->kernel_cmdline : "",
                     o->kernel_cmdline && o->ssh_host_key_types ? " " : "",
                     o->ssh_host_key_types && !o->distro_initramfs ? "kiln.ssh_keytypes=" : "",
                     o->ssh_host_key_types && !o->distro_initramfs ? o->ssh_host_key_types : "") < 0)
                return -ENOMEM;
        struct kiln_grub_cfg gc = {
                .distro = distro_name(b->t, distro, sizeof(distro)),
                .kernel = &b->kernel,
                .fs_uuid = fs_uuid,
                .root_partuuid = partuuid,
                .cmdline = cmdline,
        };
        char *cfg = kiln_grub_cfg(&gc);
        if (!cfg)
                return -ENOMEM;
        r = kiln_tree_put_file(b->t, "boot/grub/grub.cfg", 0644, cfg, strlen(cfg), b->when, NULL);
        free(cfg);
        if (r >= 0)
                r = add_grub_defaults(b);
        bool efi = o->ptable == KILN_PTABLE_GPT && o->boot_mode != KILN_BOOT_LEGACY_BIOS;
        if (r >= 0) {
                /* The FAT volume id doubles as the ESP's filesystem UUID. */
                uint32_t v = b->esp_volume_id;
                snprintf(esp_uuid, sizeof(esp_uuid), "%04X-%04X", v >> 16, v & 0xffff);
                r = ensure_fstab(b, fs_uuid, efi ? esp_uuid : NULL);
        }
        if (r >= 0 && o->boot_mode != KILN_BOOT_UEFI)
                r = prepare_bios(b, fs_uuid, part);
        if (r >= 0 && efi)
                r = prepare_efi(b, fs_uuid, part);
        if (r >= 0 && efi) {
                /* fstab mounts the ESP there; only systemd would make it. */
                struct kiln_dentry *d;
                if (kiln_tree_lookup(b->t, "boot/efi", &d) < 0) {
                        struct kiln_inode *in = kiln_tree_new_inode(b->t);
                        if (!in)
                                return -ENOMEM;
                        in->mode = S_IFDIR | 0755;
                        in->atime = in->mtime = in->ctime = b->when;
                        r = kiln_tree_add(b->t, "boot/efi", in, NULL);
                }
        }
        return r;
}

/* ---------- sizes ---------- */

static int size_disk(struct build *b, uint64_t *ret_disk)
{
        const struct kiln_build_opts *o = b->o;
        uint64_t overhead = kiln_layout_overhead(o->ptable, o->boot_mode), need;
        int r;

        if (o->size) {
                r = kiln_ext4_min_size(b->t, 0, &need);
                if (r < 0)
                        return r;
                if (need + overhead > o->size)
                        return kiln_errorf(-ENOSPC, "image too small for rootfs '%s': it needs at least %llu MiB (%llu bytes), "
                                           "the size given is %llu bytes", o->rootfs,
                                           (unsigned long long)DIV_ROUND_UP(need + overhead, MIB),
                                           (unsigned long long)(need + overhead), (unsigned long long)o->size);
                *ret_disk = o->size;
                return 0;
        }
        r = kiln_ext4_min_size(b->t, MAX(AUTO_HEADROOM, b->t->data_bytes / 10), &need);
        if (r < 0)
                return r;
        *ret_disk = ROUND_UP(need + overhead, MIB);
        return 0;
}

/* SHA-256 of the whole image.  Holes are fed as zeros from memory rather
 * than read, so the cost is the hashing alone. */
static int digest_file(int fd, uint64_t size, char hex[65])
{
        static const uint8_t zeros[1 << 16];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        uint8_t md[32];
        unsigned int mdlen;
        size_t bufsz = 4 << 20;
        uint8_t *buf = malloc(bufsz);
        int r = 0;

        if (!ctx || !buf) {
                EVP_MD_CTX_free(ctx);
                free(buf);
                return -ENOMEM;
        }
        EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        for (uint64_t off = 0; off < size && r >= 0;) {
                off_t data = lseek(fd, (off_t)off, SEEK_DATA);
                uint64_t hole_end = data < 0 ? size : MIN((uint64_t)data, size);
                for (; off < hole_end; off += MIN(sizeof(zeros), hole_end - off))
                        EVP_DigestUpdate(ctx, zeros, (size_t)MIN(sizeof(zeros), hole_end - off));
                if (off >= size)
                        break;
                off_t hole = lseek(fd, (off_t)off, SEEK_HOLE);
                uint64_t data_end = hole < 0 ? size : MIN((uint64_t)hole, size);
                while (off < data_end) {
                        ssize_t n = pread(fd, buf, (size_t)MIN(bufsz, data_end - off), (off_t)off);
                        if (n <= 0) {
                                r = n < 0 ? -errno : -EIO;
                                break;
                        }
                        EVP_DigestUpdate(ctx, buf, (size_t)n);
                        off += (uint64_t)n;
                }
        }
        EVP_DigestFinal_ex(ctx, md, &mdlen);
        EVP_MD_CTX_free(ctx);
        free(buf);
        for (int i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        return r;
}

/* ---------- the build ---------- */

static int write_image(struct build *b, struct kiln_disk *disk, const struct kiln_ext4_opts *eo)
{
        const struct kiln_build_opts *o = b->o;
        struct kiln_layout *l = &b->res.layout;
        struct kiln_disk *slice = NULL;
        int r;

        if (o->ptable == KILN_PTABLE_NONE)
                return kiln_ext4_write(disk, b->t, eo, &b->res.fs);

        const struct kiln_part *root = kiln_layout_find(l, KILN_PART_ROOT);
        r = kiln_disk_new_slice(disk, root->start * KILN_SECTOR, root->size * KILN_SECTOR / 4096 * 4096, &slice);
        if (r < 0)
                return r;
        r = kiln_ext4_write(slice, b->t, eo, &b->res.fs);
        kiln_disk_free(slice);
        if (r < 0)
                return r;

        const struct kiln_part *esp = kiln_layout_find(l, KILN_PART_ESP);
        if (esp && b->esp) {
                phase(b, "esp");
                struct kiln_fat_opts fo = {
                        .label = "EFI",
                        .volume_id = b->esp_volume_id,
                        .mtime = b->now,
                        .hidden_sectors = (uint32_t)esp->start,
                        .fat_bits = 32, /* UEFI firmware expects FAT32 on an ESP */
                };
                r = kiln_disk_new_slice(disk, esp->start * KILN_SECTOR, esp->size * KILN_SECTOR, &slice);
                if (r < 0)
                        return r;
                r = kiln_fat_write(b->esp, slice, &fo, NULL);
                kiln_disk_free(slice);
                if (r < 0)
                        return kiln_error_prefix(r, "writing the EFI system partition");
        }
        phase(b, "partitions");
        r = kiln_ptable_write(disk, l);
        if (r < 0)
                return kiln_error_prefix(r, "writing the partition table");
        if (b->core_img) {
                r = kiln_grub_install_bios(disk, l, b->core_img, b->core_len, b->boot_img);
                if (r < 0)
                        return kiln_error_prefix(r, "installing GRUB for BIOS");
        }
        return 0;
}

/*
 * Installing the outputs.  IMAGE.json, IMAGE.kiln.json and IMAGE are renamed
 * into place one at a time, so a failure after the first rename must undo
 * the ones done for the folder to keep the whole old set (kiln(1): a failed
 * build leaves an existing output as it was).  Each step is undoable:
 *  - where the name exists, renameat2(RENAME_EXCHANGE) swaps the new file
 *    in and the old one out to the temporary's name; swapping back undoes it
 *    (and on success the temporary, now the old file, is removed);
 *  - where it does not, the new file is renamed in (RENAME_NOREPLACE where
 *    the filesystem has it); removing it undoes that;
 *  - on a filesystem without RENAME_EXCHANGE (NFS, say), the old file is
 *    renamed aside to a temporary name first, then the new one in; renaming
 *    the old one back undoes both.
 * The order: the two JSON files, then the image, then an fsync of the
 * folder.  The image goes last because it is what users and scripts look
 * for: once it is there its metadata is too, so a new image never appears
 * beside old (or no) metadata, even to a reader racing the build.  Each
 * failure point then leaves the old set: a failed step undoes itself, the
 * steps before it are undone in reverse order, and a failed fsync of the
 * folder undoes all three (the new set is not known to be on disk).  Only a
 * crash between two renames (power loss, SIGKILL) can leave a mixed set; the
 * files themselves are synced before any of them is renamed, so whatever
 * set is found after a crash holds whole files.
 */
enum install_how { INSTALL_NONE, INSTALL_NEW, INSTALL_SWAPPED, INSTALL_ASIDE };

struct install_step {
        const char *tmp, *final; /* the new file's temporary name, its name */
        char *aside;             /* INSTALL_ASIDE: where the old file waits */
        enum install_how how;
};

/* KILN_TEST_FAIL_RENAME=N: step N (1-3 the renames, 4 the folder's fsync) fails. */
static bool install_fault(struct build *b, unsigned *step)
{
        return ++*step == b->o->fail_rename;
}

static int install_one(struct build *b, struct install_step *st, unsigned *step)
{
        const char *output = b->o->output;
        int fd;

        if (install_fault(b, step))
                return kiln_errorf(-EIO, "cannot install '%s': renaming '%s' into place: injected rename failure (step #%u)",
                                   output, st->final, *step);
        if (b->o->no_rename_exchange) { /* tests: as on a filesystem without it */
                errno = access(st->final, F_OK) == 0 ? EINVAL : ENOENT;
        } else if (renameat2(AT_FDCWD, st->tmp, AT_FDCWD, st->final, RENAME_EXCHANGE) == 0) {
                st->how = INSTALL_SWAPPED;
                return 0;
        }
        if (errno == ENOENT && access(st->tmp, F_OK) == 0) {
                /* Nothing to replace. */
                if (renameat2(AT_FDCWD, st->tmp, AT_FDCWD, st->final, RENAME_NOREPLACE) == 0 ||
                    ((errno == EINVAL || errno == ENOSYS) && rename(st->tmp, st->final) == 0)) {
                        st->how = INSTALL_NEW;
                        return 0;
                }
        } else if (errno == EINVAL || errno == ENOSYS) {
                /* No RENAME_EXCHANGE here: the old file steps aside first. */
                int r = open_temp(st->final, ".old", &st->aside, &fd);
                if (r < 0)
                        return kiln_error_prefix(r, "cannot install '%s'", output);
                close(fd);
                if (rename(st->final, st->aside) == 0) {
                        if (rename(st->tmp, st->final) == 0) {
                                st->how = INSTALL_ASIDE;
                                return 0;
                        }
                        int e = errno;
                        rename(st->aside, st->final);
                        errno = e;
                }
                int e = errno;
                unlink(st->aside);
                errno = e;
        }
        return kiln_errorf(-errno, "cannot install '%s': cannot rename '%s' into place: %m", output, st->final);
}

/* Undo one step; errors are ignored (the first failure is the one reported). */
static void install_undo(struct install_step *st)
{
        switch (st->how) {
        case INSTALL_SWAPPED:
                renameat2(AT_FDCWD, st->tmp, AT_FDCWD, st->final, RENAME_EXCHANGE);
                break;
        case INSTALL_NEW:
                unlink(st->final);
                break;
        case INSTALL_ASIDE:
                rename(st->aside, st->final);
                break;
        case INSTALL_NONE:
                break;
        }
        st->how = INSTALL_NONE;
}

static int sync_folder(const char *dir)
{
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        /* Some filesystems cannot sync a folder (EINVAL): nothing more to do there. */
        if (fsync(fd) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

static int install_outputs(struct build *b, const char *jpath, const char *kpath)
{
        struct install_step steps[] = {
                { .tmp = b->tmp_json, .final = jpath },
                { .tmp = b->tmp_kjson, .final = kpath },
                { .tmp = b->tmp_image, .final = b->o->output },
        };
        unsigned step = 0;
        size_t done = 0;
        int r = 0;

        for (; done < ARRAY_SIZE(steps); done++) {
                r = install_one(b, &steps[done], &step);
                if (r < 0)
                        break;
        }
        if (r >= 0) {
                if (install_fault(b, &step))
                        r = kiln_errorf(-EIO, "cannot install '%s': syncing folder '%s': injected folder sync failure (step #%u)",
                                        b->o->output, b->outdir, step);
                else if ((r = sync_folder(b->outdir)) < 0)
                        r = kiln_errorf(r, "cannot install '%s': cannot sync folder '%s': %s", b->o->output, b->outdir,
                                        strerror(-r));
        }
        if (r < 0) {
                while (done > 0)
                        install_undo(&steps[--done]);
                sync_folder(b->outdir);
        }
        /* What was swapped or set aside is the old file now: it goes. */
        for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
                if (steps[i].aside) {
                        unlink(steps[i].aside);
                        free(steps[i].aside);
                }
        }
        return r;
}

/* Temporaries a signal handler may remove (unlink is async-signal-safe). */
static char *volatile live_temps[3];

void kiln_build_abort_cleanup(void)
{
        for (size_t i = 0; i < ARRAY_SIZE(live_temps); i++)
                if (live_temps[i])
                        unlink(live_temps[i]);
}

static void track_temps(struct build *b)
{
        live_temps[0] = b->tmp_image;
        live_temps[1] = b->tmp_json;
        live_temps[2] = b->tmp_kjson;
}

static void build_free(struct build *b)
{
        memset((void *)live_temps, 0, sizeof(live_temps));
        if (b->tmp_image)
                unlink(b->tmp_image);
        if (b->tmp_json)
                unlink(b->tmp_json);
        if (b->tmp_kjson)
                unlink(b->tmp_kjson);
        free(b->tmp_image);
        free(b->tmp_json);
        free(b->tmp_kjson);
        free(b->core_img);
        free(b->boot_img);
        kiln_fat_free(b->esp);
        kiln_tree_free(b->t);
        free(b->outdir);
        kiln_scrub_report_free(&b->res.scrubbed);
}

int kiln_build(const struct kiln_build_opts *o, struct kiln_build_result *ret)
{
        struct build b = { .o = o };
        struct kiln_disk *disk = NULL;
        _cleanup_close_ int fd = -1;
        char *json = NULL;
        int r;

        b.now = o->reproducible ? o->epoch : time(NULL);
        b.when = (struct timespec){ b.now, 0 };
        if (o->size % KILN_SECTOR)
                return kiln_errorf(-EINVAL, "image size %llu is not a multiple of 512 bytes", (unsigned long long)o->size);
        if (o->ptable == KILN_PTABLE_NONE && o->size % 4096)
                return kiln_errorf(-EINVAL, "image size %llu is not a multiple of 4096 bytes", (unsigned long long)o->size);
        if (o->ptable == KILN_PTABLE_MBR && o->boot_mode != KILN_BOOT_LEGACY_BIOS)
                return kiln_errorf(-EINVAL, "an MBR disk boots only in legacy-bios mode, not '%s' (use --partition-table gpt)",
                                   kiln_boot_mode_to_string(o->boot_mode));
        b.outdir = dir_of(o->output);
        if (!b.outdir)
                return -ENOMEM;
        struct stat st;
        if (stat(b.outdir, &st) < 0 || !S_ISDIR(st.st_mode)) {
                r = kiln_errorf(-ENOENT, "cannot write output '%s': folder '%s' does not exist", o->output, b.outdir);
                goto out;
        }

        r = kiln_tree_new(&b.t);
        if (r < 0)
                goto out;
        b.t->default_time = b.when;
        phase(&b, "reading");
        r = read_rootfs(b.t, o->rootfs, b.outdir);
        if (r < 0)
                goto out;
        r = kiln_scrub(b.t, &o->scrub, &b.res.scrubbed);
        if (r < 0)
                goto out;
        if (o->reproducible)
                kiln_tree_clamp_times(b.t, o->epoch);

        if (o->fs_uuid)
                memcpy(b.res.fs_uuid, o->fs_uuid, 16);
        else
                make_uuid(o, "ext4-uuid", b.res.fs_uuid);
        make_ids(&b);
        if (o->ptable != KILN_PTABLE_NONE) {
                phase(&b, "boot loader");
                r = prepare_boot(&b);
                if (r < 0)
                        goto out;
        }
        kiln_tree_finalize(b.t);

        phase(&b, "sizing");
        r = size_disk(&b, &b.res.size);
        if (r < 0)
                goto out;
        if (o->ptable != KILN_PTABLE_NONE) {
                r = kiln_layout_plan(o->ptable, o->boot_mode, o->arch, b.res.size, &b.res.layout);
                if (r < 0)
                        goto out;
                b.res.layout.mbr_signature = b.mbr_signature;
                memcpy(b.res.layout.disk_guid, b.disk_guid, 16);
                for (size_t i = 0; i < b.res.layout.n_parts; i++)
                        memcpy(b.res.layout.parts[i].uuid, b.part_uuid[b.res.layout.parts[i].role], 16);
        }

        struct kiln_ext4_opts eo = { .label = o->label, .now = b.now };
        memcpy(eo.uuid, b.res.fs_uuid, 16);
        make_uuid(o, "ext4-hash-seed", eo.hash_seed);
        if (o->progress) {
                eo.progress = ext4_progress;
                eo.progress_ud = (void *)o;
        }

        r = open_temp(o->output, "", &b.tmp_image, &fd);
        if (r < 0)
                goto out;
        track_temps(&b);
        r = kiln_disk_new_file(fd, b.res.size, &disk);
        if (r < 0) {
                r = kiln_errorf(r, "cannot size output '%s': %s", o->output, strerror(-r));
                goto out;
        }
        if (o->fail_write) {
                struct kiln_disk *f;
                r = kiln_disk_new_fault(disk, o->fail_write, &f);
                if (r < 0)
                        goto out;
                disk = f;
        }
        phase(&b, "writing");
        r = write_image(&b, disk, &eo);
        if (r < 0) {
                /* A source that cannot be read is the rootfs's problem, not the output's. */
                if (strncmp(kiln_last_error(), "cannot read rootfs", 18))
                        kiln_error_prefix(r, "cannot write '%s'", o->output);
                goto out;
        }
        phase(&b, "syncing");
        r = kiln_disk_flush(disk);
        if (r < 0) {
                r = kiln_errorf(r, "cannot write '%s': %s", o->output, strerror(-r));
                goto out;
        }
        /* SHA-256 cannot skip holes: its cost follows the apparent size, about
         * a second per GiB here, often more than the whole build; so it is
         * asked for (--digest), and past DIGEST_MAX left to sha256sum. */
        if (o->digest && b.res.size > DIGEST_MAX) {
                r = kiln_errorf(-EFBIG, "--digest: the image is larger than 16 GiB; hashing its holes would take minutes (use sha256sum)");
                goto out;
        }
        if (o->digest) {
                phase(&b, "digest");
                r = digest_file(fd, b.res.size, b.res.digest);
                if (r < 0) {
                        r = kiln_errorf(r, "cannot read back '%s': %s", b.tmp_image, strerror(-r));
                        goto out;
                }
        }

        /* Metadata first, image last (install_outputs): the image appears only with its JSON. */
        char *jpath = NULL, *kpath = NULL;
        if (asprintf(&jpath, "%s.json", o->output) < 0 || asprintf(&kpath, "%s.kiln.json", o->output) < 0) {
                free(jpath);
                r = -ENOMEM;
                goto out;
        }
        r = kiln_metadata_register_image(o, &b.res, &json);
        if (r >= 0)
                r = write_text_temp(jpath, "", json, &b.tmp_json);
        free(json);
        json = NULL;
        if (r >= 0)
                r = kiln_metadata_kiln(o, &b.res, &json);
        if (r >= 0)
                r = write_text_temp(kpath, "", json, &b.tmp_kjson);
        track_temps(&b);
        free(json);
        if (r >= 0)
                r = install_outputs(&b, jpath, kpath);
        free(jpath);
        free(kpath);
        if (r < 0)
                goto out;
        /* The temporaries' names now hold the old files, if any: build_free
         * removes them, as it removes the new ones after a failure. */
        b.res.files = b.t->n_inodes;
        b.res.data_bytes = b.t->data_bytes;
        *ret = b.res;
        b.res.scrubbed = (struct kiln_scrub_report){ 0 };
out:
        kiln_disk_free(disk);
        build_free(&b);
        return r;
}

void kiln_build_result_free(struct kiln_build_result *r)
{
        kiln_scrub_report_free(&r->scrubbed);
}
