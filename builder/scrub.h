/* SPDX-License-Identifier: MIT */
/* Secrets and per-machine state an image must not ship. */
#ifndef KILN_SCRUB_H
#define KILN_SCRUB_H

#include <stddef.h>

#include "spec.h"
#include "tree.h"

struct kiln_scrub_report {
        char **lines; /* "/etc/ssh/ssh_host_ed25519_key (removed)" */
        size_t n;
};

/* Apply the rules; what was removed or emptied is listed in the report. */
int kiln_scrub(struct kiln_tree *t, const struct kiln_scrub *rules, struct kiln_scrub_report *rep);
void kiln_scrub_report_free(struct kiln_scrub_report *rep);

#endif
