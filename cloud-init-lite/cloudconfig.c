/* SPDX-License-Identifier: MIT */
/*
 * #cloud-config: YAML bytes -> struct kiln_cloud_config.  Pure, bounded.
 *
 *   1. libyaml events -> a tree of nodes in one arena, with limits on depth,
 *      node count and string length.  Anchors and aliases are supported, as
 *      cloud-init's PyYAML supports them: an alias points at its anchored
 *      node (shared, never copied); an alias to a node still being read (a
 *      recursive structure) is refused.  The YAML 1.1 merge key "<<" works
 *      in mappings.  Because aliases can make a small document reach a big
 *      tree, every node the schema walk visits and every byte it copies is
 *      charged to a budget ("billion laughs" ends with a message).
 *   2. The tree -> the struct, one handler per top-level key, with
 *      cloud-init's meaning and accepted shapes (its module reference).
 *      Scalars are resolved as PyYAML resolves them (YAML 1.1): plain 0644
 *      is octal 420, yes/no/on/off are booleans.  String-valued keys take
 *      any scalar's text ("hostname: 42" is "42").
 *
 * The document is parsed into a fresh struct; only on success are the keys
 * it holds moved into the caller's, replacing what earlier documents set.
 */
#include "cloudconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "userdata.h"
#include "util.h"

#define MAX_NODES (1u << 17)
#define MAX_ANCHORS 1024
#define MAX_SCALAR (KILN_CC_MAX_BYTES)
#define MAX_WORK (1u << 20)            /* nodes visited by the schema walk */
#define MAX_COPIED (64u << 20)          /* bytes of strings copied out */
#define MAX_COMPARED (64u << 20)        /* key comparisons while merging mappings */
#define MAX_MERGE_DEPTH 8               /* "<<" inside merged mappings */
#define PATH_SIZE 192
#define SHOW_BYTES 40

/* --- Step 1: the node tree ---------------------------------------------- */

enum ynode_type { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };
enum ytag { TAG_NONE, TAG_STR, TAG_INT, TAG_BOOL, TAG_NULL, TAG_BINARY, TAG_FLOAT, TAG_COLLECTION };

struct ynode {
        enum ynode_type type;
        enum ytag tag;
        bool plain;
        bool complete;          /* an alias may point here */
        size_t line;            /* 1-based */
        char *str;
        size_t len;
        struct ynode **items;   /* a mapping's alternate key, value, key, ... */
        size_t n_items, alloc;
        struct ynode *arena_next;
};

struct anchor {
        char *name;
        struct ynode *node;
};

struct loader {
        const char *name;
        const char *buf;
        size_t len;
        struct ynode *arena;
        struct ynode *root;
        struct ynode *stack[KILN_CC_MAX_DEPTH];
        const char *stack_anchor[KILN_CC_MAX_DEPTH]; /* owned by anchors[] */
        size_t depth, n_nodes;
        struct anchor anchors[MAX_ANCHORS];
        size_t n_anchors;
        bool seen_document, done;
};

static void arena_free(struct ynode *n)
{
        while (n) {
                struct ynode *next = n->arena_next;

                free(n->str);
                free(n->items);
                free(n);
                n = next;
        }
}

static void loader_free(struct loader *l)
{
        arena_free(l->arena);
        for (size_t i = 0; i < l->n_anchors; i++)
                free(l->anchors[i].name);
        l->arena = l->root = NULL;
        l->n_anchors = 0;
}

/* Messages stay on one line and short whatever the input holds. */
static void show(const char *s, size_t len, char *out, size_t size)
{
        size_t n = MIN(len, (size_t)SHOW_BYTES), o = 0;

        if (n < len)
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
        for (size_t i = 0; i < n && o + 8 < size; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c < 0x20 || c == 0x7f)
                        o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
                else
                        out[o++] = (char)c;
        }
        if (n < len && o + 4 < size) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o] = 0;
}

static int errorf_line(const char *name, size_t line, const char *fmt, ...) _printf_(3, 4);
static int errorf_line(const char *name, size_t line, const char *fmt, ...)
{
        char msg[768];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        kiln_errorf(-EBADMSG, "%s:%zu: %s", name, line, msg);
        return -EBADMSG;
}

static size_t line_at_offset(const char *buf, size_t len, size_t offset)
{
        size_t line = 1;

        for (size_t i = 0; i < offset && i < len; i++)
                if (buf[i] == '\n')
                        line++;
        return line;
}

static int yaml_error(const struct loader *l, const yaml_parser_t *p)
{
        const char *problem = p->problem ? p->problem : "unknown error";
        size_t line;

        if (p->error == YAML_MEMORY_ERROR)
                return kiln_errorf(-ENOMEM, "%s: out of memory while reading YAML", l->name);
        if (p->error == YAML_READER_ERROR)
                line = line_at_offset(l->buf, l->len, p->problem_offset);
        else
                line = p->problem_mark.line + 1;
        if (p->context)
                return errorf_line(l->name, line, "invalid YAML: %s (%s on line %zu)", problem, p->context,
                                   p->context_mark.line + 1);
        return errorf_line(l->name, line, "invalid YAML: %s", problem);
}

static int node_append(struct loader *l, struct ynode *parent, struct ynode *child, size_t line)
{
        if (parent->n_items == parent->alloc) {
                size_t n = parent->alloc ? parent->alloc * 2 : 8;
                struct ynode **p;

                /* A mapping holds two nodes per entry. */
                if (parent->n_items >= 2 * (size_t)KILN_CC_MAX_ITEMS)
                        return errorf_line(l->name, line, "more than %d entries in one %s", KILN_CC_MAX_ITEMS,
                                           parent->type == YNODE_MAPPING ? "mapping" : "list");
                p = realloc(parent->items, n * sizeof(*p));
                if (!p)
                        return kiln_errorf(-ENOMEM, "%s: out of memory", l->name);
                parent->items = p;
                parent->alloc = n;
        }
        if (parent->type == YNODE_SEQUENCE && parent->n_items >= KILN_CC_MAX_ITEMS)
                return errorf_line(l->name, line, "more than %d entries in one list", KILN_CC_MAX_ITEMS);
        parent->items[parent->n_items++] = child;
        return 0;
}

/* Put a node (new, or an alias's target) where the document has it. */
static int place(struct loader *l, struct ynode *n, size_t line)
{
        if (l->depth == 0) {
                if (l->root)
                        return errorf_line(l->name, line, "more than one root node");
                l->root = n;
                return 0;
        }
        return node_append(l, l->stack[l->depth - 1], n, line);
}

static int new_node(struct loader *l, enum ynode_type type, size_t line, struct ynode **ret)
{
        struct ynode *n;

        if (l->n_nodes >= MAX_NODES)
                return errorf_line(l->name, line, "too many YAML nodes (limit %u)", MAX_NODES);
        n = calloc(1, sizeof(*n));
        if (!n)
                return kiln_errorf(-ENOMEM, "%s: out of memory", l->name);
        n->type = type;
        n->line = line;
        n->arena_next = l->arena;
        l->arena = n;
        l->n_nodes++;
        *ret = n;
        return 0;
}

static int resolve_tag(const struct loader *l, size_t line, const yaml_char_t *tag, bool collection,
                       enum ytag *ret)
{
        static const struct {
                const char *name;
                enum ytag tag;
        } tags[] = {
                { YAML_STR_TAG, TAG_STR },     { YAML_INT_TAG, TAG_INT },
                { YAML_BOOL_TAG, TAG_BOOL },   { YAML_NULL_TAG, TAG_NULL },
                { YAML_FLOAT_TAG, TAG_FLOAT }, { "tag:yaml.org,2002:binary", TAG_BINARY },
                { YAML_SEQ_TAG, TAG_COLLECTION }, { YAML_MAP_TAG, TAG_COLLECTION },
                { "!", TAG_NONE },
        };
        char s[SHOW_BYTES * 4 + 8];

        *ret = TAG_NONE;
        if (!tag)
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(tags); i++)
                if (!strcmp((const char *)tag, tags[i].name)) {
                        if ((tags[i].tag == TAG_COLLECTION) != collection && tags[i].tag != TAG_NONE)
                                break;
                        *ret = tags[i].tag == TAG_COLLECTION ? TAG_NONE : tags[i].tag;
                        return 0;
                }
        show((const char *)tag, strlen((const char *)tag), s, sizeof(s));
        return errorf_line(l->name, line, "unsupported YAML tag '%s'", s);
}

static int add_anchor(struct loader *l, size_t line, const yaml_char_t *name, struct ynode *n)
{
        char *copy;

        if (!name)
                return 0;
        /* A later anchor of the same name hides the earlier one. */
        for (size_t i = l->n_anchors; i-- > 0;)
                if (!strcmp(l->anchors[i].name, (const char *)name)) {
                        l->anchors[i].node = n;
                        return 0;
                }
        if (l->n_anchors >= MAX_ANCHORS)
                return errorf_line(l->name, line, "more than %d YAML anchors", MAX_ANCHORS);
        copy = strdup((const char *)name);
        if (!copy)
                return kiln_errorf(-ENOMEM, "%s: out of memory", l->name);
        l->anchors[l->n_anchors].name = copy;
        l->anchors[l->n_anchors].node = n;
        l->n_anchors++;
        return 0;
}

static int load_event(struct loader *l, const yaml_event_t *ev)
{
        size_t line = ev->start_mark.line + 1;
        struct ynode *n;
        int r;

        switch (ev->type) {
        case YAML_SCALAR_EVENT: {
                const char *value = (const char *)ev->data.scalar.value;
                size_t len = ev->data.scalar.length;

                if (len > MAX_SCALAR)
                        return errorf_line(l->name, line, "string longer than %u bytes", MAX_SCALAR);
                if (memchr(value, 0, len))
                        return errorf_line(l->name, line, "NUL byte in a string");
                r = new_node(l, YNODE_SCALAR, line, &n);
                if (r < 0)
                        return r;
                r = resolve_tag(l, line, ev->data.scalar.tag, false, &n->tag);
                if (r < 0)
                        return r;
                n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n->tag == TAG_NONE;
                n->str = strndup(value, len);
                if (!n->str)
                        return kiln_errorf(-ENOMEM, "%s: out of memory", l->name);
                n->len = len;
                n->complete = true;
                r = add_anchor(l, line, ev->data.scalar.anchor, n);
                if (r < 0)
                        return r;
                return place(l, n, line);
        }
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
                bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
                const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
                const yaml_char_t *anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
                enum ytag t;

                if (l->depth >= KILN_CC_MAX_DEPTH)
                        return errorf_line(l->name, line, "nesting deeper than %d levels", KILN_CC_MAX_DEPTH);
                r = new_node(l, seq ? YNODE_SEQUENCE : YNODE_MAPPING, line, &n);
                if (r < 0)
                        return r;
                r = resolve_tag(l, line, tag, true, &t);
                if (r < 0)
                        return r;
                r = place(l, n, line);
                if (r < 0)
                        return r;
                /* Registered now (so a later anchor of the same name hides
                 * it), usable by aliases once complete. */
                r = add_anchor(l, line, anchor, n);
                if (r < 0)
                        return r;
                l->stack[l->depth++] = n;
                return 0;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                if (l->depth == 0)
                        return errorf_line(l->name, line, "unbalanced end of collection");
                l->stack[--l->depth]->complete = true;
                return 0;
        case YAML_ALIAS_EVENT: {
                const char *name = (const char *)ev->data.alias.anchor;
                char s[SHOW_BYTES * 4 + 8];

                show(name, strlen(name), s, sizeof(s));
                for (size_t i = l->n_anchors; i-- > 0;)
                        if (!strcmp(l->anchors[i].name, name)) {
                                if (!l->anchors[i].node->complete)
                                        return errorf_line(l->name, line,
                                                           "alias '*%s' refers to a node that contains it", s);
                                return place(l, l->anchors[i].node, line);
                        }
                return errorf_line(l->name, line, "alias '*%s' has no anchor before it", s);
        }
        case YAML_DOCUMENT_START_EVENT:
                if (l->seen_document)
                        return errorf_line(l->name, line, "more than one YAML document (cloud-init reads one)");
                l->seen_document = true;
                return 0;
        case YAML_STREAM_END_EVENT:
                l->done = true;
                return 0;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
        case YAML_NO_EVENT:
                return 0;
        }
        return 0;
}

static int load_tree(struct loader *l)
{
        yaml_parser_t parser;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return kiln_errorf(-ENOMEM, "%s: out of memory", l->name);
        yaml_parser_set_input_string(&parser, (const unsigned char *)(l->buf ? l->buf : ""), l->len);
        while (!l->done) {
                yaml_event_t ev;

                if (!yaml_parser_parse(&parser, &ev)) {
                        r = yaml_error(l, &parser);
                        break;
                }
                r = load_event(l, &ev);
                yaml_event_delete(&ev);
                if (r < 0)
                        break;
        }
        yaml_parser_delete(&parser);
        return r;
}

/* --- Step 2: scalars as PyYAML resolves them ------------------------------ */

static bool is_null(const struct ynode *v)
{
        if (v->type != YNODE_SCALAR)
                return false;
        if (v->tag == TAG_NULL)
                return true;
        if (!v->plain)
                return false;
        return v->len == 0 || !strcmp(v->str, "~") || !strcmp(v->str, "null") || !strcmp(v->str, "Null") ||
               !strcmp(v->str, "NULL");
}

/* YAML 1.1 booleans (PyYAML's list, without y/n); -1 when not one.  Quoted
 * words count too: cloud-init's modules test strings with util.is_true(). */
static int bool_of(const struct ynode *v)
{
        static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
        static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };

        if (v->type != YNODE_SCALAR || v->tag == TAG_BINARY || v->tag == TAG_NULL)
                return -1;
        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (!strcmp(v->str, yes[i]))
                        return 1;
                if (!strcmp(v->str, no[i]))
                        return 0;
        }
        return -1;
}

/* Digits of base (2, 8, 10, 16) with '_' allowed; false on anything else. */
static bool digits(const char *s, size_t n, unsigned base, unsigned long long *ret)
{
        unsigned long long v = 0;
        bool any = false;

        for (size_t i = 0; i < n; i++) {
                unsigned d;
                char ch = s[i];

                if (ch == '_')
                        continue;
                if (ch >= '0' && ch <= '9')
                        d = (unsigned)(ch - '0');
                else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
                        d = (unsigned)((ch | 0x20) - 'a' + 10);
                else
                        return false;
                if (d >= base || v > ((1ull << 62) - d) / base)
                        return false;
                v = v * base + d;
                any = true;
        }
        *ret = v;
        return any;
}

/* YAML 1.1 integers as PyYAML reads them: 0b..., 0... (octal), 0x...,
 * decimal, '_' anywhere after the first digit, and base 60 (1:30).  Only
 * plain scalars, or !!int. */
static bool int_of(const struct ynode *v, long long *ret)
{
        unsigned long long n = 0;
        const char *s;
        bool neg = false;

        if (v->type != YNODE_SCALAR || (!v->plain && v->tag != TAG_INT) || v->len == 0)
                return false;
        s = v->str;
        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        if (*s == '_' || !*s)
                return false;
        if (s[0] == '0' && s[1] == 'b') {
                if (!digits(s + 2, strlen(s + 2), 2, &n))
                        return false;
        } else if (s[0] == '0' && s[1] == 'x') {
                if (!digits(s + 2, strlen(s + 2), 16, &n))
                        return false;
        } else if (s[0] == '0' && s[1]) {
                if (!digits(s + 1, strlen(s + 1), 8, &n))
                        return false;
        } else if (strchr(s, ':')) {
                /* [1-9][0-9_]*(:[0-5]?[0-9])+ */
                const char *colon = strchr(s, ':');
                unsigned long long part;

                if (s[0] == '0' || !digits(s, (size_t)(colon - s), 10, &n))
                        return false;
                while (colon) {
                        const char *p = colon + 1, *next = strchr(p, ':');
                        size_t len = next ? (size_t)(next - p) : strlen(p);

                        if (len < 1 || len > 2 || !digits(p, len, 10, &part) || part >= 60 ||
                            n > (1ull << 56))
                                return false;
                        n = n * 60 + part;
                        colon = next;
                }
        } else {
                if (!digits(s, strlen(s), 10, &n))
                        return false;
        }
        *ret = neg ? -(long long)n : (long long)n;
        return true;
}

/* --- Step 2: the walk ---------------------------------------------------- */

struct ctx {
        const char *name;
        struct kiln_cloud_config *cc;
        size_t work, copied, compared;
        size_t n_warnings, warnings_cap; /* of cc->warnings */
};

static int path_error(const char *name, const struct ynode *v, const char *path, const char *fmt, ...)
        _printf_(4, 5);
static int path_error(const char *name, const struct ynode *v, const char *path, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!*path)
                return errorf_line(name, v->line, "%s", msg);
        return errorf_line(name, v->line, "key '%s': %s", path, msg);
}

#define fail(c, v, path, ...) path_error((c)->name, v, path, __VA_ARGS__)

static int charge(struct ctx *c, const struct ynode *v, size_t bytes)
{
        c->work++;
        c->copied += bytes;
        if (c->work > MAX_WORK || c->copied > MAX_COPIED)
                return errorf_line(c->name, v->line,
                                   "the document expands to too much data (aliases used over and over?)");
        return 0;
}

static int oom(const struct ctx *c)
{
        return kiln_errorf(-ENOMEM, "%s: out of memory", c->name);
}

/* out = a + b, cut short to PATH_SIZE (paths only go into messages). */
static void join(char out[PATH_SIZE], const char *a, const char *b)
{
        size_t la = strnlen(a, PATH_SIZE - 1), lb = strnlen(b, PATH_SIZE - 1 - la);

        memmove(out, a, la);
        memcpy(out + la, b, lb);
        out[la + lb] = 0;
}

static void subpath(char out[PATH_SIZE], const char *path, const char *key)
{
        char s[SHOW_BYTES * 4 + 8];

        show(key, strlen(key), s + 1, sizeof(s) - 1);
        s[0] = '.';
        join(out, path ? path : "", path && *path ? s : s + 1);
}

static void indexpath(char out[PATH_SIZE], const char *path, size_t i)
{
        char s[32];

        snprintf(s, sizeof(s), "[%zu]", i);
        join(out, path, s);
}

static int add_warning(struct ctx *c, const char *fmt, ...) _printf_(2, 3);

static int strv_push(char ***v, char *s)
{
        size_t n = 0;
        char **p;

        if (!s)
                return -ENOMEM;
        while (*v && (*v)[n])
                n++;
        p = realloc(*v, (n + 2) * sizeof(*p));
        if (!p) {
                free(s);
                return -ENOMEM;
        }
        p[n] = s;
        p[n + 1] = NULL;
        *v = p;
        return 0;
}

static size_t strv_len(char *const *v)
{
        size_t n = 0;

        while (v && v[n])
                n++;
        return n;
}

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static int add_warning(struct ctx *c, const char *fmt, ...)
{
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return oom(c);
        if (c->n_warnings >= KILN_CC_MAX_ITEMS) {
                free(s);
                return 0;
        }
        if (c->n_warnings + 1 >= c->warnings_cap) {
                size_t cap = c->warnings_cap ? c->warnings_cap * 2 : 16;
                char **v = realloc(c->cc->warnings, cap * sizeof(*v));

                if (!v) {
                        free(s);
                        return oom(c);
                }
                c->cc->warnings = v;
                c->warnings_cap = cap;
        }
        c->cc->warnings[c->n_warnings++] = s;
        c->cc->warnings[c->n_warnings] = NULL;
        return 0;
}

/* A mapping's entries with "<<" merges done: explicit keys win over merged
 * ones, a later duplicate over an earlier one, earlier merge sources over
 * later ones (YAML 1.1 merge). */
struct entry {
        const char *key;
        const struct ynode *k, *v;
};

struct entries {
        struct entry *e;
        size_t n;
};

static void entries_free(struct entries *es)
{
        free(es->e);
        es->e = NULL;
        es->n = 0;
}

static int entries_add(struct ctx *c, struct entries *es, const struct ynode *k, const struct ynode *v,
                       bool replace, const char *path)
{
        /* Merges of aliased mappings could make this quadratic walk long. */
        c->compared += es->n;
        if (c->compared > MAX_COMPARED)
                return errorf_line(c->name, k->line, "too many keys merged with '<<' (aliases used over and over?)");
        for (size_t i = 0; i < es->n; i++)
                if (!strcmp(es->e[i].key, k->str)) {
                        if (replace)
                                es->e[i].v = v;
                        return 0;
                }
        if (es->n >= KILN_CC_MAX_ITEMS)
                return fail(c, k, path, "more than %d keys", KILN_CC_MAX_ITEMS);
        struct entry *p = realloc(es->e, (es->n + 1) * sizeof(*p));
        if (!p)
                return oom(c);
        es->e = p;
        es->e[es->n++] = (struct entry){ k->str, k, v };
        return 0;
}

static int collect(struct ctx *c, const struct ynode *m, const char *path, struct entries *es, unsigned depth,
                   bool merged)
{
        int r;

        if (depth > MAX_MERGE_DEPTH)
                return fail(c, m, path, "'<<' merges nested more than %d deep", MAX_MERGE_DEPTH);
        /* Explicit keys first, then the merge sources (which never replace). */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                        const struct ynode *k = m->items[i], *v = m->items[i + 1];
                        bool is_merge = k->type == YNODE_SCALAR && k->plain && !strcmp(k->str, "<<");

                        r = charge(c, k, 0);
                        if (r < 0)
                                return r;
                        if (pass == 0 && !is_merge) {
                                if (k->type != YNODE_SCALAR || is_null(k))
                                        return fail(c, k, path, "keys must be strings");
                                r = entries_add(c, es, k, v, !merged, path);
                                if (r < 0)
                                        return r;
                        } else if (pass == 1 && is_merge) {
                                if (v->type == YNODE_MAPPING) {
                                        r = collect(c, v, path, es, depth + 1, true);
                                } else if (v->type == YNODE_SEQUENCE) {
                                        r = 0;
                                        for (size_t j = 0; j < v->n_items && r >= 0; j++) {
                                                if (v->items[j]->type != YNODE_MAPPING)
                                                        return fail(c, v->items[j], path,
                                                                    "'<<' takes a mapping or a list of mappings");
                                                r = collect(c, v->items[j], path, es, depth + 1, true);
                                        }
                                } else {
                                        return fail(c, v, path, "'<<' takes a mapping or a list of mappings");
                                }
                                if (r < 0)
                                        return r;
                        }
                }
        return 0;
}

static int get_entries(struct ctx *c, const struct ynode *m, const char *path, struct entries *ret)
{
        int r;

        *ret = (struct entries){ 0 };
        r = collect(c, m, path, ret, 0, false);
        if (r < 0)
                entries_free(ret);
        return r;
}

/* --- typed values ------------------------------------------------------ */

static int get_string(struct ctx *c, const struct ynode *v, const char *path, char **ret)
{
        char *s;
        int r;

        if (v->type != YNODE_SCALAR || is_null(v))
                return fail(c, v, path, "expected a string");
        if (v->tag == TAG_BINARY)
                return fail(c, v, path, "expected a string, not !!binary");
        r = charge(c, v, v->len);
        if (r < 0)
                return r;
        s = strdup(v->str);
        if (!s)
                return oom(c);
        free(*ret);
        *ret = s;
        return 0;
}

/* A string, or null (cloud-init's "use the default"). */
static int get_opt_string(struct ctx *c, const struct ynode *v, const char *path, char **ret)
{
        if (is_null(v)) {
                free(*ret);
                *ret = NULL;
                return 0;
        }
        return get_string(c, v, path, ret);
}

static int get_bool(struct ctx *c, const struct ynode *v, const char *path, bool *ret)
{
        int b = bool_of(v);

        if (b < 0)
                return fail(c, v, path, "expected true or false");
        *ret = b;
        return 0;
}

static int get_tristate(struct ctx *c, const struct ynode *v, const char *path, enum kiln_tristate *ret)
{
        bool b = false;
        int r = get_bool(c, v, path, &b);

        if (r < 0)
                return r;
        *ret = b ? KILN_TRUE : KILN_FALSE;
        return 0;
}

/* A list of strings; a single string is a one-entry list when allow_string. */
static int get_strv(struct ctx *c, const struct ynode *v, const char *path, bool allow_string, char ***ret)
{
        char **out = NULL, p[PATH_SIZE];
        int r;

        if (allow_string && v->type == YNODE_SCALAR && !is_null(v)) {
                char *s = NULL;

                r = get_string(c, v, path, &s);
                if (r < 0)
                        return r;
                if (strv_push(&out, s) < 0)
                        return oom(c);
        } else if (v->type == YNODE_SEQUENCE) {
                /* An empty list is a list: keep a non-NULL array. */
                out = calloc(v->n_items + 1, sizeof(*out));
                if (!out)
                        return oom(c);
                for (size_t i = 0; i < v->n_items; i++) {
                        indexpath(p, path, i);
                        r = get_string(c, v->items[i], p, &out[i]);
                        if (r < 0) {
                                strv_free(out);
                                return r;
                        }
                }
        } else {
                return fail(c, v, path, allow_string ? "expected a string or a list of strings" :
                                                       "expected a list of strings");
        }
        strv_free(*ret);
        *ret = out;
        return 0;
}

/* "a, b" or [a, b]: cloud-init's comma-separated lists (groups). */
static int get_csv(struct ctx *c, const struct ynode *v, const char *path, char ***ret)
{
        char **out = NULL;
        int r;

        if (v->type == YNODE_SCALAR && !is_null(v)) {
                _cleanup_free_ char *s = NULL;
                char *save = NULL;

                size_t n = 0, commas = 0;

                r = get_string(c, v, path, &s);
                if (r < 0)
                        return r;
                for (const char *q = s; *q; q++)
                        commas += *q == ',';
                if (commas >= KILN_CC_MAX_ITEMS)
                        return fail(c, v, path, "more than %d entries", KILN_CC_MAX_ITEMS);
                out = calloc(commas + 2, sizeof(*out));
                if (!out)
                        return oom(c);
                for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                        char *e;

                        while (*t == ' ' || *t == '\t')
                                t++;
                        e = t + strlen(t);
                        while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
                                *--e = 0;
                        if (!*t)
                                continue;
                        r = charge(c, v, 0);
                        if (r < 0) {
                                strv_free(out);
                                return r;
                        }
                        out[n] = strdup(t);
                        if (!out[n++]) {
                                strv_free(out);
                                return oom(c);
                        }
                }
                strv_free(*ret);
                *ret = out;
                return 0;
        }
        if (v->type == YNODE_MAPPING) {
                /* groups: {wheel: null, docker: null} (cloud-init 23.1+). */
                struct entries es;

                r = get_entries(c, v, path, &es);
                if (r < 0)
                        return r;
                out = calloc(es.n + 1, sizeof(*out));
                for (size_t i = 0; out && i < es.n; i++)
                        if (!(out[i] = strdup(es.e[i].key))) {
                                strv_free(out);
                                out = NULL;
                        }
                entries_free(&es);
                if (!out)
                        return oom(c);
                strv_free(*ret);
                *ret = out;
                return 0;
        }
        if (v->type == YNODE_SEQUENCE)
                return get_strv(c, v, path, false, ret);
        return fail(c, v, path, "expected a string \"a, b\" or a list of strings");
}

/* --- users and groups -------------------------------------------------- */

static void user_free(struct kiln_cc_user *u)
{
        free(u->name);
        free(u->gecos);
        strv_free(u->groups);
        free(u->primary_group);
        strv_free(u->sudo);
        free(u->shell);
        free(u->passwd);
        free(u->plain_text_passwd);
        strv_free(u->ssh_authorized_keys);
        free(u->homedir);
        memset(u, 0, sizeof(*u));
}

static void user_init(struct kiln_cc_user *u)
{
        memset(u, 0, sizeof(*u));
        u->lock_passwd = KILN_UNSET;
        u->uid = -1;
}

static int parse_sudo(struct ctx *c, const struct ynode *v, const char *path, char ***ret)
{
        static const char expected[] = "expected a string, a list or false";

        if (is_null(v) || bool_of(v) == 0) {
                strv_free(*ret);
                *ret = NULL;
                return 0;
        }
        if (v->type == YNODE_SCALAR && bool_of(v) == 1)
                return fail(c, v, path, "%s", expected);
        if (v->type == YNODE_MAPPING)
                return fail(c, v, path, "%s", expected);
        if (v->type == YNODE_SEQUENCE)
                for (size_t i = 0; i < v->n_items; i++)
                        if (v->items[i]->type != YNODE_SCALAR || is_null(v->items[i])) {
                                char p[PATH_SIZE];

                                indexpath(p, path, i);
                                return fail(c, v->items[i], p, "expected a sudoers rule (a string)");
                        }
        return get_strv(c, v, path, true, ret);
}

static int parse_user_map(struct ctx *c, const struct ynode *v, const char *path, bool need_name,
                          struct kiln_cc_user *u)
{
        struct entries es;
        char p[PATH_SIZE];
        int r = 0;

        r = get_entries(c, v, path, &es);
        if (r < 0)
                return r;
        for (size_t i = 0; i < es.n && r >= 0; i++) {
                const char *k = es.e[i].key;
                const struct ynode *val = es.e[i].v;
                bool b = false;

                subpath(p, path, k);
                if (!strcmp(k, "name"))
                        r = get_string(c, val, p, &u->name);
                else if (!strcmp(k, "gecos"))
                        r = get_opt_string(c, val, p, &u->gecos);
                else if (!strcmp(k, "groups"))
                        r = is_null(val) ? 0 : get_csv(c, val, p, &u->groups);
                else if (!strcmp(k, "primary_group"))
                        r = get_opt_string(c, val, p, &u->primary_group);
                else if (!strcmp(k, "sudo"))
                        r = parse_sudo(c, val, p, &u->sudo);
                else if (!strcmp(k, "shell"))
                        r = get_opt_string(c, val, p, &u->shell);
                else if (!strcmp(k, "lock_passwd") || !strcmp(k, "lock-passwd"))
                        r = get_tristate(c, val, p, &u->lock_passwd);
                else if (!strcmp(k, "passwd") || !strcmp(k, "hashed_passwd"))
                        r = get_opt_string(c, val, p, &u->passwd);
                else if (!strcmp(k, "plain_text_passwd")) {
                        r = get_opt_string(c, val, p, &u->plain_text_passwd);
                        if (r >= 0 && u->plain_text_passwd)
                                r = add_warning(c, "%s: plain-text passwords are not supported, not set (use passwd: with "
                                            "a hash)", p);
                } else if (!strcmp(k, "ssh_authorized_keys"))
                        r = is_null(val) ? 0 : get_strv(c, val, p, true, &u->ssh_authorized_keys);
                else if (!strcmp(k, "system")) {
                        r = get_bool(c, val, p, &b);
                        u->system = b;
                } else if (!strcmp(k, "homedir"))
                        r = get_opt_string(c, val, p, &u->homedir);
                else if (!strcmp(k, "no_create_home")) {
                        r = get_bool(c, val, p, &b);
                        u->no_create_home = b;
                } else if (!strcmp(k, "uid")) {
                        long long n = -1;
                        bool digit_string = val->type == YNODE_SCALAR && val->len > 0 && val->len < 11 &&
                                            strspn(val->str, "0123456789") == val->len;

                        /* cloud-init takes "1001" as well as 1001. */
                        if (digit_string)
                                n = strtoll(val->str, NULL, 10);
                        else if (!int_of(val, &n))
                                n = -2;
                        if (n == -2)
                                r = fail(c, val, p, "expected a number");
                        else if (n < 0 || n > 0x7fffffffLL)
                                r = fail(c, val, p, "expected a uid from 0 to 2147483647");
                        else
                                u->uid = (long)n;
                } else
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
        }
        if (r >= 0 && need_name && !u->name)
                r = fail(c, v, path, "a user needs a 'name'");
        if (r >= 0 && u->name && !strcmp(u->name, "default"))
                u->is_default = true;
        entries_free(&es);
        return r;
}

static int add_user(struct ctx *c, const struct ynode *at, const char *path, struct kiln_cc_user *u)
{
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_cc_user *p;

        for (size_t i = 0; i < cc->n_users; i++)
                if ((u->is_default && cc->users[i].is_default) ||
                    (!u->is_default && !cc->users[i].is_default && !strcmp(cc->users[i].name, u->name))) {
                        /* cloud-init merges a repeated user; kiln keeps the last entry. */
                        int r = add_warning(c, "%s: user '%s' is listed again, the earlier entry is dropped", path,
                                     u->is_default ? "default" : u->name);
                        user_free(&cc->users[i]);
                        cc->users[i] = *u;
                        return r;
                }
        if (cc->n_users >= KILN_CC_MAX_ITEMS) {
                user_free(u);
                return fail(c, at, path, "more than %d users", KILN_CC_MAX_ITEMS);
        }
        p = realloc(cc->users, (cc->n_users + 1) * sizeof(*p));
        if (!p) {
                user_free(u);
                return oom(c);
        }
        cc->users = p;
        cc->users[cc->n_users++] = *u;
        return 0;
}

static int add_user_name(struct ctx *c, const struct ynode *at, const char *path, const char *name)
{
        struct kiln_cc_user u;

        user_init(&u);
        if (!strcmp(name, "default"))
                u.is_default = true;
        u.name = strdup(name);
        if (!u.name)
                return oom(c);
        return add_user(c, at, path, &u);
}

/* "alice, default" */
static int add_user_names(struct ctx *c, const struct ynode *v, const char *path)
{
        char **names = NULL;
        int r = get_csv(c, v, path, &names);

        for (size_t i = 0; r >= 0 && names && names[i]; i++)
                r = add_user_name(c, v, path, names[i]);
        strv_free(names);
        return r;
}

static int parse_users(struct ctx *c, const struct ynode *v, const char *path)
{
        char p[PATH_SIZE];
        int r = 0;

        c->cc->users_set = true;
        if (is_null(v))
                return 0;
        if (v->type == YNODE_SCALAR)
                return add_user_names(c, v, path);
        if (v->type != YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of users or a string \"default, name\"");
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                const struct ynode *e = v->items[i];

                indexpath(p, path, i);
                r = charge(c, e, 0);
                if (r < 0)
                        break;
                if (e->type == YNODE_SCALAR && !is_null(e)) {
                        r = add_user_names(c, e, p);
                } else if (e->type == YNODE_MAPPING) {
                        struct kiln_cc_user u;

                        user_init(&u);
                        r = parse_user_map(c, e, p, true, &u);
                        if (r < 0)
                                user_free(&u);
                        else
                                r = add_user(c, e, p, &u);
                } else {
                        r = fail(c, e, p, "expected a user (a mapping) or a name");
                }
        }
        return r;
}

static int add_group(struct ctx *c, const struct ynode *at, const char *path, const char *name,
                     const struct ynode *members)
{
        struct kiln_cloud_config *cc = c->cc;
        struct kiln_cc_group g = { 0 }, *p;
        int r;

        if (cc->n_groups >= KILN_CC_MAX_ITEMS)
                return fail(c, at, path, "more than %d groups", KILN_CC_MAX_ITEMS);
        g.name = strdup(name);
        if (!g.name)
                return oom(c);
        if (members && !is_null(members)) {
                r = get_csv(c, members, path, &g.members);
                if (r < 0) {
                        free(g.name);
                        return r;
                }
        }
        p = realloc(cc->groups, (cc->n_groups + 1) * sizeof(*p));
        if (!p) {
                free(g.name);
                strv_free(g.members);
                return oom(c);
        }
        cc->groups = p;
        cc->groups[cc->n_groups++] = g;
        return 0;
}

static int add_group_map(struct ctx *c, const struct ynode *m, const char *path)
{
        struct entries es;
        char p[PATH_SIZE];
        int r = get_entries(c, m, path, &es);

        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                subpath(p, path, es.e[i].key);
                r = add_group(c, es.e[i].k, p, es.e[i].key, es.e[i].v);
        }
        entries_free(&es);
        return r;
}

static int parse_groups(struct ctx *c, const struct ynode *v, const char *path)
{
        char p[PATH_SIZE];
        int r = 0;

        if (is_null(v))
                return 0;
        if (v->type == YNODE_MAPPING)
                return add_group_map(c, v, path);
        if (v->type == YNODE_SCALAR) {
                char **names = NULL;

                r = get_csv(c, v, path, &names);
                for (size_t i = 0; r >= 0 && names && names[i]; i++)
                        r = add_group(c, v, path, names[i], NULL);
                strv_free(names);
                return r;
        }
        if (v->type != YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of groups");
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                const struct ynode *e = v->items[i];

                indexpath(p, path, i);
                if (e->type == YNODE_SCALAR && !is_null(e))
                        r = add_group(c, e, p, e->str, NULL);
                else if (e->type == YNODE_MAPPING)
                        r = add_group_map(c, e, p);
                else
                        r = fail(c, e, p, "expected a group name or {name: [members]}");
        }
        return r;
}

/* --- ssh ---------------------------------------------------------------- */

static int parse_ssh_keys(struct ctx *c, const struct ynode *v, const char *path)
{
        static const char *const types[] = { "rsa", "dsa", "ecdsa", "ed25519" };
        struct kiln_cloud_config *cc = c->cc;
        struct entries es;
        char p[PATH_SIZE];
        int r;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping of TYPE_private/TYPE_public keys");
        r = get_entries(c, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key, *us = strrchr(k, '_');
                size_t t;
                char **slot;

                subpath(p, path, k);
                for (t = 0; us && t < ARRAY_SIZE(types); t++)
                        if ((size_t)(us - k) == strlen(types[t]) && !strncmp(k, types[t], strlen(types[t])))
                                break;
                if (!us || t == ARRAY_SIZE(types) ||
                    (strcmp(us, "_private") && strcmp(us, "_public") && strcmp(us, "_certificate"))) {
                        r = add_warning(c, "%s: not a host key (rsa, dsa, ecdsa or ed25519 with _private, _public or "
                                    "_certificate), ignored", p);
                        continue;
                }
                size_t j;
                for (j = 0; j < cc->n_ssh_keys; j++)
                        if (!strcmp(cc->ssh_keys[j].type, types[t]))
                                break;
                if (j == cc->n_ssh_keys) {
                        struct kiln_cc_ssh_key *np = realloc(cc->ssh_keys, (j + 1) * sizeof(*np));

                        if (!np) {
                                r = oom(c);
                                break;
                        }
                        cc->ssh_keys = np;
                        memset(&np[j], 0, sizeof(np[j]));
                        np[j].type = strdup(types[t]);
                        cc->n_ssh_keys++;
                        if (!np[j].type) {
                                r = oom(c);
                                break;
                        }
                }
                slot = !strcmp(us, "_private") ? &cc->ssh_keys[j].private_key :
                       !strcmp(us, "_public")  ? &cc->ssh_keys[j].public_key :
                                                 &cc->ssh_keys[j].certificate;
                r = get_string(c, es.e[i].v, p, slot);
        }
        entries_free(&es);
        return r;
}

static int parse_pwauth(struct ctx *c, const struct ynode *v, const char *path)
{
        int b = bool_of(v);

        if (b >= 0)
                c->cc->ssh_pwauth = b ? KILN_TRUE : KILN_FALSE;
        else if (v->type == YNODE_SCALAR && !strcmp(v->str, "unchanged"))
                c->cc->ssh_pwauth = KILN_UNSET;
        else
                return fail(c, v, path, "expected true, false or \"unchanged\"");
        return 0;
}

static int parse_genkeytypes(struct ctx *c, const struct ynode *v, const char *path)
{
        static const char *const types[] = { "rsa", "dsa", "ecdsa", "ed25519" };
        int r = get_strv(c, v, path, false, &c->cc->ssh_genkeytypes);

        for (size_t i = 0; r >= 0 && c->cc->ssh_genkeytypes[i]; i++) {
                size_t t;

                for (t = 0; t < ARRAY_SIZE(types); t++)
                        if (!strcmp(c->cc->ssh_genkeytypes[i], types[t]))
                                break;
                if (t == ARRAY_SIZE(types)) {
                        char p[PATH_SIZE];

                        indexpath(p, path, i);
                        return fail(c, v->items[i], p, "expected rsa, dsa, ecdsa or ed25519");
                }
        }
        return r;
}

/* --- write_files --------------------------------------------------------- */

static void file_free(struct kiln_cc_file *f)
{
        free(f->path);
        free(f->content);
        free(f->owner);
        memset(f, 0, sizeof(*f));
}

/* cloud-init's decode_perms(): an int as it is (YAML 1.1 made 0644 octal),
 * a string in octal. */
static int parse_permissions(struct ctx *c, const struct ynode *v, const char *path, int *ret)
{
        long long n;

        if (is_null(v)) {
                *ret = -1;
                return 0;
        }
        if (int_of(v, &n)) {
                if (n < 0 || n > 07777)
                        return fail(c, v, path, "mode %lld is out of range (0 to 07777)", n);
                /* "permissions: 644" is decimal 644 to YAML, i.e. 01204. */
                if (v->plain && v->str[0] != '0' && n >= 100 && n <= 777 && strspn(v->str, "01234567") == v->len) {
                        int r = add_warning(c, "%s: %s is a decimal number (mode 0%llo); write '0%s' for mode 0%s", path,
                                     v->str, n, v->str, v->str);
                        if (r < 0)
                                return r;
                }
                *ret = (int)n;
                return 0;
        }
        if (v->type == YNODE_SCALAR && v->tag != TAG_BINARY) {
                const char *s = v->str;
                long m = 0;

                if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
                        s += 2;
                if (*s && strspn(s, "01234567") == strlen(s) && strlen(s) <= 6) {
                        m = strtol(s, NULL, 8);
                        if (m <= 07777) {
                                *ret = (int)m;
                                return 0;
                        }
                }
        }
        return fail(c, v, path, "expected an octal mode such as '0644'");
}

static int parse_file(struct ctx *c, const struct ynode *v, const char *path, struct kiln_cc_file *f)
{
        const struct ynode *content = NULL, *encoding = NULL;
        _cleanup_free_ char *enc = NULL;
        struct entries es;
        char p[PATH_SIZE];
        int r;

        if (v->type != YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping with path and content");
        r = get_entries(c, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct ynode *val = es.e[i].v;

                subpath(p, path, k);
                if (!strcmp(k, "path"))
                        r = get_string(c, val, p, &f->path);
                else if (!strcmp(k, "content"))
                        content = val;
                else if (!strcmp(k, "encoding"))
                        encoding = val;
                else if (!strcmp(k, "owner"))
                        r = get_opt_string(c, val, p, &f->owner);
                else if (!strcmp(k, "permissions"))
                        r = parse_permissions(c, val, p, &f->permissions);
                else if (!strcmp(k, "append"))
                        r = get_bool(c, val, p, &f->append);
                else if (!strcmp(k, "defer"))
                        r = get_bool(c, val, p, &f->defer);
                else if (!strcmp(k, "source"))
                        r = add_warning(c, "%s: fetching content from a URL is not supported, 'content' is used", p);
                else
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
        }
        entries_free(&es);
        if (r < 0)
                return r;
        if (!f->path)
                return fail(c, v, path, "a file needs a 'path'");
        if (encoding && !is_null(encoding)) {
                subpath(p, path, "encoding");
                r = get_string(c, encoding, p, &enc);
                if (r < 0)
                        return r;
                for (char *s = enc; *s; s++)
                        if (*s >= 'A' && *s <= 'Z')
                                *s = (char)(*s - 'A' + 'a');
        }
        subpath(p, path, "content");
        const uint8_t *data = (const uint8_t *)"";
        size_t len = 0;
        _cleanup_free_ uint8_t *b64 = NULL, *raw = NULL;
        if (content && !is_null(content)) {
                if (content->type != YNODE_SCALAR)
                        return fail(c, content, p, "expected a string");
                r = charge(c, content, content->len);
                if (r < 0)
                        return r;
                data = (const uint8_t *)content->str;
                len = content->len;
                if (content->tag == TAG_BINARY) {
                        r = kiln_ud_base64_decode(p, data, len, &b64, &len);
                        if (r < 0)
                                return errorf_line(c->name, content->line, "%s", kiln_last_error());
                        data = b64;
                }
        }
        bool gz = false, base64 = false;
        if (enc) {
                if (!strcmp(enc, "gz") || !strcmp(enc, "gzip"))
                        gz = true;
                else if (!strcmp(enc, "gz+base64") || !strcmp(enc, "gzip+base64") || !strcmp(enc, "gz+b64") ||
                         !strcmp(enc, "gzip+b64"))
                        gz = base64 = true;
                else if (!strcmp(enc, "b64") || !strcmp(enc, "base64"))
                        base64 = true;
                else if (strcmp(enc, "text/plain") && strcmp(enc, "text")) {
                        char s[SHOW_BYTES * 4 + 8];

                        subpath(p, path, "encoding");
                        show(enc, strlen(enc), s, sizeof(s));
                        r = add_warning(c, "%s: unknown encoding '%s', content written as it is (as cloud-init does)", p, s);
                        if (r < 0)
                                return r;
                }
        }
        if (base64) {
                uint8_t *out;

                r = kiln_ud_base64_decode(p, data, len, &out, &len);
                if (r < 0)
                        return errorf_line(c->name, content ? content->line : v->line, "%s", kiln_last_error());
                free(b64);
                b64 = out;
                data = out;
        }
        if (gz) {
                r = kiln_ud_gunzip(p, data, len, KILN_CC_MAX_BYTES, &raw, &len);
                if (r < 0) {
                        int line = (int)(content ? content->line : v->line);

                        if (r == -EFBIG || r == -ENOMEM) {
                                kiln_error_prefix(r, "%s:%d", c->name, line);
                                return r;
                        }
                        return errorf_line(c->name, (size_t)line, "%s", kiln_last_error());
                }
                data = raw;
                r = charge(c, v, len);
                if (r < 0)
                        return r;
        }
        f->content = malloc(len + 1);
        if (!f->content)
                return oom(c);
        memcpy(f->content, data, len);
        f->content[len] = 0;
        f->len = len;
        return 0;
}

static int parse_write_files(struct ctx *c, const struct ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        char p[PATH_SIZE];
        int r = 0;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of files");
        cc->write_files = calloc(v->n_items ? v->n_items : 1, sizeof(*cc->write_files));
        if (!cc->write_files)
                return oom(c);
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                struct kiln_cc_file *f = &cc->write_files[cc->n_write_files++];

                f->permissions = -1;
                indexpath(p, path, i);
                r = parse_file(c, v->items[i], p, f);
        }
        return r;
}

/* --- commands ------------------------------------------------------------ */

static void command_free(struct kiln_cc_command *cmd)
{
        free(cmd->shell);
        strv_free(cmd->argv);
        cmd->shell = NULL;
        cmd->argv = NULL;
}

static int parse_command(struct ctx *c, const struct ynode *v, const char *path, struct kiln_cc_command *cmd)
{
        char p[PATH_SIZE];
        int r;

        if (v->type == YNODE_SCALAR && !is_null(v))
                return get_string(c, v, path, &cmd->shell);
        if (v->type != YNODE_SEQUENCE)
                return fail(c, v, path, "expected a command (a string) or an argument list");
        if (v->n_items == 0)
                return fail(c, v, path, "an empty argument list");
        for (size_t i = 0; i < v->n_items; i++) {
                indexpath(p, path, i);
                if (v->items[i]->type != YNODE_SCALAR || is_null(v->items[i]))
                        return fail(c, v->items[i], p, "expected an argument (a string)");
        }
        r = get_strv(c, v, path, false, &cmd->argv);
        return r;
}

static int parse_commands(struct ctx *c, const struct ynode *v, const char *path, struct kiln_cc_command **ret,
                          size_t *ret_n)
{
        struct kiln_cc_command *cmds;
        char p[PATH_SIZE];
        size_t n = 0;
        int r = 0;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of commands");
        cmds = calloc(v->n_items ? v->n_items : 1, sizeof(*cmds));
        if (!cmds)
                return oom(c);
        *ret = cmds;
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                /* cloud-init skips null entries. */
                if (is_null(v->items[i]))
                        continue;
                indexpath(p, path, i);
                r = parse_command(c, v->items[i], p, &cmds[n++]);
                *ret_n = n;
        }
        return r;
}

/* --- growpart, resize_rootfs, mounts -------------------------------------- */

static int parse_growpart(struct ctx *c, const struct ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        struct entries es;
        char p[PATH_SIZE];
        int r;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping (mode, devices)");
        r = get_entries(c, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct ynode *val = es.e[i].v;

                subpath(p, path, k);
                if (!strcmp(k, "mode")) {
                        if (bool_of(val) == 0 || (val->type == YNODE_SCALAR && !strcmp(val->str, "off")))
                                cc->growpart_mode = KILN_GROWPART_OFF;
                        else if (val->type == YNODE_SCALAR &&
                                 (!strcmp(val->str, "auto") || !strcmp(val->str, "growpart")))
                                cc->growpart_mode = KILN_GROWPART_AUTO;
                        else
                                r = fail(c, val, p, "expected auto, growpart, off or false");
                } else if (!strcmp(k, "devices")) {
                        r = get_strv(c, val, p, false, &cc->growpart_devices);
                } else if (!strcmp(k, "ignore_growroot_disabled")) {
                        bool b = false;

                        r = get_bool(c, val, p, &b);
                        if (r >= 0 && b)
                                r = add_warning(c, "%s: kiln does not look at /etc/growroot-disabled, ignored", p);
                } else {
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
                }
        }
        entries_free(&es);
        return r;
}

static int parse_resize(struct ctx *c, const struct ynode *v, const char *path)
{
        int b = bool_of(v);

        if (b >= 0)
                c->cc->resize_rootfs = b ? KILN_RESIZE_TRUE : KILN_RESIZE_FALSE;
        else if (v->type == YNODE_SCALAR && !strcmp(v->str, "noblock"))
                c->cc->resize_rootfs = KILN_RESIZE_NOBLOCK;
        else
                return fail(c, v, path, "expected true, false or \"noblock\"");
        return 0;
}

/* Up to six fstab fields; each a string (numbers as written) or null. */
static int parse_fields(struct ctx *c, const struct ynode *v, const char *path, char *field[6])
{
        char p[PATH_SIZE];
        int r;

        if (v->type != YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of up to 6 fstab fields");
        if (v->n_items > 6)
                return fail(c, v, path, "%zu fstab fields, at most 6", v->n_items);
        for (size_t i = 0; i < v->n_items; i++) {
                indexpath(p, path, i);
                if (is_null(v->items[i]))
                        continue;
                r = get_string(c, v->items[i], p, &field[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_mounts(struct ctx *c, const struct ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        char p[PATH_SIZE];
        int r = 0;

        cc->mounts_set = true;
        if (is_null(v))
                return 0;
        if (v->type != YNODE_SEQUENCE)
                return fail(c, v, path, "expected a list of mounts");
        cc->mounts = calloc(v->n_items ? v->n_items : 1, sizeof(*cc->mounts));
        if (!cc->mounts)
                return oom(c);
        for (size_t i = 0; i < v->n_items && r >= 0; i++) {
                indexpath(p, path, i);
                if (v->items[i]->type == YNODE_SEQUENCE && v->items[i]->n_items == 0)
                        return fail(c, v->items[i], p, "an empty mount entry");
                r = parse_fields(c, v->items[i], p, cc->mounts[cc->n_mounts++].field);
        }
        return r;
}

/* --- power_state --------------------------------------------------------- */

static int parse_power_state(struct ctx *c, const struct ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        struct entries es;
        char p[PATH_SIZE];
        int r;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping (mode, delay, message, timeout, condition)");
        r = get_entries(c, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                const char *k = es.e[i].key;
                const struct ynode *val = es.e[i].v;
                long long n;

                subpath(p, path, k);
                if (!strcmp(k, "mode")) {
                        if (val->type == YNODE_SCALAR && !strcmp(val->str, "poweroff"))
                                cc->power_state.mode = KILN_POWER_POWEROFF;
                        else if (val->type == YNODE_SCALAR && !strcmp(val->str, "reboot"))
                                cc->power_state.mode = KILN_POWER_REBOOT;
                        else if (val->type == YNODE_SCALAR && !strcmp(val->str, "halt"))
                                cc->power_state.mode = KILN_POWER_HALT;
                        else
                                r = fail(c, val, p, "expected poweroff, reboot or halt");
                } else if (!strcmp(k, "delay")) {
                        if (int_of(val, &n)) {
                                if (n < 0 || n > 1000000)
                                        r = fail(c, val, p, "expected \"now\" or \"+MINUTES\"");
                                else if (asprintf(&cc->power_state.delay, "+%lld", n) < 0) {
                                        cc->power_state.delay = NULL;
                                        r = oom(c);
                                }
                        } else if (val->type == YNODE_SCALAR && !is_null(val) &&
                                   (!strcmp(val->str, "now") ||
                                    (val->str[0] == '+' && val->len > 1 && val->len < 9 &&
                                     strspn(val->str + 1, "0123456789") == val->len - 1))) {
                                r = get_string(c, val, p, &cc->power_state.delay);
                        } else {
                                r = fail(c, val, p, "expected \"now\" or \"+MINUTES\"");
                        }
                } else if (!strcmp(k, "message")) {
                        r = get_opt_string(c, val, p, &cc->power_state.message);
                } else if (!strcmp(k, "timeout")) {
                        if (int_of(val, &n) && n >= 0 && n <= 86400 * 365)
                                cc->power_state.timeout = (long)n;
                        else
                                r = fail(c, val, p, "expected a number of seconds");
                } else if (!strcmp(k, "condition")) {
                        int b = bool_of(val);

                        command_free(&cc->power_state.condition);
                        cc->power_state.condition_false = false;
                        if (b == 0)
                                cc->power_state.condition_false = true;
                        else if (b == 1 || is_null(val))
                                ;
                        else
                                r = parse_command(c, val, p, &cc->power_state.condition);
                } else {
                        r = add_warning(c, "%s: not supported by kiln, ignored", p);
                }
        }
        entries_free(&es);
        if (r >= 0 && cc->power_state.mode == KILN_POWER_UNSET)
                r = fail(c, v, path, "'mode' is required (poweroff, reboot or halt)");
        return r;
}

/* --- small keys -------------------------------------------------------- */

static int parse_etc_hosts(struct ctx *c, const struct ynode *v, const char *path)
{
        int b = bool_of(v);

        if (b >= 0)
                c->cc->manage_etc_hosts = b ? KILN_HOSTS_TRUE : KILN_HOSTS_FALSE;
        else if (v->type == YNODE_SCALAR && !strcmp(v->str, "localhost"))
                c->cc->manage_etc_hosts = KILN_HOSTS_LOCALHOST;
        else if (v->type == YNODE_SCALAR && !strcmp(v->str, "template"))
                /* Deprecated in cloud-init: the same as true. */
                c->cc->manage_etc_hosts = KILN_HOSTS_TRUE;
        else
                return fail(c, v, path, "expected true, false or \"localhost\"");
        return 0;
}

static int parse_system_info(struct ctx *c, const struct ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;
        struct entries es;
        char p[PATH_SIZE];
        int r;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_MAPPING)
                return fail(c, v, path, "expected a mapping");
        r = get_entries(c, v, path, &es);
        for (size_t i = 0; r >= 0 && i < es.n; i++) {
                subpath(p, path, es.e[i].key);
                if (!strcmp(es.e[i].key, "default_user")) {
                        if (es.e[i].v->type != YNODE_MAPPING) {
                                r = fail(c, es.e[i].v, p, "expected a user (a mapping)");
                                break;
                        }
                        user_free(&cc->default_user);
                        user_init(&cc->default_user);
                        r = parse_user_map(c, es.e[i].v, p, false, &cc->default_user);
                        cc->default_user.is_default = true;
                        cc->default_user_set = true;
                } else {
                        r = add_warning(c, "%s: not used by kiln, ignored", p);
                }
        }
        entries_free(&es);
        return r;
}

/* --- the top level ------------------------------------------------------ */

enum key {
        K_HOSTNAME, K_FQDN, K_PRESERVE_HOSTNAME, K_MANAGE_ETC_HOSTS, K_USERS, K_GROUPS,
        K_SSH_AUTHORIZED_KEYS, K_DISABLE_ROOT, K_DISABLE_ROOT_OPTS, K_SSH_PWAUTH, K_SSH_DELETEKEYS,
        K_SSH_GENKEYTYPES, K_SSH_KEYS, K_WRITE_FILES, K_BOOTCMD, K_RUNCMD, K_GROWPART, K_RESIZE_ROOTFS,
        K_MOUNTS, K_MOUNT_DEFAULT_FIELDS, K_TIMEZONE, K_FINAL_MESSAGE, K_POWER_STATE, K_SYSTEM_INFO,
        N_KEYS
};

static const char *const key_names[N_KEYS] = {
        [K_HOSTNAME] = "hostname", [K_FQDN] = "fqdn", [K_PRESERVE_HOSTNAME] = "preserve_hostname",
        [K_MANAGE_ETC_HOSTS] = "manage_etc_hosts", [K_USERS] = "users", [K_GROUPS] = "groups",
        [K_SSH_AUTHORIZED_KEYS] = "ssh_authorized_keys", [K_DISABLE_ROOT] = "disable_root",
        [K_DISABLE_ROOT_OPTS] = "disable_root_opts", [K_SSH_PWAUTH] = "ssh_pwauth",
        [K_SSH_DELETEKEYS] = "ssh_deletekeys", [K_SSH_GENKEYTYPES] = "ssh_genkeytypes",
        [K_SSH_KEYS] = "ssh_keys", [K_WRITE_FILES] = "write_files", [K_BOOTCMD] = "bootcmd",
        [K_RUNCMD] = "runcmd", [K_GROWPART] = "growpart", [K_RESIZE_ROOTFS] = "resize_rootfs",
        [K_MOUNTS] = "mounts", [K_MOUNT_DEFAULT_FIELDS] = "mount_default_fields", [K_TIMEZONE] = "timezone",
        [K_FINAL_MESSAGE] = "final_message", [K_POWER_STATE] = "power_state", [K_SYSTEM_INFO] = "system_info",
};

static int parse_key(struct ctx *c, enum key k, const struct ynode *v, const char *path)
{
        struct kiln_cloud_config *cc = c->cc;

        switch (k) {
        case K_HOSTNAME:
                return get_opt_string(c, v, path, &cc->hostname);
        case K_FQDN:
                return get_opt_string(c, v, path, &cc->fqdn);
        case K_PRESERVE_HOSTNAME:
                return get_tristate(c, v, path, &cc->preserve_hostname);
        case K_MANAGE_ETC_HOSTS:
                return parse_etc_hosts(c, v, path);
        case K_USERS:
                return parse_users(c, v, path);
        case K_GROUPS:
                return parse_groups(c, v, path);
        case K_SSH_AUTHORIZED_KEYS:
                return is_null(v) ? 0 : get_strv(c, v, path, false, &cc->ssh_authorized_keys);
        case K_DISABLE_ROOT:
                return get_tristate(c, v, path, &cc->disable_root);
        case K_DISABLE_ROOT_OPTS:
                return get_opt_string(c, v, path, &cc->disable_root_opts);
        case K_SSH_PWAUTH:
                return parse_pwauth(c, v, path);
        case K_SSH_DELETEKEYS:
                return get_tristate(c, v, path, &cc->ssh_deletekeys);
        case K_SSH_GENKEYTYPES:
                return is_null(v) ? 0 : parse_genkeytypes(c, v, path);
        case K_SSH_KEYS:
                return parse_ssh_keys(c, v, path);
        case K_WRITE_FILES:
                return parse_write_files(c, v, path);
        case K_BOOTCMD:
                return parse_commands(c, v, path, &cc->bootcmd, &cc->n_bootcmd);
        case K_RUNCMD:
                return parse_commands(c, v, path, &cc->runcmd, &cc->n_runcmd);
        case K_GROWPART:
                return parse_growpart(c, v, path);
        case K_RESIZE_ROOTFS:
                return parse_resize(c, v, path);
        case K_MOUNTS:
                return parse_mounts(c, v, path);
        case K_MOUNT_DEFAULT_FIELDS:
                return is_null(v) ? 0 : parse_fields(c, v, path, cc->mount_default_fields);
        case K_TIMEZONE:
                return get_opt_string(c, v, path, &cc->timezone);
        case K_FINAL_MESSAGE:
                return get_opt_string(c, v, path, &cc->final_message);
        case K_POWER_STATE:
                return parse_power_state(c, v, path);
        case K_SYSTEM_INFO:
                return parse_system_info(c, v, path);
        case N_KEYS:
                break;
        }
        return 0;
}

#define SWAP(a, b)                                  \
        do {                                        \
                __typeof__(a) _t = (a);             \
                (a) = (b);                          \
                (b) = _t;                           \
        } while (0)

/* Move key k's value from src into dst (the old value ends up in src, which
 * the caller frees). */
static void move_key(struct kiln_cloud_config *dst, struct kiln_cloud_config *src, enum key k)
{
        switch (k) {
        case K_HOSTNAME: SWAP(dst->hostname, src->hostname); break;
        case K_FQDN: SWAP(dst->fqdn, src->fqdn); break;
        case K_PRESERVE_HOSTNAME: dst->preserve_hostname = src->preserve_hostname; break;
        case K_MANAGE_ETC_HOSTS: dst->manage_etc_hosts = src->manage_etc_hosts; break;
        case K_USERS:
                SWAP(dst->users, src->users);
                SWAP(dst->n_users, src->n_users);
                dst->users_set = src->users_set;
                break;
        case K_GROUPS:
                SWAP(dst->groups, src->groups);
                SWAP(dst->n_groups, src->n_groups);
                break;
        case K_SSH_AUTHORIZED_KEYS: SWAP(dst->ssh_authorized_keys, src->ssh_authorized_keys); break;
        case K_DISABLE_ROOT: dst->disable_root = src->disable_root; break;
        case K_DISABLE_ROOT_OPTS: SWAP(dst->disable_root_opts, src->disable_root_opts); break;
        case K_SSH_PWAUTH: dst->ssh_pwauth = src->ssh_pwauth; break;
        case K_SSH_DELETEKEYS: dst->ssh_deletekeys = src->ssh_deletekeys; break;
        case K_SSH_GENKEYTYPES: SWAP(dst->ssh_genkeytypes, src->ssh_genkeytypes); break;
        case K_SSH_KEYS:
                SWAP(dst->ssh_keys, src->ssh_keys);
                SWAP(dst->n_ssh_keys, src->n_ssh_keys);
                break;
        case K_WRITE_FILES:
                SWAP(dst->write_files, src->write_files);
                SWAP(dst->n_write_files, src->n_write_files);
                break;
        case K_BOOTCMD:
                SWAP(dst->bootcmd, src->bootcmd);
                SWAP(dst->n_bootcmd, src->n_bootcmd);
                break;
        case K_RUNCMD:
                SWAP(dst->runcmd, src->runcmd);
                SWAP(dst->n_runcmd, src->n_runcmd);
                break;
        case K_GROWPART:
                dst->growpart_mode = src->growpart_mode;
                SWAP(dst->growpart_devices, src->growpart_devices);
                break;
        case K_RESIZE_ROOTFS: dst->resize_rootfs = src->resize_rootfs; break;
        case K_MOUNTS:
                SWAP(dst->mounts, src->mounts);
                SWAP(dst->n_mounts, src->n_mounts);
                dst->mounts_set = src->mounts_set;
                break;
        case K_MOUNT_DEFAULT_FIELDS:
                for (int i = 0; i < 6; i++)
                        SWAP(dst->mount_default_fields[i], src->mount_default_fields[i]);
                break;
        case K_TIMEZONE: SWAP(dst->timezone, src->timezone); break;
        case K_FINAL_MESSAGE: SWAP(dst->final_message, src->final_message); break;
        case K_POWER_STATE: SWAP(dst->power_state, src->power_state); break;
        case K_SYSTEM_INFO:
                SWAP(dst->default_user, src->default_user);
                dst->default_user_set = src->default_user_set;
                break;
        case N_KEYS: break;
        }
}

void kiln_cloud_config_init(struct kiln_cloud_config *cc)
{
        memset(cc, 0, sizeof(*cc));
        cc->preserve_hostname = KILN_UNSET;
        cc->manage_etc_hosts = KILN_HOSTS_UNSET;
        cc->disable_root = KILN_UNSET;
        cc->ssh_pwauth = KILN_UNSET;
        cc->ssh_deletekeys = KILN_UNSET;
        cc->growpart_mode = KILN_GROWPART_UNSET;
        cc->resize_rootfs = KILN_RESIZE_UNSET;
        cc->power_state.mode = KILN_POWER_UNSET;
        cc->power_state.timeout = -1;
        user_init(&cc->default_user);
}

void kiln_cloud_config_free(struct kiln_cloud_config *cc)
{
        if (!cc)
                return;
        free(cc->hostname);
        free(cc->fqdn);
        for (size_t i = 0; i < cc->n_users; i++)
                user_free(&cc->users[i]);
        free(cc->users);
        for (size_t i = 0; i < cc->n_groups; i++) {
                free(cc->groups[i].name);
                strv_free(cc->groups[i].members);
        }
        free(cc->groups);
        strv_free(cc->ssh_authorized_keys);
        free(cc->disable_root_opts);
        strv_free(cc->ssh_genkeytypes);
        for (size_t i = 0; i < cc->n_ssh_keys; i++) {
                free(cc->ssh_keys[i].type);
                if (cc->ssh_keys[i].private_key)
                        explicit_bzero(cc->ssh_keys[i].private_key, strlen(cc->ssh_keys[i].private_key));
                free(cc->ssh_keys[i].private_key);
                free(cc->ssh_keys[i].public_key);
                free(cc->ssh_keys[i].certificate);
        }
        free(cc->ssh_keys);
        for (size_t i = 0; i < cc->n_write_files; i++)
                file_free(&cc->write_files[i]);
        free(cc->write_files);
        for (size_t i = 0; i < cc->n_bootcmd; i++)
                command_free(&cc->bootcmd[i]);
        free(cc->bootcmd);
        for (size_t i = 0; i < cc->n_runcmd; i++)
                command_free(&cc->runcmd[i]);
        free(cc->runcmd);
        strv_free(cc->growpart_devices);
        for (size_t i = 0; i < cc->n_mounts; i++)
                for (int j = 0; j < 6; j++)
                        free(cc->mounts[i].field[j]);
        free(cc->mounts);
        for (int j = 0; j < 6; j++)
                free(cc->mount_default_fields[j]);
        free(cc->timezone);
        free(cc->final_message);
        free(cc->power_state.delay);
        free(cc->power_state.message);
        command_free(&cc->power_state.condition);
        user_free(&cc->default_user);
        strv_free(cc->unsupported);
        strv_free(cc->warnings);
        kiln_cloud_config_init(cc);
}

static bool strv_contains(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (!strcmp(v[i], s))
                        return true;
        return false;
}

/* Move the strings of *from to the end of *to (without duplicates when
 * unique), at most KILN_CC_MAX_ITEMS in all; *from is emptied. */
static int strv_join(char ***to, char ***from, bool unique)
{
        size_t nt = strv_len(*to), nf = strv_len(*from);
        char **v;

        if (nf == 0)
                goto out;
        v = realloc(*to, (nt + nf + 1) * sizeof(*v));
        if (!v) {
                strv_free(*from);
                *from = NULL;
                return -ENOMEM;
        }
        *to = v;
        v[nt] = NULL;
        for (size_t i = 0; i < nf; i++) {
                char *s = (*from)[i];

                if (nt >= KILN_CC_MAX_ITEMS || (unique && strv_contains(v, s)))
                        free(s);
                else {
                        v[nt++] = s;
                        v[nt] = NULL;
                }
        }
        v[nt] = NULL;
out:
        free(*from);
        *from = NULL;
        return 0;
}

int kiln_cloud_config_parse(struct kiln_cloud_config *cc, const char *name, const void *buf, size_t len)
{
        struct loader l = { .name = name ? name : "cloud-config", .buf = buf, .len = len };
        struct kiln_cloud_config tmp;
        struct ctx c = { .name = l.name, .cc = &tmp };
        bool present[N_KEYS] = { false };
        size_t n_unsupported = 0;
        struct entries es = { 0 };
        int r;

        if (len > KILN_CC_MAX_BYTES)
                return kiln_errorf(-EFBIG, "%s: %zu bytes of #cloud-config, more than the %u MiB limit", l.name, len,
                                   KILN_CC_MAX_BYTES >> 20);
        kiln_cloud_config_init(&tmp);
        r = load_tree(&l);
        if (r < 0)
                goto out;
        if (!l.root || is_null(l.root))
                goto out; /* an empty #cloud-config sets nothing */
        if (l.root->type != YNODE_MAPPING) {
                r = errorf_line(l.name, l.root->line, "#cloud-config must be a mapping of keys, not %s",
                                l.root->type == YNODE_SEQUENCE ? "a list" : "a string");
                goto out;
        }
        r = get_entries(&c, l.root, "", &es);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < es.n; i++) {
                enum key k;

                for (k = 0; k < N_KEYS; k++)
                        if (!strcmp(es.e[i].key, key_names[k]))
                                break;
                if (k == N_KEYS) {
                        /* Keys are unique after get_entries(). */
                        if (!tmp.unsupported && !(tmp.unsupported = calloc(es.n + 1, sizeof(char *)))) {
                                r = oom(&c);
                                goto out;
                        }
                        if (!(tmp.unsupported[n_unsupported++] = strdup(es.e[i].key))) {
                                r = oom(&c);
                                goto out;
                        }
                        continue;
                }
                present[k] = true;
                r = parse_key(&c, k, es.e[i].v, key_names[k]);
                if (r < 0)
                        goto out;
        }
        /* Success: move what this document set into cc. */
        for (enum key k = 0; k < N_KEYS; k++)
                if (present[k])
                        move_key(cc, &tmp, k);
        /* The lists join cc's, within the limit. */
        r = strv_join(&cc->unsupported, &tmp.unsupported, true);
        if (r >= 0)
                r = strv_join(&cc->warnings, &tmp.warnings, false);
        if (r < 0)
                r = oom(&c);
out:
        entries_free(&es);
        loader_free(&l);
        kiln_cloud_config_free(&tmp);
        return r;
}
