/* SPDX-License-Identifier: MIT */
/*
 * GRUB, installed offline: images made with grub-mkimage, core.img embedded
 * and boot.img patched exactly as grub-bios-setup would leave them, modules
 * copied where grub-install puts them, and the boot menu.
 */
#ifndef KILN_BOOT_GRUB_H
#define KILN_BOOT_GRUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"
#include "ptable.h"
#include "tree.h"

/* A GRUB platform folder (i386-pc, x86_64-efi) ready for grub-mkimage -d. */
struct kiln_grub_dir {
        char *path;
        bool from_rootfs; /* else the build host's */
        char *tmpdir;     /* extracted from the rootfs; removed by _free */
};

int kiln_grub_locate(struct kiln_tree *t, const char *platform, const char *tmp_parent, struct kiln_grub_dir *ret);
void kiln_grub_dir_free(struct kiln_grub_dir *d);

/* Run grub-mkimage and return the image.  early_cfg may be NULL. */
int kiln_grub_mkimage(const struct kiln_grub_dir *d, const char *format, const char *prefix, const char *early_cfg,
                      const char *const *modules, const char *tmp_parent, uint8_t **ret, size_t *ret_len);

/* Copy *.mod, *.lst and friends into /boot/grub/<platform>/ of the tree, as
 * grub-install does, so the menu's insmod lines and update-grub work. */
int kiln_grub_copy_modules(struct kiln_tree *t, const struct kiln_grub_dir *d, const char *platform,
                           struct timespec when);

/* Read a file of the platform folder (boot.img). */
int kiln_grub_read(const struct kiln_grub_dir *d, const char *name, uint8_t **ret, size_t *ret_len);

/*
 * Embed core.img at the BIOS boot partition's first sector (GPT) or sector
 * 1 (MBR gap), fill its block list, then write boot.img to LBA 0 keeping the
 * partition table and BPB bytes of the current sector 0.
 */
int kiln_grub_install_bios(struct kiln_disk *disk, const struct kiln_layout *l, const uint8_t *core, size_t core_len,
                           const uint8_t boot_img[512]);

/* The newest kernel in /boot (or the one named), and its initrd if any. */
struct kiln_kernel {
        char version[128];
        char vmlinuz[256]; /* path inside the image, e.g. /boot/vmlinuz-6.1.0-28-cloud-amd64 */
        char initrd[256];  /* "" when there is none */
};
int kiln_find_kernel(struct kiln_tree *t, const char *want, struct kiln_kernel *ret);

struct kiln_grub_cfg {
        const char *distro;        /* menu title */
        const struct kiln_kernel *kernel;
        const char *fs_uuid;
        const char *root_partuuid;
        const char *cmdline;       /* extra kernel arguments, may be NULL */
};
/* The menu, as text (caller frees). */
char *kiln_grub_cfg(const struct kiln_grub_cfg *c);

#endif
