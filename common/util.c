/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <ctype.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>

static __thread char error_buf[1024];

int kiln_errorf(int err, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(error_buf, sizeof(error_buf), fmt, ap);
        va_end(ap);
        return err;
}

int kiln_error_prefix(int err, const char *fmt, ...)
{
        char prefix[256], old[sizeof(error_buf)];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(prefix, sizeof(prefix), fmt, ap);
        va_end(ap);
        memcpy(old, error_buf, sizeof(old));
        /* Truncating an over-long message is fine: it stays one line. */
        const char *rest = old[0] ? old : strerror(-err);
        size_t pl = strlen(prefix), rl = strlen(rest);
        memcpy(error_buf, prefix, pl);
        memcpy(error_buf + pl, ": ", 2);
        rl = MIN(rl, sizeof(error_buf) - pl - 3);
        memcpy(error_buf + pl + 2, rest, rl);
        error_buf[pl + 2 + rl] = 0;
        return err;
}

const char *kiln_last_error(void) { return error_buf; }
void kiln_clear_error(void) { error_buf[0] = 0; }

int parse_size(const char *s, uint64_t *ret)
{
        static const char units[] = "KMGTPE";
        uint64_t v = 0, mult = 1;
        const char *p = s;

        if (!isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                if (v > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t)(*p - '0');
        }
        if (*p) {
                const char *u = strchr(units, toupper((unsigned char)*p));
                if (!u || !*u)
                        return -EINVAL;
                for (size_t i = 0; i <= (size_t)(u - units); i++)
                        mult *= 1024;
                p++;
                /* Accept "G", "GB", "GiB" alike: all mean powers of 1024. */
                if (*p == 'i' || *p == 'I')
                        p++;
                if (*p == 'b' || *p == 'B')
                        p++;
                if (*p)
                        return -EINVAL;
        }
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

void format_size(uint64_t bytes, char *buf, size_t len)
{
        static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double)bytes;
        size_t i = 0;

        while (v >= 1024 && i + 1 < ARRAY_SIZE(units)) {
                v /= 1024;
                i++;
        }
        if (i == 0)
                snprintf(buf, len, "%" PRIu64 " B", bytes);
        else
                snprintf(buf, len, "%.1f %s", v, units[i]);
}

static void make_v4(uint8_t u[16])
{
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
}

void derive_uuid(const void *seed, size_t seed_len, const char *purpose, uint8_t ret[16])
{
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();

        /* Allocation failure here is not recoverable in a useful way; fall
         * back to a hash of nothing rather than crash. */
        if (ctx) {
                EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
                EVP_DigestUpdate(ctx, "kiln-uuid-v1:", 13);
                EVP_DigestUpdate(ctx, purpose, strlen(purpose) + 1);
                EVP_DigestUpdate(ctx, seed, seed_len);
                EVP_DigestFinal_ex(ctx, md, &mdlen);
                EVP_MD_CTX_free(ctx);
        } else {
                memset(md, 0, sizeof(md));
        }
        memcpy(ret, md, 16);
        make_v4(ret);
}

void random_uuid(uint8_t ret[16])
{
        size_t got = 0;

        while (got < 16) {
                ssize_t n = getrandom(ret + got, 16 - got, 0);
                if (n > 0)
                        got += (size_t)n;
        }
        make_v4(ret);
}

void format_uuid(const uint8_t u[16], char buf[37])
{
        snprintf(buf, 37,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
                 u[12], u[13], u[14], u[15]);
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char)tolower((unsigned char)c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int parse_uuid(const char *s, uint8_t ret[16])
{
        uint8_t u[16];
        size_t n = 0;

        for (size_t i = 0; s[i]; i++) {
                if (s[i] == '-') {
                        if (i != 8 && i != 13 && i != 18 && i != 23)
                                return -EINVAL;
                        continue;
                }
                int hi = hexval(s[i]), lo = s[i + 1] ? hexval(s[i + 1]) : -1;
                if (hi < 0 || lo < 0 || n >= 16)
                        return -EINVAL;
                u[n++] = (uint8_t)(hi << 4 | lo);
                i++;
        }
        if (n != 16 || strlen(s) != 36)
                return -EINVAL;
        memcpy(ret, u, 16);
        return 0;
}

int read_full_fd(int fd, size_t max, uint8_t **ret, size_t *ret_len)
{
        struct stat st;
        uint8_t *buf;
        size_t got = 0, cap;
        int r = 0;

        if (fstat(fd, &st) < 0)
                return -errno;
        /* Read to EOF: sysfs and procfs files claim a size (4096, 0) that
         * has nothing to do with what they hold. */
        cap = MIN((size_t)st.st_size, max);
        buf = malloc(cap + 1);
        if (!buf)
                return -ENOMEM;
        while (r == 0) {
                if (got == cap) {
                        if (cap == max) {
                                /* Full: anything more is too much. */
                                uint8_t probe;
                                ssize_t n = read(fd, &probe, 1);
                                if (n < 0 && errno == EINTR)
                                        continue;
                                r = n < 0 ? -errno : n > 0 ? -EFBIG : 0;
                                break;
                        }
                        size_t ncap = MIN(MAX(cap * 2, (size_t)4096), max);
                        uint8_t *nb = realloc(buf, ncap + 1);
                        if (!nb) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = nb;
                        cap = ncap;
                }
                ssize_t n = read(fd, buf + got, cap - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        r = -errno;
                if (n <= 0)
                        break;
                got += (size_t)n;
        }
        if (r < 0) {
                free(buf);
                return r;
        }
        buf[got] = 0;
        *ret = buf;
        *ret_len = got;
        return 0;
}

int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        int r;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                r = -errno;
        else if (!S_ISREG(st.st_mode))
                r = -EINVAL;
        else
                r = read_full_fd(fd, max, ret, ret_len);
        close(fd);
        return r;
}

int write_full(int fd, const void *buf, size_t len)
{
        const uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
        }
        return 0;
}
