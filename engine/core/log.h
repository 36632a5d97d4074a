/*
 * log.h — leveled logging to stderr or syslog, one line per event. In the
 * text format (log.format: text) each line starts with a local timestamp
 * and the level:
 *
 *     2026-11-25T01:55:28.123 info  flow 17 decided ...
 *
 * In the json format each line is one JSON object, the time and level
 * first, then "message" for a plain line or the event's fields (log_json,
 * engine/core/log_event.h):
 *
 *     {"time":"2026-11-25T01:55:28.123+01:00","level":"info","message":"..."}
 *
 * With log.target: syslog, lines go to the local syslog daemon instead,
 * one datagram each on /dev/log, with the header syslog(3) writes (facility
 * daemon, the level as severity, tag "switchyard[PID]"), which carries the
 * time and level; a text line's body is the message alone. syslog(3) itself
 * is not used: it writes with a blocking send, and a busy daemon would stop
 * the loop. The datagrams go through the same queue as stderr's lines.
 *
 * Level, format and target come from the policy (log.*) and change on
 * reload. Whether decided and closed flows are logged (log.flows) is the
 * flow module's business; it calls log_event like the UDP sessions.
 *
 * Logging never blocks the event loop. stderr may be a pipe to a reader that
 * is slow or stopped (journald busy, `switchyard run | less` paused), and a
 * blocking write there would stall every flow. A line that cannot be written
 * at once waits in a bounded in-memory queue (LOG_QUEUE_BYTES), written out
 * by an ev_io watcher when stderr becomes writable (log_attach); a line that
 * does not fit in the queue is dropped and counted, and once writing resumes
 * one line says "N log lines dropped".
 *
 * How a write is made non-blocking without changing stderr for others:
 * O_NONBLOCK belongs to the open file description, which stderr shares with
 * the parent shell and any other process started with it, so neither
 * fcntl(2, F_SETFL) nor a dup'd descriptor may set it. Instead:
 *   - a socket (journald's stream) is written with send(MSG_DONTWAIT), a
 *     per-call flag;
 *   - a pipe, FIFO or terminal is opened again through /proc/self/fd/2,
 *     which makes a new open file description of the same pipe or terminal,
 *     and that private description gets O_NONBLOCK;
 *   - anything else (a regular file, or when the reopen fails) is written
 *     only when poll(2) with a zero timeout says it is writable, in chunks of
 *     whole lines of at most PIPE_BUF bytes, which a pipe with room takes
 *     without blocking. Regular files always poll writable; a disk write
 *     does not wait on another process.
 * Workers (engine/core/workers.h) log from their own threads: one mutex
 * keeps the queue and the output whole, a line is written from the thread
 * that logs it when the output takes it at once, and whatever must wait
 * for the loop (the writable watcher, the tap below) is handed to the
 * loop log_attach() was given, through an ev_async.
 *
 * Per-packet and per-connection events (anything a client can repeat at
 * will) use the rate-limited forms, log_warn_limited and friends: each call
 * site writes at most LOG_RATELIMIT_BURST lines per LOG_RATELIMIT_INTERVAL_S,
 * then one "suppressed M similar messages" line when it next writes.
 *
 * Whatever a client sent goes through log_escape() before it reaches a line.
 */
#ifndef SWITCHYARD_LOG_H
#define SWITCHYARD_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/log_level.h"

struct ev_loop;
struct json_t;

/* Bytes of log lines held while stderr is not writable. */
#define LOG_QUEUE_BYTES (64 * 1024)

/* Lines of other threads waiting for the tap on the loop's thread. */
#define LOG_TAP_PENDING 1024

/* The local syslog daemon's socket. */
#define LOG_SYSLOG_PATH "/dev/log"

/*
 * A reader of every line written (the control API's /logs streams): called
 * with each whole line as stderr has it (text: timestamp to newline; json:
 * the object and a newline), whatever the target, right after it is
 * formatted, whether or not the output could take it. It must not log.
 * NULL removes it. It runs on the thread of the loop log_attach() was
 * given: a line logged on another thread reaches it from that loop, soon
 * after (at most LOG_TAP_PENDING lines wait; more are not shown to it).
 */
typedef void (*log_tap_fn)(void *arg, enum log_level level, const char *line, size_t len);
void log_set_tap(log_tap_fn tap, void *arg);

/* Lines above `level` are dropped. The default, before any policy, is info. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* True when a line at `level` would be written (to skip costly formatting). */
int log_enabled(enum log_level level);

/* Lines from now on are text (the default) or JSON objects. */
void log_set_format(enum log_format format);
enum log_format log_get_format(void);

/* Writes one line (no trailing newline needed) when `level` is enabled. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Writes `fields` (a JSON object; its reference is taken) as one line of
 * JSON, "time" and "level" put first. For the json format only; the caller
 * checks that `level` is enabled.
 */
void log_json(enum log_level level, struct json_t *fields);

/* Room for log_escape() of a 255-byte name with every byte escaped. */
#define LOG_ESCAPE_MAX (4 * 256 + 4)

/*
 * Text a client sent (a host name, a username, a request line) as it may
 * appear in a line: printable ASCII as is, the backslash and every other
 * byte as \xNN, so it can neither end the line nor forge another. Cut with
 * "..." when `buf` (`cap` bytes, at least 4) is too small. Returns `buf`.
 */
const char *log_escape(const char *in, char *buf, size_t cap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * Sends log lines to `fd` from now on (stderr, STDERR_FILENO, is chosen on
 * first use without a call). Lines still queued for the previous descriptor
 * are dropped.
 */
void log_open(int fd);

/*
 * Sends log lines to the syslog daemon listening on the datagram socket at
 * `path` (LOG_SYSLOG_PATH) from now on, a datagram a line, connecting again
 * when the daemon restarts. Returns 0, or -1 with errno when it cannot be
 * reached, the output then unchanged. Lines still queued are dropped.
 */
int log_open_syslog(const char *path);

/*
 * Sends lines to stderr or syslog (log_open_syslog(LOG_SYSLOG_PATH)); no
 * change when they go there already. Returns 0, or -1 with errno when
 * syslog cannot be reached (lines keep going where they went).
 */
int log_set_target(enum log_target target);

/*
 * Writes queued lines from `loop` when the output becomes writable. Without
 * a loop, queued lines are written when the next line is logged.
 */
void log_attach(struct ev_loop *loop);

/*
 * Stops writing from the loop; first waits up to `wait_ms` for the queue to
 * be written out (lines still queued then are lost).
 */
void log_detach(unsigned wait_ms);

/* Bytes waiting in the queue and lines dropped since the last notice. */
struct log_queue_stats {
    unsigned queued_bytes;
    unsigned long long dropped;
};
void log_queue_stats(struct log_queue_stats *out);

/* --- rate limiting ------------------------------------------------------------ */

#define LOG_RATELIMIT_BURST 10
#define LOG_RATELIMIT_INTERVAL_S 5.0

/* One call site's state; zero-initialised. */
struct log_ratelimit {
    double start; /* start of the current interval, seconds (monotonic) */
    unsigned printed;
    unsigned suppressed;
};

/*
 * Decides, at time `now_s` (monotonic seconds), whether one more line of
 * the call site may be written: at most LOG_RATELIMIT_BURST per interval of
 * LOG_RATELIMIT_INTERVAL_S. Returns true when it may, and sets *suppressed
 * to the lines held back before it (to be reported first, then forgotten).
 */
bool log_ratelimit_allow(struct log_ratelimit *rl, double now_s, unsigned *suppressed);

/* log_msg through `rl`: writes the line, or counts it as suppressed. Any thread may call it
 * with the same `rl`. */
void log_ratelimited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Rate-limited log lines, with a limiter of their own per call site (shared by every worker:
 * log_ratelimited reads and writes it under the log's lock). */
#define log_limited(level, ...)                                                                    \
    do {                                                                                           \
        static struct log_ratelimit log_site_rl_;                                                  \
        log_ratelimited(&log_site_rl_, level, __VA_ARGS__);                                        \
    } while (0)
#define log_error_limited(...) log_limited(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn_limited(...) log_limited(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info_limited(...) log_limited(LOG_LEVEL_INFO, __VA_ARGS__)

#endif
