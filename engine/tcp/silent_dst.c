/*
 * silent_dst.c — destinations whose client says nothing first. See
 * silent_dst.h.
 *
 * An lru_table keyed by (client address, destination) holding the time it
 * was marked: marking touches the entry, so the one forgotten when the set
 * is full is the least recently marked.
 */
#include "engine/tcp/silent_dst.h"

#include <string.h>

#include "engine/core/lru_table.h"

/* Both made by flow_addr_key (padding zeroed); the client's port is 0. */
struct silent_key {
    struct flow_addr client;
    struct flow_addr dst;
};

/* The handle is the table itself (struct silent_key -> the time it was marked, a double); its
 * own type keeps it apart from the engine's other tables. */
static struct lru_table *table(struct silent_dst *set)
{
    return (struct lru_table *)set;
}

struct silent_dst *silent_dst_new(size_t cap)
{
    return (struct silent_dst *)lru_table_new(cap, sizeof(struct silent_key), sizeof(double));
}

void silent_dst_free(struct silent_dst *set)
{
    lru_table_free(table(set));
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
    double *marked_at = lru_table_touch(table(set), &key);
    if (marked_at)
        *marked_at = now;
    /* out of memory: the next flow waits for its client, nothing worse */
}

bool silent_dst_known(struct silent_dst *set, const struct flow_addr *client,
                      const struct flow_addr *dst, double now, double ttl)
{
    struct silent_key key;
    make_key(&key, client, dst);
    double *marked_at = lru_table_find(table(set), &key);
    if (!marked_at)
        return false;
    if (now - *marked_at < ttl)
        return true;
    lru_table_remove(table(set), &key);
    return false;
}

void silent_dst_forget(struct silent_dst *set, const struct flow_addr *client,
                       const struct flow_addr *dst)
{
    struct silent_key key;
    make_key(&key, client, dst);
    lru_table_remove(table(set), &key);
}

size_t silent_dst_count(const struct silent_dst *set)
{
    return lru_table_count((const struct lru_table *)set);
}
