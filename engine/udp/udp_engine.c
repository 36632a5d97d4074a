/*
 * udp_engine.c — the UDP engine's life: creation, the policy swap that
 * decides live sessions again, housekeeping, counters, shutdown. See
 * udp_engine.h.
 */
#include "engine/udp/udp_engine.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdlib.h>

#include "engine/udp/udp_listener.h"
#include "engine/udp/udp_session.h"
#include "rules/util.h"

#define UDP_TICK_S 5.0

/* Upstream sockets kept per address family for the next sessions, and for how
 * long at most: a burst of sessions ending refills the next burst's. */
#define UDP_POOL_SOCKETS 256
#define UDP_POOL_IDLE_S 10.0

/* Sessions fewer than the most since the last trim that make the tick give
 * freed memory back to the kernel. */
#define UDP_TRIM_SESSIONS 256

const struct policy_settings *udp_engine_settings(const struct udp_engine *e)
{
    return policy_settings(e->policy);
}

void udp_engine_stats(const struct udp_engine *e, struct udp_engine_stats *out)
{
    *out = e->stats;
    out->sessions_open = e->sessions.count;
    /* Counted as sent when queued; the kernel refused these later. */
    uint64_t failed = udp_send_batch_failed(e->replies);
    out->datagrams_out -= failed;
    out->datagrams_dropped += failed + udp_send_batch_failed(e->upstream);
}

/*
 * After a burst of sessions has ended, the allocator keeps their memory
 * (freed chunks between live ones hold the heap's pages); resident memory
 * then stays at the burst's peak for good. malloc_trim hands every free
 * page back. It walks the heap, so only after many sessions went.
 */
static void trim_after_burst(struct udp_engine *e)
{
    if (e->sessions.count > e->sessions_peak) {
        e->sessions_peak = e->sessions.count;
        return;
    }
    if (e->sessions_peak - e->sessions.count < UDP_TRIM_SESSIONS)
        return;
#ifdef __GLIBC__ /* musl's allocator returns freed memory itself */
    malloc_trim(0);
#endif
    e->sessions_peak = e->sessions.count;
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct udp_engine *e = container_of(w, struct udp_engine, tick);
    udp_listener_tick_all(e, ev_now(loop));
    udp_upstream_pool_expire(e->pool, ev_now(loop));
    trim_after_burst(e);
}

/* Every callback of this turn has run: send the replies they queued. */
static void flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct udp_engine *e = container_of(w, struct udp_engine, flush);
    udp_send_batch_flush(e->upstream);
    udp_send_batch_flush(e->replies);
}

struct udp_engine *udp_engine_new(struct engine *core)
{
    struct udp_engine *e = calloc(1, sizeof(*e));
    if (!e || !(e->rx_buf = malloc((size_t)UDP_RECV_BATCH_MAX * UDP_RECV_BUF)) ||
        !(e->replies = udp_send_batch_new()) || !(e->upstream = udp_send_batch_new()) ||
        !(e->pool = udp_upstream_pool_new(UDP_POOL_SOCKETS, UDP_POOL_IDLE_S, &core->fds))) {
        if (e) {
            free(e->rx_buf);
            udp_send_batch_free(e->replies);
            udp_send_batch_free(e->upstream);
        }
        free(e);
        return NULL;
    }
    for (size_t i = 0; i < UDP_RECV_BATCH_MAX; i++)
        e->rx[i] = (struct udp_recv_slot){.buf = e->rx_buf + i * UDP_RECV_BUF, .cap = UDP_RECV_BUF};
    e->core = core;
    e->loop = core->loop;
    e->policy = policy_ref(engine_policy(core));
    ev_timer_init(&e->tick, tick_cb, UDP_TICK_S, UDP_TICK_S);
    ev_timer_start(e->loop, &e->tick);
    ev_unref(e->loop); /* housekeeping alone does not keep the loop running */
    ev_prepare_init(&e->flush, flush_cb);
    ev_prepare_start(e->loop, &e->flush);
    ev_unref(e->loop); /* nor does the flush */
    return e;
}

void udp_engine_set_policy(struct udp_engine *e, struct policy *policy)
{
    struct policy *old = e->policy;
    e->policy = policy_ref(policy);
    policy_unref(old);
    struct udp_session *s, *next;
    for (s = udp_session_table_oldest(&e->sessions); s; s = next) {
        next = s->next;
        udp_session_redecide(s, policy);
    }
}

void udp_engine_free(struct udp_engine *e)
{
    if (!e)
        return;
    struct udp_session *s;
    while ((s = udp_session_table_oldest(&e->sessions)))
        udp_session_end(s, NULL);
    while (e->listeners)
        udp_listener_close(e->listeners);
    ev_ref(e->loop);
    ev_timer_stop(e->loop, &e->tick);
    ev_ref(e->loop);
    ev_prepare_stop(e->loop, &e->flush);
    udp_send_batch_free(e->replies);
    udp_send_batch_free(e->upstream);
    udp_upstream_pool_free(e->pool);
    policy_unref(e->policy);
    free(e->rx_buf);
    free(e);
}
