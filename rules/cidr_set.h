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
#include <stdint.h>

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

/*
 * Adds the prefix of `bits` bits at `ip` (4 bytes for AF_INET, 16 for
 * AF_INET6, network order; bits past the prefix are masked off; `bits` at
 * most 32 or 128). Returns 0, or -1 when out of memory.
 */
int cidr_set_add_prefix(struct cidr_set *set, int family, const uint8_t *ip, unsigned bits);

/* Sorts and merges what was added; call once before lookups. */
int cidr_set_freeze(struct cidr_set *set);

bool cidr_set_contains(const struct cidr_set *set, const struct flow_addr *addr);

/*
 * After freezing: the number of merged ranges of `family` (AF_INET,
 * AF_INET6), and range `i` of them, first and last address inclusive.
 * IPv4-mapped prefixes (::ffff:0:0/96 and longer) are among the IPv4 ranges
 * too, as lookups see them.
 */
size_t cidr_set_range_count(const struct cidr_set *set, int family);
void cidr_set_range(const struct cidr_set *set, int family, size_t i, struct flow_addr *lo,
                    struct flow_addr *hi);

/* Prefixes added (before merging), for summaries. */
size_t cidr_set_count(const struct cidr_set *set);

#endif
