/*
 * test_policy_threads.c — one policy decided by several threads at once, as
 * the workers do: set lookups, domain regexes and the per-decision memo must
 * give every thread the answers one thread alone gets, and references taken
 * and dropped from every thread must balance.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

#define THREADS 4
#define ROUNDS 20000

static const char *policy_text =
    "sets:\n"
    "  a: {cidr: [198.51.100.0/25]}\n"
    "  b: {cidr: [198.51.100.128/25]}\n"
    "  names: {domain: ['regexp:^a[0-9]+\\.example$', 'full:b.example']}\n"
    "rules:\n"
    "  - {dst_set: a, domain_set: names, action: drop}\n" /* 1 */
    "  - {dst_set: b, dst_port: 443, action: drop}\n"     /* 2 */
    "  - {dst_set: a, action: direct}\n"                  /* 3 */
    "  - {domain_set: names, action: drop}\n"             /* 4 */
    "default: direct\n";

/* One flow and the rule one thread alone decides it by. */
struct flow_case {
    struct policy_flow flow;
    unsigned rule;
};

#define CASES 64

struct shared {
    struct policy *policy;
    struct flow_case cases[CASES];
    _Atomic unsigned wrong;
};

static void make_case(struct flow_case *c, unsigned i)
{
    char host[32];
    static char hosts[CASES][32];
    memset(&c->flow, 0, sizeof(c->flow));
    c->flow.network = POLICY_TCP;
    c->flow.src.family = c->flow.dst.family = AF_INET;
    uint8_t dst[4] = {198, 51, 100, (uint8_t)(i * 4)};
    memcpy(c->flow.dst.ip, dst, 4);
    c->flow.dst.port = i % 3 ? 443 : 80;
    snprintf(host, sizeof(host), i % 2 ? "a%u.example" : "c%u.example", i);
    strcpy(hosts[i], host);
    c->flow.host = i % 5 ? hosts[i] : NULL;
}

static void *decide_loop(void *arg)
{
    struct shared *s = arg;
    for (unsigned r = 0; r < ROUNDS; r++) {
        struct policy *p = policy_ref(s->policy);
        const struct flow_case *c = &s->cases[r % CASES];
        struct policy_decision d;
        policy_decide(p, &c->flow, &d);
        if (d.rule != c->rule)
            s->wrong++;
        policy_unref(p);
    }
    return NULL;
}

static void every_thread_decides_as_one_alone(void **state)
{
    (void)state;
    static struct shared s;
    s.policy = fixture_policy_ok(policy_text);
    for (unsigned i = 0; i < CASES; i++) {
        make_case(&s.cases[i], i);
        struct policy_decision d;
        policy_decide(s.policy, &s.cases[i].flow, &d);
        s.cases[i].rule = d.rule;
    }
    /* The cases reach every rule and the default. */
    unsigned seen = 0;
    for (unsigned i = 0; i < CASES; i++)
        seen |= 1u << s.cases[i].rule;
    assert_int_equal(seen, 0x1f);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, decide_loop, &s), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(s.wrong, 0);
    policy_unref(s.policy); /* the last reference: AddressSanitizer sees any imbalance */
}

UNIT_TEST_MAIN(NULL, fixture_teardown, cmocka_unit_test(every_thread_decides_as_one_alone))
