/* SPDX-License-Identifier: MIT */
/*
 * Names for every closed set, spelt the way EC2 and Packer spell them.  Each
 * enum has one table indexed by value; to/from string are generated from it,
 * so adding a value means adding one line (test-tables checks the rest).
 */
#include "tables.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "util.h"

static const char *const arch_table[_KILN_ARCH_MAX] = {
        [KILN_ARCH_X86_64] = "x86_64",
        [KILN_ARCH_ARM64] = "arm64",
};

static const char *const virt_table[_KILN_VIRT_MAX] = {
        [KILN_VIRT_HVM] = "hvm",
        [KILN_VIRT_PARAVIRTUAL] = "paravirtual",
};

static const char *const boot_mode_table[_KILN_BOOT_MAX] = {
        [KILN_BOOT_LEGACY_BIOS] = "legacy-bios",
        [KILN_BOOT_UEFI] = "uefi",
        [KILN_BOOT_UEFI_PREFERRED] = "uefi-preferred",
};

static const char *const ptable_table[_KILN_PTABLE_MAX] = {
        [KILN_PTABLE_GPT] = "gpt",
        [KILN_PTABLE_MBR] = "mbr",
        [KILN_PTABLE_NONE] = "none",
};

static const char *const volume_type_table[_KILN_VOL_MAX] = {
        [KILN_VOL_GP2] = "gp2",
        [KILN_VOL_GP3] = "gp3",
        [KILN_VOL_IO1] = "io1",
        [KILN_VOL_IO2] = "io2",
        [KILN_VOL_ST1] = "st1",
        [KILN_VOL_SC1] = "sc1",
        [KILN_VOL_STANDARD] = "standard",
};

static const char *table_to_string(const char *const *table, size_t n, size_t i)
{
        /* Callers pass enums that may hold any int; reject rather than index. */
        return i < n ? table[i] : NULL;
}

static int table_from_string(const char *const *table, size_t n, const char *s)
{
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && strcmp(table[i], s) == 0)
                        return (int)i;
        return -EINVAL;
}

/* The cast to size_t sends negative values far out of range. */
#define DEFINE_STRING_TABLE(name, type, table)                                         \
        const char *name##_to_string(type v)                                           \
        {                                                                              \
                return table_to_string(table, ARRAY_SIZE(table), (size_t)v);           \
        }                                                                              \
        int name##_from_string(const char *s)                                          \
        {                                                                              \
                return table_from_string(table, ARRAY_SIZE(table), s);                 \
        }

DEFINE_STRING_TABLE(kiln_arch, enum kiln_arch, arch_table)
DEFINE_STRING_TABLE(kiln_virt, enum kiln_virt, virt_table)
DEFINE_STRING_TABLE(kiln_boot_mode, enum kiln_boot_mode, boot_mode_table)
DEFINE_STRING_TABLE(kiln_ptable, enum kiln_ptable, ptable_table)
DEFINE_STRING_TABLE(kiln_volume_type, enum kiln_volume_type, volume_type_table)
