/* SPDX-License-Identifier: MIT */
/* cpio newc into memory, and zstd around it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "cpio.h"
#include "util.h"

#define NEWC_HEADER 110 /* "070701" + 13 fields of 8 hex digits */
#define TRAILER "TRAILER!!!"

struct entry {
        char *path;
        mode_t mode;
        int64_t mtime;
        unsigned major, minor; /* device nodes */
        uint8_t *data;
        size_t len;
        uint32_t nlink;
};

struct kiln_cpio {
        struct entry *e;
        size_t n, cap;
        int64_t clamp;
};

int kiln_cpio_new(int64_t clamp, struct kiln_cpio **ret)
{
        struct kiln_cpio *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->clamp = clamp;
        *ret = c;
        return 0;
}

void kiln_cpio_free(struct kiln_cpio *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++) {
                free(c->e[i].path);
                free(c->e[i].data);
        }
        free(c->e);
        free(c);
}

/* "/a//./b/" -> "a/b"; -EINVAL for ".." parts or nothing left. */
static int normalize_path(const char *in, char **ret)
{
        size_t n = strlen(in);
        char *out, *o;

        if (n > KILN_CPIO_MAX_PATH)
                return kiln_errorf(-ENAMETOOLONG, "cpio path '%.64s...' is longer than %u bytes", in,
                                   KILN_CPIO_MAX_PATH);
        out = o = malloc(n + 1);
        if (!out)
                return -ENOMEM;
        for (const char *p = in; *p;) {
                while (*p == '/')
                        p++;
                const char *s = p;
                while (*p && *p != '/')
                        p++;
                size_t len = (size_t)(p - s);
                if (len == 0 || (len == 1 && s[0] == '.'))
                        continue;
                if (len == 2 && s[0] == '.' && s[1] == '.') {
                        free(out);
                        return kiln_errorf(-EINVAL, "cpio path '%s' has a '..' component", in);
                }
                if (o != out)
                        *o++ = '/';
                memcpy(o, s, len);
                o += len;
        }
        *o = 0;
        if (o == out) {
                free(out);
                return kiln_errorf(-EINVAL, "cpio path '%s' names no file", in);
        }
        *ret = out;
        return 0;
}

static int add_entry(struct kiln_cpio *c, const char *path, mode_t mode, int64_t mtime, unsigned major,
                     unsigned minor, const void *data, size_t len)
{
        _cleanup_free_ char *p = NULL;
        _cleanup_free_ uint8_t *copy = NULL;
        int r;

        switch (mode & S_IFMT) {
        case S_IFREG:
        case S_IFLNK:
                break;
        case S_IFDIR:
        case S_IFCHR:
        case S_IFBLK:
        case S_IFIFO:
        case S_IFSOCK:
                if (len)
                        return kiln_errorf(-EINVAL, "cpio entry '%s' of this type has no data", path);
                break;
        default:
                return kiln_errorf(-EINVAL, "cpio entry '%s' has an unknown file type (mode %#o)", path,
                                   (unsigned)mode);
        }
        if (S_ISLNK(mode) && (len == 0 || memchr(data, 0, len)))
                return kiln_errorf(-EINVAL, "cpio symlink '%s' needs a target without NUL bytes", path);
        if (len > KILN_CPIO_MAX_FILE)
                return kiln_errorf(-EFBIG, "cpio entry '%s' is larger than 4 GiB", path);
        r = normalize_path(path, &p);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n; i++)
                if (!strcmp(c->e[i].path, p))
                        return kiln_errorf(-EEXIST, "cpio entry '%s' added twice", p);
        if (len) {
                copy = malloc(len);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, data, len);
        }
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 64;
                struct entry *e = realloc(c->e, cap * sizeof(*e));
                if (!e)
                        return -ENOMEM;
                c->e = e;
                c->cap = cap;
        }
        c->e[c->n++] = (struct entry){
                .path = TAKE_PTR(p),
                .mode = mode & (S_IFMT | 07777),
                .mtime = mtime,
                .major = major,
                .minor = minor,
                .data = TAKE_PTR(copy),
                .len = len,
        };
        return 0;
}

int kiln_cpio_add(struct kiln_cpio *c, const char *path, mode_t mode, int64_t mtime, const void *data,
                  size_t len)
{
        if (S_ISCHR(mode) || S_ISBLK(mode))
                return kiln_cpio_add_node(c, path, mode, mtime, 0, 0);
        return add_entry(c, path, mode, mtime, 0, 0, data, len);
}

int kiln_cpio_add_dir(struct kiln_cpio *c, const char *path, mode_t perm, int64_t mtime)
{
        return add_entry(c, path, S_IFDIR | (perm & 07777), mtime, 0, 0, NULL, 0);
}

int kiln_cpio_add_node(struct kiln_cpio *c, const char *path, mode_t mode, int64_t mtime, unsigned major,
                       unsigned minor)
{
        return add_entry(c, path, mode, mtime, major, minor, NULL, 0);
}

static int cmp_entry(const void *a, const void *b)
{
        return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

/* Binary search in the first n entries, sorted. */
static struct entry *find(struct kiln_cpio *c, size_t n, const char *path, size_t len)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int d = strncmp(c->e[mid].path, path, len);
                if (d == 0 && c->e[mid].path[len])
                        d = 1;
                if (d == 0)
                        return &c->e[mid];
                if (d < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* Make the folders that paths need, then sort everything. */
static int imply_parents(struct kiln_cpio *c)
{
        int64_t t = c->clamp >= 0 ? c->clamp : 0;
        size_t n = c->n;

        if (c->n == 0)
                return 0;
        qsort(c->e, c->n, sizeof(*c->e), cmp_entry);
        for (size_t i = 0; i < n; i++) {
                const char *p = c->e[i].path;
                for (const char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
                        size_t len = (size_t)(s - p);
                        bool known = find(c, n, p, len) != NULL;
                        for (size_t j = n; !known && j < c->n; j++)
                                known = strlen(c->e[j].path) == len && !strncmp(c->e[j].path, p, len);
                        if (known)
                                continue;
                        char *dir = strndup(p, len);
                        if (!dir)
                                return -ENOMEM;
                        int r = add_entry(c, dir, S_IFDIR | 0755, t, 0, 0, NULL, 0);
                        free(dir);
                        if (r < 0)
                                return r;
                        p = c->e[i].path; /* add_entry may have moved the array */
                }
        }
        qsort(c->e, c->n, sizeof(*c->e), cmp_entry);
        return 0;
}

static size_t put_header(uint8_t *out, uint32_t ino, uint32_t mode, uint32_t nlink, uint32_t mtime, uint32_t size,
                         uint32_t rmajor, uint32_t rminor, const char *name)
{
        size_t namesize = strlen(name) + 1;
        char h[NEWC_HEADER + 1];

        snprintf(h, sizeof(h), "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0u, 0u,
                 nlink, mtime, size, 0u, 0u, rmajor, rminor, (uint32_t)namesize, 0u);
        memcpy(out, h, NEWC_HEADER);
        memcpy(out + NEWC_HEADER, name, namesize);
        return ROUND_UP(NEWC_HEADER + namesize, 4);
}

int kiln_cpio_write(struct kiln_cpio *c, uint8_t **ret, size_t *ret_len)
{
        size_t total = ROUND_UP(NEWC_HEADER + sizeof(TRAILER), 4);
        uint8_t *out;
        int r;

        r = imply_parents(c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n; i++)
                c->e[i].nlink = S_ISDIR(c->e[i].mode) ? 2 : 1;
        for (size_t i = 0; i < c->n; i++) {
                struct entry *e = &c->e[i];
                const char *slash = strrchr(e->path, '/');
                if (slash) {
                        struct entry *parent = find(c, c->n, e->path, (size_t)(slash - e->path));
                        if (!parent || !S_ISDIR(parent->mode))
                                return kiln_errorf(-ENOTDIR, "cpio entry '%s' is under a non-folder", e->path);
                        if (S_ISDIR(e->mode))
                                parent->nlink++;
                }
                total += ROUND_UP(NEWC_HEADER + strlen(e->path) + 1, 4) + ROUND_UP(e->len, 4);
        }

        out = calloc(1, total); /* zeroed: every padding byte is 0 */
        if (!out)
                return -ENOMEM;
        size_t off = 0;
        for (size_t i = 0; i < c->n; i++) {
                const struct entry *e = &c->e[i];
                int64_t mtime = e->mtime;
                if (c->clamp >= 0 && mtime > c->clamp)
                        mtime = c->clamp;
                mtime = mtime < 0 ? 0 : MIN(mtime, (int64_t)UINT32_MAX);
                off += put_header(out + off, (uint32_t)(i + 1), (uint32_t)e->mode, e->nlink, (uint32_t)mtime,
                                  (uint32_t)e->len, e->major, e->minor, e->path);
                if (e->len)
                        memcpy(out + off, e->data, e->len);
                off += ROUND_UP(e->len, 4);
        }
        off += put_header(out + off, 0, 0, 1, 0, 0, 0, 0, TRAILER);
        if (off != total) {
                free(out);
                return kiln_errorf(-EIO, "cpio writer miscounted: %zu of %zu bytes", off, total);
        }
        *ret = out;
        *ret_len = total;
        return 0;
}

/* ------------------------------------------------------------------ zstd */

int kiln_zstd_error(size_t code, const char *what)
{
        int err;

        if (!ZSTD_isError(code))
                return 0;
        switch (ZSTD_getErrorCode(code)) {
        case ZSTD_error_memory_allocation:
                err = -ENOMEM;
                break;
        case ZSTD_error_prefix_unknown:
        case ZSTD_error_corruption_detected:
        case ZSTD_error_checksum_wrong:
        case ZSTD_error_srcSize_wrong:
        case ZSTD_error_frameParameter_unsupported:
        case ZSTD_error_frameParameter_windowTooLarge:
        case ZSTD_error_dictionary_wrong:
                err = -EBADMSG;
                break;
        case ZSTD_error_dstSize_tooSmall:
                err = -EFBIG;
                break;
        case ZSTD_error_parameter_unsupported:
        case ZSTD_error_parameter_outOfBound:
        case ZSTD_error_parameter_combination_unsupported:
                err = -EINVAL;
                break;
        default:
                err = -EIO;
                break;
        }
        return kiln_errorf(err, "%s: %s", what, ZSTD_getErrorName(code));
}

static void free_cctx(ZSTD_CCtx **c) { ZSTD_freeCCtx(*c); }
static void free_dctx(ZSTD_DCtx **d) { ZSTD_freeDCtx(*d); }

int kiln_zstd_compress(const void *src, size_t len, int level, int workers, uint8_t **ret, size_t *ret_len)
{
        _cleanup_(free_cctx) ZSTD_CCtx *cctx = ZSTD_createCCtx();
        _cleanup_free_ uint8_t *out = NULL;
        size_t cap = ZSTD_compressBound(len), n;
        int r;

        if (!cctx)
                return kiln_errorf(-ENOMEM, "cannot set up zstd compression");
        if (ZSTD_isError(cap))
                return kiln_zstd_error(cap, "zstd compression");
        r = kiln_zstd_error(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level), "zstd level");
        if (r >= 0)
                r = kiln_zstd_error(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, KILN_ZSTD_WINDOW_LOG),
                                    "zstd window");
        if (r >= 0)
                r = kiln_zstd_error(ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1), "zstd checksum");
        if (r >= 0)
                r = kiln_zstd_error(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1), "zstd content size");
        if (r < 0)
                return r;
        if (workers > 0 && len >= KILN_ZSTD_MT_MIN) {
                /* A libzstd built without threads refuses nbWorkers: the
                 * frame then comes out single-threaded (and different). */
                if (!ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, workers))) {
                        r = kiln_zstd_error(ZSTD_CCtx_setParameter(cctx, ZSTD_c_jobSize, KILN_ZSTD_JOB_SIZE),
                                            "zstd job size");
                        if (r < 0)
                                return r;
                }
        }
        out = malloc(cap ? cap : 1);
        if (!out)
                return -ENOMEM;
        n = ZSTD_compress2(cctx, out, cap, src, len);
        r = kiln_zstd_error(n, "zstd compression");
        if (r < 0)
                return r;
        uint8_t *shrunk = realloc(out, n ? n : 1);
        *ret = shrunk ? shrunk : out;
        out = NULL;
        *ret_len = n;
        return 0;
}

int kiln_zstd_decompress(const void *src, size_t len, size_t max, uint8_t **ret, size_t *ret_len)
{
        _cleanup_(free_dctx) ZSTD_DCtx *dctx = ZSTD_createDCtx();
        _cleanup_free_ uint8_t *out = NULL;
        ZSTD_inBuffer in = { src, len, 0 };
        unsigned long long size = ZSTD_getFrameContentSize(src, len);
        size_t cap, pos = 0;

        if (!dctx)
                return kiln_errorf(-ENOMEM, "cannot set up zstd decompression");
        /* The first frame's size when it says (one more byte to see the end). */
        if (size != ZSTD_CONTENTSIZE_UNKNOWN && size != ZSTD_CONTENTSIZE_ERROR && size < max)
                cap = (size_t)size + 1;
        else
                cap = MIN(max, (size_t)1 << 20) + 1;
        out = malloc(cap);
        if (!out)
                return -ENOMEM;
        for (;;) {
                ZSTD_outBuffer o = { out + pos, cap - pos, 0 };
                size_t r = ZSTD_decompressStream(dctx, &o, &in);
                int e = kiln_zstd_error(r, "zstd data");
                if (e < 0)
                        return e;
                pos += o.pos;
                if (pos > max)
                        return kiln_errorf(-EFBIG, "zstd data: decompresses to more than %zu bytes", max);
                if (r == 0 && in.pos == in.size)
                        break;
                if (in.pos == in.size && o.pos < o.size)
                        return kiln_errorf(-EBADMSG, "zstd data: truncated");
                if (pos == cap) {
                        size_t ncap = cap - 1 > max / 2 ? max + 1 : (cap - 1) * 2 + 1;
                        uint8_t *n = realloc(out, ncap);
                        if (!n)
                                return -ENOMEM;
                        out = n;
                        cap = ncap;
                }
        }
        *ret = TAKE_PTR(out);
        *ret_len = pos;
        return 0;
}
