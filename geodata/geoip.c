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
 *
 * Lookups start from a table of the search tree cut 16 bits down (one for
 * IPv4, one for IPv6), filled at open time with libmaxminddb's node reader:
 * one read gives the record for most IPv4 addresses (country blocks are
 * mostly /16 or wider), and the walk goes on node by node, bit by bit as
 * MMDB_lookup_sockaddr walks, only below that. 512 KiB a table.
 *
 * The other way round, geoip_country_networks walks the whole tree (from
 * where a lookup of that family starts) and lists the networks of one
 * country, for the firewall's kernel sets.
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

#define TABLE_BITS 16

/* A record of the search tree: kind in the top bits, node number or data offset below. */
#define REC_EMPTY 0ull
#define REC_NODE (1ull << 62)
#define REC_DATA (2ull << 62)
#define REC_KIND (3ull << 62)

struct geoip {
    MMDB_s db;
    /* 1 << TABLE_BITS records each; NULL when the tree could not be read or has no IPv6. */
    uint64_t *v4, *v6;
    /* (offset + 1) << 32 | found << 16 | code[0] << 8 | code[1]; 0 is empty. */
    _Atomic uint64_t record_cache[RECORD_CACHE_SLOTS];
};

/* Reads one branch of `node`; false when the file is damaged. */
static bool read_branch(const MMDB_s *db, uint64_t node, int right, uint64_t *out)
{
    MMDB_search_node_s n;
    if (MMDB_read_node(db, (uint32_t)(node & ~REC_KIND), &n) != MMDB_SUCCESS)
        return false;
    uint8_t type = right ? n.right_record_type : n.left_record_type;
    switch (type) {
    case MMDB_RECORD_TYPE_SEARCH_NODE:
        *out = REC_NODE | (right ? n.right_record : n.left_record);
        return true;
    case MMDB_RECORD_TYPE_EMPTY:
        *out = REC_EMPTY;
        return true;
    case MMDB_RECORD_TYPE_DATA:
        *out = REC_DATA | (right ? n.right_record_entry : n.left_record_entry).offset;
        return true;
    default:
        return false;
    }
}

/* Fills the table slots under the `depth`-bit prefix `prefix`, whose record is `rec`. */
static bool fill(const MMDB_s *db, uint64_t *table, uint64_t rec, unsigned depth, uint32_t prefix)
{
    if ((rec & REC_KIND) != REC_NODE || depth == TABLE_BITS) {
        uint32_t first = prefix << (TABLE_BITS - depth), n = 1u << (TABLE_BITS - depth);
        for (uint32_t i = 0; i < n; i++)
            table[first + i] = rec;
        return true;
    }
    uint64_t left, right;
    return read_branch(db, rec, 0, &left) && read_branch(db, rec, 1, &right) &&
           fill(db, table, left, depth + 1, prefix << 1) &&
           fill(db, table, right, depth + 1, prefix << 1 | 1);
}

/* The table of the tree under `zero_bits` zero bits from the root, or NULL. */
static uint64_t *table_at(const MMDB_s *db, int zero_bits)
{
    uint64_t rec = REC_NODE; /* node 0 */
    for (int i = 0; i < zero_bits && (rec & REC_KIND) == REC_NODE; i++)
        if (!read_branch(db, rec, 0, &rec))
            return NULL;
    uint64_t *table = malloc(sizeof(uint64_t) << TABLE_BITS);
    if (table && !fill(db, table, rec, 0, 0)) {
        free(table);
        table = NULL;
    }
    return table;
}

/* The record of an address of `bits` bits (network order) through `table`. */
static uint64_t record_of(const struct geoip *g, const uint64_t *table, const uint8_t *ip, int bits)
{
    uint64_t rec = table[(uint32_t)ip[0] << 8 | ip[1]];
    for (int bit = TABLE_BITS; (rec & REC_KIND) == REC_NODE; bit++)
        if (bit >= bits || !read_branch(&g->db, rec, ip[bit / 8] >> (7 - bit % 8) & 1, &rec))
            return REC_EMPTY; /* deeper than the address or damaged: no answer */
    return rec;
}

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
    /* In an IPv6 tree, IPv4 lives under ::/96, where libmaxminddb looks it up. */
    bool v6 = g->db.metadata.ip_version == 6;
    g->v4 = table_at(&g->db, v6 ? 96 : 0);
    g->v6 = v6 ? table_at(&g->db, 0) : NULL; /* without a table: MMDB_lookup_sockaddr */
    return g;
}

void geoip_close(struct geoip *geoip)
{
    if (!geoip)
        return;
    free(geoip->v4);
    free(geoip->v6);
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

/* The country of the data record at `entry` (through the record cache); false when none. */
static bool record_country(const struct geoip *geoip, MMDB_entry_s *entry, char code[3])
{
    static const char *const country[] = {"country", "iso_code", NULL};
    static const char *const registered[] = {"registered_country", "iso_code", NULL};
    static const char *const flat[] = {"country_code", NULL};

    uint64_t tag = ((uint64_t)entry->offset + 1) << 32;
    _Atomic uint64_t *slot =
        (_Atomic uint64_t *)&geoip
            ->record_cache[(entry->offset * 2654435761u >> 16) & (RECORD_CACHE_SLOTS - 1)];
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed);
    if ((v & ~0xffffffffull) != tag) {
        bool found = code_at(entry, code, country) || code_at(entry, code, registered) ||
                     code_at(entry, code, flat);
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

bool geoip_country(const struct geoip *geoip, const struct flow_addr *addr, char code[3])
{
    MMDB_lookup_result_s r = {.entry.mmdb = &geoip->db};
    if (addr->family != AF_INET && addr->family != AF_INET6)
        return false;
    const uint64_t *table = addr->family == AF_INET ? geoip->v4 : geoip->v6;
    if (table) {
        uint64_t rec = record_of(geoip, table, addr->ip, addr->family == AF_INET ? 32 : 128);
        if ((rec & REC_KIND) != REC_DATA)
            return false;
        r.entry.offset = (uint32_t)rec;
    } else {
        struct sockaddr_storage ss;
        flow_addr_to_sockaddr(addr, &ss);
        int mmdb_error;
        /* libmaxminddb only reads the database; its API just lacks const. */
        r = MMDB_lookup_sockaddr((MMDB_s *)&geoip->db, (const struct sockaddr *)&ss, &mmdb_error);
        if (mmdb_error != MMDB_SUCCESS || !r.found_entry)
            return false;
    }

    return record_country(geoip, &r.entry, code);
}

/* A walk over the tree below one record, collecting the networks of one country. */
struct walk {
    const struct geoip *geoip;
    char want[3];
    int family;
    unsigned bits; /* of the addresses walked: 32 or 128 */
    uint8_t ip[16];
    geoip_network_fn emit;
    void *ctx;
};

static int walk(struct walk *w, uint64_t rec, unsigned depth)
{
    if ((rec & REC_KIND) == REC_DATA) {
        char code[3];
        MMDB_entry_s entry = {.mmdb = (MMDB_s *)&w->geoip->db, .offset = (uint32_t)rec};
        if (record_country(w->geoip, &entry, code) && memcmp(code, w->want, 2) == 0)
            return w->emit(w->ctx, w->family, w->ip, depth);
        return 0;
    }
    if ((rec & REC_KIND) != REC_NODE)
        return 0;
    if (depth >= w->bits) /* deeper than an address: lookups find nothing there either */
        return 0;
    for (int right = 0; right < 2; right++) {
        uint64_t branch;
        if (!read_branch(&w->geoip->db, rec, right, &branch))
            return -1;
        if (right)
            w->ip[depth / 8] |= (uint8_t)(0x80 >> depth % 8);
        int rc = walk(w, branch, depth + 1);
        w->ip[depth / 8] &= (uint8_t) ~(0x80 >> depth % 8);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int geoip_country_networks(const struct geoip *geoip, const char *code, int family,
                           geoip_network_fn emit, void *ctx)
{
    struct walk w = {.geoip = geoip, .family = family, .emit = emit, .ctx = ctx};
    w.want[0] = (char)(code[0] & ~0x20);
    w.want[1] = (char)(code[1] & ~0x20);
    bool v6_tree = geoip->db.metadata.ip_version == 6;
    uint64_t rec = REC_NODE; /* node 0 */
    if (family == AF_INET) {
        w.bits = 32;
        /* In an IPv6 tree, IPv4 lives under ::/96, where lookups look for it. */
        for (int i = 0; v6_tree && i < 96 && (rec & REC_KIND) == REC_NODE; i++)
            if (!read_branch(&geoip->db, rec, 0, &rec))
                return -1;
    } else if (family == AF_INET6 && v6_tree) {
        w.bits = 128;
    } else {
        return 0; /* an IPv4 tree answers no IPv6 address */
    }
    return walk(&w, rec, 0);
}

size_t geoip_node_count(const struct geoip *geoip)
{
    return geoip->db.metadata.node_count;
}

const char *geoip_database_type(const struct geoip *geoip)
{
    return geoip->db.metadata.database_type;
}
