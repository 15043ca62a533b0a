/* log.c -- levelled logging to stderr; see log.h. Wall-clock time, because
 * people compare it with other programs' logs.
 *
 * What it is not: a timer source. Protocol timing uses ev_now() (monotonic). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

static enum log_level current = LOG_INFO;

static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    current = level;
}

bool log_enabled(enum log_level level)
{
    return level <= current;
}

void log_at(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    char line[2048];
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %-5s ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000L, names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so that lines from a crashing run are never interleaved. */
    fprintf(stderr, "%s\n", line);
}
