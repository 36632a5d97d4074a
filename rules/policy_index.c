/*
 * policy_index.c — the candidate index: which rules can still hold for a
 * flow, from its network, destination port, whether it has a host name and
 * its protocol, in a few table reads instead of a walk through every rule.
 *
 * A rule whose top-level `network` or `dst_port` condition fails, or that
 * needs a host name the flow does not have, or a protocol it was not
 * sniffed as, cannot hold: all its conditions must. So the decision
 * evaluates, in file order, only the rules the index leaves — first match
 * is unchanged, it just skips rules that are certain to fail.
 */
#include <stdlib.h>
#include <string.h>

#include "rules/policy_internal.h"

#define PORTS 65536

static void set_bit(uint64_t *bits, size_t i)
{
    bits[i / 64] |= 1ull << (i % 64);
}

static const struct cond *top_level(const struct policy_rule *r, enum cond_kind kind)
{
    for (size_t i = 0; i < r->when.n; i++)
        if (r->when.conds[i].kind == kind)
            return &r->when.conds[i];
    return NULL;
}

int policy_index_build(struct policy *p)
{
    size_t w = (p->n_rules + 63) / 64;
    if (w == 0 || w > POLICY_INDEX_MAX_WORDS)
        return 0; /* no rules, or so many that the port table would be too big: walk them all */
    p->index_words = w;
    p->index_port = calloc((size_t)PORTS * w, sizeof(uint64_t));
    p->index_network = calloc(2 * w, sizeof(uint64_t));
    p->index_hostless = calloc(w, sizeof(uint64_t));
    p->index_protocol = calloc(6 * w, sizeof(uint64_t));
    if (!p->index_port || !p->index_network || !p->index_hostless || !p->index_protocol)
        return -1;

    for (size_t i = 0; i < p->n_rules; i++) {
        const struct policy_rule *r = &p->rules[i];
        const struct cond *net = top_level(r, COND_NETWORK);
        if (!net || (net->u.mask & POLICY_TCP))
            set_bit(p->index_network, i);
        if (!net || (net->u.mask & POLICY_UDP))
            set_bit(p->index_network + w, i);

        const struct cond *port = top_level(r, COND_DST_PORT);
        for (size_t pt = 0; pt < PORTS; pt++) {
            bool ok = !port;
            for (size_t k = 0; port && !ok && k < port->u.ports.n; k++)
                ok = pt >= port->u.ports.r[k].lo && pt <= port->u.ports.r[k].hi;
            if (ok)
                set_bit(p->index_port + pt * w, i);
        }

        if (!top_level(r, COND_DOMAINS) && !top_level(r, COND_DOMAIN_SET))
            set_bit(p->index_hostless, i);

        const struct cond *proto = top_level(r, COND_PROTOCOL);
        for (unsigned pr = 0; pr < 6; pr++)
            if (!proto || (proto->u.mask & SNIFF_PROTO_BIT(pr)))
                set_bit(p->index_protocol + pr * w, i);
    }
    return 0;
}

void policy_index_free(struct policy *p)
{
    free(p->index_port);
    free(p->index_network);
    free(p->index_hostless);
    free(p->index_protocol);
}

void policy_index_candidates(const struct policy *p, const struct policy_flow *f, bool has_host,
                             bool early, uint64_t *out)
{
    size_t w = p->index_words;
    const uint64_t *net = p->index_network + (f->network == POLICY_UDP ? w : 0);
    const uint64_t *port = p->index_port + (size_t)f->dst.port * w;
    enum sniff_protocol proto = f->protocol == SNIFF_PROTO_NONE ? SNIFF_PROTO_UNKNOWN : f->protocol;
    const uint64_t *pr = p->index_protocol + (size_t)proto * w;
    for (size_t i = 0; i < w; i++) {
        uint64_t c = net[i] & port[i];
        if (!early) { /* before sniffing, name and protocol conditions are still open */
            if (!has_host)
                c &= p->index_hostless[i];
            c &= pr[i];
        }
        out[i] = c;
    }
}
