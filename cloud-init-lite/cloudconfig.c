/* SPDX-License-Identifier: MIT */
/*
 * #cloud-config: YAML bytes -> struct kiln_cloud_config.  Pure, bounded.
 *
 *   1. The document -> a tree of nodes, through yamltree.h: PyYAML's YAML
 *      1.1 (anchors and aliases, "<<" merge keys, !!binary), with limits on
 *      depth, node count and string length, and a work budget for the walk
 *      ("billion laughs" ends with a message).
 *   2. The tree -> the struct, one handler per top-level key, with
 *      cloud-init's meaning and accepted shapes (its module reference).
 *      A handler that finds an invalid value fails its key alone (or, in
 *      users, groups and write_files, its entry alone): the failure is
 *      recorded in errors and the walk goes on, as cloud-init's schema
 *      validation only warns and each module runs on what it can.  What
 *      ends the whole document: a spent work budget (aliases) and ENOMEM.
 *      Scalars are resolved as PyYAML resolves them (YAML 1.1): plain 0644
 *      is octal 420, yes/no/on/off are booleans.  String-valued keys take
 *      any scalar's text ("hostname: 42" is "42").  The "network" key is
 *      read by netcfg.c, as a NoCloud network-config would be.
 *
 * The document is parsed into a fresh struct; only when it is a readable
 * mapping are the keys it holds moved into the caller's, replacing what
 * earlier documents set.
 */
#include "cloudconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netcfg.h"
#include "userdata.h"
#include "util.h"
#include "yamltree.h"

/* --- the walk ---------------------------------------------------------- */

struct ctx {
        struct kiln_yaml *y;
        const char *name;
        struct kiln_cloud_config *cc;
        size_t n_warnings, warnings_cap; /* of cc->warnings */
        size_t errors_cap;               /* of cc->errors */
};

#define fail(c, v, path, ...) kiln_yaml_path_error((c)->name, v, path, __VA_ARGS__)

static int oom(const struct ctx *c)
{
        return kiln_errorf(-ENOMEM, "%s: out of memory", c->name);
}

static int add_warning(struct ctx *c, const char *fmt, ...) _printf_(2, 3);

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static int add_warning(struct ctx *c, const char *fmt, ...)
{
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return oom(c);
        if (c->n_warnings >= KILN_CC_MAX_ITEMS) {
                free(s);
                return 0;
        }
        if (c->n_warnings + 1 >= c->warnings_cap) {
                size_t cap = c->warnings_cap ? c->warnings_cap * 2 : 16;
                char **v = realloc(c->cc->warnings, cap * sizeof(*v));

                if (!v) {
                        free(s);
                        return oom(c);
                }
                c->cc->warnings = v;
                c->warnings_cap = cap;
        }
        c->cc->warnings[c->n_warnings++] = s;
        c->cc->warnings[c->n_warnings] = NULL;
        return 0;
}

/* Drop the warnings added since mark: they were about a value not applied. */
static void warnings_rollback(struct ctx *c, size_t mark)
{
        while (c->n_warnings > mark) {
                free(c->cc->warnings[--c->n_warnings]);
                c->cc->warnings[c->n_warnings] = NULL;
        }
        if (c->n_warnings == 0) {
                free(c->cc->warnings);
                c->cc->warnings = NULL;
                c->warnings_cap = 0;
        }
}

/* The walk has spent its budget: nothing more of the document can be read. */
static bool budget_spent(const struct kiln_yaml *y)
{
        return y->work > KILN_YAML_MAX_WORK || y->copied > KILN_YAML_MAX_COPIED || y->compared > KILN_YAML_MAX_COMPARED;
}

/*
 * A key or an entry (what) failed with r and the message in
 * kiln_last_error(): record it in errors and return 0 so the walk goes on,
 * or return r when the document as a whole cannot be read on (out of
 * memory, the budget spent).
 */
static int not_applied(struct ctx *c, int r, const char *what)
{
        const char *msg = kiln_last_error();
        size_t n = strlen(c->name), line = 0;
        struct kiln_cc_error e = { 0 };

        if ((r != -EBADMSG && r != -EFBIG) || budget_spent(c->y))
                return r;
        /* "NAME:LINE: message" -> LINE, "message". */
        if (!strncmp(msg, c->name, n) && msg[n] == ':' && msg[n + 1] >= '0' && msg[n + 1] <= '9') {
                char *end;
                unsigned long l = strtoul(msg + n + 1, &end, 10);

                if (end[0] == ':' && end[1] == ' ') {
                        line = l;
                        msg = end + 2;
                }
        }
        if (c->cc->n_errors >= KILN_CC_MAX_ITEMS)
                return 0;
        if (c->cc->n_errors == c->errors_cap) {
                size_t cap = c->errors_cap ? c->errors_cap * 2 : 8;
                struct kiln_cc_error *v = realloc(c->cc->errors, cap * sizeof(*v));

                if (!v)
                        return oom(c);
                c->cc->errors = v;
                c->errors_cap = cap;
        }
        e.line = line;
        e.doc = strdup(c->name);
        e.what = strdup(what);
        e.message = strdup(msg);
        if (!e.doc || !e.what || !e.message) {
                free(e.doc);
                free(e.what);
                free(e.message);
                return oom(c);
        }
        c->cc->errors[c->cc->n_errors++] = e;
        return 0;
}

/* "users[2] (carol)": an entry and, when known, its name, for errors. */
static void entry_name(char out[KILN_YAML_PATH_SIZE + 80], const char *path, const char *name)
{
        char show[KILN_YAML_SHOW_SIZE];

        if (!name) {
                snprintf(out, KILN_YAML_PATH_SIZE + 80, "%s", path);
                return;
        }
        kiln_yaml_show(name, strlen(name), show, sizeof(show));
        snprintf(out, KILN_YAML_PATH_SIZE + 80, "%s (%.60s)", path, show);
}

/* --- typed values ------------------------------------------------------ */

static int get_tristate(struct ctx *c, const struct kiln_ynode *v, const char *path, enum kiln_tristate *ret)
{
        bool b = false;
        int r = kiln_yaml_get_bool(c->y, v, path, &b);

        if (r < 0)
                return r;
        *ret = b ? KILN_TRUE : KILN_FALSE;
        return 0;
}

/* "a, b" or [a, b]: cloud-init's comma-separated lists (groups). */
static int get_csv(struct ctx *c, const struct kiln_ynode *v, const char *path, char ***ret)
{
        char **out = NULL;
        int r;

        if (v->type == KILN_YNODE_SCALAR && !kiln_ynode_is_null(v)) {
                _cleanup_free_ char *s = NULL;
                char *save = NULL;

                size_t n = 0, commas = 0;

                r = kiln_yaml_get_string(c->y, v, path, &s);
                if (r < 0)
                        return r;
                for (const char *q = s; *q; q++)
                        commas += *q == ',';
                if (commas >= KILN_CC_MAX_ITEMS)
                        return fail(c, v, path, "more than %d entries", KILN_CC_MAX_ITEMS);
                out = calloc(commas + 2, sizeof(*out));
                if (!out)
                        return oom(c);
                for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        char *e;

                        while (*t == ' ' || *t == '\t')
                                t++;
                        e = t + strlen(t);
                        while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
                                *--e = 0;
                        if (!*t)
                                continue;
                        r = kiln_yaml_charge(c->y, v, 0);
                        if (r < 0) {
                                strv_free(out);
                                return r;
                        }
                        out[n] = strdup(t);
                        if (!out[n++]) {
                                strv_free(out);
                                return oom(c);
                        }
                }
                strv_free(*ret);
                *ret = out;
                return 0;
        }
        if (v->type == KILN_YNODE_MAPPING) {
                /* groups: {wheel: null, docker: null} (cloud-init 23.1+). */
                struct kiln_yaml_entries es;

                r = kiln_yaml_entries(c->y, v, path, &es);
                if (r < 0)
                        return r;
                out = calloc(es.n + 1, sizeof(*out));
                for (size_t i = 0; out && i < es.n; i++)
                        if (!(out[i] = strdup(es.e[i].key))) {
                                strv_free(out);
                                out = NULL;
                        }
                kiln_yaml_entries_free(&es);
                if (!out)
                        return oom(c);
                strv_free(*ret);
                *ret = out;
                return 0;
        }
        if (v->type == KILN_YNODE_SEQUENCE)
                return kiln_yaml_get_strv(c->y, v, path, false, ret);
        return fail(c, v, path, "expected a string \"a, b\" or a list of strings");
}

/* --- users and groups -------------------------------------------------- */

static void user_free(struct kiln_cc_user *u)
{
        free(u->name);
        free(u->gecos);
        strv_free(u->groups);
        free(u->primary_group);
        strv_free(u->sudo);
        free(u->shell);
        free(u->passwd);
        free(u->plain_text_passwd);
        strv_free(u->ssh_authorized_keys);
        free(u->homedir);
        memset(u, 0, sizeof(*u));
}

static void user_init(struct kiln_cc_user *u)
{
        memset(u, 0, sizeof(*u));
        u->lock_passwd = KILN_UNSET;
        u->uid = -1;
}

static int parse_sudo(struct ctx *c, const struct kiln_ynode *v, const char *path, char ***ret)
{
        static const char expected[] = "expected a string, a list or false";

        if (kiln_ynode_is_null(v) || kiln_ynode_bool(v) == 0) {
                strv_free(*ret);
                *ret = NULL;
                return 0;
        }
        if (v->type == KILN_YNODE_SCALAR && kiln_ynode_bool(v) == 1)
                return fail(c, v, path, "%s", expected);
        if (v->type == KILN_YNODE_MAPPING)
                return fail(c, v, path, "%s", expected);
        if (v->type == KILN_YNODE_SEQUENCE)
                for (size_t i = 0; i < v->n_items; i++)
                        if (v->items[i]->type != KILN_YNODE_SCALAR || kiln_ynode_is_null(v->items[i])) {
                                char p[KILN_YAML_PATH_SIZE];

                                kiln_yaml_indexpath(p, path, i);
                                return fail(c, v->items[i], p, "expected a sudoers rule (a string)");
                        }
        return kiln_yaml_get_strv(c->y, v, path, true, ret);
}

static int parse_user_map(struct ctx *c, const struct kiln_ynode *v, const char *path, struct kiln_cc_user *u)
{
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r = 0;

        r = kiln_yaml_entries(c->y, v, path, &es);
        if (r < 0)
                return r;
        for (size_t i = 0; i < es.n && r >= 0; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;
                bool b = false;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "name"))
                        r = kiln_yaml_get_string(c->y, val, p, &u->name);
                else if (!strcmp(k, "gecos"))
                        r = kiln_yaml_get_opt_string(c->y, val, p, &u->gecos);
                else if (!strcmp(k, "groups"))
                        r = kiln_ynode_is_null(val) ? 0 : get_csv(c, val, p, &u->groups);
                else if (!strcmp(k, "primary_group"))
                        r = kiln_yaml_get_opt_string(c->y, val, p, &u->primary_group);
                else if (!strcmp(k, "sudo"))
                        r = parse_sudo(c, val, p, &u->sudo);
                else if (!strcmp(k, "shell"))
                        r = kiln_yaml_get_opt_string(c->y, val, p, &u->shell);
                else if (!strcmp(k, "lock_passwd") || !strcmp(k, "lock-passwd"))
                        r = get_tristate(c, val, p, &u->lock_passwd);
                else if (!strcmp(k, "passwd") || !strcmp(k, "hashed_passwd"))
                        r = kiln_yaml_get_opt_string(c->y, val, p, &u->passwd);
                else if (!strcmp(k, "plain_text_passwd")) {
                        r = kiln_yaml_get_opt_string(c->y, val, p, &u->plain_text_passwd);
                        if (r >= 0 && u->plain_text_passwd)
                                r = add_warning(c, "%s: plain-text passwords are not supported, not set (use passwd: with "
                                            "a hash)", p);
                } else if (!strcmp(k, "ssh_authorized_keys"))
                        r = kiln_ynode_is_null(val) ? 0 :
                                                      kiln_yaml_get_strv(c->y, val, p, true, &u->ssh_authorized_keys);
                else if (!strcmp(k, "system")) {
                        r = kiln_yaml_get_bool(c->y, val, p, &b);
                        u->system = b;
                } else if (!strcmp(k, "homedir"))
                        r = kiln_yaml_get_opt_string(c->y, val, p, &u->homedir);
                else if (!strcmp(k, "no_create_home")) {
                        r = kiln_yaml_get_bool(c->y, val, p, &b);
                        u->no_create_home = b;
                } else if (!strcmp(k, "uid")) {
                        long long n = -1;
                        bool digit_string = val->type == KILN_YNODE_SCALAR && val->len > 0 && val->len < 11 &&
                                            strspn(val->str, "0123456789") == val->len;

                        /* cloud-init takes "1001" as well as 1001. */
                        if (digit_string)
                                n = strtoll(val->str, NULL, 10);
                        else if (!kiln_ynode_int(val, &n))
                                n = -2;
                        if (n == -2)
                                r = fail(c, val, p, "expected a number");
                        else if (n < 0 || n > 0x7fffffffLL)
                                r = fail(c, val, p, "expected a uid from 0 to 2147483647");
                        else
                                u->uid = (long)n;
                } else
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
        }
        if (r >= 0 && u->name && !strcmp(u->name, "default"))
                u->is_default = true;
        kiln_yaml_entries_free(&es);
        return r;
}

/* Fill dst's unset fields from src (which is freed): cloud-init merges a
 * repeated user with mergemanydict(), the earlier entry's keys winning. */
static void user_fill(struct kiln_cc_user *dst, struct kiln_cc_user *src)
{
#define TAKE(f)                         \
        do {                            \
                if (!dst->f) {          \
                        dst->f = src->f; \
                        src->f = NULL;  \
                }                       \
        } while (0)
        TAKE(gecos);
        TAKE(groups);
        TAKE(primary_group);
        TAKE(sudo);
        TAKE(shell);
        TAKE(passwd);
        TAKE(plain_text_passwd);
        TAKE(ssh_authorized_keys);
        TAKE(homedir);
#undef TAKE
        if (dst->lock_passwd == KILN_UNSET)
                dst->lock_passwd = src->lock_passwd;
        if (dst->uid < 0)
                dst->uid = src->uid;
        dst->system |= src->system;
        dst->no_create_home |= src->no_create_home;
        user_free(src);
}

/* u is consumed, whatever the result. */
static int add_user(struct ctx *c, const struct kiln_ynode *at, const char *path, struct kiln_cc_user *u)
{
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_cc_user *p;

        for (size_t i = 0; i < cc->n_users; i++) {
                if (u->is_default && cc->users[i].is_default) {
                        /* "default" and entries without a name: one default user. */
                        user_fill(&cc->users[i], u);
                        return 0;
                }
                if (!u->is_default && !cc->users[i].is_default && !strcmp(cc->users[i].name, u->name)) {
                        /* cloud-init merges a repeated user; kiln keeps the last entry. */
                        int r = add_warning(c, "%s: user '%s' is listed again, the earlier entry is dropped", path,
                                            u->name);
                        user_free(&cc->users[i]);
                        cc->users[i] = *u;
                        return r;
                }
        }
        if (cc->n_users >= KILN_CC_MAX_ITEMS) {
                user_free(u);
                return fail(c, at, path, "more than %d users", KILN_CC_MAX_ITEMS);
        }
        p = realloc(cc->users, (cc->n_users + 1) * sizeof(*p));
        if (!p) {
                user_free(u);
                return oom(c);
        }
        cc->users = p;
        cc->users[cc->n_users++] = *u;
        return 0;
}

static int add_user_name(struct ctx *c, const struct kiln_ynode *at, const char *path, const char *name)
{
        struct kiln_cc_user u;

        user_init(&u);
        if (!strcmp(name, "default"))
                u.is_default = true;
        u.name = strdup(name);
        if (!u.name)
                return oom(c);
        return add_user(c, at, path, &u);
}

/* "alice, default" */
static int add_user_names(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        char **names = NULL;
        int r = get_csv(c, v, path, &names);

        for (size_t i = 0; r >= 0 && names && names[i]; i++)
                r = add_user_name(c, v, path, names[i]);
        strv_free(names);
        return r;
}

/* cloud-init's util.is_true() on a users: mapping's value. */
static bool user_value_true(const struct kiln_ynode *v)
{
        static const char *const yes[] = { "true", "1", "on", "yes" };
        long long n;
        char t[8];
        size_t a = 0, b = v->len, k = 0;

        if (kiln_ynode_bool(v) >= 0)
                return kiln_ynode_bool(v) == 1;
        if (v->plain && kiln_ynode_int(v, &n))
                return n == 1;
        while (a < b && (v->str[a] == ' ' || v->str[a] == '\t' || v->str[a] == '\n'))
                a++;
        while (b > a && (v->str[b - 1] == ' ' || v->str[b - 1] == '\t' || v->str[b - 1] == '\n'))
                b--;
        if (b - a >= sizeof(t))
                return false;
        for (size_t i = a; i < b; i++)
                t[k++] = (char)(v->str[i] >= 'A' && v->str[i] <= 'Z' ? v->str[i] - 'A' + 'a' : v->str[i]);
        t[k] = 0;
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
                if (!strcmp(t, yes[i]))
                        return true;
        return false;
}

/*
 * One users: entry: a name string ("alice, default"), or a mapping whose
 * name is name_key's (the users-as-a-mapping form) or its own 'name', or
 * none: cloud-init gives such an entry to the default user.
 */
static int parse_user_entry(struct ctx *c, const struct kiln_ynode *e, const char *p, const char *name_key)
{
        struct kiln_cc_user u;
        int r;

        if (e->type == KILN_YNODE_SCALAR && !kiln_ynode_is_null(e) && !name_key)
                return add_user_names(c, e, p);
        if (e->type == KILN_YNODE_SCALAR && !kiln_ynode_is_null(e)) {
                /* {alice: true} creates alice; a false value creates nobody. */
                return user_value_true(e) ? add_user_name(c, e, p, name_key) : 0;
        }
        if (e->type != KILN_YNODE_MAPPING)
                return fail(c, e, p, "expected a user (a mapping) or a name");
        user_init(&u);
        r = parse_user_map(c, e, p, &u);
        if (r >= 0 && name_key) {
                free(u.name);
                u.name = strdup(name_key);
                if (!u.name)
                        r = oom(c);
        } else if (r >= 0 && !u.name) {
                u.name = strdup("default");
                if (!u.name)
                        r = oom(c);
                else
                        r = add_warning(c, "%s: no 'name': merged into the default user, as cloud-init does", p);
        }
        if (r < 0) {
                user_free(&u);
                return r;
        }
        u.is_default = !strcmp(u.name, "default");
        return add_user(c, e, p, &u);
}

static int parse_users(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        char p[KILN_YAML_PATH_SIZE], what[KILN_YAML_PATH_SIZE + 80];
        struct kiln_yaml_entries es = { 0 };
        bool map = v->type == KILN_YNODE_MAPPING;
        size_t n;
        int r = 0;

        c->cc->users_set = true;
        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type == KILN_YNODE_SCALAR)
                return add_user_names(c, v, path);
        if (map) {
                /* cloud-init still reads {name: config or true}, deprecated since 22.2. */
                r = kiln_yaml_entries(c->y, v, path, &es);
                if (r < 0)
                        return r;
                r = add_warning(c, "%s: a mapping of users is deprecated in cloud-init (use a list); read as one",
                                path);
                n = es.n;
        } else {
                n = v->n_items;
        }
        for (size_t i = 0; i < n && r >= 0; i++) {
                const struct kiln_ynode *e = map ? es.e[i].v : v->items[i];
                size_t mark = c->n_warnings;

                if (map)
                        kiln_yaml_subpath(p, path, es.e[i].key);
                else
                        kiln_yaml_indexpath(p, path, i);
                r = kiln_yaml_charge(c->y, e, 0);
                if (r < 0)
                        break;
                r = parse_user_entry(c, e, p, map ? es.e[i].key : NULL);
                if (r < 0) {
                        /* This user alone is left out. */
                        const struct kiln_ynode *nm = NULL;

                        for (size_t j = 0; e->type == KILN_YNODE_MAPPING && j + 1 < e->n_items; j += 2)
                                if (e->items[j]->type == KILN_YNODE_SCALAR && !strcmp(e->items[j]->str, "name") &&
                                    e->items[j + 1]->type == KILN_YNODE_SCALAR)
                                        nm = e->items[j + 1];
                        warnings_rollback(c, mark);
                        entry_name(what, p, map ? es.e[i].key : nm ? nm->str : NULL);
                        r = not_applied(c, r, what);
                }
        }
        kiln_yaml_entries_free(&es);
        return r;
}

static int add_group(struct ctx *c, const struct kiln_ynode *at, const char *path, const char *name,
                     const struct kiln_ynode *members)
{
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_cc_group g = { 0 }, *p;
        int r;

        if (cc->n_groups >= KILN_CC_MAX_ITEMS)
                return fail(c, at, path, "more than %d groups", KILN_CC_MAX_ITEMS);
        g.name = strdup(name);
        if (!g.name)
                return oom(c);
        if (members && !kiln_ynode_is_null(members)) {
                r = get_csv(c, members, path, &g.members);
                if (r < 0) {
                        free(g.name);
                        return r;
                }
        }
        p = realloc(cc->groups, (cc->n_groups + 1) * sizeof(*p));
        if (!p) {
                free(g.name);
                strv_free(g.members);
                return oom(c);
        }
        cc->groups = p;
        cc->groups[cc->n_groups++] = g;
        return 0;
}

static int add_group_map(struct ctx *c, const struct kiln_ynode *m, const char *path)
{
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r = kiln_yaml_entries(c->y, m, path, &es);

        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                kiln_yaml_subpath(p, path, es.e[i].key);
                r = add_group(c, es.e[i].k, p, es.e[i].key, es.e[i].v);
        }
        kiln_yaml_entries_free(&es);
        return r;
}

static int parse_groups(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        char p[KILN_YAML_PATH_SIZE];
        int r = 0;

        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type == KILN_YNODE_MAPPING)
                return add_group_map(c, v, path);
        if (v->type == KILN_YNODE_SCALAR) {
                char **names = NULL;

                r = get_csv(c, v, path, &names);
                for (size_t i = 0; r >= 0 && names && names[i]; i++)
                        r = add_group(c, v, path, names[i], NULL);
                strv_free(names);
                return r;
        }
        if (v->type != KILN_YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of groups");
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                const struct kiln_ynode *e = v->items[i];
                size_t mark = c->n_warnings, n = c->cc->n_groups;

                kiln_yaml_indexpath(p, path, i);
                if (e->type == KILN_YNODE_SCALAR && !kiln_ynode_is_null(e))
                        r = add_group(c, e, p, e->str, NULL);
                else if (e->type == KILN_YNODE_MAPPING)
                        r = add_group_map(c, e, p);
                else
                        r = fail(c, e, p, "expected a group name or {name: [members]}");
                if (r < 0) {
                        /* This entry alone is left out. */
                        char what[KILN_YAML_PATH_SIZE + 80];

                        while (c->cc->n_groups > n) {
                                struct kiln_cc_group *g = &c->cc->groups[--c->cc->n_groups];
                                free(g->name);
                                strv_free(g->members);
                        }
                        warnings_rollback(c, mark);
                        entry_name(what, p, e->type == KILN_YNODE_SCALAR ? e->str : NULL);
                        r = not_applied(c, r, what);
                }
        }
        return r;
}

/* --- ssh ---------------------------------------------------------------- */

static int parse_ssh_keys(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        static const char *const types[] = { "rsa", "dsa", "ecdsa", "ed25519" };
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type != KILN_YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping of TYPE_private/TYPE_public keys");
        r = kiln_yaml_entries(c->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key, *us = strrchr(k, '_');
                size_t t;
                char **slot;

                kiln_yaml_subpath(p, path, k);
                for (t = 0; us && t < ARRAY_SIZE(types); t++)
                        if ((size_t)(us - k) == strlen(types[t]) && !strncmp(k, types[t], strlen(types[t])))
                                break;
                if (!us || t == ARRAY_SIZE(types) ||
                    (strcmp(us, "_private") && strcmp(us, "_public") && strcmp(us, "_certificate"))) {
                        r = add_warning(c, "%s: not a host key (rsa, dsa, ecdsa or ed25519 with _private, _public or "
                                    "_certificate), ignored", p);
                        continue;
                }
                size_t j;
                for (j = 0; j < cc->n_ssh_keys; j++)
                        if (!strcmp(cc->ssh_keys[j].type, types[t]))
                                break;
                if (j == cc->n_ssh_keys) {
                        struct kiln_cc_ssh_key *np = realloc(cc->ssh_keys, (j + 1) * sizeof(*np));

                        if (!np) {
                                r = oom(c);
                                break;
                        }
                        cc->ssh_keys = np;
                        memset(&np[j], 0, sizeof(np[j]));
                        np[j].type = strdup(types[t]);
                        cc->n_ssh_keys++;
                        if (!np[j].type) {
                                r = oom(c);
                                break;
                        }
                }
                slot = !strcmp(us, "_private") ? &cc->ssh_keys[j].private_key :
                       !strcmp(us, "_public")  ? &cc->ssh_keys[j].public_key :
                                                 &cc->ssh_keys[j].certificate;
                r = kiln_yaml_get_string(c->y, es.e[i].v, p, slot);
        }
        kiln_yaml_entries_free(&es);
        return r;
}

static int parse_pwauth(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        int b = kiln_ynode_bool(v);

        if (b >= 0)
                c->cc->ssh_pwauth = b ? KILN_TRUE : KILN_FALSE;
        else if (v->type == KILN_YNODE_SCALAR && !strcmp(v->str, "unchanged"))
                c->cc->ssh_pwauth = KILN_UNSET;
        else
                return fail(c, v, path, "expected true, false or \"unchanged\"");
        return 0;
}

static int parse_genkeytypes(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        static const char *const types[] = { "rsa", "dsa", "ecdsa", "ed25519" };
        int r = kiln_yaml_get_strv(c->y, v, path, false, &c->cc->ssh_genkeytypes);

        for (size_t i = 0; r >= 0 && c->cc->ssh_genkeytypes[i]; i++) {
                size_t t;

                for (t = 0; t < ARRAY_SIZE(types); t++)
                        if (!strcmp(c->cc->ssh_genkeytypes[i], types[t]))
                                break;
                if (t == ARRAY_SIZE(types)) {
                        char p[KILN_YAML_PATH_SIZE];

                        kiln_yaml_indexpath(p, path, i);
                        return fail(c, v->items[i], p, "expected rsa, dsa, ecdsa or ed25519");
                }
        }
        return r;
}

/* --- write_files --------------------------------------------------------- */

static void file_free(struct kiln_cc_file *f)
{
        free(f->path);
        free(f->content);
        free(f->owner);
        memset(f, 0, sizeof(*f));
}

/* cloud-init's decode_perms(): an int as it is (YAML 1.1 made 0644 octal),
 * a string in octal. */
static int parse_permissions(struct ctx *c, const struct kiln_ynode *v, const char *path, int *ret)
{
        long long n;

        if (kiln_ynode_is_null(v)) {
                *ret = -1;
                return 0;
        }
        if (kiln_ynode_int(v, &n)) {
                if (n < 0 || n > 07777)
                        return fail(c, v, path, "mode %lld is out of range (0 to 07777)", n);
                /* "permissions: 644" is decimal 644 to YAML, i.e. 01204. */
                if (v->plain && v->str[0] != '0' && n >= 100 && n <= 777 && strspn(v->str, "01234567") == v->len) {
                        int r = add_warning(c, "%s: %s is a decimal number (mode 0%llo); write '0%s' for mode 0%s", path,
                                     v->str, n, v->str, v->str);
                        if (r < 0)
                                return r;
                }
                *ret = (int)n;
                return 0;
        }
        if (v->type == KILN_YNODE_SCALAR && v->tag != KILN_YTAG_BINARY) {
                const char *s = v->str;
                long m = 0;

                if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
                        s += 2;
                if (*s && strspn(s, "01234567") == strlen(s) && strlen(s) <= 6) {
                        m = strtol(s, NULL, 8);
                        if (m <= 07777) {
                                *ret = (int)m;
                                return 0;
                        }
                }
        }
        return fail(c, v, path, "expected an octal mode such as '0644'");
}

/*
 * base64 as cloud-init decodes write_files content, with Python's
 * base64.b64decode(): bytes outside the alphabet are skipped, decoding
 * stops at the padding that ends a quantum (the rest is ignored), and the
 * data must not leave one character over a multiple of 4.  Python refuses
 * a str holding non-ASCII characters, so this does too.  (Padding is
 * optional here, where Python wants it.)  Line is the content's, for
 * messages; a warning tells how many bytes were ignored.
 */
static int b64_lenient(struct ctx *c, const char *path, size_t line, const uint8_t *in, size_t len, uint8_t **ret,
                       size_t *ret_len)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        _cleanup_free_ char *kept = calloc(1, len + 1);
        size_t o = 0, ignored = 0, i;
        unsigned quad = 0, pads = 0;
        int r;

        if (!kept)
                return oom(c);
        for (i = 0; i < len; i++) {
                uint8_t ch = in[i];

                if (ch >= 0x80)
                        return kiln_yaml_errorf(c->name, line, "%s: base64: non-ASCII byte 0x%02x at byte %zu", path, ch,
                                                i);
                if (ch == '=') {
                        /* CPython's a2b_base64(): pads count only from the third character of a quantum. */
                        if (quad >= 2 && quad + ++pads >= 4)
                                break;
                        continue;
                }
                if (ch && strchr(alphabet, ch)) {
                        kept[o++] = (char)ch;
                        quad = (quad + 1) & 3;
                } else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
                        ignored++;
                }
        }
        for (i++; i < len; i++)
                if (in[i] != ' ' && in[i] != '\t' && in[i] != '\n' && in[i] != '\r')
                        ignored++;
        if (quad == 1)
                return kiln_yaml_errorf(c->name, line,
                                        "%s: base64: %zu characters of data, one more than a multiple of 4: cannot be "
                                        "decoded", path, o);
        r = kiln_ud_base64_decode(path, kept, o, ret, ret_len);
        if (r < 0)
                return kiln_yaml_errorf(c->name, line, "%s", kiln_last_error());
        if (ignored) {
                r = add_warning(c, "%s: %zu byte%s outside the base64 alphabet or after its padding ignored, as "
                                "cloud-init's b64decode() does", path, ignored, ignored == 1 ? "" : "s");
                if (r < 0) {
                        free(*ret);
                        *ret = NULL;
                        return r;
                }
        }
        return 0;
}

static int parse_file(struct ctx *c, const struct kiln_ynode *v, const char *path, struct kiln_cc_file *f)
{
        const struct kiln_ynode *content = NULL, *encoding = NULL;
        _cleanup_free_ char *enc = NULL;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (v->type != KILN_YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping with path and content");
        r = kiln_yaml_entries(c->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "path"))
                        r = kiln_yaml_get_string(c->y, val, p, &f->path);
                else if (!strcmp(k, "content"))
                        content = val;
                else if (!strcmp(k, "encoding"))
                        encoding = val;
                else if (!strcmp(k, "owner"))
                        r = kiln_yaml_get_opt_string(c->y, val, p, &f->owner);
                else if (!strcmp(k, "permissions"))
                        r = parse_permissions(c, val, p, &f->permissions);
                else if (!strcmp(k, "append"))
                        r = kiln_yaml_get_bool(c->y, val, p, &f->append);
                else if (!strcmp(k, "defer"))
                        r = kiln_yaml_get_bool(c->y, val, p, &f->defer);
                else if (!strcmp(k, "source"))
                        r = add_warning(c, "%s: fetching content from a URL is not supported, 'content' is used", p);
                else
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
        }
        kiln_yaml_entries_free(&es);
        if (r < 0)
                return r;
        if (!f->path)
                return fail(c, v, path, "a file needs a 'path'");
        if (encoding && !kiln_ynode_is_null(encoding)) {
                kiln_yaml_subpath(p, path, "encoding");
                r = kiln_yaml_get_string(c->y, encoding, p, &enc);
                if (r < 0)
                        return r;
                for (char *s = enc; *s; s++)
                        if (*s >= 'A' && *s <= 'Z')
                                *s = (char)(*s - 'A' + 'a');
        }
        kiln_yaml_subpath(p, path, "content");
        const uint8_t *data = (const uint8_t *)"";
        size_t len = 0;
        _cleanup_free_ uint8_t *b64 = NULL, *raw = NULL;
        if (content && !kiln_ynode_is_null(content)) {
                if (content->type != KILN_YNODE_SCALAR)
                        return fail(c, content, p, "expected a string");
                r = kiln_yaml_charge(c->y, content, content->len);
                if (r < 0)
                        return r;
                data = (const uint8_t *)content->str;
                len = content->len;
                if (content->tag == KILN_YTAG_BINARY) {
                        r = b64_lenient(c, p, content->line, data, len, &b64, &len);
                        if (r < 0)
                                return r;
                        data = b64;
                }
        }
        bool gz = false, base64 = false;
        if (enc) {
                if (!strcmp(enc, "gz") || !strcmp(enc, "gzip"))
                        gz = true;
                else if (!strcmp(enc, "gz+base64") || !strcmp(enc, "gzip+base64") || !strcmp(enc, "gz+b64") ||
                         !strcmp(enc, "gzip+b64"))
                        gz = base64 = true;
                else if (!strcmp(enc, "b64") || !strcmp(enc, "base64"))
                        base64 = true;
                else if (strcmp(enc, "text/plain") && strcmp(enc, "text")) {
                        char s[KILN_YAML_SHOW_SIZE];

                        kiln_yaml_subpath(p, path, "encoding");
                        kiln_yaml_show(enc, strlen(enc), s, sizeof(s));
                        r = add_warning(c, "%s: unknown encoding '%s', content written as it is (as cloud-init does)", p, s);
                        if (r < 0)
                                return r;
                }
        }
        if (base64) {
                uint8_t *out;

                r = b64_lenient(c, p, content ? content->line : v->line, data, len, &out, &len);
                if (r < 0)
                        return r;
                free(b64);
                b64 = out;
                data = out;
        }
        if (gz) {
                r = kiln_ud_gunzip(p, data, len, KILN_CC_MAX_BYTES, &raw, &len);
                if (r < 0) {
                        int line = (int)(content ? content->line : v->line);

                        if (r == -EFBIG || r == -ENOMEM) {
                                kiln_error_prefix(r, "%s:%d", c->name, line);
                                return r;
                        }
                        return kiln_yaml_errorf(c->name, (size_t)line, "%s", kiln_last_error());
                }
                data = raw;
                r = kiln_yaml_charge(c->y, v, len);
                if (r < 0)
                        return r;
        }
        f->content = malloc(len + 1);
        if (!f->content)
                return oom(c);
        memcpy(f->content, data, len);
        f->content[len] = 0;
        f->len = len;
        return 0;
}

static int parse_write_files(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        char p[KILN_YAML_PATH_SIZE];
        int r = 0;

        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type != KILN_YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of files");
        cc->write_files = calloc(v->n_items ? v->n_items : 1, sizeof(*cc->write_files));
        if (!cc->write_files)
                return oom(c);
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                struct kiln_cc_file *f = &cc->write_files[cc->n_write_files++];
                size_t mark = c->n_warnings;

                f->permissions = -1;
                kiln_yaml_indexpath(p, path, i);
                r = parse_file(c, v->items[i], p, f);
                if (r < 0) {
                        /* This file alone is not written. */
                        char what[KILN_YAML_PATH_SIZE + 80];

                        entry_name(what, p, f->path);
                        file_free(f);
                        cc->n_write_files--;
                        warnings_rollback(c, mark);
                        r = not_applied(c, r, what);
                }
        }
        return r;
}

/* --- commands ------------------------------------------------------------ */

static void command_free(struct kiln_cc_command *cmd)
{
        free(cmd->shell);
        strv_free(cmd->argv);
        cmd->shell = NULL;
        cmd->argv = NULL;
}

static int parse_command(struct ctx *c, const struct kiln_ynode *v, const char *path, struct kiln_cc_command *cmd)
{
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (v->type == KILN_YNODE_SCALAR && !kiln_ynode_is_null(v))
                return kiln_yaml_get_string(c->y, v, path, &cmd->shell);
        if (v->type != KILN_YNODE_SEQUENCE)
                return fail(c, v, path, "expected a command (a string) or an argument list");
        if (v->n_items == 0)
                return fail(c, v, path, "an empty argument list");
        for (size_t i = 0; i < v->n_items; i++) {
                kiln_yaml_indexpath(p, path, i);
                if (v->items[i]->type != KILN_YNODE_SCALAR || kiln_ynode_is_null(v->items[i]))
                        return fail(c, v->items[i], p, "expected an argument (a string)");
        }
        r = kiln_yaml_get_strv(c->y, v, path, false, &cmd->argv);
        return r;
}

static int parse_commands(struct ctx *c, const struct kiln_ynode *v, const char *path, struct kiln_cc_command **ret,
                          size_t *ret_n)
{
        struct kiln_cc_command *cmds;
        char p[KILN_YAML_PATH_SIZE];
        size_t n = 0;
        int r = 0;

        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type != KILN_YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of commands");
        cmds = calloc(v->n_items ? v->n_items : 1, sizeof(*cmds));
        if (!cmds)
                return oom(c);
        *ret = cmds;
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                /* cloud-init skips null entries. */
                if (kiln_ynode_is_null(v->items[i]))
                        continue;
                kiln_yaml_indexpath(p, path, i);
                r = parse_command(c, v->items[i], p, &cmds[n++]);
                *ret_n = n;
        }
        return r;
}

/* --- growpart, resize_rootfs, mounts -------------------------------------- */

static int parse_growpart(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type != KILN_YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping (mode, devices)");
        r = kiln_yaml_entries(c->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "mode")) {
                        if (kiln_ynode_bool(val) == 0 || (val->type == KILN_YNODE_SCALAR && !strcmp(val->str, "off")))
                                cc->growpart_mode = KILN_GROWPART_OFF;
                        else if (val->type == KILN_YNODE_SCALAR &&
                                 (!strcmp(val->str, "auto") || !strcmp(val->str, "growpart")))
                                cc->growpart_mode = KILN_GROWPART_AUTO;
                        else
                                r = fail(c, val, p, "expected auto, growpart, off or false");
                } else if (!strcmp(k, "devices")) {
                        r = kiln_yaml_get_strv(c->y, val, p, false, &cc->growpart_devices);
                } else if (!strcmp(k, "ignore_growroot_disabled")) {
                        bool b = false;

                        r = kiln_yaml_get_bool(c->y, val, p, &b);
                        if (r >= 0 && b)
                                r = add_warning(c, "%s: kiln does not look at /etc/growroot-disabled, ignored", p);
                } else {
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
                }
        }
        kiln_yaml_entries_free(&es);
        return r;
}

static int parse_resize(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        int b = kiln_ynode_bool(v);

        if (b >= 0)
                c->cc->resize_rootfs = b ? KILN_RESIZE_TRUE : KILN_RESIZE_FALSE;
        else if (v->type == KILN_YNODE_SCALAR && !strcmp(v->str, "noblock"))
                c->cc->resize_rootfs = KILN_RESIZE_NOBLOCK;
        else
                return fail(c, v, path, "expected true, false or \"noblock\"");
        return 0;
}

/* Up to six fstab fields; each a string (numbers as written) or null. */
static int parse_fields(struct ctx *c, const struct kiln_ynode *v, const char *path, char *field[6])
{
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (v->type != KILN_YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of up to 6 fstab fields");
        if (v->n_items > 6)
                return fail(c, v, path, "%zu fstab fields, at most 6", v->n_items);
        for (size_t i = 0; i < v->n_items; i++) {
                kiln_yaml_indexpath(p, path, i);
                if (kiln_ynode_is_null(v->items[i]))
                        continue;
                r = kiln_yaml_get_string(c->y, v->items[i], p, &field[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_mounts(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        char p[KILN_YAML_PATH_SIZE];
        int r = 0;

        cc->mounts_set = true;
        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type != KILN_YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of mounts");
        cc->mounts = calloc(v->n_items ? v->n_items : 1, sizeof(*cc->mounts));
        if (!cc->mounts)
                return oom(c);
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                kiln_yaml_indexpath(p, path, i);
                if (v->items[i]->type == KILN_YNODE_SEQUENCE && v->items[i]->n_items == 0)
                        return fail(c, v->items[i], p, "an empty mount entry");
                r = parse_fields(c, v->items[i], p, cc->mounts[cc->n_mounts++].field);
        }
        return r;
}

/* --- power_state --------------------------------------------------------- */

static int parse_power_state(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type != KILN_YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping (mode, delay, message, timeout, condition)");
        r = kiln_yaml_entries(c->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct kiln_ynode *val = es.e[i].v;
                long long n;

                kiln_yaml_subpath(p, path, k);
                if (!strcmp(k, "mode")) {
                        if (val->type == KILN_YNODE_SCALAR && !strcmp(val->str, "poweroff"))
                                cc->power_state.mode = KILN_POWER_POWEROFF;
                        else if (val->type == KILN_YNODE_SCALAR && !strcmp(val->str, "reboot"))
                                cc->power_state.mode = KILN_POWER_REBOOT;
                        else if (val->type == KILN_YNODE_SCALAR && !strcmp(val->str, "halt"))
                                cc->power_state.mode = KILN_POWER_HALT;
                        else
                                r = fail(c, val, p, "expected poweroff, reboot or halt");
                } else if (!strcmp(k, "delay")) {
                        if (kiln_ynode_int(val, &n)) {
                                if (n < 0 || n > 1000000)
                                        r = fail(c, val, p, "expected \"now\" or \"+MINUTES\"");
                                else if (asprintf(&cc->power_state.delay, "+%lld", n) < 0) {
                                        cc->power_state.delay = NULL;
                                        r = oom(c);
                                }
                        } else if (val->type == KILN_YNODE_SCALAR && !kiln_ynode_is_null(val) &&
                                   (!strcmp(val->str, "now") ||
                                    (val->str[0] == '+' && val->len > 1 && val->len < 9 &&
                                     strspn(val->str + 1, "0123456789") == val->len - 1))) {
                                r = kiln_yaml_get_string(c->y, val, p, &cc->power_state.delay);
                        } else {
                                r = fail(c, val, p, "expected \"now\" or \"+MINUTES\"");
                        }
                } else if (!strcmp(k, "message")) {
                        r = kiln_yaml_get_opt_string(c->y, val, p, &cc->power_state.message);
                } else if (!strcmp(k, "timeout")) {
                        if (kiln_ynode_int(val, &n) && n >= 0 && n <= 86400 * 365)
                                cc->power_state.timeout = (long)n;
                        else
                                r = fail(c, val, p, "expected a number of seconds");
                } else if (!strcmp(k, "condition")) {
                        int b = kiln_ynode_bool(val);

                        command_free(&cc->power_state.condition);
                        cc->power_state.condition_false = false;
                        if (b == 0)
                                cc->power_state.condition_false = true;
                        else if (b == 1 || kiln_ynode_is_null(val))
                                ;
                        else
                                r = parse_command(c, val, p, &cc->power_state.condition);
                } else {
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
                }
        }
        kiln_yaml_entries_free(&es);
        if (r >= 0 && cc->power_state.mode == KILN_POWER_UNSET)
                r = fail(c, v, path, "'mode' is required (poweroff, reboot or halt)");
        return r;
}

/* --- small keys -------------------------------------------------------- */

static int parse_etc_hosts(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        int b = kiln_ynode_bool(v);

        if (b >= 0)
                c->cc->manage_etc_hosts = b ? KILN_HOSTS_TRUE : KILN_HOSTS_FALSE;
        else if (v->type == KILN_YNODE_SCALAR && !strcmp(v->str, "localhost"))
                c->cc->manage_etc_hosts = KILN_HOSTS_LOCALHOST;
        else if (v->type == KILN_YNODE_SCALAR && !strcmp(v->str, "template"))
                /* Deprecated in cloud-init: the same as true. */
                c->cc->manage_etc_hosts = KILN_HOSTS_TRUE;
        else
                return fail(c, v, path, "expected true, false or \"localhost\"");
        return 0;
}

static int parse_system_info(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_yaml_entries es;
        char p[KILN_YAML_PATH_SIZE];
        int r;

        if (kiln_ynode_is_null(v))
                return 0;
        if (v->type != KILN_YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping");
        r = kiln_yaml_entries(c->y, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                kiln_yaml_subpath(p, path, es.e[i].key);
                if (!strcmp(es.e[i].key, "default_user")) {
                        if (es.e[i].v->type != KILN_YNODE_MAPPING) {
                                r = fail(c, es.e[i].v, p, "expected a user (a mapping)");
                                break;
                        }
                        user_free(&cc->default_user);
                        user_init(&cc->default_user);
                        r = parse_user_map(c, es.e[i].v, p, &cc->default_user);
                        cc->default_user.is_default = true;
                        cc->default_user_set = true;
                } else {
                        r = add_warning(c, "%s: not used by kiln, ignored", p);
                }
        }
        kiln_yaml_entries_free(&es);
        return r;
}

/* network: a network-config's content (either shape), read by netcfg.c.
 * Its limits are part of its shape here: -E2BIG is a malformed document. */
static int parse_network(struct ctx *c, const struct kiln_ynode *v, const char *path)
{
        struct kiln_netcfg net;
        int r = kiln_netcfg_from_node(c->y, v, path, &net);

        if (r == -E2BIG)
                r = -EBADMSG;
        if (r < 0)
                return r;
        kiln_netcfg_free(&c->cc->network);
        c->cc->network = net;
        c->cc->network_set = true;
        return 0;
}

/* --- the top level ------------------------------------------------------ */

enum key {
        K_HOSTNAME, K_FQDN, K_PRESERVE_HOSTNAME, K_MANAGE_ETC_HOSTS, K_USERS, K_GROUPS,
        K_SSH_AUTHORIZED_KEYS, K_DISABLE_ROOT, K_DISABLE_ROOT_OPTS, K_SSH_PWAUTH, K_SSH_DELETEKEYS,
        K_SSH_GENKEYTYPES, K_SSH_KEYS, K_WRITE_FILES, K_BOOTCMD, K_RUNCMD, K_GROWPART, K_RESIZE_ROOTFS,
        K_MOUNTS, K_MOUNT_DEFAULT_FIELDS, K_TIMEZONE, K_FINAL_MESSAGE, K_POWER_STATE, K_SYSTEM_INFO,
        K_NETWORK, N_KEYS
};

static const char *const key_names[N_KEYS] = {
        [K_HOSTNAME] = "hostname", [K_FQDN] = "fqdn", [K_PRESERVE_HOSTNAME] = "preserve_hostname",
        [K_MANAGE_ETC_HOSTS] = "manage_etc_hosts", [K_USERS] = "users", [K_GROUPS] = "groups",
        [K_SSH_AUTHORIZED_KEYS] = "ssh_authorized_keys", [K_DISABLE_ROOT] = "disable_root",
        [K_DISABLE_ROOT_OPTS] = "disable_root_opts", [K_SSH_PWAUTH] = "ssh_pwauth",
        [K_SSH_DELETEKEYS] = "ssh_deletekeys", [K_SSH_GENKEYTYPES] = "ssh_genkeytypes",
        [K_SSH_KEYS] = "ssh_keys", [K_WRITE_FILES] = "write_files", [K_BOOTCMD] = "bootcmd",
        [K_RUNCMD] = "runcmd", [K_GROWPART] = "growpart", [K_RESIZE_ROOTFS] = "resize_rootfs",
        [K_MOUNTS] = "mounts", [K_MOUNT_DEFAULT_FIELDS] = "mount_default_fields", [K_TIMEZONE] = "timezone",
        [K_FINAL_MESSAGE] = "final_message", [K_POWER_STATE] = "power_state", [K_SYSTEM_INFO] = "system_info",
        [K_NETWORK] = "network",
};

static int parse_key(struct ctx *c, enum key k, const struct kiln_ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;

        switch (k) {
        case K_HOSTNAME:
                return kiln_yaml_get_opt_string(c->y, v, path, &cc->hostname);
        case K_FQDN:
                return kiln_yaml_get_opt_string(c->y, v, path, &cc->fqdn);
        case K_PRESERVE_HOSTNAME:
                return get_tristate(c, v, path, &cc->preserve_hostname);
        case K_MANAGE_ETC_HOSTS:
                return parse_etc_hosts(c, v, path);
        case K_USERS:
                return parse_users(c, v, path);
        case K_GROUPS:
                return parse_groups(c, v, path);
        case K_SSH_AUTHORIZED_KEYS:
                return kiln_ynode_is_null(v) ? 0 : kiln_yaml_get_strv(c->y, v, path, false, &cc->ssh_authorized_keys);
        case K_DISABLE_ROOT:
                return get_tristate(c, v, path, &cc->disable_root);
        case K_DISABLE_ROOT_OPTS:
                return kiln_yaml_get_opt_string(c->y, v, path, &cc->disable_root_opts);
        case K_SSH_PWAUTH:
                return parse_pwauth(c, v, path);
        case K_SSH_DELETEKEYS:
                return get_tristate(c, v, path, &cc->ssh_deletekeys);
        case K_SSH_GENKEYTYPES:
                return kiln_ynode_is_null(v) ? 0 : parse_genkeytypes(c, v, path);
        case K_SSH_KEYS:
                return parse_ssh_keys(c, v, path);
        case K_WRITE_FILES:
                return parse_write_files(c, v, path);
        case K_BOOTCMD:
                return parse_commands(c, v, path, &cc->bootcmd, &cc->n_bootcmd);
        case K_RUNCMD:
                return parse_commands(c, v, path, &cc->runcmd, &cc->n_runcmd);
        case K_GROWPART:
                return parse_growpart(c, v, path);
        case K_RESIZE_ROOTFS:
                return parse_resize(c, v, path);
        case K_MOUNTS:
                return parse_mounts(c, v, path);
        case K_MOUNT_DEFAULT_FIELDS:
                return kiln_ynode_is_null(v) ? 0 : parse_fields(c, v, path, cc->mount_default_fields);
        case K_TIMEZONE:
                return kiln_yaml_get_opt_string(c->y, v, path, &cc->timezone);
        case K_FINAL_MESSAGE:
                return kiln_yaml_get_opt_string(c->y, v, path, &cc->final_message);
        case K_POWER_STATE:
                return parse_power_state(c, v, path);
        case K_SYSTEM_INFO:
                return parse_system_info(c, v, path);
        case K_NETWORK:
                return parse_network(c, v, path);
        case N_KEYS:
                break;
        }
        return 0;
}

#define SWAP(a, b)                                  \
        do {                                        \
                __typeof__(a) _t = (a);             \
                (a) = (b);                          \
                (b) = _t;                           \
        } while (0)

/* Move key k's value from src into dst (the old value ends up in src, which
 * the caller frees). */
static void move_key(struct kiln_cloud_config *dst, struct kiln_cloud_config *src, enum key k)
{
        switch (k) {
        case K_HOSTNAME: SWAP(dst->hostname, src->hostname); break;
        case K_FQDN: SWAP(dst->fqdn, src->fqdn); break;
        case K_PRESERVE_HOSTNAME: dst->preserve_hostname = src->preserve_hostname; break;
        case K_MANAGE_ETC_HOSTS: dst->manage_etc_hosts = src->manage_etc_hosts; break;
        case K_USERS:
                SWAP(dst->users, src->users);
                SWAP(dst->n_users, src->n_users);
                dst->users_set = src->users_set;
                break;
        case K_GROUPS:
                SWAP(dst->groups, src->groups);
                SWAP(dst->n_groups, src->n_groups);
                break;
        case K_SSH_AUTHORIZED_KEYS: SWAP(dst->ssh_authorized_keys, src->ssh_authorized_keys); break;
        case K_DISABLE_ROOT: dst->disable_root = src->disable_root; break;
        case K_DISABLE_ROOT_OPTS: SWAP(dst->disable_root_opts, src->disable_root_opts); break;
        case K_SSH_PWAUTH: dst->ssh_pwauth = src->ssh_pwauth; break;
        case K_SSH_DELETEKEYS: dst->ssh_deletekeys = src->ssh_deletekeys; break;
        case K_SSH_GENKEYTYPES: SWAP(dst->ssh_genkeytypes, src->ssh_genkeytypes); break;
        case K_SSH_KEYS:
                SWAP(dst->ssh_keys, src->ssh_keys);
                SWAP(dst->n_ssh_keys, src->n_ssh_keys);
                break;
        case K_WRITE_FILES:
                SWAP(dst->write_files, src->write_files);
                SWAP(dst->n_write_files, src->n_write_files);
                break;
        case K_BOOTCMD:
                SWAP(dst->bootcmd, src->bootcmd);
                SWAP(dst->n_bootcmd, src->n_bootcmd);
                break;
        case K_RUNCMD:
                SWAP(dst->runcmd, src->runcmd);
                SWAP(dst->n_runcmd, src->n_runcmd);
                break;
        case K_GROWPART:
                dst->growpart_mode = src->growpart_mode;
                SWAP(dst->growpart_devices, src->growpart_devices);
                break;
        case K_RESIZE_ROOTFS: dst->resize_rootfs = src->resize_rootfs; break;
        case K_MOUNTS:
                SWAP(dst->mounts, src->mounts);
                SWAP(dst->n_mounts, src->n_mounts);
                dst->mounts_set = src->mounts_set;
                break;
        case K_MOUNT_DEFAULT_FIELDS:
                for (int i = 0; i < 6; i++)
                        SWAP(dst->mount_default_fields[i], src->mount_default_fields[i]);
                break;
        case K_TIMEZONE: SWAP(dst->timezone, src->timezone); break;
        case K_FINAL_MESSAGE: SWAP(dst->final_message, src->final_message); break;
        case K_POWER_STATE: SWAP(dst->power_state, src->power_state); break;
        case K_SYSTEM_INFO:
                SWAP(dst->default_user, src->default_user);
                dst->default_user_set = src->default_user_set;
                break;
        case K_NETWORK:
                SWAP(dst->network, src->network);
                dst->network_set = src->network_set;
                break;
        case N_KEYS: break;
        }
}

void kiln_cloud_config_init(struct kiln_cloud_config *cc)
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
        user_init(&cc->default_user);
        kiln_netcfg_init(&cc->network);
}

void kiln_cloud_config_free(struct kiln_cloud_config *cc)
{
        if (!cc)
                return;
        free(cc->hostname);
        free(cc->fqdn);
        for (size_t i = 0; i < cc->n_users; i++)
                user_free(&cc->users[i]);
        free(cc->users);
        for (size_t i = 0; i < cc->n_groups; i++) {
                free(cc->groups[i].name);
                strv_free(cc->groups[i].members);
        }
        free(cc->groups);
        strv_free(cc->ssh_authorized_keys);
        free(cc->disable_root_opts);
        strv_free(cc->ssh_genkeytypes);
        for (size_t i = 0; i < cc->n_ssh_keys; i++) {
                free(cc->ssh_keys[i].type);
                if (cc->ssh_keys[i].private_key)
                        explicit_bzero(cc->ssh_keys[i].private_key, strlen(cc->ssh_keys[i].private_key));
                free(cc->ssh_keys[i].private_key);
                free(cc->ssh_keys[i].public_key);
                free(cc->ssh_keys[i].certificate);
        }
        free(cc->ssh_keys);
        for (size_t i = 0; i < cc->n_write_files; i++)
                file_free(&cc->write_files[i]);
        free(cc->write_files);
        for (size_t i = 0; i < cc->n_bootcmd; i++)
                command_free(&cc->bootcmd[i]);
        free(cc->bootcmd);
        for (size_t i = 0; i < cc->n_runcmd; i++)
                command_free(&cc->runcmd[i]);
        free(cc->runcmd);
        strv_free(cc->growpart_devices);
        for (size_t i = 0; i < cc->n_mounts; i++)
                for (int j = 0; j < 6; j++)
                        free(cc->mounts[i].field[j]);
        free(cc->mounts);
        for (int j = 0; j < 6; j++)
                free(cc->mount_default_fields[j]);
        free(cc->timezone);
        free(cc->final_message);
        free(cc->power_state.delay);
        free(cc->power_state.message);
        command_free(&cc->power_state.condition);
        user_free(&cc->default_user);
        kiln_netcfg_free(&cc->network);
        strv_free(cc->unsupported);
        strv_free(cc->warnings);
        for (size_t i = 0; i < cc->n_errors; i++) {
                free(cc->errors[i].doc);
                free(cc->errors[i].what);
                free(cc->errors[i].message);
        }
        free(cc->errors);
        kiln_cloud_config_init(cc);
}

static bool strv_contains(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (!strcmp(v[i], s))
                        return true;
        return false;
}

/* Move the strings of *from to the end of *to (without duplicates when
 * unique), at most KILN_CC_MAX_ITEMS in all; *from is emptied. */
static int strv_join(char ***to, char ***from, bool unique)
{
        size_t nt = strv_len(*to), nf = strv_len(*from);
        char **v;

        if (nf == 0)
                goto out;
        v = realloc(*to, (nt + nf + 1) * sizeof(*v));
        if (!v) {
                strv_free(*from);
                *from = NULL;
                return -ENOMEM;
        }
        *to = v;
        v[nt] = NULL;
        for (size_t i = 0; i < nf; i++) {
                char *s = (*from)[i];

                if (nt >= KILN_CC_MAX_ITEMS || (unique && strv_contains(v, s)))
                        free(s);
                else {
                        v[nt++] = s;
                        v[nt] = NULL;
                }
        }
        v[nt] = NULL;
out:
        free(*from);
        *from = NULL;
        return 0;
}

/* Move the errors of *from to the end of *to, at most KILN_CC_MAX_ITEMS in all. */
static int errors_join(struct kiln_cloud_config *to, struct kiln_cloud_config *from)
{
        struct kiln_cc_error *v;
        size_t n = MIN(from->n_errors, KILN_CC_MAX_ITEMS - MIN(to->n_errors, (size_t)KILN_CC_MAX_ITEMS));

        if (n) {
                v = realloc(to->errors, (to->n_errors + n) * sizeof(*v));
                if (!v)
                        return -ENOMEM;
                to->errors = v;
                memcpy(v + to->n_errors, from->errors, n * sizeof(*v));
                to->n_errors += n;
                /* What moved is to's now; the rest is freed with from. */
                memmove(from->errors, from->errors + n, (from->n_errors - n) * sizeof(*v));
                from->n_errors -= n;
        }
        return 0;
}

/* Key k back to its unset value (what a failed handler left is freed). */
static void unset_key(struct kiln_cloud_config *cc, enum key k)
{
        struct kiln_cloud_config blank;

        kiln_cloud_config_init(&blank);
        move_key(cc, &blank, k);
        kiln_cloud_config_free(&blank);
}

int kiln_cloud_config_parse(struct kiln_cloud_config *cc, const char *name, const void *buf, size_t len)
{
        static const struct kiln_yaml_limits limits = {
                .max_depth = KILN_CC_MAX_DEPTH,
                .max_items = KILN_CC_MAX_ITEMS,
                .max_scalar = KILN_CC_MAX_BYTES,
        };
        struct kiln_yaml y = { 0 };
        struct kiln_cloud_config tmp;
        struct ctx c = { .y = &y, .name = name ? name : "cloud-config", .cc = &tmp };
        bool present[N_KEYS] = { false };
        size_t n_unsupported = 0, n_errors;
        struct kiln_yaml_entries es = { 0 };
        int r;

        if (len > KILN_CC_MAX_BYTES)
                return kiln_errorf(-EFBIG, "%s: %zu bytes of #cloud-config, more than the %u MiB limit", c.name, len,
                                   KILN_CC_MAX_BYTES >> 20);
        kiln_cloud_config_init(&tmp);
        r = kiln_yaml_load(&y, c.name, buf, len, &limits);
        if (r < 0)
                goto out;
        if (!y.root || kiln_ynode_is_null(y.root))
                goto out; /* an empty #cloud-config sets nothing */
        if (y.root->type != KILN_YNODE_MAPPING) {
                r = kiln_yaml_errorf(c.name, y.root->line, "#cloud-config must be a mapping of keys, not %s",
                                     y.root->type == KILN_YNODE_SEQUENCE ? "a list" : "a string");
                goto out;
        }
        r = kiln_yaml_entries(&y, y.root, "", &es);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < es.n; i++) {
                enum key k;

                for (k = 0; k < N_KEYS; k++)
                        if (!strcmp(es.e[i].key, key_names[k]))
                                break;
                if (k == N_KEYS) {
                        /* Keys are unique after kiln_yaml_entries(). */
                        if (!tmp.unsupported && !(tmp.unsupported = calloc(es.n + 1, sizeof(char *)))) {
                                r = oom(&c);
                                goto out;
                        }
                        if (!(tmp.unsupported[n_unsupported++] = strdup(es.e[i].key))) {
                                r = oom(&c);
                                goto out;
                        }
                        continue;
                }
                present[k] = true;
                size_t mark = c.n_warnings;
                r = parse_key(&c, k, es.e[i].v, key_names[k]);
                if (r < 0) {
                        /* This key alone is not applied: it stays unset. */
                        unset_key(&tmp, k);
                        warnings_rollback(&c, mark);
                        r = not_applied(&c, r, key_names[k]);
                        if (r < 0)
                                goto out;
                }
        }
        /* Move what this document set into cc. */
        for (enum key k = 0; k < N_KEYS; k++)
                if (present[k])
                        move_key(cc, &tmp, k);
        n_errors = tmp.n_errors;
        /* The lists join cc's, within the limit. */
        r = strv_join(&cc->unsupported, &tmp.unsupported, true);
        if (r >= 0)
                r = strv_join(&cc->warnings, &tmp.warnings, false);
        if (r >= 0)
                r = errors_join(cc, &tmp);
        if (r < 0)
                r = oom(&c);
        else
                r = (int)n_errors;
out:
        kiln_yaml_entries_free(&es);
        kiln_yaml_free(&y);
        kiln_cloud_config_free(&tmp);
        return r;
}

/* --- the users module's view --------------------------------------------- */

void kiln_cc_default_user_view(const struct kiln_cloud_config *cc, struct kiln_cc_user *ret)
{
        const struct kiln_cc_user *e = NULL;

        *ret = cc->default_user;
        ret->is_default = true;
        for (size_t i = 0; cc->users_set && i < cc->n_users && !e; i++)
                if (cc->users[i].is_default)
                        e = &cc->users[i];
        if (!e)
                return;
        /* mergemanydict([default_user minus groups, the 'default' entry, ...]):
         * the image's keys win; the entry's groups replace the image's. */
#define FILL(f)                  \
        do {                     \
                if (!ret->f)     \
                        ret->f = e->f; \
        } while (0)
        FILL(gecos);
        FILL(primary_group);
        FILL(sudo);
        FILL(shell);
        FILL(passwd);
        FILL(plain_text_passwd);
        FILL(ssh_authorized_keys);
        FILL(homedir);
#undef FILL
        if (e->groups)
                ret->groups = e->groups;
        if (ret->lock_passwd == KILN_UNSET)
                ret->lock_passwd = e->lock_passwd;
        if (ret->uid < 0)
                ret->uid = e->uid;
        ret->system |= e->system;
        ret->no_create_home |= e->no_create_home;
}

/* Calls fn on each user the users module creates, as kiln_cc_effective_users()
 * lists them; stops at the first true. */
static bool any_user(const struct kiln_cloud_config *cc, bool (*fn)(const struct kiln_cc_user *u, const char *name),
                     const char *name)
{
        struct kiln_cc_user def;
        bool listed = !cc->users_set;

        kiln_cc_default_user_view(cc, &def);
        for (size_t i = 0; cc->users_set && i < cc->n_users; i++) {
                if (cc->users[i].is_default)
                        listed = true;
                else if (cc->users[i].name && fn(&cc->users[i], name))
                        return true;
        }
        return listed && cc->default_user_set && def.name && fn(&def, name);
}

static bool user_is(const struct kiln_cc_user *u, const char *name)
{
        return !strcmp(u->name, name);
}

static bool user_makes_group(const struct kiln_cc_user *u, const char *name)
{
        if (!strcmp(u->primary_group ? u->primary_group : u->name, name))
                return true;
        return strv_contains(u->groups, name);
}

bool kiln_cc_creates_user(const struct kiln_cloud_config *cc, const char *name)
{
        return name && *name && any_user(cc, user_is, name);
}

bool kiln_cc_creates_group(const struct kiln_cloud_config *cc, const char *name)
{
        if (!name || !*name)
                return false;
        for (size_t i = 0; i < cc->n_groups; i++)
                if (cc->groups[i].name && !strcmp(cc->groups[i].name, name))
                        return true;
        return any_user(cc, user_makes_group, name);
}
