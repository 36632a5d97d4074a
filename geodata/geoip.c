/*
 * geoip.c — country lookups over a MaxMind DB file mapped into memory by
 * libmaxminddb. See geoip.h.
 *
 * A country database has few distinct records (one per country, give or
 * take) behind millions of networks. Reading the country out of a record
 * (a walk over its map keys, up to three paths) costs about as much as
 * the tree search itself, so the answer is remembered per record offset in
 * a small direct-mapped table. The data section never changes while the
 * file is mapped, so an entry never goes stale. Each slot is one atomic
 * 64-bit word (record offset + 1, found flag, two letters), so concurrent
 * lookups stay safe without a lock.
 */
#include "geodata/geoip.h"

#include <errno.h>
#include <maxminddb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECORD_CACHE_SLOTS 1024 /* a power of two; about the number of countries x 4 */

struct geoip {
    MMDB_s db;
    /* (offset + 1) << 32 | found << 16 | code[0] << 8 | code[1]; 0 is empty. */
    _Atomic uint64_t record_cache[RECORD_CACHE_SLOTS];
};

struct geoip *geoip_open(const char *path, char *error, size_t error_len)
{
    struct geoip *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(error, error_len, "%s: out of memory", path);
        return NULL;
    }
    errno = 0;
    int rc = MMDB_open(path, MMDB_MODE_MMAP, &g->db);
    int open_errno = errno ? errno : EIO;
    if (rc != MMDB_SUCCESS) {
        if (rc == MMDB_FILE_OPEN_ERROR || rc == MMDB_IO_ERROR)
            snprintf(error, error_len, "%s: cannot open GeoIP database: %s", path,
                     strerror(open_errno));
        else
            snprintf(error, error_len, "%s: not a MaxMind DB file: %s", path, MMDB_strerror(rc));
        free(g);
        return NULL;
    }
    return g;
}

void geoip_close(struct geoip *geoip)
{
    if (!geoip)
        return;
    MMDB_close(&geoip->db);
    free(geoip);
}

/* Copies a two-letter code found at `path` of the record; false when absent. */
static bool code_at(MMDB_entry_s *entry, char code[3], const char *const *path)
{
    MMDB_entry_data_s data;
    if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size != 2)
        return false;
    code[0] = (char)(data.utf8_string[0] & ~0x20); /* upper case */
    code[1] = (char)(data.utf8_string[1] & ~0x20);
    code[2] = '\0';
    return true;
}

bool geoip_country(const struct geoip *geoip, const struct flow_addr *addr, char code[3])
{
    static const char *const country[] = {"country", "iso_code", NULL};
    static const char *const registered[] = {"registered_country", "iso_code", NULL};
    static const char *const flat[] = {"country_code", NULL};

    struct sockaddr_storage ss;
    flow_addr_to_sockaddr(addr, &ss);
    int mmdb_error;
    /* libmaxminddb only reads the database; its API just lacks const. */
    MMDB_lookup_result_s r =
        MMDB_lookup_sockaddr((MMDB_s *)&geoip->db, (const struct sockaddr *)&ss, &mmdb_error);
    if (mmdb_error != MMDB_SUCCESS || !r.found_entry)
        return false;

    uint64_t tag = ((uint64_t)r.entry.offset + 1) << 32;
    _Atomic uint64_t *slot = (_Atomic uint64_t *)&geoip->record_cache[
        (r.entry.offset * 2654435761u >> 16) & (RECORD_CACHE_SLOTS - 1)];
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    if ((v & ~0xffffffffull) != tag) {
        bool found = code_at(&r.entry, code, country) || code_at(&r.entry, code, registered) ||
                     code_at(&r.entry, code, flat);
        v = tag | (found ? 0x10000u | (uint64_t)(uint8_t)code[0] << 8 | (uint8_t)code[1] : 0);
        atomic_store_explicit(slot, v, memory_order_relaxed);
    }
    if (!(v & 0x10000u))
        return false;
    code[0] = (char)(v >> 8 & 0xff);
    code[1] = (char)(v & 0xff);
    code[2] = '\0';
    return true;
}

size_t geoip_node_count(const struct geoip *geoip)
{
    return geoip->db.metadata.node_count;
}

const char *geoip_database_type(const struct geoip *geoip)
{
    return geoip->db.metadata.database_type;
}
