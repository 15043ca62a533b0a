/* log.h -- levelled logging to stderr.
 *
 * What it is for: one line per event, "HH:MM:SS.mmm LEVEL message", so that a
 * harness run's broker log can be read next to its packet trace. -v turns on
 * debug, which logs every packet in and out.
 *
 * What it is not: the ready line. That goes to stdout (see main.c), because it
 * is an interface for programs, not a message for people.
 */
#ifndef BROKER_LOG_H
#define BROKER_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_at(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_at(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
