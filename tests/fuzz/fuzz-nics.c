/* SPDX-License-Identifier: MIT */
/*
 * kiln_nics_parse() (kiln run's --network-interfaces) on arbitrary bytes,
 * then the plan and QEMU's argv for what it accepts.  Beyond "no crash, no
 * leak": a failure is -EBADMSG or -E2BIG with a one-line message naming the
 * input, *ret is untouched then; a success holds 1 to KILN_NIC_MAX
 * interfaces, DeviceIndex below KILN_NIC_MAX, unique, 0 among them,
 * Ipv6AddressCount 0 or 1, descriptions short and printable; the same bytes
 * give the same list.  Planned on m5.4xlarge (8 interfaces), a list is
 * refused with -EINVAL (DeviceIndex 8 or more) or gives interfaces sorted by
 * DeviceIndex with distinct, locally administered unicast MACs and distinct
 * networks, each its own restricted netdev in the argv.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char image_json[] =
        "{\"Architecture\": \"x86_64\", \"BootMode\": \"legacy-bios\", \"RootDeviceName\": \"/dev/xvda\","
        " \"BlockDeviceMappings\": [{\"DeviceName\": \"/dev/xvda\", \"Ebs\": {\"VolumeSize\": 1}}],"
        " \"EnaSupport\": true}";

static void check_list(const struct kiln_nic_spec_list *l)
{
        bool have0 = false;

        if (l->n < 1 || l->n > KILN_NIC_MAX)
                abort();
        for (size_t i = 0; i < l->n; i++) {
                const struct kiln_nic_spec *n = &l->v[i];
                if (n->device_index >= KILN_NIC_MAX || n->ipv6_count > 1)
                        abort();
                if (n->description) {
                        if (strlen(n->description) > KILN_NIC_DESCRIPTION_MAX)
                                abort();
                        for (const char *p = n->description; *p; p++)
                                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                                        abort();
                }
                for (size_t j = 0; j < i; j++)
                        if (l->v[j].device_index == n->device_index)
                                abort();
                have0 |= n->device_index == 0;
        }
        if (!have0)
                abort();
}

static void check_plan(const struct kiln_nic_spec_list *l)
{
        static struct kiln_image img;
        static bool loaded;
        static const uint8_t seed[] = "fuzz-nics";
        struct kiln_launch plan;

        if (!loaded) {
                if (kiln_image_parse("fuzz.raw", image_json, strlen(image_json), NULL, 0, 1 << 20, &img) < 0)
                        abort();
                loaded = true;
        }
        struct kiln_launch_req req = { .instance_type = "m5.4xlarge", .nics = l, .seed = seed, .seed_len = sizeof(seed) };
        int r = kiln_launch_plan(&img, &req, &plan);
        if (r < 0) {
                bool over = false;
                for (size_t i = 0; i < l->n; i++)
                        over |= l->v[i].device_index >= 8;
                if (r != -EINVAL || !over || strchr(kiln_last_error(), '\n'))
                        abort();
                return;
        }
        if (plan.n_nics != l->n || plan.nics[0].device_index != 0)
                abort();
        for (size_t i = 0; i < plan.n_nics; i++) {
                const struct kiln_nic *c = &plan.nics[i];
                unsigned b0;
                if (sscanf(c->mac, "%x:", &b0) != 1 || !(b0 & 2) || (b0 & 1) || strlen(c->mac) != 17)
                        abort();
                if (strncmp(c->interface_id, "eni-", 4) || strlen(c->interface_id) != 21)
                        abort();
                if (i > 0 && (plan.nics[i - 1].device_index >= c->device_index))
                        abort();
                for (size_t j = 0; j < i; j++)
                        if (!strcmp(plan.nics[j].mac, c->mac) || !strcmp(plan.nics[j].net, c->net) ||
                            !strcmp(plan.nics[j].ipv4, c->ipv4))
                                abort();
        }
        char **argv = NULL;
        struct kiln_qemu_env env = { .kiln = "/r/kiln", .imds_dir = "/r/imds", .ssh_port = 2222 };
        if (kiln_launch_paths(&plan, "/r", NULL) < 0 || kiln_launch_qemu_argv(&plan, &env, &argv) < 0)
                abort();
        size_t netdevs = 0;
        for (char **p = argv; *p; p++)
                if (!strncmp(*p, "user,id=n", 9)) {
                        if (!strstr(*p, ",restrict=on,"))
                                abort();
                        netdevs++;
                }
        if (netdevs != plan.n_nics)
                abort();
        kiln_argv_free(argv);
        kiln_launch_free(&plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct kiln_nic_spec_list a, b, before;
        char *buf = malloc(size ? size : 1);
        int r;

        if (!buf)
                return 0;
        if (size)
                memcpy(buf, data, size);
        memset(&a, 0x5a, sizeof(a));
        before = a;
        r = kiln_nics_parse("fuzz", buf, size, &a);
        if (r < 0) {
                const char *m = kiln_last_error();
                if ((r != -EBADMSG && r != -E2BIG) || memcmp(&a, &before, sizeof(a)) || strncmp(m, "fuzz", 4) ||
                    strchr(m, '\n'))
                        abort();
                goto out;
        }
        check_list(&a);
        if (kiln_nics_parse("fuzz", buf, size, &b) != 0 || a.n != b.n)
                abort();
        for (size_t i = 0; i < a.n; i++)
                if (a.v[i].device_index != b.v[i].device_index || a.v[i].ipv6_count != b.v[i].ipv6_count ||
                    !a.v[i].description != !b.v[i].description ||
                    (a.v[i].description && strcmp(a.v[i].description, b.v[i].description)))
                        abort();
        check_plan(&a);
        kiln_nic_spec_list_free(&a);
        kiln_nic_spec_list_free(&b);
out:
        if (size && memcmp(buf, data, size))
                abort();
        free(buf);
        return 0;
}
