/*
 * silent_dst.c — destinations whose client says nothing first. See
 * silent_dst.h.
 *
 * A uthash table keyed by (client address, destination). uthash keeps
 * entries in the order they were added, so marking one again deletes and
 * re-adds it, and the head of the table is always the least recently
 * marked: the one to forget when the set is full.
 */
#include "engine/tcp/silent_dst.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

/* Both made by flow_addr_key (padding zeroed); the client's port is 0. */
struct silent_key {
    struct flow_addr client;
    struct flow_addr dst;
};

struct silent_entry {
    struct silent_key key;
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

static void make_key(struct silent_key *key, const struct flow_addr *client,
                     const struct flow_addr *dst)
{
    memset(key, 0, sizeof(*key));
    flow_addr_key(&key->client, client);
    key->client.port = 0;
    flow_addr_key(&key->dst, dst);
}

static struct silent_entry *find(struct silent_dst *set, const struct silent_key *key)
{
    struct silent_entry *e;
    HASH_FIND(hh, set->table, key, sizeof(*key), e);
    return e;
}

void silent_dst_mark(struct silent_dst *set, const struct flow_addr *client,
                     const struct flow_addr *dst, double now)
{
    struct silent_key key;
    make_key(&key, client, dst);
    struct silent_entry *e = find(set, &key);
    if (e) {
        HASH_DEL(set->table, e);
    } else {
        if (set->count == set->cap)
            forget(set, set->table);
        if (!(e = calloc(1, sizeof(*e))))
            return; /* out of memory: the next flow waits for its client, nothing worse */
        e->key = key;
        set->count++;
    }
    e->marked_at = now;
    HASH_ADD(hh, set->table, key, sizeof(e->key), e);
}

bool silent_dst_known(struct silent_dst *set, const struct flow_addr *client,
                      const struct flow_addr *dst, double now, double ttl)
{
    struct silent_key key;
    make_key(&key, client, dst);
    struct silent_entry *e = find(set, &key);
    if (!e)
        return false;
    if (now - e->marked_at < ttl)
        return true;
    forget(set, e);
    return false;
}

void silent_dst_forget(struct silent_dst *set, const struct flow_addr *client,
                       const struct flow_addr *dst)
{
    struct silent_key key;
    make_key(&key, client, dst);
    struct silent_entry *e = find(set, &key);
    if (e)
        forget(set, e);
}

size_t silent_dst_count(const struct silent_dst *set)
{
    return set->count;
}
