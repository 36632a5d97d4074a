/*
 * silent_dst.c — destinations whose clients say nothing first. See
 * silent_dst.h.
 *
 * A uthash table keyed by the destination. uthash keeps entries in the
 * order they were added, so marking one again deletes and re-adds it, and
 * the head of the table is always the least recently marked: the one to
 * forget when the set is full.
 */
#include "engine/tcp/silent_dst.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct silent_entry {
    struct flow_addr dst; /* the key, made by flow_addr_key */
    double marked_at;
    UT_hash_handle hh;
};

struct silent_dst {
    struct silent_entry *table;
    size_t count, cap;
};

struct silent_dst *silent_dst_new(size_t cap)
{
    struct silent_dst *set = calloc(1, sizeof(*set));
    if (set)
        set->cap = cap ? cap : 1;
    return set;
}

static void forget(struct silent_dst *set, struct silent_entry *e)
{
    HASH_DEL(set->table, e);
    free(e);
    set->count--;
}

void silent_dst_free(struct silent_dst *set)
{
    if (!set)
        return;
    struct silent_entry *e, *tmp;
    HASH_ITER(hh, set->table, e, tmp)
    forget(set, e);
    free(set);
}

static struct silent_entry *find(struct silent_dst *set, const struct flow_addr *dst)
{
    struct flow_addr key;
    flow_addr_key(&key, dst);
    struct silent_entry *e;
    HASH_FIND(hh, set->table, &key, sizeof(key), e);
    return e;
}

void silent_dst_mark(struct silent_dst *set, const struct flow_addr *dst, double now)
{
    struct silent_entry *e = find(set, dst);
    if (e) {
        HASH_DEL(set->table, e);
    } else {
        if (set->count == set->cap)
            forget(set, set->table);
        if (!(e = calloc(1, sizeof(*e))))
            return; /* out of memory: the next flow to it waits, nothing worse */
        flow_addr_key(&e->dst, dst);
        set->count++;
    }
    e->marked_at = now;
    HASH_ADD(hh, set->table, dst, sizeof(e->dst), e);
}

bool silent_dst_known(struct silent_dst *set, const struct flow_addr *dst, double now, double ttl)
{
    struct silent_entry *e = find(set, dst);
    if (!e)
        return false;
    if (now - e->marked_at < ttl)
        return true;
    forget(set, e);
    return false;
}

size_t silent_dst_count(const struct silent_dst *set)
{
    return set->count;
}
