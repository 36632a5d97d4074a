/*
 * policy_static.h — the leading rules of a policy that the kernel can decide
 * by itself: which flows are direct, dropped or to be steered to switchyard,
 * from their addresses, ports and network alone (`switchyard firewall`
 * turns this into nftables sets and rules placed before the steering).
 *
 * For one inbound, the rules are taken in order. A rule whose conditions
 * are all about addresses, ports, network, GeoIP country and the inbound
 * gives its own verdict: `direct` and `drop` (or outbounds of those types)
 * decide in the kernel, any other outbound steers the flow to switchyard. A
 * rule that needs the host name or protocol steers every flow it could still
 * match (its address conditions hold, its name conditions taken as maybe),
 * so a later rule decides in the kernel only flows for which every earlier
 * rule is a definite no from the addresses: exactly the flows
 * policy_decide_early decides, with the same decision for any host name.
 * A rule holding for every flow ends the list; after the last rule comes
 * the default. A rule too large to write as an OR of ANDs of tests (more
 * than POLICY_STATIC_TERMS_MAX terms) ends the list early: what no entry
 * matches is steered, which is always right.
 */
#ifndef SWITCHYARD_POLICY_STATIC_H
#define SWITCHYARD_POLICY_STATIC_H

#include <stdbool.h>
#include <stddef.h>

#include "rules/cidr_set.h"
#include "rules/policy.h"

#define POLICY_STATIC_TESTS_MAX 16 /* tests in one term */
#define POLICY_STATIC_TERMS_MAX 64 /* terms in one rule */

enum policy_static_field {
    POLICY_STATIC_NETWORK,
    POLICY_STATIC_SRC,
    POLICY_STATIC_DST,
    POLICY_STATIC_SRC_PORT,
    POLICY_STATIC_DST_PORT,
};

/* One test of a packet: a field against a set of values. */
struct policy_static_test {
    enum policy_static_field field;
    bool negate;                    /* SRC, DST, ports: holds when the value is NOT in the set */
    unsigned networks;              /* NETWORK: POLICY_TCP or POLICY_UDP */
    size_t addrs;                   /* SRC, DST: index in policy_static.addrs */
    const struct port_range *ports; /* SRC_PORT, DST_PORT: in the policy */
    size_t n_ports;
};

/* Tests that must all hold (none: holds for every packet). */
struct policy_static_term {
    struct policy_static_test tests[POLICY_STATIC_TESTS_MAX];
    size_t n;
};

enum policy_static_verdict {
    POLICY_STATIC_DIRECT, /* forwarded by the kernel, never seen by switchyard */
    POLICY_STATIC_DROP,   /* dropped by the kernel */
    POLICY_STATIC_STEER,  /* steered to switchyard, which decides */
};

/* A rule of the policy as the kernel tests it: it holds when one of its terms holds. */
struct policy_static_rule {
    unsigned rule; /* 1-based rule number, 0 for the default */
    int line;      /* the rule's line in the file, 0 for the default */
    enum policy_static_verdict verdict;
    struct policy_static_term *terms;
    size_t n_terms;
};

/* An address set the tests name: a rule's own CIDRs, a set from `sets:`, a country. */
struct policy_static_addrs {
    char what[48]; /* "set private", "geoip CN", "rule 3" */
    const struct cidr_set *cidr;
    struct cidr_set *owned; /* a country's networks, built here */
    char country[3];        /* "" unless a country */
};

/* The kernel's rules for one inbound: first match decides, no match steers. */
struct policy_static_list {
    const char *inbound;
    struct policy_static_rule *rules;
    size_t n;
};

struct policy_static {
    struct policy_static_addrs *addrs; /* shared by the lists */
    size_t n_addrs;
    struct policy_static_list *lists; /* one per inbound asked for, in that order */
    size_t n_lists;
};

/*
 * Builds the kernel's rules of `policy` for each of the `n` inbounds named
 * (the `inbound` condition is known per inbound: each gets its own list).
 * GeoIP countries are expanded into their networks from the policy's
 * database. Returns NULL with a message in `error` when out of memory or
 * the database cannot be walked.
 */
struct policy_static *policy_static_build(const struct policy *policy, const char *const *inbounds,
                                          size_t n, char *error, size_t error_len);
void policy_static_free(struct policy_static *s);

#endif
