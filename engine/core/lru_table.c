/*
 * lru_table.c — a bounded table, least recently touched first out. See
 * lru_table.h.
 *
 * A uthash table: uthash keeps entries in the order they were added, so a
 * touch deletes and re-adds its entry, and the head of the table is always
 * the entry touched least recently, the one to push out when full. An entry
 * holds the time of its last touch, its key, then its value at the next
 * aligned offset.
 */
#include "engine/core/lru_table.h"

#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct lru_entry {
    UT_hash_handle hh;
    double touched;
    alignas(max_align_t) unsigned char data[]; /* the key, then the value */
};

struct lru_table {
    pthread_mutex_t lock;
    struct lru_entry *head;
    size_t count, cap, key_len, value_off, value_len;
};

struct lru_table *lru_table_new(size_t cap, size_t key_len, size_t value_len)
{
    struct lru_table *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    size_t align = alignof(max_align_t);
    t->cap = cap ? cap : 1;
    t->key_len = key_len;
    t->value_off = (key_len + align - 1) / align * align;
    t->value_len = value_len;
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

static void forget(struct lru_table *t, struct lru_entry *e)
{
    HASH_DEL(t->head, e);
    free(e);
    t->count--;
}

void lru_table_free(struct lru_table *t)
{
    if (!t)
        return;
    struct lru_entry *e, *tmp;
    HASH_ITER(hh, t->head, e, tmp)
    forget(t, e);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void lru_table_lock(struct lru_table *t)
{
    pthread_mutex_lock(&t->lock);
}

void lru_table_unlock(struct lru_table *t)
{
    pthread_mutex_unlock(&t->lock);
}

static struct lru_entry *find(struct lru_table *t, const void *key)
{
    struct lru_entry *e;
    HASH_FIND(hh, t->head, key, t->key_len, e);
    return e;
}

void *lru_table_find(struct lru_table *t, const void *key, double now, double ttl)
{
    struct lru_entry *e = find(t, key);
    if (!e)
        return NULL;
    if (now - e->touched >= ttl) {
        forget(t, e);
        return NULL;
    }
    return e->data + t->value_off;
}

void *lru_table_touch(struct lru_table *t, const void *key, double now)
{
    struct lru_entry *e = find(t, key);
    if (e) {
        HASH_DEL(t->head, e);
    } else {
        if (t->count == t->cap)
            forget(t, t->head);
        if (!(e = calloc(1, sizeof(*e) + t->value_off + t->value_len)))
            return NULL;
        memcpy(e->data, key, t->key_len);
        t->count++;
    }
    e->touched = now;
    HASH_ADD_KEYPTR(hh, t->head, e->data, t->key_len, e);
    return e->data + t->value_off;
}

void lru_table_remove(struct lru_table *t, const void *key)
{
    struct lru_entry *e = find(t, key);
    if (e)
        forget(t, e);
}

size_t lru_table_count(const struct lru_table *t)
{
    return t->count;
}
