/*
 * test_resolve.c — asynchronous name resolution on the loop: a name from
 * /etc/hosts resolves with the callback on the loop thread, IPv4 preferred
 * and the port set; an answer known at once still comes from the loop, never
 * from inside resolve_start; a name that cannot resolve reports an error
 * with a text; a cancelled query never calls back.
 * Runs in a private network namespace (root) so that no lookup can leave the
 * machine; without root the unresolvable-name case is skipped.
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ev.h>

#include "engine/core/resolve.h"
#include "tests/unit/unit_test.h"

struct result {
    int calls;
    int err;
    struct flow_addr addr;
    pthread_t thread;
};

static void on_done(void *arg, int err, const struct flow_addr *addr)
{
    struct result *r = arg;
    r->calls++;
    r->err = err;
    r->thread = pthread_self();
    if (addr)
        r->addr = *addr;
}

static struct ev_loop *loop;

static int isolated;

static int setup(void **state)
{
    (void)state;
    if (geteuid() == 0 && unshare(CLONE_NEWNET) == 0 && system("ip link set lo up") == 0)
        isolated = 1;
    loop = ev_loop_new(EVFLAG_AUTO);
    return resolve_init(loop);
}

static int teardown(void **state)
{
    (void)state;
    resolve_fini();
    ev_loop_destroy(loop);
    return 0;
}

static void run_until(struct result *r, int calls)
{
    for (int i = 0; i < 500 && r->calls < calls; i++) {
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The query of `r` is answered once, from the loop, with an IPv4 address and `port`. */
static void answered_ipv4(struct result *r, uint16_t port)
{
    run_until(r, 1);
    assert_int_equal(r->calls, 1);
    assert_int_equal(r->err, 0);
    assert_int_equal(r->addr.family, AF_INET);
    assert_int_equal(r->addr.port, port);
}

static void test_localhost_resolves_on_the_loop_thread(void **state)
{
    (void)state;
    struct result r = {0};
    assert_non_null(resolve_start("localhost", 8080, 0, on_done, &r));
    answered_ipv4(&r, 8080);
    assert_int_equal(r.addr.ip[0], 127);
    assert_true(pthread_equal(r.thread, pthread_self()));
}

static void test_unresolvable_name_reports_an_error(void **state)
{
    (void)state;
    if (!isolated)
        skip(); /* a lookup could reach the machine's resolver */
    struct result r = {0};
    /* .invalid never resolves (RFC 6761); with no resolver configured the
     * lookup fails too, either way with an error. */
    assert_non_null(resolve_start("no-such-host.invalid", 80, 0, on_done, &r));
    run_until(&r, 1);
    assert_int_equal(r.calls, 1);
    assert_int_not_equal(r.err, 0);
    assert_non_null(resolve_strerror(r.err));
    assert_true(strlen(resolve_strerror(r.err)) > 0);
}

static void test_an_answer_known_at_once_comes_from_the_loop(void **state)
{
    (void)state;
    struct result r = {0};
    assert_non_null(resolve_start("192.0.2.7", 443, 0, on_done, &r));
    assert_int_equal(r.calls, 0); /* the caller has not stored the handle yet */
    answered_ipv4(&r, 443);
    assert_int_equal(r.addr.ip[3], 7);
}

static void test_cancelled_query_never_calls_back(void **state)
{
    (void)state;
    struct result r = {0};
    struct resolve_query *q = resolve_start("localhost", 80, 0, on_done, &r);
    assert_non_null(q);
    resolve_cancel(q);
    run_until(&r, 1); /* bounded: nothing may arrive */
    assert_int_equal(r.calls, 0);
}

UNIT_TEST_MAIN(setup, teardown, cmocka_unit_test(test_localhost_resolves_on_the_loop_thread),
               cmocka_unit_test(test_unresolvable_name_reports_an_error),
               cmocka_unit_test(test_an_answer_known_at_once_comes_from_the_loop),
               cmocka_unit_test(test_cancelled_query_never_calls_back))
