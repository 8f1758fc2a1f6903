/* SPDX-License-Identifier: MIT */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

int kiln_which(const char *name)
{
        const char *path = getenv("PATH");
        char buf[4096];

        if (strchr(name, '/'))
                return access(name, X_OK) == 0 ? 0 : -ENOENT;
        if (!path)
                path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
        for (const char *p = path; *p;) {
                const char *end = strchrnul(p, ':');
                snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, name);
                if (access(buf, X_OK) == 0)
                        return 0;
                p = *end ? end + 1 : end;
        }
        return -ENOENT;
}

int kiln_exec(char *const argv[])
{
        int pipefd[2], status;
        posix_spawn_file_actions_t fa;
        pid_t pid;
        char err[4096];
        size_t len = 0;
        int r;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        close(pipefd[1]);
        if (r != 0) {
                close(pipefd[0]);
                return kiln_errorf(-r, "cannot run '%s': %s", argv[0], strerror(r));
        }
        for (;;) {
                ssize_t n = read(pipefd[0], err + len, sizeof(err) - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t)n;
                if (len == sizeof(err) - 1) { /* keep the tail: the last line matters */
                        memmove(err, err + len / 2, len - len / 2);
                        len -= len / 2;
                }
        }
        close(pipefd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        err[len] = 0;
        while (len > 0 && (err[len - 1] == '\n' || err[len - 1] == ' '))
                err[--len] = 0;
        const char *last = strrchr(err, '\n');
        last = last ? last + 1 : err;
        if (WIFEXITED(status))
                return kiln_errorf(-EIO, "'%s' failed (exit %d)%s%s", argv[0], WEXITSTATUS(status), *last ? ": " : "", last);
        return kiln_errorf(-EIO, "'%s' was killed by signal %d", argv[0], WTERMSIG(status));
}

int kiln_spawn(char *const argv[], unsigned flags, struct kiln_proc *ret)
{
        int out[2] = { -1, -1 }, err[2] = { -1, -1 };
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        pid_t pid;
        int r;

        if ((flags & KILN_SPAWN_STDOUT_PIPE) && pipe2(out, O_CLOEXEC) < 0)
                return kiln_errorf(-errno, "cannot run '%s': %s", argv[0], strerror(errno));
        if ((flags & KILN_SPAWN_STDERR_PIPE) && pipe2(err, O_CLOEXEC) < 0) {
                r = -errno;
                if (out[0] >= 0) {
                        close(out[0]);
                        close(out[1]);
                }
                return kiln_errorf(r, "cannot run '%s': %s", argv[0], strerror(-r));
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawnattr_init(&attr);
        if (!(flags & KILN_SPAWN_INHERIT_STDIN))
                posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        if (out[1] >= 0)
                posix_spawn_file_actions_adddup2(&fa, out[1], 1);
        if (err[1] >= 0)
                posix_spawn_file_actions_adddup2(&fa, err[1], 2);
        /* The child starts with default signal dispositions and an empty mask. */
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        sigdelset(&all, SIGKILL);
        sigdelset(&all, SIGSTOP);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &all);
        short af = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
        if (flags & KILN_SPAWN_PGROUP) {
                af |= POSIX_SPAWN_SETPGROUP;
                posix_spawnattr_setpgroup(&attr, 0);
        }
        posix_spawnattr_setflags(&attr, af);
        r = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        if (out[1] >= 0)
                close(out[1]);
        if (err[1] >= 0)
                close(err[1]);
        if (r != 0) {
                if (out[0] >= 0)
                        close(out[0]);
                if (err[0] >= 0)
                        close(err[0]);
                return kiln_errorf(-r, "cannot run '%s': %s", argv[0], strerror(r));
        }
        *ret = (struct kiln_proc){ .pid = pid, .out_fd = out[0], .err_fd = err[0] };
        return 0;
}

int kiln_proc_wait(struct kiln_proc *p, int timeout_ms)
{
        struct timespec start, now;

        clock_gettime(CLOCK_MONOTONIC, &start);
        while (p->pid > 0) {
                int status;
                pid_t w = waitpid(p->pid, &status, WNOHANG);
                if (w < 0 && errno != EINTR)
                        return -errno;
                if (w == p->pid) {
                        p->status = status;
                        p->pid = 0;
                        break;
                }
                clock_gettime(CLOCK_MONOTONIC, &now);
                long long ms = (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
                if (timeout_ms >= 0 && ms >= timeout_ms)
                        return -ETIMEDOUT;
                struct timespec nap = { 0, 10 * 1000 * 1000 };
                nanosleep(&nap, NULL);
        }
        return 0;
}

int kiln_proc_signal(struct kiln_proc *p, int sig)
{
        if (p->pid <= 0)
                return -ESRCH;
        return kill(p->pid, sig) < 0 ? -errno : 0;
}

void kiln_proc_terminate(struct kiln_proc *p, int grace_ms)
{
        if (p->pid <= 0)
                return;
        kill(p->pid, SIGTERM);
        if (kiln_proc_wait(p, grace_ms) == 0)
                return;
        kill(p->pid, SIGKILL);
        kiln_proc_wait(p, -1);
}

void kiln_proc_close(struct kiln_proc *p)
{
        if (p->out_fd >= 0)
                close(p->out_fd);
        if (p->err_fd >= 0)
                close(p->err_fd);
        p->out_fd = p->err_fd = -1;
}

int kiln_proc_exit_code(const struct kiln_proc *p)
{
        if (WIFEXITED(p->status))
                return WEXITSTATUS(p->status);
        if (WIFSIGNALED(p->status))
                return 128 + WTERMSIG(p->status);
        return 255;
}
