/* SPDX-License-Identifier: MIT */
/* EC2 instance types kiln run knows: a table, looked up by name. */
#ifndef KILN_INSTANCE_TYPES_H
#define KILN_INSTANCE_TYPES_H

#include <stdbool.h>
#include <stddef.h>

#include "tables.h"

enum kiln_hypervisor { KILN_HV_NITRO, KILN_HV_XEN, _KILN_HV_MAX };

struct kiln_instance_type {
        const char *name;               /* "m5d.large" */
        unsigned vcpus;
        unsigned memory_mib;
        enum kiln_arch arch;
        enum kiln_hypervisor hypervisor;
        bool ena;                       /* the image must have EnaSupport */
        bool nvme_ebs;                  /* EBS volumes appear as NVMe */
        unsigned store_count;           /* NVMe instance-store volumes ... */
        unsigned store_gib;             /* ... of this size each */
        unsigned max_enis;              /* network interfaces it takes (DeviceIndex 0..max_enis-1) */
};

#define KILN_DEFAULT_INSTANCE_TYPE "t3.micro"

/* The whole table, in a stable order. */
const struct kiln_instance_type *kiln_instance_types(size_t *ret_n);
/* NULL when the name is not in the table. */
const struct kiln_instance_type *kiln_instance_type_find(const char *name);
const char *kiln_hypervisor_to_string(enum kiln_hypervisor h);
/* Boot modes a type can start: Xen types legacy-bios only, arm64 uefi only. */
bool kiln_instance_type_boots(const struct kiln_instance_type *t, enum kiln_boot_mode m);

#endif
