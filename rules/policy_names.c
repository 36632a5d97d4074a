/*
 * policy_names.c — the name index: one look-up of a host name answers
 * every domain condition of the policy at once (the design's combined
 * index).
 *
 * The domain conditions the rules use — inline domain / domain_suffix /
 * domain_keyword / domain_regex lists and named domain sets, up to
 * POLICY_NAME_SOURCES of them, each a "source" with one bit — are merged:
 * every exact or suffix name into one hash table that says, per name,
 * which sources hold it exactly and which as a suffix; every keyword into
 * one literal index. A host name then costs one probe per label and one
 * keyword scan for the whole policy instead of that per condition. Regexes
 * stay with their set (already prefiltered there) and run only for a
 * condition the bits do not settle.
 *
 * The table points at the names inside the sets (frozen, owned by the
 * policy like this index), so the names are not copied.
 */
#include <stdlib.h>
#include <string.h>

#include "rules/policy_internal.h"
#include "rules/regex_literal.h"

/*
 * 16 bytes a name: the masks of sources holding it live in `pairs`, shared
 * (most names are in one source, so a big list costs a handful of pairs).
 */
struct name_slot {
    const char *name; /* NULL: empty */
    uint32_t hash_hi; /* high half of domain_name_hash(name): most mismatches without strcmp */
    uint32_t pair;    /* index into policy_names.pairs */
};

struct name_pair {
    uint64_t full;   /* sources holding the name exactly */
    uint64_t suffix; /* sources holding the name and every name under it */
};

static size_t pow2_at_least(size_t n, size_t min)
{
    size_t v = min;
    while (v < n)
        v *= 2;
    return v;
}

static struct name_slot *slot_find(const struct policy_names *n, const char *name, uint64_t h)
{
    uint32_t hi = (uint32_t)(h >> 32);
    for (size_t i = h & n->slot_mask;; i = (i + 1) & n->slot_mask) {
        struct name_slot *s = &n->slots[i];
        if (!s->name || (s->hash_hi == hi && strcmp(s->name, name) == 0))
            return s;
    }
}

/* The bloom bit of a hash: its high bits (the table index uses the low ones). */
static size_t bloom_bit(const struct policy_names *n, uint64_t h)
{
    return (size_t)(h >> 32) & n->bloom_mask;
}

/* While building: pairs are found again through a small table of their own. */
struct pair_map {
    uint32_t *ids; /* pair index + 1; 0: empty */
    size_t mask;
};

static uint64_t pair_hash(uint64_t full, uint64_t suffix)
{
    uint64_t h = (full * 0x9e3779b97f4a7c15ull) ^ (suffix + 0x632be59bd9b4e019ull);
    return (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
}

static int pair_grow(struct policy_names *n, struct pair_map *m)
{
    size_t cap = m->ids ? (m->mask + 1) * 2 : 64;
    uint32_t *ids = calloc(cap, sizeof(*ids));
    if (!ids)
        return -1;
    for (size_t i = 0; i < n->n_pairs; i++) {
        size_t j = pair_hash(n->pairs[i].full, n->pairs[i].suffix) & (cap - 1);
        while (ids[j])
            j = (j + 1) & (cap - 1);
        ids[j] = (uint32_t)i + 1;
    }
    free(m->ids);
    m->ids = ids;
    m->mask = cap - 1;
    struct name_pair *pairs = realloc(n->pairs, cap / 2 * sizeof(*pairs));
    if (!pairs)
        return -1;
    n->pairs = pairs;
    return 0;
}

/* The index of the pair (full, suffix), added when new; -1 when out of memory. */
static long pair_id(struct policy_names *n, struct pair_map *m, uint64_t full, uint64_t suffix)
{
    if ((n->n_pairs + 1) * 2 > (m->ids ? m->mask + 1 : 0) && pair_grow(n, m) < 0)
        return -1;
    size_t j = pair_hash(full, suffix) & m->mask;
    for (; m->ids[j]; j = (j + 1) & m->mask) {
        const struct name_pair *p = &n->pairs[m->ids[j] - 1];
        if (p->full == full && p->suffix == suffix)
            return m->ids[j] - 1;
    }
    n->pairs[n->n_pairs] = (struct name_pair){full, suffix};
    m->ids[j] = (uint32_t)++n->n_pairs;
    return (long)n->n_pairs - 1;
}

struct add_ctx {
    struct policy_names *n;
    struct pair_map *pairs;
    uint64_t bit;
};

static int add_name(const char *name, bool full, bool suffix, void *ctx)
{
    struct add_ctx *a = ctx;
    struct policy_names *n = a->n;
    uint64_t h = domain_name_hash(name);
    struct name_slot *s = slot_find(n, name, h);
    struct name_pair old = {0, 0};
    if (s->name) {
        old = n->pairs[s->pair];
    } else {
        *s = (struct name_slot){.name = name, .hash_hi = (uint32_t)(h >> 32)};
        n->n_names++;
        size_t bit = bloom_bit(n, h);
        n->bloom[bit / 64] |= 1ull << (bit % 64);
    }
    long id =
        pair_id(n, a->pairs, old.full | (full ? a->bit : 0), old.suffix | (suffix ? a->bit : 0));
    if (id < 0)
        return -1;
    s->pair = (uint32_t)id;
    return 0;
}

/* The source of a domain set, added when new; -1 when the index is full. */
static int source_of(struct policy_names *n, const struct domain_set *set)
{
    for (size_t i = 0; i < n->n_sources; i++)
        if (n->sources[i] == set)
            return (int)i;
    if (n->n_sources == POLICY_NAME_SOURCES)
        return -1;
    n->sources[n->n_sources] = set;
    return (int)n->n_sources++;
}

static void assign_clause(struct policy *p, struct clause *cl);

static void assign_cond(struct policy *p, struct cond *k)
{
    if (k->kind == COND_DOMAINS)
        k->name_source = source_of(p->names, k->u.domains);
    else if (k->kind == COND_DOMAIN_SET)
        k->name_source = source_of(p->names, p->sets[k->u.set].domains);
    else if (k->kind == COND_NOT)
        assign_clause(p, &k->u.sub);
    else if (k->kind == COND_ANY)
        for (size_t i = 0; i < k->u.any.n; i++)
            assign_clause(p, &k->u.any.c[i]);
}

static void assign_clause(struct policy *p, struct clause *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        assign_cond(p, &cl->conds[i]);
}

static int add_keywords(struct policy_names *n, const struct domain_set *set, uint64_t bit)
{
    for (size_t i = 0; i < domain_set_keyword_count(set); i++) {
        const char *kw = domain_set_keyword(set, i);
        size_t id = n->n_keywords++;
        n->keywords[id] = kw;
        n->keyword_bits[id] = bit;
        n->keyword_sources |= bit;
        if (strlen(kw) < REGEX_LITERAL_MIN)
            n->short_keywords[n->n_short++] = (uint32_t)id;
        else if (literal_index_add(n->keyword_index, kw, (uint32_t)id) < 0)
            return -1;
    }
    return 0;
}

int policy_names_build(struct policy *p)
{
    struct policy_names *n = calloc(1, sizeof(*n));
    if (!(p->names = n))
        return -1;
    for (size_t i = 0; i < p->n_rules; i++)
        assign_clause(p, &p->rules[i].when);

    size_t names = 0, keywords = 0;
    for (size_t s = 0; s < n->n_sources; s++) {
        names += domain_set_count(n->sources[s], DOMAIN_FULL) +
                 domain_set_count(n->sources[s], DOMAIN_SUFFIX);
        keywords += domain_set_keyword_count(n->sources[s]);
        if (domain_set_has_regex(n->sources[s]))
            n->with_regex |= 1ull << s;
    }
    /* At most half full; 16 bloom bits a name (about one label in sixteen passes by mistake). */
    size_t slots = pow2_at_least(2 * names, 16), bloom_bits = pow2_at_least(16 * names, 64);
    n->slots = calloc(slots, sizeof(*n->slots));
    n->slot_mask = slots - 1;
    n->bloom = calloc(bloom_bits / 64, sizeof(uint64_t));
    n->bloom_mask = bloom_bits - 1;
    n->keywords = calloc(keywords ? keywords : 1, sizeof(*n->keywords));
    n->keyword_bits = calloc(keywords ? keywords : 1, sizeof(*n->keyword_bits));
    n->short_keywords = calloc(keywords ? keywords : 1, sizeof(*n->short_keywords));
    n->keyword_index = literal_index_new();
    if (!n->slots || !n->bloom || !n->keywords || !n->keyword_bits || !n->short_keywords ||
        !n->keyword_index)
        return -1;
    struct pair_map pairs = {NULL, 0};
    for (size_t s = 0; s < n->n_sources; s++) {
        struct add_ctx a = {n, &pairs, 1ull << s};
        if (domain_set_each_name(n->sources[s], add_name, &a) < 0 ||
            add_keywords(n, n->sources[s], a.bit) < 0) {
            free(pairs.ids);
            return -1;
        }
    }
    free(pairs.ids);
    literal_index_freeze(n->keyword_index);

    /* Rules that need a source at their top level: they fail when it misses. */
    size_t w = p->index_words;
    if (w && n->n_sources) {
        if (!(n->needs = calloc(n->n_sources * w, sizeof(uint64_t))))
            return -1;
        for (size_t i = 0; i < p->n_rules; i++)
            for (size_t j = 0; j < p->rules[i].when.n; j++) {
                const struct cond *k = &p->rules[i].when.conds[j];
                if ((k->kind == COND_DOMAINS || k->kind == COND_DOMAIN_SET) && k->name_source >= 0)
                    n->needs[(size_t)k->name_source * w + i / 64] |= 1ull << (i % 64);
            }
    }
    return 0;
}

void policy_names_free(struct policy_names *n)
{
    if (!n)
        return;
    free(n->slots);
    free(n->pairs);
    free(n->bloom);
    free(n->keywords);
    free(n->keyword_bits);
    free(n->short_keywords);
    literal_index_free(n->keyword_index);
    free(n->needs);
    free(n);
}

struct keyword_scan {
    const struct policy_names *n;
    uint64_t hits;
};

static bool keyword_found(uint32_t id, void *ctx)
{
    struct keyword_scan *k = ctx;
    k->hits |= k->n->keyword_bits[id];
    /* Enough once every source with keywords holds. */
    return (k->hits & k->n->keyword_sources) == k->n->keyword_sources;
}

uint64_t policy_names_hits(const struct policy_names *n, const struct domain_key *key)
{
    uint64_t hits = 0;
    for (size_t i = 0; n->n_names && i < key->n; i++) {
        uint64_t h = key->hash[i];
        size_t bit = bloom_bit(n, h);
        if (!(n->bloom[bit / 64] >> (bit % 64) & 1))
            continue;
        const struct name_slot *s = slot_find(n, key->suffix[i], h);
        if (!s->name)
            continue;
        /* The host itself matches a full or a suffix entry; a parent only a suffix. */
        const struct name_pair *pair = &n->pairs[s->pair];
        hits |= pair->suffix | (i == 0 ? pair->full : 0);
    }
    if ((n->keyword_sources & ~hits) == 0)
        return hits;
    for (size_t i = 0; i < n->n_short; i++)
        if (strstr(key->host, n->keywords[n->short_keywords[i]]))
            hits |= n->keyword_bits[n->short_keywords[i]];
    struct keyword_scan k = {n, hits};
    literal_index_scan(n->keyword_index, key->host, keyword_found, &k);
    return k.hits;
}

void policy_names_exclude(const struct policy *p, uint64_t hits, uint64_t *candidates)
{
    const struct policy_names *n = p->names;
    size_t w = p->index_words;
    uint64_t all = n->n_sources == 64 ? ~0ull : (1ull << n->n_sources) - 1;
    /* A source that missed and has no regex left to try fails every rule that needs it. */
    uint64_t missed = all & ~hits & ~n->with_regex;
    while (missed && n->needs) {
        size_t s = (size_t)__builtin_ctzll(missed);
        missed &= missed - 1;
        for (size_t i = 0; i < w; i++)
            candidates[i] &= ~n->needs[s * w + i];
    }
}
