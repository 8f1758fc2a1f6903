/* SPDX-License-Identifier: MIT */
/*
 * The `kiln` subcommands: one builder/cmd_NAME.c each, called from
 * builder/kiln.c's dispatch with argv[0] the subcommand's name.  Front end
 * code: they print and return the exit status.
 */
#ifndef KILN_COMMANDS_H
#define KILN_COMMANDS_H

int cmd_seed(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_imds(int argc, char **argv);
int cmd_user_data(int argc, char **argv);

#endif
