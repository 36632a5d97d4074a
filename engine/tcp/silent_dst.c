/*
 * silent_dst.c — destinations whose client says nothing first. See
 * silent_dst.h.
 *
 * An lru_table keyed by (client address, destination) with no value: an
 * entry's touch is the time it was marked, so the one forgotten when the
 * set is full is the least recently marked. Every worker's flows read and mark
 * the one set (a client's next flow may land on another worker), each call
 * under the set's lock.
 */
#include "engine/tcp/silent_dst.h"

#include <string.h>

#include "engine/core/lru_table.h"

/* Both made by flow_addr_key (padding zeroed); the client's port is 0. */
struct silent_key {
    struct flow_addr client;
    struct flow_addr dst;
};

struct lru_table *silent_dst_new(size_t cap)
{
    return lru_table_new(cap, sizeof(struct silent_key), 0);
}

static void make_key(struct silent_key *key, const struct flow_addr *client,
                     const struct flow_addr *dst)
{
    memset(key, 0, sizeof(*key));
    flow_addr_key(&key->client, client);
    key->client.port = 0;
    flow_addr_key(&key->dst, dst);
}

void silent_dst_mark(struct lru_table *set, const struct flow_addr *client,
                     const struct flow_addr *dst, double now)
{
    struct silent_key key;
    make_key(&key, client, dst);
    lru_table_lock(set);
    /* out of memory: the next flow waits for its client, nothing worse */
    lru_table_touch(set, &key, now);
    lru_table_unlock(set);
}

bool silent_dst_known(struct lru_table *set, const struct flow_addr *client,
                      const struct flow_addr *dst, double now, double ttl)
{
    struct silent_key key;
    make_key(&key, client, dst);
    lru_table_lock(set);
    bool known = lru_table_find(set, &key, now, ttl) != NULL;
    lru_table_unlock(set);
    return known;
}

void silent_dst_forget(struct lru_table *set, const struct flow_addr *client,
                       const struct flow_addr *dst)
{
    struct silent_key key;
    make_key(&key, client, dst);
    lru_table_lock(set);
    lru_table_remove(set, &key);
    lru_table_unlock(set);
}
