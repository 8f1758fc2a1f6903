/* SPDX-License-Identifier: MIT */
/*
 * SSH for the new instance, as cloud-init's ssh and set_passwords modules
 * do it: authorized keys per user (root behind the disable_root forced
 * command), PasswordAuthentication, host keys given in the user data.
 */
#include "apply.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authkeys.h"
#include "rootio.h"
#include "util.h"

/* cloud-init's ssh_util.DISABLE_USER_OPTS. */
static const char DISABLE_USER_OPTS[] =
        "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,"
        "command=\"echo 'Please login as the user \\\"$USER\\\" rather than the user \\\"$DISABLE_USER\\\".';"
        "echo;sleep 10;exit 142\"";

static char *replace_all(const char *s, const char *what, const char *with)
{
        size_t wl = strlen(what), nl = strlen(with), n = 0;
        const char *p;
        char *out, *o;

        for (p = s; (p = strstr(p, what)); p += wl)
                n++;
        out = malloc(strlen(s) + n * nl + 1);
        if (!out)
                return NULL;
        for (o = out, p = s;;) {
                const char *hit = strstr(p, what);
                if (!hit) {
                        strcpy(o, p);
                        break;
                }
                memcpy(o, p, (size_t)(hit - p));
                o += hit - p;
                memcpy(o, with, nl);
                o += nl;
                p = hit + wl;
        }
        return out;
}

char *kiln_ssh_disable_root_opts(const struct kiln_cloud_config *cc, const char *user)
{
        _cleanup_free_ char *a = replace_all(cc->disable_root_opts ? cc->disable_root_opts : DISABLE_USER_OPTS,
                                             "$USER", user ? user : "NONE");
        return a ? replace_all(a, "$DISABLE_USER", "root") : NULL;
}

/* ---- authorized_keys ----------------------------------------------------- */

/*
 * Merge keys (one-line keys, each given options when opts is not empty)
 * into the user's ~/.ssh/authorized_keys, the way cloud-init's
 * update_authorized_keys does: an entry with the same key blob is replaced
 * where it is, the others are appended.
 */
static int user_keys(const struct kiln_apply_ctx *ctx, const char *user, char *const *keys, size_t n_keys,
                     const char *opts)
{
        _cleanup_free_ char *home = NULL, *sshdir = NULL, *buf = NULL, *out = NULL, *what = NULL;
        _cleanup_close_ int dirfd = -1;
        struct lines l = { 0 };
        unsigned uid, gid;
        size_t len, added = 0, replaced = 0;
        int r;

        if (n_keys == 0)
                return 0;
        r = kiln_root_getpwnam(ctx->rootfd, user, &uid, &gid, &home);
        if (r < 0)
                return r;
        if (home[0] != '/')
                return kiln_errorf(-EINVAL, "user '%s' has no usable home ('%s')", user, home);
        if (asprintf(&sshdir, "%s/.ssh", home) < 0 || asprintf(&what, "%s/.ssh/authorized_keys", home) < 0)
                return -ENOMEM;
        dirfd = root_mkdir_p(ctx->rootfd, sshdir, 0700);
        if (dirfd < 0)
                return dirfd;
        r = fchown_maybe(dirfd, uid, gid);
        if (r < 0 || fchmod(dirfd, 0700) < 0)
                return kiln_errorf(r < 0 ? r : -errno, "cannot set the owner and mode of '%s': %s", sshdir,
                                   strerror(r < 0 ? -r : errno));
        r = root_read_file(ctx->rootfd, what, &buf, &len, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r == 0 && lines_split(&l, buf, len) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n_keys; i++) {
                struct kiln_authkey k, old;
                _cleanup_free_ char *line = NULL;
                bool done = false;

                if (kiln_authkey_parse(keys[i], strlen(keys[i]), &k) < 0) {
                        apply_log(ctx, "ssh: skipping a key for '%s': %s", user, kiln_last_error());
                        continue;
                }
                if (opts && *opts)
                        r = asprintf(&line, "%s %.*s", opts, (int)k.key_len, keys[i] + k.key_off);
                else
                        r = asprintf(&line, "%.*s", (int)k.key_len, keys[i] + k.key_off);
                if (r < 0) {
                        lines_free(&l);
                        return -ENOMEM;
                }
                for (size_t j = 0; j < l.n && !done; j++) {
                        if (kiln_authkey_parse(l.v[j], strlen(l.v[j]), &old) < 0 ||
                            !kiln_authkey_same(l.v[j], &old, keys[i], &k))
                                continue;
                        done = true;
                        if (strcmp(l.v[j], line)) {
                                free(l.v[j]);
                                l.v[j] = TAKE_PTR(line);
                                replaced++;
                        }
                }
                if (!done) {
                        if (lines_push(&l, line) < 0) {
                                lines_free(&l);
                                return -ENOMEM;
                        }
                        added++;
                }
        }
        if (added == 0 && replaced == 0 && buf) {
                lines_free(&l);
                apply_log(ctx, "ssh: %s already has the %zu key(s)", what, n_keys);
                return 0;
        }
        out = lines_join(&l, &len);
        lines_free(&l);
        if (!out)
                return -ENOMEM;
        r = dir_write_file(dirfd, "authorized_keys", what, out, len, 0600, uid, gid, 0);
        if (r < 0)
                return r;
        apply_log(ctx, "ssh: %s: %zu key(s) added, %zu replaced%s", what, added, replaced,
                  opts && *opts ? " (with disable_root's forced command)" : "");
        return 0;
}

static int push_keys(char ***v, size_t *n, char *const *keys)
{
        for (; keys && *keys; keys++) {
                bool dup = false;
                for (size_t i = 0; i < *n && !dup; i++)
                        dup = !strcmp((*v)[i], *keys);
                if (dup)
                        continue;
                char **nv = realloc(*v, (*n + 2) * sizeof(**v));
                if (!nv)
                        return -ENOMEM;
                *v = nv;
                (*v)[(*n)++] = *keys;
                (*v)[*n] = NULL;
        }
        return 0;
}

int kiln_apply_ssh_authorized_keys(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        _cleanup_free_ const struct kiln_cc_user **users = NULL;
        _cleanup_free_ char **shared = NULL, **mine = NULL, *opts = NULL;
        const char *def = kiln_cc_default_user_name(cc);
        size_t n_users = 0, n_shared = 0, n_mine = 0;
        char first_msg[512] = "";
        int r, first = 0;

        r = kiln_cc_effective_users(cc, &users, &n_users);
        if (r < 0)
                return r;
        /* Meta-data keys first, then the top-level ssh_authorized_keys. */
        if ((ctx->instance && push_keys(&shared, &n_shared, ctx->instance->public_keys) < 0) ||
            push_keys(&shared, &n_shared, cc->ssh_authorized_keys) < 0)
                return -ENOMEM;

        for (size_t i = 0; i < n_users; i++) {
                const struct kiln_cc_user *u = users[i];
                bool is_def = def && !strcmp(u->name, def);

                free(mine);
                mine = NULL;
                n_mine = 0;
                if (push_keys(&mine, &n_mine, u->ssh_authorized_keys) < 0 ||
                    (is_def && push_keys(&mine, &n_mine, shared) < 0))
                        return -ENOMEM;
                r = user_keys(ctx, u->name, mine, n_mine, NULL);
                if (r < 0) {
                        apply_log(ctx, "ssh: %s", kiln_last_error());
                        if (!first) {
                                first = r;
                                snprintf(first_msg, sizeof(first_msg), "ssh: %s", kiln_last_error());
                        }
                }
        }
        if (n_shared > 0) {
                if (cc->disable_root != KILN_FALSE) {
                        opts = kiln_ssh_disable_root_opts(cc, def);
                        if (!opts)
                                return -ENOMEM;
                }
                r = user_keys(ctx, "root", shared, n_shared, opts);
                if (r < 0) {
                        apply_log(ctx, "ssh: %s", kiln_last_error());
                        if (!first) {
                                first = r;
                                snprintf(first_msg, sizeof(first_msg), "ssh: %s", kiln_last_error());
                        }
                }
        }
        if (first)
                kiln_errorf(first, "%s", first_msg);
        return first;
}

/* ---- sshd_config -------------------------------------------------------------- */

#define SSHD_CONFIG "etc/ssh/sshd_config"
#define SSHD_DROPIN "etc/ssh/sshd_config.d/50-kiln-cloud-init.conf"

static bool keyword_is(const char *line, const char *kw)
{
        size_t n = strlen(kw);

        while (*line == ' ' || *line == '\t')
                line++;
        return !strncasecmp(line, kw, n) && (line[n] == ' ' || line[n] == '\t' || line[n] == '=');
}

/* Set "Key value" in sshd_config's global part (before any Match), atomically. */
static int sshd_config_set(const struct kiln_apply_ctx *ctx, const char *key, const char *value, bool add_only)
{
        _cleanup_free_ char *buf = NULL, *out = NULL, *want = NULL;
        struct lines l = { 0 };
        size_t len, match_at;
        bool found = false, changed = false;
        int r;

        r = root_read_file(ctx->rootfd, SSHD_CONFIG, &buf, &len, NULL);
        if (r < 0)
                return r == -ENOENT ? kiln_errorf(r, "'/%s' is missing", SSHD_CONFIG) : r;
        if (asprintf(&want, "%s %s", key, value) < 0 || lines_split(&l, buf, len) < 0) {
                lines_free(&l);
                return -ENOMEM;
        }
        match_at = l.n;
        for (size_t i = 0; i < l.n; i++) {
                if (keyword_is(l.v[i], "Match")) {
                        match_at = i;
                        break;
                }
                if (!keyword_is(l.v[i], key))
                        continue;
                if (add_only) {
                        if (!strcmp(l.v[i], want))
                                found = true;
                        continue;
                }
                found = true;
                if (strcmp(l.v[i], want)) {
                        char *s = strdup(want);
                        if (!s) {
                                lines_free(&l);
                                return -ENOMEM;
                        }
                        free(l.v[i]);
                        l.v[i] = s;
                        changed = true;
                }
        }
        if (!found) {
                if (lines_insert(&l, match_at, want) < 0) {
                        lines_free(&l);
                        return -ENOMEM;
                }
                changed = true;
        }
        out = changed ? lines_join(&l, &len) : NULL;
        lines_free(&l);
        if (!changed)
                return 0;
        if (!out)
                return -ENOMEM;
        r = root_write_file(ctx->rootfd, SSHD_CONFIG, out, len, 0644, 0, 0, WRITE_KEEP_ATTRS);
        if (r == 0)
                apply_log(ctx, "ssh: /%s: '%s'", SSHD_CONFIG, want);
        return r;
}

static int sshd_includes_dropins(const struct kiln_apply_ctx *ctx, bool *ret)
{
        _cleanup_free_ char *buf = NULL;
        int r;

        *ret = false;
        r = root_read_file(ctx->rootfd, SSHD_CONFIG, &buf, NULL, NULL);
        if (r < 0)
                return r;
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                if (keyword_is(l, "Include") && strstr(l, "sshd_config.d/"))
                        *ret = true;
        return 0;
}

int kiln_apply_ssh_pwauth(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc)
{
        const char *value;
        bool dropins;
        int r;

        if (cc->ssh_pwauth == KILN_UNSET)
                return 0;
        value = cc->ssh_pwauth == KILN_TRUE ? "yes" : "no";
        r = sshd_includes_dropins(ctx, &dropins);
        if (r == -ENOENT) {
                apply_log(ctx, "ssh_pwauth: no /%s (is openssh-server installed?); nothing changed", SSHD_CONFIG);
                return 0;
        }
        if (r < 0)
                return r;
        if (dropins) {
                _cleanup_free_ char *text = NULL;
                if (asprintf(&text, "PasswordAuthentication %s\n", value) < 0)
                        return -ENOMEM;
                r = root_write_file(ctx->rootfd, SSHD_DROPIN, text, strlen(text), 0600, 0, 0, WRITE_MKDIRS);
                if (r == 0)
                        apply_log(ctx, "ssh_pwauth: /%s: 'PasswordAuthentication %s'", SSHD_DROPIN, value);
                return r;
        }
        return sshd_config_set(ctx, "PasswordAuthentication", value, false);
}

/* ---- host keys -------------------------------------------------------------- */

unsigned kiln_hostkey_type_bit(const char *type)
{
        if (!type)
                return 0;
        if (!strcmp(type, "rsa"))
                return KILN_HOSTKEY_RSA;
        if (!strcmp(type, "ecdsa"))
                return KILN_HOSTKEY_ECDSA;
        if (!strcmp(type, "ed25519"))
                return KILN_HOSTKEY_ED25519;
        return 0;
}

unsigned kiln_ssh_genkeytypes(const struct kiln_cloud_config *cc)
{
        unsigned want = 0, given = 0;

        if (cc->ssh_genkeytypes) {
                for (char **t = cc->ssh_genkeytypes; *t; t++)
                        want |= kiln_hostkey_type_bit(*t);
        } else {
                want = KILN_HOSTKEY_ECDSA | KILN_HOSTKEY_ED25519;
        }
        for (size_t i = 0; i < cc->n_ssh_keys; i++)
                if (cc->ssh_keys[i].private_key)
                        given |= kiln_hostkey_type_bit(cc->ssh_keys[i].type);
        return want & ~given;
}

static int delete_host_keys(const struct kiln_apply_ctx *ctx, int sshfd)
{
        _cleanup_close_ int dfd = dup(sshfd);
        struct lines names = { 0 };
        struct dirent *de;
        DIR *d;
        int r = 0;

        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d)
                return -errno;
        dfd = -1;
        /* The glob cloud-init uses: /etc/ssh/ssh_host_*key* */
        while ((de = readdir(d)))
                if (!strncmp(de->d_name, "ssh_host_", 9) && strstr(de->d_name + 9, "key") && lines_push(&names, de->d_name) < 0)
                        r = -ENOMEM;
        closedir(d);
        for (size_t i = 0; r == 0 && i < names.n; i++) {
                if (unlinkat(sshfd, names.v[i], 0) < 0 && errno != ENOENT)
                        r = kiln_errorf(-errno, "cannot remove '/etc/ssh/%s': %m", names.v[i]);
                else
                        apply_log(ctx, "ssh_deletekeys: removed /etc/ssh/%s", names.v[i]);
        }
        lines_free(&names);
        return r;
}

static int write_key_file(int sshfd, const char *name, const char *text, mode_t mode)
{
        _cleanup_free_ char *what = NULL, *data = NULL;
        size_t len = strlen(text);
        int r;

        if (asprintf(&what, "/etc/ssh/%s", name) < 0)
                return -ENOMEM;
        data = malloc(len + 2);
        if (!data)
                return -ENOMEM;
        memcpy(data, text, len);
        if (len == 0 || text[len - 1] != '\n')
                data[len++] = '\n';
        r = dir_write_file(sshfd, name, what, data, len, mode, 0, 0, 0);
        explicit_bzero(data, len);
        return r;
}

int kiln_apply_ssh_host_keys(const struct kiln_apply_ctx *ctx, const struct kiln_cloud_config *cc, unsigned *ret_given)
{
        _cleanup_close_ int sshfd = -1;
        unsigned given = 0;
        int r, first = 0;

        if (ret_given)
                *ret_given = 0;
        sshfd = root_open(ctx->rootfd, "etc/ssh", O_RDONLY | O_DIRECTORY, 0);
        if (sshfd == -ENOENT) {
                if (cc->n_ssh_keys)
                        apply_log(ctx, "ssh_keys: no /etc/ssh (is openssh-server installed?); keys not installed");
                return 0;
        }
        if (sshfd < 0)
                return kiln_errorf(sshfd, "cannot open folder '/etc/ssh': %s", strerror(-sshfd));
        if (cc->ssh_deletekeys != KILN_FALSE) {
                r = delete_host_keys(ctx, sshfd);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < cc->n_ssh_keys; i++) {
                const struct kiln_cc_ssh_key *k = &cc->ssh_keys[i];
                unsigned bit = kiln_hostkey_type_bit(k->type);
                char name[64];

                if (!bit) {
                        apply_log(ctx, "ssh_keys: unsupported key type '%.32s' skipped", k->type ? k->type : "");
                        continue;
                }
                struct {
                        const char *text, *suffix;
                        mode_t mode;
                } files[] = {
                        { k->private_key, "", 0600 },
                        { k->public_key, ".pub", 0644 },
                        { k->certificate, "-cert.pub", 0644 },
                };
                for (size_t f = 0; f < ARRAY_SIZE(files); f++) {
                        if (!files[f].text)
                                continue;
                        snprintf(name, sizeof(name), "ssh_host_%s_key%s", k->type, files[f].suffix);
                        r = write_key_file(sshfd, name, files[f].text, files[f].mode);
                        if (r < 0) {
                                apply_log(ctx, "ssh_keys: %s", kiln_last_error());
                                if (!first)
                                        first = r;
                                continue;
                        }
                        apply_log(ctx, "ssh_keys: installed /etc/ssh/%s", name);
                        if (f == 0)
                                given |= bit;
                        if (f == 2) {
                                _cleanup_free_ char *path = NULL;
                                if (asprintf(&path, "/etc/ssh/%s", name) < 0)
                                        return -ENOMEM;
                                r = sshd_config_set(ctx, "HostCertificate", path, true);
                                if (r < 0 && !first)
                                        first = r;
                        }
                }
        }
        if (ret_given)
                *ret_given = given;
        return first;
}
