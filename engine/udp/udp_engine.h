/*
 * udp_engine.h — the UDP side of a run: every UDP listener and session,
 * under one policy, on one loop.
 *
 * The way of a datagram through engine/udp:
 *   udp_listener.c       reads it on an inbound's socket (udp_socket.c) and
 *                        finds its session in the table (udp_session_table.c)
 *                        or, for a new one, its original destination
 *                        (inbound_udp_tproxy.c, inbound_udp_redirect.c +
 *                        conntrack.c);
 *   udp_session.c        classifies it and decides once, queues while the
 *                        upstream is set up, ends the session when idle;
 *   udp_outbound.c       picks the outbound type that carries it
 *                        (outbound_udp_direct.c, outbound_udp_socks5.c,
 *                        outbound_udp_drop.c);
 *   the inbound's reply  sends the answer back (udp_reply_cache.c under
 *                        TPROXY, the listening socket under REDIRECT),
 *                        queued and sent with the other answers of the same
 *                        turn of the loop (udp_send_batch.c).
 *
 * Datagrams are never merged or split: each one received is sent as one.
 */
#ifndef SWITCHYARD_UDP_ENGINE_H
#define SWITCHYARD_UDP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "engine/core/engine.h"
#include "engine/udp/conntrack.h"
#include "engine/udp/udp_send_batch.h"
#include "engine/udp/udp_upstream_pool.h"
#include "engine/udp/udp_session_table.h"
#include "engine/udp/udp_socket.h"
#include "rules/policy.h"

struct udp_listener;

struct udp_engine_stats {
    uint64_t sessions_created;
    uint64_t sessions_evicted;   /* ended to make room */
    uint64_t sessions_expired;   /* ended after the idle timeout */
    uint64_t sessions_redecided; /* ended by a reload that changed their decision */
    uint64_t sessions_failed;    /* ended because the upstream failed */
    uint64_t datagrams_in;       /* from clients */
    uint64_t datagrams_out;      /* replies to clients */
    uint64_t datagrams_dropped;  /* by the drop outbound, a full queue or an error */
    uint64_t queue_full;         /* of those: limits.udp_queue_bytes was reached */
    uint64_t sessions_no_fds;    /* ended because the descriptor budget could not carry them */
    uint64_t hellos_unfinished;  /* sessions ended: a QUIC ClientHello begun, never whole */
    uint64_t no_destination;     /* datagrams whose original destination was unknown */
    uint64_t refused;            /* datagrams refused as loops: addressed to switchyard itself
                                    or sent by one of its own upstream sockets */
    size_t sessions_open;
};

struct udp_engine {
    struct engine *core; /* sessions are its live objects */
    struct ev_loop *loop;
    struct policy *policy; /* current; owns one reference */
    struct udp_listener *listeners;
    struct udp_session_table sessions;
    ev_timer tick;            /* listeners' housekeeping */
    ev_tstamp refused_logged; /* when a refused datagram was last logged (rate limit) */
    struct udp_engine_stats stats;
    struct conntrack_stats conntrack; /* every udp-redirect listener's lookups */
    size_t queued_bytes;              /* datagrams waiting in every session's queue */
    bool no_fds_logged;               /* a session refused for want of descriptors was logged */
    uint64_t next_session_id;         /* the last session's id (its log lines' flow) */
    size_t sessions_peak;             /* the most sessions at once since memory was last trimmed */
    /* The listeners' read batch: UDP_RECV_BATCH_MAX slots of UDP_RECV_BUF
     * bytes each in `rx_buf`, one allocation whose pages the kernel only
     * makes resident once a datagram reaches them. */
    struct udp_recv_slot rx[UDP_RECV_BATCH_MAX];
    uint8_t *rx_buf;
    /* Replies to clients, and datagrams to the direct outbound's connected
     * sockets, queued during one turn of the loop and sent by `flush` before
     * the loop waits again (engine/udp/udp_send_batch.h). */
    struct udp_send_batch *replies;
    struct udp_send_batch *upstream;
    ev_prepare flush;
    /* Ended sessions' direct upstream sockets, for the next sessions
     * (engine/udp/udp_upstream_pool.h). */
    struct udp_upstream_pool *pool;
};

/*
 * Creates the UDP engine on `core`'s loop under `core`'s current policy
 * (takes its own reference); its sessions are `core`'s live objects.
 * It opens no listener: the core's engine_sync() does, through
 * udp_listener_udp_listen_ops, or udp_listener_open().
 * NULL when out of memory.
 */
struct udp_engine *udp_engine_new(struct engine *core);

/*
 * Ends every session, closes every listener and frees the engine (NULL is
 * allowed). The sessions' memory is freed by the core's reaper.
 */
void udp_engine_free(struct udp_engine *e);

/*
 * Switches to `policy` (takes a reference). Every decided session is decided
 * again under it; a session whose outbound would change is ended, so the
 * client's next datagram starts a new session under the new rules even when
 * it reuses the same addresses and ports.
 */
void udp_engine_set_policy(struct udp_engine *e, struct policy *policy);

void udp_engine_stats(const struct udp_engine *e, struct udp_engine_stats *out);

/* The current policy's settings: borrowed, valid until the next policy swap. */
const struct policy_settings *udp_engine_settings(const struct udp_engine *e);

#endif
