/*
 * cidr_set.c — prefixes as sorted, merged ranges. See cidr_set.h.
 *
 * IPv6 addresses are compared as two 64-bit halves in host order.
 */
#include "rules/cidr_set.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct range4 {
    uint32_t lo, hi;
};

struct u128 {
    uint64_t hi, lo;
};

struct range6 {
    struct u128 lo, hi;
};

/* IPv4 sets larger than this get a table by the address's top 16 bits. */
#define BUCKET_MIN_RANGES 256

struct cidr_set {
    struct range4 *v4;
    size_t n4, cap4;
    uint32_t *bucket4; /* [h]: first range whose lo >> 16 >= h; 65537 entries */
    struct range6 *v6;
    size_t n6, cap6;
    size_t added;
};

struct cidr_set *cidr_set_new(void)
{
    return calloc(1, sizeof(struct cidr_set));
}

void cidr_set_free(struct cidr_set *set)
{
    if (!set)
        return;
    free(set->v4);
    free(set->bucket4);
    free(set->v6);
    free(set);
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static struct u128 u128_of(const uint8_t ip[16])
{
    return (struct u128){load_be64(ip), load_be64(ip + 8)};
}

static int u128_cmp(struct u128 a, struct u128 b)
{
    if (a.hi != b.hi)
        return a.hi < b.hi ? -1 : 1;
    if (a.lo != b.lo)
        return a.lo < b.lo ? -1 : 1;
    return 0;
}

/* The mask of the top `bits` of 64 (bits in 0..64). */
static uint64_t top_mask(unsigned bits)
{
    return bits == 0 ? 0 : bits >= 64 ? UINT64_MAX : ~(UINT64_MAX >> bits);
}

/*
 * `v`, holding `n` of `*cap` elements of `size` bytes, with room for one
 * more: itself, a larger copy (`*cap` doubled), or NULL when out of memory.
 */
static void *room_for_one(void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return v;
    size_t grown = *cap ? *cap * 2 : 16;
    void *w = realloc(v, grown * size);
    if (w)
        *cap = grown;
    return w;
}

static int push4(struct cidr_set *set, uint32_t lo, uint32_t hi)
{
    struct range4 *v = room_for_one(set->v4, set->n4, &set->cap4, sizeof(*v));
    if (!v)
        return -1;
    set->v4 = v;
    v[set->n4++] = (struct range4){lo, hi};
    return 0;
}

static int push6(struct cidr_set *set, struct u128 lo, struct u128 hi)
{
    struct range6 *v = room_for_one(set->v6, set->n6, &set->cap6, sizeof(*v));
    if (!v)
        return -1;
    set->v6 = v;
    v[set->n6++] = (struct range6){lo, hi};
    return 0;
}

int cidr_set_add(struct cidr_set *set, const char *text, const char **why)
{
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    if (alen == 0 || alen >= sizeof(addr)) {
        *why = "not an IP address or CIDR";
        return -1;
    }
    memcpy(addr, text, alen);
    addr[alen] = '\0';

    uint8_t ip[16];
    int family;
    if (inet_pton(AF_INET, addr, ip) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, addr, ip) == 1)
        family = AF_INET6;
    else {
        *why = "not an IP address or CIDR";
        return -1;
    }

    unsigned max = family == AF_INET ? 32 : 128, bits = max;
    if (slash) {
        const char *p = slash + 1;
        if (*p < '0' || *p > '9' || strlen(p) > 3) {
            *why = "bad prefix length";
            return -1;
        }
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (*end) {
            *why = "bad prefix length";
            return -1;
        }
        if (v > max) {
            *why = family == AF_INET ? "prefix length must be 0-32" : "prefix length must be 0-128";
            return -1;
        }
        bits = (unsigned)v;
    }

    return cidr_set_add_prefix(set, family, ip, bits);
}

int cidr_set_add_prefix(struct cidr_set *set, int family, const uint8_t *ip, unsigned bits)
{
    set->added++;
    if (family == AF_INET) {
        uint32_t a = (uint32_t)ip[0] << 24 | (uint32_t)ip[1] << 16 | (uint32_t)ip[2] << 8 | ip[3];
        uint32_t mask = bits == 0 ? 0 : ~(uint32_t)0 << (32 - bits);
        return push4(set, a & mask, (a & mask) | ~mask);
    }
    struct u128 a = u128_of(ip);
    uint64_t mhi = top_mask(bits), mlo = top_mask(bits > 64 ? bits - 64 : 0);
    struct u128 lo = {a.hi & mhi, a.lo & mlo};
    struct u128 hi = {lo.hi | ~mhi, lo.lo | ~mlo};
    /* IPv4-mapped addresses (::ffff:a.b.c.d) are looked up as IPv4 (flow_addr.h),
     * so a prefix inside ::ffff:0:0/96 goes in as the IPv4 prefix it names.
     * (A shorter one, ::/0 say, stays IPv6 only: that is what people mean.) */
    if (bits >= 96 && a.hi == 0 && (a.lo >> 32) == 0xffff) {
        uint32_t mask = bits == 96 ? 0 : ~(uint32_t)0 << (128 - bits);
        if (push4(set, (uint32_t)a.lo & mask, ((uint32_t)a.lo & mask) | ~mask) < 0)
            return -1;
    }
    return push6(set, lo, hi);
}

static int cmp4(const void *a, const void *b)
{
    const struct range4 *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int cmp6(const void *a, const void *b)
{
    const struct range6 *x = a, *y = b;
    return u128_cmp(x->lo, y->lo);
}

int cidr_set_freeze(struct cidr_set *set)
{
    size_t out = 0;
    if (set->n4) /* qsort wants a real array even for nothing */
        qsort(set->v4, set->n4, sizeof(*set->v4), cmp4);
    for (size_t i = 0; i < set->n4; i++) {
        /* Overlapping or adjacent ranges merge (hi + 1 cannot overflow past a lo). */
        if (out > 0 &&
            (set->v4[i].lo <= set->v4[out - 1].hi || set->v4[i].lo - 1 == set->v4[out - 1].hi)) {
            if (set->v4[i].hi > set->v4[out - 1].hi)
                set->v4[out - 1].hi = set->v4[i].hi;
        } else {
            set->v4[out++] = set->v4[i];
        }
    }
    set->n4 = out;
    if (set->n4 >= BUCKET_MIN_RANGES) {
        free(set->bucket4);
        set->bucket4 = malloc(65537 * sizeof(*set->bucket4));
        if (!set->bucket4)
            return -1;
        size_t r = 0;
        for (uint32_t h = 0; h <= 65536; h++) {
            while (r < set->n4 && (set->v4[r].lo >> 16) < h)
                r++;
            set->bucket4[h] = (uint32_t)r;
        }
    }

    out = 0;
    if (set->n6)
        qsort(set->v6, set->n6, sizeof(*set->v6), cmp6);
    for (size_t i = 0; i < set->n6; i++) {
        if (out > 0 && u128_cmp(set->v6[i].lo, set->v6[out - 1].hi) <= 0) {
            if (u128_cmp(set->v6[i].hi, set->v6[out - 1].hi) > 0)
                set->v6[out - 1].hi = set->v6[i].hi;
        } else {
            set->v6[out++] = set->v6[i];
        }
    }
    set->n6 = out;
    return 0;
}

bool cidr_set_contains(const struct cidr_set *set, const struct flow_addr *addr)
{
    if (addr->family == AF_INET) {
        uint32_t a = (uint32_t)addr->ip[0] << 24 | (uint32_t)addr->ip[1] << 16 |
                     (uint32_t)addr->ip[2] << 8 | addr->ip[3];
        /* Last range whose lo <= a: among those starting in a's /16, else the one before. */
        size_t lo = 0, hi = set->n4;
        if (set->bucket4) {
            lo = set->bucket4[a >> 16];
            hi = set->bucket4[(a >> 16) + 1];
            if (lo == hi || set->v4[lo].lo > a)
                return lo > 0 && a <= set->v4[lo - 1].hi;
        }
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (set->v4[mid].lo <= a)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo > 0 && a <= set->v4[lo - 1].hi;
    }
    if (addr->family == AF_INET6) {
        struct u128 a = u128_of(addr->ip);
        size_t lo = 0, hi = set->n6;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (u128_cmp(set->v6[mid].lo, a) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo > 0 && u128_cmp(a, set->v6[lo - 1].hi) <= 0;
    }
    return false;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

size_t cidr_set_range_count(const struct cidr_set *set, int family)
{
    return family == AF_INET ? set->n4 : family == AF_INET6 ? set->n6 : 0;
}

void cidr_set_range(const struct cidr_set *set, int family, size_t i, struct flow_addr *lo,
                    struct flow_addr *hi)
{
    memset(lo, 0, sizeof(*lo));
    memset(hi, 0, sizeof(*hi));
    lo->family = hi->family = (uint8_t)family;
    if (family == AF_INET) {
        for (int b = 0; b < 4; b++) {
            lo->ip[b] = (uint8_t)(set->v4[i].lo >> (24 - 8 * b));
            hi->ip[b] = (uint8_t)(set->v4[i].hi >> (24 - 8 * b));
        }
        return;
    }
    store_be64(lo->ip, set->v6[i].lo.hi);
    store_be64(lo->ip + 8, set->v6[i].lo.lo);
    store_be64(hi->ip, set->v6[i].hi.hi);
    store_be64(hi->ip + 8, set->v6[i].hi.lo);
}

size_t cidr_set_count(const struct cidr_set *set)
{
    return set->added;
}
