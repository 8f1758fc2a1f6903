/* SPDX-License-Identifier: MIT */
/*
 * Growing the root partition: tables made by kiln's own writer (and by
 * sgdisk/sfdisk) on a small disk, copied into a bigger one (what
 * "qemu-img resize" leaves: the backup GPT mid-disk), planned, applied
 * through the disk seam, read back by our parser and by the real tools
 * (sgdisk -v, sfdisk --verify).  Crash safety: every write failed in turn
 * (the fault backend), and every sector of every write cut short.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../lib/tap.h"
#include "disk.h"
#include "grow.h"
#include "parttable.h"
#include "ptable.h"
#include "util.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)
#define OLD_SIZE (160 * MIB)
#define NEW_SIZE (256 * MIB)
#define CHUNK (64u << 10)

static char tmpdir[] = "/tmp/kiln-test-grow-XXXXXX";
static bool have_sgdisk, have_sfdisk;

/* ---------- a sparse memory disk, for 1-3 TiB disks ---------- */

struct sparse_disk {
        struct kiln_disk d;
        size_t n, cap;
        uint64_t *idx;
        uint8_t **data;
};

static uint8_t *sparse_chunk(struct sparse_disk *s, uint64_t idx, bool create)
{
        for (size_t i = 0; i < s->n; i++)
                if (s->idx[i] == idx)
                        return s->data[i];
        if (!create)
                return NULL;
        if (s->n == s->cap) {
                s->cap = s->cap ? 2 * s->cap : 16;
                s->idx = realloc(s->idx, s->cap * sizeof(*s->idx));
                s->data = realloc(s->data, s->cap * sizeof(*s->data));
                if (!s->idx || !s->data)
                        abort();
        }
        s->idx[s->n] = idx;
        s->data[s->n] = calloc(1, CHUNK);
        if (!s->data[s->n])
                abort();
        return s->data[s->n++];
}

static int sparse_io(struct kiln_disk *d, uint8_t *rbuf, const uint8_t *wbuf, size_t len, uint64_t off)
{
        struct sparse_disk *s = (struct sparse_disk *)d;

        while (len > 0) {
                uint64_t idx = off / CHUNK;
                size_t in = (size_t)(off % CHUNK), n = MIN(len, CHUNK - in);
                uint8_t *c = sparse_chunk(s, idx, wbuf != NULL);
                if (wbuf) {
                        memcpy(c + in, wbuf, n);
                        wbuf += n;
                } else {
                        if (c)
                                memcpy(rbuf, c + in, n);
                        else
                                memset(rbuf, 0, n);
                        rbuf += n;
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
        struct sparse_disk *s = (struct sparse_disk *)d;
        for (size_t i = 0; i < s->n; i++)
                free(s->data[i]);
        free(s->idx);
        free(s->data);
        free(s);
}

static const struct kiln_disk_ops sparse_ops = {
        .pread = sparse_pread,
        .pwrite = sparse_pwrite,
        .free = sparse_free,
};

static struct kiln_disk *sparse_new(uint64_t size)
{
        struct sparse_disk *s = calloc(1, sizeof(*s));
        if (!s)
                abort();
        s->d.ops = &sparse_ops;
        s->d.size = size;
        return &s->d;
}

/* ---------- a disk that loses power after a number of sectors ---------- */

struct cut_disk {
        struct kiln_disk d;
        struct kiln_disk *inner;
        uint64_t budget; /* sectors still written; then every write fails */
};

static int cut_pread(struct kiln_disk *d, void *buf, size_t len, uint64_t off)
{
        struct cut_disk *c = (struct cut_disk *)d;
        return kiln_disk_pread(c->inner, buf, len, off);
}

static int cut_pwrite(struct kiln_disk *d, const void *buf, size_t len, uint64_t off)
{
        struct cut_disk *c = (struct cut_disk *)d;
        uint64_t sectors = len / 512;

        if (sectors <= c->budget) {
                c->budget -= sectors;
                return kiln_disk_pwrite(c->inner, buf, len, off);
        }
        /* Sector by sector, in order: the first ones reach the platter. */
        if (c->budget)
                kiln_disk_pwrite(c->inner, buf, (size_t)c->budget * 512, off);
        c->budget = 0;
        return kiln_errorf(-EIO, "power cut");
}

static void cut_free(struct kiln_disk *d) { free(d); }

static const struct kiln_disk_ops cut_ops = {
        .pread = cut_pread,
        .pwrite = cut_pwrite,
        .free = cut_free,
};

static struct kiln_disk *cut_new(struct kiln_disk *inner, uint64_t budget)
{
        struct cut_disk *c = calloc(1, sizeof(*c));
        if (!c)
                abort();
        c->d.ops = &cut_ops;
        c->d.size = inner->size;
        c->inner = inner;
        c->budget = budget;
        return &c->d;
}

/* ---------- helpers ---------- */

static bool is_zero(const uint8_t *p, size_t n)
{
        static const uint8_t zero[CHUNK];

        for (size_t off = 0; off < n; off += CHUNK)
                if (memcmp(p + off, zero, MIN((size_t)CHUNK, n - off)))
                        return false;
        return true;
}

/* Calls fn for each 64 KiB block of d that may hold data. */
static void for_each_block(struct kiln_disk *d, void (*fn)(void *ctx, const uint8_t *blk, size_t len, uint64_t off),
                           void *ctx)
{
        const uint8_t *m = kiln_disk_memory_data(d);

        if (m) {
                for (uint64_t off = 0; off < d->size; off += CHUNK) {
                        size_t n = (size_t)MIN((uint64_t)CHUNK, d->size - off);
                        if (!is_zero(m + off, n))
                                fn(ctx, m + off, n, off);
                }
        } else if (d->ops == &sparse_ops) {
                struct sparse_disk *s = (struct sparse_disk *)d;
                for (size_t i = 0; i < s->n; i++) {
                        uint64_t off = s->idx[i] * CHUNK;
                        fn(ctx, s->data[i], (size_t)MIN((uint64_t)CHUNK, d->size - off), off);
                }
        } else {
                abort();
        }
}

static void copy_block(void *ctx, const uint8_t *blk, size_t len, uint64_t off)
{
        struct kiln_disk *to = ctx;
        if (off < to->size)
                kiln_disk_pwrite(to, blk, (size_t)MIN((uint64_t)len, to->size - off), off);
}

/* The disk made bigger, as qemu-img resize or a bigger EBS volume does. */
static struct kiln_disk *resized(struct kiln_disk *old, uint64_t size)
{
        struct kiln_disk *d;

        if (size > 4 * GIB) {
                d = sparse_new(size);
        } else if (kiln_disk_new_memory(size, &d) < 0) {
                abort();
        }
        for_each_block(old, copy_block, d);
        return d;
}

static void write_block(void *ctx, const uint8_t *blk, size_t len, uint64_t off)
{
        int fd = *(int *)ctx;
        if (pwrite(fd, blk, len, (off_t)off) != (ssize_t)len)
                abort();
}

/* A sparse file with the disk's bytes, for the real tools. */
static void dump(struct kiln_disk *d, const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd < 0 || ftruncate(fd, (off_t)d->size) < 0)
                abort();
        for_each_block(d, write_block, &fd);
        close(fd);
}

/* Reads the first and last MiB of an image file made by a tool. */
static struct kiln_disk *load(const char *path, uint64_t size)
{
        struct kiln_disk *d = size > 4 * GIB ? sparse_new(size) : NULL;
        uint8_t *buf = malloc(MIB);
        int fd = open(path, O_RDONLY);

        if (!d && kiln_disk_new_memory(size, &d) < 0)
                abort();
        if (fd < 0 || !buf)
                abort();
        for (int end = 0; end < 2; end++) {
                uint64_t off = end ? size - MIB : 0;
                if (pread(fd, buf, MIB, (off_t)off) != (ssize_t)MIB)
                        abort();
                if (!is_zero(buf, MIB))
                        kiln_disk_pwrite(d, buf, MIB, off);
        }
        close(fd);
        free(buf);
        return d;
}

/* Runs a shell command, returns its output (stdout + stderr). */
static char *run(const char *cmd, int *ret_status)
{
        static char out[16384];
        char full[2100];
        size_t n = 0, k;
        FILE *p;

        snprintf(full, sizeof(full), "%s 2>&1", cmd);
        p = popen(full, "r");
        if (!p)
                abort();
        while (n + 1 < sizeof(out) && (k = fread(out + n, 1, sizeof(out) - 1 - n, p)) > 0)
                n += k;
        out[n] = 0;
        int st = pclose(p);
        if (ret_status)
                *ret_status = st;
        return out;
}

/* "TOOL ARGS IMG": IMG stands for the path. */
static void subst(char *out, size_t size, const char *tmpl, const char *path)
{
        size_t o = 0;

        for (const char *t = tmpl; *t && o + 1 < size;) {
                if (!strncmp(t, "IMG", 3)) {
                        o += (size_t)snprintf(out + o, size - o, "%s", path);
                        t += 3;
                } else {
                        out[o++] = *t++;
                }
        }
        out[MIN(o, size - 1)] = 0;
}

static char *run_on(const char *tmpl, const char *path, int *ret_status)
{
        char cmd[2048];
        subst(cmd, sizeof(cmd), tmpl, path);
        return run(cmd, ret_status);
}

static void show(const char *out)
{
        char line[256];
        const char *p = out;
        while (*p) {
                size_t n = strcspn(p, "\n");
                snprintf(line, sizeof(line), "%.*s", (int)MIN(n, sizeof(line) - 1), p);
                tap_diag("  | %s", line);
                p += n + (p[n] == '\n');
        }
}

static bool sgdisk_clean(struct kiln_disk *d, const char *what)
{
        char path[256];
        if (!have_sgdisk)
                return true;
        snprintf(path, sizeof(path), "%s/%s.img", tmpdir, what);
        dump(d, path);
        char *out = run_on("sgdisk -v IMG", path, NULL);
        bool ok = strstr(out, "No problems found") != NULL;
        if (!ok)
                show(out);
        unlink(path);
        return ok;
}

static bool sfdisk_clean(struct kiln_disk *d, const char *what)
{
        char path[256];
        if (!have_sfdisk)
                return true;
        snprintf(path, sizeof(path), "%s/%s.img", tmpdir, what);
        dump(d, path);
        int st;
        char *out = run_on("sfdisk --verify IMG", path, &st);
        bool ok = st == 0 && strstr(out, "No errors detected") != NULL;
        if (!ok)
                show(out);
        unlink(path);
        return ok;
}

/* sfdisk --dump's "start=..., size=..." of a partition, as an inclusive end. */
static uint64_t sfdisk_end(struct kiln_disk *d, uint32_t partno)
{
        char path[256], key[300];
        uint64_t start, size;

        if (!have_sfdisk)
                return 0;
        snprintf(path, sizeof(path), "%s/dump.img", tmpdir);
        dump(d, path);
        char *out = run_on("sfdisk --dump IMG", path, NULL);
        snprintf(key, sizeof(key), "%s%u : start=", path, partno);
        char *l = strstr(out, key);
        unlink(path);
        if (!l || sscanf(l + strlen(key), " %" SCNu64 ", size= %" SCNu64, &start, &size) != 2)
                return 0;
        return start + size - 1;
}

/*
 * sgdisk reads the table: "usable", even with complaints (a backup not at
 * the end, an array not where the spec wants it), as long as the main
 * header and the main array are good and partition 1 ends where expected.
 */
static bool sgdisk_usable(struct kiln_disk *d, uint64_t want_end)
{
        char path[256], key[64];
        int st;
        bool ok;

        if (!have_sgdisk)
                return true;
        snprintf(path, sizeof(path), "%s/crash.img", tmpdir);
        dump(d, path);
        char *out = run_on("sgdisk -v IMG", path, &st);
        ok = st == 0 && !strstr(out, "overlap");
        if (strstr(out, "CRC") && !(strstr(out, "Main header: OK") && strstr(out, "Main partition table: OK")))
                ok = false;
        if (!ok)
                show(out);
        out = run_on("sgdisk -i 1 IMG", path, &st);
        snprintf(key, sizeof(key), "Last sector: %llu ", (unsigned long long)want_end);
        if (st != 0 || !strstr(out, key)) {
                show(out);
                ok = false;
        }
        unlink(path);
        return ok;
}

static void fill_ids(struct kiln_layout *l, const char *seed)
{
        for (size_t i = 0; i < l->n_parts; i++) {
                char purpose[16];
                snprintf(purpose, sizeof(purpose), "part%u", l->parts[i].number);
                derive_uuid(seed, strlen(seed), purpose, l->parts[i].uuid);
        }
        derive_uuid(seed, strlen(seed), "disk", l->disk_guid);
        l->mbr_signature = 0x5eed1234;
}

/* A table written by kiln's own builder on an old disk of old_size. */
static struct kiln_disk *kiln_table(int kind, int mode, uint64_t old_size)
{
        struct kiln_layout l;
        struct kiln_disk *d = sparse_new(old_size);

        if (kiln_layout_plan(kind, mode, KILN_ARCH_X86_64, old_size, &l) < 0)
                abort();
        fill_ids(&l, "grow");
        if (kiln_ptable_write(d, &l) < 0)
                abort();
        return d;
}

static struct kiln_parttable *read_table(struct kiln_disk *d)
{
        static struct kiln_parttable t[4];
        static int slot;
        struct kiln_parttable *r = &t[slot++ % 4];
        if (kiln_parttable_read(d, 512, r) < 0)
                abort();
        return r;
}

static bool same_part(const struct kiln_pt_part *a, const struct kiln_pt_part *b)
{
        return a && b && a->number == b->number && a->first == b->first && a->last == b->last &&
               !memcmp(a->type, b->type, 16) && !memcmp(a->uuid, b->uuid, 16) && a->attributes == b->attributes &&
               !strcmp(a->name, b->name) && a->mbr_type == b->mbr_type && a->mbr_active == b->mbr_active;
}

/* The others are untouched, partno ends at new_last. */
static bool parts_as_expected(const struct kiln_parttable *before, const struct kiln_parttable *after, uint32_t partno,
                              uint64_t new_last)
{
        if (before->n_parts != after->n_parts)
                return false;
        for (uint32_t i = 0; i < before->n_parts; i++) {
                struct kiln_pt_part want = before->parts[i];
                if (want.number == partno)
                        want.last = new_last;
                if (!same_part(&want, kiln_parttable_find(after, want.number)))
                        return false;
        }
        return true;
}

/* The bytes that make up a table: LBA 0-33 and the last 33 sectors. */
static void table_bytes(struct kiln_disk *d, uint8_t buf[67 * 512])
{
        kiln_disk_pread(d, buf, 34 * 512, 0);
        kiln_disk_pread(d, buf + 34 * 512, 33 * 512, d->size - 33 * 512);
}

/* ---------- GPT: the resize case, end to end ---------- */

static unsigned count_writes(struct kiln_disk *d, const struct kiln_grow_plan *p)
{
        struct kiln_disk *copy = resized(d, d->size), *f;
        kiln_disk_new_fault(copy, 0, &f); /* never fails, counts */
        if (kiln_grow_apply(f, p) < 0)
                abort();
        unsigned n = kiln_disk_fault_writes(f);
        kiln_disk_free(f);
        return n;
}

/*
 * Every write failed in turn, then every sector cut short: after each, the
 * primary GPT is valid (Linux reads nothing else without "gpt" on its
 * command line), the root ends at the old or the new end, the other
 * partitions never move, sgdisk reads it, and planning + applying again
 * finishes the job with exactly the table an uninterrupted grow writes.
 */
static void test_crash(struct kiln_disk *start, uint32_t partno, const char *what, bool tools)
{
        struct kiln_parttable *t0 = malloc(sizeof(*t0));
        struct kiln_grow_plan plan, again;
        uint8_t *want = malloc(67 * 512), *got = malloc(67 * 512);
        unsigned writes, bad = 0, bad_tools = 0, bad_finish = 0, both_bad = 0, states = 0;
        uint64_t sectors = 0;

        /* The states live on sparse disks: ~150 of them, each dumped for
         * sgdisk now and then, would otherwise page through 256 MiB. */
        struct kiln_disk *base = sparse_new(start->size);
        for_each_block(start, copy_block, base);
        *t0 = *read_table(start);
        if (kiln_grow_plan(t0, t0->disk_sectors, partno, &plan) < 0 || !plan.write)
                abort();
        {
                struct kiln_disk *d = resized(start, start->size);
                kiln_grow_apply(d, &plan);
                table_bytes(d, want);
                kiln_disk_free(d);
        }
        writes = count_writes(start, &plan);

        /* Pass 1: the fault backend fails write k.  Pass 2: the power goes
         * after s sectors (s over every sector the grow writes). */
        for (int pass = 1; pass <= 2; pass++) {
                for (uint64_t k = pass == 1 ? 1 : 0; pass == 2 || k <= writes; k++) {
                        struct kiln_disk *inner = sparse_new(start->size), *f;
                        for_each_block(base, copy_block, inner);
                        if (pass == 1) {
                                kiln_disk_new_fault(inner, (unsigned)k, &f);
                        } else {
                                f = cut_new(inner, k);
                        }
                        int r = kiln_grow_apply(f, &plan);
                        if (pass == 2 && r == 0) { /* the budget outlasted the grow */
                                sectors = k;
                                kiln_disk_free(f);
                                kiln_disk_free(inner);
                                break;
                        }
                        states++;
                        struct kiln_parttable *t = read_table(inner);
                        const struct kiln_pt_part *p = kiln_parttable_find(t, partno);
                        bool old = p && p->last == plan.old_last, new = p && p->last == plan.new_last;
                        if (!t->primary.ok && !t->backup.ok)
                                both_bad++;
                        if (r != -EIO || t->kind != KILN_PT_GPT || t->pmbr != KILN_PMBR_PROTECTIVE || !t->primary.ok ||
                            !(old || new) || !parts_as_expected(t0, t, partno, p ? p->last : 0)) {
                                bad++;
                                tap_diag("%s: pass %d, k=%llu: r=%d primary %s, backup %s", what, pass,
                                         (unsigned long long)k, r, t->primary.ok ? "ok" : t->primary.problem,
                                         t->backup.ok ? "ok" : t->backup.problem);
                        }
                        if (tools && (pass == 1 || k % 8 == 0) && !sgdisk_usable(inner, p ? p->last : 0)) {
                                bad_tools++;
                                tap_diag("%s: pass %d, k=%llu: sgdisk cannot use it", what, pass, (unsigned long long)k);
                        }
                        /* The next boot finishes the job. */
                        if (kiln_grow_plan(t, t->disk_sectors, partno, &again) < 0 || !again.write ||
                            kiln_grow_apply(inner, &again) < 0) {
                                bad_finish++;
                                tap_diag("%s: pass %d, k=%llu: cannot finish: %s", what, pass, (unsigned long long)k,
                                         kiln_last_error());
                        } else {
                                table_bytes(inner, got);
                                if (memcmp(got, want, 67 * 512)) {
                                        bad_finish++;
                                        tap_diag("%s: pass %d, k=%llu: finished table differs", what, pass,
                                                 (unsigned long long)k);
                                }
                        }
                        if (pass == 1)
                                kiln_disk_free(f); /* owns inner */
                        else {
                                kiln_disk_free(f);
                                kiln_disk_free(inner);
                        }
                }
        }
        ok(writes >= 4, "%s: the grow takes %u writes", what, writes);
        is_int(both_bad, 0, "%s: no interrupted state (%u) leaves both GPT headers invalid", what, states);
        is_int(bad, 0, "%s: every interrupted state has a valid primary GPT, old or new, others untouched", what);
        if (tools)
                is_int(bad_tools, 0, "%s: sgdisk reads every interrupted state", what);
        is_int(bad_finish, 0, "%s: growing again after any interruption ends in the same table", what);
        ok(sectors > 60, "%s: power cut after each of the %llu sectors written", what, (unsigned long long)sectors);
        free(want);
        free(got);
        free(t0);
        kiln_disk_free(base);
}

static void test_gpt_resize(int mode, const char *what)
{
        struct kiln_disk *old = kiln_table(KILN_PTABLE_GPT, mode, OLD_SIZE), *d = resized(old, NEW_SIZE);
        uint64_t N = NEW_SIZE / 512, oldN = OLD_SIZE / 512;
        struct kiln_parttable *t = read_table(d), *after;
        struct kiln_grow_plan p;
        char name[64];

        ok(t->kind == KILN_PT_GPT && t->pmbr == KILN_PMBR_PROTECTIVE, "%s: a GPT behind a protective MBR", what);
        ok(t->primary.ok && t->primary.alternate_lba == oldN - 1, "%s: primary ok, its backup at the old end", what);
        ok(!t->backup.ok && !t->backup.found, "%s: no backup header at the new end (%s)", what, t->backup.problem);
        is_int(kiln_grow_plan(t, N, 1, &p), 0, "%s: plan", what);
        ok(p.write && p.new_last == N - 34 && p.old_last == oldN - 34, "%s: %s", what, p.reason);
        ok(p.write_pmbr && p.pmbr_size == N - 1, "%s: the protective MBR's size goes to N-1", what);
        is_int(kiln_grow_apply(d, &p), 0, "%s: apply", what);
        after = read_table(d);
        ok(after->primary.ok && after->backup.ok && after->headers_agree, "%s: both headers valid and agree", what);
        ok(after->primary.alternate_lba == N - 1 && after->backup.entries_lba == N - 33 &&
           after->primary.last_usable == N - 34 && after->primary.entries_lba == 2, "%s: backup at the end, last usable N-34",
           what);
        ok(parts_as_expected(t, after, 1, N - 34), "%s: root ends at N-34, the others untouched", what);
        is_int(after->pmbr_size, N - 1, "%s: protective MBR size", what);
        snprintf(name, sizeof(name), "gpt-%d", mode);
        ok(sgdisk_clean(d, name), "%s: sgdisk -v finds no problems", what);
        ok(sfdisk_clean(d, name), "%s: sfdisk --verify finds no errors", what);
        is_int(sfdisk_end(d, 1), N - 34, "%s: sfdisk --dump agrees on the end", what);
        is_int(kiln_grow_plan(after, N, 1, &p), 0, "%s: plan again", what);
        ok(!p.write && strstr(p.reason, "nothing to grow"), "%s: then nothing to do: %s", what, p.reason);

        kiln_disk_free(d);
        d = resized(old, NEW_SIZE);
        test_crash(d, 1, what, true);
        kiln_disk_free(d);
        kiln_disk_free(old);
}

/* ---------- GPT: other cases ---------- */

static struct kiln_disk *custom_gpt(uint64_t size, const uint64_t (*parts)[3], size_t n)
{
        struct kiln_layout l = { .kind = KILN_PTABLE_GPT, .sectors = size / 512 };
        struct kiln_disk *d = sparse_new(size);

        for (size_t i = 0; i < n; i++) {
                struct kiln_part *p = &l.parts[l.n_parts++];
                p->number = (uint32_t)parts[i][0];
                p->start = parts[i][1];
                p->size = parts[i][2];
                p->role = KILN_PART_ROOT;
                kiln_gpt_type_guid(KILN_GPT_LINUX_DATA, p->type);
                p->name = "data";
        }
        fill_ids(&l, "custom");
        if (kiln_ptable_write(d, &l) < 0)
                abort();
        return d;
}

static void corrupt(struct kiln_disk *d, uint64_t off)
{
        uint8_t b;
        kiln_disk_pread(d, &b, 1, off);
        b ^= 0x40;
        kiln_disk_pwrite(d, &b, 1, off);
}

/* Applying a plan must not write at all: the fault backend fails write 1. */
static int apply_no_write(struct kiln_disk *d, const struct kiln_grow_plan *p, unsigned *writes)
{
        struct kiln_disk *f;
        struct kiln_disk *copy = resized(d, d->size);
        kiln_disk_new_fault(copy, 1, &f);
        int r = kiln_grow_apply(f, p);
        *writes = kiln_disk_fault_writes(f);
        kiln_disk_free(f);
        return r;
}

static void test_gpt_cases(void)
{
        struct kiln_disk *old, *d;
        struct kiln_parttable *t;
        struct kiln_grow_plan p;
        uint64_t N = NEW_SIZE / 512, oldN = OLD_SIZE / 512;
        unsigned writes;

        /* Disk not grown: kiln's fresh table already ends at N-34. */
        d = kiln_table(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, NEW_SIZE);
        t = read_table(d);
        ok(t->primary.ok && t->backup.ok && t->headers_agree, "fresh: both headers ok");
        is_int(kiln_grow_plan(t, N, 1, &p), 0, "fresh: plan");
        ok(!p.write && p.new_last == N - 34, "fresh: no-op: %s", p.reason);
        ok(apply_no_write(d, &p, &writes) == 0 && writes == 0, "fresh: apply writes nothing");
        ok(kiln_grow_plan(t, N, 14, &p) == 0 && !p.write && strstr(p.reason, "not the last"),
           "fresh: p14 (BIOS boot) is not the last: %s", p.reason);
        ok(kiln_grow_plan(t, N, 2, &p) == -ENOENT, "fresh: no partition 2: %s", kiln_last_error());
        ok(kiln_grow_plan(t, N + 1, 1, &p) == -EINVAL, "a size other than the parsed one is refused: %s",
           kiln_last_error());

        /* The backup at the end corrupt, disk not grown: rewritten from the primary. */
        corrupt(d, (N - 1) * 512 + 24);
        t = read_table(d);
        ok(t->primary.ok && !t->backup.ok, "fresh, backup corrupt: primary ok, backup %s", t->backup.problem);
        ok(kiln_grow_plan(t, N, 1, &p) == 0 && p.write && p.new_last == p.old_last && strstr(p.reason, "backup GPT"),
           "fresh, backup corrupt: %s", p.reason);
        ok(kiln_grow_apply(d, &p) == 0 && read_table(d)->headers_agree && sgdisk_clean(d, "repair"),
           "fresh, backup corrupt: repaired, sgdisk -v finds no problems");
        kiln_disk_free(d);

        /* Not the last partition: p1 then p2 after it. */
        {
                const uint64_t parts[][3] = { { 1, 2048, 100000 }, { 2, 102048, oldN - 34 - 102048 + 1 } };
                old = custom_gpt(OLD_SIZE, parts, 2);
                d = resized(old, NEW_SIZE);
                t = read_table(d);
                ok(kiln_grow_plan(t, N, 1, &p) == 0 && !p.write && strstr(p.reason, "partition 2 starts after it"),
                   "p1 before p2: no-op: %s", p.reason);
                ok(apply_no_write(d, &p, &writes) == 0 && writes == 0, "p1 before p2: apply writes nothing");
                ok(kiln_grow_plan(t, N, 2, &p) == 0 && p.write && p.new_last == N - 34, "p2 grows instead: %s",
                   p.reason);
                ok(kiln_grow_apply(d, &p) == 0 && parts_as_expected(t, read_table(d), 2, N - 34), "p2 grown, p1 untouched");
                ok(sgdisk_clean(d, "p2"), "p2: sgdisk -v finds no problems");
                kiln_disk_free(d);
                kiln_disk_free(old);
        }

        /* Room at the end of a disk that did not grow: grows (as growpart). */
        {
                const uint64_t parts[][3] = { { 1, 2048, 200000 } };
                d = custom_gpt(NEW_SIZE, parts, 1);
                t = read_table(d);
                ok(kiln_grow_plan(t, N, 1, &p) == 0 && p.write && !p.write_pmbr && p.new_last == N - 34,
                   "free space after the last partition: %s", p.reason);
                /* ... and with the backup at the end corrupt, a good one is written. */
                corrupt(d, (N - 1) * 512 + 40);
                t = read_table(d);
                ok(!t->backup.ok && kiln_grow_plan(t, N, 1, &p) == 0 && p.write, "backup at the end corrupt: still grows");
                ok(kiln_grow_apply(d, &p) == 0, "apply");
                t = read_table(d);
                ok(t->backup.ok && t->headers_agree && kiln_parttable_find(t, 1)->last == N - 34,
                   "a correct backup was written");
                ok(sgdisk_clean(d, "room"), "sgdisk -v finds no problems");
                kiln_disk_free(d);
        }

        /* Resized, the old (mid-disk) backup corrupt too: the primary is enough. */
        old = kiln_table(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, OLD_SIZE);
        d = resized(old, NEW_SIZE);
        corrupt(d, (oldN - 1) * 512 + 20);
        corrupt(d, (oldN - 33) * 512 + 100);
        t = read_table(d);
        ok(t->primary.ok && kiln_grow_plan(t, N, 1, &p) == 0 && p.write, "old backup corrupt: grows: %s", p.reason);
        ok(kiln_grow_apply(d, &p) == 0 && read_table(d)->headers_agree, "old backup corrupt: a correct backup at the end");
        ok(sgdisk_clean(d, "oldbackup"), "old backup corrupt: sgdisk -v finds no problems");
        kiln_disk_free(d);

        /* Primary corrupt: refused, nothing written, whatever the backup says. */
        const struct {
                uint64_t off;
                bool grown;
                const char *what;
        } prim[] = {
                { 512 + 50, false, "primary header byte flipped, backup fine at the end" },
                { 1024 + 40, false, "primary array byte flipped, backup fine at the end" },
                { 512 + 8, true, "primary revision flipped, disk grown" },
                { 512 + 0, true, "primary signature gone, disk grown" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(prim); i++) {
                d = prim[i].grown ? resized(old, NEW_SIZE) : kiln_table(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, NEW_SIZE);
                corrupt(d, prim[i].off);
                t = read_table(d);
                int r = kiln_grow_plan(t, N, 1, &p);
                ok(!t->primary.ok && r == -EBADMSG && strstr(kiln_last_error(), "primary GPT is invalid"), "%s: refused: %s",
                   prim[i].what, kiln_last_error());
                kiln_disk_free(d);
        }

        /* A grow interrupted with the primary pointing at the array at the
         * end, then the disk grown again by 10 sectors before the next boot:
         * the old array now overlaps where the new backup goes. */
        {
                struct kiln_disk *f;
                d = resized(old, NEW_SIZE);
                kiln_grow_plan(read_table(d), N, 1, &p);
                kiln_disk_new_fault(d, 4, &f); /* backup, backup header, temp header; then fail */
                ok(kiln_grow_apply(f, &p) == -EIO, "interrupted after the temporary primary header");
                t = read_table(d);
                ok(t->primary.ok && t->primary.entries_lba == N - 33, "the primary uses the array at the end");
                struct kiln_disk *g = resized(d, NEW_SIZE + 10 * 512);
                kiln_disk_free(f);
                t = read_table(g);
                ok(kiln_grow_plan(t, N + 10, 1, &p) == 0 && p.write && p.new_last == N + 10 - 34, "grown again: %s",
                   p.reason);
                test_crash(g, 1, "interrupted, then grown again", true);
                ok(kiln_grow_apply(g, &p) == 0 && sgdisk_clean(g, "again"), "grown again: done, sgdisk -v finds no problems");
                kiln_disk_free(g);
        }

        /* A plan made before the table changed is not applied. */
        d = resized(old, NEW_SIZE);
        t = read_table(d);
        kiln_grow_plan(t, N, 1, &p);
        {
                struct kiln_grow_plan p2 = p;
                ok(kiln_grow_apply(d, &p) == 0, "stale: first apply");
                ok(apply_no_write(d, &p2, &writes) == -ESTALE && writes == 0, "stale: the same plan again is refused, nothing written");
        }
        kiln_disk_free(d);

        /* Protective MBR problems. */
        d = resized(old, NEW_SIZE);
        {
                uint8_t s0[512];
                kiln_disk_pread(d, s0, 512, 0);
                s0[0x1be + 8] = 2; /* 0xEE entry starting at LBA 2 */
                kiln_disk_pwrite(d, s0, 512, 0);
                t = read_table(d);
                ok(t->pmbr == KILN_PMBR_INVALID && kiln_grow_plan(t, N, 1, &p) == -EBADMSG, "0xEE not at LBA 1: refused: %s",
                   kiln_last_error());
                s0[0x1be + 8] = 1;
                s0[0x1ce + 4] = 0x83; /* a second, MBR-only entry: hybrid */
                s0[0x1ce + 8] = 0x00;
                s0[0x1ce + 9] = 0x08;
                s0[0x1ce + 12] = 0x00;
                s0[0x1ce + 13] = 0x10;
                kiln_disk_pwrite(d, s0, 512, 0);
                t = read_table(d);
                ok(t->pmbr == KILN_PMBR_HYBRID && kiln_grow_plan(t, N, 1, &p) == -EOPNOTSUPP, "hybrid MBR: refused: %s",
                   kiln_last_error());
                memset(s0, 0, 512);
                kiln_disk_pwrite(d, s0, 512, 0);
                t = read_table(d);
                ok(t->kind == KILN_PT_GPT && t->pmbr == KILN_PMBR_NONE && kiln_grow_plan(t, N, 1, &p) == -EBADMSG,
                   "no protective MBR: refused: %s", kiln_last_error());
        }
        kiln_disk_free(d);
        kiln_disk_free(old);
}

/* GPT tables made by the real tools, grown by us. */
static void test_foreign(const char *tool, const char *cmds)
{
        char path[256], tmpl[1024];
        struct kiln_disk *d, *g;
        struct kiln_parttable *t;
        struct kiln_grow_plan p;
        uint64_t N = NEW_SIZE / 512;

        if (!have_sgdisk || !have_sfdisk) {
                tap_diag("skipping %s tables: sgdisk or sfdisk missing", tool);
                return;
        }
        snprintf(path, sizeof(path), "%s/%s.img", tmpdir, tool);
        snprintf(tmpl, sizeof(tmpl), "rm -f IMG && truncate -s %llu IMG && { %s; } >/dev/null", (unsigned long long)OLD_SIZE,
                 cmds);
        int st;
        char *out = run_on(tmpl, path, &st);
        if (st != 0) {
                show(out);
                ok(0, "%s: made a table", tool);
                return;
        }
        d = load(path, OLD_SIZE);
        unlink(path);
        g = resized(d, NEW_SIZE);
        t = read_table(g);
        ok(t->kind == KILN_PT_GPT && t->primary.ok && !t->backup.ok, "%s table: read back", tool);
        ok(kiln_grow_plan(t, N, 1, &p) == 0 && p.write && p.new_last == N - 34, "%s table: %s", tool, p.reason);
        ok(kiln_grow_apply(g, &p) == 0 && parts_as_expected(t, read_table(g), 1, N - 34), "%s table: grown, others untouched",
           tool);
        ok(sgdisk_clean(g, tool), "%s table: sgdisk -v finds no problems", tool);
        ok(sfdisk_clean(g, tool), "%s table: sfdisk --verify finds no errors", tool);
        kiln_disk_free(g);
        g = resized(d, NEW_SIZE);
        test_crash(g, 1, tool, false);
        kiln_disk_free(g);
        kiln_disk_free(d);
}

/* 1 TiB, through the sparse backend. */
static void test_big_gpt(void)
{
        struct kiln_disk *old = kiln_table(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, GIB), *d = resized(old, TIB);
        struct kiln_parttable *t = read_table(d);
        struct kiln_grow_plan p;
        uint64_t N = TIB / 512;

        ok(kiln_grow_plan(t, N, 1, &p) == 0 && p.write && p.new_last == N - 34 && p.pmbr_size == N - 1,
           "1 TiB gpt: %s", p.reason);
        ok(kiln_grow_apply(d, &p) == 0, "1 TiB gpt: apply");
        t = read_table(d);
        ok(t->headers_agree && kiln_parttable_find(t, 1)->last == N - 34, "1 TiB gpt: root ends at N-34");
        ok(sgdisk_clean(d, "tib"), "1 TiB gpt: sgdisk -v finds no problems");
        ok(sfdisk_clean(d, "tib"), "1 TiB gpt: sfdisk --verify finds no errors");
        kiln_disk_free(d);
        /* Past 2 TiB the protective MBR's size stops at 0xFFFFFFFF. */
        d = resized(old, 3 * TIB);
        t = read_table(d);
        ok(kiln_grow_plan(t, 3 * N, 1, &p) == 0 && p.pmbr_size == 0xFFFFFFFFu && p.new_last == 3 * N - 34,
           "3 TiB gpt: pMBR size 0xFFFFFFFF, root to N-34");
        ok(kiln_grow_apply(d, &p) == 0 && sgdisk_clean(d, "3tib"), "3 TiB gpt: grown, sgdisk -v finds no problems");
        kiln_disk_free(d);
        d = resized(old, TIB);
        test_crash(d, 1, "1 TiB gpt", true);
        kiln_disk_free(d);
        kiln_disk_free(old);
}

/* ---------- MBR ---------- */

static void test_mbr(void)
{
        struct kiln_disk *old = kiln_table(KILN_PTABLE_MBR, KILN_BOOT_LEGACY_BIOS, OLD_SIZE), *d;
        struct kiln_parttable *t;
        struct kiln_grow_plan p;
        uint64_t N = NEW_SIZE / 512;
        unsigned writes;

        d = resized(old, NEW_SIZE);
        t = read_table(d);
        ok(t->kind == KILN_PT_MBR && t->mbr_ok && t->mbr_disk_id == 0x5eed1234, "mbr: read back (%s)",
           t->mbr_problem);
        ok(kiln_grow_plan(t, N, 1, &p) == 0 && p.write && p.new_last == N - 34 && !p.capped, "mbr: %s", p.reason);
        ok(count_writes(d, &p) == 1, "mbr: one write");
        {
                struct kiln_disk *inner = resized(d, d->size), *f;
                kiln_disk_new_fault(inner, 1, &f);
                ok(kiln_grow_apply(f, &p) == -EIO && kiln_parttable_find(read_table(inner), 1)->last == OLD_SIZE / 512 - 1,
                   "mbr: that write failed leaves the old table");
                kiln_disk_free(f);
        }
        ok(kiln_grow_apply(d, &p) == 0, "mbr: apply");
        struct kiln_parttable *after = read_table(d);
        ok(after->mbr_ok && parts_as_expected(t, after, 1, N - 34) && kiln_parttable_find(after, 1)->mbr_active,
           "mbr: root ends at N-34 (growpart's end), still active");
        ok(sfdisk_clean(d, "mbr"), "mbr: sfdisk --verify finds no errors");
        is_int(sfdisk_end(d, 1), N - 34, "mbr: sfdisk --dump agrees on the end");
        ok(kiln_grow_plan(after, N, 1, &p) == 0 && !p.write, "mbr: then nothing to do: %s", p.reason);
        kiln_disk_free(d);

        /* Grown by fewer than 34 sectors: growpart's end is not past ours. */
        d = resized(old, OLD_SIZE + 16 * 512);
        t = read_table(d);
        ok(kiln_grow_plan(t, t->disk_sectors, 1, &p) == 0 && !p.write, "mbr grown by 16 sectors: %s", p.reason);
        ok(apply_no_write(d, &p, &writes) == 0 && writes == 0, "mbr grown by 16 sectors: nothing written");
        kiln_disk_free(d);

        /* 1 TiB. */
        d = resized(old, TIB);
        t = read_table(d);
        ok(kiln_grow_plan(t, TIB / 512, 1, &p) == 0 && p.write && p.new_last == TIB / 512 - 34 && !p.capped,
           "1 TiB mbr: %s", p.reason);
        ok(kiln_grow_apply(d, &p) == 0 && sfdisk_clean(d, "mbr-tib"), "1 TiB mbr: grown, sfdisk --verify finds no errors");
        kiln_disk_free(d);

        /* Over 2 TiB: up to the MBR's reach, then no further. */
        d = resized(old, 3 * TIB);
        t = read_table(d);
        ok(kiln_grow_plan(t, 3 * TIB / 512, 1, &p) == 0 && p.write && p.capped && p.new_last == 0xFFFFFFFFu,
           "3 TiB mbr: %s", p.reason);
        ok(kiln_grow_apply(d, &p) == 0, "3 TiB mbr: apply");
        after = read_table(d);
        ok(after->mbr_ok && kiln_parttable_find(after, 1)->last == 0xFFFFFFFFu, "3 TiB mbr: root ends at LBA 2^32-1 (size %llu)",
           (unsigned long long)(kiln_parttable_find(after, 1)->last - kiln_parttable_find(after, 1)->first + 1));
        ok(sfdisk_clean(d, "mbr-3tib"), "3 TiB mbr: sfdisk --verify finds no errors");
        is_int(sfdisk_end(d, 1), 0xFFFFFFFFu, "3 TiB mbr: sfdisk --dump agrees on the end");
        ok(kiln_grow_plan(after, 3 * TIB / 512, 1, &p) == 0 && !p.write && strstr(p.reason, "MBR limit"),
           "3 TiB mbr: then at the limit: %s", p.reason);
        kiln_disk_free(d);
        kiln_disk_free(old);

        /* Extended and logical partitions, and not the last one (sfdisk-made). */
        if (have_sfdisk) {
                char path[256];
                int st;
                snprintf(path, sizeof(path), "%s/ext.img", tmpdir);
                char *out = run_on("rm -f IMG && truncate -s 167772160 IMG && "
                                   "printf 'label: dos\\n2048,100000,83\\n,50000,5\\n,,83\\n' | sfdisk IMG >/dev/null && "
                                   "printf ',20000,83\\n' | sfdisk -a IMG >/dev/null", path, &st);
                if (st == 0) {
                        struct kiln_disk *e = load(path, OLD_SIZE), *g = resized(e, NEW_SIZE);
                        t = read_table(g);
                        ok(t->kind == KILN_PT_MBR && t->mbr_ok && t->mbr_has_extended, "sfdisk mbr with an extended partition");
                        ok(kiln_grow_plan(t, N, 2, &p) == -EOPNOTSUPP, "extended: refused: %s", kiln_last_error());
                        ok(kiln_grow_plan(t, N, 5, &p) == -EOPNOTSUPP, "logical: refused: %s", kiln_last_error());
                        ok(kiln_grow_plan(t, N, 1, &p) == 0 && !p.write && strstr(p.reason, "not the last"),
                           "p1 before the extended one: %s", p.reason);
                        ok(kiln_grow_plan(t, N, 3, &p) == 0 && p.write && p.new_last == N - 34, "p3, after it: %s", p.reason);
                        ok(kiln_grow_apply(g, &p) == 0 && parts_as_expected(t, read_table(g), 3, N - 34) &&
                           sfdisk_clean(g, "ext"), "p3 grown, others untouched, sfdisk --verify finds no errors");
                        kiln_disk_free(g);
                        kiln_disk_free(e);
                } else {
                        show(out);
                        ok(0, "made an MBR with an extended partition");
                }
                unlink(path);
        }

        /* A broken MBR is not grown. */
        old = kiln_table(KILN_PTABLE_MBR, KILN_BOOT_LEGACY_BIOS, OLD_SIZE);
        d = resized(old, NEW_SIZE);
        {
                uint8_t s0[512];
                kiln_disk_pread(d, s0, 512, 0);
                s0[0x1ce + 4] = 0x83; /* p2 overlapping p1 */
                s0[0x1ce + 8] = 0x00;
                s0[0x1ce + 9] = 0x10;
                s0[0x1ce + 12] = 0x00;
                s0[0x1ce + 13] = 0x10;
                kiln_disk_pwrite(d, s0, 512, 0);
                t = read_table(d);
                ok(!t->mbr_ok && kiln_grow_plan(t, N, 1, &p) == -EBADMSG, "overlapping MBR entries: refused: %s",
                   kiln_last_error());
        }
        kiln_disk_free(d);
        kiln_disk_free(old);
}

/* ---------- the parser on its own ---------- */

static void test_parser(void)
{
        struct kiln_disk *d = kiln_table(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, OLD_SIZE), *m = resized(d, OLD_SIZE);
        const uint8_t *buf = kiln_disk_memory_data(m);
        struct kiln_parttable *t = malloc(sizeof(*t)), *u = malloc(sizeof(*u));
        struct kiln_layout l;

        ok(kiln_parttable_parse(buf, OLD_SIZE, 512, t) == 0 && t->kind == KILN_PT_GPT && t->headers_agree && t->n_parts == 3,
           "whole-disk parse: gpt, 3 partitions, headers agree");
        kiln_layout_plan(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, KILN_ARCH_X86_64, OLD_SIZE, &l);
        fill_ids(&l, "grow");
        {
                const struct kiln_part *root = kiln_layout_find(&l, KILN_PART_ROOT);
                const struct kiln_pt_part *p = kiln_parttable_find(t, 1);
                uint8_t type[16];
                kiln_gpt_type_guid(KILN_GPT_ROOT_X86_64, type);
                ok(p && !memcmp(p->uuid, root->uuid, 16) && !memcmp(p->type, type, 16) && !strcmp(p->name, "root") &&
                   p->first == root->start, "p1: GUIDs, name and start as written");
                ok(!memcmp(t->primary.disk_guid, l.disk_guid, 16), "disk GUID as written");
        }
        ok(kiln_parttable_parse_ends(buf, MIB, buf + OLD_SIZE - 64 * 1024, 64 * 1024, OLD_SIZE / 512, 512, u) == 0 &&
           !memcmp(t, u, sizeof(*t)), "two ends parse the same as the whole disk");
        ok(kiln_parttable_parse_ends(buf, 1024, buf, 0, OLD_SIZE / 512, 512, u) == 0 && !u->primary.ok &&
           strstr(u->primary.problem, "outside the bytes read"), "entries not read: %s", u->primary.problem);
        ok(kiln_parttable_parse(buf, OLD_SIZE, 1000, u) == -EINVAL, "sector size 1000 refused");
        ok(kiln_parttable_parse_ends(buf, OLD_SIZE + 512, buf, 0, OLD_SIZE / 512, 512, u) == -EINVAL,
           "a head longer than the disk refused");
        ok(kiln_parttable_parse(buf, 100, 512, u) == 0 && u->kind == KILN_PT_NONE, "100 bytes: no table");
        ok(kiln_parttable_parse(buf, 512, 512, u) == 0 && u->kind == KILN_PT_GPT && !u->primary.ok,
           "only the protective MBR: gpt, primary not ok (%s)", u->primary.problem);

        /* Overlapping entries, with every CRC right: refused by the parser. */
        {
                uint8_t *img = malloc(OLD_SIZE);
                memcpy(img, buf, OLD_SIZE);
                uint8_t *e15 = img + 1024 + 14 * 128;
                uint64_t first = 2048 + 100; /* inside p14 */
                for (int i = 0; i < 8; i++)
                        e15[32 + i] = (uint8_t)(first >> (8 * i));
                uint32_t crc = (uint32_t)crc32(0, img + 1024, 128 * 128);
                for (int i = 0; i < 4; i++)
                        img[512 + 88 + i] = (uint8_t)(crc >> (8 * i));
                memset(img + 512 + 16, 0, 4);
                uint32_t hcrc = (uint32_t)crc32(0, img + 512, 92);
                for (int i = 0; i < 4; i++)
                        img[512 + 16 + i] = (uint8_t)(hcrc >> (8 * i));
                ok(kiln_parttable_parse(img, OLD_SIZE, 512, u) == 0 && !u->primary.ok &&
                   strstr(u->primary.problem, "overlap"), "overlapping entries: %s", u->primary.problem);
                ok(u->backup.ok && u->n_parts == 3, "... the backup is still fine and gives the partitions");
                free(img);
        }
        free(t);
        free(u);
        kiln_disk_free(m);
        kiln_disk_free(d);
}

int main(void)
{
        if (!mkdtemp(tmpdir))
                abort();
        have_sgdisk = system("sgdisk --version >/dev/null 2>&1") == 0;
        have_sfdisk = system("sfdisk --version >/dev/null 2>&1") == 0;
        if (!have_sgdisk || !have_sfdisk)
                tap_diag("sgdisk or sfdisk missing: the checks with the real tools are skipped");

        test_parser();
        test_gpt_resize(KILN_BOOT_UEFI_PREFERRED, "gpt uefi-preferred");
        test_gpt_resize(KILN_BOOT_UEFI, "gpt uefi");
        test_gpt_resize(KILN_BOOT_LEGACY_BIOS, "gpt legacy-bios");
        test_gpt_cases();
        /* Ubuntu's cloud layout (LCR create_partitions) and sfdisk's defaults. */
        test_foreign("sgdisk", "sgdisk --new=14::+4M --new=15::+106M --new=1:: -t 14:ef02 -t 15:ef00 -c 1:cloudimg-rootfs IMG");
        /* Debian's sfdisk script (DCI partition.GRUB_CLOUD_AMD64), numbers included. */
        test_foreign("sfdisk", "printf 'label: gpt\\nunit: sectors\\nIMG14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649\\n"
                               "IMG15 : start=8192, size=253952, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\\n"
                               "IMG1 : start=262144, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\\n' | sfdisk IMG");
        test_big_gpt();
        test_mbr();
        rmdir(tmpdir);
        return tap_done();
}
