/*
 * engine.h — the run-time context of the daemon: one per process, created by
 * `switchyard run` and passed to everything that moves bytes.
 *
 * What it holds
 * - the libev loop every watcher runs on;
 * - the current policy. A reload (engine/core/reload.c) loads a new policy and
 *   swaps it in with engine_set_policy(); flows and sessions keep the policy
 *   they were decided under by holding their own policy_ref(), so nothing
 *   decided earlier changes under their feet. New flows call
 *   engine_policy() at the moment they decide;
 * - the stages (engine/tcp, engine/udp), each registered as a table of hooks
 *   the core calls at fixed moments (below). The core includes nothing from
 *   a stage: it knows a stage only by its hooks;
 * - the live objects (TCP flows, and whatever else a stage wants counted,
 *   closed at shutdown and freed later), the flow limit, and the reaper that
 *   frees closed objects once no callback of theirs can still be running;
 * - the descriptor budget (below, "descriptors") that every stage charges;
 * - counters, read by logs and benchmarks.
 *
 * How to obtain things
 * - the loop: `engine->loop`;
 * - the current policy and its settings: engine_policy(), engine_settings();
 *   both are borrowed pointers valid until the next reload: take
 *   policy_ref() to keep a policy past the current callback;
 * - a stage's own state: engine_stage_data();
 * - the routing mark for an outgoing socket: engine_settings(e)->routing_mark
 *   (engine/core/sockopt.h sets it).
 *
 * Inbound types register in the table of engine/tcp/listener.c, outbound types in
 * the table of engine/tcp/outbound.c; both are described in their headers.
 *
 * One engine per worker (engine/core/workers.h): the main thread's engine is
 * worker 0 and has every stage; the other workers' engines have the TCP and
 * UDP stages only, and listen on the socket inbounds alone (not tun). Every
 * engine is single-threaded: every function here runs on its loop's thread,
 * and nothing in it is shared with another engine but the policy (which is
 * never written once loaded) and the log (engine/core/log.h).
 */
#ifndef SWITCHYARD_ENGINE_H
#define SWITCHYARD_ENGINE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/core/fd_budget.h"
#include "engine/core/sockopt.h"
#include "engine/core/tally.h"
#include "rules/policy.h"
#include "rules/util.h"

struct engine;
struct engine_listening;
struct listener;
struct workers;

/* --- listeners ----------------------------------------------------------------------
 *
 * One reconcile, engine_sync(), keeps the listening sockets of every network
 * in step with the policy's inbounds: at start and after every reload, an
 * inbound whose (network, type, address) is already listening keeps its
 * listener (and so its queue, flows and sessions), only its entry (the
 * name) is updated; listeners no longer configured are closed first (a new
 * one may take their port), then the new ones opened. Errors are logged
 * one line each. A stage that listens gives these hooks for its network.
 */
struct engine_listen_ops {
    unsigned network; /* POLICY_TCP or POLICY_UDP: inbounds with it in `networks` */

    /*
     * Opens a listener for `in` and returns the stage's own handle in `*out`.
     * Returns 0, -EPROTONOSUPPORT when this build has no listener of that
     * type on this network, or another -errno.
     */
    int (*open)(struct engine *e, void *data, const struct policy_inbound *in, void **out);

    /*
     * The listener stays across a reload; `in` is its new entry (the name
     * may differ: engine_listener_rename() keeps a copy of it).
     */
    void (*update)(void *listener, const struct policy_inbound *in);

    /* Closes the listener (what it accepted lives on or ends, as the stage says). */
    void (*close)(void *listener);

    /* Optional: whether the stage takes `in` at all (NULL: every inbound on `network`). */
    bool (*takes)(const struct policy_inbound *in);
};

/* --- stages ----------------------------------------------------------------------
 *
 * A stage (engine/tcp, engine/udp) gives the core a table of hooks with
 * engine_stage_add() and its own state as `data`. The core calls the hooks
 * at the moments written below, stage after stage in the order they were
 * added, handing `data` back. Every hook is optional (NULL: nothing to do).
 */
struct engine_stage_ops {
    const char *name; /* "tcp", "udp" */

    /* The stage's listeners, reconciled by engine_sync() (above). */
    const struct engine_listen_ops *listen;

    /*
     * engine_set_policy() made a new policy current (a reload), before the
     * next sync: decide again what follows the current policy (UDP sessions).
     * The previous policy is still alive during the call.
     */
    void (*policy_changed)(struct engine *e, void *data);

    /*
     * Stop / start accepting new connections: the live objects that count
     * toward the limit reached max_flows, or the descriptor budget cannot
     * carry one more busy flow / both are below again. A listener opened
     * while paused (e->accept_paused_by_limit) starts paused.
     */
    void (*pause)(struct engine *e, void *data);
    void (*resume)(struct engine *e, void *data);

    /*
     * The descriptor budget runs low: close about `want` descriptors the
     * stage keeps idle (pooled pipes), giving them back to the budget.
     */
    void (*trim)(struct engine *e, void *data, unsigned want);

    /*
     * Descriptor pressure (EMFILE/ENFILE) seen anywhere (engine_backoff()):
     * stop accepting for a while, as if accept itself had failed with `err`.
     */
    void (*backoff)(struct engine *e, void *data, int err);

    /* Shutdown, first step: close the listening sockets. Live objects are still open. */
    void (*shutdown)(struct engine *e, void *data);

    /* Shutdown, last step: every live object is closed and freed; free `data`. */
    void (*free)(struct engine *e, void *data);
};

#define ENGINE_STAGES_MAX 6

struct engine_stage {
    const struct engine_stage_ops *ops;
    void *data;
};

/* --- live objects and the teardown protocol ----------------------------------------
 *
 * Anything with sockets and watchers that lives past the callback that made
 * it (a TCP flow, a UDP session) embeds a `struct engine_live` and is added
 * with engine_live_add(). It then ends in two steps, never one:
 *
 *   close   engine_live_close(): the object is marked closed, its `close`
 *           hook runs (stop every watcher, close the sockets, log the close
 *           line), then it is unlinked (counted out of the limit). Its memory
 *           stays. Closing twice does nothing, so every path may close.
 *   free    the core's reaper (an ev_prepare watcher, run before the loop
 *           next waits, i.e. after every callback running now has returned)
 *           calls the `free` hook, which frees the memory.
 *
 * So a callback may close its own object, or have it closed under it by
 * whatever it calls, and still read the object afterwards (to see
 * engine_live_closed()): no callback ever runs on freed memory, and none
 * starts on a closed object since its watchers are stopped. A callback that
 * may end its own object says so in its return value
 * (engine/tcp/client_dialog.h), and code that goes on after a call that may
 * close asks engine_live_closed() before starting anything.
 */
struct engine_live;

struct engine_live_ops {
    bool limited; /* counts toward max_flows (TCP flows) */
    unsigned fds; /* descriptors charged to the budget from add to close */
    /* Called once by engine_live_close(): stop, close, log; must not free `o`. */
    void (*close)(struct engine_live *o, const char *reason);
    /* Called once by the reaper, after `close`: free the memory. */
    void (*free)(struct engine_live *o);
};

struct engine_live {
    struct engine *engine;
    const struct engine_live_ops *ops;
    struct engine_live *next, *prev; /* the live list; `next` links the reap queue once closed */
    bool closed;
};

/* Counters since start. Plain integers: one thread (each worker has its own). */
struct engine_counters {
    uint64_t flows_accepted;  /* TCP connections accepted on any inbound */
    uint64_t flows_refused;   /* refused: addressed to the listener, over the limit, no dst */
    uint64_t flows_closed;    /* flows freed */
    uint64_t flows_dropped;   /* decided `drop` */
    uint64_t upstream_failed; /* connect or outbound handshake failed */
    uint64_t bytes_up;        /* client → upstream, relayed */
    uint64_t bytes_down;      /* upstream → client, relayed */
    uint64_t udp_bytes_up;    /* UDP payload sent upstream by sessions that ended */
    uint64_t udp_bytes_down;  /* UDP payload handed back to clients by sessions that ended */
    uint64_t accept_paused;   /* times accepting stopped: EMFILE/ENFILE, flow or descriptor limit */
    uint64_t reloads;         /* successful reloads */
    uint64_t reloads_failed;  /* reloads that kept the old policy */
};

/* Adds every counter of `k` to `sum` (the workers' counters summed). */
void engine_counters_add(struct engine_counters *sum, const struct engine_counters *k);

struct engine {
    struct ev_loop *loop;
    unsigned index;          /* the worker this engine is: 0 for the main thread's */
    unsigned count;          /* workers in the process: limits are split between them */
    struct workers *workers; /* worker 0's view of the others (workers.h), NULL when alone */
    struct engine *first;    /* worker 0's engine (`e` itself on worker 0), set before any stage */
    /* Worker 0's, kept by every worker (atomic): the limits hold for the process. */
    _Atomic unsigned flows_all; /* live objects that count toward max_flows, on every worker */
    _Atomic unsigned fds_all;   /* descriptors charged to every worker's budget */
    _Atomic unsigned udp_sessions_all; /* UDP sessions open on every worker */
    struct policy *policy;             /* current; owns one reference */
    struct policy *previous; /* the one before, kept until engine_sync() is done; or NULL */
    struct engine_stage stages[ENGINE_STAGES_MAX];
    size_t nstages;
    struct engine_listening *listening; /* every network's open listeners (engine_sync.c) */
    struct listener *listeners;         /* the TCP stage's open listeners (engine/tcp/listener.c) */
    struct engine_live *live;           /* live objects, linked by next / prev */
    struct engine_live *dead;           /* closed, waiting for the reaper, linked by next */
    ev_prepare reaper;                  /* frees `dead` before the loop next waits */
    unsigned flow_count;                /* live objects that count toward the limit (TCP flows) */
    unsigned max_flows;      /* limits.max_flows, or from RLIMIT_NOFILE: for the whole process */
    unsigned max_handshakes; /* limits.max_handshakes, or max_flows / 8 */
    struct fd_budget fds;    /* the descriptor budget (below) */
    bool accept_paused_by_limit; /* stages paused: max_flows, or the budget is low */
    bool checking_limits;        /* inside the pause/resume check (trims re-enter it) */
    ev_tstamp limit_logged;      /* when a pause at a limit was last logged */
    ev_timer limit_recheck;      /* while paused: re-read RLIMIT_NOFILE now and then */
    uint64_t next_flow_id;       /* flow ids start at 1, for log lines */
    struct engine_counters counters;
    struct tally tally; /* flows and sessions by inbound, outbound and rule (tally.h) */
};

/*
 * Sets up `e` around `loop`, taking over the caller's reference on `policy`.
 * Raises the soft RLIMIT_NOFILE to the hard limit, sizes the descriptor budget
 * from it, and max_flows (unless the policy's limits.max_flows is set) and
 * max_handshakes from that. Has no stage: add them with
 * engine_stage_add(), then open their listeners with engine_sync().
 * Returns 0, or -errno.
 */
int engine_init(struct engine *e, struct ev_loop *loop, struct policy *policy);

/*
 * engine_init() for worker `index` of `count`, `first` being worker 0's
 * engine (NULL for worker 0 itself). The flow limit and the descriptor
 * budget hold for the whole process: every worker counts its flows and
 * descriptors into worker 0's `flows_all` and `fds_all` too, and pauses
 * when those reach the limit (a worker checks before each accept, so the
 * process passes max_flows by at most one flow a worker; a worker paused
 * by another's flows resumes at its next check, within LIMIT_RECHECK_S);
 * limits.max_handshakes and limits.udp_sessions are the process's too
 * (engine/tcp/tcp_stage.h, engine/udp/udp_session.h); the UDP queue and reply
 * socket allowances are split (engine_share()). Flow and session ids are unique across the workers
 * (engine_id()), and with more than one worker every listener takes
 * SO_REUSEPORT, so the kernel spreads connections and datagrams over them
 * by their addresses. Log settings are applied by worker 0 alone.
 */
int engine_init_worker(struct engine *e, struct ev_loop *loop, struct policy *policy,
                       struct engine *first, unsigned index, unsigned count);

/*
 * Before accepting: whether the process can take one more flow now (the
 * limits above). When it cannot, this worker's stages are paused, as at
 * its own limit, and resumed once flows or descriptors are given back.
 */
bool engine_accepting(struct engine *e);

/* How this worker's listener for `in` shares its address (engine/core/sockopt.h): a tun
 * inbound's listeners are worker 0's alone. */
static inline enum sockopt_share engine_listen_share(const struct engine *e,
                                                     const struct policy_inbound *in)
{
    return e->count < 2 || in->type == INBOUND_TUN ? SOCKOPT_SHARE_NONE
           : e->index == 0                         ? SOCKOPT_SHARE_FIRST
                                                   : SOCKOPT_SHARE_JOIN;
}

/* The device a listener for `in` is bound to: a tun inbound's own, so that only what came in
 * through it reaches the listener (the tun stage opened it first); NULL for the others. */
static inline const char *engine_listen_device(const struct policy_inbound *in)
{
    return in->type == INBOUND_TUN ? in->tun.device : NULL;
}

/*
 * This worker's share of a limit the policy sets for the whole process: the
 * shares add up to `whole` (the first workers take one more when it does not
 * divide), and none is below 1.
 */
static inline unsigned engine_share(const struct engine *e, unsigned whole)
{
    unsigned n = e->count > 1 ? whole / e->count + (e->index < whole % e->count) : whole;
    return n ? n : 1;
}

/* The `n`th id this worker gives (n from 1): distinct from every other worker's. */
static inline uint64_t engine_id(const struct engine *e, uint64_t n)
{
    return e->count > 1 ? (n - 1) * e->count + e->index + 1 : n;
}

/*
 * Shuts down: every listener closed, every stage's `shutdown` hook, every live
 * object closed with reason "shutdown" and freed, every stage's `free` hook,
 * and the policy reference dropped.
 */
void engine_fini(struct engine *e);

/* The current policy: borrowed, valid until the next engine_set_policy(). */
static inline struct policy *engine_policy(const struct engine *e)
{
    return e->policy;
}

static inline const struct policy_settings *engine_settings(const struct engine *e)
{
    return policy_settings(e->policy);
}

/*
 * Makes `policy` the current one, taking over the caller's reference, calls
 * every stage's `policy_changed` hook and applies the new log level and
 * flow limit. Listeners are not touched: the caller runs engine_sync() next.
 * The engine's reference on the previous policy is kept in `previous` until
 * that sync is done (the listeners read their entries in it until then),
 * then dropped (flows that hold their own reference keep it alive).
 */
void engine_set_policy(struct engine *e, struct policy *policy);

/*
 * Adds a stage: its hooks are called from now on, with `data`. Returns 0, or
 * -ENOSPC past ENGINE_STAGES_MAX (the stage is not added; `data` stays the
 * caller's to free).
 */
int engine_stage_add(struct engine *e, const struct engine_stage_ops *ops, void *data);

/*
 * Adds a stage whose `data` was just allocated, handing it over for good:
 * NULL (the allocation failed) gives -ENOMEM, and when the stage cannot be
 * added its free hook is called on `data`. Returns 0 or that -errno.
 */
int engine_stage_adopt(struct engine *e, const struct engine_stage_ops *ops, void *data);

/* The `data` the stage with `ops` was added with, or NULL when it was not added. */
void *engine_stage_data(const struct engine *e, const struct engine_stage_ops *ops);

/*
 * A listener's own copy of its inbound's name (the policy's entry goes with
 * its policy) made the name `to`: `*name` is replaced by a copy of it, or,
 * out of memory, stays as it was.
 */
void engine_listener_rename(char **name, const char *to);

/*
 * Makes every stage's listeners follow engine_policy(e) (see "listeners"
 * above). Returns how many inbounds could not be opened (each logged), or
 * -ENOMEM when it could not start (nothing changed: the listeners still
 * read their entries in the previous policy).
 */
int engine_sync(struct engine *e);

/*
 * True when `dst` is a local address on the port of any listener open now,
 * TCP or UDP (engine/core/self_dst.h). Nothing switchyard relays may go
 * there: it would come back as a new flow or session, one datagram turned
 * into as many as the loop can carry. The UDP sessions and the direct UDP
 * outbound refuse such destinations whatever the inbound reported.
 */
bool engine_dst_is_listener(const struct engine *e, const struct flow_addr *dst);

/* Closes every listener of every stage (shutdown). */
void engine_unlisten_all(struct engine *e);

/* Descriptor pressure outside accept (an upstream socket or a pipe could not be
 * made): runs every stage's `backoff` hook with `err` (EMFILE or ENFILE). */
void engine_backoff(struct engine *e, int err);

/*
 * Adds `o` (embedded in its owner, zeroed or not) to the live objects, with
 * `ops`, charging its `fds` to the budget until it closes. An object of a
 * `limited` kind that brings flow_count to max_flows pauses every stage;
 * closing one below it resumes them.
 */
void engine_live_add(struct engine *e, struct engine_live *o, const struct engine_live_ops *ops);

/*
 * Closes `o` (see the teardown protocol above): its `close` hook runs now
 * with `reason`, its `free` hook later from the reaper. Does nothing when
 * `o` is closed already.
 */
void engine_live_close(struct engine_live *o, const char *reason);

/* True once `o` is closed: its memory is valid until the callbacks running now return. */
static inline bool engine_live_closed(const struct engine_live *o)
{
    return o->closed;
}

/*
 * Frees every closed object now, as the reaper does before the loop waits.
 * For code that runs the loop by hand (tests) or has stopped it (shutdown);
 * never from a callback of an object that may be closed.
 */
void engine_reap(struct engine *e);

/* --- descriptors ----------------------------------------------------------------------
 *
 * One budget (engine/core/fd_budget.h), `e->fds`, sized from the soft
 * RLIMIT_NOFILE (raised to the hard limit at start and at every reload, and
 * re-read before every accept batch and every second while paused, so a
 * limit lowered from outside with prlimit is followed). Every stage charges
 * what it holds while it holds it:
 *   - a TCP flow ENGINE_FLOW_FDS from accept to close: its client socket
 *     and the upstream socket it will open, charged ahead so that its
 *     connect never fails for want of a descriptor;
 *   - a splice pipe its two ends while a relay borrows it or the pool keeps
 *     it idle; a relay that cannot get one copies through a buffer, and
 *     idle pipes are closed (the stages' `trim` hook) when the budget runs
 *     low, before anything is refused;
 *   - a UDP session the upstream sockets of its outbound (1 direct, 2
 *     socks5), a TPROXY reply socket its one; a session the budget cannot
 *     carry is not started (the datagram is dropped and counted), a reply
 *     socket that cannot be had takes the place of the least recently used.
 * The listeners accept only while the budget can carry one more flow at its
 * busiest (ENGINE_FLOW_FDS_BUSY): below that every stage is paused (as at
 * max_flows) and resumed once enough is given back, so running out of
 * descriptors is a pause, not accepted connections failing with EMFILE.
 * What nobody charges (stdio, the loop, listeners, the resolver's threads)
 * lives in the reserve, FD_BUDGET_RESERVED.
 */

/* Descriptors a TCP flow charges from accept to close: client and upstream sockets. */
#define ENGINE_FLOW_FDS 2
/* A busy flow: its sockets and a pipe (two ends) each way. */
#define ENGINE_FLOW_FDS_BUSY (ENGINE_FLOW_FDS + 2 * 2)
/*
 * Sizing the flow limit when limits.max_flows is not set: the budget
 * divided by 3, two sockets and on average one pipe end in flight. The
 * budget, not this count, is what bounds the descriptors.
 */
#define ENGINE_FDS_PER_FLOW 3

/* Re-reads the soft RLIMIT_NOFILE into the budget (pausing or resuming as it now allows). */
void engine_fds_refresh(struct engine *e);

#endif
