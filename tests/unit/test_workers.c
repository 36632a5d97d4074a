/*
 * test_workers.c — the worker threads (engine/core/workers.c) around the real
 * TCP stage: workers_call runs a function on the worker's own thread (worker
 * 0 on the caller's) and returns once it has; every worker listens on the
 * socket inbounds through one SO_REUSEPORT group that another lone listener
 * cannot join, and a tun inbound stays worker 0's (its address still refused
 * as a destination by the others); a reload handed over with
 * workers_set_policy is current on every worker, listeners moved, when the
 * next call runs there; flow ids never collide; flows open anywhere count
 * toward the one flow limit every worker checks; the bound on grown splice
 * pipes is split between the workers; stopping joins every thread
 * and frees everything (AddressSanitizer sees what would be left).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/core/sockopt.h"
#include "engine/core/workers.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/pipe_pool.h"
#include "engine/tcp/tcp_stage.h"
#include "tests/unit/unit_test.h"

#define WORKERS 3

/* A TCP port on 127.0.0.1 nobody listens on now. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static struct policy *policy_on(uint16_t port)
{
    char text[256], error[POLICY_ERROR_MAX];
    snprintf(text, sizeof(text),
             "log: {level: error}\n"
             "inbounds:\n  - {name: s, type: socks5, listen: \"127.0.0.1:%u\"}\n",
             port);
    struct policy *p = policy_load_buffer("test.yaml", text, strlen(text), error);
    if (!p)
        fail_msg("%s", error);
    return p;
}

/* Whether a lone listener (no SO_REUSEPORT) can take 127.0.0.1:port. */
static bool port_free_alone(uint16_t port)
{
    struct flow_addr a;
    char text[32];
    snprintf(text, sizeof(text), "127.0.0.1:%u", port);
    assert_true(flow_addr_parse(&a, text));
    int fd = sockopt_listen(&a, SOCK_STREAM, false, false, SOCKOPT_SHARE_NONE, NULL);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

static struct engine main_engine;
static struct ev_loop *loop;

static int worker_setup(struct engine *e)
{
    return tcp_stage_add(e);
}

static int setup(void **state)
{
    (void)state;
    loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop ||
        engine_init_worker(&main_engine, loop, policy_on(free_port()), NULL, 0, WORKERS) < 0 ||
        tcp_stage_add(&main_engine) < 0 || engine_sync(&main_engine) != 0)
        return -1;
    int failed = 0;
    if (!workers_new(&main_engine, worker_setup, &failed) || failed)
        return -1;
    return workers_start(main_engine.workers);
}

static int teardown(void **state)
{
    (void)state;
    workers_stop(main_engine.workers);
    engine_fini(&main_engine);
    ev_loop_destroy(loop);
    return main_engine.workers == NULL ? 0 : -1;
}

/* What a call saw on the thread it ran on. */
struct seen {
    pthread_t thread;
    unsigned index;
    const struct policy *policy;
    unsigned listeners;
    uint64_t first_id;
};

static void look(struct engine *e, void *arg)
{
    struct seen *s = &((struct seen *)arg)[e->index];
    s->thread = pthread_self();
    s->index = e->index;
    s->policy = engine_policy(e);
    s->listeners = 0;
    for (struct listener *l = e->listeners; l; l = l->next)
        s->listeners++;
    s->first_id = engine_id(e, 1);
}

static void calls_run_on_each_workers_thread(void **state)
{
    (void)state;
    struct seen seen[WORKERS];
    memset(seen, 0, sizeof(seen));
    assert_int_equal(workers_count(&main_engine), WORKERS);
    workers_each(&main_engine, look, seen);
    assert_true(pthread_equal(seen[0].thread, pthread_self()));
    for (unsigned i = 0; i < WORKERS; i++) {
        assert_int_equal(seen[i].index, i);
        assert_int_equal(seen[i].listeners, 1);
        assert_ptr_equal(seen[i].policy, engine_policy(&main_engine));
        for (unsigned j = 0; j < i; j++) {
            assert_false(pthread_equal(seen[i].thread, seen[j].thread));
            assert_true(seen[i].first_id != seen[j].first_id);
        }
    }
    /* Ids interleave: worker i's nth is (n - 1) * WORKERS + i + 1. */
    assert_int_equal(engine_id(&main_engine, 2), WORKERS + 1);
}

static void listeners_share_one_group_closed_to_others(void **state)
{
    (void)state;
    struct flow_addr a;
    flow_addr_from_sockaddr(
        &a, (const struct sockaddr *)&policy_inbound(engine_policy(&main_engine), 0)->listen);
    assert_false(port_free_alone(a.port));
    /* Worker 0 opening a group where a lone listener sits is refused, as the lone one would be. */
    uint16_t port = free_port();
    char text[32];
    snprintf(text, sizeof(text), "127.0.0.1:%u", port);
    struct flow_addr b;
    assert_true(flow_addr_parse(&b, text));
    int lone = sockopt_listen(&b, SOCK_STREAM, false, false, SOCKOPT_SHARE_NONE, NULL);
    assert_true(lone >= 0);
    assert_int_equal(sockopt_listen(&b, SOCK_STREAM, false, false, SOCKOPT_SHARE_FIRST, NULL),
                     -EADDRINUSE);
    close(lone);
    int first = sockopt_listen(&b, SOCK_STREAM, false, false, SOCKOPT_SHARE_FIRST, NULL);
    int join = sockopt_listen(&b, SOCK_STREAM, false, false, SOCKOPT_SHARE_JOIN, NULL);
    assert_true(first >= 0 && join >= 0);
    close(first);
    close(join);
}

static void a_reload_reaches_every_worker(void **state)
{
    (void)state;
    uint16_t was = 0;
    {
        struct flow_addr a;
        flow_addr_from_sockaddr(
            &a, (const struct sockaddr *)&policy_inbound(engine_policy(&main_engine), 0)->listen);
        was = a.port;
    }
    uint16_t port = free_port();
    /* As reload_policy does: worker 0 first, then the hand-over. */
    engine_set_policy(&main_engine, policy_on(port));
    assert_int_equal(engine_sync(&main_engine), 0);
    workers_set_policy(&main_engine, engine_policy(&main_engine));
    struct seen seen[WORKERS];
    workers_each(&main_engine, look, seen);
    for (unsigned i = 0; i < WORKERS; i++) {
        assert_ptr_equal(seen[i].policy, engine_policy(&main_engine));
        assert_int_equal(seen[i].listeners, 1);
    }
    assert_true(port_free_alone(was));
    assert_false(port_free_alone(port));
    /* Two reloads before a worker wakes: it takes the newest only, the other is released. */
    struct policy *older = policy_on(port);
    workers_set_policy(&main_engine, older);
    policy_unref(older);
    engine_set_policy(&main_engine, policy_on(port));
    assert_int_equal(engine_sync(&main_engine), 0);
    workers_set_policy(&main_engine, engine_policy(&main_engine));
    workers_each(&main_engine, look, seen);
    for (unsigned i = 0; i < WORKERS; i++)
        assert_ptr_equal(seen[i].policy, engine_policy(&main_engine));
}

static uint16_t tun_port;

/* On a worker: whether 127.0.0.1:tun_port counts as one of switchyard's own listeners. */
static void tun_is_self(struct engine *e, void *arg)
{
    struct flow_addr dst;
    char text[32];
    snprintf(text, sizeof(text), "127.0.0.1:%u", tun_port);
    assert_true(flow_addr_parse(&dst, text));
    ((bool *)arg)[e->index] = engine_dst_is_listener(e, &dst);
}

static void tun_inbounds_stay_with_worker_zero(void **state)
{
    (void)state;
    char text[512], error[POLICY_ERROR_MAX];
    snprintf(text, sizeof(text),
             "log: {level: error}\n"
             "inbounds:\n  - {name: s, type: socks5, listen: \"127.0.0.1:%u\"}\n"
             "  - {name: t, type: tun, device: sytest0, address: 198.51.100.1/30,"
             " listen: \"[::]:%u\"}\n",
             free_port(), tun_port = free_port());
    struct policy *p = policy_load_buffer("test.yaml", text, strlen(text), error);
    if (!p)
        fail_msg("%s", error);
    /* Only the workers follow it here: worker 0 has no tun stage in this test. */
    workers_set_policy(&main_engine, p);
    struct seen seen[WORKERS];
    workers_each(&main_engine, look, seen);
    for (unsigned i = 1; i < WORKERS; i++) {
        assert_ptr_equal(seen[i].policy, p);
        assert_int_equal(seen[i].listeners, 1); /* the socks5 one, not the tun's */
    }
    /* Still, nothing a worker relays may go to the tun inbound's listener. */
    bool self[WORKERS] = {false};
    for (unsigned i = 1; i < WORKERS; i++) {
        workers_call(&main_engine, i, tun_is_self, self);
        assert_true(self[i]);
    }
    policy_unref(p);
}

/* On a worker: whether it would accept now (engine_accepting), into arg[index]. */
static void accepting(struct engine *e, void *arg)
{
    ((bool *)arg)[e->index] = engine_accepting(e);
}

/* The flow limit is the process's: flows open on one worker stop every worker's accepting. */
static void the_flow_limit_holds_for_the_process(void **state)
{
    (void)state;
    bool open[WORKERS];
    workers_each(&main_engine, accepting, open);
    for (unsigned i = 0; i < WORKERS; i++)
        assert_true(open[i]);
    /* As if worker 0 held max_flows flows (its live objects count into flows_all). */
    main_engine.flows_all = main_engine.max_flows;
    workers_each(&main_engine, accepting, open);
    for (unsigned i = 0; i < WORKERS; i++)
        assert_false(open[i]);
    main_engine.flows_all = 0;
    workers_each(&main_engine, accepting, open);
    for (unsigned i = 0; i < WORKERS; i++)
        assert_true(open[i]);
}

/* On a worker: how many of 16 pipes from its pool could be grown, into arg[index]. */
static void grow_pipes(struct engine *e, void *arg)
{
    struct pipe_pool *pool = tcp_stage_of(e)->pipes;
    struct pipe_pool_pipe p[16];
    for (int i = 0; i < 16; i++) {
        assert_int_equal(pipe_pool_get(pool, &p[i]), 0);
        pipe_pool_grow(pool, &p[i]);
    }
    struct pipe_pool_stats st;
    pipe_pool_stats(pool, &st);
    ((size_t *)arg)[2 * e->index] = st.large;
    ((size_t *)arg)[2 * e->index + 1] = st.cap;
    for (int i = 0; i < 16; i++)
        pipe_pool_put(pool, &p[i], 0);
}

/* The grown pipes' bound (16) and the idle pipes kept (1024), both for the user's pipe pages,
 * are the process's, split between workers. */
static void grown_pipes_are_split_between_the_workers(void **state)
{
    (void)state;
    size_t seen[2 * WORKERS];
    workers_each(&main_engine, grow_pipes, seen);
    size_t large = 0, cap = 0;
    for (unsigned i = 0; i < WORKERS; i++) {
        assert_in_range(seen[2 * i], 16 / WORKERS, 16 / WORKERS + 1);
        assert_in_range(seen[2 * i + 1], 1024 / WORKERS, 1024 / WORKERS + 1);
        large += seen[2 * i];
        cap += seen[2 * i + 1];
    }
    assert_int_equal(large, 16);
    assert_int_equal(cap, 1024);
}

/* Without `workers:`, as many workers as cores the process may run on: taskset and a container's
 * cpuset count, not the machine's cores. */
static void the_default_follows_the_cpu_affinity(void **state)
{
    (void)state;
    cpu_set_t was, one;
    assert_int_equal(sched_getaffinity(0, sizeof(was), &was), 0);
    struct policy_settings s = {.workers = 0};
    assert_int_equal(workers_wanted(&s), (unsigned)CPU_COUNT(&was));
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &was)) {
            CPU_SET(cpu, &one);
            break;
        }
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
    unsigned pinned = workers_wanted(&s);
    assert_int_equal(sched_setaffinity(0, sizeof(was), &was), 0);
    assert_int_equal(pinned, 1);
    s.workers = 3; /* said in the policy: taken as said */
    assert_int_equal(workers_wanted(&s), 3);
}

UNIT_TEST_MAIN(
    NULL, NULL, cmocka_unit_test_setup_teardown(calls_run_on_each_workers_thread, setup, teardown),
    cmocka_unit_test_setup_teardown(listeners_share_one_group_closed_to_others, setup, teardown),
    cmocka_unit_test_setup_teardown(a_reload_reaches_every_worker, setup, teardown),
    cmocka_unit_test_setup_teardown(tun_inbounds_stay_with_worker_zero, setup, teardown),
    cmocka_unit_test_setup_teardown(the_flow_limit_holds_for_the_process, setup, teardown),
    cmocka_unit_test_setup_teardown(grown_pipes_are_split_between_the_workers, setup, teardown),
    cmocka_unit_test(the_default_follows_the_cpu_affinity))
