/*
 * auth_failures.c — failed logins per source. See auth_failures.h.
 *
 * An lru_table keyed by the source's address (IPv6 cut to its /64): a new
 * failure touches its entry, so the one pushed out when full is the source
 * that failed least recently, and the touch's time is the last failure's. Every worker's explicit
 * inbounds share the one table (a source's next login may land on another worker), each call under
 * its lock.
 */
#include "engine/tcp/auth_failures.h"

#include <string.h>
#include <sys/socket.h>

#include "engine/core/lru_table.h"

/* The time of the last failure is the entry's touch (lru_table.h). */
struct failures {
    unsigned count;
};

struct lru_table *auth_failures_new(size_t cap)
{
    return lru_table_new(cap, sizeof(struct flow_addr), sizeof(struct failures));
}

/* The address only, IPv6 cut to /64. */
static void source_key(struct flow_addr *key, const struct flow_addr *src)
{
    flow_addr_key(key, src);
    key->port = 0;
    if (key->family == AF_INET6)
        memset(key->ip + 8, 0, 8);
}

/* The source's failures while they still count; expired ones are forgotten. Under the lock. */
static struct failures *find(struct lru_table *t, const struct flow_addr *key, double now)
{
    return lru_table_find(t, key, now, AUTH_FAILURES_FORGET_S);
}

double auth_failures_delay(struct lru_table *t, const struct flow_addr *src, double now)
{
    struct flow_addr key;
    source_key(&key, src);
    lru_table_lock(t);
    struct failures *f = find(t, &key, now);
    unsigned count = f ? f->count : 0;
    lru_table_unlock(t);
    if (!count)
        return 0;
    double delay = AUTH_FAILURES_DELAY_MIN;
    for (unsigned i = 1; i < count && delay < AUTH_FAILURES_DELAY_MAX; i++)
        delay *= 2;
    return delay < AUTH_FAILURES_DELAY_MAX ? delay : AUTH_FAILURES_DELAY_MAX;
}

void auth_failures_add(struct lru_table *t, const struct flow_addr *src, double now)
{
    struct flow_addr key;
    source_key(&key, src);
    lru_table_lock(t);
    find(t, &key, now); /* an expired entry starts over */
    struct failures *f = lru_table_touch(t, &key, now);
    /* out of memory: this source is not slowed, nothing worse */
    if (f && f->count < 64)
        f->count++;
    lru_table_unlock(t);
}

void auth_failures_clear(struct lru_table *t, const struct flow_addr *src)
{
    struct flow_addr key;
    source_key(&key, src);
    lru_table_lock(t);
    lru_table_remove(t, &key);
    lru_table_unlock(t);
}
