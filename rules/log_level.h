/*
 * log_level.h — the four log levels, shared by the policy (its log.level
 * setting) and the engine's log lines (engine/core/log.h), so that neither
 * borrows them from the other. Lines above the chosen level are dropped.
 */
#ifndef SWITCHYARD_LOG_LEVEL_H
#define SWITCHYARD_LOG_LEVEL_H

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* The levels as the policy file spells them, indexed by level, NULL-terminated. */
extern const char *const log_level_names[];

#endif
