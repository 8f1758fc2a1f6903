/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every part of kiln: cleanup attributes, sizes, errors. */
#ifndef KILN_COMMON_UTIL_H
#define KILN_COMMON_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ROUND_UP(n, d) (DIV_ROUND_UP(n, d) * (d))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

/* Little-endian stores, for the on-disk formats kiln writes by hand. */
static inline void put_le16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
        put_le16(p, (uint16_t)v);
        put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
        put_le32(p, (uint32_t)v);
        put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Read a whole regular file (at most max bytes) into a NUL-terminated
 * buffer, to EOF whatever st_size says (sysfs, procfs).  -errno; -EFBIG
 * when larger than max, -EINVAL if not a file. */
int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_len);
/* The same from an open fd, from its current offset (no type check). */
int read_full_fd(int fd, size_t max, uint8_t **ret, size_t *ret_len);
/* write(2) until all of buf is written (EINTR retried).  0 or -errno. */
int write_full(int fd, const void *buf, size_t len);

/*
 * Library code reports failures as a negative errno plus a one-line message
 * kept per thread; front ends print it.  kiln_errorf() returns err so that
 * "return kiln_errorf(-EBADMSG, ...)" reads naturally.
 */
int kiln_errorf(int err, const char *fmt, ...) _printf_(2, 3);
/* Prefix the current message: "ctx: old message". */
int kiln_error_prefix(int err, const char *fmt, ...) _printf_(2, 3);
const char *kiln_last_error(void);
void kiln_clear_error(void);

/* Sizes such as "512M", "2G", "1T" or plain bytes; powers of 1024. */
int parse_size(const char *s, uint64_t *ret);
void format_size(uint64_t bytes, char *buf, size_t len);

/* Derive 16 bytes (an RFC 4122 v4-shaped UUID) from a seed and a purpose. */
void derive_uuid(const void *seed, size_t seed_len, const char *purpose, uint8_t ret[16]);
void random_uuid(uint8_t ret[16]);
void format_uuid(const uint8_t uuid[16], char buf[37]);
int parse_uuid(const char *s, uint8_t ret[16]);

#endif
