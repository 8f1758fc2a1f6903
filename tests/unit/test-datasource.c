/* SPDX-License-Identifier: MIT */
/*
 * cloud-init-lite's datasources: the NoCloud meta-data parser (every shape of
 * public-keys, JSON, legacy keys, malformed input), the HTTP client against
 * an in-process server on 127.0.0.1 (Content-Length, chunked, close-
 * delimited, 100 Continue, truncated, oversized, slow, refused), the EC2
 * datasource against a fake IMDS (tokens, 401 refresh, 5xx retries, 403/404,
 * IMDSv1 fallback, the deadline), the NoCloud reader on a plain folder, seed
 * detection with libblkid on vfat and iso9660 images under a fake /sys and
 * /dev, kiln_ds_detect's choices, and the first NIC from a fake sysfs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "datasource.h"
#include "httpc.h"
#include "instance.h"
#include "net.h"
#include "util.h"

static char tmp[256];

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const void *data, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (fd < 0 || write(fd, data, len) != (ssize_t)len)
                tap_diag("cannot write %s", path);
        if (fd >= 0)
                close(fd);
}

static void write_str(const char *path, const char *s)
{
        write_file(path, s, strlen(s));
}

static int run(const char *cmd)
{
        int r = system(cmd);

        return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* --- meta-data ------------------------------------------------------------ */

struct meta_case {
        const char *what, *yaml;
        const char *id, *host;
        const char *keys; /* joined by '|', NULL = none */
        const char *note;
};

static void join(char *const *l, char *buf, size_t size)
{
        buf[0] = 0;
        for (size_t i = 0; l && l[i]; i++)
                snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "|" : "", l[i]);
}

static void test_metadata(void)
{
        static const struct meta_case good[] = {
                { "cloud-init docs example", "instance-id: iid-local01\nlocal-hostname: cloudimg\n", "iid-local01",
                  "cloudimg", NULL },
                { "hostname when local-hostname is absent", "instance-id: a\nhostname: h1.example.com\n", "a",
                  "h1.example.com", NULL },
                { "local-hostname wins over hostname", "hostname: h1\nlocal-hostname: h2\ninstance-id: b\n", "b", "h2",
                  NULL },
                { "public-keys as one string", "instance-id: c\npublic-keys: ssh-ed25519 AAAAC3Nz k@h\n", "c", NULL,
                  "ssh-ed25519 AAAAC3Nz k@h" },
                { "public-keys as a block of lines",
                  "instance-id: c\npublic-keys: |\n  ssh-rsa AAAAB3 one\n\n  # a comment\n  ssh-ed25519 AAAAC3 two\n", "c",
                  NULL, "ssh-rsa AAAAB3 one|ssh-ed25519 AAAAC3 two" },
                { "public-keys as a list", "instance-id: d\npublic-keys:\n  - ssh-rsa AAAAB3 one\n  - ''\n  - ssh-ed25519 "
                  "AAAAC3 two\n", "d", NULL, "ssh-rsa AAAAB3 one|ssh-ed25519 AAAAC3 two" },
                { "public-keys as a map of lists and strings",
                  "instance-id: e\npublic-keys:\n  alice: [ssh-rsa A1, ssh-rsa A2]\n  bob: ssh-ed25519 B1\n  carol: ~\n",
                  "e", NULL, "ssh-rsa A1|ssh-rsa A2|ssh-ed25519 B1" },
                { "public-keys in EC2's shape", "instance-id: i-0abc\npublic-keys:\n  0:\n    openssh-key: ssh-rsa E0 "
                  "my-key\n  1:\n    openssh-key: [ssh-ed25519 E1 other]\n", "i-0abc", NULL,
                  "ssh-rsa E0 my-key|ssh-ed25519 E1 other" },
                { "JSON", "{\"instance-id\": \"i-json\", \"local-hostname\": \"jh\",\n \"public-keys\": [\"ssh-rsa J1\"],"
                  " \"dsmode\": \"local\"}", "i-json", "jh", "ssh-rsa J1" },
                { "legacy network-interfaces noted",
                  "instance-id: iid-abcdefg\nnetwork-interfaces: |\n  iface eth0 inet static\n  address 192.168.1.10\n"
                  "hostname: myhost\n", "iid-abcdefg", "myhost", NULL, "meta-data network-interfaces is not "
                  "supported (ignored)" },
                { "numbers are strings", "instance-id: 1234\nlocal-hostname: 42\n", "1234", "42", NULL },
                { "null values are absent", "instance-id:\nlocal-hostname: ~\npublic-keys: null\n", NULL, NULL, NULL },
                { "empty file", "", NULL, NULL, NULL },
                { "only comments", "# nothing here\n---\n", NULL, NULL, NULL },
                { "unknown keys ignored", "instance-id: x\ndsmode: net\nami-id: ami-123\nfoo: {bar: [1, 2]}\n", "x", NULL,
                  NULL },
                { "last duplicate wins", "instance-id: one\ninstance-id: two\n", "two", NULL, NULL },
                { "surrounding blanks trimmed", "instance-id: '  spaced  '\n", "spaced", NULL, NULL },
        };
        static const struct { const char *what, *yaml, *message; } bad[] = {
                { "instance-id as a list", "instance-id: [a, b]\n",
                  "meta-data:1: instance-id: expected a string, got a list" },
                { "instance-id with a slash", "local-hostname: h\ninstance-id: ../etc\n",
                  "meta-data:2: instance-id: '../etc' is not a valid instance id (1-255 ASCII letters, digits and punctuation; no '/'; not '.' or '..')" },
                { "instance-id with a space", "instance-id: 'a b'\n",
                  "meta-data:1: instance-id: 'a b' is not a valid instance id (1-255 ASCII letters, digits and punctuation; no '/'; not '.' or '..')" },
                { "instance-id '..'", "instance-id: ..\n",
                  "meta-data:1: instance-id: '..' is not a valid instance id (1-255 ASCII letters, digits and punctuation; no '/'; not '.' or '..')" },
                { "a string, not a mapping", "instance-id=foo\n",
                  "meta-data:1: expected a mapping of keys, got a string" },
                { "a list, not a mapping", "- a\n- b\n", "meta-data:1: expected a mapping of keys, got a list" },
                { "bad YAML", "instance-id: a\n  b: c\n",
                  "meta-data:2: invalid YAML: mapping values are not allowed in this context" },
                { "unclosed JSON", "{\"instance-id\": \"x\"\n", NULL },
                { "an alias", "a: &x 1\ninstance-id: *x\n", "meta-data:1: YAML anchors and aliases are not supported" },
                { "a key that is a list", "? [a]\n: b\n", "meta-data:1: a key must be a string, got a list" },
                { "a nested list of keys", "public-keys:\n  k:\n    openssh-key: [x, [y]]\n",
                  "meta-data:3: public-keys.k: expected a key (a string), got a list" },
                { "public-keys as a number list inside a map", "public-keys: {k: {a: 1}, j: [[1]]}\n",
                  "meta-data:1: public-keys.j: expected a key (a string), got a list" },
                { "local-hostname with a control character", "local-hostname: \"a\\x01b\"\n",
                  "meta-data:1: local-hostname: control character in the value" },
                { "two documents", "instance-id: a\n---\ninstance-id: b\n", "meta-data:2: more than one YAML document" },
                { "too deep", "a: [[[[[[[[[[1]]]]]]]]]]\n", "meta-data:1: nesting deeper than 8 levels" },
                { "invalid UTF-8", "instance-id: \xff\xfe\n", NULL },
        };
        char buf[512];

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                const struct meta_case *c = &good[i];
                struct kiln_instance in = { 0 };
                int r = kiln_nocloud_metadata_parse(&in, c->yaml, strlen(c->yaml));

                is_int(r, 0, "meta-data %s: parses", c->what);
                if (r < 0)
                        tap_diag("%s", kiln_last_error());
                ok(c->id ? in.instance_id && !strcmp(in.instance_id, c->id) : !in.instance_id, "meta-data %s: id '%s'",
                   c->what, in.instance_id ? in.instance_id : "(none)");
                ok(c->host ? in.local_hostname && !strcmp(in.local_hostname, c->host) : !in.local_hostname,
                   "meta-data %s: hostname '%s'", c->what, in.local_hostname ? in.local_hostname : "(none)");
                join(in.public_keys, buf, sizeof(buf));
                ok(!strcmp(buf, c->keys ? c->keys : ""), "meta-data %s: keys '%s'", c->what, buf);
                join(in.notes, buf, sizeof(buf));
                ok(!strcmp(buf, c->note ? c->note : ""), "meta-data %s: notes '%s'", c->what, buf);
                kiln_instance_free(&in);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct kiln_instance in = { .instance_id = strdup("keep"), .local_hostname = strdup("keep-host") };
                int r = kiln_nocloud_metadata_parse(&in, bad[i].yaml, strlen(bad[i].yaml));

                is_int(r, -EBADMSG, "meta-data %s: -EBADMSG", bad[i].what);
                if (bad[i].message)
                        ok(!strcmp(kiln_last_error(), bad[i].message), "meta-data %s: '%s'", bad[i].what,
                           kiln_last_error());
                else
                        ok(!strncmp(kiln_last_error(), "meta-data:", 10) && !strchr(kiln_last_error(), '\n'),
                           "meta-data %s: one line '%s'", bad[i].what, kiln_last_error());
                ok(!strcmp(in.instance_id, "keep") && !strcmp(in.local_hostname, "keep-host") && !in.public_keys,
                   "meta-data %s: struct untouched", bad[i].what);
                kiln_instance_free(&in);
        }

        /* Limits: 256 keys pass, 257 do not; 1 MiB passes, more does not; NUL. */
        struct kiln_instance in = { 0 };
        char *big = malloc(KILN_META_MAX_BYTES + 2);
        size_t o = (size_t)sprintf(big, "public-keys:\n");
        for (int i = 0; i < 257; i++)
                o += (size_t)sprintf(big + o, "  - ssh-ed25519 K%d\n", i);
        is_int(kiln_nocloud_metadata_parse(&in, big, o), -EBADMSG, "257 public keys refused");
        ok(strstr(kiln_last_error(), "more than 256 keys") != NULL, "257 keys: '%s'", kiln_last_error());
        o -= strlen("  - ssh-ed25519 K256\n");
        is_int(kiln_nocloud_metadata_parse(&in, big, o), 0, "256 public keys accepted");
        is_int(kiln_instance_count(in.public_keys), 256, "256 keys kept");
        kiln_instance_free(&in);
        memset(big, '#', KILN_META_MAX_BYTES + 1);
        is_int(kiln_nocloud_metadata_parse(&in, big, KILN_META_MAX_BYTES), 0, "1 MiB of comments accepted");
        is_int(kiln_nocloud_metadata_parse(&in, big, KILN_META_MAX_BYTES + 1), -EFBIG, "1 MiB + 1 refused");
        ok(!strcmp(kiln_last_error(), "meta-data: larger than 1048576 bytes"), "too big: '%s'", kiln_last_error());
        is_int(kiln_nocloud_metadata_parse(&in, "instance-id: a\0b", 16), -EBADMSG, "NUL byte refused");
        free(big);

        ok(kiln_instance_id_valid("i-0123456789abcdef0") && kiln_instance_id_valid("iid-local01") &&
           !kiln_instance_id_valid("") && !kiln_instance_id_valid(".") && !kiln_instance_id_valid("a/b") &&
           !kiln_instance_id_valid("a\tb"),
           "kiln_instance_id_valid");
        ok(kiln_instance_id_valid("web:1") && kiln_instance_id_valid("a%3Ab") && kiln_instance_id_valid("~!@#$*") &&
           !kiln_instance_id_valid("a\xc3\xa9") && !kiln_instance_id_valid(".."),
           "kiln_instance_id_valid: punctuation yes, non-ASCII no");
        is_int(kiln_nocloud_metadata_parse(&in, "instance-id: 'web:1'\n", 20), 0, "meta-data: instance-id 'web:1' taken");
        ok(in.instance_id && !strcmp(in.instance_id, "web:1"), "meta-data: the id kept as it is, not sanitised");
        kiln_instance_free(&in);
}

/* --- the folder name of an instance id --------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Undo the %XX escapes of a name without "%%"; NULL when it is no such name. */
static char *unescape(const char *name)
{
        char *out = malloc(strlen(name) + 1), *o = out;

        for (const char *p = name; out && *p; p++) {
                unsigned v;
                if (*p != '%') {
                        *o++ = *p;
                } else if (sscanf(p + 1, "%2X", &v) == 1 && p[1] && p[2]) {
                        *o++ = (char)v;
                        p += 2;
                } else {
                        free(out);
                        return NULL;
                }
        }
        if (o)
                *o = 0;
        return out;
}

static bool name_chars_ok(const char *n)
{
        return *n && strlen(n) <= KILN_INSTANCE_DIR_NAME_MAX && strcmp(n, ".") && strcmp(n, "..") &&
               strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-%") == strlen(n);
}

static void test_instance_dir_name(void)
{
        static const struct {
                const char *id, *name;
                int r;
        } cases[] = {
                { "i-0123456789abcdef0", "i-0123456789abcdef0", 0 },
                { "iid-local01", "iid-local01", 0 },
                { "0f6c3e0a-1b2c-4d5e-8f90-123456789abc", "0f6c3e0a-1b2c-4d5e-8f90-123456789abc", 0 },
                { "nocloud", "nocloud", 0 },
                { "web_1", "web_1", 0 },
                { "...", "...", 0 },
                { "web:1", "web%3A1", 1 },
                { "web%3A1", "web%253A1", 1 },
                { "web%253A1", "web%25253A1", 1 },
                { "a+b@c", "a%2Bb%40c", 1 },
                { "*", "%2A", 1 },
                { "$(reboot)", "%24%28reboot%29", 1 },
                { "'q'\"", "%27q%27%22", 1 },
                { "~", "%7E", 1 },
        };
        char name[KILN_INSTANCE_DIR_NAME_MAX + 1], again[KILN_INSTANCE_DIR_NAME_MAX + 1], id[300];
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                memset(name, 'X', sizeof(name));
                r = kiln_instance_dir_name(cases[i].id, name);
                ok(r == cases[i].r && !strcmp(name, cases[i].name), "folder of '%s': '%s' (%d)", cases[i].id,
                   r >= 0 ? name : kiln_last_error(), r);
        }
        /* The escaped form of an id, taken as an id, gets a folder of its own. */
        char a[KILN_INSTANCE_DIR_NAME_MAX + 1], b[KILN_INSTANCE_DIR_NAME_MAX + 1];
        ok(kiln_instance_dir_name("web:1", a) == 1 && kiln_instance_dir_name(a, b) == 1 && strcmp(a, b) &&
                   strcmp(b, "web:1"),
           "'web:1' -> '%s'; '%s' as an id -> '%s': no collision", a, a, b);

        static const char *const bad[] = { "", ".", "..", "a/b", "a b", "a\nb", "tab\there", "caf\xc3\xa9", "\x7f" };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                kiln_clear_error();
                r = kiln_instance_dir_name(bad[i], name);
                ok(r == -EINVAL && strstr(kiln_last_error(), "is not a valid instance id") &&
                           !strchr(kiln_last_error(), '\n'),
                   "invalid id #%zu refused in one line: %s", i, kiln_last_error());
        }
        memset(id, 'a', 256);
        id[256] = 0;
        is_int(kiln_instance_dir_name(id, name), -EINVAL, "a 256-byte id refused");

        /* Lengths: 255 plain bytes are their own name; escapes up to 255 bytes
         * stay escapes; longer ones keep a prefix and add the SHA-256. */
        id[255] = 0;
        ok(kiln_instance_dir_name(id, name) == 0 && strlen(name) == 255, "255 plain bytes: their own name");
        memset(id, ':', 85);
        id[85] = 0;
        ok(kiln_instance_dir_name(id, name) == 1 && strlen(name) == 255 && !strstr(name, "%%"),
           "85 ':': an escape of exactly 255 bytes");
        memset(id, ':', 86);
        id[86] = 0;
        r = kiln_instance_dir_name(id, name);
        ok(r == 1 && strlen(name) <= 255 && strstr(name, "%%") && strlen(strstr(name, "%%")) == 66 &&
                   !strncmp(name, "%3A%3A%3A", 9),
           "86 ':': a prefix, '%%%%' and the SHA-256 (%zu bytes: %s)", strlen(name), name);
        ok(kiln_instance_dir_name(id, again) == 1 && !strcmp(name, again), "the same id, the same name (stable)");
        id[85] = ';';
        ok(kiln_instance_dir_name(id, again) == 1 && strcmp(name, again), "another long id, another name");
        memset(id, ':', 255);
        id[255] = 0;
        ok(kiln_instance_dir_name(id, name) == 1 && strlen(name) <= 255 && name_chars_ok(name) &&
                   strlen(strstr(name, "%%")) == 66,
           "a 255-byte id of escapes: %zu bytes", strlen(name));
        /* The prefix is never cut inside an escape. */
        snprintf(id, sizeof(id), "%0188dx", 0); /* 188 plain, then 'x': escape boundaries at 189 */
        memset(id + 189, ':', 40);
        id[229] = 0;
        ok(kiln_instance_dir_name(id, name) == 1 && strstr(name, "%%") == name + 189, "cut at 189 bytes, between escapes");
        id[187] = ':';
        ok(kiln_instance_dir_name(id, name) == 1 && strstr(name, "%%") == name + 187 && name_chars_ok(name),
           "an escape across byte 189 is left out whole");

        /* Every id over a small alphabet, up to 5 bytes (3905 ids): plain
         * ones are their own name, the others undo to themselves, every name
         * is a safe file name, and no two ids share one. */
        static const char alpha[] = "a:%3A";
        size_t n = 0, cap = 4000, bad_names = 0, collisions = 0, not_identity = 0, not_undone = 0;
        char **names = calloc(cap, sizeof(*names));
        for (size_t len = 1; len <= 5 && names; len++) {
                size_t total = 1;
                for (size_t k = 0; k < len; k++)
                        total *= strlen(alpha);
                for (size_t v = 0; v < total; v++) {
                        size_t x = v;
                        for (size_t k = 0; k < len; k++, x /= strlen(alpha))
                                id[k] = alpha[x % strlen(alpha)];
                        id[len] = 0;
                        r = kiln_instance_dir_name(id, name);
                        if (r < 0 || !name_chars_ok(name))
                                bad_names++;
                        if (r == 0 && strcmp(name, id))
                                not_identity++;
                        _cleanup_free_ char *back = r == 1 ? unescape(name) : NULL;
                        if (r == 1 && (!back || strcmp(back, id)))
                                not_undone++;
                        if (n < cap)
                                names[n++] = strdup(name);
                }
        }
        if (names)
                qsort(names, n, sizeof(*names), name_cmp);
        for (size_t i = 1; names && i < n; i++)
                if (!names[i] || !names[i - 1] || !strcmp(names[i], names[i - 1]))
                        collisions++;
        ok(n == 3905 && !bad_names && !collisions && !not_identity && !not_undone,
           "3905 ids: %zu bad names, %zu shared, %zu plain ones renamed, %zu escapes that do not undo", bad_names,
           collisions, not_identity, not_undone);
        for (size_t i = 0; names && i < n; i++)
                free(names[i]);
        free(names);
}

/* --- an HTTP server in a thread ------------------------------------------- */

struct server {
        int fd;
        uint16_t port;
        pthread_t thread;
        pthread_mutex_t lock;
        /* What the handler saw. */
        char last_request[2048];
        unsigned n_requests, n_token_puts, n_v1_gets;
        /* IMDS knobs. */
        unsigned fail_first;      /* answer the first N requests with 503 */
        bool expire_once;         /* the first GET with the token gets a 401 */
        bool no_tokens;           /* PUT /latest/api/token -> 404 */
        bool forbid_id;           /* instance-id -> 403 */
        bool no_id;               /* instance-id -> 404 */
        bool no_user_data;
        bool always_503;
        bool stop;
};

static struct server srv;

static void send_all(int fd, const char *s, size_t len)
{
        while (len > 0) {
                ssize_t n = send(fd, s, len, MSG_NOSIGNAL);

                if (n <= 0)
                        return;
                s += n;
                len -= (size_t)n;
        }
}

static void respond(int fd, int status, const char *body, size_t len)
{
        char head[256];

        snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nServer: EC2ws\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                 status, len);
        send_all(fd, head, strlen(head));
        send_all(fd, body, len);
}

static const char user_data[] = "\x1f\x8b\x08\x00binary\0user data";

static void imds(int fd, const char *method, const char *path, const char *req)
{
        const char *tok = strstr(req, "\r\nX-aws-ec2-metadata-token: ");
        bool good_token = tok && !strncmp(tok + 28, "TOKEN-2", 7);
        static const struct { const char *path, *body; } meta[] = {
                { "/latest/meta-data/instance-id", "i-0123456789abcdef0" },
                { "/latest/meta-data/local-hostname", "ip-172-31-5-6.ec2.internal\n" },
                { "/latest/meta-data/instance-type", "t3.micro" },
                { "/latest/meta-data/placement/availability-zone", "us-east-1a" },
                { "/latest/meta-data/public-keys/", "0=my-key\n1=other" },
                { "/latest/meta-data/public-keys/0/openssh-key", "ssh-ed25519 AAAAC3 my-key\n" },
                { "/latest/meta-data/public-keys/1/openssh-key", "ssh-rsa AAAAB3 other\nssh-rsa AAAAB4 other2\n" },
                { "/latest/meta-data/block-device-mapping/", "ami\nephemeral0\nroot" },
                { "/latest/meta-data/block-device-mapping/ami", "xvda" },
                { "/latest/meta-data/block-device-mapping/ephemeral0", "sdb" },
                { "/latest/meta-data/block-device-mapping/root", "/dev/xvda" },
                /* Two NICs, listed out of device order, one with IPv6. */
                { "/latest/meta-data/network/interfaces/macs/", "0A:00:00:00:00:02/\n0a:00:00:00:00:01/\n" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/device-number", "1" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/local-ipv4s", "172.31.40.7\n172.31.40.8" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/device-number", "0" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/local-ipv4s", "172.31.5.6" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/subnet-ipv4-cidr-block", "172.31.0.0/20" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/ipv6s", "2600:1f18::5" },
        };

        if (srv.always_503 || srv.fail_first) {
                if (srv.fail_first)
                        srv.fail_first--;
                respond(fd, 503, "busy", 4);
                return;
        }
        if (!strcmp(path, "/latest/api/token")) {
                srv.n_token_puts++;
                if (strcmp(method, "PUT") || !strstr(req, "\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"))
                        respond(fd, 400, "", 0);
                else if (srv.no_tokens)
                        respond(fd, 404, "", 0);
                else
                        respond(fd, 200, srv.n_token_puts == 1 ? "TOKEN-1" : "TOKEN-2", 7);
                return;
        }
        if (!tok)
                srv.n_v1_gets++;
        if (!srv.no_tokens && (!tok || (srv.expire_once && !good_token))) {
                respond(fd, 401, "", 0);
                return;
        }
        if (!strcmp(path, "/latest/meta-data/instance-id") && (srv.forbid_id || srv.no_id)) {
                respond(fd, srv.forbid_id ? 403 : 404, "", 0);
                return;
        }
        if (!strcmp(path, "/latest/user-data")) {
                if (srv.no_user_data)
                        respond(fd, 404, "", 0);
                else
                        respond(fd, 200, user_data, sizeof(user_data) - 1);
                return;
        }
        for (size_t i = 0; i < ARRAY_SIZE(meta); i++)
                if (!strcmp(path, meta[i].path)) {
                        respond(fd, 200, meta[i].body, strlen(meta[i].body));
                        return;
                }
        respond(fd, 404, "", 0);
}

static void handle(int fd, const char *req)
{
        char method[16] = "", path[512] = "";

        sscanf(req, "%15s %511s", method, path);
        if (!strcmp(path, "/cl")) {
                respond(fd, 200, "hello", 5);
        } else if (!strcmp(path, "/chunked")) {
                /* In pieces, split inside sizes and data. */
                static const char *const parts[] = { "HTTP/1.1 200 OK\r\nTransfer-", "Encoding: chunked\r\n\r\n5",
                                                     "\r\nhel", "lo\r\n6;ext=1\r\n worl", "d\r\n0\r\nX-T: 1\r\n\r\n" };
                for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
                        send_all(fd, parts[i], strlen(parts[i]));
                        usleep(20000);
                }
        } else if (!strcmp(path, "/close")) {
                send_all(fd, "HTTP/1.0 200 OK\r\n\r\nuntil the close", 34);
        } else if (!strcmp(path, "/continue")) {
                send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                respond(fd, 201, "made", 4);
        } else if (!strcmp(path, "/truncated")) {
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", 43);
        } else if (!strcmp(path, "/truncated-chunked")) {
                send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", 54);
        } else if (!strcmp(path, "/oversized")) {
                send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 43);
        } else if (!strcmp(path, "/oversized-chunked")) {
                char chunk[600];
                send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 47);
                memset(chunk, 'x', sizeof(chunk));
                for (int i = 0; i < 3; i++) {
                        send_all(fd, "258\r\n", 5);
                        send_all(fd, chunk, sizeof(chunk));
                        send_all(fd, "\r\n", 2);
                }
                send_all(fd, "0\r\n\r\n", 5);
        } else if (!strcmp(path, "/oversized-close")) {
                char data[2000];
                memset(data, 'y', sizeof(data));
                send_all(fd, "HTTP/1.1 200 OK\r\n\r\n", 19);
                send_all(fd, data, sizeof(data));
        } else if (!strcmp(path, "/slow")) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                poll(&p, 1, 3000); /* until the client gives up and closes */
        } else if (!strcmp(path, "/bad")) {
                send_all(fd, "HTTP/1.1 abc\r\n\r\n", 17);
        } else if (!strcmp(path, "/nothing")) {
                /* close at once */
        } else if (!strncmp(path, "/latest/", 8)) {
                imds(fd, method, path, req);
        } else {
                respond(fd, 404, "", 0);
        }
}

static void *serve(void *arg)
{
        (void)arg;
        for (;;) {
                char req[2048];
                size_t n = 0;
                int c = accept(srv.fd, NULL, NULL);

                if (c < 0)
                        return NULL;
                if (srv.stop) {
                        close(c);
                        return NULL;
                }
                while (n < sizeof(req) - 1) {
                        ssize_t k = recv(c, req + n, sizeof(req) - 1 - n, 0);
                        if (k <= 0)
                                break;
                        n += (size_t)k;
                        req[n] = 0;
                        if (strstr(req, "\r\n\r\n"))
                                break;
                }
                req[n] = 0;
                pthread_mutex_lock(&srv.lock);
                srv.n_requests++;
                snprintf(srv.last_request, sizeof(srv.last_request), "%s", req);
                handle(c, req);
                pthread_mutex_unlock(&srv.lock);
                close(c);
        }
}

static void server_start(void)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int one = 1;

        pthread_mutex_init(&srv.lock, NULL);
        srv.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        setsockopt(srv.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(srv.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(srv.fd, 16) < 0 ||
            getsockname(srv.fd, (struct sockaddr *)&sa, &len) < 0)
                tap_diag("cannot start the test server: %s", strerror(errno));
        srv.port = ntohs(sa.sin_port);
        pthread_create(&srv.thread, NULL, serve, NULL);
}

static void server_stop(void)
{
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(srv.port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

        srv.stop = true;
        connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        pthread_join(srv.thread, NULL);
        close(srv.fd);
}

static void server_reset(void)
{
        pthread_mutex_lock(&srv.lock);
        srv.n_requests = srv.n_token_puts = srv.n_v1_gets = 0;
        srv.fail_first = 0;
        srv.expire_once = srv.no_tokens = srv.forbid_id = srv.no_id = srv.no_user_data = srv.always_503 = false;
        pthread_mutex_unlock(&srv.lock);
}

/* A port nothing listens on. */
static uint16_t closed_port(void)
{
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        bind(fd, (struct sockaddr *)&sa, sizeof(sa));
        getsockname(fd, (struct sockaddr *)&sa, &len);
        close(fd);
        return ntohs(sa.sin_port);
}

static int get(const char *path, size_t max, unsigned timeout, int *status, uint8_t **body, size_t *len)
{
        *body = NULL;
        *len = 0;
        *status = 0;
        return kiln_http_request("GET", "127.0.0.1", srv.port, path, NULL, timeout, max, status, body, len);
}

static void test_httpc(void)
{
        const char *hdrs[] = { "X-Test: one", "X-Other: two", NULL };
        uint8_t *body;
        size_t len;
        int status, r;
        uint64_t t0;
        char url[80];

        r = get("/cl", 1000, 2000, &status, &body, &len);
        ok(r == 0 && status == 200 && len == 5 && !memcmp(body, "hello", 6), "content-length body");
        free(body);
        r = get("/chunked", 1000, 2000, &status, &body, &len);
        ok(r == 0 && status == 200 && len == 11 && !strcmp((char *)body, "hello world"),
           "chunked body in pieces, extension and trailer: '%s'", body ? (char *)body : "");
        free(body);
        r = get("/chunked", 11, 2000, &status, &body, &len);
        ok(r == 0 && len == 11, "chunked body of exactly max_body");
        free(body);
        r = get("/close", 1000, 2000, &status, &body, &len);
        ok(r == 0 && status == 200 && !strcmp((char *)body, "until the close"), "body delimited by the close");
        free(body);
        r = get("/continue", 1000, 2000, &status, &body, &len);
        ok(r == 0 && status == 201 && !strcmp((char *)body, "made"), "100 Continue skipped");
        free(body);
        r = get("/nope", 1000, 2000, &status, &body, &len);
        ok(r == 0 && status == 404 && len == 0 && body && !body[0], "404 is a status, not an error");
        free(body);

        r = kiln_http_request("PUT", "127.0.0.1", srv.port, "/cl", hdrs, 2000, 100, &status, &body, &len);
        ok(r == 0 && status == 200, "PUT with headers");
        free(body);
        snprintf(url, sizeof(url), "Host: 127.0.0.1:%u\r\n", srv.port);
        ok(!strncmp(srv.last_request, "PUT /cl HTTP/1.1\r\n", 18) && strstr(srv.last_request, url) &&
           strstr(srv.last_request, "\r\nContent-Length: 0\r\n") && strstr(srv.last_request, "\r\nX-Test: one\r\n") &&
           strstr(srv.last_request, "\r\nX-Other: two\r\n") && strstr(srv.last_request, "\r\nConnection: close\r\n"),
           "request line and headers sent");

        r = get("/truncated", 1000, 2000, &status, &body, &len);
        is_int(r, -EPROTO, "truncated content-length body: -EPROTO");
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/truncated: connection closed after 4 of 10 body bytes",
                 srv.port);
        ok(!strcmp(kiln_last_error(), url), "truncated: '%s'", kiln_last_error());
        is_int(get("/truncated-chunked", 1000, 2000, &status, &body, &len), -EPROTO, "truncated chunked body: -EPROTO");
        is_int(get("/nothing", 1000, 2000, &status, &body, &len), -EPROTO, "no response: -EPROTO");
        ok(strstr(kiln_last_error(), "connection closed without a response") != NULL, "no response: '%s'",
           kiln_last_error());
        is_int(get("/oversized", 1000, 2000, &status, &body, &len), -EFBIG, "content-length over max_body: -EFBIG");
        ok(strstr(kiln_last_error(), "response body of 100000 bytes is larger than 1000") != NULL, "oversized: '%s'",
           kiln_last_error());
        is_int(get("/oversized-chunked", 1000, 2000, &status, &body, &len), -EFBIG, "chunked over max_body: -EFBIG");
        is_int(get("/oversized-close", 1000, 2000, &status, &body, &len), -EFBIG, "close-delimited over max_body");
        is_int(get("/bad", 1000, 2000, &status, &body, &len), -EBADMSG, "bad status line: -EBADMSG");
        ok(strstr(kiln_last_error(), "/bad: http response: bad status line 'HTTP/1.1 abc'") != NULL, "bad: '%s'",
           kiln_last_error());
        t0 = now_ms();
        r = get("/slow", 1000, 300, &status, &body, &len);
        is_int(r, -ETIMEDOUT, "slow server: -ETIMEDOUT");
        ok(now_ms() - t0 >= 290 && now_ms() - t0 < 2000, "timed out after %llu ms",
           (unsigned long long)(now_ms() - t0));
        ok(strstr(kiln_last_error(), "timed out waiting for the response") != NULL, "slow: '%s'", kiln_last_error());
        r = kiln_http_request("GET", "127.0.0.1", closed_port(), "/", NULL, 1000, 100, &status, &body, &len);
        is_int(r, -ECONNREFUSED, "nothing listening: -ECONNREFUSED");
        ok(strstr(kiln_last_error(), "cannot connect: Connection refused") != NULL, "refused: '%s'", kiln_last_error());
        is_int(kiln_http_request("GET", "localhost", 80, "/", NULL, 100, 100, &status, &body, &len), -EINVAL,
               "a host name is refused");
        is_int(kiln_http_request("GET", "127.0.0.1", srv.port, "/a b", NULL, 100, 100, &status, &body, &len), -EINVAL,
               "a path with a space is refused");
        const char *evil[] = { "X: a\r\nInjected: b", NULL };
        is_int(kiln_http_request("GET", "127.0.0.1", srv.port, "/", evil, 100, 100, &status, &body, &len), -EINVAL,
               "a header with CRLF is refused");
}

static void test_http_pure(void)
{
        struct kiln_http_head h;
        static const char ok_head[] = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX: y\r\n\r\nbody";
        char big[KILN_HTTP_MAX_HEAD + 10];

        is_int(kiln_http_parse_head(ok_head, strlen(ok_head), &h), 0, "head parses");
        ok(h.status == 200 && h.has_length && h.content_length == 12 && !h.chunked &&
           h.head_len == strlen(ok_head) - 4, "head fields");
        is_int(kiln_http_parse_head(ok_head, 20, &h), -EAGAIN, "partial head: -EAGAIN");
        is_int(kiln_http_parse_head("HTTP/1.1 200 OK\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n", 57, &h),
               -EBADMSG, "conflicting lengths");
        is_int(kiln_http_parse_head("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 40, &h), -EBADMSG,
               "negative length");
        is_int(kiln_http_parse_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 45, &h), -EBADMSG,
               "gzip transfer coding refused");
        ok(!strcmp(kiln_last_error(), "http response: unsupported Transfer-Encoding 'gzip'"), "te: '%s'",
           kiln_last_error());
        is_int(kiln_http_parse_head("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", 29, &h), -EBADMSG, "header without colon");
        memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
        memset(big + 20, 'a', sizeof(big) - 20);
        is_int(kiln_http_parse_head(big, sizeof(big), &h), -EBADMSG, "head over 16 KiB refused");

        struct kiln_http_chunked c = { 0 };
        uint8_t out[32];
        size_t n = 0;
        static const char body[] = "3\r\nabc\r\n0\r\n\r\nNEXT";
        long used = kiln_http_chunked_feed(&c, (const uint8_t *)body, strlen(body), out, sizeof(out), &n);
        ok(used == (long)strlen(body) - 4 && c.done && n == 3 && !memcmp(out, "abc", 3),
           "chunked decoder stops at the message's end");
        memset(&c, 0, sizeof(c));
        n = 0;
        is_int(kiln_http_chunked_feed(&c, (const uint8_t *)"x\r\n", 3, out, sizeof(out), &n), -EBADMSG,
               "chunk size 'x' refused");
}

/* --- EC2 ------------------------------------------------------------------ */

static char logbuf[8192];

static void log_cb(void *ud, const char *fmt, ...)
{
        va_list ap;
        size_t o = strlen(logbuf);

        (void)ud;
        va_start(ap, fmt);
        vsnprintf(logbuf + o, sizeof(logbuf) - o, fmt, ap);
        va_end(ap);
        snprintf(logbuf + strlen(logbuf), sizeof(logbuf) - strlen(logbuf), "\n");
}

static void test_ec2(void)
{
        struct kiln_ds_opts o = { .imds_host = "127.0.0.1", .imds_port = srv.port, .no_network = true,
                                  .timeout_ms = 5000, .log = log_cb };
        struct kiln_instance in = { 0 };
        char buf[512], want[128];
        uint64_t t0;
        int r;

        server_reset();
        logbuf[0] = 0;
        r = kiln_ds_ec2(&o, &in);
        is_int(r, 0, "ec2: fetched");
        if (r < 0)
                tap_diag("%s", kiln_last_error());
        ok(in.instance_id && !strcmp(in.instance_id, "i-0123456789abcdef0"), "ec2: instance-id");
        ok(in.local_hostname && !strcmp(in.local_hostname, "ip-172-31-5-6.ec2.internal"),
           "ec2: local-hostname, newline trimmed");
        ok(in.instance_type && !strcmp(in.instance_type, "t3.micro"), "ec2: instance-type");
        ok(in.availability_zone && !strcmp(in.availability_zone, "us-east-1a") && in.region &&
           !strcmp(in.region, "us-east-1"), "ec2: zone and region");
        join(in.public_keys, buf, sizeof(buf));
        ok(!strcmp(buf, "ssh-ed25519 AAAAC3 my-key|ssh-rsa AAAAB3 other|ssh-rsa AAAAB4 other2"), "ec2: keys '%s'", buf);
        join(in.block_devices, buf, sizeof(buf));
        ok(!strcmp(buf, "ami=xvda|ephemeral0=sdb|root=/dev/xvda"), "ec2: block devices '%s'", buf);
        is_int((int)in.n_nics, 2, "ec2: two NICs");
        if (in.n_nics == 2) {
                ok(!strcmp(in.nics[0].mac, "0a:00:00:00:00:01") && in.nics[0].device_number == 0 &&
                   !strcmp(in.nics[0].subnet_ipv4_cidr, "172.31.0.0/20") && in.nics[0].ipv6s &&
                   !strcmp(in.nics[0].ipv6s[0], "2600:1f18::5"), "ec2: NIC 0 first, with its subnet and IPv6");
                join(in.nics[1].local_ipv4s, buf, sizeof(buf));
                ok(!strcmp(in.nics[1].mac, "0a:00:00:00:00:02") && in.nics[1].device_number == 1 &&
                   !in.nics[1].ipv6s && !in.nics[1].subnet_ipv4_cidr && !strcmp(buf, "172.31.40.7|172.31.40.8"),
                   "ec2: NIC 1, MAC lowercased, two addresses, no IPv6 '%s'", buf);
        }
        ok(in.user_data_len == sizeof(user_data) - 1 && !memcmp(in.user_data, user_data, in.user_data_len),
           "ec2: user data, binary-safe");
        ok(!strcmp(in.datasource, "ec2"), "ec2: datasource");
        snprintf(want, sizeof(want), "http://127.0.0.1:%u (IMDSv2)", srv.port);
        ok(!strcmp(in.source, want), "ec2: source '%s'", in.source);
        is_int(srv.n_token_puts, 1, "ec2: one token");
        is_int(srv.n_v1_gets, 0, "ec2: every GET carried the token");
        snprintf(want, sizeof(want), "datasource ec2: http://127.0.0.1:%u (IMDSv2), instance i-0123456789abcdef0\n",
                 srv.port);
        ok(!strcmp(logbuf, want), "ec2: the log line");
        kiln_instance_free(&in);

        /* 503s are retried with backoff. */
        server_reset();
        srv.fail_first = 3;
        t0 = now_ms();
        r = kiln_ds_ec2(&o, &in);
        is_int(r, 0, "ec2: three 503s retried");
        ok(now_ms() - t0 >= 250 + 500 + 1000 - 10, "ec2: backoff 250+500+1000 ms (took %llu)",
           (unsigned long long)(now_ms() - t0));
        kiln_instance_free(&in);

        /* A 401 fetches a new token. */
        server_reset();
        srv.expire_once = true;
        logbuf[0] = 0;
        r = kiln_ds_ec2(&o, &in);
        is_int(r, 0, "ec2: 401 then a new token");
        is_int(srv.n_token_puts, 2, "ec2: two token PUTs");
        ok(strstr(logbuf, "token refused for /latest/meta-data/instance-id, fetching a new one") != NULL,
           "ec2: refresh logged");
        kiln_instance_free(&in);

        /* No user data. */
        server_reset();
        srv.no_user_data = true;
        r = kiln_ds_ec2(&o, &in);
        ok(r == 0 && !in.user_data && in.user_data_len == 0, "ec2: 404 user-data is none");
        kiln_instance_free(&in);

        /* 403 is final, at once. */
        server_reset();
        srv.forbid_id = true;
        t0 = now_ms();
        in.instance_id = strdup("untouched");
        r = kiln_ds_ec2(&o, &in);
        is_int(r, -EACCES, "ec2: 403 -> -EACCES");
        ok(!strcmp(kiln_last_error(), "datasource ec2: imds refused /latest/meta-data/instance-id (HTTP 403)"),
           "ec2: 403 '%s'", kiln_last_error());
        ok(now_ms() - t0 < 1000 && srv.n_requests == 2, "ec2: 403 not retried (%u requests)", srv.n_requests);
        ok(!strcmp(in.instance_id, "untouched"), "ec2: *ret untouched on failure");
        kiln_instance_free(&in);

        server_reset();
        srv.no_id = true;
        is_int(kiln_ds_ec2(&o, &in), -ENOENT, "ec2: no instance-id -> -ENOENT");
        ok(!strcmp(kiln_last_error(), "datasource ec2: imds has no /latest/meta-data/instance-id (HTTP 404)"),
           "ec2: 404 '%s'", kiln_last_error());

        /* IMDSv1: only when allowed. */
        server_reset();
        srv.no_tokens = true;
        is_int(kiln_ds_ec2(&o, &in), -EOPNOTSUPP, "ec2: no token, IMDSv1 not allowed");
        ok(!strcmp(kiln_last_error(),
                   "datasource ec2: imds gave no IMDSv2 token (HTTP 404) and IMDSv1 is not allowed"),
           "ec2: v1 refused '%s'", kiln_last_error());
        is_int(srv.n_v1_gets, 0, "ec2: no GET without a token");
        server_reset();
        srv.no_tokens = true;
        o.imds_v1 = true;
        logbuf[0] = 0;
        r = kiln_ds_ec2(&o, &in);
        is_int(r, 0, "ec2: IMDSv1 when allowed");
        ok(r == 0 && strstr(in.source, "(IMDSv1)") && !strcmp(in.instance_id, "i-0123456789abcdef0"),
           "ec2: v1 source '%s'", in.source ? in.source : "");
        ok(srv.n_v1_gets > 5, "ec2: GETs without a token");
        ok(strstr(logbuf, "no IMDSv2 token (HTTP 404), using IMDSv1 as allowed") != NULL, "ec2: v1 logged");
        kiln_instance_free(&in);
        o.imds_v1 = false;

        /* The deadline. */
        server_reset();
        srv.always_503 = true;
        o.timeout_ms = 1500;
        t0 = now_ms();
        r = kiln_ds_ec2(&o, &in);
        is_int(r, -ETIMEDOUT, "ec2: 503 forever -> -ETIMEDOUT");
        ok(now_ms() - t0 < 1700, "ec2: gave up within the deadline (%llu ms)", (unsigned long long)(now_ms() - t0));
        snprintf(want, sizeof(want), "datasource ec2: imds: gave up at the deadline: http://127.0.0.1:%u"
                 "/latest/api/token: HTTP 503", srv.port);
        ok(!strcmp(kiln_last_error(), want), "ec2: deadline '%s'", kiln_last_error());
        o.imds_port = closed_port();
        r = kiln_ds_ec2(&o, &in);
        is_int(r, -ECONNREFUSED, "ec2: nothing listening -> -ECONNREFUSED at the deadline");
        ok(strstr(kiln_last_error(), "gave up at the deadline") && strstr(kiln_last_error(), "Connection refused"),
           "ec2: refused '%s'", kiln_last_error());
        server_reset();

        /* The network part: a NIC that does not exist fails before anything is changed. */
        o.no_network = false;
        o.ifname = "kilnnope0";
        r = kiln_ds_ec2(&o, &in);
        ok(r == -ENODEV && strstr(kiln_last_error(), "datasource ec2: kilnnope0: cannot read the hardware address"),
           "ec2: missing NIC '%s'", kiln_last_error());
        o.imds_host = "imds.example";
        is_int(kiln_ds_ec2(&o, &in), -EINVAL, "ec2: imds host must be an address");
}

/* --- NoCloud, detection, NICs --------------------------------------------- */

static void test_nocloud_dir(void)
{
        struct kiln_ds_opts o = { .log = log_cb };
        struct kiln_instance in = { 0 };
        char dir[300], p[400], buf[256];
        int r;

        snprintf(dir, sizeof(dir), "%s/seed", tmp);
        mkdir(dir, 0755);
        snprintf(p, sizeof(p), "%s/meta-data", dir);
        write_str(p, "instance-id: iid-local01\nlocal-hostname: cloudimg\npublic-keys:\n  - ssh-ed25519 AAAA k\n");
        snprintf(p, sizeof(p), "%s/user-data", dir);
        write_str(p, "#cloud-config\npassword: passw0rd\n");
        snprintf(p, sizeof(p), "%s/vendor-data", dir);
        write_str(p, "#cloud-config\nruncmd: [date]\n");
        snprintf(p, sizeof(p), "%s/network-config", dir);
        write_str(p, "version: 2\n");
        logbuf[0] = 0;
        r = kiln_ds_nocloud_read_dir(&o, dir, "/dev/vdb (cidata, iso9660)", &in);
        is_int(r, 0, "nocloud folder read");
        ok(in.instance_id && !strcmp(in.instance_id, "iid-local01") && !strcmp(in.local_hostname, "cloudimg"),
           "nocloud: id and hostname");
        ok(in.user_data_len == 33 && !memcmp(in.user_data, "#cloud-config\npassword: passw0rd\n", 33),
           "nocloud: user-data");
        ok(in.vendor_data_len == 29, "nocloud: vendor-data");
        join(in.public_keys, buf, sizeof(buf));
        ok(!strcmp(buf, "ssh-ed25519 AAAA k"), "nocloud: keys");
        ok(in.network_config_len == 11 && !memcmp(in.network_config, "version: 2\n", 11) && !in.notes,
           "nocloud: network-config kept for the network pass");
        ok(!logbuf[0], "nocloud: nothing logged");
        ok(!strcmp(in.datasource, "nocloud") && !strcmp(in.source, "/dev/vdb (cidata, iso9660)"), "nocloud: source");
        kiln_instance_free(&in);

        /* No instance-id: cloud-init's default; no vendor-data: none. */
        snprintf(p, sizeof(p), "%s/meta-data", dir);
        write_str(p, "");
        snprintf(p, sizeof(p), "%s/vendor-data", dir);
        unlink(p);
        snprintf(p, sizeof(p), "%s/network-config", dir);
        unlink(p);
        r = kiln_ds_nocloud_read_dir(&o, dir, "seed", &in);
        ok(r == 0 && !strcmp(in.instance_id, "nocloud") && !in.vendor_data && !in.notes && !in.network_config,
           "nocloud: default instance-id 'nocloud'");
        kiln_instance_free(&in);

        snprintf(p, sizeof(p), "%s/meta-data", dir);
        write_str(p, "instance-id: ok\nlocal-hostname: [x]\n");
        is_int(kiln_ds_nocloud_read_dir(&o, dir, "/dev/vdb", &in), -EBADMSG, "nocloud: bad meta-data");
        ok(!strcmp(kiln_last_error(), "seed '/dev/vdb': meta-data:2: local-hostname: expected a string, got a list"),
           "nocloud: '%s'", kiln_last_error());

        snprintf(p, sizeof(p), "%s/user-data", dir);
        truncate(p, KILN_DS_MAX_USER_DATA + 1);
        snprintf(p, sizeof(p), "%s/meta-data", dir);
        write_str(p, "instance-id: ok\n");
        is_int(kiln_ds_nocloud_read_dir(&o, dir, "/dev/vdb", &in), -EFBIG, "nocloud: user-data over 16 MiB");
        ok(!strcmp(kiln_last_error(), "seed '/dev/vdb': user-data is larger than 16777216 bytes"), "nocloud: '%s'",
           kiln_last_error());
        snprintf(p, sizeof(p), "%s/user-data", dir);
        unlink(p);
        is_int(kiln_ds_nocloud_read_dir(&o, dir, "/dev/vdb", &in), -ENOENT, "nocloud: no user-data");
        ok(!strcmp(kiln_last_error(),
                   "seed '/dev/vdb': no user-data (a NoCloud seed needs user-data and meta-data)"),
           "nocloud: '%s'", kiln_last_error());
        ok(!in.instance_id, "nocloud: *ret untouched on failure");
}

static void mkdirs(const char *root, const char *rel)
{
        char cmd[700];

        snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", root, rel);
        run(cmd);
}

static void attr(const char *root, const char *rel, const char *value)
{
        char p[600];

        snprintf(p, sizeof(p), "%s/%s", root, rel);
        write_str(p, value);
}

static void test_detect(void)
{
        char root[300], p[600], cmd[2048], reason[256];
        struct kiln_ds_opts o = { 0 };
        struct kiln_seed seed;
        enum kiln_ds_kind k;
        bool have_iso;
        int r;

        snprintf(root, sizeof(root), "%s/root", tmp);
        o.root = root;
        mkdirs(root, "sys/class/block/vda");
        mkdirs(root, "sys/class/block/vdb");
        mkdirs(root, "sys/class/block/loop0");
        mkdirs(root, "sys/class/dmi/id");
        mkdirs(root, "dev");
        attr(root, "sys/class/block/vda/size", "2048\n");
        attr(root, "sys/class/block/vdb/size", "2048\n");
        attr(root, "sys/class/block/loop0/size", "0\n");
        snprintf(p, sizeof(p), "%s/dev/vda", root);
        write_file(p, "", 0);
        truncate(p, 1 << 20);

        is_int(kiln_ds_seed_find(&o, &seed), 0, "no seed: vdb has no node, vda is blank");
        is_int(kiln_ds_detect_at(&o, "auto", &k, reason, sizeof(reason)), 0, "detect auto with nothing");
        ok(k == KILN_DSK_NONE && !strcmp(reason, "no seed volume labelled cidata, and DMI does not say Amazon EC2"),
           "detect: none '%s'", reason);

        /* A vfat seed as cloud-localds makes it (mkfs.vfat -n CIDATA). */
        snprintf(cmd, sizeof(cmd), "mkfs.vfat -C -n CIDATA '%s/dev/vdb' 1024 >/dev/null 2>&1", root);
        if (run(cmd) != 0) {
                ok(0, "mkfs.vfat made a seed image");
        } else {
                memset(&seed, 0, sizeof(seed));
                is_int(kiln_ds_seed_find(&o, &seed), 1, "vfat seed found");
                ok(!strcmp(seed.device, "/dev/vdb") && !strcmp(seed.label, "CIDATA") && !strcmp(seed.fstype, "vfat"),
                   "vfat seed: %s %s %s", seed.device, seed.label, seed.fstype);
                is_int(kiln_ds_detect_at(&o, NULL, &k, reason, sizeof(reason)), 0, "detect with a seed");
                ok(k == KILN_DSK_NOCLOUD && !strcmp(reason, "seed volume /dev/vdb labelled 'CIDATA' (vfat)"),
                   "detect: nocloud '%s'", reason);
                /* Mounting a regular file fails: the error names the seed and the mount point. */
                snprintf(p, sizeof(p), "%s/mnt/seed", tmp);
                o.seed_mount = p;
                struct kiln_instance in = { 0 };
                r = kiln_ds_nocloud(&o, &in);
                ok(r < 0 && strstr(kiln_last_error(), "cannot mount seed '/dev/vdb (CIDATA, vfat)' read-only on '") &&
                   !in.instance_id, "nocloud on a file: '%s'", kiln_last_error());
        }
        snprintf(cmd, sizeof(cmd), "mkfs.vfat -C -n OTHER '%s/dev/vdc' 1024 >/dev/null 2>&1", root);
        run(cmd);
        mkdirs(root, "sys/class/block/vdc");
        snprintf(p, sizeof(p), "%s/dev/vdb", root);
        unlink(p);
        is_int(kiln_ds_seed_find(&o, &seed), 0, "a vfat volume labelled OTHER is no seed");

        /* iso9660 as genisoimage -V cidata makes it. */
        snprintf(cmd, sizeof(cmd), "mkdir -p '%s/iso' && echo 'instance-id: iso' > '%s/iso/meta-data' && "
                 "touch '%s/iso/user-data' && xorriso -as mkisofs -quiet -V cidata -J -R -o '%s/dev/sr0' '%s/iso' "
                 ">/dev/null 2>&1", tmp, tmp, tmp, root, tmp);
        have_iso = run(cmd) == 0;
        if (!have_iso) {
                tap_ok(true, "# SKIP xorriso not installed: iso9660 seed not tested");
        } else {
                mkdirs(root, "sys/class/block/sr0");
                memset(&seed, 0, sizeof(seed));
                is_int(kiln_ds_seed_find(&o, &seed), 1, "iso9660 seed found");
                ok(!strcmp(seed.device, "/dev/sr0") && !strcmp(seed.label, "cidata") && !strcmp(seed.fstype, "iso9660"),
                   "iso seed: %s %s %s", seed.device, seed.label, seed.fstype);
        }

        /* The whole NoCloud path, mount included, where the kernel has iso9660 and we may mount. */
        uint8_t *fs = NULL;
        size_t fslen = 0;
        bool can_mount = have_iso && geteuid() == 0 && read_full_file("/proc/filesystems", 1 << 16, &fs, &fslen) == 0 &&
                         strstr((char *)fs, "\tiso9660\n");
        free(fs);
        if (!can_mount) {
                tap_ok(true, "# SKIP the kernel cannot mount iso9660 here (or not root): mount left to boot tests");
        } else {
                char loopdev[64] = "";
                snprintf(cmd, sizeof(cmd), "losetup -f --show -r '%s/dev/sr0'", root);
                FILE *f = popen(cmd, "r");
                if (f && fgets(loopdev, sizeof(loopdev), f))
                        loopdev[strcspn(loopdev, "\n")] = 0;
                if (f)
                        pclose(f);
                snprintf(p, sizeof(p), "%s/dev/sr0", root);
                unlink(p);
                symlink(loopdev, p);
                struct kiln_instance in = { 0 };
                snprintf(p, sizeof(p), "%s/mnt/seed", tmp);
                o.seed_mount = p;
                r = kiln_ds_nocloud(&o, &in);
                ok(r == 0 && in.instance_id && !strcmp(in.instance_id, "iso"), "nocloud mounted the iso9660 seed");
                kiln_instance_free(&in);
                snprintf(cmd, sizeof(cmd), "losetup -d '%s'", loopdev);
                run(cmd);
        }
        snprintf(p, sizeof(p), "%s/dev/sr0", root);
        unlink(p);

        /* DMI. */
        attr(root, "sys/class/dmi/id/sys_vendor", "QEMU\n");
        attr(root, "sys/class/dmi/id/bios_vendor", "Amazon EC2\n");
        is_int(kiln_ds_detect_at(&o, "", &k, reason, sizeof(reason)), 0, "detect by DMI");
        ok(k == KILN_DSK_EC2 && !strcmp(reason, "DMI bios_vendor is 'Amazon EC2'"), "detect: '%s'", reason);
        attr(root, "sys/class/dmi/id/bios_vendor", "SeaBIOS\n");
        attr(root, "sys/class/dmi/id/product_uuid", "EC2E1916-9099-7CAF-FD21-012345678901\n");
        kiln_ds_detect_at(&o, "auto", &k, reason, sizeof(reason));
        ok(k == KILN_DSK_EC2 && !strcmp(reason, "DMI product_uuid 'EC2E1916-9099-7CAF-FD21-012345678901' begins with ec2"),
           "detect: '%s'", reason);
        attr(root, "sys/class/dmi/id/product_uuid", "4c4c4544-0000-1000-8000-000000000000\n");
        kiln_ds_detect_at(&o, "auto", &k, reason, sizeof(reason));
        is_int(k, KILN_DSK_NONE, "detect: another uuid is not EC2");

        /* The command line decides. */
        kiln_ds_detect_at(&o, "EC2", &k, reason, sizeof(reason));
        ok(k == KILN_DSK_EC2 && !strcmp(reason, "kiln.ds=ec2 on the kernel command line"), "kiln.ds=EC2: '%s'", reason);
        kiln_ds_detect_at(&o, "nocloud", &k, reason, sizeof(reason));
        is_int(k, KILN_DSK_NOCLOUD, "kiln.ds=nocloud without a seed");
        attr(root, "sys/class/dmi/id/sys_vendor", "Amazon EC2\n");
        kiln_ds_detect_at(&o, "none", &k, reason, sizeof(reason));
        is_int(k, KILN_DSK_NONE, "kiln.ds=none on EC2");
        k = KILN_DSK_EC2;
        is_int(kiln_ds_detect_at(&o, "azure", &k, reason, sizeof(reason)), -EINVAL, "kiln.ds=azure refused");
        ok(k == KILN_DSK_EC2 && !strcmp(kiln_last_error(), "unknown datasource 'azure' (auto, ec2, nocloud or none)"),
           "'%s'", kiln_last_error());
        ok(!strcmp(kiln_ds_kind_to_string(KILN_DSK_NOCLOUD), "nocloud"), "kind names");
}

static void test_find_nic(void)
{
        char root[300], name[IF_NAMESIZE];
        int index = 0;

        snprintf(root, sizeof(root), "%s/netroot", tmp);
        mkdirs(root, "sys/class/net");
        is_int(kiln_net_find_nic(root, name, &index), -ENODEV, "no NIC: -ENODEV");
        mkdirs(root, "sys/class/net/lo");
        attr(root, "sys/class/net/lo/type", "772\n");
        attr(root, "sys/class/net/lo/ifindex", "1\n");
        mkdirs(root, "sys/class/net/ifb0");
        attr(root, "sys/class/net/ifb0/type", "1\n");
        attr(root, "sys/class/net/ifb0/ifindex", "2\n");
        is_int(kiln_net_find_nic(root, name, &index), 0, "only ifb0");
        ok(!strcmp(name, "ifb0") && index == 2, "an ethernet without a device is taken when alone");
        mkdirs(root, "sys/class/net/ens6/device");
        attr(root, "sys/class/net/ens6/type", "1\n");
        attr(root, "sys/class/net/ens6/ifindex", "4\n");
        mkdirs(root, "sys/class/net/ens5/device");
        attr(root, "sys/class/net/ens5/type", "1\n");
        attr(root, "sys/class/net/ens5/ifindex", "3\n");
        mkdirs(root, "sys/class/net/ib0/device");
        attr(root, "sys/class/net/ib0/type", "32\n");
        attr(root, "sys/class/net/ib0/ifindex", "1\n");
        is_int(kiln_net_find_nic(root, name, &index), 0, "several NICs");
        ok(!strcmp(name, "ens5") && index == 3, "the lowest ifindex with a device and type 1: %s", name);
}

int main(void)
{
        char cmd[300];

        snprintf(tmp, sizeof(tmp), "/tmp/kiln-test-datasource-XXXXXX");
        if (!mkdtemp(tmp)) {
                printf("Bail out! mkdtemp\n");
                return 1;
        }
        tap_plan_lazy();
        test_metadata();
        test_instance_dir_name();
        test_http_pure();
        server_start();
        test_httpc();
        test_ec2();
        server_stop();
        test_nocloud_dir();
        test_detect();
        test_find_nic();
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        run(cmd);
        return tap_done();
}
