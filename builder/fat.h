/* SPDX-License-Identifier: MIT */
/*
 * A FAT volume writer for the EFI System Partition and NoCloud seed volumes
 * (label CIDATA), so that kiln needs no mtools or mkfs.fat at build time.
 *
 * Collect folders and files in memory, then write the whole volume into a
 * disk (a partition slice) in one sequential pass.  The volume is FAT32
 * whenever the size allows it (the UEFI specification asks for FAT32 on
 * system partitions); a volume too small for FAT32 (below about 32.5 MiB)
 * becomes FAT16 or FAT12, much as mkfs.fat would make it, so a seed of a
 * few KiB can live in a 1 MiB partition.  opts.fat_bits forces a type.
 *
 * Names: any name that is not an upper-case 8.3 name gets VFAT long-name
 * entries (UTF-16, up to 255 units) and a generated "BASE~N.EXT" short
 * name, unique within its folder; an 8.3 name whose base and extension are
 * each all lower-case ("grub.cfg") is stored with the Windows NT case bits
 * instead.  Names are compared without regard to ASCII case, as FAT does:
 * "efi/boot" and "EFI/BOOT" are the same folder.
 *
 * The output depends only on what was added and on the options, never on
 * the order of the calls, the clock or uninitialised memory: folders are
 * sorted and every timestamp is opts.mtime.  Every byte the volume uses
 * (boot sectors, both FATs, folders, files up to their last cluster) is
 * written; free clusters are left as they were, so a fresh (zeroed) disk
 * gives the same image bytes every time.
 */
#ifndef KILN_FAT_H
#define KILN_FAT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct kiln_disk;
struct kiln_fat;

struct kiln_fat_opts {
        /* NULL or "" for none ("NO NAME" in the boot sector), else at most
         * 11 ASCII characters that a short name may hold, or spaces; stored
         * upper-case, as every FAT tool does. */
        const char *label;
        uint32_t volume_id;       /* the volume serial number */
        time_t mtime;             /* every timestamp (UTC), clamped to 1980..2107 */
        /* 0: FAT32 when the volume is big enough, else FAT16 or FAT12 by
         * the cluster count; or exactly 12, 16 or 32. */
        unsigned fat_bits;
        /* The partition's first 512-byte sector on its disk (the BPB's
         * "hidden sectors"); 0 for a volume without a partition table. */
        uint32_t hidden_sectors;
};

struct kiln_fat_result {
        unsigned fat_bits;        /* 12, 16 or 32 */
        uint32_t cluster_size;    /* bytes */
        uint32_t clusters;        /* data clusters on the volume */
        uint32_t free_clusters;
};

int kiln_fat_new(struct kiln_fat **ret);
void kiln_fat_free(struct kiln_fat *f);

/* Add a folder and any missing parents ("EFI/BOOT"); adding an existing
 * folder again is fine.  Paths use '/', may start with one, and name no
 * "." or ".." components.  A name is valid UTF-8 of at most 255 UTF-16
 * characters, without control characters or any of " * / : < > ? \ |, and
 * does not end with a dot or a space (-EINVAL, -ENAMETOOLONG); -ENOTDIR if
 * a parent is a file.  A refused path adds nothing. */
int kiln_fat_add_dir(struct kiln_fat *f, const char *path);

/* Add a file with a copy of len bytes (at most 4 GiB - 1, else -EFBIG);
 * missing parent folders are added.  -EEXIST if the name is taken in its
 * folder, in any case. */
int kiln_fat_add_file(struct kiln_fat *f, const char *path, const void *data, size_t len);

/* Add a file whose bytes are read from fd (a regular file, from offset 0)
 * when the volume is written, through kiln_disk_copy_from_fd.  The size is
 * taken now (a file that shrinks by then fails the write with -EIO); fd
 * is duplicated, so the caller may close its own. */
int kiln_fat_add_file_from_fd(struct kiln_fat *f, const char *path, int fd);

/* The smallest volume, in bytes and a multiple of 1 MiB, that holds what
 * was added (and a label) as FAT of fat_bits (0: any type, as in opts).
 * FAT32 alone needs 33 MiB (65529 clusters of 512 bytes and their FATs);
 * a few small files take 1 MiB as FAT12.  -EFBIG if nothing can hold them. */
int kiln_fat_min_size(struct kiln_fat *f, unsigned fat_bits, uint64_t *ret);

/* Write the volume so that it fills the whole disk (512-byte sectors; a
 * tail shorter than a sector is left unused).  -ENOSPC when the volume is
 * too small for the files or for the requested FAT type (the message says
 * how much is needed), -EFBIG when it is too large for it (over 2 TiB, FAT16
 * over 2 GiB, FAT12 over 128 MiB), -EINVAL for a bad label or type, or the
 * disk's error (-EIO...), never a partial success.  Writing again, after
 * more adds or with other options, is fine.  ret may be NULL. */
int kiln_fat_write(struct kiln_fat *f, struct kiln_disk *disk, const struct kiln_fat_opts *o,
                   struct kiln_fat_result *ret);

#endif
