/*
 * log.c — leveled, timestamped lines on stderr. See log.h.
 *
 * Each line is formatted into one buffer and written with one write(2), so
 * lines from a daemon never interleave mid-line even when stderr is a pipe
 * shared with other processes.
 */
#include "engine/core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_enabled(enum log_level level)
{
    return level <= current_level;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;

    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ld %-5s ", (long)(tv.tv_usec / 1000),
                          log_level_names[level]);

    va_list ap;
    va_start(ap, fmt);
    int body = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (body < 0)
        body = 0;
    n += (size_t)body;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* truncated: still end the line */
    line[n++] = '\n';

    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere to report a failed log write */
}
