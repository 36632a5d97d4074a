/*
 * log.c — leveled, timestamped lines on stderr that never block the loop.
 * See log.h for how a write is kept non-blocking.
 *
 * Each line is formatted into one buffer and goes out with as few writes as
 * the output takes, in order, so lines never interleave mid-line with this
 * process's own lines. Lines wait in one bounded byte queue while the output
 * is not writable.
 */
#include "engine/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#define LINE_MAX_BYTES 2048

enum out_kind {
    OUT_UNSET,
    OUT_SOCKET,  /* send(MSG_DONTWAIT) on the shared descriptor */
    OUT_PRIVATE, /* our own O_NONBLOCK open file description */
    OUT_POLLED,  /* the shared blocking descriptor, written when poll says so */
};

static enum log_level current_level = LOG_LEVEL_INFO;

static struct {
    enum out_kind kind;
    int fd;         /* where lines go */
    int private_fd; /* OUT_PRIVATE: the reopened descriptor we own, else -1 */
    char queue[LOG_QUEUE_BYTES];
    size_t start, len; /* queued bytes: queue[start .. start + len) */
    unsigned long long dropped;
    struct ev_loop *loop;
    ev_io writable;
} out = {.kind = OUT_UNSET, .fd = -1, .private_fd = -1};

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

/* --- the output ---------------------------------------------------------------- */

static void watch(bool on)
{
    if (!out.loop)
        return;
    if (on && !ev_is_active(&out.writable)) {
        ev_io_set(&out.writable, out.fd, EV_WRITE);
        ev_io_start(out.loop, &out.writable);
    } else if (!on && ev_is_active(&out.writable)) {
        ev_io_stop(out.loop, &out.writable);
    }
}

void log_open(int fd)
{
    watch(false);
    if (out.private_fd >= 0)
        close(out.private_fd);
    out.private_fd = -1;
    out.start = out.len = 0;
    out.fd = fd;
    out.kind = OUT_POLLED;

    struct stat st;
    if (fstat(fd, &st) < 0)
        return;
    if (S_ISSOCK(st.st_mode)) {
        out.kind = OUT_SOCKET;
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int own = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (own >= 0) {
            out.private_fd = own;
            out.fd = own;
            out.kind = OUT_PRIVATE;
        }
    }
}

/* Writes up to `len` bytes without blocking: the bytes taken, or -1 with errno. */
static ssize_t out_write(const char *buf, size_t len)
{
    switch (out.kind) {
    case OUT_SOCKET:
        return send(out.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    case OUT_PRIVATE:
        return write(out.fd, buf, len);
    default: {
        struct pollfd p = {out.fd, POLLOUT, 0};
        int r = poll(&p, 1, 0);
        if (r < 0)
            return -1;
        if (r == 0 || !(p.revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))) {
            errno = EAGAIN;
            return -1;
        }
        /* Whole lines of at most PIPE_BUF bytes: a pipe with room takes them whole. */
        if (len > PIPE_BUF) {
            size_t cut = PIPE_BUF;
            while (cut > 0 && buf[cut - 1] != '\n')
                cut--;
            len = cut ? cut : PIPE_BUF;
        }
        return write(out.fd, buf, len);
    }
    }
}

static bool queue_append(const char *line, size_t n)
{
    if (out.len + n > sizeof(out.queue))
        return false;
    if (out.start + out.len + n > sizeof(out.queue)) {
        memmove(out.queue, out.queue + out.start, out.len);
        out.start = 0;
    }
    memcpy(out.queue + out.start + out.len, line, n);
    out.len += n;
    return true;
}

static size_t format_notice(char line[LINE_MAX_BYTES], const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes out what the output takes now; reports drops once the queue is empty. */
static void flush(void)
{
    for (int notice = 0; notice < 2; notice++) {
        while (out.len > 0) {
            ssize_t w = out_write(out.queue + out.start, out.len);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (w <= 0) {
                /* The output is gone (closed reader, bad descriptor): nowhere to say so. */
                out.start = out.len = 0;
                out.dropped = 0;
                break;
            }
            out.start += (size_t)w;
            out.len -= (size_t)w;
        }
        if (out.len > 0 || !out.dropped)
            break;
        char line[LINE_MAX_BYTES];
        size_t n = format_notice(line, "%llu log lines dropped", out.dropped);
        out.dropped = 0;
        queue_append(line, n);
    }
    if (out.len == 0)
        out.start = 0;
    watch(out.len > 0);
}

static void writable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    flush();
}

void log_attach(struct ev_loop *loop)
{
    if (out.kind == OUT_UNSET)
        log_open(STDERR_FILENO);
    watch(false);
    out.loop = loop;
    ev_init(&out.writable, writable_cb);
    flush();
}

void log_detach(unsigned wait_ms)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        flush();
        if (out.len == 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (spent >= (long)wait_ms)
            break;
        struct pollfd p = {out.fd, POLLOUT, 0};
        poll(&p, 1, (int)((long)wait_ms - spent));
    }
    watch(false);
    out.loop = NULL;
}

void log_queue_stats(struct log_queue_stats *s)
{
    s->queued_bytes = (unsigned)out.len;
    s->dropped = out.dropped;
}

/* --- lines --------------------------------------------------------------------- */

/* Formats one whole line, timestamp to newline, into `line`; returns its length. */
static size_t format_line(char line[LINE_MAX_BYTES], enum log_level level, const char *fmt,
                          va_list ap)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(line, LINE_MAX_BYTES, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, LINE_MAX_BYTES - n, ".%03ld %-5s ", (long)(tv.tv_usec / 1000),
                          log_level_names[level]);

    int body = vsnprintf(line + n, LINE_MAX_BYTES - n - 1, fmt, ap);
    if (body < 0)
        body = 0;
    n += (size_t)body;
    if (n > LINE_MAX_BYTES - 2)
        n = LINE_MAX_BYTES - 2; /* truncated: still end the line */
    line[n++] = '\n';
    return n;
}

/* The line that says lines were lost, at warn whatever the level. */
static size_t format_notice(char line[LINE_MAX_BYTES], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = format_line(line, LOG_LEVEL_WARN, fmt, ap);
    va_end(ap);
    return n;
}

static log_tap_fn tap_fn;
static void *tap_arg;

void log_set_tap(log_tap_fn tap, void *arg)
{
    tap_fn = tap;
    tap_arg = arg;
}

static void log_line(enum log_level level, const char *fmt, va_list ap)
{
    char line[LINE_MAX_BYTES];
    size_t n = format_line(line, level, fmt, ap);
    if (tap_fn)
        tap_fn(tap_arg, level, line, n);
    if (out.kind == OUT_UNSET)
        log_open(STDERR_FILENO);
    if (out.len > 0)
        flush();
    if (!queue_append(line, n)) {
        out.dropped++;
        return;
    }
    flush();
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, fmt, ap);
    va_end(ap);
}

/* --- rate limiting ------------------------------------------------------------- */

bool log_ratelimit_allow(struct log_ratelimit *rl, double now_s, unsigned *suppressed)
{
    *suppressed = 0;
    if (rl->printed == 0 || now_s - rl->start >= LOG_RATELIMIT_INTERVAL_S) {
        *suppressed = rl->suppressed;
        rl->start = now_s;
        rl->printed = 0;
        rl->suppressed = 0;
    }
    if (rl->printed >= LOG_RATELIMIT_BURST) {
        rl->suppressed++;
        return false;
    }
    rl->printed++;
    return true;
}

void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    unsigned suppressed;
    if (!log_ratelimit_allow(rl, (double)now.tv_sec + now.tv_nsec / 1e9, &suppressed))
        return;
    if (suppressed)
        log_msg(level, "suppressed %u similar messages", suppressed);
    va_list ap;
    va_start(ap, fmt);
    log_line(level, fmt, ap);
    va_end(ap);
}

const char *log_escape(const char *in, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (; *in; in++) {
        unsigned char c = (unsigned char)*in;
        bool plain = c >= 0x20 && c < 0x7f && c != '\\';
        size_t need = plain ? 1 : 4;
        if (n + need + 1 > cap - 3) { /* keep room for "..." */
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        if (plain) {
            buf[n++] = (char)c;
        } else {
            buf[n++] = '\\';
            buf[n++] = 'x';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 15];
        }
    }
    buf[n] = '\0';
    return buf;
}
