/* SPDX-License-Identifier: MIT */
/*
 * Partition tables: the protective MBR + primary/backup GPT, or a classic
 * MBR.  Layout is computed as plain data first (kiln_layout_plan), then
 * written through the disk seam, so unit tests check bytes in memory.
 */
#ifndef KILN_PTABLE_H
#define KILN_PTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disk.h"
#include "tables.h"

#define KILN_SECTOR 512u
#define KILN_GPT_ENTRIES 128u
#define KILN_MAX_PARTS 8

enum kiln_part_role { KILN_PART_ROOT, KILN_PART_BIOS_BOOT, KILN_PART_ESP };

struct kiln_part {
        enum kiln_part_role role;
        uint32_t number;      /* 1-based GPT entry / MBR slot */
        uint64_t start, size; /* in 512-byte sectors */
        uint8_t type[16];     /* GPT type GUID, canonical byte order */
        uint8_t uuid[16];     /* GPT unique GUID, canonical byte order */
        uint8_t mbr_type;
        const char *name;
        bool bootable;        /* MBR active flag */
};

struct kiln_layout {
        int kind;             /* enum kiln_ptable */
        uint64_t sectors;     /* whole disk */
        uint8_t disk_guid[16];
        uint32_t mbr_signature;
        struct kiln_part parts[KILN_MAX_PARTS];
        size_t n_parts;
};

/* GPT partition type GUIDs, from a table. */
enum kiln_gpt_type {
        KILN_GPT_BIOS_BOOT,
        KILN_GPT_ESP,
        KILN_GPT_LINUX_DATA,
        KILN_GPT_ROOT_X86_64,
        KILN_GPT_ROOT_ARM64,
        _KILN_GPT_TYPE_MAX
};
const char *kiln_gpt_type_to_string(enum kiln_gpt_type t);
int kiln_gpt_type_from_string(const char *s);
void kiln_gpt_type_guid(enum kiln_gpt_type t, uint8_t ret[16]);

/* Sizes the boot partitions take (sectors). */
#define KILN_BIOS_BOOT_SECTORS 6144u  /* 3 MiB, as Debian's cloud images */
#define KILN_ESP_SECTORS 253952u      /* 124 MiB, as Debian's cloud images */
#define KILN_ALIGN_SECTORS 2048u      /* 1 MiB */

/*
 * Plan the partitions for a table kind and boot mode on a disk of
 * disk_bytes: Debian's cloud layout (p14 BIOS boot, p15 ESP, p1 root) for
 * GPT, one active partition at 1 MiB for MBR.  The root takes the rest.
 * GUIDs are filled by the caller.  Returns -EINVAL for combinations that
 * cannot boot (MBR + UEFI) and -ENOSPC when the root would be empty.
 */
int kiln_layout_plan(int kind, int boot_mode, int arch, uint64_t disk_bytes, struct kiln_layout *ret);
/* Bytes the layout needs besides the root filesystem. */
uint64_t kiln_layout_overhead(int kind, int boot_mode);
const struct kiln_part *kiln_layout_find(const struct kiln_layout *l, enum kiln_part_role role);

int kiln_ptable_write(struct kiln_disk *d, const struct kiln_layout *l);

/* PARTUUID as the kernel and blkid spell it ("...-01" for MBR). */
void kiln_part_uuid_string(const struct kiln_layout *l, const struct kiln_part *p, char buf[40]);

#endif
