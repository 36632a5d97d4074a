/*
 * regex_literal.h — a prefilter for many regexes over short host names: the
 * literal text that every match of a regex must contain, and an index of
 * such literals by their three-character pieces, so that only the regexes
 * whose literal occurs in a host name are run at all.
 *
 * Real domain lists carry a hundred and more regexes (v2fly's categories:
 * 163), nearly all of them with a fixed part ("91porn", ".awsdns-",
 * "googlevideo.com"). Matching them all, even as one JIT-compiled
 * alternation, costs microseconds a name; most names contain none of
 * those parts.
 */
#ifndef SWITCHYARD_REGEX_LITERAL_H
#define SWITCHYARD_REGEX_LITERAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes into `out` (lowercase, NUL-terminated) a run of characters that
 * every match of the PCRE2 `pattern` contains, one after the other: of
 * several, the longest, except that a dot and one label (".com") comes
 * after any other run long enough for the index, since most names have
 * one. Returns its length; 0 when the pattern has none that can be
 * proven (a top-level |, inline options, verbs, escapes it does not know:
 * it errs towards none, never towards a wrong one).
 */
size_t regex_literal(const char *pattern, char *out, size_t out_len);

/* Literals of at least this length can be indexed. */
#define REGEX_LITERAL_MIN 3

struct literal_index;

struct literal_index *literal_index_new(void);
void literal_index_free(struct literal_index *index);

/* Adds `literal` (REGEX_LITERAL_MIN characters or more) for `id`; -1 when out of memory. */
int literal_index_add(struct literal_index *index, const char *literal, uint32_t id);

/* Sorts the index; call once after the last add. */
void literal_index_freeze(struct literal_index *index);

/*
 * Calls `fn` for the ids whose literal occurs in `text` (case-insensitive)
 * until it returns true; returns whether one did. An id can be offered
 * more than once when its piece occurs more than once.
 */
bool literal_index_scan(const struct literal_index *index, const char *text,
                        bool (*fn)(uint32_t id, void *ctx), void *ctx);

#endif
