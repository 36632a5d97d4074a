/*
 * geoip.c — country lookups over a MaxMind DB file mapped into memory by
 * libmaxminddb. See geoip.h.
 */
#include "geodata/geoip.h"

#include <errno.h>
#include <maxminddb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct geoip {
    MMDB_s db;
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
    return code_at(&r.entry, code, country) || code_at(&r.entry, code, registered) ||
           code_at(&r.entry, code, flat);
}

size_t geoip_node_count(const struct geoip *geoip)
{
    return geoip->db.metadata.node_count;
}

const char *geoip_database_type(const struct geoip *geoip)
{
    return geoip->db.metadata.database_type;
}
