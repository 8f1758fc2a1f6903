/* SPDX-License-Identifier: MIT */
/*
 * SSH host keys against the real OpenSSH tools: for each type, generate,
 * write into a folder, then ssh-keygen -l (on the key and the .pub) must
 * print kiln's fingerprint line, ssh-keygen -y must give the .pub line,
 * ssh-keygen's own rewrite of the key must differ only in the check value,
 * and sshd -t must load it.  Modes, no temporaries, replacement, symlinks
 * refused, read-only and full folders failing cleanly, and the console block
 * against the loop cloud-init's write-ssh-key-fingerprints helper runs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../lib/tap.h"
#include "sshkeys.h"
#include "util.h"

#define COMMENT "root@kiln-test"
#define SSHD "/usr/sbin/sshd"

static char base[] = "/tmp/kiln-test-sshkeys-XXXXXX";
static bool have_sshd;

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

static char *slurp(const char *path)
{
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t len = 0;

        if (!f)
                return NULL;
        FILE *m = open_memstream(&buf, &len);
        int c;
        while ((c = fgetc(f)) != EOF)
                fputc(c, m);
        fclose(m);
        fclose(f);
        return buf;
}

/* Runs cmd through sh; stdout into *out (malloc'd); returns the exit status. */
static int run(char **out, const char *fmt, ...) _printf_(2, 3);
static int run(char **out, const char *fmt, ...)
{
        char cmd[4096], *buf = NULL;
        size_t len = 0;
        va_list ap;
        int c, st;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        fflush(stdout);
        FILE *p = popen(cmd, "re");
        if (!p)
                return -1;
        FILE *m = open_memstream(&buf, &len);
        while ((c = fgetc(p)) != EOF)
                fputc(c, m);
        fclose(m);
        st = pclose(p);
        if (out)
                *out = buf;
        else
                free(buf);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Entries of a folder: how many, and how many look like our temporaries. */
static int count_entries(const char *dir, int *temps)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        *temps = 0;
        if (!d)
                return -1;
        while ((de = readdir(d))) {
                if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                        continue;
                n++;
                if (de->d_name[0] == '.')
                        (*temps)++;
        }
        closedir(d);
        return n;
}

static double now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The base64 body of an armored key, decoded. */
static uint8_t *dearmor(const char *text, size_t *ret_len)
{
        const char *p = strchr(text, '\n'), *end = strstr(text, "-----END ");
        char *b64 = malloc(strlen(text) + 1);
        size_t n = 0;

        if (!p || !end || !b64) {
                free(b64);
                return NULL;
        }
        for (p++; p < end; p++)
                if (*p != '\n')
                        b64[n++] = *p;
        uint8_t *bin = malloc(n);
        int len = bin ? EVP_DecodeBlock(bin, (const unsigned char *)b64, (int)n) : -1;
        free(b64);
        if (len < 0) {
                free(bin);
                return NULL;
        }
        /* DecodeBlock counts padding as zero bytes; both sides pad alike. */
        *ret_len = (size_t)len;
        return bin;
}

static uint32_t be32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Offset of the first check value in a decoded openssh-key-v1 blob, or 0. */
static size_t checkint_offset(const uint8_t *b, size_t len)
{
        size_t off = 15; /* "openssh-key-v1\0" */

        if (len < off || memcmp(b, "openssh-key-v1", 15) != 0)
                return 0;
        for (int i = 0; i < 3; i++) { /* cipher, kdf, kdf options */
                if (off + 4 > len)
                        return 0;
                off += 4 + be32(b + off);
        }
        off += 4; /* number of keys */
        if (off + 4 > len)
                return 0;
        off += 4 + be32(b + off); /* public key */
        off += 4;                 /* length of the private section */
        return off + 8 <= len ? off : 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_table(void)
{
        static const char *const names[] = { "ed25519", "ecdsa", "rsa" };
        static const char *const ssh_names[] = { "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa" };
        static const char *const labels[] = { "ED25519", "ECDSA", "RSA" };
        bool good = true;

        for (int t = 0; t < _KILN_SSHKEY_TYPE_MAX; t++) {
                char file[64];
                snprintf(file, sizeof(file), "ssh_host_%s_key", names[t]);
                good &= kiln_sshkey_type_to_string(t) && !strcmp(kiln_sshkey_type_to_string(t), names[t]);
                good &= kiln_sshkey_type_from_string(names[t]) == t;
                good &= !strcmp(kiln_sshkey_type_ssh_name(t), ssh_names[t]);
                good &= !strcmp(kiln_sshkey_type_label(t), labels[t]);
                good &= !strcmp(kiln_sshkey_type_file_name(t), file);
        }
        ok(good, "type table: names, ssh names, labels and file names round-trip");
        ok(kiln_sshkey_type_from_string("dsa") == -EINVAL &&
                   kiln_sshkey_type_from_string("") == -EINVAL &&
                   kiln_sshkey_type_from_string(NULL) == -EINVAL,
           "unknown type names are -EINVAL");
        ok(!kiln_sshkey_type_to_string(_KILN_SSHKEY_TYPE_MAX) &&
                   !kiln_sshkey_type_to_string((enum kiln_sshkey_type) - 1) &&
                   !kiln_sshkey_type_file_name(_KILN_SSHKEY_TYPE_MAX),
           "out-of-range types have no name");
        ok(kiln_sshkey_generate(_KILN_SSHKEY_TYPE_MAX, &(struct kiln_sshkey *){ NULL }) == -EINVAL,
           "generating an unknown type is -EINVAL");
}

/* ssh-keygen's own rewrite of our key must be byte for byte ours, but for
 * the random check value. */
static void check_same_as_ssh_keygen(const char *name, const char *priv_path, const char *priv_text)
{
        char dir[256], copy[300], *out = NULL, *theirs;
        uint8_t *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0, off;
        bool same = false;

        snprintf(dir, sizeof(dir), "%s/rewrite-%s", base, name);
        mkdir(dir, 0700);
        snprintf(copy, sizeof(copy), "%s/key", dir);
        int st = run(&out, "cp %s %s && chmod 600 %s && ssh-keygen -q -p -P '' -N '' -f %s 2>&1",
                     priv_path, copy, copy, copy);
        if (st != 0)
                tap_diag("  ssh-keygen -p: %s", out ? out : "");
        free(out);
        out = NULL;
        theirs = slurp(copy);
        if (theirs && strlen(theirs) == strlen(priv_text)) {
                a = dearmor(priv_text, &alen);
                b = dearmor(theirs, &blen);
        }
        off = a ? checkint_offset(a, alen) : 0;
        if (a && b && alen == blen && off) {
                same = memcmp(a, b, off) == 0 && memcmp(a + off + 8, b + off + 8, alen - off - 8) == 0 &&
                       !memcmp(a + off, a + off + 4, 4) && !memcmp(b + off, b + off + 4, 4);
        }
        if (!ok(st == 0 && same, "%s: ssh-keygen rewrites the private key to the same bytes but the check value",
                name)) {
                tap_diag("  ours:   %s", priv_text);
                tap_diag("  theirs: %s", theirs ? theirs : "(none)");
        }
        /* Alone (no .pub beside it), ssh-keygen -l reads the private key's comment. */
        run(&out, "cp %s %s && ssh-keygen -l -f %s 2>&1", priv_path, copy, copy);
        ok(out && strstr(out, " " COMMENT " ("), "%s: the private key carries the comment", name);
        free(out);
        free(theirs);
        free(a);
        free(b);
}

static void test_type(enum kiln_sshkey_type type, struct kiln_sshkey **ret_key)
{
        const char *name = kiln_sshkey_type_to_string(type);
        const char *file = kiln_sshkey_type_file_name(type);
        char dir[256], priv[300], pub[300], fp[KILN_SSHKEY_FINGERPRINT_MAX], expect[KILN_SSHKEY_FINGERPRINT_MAX + 1];
        char *out = NULL, *line = NULL, *text = NULL, *file_text = NULL;
        struct kiln_sshkey *key = NULL, *key2 = NULL;
        struct stat st, st2;
        double t0;
        int r, n, temps;

        t0 = now_ms();
        r = kiln_sshkey_generate(type, &key);
        tap_diag("generating a %s key took %.1f ms", name, now_ms() - t0);
        if (!ok(r == 0, "%s: generate", name)) {
                tap_diag("  %s", kiln_last_error());
                return;
        }
        snprintf(dir, sizeof(dir), "%s/%s", base, name);
        snprintf(priv, sizeof(priv), "%s/%s", dir, file);
        snprintf(pub, sizeof(pub), "%s/%s.pub", dir, file);
        mkdir(dir, 0755);

        r = kiln_sshkey_write(key, dir, COMMENT);
        if (!ok(r == 0, "%s: write into a folder", name))
                tap_diag("  %s", kiln_last_error());
        ok(lstat(priv, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
           "%s: private key is a regular file, mode 0600", name);
        ok(geteuid() != 0 || (st.st_uid == 0 && st.st_gid == 0), "%s: private key is root:root", name);
        ok(lstat(pub, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644,
           "%s: public key is a regular file, mode 0644 despite the umask", name);
        n = count_entries(dir, &temps);
        ok(n == 2 && temps == 0, "%s: the folder holds the two files and no temporaries", name);

        /* The fingerprint line, as ssh-keygen -l prints it. */
        r = kiln_sshkey_fingerprint(key, COMMENT, fp, sizeof(fp));
        ok(r == 0, "%s: fingerprint", name);
        tap_diag("%s", fp);
        snprintf(expect, sizeof(expect), "%s\n", fp);
        run(&out, "ssh-keygen -l -f %s", pub);
        is_str(out, expect, "ssh-keygen -l -f KEY.pub prints kiln's fingerprint line");
        free(out);
        run(&out, "ssh-keygen -l -f %s", priv);
        is_str(out, expect, "ssh-keygen -l -f KEY prints kiln's fingerprint line");
        free(out);

        /* The .pub line: the file, kiln's string, and ssh-keygen -y. */
        r = kiln_sshkey_public_line(key, COMMENT, &line);
        file_text = slurp(pub);
        is_str(file_text, line, "the .pub file holds kiln_sshkey_public_line()");
        free(file_text);
        run(&out, "ssh-keygen -y -f %s", priv);
        is_str(out, line, "ssh-keygen -y -f KEY gives the .pub line");
        /* Without the comments, too (ssh-keygen -y adds the key's own). */
        if (out && line) {
                char *a = strrchr(out, ' '), *b = strrchr(line, ' ');
                ok(a && b && a - out == b - line && !strncmp(out, line, (size_t)(a - out)),
                   "%s: type and key of ssh-keygen -y match the .pub line", name);
        }
        free(out);

        /* The private key file, byte for byte what ssh-keygen would write. */
        file_text = slurp(priv);
        ok(file_text && !strncmp(file_text, "-----BEGIN OPENSSH PRIVATE KEY-----\n", 36) &&
                   strstr(file_text, "\n-----END OPENSSH PRIVATE KEY-----\n"),
           "%s: private key is armored", name);
        if (file_text)
                check_same_as_ssh_keygen(name, priv, file_text);
        kiln_sshkey_secret_free(file_text);

        /* sshd loads it as a host key. */
        if (have_sshd) {
                r = run(&out, SSHD " -t -f /dev/null -h %s 2>&1", priv);
                if (!ok(r == 0, "%s: sshd -t -f /dev/null -h KEY accepts it", name))
                        tap_diag("  %s", out ? out : "");
                free(out);
        } else {
                ok(1, "# SKIP %s not installed", SSHD);
        }

        /* Writing over it: a new key replaces both files, renamed into place. */
        r = kiln_sshkey_generate(type, &key2);
        lstat(priv, &st);
        char *old_text = slurp(priv);
        int fd_old = open(priv, O_RDONLY | O_CLOEXEC);
        r = r < 0 ? r : kiln_sshkey_write(key2, dir, COMMENT);
        if (!ok(r == 0, "%s: write a new key over the old one", name))
                tap_diag("  %s", kiln_last_error());
        ok(lstat(priv, &st2) == 0 && st2.st_ino != st.st_ino && (st2.st_mode & 07777) == 0600,
           "%s: the private key is a new file (renamed into place), mode 0600", name);
        if (fd_old >= 0 && old_text) {
                char buf[8192];
                ssize_t got = read(fd_old, buf, sizeof(buf) - 1);
                buf[got > 0 ? got : 0] = 0;
                ok(got > 0 && !strcmp(buf, old_text),
                   "%s: a reader that opened the old key still reads all of the old key", name);
                close(fd_old);
        }
        kiln_sshkey_secret_free(old_text);
        n = count_entries(dir, &temps);
        ok(n == 2 && temps == 0, "%s: still two files and no temporaries", name);
        kiln_sshkey_fingerprint(key2, COMMENT, fp, sizeof(fp));
        snprintf(expect, sizeof(expect), "%s\n", fp);
        run(&out, "ssh-keygen -l -f %s", priv);
        is_str(out, expect, "after replacing, ssh-keygen -l -f KEY prints the new fingerprint");
        free(out);
        run(&out, "ssh-keygen -l -f %s", pub);
        is_str(out, expect, "after replacing, ssh-keygen -l -f KEY.pub prints the new fingerprint");
        free(out);

        /* Two serialisations differ only by the random check value. */
        r = kiln_sshkey_private_text(key, COMMENT, &text);
        ok(r == 0 && text, "%s: private text again", name);
        kiln_sshkey_secret_free(text);

        free(line);
        kiln_sshkey_free(key2);
        *ret_key = key;
}

static void test_comments(const struct kiln_sshkey *key)
{
        char dir[256], pub[300], fp[KILN_SSHKEY_FINGERPRINT_MAX], expect[KILN_SSHKEY_FINGERPRINT_MAX + 1];
        char host[256] = "", *line = NULL, *out = NULL;
        size_t n;

        /* Empty: written the way ssh-keygen writes it, "no comment" in -l. */
        snprintf(dir, sizeof(dir), "%s/empty-comment", base);
        mkdir(dir, 0755);
        ok(kiln_sshkey_write(key, dir, "") == 0, "write with an empty comment");
        ok(kiln_sshkey_public_line(key, "", &line) == 0 && (n = strlen(line)) > 2 &&
                   !strcmp(line + n - 2, " \n"),
           "an empty comment leaves ssh-keygen's trailing space");
        free(line);
        kiln_sshkey_fingerprint(key, "", fp, sizeof(fp));
        ok(strstr(fp, " no comment (") != NULL, "an empty comment's fingerprint says 'no comment'");
        snprintf(expect, sizeof(expect), "%s\n", fp);
        snprintf(pub, sizeof(pub), "%s/%s.pub", dir, kiln_sshkey_type_file_name(kiln_sshkey_get_type(key)));
        run(&out, "ssh-keygen -l -f %s", pub);
        is_str(out, expect, "ssh-keygen -l agrees on an empty comment");
        free(out);

        /* NULL: root@HOSTNAME. */
        gethostname(host, sizeof(host) - 1);
        ok(kiln_sshkey_public_line(key, NULL, &line) == 0 && (n = strlen(line)) > strlen(host) + 6 &&
                   !strncmp(line + n - strlen(host) - 6, "root@", 5) &&
                   !strncmp(line + n - strlen(host) - 1, host, strlen(host)),
           "no comment means root@HOSTNAME");
        free(line);

        ok(kiln_sshkey_public_line(key, "two\nlines", &line) == -EINVAL,
           "a comment with a newline is refused");
        ok(kiln_sshkey_write(key, dir, "tab\there") == -EINVAL, "write refuses a control character too");
        ok(kiln_sshkey_fingerprint(key, COMMENT, fp, 20) == -ENOBUFS, "a short fingerprint buffer is -ENOBUFS");
}

static void test_symlinks(const struct kiln_sshkey *key)
{
        char real[256], link[256], victim[256], dir[256], path[300], *before = NULL, *after = NULL;
        const char *file = kiln_sshkey_type_file_name(kiln_sshkey_get_type(key));
        struct stat st;
        int r, n, temps;

        /* The folder is a symlink: refused, nothing written through it. */
        snprintf(real, sizeof(real), "%s/real", base);
        snprintf(link, sizeof(link), "%s/link", base);
        mkdir(real, 0755);
        symlink(real, link);
        r = kiln_sshkey_write(key, link, COMMENT);
        ok(r == -ELOOP, "a destination folder that is a symlink is refused (-ELOOP)");
        if (!ok(strstr(kiln_last_error(), link) && strstr(kiln_last_error(), "symlink"),
                "the message names the symlink"))
                tap_diag("  %s", kiln_last_error());
        n = count_entries(real, &temps);
        ok(n == 0, "nothing was written through it");

        /* The key file is a symlink: refused, its target untouched. */
        snprintf(dir, sizeof(dir), "%s/file-link", base);
        snprintf(victim, sizeof(victim), "%s/victim", base);
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        mkdir(dir, 0755);
        FILE *f = fopen(victim, "we");
        fputs("not a key\n", f);
        fclose(f);
        symlink(victim, path);
        r = kiln_sshkey_write(key, dir, COMMENT);
        ok(r == -ELOOP, "a destination file that is a symlink is refused (-ELOOP)");
        if (!ok(strstr(kiln_last_error(), path) != NULL, "the message names it"))
                tap_diag("  %s", kiln_last_error());
        after = slurp(victim);
        ok(after && !strcmp(after, "not a key\n") && lstat(path, &st) == 0 && S_ISLNK(st.st_mode),
           "the symlink and its target are untouched");
        n = count_entries(dir, &temps);
        ok(n == 1 && temps == 0, "no temporaries left");
        free(after);
        free(before);
}

/*
 * Failures inside a private mount namespace (so nothing outlives the test):
 * the folder bind-mounted read-only, and a 4 KiB tmpfs that fills up after
 * the first temporary.  The child reports back through a pipe.
 */
struct fault_result {
        int skip, rc, entries, temps;
        char msg[1024];
};

static void fault_child(int fd, const struct kiln_sshkey *key, const char *dir, bool full)
{
        struct fault_result res = { 0 };

        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                res.skip = 1;
        } else if (full) {
                if (mount("kiln-test", dir, "tmpfs", 0, "size=4k,mode=0755") < 0)
                        res.skip = 1;
        } else {
                if (mount(dir, dir, NULL, MS_BIND, NULL) < 0 ||
                    mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                        res.skip = 1;
        }
        if (!res.skip) {
                res.rc = kiln_sshkey_write(key, dir, COMMENT);
                snprintf(res.msg, sizeof(res.msg), "%s", kiln_last_error());
                res.entries = count_entries(dir, &res.temps);
        }
        if (write(fd, &res, sizeof(res)) != sizeof(res))
                _exit(1);
        _exit(0);
}

static bool run_fault(const struct kiln_sshkey *key, const char *dir, bool full, struct fault_result *res)
{
        int p[2];
        pid_t pid;

        memset(res, 0, sizeof(*res));
        res->skip = 1;
        if (pipe(p) < 0)
                return false;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                close(p[0]);
                fault_child(p[1], key, dir, full);
        }
        close(p[1]);
        if (pid < 0 || read(p[0], res, sizeof(*res)) != sizeof(*res))
                res->skip = 1;
        close(p[0]);
        if (pid > 0)
                waitpid(pid, NULL, 0);
        return !res->skip;
}

static void test_faults(const struct kiln_sshkey *key)
{
        const char *file = kiln_sshkey_type_file_name(kiln_sshkey_get_type(key));
        char dir[256], priv[300], *before = NULL, *after = NULL;
        struct fault_result res;

        /* Read-only: fails cleanly, names the path, the old keys stay. */
        snprintf(dir, sizeof(dir), "%s/read-only", base);
        snprintf(priv, sizeof(priv), "%s/%s", dir, file);
        mkdir(dir, 0755);
        ok(kiln_sshkey_write(key, dir, COMMENT) == 0, "read-only: keys written before");
        before = slurp(priv);
        if (run_fault(key, dir, false, &res)) {
                ok(res.rc == -EROFS, "read-only folder: write fails with -EROFS (got %d)", res.rc);
                if (!ok(strstr(res.msg, dir) && strstr(res.msg, "Read-only file system"),
                        "the message names the path and the reason"))
                        tap_diag("  %s", res.msg);
                tap_diag("%s", res.msg);
                after = slurp(priv);
                ok(before && after && !strcmp(before, after) && res.entries == 2 && res.temps == 0,
                   "the old keys are untouched, no temporaries");
        } else if (geteuid() != 0) {
                /* No mount namespace: a folder we may not write to will do. */
                chmod(dir, 0555);
                int rc = kiln_sshkey_write(key, dir, COMMENT);
                ok(rc == -EACCES, "unwritable folder: write fails with -EACCES (got %d)", rc);
                ok(strstr(kiln_last_error(), dir) != NULL, "the message names the path");
                tap_diag("%s", kiln_last_error());
                chmod(dir, 0755);
        } else {
                ok(1, "# SKIP cannot make a read-only mount here");
        }
        kiln_sshkey_secret_free(before);
        kiln_sshkey_secret_free(after);

        /* Full: the second temporary cannot be written; both are removed. */
        snprintf(dir, sizeof(dir), "%s/full", base);
        mkdir(dir, 0755);
        if (run_fault(key, dir, true, &res)) {
                ok(res.rc == -ENOSPC, "full folder: write fails with -ENOSPC (got %d)", res.rc);
                if (!ok(strstr(res.msg, dir) != NULL, "the message names the path"))
                        tap_diag("  %s", res.msg);
                tap_diag("%s", res.msg);
                ok(res.entries == 0 && res.temps == 0, "no temporaries left (%d entries)", res.entries);
        } else {
                ok(1, "# SKIP cannot mount a small tmpfs here");
        }
}

/*
 * The console block against what cloud-init's helper does: for each
 * /etc/ssh/ssh_host_*key.pub, `ssh-keygen -l -f`, then each file `cat`,
 * between the same marker lines; the fingerprint half through logger -s,
 * here a sed adding the tag logger would.
 */
static void test_console(struct kiln_sshkey *const *keys, size_t n)
{
        char dir[256], *ours = NULL, *theirs = NULL;
        bool written = true;

        snprintf(dir, sizeof(dir), "%s/all", base);
        mkdir(dir, 0755);
        for (size_t i = 0; i < n; i++)
                written &= kiln_sshkey_write(keys[i], dir, COMMENT) == 0;
        ok(written, "console: every key written into one folder");

        static const char helper[] =
                "cd %s || exit 1; "
                "{ %s"
                "echo '#############################################################'; "
                "echo '-----BEGIN SSH HOST KEY FINGERPRINTS-----'; "
                "for f in ssh_host_*key.pub; do [ -f \"$f\" ] || continue; ssh-keygen -l -f \"$f\"; done; "
                "echo '-----END SSH HOST KEY FINGERPRINTS-----'; "
                "echo '#############################################################'; } %s; "
                "echo '-----BEGIN SSH HOST KEY KEYS-----'; "
                "for f in ssh_host_*key.pub; do [ -f \"$f\" ] || continue; cat \"$f\"; done; "
                "echo '-----END SSH HOST KEY KEYS-----'";

        ok(kiln_sshkey_console_text((const struct kiln_sshkey *const *)keys, n, COMMENT, NULL, &ours) == 0,
           "console text");
        run(&theirs, helper, dir, "", "");
        is_str(ours, theirs, "console text is what the helper's loop prints, byte for byte");
        if (ours) {
                tap_diag("console block:");
                for (char *l = ours, *nl; *l; l = nl + 1) {
                        nl = strchrnul(l, '\n');
                        tap_diag("  %.*s", (int)(nl - l), l);
                        if (!*nl)
                                break;
                }
        }
        free(ours);
        free(theirs);
        ours = theirs = NULL;

        ok(kiln_sshkey_console_text((const struct kiln_sshkey *const *)keys, n, COMMENT, "cloud-init: ",
                                    &ours) == 0,
           "console text with logger's tag");
        run(&theirs, helper, dir, "echo; ", "| sed 's/^/cloud-init: /'");
        is_str(ours, theirs, "with a line prefix, as the helper's output through logger -s -t cloud-init");
        free(ours);
        free(theirs);
}

static void test_public_blob(const struct kiln_sshkey *key)
{
        uint8_t *blob = NULL, dec[1024];
        size_t len = 0;
        char *line = NULL;

        ok(kiln_sshkey_public_blob(key, &blob, &len) == 0, "public blob");
        kiln_sshkey_public_line(key, COMMENT, &line);
        char *b64 = line ? strchr(line, ' ') : NULL;
        char *end = b64 ? strchr(b64 + 1, ' ') : NULL;
        int n = (b64 && end) ? EVP_DecodeBlock(dec, (unsigned char *)b64 + 1, (int)(end - b64 - 1)) : -1;
        /* The blob is never padded to a multiple of 3 by chance in a way we
         * cannot tell: compare the prefix and the padding count. */
        size_t pad = end && end[-1] == '=' ? (end[-2] == '=' ? 2 : 1) : 0;
        ok(n >= 0 && (size_t)n - pad == len && !memcmp(dec, blob, len), "the .pub line is the blob in base64");
        free(blob);
        free(line);
}

int main(void)
{
        struct kiln_sshkey *keys[_KILN_SSHKEY_TYPE_MAX] = { 0 };
        bool made_run_sshd = false;
        size_t n = 0;

        tap_plan_lazy();
        umask(027); /* the .pub must still come out 0644 */
        if (!mkdtemp(base)) {
                ok(0, "mkdtemp");
                return tap_done();
        }
        have_sshd = access(SSHD, X_OK) == 0;
        /* sshd -t wants its privilege separation folder, which systemd makes. */
        if (have_sshd && access("/run/sshd", F_OK) < 0 && geteuid() == 0)
                made_run_sshd = mkdir("/run/sshd", 0755) == 0;

        test_table();
        for (int t = 0; t < _KILN_SSHKEY_TYPE_MAX; t++) {
                test_type(t, &keys[n]);
                if (keys[n])
                        n++;
        }
        if (n > 0) {
                test_public_blob(keys[0]);
                test_comments(keys[0]);
                test_symlinks(keys[0]);
                test_faults(keys[0]);
                test_console(keys, n);
        }

        for (size_t i = 0; i < n; i++)
                kiln_sshkey_free(keys[i]);
        if (made_run_sshd)
                rmdir("/run/sshd");
        if (getenv("KILN_TEST_KEEP"))
                tap_diag("kept %s", base);
        else
                run(NULL, "rm -rf %s", base);
        return tap_done();
}
