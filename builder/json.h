/* SPDX-License-Identifier: MIT */
/* A small JSON writer: enough for kiln's metadata files, with escaping right. */
#ifndef KILN_JSON_H
#define KILN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kiln_json {
        char *buf;
        size_t len, cap;
        int depth;
        bool need_comma[32];
        bool failed;
};

void kiln_json_begin_object(struct kiln_json *j, const char *key);
void kiln_json_end_object(struct kiln_json *j);
void kiln_json_begin_array(struct kiln_json *j, const char *key);
void kiln_json_end_array(struct kiln_json *j);
void kiln_json_string(struct kiln_json *j, const char *key, const char *value);
void kiln_json_uint(struct kiln_json *j, const char *key, uint64_t value);
void kiln_json_int(struct kiln_json *j, const char *key, int64_t value);
void kiln_json_bool(struct kiln_json *j, const char *key, bool value);
/* The text (with a final newline), or NULL if memory ran out; caller frees. */
char *kiln_json_finish(struct kiln_json *j);

#endif
