/*
 * silent_dst.h — destinations whose clients say nothing first.
 *
 * A TCP flow whose policy needs a host name waits up to sniff.timeout_ms
 * for its client's first bytes. For a server-first protocol (SMTP, SSH on
 * an unusual port, a database) that wait is all it gets: the client sends
 * nothing until the server has spoken. Once a destination has been seen
 * silent until the timeout, later flows to it are decided at once, with no
 * name, for `ttl` seconds. The outcome is the one the timeout would have
 * given; only the wait goes.
 *
 * Bounded: at most `cap` destinations, the least recently marked one
 * forgotten first. Times are the caller's clock (ev_now), in seconds.
 */
#ifndef SWITCHYARD_SILENT_DST_H
#define SWITCHYARD_SILENT_DST_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/flow_addr.h"

struct silent_dst;

/* An empty set of at most `cap` destinations (cap >= 1); NULL when out of memory. */
struct silent_dst *silent_dst_new(size_t cap);
void silent_dst_free(struct silent_dst *set); /* NULL allowed */

/* Remembers `dst` as silent at time `now` (again: refreshed). */
void silent_dst_mark(struct silent_dst *set, const struct flow_addr *dst, double now);

/* Whether `dst` was marked silent less than `ttl` seconds before `now`. */
bool silent_dst_known(struct silent_dst *set, const struct flow_addr *dst, double now, double ttl);

/* Destinations held now (expired ones included until they are looked up or pushed out). */
size_t silent_dst_count(const struct silent_dst *set);

#endif
