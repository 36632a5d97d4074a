/*
 * unit_test.h — the main every unit test program has: its tests, listed
 * as cmocka_unit_test() entries (or any struct CMUnitTest), run as one
 * group. Included after cmocka.h. Programs that build their list at run
 * time (named_cases.h) or do more after the run write their own main.
 */
#ifndef SWITCHYARD_TEST_UNIT_TEST_H
#define SWITCHYARD_TEST_UNIT_TEST_H

/* Defines main(): runs the tests listed after `group_setup` and
 * `group_teardown` (each NULL for none) and returns cmocka's count of
 * failures. */
#define UNIT_TEST_MAIN(group_setup, group_teardown, ...)                                           \
    int main(void)                                                                                 \
    {                                                                                              \
        const struct CMUnitTest tests[] = {__VA_ARGS__};                                           \
        return cmocka_run_group_tests(tests, group_setup, group_teardown);                         \
    }

#endif
