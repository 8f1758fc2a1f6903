/* SPDX-License-Identifier: MIT */
/*
 * kiln-init's state files (initramfs/state.h): instance-id and the
 * TASK.done markers, written all or nothing.  Every step's failure is
 * injected in turn, over an existing file and where there was none; then
 * real failures: a missing folder, a folder where the file goes, a symlink
 * planted at the temporary name, RLIMIT_FSIZE cutting the write short, and,
 * in a private mount namespace, a read-only folder and a full tmpfs.  After
 * every failure the file is as it was (a marker stays absent, so its task
 * runs again), no temporary is left, and the one-line message names the path.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "state.h"
#include "util.h"

static char base[] = "/tmp/kiln-test-state-XXXXXX";

/* ---- helpers -------------------------------------------------------------- */

static char *slurp(const char *path)
{
        uint8_t *data = NULL;
        size_t len;

        if (read_full_file(path, 1 << 20, &data, &len) < 0)
                return NULL;
        return (char *)data;
}

static bool same(const char *path, const char *want)
{
        char *got = slurp(path);
        bool r = got && !strcmp(got, want);

        if (!r)
                tap_diag("  %s holds '%s', expected '%s'", path, got ? got : "(nothing)", want);
        free(got);
        return r;
}

static bool absent(const char *path)
{
        struct stat st;
        return lstat(path, &st) < 0 && errno == ENOENT;
}

static void put(const char *path, const char *text)
{
        FILE *f = fopen(path, "we");

        if (!f) {
                tap_diag("cannot write %s: %m", path);
                return;
        }
        fputs(text, f);
        fclose(f);
}

/* Entries of dir whose name ends in ".tmp". */
static int temps_in(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        if (!d)
                return -1;
        while ((e = readdir(d))) {
                size_t l = strlen(e->d_name);
                if (l > 4 && !strcmp(e->d_name + l - 4, ".tmp"))
                        n++;
        }
        closedir(d);
        return n;
}

static bool names(const char *msg, const char *path)
{
        bool r = strstr(msg, path) && !strchr(msg, '\n');

        if (!r)
                tap_diag("  message: '%s'", msg);
        return r;
}

static char *dir_of(const char *name)
{
        char *dir = NULL;

        if (asprintf(&dir, "%s/%s", base, name) < 0)
                abort();
        mkdir(dir, 0755);
        return dir;
}

/* ---- writing -------------------------------------------------------------- */

static void test_write(void)
{
        char *dir = dir_of("write"), path[512], marker[512];
        struct stat st;

        snprintf(path, sizeof(path), "%s/instance-id", dir);
        is_int(kiln_state_write(path, "i-1\n", 4), 0, "a new state file written");
        ok(same(path, "i-1\n"), "with its bytes");
        ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644, "mode 0644");
        is_int(kiln_state_write(path, "web:1\n", 6), 0, "an existing one replaced");
        ok(same(path, "web:1\n"), "with the new bytes");
        is_int(temps_in(dir), 0, "no temporary left");

        snprintf(marker, sizeof(marker), "%s/sshkeys.done", dir);
        is_int(kiln_state_mark_done(dir, "sshkeys"), 0, "a marker made");
        ok(stat(marker, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0, "DIR/TASK.done, empty");
        is_int(kiln_state_mark_done(dir, "sshkeys"), 0, "a marker made again: still fine");
        is_int(temps_in(dir), 0, "no temporary left by the markers");
        free(dir);
}

/* ---- every step failing, injected ------------------------------------------ */

static const struct {
        enum kiln_state_step step;
        const char *name;
} steps[] = {
        { KILN_STATE_FAIL_OPEN, "creating the temporary" },
        { KILN_STATE_FAIL_WRITE, "writing it" },
        { KILN_STATE_FAIL_FSYNC, "its fsync" },
        { KILN_STATE_FAIL_CLOSE, "its close" },
        { KILN_STATE_FAIL_RENAME, "the rename" },
        { KILN_STATE_FAIL_SYNC_DIR, "the folder's fsync, after the rename" },
};

static void test_injected(void)
{
        char *dir = dir_of("injected"), path[512], marker[512];

        snprintf(path, sizeof(path), "%s/instance-id", dir);
        for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
                int r;

                put(path, "old-id\n");
                kiln_state_test_fail(steps[i].step, EIO);
                r = kiln_state_write(path, "new-id\n", 7);
                is_int(r, -EIO, "%s fails: -EIO", steps[i].name);
                ok(names(kiln_last_error(), path), "%s fails: one line naming the path", steps[i].name);
                ok(same(path, "old-id\n"), "%s fails: the old file is as it was", steps[i].name);
                is_int(temps_in(dir), 0, "%s fails: no temporary left", steps[i].name);

                unlink(path);
                kiln_state_test_fail(steps[i].step, EIO);
                r = kiln_state_write(path, "new-id\n", 7);
                ok(r == -EIO && absent(path) && temps_in(dir) == 0,
                   "%s fails where there was no file: still none, no temporary", steps[i].name);

                snprintf(marker, sizeof(marker), "%s/userdata.done", dir);
                kiln_state_test_fail(steps[i].step, EIO);
                r = kiln_state_mark_done(dir, "userdata");
                ok(r == -EIO && absent(marker) && temps_in(dir) == 0,
                   "%s fails for a marker: no marker (the task runs again), no temporary", steps[i].name);
        }
        is_int(kiln_state_write(path, "new-id\n", 7), 0, "an injected failure is for one call only");
        ok(same(path, "new-id\n"), "the next call writes");
        free(dir);
}

/* ---- real failures ----------------------------------------------------------- */

static void test_real(void)
{
        char *dir = dir_of("real"), path[512], tmp[600], outside[512], inner[600];
        struct stat st;
        int r;

        /* The folder is missing (the state folder could not be made). */
        snprintf(path, sizeof(path), "%s/no-such-folder/instance-id", dir);
        r = kiln_state_write(path, "x\n", 2);
        is_int(r, -ENOENT, "a missing folder: -ENOENT");
        ok(names(kiln_last_error(), path), "a missing folder: the message names the path");
        snprintf(path, sizeof(path), "%s/no-such-folder", dir);
        is_int(kiln_state_mark_done(path, "sshkeys"), -ENOENT, "a marker in a missing folder: -ENOENT");

        /* A folder where the file goes: the rename fails. */
        snprintf(path, sizeof(path), "%s/instance-id", dir);
        mkdir(path, 0755);
        snprintf(inner, sizeof(inner), "%s/keep", path);
        put(inner, "kept\n");
        r = kiln_state_write(path, "x\n", 2);
        ok(r == -EISDIR || r == -ENOTEMPTY || r == -EEXIST, "a folder in the way: fails (%d)", r);
        ok(names(kiln_last_error(), path), "a folder in the way: the message names the path");
        ok(stat(path, &st) == 0 && S_ISDIR(st.st_mode) && same(inner, "kept\n"), "the folder is untouched");
        is_int(temps_in(dir), 0, "a folder in the way: no temporary left");
        unlink(inner);
        rmdir(path);

        /* A symlink planted at the temporary name is not followed. */
        snprintf(outside, sizeof(outside), "%s/outside", base);
        put(outside, "outside\n");
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        unlink(tmp);
        if (symlink(outside, tmp) < 0)
                tap_diag("symlink: %m");
        is_int(kiln_state_write(path, "i-2\n", 4), 0, "a symlink at the temporary name: written anyway");
        ok(same(path, "i-2\n") && lstat(path, &st) == 0 && S_ISREG(st.st_mode), "as a regular file");
        ok(same(outside, "outside\n"), "the symlink's target is untouched");
        is_int(temps_in(dir), 0, "a symlink at the temporary name: no temporary left");

        /* The write cut short: RLIMIT_FSIZE of 2 bytes, as a full disk would. */
        struct rlimit old, tiny;
        put(path, "old-id\n");
        if (getrlimit(RLIMIT_FSIZE, &old) == 0) {
                tiny = old;
                tiny.rlim_cur = 2;
                signal(SIGXFSZ, SIG_IGN);
                setrlimit(RLIMIT_FSIZE, &tiny);
                r = kiln_state_write(path, "web:1\n", 6);
                setrlimit(RLIMIT_FSIZE, &old);
                signal(SIGXFSZ, SIG_DFL);
                is_int(r, -EFBIG, "a short write: -EFBIG");
                ok(names(kiln_last_error(), path), "a short write: the message names the path");
                ok(same(path, "old-id\n"), "a short write: the old file is as it was, not cut short");
                is_int(temps_in(dir), 0, "a short write: no temporary left");
        } else {
                tap_skip("getrlimit: %m");
        }
        free(dir);
}

/*
 * In a private mount namespace (nothing outlives the test): the state
 * folder bind-mounted read-only, and a 4 KiB tmpfs filled up.  The child
 * reports back through a pipe.
 */
struct fault_result {
        int skip, rc, rc_marker, temps;
        char content[64], msg[1024];
};

static void fault_child(int fd, const char *dir, bool full)
{
        struct fault_result res = { 0 };
        char path[512], marker[512];

        snprintf(path, sizeof(path), "%s/instance-id", dir);
        snprintf(marker, sizeof(marker), "%s/userdata.done", dir);
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                res.skip = 1;
        } else if (full) {
                if (mount("kiln-test", dir, "tmpfs", 0, "size=4k,mode=0755") < 0) {
                        res.skip = 1;
                } else {
                        char fill[512];
                        put(path, "old-id\n");
                        snprintf(fill, sizeof(fill), "%s/fill", dir);
                        int f = open(fill, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                        char block[512] = { 0 };
                        while (f >= 0 && write(f, block, sizeof(block)) > 0)
                                ;
                        if (f >= 0)
                                close(f);
                }
        } else {
                put(path, "old-id\n");
                if (mount(dir, dir, NULL, MS_BIND, NULL) < 0 ||
                    mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
                        res.skip = 1;
        }
        if (!res.skip) {
                char *c;
                res.rc = kiln_state_write(path, "new-id\n", 7);
                snprintf(res.msg, sizeof(res.msg), "%s", kiln_last_error());
                res.rc_marker = kiln_state_mark_done(dir, "userdata");
                if (!absent(marker))
                        res.rc_marker = 1;
                c = slurp(path);
                snprintf(res.content, sizeof(res.content), "%s", c ? c : "(nothing)");
                free(c);
                res.temps = temps_in(dir);
        }
        if (write(fd, &res, sizeof(res)) != sizeof(res))
                _exit(1);
        _exit(0);
}

static bool run_fault(const char *dir, bool full, struct fault_result *res)
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
                fault_child(p[1], dir, full);
        }
        close(p[1]);
        if (pid < 0 || read(p[0], res, sizeof(*res)) != sizeof(*res))
                res->skip = 1;
        close(p[0]);
        if (pid > 0)
                waitpid(pid, NULL, 0);
        return !res->skip;
}

static void test_mounts(void)
{
        char *dir = dir_of("read-only"), path[512];
        struct fault_result res;

        if (run_fault(dir, false, &res)) {
                is_int(res.rc, -EROFS, "a read-only folder: -EROFS");
                ok(names(res.msg, dir), "a read-only folder: the message names the path");
                ok(!strcmp(res.content, "old-id\n"), "a read-only folder: the old file is as it was");
                ok(res.rc_marker == -EROFS, "a read-only folder: no marker, -EROFS");
                is_int(res.temps, 0, "a read-only folder: no temporary left");
        } else if (geteuid() != 0) {
                /* No mount namespace: a folder we may not write to will do. */
                snprintf(path, sizeof(path), "%s/instance-id", dir);
                put(path, "old-id\n");
                chmod(dir, 0555);
                is_int(kiln_state_write(path, "new-id\n", 7), -EACCES, "an unwritable folder: -EACCES");
                ok(same(path, "old-id\n") && temps_in(dir) == 0, "an unwritable folder: the old file as it was");
                is_int(kiln_state_mark_done(dir, "userdata"), -EACCES, "an unwritable folder: no marker");
                chmod(dir, 0755);
        } else {
                tap_skip("cannot make a read-only mount here");
        }
        free(dir);

        dir = dir_of("full");
        if (run_fault(dir, true, &res)) {
                is_int(res.rc, -ENOSPC, "a full file system: -ENOSPC");
                ok(names(res.msg, dir), "a full file system: the message names the path");
                ok(!strcmp(res.content, "old-id\n"), "a full file system: the old file is as it was");
                is_int(res.temps, 0, "a full file system: no temporary left");
        } else {
                tap_skip("cannot mount a small tmpfs here");
        }
        free(dir);
}

int main(void)
{
        umask(022);
        if (!mkdtemp(base)) {
                perror("mkdtemp");
                return 1;
        }
        test_write();
        test_injected();
        test_real();
        test_mounts();
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
