/* SPDX-License-Identifier: MIT */
/*
 * `kiln user-data check FILE`: decode user data exactly as kiln-init would
 * (cloud-init-lite's pure parsers, the same code), and say part by part and
 * key by key what an instance would do with it, like `cloud-init schema`:
 * what is applied, and each key or entry that is not (a bad value, named
 * with its line), as kiln-init applies a #cloud-config key by key.
 * Exit 0 when the user data decodes and every #cloud-config part is a YAML
 * mapping (unsupported keys and bad values are reported, not errors: kiln-init
 * applies the rest, as cloud-init does), 1 with one line "kiln: user data
 * 'F': part 2: line 7: ..." when it does not decode or a #cloud-config part
 * is refused whole (not YAML, not a mapping), 2 on usage errors.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cloudconfig.h"
#include "commands.h"
#include "netcfg.h"
#include "netrender.h"
#include "userdata.h"
#include "util.h"

#define SHOW_MAX 60


static void usage(FILE *f)
{
        fputs("usage: kiln user-data check FILE\n"
              "       kiln user-data check --network-config FILE [--stack STACK|all]\n"
              "  decode user data (FILE, or - for stdin) as an instance would: gzip, MIME multipart,\n"
              "  scripts, #cloud-config; print what would be applied, part by part and key by key\n"
              "  --network-config: parse a NoCloud network-config (version 1 or 2) as kiln-init does and\n"
              "  print the interfaces and the files kiln-init would write for STACK (netplan, ifupdown,\n"
              "  NetworkManager, systemd-networkd (the default) or all)\n",
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
                switch (kiln_ud_script_freq(p)) {
                case KILN_UD_PER_BOOT:
                        return "runs every boot as a script";
                case KILN_UD_PER_ONCE:
                        return "runs once for the life of the disk (not again for a new instance id) as a script";
                case KILN_UD_PER_INSTANCE:
                        break;
                }
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

        /* "default": the image's default user, with what entries without a name add to it. */
        put_text(u->is_default ? "default" : u->name ? u->name : "?");
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

/* Whether the users module (run on all the user data, all) makes f's owner's user or group. */
static bool owner_made_by_users(const struct kiln_cloud_config *all, const struct kiln_cc_file *f)
{
        const char *colon;
        char user[256];

        if (!f->owner || !*f->owner || f->defer)
                return false;
        colon = strchr(f->owner, ':');
        snprintf(user, sizeof(user), "%.*s", colon ? (int)(colon - f->owner) : (int)strlen(f->owner), f->owner);
        return kiln_cc_creates_user(all, user) || (colon && kiln_cc_creates_group(all, colon + 1));
}

/* What a #cloud-config part sets, key by key, in a fixed order; all is
 * the whole user data's, merged. */
static void put_cloud_config(const struct kiln_cloud_config *cc, const struct kiln_cloud_config *all)
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
                printf(", %zu byte%s%s%s%s)\n", f->len, f->len == 1 ? "" : "s", f->append ? ", appended" : "",
                       f->defer ? ", deferred" : "",
                       owner_made_by_users(all, f) ? ", written as root:root, its owner applied after the users module"
                                                   : "");
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
        for (size_t i = 0; i < cc->n_errors; i++) {
                const struct kiln_cc_error *e = &cc->errors[i];

                fputs("  NOT APPLIED: ", stdout);
                put_text(e->what);
                if (e->line)
                        printf(", line %zu", e->line);
                fputs(": ", stdout);
                put_text_max(e->message, 400);
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
        if (len > KILN_EC2_USER_DATA_MAX)
                printf("warning: %zu bytes, more than EC2's limit of %u: RunInstances and kiln run refuse it "
                       "(gzip it, or use a NoCloud seed, which takes up to %u MiB)\n",
                       len, KILN_EC2_USER_DATA_MAX, KILN_UD_MAX_BYTES >> 20);
        if (ud.n_parts == 0)
                puts("nothing to apply");

        /* First as the guest does: every part into one, later keys win; a
         * part that is not YAML (or not a mapping) is dropped whole. */
        kiln_cloud_config_init(&merged);
        for (size_t i = 0; i < ud.n_parts; i++) {
                const struct kiln_ud_part *p = &ud.parts[i];
                char name[32];

                if (p->type != KILN_UD_CLOUD_CONFIG)
                        continue;
                snprintf(name, sizeof(name), "part %zu", i + 1);
                kiln_clear_error();
                if (kiln_cloud_config_parse(&merged, name, p->data, p->len) >= 0)
                        n_cc++;
        }
        for (size_t i = 0; i < ud.n_parts; i++) {
                const struct kiln_ud_part *p = &ud.parts[i];
                const char *what = what_part_does(p);
                struct kiln_cloud_config cc;
                char name[32];

                printf("part %zu: ", i + 1);
                put_text(p->content_type);
                if (p->filename) {
                        fputs(", '", stdout);
                        put_text(p->filename);
                        putchar('\'');
                }
                printf(", %zu byte%s: ", p->len, p->len == 1 ? "" : "s");
                if (p->type != KILN_UD_CLOUD_CONFIG) {
                        if (what) {
                                puts(what);
                        } else {
                                fputs("not applied: content type '", stdout);
                                put_text(p->content_type);
                                puts("' is not supported");
                        }
                        continue;
                }
                snprintf(name, sizeof(name), "part %zu", i + 1);
                kiln_cloud_config_init(&cc);
                kiln_clear_error();
                r = kiln_cloud_config_parse(&cc, name, p->data, p->len);
                if (r < 0) {
                        /* Refused whole, as cloud-init refuses it; the other parts still apply. */
                        const char *msg = kiln_last_error();
                        size_t nl = strlen(name);
                        unsigned long line = 0;
                        char *end = NULL;

                        /* "part 2:4: msg" -> "line 4: msg", as on stderr. */
                        if (!strncmp(msg, name, nl) && msg[nl] == ':') {
                                line = strtoul(msg + nl + 1, &end, 10);
                                if (line && end[0] == ':' && end[1] == ' ') {
                                        msg = end + 2;
                                } else {
                                        line = 0;
                                        msg += nl + 1 + (msg[nl + 1] == ' ');
                                }
                        }
                        fputs("NOT APPLIED (cloud-init refuses it too): ", stdout);
                        if (line)
                                printf("line %lu: ", line);
                        put_text_max(msg, 400);
                        putchar('\n');
                        if (!status) {
                                fflush(stdout);
                                fail_cloud_config(file, name, kiln_last_error());
                        }
                        status = 1;
                } else if (r > 0) {
                        printf("%s, except %d bad key%s or entr%s (NOT APPLIED below)\n", what, r, r == 1 ? "" : "s",
                               r == 1 ? "y" : "ies");
                        put_cloud_config(&cc, &merged);
                } else {
                        puts(what);
                        put_cloud_config(&cc, &merged);
                }
                kiln_cloud_config_free(&cc);
        }
        if (n_cc > 1)
                printf("%zu #cloud-config parts merged: a later part's key replaces an earlier one's (a bad value "
                       "too: the key is then unset)\n", n_cc);
        if (n_cc) {
                fputs("unsupported keys (not applied): ", stdout);
                if (merged.unsupported)
                        put_list(merged.unsupported, ", ");
                else
                        fputs("none", stdout);
                putchar('\n');
        }
        kiln_cloud_config_free(&merged);
        kiln_userdata_free(&ud);
        return status;
}

/* ---- network-config ------------------------------------------------------ */

static void put_iface(const struct kiln_net_iface *f)
{
        fputs("interface ", stdout);
        put_text(f->id);
        fputs(":", stdout);
        if (f->match_mac)
                printf(" match MAC %s", f->match_mac);
        if (f->match_name) {
                fputs(" match name ", stdout);
                put_text(f->match_name);
        }
        if (f->match_driver) {
                fputs(" match driver ", stdout);
                put_text(f->match_driver);
        }
        if (!f->match_mac && !f->match_name && !f->match_driver)
                fputs(" by name", stdout);
        if (f->set_name) {
                fputs(", named ", stdout);
                put_text(f->set_name);
        }
        if (f->dhcp4)
                printf(f->dhcp4_metric >= 0 ? ", dhcp4 (route metric %ld)" : ", dhcp4", f->dhcp4_metric);
        if (f->dhcp6)
                printf(f->dhcp6_metric >= 0 ? ", dhcp6 (route metric %ld)" : ", dhcp6", f->dhcp6_metric);
        if (f->accept_ra >= 0)
                printf(", accept-ra %s", f->accept_ra ? "yes" : "no");
        if (f->addresses) {
                fputs(", addresses ", stdout);
                put_list(f->addresses, ", ");
        }
        if (f->gateway4)
                printf(", gateway4 %s", f->gateway4);
        if (f->gateway6)
                printf(", gateway6 %s", f->gateway6);
        for (size_t i = 0; i < f->n_routes; i++)
                printf(", route %s%s%s", f->routes[i].to, f->routes[i].via ? " via " : "",
                       f->routes[i].via ? f->routes[i].via : "");
        if (f->nameservers) {
                fputs(", nameservers ", stdout);
                put_list(f->nameservers, ", ");
        }
        if (f->search) {
                fputs(", search ", stdout);
                put_list(f->search, ", ");
        }
        if (f->mtu)
                printf(", mtu %u", f->mtu);
        if (f->optional)
                fputs(", optional", stdout);
        if (f->primary)
                fputs(", primary", stdout);
        putchar('\n');
}

static int put_files(const struct kiln_netcfg *cfg, enum kiln_net_stack stack)
{
        struct kiln_net_files files = { 0 };
        int r = kiln_net_render(stack, cfg, &files);

        if (r < 0)
                return r;
        printf("files kiln-init writes for %s:\n", kiln_net_stack_to_string(stack));
        for (size_t i = 0; i < files.n; i++) {
                const struct kiln_net_file *f = &files.v[i];
                if (f->symlink) {
                        printf("=== /%s -> %s\n", f->path, f->symlink);
                        continue;
                }
                printf("=== /%s (%04o)\n", f->path, f->mode);
                fwrite(f->content, 1, f->len, stdout);
                if (f->len && f->content[f->len - 1] != '\n')
                        putchar('\n');
        }
        kiln_net_files_free(&files);
        return 0;
}

int kiln_network_config_check(const char *file, const void *buf, size_t len, const char *stack, bool show_files)
{
        struct kiln_netcfg cfg;
        static const enum kiln_net_stack all[] = { KILN_NET_STACK_NETPLAN, KILN_NET_STACK_IFUPDOWN,
                                                   KILN_NET_STACK_NETWORKMANAGER, KILN_NET_STACK_NETWORKD };
        enum kiln_net_stack pick = KILN_NET_STACK_NETWORKD;
        bool every = stack && !strcmp(stack, "all"), quiet = stack && !*stack;
        int r;

        if (stack && !every && !quiet) {
                pick = KILN_NET_STACK_NONE;
                for (size_t i = 0; i < ARRAY_SIZE(all); i++)
                        if (!strcmp(stack, kiln_net_stack_to_string(all[i])))
                                pick = all[i];
                if (pick == KILN_NET_STACK_NONE) {
                        kiln_fail("unknown --stack '%s' (netplan, ifupdown, NetworkManager, systemd-networkd or all)",
                                  stack);
                        return 2;
                }
        }
        kiln_clear_error();
        r = kiln_netcfg_parse("network-config", buf, len, &cfg);
        if (r < 0) {
                const char *msg = kiln_last_error();
                unsigned long line;
                char *end;
                if (!strncmp(msg, "network-config:", 15) && (line = strtoul(msg + 15, &end, 10)) && !strncmp(end, ": ", 2))
                        kiln_fail("network-config '%s': line %lu: %s", file, line, end + 2);
                else
                        kiln_fail("network-config '%s': %s", file,
                                  !strncmp(msg, "network-config: ", 16) ? msg + 16 : msg);
                return 1;
        }
        if (quiet)
                goto done;
        fputs("network-config '", stdout);
        put_text(file);
        if (cfg.disabled) {
                puts("': config: disabled: kiln-init writes no network configuration and leaves the image's own");
                goto out;
        }
        printf("': version %d, %zu interface%s\n", cfg.version, cfg.n_ifaces, cfg.n_ifaces == 1 ? "" : "s");
        if (!cfg.n_ifaces)
                puts("no interfaces: kiln-init uses the datasource's configuration or the fallback "
                     "(DHCP on the first NIC) instead");
        for (size_t i = 0; i < cfg.n_ifaces; i++)
                put_iface(&cfg.ifaces[i]);
        if (cfg.nameservers) {
                fputs("nameservers: ", stdout);
                put_list(cfg.nameservers, ", ");
                putchar('\n');
        }
        if (cfg.search) {
                fputs("search: ", stdout);
                put_list(cfg.search, ", ");
                putchar('\n');
        }
        for (size_t i = 0; cfg.warnings && cfg.warnings[i]; i++) {
                fputs("warning: ", stdout);
                put_text_max(cfg.warnings[i], 400);
                putchar('\n');
        }
        for (size_t i = 0; show_files && cfg.n_ifaces && i < ARRAY_SIZE(all); i++) {
                if (!every && all[i] != pick)
                        continue;
                kiln_clear_error();
                if (put_files(&cfg, all[i]) < 0) {
                        fflush(stdout);
                        kiln_fail("network-config '%s': %s: %s", file, kiln_net_stack_to_string(all[i]),
                                  kiln_last_error());
                        r = 1;
                        goto out;
                }
        }
done:
        r = 0;
out:
        kiln_netcfg_free(&cfg);
        return r;
}

static int check_network(int argc, char **argv)
{
        const char *file = NULL, *stack = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t len = 0;
        int r;

        for (int i = 2; i < argc; i++) {
                if (!strcmp(argv[i], "--network-config") && i + 1 < argc && !file)
                        file = argv[++i];
                else if (!strcmp(argv[i], "--stack") && i + 1 < argc && !stack)
                        stack = argv[++i];
                else {
                        usage(stderr);
                        return 2;
                }
        }
        if (!file) {
                usage(stderr);
                return 2;
        }
        r = read_input(file, &buf, &len);
        if (r < 0) {
                kiln_fail("cannot read network-config '%s': %s", file, r == -EFBIG ? "too large" : strerror(-r));
                return 1;
        }
        return kiln_network_config_check(file, buf, len, stack, true);
}

int cmd_user_data(int argc, char **argv)
{
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                usage(stdout);
                return 0;
        }
        if (argc >= 3 && !strcmp(argv[1], "check") && argv[2][0] == '-' && argv[2][1] == '-')
                return check_network(argc, argv);
        if (argc != 3 || strcmp(argv[1], "check")) {
                usage(stderr);
                return 2;
        }
        return check(argv[2]);
}
