/* SPDX-License-Identifier: MIT */
/*
 * The image spec parser.  Two steps, both pure:
 *
 *   1. libyaml events -> a small tree of nodes, with hard limits on depth,
 *      node count and string length, and no anchors, aliases or tags;
 *   2. the tree -> struct kiln_spec, driven by one table of fields per
 *      mapping.
 *
 * Values are typed by the key they belong to, never by YAML's implicit
 * resolution: "size: 2G" and "size: '2G'" mean the same, and "ami_name: yes"
 * is the string "yes".  The only style that matters is a plain null (empty,
 * "~", "null"), which is accepted where a whole section may be left empty.
 *
 * The first problem found ends the parse with a one-line message
 * "FILE:LINE: ..." that names the key, e.g. "launch_block_device_mappings[1]".
 */
#include "spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "util.h"

#define MAX_DEPTH 16            /* the schema needs 3; leave room, refuse towers */
#define MAX_NODES 4096          /* a full spec with 64 mappings needs ~1500 */
#define MAX_SCALAR (64 * 1024)  /* bytes in one key or value */
#define MAX_FIELDS 32           /* per mapping, for duplicate detection */
#define MAX_LABEL 16            /* ext4 s_volume_name */
#define MAX_CMDLINE 4096        /* COMMAND_LINE_SIZE on x86_64 and arm64 */
#define MIN_SIZE (UINT64_C(1) << 20)
#define MAX_SIZE (UINT64_C(64) << 40) /* the largest EBS volume, 64 TiB */
#define MAX_VOLUME_GIB 65536
#define PATH_SIZE 256           /* "launch_block_device_mappings[63]." + a shown key */
#define SHOW_BYTES 40           /* of a value or key quoted in a message */
#define SHOW_SIZE (SHOW_BYTES * 4 + 4)

/* Messages stay on one line and short whatever the input holds. */
static void show(const char *s, size_t len, char out[SHOW_SIZE])
{
        size_t n = MIN(len, (size_t)SHOW_BYTES), o = 0;

        /* Do not cut a UTF-8 sequence in half. */
        if (n < len)
                while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
                        n--;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '\n' || c == '\t' || c == '\r') {
                        out[o++] = '\\';
                        out[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
                } else if (c < 0x20 || c == 0x7f) {
                        o += (size_t)snprintf(out + o, SHOW_SIZE - o, "\\x%02x", c);
                } else {
                        out[o++] = (char)c;
                }
        }
        if (n < len) {
                memcpy(out + o, "...", 3);
                o += 3;
        }
        out[o] = 0;
}

/* --- Step 1: a bounded tree from libyaml events --------------------------- */

enum ynode_type { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

struct ynode {
        enum ynode_type type;
        size_t line;                    /* 1-based */
        bool plain;                     /* scalar written without quotes */
        char *str;                      /* scalar, NUL-terminated */
        size_t len;
        /* Children in order; a mapping's alternate key, value, key, ... */
        struct ynode *first, *last, *next;
        size_t n_children;
};

static void ynode_free(struct ynode *n)
{
        while (n) {
                struct ynode *next = n->next;

                /* Recursion depth is bounded by MAX_DEPTH. */
                ynode_free(n->first);
                free(n->str);
                free(n);
                n = next;
        }
}

static void ynode_freep(struct ynode **n) { ynode_free(*n); }

struct loader {
        const char *file;
        const char *buf;
        size_t len;
        struct ynode *root;
        struct ynode *stack[MAX_DEPTH]; /* open sequences and mappings */
        size_t depth, n_nodes;
        bool seen_document, done;
};

static int errorf_line(const char *file, size_t line, const char *fmt, ...) _printf_(3, 4);
static int errorf_line(const char *file, size_t line, const char *fmt, ...)
{
        char msg[768];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        kiln_errorf(-EBADMSG, "%s:%zu: %s", file, line, msg);
        return -EBADMSG; /* a constant, so the compiler sees callers' error paths */
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
                return kiln_errorf(-ENOMEM, "%s: out of memory while reading YAML", l->file);
        /* The reader (encoding) stage knows only a byte offset. */
        if (p->error == YAML_READER_ERROR)
                line = line_at_offset(l->buf, l->len, p->problem_offset);
        else
                line = p->problem_mark.line + 1;
        if (p->context)
                return errorf_line(l->file, line, "invalid YAML: %s (%s on line %zu)", problem,
                                   p->context, p->context_mark.line + 1);
        return errorf_line(l->file, line, "invalid YAML: %s", problem);
}

static int loader_add(struct loader *l, const yaml_event_t *ev, enum ynode_type type,
                      struct ynode **ret)
{
        struct ynode *n;

        if (l->n_nodes >= MAX_NODES)
                return errorf_line(l->file, ev->start_mark.line + 1,
                                   "too many YAML nodes (limit %d)", MAX_NODES);
        if (l->depth == 0 && l->root)
                /* libyaml never emits two roots in one document; be sure. */
                return errorf_line(l->file, ev->start_mark.line + 1, "more than one root node");
        n = calloc(1, sizeof(*n));
        if (!n)
                return kiln_errorf(-ENOMEM, "%s: out of memory", l->file);
        n->type = type;
        n->line = ev->start_mark.line + 1;
        l->n_nodes++;
        if (l->depth == 0) {
                l->root = n;
        } else {
                struct ynode *parent = l->stack[l->depth - 1];

                if (parent->last)
                        parent->last->next = n;
                else
                        parent->first = n;
                parent->last = n;
                parent->n_children++;
        }
        *ret = n;
        return 0;
}

static int unsupported(const struct loader *l, const yaml_event_t *ev, const char *what,
                       const char *prefix, const yaml_char_t *name)
{
        char s[SHOW_SIZE];

        show((const char *)name, strlen((const char *)name), s);
        return errorf_line(l->file, ev->start_mark.line + 1, "YAML %s are not supported ('%s%s')",
                           what, prefix, s);
}

/* Anchors make aliases possible, and aliases make billion-laughs possible. */
static int check_anchor_tag(const struct loader *l, const yaml_event_t *ev,
                            const yaml_char_t *anchor, const yaml_char_t *tag)
{
        if (anchor)
                return unsupported(l, ev, "anchors and aliases", "&", anchor);
        if (tag)
                return unsupported(l, ev, "tags", "", tag);
        return 0;
}

static int load_scalar(struct loader *l, const yaml_event_t *ev)
{
        const char *value = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        struct ynode *n;
        int r;

        r = check_anchor_tag(l, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
        if (r < 0)
                return r;
        if (len > MAX_SCALAR)
                return errorf_line(l->file, ev->start_mark.line + 1,
                                   "string longer than %d bytes", MAX_SCALAR);
        /* "\0" in a double-quoted string would silently cut a C string short. */
        if (memchr(value, 0, len))
                return errorf_line(l->file, ev->start_mark.line + 1, "NUL byte in string");
        r = loader_add(l, ev, YNODE_SCALAR, &n);
        if (r < 0)
                return r;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        n->len = len;
        n->str = strndup(value, len);
        if (!n->str)
                return kiln_errorf(-ENOMEM, "%s: out of memory", l->file);
        return 0;
}

static int load_collection(struct loader *l, const yaml_event_t *ev, enum ynode_type type,
                           const yaml_char_t *anchor, const yaml_char_t *tag)
{
        struct ynode *n;
        int r;

        r = check_anchor_tag(l, ev, anchor, tag);
        if (r < 0)
                return r;
        if (l->depth >= MAX_DEPTH)
                return errorf_line(l->file, ev->start_mark.line + 1,
                                   "nesting deeper than %d levels", MAX_DEPTH);
        r = loader_add(l, ev, type, &n);
        if (r < 0)
                return r;
        l->stack[l->depth++] = n;
        return 0;
}

static int load_event(struct loader *l, const yaml_event_t *ev)
{
        size_t line = ev->start_mark.line + 1;

        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                return load_scalar(l, ev);
        case YAML_SEQUENCE_START_EVENT:
                return load_collection(l, ev, YNODE_SEQUENCE, ev->data.sequence_start.anchor,
                                       ev->data.sequence_start.tag);
        case YAML_MAPPING_START_EVENT:
                return load_collection(l, ev, YNODE_MAPPING, ev->data.mapping_start.anchor,
                                       ev->data.mapping_start.tag);
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                if (l->depth == 0)
                        return errorf_line(l->file, line, "unbalanced end of collection");
                l->depth--;
                return 0;
        case YAML_ALIAS_EVENT:
                return unsupported(l, ev, "anchors and aliases", "*", ev->data.alias.anchor);
        case YAML_DOCUMENT_START_EVENT:
                if (l->seen_document)
                        return errorf_line(l->file, line, "more than one YAML document");
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

/* On success *ret is the root, or NULL for a stream without a document. */
static int load_tree(const char *buf, size_t len, const char *file, struct ynode **ret)
{
        struct loader l = { .file = file, .buf = buf, .len = len };
        yaml_parser_t parser;
        int r = 0;

        if (!yaml_parser_initialize(&parser))
                return kiln_errorf(-ENOMEM, "%s: out of memory", file);
        /* libyaml asserts on a NULL input even when the length is 0. */
        yaml_parser_set_input_string(&parser, (const unsigned char *)(buf ? buf : ""), len);
        while (!l.done) {
                yaml_event_t ev;

                if (!yaml_parser_parse(&parser, &ev)) {
                        r = yaml_error(&l, &parser);
                        break;
                }
                r = load_event(&l, &ev);
                yaml_event_delete(&ev);
                if (r < 0)
                        break;
        }
        yaml_parser_delete(&parser);
        if (r < 0) {
                ynode_free(l.root);
                return r;
        }
        *ret = l.root;
        return 0;
}

/* --- Step 2: the tree -> struct kiln_spec --------------------------------- */

struct field;
typedef int (*field_parser)(const char *file, const struct field *f, const struct ynode *v,
                            const char *path, void *obj);

struct enum_desc {
        int (*from_string)(const char *s);
        const char *(*to_string)(int i);
        int max;
};

/* One key of a mapping: how to parse its value and where to store it. */
struct field {
        const char *name;
        field_parser parse;
        size_t offset;                  /* of the member in obj */
        const char *expected;           /* "bad value for 'K': 'V' (expected ...)" */
        bool (*valid)(const char *s);   /* strings: extra check, NULL = any */
        size_t max_len;                 /* strings: 0 = MAX_SCALAR */
        uint64_t max;                   /* integers: 1..max */
        const struct enum_desc *enum_desc;
        const struct field *fields;     /* nested mappings */
        size_t n_fields;
};

#define MEMBER(obj, f, type) ((type *)(void *)((char *)(obj) + (f)->offset))

/* Plain empty, "~" and "null" are nulls (YAML 1.2 core schema); quoted are strings. */
static bool is_null(const struct ynode *v)
{
        if (v->type != YNODE_SCALAR || !v->plain)
                return false;
        return v->len == 0 || !strcmp(v->str, "~") || !strcmp(v->str, "null") ||
               !strcmp(v->str, "Null") || !strcmp(v->str, "NULL");
}

static void describe(const struct ynode *v, char *buf, size_t size)
{
        char s[SHOW_SIZE];

        if (v->type == YNODE_MAPPING)
                snprintf(buf, size, "a mapping");
        else if (v->type == YNODE_SEQUENCE)
                snprintf(buf, size, "a sequence");
        else if (is_null(v))
                snprintf(buf, size, "no value");
        else {
                show(v->str, v->len, s);
                snprintf(buf, size, "'%s'", s);
        }
}

/* Paths only ever go into messages; cutting a very long one short is fine. */
static void format_path(char path[PATH_SIZE], const char *fmt, ...) _printf_(2, 3);
static void format_path(char path[PATH_SIZE], const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(path, PATH_SIZE, fmt, ap);
        va_end(ap);
}

static int bad_value(const char *file, const struct ynode *v, const char *path,
                     const char *fmt, ...) _printf_(4, 5);
static int bad_value(const char *file, const struct ynode *v, const char *path,
                     const char *fmt, ...)
{
        char what[SHOW_SIZE + 2], why[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        describe(v, what, sizeof(what));
        return errorf_line(file, v->line, "bad value for '%s': %s (%s)", path, what, why);
}

/* The text of a scalar that is not null, or NULL with the message set. */
static const char *scalar_text(const char *file, const struct field *f, const struct ynode *v,
                               const char *path)
{
        if (v->type != YNODE_SCALAR || is_null(v)) {
                bad_value(file, v, path, "%s", f->expected);
                return NULL;
        }
        return v->str;
}

static int parse_string(const char *file, const struct field *f, const struct ynode *v,
                        const char *path, void *obj)
{
        size_t max = f->max_len ? f->max_len : MAX_SCALAR;
        char **p = MEMBER(obj, f, char *);
        const char *s = scalar_text(file, f, v, path);

        if (!s)
                return -EBADMSG;
        if (v->len > max)
                return bad_value(file, v, path, "longer than %zu bytes", max);
        if (f->valid && !f->valid(s))
                return bad_value(file, v, path, "%s", f->expected);
        free(*p);
        *p = strdup(s);
        if (!*p)
                return kiln_errorf(-ENOMEM, "%s: out of memory", file);
        return 0;
}

/* strcasecmp() follows the locale; a spec must mean the same everywhere. */
static bool ascii_caseeq(const char *s, const char *lower)
{
        for (; *s && *lower; s++, lower++)
                if ((*s >= 'A' && *s <= 'Z' ? *s - 'A' + 'a' : *s) != *lower)
                        return false;
        return *s == *lower;
}

/* The spellings Packer and cloud-init users write; typed by key, so quotes are fine. */
static int bool_word(const char *s)
{
        static const char *const yes[] = { "true", "yes", "on" };
        static const char *const no[] = { "false", "no", "off" };

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (ascii_caseeq(s, yes[i]))
                        return 1;
                if (ascii_caseeq(s, no[i]))
                        return 0;
        }
        return -EINVAL;
}

/* Returns 1 or 0, or a negative errno with the message set. */
static int parse_bool_value(const char *file, const struct field *f, const struct ynode *v,
                            const char *path)
{
        const char *s = scalar_text(file, f, v, path);
        int b;

        if (!s)
                return -EBADMSG;
        b = bool_word(s);
        if (b < 0)
                return bad_value(file, v, path, "%s", f->expected);
        return b;
}

static int parse_bool(const char *file, const struct field *f, const struct ynode *v,
                      const char *path, void *obj)
{
        int b = parse_bool_value(file, f, v, path);

        if (b < 0)
                return b;
        *MEMBER(obj, f, bool) = b;
        return 0;
}

/* For the "-1 unset, 0, 1" members. */
static int parse_tristate(const char *file, const struct field *f, const struct ynode *v,
                          const char *path, void *obj)
{
        int b = parse_bool_value(file, f, v, path);

        if (b < 0)
                return b;
        *MEMBER(obj, f, int) = b;
        return 0;
}

static void enum_names(const struct enum_desc *d, char *buf, size_t size)
{
        size_t o = 0;

        buf[0] = 0;
        for (int i = 0; i < d->max && o < size; i++)
                o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
                                      d->to_string(i));
}

static int parse_enum(const char *file, const struct field *f, const struct ynode *v,
                      const char *path, void *obj)
{
        char names[256];
        int r;

        if (v->type == YNODE_SCALAR && !is_null(v)) {
                r = f->enum_desc->from_string(v->str);
                if (r >= 0) {
                        *MEMBER(obj, f, int) = r;
                        return 0;
                }
        }
        enum_names(f->enum_desc, names, sizeof(names));
        return bad_value(file, v, path, "expected one of %s", names);
}

/* Decimal only: YAML 1.1 would read 010 as octal and 1_000 as 1000. */
static int parse_decimal(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v = 0;

        if (!*s || (s[0] == '0' && s[1]))
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (v > (max - (uint64_t)(*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (v < 1)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_integer(const char *file, const struct field *f, const struct ynode *v,
                         const char *path, uint64_t *ret)
{
        const char *s = scalar_text(file, f, v, path);

        if (!s)
                return -EBADMSG;
        if (parse_decimal(s, f->max, ret) < 0)
                return bad_value(file, v, path, "%s", f->expected);
        return 0;
}

static int parse_u64(const char *file, const struct field *f, const struct ynode *v,
                     const char *path, void *obj)
{
        return parse_integer(file, f, v, path, MEMBER(obj, f, uint64_t));
}

static int parse_u32(const char *file, const struct field *f, const struct ynode *v,
                     const char *path, void *obj)
{
        uint64_t n = 0;
        int r;

        r = parse_integer(file, f, v, path, &n);
        if (r < 0)
                return r;
        *MEMBER(obj, f, uint32_t) = (uint32_t)n; /* f->max keeps it in range */
        return 0;
}

/* Sets size, size_set and size_auto of the struct kiln_spec. */
static int parse_spec_size(const char *file, const struct field *f, const struct ynode *v,
                           const char *path, void *obj)
{
        const char *s = scalar_text(file, f, v, path);
        struct kiln_spec *spec = obj;
        uint64_t size;

        if (!s)
                return -EBADMSG;
        if (!strcmp(s, "auto")) {
                spec->size = 0;
                spec->size_auto = spec->size_set = true;
                return 0;
        }
        if (parse_size(s, &size) < 0)
                return bad_value(file, v, path, "%s", f->expected);
        /* Rounding to MiB is the builder's job; it needs room to round up. */
        if (size < MIN_SIZE)
                return bad_value(file, v, path, "smaller than 1M");
        if (size > MAX_SIZE)
                return bad_value(file, v, path, "larger than 64T");
        spec->size = size;
        spec->size_set = true;
        spec->size_auto = false;
        return 0;
}

/* Sets fs_uuid and fs_uuid_set of the struct kiln_spec. */
static int parse_spec_uuid(const char *file, const struct field *f, const struct ynode *v,
                           const char *path, void *obj)
{
        const char *s = scalar_text(file, f, v, path);
        struct kiln_spec *spec = obj;

        if (!s)
                return -EBADMSG;
        if (parse_uuid(s, spec->fs_uuid) < 0)
                return bad_value(file, v, path, "%s", f->expected);
        spec->fs_uuid_set = true;
        return 0;
}

static int parse_mapping(const char *file, const struct ynode *map, const char *path,
                         const struct field *fields, size_t n_fields, void *obj);

/* A nested mapping of f->fields; a null leaves the defaults. */
static int parse_section(const char *file, const struct field *f, const struct ynode *v,
                         const char *path, void *obj)
{
        if (is_null(v))
                return 0;
        if (v->type != YNODE_MAPPING)
                return bad_value(file, v, path, "%s", f->expected);
        return parse_mapping(file, v, path, f->fields, f->n_fields, MEMBER(obj, f, void));
}

static bool not_empty(const char *s) { return *s; }

/* A kernel command line is one line of printable text. */
static bool valid_cmdline(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}
static bool valid_imds(const char *s) { return !strcmp(s, "v2.0"); }

/*
 * EC2 takes "/dev/xvdb" for volumes and also bare "xvdb"/"sdb" (the instance
 * store form); anything else fails only later, at register-image time.
 */
static bool valid_device_name(const char *s)
{
        static const char *const bare[] = { "sd", "xvd", "hd" };
        static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
        static const char digits[] = "0123456789";

        if (!strncmp(s, "/dev/", 5)) {
                s += 5;
                return *s && strlen(s) <= 32 && s[strspn(s, alnum)] == 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(bare); i++) {
                size_t p = strlen(bare[i]), letters, numbers;

                if (strncmp(s, bare[i], p))
                        continue;
                letters = strspn(s + p, lower);
                numbers = strspn(s + p + letters, digits);
                return letters >= 1 && letters <= 2 && numbers <= 2 &&
                       s[p + letters + numbers] == 0;
        }
        return false;
}

/* "ephemeral0".."ephemeral99"; EC2 itself stops at ephemeral23. */
static bool valid_virtual_name(const char *s)
{
        if (strncmp(s, "ephemeral", 9))
                return false;
        s += 9;
        return (s[0] >= '0' && s[0] <= '9' && !s[1]) ||
               (s[0] >= '1' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && !s[2]);
}

#define ENUM_DESC(name, type, max)                                                     \
        static const char *name##_name(int i) { return name##_to_string((type)i); }    \
        static const struct enum_desc name##_desc = { name##_from_string, name##_name, max }

ENUM_DESC(kiln_arch, enum kiln_arch, _KILN_ARCH_MAX);
ENUM_DESC(kiln_virt, enum kiln_virt, _KILN_VIRT_MAX);
ENUM_DESC(kiln_boot_mode, enum kiln_boot_mode, _KILN_BOOT_MAX);
ENUM_DESC(kiln_ptable, enum kiln_ptable, _KILN_PTABLE_MAX);
ENUM_DESC(kiln_volume_type, enum kiln_volume_type, _KILN_VOL_MAX);

#define EXPECT_BOOL "expected true or false"
#define EXPECT_STRING "expected a string"
#define EXPECT_COUNT "expected a positive integer"

#define STRING(key, type, member, expect, check, maxlen)                               \
        { .name = key, .parse = parse_string, .offset = offsetof(type, member),         \
          .expected = expect, .valid = check, .max_len = maxlen }
#define BOOL(key, type, member)                                                        \
        { .name = key, .parse = parse_bool, .offset = offsetof(type, member),           \
          .expected = EXPECT_BOOL }
#define TRISTATE(key, type, member)                                                    \
        { .name = key, .parse = parse_tristate, .offset = offsetof(type, member),       \
          .expected = EXPECT_BOOL }
#define ENUM(key, type, member, desc)                                                  \
        { .name = key, .parse = parse_enum, .offset = offsetof(type, member),           \
          .enum_desc = &desc }
#define UINT(key, fn, type, member, maximum, expect)                                   \
        { .name = key, .parse = fn, .offset = offsetof(type, member), .max = maximum,   \
          .expected = expect }

static const struct field scrub_fields[] = {
        BOOL("ssh_host_keys", struct kiln_scrub, ssh_host_keys),
        BOOL("machine_id", struct kiln_scrub, machine_id),
        BOOL("dbus_machine_id", struct kiln_scrub, dbus_machine_id),
        BOOL("shell_history", struct kiln_scrub, shell_history),
};

/* A login name as useradd takes it: [a-z_][a-z0-9_-]*, at most 32. */
static bool valid_user_name(const char *s)
{
        size_t n = strlen(s);
        if (!n || n > 32 || !((*s >= 'a' && *s <= 'z') || *s == '_'))
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
                        return false;
        return true;
}

/* Comma-separated group names. */
static bool valid_group_list(const char *s)
{
        char buf[1025];
        char *save = NULL;
        snprintf(buf, sizeof(buf), "%s", s);
        for (char *g = strtok_r(buf, ", ", &save); g; g = strtok_r(NULL, ", ", &save))
                if (!valid_user_name(g))
                        return false;
        return true;
}

/* Text that goes into passwd or sudoers lines: one line, no ':' where it would split fields. */
static bool valid_gecos(const char *s) { return valid_cmdline(s) && !strchr(s, ':'); }
static bool valid_shell(const char *s) { return *s == '/' && valid_gecos(s); }

static const struct field default_user_fields[] = {
        STRING("name", struct kiln_default_user, name, "expected a login name like admin or ec2-user",
               valid_user_name, 32),
        STRING("gecos", struct kiln_default_user, gecos, "expected one line without ':'", valid_gecos, 0),
        STRING("groups", struct kiln_default_user, groups, "expected group names separated by commas",
               valid_group_list, 1024),
        STRING("sudo", struct kiln_default_user, sudo, "expected one sudoers rule like 'ALL=(ALL) NOPASSWD:ALL'",
               valid_cmdline, 0),
        STRING("shell", struct kiln_default_user, shell, "expected an absolute path", valid_shell, 0),
};

static const struct field bdm_fields[] = {
        STRING("device_name", struct kiln_bdm, device_name,
               "expected a device like /dev/xvdb or xvdb", valid_device_name, 0),
        STRING("virtual_name", struct kiln_bdm, virtual_name, "expected ephemeralN",
               valid_virtual_name, 0),
        UINT("volume_size", parse_u64, struct kiln_bdm, volume_size_gib, MAX_VOLUME_GIB,
             "expected a whole number of GiB from 1 to 65536"),
        ENUM("volume_type", struct kiln_bdm, volume_type, kiln_volume_type_desc),
        TRISTATE("delete_on_termination", struct kiln_bdm, delete_on_termination),
        TRISTATE("encrypted", struct kiln_bdm, encrypted),
        UINT("iops", parse_u32, struct kiln_bdm, iops, UINT32_MAX, EXPECT_COUNT),
        UINT("throughput", parse_u32, struct kiln_bdm, throughput, UINT32_MAX, EXPECT_COUNT),
        STRING("snapshot_id", struct kiln_bdm, snapshot_id, "expected a snapshot ID",
               not_empty, 0),
        BOOL("no_device", struct kiln_bdm, no_device),
};

static int parse_bdms(const char *file, const struct field *f, const struct ynode *v,
                      const char *path, void *obj);

static int parse_modules(const char *file, const struct field *f, const struct ynode *v,
                         const char *path, void *obj);

static int parse_keytypes(const char *file, const struct field *f, const struct ynode *v,
                          const char *path, void *obj);

static bool valid_initramfs(const char *s)
{
        return !strcmp(s, "kiln") || !strcmp(s, "distro");
}

static const struct field spec_fields[] = {
        STRING("ami_name", struct kiln_spec, ami_name, EXPECT_STRING, NULL, 0),
        STRING("ami_description", struct kiln_spec, ami_description, EXPECT_STRING, NULL, 0),
        ENUM("ami_virtualization_type", struct kiln_spec, virt, kiln_virt_desc),
        ENUM("architecture", struct kiln_spec, arch, kiln_arch_desc),
        ENUM("boot_mode", struct kiln_spec, boot_mode, kiln_boot_mode_desc),
        TRISTATE("ena_support", struct kiln_spec, ena_support),
        STRING("imds_support", struct kiln_spec, imds_support, "expected 'v2.0'", valid_imds, 0),
        STRING("rootfs", struct kiln_spec, rootfs, "expected a path", not_empty, 0),
        STRING("output", struct kiln_spec, output, "expected a path", not_empty, 0),
        { .name = "size", .parse = parse_spec_size,
          .expected = "expected a size like 8G or 'auto'" },
        ENUM("partition_table", struct kiln_spec, ptable, kiln_ptable_desc),
        STRING("fs_label", struct kiln_spec, fs_label, EXPECT_STRING, NULL, MAX_LABEL),
        { .name = "fs_uuid", .parse = parse_spec_uuid,
          .expected = "expected a UUID like 0fc63daf-8483-4772-8e79-3d69d8477de4" },
        STRING("kernel", struct kiln_spec, kernel, "expected a kernel version or /boot/vmlinuz-VERSION",
               not_empty, 256),
        STRING("kernel_cmdline", struct kiln_spec, kernel_cmdline, "expected one line of kernel arguments", valid_cmdline,
               MAX_CMDLINE),
        STRING("initramfs", struct kiln_spec, initramfs, "expected 'kiln' or 'distro'", valid_initramfs, 0),
        TRISTATE("image_digest", struct kiln_spec, image_digest),
        { .name = "ssh_host_key_types", .parse = parse_keytypes,
          .expected = "expected a sequence of ed25519, ecdsa, rsa" },
        { .name = "initramfs_modules", .parse = parse_modules,
          .expected = "expected a sequence of kernel module names" },
        { .name = "scrub", .parse = parse_section, .offset = offsetof(struct kiln_spec, scrub),
          .expected = "expected a mapping of true/false keys", .fields = scrub_fields,
          .n_fields = ARRAY_SIZE(scrub_fields) },
        { .name = "default_user", .parse = parse_section, .offset = offsetof(struct kiln_spec, default_user),
          .expected = "expected a mapping (name, gecos, groups, sudo, shell)", .fields = default_user_fields,
          .n_fields = ARRAY_SIZE(default_user_fields) },
        { .name = "launch_block_device_mappings", .parse = parse_bdms,
          .expected = "expected a sequence of mappings" },
};

_Static_assert(ARRAY_SIZE(spec_fields) <= MAX_FIELDS, "raise MAX_FIELDS");
_Static_assert(ARRAY_SIZE(bdm_fields) <= MAX_FIELDS, "raise MAX_FIELDS");
_Static_assert(ARRAY_SIZE(scrub_fields) <= MAX_FIELDS, "raise MAX_FIELDS");

/* Module names: what modprobe accepts, letters, digits, '-' and '_'. */
static bool valid_module_name(const char *s)
{
        if (!*s || strlen(s) > 55)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
                      *s == '_'))
                        return false;
        return true;
}

static int parse_modules(const char *file, const struct field *f, const struct ynode *v,
                         const char *path, void *obj)
{
        struct kiln_spec *spec = obj;
        size_t n = 0;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_SEQUENCE)
                return bad_value(file, v, path, "%s", f->expected);
        if (v->n_children > KILN_SPEC_MAX_MODULES)
                return errorf_line(file, v->line, "too many entries in '%s' (limit %d)", path, KILN_SPEC_MAX_MODULES);
        if (v->n_children == 0)
                return 0;
        spec->initramfs_modules = calloc(v->n_children, sizeof(char *));
        if (!spec->initramfs_modules)
                return kiln_errorf(-ENOMEM, "%s: out of memory", file);
        for (const struct ynode *item = v->first; item; item = item->next) {
                if (item->type != YNODE_SCALAR || !valid_module_name(item->str))
                        return bad_value(file, item, path, "%s", "expected a kernel module name like virtio_blk");
                spec->initramfs_modules[n] = strdup(item->str);
                if (!spec->initramfs_modules[n])
                        return kiln_errorf(-ENOMEM, "%s: out of memory", file);
                spec->n_initramfs_modules = ++n;
        }
        return 0;
}

/* Host key types kiln-init makes at first boot, kept as "a,b,c". */
static int parse_keytypes(const char *file, const struct field *f, const struct ynode *v,
                          const char *path, void *obj)
{
        static const char *const known[] = { "ed25519", "ecdsa", "rsa" };
        struct kiln_spec *spec = obj;
        char buf[64] = "";

        if (is_null(v))
                return 0;
        if (v->type != YNODE_SEQUENCE || v->n_children == 0 || v->n_children > ARRAY_SIZE(known))
                return bad_value(file, v, path, "%s", f->expected);
        for (const struct ynode *item = v->first; item; item = item->next) {
                bool ok = false;
                for (size_t i = 0; i < ARRAY_SIZE(known); i++)
                        ok |= item->type == YNODE_SCALAR && !strcmp(item->str, known[i]);
                if (!ok || strstr(buf, item->str))
                        return bad_value(file, item, path, "%s", "expected ed25519, ecdsa or rsa, each once");
                if (buf[0])
                        strcat(buf, ",");
                strcat(buf, item->str);
        }
        spec->ssh_host_key_types = strdup(buf);
        return spec->ssh_host_key_types ? 0 : kiln_errorf(-ENOMEM, "%s: out of memory", file);
}

static void bdm_init(struct kiln_bdm *b)
{
        *b = (struct kiln_bdm){
                .volume_type = -1,
                .delete_on_termination = -1,
                .encrypted = -1,
        };
}

static void bdm_free(struct kiln_bdm *b)
{
        free(b->device_name);
        free(b->virtual_name);
        free(b->snapshot_id);
}

/* Sets bdms and n_bdms of the struct kiln_spec, which owns them from the start. */
static int parse_bdms(const char *file, const struct field *f, const struct ynode *v,
                      const char *path, void *obj)
{
        struct kiln_spec *spec = obj;
        const struct ynode *item;
        size_t i;
        int r;

        if (is_null(v))
                return 0;
        if (v->type != YNODE_SEQUENCE)
                return bad_value(file, v, path, "%s", f->expected);
        if (v->n_children > KILN_SPEC_MAX_BDMS) {
                for (item = v->first, i = 0; i < KILN_SPEC_MAX_BDMS; i++)
                        item = item->next;
                return errorf_line(file, item->line, "too many entries in '%s' (limit %d)", path,
                                   KILN_SPEC_MAX_BDMS);
        }
        if (v->n_children == 0)
                return 0;
        spec->bdms = calloc(v->n_children, sizeof(*spec->bdms));
        if (!spec->bdms)
                return kiln_errorf(-ENOMEM, "%s: out of memory", file);
        spec->n_bdms = v->n_children;
        for (i = 0; i < spec->n_bdms; i++)
                bdm_init(&spec->bdms[i]);
        for (item = v->first, i = 0; item; item = item->next, i++) {
                char ipath[PATH_SIZE];

                format_path(ipath, "%s[%zu]", path, i);
                if (item->type != YNODE_MAPPING)
                        return bad_value(file, item, ipath, "expected a mapping");
                r = parse_mapping(file, item, ipath, bdm_fields, ARRAY_SIZE(bdm_fields),
                                  &spec->bdms[i]);
                if (r < 0)
                        return r;
                if (!spec->bdms[i].device_name)
                        return errorf_line(file, item->line, "'%s': missing 'device_name'",
                                           ipath);
        }
        return 0;
}

static const struct field *find_field(const struct field *fields, size_t n, const char *name)
{
        for (size_t i = 0; i < n; i++)
                if (!strcmp(fields[i].name, name))
                        return &fields[i];
        return NULL;
}

/* Each key once, each known; values parsed by their field's table entry. */
static int parse_mapping(const char *file, const struct ynode *map, const char *path,
                         const struct field *fields, size_t n_fields, void *obj)
{
        size_t first_line[MAX_FIELDS] = { 0 };

        /* libyaml always pairs a key with a value, if only an empty one. */
        for (const struct ynode *k = map->first; k && k->next; k = k->next->next) {
                char key[SHOW_SIZE], kpath[PATH_SIZE], what[SHOW_SIZE + 2];
                const struct field *f;
                size_t idx;
                int r;

                if (k->type != YNODE_SCALAR) {
                        describe(k, what, sizeof(what));
                        return errorf_line(file, k->line, "%s%s%skey is %s (expected a string)",
                                           *path ? "'" : "", path, *path ? "': " : "", what);
                }
                show(k->str, k->len, key);
                format_path(kpath, "%s%s%s", path, *path ? "." : "", key);
                f = find_field(fields, n_fields, k->str);
                if (!f)
                        return errorf_line(file, k->line, "unknown key '%s'", kpath);
                idx = (size_t)(f - fields);
                if (first_line[idx])
                        return errorf_line(file, k->line, "duplicate key '%s' (first on line %zu)",
                                           kpath, first_line[idx]);
                first_line[idx] = k->line;
                r = f->parse(file, f, k->next, kpath, obj);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_root(const char *file, const struct ynode *root, struct kiln_spec *spec)
{
        char what[SHOW_SIZE + 2];

        /* No document, "---" alone or "~": every default. */
        if (!root || is_null(root))
                return 0;
        if (root->type != YNODE_MAPPING) {
                describe(root, what, sizeof(what));
                return errorf_line(file, root->line, "top level must be a mapping, not %s", what);
        }
        return parse_mapping(file, root, "", spec_fields, ARRAY_SIZE(spec_fields), spec);
}

void kiln_spec_init(struct kiln_spec *spec)
{
        *spec = (struct kiln_spec){
                .virt = -1,
                .arch = -1,
                .boot_mode = -1,
                .ena_support = -1,
                .image_digest = -1,
                .ptable = -1,
                .scrub = {
                        .ssh_host_keys = true,
                        .machine_id = true,
                        .dbus_machine_id = true,
                        .shell_history = true,
                },
        };
}

void kiln_spec_free(struct kiln_spec *spec)
{
        if (!spec)
                return;
        free(spec->ami_name);
        free(spec->ami_description);
        free(spec->imds_support);
        free(spec->rootfs);
        free(spec->output);
        free(spec->fs_label);
        free(spec->kernel);
        free(spec->kernel_cmdline);
        free(spec->initramfs);
        free(spec->ssh_host_key_types);
        free(spec->default_user.name);
        free(spec->default_user.gecos);
        free(spec->default_user.groups);
        free(spec->default_user.sudo);
        free(spec->default_user.shell);
        for (size_t i = 0; i < spec->n_initramfs_modules; i++)
                free(spec->initramfs_modules[i]);
        free(spec->initramfs_modules);
        for (size_t i = 0; i < spec->n_bdms; i++)
                bdm_free(&spec->bdms[i]);
        free(spec->bdms);
        /* Leave it empty rather than dangling, so a second free is harmless. */
        kiln_spec_init(spec);
}

int kiln_spec_parse(const char *buf, size_t len, const char *filename, struct kiln_spec *ret)
{
        _cleanup_(ynode_freep) struct ynode *root = NULL;
        _cleanup_(kiln_spec_free) struct kiln_spec spec;
        const char *file = filename ? filename : "<spec>";
        int r;

        kiln_spec_init(&spec);
        if (len > KILN_SPEC_MAX_BYTES)
                return kiln_errorf(-E2BIG, "%s: spec too large (%zu bytes, limit %d)", file, len,
                                   KILN_SPEC_MAX_BYTES);
        r = load_tree(buf, len, file, &root);
        if (r < 0)
                return r;
        r = parse_root(file, root, &spec);
        if (r < 0)
                return r;
        *ret = spec;
        kiln_spec_init(&spec); /* ownership moved to *ret */
        return 0;
}
