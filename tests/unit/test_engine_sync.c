/*
 * test_engine_sync.c — the one listener reconcile (engine/core/engine_sync.c)
 * over two fake stages, one per network, that record what they are asked
 * to open, update and close: a listener whose network, type and address
 * stay configured is kept with its new name, removed ones close before new
 * ones open, and each inbound that cannot open is counted once. A reload
 * keeps the old policy alive until the listeners follow the new one: like
 * the TCP listener, the fake keeps a pointer to its entry in the policy,
 * which it reads when closed (AddressSanitizer sees a read of freed memory
 * otherwise).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/core/engine.h"
#include "engine/core/reload.h"
#include "tests/unit/unit_test.h"

/* --- the fake stages ------------------------------------------------------------- */

struct fake_listener {
    const struct policy_inbound *entry; /* in the policy it was opened or kept under */
    char name[32];
    char network[4];
};

struct fake_stage {
    const char *network;
    int refuse_port; /* open fails with EADDRINUSE on this port */
    int opened, closed, open_now;
};

static char calls[1024];

static void note(const char *what, const char *net, const char *name)
{
    size_t n = strlen(calls);
    snprintf(calls + n, sizeof(calls) - n, "%s %s %s; ", what, net, name);
}

static int fake_open(struct engine *e, void *data, const struct policy_inbound *in, void **out)
{
    (void)e;
    struct fake_stage *st = data;
    struct flow_addr a;
    flow_addr_from_sockaddr(&a, (const struct sockaddr *)&in->listen);
    if (in->type == INBOUND_HTTP && strcmp(st->network, "udp") == 0)
        return -EPROTONOSUPPORT;
    if (a.port == st->refuse_port)
        return -EADDRINUSE;
    struct fake_listener *l = calloc(1, sizeof(*l));
    l->entry = in;
    snprintf(l->name, sizeof(l->name), "%s", in->name);
    snprintf(l->network, sizeof(l->network), "%s", st->network);
    st->opened++;
    st->open_now++;
    note("open", st->network, in->name);
    *out = l;
    return 0;
}

static void fake_update(void *listener, const struct policy_inbound *in)
{
    struct fake_listener *l = listener;
    note("keep", l->network, in->name);
    l->entry = in;
    snprintf(l->name, sizeof(l->name), "%s", in->name);
}

static struct fake_stage tcp_stage = {.network = "tcp"}, udp_stage = {.network = "udp"};

static void fake_close(void *listener)
{
    struct fake_listener *l = listener;
    struct fake_stage *st = strcmp(l->network, "tcp") == 0 ? &tcp_stage : &udp_stage;
    st->closed++;
    st->open_now--;
    note("close", l->network, l->entry->name);
    free(l);
}

static const struct engine_listen_ops tcp_listen = {
    .network = POLICY_TCP, .open = fake_open, .update = fake_update, .close = fake_close};
static const struct engine_listen_ops udp_listen = {
    .network = POLICY_UDP, .open = fake_open, .update = fake_update, .close = fake_close};
static const struct engine_stage_ops tcp_ops = {.name = "tcp", .listen = &tcp_listen};
static const struct engine_stage_ops udp_ops = {.name = "udp", .listen = &udp_listen};

/* --- helpers ----------------------------------------------------------------------- */

static struct policy *load(const char *inbounds)
{
    char text[1024], error[POLICY_ERROR_MAX];
    snprintf(text, sizeof(text), "inbounds:\n%s", inbounds);
    struct policy *p = policy_load_buffer("test.yaml", text, strlen(text), error);
    if (!p)
        fail_msg("%s", error);
    return p;
}

static struct engine engine;

static int setup(void **state)
{
    (void)state;
    memset(&tcp_stage, 0, sizeof(tcp_stage));
    memset(&udp_stage, 0, sizeof(udp_stage));
    tcp_stage.network = "tcp";
    udp_stage.network = "udp";
    calls[0] = '\0';
    struct ev_loop *loop = ev_default_loop(0);
    if (engine_init(&engine, loop,
                    load("  - {name: a, type: redirect, listen: \"127.0.0.1:1\"}\n")))
        return -1;
    engine_stage_add(&engine, &tcp_ops, &tcp_stage);
    engine_stage_add(&engine, &udp_ops, &udp_stage);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_fini(&engine);
    return tcp_stage.open_now == 0 && udp_stage.open_now == 0 ? 0 : -1;
}

/* --- tests --------------------------------------------------------------------------- */

static void test_opens_each_network_of_each_inbound(void **state)
{
    (void)state;
    engine_set_policy(
        &engine, load("  - {name: tp, type: tproxy, listen: \"0.0.0.0:2\", network: [tcp, udp]}\n"
                      "  - {name: nat, type: udp-redirect, listen: \"0.0.0.0:3\"}\n"));
    calls[0] = '\0';
    assert_int_equal(engine_sync(&engine), 0);
    assert_string_equal(calls, "open tcp tp; open udp tp; open udp nat; ");
    assert_int_equal(tcp_stage.open_now, 1);
    assert_int_equal(udp_stage.open_now, 2);
}

static void test_reload_keeps_renames_closes_then_opens(void **state)
{
    (void)state;
    engine_set_policy(
        &engine, load("  - {name: tp, type: tproxy, listen: \"0.0.0.0:2\", network: [tcp, udp]}\n"
                      "  - {name: nat, type: udp-redirect, listen: \"0.0.0.0:3\"}\n"));
    assert_int_equal(engine_sync(&engine), 0);
    calls[0] = '\0';
    /* tp keeps its address under a new name; nat moves to another port. */
    engine_set_policy(
        &engine, load("  - {name: tp2, type: tproxy, listen: \"0.0.0.0:2\", network: [tcp, udp]}\n"
                      "  - {name: nat, type: udp-redirect, listen: \"0.0.0.0:4\"}\n"));
    assert_int_equal(engine_sync(&engine), 0);
    assert_string_equal(calls, "keep tcp tp2; keep udp tp2; close udp nat; open udp nat; ");
    assert_int_equal(tcp_stage.opened, 1);
    assert_int_equal(udp_stage.opened, 3);
    assert_int_equal(udp_stage.closed, 1);
}

static void test_same_address_other_type_is_a_new_listener(void **state)
{
    (void)state;
    engine_set_policy(&engine, load("  - {name: x, type: redirect, listen: \"127.0.0.1:5\"}\n"));
    assert_int_equal(engine_sync(&engine), 0);
    calls[0] = '\0';
    engine_set_policy(&engine, load("  - {name: x, type: tproxy, listen: \"127.0.0.1:5\"}\n"));
    assert_int_equal(engine_sync(&engine), 0);
    assert_string_equal(calls, "close tcp x; open tcp x; ");
}

static void test_failures_counted_once_each_rest_goes_on(void **state)
{
    (void)state;
    tcp_stage.refuse_port = 6;
    engine_set_policy(
        &engine,
        load("  - {name: busy, type: redirect, listen: \"127.0.0.1:6\"}\n"
             "  - {name: tp, type: tproxy, listen: \"0.0.0.0:7\", network: [tcp, udp]}\n"));
    assert_int_equal(engine_sync(&engine), 1);
    assert_string_equal(calls, "open tcp tp; open udp tp; ");
}

static void write_policy(const char *path, const char *inbounds)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "inbounds:\n%s", inbounds);
    fclose(f);
}

static void test_reload_keeps_the_old_policy_until_listeners_follow(void **state)
{
    (void)state;
    char path[64];
    snprintf(path, sizeof(path), "/tmp/switchyard-test-sync-%d.yaml", (int)getpid());
    write_policy(path, "  - {name: old-name, type: redirect, listen: \"127.0.0.1:8\"}\n");
    char error[POLICY_ERROR_MAX];
    struct policy *p = policy_load(path, error);
    assert_non_null(p);
    engine_set_policy(&engine, p);
    assert_int_equal(engine_sync(&engine), 0);
    calls[0] = '\0';
    /* The listener on port 8 is removed: it closes reading its old entry. */
    write_policy(path, "  - {name: new-name, type: redirect, listen: \"127.0.0.1:9\"}\n");
    assert_non_null(reload_policy(&engine));
    assert_string_equal(calls, "close tcp old-name; open tcp new-name; ");
    assert_int_equal(engine.counters.reloads, 1);
    unlink(path);
}

UNIT_TEST_MAIN(
    NULL, NULL,
    cmocka_unit_test_setup_teardown(test_opens_each_network_of_each_inbound, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reload_keeps_renames_closes_then_opens, setup, teardown),
    cmocka_unit_test_setup_teardown(test_same_address_other_type_is_a_new_listener, setup,
                                    teardown),
    cmocka_unit_test_setup_teardown(test_failures_counted_once_each_rest_goes_on, setup, teardown),
    cmocka_unit_test_setup_teardown(test_reload_keeps_the_old_policy_until_listeners_follow, setup,
                                    teardown))
