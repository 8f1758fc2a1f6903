/* SPDX-License-Identifier: MIT */
/* Partition layouts and tables: planned as data, written to memory, read
 * back by the real tools (sgdisk -v, sfdisk --verify, blkid). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../lib/tap.h"
#include "disk.h"
#include "ptable.h"
#include "util.h"

#define MIB (UINT64_C(1) << 20)

static void test_type_table(void)
{
        for (int t = 0; t < _KILN_GPT_TYPE_MAX; t++) {
                uint8_t g[16], zero[16] = { 0 };
                kiln_gpt_type_guid(t, g);
                ok(memcmp(g, zero, 16) != 0, "type %s has a valid GUID", kiln_gpt_type_to_string(t));
                is_int(kiln_gpt_type_from_string(kiln_gpt_type_to_string(t)), t, "type %s round-trips",
                       kiln_gpt_type_to_string(t));
        }
        ok(kiln_gpt_type_from_string("nope") == -EINVAL, "unknown type name refused");
}

static void test_plans(void)
{
        struct kiln_layout l;

        ok(kiln_layout_plan(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, KILN_ARCH_X86_64, 1024 * MIB, &l) == 0,
           "gpt uefi-preferred");
        is_int(l.n_parts, 3, "three partitions (BIOS boot, ESP, root)");
        const struct kiln_part *bb = kiln_layout_find(&l, KILN_PART_BIOS_BOOT), *esp = kiln_layout_find(&l, KILN_PART_ESP),
                               *root = kiln_layout_find(&l, KILN_PART_ROOT);
        ok(bb && bb->number == 14 && bb->start == 2048 && bb->size == 6144, "p14 BIOS boot at 2048, 3 MiB");
        ok(esp && esp->number == 15 && esp->start == 8192 && esp->size == 253952, "p15 ESP at 8192, 124 MiB");
        ok(root && root->number == 1 && root->start == 262144, "p1 root at 128 MiB");
        is_int(root->start + root->size - 1, 1024 * MIB / 512 - 34, "root ends at the last usable sector");
        ok(kiln_layout_plan(KILN_PTABLE_GPT, KILN_BOOT_UEFI, KILN_ARCH_X86_64, 1024 * MIB, &l) == 0 && l.n_parts == 2 &&
           !kiln_layout_find(&l, KILN_PART_BIOS_BOOT), "uefi drops the BIOS boot partition");
        ok(kiln_layout_plan(KILN_PTABLE_GPT, KILN_BOOT_LEGACY_BIOS, KILN_ARCH_X86_64, 1024 * MIB, &l) == 0 &&
           l.n_parts == 2 && !kiln_layout_find(&l, KILN_PART_ESP), "legacy-bios drops the ESP");
        ok(kiln_layout_plan(KILN_PTABLE_MBR, KILN_BOOT_UEFI, KILN_ARCH_X86_64, 1024 * MIB, &l) == -EINVAL &&
           strstr(kiln_last_error(), "legacy-bios"), "mbr + uefi is refused: %s", kiln_last_error());
        ok(kiln_layout_plan(KILN_PTABLE_MBR, KILN_BOOT_LEGACY_BIOS, KILN_ARCH_X86_64, 1024 * MIB, &l) == 0 &&
           l.n_parts == 1 && l.parts[0].start == 2048 && l.parts[0].bootable, "mbr: one active partition at 1 MiB");
        ok(kiln_layout_plan(KILN_PTABLE_MBR, KILN_BOOT_LEGACY_BIOS, KILN_ARCH_X86_64, (UINT64_C(3) << 40), &l) == -EINVAL,
           "mbr over 2 TiB is refused");
        ok(kiln_layout_plan(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, KILN_ARCH_X86_64, 64 * MIB, &l) == -ENOSPC,
           "a disk too small for the layout is refused");
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
        char cmd[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd);
}

static void dump(struct kiln_disk *d, const char *path)
{
        FILE *f = fopen(path, "wb");
        fwrite(kiln_disk_memory_data(d), 1, d->size, f);
        fclose(f);
}

static void test_write(int kind, int mode, const char *what)
{
        struct kiln_layout l;
        struct kiln_disk *d;
        char path[] = "/tmp/kiln-test-ptable-XXXXXX";
        int fd = mkstemp(path);

        close(fd);
        kiln_layout_plan(kind, mode, KILN_ARCH_X86_64, 512 * MIB, &l);
        for (size_t i = 0; i < l.n_parts; i++)
                derive_uuid("t", 1, l.parts[i].role == KILN_PART_ROOT ? "r" : "o", l.parts[i].uuid);
        derive_uuid("t", 1, "disk", l.disk_guid);
        l.mbr_signature = 0x12345678;
        kiln_disk_new_memory(512 * MIB, &d);
        ok(kiln_ptable_write(d, &l) == 0, "%s: written", what);
        const uint8_t *m = kiln_disk_memory_data(d);
        ok(m[510] == 0x55 && m[511] == 0xaa, "%s: boot signature", what);
        dump(d, path);
        if (kind == KILN_PTABLE_GPT) {
                uint8_t h[92];
                memcpy(h, m + 512, 92);
                uint32_t crc = h[16] | h[17] << 8 | h[18] << 16 | (uint32_t)h[19] << 24;
                memset(h + 16, 0, 4);
                ok(crc == (uint32_t)crc32(0, h, 92), "%s: primary header CRC", what);
                ok(m[0x1be + 4] == 0xee, "%s: protective MBR entry", what);
                ok(run("sgdisk -v %s 2>&1 | grep -q 'No problems found'", path) == 0, "%s: sgdisk -v clean", what);
        }
        ok(run("sfdisk --verify %s >/dev/null 2>&1", path) == 0, "%s: sfdisk --verify clean", what);
        char pu[40];
        const struct kiln_part *root = kiln_layout_find(&l, KILN_PART_ROOT);
        kiln_part_uuid_string(&l, root, pu);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "sfdisk -J %s | grep -qi '\"uuid\": *\"%s\"'", path, kind == KILN_PTABLE_GPT ? pu : "");
        if (kind == KILN_PTABLE_GPT)
                ok(run("%s", cmd) == 0, "%s: sfdisk reads the root PARTUUID %s", what, pu);
        else
                ok(run("sfdisk -J %s | grep -q '\"id\": *\"0x12345678\"'", path) == 0, "%s: disk signature", what);
        /* Every write failing in turn must fail the table write. */
        unsigned fails = 0, n;
        for (n = 1; n < 16; n++) {
                struct kiln_disk *m2, *f;
                kiln_disk_new_memory(512 * MIB, &m2);
                kiln_disk_new_fault(m2, n, &f);
                int r = kiln_ptable_write(f, &l);
                kiln_disk_free(f);
                if (r == 0)
                        break;
                fails += r == -EIO;
        }
        ok(fails == n - 1 && n > 1, "%s: each of %u writes, failed, fails the write", what, n - 1);
        unlink(path);
        kiln_disk_free(d);
}

int main(void)
{
        test_type_table();
        test_plans();
        test_write(KILN_PTABLE_GPT, KILN_BOOT_UEFI_PREFERRED, "gpt uefi-preferred");
        test_write(KILN_PTABLE_GPT, KILN_BOOT_UEFI, "gpt uefi");
        test_write(KILN_PTABLE_MBR, KILN_BOOT_LEGACY_BIOS, "mbr");
        return tap_done();
}
