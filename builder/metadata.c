/* SPDX-License-Identifier: MIT */
#include "metadata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "util.h"

#define ROOT_DEVICE "/dev/xvda"
#define GIB (UINT64_C(1) << 30)

int kiln_image_name_valid(const char *name)
{
        size_t n = strlen(name);

        if (n < 3 || n > 128)
                return -EINVAL;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("()[] ./'@_-", *p)))
                        return -EINVAL;
        return 0;
}

static void ebs(struct kiln_json *j, const struct kiln_bdm *b, uint64_t min_gib)
{
        kiln_json_begin_object(j, "Ebs");
        if (b && b->snapshot_id)
                kiln_json_string(j, "SnapshotId", b->snapshot_id);
        uint64_t size = b && b->volume_size_gib ? b->volume_size_gib : 0;
        if (size || min_gib)
                kiln_json_uint(j, "VolumeSize", MAX(size, min_gib));
        kiln_json_string(j, "VolumeType",
                         b && b->volume_type >= 0 ? kiln_volume_type_to_string(b->volume_type) : "gp3");
        kiln_json_bool(j, "DeleteOnTermination", b && b->delete_on_termination >= 0 ? b->delete_on_termination : true);
        if (b && b->encrypted >= 0)
                kiln_json_bool(j, "Encrypted", b->encrypted);
        if (b && b->iops)
                kiln_json_uint(j, "Iops", b->iops);
        if (b && b->throughput)
                kiln_json_uint(j, "Throughput", b->throughput);
        kiln_json_end_object(j);
}

static bool same_device(const char *a, const char *b)
{
        if (!strncmp(a, "/dev/", 5))
                a += 5;
        if (!strncmp(b, "/dev/", 5))
                b += 5;
        return !strcmp(a, b);
}

int kiln_metadata_register_image(const struct kiln_build_opts *o, const struct kiln_build_result *r, char **ret)
{
        struct kiln_json j = { 0 };
        const struct kiln_bdm *root_bdm = NULL;
        char *out;

        for (size_t i = 0; i < o->n_bdms; i++)
                if (same_device(o->bdms[i].device_name, ROOT_DEVICE))
                        root_bdm = &o->bdms[i];
        kiln_json_begin_object(&j, NULL);
        kiln_json_string(&j, "Name", o->name);
        if (o->description)
                kiln_json_string(&j, "Description", o->description);
        kiln_json_string(&j, "Architecture", kiln_arch_to_string(o->arch));
        kiln_json_string(&j, "VirtualizationType", kiln_virt_to_string(o->virt));
        if (o->virt == KILN_VIRT_HVM)
                kiln_json_string(&j, "BootMode", kiln_boot_mode_to_string(o->boot_mode));
        kiln_json_string(&j, "RootDeviceName", ROOT_DEVICE);
        kiln_json_begin_array(&j, "BlockDeviceMappings");
        kiln_json_begin_object(&j, NULL);
        kiln_json_string(&j, "DeviceName", ROOT_DEVICE);
        ebs(&j, root_bdm, DIV_ROUND_UP(r->size, GIB));
        kiln_json_end_object(&j);
        for (size_t i = 0; i < o->n_bdms; i++) {
                const struct kiln_bdm *b = &o->bdms[i];
                if (b == root_bdm)
                        continue;
                kiln_json_begin_object(&j, NULL);
                kiln_json_string(&j, "DeviceName", b->device_name);
                if (b->no_device)
                        kiln_json_string(&j, "NoDevice", "");
                else if (b->virtual_name)
                        kiln_json_string(&j, "VirtualName", b->virtual_name);
                else
                        ebs(&j, b, 0);
                kiln_json_end_object(&j);
        }
        kiln_json_end_array(&j);
        if (o->virt == KILN_VIRT_HVM)
                kiln_json_bool(&j, "EnaSupport", o->ena_support);
        kiln_json_string(&j, "ImdsSupport", o->imds_support ? o->imds_support : "v2.0");
        kiln_json_end_object(&j);
        out = kiln_json_finish(&j);
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

static const char *role_name(enum kiln_part_role role)
{
        switch (role) {
        case KILN_PART_ROOT: return "root";
        case KILN_PART_BIOS_BOOT: return "bios-boot";
        case KILN_PART_ESP: return "esp";
        }
        return "?";
}

int kiln_metadata_kiln(const struct kiln_build_opts *o, const struct kiln_build_result *r, char **ret)
{
        struct kiln_json j = { 0 };
        char uuid[40];
        char *out;

        kiln_json_begin_object(&j, NULL);
        kiln_json_string(&j, "kiln_version", KILN_VERSION);
        if (o->reproducible)
                kiln_json_int(&j, "source_date_epoch", (int64_t)o->epoch);
        kiln_json_begin_object(&j, "image");
        kiln_json_string(&j, "format", "raw");
        kiln_json_uint(&j, "size", r->size);
        if (r->digest[0])
                kiln_json_string(&j, "sha256", r->digest);
        kiln_json_string(&j, "partition_table", kiln_ptable_to_string(o->ptable));
        kiln_json_string(&j, "boot_mode", kiln_boot_mode_to_string(o->boot_mode));
        kiln_json_end_object(&j);
        if (o->ptable != KILN_PTABLE_NONE) {
                const struct kiln_layout *l = &r->layout;
                if (o->ptable == KILN_PTABLE_GPT) {
                        format_uuid(l->disk_guid, uuid);
                        kiln_json_string(&j, "disk_guid", uuid);
                } else {
                        snprintf(uuid, sizeof(uuid), "%08x", l->mbr_signature);
                        kiln_json_string(&j, "mbr_signature", uuid);
                }
                kiln_json_begin_array(&j, "partitions");
                for (size_t i = 0; i < l->n_parts; i++) {
                        const struct kiln_part *p = &l->parts[i];
                        kiln_json_begin_object(&j, NULL);
                        kiln_json_uint(&j, "number", p->number);
                        kiln_json_string(&j, "role", role_name(p->role));
                        kiln_json_uint(&j, "start", p->start * KILN_SECTOR);
                        kiln_json_uint(&j, "size", p->size * KILN_SECTOR);
                        kiln_part_uuid_string(l, p, uuid);
                        kiln_json_string(&j, "partuuid", uuid);
                        kiln_json_end_object(&j);
                }
                kiln_json_end_array(&j);
        }
        kiln_json_begin_object(&j, "filesystem");
        kiln_json_string(&j, "type", "ext4");
        format_uuid(r->fs_uuid, uuid);
        kiln_json_string(&j, "uuid", uuid);
        if (o->label)
                kiln_json_string(&j, "label", o->label);
        kiln_json_uint(&j, "blocks", r->fs.blocks);
        kiln_json_uint(&j, "block_size", r->fs.block_size);
        kiln_json_end_object(&j);
        if (r->kernel[0]) {
                kiln_json_begin_object(&j, "kernel");
                kiln_json_string(&j, "version", r->kernel);
                kiln_json_string(&j, "cmdline", o->kernel_cmdline ? o->kernel_cmdline : "");
                kiln_json_end_object(&j);
        }
        if (r->default_user[0]) {
                /* What `kiln run --ssh` logs in as, and what people should. */
                kiln_json_begin_object(&j, "cloud_init_lite");
                kiln_json_string(&j, "default_user", r->default_user);
                kiln_json_end_object(&j);
        }
        if (r->grub_bios[0] || r->grub_efi[0]) {
                kiln_json_begin_object(&j, "grub");
                if (r->grub_bios[0])
                        kiln_json_string(&j, "bios", r->grub_bios);
                if (r->grub_efi[0])
                        kiln_json_string(&j, "efi", r->grub_efi);
                kiln_json_end_object(&j);
        }
        kiln_json_end_object(&j);
        out = kiln_json_finish(&j);
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}
