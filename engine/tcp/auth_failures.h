/*
 * auth_failures.h — failed logins on the explicit-proxy inbounds, per
 * source, so that guessing passwords is slow.
 *
 * Every login reply to a source that failed recently waits: the first
 * failure is answered at once, the next login after it waits
 * AUTH_FAILURES_DELAY_MIN seconds, doubled with each further failure up to
 * AUTH_FAILURES_DELAY_MAX. Right and wrong answers wait alike, so a client
 * cannot tell them apart by how soon they come. A
 * source is forgotten AUTH_FAILURES_FORGET_S seconds after its last failure,
 * or when it logs in successfully.
 *
 * A source is an IPv4 address, or an IPv6 /64 (what one subscriber is
 * usually given, so moving within it does not start over); the port never
 * counts. Bounded: at most `cap` sources, the one that failed least recently
 * pushed out first, so a flood from many addresses cannot grow memory.
 * Times are the caller's clock (ev_now), in seconds. One table serves
 * every worker (engine/core/workers.h): each call takes its lock.
 */
#ifndef SWITCHYARD_AUTH_FAILURES_H
#define SWITCHYARD_AUTH_FAILURES_H

#include <stddef.h>

#include "rules/flow_addr.h"

#define AUTH_FAILURES_DELAY_MIN 0.5
#define AUTH_FAILURES_DELAY_MAX 4.0
#define AUTH_FAILURES_FORGET_S 60.0

struct lru_table;

/* An empty table of at most `cap` sources (cap >= 1); NULL when out of memory. Freed by
 * lru_table_free() (engine/core/lru_table.h). */
struct lru_table *auth_failures_new(size_t cap);

/* How many seconds a login reply to `src` waits at `now` (0 when it has no recent failure). */
double auth_failures_delay(struct lru_table *t, const struct flow_addr *src, double now);

/* Counts a failed login from `src` at `now`. */
void auth_failures_add(struct lru_table *t, const struct flow_addr *src, double now);

/* `src` logged in: its failures are forgotten. */
void auth_failures_clear(struct lru_table *t, const struct flow_addr *src);

#endif
