/* SPDX-License-Identifier: MIT */
/*
 * Users and groups without useradd: etc/passwd, etc/shadow, etc/group and
 * etc/gshadow of the root edited in memory under etc/.pwd.lock and written
 * back atomically, as cloud-init's users_groups module would have them
 * changed by useradd, groupadd, usermod and passwd.
 */
#include "apply.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rootio.h"
#include "util.h"

#define NAME_MAX_LEN 32
#define SKEL_MAX_DEPTH 16
#define LOCK_TIMEOUT_MS 15000

struct logindefs {
        unsigned uid_min, uid_max, sys_uid_min, sys_uid_max;
        unsigned gid_min, gid_max, sys_gid_min, sys_gid_max;
        unsigned pass_min_days, pass_max_days, pass_warn_age;
        mode_t home_mode;
};

struct db {
        const char *name; /* in etc/ */
        struct lines l;
        bool exists, dirty;
};

struct pwdb {
        int etcfd;
        int lockfd;
        struct db passwd, shadow, group, gshadow;
        struct logindefs defs;
};

bool kiln_valid_user_name(const char *name)
{
        size_t n;

        if (!name || !*name)
                return false;
        n = strlen(name);
        if (n > NAME_MAX_LEN)
                return false;
        if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = name[i];
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-' || c == '.')
                        continue;
                if (c == '$' && i == n - 1)
                        continue;
                return false;
        }
        return true;
}

/* A field of an account file: no ':' and no line breaks. */
static bool valid_field(const char *s)
{
        return s && !strpbrk(s, ":\n\r");
}

const char *kiln_cc_default_user_name(const struct kiln_cloud_config *cc)
{
        if (!cc->default_user_set || !cc->default_user.name)
                return NULL;
        if (cc->users_set) {
                bool listed = false;
                for (size_t i = 0; i < cc->n_users; i++)
                        listed |= cc->users[i].is_default;
                if (!listed)
                        return NULL;
        }
        return cc->default_user.name;
}

int kiln_cc_effective_users(const struct kiln_cloud_config *cc, const struct kiln_cc_user ***ret, size_t *ret_n)
{
        const struct kiln_cc_user **v;
        size_t n = 0;

        v = calloc(cc->n_users + 1, sizeof(*v));
        if (!v)
                return -ENOMEM;
        if (!cc->users_set) {
                if (cc->default_user_set && cc->default_user.name)
                        v[n++] = &cc->default_user;
        } else {
                for (size_t i = 0; i < cc->n_users; i++) {
                        if (cc->users[i].is_default) {
                                if (cc->default_user_set && cc->default_user.name)
                                        v[n++] = &cc->default_user;
                        } else if (cc->users[i].name) {
                                v[n++] = &cc->users[i];
                        }
                }
        }
        if (n == 0) {
                free(v);
                v = NULL;
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

/* ---- account files as lines of fields ------------------------------------ */

/* Field i (0-based) of a line, malloc'd; "" past the end. */
static char *field_dup(const char *line, unsigned i)
{
        const char *p = line, *end;

        for (; i > 0; i--) {
                p = strchr(p, ':');
                if (!p)
                        return strdup("");
                p++;
        }
        end = strchr(p, ':');
        return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

static int parse_uint(const char *s, unsigned *ret)
{
        char *end;
        unsigned long v;

        if (!s || !*s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || *end || v > 0xfffffffeUL)
                return -EINVAL;
        *ret = (unsigned)v;
        return 0;
}

static long find_entry(const struct db *d, const char *name)
{
        size_t n = strlen(name);

        for (size_t i = 0; i < d->l.n; i++)
                if (!strncmp(d->l.v[i], name, n) && d->l.v[i][n] == ':')
                        return (long)i;
        return -1;
}

static int entry_id(const struct db *d, long i, unsigned field, unsigned *ret)
{
        _cleanup_free_ char *f = field_dup(d->l.v[i], field);
        if (!f)
                return -ENOMEM;
        return parse_uint(f, ret);
}

/* Replace field i of line at; the line gets empty fields up to i if short. */
static int set_field(struct db *d, size_t at, unsigned i, const char *value)
{
        const char *line = d->l.v[at], *p = line, *end;
        unsigned k;
        char *out;

        for (k = 0; k < i; k++) {
                const char *c = strchr(p, ':');
                if (!c)
                        break;
                p = c + 1;
        }
        if (k < i) {
                /* Too few fields: pad. */
                size_t len = strlen(line);
                out = malloc(len + (i - k) + strlen(value) + 1);
                if (!out)
                        return -ENOMEM;
                memcpy(out, line, len);
                memset(out + len, ':', i - k);
                strcpy(out + len + (i - k), value);
        } else {
                end = strchr(p, ':');
                if (asprintf(&out, "%.*s%s%s", (int)(p - line), line, value, end ? end : "") < 0)
                        return -ENOMEM;
        }
        free(d->l.v[at]);
        d->l.v[at] = out;
        d->dirty = true;
        return 0;
}

static bool id_used(const struct db *d, unsigned field, unsigned id)
{
        for (size_t i = 0; i < d->l.n; i++) {
                unsigned v;
                if (entry_id(d, (long)i, field, &v) == 0 && v == id)
                        return true;
        }
        return false;
}

/*
 * useradd's choice: for a normal account one more than the highest ID in
 * [lo, hi], or the first free one when that overflows; for a system account
 * the highest free ID in [lo, hi].  prefer, when free and in range, wins
 * (a user private group takes the user's UID as its GID).
 */
static int pick_id(const struct db *d, unsigned field, unsigned lo, unsigned hi, bool system, long prefer,
                   unsigned *ret)
{
        unsigned max = 0;
        bool any = false;

        if (prefer >= 0 && !id_used(d, field, (unsigned)prefer)) {
                *ret = (unsigned)prefer;
                return 0;
        }
        if (lo > hi)
                return -ERANGE;
        if (system) {
                for (unsigned id = hi;; id--) {
                        if (!id_used(d, field, id)) {
                                *ret = id;
                                return 0;
                        }
                        if (id == lo)
                                return -ERANGE;
                }
        }
        for (size_t i = 0; i < d->l.n; i++) {
                unsigned v;
                if (entry_id(d, (long)i, field, &v) == 0 && v >= lo && v <= hi && (!any || v > max)) {
                        max = v;
                        any = true;
                }
        }
        if (!any) {
                *ret = lo;
                return 0;
        }
        if (max < hi) {
                *ret = max + 1;
                return 0;
        }
        for (unsigned id = lo; id <= hi; id++)
                if (!id_used(d, field, id)) {
                        *ret = id;
                        return 0;
                }
        return -ERANGE;
}

/* ---- login.defs ------------------------------------------------------------ */

static void logindefs_read(int rootfd, struct logindefs *defs)
{
        _cleanup_free_ char *buf = NULL;
        bool have_home_mode = false, have_umask = false, have_sys_uid_max = false, have_sys_gid_max = false;
        unsigned umask_v = 077;

        *defs = (struct logindefs){
                .uid_min = 1000, .uid_max = 60000, .sys_uid_min = 100, .sys_uid_max = 999,
                .gid_min = 1000, .gid_max = 60000, .sys_gid_min = 100, .sys_gid_max = 999,
                .pass_min_days = 0, .pass_max_days = 99999, .pass_warn_age = 7,
        };
        if (root_read_file(rootfd, "etc/login.defs", &buf, NULL, NULL) < 0)
                goto done;
        for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char key[32], val[32];
                unsigned v;
                char *end;

                while (*line == ' ' || *line == '\t')
                        line++;
                if (*line == '#' || sscanf(line, "%31s %31s", key, val) != 2)
                        continue;
                v = (unsigned)strtoul(val, &end, 0); /* HOME_MODE and UMASK are octal with a 0 */
                if (*end)
                        continue;
                static const struct {
                        const char *key;
                        size_t off;
                } keys[] = {
                        { "UID_MIN", offsetof(struct logindefs, uid_min) },
                        { "UID_MAX", offsetof(struct logindefs, uid_max) },
                        { "SYS_UID_MIN", offsetof(struct logindefs, sys_uid_min) },
                        { "SYS_UID_MAX", offsetof(struct logindefs, sys_uid_max) },
                        { "GID_MIN", offsetof(struct logindefs, gid_min) },
                        { "GID_MAX", offsetof(struct logindefs, gid_max) },
                        { "SYS_GID_MIN", offsetof(struct logindefs, sys_gid_min) },
                        { "SYS_GID_MAX", offsetof(struct logindefs, sys_gid_max) },
                        { "PASS_MIN_DAYS", offsetof(struct logindefs, pass_min_days) },
                        { "PASS_MAX_DAYS", offsetof(struct logindefs, pass_max_days) },
                        { "PASS_WARN_AGE", offsetof(struct logindefs, pass_warn_age) },
                };
                for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                        if (!strcmp(key, keys[i].key))
                                *(unsigned *)((char *)defs + keys[i].off) = v;
                if (!strcmp(key, "SYS_UID_MAX"))
                        have_sys_uid_max = true;
                if (!strcmp(key, "SYS_GID_MAX"))
                        have_sys_gid_max = true;
                if (!strcmp(key, "HOME_MODE")) {
                        defs->home_mode = v & 07777;
                        have_home_mode = true;
                }
                if (!strcmp(key, "UMASK")) {
                        umask_v = v & 0777;
                        have_umask = true;
                }
        }
        /* useradd: SYS_UID_MAX defaults to UID_MIN - 1. */
        if (!have_sys_uid_max && defs->uid_min > 0 && defs->uid_min - 1 < defs->sys_uid_max)
                defs->sys_uid_max = defs->uid_min - 1;
        if (!have_sys_gid_max && defs->gid_min > 0 && defs->gid_min - 1 < defs->sys_gid_max)
                defs->sys_gid_max = defs->gid_min - 1;
done:
        /* useradd: HOME_MODE, else 0777 & ~UMASK, UMASK defaulting to 077. */
        if (!have_home_mode)
                defs->home_mode = 0777 & ~(have_umask ? umask_v : 077);
}

/* ---- the database ------------------------------------------------------------ */

static void pwdb_close(struct pwdb *db)
{
        lines_free(&db->passwd.l);
        lines_free(&db->shadow.l);
        lines_free(&db->group.l);
        lines_free(&db->gshadow.l);
        if (db->lockfd >= 0)
                close(db->lockfd); /* drops the fcntl lock */
        if (db->etcfd >= 0)
                close(db->etcfd);
        db->lockfd = db->etcfd = -1;
}

/* lckpwdf(): an fcntl write lock on etc/.pwd.lock, waiting up to 15 s. */
static int pwdb_lock(struct pwdb *db)
{
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

        db->lockfd = openat(db->etcfd, ".pwd.lock", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (db->lockfd < 0)
                return kiln_errorf(-errno, "cannot open '/etc/.pwd.lock': %m");
        for (int waited = 0;; waited += 10) {
                if (fcntl(db->lockfd, F_SETLK, &fl) == 0)
                        return 0;
                if (errno != EACCES && errno != EAGAIN && errno != EINTR)
                        return kiln_errorf(-errno, "cannot lock '/etc/.pwd.lock': %m");
                if (waited >= LOCK_TIMEOUT_MS)
                        return kiln_errorf(-EBUSY, "cannot lock '/etc/.pwd.lock': held by another process for %d s",
                                           LOCK_TIMEOUT_MS / 1000);
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
}

static int db_load(int rootfd, struct db *d)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t len;
        int r;

        if (asprintf(&path, "etc/%s", d->name) < 0)
                return -ENOMEM;
        r = root_read_file(rootfd, path, &buf, &len, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        d->exists = true;
        if (memchr(buf, 0, len))
                return kiln_errorf(-EBADMSG, "'/%s' holds a NUL byte", path);
        return lines_split(&d->l, buf, len);
}

static int pwdb_open(int rootfd, struct pwdb *db)
{
        int r;

        *db = (struct pwdb){ .etcfd = -1, .lockfd = -1 };
        db->passwd.name = "passwd";
        db->shadow.name = "shadow";
        db->group.name = "group";
        db->gshadow.name = "gshadow";
        db->etcfd = root_open(rootfd, "etc", O_RDONLY | O_DIRECTORY, 0);
        if (db->etcfd < 0)
                return kiln_errorf(db->etcfd, "cannot open folder '/etc': %s", strerror(-db->etcfd));
        r = pwdb_lock(db);
        if (r < 0)
                return r;
        logindefs_read(rootfd, &db->defs);
        struct db *all[] = { &db->passwd, &db->shadow, &db->group, &db->gshadow };
        for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
                r = db_load(rootfd, all[i]);
                if (r < 0)
                        return r;
        }
        if (!db->passwd.exists)
                return kiln_errorf(-ENOENT, "'/etc/passwd' is missing");
        if (!db->group.exists)
                return kiln_errorf(-ENOENT, "'/etc/group' is missing");
        return 0;
}

static int pwdb_commit(struct pwdb *db)
{
        unsigned shadow_gid = 0;
        long g = find_entry(&db->group, "shadow");

        if (g >= 0 && entry_id(&db->group, g, 2, &shadow_gid) < 0)
                shadow_gid = 0;
        /* gshadow and group first, so a user never names a group not yet there. */
        struct db *order[] = { &db->gshadow, &db->group, &db->shadow, &db->passwd };
        for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
                struct db *d = order[i];
                _cleanup_free_ char *data = NULL, *what = NULL;
                bool secret = d == &db->shadow || d == &db->gshadow;
                size_t len;
                int r;

                if (!d->dirty)
                        continue;
                data = lines_join(&d->l, &len);
                if (!data || asprintf(&what, "/etc/%s", d->name) < 0)
                        return -ENOMEM;
                r = dir_write_file(db->etcfd, d->name, what, data, len, secret ? 0640 : 0644, 0,
                                   secret ? shadow_gid : 0, WRITE_KEEP_ATTRS);
                if (secret)
                        explicit_bzero(data, len);
                if (r < 0)
                        return r;
                d->dirty = false;
        }
        return 0;
}

/* ---- groups ----------------------------------------------------------------- */

static int group_add(struct pwdb *db, const char *name, bool system, long prefer, unsigned *ret_gid)
{
        unsigned gid;
        int r;

        r = pick_id(&db->group, 2, system ? db->defs.sys_gid_min : db->defs.gid_min,
                    system ? db->defs.sys_gid_max : db->defs.gid_max, system, prefer, &gid);
        if (r < 0)
                return kiln_errorf(r, "group '%s': no free GID left", name);
        if (lines_pushf(&db->group.l, "%s:x:%u:", name, gid) < 0)
                return -ENOMEM;
        db->group.dirty = true;
        if (db->gshadow.exists) {
                if (find_entry(&db->gshadow, name) < 0) {
                        if (lines_pushf(&db->gshadow.l, "%s:!::", name) < 0)
                                return -ENOMEM;
                        db->gshadow.dirty = true;
                }
        }
        if (ret_gid)
                *ret_gid = gid;
        return 0;
}

/* Add user to a comma-separated member list in field i of d's entry at. */
static int add_member(struct db *d, long at, unsigned field, const char *user, bool *changed)
{
        _cleanup_free_ char *members = field_dup(d->l.v[at], field), *out = NULL;

        if (!members)
                return -ENOMEM;
        for (char *save = NULL, *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
                if (!strcmp(m, user))
                        return 0;
        free(members);
        members = field_dup(d->l.v[at], field);
        if (!members || asprintf(&out, "%s%s%s", members, *members ? "," : "", user) < 0)
                return -ENOMEM;
        *changed = true;
        return set_field(d, (size_t)at, field, out);
}

static int group_add_member(struct pwdb *db, const char *group, const char *user, bool *changed)
{
        long g = find_entry(&db->group, group), gs;
        int r;

        if (g < 0)
                return kiln_errorf(-ENOENT, "group '%s' does not exist", group);
        r = add_member(&db->group, g, 3, user, changed);
        if (r < 0)
                return r;
        gs = find_entry(&db->gshadow, group);
        if (gs >= 0)
                r = add_member(&db->gshadow, gs, 3, user, changed);
        return r;
}

/* A group by name, created (normal range) when missing. */
static int group_ensure(const struct kiln_apply_ctx *ctx, struct pwdb *db, const char *name, unsigned *ret_gid)
{
        long g;
        int r;

        if (!kiln_valid_user_name(name))
                return kiln_errorf(-EINVAL, "group name '%.64s' is not valid", name);
        g = find_entry(&db->group, name);
        if (g >= 0) {
                if (ret_gid && entry_id(&db->group, g, 2, ret_gid) < 0)
                        return kiln_errorf(-EBADMSG, "'/etc/group': bad GID for group '%s'", name);
                return 0;
        }
        r = group_add(db, name, false, -1, ret_gid);
        if (r < 0)
                return r;
        apply_log(ctx, "groups: added group '%s'", name);
        return 0;
}

static int apply_group(const struct kiln_apply_ctx *ctx, struct pwdb *db, const struct kiln_cc_group *grp)
{
        int r = group_ensure(ctx, db, grp->name, NULL);

        if (r < 0)
                return r;
        for (char **m = grp->members; m && *m; m++) {
                bool changed = false;
                if (find_entry(&db->passwd, *m) < 0) {
                        apply_log(ctx, "groups: cannot add '%s' to group '%s': no such user", *m, grp->name);
                        continue;
                }
                r = group_add_member(db, grp->name, *m, &changed);
                if (r < 0)
                        return r;
                if (changed)
                        apply_log(ctx, "groups: added '%s' to group '%s'", *m, grp->name);
        }
        return 0;
}

/* ---- users ------------------------------------------------------------------ */

struct new_home {
        char *name, *home;
        unsigned uid, gid;
};

static bool root_exists(int rootfd, const char *path)
{
        int fd = root_open(rootfd, path, O_PATH, 0);
        if (fd < 0)
                return false;
        close(fd);
        return true;
}

static int check_user(const struct kiln_cc_user *u)
{
        if (!kiln_valid_user_name(u->name))
                return kiln_errorf(-EINVAL, "user name '%.64s' is not valid (letters, digits, '_', '-', '.', at most %d)",
                                   u->name ? u->name : "", NAME_MAX_LEN);
        if (u->gecos && !valid_field(u->gecos))
                return kiln_errorf(-EINVAL, "user '%s': gecos holds ':' or a line break", u->name);
        if (u->shell && (!valid_field(u->shell) || u->shell[0] != '/'))
                return kiln_errorf(-EINVAL, "user '%s': shell '%.64s' is not an absolute path", u->name, u->shell);
        if (u->homedir && (!valid_field(u->homedir) || u->homedir[0] != '/'))
                return kiln_errorf(-EINVAL, "user '%s': homedir '%.64s' is not an absolute path", u->name, u->homedir);
        if (u->passwd && (!valid_field(u->passwd) || !*u->passwd))
                return kiln_errorf(-EINVAL, "user '%s': passwd is not a crypt(3) hash", u->name);
        if (u->primary_group && !kiln_valid_user_name(u->primary_group))
                return kiln_errorf(-EINVAL, "user '%s': primary_group '%.64s' is not valid", u->name, u->primary_group);
        for (char **g = u->groups; g && *g; g++)
                if (!kiln_valid_user_name(*g))
                        return kiln_errorf(-EINVAL, "user '%s': group '%.64s' is not valid", u->name, *g);
        for (char **s = u->sudo; s && *s; s++)
                if (strpbrk(*s, "\n\r"))
                        return kiln_errorf(-EINVAL, "user '%s': a sudo rule holds a line break", u->name);
        if (u->uid > 0xfffffffeL)
                return kiln_errorf(-EINVAL, "user '%s': uid %ld is out of range", u->name, u->uid);
        return 0;
}

static int apply_user(const struct kiln_apply_ctx *ctx, struct pwdb *db, const struct kiln_cc_user *u,
                      struct new_home *ret_home)
{
        long at = find_entry(&db->passwd, u->name), sh;
        unsigned uid, gid;
        int r;

        r = check_user(u);
        if (r < 0)
                return r;
        if (at < 0) {
                _cleanup_free_ char *home = NULL;
                const char *shell = u->shell;

                if (u->uid >= 0) {
                        if (id_used(&db->passwd, 2, (unsigned)u->uid))
                                return kiln_errorf(-EEXIST, "user '%s': uid %ld is taken", u->name, u->uid);
                        uid = (unsigned)u->uid;
                } else {
                        r = pick_id(&db->passwd, 2, u->system ? db->defs.sys_uid_min : db->defs.uid_min,
                                    u->system ? db->defs.sys_uid_max : db->defs.uid_max, u->system, -1, &uid);
                        if (r < 0)
                                return kiln_errorf(r, "user '%s': no free UID left", u->name);
                }
                if (u->primary_group) {
                        r = group_ensure(ctx, db, u->primary_group, &gid);
                        if (r < 0)
                                return kiln_error_prefix(r, "user '%s'", u->name);
                } else {
                        long g = find_entry(&db->group, u->name);
                        if (g >= 0) {
                                if (entry_id(&db->group, g, 2, &gid) < 0)
                                        return kiln_errorf(-EBADMSG, "'/etc/group': bad GID for group '%s'", u->name);
                        } else {
                                r = group_add(db, u->name, u->system, uid, &gid);
                                if (r < 0)
                                        return r;
                        }
                }
                if (!shell)
                        shell = root_exists(ctx->rootfd, "bin/bash") ? "/bin/bash" : "/bin/sh";
                if (u->homedir)
                        home = strdup(u->homedir);
                else if (asprintf(&home, "/home/%s", u->name) < 0)
                        home = NULL;
                if (!home)
                        return -ENOMEM;
                if (lines_pushf(&db->passwd.l, "%s:x:%u:%u:%s:%s:%s", u->name, uid, gid, u->gecos ? u->gecos : "",
                                home, shell) < 0)
                        return -ENOMEM;
                db->passwd.dirty = true;
                apply_log(ctx, "users: added user '%s' (uid %u, gid %u, home %s, shell %s)", u->name, uid, gid, home,
                          shell);
                if (!u->system && !u->no_create_home) {
                        ret_home->name = strdup(u->name);
                        ret_home->home = TAKE_PTR(home);
                        ret_home->uid = uid;
                        ret_home->gid = gid;
                        if (!ret_home->name)
                                return -ENOMEM;
                }
        } else {
                apply_log(ctx, "users: user '%s' exists; updating it", u->name);
        }

        /* The shadow entry: new users get one; the hash and the lock. */
        sh = find_entry(&db->shadow, u->name);
        if (sh < 0 && (db->shadow.exists || at < 0)) {
                long days = (long)(time(NULL) / 86400);
                if (lines_pushf(&db->shadow.l, "%s:*:%ld:%u:%u:%u:::", u->name, days, db->defs.pass_min_days,
                                db->defs.pass_max_days, db->defs.pass_warn_age) < 0)
                        return -ENOMEM;
                db->shadow.dirty = true;
                sh = (long)db->shadow.l.n - 1;
        }
        if (sh >= 0) {
                _cleanup_free_ char *pw = NULL;
                if (u->passwd) {
                        r = set_field(&db->shadow, (size_t)sh, 1, u->passwd);
                        if (r < 0)
                                return r;
                        apply_log(ctx, "users: set the password hash of '%s'", u->name);
                }
                pw = field_dup(db->shadow.l.v[sh], 1);
                if (!pw)
                        return -ENOMEM;
                if (u->lock_passwd != KILN_FALSE && pw[0] != '!') {
                        _cleanup_free_ char *locked = NULL;
                        if (asprintf(&locked, "!%s", pw) < 0)
                                return -ENOMEM;
                        r = set_field(&db->shadow, (size_t)sh, 1, locked);
                        if (r < 0)
                                return r;
                        explicit_bzero(locked, strlen(locked));
                        apply_log(ctx, "users: locked the password of '%s'", u->name);
                }
                explicit_bzero(pw, strlen(pw));
        }

        for (char **g = u->groups; g && *g; g++) {
                bool changed = false;
                r = group_ensure(ctx, db, *g, NULL);
                if (r < 0)
                        return kiln_error_prefix(r, "user '%s'", u->name);
                r = group_add_member(db, *g, u->name, &changed);
                if (r < 0)
                        return r;
                if (changed)
                        apply_log(ctx, "users: added '%s' to group '%s'", u->name, *g);
        }
        return 0;
}

/* ---- homes ------------------------------------------------------------------ */

static int copy_file_at(int sfd, int dfd, const char *name, mode_t mode, const char *what)
{
        _cleanup_close_ int in = -1, out = -1;
        char buf[16384];

        in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (in < 0)
                return kiln_errorf(-errno, "cannot read '%s': %m", what);
        out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
        if (out < 0)
                return kiln_errorf(-errno, "cannot create '%s': %m", what);
        for (;;) {
                ssize_t n = read(in, buf, sizeof(buf));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return kiln_errorf(-errno, "cannot read '%s': %m", what);
                if (n == 0)
                        break;
                for (ssize_t off = 0; off < n;) {
                        ssize_t w = write(out, buf + off, (size_t)(n - off));
                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0)
                                return kiln_errorf(-errno, "cannot write '%s': %m", what);
                        off += w;
                }
        }
        if (fchmod(out, mode & 07777) < 0)
                return kiln_errorf(-errno, "cannot chmod '%s': %m", what);
        return 0;
}

/* etc/skel's files, folders and symlinks into a new home, owned by the user. */
static int copy_skel(int sfd, int dfd, const char *home, unsigned uid, unsigned gid, int depth)
{
        _cleanup_close_ int sdup = -1;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (depth > SKEL_MAX_DEPTH)
                return kiln_errorf(-ELOOP, "'/etc/skel' is nested too deep");
        sdup = dup(sfd);
        if (sdup < 0)
                return -errno;
        d = fdopendir(sdup);
        if (!d)
                return -errno;
        sdup = -1;
        while ((de = readdir(d))) {
                _cleanup_free_ char *what = NULL;
                struct stat st;

                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                if (asprintf(&what, "%s/%s", home, de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int s2, d2;
                        if (mkdirat(dfd, de->d_name, 0700) < 0 && errno != EEXIST) {
                                r = kiln_errorf(-errno, "cannot make '%s': %m", what);
                                break;
                        }
                        s2 = openat(sfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        d2 = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (s2 >= 0 && d2 >= 0)
                                r = copy_skel(s2, d2, what, uid, gid, depth + 1);
                        else
                                r = kiln_errorf(-errno, "cannot open '%s': %m", what);
                        if (s2 >= 0)
                                close(s2);
                        if (d2 >= 0) {
                                if (r == 0 && fchmod(d2, st.st_mode & 07777) < 0)
                                        r = kiln_errorf(-errno, "cannot chmod '%s': %m", what);
                                close(d2);
                        }
                } else if (S_ISREG(st.st_mode)) {
                        r = copy_file_at(sfd, dfd, de->d_name, st.st_mode, what);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[4096];
                        ssize_t n = readlinkat(sfd, de->d_name, target, sizeof(target) - 1);
                        if (n < 0)
                                continue;
                        target[n] = 0;
                        if (symlinkat(target, dfd, de->d_name) < 0 && errno != EEXIST)
                                r = kiln_errorf(-errno, "cannot make symlink '%s': %m", what);
                } else {
                        continue; /* devices, fifos, sockets: useradd skips them too */
                }
                if (r < 0)
                        break;
                if (fchownat(dfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && !(errno == EPERM && geteuid())) {
                        r = kiln_errorf(-errno, "cannot chown '%s': %m", what);
                        break;
                }
        }
        closedir(d);
        return r;
}

static int make_home(const struct kiln_apply_ctx *ctx, const struct new_home *h, mode_t mode)
{
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int parent = -1, fd = -1, skel = -1;
        int r;

        parent = root_open_parent(ctx->rootfd, h->home, true, &base);
        if (parent < 0)
                return parent;
        if (mkdirat(parent, base, 0700) < 0) {
                if (errno == EEXIST) {
                        apply_log(ctx, "users: home '%s' of '%s' exists; not copying /etc/skel", h->home, h->name);
                        return 0;
                }
                return kiln_errorf(-errno, "cannot make home '%s': %m", h->home);
        }
        fd = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return kiln_errorf(-errno, "cannot open home '%s': %m", h->home);
        r = fchown_maybe(fd, h->uid, h->gid);
        if (r < 0)
                return kiln_errorf(r, "cannot chown home '%s': %s", h->home, strerror(-r));
        if (fchmod(fd, mode) < 0)
                return kiln_errorf(-errno, "cannot chmod home '%s': %m", h->home);
        skel = root_open(ctx->rootfd, "etc/skel", O_RDONLY | O_DIRECTORY, 0);
        if (skel >= 0) {
                r = copy_skel(skel, fd, h->home, h->uid, h->gid, 0);
                if (r < 0)
                        return r;
        }
        apply_log(ctx, "users: made home '%s' (mode %04o)%s", h->home, (unsigned)mode,
                  skel >= 0 ? " from /etc/skel" : "");
        return 0;
}

/* ---- sudo ------------------------------------------------------------------- */

#define SUDOERS_FILE "etc/sudoers.d/90-cloud-init-users"

static int ensure_sudoers_includedir(const struct kiln_apply_ctx *ctx)
{
        _cleanup_free_ char *buf = NULL, *out = NULL;
        size_t len;
        int r;

        r = root_read_file(ctx->rootfd, "etc/sudoers", &buf, &len, NULL);
        if (r == -ENOENT) {
                apply_log(ctx, "sudo: /etc/sudoers is missing (is sudo installed?); rules written anyway");
                return 0;
        }
        if (r < 0)
                return r;
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                while (*l == ' ' || *l == '\t')
                        l++;
                if ((!strncmp(l, "#includedir", 11) || !strncmp(l, "@includedir", 11)) && strstr(l, "/etc/sudoers.d"))
                        return 0;
        }
        free(buf);
        buf = NULL;
        r = root_read_file(ctx->rootfd, "etc/sudoers", &buf, &len, NULL);
        if (r < 0)
                return r;
        if (asprintf(&out, "%s%s\n# Added by kiln-init (cloud-init-lite): users' sudo rules\n#includedir /etc/sudoers.d\n",
                     buf, len && buf[len - 1] != '\n' ? "\n" : "") < 0)
                return -ENOMEM;
        r = root_write_file(ctx->rootfd, "etc/sudoers", out, strlen(out), 0440, 0, 0, WRITE_KEEP_ATTRS);
        if (r == 0)
                apply_log(ctx, "sudo: added '#includedir /etc/sudoers.d' to /etc/sudoers");
        return r;
}

static int write_sudo_rules(const struct kiln_apply_ctx *ctx, const struct kiln_cc_user *const *users, size_t n)
{
        _cleanup_free_ char *buf = NULL, *out = NULL;
        struct lines l = { 0 };
        bool changed = false, any = false;
        size_t len;
        int r;

        for (size_t i = 0; i < n; i++)
                any |= users[i]->sudo && users[i]->sudo[0];
        if (!any)
                return 0;
        r = root_read_file(ctx->rootfd, SUDOERS_FILE, &buf, &len, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == -ENOENT) {
                r = lines_push(&l, "# Created by kiln-init (cloud-init-lite) from the instance's user data");
        } else {
                r = lines_split(&l, buf, len);
        }
        for (size_t i = 0; r == 0 && i < n; i++) {
                bool header = false;
                for (char **s = users[i]->sudo; r == 0 && s && *s; s++) {
                        _cleanup_free_ char *rule = NULL;
                        bool have = false;
                        if (asprintf(&rule, "%s %s", users[i]->name, *s) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        for (size_t k = 0; k < l.n && !have; k++)
                                have = !strcmp(l.v[k], rule);
                        if (have)
                                continue;
                        if (!header) {
                                r = lines_push(&l, "");
                                if (r == 0)
                                        r = lines_pushf(&l, "# User rules for %s", users[i]->name);
                                header = true;
                        }
                        if (r == 0)
                                r = lines_push(&l, rule);
                        if (r == 0)
                                apply_log(ctx, "sudo: '%s'", rule);
                        changed = true;
                }
        }
        if (r == 0 && changed) {
                out = lines_join(&l, &len);
                r = out ? root_write_file(ctx->rootfd, SUDOERS_FILE, out, len, 0440, 0, 0, WRITE_MKDIRS) : -ENOMEM;
        }
        lines_free(&l);
        if (r == 0 && changed)
                r = ensure_sudoers_includedir(ctx);
        return r;
}

/* ---- the module ------------------------------------------------------------- */

int kiln_apply_users(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        _cleanup_free_ const struct kiln_cc_user **users = NULL;
        struct new_home *homes = NULL;
        struct pwdb db;
        size_t n_users = 0;
        char first_msg[512] = "";
        int r, first = 0;

        r = kiln_cc_effective_users(cc, &users, &n_users);
        if (r < 0)
                return r;
        if (n_users == 0 && cc->n_groups == 0)
                return 0;
        homes = calloc(n_users + 1, sizeof(*homes));
        if (!homes)
                return -ENOMEM;
        r = pwdb_open(ctx->rootfd, &db);
        if (r < 0) {
                pwdb_close(&db);
                free(homes);
                return r;
        }
        for (size_t i = 0; i < cc->n_groups; i++) {
                r = apply_group(ctx, &db, &cc->groups[i]);
                if (r < 0) {
                        apply_log(ctx, "groups: %s", kiln_last_error());
                        if (!first) {
                                first = r;
                                snprintf(first_msg, sizeof(first_msg), "groups: %s", kiln_last_error());
                        }
                }
        }
        for (size_t i = 0; i < n_users; i++) {
                r = apply_user(ctx, &db, users[i], &homes[i]);
                if (r < 0) {
                        apply_log(ctx, "users: %s", kiln_last_error());
                        if (!first) {
                                first = r;
                                snprintf(first_msg, sizeof(first_msg), "users: %s", kiln_last_error());
                        }
                }
        }
        r = pwdb_commit(&db);
        mode_t home_mode = db.defs.home_mode;
        pwdb_close(&db);
        if (r < 0) {
                first = r;
                snprintf(first_msg, sizeof(first_msg), "users: %s", kiln_last_error());
                goto out;
        }
        for (size_t i = 0; i < n_users; i++) {
                if (!homes[i].name)
                        continue;
                r = make_home(ctx, &homes[i], home_mode);
                if (r < 0) {
                        apply_log(ctx, "users: %s", kiln_last_error());
                        if (!first) {
                                first = r;
                                snprintf(first_msg, sizeof(first_msg), "users: %s", kiln_last_error());
                        }
                }
        }
        r = write_sudo_rules(ctx, users, n_users);
        if (r < 0) {
                apply_log(ctx, "sudo: %s", kiln_last_error());
                if (!first) {
                        first = r;
                        snprintf(first_msg, sizeof(first_msg), "sudo: %s", kiln_last_error());
                }
        }
out:
        for (size_t i = 0; i < n_users; i++) {
                free(homes[i].name);
                free(homes[i].home);
        }
        free(homes);
        if (first)
                kiln_errorf(first, "%s", first_msg);
        return first;
}

/* ---- lookups for the other modules ---------------------------------------- */

static int lookup(int rootfd, const char *file, const char *name, char **ret_line)
{
        _cleanup_free_ char *buf = NULL;
        size_t n = strlen(name);
        int r;

        r = root_read_file(rootfd, file, &buf, NULL, NULL);
        if (r == -ENOENT)
                return kiln_errorf(r, "'/%s' is missing", file);
        if (r < 0)
                return r;
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (!strncmp(l, name, n) && l[n] == ':') {
                        *ret_line = strdup(l);
                        return *ret_line ? 0 : -ENOMEM;
                }
        return 1;
}

int kiln_root_getpwnam(int rootfd, const char *name, unsigned *ret_uid, unsigned *ret_gid, char **ret_home)
{
        _cleanup_free_ char *line = NULL, *u = NULL, *g = NULL;
        unsigned uid, gid;
        int r;

        r = lookup(rootfd, "etc/passwd", name, &line);
        if (r == 1)
                return kiln_errorf(-ENOENT, "no user '%.64s' in /etc/passwd", name);
        if (r < 0)
                return r;
        u = field_dup(line, 2);
        g = field_dup(line, 3);
        if (!u || !g)
                return -ENOMEM;
        if (parse_uint(u, &uid) < 0 || parse_uint(g, &gid) < 0)
                return kiln_errorf(-EBADMSG, "'/etc/passwd': bad entry for '%.64s'", name);
        if (ret_home) {
                *ret_home = field_dup(line, 5);
                if (!*ret_home)
                        return -ENOMEM;
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

int kiln_root_getgrnam(int rootfd, const char *name, unsigned *ret_gid)
{
        _cleanup_free_ char *line = NULL, *g = NULL;
        int r;

        r = lookup(rootfd, "etc/group", name, &line);
        if (r == 1)
                return kiln_errorf(-ENOENT, "no group '%.64s' in /etc/group", name);
        if (r < 0)
                return r;
        g = field_dup(line, 2);
        if (!g)
                return -ENOMEM;
        if (parse_uint(g, ret_gid) < 0)
                return kiln_errorf(-EBADMSG, "'/etc/group': bad entry for '%.64s'", name);
        return 0;
}
