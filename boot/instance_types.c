/* SPDX-License-Identifier: MIT */
/*
 * A table of common EC2 instance types, with what a launch checks against
 * an image: architecture, hypervisor (Nitro types need HVM, ENA and NVMe
 * drivers; Xen types boot legacy-bios only), memory and vCPUs for QEMU, and
 * the NVMe instance-store volumes a "d" type comes with, and how many
 * network interfaces it takes.  Numbers are the ones EC2 publishes (memory in
 * MiB, instance store in GiB as kiln sizes it, "Maximum network interfaces"
 * from EC2's table of IP addresses per network interface per instance type).
 */
#include "instance_types.h"

#include <string.h>

#include "util.h"

#define X86 KILN_ARCH_X86_64
#define ARM KILN_ARCH_ARM64
#define NITRO(n, cpu, mib, arch, eni) { n, cpu, mib, arch, KILN_HV_NITRO, true, true, 0, 0, eni }
#define NITRO_D(n, cpu, mib, arch, cnt, gib, eni) { n, cpu, mib, arch, KILN_HV_NITRO, true, true, cnt, gib, eni }
#define XEN(n, cpu, mib, ena, eni) { n, cpu, mib, X86, KILN_HV_XEN, ena, false, 0, 0, eni }

/* The usual sizes of a general purpose, compute or memory family: 3
 * network interfaces at large, 4 at xlarge and 2xlarge, 8 at 4xlarge. */
#define FAMILY_M(f, arch)                                                                    \
        NITRO(f ".large", 2, 8192, arch, 3), NITRO(f ".xlarge", 4, 16384, arch, 4),          \
                NITRO(f ".2xlarge", 8, 32768, arch, 4), NITRO(f ".4xlarge", 16, 65536, arch, 8)
#define FAMILY_C(f, arch)                                                                    \
        NITRO(f ".large", 2, 4096, arch, 3), NITRO(f ".xlarge", 4, 8192, arch, 4),           \
                NITRO(f ".2xlarge", 8, 16384, arch, 4), NITRO(f ".4xlarge", 16, 32768, arch, 8)
#define FAMILY_R(f, arch)                                                                    \
        NITRO(f ".large", 2, 16384, arch, 3), NITRO(f ".xlarge", 4, 32768, arch, 4),         \
                NITRO(f ".2xlarge", 8, 65536, arch, 4), NITRO(f ".4xlarge", 16, 131072, arch, 8)
/* Burstable: 2 network interfaces at nano and micro (and t3a.small), 3 up to
 * large, 4 above. */
#define FAMILY_T(f, arch, small_eni)                                                         \
        NITRO(f ".nano", 2, 512, arch, 2), NITRO(f ".micro", 2, 1024, arch, 2),              \
                NITRO(f ".small", 2, 2048, arch, small_eni), NITRO(f ".medium", 2, 4096, arch, 3), \
                NITRO(f ".large", 2, 8192, arch, 3), NITRO(f ".xlarge", 4, 16384, arch, 4),  \
                NITRO(f ".2xlarge", 8, 32768, arch, 4)

static const struct kiln_instance_type types[] = {
        /* Xen HVM, EBS through xen-blkfront, no ENA. */
        XEN("t2.micro", 1, 1024, false, 2),
        XEN("t2.small", 1, 2048, false, 3),
        XEN("t2.medium", 2, 4096, false, 3),
        /* Xen HVM with ENA; its instance store is NVMe (1 x 475 GB). */
        { "i3.large", 2, 15616, X86, KILN_HV_XEN, true, false, 1, 442, 3 },
        FAMILY_T("t3", X86, 3),
        FAMILY_T("t3a", X86, 2),
        FAMILY_T("t4g", ARM, 3),
        FAMILY_M("m5", X86),
        FAMILY_M("m6i", X86),
        FAMILY_M("m7g", ARM),
        FAMILY_C("c5", X86),
        FAMILY_C("c6i", X86),
        FAMILY_C("c7g", ARM),
        FAMILY_R("r5", X86),
        FAMILY_R("r6i", X86),
        /* Nitro with NVMe instance store. */
        NITRO_D("m5d.large", 2, 8192, X86, 1, 75, 3),
        NITRO_D("c5d.large", 2, 4096, X86, 1, 50, 3),
        NITRO_D("i4i.large", 2, 16384, X86, 1, 468, 3),
};

static const char *const hv_names[_KILN_HV_MAX] = {
        [KILN_HV_NITRO] = "nitro",
        [KILN_HV_XEN] = "xen",
};

const struct kiln_instance_type *kiln_instance_types(size_t *ret_n)
{
        *ret_n = ARRAY_SIZE(types);
        return types;
}

const struct kiln_instance_type *kiln_instance_type_find(const char *name)
{
        if (!name)
                return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(types); i++)
                if (!strcmp(types[i].name, name))
                        return &types[i];
        return NULL;
}

const char *kiln_hypervisor_to_string(enum kiln_hypervisor h)
{
        if ((unsigned)h >= _KILN_HV_MAX)
                return NULL;
        return hv_names[h];
}

bool kiln_instance_type_boots(const struct kiln_instance_type *t, enum kiln_boot_mode m)
{
        if (t->arch == KILN_ARCH_ARM64) /* Graviton: UEFI only */
                return m != KILN_BOOT_LEGACY_BIOS;
        if (t->hypervisor == KILN_HV_XEN) /* UEFI needs a Nitro type */
                return m != KILN_BOOT_UEFI;
        return true;
}
