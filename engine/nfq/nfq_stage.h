/*
 * nfq_stage.h — the dynamic fast path's queue as a stage of the core: with
 * `fast_path: dynamic` switchyard binds NFQUEUE POLICY_FAST_QUEUE and
 * answers every packet the firewall offers there (the first packet of a
 * new flow, engine/firewall/firewall.h) on the loop: DIRECT or STEER as the
 * packet mark, which the firewall keeps in the conntrack mark, or REJECT,
 * which the firewall's chain `refuse` turns into a TCP reset or a drop
 * (engine/nfq/nfq_verdict.h decides). A reload changes the answer for the
 * next packet; a policy without `fast_path: dynamic` unbinds the queue, and
 * the firewall's bypass then lets new flows through. What it answered is
 * counted and logged when the queue closes.
 */
#ifndef SWITCHYARD_NFQ_STAGE_H
#define SWITCHYARD_NFQ_STAGE_H

#include <stdbool.h>
#include <stdint.h>

struct engine;

/* Packets answered since switchyard started, by answer, and what went wrong. */
struct nfq_stats {
    uint64_t direct, dropped, steered;
    uint64_t send_failed; /* a verdict could not be sent */
    /* Read from the kernel while the queue is bound (else 0): packets it dropped for want of
     * room, in the queue and in switchyard's socket, since the queue was bound. */
    uint64_t queue_full, socket_full;
    bool bound; /* the queue is bound now */
};

/*
 * Adds the stage to `e` and, when the policy says `fast_path: dynamic`,
 * binds the queue. Returns 0, or -errno (logged) when the queue cannot be
 * bound (another process holds it, or the kernel has no nfnetlink_queue).
 */
int nfq_stage_add(struct engine *e);

/* What the queue answered and dropped so far, in `*out`; false when `e` has no such stage. */
bool nfq_stage_stats(const struct engine *e, struct nfq_stats *out);

#endif
