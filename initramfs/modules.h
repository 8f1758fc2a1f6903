/* SPDX-License-Identifier: MIT */
/*
 * The kernel modules kiln's initramfs carries, and the initramfs itself.
 *
 * kiln_modules_resolve() takes the names of the modules wanted (the default
 * list below plus any extra a spec names) and finds, in the rootfs's
 * lib/modules/VERSION: each module's file, the modules it depends on (from
 * modules.dep when depmod has run, else from each module's own .modinfo
 * depends=), and which names are built into the kernel (modules.builtin,
 * and aliases from modules.builtin.modinfo) and so need no file.  Names that
 * are no module are tried as aliases ("iso9660" is isofs): modules.alias when
 * depmod has run, else every module's .modinfo alias= (read only when a name
 * does not resolve otherwise: about 35 ms for Debian's 1121 uncompressed
 * modules from the page cache, more when every one must be unxz'ed first).
 * softdep= "pre:" modules are loaded before the module, "post:" after it,
 * both only when the kernel has them (a line in notes otherwise).  A name
 * found nowhere is listed as missing, not an error.
 *
 * Modules are carried decompressed (.ko.xz, .ko.zst and .ko.gz are unpacked,
 * and named .ko in the initramfs): finit_module(MODULE_INIT_COMPRESSED_FILE)
 * needs CONFIG_MODULE_DECOMPRESS and the kernel's support for that very
 * compression, which a kernel built without module compression (Debian's
 * bookworm kernels: CONFIG_MODULE_COMPRESS_NONE) lacks.
 *
 * Rootfs access goes through a small callback table so that the builder can
 * hand in its in-memory tree and tests a host folder.
 */
#ifndef KILN_INITRAMFS_MODULES_H
#define KILN_INITRAMFS_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_MODULE_MAX_FILE (256u << 20)  /* a module, compressed or not */
#define KILN_MODULE_MAX_INDEX (64u << 20)  /* modules.dep, .alias, .builtin[.modinfo] */
#define KILN_MODULE_MAX_WANTED 4096u
#define KILN_MODULE_MAX_LOADED 4096u       /* modules in one closure */

/*
 * The rootfs, read-only.  Paths are relative to the rootfs root, no leading
 * '/' ("lib/modules/6.1.0-56-cloud-amd64/modules.dep"), and resolve symlinks
 * inside the rootfs (a merged-/usr rootfs has lib -> usr/lib).
 */
struct kiln_modsrc {
        /* A regular file's whole content (malloc'd); -ENOENT when absent,
         * -EFBIG when larger than max. */
        int (*read)(void *ud, const char *path, size_t max, uint8_t **ret, size_t *ret_len);
        /* Call fn for every regular file below the folder dir (at any depth,
         * any order) with its path relative to dir ("kernel/fs/fat/vfat.ko");
         * a negative return from fn stops the walk and is returned. -ENOENT
         * when dir is absent. */
        int (*list)(void *ud, const char *dir, int (*fn)(void *ctx, const char *rel), void *ctx);
        void *ud;
};

/* A host folder as a kiln_modsrc (follows the host's symlinks: for trusted
 * folders, such as the tests' unpacked kernels).  root must outlive src. */
void kiln_modsrc_host_dir(const char *root, struct kiln_modsrc *ret);

/*
 * What a Debian/EC2-style cloud image needs in its initramfs to reach its
 * root and seed disks and the network on KVM, Nitro and Xen HVM: virtio PCI
 * disks and NICs, virtio-scsi disks (sd_mod) and CD-ROMs (sr_mod), NVMe (EBS
 * and instance store on Nitro), xen-blkfront and xen-netfront, ENA, and the
 * NoCloud seed's file systems: vfat with the code pages it loads at mount
 * (cp437 and the iocharset: "ascii" on Debian, "iso8859-1" upstream) and
 * iso9660.  NULL-terminated.
 */
extern const char *const kiln_initramfs_default_modules[];

struct kiln_module {
        char *name;     /* normalised ('_'): "virtio_blk" */
        char *path;     /* in the initramfs, no leading '/': "lib/modules/V/kernel/.../virtio_blk.ko" */
        char *src_path; /* in the rootfs: "lib/modules/V/kernel/.../virtio_blk.ko.xz" */
        char *vermagic; /* from .modinfo; NULL when absent */
        char **deps;    /* included modules it loads after (sorted): its depends= (with modules.dep:
                         * all it needs, transitively), softdep pre:, and modules whose softdep
                         * post: names it */
        size_t n_deps;
        uint8_t *data;  /* the module, decompressed */
        size_t len;
        bool wanted;    /* named in the wanted list (or an alias of a name there) */
};

struct kiln_modules {
        char *version;
        struct kiln_module *mods; /* load order: every module after all it depends on */
        size_t n_mods;
        char **builtin;           /* names wanted or needed and built into the kernel, sorted */
        size_t n_builtin;
        char **missing;           /* names wanted or needed and found nowhere, sorted */
        size_t n_missing;
        char **notes;             /* one line each, in the order found: "iso9660: alias of isofs" */
        size_t n_notes;
        bool from_modules_dep;    /* dependencies came from modules.dep, not .modinfo */
        uint64_t total_bytes;     /* sum of len */
};

/*
 * Resolve wanted[0..n_wanted) (names with '-' or '_'; duplicates ignored)
 * against lib/modules/VERSION of src.  -ENOENT with a message when that
 * folder is absent (a folder without any module is fine: everything is then
 * built in or missing); -EBADMSG for a module that is not one (or does not
 * unpack), -EIO for a module modules.dep names but the rootfs lacks,
 * -ELOOP for a cycle of hard dependencies, -E2BIG past the limits.  The
 * order is deterministic: by dependency depth, then by name.
 */
int kiln_modules_resolve(const struct kiln_modsrc *src, const char *version, const char *const *wanted,
                         size_t n_wanted, struct kiln_modules *ret);
void kiln_modules_free(struct kiln_modules *m);

/* "lib/modules/VERSION/kiln.load": the load order for kiln-init. */
int kiln_modules_load_path(const struct kiln_modules *m, char **ret);
/* Its content: one absolute path per line ("/lib/modules/V/kernel/.../virtio.ko\n"),
 * dependencies first; empty when there is no module. */
int kiln_modules_load_list(const struct kiln_modules *m, char **ret, size_t *ret_len);

/*
 * e2fsck for kiln-init, from the rootfs: kiln-init checks the root with it
 * before writing (kiln-init(8)).  The rootfs's sbin/e2fsck (else
 * usr/sbin/e2fsck), carried as sbin/e2fsck, with everything it needs to run
 * in the initramfs, each resolved inside the rootfs (its symlinks followed
 * there, never the build host's): its ELF interpreter (PT_INTERP, the
 * dynamic loader, at that path) and the shared libraries its DT_NEEDED
 * entries name, transitively (the loader's own name, which libc names, is
 * the loader), each at the path the loader finds it by
 * without an ld.so.cache: the object's DT_RUNPATH/DT_RPATH folders (absolute
 * ones), then lib/TRIPLET and usr/lib/TRIPLET (Debian's multiarch folder for
 * the ELF machine: x86_64-linux-gnu, aarch64-linux-gnu, ...), lib64 and
 * usr/lib64 (64-bit), lib and usr/lib; a candidate of another ELF class or
 * machine is passed over, as the loader passes it over.  A static e2fsck
 * (e2fsck.static installed as e2fsck) is carried alone.  The rootfs's
 * etc/e2fsck.conf comes too, when there is one.
 *
 * Returns 1 with *ret filled; 0 when the rootfs has no e2fsck (*ret empty);
 * -errno with a message, *ret empty, when it cannot be carried: -EBADMSG
 * when e2fsck or a library is not a valid ELF file, -ENOENT when a library
 * or the interpreter is nowhere in the rootfs, -E2BIG past the limits below.
 */
#define KILN_INITRAMFS_MAX_PROG_FILES 64u   /* e2fsck, its loader and libraries */
#define KILN_INITRAMFS_MAX_PROG_BYTES (64u << 20)

struct kiln_initramfs_file {
        char *path;     /* in the initramfs, no leading '/': "lib/x86_64-linux-gnu/libc.so.6" */
        char *src_path; /* the rootfs path it was read by (its symlinks followed): "usr/sbin/e2fsck" */
        unsigned mode;  /* permission bits: 0755, 0644 for the configuration */
        uint8_t *data;
        size_t len;
};

struct kiln_initramfs_files {
        struct kiln_initramfs_file *files; /* e2fsck first, then in the order found */
        size_t n_files;
        uint64_t total_bytes;
};

int kiln_initramfs_e2fsck(const struct kiln_modsrc *src, struct kiln_initramfs_files *ret);
void kiln_initramfs_files_free(struct kiln_initramfs_files *f);

/*
 * kiln's initramfs, as a cpio newc archive compressed with zstd (cpio.h):
 *   init                            the given bytes, 0755 (kiln-init, static)
 *   dev/console                     c 5 1, 0600: the kernel opens it for
 *                                   init's stdin/out/err before /init runs,
 *                                   before anyone can mount devtmpfs
 *   dev proc sys run tmp            mount points (tmp 1777)
 *   lib/modules/V/kernel/...ko      the modules, decompressed (modules may be NULL)
 *   lib/modules/V/kiln.load         their load order
 *   sbin/e2fsck, its loader and libraries (files may be NULL)
 * Every mtime is mtime (SOURCE_DATE_EPOCH or the build time), clamped to
 * clamp (-1: none).  ret_raw_len (may be NULL): the cpio size before zstd.
 */
struct kiln_initramfs_opts {
        const void *init;
        size_t init_len;
        const struct kiln_modules *modules;
        const struct kiln_initramfs_files *files;
        int64_t mtime;
        int64_t clamp;
        int level;   /* 0: KILN_ZSTD_LEVEL */
        int workers; /* zstd worker threads for large archives; 0 none */
};
int kiln_initramfs_make(const struct kiln_initramfs_opts *o, uint8_t **ret, size_t *ret_len, size_t *ret_raw_len);

#endif
