/* SPDX-License-Identifier: MIT */
/*
 * A disk's partition table read back: protective MBR + primary and backup
 * GPT, or a classic MBR.  A pure parser over bytes already read (no I/O):
 * kiln-init reads the first and last bytes of the root disk and hands them
 * here; tests/fuzz/fuzz-parttable.c feeds it arbitrary bytes.
 *
 * Every check a header fails is reported, not returned: the primary and the
 * backup GPT are judged separately (ok + the first problem found), so the
 * caller decides what a half-broken table means.  The parser fails only on
 * bad arguments.
 */
#ifndef KILN_PARTTABLE_H
#define KILN_PARTTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hard limits.  The UEFI minimum array (128 x 128 bytes) is also the most
 * kiln accepts; larger arrays are reported as a problem. */
#define KILN_PT_MAX_ENTRIES 128u
#define KILN_PT_ENTRY_SIZE 128u
#define KILN_PT_MAX_PARTS KILN_PT_MAX_ENTRIES
#define KILN_PT_NAME_MAX 108u /* 36 UTF-16 code units as UTF-8 */

enum kiln_pt_kind {
        KILN_PT_NONE, /* neither a GPT nor an MBR */
        KILN_PT_MBR,  /* classic MBR, 4 primary entries */
        KILN_PT_GPT,  /* an 0xEE entry in sector 0, or a GPT header without one */
};

enum kiln_pt_pmbr {
        KILN_PMBR_NONE,       /* no 0xEE entry (or no 0x55AA) */
        KILN_PMBR_PROTECTIVE, /* one 0xEE entry from LBA 1, other slots empty */
        KILN_PMBR_HYBRID,     /* 0xEE from LBA 1 plus other entries */
        KILN_PMBR_INVALID,    /* an 0xEE entry not starting at LBA 1 (Linux refuses it) */
};

struct kiln_pt_gpt_header {
        bool found;          /* "EFI PART" at the expected LBA */
        bool ok;             /* every check passed, entry array included */
        char problem[96];    /* the first check that failed; "" when ok */
        uint64_t lba;        /* where it was looked for */
        uint32_t revision, header_size, header_crc;
        uint64_t my_lba, alternate_lba, first_usable, last_usable, entries_lba;
        uint8_t disk_guid[16]; /* canonical byte order */
        uint32_t n_entries, entry_size, entries_crc;
};

struct kiln_pt_part {
        uint32_t number;      /* 1-based GPT entry index / MBR slot */
        uint64_t first, last; /* inclusive LBAs */
        /* GPT */
        uint8_t type[16], uuid[16]; /* canonical byte order */
        uint64_t attributes;
        char name[KILN_PT_NAME_MAX + 1]; /* UTF-8; bad UTF-16 becomes U+FFFD */
        /* MBR */
        uint8_t mbr_type;
        bool mbr_active;
        bool extended; /* an extended container (0x05, 0x0F, 0x85) */
};

struct kiln_parttable {
        enum kiln_pt_kind kind;
        uint32_t sector_size;
        uint64_t disk_sectors;

        /* Sector 0. */
        bool mbr_magic;       /* 0x55AA at 510 */
        uint32_t mbr_disk_id; /* the NT disk signature at 0x1B8 (PARTUUID=SSSSSSSS-NN) */
        enum kiln_pt_pmbr pmbr;
        uint32_t pmbr_slot;        /* 0..3, when pmbr is PROTECTIVE or HYBRID */
        uint32_t pmbr_size;        /* the 0xEE entry's size in sectors */
        bool mbr_ok;               /* KILN_PT_MBR: the 4 entries make sense */
        char mbr_problem[96];      /* KILN_PT_MBR: the first thing that does not */
        bool mbr_has_extended;     /* logical partitions exist but are not parsed */

        /* GPT: both headers are always looked at, whatever kind says. */
        struct kiln_pt_gpt_header primary; /* LBA 1 */
        struct kiln_pt_gpt_header backup;  /* the disk's last LBA */
        bool headers_agree; /* both ok and describing the same table */

        /* The partitions: from the primary GPT when it is ok, else from the
         * backup; from the MBR's 4 slots for KILN_PT_MBR.  Sorted by number,
         * unused entries left out. */
        struct kiln_pt_part parts[KILN_PT_MAX_PARTS];
        uint32_t n_parts;
};

/*
 * Parse a whole disk held in memory (an image, a test buffer): LBA 0 is at
 * buf, the last LBA ends at buf + len (rounded down to a whole sector).
 * sector_size is 512 or 4096.  Returns 0 and fills *ret (kind may be
 * KILN_PT_NONE), or -EINVAL for an unsupported sector size; *ret is written
 * only on success.
 */
int kiln_parttable_parse(const void *buf, size_t len, uint32_t sector_size, struct kiln_parttable *ret);

/*
 * The same over the two ends of a disk of disk_sectors sectors, as kiln-init
 * reads it: head holds LBA 0 onwards, tail ends at the disk's last byte.
 * They may overlap on a small disk.  A structure that lies outside both is
 * reported as a problem ("... outside the bytes read").  -EINVAL when either
 * end is longer than the disk or the sector size is not 512 or 4096.
 */
int kiln_parttable_parse_ends(const void *head, size_t head_len, const void *tail, size_t tail_len,
                              uint64_t disk_sectors, uint32_t sector_size, struct kiln_parttable *ret);

/* The partition with that number, or NULL. */
const struct kiln_pt_part *kiln_parttable_find(const struct kiln_parttable *t, uint32_t number);

/* "gpt", "mbr", "none". */
const char *kiln_pt_kind_to_string(enum kiln_pt_kind k);

#endif
