/*
 * test_relay.c — the splice relay between two connected sockets (TCP over
 * loopback, as in real flows): bytes held in memory go first, both
 * directions copy byte-exact, end of stream is passed on per direction
 * (half-close, also a client that half-closed before the relay began), a
 * reader that stops reading stops the relay reading (back-pressure), without
 * a pipe to be had (descriptor pressure) bytes go through a buffer, silence
 * ends the relay after the idle timeout, a reset on either side — seen by a
 * read or by a write, through a pipe or a buffer — ends the relay at once
 * naming the side (for its owner to reset the other), a stream's pipe is
 * grown (a few bytes' is not), and the pipe pool hands back only empty
 * pipes and keeps at most its number of grown ones.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "engine/tcp/pipe_pool.h"
#include "engine/tcp/relay.h"
#include "tests/unit/unit_test.h"

struct pair {
    int app, relay; /* the test's end, the relay's end */
};

/* A connected TCP pair over 127.0.0.1; the relay's end non-blocking. */
static struct pair tcp_pair(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    struct pair p;
    p.app = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(p.app, (struct sockaddr *)&a, sizeof(a)), 0);
    p.relay = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    assert_true(p.relay >= 0);
    close(l);
    return p;
}

struct fixture {
    struct ev_loop *loop;
    struct pipe_pool *pipes;
    struct pair client, upstream;
    struct relay relay;
    int ended;
    char reason[64];
};

static void on_end(struct relay *r, const char *reason)
{
    struct fixture *fx = (struct fixture *)((char *)r - offsetof(struct fixture, relay));
    fx->ended++;
    snprintf(fx->reason, sizeof(fx->reason), "%s", reason);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    fx->loop = ev_loop_new(EVFLAG_AUTO);
    fx->pipes = pipe_pool_new(4, 1, NULL);
    fx->client = tcp_pair();
    fx->upstream = tcp_pair();
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    relay_stop(&fx->relay);
    close(fx->client.app);
    close(fx->client.relay);
    close(fx->upstream.app);
    close(fx->upstream.relay);
    pipe_pool_free(fx->pipes);
    ev_loop_destroy(fx->loop);
    free(fx);
    return 0;
}

static void start_eof(struct fixture *fx, const char *to_up, const char *to_client, bool client_eof,
                      double idle_s)
{
    assert_int_equal(relay_start(&fx->relay, fx->loop, fx->pipes, fx->client.relay,
                                 fx->upstream.relay, (const uint8_t *)to_up, strlen(to_up),
                                 (const uint8_t *)to_client, strlen(to_client), client_eof, idle_s,
                                 on_end),
                     0);
}

static void start(struct fixture *fx, const char *to_up, const char *to_client, double idle_s)
{
    start_eof(fx, to_up, to_client, false, idle_s);
}

/* Runs the loop until `fd` has `want` bytes in `buf` (or EOF), bounded. */
static size_t pump_read(struct fixture *fx, int fd, char *buf, size_t want)
{
    size_t got = 0;
    for (int i = 0; i < 20000 && got < want; i++) {
        ev_run(fx->loop, EVRUN_NOWAIT);
        ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n > 0)
            got += (size_t)n;
        else
            usleep(100);
    }
    return got;
}

static void pump_until_ended(struct fixture *fx)
{
    for (int i = 0; i < 20000 && !fx->ended; i++) {
        ev_run(fx->loop, EVRUN_NOWAIT);
        usleep(100);
    }
}

/* "ping" sent on `from` arrives on `to`. */
static void passes_through(struct fixture *fx, int from, int to)
{
    char buf[4];
    assert_int_equal(send(from, "ping", 4, 0), 4);
    assert_int_equal(pump_read(fx, to, buf, 4), 4);
    assert_memory_equal(buf, "ping", 4);
}

static void test_memory_bytes_go_first_both_ways(void **state)
{
    struct fixture *fx = *state;
    start(fx, "SNIFFED ", "REPLY ", 60);
    assert_int_equal(send(fx->client.app, "after", 5, 0), 5);
    assert_int_equal(send(fx->upstream.app, "origin", 6, 0), 6);
    char buf[64] = {0};
    assert_int_equal(pump_read(fx, fx->upstream.app, buf, 13), 13);
    assert_memory_equal(buf, "SNIFFED after", 13);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(pump_read(fx, fx->client.app, buf, 12), 12);
    assert_memory_equal(buf, "REPLY origin", 12);
    assert_int_equal(fx->relay.up.bytes, 13);
    assert_int_equal(fx->relay.down.bytes, 12);
    assert_int_equal(fx->ended, 0);
}

/* Sends `size` bytes of a pattern (`shift` picks it) from `from` while
 * reading on `to` and running the loop, 200,000 rounds at most; whether all
 * of them came through, the bytes sent (a shortfall is printed). */
static bool transferred(struct fixture *fx, int from, int to, size_t size, unsigned shift)
{
    uint8_t *out = malloc(size), *in = malloc(size);
    for (size_t i = 0; i < size; i++)
        out[i] = (uint8_t)(i * 2654435761u >> shift);
    fcntl(from, F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0;
    for (int i = 0; i < 200000 && got < size; i++) {
        if (sent < size) {
            ssize_t n = send(from, out + sent, size - sent, MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
        }
        ev_run(fx->loop, EVRUN_NOWAIT);
        ssize_t n = recv(to, in + got, size - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
    }
    bool exact = got == size && memcmp(in, out, size) == 0;
    if (got != size)
        print_error("%zu of %zu bytes came through\n", got, size);
    free(out);
    free(in);
    return exact;
}

static void test_large_transfer_is_byte_exact(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    enum { SIZE = 4 << 20 };
    assert_true(transferred(fx, fx->client.app, fx->upstream.app, SIZE, 13));
    assert_int_equal(fx->relay.up.bytes, SIZE);
}

static void test_stream_grows_its_pipe(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    enum { SIZE = 4 << 20 };
    assert_true(transferred(fx, fx->upstream.app, fx->client.app, SIZE, 7));
    struct pipe_pool_stats st;
    pipe_pool_stats(fx->pipes, &st);
    assert_int_equal(st.grown, 1);
    assert_int_equal(st.large, 1);
    /* Grown once, then kept grown in the pool between chunks. */
    struct pipe_pool_pipe p;
    assert_int_equal(pipe_pool_get(fx->pipes, &p), 0);
    assert_int_equal(p.size, PIPE_POOL_LARGE_SIZE);
    assert_int_equal(fcntl(p.fd[0], F_GETPIPE_SZ), PIPE_POOL_LARGE_SIZE);
    pipe_pool_put(fx->pipes, &p, 1);
}

static void test_half_close_keeps_the_other_direction(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    assert_int_equal(send(fx->client.app, "question", 8, 0), 8);
    assert_int_equal(shutdown(fx->client.app, SHUT_WR), 0);
    char buf[64] = {0};
    /* The origin reads the question, then end of stream. */
    assert_int_equal(pump_read(fx, fx->upstream.app, buf, sizeof(buf)), 8);
    assert_true(fx->relay.up.shut);
    assert_int_equal(fx->ended, 0);
    /* It still answers, and the answer reaches the client. */
    assert_int_equal(send(fx->upstream.app, "answer", 6, 0), 6);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(pump_read(fx, fx->client.app, buf, 6), 6);
    assert_memory_equal(buf, "answer", 6);
    /* The origin closes: the relay is done. */
    shutdown(fx->upstream.app, SHUT_WR);
    pump_until_ended(fx);
    assert_int_equal(fx->ended, 1);
    assert_string_equal(fx->reason, "done");
}

static void test_slow_reader_stops_reading(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    fcntl(fx->client.app, F_SETFL, O_NONBLOCK);
    /* The origin never reads: the client can only fill the socket buffers
     * and one pipe; its writes then block instead of memory growing. */
    static uint8_t chunk[65536];
    size_t sent = 0;
    int blocked = 0;
    for (int i = 0; i < 5000 && blocked < 50; i++) {
        ssize_t n = send(fx->client.app, chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n > 0)
            sent += (size_t)n;
        else
            blocked++;
        ev_run(fx->loop, EVRUN_NOWAIT);
    }
    assert_true(blocked >= 50);
    assert_true(sent < 64u << 20); /* bounded by kernel buffers, not by us */
    assert_true(fx->relay.up.in_pipe <= fx->relay.up.pipe.size);
    assert_true(fx->relay.up.pipe.size <= PIPE_POOL_LARGE_SIZE);
    assert_true(ev_is_active(&fx->relay.up.wr));
    assert_false(ev_is_active(&fx->relay.up.rd));
    assert_int_equal(fx->ended, 0);
}

static void test_idle_timeout_ends_the_relay(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 0.05);
    for (int i = 0; i < 100 && !fx->ended; i++)
        ev_run(fx->loop, EVRUN_ONCE);
    assert_int_equal(fx->ended, 1);
    assert_string_equal(fx->reason, "idle timeout");
    assert_int_equal(fx->relay.failed, RELAY_BOTH); /* cut by the relay: both sides reset */
}

/* Closes the test's end of `p` with a reset; a fresh socket keeps teardown simple. */
static void reset_app(struct pair *p)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(p->app, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(p->app);
    p->app = socket(AF_INET, SOCK_STREAM, 0);
}

/* The relay ends, once, for `reason`, the side that failed being `side`. */
static void ends_failed(struct fixture *fx, const char *reason, enum relay_side side)
{
    pump_until_ended(fx);
    assert_int_equal(fx->ended, 1);
    assert_string_equal(fx->reason, reason);
    assert_int_equal(fx->relay.failed, side);
}

/* Bytes flow from the origin to the client, then the origin resets: the relay
 * ends at once, naming the upstream, so the client can be reset in turn. */
static void origin_resets_mid_transfer(struct fixture *fx)
{
    char buf[64] = {0};
    assert_int_equal(send(fx->upstream.app, "partial", 7, 0), 7);
    assert_int_equal(pump_read(fx, fx->client.app, buf, 7), 7);
    reset_app(&fx->upstream);
    ends_failed(fx, "reset by upstream", RELAY_UPSTREAM);
}

static void test_upstream_reset_ends_the_relay_naming_the_upstream(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    origin_resets_mid_transfer(fx);
}

static void test_client_reset_ends_the_relay_naming_the_client(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    passes_through(fx, fx->client.app, fx->upstream.app);
    reset_app(&fx->client);
    ends_failed(fx, "reset by client", RELAY_CLIENT);
}

static void test_reset_seen_only_by_a_write_is_a_reset(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    reset_app(&fx->client);
    /* The reset's error is taken before the relay reads it (as a peek or an
     * earlier call would): the client then reads as ended, and only the write
     * of the origin's bytes finds out (EPIPE). */
    usleep(10000);
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fx->client.relay, SOL_SOCKET, SO_ERROR, &err, &len);
    assert_int_equal(err, ECONNRESET);
    assert_int_equal(send(fx->upstream.app, "late", 4, 0), 4);
    ends_failed(fx, "reset by client", RELAY_CLIENT);
}

static void test_clean_end_is_not_a_reset(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    shutdown(fx->client.app, SHUT_WR);
    shutdown(fx->upstream.app, SHUT_WR);
    pump_until_ended(fx);
    assert_string_equal(fx->reason, "done");
    assert_int_equal(fx->relay.failed, RELAY_NEITHER);
}

static void test_idle_relay_holds_no_pipe(void **state)
{
    struct fixture *fx = *state;
    start(fx, "", "", 60);
    char buf[8];
    assert_int_equal(send(fx->client.app, "abc", 3, 0), 3);
    assert_int_equal(pump_read(fx, fx->upstream.app, buf, 3), 3);
    for (int i = 0; i < 10; i++)
        ev_run(fx->loop, EVRUN_NOWAIT);
    /* Both directions idle: no pipe and no buffer held, the pipe is pooled. */
    assert_int_equal(fx->relay.up.pipe.fd[0], -1);
    assert_int_equal(fx->relay.down.pipe.fd[0], -1);
    assert_null(fx->relay.up.buf);
    struct pipe_pool_stats st;
    pipe_pool_stats(fx->pipes, &st);
    assert_int_equal(st.idle, 1);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.grown, 0); /* three bytes are no stream */
}

static void test_client_eof_before_start_follows_the_prefix(void **state)
{
    struct fixture *fx = *state;
    /* The client sent its bytes and half-closed while the flow was sniffing. */
    start_eof(fx, "GET / HTTP/1.0\r\n\r\n", "", true, 60);
    char buf[64] = {0};
    assert_int_equal(pump_read(fx, fx->upstream.app, buf, sizeof(buf)), 18);
    assert_memory_equal(buf, "GET / HTTP/1.0\r\n\r\n", 18);
    assert_true(fx->relay.up.shut);
    assert_int_equal(send(fx->upstream.app, "HTTP/1.0 200 OK\r\n\r\n", 19, 0), 19);
    shutdown(fx->upstream.app, SHUT_WR);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(pump_read(fx, fx->client.app, buf, sizeof(buf)), 19);
    pump_until_ended(fx);
    assert_string_equal(fx->reason, "done");
}

/* Uses up every descriptor under a low limit, so that pipe2 fails with EMFILE. */
struct starved {
    struct rlimit old;
    int fillers[128], n;
};

static void starve_descriptors(struct starved *st)
{
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &st->old), 0);
    struct rlimit low = st->old;
    low.rlim_cur = 128;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    st->n = 0;
    while (st->n < 128 && (st->fillers[st->n] = open("/dev/null", O_RDONLY)) >= 0)
        st->n++;
}

static void feed_descriptors(struct starved *st)
{
    while (st->n > 0)
        close(st->fillers[--st->n]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &st->old), 0);
}

static void test_no_pipe_to_be_had_goes_through_a_buffer(void **state)
{
    struct fixture *fx = *state;
    struct starved starved;
    starve_descriptors(&starved);
    start(fx, "", "", 60);
    enum { SIZE = 1 << 20 };
    bool whole = transferred(fx, fx->upstream.app, fx->client.app, SIZE, 11);
    struct pipe_pool_stats st;
    pipe_pool_stats(fx->pipes, &st);
    feed_descriptors(&starved);
    assert_true(whole);
    assert_int_equal(fx->relay.down.bytes, SIZE);
    assert_int_equal(st.created, 0);
    /* The buffer, too, is held only while bytes are in flight. */
    assert_null(fx->relay.down.buf);
    assert_int_equal(fx->ended, 0);
}

static void test_reset_without_a_pipe_is_a_reset(void **state)
{
    struct fixture *fx = *state;
    struct starved starved;
    starve_descriptors(&starved);
    start(fx, "", "", 60);
    origin_resets_mid_transfer(fx);
    struct pipe_pool_stats st;
    pipe_pool_stats(fx->pipes, &st);
    feed_descriptors(&starved);
    assert_int_equal(st.created, 0);
}

static void test_pipe_pool_reuses_only_empty_pipes(void **state)
{
    (void)state;
    struct pipe_pool *pool = pipe_pool_new(2, 0, NULL);
    struct pipe_pool_pipe a, b;
    assert_int_equal(pipe_pool_get(pool, &a), 0);
    assert_int_equal(a.size, PIPE_POOL_SIZE);
    int a0 = a.fd[0];
    pipe_pool_put(pool, &a, 1);
    assert_int_equal(a.fd[0], -1);
    assert_int_equal(pipe_pool_get(pool, &b), 0);
    assert_int_equal(b.fd[0], a0); /* reused */
    assert_int_equal(write(b.fd[1], "x", 1), 1);
    pipe_pool_put(pool, &b, 0); /* not empty: closed, not pooled */
    struct pipe_pool_stats st;
    pipe_pool_stats(pool, &st);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.reused, 1);
    assert_int_equal(st.closed, 1);
    assert_int_equal(st.idle, 0);
    pipe_pool_free(pool);
}

static void test_pipe_pool_keeps_its_number_of_grown_pipes(void **state)
{
    (void)state;
    struct pipe_pool *pool = pipe_pool_new(2, 1, NULL);
    struct pipe_pool_pipe a, b;
    assert_int_equal(pipe_pool_get(pool, &a), 0);
    assert_int_equal(pipe_pool_get(pool, &b), 0);
    assert_int_equal(write(a.fd[1], "x", 1), 1);
    pipe_pool_grow(pool, &a); /* with bytes in it */
    assert_int_equal(a.size, PIPE_POOL_LARGE_SIZE);
    assert_int_equal(fcntl(a.fd[1], F_GETPIPE_SZ), PIPE_POOL_LARGE_SIZE);
    pipe_pool_grow(pool, &b); /* one grown pipe at most */
    assert_int_equal(b.size, PIPE_POOL_SIZE);
    assert_int_equal(fcntl(b.fd[1], F_GETPIPE_SZ), PIPE_POOL_SIZE);
    pipe_pool_put(pool, &a, 0); /* closed: its place is free */
    pipe_pool_grow(pool, &b);
    assert_int_equal(b.size, PIPE_POOL_LARGE_SIZE);
    pipe_pool_put(pool, &b, 1);
    struct pipe_pool_stats st;
    pipe_pool_stats(pool, &st);
    assert_int_equal(st.grown, 2);
    assert_int_equal(st.large, 1); /* the idle one, still grown */
    pipe_pool_trim(pool, PIPE_POOL_FDS);
    pipe_pool_stats(pool, &st);
    assert_int_equal(st.large, 0);
    pipe_pool_free(pool);
}

#define RELAY_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

/* As `switchyard run` does: splice to a reset socket raises SIGPIPE. */
static int ignore_sigpipe(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

UNIT_TEST_MAIN(ignore_sigpipe, NULL, RELAY_TEST(test_memory_bytes_go_first_both_ways),
               RELAY_TEST(test_large_transfer_is_byte_exact),
               RELAY_TEST(test_stream_grows_its_pipe),
               RELAY_TEST(test_half_close_keeps_the_other_direction),
               RELAY_TEST(test_slow_reader_stops_reading),
               RELAY_TEST(test_idle_timeout_ends_the_relay),
               RELAY_TEST(test_upstream_reset_ends_the_relay_naming_the_upstream),
               RELAY_TEST(test_client_reset_ends_the_relay_naming_the_client),
               RELAY_TEST(test_reset_seen_only_by_a_write_is_a_reset),
               RELAY_TEST(test_clean_end_is_not_a_reset), RELAY_TEST(test_idle_relay_holds_no_pipe),
               RELAY_TEST(test_client_eof_before_start_follows_the_prefix),
               RELAY_TEST(test_no_pipe_to_be_had_goes_through_a_buffer),
               RELAY_TEST(test_reset_without_a_pipe_is_a_reset),
               cmocka_unit_test(test_pipe_pool_reuses_only_empty_pipes),
               cmocka_unit_test(test_pipe_pool_keeps_its_number_of_grown_pipes))
