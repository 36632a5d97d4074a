/*
 * flow.h — one intercepted TCP connection, from accept to close. Its code
 * is engine/tcp/flow*.c, a file per part of the way (flow_internal.h).
 *
 * Lifecycle (each step is one phase; a flow only ever moves forward):
 *
 *   CLIENT_HANDSHAKE  explicit-proxy inbounds only (http, socks5): the
 *                     inbound reads its client's request on `client_fd` with
 *                     its own watcher, then names the destination with
 *                     flow_set_dst() or flow_set_dst_host() and calls
 *                     flow_start(). Transparent inbounds set the destination
 *                     and call flow_start() right after flow_new().
 *   SNIFFING          flow_start() first asks policy_decide_early(): when the
 *                     addresses alone decide, no client byte is waited for.
 *                     Otherwise client bytes are read into a buffer bounded
 *                     by sniff.max_bytes and sniff_stream() is called until
 *                     it says DONE (then policy_decide() with what it found),
 *                     or sniff.timeout_ms passes without a client byte (a
 *                     server-first protocol: decided with no name). The
 *                     bytes read are sent upstream before anything else:
 *                     never lost. See "Unfinished first messages" below for
 *                     a client that began and does not finish. A client that
 *                     stayed silent to this destination lately is sniffed
 *                     too, while its upstream is opened ahead: see
 *                     "Connecting ahead" below.
 *   RESOLVING         explicit-proxy flows whose destination is a host name,
 *                     when a rule that can still decide needs the address or
 *                     the outbound needs one (direct; socks5, http without
 *                     send_hostname): engine/core/resolve.h, asynchronous,
 *                     before the decision, so the address connected to is
 *                     the one decided on.
 *   CONNECTING        non-blocking connect of the upstream socket (SO_MARK =
 *                     routing_mark) to what the outbound's `connect` step
 *                     names; bounded by timeouts.connect_ms.
 *   UPSTREAM_HANDSHAKE the outbound's optional `handshake` step on the
 *                     upstream socket (SOCKS5, HTTP CONNECT); same timer.
 *   RELAYING          engine/tcp/relay.h moves bytes both ways until both sides
 *                     are done, an error, or timeouts.tcp_idle_s of silence.
 *
 * A `drop` decision closes the client with a reset (SO_LINGER 0).
 * Every failure closes only this flow, with one log line naming it.
 *
 * Explicit-proxy clients that name their destination by address (SOCKS5
 * ATYP 1 or 4, HTTP CONNECT to an IP literal) are sniffed like transparent
 * ones when the addresses alone do not decide: otherwise a client that
 * resolves a dropped name itself and asks for its address walks around
 * every domain rule. Their inbound answers success at once (SOCKS5 REP 0
 * with the zero bound address 0.0.0.0:0, HTTP 200), since the client sends
 * nothing before it; the flow then sniffs, decides and connects as in
 * SNIFFING above (same timers, same reset of an unfinished first message).
 * From then on the client can no longer get a SOCKS5 or HTTP error code:
 * a drop, a refused or unreachable upstream, a timeout all close it with a
 * reset (`client_answered`). When the addresses alone decide, nothing
 * changes: connect first, then the real reply (the real bound address, or
 * the error code). A client that named a host keeps its name as the
 * flow's host, and is decided and connected on it, as it asked.
 *
 * Names the client gives twice. A client that named a host may still name
 * another in its first message (a TLS SNI, an HTTP Host): CONNECT to a name
 * the policy lets through, then ask the same servers (a CDN) for one it
 * drops. So when some rule looks at names for the flow (it is not decided
 * early) and the origin has not spoken, the client is answered once its
 * upstream is ready, and its first message is read and sniffed, as in
 * SNIFFING (same timers and bound, an unfinished message is reset), before
 * anything of it goes upstream (`checking`). A name that differs from the
 * requested one is decided too; if the policy drops it, both sides are
 * reset and the flow counts as dropped. Otherwise, or when the origin
 * speaks first or the client says nothing until sniff.timeout_ms, the relay
 * begins under the decision already made, the bytes read going first.
 *
 * Resets are passed on: a side that resets (or fails) once the other side is
 * connected — while the upstream is set up (the client is watched for it
 * from RESOLVING on) or while relaying — makes the flow close the other side
 * with a reset too, and the close line says "reset by client" or "reset by
 * upstream". A clean end of stream is passed on as a FIN (half-close).
 *
 * Unfinished first messages. Once the client has sent bytes and the
 * sniffer still wants more of them (a TLS ClientHello, an HTTP head or a
 * DNS query begun), no decision is made without them: sniff.timeout_ms is
 * for clients that say nothing, and a client that trickles its ClientHello
 * past it must not be decided as if it had no name, or a domain rule is
 * walked around by sending slowly. The flow waits on, until the sniffer has
 * its verdict, or sniff.max_wait_ms (counted from the start) passes, the
 * buffer (sniff.max_bytes) fills or the client half-closes first: then it is
 * reset ("incomplete client hello"), unless no rule that could still decide
 * needs a name or protocol (policy_decide_early(), after a reload), when it
 * is decided without them. Bytes the sniffers turn away as none of their
 * protocols are a verdict (UNKNOWN) and decide at once, as before.
 *
 * Connecting ahead. A server-first service (SMTP, SSH) hears nothing from
 * its client until it has spoken, so sniffing it only waits out
 * sniff.timeout_ms. Once a client has stayed silent to a destination until
 * the timeout (engine/tcp/silent_dst.h, keyed by client and destination),
 * its next flows there are still sniffed, but the upstream that the no-name
 * decision names (the timeout's: protocol unknown, no host) is opened at
 * once meanwhile (`ahead`; `phase` is the upstream's while it is set up,
 * SNIFFING again once it is ready). Whoever speaks first settles it:
 *   - the origin (the upstream turns readable, or the outbound's handshake
 *     read past its reply, while no client byte has come): a server-first
 *     service, relayed at once under the no-name decision; its banner waits
 *     for nothing;
 *   - the client: its bytes are sniffed and decided as on any flow. The
 *     upstream opened ahead is kept only when the decision opens that very
 *     one (the same outbound, and no sniffed name for a handshake to carry);
 *     otherwise (another outbound, a drop, a name for socks5/http) it is
 *     closed with a reset, never written to, and the flow goes the decided
 *     way as if nothing had been opened;
 *   - neither, until the timeout: the no-name decision stands, as for any
 *     silent client.
 * So the client's bytes only ever go to an upstream chosen after looking at
 * them, and no client's past silence changes how a flow is decided, only
 * whether its upstream is opened early. A no-name `drop` opens nothing
 * ahead, and an upstream that fails while opened ahead is closed and the
 * flow sniffs on. Until it settles the timer is the sniff timer; the
 * connect timer starts, in full, if the upstream is still being set up then.
 *
 * Ownership: the flow owns both sockets, its buffers, its policy reference
 * and the states its inbound and outbound hang on it (freed through their
 * `free` hooks).
 *
 * Teardown: a flow is one of the core's live objects (engine/core/engine.h)
 * and ends the core's way, in two steps. flow_close() / flow_reset() close
 * it at once: every watcher stopped, the inbound's and outbound's watchers
 * too, both sockets closed, the close line logged. The memory is freed later
 * by the core's reaper, once every callback running now has returned. So
 * `f` stays readable after anything that may close it (flow_start,
 * flow_upstream_ready/failed, flow_close), and closing twice does nothing:
 * code that goes on after such a call asks flow_closed(f), and never starts
 * a watcher on a closed flow. The explicit-proxy inbounds' dialog returns
 * whether it ended the flow (engine/tcp/client_dialog.h).
 */
#ifndef SWITCHYARD_FLOW_H
#define SWITCHYARD_FLOW_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/core/engine.h"
#include "engine/tcp/relay.h"
#include "rules/flow_addr.h"
#include "rules/policy.h"
#include "rules/sniff/sniff.h"

struct listener;
struct outbound_ops;
struct tcp_stage;
struct resolve_query;
struct flow;
struct tally_entry;

/* Connecting ahead (see above): where the upstream opened before the decision is. */
enum flow_ahead {
    FLOW_AHEAD_NONE,    /* nothing opened ahead: the flow is decided, or only sniffing */
    FLOW_AHEAD_OPENING, /* connecting, or in the outbound's handshake */
    FLOW_AHEAD_OPEN,    /* ready and never written to: who speaks first? */
};

enum flow_phase {
    FLOW_CLIENT_HANDSHAKE,
    FLOW_SNIFFING,
    FLOW_RESOLVING,
    FLOW_CONNECTING,
    FLOW_UPSTREAM_HANDSHAKE,
    FLOW_RELAYING,
};

/* Why an upstream could not be had; explicit-proxy inbounds map it to their reply codes. */
enum flow_fail {
    FLOW_FAIL_GENERAL,     /* anything else (SOCKS5 REP 1, HTTP 502) */
    FLOW_FAIL_DENIED,      /* the policy said drop (SOCKS5 REP 2, HTTP 403) */
    FLOW_FAIL_UNREACHABLE, /* no route / host unreachable (SOCKS5 REP 4, HTTP 502) */
    FLOW_FAIL_REFUSED,     /* connection refused (SOCKS5 REP 5, HTTP 502) */
    FLOW_FAIL_TIMEOUT,     /* connect or handshake timed out (SOCKS5 REP 4 / 6, HTTP 504) */
    FLOW_FAIL_RESOLVE,     /* the host name did not resolve (SOCKS5 REP 4, HTTP 502) */
};

/*
 * What an explicit-proxy inbound (http, socks5) needs to hear from its flow:
 * it owes its client an answer once the upstream is known. Transparent
 * inbounds pass NULL to flow_start().
 */
struct flow_client_ops {
    /*
     * The upstream is connected and its handshake done. Queue the success
     * reply with flow_send_to_client() ("HTTP/1.1 200 Connection
     * established", SOCKS5 REP 0); the relay starts right after and sends
     * queued bytes first. Must not close the flow. Also called before any
     * upstream exists (`upstream_fd` -1: no bound address to name) for a
     * destination given by address that must be sniffed first (see
     * "Explicit-proxy clients" above); the flow sends the queued reply at
     * once then, and calls neither hook again.
     */
    void (*upstream_ready)(struct flow *f);

    /*
     * No upstream: the policy dropped it, or connect / resolve / the outbound
     * handshake failed. Write the failure reply directly on `f->client_fd`
     * (one small send(MSG_NOSIGNAL), best effort: a fresh socket has room).
     * The flow closes right after; must not close it itself.
     */
    void (*upstream_failed)(struct flow *f, enum flow_fail fail);

    /*
     * Optional: frees `f->inbound_state`. Called once, by the reaper after
     * the flow closed: the inbound's watchers must be the flow's own
     * (`client_io`, `timer`), which the close stops.
     */
    void (*free)(struct flow *f);
};

struct flow {
    struct engine_live live; /* in the engine's live objects: closed and freed the core's way */
    struct engine *engine;
    struct tcp_stage *tcp; /* the pipe pool, the silent destinations */
    uint64_t id;           /* for log lines: "flow 17" */
    enum flow_phase phase;
    ev_tstamp started;

    /* Where it came from. */
    char *inbound; /* inbound name, own copy */
    enum inbound_type inbound_type;
    struct flow_addr src;         /* the client */
    struct flow_addr dst;         /* original destination; family 0 while only a host is known */
    char *host;                   /* host name for the rules: given by an explicit-proxy
                                     client, else sniffed; NULL when none */
    bool dst_is_host;             /* the client named a host, not an address (`dst` is
                                     filled once resolved) */
    uint16_t dst_port;            /* the destination port (also when only a host is known) */
    enum sniff_protocol protocol; /* SNIFF_PROTO_NONE while not sniffed */
    bool checking;                /* a named flow's first message is looked at (flow_check.c) */
    char *other_host;             /* the name that message gives, when not `host` */

    /* The decision. */
    struct policy *policy; /* the policy it was decided under (own reference) */
    struct policy_decision decision;
    const struct outbound_ops *outbound;
    enum flow_ahead ahead;     /* while not NONE, `decision` is the no-name one, not yet taken */
    struct tally_entry *tally; /* the decision's counters (engine/core/tally.h), once final */

    /* Client side. */
    int client_fd;
    bool client_eof;   /* the client half-closed before the relay began */
    bool client_reset; /* closed by flow_reset() or the upstream's reset: the client sees a reset */
    bool client_answered; /* explicit proxy: told success before sniffing; failures reset it */
    ev_io client_io;      /* client readable: the inbound's handshake, sniffing, then a reset
                             while the upstream is set up */
    uint8_t *early;       /* client bytes read before the relay (sniffed or handed over) */
    size_t early_len, early_cap;
    uint8_t *to_client; /* bytes for the client before relayed ones (replies, extra) */
    size_t to_client_len;
    /* Explicit-proxy inbounds set these two right after flow_new(), before
     * anything can fail, so that flow_close() frees their state on every
     * path; transparent inbounds leave them NULL. */
    const struct flow_client_ops *client_ops;
    void *inbound_state;

    /* Upstream side. */
    int upstream_fd;
    bool upstream_reset;                   /* the client reset: the upstream sees a reset too */
    ev_io upstream_io;                     /* connecting: upstream writable */
    struct sockaddr_storage upstream_addr; /* what the connect step chose */
    socklen_t upstream_addr_len;
    void *outbound_state;            /* the outbound handshake's own state */
    struct resolve_query *resolving; /* while RESOLVING */

    ev_timer timer;     /* client handshake, sniff, then connect + handshake timeout */
    struct relay relay; /* RELAYING */
};

/* Largest `to_client` queue (replies and bytes read past an upstream handshake). */
#define FLOW_TO_CLIENT_MAX 65536

/*
 * Creates a flow for the connection `client_fd` (owned by the flow from now
 * on, also on failure) accepted on `l` from `src`. The flow is linked into
 * the engine and in phase CLIENT_HANDSHAKE; nothing is watched yet.
 * Returns NULL (the socket reset and closed) when out of memory.
 */
struct flow *flow_new(struct listener *l, int client_fd, const struct flow_addr *src);

/* The destination is an address (transparent inbounds, SOCKS5 by IP). */
void flow_set_dst(struct flow *f, const struct flow_addr *dst);

/*
 * The destination is a host name and port (SOCKS5 ATYP 3, HTTP CONNECT
 * host:port, absolute-form requests). The name becomes the flow's host for
 * the rules (lowercased, a trailing dot removed; a sniffed name never
 * replaces it); `dst` stays without an address until flow_start() resolves
 * it (see RESOLVING). A numeric spelling (IPv4 as inet_aton(3) reads it,
 * "127.1", "2130706433"; IPv6, an IPv4-mapped one made IPv4) is taken as
 * flow_set_dst(). Returns 0, or -1 when out of memory or the name is no host
 * name (empty, longer than SNIFF_HOST_MAX - 1, a byte other than letters,
 * digits, '-', '.', '_'): the inbound refuses the request.
 */
int flow_set_dst_host(struct flow *f, const char *host, uint16_t port);

/*
 * Decides and connects. `early`/`len` are client bytes already read past the
 * inbound's own handshake (copied; they go upstream first).
 *
 * Transparent flows (f->client_ops NULL) may wait for client bytes to sniff
 * (see the lifecycle above). Explicit-proxy flows whose client named a host
 * never wait for client bytes: they are decided with what the request said
 * (the host name, resolved first when a rule that can still decide needs
 * the address; the protocol sniffed from `early` when there are such bytes,
 * else SNIFF_PROTO_NONE). Those given an address are decided at once when
 * the addresses alone decide, or when `early` already holds a whole first
 * message; otherwise their client is answered success and they are sniffed
 * (see "Explicit-proxy clients" above). Their destination is refused (as
 * the policy's drop is answered) when it is an unspecified address or one
 * of switchyard's own listeners (engine_dst_is_listener: any local address
 * on the port of any listener, TCP or UDP), also once resolved; that is
 * checked before anything else.
 *
 * From here the flow watches its sockets itself; an explicit-proxy inbound
 * must have stopped its watchers first (client_io, timer). May close the
 * flow before returning (a `drop` decided at once): see flow_closed().
 */
void flow_start(struct flow *f, const uint8_t *early, size_t len);

/*
 * Outbound handshake results (engine/tcp/outbound.h). `extra` holds bytes the
 * handshake read past its own reply (the origin already speaking); they go to
 * the client first (copied). Both call the outbound's handshake_free first,
 * so the handshake's callback must return right after without touching its
 * own state; they may close the flow (`f` itself stays readable).
 */
void flow_upstream_ready(struct flow *f, const uint8_t *extra, size_t len);
void flow_upstream_failed(struct flow *f, enum flow_fail fail, const char *reason);

/* Queues bytes for the client ahead of the relay. Returns 0, -1 past FLOW_TO_CLIENT_MAX. */
int flow_send_to_client(struct flow *f, const void *data, size_t len);

/*
 * Closes the flow: stops every watcher, frees the outbound's state, closes
 * both sockets and logs the close line (when log.flows); the reaper frees
 * the rest later (see Teardown above). `reason` is a short text for the log
 * ("done", "idle timeout", "upstream refused", ...). Safe from any phase,
 * from inside any of the flow's own callbacks, and on a closed flow (then it
 * does nothing).
 */
void flow_close(struct flow *f, const char *reason);

/* Like flow_close, but the client sees a reset (SO_LINGER 0): drop, malformed requests. */
void flow_reset(struct flow *f, const char *reason);

/* True once the flow is closed; `f` is still readable until the current callback returns. */
static inline bool flow_closed(const struct flow *f)
{
    return engine_live_closed(&f->live);
}

/* The flow that `o` is, or NULL when `o` is another kind of live object (a UDP session). */
struct flow *flow_of_live(struct engine_live *o);

/* Short names for log lines. */
const char *flow_phase_name(enum flow_phase phase);
const char *flow_fail_name(enum flow_fail fail);

#endif
