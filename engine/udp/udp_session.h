/*
 * udp_session.h — UDP sessions: one per (client address, original
 * destination), created on the client's first datagram, classified and
 * decided once, relayed both ways, ended after an idle timeout.
 *
 * The UDP engine owns every UDP listener and session of a run. A listener
 * (engine/inbound_udp_*.c) says how to find a datagram's original destination
 * and how to send a reply back to the client; an outbound
 * (engine/outbound_udp_*.c) says how to carry datagrams to the origin. Both
 * are tables of functions, chosen by the inbound and outbound type.
 *
 * Datagrams are never merged or split: each one received is sent as one.
 * While a session is being classified or its upstream set up, a bounded
 * number of datagrams wait in a queue; beyond it they are dropped and
 * counted. At most `limits.udp_sessions` sessions exist; a new one evicts
 * the least recently active.
 */
#ifndef SWITCHYARD_UDP_SESSION_H
#define SWITCHYARD_UDP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <uthash.h>

#include "rules/flow_addr.h"
#include "rules/policy.h"
#include "rules/sniff/sniff.h"

/* Datagrams queued per session while it is not ready, and their bytes. */
#define UDP_QUEUE_MAX 32
#define UDP_QUEUE_BYTES (256 * 1024)

struct udp_engine;
struct udp_listener;
struct udp_session;

/* How one inbound type finds destinations and answers clients. */
struct udp_inbound_ops {
    enum inbound_type type;
    /* Opens the listening socket for `in`; returns the fd or -errno. */
    int (*open)(struct udp_listener *l);
    /*
     * The original destination of a datagram from `src` that arrived
     * addressed to `arrived`. Returns 0, or -errno to drop it (counted).
     */
    int (*orig_dst)(struct udp_listener *l, const struct flow_addr *src,
                    const struct flow_addr *arrived, struct flow_addr *orig);
    /* Sends a reply datagram from the origin back to the session's client. */
    int (*reply)(struct udp_session *s, const uint8_t *buf, size_t len);
    /* Housekeeping every few seconds (reply-socket expiry); may be NULL. */
    void (*tick)(struct udp_listener *l, double now);
    void (*close)(struct udp_listener *l);
};

/* How one outbound type carries a session's datagrams. */
struct udp_outbound_ops {
    enum outbound_type type;
    /*
     * Starts the upstream. Returns 0 when it is ready at once, 1 when it
     * will call udp_session_ready() later, -errno on failure.
     */
    int (*open)(struct udp_session *s);
    /* Sends one client datagram upstream; -errno on failure (counted). */
    int (*send)(struct udp_session *s, const uint8_t *buf, size_t len);
    /* Releases what open() set up (called once, also after a failed open). */
    void (*close)(struct udp_session *s);
};

struct udp_listener {
    struct udp_engine *engine;
    const struct udp_inbound_ops *ops;
    char *name;            /* the inbound's name (owned copy) */
    struct flow_addr addr; /* where it listens */
    int fd;
    ev_io io;
    void *state; /* the inbound type's own (reply cache, conntrack) */
    bool fallback_logged;
    struct udp_listener *next;
};

/*
 * Sessions are found by (client, the address the datagram arrived on): under
 * TPROXY that is the original destination, under REDIRECT the listener's
 * address, so an established session never needs another conntrack lookup.
 */
struct udp_key {
    struct flow_addr client;
    struct flow_addr arrived;
};

struct udp_queued {
    struct udp_queued *next;
    size_t len;
    uint8_t data[];
};

enum udp_session_state {
    UDP_SNIFFING,   /* waiting for the classifier or its timeout */
    UDP_CONNECTING, /* decided; the outbound is being set up */
    UDP_RELAYING,
};

struct udp_session {
    struct udp_key key;
    struct udp_engine *engine;
    struct udp_listener *listener;
    struct flow_addr dst; /* the original destination */
    enum udp_session_state state;

    struct policy *policy; /* the policy that decided (one reference) */
    struct policy_decision decision;
    struct sniff_datagram *sniff;
    struct sniff_result sniffed;
    double idle_s;
    ev_tstamp last_active;
    ev_timer timer; /* sniff timeout, then idle expiry */

    const struct udp_outbound_ops *out;
    int fd;   /* the upstream UDP socket, -1 when none */
    ev_io io; /* readable upstream */
    void *out_state;

    struct udp_queued *queue, **queue_tail;
    size_t queued, queued_bytes;

    UT_hash_handle hh;
    struct udp_session *prev, *next; /* activity order: head is the least recent */
};

struct udp_engine_stats {
    uint64_t sessions_created;
    uint64_t sessions_evicted;   /* ended to make room */
    uint64_t sessions_expired;   /* ended after the idle timeout */
    uint64_t sessions_redecided; /* ended by a reload that changed their decision */
    uint64_t sessions_failed;    /* ended because the upstream failed */
    uint64_t datagrams_in;       /* from clients */
    uint64_t datagrams_out;      /* replies to clients */
    uint64_t datagrams_dropped;  /* by the drop outbound, a full queue or an error */
    uint64_t no_destination;     /* datagrams whose original destination was unknown */
    size_t sessions_open;
};

/*
 * Creates the UDP engine on `loop` under `policy` (takes its own reference).
 * NULL when out of memory.
 */
struct udp_engine *udp_engine_new(struct ev_loop *loop, struct policy *policy);

/* Ends every session, closes every listener and frees the engine. */
void udp_engine_free(struct udp_engine *e);

/*
 * Starts listening for inbound `in` (type tproxy with udp, or udp-redirect).
 * Returns 0, or -errno with a message in `err`.
 */
int udp_engine_listen(struct udp_engine *e, const struct policy_inbound *in, char *err,
                      size_t errlen);

/*
 * Makes the UDP listeners follow `policy`'s inbounds (tproxy with udp,
 * udp-redirect): one already open on the same type and address stays open
 * with its sessions, new ones are opened, removed ones closed with their
 * sessions. Errors are logged one line each; returns how many inbounds
 * could not be opened. Call after udp_engine_set_policy() on reload.
 */
int udp_engine_sync(struct udp_engine *e, const struct policy *policy);

/*
 * Switches to `policy` (takes a reference). Every decided session is decided
 * again under it; a session whose outbound would change is ended, so the
 * client's next datagram starts a new session under the new rules even when
 * it reuses the same addresses and ports.
 */
void udp_engine_set_policy(struct udp_engine *e, struct policy *policy);

void udp_engine_stats(const struct udp_engine *e, struct udp_engine_stats *out);

/* --- for inbound and outbound implementations -------------------------------- */

struct ev_loop *udp_engine_loop(const struct udp_engine *e);
const struct policy_settings *udp_engine_settings(const struct udp_engine *e);

/* The outbound finished setting up: flush the queue and start relaying. */
void udp_session_ready(struct udp_session *s);

/* Hands a datagram from the origin to the client (counts it, refreshes idle). */
void udp_session_from_origin(struct udp_session *s, const uint8_t *buf, size_t len);

/* Counts one datagram the outbound had to discard. */
void udp_session_dropped(struct udp_session *s);

/* Ends the session because its upstream failed; logs one line with `why`. */
void udp_session_fail(struct udp_session *s, const char *why);

/* Starts watching `fd` (the session's upstream socket) for replies. */
void udp_session_watch(struct udp_session *s, int fd, void (*cb)(struct ev_loop *, ev_io *, int));

/* One log line at `level` (dropped when the policy's log level is lower). */
void udp_engine_log(const struct udp_engine *e, enum policy_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats "CLIENT -> DST" for log lines. */
const char *udp_session_name(const struct udp_session *s, char buf[2 * FLOW_ADDR_TEXT_MAX + 8]);

extern const struct udp_inbound_ops udp_inbound_tproxy;
extern const struct udp_inbound_ops udp_inbound_redirect;
extern const struct udp_outbound_ops udp_outbound_direct;
extern const struct udp_outbound_ops udp_outbound_socks5;

#endif
