/* SPDX-License-Identifier: MIT */
/*
 * YAML read as cloud-init's PyYAML reads it, for the parsers of
 * cloud-init-lite (#cloud-config, network-config).  Pure and bounded.
 *
 *   1. kiln_yaml_load(): libyaml events -> a tree of struct kiln_ynode in
 *      one arena, with limits on depth, node count, entries and string
 *      length.  Anchors and aliases as PyYAML has them: an alias points at
 *      its anchored node (shared, never copied); an alias to a node still
 *      being read (a recursive structure) is refused.  One document at most.
 *      Tags: the YAML 1.1 core ones and !!binary; any other tag is refused.
 *   2. The walk: mappings read through kiln_yaml_entries(), which applies
 *      "<<" merge keys; scalars resolved as PyYAML resolves them (YAML 1.1:
 *      plain 0644 is octal 420, yes/no/on/off are booleans, 1:30 is 90).
 *      Because aliases let a small document reach a big tree, every node
 *      visited, byte copied and key compared is charged to a budget kept in
 *      struct kiln_yaml: "billion laughs" ends with a message.
 *
 * Errors are -EBADMSG with "NAME:LINE: message" in kiln_last_error() (or
 * "NAME:LINE: key 'PATH': message" when the walk has a path), -ENOMEM with
 * "NAME: out of memory".
 */
#ifndef KILN_CLOUD_INIT_LITE_YAMLTREE_H
#define KILN_CLOUD_INIT_LITE_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define KILN_YAML_MAX_DEPTH 64          /* the deepest any caller may allow */
#define KILN_YAML_MAX_NODES (1u << 17)
#define KILN_YAML_MAX_ANCHORS 1024
#define KILN_YAML_MAX_WORK (1u << 20)   /* nodes visited by the walk */
#define KILN_YAML_MAX_COPIED (64u << 20) /* bytes of strings copied out */
#define KILN_YAML_MAX_COMPARED (64u << 20) /* key comparisons while merging mappings */
#define KILN_YAML_MAX_MERGE_DEPTH 8     /* "<<" inside merged mappings */

#define KILN_YAML_PATH_SIZE 192         /* a key path for messages: "users[2].sudo" */
#define KILN_YAML_SHOW_BYTES 40         /* of a value quoted in a message */
#define KILN_YAML_SHOW_SIZE (KILN_YAML_SHOW_BYTES * 4 + 8)

enum kiln_ynode_type { KILN_YNODE_SCALAR, KILN_YNODE_SEQUENCE, KILN_YNODE_MAPPING };

/* An explicit tag (!!str ...); NONE for untagged (and "!") nodes. */
enum kiln_ytag {
        KILN_YTAG_NONE,
        KILN_YTAG_STR,
        KILN_YTAG_INT,
        KILN_YTAG_BOOL,
        KILN_YTAG_NULL,
        KILN_YTAG_BINARY,
        KILN_YTAG_FLOAT,
};

struct kiln_ynode {
        enum kiln_ynode_type type;
        enum kiln_ytag tag;
        bool plain;             /* a plain (unquoted) scalar without a tag */
        bool complete;          /* read to its end: an alias may point here */
        size_t line;            /* 1-based */
        char *str;              /* a scalar's text, NUL-terminated (no NUL inside) */
        size_t len;
        struct kiln_ynode **items; /* a sequence's items; a mapping's key, value, key, ... */
        size_t n_items, alloc;
        struct kiln_ynode *arena_next;
};

/* What one document may hold. */
struct kiln_yaml_limits {
        unsigned max_depth;     /* nesting of collections, <= KILN_YAML_MAX_DEPTH */
        unsigned max_items;     /* entries of one list or mapping */
        size_t max_scalar;      /* bytes of one scalar */
};

/* A loaded document and the budget of walking it. */
struct kiln_yaml {
        const char *name;       /* for messages ("user-data part 2"); not owned */
        struct kiln_ynode *root; /* NULL: no document (empty input, comments only) */
        unsigned max_items;
        size_t work, copied, compared;
        struct kiln_ynode *arena; /* every node, for kiln_yaml_free() */
};

/* Load buf[0..len) (no NUL needed).  On error y is left empty (free-safe). */
int kiln_yaml_load(struct kiln_yaml *y, const char *name, const void *buf, size_t len,
                   const struct kiln_yaml_limits *limits);
void kiln_yaml_free(struct kiln_yaml *y);

/* --- messages ---------------------------------------------------------- */

/* -EBADMSG with "NAME:LINE: message". */
int kiln_yaml_errorf(const char *name, size_t line, const char *fmt, ...) _printf_(3, 4);
/* -EBADMSG with "NAME:LINE: key 'PATH': message" ("NAME:LINE: message" for an empty path). */
int kiln_yaml_path_error(const char *name, const struct kiln_ynode *at, const char *path, const char *fmt, ...)
        _printf_(4, 5);
/* -ENOMEM with "NAME: out of memory". */
int kiln_yaml_oom(const struct kiln_yaml *y);
/* The 1-based line of byte offset in buf. */
size_t kiln_yaml_line_at(const char *buf, size_t len, size_t offset);
/* s[0..len) for a message: at most KILN_YAML_SHOW_BYTES bytes (then "..."),
 * control characters as \xNN; out should hold KILN_YAML_SHOW_SIZE bytes. */
void kiln_yaml_show(const char *s, size_t len, char *out, size_t size);
/* path + "." + key (key alone for an empty or NULL path), cut short to fit. */
void kiln_yaml_subpath(char out[KILN_YAML_PATH_SIZE], const char *path, const char *key);
/* path + "[i]". */
void kiln_yaml_indexpath(char out[KILN_YAML_PATH_SIZE], const char *path, size_t i);

/* --- the walk ---------------------------------------------------------- */

/* Charge one visit of node at and bytes copied out of the tree to the budget. */
int kiln_yaml_charge(struct kiln_yaml *y, const struct kiln_ynode *at, size_t bytes);

/* A mapping's entries with "<<" merges done: explicit keys win over merged
 * ones, a later duplicate over an earlier one, earlier merge sources over
 * later ones (YAML 1.1 merge).  In document order of first appearance;
 * every key is a scalar that is not null. */
struct kiln_yaml_entry {
        const char *key;
        const struct kiln_ynode *k, *v;
};

struct kiln_yaml_entries {
        struct kiln_yaml_entry *e;
        size_t n;
};

int kiln_yaml_entries(struct kiln_yaml *y, const struct kiln_ynode *m, const char *path,
                      struct kiln_yaml_entries *ret);
void kiln_yaml_entries_free(struct kiln_yaml_entries *es);

/* --- scalars as PyYAML resolves them ----------------------------------- */

/* null, ~, Null, NULL, the empty plain scalar, or !!null. */
bool kiln_ynode_is_null(const struct kiln_ynode *v);
/* YAML 1.1 booleans (PyYAML's list, without y/n): 1, 0, or -1 when not one.
 * Quoted words count too: cloud-init tests strings with util.is_true(). */
int kiln_ynode_bool(const struct kiln_ynode *v);
/* YAML 1.1 integers: 0b..., 0... (octal), 0x..., decimal, '_' after the
 * first digit, base 60 (1:30).  Only plain scalars, or !!int. */
bool kiln_ynode_int(const struct kiln_ynode *v, long long *ret);
/* "a list", "a mapping", "a string": for messages. */
const char *kiln_ynode_kind(const struct kiln_ynode *v);

/* --- typed values: charged, with "key 'PATH': ..." messages ------------ */

/* Any scalar's text ("hostname: 42" is "42"), not null, not !!binary.
 * *ret is replaced (the old value freed) on success. */
int kiln_yaml_get_string(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, char **ret);
/* The same, or NULL for null. */
int kiln_yaml_get_opt_string(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, char **ret);
int kiln_yaml_get_bool(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, bool *ret);
/* A list of strings (an empty list is a non-NULL empty array); a single
 * string is a one-entry list when allow_string.  NULL-terminated. */
int kiln_yaml_get_strv(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, bool allow_string,
                       char ***ret);

#endif
