/*
 * fd_budget.h — the process's descriptor budget: how many descriptors the
 * stages may hold at once, and how many they hold now.
 *
 * The budget is the soft RLIMIT_NOFILE less a reserve for what nobody
 * charges (stdio, the event loop's own descriptors, listeners, the
 * resolver's helper threads). Everything that holds descriptors for a flow
 * or a session charges them here while it holds them and gives them back
 * when it closes them: a TCP flow its two sockets, a splice pipe its two
 * ends (whether a relay borrows it or the pool keeps it idle), a UDP
 * session its upstream sockets, a TPROXY reply socket its one. So the
 * count is what is open, and running out shows here first, before a
 * socket() or pipe2() fails with EMFILE.
 *
 * Two ways to charge: fd_budget_take() asks (and may be refused, after the
 * owner's `trim` hook gave back what it keeps idle), for what can do
 * without (a pipe: the relay copies through a buffer instead);
 * fd_budget_charge() always counts, for descriptors that exist already or
 * were promised by an admission check (a flow the listener accepted because
 * the budget could carry it).
 *
 * Pure counting: no event loop, no syscall but getrlimit in
 * fd_budget_refresh(). Each worker (engine/core/workers.h) has its own
 * budget, used from its thread alone; with a `pool` they also keep one
 * process-wide count together, which is what they are measured against.
 */
#ifndef SWITCHYARD_FD_BUDGET_H
#define SWITCHYARD_FD_BUDGET_H

#include <stdbool.h>

/* Descriptors kept aside for what is not charged (see above). */
#define FD_BUDGET_RESERVED 64

struct fd_budget {
    unsigned limit; /* the soft RLIMIT_NOFILE, as last read */
    unsigned size;  /* what may be charged: limit less the reserve */
    unsigned used;  /* charged now; may exceed `size` after the limit was lowered */
    /* Optional: the count every worker's budget charges besides its own `used`
     * (the descriptors are the process's): what is left is `size` less it. */
    _Atomic unsigned *pool;
    /* Optional: give back idle descriptors (pooled pipes), about `want` of them;
     * called when a take would be refused or fd_budget_trim() asks. */
    void (*trim)(void *ctx, unsigned want);
    /* Optional: `used` or `size` changed (the owner may pause or resume). */
    void (*changed)(void *ctx);
    void *ctx;
};

/* Sizes `b` for a soft limit of `limit` descriptors (see fd_budget_size_for). */
void fd_budget_set_limit(struct fd_budget *b, unsigned limit);

/* What a soft limit of `limit` leaves to charge: limit less FD_BUDGET_RESERVED,
 * or half of it when the limit is under twice the reserve. */
unsigned fd_budget_size_for(unsigned limit);

/* Re-reads the soft RLIMIT_NOFILE (it may have been changed from outside, prlimit). */
void fd_budget_refresh(struct fd_budget *b);

/* Descriptors that may still be charged (0 when over). */
unsigned fd_budget_left(const struct fd_budget *b);

/*
 * Charges `n` when they fit; when they do not, asks `trim` for what is
 * missing first. Returns true when charged, false (nothing charged) when
 * the budget cannot give them.
 */
bool fd_budget_take(struct fd_budget *b, unsigned n);

/* Charges `n` whatever is left (descriptors already open or promised). */
void fd_budget_charge(struct fd_budget *b, unsigned n);

/* Gives back `n` charged descriptors (closed). */
void fd_budget_give(struct fd_budget *b, unsigned n);

/* Asks `trim` for idle descriptors until `want` are left (or nothing idle remains). */
void fd_budget_trim(struct fd_budget *b, unsigned want);

#endif
