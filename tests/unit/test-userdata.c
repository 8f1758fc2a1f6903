/* SPDX-License-Identifier: MIT */
/*
 * User data decoding: the formats of cloud-init's user-data page (scripts,
 * #cloud-config, boothooks, #include, jinja, part-handlers), MIME multipart
 * mixing them (LF and CRLF, quoted and bare boundaries, preamble, epilogue,
 * nesting, base64 and quoted-printable parts, gzip'd parts), gzip'd user
 * data, and malformed input: bad boundaries, bad base64, truncated and
 * corrupt gzip, a gzip bomb, too many parts, too deep, too big.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../lib/tap.h"
#include "userdata.h"
#include "util.h"

static int decode(const char *s, struct kiln_userdata *ud)
{
        return kiln_userdata_decode(s, strlen(s), ud);
}

/* gzip of buf: repeat copies of it, as one member. */
static uint8_t *gz(const void *buf, size_t len, size_t repeat, size_t *ret_len)
{
        size_t cap = len * repeat / 100 + 65536, n;
        uint8_t *out = malloc(cap);
        z_stream z = { 0 };

        if (!out || deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY) != Z_OK)
                abort();
        z.next_out = out;
        z.avail_out = (uInt)cap;
        for (size_t i = 0; i < repeat; i++) {
                z.next_in = (Bytef *)(uintptr_t)buf;
                z.avail_in = (uInt)len;
                if (deflate(&z, i + 1 == repeat ? Z_FINISH : Z_NO_FLUSH) == Z_STREAM_ERROR || z.avail_in)
                        abort();
        }
        n = cap - z.avail_out;
        deflateEnd(&z);
        *ret_len = n;
        return out;
}

static bool part_is(const struct kiln_userdata *ud, size_t i, enum kiln_ud_type type, const char *ctype,
                    const char *filename, const char *data)
{
        const struct kiln_ud_part *p;

        if (i >= ud->n_parts) {
                tap_diag("  no part %zu (%zu parts)", i, ud->n_parts);
                return false;
        }
        p = &ud->parts[i];
        if (p->type != type || strcmp(p->content_type, ctype) ||
            (filename ? !p->filename || strcmp(p->filename, filename) : p->filename != NULL) ||
            (data && (p->len != strlen(data) || memcmp(p->data, data, p->len))) || p->data[p->len]) {
                tap_diag("  part %zu: type %s, '%s', filename '%s', %zu bytes '%.60s'", i,
                         kiln_ud_type_to_string(p->type), p->content_type, p->filename ? p->filename : "(null)",
                         p->len, (const char *)p->data);
                return false;
        }
        return true;
}

static void test_single(void)
{
        static const struct {
                const char *what, *in;
                enum kiln_ud_type type;
                const char *ctype, *filename;
        } cases[] = {
                { "#! script", "#!/bin/bash\necho hello\n", KILN_UD_SCRIPT, "text/x-shellscript", "part-001" },
                { "#cloud-config", "#cloud-config\nruncmd: [ls]\n", KILN_UD_CLOUD_CONFIG, "text/cloud-config",
                  NULL },
                { "white space and case before the marker", " \n\t#Cloud-Config\nhostname: a\n",
                  KILN_UD_CLOUD_CONFIG, "text/cloud-config", NULL },
                { "#cloud-boothook", "#cloud-boothook\n#!/bin/sh\necho booted > /run/x\n", KILN_UD_BOOTHOOK,
                  "text/cloud-boothook", "part-001" },
                { "#include", "#include\nhttps://example.com/a.txt\n", KILN_UD_INCLUDE, "text/x-include-url",
                  NULL },
                { "#include-once (not #include)", "#include-once\nhttps://example.com/b.txt\n", KILN_UD_INCLUDE,
                  "text/x-include-once-url", NULL },
                { "## template: jinja", "## template: jinja\n#cloud-config\nhostname: {{ v1.local_hostname }}\n",
                  KILN_UD_JINJA, "text/jinja2", NULL },
                { "#part-handler", "#part-handler\ndef list_types(): return []\n", KILN_UD_PART_HANDLER,
                  "text/part-handler", NULL },
                { "#cloud-config-archive (not #cloud-config)", "#cloud-config-archive\n- type: foo\n",
                  KILN_UD_UNKNOWN, "text/cloud-config-archive", NULL },
                { "plain text", "hello, instance\n", KILN_UD_UNKNOWN, "text/plain", NULL },
                { "a header-like first line without MIME-Version", "Content-Type: text/x-shellscript\n\necho\n",
                  KILN_UD_UNKNOWN, "text/plain", NULL },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct kiln_userdata ud;
                int r = decode(cases[i].in, &ud);

                ok(r == 0 && ud.n_parts == 1 &&
                   part_is(&ud, 0, cases[i].type, cases[i].ctype, cases[i].filename, cases[i].in),
                   "single part: %s", cases[i].what);
                if (r == 0)
                        kiln_userdata_free(&ud);
        }

        struct kiln_userdata ud;
        ok(kiln_userdata_decode("", 0, &ud) == 0 && ud.n_parts == 0, "empty user data: no parts");
        kiln_userdata_free(&ud);
        ok(kiln_userdata_decode(NULL, 0, &ud) == 0 && ud.n_parts == 0, "NULL, 0: no parts");
}

#define SCRIPT "#!/bin/sh\necho 'hello from the script'\n"
#define CC "#cloud-config\nruncmd:\n  - echo one\n"

static void test_mime(void)
{
        struct kiln_userdata ud;
        int r;

        /* What cloud-init's make-mime (Python's email package) writes. */
        r = decode("Content-Type: multipart/mixed; boundary=\"===============4291038100093149247==\"\n"
                   "MIME-Version: 1.0\n"
                   "\n"
                   "--===============4291038100093149247==\n"
                   "Content-Type: text/cloud-config; charset=\"us-ascii\"\n"
                   "MIME-Version: 1.0\n"
                   "Content-Transfer-Encoding: 7bit\n"
                   "Content-Disposition: attachment; filename=\"config.yaml\"\n"
                   "\n" CC "\n"
                   "--===============4291038100093149247==\n"
                   "Content-Type: text/x-shellscript; charset=\"us-ascii\"\n"
                   "MIME-Version: 1.0\n"
                   "Content-Transfer-Encoding: 7bit\n"
                   "Content-Disposition: attachment; filename=\"setup.sh\"\n"
                   "\n" SCRIPT "\n"
                   "--===============4291038100093149247==--\n",
                   &ud);
        ok(r == 0 && ud.n_parts == 2 && ud.mime_depth == 1 &&
           part_is(&ud, 0, KILN_UD_CLOUD_CONFIG, "text/cloud-config", "config.yaml", CC) &&
           part_is(&ud, 1, KILN_UD_SCRIPT, "text/x-shellscript", "setup.sh", SCRIPT),
           "make-mime style multipart: cloud-config and script, filenames, the line break before a boundary dropped");
        if (r == 0)
                kiln_userdata_free(&ud);

        r = decode("MIME-Version: 1.0\r\n"
                   "Content-Type: multipart/mixed;\r\n boundary=XYZ\r\n"
                   "\r\n"
                   "This is the preamble, ignored.\r\n"
                   "--XYZ\r\n"
                   "Content-Type: text/x-shellscript-per-boot\r\n"
                   "\r\n"
                   "#!/bin/sh\r\necho boot\r\n"
                   "--XYZ  \r\n"
                   "\r\n"
                   "#cloud-config\r\nhostname: a\r\n"
                   "--XYZ--\r\n"
                   "epilogue, ignored\r\n--XYZ\r\nnot a part\r\n",
                   &ud);
        ok(r == 0 && ud.n_parts == 2 &&
           part_is(&ud, 0, KILN_UD_SCRIPT, "text/x-shellscript-per-boot", "part-001", "#!/bin/sh\r\necho boot") &&
           part_is(&ud, 1, KILN_UD_CLOUD_CONFIG, "text/cloud-config", NULL, "#cloud-config\r\nhostname: a"),
           "CRLF, folded Content-Type, bare boundary, preamble, epilogue, per-boot type kept, untyped part sniffed");
        if (r == 0)
                kiln_userdata_free(&ud);

        /* How often each kind of script runs (cloud-init's handlers by frequency). */
        r = decode("Content-Type: multipart/mixed; boundary=B\n\n"
                   "--B\nContent-Type: text/x-shellscript-per-boot\n\n#!/bin/sh\necho boot\n"
                   "--B\nContent-Type: Text/X-Shellscript-Per-Once\n\n#!/bin/sh\necho once\n"
                   "--B\nContent-Type: text/x-shellscript-per-instance\n\n#!/bin/sh\necho instance\n"
                   "--B\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho user\n"
                   "--B\n\n#!/bin/sh\necho sniffed\n"
                   "--B\nContent-Type: text/cloud-boothook\n\n#cloud-boothook\necho hook\n"
                   "--B--\n",
                   &ud);
        ok(r == 0 && ud.n_parts == 6 && kiln_ud_script_freq(&ud.parts[0]) == KILN_UD_PER_BOOT &&
           kiln_ud_script_freq(&ud.parts[1]) == KILN_UD_PER_ONCE &&
           !strcmp(ud.parts[1].content_type, "text/x-shellscript-per-once") &&
           kiln_ud_script_freq(&ud.parts[2]) == KILN_UD_PER_INSTANCE &&
           kiln_ud_script_freq(&ud.parts[3]) == KILN_UD_PER_INSTANCE &&
           kiln_ud_script_freq(&ud.parts[4]) == KILN_UD_PER_INSTANCE &&
           ud.parts[5].type == KILN_UD_BOOTHOOK && kiln_ud_script_freq(&ud.parts[5]) == KILN_UD_PER_INSTANCE,
           "script frequency: per-boot, per-once (type in any case), per-instance, plain and sniffed scripts");
        if (r == 0)
                kiln_userdata_free(&ud);

        /* "--XYZW" is not the boundary "--XYZ". */
        r = decode("Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\n\nline\n--XYZW\nstill part one\n--XYZ--\n",
                   &ud);
        ok(r == 0 && ud.n_parts == 1 &&
           part_is(&ud, 0, KILN_UD_UNKNOWN, "text/plain", NULL, "line\n--XYZW\nstill part one"),
           "starts with Content-Type: multipart (no MIME-Version); a longer boundary-like line is content");
        if (r == 0)
                kiln_userdata_free(&ud);

        /* base64 (wrapped, padded) and quoted-printable parts, and types declared
         * text/plain and application/octet-stream sniffed by content. */
        r = decode("MIME-Version: 1.0\n"
                   "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
                   "--b\n"
                   "Content-Type: text/x-shellscript\n"
                   "Content-Transfer-Encoding: base64\n\n"
                   "IyEvYmluL3NoCmVjaG8gJ2hlbGxvIGZyb20g\ndGhlIHNjcmlwdCcK\n"
                   "--b\n"
                   "Content-Type: text/plain; name=\"cc.txt\"\n"
                   "Content-Transfer-Encoding: quoted-printable\n\n"
                   "#cloud-config\nfinal_message: caf=C3=A9 =3D done  \nlong=\n line\n"
                   "--b\n"
                   "Content-Type: application/octet-stream\n"
                   "Content-Transfer-Encoding: BASE64\n\n"
                   "I2luY2x1ZGUKaHR0cDovL3guZXhhbXBsZS8=\n"
                   "--b--\n",
                   &ud);
        ok(r == 0 && ud.n_parts == 3 && part_is(&ud, 0, KILN_UD_SCRIPT, "text/x-shellscript", "part-001", SCRIPT) &&
           part_is(&ud, 1, KILN_UD_CLOUD_CONFIG, "text/cloud-config", "cc.txt",
                   "#cloud-config\nfinal_message: caf\xc3\xa9 = done\nlong line") &&
           part_is(&ud, 2, KILN_UD_INCLUDE, "text/x-include-url", NULL, "#include\nhttp://x.example/"),
           "base64 and quoted-printable parts; text/plain and octet-stream typed by content; Content-Type name=");
        if (r == 0)
                kiln_userdata_free(&ud);

        /* Nested: multipart/alternative inside multipart/mixed. */
        r = decode("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=outer\n\n"
                   "--outer\nContent-Type: multipart/alternative; boundary=\"in ner\"\n\n"
                   "--in ner\nContent-Type: text/cloud-boothook\n\n#cloud-boothook\necho hi\n"
                   "--in ner\nContent-Type: text/jinja2\n\n## template: jinja\n{{ x }}\n"
                   "--in ner--\n"
                   "--outer\nContent-Type: text/part-handler\nContent-Disposition: attachment; filename=h.py\n\n"
                   "#part-handler\n"
                   "--outer--\n",
                   &ud);
        ok(r == 0 && ud.n_parts == 3 && ud.mime_depth == 2 &&
           part_is(&ud, 0, KILN_UD_BOOTHOOK, "text/cloud-boothook", "part-001", "#cloud-boothook\necho hi") &&
           part_is(&ud, 1, KILN_UD_JINJA, "text/jinja2", NULL, "## template: jinja\n{{ x }}") &&
           part_is(&ud, 2, KILN_UD_PART_HANDLER, "text/part-handler", "h.py", "#part-handler"),
           "nested multipart (quoted boundary with a space), depth 2");
        if (r == 0)
                kiln_userdata_free(&ud);

        r = decode("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=e\n\n--e--\n", &ud);
        ok(r == 0 && ud.n_parts == 0, "a multipart with no parts");
        if (r == 0)
                kiln_userdata_free(&ud);

        r = decode("MIME-Version: 1.0\nContent-Type: text/x-shellscript\n\n" SCRIPT, &ud);
        ok(r == 0 && ud.n_parts == 1 && ud.mime_depth == 0 &&
           part_is(&ud, 0, KILN_UD_SCRIPT, "text/x-shellscript", "part-001", SCRIPT),
           "a single-part MIME message");
        if (r == 0)
                kiln_userdata_free(&ud);
}

static void test_gzip(void)
{
        struct kiln_userdata ud;
        size_t n1, n2, n3;
        uint8_t *g1, *g2, *g3;
        int r;

        g1 = gz(CC, strlen(CC), 1, &n1);
        r = kiln_userdata_decode(g1, n1, &ud);
        ok(r == 0 && ud.gzip_layers == 1 && ud.n_parts == 1 &&
           part_is(&ud, 0, KILN_UD_CLOUD_CONFIG, "text/cloud-config", NULL, CC),
           "gzip'd #cloud-config");
        if (r == 0)
                kiln_userdata_free(&ud);

        g2 = gz(g1, n1, 1, &n2);
        r = kiln_userdata_decode(g2, n2, &ud);
        ok(r == 0 && ud.gzip_layers == 2 && part_is(&ud, 0, KILN_UD_CLOUD_CONFIG, "text/cloud-config", NULL, CC),
           "gzip twice: two layers undone");
        if (r == 0)
                kiln_userdata_free(&ud);

        /* Two members concatenated (cat a.gz b.gz) are one stream. */
        uint8_t *cat = malloc(2 * n1);
        memcpy(cat, g1, n1);
        memcpy(cat + n1, g1, n1);
        r = kiln_userdata_decode(cat, 2 * n1, &ud);
        ok(r == 0 && part_is(&ud, 0, KILN_UD_CLOUD_CONFIG, "text/cloud-config", NULL, CC CC),
           "concatenated gzip members");
        if (r == 0)
                kiln_userdata_free(&ud);
        free(cat);

        /* gzip'd MIME, with a gzip'd base64 part inside. */
#define MIME_FMT "Content-Type: multipart/mixed; boundary=\"zz\"\nMIME-Version: 1.0\n\n" \
                               "--zz\nContent-Type: application/x-gzip\nContent-Transfer-Encoding: base64\n\n%s\n" \
                               "--zz\nContent-Type: text/x-shellscript\n\n" SCRIPT "\n--zz--\n"
        uint8_t *b64 = malloc(4 * n1 + 8);
        {
                static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                size_t o = 0;

                for (size_t i = 0; i < n1; i += 3) {
                        uint32_t v = (uint32_t)g1[i] << 16 | (i + 1 < n1 ? (uint32_t)g1[i + 1] << 8 : 0) |
                                     (i + 2 < n1 ? g1[i + 2] : 0);
                        b64[o++] = (uint8_t)tbl[v >> 18 & 63];
                        b64[o++] = (uint8_t)tbl[v >> 12 & 63];
                        b64[o++] = i + 1 < n1 ? (uint8_t)tbl[v >> 6 & 63] : '=';
                        b64[o++] = i + 2 < n1 ? (uint8_t)tbl[v & 63] : '=';
                }
                b64[o] = 0;
        }
        char *mime;
        if (asprintf(&mime, MIME_FMT, (const char *)b64) < 0)
                abort();
        g3 = gz(mime, strlen(mime), 1, &n3);
        r = kiln_userdata_decode(g3, n3, &ud);
        if (r < 0)
                tap_diag("  %s", kiln_last_error());
        ok(r == 0 && ud.gzip_layers == 2 && ud.mime_depth == 1 && ud.n_parts == 2 &&
           part_is(&ud, 0, KILN_UD_CLOUD_CONFIG, "text/cloud-config", NULL, CC) &&
           part_is(&ud, 1, KILN_UD_SCRIPT, "text/x-shellscript", "part-002", SCRIPT),
           "gzip'd MIME with an application/x-gzip base64 part: typed by content once inflated");
        if (r == 0)
                kiln_userdata_free(&ud);
        free(mime);
        free(b64);

        /* Truncated and corrupt. */
        r = kiln_userdata_decode(g1, n1 - 6, &ud);
        ok(r == -EBADMSG && strstr(kiln_last_error(), "gzip: truncated"), "truncated gzip: %s", kiln_last_error());
        g1[12] ^= 0xff;
        g1[13] ^= 0x55;
        r = kiln_userdata_decode(g1, n1, &ud);
        ok(r == -EBADMSG && strstr(kiln_last_error(), "gzip:"), "corrupt gzip: %s", kiln_last_error());
        g1[12] ^= 0xff;
        g1[13] ^= 0x55;
        uint8_t *junk = malloc(n1 + 3);
        memcpy(junk, g1, n1);
        memcpy(junk + n1, "abc", 3);
        r = kiln_userdata_decode(junk, n1 + 3, &ud);
        ok(r == -EBADMSG && strstr(kiln_last_error(), "trailing garbage"), "gzip + garbage: %s", kiln_last_error());
        free(junk);
        free(g1);
        free(g2);
        free(g3);

        /* A gzip bomb: 100 MiB of zeros is ~100 KiB of gzip. */
        static uint8_t zeros[1 << 20];
        size_t nb;
        uint8_t *bomb = gz(zeros, sizeof(zeros), 100, &nb);
        r = kiln_userdata_decode(bomb, nb, &ud);
        ok(r == -EFBIG && strstr(kiln_last_error(), "16 MiB"), "gzip bomb (%zu bytes -> 100 MiB): %s", nb,
           kiln_last_error());
        free(bomb);

        /* Exactly at the limit is fine. */
        uint8_t *edge = gz(zeros, sizeof(zeros), 16, &nb);
        r = kiln_userdata_decode(edge, nb, &ud);
        ok(r == 0 && ud.n_parts == 1 && ud.parts[0].len == KILN_UD_MAX_BYTES, "gzip of exactly 16 MiB inflates");
        if (r == 0)
                kiln_userdata_free(&ud);
        free(edge);

        uint8_t *out;
        size_t n;
        ok(kiln_ud_base64_decode("t", "aGVs\n bG8", 9, &out, &n) == 0 && n == 5 && !memcmp(out, "hello", 6),
           "base64 without padding, with white space");
        free(out);
        ok(kiln_ud_base64_decode("t", "aGVsbG8=x", 9, &out, &n) == -EBADMSG, "base64: data after padding");
        ok(kiln_ud_base64_decode("t", "aGVsbG8*", 8, &out, &n) == -EBADMSG &&
           strstr(kiln_last_error(), "0x2a at byte 7"), "base64: bad character: %s", kiln_last_error());
}

static void test_errors(void)
{
        static const struct {
                const char *what, *in;
                int err;
                const char *msg;
        } cases[] = {
                { "no closing boundary",
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\n\n#!/bin/sh\n--XYZ\n\nb\n",
                  -EBADMSG, "MIME part 2: no closing boundary '--XYZ--'" },
                { "boundary never used",
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XYZ\n\n--ABC\n\nx\n--ABC--\n", -EBADMSG,
                  "boundary '--XYZ' not found" },
                { "multipart without a boundary", "MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--x\n",
                  -EBADMSG, "multipart without a boundary parameter" },
                { "nested part without its closing boundary",
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=o\n\n--o\n"
                  "Content-Type: multipart/mixed; boundary=i\n\n--i\n\nx\n--o--\n",
                  -EBADMSG, "MIME part 1.1: no closing boundary '--i--'" },
                { "bad base64",
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                  "Content-Transfer-Encoding: base64\n\nIyEv!!!\n--b--\n",
                  -EBADMSG, "MIME part 1: base64: invalid character 0x21 at byte 4" },
                { "unknown transfer encoding",
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                  "Content-Transfer-Encoding: x-uuencode\n\nbegin\n--b--\n",
                  -EBADMSG, "unsupported Content-Transfer-Encoding 'x-uuencode'" },
                { "declared gzip, not gzip",
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
                  "Content-Type: application/x-gzip\n\nplain\n--b--\n",
                  -EBADMSG, "declared application/x-gzip but not gzip data" },
                { "base64-encoded multipart",
                  "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\nContent-Transfer-Encoding: base64\n\n"
                  "--b--\n",
                  -EBADMSG, "may not be base64-encoded" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                struct kiln_userdata ud;
                int r = decode(cases[i].in, &ud);

                ok(r == cases[i].err && strstr(kiln_last_error(), cases[i].msg), "%s: %s", cases[i].what,
                   kiln_last_error());
                if (r == 0)
                        kiln_userdata_free(&ud);
        }

        /* Too many parts. */
        size_t cap = 64 + 300 * 16;
        char *s = malloc(cap), *p = s;
        p += sprintf(p, "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n");
        for (int i = 0; i < 300; i++)
                p += sprintf(p, "--b\n\n#!/bin/sh\n");
        sprintf(p, "--b--\n");
        struct kiln_userdata ud;
        int r = decode(s, &ud);
        ok(r == -EFBIG && strstr(kiln_last_error(), "more than 256 parts"), "300 parts: %s", kiln_last_error());
        free(s);

        /* Nesting: 9 levels of multipart. */
        s = malloc(8192);
        p = s;
        p += sprintf(p, "MIME-Version: 1.0\n");
        for (int i = 0; i < 9; i++)
                p += sprintf(p, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
        p += sprintf(p, "\n#!/bin/sh\n");
        for (int i = 8; i >= 0; i--)
                p += sprintf(p, "--b%d--\n", i);
        r = decode(s, &ud);
        ok(r == -EFBIG && strstr(kiln_last_error(), "levels of gzip and MIME nesting"), "9 levels of MIME: %s",
           kiln_last_error());
        free(s);

        /* Bigger than the limit before any decoding. */
        size_t big = KILN_UD_MAX_BYTES + 1;
        uint8_t *b = calloc(1, big);
        r = kiln_userdata_decode(b, big, &ud);
        ok(r == -EFBIG && strstr(kiln_last_error(), "16 MiB"), "16 MiB + 1: %s", kiln_last_error());
        free(b);

        /* A huge header line. */
        s = malloc(200000);
        strcpy(s, "MIME-Version: 1.0\nX-Long: ");
        memset(s + strlen(s), 'a', 100000);
        strcpy(s + 26 + 100000, "\n\n#!/bin/sh\n");
        r = decode(s, &ud);
        ok(r == -EFBIG && strstr(kiln_last_error(), "MIME header"), "a 100 kB header field: %s", kiln_last_error());
        free(s);
}

int main(void)
{
        test_single();
        test_mime();
        test_gzip();
        test_errors();
        return tap_done();
}
