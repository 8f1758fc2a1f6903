/* SPDX-License-Identifier: MIT */
/* kiln run's library: the instance type table, block device mappings,
 * network interfaces, the launch checks, QEMU's argv, and what the console
 * tells. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tap.h"
#include "instance_types.h"
#include "launch.h"
#include "util.h"

static const char demo_json[] =
        "{\"Name\": \"kiln-demo\", \"Architecture\": \"x86_64\", \"VirtualizationType\": \"hvm\",\n"
        " \"BootMode\": \"uefi-preferred\", \"RootDeviceName\": \"/dev/xvda\",\n"
        " \"BlockDeviceMappings\": [{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"VolumeSize\": 2,\n"
        "   \"VolumeType\": \"gp3\", \"DeleteOnTermination\": true}}],\n"
        " \"EnaSupport\": true, \"ImdsSupport\": \"v2.0\"}\n";
static const char demo_kjson[] = "{\"image\": {\"format\": \"raw\", \"sha256\": "
                                 "\"ca392866d090576616783a27319f54c5ea93ab4c6694d90c156b00c5d9767eb8\"}}";
static const uint8_t seed[] = "test-launch seed";

static bool streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static void test_types(void)
{
        size_t n;
        const struct kiln_instance_type *t = kiln_instance_types(&n);
        bool ok_all = n > 40;

        for (size_t i = 0; i < n; i++) {
                const struct kiln_instance_type *a = &t[i];
                bool good = a->name && a->vcpus >= 1 && a->memory_mib >= 512 && a->memory_mib % 256 == 0 &&
                            (unsigned)a->arch < _KILN_ARCH_MAX && kiln_hypervisor_to_string(a->hypervisor) &&
                            kiln_instance_type_find(a->name) == a && (a->store_count == 0) == (a->store_gib == 0) &&
                            /* Nitro: NVMe and ENA; Xen: no NVMe EBS */
                            (a->hypervisor == KILN_HV_NITRO) == a->nvme_ebs &&
                            (a->hypervisor != KILN_HV_NITRO || a->ena) &&
                            /* Graviton families end in g and are arm64 */
                            (a->arch == KILN_ARCH_ARM64) == (strchr(a->name, '.')[-1] == 'g') &&
                            /* every type takes 2 to 8 network interfaces, more with more vCPUs */
                            a->max_enis >= 2 && a->max_enis <= 8 && a->max_enis <= KILN_NIC_MAX &&
                            KILN_NIC_PCI_SLOT + a->max_enis <= 0x10;
                for (size_t j = 0; j < i; j++)
                        if (!strncmp(t[j].name, a->name, strcspn(a->name, ".")) &&
                            strcspn(t[j].name, ".") == strcspn(a->name, ".") && t[j].vcpus < a->vcpus &&
                            t[j].max_enis > a->max_enis)
                                good = false;
                for (size_t j = 0; j < i; j++)
                        good &= strcmp(t[j].name, a->name) != 0;
                if (!good)
                        tap_diag("  inconsistent entry %s", a->name);
                ok_all &= good;
        }
        ok(ok_all, "instance type table: %zu types, unique, consistent", n);
        const struct kiln_instance_type *d = kiln_instance_type_find(KILN_DEFAULT_INSTANCE_TYPE);
        ok(d && d->vcpus == 2 && d->memory_mib == 1024 && d->hypervisor == KILN_HV_NITRO, "t3.micro: 2 vCPU, 1 GiB, nitro");
        const struct kiln_instance_type *m = kiln_instance_type_find("m5d.large");
        ok(m && m->store_count == 1 && m->store_gib == 75 && m->memory_mib == 8192, "m5d.large: 1 x 75 GiB store");
        const struct kiln_instance_type *c = kiln_instance_type_find("c5d.large");
        ok(c && c->store_count == 1 && c->store_gib == 50, "c5d.large: 1 x 50 GiB store");
        const struct kiln_instance_type *t2 = kiln_instance_type_find("t2.micro");
        ok(t2 && t2->hypervisor == KILN_HV_XEN && !t2->ena && !t2->nvme_ebs && t2->vcpus == 1, "t2.micro: xen, no ENA");
        const struct kiln_instance_type *i3 = kiln_instance_type_find("i3.large");
        ok(i3 && i3->hypervisor == KILN_HV_XEN && i3->store_count == 1, "i3.large: xen with NVMe store");
        const struct kiln_instance_type *g = kiln_instance_type_find("t4g.micro");
        ok(g && g->arch == KILN_ARCH_ARM64 && !kiln_instance_type_boots(g, KILN_BOOT_LEGACY_BIOS) &&
                   kiln_instance_type_boots(g, KILN_BOOT_UEFI),
           "t4g.micro: arm64, uefi only");
        ok(t2 && !kiln_instance_type_boots(t2, KILN_BOOT_UEFI) && kiln_instance_type_boots(t2, KILN_BOOT_UEFI_PREFERRED),
           "xen types boot legacy-bios (uefi-preferred falls back)");
        ok(!kiln_instance_type_find("t3.huge") && !kiln_instance_type_find(NULL), "unknown names are not found");
        /* EC2's "Maximum network interfaces" for a few of them. */
        static const struct {
                const char *name;
                unsigned enis;
        } enis[] = {
                { "t2.micro", 2 },  { "t2.small", 3 },    { "t3.nano", 2 },     { "t3.micro", 2 },
                { "t3.small", 3 },  { "t3a.small", 2 },   { "t3.xlarge", 4 },   { "t4g.2xlarge", 4 },
                { "m5.large", 3 },  { "m5.2xlarge", 4 },  { "c6i.4xlarge", 8 }, { "r5.4xlarge", 8 },
                { "i3.large", 3 },  { "m5d.large", 3 },   { "i4i.large", 3 },
        };
        bool all = true;
        for (size_t i = 0; i < ARRAY_SIZE(enis); i++) {
                const struct kiln_instance_type *e = kiln_instance_type_find(enis[i].name);
                if (!e || e->max_enis != enis[i].enis) {
                        tap_diag("  %s: %u network interfaces, want %u", enis[i].name, e ? e->max_enis : 0, enis[i].enis);
                        all = false;
                }
        }
        ok(all, "maximum network interfaces as EC2 publishes them (%zu types checked)", ARRAY_SIZE(enis));
}

static int parse(const char *json, struct kiln_bdm_list *l)
{
        kiln_clear_error();
        return kiln_bdm_parse("--block-device-mapping", json, strlen(json), l);
}

static void test_bdm_parse(void)
{
        struct kiln_bdm_list l = { 0 };
        int r = parse("[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeSize\": 2, \"VolumeType\": \"gp3\","
                      " \"DeleteOnTermination\": false, \"SnapshotId\": \"file:/tmp/x.raw\"}},"
                      " {\"DeviceName\": \"sdb\", \"VirtualName\": \"ephemeral0\"},"
                      " {\"DeviceName\": \"/dev/sdc\", \"NoDevice\": \"\"}]",
                      &l);
        ok(r == 0 && l.n == 3, "a three-entry mapping parses");
        if (r == 0 && l.n == 3) {
                ok(streq(l.v[0].device_name, "/dev/sdf") && l.v[0].ebs && l.v[0].volume_size == 2 &&
                           streq(l.v[0].volume_type, "gp3") && l.v[0].delete_on_termination == 0 &&
                           streq(l.v[0].snapshot_id, "file:/tmp/x.raw"),
                   "Ebs fields");
                ok(streq(l.v[1].device_name, "/dev/sdb") && streq(l.v[1].virtual_name, "ephemeral0"),
                   "VirtualName; 'sdb' is /dev/sdb");
                ok(l.v[2].no_device && !l.v[2].ebs, "NoDevice");
        }
        kiln_bdm_list_free(&l);

        static const struct {
                const char *json, *msg;
        } bad[] = {
                { "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeSize\": 2}", "bad JSON at offset" },
                { "[{\"DeviceName\": \"/dev/sdf\" \"Ebs\": {}}]", "bad JSON at offset 26" },
                { "{}", "expected an array" },
                { "[1]", "[0]: expected an object" },
                { "[{\"Ebs\": {\"VolumeSize\": 1}}]", "[0]: no DeviceName" },
                { "[{\"DeviceName\": \"/dev/sdf\"}]", "want exactly one of Ebs, VirtualName, NoDevice" },
                { "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeSize\": 0}}]", "[0].Ebs.VolumeSize: expected an integer" },
                { "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeSize\": 99999}}]", "from 1 to 16384" },
                { "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeType\": \"ssd\"}}]", "unknown volume type 'ssd'" },
                { "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"Size\": 1}}]", "[0].Ebs.Size: unknown key" },
                { "[{\"DeviceName\": \"/dev/SDF\", \"Ebs\": {}}]", "bad device name '/dev/SDF'" },
                { "[{\"DeviceName\": \"/dev/sdb\", \"VirtualName\": \"swap\"}]", "expected 'ephemeralN'" },
                { "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"SnapshotId\": \"x\"}}]", "'snap-...' or 'file:PATH'" },
                { "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeSize\": 1}}, {\"DeviceName\": \"sdf\", \"NoDevice\": \"\"}]",
                  "[1]: device /dev/sdf is mapped twice" },
                { "[] x", "bad JSON at offset 2" },
                { "[{\"DeviceName\": \"/dev/sdf\",}]", "bad JSON at offset 26" },
                { "", "unexpected end of input" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                r = parse(bad[i].json, &l);
                bool good = r == -EBADMSG && strstr(kiln_last_error(), bad[i].msg) &&
                            !strncmp(kiln_last_error(), "--block-device-mapping: ", 24) && !strchr(kiln_last_error(), '\n');
                if (!good)
                        tap_diag("  got %d '%s'", r, kiln_last_error());
                ok(good, "bad mapping %zu refused: %s", i, bad[i].msg);
                kiln_bdm_list_free(&l);
        }
        char big[40 * 64 + 8] = "[";
        for (int i = 0; i < 40; i++)
                snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s{\"DeviceName\":\"sd%c%c\",\"NoDevice\":\"\"}",
                         i ? "," : "", 'b' + i / 26, 'a' + i % 26);
        strcat(big, "]");
        r = parse(big, &l);
        ok(r == -E2BIG && strstr(kiln_last_error(), "at most 32"), "more than 32 mappings: %s", kiln_last_error());
}

static int nics(const char *json, struct kiln_nic_spec_list *l)
{
        kiln_clear_error();
        return kiln_nics_parse("--network-interfaces", json, strlen(json), l);
}

static void test_nics_parse(void)
{
        struct kiln_nic_spec_list l = { 0 };
        int r = nics("[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 3, \"Description\": \"back end\", \"Ipv6AddressCount\": 1},"
                     " {\"Ipv6AddressCount\": 0, \"DeviceIndex\": 1}]",
                     &l);
        ok(r == 0 && l.n == 3, "three network interfaces parse");
        if (r == 0 && l.n == 3)
                ok(l.v[0].device_index == 0 && !l.v[0].description && l.v[0].ipv6_count == 0 &&
                           l.v[1].device_index == 3 && streq(l.v[1].description, "back end") && l.v[1].ipv6_count == 1 &&
                           l.v[2].device_index == 1,
                   "fields kept, in the given order");
        kiln_nic_spec_list_free(&l);
        r = nics("[{\"DeviceIndex\": 0, \"MacAddress\": \"0A:4B:00:07:40:01\"}]", &l);
        ok(r == 0 && l.n == 1 && streq(l.v[0].mac, "0a:4b:00:07:40:01"), "MacAddress: kept, lowercased");
        kiln_nic_spec_list_free(&l);
        ok(kiln_nics_count(4, &l) == 0 && l.n == 4 && l.v[3].device_index == 3 && l.v[0].device_index == 0,
           "--nics 4: DeviceIndex 0..3");
        kiln_nic_spec_list_free(&l);
        kiln_clear_error();
        ok(kiln_nics_count(0, &l) == -EINVAL && kiln_nics_count(17, &l) == -EINVAL &&
                   strstr(kiln_last_error(), "from 1 to 16"),
           "--nics 0 and 17 refused: %s", kiln_last_error());

        static const struct {
                const char *json, *msg;
        } bad[] = {
                { "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 1, \"SubnetId\": \"subnet-1\"}]",
                  "[1].SubnetId: unknown key (kiln run takes DeviceIndex, Description, Ipv6AddressCount, MacAddress)" },
                { "[{\"DeviceIndex\": 0, \"MacAddress\": \"0b:00:00:00:00:01\"}]",
                  "[0].MacAddress: expected a unicast MAC address" },
                { "[{\"DeviceIndex\": 0, \"MacAddress\": \"0a:00:00:00:00\"}]",
                  "[0].MacAddress: expected a unicast MAC address" },
                { "[{\"DeviceIndex\": 0, \"MacAddress\": \"0a:00:00:00:00:0g\"}]",
                  "[0].MacAddress: expected a unicast MAC address" },
                { "[{\"DeviceIndex\": 0, \"MacAddress\": 7}]", "[0].MacAddress: expected a string" },
                { "[{\"DeviceIndex\": 0, \"Groups\": []}]", "[0].Groups: unknown key" },
                { "[{\"DeviceIndex\": 1}]", "no DeviceIndex 0 (the primary network interface)" },
                { "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 0}]", "[1]: DeviceIndex 0 is given twice" },
                { "[{\"Description\": \"x\"}]", "[0]: no DeviceIndex" },
                { "[{\"DeviceIndex\": -1}]", "[0].DeviceIndex: expected an integer from 0 to 15" },
                { "[{\"DeviceIndex\": 16}]", "[0].DeviceIndex: expected an integer from 0 to 15" },
                { "[{\"DeviceIndex\": \"0\"}]", "[0].DeviceIndex: expected an integer from 0 to 15" },
                { "[{\"DeviceIndex\": 0.5}]", "[0].DeviceIndex: expected an integer" },
                { "[{\"DeviceIndex\": 0, \"Ipv6AddressCount\": 2}]",
                  "[0].Ipv6AddressCount: expected an integer from 0 to 1 (a NIC gets at most its one SLAAC address)" },
                { "[{\"DeviceIndex\": 0, \"Description\": 7}]", "[0].Description: expected a string" },
                { "[{\"DeviceIndex\": 0, \"Description\": \"a\\nb\"}]", "[0].Description: expected at most 255 printable" },
                { "[]", "no network interfaces (DeviceIndex 0 is needed)" },
                { "{\"DeviceIndex\": 0}", "expected an array of network interfaces" },
                { "[0]", "[0]: expected an object" },
                { "[{\"DeviceIndex\": 0},]", "bad JSON at offset" },
                { "", "unexpected end of input" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                r = nics(bad[i].json, &l);
                bool good = r == -EBADMSG && strstr(kiln_last_error(), bad[i].msg) &&
                            !strncmp(kiln_last_error(), "--network-interfaces: ", 22) && !strchr(kiln_last_error(), '\n');
                if (!good)
                        tap_diag("  got %d '%s'", r, kiln_last_error());
                ok(good, "bad network interfaces %zu refused: %s", i, bad[i].msg);
                kiln_nic_spec_list_free(&l);
        }
        char big[17 * 24 + 8] = "[";
        for (int i = 0; i < 17; i++)
                snprintf(big + strlen(big), sizeof(big) - strlen(big), "%s{\"DeviceIndex\":%d}", i ? "," : "", i);
        strcat(big, "]");
        r = nics(big, &l);
        ok(r == -E2BIG && strstr(kiln_last_error(), "17 network interfaces, at most 16"), "17 entries: %s",
           kiln_last_error());
        char desc[300] = "[{\"DeviceIndex\": 0, \"Description\": \"";
        memset(desc + strlen(desc), 'd', 256);
        strcat(desc, "\"}]");
        r = nics(desc, &l);
        ok(r == -EBADMSG && strstr(kiln_last_error(), "at most 255"), "a 256-character Description: %s", kiln_last_error());
}

static int image(const char *json, uint64_t size, struct kiln_image *img)
{
        kiln_clear_error();
        return kiln_image_parse("out/demo.raw", json, strlen(json), demo_kjson, strlen(demo_kjson), size, img);
}

static int plan_nics(const struct kiln_image *img, const char *type, const char *mode, const char *bdm,
                     const char *nics_json, struct kiln_launch *l)
{
        struct kiln_bdm_list list = { 0 };
        struct kiln_nic_spec_list nl = { 0 };
        int r = 0;

        if (bdm && (r = parse(bdm, &list)) < 0)
                return r;
        if (nics_json && (r = nics(nics_json, &nl)) < 0) {
                kiln_bdm_list_free(&list);
                return r;
        }
        struct kiln_launch_req req = { .instance_type = type, .boot_mode = mode, .bdm = bdm ? &list : NULL,
                                       .nics = nics_json ? &nl : NULL, .seed = seed, .seed_len = sizeof(seed) };
        kiln_clear_error();
        r = kiln_launch_plan(img, &req, l);
        kiln_bdm_list_free(&list);
        kiln_nic_spec_list_free(&nl);
        return r;
}

static int plan(const struct kiln_image *img, const char *type, const char *mode, const char *bdm,
                struct kiln_launch *l)
{
        return plan_nics(img, type, mode, bdm, NULL, l);
}

static char *replace(const char *s, const char *from, const char *to)
{
        const char *p = strstr(s, from);
        char *out;
        if (!p || asprintf(&out, "%.*s%s%s", (int)(p - s), s, to, p + strlen(from)) < 0)
                abort();
        return out;
}

static void test_image(void)
{
        struct kiln_image img = { 0 };
        int r = image(demo_json, 246415360, &img);

        ok(r == 0, "the demo's metadata parses");
        ok(img.arch == KILN_ARCH_X86_64 && img.virt == KILN_VIRT_HVM && img.boot_mode == KILN_BOOT_UEFI_PREFERRED &&
                   streq(img.root_device, "/dev/xvda") && img.bdm.n == 1 && img.ena_support &&
                   streq(img.imds_support, "v2.0") && !strcmp(img.sha256 + 60, "7eb8"),
           "fields: arch, virt, boot mode, root device, mappings, ENA, IMDS, digest");
        kiln_image_free(&img);

        r = image("{\"Architecture\": \"x86_64\"", 1, &img);
        ok(r == -EBADMSG && strstr(kiln_last_error(), "out/demo.raw.json: bad JSON at offset"), "%s", kiln_last_error());
        r = image("{\"Architecture\": \"sparc\", \"RootDeviceName\": \"/dev/xvda\", \"BlockDeviceMappings\": []}", 1, &img);
        ok(r == -EBADMSG && strstr(kiln_last_error(), "bad Architecture 'sparc'"), "%s", kiln_last_error());
        r = image("{\"Architecture\": \"x86_64\", \"BlockDeviceMappings\": []}", 1, &img);
        ok(r == -EBADMSG && strstr(kiln_last_error(), "no RootDeviceName"), "%s", kiln_last_error());
        kiln_clear_error();
        r = kiln_image_parse("x.vmdk", demo_json, strlen(demo_json), "{\"image\": {\"format\": \"vmdk\"}}", 30, 1, &img);
        ok(r == -EOPNOTSUPP && strstr(kiln_last_error(), "image 'x.vmdk' is vmdk"), "%s", kiln_last_error());
}

static void test_plan(void)
{
        struct kiln_image img = { 0 };
        struct kiln_launch l = { 0 };
        int r;

        if (image(demo_json, 246415360, &img) < 0)
                return;
        r = plan(&img, NULL, NULL, NULL, &l);
        ok(r == 0 && streq(l.type->name, "t3.micro") && l.firmware == KILN_BOOT_UEFI && l.n_vols == 1,
           "default: t3.micro, uefi-preferred runs UEFI, one volume");
        ok(r == 0 && l.vols[0].kind == KILN_VOL_ROOT && l.vols[0].size_gib == 2 && streq(l.vols[0].source, "out/demo.raw") &&
                   l.vols[0].delete_on_termination && streq(l.vols[0].imds_name, "root"),
           "root: the image's 2 GiB, over the image, deleted on termination");
        ok(r == 0 && !strncmp(l.instance_id, "i-", 2) && strlen(l.instance_id) == 19 &&
                   strspn(l.instance_id + 2, "0123456789abcdef") == 17,
           "instance id i- + 17 hex: %s", l.instance_id);
        ok(r == 0 && !strncmp(l.vols[0].serial, "vol", 3) && strlen(l.vols[0].serial) == 20 &&
                   !strcmp(l.vols[0].serial + 3, l.vols[0].id + 4) && !strncmp(l.vols[0].id, "vol-", 4),
           "root serial vol + the volume id's 17 hex: %s", l.vols[0].serial);
        ok(r == 0 && !strncmp(l.uuid, "ec2", 3) && l.n_nics == 1 && !strncmp(l.nics[0].mac, "0a:", 3) && !strncmp(l.ami_id, "ami-", 4) &&
                   !l.imds_v1,
           "uuid ec2..., MAC 0a:..., ami id, IMDSv2 only");
        struct kiln_launch l2 = { 0 };
        ok(plan(&img, NULL, NULL, NULL, &l2) == 0 && !strcmp(l.instance_id, l2.instance_id), "same seed, same identities");
        kiln_launch_free(&l2);
        kiln_launch_free(&l);

        /* EBS + instance store, the root grown, order as on EC2's bus. */
        r = plan(&img, "m5d.large", "legacy-bios",
                 "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeSize\": 2, \"DeleteOnTermination\": false}},"
                 " {\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"VolumeSize\": 8}},"
                 " {\"DeviceName\": \"/dev/sdg\", \"Ebs\": {\"SnapshotId\": \"file:data.raw\"}}]",
                 &l);
        ok(r == 0 && l.n_vols == 4 && l.firmware == KILN_BOOT_LEGACY_BIOS, "m5d.large with two EBS: 4 volumes, SeaBIOS");
        if (r == 0 && l.n_vols == 4) {
                ok(l.vols[0].kind == KILN_VOL_ROOT && l.vols[0].size_gib == 8 && streq(l.vols[0].volume_type, "gp3"),
                   "root grown to 8 GiB, keeps the image's gp3");
                ok(l.vols[1].kind == KILN_VOL_EBS && l.vols[1].size_gib == 2 && !l.vols[1].delete_on_termination &&
                           streq(l.vols[1].imds_name, "ebs1") && !l.vols[1].source,
                   "/dev/sdf: empty 2 GiB, kept");
                ok(l.vols[2].kind == KILN_VOL_EBS && streq(l.vols[2].source, "data.raw") && l.vols[2].size_gib == 0 &&
                           streq(l.vols[2].imds_name, "ebs2"),
                   "/dev/sdg: from a raw file, sized from it");
                ok(l.vols[3].kind == KILN_VOL_STORE && l.vols[3].size_gib == 75 && !strncmp(l.vols[3].serial, "AWS", 3) &&
                           strspn(l.vols[3].serial + 3, "0123456789ABCDEF") == 17 && streq(l.vols[3].device_name, "/dev/sdb") &&
                           streq(l.vols[3].imds_name, "ephemeral0"),
                   "instance store last: 75 GiB, serial AWS + 17 HEX: %s", l.vols[3].serial);
                ok(strcmp(l.vols[1].serial, l.vols[2].serial) && strcmp(l.vols[0].serial, l.vols[1].serial),
                   "serials differ");

                ok(kiln_launch_paths(&l, "/tmp/kiln-run.abc", "/keep") == 0 &&
                           !strncmp(l.vols[0].path, "/tmp/kiln-run.abc/vol-", 22) &&
                           !strncmp(l.vols[1].path, "/keep/vol-", 10) && strstr(l.vols[3].path, ".raw"),
                   "paths: deleted volumes in the run folder, kept ones in the volume folder");
                char **argv = NULL;
                struct kiln_qemu_env env = { .run_dir = "/tmp/kiln-run.abc", .kiln = "/tmp/kiln-run.abc/kiln",
                                             .imds_dir = "/tmp/kiln-run.abc/imds", .ssh_port = 2222,
                                             .monitor = "/tmp/kiln-run.abc/monitor.sock" };
                r = kiln_launch_qemu_argv(&l, &env, &argv);
                ok(r == 0, "argv for m5d.large");
                char all[8192] = "";
                for (char **p = argv; r == 0 && *p; p++)
                        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s|", *p);
                ok(strstr(all, "|-smp|2|-m|8192|") && strstr(all, "|-machine|q35|") && !strstr(all, "pflash"),
                   "2 vCPU, 8 GiB, q35, SeaBIOS (no pflash)");
                char want[256];
                snprintf(want, sizeof(want), "|nvme,drive=vol0,serial=%s,addr=0x10,bootindex=0|", l.vols[0].serial);
                const char *p0 = strstr(all, want);
                size_t w0 = strlen(want);
                snprintf(want, sizeof(want), "|nvme,drive=vol3,serial=%s,addr=0x13|", l.vols[3].serial);
                const char *p3 = strstr(all, want);
                ok(p0 && p3 && p0 < p3 && !strstr(p0 + w0, "bootindex"),
                   "root NVMe first and the one to boot (bootindex 0: a seed or EBS volume never is), instance store last");
                ok(strstr(all, ",hostfwd=tcp:127.0.0.1:2222-:22,guestfwd=tcp:169.254.169.254:80-cmd:/tmp/kiln-run.abc/kiln imds serve /tmp/kiln-run.abc/imds|") &&
                           strstr(all, "|user,id=n0,restrict=on,net=169.254.0.0/16,host=169.254.0.1,dhcpstart=169.254.0.15,"
                                       "hostname=ip-169-254-0-15,ipv4=on,ipv6=off,hostfwd="),
                   "user network on link-local space, restricted, no IPv6, SSH forwarded, IMDS by guestfwd");
                snprintf(want, sizeof(want), "|virtio-net-pci,netdev=n0,mac=%s,addr=0x3|", l.nics[0].mac);
                ok(strstr(all, want) && !strstr(all, "netdev=n1"), "one NIC at slot 3, as before");
                snprintf(want, sizeof(want), "|type=2,manufacturer=Amazon EC2,asset=%s|", l.instance_id);
                ok(strstr(all, want) && strstr(all, "|type=1,manufacturer=Amazon EC2,product=m5d.large,uuid=ec2"),
                   "SMBIOS: board asset tag is the instance id, product the type");
                ok(strstr(all, "|-monitor|unix:/tmp/kiln-run.abc/monitor.sock,server=on,wait=off|") &&
                           strstr(all, "|-accel|tcg|"),
                   "monitor socket, TCG");
                kiln_argv_free(argv);

                env.kiln = "/tmp/my dir/kiln";
                r = kiln_launch_qemu_argv(&l, &env, &argv);
                ok(r == -EINVAL && strstr(kiln_last_error(), "not a safe shell command"), "an unsafe kiln path is refused");
        }
        kiln_launch_free(&l);

        /* UEFI: OVMF code read-only, a private variable store; commas doubled. */
        r = plan(&img, "c5.large", "uefi", NULL, &l);
        if (r == 0) {
                char **argv = NULL;
                kiln_launch_paths(&l, "/tmp/r,1", NULL);
                struct kiln_qemu_env env = { .kiln = "/k", .imds_dir = "/i", .ovmf_vars = "/tmp/r,1/VARS.fd",
                                             .ssh_port = 1, .kvm = true };
                ok(kiln_launch_qemu_argv(&l, &env, &argv) == 0, "argv for c5.large, uefi");
                char all[8192] = "";
                for (char **p = argv; argv && *p; p++)
                        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s|", *p);
                ok(strstr(all, "|if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd|") &&
                           strstr(all, "|if=pflash,format=raw,unit=1,file=/tmp/r,,1/VARS.fd|") &&
                           strstr(all, "|file=/tmp/r,,1/vol-") && strstr(all, "|-accel|kvm|-cpu|host|") &&
                           strstr(all, "|-m|4096|"),
                   "OVMF code + private vars, commas doubled in paths, KVM");
                kiln_argv_free(argv);
        }
        kiln_launch_free(&l);

        /* Xen: EBS through virtio-blk, legacy BIOS for uefi-preferred. */
        char *noena = replace(demo_json, "\"EnaSupport\": true", "\"EnaSupport\": false");
        struct kiln_image img2 = { 0 };
        if (image(noena, 1 << 20, &img2) == 0 && plan(&img2, "t2.micro", NULL, NULL, &l) == 0) {
                char **argv = NULL;
                kiln_launch_paths(&l, "/r", NULL);
                struct kiln_qemu_env env = { .kiln = "/k", .imds_dir = "/i", .ssh_port = 1 };
                ok(l.firmware == KILN_BOOT_LEGACY_BIOS && kiln_launch_qemu_argv(&l, &env, &argv) == 0 && argv,
                   "t2.micro: legacy BIOS");
                bool virtio = false;
                for (char **p = argv; argv && *p; p++)
                        virtio |= !strncmp(*p, "virtio-blk-pci,drive=vol0,serial=vol", 36);
                ok(virtio, "t2.micro: the root on virtio-blk (no NVMe on Xen)");
                kiln_argv_free(argv);
        } else {
                ok(0, "t2.micro plan: %s", kiln_last_error());
                ok(0, "t2.micro argv");
        }
        kiln_launch_free(&l);
        kiln_image_free(&img2);

        /* Refusals, each before anything starts, one line. */
        static const struct {
                const char *from, *to; /* edit of the image metadata, or NULL */
                const char *type, *mode, *bdm, *msg;
        } bad[] = {
                { "x86_64", "arm64", NULL, NULL, NULL, "image 'demo.raw' is arm64 but instance type t3.micro is x86_64" },
                { NULL, NULL, "m6i.large", NULL, NULL, NULL },
                { "x86_64", "arm64", "t4g.micro", NULL, NULL, "instance type t4g.micro is arm64: kiln run starts x86_64 instances only" },
                { NULL, NULL, "t9.tiny", NULL, NULL, "unknown instance type 't9.tiny'" },
                { "\"hvm\"", "\"paravirtual\"", NULL, NULL, NULL, "image 'demo.raw' is paravirtual but instance type t3.micro (nitro) runs hvm images only" },
                { "\"hvm\"", "\"paravirtual\"", "t2.micro", NULL, NULL, "QEMU cannot boot Xen PV images" },
                { "\"EnaSupport\": true", "\"EnaSupport\": false", NULL, NULL, NULL,
                  "instance type t3.micro requires ENA but image 'demo.raw' has EnaSupport false" },
                { "uefi-preferred", "uefi", NULL, "legacy-bios", NULL, "image 'demo.raw' boots uefi only; --boot-mode legacy-bios cannot start it" },
                { "uefi-preferred", "legacy-bios", NULL, "uefi", NULL, "image 'demo.raw' boots legacy-bios only; --boot-mode uefi cannot start it" },
                { "uefi-preferred", "uefi", "t2.micro", NULL, NULL, "instance type t2.micro (xen) cannot boot uefi" },
                { NULL, NULL, NULL, "bios", NULL, "unknown boot mode 'bios'" },
                { NULL, NULL, NULL, NULL, "[{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"VolumeSize\": 1}}]",
                  "root volume /dev/xvda of 1 GiB is smaller than image 'demo.raw' (2 GiB)" },
                { NULL, NULL, NULL, NULL, "[{\"DeviceName\": \"/dev/xvda\", \"NoDevice\": \"\"}]", "the root device /dev/xvda cannot be removed" },
                { NULL, NULL, NULL, NULL, "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"SnapshotId\": \"snap-0123\"}}]",
                  "snapshot 'snap-0123' is not available locally" },
                { NULL, NULL, NULL, NULL, "[{\"DeviceName\": \"/dev/sdf\", \"Ebs\": {\"VolumeType\": \"gp3\"}}]", "Ebs needs a VolumeSize" },
                { "\"RootDeviceName\": \"/dev/xvda\"", "\"RootDeviceName\": \"/dev/sda1\"", NULL, NULL, NULL,
                  "has no EBS mapping for its root device /dev/sda1" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                char *json = bad[i].from ? replace(demo_json, bad[i].from, bad[i].to) : strdup(demo_json);
                struct kiln_image im = { 0 };
                r = image(json, 246415360, &im);
                if (r == 0)
                        r = plan(&im, bad[i].type, bad[i].mode, bad[i].bdm, &l);
                if (!bad[i].msg) {
                        ok(r == 0, "m6i.large takes the demo image");
                } else {
                        bool good = r < 0 && strstr(kiln_last_error(), bad[i].msg) && !strchr(kiln_last_error(), '\n');
                        if (!good)
                                tap_diag("  got %d '%s'", r, kiln_last_error());
                        ok(good, "refused: %s", bad[i].msg);
                }
                if (r == 0)
                        kiln_launch_free(&l);
                kiln_image_free(&im);
                free(json);
        }
        /* An image larger than its mapping's size cannot fit its root. */
        struct kiln_image big = { 0 };
        if (image(demo_json, (uint64_t)5 << 30, &big) == 0) {
                r = plan(&big, NULL, NULL, "[{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"VolumeSize\": 4}}]", &l);
                ok(r == -EINVAL && strstr(kiln_last_error(), "of 4 GiB is smaller than image 'demo.raw' (5 GiB)"), "%s",
                   kiln_last_error());
                if (r == 0)
                        kiln_launch_free(&l);
        }
        kiln_image_free(&big);
        /* NoDevice removes an image's mapping; ephemeral mappings beyond the type's store are ignored. */
        char *two = replace(demo_json, "\"DeleteOnTermination\": true}}]",
                            "\"DeleteOnTermination\": true}}, {\"DeviceName\": \"/dev/sdh\", \"Ebs\": {\"VolumeSize\": 1}},"
                            " {\"DeviceName\": \"/dev/sdb\", \"VirtualName\": \"ephemeral0\"}]");
        struct kiln_image im2 = { 0 };
        if (image(two, 1 << 20, &im2) == 0) {
                r = plan(&im2, NULL, NULL, NULL, &l);
                ok(r == 0 && l.n_vols == 2 && streq(l.vols[1].device_name, "/dev/sdh"), "the image's EBS mapping is used; ephemeral0 ignored on t3.micro");
                if (r == 0)
                        kiln_launch_free(&l);
                r = plan(&im2, NULL, NULL, "[{\"DeviceName\": \"/dev/sdh\", \"NoDevice\": \"\"}]", &l);
                ok(r == 0 && l.n_vols == 1, "NoDevice removes it");
                if (r == 0)
                        kiln_launch_free(&l);
                r = plan(&im2, "c5d.large", NULL, "[{\"DeviceName\": \"/dev/sdh\", \"Ebs\": {\"VolumeSize\": 3}}]", &l);
                ok(r == 0 && l.n_vols == 3 && l.vols[1].size_gib == 3 && l.vols[2].kind == KILN_VOL_STORE &&
                           l.vols[2].size_gib == 50 && streq(l.vols[2].device_name, "/dev/sdb"),
                   "a launch mapping overrides the image's size; c5d's store takes ephemeral0's device");
                if (r == 0)
                        kiln_launch_free(&l);
        }
        kiln_image_free(&im2);
        free(two);
        free(noena);
        kiln_image_free(&img);
        ok(kiln_path_is_shell_safe("/tmp/kiln-run.AbC123/imds") && !kiln_path_is_shell_safe("/tmp/a b") &&
                   !kiln_path_is_shell_safe("/tmp/a;b") && !kiln_path_is_shell_safe("/tmp/a,b") && !kiln_path_is_shell_safe(""),
           "shell-safe paths");
}

/* Every "addr=0xN" in an argv joined with '|': all distinct. */
static bool slots_distinct(const char *all)
{
        unsigned seen[64] = { 0 };
        for (const char *p = all; (p = strstr(p, ",addr=0x")); p++) {
                unsigned v = (unsigned)strtoul(p + 8, NULL, 16);
                if (v >= 64 || seen[v]++)
                        return false;
        }
        return true;
}

static void test_nics_plan(void)
{
        struct kiln_image img = { 0 };
        struct kiln_launch l = { 0 }, one = { 0 };
        int r;

        if (image(demo_json, 246415360, &img) < 0)
                return;
        r = plan_nics(&img, "t3.small", NULL, NULL,
                      "[{\"DeviceIndex\": 2, \"Description\": \"third\"}, {\"DeviceIndex\": 0},"
                      " {\"DeviceIndex\": 1, \"Ipv6AddressCount\": 1}]",
                      &l);
        ok(r == 0 && l.n_nics == 3, "t3.small takes three NICs: %s", kiln_last_error());
        if (r != 0 || l.n_nics != 3)
                goto out;
        ok(l.nics[0].device_index == 0 && l.nics[1].device_index == 1 && l.nics[2].device_index == 2 &&
                   streq(l.nics[2].description, "third") && !l.nics[0].description,
           "the plan holds them by DeviceIndex");
        bool macs = true;
        for (size_t i = 0; i < 3; i++) {
                unsigned b0 = 0;
                macs &= strlen(l.nics[i].mac) == 17 && sscanf(l.nics[i].mac, "%x:", &b0) == 1 && (b0 & 2) && !(b0 & 1);
                for (size_t j = 0; j < i; j++)
                        macs &= strcmp(l.nics[i].mac, l.nics[j].mac) != 0;
        }
        ok(macs, "MACs: locally administered, unicast, distinct (%s %s %s)", l.nics[0].mac, l.nics[1].mac,
           l.nics[2].mac);
        ok(plan(&img, NULL, NULL, NULL, &one) == 0 && streq(one.nics[0].mac, l.nics[0].mac) && one.n_nics == 1,
           "DeviceIndex 0 keeps the MAC a single NIC has");
        kiln_launch_free(&one);
        ok(streq(l.nics[0].net, "169.254.0.0/16") && streq(l.nics[0].host, "169.254.0.1") &&
                   streq(l.nics[0].ipv4, "169.254.0.15") && streq(l.nics[0].hostname, "ip-169-254-0-15.ec2.internal"),
           "NIC 0: 169.254.0.15 in 169.254.0.0/16, as before");
        ok(streq(l.nics[1].net, "100.64.16.0/20") && streq(l.nics[1].host, "100.64.16.1") &&
                   streq(l.nics[1].ipv4, "100.64.16.15") && streq(l.nics[2].net, "100.64.32.0/20") &&
                   streq(l.nics[2].ipv4, "100.64.32.15") && streq(l.nics[2].hostname, "ip-100-64-32-15.ec2.internal"),
           "NIC k: 100.64.16k.15 in 100.64.16k.0/20");
        /* The SLAAC address: the prefix, then the MAC's EUI-64, computed here on its own. */
        unsigned m[6];
        char want6[64];
        sscanf(l.nics[1].mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]);
        snprintf(want6, sizeof(want6), "fd00:ec2:0:1:%x:%x:%x:%x", (m[0] ^ 2) << 8 | m[1], m[2] << 8 | 0xff,
                 0xfe << 8 | m[3], m[4] << 8 | m[5]);
        struct in6_addr a, b;
        ok(streq(l.nics[1].ipv6_net, "fd00:ec2:0:1::/64") && inet_pton(AF_INET6, want6, &a) == 1 &&
                   inet_pton(AF_INET6, l.nics[1].ipv6, &b) == 1 && !memcmp(&a, &b, sizeof(a)),
           "NIC 1: IPv6 %s in %s (EUI-64 of %s)", l.nics[1].ipv6, l.nics[1].ipv6_net, l.nics[1].mac);
        ok(!l.nics[0].ipv6[0] && !l.nics[2].ipv6[0] && !l.nics[2].ipv6_net[0], "no IPv6 without Ipv6AddressCount");
        ok(!strncmp(l.nics[1].interface_id, "eni-", 4) && strlen(l.nics[1].interface_id) == 21 &&
                   strspn(l.nics[1].interface_id + 4, "0123456789abcdef") == 17 &&
                   strcmp(l.nics[0].interface_id, l.nics[1].interface_id) && !strncmp(l.nics[2].subnet_id, "subnet-", 7) &&
                   strlen(l.nics[2].subnet_id) == 24 && strcmp(l.nics[1].subnet_id, l.nics[2].subnet_id) &&
                   !strncmp(l.vpc_id, "vpc-", 4) && strlen(l.vpc_id) == 21 && !strncmp(l.security_group_id, "sg-", 3) &&
                   strlen(l.security_group_id) == 20,
           "identities: eni-, subnet-, vpc-, sg- and 17 hex digits");

        char **argv = NULL;
        kiln_launch_paths(&l, "/r", NULL);
        struct kiln_qemu_env env = { .kiln = "/r/kiln", .imds_dir = "/r/imds", .ovmf_vars = "/r/VARS.fd", .ssh_port = 2222 };
        r = kiln_launch_qemu_argv(&l, &env, &argv);
        char all[16384] = "", want[512];
        for (char **p = argv; r == 0 && *p; p++)
                snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s|", *p);
        ok(r == 0, "argv with three NICs");
        ok(strstr(all, "|user,id=n1,restrict=on,net=100.64.16.0/20,host=100.64.16.1,dhcpstart=100.64.16.15,"
                       "hostname=ip-100-64-16-15,ipv4=on,ipv6=on,ipv6-net=fd00:ec2:0:1::/64|") &&
                   strstr(all, "|user,id=n2,restrict=on,net=100.64.32.0/20,host=100.64.32.1,dhcpstart=100.64.32.15,"
                               "hostname=ip-100-64-32-15,ipv4=on,ipv6=off|") &&
                   strstr(all, "|user,id=n0,restrict=on,") && !strstr(all, "restrict=off"),
           "a restricted user network per NIC, NIC 1 with its IPv6 prefix, no forwards but NIC 0's");
        const char *d[3];
        for (unsigned k = 0; k < 3; k++) {
                snprintf(want, sizeof(want), "|virtio-net-pci,netdev=n%u,mac=%s,addr=0x%x%s|", k, l.nics[k].mac, 3 + k,
                         k ? ",romfile=" : "");
                d[k] = strstr(all, want);
        }
        ok(d[0] && d[1] && d[2] && d[0] < d[1] && d[1] < d[2], "virtio-net-pci at slots 3, 4, 5, in DeviceIndex order");
        ok(slots_distinct(all) && strstr(all, ",addr=0x10,bootindex=0|"), "no PCI slot used twice (the root disk at 0x10)");
        kiln_argv_free(argv);
        kiln_launch_free(&l);

        /* A gap: DeviceIndex 0 and 2 keep their slots (3 and 5), so eth0, eth1 follow DeviceIndex. */
        r = plan_nics(&img, "m5d.large", NULL, NULL, "[{\"DeviceIndex\": 2}, {\"DeviceIndex\": 0}]", &l);
        if (r == 0) {
                kiln_launch_paths(&l, "/r", NULL);
                r = kiln_launch_qemu_argv(&l, &env, &argv);
                all[0] = 0;
                for (char **p = argv; r == 0 && *p; p++)
                        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s|", *p);
                ok(r == 0 && l.n_nics == 2 && strstr(all, ",addr=0x5,romfile=|") && strstr(all, "id=n2,") &&
                           streq(l.nics[1].ipv4, "100.64.32.15") && slots_distinct(all),
                   "DeviceIndex 0 and 2: slots 3 and 5, 100.64.32.15; the instance store's slot apart");
                kiln_argv_free(argv);
                kiln_launch_free(&l);
        } else {
                ok(0, "m5d.large with DeviceIndex 0 and 2: %s", kiln_last_error());
        }

        /* A given MAC is the NIC's, in the argv too; two NICs cannot share one. */
        r = plan_nics(&img, "m5d.large", NULL, NULL,
                      "[{\"DeviceIndex\": 0, \"MacAddress\": \"0a:4b:00:07:40:01\"}, {\"DeviceIndex\": 1}]", &l);
        if (r == 0) {
                kiln_launch_paths(&l, "/r", NULL);
                r = kiln_launch_qemu_argv(&l, &env, &argv);
                all[0] = 0;
                for (char **p = argv; r == 0 && *p; p++)
                        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s|", *p);
                ok(r == 0 && streq(l.nics[0].mac, "0a:4b:00:07:40:01") && strstr(all, "mac=0a:4b:00:07:40:01,") &&
                           strcmp(l.nics[1].mac, l.nics[0].mac),
                   "MacAddress: the primary's MAC as given, the other derived");
                kiln_argv_free(argv);
                kiln_launch_free(&l);
        } else {
                ok(0, "MacAddress: %s", kiln_last_error());
        }

        /* The instance type's limit. */
        static const struct {
                const char *type, *json, *msg;
        } bad[] = {
                { "m5d.large", "[{\"DeviceIndex\": 0, \"MacAddress\": \"0a:00:00:00:00:01\"}, "
                               "{\"DeviceIndex\": 1, \"MacAddress\": \"0A:00:00:00:00:01\"}]",
                  "network interface DeviceIndex 1: MacAddress 0a:00:00:00:00:01 is another interface's" },
                { "t3.micro", "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 2}]",
                  "network interface DeviceIndex 2: instance type t3.micro takes 2 network interfaces (DeviceIndex 0 to 1)" },
                { "t2.micro", "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 1}, {\"DeviceIndex\": 2}]",
                  "instance type t2.micro takes 2 network interfaces" },
                { "m5.4xlarge", "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 8}]", "m5.4xlarge takes 8 network interfaces (DeviceIndex 0 to 7)" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                r = plan_nics(&img, bad[i].type, NULL, NULL, bad[i].json, &l);
                bool good = r == -EINVAL && strstr(kiln_last_error(), bad[i].msg);
                if (!good)
                        tap_diag("  got %d '%s'", r, kiln_last_error());
                ok(good, "refused: %s", bad[i].msg);
                if (r == 0)
                        kiln_launch_free(&l);
        }
        r = plan_nics(&img, "m5.4xlarge", NULL, NULL,
                      "[{\"DeviceIndex\": 0}, {\"DeviceIndex\": 1}, {\"DeviceIndex\": 2}, {\"DeviceIndex\": 3},"
                      " {\"DeviceIndex\": 4}, {\"DeviceIndex\": 5}, {\"DeviceIndex\": 6}, {\"DeviceIndex\": 7}]",
                      &l);
        ok(r == 0 && l.n_nics == 8 && streq(l.nics[7].net, "100.64.112.0/20"), "m5.4xlarge: eight NICs, the last in 100.64.112.0/20");
        if (r == 0) {
                kiln_launch_paths(&l, "/r", NULL);
                r = kiln_launch_qemu_argv(&l, &env, &argv);
                all[0] = 0;
                for (char **p = argv; r == 0 && *p; p++)
                        snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s|", *p);
                ok(r == 0 && strstr(all, "netdev=n7,") && strstr(all, ",addr=0xa,") && slots_distinct(all),
                   "... at slots 3 to 0xa, below the disks");
                kiln_argv_free(argv);
                kiln_launch_free(&l);
        }
out:
        kiln_launch_free(&l);
        kiln_image_free(&img);
}

static void feed(struct kiln_console *c, const char *text, int64_t t)
{
        while (*text) {
                size_t n = strcspn(text, "\n");
                kiln_console_line(c, text, n, t);
                text += n + (text[n] == '\n');
        }
}

static void test_console(void)
{
        struct kiln_console c;
        char *kh = NULL;

        kiln_console_init(&c);
        feed(&c, "SeaBIOS (version 1.16)\r\n", 100);
        feed(&c, "[    0.000000] Linux version 6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org)\r\n", 2000);
        feed(&c, "kiln-init 0.1.0 starting\r\ntask modules: ok in 2 ms (0 loaded)\r\ntask root: ok in 108 ms (/dev/nvme0n1p1)\n", 5000);
        feed(&c, "task growpart: FAILED after 39 ms: no space\n", 5100);
        feed(&c, "<14>Nov 26 18:00:00 ec2: \n<14>Nov 26 18:00:00 ec2: #############################################################\n"
                 "<14>Nov 26 18:00:00 ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
                 "<14>Nov 26 18:00:00 ec2: 256 SHA256:BTL//QgHar4dzKkoqQhm25F4QxdFY48ZJdx3rxH1cjY test (ED25519)\n"
                 "<14>Nov 26 18:00:00 ec2: -----END SSH HOST KEY FINGERPRINTS-----\n"
                 "-----BEGIN SSH HOST KEY KEYS-----\n"
                 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4h5TWN6DBaqUU+OyP2VN1uAkWgMl1MwqPsOgaZ5MYT test\r\n"
                 "-----END SSH HOST KEY KEYS-----\n",
             5200);
        ok(c.ready_ms < 0 && c.keys_done, "no marker yet; the key block is complete");
        feed(&c, "kiln-init: first boot finished in 330 ms\r\nkiln-init: boot finished in 1 ms\n", 5300);
        ok(c.linux_ms == 2000 && c.init_ms == 5000 && c.ready_ms == 5300 && c.first_boot && c.init_total_ms == 330,
           "timings: Linux version, kiln-init starting, first boot finished");
        ok(c.n_tasks == 3 && !strcmp(c.tasks[0].name, "modules") && c.tasks[1].ms == 108 && c.tasks[1].ok &&
                   !strcmp(c.tasks[2].name, "growpart") && !c.tasks[2].ok && c.tasks[2].ms == 39,
           "tasks, a failed one included");
        ok(kiln_console_known_hosts(&c, "[127.0.0.1]:2222", &kh) == 0 && kh &&
                   !strcmp(kh, "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4h5TWN6DBaqUU+OyP2VN1uAkWgMl1MwqPsOgaZ5MYT\n"),
           "known_hosts from the key block, checked against the logger-prefixed fingerprints");
        free(kh);
        kiln_console_free(&c);

        /* A key whose fingerprint the console did not print is refused. */
        kiln_console_init(&c);
        feed(&c, "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA x (ED25519)\n"
                 "-----END SSH HOST KEY FINGERPRINTS-----\n-----BEGIN SSH HOST KEY KEYS-----\n"
                 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4h5TWN6DBaqUU+OyP2VN1uAkWgMl1MwqPsOgaZ5MYT test\n"
                 "-----END SSH HOST KEY KEYS-----\n",
             1);
        kiln_clear_error();
        ok(kiln_console_known_hosts(&c, "h", &kh) == -EBADMSG && strstr(kiln_last_error(), "is not among the console's fingerprints"),
           "%s", kiln_last_error());
        kiln_console_free(&c);
        /* A key whose blob names another type is malformed. */
        kiln_console_init(&c);
        feed(&c, "-----BEGIN SSH HOST KEY FINGERPRINTS-----\n256 SHA256:BTL//QgHar4dzKkoqQhm25F4QxdFY48ZJdx3rxH1cjY x\n"
                 "-----END SSH HOST KEY FINGERPRINTS-----\n-----BEGIN SSH HOST KEY KEYS-----\n"
                 "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIO4h5TWN6DBaqUU+OyP2VN1uAkWgMl1MwqPsOgaZ5MYT test\n"
                 "-----END SSH HOST KEY KEYS-----\n",
             1);
        ok(kiln_console_known_hosts(&c, "h", &kh) == -EBADMSG && strstr(kiln_last_error(), "malformed"), "%s", kiln_last_error());
        kiln_console_free(&c);
        kiln_console_init(&c);
        feed(&c, "kiln-init: boot finished in 7 ms\n", 9);
        ok(c.ready_ms == 9 && !c.first_boot && kiln_console_known_hosts(&c, "h", &kh) == -ENOKEY,
           "a later boot: ready, no keys printed");
        kiln_console_free(&c);

        /* The last lines about the network, for --ssh's complaints. */
        kiln_console_init(&c);
        feed(&c, "[    1.0] virtio_net virtio0 eth0: renamed\r\nLinux version 6.1\nsensors: licensed\n"
                 "dhcp on eth0 (0a:00:00:00:00:01)\n[    3.2] IPv6: ADDRCONF(NETDEV_CHANGE): ens5: link becomes ready\n"
                 "Started systemd-networkd.service - Network Configuration.\n",
             1);
        ok(c.net_seq == 4 && c.n_net_lines == 3 && strstr(c.net_lines[0], "dhcp on eth0") &&
                   strstr(c.net_lines[1], "ens5: link becomes ready") && strstr(c.net_lines[2], "Network Configuration"),
           "console: the last three network lines kept, oldest first");
        feed(&c, "ok\tmore\x01link up\n", 2);
        ok(c.net_seq == 5 && !strchr(c.net_lines[2], '\t') && !strchr(c.net_lines[2], 1) && strstr(c.net_lines[2], "link up"),
           "... control characters blanked");
        kiln_console_free(&c);
        ok(kiln_console_is_net_line("udhcpc: lease of 169.254.0.15 obtained") && kiln_console_is_net_line("enp0s3: up") &&
                   kiln_console_is_net_line("e1000: eth1 NIC Link is Up") && !kiln_console_is_net_line("Linux version 6.1") &&
                   !kiln_console_is_net_line("ensure ethics, linked") && !kiln_console_is_net_line("uplink") &&
                   !kiln_console_is_net_line("Kernel command line: root=x"),
           "network lines: interfaces, dhcp, network, the word link");
}

int main(void)
{
        tap_plan_lazy();
        test_types();
        test_bdm_parse();
        test_nics_parse();
        test_image();
        test_plan();
        test_nics_plan();
        test_console();
        return tap_done();
}
