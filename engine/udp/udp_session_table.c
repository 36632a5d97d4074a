/*
 * udp_session_table.c — the session hash and the activity list (uthash and
 * utlist). See udp_session_table.h.
 */
#include "engine/udp/udp_session_table.h"

#include <uthash.h>
#include <utlist.h>

#include "engine/udp/udp_session.h"

struct udp_session *udp_session_table_find(struct udp_session_table *t, const struct udp_key *key)
{
    struct udp_session *s;
    HASH_FIND(hh, t->by_key, key, sizeof(*key), s);
    return s;
}

void udp_session_table_add(struct udp_session_table *t, struct udp_session *s)
{
    HASH_ADD(hh, t->by_key, key, sizeof(s->key), s);
    DL_APPEND(t->by_activity, s);
    t->count++;
}

void udp_session_table_add_upstream(struct udp_session_table *t, struct udp_session *s)
{
    HASH_ADD(hh_up, t->by_upstream, upstream, sizeof(s->upstream), s);
    s->upstream_indexed = true;
}

struct udp_session *udp_session_table_find_upstream(struct udp_session_table *t,
                                                    const struct flow_addr *addr)
{
    struct flow_addr key;
    flow_addr_key(&key, addr);
    struct udp_session *s;
    HASH_FIND(hh_up, t->by_upstream, &key, sizeof(key), s);
    return s;
}

void udp_session_table_remove(struct udp_session_table *t, struct udp_session *s)
{
    if (s->upstream_indexed)
        HASH_DELETE(hh_up, t->by_upstream, s);
    s->upstream_indexed = false;
    HASH_DEL(t->by_key, s);
    DL_DELETE(t->by_activity, s);
    t->count--;
}

void udp_session_table_touch(struct udp_session_table *t, struct udp_session *s)
{
    DL_DELETE(t->by_activity, s);
    DL_APPEND(t->by_activity, s);
}

struct udp_session *udp_session_table_oldest(const struct udp_session_table *t)
{
    return t->by_activity;
}
