/*
 * auth_failures.c — failed logins per source. See auth_failures.h.
 *
 * An lru_table keyed by the source's address (IPv6 cut to its /64): a new
 * failure touches its entry, so the one pushed out when full is the source
 * that failed least recently. Every worker's explicit inbounds share the
 * one table (a source's next login may land on another worker), each call
 * under its lock.
 */
#include "engine/tcp/auth_failures.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/core/lru_table.h"

struct auth_failures {
    pthread_mutex_t lock;
    struct lru_table *table; /* source key -> struct failures */
};

struct failures {
    unsigned count;
    double last;
};

struct auth_failures *auth_failures_new(size_t cap)
{
    struct auth_failures *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->table = lru_table_new(cap, sizeof(struct flow_addr), sizeof(struct failures));
    if (!t->table) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    return t;
}

void auth_failures_free(struct auth_failures *t)
{
    if (!t)
        return;
    lru_table_free(t->table);
    pthread_mutex_destroy(&t->lock);
    free(t);
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
static struct failures *find(struct auth_failures *t, const struct flow_addr *key, double now)
{
    struct failures *f = lru_table_find(t->table, key);
    if (f && now - f->last >= AUTH_FAILURES_FORGET_S) {
        lru_table_remove(t->table, key);
        f = NULL;
    }
    return f;
}

double auth_failures_delay(struct auth_failures *t, const struct flow_addr *src, double now)
{
    struct flow_addr key;
    source_key(&key, src);
    pthread_mutex_lock(&t->lock);
    struct failures *f = find(t, &key, now);
    unsigned count = f ? f->count : 0;
    pthread_mutex_unlock(&t->lock);
    if (!count)
        return 0;
    double delay = AUTH_FAILURES_DELAY_MIN;
    for (unsigned i = 1; i < count && delay < AUTH_FAILURES_DELAY_MAX; i++)
        delay *= 2;
    return delay < AUTH_FAILURES_DELAY_MAX ? delay : AUTH_FAILURES_DELAY_MAX;
}

void auth_failures_add(struct auth_failures *t, const struct flow_addr *src, double now)
{
    struct flow_addr key;
    source_key(&key, src);
    pthread_mutex_lock(&t->lock);
    find(t, &key, now); /* an expired entry starts over */
    struct failures *f = lru_table_touch(t->table, &key);
    if (f) { /* out of memory: this source is not slowed, nothing worse */
        if (f->count < 64)
            f->count++;
        f->last = now;
    }
    pthread_mutex_unlock(&t->lock);
}

void auth_failures_clear(struct auth_failures *t, const struct flow_addr *src)
{
    struct flow_addr key;
    source_key(&key, src);
    pthread_mutex_lock(&t->lock);
    lru_table_remove(t->table, &key);
    pthread_mutex_unlock(&t->lock);
}

size_t auth_failures_count(struct auth_failures *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = lru_table_count(t->table);
    pthread_mutex_unlock(&t->lock);
    return n;
}
