/*
 * named_cases.h — one cmocka test per case of a table, under the case's own
 * name, so that a failing case is reported by name and the others still
 * run (test_domain_set.c, test_policy_names.c). Each case is a struct whose
 * first member is its name (const char *); test_flow.c runs its cases
 * between a setup and a teardown. Included after cmocka.h.
 */
#ifndef SWITCHYARD_TEST_NAMED_CASES_H
#define SWITCHYARD_TEST_NAMED_CASES_H

#include <stddef.h>

/* Fills tests[0 .. n) with `func` run on each of the `n` cases of
 * `table` (each `size` bytes), the case as the test's state. */
static inline void named_cases(struct CMUnitTest *tests, const void *table, size_t n, size_t size,
                               CMUnitTestFunction func)
{
    for (size_t i = 0; i < n; i++) {
        const char *const *c = (const char *const *)((const char *)table + i * size);
        tests[i] = (struct CMUnitTest){.name = *c, .test_func = func, .initial_state = (void *)c};
    }
}

/* As named_cases(), each case run between `setup` and `teardown` (which
 * leave the state, the case, as it is). */
static inline void named_cases_with(struct CMUnitTest *tests, const void *table, size_t n,
                                    size_t size, CMUnitTestFunction func, CMFixtureFunction setup,
                                    CMFixtureFunction teardown)
{
    named_cases(tests, table, n, size, func);
    for (size_t i = 0; i < n; i++) {
        tests[i].setup_func = setup;
        tests[i].teardown_func = teardown;
    }
}

#endif
