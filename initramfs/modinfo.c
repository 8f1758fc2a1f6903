/* SPDX-License-Identifier: MIT */
/* The .modinfo of a kernel module: ELF64 section headers walked over a
 * buffer, every offset checked against its length.  Pure: no I/O. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modinfo.h"
#include "util.h"

#define EHDR64_SIZE 64
#define SHDR64_SIZE 64
#define SHN_UNDEF 0
#define SHN_LORESERVE 0xff00u
#define SHN_XINDEX 0xffffu
#define SHT_NOBITS 8

struct elf {
        const uint8_t *p;
        size_t len;
        bool big; /* ELFDATA2MSB */
};

static uint64_t rd(const struct elf *e, size_t off, unsigned n)
{
        uint64_t v = 0;

        for (unsigned i = 0; i < n; i++)
                v |= (uint64_t)e->p[off + (e->big ? n - 1 - i : i)] << (8 * i);
        return v;
}

/* [off, off + size) lies inside the buffer. */
static bool in_bounds(const struct elf *e, uint64_t off, uint64_t size)
{
        return off <= e->len && size <= e->len - off;
}

struct shdr {
        uint32_t name, type;
        uint64_t offset, size;
        uint32_t link;
};

static void read_shdr(const struct elf *e, uint64_t shoff, uint64_t shentsize, uint64_t i, struct shdr *ret)
{
        size_t o = (size_t)(shoff + i * shentsize);

        ret->name = (uint32_t)rd(e, o + 0, 4);
        ret->type = (uint32_t)rd(e, o + 4, 4);
        ret->offset = rd(e, o + 24, 8);
        ret->size = rd(e, o + 32, 8);
        ret->link = (uint32_t)rd(e, o + 40, 4);
}

int kiln_modinfo_next(const char *buf, size_t len, size_t *pos, const char **ret_key, size_t *ret_key_len,
                      const char **ret_value, size_t *ret_value_len)
{
        size_t p = *pos;

        while (p < len) {
                const char *s = buf + p;
                const char *nul = memchr(s, 0, len - p);
                size_t n = nul ? (size_t)(nul - s) : len - p;
                const char *eq = n ? memchr(s, '=', n) : NULL;

                p += n + (nul ? 1 : 0);
                if (!eq || eq == s)
                        continue;
                *pos = p;
                *ret_key = s;
                *ret_key_len = (size_t)(eq - s);
                *ret_value = eq + 1;
                *ret_value_len = n - (size_t)(eq - s) - 1;
                return 1;
        }
        *pos = p;
        return 0;
}

void kiln_module_name_normalize(char *name)
{
        for (; *name; name++)
                if (*name == '-')
                        *name = '_';
}

bool kiln_module_name_eq(const char *a, const char *b)
{
        for (;; a++, b++) {
                char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
                if (x != y)
                        return false;
                if (!x)
                        return true;
        }
}

void kiln_modinfo_free(struct kiln_modinfo *mi)
{
        if (!mi)
                return;
        free(mi->name);
        free(mi->depends);
        free(mi->vermagic);
        for (size_t i = 0; i < mi->n_softdeps; i++)
                free(mi->softdeps[i]);
        free(mi->softdeps);
        for (size_t i = 0; i < mi->n_aliases; i++)
                free(mi->aliases[i]);
        free(mi->aliases);
        *mi = (struct kiln_modinfo){ 0 };
}

static int push(char ***list, size_t *n, size_t max, const char *s, size_t len)
{
        if (*n >= max)
                return -E2BIG;
        /* Capacity 4, then doubled whenever n reaches a power of two. */
        if (*n == 0 || (*n >= 4 && (*n & (*n - 1)) == 0)) {
                size_t cap = *n ? *n * 2 : 4;
                char **l = realloc(*list, cap * sizeof(*l));
                if (!l)
                        return -ENOMEM;
                *list = l;
        }
        char *c = strndup(s, len);
        if (!c)
                return -ENOMEM;
        (*list)[(*n)++] = c;
        return 0;
}

static int set_once(char **field, const char *s, size_t len)
{
        if (*field)
                return 0;
        *field = strndup(s, len);
        return *field ? 0 : -ENOMEM;
}

static int parse_section(const char *s, size_t len, struct kiln_modinfo *mi)
{
        const char *key, *value;
        size_t klen, vlen, pos = 0;
        int r = 0;

        while (r >= 0 && kiln_modinfo_next(s, len, &pos, &key, &klen, &value, &vlen) > 0) {
#define KEY(k) (klen == sizeof(k) - 1 && !memcmp(key, k, klen))
                if (KEY("name"))
                        r = set_once(&mi->name, value, vlen);
                else if (KEY("depends"))
                        r = set_once(&mi->depends, value, vlen);
                else if (KEY("vermagic"))
                        r = set_once(&mi->vermagic, value, vlen);
                else if (KEY("softdep")) {
                        r = push(&mi->softdeps, &mi->n_softdeps, KILN_MODINFO_MAX_SOFTDEPS, value, vlen);
                        if (r == -E2BIG)
                                return kiln_errorf(r, "more than %u softdep= entries", KILN_MODINFO_MAX_SOFTDEPS);
                } else if (KEY("alias")) {
                        r = push(&mi->aliases, &mi->n_aliases, KILN_MODINFO_MAX_ALIASES, value, vlen);
                        if (r == -E2BIG)
                                return kiln_errorf(r, "more than %u alias= entries", KILN_MODINFO_MAX_ALIASES);
                }
#undef KEY
        }
        return r < 0 ? kiln_errorf(r, "out of memory reading .modinfo") : 0;
}

int kiln_modinfo_parse(const void *buf, size_t len, struct kiln_modinfo *ret)
{
        struct elf e = { .p = buf, .len = len };
        struct kiln_modinfo mi = { 0 };
        struct shdr sh0, strtab, sh;
        uint64_t shoff, shentsize, shnum, shstrndx;
        int r;

        if (len < 16 || memcmp(buf, "\177ELF", 4))
                return kiln_errorf(-EBADMSG, "not an ELF file");
        if (e.p[4] == 1)
                return kiln_errorf(-EOPNOTSUPP, "a 32-bit ELF file: only ELF64 modules are read");
        if (e.p[4] != 2)
                return kiln_errorf(-EBADMSG, "unknown ELF class %u", e.p[4]);
        if (e.p[5] != 1 && e.p[5] != 2)
                return kiln_errorf(-EBADMSG, "unknown ELF byte order %u", e.p[5]);
        e.big = e.p[5] == 2;
        if (len < EHDR64_SIZE)
                return kiln_errorf(-EBADMSG, "truncated ELF header (%zu bytes)", len);

        shoff = rd(&e, 40, 8);
        shentsize = rd(&e, 58, 2);
        shnum = rd(&e, 60, 2);
        shstrndx = rd(&e, 62, 2);
        if (shstrndx >= SHN_LORESERVE && shstrndx != SHN_XINDEX)
                return kiln_errorf(-EBADMSG, "bad section name table index %llu", (unsigned long long)shstrndx);
        if (shoff == 0)
                return kiln_errorf(-EBADMSG, "no section header table");
        if (shentsize < SHDR64_SIZE)
                return kiln_errorf(-EBADMSG, "section header entries of %u bytes, need %u", (unsigned)shentsize,
                                   SHDR64_SIZE);
        if (!in_bounds(&e, shoff, shentsize))
                return kiln_errorf(-EBADMSG, "section header table at %llu is past the end (%zu bytes)",
                                   (unsigned long long)shoff, len);
        /* Section 0 holds the real count and string table index when they
         * do not fit the ELF header's 16-bit fields. */
        read_shdr(&e, shoff, shentsize, 0, &sh0);
        if (shnum == 0)
                shnum = sh0.size;
        if (shstrndx == SHN_XINDEX)
                shstrndx = sh0.link;
        if (shnum == 0)
                return kiln_errorf(-EBADMSG, "no sections");
        if (shnum > KILN_MODINFO_MAX_SECTIONS)
                return kiln_errorf(-E2BIG, "%llu sections, more than %u", (unsigned long long)shnum,
                                   KILN_MODINFO_MAX_SECTIONS);
        if (shnum > (len - shoff) / shentsize)
                return kiln_errorf(-EBADMSG, "%llu section headers at %llu run past the end (%zu bytes)",
                                   (unsigned long long)shnum, (unsigned long long)shoff, len);
        if (shstrndx == SHN_UNDEF || shstrndx >= shnum)
                return kiln_errorf(-EBADMSG, "bad section name table index %llu", (unsigned long long)shstrndx);

        read_shdr(&e, shoff, shentsize, shstrndx, &strtab);
        if (strtab.type == SHT_NOBITS || !in_bounds(&e, strtab.offset, strtab.size))
                return kiln_errorf(-EBADMSG, "section name table is past the end");

        for (uint64_t i = 1; i < shnum; i++) {
                read_shdr(&e, shoff, shentsize, i, &sh);
                if (sh.name >= strtab.size)
                        continue; /* a name we cannot read is not ".modinfo" */
                const char *name = (const char *)e.p + strtab.offset + sh.name;
                size_t room = (size_t)(strtab.size - sh.name);
                if (room < sizeof(".modinfo") || memcmp(name, ".modinfo", sizeof(".modinfo")))
                        continue;
                if (sh.type == SHT_NOBITS)
                        sh.size = 0;
                else if (!in_bounds(&e, sh.offset, sh.size))
                        return kiln_errorf(-EBADMSG, ".modinfo at %llu (%llu bytes) is past the end (%zu bytes)",
                                           (unsigned long long)sh.offset, (unsigned long long)sh.size, len);
                r = parse_section((const char *)e.p + (sh.size ? sh.offset : 0), (size_t)sh.size, &mi);
                if (r < 0) {
                        kiln_modinfo_free(&mi);
                        return r;
                }
                *ret = mi;
                return 0;
        }
        return kiln_errorf(-ENOENT, "no .modinfo section");
}
