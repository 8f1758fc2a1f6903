/* SPDX-License-Identifier: MIT */
/*
 * The IMDS server without sockets: the HTTP request parser (complete,
 * partial, pipelined, every error and its limits), the state folder
 * (written, loaded, symbolic links never followed), the responder (the
 * token flow, TTL bounds, expiry to the millisecond on a fake clock,
 * 401/403/404/405/400, listings, traversal attempts), the network
 * interfaces' tree, and the connection slots (flock, 429 past the cap).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/tap.h"
#include "http.h"
#include "imds.h"
#include "util.h"

#define NOW 1700000000u                 /* seconds */
#define NOW_MS ((uint64_t)NOW * 1000)   /* the responder's clock */

static int parse_str(const char *s, struct kiln_http_request *r)
{
        return kiln_http_parse(s, strlen(s), r);
}

static bool slice_is(struct kiln_http_slice s, const char *want)
{
        return s.ptr && s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}

/* ------------------------------------------------------------ the parser */

static void test_parse_ok(void)
{
        static struct kiln_http_request r;
        const char *get = "GET /latest/meta-data/instance-id?x=1 HTTP/1.1\r\n"
                          "Host: 169.254.169.254\r\n"
                          "X-aws-ec2-metadata-token:   abc  \r\n"
                          "Accept: */*\r\n\r\n";
        int k = parse_str(get, &r);

        is_int(k, strlen(get), "GET: the whole request consumed");
        ok(r.method == KILN_HTTP_GET && slice_is(r.method_name, "GET"), "GET: method");
        ok(slice_is(r.path, "/latest/meta-data/instance-id") && slice_is(r.query, "x=1"), "GET: path and query");
        ok(slice_is(r.host, "169.254.169.254") && slice_is(r.token, "abc"), "GET: Host and token, white space trimmed");
        ok(!r.token_ttl.ptr && !r.has_forwarded_for && r.keep_alive && r.version_minor == 1, "GET: defaults");
        is_int(r.n_headers, 3, "GET: three headers");
        ok(kiln_http_header_get(&r, "accept") && slice_is(kiln_http_header_get(&r, "ACCEPT")->value, "*/*"),
           "header lookup ignores case");

        /* Every strict prefix needs more bytes, and leaves *ret alone. */
        bool all = true;
        for (size_t n = 0; n < strlen(get); n++) {
                memset(&r, 0x5a, sizeof(r));
                if (kiln_http_parse(get, n, &r) != 0 || r.n_headers != (size_t)0x5a5a5a5a5a5a5a5aull)
                        all = false;
        }
        ok(all, "every prefix of a request: need more, nothing written");

        const char *put = "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"
                          "X-Forwarded-For: 1.2.3.4\r\nContent-Length: 5\r\n\r\nhello";
        k = parse_str(put, &r);
        is_int(k, strlen(put), "PUT with a body: body consumed");
        ok(r.method == KILN_HTTP_PUT && slice_is(r.token_ttl, "21600") && r.has_forwarded_for, "PUT: ttl, XFF");
        ok(slice_is(r.body, "hello") && r.content_length == 5, "PUT: body slice");
        is_int(kiln_http_parse(put, strlen(put) - 1, &r), 0, "PUT: body short by one byte: need more");

        const char *two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\nGET /c";
        k = parse_str(two, &r);
        ok(k == 19 && slice_is(r.path, "/a"), "pipelined: the first request");
        k = kiln_http_parse(two + 19, strlen(two) - 19, &r);
        ok(k > 0 && slice_is(r.path, "/b") && !r.keep_alive, "pipelined: the second, Connection: close");
        is_int(kiln_http_parse(two + 19 + k, strlen(two + 19 + k), &r), 0, "pipelined: the third is partial");

        ok(parse_str("\r\n\nGET / HTTP/1.1\nHost: x\n\n", &r) > 0 && slice_is(r.host, "x"),
           "leading empty lines skipped, bare LF line ends");
        ok(parse_str("GET / HTTP/1.0\r\n\r\n", &r) > 0 && !r.keep_alive, "HTTP/1.0 closes by default");
        ok(parse_str("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0 && r.keep_alive,
           "HTTP/1.0 with Connection: keep-alive");
        ok(parse_str("GET / HTTP/1.1\r\nConnection: Upgrade, close\r\n\r\n", &r) > 0 && !r.keep_alive,
           "a Connection list holding close");
        ok(parse_str("BREW /pot HTTP/1.1\r\n\r\n", &r) > 0 && r.method == KILN_HTTP_OTHER &&
                   slice_is(r.method_name, "BREW"),
           "an unknown method parses as OTHER");
        ok(parse_str("GET / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc", &r) > 0,
           "a repeated, equal Content-Length");
}

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
        size_t h = strlen(head), t = strlen(tail);
        char *s = malloc(h + n + t + 1);
        memcpy(s, head, h);
        memset(s + h, c, n);
        memcpy(s + h + n, tail, t + 1);
        return s;
}

static void test_parse_errors(void)
{
        static const struct {
                const char *what, *in;
                int err;
        } bad[] = {
                { "no version", "GET /\r\n\r\n", -EBADMSG },
                { "two spaces", "GET  / HTTP/1.1\r\n\r\n", -EBADMSG },
                { "absolute form", "GET http://x/ HTTP/1.1\r\n\r\n", -EBADMSG },
                { "lowercase version", "GET / http/1.1\r\n\r\n", -EBADMSG },
                { "HTTP/2.0", "GET / HTTP/2.0\r\n\r\n", -EPROTONOSUPPORT },
                { "fragment", "GET /a#b HTTP/1.1\r\n\r\n", -EBADMSG },
                { "obsolete folding", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", -EBADMSG },
                { "space in a header name", "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", -EBADMSG },
                { "space before the colon", "GET / HTTP/1.1\r\nName : x\r\n\r\n", -EBADMSG },
                { "no colon", "GET / HTTP/1.1\r\nNameOnly\r\n\r\n", -EBADMSG },
                { "CR inside a line", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", -EBADMSG },
                { "Content-Length not a number", "PUT / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", -EBADMSG },
                { "conflicting Content-Length", "PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                  -EBADMSG },
                { "body over 64 KiB", "PUT / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", -EFBIG },
                { "huge Content-Length", "PUT / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n", -EFBIG },
                { "chunked", "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", -EOPNOTSUPP },
                { "two tokens", "GET / HTTP/1.1\r\nX-aws-ec2-metadata-token: a\r\nX-aws-ec2-metadata-token: a\r\n\r\n",
                  -EBADMSG },
                { "two TTLs",
                  "PUT / HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 1\r\n"
                  "x-aws-ec2-metadata-token-ttl-seconds: 1\r\n\r\n",
                  -EBADMSG },
                { "two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", -EBADMSG },
                { "binary, before any line end", "\x16\x03\x01\x02\x00\x01", -EBADMSG },
                { "stray CR before the request", "\r\rGET", -EBADMSG },
                { "empty method", " / HTTP/1.1\r\n\r\n", -EBADMSG },
        };
        static struct kiln_http_request r;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                is_int(parse_str(bad[i].in, &r), bad[i].err, "malformed: %s", bad[i].what);
        /* A NUL in a header value. */
        static const char nul[] = "GET / HTTP/1.1\r\nA: b\0c\r\n\r\n";
        is_int(kiln_http_parse(nul, sizeof(nul) - 1, &r), -EBADMSG, "malformed: NUL in a header value");

        /* Limits, at the limit and one past it. */
        char *s = repeat("GET /", 'a', KILN_HTTP_LINE_MAX - 14, " HTTP/1.1\r\n\r\n");
        ok(parse_str(s, &r) > 0 && r.target.len == KILN_HTTP_LINE_MAX - 13, "request line of exactly 8192 bytes");
        free(s);
        s = repeat("GET /", 'a', KILN_HTTP_LINE_MAX - 13, " HTTP/1.1\r\n\r\n");
        is_int(parse_str(s, &r), -ENAMETOOLONG, "request line of 8193 bytes: 414");
        free(s);
        s = repeat("GET /", 'a', KILN_HTTP_LINE_MAX, "");
        is_int(parse_str(s, &r), -ENAMETOOLONG, "an endless request line is refused before its end");
        free(s);

        /* Header section: "X: aaa...\r\n" + "\r\n" = exactly 16384 bytes. */
        s = repeat("GET / HTTP/1.1\r\nX: ", 'a', KILN_HTTP_HEADERS_MAX - 7, "\r\n\r\n");
        ok(parse_str(s, &r) > 0, "header section of exactly 16384 bytes");
        free(s);
        s = repeat("GET / HTTP/1.1\r\nX: ", 'a', KILN_HTTP_HEADERS_MAX - 6, "\r\n\r\n");
        is_int(parse_str(s, &r), -EMSGSIZE, "header section of 16385 bytes: 431");
        free(s);
        s = repeat("GET / HTTP/1.1\r\nX: ", 'a', KILN_HTTP_HEADERS_MAX, "");
        is_int(parse_str(s, &r), -EMSGSIZE, "an endless header is refused before its end");
        free(s);

        char many[4096] = "GET / HTTP/1.1\r\n";
        for (unsigned i = 0; i < KILN_HTTP_MAX_HEADERS; i++)
                snprintf(many + strlen(many), sizeof(many) - strlen(many), "H%u: v\r\n", i);
        strcat(many, "\r\n");
        ok(parse_str(many, &r) > 0 && r.n_headers == KILN_HTTP_MAX_HEADERS, "64 headers");
        many[strlen(many) - 2] = 0;
        strcat(many, "H64: v\r\n\r\n");
        is_int(parse_str(many, &r), -EMSGSIZE, "65 headers: 431");

        ok(parse_str("PUT / HTTP/1.1\r\nContent-Length: 65536\r\n\r\n", &r) == 0, "a 64 KiB body is awaited");

        is_int(kiln_http_error_status(-EBADMSG), 400, "status: -EBADMSG 400");
        is_int(kiln_http_error_status(-EFBIG), 413, "status: -EFBIG 413");
        is_int(kiln_http_error_status(-ENAMETOOLONG), 414, "status: -ENAMETOOLONG 414");
        is_int(kiln_http_error_status(-EMSGSIZE), 431, "status: -EMSGSIZE 431");
        is_int(kiln_http_error_status(-EOPNOTSUPP), 501, "status: -EOPNOTSUPP 501");
        is_int(kiln_http_error_status(-EPROTONOSUPPORT), 505, "status: -EPROTONOSUPPORT 505");
}

/* ----------------------------------------------------------- the state */

static char tmpdir[] = "/tmp/test-imds-XXXXXX";

static const struct kiln_imds_bdm bdm[] = {
        { "ami", "/dev/xvda" }, { "root", "/dev/xvda" }, { "ebs1", "sdf" }, { "ephemeral0", "sdb" },
};

static struct kiln_imds_instance instance(void)
{
        return (struct kiln_imds_instance){
                .instance_id = "i-0123456789abcdef0",
                .ami_id = "ami-0abcdef1234567890",
                .instance_type = "t3.micro",
                .hostname = "ip-10-0-2-15.ec2.internal",
                .local_ipv4 = "10.0.2.15",
                .mac = "52:54:00:12:34:56",
                .availability_zone = "us-east-1a",
                .key_name = "mykey",
                .public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7 me@host",
                .bdm = bdm,
                .n_bdm = ARRAY_SIZE(bdm),
                .user_data = "#cloud-config\nhostname: x\n",
                .user_data_len = 26,
                .pending_time = NOW,
        };
}

static char *path_in(const char *rel)
{
        char *p;
        if (asprintf(&p, "%s/%s", tmpdir, rel) < 0)
                abort();
        return p;
}

static int ask(const struct kiln_imds_state *st, const char *raw, uint64_t now, struct kiln_imds_response *r)
{
        static struct kiln_http_request req;
        int k = parse_str(raw, &req);

        if (k <= 0) {
                tap_diag("  request does not parse (%d): %s", k, raw);
                return -1;
        }
        if (kiln_imds_respond(st, &req, now, r) < 0)
                return -1;
        return r->status;
}

/* GET path with a token (NULL: none); the status, the body into out. */
static int get(const struct kiln_imds_state *st, const char *path, const char *token, uint64_t now, char *out,
               size_t outlen)
{
        char raw[8192];
        struct kiln_imds_response r;
        int status;

        snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: 169.254.169.254\r\n%s%s%s\r\n", path,
                 token ? "X-aws-ec2-metadata-token: " : "", token ? token : "", token ? "\r\n" : "");
        status = ask(st, raw, now, &r);
        if (status < 0)
                return status;
        if (out) {
                snprintf(out, outlen, "%.*s", (int)r.body_len, (const char *)r.body);
        }
        kiln_imds_response_free(&r);
        return status;
}

static int put_token(const struct kiln_imds_state *st, const char *ttl_header, uint64_t now, char *token)
{
        char raw[1024];
        struct kiln_imds_response r;
        int status;

        snprintf(raw, sizeof(raw), "PUT /latest/api/token HTTP/1.1\r\n%s\r\n", ttl_header);
        status = ask(st, raw, now, &r);
        if (status == 200 && token)
                snprintf(token, KILN_IMDS_TOKEN_LEN + 1, "%.*s", (int)r.body_len, (const char *)r.body);
        kiln_imds_response_free(&r);
        return status;
}

static void test_write_and_load(void)
{
        struct kiln_imds_instance in = instance();
        struct kiln_imds_state *st = NULL;
        struct stat sb;
        char *dir = path_in("state"), *p;

        is_int(kiln_imds_dir_write(dir, &in), 0, "dir_write: %s", kiln_last_error());
        p = path_in("state/secret");
        ok(stat(p, &sb) == 0 && sb.st_size == KILN_IMDS_SECRET_SIZE && (sb.st_mode & 0777) == 0600,
           "secret: 32 bytes, mode 0600");
        free(p);
        is_int(kiln_imds_dir_write(dir, &in), -EEXIST, "dir_write: an existing folder is refused");
        ok(strstr(kiln_last_error(), "already exists"), "... saying so: %s", kiln_last_error());

        in.instance_id = "i-xyz";
        char *bad = path_in("bad");
        is_int(kiln_imds_dir_write(bad, &in), -EINVAL, "dir_write: bad instance id");
        ok(strstr(kiln_last_error(), "'i-xyz'"), "... quoted: %s", kiln_last_error());
        ok(access(bad, F_OK) < 0, "... and nothing written");
        in = instance();
        in.availability_zone = "moon";
        is_int(kiln_imds_dir_write(bad, &in), -EINVAL, "dir_write: bad availability zone");
        in = instance();
        in.bdm = (const struct kiln_imds_bdm[]){ { "../x", "sdb" } };
        in.n_bdm = 1;
        is_int(kiln_imds_dir_write(bad, &in), -EINVAL, "dir_write: bad block device name");
        free(bad);
        /* No temporary left beside the folders. */
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "ls -A %s | grep -c tmp- >/dev/null", tmpdir);
        ok(system(cmd) != 0, "no temporary folder left behind");

        is_int(kiln_imds_load(dir, &st), 0, "load: %s", kiln_last_error());
        kiln_imds_state_free(st);

        /* Folder without user data or keys, IMDSv1 allowed. */
        in = instance();
        in.user_data = NULL;
        in.public_key = NULL;
        in.imds_v1 = true;
        p = path_in("v1");
        is_int(kiln_imds_dir_write(p, &in), 0, "dir_write: no user data, v1");
        free(p);

        /* Load errors. */
        p = path_in("state/secret");
        chmod(p, 0644);
        is_int(kiln_imds_load(dir, &st), -EPERM, "load: a secret readable by others is refused");
        ok(strstr(kiln_last_error(), "readable by others"), "... saying so: %s", kiln_last_error());
        chmod(p, 0600);
        free(p);
        p = path_in("state/settings");
        char *saved = path_in("state/settings.saved");
        rename(p, saved);
        FILE *f = fopen(p, "w");
        fputs("imds_v1=1\nfoo=bar\n", f);
        fclose(f);
        is_int(kiln_imds_load(dir, &st), -EBADMSG, "load: unknown setting");
        ok(strstr(kiln_last_error(), "settings' line 2"), "... naming file and line: %s", kiln_last_error());
        rename(saved, p);
        free(p);
        free(saved);
        p = path_in("nothing");
        ok(kiln_imds_load(p, &st) < 0 && strstr(kiln_last_error(), p), "load: a missing folder, named");
        free(p);
        free(dir);
}

static void test_state_add(void)
{
        uint8_t secret[KILN_IMDS_SECRET_SIZE] = { 1 };
        struct kiln_imds_state *st;

        is_int(kiln_imds_state_new(secret, false, &st), 0, "state_new");
        is_int(kiln_imds_state_add(st, "a/b", "x", 1), 0, "add a/b");
        is_int(kiln_imds_state_add(st, "a/b/c", "x", 1), -EEXIST, "add below a file");
        is_int(kiln_imds_state_add(st, "a/b", "y", 1), -EEXIST, "add twice");
        is_int(kiln_imds_state_add(st, "a", NULL, 0), 0, "a folder again: fine");
        is_int(kiln_imds_state_add(st, "a/../b", "x", 1), -EINVAL, "'..' refused");
        is_int(kiln_imds_state_add(st, "a/./b", "x", 1), -EINVAL, "'.' refused");
        is_int(kiln_imds_state_add(st, "a//b", "x", 1), -EINVAL, "empty name refused");
        is_int(kiln_imds_state_add(st, "a/.hidden", "x", 1), -EINVAL, "hidden name refused");
        is_int(kiln_imds_state_add(st, "a/b\\c", "x", 1), -EINVAL, "backslash refused");
        is_int(kiln_imds_state_add(st, "a/b c", "x", 1), -EINVAL, "space refused");
        is_int(kiln_imds_state_add(st, "a/.listing", NULL, 0), -EINVAL, ".listing must be a file");
        is_int(kiln_imds_state_add(st, "a/.listing", "one\ntwo", 7), 0, ".listing for a/");
        is_int(kiln_imds_state_add(st, "a/.listing", "x", 1), -EEXIST, ".listing twice");
        char deep[128] = "d";
        for (int i = 0; i < 17; i++)
                strcat(deep, "/d");
        is_int(kiln_imds_state_add(st, deep, "x", 1), -E2BIG, "deeper than 16 folders");
        kiln_imds_state_free(st);
}

static void test_tokens(void)
{
        struct kiln_imds_state *st = NULL;
        char *dir = path_in("state"), token[KILN_IMDS_TOKEN_LEN + 1], body[4096];
        struct kiln_imds_response r;

        if (kiln_imds_load(dir, &st) < 0) {
                ok(0, "load for the token tests: %s", kiln_last_error());
                free(dir);
                return;
        }
        is_int(put_token(st, "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n", NOW_MS, token), 200, "PUT token: 200");
        is_int(strlen(token), KILN_IMDS_TOKEN_LEN, "token: 54 characters");
        ok(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == KILN_IMDS_TOKEN_LEN,
           "token: base64url");
        ask(st, "PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\r\n", NOW_MS, &r);
        ok(r.token_ttl == 60 && r.status == 200, "PUT token: the TTL is echoed");
        char head[KILN_IMDS_HEAD_MAX];
        int n = kiln_imds_response_head(&r, NOW, head, sizeof(head));
        ok(n > 0 && strstr(head, "HTTP/1.1 200 OK\r\n") && strstr(head, "\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n") &&
                   strstr(head, "\r\nServer: EC2ws\r\n") && strstr(head, "\r\nContent-Length: 54\r\n") &&
                   strstr(head, "\r\nConnection: keep-alive\r\n") &&
                   strstr(head, "\r\nDate: Tue, 14 Nov 2023 22:13:20 GMT\r\n") && !strcmp(head + n - 4, "\r\n\r\n"),
           "response head");
        kiln_imds_response_free(&r);

        static const char *const bad_ttl[] = {
                "", "X-aws-ec2-metadata-token-ttl-seconds: 0\r\n", "X-aws-ec2-metadata-token-ttl-seconds: 21601\r\n",
                "X-aws-ec2-metadata-token-ttl-seconds: -1\r\n", "X-aws-ec2-metadata-token-ttl-seconds: 1e3\r\n",
                "X-aws-ec2-metadata-token-ttl-seconds: 99999999999999999999\r\n",
                "X-aws-ec2-metadata-token-ttl-seconds:\r\n",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad_ttl); i++)
                is_int(put_token(st, bad_ttl[i], NOW_MS, NULL), 400, "PUT token, TTL '%.*s': 400",
                       (int)(strlen(bad_ttl[i]) > 2 ? strlen(bad_ttl[i]) - 2 : 0), bad_ttl[i]);
        is_int(put_token(st, "X-aws-ec2-metadata-token-ttl-seconds: 1\r\n", NOW_MS, NULL), 200, "TTL 1: 200");
        is_int(put_token(st, "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\nX-Forwarded-For: 10.0.0.1\r\n", NOW_MS,
                         NULL),
               403, "PUT token with X-Forwarded-For: 403");
        is_int(ask(st, "GET /latest/api/token HTTP/1.1\r\n\r\n", NOW_MS, &r), 405, "GET on the token: 405");
        ok(r.allow, "... with Allow");
        is_int(ask(st, "POST /latest/api/token HTTP/1.1\r\nContent-Length: 0\r\n\r\n", NOW_MS, &r), 405,
               "POST on the token: 405");
        is_int(ask(st, "PUT /latest/meta-data/ HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 5\r\n\r\n", NOW_MS, &r),
               405, "PUT elsewhere: 405");
        is_int(ask(st, "DELETE /latest/meta-data/ HTTP/1.1\r\n\r\n", NOW_MS, &r), 405, "DELETE: 405");
        is_int(ask(st, "HEAD /latest/meta-data/ HTTP/1.1\r\n\r\n", NOW_MS, &r), 405, "HEAD: 405");
        is_int(put_token(st, "X-aws-ec2-metadata-token-ttl-seconds: 5\r\n", NOW_MS, NULL), 200,
               "PUT token under any version");

        is_int(get(st, "/latest/meta-data/instance-id", token, NOW_MS, body, sizeof(body)), 200, "GET with token: 200");
        ok(!strcmp(body, "i-0123456789abcdef0"), "... the instance id");
        is_int(get(st, "/latest/meta-data/instance-id", token, NOW_MS + 21599 * 1000, NULL, 0), 200, "token valid 1 s before expiry");
        is_int(get(st, "/latest/meta-data/instance-id", token, NOW_MS + 21600 * 1000, NULL, 0), 401, "token expired: 401");
        is_int(get(st, "/latest/meta-data/instance-id", NULL, NOW_MS, NULL, 0), 401, "no token: 401");
        is_int(get(st, "/latest/meta-data/instance-id", "", NOW_MS, NULL, 0), 401, "empty token: 401");
        is_int(get(st, "/latest/meta-data/instance-id", "garbage", NOW_MS, NULL, 0), 401, "garbage token: 401");
        char t2[KILN_IMDS_TOKEN_LEN + 1];
        memcpy(t2, token, sizeof(t2));
        t2[20] = t2[20] == 'A' ? 'B' : 'A';
        is_int(get(st, "/latest/meta-data/instance-id", t2, NOW_MS, NULL, 0), 401, "a token with a changed byte: 401");
        memcpy(t2, token, sizeof(t2));
        t2[KILN_IMDS_TOKEN_LEN - 1] ^= 1; /* the last char's unused bits */
        is_int(get(st, "/latest/meta-data/instance-id", t2, NOW_MS, NULL, 0), 401, "a non-canonical token: 401");
        is_int(get(st, "/latest/meta-data/instance-id", token, NOW_MS - 7 * 3600 * 1000, NULL, 0), 401,
               "a token that lives longer than 6 h from now (clock went back): 401");

        /* Lifetimes to the millisecond: a 1-second token PUT late in a
         * second (x.999) is good right after, at x+1.000, and for its whole
         * second; 1.1 s after the PUT it is gone. */
        char one[KILN_IMDS_TOKEN_LEN + 1];
        put_token(st, "X-aws-ec2-metadata-token-ttl-seconds: 1\r\n", NOW_MS + 999, one);
        is_int(get(st, "/latest/meta-data/", one, NOW_MS + 999, NULL, 0), 200, "TTL 1: valid when PUT");
        is_int(get(st, "/latest/meta-data/", one, NOW_MS + 1000, NULL, 0), 200,
               "TTL 1, PUT at x.999 s: still valid at x+1.000 s (not expired on arrival)");
        is_int(get(st, "/latest/meta-data/", one, NOW_MS + 1998, NULL, 0), 200, "TTL 1: valid 999 ms after the PUT");
        is_int(get(st, "/latest/meta-data/", one, NOW_MS + 1999, NULL, 0), 401, "TTL 1: expired 1000 ms after the PUT");
        is_int(get(st, "/latest/meta-data/", one, NOW_MS + 999 + 1100, NULL, 0), 401, "TTL 1: expired 1.1 s after the PUT");
        {
                char raw[256];
                snprintf(raw, sizeof(raw), "GET /latest/meta-data/ HTTP/1.1\r\nX-aws-ec2-metadata-token: %s\r\n\r\n", one);
                ask(st, raw, NOW_MS + 1500, &r);
                ok(r.status == 200 && r.token_ttl == 1, "a GET 501 ms after the PUT says 1 s left (rounded up): %u",
                   r.token_ttl);
                kiln_imds_response_free(&r);
        }

        /* Another folder's secret does not take this token. */
        struct kiln_imds_state *v1 = NULL;
        char *p = path_in("v1");
        if (kiln_imds_load(p, &v1) == 0) {
                is_int(get(v1, "/latest/meta-data/instance-id", token, NOW_MS, NULL, 0), 401,
                       "another folder's token: 401");
                is_int(get(v1, "/latest/meta-data/instance-id", NULL, NOW_MS, body, sizeof(body)), 200,
                       "IMDSv1 allowed: no token, 200");
                is_int(get(v1, "/latest/meta-data/instance-id", "bad", NOW_MS, NULL, 0), 401,
                       "IMDSv1 allowed, a bad token still 401");
                is_int(get(v1, "/latest/user-data", NULL, NOW_MS, NULL, 0), 404, "no user data: 404");
                is_int(get(v1, "/latest/meta-data/public-keys/", NULL, NOW_MS, NULL, 0), 404, "no key: no public-keys/");
                is_int(get(v1, "/latest/", NULL, NOW_MS, body, sizeof(body)), 200, "v1: GET /latest/");
                ok(!strcmp(body, "dynamic/\nmeta-data/"), "... no user-data listed");
                kiln_imds_state_free(v1);
        } else {
                ok(0, "load v1: %s", kiln_last_error());
        }
        free(p);
        kiln_imds_state_free(st);
        free(dir);
}

static void test_tree(void)
{
        struct kiln_imds_state *st = NULL;
        char *dir = path_in("state"), token[KILN_IMDS_TOKEN_LEN + 1], body[8192];

        /* Links inside the tree: to a file and a folder outside, and to a file inside. */
        char *evil = path_in("state/tree/meta-data/evil"), *evildir = path_in("state/tree/meta-data/evildir"),
             *alias = path_in("state/tree/meta-data/alias"), *outside = path_in("outside-secret");
        FILE *f = fopen(outside, "w");
        fputs("TOP SECRET", f);
        fclose(f);
        ok(symlink(outside, evil) == 0 && symlink(tmpdir, evildir) == 0 && symlink("instance-id", alias) == 0,
           "symbolic links planted in the tree");
        if (kiln_imds_load(dir, &st) < 0) {
                ok(0, "load: %s", kiln_last_error());
                goto out;
        }
        put_token(st, "X-aws-ec2-metadata-token-ttl-seconds: 600\r\n", NOW_MS, token);

        static const struct {
                const char *path;
                int status;
                const char *body; /* NULL: not checked */
        } cases[] = {
                { "/latest/meta-data/instance-type", 200, "t3.micro" },
                { "/latest/meta-data/ami-id", 200, "ami-0abcdef1234567890" },
                { "/latest/meta-data/hostname", 200, "ip-10-0-2-15.ec2.internal" },
                { "/latest/meta-data/local-hostname", 200, "ip-10-0-2-15.ec2.internal" },
                { "/latest/meta-data/local-ipv4", 200, "10.0.2.15" },
                { "/latest/meta-data/mac", 200, "52:54:00:12:34:56" },
                { "/latest/meta-data/instance-action", 200, "none" },
                { "/latest/meta-data/services/domain", 200, "amazonaws.com" },
                { "/latest/meta-data/placement/availability-zone", 200, "us-east-1a" },
                { "/latest/meta-data/placement/region", 200, "us-east-1" },
                { "/latest/meta-data/placement/", 200, "availability-zone\nregion" },
                { "/latest/meta-data/placement", 200, "availability-zone\nregion" },
                { "/latest/meta-data/public-keys/", 200, "0=mykey" },
                { "/latest/meta-data/public-keys/0/", 200, "openssh-key" },
                { "/latest/meta-data/public-keys/0", 200, "openssh-key" },
                { "/latest/meta-data/public-keys/0/openssh-key", 200, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7 me@host" },
                { "/latest/meta-data/block-device-mapping/", 200, "ami\nebs1\nephemeral0\nroot" },
                { "/latest/meta-data/block-device-mapping/ebs1", 200, "sdf" },
                { "/latest/meta-data/block-device-mapping/ephemeral0", 200, "sdb" },
                { "/latest/meta-data/block-device-mapping/root", 200, "/dev/xvda" },
                { "/latest/meta-data/network/interfaces/macs/52:54:00:12:34:56/local-ipv4s", 200, "10.0.2.15" },
                { "/latest/user-data", 200, "#cloud-config\nhostname: x\n" },
                { "/latest/", 200, "dynamic/\nmeta-data/\nuser-data" },
                { "/latest", 200, "dynamic/\nmeta-data/\nuser-data" },
                { "/latest/dynamic/instance-identity/", 200, "document" },
                { "/2009-04-04/meta-data/instance-id", 200, "i-0123456789abcdef0" },
                { "/2021-03-23/meta-data/instance-id", 200, "i-0123456789abcdef0" },
                { "/1.0/meta-data/instance-id?query=ignored", 200, "i-0123456789abcdef0" },
                { "/latest/meta-data/instance%2did", 200, "i-0123456789abcdef0" },
                { "/2021-13-01/meta-data/instance-id", 404, NULL },
                { "/nonsense/meta-data/instance-id", 404, NULL },
                { "/latest/meta-data/nope", 404, NULL },
                { "/latest/meta-data/instance-id/", 404, NULL },
                { "/latest/api", 404, NULL },
                /* Traversal and odd paths. */
                { "/latest/../secret", 400, NULL },
                { "/latest/meta-data/../../secret", 400, NULL },
                { "/latest/meta-data/%2e%2e/%2e%2e/secret", 400, NULL },
                { "/latest/meta-data/%2E%2E/user-data", 400, NULL },
                { "/latest/meta-data/./instance-id", 400, NULL },
                { "/latest//meta-data/instance-id", 400, NULL },
                { "//latest/meta-data/", 400, NULL },
                { "/latest/meta-data/%00", 400, NULL },
                { "/latest/meta-data/instance-id%00.txt", 400, NULL },
                { "/latest/meta-data\\instance-id", 400, NULL },
                { "/latest/meta-data%5cinstance-id", 400, NULL },
                { "/latest/meta-data%2finstance-id", 400, NULL },
                { "/latest/meta-data/%zz", 400, NULL },
                { "/latest/meta-data/%4", 400, NULL },
                { "/latest/meta-data/%0a", 400, NULL },
                { "/../../../etc/passwd", 400, NULL },
                { "/latest/meta-data/public-keys/.listing", 404, NULL },
                { "/latest/.listing", 404, NULL },
                { "/latest/meta-data/evil", 404, NULL },
                { "/latest/meta-data/evildir/", 404, NULL },
                { "/latest/meta-data/evildir/outside-secret", 404, NULL },
                { "/latest/meta-data/alias", 404, NULL },
                { "/latest/meta-data/%c0%ae%c0%ae/secret", 404, NULL },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int s = get(st, cases[i].path, token, NOW_MS, body, sizeof(body));
                if (cases[i].body) {
                        if (!tap_ok(s == cases[i].status && !strcmp(body, cases[i].body), "GET %s: %d", cases[i].path,
                                    cases[i].status))
                                tap_diag("  got %d '%s'", s, body);
                } else {
                        is_int(s, cases[i].status, "GET %s: %d", cases[i].path, cases[i].status);
                }
        }

        is_int(get(st, "/latest/meta-data/", token, NOW_MS, body, sizeof(body)), 200, "GET meta-data/");
        ok(!strcmp(body, "ami-id\nami-launch-index\nblock-device-mapping/\nhostname\ninstance-action\ninstance-id\n"
                         "instance-type\nlocal-hostname\nlocal-ipv4\nmac\nnetwork/\nplacement/\npublic-keys/\n"
                         "services/"),
           "meta-data/ listing, sorted, folders with '/', no links");
        is_int(get(st, "/", token, NOW_MS, body, sizeof(body)), 200, "GET /");
        ok(!strncmp(body, "1.0\n2007-01-19\n", 15) && strstr(body, "\n2009-04-04\n") &&
                   !strcmp(body + strlen(body) - 7, "\nlatest"),
           "GET / lists versions");
        is_int(get(st, "/latest/dynamic/instance-identity/document", token, NOW_MS, body, sizeof(body)), 200,
               "identity document");
        ok(strstr(body, "\"instanceId\": \"i-0123456789abcdef0\"") && strstr(body, "\"region\": \"us-east-1\"") &&
                   strstr(body, "\"pendingTime\": \"2023-11-14T22:13:20Z\"") &&
                   strstr(body, "\"privateIp\": \"10.0.2.15\"") && body[0] == '{',
           "... JSON with the instance's fields");

        /* Connection handling follows the request. */
        struct kiln_imds_response r;
        ask(st, "GET /latest/meta-data/ami-id HTTP/1.1\r\nConnection: close\r\n\r\n", NOW_MS, &r);
        ok(r.close && r.status == 401, "Connection: close carried into the response");
        kiln_imds_respond_error(-EMSGSIZE, &r);
        ok(r.status == 431 && r.close, "a parse error: 431 and close");
        kiln_imds_respond_error(-EFBIG, &r);
        ok(r.status == 413 && r.close, "a parse error: 413 and close");
        kiln_imds_state_free(st);
out:
        free(evil);
        free(evildir);
        free(alias);
        free(outside);
        free(dir);
}

/* ------------------------------------------------------- network interfaces */

static const struct kiln_imds_nic nics3[] = {
        { .device_number = 0, .mac = "0a:00:00:00:00:01", .interface_id = "eni-0123456789abcdef0",
          .local_hostname = "ip-169-254-0-15.ec2.internal", .local_ipv4 = "169.254.0.15",
          .subnet_id = "subnet-00000000000000000", .subnet_ipv4_cidr = "169.254.0.0/16" },
        { .device_number = 2, .mac = "0a:00:00:00:00:03", .interface_id = "eni-22222222222222222",
          .local_hostname = "ip-100-64-32-15.ec2.internal", .local_ipv4 = "100.64.32.15",
          .subnet_id = "subnet-22222222", .subnet_ipv4_cidr = "100.64.32.0/20" },
        { .device_number = 1, .mac = "0a:00:00:00:00:02", .interface_id = "eni-11111111111111111",
          .local_hostname = "ip-100-64-16-15.ec2.internal", .local_ipv4 = "100.64.16.15",
          .subnet_id = "subnet-11111111111111111", .subnet_ipv4_cidr = "100.64.16.0/20",
          .ipv6 = "fd00:ec2:0:1:800:ff:fe00:2", .subnet_ipv6_cidr = "fd00:ec2:0:1::/64" },
};
static const char *const vpc4[] = { "169.254.0.0/16", "100.64.0.0/16" };

static struct kiln_imds_instance nic_instance(void)
{
        struct kiln_imds_instance in = instance();
        in.mac = "0a:00:00:00:00:01";
        in.local_ipv4 = "169.254.0.15";
        in.hostname = "ip-169-254-0-15.ec2.internal";
        in.nics = nics3;
        in.n_nics = ARRAY_SIZE(nics3);
        in.vpc_id = "vpc-0123456789abcdef0";
        in.vpc_ipv4_cidrs = vpc4;
        in.n_vpc_ipv4_cidrs = 2;
        in.vpc_ipv6_cidr = "fd00:ec2::/56";
        in.security_group_id = "sg-0123456789abcdef0";
        return in;
}

static void test_nics(void)
{
        struct kiln_imds_instance in = nic_instance();
        struct kiln_imds_state *st = NULL;
        char *dir = path_in("nics"), body[4096], token[KILN_IMDS_TOKEN_LEN + 1];

        is_int(kiln_imds_dir_write(dir, &in), 0, "dir_write with three NICs: %s", kiln_last_error());
        if (kiln_imds_load(dir, &st) < 0) {
                ok(0, "load: %s", kiln_last_error());
                free(dir);
                return;
        }
        put_token(st, "X-aws-ec2-metadata-token-ttl-seconds: 600\r\n", NOW_MS, token);
        static const struct {
                const char *path, *body;
        } cases[] = {
                { "/latest/meta-data/mac", "0a:00:00:00:00:01" },
                { "/latest/meta-data/local-ipv4", "169.254.0.15" },
                { "/latest/meta-data/network/interfaces/macs/", "0a:00:00:00:00:01/\n0a:00:00:00:00:02/\n0a:00:00:00:00:03/" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/",
                  "device-number\ninterface-id\nipv6s\nlocal-hostname\nlocal-ipv4s\nmac\nowner-id\nsecurity-group-ids\n"
                  "security-groups\nsubnet-id\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks\nvpc-id\n"
                  "vpc-ipv4-cidr-block\nvpc-ipv4-cidr-blocks\nvpc-ipv6-cidr-blocks" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/",
                  "device-number\ninterface-id\nlocal-hostname\nlocal-ipv4s\nmac\nowner-id\nsecurity-group-ids\n"
                  "security-groups\nsubnet-id\nsubnet-ipv4-cidr-block\nvpc-id\nvpc-ipv4-cidr-block\n"
                  "vpc-ipv4-cidr-blocks" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/device-number", "0" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/device-number", "2" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/interface-id", "eni-11111111111111111" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/local-hostname", "ip-100-64-32-15.ec2.internal" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/local-ipv4s", "100.64.32.15" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/mac", "0a:00:00:00:00:03" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/owner-id", "000000000000" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/security-group-ids", "sg-0123456789abcdef0" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:01/security-groups", "default" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/subnet-id", "subnet-22222222" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/subnet-ipv4-cidr-block", "100.64.16.0/20" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/vpc-id", "vpc-0123456789abcdef0" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/vpc-ipv4-cidr-block", "169.254.0.0/16" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/vpc-ipv4-cidr-blocks",
                  "169.254.0.0/16\n100.64.0.0/16" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/ipv6s", "fd00:ec2:0:1:800:ff:fe00:2" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/subnet-ipv6-cidr-blocks", "fd00:ec2:0:1::/64" },
                { "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:02/vpc-ipv6-cidr-blocks", "fd00:ec2::/56" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                int s = get(st, cases[i].path, token, NOW_MS, body, sizeof(body));
                if (!tap_ok(s == 200 && !strcmp(body, cases[i].body), "GET %s", cases[i].path + 40))
                        tap_diag("  got %d '%s'", s, body);
        }
        is_int(get(st, "/latest/meta-data/network/interfaces/macs/0a:00:00:00:00:03/ipv6s", token, NOW_MS, NULL, 0), 404,
               "no ipv6s for a NIC without IPv6");
        kiln_imds_state_free(st);
        free(dir);

        /* What dir_write refuses: every field checked, one line naming it. */
        struct kiln_imds_nic bad_nics[ARRAY_SIZE(nics3)];
        static const struct {
                int field;
                const char *value, *msg;
        } bad[] = {
                { 0, "0a:00:00:00:00:09", "network interface 0 (0a:00:00:00:00:09, 169.254.0.15) is not the instance's" },
                { 1, "0a:00:00:00:00:01", "mac 0a:00:00:00:00:01 given twice" },
                { 2, "eni-xyz", "interface id 'eni-xyz' is not eni-" },
                { 3, "subnet-1", "subnet id 'subnet-1' is not subnet-" },
                { 4, "100.64.48.0/20", "subnet '100.64.48.0/20' is not A.B.C.D/N holding 100.64.32.15" },
                { 4, "100.64.32.1/20", "subnet '100.64.32.1/20' is not A.B.C.D/N" },
                { 4, "100.64.32.0/33", "subnet '100.64.32.0/33'" },
                { 5, "fd00:ec2:0:2::/64", "IPv6 subnet 'fd00:ec2:0:2::/64' is not PREFIX/N holding" },
                { 6, "not-an-address", "IPv6 subnet 'fd00:ec2:0:1::/64' is not PREFIX/N holding 'not-an-address'" },
                { 7, "1.2.3", "local ipv4 '1.2.3' is not a dotted quad" },
                { 8, "two words", "local hostname 'two words'" },
                { 9, NULL, "no network interface with device number 0" },
                { 10, NULL, "network interface device number 2 given twice" },
                { 11, NULL, "a network interface has an IPv6 address but the VPC no IPv6 block" },
                { 12, NULL, "vpc id 'vpc-1' is not vpc-" },
                { 13, NULL, "VPC block '10.0.0.0/33' is not A.B.C.D/N" },
                { 14, NULL, "security group id '' is not sg-" },
                { 15, NULL, "network interface device number 16 is not 0..15" },
        };
        char *bdir = path_in("nics-bad");
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                static const char *const badvpc[] = { "10.0.0.0/33" };
                memcpy(bad_nics, nics3, sizeof(bad_nics));
                in = nic_instance();
                in.nics = bad_nics;
                switch (bad[i].field) {
                case 0: bad_nics[0].mac = bad[i].value; break;
                case 1: bad_nics[1].mac = bad[i].value; break;
                case 2: bad_nics[1].interface_id = bad[i].value; break;
                case 3: bad_nics[2].subnet_id = bad[i].value; break;
                case 4: bad_nics[1].subnet_ipv4_cidr = bad[i].value; break;
                case 5: bad_nics[2].subnet_ipv6_cidr = bad[i].value; break;
                case 6: bad_nics[2].ipv6 = bad[i].value; break;
                case 7: bad_nics[1].local_ipv4 = bad[i].value; break;
                case 8: bad_nics[2].local_hostname = bad[i].value; break;
                case 9: bad_nics[0].device_number = 3; break;
                case 10: bad_nics[2].device_number = 2; break;
                case 11: in.vpc_ipv6_cidr = NULL; break;
                case 12: in.vpc_id = "vpc-1"; break;
                case 13: in.vpc_ipv4_cidrs = badvpc; in.n_vpc_ipv4_cidrs = 1; break;
                case 14: in.security_group_id = NULL; break;
                case 15: bad_nics[1].device_number = 16; break;
                }
                kiln_clear_error();
                int k = kiln_imds_dir_write(bdir, &in);
                bool good = k == -EINVAL && strstr(kiln_last_error(), bad[i].msg) && access(bdir, F_OK) < 0;
                if (!good)
                        tap_diag("  got %d '%s'", k, kiln_last_error());
                ok(good, "dir_write refuses: %s", bad[i].msg);
        }
        free(bdir);
}

/* ------------------------------------------------------- connection slots */

static void test_slots(void)
{
        struct kiln_imds_instance in = instance();
        struct kiln_imds_state *st = NULL;
        char *dir = path_in("capped"), *p;
        int a = -1, b = -1, c = -1;

        in.max_connections = 2;
        is_int(kiln_imds_dir_write(dir, &in), 0, "dir_write with max_connections 2");
        p = path_in("capped/settings");
        uint8_t *text = NULL;
        size_t len = 0;
        ok(read_full_file(p, 4096, &text, &len) == 0 && len == 28 && !memcmp(text, "imds_v1=0\nmax_connections=2\n", 28),
           "settings: imds_v1=0, max_connections=2");
        free(text);
        free(p);
        is_int(kiln_imds_load(dir, &st), 0, "load");
        ok(st && kiln_imds_max_connections(st) == 2, "max_connections read back: 2");
        kiln_imds_state_free(st);

        is_int(kiln_imds_slot_take(dir, 2, &a), 0, "slot 1 of 2 taken");
        is_int(kiln_imds_slot_take(dir, 2, &b), 0, "slot 2 of 2 taken");
        is_int(kiln_imds_slot_take(dir, 2, &c), -EBUSY, "a third connection: -EBUSY");
        close(a);
        is_int(kiln_imds_slot_take(dir, 2, &c), 0, "a slot is free again once its holder closes it");
        close(b);
        /* A process that ends without letting go (a crash) frees its slot too. */
        int up[2], down[2]; /* child -> parent, parent -> child */
        if (pipe(up) == 0 && pipe(down) == 0) {
                pid_t pid = fork();
                if (pid == 0) {
                        int fd;
                        char x = kiln_imds_slot_take(dir, 2, &fd) == 0 ? 'y' : 'n';
                        if (write(up[1], &x, 1) != 1 || read(down[0], &x, 1) < 0) /* wait, then die holding it */
                                _exit(2);
                        raise(SIGKILL);
                        _exit(3);
                }
                char got = 0;
                ok(read(up[0], &got, 1) == 1 && got == 'y', "another process takes the last slot");
                is_int(kiln_imds_slot_take(dir, 2, &a), -EBUSY, "... and holds it");
                if (write(down[1], "x", 1) != 1)
                        tap_diag("cannot wake the child");
                int status = 0;
                waitpid(pid, &status, 0);
                ok(WIFSIGNALED(status), "... until it is killed (SIGKILL)");
                is_int(kiln_imds_slot_take(dir, 2, &a), 0, "then the slot is free");
                close(a);
                close(up[0]);
                close(up[1]);
                close(down[0]);
                close(down[1]);
        }
        close(c);
        p = path_in("capped/slots");
        struct stat sb;
        ok(lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 0777) == 0700, "slots/ is a private folder");
        free(p);
        /* slots/ as a link is never followed. */
        char *q = path_in("capped2");
        is_int(kiln_imds_dir_write(q, &in), 0, "another folder");
        p = path_in("capped2/slots");
        rmdir(p);
        ok(symlink(tmpdir, p) == 0, "its slots/ replaced by a link");
        int fd = -1;
        kiln_clear_error();
        ok(kiln_imds_slot_take(q, 2, &fd) < 0 && strstr(kiln_last_error(), "slots"), "... is refused: %s",
           kiln_last_error());
        free(p);
        free(q);

        struct kiln_imds_response r;
        kiln_imds_respond_throttled(&r);
        char head[KILN_IMDS_HEAD_MAX];
        int n = kiln_imds_response_head(&r, NOW, head, sizeof(head));
        ok(r.status == 429 && r.close && n > 0 && strstr(head, "HTTP/1.1 429 Too Many Requests\r\n") &&
                   strstr(head, "Connection: close\r\n"),
           "throttled: 429 Too Many Requests, and close");

        /* Settings the loader refuses. */
        static const char *const bad[] = { "max_connections=0\n", "max_connections=1025\n", "max_connections=x\n",
                                           "max_connections=\n", "max_connections=016\n" };
        p = path_in("capped/settings");
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                FILE *f = fopen(p, "w");
                fputs(bad[i], f);
                fclose(f);
                kiln_clear_error();
                int k = kiln_imds_load(dir, &st);
                ok(k == -EBADMSG && strstr(kiln_last_error(), "max_connections=1..1024"), "settings '%.*s' refused",
                   (int)strlen(bad[i]) - 1, bad[i]);
                if (k == 0)
                        kiln_imds_state_free(st);
        }
        free(p);
        in.max_connections = 1025;
        char *bd = path_in("capped-bad");
        is_int(kiln_imds_dir_write(bd, &in), -EINVAL, "dir_write: max_connections over 1024 refused");
        free(bd);
        free(dir);
}

int main(void)
{
        test_parse_ok();
        test_parse_errors();
        test_state_add();
        if (!mkdtemp(tmpdir)) {
                ok(0, "mkdtemp: %m");
                return tap_done();
        }
        test_write_and_load();
        test_tokens();
        test_tree();
        test_nics();
        test_slots();
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
                tap_diag("could not remove %s", tmpdir);
        return tap_done();
}
