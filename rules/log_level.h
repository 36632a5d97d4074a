/*
 * log_level.h — the log settings the policy chooses and the engine's log
 * lines follow (engine/core/log.h): the four levels, the line format and
 * where lines go. Shared here so that neither side borrows them from the
 * other. Lines above the chosen level are dropped.
 */
#ifndef SWITCHYARD_LOG_LEVEL_H
#define SWITCHYARD_LOG_LEVEL_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* text: "TIME LEVEL message"; json: one JSON object a line. */
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* stderr, or the local syslog daemon's socket (/dev/log). */
enum log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG };

/* The names as the policy file spells them, indexed by value, NULL-terminated. */
extern const char *const log_level_names[];
extern const char *const log_format_names[];
extern const char *const log_target_names[];

#endif
