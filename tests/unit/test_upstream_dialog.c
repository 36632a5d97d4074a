/*
 * test_upstream_dialog.c — the request/reply I/O under every proxy client
 * handshake (engine/proto/upstream_dialog.h), driven by a toy line protocol
 * ("OK\n" succeeds, any other line fails) against a socketpair: the request
 * goes out, the end is reported only from the loop and only once, bytes past
 * the reply are handed on, and a reply that outgrows the buffer, a server
 * that closes, or a request too large for the buffer end it cleanly; a
 * parse that needs more bytes waits and an invalid one fails.
 */
#include <errno.h>
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
#include <ev.h>

#include "engine/proto/upstream_dialog.h"
#include "tests/unit/dialog_outcome.h"
#include "tests/unit/unit_test.h"

struct fixture {
    struct ev_loop *loop;
    int sv[2]; /* the dialog's end, the server's end */
    struct upstream_dialog *d;
    struct dialog_outcome ended;
};

static enum upstream_step line_input(struct upstream_dialog *d)
{
    uint8_t *nl = memchr(d->in, '\n', d->in_len);
    if (!nl)
        return UPSTREAM_MORE;
    size_t len = (size_t)(nl - d->in) + 1;
    if (len != 3 || memcmp(d->in, "OK", 2) != 0)
        return upstream_dialog_fail(d, UPSTREAM_FAIL_DENIED, "server said no");
    upstream_dialog_consume(d, len);
    return UPSTREAM_DONE;
}

static void on_ready(void *ctx, const uint8_t *extra, size_t len)
{
    struct fixture *fx = ctx;
    dialog_outcome_ready(&fx->ended, extra, len);
    free(fx->d); /* the owner may free the dialog inside its callback */
    fx->d = NULL;
}

static void on_failed(void *ctx, enum upstream_fail fail, const char *reason)
{
    struct fixture *fx = ctx;
    dialog_outcome_failed(&fx->ended, fail, reason);
    free(fx->d);
    fx->d = NULL;
}

static const struct upstream_dialog_cbs cbs = {.ready = on_ready, .failed = on_failed};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fx->loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fx->sv), 0);
    fx->d = malloc(sizeof(*fx->d));
    upstream_dialog_init(fx->d, fx->loop, fx->sv[0], line_input, &cbs, fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    if (fx->d) {
        upstream_dialog_stop(fx->d);
        free(fx->d);
    }
    close(fx->sv[0]);
    if (fx->sv[1] >= 0)
        close(fx->sv[1]);
    ev_loop_destroy(fx->loop);
    free(fx);
    return 0;
}

static void request_out_reply_in_extra_handed_on(void **state)
{
    struct fixture *fx = *state;
    /* The answer is already waiting: still, nothing ends inside the owner's call. */
    assert_int_equal(send(fx->sv[1], "OK\norigin", 9, 0), 9);
    assert_int_equal(upstream_dialog_send(fx->d, "HELLO\n", 6), 0);
    assert_int_equal(fx->ended.ready + fx->ended.failed, 0);
    dialog_pump(fx->loop);
    char got[16];
    assert_int_equal(recv(fx->sv[1], got, sizeof(got), MSG_DONTWAIT), 6);
    assert_memory_equal(got, "HELLO\n", 6);
    assert_int_equal(fx->ended.ready, 1);
    assert_int_equal(fx->ended.failed, 0);
    assert_int_equal(fx->ended.extra_len, 6);
    assert_memory_equal(fx->ended.extra, "origin", 6);
}

/* The request goes out and the server answers `len` bytes of `reply`: the
 * dialog fails, once, for `reason`. */
static void answer_fails(struct fixture *fx, const void *reply, size_t len, const char *reason)
{
    upstream_dialog_send(fx->d, "HELLO\n", 6);
    dialog_pump(fx->loop);
    assert_int_equal(send(fx->sv[1], reply, len, 0), (ssize_t)len);
    dialog_pump(fx->loop);
    assert_int_equal(fx->ended.ready, 0);
    assert_int_equal(fx->ended.failed, 1);
    assert_string_equal(fx->ended.reason, reason);
}

static void the_protocol_says_why_it_failed(void **state)
{
    answer_fails(*state, "NO\n", 3, "server said no");
}

static void a_reply_longer_than_the_buffer_fails(void **state)
{
    static char junk[UPSTREAM_DIALOG_IN_MAX];
    memset(junk, 'x', sizeof(junk));
    answer_fails(*state, junk, sizeof(junk), "server reply too long");
}

static void the_server_closing_fails(void **state)
{
    struct fixture *fx = *state;
    upstream_dialog_send(fx->d, "HELLO\n", 6);
    dialog_pump(fx->loop);
    char got[16];
    assert_int_equal(recv(fx->sv[1], got, sizeof(got), MSG_DONTWAIT), 6);
    assert_int_equal(send(fx->sv[1], "O", 1, 0), 1);
    close(fx->sv[1]);
    fx->sv[1] = -1;
    dialog_pump(fx->loop);
    assert_int_equal(fx->ended.failed, 1);
    assert_string_equal(fx->ended.reason, "server closed the connection during the handshake");
}

static void a_request_larger_than_the_buffer_is_refused(void **state)
{
    struct fixture *fx = *state;
    static char big[UPSTREAM_DIALOG_OUT_MAX + 1];
    assert_int_equal(upstream_dialog_send(fx->d, big, sizeof(big)), -1);
    assert_int_equal(upstream_dialog_send(fx->d, big, UPSTREAM_DIALOG_OUT_MAX), 0);
    assert_int_equal(upstream_dialog_send(fx->d, big, 1), -1);
}

static void an_unfinished_parse_waits_and_an_invalid_one_fails(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(upstream_dialog_unparsed(fx->d, PARSE_NEED_MORE, "bad"), UPSTREAM_MORE);
    assert_int_equal(upstream_dialog_unparsed(fx->d, PARSE_INVALID, "bad"), UPSTREAM_FAILED);
    assert_int_equal(fx->d->fail, UPSTREAM_FAIL_GENERAL);
    assert_string_equal(fx->d->reason, "bad");
}

#define DIALOG_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

UNIT_TEST_MAIN(NULL, NULL, DIALOG_TEST(request_out_reply_in_extra_handed_on),
               DIALOG_TEST(the_protocol_says_why_it_failed),
               DIALOG_TEST(a_reply_longer_than_the_buffer_fails),
               DIALOG_TEST(the_server_closing_fails),
               DIALOG_TEST(a_request_larger_than_the_buffer_is_refused),
               DIALOG_TEST(an_unfinished_parse_waits_and_an_invalid_one_fails))
