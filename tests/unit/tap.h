/* tap.h -- a tiny Test Anything Protocol (version 13) producer for unit tests.
 *
 * What it is for: `ok(cond, "what")`, `is_int(got, want, "what")`,
 * `is_str(got, want, "what")`, `is_bytes(got, glen, want, wlen, "what")` (a
 * hex dump of both sides and the first differing offset on failure),
 * `diag(...)`, and `done_testing()`, which prints the "1..N" plan and returns
 * the exit status for main. Header-only so any tests/unit/t-*.c can include it.
 *
 * What it is not: a test runner. prove runs the binaries; there is no
 * fixture, skip or todo machinery here.
 */
#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static int tap_count_, tap_failed_, tap_started_;

static inline void tap_start_(void)
{
    if (!tap_started_) {
        printf("TAP version 13\n");
        tap_started_ = 1;
    }
}

static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputs("\n", stdout);
    va_end(ap);
}

static inline int tap_vok_(int pass, const char *file, int line, const char *fmt, va_list ap)
{
    tap_start_();
    tap_count_++;
    printf("%sok %d - ", pass ? "" : "not ", tap_count_);
    vprintf(fmt, ap);
    printf("\n");
    if (!pass) {
        tap_failed_++;
        printf("#   Failed test at %s line %d.\n", file, line);
    }
    fflush(stdout);
    return pass;
}

static inline int tap_ok_(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = tap_vok_(pass, file, line, fmt, ap);
    va_end(ap);
    return r;
}

static inline int tap_is_int_(long long got, long long want, const char *file, int line,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = tap_vok_(got == want, file, line, fmt, ap);
    va_end(ap);
    if (!r)
        printf("#          got: %lld (0x%llx)\n#     expected: %lld (0x%llx)\n", got,
               (unsigned long long)got, want, (unsigned long long)want);
    return r;
}

static inline int tap_is_str_(const char *got, const char *want, const char *file, int line,
                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int same = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
    int r = tap_vok_(same, file, line, fmt, ap);
    va_end(ap);
    if (!r)
        printf("#          got: %s%s%s\n#     expected: %s%s%s\n", got ? "'" : "",
               got ? got : "NULL", got ? "'" : "", want ? "'" : "", want ? want : "NULL",
               want ? "'" : "");
    return r;
}

static inline void tap_hex_(const char *label, const unsigned char *p, size_t n, size_t mark)
{
    printf("#   %s (%zu bytes):", label, n);
    for (size_t i = 0; i < n; i++)
        printf("%s%s%02x", i % 16 ? "" : "\n#     ", i == mark ? ">" : " ", p[i]);
    printf("\n");
}

static inline int tap_is_bytes_(const void *got, size_t glen, const void *want, size_t wlen,
                                const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int same = glen == wlen && (glen == 0 || memcmp(got, want, glen) == 0);
    int r = tap_vok_(same, file, line, fmt, ap);
    va_end(ap);
    if (!r) {
        const unsigned char *g = got, *w = want;
        size_t at = 0;
        while (at < glen && at < wlen && g[at] == w[at])
            at++;
        printf("#   first difference at offset %zu (marked >)\n", at);
        tap_hex_("got", g, glen, at);
        tap_hex_("expected", w, wlen, at);
    }
    return r;
}

#define ok(cond, ...) tap_ok_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
    tap_is_int_((long long)(got), (long long)(want), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) tap_is_str_((got), (want), __FILE__, __LINE__, __VA_ARGS__)
#define is_bytes(got, glen, want, wlen, ...) \
    tap_is_bytes_((got), (glen), (want), (wlen), __FILE__, __LINE__, __VA_ARGS__)

/* Prints the plan; returns main's exit status. */
static inline int done_testing(void)
{
    tap_start_();
    printf("1..%d\n", tap_count_);
    if (tap_failed_)
        printf("# Looks like you failed %d test%s of %d.\n", tap_failed_,
               tap_failed_ == 1 ? "" : "s", tap_count_);
    return tap_failed_ ? 1 : 0;
}

#endif
