/* SPDX-License-Identifier: MIT */
#include "pid1.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define LOG_CAP (256 * 1024)

static int kmsg_fd = -1;
static bool debug_on;
static char log_buf[LOG_CAP];
static size_t log_len;

uint64_t pid1_now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void pid1_log_open(bool debug)
{
        int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);

        debug_on = debug;
        if (fd >= 0) {
                dup2(fd, 0);
                dup2(fd, 1);
                dup2(fd, 2);
                if (fd > 2)
                        close(fd);
        }
        kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
}

static void vlog(const char *fmt, va_list ap)
{
        char line[2048];
        int n = vsnprintf(line, sizeof(line), fmt, ap);

        if (n < 0)
                return;
        if ((size_t)n >= sizeof(line))
                n = sizeof(line) - 1;
        /* The console gets the line as is; kmsg a tagged copy, so the
         * journal of the booted system shows what first boot did. */
        dprintf(1, "%s\n", line);
        if (kmsg_fd >= 0)
                dprintf(kmsg_fd, "<6>kiln-init: %s\n", line);
        if (log_len + (size_t)n + 1 < LOG_CAP) {
                memcpy(log_buf + log_len, line, (size_t)n);
                log_len += (size_t)n;
                log_buf[log_len++] = '\n';
        }
}

void pid1_log(const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vlog(fmt, ap);
        va_end(ap);
}

void pid1_debug(const char *fmt, ...)
{
        va_list ap;
        if (!debug_on)
                return;
        va_start(ap, fmt);
        vlog(fmt, ap);
        va_end(ap);
}

const char *pid1_log_text(size_t *len)
{
        *len = log_len;
        return log_buf;
}

static int mount_one(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
        mkdir(dst, 0755);
        if (mount(src, dst, type, flags, data) < 0 && errno != EBUSY) {
                int r = -errno;
                pid1_log("cannot mount %s on %s: %s", type, dst, strerror(errno));
                return r;
        }
        return 0;
}

int pid1_mount_basics(void)
{
        int r = 0;

        r |= mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        r |= mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        r |= mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        r |= mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
        return r ? -EIO : 0;
}

int pid1_run(const char *const *argv, int *ret_status)
{
        int pfd[2], err = 0, status;

        /* The exec's errno comes back through a pipe closed on exec. */
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return kiln_errorf(-errno, "cannot run %s: pipe: %m", argv[0]);
        pid_t pid = fork();
        if (pid < 0) {
                err = errno;
                close(pfd[0]);
                close(pfd[1]);
                return kiln_errorf(-err, "cannot run %s: fork: %s", argv[0], strerror(err));
        }
        if (pid == 0) {
                close(pfd[0]);
                execv(argv[0], (char *const *)argv);
                err = errno;
                ssize_t w = write(pfd[1], &err, sizeof(err));
                (void)w;
                _exit(127);
        }
        close(pfd[1]);
        ssize_t n;
        do
                n = read(pfd[0], &err, sizeof(err));
        while (n < 0 && errno == EINTR);
        close(pfd[0]);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return kiln_errorf(-errno, "cannot wait for %s: %m", argv[0]);
        if (n == (ssize_t)sizeof(err))
                return kiln_errorf(-err, "cannot run %s: %s", argv[0], strerror(err));
        *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 256 + WTERMSIG(status);
        return 0;
}

int pid1_read_file(const char *path, char *buf, size_t len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t got = 0;

        if (fd < 0)
                return -errno;
        while (got + 1 < len) {
                ssize_t n = read(fd, buf + got, len - 1 - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        close(fd);
        buf[got] = 0;
        return (int)got;
}

int pid1_load_modules(const char *list_path, unsigned *ret_loaded)
{
        FILE *f = fopen(list_path, "re");
        char line[512];
        unsigned loaded = 0;

        *ret_loaded = 0;
        if (!f)
                return errno == ENOENT ? 0 : -errno;
        while (fgets(line, sizeof(line), f)) {
                line[strcspn(line, "\n")] = 0;
                if (!line[0] || line[0] == '#')
                        continue;
                int fd = open(line, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        pid1_log("module %s: %s", line, strerror(errno));
                        continue;
                }
                if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) {
                        /* ENODEV: a driver for hardware this machine lacks (Xen on KVM). */
                        if (errno == ENODEV)
                                pid1_debug("module %s: no such device here", line);
                        else
                                pid1_log("module %s: %s", line, strerror(errno));
                } else {
                        loaded++;
                }
                close(fd);
        }
        fclose(f);
        *ret_loaded = loaded;
        return 0;
}

static int scan_block(int (*match)(const char *, void *), void *ud)
{
        DIR *d = opendir("/sys/class/block");
        int found = 0;

        if (!d)
                return 0;
        for (struct dirent *de; !found && (de = readdir(d));)
                if (de->d_name[0] != '.')
                        found = match(de->d_name, ud) > 0;
        closedir(d);
        return found;
}

int pid1_wait_block(int (*match)(const char *name, void *ud), void *ud, int timeout_ms)
{
        struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = 1 };
        int sock = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : pid1_now_ms() + (uint64_t)timeout_ms;
        int r = -ETIMEDOUT;

        /* Subscribe first, then scan: a device appearing in between still
         * wakes us. */
        if (sock >= 0 && bind(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
                close(sock);
                sock = -1;
        }
        for (;;) {
                if (scan_block(match, ud)) {
                        r = 0;
                        break;
                }
                uint64_t now = pid1_now_ms();
                if (now >= deadline)
                        break;
                int wait = deadline == UINT64_MAX ? 1000 : (int)(deadline - now > 1000 ? 1000 : deadline - now);
                if (sock >= 0) {
                        struct pollfd p = { .fd = sock, .events = POLLIN };
                        if (poll(&p, 1, wait) > 0) {
                                char buf[8192];
                                while (recv(sock, buf, sizeof(buf), 0) > 0)
                                        ; /* drain; rescanning is cheap */
                        }
                } else {
                        /* No uevents (no netlink?): fall back to a short poll. */
                        struct timespec ts = { 0, 20 * 1000000 };
                        nanosleep(&ts, NULL);
                }
        }
        if (sock >= 0)
                close(sock);
        return r;
}

int pid1_switch_root(const char *newroot, const char *init, const char *const *args)
{
        struct stat root_st, new_st;
        struct statfs sfs;
        char path[4096];

        /* Refuse a hand-over that cannot work, before burning the bridge. */
        if (stat("/", &root_st) < 0 || stat(newroot, &new_st) < 0)
                return -errno;
        if (root_st.st_dev == new_st.st_dev) {
                pid1_log("switch_root: %s is not a mounted filesystem", newroot);
                return -EINVAL;
        }
        /* init is usually a symlink with an absolute target (/sbin/init ->
         * /lib/systemd/systemd), so check it from inside the new root. */
        pid_t pid = fork();
        if (pid == 0)
                _exit(chroot(newroot) == 0 && chdir("/") == 0 && access(init, X_OK) == 0 ? 0 : 1);
        int status = 1;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                pid1_log("switch_root: %s has no executable %s", newroot, init);
                return -ENOENT;
        }
        /* The initramfs is a ramfs/tmpfs; its files stay in memory after the
         * switch unless deleted, but deleting /init while running is fine. */
        if (statfs("/", &sfs) == 0)
                unlink("/init");
        if (chdir(newroot) < 0)
                return -errno;
        static const char *const moves[] = { "/dev", "/proc", "/sys", "/run" };
        for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++) {
                snprintf(path, sizeof(path), "%s%s", newroot, moves[i]);
                if (mount(moves[i], path, NULL, MS_MOVE, NULL) < 0)
                        umount2(moves[i], MNT_DETACH);
        }
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return -errno;
        if (chroot(".") < 0 || chdir("/") < 0)
                return -errno;
        /* The kernel's arguments for init, as the kernel would pass them
         * to /sbin/init itself ("single", "emergency", what follows "--"). */
        const char *argv[64] = { init };
        size_t n = 1;
        for (; args && args[n - 1] && n + 1 < sizeof(argv) / sizeof(argv[0]); n++)
                argv[n] = args[n - 1];
        argv[n] = NULL;
        execv(init, (char *const *)argv);
        return -errno;
}

void pid1_emergency(const char *why)
{
        pid1_log("kiln-init: cannot boot: %s", why);
        /* A shell runs as a child: PID 1 itself must never exit. */
        if (access("/bin/sh", X_OK) == 0) {
                pid1_log("kiln-init: starting /bin/sh for a look around");
                pid_t pid = fork();
                if (pid == 0) {
                        char *const argv[] = { (char *)"/bin/sh", NULL };
                        execv("/bin/sh", argv);
                        _exit(127);
                }
                if (pid > 0)
                        waitpid(pid, NULL, 0);
        }
        pid1_log("kiln-init: halting here (the machine is up, nothing runs)");
        for (;;)
                pause();
}
