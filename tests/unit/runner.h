/*
 * The C unit tests' tiny runner: begin(name) ... CHECK(cond, fmt, ...) ...
 * end() per case; at most three failure lines per case; the caller prints
 * "N passed, N failed" last from `passed` and `failed`.
 */
#ifndef HD_TESTS_UNIT_RUNNER_H
#define HD_TESTS_UNIT_RUNNER_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;
static const char *case_name;
static int case_failed;

static void begin(const char *name)
{
    case_name = name;
    case_failed = 0;
}

static void end(void)
{
    if (case_failed > 3)
        printf("FAIL %s: ... %d failed checks in all\n", case_name, case_failed);
    if (case_failed)
        failed++;
    else
        passed++;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail(const char *fmt, ...)
{
    va_list ap;

    if (case_failed++ >= 3)
        return; /* enough lines for one case */
    printf("FAIL %s: ", case_name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

#define CHECK(cond, ...)       \
    do {                       \
        if (!(cond))           \
            fail(__VA_ARGS__); \
    } while (0)

#endif
