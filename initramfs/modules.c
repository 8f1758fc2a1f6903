/* SPDX-License-Identifier: MIT */
/* Kernel module closure for the initramfs, and the initramfs itself. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <lzma.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cpio.h"
#include "modinfo.h"
#include "modules.h"
#include "util.h"

const char *const kiln_initramfs_default_modules[] = {
        "virtio_pci", "virtio_blk", "virtio_scsi", "sd_mod", "sr_mod", "virtio_net", /* KVM */
        "nvme", "ena",                                                         /* Nitro */
        "xen-blkfront", "xen-netfront",                                        /* Xen HVM */
        "vfat", "nls_cp437", "nls_ascii", "nls_iso8859-1", "iso9660",          /* NoCloud seed */
        NULL,
};

/* ------------------------------------------------------- host folder source */

static int host_read(void *ud, const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ char *full = NULL;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        struct stat st;
        size_t len = 0;

        if (asprintf(&full, "%s/%s", (const char *)ud, path) < 0)
                return -ENOMEM;
        fd = open(full, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? -ENOENT : kiln_errorf(-errno, "cannot open '%s': %m", full);
        if (fstat(fd, &st) < 0)
                return kiln_errorf(-errno, "cannot stat '%s': %m", full);
        if (!S_ISREG(st.st_mode))
                return -ENOENT;
        if ((uint64_t)st.st_size > max)
                return kiln_errorf(-EFBIG, "'%s' is larger than %zu bytes", full, max);
        buf = malloc(st.st_size ? (size_t)st.st_size : 1);
        if (!buf)
                return -ENOMEM;
        while (len < (size_t)st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kiln_errorf(-errno, "cannot read '%s': %m", full);
                if (n == 0)
                        return kiln_errorf(-EIO, "'%s' shrank while read", full);
                len += (size_t)n;
        }
        *ret = TAKE_PTR(buf);
        *ret_len = len;
        return 0;
}

static int host_walk(int dirfd, char *rel, size_t rel_len, size_t cap, int (*fn)(void *ctx, const char *rel),
                     void *ctx)
{
        DIR *d = fdopendir(dirfd);
        struct dirent *de;
        int r = 0;

        if (!d) {
                close(dirfd);
                return -errno;
        }
        while (r >= 0 && (errno = 0, de = readdir(d))) {
                size_t n = strlen(de->d_name);
                struct stat st;
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (rel_len + n + 2 > cap)
                        continue;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                size_t l = rel_len;
                if (l)
                        rel[l++] = '/';
                memcpy(rel + l, de->d_name, n + 1);
                if (S_ISREG(st.st_mode)) {
                        r = fn(ctx, rel);
                } else if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                        if (sub >= 0)
                                r = host_walk(sub, rel, l + n, cap, fn, ctx);
                }
                rel[rel_len] = 0;
        }
        if (r >= 0 && errno)
                r = -errno;
        closedir(d);
        return r;
}

static int host_list(void *ud, const char *dir, int (*fn)(void *ctx, const char *rel), void *ctx)
{
        _cleanup_free_ char *full = NULL;
        char rel[4096] = "";
        int fd;

        if (asprintf(&full, "%s/%s", (const char *)ud, dir) < 0)
                return -ENOMEM;
        fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT || errno == ENOTDIR ? -ENOENT : kiln_errorf(-errno, "cannot open '%s': %m", full);
        return host_walk(fd, rel, 0, sizeof(rel), fn, ctx);
}

void kiln_modsrc_host_dir(const char *root, struct kiln_modsrc *ret)
{
        *ret = (struct kiln_modsrc){ .read = host_read, .list = host_list, .ud = (void *)root };
}

/* --------------------------------------------------------- decompression */

static int grow(uint8_t **buf, size_t *cap, size_t max)
{
        size_t ncap = *cap >= max / 2 ? max + 1 : *cap * 2;
        uint8_t *n;

        if (*cap > max)
                return -EFBIG;
        n = realloc(*buf, ncap);
        if (!n)
                return -ENOMEM;
        *buf = n;
        *cap = ncap;
        return 0;
}

static int unxz(const uint8_t *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
        lzma_stream s = LZMA_STREAM_INIT;
        _cleanup_free_ uint8_t *out = NULL;
        size_t cap = MIN(max, len * 4 + 4096);
        lzma_ret lr;
        int r = 0;

        if (lzma_stream_decoder(&s, 1u << 30, LZMA_CONCATENATED) != LZMA_OK)
                return kiln_errorf(-ENOMEM, "cannot set up xz decompression");
        out = malloc(cap);
        if (!out) {
                lzma_end(&s);
                return -ENOMEM;
        }
        s.next_in = in;
        s.avail_in = len;
        s.next_out = out;
        s.avail_out = cap;
        for (;;) {
                lr = lzma_code(&s, LZMA_FINISH);
                if (lr == LZMA_STREAM_END)
                        break;
                if (lr == LZMA_OK && s.avail_out == 0) {
                        size_t done = cap;
                        if (cap > max) {
                                r = kiln_errorf(-EFBIG, "xz data decompresses to more than %zu bytes", max);
                                break;
                        }
                        r = grow(&out, &cap, max);
                        if (r < 0)
                                break;
                        s.next_out = out + done;
                        s.avail_out = cap - done;
                        continue;
                }
                if (lr == LZMA_OK)
                        lr = LZMA_BUF_ERROR; /* no progress: truncated */
                r = kiln_errorf(lr == LZMA_MEM_ERROR ? -ENOMEM : -EBADMSG, "xz data is %s",
                                lr == LZMA_MEM_ERROR       ? "too large to unpack in memory"
                                : lr == LZMA_BUF_ERROR     ? "truncated"
                                : lr == LZMA_FORMAT_ERROR  ? "not in the xz format"
                                : lr == LZMA_OPTIONS_ERROR ? "in an unsupported xz variant"
                                                           : "corrupt");
                break;
        }
        size_t n = cap - s.avail_out;
        lzma_end(&s);
        if (r < 0)
                return r;
        if (n > max)
                return kiln_errorf(-EFBIG, "xz data decompresses to more than %zu bytes", max);
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}

static int ungzip(const uint8_t *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
        z_stream z = { 0 };
        _cleanup_free_ uint8_t *out = NULL;
        size_t cap = MIN(max, len * 4 + 4096), n;
        int zr, r = 0;

        if (len > UINT32_MAX)
                return kiln_errorf(-EFBIG, "gzip data larger than 4 GiB");
        if (inflateInit2(&z, 15 + 16) != Z_OK)
                return kiln_errorf(-ENOMEM, "cannot set up gzip decompression");
        out = malloc(cap);
        if (!out) {
                inflateEnd(&z);
                return -ENOMEM;
        }
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)len;
        for (;;) {
                z.next_out = out + z.total_out;
                z.avail_out = (uInt)MIN(cap - z.total_out, (size_t)UINT32_MAX);
                zr = inflate(&z, Z_FINISH);
                if (zr == Z_STREAM_END)
                        break;
                if ((zr == Z_BUF_ERROR || zr == Z_OK) && z.avail_out == 0) {
                        if (cap > max) {
                                r = kiln_errorf(-EFBIG, "gzip data decompresses to more than %zu bytes", max);
                                break;
                        }
                        r = grow(&out, &cap, max);
                        if (r < 0)
                                break;
                        continue;
                }
                r = kiln_errorf(zr == Z_MEM_ERROR ? -ENOMEM : -EBADMSG, "gzip data is %s",
                                zr == Z_BUF_ERROR ? "truncated" : "corrupt");
                break;
        }
        n = z.total_out;
        inflateEnd(&z);
        if (r < 0)
                return r;
        if (n > max)
                return kiln_errorf(-EFBIG, "gzip data decompresses to more than %zu bytes", max);
        *ret = TAKE_PTR(out);
        *ret_len = n;
        return 0;
}

/* A module's bytes as the kernel loads them: unpacked by magic, not by name. */
static int unpack_module(uint8_t *in, size_t len, uint8_t **ret, size_t *ret_len)
{
        if (len >= 6 && !memcmp(in, "\xfd" "7zXZ\0", 6))
                return unxz(in, len, KILN_MODULE_MAX_FILE, ret, ret_len);
        if (len >= 4 && !memcmp(in, "\x28\xb5\x2f\xfd", 4))
                return kiln_zstd_decompress(in, len, KILN_MODULE_MAX_FILE, ret, ret_len);
        if (len >= 2 && !memcmp(in, "\x1f\x8b", 2))
                return ungzip(in, len, KILN_MODULE_MAX_FILE, ret, ret_len);
        *ret = in; /* as it is */
        *ret_len = len;
        return 1;
}

/* ------------------------------------------------------------ string lists */

struct strv {
        char **v;
        size_t n, cap;
};

static void strv_free(struct strv *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        *s = (struct strv){ 0 };
}

static int strv_push(struct strv *s, char *owned)
{
        if (!owned)
                return -ENOMEM;
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 16;
                char **v = realloc(s->v, cap * sizeof(*v));
                if (!v) {
                        free(owned);
                        return -ENOMEM;
                }
                s->v = v;
                s->cap = cap;
        }
        s->v[s->n++] = owned;
        return 0;
}

static bool strv_has(const struct strv *s, const char *str);

/* Push a formatted line unless the list has it already (notes say a thing once). */
static int strv_pushf(struct strv *s, const char *fmt, ...) _printf_(2, 3);
static int strv_pushf(struct strv *s, const char *fmt, ...)
{
        char *p;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (strv_has(s, p)) {
                free(p);
                return 0;
        }
        return strv_push(s, p);
}

static bool strv_has(const struct strv *s, const char *str)
{
        for (size_t i = 0; i < s->n; i++)
                if (!strcmp(s->v[i], str))
                        return true;
        return false;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_sort_uniq(struct strv *s)
{
        size_t o = 0;

        if (s->n == 0)
                return;
        qsort(s->v, s->n, sizeof(*s->v), cmp_str);
        for (size_t i = 0; i < s->n; i++) {
                if (o && !strcmp(s->v[o - 1], s->v[i]))
                        free(s->v[i]);
                else
                        s->v[o++] = s->v[i];
        }
        s->n = o;
}

static bool strv_bsearch(const struct strv *s, const char *str)
{
        return s->n && bsearch(&str, s->v, s->n, sizeof(*s->v), cmp_str);
}

/* ------------------------------------------------------------ the closure */

/* A module file of the kernel. */
struct index_entry {
        char *name; /* normalised */
        char *rel;  /* below lib/modules/V */
        int prio;   /* updates/ 0, others 1, kernel/ 2: the lowest wins a name */
        struct strv deps; /* from modules.dep */
};

struct alias {
        char *pattern; /* normalised */
        char *name;
};

struct edge {
        size_t to; /* loads after node `to` */
        bool soft;
};

struct node {
        char *name;
        const struct index_entry *ie;
        bool wanted, loaded;
        struct edge *edges;
        size_t n_edges;
        struct kiln_modinfo mi;
        uint8_t *data;
        size_t len;
        int state; /* DFS: 0 new, 1 on the stack, 2 done */
        unsigned level;
};

struct ctx {
        const struct kiln_modsrc *src;
        const char *version;
        char *base; /* lib/modules/V */
        struct index_entry *idx;
        size_t n_idx, cap_idx;
        bool have_dep;
        struct strv builtin_all;
        struct alias *balias, *malias;
        size_t n_balias, n_malias;
        bool malias_loaded;
        struct node *nodes;
        size_t n_nodes, cap_nodes;
        struct strv builtin, missing, notes;
};

static bool has_suffix(const char *s, size_t n, const char *suffix, size_t *ret_stem)
{
        size_t l = strlen(suffix);

        if (n < l || memcmp(s + n - l, suffix, l))
                return false;
        *ret_stem = n - l;
        return true;
}

/* "kernel/fs/fat/vfat.ko.xz" -> stem length of the ".ko" path; false when no module. */
static bool module_file(const char *rel, size_t *ret_ko_len)
{
        size_t n = strlen(rel), stem;

        if (has_suffix(rel, n, ".ko", &stem) || has_suffix(rel, n, ".ko.xz", &stem) ||
            has_suffix(rel, n, ".ko.zst", &stem) || has_suffix(rel, n, ".ko.gz", &stem)) {
                *ret_ko_len = stem + 3;
                return stem > 0 && rel[stem - 1] != '/';
        }
        return false;
}

/* The normalised module name of a path ("a/b/xen-blkfront.ko.xz" -> "xen_blkfront"). */
static char *name_of(const char *rel)
{
        size_t ko;
        const char *slash = strrchr(rel, '/');
        const char *base = slash ? slash + 1 : rel;
        char *n;

        if (!module_file(base, &ko))
                return NULL;
        n = strndup(base, ko - 3);
        if (n)
                kiln_module_name_normalize(n);
        return n;
}

static int cmp_index(const void *a, const void *b)
{
        const struct index_entry *x = a, *y = b;
        int d = strcmp(x->name, y->name);

        if (d)
                return d;
        if (x->prio != y->prio)
                return x->prio - y->prio;
        return strcmp(x->rel, y->rel);
}

static int index_add(struct ctx *c, const char *rel)
{
        char *name = name_of(rel);

        if (!name)
                return 0; /* not a module file */
        if (c->n_idx == c->cap_idx) {
                size_t cap = c->cap_idx ? c->cap_idx * 2 : 1024;
                struct index_entry *n = realloc(c->idx, cap * sizeof(*n));
                if (!n) {
                        free(name);
                        return -ENOMEM;
                }
                c->idx = n;
                c->cap_idx = cap;
        }
        char *r = strdup(rel);
        if (!r) {
                free(name);
                return -ENOMEM;
        }
        c->idx[c->n_idx++] = (struct index_entry){
                .name = name,
                .rel = r,
                .prio = !strncmp(rel, "updates/", 8) ? 0 : !strncmp(rel, "kernel/", 7) ? 2 : 1,
        };
        if (c->n_idx > 1u << 20)
                return kiln_errorf(-E2BIG, "more than %u module files in '%s'", 1u << 20, c->base);
        return 0;
}

static int index_add_cb(void *ctx, const char *rel)
{
        return index_add(ctx, rel);
}

/* Sort by name, keep the preferred file of each name. */
static void index_finish(struct ctx *c)
{
        size_t o = 0;

        if (c->n_idx == 0)
                return;
        qsort(c->idx, c->n_idx, sizeof(*c->idx), cmp_index);
        for (size_t i = 0; i < c->n_idx; i++) {
                if (o && !strcmp(c->idx[o - 1].name, c->idx[i].name)) {
                        free(c->idx[i].name);
                        free(c->idx[i].rel);
                        strv_free(&c->idx[i].deps);
                } else {
                        c->idx[o++] = c->idx[i];
                }
        }
        c->n_idx = o;
}

static const struct index_entry *index_find(const struct ctx *c, const char *name)
{
        size_t lo = 0, hi = c->n_idx;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int d = strcmp(c->idx[mid].name, name);
                if (!d)
                        return &c->idx[mid];
                if (d < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* A path as modules.dep writes it: relative, or absolute under /lib/modules/V/. */
static const char *dep_rel(const struct ctx *c, const char *p)
{
        size_t bl = strlen(c->base);

        if (*p != '/')
                return p;
        if (!strncmp(p + 1, c->base, bl) && p[1 + bl] == '/')
                return p + 2 + bl;
        if (!strncmp(p, "/usr/", 5) && !strncmp(p + 5, c->base, bl) && p[5 + bl] == '/')
                return p + 6 + bl;
        return NULL;
}

/* An index file of lib/modules/V, NUL-terminated; text: a NUL inside
 * becomes '\n' (a line never ends early). */
static int read_index_file(struct ctx *c, const char *file, bool text, char **ret, size_t *ret_len)
{
        _cleanup_free_ char *path = NULL;
        uint8_t *buf;
        size_t len;
        int r;

        if (asprintf(&path, "%s/%s", c->base, file) < 0)
                return -ENOMEM;
        r = c->src->read(c->src->ud, path, KILN_MODULE_MAX_INDEX, &buf, &len);
        if (r < 0)
                return r == -ENOENT ? r : kiln_error_prefix(r, "cannot read '%s'", path);
        /* As a string: one more byte for the NUL. */
        char *s = realloc(buf, len + 1);
        if (!s) {
                free(buf);
                return -ENOMEM;
        }
        s[len] = 0;
        for (size_t i = 0; text && i < len; i++)
                if (!s[i])
                        s[i] = '\n';
        *ret = s;
        if (ret_len)
                *ret_len = len;
        return 0;
}

/* modules.dep: "kernel/a/x.ko: kernel/b/y.ko kernel/c/z.ko" per line. */
static int load_modules_dep(struct ctx *c, char *text)
{
        char *save = NULL;

        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(line, ':');
                if (!colon || line[0] == '#')
                        continue;
                *colon = 0;
                const char *rel = dep_rel(c, line);
                if (!rel || !module_file(rel, &(size_t){ 0 }))
                        continue;
                int r = index_add(c, rel);
                if (r < 0)
                        return r;
                struct index_entry *ie = &c->idx[c->n_idx - 1];
                char *s2 = NULL;
                for (char *d = strtok_r(colon + 1, " \t\r", &s2); d; d = strtok_r(NULL, " \t\r", &s2)) {
                        char *dn = name_of(d);
                        if (!dn)
                                continue;
                        r = strv_push(&ie->deps, dn);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* Alias patterns match names with '-' and '_' alike, outside [...] classes. */
static void normalize_pattern(char *p)
{
        int depth = 0;

        for (; *p; p++) {
                if (*p == '[')
                        depth++;
                else if (*p == ']' && depth > 0)
                        depth--;
                else if (*p == '-' && depth == 0)
                        *p = '_';
        }
}

static int alias_push(struct alias **v, size_t *n, const char *pattern, size_t plen, const char *name, size_t nlen)
{
        if ((*n & 1023) == 0) {
                struct alias *a = realloc(*v, (*n + 1024) * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                *v = a;
        }
        char *p = strndup(pattern, plen), *m = strndup(name, nlen);
        if (!p || !m) {
                free(p);
                free(m);
                return -ENOMEM;
        }
        normalize_pattern(p);
        kiln_module_name_normalize(m);
        (*v)[(*n)++] = (struct alias){ p, m };
        return 0;
}

/* modules.builtin (names) and modules.builtin.modinfo (aliases of built-ins). */
static int load_builtin(struct ctx *c)
{
        _cleanup_free_ char *text = NULL, *mi = NULL;
        int r;

        r = read_index_file(c, "modules.builtin", true, &text, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT)
                strv_pushf(&c->notes, "%s/modules.builtin: absent, so no module counts as built in", c->base);
        char *save = NULL;
        for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
                char *n = name_of(line);
                if (n && (r = strv_push(&c->builtin_all, n)) < 0)
                        return r;
        }
        strv_sort_uniq(&c->builtin_all);

        /* "crc32c_generic.alias=crc32c\0" */
        size_t len = 0;
        r = read_index_file(c, "modules.builtin.modinfo", false, &mi, &len);
        if (r < 0 && r != -ENOENT)
                return r;
        const char *key, *value;
        size_t klen, vlen, pos = 0;
        while (mi && kiln_modinfo_next(mi, len, &pos, &key, &klen, &value, &vlen) > 0) {
                const char *dot = memchr(key, '.', klen);
                if (!dot || (size_t)(key + klen - dot) != sizeof(".alias") - 1 || memcmp(dot, ".alias", 6))
                        continue;
                r = alias_push(&c->balias, &c->n_balias, value, vlen, key, (size_t)(dot - key));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_module(struct ctx *c, const struct index_entry *ie, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ char *path = NULL;
        uint8_t *raw, *out;
        size_t len, out_len;
        int r;

        if (asprintf(&path, "%s/%s", c->base, ie->rel) < 0)
                return -ENOMEM;
        r = c->src->read(c->src->ud, path, KILN_MODULE_MAX_FILE, &raw, &len);
        if (r < 0)
                return kiln_error_prefix(r == -ENOENT ? -EIO : r, "cannot read module '%s'", path);
        r = unpack_module(raw, len, &out, &out_len);
        if (r < 0) {
                free(raw);
                return kiln_error_prefix(r, "cannot unpack module '%s'", path);
        }
        if (r == 0)
                free(raw);
        *ret = out;
        *ret_len = out_len;
        return 0;
}

/* Every module's alias= list, when depmod's modules.alias is not there. */
static int load_module_aliases(struct ctx *c)
{
        _cleanup_free_ char *text = NULL;
        int r;

        if (c->malias_loaded)
                return 0;
        c->malias_loaded = true;
        if (c->have_dep) {
                r = read_index_file(c, "modules.alias", true, &text, NULL);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        if (text) {
                char *save = NULL;
                for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                        char *s2 = NULL, *w0 = strtok_r(line, " \t", &s2), *pat = strtok_r(NULL, " \t", &s2),
                             *mod = strtok_r(NULL, " \t", &s2);
                        if (!w0 || strcmp(w0, "alias") || !pat || !mod)
                                continue;
                        r = alias_push(&c->malias, &c->n_malias, pat, strlen(pat), mod, strlen(mod));
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        for (size_t i = 0; i < c->n_idx; i++) {
                uint8_t *data;
                size_t len;
                struct kiln_modinfo mi;
                r = read_module(c, &c->idx[i], &data, &len);
                if (r >= 0) {
                        r = kiln_modinfo_parse(data, len, &mi);
                        free(data);
                }
                if (r == -ENOENT)
                        continue;
                /* A module nobody asked for that cannot be read is no reason
                 * to fail: it could not be loaded either. */
                if (r == -EBADMSG || r == -EOPNOTSUPP || r == -EFBIG) {
                        r = strv_pushf(&c->notes, "%s/%s: skipped looking for aliases: %s", c->base,
                                       c->idx[i].rel, kiln_last_error());
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r < 0)
                        return kiln_error_prefix(r, "cannot read module '%s/%s'", c->base, c->idx[i].rel);
                for (size_t j = 0; j < mi.n_aliases && r >= 0; j++)
                        r = alias_push(&c->malias, &c->n_malias, mi.aliases[j], strlen(mi.aliases[j]),
                                       c->idx[i].name, strlen(c->idx[i].name));
                kiln_modinfo_free(&mi);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Names (sorted, unique) of the aliases matching name. */
static int match_aliases(const struct alias *v, size_t n, const char *name, struct strv *ret)
{
        for (size_t i = 0; i < n; i++)
                if (fnmatch(v[i].pattern, name, 0) == 0 && !strv_has(ret, v[i].name)) {
                        int r = strv_push(ret, strdup(v[i].name));
                        if (r < 0)
                                return r;
                }
        strv_sort_uniq(ret);
        return 0;
}

static ssize_t node_find(const struct ctx *c, const char *name)
{
        for (size_t i = 0; i < c->n_nodes; i++)
                if (!strcmp(c->nodes[i].name, name))
                        return (ssize_t)i;
        return -1;
}

static ssize_t node_add(struct ctx *c, const struct index_entry *ie)
{
        if (c->n_nodes >= KILN_MODULE_MAX_LOADED)
                return kiln_errorf(-E2BIG, "more than %u modules to load", KILN_MODULE_MAX_LOADED);
        if (c->n_nodes == c->cap_nodes) {
                size_t cap = c->cap_nodes ? c->cap_nodes * 2 : 64;
                struct node *n = realloc(c->nodes, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                c->nodes = n;
                c->cap_nodes = cap;
        }
        char *name = strdup(ie->name);
        if (!name)
                return -ENOMEM;
        c->nodes[c->n_nodes] = (struct node){ .name = name, .ie = ie };
        return (ssize_t)c->n_nodes++;
}

enum why { WANTED, NEEDED, SOFT };

/*
 * The nodes a name stands for, made when new: a module file, else nothing
 * (built in, or missing: recorded), else the modules whose alias matches.
 */
static int resolve_name(struct ctx *c, const char *raw, enum why why, const char *by, struct strv *ret_names)
{
        _cleanup_free_ char *name = strdup(raw);
        struct strv hits = { 0 };
        int r;

        if (!name)
                return -ENOMEM;
        kiln_module_name_normalize(name);
        if (!*name)
                return 0;
        if (node_find(c, name) >= 0 || index_find(c, name)) {
                if (node_find(c, name) < 0) {
                        ssize_t i = node_add(c, index_find(c, name));
                        if (i < 0)
                                return (int)i;
                }
                return strv_push(ret_names, TAKE_PTR(name));
        }
        if (strv_bsearch(&c->builtin_all, name)) {
                if (!strv_has(&c->builtin, name))
                        return strv_push(&c->builtin, TAKE_PTR(name));
                return 0;
        }
        r = match_aliases(c->balias, c->n_balias, name, &hits);
        if (r >= 0 && hits.n) {
                r = strv_pushf(&c->notes, "%s: alias of %s, built in", name, hits.v[0]);
                if (r >= 0 && !strv_has(&c->builtin, hits.v[0]))
                        r = strv_push(&c->builtin, strdup(hits.v[0]));
                strv_free(&hits);
                return r;
        }
        if (r >= 0)
                r = load_module_aliases(c);
        if (r >= 0)
                r = match_aliases(c->malias, c->n_malias, name, &hits);
        for (size_t i = 0; r >= 0 && i < hits.n; i++) {
                const struct index_entry *ie = index_find(c, hits.v[i]);
                if (!ie)
                        continue; /* modules.alias naming a module modules.dep lacks */
                if (node_find(c, ie->name) < 0) {
                        ssize_t k = node_add(c, ie);
                        if (k < 0)
                                r = (int)k;
                }
                if (r >= 0)
                        r = strv_push(ret_names, strdup(ie->name));
                if (r >= 0)
                        r = strv_pushf(&c->notes, "%s: alias of %s", name, ie->name);
        }
        if (r < 0 || hits.n) {
                strv_free(&hits);
                return r;
        }
        switch (why) {
        case WANTED:
                r = strv_pushf(&c->notes, "%s: not in this kernel (no module, not built in)", name);
                break;
        case NEEDED:
                r = strv_pushf(&c->notes, "%s: needed by %s, not in this kernel", name, by);
                break;
        case SOFT:
                return strv_pushf(&c->notes, "%s: soft dependency of %s, not in this kernel (skipped)", name, by);
        }
        if (r >= 0 && !strv_has(&c->missing, name))
                r = strv_push(&c->missing, TAKE_PTR(name));
        return r;
}

static int add_edge(struct node *n, size_t to, bool soft)
{
        for (size_t i = 0; i < n->n_edges; i++)
                if (n->edges[i].to == to) {
                        n->edges[i].soft &= soft;
                        return 0;
                }
        struct edge *e = realloc(n->edges, (n->n_edges + 1) * sizeof(*e));
        if (!e)
                return -ENOMEM;
        n->edges = e;
        n->edges[n->n_edges++] = (struct edge){ to, soft };
        return 0;
}

/* Edges from node i (loads after) for each name in names; reverse: the
 * named nodes load after node i (softdep post). */
static int link_names(struct ctx *c, size_t i, const struct strv *names, bool soft, bool reverse)
{
        for (size_t k = 0; k < names->n; k++) {
                ssize_t j = node_find(c, names->v[k]);
                int r;
                if (j < 0 || (size_t)j == i)
                        continue;
                r = reverse ? add_edge(&c->nodes[j], i, soft) : add_edge(&c->nodes[i], (size_t)j, soft);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Read node i's module, then make its dependencies nodes too. */
static int expand(struct ctx *c, size_t i)
{
        struct strv hard = { 0 }, pre = { 0 }, post = { 0 };
        _cleanup_free_ char *name = strdup(c->nodes[i].name);
        uint8_t *data;
        size_t len;
        int r;

        if (!name)
                return -ENOMEM;
        r = read_module(c, c->nodes[i].ie, &data, &len);
        if (r < 0)
                return r;
        c->nodes[i].data = data;
        c->nodes[i].len = len;
        c->nodes[i].loaded = true;
        r = kiln_modinfo_parse(data, len, &c->nodes[i].mi);
        if (r == -ENOENT) {
                c->nodes[i].mi = (struct kiln_modinfo){ 0 };
                r = 0;
        }
        if (r < 0)
                return kiln_error_prefix(r, "cannot read module '%s/%s'", c->base, c->nodes[i].ie->rel);

        const struct kiln_modinfo *mi = &c->nodes[i].mi;
        if (mi->vermagic) {
                size_t vl = strlen(c->version);
                if (strncmp(mi->vermagic, c->version, vl) || (mi->vermagic[vl] && mi->vermagic[vl] != ' '))
                        strv_pushf(&c->notes, "%s: built for '%.*s', not %s", name,
                                   (int)strcspn(mi->vermagic, " "), mi->vermagic, c->version);
        }

        /* Hard dependencies: modules.dep when depmod ran, else depends=. */
        struct strv dep_names = { 0 };
        if (c->have_dep) {
                for (size_t k = 0; k < c->nodes[i].ie->deps.n && r >= 0; k++)
                        r = strv_push(&dep_names, strdup(c->nodes[i].ie->deps.v[k]));
        } else if (mi->depends) {
                const char *p = mi->depends;
                while (r >= 0 && *p) {
                        size_t n = strcspn(p, ",");
                        if (n)
                                r = strv_push(&dep_names, strndup(p, n));
                        p += n + (p[n] == ',');
                }
        }
        /* softdep=: "pre: a b post: c" (either part optional). */
        struct strv soft_pre = { 0 }, soft_post = { 0 };
        for (size_t s = 0; s < mi->n_softdeps && r >= 0; s++) {
                _cleanup_free_ char *copy = strdup(mi->softdeps[s]);
                struct strv *into = NULL;
                char *save = NULL;
                if (!copy) {
                        r = -ENOMEM;
                        break;
                }
                for (char *w = strtok_r(copy, " \t", &save); w && r >= 0; w = strtok_r(NULL, " \t", &save)) {
                        if (!strcmp(w, "pre:"))
                                into = &soft_pre;
                        else if (!strcmp(w, "post:"))
                                into = &soft_post;
                        else if (into)
                                r = strv_push(into, strdup(w));
                }
        }
        for (size_t k = 0; k < dep_names.n && r >= 0; k++)
                r = resolve_name(c, dep_names.v[k], NEEDED, name, &hard);
        for (size_t k = 0; k < soft_pre.n && r >= 0; k++)
                r = resolve_name(c, soft_pre.v[k], SOFT, name, &pre);
        for (size_t k = 0; k < soft_post.n && r >= 0; k++)
                r = resolve_name(c, soft_post.v[k], SOFT, name, &post);
        if (r >= 0)
                r = link_names(c, i, &hard, false, false);
        if (r >= 0)
                r = link_names(c, i, &pre, true, false);
        if (r >= 0)
                r = link_names(c, i, &post, true, true);
        strv_free(&dep_names);
        strv_free(&soft_pre);
        strv_free(&soft_post);
        strv_free(&hard);
        strv_free(&pre);
        strv_free(&post);
        return r;
}

/* Longest dependency chain below node i; a hard cycle is an error, a soft
 * edge closing a cycle is dropped with a note. */
static int level_of(struct ctx *c, size_t i)
{
        struct node *n = &c->nodes[i];
        unsigned level = 0;

        if (n->state == 2)
                return 0;
        n->state = 1;
        for (size_t k = 0; k < n->n_edges; k++) {
                struct node *to = &c->nodes[n->edges[k].to];
                if (to->state == 1) {
                        if (!n->edges[k].soft)
                                return kiln_errorf(-ELOOP, "modules '%s' and '%s' depend on each other", n->name,
                                                   to->name);
                        strv_pushf(&c->notes, "%s: soft dependency on %s dropped (a cycle)", n->name, to->name);
                        n->edges[k] = n->edges[--n->n_edges];
                        k--;
                        continue;
                }
                int r = level_of(c, n->edges[k].to);
                if (r < 0)
                        return r;
                level = MAX(level, to->level + 1);
        }
        n->level = level;
        n->state = 2;
        return 0;
}

static int cmp_node(const void *a, const void *b)
{
        const struct node *x = a, *y = b;

        if (x->level != y->level)
                return x->level < y->level ? -1 : 1;
        return strcmp(x->name, y->name);
}

static void ctx_free(struct ctx *c)
{
        for (size_t i = 0; i < c->n_idx; i++) {
                free(c->idx[i].name);
                free(c->idx[i].rel);
                strv_free(&c->idx[i].deps);
        }
        free(c->idx);
        for (size_t i = 0; i < c->n_balias; i++) {
                free(c->balias[i].pattern);
                free(c->balias[i].name);
        }
        free(c->balias);
        for (size_t i = 0; i < c->n_malias; i++) {
                free(c->malias[i].pattern);
                free(c->malias[i].name);
        }
        free(c->malias);
        for (size_t i = 0; i < c->n_nodes; i++) {
                free(c->nodes[i].name);
                free(c->nodes[i].edges);
                free(c->nodes[i].data);
                kiln_modinfo_free(&c->nodes[i].mi);
        }
        free(c->nodes);
        strv_free(&c->builtin_all);
        strv_free(&c->builtin);
        strv_free(&c->missing);
        strv_free(&c->notes);
        free(c->base);
}

static int build_result(struct ctx *c, struct kiln_modules *m)
{
        /* Sort by (level, name); edges still name old indices, so map them. */
        size_t n = c->n_nodes;
        _cleanup_free_ size_t *pos = calloc(n ? n : 1, sizeof(*pos));
        _cleanup_free_ char **oldname = calloc(n ? n : 1, sizeof(*oldname));
        int r = 0;

        if (!pos || !oldname)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                oldname[i] = c->nodes[i].name;
        /* Dep names per node before the sort moves nodes. */
        struct strv *deps = calloc(n ? n : 1, sizeof(*deps));
        if (!deps)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                for (size_t k = 0; k < c->nodes[i].n_edges && r >= 0; k++)
                        r = strv_push(&deps[i], strdup(oldname[c->nodes[i].edges[k].to]));
                strv_sort_uniq(&deps[i]);
        }
        if (r >= 0) {
                /* Sort an index array, not the nodes, to keep deps[] aligned. */
                for (size_t i = 0; i < n; i++)
                        pos[i] = i;
                for (size_t i = 1; i < n; i++) /* insertion sort: n is small */
                        for (size_t j = i; j > 0 && cmp_node(&c->nodes[pos[j - 1]], &c->nodes[pos[j]]) > 0; j--) {
                                size_t t = pos[j];
                                pos[j] = pos[j - 1];
                                pos[j - 1] = t;
                        }
                m->mods = calloc(n ? n : 1, sizeof(*m->mods));
                if (!m->mods)
                        r = -ENOMEM;
        }
        for (size_t k = 0; k < n && r >= 0; k++) {
                struct node *nd = &c->nodes[pos[k]];
                struct kiln_module *mod = &m->mods[k];
                size_t ko;
                m->n_mods = k + 1;
                module_file(nd->ie->rel, &ko);
                mod->name = TAKE_PTR(nd->name);
                if (asprintf(&mod->path, "%s/%.*s", c->base, (int)ko, nd->ie->rel) < 0 ||
                    asprintf(&mod->src_path, "%s/%s", c->base, nd->ie->rel) < 0) {
                        r = -ENOMEM;
                        break;
                }
                mod->vermagic = TAKE_PTR(nd->mi.vermagic);
                mod->deps = TAKE_PTR(deps[pos[k]].v);
                mod->n_deps = deps[pos[k]].n;
                deps[pos[k]].n = 0;
                mod->data = TAKE_PTR(nd->data);
                mod->len = nd->len;
                mod->wanted = nd->wanted;
                m->total_bytes += nd->len;
        }
        for (size_t i = 0; i < n; i++)
                strv_free(&deps[i]);
        free(deps);
        return r;
}

int kiln_modules_resolve(const struct kiln_modsrc *src, const char *version, const char *const *wanted,
                         size_t n_wanted, struct kiln_modules *ret)
{
        struct ctx c = { .src = src, .version = version };
        struct kiln_modules m = { 0 };
        _cleanup_free_ char *dep = NULL;
        int r;

        if (!version || !*version || strchr(version, '/') || !strcmp(version, ".") || !strcmp(version, ".."))
                return kiln_errorf(-EINVAL, "bad kernel version '%s'", version ? version : "");
        if (n_wanted > KILN_MODULE_MAX_WANTED)
                return kiln_errorf(-E2BIG, "more than %u modules wanted", KILN_MODULE_MAX_WANTED);
        if (asprintf(&c.base, "lib/modules/%s", version) < 0)
                return -ENOMEM;

        r = read_index_file(&c, "modules.dep", true, &dep, NULL);
        if (r >= 0) {
                c.have_dep = true;
                r = load_modules_dep(&c, dep);
        } else if (r == -ENOENT) {
                r = src->list(src->ud, c.base, index_add_cb, &c);
                if (r == -ENOENT)
                        r = kiln_errorf(-ENOENT, "the rootfs has no /%s for kernel %s", c.base, version);
                else if (r < 0)
                        r = kiln_error_prefix(r, "cannot list '/%s'", c.base);
        }
        if (r >= 0)
                index_finish(&c);
        if (r >= 0)
                r = load_builtin(&c);

        for (size_t i = 0; i < n_wanted && r >= 0; i++) {
                struct strv names = { 0 };
                r = resolve_name(&c, wanted[i], WANTED, NULL, &names);
                for (size_t k = 0; k < names.n && r >= 0; k++)
                        c.nodes[node_find(&c, names.v[k])].wanted = true;
                strv_free(&names);
        }
        /* Breadth first: nodes made while expanding are expanded in turn. */
        for (size_t i = 0; i < c.n_nodes && r >= 0; i++)
                if (!c.nodes[i].loaded)
                        r = expand(&c, i);
        for (size_t i = 0; i < c.n_nodes && r >= 0; i++)
                r = level_of(&c, i);
        if (r >= 0)
                r = build_result(&c, &m);
        if (r >= 0 && !(m.version = strdup(version)))
                r = -ENOMEM;
        if (r < 0) {
                kiln_modules_free(&m);
                ctx_free(&c);
                return r == -ENOMEM ? kiln_errorf(r, "out of memory resolving kernel modules") : r;
        }
        strv_sort_uniq(&c.builtin);
        strv_sort_uniq(&c.missing);
        m.from_modules_dep = c.have_dep;
        m.builtin = TAKE_PTR(c.builtin.v);
        m.n_builtin = c.builtin.n;
        c.builtin.n = 0;
        m.missing = TAKE_PTR(c.missing.v);
        m.n_missing = c.missing.n;
        c.missing.n = 0;
        m.notes = TAKE_PTR(c.notes.v);
        m.n_notes = c.notes.n;
        c.notes.n = 0;
        ctx_free(&c);
        *ret = m;
        return 0;
}

void kiln_modules_free(struct kiln_modules *m)
{
        if (!m)
                return;
        for (size_t i = 0; i < m->n_mods; i++) {
                struct kiln_module *k = &m->mods[i];
                free(k->name);
                free(k->path);
                free(k->src_path);
                free(k->vermagic);
                for (size_t j = 0; j < k->n_deps; j++)
                        free(k->deps[j]);
                free(k->deps);
                free(k->data);
        }
        free(m->mods);
        for (size_t i = 0; i < m->n_builtin; i++)
                free(m->builtin[i]);
        free(m->builtin);
        for (size_t i = 0; i < m->n_missing; i++)
                free(m->missing[i]);
        free(m->missing);
        for (size_t i = 0; i < m->n_notes; i++)
                free(m->notes[i]);
        free(m->notes);
        free(m->version);
        *m = (struct kiln_modules){ 0 };
}

int kiln_modules_load_path(const struct kiln_modules *m, char **ret)
{
        return asprintf(ret, "lib/modules/%s/kiln.load", m->version) < 0 ? -ENOMEM : 0;
}

int kiln_modules_load_list(const struct kiln_modules *m, char **ret, size_t *ret_len)
{
        size_t len = 0, off = 0;
        char *s;

        for (size_t i = 0; i < m->n_mods; i++)
                len += strlen(m->mods[i].path) + 2;
        s = malloc(len + 1);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < m->n_mods; i++)
                off += (size_t)sprintf(s + off, "/%s\n", m->mods[i].path);
        s[off] = 0;
        *ret = s;
        *ret_len = off;
        return 0;
}

/* ------------------------------------------------- e2fsck and its libraries */

#define PT_DYNAMIC 2
#define PT_INTERP 3
#define PT_LOAD 1
#define DT_NULL 0
#define DT_NEEDED 1
#define DT_STRTAB 5
#define DT_STRSZ 10
#define DT_RPATH 15
#define DT_RUNPATH 29
#define ELF_MAX_PHDRS 4096u
#define ELF_MAX_DYN 65536u
#define ELF_MAX_NEEDED 256u

/* What the loader needs of an ELF executable or shared object. */
struct elf_deps {
        unsigned class;    /* 1: ELF32, 2: ELF64 */
        bool big;
        unsigned machine;
        char *interp;      /* PT_INTERP, NULL without */
        struct strv needed; /* DT_NEEDED, in order */
        char *runpath;     /* DT_RUNPATH, else DT_RPATH; NULL without */
};

static void elf_deps_free(struct elf_deps *e)
{
        free(e->interp);
        strv_free(&e->needed);
        free(e->runpath);
        *e = (struct elf_deps){ 0 };
}

static uint64_t elf_rd(const uint8_t *p, bool big, unsigned n)
{
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
        return v;
}

static bool elf_in(size_t len, uint64_t off, uint64_t size)
{
        return off <= len && size <= len - off;
}

/* A NUL-terminated string at off in [start, start + size) of the file. */
static char *elf_str(const uint8_t *p, size_t len, uint64_t start, uint64_t size, uint64_t off)
{
        if (!elf_in(len, start, size) || off >= size)
                return NULL;
        const char *s = (const char *)p + start + off;
        size_t max = (size_t)(size - off);
        const char *nul = memchr(s, 0, max);
        return nul ? strndup(s, (size_t)(nul - s)) : NULL;
}

/* Parse the program headers and the dynamic section of an ELF file, every
 * offset checked against len.  -EBADMSG with a message when malformed. */
static int elf_deps_parse(const uint8_t *p, size_t len, const char *what, struct elf_deps *ret)
{
        struct elf_deps e = { 0 };
        uint64_t phoff, phentsize, phnum, dyn_off = 0, dyn_size = 0, strtab = 0, strsz = 0, run = 0, rpath = 0;
        bool have_dyn = false, have_strtab = false, have_run = false, have_rpath = false;
        int r = -EBADMSG;

        if (len < 52 || memcmp(p, "\x7f" "ELF", 4) || (p[4] != 1 && p[4] != 2) || (p[5] != 1 && p[5] != 2))
                return kiln_errorf(-EBADMSG, "'%s' is not an ELF file", what);
        e.class = p[4];
        e.big = p[5] == 2;
        bool b64 = e.class == 2;
        if (b64 && len < 64)
                return kiln_errorf(-EBADMSG, "'%s': truncated ELF header", what);
        e.machine = (unsigned)elf_rd(p + 18, e.big, 2);
        phoff = b64 ? elf_rd(p + 32, e.big, 8) : elf_rd(p + 28, e.big, 4);
        phentsize = elf_rd(p + (b64 ? 54 : 42), e.big, 2);
        phnum = elf_rd(p + (b64 ? 56 : 44), e.big, 2);
        if (phnum > ELF_MAX_PHDRS || phentsize < (b64 ? 56u : 32u) || !elf_in(len, phoff, phnum * phentsize))
                return kiln_errorf(-EBADMSG, "'%s': program headers out of the file", what);

        /* Pass 1: the interpreter and the dynamic section. */
        for (uint64_t i = 0; i < phnum; i++) {
                const uint8_t *ph = p + phoff + i * phentsize;
                uint32_t type = (uint32_t)elf_rd(ph, e.big, 4);
                uint64_t off = b64 ? elf_rd(ph + 8, e.big, 8) : elf_rd(ph + 4, e.big, 4);
                uint64_t filesz = b64 ? elf_rd(ph + 32, e.big, 8) : elf_rd(ph + 16, e.big, 4);
                if (type == PT_INTERP && !e.interp) {
                        e.interp = elf_str(p, len, off, filesz, 0);
                        if (!e.interp || e.interp[0] != '/') {
                                kiln_errorf(-EBADMSG, "'%s': bad PT_INTERP", what);
                                goto fail;
                        }
                } else if (type == PT_DYNAMIC && !have_dyn) {
                        if (!elf_in(len, off, filesz)) {
                                kiln_errorf(-EBADMSG, "'%s': PT_DYNAMIC out of the file", what);
                                goto fail;
                        }
                        dyn_off = off;
                        dyn_size = filesz;
                        have_dyn = true;
                }
        }
        if (!have_dyn) {
                *ret = e; /* static */
                return 0;
        }

        /* Pass 2: DT_STRTAB's address and the entries naming strings. */
        size_t entsz = b64 ? 16 : 8;
        uint64_t n_dyn = MIN(dyn_size / entsz, (uint64_t)ELF_MAX_DYN);
        uint64_t needed_off[ELF_MAX_NEEDED];
        size_t n_needed = 0;
        for (uint64_t i = 0; i < n_dyn; i++) {
                const uint8_t *d = p + dyn_off + i * entsz;
                uint64_t tag = elf_rd(d, e.big, b64 ? 8 : 4), val = elf_rd(d + (b64 ? 8 : 4), e.big, b64 ? 8 : 4);
                if (tag == DT_NULL)
                        break;
                if (tag == DT_NEEDED) {
                        if (n_needed == ELF_MAX_NEEDED) {
                                r = kiln_errorf(-E2BIG, "'%s': more than %u DT_NEEDED entries", what, ELF_MAX_NEEDED);
                                goto fail;
                        }
                        needed_off[n_needed++] = val;
                } else if (tag == DT_STRTAB) {
                        strtab = val;
                        have_strtab = true;
                } else if (tag == DT_STRSZ) {
                        strsz = val;
                } else if (tag == DT_RUNPATH) {
                        run = val;
                        have_run = true;
                } else if (tag == DT_RPATH) {
                        rpath = val;
                        have_rpath = true;
                }
        }
        if (!n_needed && !have_run && !have_rpath) {
                *ret = e;
                return 0;
        }
        if (!have_strtab) {
                kiln_errorf(-EBADMSG, "'%s': DT_NEEDED without DT_STRTAB", what);
                goto fail;
        }
        /* DT_STRTAB is an address: the PT_LOAD segment holding it says where
         * in the file it is. */
        uint64_t str_file = UINT64_MAX;
        for (uint64_t i = 0; i < phnum && str_file == UINT64_MAX; i++) {
                const uint8_t *ph = p + phoff + i * phentsize;
                if (elf_rd(ph, e.big, 4) != PT_LOAD)
                        continue;
                uint64_t off = b64 ? elf_rd(ph + 8, e.big, 8) : elf_rd(ph + 4, e.big, 4);
                uint64_t vaddr = b64 ? elf_rd(ph + 16, e.big, 8) : elf_rd(ph + 8, e.big, 4);
                uint64_t filesz = b64 ? elf_rd(ph + 32, e.big, 8) : elf_rd(ph + 16, e.big, 4);
                if (strtab >= vaddr && strtab - vaddr < filesz)
                        str_file = off + (strtab - vaddr);
        }
        if (str_file == UINT64_MAX || !elf_in(len, str_file, 1)) {
                kiln_errorf(-EBADMSG, "'%s': DT_STRTAB is in no loaded segment", what);
                goto fail;
        }
        if (!strsz || !elf_in(len, str_file, strsz))
                strsz = len - str_file;
        for (size_t i = 0; i < n_needed; i++) {
                char *name = elf_str(p, len, str_file, strsz, needed_off[i]);
                if (!name || !*name) {
                        free(name);
                        kiln_errorf(-EBADMSG, "'%s': a DT_NEEDED name is out of its string table", what);
                        goto fail;
                }
                if (strv_has(&e.needed, name)) {
                        free(name);
                        continue;
                }
                if (strv_push(&e.needed, name) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        if (have_run || have_rpath) {
                e.runpath = elf_str(p, len, str_file, strsz, have_run ? run : rpath);
                if (!e.runpath) {
                        kiln_errorf(-EBADMSG, "'%s': DT_RUNPATH is out of its string table", what);
                        goto fail;
                }
        }
        *ret = e;
        return 0;
fail:
        elf_deps_free(&e);
        return r;
}

/* Debian's multiarch folder for an ELF machine and class (NULL: none). */
static const char *multiarch(unsigned machine, unsigned class, bool big)
{
        switch (machine) {
        case 62: return "x86_64-linux-gnu";                    /* EM_X86_64 */
        case 3: return "i386-linux-gnu";                       /* EM_386 */
        case 183: return "aarch64-linux-gnu";                  /* EM_AARCH64 */
        case 40: return "arm-linux-gnueabihf";                 /* EM_ARM */
        case 243: return class == 2 ? "riscv64-linux-gnu" : NULL; /* EM_RISCV */
        case 21: return big ? "powerpc64-linux-gnu" : "powerpc64le-linux-gnu"; /* EM_PPC64 */
        case 22: return "s390x-linux-gnu";                     /* EM_S390 */
        case 258: return "loongarch64-linux-gnu";              /* EM_LOONGARCH */
        default: return NULL;
        }
}

struct progs {
        const struct kiln_modsrc *src;
        struct kiln_initramfs_files f;
        unsigned class, machine;
        bool big;
        struct strv done; /* sonames and paths carried */
};

static int progs_add(struct progs *g, const char *path, const char *src_path, unsigned mode, uint8_t *data,
                     size_t len)
{
        struct kiln_initramfs_file *n;

        if (g->f.n_files == KILN_INITRAMFS_MAX_PROG_FILES)
                return kiln_errorf(-E2BIG, "e2fsck needs more than %u files", KILN_INITRAMFS_MAX_PROG_FILES);
        if (g->f.total_bytes + len > KILN_INITRAMFS_MAX_PROG_BYTES)
                return kiln_errorf(-E2BIG, "e2fsck and its libraries are larger than %u MiB",
                                   KILN_INITRAMFS_MAX_PROG_BYTES >> 20);
        n = realloc(g->f.files, (g->f.n_files + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        g->f.files = n;
        n = &g->f.files[g->f.n_files];
        *n = (struct kiln_initramfs_file){ .path = strdup(path), .src_path = strdup(src_path), .mode = mode };
        if (!n->path || !n->src_path) {
                free(n->path);
                free(n->src_path);
                return -ENOMEM;
        }
        n->data = data;
        n->len = len;
        g->f.n_files++;
        g->f.total_bytes += len;
        return strv_push(&g->done, strdup(path));
}

/* Find the library name for the object what (its runpath first), read it,
 * carry it, and the libraries it needs in turn. */
static int progs_lib(struct progs *g, const char *name, const char *runpath, const char *what, unsigned depth);

static int progs_needs(struct progs *g, const struct elf_deps *e, const char *what, unsigned depth)
{
        for (size_t i = 0; i < e->needed.n; i++) {
                int r = progs_lib(g, e->needed.v[i], e->runpath, what, depth);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int progs_lib(struct progs *g, const char *name, const char *runpath, const char *what, unsigned depth)
{
        const char *triplet = multiarch(g->machine, g->class, g->big);
        struct strv dirs = { 0 };
        int r = 0;

        if (strv_has(&g->done, name))
                return 0;
        if (depth > 32)
                return kiln_errorf(-ELOOP, "e2fsck's libraries nest deeper than 32 levels at '%s'", name);
        if (strchr(name, '/')) {
                /* A path: the loader takes it as it is. */
                r = strv_push(&dirs, strdup(""));
        } else {
                if (runpath) {
                        _cleanup_free_ char *copy = strdup(runpath);
                        char *save = NULL;
                        if (!copy)
                                return -ENOMEM;
                        for (char *d = strtok_r(copy, ":", &save); d && r >= 0; d = strtok_r(NULL, ":", &save)) {
                                size_t n = strlen(d);
                                if (d[0] != '/') /* $ORIGIN and relative folders: not for a program in /sbin */
                                        continue;
                                while (n > 1 && d[n - 1] == '/')
                                        n--;
                                r = strv_push(&dirs, strndup(d + 1, n - 1));
                        }
                }
                if (triplet && r >= 0)
                        r = strv_pushf(&dirs, "lib/%s", triplet);
                if (triplet && r >= 0)
                        r = strv_pushf(&dirs, "usr/lib/%s", triplet);
                if (g->class == 2 && r >= 0)
                        r = strv_pushf(&dirs, "lib64");
                if (g->class == 2 && r >= 0)
                        r = strv_pushf(&dirs, "usr/lib64");
                if (r >= 0)
                        r = strv_pushf(&dirs, "lib");
                if (r >= 0)
                        r = strv_pushf(&dirs, "usr/lib");
        }
        for (size_t i = 0; i < dirs.n && r >= 0; i++) {
                _cleanup_free_ char *path = NULL;
                uint8_t *data = NULL;
                size_t len = 0;
                struct elf_deps e = { 0 };

                if (asprintf(&path, "%s%s%s", dirs.v[i], dirs.v[i][0] ? "/" : "", name[0] == '/' ? name + 1 : name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = g->src->read(g->src->ud, path, KILN_INITRAMFS_MAX_PROG_BYTES, &data, &len);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                kiln_clear_error();
                r = elf_deps_parse(data, len, path, &e);
                if (r < 0 || e.class != g->class || e.machine != g->machine || e.big != g->big) {
                        /* Not a library for e2fsck: the loader would pass it over too. */
                        free(data);
                        elf_deps_free(&e);
                        if (r == -ENOMEM)
                                break;
                        r = 0;
                        continue;
                }
                r = strv_push(&g->done, strdup(name));
                if (r >= 0)
                        r = progs_add(g, path, path, 0755, data, len);
                if (r < 0)
                        free(data); /* progs_add() takes it only on success */
                if (r >= 0)
                        r = progs_needs(g, &e, path, depth + 1);
                elf_deps_free(&e);
                strv_free(&dirs);
                return r;
        }
        strv_free(&dirs);
        if (r < 0)
                return r;
        return kiln_errorf(-ENOENT, "'%s', which %s needs, is in none of the rootfs's library folders", name, what);
}

int kiln_initramfs_e2fsck(const struct kiln_modsrc *src, struct kiln_initramfs_files *ret)
{
        static const char *const where[] = { "sbin/e2fsck", "usr/sbin/e2fsck" };
        struct progs g = { .src = src };
        struct elf_deps e = { 0 };
        uint8_t *data = NULL, *conf = NULL;
        size_t len = 0, conf_len = 0;
        const char *found = NULL;
        int r = 0;

        *ret = (struct kiln_initramfs_files){ 0 };
        for (size_t i = 0; i < ARRAY_SIZE(where) && !found; i++) {
                r = src->read(src->ud, where[i], KILN_INITRAMFS_MAX_PROG_BYTES, &data, &len);
                if (r >= 0)
                        found = where[i];
                else if (r != -ENOENT)
                        return kiln_error_prefix(r, "cannot read the rootfs's %s", where[i]);
        }
        if (!found)
                return 0;
        r = elf_deps_parse(data, len, found, &e);
        if (r < 0) {
                free(data);
                return r;
        }
        g.class = e.class;
        g.machine = e.machine;
        g.big = e.big;
        r = progs_add(&g, "sbin/e2fsck", found, 0755, data, len);
        if (r < 0)
                free(data);
        if (r >= 0 && e.interp) {
                uint8_t *ld = NULL;
                size_t ld_len = 0;
                r = src->read(src->ud, e.interp + 1, KILN_INITRAMFS_MAX_PROG_BYTES, &ld, &ld_len);
                if (r == -ENOENT)
                        r = kiln_errorf(-ENOENT, "'%s', the loader %s needs, is not in the rootfs", e.interp, found);
                if (r >= 0) {
                        r = progs_add(&g, e.interp + 1, e.interp + 1, 0755, ld, ld_len);
                        if (r < 0)
                                free(ld);
                }
                /* libc's DT_NEEDED of the loader is the loader itself, which
                 * glibc's ld.so matches by its name: not a second copy. */
                if (r >= 0)
                        r = strv_push(&g.done, strdup(strrchr(e.interp, '/') + 1));
        }
        if (r >= 0)
                r = progs_needs(&g, &e, found, 0);
        if (r >= 0) {
                int c = src->read(src->ud, "etc/e2fsck.conf", 1u << 20, &conf, &conf_len);
                if (c >= 0) {
                        r = progs_add(&g, "etc/e2fsck.conf", "etc/e2fsck.conf", 0644, conf, conf_len);
                        if (r < 0)
                                free(conf);
                }
        }
        elf_deps_free(&e);
        strv_free(&g.done);
        if (r < 0) {
                kiln_initramfs_files_free(&g.f);
                return r == -ENOMEM ? kiln_errorf(r, "out of memory") : r;
        }
        *ret = g.f;
        return 1;
}

void kiln_initramfs_files_free(struct kiln_initramfs_files *f)
{
        for (size_t i = 0; i < f->n_files; i++) {
                free(f->files[i].path);
                free(f->files[i].src_path);
                free(f->files[i].data);
        }
        free(f->files);
        *f = (struct kiln_initramfs_files){ 0 };
}

/* ------------------------------------------------------------ initramfs */

static void cpio_freep(struct kiln_cpio **c) { kiln_cpio_free(*c); }

int kiln_initramfs_make(const struct kiln_initramfs_opts *o, uint8_t **ret, size_t *ret_len, size_t *ret_raw_len)
{
        _cleanup_(cpio_freep) struct kiln_cpio *c = NULL;
        _cleanup_free_ uint8_t *raw = NULL;
        _cleanup_free_ char *load = NULL, *load_path = NULL;
        int64_t t = o->clamp >= 0 ? MIN(o->mtime, o->clamp) : o->mtime;
        size_t raw_len, load_len;
        int r;

        if (!o->init || !o->init_len)
                return kiln_errorf(-EINVAL, "the initramfs needs an /init");
        /* Clamping to t itself: folders made up for paths take t too. */
        r = kiln_cpio_new(t, &c);
        if (r < 0)
                return r;
        r = kiln_cpio_add(c, "init", S_IFREG | 0755, t, o->init, o->init_len);
        if (r >= 0)
                r = kiln_cpio_add_dir(c, "dev", 0755, t);
        if (r >= 0)
                r = kiln_cpio_add_node(c, "dev/console", S_IFCHR | 0600, t, 5, 1);
        if (r >= 0)
                r = kiln_cpio_add_dir(c, "proc", 0555, t);
        if (r >= 0)
                r = kiln_cpio_add_dir(c, "sys", 0555, t);
        if (r >= 0)
                r = kiln_cpio_add_dir(c, "run", 0755, t);
        if (r >= 0)
                r = kiln_cpio_add_dir(c, "tmp", 01777, t);
        if (r >= 0 && o->modules && o->modules->n_mods) {
                const struct kiln_modules *m = o->modules;
                for (size_t i = 0; i < m->n_mods && r >= 0; i++)
                        r = kiln_cpio_add(c, m->mods[i].path, S_IFREG | 0644, t, m->mods[i].data, m->mods[i].len);
                if (r >= 0)
                        r = kiln_modules_load_list(m, &load, &load_len);
                if (r >= 0)
                        r = kiln_modules_load_path(m, &load_path);
                if (r >= 0)
                        r = kiln_cpio_add(c, load_path, S_IFREG | 0644, t, load, load_len);
        }
        for (size_t i = 0; r >= 0 && o->files && i < o->files->n_files; i++) {
                const struct kiln_initramfs_file *f = &o->files->files[i];
                r = kiln_cpio_add(c, f->path, S_IFREG | (f->mode & 07777), t, f->data, f->len);
        }
        if (r >= 0)
                r = kiln_cpio_write(c, &raw, &raw_len);
        if (r >= 0)
                r = kiln_zstd_compress(raw, raw_len, o->level ? o->level : KILN_ZSTD_LEVEL, o->workers, ret, ret_len);
        if (r < 0)
                return r == -ENOMEM ? kiln_errorf(r, "out of memory making the initramfs")
                                    : kiln_error_prefix(r, "cannot make the initramfs");
        if (ret_raw_len)
                *ret_raw_len = raw_len;
        return 0;
}
