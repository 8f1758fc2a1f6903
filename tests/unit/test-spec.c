/* SPDX-License-Identifier: MIT */
/*
 * The spec parser: a full spec, defaults, every error message exactly (file
 * and line included), the accepted spellings, and the hard limits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/tap.h"
#include "spec.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_LSAN 1
#endif
#endif
#ifdef HAVE_LSAN
int __lsan_do_recoverable_leak_check(void);
#endif

#define FILE_NAME "spec.yaml"

static int parse_text(const char *text, struct kiln_spec *spec)
{
        return kiln_spec_parse(text, strlen(text), FILE_NAME, spec);
}

/* One TAP line per case: the code, the exact message, and *ret untouched. */
static void check_error_len(const char *text, size_t len, int err, const char *msg)
{
        struct kiln_spec spec, before;
        bool untouched;
        int r;

        memset(&spec, 0xa5, sizeof(spec));
        memcpy(&before, &spec, sizeof(spec));
        kiln_clear_error();
        r = kiln_spec_parse(text, len, FILE_NAME, &spec);
        untouched = !memcmp(&spec, &before, sizeof(spec));
        if (!ok(r == err && !strcmp(kiln_last_error(), msg) && untouched, "%s", msg)) {
                tap_diag("  returned %d (expected %d), *ret %s", r, err,
                         untouched ? "untouched" : "written");
                tap_diag("  message:  %s", kiln_last_error());
        }
        if (r >= 0)
                kiln_spec_free(&spec);
}

static void check_error(const char *text, const char *msg)
{
        check_error_len(text, strlen(text), -EBADMSG, msg);
}

static bool is_default(const struct kiln_spec *s)
{
        return !s->ami_name && !s->ami_description && s->virt == -1 && s->arch == -1 &&
               s->boot_mode == -1 && s->ena_support == -1 && !s->imds_support && !s->rootfs &&
               !s->output && s->size == 0 && !s->size_set && !s->size_auto && s->ptable == -1 &&
               !s->fs_label && !s->fs_uuid_set && !s->kernel && !s->kernel_cmdline &&
               s->scrub.ssh_host_keys &&
               s->scrub.machine_id && s->scrub.dbus_machine_id && s->scrub.shell_history &&
               !s->bdms && s->n_bdms == 0;
}

/* A test name from YAML text: TAP wants one line. */
static const char *label(const char *text)
{
        static char buf[64];
        size_t o = 0;

        for (; *text && o + 4 < sizeof(buf); text++) {
                if (*text == '\n') {
                        buf[o++] = '\\';
                        buf[o++] = 'n';
                } else if ((unsigned char)*text >= 0x20 && (unsigned char)*text < 0x7f) {
                        buf[o++] = *text;
                } else {
                        buf[o++] = '?';
                }
        }
        buf[o] = 0;
        return buf;
}

static bool streq_null(const char *a, const char *b)
{
        return a && b && !strcmp(a, b);
}

static const char full_spec[] =
        "# kiln image spec\n"
        "ami_name: debian-12-kiln\n"
        "ami_description: \"Debian 12, built offline: by kiln\"\n"
        "ami_virtualization_type: hvm\n"
        "architecture: arm64\n"
        "boot_mode: uefi-preferred\n"
        "ena_support: true\n"
        "imds_support: v2.0\n"
        "rootfs: debian-bookworm.tar\n"
        "output: out/debian.raw\n"
        "size: 8G\n"
        "partition_table: gpt\n"
        "fs_label: rootfs\n"
        "fs_uuid: 0FC63DAF-8483-4772-8E79-3D69D8477DE4\n"
        "kernel: 6.1.0-28-cloud-arm64\n"
        "kernel_cmdline: console=ttyS0,115200n8 nvme_core.io_timeout=4294967295\n"
        "scrub:\n"
        "  ssh_host_keys: yes\n"
        "  machine_id: on\n"
        "  dbus_machine_id: False\n"
        "  shell_history: NO\n"
        "default_user:\n"
        "  name: ec2-user\n"
        "  gecos: EC2 Default User\n"
        "  groups: wheel, adm,systemd-journal\n"
        "  sudo: ALL=(ALL) NOPASSWD:ALL\n"
        "  shell: /bin/bash\n"
        "launch_block_device_mappings:\n"
        "  - device_name: /dev/xvda\n"
        "    volume_size: 8\n"
        "    volume_type: gp3\n"
        "    delete_on_termination: true\n"
        "    encrypted: false\n"
        "    iops: 3000\n"
        "    throughput: 125\n"
        "    snapshot_id: snap-0123456789abcdef0\n"
        "  - device_name: xvdb\n"
        "    virtual_name: ephemeral0\n"
        "  - { device_name: /dev/sdc, no_device: true }\n";

static void test_full(void)
{
        static const uint8_t uuid[16] = { 0x0f, 0xc6, 0x3d, 0xaf, 0x84, 0x83, 0x47, 0x72,
                                          0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4 };
        struct kiln_spec s;
        int r;

        r = parse_text(full_spec, &s);
        if (!ok(r == 0, "full spec parses"))
                tap_diag("  %s", kiln_last_error());
        if (r < 0)
                return;
        ok(streq_null(s.ami_name, "debian-12-kiln"), "ami_name");
        ok(streq_null(s.ami_description, "Debian 12, built offline: by kiln"), "ami_description");
        is_int(s.virt, KILN_VIRT_HVM, "ami_virtualization_type");
        is_int(s.arch, KILN_ARCH_ARM64, "architecture");
        is_int(s.boot_mode, KILN_BOOT_UEFI_PREFERRED, "boot_mode");
        is_int(s.ena_support, 1, "ena_support");
        ok(streq_null(s.imds_support, "v2.0"), "imds_support");
        ok(streq_null(s.rootfs, "debian-bookworm.tar"), "rootfs");
        ok(streq_null(s.output, "out/debian.raw"), "output");
        ok(s.size == (UINT64_C(8) << 30) && s.size_set && !s.size_auto, "size");
        is_int(s.ptable, KILN_PTABLE_GPT, "partition_table");
        ok(streq_null(s.fs_label, "rootfs"), "fs_label");
        ok(s.fs_uuid_set && !memcmp(s.fs_uuid, uuid, 16), "fs_uuid");
        ok(streq_null(s.kernel, "6.1.0-28-cloud-arm64"), "kernel");
        ok(streq_null(s.kernel_cmdline,
                      "console=ttyS0,115200n8 nvme_core.io_timeout=4294967295"),
           "kernel_cmdline");
        ok(s.scrub.ssh_host_keys && s.scrub.machine_id && !s.scrub.dbus_machine_id &&
           !s.scrub.shell_history, "scrub");
        ok(streq_null(s.default_user.name, "ec2-user") && streq_null(s.default_user.gecos, "EC2 Default User") &&
           streq_null(s.default_user.groups, "wheel, adm,systemd-journal") &&
           streq_null(s.default_user.sudo, "ALL=(ALL) NOPASSWD:ALL") && streq_null(s.default_user.shell, "/bin/bash"),
           "default_user");
        is_int(s.n_bdms, 3, "three block device mappings");
        if (s.n_bdms == 3) {
                const struct kiln_bdm *a = &s.bdms[0], *b = &s.bdms[1], *c = &s.bdms[2];

                ok(streq_null(a->device_name, "/dev/xvda") && !a->virtual_name &&
                   a->volume_size_gib == 8 && a->volume_type == KILN_VOL_GP3 &&
                   a->delete_on_termination == 1 && a->encrypted == 0 && a->iops == 3000 &&
                   a->throughput == 125 && streq_null(a->snapshot_id, "snap-0123456789abcdef0") &&
                   !a->no_device,
                   "bdm 0: every field");
                ok(streq_null(b->device_name, "xvdb") && streq_null(b->virtual_name, "ephemeral0") &&
                   b->volume_size_gib == 0 && b->volume_type == -1 &&
                   b->delete_on_termination == -1 && b->encrypted == -1 && b->iops == 0 &&
                   b->throughput == 0 && !b->snapshot_id && !b->no_device,
                   "bdm 1: instance store, the rest unset");
                ok(streq_null(c->device_name, "/dev/sdc") && c->no_device && c->volume_type == -1,
                   "bdm 2: flow style, no_device");
        }
        kiln_spec_free(&s);
        ok(is_default(&s), "kiln_spec_free leaves defaults");
        kiln_spec_free(&s);
        ok(is_default(&s), "a second kiln_spec_free is harmless");
}

static void test_defaults(void)
{
        static const char *const empty[] = {
                "", "\n", "# only a comment\n", "---\n", "--- ~\n", "---\n...\n", "{}\n",
                "null\n", "scrub:\nlaunch_block_device_mappings:\n",
                "scrub: {}\nlaunch_block_device_mappings: []\n",
        };
        struct kiln_spec s;
        int r;

        kiln_spec_init(&s);
        ok(is_default(&s), "kiln_spec_init: all unset, scrub all true");
        for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
                r = parse_text(empty[i], &s);
                ok(r == 0 && is_default(&s), "defaults from '%s'", label(empty[i]));
                if (r == 0)
                        kiln_spec_free(&s);
        }
        r = kiln_spec_parse(NULL, 0, FILE_NAME, &s);
        ok(r == 0 && is_default(&s), "NULL buffer of length 0 is empty");
        if (r == 0)
                kiln_spec_free(&s);
}

static const struct {
        const char *text, *msg;
} errors[] = {
        /* The examples from the interface's documentation. */
        { "ami_name: x\nami_description: y\nami_nmae: z\n",
          "spec.yaml:3: unknown key 'ami_nmae'" },
        { "ami_name: a\narchitecture: x86_64\nboot_mode: uefi\noutput: o\nsize: 12Q\n",
          "spec.yaml:5: bad value for 'size': '12Q' (expected a size like 8G or 'auto')" },
        { "ami_name: a\nsize: auto\nlaunch_block_device_mappings:\n  - device_name: /dev/xvda\n"
          "    volume_size: 8\n  # the scratch disk\n  - volume_size: 100\n    volume_type: st1\n",
          "spec.yaml:7: 'launch_block_device_mappings[1]': missing 'device_name'" },
        { "default_user:\n  name: Admin\n",
          "spec.yaml:2: bad value for 'default_user.name': 'Admin' (expected a login name like admin or ec2-user)" },
        { "default_user:\n  gecos: \"a:b\"\n",
          "spec.yaml:2: bad value for 'default_user.gecos': 'a:b' (expected one line without ':')" },
        { "default_user:\n  groups: adm, 9x\n",
          "spec.yaml:2: bad value for 'default_user.groups': 'adm, 9x' (expected group names separated by commas)" },
        { "default_user:\n  shell: bash\n",
          "spec.yaml:2: bad value for 'default_user.shell': 'bash' (expected an absolute path)" },
        { "default_user: admin\n",
          "spec.yaml:1: bad value for 'default_user': 'admin' (expected a mapping (name, gecos, groups, sudo, shell))" },
        /* Duplicates, at every level. */
        { "architecture: arm64\nsize: 2G\narchitecture: x86_64\n",
          "spec.yaml:3: duplicate key 'architecture' (first on line 1)" },
        { "scrub:\n  machine_id: no\n  machine_id: yes\n",
          "spec.yaml:3: duplicate key 'scrub.machine_id' (first on line 2)" },
        { "launch_block_device_mappings:\n- device_name: sdb\n  encrypted: yes\n  encrypted: no\n",
          "spec.yaml:4: duplicate key 'launch_block_device_mappings[0].encrypted' (first on line 3)" },
        { "{size: 1G, size: 2G}\n", "spec.yaml:1: duplicate key 'size' (first on line 1)" },
        /* YAML syntax: libyaml's problem, and the line where it was found. */
        { "ami_name: a\nsize: 2G: 3\n",
          "spec.yaml:2: invalid YAML: mapping values are not allowed in this context" },
        { "ami_name: \"abc\n",
          "spec.yaml:2: invalid YAML: found unexpected end of stream "
          "(while scanning a quoted scalar on line 1)" },
        { "ami_name: x\nfoo\n",
          "spec.yaml:3: invalid YAML: could not find expected ':' "
          "(while scanning a simple key on line 2)" },
        { "scrub: {machine_id: no\n",
          "spec.yaml:2: invalid YAML: did not find expected ',' or '}' "
          "(while parsing a flow mapping on line 1)" },
        { "ami_name: a\nami_description: \xff\n",
          "spec.yaml:2: invalid YAML: invalid leading UTF-8 octet" },
        { "ami_name: a\n\nrootfs: \x01\n",
          "spec.yaml:3: invalid YAML: control characters are not allowed" },
        { "%YAML 2.0\n---\nami_name: a\n", "spec.yaml:1: invalid YAML: found incompatible YAML document" },
        /* Things YAML allows and a spec does not. */
        { "ami_name: &name x\n", "spec.yaml:1: YAML anchors and aliases are not supported ('&name')" },
        { "ami_name: x\nami_description: *name\n",
          "spec.yaml:2: YAML anchors and aliases are not supported ('*name')" },
        { "scrub: &s {machine_id: no}\n",
          "spec.yaml:1: YAML anchors and aliases are not supported ('&s')" },
        { "ami_name: !!str 12\n", "spec.yaml:1: YAML tags are not supported ('tag:yaml.org,2002:str')" },
        { "ami_name: a\n---\nami_name: b\n", "spec.yaml:2: more than one YAML document" },
        { "ami_name: \"a\\0b\"\n", "spec.yaml:1: NUL byte in string" },
        { "- a\n- b\n", "spec.yaml:1: top level must be a mapping, not a sequence" },
        { "# header\n\n'quoted'\n", "spec.yaml:3: top level must be a mapping, not 'quoted'" },
        { "? [a]\n: b\n", "spec.yaml:1: key is a sequence (expected a string)" },
        { "scrub:\n  ? {a: 1}\n  : b\n", "spec.yaml:2: 'scrub': key is a mapping (expected a string)" },
        /* Scalars only where scalars are expected, and the other way round. */
        { "ami_name: [a, b]\n", "spec.yaml:1: bad value for 'ami_name': a sequence (expected a string)" },
        { "ami_description:\n  text: x\n",
          "spec.yaml:2: bad value for 'ami_description': a mapping (expected a string)" },
        { "ami_name:\n", "spec.yaml:1: bad value for 'ami_name': no value (expected a string)" },
        { "ami_name: ~\n", "spec.yaml:1: bad value for 'ami_name': no value (expected a string)" },
        { "size: [8G]\n",
          "spec.yaml:1: bad value for 'size': a sequence (expected a size like 8G or 'auto')" },
        { "scrub: yes\n",
          "spec.yaml:1: bad value for 'scrub': 'yes' (expected a mapping of true/false keys)" },
        { "architecture: {x: 1}\n",
          "spec.yaml:1: bad value for 'architecture': a mapping (expected one of x86_64, arm64)" },
        /* Enumerations list what they accept. */
        { "architecture: amd64\n",
          "spec.yaml:1: bad value for 'architecture': 'amd64' (expected one of x86_64, arm64)" },
        { "ami_virtualization_type: HVM\n",
          "spec.yaml:1: bad value for 'ami_virtualization_type': 'HVM' "
          "(expected one of hvm, paravirtual)" },
        { "boot_mode: bios\n",
          "spec.yaml:1: bad value for 'boot_mode': 'bios' "
          "(expected one of legacy-bios, uefi, uefi-preferred)" },
        { "partition_table: dos\n",
          "spec.yaml:1: bad value for 'partition_table': 'dos' (expected one of gpt, mbr, none)" },
        /* Other top-level values. */
        { "imds_support: v1.0\n", "spec.yaml:1: bad value for 'imds_support': 'v1.0' (expected 'v2.0')" },
        { "imds_support: 2.0\n", "spec.yaml:1: bad value for 'imds_support': '2.0' (expected 'v2.0')" },
        { "ena_support: maybe\n",
          "spec.yaml:1: bad value for 'ena_support': 'maybe' (expected true or false)" },
        { "ena_support: 1\n", "spec.yaml:1: bad value for 'ena_support': '1' (expected true or false)" },
        { "ena_support: y\n", "spec.yaml:1: bad value for 'ena_support': 'y' (expected true or false)" },
        { "ena_support: ''\n", "spec.yaml:1: bad value for 'ena_support': '' (expected true or false)" },
        { "rootfs: ''\n", "spec.yaml:1: bad value for 'rootfs': '' (expected a path)" },
        { "output:\n", "spec.yaml:1: bad value for 'output': no value (expected a path)" },
        { "fs_label: abcdefghijklmnopq\n",
          "spec.yaml:1: bad value for 'fs_label': 'abcdefghijklmnopq' (longer than 16 bytes)" },
        { "fs_uuid: 1234\n",
          "spec.yaml:1: bad value for 'fs_uuid': '1234' "
          "(expected a UUID like 0fc63daf-8483-4772-8e79-3d69d8477de4)" },
        { "fs_uuid: 0fc63daf-8483-4772-8e79-3d69d8477de4x\n",
          "spec.yaml:1: bad value for 'fs_uuid': '0fc63daf-8483-4772-8e79-3d69d8477de4x' "
          "(expected a UUID like 0fc63daf-8483-4772-8e79-3d69d8477de4)" },
        { "kernel: ''\n",
          "spec.yaml:1: bad value for 'kernel': '' "
          "(expected a kernel version or /boot/vmlinuz-VERSION)" },
        { "size: 512K\n", "spec.yaml:1: bad value for 'size': '512K' (smaller than 1M)" },
        { "size: 0\n", "spec.yaml:1: bad value for 'size': '0' (smaller than 1M)" },
        { "size: 1048575\n", "spec.yaml:1: bad value for 'size': '1048575' (smaller than 1M)" },
        { "size: 65T\n", "spec.yaml:1: bad value for 'size': '65T' (larger than 64T)" },
        { "size: 99999999999999999999\n",
          "spec.yaml:1: bad value for 'size': '99999999999999999999' "
          "(expected a size like 8G or 'auto')" },
        { "size: -1G\n", "spec.yaml:1: bad value for 'size': '-1G' (expected a size like 8G or 'auto')" },
        { "size: 2 G\n", "spec.yaml:1: bad value for 'size': '2 G' (expected a size like 8G or 'auto')" },
        { "size: AUTO\n", "spec.yaml:1: bad value for 'size': 'AUTO' (expected a size like 8G or 'auto')" },
        { "scrub:\n  ssh_keys: no\n", "spec.yaml:2: unknown key 'scrub.ssh_keys'" },
        { "scrub: {shell_history: sometimes}\n",
          "spec.yaml:1: bad value for 'scrub.shell_history': 'sometimes' (expected true or false)" },
        /* Messages stay on one line, and short. */
        { "architecture: \"x86\\n64\\t\\x01\"\n",
          "spec.yaml:1: bad value for 'architecture': 'x86\\n64\\t\\x01' "
          "(expected one of x86_64, arm64)" },
        { "boot_mode: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
          "spec.yaml:1: bad value for 'boot_mode': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' "
          "(expected one of legacy-bios, uefi, uefi-preferred)" },
        { "\"bad\\nkey\": 1\n", "spec.yaml:1: unknown key 'bad\\nkey'" },
        /* launch_block_device_mappings and its entries. */
        { "launch_block_device_mappings: /dev/xvda\n",
          "spec.yaml:1: bad value for 'launch_block_device_mappings': '/dev/xvda' "
          "(expected a sequence of mappings)" },
        { "launch_block_device_mappings: {device_name: sdb}\n",
          "spec.yaml:1: bad value for 'launch_block_device_mappings': a mapping "
          "(expected a sequence of mappings)" },
        { "launch_block_device_mappings:\n  - /dev/xvda\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0]': '/dev/xvda' "
          "(expected a mapping)" },
        { "launch_block_device_mappings:\n  - {}\n",
          "spec.yaml:2: 'launch_block_device_mappings[0]': missing 'device_name'" },
        { "launch_block_device_mappings:\n  - device_name: xvda\n    size: 8\n",
          "spec.yaml:3: unknown key 'launch_block_device_mappings[0].size'" },
        { "launch_block_device_mappings:\n  - device_name:\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].device_name': no value "
          "(expected a device like /dev/xvdb or xvdb)" },
        { "launch_block_device_mappings:\n  - device_name: vda\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].device_name': 'vda' "
          "(expected a device like /dev/xvdb or xvdb)" },
        { "launch_block_device_mappings:\n  - device_name: /dev/\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].device_name': '/dev/' "
          "(expected a device like /dev/xvdb or xvdb)" },
        { "launch_block_device_mappings:\n  - device_name: /dev/../sda\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].device_name': '/dev/../sda' "
          "(expected a device like /dev/xvdb or xvdb)" },
        { "launch_block_device_mappings:\n  - device_name: xvd\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].device_name': 'xvd' "
          "(expected a device like /dev/xvdb or xvdb)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, virtual_name: ephemeral}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].virtual_name': 'ephemeral' "
          "(expected ephemeralN)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, virtual_name: ephemeral01}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].virtual_name': "
          "'ephemeral01' (expected ephemeralN)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, virtual_name: swap}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].virtual_name': 'swap' "
          "(expected ephemeralN)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, volume_size: 0}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].volume_size': '0' "
          "(expected a whole number of GiB from 1 to 65536)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, volume_size: 65537}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].volume_size': '65537' "
          "(expected a whole number of GiB from 1 to 65536)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, volume_size: 8G}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].volume_size': '8G' "
          "(expected a whole number of GiB from 1 to 65536)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, volume_size: 010}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].volume_size': '010' "
          "(expected a whole number of GiB from 1 to 65536)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, volume_size: 1_000}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].volume_size': '1_000' "
          "(expected a whole number of GiB from 1 to 65536)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, volume_type: gp4}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].volume_type': 'gp4' "
          "(expected one of gp2, gp3, io1, io2, st1, sc1, standard)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, iops: 0}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].iops': '0' "
          "(expected a positive integer)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, iops: 4294967296}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].iops': '4294967296' "
          "(expected a positive integer)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, throughput: -5}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].throughput': '-5' "
          "(expected a positive integer)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, delete_on_termination: 2}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].delete_on_termination': "
          "'2' (expected true or false)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, no_device: [yes]}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].no_device': a sequence "
          "(expected true or false)" },
        { "launch_block_device_mappings:\n  - {device_name: sdb, snapshot_id: ''}\n",
          "spec.yaml:2: bad value for 'launch_block_device_mappings[0].snapshot_id': '' "
          "(expected a snapshot ID)" },
        /* An error in a late entry, after earlier ones were filled: nothing leaks. */
        { "ami_name: a\nlaunch_block_device_mappings:\n  - {device_name: sda, snapshot_id: snap-1}\n"
          "  - {device_name: sdb, virtual_name: ephemeral1, encrypted: nope}\n",
          "spec.yaml:4: bad value for 'launch_block_device_mappings[1].encrypted': 'nope' "
          "(expected true or false)" },
        { "ami_name: a\nlaunch_block_device_mappings: [{device_name: sda}]\nbogus: 1\n",
          "spec.yaml:3: unknown key 'bogus'" },
};

static void test_errors(void)
{
        for (size_t i = 0; i < ARRAY_SIZE(errors); i++)
                check_error(errors[i].text, errors[i].msg);

        /* Not every caller has a file name. */
        struct kiln_spec s;
        int r = kiln_spec_parse("x: 1\n", 5, NULL, &s);
        ok(r == -EBADMSG && !strcmp(kiln_last_error(), "<spec>:1: unknown key 'x'"),
           "no file name: '<spec>'");
}

static void test_bools(void)
{
        static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES",
                                           "on", "On", "ON", "'yes'", "\"true\"" };
        static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO",
                                          "off", "Off", "OFF", "'no'", "\"off\"" };
        char text[128];
        struct kiln_spec s;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                snprintf(text, sizeof(text), "ena_support: %s\nscrub: {machine_id: %s}\n",
                         yes[i], no[i]);
                r = parse_text(text, &s);
                ok(r == 0 && s.ena_support == 1 && !s.scrub.machine_id && s.scrub.shell_history,
                   "bools: %s is true, %s is false", yes[i], no[i]);
                if (r == 0)
                        kiln_spec_free(&s);
        }
}

static void test_sizes(void)
{
        static const struct {
                const char *text;
                uint64_t size;
        } sizes[] = {
                { "1M", UINT64_C(1) << 20 },
                { "1048576", UINT64_C(1) << 20 },
                { "512M", UINT64_C(512) << 20 },
                { "2G", UINT64_C(2) << 30 },
                { "'2G'", UINT64_C(2) << 30 },
                { "2GiB", UINT64_C(2) << 30 },
                { "2gb", UINT64_C(2) << 30 },
                { "1T", UINT64_C(1) << 40 },
                { "64T", UINT64_C(64) << 40 },
                { "1073741824", UINT64_C(1) << 30 },
                { "1048577", 1048577 },        /* rounding is the builder's job */
        };
        char text[64];
        struct kiln_spec s;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
                snprintf(text, sizeof(text), "size: %s\n", sizes[i].text);
                r = parse_text(text, &s);
                ok(r == 0 && s.size == sizes[i].size && s.size_set && !s.size_auto,
                   "size: %s", sizes[i].text);
                if (r == 0)
                        kiln_spec_free(&s);
        }
        r = parse_text("size: auto\n", &s);
        ok(r == 0 && s.size == 0 && s.size_set && s.size_auto, "size: auto");
        if (r == 0)
                kiln_spec_free(&s);
}

/* The accepted side of each per-key rule, next to its edge. */
static void test_accepted(void)
{
        static const char *const good[] = {
                "fs_label: abcdefghijklmnop\n",              /* exactly 16 bytes */
                "fs_label: \"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"\n",
                "fs_label: ''\n",
                "ami_name: yes\nami_description: 12\n",      /* strings stay strings */
                "ami_name: ''\n",
                "imds_support: 'v2.0'\n",
                "launch_block_device_mappings:\n- {device_name: /dev/nvme1n1}\n- {device_name: sda1}\n"
                "- {device_name: xvdba}\n- {device_name: hdb}\n"
                "- {device_name: sdc, virtual_name: ephemeral23, volume_size: 65536}\n"
                "- {device_name: sdd, iops: 4294967295, throughput: 1, volume_size: 1}\n",
                "{ami_name: x, launch_block_device_mappings: [{device_name: sdb, volume_size: 1}]}\n",
                "\357\273\277ami_name: bom\n", /* a UTF-8 BOM */
                "%YAML 1.1\n---\nami_name: x\n...\n",
                "ami_name: >\n  folded\n  text\n",
        };
        struct kiln_spec s;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                r = parse_text(good[i], &s);
                if (!ok(r == 0, "accepted: %s", label(good[i])))
                        tap_diag("  %s", kiln_last_error());
                if (r == 0)
                        kiln_spec_free(&s);
        }
        r = parse_text("ami_name: yes\nami_description: 12\n", &s);
        ok(r == 0 && streq_null(s.ami_name, "yes") && streq_null(s.ami_description, "12"),
           "values are typed by key, not by YAML");
        if (r == 0)
                kiln_spec_free(&s);
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
        char *buf = malloc(hl + ul * n + tl + 1), *p = buf;

        if (!buf)
                abort();
        memcpy(p, head, hl);
        p += hl;
        for (size_t i = 0; i < n; i++, p += ul)
                memcpy(p, unit, ul);
        memcpy(p, tail, tl + 1);
        return buf;
}

static void test_limits(void)
{
        struct kiln_spec s;
        char *buf, msg[256];
        int r;

        /* The whole input. */
        buf = malloc(KILN_SPEC_MAX_BYTES + 1);
        if (!buf)
                abort();
        memset(buf, '#', KILN_SPEC_MAX_BYTES + 1);
        memcpy(buf, "ami_name: x\n", 12);
        buf[KILN_SPEC_MAX_BYTES - 1] = '\n';
        r = kiln_spec_parse(buf, KILN_SPEC_MAX_BYTES, FILE_NAME, &s);
        ok(r == 0 && streq_null(s.ami_name, "x"), "exactly KILN_SPEC_MAX_BYTES is fine");
        if (r == 0)
                kiln_spec_free(&s);
        check_error_len(buf, KILN_SPEC_MAX_BYTES + 1, -E2BIG,
                        "spec.yaml: spec too large (1048577 bytes, limit 1048576)");
        free(buf);

        /* Nesting: the root mapping is level 1. */
        buf = repeat("ami_name: ", "[", 15, "]]]]]]]]]]]]]]]\n");
        check_error(buf, "spec.yaml:1: bad value for 'ami_name': a sequence (expected a string)");
        free(buf);
        buf = repeat("ami_name: ", "[", 16, "]]]]]]]]]]]]]]]]\n");
        check_error(buf, "spec.yaml:1: nesting deeper than 16 levels");
        free(buf);
        buf = repeat("", "[", 100000, "");
        check_error(buf, "spec.yaml:1: nesting deeper than 16 levels");
        free(buf);
        buf = repeat("", "{a: ", 100000, "");
        check_error(buf, "spec.yaml:1: nesting deeper than 16 levels");
        free(buf);
        {
                char text[1024] = "", *p = text;

                for (int i = 0; i < 20; i++)
                        p += sprintf(p, "%*sk%d:\n", i, "", i);
                check_error(text, "spec.yaml:17: nesting deeper than 16 levels");
        }

        /* Nodes. */
        buf = repeat("ami_description: [", "1, ", 5000, "1]\n");
        check_error(buf, "spec.yaml:1: too many YAML nodes (limit 4096)");
        free(buf);

        /* One string. */
        buf = repeat("ami_description: ", "x", 64 * 1024, "\n");
        r = parse_text(buf, &s);
        ok(r == 0 && s.ami_description && strlen(s.ami_description) == 64 * 1024,
           "a 64 KiB string is fine");
        if (r == 0)
                kiln_spec_free(&s);
        free(buf);
        buf = repeat("ami_description: ", "x", 64 * 1024 + 1, "\n");
        check_error(buf, "spec.yaml:1: string longer than 65536 bytes");
        free(buf);

        /* kernel_cmdline. */
        buf = repeat("kernel_cmdline: ", "x", 4096, "\n");
        r = parse_text(buf, &s);
        ok(r == 0 && s.kernel_cmdline && strlen(s.kernel_cmdline) == 4096,
           "a 4096-byte kernel_cmdline is fine");
        if (r == 0)
                kiln_spec_free(&s);
        free(buf);
        buf = repeat("kernel_cmdline: ", "x", 4097, "\n");
        check_error(buf, "spec.yaml:1: bad value for 'kernel_cmdline': "
                         "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (longer than 4096 bytes)");
        free(buf);

        /* Block device mappings: 64 fine, the 65th (on line 66) is not. */
        buf = repeat("launch_block_device_mappings:\n", "- device_name: sdb\n",
                     KILN_SPEC_MAX_BDMS, "");
        r = parse_text(buf, &s);
        ok(r == 0 && s.n_bdms == KILN_SPEC_MAX_BDMS, "%d block device mappings are fine",
           KILN_SPEC_MAX_BDMS);
        if (r == 0)
                kiln_spec_free(&s);
        free(buf);
        buf = repeat("launch_block_device_mappings:\n", "- device_name: sdb\n",
                     KILN_SPEC_MAX_BDMS + 1, "");
        snprintf(msg, sizeof(msg),
                 "spec.yaml:%d: too many entries in 'launch_block_device_mappings' (limit %d)",
                 KILN_SPEC_MAX_BDMS + 2, KILN_SPEC_MAX_BDMS);
        check_error(buf, msg);
        free(buf);
}

/*
 * Failed parses free what they built: every error case above ran already, so
 * LeakSanitizer sees their leftovers now.  Without ASan there is no reliable
 * count (glibc's per-thread cache keeps freed chunks "in use"): that build
 * has no leak check, and `make check` runs this test built with ASan+UBSan
 * too (build/san-unit/test-spec), where it does.
 */
static void test_no_leaks(void)
{
#ifdef HAVE_LSAN
        is_int(__lsan_do_recoverable_leak_check(), 0, "LeakSanitizer finds no leaks");
#else
        tap_diag("no leak check in this build: `make check` runs it in the ASan+UBSan one (san-unit/test-spec)");
#endif
}

int main(void)
{
        test_full();
        test_defaults();
        test_errors();
        test_bools();
        test_sizes();
        test_accepted();
        test_limits();
        test_no_leaks();
        return tap_done();
}
