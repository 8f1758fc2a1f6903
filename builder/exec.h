/* SPDX-License-Identifier: MIT */
/* Running helper programs: grub-mkimage and qemu-img to the end, with their stderr
 * kept for messages; QEMU and ssh beside kiln (kiln_spawn). */
#ifndef KILN_EXEC_H
#define KILN_EXEC_H

#include <sys/types.h>

/* Run argv (PATH lookup); 0 on exit status 0.  On failure the message says
 * what failed and quotes the last line the program printed on stderr. */
int kiln_exec(char *const argv[]);
/* Whether a program is on PATH. */
int kiln_which(const char *name);

/*
 * A program running beside kiln (QEMU, ssh).  Standard input is /dev/null
 * unless KILN_SPAWN_INHERIT_STDIN; stdout and stderr are inherited unless
 * their _PIPE flag asks for a pipe (out_fd/err_fd, close-on-exec, the
 * caller's to read).  KILN_SPAWN_PGROUP puts the child in a process group of
 * its own, so a Ctrl-C at the terminal reaches kiln only.
 */
enum {
        KILN_SPAWN_INHERIT_STDIN = 1 << 0,
        KILN_SPAWN_STDOUT_PIPE = 1 << 1,
        KILN_SPAWN_STDERR_PIPE = 1 << 2,
        KILN_SPAWN_PGROUP = 1 << 3,
};

struct kiln_proc {
        pid_t pid;      /* 0 once reaped */
        int out_fd;     /* -1 unless piped */
        int err_fd;
        int status;     /* wait status, valid once pid is 0 */
};

int kiln_spawn(char *const argv[], unsigned flags, struct kiln_proc *ret);
/* Wait up to timeout_ms (-1: for ever) for the program to end: 0 when it
 * did (p->status holds the wait status), -ETIMEDOUT when not yet. */
int kiln_proc_wait(struct kiln_proc *p, int timeout_ms);
int kiln_proc_signal(struct kiln_proc *p, int sig);
/* SIGTERM, up to grace_ms for it to end, then SIGKILL; always reaps. */
void kiln_proc_terminate(struct kiln_proc *p, int grace_ms);
/* Close the pipes (the program is not touched). */
void kiln_proc_close(struct kiln_proc *p);
/* The exit status (0-255), or 128 + signal. */
int kiln_proc_exit_code(const struct kiln_proc *p);

#endif
