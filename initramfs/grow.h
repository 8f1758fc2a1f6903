/* SPDX-License-Identifier: MIT */
/*
 * Growing the root partition to the end of its disk, kiln-init's first-boot
 * job after the volume was made bigger than the image ("qemu-img resize",
 * an EBS volume larger than the AMI's snapshot).
 *
 * Planning is pure (a parsed table + the disk's size -> what to write);
 * applying writes through the disk seam in an order where a power cut after
 * any write leaves a primary GPT that Linux accepts: the old one or the new
 * one.  Telling the kernel (BLKPG_RESIZE_PARTITION) and growing the
 * filesystem are the caller's next steps.
 */
#ifndef KILN_GROW_H
#define KILN_GROW_H

#include <stdbool.h>
#include <stdint.h>

#include "parttable.h"

struct kiln_disk;

/* MBR partitions stay within the first 2^32 sectors, as growpart keeps them. */
#define KILN_GROW_MBR_MAX_LBA UINT64_C(0xFFFFFFFF)

struct kiln_grow_plan {
        bool write;         /* false: nothing to do, reason says why */
        char reason[160];   /* one line, for the console either way */
        enum kiln_pt_kind kind;
        uint32_t partno;
        uint32_t sector_size;
        uint64_t disk_sectors;
        uint64_t first, old_last, new_last; /* the partition, inclusive LBAs */
        bool capped;        /* MBR: stopped at KILN_GROW_MBR_MAX_LBA, the disk goes on */
        /* GPT */
        uint64_t new_last_usable;     /* disk_sectors - 2 - array sectors (N-34) */
        uint64_t backup_lba;          /* disk_sectors - 1 */
        uint64_t backup_entries_lba;  /* backup_lba - array sectors (N-33) */
        uint64_t primary_entries_lba; /* where the primary array ends up (2) */
        bool write_pmbr;              /* the 0xEE entry's size is stale */
        uint32_t pmbr_size;           /* min(N-1, 0xFFFFFFFF) */
};

/*
 * Decide whether partition partno can grow on a disk of disk_sectors (which
 * must be the size t was parsed against).  The new end is growpart's: the
 * last usable LBA for GPT (N-34), N-34 capped at LBA 2^32-1 for MBR.
 * Returns 0 with ret->write set when there is something to write (growing,
 * and for GPT also moving the backup to the end, rewriting an invalid
 * backup from the primary, finishing an interrupted grow, fixing the
 * protective MBR's size), 0 with ret->write false and a reason for a no-op
 * (not the last partition, disk not grown, already at the maximum),
 * or a negative errno with the message in kiln_last_error():
 *   -EBADMSG     no usable table: primary GPT or protective MBR invalid
 *                (never guessed at, even when the backup is fine), or a
 *                classic MBR whose entries do not make sense
 *   -ENOENT      no such partition
 *   -EOPNOTSUPP  an extended or logical MBR partition, a hybrid MBR
 *   -EINVAL      disk_sectors does not match t, or the disk is smaller than
 *                the table says
 * *ret is written only on success.
 */
int kiln_grow_plan(const struct kiln_parttable *t, uint64_t disk_sectors, uint32_t partno,
                   struct kiln_grow_plan *ret);

/*
 * Read the two ends of a disk through the seam (the first MiB, the last 64
 * KiB) and parse them.
 */
int kiln_parttable_read(struct kiln_disk *disk, uint32_t sector_size, struct kiln_parttable *ret);

/*
 * Carry out a plan.  The table is read again first and re-planned; if it no
 * longer gives the same plan the disk is left alone (-ESTALE).  GPT order,
 * N the disk's sectors, each numbered step followed by a flush:
 *
 *   1. backup array at N-33, then backup header at N-1
 *   2. primary header (new fields) pointing at that array, N-33
 *   3. primary array at LBA 2
 *   4. primary header pointing at LBA 2
 *   5. protective MBR's size, if it changes
 *
 * Linux reads the backup only when the primary is valid (or "gpt" is on its
 * command line), so the primary must be valid after any prefix of the
 * writes.  Steps 2 and 4 are single-sector writes, and each header written
 * points only at an array already written and flushed: the primary is the
 * old one until step 2, the new one with its array at the end until step 4,
 * then the new one.  The backup goes first because until step 2 nothing the
 * primary uses is there.  Steps 2-3 are skipped when the array at LBA 2
 * already matches.  Rewriting the array at LBA 2 right under a header that
 * names it (steps 3 then 4 without step 2) would leave the old header with
 * a wrong array CRC: the kernel would find no partitions at all.
 *
 * When the primary already points at an array elsewhere (a grow interrupted
 * between steps 2 and 4): backup, array at LBA 2, primary header; the
 * backup moves last if it would overwrite the array in use (the disk grew
 * again, by less than the array, before the next boot).
 * Running plan + apply again after a crash finishes the job.  MBR: one write
 * of sector 0.  The result is read back and checked before returning 0.
 */
int kiln_grow_apply(struct kiln_disk *disk, const struct kiln_grow_plan *plan);

#endif
