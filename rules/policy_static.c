/*
 * policy_static.c — the rules the kernel can decide, per inbound. See
 * policy_static.h.
 *
 * Each rule's condition is rewritten as an OR of ANDs of tests (a
 * disjunctive normal form): `not` is pushed down to the tests (a negated
 * network or inbound is folded to its complement), `any` and a list of
 * countries become ORs, and a name or protocol condition becomes "true"
 * whichever way it is negated, so the form holds wherever the rule could
 * hold once a name is known (policy_decide.c's maybe).
 */
#include "rules/policy_static.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/policy_internal.h"

#define ALL_NETWORKS (POLICY_TCP | POLICY_UDP)

struct dnf {
    struct policy_static_term *t;
    size_t n;
};

struct build {
    const struct policy *p;
    struct policy_static *s;
    const char *inbound;
    bool names;     /* the rule being built needs a host name or protocol */
    bool too_large; /* a form went past the limits */
    char *error;
    size_t error_len;
};

static int dnf_true(struct dnf *d)
{
    d->t = calloc(1, sizeof(*d->t));
    d->n = d->t ? 1 : 0;
    return d->t ? 0 : -1;
}

static void dnf_false(struct dnf *d)
{
    d->t = NULL;
    d->n = 0;
}

static int dnf_test(struct dnf *d, const struct policy_static_test *test)
{
    if (dnf_true(d) < 0)
        return -1;
    d->t[0].tests[0] = *test;
    d->t[0].n = 1;
    return 0;
}

/* a = a OR x; x is consumed, and on failure a is emptied too. */
static int dnf_or(struct build *b, struct dnf *a, struct dnf *x)
{
    struct policy_static_term *t = NULL;
    if (a->n + x->n > POLICY_STATIC_TERMS_MAX)
        b->too_large = true;
    else
        t = realloc(a->t, (a->n + x->n + 1) * sizeof(*t));
    if (!t) {
        free(a->t);
        free(x->t);
        *a = (struct dnf){NULL, 0};
        return -1;
    }
    if (x->n) /* memcpy wants real pointers even for nothing */
        memcpy(t + a->n, x->t, x->n * sizeof(*t));
    a->t = t;
    a->n += x->n;
    free(x->t);
    return 0;
}

/* a = a AND x; x is consumed, and on failure a is emptied too. */
static int dnf_and(struct build *b, struct dnf *a, struct dnf *x)
{
    struct dnf out = {NULL, 0};
    int rc = 0;
    if (a->n * x->n > POLICY_STATIC_TERMS_MAX) {
        b->too_large = true;
        rc = -1;
    } else if (a->n * x->n > 0 && !(out.t = calloc(a->n * x->n, sizeof(*out.t)))) {
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < a->n; i++)
        for (size_t j = 0; rc == 0 && j < x->n; j++) {
            if (a->t[i].n + x->t[j].n > POLICY_STATIC_TESTS_MAX) {
                b->too_large = true;
                rc = -1;
                break;
            }
            struct policy_static_term *t = &out.t[out.n++];
            *t = a->t[i];
            memcpy(t->tests + t->n, x->t[j].tests, x->t[j].n * sizeof(t->tests[0]));
            t->n += x->t[j].n;
        }
    free(a->t);
    free(x->t);
    *a = rc == 0 ? out : (struct dnf){NULL, 0};
    if (rc < 0)
        free(out.t);
    return rc;
}

/* Empties `d` after a failure; returns -1. */
static int dnf_fail(struct dnf *d)
{
    free(d->t);
    *d = (struct dnf){NULL, 0};
    return -1;
}

static bool has_true_term(const struct dnf *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->t[i].n == 0)
            return true;
    return false;
}

/* The index of an address set in s->addrs, added when new; -1 when out of memory. */
static long addrs_index(struct build *b, const struct cidr_set *cidr, const char *country,
                        const char *what)
{
    struct policy_static *s = b->s;
    for (size_t i = 0; i < s->n_addrs; i++)
        if (country ? strcmp(s->addrs[i].country, country) == 0 : s->addrs[i].cidr == cidr)
            return (long)i;
    struct policy_static_addrs *a = realloc(s->addrs, (s->n_addrs + 1) * sizeof(*a));
    if (!a)
        return -1;
    s->addrs = a;
    a = &s->addrs[s->n_addrs];
    memset(a, 0, sizeof(*a));
    snprintf(a->what, sizeof(a->what), "%s", what);
    a->cidr = cidr;
    return (long)s->n_addrs++;
}

static int add_network(void *ctx, int family, const uint8_t *ip, unsigned bits)
{
    return cidr_set_add_prefix(ctx, family, ip, bits);
}

/* A country's networks, both families, as an address set. */
static long country_index(struct build *b, const char *code)
{
    struct policy_static *s = b->s;
    for (size_t i = 0; i < s->n_addrs; i++)
        if (strcmp(s->addrs[i].country, code) == 0)
            return (long)i;
    struct cidr_set *set = cidr_set_new();
    if (!set)
        return -1;
    if (geoip_country_networks(b->p->geoip, code, AF_INET, add_network, set) != 0 ||
        geoip_country_networks(b->p->geoip, code, AF_INET6, add_network, set) != 0 ||
        cidr_set_freeze(set) < 0) {
        snprintf(b->error, b->error_len, "%s: cannot list the networks of %s", b->p->geoip_path,
                 code);
        cidr_set_free(set);
        return -1;
    }
    char what[48];
    snprintf(what, sizeof(what), "geoip %s", code);
    long i = addrs_index(b, NULL, code, what);
    if (i < 0) {
        cidr_set_free(set);
        return -1;
    }
    s->addrs[i].cidr = s->addrs[i].owned = set;
    memcpy(s->addrs[i].country, code, 3);
    return i;
}

static int clause_dnf(struct build *b, const struct clause *cl, bool neg, unsigned rule,
                      struct dnf *out);

static int constant(struct dnf *out, bool value)
{
    if (value)
        return dnf_true(out);
    dnf_false(out);
    return 0;
}

/* `k` (negated when `neg`) as an OR of ANDs of tests, into `out`. */
static int cond_dnf(struct build *b, const struct cond *k, bool neg, unsigned rule, struct dnf *out)
{
    struct policy_static_test t = {.negate = neg};
    char what[48];
    long i;
    switch (k->kind) {
    case COND_NETWORK: {
        unsigned mask = (neg ? ~k->u.mask : k->u.mask) & ALL_NETWORKS;
        if (mask == 0 || mask == ALL_NETWORKS)
            return constant(out, mask != 0);
        t = (struct policy_static_test){.field = POLICY_STATIC_NETWORK, .networks = mask};
        return dnf_test(out, &t);
    }
    case COND_INBOUND: {
        bool in = false;
        for (size_t j = 0; b->inbound && j < k->u.inbound.n; j++)
            in |= strcmp(k->u.inbound.names[j], b->inbound) == 0;
        return constant(out, in != neg);
    }
    case COND_SRC:
    case COND_DST:
    case COND_SRC_SET:
    case COND_DST_SET: {
        /* the rule's own list, or a named set's (one list however many rules name it) */
        bool named = k->kind == COND_SRC_SET || k->kind == COND_DST_SET;
        const struct cidr_set *cidr = named ? b->p->sets[k->u.set].cidr : k->u.cidr;
        if (named)
            snprintf(what, sizeof(what), "set %s", b->p->sets[k->u.set].name);
        else
            snprintf(what, sizeof(what), "rule %u", rule);
        if ((i = addrs_index(b, cidr, NULL, what)) < 0)
            return -1;
        bool src = k->kind == COND_SRC || k->kind == COND_SRC_SET;
        t.field = src ? POLICY_STATIC_SRC : POLICY_STATIC_DST;
        t.addrs = (size_t)i;
        return dnf_test(out, &t);
    }
    case COND_SRC_PORT:
    case COND_DST_PORT:
        t.field = k->kind == COND_SRC_PORT ? POLICY_STATIC_SRC_PORT : POLICY_STATIC_DST_PORT;
        t.ports = k->u.ports.r;
        t.n_ports = k->u.ports.n;
        return dnf_test(out, &t);
    case COND_GEOIP:
        /* one of the countries: an OR; none of them: an AND of negated tests */
        if (constant(out, neg) < 0)
            return -1;
        for (size_t j = 0; j < k->u.geoip.n; j++) {
            struct dnf one;
            t.field = POLICY_STATIC_DST;
            if ((i = country_index(b, k->u.geoip.codes[j])) < 0 ||
                (t.addrs = (size_t)i, dnf_test(&one, &t)) < 0 ||
                (neg ? dnf_and(b, out, &one) : dnf_or(b, out, &one)) < 0)
                return dnf_fail(out);
        }
        return 0;
    case COND_DOMAINS:
    case COND_DOMAIN_SET:
    case COND_PROTOCOL:
        b->names = true; /* could hold either way until a name is known */
        return dnf_true(out);
    case COND_NOT:
        return clause_dnf(b, &k->u.sub, !neg, rule, out);
    case COND_ANY:
        if (constant(out, neg) < 0)
            return -1;
        for (size_t j = 0; j < k->u.any.n; j++) {
            struct dnf one;
            if (clause_dnf(b, &k->u.any.c[j], neg, rule, &one) < 0 ||
                (neg ? dnf_and(b, out, &one) : dnf_or(b, out, &one)) < 0)
                return dnf_fail(out);
        }
        return 0;
    }
    return -1;
}

/* All conditions of `cl`; negated: one of them fails. */
static int clause_dnf(struct build *b, const struct clause *cl, bool neg, unsigned rule,
                      struct dnf *out)
{
    if (constant(out, !neg) < 0)
        return -1;
    for (size_t i = 0; i < cl->n; i++) {
        struct dnf one;
        if (cond_dnf(b, &cl->conds[i], neg, rule, &one) < 0 ||
            (neg ? dnf_or(b, out, &one) : dnf_and(b, out, &one)) < 0)
            return dnf_fail(out);
    }
    return 0;
}

static enum policy_static_verdict verdict_of(const struct policy_outbound *o)
{
    return o->type == OUTBOUND_DIRECT ? POLICY_STATIC_DIRECT
           : o->type == OUTBOUND_DROP ? POLICY_STATIC_DROP
                                      : POLICY_STATIC_STEER;
}

static int list_add(struct policy_static_list *l, unsigned rule, int line,
                    enum policy_static_verdict verdict, struct dnf *d)
{
    struct policy_static_rule *r = realloc(l->rules, (l->n + 1) * sizeof(*r));
    if (!r) {
        free(d->t);
        return -1;
    }
    l->rules = r;
    r[l->n++] = (struct policy_static_rule){rule, line, verdict, d->t, d->n};
    return 0;
}

static int build_list(struct build *b, struct policy_static_list *l)
{
    const struct policy *p = b->p;
    bool covered = false; /* a rule holds for every flow: nothing after it is reached */
    size_t i;
    for (i = 0; i < p->n_rules && !covered; i++) {
        struct dnf d;
        b->names = b->too_large = false;
        if (clause_dnf(b, &p->rules[i].when, false, (unsigned)i + 1, &d) < 0) {
            if (b->too_large)
                break; /* what no entry matched is steered */
            return -1;
        }
        if (d.n == 0)
            continue; /* never holds */
        covered = has_true_term(&d);
        enum policy_static_verdict v =
            b->names ? POLICY_STATIC_STEER : verdict_of(p->rules[i].outbound);
        if (list_add(l, (unsigned)i + 1, p->rules[i].line, v, &d) < 0)
            return -1;
    }
    if (i == p->n_rules && !covered) {
        struct dnf d;
        if (dnf_true(&d) < 0 || list_add(l, 0, 0, verdict_of(p->default_outbound), &d) < 0)
            return -1;
    }
    /* Steering is what happens when nothing matches: trailing steer rules say nothing. */
    while (l->n && l->rules[l->n - 1].verdict == POLICY_STATIC_STEER)
        free(l->rules[--l->n].terms);
    return 0;
}

struct policy_static *policy_static_build(const struct policy *policy, const char *const *inbounds,
                                          size_t n, char *error, size_t error_len)
{
    struct policy_static *s = calloc(1, sizeof(*s));
    if (s && n)
        s->lists = calloc(n, sizeof(*s->lists));
    snprintf(error, error_len, "out of memory");
    if (!s || (n && !s->lists)) {
        free(s);
        return NULL;
    }
    s->n_lists = n;
    struct build b = {.p = policy, .s = s, .error = error, .error_len = error_len};
    for (size_t i = 0; i < n; i++) {
        s->lists[i].inbound = inbounds[i];
        b.inbound = inbounds[i];
        if (build_list(&b, &s->lists[i]) < 0) {
            policy_static_free(s);
            return NULL;
        }
    }
    return s;
}

void policy_static_free(struct policy_static *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_lists; i++) {
        for (size_t r = 0; r < s->lists[i].n; r++)
            free(s->lists[i].rules[r].terms);
        free(s->lists[i].rules);
    }
    free(s->lists);
    for (size_t i = 0; i < s->n_addrs; i++)
        cidr_set_free(s->addrs[i].owned);
    free(s->addrs);
    free(s);
}
