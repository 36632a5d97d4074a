/*
 * silent_dst.c — destinations whose client says nothing first. See
 * silent_dst.h.
 *
 * An lru_table keyed by (client address, destination) holding the time it
 * was marked: marking touches the entry, so the one forgotten when the set
 * is full is the least recently marked. Every worker's flows read and mark
 * the one set (a client's next flow may land on another worker), each call
 * under the set's lock.
 */
#include "engine/tcp/silent_dst.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/lru_table.h"

struct silent_dst {
    pthread_mutex_t lock;
    struct lru_table *table; /* struct silent_key -> the time it was marked, a double */
};

/* Both made by flow_addr_key (padding zeroed); the client's port is 0. */
struct silent_key {
    struct flow_addr client;
    struct flow_addr dst;
};

struct silent_dst *silent_dst_new(size_t cap)
{
    struct silent_dst *set = calloc(1, sizeof(*set));
    if (!set)
        return NULL;
    set->table = lru_table_new(cap, sizeof(struct silent_key), sizeof(double));
    if (!set->table) {
        free(set);
        return NULL;
    }
    pthread_mutex_init(&set->lock, NULL);
    return set;
}

void silent_dst_free(struct silent_dst *set)
{
    if (!set)
        return;
    lru_table_free(set->table);
    pthread_mutex_destroy(&set->lock);
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

void silent_dst_mark(struct silent_dst *set, const struct flow_addr *client,
                     const struct flow_addr *dst, double now)
{
    struct silent_key key;
    make_key(&key, client, dst);
    pthread_mutex_lock(&set->lock);
    double *marked_at = lru_table_touch(set->table, &key);
    if (marked_at)
        *marked_at = now;
    /* out of memory: the next flow waits for its client, nothing worse */
    pthread_mutex_unlock(&set->lock);
}

bool silent_dst_known(struct silent_dst *set, const struct flow_addr *client,
                      const struct flow_addr *dst, double now, double ttl)
{
    struct silent_key key;
    make_key(&key, client, dst);
    pthread_mutex_lock(&set->lock);
    double *marked_at = lru_table_find(set->table, &key);
    bool known = marked_at && now - *marked_at < ttl;
    if (marked_at && !known)
        lru_table_remove(set->table, &key);
    pthread_mutex_unlock(&set->lock);
    return known;
}

void silent_dst_forget(struct silent_dst *set, const struct flow_addr *client,
                       const struct flow_addr *dst)
{
    struct silent_key key;
    make_key(&key, client, dst);
    pthread_mutex_lock(&set->lock);
    lru_table_remove(set->table, &key);
    pthread_mutex_unlock(&set->lock);
}

size_t silent_dst_count(struct silent_dst *set)
{
    pthread_mutex_lock(&set->lock);
    size_t n = lru_table_count(set->table);
    pthread_mutex_unlock(&set->lock);
    return n;
}
