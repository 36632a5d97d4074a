/*
 * policy_decide.c — first-match evaluation of the compiled rules.
 *
 * Every condition answers yes, no, or — while the host name and protocol
 * are not known yet (policy_decide_early) — maybe. A rule holds when all its
 * conditions hold; `not` keeps maybe as maybe; `any` holds when one of its
 * maps holds. The first rule that holds decides; before sniffing, the
 * decision is final only when every rule before it is a definite no. A
 * destination named by an explicit-proxy client and not resolved yet
 * (policy_decide_by_name) makes the address conditions — dst, dst_set,
 * geoip — maybe in the same way.
 *
 * Set lookups and the GeoIP country are memoized per decision, so a set
 * named by several rules is searched once. The memo lives in the decision's
 * own context, never in the policy: every worker decides under the same
 * policy at once.
 */
#include <string.h>

#include "rules/host_name.h"
#include "rules/policy_internal.h"

enum tri { NO, YES, MAYBE };

/* Memo slots (two a set: source or host, destination); sets past them are searched each time. */
#define MEMO_WORDS 8
#define MEMO_SLOTS (MEMO_WORDS * 64)

struct decide_ctx {
    const struct policy *p;
    const struct policy_flow *flow;
    const char *host;               /* normalized, NULL when unknown or not known yet */
    bool early;                     /* host and protocol are still to come */
    bool dst_pending;               /* the destination address is still to come */
    bool key_ready;                 /* `key` holds the host's suffixes */
    struct domain_key *key;         /* filled on the first domain condition (2 KiB: not zeroed) */
    bool names_ready;               /* `names_hit` is known */
    uint64_t names_hit;             /* name-index sources whose names or keywords hold */
    uint64_t regex_done, regex_hit; /* sources whose regexes were run, and held */
    uint64_t memo_done[MEMO_WORDS]; /* set lookups made in this decision, slot 2*set (+1: dst) */
    uint64_t memo_hit[MEMO_WORDS];  /* and their answers */
    bool country_done, country_found;
    char country[3];
};

static const struct domain_key *host_key(struct decide_ctx *c)
{
    if (!c->key_ready) {
        domain_key_init(c->key, c->host);
        c->key_ready = true;
    }
    return c->key;
}

static enum tri tri_of(bool b)
{
    return b ? YES : NO;
}

static bool ports_match(const struct cond *k, uint16_t port)
{
    for (size_t i = 0; i < k->u.ports.n; i++)
        if (port >= k->u.ports.r[i].lo && port <= k->u.ports.r[i].hi)
            return true;
    return false;
}

/* Memoized membership: slot 2*set (+1 for the destination). */
static bool memo(struct decide_ctx *c, size_t slot, bool (*compute)(struct decide_ctx *, size_t),
                 size_t set)
{
    if (slot >= MEMO_SLOTS)
        return compute(c, set);
    uint64_t bit = 1ull << (slot % 64);
    size_t w = slot / 64;
    if (!(c->memo_done[w] & bit)) {
        c->memo_done[w] |= bit;
        if (compute(c, set))
            c->memo_hit[w] |= bit;
    }
    return c->memo_hit[w] & bit;
}

static bool src_in_set(struct decide_ctx *c, size_t set)
{
    return cidr_set_contains(c->p->sets[set].cidr, &c->flow->src);
}

static bool dst_in_set(struct decide_ctx *c, size_t set)
{
    return c->flow->dst.family && cidr_set_contains(c->p->sets[set].cidr, &c->flow->dst);
}

static bool host_in_set(struct decide_ctx *c, size_t set)
{
    return domain_set_match_key(c->p->sets[set].domains, host_key(c));
}

static uint64_t names_hit(struct decide_ctx *c)
{
    if (!c->names_ready) {
        c->names_hit = policy_names_hits(c->p->names, host_key(c));
        c->names_ready = true;
    }
    return c->names_hit;
}

/* A domain condition in the name index: its bit, else its set's regexes (once a decision). */
static bool host_in_source(struct decide_ctx *c, int source, const struct domain_set *set)
{
    uint64_t bit = 1ull << source;
    if (names_hit(c) & bit)
        return true;
    if (!(c->p->names->with_regex & bit))
        return false;
    if (!(c->regex_done & bit)) {
        c->regex_done |= bit;
        if (domain_set_match_regex(set, c->host))
            c->regex_hit |= bit;
    }
    return c->regex_hit & bit;
}

static const char *country_of_dst(struct decide_ctx *c)
{
    if (!c->country_done) {
        c->country_done = true;
        c->country_found =
            c->flow->dst.family && geoip_country(c->p->geoip, &c->flow->dst, c->country);
    }
    return c->country_found ? c->country : NULL;
}

static enum tri eval_clause(struct decide_ctx *c, const struct clause *cl);

static enum tri eval_cond(struct decide_ctx *c, const struct cond *k)
{
    const struct policy_flow *f = c->flow;
    switch (k->kind) {
    case COND_NETWORK:
        return tri_of(k->u.mask & f->network);
    case COND_INBOUND:
        for (size_t i = 0; f->inbound && i < k->u.inbound.n; i++)
            if (strcmp(k->u.inbound.names[i], f->inbound) == 0)
                return YES;
        return NO;
    case COND_SRC:
        return tri_of(cidr_set_contains(k->u.cidr, &f->src));
    case COND_DST:
        if (c->dst_pending)
            return MAYBE;
        return tri_of(f->dst.family && cidr_set_contains(k->u.cidr, &f->dst));
    case COND_SRC_SET:
        return tri_of(memo(c, 2 * k->u.set, src_in_set, k->u.set));
    case COND_DST_SET:
        if (c->dst_pending)
            return MAYBE;
        return tri_of(memo(c, 2 * k->u.set + 1, dst_in_set, k->u.set));
    case COND_SRC_PORT:
        return tri_of(ports_match(k, f->src.port));
    case COND_DST_PORT:
        return tri_of(ports_match(k, f->dst.port));
    case COND_GEOIP: {
        if (c->dst_pending)
            return MAYBE;
        const char *cc = country_of_dst(c);
        for (size_t i = 0; cc && i < k->u.geoip.n; i++)
            if (memcmp(cc, k->u.geoip.codes[i], 2) == 0)
                return YES;
        return NO;
    }
    case COND_DOMAINS:
        if (c->early)
            return MAYBE;
        if (c->host && k->name_source >= 0)
            return tri_of(host_in_source(c, k->name_source, k->u.domains));
        return tri_of(c->host && domain_set_match_key(k->u.domains, host_key(c)));
    case COND_DOMAIN_SET:
        if (c->early)
            return MAYBE;
        if (c->host && k->name_source >= 0)
            return tri_of(host_in_source(c, k->name_source, c->p->sets[k->u.set].domains));
        return tri_of(c->host && memo(c, 2 * k->u.set, host_in_set, k->u.set));
    case COND_PROTOCOL: {
        if (c->early)
            return MAYBE;
        /* Not sniffed at all counts as no protocol recognised. */
        enum sniff_protocol proto =
            f->protocol == SNIFF_PROTO_NONE ? SNIFF_PROTO_UNKNOWN : f->protocol;
        return tri_of(k->u.mask & SNIFF_PROTO_BIT(proto));
    }
    case COND_NOT: {
        enum tri t = eval_clause(c, &k->u.sub);
        return t == MAYBE ? MAYBE : tri_of(t == NO);
    }
    case COND_ANY: {
        enum tri result = NO;
        for (size_t i = 0; i < k->u.any.n; i++) {
            enum tri t = eval_clause(c, &k->u.any.c[i]);
            if (t == YES)
                return YES;
            if (t == MAYBE)
                result = MAYBE;
        }
        return result;
    }
    }
    return NO;
}

static enum tri eval_clause(struct decide_ctx *c, const struct clause *cl)
{
    enum tri result = YES;
    for (size_t i = 0; i < cl->n; i++) {
        enum tri t = eval_cond(c, &cl->conds[i]);
        if (t == NO)
            return NO;
        if (t == MAYBE)
            result = MAYBE;
    }
    return result;
}

/* Runs the rules; returns false when a rule that could still hold needs what is still to come. */
static bool run_rules(struct decide_ctx *c, struct policy_decision *d)
{
    const struct policy *p = c->p;
    uint64_t candidates[POLICY_INDEX_MAX_WORDS];
    bool indexed = p->index_words > 0;
    if (indexed) {
        policy_index_candidates(p, c->flow, c->host != NULL, c->early, candidates);
        /* With a host name, the rules needing a domain condition it misses drop out at once. */
        if (c->host && p->names && p->names->n_sources)
            policy_names_exclude(p, names_hit(c), candidates);
    }
    for (size_t w = 0; w < (p->n_rules + 63) / 64; w++) {
        uint64_t bits = indexed ? candidates[w] : ~0ull;
        while (bits) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            if (i >= p->n_rules)
                break;
            enum tri t = eval_clause(c, &p->rules[i].when);
            if (t == MAYBE)
                return false;
            if (t == YES) {
                *d = (struct policy_decision){p->rules[i].outbound, (unsigned)i + 1,
                                              p->rules[i].line};
                return true;
            }
        }
    }
    *d = (struct policy_decision){p->default_outbound, 0, 0};
    return true;
}

/*
 * The flow's host name in normal form (rules/host_name.h), NULL when it has
 * none. A name too long for any rule to hold is decided on its first 255
 * bytes.
 */
static const char *normal_host(const struct policy_flow *flow, char host[SNIFF_HOST_MAX])
{
    if (!flow->host || !flow->host[0])
        return NULL;
    size_t len = strnlen(flow->host, SNIFF_HOST_MAX - 1);
    return host_name_normalize(flow->host, len, 0, host, SNIFF_HOST_MAX) == HOST_NAME_OK ? host
                                                                                         : NULL;
}

void policy_decide(const struct policy *policy, const struct policy_flow *flow,
                   struct policy_decision *decision)
{
    char host[SNIFF_HOST_MAX];
    struct domain_key key;
    struct decide_ctx c = {.p = policy, .flow = flow, .host = normal_host(flow, host), .key = &key};
    run_rules(&c, decision);
}

bool policy_decide_by_name(const struct policy *policy, const struct policy_flow *flow,
                           struct policy_decision *decision)
{
    char host[SNIFF_HOST_MAX];
    struct domain_key key;
    struct decide_ctx c = {.p = policy,
                           .flow = flow,
                           .host = normal_host(flow, host),
                           .dst_pending = true,
                           .key = &key};
    return run_rules(&c, decision);
}

bool policy_decide_early(const struct policy *policy, const struct policy_flow *flow,
                         struct policy_decision *decision)
{
    struct decide_ctx c = {.p = policy, .flow = flow, .early = true};
    return run_rules(&c, decision);
}
