/*
 * lru_table.h — a bounded table of fixed-size keys, each with a value of a
 * fixed size, that pushes out the least recently touched entry when full.
 *
 * What the engine remembers per address (failed logins per source, silent
 * destinations per client) must stay bounded whatever the clients send: at
 * most `cap` entries, and a new key takes the place of the one touched
 * longest ago. Keys are compared as bytes, so the caller zeroes their padding
 * (flow_addr_key does). Not thread-safe; the engine's loop owns it.
 */
#ifndef SWITCHYARD_LRU_TABLE_H
#define SWITCHYARD_LRU_TABLE_H

#include <stddef.h>

struct lru_table;

/* An empty table of at most `cap` entries (0 counts as 1) of `key_len`-byte keys and
 * `value_len`-byte values; NULL when out of memory. */
struct lru_table *lru_table_new(size_t cap, size_t key_len, size_t value_len);
void lru_table_free(struct lru_table *t); /* NULL allowed */

/* The value stored under `key`, or NULL. Looking does not count as a touch. */
void *lru_table_find(struct lru_table *t, const void *key);

/* The value under `key`, now the most recently touched; a new key gets a zeroed value and,
 * when the table is full, the place of the least recently touched entry. NULL when out of
 * memory (the table is then as it was, less the entry pushed out). */
void *lru_table_touch(struct lru_table *t, const void *key);

/* Forgets `key` (nothing when it is not held). */
void lru_table_remove(struct lru_table *t, const void *key);

/* Entries held now. */
size_t lru_table_count(const struct lru_table *t);

#endif
