/* SPDX-License-Identifier: MIT */
/*
 * User data: raw bytes from a datasource -> an ordered list of parts, each
 * typed the way cloud-init types it.  Pure: no I/O.  Detected by content:
 * gzip (magic bytes, inflated with a hard limit), MIME multipart (nested,
 * base64 and quoted-printable transfer encodings), "#!" scripts,
 * "#cloud-config", "#cloud-boothook", "#include", "## template: jinja",
 * "#part-handler".
 */
#ifndef KILN_CLOUD_INIT_LITE_USERDATA_H
#define KILN_CLOUD_INIT_LITE_USERDATA_H

#include <stddef.h>
#include <stdint.h>

#define KILN_UD_MAX_BYTES (16u << 20) /* after every gzip layer is undone */
/* EC2's limit on user data as given to RunInstances, before base64: kiln run
 * holds launches to it; a NoCloud seed takes up to KILN_UD_MAX_BYTES. */
#define KILN_EC2_USER_DATA_MAX 16384u
#define KILN_UD_MAX_PARTS 256
#define KILN_UD_MAX_DEPTH 8            /* MIME nesting and gzip layers together */

enum kiln_ud_type {
        KILN_UD_SCRIPT,        /* text/x-shellscript, "#!" */
        KILN_UD_CLOUD_CONFIG,  /* text/cloud-config, "#cloud-config" */
        KILN_UD_BOOTHOOK,      /* text/cloud-boothook, "#cloud-boothook" */
        KILN_UD_INCLUDE,       /* text/x-include-url, "#include": not applied */
        KILN_UD_PART_HANDLER,  /* text/part-handler: not applied */
        KILN_UD_JINJA,         /* text/jinja2, "## template: jinja": not applied */
        KILN_UD_UNKNOWN,       /* anything else: reported, not applied */
};

struct kiln_ud_part {
        enum kiln_ud_type type;
        char *content_type;    /* as declared or detected, e.g. "text/x-shellscript" */
        char *filename;        /* MIME filename= (or name=) or NULL; scripts and boothooks
                                * get "part-NNN", NNN the part's number, as in cloud-init */
        uint8_t *data;         /* decoded payload, NUL-terminated (not counted in len) */
        size_t len;
};

struct kiln_userdata {
        struct kiln_ud_part *parts;
        size_t n_parts;
        unsigned gzip_layers;  /* how many gzip layers were undone, for reports */
        unsigned mime_depth;   /* deepest MIME nesting seen */
};

const char *kiln_ud_type_to_string(enum kiln_ud_type t);

/* How often a script part runs, from its content type, as cloud-init's
 * handlers file them: text/x-shellscript-per-boot every boot,
 * text/x-shellscript-per-once once for the life of the disk (whatever the
 * instance id), any other script (text/x-shellscript, "#!",
 * text/x-shellscript-per-instance) once per instance. */
enum kiln_ud_freq { KILN_UD_PER_INSTANCE, KILN_UD_PER_BOOT, KILN_UD_PER_ONCE };
enum kiln_ud_freq kiln_ud_script_freq(const struct kiln_ud_part *p);

/*
 * Decode user data.  Empty input gives zero parts.  -EBADMSG with the reason
 * and position ("MIME part 3: no closing boundary '--XYZ--'",
 * "gzip: corrupt deflate stream at byte 1234") in kiln_last_error(); -EFBIG
 * when a limit is exceeded (a gzip bomb, too many parts).
 */
int kiln_userdata_decode(const void *buf, size_t len, struct kiln_userdata *ret);
void kiln_userdata_free(struct kiln_userdata *ud);

/*
 * The decoders user data needs, shared with #cloud-config's write_files.
 * where prefixes messages ("MIME part 2", "write_files[0]").
 *
 * base64, white space ignored, '=' padding optional; -EBADMSG on any other
 * byte (with its offset) or data after the padding.
 */
int kiln_ud_base64_decode(const char *where, const void *in, size_t len, uint8_t **ret, size_t *ret_len);
/* gzip (concatenated members too) into a NUL-terminated buffer of at most
 * max bytes: -EFBIG beyond, -EBADMSG when corrupt, truncated or followed by
 * anything but NUL padding. */
int kiln_ud_gunzip(const char *where, const void *in, size_t len, size_t max, uint8_t **ret, size_t *ret_len);

#endif
