/*
 * test_tun_device.c — the receive packet steering mask a tun device gets:
 * the CPUs switchyard is not bound to, all of them when it is bound to none
 * in particular, nothing on one CPU, and the sysfs form past 32 CPUs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "engine/tun/tun_device.h"
#include "tests/unit/unit_test.h"

static cpu_set_t cpus(int first, int last)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = first; cpu <= last; cpu++)
        CPU_SET(cpu, &set);
    return set;
}

static void spreads_over_the_cpus_switchyard_is_not_bound_to(void **state)
{
    (void)state;
    char mask[64];
    cpu_set_t one = cpus(1, 1);
    assert_true(tun_device_rps_mask(2, &one, mask, sizeof(mask)));
    assert_string_equal(mask, "1");
    cpu_set_t two = cpus(2, 3);
    assert_true(tun_device_rps_mask(8, &two, mask, sizeof(mask)));
    assert_string_equal(mask, "f3");
}

static void spreads_over_every_cpu_when_bound_to_all(void **state)
{
    (void)state;
    char mask[64];
    cpu_set_t all = cpus(0, CPU_SETSIZE - 1);
    assert_true(tun_device_rps_mask(4, &all, mask, sizeof(mask)));
    assert_string_equal(mask, "f");
}

static void leaves_one_cpu_alone(void **state)
{
    (void)state;
    char mask[64] = "";
    cpu_set_t zero = cpus(0, 0);
    assert_false(tun_device_rps_mask(1, &zero, mask, sizeof(mask)));
    assert_false(tun_device_rps_mask(0, &zero, mask, sizeof(mask)));
}

static void writes_32_cpu_groups_highest_first(void **state)
{
    (void)state;
    char mask[64];
    cpu_set_t first = cpus(0, 0);
    assert_true(tun_device_rps_mask(40, &first, mask, sizeof(mask)));
    assert_string_equal(mask, "ff,fffffffe");
    cpu_set_t all = cpus(0, CPU_SETSIZE - 1);
    assert_true(tun_device_rps_mask(33, &all, mask, sizeof(mask)));
    assert_string_equal(mask, "1,ffffffff");
    assert_false(tun_device_rps_mask(40, &first, mask, 8)); /* does not fit */
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(spreads_over_the_cpus_switchyard_is_not_bound_to),
               cmocka_unit_test(spreads_over_every_cpu_when_bound_to_all),
               cmocka_unit_test(leaves_one_cpu_alone),
               cmocka_unit_test(writes_32_cpu_groups_highest_first))
