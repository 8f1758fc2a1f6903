/* SPDX-License-Identifier: MIT */
/*
 * A kernel module's .modinfo, read from the module's bytes: a pure parser
 * over a buffer (no I/O), with bounds checks on every offset and hard
 * limits on counts.  tests/fuzz/fuzz-modinfo.c runs it on arbitrary bytes.
 *
 * A module (.ko) is an ELF64 relocatable object; its .modinfo section is a
 * run of NUL-terminated "key=value" strings (depends=, name=, vermagic=,
 * alias=, softdep=, license=, ...), padded with NULs.
 * modules.builtin.modinfo is the same run with "module.key=value" entries.
 */
#ifndef KILN_INITRAMFS_MODINFO_H
#define KILN_INITRAMFS_MODINFO_H

#include <stdbool.h>
#include <stddef.h>

#define KILN_MODINFO_MAX_SECTIONS (1u << 20) /* section headers looked at */
#define KILN_MODINFO_MAX_ALIASES 65536u
#define KILN_MODINFO_MAX_SOFTDEPS 64u

struct kiln_modinfo {
        char *name;      /* name=, NULL when absent (older kernels wrote none) */
        char *depends;   /* depends=: "virtio,virtio_ring"; "" when it says nothing; NULL when absent */
        char *vermagic;  /* vermagic=: "6.1.0-56-cloud-amd64 SMP preempt mod_unload modversions " */
        char **softdeps; /* every softdep= value: "pre: crc32c" */
        size_t n_softdeps;
        char **aliases;  /* every alias= value (patterns: "fs-vfat", "pci:v00001AF4d*...") */
        size_t n_aliases;
};

/*
 * Find .modinfo in an ELF64 file (either byte order) and parse it.  The first
 * of each single-valued key wins.  Errors (ret untouched, message set):
 * -EBADMSG not ELF or malformed (offsets past the end, names unterminated),
 * -EOPNOTSUPP ELF32, -ENOENT no .modinfo section, -E2BIG past a limit above,
 * -ENOMEM.
 */
int kiln_modinfo_parse(const void *buf, size_t len, struct kiln_modinfo *ret);
void kiln_modinfo_free(struct kiln_modinfo *mi);

/*
 * Iterate over the "key=value" entries of a .modinfo-style run: *pos starts
 * at 0; returns 1 with key/value (not NUL-terminated: lengths given) for each
 * entry, 0 at the end.  Empty strings (padding) and strings without '=' are
 * skipped; a last string without its NUL still counts.
 */
int kiln_modinfo_next(const char *buf, size_t len, size_t *pos, const char **ret_key, size_t *ret_key_len,
                      const char **ret_value, size_t *ret_value_len);

/* Module names treat '-' and '_' alike: write name with every '-' made '_'. */
void kiln_module_name_normalize(char *name);
/* Equal as module names: '-' and '_' match each other. */
bool kiln_module_name_eq(const char *a, const char *b);

#endif
