/* SPDX-License-Identifier: MIT */
/*
 * The `kiln` subcommands: one builder/cmd_NAME.c each, called from
 * builder/kiln.c's dispatch with argv[0] the subcommand's name.  Front end
 * code: they print and return the exit status.
 */
#ifndef KILN_COMMANDS_H
#define KILN_COMMANDS_H

#include <stdarg.h>
#include <stdio.h>

#include "util.h"

/* One line on f after prefix, control characters from names escaped. */
void kiln_vprint_line(FILE *f, const char *prefix, const char *fmt, va_list ap);
/* "kiln: MESSAGE" on stderr: every error a user sees is one line. */
void kiln_fail(const char *fmt, ...) _printf_(1, 2);

int cmd_seed(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_imds(int argc, char **argv);
int cmd_user_data(int argc, char **argv);

#endif
