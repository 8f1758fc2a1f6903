/* SPDX-License-Identifier: MIT */
/*
 * The partition table parser, the grow planner and the grow itself on
 * arbitrary bytes.  Input:
 *
 *   byte 0      flags: bit 0 = 4096-byte sectors, bit 1 = whole-disk mode
 *   byte 1      the partition number to grow
 *   whole-disk mode: the rest is the disk (kiln_parttable_parse)
 *   ends mode:  bytes 2-9 disk sectors (LE), 10-13 head length (LE), then the
 *               head (LBA 0 onwards) and the tail (ending at the last LBA)
 *               (kiln_parttable_parse_ends)
 *
 * Beyond "no crash, no leak" it checks what callers rely on: the parsed
 * partitions are sorted and, for a valid header, inside the usable LBAs and
 * disjoint; a plan never shrinks or moves a partition; and a grow applied to
 * a (sparse, in-memory) disk made of those bytes reads back as exactly the
 * planned table with every other partition untouched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "grow.h"
#include "parttable.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHUNK 4096u
#define MAX_CHUNKS 4096u

/* A sparse disk: only the sectors written exist. */
struct sparse {
        struct kiln_disk d;
        size_t n;
        uint64_t idx[MAX_CHUNKS];
        uint8_t *data[MAX_CHUNKS];
};

static uint8_t *chunk(struct sparse *s, uint64_t idx, bool create)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->idx[i] == idx)
                        return s->data[i];
        if (!create || s->n == MAX_CHUNKS)
                return NULL;
        s->data[s->n] = calloc(1, CHUNK);
        if (!s->data[s->n])
                return NULL;
        s->idx[s->n] = idx;
        return s->data[s->n++];
}

static int sparse_io(struct kiln_disk *d, uint8_t *r, const uint8_t *w, size_t len, uint64_t off)
{
        struct sparse *s = (struct sparse *)d;

        while (len) {
                size_t in = (size_t)(off % CHUNK), n = MIN(len, CHUNK - in);
                uint8_t *c = chunk(s, off / CHUNK, w != NULL);
                if (w) {
                        if (!c)
                                return -ENOMEM;
                        memcpy(c + in, w, n);
                        w += n;
                } else {
                        if (c)
                                memcpy(r, c + in, n);
                        else
                                memset(r, 0, n);
                        r += n;
                }
                off += n;
                len -= n;
        }
        return 0;
}

static int sparse_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        return sparse_io(d, buf, NULL, len, off);
}

static int sparse_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        return sparse_io(d, NULL, buf, len, off);
}

static void sparse_free(struct kiln_disk *d)
{
        struct sparse *s = (struct sparse *)d;
        for (size_t i = 0; i < s->n; i++)
                free(s->data[i]);
        free(s);
}

static const struct kiln_disk_ops sparse_ops = { .pread = sparse_pread, .pwrite = sparse_pwrite, .free = sparse_free };

static uint64_t rd(const uint8_t *p, int n)
{
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; i--)
                v = v << 8 | p[i];
        return v;
}

static void check_str(const char *s, size_t size)
{
        if (!memchr(s, 0, size))
                abort();
}

static void check_utf8(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        while (*p) {
                int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
                if (n < 0)
                        abort();
                p++;
                for (int i = 0; i < n; i++, p++)
                        if ((*p & 0xc0) != 0x80)
                                abort();
        }
}

static void check_header(const struct kiln_pt_gpt_header *h)
{
        check_str(h->problem, sizeof(h->problem));
        if (h->ok != !h->problem[0] || (h->ok && !h->found))
                abort();
        if (h->ok && (h->first_usable > h->last_usable || h->n_entries == 0 || h->n_entries > KILN_PT_MAX_ENTRIES ||
                      h->entry_size != KILN_PT_ENTRY_SIZE || h->my_lba != h->lba))
                abort();
}

static void check_table(const struct kiln_parttable *t)
{
        check_header(&t->primary);
        check_header(&t->backup);
        check_str(t->mbr_problem, sizeof(t->mbr_problem));
        if (t->headers_agree && (!t->primary.ok || !t->backup.ok))
                abort();
        if (t->n_parts > KILN_PT_MAX_PARTS || (unsigned)t->kind > KILN_PT_GPT)
                abort();
        if (t->kind == KILN_PT_MBR && t->mbr_ok != !t->mbr_problem[0])
                abort();
        const struct kiln_pt_gpt_header *h = t->primary.ok ? &t->primary : t->backup.ok ? &t->backup : NULL;
        if (t->kind == KILN_PT_GPT && !h && t->n_parts)
                abort();
        for (uint32_t i = 0; i < t->n_parts; i++) {
                const struct kiln_pt_part *p = &t->parts[i];
                check_str(p->name, sizeof(p->name));
                check_utf8(p->name);
                if (i && p->number <= t->parts[i - 1].number)
                        abort();
                if (p->first > p->last)
                        abort();
                if (t->kind == KILN_PT_MBR && (p->number < 1 || p->number > 4))
                        abort();
                if (t->kind == KILN_PT_GPT) {
                        if (p->first < h->first_usable || p->last > h->last_usable || p->number > h->n_entries)
                                abort();
                        for (uint32_t j = 0; j < i; j++)
                                if (p->first <= t->parts[j].last && t->parts[j].first <= p->last)
                                        abort();
                }
        }
}

static void check_plan(const struct kiln_parttable *t, int r, const struct kiln_grow_plan *p)
{
        if (r < 0) {
                if (r != -EBADMSG && r != -ENOENT && r != -EOPNOTSUPP && r != -EINVAL)
                        abort();
                return;
        }
        check_str(p->reason, sizeof(p->reason));
        const struct kiln_pt_part *part = kiln_parttable_find(t, p->partno);
        if (!part || !p->reason[0] || p->first != part->first || p->old_last != part->last || p->new_last < p->old_last ||
            p->new_last >= t->disk_sectors)
                abort();
        if (p->kind == KILN_PT_MBR && p->new_last > KILN_GROW_MBR_MAX_LBA && p->new_last != p->old_last)
                abort();
        if (p->kind == KILN_PT_GPT && p->write &&
            (p->new_last != p->new_last_usable || p->backup_lba != t->disk_sectors - 1 ||
             p->new_last_usable >= p->backup_entries_lba))
                abort();
}

/* Grow on a disk made of the bytes; the result must be the planned table. */
static void check_apply(const uint8_t *head, size_t head_len, const uint8_t *tail, size_t tail_len,
                        uint64_t disk_sectors, uint32_t ss, uint32_t partno)
{
        struct sparse *s = calloc(1, sizeof(*s));
        struct kiln_parttable *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
        struct kiln_grow_plan plan;

        if (!s || !before || !after)
                goto out;
        s->d.ops = &sparse_ops;
        s->d.size = disk_sectors * ss;
        /* The parser prefers the head where the two overlap: write it last. */
        if (tail_len && kiln_disk_pwrite(&s->d, tail, tail_len, s->d.size - tail_len) < 0)
                goto out;
        if (head_len && kiln_disk_pwrite(&s->d, head, head_len, 0) < 0)
                goto out;
        if (kiln_parttable_read(&s->d, ss, before) < 0)
                abort();
        check_table(before);
        int r = kiln_grow_plan(before, disk_sectors, partno, &plan);
        check_plan(before, r, &plan);
        if (r < 0)
                goto out;
        r = kiln_grow_apply(&s->d, &plan);
        if (r == -ENOMEM) /* the sparse disk ran out of chunks */
                goto out;
        if (r < 0 || kiln_parttable_read(&s->d, ss, after) < 0)
                abort();
        check_table(after);
        if (!plan.write) {
                if (memcmp(before, after, sizeof(*before)))
                        abort();
                goto out;
        }
        if (after->kind != before->kind || after->n_parts != before->n_parts)
                abort();
        for (uint32_t i = 0; i < after->n_parts; i++) {
                struct kiln_pt_part want = before->parts[i];
                if (want.number == partno)
                        want.last = plan.new_last;
                if (memcmp(&want, &after->parts[i], sizeof(want)))
                        abort();
        }
        if (after->kind == KILN_PT_GPT && (!after->headers_agree || after->primary.last_usable != plan.new_last_usable))
                abort();
        /* Done means done: a second plan has nothing to write. */
        if (kiln_grow_plan(after, disk_sectors, partno, &plan) < 0 || plan.write)
                abort();
out:
        if (s)
                kiln_disk_free(&s->d);
        free(before);
        free(after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_parttable *t = malloc(sizeof(*t));
        struct kiln_grow_plan plan;
        uint8_t *buf = NULL;
        uint32_t ss, partno;
        int r;

        if (!t || size < 2)
                goto out;
        ss = data[0] & 1 ? 4096 : 512;
        partno = data[1];
        /* A private copy, so ASan catches reads past the end. */
        buf = malloc(size);
        if (!buf)
                goto out;
        memcpy(buf, data, size);

        if (data[0] & 2) {
                r = kiln_parttable_parse(buf + 2, size - 2, ss, t);
                if (r < 0)
                        abort();
                check_table(t);
                r = kiln_grow_plan(t, t->disk_sectors, partno, &plan);
                check_plan(t, r, &plan);
                check_apply(buf + 2, t->disk_sectors * ss, NULL, 0, t->disk_sectors, ss, partno);
                goto out;
        }
        if (size < 14)
                goto out;
        uint64_t disk_sectors = rd(buf + 2, 8) & ((UINT64_C(1) << 42) - 1);
        size_t head_len = MIN((size_t)rd(buf + 10, 4), size - 14), tail_len = size - 14 - head_len;
        const uint8_t *head = buf + 14, *tail = head + head_len;

        r = kiln_parttable_parse_ends(head, head_len, tail, tail_len, disk_sectors, ss, t);
        if (r < 0) {
                if (r != -EINVAL || (head_len / ss <= disk_sectors && tail_len / ss <= disk_sectors))
                        abort();
                goto out;
        }
        check_table(t);
        r = kiln_grow_plan(t, disk_sectors, partno, &plan);
        check_plan(t, r, &plan);
        /* Only the whole sectors: that is what the parser saw. */
        if (head_len / ss * ss <= (1u << 20) && tail_len / ss * ss <= (64u << 10))
                check_apply(head, head_len / ss * ss, tail + tail_len % ss, tail_len / ss * ss, disk_sectors, ss, partno);
out:
        free(buf);
        free(t);
        return 0;
}
