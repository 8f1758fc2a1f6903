/* SPDX-License-Identifier: MIT */
/* The kernel command line -> struct kiln_cmdline.  Pure; see cmdline.h. */
#include "cmdline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* The kernel's isspace() (lib/ctype.c): also 0xA0, Latin-1's no-break space. */
static bool k_isspace(char c)
{
        unsigned char u = (unsigned char)c;
        return u == ' ' || (u >= '\t' && u <= '\r') || u == 0xa0;
}

static char *skip_spaces(char *s)
{
        while (k_isspace(*s))
                s++;
        return s;
}

/* lib/cmdline.c next_arg(), line for line: splits in place. */
static char *next_arg(char *args, char **param, char **val)
{
        size_t i, equals = 0;
        bool in_quote = false, quoted = false;

        if (*args == '"') {
                args++;
                in_quote = true;
                quoted = true;
        }
        for (i = 0; args[i]; i++) {
                if (k_isspace(args[i]) && !in_quote)
                        break;
                if (equals == 0 && args[i] == '=')
                        equals = i;
                if (args[i] == '"')
                        in_quote = !in_quote;
        }
        *param = args;
        if (!equals) {
                *val = NULL;
        } else {
                args[equals] = '\0';
                *val = args + equals + 1;
                /* Don't include quotes in value. */
                if (**val == '"') {
                        (*val)++;
                        if (args[i - 1] == '"')
                                args[i - 1] = '\0';
                }
        }
        if (quoted && i > 0 && args[i - 1] == '"')
                args[i - 1] = '\0';
        if (args[i]) {
                args[i] = '\0';
                args += i + 1;
        } else {
                args += i;
        }
        return skip_spaces(args);
}

/* Parameter names: '-' and '_' are the same letter (the kernel's parameq). */
static bool name_is(const char *param, const char *name)
{
        for (; *param && *name; param++, name++) {
                char a = *param == '-' ? '_' : *param, b = *name == '-' ? '_' : *name;
                if (a != b)
                        return false;
        }
        return !*param && !*name;
}

static _printf_(2, 3) void ignored(struct kiln_cmdline *c, const char *fmt, ...)
{
        va_list ap;

        c->n_ignored++;
        if (c->problem[0])
                return;
        va_start(ap, fmt);
        vsnprintf(c->problem, sizeof(c->problem), fmt, ap);
        va_end(ap);
}

/* Copy a value into a field; false (and nothing copied) when it does not fit. */
static bool set_str(char *dst, size_t size, const char *src)
{
        size_t n = strlen(src);

        if (n >= size)
                return false;
        memcpy(dst, src, n + 1);
        return true;
}

static bool parse_uint(const char *s, uint32_t max, uint32_t *ret)
{
        uint64_t v = 0;

        if (!*s)
                return false;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return false;
                v = v * 10 + (uint64_t)(*s - '0');
                if (v > max)
                        return false;
        }
        *ret = (uint32_t)v;
        return true;
}

static int hexdigit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static bool parse_hex(const char *s, size_t n, uint32_t *ret)
{
        uint32_t v = 0;

        for (size_t i = 0; i < n; i++) {
                int d = hexdigit(s[i]);
                if (d < 0)
                        return false;
                v = v << 4 | (uint32_t)d;
        }
        *ret = v;
        return true;
}

static bool parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = { "1", "yes", "y", "true", "on" }, *const no[] = { "0", "no", "n", "false", "off" };

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (!strcasecmp(s, yes[i])) {
                        *ret = true;
                        return true;
                }
                if (!strcasecmp(s, no[i])) {
                        *ret = false;
                        return true;
                }
        }
        return false;
}

/* Task and stage names, instance IDs: safe as a path component. */
static bool is_name(const char *s, size_t max)
{
        size_t n = strlen(s);

        if (n == 0 || n > max || !strcmp(s, ".") || !strcmp(s, ".."))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                      *s == '_' || *s == '.'))
                        return false;
        return true;
}

static void lowercase(char *s)
{
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char)(*s - 'A' + 'a');
}

/* PARTUUID=<36-char GUID>|<8 hex>-<2 hex>[/PARTNROFF=N] (init/do_mounts.c). */
static bool parse_partuuid(char *v, struct kiln_root_spec *r)
{
        char *slash = strchr(v, '/');

        r->partnroff = 0;
        if (slash) {
                const char *off = slash + 1;
                bool neg = false;
                uint32_t n;
                if (strncmp(off, "PARTNROFF=", 10))
                        return false;
                off += 10;
                if (*off == '-' || *off == '+') {
                        neg = *off == '-';
                        off++;
                }
                if (!parse_uint(off, 255, &n))
                        return false;
                r->partnroff = neg ? -(int)n : (int)n;
                *slash = '\0';
        }
        lowercase(v);
        if (strlen(v) == 36) {
                r->partuuid_mbr = false;
                return parse_uuid(v, r->partuuid) == 0;
        }
        if (strlen(v) == 11 && v[8] == '-') {
                r->partuuid_mbr = true;
                return parse_hex(v, 8, &r->mbr_signature) && parse_hex(v + 9, 2, &r->mbr_partno) && r->mbr_partno > 0;
        }
        return false;
}

static void set_root(struct kiln_cmdline *c, const char *val)
{
        struct kiln_root_spec r = { 0 };
        const char *v = NULL;

        if (!*val) { /* root= with nothing: no root */
                memset(&c->root, 0, sizeof(c->root));
                return;
        }
        if (!set_str(r.raw, sizeof(r.raw), val)) {
                ignored(c, "ignoring root=: longer than %u bytes", KILN_CMDLINE_VALUE_MAX);
                return;
        }
        if (!strncmp(val, "PARTUUID=", 9)) {
                r.kind = KILN_ROOT_PARTUUID;
                v = val + 9;
        } else if (!strncmp(val, "UUID=", 5)) {
                r.kind = KILN_ROOT_UUID;
                v = val + 5;
        } else if (!strncmp(val, "PARTLABEL=", 10)) {
                r.kind = KILN_ROOT_PARTLABEL;
                v = val + 10;
        } else if (!strncmp(val, "LABEL=", 6)) {
                r.kind = KILN_ROOT_LABEL;
                v = val + 6;
        } else if (val[0] == '/') {
                r.kind = KILN_ROOT_PATH;
                v = val;
        }

        if (v) {
                memcpy(r.value, v, strlen(v) + 1); /* shorter than raw */
                if (!r.value[0] || (r.kind == KILN_ROOT_PARTUUID && !parse_partuuid(r.value, &r)))
                        r.kind = KILN_ROOT_INVALID;
        } else if (strchr(val, ':')) {
                const char *colon = strchr(val, ':');
                char maj[16];
                size_t n = (size_t)(colon - val);
                r.kind = KILN_ROOT_INVALID;
                if (n > 0 && n < sizeof(maj)) {
                        memcpy(maj, val, n);
                        maj[n] = '\0';
                        if (parse_uint(maj, 4095, &r.major) && parse_uint(colon + 1, 1048575, &r.minor)) {
                                r.kind = KILN_ROOT_DEVNUM;
                                memcpy(r.value, val, strlen(val) + 1);
                        }
                }
        } else if (is_name(val, KILN_CMDLINE_VALUE_MAX - 5)) {
                /* The kernel takes root=vda1 as /dev/vda1. */
                r.kind = KILN_ROOT_PATH;
                memcpy(r.value, "/dev/", 5);
                memcpy(r.value + 5, val, strlen(val) + 1); /* is_name() kept it short enough */
        } else {
                r.kind = KILN_ROOT_INVALID;
        }
        if (r.kind == KILN_ROOT_INVALID) {
                /* Kept, so kiln-init can say which root= it could not use. */
                ignored(c, "cannot understand root='%.100s'", val);
                r.value[0] = '\0';
        }
        c->root = r;
}

static void set_skip(struct kiln_cmdline *c, char *val)
{
        char list[KILN_CMDLINE_MAX_SKIP][KILN_CMDLINE_TASK_MAX + 1];
        uint32_t n = 0;
        char *save = NULL;

        for (char *tok = strtok_r(val, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                char *end;
                bool dup = false;

                tok = skip_spaces(tok);
                for (end = tok + strlen(tok); end > tok && k_isspace(end[-1]); end--)
                        ;
                *end = '\0';
                if (!*tok)
                        continue;
                if (!is_name(tok, KILN_CMDLINE_TASK_MAX)) {
                        ignored(c, "ignoring kiln.skip: bad task name '%.40s'", tok);
                        return;
                }
                for (uint32_t i = 0; i < n; i++)
                        dup |= !strcmp(list[i], tok);
                if (dup)
                        continue;
                if (n == KILN_CMDLINE_MAX_SKIP) {
                        ignored(c, "ignoring kiln.skip: more than %u tasks", KILN_CMDLINE_MAX_SKIP);
                        return;
                }
                memcpy(list[n++], tok, strlen(tok) + 1);
        }
        memcpy(c->skip, list, sizeof(list[0]) * n);
        c->n_skip = n;
}

static void handle(struct kiln_cmdline *c, const char *param, char *val)
{
        uint32_t n;
        bool b;

        if (name_is(param, "root")) {
                if (val)
                        set_root(c, val);
        } else if (name_is(param, "rootfstype")) {
                if (val && !set_str(c->rootfstype, sizeof(c->rootfstype), val))
                        ignored(c, "ignoring rootfstype=: longer than %zu bytes", sizeof(c->rootfstype) - 1);
        } else if (name_is(param, "rootflags")) {
                if (val && !set_str(c->rootflags, sizeof(c->rootflags), val))
                        ignored(c, "ignoring rootflags=: longer than %zu bytes", sizeof(c->rootflags) - 1);
        } else if (name_is(param, "init")) {
                if (val && !set_str(c->init, sizeof(c->init), val))
                        ignored(c, "ignoring init=: longer than %zu bytes", sizeof(c->init) - 1);
        } else if (name_is(param, "ro") || name_is(param, "rw")) {
                if (!val) /* "ro=x" is not "ro" for the kernel either */
                        c->rw = name_is(param, "ro") ? KILN_RW_RO : KILN_RW_RW;
        } else if (name_is(param, "rootwait")) {
                if (!val) {
                        c->rootwait = true;
                        c->rootwait_timeout = -1;
                } else if (parse_uint(val, 3600, &n)) {
                        c->rootwait = true;
                        c->rootwait_timeout = (int)n;
                } else {
                        ignored(c, "ignoring rootwait='%.40s': not a number of seconds up to 3600", val);
                }
        } else if (name_is(param, "rootdelay")) {
                if (val && parse_uint(val, 3600, &n))
                        c->rootdelay = (int)n;
                else
                        ignored(c, "ignoring rootdelay='%.40s': not a number of seconds up to 3600", val ? val : "");
        } else if (name_is(param, "kiln.debug")) {
                if (!val)
                        c->debug = true;
                else if (parse_bool(val, &b))
                        c->debug = b;
                else
                        ignored(c, "ignoring kiln.debug='%.40s': not a boolean", val);
        } else if (name_is(param, "kiln.break")) {
                if (!val) {
                        c->brk = true;
                        c->break_at[0] = '\0';
                } else if (parse_bool(val, &b)) {
                        c->brk = b;
                        c->break_at[0] = '\0';
                } else if (is_name(val, KILN_CMDLINE_TASK_MAX)) {
                        c->brk = true;
                        memcpy(c->break_at, val, strlen(val) + 1);
                } else {
                        ignored(c, "ignoring kiln.break='%.40s': not a boolean or a stage name", val);
                }
        } else if (name_is(param, "kiln.instance_id")) {
                if (val && !*val)
                        c->instance_id[0] = '\0';
                else if (val && is_name(val, sizeof(c->instance_id) - 1))
                        memcpy(c->instance_id, val, strlen(val) + 1);
                else
                        ignored(c, "ignoring kiln.instance_id='%.40s': not 1-127 of A-Z a-z 0-9 . _ -", val ? val : "");
        } else if (name_is(param, "kiln.ds")) {
                if (val && !strcasecmp(val, "ec2"))
                        c->ds = KILN_DS_EC2;
                else if (val && !strcasecmp(val, "nocloud"))
                        c->ds = KILN_DS_NOCLOUD;
                else if (val && !strcasecmp(val, "none"))
                        c->ds = KILN_DS_NONE;
                else
                        ignored(c, "ignoring kiln.ds='%.40s': not ec2, nocloud or none", val ? val : "");
        } else if (name_is(param, "kiln.imds_v1")) {
                if (!val)
                        c->imds_v1 = true;
                else if (parse_bool(val, &b))
                        c->imds_v1 = b;
                else
                        ignored(c, "ignoring kiln.imds_v1='%.40s': not a boolean", val);
        } else if (name_is(param, "kiln.ssh_keytypes")) {
                if (val && strlen(val) < sizeof(c->ssh_keytypes) && strspn(val, "abcdefghijklmnopqrstuvwxyz0123456789,") == strlen(val))
                        memcpy(c->ssh_keytypes, val, strlen(val) + 1);
                else
                        ignored(c, "ignoring kiln.ssh_keytypes='%.40s': not a list like ed25519,ecdsa,rsa", val ? val : "");
        } else if (name_is(param, "kiln.test_crash")) {
                char task[sizeof(c->crash_task)];
                unsigned writes;
                if (val && sscanf(val, "%31[a-z]:%u", task, &writes) == 2 && writes > 0) {
                        memcpy(c->crash_task, task, sizeof(task));
                        c->crash_after = writes;
                } else {
                        ignored(c, "ignoring kiln.test_crash='%.40s': not TASK:N", val ? val : "");
                }
        } else if (name_is(param, "kiln.skip")) {
                if (val)
                        set_skip(c, val);
                else
                        ignored(c, "ignoring kiln.skip without a list of tasks");
        }
        /* Anything else is the kernel's, a module's or init's business. */
}

int kiln_cmdline_parse(const char *buf, size_t len, struct kiln_cmdline *ret)
{
        char work[KILN_CMDLINE_MAX + 1];
        struct kiln_cmdline c = { .rootdelay = -1, .rootwait_timeout = -1 };
        char *args, *param, *val;

        len = buf ? strnlen(buf, len) : 0;
        if (len > KILN_CMDLINE_MAX)
                return -E2BIG;
        if (len)
                memcpy(work, buf, len);
        work[len] = '\0';

        args = skip_spaces(work);
        while (*args) {
                args = next_arg(args, &param, &val);
                if (!val && !strcmp(param, "--"))
                        break; /* the rest is init's */
                handle(&c, param, val);
        }
        *ret = c;
        return 0;
}

bool kiln_cmdline_skips(const struct kiln_cmdline *c, const char *task)
{
        for (uint32_t i = 0; i < c->n_skip && i < KILN_CMDLINE_MAX_SKIP; i++)
                if (!strcmp(c->skip[i], task))
                        return true;
        return false;
}

const char *kiln_ds_to_string(enum kiln_ds ds)
{
        static const char *const names[] = {
                [KILN_DS_AUTO] = "auto",
                [KILN_DS_EC2] = "ec2",
                [KILN_DS_NOCLOUD] = "nocloud",
                [KILN_DS_NONE] = "none",
        };
        return (unsigned)ds < ARRAY_SIZE(names) ? names[ds] : NULL;
}

const char *kiln_root_kind_to_string(enum kiln_root_kind k)
{
        static const char *const names[] = {
                [KILN_ROOT_NONE] = "none",       [KILN_ROOT_UUID] = "uuid",   [KILN_ROOT_PARTUUID] = "partuuid",
                [KILN_ROOT_LABEL] = "label",     [KILN_ROOT_PARTLABEL] = "partlabel",
                [KILN_ROOT_PATH] = "path",       [KILN_ROOT_DEVNUM] = "devnum", [KILN_ROOT_INVALID] = "invalid",
        };
        return (unsigned)k < ARRAY_SIZE(names) ? names[k] : NULL;
}
