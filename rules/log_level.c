/*
 * log_level.c — the names of the log settings. See log_level.h.
 */
#include "rules/log_level.h"

#include <stddef.h>

const char *const log_level_names[] = {
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARN] = "warn",    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_DEBUG + 1] = NULL,
};

const char *const log_format_names[] = {
    [LOG_FORMAT_TEXT] = "text",
    [LOG_FORMAT_JSON] = "json",
    [LOG_FORMAT_JSON + 1] = NULL,
};

const char *const log_target_names[] = {
    [LOG_TARGET_STDERR] = "stderr",
    [LOG_TARGET_SYSLOG] = "syslog",
    [LOG_TARGET_SYSLOG + 1] = NULL,
};
