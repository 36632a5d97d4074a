/*
 * geoip.h — "which country is this address in", over a MaxMind DB file that
 * libmaxminddb maps into memory (never reads whole).
 *
 * The country is taken from `country.iso_code`, else
 * `registered_country.iso_code`, else a top-level `country_code`, so
 * GeoLite2, DB-IP and ip-location-db files all work.
 */
#ifndef SWITCHYARD_GEOIP_H
#define SWITCHYARD_GEOIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/flow_addr.h"

struct geoip;

/* Opens `path`; on failure returns NULL and writes "PATH: reason" into `error`. */
struct geoip *geoip_open(const char *path, char *error, size_t error_len);
void geoip_close(struct geoip *geoip);

/*
 * Writes the upper-case two-letter country code of `addr` into `code`
 * ("CN", NUL-terminated). Returns false when the database has no country
 * for it.
 */
bool geoip_country(const struct geoip *geoip, const struct flow_addr *addr, char code[3]);

/* Called with each network found: `ip` (4 or 16 bytes, network order) and its prefix length. */
typedef int (*geoip_network_fn)(void *ctx, int family, const uint8_t *ip, unsigned bits);

/*
 * Walks the database and calls `emit` for every network of family AF_INET or
 * AF_INET6 whose country (as geoip_country reads it) is `code` (two letters,
 * either case). The networks are disjoint and come in address order; together
 * they hold exactly the addresses of that family geoip_country answers `code`
 * for (IPv6 includes what the tree aliases to IPv4, as lookups do). Returns
 * 0, -1 when the tree is damaged, or the first nonzero value `emit` returns.
 */
int geoip_country_networks(const struct geoip *geoip, const char *code, int family,
                           geoip_network_fn emit, void *ctx);

/* Number of address records and the database type, for `switchyard check`. */
size_t geoip_node_count(const struct geoip *geoip);
const char *geoip_database_type(const struct geoip *geoip);

#endif
