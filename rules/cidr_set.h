/*
 * cidr_set.h — a set of IPv4 and IPv6 prefixes, asked "is this address in
 * it?". Built once from CIDR strings, then frozen into sorted, merged
 * address ranges searched by bisection: O(log n) per lookup, 8 bytes per
 * IPv4 range and 32 per IPv6 range, no allocation per lookup.
 */
#ifndef SWITCHYARD_CIDR_SET_H
#define SWITCHYARD_CIDR_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/flow_addr.h"

struct cidr_set;

struct cidr_set *cidr_set_new(void);
void cidr_set_free(struct cidr_set *set);

/*
 * Adds "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
 * Returns 0, or -1 with a short reason in `*why` when the text is not a CIDR
 * (bits set past the prefix length are accepted and masked off).
 */
int cidr_set_add(struct cidr_set *set, const char *text, const char **why);

/* Sorts and merges what was added; call once before lookups. */
int cidr_set_freeze(struct cidr_set *set);

bool cidr_set_contains(const struct cidr_set *set, const struct flow_addr *addr);

/* Prefixes added (before merging), for summaries. */
size_t cidr_set_count(const struct cidr_set *set);

#endif
