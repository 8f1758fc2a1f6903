/* SPDX-License-Identifier: MIT */
/* Running a helper program (grub-mkimage) with its stderr kept for messages. */
#ifndef KILN_EXEC_H
#define KILN_EXEC_H

/* Run argv (PATH lookup); 0 on exit status 0.  On failure the message says
 * what failed and quotes the last line the program printed on stderr. */
int kiln_exec(char *const argv[]);
/* Whether a program is on PATH. */
int kiln_which(const char *name);

#endif
