/* SPDX-License-Identifier: MIT */
/*
 * The in-memory tree: what a rootfs reader produces and the filesystem writer
 * consumes.  Dentries name inodes; hardlinks are dentries sharing an inode.
 * Regular-file data is described, not held: a run of segments in a source
 * file (a file of the rootfs directory, or the spool a tarball was read into).
 */
#ifndef KILN_TREE_H
#define KILN_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct kiln_xattr {
        char *name;
        void *value;
        size_t len;
};

/* Bytes [off, off+len) of the file live at src_off in the source; the rest
 * of the file's size is holes. */
struct kiln_segment {
        uint64_t off, len, src_off;
};

enum kiln_data_kind {
        KILN_DATA_NONE,  /* not a regular file, or empty */
        KILN_DATA_PATH,  /* read from src_path (relative to the rootfs folder) */
        KILN_DATA_SPOOL, /* segments point into the tree's spool */
        KILN_DATA_MEM,   /* mem holds the whole content (files kiln makes) */
};

struct kiln_inode {
        mode_t mode;               /* type and permission bits */
        uid_t uid;
        gid_t gid;
        struct timespec atime, mtime, ctime;
        uint64_t size;
        dev_t rdev;
        char *symlink;             /* target, for symlinks */
        struct kiln_xattr *xattrs; /* sorted by name */
        size_t n_xattrs;
        enum kiln_data_kind data;
        char *src_path;
        dev_t src_dev;             /* KILN_DATA_PATH: the file the walk found there */
        ino_t src_ino;
        uint8_t *mem;              /* KILN_DATA_MEM, owned */
        struct kiln_segment *segs; /* KILN_DATA_SPOOL: n_segs entries */
        size_t n_segs;
        uint64_t alloc_bytes;      /* bytes of data, holes excluded (sizing) */
        uint32_t nlink;            /* dentries naming it (set by finalize) */
        uint32_t ino;              /* ext4 inode number, assigned by the writer */
        void *writer;              /* scratch for the filesystem writer */
};

struct kiln_dentry {
        char *name;
        struct kiln_dentry *parent;
        struct kiln_inode *inode;
        struct kiln_dentry **children; /* directories: sorted by name after finalize */
        size_t n_children, cap_children;
        uint32_t n_subdirs;
        bool removed;
};

struct kiln_tree {
        struct kiln_dentry *root;
        /* The spool: tarball data, in memory up to spool_mem_cap bytes, then
         * in an unlinked file (offsets past spool_mem_cap, shifted down). */
        uint8_t *spool_mem;
        uint64_t spool_mem_cap, spool_mem_len;
        int spool_fd;        /* -1 when unused */
        int src_dirfd;       /* the rootfs folder, for KILN_DATA_PATH; -1 when unused */
        char *src_root;      /* its path, for messages */
        size_t n_dentries, n_inodes;
        uint64_t data_bytes; /* sum of alloc_bytes */
        struct timespec default_time; /* for folders made up to hold a path */
        /* path lookup: open addressing on (parent, name) */
        struct kiln_dentry **hash;
        size_t hash_cap, hash_used;
};

int kiln_tree_new(struct kiln_tree **ret);
void kiln_tree_free(struct kiln_tree *t);

/* A fresh inode owned by the tree, zeroed except nlink = 0. */
struct kiln_inode *kiln_tree_new_inode(struct kiln_tree *t);

/* Look up a child by name; NULL if absent. */
struct kiln_dentry *kiln_tree_child(struct kiln_tree *t, struct kiln_dentry *dir, const char *name);

/*
 * Resolve a relative path ("a/b/c", no leading "/", "." components skipped;
 * ".." is refused with -EINVAL).  With create, missing intermediate folders
 * are made (mode 0755, owned by root, times 0) and the last component is
 * created with the given inode (replacing an existing non-directory entry;
 * an existing directory keeps its children and takes the new inode's
 * attributes).  Returns -ENOENT / -ENOTDIR when not found without create.
 */
int kiln_tree_lookup(struct kiln_tree *t, const char *path, struct kiln_dentry **ret);
/* Like lookup, but symlinks on the way (and at the end) are followed
 * inside the tree, as a merged-/usr rootfs needs (lib -> usr/lib). */
int kiln_tree_lookup_follow(struct kiln_tree *t, const char *path, struct kiln_dentry **ret);
int kiln_tree_add(struct kiln_tree *t, const char *path, struct kiln_inode *inode,
                  struct kiln_dentry **ret);

/* Add name under dir (no lookup of parents; name must not exist). */
int kiln_tree_add_child(struct kiln_tree *t, struct kiln_dentry *dir, const char *name,
                        struct kiln_inode *inode, struct kiln_dentry **ret);

/* Drop a dentry (and, for folders, everything beneath it) from the tree. */
void kiln_tree_remove(struct kiln_tree *t, struct kiln_dentry *d);

/* Write the dentry's path ("/etc/passwd") into buf. */
void kiln_tree_path(const struct kiln_dentry *d, char *buf, size_t len);

/* Sort children, count links and subfolders, total the data; call once
 * after reading and scrubbing. */
int kiln_tree_finalize(struct kiln_tree *t);

/* Visit every dentry in sorted depth-first order (parents first). */
int kiln_tree_walk(struct kiln_tree *t, int (*fn)(struct kiln_dentry *d, void *ud), void *ud);

/*
 * Open a KILN_DATA_PATH inode's source file for reading, as the walk found
 * it: beneath the rootfs folder with no symbolic link on the way, without
 * blocking (a FIFO), and only if it is the same regular file (device and
 * inode).  Errors name the file: "cannot read rootfs file 'ROOT/PATH': ...".
 */
int kiln_tree_open_source(struct kiln_tree *t, const struct kiln_inode *inode, int *ret_fd);

/* Read a regular file's whole content (holes as zeros); at most max bytes. */
int kiln_tree_read_file(struct kiln_tree *t, const struct kiln_inode *inode, size_t max, uint8_t **ret,
                        size_t *ret_len);

/* Add (or replace) a regular file made by kiln, taking a copy of data. */
int kiln_tree_put_file(struct kiln_tree *t, const char *path, mode_t mode, const void *data, size_t len,
                       struct timespec when, struct kiln_inode **ret);

/* Take ownership of an xattr; keeps the list sorted, replaces same name. */
int kiln_inode_set_xattr(struct kiln_inode *inode, const char *name, const void *value, size_t len);

/* Clamp every timestamp to at most epoch (SOURCE_DATE_EPOCH). */
void kiln_tree_clamp_times(struct kiln_tree *t, time_t epoch);

/* Readers. */
int kiln_rootfs_read_dir(struct kiln_tree *t, const char *path);
/* spool_dir: where the data spool goes (an unlinked file). */
int kiln_rootfs_read_tar(struct kiln_tree *t, const char *path, const char *spool_dir);

#endif
