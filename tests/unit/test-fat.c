/* SPDX-License-Identifier: MIT */
/*
 * The FAT writer, checked with the real tools: fsck.fat -n finds nothing,
 * mtools lists every name and reads every byte back, blkid and fatlabel see
 * the label.  Also the raw layout (boot sector, FSInfo, FATs, short and long
 * names, "." and ".."), reproducibility, size errors and every disk write
 * failed in turn.  Needs dosfstools, mtools and blkid.
 */
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "disk.h"
#include "fat.h"
#include "util.h"

#define MIB (1024ull * 1024)
#define MTIME 1700000001 /* 2023-11-14 22:13:21 UTC: an odd second */

static char tmpdir[] = "/tmp/kiln-test-fat-XXXXXX";

/* ---------------------------------------------------------------- helpers */

/* Run argv with stdout and stderr captured together; the exit status. */
static int run(const char *const argv[], char **ret_out, size_t *ret_len)
{
        posix_spawn_file_actions_t fa;
        size_t len = 0, cap = 4096;
        char *out = malloc(cap);
        int p[2], status;
        pid_t pid;
        ssize_t n;

        if (!out || pipe2(p, O_CLOEXEC) < 0)
                abort();
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, p[1], 1);
        posix_spawn_file_actions_adddup2(&fa, p[1], 2);
        if (posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0)
                pid = -1;
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        while ((n = read(p[0], out + len, cap - len - 1)) > 0) {
                len += (size_t)n;
                if (cap - len < 2 && !(out = realloc(out, cap *= 2)))
                        abort();
        }
        close(p[0]);
        out[len] = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0)
                status = 127 << 8;
        if (ret_out)
                *ret_out = out;
        else
                free(out);
        if (ret_len)
                *ret_len = len;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void diag_text(const char *what, const char *s)
{
        char line[512];

        tap_diag("%s:", what);
        for (const char *p = s; *p;) {
                size_t n = strcspn(p, "\n");
                snprintf(line, sizeof(line), "%.*s", (int)MIN(n, sizeof(line) - 1), p);
                tap_diag("  %s", line);
                p += n + (p[n] == '\n');
        }
}

static bool all_zero(const uint8_t *p, size_t n) { return n == 0 || (p[0] == 0 && !memcmp(p, p + 1, n - 1)); }

/* The memory disk as a sparse file, for the tools. */
static void dump(const struct kiln_disk *d, const char *path)
{
        const uint8_t *p = kiln_disk_memory_data(d);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        if (fd < 0 || !p || ftruncate(fd, (off_t)d->size) < 0)
                abort();
        for (uint64_t off = 0; off < d->size; off += 65536) {
                size_t n = (size_t)MIN(d->size - off, 65536ull);
                if (!all_zero(p + off, n) && pwrite(fd, p + off, n, (off_t)off) != (ssize_t)n)
                        abort();
        }
        close(fd);
}

static void tmp_path(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", tmpdir, name); }

static uint64_t rng_state = 88172645463325252ull;

static void fill_random(uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                rng_state ^= rng_state << 13;
                rng_state ^= rng_state >> 7;
                rng_state ^= rng_state << 17;
                p[i] = (uint8_t)rng_state;
        }
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return le16(p) | (uint32_t)le16(p + 2) << 16; }

/* A disk that keeps nothing: for sizes too large to hold in memory. */
static int null_pread(struct kiln_disk *d _unused_, void *buf, size_t len, uint64_t off _unused_)
{
        memset(buf, 0, len);
        return 0;
}
static int null_pwrite(struct kiln_disk *d _unused_, const void *buf _unused_, size_t len _unused_,
                       uint64_t off _unused_)
{
        return 0;
}
static void null_free(struct kiln_disk *d) { free(d); }
static const struct kiln_disk_ops null_ops = { .pread = null_pread, .pwrite = null_pwrite, .free = null_free };

static struct kiln_disk *null_disk(uint64_t size)
{
        struct kiln_disk *d = calloc(1, sizeof(*d));

        if (!d)
                abort();
        d->ops = &null_ops;
        d->size = size;
        return d;
}

/* ------------------------------------------------------------------ model */

/* What was added, to compare the tools' view with. */
struct entry {
        char *path;
        uint8_t *data;
        size_t len;
        bool is_dir;
};

struct model {
        struct kiln_fat *f;
        struct entry *e;
        size_t n;
};

static void model_record(struct model *m, const char *path, const void *data, size_t len, bool is_dir)
{
        for (size_t i = 0; i < m->n; i++)
                if (!strcmp(m->e[i].path, path))
                        return;
        m->e = realloc(m->e, (m->n + 1) * sizeof(*m->e));
        m->e[m->n] = (struct entry){ strdup(path), NULL, len, is_dir };
        if (!is_dir) {
                m->e[m->n].data = malloc(len ? len : 1);
                memcpy(m->e[m->n].data, data, len);
        }
        m->n++;
}

/* Record path and its parent folders. */
static void model_add(struct model *m, const char *path, const void *data, size_t len, bool is_dir)
{
        char buf[4096];

        snprintf(buf, sizeof(buf), "%s", path);
        for (char *s = strchr(buf, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                model_record(m, buf, NULL, 0, true);
                *s = '/';
        }
        model_record(m, path, data, len, is_dir);
}

static void add_file(struct model *m, const char *path, const void *data, size_t len)
{
        int r = kiln_fat_add_file(m->f, path, data, len);
        if (r < 0)
                ok(false, "add '%s': %s", path, kiln_last_error());
        model_add(m, path, data, len, false);
}

static void add_file_fd(struct model *m, const char *path, const void *data, size_t len)
{
        char p[PATH_MAX];
        int fd, r;

        tmp_path(p, sizeof(p), "source");
        fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data, len) != (ssize_t)len)
                abort();
        r = kiln_fat_add_file_from_fd(m->f, path, fd);
        if (r < 0)
                ok(false, "add '%s' from an fd: %s", path, kiln_last_error());
        close(fd); /* the writer keeps its own */
        unlink(p);
        model_add(m, path, data, len, false);
}

static void add_dir(struct model *m, const char *path)
{
        int r = kiln_fat_add_dir(m->f, path);
        if (r < 0)
                ok(false, "add folder '%s': %s", path, kiln_last_error());
        model_add(m, path, NULL, 0, true);
}

static void model_free(struct model *m)
{
        for (size_t i = 0; i < m->n; i++) {
                free(m->e[i].path);
                free(m->e[i].data);
        }
        free(m->e);
        kiln_fat_free(m->f);
}

/* The seed of a NoCloud datasource, as cloud-localds makes it. */
static void seed_model(struct model *m)
{
        static const char ud[] = "#cloud-config\npassword: kiln\nchpasswd: { expire: false }\n";
        static const char md[] = "instance-id: iid-local01\nlocal-hostname: kiln\n";
        static const char nc[] = "version: 2\nethernets: {}\n";

        *m = (struct model){ 0 };
        kiln_fat_new(&m->f);
        add_file(m, "user-data", ud, strlen(ud));
        add_file(m, "meta-data", md, strlen(md));
        add_file(m, "network-config", nc, strlen(nc));
}

/* An ESP with names of every kind and files of every awkward size. */
static void esp_model(struct model *m)
{
        static const size_t sizes[] = { 0, 1, 511, 512, 513, 2047, 2048, 2049, 4095, 4096, 4097, 100000 };
        uint8_t *big = malloc(5 * MIB + 3);
        char name[512], path[1024];

        *m = (struct model){ 0 };
        kiln_fat_new(&m->f);
        fill_random(big, 5 * MIB + 3);
        add_dir(m, "EFI/BOOT");
        add_file(m, "EFI/BOOT/BOOTX64.EFI", big, 700001);
        add_file(m, "EFI/BOOT/grubx64.efi", big + 1, 1500000);
        add_file_fd(m, "EFI/debian/shimx64.efi", big + 2, 950001);
        add_file(m, "EFI/debian/grub.cfg", "search.fs_uuid 1234 root\nset prefix=($root)'/boot/grub'\n", 56);
        add_file(m, "EFI/debian/BOOTX64.CSV", "s\0h\0i\0m\0", 8);
        add_file(m, "EFI/Linux/5mib.bin", big, 5 * MIB);
        add_file_fd(m, "EFI/Linux/from-fd.bin", big + 3, MIB + 7);
        add_file(m, "user-data", "#cloud-config\n", 14);
        add_file(m, "meta-data", "instance-id: x\n", 15);
        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
                snprintf(path, sizeof(path), "sizes/size-%zu.bin", sizes[i]);
                add_file(m, path, big + i, sizes[i]);
        }
        memset(name, 0, sizeof(name));
        for (int i = 0; i < 200; i++)
                name[i] = (char)('a' + i % 26);
        snprintf(path, sizeof(path), "names/%s", name);
        add_file(m, path, "two hundred", 11);
        add_file(m, "names/café-crème.txt", "latin", 5);
        add_file(m, "names/日本語のファイル名.txt", "cjk", 3);
        add_file(m, "names/Mixed.Case", "mixed", 5);
        add_file(m, "names/lower.TXT", "case bits", 9);
        add_file(m, "names/a.tar.gz", "dots", 4);
        add_file(m, "names/ leading space", "sp", 2);
        add_file(m, "names/.hidden", "dot", 3);
        add_file(m, "names/with+plus,comma;semi=eq[br]", "odd", 3);
        add_file(m, "names/USER-D~1", "literal tail", 12);
        add_file(m, "names/user-data", "after the literal", 17);
        add_dir(m, "names/empty-folder");
        for (int i = 0; i < 100; i++) {
                snprintf(path, sizeof(path), "many/file-with-a-long-name-%03d.txt", i);
                snprintf(name, sizeof(name), "file %d\n", i);
                add_file(m, path, name, strlen(name));
        }
        strcpy(path, "deep");
        for (int i = 1; i <= 24; i++)
                snprintf(path + strlen(path), sizeof(path) - strlen(path), "/level-%02d", i);
        strcat(path, "/bottom.txt");
        add_file(m, path, "bottom", 6);
        free(big);
}

/* -------------------------------------------------------- checks by tools */

static bool check_fsck(const char *img, const char *what)
{
        const char *argv[] = { "fsck.fat", "-n", img, NULL };
        char *out;
        int st = run(argv, &out, NULL), lines = 0;
        bool good;

        for (char *p = out; *p; p++)
                lines += *p == '\n';
        /* A clean volume gives the version line and the summary only. */
        good = st == 0 && lines == 2 && strstr(out, " files, ") && strstr(out, " clusters");
        ok(good, "%s: fsck.fat -n finds nothing", what);
        if (!good)
                diag_text("fsck.fat said", out);
        free(out);
        return good;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* mdir lists exactly the names added, long names as given. */
static void check_names(const char *img, const struct model *m, const char *what)
{
        const char *argv[] = { "mdir", "-/", "-b", "-i", img, "::/", NULL };
        char *out, **got = NULL, **want = calloc(m->n, sizeof(*want));
        size_t n_got = 0;
        int st = run(argv, &out, NULL);
        bool same;

        for (char *s = strtok(out, "\n"); s; s = strtok(NULL, "\n")) {
                got = realloc(got, (n_got + 1) * sizeof(*got));
                got[n_got++] = s;
        }
        for (size_t i = 0; i < m->n; i++)
                if (asprintf(&want[i], "::/%s%s", m->e[i].path, m->e[i].is_dir ? "/" : "") < 0)
                        abort();
        if (n_got)
                qsort(got, n_got, sizeof(*got), cmp_str);
        qsort(want, m->n, sizeof(*want), cmp_str);
        same = st == 0 && n_got == m->n;
        for (size_t i = 0; same && i < m->n; i++)
                same = !strcmp(got[i], want[i]);
        ok(same, "%s: mdir lists the %zu names exactly", what, m->n);
        for (size_t i = 0; !same && i < MAX(n_got, m->n) && i < 400; i++)
                if (i >= n_got || i >= m->n || strcmp(got[i], want[i]))
                        tap_diag("  got '%s', want '%s'", i < n_got ? got[i] : "", i < m->n ? want[i] : "");
        for (size_t i = 0; i < m->n; i++)
                free(want[i]);
        free(want);
        free(got);
        free(out);
}

static bool read_local(const char *path, uint8_t **ret, size_t *ret_len)
{
        struct stat st;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        bool good;

        if (fd < 0 || fstat(fd, &st) < 0) {
                if (fd >= 0)
                        close(fd);
                return false;
        }
        *ret = malloc((size_t)st.st_size + 1);
        *ret_len = (size_t)st.st_size;
        good = read(fd, *ret, *ret_len) == (ssize_t)*ret_len;
        close(fd);
        return good;
}

static int rm_entry(const char *p, const struct stat *st _unused_, int flag _unused_, struct FTW *ftw _unused_)
{
        return remove(p);
}

/* mcopy -s copies the whole volume out; every file comes back byte for byte. */
static void check_contents(const char *img, const struct model *m, const char *what)
{
        char out_dir[PATH_MAX], src[] = "::/*", path[PATH_MAX + 1024];
        const char *argv[] = { "mcopy", "-s", "-n", "-i", img, src, out_dir, NULL };
        size_t files = 0, good = 0;
        char *out;
        int st;

        tmp_path(out_dir, sizeof(out_dir), "out");
        nftw(out_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        mkdir(out_dir, 0700);
        st = run(argv, &out, NULL);
        if (st != 0 || *out)
                diag_text("mcopy said", out);
        for (size_t i = 0; i < m->n; i++) {
                const struct entry *e = &m->e[i];
                uint8_t *data = NULL;
                size_t len = 0;
                struct stat sb;

                snprintf(path, sizeof(path), "%s/%s", out_dir, e->path);
                if (e->is_dir) {
                        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
                                good++;
                        else
                                tap_diag("  folder '%s' missing", e->path);
                        continue;
                }
                files++;
                if (read_local(path, &data, &len) && len == e->len && !memcmp(data, e->data, len))
                        good++;
                else
                        tap_diag("  file '%s' differs (%zu bytes back, %zu added)", e->path, len, e->len);
                free(data);
        }
        ok(st == 0 && !*out && good == m->n, "%s: mcopy -s reads all %zu files back byte-identical", what, files);
        nftw(out_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(out);
}

/* One file through mtype and mcopy to stdout. */
static void check_one(const char *img, const struct model *m, const char *path, const char *what)
{
        char src[2048];
        const char *mtype[] = { "mtype", "-i", img, src, NULL };
        const char *mcopy[] = { "mcopy", "-i", img, src, "-", NULL };
        const struct entry *e = NULL;
        char *out;
        size_t len;
        int st;

        for (size_t i = 0; i < m->n; i++)
                if (!strcmp(m->e[i].path, path))
                        e = &m->e[i];
        snprintf(src, sizeof(src), "::/%s", path);
        st = run(mtype, &out, &len);
        ok(e && st == 0 && len == e->len && !memcmp(out, e->data, len), "%s: mtype '%s'", what, path);
        free(out);
        st = run(mcopy, &out, &len);
        ok(e && st == 0 && len == e->len && !memcmp(out, e->data, len), "%s: mcopy '%s' -", what, path);
        free(out);
}

static void check_label(const char *img, const char *label, const char *version, const char *what)
{
        const char *blkid[] = { "blkid", "-p", "-o", "export", img, NULL };
        const char *fatlabel[] = { "fatlabel", img, NULL };
        const char *mlabel[] = { "mlabel", "-i", img, "-s", "::", NULL };
        char *out, want[64];
        int st;

        st = run(blkid, &out, NULL);
        snprintf(want, sizeof(want), "\nLABEL=%s\n", label);
        ok(st == 0 && strstr(out, "\nTYPE=vfat\n") && strstr(out, want), "%s: blkid -p sees vfat labelled %s", what,
           label);
        snprintf(want, sizeof(want), "\nVERSION=%s\n", version);
        ok(strstr(out, want) != NULL, "%s: blkid says %s", what, version);
        free(out);
        st = run(fatlabel, &out, NULL);
        snprintf(want, sizeof(want), "%s\n", label);
        ok(st == 0 && !strcmp(out, want), "%s: fatlabel reads '%s'", what, label);
        free(out);
        st = run(mlabel, &out, NULL);
        snprintf(want, sizeof(want), "Volume label is %s", label);
        ok(st == 0 && strstr(out, want), "%s: mlabel -s reads '%s'", what, label);
        free(out);
}

/* ------------------------------------------------------ raw layout checks */

struct image {
        const uint8_t *p;
        unsigned bits;
        uint32_t cb, root_cluster, root_entries, fat_bytes;
        uint64_t fat_off, root_off, data_off;
};

static void image_open(struct image *im, const uint8_t *p)
{
        uint32_t reserved = le16(p + 14), fat = le16(p + 22) ? le16(p + 22) : le32(p + 36);

        im->p = p;
        im->bits = le16(p + 22) ? (!memcmp(p + 54, "FAT12", 5) ? 12 : 16) : 32;
        im->cb = p[13] * 512u;
        im->root_entries = le16(p + 17);
        im->root_cluster = im->bits == 32 ? le32(p + 44) : 0;
        im->fat_bytes = fat * 512;
        im->fat_off = reserved * 512ull;
        im->root_off = im->fat_off + 2ull * im->fat_bytes;
        im->data_off = im->root_off + im->root_entries * 32ull;
}

static uint32_t fat_entry(const struct image *im, int copy, uint32_t c)
{
        const uint8_t *f = im->p + im->fat_off + (uint64_t)copy * im->fat_bytes;

        if (im->bits == 32)
                return le32(f + 4 * c) & 0x0FFFFFFF;
        if (im->bits == 16)
                return le16(f + 2 * c);
        return c & 1 ? le16(f + c + c / 2) >> 4 : le16(f + c + c / 2) & 0xFFF;
}

static const uint8_t *cluster_at(const struct image *im, uint32_t c)
{
        return im->p + im->data_off + (uint64_t)(c - 2) * im->cb;
}

static uint32_t entry_cluster(const uint8_t *e) { return (uint32_t)le16(e + 20) << 16 | le16(e + 26); }

static uint8_t checksum(const uint8_t *n)
{
        uint8_t sum = 0;
        for (int i = 0; i < 11; i++)
                sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + n[i]);
        return sum;
}

/* The entry with short name sn (11 bytes) in a folder of n entries. */
static const uint8_t *find_short(const uint8_t *dir, size_t n, const char *sn)
{
        for (size_t i = 0; i < n && dir[i * 32]; i++)
                if (dir[i * 32 + 11] != 0x0F && !memcmp(dir + i * 32, sn, 11))
                        return dir + i * 32;
        return NULL;
}

/* The UTF-16 long name before entry e; 0 units if none or malformed. */
static size_t long_name_units(const uint8_t *dir, const uint8_t *e, uint16_t *u, size_t max)
{
        static const int off[13] = { 1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30 };
        uint8_t sum = checksum(e);
        size_t k = 0, n = 0;

        for (const uint8_t *l = e - 32; l >= dir && l[11] == 0x0F; l -= 32) {
                if ((l[0] & 0x3F) != ++k || l[13] != sum)
                        return 0;
                for (int j = 0; j < 13; j++) {
                        uint16_t c = le16(l + off[j]);
                        size_t at = (k - 1) * 13 + (size_t)j;
                        if (c == 0 || c == 0xFFFF || at >= max)
                                break;
                        u[at] = c;
                        n = at + 1;
                }
                if (l[0] & 0x40)
                        return n;
        }
        return 0; /* no first-physical (0x40) entry: not a long name */
}

/* The same as ASCII (what the raw checks use). */
static void long_name_of(const uint8_t *dir, const uint8_t *e, char *buf, size_t len)
{
        uint16_t u[260];
        size_t n = long_name_units(dir, e, u, ARRAY_SIZE(u));

        for (size_t i = 0; i < n && i + 1 < len; i++)
                buf[i] = u[i] < 0x80 ? (char)u[i] : '?';
        buf[MIN(n, len - 1)] = 0;
}

static void check_short(const uint8_t *dir, size_t n, const char *sn, const char *long_name, uint8_t lcase)
{
        const uint8_t *e = find_short(dir, n, sn);
        char got[300] = "";

        if (e)
                long_name_of(dir, e, got, sizeof(got));
        ok(e && e[12] == lcase && !strcmp(got, long_name), "short name '%.11s' (case bits 0x%02x)%s%s", sn, lcase,
           *long_name ? " for " : ", no long name", long_name);
        if (e && (e[12] != lcase || strcmp(got, long_name)))
                tap_diag("  case bits 0x%02x, long name '%s'", e[12], got);
}

/* ------------------------------------------------------------------ tests */

static struct kiln_disk *write_mem(struct kiln_fat *f, uint64_t size, const struct kiln_fat_opts *o,
                                   struct kiln_fat_result *res, int *ret_r)
{
        struct kiln_disk *d;

        if (kiln_disk_new_memory(size, &d) < 0)
                abort();
        *ret_r = kiln_fat_write(f, d, o, res);
        return d;
}

static void test_seed(void)
{
        struct kiln_fat_opts o = { .label = "cidata", .volume_id = 0x0C1DA7A0, .mtime = MTIME };
        struct kiln_fat_result res;
        struct kiln_disk *d;
        struct model m;
        char img[PATH_MAX];
        uint64_t min = 0;
        int r;

        seed_model(&m);
        d = write_mem(m.f, MIB, &o, &res, &r);
        ok(r == 0 && res.fat_bits == 12 && res.cluster_size == 2048,
           "1 MiB seed: FAT12 with 2 KiB clusters (%d, FAT%u, %u bytes) %s", r, res.fat_bits, res.cluster_size,
           kiln_last_error());
        tmp_path(img, sizeof(img), "seed.img");
        dump(d, img);
        check_fsck(img, "1 MiB seed");
        check_names(img, &m, "1 MiB seed");
        check_contents(img, &m, "1 MiB seed");
        check_one(img, &m, "user-data", "1 MiB seed");
        check_one(img, &m, "meta-data", "1 MiB seed");
        check_label(img, "CIDATA", "FAT12", "1 MiB seed");
        kiln_disk_free(d);

        d = write_mem(m.f, 16 * MIB, &o, &res, &r);
        ok(r == 0 && res.fat_bits == 16, "16 MiB seed: FAT16 (%d, FAT%u)", r, res.fat_bits);
        dump(d, img);
        check_fsck(img, "16 MiB seed");
        check_contents(img, &m, "16 MiB seed");
        check_label(img, "CIDATA", "FAT16", "16 MiB seed");
        kiln_disk_free(d);

        r = kiln_fat_min_size(m.f, 0, &min);
        ok(r == 0 && min == MIB, "a seed needs 1 MiB (%d, %llu)", r, (unsigned long long)min);
        ok(kiln_fat_min_size(m.f, 24, &min) == -EINVAL, "there is no FAT24");
        o.hidden_sectors = 2048;
        d = write_mem(m.f, 256 * 1024, &o, &res, &r);
        ok(r == 0 && res.fat_bits == 12, "and fits in 256 KiB too (%d)", r);
        ok(le32(kiln_disk_memory_data(d) + 28) == 2048, "the partition's offset is the BPB's hidden sectors");
        dump(d, img);
        check_fsck(img, "256 KiB seed");
        kiln_disk_free(d);
        model_free(&m);
}

static void check_fat32_layout(const uint8_t *p, const struct kiln_fat_result *res, const char *what)
{
        struct image im;
        const uint8_t *fsinfo = p + 512;
        uint32_t next;

        image_open(&im, p);
        ok(!memcmp(p, "\xEB\x58\x90", 3) && p[0x5A] == 0x0E && p[510] == 0x55 && p[511] == 0xAA,
           "%s: jump to the boot code at 0x5A, signature 55 AA", what);
        ok(le16(p + 11) == 512 && le16(p + 14) == 32 && p[16] == 2 && p[21] == 0xF8 && le32(p + 44) == 2 &&
                   le16(p + 48) == 1 && le16(p + 50) == 6,
           "%s: 512-byte sectors, 32 reserved, 2 FATs, media F8, root at 2, FSInfo 1, backup 6", what);
        ok(p[0x42] == 0x29 && le32(p + 0x43) == 0x4B494C4E && !memcmp(p + 0x47, "ESP        ", 11) &&
                   !memcmp(p + 0x52, "FAT32   ", 8),
           "%s: extended signature 29, volume id, label and type in the BPB", what);
        ok(!memcmp(p, p + 6 * 512, 512) && !memcmp(fsinfo, p + 7 * 512, 512),
           "%s: backup boot sector at 6 and FSInfo at 7", what);
        next = le32(fsinfo + 492);
        ok(le32(fsinfo) == 0x41615252 && le32(fsinfo + 484) == 0x61417272 && le32(fsinfo + 508) == 0xAA550000 &&
                   le32(fsinfo + 488) == res->free_clusters,
           "%s: FSInfo signatures and free count %u", what, res->free_clusters);
        ok(next >= 2 && next < res->clusters + 2 && fat_entry(&im, 0, next) == 0 && fat_entry(&im, 0, next - 1) != 0,
           "%s: FSInfo next-free hint %u is the first free cluster", what, next);
        ok(fat_entry(&im, 0, 0) == 0x0FFFFFF8 && fat_entry(&im, 0, 1) == 0x0FFFFFFF,
           "%s: FAT entries 0 and 1 (media, clean)", what);
        ok(!memcmp(p + im.fat_off, p + im.fat_off + im.fat_bytes, im.fat_bytes), "%s: both FATs are the same",
           what);
        ok(im.data_off % res->cluster_size == 0, "%s: clusters aligned to their size", what);
}

static void test_esp_sizes(void)
{
        static const struct {
                uint64_t size;
                uint32_t cluster;
                const char *what;
        } cases[] = {
                { 33 * MIB, 512, "33 MiB ESP" },
                { 253952 * 512ull, 512, "124 MiB ESP (Debian's)" },
                { 512 * MIB, 4096, "512 MiB ESP" },
        };
        struct kiln_fat_opts o = { .label = "ESP", .volume_id = 0x4B494C4E, .mtime = MTIME, .fat_bits = 32 };
        struct model m;
        char img[PATH_MAX];

        esp_model(&m);
        tmp_path(img, sizeof(img), "esp.img");
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct kiln_fat_result res;
                struct kiln_disk *d;
                int r, fd = -1;

                if (cases[i].size < 256 * MIB) {
                        d = write_mem(m.f, cases[i].size, &o, &res, &r);
                        dump(d, img);
                } else { /* the big one through the file backend, as kiln builds */
                        fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                        kiln_disk_new_file(fd, cases[i].size, &d);
                        r = kiln_fat_write(m.f, d, &o, &res);
                }
                ok(r == 0 && res.fat_bits == 32 && res.cluster_size == cases[i].cluster,
                   "%s: FAT32 with %u-byte clusters (%d, FAT%u, %u) %s", cases[i].what, cases[i].cluster, r,
                   res.fat_bits, res.cluster_size, r < 0 ? kiln_last_error() : "");
                if (kiln_disk_memory_data(d))
                        check_fat32_layout(kiln_disk_memory_data(d), &res, cases[i].what);
                check_fsck(img, cases[i].what);
                check_names(img, &m, cases[i].what);
                check_contents(img, &m, cases[i].what);
                check_label(img, "ESP", "FAT32", cases[i].what);
                kiln_disk_free(d);
                if (fd >= 0)
                        close(fd);
        }
        check_one(img, &m, "EFI/BOOT/BOOTX64.EFI", "512 MiB ESP");
        check_one(img, &m, "EFI/debian/grub.cfg", "512 MiB ESP");
        check_one(img, &m, "names/abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopqr", "512 MiB ESP");
        check_one(img, &m, "names/café-crème.txt", "512 MiB ESP");
        model_free(&m);
}

/* Short names, case bits, long names and "." / ".." as bytes. */
static void test_names_raw(void)
{
        struct kiln_fat_opts o = { .label = "CIDATA", .mtime = MTIME };
        struct kiln_fat_result res;
        struct kiln_disk *d;
        struct image im;
        struct model m;
        const uint8_t *root, *e, *sub;
        int r;

        seed_model(&m);
        add_file(&m, "EFI/BOOT/BOOTX64.EFI", "x", 1);
        add_file(&m, "EFI/BOOT/grub.cfg", "x", 1);
        add_file(&m, "grubx64.efi", "x", 1);
        add_file(&m, "lower.TXT", "x", 1);
        add_file(&m, "README", "x", 1);
        add_file(&m, "Mixed.Txt", "x", 1);
        add_file(&m, "a.tar.gz", "x", 1);
        add_file(&m, "user-data-2", "x", 1);
        add_file(&m, "user-data-3", "x", 1);
        add_file(&m, "USER-D~1", "x", 1);
        /* U+1F511 needs a surrogate pair; mtools 4.0.32 cannot show those. */
        add_file(&m, "key-\xf0\x9f\x94\x91", "x", 1);
        d = write_mem(m.f, MIB, &o, &res, &r);
        ok(r == 0 && res.fat_bits == 12, "write a FAT12 volume with many kinds of names");
        image_open(&im, kiln_disk_memory_data(d));
        root = im.p + im.root_off;
        ok(!memcmp(root, "CIDATA     ", 11) && root[11] == 0x08, "the root starts with the volume label entry");
        check_short(root, im.root_entries, "USER-D~1   ", "", 0);
        check_short(root, im.root_entries, "USER-D~2   ", "user-data", 0);
        check_short(root, im.root_entries, "USER-D~3   ", "user-data-2", 0);
        check_short(root, im.root_entries, "USER-D~4   ", "user-data-3", 0);
        check_short(root, im.root_entries, "META-D~1   ", "meta-data", 0);
        check_short(root, im.root_entries, "NETWOR~1   ", "network-config", 0);
        check_short(root, im.root_entries, "GRUBX64 EFI", "", 0x18);
        check_short(root, im.root_entries, "LOWER   TXT", "", 0x08);
        check_short(root, im.root_entries, "README     ", "", 0);
        check_short(root, im.root_entries, "MIXED   TXT", "Mixed.Txt", 0);
        check_short(root, im.root_entries, "ATAR~1  GZ ", "a.tar.gz", 0);
        e = find_short(root, im.root_entries, "KEY-_~1    ");
        {
                static const uint16_t want[] = { 'k', 'e', 'y', '-', 0xD83D, 0xDD11 };
                uint16_t u[16];
                size_t n = e ? long_name_units(root, e, u, ARRAY_SIZE(u)) : 0;
                ok(n == 6 && !memcmp(u, want, sizeof(want)), "U+1F511 is stored as a UTF-16 surrogate pair");
        }
        e = find_short(root, im.root_entries, "EFI        ");
        ok(e && e[11] == 0x10 && le32(e + 28) == 0, "EFI is a folder of size 0");
        sub = e ? cluster_at(&im, entry_cluster(e)) : NULL;
        ok(sub && !memcmp(sub, ".          ", 11) && entry_cluster(sub) == entry_cluster(e) &&
                   !memcmp(sub + 32, "..         ", 11) && entry_cluster(sub + 32) == 0,
           "EFI has '.' (itself) and '..' (0: the root)");
        e = sub ? find_short(sub, im.cb / 32, "BOOT       ") : NULL;
        sub = e ? cluster_at(&im, entry_cluster(e)) : NULL;
        ok(sub && entry_cluster(sub + 32) == entry_cluster(find_short(root, im.root_entries, "EFI        ")),
           "EFI/BOOT's '..' is EFI's cluster");
        check_short(sub, im.cb / 32, "BOOTX64 EFI", "", 0);
        check_short(sub, im.cb / 32, "GRUB    CFG", "", 0x18);
        e = sub ? find_short(sub, im.cb / 32, "GRUB    CFG") : NULL;
        /* 2023-11-14 22:13:21 */
        ok(e && le16(e + 24) == (43 << 9 | 11 << 5 | 14) && le16(e + 22) == (22 << 11 | 13 << 5 | 10) &&
                   le16(e + 16) == le16(e + 24) && le16(e + 14) == le16(e + 22) && e[13] == 100 &&
                   le16(e + 18) == le16(e + 24),
           "timestamps are opts.mtime in UTC (odd second in the 10 ms field)");
        ok(fat_entry(&im, 0, 0) == 0xFF8 && fat_entry(&im, 0, 1) == 0xFFF, "FAT12 entries 0 and 1");
        ok(!memcmp(im.p, "\xEB\x3C\x90", 3) && im.p[0x26] == 0x29 && !memcmp(im.p + 0x2B, "CIDATA     ", 11) &&
                   !memcmp(im.p + 0x36, "FAT12   ", 8) && im.p[0x3E] == 0x0E,
           "FAT12 boot sector: jump to 0x3E, signature 29, label, type");
        kiln_disk_free(d);

        /* Before 1980 is clamped to FAT's epoch. */
        o.mtime = 0;
        d = write_mem(m.f, MIB, &o, &res, &r);
        image_open(&im, kiln_disk_memory_data(d));
        e = find_short(im.p + im.root_off, im.root_entries, "README     ");
        ok(r == 0 && e && le16(e + 24) == (0 << 9 | 1 << 5 | 1) && le16(e + 22) == 0, "1970 becomes 1980-01-01");
        kiln_disk_free(d);
        model_free(&m);
}

/* Chains in a volume with many folders: each is contiguous and in order. */
static void test_chains(void)
{
        struct kiln_fat_opts o = { .label = "ESP", .volume_id = 0x4B494C4E, .mtime = MTIME, .fat_bits = 32 };
        struct kiln_fat_result res;
        struct kiln_disk *d;
        struct image im;
        struct model m;
        uint32_t c, used = 0;
        int r;

        esp_model(&m);
        d = write_mem(m.f, 33 * MIB, &o, &res, &r);
        image_open(&im, kiln_disk_memory_data(d));
        for (c = 2; c < res.clusters + 2; c++) {
                uint32_t v = fat_entry(&im, 0, c);
                if (v == 0)
                        break;
                used++;
                if (v != 0x0FFFFFFF && v != c + 1)
                        break;
        }
        ok(used == res.clusters - res.free_clusters && c == used + 2,
           "the %u used clusters are one run of contiguous chains from cluster 2", used);
        for (; c < res.clusters + 2 && fat_entry(&im, 0, c) == 0; c++)
                ;
        ok(c == res.clusters + 2, "and every later cluster is free");
        kiln_disk_free(d);
        model_free(&m);
}

static void test_reproducible(void)
{
        struct kiln_fat_opts o = { .label = "ESP", .volume_id = 1, .mtime = MTIME };
        struct kiln_fat *b;
        struct kiln_fat_result res;
        struct kiln_disk *d1, *d2, *d3, *dirty;
        struct image im;
        struct model m;
        char img[PATH_MAX];
        uint8_t *junk;
        int r1, r2, r3;

        esp_model(&m);
        /* The same entries added in the opposite order. */
        kiln_fat_new(&b);
        for (size_t i = m.n; i-- > 0;)
                if (m.e[i].is_dir)
                        kiln_fat_add_dir(b, m.e[i].path);
                else
                        kiln_fat_add_file(b, m.e[i].path, m.e[i].data, m.e[i].len);
        d1 = write_mem(m.f, 40 * MIB, &o, &res, &r1);
        d2 = write_mem(m.f, 40 * MIB, &o, &res, &r2);
        d3 = write_mem(b, 40 * MIB, &o, &res, &r3);
        ok(r1 == 0 && r2 == 0 && !memcmp(kiln_disk_memory_data(d1), kiln_disk_memory_data(d2), 40 * MIB),
           "two writes give the same bytes");
        ok(r3 == 0 && !memcmp(kiln_disk_memory_data(d1), kiln_disk_memory_data(d3), 40 * MIB),
           "adding in another order gives the same bytes");

        /* Over a used partition: everything the volume uses is rewritten. */
        kiln_disk_new_memory(40 * MIB, &dirty);
        junk = malloc(40 * MIB);
        memset(junk, 0xA5, 40 * MIB);
        kiln_disk_pwrite(dirty, junk, 40 * MIB, 0);
        free(junk);
        r1 = kiln_fat_write(m.f, dirty, &o, &res);
        image_open(&im, kiln_disk_memory_data(d1));
        {
                uint64_t used = im.data_off + (uint64_t)(res.clusters - res.free_clusters) * res.cluster_size;
                ok(r1 == 0 && !memcmp(kiln_disk_memory_data(d1), kiln_disk_memory_data(dirty), used),
                   "over old bytes, the used %llu bytes are the same as on a zeroed disk",
                   (unsigned long long)used);
        }
        tmp_path(img, sizeof(img), "dirty.img");
        dump(dirty, img);
        check_fsck(img, "over old bytes");
        check_contents(img, &m, "over old bytes");
        kiln_disk_free(d1);
        kiln_disk_free(d2);
        kiln_disk_free(d3);
        kiln_disk_free(dirty);
        kiln_fat_free(b);
        model_free(&m);
}

static bool msg_has(const char *s) { return strstr(kiln_last_error(), s) != NULL; }

static void test_sizes(void)
{
        struct kiln_fat_opts o = { .label = "ESP", .mtime = MTIME, .fat_bits = 32 };
        struct kiln_fat_result res;
        struct kiln_disk *d;
        struct model m;
        uint64_t min;
        uint8_t *big;
        int r;

        seed_model(&m);
        r = kiln_fat_min_size(m.f, 32, &min);
        ok(r == 0 && min == 33 * MIB, "FAT32 needs 33 MiB (%llu)", (unsigned long long)min);
        d = write_mem(m.f, 32 * MIB, &o, &res, &r);
        ok(r == -ENOSPC && msg_has("too small") && msg_has("at least 33.0 MiB"),
           "FAT32 in 32 MiB: -ENOSPC: %s", kiln_last_error());
        kiln_disk_free(d);
        d = write_mem(m.f, 33 * MIB, &o, &res, &r);
        ok(r == 0 && res.fat_bits == 32 && res.clusters >= 65529, "FAT32 in 33 MiB (%u clusters)", res.clusters);
        kiln_disk_free(d);

        /* Too large for the type. */
        d = null_disk(3ull << 40);
        o.fat_bits = 0;
        r = kiln_fat_write(m.f, d, &o, &res);
        ok(r == -EFBIG && msg_has("2 TiB"), "3 TiB: -EFBIG: %s", kiln_last_error());
        d->size = 4ull << 30;
        o.fat_bits = 16;
        r = kiln_fat_write(m.f, d, &o, &res);
        ok(r == -EFBIG && msg_has("FAT16"), "FAT16 in 4 GiB: -EFBIG: %s", kiln_last_error());
        d->size = 1ull << 30;
        r = kiln_fat_write(m.f, d, &o, &res);
        ok(r == 0 && res.fat_bits == 16 && res.cluster_size == 16384, "FAT16 in 1 GiB: 16 KiB clusters (%d, %u)", r,
           res.cluster_size);
        o.fat_bits = 12;
        d->size = 16 * MIB;
        r = kiln_fat_write(m.f, d, &o, &res);
        ok(r == 0 && res.fat_bits == 12 && res.cluster_size == 8192, "FAT12 in 16 MiB: 8 KiB clusters (%d, %u)", r,
           res.cluster_size);
        o.fat_bits = 0;
        d->size = 9ull << 30;
        r = kiln_fat_write(m.f, d, &o, &res);
        ok(r == 0 && res.fat_bits == 32 && res.cluster_size == 8192, "9 GiB: FAT32 with 8 KiB clusters (%u)",
           res.cluster_size);
        d->size = 100ull << 30;
        r = kiln_fat_write(m.f, d, &o, &res);
        ok(r == 0 && res.fat_bits == 32 && res.cluster_size == 32768, "100 GiB: FAT32 with 32 KiB clusters (%u)",
           res.cluster_size);
        kiln_disk_free(d);

        /* Files that do not fit. */
        big = calloc(1, 2 * MIB);
        add_file(&m, "big.bin", big, 2 * MIB);
        d = write_mem(m.f, MIB, &o, &res, &r);
        ok(r == -ENOSPC && msg_has("too small") && msg_has("at least 3.0 MiB"), "2 MiB of files in 1 MiB: -ENOSPC: %s",
           kiln_last_error());
        kiln_disk_free(d);
        r = kiln_fat_min_size(m.f, 0, &min);
        d = write_mem(m.f, min, &o, &res, &r);
        ok(r == 0 && min == 3 * MIB, "and they fit at the minimum size (%llu, %d)", (unsigned long long)min, r);
        kiln_disk_free(d);
        add_file(&m, "big2.bin", big, 2 * MIB);
        add_file(&m, "big3.bin", big, 2 * MIB);
        add_file(&m, "big4.bin", big, 2 * MIB);
        add_file(&m, "big5.bin", big, 2 * MIB);
        add_file(&m, "big6.bin", big, 2 * MIB);
        add_file(&m, "big7.bin", big, 2 * MIB);
        add_file(&m, "big8.bin", big, 2 * MIB);
        add_file(&m, "big9.bin", big, 2 * MIB);
        add_file(&m, "big10.bin", big, 2 * MIB);
        add_file(&m, "big11.bin", big, 2 * MIB);
        add_file(&m, "big12.bin", big, 2 * MIB);
        add_file(&m, "big13.bin", big, 2 * MIB);
        add_file(&m, "big14.bin", big, 2 * MIB);
        add_file(&m, "big15.bin", big, 2 * MIB);
        add_file(&m, "big16.bin", big, 2 * MIB);
        add_file(&m, "big17.bin", big, 2 * MIB);
        add_file(&m, "big18.bin", big, 2 * MIB);
        r = kiln_fat_min_size(m.f, 32, &min);
        d = write_mem(m.f, min, &(struct kiln_fat_opts){ .fat_bits = 32 }, &res, &r);
        ok(r == 0 && min == 37 * MIB, "36 MiB of files as FAT32: min size %llu MiB fits", (unsigned long long)(min / MIB));
        kiln_disk_free(d);
        d = write_mem(m.f, min - MIB, &(struct kiln_fat_opts){ .fat_bits = 32 }, &res, &r);
        ok(r == -ENOSPC, "and 1 MiB less does not: %s", kiln_last_error());
        kiln_disk_free(d);
        r = kiln_fat_min_size(m.f, 12, &min);
        d = write_mem(m.f, min, &(struct kiln_fat_opts){ .fat_bits = 12 }, &res, &r);
        ok(r == 0 && res.fat_bits == 12 && res.cluster_size == 16384, "as FAT12 they fit in %llu MiB with 16 KiB clusters (%u)",
           (unsigned long long)(min / MIB), res.cluster_size);
        kiln_disk_free(d);
        for (int i = 0; i < 50; i++) {
                char p[32];
                snprintf(p, sizeof(p), "more/%d.bin", i);
                add_file(&m, p, big, 2 * MIB);
        }
        r = kiln_fat_min_size(m.f, 12, &min);
        ok(r == -EFBIG && msg_has("FAT12"), "136 MiB of files do not fit in any FAT12 volume: %s", kiln_last_error());
        free(big);
        model_free(&m);
}

static void test_bad_input(void)
{
        struct kiln_fat *f;
        struct kiln_disk *d;
        char name[300];

        kiln_fat_new(&f);
        ok(kiln_fat_add_file(f, "a:b", "x", 1) == -EINVAL && msg_has("':'"), "':' is refused: %s",
           kiln_last_error());
        ok(kiln_fat_add_file(f, "dir/na*me", "x", 1) == -EINVAL, "'*' is refused");
        ok(kiln_fat_add_file(f, "tab\there", "x", 1) == -EINVAL && msg_has("control"), "a control character is refused");
        ok(kiln_fat_add_file(f, "x/../y", "x", 1) == -EINVAL, "'..' is refused");
        ok(kiln_fat_add_file(f, "a//b", "x", 1) == -EINVAL, "an empty component is refused");
        ok(kiln_fat_add_file(f, "", "x", 1) == -EINVAL, "an empty path is refused");
        ok(kiln_fat_add_file(f, "trailing.", "x", 1) == -EINVAL, "a trailing dot is refused");
        ok(kiln_fat_add_file(f, "trailing ", "x", 1) == -EINVAL, "a trailing space is refused");
        ok(kiln_fat_add_file(f, "bad-\xff-utf8", "x", 1) == -EINVAL && msg_has("UTF-8"), "bad UTF-8 is refused");
        ok(kiln_fat_add_file(f, "over-\xc0\xaf-long", "x", 1) == -EINVAL, "overlong UTF-8 is refused");
        memset(name, 'n', 256);
        name[256] = 0;
        ok(kiln_fat_add_file(f, name, "x", 1) == -ENAMETOOLONG, "a 256-character name is refused");
        name[255] = 0;
        ok(kiln_fat_add_file(f, name, "x", 1) == 0, "a 255-character name is fine");
        ok(kiln_fat_add_file(f, "bad/ok/na?me", "x", 1) == -EINVAL && kiln_fat_add_file(f, "bad", "x", 1) == 0,
           "a refused path adds no folders");
        ok(kiln_fat_add_file(f, "/EFI/BOOT/grub.cfg", "x", 1) == 0, "a leading '/' is fine");
        ok(kiln_fat_add_file(f, "efi/boot/GRUB.CFG", "y", 1) == -EEXIST && msg_has("case"),
           "a name differing only in case is taken: %s", kiln_last_error());
        ok(kiln_fat_add_dir(f, "efi/BOOT") == 0 && kiln_fat_add_dir(f, "EFI") == 0, "adding a folder again is fine");
        ok(kiln_fat_add_file(f, "EFI", "x", 1) == -EEXIST && msg_has("exists"), "a file over a folder is refused: %s",
           kiln_last_error());
        ok(kiln_fat_add_dir(f, "bad/x") == -ENOTDIR && msg_has("is a file"), "a folder under a file is refused: %s",
           kiln_last_error());
        ok(kiln_fat_add_file_from_fd(f, "dir-fd", AT_FDCWD) < 0, "a bad fd is refused");
        {
                int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ok(kiln_fat_add_file_from_fd(f, "dir-fd", fd) == -EINVAL, "a folder's fd is refused");
                close(fd);
        }

        kiln_disk_new_memory(MIB, &d);
        ok(kiln_fat_write(f, d, &(struct kiln_fat_opts){ .label = "TWELVE-CHARS" }, NULL) == -EINVAL &&
                   msg_has("11"),
           "a 12-character label is refused");
        ok(kiln_fat_write(f, d, &(struct kiln_fat_opts){ .label = "A.B" }, NULL) == -EINVAL, "'.' in a label is refused");
        ok(kiln_fat_write(f, d, &(struct kiln_fat_opts){ .label = "caf\xc3\xa9" }, NULL) == -EINVAL,
           "non-ASCII in a label is refused");
        ok(kiln_fat_write(f, d, &(struct kiln_fat_opts){ .fat_bits = 24 }, NULL) == -EINVAL, "FAT24 is refused");
        ok(kiln_fat_write(f, d, &(struct kiln_fat_opts){ .label = "" }, NULL) == 0 &&
                   !memcmp(kiln_disk_memory_data(d) + 0x2B, "NO NAME    ", 11),
           "no label: 'NO NAME' in the boot sector");
        kiln_disk_free(d);
        kiln_fat_free(f);
}

/* Every write failing in turn: -EIO each time, never a false success. */
static void test_faults(void)
{
        struct kiln_fat_opts o = { .label = "ESP", .mtime = MTIME, .fat_bits = 32 };
        struct model m;
        unsigned n, failed_right = 0, writes = 0;
        bool done = false;

        esp_model(&m);
        for (n = 1; n < 200 && !done; n++) {
                struct kiln_disk *mem, *d;
                int r;

                kiln_disk_new_memory(40 * MIB, &mem);
                kiln_disk_new_fault(mem, n, &d);
                r = kiln_fat_write(m.f, d, &o, NULL);
                writes = kiln_disk_fault_writes(d);
                if (writes < n)
                        done = r == 0;
                else if (r == -EIO && msg_has("cannot write FAT volume 'ESP'") && msg_has("injected"))
                        failed_right++;
                else
                        tap_diag("  write %u failed, kiln_fat_write said %d: %s", n, r, kiln_last_error());
                kiln_disk_free(d);
        }
        ok(done && failed_right == n - 2, "each of %u writes failed in turn gives -EIO (%u did)", n - 2,
           failed_right);
        ok(n - 2 >= 5, "the volume is written in large runs (%u writes)", n - 2);
        model_free(&m);
}

static void check_tools(void)
{
        static const char *const tools[][3] = {
                { "fsck.fat", "--help", NULL }, { "mdir", "-V", NULL }, { "blkid", "-V", NULL },
        };

        for (size_t i = 0; i < ARRAY_SIZE(tools); i++)
                if (run(tools[i], NULL, NULL) == 127)
                        ok(false, "'%s' is missing: install dosfstools, mtools and util-linux", tools[i][0]);
}

int main(void)
{
        /* mtools prints long names in the locale's charset; no user config. */
        setenv("LC_ALL", "C.UTF-8", 1);
        setenv("MTOOLSRC", "/dev/null", 1);
        if (!mkdtemp(tmpdir))
                return 1;
        check_tools();
        test_names_raw();
        test_seed();
        test_esp_sizes();
        test_chains();
        test_reproducible();
        test_sizes();
        test_bad_input();
        test_faults();
        nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return tap_done();
}
