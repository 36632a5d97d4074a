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

/* Number of address records and the database type, for `switchyard check`. */
size_t geoip_node_count(const struct geoip *geoip);
const char *geoip_database_type(const struct geoip *geoip);

#endif
