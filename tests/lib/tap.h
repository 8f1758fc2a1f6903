/* SPDX-License-Identifier: MIT */
/* Minimal TAP producer for kiln's C unit tests (one binary per module). */
#ifndef KILN_TAP_H
#define KILN_TAP_H

#include <stdbool.h>

void tap_plan_lazy(void);
bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the trailing plan; returns the process exit status. */
int tap_done(void);

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#define is_int(a, b, ...)                                                              \
        do {                                                                           \
                long long _a = (long long)(a), _b = (long long)(b);                    \
                if (!tap_ok(_a == _b, __VA_ARGS__))                                    \
                        tap_diag("  got %lld, expected %lld (%s:%d)", _a, _b, __FILE__, \
                                 __LINE__);                                            \
        } while (0)

#endif
