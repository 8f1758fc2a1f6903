/* SPDX-License-Identifier: MIT */
#include "grub.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec.h"
#include "util.h"

#define HOST_GRUB_DIR "/usr/lib/grub"
#define MAX_GRUB_FILE (16u << 20)

/* ---------- locating GRUB ---------- */

static int write_whole(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        if (fd < 0)
                return -errno;
        int r = write_full(fd, data, len);
        if (r < 0) {
                close(fd);
                return r;
        }
        return close(fd) < 0 ? -errno : 0;
}

static void remove_tree(const char *dir)
{
        DIR *dh = opendir(dir);
        char path[4096];

        if (dh) {
                for (struct dirent *de; (de = readdir(dh));) {
                        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                                continue;
                        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                        unlink(path);
                }
                closedir(dh);
        }
        rmdir(dir);
}

int kiln_grub_locate(struct kiln_tree *t, const char *platform, const char *tmp_parent, struct kiln_grub_dir *ret)
{
        struct kiln_grub_dir d = { 0 };
        struct kiln_dentry *dir, *kernel;
        char rel[128];
        int r;

        snprintf(rel, sizeof(rel), "usr/lib/grub/%s", platform);
        if (kiln_tree_lookup(t, rel, &dir) == 0 && S_ISDIR(dir->inode->mode) &&
            (kernel = kiln_tree_child(t, dir, strcmp(platform, "i386-pc") ? "normal.mod" : "kernel.img")) &&
            S_ISREG(kernel->inode->mode)) {
                if (asprintf(&d.tmpdir, "%s/.kiln-grub-XXXXXX", tmp_parent) < 0)
                        return -ENOMEM;
                if (!mkdtemp(d.tmpdir)) {
                        r = kiln_errorf(-errno, "cannot make a temporary folder in '%s': %m", tmp_parent);
                        free(d.tmpdir);
                        return r;
                }
                for (size_t i = 0; i < dir->n_children; i++) {
                        struct kiln_dentry *c = dir->children[i];
                        uint8_t *buf;
                        size_t len;
                        char path[4096];
                        if (!S_ISREG(c->inode->mode))
                                continue;
                        r = kiln_tree_read_file(t, c->inode, MAX_GRUB_FILE, &buf, &len);
                        if (r < 0)
                                goto fail;
                        snprintf(path, sizeof(path), "%s/%s", d.tmpdir, c->name);
                        r = write_whole(path, buf, len);
                        free(buf);
                        if (r < 0) {
                                r = kiln_errorf(r, "cannot write '%s': %s", path, strerror(-r));
                                goto fail;
                        }
                }
                d.path = strdup(d.tmpdir);
                d.from_rootfs = true;
        } else {
                char host[256];
                snprintf(host, sizeof(host), HOST_GRUB_DIR "/%s", platform);
                if (access(host, R_OK) < 0)
                        return kiln_errorf(-ENOENT, "no GRUB for %s: the rootfs has no /%s and the build host has no %s "
                                                    "(install %s)", platform, rel, host,
                                           strcmp(platform, "i386-pc") ? "grub-efi-amd64-bin" : "grub-pc-bin");
                d.path = strdup(host);
        }
        if (!d.path) {
                r = -ENOMEM;
                goto fail;
        }
        *ret = d;
        return 0;
fail:
        kiln_grub_dir_free(&d);
        return r;
}

void kiln_grub_dir_free(struct kiln_grub_dir *d)
{
        if (d->tmpdir) {
                remove_tree(d->tmpdir);
                free(d->tmpdir);
        }
        free(d->path);
        memset(d, 0, sizeof(*d));
}

int kiln_grub_read(const struct kiln_grub_dir *d, const char *name, uint8_t **ret, size_t *ret_len)
{
        char path[4096];
        int r;

        snprintf(path, sizeof(path), "%s/%s", d->path, name);
        r = read_full_file(path, MAX_GRUB_FILE, ret, ret_len);
        if (r < 0)
                return kiln_errorf(r, "cannot read GRUB's '%s': %s", path, strerror(-r));
        return 0;
}

/* ---------- grub-mkimage ---------- */

int kiln_grub_mkimage(const struct kiln_grub_dir *d, const char *format, const char *prefix, const char *early_cfg,
                      const char *const *modules, const char *tmp_parent, uint8_t **ret, size_t *ret_len)
{
        char tmp[4096], cfg[4200], out[4200];
        const char *argv[64];
        size_t n = 0;
        int r;

        if (kiln_which("grub-mkimage") < 0)
                return kiln_errorf(-ENOENT, "grub-mkimage not found on the build host (install grub-common)");
        snprintf(tmp, sizeof(tmp), "%s/.kiln-mkimage-XXXXXX", tmp_parent);
        if (!mkdtemp(tmp))
                return kiln_errorf(-errno, "cannot make a temporary folder in '%s': %m", tmp_parent);
        snprintf(cfg, sizeof(cfg), "%s/early.cfg", tmp);
        snprintf(out, sizeof(out), "%s/image", tmp);
        argv[n++] = "grub-mkimage";
        argv[n++] = "-d";
        argv[n++] = d->path;
        argv[n++] = "-O";
        argv[n++] = format;
        argv[n++] = "-o";
        argv[n++] = out;
        argv[n++] = "-p";
        argv[n++] = prefix;
        if (early_cfg) {
                r = write_whole(cfg, early_cfg, strlen(early_cfg));
                if (r < 0)
                        goto out;
                argv[n++] = "-c";
                argv[n++] = cfg;
        }
        for (size_t i = 0; modules[i] && n < ARRAY_SIZE(argv) - 1; i++)
                argv[n++] = modules[i];
        argv[n] = NULL;
        r = kiln_exec((char *const *)argv);
        if (r < 0)
                goto out;
        r = read_full_file(out, MAX_GRUB_FILE, ret, ret_len);
        if (r < 0)
                r = kiln_errorf(r, "cannot read grub-mkimage's output: %s", strerror(-r));
out:
        remove_tree(tmp);
        return r;
}

/* ---------- modules into /boot/grub ---------- */

static const char *const module_patterns[] = { "*.mod", "*.lst", "modinfo.sh", "efiemu*.o", "boot.img" };

int kiln_grub_copy_modules(struct kiln_tree *t, const struct kiln_grub_dir *d, const char *platform,
                           struct timespec when)
{
        DIR *dh = opendir(d->path);
        int r = 0;

        if (!dh)
                return kiln_errorf(-errno, "cannot list '%s': %m", d->path);
        /* readdir order varies; sort for a reproducible tree. */
        struct dirent **ents;
        closedir(dh);
        int n = scandir(d->path, &ents, NULL, alphasort);
        if (n < 0)
                return kiln_errorf(-errno, "cannot list '%s': %m", d->path);
        for (int i = 0; i < n; i++) {
                const char *name = ents[i]->d_name;
                bool want = false;
                for (size_t p = 0; p < ARRAY_SIZE(module_patterns); p++)
                        want |= fnmatch(module_patterns[p], name, 0) == 0;
                if (want && r >= 0) {
                        uint8_t *buf;
                        size_t len;
                        char dst[512];
                        r = kiln_grub_read(d, name, &buf, &len);
                        if (r >= 0) {
                                snprintf(dst, sizeof(dst), "boot/grub/%s/%s", platform, name);
                                r = kiln_tree_put_file(t, dst, 0644, buf, len, when, NULL);
                                free(buf);
                        }
                }
                free(ents[i]);
        }
        free(ents);
        return r;
}

/* ---------- BIOS embedding ---------- */

int kiln_grub_install_bios(struct kiln_disk *disk, const struct kiln_layout *l, const uint8_t *core, size_t core_len,
                           const uint8_t boot_img[512])
{
        uint64_t start, room;
        uint8_t mbr[512], boot[512];
        int r;

        if (l->kind == KILN_PTABLE_GPT) {
                const struct kiln_part *bb = kiln_layout_find(l, KILN_PART_BIOS_BOOT);
                if (!bb)
                        return kiln_errorf(-EINVAL, "no BIOS boot partition to embed GRUB into");
                start = bb->start;
                room = bb->size;
        } else {
                const struct kiln_part *root = kiln_layout_find(l, KILN_PART_ROOT);
                start = 1;
                room = root ? root->start - 1 : 0;
        }
        uint64_t n = DIV_ROUND_UP(core_len, 512);
        /* grub-bios-setup's own limit: what diskboot can load below 0x78000. */
        uint64_t max = MIN(room, (uint64_t)((0x78000 - 0x9000) >> 9));
        if (n < 2 || n > max)
                return kiln_errorf(-ENOSPC, "GRUB's core image (%llu sectors) does not fit in the %llu sectors before the first partition",
                                   (unsigned long long)n, (unsigned long long)max);
        _cleanup_free_ uint8_t *img = calloc(n, 512);
        if (!img)
                return -ENOMEM;
        memcpy(img, core, core_len);
        /* diskboot's block list: the rest of core.img follows its first sector. */
        put_le64(img + 0x1f4, start + 1);
        put_le16(img + 0x1f4 + 8, (uint16_t)(n - 1));
        put_le16(img + 0x1f4 + 10, 0x820);
        put_le16(img + 0x1e8 + 8, 0); /* terminator */
        r = kiln_disk_pwrite(disk, img, n * 512, start * 512);
        if (r < 0)
                return r;

        r = kiln_disk_pread(disk, mbr, sizeof(mbr), 0);
        if (r < 0)
                return r;
        memcpy(boot, boot_img, 512);
        memcpy(boot + 0x03, mbr + 0x03, 0x5a - 0x03);   /* BPB area */
        memcpy(boot + 0x1b8, mbr + 0x1b8, 0x1fe - 0x1b8); /* signature + partition table */
        put_le64(boot + 0x5c, start);                    /* kernel sector */
        boot[0x64] = 0xff;                               /* boot drive: from the BIOS */
        boot[0x66] = 0x90;                               /* drive check: NOPs (hard disk) */
        boot[0x67] = 0x90;
        boot[0x1fe] = 0x55;
        boot[0x1ff] = 0xaa;
        return kiln_disk_pwrite(disk, boot, sizeof(boot), 0);
}

/* ---------- kernel and menu ---------- */

static int vercmp_desc(const void *a, const void *b)
{
        return strverscmp(*(const char *const *)b, *(const char *const *)a);
}

int kiln_find_kernel(struct kiln_tree *t, const char *want, struct kiln_kernel *ret)
{
        struct kiln_dentry *boot;
        const char *found[256];
        size_t n = 0;
        char path[300];

        memset(ret, 0, sizeof(*ret));
        if (kiln_tree_lookup(t, "boot", &boot) < 0 || !S_ISDIR(boot->inode->mode))
                boot = NULL;
        for (size_t i = 0; boot && i < boot->n_children && n < ARRAY_SIZE(found); i++) {
                struct kiln_dentry *c = boot->children[i];
                if (!strncmp(c->name, "vmlinuz-", 8) && c->name[8] && S_ISREG(c->inode->mode))
                        found[n++] = c->name + 8;
        }
        if (want && *want) {
                const char *v = !strncmp(want, "/boot/vmlinuz-", 14) ? want + 14 : want;
                bool ok = false;
                for (size_t i = 0; i < n; i++)
                        ok |= !strcmp(found[i], v);
                if (!ok)
                        return kiln_errorf(-ENOENT, "kernel '%s' named in the spec is not in the rootfs's /boot", want);
                snprintf(ret->version, sizeof(ret->version), "%s", v);
        } else {
                if (n == 0)
                        return kiln_errorf(-ENOENT, "the rootfs has no kernel (no /boot/vmlinuz-*); install one in the rootfs "
                                                    "or name one with 'kernel:' in the spec");
                qsort(found, n, sizeof(*found), vercmp_desc);
                snprintf(ret->version, sizeof(ret->version), "%s", found[0]);
        }
        snprintf(ret->vmlinuz, sizeof(ret->vmlinuz), "/boot/vmlinuz-%s", ret->version);
        snprintf(path, sizeof(path), "boot/initrd.img-%s", ret->version);
        struct kiln_dentry *initrd;
        if (kiln_tree_lookup(t, path, &initrd) == 0 && S_ISREG(initrd->inode->mode))
                snprintf(ret->initrd, sizeof(ret->initrd), "/boot/initrd.img-%s", ret->version);
        return 0;
}

/* GRUB's script language treats quotes, '$', ';', '\\' and braces specially;
 * escaping them keeps each kernel argument as written, while GRUB joins the
 * words back with single spaces. */
static char *grub_escape(const char *s)
{
        size_t n = strlen(s);
        char *out = malloc(2 * n + 1), *o = out;

        if (!out)
                return NULL;
        for (; *s; s++) {
                if (strchr("\"'\\$;|&<>{}", *s))
                        *o++ = '\\';
                *o++ = *s;
        }
        *o = 0;
        return out;
}

char *kiln_grub_cfg(const struct kiln_grub_cfg *c)
{
        char *out = NULL;
        const struct kiln_kernel *k = c->kernel;
        char initrd[300] = "";

        _cleanup_free_ char *cmdline = grub_escape(c->cmdline ? c->cmdline : "");
        if (!cmdline)
                return NULL;
        if (k->initrd[0])
                snprintf(initrd, sizeof(initrd), "\tinitrd %s\n", k->initrd);
        if (asprintf(&out,
                     "# Written by kiln.  update-grub (grub-mkconfig) inside the guest replaces\n"
                     "# this file; kiln's settings for it are in /etc/default/grub.d/kiln.cfg.\n"
                     "set default=0\n"
                     "set timeout=1\n"
                     "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n"
                     "terminal_input serial console\n"
                     "terminal_output serial console\n"
                     "insmod part_gpt\n"
                     "insmod part_msdos\n"
                     "insmod ext2\n"
                     "search --no-floppy --fs-uuid --set=root %s\n"
                     "menuentry '%s, with Linux %s' --id 'kiln-%s' {\n"
                     "\tinsmod gzio\n"
                     "\tlinux %s root=PARTUUID=%s ro console=tty0 console=ttyS0,115200%s%s\n"
                     "%s"
                     "}\n",
                     c->fs_uuid, c->distro, k->version, k->version, k->vmlinuz, c->root_partuuid,
                     *cmdline ? " " : "", cmdline, initrd) < 0)
                return NULL;
        return out;
}
