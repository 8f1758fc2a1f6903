/* SPDX-License-Identifier: MIT */
/* The files written beside an image: <image>.json, exactly the input of EC2
 * RegisterImage, and <image>.kiln.json, kiln's own build facts. */
#ifndef KILN_METADATA_H
#define KILN_METADATA_H

#include "build.h"

int kiln_metadata_register_image(const struct kiln_build_opts *o, const struct kiln_build_result *r, char **ret);
int kiln_metadata_kiln(const struct kiln_build_opts *o, const struct kiln_build_result *r, char **ret);

/* The RegisterImage name rules: 3-128 characters of [A-Za-z0-9()[] ./'@_-]. */
int kiln_image_name_valid(const char *name);

#endif
