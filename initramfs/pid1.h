/* SPDX-License-Identifier: MIT */
/* What kiln-init needs from the system, kept apart from its task logic:
 * logging to the console and /dev/kmsg, mounts, modules, waiting for
 * devices without sleeping, and the hand-over to the real init. */
#ifndef KILN_PID1_H
#define KILN_PID1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void pid1_log_open(bool debug);
void pid1_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pid1_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Everything logged so far (for /var/log/kiln-init.log in the root). */
const char *pid1_log_text(size_t *len);
uint64_t pid1_now_ms(void);

int pid1_mount_basics(void);
/* Run argv[0] (a path) with argv, its output on the console, and wait for
 * it: 0 with *ret_status its exit status (0-255), or 256 + the signal that
 * ended it; -errno with a message when it could not be started. */
int pid1_run(const char *const *argv, int *ret_status);
int pid1_read_file(const char *path, char *buf, size_t len);
int pid1_load_modules(const char *list_path, unsigned *ret_loaded);

/* Wait until match() finds a device in /sys/class/block, woken by kernel
 * uevents rather than a sleep loop; timeout_ms < 0 waits forever. */
int pid1_wait_block(int (*match)(const char *name, void *ud), void *ud, int timeout_ms);

/* Make newroot the root and execute init there with argv { init, args[0],
 * ..., NULL } (args may be NULL: none) and kiln-init's environment, which is
 * the one the kernel gave it; returns -errno only when that fails. */
int pid1_switch_root(const char *newroot, const char *init, const char *const *args);
/* The end when nothing can boot: say why, then a shell if the initramfs has
 * one, else wait forever (PID 1 must never exit: the kernel would panic). */
void pid1_emergency(const char *why) __attribute__((noreturn));

#endif
