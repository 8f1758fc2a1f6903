/* SPDX-License-Identifier: MIT */
#include "ptable.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

static const struct {
        const char *name;
        const char *guid;
} gpt_types[_KILN_GPT_TYPE_MAX] = {
        [KILN_GPT_BIOS_BOOT] = { "bios-boot", "21686148-6449-6E6F-744E-656564454649" },
        [KILN_GPT_ESP] = { "esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" },
        [KILN_GPT_LINUX_DATA] = { "linux-generic", "0FC63DAF-8483-4772-8E79-3D69D8477DE4" },
        [KILN_GPT_ROOT_X86_64] = { "root-x86-64", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" },
        [KILN_GPT_ROOT_ARM64] = { "root-arm64", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE" },
};

const char *kiln_gpt_type_to_string(enum kiln_gpt_type t)
{
        return (unsigned)t < _KILN_GPT_TYPE_MAX ? gpt_types[t].name : NULL;
}

int kiln_gpt_type_from_string(const char *s)
{
        for (unsigned i = 0; i < _KILN_GPT_TYPE_MAX; i++)
                if (!strcmp(gpt_types[i].name, s))
                        return (int)i;
        return -EINVAL;
}

void kiln_gpt_type_guid(enum kiln_gpt_type t, uint8_t ret[16])
{
        /* The table holds valid GUID strings; the unit test checks each. */
        if (parse_uuid(gpt_types[t].guid, ret) < 0)
                memset(ret, 0, 16);
}

/* ---------- planning ---------- */

static void add_part(struct kiln_layout *l, enum kiln_part_role role, uint32_t number, uint64_t start,
                     uint64_t size, enum kiln_gpt_type type, uint8_t mbr_type, const char *name)
{
        struct kiln_part *p = &l->parts[l->n_parts++];

        memset(p, 0, sizeof(*p));
        p->role = role;
        p->number = number;
        p->start = start;
        p->size = size;
        kiln_gpt_type_guid(type, p->type);
        p->mbr_type = mbr_type;
        p->name = name;
}

static uint64_t root_start(int kind, int boot_mode)
{
        if (kind == KILN_PTABLE_MBR)
                return KILN_ALIGN_SECTORS;
        switch (boot_mode) {
        case KILN_BOOT_LEGACY_BIOS:
                return KILN_ALIGN_SECTORS + KILN_BIOS_BOOT_SECTORS;
        case KILN_BOOT_UEFI:
                return KILN_ALIGN_SECTORS + KILN_ESP_SECTORS;
        default:
                return KILN_ALIGN_SECTORS + KILN_BIOS_BOOT_SECTORS + KILN_ESP_SECTORS;
        }
}

uint64_t kiln_layout_overhead(int kind, int boot_mode)
{
        if (kind == KILN_PTABLE_NONE)
                return 0;
        /* GPT keeps 33 sectors at the end for the backup; round up to 1 MiB. */
        return (root_start(kind, boot_mode) + KILN_ALIGN_SECTORS) * KILN_SECTOR;
}

int kiln_layout_plan(int kind, int boot_mode, int arch, uint64_t disk_bytes, struct kiln_layout *ret)
{
        struct kiln_layout l = { .kind = kind, .sectors = disk_bytes / KILN_SECTOR };
        uint64_t start = root_start(kind, boot_mode), end;

        if (disk_bytes % KILN_SECTOR)
                return kiln_errorf(-EINVAL, "disk size %llu is not a multiple of 512 bytes",
                                   (unsigned long long)disk_bytes);
        switch (kind) {
        case KILN_PTABLE_NONE:
                break;
        case KILN_PTABLE_MBR:
                if (boot_mode != KILN_BOOT_LEGACY_BIOS)
                        return kiln_errorf(-EINVAL, "an MBR disk boots only in legacy-bios mode, not '%s' (use a GPT disk for UEFI)",
                                           kiln_boot_mode_to_string(boot_mode));
                if (l.sectors - 1 > UINT32_MAX)
                        return kiln_errorf(-EINVAL, "an MBR disk holds at most 2 TiB; use a GPT disk");
                if (l.sectors <= start)
                        return kiln_errorf(-ENOSPC, "disk too small for an MBR layout");
                add_part(&l, KILN_PART_ROOT, 1, start, l.sectors - start, KILN_GPT_LINUX_DATA, 0x83, NULL);
                l.parts[0].bootable = true;
                break;
        case KILN_PTABLE_GPT:
                end = l.sectors > 34 ? l.sectors - 34 : 0; /* last usable */
                if (end < start + KILN_ALIGN_SECTORS)
                        return kiln_errorf(-ENOSPC, "disk too small for a GPT layout");
                add_part(&l, KILN_PART_ROOT, 1, start, end - start + 1,
                         arch == KILN_ARCH_ARM64 ? KILN_GPT_ROOT_ARM64 : KILN_GPT_ROOT_X86_64, 0, "root");
                uint64_t s = KILN_ALIGN_SECTORS;
                if (boot_mode != KILN_BOOT_UEFI) {
                        add_part(&l, KILN_PART_BIOS_BOOT, 14, s, KILN_BIOS_BOOT_SECTORS, KILN_GPT_BIOS_BOOT, 0, "bios");
                        s += KILN_BIOS_BOOT_SECTORS;
                }
                if (boot_mode != KILN_BOOT_LEGACY_BIOS)
                        add_part(&l, KILN_PART_ESP, 15, s, KILN_ESP_SECTORS, KILN_GPT_ESP, 0, "esp");
                break;
        default:
                return -EINVAL;
        }
        *ret = l;
        return 0;
}

const struct kiln_part *kiln_layout_find(const struct kiln_layout *l, enum kiln_part_role role)
{
        for (size_t i = 0; i < l->n_parts; i++)
                if (l->parts[i].role == role)
                        return &l->parts[i];
        return NULL;
}

void kiln_part_uuid_string(const struct kiln_layout *l, const struct kiln_part *p, char buf[40])
{
        if (l->kind == KILN_PTABLE_MBR)
                snprintf(buf, 40, "%08x-%02x", l->mbr_signature, p->number);
        else
                format_uuid(p->uuid, buf);
}

/* ---------- writing ---------- */

/* GUIDs are stored with their first three fields little-endian. */
static void guid_to_disk(uint8_t *p, const uint8_t g[16])
{
        p[0] = g[3], p[1] = g[2], p[2] = g[1], p[3] = g[0];
        p[4] = g[5], p[5] = g[4];
        p[6] = g[7], p[7] = g[6];
        memcpy(p + 8, g + 8, 8);
}

static void chs(uint8_t *p, uint64_t lba)
{
        uint64_t c = lba / (255 * 63), h = (lba / 63) % 255, s = lba % 63 + 1;

        if (c > 1023) { /* past CHS reach: the conventional "maximum" triple */
                p[0] = 0xfe;
                p[1] = 0xff;
                p[2] = 0xff;
                return;
        }
        p[0] = (uint8_t)h;
        p[1] = (uint8_t)(s | ((c >> 2) & 0xc0));
        p[2] = (uint8_t)c;
}

static void mbr_entry(uint8_t *e, bool active, uint8_t type, uint64_t start, uint64_t size)
{
        e[0] = active ? 0x80 : 0;
        chs(e + 1, start);
        e[4] = type;
        chs(e + 5, start + size - 1);
        put_le32(e + 8, (uint32_t)start);
        put_le32(e + 12, (uint32_t)MIN(size, (uint64_t)UINT32_MAX));
}

static int write_mbr(struct kiln_disk *d, const struct kiln_layout *l)
{
        uint8_t s[KILN_SECTOR] = { 0 };

        put_le32(s + 0x1b8, l->mbr_signature);
        for (size_t i = 0; i < l->n_parts; i++) {
                const struct kiln_part *p = &l->parts[i];
                mbr_entry(s + 0x1be + 16 * (p->number - 1), p->bootable, p->mbr_type, p->start, p->size);
        }
        s[510] = 0x55;
        s[511] = 0xaa;
        return kiln_disk_pwrite(d, s, sizeof(s), 0);
}

static void gpt_header(uint8_t *h, const struct kiln_layout *l, uint64_t my, uint64_t alt, uint64_t entries_lba,
                       uint32_t array_crc)
{
        memset(h, 0, KILN_SECTOR);
        memcpy(h, "EFI PART", 8);
        put_le32(h + 8, 0x00010000);
        put_le32(h + 12, 92);
        put_le64(h + 24, my);
        put_le64(h + 32, alt);
        put_le64(h + 40, 34);
        put_le64(h + 48, l->sectors - 34);
        guid_to_disk(h + 56, l->disk_guid);
        put_le64(h + 72, entries_lba);
        put_le32(h + 80, KILN_GPT_ENTRIES);
        put_le32(h + 84, 128);
        put_le32(h + 88, array_crc);
        put_le32(h + 16, (uint32_t)crc32(0, h, 92));
}

static int write_gpt(struct kiln_disk *d, const struct kiln_layout *l)
{
        uint8_t pmbr[KILN_SECTOR] = { 0 }, hdr[KILN_SECTOR];
        _cleanup_free_ uint8_t *arr = calloc(KILN_GPT_ENTRIES, 128);
        int r;

        if (!arr)
                return -ENOMEM;
        if (l->sectors < 2 * 34 + KILN_ALIGN_SECTORS)
                return kiln_errorf(-ENOSPC, "disk too small for a GPT");
        /* Protective MBR: one 0xEE entry from LBA 1 over the whole disk. */
        pmbr[0x1be + 0] = 0;
        pmbr[0x1be + 1] = 0x00;
        pmbr[0x1be + 2] = 0x02;
        pmbr[0x1be + 3] = 0x00;
        pmbr[0x1be + 4] = 0xee;
        pmbr[0x1be + 5] = 0xff;
        pmbr[0x1be + 6] = 0xff;
        pmbr[0x1be + 7] = 0xff;
        put_le32(pmbr + 0x1be + 8, 1);
        put_le32(pmbr + 0x1be + 12, (uint32_t)MIN(l->sectors - 1, (uint64_t)UINT32_MAX));
        pmbr[510] = 0x55;
        pmbr[511] = 0xaa;

        for (size_t i = 0; i < l->n_parts; i++) {
                const struct kiln_part *p = &l->parts[i];
                uint8_t *e = arr + 128 * (p->number - 1);
                guid_to_disk(e, p->type);
                guid_to_disk(e + 16, p->uuid);
                put_le64(e + 32, p->start);
                put_le64(e + 40, p->start + p->size - 1);
                for (size_t c = 0; p->name && p->name[c] && c < 36; c++)
                        put_le16(e + 56 + 2 * c, (uint8_t)p->name[c]);
        }
        uint32_t array_crc = (uint32_t)crc32(0, arr, KILN_GPT_ENTRIES * 128);

        /* Backup first, primary last: a table is valid only once both are. */
        r = kiln_disk_pwrite(d, arr, KILN_GPT_ENTRIES * 128, (l->sectors - 33) * KILN_SECTOR);
        if (r < 0)
                return r;
        gpt_header(hdr, l, l->sectors - 1, 1, l->sectors - 33, array_crc);
        r = kiln_disk_pwrite(d, hdr, KILN_SECTOR, (l->sectors - 1) * KILN_SECTOR);
        if (r < 0)
                return r;
        r = kiln_disk_pwrite(d, arr, KILN_GPT_ENTRIES * 128, 2 * KILN_SECTOR);
        if (r < 0)
                return r;
        gpt_header(hdr, l, 1, l->sectors - 1, 2, array_crc);
        r = kiln_disk_pwrite(d, hdr, KILN_SECTOR, KILN_SECTOR);
        if (r < 0)
                return r;
        return kiln_disk_pwrite(d, pmbr, KILN_SECTOR, 0);
}

int kiln_ptable_write(struct kiln_disk *d, const struct kiln_layout *l)
{
        switch (l->kind) {
        case KILN_PTABLE_GPT:
                return write_gpt(d, l);
        case KILN_PTABLE_MBR:
                return write_mbr(d, l);
        default:
                return 0;
        }
}
