/*
 * test_log_event.c — a flow's log lines come from one set of fields: in the
 * text format they read as they always have; in the json format each is one
 * JSON object (parsed back here with jansson) carrying every field, and a
 * plain line is {time, level, message}. With syslog as the target each line
 * is one datagram with the header the local daemon reads, lines wait in the
 * queue while the daemon does not read, a restarted daemon is reached
 * again, and the log tap still sees each line as stderr would have it.
 */
#include <errno.h>
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
#include <sys/un.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>

#include "engine/core/log.h"
#include "engine/core/log_event.h"
#include "tests/unit/unit_test.h"

static const struct log_event decided = {
    .level = LOG_LEVEL_INFO,
    .kind = LOG_EVENT_DECIDED,
    .network = "tcp",
    .flow = 17,
    .inbound = "gw",
    .src = "192.0.2.2:40000",
    .dst = "198.51.100.10:443",
    .host = "secure.example",
    .protocol = "tls",
    .outbound = "proxy",
    .rule = 3,
    .rule_line = 12,
};

static struct log_event closed_event(void)
{
    struct log_event ev = decided;
    ev.kind = LOG_EVENT_CLOSED;
    ev.reason = "done";
    ev.bytes_up = 517;
    ev.bytes_down = 12345;
    ev.duration_s = 1.25;
    return ev;
}

static const struct log_event udp_decided = {
    .level = LOG_LEVEL_INFO,
    .kind = LOG_EVENT_DECIDED,
    .network = "udp",
    .flow = 4,
    .inbound = "udp-in",
    .src = "[2001:db8::2]:5353",
    .dst = "[2001:db8::53]:53",
    .host = NULL,
    .protocol = "dns",
    .outbound = "direct",
};

static int rfd = -1, wfd = -1;

static int setup(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    rfd = p[0];
    wfd = p[1];
    log_open(wfd);
    log_set_level(LOG_LEVEL_DEBUG);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_TEXT);
    log_open(STDERR_FILENO);
    close(rfd);
    close(wfd);
    return 0;
}

/* The next line written to the pipe, newline cut off. */
static char *next_line(char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap && read(rfd, buf + n, 1) == 1 && buf[n] != '\n')
        n++;
    buf[n] = '\0';
    return buf;
}

/* The line's text after "TIME LEVEL " (level padded to 5). */
static const char *text_body(char *line, const char *level)
{
    assert_true(strlen(line) > 24);
    assert_int_equal(line[23], ' ');
    assert_memory_equal(line + 24, level, strlen(level));
    return line + 30;
}

static void test_text_lines_are_unchanged(void **state)
{
    (void)state;
    char line[2048];
    log_event(&decided);
    assert_string_equal(text_body(next_line(line, sizeof(line)), "info"),
                        "flow 17 decided inbound=gw src=192.0.2.2:40000 dst=198.51.100.10:443 "
                        "host=secure.example protocol=tls rule 3 (line 12) -> proxy");
    struct log_event ev = closed_event();
    log_event(&ev);
    assert_string_equal(text_body(next_line(line, sizeof(line)), "info"),
                        "flow 17 closed: done; up 517 bytes, down 12345 bytes, 1.250 s");
    ev.level = LOG_LEVEL_DEBUG;
    ev.outbound = NULL;
    ev.phase = "sniffing";
    ev.reason = "client closed";
    log_event(&ev);
    assert_string_equal(text_body(next_line(line, sizeof(line)), "debug"),
                        "flow 17 from 192.0.2.2:40000 closed during sniffing: client closed");
    log_event(&udp_decided);
    assert_string_equal(text_body(next_line(line, sizeof(line)), "info"),
                        "udp [2001:db8::2]:5353 -> [2001:db8::53]:53 [udp-in] dns - => direct, "
                        "default");
}

/* The next line as a JSON object, its time and level checked. */
static json_t *next_json(const char *level)
{
    char line[4096];
    json_error_t err;
    json_t *o = json_loads(next_line(line, sizeof(line)), 0, &err);
    if (!o)
        fail_msg("not JSON: %s (%s)", line, err.text);
    assert_true(json_is_object(o));
    const char *t = json_string_value(json_object_get(o, "time"));
    assert_non_null(t); /* 2026-11-25T01:55:28.123+01:00 */
    assert_int_equal(strlen(t), 29);
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[26], ':');
    assert_string_equal(json_string_value(json_object_get(o, "level")), level);
    return o;
}

static void assert_json_string(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("no string \"%s\"", key);
    assert_string_equal(json_string_value(v), want);
}

static void assert_json_int(json_t *o, const char *key, long long want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", key);
    assert_int_equal(json_integer_value(v), want);
}

/* The fields a decided and a closed line share. */
static void assert_decision(json_t *o)
{
    assert_json_string(o, "network", "tcp");
    assert_json_int(o, "flow", 17);
    assert_json_string(o, "inbound", "gw");
    assert_json_string(o, "src", "192.0.2.2:40000");
    assert_json_string(o, "dst", "198.51.100.10:443");
    assert_json_string(o, "host", "secure.example");
    assert_json_string(o, "protocol", "tls");
    assert_json_int(o, "rule", 3);
    assert_json_int(o, "rule_line", 12);
    assert_json_string(o, "outbound", "proxy");
}

static void test_json_decided_carries_every_field(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_JSON);
    log_event(&decided);
    json_t *o = next_json("info");
    assert_json_string(o, "event", "decided");
    assert_decision(o);
    assert_int_equal(json_object_size(o), 13);
    json_decref(o);

    log_event(&udp_decided);
    o = next_json("info");
    assert_json_string(o, "event", "decided");
    assert_json_string(o, "network", "udp");
    assert_json_int(o, "flow", 4);
    assert_true(json_is_null(json_object_get(o, "host")));
    assert_json_int(o, "rule", 0);
    assert_json_int(o, "rule_line", 0);
    assert_json_string(o, "outbound", "direct");
    json_decref(o);
}

static void test_json_closed_carries_every_field(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_JSON);
    struct log_event ev = closed_event();
    log_event(&ev);
    json_t *o = next_json("info");
    assert_json_string(o, "event", "closed");
    assert_decision(o);
    assert_json_string(o, "reason", "done");
    assert_json_int(o, "bytes_up", 517);
    assert_json_int(o, "bytes_down", 12345);
    assert_true(json_is_real(json_object_get(o, "duration_s")));
    assert_true(json_real_value(json_object_get(o, "duration_s")) == 1.25);
    assert_int_equal(json_object_size(o), 17);
    json_decref(o);

    ev.level = LOG_LEVEL_DEBUG;
    ev.outbound = NULL;
    ev.phase = "sniffing";
    log_event(&ev);
    o = next_json("debug");
    assert_json_string(o, "event", "closed");
    assert_json_string(o, "phase", "sniffing");
    assert_json_string(o, "reason", "done");
    assert_null(json_object_get(o, "outbound"));
    json_decref(o);
}

static void test_json_escapes_what_a_client_sent(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_JSON);
    struct log_event ev = decided;
    ev.host = "evil\"\n{\xff}.example";
    log_event(&ev);
    json_t *o = next_json("info");
    assert_json_string(o, "host", "evil\"\\x0a{\\xff}.example");
    json_decref(o);
}

static void test_json_plain_lines_have_a_message(void **state)
{
    (void)state;
    log_set_format(LOG_FORMAT_JSON);
    log_warn("listener \"%s\" on %s", "gw", "[::]:12345");
    json_t *o = next_json("warn");
    assert_json_string(o, "message", "listener \"gw\" on [::]:12345");
    assert_int_equal(json_object_size(o), 3);
    json_decref(o);
    /* Bytes that are no UTF-8 (a path, say) still make valid JSON. */
    log_info("file /tmp/\xc3\x28.yaml");
    o = next_json("info");
    assert_json_string(o, "message", "file /tmp/\\xc3(.yaml");
    json_decref(o);
    /* Below the level: nothing. */
    log_set_level(LOG_LEVEL_INFO);
    struct log_event ev = decided;
    ev.level = LOG_LEVEL_DEBUG;
    log_event(&ev);
    log_set_level(LOG_LEVEL_DEBUG);
    log_info("after");
    o = next_json("info");
    assert_json_string(o, "message", "after");
    json_decref(o);
}

/* --- syslog ----------------------------------------------------------------------- */

/* A datagram socket bound at `path`, as the syslog daemon's /dev/log. */
static int syslog_bind(const char *path)
{
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, path);
    unlink(path);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    return s;
}

/* The syslog daemon of a syslog test, at a path of the test's own, the log sent to it. */
struct syslog_daemon {
    char path[64];
    int fd;
};

static int syslog_setup(void **state)
{
    static struct syslog_daemon d;
    setup(state);
    snprintf(d.path, sizeof(d.path), "/tmp/switchyard-test-log.%ld", (long)getpid());
    d.fd = syslog_bind(d.path);
    assert_int_equal(log_open_syslog(d.path), 0);
    *state = &d;
    return 0;
}

static int syslog_teardown(void **state)
{
    struct syslog_daemon *d = *state;
    close(d->fd);
    unlink(d->path);
    return teardown(state);
}

/* The next datagram, as a string; "" when none comes within a second. */
static char *next_datagram(int s, char *buf, size_t cap)
{
    struct timeval tv = {1, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ssize_t n = recv(s, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

/* "<PRI>Mmm dd hh:mm:ss switchyard[PID]: " before `body`, no newline. */
static void assert_syslog(const char *dgram, int pri, const char *body)
{
    char head[16], tag[64];
    int n = snprintf(head, sizeof(head), "<%d>", pri);
    assert_memory_equal(dgram, head, (size_t)n);
    snprintf(tag, sizeof(tag), " switchyard[%ld]: ", (long)getpid());
    const char *at = strstr(dgram, tag);
    assert_non_null(at);
    assert_int_equal(at - dgram, n + 15); /* "Nov 29 21:07:00" */
    assert_string_equal(at + strlen(tag), body);
}

static void test_syslog_a_datagram_a_line(void **state)
{
    struct syslog_daemon *s = *state;
    char buf[4096];
    log_event(&decided); /* daemon (3) * 8 + info (6) */
    assert_syslog(next_datagram(s->fd, buf, sizeof(buf)), 30,
                  "flow 17 decided inbound=gw src=192.0.2.2:40000 dst=198.51.100.10:443 "
                  "host=secure.example protocol=tls rule 3 (line 12) -> proxy");
    log_error("bad");
    assert_syslog(next_datagram(s->fd, buf, sizeof(buf)), 27, "bad");
    log_warn("careful");
    assert_syslog(next_datagram(s->fd, buf, sizeof(buf)), 28, "careful");
    log_debug("detail");
    assert_syslog(next_datagram(s->fd, buf, sizeof(buf)), 31, "detail");

    log_set_format(LOG_FORMAT_JSON);
    log_info("as json");
    next_datagram(s->fd, buf, sizeof(buf));
    const char *body = strstr(buf, "]: ");
    assert_non_null(body);
    json_t *o = json_loads(body + 3, 0, NULL);
    assert_non_null(o);
    assert_json_string(o, "message", "as json");
    json_decref(o);
    log_set_format(LOG_FORMAT_TEXT);

    /* The daemon restarts: a new socket at the same path is reached. */
    close(s->fd);
    s->fd = syslog_bind(s->path);
    log_info("after the restart");
    assert_syslog(next_datagram(s->fd, buf, sizeof(buf)), 30, "after the restart");
}

static void test_syslog_nobody_reads(void **state)
{
    struct syslog_daemon *s = *state;
    char buf[4096];
    /* The daemon's queue fills (net.unix.max_dgram_qlen): logging still returns at once. */
    signal(SIGALRM, SIG_DFL);
    alarm(20);
    for (int i = 0; i < 5000; i++)
        log_info("line %d of a daemon that is away %0100d", i, 0);
    alarm(0);
    struct log_queue_stats st;
    log_queue_stats(&st);
    assert_true(st.queued_bytes > 0 && st.dropped > 0);

    /* It reads again: the loop sends the queue, then the notice. */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    log_attach(loop);
    unsigned lines = 0;
    bool notice = false;
    for (int round = 0; round < 100000 && !notice; round++) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = recv(s->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        assert_null(strchr(buf, '\n'));
        if (strstr(buf, "of a daemon that is away"))
            lines++;
        notice = strstr(buf, " log lines dropped") != NULL;
    }
    log_detach(0);
    ev_loop_destroy(loop);
    assert_true(notice);
    assert_true(lines > 0 && lines < 5000);
}

static char tapped[4096];

static void tap(void *arg, enum log_level level, const char *line, size_t len)
{
    (void)arg;
    (void)level;
    snprintf(tapped, sizeof(tapped), "%.*s", (int)len, line);
}

static void test_syslog_tap_sees_the_stderr_form(void **state)
{
    struct syslog_daemon *s = *state;
    char buf[4096], line[4096];
    log_set_tap(tap, NULL);
    log_info("for the tap");
    assert_syslog(next_datagram(s->fd, buf, sizeof(buf)), 30, "for the tap");
    snprintf(line, sizeof(line), "%s", tapped);
    assert_string_equal(text_body(line, "info"), "for the tap\n");
    log_set_tap(NULL, NULL);
}

static void test_syslog_not_there(void **state)
{
    (void)state;
    assert_int_equal(log_open_syslog("/nonexistent/switchyard/log"), -1);
    assert_int_equal(errno, ENOENT);
    /* Lines go where they went. */
    log_info("still on the pipe");
    char line[2048];
    assert_string_equal(text_body(next_line(line, sizeof(line)), "info"), "still on the pipe");
}

#define LOG_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
#define SYSLOG_TEST(t) cmocka_unit_test_setup_teardown(t, syslog_setup, syslog_teardown)

UNIT_TEST_MAIN(NULL, NULL, LOG_TEST(test_text_lines_are_unchanged),
               LOG_TEST(test_json_decided_carries_every_field),
               LOG_TEST(test_json_closed_carries_every_field),
               LOG_TEST(test_json_escapes_what_a_client_sent),
               LOG_TEST(test_json_plain_lines_have_a_message),
               SYSLOG_TEST(test_syslog_a_datagram_a_line), SYSLOG_TEST(test_syslog_nobody_reads),
               SYSLOG_TEST(test_syslog_tap_sees_the_stderr_form), LOG_TEST(test_syslog_not_there))
