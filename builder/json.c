/* SPDX-License-Identifier: MIT */
#include "json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put(struct kiln_json *j, const char *s, size_t n)
{
        if (j->failed)
                return;
        if (j->len + n + 1 > j->cap) {
                size_t cap = (j->cap ? j->cap * 2 : 256) + n;
                char *b = realloc(j->buf, cap);
                if (!b) {
                        j->failed = true;
                        return;
                }
                j->buf = b;
                j->cap = cap;
        }
        memcpy(j->buf + j->len, s, n);
        j->len += n;
        j->buf[j->len] = 0;
}

static void puts_(struct kiln_json *j, const char *s) { put(j, s, strlen(s)); }

static void indent(struct kiln_json *j)
{
        put(j, "\n", 1);
        for (int i = 0; i < j->depth; i++)
                put(j, "  ", 2);
}

static void quoted(struct kiln_json *j, const char *s)
{
        put(j, "\"", 1);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                char esc[8];
                switch (*p) {
                case '"': puts_(j, "\\\""); break;
                case '\\': puts_(j, "\\\\"); break;
                case '\n': puts_(j, "\\n"); break;
                case '\t': puts_(j, "\\t"); break;
                case '\r': puts_(j, "\\r"); break;
                default:
                        if (*p < 0x20) {
                                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                                puts_(j, esc);
                        } else {
                                put(j, (const char *)p, 1);
                        }
                }
        }
        put(j, "\"", 1);
}

static void key(struct kiln_json *j, const char *k)
{
        if (j->depth > 0) {
                if (j->need_comma[j->depth])
                        put(j, ",", 1);
                indent(j);
        }
        j->need_comma[j->depth] = true;
        if (k) {
                quoted(j, k);
                put(j, ": ", 2);
        }
}

static void open_(struct kiln_json *j, const char *k, const char *c)
{
        key(j, k);
        puts_(j, c);
        if (j->depth + 1 < 32)
                j->depth++;
        j->need_comma[j->depth] = false;
}

static void close_(struct kiln_json *j, const char *c)
{
        bool any = j->need_comma[j->depth];
        j->depth--;
        if (any)
                indent(j);
        puts_(j, c);
}

void kiln_json_begin_object(struct kiln_json *j, const char *k) { open_(j, k, "{"); }
void kiln_json_end_object(struct kiln_json *j) { close_(j, "}"); }
void kiln_json_begin_array(struct kiln_json *j, const char *k) { open_(j, k, "["); }
void kiln_json_end_array(struct kiln_json *j) { close_(j, "]"); }

void kiln_json_string(struct kiln_json *j, const char *k, const char *v)
{
        key(j, k);
        quoted(j, v);
}

void kiln_json_uint(struct kiln_json *j, const char *k, uint64_t v)
{
        char b[32];
        key(j, k);
        snprintf(b, sizeof(b), "%" PRIu64, v);
        puts_(j, b);
}

void kiln_json_int(struct kiln_json *j, const char *k, int64_t v)
{
        char b[32];
        key(j, k);
        snprintf(b, sizeof(b), "%" PRId64, v);
        puts_(j, b);
}

void kiln_json_bool(struct kiln_json *j, const char *k, bool v)
{
        key(j, k);
        puts_(j, v ? "true" : "false");
}

char *kiln_json_finish(struct kiln_json *j)
{
        put(j, "\n", 1);
        if (j->failed) {
                free(j->buf);
                return NULL;
        }
        return j->buf;
}
