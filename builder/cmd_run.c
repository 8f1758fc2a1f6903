/* SPDX-License-Identifier: MIT */
/*
 * `kiln run IMAGE`: launch an image under QEMU the way EC2 launches an AMI
 * (boot/launch.h does the checks, the plan and the run folder).  This file
 * is the front end: options, the serial console streamed to the terminal
 * and kept in the run folder, readiness (kiln-init's marker or an SSH
 * banner on the forwarded port), the timing summary, --ssh (saying what it
 * waits for, and giving up once the instance is ready but unreachable), and
 * ending the instance (ACPI power button through QEMU's monitor, SIGTERM,
 * SIGKILL).  --count N launches the instances one after another.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "exec.h"
#include "json.h"
#include "launch.h"
#include "userdata.h"
#include "util.h"

#define DEFAULT_TIMEOUT 600
#define POWERDOWN_GRACE_MS 30000
#define TERM_GRACE_MS 5000
#define SSH_TIMEOUT_DEFAULT 60  /* seconds after ready without an SSH banner: unreachable */
#define SSH_REPORT_MS 10000     /* --ssh's progress: at most this often, once per state */

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
        got_signal = sig;
}


static void usage_run(FILE *f)
{
        fputs("usage: kiln run IMAGE [-t|--instance-type TYPE] [--user-data FILE] [--key-name PUBKEY_FILE]\n"
              "                [--block-device-mapping JSON|@FILE] [--network-interfaces JSON|@FILE | --nics N]\n"
              "                [--boot-mode MODE] [--count N] [--console-log FILE] [--timeout SECONDS]\n"
              "                [--accel kvm|tcg|auto] [--seed SEED_IMG] [--volume-dir DIR] [--user USER] [--keep]\n"
              "                [--json] [-q|--quiet]\n"
              "                [--ssh [-i PRIVATE_KEY] [--ssh-timeout SECONDS] [-- COMMAND...]]\n"
              "launches IMAGE under QEMU like an EC2 instance; man kiln-run has the details\n",
              f);
}

struct opts {
        const char *image, *type, *user_data, *key_name, *bdm, *boot_mode, *console_log, *accel, *seed,
                *vol_dir, *user, *identity, *nics;
        unsigned count, timeout, n_nics, ssh_timeout;
        bool ssh_timeout_set;
        bool ssh, keep, json, quiet;
        char **cmd;
        int n_cmd;
};

struct ctx {
        const struct opts *o;
        struct kiln_image img;
        struct kiln_bdm_list bdm;
        struct kiln_nic_spec_list nics;         /* --network-interfaces or --nics; n 0: not given */
        uint8_t *user_data;
        size_t user_data_len;
        char *private_key;
        char *self;
        bool kvm;
};

static int64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_uint(const char *opt, const char *s, unsigned lo, unsigned hi, unsigned *ret)
{
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || *s == '-' || v < lo || v > hi) {
                kiln_fail("%s: '%s' is not a number from %u to %u", opt, s, lo, hi);
                return -EINVAL;
        }
        *ret = (unsigned)v;
        return 0;
}

/* ------------------------------------------------------------ one instance */

/* What a probe of the forwarded SSH port found, short of a banner. */
enum probe_seen {
        PROBE_NONE,      /* no probe done yet */
        PROBE_CLOSED,    /* QEMU accepted and closed (or reset) without a byte: the guest refused port 22 */
        PROBE_SILENT,    /* no byte within 5 s: the guest did not answer at all */
        PROBE_NOT_SSH,   /* bytes, but no "SSH-" banner */
        PROBE_NO_PORT,   /* the local port itself refused: QEMU's forward is gone */
};

struct instance {
        struct kiln_launch plan;
        struct kiln_run run;
        struct kiln_proc qemu;
        struct kiln_console con;
        int64_t t0;
        int console_fd, log_fd;
        FILE *term;                     /* where the console streams, or NULL */
        bool ready, ssh_up, timed_out, interrupted, stopping;
        int64_t ready_ms, ssh_ms;
        int ssh_status;                 /* -1: not run */
        char line[4096];
        size_t line_len;
        /* the SSH banner probe */
        int probe_fd;
        int64_t probe_at;
        enum probe_seen probe_seen;     /* what the last probe found */
        /* --ssh: what was last said about waiting, and when */
        int64_t report_at;
        enum probe_seen report_probe;
        uint64_t report_net_seq;
        bool unreachable;               /* ready, but no SSH banner in --ssh-timeout */
};

/* Console copies and monitor commands: a closed or full terminal is not worth failing over. */
static void write_all(int fd, const char *buf, size_t len)
{
        if (fd >= 0)
                (void)write_full(fd, buf, len);
}

static void console_bytes(struct instance *in, const char *buf, size_t len)
{
        int64_t t = now_ms() - in->t0;

        write_all(in->console_fd, buf, len);
        write_all(in->log_fd, buf, len);
        if (in->term) {
                fwrite(buf, 1, len, in->term);
                fflush(in->term);
        }
        for (size_t i = 0; i < len; i++) {
                if (buf[i] == '\n' || in->line_len == sizeof(in->line) - 1) {
                        kiln_console_line(&in->con, in->line, in->line_len, t);
                        in->line_len = 0;
                        if (buf[i] == '\n')
                                continue;
                }
                in->line[in->line_len++] = buf[i];
        }
}

/* Read what QEMU wrote: 1 when something was read, 0 when nothing came
 * within timeout_ms, -1 once its stdout is closed (QEMU ended). */
static int pump(struct instance *in, int timeout_ms)
{
        struct pollfd p[3];
        int n = 0, io = -1, ie = -1, ip = -1;
        char buf[8192];

        if (in->qemu.out_fd >= 0) {
                p[n] = (struct pollfd){ .fd = in->qemu.out_fd, .events = POLLIN };
                io = n++;
        }
        if (in->qemu.err_fd >= 0) {
                p[n] = (struct pollfd){ .fd = in->qemu.err_fd, .events = POLLIN };
                ie = n++;
        }
        if (in->probe_fd >= 0) {
                p[n] = (struct pollfd){ .fd = in->probe_fd, .events = POLLIN };
                ip = n++;
        }
        if (n == 0)
                return -1;
        if (poll(p, (nfds_t)n, timeout_ms) <= 0)
                return in->qemu.out_fd >= 0 ? 0 : -1;
        if (io >= 0 && p[io].revents) {
                ssize_t r = read(in->qemu.out_fd, buf, sizeof(buf));
                if (r > 0) {
                        console_bytes(in, buf, (size_t)r);
                } else if (r == 0 || errno != EINTR) {
                        close(in->qemu.out_fd);
                        in->qemu.out_fd = -1;
                }
        }
        if (ie >= 0 && p[ie].revents) {
                ssize_t r = read(in->qemu.err_fd, buf, sizeof(buf));
                if (r > 0) {
                        /* QEMU's own complaints: shown (not while kiln stops it),
                         * and kept with the console. */
                        if (!in->stopping)
                                fwrite(buf, 1, (size_t)r, stderr);
                        write_all(in->console_fd, buf, (size_t)r);
                } else if (r == 0 || errno != EINTR) {
                        close(in->qemu.err_fd);
                        in->qemu.err_fd = -1;
                }
        }
        if (ip >= 0 && p[ip].revents) {
                ssize_t r = read(in->probe_fd, buf, sizeof(buf) - 1);
                int e = errno;
                if (r >= 4 && !memcmp(buf, "SSH-", 4)) {
                        if (!in->ssh_up) {
                                in->ssh_up = true;
                                in->ssh_ms = now_ms() - in->t0;
                        }
                } else {
                        in->probe_seen = r > 0 ? PROBE_NOT_SSH
                                         : r < 0 && e == ECONNREFUSED ? PROBE_NO_PORT
                                                                      : PROBE_CLOSED;
                }
                close(in->probe_fd);
                in->probe_fd = -1;
                in->probe_at = now_ms() + 2000;
        }
        return in->qemu.out_fd >= 0 ? 1 : -1;
}

/* Connect to the forwarded SSH port; QEMU accepts at once and relays the
 * guest's banner when its sshd answers. */
static void probe_ssh(struct instance *in)
{
        int64_t now = now_ms();

        if (in->ssh_up || now < in->probe_at)
                return;
        if (in->probe_fd >= 0) { /* no banner in time: try again */
                close(in->probe_fd);
                in->probe_fd = -1;
                in->probe_at = now + 1000;
                in->probe_seen = PROBE_SILENT;
                return;
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)in->run.ssh_port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (fd < 0)
                return;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
                close(fd);
                in->probe_at = now + 2000;
                in->probe_seen = PROBE_NO_PORT;
                return;
        }
        in->probe_fd = fd;
        in->probe_at = now + 5000; /* give up on this connection then */
}

/* Why a probe found no banner, for --ssh's messages. */
static const char *probe_why(enum probe_seen p)
{
        switch (p) {
        case PROBE_CLOSED: return "the guest refuses connections to its port 22 (no sshd listening?)";
        case PROBE_SILENT: return "the guest does not answer on its network at all (no address on its first network interface?)";
        case PROBE_NOT_SSH: return "something answers on the guest's port 22, but not with an SSH banner";
        case PROBE_NO_PORT: return "QEMU's forward of the port is gone";
        default: return "no answer yet";
        }
}

/* --ssh, once the instance is ready but before SSH answers: say what kiln
 * waits for and what may keep it from coming, every SSH_REPORT_MS at most,
 * and only when something changed (what the probe finds, or a new console
 * line about the network). */
static void ssh_wait_report(struct instance *in, const struct opts *o, int64_t t)
{
        const struct kiln_console *c = &in->con;

        if (o->quiet || t < in->ready_ms + SSH_REPORT_MS)
                return;
        if (in->report_at >= 0 && (t < in->report_at + SSH_REPORT_MS ||
                                   (in->report_probe == in->probe_seen && in->report_net_seq == c->net_seq)))
                return;
        in->report_at = t;
        in->report_probe = in->probe_seen;
        in->report_net_seq = c->net_seq;
        fprintf(stderr,
                "kiln: %s: ready at %.1f s; waiting for SSH on 127.0.0.1:%d: no SSH banner in the %.0f s since: %s; "
                "giving up at %.1f s (--ssh-timeout %u)\n",
                in->plan.instance_id, (double)in->ready_ms / 1000, in->run.ssh_port, (double)(t - in->ready_ms) / 1000,
                probe_why(in->probe_seen), (double)(in->ready_ms + (int64_t)o->ssh_timeout * 1000) / 1000,
                o->ssh_timeout);
        if (c->n_net_lines == 0)
                fprintf(stderr, "kiln:   the console has no line about the network yet (eth*, ens*, enp*, dhcp, network, link)\n");
        else
                fprintf(stderr, "kiln:   the console's last lines about the network:\n");
        for (size_t i = 0; i < c->n_net_lines; i++)
                fprintf(stderr, "kiln:     %s\n", c->net_lines[i]);
}

static int monitor_command(const char *path, const char *cmd)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return -errno;
        write_all(fd, cmd, strlen(cmd));
        write_all(fd, "\n", 1);
        /* Give the monitor a moment to read the line before the socket closes. */
        struct pollfd p = { .fd = fd, .events = POLLIN };
        poll(&p, 1, 500);
        return 0;
}

/* Power the instance off: ACPI power button, then SIGTERM, then SIGKILL.
 * The console keeps streaming meanwhile. */
static void stop_instance(struct instance *in, int grace_ms)
{
        if (in->qemu.pid <= 0)
                return;
        in->stopping = true;
        if (grace_ms > 0 && monitor_command(in->run.monitor, "system_powerdown") == 0) {
                int64_t end = now_ms() + grace_ms;
                while (now_ms() < end && pump(in, 200) >= 0 && !got_signal)
                        ;
        }
        kiln_proc_terminate(&in->qemu, TERM_GRACE_MS);
        while (pump(in, 0) > 0)
                ;
}

/* One line per network interface: DeviceIndex, MAC, addresses, network. */
static void print_nics(const struct instance *in, FILE *f)
{
        for (size_t i = 0; i < in->plan.n_nics; i++) {
                const struct kiln_nic *c = &in->plan.nics[i];
                fprintf(f, "  nic %-6u %s  %s", c->device_index, c->mac, c->ipv4);
                if (c->ipv6[0])
                        fprintf(f, "  %s", c->ipv6);
                fprintf(f, "  (%s%s)", c->net, c->device_index == 0 ? "; IMDS, ssh" : "");
                if (c->description)
                        fprintf(f, "  \"%s\"", c->description);
                fputc('\n', f);
        }
}

static void print_summary(const struct instance *in, FILE *f)
{
        const struct kiln_console *c = &in->con;

        fprintf(f, "kiln: %s ready in %.1f s (%s)\n", in->plan.instance_id, (double)in->ready_ms / 1000,
                c->ready_ms >= 0 ? (c->first_boot ? "kiln-init: first boot finished" : "kiln-init: boot finished")
                                 : "ssh answered");
        if (c->linux_ms >= 0)
                fprintf(f, "  firmware   %7.2f s  (QEMU start to \"Linux version\")\n", (double)c->linux_ms / 1000);
        if (c->init_ms >= 0 && c->linux_ms >= 0)
                fprintf(f, "  kernel     %7.2f s  (to kiln-init starting)\n", (double)(c->init_ms - c->linux_ms) / 1000);
        for (size_t i = 0; i < c->n_tasks; i++)
                fprintf(f, "  %-10s %7.3f s%s\n", c->tasks[i].name, (double)c->tasks[i].ms / 1000,
                        c->tasks[i].ok ? "" : "  FAILED");
        if (c->ready_ms >= 0)
                fprintf(f, "  kiln-init  %7.3f s  (its own total)\n", (double)c->init_total_ms / 1000);
        fprintf(f, "  ready      %7.2f s  (since QEMU started)\n", (double)in->ready_ms / 1000);
        if (in->ssh_up)
                fprintf(f, "  ssh        %7.2f s  (port %d answered)\n", (double)in->ssh_ms / 1000, in->run.ssh_port);
        print_nics(in, f);
}

static const char *vol_kind(enum kiln_vol_kind k)
{
        return k == KILN_VOL_ROOT ? "root" : k == KILN_VOL_EBS ? "ebs" : "instance-store";
}

static void json_instance(struct kiln_json *j, const struct instance *in, const struct opts *o)
{
        const struct kiln_console *c = &in->con;

        kiln_json_begin_object(j, NULL);
        kiln_json_string(j, "instance_id", in->plan.instance_id);
        kiln_json_string(j, "ami_id", in->plan.ami_id);
        kiln_json_string(j, "instance_type", in->plan.type->name);
        kiln_json_string(j, "firmware", in->plan.firmware == KILN_BOOT_UEFI ? "uefi" : "legacy-bios");
        kiln_json_string(j, "mac", in->plan.nics[0].mac);
        kiln_json_string(j, "local_ipv4", KILN_GUEST_IPV4);
        kiln_json_int(j, "ssh_port", in->run.ssh_port);
        kiln_json_bool(j, "ready", in->ready);
        kiln_json_bool(j, "first_boot", c->first_boot);
        kiln_json_string(j, "end", in->interrupted ? "interrupted"
                                   : in->timed_out ? "timeout"
                                   : in->unreachable ? "unreachable"
                                   : in->ssh_status >= 0 ? "ssh" : "poweroff");
        if (in->ssh_status >= 0)
                kiln_json_int(j, "ssh_status", in->ssh_status);
        kiln_json_begin_object(j, "timings_ms");
        if (c->linux_ms >= 0)
                kiln_json_int(j, "firmware", c->linux_ms);
        if (c->init_ms >= 0 && c->linux_ms >= 0)
                kiln_json_int(j, "kernel", c->init_ms - c->linux_ms);
        if (c->ready_ms >= 0)
                kiln_json_int(j, "kiln_init", (int64_t)c->init_total_ms);
        if (in->ready)
                kiln_json_int(j, "ready", in->ready_ms);
        if (in->ssh_up)
                kiln_json_int(j, "ssh", in->ssh_ms);
        kiln_json_end_object(j);
        kiln_json_begin_array(j, "tasks");
        for (size_t i = 0; i < c->n_tasks; i++) {
                kiln_json_begin_object(j, NULL);
                kiln_json_string(j, "name", c->tasks[i].name);
                kiln_json_int(j, "ms", (int64_t)c->tasks[i].ms);
                kiln_json_bool(j, "ok", c->tasks[i].ok);
                kiln_json_end_object(j);
        }
        kiln_json_end_array(j);
        kiln_json_begin_array(j, "volumes");
        for (size_t i = 0; i < in->plan.n_vols; i++) {
                const struct kiln_volume *v = &in->plan.vols[i];
                kiln_json_begin_object(j, NULL);
                kiln_json_string(j, "kind", vol_kind(v->kind));
                kiln_json_string(j, "device_name", v->device_name);
                kiln_json_string(j, "imds_name", v->imds_name);
                if (v->id[0])
                        kiln_json_string(j, "volume_id", v->id);
                kiln_json_string(j, "serial", v->serial);
                kiln_json_uint(j, "size_gib", v->size_gib);
                kiln_json_bool(j, "delete_on_termination", v->delete_on_termination);
                if ((!v->delete_on_termination || o->keep) && v->path)
                        kiln_json_string(j, "path", v->path);
                kiln_json_end_object(j);
        }
        kiln_json_end_array(j);
        kiln_json_begin_array(j, "network_interfaces");
        for (size_t i = 0; i < in->plan.n_nics; i++) {
                const struct kiln_nic *nic = &in->plan.nics[i];
                kiln_json_begin_object(j, NULL);
                kiln_json_int(j, "device_index", nic->device_index);
                kiln_json_string(j, "mac", nic->mac);
                kiln_json_string(j, "local_ipv4", nic->ipv4);
                kiln_json_string(j, "subnet", nic->net);
                if (nic->ipv6[0]) {
                        kiln_json_string(j, "ipv6", nic->ipv6);
                        kiln_json_string(j, "ipv6_subnet", nic->ipv6_net);
                }
                kiln_json_string(j, "interface_id", nic->interface_id);
                kiln_json_string(j, "subnet_id", nic->subnet_id);
                if (nic->description)
                        kiln_json_string(j, "description", nic->description);
                kiln_json_end_object(j);
        }
        kiln_json_end_array(j);
        if (o->console_log)
                kiln_json_string(j, "console", o->console_log);
        else if (o->keep && in->run.console)
                kiln_json_string(j, "console", in->run.console);
        if (o->keep && in->run.run_dir)
                kiln_json_string(j, "run_dir", in->run.run_dir);
        kiln_json_end_object(j);
}

static int write_text(const char *path, const char *text)
{
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        write_all(fd, text, strlen(text));
        return 0;
}

/* --user, else the image's default user (cloud-init-lite makes it and gives
 * it the launch key), else root. */
static const char *ssh_user(const struct ctx *x)
{
        return x->o->user ? x->o->user : x->img.default_user ? x->img.default_user : "root";
}

/* ssh with the console's host keys only; probe=true runs `true` quietly. */
static int run_ssh(struct ctx *x, struct instance *in, const char *known_hosts, bool probe, char *err,
                   size_t errlen)
{
        const struct opts *o = x->o;
        char port[16], kh[PATH_MAX + 32], dest[256];
        const char *argv[64];
        int n = 0;
        struct kiln_proc p;

        snprintf(port, sizeof(port), "%d", in->run.ssh_port);
        snprintf(kh, sizeof(kh), "UserKnownHostsFile=%s", known_hosts);
        snprintf(dest, sizeof(dest), "%s@127.0.0.1", ssh_user(x));
        argv[n++] = "/usr/bin/ssh";
        argv[n++] = "-F";
        argv[n++] = "/dev/null";
        argv[n++] = "-o";
        argv[n++] = "StrictHostKeyChecking=yes";
        argv[n++] = "-o";
        argv[n++] = kh;
        argv[n++] = "-o";
        argv[n++] = "GlobalKnownHostsFile=/dev/null";
        argv[n++] = "-o";
        argv[n++] = "IdentitiesOnly=yes";
        argv[n++] = "-o";
        argv[n++] = "PasswordAuthentication=no";
        argv[n++] = "-o";
        argv[n++] = "ConnectTimeout=20";
        argv[n++] = "-o";
        argv[n++] = "LogLevel=ERROR";
        if (probe) {
                argv[n++] = "-o";
                argv[n++] = "BatchMode=yes";
        }
        argv[n++] = "-i";
        argv[n++] = x->private_key;
        argv[n++] = "-p";
        argv[n++] = port;
        argv[n++] = dest;
        if (probe) {
                argv[n++] = "true";
        } else {
                if (o->n_cmd > 0)
                        argv[n++] = "--";
                for (int i = 0; i < o->n_cmd && n < 62; i++)
                        argv[n++] = o->cmd[i];
        }
        argv[n] = NULL;
        int r = kiln_spawn((char *const *)argv,
                           probe ? KILN_SPAWN_STDOUT_PIPE | KILN_SPAWN_STDERR_PIPE : KILN_SPAWN_INHERIT_STDIN, &p);
        if (r < 0)
                return r;
        while (kiln_proc_wait(&p, 200) == -ETIMEDOUT) {
                pump(in, 0); /* keep the console flowing into its files */
                if (got_signal) {
                        kiln_proc_terminate(&p, 2000);
                        break;
                }
        }
        if (probe && err) {
                ssize_t k = read(p.err_fd, err, errlen - 1);
                err[k > 0 ? k : 0] = 0;
        }
        kiln_proc_close(&p);
        return kiln_proc_exit_code(&p);
}

static int ssh_session(struct ctx *x, struct instance *in, int64_t deadline)
{
        _cleanup_free_ char *text = NULL, *kh = NULL;
        char host[64], err[2048];
        int r;

        snprintf(host, sizeof(host), "[127.0.0.1]:%d", in->run.ssh_port);
        r = kiln_console_known_hosts(&in->con, host, &text);
        if (r < 0) {
                kiln_fail("%s: %s", in->plan.instance_id, kiln_last_error());
                return r;
        }
        if (asprintf(&kh, "%s/known_hosts", in->run.run_dir) < 0 || write_text(kh, text) < 0) {
                kiln_fail("cannot write known_hosts into '%s'", in->run.run_dir);
                return -EIO;
        }
        /* sshd may answer before it takes logins: retry, but never past a
         * host key mismatch. */
        for (;;) {
                int st = run_ssh(x, in, kh, true, err, sizeof(err));
                if (st == 0)
                        break;
                if (strstr(err, "Host key verification failed") || strstr(err, "REMOTE HOST IDENTIFICATION")) {
                        kiln_fail("%s: the SSH host key does not match the console's: host key verification failed",
                                 in->plan.instance_id);
                        return -EBADMSG;
                }
                if (got_signal || now_ms() >= deadline || in->qemu.out_fd < 0) {
                        err[strcspn(err, "\n")] = 0;
                        kiln_fail("%s: cannot log in over ssh as %s on port %d: %s", in->plan.instance_id,
                                 ssh_user(x), in->run.ssh_port, err[0] ? err : "no answer");
                        return -ECONNREFUSED;
                }
                int64_t wait = now_ms() + 3000;
                while (now_ms() < wait && pump(in, 200) >= 0)
                        ;
        }
        in->term = NULL; /* the terminal is the session's now */
        in->ssh_status = run_ssh(x, in, kh, false, NULL, 0);
        return 0;
}

static int run_instance(struct ctx *x, unsigned idx, struct kiln_json *j)
{
        const struct opts *o = x->o;
        struct instance in = { .console_fd = -1, .log_fd = -1, .probe_fd = -1, .ssh_status = -1, .report_at = -1,
                               .qemu = { .out_fd = -1, .err_fd = -1 } };
        uint8_t seed[32];
        char **argv = NULL;
        int r, status = 1;

        random_uuid(seed);
        random_uuid(seed + 16);
        struct kiln_launch_req req = { .instance_type = o->type, .boot_mode = o->boot_mode, .bdm = &x->bdm,
                                       .nics = x->nics.n ? &x->nics : NULL, .seed = seed, .seed_len = sizeof(seed) };
        kiln_console_init(&in.con);
        r = kiln_launch_plan(&x->img, &req, &in.plan);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                return 1;
        }
        struct kiln_launch_io io = { .kiln = x->self, .vol_dir = o->vol_dir, .seed = o->seed, .key_name = o->key_name,
                                     .user_data = x->user_data, .user_data_len = x->user_data_len,
                                     .image_path = o->image };
        r = kiln_launch_setup(&in.plan, &io, &in.run);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                kiln_launch_free(&in.plan);
                return 1;
        }
        struct kiln_qemu_env env = { .qemu = "qemu-system-x86_64", .run_dir = in.run.run_dir, .kiln = in.run.kiln,
                                     .imds_dir = in.run.imds_dir, .ovmf_code = KILN_OVMF_CODE,
                                     .ovmf_vars = in.run.ovmf_vars, .seed = o->seed, .monitor = in.run.monitor,
                                     .kvm = x->kvm, .ssh_port = in.run.ssh_port };
        _cleanup_free_ char *seed_abs = NULL;
        if (o->seed) {
                seed_abs = realpath(o->seed, NULL);
                env.seed = seed_abs;
        }
        r = kiln_launch_qemu_argv(&in.plan, &env, &argv);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                goto out;
        }
        in.console_fd = open(in.run.console, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (o->console_log) {
                in.log_fd = open(o->console_log, O_WRONLY | O_CREAT | (idx ? O_APPEND : O_TRUNC) | O_CLOEXEC, 0644);
                if (in.log_fd < 0) {
                        kiln_fail("cannot write console log '%s': %s", o->console_log, strerror(errno));
                        goto out;
                }
        }
        if (!o->quiet && !o->console_log)
                in.term = (o->ssh || o->json) ? stderr : stdout;
        if (!o->json && !o->quiet)
                fprintf(stderr, "kiln: launching %s (%s, %s, %u vCPU, %u MiB, %s) from '%s'; ssh port %d\n",
                        in.plan.instance_id, in.plan.type->name,
                        in.plan.firmware == KILN_BOOT_UEFI ? "uefi" : "legacy-bios", in.plan.type->vcpus,
                        in.plan.type->memory_mib, x->kvm ? "kvm" : "tcg", o->image, in.run.ssh_port);
        in.t0 = now_ms();
        r = kiln_spawn(argv, KILN_SPAWN_STDOUT_PIPE | KILN_SPAWN_STDERR_PIPE | KILN_SPAWN_PGROUP, &in.qemu);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                goto out;
        }
        int64_t deadline = in.t0 + (int64_t)o->timeout * 1000;
        in.probe_at = in.t0 + 3000;
        bool alive = true;
        while (alive) {
                alive = pump(&in, 200) >= 0;
                if (got_signal) {
                        in.interrupted = true;
                        break;
                }
                if (now_ms() >= deadline) {
                        in.timed_out = true;
                        break;
                }
                if (!in.ready && (in.con.ready_ms >= 0 || in.ssh_up)) {
                        in.ready = true;
                        in.ready_ms = in.con.ready_ms >= 0 ? in.con.ready_ms : in.ssh_ms;
                        if (!o->json && !o->quiet)
                                print_summary(&in, stderr);
                }
                if (o->ssh && in.ssh_up) {
                        /* The key block comes before kiln-init's marker; a distro's
                         * cloud-init may print it a little after sshd starts. */
                        if (!in.con.keys_done && now_ms() - in.t0 < in.ssh_ms + 10000)
                                continue;
                        r = ssh_session(x, &in, deadline);
                        if (r < 0)
                                in.ssh_status = 255;
                        break;
                }
                if (o->ssh && in.ready) {
                        /* Ready without SSH: say why it may not come; give
                         * up once it is clearly not coming. */
                        int64_t t = now_ms() - in.t0;
                        if (t >= in.ready_ms + (int64_t)o->ssh_timeout * 1000) {
                                in.unreachable = true;
                                break;
                        }
                        ssh_wait_report(&in, o, t);
                }
                if (o->ssh || !in.ready)
                        probe_ssh(&in);
        }
        /* A guest that is up gets the power button when something of it
         * outlives the instance (a kept volume, --keep) and a clean shutdown
         * matters; otherwise, and while still booting, it is stopped at once,
         * as nothing it could write survives (and a guest without logind or
         * acpid ignores the button anyway). */
        bool kept = o->keep;
        for (size_t i = 0; i < in.plan.n_vols; i++)
                kept |= !in.plan.vols[i].delete_on_termination;
        if (in.qemu.pid > 0)
                stop_instance(&in, in.interrupted || !in.ready || !kept ? 0 : POWERDOWN_GRACE_MS);
        kiln_proc_wait(&in.qemu, -1);
        while (pump(&in, 0) > 0)
                ;
        if (in.line_len)
                kiln_console_line(&in.con, in.line, in.line_len, now_ms() - in.t0);

        if (in.interrupted) {
                kiln_fail("%s: interrupted; instance terminated", in.plan.instance_id);
                status = 130;
        } else if (!in.ready) {
                if (in.timed_out)
                        kiln_fail("%s: not ready within %u s (--timeout); instance terminated", in.plan.instance_id,
                                 o->timeout);
                else
                        kiln_fail("%s: QEMU ended (%s %d) before the instance was ready", in.plan.instance_id,
                                 WIFSIGNALED(in.qemu.status) ? "signal" : "exit", kiln_proc_exit_code(&in.qemu));
                status = 1;
        } else if (in.unreachable) {
                kiln_fail("%s: unreachable: no SSH banner on 127.0.0.1:%d in the %u s since it was ready at %.1f s "
                          "(--ssh-timeout): %s; instance terminated",
                          in.plan.instance_id, in.run.ssh_port, o->ssh_timeout, (double)in.ready_ms / 1000,
                          probe_why(in.probe_seen));
                status = 1;
        } else if (o->ssh) {
                if (in.ssh_status < 0 && in.timed_out)
                        kiln_fail("%s: ready at %.1f s, but no SSH banner on 127.0.0.1:%d by --timeout (%u s): %s; "
                                  "instance terminated",
                                  in.plan.instance_id, (double)in.ready_ms / 1000, in.run.ssh_port, o->timeout,
                                  probe_why(in.probe_seen));
                else if (in.ssh_status < 0 && !in.ssh_up)
                        kiln_fail("%s: the instance ended (QEMU %s %d) before SSH answered on 127.0.0.1:%d",
                                  in.plan.instance_id, WIFSIGNALED(in.qemu.status) ? "signal" : "exit",
                                  kiln_proc_exit_code(&in.qemu), in.run.ssh_port);
                status = in.ssh_status < 0 ? 1 : in.ssh_status;
        } else {
                if (in.timed_out && !o->json)
                        fprintf(stderr, "kiln: %s: --timeout of %u s reached; instance terminated\n",
                                in.plan.instance_id, o->timeout);
                status = 0;
        }
        if (!o->json) {
                for (size_t i = 0; i < in.plan.n_vols; i++)
                        if (!in.plan.vols[i].delete_on_termination)
                                fprintf(stderr, "kiln: kept volume %s (%s): %s\n", in.plan.vols[i].device_name,
                                        in.plan.vols[i].id, in.plan.vols[i].path);
                if (o->keep)
                        fprintf(stderr, "kiln: run folder kept: %s\n", in.run.run_dir);
        }
        if (j)
                json_instance(j, &in, o);
out:
        kiln_argv_free(argv);
        if (in.probe_fd >= 0)
                close(in.probe_fd);
        if (in.console_fd >= 0)
                close(in.console_fd);
        if (in.log_fd >= 0)
                close(in.log_fd);
        if (in.qemu.pid > 0)
                kiln_proc_terminate(&in.qemu, TERM_GRACE_MS);
        kiln_proc_close(&in.qemu);
        kiln_launch_cleanup(&in.plan, &in.run, o->keep);
        kiln_launch_free(&in.plan);
        kiln_console_free(&in.con);
        return status;
}

/* ------------------------------------------------------------ the command */

static int load_inputs(struct ctx *x)
{
        const struct opts *o = x->o;
        int r;

        r = kiln_image_load(o->image, &x->img);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                return r;
        }
        if (o->bdm) {
                _cleanup_free_ uint8_t *buf = NULL;
                const char *text = o->bdm, *what = "--block-device-mapping";
                size_t len = strlen(o->bdm);
                if (o->bdm[0] == '@') {
                        what = o->bdm + 1;
                        r = read_full_file(what, KILN_BDM_JSON_MAX, &buf, &len);
                        if (r < 0) {
                                kiln_fail("cannot read block device mapping '%s': %s", what,
                                         r == -EFBIG ? "too large" : strerror(-r));
                                return r;
                        }
                        text = (const char *)buf;
                }
                r = kiln_bdm_parse(what, text, len, &x->bdm);
                if (r < 0) {
                        kiln_fail("%s", kiln_last_error());
                        return r;
                }
        }
        if (o->nics) {
                _cleanup_free_ uint8_t *buf = NULL;
                const char *text = o->nics, *what = "--network-interfaces";
                size_t len = strlen(o->nics);
                if (o->nics[0] == '@') {
                        what = o->nics + 1;
                        r = read_full_file(what, KILN_NIC_JSON_MAX, &buf, &len);
                        if (r < 0) {
                                kiln_fail("cannot read network interfaces '%s': %s", what,
                                          r == -EFBIG ? "too large" : strerror(-r));
                                return r;
                        }
                        text = (const char *)buf;
                }
                r = kiln_nics_parse(what, text, len, &x->nics);
                if (r < 0) {
                        kiln_fail("%s", kiln_last_error());
                        return r;
                }
        } else if (o->n_nics) {
                r = kiln_nics_count(o->n_nics, &x->nics);
                if (r < 0) {
                        kiln_fail("%s", kiln_last_error());
                        return r;
                }
        }
        if (o->user_data) {
                r = read_full_file(o->user_data, KILN_EC2_USER_DATA_MAX, &x->user_data, &x->user_data_len);
                if (r < 0) {
                        kiln_fail("cannot read user data '%s': %s", o->user_data,
                                 r == -EFBIG ? "larger than EC2's 16384 bytes" : strerror(-r));
                        return r;
                }
        }
        if (o->key_name) {
                if (access(o->key_name, R_OK) < 0) {
                        kiln_fail("cannot read public key '%s': %s", o->key_name, strerror(errno));
                        return -errno;
                }
                size_t l = strlen(o->key_name);
                x->private_key = strndup(o->key_name, l > 4 && !strcmp(o->key_name + l - 4, ".pub") ? l - 4 : l);
                if (!x->private_key)
                        return -ENOMEM;
        }
        if (o->ssh && o->identity) {
                /* Log in as a user the user data made, with that user's key. */
                free(x->private_key);
                x->private_key = strdup(o->identity);
                if (!x->private_key)
                        return -ENOMEM;
                if (access(x->private_key, R_OK) < 0) {
                        kiln_fail("--identity: cannot read the private key '%s': %s", x->private_key, strerror(errno));
                        return -ENOENT;
                }
        } else if (o->ssh) {
                if (!o->key_name) {
                        kiln_fail("--ssh needs --key-name PUBKEY_FILE (its private key beside it, without .pub)");
                        return -EINVAL;
                }
                if (!strcmp(x->private_key, o->key_name) || access(x->private_key, R_OK) < 0) {
                        kiln_fail("--ssh: cannot read the private key '%s' for '%s'", x->private_key, o->key_name);
                        return -ENOENT;
                }
                if (access("/usr/bin/ssh", X_OK) < 0) {
                        kiln_fail("--ssh needs the OpenSSH client (/usr/bin/ssh)");
                        return -ENOENT;
                }
        }
        if (o->seed && access(o->seed, R_OK) < 0) {
                kiln_fail("cannot read seed '%s': %s", o->seed, strerror(errno));
                return -errno;
        }
        /* Every check of the plan, before anything starts. */
        uint8_t seed[16] = { 0 };
        struct kiln_launch_req req = { .instance_type = o->type, .boot_mode = o->boot_mode, .bdm = &x->bdm,
                                       .nics = x->nics.n ? &x->nics : NULL, .seed = seed, .seed_len = sizeof(seed) };
        struct kiln_launch plan;
        r = kiln_launch_plan(&x->img, &req, &plan);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                return r;
        }
        bool uefi = plan.firmware == KILN_BOOT_UEFI;
        kiln_launch_free(&plan);
        r = kiln_accel_pick(o->accel, &x->kvm);
        if (r < 0) {
                kiln_fail("%s", kiln_last_error());
                return r;
        }
        if (kiln_which("qemu-system-x86_64") < 0 || kiln_which("qemu-img") < 0) {
                kiln_fail("kiln run needs qemu-system-x86_64 and qemu-img (apt-get install qemu-system-x86 qemu-utils)");
                return -ENOENT;
        }
        if (uefi && (access(KILN_OVMF_CODE, R_OK) < 0 || access(KILN_OVMF_VARS, R_OK) < 0)) {
                kiln_fail("uefi boot needs OVMF: '%s' is missing (apt-get install ovmf)", KILN_OVMF_CODE);
                return -ENOENT;
        }
        x->self = realpath("/proc/self/exe", NULL);
        if (!x->self) {
                kiln_fail("cannot find the kiln binary: %s", strerror(errno));
                return -errno;
        }
        return 0;
}

int cmd_run(int argc, char **argv)
{
        enum { O_USER_DATA = 256, O_KEY, O_BDM, O_BOOT, O_COUNT, O_CONSOLE, O_TIMEOUT, O_ACCEL, O_SEED, O_SSH,
               O_KEEP, O_JSON, O_VOLDIR, O_USER, O_NICS_JSON, O_NICS, O_SSH_TIMEOUT };
        static const struct option longopts[] = {
                { "instance-type", required_argument, NULL, 't' },
                { "user-data", required_argument, NULL, O_USER_DATA },
                { "key-name", required_argument, NULL, O_KEY },
                { "block-device-mapping", required_argument, NULL, O_BDM },
                { "network-interfaces", required_argument, NULL, O_NICS_JSON },
                { "nics", required_argument, NULL, O_NICS },
                { "ssh-timeout", required_argument, NULL, O_SSH_TIMEOUT },
                { "boot-mode", required_argument, NULL, O_BOOT },
                { "count", required_argument, NULL, O_COUNT },
                { "console-log", required_argument, NULL, O_CONSOLE },
                { "timeout", required_argument, NULL, O_TIMEOUT },
                { "accel", required_argument, NULL, O_ACCEL },
                { "seed", required_argument, NULL, O_SEED },
                { "volume-dir", required_argument, NULL, O_VOLDIR },
                { "user", required_argument, NULL, O_USER },
                { "identity", required_argument, NULL, 'i' },
                { "ssh", no_argument, NULL, O_SSH },
                { "keep", no_argument, NULL, O_KEEP },
                { "json", no_argument, NULL, O_JSON },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct opts o = { .count = 1, .timeout = DEFAULT_TIMEOUT, .accel = "auto", .ssh_timeout = SSH_TIMEOUT_DEFAULT };
        struct ctx x = { .o = &o };
        int c, dash = argc, status = 0;

        /* Everything after "--" is the command for --ssh. */
        for (int i = 1; i < argc; i++)
                if (!strcmp(argv[i], "--")) {
                        dash = i;
                        break;
                }
        if (dash < argc) {
                o.cmd = argv + dash + 1;
                o.n_cmd = argc - dash - 1;
        }
        optind = 1;
        while ((c = getopt_long(dash, argv, "t:i:qh", longopts, NULL)) != -1) {
                switch (c) {
                case 't': o.type = optarg; break;
                case O_USER_DATA: o.user_data = optarg; break;
                case O_KEY: o.key_name = optarg; break;
                case O_BDM: o.bdm = optarg; break;
                case O_NICS_JSON: o.nics = optarg; break;
                case O_NICS:
                        if (parse_uint("--nics", optarg, 1, KILN_NIC_MAX, &o.n_nics) < 0)
                                return 2;
                        break;
                case O_SSH_TIMEOUT:
                        if (parse_uint("--ssh-timeout", optarg, 1, 7 * 24 * 3600, &o.ssh_timeout) < 0)
                                return 2;
                        o.ssh_timeout_set = true;
                        break;
                case O_BOOT: o.boot_mode = optarg; break;
                case O_COUNT:
                        if (parse_uint("--count", optarg, 1, 16, &o.count) < 0)
                                return 2;
                        break;
                case O_CONSOLE: o.console_log = optarg; break;
                case O_TIMEOUT:
                        if (parse_uint("--timeout", optarg, 1, 7 * 24 * 3600, &o.timeout) < 0)
                                return 2;
                        break;
                case O_ACCEL: o.accel = optarg; break;
                case O_SEED: o.seed = optarg; break;
                case O_VOLDIR: o.vol_dir = optarg; break;
                case O_USER: o.user = optarg; break;
                case 'i': o.identity = optarg; break;
                case O_SSH: o.ssh = true; break;
                case O_KEEP: o.keep = true; break;
                case O_JSON: o.json = true; break;
                case 'q': o.quiet = true; break;
                case 'h': usage_run(stdout); return 0;
                default: usage_run(stderr); return 2;
                }
        }
        if (optind != dash - 1) {
                kiln_fail(optind >= dash ? "run: no IMAGE given (see 'kiln run --help')"
                                        : "run: one IMAGE only, not '%s' too (a command for --ssh goes after --)",
                         argv[optind < dash ? dash - 1 : 0]);
                return 2;
        }
        o.image = argv[optind];
        if (o.identity && !o.ssh) {
                kiln_fail("run: --identity is for --ssh");
                return 2;
        }
        if (o.ssh_timeout_set && !o.ssh) {
                kiln_fail("run: --ssh-timeout is for --ssh");
                return 2;
        }
        if (o.nics && o.n_nics) {
                kiln_fail("run: --network-interfaces and --nics say the same thing; give one");
                return 2;
        }
        if (o.n_cmd > 0 && !o.ssh) {
                kiln_fail("run: a command after -- needs --ssh");
                return 2;
        }
        if (o.user && strpbrk(o.user, " @\t\n") ) {
                kiln_fail("run: bad --user '%s'", o.user);
                return 2;
        }

        if (load_inputs(&x) < 0) {
                status = 1;
                goto out;
        }

        struct sigaction sa = { .sa_handler = on_signal };
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        struct kiln_json j = { 0 };
        if (o.json) {
                kiln_json_begin_object(&j, NULL);
                kiln_json_string(&j, "image", o.image);
                kiln_json_string(&j, "accel", x.kvm ? "kvm" : "tcg");
                kiln_json_begin_array(&j, "instances");
        }
        for (unsigned i = 0; i < o.count && !got_signal; i++) {
                int s = run_instance(&x, i, o.json ? &j : NULL);
                if (s && !status)
                        status = s;
        }
        if (o.json) {
                kiln_json_end_array(&j);
                kiln_json_end_object(&j);
                char *text = kiln_json_finish(&j);
                if (text)
                        fputs(text, stdout);
                free(text);
        }
out:
        kiln_image_free(&x.img);
        kiln_bdm_list_free(&x.bdm);
        kiln_nic_spec_list_free(&x.nics);
        free(x.user_data);
        free(x.private_key);
        free(x.self);
        return status;
}
