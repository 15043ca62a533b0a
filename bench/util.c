/* util.c -- mqspec-bench's small helpers: the nanosecond clock that stamps
 * payloads, latency samples and their quantiles, /proc figures of the broker,
 * the open-file limit, the deadline-bounded loop runner and result lines.
 *
 * What it is not: statistics beyond order statistics. The figures are
 * quantiles of every sample, not estimates.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void samples_init(samples_t *s, size_t cap)
{
    s->v = calloc(cap ? cap : 1, sizeof *s->v);
    if (!s->v) {
        fprintf(stderr, "mqspec-bench: out of memory\n");
        exit(1);
    }
    s->n = 0;
    s->cap = cap;
}

void samples_add(samples_t *s, int64_t ns)
{
    if (s->n >= s->cap)
        return;
    int64_t us = ns < 0 ? 0 : ns / 1000;
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void samples_sort(samples_t *s)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_u32);
}

uint32_t samples_quantile(const samples_t *s, double q)
{
    if (s->n == 0)
        return 0;
    /* Nearest rank: the smallest sample with at least q of them at or below. */
    size_t rank = (size_t)(q * (double)s->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return s->v[rank - 1];
}

void samples_free(samples_t *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

long proc_status_kib(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, field, flen) && line[flen] == ':') {
            kib = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

long raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : (long)rl.rlim_cur;
}

bool run_until(bulk_pool *pool, const bool *done, int64_t deadline_ms)
{
    loop_t *loop = pool->loop;
    bulk_flush_all(pool);
    while (!*done) {
        int64_t left = deadline_ms - loop_now_ms();
        if (left <= 0)
            return false;
        if (loop_once(loop, left > 100 ? 100 : (int)left) < 0) {
            perror("mqspec-bench: poll");
            return false;
        }
        bulk_flush_all(pool);
    }
    return true;
}

void result_line(const char *label, const char *workload, const char *fmt, ...)
{
    printf("result broker=%s workload=%s ", label, workload);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}
