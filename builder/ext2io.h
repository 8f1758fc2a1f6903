/* SPDX-License-Identifier: MIT */
/* An ext2fs io_manager over the disk seam, so libext2fs writes straight into
 * a partition of the image (or memory, or a fault-injecting disk). */
#ifndef KILN_EXT2IO_H
#define KILN_EXT2IO_H

#include <ext2fs/ext2fs.h>

#include "disk.h"

extern io_manager kiln_io_manager;

/* The name to pass to ext2fs_initialize()/ext2fs_open() for this disk. */
void kiln_io_name(struct kiln_disk *disk, char *buf, size_t len);

/* errcode_t -> -errno, keeping the seam's own message when it made one. */
int kiln_ext2_error(errcode_t e, const char *what);

#endif
