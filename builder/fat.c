/* SPDX-License-Identifier: MIT */
/*
 * FAT12/16/32 writer.  Three phases:
 *
 *   1. names    each folder is sorted and every entry gets its on-disk
 *               names: a long name (UTF-16) where needed, a short name
 *               unique within the folder (computed once, kept until the
 *               next add);
 *   2. layout   a geometry for the disk size (type, cluster size, FAT size)
 *               and clusters for folders and files, handed out in sorted
 *               depth-first order, so every chain is one contiguous run;
 *   3. output   one sequential stream from sector 0 to the last used
 *               cluster (boot sectors, FATs, the FAT12/16 root folder,
 *               data), batched through a 1 MiB buffer into large writes.
 *
 * Layout rules follow mkfs.fat where it has one (cluster sizes, 32
 * reserved sectors on FAT32 (64 with 32 KiB clusters) with the FSInfo
 * sector at 1 and the backup boot sector at 6, two FATs, media 0xF8, root
 * folder at cluster 2) and Microsoft's FAT specification (fatgen103)
 * elsewhere.
 */
#include "fat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "disk.h"
#include "util.h"

#define SECTOR 512u
#define DIRENT 32u
#define LFN_UNITS_PER_ENTRY 13u
#define MAX_NAME_UNITS 255u      /* UTF-16 units in a long name */
#define MAX_PATH_BYTES 4095u
#define MAX_DIR_ENTRIES 65536u   /* a folder is at most 2 MiB */
#define MAX_FILE_SIZE UINT32_MAX
#define MAX_SECTORS UINT32_MAX   /* 32-bit sector counts: 2 TiB */
#define MAX_SPC 64u              /* 32 KiB clusters: larger ones are not portable */
#define RUN_BUFFER (1u << 20)
#define MEDIA 0xF8u              /* a fixed disk */

#define ATTR_VOLUME 0x08u
#define ATTR_DIR 0x10u
#define ATTR_ARCHIVE 0x20u
#define ATTR_LFN 0x0Fu
#define NT_LOWER_BASE 0x08u
#define NT_LOWER_EXT 0x10u

/*
 * The type of a FAT volume is decided by its cluster count alone.  The
 * thresholds are 4085 and 65525, but drivers disagree on whether the two
 * reserved FAT entries count, so stay a few clusters clear of both
 * boundaries, with mkfs.fat's margins.
 */
static const struct fat_type {
        unsigned bits;
        uint32_t min_clusters, max_clusters;
        uint32_t eoc;             /* end of chain; entry 1 too (clean, no errors) */
        const char *name;         /* as in the boot sector */
} fat_types[] = {
        { 12, 1, 4080, 0xFFF, "FAT12" },
        { 16, 4085, 65520, 0xFFFF, "FAT16" },
        { 32, 65529, 0x0FFFFFF0, 0x0FFFFFFF, "FAT32" },
};

/* mkfs.fat's FAT32 cluster sizes (after Microsoft's format tool). */
static const struct {
        uint32_t up_to_mib;
        uint32_t spc;
} fat32_cluster_sizes[] = {
        { 260, 1 }, { 8192, 8 }, { 16384, 16 }, { 32768, 32 }, { UINT32_MAX, 64 },
};

static const struct fat_type *fat_type(unsigned bits)
{
        for (size_t i = 0; i < ARRAY_SIZE(fat_types); i++)
                if (fat_types[i].bits == bits)
                        return &fat_types[i];
        return NULL;
}

struct fat_node {
        char *name;               /* one path component, UTF-8, as given */
        uint16_t *uname;          /* the same in UTF-16: the long name */
        size_t uname_len;
        struct fat_node *parent;  /* NULL for the root */
        bool is_dir;

        /* Files: the bytes, from memory or from a (duplicated) fd. */
        uint8_t *data;
        int fd;
        uint32_t size;

        /* Folders. */
        struct fat_node **children;
        size_t n_children, cap_children;
        size_t n_entries;         /* 32-byte entries, without a volume label */

        /* Phase 1. */
        bool needs_lfn;
        uint8_t short_name[11];
        uint8_t lcase;            /* NT case bits (byte 12 of the entry) */

        /* Phase 2, for the write in progress. */
        uint32_t first_cluster, n_clusters;
};

struct kiln_fat {
        struct fat_node *root;
        size_t n_files, n_dirs;
        bool names_ready;
};

/* ---------------------------------------------------------------- helpers */

static bool is_ascii_lower(uint16_t c) { return c >= 'a' && c <= 'z'; }
static bool is_ascii_upper(uint16_t c) { return c >= 'A' && c <= 'Z'; }
static uint16_t ascii_upper(uint16_t c) { return is_ascii_lower(c) ? (uint16_t)(c - 32) : c; }

/* Characters a short name may hold besides letters (upper-case on disk). */
static bool short_char_ok(uint16_t c)
{
        if (c >= 0x80 || c == 0)
                return false;
        return is_ascii_upper(c) || is_ascii_lower(c) || (c >= '0' && c <= '9') ||
               strchr("!#$%&'()-@^_`{}~", (char)c) != NULL;
}

/* Characters a long name may not hold (Linux vfat and Windows agree). */
static bool long_char_bad(uint32_t c) { return c < 0x20 || (c < 0x80 && strchr("\"*/:<>?\\|", (int)c)); }

static struct fat_node *node_new(const char *name, size_t len, bool is_dir)
{
        struct fat_node *n = calloc(1, sizeof(*n));

        if (!n)
                return NULL;
        n->name = strndup(name, len);
        if (!n->name) {
                free(n);
                return NULL;
        }
        n->is_dir = is_dir;
        n->fd = -1;
        return n;
}

static void node_free(struct fat_node *n)
{
        if (!n)
                return;
        for (size_t i = 0; i < n->n_children; i++)
                node_free(n->children[i]);
        free(n->children);
        if (n->fd >= 0)
                close(n->fd);
        free(n->data);
        free(n->uname);
        free(n->name);
        free(n);
}

int kiln_fat_new(struct kiln_fat **ret)
{
        struct kiln_fat *f = calloc(1, sizeof(*f));

        if (!f)
                return -ENOMEM;
        f->root = node_new("", 0, true);
        if (!f->root) {
                free(f);
                return -ENOMEM;
        }
        *ret = f;
        return 0;
}

void kiln_fat_free(struct kiln_fat *f)
{
        if (!f)
                return;
        node_free(f->root);
        free(f);
}

/* ------------------------------------------------------------ name checks */

/* Decode one UTF-8 sequence; 0 bytes consumed means malformed (overlong,
 * surrogate, past U+10FFFF or truncated). */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *ret)
{
        static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
        size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3
                                     : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
        uint32_t c;

        if (len == 0 || len > n)
                return 0;
        c = len == 1 ? s[0] : s[0] & (0x7F >> len);
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3F);
        }
        if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return 0;
        *ret = c;
        return len;
}

/* Check one path component and convert it to the UTF-16 long name. */
static int make_uname(const char *name, size_t len, uint16_t **ret, size_t *ret_len)
{
        _cleanup_free_ uint16_t *u = malloc((len + 1) * sizeof(*u));
        size_t n = 0;

        if (!u)
                return -ENOMEM;
        if ((len == 1 && name[0] == '.') || (len == 2 && !memcmp(name, "..", 2)))
                return kiln_errorf(-EINVAL, "FAT name '%.*s' is not allowed", (int)len, name);
        for (size_t i = 0; i < len;) {
                uint32_t c;
                size_t k = utf8_decode((const unsigned char *)name + i, len - i, &c);

                if (k == 0)
                        return kiln_errorf(-EINVAL, "FAT name '%.*s' is not valid UTF-8", (int)len, name);
                if (long_char_bad(c))
                        return c < 0x20 ? kiln_errorf(-EINVAL, "FAT name '%.*s' holds control character 0x%02x",
                                                      (int)len, name, (unsigned)c)
                                        : kiln_errorf(-EINVAL, "FAT name '%.*s' holds '%c', which FAT does not allow",
                                                      (int)len, name, (int)c);
                if (c >= 0x10000) {
                        u[n++] = (uint16_t)(0xD800 + ((c - 0x10000) >> 10));
                        u[n++] = (uint16_t)(0xDC00 + ((c - 0x10000) & 0x3FF));
                } else {
                        u[n++] = (uint16_t)c;
                }
                i += k;
        }
        /* Windows and Linux drop trailing dots and spaces when they look a
         * name up, so such a name could never be read back as written. */
        if (name[len - 1] == '.' || name[len - 1] == ' ')
                return kiln_errorf(-EINVAL, "FAT name '%.*s' ends with a dot or a space", (int)len, name);
        if (n > MAX_NAME_UNITS)
                return kiln_errorf(-ENAMETOOLONG, "FAT name '%.*s...' is longer than %u UTF-16 characters",
                                   40, name, MAX_NAME_UNITS);
        *ret = TAKE_PTR(u);
        *ret_len = n;
        return 0;
}

/* FAT matches names without regard to case; ASCII folding is what every
 * driver agrees on. */
static bool uname_equal(const struct fat_node *a, const uint16_t *u, size_t n)
{
        if (a->uname_len != n)
                return false;
        for (size_t i = 0; i < n; i++)
                if (ascii_upper(a->uname[i]) != ascii_upper(u[i]))
                        return false;
        return true;
}

static struct fat_node *find_child(const struct fat_node *d, const uint16_t *u, size_t n)
{
        for (size_t i = 0; i < d->n_children; i++)
                if (uname_equal(d->children[i], u, n))
                        return d->children[i];
        return NULL;
}

static int add_child(struct fat_node *d, struct fat_node *c)
{
        if (d->n_children == d->cap_children) {
                size_t cap = d->cap_children ? d->cap_children * 2 : 8;
                struct fat_node **p = realloc(d->children, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                d->children = p;
                d->cap_children = cap;
        }
        c->parent = d;
        d->children[d->n_children++] = c;
        return 0;
}

/* ------------------------------------------------------------------ adding */

/*
 * Walk path, creating missing folders; with want_dir the last component is
 * a folder too, else *ret_dir is its parent and *ret_name, *ret_len the
 * last component.  Every component is checked before anything is created,
 * so a bad path leaves the tree as it was.
 */
static int walk_path(struct kiln_fat *f, const char *path, bool want_dir, struct fat_node **ret_dir,
                     const char **ret_name, size_t *ret_len)
{
        struct fat_node *d = f->root;
        const char *p;
        int r;

        if (strlen(path) > MAX_PATH_BYTES)
                return kiln_errorf(-ENAMETOOLONG, "FAT path '%.40s...' is too long", path);
        for (int pass = 0; pass < 2; pass++) {
                for (p = path[0] == '/' ? path + 1 : path;;) {
                        size_t len = strcspn(p, "/");
                        bool last = p[len] == 0;
                        _cleanup_free_ uint16_t *u = NULL;
                        size_t n;

                        if (len == 0)
                                return kiln_errorf(-EINVAL, "FAT path '%s' has an empty component", path);
                        r = make_uname(p, len, &u, &n);
                        if (r < 0)
                                return kiln_error_prefix(r, "cannot add '%s'", path);
                        if (pass == 1 && last && !want_dir) {
                                *ret_dir = d;
                                *ret_name = p;
                                *ret_len = len;
                                return 0;
                        }
                        if (pass == 1) {
                                struct fat_node *c = find_child(d, u, n);
                                if (c && !c->is_dir)
                                        return kiln_errorf(-ENOTDIR, "cannot add '%s': '%.*s' is a file",
                                                           path, (int)(p - path + len), path);
                                if (!c) {
                                        c = node_new(p, len, true);
                                        if (!c)
                                                return -ENOMEM;
                                        c->uname = TAKE_PTR(u);
                                        c->uname_len = n;
                                        r = add_child(d, c);
                                        if (r < 0) {
                                                node_free(c);
                                                return r;
                                        }
                                        f->n_dirs++;
                                }
                                d = c;
                        }
                        if (last)
                                break;
                        p += len + 1;
                }
        }
        *ret_dir = d;
        return 0;
}

int kiln_fat_add_dir(struct kiln_fat *f, const char *path)
{
        struct fat_node *d;

        f->names_ready = false;
        return walk_path(f, path, true, &d, NULL, NULL);
}

/* A new file node in its folder; the caller fills in the bytes. */
static int add_file_node(struct kiln_fat *f, const char *path, uint64_t size, struct fat_node **ret)
{
        struct fat_node *d, *c, *old;
        const char *name;
        size_t len;
        int r;

        if (size > MAX_FILE_SIZE)
                return kiln_errorf(-EFBIG, "cannot add '%s': FAT files are at most 4 GiB - 1 bytes", path);
        f->names_ready = false;
        r = walk_path(f, path, false, &d, &name, &len);
        if (r < 0)
                return r;
        c = node_new(name, len, false);
        if (!c)
                return -ENOMEM;
        r = make_uname(name, len, &c->uname, &c->uname_len);
        if (r >= 0 && (old = find_child(d, c->uname, c->uname_len)))
                r = strcmp(old->name, c->name)
                            ? kiln_errorf(-EEXIST, "cannot add '%s': '%s' is there (FAT ignores case)", path, old->name)
                            : kiln_errorf(-EEXIST, "cannot add '%s': it exists", path);
        if (r >= 0)
                r = add_child(d, c);
        if (r < 0) {
                node_free(c);
                return r;
        }
        c->size = (uint32_t)size;
        f->n_files++;
        *ret = c;
        return 0;
}

int kiln_fat_add_file(struct kiln_fat *f, const char *path, const void *data, size_t len)
{
        _cleanup_free_ uint8_t *copy = malloc(len ? len : 1);
        struct fat_node *c;
        int r;

        if (!copy)
                return -ENOMEM;
        if (len)
                memcpy(copy, data, len);
        r = add_file_node(f, path, len, &c);
        if (r < 0)
                return r;
        c->data = TAKE_PTR(copy);
        return 0;
}

int kiln_fat_add_file_from_fd(struct kiln_fat *f, const char *path, int fd)
{
        _cleanup_close_ int dup_fd = -1;
        struct fat_node *c;
        struct stat st;
        int r;

        if (fstat(fd, &st) < 0)
                return kiln_errorf(-errno, "cannot add '%s': %m", path);
        if (!S_ISREG(st.st_mode))
                return kiln_errorf(-EINVAL, "cannot add '%s': not a regular file", path);
        dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return kiln_errorf(-errno, "cannot add '%s': %m", path);
        r = add_file_node(f, path, (uint64_t)st.st_size, &c);
        if (r < 0)
                return r;
        c->fd = TAKE_FD(dup_fd);
        return 0;
}

/* --------------------------------------------------- phase 1: short names */

/* Short names already used in one folder: open addressing over 11 bytes. */
struct name_set {
        const uint8_t **slot;
        size_t mask;
};

static size_t name_hash(const uint8_t n[11])
{
        uint32_t h = 2166136261u; /* FNV-1a */
        for (int i = 0; i < 11; i++)
                h = (h ^ n[i]) * 16777619u;
        return h;
}

static const uint8_t **set_find(const struct name_set *s, const uint8_t n[11])
{
        size_t i = name_hash(n) & s->mask;

        while (s->slot[i] && memcmp(s->slot[i], n, 11))
                i = (i + 1) & s->mask;
        return &s->slot[i];
}

/* An 8.3 name that needs no long name: "BOOTX64.EFI" as it is, "grub.cfg"
 * upper-cased with the NT lower-case bits.  Mixed case in a part ("Grub")
 * cannot be told apart from upper case without a long name. */
static bool exact_short_name(const uint16_t *u, size_t n, uint8_t out[11], uint8_t *ret_lcase)
{
        bool lower[2] = { false, false }, upper[2] = { false, false };
        size_t dot = n;

        for (size_t i = 0; i < n; i++)
                if (u[i] == '.') {
                        if (dot != n)
                                return false;
                        dot = i;
                }
        if (dot == 0 || dot > 8 || (dot < n && (n - dot - 1 == 0 || n - dot - 1 > 3)))
                return false;
        memset(out, ' ', 11);
        for (size_t i = 0; i < n; i++) {
                int part = i > dot;

                if (i == dot)
                        continue;
                if (!short_char_ok(u[i]))
                        return false;
                lower[part] |= is_ascii_lower(u[i]);
                upper[part] |= is_ascii_upper(u[i]);
                out[part ? 8 + (i - dot - 1) : i] = (uint8_t)ascii_upper(u[i]);
        }
        if ((lower[0] && upper[0]) || (lower[1] && upper[1]))
                return false;
        *ret_lcase = (uint8_t)((lower[0] ? NT_LOWER_BASE : 0) | (lower[1] ? NT_LOWER_EXT : 0));
        return true;
}

struct basis {
        uint8_t base[8], ext[3];
        size_t base_len, ext_len;
        bool lossy;               /* something was dropped or replaced */
};

/* One UTF-16 unit as a short-name character: upper-cased, '_' for what a
 * short name cannot hold, 0 to drop it. */
static uint8_t basis_char(uint16_t c, bool *lossy)
{
        if (c == ' ' || c == '.') {
                *lossy = true;
                return 0;
        }
        if (c >= 0xDC00 && c <= 0xDFFF)
                return 0; /* the high surrogate already became one '_' */
        if (short_char_ok(c))
                return (uint8_t)ascii_upper(c);
        *lossy = true;
        return '_';
}

/* The basis of a generated short name (fatgen103, "basis-name generation"):
 * no leading dots or spaces, base before the last dot, at most 8 + 3. */
static void make_basis(const uint16_t *u, size_t n, struct basis *b)
{
        size_t start = 0, last_dot = n;

        memset(b, 0, sizeof(*b));
        while (start < n && (u[start] == '.' || u[start] == ' ')) {
                start++;
                b->lossy = true;
        }
        for (size_t i = start; i < n; i++)
                if (u[i] == '.')
                        last_dot = i;
        for (size_t i = start; i < last_dot; i++) {
                uint8_t c = basis_char(u[i], &b->lossy);
                if (!c)
                        continue;
                if (b->base_len == 8) {
                        b->lossy = true;
                        break;
                }
                b->base[b->base_len++] = c;
        }
        for (size_t i = last_dot + 1; i < n; i++) {
                uint8_t c = basis_char(u[i], &b->lossy);
                if (!c)
                        continue;
                if (b->ext_len == 3) {
                        b->lossy = true;
                        break;
                }
                b->ext[b->ext_len++] = c;
        }
        if (b->base_len == 0) {
                b->base[b->base_len++] = '_';
                b->lossy = true;
        }
}

/* A short name for an entry with a long name: the basis itself when nothing
 * was lost ("Grub.cfg" -> "GRUB.CFG"), else the first free "BASE~N". */
static int generate_short_name(struct fat_node *c, struct name_set *set)
{
        struct basis b;
        uint8_t cand[11];

        make_basis(c->uname, c->uname_len, &b);
        memset(cand, ' ', 11);
        memcpy(cand, b.base, b.base_len);
        memcpy(cand + 8, b.ext, b.ext_len);
        for (unsigned k = 0; k <= 999999; k++) {
                if (k > 0) {
                        char tail[12];
                        int tl = snprintf(tail, sizeof(tail), "~%u", k);
                        size_t keep = MIN(b.base_len, 8 - (size_t)tl);

                        memset(cand, ' ', 8);
                        memcpy(cand, b.base, keep);
                        memcpy(cand + keep, tail, (size_t)tl);
                } else if (b.lossy) {
                        continue;
                }
                const uint8_t **slot = set_find(set, cand);
                if (!*slot) {
                        memcpy(c->short_name, cand, 11);
                        c->lcase = 0;
                        *slot = c->short_name;
                        return 0;
                }
        }
        return kiln_errorf(-ENOSPC, "no free short name for '%s'", c->name);
}

static int cmp_nodes(const void *a, const void *b)
{
        return strcmp((*(struct fat_node *const *)a)->name, (*(struct fat_node *const *)b)->name);
}

/* Sort one folder and name its entries, then its subfolders. */
static int prepare_dir(struct fat_node *d)
{
        struct name_set set = { NULL, 0 };
        size_t size = 16;
        int r = 0;

        if (d->n_children)
                qsort(d->children, d->n_children, sizeof(*d->children), cmp_nodes);
        while (size < 2 * d->n_children)
                size *= 2;
        set.slot = calloc(size, sizeof(*set.slot));
        if (!set.slot)
                return -ENOMEM;
        set.mask = size - 1;
        /* Exact 8.3 names first: they are fixed, generated ones go around
         * them.  They cannot collide: names differ in more than case. */
        for (size_t i = 0; i < d->n_children; i++) {
                struct fat_node *c = d->children[i];
                c->needs_lfn = !exact_short_name(c->uname, c->uname_len, c->short_name, &c->lcase);
                if (!c->needs_lfn)
                        *set_find(&set, c->short_name) = c->short_name;
        }
        d->n_entries = d->parent ? 2 : 0; /* "." and ".." */
        for (size_t i = 0; i < d->n_children && r >= 0; i++) {
                struct fat_node *c = d->children[i];
                if (c->needs_lfn) {
                        r = generate_short_name(c, &set);
                        d->n_entries += DIV_ROUND_UP(c->uname_len, LFN_UNITS_PER_ENTRY);
                }
                d->n_entries++;
        }
        free(set.slot);
        if (r < 0)
                return r;
        if (d->n_entries + 1 > MAX_DIR_ENTRIES)
                return kiln_errorf(-EFBIG, "FAT folder '%s' needs %zu entries, more than FAT allows (%u)",
                                   d->parent ? d->name : "/", d->n_entries, MAX_DIR_ENTRIES);
        for (size_t i = 0; i < d->n_children && r >= 0; i++)
                if (d->children[i]->is_dir)
                        r = prepare_dir(d->children[i]);
        return r;
}

static int prepare_names(struct kiln_fat *f)
{
        int r;

        if (f->names_ready)
                return 0;
        r = prepare_dir(f->root);
        if (r < 0)
                return r;
        f->names_ready = true;
        return 0;
}

/* ------------------------------------------------------ phase 2: geometry */

struct geometry {
        unsigned bits;
        uint32_t total;           /* sectors */
        uint32_t spc;             /* sectors per cluster */
        uint32_t reserved;
        uint32_t fat_sectors;     /* per FAT */
        uint32_t root_sectors;    /* the FAT12/16 root folder */
        uint32_t clusters;
};

static uint32_t cluster_bytes(const struct geometry *g) { return g->spc * SECTOR; }

/*
 * Sizes of everything for a type and cluster size.  Reserved sectors, FATs
 * and the root folder are whole clusters so that clusters stay aligned to
 * their size on the disk (as mkfs.fat aligns them).  False if nothing is
 * left for data.
 */
static bool compute_geometry(uint32_t total, unsigned bits, uint32_t spc, size_t root_entries,
                             struct geometry *g)
{
        uint64_t fixed;

        *g = (struct geometry){ .bits = bits, .total = total, .spc = spc };
        g->reserved = bits == 32 ? ROUND_UP(32u, spc) : spc;
        if (bits != 32) {
                uint64_t rs = ROUND_UP(DIV_ROUND_UP((uint64_t)MAX(root_entries, 512u) * DIRENT, SECTOR), spc);
                if (rs * SECTOR / DIRENT > 0xFFF0) /* a 16-bit count, whole sectors */
                        return false;
                g->root_sectors = (uint32_t)rs;
        }
        fixed = (uint64_t)g->reserved + g->root_sectors;
        /* The FAT must cover the clusters it leaves room for: grow it until
         * it does (two rounds at most, as the cluster count only falls). */
        for (;;) {
                uint64_t overhead = fixed + 2ull * g->fat_sectors, need;

                if (overhead >= total)
                        return false;
                g->clusters = (uint32_t)((total - overhead) / spc);
                need = ROUND_UP(DIV_ROUND_UP(((uint64_t)g->clusters + 2) * bits, 8ull * SECTOR), spc);
                if (need <= g->fat_sectors)
                        return g->clusters > 0;
                g->fat_sectors = (uint32_t)need;
        }
}

static bool clusters_in_range(const struct geometry *g)
{
        const struct fat_type *t = fat_type(g->bits);

        return g->clusters >= t->min_clusters && g->clusters <= t->max_clusters;
}

static size_t dir_bytes(const struct fat_node *d, bool label)
{
        return (d->n_entries + (!d->parent && label)) * DIRENT;
}

static uint32_t dir_clusters(const struct fat_node *d, uint32_t cb, bool label)
{
        return (uint32_t)MAX(DIV_ROUND_UP(dir_bytes(d, label), cb), 1u);
}

/* Clusters that folder d and everything below it take. */
static uint64_t clusters_needed(const struct fat_node *d, uint32_t cb, bool label, bool root_in_data)
{
        uint64_t n = d->parent || root_in_data ? dir_clusters(d, cb, label) : 0;

        for (size_t i = 0; i < d->n_children; i++) {
                const struct fat_node *c = d->children[i];
                n += c->is_dir ? clusters_needed(c, cb, label, true) : DIV_ROUND_UP(c->size, cb);
        }
        return n;
}

static bool content_fits(const struct kiln_fat *f, const struct geometry *g, bool label)
{
        return clusters_needed(f->root, cluster_bytes(g), label, g->bits == 32) <= g->clusters;
}

static uint32_t fat32_spc(uint32_t total)
{
        size_t i = 0;

        while (total / 2048 > fat32_cluster_sizes[i].up_to_mib)
                i++;
        return fat32_cluster_sizes[i].spc;
}

/* FAT12/16 clusters start at 2 KiB, like mkfs.fat, and double until the
 * count fits the type (FAT16 when bits is 0: FAT12 then takes what is small). */
static uint32_t small_spc(uint32_t total, unsigned bits, size_t root_entries)
{
        const struct fat_type *t = fat_type(bits == 12 ? 12 : 16);
        struct geometry g;
        uint32_t spc;

        for (spc = 4; spc < MAX_SPC; spc *= 2)
                if (!compute_geometry(total, t->bits, spc, root_entries, &g) || g.clusters <= t->max_clusters)
                        break;
        return spc;
}

static bool try_geometry(const struct kiln_fat *f, uint32_t total, unsigned bits, uint32_t spc,
                         bool label, struct geometry *ret)
{
        struct geometry g;

        if (!compute_geometry(total, bits, spc, f->root->n_entries + label, &g) || !clusters_in_range(&g) ||
            !content_fits(f, &g, label))
                return false;
        *ret = g;
        return true;
}

/*
 * The geometry for a volume of total sectors: FAT32 if allowed and big
 * enough, else FAT12/16.  The preferred cluster size comes first; smaller
 * ones are tried when the files do not fit (many small files waste less in
 * small clusters), which also keeps "fits" true for every larger volume.
 */
static bool pick_geometry(const struct kiln_fat *f, uint64_t total64, unsigned want, bool label,
                          struct geometry *ret)
{
        size_t root_entries = f->root->n_entries + label;
        uint32_t total = (uint32_t)total64;

        if (total64 > MAX_SECTORS)
                return false;
        if (want == 0 || want == 32)
                for (uint32_t spc = fat32_spc(total); spc >= 1; spc /= 2)
                        if (try_geometry(f, total, 32, spc, label, ret))
                                return true;
        if (want == 32)
                return false;
        for (uint32_t spc = small_spc(total, want, root_entries); spc >= 1; spc /= 2)
                for (unsigned bits = 12; bits <= 16; bits += 4)
                        if ((want == 0 || want == bits) && try_geometry(f, total, bits, spc, label, ret))
                                return true;
        return false;
}

/* Whether a volume is beyond what the type can address, at any cluster size. */
static bool too_large(uint64_t total, unsigned want)
{
        struct geometry g;

        if (total > MAX_SECTORS)
                return true;
        if (want != 12 && want != 16)
                return false;
        return compute_geometry((uint32_t)total, want, MAX_SPC, 512, &g) && g.clusters > fat_type(want)->max_clusters;
}

static const char *plural(size_t n) { return n == 1 ? "" : "s"; }

static const char *type_name(unsigned bits)
{
        return bits ? fat_type(bits)->name : "FAT";
}

static int check_bits(unsigned bits)
{
        if (bits != 0 && !fat_type(bits))
                return kiln_errorf(-EINVAL, "FAT type %u is not 12, 16 or 32", bits);
        return 0;
}

int kiln_fat_min_size(struct kiln_fat *f, unsigned fat_bits, uint64_t *ret)
{
        const uint64_t mib = (1u << 20) / SECTOR;
        struct geometry g;
        uint64_t lo = 0, hi = mib;
        int r;

        r = check_bits(fat_bits);
        if (r < 0)
                return r;
        r = prepare_names(f);
        if (r < 0)
                return r;
        /* Double until it fits, then bisect between the last miss and hit. */
        while (!pick_geometry(f, hi, fat_bits, true, &g)) {
                if (hi == MAX_SECTORS || too_large(hi, fat_bits))
                        return kiln_errorf(-EFBIG, "%zu file%s in %zu folder%s do not fit in any %s volume",
                                           f->n_files, plural(f->n_files), f->n_dirs + 1, plural(f->n_dirs + 1),
                                           type_name(fat_bits));
                lo = hi;
                hi = MIN(hi * 2, (uint64_t)MAX_SECTORS);
        }
        while (hi - lo > 1) {
                uint64_t mid = lo + (hi - lo) / 2;
                if (pick_geometry(f, mid, fat_bits, true, &g))
                        hi = mid;
                else
                        lo = mid;
        }
        /* Partitions come in whole MiB; make sure the rounded size fits too. */
        for (uint64_t s = ROUND_UP(hi, mib); s <= MAX_SECTORS; s += mib)
                if (pick_geometry(f, s, fat_bits, true, &g)) {
                        *ret = s * SECTOR;
                        return 0;
                }
        return kiln_errorf(-EFBIG, "%zu file%s in %zu folder%s do not fit in any %s volume", f->n_files,
                           plural(f->n_files), f->n_dirs + 1, plural(f->n_dirs + 1), type_name(fat_bits));
}

/* -------------------------------------------------------- phase 2: layout */

struct layout {
        struct geometry g;
        bool label;
        struct fat_node **order;  /* nodes with clusters, in cluster order */
        size_t n, cap;
        uint32_t next;            /* first unallocated cluster */
};

static int give_clusters(struct layout *l, struct fat_node *n, uint32_t count)
{
        n->first_cluster = count ? l->next : 0;
        n->n_clusters = count;
        if (!count)
                return 0;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                struct fat_node **p = realloc(l->order, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                l->order = p;
                l->cap = cap;
        }
        l->order[l->n++] = n;
        l->next += count;
        return 0;
}

/* A folder's clusters, then its entries' in sorted order, depth first. */
static int allocate(struct layout *l, struct fat_node *d)
{
        uint32_t cb = cluster_bytes(&l->g);
        int r = 0;

        if (d->parent || l->g.bits == 32)
                r = give_clusters(l, d, dir_clusters(d, cb, l->label));
        else
                d->first_cluster = d->n_clusters = 0; /* the FAT12/16 root has its own region */
        for (size_t i = 0; i < d->n_children && r >= 0; i++) {
                struct fat_node *c = d->children[i];
                r = c->is_dir ? allocate(l, c) : give_clusters(l, c, (uint32_t)DIV_ROUND_UP(c->size, cb));
        }
        return r;
}

/* -------------------------------------------------------- phase 3: output */

/* Sequential output batched into large writes. */
struct run {
        struct kiln_disk *disk;
        uint64_t off;             /* where buf[0] goes */
        uint8_t *buf;
        size_t len;
};

static int run_flush(struct run *w)
{
        int r;

        if (!w->len)
                return 0;
        r = kiln_disk_pwrite(w->disk, w->buf, w->len, w->off);
        if (r < 0)
                return r;
        w->off += w->len;
        w->len = 0;
        return 0;
}

static int run_put(struct run *w, const void *data, size_t n)
{
        const uint8_t *p = data;

        while (n > 0) {
                size_t k;
                int r;

                if (w->len == 0 && n >= RUN_BUFFER) { /* no point copying it */
                        r = kiln_disk_pwrite(w->disk, p, n, w->off);
                        if (r < 0)
                                return r;
                        w->off += n;
                        return 0;
                }
                k = MIN(n, RUN_BUFFER - w->len);
                memcpy(w->buf + w->len, p, k);
                w->len += k;
                p += k;
                n -= k;
                if (w->len == RUN_BUFFER && (r = run_flush(w)) < 0)
                        return r;
        }
        return 0;
}

static int run_zero(struct run *w, uint64_t n)
{
        while (n > 0) {
                size_t k = (size_t)MIN(n, (uint64_t)(RUN_BUFFER - w->len));
                int r;

                memset(w->buf + w->len, 0, k);
                w->len += k;
                n -= k;
                if (w->len == RUN_BUFFER && (r = run_flush(w)) < 0)
                        return r;
        }
        return 0;
}

static int run_copy_fd(struct run *w, int fd, size_t n)
{
        int r = run_flush(w);

        if (r < 0)
                return r;
        r = kiln_disk_copy_from_fd(w->disk, fd, 0, n, w->off);
        if (r < 0)
                return r;
        w->off += n;
        return 0;
}

struct volume {
        uint8_t label[11];        /* "NO NAME    " without one */
        bool has_label;
        uint32_t volume_id, hidden_sectors;
        uint16_t date, time;
        uint8_t time_cs;          /* 0 or 100: the odd second */
};

static void set_stamp(struct volume *v, time_t t)
{
        struct tm tm;

        /* FAT dates run from 1980 to 2107. */
        if ((int64_t)t < INT64_C(315532800))
                t = (time_t)315532800;
        if ((int64_t)t > INT64_C(4354819198))
                t = (time_t)INT64_C(4354819198);
        gmtime_r(&t, &tm);
        v->date = (uint16_t)((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
        v->time = (uint16_t)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
        v->time_cs = (uint8_t)(tm.tm_sec % 2 * 100);
}

static int make_label(const char *label, struct volume *v)
{
        size_t n = label ? strlen(label) : 0;

        memcpy(v->label, "NO NAME    ", 11);
        v->has_label = false;
        if (n > 11)
                return kiln_errorf(-EINVAL, "FAT volume label '%s' is longer than 11 characters", label);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)label[i];
                if (c != ' ' && !short_char_ok(c))
                        return c < 0x20 || c >= 0x7F
                                       ? kiln_errorf(-EINVAL, "FAT volume label '%s' holds byte 0x%02x; labels are ASCII",
                                                     label, c)
                                       : kiln_errorf(-EINVAL, "FAT volume label '%s' holds '%c', which a label cannot",
                                                     label, c);
                v->has_label |= c != ' ';
        }
        if (v->has_label) {
                memset(v->label, ' ', 11);
                for (size_t i = 0; i < n; i++)
                        v->label[i] = (uint8_t)ascii_upper((unsigned char)label[i]);
        }
        return 0;
}

static void put_entry(uint8_t *e, const uint8_t name[11], uint8_t attr, uint8_t lcase, uint32_t cluster,
                      uint32_t size, const struct volume *v)
{
        memcpy(e, name, 11);
        e[11] = attr;
        e[12] = lcase;
        e[13] = v->time_cs;
        put_le16(e + 14, v->time);   /* created */
        put_le16(e + 16, v->date);
        put_le16(e + 18, v->date);   /* accessed */
        put_le16(e + 20, (uint16_t)(cluster >> 16));
        put_le16(e + 22, v->time);   /* modified */
        put_le16(e + 24, v->date);
        put_le16(e + 26, (uint16_t)cluster);
        put_le32(e + 28, size);
}

static uint8_t short_checksum(const uint8_t n[11])
{
        uint8_t sum = 0;

        for (int i = 0; i < 11; i++)
                sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + n[i]);
        return sum;
}

/* Long-name entries go before the short entry, last part first; a part is
 * 13 UTF-16 units, the name ends with 0x0000 and is padded with 0xFFFF. */
static uint8_t *put_long_name(uint8_t *e, const struct fat_node *c)
{
        static const uint8_t unit_off[LFN_UNITS_PER_ENTRY] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
        size_t parts = DIV_ROUND_UP(c->uname_len, LFN_UNITS_PER_ENTRY);
        uint8_t sum = short_checksum(c->short_name);

        for (size_t k = parts; k >= 1; k--, e += DIRENT) {
                memset(e, 0, DIRENT);
                e[0] = (uint8_t)(k | (k == parts ? 0x40 : 0));
                e[11] = ATTR_LFN;
                e[13] = sum;
                for (size_t j = 0; j < LFN_UNITS_PER_ENTRY; j++) {
                        size_t i = (k - 1) * LFN_UNITS_PER_ENTRY + j;
                        put_le16(e + unit_off[j], i < c->uname_len ? c->uname[i] : i == c->uname_len ? 0 : 0xFFFF);
                }
        }
        return e;
}

static int emit_dir(struct run *w, const struct fat_node *d, size_t bytes, const struct volume *v)
{
        _cleanup_free_ uint8_t *buf = calloc(1, bytes);
        uint8_t *e = buf;

        if (!buf)
                return -ENOMEM;
        if (!d->parent) {
                if (v->has_label) {
                        put_entry(e, v->label, ATTR_VOLUME, 0, 0, 0, v);
                        e += DIRENT;
                }
        } else {
                /* ".." of a child of the root says 0, even on FAT32. */
                put_entry(e, (const uint8_t *)".          ", ATTR_DIR, 0, d->first_cluster, 0, v);
                put_entry(e + DIRENT, (const uint8_t *)"..         ", ATTR_DIR, 0,
                          d->parent->parent ? d->parent->first_cluster : 0, 0, v);
                e += 2 * DIRENT;
        }
        for (size_t i = 0; i < d->n_children; i++) {
                const struct fat_node *c = d->children[i];
                if (c->needs_lfn)
                        e = put_long_name(e, c);
                put_entry(e, c->short_name, c->is_dir ? ATTR_DIR : ATTR_ARCHIVE, c->lcase, c->first_cluster,
                          c->is_dir ? 0 : c->size, v);
                e += DIRENT;
        }
        return run_put(w, buf, bytes);
}

static int emit_file(struct run *w, const struct fat_node *c, uint32_t cb)
{
        int r = c->fd >= 0 ? run_copy_fd(w, c->fd, c->size) : run_put(w, c->data, c->size);

        if (r < 0)
                return r;
        /* The tail of the last cluster is written too: no stale bytes. */
        return run_zero(w, (uint64_t)c->n_clusters * cb - c->size);
}

/* x86 code for the boot sector, after mkfs.fat's: print the message with
 * the BIOS, wait for a key, then ask the BIOS for the next boot device. */
static const uint8_t boot_code[] = {
        0x0e,             /* push cs */
        0x1f,             /* pop ds */
        0xbe, 0x00, 0x00, /* mov si, message (patched in) */
        0xac,             /* print: lodsb */
        0x22, 0xc0,       /* and al, al */
        0x74, 0x0b,       /* jz key */
        0x56,             /* push si */
        0xb4, 0x0e,       /* mov ah, 0x0e: teletype output */
        0xbb, 0x07, 0x00, /* mov bx, 0x0007 */
        0xcd, 0x10,       /* int 0x10 */
        0x5e,             /* pop si */
        0xeb, 0xf0,       /* jmp print */
        0x32, 0xe4,       /* key: xor ah, ah */
        0xcd, 0x16,       /* int 0x16: wait for a key */
        0xcd, 0x19,       /* int 0x19: next boot device */
        0xeb, 0xfe,       /* jmp $ */
};
static const char boot_message[] = "This is not a bootable disk: it holds boot loader files or data.\r\n"
                                   "Press any key to try the next boot device ...\r\n";

static void build_boot_sector(uint8_t *b, const struct geometry *g, const struct volume *v)
{
        bool fat32 = g->bits == 32;
        size_t ext = fat32 ? 0x40 : 0x24, code = fat32 ? 0x5A : 0x3E;
        uint16_t msg = (uint16_t)(0x7C00 + code + sizeof(boot_code)); /* where the BIOS loads it */

        b[0] = 0xEB; /* jmp short over the BPB to the code, nop */
        b[1] = (uint8_t)(code - 2);
        b[2] = 0x90;
        memcpy(b + 3, "MSWIN4.1", 8); /* what fatgen103 recommends for compatibility */
        put_le16(b + 11, SECTOR);
        b[13] = (uint8_t)g->spc;
        put_le16(b + 14, (uint16_t)g->reserved);
        b[16] = 2;
        put_le16(b + 17, (uint16_t)(g->root_sectors * SECTOR / DIRENT));
        put_le16(b + 19, !fat32 && g->total < 0x10000 ? (uint16_t)g->total : 0);
        b[21] = MEDIA;
        put_le16(b + 22, fat32 ? 0 : (uint16_t)g->fat_sectors);
        put_le16(b + 24, 63);  /* geometry of LBA-translated disks; nothing reads it */
        put_le16(b + 26, 255);
        put_le32(b + 28, v->hidden_sectors);
        put_le32(b + 32, fat32 || g->total >= 0x10000 ? g->total : 0);
        if (fat32) {
                put_le32(b + 36, g->fat_sectors);
                put_le16(b + 40, 0); /* both FATs mirrored */
                put_le16(b + 42, 0); /* version 0.0 */
                put_le32(b + 44, 2); /* root folder */
                put_le16(b + 48, 1); /* FSInfo */
                put_le16(b + 50, 6); /* backup boot sector */
        }
        b[ext] = 0x80; /* BIOS drive number: a hard disk */
        b[ext + 2] = 0x29;
        put_le32(b + ext + 3, v->volume_id);
        memcpy(b + ext + 7, v->label, 11);
        memcpy(b + ext + 18, type_name(g->bits), 5);
        memset(b + ext + 23, ' ', 3);
        memcpy(b + code, boot_code, sizeof(boot_code));
        put_le16(b + code + 3, msg);
        memcpy(b + code + sizeof(boot_code), boot_message, sizeof(boot_message));
        b[510] = 0x55;
        b[511] = 0xAA;
}

static void build_fsinfo(uint8_t *s, uint32_t free_clusters, uint32_t next_free)
{
        put_le32(s, 0x41615252);
        put_le32(s + 484, 0x61417272);
        put_le32(s + 488, free_clusters);
        put_le32(s + 492, next_free);
        put_le32(s + 508, 0xAA550000);
}

static int emit_reserved(struct run *w, const struct layout *l, const struct volume *v)
{
        size_t bytes = (size_t)l->g.reserved * SECTOR;
        _cleanup_free_ uint8_t *buf = calloc(1, bytes);

        if (!buf)
                return -ENOMEM;
        build_boot_sector(buf, &l->g, v);
        if (l->g.bits == 32) {
                uint32_t free_clusters = l->g.clusters + 2 - l->next;

                build_fsinfo(buf + SECTOR, free_clusters, free_clusters ? l->next : 0xFFFFFFFF);
                memcpy(buf + 6 * SECTOR, buf, 2 * SECTOR); /* backups of both */
        }
        return run_put(w, buf, bytes);
}

static void fat_set(uint8_t *fat, unsigned bits, uint32_t i, uint32_t v)
{
        if (bits == 32) {
                put_le32(fat + 4 * (size_t)i, v);
        } else if (bits == 16) {
                put_le16(fat + 2 * (size_t)i, (uint16_t)v);
        } else {
                uint8_t *p = fat + i + i / 2;
                if (i & 1) {
                        p[0] = (uint8_t)((p[0] & 0x0F) | (v << 4 & 0xF0));
                        p[1] = (uint8_t)(v >> 4);
                } else {
                        p[0] = (uint8_t)v;
                        p[1] = (uint8_t)((p[1] & 0xF0) | (v >> 8 & 0x0F));
                }
        }
}

/* Both FATs: the chains, then zeros for every free cluster. */
static int emit_fats(struct run *w, const struct layout *l)
{
        unsigned bits = l->g.bits;
        uint32_t eoc = fat_type(bits)->eoc;
        size_t head = DIV_ROUND_UP((size_t)l->next * bits, 8);
        uint64_t bytes = (uint64_t)l->g.fat_sectors * SECTOR;
        _cleanup_free_ uint8_t *fat = calloc(1, head);
        int r;

        if (!fat)
                return -ENOMEM;
        /* Entry 0 holds the media byte; entry 1 has the clean-unmount and
         * no-error bits set (all ones), as mkfs.fat leaves them. */
        fat_set(fat, bits, 0, (eoc & ~0xFFu) | MEDIA);
        fat_set(fat, bits, 1, eoc);
        for (size_t k = 0; k < l->n; k++) {
                const struct fat_node *n = l->order[k];
                for (uint32_t i = 0; i < n->n_clusters; i++)
                        fat_set(fat, bits, n->first_cluster + i,
                                i + 1 < n->n_clusters ? n->first_cluster + i + 1 : eoc);
        }
        for (int copy = 0; copy < 2; copy++) {
                r = run_put(w, fat, head);
                if (r < 0)
                        return r;
                r = run_zero(w, bytes - head);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int emit_volume(struct run *w, const struct kiln_fat *f, const struct layout *l, const struct volume *v)
{
        uint32_t cb = cluster_bytes(&l->g);
        int r;

        r = emit_reserved(w, l, v);
        if (r < 0)
                return r;
        r = emit_fats(w, l);
        if (r < 0)
                return r;
        if (l->g.bits != 32) {
                r = emit_dir(w, f->root, (size_t)l->g.root_sectors * SECTOR, v);
                if (r < 0)
                        return r;
        }
        /* Clusters were handed out in this order, so the data area is one
         * contiguous run from cluster 2. */
        for (size_t k = 0; k < l->n; k++) {
                const struct fat_node *n = l->order[k];
                r = n->is_dir ? emit_dir(w, n, (size_t)n->n_clusters * cb, v) : emit_file(w, n, cb);
                if (r < 0)
                        return r;
        }
        return run_flush(w);
}

/* ------------------------------------------------------------------ write */

static int write_volume(struct kiln_disk *disk, const struct kiln_fat *f, const struct layout *l,
                        const struct volume *v, const char *what)
{
        _cleanup_free_ uint8_t *buf = malloc(RUN_BUFFER);
        struct run w = { .disk = disk, .buf = buf };
        int r;

        if (!buf)
                return -ENOMEM;
        kiln_clear_error(); /* so that a message after a failure is this write's */
        r = emit_volume(&w, f, l, v);
        return r < 0 ? kiln_error_prefix(r, "cannot write %s", what) : 0;
}

static int no_geometry(struct kiln_fat *f, uint64_t size, unsigned want, const char *what)
{
        char have[32], need[32];
        uint64_t min;
        int r;

        format_size(size, have, sizeof(have));
        if (too_large(size / SECTOR, want))
                return kiln_errorf(-EFBIG, "%s of %s is too large for %s (at most %s)", what, have, type_name(want),
                                   want == 12 ? "about 128 MiB" : want == 16 ? "about 2 GiB" : "2 TiB");
        r = kiln_fat_min_size(f, want, &min);
        if (r < 0)
                return kiln_error_prefix(r, "%s", what);
        format_size(min, need, sizeof(need));
        return kiln_errorf(-ENOSPC, "%s of %s is too small: its %zu file%s in %zu folder%s need at least %s%s%s",
                           what, have, f->n_files, plural(f->n_files), f->n_dirs + 1, plural(f->n_dirs + 1), need,
                           want ? " as " : "", want ? type_name(want) : "");
}

int kiln_fat_write(struct kiln_fat *f, struct kiln_disk *disk, const struct kiln_fat_opts *o,
                   struct kiln_fat_result *ret)
{
        struct layout l = { .next = 2 };
        struct volume v = { .volume_id = o->volume_id, .hidden_sectors = o->hidden_sectors };
        char what[48];
        int r;

        r = check_bits(o->fat_bits);
        if (r < 0)
                return r;
        r = make_label(o->label, &v);
        if (r < 0)
                return r;
        set_stamp(&v, o->mtime);
        r = prepare_names(f);
        if (r < 0)
                return r;
        l.label = v.has_label;
        if (v.has_label)
                snprintf(what, sizeof(what), "FAT volume '%s'", o->label);
        else
                snprintf(what, sizeof(what), "unlabelled FAT volume");
        if (!pick_geometry(f, disk->size / SECTOR, o->fat_bits, l.label, &l.g))
                return no_geometry(f, disk->size, o->fat_bits, what);

        r = allocate(&l, f->root);
        if (r >= 0)
                r = write_volume(disk, f, &l, &v, what);
        if (r >= 0 && ret)
                *ret = (struct kiln_fat_result){
                        .fat_bits = l.g.bits,
                        .cluster_size = cluster_bytes(&l.g),
                        .clusters = l.g.clusters,
                        .free_clusters = l.g.clusters + 2 - l.next,
                };
        free(l.order);
        return r;
}
