/*
 * lru_table.h — a bounded table of fixed-size keys, each with a value of a
 * fixed size and the time it was last touched, that pushes out the least
 * recently touched entry when full and forgets an entry once it is too old.
 *
 * What the engine remembers per address (failed logins per source, silent
 * destinations per client) must stay bounded whatever the clients send: at
 * most `cap` entries, and a new key takes the place of the one touched
 * longest ago. Keys are compared as bytes, so the caller zeroes their padding
 * (flow_addr_key does). Times are the caller's clock (ev_now), in seconds.
 * One table serves every worker (engine/core/workers.h): its users hold its
 * lock around each use, the values it returns included.
 */
#ifndef SWITCHYARD_LRU_TABLE_H
#define SWITCHYARD_LRU_TABLE_H

#include <stddef.h>

struct lru_table;

/* An empty table of at most `cap` entries (0 counts as 1) of `key_len`-byte keys and
 * `value_len`-byte values (0 allowed: a set); NULL when out of memory. */
struct lru_table *lru_table_new(size_t cap, size_t key_len, size_t value_len);
void lru_table_free(struct lru_table *t); /* NULL allowed */

/* The table's lock: held from a find or touch until done with the value it returned. */
void lru_table_lock(struct lru_table *t);
void lru_table_unlock(struct lru_table *t);

/* The value stored under `key` when it was touched less than `ttl` seconds before `now`;
 * an older entry is forgotten. NULL when there is none. Looking does not count as a touch. */
void *lru_table_find(struct lru_table *t, const void *key, double now, double ttl);

/* The value under `key`, now the most recently touched, at `now`; a new key gets a zeroed
 * value and, when the table is full, the place of the least recently touched entry. NULL when
 * out of memory (the table is then as it was, less the entry pushed out). */
void *lru_table_touch(struct lru_table *t, const void *key, double now);

/* Forgets `key` (nothing when it is not held). */
void lru_table_remove(struct lru_table *t, const void *key);

/* Entries held now (expired ones included until they are looked up or pushed out). */
size_t lru_table_count(const struct lru_table *t);

#endif
