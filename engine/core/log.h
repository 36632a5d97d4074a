/*
 * log.h — leveled logging to stderr, one line per event, each line starting
 * with a local timestamp and the level:
 *
 *     2026-11-25T01:55:28.123 info  flow 17 decided ...
 *
 * The level comes from the policy (log.level) and changes on reload. Whether
 * decided and closed flows are logged (log.flows) is the flow module's
 * business; it calls log_msg like everyone else.
 *
 * Not for per-packet events: anything that can fire once per datagram or per
 * read must be rate-limited by its caller.
 */
#ifndef SWITCHYARD_LOG_H
#define SWITCHYARD_LOG_H

#include "rules/log_level.h"

/* Lines above `level` are dropped. The default, before any policy, is info. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* True when a line at `level` would be written (to skip costly formatting). */
int log_enabled(enum log_level level);

/* Writes one line (no trailing newline needed) when `level` is enabled. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
