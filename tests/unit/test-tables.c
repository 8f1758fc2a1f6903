/* SPDX-License-Identifier: MIT */
/* Every name table is consistent: complete, unique, and round-trips. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../lib/tap.h"
#include "tables.h"

struct table {
        const char *what;
        int max;
        const char *(*to_string)(int v);
        int (*from_string)(const char *s);
        const char *const *expected;
};

/* Adapters so that one loop covers every enum type without casting functions. */
#define ADAPT(name, type)                                                              \
        static const char *name##_str(int v) { return name##_to_string((type)v); }

ADAPT(kiln_arch, enum kiln_arch)
ADAPT(kiln_virt, enum kiln_virt)
ADAPT(kiln_boot_mode, enum kiln_boot_mode)
ADAPT(kiln_ptable, enum kiln_ptable)
ADAPT(kiln_volume_type, enum kiln_volume_type)

/* Spelt as EC2 and Packer spell them: these strings are the contract. */
static const char *const arch_names[] = { "x86_64", "arm64" };
static const char *const virt_names[] = { "hvm", "paravirtual" };
static const char *const boot_names[] = { "legacy-bios", "uefi", "uefi-preferred" };
static const char *const ptable_names[] = { "gpt", "mbr", "none" };
static const char *const vol_names[] = { "gp2", "gp3", "io1", "io2", "st1", "sc1", "standard" };

static const struct table tables[] = {
        { "arch", _KILN_ARCH_MAX, kiln_arch_str, kiln_arch_from_string, arch_names },
        { "virt", _KILN_VIRT_MAX, kiln_virt_str, kiln_virt_from_string, virt_names },
        { "boot_mode", _KILN_BOOT_MAX, kiln_boot_mode_str, kiln_boot_mode_from_string,
          boot_names },
        { "ptable", _KILN_PTABLE_MAX, kiln_ptable_str, kiln_ptable_from_string, ptable_names },
        { "volume_type", _KILN_VOL_MAX, kiln_volume_type_str, kiln_volume_type_from_string,
          vol_names },
};

_Static_assert(sizeof(arch_names) / sizeof(*arch_names) == _KILN_ARCH_MAX, "arch");
_Static_assert(sizeof(virt_names) / sizeof(*virt_names) == _KILN_VIRT_MAX, "virt");
_Static_assert(sizeof(boot_names) / sizeof(*boot_names) == _KILN_BOOT_MAX, "boot");
_Static_assert(sizeof(ptable_names) / sizeof(*ptable_names) == _KILN_PTABLE_MAX, "ptable");
_Static_assert(sizeof(vol_names) / sizeof(*vol_names) == _KILN_VOL_MAX, "volume");

static void test_table(const struct table *t)
{
        int dups = 0;

        for (int v = 0; v < t->max; v++) {
                const char *name = t->to_string(v);

                if (!ok(name, "%s %d has a name", t->what, v))
                        continue;
                ok(!strcmp(name, t->expected[v]), "%s %d is '%s'", t->what, v, t->expected[v]);
                is_int(t->from_string(name), v, "%s '%s' round-trips", t->what, name);
                for (int w = 0; w < v; w++)
                        if (t->to_string(w) && !strcmp(t->to_string(w), name))
                                dups++;
        }
        is_int(dups, 0, "%s: names are unique", t->what);
        ok(!t->to_string(t->max), "%s: to_string(max) is NULL", t->what);
        ok(!t->to_string(-1), "%s: to_string(-1) is NULL", t->what);
        is_int(t->from_string("bogus"), -EINVAL, "%s: unknown name", t->what);
        is_int(t->from_string(""), -EINVAL, "%s: empty name", t->what);
        is_int(t->from_string(NULL), -EINVAL, "%s: NULL name", t->what);
        /* EC2 is case-sensitive, and so are we. */
        if (t->max > 0) {
                char upper[64];

                snprintf(upper, sizeof(upper), "%s", t->to_string(0));
                for (char *p = upper; *p; p++)
                        if (*p >= 'a' && *p <= 'z')
                                *p = (char)(*p - 'a' + 'A');
                is_int(t->from_string(upper), -EINVAL, "%s: '%s' is not a name", t->what, upper);
        }
}

int main(void)
{
        for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++)
                test_table(&tables[i]);
        return tap_done();
}
