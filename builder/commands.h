/* SPDX-License-Identifier: MIT */
/*
 * The `kiln` subcommands: one builder/cmd_NAME.c each, called from
 * builder/kiln.c's dispatch with argv[0] the subcommand's name.  Front end
 * code: they print and return the exit status.
 */
#ifndef KILN_COMMANDS_H
#define KILN_COMMANDS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util.h"

/* One line on f after prefix, control characters from names escaped. */
void kiln_vprint_line(FILE *f, const char *prefix, const char *fmt, va_list ap);
/* "kiln: MESSAGE" on stderr: every error a user sees is one line. */
void kiln_fail(const char *fmt, ...) _printf_(1, 2);

/* Parse a network-config as kiln-init does and print its interfaces (and,
 * with show_files, what kiln-init writes for stack: a stack's name, "all",
 * or NULL for systemd-networkd; "" prints nothing but errors).  0, or 1
 * after kiln_fail() for what kiln-init would refuse, 2 for a bad stack. */
int kiln_network_config_check(const char *file, const void *buf, size_t len, const char *stack, bool show_files);

int cmd_seed(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_imds(int argc, char **argv);
int cmd_user_data(int argc, char **argv);

#endif
