/*
 * auth_failures.c — failed logins per source. See auth_failures.h.
 *
 * A uthash table keyed by the source's address (IPv6 cut to its /64).
 * uthash keeps entries in the order they were added, so a new failure
 * deletes and re-adds its entry, and the head of the table is always the
 * source that failed least recently: the one to push out when full.
 */
#include "engine/tcp/auth_failures.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <uthash.h>

struct failure_entry {
    struct flow_addr src; /* the key: address only, IPv6 cut to /64 */
    unsigned failures;
    double last;
    UT_hash_handle hh;
};

struct auth_failures {
    struct failure_entry *table;
    size_t count, cap;
};

struct auth_failures *auth_failures_new(size_t cap)
{
    struct auth_failures *t = calloc(1, sizeof(*t));
    if (t)
        t->cap = cap ? cap : 1;
    return t;
}

static void forget(struct auth_failures *t, struct failure_entry *e)
{
    HASH_DEL(t->table, e);
    free(e);
    t->count--;
}

void auth_failures_free(struct auth_failures *t)
{
    if (!t)
        return;
    struct failure_entry *e, *tmp;
    HASH_ITER(hh, t->table, e, tmp)
    forget(t, e);
    free(t);
}

static void source_key(struct flow_addr *key, const struct flow_addr *src)
{
    flow_addr_key(key, src);
    key->port = 0;
    if (key->family == AF_INET6)
        memset(key->ip + 8, 0, 8);
}

/* The source's entry while its failures still count; an expired one is forgotten. */
static struct failure_entry *find(struct auth_failures *t, const struct flow_addr *src, double now)
{
    struct flow_addr key;
    source_key(&key, src);
    struct failure_entry *e;
    HASH_FIND(hh, t->table, &key, sizeof(key), e);
    if (e && now - e->last >= AUTH_FAILURES_FORGET_S) {
        forget(t, e);
        e = NULL;
    }
    return e;
}

double auth_failures_delay(struct auth_failures *t, const struct flow_addr *src, double now)
{
    struct failure_entry *e = find(t, src, now);
    if (!e)
        return 0;
    double delay = AUTH_FAILURES_DELAY_MIN;
    for (unsigned i = 1; i < e->failures && delay < AUTH_FAILURES_DELAY_MAX; i++)
        delay *= 2;
    return delay < AUTH_FAILURES_DELAY_MAX ? delay : AUTH_FAILURES_DELAY_MAX;
}

void auth_failures_add(struct auth_failures *t, const struct flow_addr *src, double now)
{
    struct failure_entry *e = find(t, src, now);
    if (e) {
        HASH_DEL(t->table, e);
    } else {
        if (t->count == t->cap)
            forget(t, t->table);
        if (!(e = calloc(1, sizeof(*e))))
            return; /* out of memory: this source is not slowed, nothing worse */
        source_key(&e->src, src);
        t->count++;
    }
    if (e->failures < 64)
        e->failures++;
    e->last = now;
    HASH_ADD(hh, t->table, src, sizeof(e->src), e);
}

void auth_failures_clear(struct auth_failures *t, const struct flow_addr *src)
{
    struct flow_addr key;
    source_key(&key, src);
    struct failure_entry *e;
    HASH_FIND(hh, t->table, &key, sizeof(key), e);
    if (e)
        forget(t, e);
}

size_t auth_failures_count(const struct auth_failures *t)
{
    return t->count;
}
