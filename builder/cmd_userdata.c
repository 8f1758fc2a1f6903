/* SPDX-License-Identifier: MIT */
/*
 * `kiln user-data check FILE`: decode user data exactly as kiln-init would
 * (cloud-init-lite's pure parsers, the same code), and say part by part and
 * key by key what an instance would do with it, like `cloud-init schema`.
 * Exit 0 when everything parses (unsupported keys are warnings), 1 with one
 * line "kiln: user data 'F': part 2: line 7: ..." on malformed input, 2 on
 * usage errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudconfig.h"
#include "commands.h"
#include "userdata.h"
#include "util.h"

#define SHOW_MAX 60


static void usage(FILE *f)
{
        fputs("usage: kiln user-data check FILE\n"
              "  decode user data (FILE, or - for stdin) as an instance would: gzip, MIME multipart,\n"
              "  scripts, #cloud-config; print what would be applied, part by part and key by key\n",
              f);
}

/* Text from user data, on one line, control characters escaped, cut short. */
static void put_text_max(const char *s, size_t max)
{
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
                if (n == max) {
                        fputs("...", stdout);
                        return;
                }
                if (*p == '\n')
                        fputs("\\n", stdout);
                else if (*p < 0x20 || *p == 0x7f)
                        printf("\\x%02x", *p);
                else
                        putchar(*p);
        }
}

static void put_text(const char *s)
{
        put_text_max(s, SHOW_MAX);
}

static void put_key(const char *key, const char *value)
{
        printf("  %s: ", key);
        put_text(value);
        putchar('\n');
}

static const char *tristate(enum kiln_tristate t)
{
        return t == KILN_TRUE ? "true" : "false";
}

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

#define LIST_MAX 16 /* entries shown of one list */

static void put_list(char *const *v, const char *sep)
{
        size_t i;

        for (i = 0; v && v[i] && i < LIST_MAX; i++) {
                if (i)
                        fputs(sep, stdout);
                put_text(v[i]);
        }
        if (v && v[i])
                printf("%s... (%zu in all)", sep, strv_len(v));
}

static const char *what_part_does(const struct kiln_ud_part *p)
{
        switch (p->type) {
        case KILN_UD_SCRIPT:
                if (!strcmp(p->content_type, "text/x-shellscript-per-boot"))
                        return "runs every boot as a script";
                if (!strcmp(p->content_type, "text/x-shellscript-per-once"))
                        return "runs once (only on the first instance) as a script";
                return "runs once per instance as a script";
        case KILN_UD_CLOUD_CONFIG:
                return "applied as #cloud-config";
        case KILN_UD_BOOTHOOK:
                return "boothook: runs every boot";
        case KILN_UD_INCLUDE:
                if (!strcmp(p->content_type, "text/x-include-once-url"))
                        return "not applied: #include-once is not supported";
                return "not applied: #include is not supported";
        case KILN_UD_PART_HANDLER:
                return "not applied: #part-handler is not supported";
        case KILN_UD_JINJA:
                return "not applied: jinja templates are not supported";
        case KILN_UD_UNKNOWN:
                break;
        }
        return NULL;
}

static void put_user(const struct kiln_cc_user *u)
{
        bool first = true;
        size_t keys = strv_len(u->ssh_authorized_keys);

#define ATTR(...)                                        \
        do {                                             \
                fputs(first ? ": " : ", ", stdout);      \
                printf(__VA_ARGS__);                     \
                first = false;                           \
        } while (0)

        if (u->is_default) {
                fputs("default", stdout);
                return;
        }
        put_text(u->name ? u->name : "?");
        if (u->sudo)
                ATTR("sudo");
        if (keys)
                ATTR("%zu key%s", keys, keys == 1 ? "" : "s");
        if (u->groups) {
                ATTR("groups ");
                put_list(u->groups, ",");
        }
        if (u->system)
                ATTR("system");
        if (u->passwd)
                ATTR("password hash");
        if (u->lock_passwd == KILN_FALSE)
                ATTR("password login allowed");
        if (u->uid >= 0)
                ATTR("uid %ld", u->uid);
#undef ATTR
}

static void put_command(const char *key, size_t n, const char *when)
{
        printf("  %s: %zu command%s%s\n", key, n, n == 1 ? "" : "s", when);
}

static void put_mode(int mode)
{
        printf("0%03o", mode < 0 ? 0644 : mode);
}

/* What a #cloud-config part sets, key by key, in a fixed order. */
static void put_cloud_config(const struct kiln_cloud_config *cc)
{
        static const char *const hosts[] = { "false", "true", "localhost" };
        static const char *const resize[] = { "false", "true", "noblock" };
        static const char *const power[] = { "poweroff", "reboot", "halt" };

        if (cc->hostname)
                put_key("hostname", cc->hostname);
        if (cc->fqdn)
                put_key("fqdn", cc->fqdn);
        if (cc->preserve_hostname != KILN_UNSET)
                printf("  preserve_hostname: %s\n", tristate(cc->preserve_hostname));
        if (cc->manage_etc_hosts != KILN_HOSTS_UNSET)
                printf("  manage_etc_hosts: %s\n", hosts[cc->manage_etc_hosts]);
        if (cc->users_set) {
                printf("  users: %zu", cc->n_users);
                if (cc->n_users == 0)
                        fputs(" (none: not even the default user)", stdout);
                for (size_t i = 0; i < cc->n_users && i < LIST_MAX; i++) {
                        fputs(i ? "; " : " (", stdout);
                        put_user(&cc->users[i]);
                }
                if (cc->n_users > LIST_MAX)
                        fputs("; ...", stdout);
                puts(cc->n_users ? ")" : "");
        }
        if (cc->n_groups) {
                printf("  groups: %zu (", cc->n_groups);
                for (size_t i = 0; i < cc->n_groups && i < LIST_MAX; i++) {
                        if (i)
                                fputs("; ", stdout);
                        put_text(cc->groups[i].name);
                        if (cc->groups[i].members) {
                                fputs(": ", stdout);
                                put_list(cc->groups[i].members, ", ");
                        }
                }
                puts(cc->n_groups > LIST_MAX ? "; ...)" : ")");
        }
        if (cc->ssh_authorized_keys) {
                size_t n = strv_len(cc->ssh_authorized_keys);

                printf("  ssh_authorized_keys: %zu key%s for the default user\n", n, n == 1 ? "" : "s");
        }
        if (cc->disable_root != KILN_UNSET)
                printf("  disable_root: %s\n", tristate(cc->disable_root));
        if (cc->disable_root_opts)
                put_key("disable_root_opts", cc->disable_root_opts);
        if (cc->ssh_pwauth != KILN_UNSET)
                printf("  ssh_pwauth: %s\n", tristate(cc->ssh_pwauth));
        if (cc->ssh_deletekeys != KILN_UNSET)
                printf("  ssh_deletekeys: %s\n", tristate(cc->ssh_deletekeys));
        if (cc->ssh_genkeytypes) {
                fputs("  ssh_genkeytypes: ", stdout);
                put_list(cc->ssh_genkeytypes, ", ");
                putchar('\n');
        }
        for (size_t i = 0; i < cc->n_ssh_keys; i++) {
                const struct kiln_cc_ssh_key *k = &cc->ssh_keys[i];

                printf("  ssh_keys: %s (%s%s%s)\n", k->type, k->private_key ? "private" : "",
                       k->public_key ? (k->private_key ? ", public" : "public") : "",
                       k->certificate ? ", certificate" : "");
        }
        for (size_t i = 0; i < cc->n_write_files; i++) {
                const struct kiln_cc_file *f = &cc->write_files[i];

                fputs("  write_files: ", stdout);
                put_text(f->path);
                fputs(" (", stdout);
                put_mode(f->permissions);
                fputs(", ", stdout);
                put_text(f->owner ? f->owner : "root:root");
                printf(", %zu byte%s%s%s)\n", f->len, f->len == 1 ? "" : "s", f->append ? ", appended" : "",
                       f->defer ? ", deferred" : "");
        }
        if (cc->bootcmd)
                put_command("bootcmd", cc->n_bootcmd, ", every boot");
        if (cc->runcmd)
                put_command("runcmd", cc->n_runcmd, "");
        if (cc->growpart_mode != KILN_GROWPART_UNSET || cc->growpart_devices) {
                printf("  growpart: mode %s, devices ",
                       cc->growpart_mode == KILN_GROWPART_OFF ? "off" : "auto");
                if (cc->growpart_devices)
                        put_list(cc->growpart_devices, ", ");
                else
                        fputs("/", stdout);
                putchar('\n');
        }
        if (cc->resize_rootfs != KILN_RESIZE_UNSET)
                printf("  resize_rootfs: %s\n", resize[cc->resize_rootfs]);
        if (cc->mounts_set) {
                printf("  mounts: %zu", cc->n_mounts);
                for (size_t i = 0; i < cc->n_mounts; i++) {
                        fputs(i ? "; " : " (", stdout);
                        put_text(cc->mounts[i].field[0] ? cc->mounts[i].field[0] : "?");
                        fputs(" -> ", stdout);
                        put_text(cc->mounts[i].field[1] ? cc->mounts[i].field[1] : "(removed)");
                        if (i + 1 == LIST_MAX && cc->n_mounts > LIST_MAX) {
                                fputs("; ...", stdout);
                                break;
                        }
                }
                puts(cc->n_mounts ? ")" : "");
        }
        if (cc->mount_default_fields[0] || cc->mount_default_fields[2] || cc->mount_default_fields[3]) {
                fputs("  mount_default_fields:", stdout);
                for (int i = 0; i < 6; i++) {
                        putchar(' ');
                        put_text(cc->mount_default_fields[i] ? cc->mount_default_fields[i] : "-");
                }
                putchar('\n');
        }
        if (cc->timezone)
                put_key("timezone", cc->timezone);
        if (cc->final_message)
                put_key("final_message", cc->final_message);
        if (cc->power_state.mode != KILN_POWER_UNSET) {
                printf("  power_state: %s, delay ", power[cc->power_state.mode]);
                put_text(cc->power_state.delay ? cc->power_state.delay : "now");
                printf(", timeout %lds", cc->power_state.timeout < 0 ? 30 : cc->power_state.timeout);
                if (cc->power_state.condition_false)
                        fputs(", condition false (never)", stdout);
                else if (cc->power_state.condition.shell || cc->power_state.condition.argv)
                        fputs(", when a condition command succeeds", stdout);
                putchar('\n');
        }
        if (cc->default_user_set) {
                fputs("  system_info.default_user: ", stdout);
                struct kiln_cc_user u = cc->default_user;
                u.is_default = false;
                put_user(&u);
                putchar('\n');
        }
        for (size_t i = 0; cc->warnings && cc->warnings[i]; i++) {
                fputs("  warning: ", stdout);
                put_text_max(cc->warnings[i], 400);
                putchar('\n');
        }
}

static int read_input(const char *path, uint8_t **ret, size_t *ret_len)
{
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n = 0, cap = 0;

        if (strcmp(path, "-"))
                return read_full_file(path, KILN_UD_MAX_BYTES, ret, ret_len);
        for (;;) {
                ssize_t k;

                if (n == cap) {
                        uint8_t *p;

                        if (cap > KILN_UD_MAX_BYTES)
                                return -EFBIG;
                        cap = cap ? cap * 2 : 65536;
                        p = realloc(buf, cap + 1);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                }
                k = read(STDIN_FILENO, buf + n, cap - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t)k;
        }
        if (n > KILN_UD_MAX_BYTES)
                return -EFBIG;
        if (!buf && !(buf = malloc(1)))
                return -ENOMEM;
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

/* "part 2:7: msg" (the parser's NAME:LINE:) -> "part 2: line 7: msg". */
static void fail_cloud_config(const char *file, const char *name, const char *msg)
{
        size_t n = strlen(name);
        const char *p = msg + n;
        char *end;
        unsigned long line;

        if (!strncmp(msg, name, n) && *p == ':' && p[1] >= '0' && p[1] <= '9') {
                line = strtoul(p + 1, &end, 10);
                if (end[0] == ':' && end[1] == ' ') {
                        kiln_fail("user data '%s': %s: line %lu: %s", file, name, line, end + 2);
                        return;
                }
        }
        kiln_fail("user data '%s': %s", file, msg);
}

static int check(const char *file)
{
        _cleanup_free_ uint8_t *buf = NULL;
        struct kiln_userdata ud = { 0 };
        struct kiln_cloud_config merged;
        size_t len = 0, n_cc = 0;
        int r, status = 0;

        r = read_input(file, &buf, &len);
        if (r == -EFBIG) {
                kiln_fail("user data '%s': larger than %u MiB (the limit)", file, KILN_UD_MAX_BYTES >> 20);
                return 1;
        }
        if (r < 0) {
                kiln_fail("cannot read user data '%s': %s", file, strerror(-r));
                return 1;
        }
        r = kiln_userdata_decode(buf, len, &ud);
        if (r < 0) {
                const char *msg = kiln_last_error();

                if (!strncmp(msg, "user data: ", 11))
                        msg += 11;
                kiln_fail("user data '%s': %s", file, msg);
                return 1;
        }
        fputs("user data '", stdout);
        put_text(file);
        printf("': %zu bytes", len);
        if (ud.gzip_layers)
                printf(", gzip (%u layer%s)", ud.gzip_layers, ud.gzip_layers == 1 ? "" : "s");
        if (ud.mime_depth)
                printf(", MIME multipart (depth %u)", ud.mime_depth);
        printf(", %zu part%s\n", ud.n_parts, ud.n_parts == 1 ? "" : "s");
        if (ud.n_parts == 0)
                puts("nothing to apply");

        kiln_cloud_config_init(&merged);
        for (size_t i = 0; i < ud.n_parts; i++) {
                const struct kiln_ud_part *p = &ud.parts[i];
                const char *what = what_part_does(p);

                printf("part %zu: ", i + 1);
                put_text(p->content_type);
                if (p->filename) {
                        fputs(", '", stdout);
                        put_text(p->filename);
                        putchar('\'');
                }
                printf(", %zu byte%s: ", p->len, p->len == 1 ? "" : "s");
                if (what) {
                        puts(what);
                } else {
                        fputs("not applied: content type '", stdout);
                        put_text(p->content_type);
                        puts("' is not supported");
                }
                if (p->type != KILN_UD_CLOUD_CONFIG)
                        continue;

                struct kiln_cloud_config cc;
                char name[32];

                snprintf(name, sizeof(name), "part %zu", i + 1);
                kiln_cloud_config_init(&cc);
                r = kiln_cloud_config_parse(&cc, name, p->data, p->len);
                if (r < 0) {
                        fflush(stdout);
                        fail_cloud_config(file, name, kiln_last_error());
                        kiln_cloud_config_free(&cc);
                        status = 1;
                        goto out;
                }
                put_cloud_config(&cc);
                kiln_cloud_config_free(&cc);
                /* As the guest does: every part into one, later keys win. */
                r = kiln_cloud_config_parse(&merged, name, p->data, p->len);
                if (r < 0) {
                        fflush(stdout);
                        fail_cloud_config(file, name, kiln_last_error());
                        status = 1;
                        goto out;
                }
                n_cc++;
        }
        if (n_cc > 1)
                printf("%zu #cloud-config parts merged: a later part's key replaces an earlier one's\n", n_cc);
        if (n_cc) {
                fputs("unsupported keys (not applied): ", stdout);
                if (merged.unsupported)
                        put_list(merged.unsupported, ", ");
                else
                        fputs("none", stdout);
                putchar('\n');
        }
out:
        kiln_cloud_config_free(&merged);
        kiln_userdata_free(&ud);
        return status;
}

int cmd_user_data(int argc, char **argv)
{
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                usage(stdout);
                return 0;
        }
        if (argc != 3 || strcmp(argv[1], "check")) {
                usage(stderr);
                return 2;
        }
        return check(argv[2]);
}
