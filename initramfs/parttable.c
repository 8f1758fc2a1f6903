/* SPDX-License-Identifier: MIT */
/*
 * Partition table read-back.  Pure: bytes in, struct out.  The checks follow
 * what Linux (block/partitions/efi.c, msdos.c) and the UEFI spec ask of a
 * table, a little stricter where growing a partition needs certainty
 * (overlaps, partitions outside the usable LBAs).
 */
#include "parttable.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "util.h"

#define MBR_ENTRIES 0x1be
#define GPT_HEADER_MIN 92u

/* The bytes we have: [0, head_sectors) and [tail_first, disk_sectors). */
struct ends {
        const uint8_t *head, *tail;
        uint64_t head_sectors, tail_first, tail_sectors, disk_sectors;
        uint32_t ss;
};

static const uint8_t *sectors_at(const struct ends *e, uint64_t lba, uint64_t count)
{
        if (count == 0 || lba >= e->disk_sectors || count > e->disk_sectors - lba)
                return NULL;
        if (lba < e->head_sectors && count <= e->head_sectors - lba)
                return e->head + (size_t)lba * e->ss;
        if (lba >= e->tail_first && lba - e->tail_first + count <= e->tail_sectors)
                return e->tail + (size_t)(lba - e->tail_first) * e->ss;
        return NULL;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* On disk the first three GUID fields are little-endian; the swap is its own inverse. */
static void guid_from_disk(uint8_t g[16], const uint8_t *p)
{
        g[0] = p[3], g[1] = p[2], g[2] = p[1], g[3] = p[0];
        g[4] = p[5], g[5] = p[4];
        g[6] = p[7], g[7] = p[6];
        memcpy(g + 8, p + 8, 8);
}

static bool all_zero(const uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

static _printf_(2, 3) void problem(char buf[96], const char *fmt, ...)
{
        va_list ap;

        if (buf[0]) /* keep the first */
                return;
        va_start(ap, fmt);
        vsnprintf(buf, 96, fmt, ap);
        va_end(ap);
}

static bool ranges_overlap(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1)
{
        return a0 <= b1 && b0 <= a1; /* inclusive ends */
}

struct span {
        uint64_t first, last;
        uint32_t number;
};

/* Insertion sort: at most 128 entries. */
static void sort_spans(struct span *s, size_t n)
{
        for (size_t i = 1; i < n; i++) {
                struct span x = s[i];
                size_t j = i;
                while (j > 0 && (s[j - 1].first > x.first || (s[j - 1].first == x.first && s[j - 1].number > x.number))) {
                        s[j] = s[j - 1];
                        j--;
                }
                s[j] = x;
        }
}

static void check_overlaps(struct span *s, size_t n, char buf[96])
{
        sort_spans(s, n);
        for (size_t i = 1; i < n; i++)
                if (s[i].first <= s[i - 1].last)
                        problem(buf, "partitions %u and %u overlap", s[i - 1].number, s[i].number);
}

static void check_entries(const uint8_t *arr, const struct kiln_pt_gpt_header *h, char buf[96])
{
        struct span s[KILN_PT_MAX_ENTRIES];
        size_t n = 0;

        for (uint32_t i = 0; i < h->n_entries; i++) {
                const uint8_t *e = arr + (size_t)i * KILN_PT_ENTRY_SIZE;
                if (all_zero(e, 16))
                        continue;
                uint64_t first = rd64(e + 32), last = rd64(e + 40);
                if (first > last)
                        problem(buf, "partition %u ends (LBA %llu) before it starts (LBA %llu)", i + 1,
                                (unsigned long long)last, (unsigned long long)first);
                else if (first < h->first_usable || last > h->last_usable)
                        problem(buf, "partition %u (LBA %llu-%llu) lies outside the usable LBAs", i + 1,
                                (unsigned long long)first, (unsigned long long)last);
                else
                        s[n++] = (struct span){ first, last, i + 1 };
        }
        check_overlaps(s, n, buf);
}

static void parse_gpt_header(const struct ends *e, uint64_t lba, struct kiln_pt_gpt_header *h)
{
        uint8_t tmp[4096];
        const uint8_t *s, *arr;
        uint64_t n_sectors;

        memset(h, 0, sizeof(*h));
        h->lba = lba;
        if (e->disk_sectors < 3 || lba >= e->disk_sectors) {
                problem(h->problem, "the disk is too small for a GPT");
                return;
        }
        s = sectors_at(e, lba, 1);
        if (!s) {
                problem(h->problem, "LBA %llu is outside the bytes read", (unsigned long long)lba);
                return;
        }
        if (memcmp(s, "EFI PART", 8)) {
                problem(h->problem, "no GPT signature at LBA %llu", (unsigned long long)lba);
                return;
        }
        h->found = true;
        h->revision = rd32(s + 8);
        h->header_size = rd32(s + 12);
        h->header_crc = rd32(s + 16);
        h->my_lba = rd64(s + 24);
        h->alternate_lba = rd64(s + 32);
        h->first_usable = rd64(s + 40);
        h->last_usable = rd64(s + 48);
        guid_from_disk(h->disk_guid, s + 56);
        h->entries_lba = rd64(s + 72);
        h->n_entries = rd32(s + 80);
        h->entry_size = rd32(s + 84);
        h->entries_crc = rd32(s + 88);

        if (h->header_size < GPT_HEADER_MIN || h->header_size > e->ss) {
                problem(h->problem, "header size %u is not within %u..%u", h->header_size, GPT_HEADER_MIN, e->ss);
                return;
        }
        memcpy(tmp, s, h->header_size);
        memset(tmp + 16, 0, 4);
        if ((uint32_t)crc32(0, tmp, h->header_size) != h->header_crc) {
                problem(h->problem, "header CRC mismatch");
                return;
        }
        if (h->my_lba != lba)
                problem(h->problem, "header at LBA %llu says it is at LBA %llu", (unsigned long long)lba,
                        (unsigned long long)h->my_lba);
        if (h->alternate_lba == lba || h->alternate_lba == 0)
                problem(h->problem, "alternate LBA %llu is not another sector", (unsigned long long)h->alternate_lba);
        if (h->entry_size != KILN_PT_ENTRY_SIZE)
                problem(h->problem, "entry size %u is not %u", h->entry_size, KILN_PT_ENTRY_SIZE);
        if (h->n_entries == 0 || h->n_entries > KILN_PT_MAX_ENTRIES)
                problem(h->problem, "%u entries is not within 1..%u", h->n_entries, KILN_PT_MAX_ENTRIES);
        if (h->first_usable > h->last_usable)
                problem(h->problem, "first usable LBA %llu is after the last, %llu", (unsigned long long)h->first_usable,
                        (unsigned long long)h->last_usable);
        if (h->last_usable >= e->disk_sectors)
                problem(h->problem, "last usable LBA %llu is past the end of the disk (%llu sectors)",
                        (unsigned long long)h->last_usable, (unsigned long long)e->disk_sectors);
        if (h->first_usable == 0 || (lba >= h->first_usable && lba <= h->last_usable))
                problem(h->problem, "the usable LBAs cover the MBR or the header");
        if (h->problem[0])
                return;

        n_sectors = DIV_ROUND_UP((uint64_t)h->n_entries * KILN_PT_ENTRY_SIZE, e->ss);
        if (h->entries_lba == 0 || h->entries_lba >= e->disk_sectors || n_sectors > e->disk_sectors - h->entries_lba) {
                problem(h->problem, "entry array at LBA %llu is past the end of the disk",
                        (unsigned long long)h->entries_lba);
                return;
        }
        if (ranges_overlap(h->entries_lba, h->entries_lba + n_sectors - 1, h->first_usable, h->last_usable) ||
            ranges_overlap(h->entries_lba, h->entries_lba + n_sectors - 1, lba, lba)) {
                problem(h->problem, "entry array at LBA %llu overlaps the header or the usable LBAs",
                        (unsigned long long)h->entries_lba);
                return;
        }
        arr = sectors_at(e, h->entries_lba, n_sectors);
        if (!arr) {
                problem(h->problem, "entry array at LBA %llu is outside the bytes read",
                        (unsigned long long)h->entries_lba);
                return;
        }
        if ((uint32_t)crc32(0, arr, h->n_entries * KILN_PT_ENTRY_SIZE) != h->entries_crc) {
                problem(h->problem, "entry array CRC mismatch");
                return;
        }
        check_entries(arr, h, h->problem);
        h->ok = !h->problem[0];
}

/* UTF-16LE (36 units, NUL-terminated or not) to UTF-8. */
static void name_to_utf8(const uint8_t *p, char out[KILN_PT_NAME_MAX + 1])
{
        size_t o = 0;

        for (size_t i = 0; i < 36; i++) {
                uint32_t c = rd16(p + 2 * i);
                if (c == 0)
                        break;
                if (c >= 0xd800 && c <= 0xdbff && i + 1 < 36) {
                        uint32_t lo = rd16(p + 2 * (i + 1));
                        if (lo >= 0xdc00 && lo <= 0xdfff) {
                                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                                i++;
                        } else {
                                c = 0xfffd;
                        }
                } else if (c >= 0xd800 && c <= 0xdfff) {
                        c = 0xfffd;
                }
                /* 36 units give at most 108 bytes: 3 per BMP unit, 4 per pair. */
                if (c < 0x80) {
                        out[o++] = (char)c;
                } else if (c < 0x800) {
                        out[o++] = (char)(0xc0 | c >> 6);
                        out[o++] = (char)(0x80 | (c & 0x3f));
                } else if (c < 0x10000) {
                        out[o++] = (char)(0xe0 | c >> 12);
                        out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
                        out[o++] = (char)(0x80 | (c & 0x3f));
                } else {
                        out[o++] = (char)(0xf0 | c >> 18);
                        out[o++] = (char)(0x80 | ((c >> 12) & 0x3f));
                        out[o++] = (char)(0x80 | ((c >> 6) & 0x3f));
                        out[o++] = (char)(0x80 | (c & 0x3f));
                }
        }
        out[o] = 0;
}

static void gpt_parts(const struct ends *e, const struct kiln_pt_gpt_header *h, struct kiln_parttable *t)
{
        uint64_t n_sectors = DIV_ROUND_UP((uint64_t)h->n_entries * KILN_PT_ENTRY_SIZE, e->ss);
        const uint8_t *arr = sectors_at(e, h->entries_lba, n_sectors);

        t->n_parts = 0;
        if (!arr) /* cannot happen for an ok header */
                return;
        for (uint32_t i = 0; i < h->n_entries; i++) {
                const uint8_t *en = arr + (size_t)i * KILN_PT_ENTRY_SIZE;
                if (all_zero(en, 16))
                        continue;
                struct kiln_pt_part *p = &t->parts[t->n_parts++];
                memset(p, 0, sizeof(*p));
                p->number = i + 1;
                guid_from_disk(p->type, en);
                guid_from_disk(p->uuid, en + 16);
                p->first = rd64(en + 32);
                p->last = rd64(en + 40);
                p->attributes = rd64(en + 48);
                name_to_utf8(en + 56, p->name);
        }
}

static bool mbr_is_extended(uint8_t type) { return type == 0x05 || type == 0x0f || type == 0x85; }

static void parse_sector0(const struct ends *e, struct kiln_parttable *t)
{
        const uint8_t *s = sectors_at(e, 0, 1);
        int protective = -1;
        bool any_ee = false;

        if (!s || s[510] != 0x55 || s[511] != 0xaa)
                return;
        t->mbr_magic = true;
        t->mbr_disk_id = rd32(s + 0x1b8);
        for (int i = 0; i < 4; i++) {
                const uint8_t *en = s + MBR_ENTRIES + 16 * i;
                if (en[4] != 0xee)
                        continue;
                any_ee = true;
                if (rd32(en + 8) == 1 && protective < 0)
                        protective = i;
        }
        if (protective >= 0) {
                const uint8_t *en = s + MBR_ENTRIES + 16 * protective;
                t->pmbr = KILN_PMBR_PROTECTIVE;
                t->pmbr_slot = (uint32_t)protective;
                t->pmbr_size = rd32(en + 12);
                /* As Linux's is_pmbr_valid(): any other used type makes it hybrid. */
                for (int i = 0; i < 4; i++) {
                        uint8_t type = s[MBR_ENTRIES + 16 * i + 4];
                        if (type != 0xee && type != 0)
                                t->pmbr = KILN_PMBR_HYBRID;
                }
        } else if (any_ee) {
                t->pmbr = KILN_PMBR_INVALID;
        }
}

static void parse_mbr(const struct ends *e, struct kiln_parttable *t)
{
        const uint8_t *s = sectors_at(e, 0, 1);
        struct span sp[4];
        size_t n = 0;

        t->n_parts = 0;
        for (uint32_t i = 0; i < 4; i++) {
                const uint8_t *en = s + MBR_ENTRIES + 16 * i;
                uint32_t start = rd32(en + 8), size = rd32(en + 12);
                if (size == 0) /* Linux and libfdisk: a slot is used when it has a size */
                        continue;
                struct kiln_pt_part *p = &t->parts[t->n_parts++];
                memset(p, 0, sizeof(*p));
                p->number = i + 1;
                p->first = start;
                p->last = (uint64_t)start + size - 1;
                p->mbr_type = en[4];
                p->mbr_active = en[0] == 0x80;
                p->extended = mbr_is_extended(en[4]);
                if (p->extended)
                        t->mbr_has_extended = true;
                if (en[0] != 0 && en[0] != 0x80)
                        problem(t->mbr_problem, "partition %u has a bad boot indicator 0x%02x", i + 1, en[0]);
                else if (start == 0)
                        problem(t->mbr_problem, "partition %u starts at LBA 0", i + 1);
                else if (p->last >= e->disk_sectors)
                        problem(t->mbr_problem, "partition %u (LBA %llu-%llu) extends past the end of the disk", i + 1,
                                (unsigned long long)p->first, (unsigned long long)p->last);
                else
                        sp[n++] = (struct span){ p->first, p->last, i + 1 };
        }
        check_overlaps(sp, n, t->mbr_problem);
        t->mbr_ok = !t->mbr_problem[0];
}

static bool same_table(const struct kiln_pt_gpt_header *a, const struct kiln_pt_gpt_header *b)
{
        return a->ok && b->ok && a->alternate_lba == b->my_lba && b->alternate_lba == a->my_lba &&
               a->first_usable == b->first_usable && a->last_usable == b->last_usable &&
               a->n_entries == b->n_entries && a->entries_crc == b->entries_crc &&
               !memcmp(a->disk_guid, b->disk_guid, 16);
}

static int parse(const struct ends *e, struct kiln_parttable *ret)
{
        struct kiln_parttable *t = ret;

        /* Built in place: the struct is ~20 KiB, too big to stage on a
         * PID 1 stack twice.  Nothing below fails, so *ret is never left
         * half-written. */
        memset(t, 0, sizeof(*t));
        t->sector_size = e->ss;
        t->disk_sectors = e->disk_sectors;
        parse_sector0(e, t);
        parse_gpt_header(e, 1, &t->primary);
        parse_gpt_header(e, e->disk_sectors ? e->disk_sectors - 1 : 0, &t->backup);
        t->headers_agree = same_table(&t->primary, &t->backup);

        if (t->pmbr != KILN_PMBR_NONE)
                t->kind = KILN_PT_GPT;
        else if (t->mbr_magic)
                t->kind = KILN_PT_MBR;
        else if (t->primary.found || t->backup.found)
                t->kind = KILN_PT_GPT;
        else
                t->kind = KILN_PT_NONE;

        if (t->kind == KILN_PT_MBR)
                parse_mbr(e, t);
        else if (t->kind == KILN_PT_GPT && t->primary.ok)
                gpt_parts(e, &t->primary, t);
        else if (t->kind == KILN_PT_GPT && t->backup.ok)
                gpt_parts(e, &t->backup, t);
        return 0;
}

static bool sector_size_ok(uint32_t ss) { return ss == 512 || ss == 4096; }

int kiln_parttable_parse(const void *buf, size_t len, uint32_t sector_size, struct kiln_parttable *ret)
{
        if (!sector_size_ok(sector_size) || (!buf && len))
                return -EINVAL;
        struct ends e = {
                .head = buf,
                .tail = buf,
                .ss = sector_size,
                .disk_sectors = len / sector_size,
        };
        e.head_sectors = e.tail_sectors = e.disk_sectors;
        return parse(&e, ret);
}

int kiln_parttable_parse_ends(const void *head, size_t head_len, const void *tail, size_t tail_len,
                              uint64_t disk_sectors, uint32_t sector_size, struct kiln_parttable *ret)
{
        if (!sector_size_ok(sector_size) || (!head && head_len) || (!tail && tail_len))
                return -EINVAL;
        struct ends e = {
                .head = head,
                .ss = sector_size,
                .disk_sectors = disk_sectors,
                .head_sectors = head_len / sector_size,
                .tail_sectors = tail_len / sector_size,
        };
        if (e.head_sectors > disk_sectors || e.tail_sectors > disk_sectors)
                return -EINVAL;
        /* The tail's whole sectors are the last ones of the disk. */
        e.tail = (const uint8_t *)tail + (tail_len - e.tail_sectors * sector_size);
        e.tail_first = disk_sectors - e.tail_sectors;
        return parse(&e, ret);
}

const struct kiln_pt_part *kiln_parttable_find(const struct kiln_parttable *t, uint32_t number)
{
        for (uint32_t i = 0; i < t->n_parts; i++)
                if (t->parts[i].number == number)
                        return &t->parts[i];
        return NULL;
}

const char *kiln_pt_kind_to_string(enum kiln_pt_kind k)
{
        static const char *const names[] = {
                [KILN_PT_NONE] = "none",
                [KILN_PT_MBR] = "mbr",
                [KILN_PT_GPT] = "gpt",
        };
        return (unsigned)k < ARRAY_SIZE(names) ? names[k] : NULL;
}
