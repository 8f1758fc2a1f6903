/* SPDX-License-Identifier: MIT */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf, strchrnul, program_invocation_short_name */
#endif
#include "tap.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int tap_count, tap_failed;

void tap_plan_lazy(void) {}

/* What tests/lib/test-lib.sh decides the same way: is every skip a failure? */
static bool require_all(void)
{
        const char *r = getenv("KILN_REQUIRE_ALL"), *ci = getenv("CI");

        if (r && !strcmp(r, "1"))
                return true;
        if (r && !strcmp(r, "0"))
                return false;
        return ci && *ci && strcmp(ci, "0") && strcasecmp(ci, "false");
}

/* A line "PROGRAM: PREFIX" of $KILN_CI_SKIP_OK whose PREFIX starts reason. */
static bool ci_skip_listed(const char *reason)
{
        const char *list = getenv("KILN_CI_SKIP_OK"), *prog = program_invocation_short_name;
        size_t plen = strlen(prog);

        for (const char *l = list; l && *l;) {
                const char *end = strchrnul(l, '\n');
                if ((size_t)(end - l) > plen + 2 && !strncmp(l, prog, plen) && !strncmp(l + plen, ": ", 2) &&
                    !strncmp(reason, l + plen + 2, (size_t)(end - l) - plen - 2))
                        return true;
                l = *end ? end + 1 : end;
        }
        return false;
}

static void skip_line(bool ci_ok, const char *reason)
{
        tap_count++;
        if (require_all() && !ci_ok && !ci_skip_listed(reason)) {
                tap_failed++;
                printf("not ok %d - skipped: %s\n", tap_count, reason);
                printf("# skipped in CI (KILN_REQUIRE_ALL=1 or CI set), where every test must run: install what "
                       "is missing, or use tap_skip_ci_ok() if CI's machine can never have it\n");
        } else {
                printf("ok %d - # SKIP %s\n", tap_count, reason);
        }
        fflush(stdout);
}

static void vskip(bool ci_ok, const char *fmt, va_list ap)
{
        char *reason = NULL;

        if (vasprintf(&reason, fmt, ap) < 0)
                reason = NULL;
        skip_line(ci_ok, reason ? reason : "(no memory for the reason)");
        free(reason);
}

void tap_skip(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vskip(false, fmt, ap);
        va_end(ap);
}

void tap_skip_ci_ok(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vskip(true, fmt, ap);
        va_end(ap);
}

bool tap_ok(bool cond, const char *fmt, ...)
{
        char *desc = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&desc, fmt, ap) < 0)
                desc = NULL;
        va_end(ap);
        if (cond && desc && !strncasecmp(desc, "# SKIP", 6)) {
                const char *reason = desc + 6;
                while (*reason == ' ' || *reason == ':')
                        reason++;
                skip_line(false, reason);
                free(desc);
                return true;
        }
        tap_count++;
        if (!cond)
                tap_failed++;
        printf("%s %d - %s\n", cond ? "ok" : "not ok", tap_count, desc ? desc : fmt);
        fflush(stdout);
        free(desc);
        return cond;
}

void tap_diag(const char *fmt, ...)
{
        va_list ap;

        fputs("# ", stdout);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
}

int tap_done(void)
{
        printf("1..%d\n", tap_count);
        return tap_failed ? 1 : 0;
}
