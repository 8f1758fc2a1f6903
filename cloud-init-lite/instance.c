/* SPDX-License-Identifier: MIT */
/*
 * struct kiln_instance and the NoCloud meta-data parser.  Pure: YAML bytes
 * (JSON is YAML too) -> fields of the struct, through libyaml with hard
 * limits on size, depth, node count and value length.
 *
 * Keys follow cloud-init's NoCloud datasource: instance-id, local-hostname
 * (hostname when local-hostname is absent), public-keys in any of the shapes
 * cloud-init's normalize_pubkey_data() accepts: one string (a key per line),
 * a list, or a map {name: key | [keys]}, plus EC2's {0: {openssh-key: ...}}.
 * The legacy network-interfaces key is noted as unsupported; other keys are
 * ignored, as cloud-init ignores them.
 */
#include "instance.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "util.h"

#define MAX_DEPTH 8
#define MAX_NODES 8192

static void strv_free(char **l)
{
        if (!l)
                return;
        for (char **p = l; *p; p++)
                free(*p);
        free(l);
}

void kiln_instance_free(struct kiln_instance *in)
{
        if (!in)
                return;
        free(in->datasource);
        free(in->source);
        free(in->instance_id);
        free(in->local_hostname);
        free(in->instance_type);
        free(in->region);
        free(in->availability_zone);
        strv_free(in->public_keys);
        strv_free(in->block_devices);
        free(in->user_data);
        free(in->vendor_data);
        free(in->network_config);
        for (size_t i = 0; i < in->n_nics; i++) {
                free(in->nics[i].mac);
                strv_free(in->nics[i].local_ipv4s);
                free(in->nics[i].subnet_ipv4_cidr);
                strv_free(in->nics[i].ipv6s);
        }
        free(in->nics);
        strv_free(in->dns_servers);
        free(in->dns_domain);
        strv_free(in->notes);
        memset(in, 0, sizeof(*in));
}

size_t kiln_instance_count(char *const *list)
{
        size_t n = 0;

        while (list && list[n])
                n++;
        return n;
}

int kiln_instance_push(char ***list, const char *s, size_t len)
{
        size_t n = kiln_instance_count(*list);
        char **l, *copy;

        copy = strndup(s, len);
        if (!copy)
                return kiln_errorf(-ENOMEM, "out of memory");
        l = realloc(*list, (n + 2) * sizeof(*l));
        if (!l) {
                free(copy);
                return kiln_errorf(-ENOMEM, "out of memory");
        }
        l[n] = copy;
        l[n + 1] = NULL;
        *list = l;
        return 0;
}

int kiln_instance_note(struct kiln_instance *in, const char *fmt, ...)
{
        char buf[256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        if (n < 0)
                return kiln_errorf(-EINVAL, "cannot format a note");
        return kiln_instance_push(&in->notes, buf, strlen(buf));
}

int kiln_instance_id_valid(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > KILN_INSTANCE_ID_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
                return 0;
        for (; *s; s++)
                if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '/')
                        return 0;
        return 1;
}

static bool plain_name_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
}

int kiln_instance_dir_name(const char *id, char ret[static KILN_INSTANCE_DIR_NAME_MAX + 1])
{
        static const char hex[] = "0123456789ABCDEF";
        char esc[3 * KILN_INSTANCE_ID_MAX + 1];
        size_t n = 0, cut = 0;
        bool plain = true;

        if (!kiln_instance_id_valid(id)) {
                char shown[65];
                size_t i;

                /* One line, whatever the id holds. */
                for (i = 0; id[i] && i < sizeof(shown) - 1; i++)
                        shown[i] = (unsigned char)id[i] < 0x20 || (unsigned char)id[i] >= 0x7f ? '?' : id[i];
                shown[i] = 0;
                return kiln_errorf(-EINVAL, "'%s' is not a valid instance id (" KILN_INSTANCE_ID_RULE ")", shown);
        }
        for (const char *p = id; *p; p++) {
                unsigned char c = (unsigned char)*p;

                /* Where the name may be cut: never inside an escape. */
                if (n <= KILN_INSTANCE_DIR_NAME_KEEP)
                        cut = n;
                if (plain_name_char(*p)) {
                        esc[n++] = *p;
                } else {
                        esc[n++] = '%';
                        esc[n++] = hex[c >> 4];
                        esc[n++] = hex[c & 15];
                        plain = false;
                }
        }
        if (n <= KILN_INSTANCE_DIR_NAME_KEEP)
                cut = n;
        esc[n] = 0;
        /* "." and ".." are not valid ids: a plain name is a real file name. */
        if (plain) {
                memcpy(ret, id, n + 1);
                return 0;
        }
        if (n <= KILN_INSTANCE_DIR_NAME_MAX) {
                memcpy(ret, esc, n + 1);
                return 1;
        }
        uint8_t md[32];
        unsigned md_len = 0;

        if (!EVP_Digest(id, strlen(id), md, &md_len, EVP_sha256(), NULL) || md_len != sizeof(md))
                return kiln_errorf(-EIO, "instance id '%.40s...': cannot hash it for its folder name", esc);
        memcpy(ret, esc, cut);
        ret[cut++] = '%';
        ret[cut++] = '%';
        for (size_t i = 0; i < sizeof(md); i++) {
                ret[cut++] = hex[md[i] >> 4];
                ret[cut++] = hex[md[i] & 15];
        }
        ret[cut] = 0;
        return 1;
}

/* --- a bounded YAML tree -------------------------------------------------- */

enum ytype { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
        enum ytype type;
        size_t line;
        bool plain;
        char *str;
        size_t len;
        struct ynode *first, *last, *next;
};

static void ynode_free(struct ynode *n)
{
        while (n) {
                struct ynode *next = n->next;

                ynode_free(n->first); /* depth <= MAX_DEPTH */
                free(n->str);
                free(n);
                n = next;
        }
}

static int meta_error(size_t line, const char *fmt, ...) _printf_(2, 3);
static int meta_error(size_t line, const char *fmt, ...)
{
        char msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        kiln_errorf(-EBADMSG, "meta-data:%zu: %s", line, msg);
        return -EBADMSG;
}

struct loader {
        struct ynode *root, *stack[MAX_DEPTH];
        size_t depth, n_nodes;
        bool done, seen_doc;
};

static int add_node(struct loader *l, size_t line, enum ytype type, struct ynode **ret)
{
        struct ynode *n;

        if (++l->n_nodes > MAX_NODES)
                return meta_error(line, "too many YAML nodes (limit %d)", MAX_NODES);
        if (l->depth == 0 && l->root)
                return meta_error(line, "more than one root node");
        n = calloc(1, sizeof(*n));
        if (!n)
                return kiln_errorf(-ENOMEM, "meta-data: out of memory");
        n->type = type;
        n->line = line;
        if (l->depth == 0) {
                l->root = n;
        } else {
                struct ynode *p = l->stack[l->depth - 1];

                if (p->last)
                        p->last->next = n;
                else
                        p->first = n;
                p->last = n;
        }
        *ret = n;
        return 0;
}

static int load_event(struct loader *l, const yaml_event_t *ev)
{
        size_t line = ev->start_mark.line + 1;
        struct ynode *n;
        int r;

        switch (ev->type) {
        case YAML_SCALAR_EVENT:
                if (ev->data.scalar.anchor)
                        return meta_error(line, "YAML anchors and aliases are not supported");
                if (ev->data.scalar.length > KILN_META_MAX_VALUE * 4)
                        return meta_error(line, "value longer than %u bytes", KILN_META_MAX_VALUE * 4);
                if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length))
                        return meta_error(line, "NUL byte in a value");
                r = add_node(l, line, Y_SCALAR, &n);
                if (r < 0)
                        return r;
                n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
                n->len = ev->data.scalar.length;
                n->str = strndup((const char *)ev->data.scalar.value, n->len);
                if (!n->str)
                        return kiln_errorf(-ENOMEM, "meta-data: out of memory");
                return 0;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
                if ((ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
                                                           : ev->data.mapping_start.anchor))
                        return meta_error(line, "YAML anchors and aliases are not supported");
                if (l->depth >= MAX_DEPTH)
                        return meta_error(line, "nesting deeper than %d levels", MAX_DEPTH);
                r = add_node(l, line, ev->type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP, &n);
                if (r < 0)
                        return r;
                l->stack[l->depth++] = n;
                return 0;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                if (l->depth == 0)
                        return meta_error(line, "unbalanced end of collection");
                l->depth--;
                return 0;
        case YAML_ALIAS_EVENT:
                return meta_error(line, "YAML anchors and aliases are not supported");
        case YAML_DOCUMENT_START_EVENT:
                if (l->seen_doc)
                        return meta_error(line, "more than one YAML document");
                l->seen_doc = true;
                return 0;
        case YAML_STREAM_END_EVENT:
                l->done = true;
                return 0;
        default:
                return 0;
        }
}

static int load_tree(const void *buf, size_t len, struct ynode **ret)
{
        struct loader l = { 0 };
        yaml_parser_t p;
        int r = 0;

        if (!yaml_parser_initialize(&p))
                return kiln_errorf(-ENOMEM, "meta-data: out of memory");
        yaml_parser_set_input_string(&p, (const unsigned char *)(buf ? buf : ""), len);
        while (!l.done) {
                yaml_event_t ev;

                if (!yaml_parser_parse(&p, &ev)) {
                        size_t line = p.problem_mark.line + 1;

                        if (p.error == YAML_MEMORY_ERROR)
                                r = kiln_errorf(-ENOMEM, "meta-data: out of memory");
                        else if (p.error == YAML_READER_ERROR)
                                r = meta_error(1, "invalid YAML: %s at byte %zu",
                                               p.problem ? p.problem : "bad encoding", p.problem_offset);
                        else
                                r = meta_error(line, "invalid YAML: %s", p.problem ? p.problem : "syntax error");
                        break;
                }
                r = load_event(&l, &ev);
                yaml_event_delete(&ev);
                if (r < 0)
                        break;
        }
        yaml_parser_delete(&p);
        if (r < 0) {
                ynode_free(l.root);
                return r;
        }
        *ret = l.root;
        return 0;
}

/* --- the tree -> struct kiln_instance ------------------------------------- */

static bool is_null(const struct ynode *v)
{
        return v->type == Y_SCALAR && v->plain &&
               (v->len == 0 || !strcmp(v->str, "~") || !strcmp(v->str, "null") || !strcmp(v->str, "Null") ||
                !strcmp(v->str, "NULL"));
}

static const char *type_name(const struct ynode *v)
{
        return v->type == Y_SEQ ? "a list" : v->type == Y_MAP ? "a mapping" : "a string";
}

/* A one-line value: trimmed, no control characters, bounded. */
static int take_line(const struct ynode *v, const char *key, char **ret)
{
        const char *s = v->str;
        size_t n = v->len;
        char *copy;

        if (v->type != Y_SCALAR)
                return meta_error(v->line, "%s: expected a string, got %s", key, type_name(v));
        while (n && (*s == ' ' || *s == '\t'))
                s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
                n--;
        if (n > 255)
                return meta_error(v->line, "%s: longer than 255 bytes", key);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
                        return meta_error(v->line, "%s: control character in the value", key);
        copy = strndup(s, n);
        if (!copy)
                return kiln_errorf(-ENOMEM, "meta-data: out of memory");
        free(*ret);
        *ret = copy;
        return 0;
}

/* Every non-blank, non-comment line of a string is a key. */
static int push_keys(char ***keys, const struct ynode *v, const char *what)
{
        const char *s = v->str, *end = v->str + v->len;

        if (v->type != Y_SCALAR)
                return meta_error(v->line, "%s: expected a key (a string), got %s", what, type_name(v));
        while (s < end) {
                const char *nl = memchr(s, '\n', (size_t)(end - s));
                const char *e = nl ? nl : end, *b = s;
                int r;

                s = nl ? nl + 1 : end;
                while (b < e && (*b == ' ' || *b == '\t'))
                        b++;
                while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                        e--;
                if (b == e || *b == '#')
                        continue;
                if ((size_t)(e - b) > KILN_META_MAX_VALUE)
                        return meta_error(v->line, "%s: a key longer than %d bytes", what, KILN_META_MAX_VALUE);
                for (const char *c = b; c < e; c++)
                        if ((unsigned char)*c < 0x20 && *c != '\t')
                                return meta_error(v->line, "%s: control character in a key", what);
                if (kiln_instance_count(*keys) >= KILN_META_MAX_KEYS)
                        return meta_error(v->line, "%s: more than %d keys", what, KILN_META_MAX_KEYS);
                r = kiln_instance_push(keys, b, (size_t)(e - b));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int push_key_list(char ***keys, const struct ynode *v, const char *what)
{
        int r = 0;

        if (is_null(v))
                return 0;
        if (v->type == Y_SCALAR)
                return push_keys(keys, v, what);
        if (v->type != Y_SEQ)
                return meta_error(v->line, "%s: expected a key or a list of keys, got %s", what, type_name(v));
        for (const struct ynode *i = v->first; i && r >= 0; i = i->next)
                if (!is_null(i))
                        r = push_keys(keys, i, what);
        return r;
}

static int parse_public_keys(char ***keys, const struct ynode *v)
{
        int r = 0;

        if (is_null(v))
                return 0;
        if (v->type != Y_MAP)
                return push_key_list(keys, v, "public-keys");
        /* {name: key | [keys]} or EC2's {0: {openssh-key: key}}. */
        for (const struct ynode *k = v->first; k && k->next && r >= 0; k = k->next->next) {
                const struct ynode *val = k->next;
                char what[80];

                snprintf(what, sizeof(what), "public-keys.%.40s", k->type == Y_SCALAR ? k->str : "?");
                if (val->type != Y_MAP) {
                        r = push_key_list(keys, val, what);
                        continue;
                }
                for (const struct ynode *kk = val->first; kk && kk->next && r >= 0; kk = kk->next->next)
                        if (kk->type == Y_SCALAR && !strcmp(kk->str, "openssh-key"))
                                r = push_key_list(keys, kk->next, what);
        }
        return r;
}

int kiln_nocloud_metadata_parse(struct kiln_instance *in, const void *buf, size_t len)
{
        struct kiln_instance tmp = { 0 };
        struct ynode *root = NULL, *hostname = NULL;
        int r = 0;

        if (len > KILN_META_MAX_BYTES)
                return kiln_errorf(-EFBIG, "meta-data: larger than %u bytes", KILN_META_MAX_BYTES);
        if (buf && memchr(buf, 0, len))
                return meta_error(1, "NUL byte in the file");
        r = load_tree(buf, len, &root);
        if (r < 0)
                return r;
        if (!root || is_null(root))
                goto done;
        if (root->type != Y_MAP) {
                r = meta_error(root->line, "expected a mapping of keys, got %s", type_name(root));
                goto done;
        }
        for (struct ynode *k = root->first; k && k->next && r >= 0; k = k->next->next) {
                struct ynode *v = k->next;

                if (k->type != Y_SCALAR) {
                        r = meta_error(k->line, "a key must be a string, got %s", type_name(k));
                        break;
                }
                if (!strcmp(k->str, "instance-id")) {
                        if (is_null(v))
                                continue;
                        r = take_line(v, "instance-id", &tmp.instance_id);
                        if (r >= 0 && !kiln_instance_id_valid(tmp.instance_id))
                                r = meta_error(v->line,
                                               "instance-id: '%.64s' is not a valid instance id "
                                               "(" KILN_INSTANCE_ID_RULE ")",
                                               tmp.instance_id);
                } else if (!strcmp(k->str, "local-hostname")) {
                        if (!is_null(v))
                                r = take_line(v, "local-hostname", &tmp.local_hostname);
                } else if (!strcmp(k->str, "hostname")) {
                        hostname = v;
                } else if (!strcmp(k->str, "public-keys")) {
                        /* A later public-keys replaces an earlier one, as in PyYAML. */
                        char **keys = NULL;

                        r = parse_public_keys(&keys, v);
                        if (r >= 0) {
                                strv_free(tmp.public_keys);
                                tmp.public_keys = keys;
                        } else {
                                strv_free(keys);
                        }
                } else if (!strcmp(k->str, "network-interfaces")) {
                        r = kiln_instance_note(&tmp, "meta-data network-interfaces is not supported (ignored)");
                }
        }
        if (r >= 0 && !tmp.local_hostname && hostname && !is_null(hostname))
                r = take_line(hostname, "hostname", &tmp.local_hostname);
done:
        ynode_free(root);
        if (r < 0) {
                kiln_instance_free(&tmp);
                return r;
        }
        /* Move what was found into *in, replacing earlier values. */
        if (tmp.instance_id) {
                free(in->instance_id);
                in->instance_id = TAKE_PTR(tmp.instance_id);
        }
        if (tmp.local_hostname) {
                free(in->local_hostname);
                in->local_hostname = TAKE_PTR(tmp.local_hostname);
        }
        if (tmp.public_keys) {
                strv_free(in->public_keys);
                in->public_keys = TAKE_PTR(tmp.public_keys);
        }
        for (char **n = tmp.notes; n && *n; n++) {
                r = kiln_instance_push(&in->notes, *n, strlen(*n));
                if (r < 0)
                        break;
        }
        kiln_instance_free(&tmp);
        return r < 0 ? r : 0;
}
