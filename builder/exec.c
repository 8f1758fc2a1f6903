/* SPDX-License-Identifier: MIT */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
