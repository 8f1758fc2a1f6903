/* SPDX-License-Identifier: MIT */
/*
 * YAML as PyYAML reads it: the node tree, "<<" merges, YAML 1.1 scalars and
 * the work budget (yamltree.h).  Pure, bounded.
 */
#include "yamltree.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

/* --- messages ------------------------------------------------------------ */

/* Messages stay on one line and short whatever the input holds. */
void kiln_yaml_show(const char *s, size_t len, char *out, size_t size)
{
        size_t n = MIN(len, (size_t)KILN_YAML_SHOW_BYTES), o = 0;

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

int kiln_yaml_errorf(const char *name, size_t line, const char *fmt, ...)
{
        char msg[768];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        kiln_errorf(-EBADMSG, "%s:%zu: %s", name, line, msg);
        return -EBADMSG;
}

int kiln_yaml_path_error(const char *name, const struct kiln_ynode *at, const char *path, const char *fmt, ...)
{
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (!path || !*path)
                return kiln_yaml_errorf(name, at->line, "%s", msg);
        return kiln_yaml_errorf(name, at->line, "key '%s': %s", path, msg);
}

int kiln_yaml_oom(const struct kiln_yaml *y)
{
        return kiln_errorf(-ENOMEM, "%s: out of memory", y->name);
}

size_t kiln_yaml_line_at(const char *buf, size_t len, size_t offset)
{
        size_t line = 1;

        for (size_t i = 0; i < offset && i < len; i++)
                if (buf[i] == '\n')
                        line++;
        return line;
}

/* out = a + b, cut short to KILN_YAML_PATH_SIZE (paths only go into messages). */
static void join(char out[KILN_YAML_PATH_SIZE], const char *a, const char *b)
{
        size_t la = strnlen(a, KILN_YAML_PATH_SIZE - 1), lb = strnlen(b, KILN_YAML_PATH_SIZE - 1 - la);

        memmove(out, a, la);
        memcpy(out + la, b, lb);
        out[la + lb] = 0;
}

void kiln_yaml_subpath(char out[KILN_YAML_PATH_SIZE], const char *path, const char *key)
{
        char s[KILN_YAML_SHOW_SIZE];

        kiln_yaml_show(key, strlen(key), s + 1, sizeof(s) - 1);
        s[0] = '.';
        join(out, path ? path : "", path && *path ? s : s + 1);
}

void kiln_yaml_indexpath(char out[KILN_YAML_PATH_SIZE], const char *path, size_t i)
{
        char s[32];

        snprintf(s, sizeof(s), "[%zu]", i);
        join(out, path ? path : "", s);
}

/* --- the loader: events -> tree ------------------------------------------ */

struct anchor {
        char *name;
        struct kiln_ynode *node;
};

struct loader {
        const char *name;
        const char *buf;
        size_t len;
        struct kiln_yaml_limits lim;
        struct kiln_ynode *arena;
        struct kiln_ynode *root;
        struct kiln_ynode *stack[KILN_YAML_MAX_DEPTH];
        size_t depth, n_nodes;
        struct anchor anchors[KILN_YAML_MAX_ANCHORS];
        size_t n_anchors;
        bool seen_document, done;
};

static void arena_free(struct kiln_ynode *n)
{
        while (n) {
                struct kiln_ynode *next = n->arena_next;

                free(n->str);
                free(n->items);
                free(n);
                n = next;
        }
}

static int loader_oom(const struct loader *l)
{
        return kiln_errorf(-ENOMEM, "%s: out of memory", l->name);
}

static int yaml_error(const struct loader *l, const yaml_parser_t *p)
{
        const char *problem = p->problem ? p->problem : "unknown error";
        size_t line;

        if (p->error == YAML_MEMORY_ERROR)
                return kiln_errorf(-ENOMEM, "%s: out of memory while reading YAML", l->name);
        if (p->error == YAML_READER_ERROR)
                line = kiln_yaml_line_at(l->buf, l->len, p->problem_offset);
        else
                line = p->problem_mark.line + 1;
        if (p->context)
                return kiln_yaml_errorf(l->name, line, "invalid YAML: %s (%s on line %zu)", problem, p->context,
                                        p->context_mark.line + 1);
        return kiln_yaml_errorf(l->name, line, "invalid YAML: %s", problem);
}

static int node_append(struct loader *l, struct kiln_ynode *parent, struct kiln_ynode *child, size_t line)
{
        size_t max = l->lim.max_items;

        if (parent->n_items == parent->alloc) {
                size_t n = parent->alloc ? parent->alloc * 2 : 8;
                struct kiln_ynode **p;

                /* A mapping holds two nodes per entry. */
                if (parent->n_items >= 2 * max)
                        return kiln_yaml_errorf(l->name, line, "more than %zu entries in one %s", max,
                                                parent->type == KILN_YNODE_MAPPING ? "mapping" : "list");
                p = realloc(parent->items, n * sizeof(*p));
                if (!p)
                        return loader_oom(l);
                parent->items = p;
                parent->alloc = n;
        }
        if (parent->type == KILN_YNODE_SEQUENCE && parent->n_items >= max)
                return kiln_yaml_errorf(l->name, line, "more than %zu entries in one list", max);
        parent->items[parent->n_items++] = child;
        return 0;
}

/* Put a node (new, or an alias's target) where the document has it. */
static int place(struct loader *l, struct kiln_ynode *n, size_t line)
{
        if (l->depth == 0) {
                if (l->root)
                        return kiln_yaml_errorf(l->name, line, "more than one root node");
                l->root = n;
                return 0;
        }
        return node_append(l, l->stack[l->depth - 1], n, line);
}

static int new_node(struct loader *l, enum kiln_ynode_type type, size_t line, struct kiln_ynode **ret)
{
        struct kiln_ynode *n;

        if (l->n_nodes >= KILN_YAML_MAX_NODES)
                return kiln_yaml_errorf(l->name, line, "too many YAML nodes (limit %u)", KILN_YAML_MAX_NODES);
        n = calloc(1, sizeof(*n));
        if (!n)
                return loader_oom(l);
        n->type = type;
        n->line = line;
        n->arena_next = l->arena;
        l->arena = n;
        l->n_nodes++;
        *ret = n;
        return 0;
}

#define TAG_COLLECTION (-1)

static int resolve_tag(const struct loader *l, size_t line, const yaml_char_t *tag, bool collection,
                       enum kiln_ytag *ret)
{
        static const struct {
                const char *name;
                int tag;
        } tags[] = {
                { YAML_STR_TAG, KILN_YTAG_STR },     { YAML_INT_TAG, KILN_YTAG_INT },
                { YAML_BOOL_TAG, KILN_YTAG_BOOL },   { YAML_NULL_TAG, KILN_YTAG_NULL },
                { YAML_FLOAT_TAG, KILN_YTAG_FLOAT }, { "tag:yaml.org,2002:binary", KILN_YTAG_BINARY },
                { YAML_SEQ_TAG, TAG_COLLECTION },    { YAML_MAP_TAG, TAG_COLLECTION },
                { "!", KILN_YTAG_NONE },
        };
        char s[KILN_YAML_SHOW_SIZE];

        *ret = KILN_YTAG_NONE;
        if (!tag)
                return 0;
        for (size_t i = 0; i < ARRAY_SIZE(tags); i++)
                if (!strcmp((const char *)tag, tags[i].name)) {
                        if ((tags[i].tag == TAG_COLLECTION) != collection && tags[i].tag != KILN_YTAG_NONE)
                                break;
                        *ret = tags[i].tag == TAG_COLLECTION ? KILN_YTAG_NONE : (enum kiln_ytag)tags[i].tag;
                        return 0;
                }
        kiln_yaml_show((const char *)tag, strlen((const char *)tag), s, sizeof(s));
        return kiln_yaml_errorf(l->name, line, "unsupported YAML tag '%s'", s);
}

static int add_anchor(struct loader *l, size_t line, const yaml_char_t *name, struct kiln_ynode *n)
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
        if (l->n_anchors >= KILN_YAML_MAX_ANCHORS)
                return kiln_yaml_errorf(l->name, line, "more than %d YAML anchors", KILN_YAML_MAX_ANCHORS);
        copy = strdup((const char *)name);
        if (!copy)
                return loader_oom(l);
        l->anchors[l->n_anchors].name = copy;
        l->anchors[l->n_anchors].node = n;
        l->n_anchors++;
        return 0;
}

static int load_event(struct loader *l, const yaml_event_t *ev)
{
        size_t line = ev->start_mark.line + 1;
        struct kiln_ynode *n;
        int r;

        switch (ev->type) {
        case YAML_SCALAR_EVENT: {
                const char *value = (const char *)ev->data.scalar.value;
                size_t len = ev->data.scalar.length;

                if (len > l->lim.max_scalar)
                        return kiln_yaml_errorf(l->name, line, "string longer than %zu bytes", l->lim.max_scalar);
                if (memchr(value, 0, len))
                        return kiln_yaml_errorf(l->name, line, "NUL byte in a string");
                r = new_node(l, KILN_YNODE_SCALAR, line, &n);
                if (r < 0)
                        return r;
                r = resolve_tag(l, line, ev->data.scalar.tag, false, &n->tag);
                if (r < 0)
                        return r;
                n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && n->tag == KILN_YTAG_NONE;
                n->str = strndup(value, len);
                if (!n->str)
                        return loader_oom(l);
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
                enum kiln_ytag t;

                if (l->depth >= l->lim.max_depth)
                        return kiln_yaml_errorf(l->name, line, "nesting deeper than %u levels", l->lim.max_depth);
                r = new_node(l, seq ? KILN_YNODE_SEQUENCE : KILN_YNODE_MAPPING, line, &n);
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
                        return kiln_yaml_errorf(l->name, line, "unbalanced end of collection");
                l->stack[--l->depth]->complete = true;
                return 0;
        case YAML_ALIAS_EVENT: {
                const char *name = (const char *)ev->data.alias.anchor;
                char s[KILN_YAML_SHOW_SIZE];

                kiln_yaml_show(name, strlen(name), s, sizeof(s));
                for (size_t i = l->n_anchors; i-- > 0;)
                        if (!strcmp(l->anchors[i].name, name)) {
                                if (!l->anchors[i].node->complete)
                                        return kiln_yaml_errorf(l->name, line,
                                                                "alias '*%s' refers to a node that contains it", s);
                                return place(l, l->anchors[i].node, line);
                        }
                return kiln_yaml_errorf(l->name, line, "alias '*%s' has no anchor before it", s);
        }
        case YAML_DOCUMENT_START_EVENT:
                if (l->seen_document)
                        return kiln_yaml_errorf(l->name, line,
                                                "more than one YAML document (cloud-init reads one)");
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

int kiln_yaml_load(struct kiln_yaml *y, const char *name, const void *buf, size_t len,
                   const struct kiln_yaml_limits *limits)
{
        struct loader *l;
        yaml_parser_t parser;
        int r = 0;

        *y = (struct kiln_yaml){ .name = name, .max_items = limits->max_items };
        /* The anchor table is big: not on kiln-init's stack. */
        l = calloc(1, sizeof(*l));
        if (!l)
                return kiln_yaml_oom(y);
        *l = (struct loader){ .name = name, .buf = buf, .len = len, .lim = *limits };
        if (l->lim.max_depth > KILN_YAML_MAX_DEPTH)
                l->lim.max_depth = KILN_YAML_MAX_DEPTH;
        if (!yaml_parser_initialize(&parser)) {
                free(l);
                return kiln_yaml_oom(y);
        }
        yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), len);
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
        for (size_t i = 0; i < l->n_anchors; i++)
                free(l->anchors[i].name);
        if (r < 0)
                arena_free(l->arena);
        else {
                y->arena = l->arena;
                y->root = l->root;
        }
        free(l);
        return r;
}

void kiln_yaml_free(struct kiln_yaml *y)
{
        arena_free(y->arena);
        y->arena = y->root = NULL;
}

/* --- the walk ------------------------------------------------------------ */

int kiln_yaml_charge(struct kiln_yaml *y, const struct kiln_ynode *at, size_t bytes)
{
        y->work++;
        y->copied += bytes;
        if (y->work > KILN_YAML_MAX_WORK || y->copied > KILN_YAML_MAX_COPIED)
                return kiln_yaml_errorf(y->name, at->line,
                                        "the document expands to too much data (aliases used over and over?)");
        return 0;
}

void kiln_yaml_entries_free(struct kiln_yaml_entries *es)
{
        free(es->e);
        es->e = NULL;
        es->n = 0;
}

static int entries_add(struct kiln_yaml *y, struct kiln_yaml_entries *es, const struct kiln_ynode *k,
                       const struct kiln_ynode *v, bool replace, const char *path)
{
        struct kiln_yaml_entry *p;

        /* Merges of aliased mappings could make this quadratic walk long. */
        y->compared += es->n;
        if (y->compared > KILN_YAML_MAX_COMPARED)
                return kiln_yaml_errorf(y->name, k->line,
                                        "too many keys merged with '<<' (aliases used over and over?)");
        for (size_t i = 0; i < es->n; i++)
                if (!strcmp(es->e[i].key, k->str)) {
                        if (replace)
                                es->e[i].v = v;
                        return 0;
                }
        if (es->n >= y->max_items)
                return kiln_yaml_path_error(y->name, k, path, "more than %u keys", y->max_items);
        p = realloc(es->e, (es->n + 1) * sizeof(*p));
        if (!p)
                return kiln_yaml_oom(y);
        es->e = p;
        es->e[es->n++] = (struct kiln_yaml_entry){ k->str, k, v };
        return 0;
}

static int collect(struct kiln_yaml *y, const struct kiln_ynode *m, const char *path, struct kiln_yaml_entries *es,
                   unsigned depth, bool merged)
{
        static const char takes[] = "'<<' takes a mapping or a list of mappings";
        int r;

        if (depth > KILN_YAML_MAX_MERGE_DEPTH)
                return kiln_yaml_path_error(y->name, m, path, "'<<' merges nested more than %d deep",
                                            KILN_YAML_MAX_MERGE_DEPTH);
        /* Explicit keys first, then the merge sources (which never replace). */
        for (int pass = 0; pass < 2; pass++)
                for (size_t i = 0; i + 1 < m->n_items; i += 2) {
                        const struct kiln_ynode *k = m->items[i], *v = m->items[i + 1];
                        bool is_merge = k->type == KILN_YNODE_SCALAR && k->plain && !strcmp(k->str, "<<");

                        r = kiln_yaml_charge(y, k, 0);
                        if (r < 0)
                                return r;
                        if (pass == 0 && !is_merge) {
                                if (k->type != KILN_YNODE_SCALAR || kiln_ynode_is_null(k))
                                        return kiln_yaml_path_error(y->name, k, path, "keys must be strings");
                                r = entries_add(y, es, k, v, !merged, path);
                                if (r < 0)
                                        return r;
                        } else if (pass == 1 && is_merge) {
                                if (v->type == KILN_YNODE_MAPPING) {
                                        r = collect(y, v, path, es, depth + 1, true);
                                } else if (v->type == KILN_YNODE_SEQUENCE) {
                                        r = 0;
                                        for (size_t j = 0; j < v->n_items && r >= 0; j++) {
                                                if (v->items[j]->type != KILN_YNODE_MAPPING)
                                                        return kiln_yaml_path_error(y->name, v->items[j], path,
                                                                                    "%s", takes);
                                                r = collect(y, v->items[j], path, es, depth + 1, true);
                                        }
                                } else {
                                        return kiln_yaml_path_error(y->name, v, path, "%s", takes);
                                }
                                if (r < 0)
                                        return r;
                        }
                }
        return 0;
}

int kiln_yaml_entries(struct kiln_yaml *y, const struct kiln_ynode *m, const char *path,
                      struct kiln_yaml_entries *ret)
{
        int r;

        *ret = (struct kiln_yaml_entries){ 0 };
        r = collect(y, m, path, ret, 0, false);
        if (r < 0)
                kiln_yaml_entries_free(ret);
        return r;
}

/* --- scalars --------------------------------------------------------------- */

bool kiln_ynode_is_null(const struct kiln_ynode *v)
{
        if (v->type != KILN_YNODE_SCALAR)
                return false;
        if (v->tag == KILN_YTAG_NULL)
                return true;
        if (!v->plain)
                return false;
        return v->len == 0 || !strcmp(v->str, "~") || !strcmp(v->str, "null") || !strcmp(v->str, "Null") ||
               !strcmp(v->str, "NULL");
}

int kiln_ynode_bool(const struct kiln_ynode *v)
{
        static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
        static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };

        if (v->type != KILN_YNODE_SCALAR || v->tag == KILN_YTAG_BINARY || v->tag == KILN_YTAG_NULL)
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

bool kiln_ynode_int(const struct kiln_ynode *v, long long *ret)
{
        unsigned long long n = 0;
        const char *s;
        bool neg = false;

        if (v->type != KILN_YNODE_SCALAR || (!v->plain && v->tag != KILN_YTAG_INT) || v->len == 0)
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

const char *kiln_ynode_kind(const struct kiln_ynode *v)
{
        return v->type == KILN_YNODE_SEQUENCE ? "a list" : v->type == KILN_YNODE_MAPPING ? "a mapping" : "a string";
}

/* --- typed values ------------------------------------------------------- */

static void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

int kiln_yaml_get_string(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, char **ret)
{
        char *s;
        int r;

        if (v->type != KILN_YNODE_SCALAR || kiln_ynode_is_null(v))
                return kiln_yaml_path_error(y->name, v, path, "expected a string");
        if (v->tag == KILN_YTAG_BINARY)
                return kiln_yaml_path_error(y->name, v, path, "expected a string, not !!binary");
        r = kiln_yaml_charge(y, v, v->len);
        if (r < 0)
                return r;
        s = strdup(v->str);
        if (!s)
                return kiln_yaml_oom(y);
        free(*ret);
        *ret = s;
        return 0;
}

int kiln_yaml_get_opt_string(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, char **ret)
{
        if (kiln_ynode_is_null(v)) {
                free(*ret);
                *ret = NULL;
                return 0;
        }
        return kiln_yaml_get_string(y, v, path, ret);
}

int kiln_yaml_get_bool(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, bool *ret)
{
        int b = kiln_ynode_bool(v);

        if (b < 0)
                return kiln_yaml_path_error(y->name, v, path, "expected true or false");
        *ret = b;
        return 0;
}

int kiln_yaml_get_strv(struct kiln_yaml *y, const struct kiln_ynode *v, const char *path, bool allow_string,
                       char ***ret)
{
        char **out = NULL, p[KILN_YAML_PATH_SIZE];
        int r;

        if (allow_string && v->type == KILN_YNODE_SCALAR && !kiln_ynode_is_null(v)) {
                out = calloc(2, sizeof(*out));
                if (!out)
                        return kiln_yaml_oom(y);
                r = kiln_yaml_get_string(y, v, path, &out[0]);
                if (r < 0) {
                        free(out);
                        return r;
                }
        } else if (v->type == KILN_YNODE_SEQUENCE) {
                /* An empty list is a list: keep a non-NULL array. */
                out = calloc(v->n_items + 1, sizeof(*out));
                if (!out)
                        return kiln_yaml_oom(y);
                for (size_t i = 0; i < v->n_items; i++) {
                        kiln_yaml_indexpath(p, path, i);
                        r = kiln_yaml_get_string(y, v->items[i], p, &out[i]);
                        if (r < 0) {
                                strv_free(out);
                                return r;
                        }
                }
        } else {
                return kiln_yaml_path_error(y->name, v, path,
                                            allow_string ? "expected a string or a list of strings" :
                                                           "expected a list of strings");
        }
        strv_free(*ret);
        *ret = out;
        return 0;
}
