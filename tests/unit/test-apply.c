/* SPDX-License-Identifier: MIT */
/*
 * cloud-init-lite's first-boot modules (apply.h) on a root in a temporary
 * folder: users and groups, homes from skel, sudo, authorized keys and
 * root's forced command, sshd settings, host keys, write_files, hostname and
 * hosts, timezone, fstab, units, staging and the stage runner running the
 * staged scripts with the host's /bin/sh.  Each module runs twice to show it
 * does not duplicate; symlinks that lead out of the root are refused or kept
 * inside; the account files' lock is honoured by concurrent writers.
 * The struct kiln_cloud_config is filled by hand: no YAML here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "apply.h"
#include "authkeys.h"
#include "util.h"

/* The config structs hold char *, as the parser fills them; here literals do. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"

static char base[] = "/tmp/kiln-test-apply-XXXXXX";
static bool is_root;

#define KEY1 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMetaDataKeyOne meta@laptop"
#define KEY2 "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCtopLevelKeyTwo top@desk"
#define KEY3 "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAliceKeyThree alice@home"
#define FORCED                                                                                          \
        "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,command=\"echo 'Please login as the " \
        "user \\\"admin\\\" rather than the user \\\"root\\\".';echo;sleep 10;exit 142\""

/* ---- helpers -------------------------------------------------------------- */

static bool is_str(const char *got, const char *expected, const char *what)
{
        bool same = got && expected && strcmp(got, expected) == 0;

        if (!tap_ok(same, "%s", what)) {
                tap_diag("  got:      '%s'", got ? got : "(null)");
                tap_diag("  expected: '%s'", expected ? expected : "(null)");
        }
        return same;
}

static bool has(const char *text, const char *needle, const char *what)
{
        bool found = text && strstr(text, needle);

        if (!tap_ok(found, "%s", what)) {
                tap_diag("  looked for: '%s'", needle);
                tap_diag("  in:         '%s'", text ? text : "(null)");
        }
        return found;
}

static size_t count(const char *text, const char *needle)
{
        size_t n = 0;

        for (const char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
                n++;
        return n;
}

static char *path_of(const char *root, const char *rel)
{
        static char buf[8][4096];
        static int i;
        char *p = buf[i++ % 8];

        snprintf(p, 4096, "%s/%s", root, rel);
        return p;
}

static void mkdirs(const char *path)
{
        char tmp[4096];

        snprintf(tmp, sizeof(tmp), "%s", path);
        for (char *p = tmp + 1; *p; p++)
                if (*p == '/') {
                        *p = 0;
                        mkdir(tmp, 0755);
                        *p = '/';
                }
        mkdir(tmp, 0755);
}

static void put(const char *root, const char *rel, mode_t mode, const char *text)
{
        char *path = path_of(root, rel), dir[4096];
        FILE *f;

        snprintf(dir, sizeof(dir), "%s", path);
        *strrchr(dir, '/') = 0;
        mkdirs(dir);
        unlink(path);
        f = fopen(path, "we");
        if (!f) {
                tap_diag("cannot write %s: %m", path);
                return;
        }
        fputs(text, f);
        fclose(f);
        chmod(path, mode);
}

static char *slurp(const char *root, const char *rel)
{
        char *text = NULL;
        uint8_t *data = NULL;
        size_t len;

        if (read_full_file(path_of(root, rel), 1 << 24, &data, &len) < 0)
                return NULL;
        text = (char *)data;
        return text;
}

static mode_t mode_of(const char *root, const char *rel)
{
        struct stat st;
        if (lstat(path_of(root, rel), &st) < 0)
                return (mode_t)-1;
        return st.st_mode & 07777;
}

static bool exists(const char *root, const char *rel)
{
        struct stat st;
        return lstat(path_of(root, rel), &st) == 0;
}

/* The line of an account file for name, or NULL (static buffer). */
static const char *entry(const char *root, const char *file, const char *name)
{
        static char line[1024];
        char *text = slurp(root, file);
        size_t n = strlen(name);
        const char *found = NULL;

        for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
                if (!strncmp(l, name, n) && l[n] == ':') {
                        snprintf(line, sizeof(line), "%s", l);
                        found = line;
                        break;
                }
        free(text);
        return found;
}

static unsigned field_uint(const char *line, int i)
{
        const char *p = line;
        while (p && i-- > 0)
                p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
        return p ? (unsigned)strtoul(p, NULL, 10) : (unsigned)-1;
}

static void logger(void *ud, const char *fmt, ...)
{
        char line[1200];
        va_list ap;

        (void)ud;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        tap_diag("  log: %s", line);
}

static char *make_root(const char *name)
{
        char *root = NULL;

        if (asprintf(&root, "%s/%s", base, name) < 0)
                abort();
        mkdirs(root);
        put(root, "etc/passwd", 0644,
            "root:x:0:0:root:/root:/bin/bash\n"
            "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
            "olduser:x:1000:1000:Old User,,,:/home/olduser:/bin/bash\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        put(root, "etc/group", 0644,
            "root:x:0:\nadm:x:4:\nsudo:x:27:\nshadow:x:42:\nusers:x:100:\nolduser:x:1000:\nnogroup:x:65534:\n");
        put(root, "etc/shadow", 0640,
            "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nolduser:$6$old$oldhash:19000:0:99999:7:::\n"
            "nobody:*:19000:0:99999:7:::\n");
        put(root, "etc/gshadow", 0640,
            "root:*::\nadm:*::\nsudo:*::\nshadow:*::\nusers:*::\nolduser:!::\nnogroup:*::\n");
        if (is_root) {
                chown(path_of(root, "etc/shadow"), 0, 42);
                chown(path_of(root, "etc/gshadow"), 0, 42);
        }
        put(root, "etc/login.defs", 0644,
            "# test\nMAIL_DIR /var/mail\nUID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\n"
            "GID_MIN 1000\nGID_MAX 60000\nHOME_MODE 0750\nUMASK 022\n");
        put(root, "etc/skel/.bashrc", 0644, "# bashrc\n");
        put(root, "etc/skel/.config/app/settings", 0600, "x=1\n");
        symlink(".bashrc", path_of(root, "etc/skel/.bashrc-link"));
        put(root, "bin/bash", 0755, "");
        symlink("/bin/sh", path_of(root, "bin/sh"));
        put(root, "etc/sudoers", 0440, "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n");
        put(root, "etc/ssh/sshd_config", 0644,
            "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n");
        put(root, "etc/ssh/ssh_host_rsa_key", 0600, "old private\n");
        put(root, "etc/ssh/ssh_host_rsa_key.pub", 0644, "ssh-rsa AAAA old\n");
        put(root, "etc/ssh/moduli", 0644, "moduli\n");
        put(root, "usr/share/zoneinfo/Europe/Berlin", 0644, "TZif2\n");
        put(root, "etc/fstab", 0644, "# static\nUUID=1234 / ext4 defaults 0 1\n");
        put(root, "etc/hosts", 0644, "127.0.0.1 localhost\n127.0.1.1 old.example old\n::1 ip6-localhost\n");
        put(root, "lib/systemd/systemd", 0755, "");
        mkdirs(path_of(root, "sbin"));
        symlink("/lib/systemd/systemd", path_of(root, "sbin/init"));
        mkdirs(path_of(root, "root"));
        mkdirs(path_of(root, "home"));
        mkdirs(path_of(root, "run"));
        put(root, "var/lib/kiln/instance-id", 0644, "i-0123456789abcdef0\n");
        return root;
}

static int open_root(const char *root)
{
        return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static char *strv_a[] = { NULL };

/* ---- users ---------------------------------------------------------------- */

static char *admin_groups[] = { "adm", "sudo", "newgrp", NULL };
static char *admin_sudo[] = { "ALL=(ALL) NOPASSWD:ALL", NULL };
static char *alice_groups[] = { "users", NULL };
static char *alice_keys[] = { KEY3, NULL };
static char *old_groups[] = { "sudo", NULL };
static char *top_keys[] = { KEY2, NULL };
static char *meta_keys[] = { KEY1, NULL };
static char *team_members[] = { "alice", "ghost", NULL };

static struct kiln_cc_user test_users[6];
static struct kiln_cc_group test_groups[1];

static void fill_config(struct kiln_cloud_config *cc)
{
        memset(cc, 0, sizeof(*cc));
        cc->preserve_hostname = KILN_UNSET;
        cc->manage_etc_hosts = KILN_HOSTS_UNSET;
        cc->disable_root = KILN_UNSET;
        cc->ssh_pwauth = KILN_UNSET;
        cc->ssh_deletekeys = KILN_UNSET;
        cc->growpart_mode = KILN_GROWPART_UNSET;
        cc->resize_rootfs = KILN_RESIZE_UNSET;
        cc->power_state.mode = KILN_POWER_UNSET;
        cc->power_state.timeout = -1;

        cc->default_user = (struct kiln_cc_user){ .name = "admin", .is_default = true, .groups = admin_groups,
                                                  .sudo = admin_sudo, .lock_passwd = KILN_TRUE, .uid = -1,
                                                  .gecos = "Default User" };
        cc->default_user_set = true;
        memset(test_users, 0, sizeof(test_users));
        test_users[0] = (struct kiln_cc_user){ .is_default = true, .uid = -1, .lock_passwd = KILN_UNSET };
        test_users[1] = (struct kiln_cc_user){ .name = "alice", .gecos = "Alice A", .groups = alice_groups,
                                               .passwd = "$6$salt$alicehash", .lock_passwd = KILN_FALSE,
                                               .ssh_authorized_keys = alice_keys, .uid = -1 };
        test_users[2] = (struct kiln_cc_user){ .name = "svc", .system = true, .uid = -1, .lock_passwd = KILN_UNSET };
        test_users[3] = (struct kiln_cc_user){ .name = "bob", .primary_group = "devs", .no_create_home = true,
                                               .uid = 2000, .homedir = "/srv/bob", .shell = "/bin/sh",
                                               .lock_passwd = KILN_UNSET };
        test_users[4] = (struct kiln_cc_user){ .name = "olduser", .groups = old_groups, .uid = -1,
                                               .lock_passwd = KILN_UNSET };
        test_users[5] = (struct kiln_cc_user){ .name = "bad:name", .uid = -1, .lock_passwd = KILN_UNSET };
        cc->users = test_users;
        cc->n_users = 6;
        cc->users_set = true;
        test_groups[0] = (struct kiln_cc_group){ .name = "team", .members = team_members };
        cc->groups = test_groups;
        cc->n_groups = 1;
        cc->ssh_authorized_keys = top_keys;
}

static struct kiln_instance test_instance = {
        .datasource = "nocloud",
        .instance_id = "i-0123456789abcdef0",
        .local_hostname = "ip-10-0-0-1.ec2.internal",
        .public_keys = meta_keys,
};

static void test_names(void)
{
        ok(kiln_valid_user_name("alice") && kiln_valid_user_name("_svc") && kiln_valid_user_name("a.b-c_d") &&
                   kiln_valid_user_name("machine$"),
           "valid user names are accepted");
        ok(!kiln_valid_user_name("") && !kiln_valid_user_name("bad:name") && !kiln_valid_user_name("new\nline") &&
                   !kiln_valid_user_name("-dash") && !kiln_valid_user_name("1digit") &&
                   !kiln_valid_user_name("a234567890123456789012345678901234") && !kiln_valid_user_name("a b") &&
                   !kiln_valid_user_name("mid$dle"),
           "bad user names are refused (':', newline, leading '-', digit, > 32, space, '$' inside)");
}

static void test_users_groups(void)
{
        char *root = make_root("users");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .root_name = root, .log = logger,
                                      .instance = &test_instance };
        const char *e;
        int r;

        fill_config(&cc);
        kiln_clear_error();
        r = kiln_apply_users(&ctx, &cc);
        ok(r == -EINVAL && strstr(kiln_last_error(), "bad:name"), "a bad user name fails the module, naming it (%s)",
           kiln_last_error());

        /* groups: first, so "team" takes GID 1001 */
        is_str(entry(root, "etc/passwd", "admin"), "admin:x:1001:1002:Default User:/home/admin:/bin/bash",
               "default user: next UID after 1000, private group (GID 1001 taken by team), /bin/bash since it exists");
        e = entry(root, "etc/group", "newgrp");
        ok(e && field_uint(e, 2) == 1003, "missing supplementary group created with the next GID (%s)", e ? e : "-");
        e = entry(root, "etc/passwd", "alice");
        ok(e && field_uint(e, 2) == 1002 && field_uint(e, 3) == 1004 && strstr(e, ":Alice A:/home/alice:"),
           "alice: UID 1002, GID 1004 (1002 taken), gecos (%s)", e ? e : "-");
        e = entry(root, "etc/passwd", "svc");
        ok(e && field_uint(e, 2) == 999 && field_uint(e, 3) == 999, "system user: highest free system UID/GID (%s)",
           e ? e : "-");
        is_str(entry(root, "etc/passwd", "bob"), "bob:x:2000:1005::/srv/bob:/bin/sh",
               "bob: given uid, primary_group created, homedir and shell as given");
        ok(!exists(root, "srv/bob"), "no_create_home: no home made");
        ok(!exists(root, "home/svc"), "system user: no home made");
        ok(!entry(root, "etc/group", "bob"), "primary_group given: no user private group");

        /* shadow */
        e = entry(root, "etc/shadow", "admin");
        ok(e && !strncmp(e, "admin:!*:", 9) && strstr(e, ":0:99999:7:::"), "locked user without a password: '!*' (%s)",
           e ? e : "-");
        e = entry(root, "etc/shadow", "alice");
        ok(e && !strncmp(e, "alice:$6$salt$alicehash:", 24), "lock_passwd false: the hash as given");
        e = entry(root, "etc/shadow", "olduser");
        ok(e && !strncmp(e, "olduser:!$6$old$oldhash:", 24), "existing user locked by default ('!' prefix)");
        is_int(count(slurp(root, "etc/passwd"), "\nolduser:"), 1, "existing user not duplicated");
        ok(!entry(root, "etc/passwd", "bad:name") && !entry(root, "etc/passwd", "bad"), "bad name not written");

        /* groups */
        e = entry(root, "etc/group", "sudo");
        is_str(e, "sudo:x:27:admin,olduser", "sudo: default user and the existing user added");
        e = entry(root, "etc/gshadow", "sudo");
        is_str(e, "sudo:*::admin,olduser", "gshadow members follow");
        is_str(entry(root, "etc/group", "users"), "users:x:100:alice", "alice in users");
        e = entry(root, "etc/group", "team");
        ok(e && !strcmp(strrchr(e, ':'), ":") && field_uint(e, 2) >= 1000,
           "top-level group created; 'alice' was not a user yet, 'ghost' never (%s)", e ? e : "-");
        ok(entry(root, "etc/gshadow", "newgrp") != NULL, "new groups get a gshadow entry");

        /* modes and owners kept */
        is_int(mode_of(root, "etc/shadow"), 0640, "shadow keeps 0640");
        is_int(mode_of(root, "etc/passwd"), 0644, "passwd keeps 0644");
        if (is_root) {
                struct stat st;
                stat(path_of(root, "etc/shadow"), &st);
                ok(st.st_uid == 0 && st.st_gid == 42, "shadow keeps root:shadow");
        } else {
                ok(true, "# SKIP owners need root");
        }
        ok(!exists(root, "etc/.passwd.kiln-") && exists(root, "etc/.pwd.lock"), "lock file there");

        /* homes */
        is_int(mode_of(root, "home/admin"), 0750, "home mode from HOME_MODE");
        is_str(slurp(root, "home/admin/.bashrc"), "# bashrc\n", "skel file copied");
        is_int(mode_of(root, "home/admin/.config/app/settings"), 0600, "skel file mode kept");
        {
                char target[64] = "";
                ssize_t n = readlink(path_of(root, "home/admin/.bashrc-link"), target, sizeof(target) - 1);
                if (n > 0)
                        target[n] = 0;
                is_str(target, ".bashrc", "skel symlink copied as a symlink");
        }
        if (is_root) {
                struct stat st;
                lstat(path_of(root, "home/alice/.config/app/settings"), &st);
                ok(st.st_uid == 1002 && st.st_gid == 1004, "skel copy owned by the user");
                lstat(path_of(root, "home/alice/.bashrc-link"), &st);
                ok(st.st_uid == 1002, "skel symlink owned by the user");
        } else {
                ok(true, "# SKIP owners need root");
                ok(true, "# SKIP owners need root");
        }

        /* sudo */
        char *sudo = slurp(root, "etc/sudoers.d/90-cloud-init-users");
        has(sudo, "\n# User rules for admin\nadmin ALL=(ALL) NOPASSWD:ALL\n", "sudo rule written like cloud-init");
        is_int(mode_of(root, "etc/sudoers.d/90-cloud-init-users"), 0440, "sudoers file 0440");
        has(slurp(root, "etc/sudoers"), "\n#includedir /etc/sudoers.d\n", "sudoers includes sudoers.d");

        /* A second run adds alice to "team" (she exists now); a third changes nothing. */
        r = kiln_apply_users(&ctx, &cc);
        e = entry(root, "etc/group", "team");
        ok(e && strstr(e, ":alice") && !strstr(e, "ghost"), "group members added once they exist (%s)", e ? e : "-");

        /* idempotence */
        char *passwd1 = slurp(root, "etc/passwd"), *group1 = slurp(root, "etc/group"), *shadow1 = slurp(root, "etc/shadow");
        put(root, "home/admin/.bashrc", 0644, "# changed by the user\n");
        r = kiln_apply_users(&ctx, &cc);
        is_str(slurp(root, "etc/passwd"), passwd1, "another run: passwd unchanged");
        is_str(slurp(root, "etc/group"), group1, "another run: group unchanged");
        is_str(slurp(root, "etc/shadow"), shadow1, "another run: shadow unchanged");
        is_str(slurp(root, "etc/sudoers.d/90-cloud-init-users"), sudo, "another run: sudo rules not repeated");
        is_int(count(slurp(root, "etc/sudoers"), "#includedir"), 1, "another run: includedir not repeated");
        is_str(slurp(root, "home/admin/.bashrc"), "# changed by the user\n", "another run: existing home not re-copied");

        cc.users_set = false;
        r = kiln_apply_users(&ctx, &cc);
        ok(r == 0, "users absent: only the default user, no failure (%s)", r ? kiln_last_error() : "");
        close(ctx.rootfd);
}

/* ---- ssh ---------------------------------------------------------------------- */

static void test_ssh(void)
{
        char *root = make_root("ssh");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &test_instance };
        char *text, *first;
        int r;

        fill_config(&cc);
        test_users[5].name = "carol";
        kiln_apply_users(&ctx, &cc);
        /* root had the meta-data key without options: it gets replaced, not duplicated */
        put(root, "root/.ssh/authorized_keys", 0600, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMetaDataKeyOne old-comment\n");
        r = kiln_apply_ssh_authorized_keys(&ctx, &cc);
        ok(r == 0, "authorized keys applied (%s)", r ? kiln_last_error() : "");
        text = slurp(root, "home/admin/.ssh/authorized_keys");
        is_str(text, KEY1 "\n" KEY2 "\n", "default user: meta-data key, then top-level key");
        is_int(mode_of(root, "home/admin/.ssh"), 0700, "~/.ssh 0700");
        is_int(mode_of(root, "home/admin/.ssh/authorized_keys"), 0600, "authorized_keys 0600");
        is_str(slurp(root, "home/alice/.ssh/authorized_keys"), KEY3 "\n", "alice: her own key only");
        if (is_root) {
                struct stat st;
                stat(path_of(root, "home/alice/.ssh/authorized_keys"), &st);
                ok(st.st_uid == 1002 && st.st_gid == 1004, "authorized_keys owned by the user");
                stat(path_of(root, "home/alice/.ssh"), &st);
                ok(st.st_uid == 1002, "~/.ssh owned by the user");
        } else {
                ok(true, "# SKIP owners need root");
                ok(true, "# SKIP owners need root");
        }
        text = slurp(root, "root/.ssh/authorized_keys");
        is_str(text, FORCED " " KEY1 "\n" FORCED " " KEY2 "\n",
               "root: keys behind cloud-init's forced command naming the default user; the old line replaced");

        first = text;
        r = kiln_apply_ssh_authorized_keys(&ctx, &cc);
        is_str(slurp(root, "root/.ssh/authorized_keys"), first, "second run: root's keys not duplicated");
        is_str(slurp(root, "home/admin/.ssh/authorized_keys"), KEY1 "\n" KEY2 "\n", "second run: user's keys not duplicated");

        cc.disable_root = KILN_FALSE;
        kiln_apply_ssh_authorized_keys(&ctx, &cc);
        is_str(slurp(root, "root/.ssh/authorized_keys"), KEY1 "\n" KEY2 "\n", "disable_root false: plain keys replace the forced ones");

        char *opts = kiln_ssh_disable_root_opts(&cc, NULL);
        has(opts, "login as the user \\\"NONE\\\" rather", "no default user: NONE, as cloud-init");
        free(opts);

        /* ssh_pwauth */
        cc.ssh_pwauth = KILN_FALSE;
        r = kiln_apply_ssh_pwauth(&ctx, &cc);
        is_str(slurp(root, "etc/ssh/sshd_config.d/50-kiln-cloud-init.conf"), "PasswordAuthentication no\n",
               "ssh_pwauth false: drop-in when sshd_config includes sshd_config.d");
        put(root, "etc/ssh/sshd_config", 0640, "Port 22\n#PasswordAuthentication yes\nPasswordAuthentication no\nMatch User x\n  PasswordAuthentication no\n");
        cc.ssh_pwauth = KILN_TRUE;
        r = kiln_apply_ssh_pwauth(&ctx, &cc);
        is_str(slurp(root, "etc/ssh/sshd_config"),
               "Port 22\n#PasswordAuthentication yes\nPasswordAuthentication yes\nMatch User x\n  PasswordAuthentication no\n",
               "no Include: the global line edited, comments and Match blocks kept");
        is_int(mode_of(root, "etc/ssh/sshd_config"), 0640, "sshd_config mode kept");
        put(root, "etc/ssh/sshd_config", 0644, "Port 22\nMatch User x\n  X11Forwarding no\n");
        r = kiln_apply_ssh_pwauth(&ctx, &cc);
        is_str(slurp(root, "etc/ssh/sshd_config"), "Port 22\nPasswordAuthentication yes\nMatch User x\n  X11Forwarding no\n",
               "missing setting inserted before the first Match");

        /* host keys */
        struct kiln_cc_ssh_key keys[] = {
                { .type = "ed25519", .private_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
                  .public_key = "ssh-ed25519 AAAAgiven root@host", .certificate = "ssh-ed25519-cert-v01@openssh.com AAAAcert" },
                { .type = "dsa", .private_key = "x" },
        };
        unsigned given = 0;
        cc.ssh_keys = keys;
        cc.n_ssh_keys = 2;
        r = kiln_apply_ssh_host_keys(&ctx, &cc, &given);
        ok(r == 0, "ssh_keys installed (%s)", r ? kiln_last_error() : "");
        ok(!exists(root, "etc/ssh/ssh_host_rsa_key") && !exists(root, "etc/ssh/ssh_host_rsa_key.pub") &&
                   exists(root, "etc/ssh/moduli"),
           "ssh_deletekeys: old host keys gone, other files kept");
        is_str(slurp(root, "etc/ssh/ssh_host_ed25519_key"), "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
               "private key written with its final newline");
        is_int(mode_of(root, "etc/ssh/ssh_host_ed25519_key"), 0600, "private key 0600");
        is_int(mode_of(root, "etc/ssh/ssh_host_ed25519_key.pub"), 0644, "public key 0644");
        is_int(mode_of(root, "etc/ssh/ssh_host_ed25519_key-cert.pub"), 0644, "certificate 0644");
        has(slurp(root, "etc/ssh/sshd_config"), "HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub\n", "HostCertificate added");
        ok(given == KILN_HOSTKEY_ED25519 && !exists(root, "etc/ssh/ssh_host_dsa_key"), "given types reported; dsa refused");
        is_int(kiln_ssh_genkeytypes(&cc), KILN_HOSTKEY_ECDSA, "genkeytypes: default ecdsa+ed25519 minus the given ed25519");
        char *gen[] = { "rsa", "ed25519", "bogus", NULL };
        cc.ssh_genkeytypes = gen;
        is_int(kiln_ssh_genkeytypes(&cc), KILN_HOSTKEY_RSA, "genkeytypes: listed minus given, unknown skipped");
        cc.ssh_deletekeys = KILN_FALSE;
        cc.n_ssh_keys = 0;
        kiln_apply_ssh_host_keys(&ctx, &cc, &given);
        ok(exists(root, "etc/ssh/ssh_host_ed25519_key"), "ssh_deletekeys false keeps keys");
        close(ctx.rootfd);
        test_users[5].name = "bad:name";
}

static void test_authkeys_parser(void)
{
        struct kiln_authkey k, k2;
        const char *a = "command=\"echo \\\"a b\\\"\",no-pty ssh-ed25519 AAAAC3Nz x y\n";
        const char *b = "ssh-ed25519 AAAAC3Nz other";

        ok(kiln_authkey_parse(a, strlen(a), &k) == 0 && k.opts_len == strlen("command=\"echo \\\"a b\\\"\",no-pty") &&
                   k.comment_len == 3 && !strncmp(a + k.key_off, "ssh-ed25519 AAAAC3Nz x y", k.key_len),
           "options with quoted spaces, comment with spaces");
        ok(kiln_authkey_parse(b, strlen(b), &k2) == 0 && kiln_authkey_same(a, &k, b, &k2), "same blob = same key");
        ok(kiln_authkey_parse("# c", 3, &k) == -EBADMSG, "comment line refused");
        ok(kiln_authkey_parse("from=\"x ssh-rsa AAAA", 20, &k) == -EBADMSG, "unclosed quote refused");
        ok(kiln_authkey_parse("ssh-foo AAAA", 12, &k) == -EBADMSG && strstr(kiln_last_error(), "unknown key type"),
           "unknown type refused (%s)", kiln_last_error());
        ok(kiln_authkey_parse("ssh-rsa AA!A", 12, &k) == -EBADMSG, "non-base64 key refused");
        ok(kiln_authkey_parse("ssh-rsa AAAA\nssh-rsa BBBB", 25, &k) == -EBADMSG, "two lines refused");
}

/* ---- write_files --------------------------------------------------------------- */

static void test_write_files(void)
{
        char *root = make_root("files");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &test_instance };
        int r;

        fill_config(&cc);
        test_users[5].name = "carol";
        kiln_apply_users(&ctx, &cc);
        put(root, "etc/motd", 0644, "hello\n");
        struct kiln_cc_file files[] = {
                { .path = "/etc/app/conf.d/app.conf", .content = (uint8_t *)"key=value\n", .len = 10,
                  .owner = "alice:users", .permissions = 0640 },
                { .path = "/etc/motd", .content = (uint8_t *)"more\n", .len = 5, .append = true, .permissions = -1 },
                { .path = "/home/alice/later", .content = (uint8_t *)"deferred\n", .len = 9, .owner = "alice",
                  .permissions = 0600, .defer = true },
                { .path = "/etc/nobody-owns", .content = (uint8_t *)"x", .len = 1, .owner = "ghost:ghost", .permissions = -1 },
                { .path = "/etc/empty", .permissions = -1 },
        };
        cc.write_files = files;
        cc.n_write_files = ARRAY_SIZE(files);
        kiln_clear_error();
        r = kiln_apply_write_files(&ctx, &cc, false);
        ok(r == -ENOENT && strstr(kiln_last_error(), "/etc/nobody-owns") && strstr(kiln_last_error(), "ghost"),
           "unknown owner fails, naming file and owner (%s)", kiln_last_error());
        is_str(slurp(root, "etc/app/conf.d/app.conf"), "key=value\n", "content written, parents made");
        is_int(mode_of(root, "etc/app/conf.d/app.conf"), 0640, "permissions applied");
        is_int(mode_of(root, "etc/app"), 0755, "parents 0755");
        is_str(slurp(root, "etc/motd"), "hello\nmore\n", "append keeps the old content");
        is_str(slurp(root, "etc/empty"), "", "no content: empty file");
        is_int(mode_of(root, "etc/empty"), 0644, "default permissions 0644");
        ok(!exists(root, "etc/nobody-owns"), "failed entry not written; the others were");
        ok(!exists(root, "home/alice/later"), "deferred entry not written in the first pass");
        if (is_root) {
                struct stat st;
                stat(path_of(root, "etc/app/conf.d/app.conf"), &st);
                ok(st.st_uid == 1002 && st.st_gid == 100, "owner from the root's passwd and group (alice:users)");
        } else {
                ok(true, "# SKIP owners need root");
        }
        cc.n_write_files = 3;
        r = kiln_apply_write_files(&ctx, &cc, true);
        ok(r == 0 && exists(root, "home/alice/later"), "deferred pass writes the deferred entry");
        is_str(slurp(root, "etc/motd"), "hello\nmore\n", "deferred pass leaves the others");
        close(ctx.rootfd);
        test_users[5].name = "bad:name";
}

/* ---- hostname, hosts, timezone, mounts ---------------------------------------- */

static void test_system(void)
{
        char *root = make_root("system");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &test_instance };
        char *h = NULL, *f = NULL;
        int r;

        fill_config(&cc);
        ok(kiln_cc_hostname_fqdn(&ctx, &cc, &h, &f) == 0 && !strcmp(h, "ip-10-0-0-1") && !strcmp(f, "ip-10-0-0-1.ec2.internal"),
           "meta-data local-hostname: host and fqdn");
        cc.hostname = "web1";
        free(h), free(f);
        ok(kiln_cc_hostname_fqdn(&ctx, &cc, &h, &f) == 0 && !strcmp(h, "web1") && !strcmp(f, "ip-10-0-0-1.ec2.internal"),
           "hostname given, fqdn from meta-data (cloud-init's rule)");
        cc.hostname = "db.example.org";
        free(h), free(f);
        ok(kiln_cc_hostname_fqdn(&ctx, &cc, &h, &f) == 0 && !strcmp(h, "db") && !strcmp(f, "db.example.org"),
           "hostname with a dot is the fqdn");
        cc.hostname = NULL;
        cc.fqdn = "app.example.com";
        free(h), free(f);
        ok(kiln_cc_hostname_fqdn(&ctx, &cc, &h, &f) == 0 && !strcmp(h, "app") && !strcmp(f, "app.example.com"),
           "fqdn given: host is its first label");
        free(h), free(f);
        struct kiln_instance ip = { .instance_id = "i-1", .local_hostname = "10.1.2.3" };
        struct kiln_apply_ctx ctx2 = ctx;
        ctx2.instance = &ip;
        cc.fqdn = NULL;
        ok(kiln_cc_hostname_fqdn(&ctx2, &cc, &h, &f) == 0 && !strcmp(h, "ip-10-1-2-3"), "an IP local-hostname becomes ip-A-B-C-D");
        free(h), free(f);
        ip.local_hostname = "box.localdomain";
        ok(kiln_cc_hostname_fqdn(&ctx2, &cc, &h, &f) == 0 && !strcmp(h, "box") && !strcmp(f, "box"), "localdomain is dropped");
        free(h), free(f);

        cc.hostname = "web1";
        r = kiln_apply_hostname(&ctx, &cc);
        is_str(slurp(root, "etc/hostname"), "web1\n", "etc/hostname holds the short name");
        cc.preserve_hostname = KILN_TRUE;
        cc.hostname = "other";
        kiln_apply_hostname(&ctx, &cc);
        is_str(slurp(root, "etc/hostname"), "web1\n", "preserve_hostname leaves it");
        cc.preserve_hostname = KILN_UNSET;
        cc.hostname = "web1";

        cc.manage_etc_hosts = KILN_HOSTS_LOCALHOST;
        r = kiln_apply_etc_hosts(&ctx, &cc);
        ok(r == 0, "manage_etc_hosts: localhost");
        is_str(slurp(root, "etc/hosts"), "127.0.0.1 localhost\n127.0.1.1 ip-10-0-0-1.ec2.internal web1\n::1 ip6-localhost\n",
               "localhost: the 127.0.1.1 line replaced in place");
        char *once = slurp(root, "etc/hosts");
        kiln_apply_etc_hosts(&ctx, &cc);
        is_str(slurp(root, "etc/hosts"), once, "localhost: second run changes nothing");
        cc.manage_etc_hosts = KILN_HOSTS_TRUE;
        kiln_apply_etc_hosts(&ctx, &cc);
        char *hosts = slurp(root, "etc/hosts");
        has(hosts, "\n127.0.1.1 ip-10-0-0-1.ec2.internal web1\n127.0.0.1 localhost\n", "true: Debian template's lines");
        has(hosts, "::1 localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n", "true: IPv6 lines");

        cc.timezone = "Europe/Berlin";
        r = kiln_apply_timezone(&ctx, &cc);
        char target[128] = "";
        ssize_t n = readlink(path_of(root, "etc/localtime"), target, sizeof(target) - 1);
        if (n > 0)
                target[n] = 0;
        ok(r == 0 && !strcmp(target, "/usr/share/zoneinfo/Europe/Berlin"), "timezone: localtime symlink (%s)", target);
        is_str(slurp(root, "etc/timezone"), "Europe/Berlin\n", "timezone: etc/timezone");
        cc.timezone = "Mars/Olympus_Mons";
        r = kiln_apply_timezone(&ctx, &cc);
        ok(r == -ENOENT && strstr(kiln_last_error(), "'Mars/Olympus_Mons'"), "unknown zone refused: %s", kiln_last_error());
        cc.timezone = "../../etc/passwd";
        ok(kiln_apply_timezone(&ctx, &cc) == -EINVAL, "zone with '..' refused");
        is_str(slurp(root, "etc/timezone"), "Europe/Berlin\n", "refused zones change nothing");
        cc.timezone = NULL;

        /* mounts */
        ctx.ephemeral0 = "/dev/nvme1n1";
        r = kiln_apply_mounts(&ctx, &cc);
        ok(r == 0, "mounts: default (%s)", r ? kiln_last_error() : "");
        const char *line = "/dev/nvme1n1\t/mnt\tauto\tdefaults,nofail,x-systemd.after=kiln-bootcmd.service,_netdev,comment=cloudconfig\t0\t2\n";
        char *fstab = slurp(root, "etc/fstab");
        ok(fstab && !strncmp(fstab, "# static\nUUID=1234 / ext4 defaults 0 1\n", 39) && strstr(fstab, line),
           "default: ephemeral0 on /mnt with cloud-init's fields, old lines kept");
        ok(exists(root, "mnt"), "mount point made");
        is_str(slurp(root, "var/lib/kiln/instances/i-0123456789abcdef0/format"), "/dev/nvme1n1 ephemeral0\n",
               "instance store listed for formatting");
        kiln_apply_mounts(&ctx, &cc);
        is_int(count(slurp(root, "etc/fstab"), "comment=cloudconfig"), 1, "second run: one cloudconfig line");

        struct kiln_cc_mount mounts[] = {
                { { "xvdc", "/data", "ext4", NULL, NULL, "0" } },
                { { "ephemeral0", NULL } },
        };
        cc.mounts = mounts;
        cc.n_mounts = 2;
        cc.mounts_set = true;
        cc.mount_default_fields[3] = "defaults,noatime";
        r = kiln_apply_mounts(&ctx, &cc);
        fstab = slurp(root, "etc/fstab");
        ok(r == 0 && strstr(fstab, "/dev/xvdc\t/data\text4\tdefaults,noatime,comment=cloudconfig\t0\t0\n") &&
                   !strstr(fstab, "nvme1n1") && strstr(fstab, "UUID=1234"),
           "user mounts: short device name, mount_default_fields; [ephemeral0, null] removes it");
        ok(!exists(root, "var/lib/kiln/instances/i-0123456789abcdef0/format"), "ephemeral0 not mounted: nothing to format");
        ctx.ephemeral0 = NULL;
        cc.mounts_set = false;
        cc.mount_default_fields[3] = NULL;
        r = kiln_apply_mounts(&ctx, &cc);
        ok(r == 0 && !strstr(slurp(root, "etc/fstab"), "cloudconfig"), "no instance store: no line (logged)");

        /* mount_default_fields: cloud-init's, with kiln's unit, for every
         * entry that gives fewer than 6 fields, and for the ephemeral0
         * entry added beside user mounts: nofail, so a missing optional
         * volume never fails a unit. */
        struct kiln_cc_mount short_mounts[] = {
                { { "xvdh", "/opt/data" } },
                { { "/dev/xvdi", "/srv", "xfs", "rw" } },
        };
        ctx.ephemeral0 = "/dev/nvme1n1";
        cc.mounts = short_mounts;
        cc.n_mounts = 2;
        cc.mounts_set = true;
        r = kiln_apply_mounts(&ctx, &cc);
        fstab = slurp(root, "etc/fstab");
        ok(r == 0, "mount defaults: short entries (%s)", r ? kiln_last_error() : "");
        has(fstab, "/dev/xvdh\t/opt/data\tauto\tdefaults,nofail,x-systemd.after=kiln-bootcmd.service,_netdev,comment=cloudconfig\t0\t2\n",
            "mount defaults: a 2-field entry gets cloud-init's type, options (nofail), freq and passno");
        has(fstab, "/dev/xvdi\t/srv\txfs\trw,comment=cloudconfig\t0\t2\n",
            "mount defaults: given options kept as given (no nofail added), freq and passno defaulted");
        has(fstab, line, "mount defaults: ephemeral0 added beside user mounts, with nofail");
        cc.mount_default_fields[3] = "defaults";
        cc.mount_default_fields[5] = "0";
        r = kiln_apply_mounts(&ctx, &cc);
        fstab = slurp(root, "etc/fstab");
        ok(r == 0 && strstr(fstab, "/dev/xvdh\t/opt/data\tauto\tdefaults,comment=cloudconfig\t0\t0\n") &&
                   strstr(fstab, "/dev/nvme1n1\t/mnt\tauto\tdefaults,comment=cloudconfig\t0\t0\n"),
           "mount defaults: mount_default_fields replaces them, nofail too, as in cloud-init");
        cc.mounts_set = false;
        cc.mounts = NULL;
        cc.n_mounts = 0;
        cc.mount_default_fields[3] = NULL;
        cc.mount_default_fields[5] = NULL;
        ctx.ephemeral0 = NULL;
        close(ctx.rootfd);
}

/* ---- units ---------------------------------------------------------------------- */

static void test_units(void)
{
        char *root = make_root("units");
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &test_instance };
        int r;

        r = kiln_units_write(&ctx, NULL);
        ok(r == 0, "systemd root: units written (%s)", r < 0 ? kiln_last_error() : "");
        char *u = slurp(root, "run/systemd/system/kiln-userdata.service");
        has(u, "ExecStart=/run/kiln/kiln-init --stage final\n", "final unit runs the final stage");
        has(u, "After=network-online.target multi-user.target", "final unit after network-online and multi-user");
        has(slurp(root, "run/systemd/system/kiln-bootcmd.service"), "DefaultDependencies=no\n", "boot unit is early");
        char t[128] = "";
        ssize_t n = readlink(path_of(root, "run/systemd/system/multi-user.target.wants/kiln-userdata.service"), t, sizeof(t) - 1);
        if (n > 0)
                t[n] = 0;
        is_str(t, "../kiln-userdata.service", "wanted by multi-user.target");
        ok(exists(root, "run/systemd/system/sysinit.target.wants/kiln-bootcmd.service"), "boot unit wanted by sysinit.target");
        ok(kiln_units_write(&ctx, NULL) == 0, "second run fine");
        unlink(path_of(root, "sbin/init"));
        symlink("/bin/busybox", path_of(root, "sbin/init"));
        put(root, "bin/busybox", 0755, "");
        is_int(kiln_units_write(&ctx, NULL), KILN_UNITS_NOT_SYSTEMD, "busybox init: not systemd");
        put(root, "usr/bin/myinit", 0755, "");
        is_int(kiln_units_write(&ctx, "/usr/bin/myinit"), KILN_UNITS_NOT_SYSTEMD, "init= another program: not systemd");

        put(root, "self", 0755, "#!/bin/sh\necho self\n");
        ok(kiln_stage_install_self(&ctx, path_of(root, "self")) == 0 && mode_of(root, "run/kiln/kiln-init") == 0755,
           "kiln-init copied to run/kiln");
        close(ctx.rootfd);
}

/* ---- staging and the runner ------------------------------------------------------ */

static int fake_blank(void *ud, const char *dev)
{
        (void)ud;
        return strcmp(dev, "/dev/blank") == 0;
}

static void test_stage(void)
{
        char *root = make_root("stage");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &test_instance };
        char s1[512], s3[512], rc1[256], bc[256];
        int r;

        fill_config(&cc);
        test_users[5].name = "carol";
        kiln_apply_users(&ctx, &cc);

        snprintf(s1, sizeof(s1), "#!/bin/sh\r\necho part one says hi\r\necho one >> %s/order\r\nexit 3\r\n", root);
        snprintf(s3, sizeof(s3), "#!/bin/sh\necho three >> %s/order\necho \"id=$INSTANCE_ID\"\n", root);
        char hook[512];
        snprintf(hook, sizeof(hook), "#cloud-boothook\n#!/bin/sh\necho hook >> %s/hooks\n", root);
        struct kiln_ud_part parts[] = {
                { .type = KILN_UD_SCRIPT, .data = (uint8_t *)s1, .len = strlen(s1) },
                { .type = KILN_UD_CLOUD_CONFIG, .data = (uint8_t *)"#cloud-config\n", .len = 14 },
                { .type = KILN_UD_SCRIPT, .data = (uint8_t *)s3, .len = strlen(s3) },
                { .type = KILN_UD_BOOTHOOK, .data = (uint8_t *)hook, .len = strlen(hook) },
        };
        struct kiln_userdata ud = { .parts = parts, .n_parts = 4 };
        snprintf(rc1, sizeof(rc1), "echo runcmd >> %s/order", root);
        char *argv1[] = { "sh", "-c", "echo \"it's\" quoted", NULL };
        struct kiln_cc_command runcmd[] = { { .shell = rc1 }, { .argv = argv1 } };
        cc.runcmd = runcmd;
        cc.n_runcmd = 2;
        snprintf(bc, sizeof(bc), "echo boot >> %s/boots", root);
        struct kiln_cc_command bootcmd[] = { { .shell = bc } };
        cc.bootcmd = bootcmd;
        cc.n_bootcmd = 1;
        struct kiln_cc_file files[] = {
                { .path = "/home/alice/deferred.txt", .content = (uint8_t *)"late\n", .len = 5, .owner = "alice:alice",
                  .permissions = 0604, .defer = true },
        };
        cc.write_files = files;
        cc.n_write_files = 1;
        cc.final_message = "done $UPTIME s, v${version} via $DATASOURCE; $unknown";
        cc.power_state.mode = KILN_POWER_POWEROFF;
        cc.power_state.delay = "5";
        cc.power_state.message = "bye now";

        char *sq = kiln_shellify(runcmd, 2);
        char expect[1024];
        snprintf(expect, sizeof(expect), "#!/bin/sh\n%s\n'sh' '-c' 'echo \"it'\\''s\" quoted'\n", rc1);
        is_str(sq, expect, "runcmd: strings verbatim, lists quoted like cloud-init's shellify");
        free(sq);

        r = kiln_stage_write(&ctx, &cc, &ud);
        ok(r == 0, "staged (%s)", r ? kiln_last_error() : "");
        const char *idir = "var/lib/kiln/instances/i-0123456789abcdef0";
        char rel[512];
        snprintf(rel, sizeof(rel), "%s/scripts/part-001", idir);
        ok(exists(root, rel) && mode_of(root, rel) == 0700 && !strchr(slurp(root, rel), '\r'),
           "scripts/part-001 0700, CRLF undone");
        snprintf(rel, sizeof(rel), "%s/scripts/part-003", idir);
        ok(exists(root, rel), "scripts numbered by user-data part");
        snprintf(rel, sizeof(rel), "%s/boothooks/part-004", idir);
        is_str(slurp(root, rel), hook + 16, "boothook staged without its '#cloud-boothook' line");
        snprintf(rel, sizeof(rel), "%s/final.conf", idir);
        char *conf = slurp(root, rel);
        has(conf, "power_mode=poweroff\npower_delay=+5\npower_message=bye now\n", "power_state staged; delay 5 -> +5");
        ok(!exists(root, "home/alice/deferred.txt"), "deferred write_files not written at staging");
        r = kiln_stage_bootcmd(&ctx, &cc);
        ok(r == 0 && mode_of(root, "run/kiln/bootcmd") == 0700, "bootcmd staged for this boot");

        /* fake programs of the root: mkfs, mount and shutdown record their arguments */
        char fake[512];
        snprintf(fake, sizeof(fake), "#!/bin/sh\necho \"$@\" >> %s/mkfs.args\n", root);
        put(root, "sbin/mkfs.ext4", 0755, fake);
        snprintf(fake, sizeof(fake), "#!/bin/sh\necho \"$@\" >> %s/mount.args\n", root);
        put(root, "bin/mount", 0755, fake);
        snprintf(fake, sizeof(fake), "#!/bin/sh\necho \"$@\" >> %s/shutdown.args\n", root);
        put(root, "sbin/shutdown", 0755, fake);
        snprintf(rel, sizeof(rel), "%s/format", idir);
        put(root, rel, 0644, "/dev/blank ephemeral0\n/dev/full ephemeral1\n");
        put(root, "etc/fstab", 0644, "UUID=1 / ext4 defaults 0 1\n/dev/blank\t/mnt\tauto\tdefaults,nofail,comment=cloudconfig\t0\t2\n"
                                     "/dev/null\t/data\tauto\tdefaults,comment=cloudconfig\t0\t2\n");

        struct kiln_stage_opts opts = { .root = root, .console = strdup(path_of(root, "console")), .is_blank = fake_blank };
        put(root, "console", 0644, "");
        r = kiln_stage_run("boot", &opts);
        is_int(r, 0, "boot stage ran");
        /* kiln-init makes the store itself (tests/unit/test-mkfs.c); /dev/blank
         * is no device, so here it cannot, which fails nothing. */
        ok(!exists(root, "mkfs.args"), "the root's mkfs.ext4 is never run");
        has(slurp(root, "var/log/kiln-userdata.log"), "instance store /dev/blank: blank, but cannot make ext4: ",
            "a blank store that cannot be made: logged, not a failure; the other one not probed blank");
        char margs[512];
        snprintf(margs, sizeof(margs), "-t auto -o defaults,comment=cloudconfig /dev/null %s/data\n", root);
        is_str(slurp(root, "mount.args"), margs, "cloudconfig mount mounted with the root's mount; the unmade store's skipped");
        is_str(slurp(root, "boots"), "boot\n", "bootcmd ran");
        is_str(slurp(root, "hooks"), "hook\n", "boothook ran");
        kiln_stage_run("boot", &opts);
        is_str(slurp(root, "boots"), "boot\nboot\n", "bootcmd runs at every boot");
        unlink(path_of(root, "run/kiln/bootcmd"));
        kiln_stage_run("boot", &opts);
        is_str(slurp(root, "boots"), "boot\nboot\nboot\n", "without run/kiln/bootcmd the instance's copy runs");

        r = kiln_stage_run("final", &opts);
        is_int(r, 1, "final stage: a failed script makes it report a failure");
        is_str(slurp(root, "order"), "one\nthree\nruncmd\n", "scripts in order, runcmd last; the failing one did not stop the rest");
        snprintf(rel, sizeof(rel), "%s/scripts/STATUS", idir);
        is_str(slurp(root, rel), "part-001 3\npart-003 0\nruncmd 0\n", "exit statuses recorded");
        snprintf(rel, sizeof(rel), "%s/final.done", idir);
        ok(exists(root, rel), "done marker");
        char *log = slurp(root, "var/log/kiln-userdata.log");
        has(log, "part one says hi\n", "script output in the log");
        has(log, "id=i-0123456789abcdef0\n", "INSTANCE_ID in the scripts' environment");
        has(log, "it's quoted\n", "runcmd list entry ran with its quoting");
        has(log, "kiln-userdata: script part-001: FAILED (status 3)\n", "failure logged");
        ok(log && strstr(log, "done ") && strstr(log, " s, v" KILN_VERSION " via nocloud; $unknown\n"),
           "final_message with substitutions");
        char *console = slurp(root, "console");
        has(console, "part one says hi\n", "output copied to the console");
        is_str(slurp(root, "home/alice/deferred.txt"), "late\n", "deferred write_files written in the final stage");
        is_int(mode_of(root, "home/alice/deferred.txt"), 0604, "deferred file mode");
        if (is_root) {
                struct stat st;
                stat(path_of(root, "home/alice/deferred.txt"), &st);
                ok(st.st_uid == 1002 && st.st_gid == 1004, "deferred file owner from the root's passwd");
        } else {
                ok(true, "# SKIP owners need root");
        }
        is_str(slurp(root, "shutdown.args"), "-P +5 bye now\n", "power_state: shutdown -P +5 MESSAGE");

        r = kiln_stage_run("final", &opts);
        is_int(r, 0, "second final stage: nothing fails");
        is_str(slurp(root, "order"), "one\nthree\nruncmd\n", "scripts run once per instance");
        is_str(slurp(root, "shutdown.args"), "-P +5 bye now\n", "power_state once per instance");
        ok(count(slurp(root, "var/log/kiln-userdata.log"), " via nocloud; ") == 2, "final_message every boot");

        ok(kiln_stage_run("bogus", &opts) == -EINVAL && strstr(kiln_last_error(), "bogus"), "unknown stage refused");

        /* power_state condition false */
        cc.power_state.condition.shell = "false";
        r = kiln_stage_write(&ctx, &cc, &ud);
        unlink(path_of(root, "shutdown.args"));
        kiln_stage_run("final", &opts);
        ok(!exists(root, "shutdown.args") && strstr(slurp(root, "var/log/kiln-userdata.log"), "condition returned 1"),
           "power_state condition failing: no shutdown");
        close(ctx.rootfd);
        test_users[5].name = "bad:name";
}

/* ---- symlinks out of the root ----------------------------------------------------- */

static void test_escapes(void)
{
        char *root = make_root("escape");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &test_instance };
        struct stat before, after;
        char outside[512];
        int r;

        fill_config(&cc);
        cc.users_set = false;
        cc.n_groups = 0;
        stat("/etc/passwd", &before);
        unlink(path_of(root, "etc/passwd"));
        symlink("/etc/passwd", path_of(root, "etc/passwd"));
        kiln_clear_error();
        r = kiln_apply_users(&ctx, &cc);
        stat("/etc/passwd", &after);
        ok(r < 0 && strstr(kiln_last_error(), "/etc/passwd"), "etc/passwd -> /etc/passwd: refused (%s)", kiln_last_error());
        ok(before.st_mtim.tv_sec == after.st_mtim.tv_sec && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec &&
                   before.st_ino == after.st_ino,
           "the host's /etc/passwd untouched");
        unlink(path_of(root, "etc/passwd"));
        symlink("../../../../../../../etc/passwd", path_of(root, "etc/passwd"));
        r = kiln_apply_users(&ctx, &cc);
        stat("/etc/passwd", &after);
        ok(r < 0 && before.st_ino == after.st_ino && before.st_mtim.tv_nsec == after.st_mtim.tv_nsec,
           "relative ../ symlink: refused, host untouched");

        /* write_files through a folder symlink pointing at /tmp: stays inside the root */
        unlink(path_of(root, "etc/passwd"));
        put(root, "etc/passwd", 0644, "root:x:0:0:root:/root:/bin/sh\n");
        snprintf(outside, sizeof(outside), "/tmp/kiln-escape-%d", (int)getpid());
        mkdirs(path_of(root, "tmp"));
        symlink("/tmp", path_of(root, "evil"));
        char p[600];
        snprintf(p, sizeof(p), "/evil/kiln-escape-%d", (int)getpid());
        struct kiln_cc_file files[] = {
                { .path = p, .content = (uint8_t *)"x", .len = 1, .permissions = -1 },
                { .path = "/../../../../tmp/kiln-escape-dotdot", .content = (uint8_t *)"y", .len = 1, .permissions = -1 },
        };
        cc.write_files = files;
        cc.n_write_files = 2;
        r = kiln_apply_write_files(&ctx, &cc, false);
        ok(r == 0, "write_files through symlinks and '..' (%s)", r ? kiln_last_error() : "");
        ok(access(outside, F_OK) != 0 && access("/tmp/kiln-escape-dotdot", F_OK) != 0, "nothing written outside the root");
        snprintf(p, sizeof(p), "tmp/kiln-escape-%d", (int)getpid());
        ok(exists(root, p) && exists(root, "tmp/kiln-escape-dotdot"), "written inside the root instead");

        /* authorized_keys of a user whose home is a symlink to the host's /root */
        put(root, "etc/passwd", 0644, "root:x:0:0:root:/root:/bin/sh\nadmin:x:1001:1001::/home/admin:/bin/sh\n");
        symlink("/root", path_of(root, "home/admin"));
        cc.users_set = true;
        cc.n_users = 0;
        struct kiln_cc_user u = { .name = "admin", .ssh_authorized_keys = alice_keys, .uid = -1 };
        cc.users = &u;
        cc.n_users = 1;
        cc.default_user_set = false;
        cc.ssh_authorized_keys = NULL;
        struct kiln_instance nokeys = { .instance_id = "i-1" };
        ctx.instance = &nokeys;
        struct stat hb;
        bool host_had = stat("/root/.ssh/authorized_keys", &hb) == 0;
        r = kiln_apply_ssh_authorized_keys(&ctx, &cc);
        struct stat ha;
        bool host_has = stat("/root/.ssh/authorized_keys", &ha) == 0;
        ok(host_had == host_has && (!host_had || (hb.st_mtim.tv_sec == ha.st_mtim.tv_sec && hb.st_mtim.tv_nsec == ha.st_mtim.tv_nsec)),
           "home symlinked to the host's /root: the host's keys untouched");
        ok(exists(root, "root/.ssh/authorized_keys"), "the keys land in the root's /root instead");
        close(ctx.rootfd);
}

/* ---- the lock -------------------------------------------------------------------- */

static void add_users(const char *root, const char *prefix, int n)
{
        struct kiln_cc_user users[16];
        struct kiln_cloud_config cc;
        char names[16][32];
        int fd = open_root(root);

        fill_config(&cc);
        cc.default_user_set = false;
        cc.n_groups = 0;
        for (int i = 0; i < n; i++) {
                snprintf(names[i], sizeof(names[i]), "%s%d", prefix, i);
                users[i] = (struct kiln_cc_user){ .name = names[i], .uid = -1, .no_create_home = true,
                                                  .lock_passwd = KILN_UNSET };
        }
        cc.users = users;
        cc.n_users = (size_t)n;
        struct kiln_apply_ctx ctx = { .rootfd = fd, .instance = &test_instance };
        kiln_apply_users(&ctx, &cc);
        close(fd);
}

static void test_lock(void)
{
        char *root = make_root("lock");
        pid_t pids[4];
        int sync_pipe[2];

        for (int k = 0; k < 4; k++) {
                pids[k] = fork();
                if (pids[k] == 0) {
                        char prefix[8];
                        snprintf(prefix, sizeof(prefix), "u%c", 'a' + k);
                        add_users(root, prefix, 10);
                        _exit(0);
                }
        }
        for (int k = 0; k < 4; k++)
                waitpid(pids[k], NULL, 0);
        char *passwd = slurp(root, "etc/passwd");
        int users = 0;
        bool unique = true;
        unsigned seen[64];
        for (char *save = NULL, *l = strtok_r(passwd, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                if (l[0] != 'u' || l[2] < '0' || l[2] > '9')
                        continue;
                unsigned uid = field_uint(l, 2);
                for (int i = 0; i < users && i < 64; i++)
                        unique &= seen[i] != uid;
                if (users < 64)
                        seen[users] = uid;
                users++;
        }
        is_int(users, 40, "4 processes adding 10 users each: all 40 there");
        ok(unique, "and their UIDs are all different");

        /* A writer holding etc/.pwd.lock: our change waits and keeps its line. */
        if (pipe(sync_pipe) < 0)
                return;
        pid_t holder = fork();
        if (holder == 0) {
                char lock[4096];
                snprintf(lock, sizeof(lock), "%s/etc/.pwd.lock", root);
                int fd = open(lock, O_WRONLY | O_CREAT, 0600);
                struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
                fcntl(fd, F_SETLKW, &fl);
                write(sync_pipe[1], "x", 1);
                nanosleep(&(struct timespec){ .tv_nsec = 300 * 1000 * 1000 }, NULL);
                FILE *f = fopen(path_of(root, "etc/passwd"), "ae");
                fputs("holder:x:3000:3000::/:/bin/sh\n", f);
                fclose(f);
                _exit(0);
        }
        char c;
        read(sync_pipe[0], &c, 1);
        add_users(root, "late", 1);
        waitpid(holder, NULL, 0);
        ok(entry(root, "etc/passwd", "holder") && entry(root, "etc/passwd", "late0"),
           "a change made under the lock by another process is not lost");
}

/* ---- everything ------------------------------------------------------------------- */

static void test_all(void)
{
        char *root = make_root("all");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &test_instance,
                                      .ephemeral0 = "/dev/vdb" };
        unsigned given;
        int units, failed;

        fill_config(&cc);
        test_users[5].name = "carol";
        cc.hostname = "web1";
        cc.manage_etc_hosts = KILN_HOSTS_TRUE;
        cc.timezone = "Nowhere/Land";
        cc.n_groups = 0; /* "team" would gain alice on the second run, rightly */
        failed = kiln_apply_all(&ctx, &cc, NULL, &given, &units);
        is_int(failed, 1, "apply_all: the bad timezone fails alone");
        put(root, "self", 0755, "#!/bin/sh\n");
        cc.n_bootcmd = 1;
        struct kiln_cc_command bc[] = { { .shell = "echo hi" } };
        cc.bootcmd = bc;
        failed = kiln_stage_every_boot(&ctx, &cc, path_of(root, "self"), NULL, &units);
        ok(failed == 0 && units == 0 && exists(root, "run/kiln/kiln-init") && exists(root, "run/kiln/bootcmd"),
           "every boot: kiln-init copied, units, bootcmd");
        failed = kiln_stage_every_boot(&ctx, NULL, "/nonexistent/init", NULL, &units);
        is_int(failed, 1, "every boot: a missing self fails that step only");
        ok(entry(root, "etc/passwd", "carol") && exists(root, "home/admin/.ssh/authorized_keys") &&
                   exists(root, "run/systemd/system/kiln-userdata.service") && units == 0,
           "the other modules ran");
        char *files[] = { "etc/passwd", "etc/shadow", "etc/group", "etc/gshadow", "etc/fstab", "etc/hosts",
                          "root/.ssh/authorized_keys", "home/admin/.ssh/authorized_keys", "etc/sudoers.d/90-cloud-init-users" };
        char *before[ARRAY_SIZE(files)];
        for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                before[i] = slurp(root, files[i]);
        failed = kiln_apply_all(&ctx, &cc, NULL, &given, &units);
        bool same = true;
        for (size_t i = 0; i < ARRAY_SIZE(files); i++)
                if (!before[i] || strcmp(before[i], slurp(root, files[i]))) {
                        tap_diag("  changed by the second run: %s", files[i]);
                        same = false;
                }
        ok(same, "apply_all twice: users, keys, fstab, hosts, sudo unchanged by the second run");
        close(ctx.rootfd);
        test_users[5].name = "bad:name";
}

/* ---- an instance id that is no plain file name ------------------------------------ */

/* "web:1" is a valid instance id (the datasources take it) but no plain
 * folder name: staging goes to its escaped folder (kiln_instance_dir_name),
 * and the runner, reading the id back from var/lib/kiln/instance-id, finds
 * the scripts there and runs them once, with INSTANCE_ID the id itself. */
static void test_stage_odd_id(void)
{
        char *root = make_root("stage-odd-id");
        struct kiln_instance inst = { .datasource = "nocloud", .instance_id = "web:1" };
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &inst };
        struct kiln_cloud_config cc;
        char rc[512];
        int r;

        kiln_cloud_config_init(&cc);
        snprintf(rc, sizeof(rc), "echo \"ran for $INSTANCE_ID\" >> %s/odd-runcmd", root);
        struct kiln_cc_command runcmd[] = { { .shell = rc } };
        cc.runcmd = runcmd;
        cc.n_runcmd = 1;
        cc.final_message = "odd id final via $DATASOURCE";
        r = kiln_stage_write(&ctx, &cc, NULL);
        ok(r == 0, "instance 'web:1': staged (%s)", r ? kiln_last_error() : "");
        ok(exists(root, "var/lib/kiln/instances/web%3A1/scripts/runcmd") &&
                   exists(root, "var/lib/kiln/instances/web%3A1/final.conf"),
           "instance 'web:1': staged under var/lib/kiln/instances/web%%3A1");
        ok(!exists(root, "var/lib/kiln/instances/web:1") && !exists(root, "var/lib/kiln/instances/web_1"),
           "instance 'web:1': no folder under the raw or a sanitised id");

        put(root, "var/lib/kiln/instance-id", 0644, "web:1\n");
        put(root, "console", 0644, "");
        struct kiln_stage_opts opts = { .root = root, .console = path_of(root, "console") };
        r = kiln_stage_run("final", &opts);
        is_int(r, 0, "instance 'web:1': final stage ran");
        char *out = slurp(root, "odd-runcmd"), *log = slurp(root, "var/log/kiln-userdata.log");
        is_str(out, "ran for web:1\n", "instance 'web:1': runcmd ran, INSTANCE_ID is the id");
        ok(exists(root, "var/lib/kiln/instances/web%3A1/final.done"), "instance 'web:1': final.done in its folder");
        has(log, "odd id final via nocloud\n", "instance 'web:1': final_message");
        free(out);
        free(log);
        kiln_stage_run("final", &opts);
        out = slurp(root, "odd-runcmd");
        is_str(out, "ran for web:1\n", "instance 'web:1': runcmd once per instance");
        free(out);
        close(ctx.rootfd);
        free(root);
}

/* ---- scripts by frequency ------------------------------------------------------------ */

/*
 * cloud-init's frequencies for user-data scripts: text/x-shellscript-per-boot
 * at every final stage, -per-once once for the life of the disk (a new
 * instance id does not run it again), -per-instance and plain scripts once
 * per instance.  Instance A's final stage twice, then instance B's, with the
 * same user data plus a new per-once script, on one root.
 */
static void test_stage_freq(void)
{
        char *root = make_root("stage-freq");
        struct kiln_instance a = { .datasource = "nocloud", .instance_id = "i-aaaa" };
        struct kiln_instance b = { .datasource = "nocloud", .instance_id = "i-bbbb" };
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = logger, .instance = &a };
        struct kiln_cloud_config cc;
        char boot[512], once[512], inst[512], user[512], once2[512], rc[512], *text;
        int r;

        snprintf(boot, sizeof(boot), "#!/bin/sh\necho \"boot $INSTANCE_ID\" >> %s/ran\n", root);
        snprintf(once, sizeof(once), "#!/bin/sh\necho \"once $INSTANCE_ID\" >> %s/ran\n", root);
        snprintf(inst, sizeof(inst), "#!/bin/sh\necho \"instance $INSTANCE_ID\" >> %s/ran\n", root);
        snprintf(user, sizeof(user), "#!/bin/sh\necho \"user $INSTANCE_ID\" >> %s/ran\n", root);
        snprintf(once2, sizeof(once2), "#!/bin/sh\necho \"new-once $INSTANCE_ID\" >> %s/ran\n", root);
        snprintf(rc, sizeof(rc), "echo \"runcmd $INSTANCE_ID\" >> %s/ran", root);
        struct kiln_ud_part parts[] = {
                { .type = KILN_UD_SCRIPT, .content_type = "text/x-shellscript-per-boot", .data = (uint8_t *)boot,
                  .len = strlen(boot) },
                { .type = KILN_UD_SCRIPT, .content_type = "text/x-shellscript-per-once", .data = (uint8_t *)once,
                  .len = strlen(once) },
                { .type = KILN_UD_SCRIPT, .content_type = "text/x-shellscript-per-instance", .data = (uint8_t *)inst,
                  .len = strlen(inst) },
                { .type = KILN_UD_SCRIPT, .content_type = "text/x-shellscript", .data = (uint8_t *)user,
                  .len = strlen(user) },
                { .type = KILN_UD_SCRIPT, .content_type = "text/x-shellscript-per-once", .data = (uint8_t *)once2,
                  .len = strlen(once2) },
        };
        struct kiln_userdata ud = { .parts = parts, .n_parts = 4 };
        struct kiln_cc_command runcmd[] = { { .shell = rc } };
        struct kiln_stage_opts opts = { .root = root };

        kiln_cloud_config_init(&cc);
        cc.runcmd = runcmd;
        cc.n_runcmd = 1;
        r = kiln_stage_write(&ctx, &cc, &ud);
        ok(r == 0, "freq: staged for instance A (%s)", r ? kiln_last_error() : "");
        put(root, "var/lib/kiln/instance-id", 0644, "i-aaaa\n");

        r = kiln_stage_run("final", &opts);
        is_int(r, 0, "freq: A's first final stage");
        text = slurp(root, "ran");
        is_str(text, "once i-aaaa\nboot i-aaaa\ninstance i-aaaa\nuser i-aaaa\nruncmd i-aaaa\n",
               "freq: A's first boot runs them all, in cloud-init's order (per-once, per-boot, per-instance, user)");
        free(text);
        text = slurp(root, "var/lib/kiln/instances/i-aaaa/scripts/STATUS");
        is_str(text, "per-once/part-002 0\npart-003 0\npart-004 0\nruncmd 0\n",
               "freq: exit statuses of the once-only scripts recorded");
        free(text);
        unlink(path_of(root, "ran"));
        kiln_stage_run("final", &opts);
        text = slurp(root, "ran");
        is_str(text, "boot i-aaaa\n", "freq: A's second boot runs the per-boot script alone");
        free(text);

        /* The same disk as instance B, the same user data and one new per-once script. */
        ctx.instance = &b;
        ud.n_parts = 5;
        r = kiln_stage_write(&ctx, &cc, &ud);
        ok(r == 0, "freq: staged for instance B (%s)", r ? kiln_last_error() : "");
        put(root, "var/lib/kiln/instance-id", 0644, "i-bbbb\n");
        unlink(path_of(root, "ran"));
        r = kiln_stage_run("final", &opts);
        is_int(r, 0, "freq: B's first final stage");
        text = slurp(root, "ran");
        is_str(text, "new-once i-bbbb\nboot i-bbbb\ninstance i-bbbb\nuser i-bbbb\nruncmd i-bbbb\n",
               "freq: B runs per-boot and per-instance again, and only the per-once script that never ran");
        free(text);
        text = slurp(root, "var/log/kiln-userdata.log");
        has(text, "kiln-userdata: per-once script part-002: ran before on this disk (/var/lib/kiln/per-once/",
            "freq: the per-once script that ran for A is skipped for B, logged");
        has(text, "part-002 i-aaaa); not again\n", "freq: the marker names the script and the instance it ran for");
        free(text);
        ok(exists(root, "var/lib/kiln/per-once") && !exists(root, "var/lib/kiln/instances/i-aaaa/per-once") &&
                   !exists(root, "var/lib/kiln/instances/i-bbbb/per-once"),
           "freq: per-once markers live outside the instance folders");
        unlink(path_of(root, "ran"));
        kiln_stage_run("final", &opts);
        text = slurp(root, "ran");
        is_str(text, "boot i-bbbb\n", "freq: B's second boot runs the per-boot script alone");
        free(text);
        close(ctx.rootfd);
        free(root);
}

/* ---- write_files owned by users the same user data makes ------------------------------- */

static char owner_log[16384];

static void capture(void *ud, const char *fmt, ...)
{
        size_t n = strlen(owner_log);
        va_list ap;

        (void)ud;
        va_start(ap, fmt);
        vsnprintf(owner_log + n, sizeof(owner_log) - n - 1, fmt, ap);
        va_end(ap);
        n = strlen(owner_log);
        owner_log[n] = '\n';
        owner_log[n + 1] = 0;
}

static char *nameless_keys[] = { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINamelessKeyFour nameless@x", NULL };

/*
 * cloud-init runs write_files before users_groups, so a file owned by a
 * user the same user data makes fails there.  kiln writes it owned by root
 * and gives it its owner (and its mode again, set-ID bits included) right
 * after the users module.  Also: a users: entry without a name is the
 * default user's (its keys are installed for it).
 */
static void test_write_files_owner_later(void)
{
        char *root = make_root("owner-later");
        struct kiln_cloud_config cc;
        struct kiln_apply_ctx ctx = { .rootfd = open_root(root), .log = capture, .instance = &test_instance };
        unsigned given;
        int units, failed;
        struct stat st;
        const char *line;

        fill_config(&cc);
        test_users[5].name = "carol";
        test_users[0].ssh_authorized_keys = nameless_keys; /* the "default" entry, as a nameless one parses */
        struct kiln_cc_file files[] = {
                { .path = "/etc/alice.conf", .content = (uint8_t *)"a\n", .len = 2, .owner = "alice:adm",
                  .permissions = 0640 },
                { .path = "/srv/shared/notes", .content = (uint8_t *)"n\n", .len = 2, .owner = "olduser:devs",
                  .permissions = 02770 },
                { .path = "/etc/admin.conf", .content = (uint8_t *)"d\n", .len = 2, .owner = "admin",
                  .permissions = -1 },
                { .path = "/etc/ghost.conf", .content = (uint8_t *)"g\n", .len = 2, .owner = "ghost:ghost",
                  .permissions = -1 },
                { .path = "/etc/now.conf", .content = (uint8_t *)"x\n", .len = 2, .owner = "olduser:users",
                  .permissions = 0600 },
        };
        cc.write_files = files;
        cc.n_write_files = ARRAY_SIZE(files);
        owner_log[0] = 0;
        failed = kiln_apply_all(&ctx, &cc, NULL, &given, &units);
        for (char *l = owner_log, *nl; *l; l = nl + 1) {
                nl = strchr(l, '\n');
                tap_diag("  log: %.*s", (int)(nl - l), l);
        }
        is_int(failed, 1, "owners: only write_files fails, for the owner nobody makes");
        ok(exists(root, "etc/alice.conf") && exists(root, "srv/shared/notes") && exists(root, "etc/admin.conf") &&
                   exists(root, "etc/now.conf") && !exists(root, "etc/ghost.conf"),
           "owners: files owned by users and groups the user data makes are written; the unknown owner's is not");
        line = entry(root, "etc/passwd", "alice");
        unsigned alice = line ? field_uint(line, 2) : 0;
        ok(stat(path_of(root, "etc/alice.conf"), &st) == 0 && alice >= 1000 && st.st_uid == alice && st.st_gid == 4 &&
                   (st.st_mode & 07777) == 0640,
           "owners: alice:adm (alice made by the users module) applied, mode kept");
        line = entry(root, "etc/group", "devs");
        unsigned devs = line ? field_uint(line, 2) : 0;
        ok(stat(path_of(root, "srv/shared/notes"), &st) == 0 && devs >= 1000 && st.st_uid == 1000 &&
                   st.st_gid == devs && (st.st_mode & 07777) == 02770,
           "owners: olduser:devs (devs made as bob's primary group), set-gid bit kept after chown");
        line = entry(root, "etc/passwd", "admin");
        unsigned admin = line ? field_uint(line, 2) : 0;
        ok(stat(path_of(root, "etc/admin.conf"), &st) == 0 && admin >= 1000 && st.st_uid == admin && st.st_gid == 0,
           "owners: the default user 'admin'; no group given: root's");
        ok(stat(path_of(root, "etc/now.conf"), &st) == 0 && st.st_uid == 1000 && st.st_gid == 100,
           "owners: olduser:users, both in the image, set right away");
        has(owner_log, "write_files: /etc/alice.conf: owner alice:adm applied after the users module",
            "owners: logged as applied after the users module");
        has(owner_log, "write_files: /srv/shared/notes: owner olduser:devs applied after the users module",
            "owners: a group the users module makes counts too");
        ok(!strstr(owner_log, "/etc/now.conf: owner") && strstr(owner_log, "ghost"),
           "owners: an owner in the image is not deferred; the unknown one is logged");
        char *keys = slurp(root, "home/admin/.ssh/authorized_keys");
        has(keys, "AAAAINamelessKeyFour nameless@x", "users: the keys of an entry without a name go to the default user");
        free(keys);
        close(ctx.rootfd);
        test_users[5].name = "bad:name";
        free(root);
}

int main(void)
{
        (void)strv_a;
        is_root = geteuid() == 0;
        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return 1;
        }
        test_names();
        test_authkeys_parser();
        test_users_groups();
        test_ssh();
        test_write_files();
        test_system();
        test_units();
        test_stage();
        test_stage_odd_id();
        test_escapes();
        test_lock();
        test_all();
        test_stage_freq();
        test_write_files_owner_later();
        if (!getenv("KILN_TEST_KEEP")) {
                char cmd[256];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
                if (system(cmd) != 0)
                        tap_diag("could not remove %s", base);
        } else {
                tap_diag("kept %s", base);
        }
        return tap_done();
}
