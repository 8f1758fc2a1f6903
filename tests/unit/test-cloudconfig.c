/* SPDX-License-Identifier: MIT */
/*
 * #cloud-config parsing: for each supported key, documents shaped like the
 * examples of cloud-init's module reference (set_hostname, update_etc_hosts,
 * users_groups, ssh, set_passwords, write_files, bootcmd, runcmd, growpart,
 * resizefs, mounts, timezone, final_message, power_state_change, and
 * network through netcfg.c), YAML 1.1 scalars, anchors, aliases and merge
 * keys, merging of several documents, and malformed input: bad YAML, alias
 * bombs and limits fail the document and leave the struct untouched; a
 * value of the wrong type fails its key (or its users/groups/write_files
 * entry) alone, listed in errors with its line, the other keys applied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../lib/tap.h"
#include "cloudconfig.h"
#include "util.h"

static int parse(struct kiln_cloud_config *cc, const char *doc)
{
        int r = kiln_cloud_config_parse(cc, "test", doc, strlen(doc));

        if (r < 0)
                tap_diag("  %s", kiln_last_error());
        return r;
}

static int parse_as(struct kiln_cloud_config *cc, const char *name, const char *doc)
{
        return kiln_cloud_config_parse(cc, name, doc, strlen(doc));
}

static bool streq(const char *a, const char *b)
{
        return a && b && !strcmp(a, b);
}

static size_t n_strv(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static bool has(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (!strcmp(v[i], s))
                        return true;
        return false;
}

static bool has_warning(const struct kiln_cloud_config *cc, const char *needle)
{
        for (size_t i = 0; cc->warnings && cc->warnings[i]; i++)
                if (strstr(cc->warnings[i], needle))
                        return true;
        return false;
}

static void test_hostname(void)
{
        struct kiln_cloud_config cc;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "#cloud-config\npreserve_hostname: false\nhostname: myhost\nfqdn: myhost.example.com\n"
                      "prefer_fqdn_over_hostname: true\nmanage_etc_hosts: localhost\n") == 0 &&
           streq(cc.hostname, "myhost") && streq(cc.fqdn, "myhost.example.com") &&
           cc.preserve_hostname == KILN_FALSE && cc.manage_etc_hosts == KILN_HOSTS_LOCALHOST &&
           n_strv(cc.unsupported) == 1 && has(cc.unsupported, "prefer_fqdn_over_hostname"),
           "set_hostname and update_etc_hosts: hostname, fqdn, preserve_hostname, manage_etc_hosts: localhost");
        kiln_cloud_config_free(&cc);

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "manage_etc_hosts: true\nhostname: 42\n") == 0 && cc.manage_etc_hosts == KILN_HOSTS_TRUE &&
           streq(cc.hostname, "42"), "manage_etc_hosts: true; a number as a host name is its text");
        ok(parse(&cc, "manage_etc_hosts: template\n") == 0 && cc.manage_etc_hosts == KILN_HOSTS_TRUE,
           "manage_etc_hosts: template (deprecated) means true");
        kiln_cloud_config_free(&cc);
}

static void test_users(void)
{
        struct kiln_cloud_config cc;
        const struct kiln_cc_user *u;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc,
                 "#cloud-config\n"
                 "groups:\n"
                 "  - ops: [root, sys]\n"
                 "  - staff\n"
                 "users:\n"
                 "  - default\n"
                 "  - name: jdoe\n"
                 "    gecos: Jane Q. Doe\n"
                 "    primary_group: jdoe\n"
                 "    groups: users\n"
                 "    expiredate: '2040-01-01'\n"
                 "    lock_passwd: false\n"
                 "    passwd: $6$rounds=4096$salt$hash.value/\n"
                 "  - name: ops1\n"
                 "    gecos: Operator\n"
                 "    sudo: ALL=(ALL) NOPASSWD:ALL\n"
                 "    groups: users, admin\n"
                 "    lock_passwd: true\n"
                 "    ssh_authorized_keys:\n"
                 "      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOps ops1@example\n"
                 "      - ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ ops1@laptop\n"
                 "  - name: svc\n"
                 "    gecos: A service\n"
                 "    system: true\n"
                 "    homedir: /var/lib/svc\n"
                 "    no_create_home: true\n"
                 "    uid: 1500\n"
                 "  - name: shelly\n"
                 "    sudo: false\n"
                 "    shell: /bin/bash\n"
                 "  - name: multi\n"
                 "    sudo:\n"
                 "      - ALL=(ALL) NOPASSWD:/bin/systemctl\n"
                 "      - ALL=(ALL) /usr/bin/journalctl\n"
                 "    groups: [wheel, adm]\n"
                 "    uid: '1600'\n") == 0,
           "users_groups example shapes parse");
        ok(cc.users_set && cc.n_users == 6, "six users");
        ok(cc.users[0].is_default, "'default' is the image's default user");
        u = &cc.users[1];
        ok(streq(u->name, "jdoe") && streq(u->gecos, "Jane Q. Doe") && streq(u->primary_group, "jdoe") &&
           n_strv(u->groups) == 1 && streq(u->groups[0], "users") && u->lock_passwd == KILN_FALSE &&
           streq(u->passwd, "$6$rounds=4096$salt$hash.value/") && !u->sudo && u->uid == -1,
           "jdoe: gecos, primary_group, groups, lock_passwd false, passwd hash");
        ok(has_warning(&cc, "users[1].expiredate: not supported"), "an unsupported user key is a warning");
        u = &cc.users[2];
        ok(n_strv(u->sudo) == 1 && streq(u->sudo[0], "ALL=(ALL) NOPASSWD:ALL") && n_strv(u->groups) == 2 &&
           streq(u->groups[0], "users") && streq(u->groups[1], "admin") && u->lock_passwd == KILN_TRUE &&
           n_strv(u->ssh_authorized_keys) == 2,
           "ops1: sudo string, groups \"users, admin\" split, two keys");
        u = &cc.users[3];
        ok(u->system && streq(u->homedir, "/var/lib/svc") && u->no_create_home && u->uid == 1500,
           "svc: system, homedir, no_create_home, uid");
        u = &cc.users[4];
        ok(!u->sudo && streq(u->shell, "/bin/bash"), "sudo: false means no rule");
        u = &cc.users[5];
        ok(n_strv(u->sudo) == 2 && n_strv(u->groups) == 2 && u->uid == 1600, "sudo list, groups list, uid '1600'");
        ok(cc.n_groups == 2 && streq(cc.groups[0].name, "ops") && n_strv(cc.groups[0].members) == 2 &&
           streq(cc.groups[0].members[1], "sys") && streq(cc.groups[1].name, "staff") && !cc.groups[1].members,
           "groups: {name: [members]} and a bare name");
        kiln_cloud_config_free(&cc);

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "users: default, bob\ngroups: a, b\n") == 0 && cc.n_users == 2 && cc.users[0].is_default &&
           streq(cc.users[1].name, "bob") && cc.n_groups == 2 && streq(cc.groups[1].name, "b"),
           "users and groups as comma-separated strings");
        ok(parse(&cc, "users: []\n") == 0 && cc.users_set && cc.n_users == 0,
           "users: [] means no users at all (not even the default)");
        ok(parse(&cc, "users:\n  - name: p\n    plain_text_passwd: hunter2\n") == 0 &&
           has_warning(&cc, "users[0].plain_text_passwd: plain-text passwords are not supported"),
           "plain_text_passwd is a warning, kept apart");
        kiln_cloud_config_free(&cc);

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "system_info:\n  distro: debian\n  default_user:\n    name: admin\n    groups: [adm, sudo]\n"
                      "    sudo: ['ALL=(ALL) NOPASSWD:ALL']\n    shell: /bin/bash\n    lock_passwd: true\n") == 0 &&
           cc.default_user_set && streq(cc.default_user.name, "admin") && n_strv(cc.default_user.groups) == 2 &&
           n_strv(cc.default_user.sudo) == 1 && cc.default_user.lock_passwd == KILN_TRUE &&
           has_warning(&cc, "system_info.distro"),
           "system_info.default_user (cloud.cfg)");
        kiln_cloud_config_free(&cc);
}

static void test_ssh(void)
{
        struct kiln_cloud_config cc;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "#cloud-config\n"
                      "ssh_keys:\n"
                      "  rsa_private: |\n"
                      "    -----BEGIN RSA PRIVATE KEY-----\n"
                      "    MIIBxwIBAAJhAKD0YSHy73nUgysO13XsJmd4fHiFyQ+00R7VVu2iV9Qco\n"
                      "    -----END RSA PRIVATE KEY-----\n"
                      "  rsa_public: ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAGEAoPRhIfLvedSDKw7Xd root@host\n"
                      "  ed25519_public: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKey root@host\n"
                      "  ed25519_certificate: ssh-ed25519-cert-v01@openssh.com AAAAcert root@host\n"
                      "ssh_deletekeys: false\n"
                      "ssh_genkeytypes: [rsa, ecdsa, ed25519]\n"
                      "disable_root: true\n"
                      "disable_root_opts: no-port-forwarding,no-agent-forwarding,no-X11-forwarding\n"
                      "ssh_authorized_keys:\n"
                      "  - ssh-rsa AAAAB3NzaC1yc2EAAAABJQAAAQEA3I7VUf2l5gSn5uavROsc5HRDpZ user1@host\n"
                      "  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUser2 user2@host\n"
                      "ssh_pwauth: true\n"
                      "ssh_publish_hostkeys: {enabled: true}\n") == 0,
           "ssh example parses");
        ok(cc.n_ssh_keys == 2 && streq(cc.ssh_keys[0].type, "rsa") && cc.ssh_keys[0].private_key &&
           strstr(cc.ssh_keys[0].private_key, "BEGIN RSA PRIVATE KEY") && cc.ssh_keys[0].public_key &&
           streq(cc.ssh_keys[1].type, "ed25519") && !cc.ssh_keys[1].private_key && cc.ssh_keys[1].certificate,
           "ssh_keys: rsa private+public, ed25519 public+certificate");
        ok(cc.ssh_deletekeys == KILN_FALSE && n_strv(cc.ssh_genkeytypes) == 3 && cc.disable_root == KILN_TRUE &&
           streq(cc.disable_root_opts, "no-port-forwarding,no-agent-forwarding,no-X11-forwarding") &&
           n_strv(cc.ssh_authorized_keys) == 2 && cc.ssh_pwauth == KILN_TRUE &&
           has(cc.unsupported, "ssh_publish_hostkeys"),
           "ssh_deletekeys, ssh_genkeytypes, disable_root(_opts), ssh_authorized_keys, ssh_pwauth");
        ok(parse(&cc, "ssh_pwauth: unchanged\n") == 0 && cc.ssh_pwauth == KILN_UNSET, "ssh_pwauth: unchanged");
        ok(parse(&cc, "ssh_pwauth: no\n") == 0 && cc.ssh_pwauth == KILN_FALSE, "ssh_pwauth: no (YAML 1.1)");
        kiln_cloud_config_free(&cc);
}

static uint8_t *gzip_of(const char *s, size_t *ret_len)
{
        uLong cap = compressBound((uLong)strlen(s)) + 64;
        uint8_t *out = malloc(cap);
        z_stream z = { 0 };

        if (!out || deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
                abort();
        z.next_in = (Bytef *)(uintptr_t)s;
        z.avail_in = (uInt)strlen(s);
        z.next_out = out;
        z.avail_out = (uInt)cap;
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
                abort();
        *ret_len = cap - z.avail_out;
        deflateEnd(&z);
        return out;
}

static char *base64_of(const uint8_t *in, size_t n)
{
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *out = malloc(n / 3 * 4 + 8);
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                             (i + 2 < n ? in[i + 2] : 0);
                out[o++] = tbl[v >> 18 & 63];
                out[o++] = tbl[v >> 12 & 63];
                out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
                out[o++] = i + 2 < n ? tbl[v & 63] : '=';
        }
        out[o] = 0;
        return out;
}

static bool file_is(const struct kiln_cc_file *f, const char *path, const char *content, int mode,
                    const char *owner)
{
        bool good = streq(f->path, path) && f->len == strlen(content) && !memcmp(f->content, content, f->len) &&
                    f->permissions == mode && (owner ? streq(f->owner, owner) : !f->owner);

        if (!good)
                tap_diag("  %s: %zu bytes '%.40s', mode %o, owner %s", f->path, f->len, (const char *)f->content,
                         (unsigned)f->permissions, f->owner ? f->owner : "(null)");
        return good;
}

static void test_write_files(void)
{
        struct kiln_cloud_config cc;
        size_t gzn;
        uint8_t *gz = gzip_of("compressed content\n", &gzn);
        char *b64 = base64_of(gz, gzn), *doc;

        if (asprintf(&doc,
                     "#cloud-config\n"
                     "write_files:\n"
                     "  - encoding: b64\n"
                     "    content: Q09ORklHX0E9MQpDT05GSUdfQj0yCg==\n"
                     "    owner: root:root\n"
                     "    path: /etc/sysconfig/example\n"
                     "    permissions: '0644'\n"
                     "  - content: |\n"
                     "      # plain text\n"
                     "      line two\n"
                     "    path: /etc/example.conf\n"
                     "  - path: /bin/tiny\n"
                     "    permissions: '0555'\n"
                     "    content: !!binary |\n"
                     "      f0VMRgIBAQAAAAAAAAAAAA==\n"
                     "  - path: /etc/motd\n"
                     "    content: appended line\n"
                     "    append: true\n"
                     "    permissions: 0600\n"
                     "  - path: /home/u/.profile\n"
                     "    content: export A=1\n"
                     "    owner: u:u\n"
                     "    defer: true\n"
                     "    permissions: 420\n"
                     "  - path: /opt/z\n"
                     "    encoding: gz+b64\n"
                     "    content: %s\n"
                     "  - path: /opt/decimal\n"
                     "    permissions: 644\n"
                     "  - path: /opt/empty\n"
                     "    encoding: Text/Plain\n"
                     "    permissions: 0o750\n",
                     b64) < 0)
                abort();
        kiln_cloud_config_init(&cc);
        ok(parse(&cc, doc) == 0 && cc.n_write_files == 8, "write_files example shapes parse");
        if (cc.n_write_files == 8) {
                ok(file_is(&cc.write_files[0], "/etc/sysconfig/example", "CONFIG_A=1\nCONFIG_B=2\n", 0644,
                           "root:root"), "b64 content, owner, '0644'");
                ok(file_is(&cc.write_files[1], "/etc/example.conf", "# plain text\nline two\n", -1, NULL) &&
                   !cc.write_files[1].append && !cc.write_files[1].defer,
                   "text content, default mode and owner");
                ok(streq(cc.write_files[2].path, "/bin/tiny") && cc.write_files[2].len == 16 &&
                   !memcmp(cc.write_files[2].content, "\x7f" "ELF\x02\x01\x01\0\0\0\0\0\0\0\0\0", 16) &&
                   cc.write_files[2].permissions == 0555, "!!binary content");
                ok(file_is(&cc.write_files[3], "/etc/motd", "appended line", 0600, NULL) && cc.write_files[3].append,
                   "append: true; 0600 is octal in YAML 1.1");
                ok(file_is(&cc.write_files[4], "/home/u/.profile", "export A=1", 0644, "u:u") &&
                   cc.write_files[4].defer, "defer: true; permissions 420 (decimal) is 0644");
                ok(file_is(&cc.write_files[5], "/opt/z", "compressed content\n", -1, NULL), "gz+b64 content");
                ok(file_is(&cc.write_files[6], "/opt/decimal", "", 644, NULL) &&
                   has_warning(&cc, "write_files[6].permissions: 644 is a decimal number (mode 01204)"),
                   "permissions: 644 is decimal (01204) as in cloud-init, with a warning");
                ok(file_is(&cc.write_files[7], "/opt/empty", "", 0750, NULL), "encoding Text/Plain, '0o750'");
        }
        kiln_cloud_config_free(&cc);
        free(doc);

        /* gzip without base64: the raw bytes must be in the YAML, via !!binary. */
        if (asprintf(&doc, "write_files:\n  - path: /g\n    encoding: gzip\n    content: !!binary %s\n", b64) < 0)
                abort();
        kiln_cloud_config_init(&cc);
        ok(parse(&cc, doc) == 0 && cc.n_write_files == 1 &&
           file_is(&cc.write_files[0], "/g", "compressed content\n", -1, NULL), "encoding gzip with !!binary");
        kiln_cloud_config_free(&cc);
        free(doc);
        free(b64);
        free(gz);

        kiln_cloud_config_init(&cc);
        ok(parse_as(&cc, "t", "write_files:\n  - path: /x\n    encoding: gzip\n    content: notgz\n") == 1 &&
           cc.n_write_files == 0 && cc.n_errors == 1 && cc.errors[0].line == 4 &&
           streq(cc.errors[0].what, "write_files[0] (/x)") &&
           strstr(cc.errors[0].message, "write_files[0].content: gzip"),
           "gzip content that is not gzip: that file is not applied, with its line");
        kiln_cloud_config_free(&cc);

        /* base64 as Python's b64decode(): bytes outside the alphabet skipped,
         * decoding stops at the padding, a 4n+1 length cannot be decoded. */
        kiln_cloud_config_init(&cc);
        ok(parse_as(&cc, "t", "write_files:\n"
                              "  - {path: /a, encoding: b64, content: 'SGV$sb-G8_='}\n"
                              "  - {path: /b, encoding: b64, content: 'SGVsbG8=IGlnbm9yZWQ='}\n"
                              "  - {path: /c, encoding: b64, content: '#!'}\n"
                              "  - {path: /d, encoding: b64, content: 'S=GVsbG8='}\n"
                              "  - {path: /e, encoding: b64, content: 'QUJDR'}\n"
                              "  - {path: /f, encoding: b64, content: \"SGVsbG8\\xe9\"}\n"
                              "  - {path: /g, encoding: gz+b64, content: 'H4sIAAAAAAAA/8tIzcnJBwCGphA2BQAAAA==.'}\n") ==
                   2 &&
           cc.n_write_files == 5, "b64 content: lenient like Python's b64decode(), two files refused");
        if (cc.n_write_files == 5) {
                ok(file_is(&cc.write_files[0], "/a", "Hello", -1, NULL) &&
                   has_warning(&cc, "write_files[0].content: 3 bytes outside the base64 alphabet"),
                   "'$', '-' and '_' skipped, with a warning");
                ok(file_is(&cc.write_files[1], "/b", "Hello", -1, NULL) &&
                   has_warning(&cc, "write_files[1].content: 12 bytes outside the base64 alphabet or after its padding"),
                   "decoding stops at the padding that ends the data");
                ok(file_is(&cc.write_files[2], "/c", "", -1, NULL), "'#!' holds no base64 character: empty");
                ok(file_is(&cc.write_files[3], "/d", "Hello", -1, NULL), "'=' too early is skipped, as in Python");
                ok(file_is(&cc.write_files[4], "/g", "hello", -1, NULL), "gz+b64 with a stray character");
        }
        ok(cc.n_errors == 2 && streq(cc.errors[0].what, "write_files[4] (/e)") && cc.errors[0].line == 6 &&
           strstr(cc.errors[0].message, "base64: 5 characters of data, one more than a multiple of 4") &&
           streq(cc.errors[1].what, "write_files[5] (/f)") &&
           strstr(cc.errors[1].message, "base64: non-ASCII byte 0xc3 at byte 7"),
           "a 4n+1 length and non-ASCII (Python's str) are refused, that file alone");
        kiln_cloud_config_free(&cc);

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "write_files:\n  - path: /x\n    encoding: rot13\n    source: {uri: 'http://x/'}\n") == 0 &&
           has_warning(&cc, "unknown encoding 'rot13'") && has_warning(&cc, "write_files[0].source"),
           "unknown encoding and source: warnings, as cloud-init");
        kiln_cloud_config_free(&cc);
}

static void test_commands(void)
{
        struct kiln_cloud_config cc;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "#cloud-config\n"
                      "bootcmd:\n"
                      "  - echo 10.0.0.5 mirror.example > /etc/hosts\n"
                      "  - [cloud-init-per, once, mkfs-data, mkfs, -t, ext4, /dev/vdb]\n"
                      "runcmd:\n"
                      "  - [ls, -l, /]\n"
                      "  - [sh, -xc, \"echo $(date) ': hello world!'\"]\n"
                      "  - [sh, -c, echo \"=========hello world=========\"]\n"
                      "  - ls -l /root\n"
                      "  -\n"
                      "  - [sleep, 5]\n") == 0,
           "bootcmd and runcmd examples parse");
        ok(cc.n_bootcmd == 2 && streq(cc.bootcmd[0].shell, "echo 10.0.0.5 mirror.example > /etc/hosts") &&
           !cc.bootcmd[0].argv && n_strv(cc.bootcmd[1].argv) == 7 && !cc.bootcmd[1].shell,
           "bootcmd: a string runs under sh, a list is argv");
        ok(cc.n_runcmd == 5 && streq(cc.runcmd[1].argv[2], "echo $(date) ': hello world!'") &&
           streq(cc.runcmd[2].argv[2], "echo \"=========hello world=========\"") &&
           streq(cc.runcmd[3].shell, "ls -l /root") && streq(cc.runcmd[4].argv[1], "5"),
           "runcmd: argv lists, a shell string, null skipped, a number argument as written");
        kiln_cloud_config_free(&cc);
}

static void test_disk(void)
{
        struct kiln_cloud_config cc;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "growpart:\n  mode: auto\n  devices: ['/', '/dev/vdb1']\n  ignore_growroot_disabled: false\n"
                      "resize_rootfs: noblock\n") == 0 &&
           cc.growpart_mode == KILN_GROWPART_AUTO && n_strv(cc.growpart_devices) == 2 &&
           cc.resize_rootfs == KILN_RESIZE_NOBLOCK && !cc.warnings,
           "growpart mode auto with devices; resize_rootfs: noblock");
        ok(parse(&cc, "growpart: {mode: off}\nresize_rootfs: false\n") == 0 && cc.growpart_mode == KILN_GROWPART_OFF &&
           cc.resize_rootfs == KILN_RESIZE_FALSE, "growpart mode: off (a YAML 1.1 false); resize_rootfs: false");
        ok(parse(&cc, "growpart: {mode: growpart}\n") == 0 && cc.growpart_mode == KILN_GROWPART_AUTO &&
           !cc.growpart_devices, "mode: growpart is kiln's own grower; devices default");
        ok(parse(&cc, "growpart: {mode: 'off', ignore_growroot_disabled: true}\n") == 0 &&
           cc.growpart_mode == KILN_GROWPART_OFF && has_warning(&cc, "growroot-disabled"),
           "mode 'off' quoted; ignore_growroot_disabled: true is a warning");
        kiln_cloud_config_free(&cc);

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "#cloud-config\n"
                      "mounts:\n"
                      "  - [ /dev/ephemeral0, /mnt, auto, \"defaults,noexec\" ]\n"
                      "  - [ sdc, /opt/data ]\n"
                      "  - [ xvdh, /opt/data, auto, \"defaults,nofail\", \"0\", \"0\" ]\n"
                      "  - [ swap, null ]\n"
                      "  - [ ephemeral1 ]\n"
                      "mount_default_fields: [ None, None, auto, \"defaults,nofail\", \"0\", \"2\" ]\n"
                      "swap:\n  filename: /swap.img\n  size: auto\n") == 0,
           "mounts example parses");
        ok(cc.mounts_set && cc.n_mounts == 5 && streq(cc.mounts[0].field[0], "/dev/ephemeral0") &&
           streq(cc.mounts[0].field[3], "defaults,noexec") && !cc.mounts[0].field[4] &&
           streq(cc.mounts[2].field[5], "0") && streq(cc.mounts[3].field[0], "swap") && !cc.mounts[3].field[1] &&
           !cc.mounts[4].field[1],
           "mounts: fields kept, missing ones NULL, null mount point (removal)");
        ok(streq(cc.mount_default_fields[0], "None") && streq(cc.mount_default_fields[2], "auto") &&
           streq(cc.mount_default_fields[5], "2") && has(cc.unsupported, "swap"),
           "mount_default_fields; swap is unsupported");
        kiln_cloud_config_free(&cc);
}

static void test_misc(void)
{
        struct kiln_cloud_config cc;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "timezone: US/Eastern\nfinal_message: |\n  cloud-init has finished\n  up $UPTIME seconds\n") ==
                   0 &&
           streq(cc.timezone, "US/Eastern") && streq(cc.final_message, "cloud-init has finished\nup $UPTIME seconds\n"),
           "timezone, final_message");
        ok(parse(&cc, "power_state:\n  delay: now\n  mode: poweroff\n  message: Powering off\n  timeout: 2\n"
                      "  condition: true\n") == 0 &&
           cc.power_state.mode == KILN_POWER_POWEROFF && streq(cc.power_state.delay, "now") &&
           streq(cc.power_state.message, "Powering off") && cc.power_state.timeout == 2 &&
           !cc.power_state.condition_false && !cc.power_state.condition.argv && !cc.power_state.condition.shell,
           "power_state: poweroff now, condition true");
        ok(parse(&cc, "power_state:\n  mode: reboot\n  delay: 30\n  condition: ['sh', '-c', 'test -e /run/x']\n") ==
                   0 &&
           cc.power_state.mode == KILN_POWER_REBOOT && streq(cc.power_state.delay, "+30") &&
           cc.power_state.timeout == -1 && n_strv(cc.power_state.condition.argv) == 3,
           "power_state: reboot, delay 30 -> +30, a condition command");
        ok(parse(&cc, "power_state: {mode: halt, delay: '+5', condition: false}\n") == 0 &&
           cc.power_state.mode == KILN_POWER_HALT && streq(cc.power_state.delay, "+5") &&
           cc.power_state.condition_false, "power_state: halt +5, condition false");
        kiln_cloud_config_free(&cc);

        /* YAML features PyYAML has: anchors, aliases, merge keys. */
        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "x-admin: &admin\n  shell: /bin/bash\n  sudo: ALL=(ALL) NOPASSWD:ALL\n  groups: [adm]\n"
                      "x-key: &key ssh-ed25519 AAAAC3Nza shared@key\n"
                      "users:\n"
                      "  - <<: *admin\n    name: a\n    ssh_authorized_keys: [*key]\n"
                      "  - <<: *admin\n    name: b\n    shell: /bin/zsh\n"
                      "ssh_authorized_keys: [*key]\n") == 0 &&
           cc.n_users == 2 && streq(cc.users[0].shell, "/bin/bash") && n_strv(cc.users[0].sudo) == 1 &&
           streq(cc.users[0].ssh_authorized_keys[0], "ssh-ed25519 AAAAC3Nza shared@key") &&
           streq(cc.users[1].shell, "/bin/zsh") && streq(cc.users[1].name, "b") &&
           streq(cc.ssh_authorized_keys[0], "ssh-ed25519 AAAAC3Nza shared@key") && has(cc.unsupported, "x-admin"),
           "anchors, aliases and '<<' merge keys (explicit keys win)");
        kiln_cloud_config_free(&cc);

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "") == 0 && parse(&cc, "#cloud-config\n") == 0 && parse(&cc, "#cloud-config\n---\n...\n") == 0 &&
           !cc.hostname && !cc.users_set, "empty documents set nothing");
        kiln_cloud_config_free(&cc);
}

static void test_network(void)
{
        struct kiln_cloud_config cc;
        const struct kiln_net_iface *f;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "#cloud-config\nnetwork: {config: disabled}\n") == 0 && cc.network_set && cc.network.disabled &&
           cc.network.n_ifaces == 0 && !has(cc.unsupported, "network"),
           "network: {config: disabled} is supported, not an unsupported key");
        ok(parse(&cc, "network:\n  version: 2\n  ethernets:\n    id0:\n      match:\n"
                      "        macaddress: 'AA:BB:CC:00:11:22'\n      set-name: eth0\n      dhcp4: true\n"
                      "      dhcp4-overrides: {route-metric: 50}\n      addresses: [192.0.2.10/24]\n"
                      "      nameservers: {addresses: [10.0.0.2], search: [example.com]}\n"
                      "  bonds:\n    bond0: {interfaces: [id0]}\n") == 0 && cc.network_set,
           "a later part's small v2 network: parses");
        f = cc.network.n_ifaces == 1 ? &cc.network.ifaces[0] : NULL;
        ok(f && !cc.network.disabled && cc.network.version == 2 && streq(f->id, "id0") &&
           streq(f->match_mac, "aa:bb:cc:00:11:22") && streq(f->set_name, "eth0") && f->dhcp4 &&
           f->dhcp4_metric == 50 && f->primary && n_strv(f->addresses) == 1 &&
           streq(f->addresses[0], "192.0.2.10/24") && n_strv(f->nameservers) == 1 && streq(f->search[0], "example.com"),
           "it replaces the earlier one: match macaddress, set-name, dhcp4, route-metric, addresses, nameservers");
        ok(n_strv(cc.network.warnings) == 1 &&
           strstr(cc.network.warnings[0], "test:13: bonds are not supported (bond0 skipped)") && !cc.warnings,
           "its warnings stay in network.warnings, with the part's name and line");
        ok(parse(&cc, "hostname: h\n") == 0 && cc.network_set && cc.network.n_ifaces == 1,
           "a part without network: leaves it");
        ok(parse_as(&cc, "bad", "hostname: x\nnetwork:\n  version: 2\n  ethernets:\n    eth0: {dhcp4: maybe}\n") ==
                   1 &&
           cc.n_errors == 1 && streq(cc.errors[0].doc, "bad") && cc.errors[0].line == 5 &&
           streq(cc.errors[0].what, "network") &&
           streq(cc.errors[0].message, "key 'network.ethernets.eth0.dhcp4': expected true or false") &&
           !cc.network_set && cc.network.n_ifaces == 0 && streq(cc.hostname, "x"),
           "a bad network: that key alone is not applied (and replaces the earlier one), with its path and line");
        ok(parse_as(&cc, "big", "network: {version: 2, ethernets: {e: {nameservers: {addresses: [1.0.0.1, 1.0.0.2, "
                                "1.0.0.3, 1.0.0.4, 1.0.0.5, 1.0.0.6, 1.0.0.7, 1.0.0.8, 1.0.0.9, 1.0.0.10, 1.0.0.11, "
                                "1.0.0.12, 1.0.0.13, 1.0.0.14, 1.0.0.15, 1.0.0.16, 1.0.0.17]}}}}\n") == 1 &&
           cc.n_errors == 2 && strstr(cc.errors[1].message, "more than 16 name servers"),
           "over a network-config limit: that key is not applied, as any malformed key");
        ok(parse(&cc, "network:\n  network:\n    version: 1\n    config:\n      - {type: physical, name: eth1, "
                      "subnets: [{type: dhcp}]}\n") == 0 && cc.network.version == 1 && cc.network.n_ifaces == 1 &&
           streq(cc.network.ifaces[0].id, "eth1"), "network: holding the wrapped shape too (v1)");
        ok(parse(&cc, "network:\n") == 0 && cc.network_set && cc.network.n_ifaces == 0 && cc.network.version == 0,
           "network: null sets an empty configuration");
        kiln_cloud_config_free(&cc);
        ok(!cc.network_set && !cc.network.ifaces, "freed");
}

static void test_merge(void)
{
        struct kiln_cloud_config cc;

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "hostname: first\nruncmd: [a, b]\npackages: [x]\nusers: [default]\n") == 0 &&
           parse(&cc, "hostname: second\nruncmd: [c]\npackages: [y]\napt: {}\n") == 0,
           "two documents parse");
        ok(streq(cc.hostname, "second") && cc.n_runcmd == 1 && streq(cc.runcmd[0].shell, "c") && cc.n_users == 1 &&
           n_strv(cc.unsupported) == 2 && streq(cc.unsupported[0], "packages") && streq(cc.unsupported[1], "apt"),
           "a later document's key replaces the earlier one's; others stay; unsupported listed once");

        /* A document that is not YAML leaves everything as it was. */
        ok(parse_as(&cc, "bad", "hostname: third\nruncmd: [d]\nusers: [a\n") == -EBADMSG,
           "a third document that is not YAML fails");
        ok(streq(cc.hostname, "second") && cc.n_runcmd == 1 && streq(cc.runcmd[0].shell, "c") && cc.n_users == 1 &&
           n_strv(cc.unsupported) == 2 && cc.n_errors == 0, "the struct is untouched by the failed document");

        /* A bad key replaces the earlier document's (cloud-init merges first,
         * then its module fails on the value); the errors add up. */
        ok(parse_as(&cc, "third", "hostname: [third]\nruncmd: [d]\n") == 1 && !cc.hostname && cc.n_runcmd == 1 &&
           streq(cc.runcmd[0].shell, "d") && parse_as(&cc, "fourth", "runcmd: ls\n") == 1 && cc.n_runcmd == 0 &&
           cc.n_errors == 2 && streq(cc.errors[0].doc, "third") && streq(cc.errors[0].what, "hostname") &&
           streq(cc.errors[1].doc, "fourth") && streq(cc.errors[1].what, "runcmd"),
           "a bad key in a later document unsets it; every document's errors are kept");
        kiln_cloud_config_free(&cc);
}

static void test_errors(void)
{
        static const struct {
                const char *what, *doc, *msg;
        } cases[] = {
                { "bad YAML (tab)", "#cloud-config\nusers:\n\t- name: a\n", "doc:3: invalid YAML" },
                { "bad YAML (unclosed flow)", "runcmd: [ls\n", "doc:2: invalid YAML" },
                { "not a mapping", "#cloud-config\n- a\n- b\n", "doc:2: #cloud-config must be a mapping" },
                { "a string", "#cloud-config\njust words\n", "doc:2: #cloud-config must be a mapping" },
                { "two YAML documents", "hostname: a\n---\nhostname: b\n", "more than one YAML document" },
                { "an alias without anchor", "runcmd: [*nope]\n", "alias '*nope' has no anchor" },
                { "a recursive alias", "runcmd: &a [*a]\n", "alias '*a' refers to a node that contains it" },
                { "an unknown tag", "hostname: !!python/object:os.system ls\n", "unsupported YAML tag" },
                { "a mapping key", "{[a]: b}: c\n", "keys must be strings" },
                { "NUL in a string", "hostname: \"a\\0b\"\n", "NUL byte" },
        };
        /* A bad value: that key (or entry) alone is not applied. */
        static const struct {
                const char *what, *doc;
                size_t line;
                const char *key, *msg;
        } keys[] = {
                { "sudo: true", "users:\n  - name: a\n  - name: b\n  - name: c\n    sudo: true\n", 5, "users[2] (c)",
                  "key 'users[2].sudo': expected a string, a list or false" },
                { "a null user", "users:\n  - name: a\n  -\n", 3, "users[1]", "expected a user (a mapping) or a name" },
                { "a user mapping's null", "users:\n  a:\n", 2, "users.a (a)", "expected a user (a mapping) or a name" },
                { "hostname as a list", "hostname: [a]\n", 1, "hostname", "key 'hostname': expected a string" },
                { "a group as a list", "groups:\n  - ok\n  - [a]\n", 3, "groups[1]", "expected a group name" },
                { "write_files not a list", "write_files: {path: /x}\n", 1, "write_files",
                  "key 'write_files': expected a list of files" },
                { "a file without a path", "write_files:\n  - content: x\n", 2, "write_files[0]",
                  "key 'write_files[0]': a file needs a 'path'" },
                { "permissions 'rw-r--r--'", "write_files:\n  - path: /x\n    permissions: rw-r--r--\n", 3,
                  "write_files[0] (/x)", "key 'write_files[0].permissions': expected an octal mode" },
                { "permissions out of range", "write_files:\n  - path: /x\n    permissions: 0o77777\n", 3,
                  "write_files[0] (/x)", "expected an octal mode" },
                { "append: maybe", "write_files:\n  - path: /x\n    append: maybe\n", 3, "write_files[0] (/x)",
                  "key 'write_files[0].append': expected true or false" },
                { "runcmd as a string", "runcmd: ls -l\n", 1, "runcmd", "key 'runcmd': expected a list of commands" },
                { "a nested list in runcmd", "runcmd:\n  - [ls, [a]]\n", 2, "runcmd",
                  "key 'runcmd[0][1]': expected an argument" },
                { "growpart mode gpart", "growpart: {mode: gpart}\n", 1, "growpart",
                  "key 'growpart.mode': expected auto, growpart" },
                { "resize_rootfs: sometimes", "resize_rootfs: sometimes\n", 1, "resize_rootfs",
                  "expected true, false or \"noblock\"" },
                { "seven mount fields", "mounts:\n  - [a, b, c, d, e, f, g]\n", 2, "mounts",
                  "key 'mounts[0]': 7 fstab fields" },
                { "power_state without mode", "power_state: {delay: now}\n", 1, "power_state", "'mode' is required" },
                { "power_state delay soon", "power_state: {mode: reboot, delay: soon}\n", 1, "power_state",
                  "key 'power_state.delay': expected \"now\" or \"+MINUTES\"" },
                { "ssh_pwauth: maybe", "ssh_pwauth: maybe\n", 1, "ssh_pwauth", "expected true, false or \"unchanged\"" },
                { "ssh_genkeytypes: dss", "ssh_genkeytypes: [ed25519, dss]\n", 1, "ssh_genkeytypes",
                  "key 'ssh_genkeytypes[1]'" },
                { "uid -1", "users:\n  - name: a\n    uid: -1\n", 3, "users[0] (a)", "expected a uid" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct kiln_cloud_config cc;
                int r;

                kiln_cloud_config_init(&cc);
                r = kiln_cloud_config_parse(&cc, "doc", cases[i].doc, strlen(cases[i].doc));
                ok(r == -EBADMSG && strstr(kiln_last_error(), cases[i].msg) && cc.n_errors == 0, "%s: %s",
                   cases[i].what, kiln_last_error());
                kiln_cloud_config_free(&cc);
        }
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                struct kiln_cloud_config cc;
                char *doc;
                int r;

                /* A key after the bad one is still applied. */
                if (asprintf(&doc, "%stimezone: UTC\n", keys[i].doc) < 0)
                        abort();
                kiln_cloud_config_init(&cc);
                r = kiln_cloud_config_parse(&cc, "doc", doc, strlen(doc));
                bool good = r == 1 && cc.n_errors == 1 && streq(cc.errors[0].doc, "doc") &&
                            cc.errors[0].line == keys[i].line && streq(cc.errors[0].what, keys[i].key) &&
                            strstr(cc.errors[0].message, keys[i].msg) && streq(cc.timezone, "UTC");
                ok(good, "%s: not applied, the rest is", keys[i].what);
                if (!good)
                        tap_diag("  r %d, %zu errors: %s:%zu: %s: %s", r, cc.n_errors,
                                 cc.n_errors ? cc.errors[0].doc : "", cc.n_errors ? cc.errors[0].line : 0,
                                 cc.n_errors ? cc.errors[0].what : "", cc.n_errors ? cc.errors[0].message : kiln_last_error());
                kiln_cloud_config_free(&cc);
                free(doc);
        }
}

/* One typo does not drop the part: the review's case, and cloud-init's lenient shapes. */
static void test_key_by_key(void)
{
        struct kiln_cloud_config cc;
        struct kiln_cc_user def;

        kiln_cloud_config_init(&cc);
        ok(parse_as(&cc, "user-data part 1",
                    "#cloud-config\n"
                    "hostname: [web, 1]\n"
                    "users:\n"
                    "  - default\n"
                    "  - name: alice\n"
                    "    ssh_authorized_keys: [ssh-ed25519 AAAAC3Nza alice@home]\n"
                    "  - name: bob\n"
                    "    sudo: yes\n"
                    "  - name: carol\n"
                    "write_files:\n"
                    "  - {path: /etc/motd, content: hi}\n"
                    "runcmd: [echo one]\n") == 2,
           "a bad user and a bad hostname: the part is applied without them");
        ok(cc.users_set && cc.n_users == 3 && cc.users[0].is_default && streq(cc.users[1].name, "alice") &&
           n_strv(cc.users[1].ssh_authorized_keys) == 1 && streq(cc.users[2].name, "carol"),
           "users: default, alice (with her key) and carol; bob left out");
        ok(cc.n_write_files == 1 && cc.n_runcmd == 1 && !cc.hostname, "write_files and runcmd applied; hostname unset");
        ok(cc.n_errors == 2 && streq(cc.errors[0].what, "hostname") && cc.errors[0].line == 2 &&
           streq(cc.errors[1].what, "users[2] (bob)") && cc.errors[1].line == 8 &&
           streq(cc.errors[1].message, "key 'users[2].sudo': expected a string, a list or false") &&
           streq(cc.errors[1].doc, "user-data part 1"),
           "each bad key or entry listed with its document, line and message");
        kiln_cloud_config_free(&cc);

        /* users as a mapping: cloud-init's deprecated {name: true or config}. */
        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "users:\n  default: true\n  alice: yes\n  bob: {groups: [adm], shell: /bin/sh}\n"
                      "  carol: false\n  dave: 'On'\n  erin: 1\n  frank: 2\n") == 0 &&
           cc.n_users == 5 && cc.users[0].is_default && streq(cc.users[1].name, "alice") &&
           streq(cc.users[2].name, "bob") && n_strv(cc.users[2].groups) == 1 && streq(cc.users[2].shell, "/bin/sh") &&
           streq(cc.users[3].name, "dave") && streq(cc.users[4].name, "erin") &&
           has_warning(&cc, "users: a mapping of users is deprecated"),
           "users as a mapping: true values and configs are users, false ones are not (util.is_true)");
        kiln_cloud_config_free(&cc);

        /* Entries without a name are the default user's (cloud-init's _normalize_users). */
        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "system_info:\n  default_user:\n    name: admin\n    shell: /bin/bash\n    groups: [adm, sudo]\n"
                      "    lock_passwd: true\n") == 0 &&
           parse(&cc, "users:\n"
                      "  - ssh_authorized_keys: [ssh-ed25519 AAAAC3Nza one@x]\n"
                      "    shell: /bin/zsh\n"
                      "    groups: [docker]\n"
                      "  - name: x\n"
                      "  - gecos: Second\n"
                      "    ssh_authorized_keys: [ssh-ed25519 AAAAC3Nza two@x]\n") == 0,
           "users entries without a name parse");
        ok(cc.n_users == 2 && cc.users[0].is_default && streq(cc.users[0].name, "default") &&
           n_strv(cc.users[0].ssh_authorized_keys) == 1 && streq(cc.users[0].gecos, "Second") &&
           streq(cc.users[1].name, "x") && has_warning(&cc, "users[0]: no 'name': merged into the default user"),
           "they merge into one default entry (the earlier one's keys win), listed first");
        kiln_cc_default_user_view(&cc, &def);
        ok(streq(def.name, "admin") && streq(def.shell, "/bin/bash") && def.lock_passwd == KILN_TRUE &&
           n_strv(def.ssh_authorized_keys) == 1 && streq(def.ssh_authorized_keys[0], "ssh-ed25519 AAAAC3Nza one@x") &&
           n_strv(def.groups) == 1 && streq(def.groups[0], "docker") && streq(def.gecos, "Second"),
           "the default user: the image's keys win, the entry fills the rest, its groups replace the image's");
        ok(kiln_cc_creates_user(&cc, "admin") && kiln_cc_creates_user(&cc, "x") && !kiln_cc_creates_user(&cc, "root") &&
           kiln_cc_creates_group(&cc, "docker") && kiln_cc_creates_group(&cc, "x") &&
           kiln_cc_creates_group(&cc, "admin") && !kiln_cc_creates_group(&cc, "adm"),
           "the users and groups this configuration creates");
        ok(parse(&cc, "users: [{name: svc, primary_group: daemons, groups: [web]}]\ngroups: [ops]\n") == 0 &&
           !kiln_cc_creates_user(&cc, "admin") && kiln_cc_creates_group(&cc, "daemons") &&
           kiln_cc_creates_group(&cc, "web") && kiln_cc_creates_group(&cc, "ops") && !kiln_cc_creates_group(&cc, "svc"),
           "without 'default' no default user; primary_group instead of a private group");
        kiln_cloud_config_free(&cc);

        kiln_cloud_config_init(&cc);
        ok(parse(&cc, "users:\n  - ssh_authorized_keys: [k]\n") == 0 && cc.n_users == 1 && cc.users[0].is_default,
           "an entry without a name alone makes the default user, as in cloud-init");
        kiln_cloud_config_free(&cc);
}

static void test_limits(void)
{
        struct kiln_cloud_config cc;
        char *doc, *p;
        int r;

        /* Billion laughs through aliases: 4096 x 4096 arguments. */
        doc = malloc(64 * 1024);
        p = doc;
        p += sprintf(p, "x: &a [");
        for (int i = 0; i < 4096; i++)
                p += sprintf(p, "%sa", i ? "," : "");
        p += sprintf(p, "]\nruncmd: [");
        for (int i = 0; i < 4096; i++)
                p += sprintf(p, "%s*a", i ? "," : "");
        sprintf(p, "]\n");
        kiln_cloud_config_init(&cc);
        r = kiln_cloud_config_parse(&cc, "doc", doc, strlen(doc));
        ok(r == -EBADMSG && strstr(kiln_last_error(), "expands to too much data"), "alias bomb: %s",
           kiln_last_error());
        kiln_cloud_config_free(&cc);
        free(doc);

        /* More than KILN_CC_MAX_ITEMS entries in a list. */
        doc = malloc(64 * 1024);
        p = doc + sprintf(doc, "runcmd: [");
        for (int i = 0; i < KILN_CC_MAX_ITEMS + 1; i++)
                p += sprintf(p, "%sa", i ? "," : "");
        sprintf(p, "]\n");
        kiln_cloud_config_init(&cc);
        r = kiln_cloud_config_parse(&cc, "doc", doc, strlen(doc));
        ok(r == -EBADMSG && strstr(kiln_last_error(), "more than 4096 entries"), "4097 commands: %s",
           kiln_last_error());
        free(doc);

        /* Deeper than KILN_CC_MAX_DEPTH. */
        doc = malloc(256);
        p = doc + sprintf(doc, "runcmd: ");
        for (int i = 0; i < KILN_CC_MAX_DEPTH + 1; i++)
                *p++ = '[';
        for (int i = 0; i < KILN_CC_MAX_DEPTH + 1; i++)
                *p++ = ']';
        *p = 0;
        r = kiln_cloud_config_parse(&cc, "doc", doc, strlen(doc));
        ok(r == -EBADMSG && strstr(kiln_last_error(), "nesting deeper than 16"), "17 levels: %s", kiln_last_error());
        free(doc);

        size_t big = KILN_CC_MAX_BYTES + 1;
        doc = malloc(big);
        memset(doc, '#', big);
        r = kiln_cloud_config_parse(&cc, "doc", doc, big);
        ok(r == -EFBIG && strstr(kiln_last_error(), "16 MiB"), "16 MiB + 1: %s", kiln_last_error());
        free(doc);

        /* A big but legal document: one large file. */
        size_t n = 8u << 20;
        doc = malloc(n + 64);
        p = doc + sprintf(doc, "write_files:\n  - path: /big\n    content: ");
        memset(p, 'x', n);
        strcpy(p + n, "\n");
        r = kiln_cloud_config_parse(&cc, "doc", doc, strlen(doc));
        ok(r == 0 && cc.n_write_files == 1 && cc.write_files[0].len == n, "an 8 MiB file's content");
        kiln_cloud_config_free(&cc);
        free(doc);
}

int main(void)
{
        test_hostname();
        test_users();
        test_ssh();
        test_write_files();
        test_commands();
        test_disk();
        test_misc();
        test_network();
        test_merge();
        test_errors();
        test_key_by_key();
        test_limits();
        return tap_done();
}
