/*
 * log_level.c — the names of the log levels. See log_level.h.
 */
#include "rules/log_level.h"

#include <stddef.h>

const char *const log_level_names[] = {
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARN] = "warn",    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_DEBUG + 1] = NULL,
};
