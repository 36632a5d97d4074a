/*
 * test_fd_budget.c — the descriptor budget (engine/core/fd_budget.h) and
 * how the core and the TCP stage use it (engine/core/engine.h,
 * "descriptors"): charges and releases, a take refused only after the
 * owner trimmed what it keeps idle, the pipe pool charging every pipe it
 * makes and trimmed under pressure, and the stages paused while the budget
 * cannot carry a busy flow and resumed once it can.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/core/engine.h"
#include "engine/core/fd_budget.h"
#include "engine/tcp/pipe_pool.h"
#include "engine/tcp/tcp_stage.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

/* --- the budget alone ----------------------------------------------------------- */

static unsigned idle;    /* what the fake owner keeps idle (and charged) */
static unsigned trims;   /* trim calls */
static unsigned changes; /* changed calls */

static void fake_trim(void *ctx, unsigned want)
{
    struct fd_budget *b = ctx;
    trims++;
    unsigned n = want < idle ? want : idle;
    idle -= n;
    fd_budget_give(b, n);
}

static void fake_changed(void *ctx)
{
    (void)ctx;
    changes++;
}

static void test_a_budget_is_the_limit_less_the_reserve(void **state)
{
    (void)state;
    assert_int_equal(fd_budget_size_for(1024), 1024 - FD_BUDGET_RESERVED);
    assert_int_equal(fd_budget_size_for(64), 32); /* under twice the reserve: half */
    struct fd_budget b = {0};
    fd_budget_set_limit(&b, 100);
    assert_int_equal(b.size, 50);
    assert_int_equal(fd_budget_left(&b), 50);
}

static void test_charges_are_counted_and_given_back(void **state)
{
    (void)state;
    struct fd_budget b = {0};
    b.changed = fake_changed;
    changes = 0;
    fd_budget_set_limit(&b, 200); /* 136 to charge */
    assert_true(fd_budget_take(&b, 100));
    assert_true(fd_budget_take(&b, 36));
    assert_int_equal(fd_budget_left(&b), 0);
    assert_false(fd_budget_take(&b, 1)); /* refused: nothing charged */
    assert_int_equal(b.used, 136);
    fd_budget_charge(&b, 4); /* already open: counted whatever is left */
    assert_int_equal(b.used, 140);
    assert_int_equal(fd_budget_left(&b), 0);
    fd_budget_give(&b, 40);
    assert_int_equal(fd_budget_left(&b), 36);
    assert_int_equal(changes, 5); /* the limit, three charges, one release */
}

static void test_a_take_that_does_not_fit_trims_idle_descriptors_first(void **state)
{
    (void)state;
    struct fd_budget b = {0};
    b.trim = fake_trim;
    b.ctx = &b;
    fd_budget_set_limit(&b, 200); /* 136 */
    trims = 0;
    idle = 10;
    fd_budget_charge(&b, 136); /* ten of them idle */
    assert_true(fd_budget_take(&b, 4));
    assert_int_equal(trims, 1);
    assert_int_equal(idle, 6);           /* only what was missing */
    assert_false(fd_budget_take(&b, 8)); /* six idle are not enough */
    assert_int_equal(idle, 0);
    assert_int_equal(b.used, 130);
    assert_true(fd_budget_take(&b, 6));
}

static void test_a_limit_lowered_below_what_is_held_leaves_nothing(void **state)
{
    (void)state;
    struct fd_budget b = {0};
    fd_budget_set_limit(&b, 1000);
    fd_budget_charge(&b, 500);
    fd_budget_set_limit(&b, 300); /* prlimit from outside */
    assert_int_equal(fd_budget_left(&b), 0);
    assert_false(fd_budget_take(&b, 1));
    fd_budget_give(&b, 300);
    assert_int_equal(fd_budget_left(&b), 36);
}

/* --- the pipe pool ------------------------------------------------------------------ */

static void test_the_pipe_pool_charges_its_pipes_idle_or_not(void **state)
{
    (void)state;
    struct fd_budget b = {0};
    fd_budget_set_limit(&b, 140); /* 76 */
    struct pipe_pool *pool = pipe_pool_new(8, 0, &b);
    assert_non_null(pool);
    struct pipe_pool_pipe p[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pipe_pool_get(pool, &p[i]), 0);
    assert_int_equal(b.used, 3 * PIPE_POOL_FDS);
    for (int i = 0; i < 3; i++)
        pipe_pool_put(pool, &p[i], 1); /* idle in the pool: still open, still charged */
    assert_int_equal(b.used, 3 * PIPE_POOL_FDS);
    pipe_pool_trim(pool, 3); /* about three descriptors: two pipes */
    assert_int_equal(b.used, 1 * PIPE_POOL_FDS);
    struct pipe_pool_stats st;
    pipe_pool_stats(pool, &st);
    assert_int_equal(st.idle, 1);
    assert_int_equal(st.trimmed, 2);
    pipe_pool_free(pool);
    assert_int_equal(b.used, 0);
}

static void test_a_new_pipe_the_budget_cannot_give_is_refused(void **state)
{
    (void)state;
    struct fd_budget b = {0};
    fd_budget_set_limit(&b, 10); /* 5 */
    fd_budget_charge(&b, 4);
    struct pipe_pool *pool = pipe_pool_new(8, 0, &b);
    struct pipe_pool_pipe p;
    assert_int_equal(pipe_pool_get(pool, &p), -EMFILE);
    assert_int_equal(p.fd[0], -1);
    assert_int_equal(b.used, 4);
    struct pipe_pool_stats st;
    pipe_pool_stats(pool, &st);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.created, 0);
    fd_budget_give(&b, 4);
    assert_int_equal(pipe_pool_get(pool, &p), 0);
    pipe_pool_put(pool, &p, 0); /* not empty: closed, given back */
    assert_int_equal(b.used, 0);
    pipe_pool_free(pool);
}

/* --- the core: pause and resume on the budget --------------------------------------- */

static struct ev_loop *loop;
static struct engine engine;
static char events[256];

static void stage_pause(struct engine *e, void *data)
{
    (void)e;
    (void)data;
    strncat(events, "pause ", sizeof(events) - strlen(events) - 1);
}

static void stage_resume(struct engine *e, void *data)
{
    (void)e;
    (void)data;
    strncat(events, "resume ", sizeof(events) - strlen(events) - 1);
}

static const struct engine_stage_ops stage_ops = {
    .name = "test",
    .pause = stage_pause,
    .resume = stage_resume,
};

struct obj {
    struct engine_live live;
};

static void obj_close(struct engine_live *o, const char *reason)
{
    (void)o;
    (void)reason;
}

static void obj_free(struct engine_live *o)
{
    free(container_of(o, struct obj, live));
}

/* A flow's charge, as flow.c's live objects have it. */
static const struct engine_live_ops flow_like_ops = {
    .limited = true,
    .fds = ENGINE_FLOW_FDS,
    .close = obj_close,
    .free = obj_free,
};

static struct obj *obj_new(void)
{
    struct obj *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    engine_live_add(&engine, &o->live, &flow_like_ops);
    return o;
}

static int core_up(void **state)
{
    (void)state;
    events[0] = '\0';
    loop = ev_loop_new(EVFLAG_AUTO);
    struct policy *p = fixture_policy_ok("log: {level: error}\ndefault: direct\n");
    if (!loop || engine_init(&engine, loop, p) < 0)
        return -1;
    return 0;
}

static int core_down(void **state)
{
    (void)state;
    engine_fini(&engine);
    ev_loop_destroy(loop);
    return 0;
}

static void test_flows_charge_their_sockets_and_pause_when_a_busy_one_no_longer_fits(void **state)
{
    (void)state;
    assert_int_equal(engine_stage_add(&engine, &stage_ops, NULL), 0);
    unsigned before = engine.fds.used;
    /* Room for four flows' sockets and a busy flow's worth: 8 + 6 = 14. */
    fd_budget_set_limit(&engine.fds, 2 * (before + 14));
    assert_int_equal(fd_budget_left(&engine.fds), 14);
    struct obj *f[5];
    for (int i = 0; i < 4; i++)
        f[i] = obj_new();
    assert_int_equal(engine.fds.used, before + 4 * ENGINE_FLOW_FDS);
    assert_string_equal(events, ""); /* 6 left: one more busy flow fits */
    f[4] = obj_new();
    assert_string_equal(events, "pause ");
    assert_true(engine.accept_paused_by_limit);
    engine_live_close(&f[4]->live, "done");
    assert_string_equal(events, "pause resume ");
    assert_false(engine.accept_paused_by_limit);
    for (int i = 0; i < 4; i++)
        engine_live_close(&f[i]->live, "done");
    engine_reap(&engine);
    assert_int_equal(engine.fds.used, before);
}

static void test_a_limit_lowered_from_outside_pauses_and_raised_again_resumes(void **state)
{
    (void)state;
    assert_int_equal(engine_stage_add(&engine, &stage_ops, NULL), 0);
    obj_new();
    fd_budget_set_limit(&engine.fds, 20); /* 10: 2 used, 8 left */
    assert_string_equal(events, "");
    fd_budget_set_limit(&engine.fds, 12); /* 6: 2 used, 4 left */
    assert_string_equal(events, "pause ");
    assert_true(ev_is_active(&engine.limit_recheck)); /* re-read every second while paused */
    fd_budget_set_limit(&engine.fds, 4096);
    assert_string_equal(events, "pause resume ");
    assert_false(ev_is_active(&engine.limit_recheck));
}

static void test_idle_pooled_pipes_are_trimmed_before_the_stages_pause(void **state)
{
    (void)state;
    assert_int_equal(tcp_stage_add(&engine), 0);
    assert_int_equal(engine_stage_add(&engine, &stage_ops, NULL), 0);
    struct tcp_stage *t = tcp_stage_of(&engine);
    fd_budget_set_limit(&engine.fds, 2 * (engine.fds.used + 30)); /* 30 left */
    struct pipe_pool_pipe p[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pipe_pool_get(t->pipes, &p[i]), 0);
    for (int i = 0; i < 8; i++)
        pipe_pool_put(t->pipes, &p[i], 1);
    assert_int_equal(fd_budget_left(&engine.fds), 14); /* eight idle pipes hold 16 */
    for (int i = 0; i < 6; i++)
        obj_new(); /* 12 more: 2 left, then trimmed back to room for a busy flow */
    assert_string_equal(events, "");
    struct pipe_pool_stats st;
    pipe_pool_stats(t->pipes, &st);
    assert_true(st.trimmed >= 2);
    assert_true(fd_budget_left(&engine.fds) >= ENGINE_FLOW_FDS_BUSY);
    /* With no idle pipe left to close, the next flows pause the stages. */
    for (int i = 0; i < 12 && !engine.accept_paused_by_limit; i++)
        obj_new();
    assert_string_equal(events, "pause ");
    pipe_pool_stats(t->pipes, &st);
    assert_int_equal(st.idle, 0);
}

UNIT_TEST_MAIN(
    NULL, NULL, cmocka_unit_test(test_a_budget_is_the_limit_less_the_reserve),
    cmocka_unit_test(test_charges_are_counted_and_given_back),
    cmocka_unit_test(test_a_take_that_does_not_fit_trims_idle_descriptors_first),
    cmocka_unit_test(test_a_limit_lowered_below_what_is_held_leaves_nothing),
    cmocka_unit_test(test_the_pipe_pool_charges_its_pipes_idle_or_not),
    cmocka_unit_test(test_a_new_pipe_the_budget_cannot_give_is_refused),
    cmocka_unit_test_setup_teardown(
        test_flows_charge_their_sockets_and_pause_when_a_busy_one_no_longer_fits, core_up,
        core_down),
    cmocka_unit_test_setup_teardown(
        test_a_limit_lowered_from_outside_pauses_and_raised_again_resumes, core_up, core_down),
    cmocka_unit_test_setup_teardown(test_idle_pooled_pipes_are_trimmed_before_the_stages_pause,
                                    core_up, core_down))
