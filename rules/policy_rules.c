/*
 * policy_rules.c — compiles `rules:` and `default:`. Each rule is a map of
 * conditions plus `action`; each condition key has one entry in the table
 * below (its name and the function that compiles its value).
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/policy_internal.h"
#include "rules/policy_yaml.h"
#include "rules/util.h"

typedef int (*cond_compile_fn)(struct load_ctx *c, yaml_node_t *value, struct cond *out,
                               const char *key);

struct cond_key {
    const char *name;
    enum cond_kind kind;
    cond_compile_fn compile;
};

static int compile_clause(struct load_ctx *c, yaml_node_t *node, struct clause *out,
                          const char *what, bool allow_action);

/* Limits that only a YAML alias loop or alias bomb reaches. */
#define MAX_DEPTH 32
#define MAX_CLAUSES 100000

static int compile_network(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    return policy_parse_networks(c, v, key, &out->u.mask);
}

static int compile_inbound(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    int n = policy_yaml_values_count(c, v, key);
    if (n < 0 || !(out->u.inbound.names = calloc((size_t)n, sizeof(char *))))
        return -1;
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_values_item(c, v, i);
        const char *s = policy_yaml_scalar(c, item, key);
        size_t j = 0;
        while (j < c->p->n_inbounds && strcmp(c->p->inbounds[j].name, s) != 0)
            j++;
        if (j == c->p->n_inbounds)
            return policy_yaml_fail(c, item, "unknown inbound '%s'", s);
        out->u.inbound.names[out->u.inbound.n++] = (char *)c->p->inbounds[j].name;
    }
    return 0;
}

static int compile_cidr(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    int n = policy_yaml_values_count(c, v, key);
    if (n < 0 || !(out->u.cidr = cidr_set_new()))
        return -1;
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_values_item(c, v, i);
        const char *why, *s = policy_yaml_scalar(c, item, key);
        if (cidr_set_add(out->u.cidr, s, &why) < 0)
            return policy_yaml_fail(c, item, "%s '%s': %s", key, s, why);
    }
    return cidr_set_freeze(out->u.cidr);
}

/* Names offered as suggestions: the first ones of a long list are enough. */
#define SUGGEST_MAX 64

/* The `name` of each of the first SUGGEST_MAX of `n` structs `type` in `array`, NULL-terminated. */
#define NAMES_OF(array, type, n, names)                                                            \
    gather_names(array, n, sizeof(type), offsetof(type, name), names)

static void gather_names(const void *array, size_t n, size_t stride, size_t offset,
                         const char *names[SUGGEST_MAX + 1])
{
    size_t k = 0;
    for (; k < n && k < SUGGEST_MAX; k++)
        names[k] = *(const char *const *)((const char *)array + k * stride + offset);
    names[k] = NULL;
}

/* "unknown WHAT 'S' (did you mean 'X'?)" with the closest of `names`, else with `hint` after. */
static int fail_unknown(struct load_ctx *c, yaml_node_t *node, const char *what, const char *s,
                        const char *const *names, const char *hint)
{
    const char *close = policy_yaml_suggest(s, names);
    if (close)
        return policy_yaml_fail(c, node, "unknown %s '%s' (did you mean '%s'?)", what, s, close);
    return policy_yaml_fail(c, node, "unknown %s '%s'%s", what, s, hint);
}

/* A named set of the right kind: `domains` says which. */
static int compile_set_ref(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key,
                           bool domains)
{
    const char *s = policy_yaml_scalar(c, v, key);
    if (!s)
        return -1;
    for (size_t i = 0; i < c->p->n_sets; i++) {
        const struct policy_set *set = &c->p->sets[i];
        if (strcmp(set->name, s) != 0)
            continue;
        if (domains != (set->domains != NULL))
            return policy_yaml_fail(c, v, "set '%s' holds %s, %s needs %s", s,
                                    set->domains ? "domains" : "addresses", key,
                                    domains ? "domains" : "addresses");
        out->u.set = i;
        return 0;
    }
    const char *names[SUGGEST_MAX + 1];
    NAMES_OF(c->p->sets, struct policy_set, c->p->n_sets, names);
    return fail_unknown(c, v, "set", s, names, "");
}

static int compile_addr_set(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    return compile_set_ref(c, v, out, key, false);
}

static int compile_domain_set(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    return compile_set_ref(c, v, out, key, true);
}

static int parse_port(const char *s, uint16_t *port)
{
    if (!isdigit((unsigned char)*s) || strlen(s) > 5)
        return -1;
    unsigned long v = strtoul(s, NULL, 10);
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    if (v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int policy_parse_networks(struct load_ctx *c, yaml_node_t *v, const char *key, unsigned *mask)
{
    int n = policy_yaml_values_count(c, v, key);
    if (n < 0)
        return -1;
    *mask = 0;
    for (int i = 0; i < n; i++) {
        unsigned w;
        if (policy_yaml_word(c, policy_yaml_values_item(c, v, i), key, policy_network_words, &w) <
            0)
            return -1;
        *mask |= 1u << w;
    }
    return 0;
}

int policy_parse_ports(struct load_ctx *c, yaml_node_t *v, const char *key, struct port_range **out,
                       size_t *n_out)
{
    int n = policy_yaml_values_count(c, v, key);
    if (n < 0 || !(*out = calloc(n ? (size_t)n : 1, sizeof(struct port_range))))
        return -1;
    *n_out = 0;
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_values_item(c, v, i);
        const char *s = policy_yaml_scalar(c, item, key);
        char lo[8] = "", hi[8] = "";
        const char *dash = strchr(s, '-');
        struct port_range *r = &(*out)[(*n_out)++];
        if (dash && (size_t)(dash - s) < sizeof(lo) && strlen(dash + 1) < sizeof(hi)) {
            memcpy(lo, s, (size_t)(dash - s));
            strcpy(hi, dash + 1);
        }
        bool ok = dash ? lo[0] && parse_port(lo, &r->lo) == 0 && parse_port(hi, &r->hi) == 0 &&
                             r->lo <= r->hi
                       : parse_port(s, &r->lo) == 0;
        if (!dash)
            r->hi = r->lo;
        if (!ok)
            return policy_yaml_fail(c, item, "%s '%s' is not a port (0-65535) or a range \"LO-HI\"",
                                    key, s);
    }
    return 0;
}

static int compile_ports(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    return policy_parse_ports(c, v, key, &out->u.ports.r, &out->u.ports.n);
}

static int compile_geoip(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    if (!c->p->geoip)
        return policy_yaml_fail(c, v,
                                "a geoip condition needs a GeoIP database: add geoip: {file: ...}");
    int n = policy_yaml_values_count(c, v, key);
    if (n < 0 || !(out->u.geoip.codes = calloc((size_t)n, 3)))
        return -1;
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_values_item(c, v, i);
        const char *s = policy_yaml_scalar(c, item, key);
        if (strlen(s) != 2 || !isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1]))
            return policy_yaml_fail(c, item, "geoip '%s' is not a two-letter country code", s);
        char *code = out->u.geoip.codes[out->u.geoip.n++];
        code[0] = (char)toupper((unsigned char)s[0]);
        code[1] = (char)toupper((unsigned char)s[1]);
        code[2] = '\0';
    }
    return 0;
}

static int compile_domains(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    enum domain_kind kind = strcmp(key, "domain") == 0           ? DOMAIN_FULL
                            : strcmp(key, "domain_suffix") == 0  ? DOMAIN_SUFFIX
                            : strcmp(key, "domain_keyword") == 0 ? DOMAIN_KEYWORD
                                                                 : DOMAIN_REGEX;
    int n = policy_yaml_values_count(c, v, key);
    if (n < 0 || !(out->u.domains = domain_set_new()))
        return -1;
    char why[512];
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_values_item(c, v, i);
        if (domain_set_add(out->u.domains, kind, policy_yaml_scalar(c, item, key), why,
                           sizeof(why)) < 0)
            return policy_yaml_fail(c, item, "%s", why);
    }
    if (domain_set_freeze(out->u.domains, why, sizeof(why)) < 0)
        return policy_yaml_fail(c, v, "%s", why);
    return 0;
}

static int compile_protocol(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    int n = policy_yaml_values_count(c, v, key);
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_values_item(c, v, i);
        const char *s = policy_yaml_scalar(c, item, key);
        enum sniff_protocol p = sniff_protocol_from_name(s);
        if (p == SNIFF_PROTO_NONE)
            return policy_yaml_fail(
                c, item, "protocol must be tls, http, quic, dns or unknown, not '%s'", s);
        out->u.mask |= SNIFF_PROTO_BIT(p);
    }
    return 0;
}

static int compile_not(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    if (++c->depth > MAX_DEPTH)
        return policy_yaml_fail(c, v, "not/any nested more than %d deep (an alias inside itself?)",
                                MAX_DEPTH);
    int rc = compile_clause(c, v, &out->u.sub, key, false);
    c->depth--;
    return rc;
}

static int compile_any(struct load_ctx *c, yaml_node_t *v, struct cond *out, const char *key)
{
    if (v->type != YAML_SEQUENCE_NODE || policy_yaml_empty_list(v))
        return policy_yaml_fail(c, v, "any must be a list of condition maps");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (++c->depth > MAX_DEPTH)
        return policy_yaml_fail(c, v, "not/any nested more than %d deep (an alias inside itself?)",
                                MAX_DEPTH);
    if (!(out->u.any.c = calloc(n, sizeof(struct clause))))
        return -1;
    for (size_t i = 0; i < n; i++) {
        out->u.any.n++;
        if (compile_clause(c, policy_yaml_node(c, v->data.sequence.items.start[i]),
                           &out->u.any.c[i], key, false) < 0)
            return -1;
    }
    c->depth--;
    return 0;
}

static const struct cond_key cond_keys[] = {
    {"network", COND_NETWORK, compile_network},
    {"inbound", COND_INBOUND, compile_inbound},
    {"src", COND_SRC, compile_cidr},
    {"dst", COND_DST, compile_cidr},
    {"src_set", COND_SRC_SET, compile_addr_set},
    {"dst_set", COND_DST_SET, compile_addr_set},
    {"src_port", COND_SRC_PORT, compile_ports},
    {"dst_port", COND_DST_PORT, compile_ports},
    {"geoip", COND_GEOIP, compile_geoip},
    {"domain", COND_DOMAINS, compile_domains},
    {"domain_suffix", COND_DOMAINS, compile_domains},
    {"domain_keyword", COND_DOMAINS, compile_domains},
    {"domain_regex", COND_DOMAINS, compile_domains},
    {"domain_set", COND_DOMAIN_SET, compile_domain_set},
    {"protocol", COND_PROTOCOL, compile_protocol},
    {"not", COND_NOT, compile_not},
    {"any", COND_ANY, compile_any},
};
#define N_COND_KEYS (ARRAY_LEN(cond_keys))

/* Rough cost of evaluating a condition kind: comparisons, then lookups. */
static int cond_cost(enum cond_kind kind)
{
    static const int cost[] = {
        [COND_NETWORK] = 0,    [COND_INBOUND] = 1, [COND_SRC_PORT] = 0, [COND_DST_PORT] = 0,
        [COND_PROTOCOL] = 0,   [COND_SRC] = 2,     [COND_DST] = 2,      [COND_DOMAINS] = 3,
        [COND_DOMAIN_SET] = 3, [COND_SRC_SET] = 4, [COND_DST_SET] = 4,  [COND_GEOIP] = 5,
        [COND_NOT] = 6,        [COND_ANY] = 6,
    };
    return cost[kind];
}

/* Stable insertion sort by cost: equal costs keep the file's order. */
static void sort_by_cost(struct cond *conds, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct cond c = conds[i];
        size_t j = i;
        for (; j > 0 && cond_cost(conds[j - 1].kind) > cond_cost(c.kind); j--)
            conds[j] = conds[j - 1];
        conds[j] = c;
    }
}

/* A map of conditions (and, for a rule, `action`, which the caller reads). */
static int compile_clause(struct load_ctx *c, yaml_node_t *node, struct clause *out,
                          const char *what, bool allow_action)
{
    if (node->type != YAML_MAPPING_NODE)
        return policy_yaml_fail(c, node, "%s must be a map of conditions", what);
    if (++c->clauses > MAX_CLAUSES)
        return policy_yaml_fail(
            c, node, "more than %d maps of conditions (aliases repeated too often?)", MAX_CLAUSES);
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    if (!(out->conds = calloc(n ? n : 1, sizeof(struct cond))))
        return policy_yaml_fail(c, node, "out of memory");

    const char *names[N_COND_KEYS + 2];
    for (size_t i = 0; i < N_COND_KEYS; i++)
        names[i] = cond_keys[i].name;
    names[N_COND_KEYS] = allow_action ? "action" : NULL;
    names[N_COND_KEYS + 1] = NULL;

    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = policy_yaml_node(c, pair->key);
        const char *name = policy_yaml_scalar(c, key, "a condition");
        if (!name)
            return -1;
        if (allow_action && strcmp(name, "action") == 0)
            continue;
        for (size_t j = 0; j < i; j++)
            if (strcmp(name,
                       (const char *)policy_yaml_node(c, node->data.mapping.pairs.start[j].key)
                           ->data.scalar.value) == 0)
                return policy_yaml_fail(c, key, "condition '%s' given twice", name);
        const struct cond_key *k = cond_keys;
        while (k < cond_keys + N_COND_KEYS && strcmp(k->name, name) != 0)
            k++;
        if (k == cond_keys + N_COND_KEYS)
            return fail_unknown(c, key, "condition", name, names, "");
        struct cond *cond = &out->conds[out->n++];
        cond->kind = k->kind;
        if (k->compile(c, policy_yaml_node(c, pair->value), cond, k->name) < 0) {
            if (!c->error[0])
                policy_yaml_fail(c, key, "out of memory");
            return -1;
        }
    }
    if (out->n == 0 && !allow_action)
        return policy_yaml_fail(c, node, "%s needs at least one condition", what);
    /* All must hold, so the order is free: cheap tests first, to fail fast. */
    sort_by_cost(out->conds, out->n);
    return 0;
}

static const struct policy_outbound *find_outbound(struct load_ctx *c, yaml_node_t *node)
{
    const char *s = policy_yaml_scalar(c, node, "action");
    if (!s)
        return NULL;
    const struct policy_outbound *o = policy_outbound_by_name(c->p, s);
    if (o)
        return o;
    const char *names[SUGGEST_MAX + 1];
    NAMES_OF(c->p->outbounds, struct policy_outbound, c->p->n_outbounds, names);
    fail_unknown(c, node, "outbound", s, names, " (direct, drop, or a name from outbounds)");
    return NULL;
}

/* The networks the inbounds carry; both when the file has none (check, match). */
static unsigned inbound_networks(const struct policy *p)
{
    unsigned nets = 0;
    for (size_t i = 0; i < p->n_inbounds; i++)
        nets |= p->inbounds[i].networks;
    return p->n_inbounds ? nets : POLICY_TCP | POLICY_UDP;
}

/*
 * The networks a rule can match: its top-level network condition, narrowed
 * to what the inbounds it names (or all inbounds) carry.
 */
static unsigned rule_networks(const struct policy *p, const struct policy_rule *r)
{
    unsigned nets = inbound_networks(p);
    for (size_t i = 0; i < r->when.n; i++) {
        const struct cond *k = &r->when.conds[i];
        if (k->kind == COND_NETWORK)
            nets &= k->u.mask;
        if (k->kind == COND_INBOUND) {
            unsigned via = 0;
            for (size_t j = 0; j < k->u.inbound.n; j++)
                for (size_t n = 0; n < p->n_inbounds; n++)
                    if (p->inbounds[n].name == k->u.inbound.names[j])
                        via |= p->inbounds[n].networks;
            nets &= via;
        }
    }
    return nets;
}

static bool udp_less_socks5(const struct policy_outbound *o)
{
    return o->type == OUTBOUND_SOCKS5 && !o->udp;
}

static int compile_rule(struct load_ctx *c, yaml_node_t *node, struct policy_rule *r)
{
    if (compile_clause(c, node, &r->when, "a rule", true) < 0)
        return -1;
    r->line = policy_yaml_line(node);
    yaml_node_t *action = NULL;
    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++)
        if (strcmp((const char *)policy_yaml_node(c, pair->key)->data.scalar.value, "action") == 0)
            action = policy_yaml_node(c, pair->value);
    if (!action)
        return policy_yaml_fail(c, node,
                                "a rule needs 'action' (direct, drop or an outbound name)");
    if (!(r->outbound = find_outbound(c, action)))
        return -1;
    const struct policy_outbound *o = r->outbound;
    if (!udp_less_socks5(o))
        return 0;
    const struct cond *net = NULL;
    for (size_t i = 0; i < r->when.n; i++)
        if (r->when.conds[i].kind == COND_NETWORK)
            net = &r->when.conds[i];
    if (net && net->u.mask == POLICY_UDP)
        return policy_yaml_fail(
            c, action, "outbound '%s' does not carry UDP: add 'udp: true' to it or pick another",
            o->name);
    if (rule_networks(c->p, r) & POLICY_UDP)
        policy_yaml_warn(
            c, action, "UDP flows matching this rule are dropped: outbound '%s' has no 'udp: true'",
            o->name);
    return 0;
}

static int compile_rules(struct load_ctx *c, yaml_node_t *rules)
{
    struct policy *p = c->p;
    if (rules->type != YAML_SEQUENCE_NODE)
        return policy_yaml_fail(c, rules, "rules must be a list");
    size_t n = (size_t)(rules->data.sequence.items.top - rules->data.sequence.items.start);
    if (!(p->rules = calloc(n ? n : 1, sizeof(*p->rules))))
        return policy_yaml_fail(c, rules, "out of memory");
    for (size_t i = 0; i < n; i++) {
        p->n_rules++; /* counted first: destroy frees a half-compiled rule */
        if (compile_rule(c, policy_yaml_node(c, rules->data.sequence.items.start[i]),
                         &p->rules[i]) < 0)
            return -1;
    }
    if (policy_index_build(p) < 0 || policy_names_build(p) < 0)
        return policy_yaml_fail(c, rules, "out of memory");
    return 0;
}

int policy_load_rules(struct load_ctx *c, yaml_node_t *rules, yaml_node_t *default_node)
{
    struct policy *p = c->p;
    p->default_outbound = &p->outbounds[0];
    if (default_node && !(p->default_outbound = find_outbound(c, default_node)))
        return -1;
    if (rules && compile_rules(c, rules) < 0)
        return -1;
    /* Only inbounds that really carry UDP make this worth saying for the default. */
    if (default_node && udp_less_socks5(p->default_outbound) && p->n_inbounds &&
        (inbound_networks(p) & POLICY_UDP))
        policy_yaml_warn(c, default_node,
                         "UDP flows no rule decides are dropped: outbound '%s' has no 'udp: true'",
                         p->default_outbound->name);
    return 0;
}
