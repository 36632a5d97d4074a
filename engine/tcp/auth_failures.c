/*
 * auth_failures.c — failed logins per source. See auth_failures.h.
 *
 * An lru_table keyed by the source's address (IPv6 cut to its /64): a new
 * failure touches its entry, so the one pushed out when full is the source
 * that failed least recently.
 */
#include "engine/tcp/auth_failures.h"

#include <string.h>
#include <sys/socket.h>

#include "engine/core/lru_table.h"

struct failures {
    unsigned count;
    double last;
};

/* The handle is the table itself (source key -> struct failures); its own type keeps it apart
 * from the engine's other tables. */
static struct lru_table *table(struct auth_failures *t)
{
    return (struct lru_table *)t;
}

struct auth_failures *auth_failures_new(size_t cap)
{
    return (struct auth_failures *)lru_table_new(cap, sizeof(struct flow_addr),
                                                 sizeof(struct failures));
}

void auth_failures_free(struct auth_failures *t)
{
    lru_table_free(table(t));
}

/* The address only, IPv6 cut to /64. */
static void source_key(struct flow_addr *key, const struct flow_addr *src)
{
    flow_addr_key(key, src);
    key->port = 0;
    if (key->family == AF_INET6)
        memset(key->ip + 8, 0, 8);
}

/* The source's failures while they still count; expired ones are forgotten. */
static struct failures *find(struct auth_failures *t, const struct flow_addr *key, double now)
{
    struct failures *f = lru_table_find(table(t), key);
    if (f && now - f->last >= AUTH_FAILURES_FORGET_S) {
        lru_table_remove(table(t), key);
        f = NULL;
    }
    return f;
}

double auth_failures_delay(struct auth_failures *t, const struct flow_addr *src, double now)
{
    struct flow_addr key;
    source_key(&key, src);
    struct failures *f = find(t, &key, now);
    if (!f)
        return 0;
    double delay = AUTH_FAILURES_DELAY_MIN;
    for (unsigned i = 1; i < f->count && delay < AUTH_FAILURES_DELAY_MAX; i++)
        delay *= 2;
    return delay < AUTH_FAILURES_DELAY_MAX ? delay : AUTH_FAILURES_DELAY_MAX;
}

void auth_failures_add(struct auth_failures *t, const struct flow_addr *src, double now)
{
    struct flow_addr key;
    source_key(&key, src);
    find(t, &key, now); /* an expired entry starts over */
    struct failures *f = lru_table_touch(table(t), &key);
    if (!f)
        return; /* out of memory: this source is not slowed, nothing worse */
    if (f->count < 64)
        f->count++;
    f->last = now;
}

void auth_failures_clear(struct auth_failures *t, const struct flow_addr *src)
{
    struct flow_addr key;
    source_key(&key, src);
    lru_table_remove(table(t), &key);
}

size_t auth_failures_count(const struct auth_failures *t)
{
    return lru_table_count((const struct lru_table *)t);
}
