/*
 * cli_control.h — what `switchyard stats` and `switchyard flows` share: a
 * small HTTP client (libcurl) for the control API that the policy's
 * `control` section names (its address, or unix:PATH, and its secret), and
 * the way they print numbers.
 */
#ifndef SWITCHYARD_CLI_CONTROL_H
#define SWITCHYARD_CLI_CONTROL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rules/policy.h"

/*
 * GET `path` from the control API of policy `p`, with its secret as a Bearer
 * token. Returns the body (malloc'd, NUL-terminated; *len set when len is not
 * NULL), or NULL after printing "switchyard COMMAND: ..." (no control
 * section, the API cannot be reached, or it answers other than 200).
 */
char *cli_control_get(const char *command, const struct policy *p, const char *path, size_t *len);

/* As cli_control_get, the body read as JSON; NULL after printing why. */
json_t *cli_control_json(const char *command, const struct policy *p, const char *path);

/* The room a number written by cli_bytes or cli_duration needs. */
#define CLI_NUMBER_TEXT 32

/* `n` bytes as "512 B", "1.5 KiB", "3.0 MiB", ... into `out` (CLI_NUMBER_TEXT bytes). */
void cli_bytes(uint64_t n, char out[CLI_NUMBER_TEXT]);

/* `secs` as "42s", "3m07s", "2h05m" into `out` (CLI_NUMBER_TEXT bytes). */
void cli_duration(long long secs, char out[CLI_NUMBER_TEXT]);

/* A table of text cells printed in aligned columns; the first row is the header. */
#define CLI_TABLE_COLS_MAX 16
struct cli_table {
    size_t cols, rows;
    char **cells; /* rows * cols, each malloc'd (NULL when out of memory: printed as "?") */
};

/* Adds a row of t->cols cells (copied; NULL as empty); false when out of memory. */
bool cli_table_add(struct cli_table *t, const char *const *cells);

/* Prints the rows, each column as wide as its widest cell; bit i of `right` aligns column i right.
 */
void cli_table_print(const struct cli_table *t, FILE *out, unsigned right);

/* Frees the cells; the table is empty again. */
void cli_table_free(struct cli_table *t);

#endif
