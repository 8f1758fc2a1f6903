/* SPDX-License-Identifier: MIT */
/*
 * Grow the root partition to the end of its disk: plan (pure), then apply
 * through the disk seam in a crash-safe order (see grow.h).  The new end is
 * where cloud-utils' growpart puts it (its max_end): just before the next
 * partition that starts after this one, else the last usable sector (GPT:
 * the disk's last sector - 33 for the backup array and header, per UEFI
 * 2.x's GPT layout; MBR: capped at 2^32 - 1 sectors).
 */
#include "grow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "disk.h"
#include "util.h"

#define READ_HEAD (UINT64_C(1) << 20)
#define READ_TAIL (UINT64_C(64) << 10)

/* ---------- planning (pure) ---------- */

static uint64_t array_sectors(uint32_t n_entries, uint32_t ss)
{
        return DIV_ROUND_UP((uint64_t)n_entries * KILN_PT_ENTRY_SIZE, ss);
}

/* The partition starting after p's start, if any: then p is not the last. */
static const struct kiln_pt_part *next_part(const struct kiln_parttable *t, const struct kiln_pt_part *p)
{
        const struct kiln_pt_part *best = NULL;

        for (uint32_t i = 0; i < t->n_parts; i++) {
                const struct kiln_pt_part *q = &t->parts[i];
                if (q != p && q->first > p->first && (!best || q->first < best->first))
                        best = q;
        }
        return best;
}

static int plan_gpt(const struct kiln_parttable *t, struct kiln_grow_plan *p)
{
        const struct kiln_pt_gpt_header *h = &t->primary;
        const uint64_t N = p->disk_sectors;
        const struct kiln_pt_part *part, *next;
        uint64_t E, want_pmbr;
        bool gpt_write, moved, backup_bad;

        switch (t->pmbr) {
        case KILN_PMBR_PROTECTIVE:
                break;
        case KILN_PMBR_HYBRID:
                return kiln_errorf(-EOPNOTSUPP, "the disk has a hybrid MBR; growing a partition would leave its MBR copy behind");
        case KILN_PMBR_INVALID:
                return kiln_errorf(-EBADMSG, "the protective MBR's 0xEE entry does not start at LBA 1");
        default:
                return kiln_errorf(-EBADMSG, "no protective MBR in front of the GPT");
        }
        if (!h->ok)
                return kiln_errorf(-EBADMSG, "the primary GPT is invalid (%s); not guessing from the backup", h->problem);
        part = kiln_parttable_find(t, p->partno);
        if (!part)
                return kiln_errorf(-ENOENT, "no partition %u in the GPT", p->partno);

        E = array_sectors(h->n_entries, p->sector_size);
        if (N < E + 3 + h->first_usable)
                return kiln_errorf(-EINVAL, "a disk of %llu sectors is too small for its GPT", (unsigned long long)N);
        p->backup_lba = N - 1;
        p->backup_entries_lba = N - 1 - E;
        p->new_last_usable = N - 2 - E;
        if (h->alternate_lba >= N || h->last_usable > p->new_last_usable)
                return kiln_errorf(-EINVAL, "the disk (%llu sectors) is smaller than its GPT says (backup header at LBA %llu, last usable LBA %llu)",
                                   (unsigned long long)N, (unsigned long long)h->alternate_lba,
                                   (unsigned long long)h->last_usable);
        if (p->new_last_usable < h->first_usable)
                return kiln_errorf(-EINVAL, "a disk of %llu sectors is too small for its GPT", (unsigned long long)N);
        /* The primary array stays where it is when that is in front of the
         * usable LBAs; an array at the end (an interrupted grow) goes back
         * right after the header. */
        if (h->entries_lba + E <= h->first_usable)
                p->primary_entries_lba = h->entries_lba;
        else if (h->my_lba + 1 + E <= h->first_usable)
                p->primary_entries_lba = h->my_lba + 1;
        else
                return kiln_errorf(-EOPNOTSUPP, "no room for the primary GPT array in front of LBA %llu",
                                   (unsigned long long)h->first_usable);

        p->first = part->first;
        p->old_last = part->last;
        want_pmbr = MIN(N - 1, (uint64_t)UINT32_MAX);
        p->pmbr_size = (uint32_t)want_pmbr;
        p->write_pmbr = t->pmbr_size != want_pmbr;

        next = next_part(t, part);
        if (next) {
                p->new_last = part->last;
                p->write = false;
                snprintf(p->reason, sizeof(p->reason),
                         "partition %u is not the last on the disk: partition %u starts after it at LBA %llu",
                         p->partno, next->number, (unsigned long long)next->first);
                return 0;
        }

        p->new_last = p->new_last_usable;
        moved = h->alternate_lba != N - 1 || h->last_usable != p->new_last_usable;
        backup_bad = !t->backup.ok || !t->headers_agree;
        gpt_write = part->last < p->new_last || moved || backup_bad || h->entries_lba != p->primary_entries_lba;
        p->write = gpt_write || p->write_pmbr;
        if (part->last < p->new_last)
                snprintf(p->reason, sizeof(p->reason),
                         "grow partition %u from LBA %llu to %llu (disk %llu sectors, the GPT said %llu)", p->partno,
                         (unsigned long long)part->last, (unsigned long long)p->new_last, (unsigned long long)N,
                         (unsigned long long)(h->alternate_lba + 1));
        else if (h->entries_lba != p->primary_entries_lba)
                snprintf(p->reason, sizeof(p->reason),
                         "finish an interrupted grow: partition %u already ends at LBA %llu, the primary GPT array goes back to LBA %llu",
                         p->partno, (unsigned long long)part->last, (unsigned long long)p->primary_entries_lba);
        else if (moved)
                snprintf(p->reason, sizeof(p->reason), "move the backup GPT to the end of the disk (LBA %llu)",
                         (unsigned long long)p->backup_lba);
        else if (backup_bad)
                snprintf(p->reason, sizeof(p->reason), "rewrite the backup GPT from the primary (%s)",
                         t->backup.ok ? "it describes another table" : t->backup.problem);
        else if (p->write_pmbr)
                snprintf(p->reason, sizeof(p->reason), "set the protective MBR's size to %u sectors (was %u)",
                         p->pmbr_size, t->pmbr_size);
        else
                snprintf(p->reason, sizeof(p->reason),
                         "nothing to grow: partition %u already ends at LBA %llu, the last usable LBA of a %llu-sector disk",
                         p->partno, (unsigned long long)part->last, (unsigned long long)N);
        return 0;
}

static int plan_mbr(const struct kiln_parttable *t, struct kiln_grow_plan *p)
{
        const uint64_t N = p->disk_sectors;
        const struct kiln_pt_part *part, *next;
        uint64_t end;

        if (!t->mbr_ok)
                return kiln_errorf(-EBADMSG, "the MBR is not usable: %s", t->mbr_problem);
        if (p->partno > 4 && t->mbr_has_extended)
                return kiln_errorf(-EOPNOTSUPP, "partition %u is a logical partition; growing those is not supported",
                                   p->partno);
        part = kiln_parttable_find(t, p->partno);
        if (!part)
                return kiln_errorf(-ENOENT, "no partition %u in the MBR", p->partno);
        if (part->extended)
                return kiln_errorf(-EOPNOTSUPP, "partition %u is an extended partition; growing those is not supported",
                                   p->partno);
        p->first = part->first;
        p->old_last = p->new_last = part->last;

        next = next_part(t, part);
        if (next) {
                snprintf(p->reason, sizeof(p->reason),
                         "partition %u is not the last on the disk: partition %u starts after it at LBA %llu",
                         p->partno, next->number, (unsigned long long)next->first);
                return 0;
        }
        /* growpart: end 33 sectors short of the disk (room for a GPT backup
         * should the disk be converted), and within the first 2^32 sectors. */
        end = N > 34 ? N - 34 : 0;
        if (end > KILN_GROW_MBR_MAX_LBA) {
                end = KILN_GROW_MBR_MAX_LBA;
                p->capped = true;
        }
        if (end <= part->last) {
                if (p->capped)
                        snprintf(p->reason, sizeof(p->reason),
                                 "partition %u already reaches the MBR limit (LBA %llu); the rest of the %llu-sector disk stays unused",
                                 p->partno, (unsigned long long)KILN_GROW_MBR_MAX_LBA, (unsigned long long)N);
                else
                        snprintf(p->reason, sizeof(p->reason),
                                 "nothing to grow: partition %u already ends at LBA %llu on a %llu-sector disk", p->partno,
                                 (unsigned long long)part->last, (unsigned long long)N);
                return 0;
        }
        p->new_last = end;
        p->write = true;
        snprintf(p->reason, sizeof(p->reason), "grow partition %u from LBA %llu to %llu%s", p->partno,
                 (unsigned long long)part->last, (unsigned long long)end,
                 p->capped ? " (the MBR limit; the rest of the disk stays unused)" : "");
        return 0;
}

int kiln_grow_plan(const struct kiln_parttable *t, uint64_t disk_sectors, uint32_t partno, struct kiln_grow_plan *ret)
{
        struct kiln_grow_plan p = {
                .kind = t->kind,
                .partno = partno,
                .sector_size = t->sector_size,
                .disk_sectors = disk_sectors,
        };
        int r;

        if (disk_sectors != t->disk_sectors)
                return kiln_errorf(-EINVAL, "the table was read from a disk of %llu sectors, not %llu",
                                   (unsigned long long)t->disk_sectors, (unsigned long long)disk_sectors);
        switch (t->kind) {
        case KILN_PT_GPT:
                r = plan_gpt(t, &p);
                break;
        case KILN_PT_MBR:
                r = plan_mbr(t, &p);
                break;
        default:
                return kiln_errorf(-EBADMSG, "no partition table on the disk");
        }
        if (r < 0)
                return r;
        *ret = p;
        return 0;
}

/* ---------- reading ---------- */

struct raw {
        uint8_t *head, *tail;
        uint64_t head_sectors, tail_first, disk_sectors;
        uint32_t ss;
};

static void raw_free(struct raw *r)
{
        free(r->head);
        free(r->tail);
}

static int raw_read(struct kiln_disk *disk, uint32_t ss, struct raw *r)
{
        uint64_t head, tail;
        int k;

        memset(r, 0, sizeof(*r));
        if (ss != 512 && ss != 4096)
                return kiln_errorf(-EINVAL, "unsupported sector size %u", ss);
        r->ss = ss;
        r->disk_sectors = disk->size / ss;
        head = MIN(READ_HEAD / ss, r->disk_sectors);
        tail = MIN(READ_TAIL / ss, r->disk_sectors);
        r->head_sectors = head;
        r->tail_first = r->disk_sectors - tail;
        r->head = malloc(head ? head * ss : 1);
        r->tail = malloc(tail ? tail * ss : 1);
        if (!r->head || !r->tail) {
                raw_free(r);
                return -ENOMEM;
        }
        k = kiln_disk_pread(disk, r->head, head * ss, 0);
        if (k >= 0)
                k = kiln_disk_pread(disk, r->tail, tail * ss, r->tail_first * ss);
        if (k < 0) {
                raw_free(r);
                return kiln_error_prefix(k, "cannot read the partition table");
        }
        return 0;
}

/* Sectors [lba, lba+count) from what was read, or NULL. */
static const uint8_t *raw_at(const struct raw *r, uint64_t lba, uint64_t count)
{
        if (count == 0 || lba >= r->disk_sectors || count > r->disk_sectors - lba)
                return NULL;
        if (lba + count <= r->head_sectors)
                return r->head + lba * r->ss;
        if (lba >= r->tail_first)
                return r->tail + (lba - r->tail_first) * r->ss;
        return NULL;
}

static int raw_parse(const struct raw *r, struct kiln_parttable *t)
{
        return kiln_parttable_parse_ends(r->head, r->head_sectors * r->ss, r->tail,
                                         (r->disk_sectors - r->tail_first) * r->ss, r->disk_sectors, r->ss, t);
}

int kiln_parttable_read(struct kiln_disk *disk, uint32_t sector_size, struct kiln_parttable *ret)
{
        struct raw r;
        int k = raw_read(disk, sector_size, &r);

        if (k < 0)
                return k;
        k = raw_parse(&r, ret);
        raw_free(&r);
        return k;
}

/* ---------- writing ---------- */

static void wr32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
        wr32(p, (uint32_t)v);
        wr32(p + 4, (uint32_t)(v >> 32));
}

/* The primary header with the fields a grow changes; everything else (disk
 * GUID, first usable, revision, bytes past 92) is kept. */
static void make_header(uint8_t *out, const uint8_t *primary, uint32_t ss, uint32_t header_size, uint64_t my,
                        uint64_t alt, uint64_t last_usable, uint64_t entries_lba, uint32_t entries_crc)
{
        memcpy(out, primary, ss);
        wr64(out + 24, my);
        wr64(out + 32, alt);
        wr64(out + 48, last_usable);
        wr64(out + 72, entries_lba);
        wr32(out + 88, entries_crc);
        wr32(out + 16, 0);
        wr32(out + 16, (uint32_t)crc32(0, out, header_size));
}

static int write_flush(struct kiln_disk *d, const void *buf, size_t len, uint64_t lba, uint32_t ss, bool flush)
{
        int r = kiln_disk_pwrite(d, buf, len, lba * ss);
        if (r >= 0 && flush)
                r = kiln_disk_flush(d);
        if (r < 0)
                return kiln_error_prefix(r, "cannot write %zu bytes at LBA %llu", len, (unsigned long long)lba);
        return 0;
}

/* The backup array, then the backup header pointing at it, then a flush. */
static int write_backup(struct kiln_disk *d, const struct kiln_grow_plan *p, const struct kiln_pt_gpt_header *h,
                        const uint8_t *hdr, const uint8_t *arr, uint64_t E, uint32_t crc)
{
        const uint32_t ss = p->sector_size;
        _cleanup_free_ uint8_t *buf = malloc(ss);
        int r;

        if (!buf)
                return -ENOMEM;
        r = write_flush(d, arr, E * ss, p->backup_entries_lba, ss, false);
        if (r < 0)
                return r;
        make_header(buf, hdr, ss, h->header_size, p->backup_lba, h->my_lba, p->new_last_usable, p->backup_entries_lba,
                    crc);
        return write_flush(d, buf, ss, p->backup_lba, ss, true);
}

static int apply_gpt(struct kiln_disk *d, const struct kiln_grow_plan *p, const struct kiln_parttable *t,
                     const struct raw *raw)
{
        const struct kiln_pt_gpt_header *h = &t->primary;
        const uint32_t ss = p->sector_size;
        const uint64_t E = array_sectors(h->n_entries, ss);
        const uint8_t *hdr = raw_at(raw, h->my_lba, 1), *old_arr = raw_at(raw, h->entries_lba, E),
                      *at_dest = raw_at(raw, p->primary_entries_lba, E), *s0 = raw_at(raw, 0, 1);
        _cleanup_free_ uint8_t *arr = malloc(E * ss);
        _cleanup_free_ uint8_t *buf = malloc(ss);
        uint32_t crc;
        int r;

        if (!arr || !buf)
                return -ENOMEM;
        if (!hdr || !old_arr || !at_dest || !s0) /* the parser saw them, so they were read */
                return kiln_errorf(-EIO, "the partition table is outside the bytes read");

        memcpy(arr, old_arr, E * ss);
        wr64(arr + (size_t)(p->partno - 1) * KILN_PT_ENTRY_SIZE + 40, p->new_last);
        crc = (uint32_t)crc32(0, arr, h->n_entries * KILN_PT_ENTRY_SIZE);

        if (h->entries_lba != p->primary_entries_lba) {
                /* The primary uses an array elsewhere (at the end: a grow
                 * was interrupted after step 2), so nobody points at LBA 2:
                 * fill it, then switch the header.  The backup goes first
                 * unless it would overwrite part of the array the primary
                 * uses (the disk grew again by less than the array). */
                bool clash = h->entries_lba != p->backup_entries_lba &&
                             h->entries_lba <= p->backup_lba && h->entries_lba + E > p->backup_entries_lba;
                if (!clash) {
                        r = write_backup(d, p, h, hdr, arr, E, crc);
                        if (r < 0)
                                return r;
                }
                r = write_flush(d, arr, E * ss, p->primary_entries_lba, ss, true);
                if (r < 0)
                        return r;
                make_header(buf, hdr, ss, h->header_size, h->my_lba, p->backup_lba, p->new_last_usable,
                            p->primary_entries_lba, crc);
                r = write_flush(d, buf, ss, h->my_lba, ss, true);
                if (r < 0)
                        return r;
                if (clash) {
                        r = write_backup(d, p, h, hdr, arr, E, crc);
                        if (r < 0)
                                return r;
                }
        } else {
                /* 1. The backup, at the new end: nothing the primary needs
                 *    is there (the old primary names the old backup). */
                r = write_backup(d, p, h, hdr, arr, E, crc);
                if (r < 0)
                        return r;
                if (memcmp(at_dest, arr, E * ss)) {
                        /* 2. The primary header switches, in one sector, to
                         *    the new table using the backup's array (written
                         *    and flushed). */
                        make_header(buf, hdr, ss, h->header_size, h->my_lba, p->backup_lba, p->new_last_usable,
                                    p->backup_entries_lba, crc);
                        r = write_flush(d, buf, ss, h->my_lba, ss, true);
                        if (r < 0)
                                return r;
                        /* 3. Now nothing points at the primary array's place. */
                        r = write_flush(d, arr, E * ss, p->primary_entries_lba, ss, true);
                        if (r < 0)
                                return r;
                }
                /* 4. The primary header, final: one sector again. */
                make_header(buf, hdr, ss, h->header_size, h->my_lba, p->backup_lba, p->new_last_usable,
                            p->primary_entries_lba, crc);
                if (memcmp(buf, hdr, ss)) {
                        r = write_flush(d, buf, ss, h->my_lba, ss, true);
                        if (r < 0)
                                return r;
                }
        }

        /* 5. Last, the protective MBR's size: Linux only notes a stale one
         *    (pr_debug), libfdisk warns; a complete GPT matters more. */
        if (p->write_pmbr) {
                memcpy(buf, s0, ss);
                wr32(buf + 0x1be + 16 * t->pmbr_slot + 12, p->pmbr_size);
                r = write_flush(d, buf, ss, 0, ss, true);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* As builder/ptable.c: 255 heads, 63 sectors, the "maximum" triple past reach. */
static void chs(uint8_t *c, uint64_t lba)
{
        uint64_t cyl = lba / (255 * 63), head = (lba / 63) % 255, sec = lba % 63 + 1;

        if (cyl > 1023) {
                c[0] = 0xfe;
                c[1] = 0xff;
                c[2] = 0xff;
                return;
        }
        c[0] = (uint8_t)head;
        c[1] = (uint8_t)(sec | ((cyl >> 2) & 0xc0));
        c[2] = (uint8_t)cyl;
}

static int apply_mbr(struct kiln_disk *d, const struct kiln_grow_plan *p, const struct raw *raw)
{
        const uint8_t *s0 = raw_at(raw, 0, 1);
        _cleanup_free_ uint8_t *buf = malloc(p->sector_size);
        uint8_t *e;

        if (!buf)
                return -ENOMEM;
        if (!s0)
                return kiln_errorf(-EIO, "the MBR is outside the bytes read");
        memcpy(buf, s0, p->sector_size);
        e = buf + 0x1be + 16 * (p->partno - 1);
        chs(e + 5, p->new_last);
        wr32(e + 12, (uint32_t)(p->new_last - p->first + 1));
        /* The size field sits in one sector: one write, old or new. */
        return write_flush(d, buf, p->sector_size, 0, p->sector_size, true);
}

static bool same_plan(const struct kiln_grow_plan *a, const struct kiln_grow_plan *b)
{
        return a->write == b->write && a->kind == b->kind && a->partno == b->partno &&
               a->sector_size == b->sector_size && a->disk_sectors == b->disk_sectors && a->first == b->first &&
               a->old_last == b->old_last && a->new_last == b->new_last && a->new_last_usable == b->new_last_usable &&
               a->backup_entries_lba == b->backup_entries_lba && a->primary_entries_lba == b->primary_entries_lba &&
               a->write_pmbr == b->write_pmbr && a->pmbr_size == b->pmbr_size;
}

static int check_result(struct kiln_disk *d, const struct kiln_grow_plan *p, struct kiln_parttable *t)
{
        const struct kiln_pt_part *part;
        int r = kiln_parttable_read(d, p->sector_size, t);

        if (r < 0)
                return r;
        part = kiln_parttable_find(t, p->partno);
        if (t->kind != p->kind || !part || part->last != p->new_last)
                return kiln_errorf(-EIO, "partition %u does not end at LBA %llu when read back", p->partno,
                                   (unsigned long long)p->new_last);
        if (p->kind == KILN_PT_MBR)
                return t->mbr_ok ? 0 : kiln_errorf(-EIO, "the MBR read back is not usable: %s", t->mbr_problem);
        if (!t->primary.ok || !t->backup.ok || !t->headers_agree)
                return kiln_errorf(-EIO, "the GPT read back is not consistent (primary: %s; backup: %s)",
                                   t->primary.ok ? "ok" : t->primary.problem, t->backup.ok ? "ok" : t->backup.problem);
        if (t->primary.entries_lba != p->primary_entries_lba || t->pmbr_size != p->pmbr_size)
                return kiln_errorf(-EIO, "the GPT read back is not the one written");
        return 0;
}

int kiln_grow_apply(struct kiln_disk *disk, const struct kiln_grow_plan *plan)
{
        _cleanup_free_ struct kiln_parttable *t = malloc(sizeof(*t));
        struct kiln_grow_plan now;
        struct raw raw;
        int r;

        if (!t)
                return -ENOMEM;
        r = raw_read(disk, plan->sector_size, &raw);
        if (r < 0)
                return r;
        r = raw_parse(&raw, t);
        if (r >= 0)
                r = kiln_grow_plan(t, raw.disk_sectors, plan->partno, &now);
        if (r >= 0 && !same_plan(&now, plan))
                r = kiln_errorf(-ESTALE, "the partition table changed since the grow was planned; nothing written");
        if (r >= 0 && now.write) {
                if (now.kind == KILN_PT_GPT)
                        r = apply_gpt(disk, &now, t, &raw);
                else
                        r = apply_mbr(disk, &now, &raw);
                if (r >= 0)
                        r = check_result(disk, &now, t);
        }
        raw_free(&raw);
        return r < 0 ? r : 0;
}
