/*
 * log.c — leveled, timestamped lines on stderr or to syslog that never
 * block the loop. See log.h for how a write is kept non-blocking.
 *
 * Each line is formatted whole (its frame, then its body: text, or one JSON
 * object made with jansson) and goes out with as few writes as the output
 * takes, in order, so lines never interleave mid-line with this process's
 * own lines. Lines wait in one bounded byte queue while the output is not
 * writable; for syslog each queued line is one datagram.
 *
 * Every thread logs: `lock` (recursive: a flush may log the drop notice)
 * guards the output and the queue; the watcher and the tap belong to the
 * attached loop's thread, which the other threads wake through `wake`.
 */
#include "engine/core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#define LINE_MAX_BYTES 2048
/* "<PRI>Mmm dd hh:mm:ss switchyard[PID]: " */
#define FRAME_MAX_BYTES 64

enum out_kind {
    OUT_UNSET,
    OUT_SOCKET,  /* send(MSG_DONTWAIT) on the shared descriptor */
    OUT_PRIVATE, /* our own O_NONBLOCK open file description */
    OUT_POLLED,  /* the shared blocking descriptor, written when poll says so */
    OUT_SYSLOG,  /* our datagram socket to the syslog daemon, a line a datagram */
};

static _Atomic int current_level = LOG_LEVEL_INFO;
static _Atomic int current_format = LOG_FORMAT_TEXT;

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

/* A line of another thread waiting for the tap. */
struct tap_line {
    enum log_level level;
    size_t len;
    struct tap_line *next;
    char text[];
};

static struct {
    enum out_kind kind;
    int fd;                         /* where lines go */
    int private_fd;                 /* OUT_PRIVATE, OUT_SYSLOG: the descriptor we own, else -1 */
    struct sockaddr_un syslog_addr; /* OUT_SYSLOG: where to connect again */
    char queue[LOG_QUEUE_BYTES];
    size_t start, len; /* queued bytes: queue[start .. start + len) */
    unsigned long long dropped;
    struct ev_loop *loop;
    pthread_t loop_thread; /* the thread that runs `loop` */
    ev_io writable;
    ev_async wake;                         /* another thread queued lines or tap lines */
    struct tap_line *tap_head, **tap_tail; /* other threads' lines for the tap, oldest first */
    unsigned tap_count;
} out = {.kind = OUT_UNSET, .fd = -1, .private_fd = -1, .tap_tail = &out.tap_head};

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return (enum log_level)current_level;
}

int log_enabled(enum log_level level)
{
    return (int)level <= current_level;
}

void log_set_format(enum log_format format)
{
    current_format = format;
}

enum log_format log_get_format(void)
{
    return (enum log_format)current_format;
}

/* --- the output ---------------------------------------------------------------- */

/* True on the attached loop's thread (or before any loop is attached). */
static bool on_loop_thread(void)
{
    return !out.loop || pthread_equal(pthread_self(), out.loop_thread);
}

static void watch(bool on)
{
    if (!out.loop)
        return;
    if (!on_loop_thread()) {
        if (on)
            ev_async_send(out.loop, &out.wake); /* the loop's thread starts the watcher */
        return;
    }
    if (on && !ev_is_active(&out.writable)) {
        ev_io_set(&out.writable, out.fd, EV_WRITE);
        ev_io_start(out.loop, &out.writable);
    } else if (!on && ev_is_active(&out.writable)) {
        ev_io_stop(out.loop, &out.writable);
    }
}

/* Forgets the current output: its watcher, the descriptor we own, queued lines. */
static void out_reset(void)
{
    watch(false);
    if (out.private_fd >= 0)
        close(out.private_fd);
    out.private_fd = -1;
    out.start = out.len = 0;
}

static void open_fd(int fd)
{
    out_reset();
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

void log_open(int fd)
{
    pthread_mutex_lock(&lock);
    open_fd(fd);
    pthread_mutex_unlock(&lock);
}

/* A non-blocking datagram socket connected to `addr`, or -1 with errno. */
static int syslog_connect(const struct sockaddr_un *addr)
{
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    if (connect(s, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        int err = errno;
        close(s);
        errno = err;
        return -1;
    }
    return s;
}

int log_open_syslog(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    int s = syslog_connect(&addr);
    if (s < 0)
        return -1;
    pthread_mutex_lock(&lock);
    out_reset();
    out.syslog_addr = addr;
    out.fd = out.private_fd = s;
    out.kind = OUT_SYSLOG;
    pthread_mutex_unlock(&lock);
    return 0;
}

int log_set_target(enum log_target target)
{
    bool syslog_now = out.kind == OUT_SYSLOG;
    if (target == LOG_TARGET_SYSLOG && !syslog_now)
        return log_open_syslog(LOG_SYSLOG_PATH);
    if (target == LOG_TARGET_STDERR && syslog_now)
        log_open(STDERR_FILENO);
    return 0;
}

/*
 * The syslog daemon restarted (its socket is a new one): connects again,
 * once per call. The watcher is stopped first, as the descriptor changes.
 */
static bool syslog_reconnect(void)
{
    int s = syslog_connect(&out.syslog_addr);
    if (s < 0)
        return false;
    watch(false);
    close(out.private_fd);
    out.fd = out.private_fd = s;
    return true;
}

/* Sends the first line of `buf` as one datagram: the bytes it took, newline included. */
static ssize_t syslog_write(const char *buf, size_t len)
{
    const char *nl = memchr(buf, '\n', len);
    size_t n = nl ? (size_t)(nl - buf) : len;
    ssize_t w = send(out.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && (errno == ECONNREFUSED || errno == ENOTCONN) && syslog_reconnect())
        w = send(out.fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0)
        return -1;
    return (ssize_t)(nl ? n + 1 : n);
}

/* Writes up to `len` bytes without blocking: the bytes taken, or -1 with errno. */
static ssize_t out_write(const char *buf, size_t len)
{
    switch (out.kind) {
    case OUT_SOCKET:
        return send(out.fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    case OUT_SYSLOG:
        return syslog_write(buf, len);
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

/* Queues one whole line, `frame` then `body` and a newline, or nothing. */
static bool queue_append(const char *frame, size_t fn, const char *body, size_t bn)
{
    size_t n = fn + bn + 1;
    if (out.len + n > sizeof(out.queue))
        return false;
    if (out.start + out.len + n > sizeof(out.queue)) {
        memmove(out.queue, out.queue + out.start, out.len);
        out.start = 0;
    }
    char *at = out.queue + out.start + out.len;
    memcpy(at, frame, fn);
    memcpy(at + fn, body, bn);
    at[fn + bn] = '\n';
    out.len += n;
    return true;
}

static bool put_message(enum log_level level, const char *msg, size_t n);

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
        /* The line that says lines were lost, at warn whatever the level. */
        char line[64];
        int n = snprintf(line, sizeof(line), "%llu log lines dropped", out.dropped);
        out.dropped = 0;
        put_message(LOG_LEVEL_WARN, line, (size_t)n);
    }
    if (out.len == 0)
        out.start = 0;
    watch(out.len > 0);
}

/* flush() from the loop's callbacks, which do not hold the lock. */
static void flush_locked(void)
{
    pthread_mutex_lock(&lock);
    flush();
    pthread_mutex_unlock(&lock);
}

static void writable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    flush_locked();
}

static log_tap_fn tap_fn;
static void *tap_arg;

/* Shows the tap the lines other threads left for it, outside the lock (the tap may be slow). */
static void tap_deliver(void)
{
    pthread_mutex_lock(&lock);
    struct tap_line *l = out.tap_head;
    out.tap_head = NULL;
    out.tap_tail = &out.tap_head;
    out.tap_count = 0;
    log_tap_fn fn = tap_fn;
    void *arg = tap_arg;
    pthread_mutex_unlock(&lock);
    while (l) {
        struct tap_line *next = l->next;
        if (fn)
            fn(arg, l->level, l->text, l->len);
        free(l);
        l = next;
    }
}

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    flush_locked();
    tap_deliver();
}

void log_attach(struct ev_loop *loop)
{
    pthread_mutex_lock(&lock);
    if (out.kind == OUT_UNSET)
        open_fd(STDERR_FILENO);
    watch(false);
    out.loop = loop;
    out.loop_thread = pthread_self();
    ev_init(&out.writable, writable_cb);
    ev_async_init(&out.wake, wake_cb);
    ev_async_start(loop, &out.wake);
    ev_unref(loop); /* the logger never keeps the loop running */
    flush();
    pthread_mutex_unlock(&lock);
}

void log_detach(unsigned wait_ms)
{
    tap_deliver();
    pthread_mutex_lock(&lock);
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
    if (out.loop) {
        ev_ref(out.loop);
        ev_async_stop(out.loop, &out.wake);
    }
    out.loop = NULL;
    pthread_mutex_unlock(&lock);
}

void log_queue_stats(struct log_queue_stats *s)
{
    pthread_mutex_lock(&lock);
    s->queued_bytes = (unsigned)out.len;
    s->dropped = out.dropped;
    pthread_mutex_unlock(&lock);
}

/* --- lines --------------------------------------------------------------------- */

/* The local time now, "2026-11-25T01:55:28.123", with "+01:00" after it when `zone`. */
static void format_time(char buf[40], bool zone)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, 40 - n, ".%03ld", (long)(tv.tv_usec / 1000));
    if (zone && strftime(buf + n, 40 - n, "%z", &tm) == 5) {
        memmove(buf + n + 4, buf + n + 3, 3); /* +0100 -> +01:00 */
        buf[n + 3] = ':';
    }
}

/*
 * What goes before a line's body: for syslog the header the local daemon
 * reads (RFC 3164 as syslog(3) writes it: priority, facility daemon, time,
 * tag and pid), which carries time and severity; for text on stderr the
 * time and level; nothing for JSON on stderr (the object has both).
 */
static size_t format_frame(char frame[FRAME_MAX_BYTES], enum log_level level, bool syslog)
{
    static const int severity[] = {[LOG_LEVEL_ERROR] = LOG_ERR,
                                   [LOG_LEVEL_WARN] = LOG_WARNING,
                                   [LOG_LEVEL_INFO] = LOG_INFO,
                                   [LOG_LEVEL_DEBUG] = LOG_DEBUG};
    if (syslog) {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        return (size_t)snprintf(frame, FRAME_MAX_BYTES,
                                "<%d>%s switchyard[%ld]: ", LOG_DAEMON | severity[level], stamp,
                                (long)getpid());
    }
    if (current_format == LOG_FORMAT_JSON)
        return 0;
    char stamp[40];
    format_time(stamp, false);
    return (size_t)snprintf(frame, FRAME_MAX_BYTES, "%s %-5s ", stamp, log_level_names[level]);
}

void log_set_tap(log_tap_fn tap, void *arg)
{
    pthread_mutex_lock(&lock);
    tap_fn = tap;
    tap_arg = arg;
    pthread_mutex_unlock(&lock);
}

/* Keeps a line of another thread for the tap and wakes the loop; past the bound it is not kept. */
static void tap_hand_over(enum log_level level, const char *line, size_t len)
{
    if (out.tap_count >= LOG_TAP_PENDING)
        return;
    struct tap_line *l = malloc(sizeof(*l) + len);
    if (!l)
        return;
    l->level = level;
    l->len = len;
    l->next = NULL;
    memcpy(l->text, line, len);
    *out.tap_tail = l;
    out.tap_tail = &l->next;
    out.tap_count++;
    ev_async_send(out.loop, &out.wake);
}

/* Shows the tap the line as stderr would have it, whatever the target. */
static void tap_line(enum log_level level, const char *frame, size_t fn, const char *body, size_t n)
{
    char stderr_frame[FRAME_MAX_BYTES];
    if (out.kind == OUT_SYSLOG) {
        fn = format_frame(stderr_frame, level, false);
        frame = stderr_frame;
    }
    char *line = malloc(fn + n + 1);
    if (!line)
        return;
    memcpy(line, frame, fn);
    memcpy(line + fn, body, n);
    line[fn + n] = '\n';
    if (on_loop_thread())
        tap_fn(tap_arg, level, line, fn + n + 1);
    else
        tap_hand_over(level, line, fn + n + 1);
    free(line);
}

/* Queues one line, its frame and `body`; false when the queue cannot take it. */
static bool put_line(enum log_level level, const char *body, size_t n)
{
    char frame[FRAME_MAX_BYTES];
    size_t fn = format_frame(frame, level, out.kind == OUT_SYSLOG);
    if (tap_fn)
        tap_line(level, frame, fn, body, n);
    return queue_append(frame, fn, body, n);
}

/* `fields` with the time and level first, as one line of JSON text (malloc'd), or NULL. */
static char *json_line(enum log_level level, json_t *fields)
{
    char stamp[40];
    format_time(stamp, true);
    json_t *o = json_pack("{s:s, s:s}", "time", stamp, "level", log_level_names[level]);
    char *text = NULL;
    if (o && fields && json_object_update(o, fields) == 0)
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(o);
    json_decref(fields);
    return text;
}

/* A JSON string of `text`, or of its log_escape() when it is no UTF-8. */
static json_t *json_text(const char *text)
{
    json_t *j = json_string(text);
    if (!j) {
        char esc[4 * LINE_MAX_BYTES];
        j = json_string(log_escape(text, esc, sizeof(esc)));
    }
    return j;
}

/* Queues a message line in the current format; false when it is lost. */
static bool put_message(enum log_level level, const char *msg, size_t n)
{
    if (current_format == LOG_FORMAT_TEXT)
        return put_line(level, msg, n);
    char *text = json_line(level, json_pack("{s:o}", "message", json_text(msg)));
    bool ok = text && put_line(level, text, strlen(text));
    free(text);
    return ok;
}

/* Adds one line: what waits goes first, then this one (counted when lost). */
static void log_body(enum log_level level, const char *body, bool message)
{
    pthread_mutex_lock(&lock);
    if (out.kind == OUT_UNSET)
        open_fd(STDERR_FILENO);
    if (out.len > 0)
        flush();
    bool ok =
        message ? put_message(level, body, strlen(body)) : put_line(level, body, strlen(body));
    if (!ok)
        out.dropped++;
    else
        flush();
    pthread_mutex_unlock(&lock);
}

void log_json(enum log_level level, json_t *fields)
{
    char *text = json_line(level, fields);
    if (!text) {
        pthread_mutex_lock(&lock);
        out.dropped++; /* out of memory */
        pthread_mutex_unlock(&lock);
        return;
    }
    log_body(level, text, false);
    free(text);
}

static void log_line(enum log_level level, const char *fmt, va_list ap)
{
    char msg[LINE_MAX_BYTES];
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        msg[0] = '\0'; /* a longer one is cut: still a line */
    log_body(level, msg, true);
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
    pthread_mutex_lock(&lock);
    bool allowed = log_ratelimit_allow(rl, (double)now.tv_sec + now.tv_nsec / 1e9, &suppressed);
    pthread_mutex_unlock(&lock);
    if (!allowed)
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
