/*
 * silent_dst.h — destinations whose client says nothing first.
 *
 * A TCP flow whose policy needs a host name waits up to sniff.timeout_ms
 * for its client's first bytes. For a server-first protocol (SMTP, SSH on
 * an unusual port, a database) that wait is all it gets: the client sends
 * nothing until the server has spoken. Once a client has stayed silent to a
 * destination until the timeout, its later flows there connect ahead
 * (engine/tcp/flow.h, "Connecting ahead") for `ttl` seconds, so the banner
 * does not wait either.
 *
 * What is remembered only ever changes when a flow connects, never how it
 * is decided: a flow that connects ahead is still sniffed, and the upstream
 * opened ahead is thrown away unused when the client's bytes decide
 * otherwise. Each entry is a (client address, destination) pair, so one
 * client's silence does not even make another client's flows connect ahead.
 *
 * Bounded: at most `cap` pairs, the least recently marked one forgotten
 * first. Times are the caller's clock (ev_now), in seconds. The client's
 * port is not part of the key (each connection has its own). One set
 * serves every worker (engine/core/workers.h): each call takes its lock.
 */
#ifndef SWITCHYARD_SILENT_DST_H
#define SWITCHYARD_SILENT_DST_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/flow_addr.h"

struct lru_table;

/* An empty set of at most `cap` pairs (cap >= 1); NULL when out of memory. Freed by
 * lru_table_free() (engine/core/lru_table.h). */
struct lru_table *silent_dst_new(size_t cap);

/* Remembers that `client` stayed silent to `dst` at time `now` (again: refreshed). */
void silent_dst_mark(struct lru_table *set, const struct flow_addr *client,
                     const struct flow_addr *dst, double now);

/* Whether `client` was marked silent to `dst` less than `ttl` seconds before `now`. */
bool silent_dst_known(struct lru_table *set, const struct flow_addr *client,
                      const struct flow_addr *dst, double now, double ttl);

/* Forgets the pair (`client` spoke first to `dst` after all); nothing when not held. */
void silent_dst_forget(struct lru_table *set, const struct flow_addr *client,
                       const struct flow_addr *dst);

#endif
