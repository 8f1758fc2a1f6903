/* SPDX-License-Identifier: MIT */
/* Minimal TAP producer for kiln's C unit tests (one binary per module). */
#ifndef KILN_TAP_H
#define KILN_TAP_H

#include <stdbool.h>

void tap_plan_lazy(void);
bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * A test that cannot run here: "ok N - # SKIP REASON".  In CI (KILN_REQUIRE_ALL=1,
 * or CI set and KILN_REQUIRE_ALL not 0) a skip is a failure naming REASON,
 * since CI's machine is set up to have every prerequisite.  tap_skip_ci_ok()
 * is for the few that CI's machine can never have (say why in REASON); so is
 * a line "PROGRAM: REASON-PREFIX" in $KILN_CI_SKIP_OK (tests/run-unit.sh).
 * tap_ok(true, "# SKIP ...") is taken as tap_skip().
 */
void tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tap_skip_ci_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
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
