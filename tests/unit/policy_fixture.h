/*
 * policy_fixture.h — test helpers: write a policy (and the files it names)
 * into a private temporary folder and load it. Included by the policy
 * tests, after cmocka.h.
 */
#ifndef SWITCHYARD_TEST_POLICY_FIXTURE_H
#define SWITCHYARD_TEST_POLICY_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules/policy.h"

static char fixture_dir[64];

/* Writes `text` to FILE in the fixture folder (made on first use); returns its path. */
static inline const char *fixture_write(const char *name, const char *text)
{
    static char path[256];
    if (!fixture_dir[0]) {
        strcpy(fixture_dir, "/tmp/switchyard-test-XXXXXX");
        if (!mkdtemp(fixture_dir))
            abort();
    }
    snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

static inline void fixture_cleanup(void)
{
    if (fixture_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fixture_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", fixture_dir);
    }
}

/* Loads `yaml` written as policy.yaml; on failure copies the message into `error`. */
static inline struct policy *fixture_policy(const char *yaml, char error[POLICY_ERROR_MAX])
{
    char path[256];
    snprintf(path, sizeof(path), "%s", fixture_write("policy.yaml", yaml));
    return policy_load(path, error);
}

/* Loads `yaml`, failing the test with the loader's message when it does not load. */
static inline struct policy *fixture_policy_ok(const char *yaml)
{
    char error[POLICY_ERROR_MAX];
    struct policy *p = fixture_policy(yaml, error);
    if (!p)
        fail_msg("%s", error);
    return p;
}

/* A flow over `network` from `src` to `dst` (ADDR:PORT each, or NULL to leave one unset), with
 * nothing sniffed yet; fails the test on an address that does not parse. */
static inline struct policy_flow fixture_flow(enum policy_network network, const char *src,
                                              const char *dst)
{
    struct policy_flow f = {.network = network};
    if (src && !flow_addr_parse(&f.src, src))
        fail_msg("%s is no address", src);
    if (dst && !flow_addr_parse(&f.dst, dst))
        fail_msg("%s is no address", dst);
    return f;
}

/*
 * One expected decision: a flow to `dst` (ADDR:PORT) with the sniffed name
 * `host` (NULL: none) is decided by rule `rule` (0: the default) and sent to
 * the outbound named `action` (NULL: not checked).
 */
struct fixture_case {
    const char *dst;
    const char *host;
    unsigned rule;
    const char *action;
};

/*
 * Decides every case as `flow` (its network, inbound, source and protocol)
 * with the case's destination and host; names each case decided otherwise
 * (`what` says which table it is in) and then fails the test.
 */
static inline void fixture_expect_cases(const char *what, const struct policy *p,
                                        struct policy_flow flow, const struct fixture_case *cases,
                                        size_t n)
{
    unsigned wrong = 0;
    for (size_t i = 0; i < n; i++) {
        const struct fixture_case *c = &cases[i];
        struct policy_decision d;
        if (!flow_addr_parse(&flow.dst, c->dst))
            fail_msg("%s, case %zu: %s is no address", what, i, c->dst);
        flow.host = c->host;
        policy_decide(p, &flow, &d);
        if (d.rule != c->rule || (c->action && strcmp(d.outbound->name, c->action) != 0)) {
            print_error("%s, case %zu: %s host %s: rule %u (%s), expected rule %u (%s)\n", what, i,
                        c->dst, c->host ? c->host : "-", d.rule, d.outbound->name, c->rule,
                        c->action ? c->action : "any outbound");
            wrong++;
        }
    }
    if (wrong)
        fail_msg("%s: %u of %zu cases decided otherwise", what, wrong, n);
}

#define FIXTURE_EXPECT_CASES(p, flow, cases)                                                       \
    fixture_expect_cases(#cases, p, flow, cases, sizeof(cases) / sizeof((cases)[0]))

/* A cmocka group teardown that removes the fixture folder. */
static inline int fixture_teardown(void **state)
{
    (void)state;
    fixture_cleanup();
    return 0;
}

#endif
