/* SPDX-License-Identifier: MIT */
/* Format knowledge kept in tables: names <-> enums for every closed set. */
#ifndef KILN_TABLES_H
#define KILN_TABLES_H

enum kiln_arch { KILN_ARCH_X86_64, KILN_ARCH_ARM64, _KILN_ARCH_MAX };
enum kiln_virt { KILN_VIRT_HVM, KILN_VIRT_PARAVIRTUAL, _KILN_VIRT_MAX };
enum kiln_boot_mode {
        KILN_BOOT_LEGACY_BIOS,
        KILN_BOOT_UEFI,
        KILN_BOOT_UEFI_PREFERRED,
        _KILN_BOOT_MAX
};
enum kiln_ptable { KILN_PTABLE_GPT, KILN_PTABLE_MBR, KILN_PTABLE_NONE, _KILN_PTABLE_MAX };
enum kiln_volume_type {
        KILN_VOL_GP2,
        KILN_VOL_GP3,
        KILN_VOL_IO1,
        KILN_VOL_IO2,
        KILN_VOL_ST1,
        KILN_VOL_SC1,
        KILN_VOL_STANDARD,
        _KILN_VOL_MAX
};

/* to_string returns NULL for out-of-range values; from_string returns -EINVAL
 * for unknown names.  Names are the ones EC2 and Packer use. */
const char *kiln_arch_to_string(enum kiln_arch a);
int kiln_arch_from_string(const char *s);
const char *kiln_virt_to_string(enum kiln_virt v);
int kiln_virt_from_string(const char *s);
const char *kiln_boot_mode_to_string(enum kiln_boot_mode b);
int kiln_boot_mode_from_string(const char *s);
const char *kiln_ptable_to_string(enum kiln_ptable p);
int kiln_ptable_from_string(const char *s);
const char *kiln_volume_type_to_string(enum kiln_volume_type v);
int kiln_volume_type_from_string(const char *s);

#endif
