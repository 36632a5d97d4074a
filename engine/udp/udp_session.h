/*
 * udp_session.h — UDP sessions: one per (client address, original
 * destination), created on the client's first datagram, classified and
 * decided once, relayed both ways, ended after an idle timeout.
 *
 * A session whose client began a message that names a host (a QUIC
 * ClientHello split over several Initials) is decided by that name or not
 * at all: past sniff.timeout_ms it waits on for the rest, until
 * sniff.max_wait_ms; a ClientHello that never comes whole (that time, the
 * classifier's bounds, conflicting data) ends the session, none of its
 * datagrams sent on, unless no rule that could still decide needs a name.
 *
 * While a session is being classified or its upstream set up, a bounded
 * number of datagrams wait in a queue (per session, and limits.udp_queue_bytes
 * over all sessions); beyond it they are dropped and counted. A session
 * charges its outbound's sockets to the core's descriptor budget
 * (engine/core/engine.h) while it holds them; one the budget cannot carry
 * ends before opening them (counted). At most `limits.udp_sessions` sessions exist in the
 * process (every worker's counted together); a new one evicts the least recently active of its
 * worker's, or, when its worker has none, passes the limit by that one: so the process holds at
 * most one session a worker over the limit, and the kernel's uneven spread of clients over the
 * workers never evicts before the limit. A session ends in one place, udp_session_end(), by the
 * core's teardown protocol (closed at once, freed later); the outbound types
 * (engine/udp/udp_outbound.h) end theirs through udp_session_fail().
 */
#ifndef SWITCHYARD_UDP_SESSION_H
#define SWITCHYARD_UDP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <uthash.h>

#include "engine/core/engine.h"
#include "engine/udp/udp_session_table.h"
#include "rules/flow_addr.h"
#include "rules/policy.h"
#include "rules/sniff/sniff.h"

/* Datagrams queued per session while it is not ready, and their bytes. */
#define UDP_QUEUE_MAX 32
#define UDP_QUEUE_BYTES (256 * 1024)

struct udp_engine;
struct udp_listener;
struct udp_outbound_ops;

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
    struct engine_live live; /* the core's teardown protocol (engine/core/engine.h) */
    struct udp_key key;
    struct udp_engine *engine;
    uint64_t id; /* counted from 1 in the UDP engine, named in log lines */
    struct udp_listener *listener;
    struct flow_addr dst; /* the original destination */
    enum udp_session_state state;

    struct policy *policy; /* the policy that decided (one reference) */
    struct policy_decision decision;
    struct tally_entry *tally;     /* the first decision's counters (engine/core/tally.h) */
    struct sniff_datagram *sniff;  /* the classifier, while classifying */
    struct sniff_result *sniffing; /* what it found so far, while classifying */
    enum sniff_protocol protocol;  /* once decided: what it found */
    char *host;                    /* once decided: the name it found (own copy), or NULL */
    bool hello_begun; /* the classifier waits for the rest of a first message (NEED_MORE) */
    bool sniff_late;  /* past sniff.timeout_ms, waiting on until sniff.max_wait_ms */
    double idle_s;
    ev_tstamp started; /* the first datagram */
    ev_tstamp last_active;
    uint64_t bytes_up, bytes_down; /* payload sent on upstream (once queued) / to the client */
    ev_timer timer;                /* sniff timeout, then idle expiry */

    const struct udp_outbound_ops *out;
    int fd;                    /* the upstream UDP socket, -1 when none */
    uint32_t fd_mark;          /* the SO_MARK it was opened with */
    struct flow_addr upstream; /* its local address (a hash key), once watched */
    bool upstream_indexed;     /* in the table's upstream index */
    unsigned fds_charged;      /* descriptors charged to the budget for the outbound */
    ev_io io;                  /* readable upstream */
    void *out_state;

    struct udp_queued *queue, **queue_tail;
    size_t queued, queued_bytes;

    UT_hash_handle hh;               /* udp_session_table: by key */
    UT_hash_handle hh_up;            /* udp_session_table: by upstream socket address */
    struct udp_session *prev, *next; /* udp_session_table: by activity */
};

/*
 * Starts a session for the first datagram from `key` on listener `l`, bound
 * for `dst`: decides at once when addresses and ports suffice, or starts
 * classifying. Evicts the least recently active session when the table is
 * full. Returns the session, which may be closed already (its upstream
 * failed at once: ask udp_session_closed()), or NULL when out of memory.
 */
struct udp_session *udp_session_new(struct udp_listener *l, const struct udp_key *key,
                                    const struct flow_addr *dst);

/* One datagram from the session's client: classify, queue or send it on. */
void udp_session_from_client(struct udp_session *s, const uint8_t *buf, size_t len);

/*
 * Ends the session, counting it in `counter` when not NULL: it is closed at
 * once and freed by the core after the running callbacks return. Ending a
 * closed session does nothing.
 */
void udp_session_end(struct udp_session *s, uint64_t *counter);

/* True once the session has ended; its memory stays valid until the running callbacks return. */
bool udp_session_closed(const struct udp_session *s);

/*
 * A reload made `policy` current. A decided session is decided again under
 * it and ended (counted as redecided) when its outbound would change: another
 * outbound, or the same name defined otherwise (type, server, credentials,
 * udp, send_hostname). A session still classifying takes a reference on
 * `policy` and drops its old one: it is decided under the new policy.
 */
void udp_session_redecide(struct udp_session *s, struct policy *policy);

/* --- for outbound types ------------------------------------------------------- */

/* The outbound finished setting up: flush the queue and start relaying. */
void udp_session_ready(struct udp_session *s);

/* Hands a datagram from the origin to the client (counts it, refreshes idle). */
void udp_session_from_origin(struct udp_session *s, const uint8_t *buf, size_t len);

/* Counts one datagram the outbound had to discard. */
void udp_session_dropped(struct udp_session *s);

/* Ends the session because its upstream failed; logs one line with `why`. */
void udp_session_fail(struct udp_session *s, const char *why);

/*
 * Starts watching `fd` (the session's upstream socket, now the session's):
 * each datagram read from it goes to the outbound's `receive` hook. Indexes
 * the session by the socket's local address: a datagram from that address
 * reaching a listener is switchyard's own, never a new session.
 */
void udp_session_watch(struct udp_session *s, int fd);

/* The session `o` is, or NULL when `o` is another kind of live object (a TCP flow). */
struct udp_session *udp_session_of_live(struct engine_live *o);

/* The protocol the classifier found so far (SNIFF_PROTO_NONE: nothing yet, or not asked). */
enum sniff_protocol udp_session_protocol(const struct udp_session *s);

/* The host name the classifier found so far; NULL when none. */
const char *udp_session_host(const struct udp_session *s);

/* Formats "CLIENT -> DST" for log lines. */
const char *udp_session_name(const struct udp_session *s, char buf[2 * FLOW_ADDR_TEXT_MAX + 8]);

#endif
