/*
 * test_log.c — log lines never block: to a pipe or socket nobody reads,
 * logging returns at once, holds at most LOG_QUEUE_BYTES, drops the rest and
 * says how many once the reader is back; the shared descriptor stays
 * blocking for everyone else. The rate limiter lets a call site write
 * LOG_RATELIMIT_BURST lines an interval and reports what it held back.
 * Lines logged on other threads (the workers) arrive whole, and reach the
 * tap on the attached loop's thread only.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <ev.h>

#include "engine/core/log.h"
#include "tests/unit/unit_test.h"

#define LINES 5000

/* A hang is a failure: a blocking write would wait here forever. */
static void no_hang(unsigned seconds)
{
    signal(SIGALRM, SIG_DFL);
    alarm(seconds);
}

static void set_nonblock(int fd)
{
    assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

/* Reads what is there now from the non-blocking `fd`, appending to buf. */
static size_t drain(int fd, char *buf, size_t have, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf + have, cap - have - 1);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    buf[have] = '\0';
    return have;
}

static unsigned count(const char *text, const char *needle)
{
    unsigned n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Logs LINES lines to `wfd` nobody reads, then reads them back through a loop. */
static void check_unread_output(int wfd, int rfd)
{
    log_set_level(LOG_LEVEL_INFO);
    log_open(wfd);
    no_hang(20);
    for (int i = 0; i < LINES; i++)
        log_info("line %d of a reader that is away %0100d", i, 0);
    alarm(0);

    struct log_queue_stats st;
    log_queue_stats(&st);
    assert_true(st.queued_bytes > 0 && st.queued_bytes <= LOG_QUEUE_BYTES);
    assert_true(st.dropped > 0);

    /* The reader comes back: the loop writes the queue and the notice. */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    log_attach(loop);
    set_nonblock(rfd);
    size_t cap = 2 * 1024 * 1024, have = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (int round = 0; round < 1000; round++) {
        have = drain(rfd, buf, have, cap);
        log_queue_stats(&st);
        if (st.queued_bytes == 0 && strstr(buf, "log lines dropped"))
            break;
        ev_run(loop, EVRUN_NOWAIT);
    }
    have = drain(rfd, buf, have, cap);
    log_detach(0);
    ev_loop_destroy(loop);

    unsigned written = count(buf, "of a reader that is away");
    const char *notice = strstr(buf, "warn  ");
    assert_non_null(notice);
    unsigned long long dropped = strtoull(notice + 6, NULL, 10);
    assert_non_null(strstr(notice, " log lines dropped\n"));
    assert_int_equal(written + dropped, LINES);
    assert_true(written < LINES);
    /* Lines arrive whole and in order, the notice after them. */
    assert_int_equal(count(buf, "\n"), written + 1);
    assert_non_null(strstr(buf, "line 0 of"));
    free(buf);
}

/* check_unread_output() on the writer `w` of a pipe or socket whose reader
 * `r` reads nothing; the reader's and any other writer's view of it is
 * unchanged (still blocking). The log goes back to stderr; both are closed. */
static void nobody_reads(int w, int r)
{
    check_unread_output(w, r);
    assert_false(fcntl(w, F_GETFL) & O_NONBLOCK);
    log_open(STDERR_FILENO);
    close(r);
    close(w);
}

static void test_pipe_nobody_reads(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    nobody_reads(p[1], p[0]);
}

static void test_stderr_pipe_nobody_reads(void **state)
{
    (void)state;
    int p[2], saved = dup(STDERR_FILENO);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    check_unread_output(STDERR_FILENO, p[0]);
    assert_false(fcntl(STDERR_FILENO, F_GETFL) & O_NONBLOCK);
    dup2(saved, STDERR_FILENO);
    close(saved);
    log_open(STDERR_FILENO);
    close(p[0]);
    close(p[1]);
}

static void test_socket_nobody_reads(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nobody_reads(sv[0], sv[1]);
}

static void test_closed_reader_is_not_an_error(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    log_open(p[1]);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < 100; i++)
        log_info("nobody will read line %d", i);
    struct log_queue_stats st;
    log_queue_stats(&st);
    assert_int_equal(st.queued_bytes, 0);
    log_open(STDERR_FILENO);
    close(p[1]);
}

static void test_ratelimit_burst_then_suppressed(void **state)
{
    (void)state;
    struct log_ratelimit rl = {0};
    unsigned suppressed;
    for (int i = 0; i < LOG_RATELIMIT_BURST; i++) {
        assert_true(log_ratelimit_allow(&rl, 100.0 + i * 0.1, &suppressed));
        assert_int_equal(suppressed, 0);
    }
    for (int i = 0; i < 500; i++)
        assert_false(log_ratelimit_allow(&rl, 101.5, &suppressed));
    /* Still inside the interval. */
    assert_false(log_ratelimit_allow(&rl, 100.0 + LOG_RATELIMIT_INTERVAL_S - 0.01, &suppressed));
    /* The next interval: one line is allowed and the held-back count comes with it, once. */
    assert_true(log_ratelimit_allow(&rl, 100.0 + LOG_RATELIMIT_INTERVAL_S, &suppressed));
    assert_int_equal(suppressed, 501);
    assert_true(log_ratelimit_allow(&rl, 100.0 + LOG_RATELIMIT_INTERVAL_S, &suppressed));
    assert_int_equal(suppressed, 0);
}

static void test_ratelimit_quiet_site_never_suppressed(void **state)
{
    (void)state;
    struct log_ratelimit rl = {0};
    unsigned suppressed;
    for (int i = 0; i < 100; i++) {
        assert_true(log_ratelimit_allow(&rl, i * 1.0, &suppressed));
        assert_int_equal(suppressed, 0);
    }
}

/* One call site, many calls: BURST lines reach the output, the rest are held. */
static void test_limited_call_site(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    set_nonblock(p[0]);
    log_set_level(LOG_LEVEL_INFO);
    log_open(p[1]);
    for (int i = 0; i < 1000; i++)
        log_warn_limited("datagram %d could not be sent", i);
    log_info_limited("another site");
    char buf[8192];
    size_t have = drain(p[0], buf, 0, sizeof(buf));
    assert_true(have > 0);
    assert_int_equal(count(buf, "could not be sent"), LOG_RATELIMIT_BURST);
    assert_int_equal(count(buf, "another site"), 1);
    assert_int_equal(count(buf, "suppressed"), 0);
    log_open(STDERR_FILENO);
    close(p[0]);
    close(p[1]);
}

#define THREAD_LINES 200

static void *log_from_thread(void *arg)
{
    for (int i = 0; i < THREAD_LINES; i++)
        log_info("thread %ld line %d %0200d", (long)(intptr_t)arg, i, 0);
    return NULL;
}

struct tap_seen {
    pthread_t loop_thread;
    unsigned lines, elsewhere;
};

static void count_tap(void *arg, enum log_level level, const char *line, size_t len)
{
    (void)level;
    struct tap_seen *t = arg;
    if (!pthread_equal(pthread_self(), t->loop_thread))
        t->elsewhere++;
    if (len > 0 && line[len - 1] == '\n' && memmem(line, len, " line ", 6))
        t->lines++;
}

/* Two threads log at once: every line whole on the output, each shown to the tap on the loop. */
static void test_other_threads_reach_output_and_tap(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    set_nonblock(p[0]);
    assert_int_equal(fcntl(p[1], F_SETPIPE_SZ, 1024 * 1024) > 0, true);
    log_set_level(LOG_LEVEL_INFO);
    log_open(p[1]);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    log_attach(loop);
    struct tap_seen seen = {.loop_thread = pthread_self()};
    log_set_tap(count_tap, &seen);
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, log_from_thread, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int round = 0; round < 100 && seen.lines < 2 * THREAD_LINES; round++)
        ev_run(loop, EVRUN_NOWAIT);
    size_t cap = 1024 * 1024;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t have = drain(p[0], buf, 0, cap);
    log_set_tap(NULL, NULL);
    log_detach(0);
    ev_loop_destroy(loop);
    log_open(STDERR_FILENO);
    close(p[0]);
    close(p[1]);
    assert_int_equal(seen.lines, 2 * THREAD_LINES);
    assert_int_equal(seen.elsewhere, 0);
    /* Whole lines: each starts with the time and ends with the padding and a newline. */
    assert_int_equal(count(buf, "0\n"), 2 * THREAD_LINES);
    assert_int_equal(count(buf, "\n"), 2 * THREAD_LINES);
    assert_int_equal(count(buf, "thread 0 line"), THREAD_LINES);
    assert_int_equal(count(buf, "thread 1 line"), THREAD_LINES);
    assert_true(have > 0);
    free(buf);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(test_pipe_nobody_reads),
               cmocka_unit_test(test_stderr_pipe_nobody_reads),
               cmocka_unit_test(test_socket_nobody_reads),
               cmocka_unit_test(test_closed_reader_is_not_an_error),
               cmocka_unit_test(test_ratelimit_burst_then_suppressed),
               cmocka_unit_test(test_ratelimit_quiet_site_never_suppressed),
               cmocka_unit_test(test_limited_call_site),
               cmocka_unit_test(test_other_threads_reach_output_and_tap))
