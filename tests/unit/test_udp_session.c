/*
 * test_udp_session.c — the UDP session engine over the real kernel: in a
 * private network namespace, nft REDIRECTs the client's UDP to a
 * udp-redirect listener; the engine finds each original destination in
 * conntrack, relays to a UDP echo server with the direct outbound and
 * answers through the listener so conntrack un-NATs the replies.
 *
 * The policy and the classifier are small fakes defined here, so the test
 * pins the engine's behaviour (decide once, queue while classifying, drop,
 * evict, expire, re-decide on reload; a message begun is decided by its
 * name or the session ends, past sniff.timeout_ms too) without depending
 * on the rule engine:
 *   - a datagram "HOST:<name>" is DNS naming <name>; "MORE..." needs more;
 *     anything else is unknown;
 *   - port 7 is decided early (direct, or drop under the "strict" policy,
 *     or under the "moved" one an outbound still named "direct" but defined
 *     as a drop); any other port waits for the classifier; under "strict"
 *     every classified session is dropped, otherwise a host starting with
 *     "blocked" is, and the rest goes direct.
 * Needs root (skipped otherwise).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "engine/udp/udp_engine.h"
#include "engine/udp/udp_listener.h"
#include "engine/udp/udp_session.h"
#include "engine/udp/udp_session_table.h"
#include "engine/udp/udp_socket.h"
#include "tests/unit/kernel_need.h"

/* --- the fake policy --------------------------------------------------------- */

struct policy {
    int refs;
    bool strict; /* port 7 and classified sessions dropped */
    bool moved;  /* port 7 to "direct" defined otherwise */
    struct policy_settings settings;
};

#include "fake_policy.h"

static const struct policy_outbound out_direct = {.name = "direct", .type = OUTBOUND_DIRECT};
static const struct policy_outbound out_drop = {.name = "drop", .type = OUTBOUND_DROP};
static const struct policy_outbound out_direct_moved = {.name = "direct", .type = OUTBOUND_DROP};
static const struct policy_outbound out_socks_tcp = {.name = "tcponly", .type = OUTBOUND_SOCKS5};
static struct policy_outbound out_socks_udp = {
    .name = "dante", .type = OUTBOUND_SOCKS5, .udp = true};
static struct policy_outbound out_socks_udp4 = {
    .name = "socks4only", .type = OUTBOUND_SOCKS5, .udp = true};

void policy_decide(const struct policy *p, const struct policy_flow *f, struct policy_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->outbound = &out_direct;
    if (f->dst.port == 7) {
        d->outbound = p->strict ? &out_drop : p->moved ? &out_direct_moved : &out_direct;
        d->rule = 1;
    } else if (f->dst.port == 9) {
        d->outbound = &out_socks_tcp;
    } else if (f->dst.port == 5353) {
        d->outbound = &out_socks_udp;
    } else if (f->dst.port == 5354) {
        d->outbound = &out_socks_udp4;
    } else if (p->strict) {
        d->outbound = &out_drop;
    } else if (f->host && strncmp(f->host, "blocked", 7) == 0) {
        d->outbound = &out_drop;
        d->rule = 2;
    }
}

/* The fake policy names no inbound: the tests open listeners themselves. */
size_t policy_inbound_count(const struct policy *p)
{
    (void)p;
    return 0;
}

const struct policy_inbound *policy_inbound(const struct policy *p, size_t index)
{
    (void)p;
    (void)index;
    return NULL;
}

bool policy_decide_early(const struct policy *p, const struct policy_flow *f,
                         struct policy_decision *d)
{
    if (f->dst.port != 7 && f->dst.port != 9 && f->dst.port != 5353 && f->dst.port != 5354)
        return false;
    policy_decide(p, f, d);
    return true;
}

/* --- the fake classifier ------------------------------------------------------- */

struct sniff_datagram {
    int fed;
};

static int sniff_states;

struct sniff_datagram *sniff_datagram_new(unsigned protocols, size_t max_bytes)
{
    (void)protocols;
    (void)max_bytes;
    sniff_states++;
    return calloc(1, sizeof(struct sniff_datagram));
}

enum parse_result sniff_datagram_feed(struct sniff_datagram *st, const uint8_t *data, size_t len,
                                      struct sniff_result *r)
{
    st->fed++;
    memset(r, 0, sizeof(*r));
    if (len >= 4 && memcmp(data, "MORE", 4) == 0)
        return PARSE_NEED_MORE;
    if (len > 5 && memcmp(data, "HOST:", 5) == 0 && len - 5 < SNIFF_HOST_MAX) {
        r->protocol = SNIFF_PROTO_DNS;
        memcpy(r->host, data + 5, len - 5);
        return PARSE_DONE;
    }
    r->protocol = SNIFF_PROTO_UNKNOWN;
    return PARSE_DONE;
}

void sniff_datagram_free(struct sniff_datagram *st)
{
    if (st)
        sniff_states--;
    free(st);
}

const char *sniff_protocol_name(enum sniff_protocol p)
{
    static const char *const names[] = {"none", "unknown", "tls", "http", "quic", "dns"};
    return names[p];
}

/* --- the network ------------------------------------------------------------------- */

#define LPORT 40100

static const char NETNS_SETUP[] =
    "ip link set lo up && ip addr add 127.0.0.3/32 dev lo && "
    "printf 'table inet t {\\n chain out {\\n type nat hook output priority -100;\\n"
    " meta mark != 0xff ip saddr 127.0.0.1 ip daddr 127.0.0.2 meta l4proto udp redirect to "
    ":40100\\n }\\n}\\n'"
    " | nft -f -";

static struct ev_loop *loop;
static struct engine core; /* sessions are its live objects */
static struct udp_engine *engine;
static struct policy pol_open, pol_strict, pol_moved;
static int echo7, echo53, echo5353;
static ev_io echo7_w, echo53_w, echo5353_w;

static void echo_cb(struct ev_loop *l, ev_io *w, int revents)
{
    (void)l;
    (void)revents;
    static uint8_t buf[UDP_RECV_BUF];
    struct sockaddr_storage from;
    for (;;) {
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(w->fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        sendto(w->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
}

static int bound(const char *text)
{
    struct flow_addr a;
    assert_true(flow_addr_parse(&a, text));
    int fd = udp_socket_listen(&a, false, SOCKOPT_SHARE_NONE, NULL);
    assert_true(fd >= 0);
    return fd;
}

static void settings(struct policy *p, bool strict)
{
    memset(p, 0, sizeof(*p));
    p->strict = strict;
    p->settings.log_level = LOG_LEVEL_WARN;
    p->settings.routing_mark = 0xff;
    p->settings.sniff_timeout_ms = 200;
    p->settings.sniff_max_wait_ms = 600;
    p->settings.connect_timeout_ms = 1000;
    p->settings.udp_idle_s = 60;
    p->settings.udp_dns_idle_s = 10;
    p->settings.udp_max_sessions = 64;
    p->settings.udp_queue_bytes = 16 << 20;
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || kernel_lacks())
        return 0;
    if (unshare(CLONE_NEWNET) < 0 || system(NETNS_SETUP) != 0)
        return -1;
    loop = ev_default_loop(0);
    echo7 = bound("127.0.0.2:7");
    echo53 = bound("127.0.0.2:53");
    ev_io_init(&echo7_w, echo_cb, echo7, EV_READ);
    ev_io_init(&echo53_w, echo_cb, echo53, EV_READ);
    ev_io_start(loop, &echo7_w);
    ev_io_start(loop, &echo53_w);
    echo5353 = bound("127.0.0.2:5353");
    ev_io_init(&echo5353_w, echo_cb, echo5353, EV_READ);
    ev_io_start(loop, &echo5353_w);
    return 0;
}

/* A fresh engine for each test, under `p`. */
/*
 * Each test starts with no connection tracked in the namespace: a direct
 * socket's ephemeral port can repeat an earlier test's client or upstream
 * port towards the same echo server, and the old entry's NAT (or its
 * absence) would then decide where the datagram goes, not this test's mark.
 */
static void conntrack_flush(void)
{
    struct nfct_handle *h = nfct_open(CONNTRACK, 0);
    if (!h)
        return;
    uint32_t family = AF_INET;
    nfct_query(h, NFCT_Q_FLUSH, &family);
    nfct_close(h);
}

static int engine_up(void **state)
{
    (void)state;
    if (geteuid() != 0 || kernel_lacks())
        return 0;
    conntrack_flush();
    settings(&pol_open, false);
    settings(&pol_strict, true);
    settings(&pol_moved, false);
    pol_moved.moved = true;
    pol_open.refs = 1;
    if (engine_init(&core, loop, policy_ref(&pol_open)) < 0)
        return -1;
    engine = udp_engine_new(&core);
    struct policy_inbound in = {
        .name = "nat", .type = INBOUND_UDP_REDIRECT, .networks = POLICY_UDP};
    struct flow_addr la;
    flow_addr_parse(&la, "127.0.0.1:40100");
    in.listen_len = flow_addr_to_sockaddr(&la, &in.listen);
    struct udp_listener *l;
    return udp_listener_open(engine, &in, &l) == 0 ? 0 : -1;
}

static int engine_down(void **state)
{
    (void)state;
    if (geteuid() != 0 || kernel_lacks())
        return 0;
    udp_engine_free(engine);
    engine = NULL;
    engine_fini(&core); /* frees the closed sessions and drops its policy reference */
    return sniff_states == 0 && pol_open.refs == 1 && pol_strict.refs <= 1 && pol_moved.refs <= 1
               ? 0
               : -1;
}

/* Runs the loop for about `ms` milliseconds. */
static void pump(int ms)
{
    for (int i = 0; i < ms / 5; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        usleep(5000);
    }
    ev_run(loop, EVRUN_NOWAIT);
}

/* Sends `len` bytes to `to`, pumps until `fd` has a reply (or `ms` passes). */
static ssize_t exchange(int fd, const char *to, const void *buf, size_t len, uint8_t *reply,
                        size_t cap, struct flow_addr *from, int ms)
{
    struct flow_addr t, dst;
    assert_true(flow_addr_parse(&t, to));
    assert_int_equal(udp_socket_sendto(fd, &t, buf, len), 0);
    for (int i = 0; i < ms / 5; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = udp_socket_recv(fd, reply, cap, from, &dst);
        if (n != -EAGAIN)
            return n;
        usleep(5000);
    }
    return -ETIMEDOUT;
}

/* Sends the text `msg` from `fd` to `to` and pumps until a reply comes back
 * (its length is returned) or `ms` pass (-ETIMEDOUT). */
static ssize_t ask(int fd, const char *to, const char *msg, int ms)
{
    uint8_t in[512];
    struct flow_addr from;
    return exchange(fd, to, msg, strlen(msg), in, sizeof(in), &from, ms);
}

/* As ask(), and no reply comes within `ms`. */
static void unanswered(int fd, const char *to, const char *msg, int ms)
{
    assert_int_equal(ask(fd, to, msg, ms), -ETIMEDOUT);
}

/*
 * Checks the engine's counters that `format` (printf-style) names, as
 * "name=value" separated by spaces, each name a field of struct
 * udp_engine_stats: "sessions_created=1 datagrams_dropped=2".
 */
static void expect_stats(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void expect_stats(const char *format, ...)
{
    struct udp_engine_stats st;
    udp_engine_stats(engine, &st);
    const struct {
        const char *name;
        uint64_t value;
    } have[] = {
        {"sessions_created", st.sessions_created},
        {"sessions_evicted", st.sessions_evicted},
        {"sessions_expired", st.sessions_expired},
        {"sessions_redecided", st.sessions_redecided},
        {"sessions_failed", st.sessions_failed},
        {"datagrams_in", st.datagrams_in},
        {"datagrams_out", st.datagrams_out},
        {"datagrams_dropped", st.datagrams_dropped},
        {"queue_full", st.queue_full},
        {"sessions_no_fds", st.sessions_no_fds},
        {"hellos_unfinished", st.hellos_unfinished},
        {"no_destination", st.no_destination},
        {"refused", st.refused},
        {"sessions_open", st.sessions_open},
    };
    char want[256], name[32];
    va_list ap;
    va_start(ap, format);
    vsnprintf(want, sizeof(want), format, ap);
    va_end(ap);
    unsigned long long value;
    int used;
    const char *p = want;
    for (; sscanf(p, " %31[a-z_]=%llu%n", name, &value, &used) == 2; p += used) {
        size_t i = 0;
        while (i < sizeof(have) / sizeof(have[0]) && strcmp(have[i].name, name) != 0)
            i++;
        if (i == sizeof(have) / sizeof(have[0]))
            fail_msg("no counter %s", name);
        if (have[i].value != value)
            fail_msg("%s is %llu, expected %llu", name, (unsigned long long)have[i].value, value);
    }
    if (p[strspn(p, " ")])
        fail_msg("cannot read \"%s\" in \"%s\"", p, want);
}

/* The engine's calls to give freed memory back (this definition takes the C library's place). */
static int trims;

int malloc_trim(size_t pad)
{
    (void)pad;
    trims++;
    return 1;
}

/* --- tests --------------------------------------------------------------------------- */

static void test_clients_get_their_own_replies_byte_exact(void)
{
    enum { CLIENTS = 6, ROUNDS = 4 };
    int fds[CLIENTS];
    static uint8_t out[UDP_DATAGRAM_MAX], in[UDP_RECV_BUF];
    unsigned seed = 7;
    for (int c = 0; c < CLIENTS; c++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 41000 + c);
        fds[c] = bound(addr);
    }
    for (int r = 0; r < ROUNDS; r++) {
        for (int c = 0; c < CLIENTS; c++) {
            /* Sizes from 0 to the largest UDP payload. */
            size_t len = r == 0               ? 0
                         : (c == 0 && r == 1) ? UDP_DATAGRAM_MAX
                                              : (size_t)(rand_r(&seed) % 3000);
            for (size_t i = 0; i < len; i++)
                out[i] = (uint8_t)rand_r(&seed);
            out[0 % (len ? len : 1)] = len ? (uint8_t)c : 0;
            struct flow_addr from;
            ssize_t n = exchange(fds[c], "127.0.0.2:7", out, len, in, sizeof(in), &from, 2000);
            assert_int_equal(n, (ssize_t)len);
            assert_memory_equal(in, out, len);
            char text[FLOW_ADDR_TEXT_MAX];
            /* conntrack un-NATed the reply: it comes from the original destination. */
            assert_string_equal(flow_addr_format(&from, text), "127.0.0.2:7");
        }
    }
    expect_stats(
        "sessions_created=%d sessions_open=%d datagrams_in=%d datagrams_out=%d datagrams_dropped=0",
        CLIENTS, CLIENTS, CLIENTS * ROUNDS, CLIENTS * ROUNDS);
    for (int c = 0; c < CLIENTS; c++)
        close(fds[c]);
}

static void test_decided_by_sniffed_name(void)
{
    int a = bound("127.0.0.1:41100"), b = bound("127.0.0.1:41101");
    ssize_t n = ask(a, "127.0.0.2:53", "HOST:www.example", 2000);
    assert_int_equal(n, 16);
    unanswered(b, "127.0.0.2:53", "HOST:blocked.example", 500);
    unanswered(b, "127.0.0.2:53", "again", 300);
    expect_stats("sessions_created=2 datagrams_dropped=2"); /* both of b's, by the drop outbound */
    /* Decided, a session keeps the protocol and a copy of the name, not the
     * classifier's state and buffer. */
    struct udp_session *s = udp_session_table_oldest(&engine->sessions);
    assert_non_null(s);
    assert_null(s->sniff);
    assert_null(s->sniffing);
    assert_int_equal(udp_session_protocol(s), SNIFF_PROTO_DNS);
    assert_string_equal(udp_session_host(s), "www.example");
    close(a);
    close(b);
}

static void test_queue_while_classifying_keeps_order(void)
{
    int a = bound("127.0.0.1:41200");
    struct flow_addr t, from, dst;
    assert_true(flow_addr_parse(&t, "127.0.0.2:53"));
    const char *msgs[] = {"MORE-1", "MORE-2", "MORE-3", "HOST:www.example"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(udp_socket_sendto(a, &t, msgs[i], strlen(msgs[i])), 0);
        pump(20); /* each read separately, before the decision */
    }
    pump(100);
    for (int i = 0; i < 4; i++) {
        uint8_t in[64];
        ssize_t n = udp_socket_recv(a, in, sizeof(in), &from, &dst);
        assert_int_equal(n, (ssize_t)strlen(msgs[i]));
        assert_memory_equal(in, msgs[i], (size_t)n);
    }
    close(a);
}

/* Nothing comes back on `fd` within `ms`. */
static void heard_nothing(int fd, int ms)
{
    uint8_t in[64];
    struct flow_addr from, dst;
    pump(ms);
    assert_int_equal(udp_socket_recv(fd, in, sizeof(in), &from, &dst), -EAGAIN);
}

static void test_a_message_begun_is_waited_for_past_the_timeout(void)
{
    /* Room for a loaded machine: the checks below pump 500 ms before the last part comes. */
    pol_open.settings.sniff_max_wait_ms = 3000;
    int a = bound("127.0.0.1:41300"), b = bound("127.0.0.1:41301");
    struct flow_addr t;
    assert_true(flow_addr_parse(&t, "127.0.0.2:53"));
    /* Both begin; the rest comes past sniff.timeout_ms (200), within max_wait_ms. */
    assert_int_equal(udp_socket_sendto(a, &t, "MORE", 4), 0);
    assert_int_equal(udp_socket_sendto(b, &t, "MORE", 4), 0);
    heard_nothing(a, 300);
    heard_nothing(b, 0);
    expect_stats("sessions_open=2");
    /* A blocked name is dropped, the first part with it: nothing reached the origin. */
    unanswered(b, "127.0.0.2:53", "HOST:blocked.example", 200);
    /* Another name goes on, the first part first. */
    assert_int_equal(ask(a, "127.0.0.2:53", "HOST:www.example", 500), 4);
    expect_stats("datagrams_out=2 datagrams_dropped=2");
    close(a);
    close(b);
}

static void test_a_message_never_finished_ends_the_session(void)
{
    int a = bound("127.0.0.1:41310");
    unanswered(a, "127.0.0.2:53", "MORE", 400);
    expect_stats("hellos_unfinished=0"); /* past the timeout, still waiting */
    heard_nothing(a, 400);               /* sniff.max_wait_ms (600) passes */
    expect_stats("hellos_unfinished=1 sessions_open=0 datagrams_out=0 datagrams_dropped=1");
    close(a);
}

static void test_a_message_begun_then_given_up_on_ends_the_session(void)
{
    int a = bound("127.0.0.1:41320");
    unanswered(a, "127.0.0.2:53", "MORE", 50);
    /* The classifier gives up without a name (too many datagrams, conflicting data). */
    unanswered(a, "127.0.0.2:53", "other", 100);
    expect_stats("hellos_unfinished=1 datagrams_out=0");
    close(a);
}

static void test_a_first_datagram_of_no_known_protocol_goes_on_at_once(void)
{
    int a = bound("127.0.0.1:41330");
    assert_int_equal(ask(a, "127.0.0.2:53", "hello", 100), 5);
    expect_stats("hellos_unfinished=0");
    close(a);
}

static void test_queued_bytes_are_bounded_over_all_sessions(void)
{
    pol_open.settings.udp_queue_bytes = 2500;
    int c[3];
    char name[32], big[1000];
    memset(big, 'x', sizeof(big));
    memcpy(big, "MORE", 4); /* the classifier wants more: every datagram waits */
    struct flow_addr t;
    assert_true(flow_addr_parse(&t, "127.0.0.2:53"));
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name), "127.0.0.1:%d", 41500 + i);
        c[i] = bound(name);
        for (int k = 0; k < 2; k++)
            assert_int_equal(udp_socket_sendto(c[i], &t, big, sizeof(big)), 0);
        pump(10);
    }
    /* Two fit under 2,500 bytes; each session alone had room for all of its own. */
    assert_int_equal(engine->queued_bytes, 2000);
    expect_stats("queue_full=4 datagrams_dropped=4");
    for (int i = 0; i < 3; i++) /* the names come: the queued ones go, and come back */
        assert_int_equal(udp_socket_sendto(c[i], &t, "HOST:www.example", 16), 0);
    pump(100);
    assert_int_equal(engine->queued_bytes, 0);
    int echoed = 0;
    for (int i = 0; i < 3; i++) {
        uint8_t in[1500];
        struct flow_addr from, dst;
        while (udp_socket_recv(c[i], in, sizeof(in), &from, &dst) == (ssize_t)sizeof(big))
            echoed++;
        close(c[i]);
    }
    assert_int_equal(echoed, 2);
}

static void test_a_session_the_descriptor_budget_cannot_carry_is_not_started(void)
{
    int a = bound("127.0.0.1:41600");
    unsigned used = core.fds.used;
    fd_budget_set_limit(&core.fds, 2 * used); /* nothing left to charge */
    unanswered(a, "127.0.0.2:7", "ping", 100);
    expect_stats("sessions_no_fds=1 sessions_open=0");
    assert_int_equal(core.fds.used, used);
    fd_budget_set_limit(&core.fds, 4096);
    assert_int_equal(ask(a, "127.0.0.2:7", "ping", 500), 4);
    assert_int_equal(core.fds.used, used + 1); /* the direct outbound's socket */
    close(a);
}

static void test_oldest_idle_session_evicted(void)
{
    pol_open.settings.udp_max_sessions = 2;
    int fds[3];
    uint8_t in[16];
    struct flow_addr from;
    for (int c = 0; c < 3; c++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 41400 + c);
        fds[c] = bound(addr);
        assert_int_equal(exchange(fds[c], "127.0.0.2:7", "x", 1, in, sizeof(in), &from, 1000), 1);
        if (c == 1) /* the first client is active again: the second is now the oldest */
            assert_int_equal(ask(fds[0], "127.0.0.2:7", "y", 1000), 1);
    }
    expect_stats("sessions_evicted=1 sessions_open=2");
    /* The first client's session survived; the second's is new again. */
    assert_int_equal(ask(fds[0], "127.0.0.2:7", "z", 1000), 1);
    expect_stats("sessions_created=3");
    assert_int_equal(ask(fds[1], "127.0.0.2:7", "z", 1000), 1);
    expect_stats("sessions_created=4");
    for (int c = 0; c < 3; c++)
        close(fds[c]);
}

/*
 * limits.udp_sessions holds for the process: this engine, as one of two workers, keeps its
 * sessions until every worker's together reach the limit (a share of it evicted early when
 * the kernel gave one worker most clients), and evicts as soon as the other worker's count in.
 */
static void test_session_limit_is_the_processs(void)
{
    pol_open.settings.udp_max_sessions = 2;
    core.count = 2;
    int a = bound("127.0.0.1:41450"), b = bound("127.0.0.1:41451"), c = bound("127.0.0.1:41452");
    assert_int_equal(ask(a, "127.0.0.2:7", "x", 1000), 1);
    assert_int_equal(ask(b, "127.0.0.2:7", "x", 1000), 1);
    expect_stats("sessions_evicted=0 sessions_open=2");

    core.udp_sessions_all++; /* the other worker has opened one, with none of its own to evict */
    assert_int_equal(ask(c, "127.0.0.2:7", "x", 1000), 1);
    expect_stats("sessions_evicted=1 sessions_open=2"); /* this worker's oldest made room */
    assert_int_equal(core.udp_sessions_all, 3);
    core.udp_sessions_all--;
    core.count = 1;
    close(a);
    close(b);
    close(c);
}

static void test_idle_session_expires(void)
{
    pol_open.settings.udp_idle_s = 1;
    int a = bound("127.0.0.1:41500");
    assert_int_equal(ask(a, "127.0.0.2:7", "x", 1000), 1);
    pump(600);
    expect_stats("sessions_expired=0");
    pump(700);
    expect_stats("sessions_expired=1 sessions_open=0");
    close(a);
}

/* A client from `client` with a session to 127.0.0.2:7 when `p` replaces
 * the policy: the session is decided again, and its next datagram, in a new
 * session, comes back no more. The client is returned. */
static int redecided_under(struct policy *p, const char *client)
{
    int a = bound(client);
    assert_int_equal(ask(a, "127.0.0.2:7", "x", 1000), 1);
    p->refs = 1;
    udp_engine_set_policy(engine, p);
    expect_stats("sessions_redecided=1");
    unanswered(a, "127.0.0.2:7", "x", 300);
    expect_stats("sessions_created=2");
    return a;
}

static void test_reload_is_not_bypassed_by_a_reused_tuple(void)
{
    /* Port 7 becomes drop; the same client port keeps sending (same conntrack entry). */
    int a = redecided_under(&pol_strict, "127.0.0.1:41600");
    expect_stats("datagrams_dropped=1");
    /* And back: the rule change applies the other way too. */
    udp_engine_set_policy(engine, &pol_open);
    assert_int_equal(ask(a, "127.0.0.2:7", "x", 1000), 1);
    close(a);
}

static void test_reload_applies_an_outbound_redefined_under_its_name(void)
{
    /* Still called "direct", now defined otherwise: the session must not go on as before. */
    close(redecided_under(&pol_moved, "127.0.0.1:41610"));
}

static void test_session_sniffing_at_reload_is_decided_under_the_new_policy(void)
{
    pol_open.settings.sniff_timeout_ms = 3000; /* room to reload while it classifies */
    int a = bound("127.0.0.1:41620");
    unanswered(a, "127.0.0.2:53", "MORE", 100);
    pol_strict.refs = 1;
    udp_engine_set_policy(engine, &pol_strict);
    expect_stats("sessions_redecided=0");
    /* The name completes the classification: the strict policy drops it. */
    unanswered(a, "127.0.0.2:53", "HOST:www.example", 300);
    expect_stats("sessions_created=1 datagrams_out=0 datagrams_dropped=2");
    close(a);
}

static void test_socks5_without_udp_drops(void)
{
    int a = bound("127.0.0.1:41700");
    echo_cb(loop, &echo7_w, 0);
    unanswered(a, "127.0.0.2:9", "x", 300);
    expect_stats("datagrams_dropped=1");
    close(a);
}

static void test_not_redirected_is_refused(void)
{
    int a = bound("127.0.0.1:41800");
    /* Straight to the listener: no NAT, so no original destination to relay to. */
    unanswered(a, "127.0.0.1:40100", "x", 300);
    expect_stats("refused=1 no_destination=0 sessions_created=0");
    close(a);
}

static void test_own_upstream_datagram_is_never_a_session(void)
{
    /* Without the routing mark the namespace's rule redirects the direct
     * socket's datagram back to the listener, as a firewall that lost the
     * mark would: it must be refused, not become a session of its own (which
     * would send it on, and back again, without end). */
    pol_open.settings.routing_mark = 0;
    int a = bound("127.0.0.1:42000");
    unanswered(a, "127.0.0.2:7", "x", 300);
    pump(200);
    expect_stats("sessions_created=1 refused=1 sessions_evicted=0");
    close(a);
}

/* Starts dante-server on 127.0.0.3:1080 (relaying from 127.0.0.3); its pid, or 0. */
static pid_t start_danted(void)
{
    FILE *f = fopen("/tmp/switchyard-test-danted.conf", "w");
    if (!f)
        return 0;
    fputs("logoutput: /tmp/switchyard-test-danted.log\ninternal: 127.0.0.3 port = 1080\nexternal: "
          "127.0.0.3\n"
          "clientmethod: none\nsocksmethod: none\nuser.privileged: root\n"
          "user.unprivileged: nobody\nclient pass {\n from: 0.0.0.0/0 to: 0.0.0.0/0\n}\n"
          "socks pass {\n from: 0.0.0.0/0 to: 0.0.0.0/0\n"
          " command: connect udpassociate udpreply\n}\n",
          f);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0); /* its helpers too can be stopped as one group */
        execlp("danted", "danted", "-f", "/tmp/switchyard-test-danted.conf", "-N", "1",
               (char *)NULL);
        _exit(127);
    }
    struct flow_addr a;
    flow_addr_parse(&a, "127.0.0.3:1080");
    struct sockaddr_storage ss;
    socklen_t len = flow_addr_to_sockaddr(&a, &ss);
    for (int i = 0; i < 50; i++) { /* up to 5 s */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int r = connect(fd, (struct sockaddr *)&ss, len);
        close(fd);
        if (r == 0)
            return pid;
        usleep(100000);
    }
    kill(-pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

static void test_socks5_udp_associate_with_dante(void)
{
    if (system("command -v danted >/dev/null") != 0)
        skip();
    pid_t dante = start_danted();
    assert_true(dante > 0);
    struct flow_addr srv;
    flow_addr_parse(&srv, "127.0.0.3:1080");
    out_socks_udp.server_len = flow_addr_to_sockaddr(&srv, &out_socks_udp.server);

    int a = bound("127.0.0.1:41900");
    static uint8_t out[4000], in[UDP_RECV_BUF];
    for (size_t i = 0; i < sizeof(out); i++)
        out[i] = (uint8_t)(i * 13);
    struct flow_addr from;
    /* The first datagrams wait in the queue while the association is set up. */
    struct flow_addr t;
    flow_addr_parse(&t, "127.0.0.2:5353");
    assert_int_equal(udp_socket_sendto(a, &t, "first", 5), 0);
    ssize_t n = exchange(a, "127.0.0.2:5353", out, sizeof(out), in, sizeof(in), &from, 3000);
    assert_int_equal(n, 5);
    assert_memory_equal(in, "first", 5);
    pump(200);
    struct flow_addr dst;
    n = udp_socket_recv(a, in, sizeof(in), &from, &dst);
    assert_int_equal(n, (ssize_t)sizeof(out));
    assert_memory_equal(in, out, sizeof(out));
    char text[FLOW_ADDR_TEXT_MAX];
    assert_string_equal(flow_addr_format(&from, text), "127.0.0.2:5353");
    expect_stats("sessions_open=1");

    /* The server ends the association: the session ends with it. */
    kill(-dante, SIGTERM);
    waitpid(dante, NULL, 0);
    pump(300);
    expect_stats("sessions_failed=1 sessions_open=0");
    close(a);
}

/* Reads exactly `len` bytes from `fd` while the loop runs (up to 2 s); how many came. */
static size_t read_pumping(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    for (int i = 0; i < 400 && got < len; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        ssize_t n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0)
            break;
        else
            usleep(5000);
    }
    return got;
}

/*
 * UDP ASSOCIATE names the address the datagrams will come from, which is in
 * the family of the SOCKS5 server's address, not of the destination's: an
 * IPv6 destination through an IPv4 server asks with 0.0.0.0:0 (dante
 * refuses an IPv6 one when it has no IPv6 address of its own).
 */
static void test_socks5_udp_associate_names_the_server_family(void)
{
    struct flow_addr srv;
    flow_addr_parse(&srv, "127.0.0.3:1081");
    out_socks_udp4.server_len = flow_addr_to_sockaddr(&srv, &out_socks_udp4.server);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    assert_int_equal(bind(ls, (struct sockaddr *)&out_socks_udp4.server, out_socks_udp4.server_len),
                     0);
    assert_int_equal(listen(ls, 4), 0);

    /* A datagram that a tun inbound read: IPv6 from the client to the destination. */
    struct policy_inbound in = {.name = "tp6", .type = INBOUND_TPROXY, .networks = POLICY_UDP};
    struct flow_addr la, client, dst;
    flow_addr_parse(&la, "[::1]:40300");
    in.listen_len = flow_addr_to_sockaddr(&la, &in.listen);
    struct udp_listener *l;
    assert_int_equal(udp_listener_open(engine, &in, &l), 0);
    flow_addr_parse(&client, "[2001:db8::2]:5000");
    flow_addr_parse(&dst, "[2001:db8::53]:5354");
    struct udp_key key;
    memset(&key, 0, sizeof(key));
    flow_addr_key(&key.client, &client);
    flow_addr_key(&key.arrived, &dst);
    udp_listener_datagram(l, &key, (const uint8_t *)"query", 5);

    int c = -1;
    for (int i = 0; i < 200 && c < 0; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
        if (c < 0)
            usleep(5000);
    }
    assert_true(c >= 0);
    uint8_t buf[32];
    assert_int_equal(read_pumping(c, buf, 3), 3); /* 05 01 00: no authentication */
    assert_int_equal(send(c, "\x05\x00", 2, 0), 2);
    /* 05 03 00, then the address: type 1 (IPv4), four bytes and a port. */
    assert_int_equal(read_pumping(c, buf, 10), 10);
    assert_memory_equal(buf, "\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00", 10);
    close(c);
    close(ls);
    pump(100);
    expect_stats("sessions_open=0");
}

/* --- TPROXY, with the client and the origin in namespaces of their own ------------ */

static char ns_client[64], ns_origin[64];

/* Makes a UDP socket bound to `addr` inside the named namespace `ns`. */
static int bound_in(const char *ns, const char *addr)
{
    char path[128];
    snprintf(path, sizeof(path), "/run/netns/%s", ns);
    int home = open("/proc/self/ns/net", O_RDONLY);
    int there = open(path, O_RDONLY);
    assert_true(home >= 0 && there >= 0);
    assert_int_equal(setns(there, CLONE_NEWNET), 0);
    int fd = bound(addr);
    assert_int_equal(setns(home, CLONE_NEWNET), 0);
    close(home);
    close(there);
    return fd;
}

static void test_tproxy_replies_come_from_the_original_destination(void)
{
    snprintf(ns_client, sizeof(ns_client), "sy-utc-%d", (int)getpid());
    snprintf(ns_origin, sizeof(ns_origin), "sy-uto-%d", (int)getpid());
    char cmd[2048];
    snprintf(
        cmd, sizeof(cmd),
        "ip netns add %1$s && ip netns add %2$s && "
        "ip link add vr0 type veth peer name vc0 netns %1$s && "
        "ip link add vr1 type veth peer name vo0 netns %2$s && "
        "ip addr add 192.0.2.1/24 dev vr0 && ip addr add 198.51.100.1/24 dev vr1 && "
        "ip link set vr0 up && ip link set vr1 up && "
        "ip -n %1$s addr add 192.0.2.2/24 dev vc0 && ip -n %1$s link set vc0 up && "
        "ip -n %1$s link set lo up && ip -n %1$s route add default via 192.0.2.1 && "
        "ip -n %2$s addr add 198.51.100.7/24 dev vo0 && ip -n %2$s link set vo0 up && "
        "ip -n %2$s link set lo up && ip -n %2$s route add default via 198.51.100.1 && "
        "sysctl -qw net.ipv4.ip_forward=1 && "
        "ip rule add fwmark 0x1 lookup 100 && ip route add local 0.0.0.0/0 dev lo table 100 && "
        "printf 'table ip tp {\n chain pre {\n type filter hook prerouting priority mangle;\n"
        " iifname \"vr0\" meta l4proto udp meta mark set 0x1 tproxy to :40200 accept\n"
        " }\n}\n' | nft -f -",
        ns_client, ns_origin);
    int rc = system(cmd);
    assert_int_equal(rc, 0);

    struct policy_inbound in = {.name = "tp", .type = INBOUND_TPROXY, .networks = POLICY_UDP};
    struct flow_addr la;
    flow_addr_parse(&la, "0.0.0.0:40200");
    in.listen_len = flow_addr_to_sockaddr(&la, &in.listen);
    struct udp_listener *l;
    assert_int_equal(udp_listener_open(engine, &in, &l), 0);

    int origin = bound_in(ns_origin, "198.51.100.7:7");
    ev_io origin_w;
    ev_io_init(&origin_w, echo_cb, origin, EV_READ);
    ev_io_start(loop, &origin_w);
    int c1 = bound_in(ns_client, "192.0.2.2:43000");
    int c2 = bound_in(ns_client, "192.0.2.2:43001");

    uint8_t in_buf[UDP_RECV_BUF];
    struct flow_addr from;
    char text[FLOW_ADDR_TEXT_MAX];
    for (int round = 0; round < 3; round++) {
        int fd = round == 1 ? c2 : c1;
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "tproxy-%d", round);
        ssize_t n =
            exchange(fd, "198.51.100.7:7", msg, (size_t)len, in_buf, sizeof(in_buf), &from, 2000);
        assert_int_equal(n, len);
        assert_memory_equal(in_buf, msg, (size_t)len);
        assert_string_equal(flow_addr_format(&from, text), "198.51.100.7:7");
    }
    expect_stats("sessions_created=2 datagrams_out=3");

    ev_io_stop(loop, &origin_w);
    close(origin);
    close(c1);
    close(c2);
    snprintf(cmd, sizeof(cmd), "ip netns del %s; ip netns del %s; nft delete table ip tp",
             ns_client, ns_origin);
    rc = system(cmd);
    (void)rc;
}

/* Removes the named namespaces even when a test stopped half way. */
static int group_teardown(void **state)
{
    (void)state;
    char cmd[256];
    if (ns_client[0]) {
        snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null; ip netns del %s 2>/dev/null",
                 ns_client, ns_origin);
        int rc = system(cmd);
        (void)rc;
    }
    return 0;
}

/* Once a burst of sessions has ended, the next housekeeping tick gives the
 * memory they held back to the kernel, once. */
static void test_memory_of_a_burst_is_given_back(void)
{
    pol_open.settings.udp_max_sessions = 1000;
    trims = 0;
    for (int c = 0; c < 300; c++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 20000 + c); /* under the ephemeral ports */
        int fd = bound(addr);
        assert_int_equal(ask(fd, "127.0.0.2:7", "x", 1000), 1);
        close(fd);
    }
    expect_stats("sessions_open=300");
    udp_engine_set_policy(engine, &pol_strict); /* ends every one of them */
    pump(50);
    expect_stats("sessions_open=0");
    assert_int_equal(trims, 0); /* not before the tick */
    for (int i = 0; i < 200 && trims == 0; i++)
        pump(50);
    assert_int_equal(trims, 1);
    pump(100);
    assert_int_equal(trims, 1);
}

ROOT_TEST_MAIN(setup, group_teardown, engine_up, engine_down,
               ROOT_TEST(test_clients_get_their_own_replies_byte_exact),
               ROOT_TEST(test_decided_by_sniffed_name),
               ROOT_TEST(test_queue_while_classifying_keeps_order),
               ROOT_TEST(test_a_message_begun_is_waited_for_past_the_timeout),
               ROOT_TEST(test_a_message_never_finished_ends_the_session),
               ROOT_TEST(test_a_message_begun_then_given_up_on_ends_the_session),
               ROOT_TEST(test_a_first_datagram_of_no_known_protocol_goes_on_at_once),
               ROOT_TEST(test_queued_bytes_are_bounded_over_all_sessions),
               ROOT_TEST(test_a_session_the_descriptor_budget_cannot_carry_is_not_started),
               ROOT_TEST(test_oldest_idle_session_evicted),
               ROOT_TEST(test_session_limit_is_the_processs), ROOT_TEST(test_idle_session_expires),
               ROOT_TEST(test_memory_of_a_burst_is_given_back),
               ROOT_TEST(test_reload_is_not_bypassed_by_a_reused_tuple),
               ROOT_TEST(test_reload_applies_an_outbound_redefined_under_its_name),
               ROOT_TEST(test_session_sniffing_at_reload_is_decided_under_the_new_policy),
               ROOT_TEST(test_socks5_without_udp_drops), ROOT_TEST(test_not_redirected_is_refused),
               ROOT_TEST(test_own_upstream_datagram_is_never_a_session),
               ROOT_TEST(test_socks5_udp_associate_with_dante),
               ROOT_TEST(test_socks5_udp_associate_names_the_server_family),
               ROOT_TEST(test_tproxy_replies_come_from_the_original_destination))
