/*
 * test_policy_load.c — what a policy that loads holds: settings and their
 * defaults, inbounds (networks, SOCKS5 credentials, IPv6 listen addresses),
 * outbounds, set sizes, the summary `switchyard check` prints, loading from
 * memory with paths relative to the named file, and YAML aliases that are
 * fine to use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>

#include <cmocka.h>

#include "rules/mark.h"
#include "tests/unit/policy_fixture.h"
#include "tests/unit/unit_test.h"

/*
 * Checks each setting of `p` that is a number, a flag or a choice: the value a policy that
 * leaves it out gets, or (`as_set`) the one every_setting's policy gives it.
 */
static void expect_settings(const struct policy *p, bool as_set)
{
    const struct policy_settings *s = policy_settings(p);
    const struct {
        const char *name;
        unsigned long long value, by_default, set;
    } settings[] = {
        {"log.level", s->log_level, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG},
        {"log.flows", s->log_flows, true, false},
        {"log.format", s->log_format, LOG_FORMAT_TEXT, LOG_FORMAT_JSON},
        {"log.target", s->log_target, LOG_TARGET_STDERR, LOG_TARGET_SYSLOG},
        {"routing_mark", s->routing_mark, 0xff, 0x1234},
        {"sniff.timeout_ms", s->sniff_timeout_ms, 250, 100},
        {"sniff.protocols", s->sniff_protocols, SNIFF_PROTO_ALL,
         SNIFF_PROTO_BIT(SNIFF_PROTO_TLS) | SNIFF_PROTO_BIT(SNIFF_PROTO_QUIC)},
        {"sniff.max_bytes", s->sniff_max_bytes, 65536, 4096},
        {"sniff.remember_silent_s", s->sniff_remember_silent_s, 600, 0},
        {"sniff.max_wait_ms", s->sniff_max_wait_ms, 10000, 2500},
        {"timeouts.connect_ms", s->connect_timeout_ms, 10000, 3000},
        {"timeouts.tcp_idle_s", s->tcp_idle_s, 600, 120},
        {"timeouts.udp_idle_s", s->udp_idle_s, 60, 30},
        {"timeouts.udp_dns_idle_s", s->udp_dns_idle_s, 10, 5},
        {"limits.max_flows", s->max_flows, 0, 5000},
        {"limits.udp_sessions", s->udp_max_sessions, 4096, 100},
        {"limits.max_handshakes", s->max_handshakes, 0, 40},
        {"limits.udp_queue_bytes", s->udp_queue_bytes, 16 << 20, 1048576},
        {"fast_path", s->fast_path, POLICY_FAST_PATH_STATIC, POLICY_FAST_PATH_OFF},
        {"workers", s->workers, 0, 3}, /* by default as many as the usable cores */
    };
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        unsigned long long want = as_set ? settings[i].set : settings[i].by_default;
        if (settings[i].value != want)
            fail_msg("%s is %llu, expected %llu", settings[i].name, settings[i].value, want);
    }
}

static void defaults_of_an_empty_policy(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok("{}\n");
    expect_settings(p, false);
    static const uint16_t server_first[] = {21, 22, 23, 25, 110, 143, 587, 3306, 5900};
    for (size_t i = 0; i < sizeof(server_first) / sizeof(server_first[0]); i++)
        assert_true(policy_sniff_skips_port(p, server_first[i]));
    assert_false(policy_sniff_skips_port(p, 80));
    assert_false(policy_sniff_skips_port(p, 443));
    assert_false(policy_sniff_skips_port(p, 465)); /* SMTP over TLS: the client speaks first */
    assert_int_equal(policy_inbound_count(p), 0);
    assert_int_equal(policy_outbound_count(p), 2);
    assert_string_equal(policy_outbound(p, 0)->name, "direct");
    assert_string_equal(policy_outbound(p, 1)->name, "drop");
    assert_int_equal(policy_warning_count(p), 0);

    /* No rules and no default: everything goes direct. */
    struct policy_flow f = fixture_flow(POLICY_UDP, NULL, "[2001:db8::1]:53");
    struct policy_decision d;
    policy_decide(p, &f, &d);
    assert_string_equal(d.outbound->name, "direct");
    assert_int_equal(d.rule, 0);
    assert_true(policy_decide_early(p, &f, &d));
    policy_unref(p);
}

static void every_setting(void **state)
{
    (void)state;
    struct policy *p =
        fixture_policy_ok("log: {level: debug, flows: no, format: json, target: syslog}\n"
                          "routing_mark: 0x1234\n"
                          "sniff: {timeout_ms: 100, protocols: [tls, quic], max_bytes: 4096,"
                          " skip_ports: [2525, \"7000-7002\"], remember_silent_s: 0,"
                          " max_wait_ms: 2500}\n"
                          "timeouts: {connect_ms: 3000, tcp_idle_s: 120, udp_idle_s: 30,"
                          " udp_dns_idle_s: 5}\n"
                          "limits: {max_flows: 5000, udp_sessions: 100, max_handshakes: 40,"
                          " udp_queue_bytes: 1048576}\n"
                          "fast_path: off\n"
                          "workers: 3\n");
    expect_settings(p, true);
    assert_true(policy_sniff_skips_port(p, 2525));
    assert_true(policy_sniff_skips_port(p, 7000));
    assert_true(policy_sniff_skips_port(p, 7002));
    assert_false(policy_sniff_skips_port(p, 7003));
    assert_false(policy_sniff_skips_port(p, 25)); /* the list replaces the defaults */
    policy_unref(p);

    p = fixture_policy_ok("fast_path: dynamic\n");
    assert_int_equal(policy_settings(p)->fast_path, POLICY_FAST_PATH_DYNAMIC);
    policy_unref(p);

    /* An empty protocol list turns sniffing off; an empty port list skips none. */
    p = fixture_policy_ok("sniff: {protocols: [], skip_ports: []}\n");
    assert_int_equal(policy_settings(p)->sniff_protocols, 0);
    for (unsigned port = 0; port < 65536; port++)
        if (policy_sniff_skips_port(p, (uint16_t)port))
            fail_msg("port %u skipped", port);
    policy_unref(p);
}

/* user: and group: are looked up when the file loads; group defaults to the user's own. */
static void user_and_group(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok("inbounds: []\n");
    assert_null(policy_settings(p)->user);
    assert_null(policy_settings(p)->group);
    policy_unref(p);

    p = fixture_policy_ok("user: nobody\n");
    const struct policy_settings *s = policy_settings(p);
    assert_string_equal(s->user, "nobody");
    assert_null(s->group);
    assert_int_equal(s->uid, getpwnam("nobody")->pw_uid);
    assert_int_equal(s->gid, getpwnam("nobody")->pw_gid);
    policy_unref(p);

    p = fixture_policy_ok("user: nobody\ngroup: root\n");
    s = policy_settings(p);
    assert_string_equal(s->group, "root");
    assert_int_equal(s->uid, getpwnam("nobody")->pw_uid);
    assert_int_equal(s->gid, 0);
    policy_unref(p);
}

static void inbounds(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok(
        "inbounds:\n"
        "  - {name: redir, type: redirect, listen: \"127.0.0.1:12345\"}\n"
        "  - {name: tp, type: tproxy, listen: \"[::]:12346\", network: [tcp, udp]}\n"
        "  - {name: tpu, type: tproxy, listen: \"[::1]:12350\", network: udp}\n"
        "  - {name: tp-default, type: tproxy, listen: \"0.0.0.0:12351\"}\n"
        "  - {name: udpnat, type: udp-redirect, listen: \"0.0.0.0:12347\"}\n"
        "  - {name: http-in, type: http, listen: \"127.0.0.1:8080\"}\n"
        "  - {name: socks-in, type: socks5, listen: \"127.0.0.1:1081\","
        " username: alice, password: s3cret}\n"
        "  - {name: socks-open, type: socks5, listen: \"[2001:db8::2]:1082\"}\n");
    assert_int_equal(policy_inbound_count(p), 8);
    static const struct {
        const char *name;
        enum inbound_type type;
        unsigned networks;
        int line;
    } want[] = {
        {"redir", INBOUND_REDIRECT, POLICY_TCP, 2},
        {"tp", INBOUND_TPROXY, POLICY_TCP | POLICY_UDP, 3},
        {"tpu", INBOUND_TPROXY, POLICY_UDP, 4},
        {"tp-default", INBOUND_TPROXY, POLICY_TCP, 5},
        {"udpnat", INBOUND_UDP_REDIRECT, POLICY_UDP, 6},
        {"http-in", INBOUND_HTTP, POLICY_TCP, 7},
        {"socks-in", INBOUND_SOCKS5, POLICY_TCP, 8},
        {"socks-open", INBOUND_SOCKS5, POLICY_TCP, 9},
    };
    for (size_t i = 0; i < 8; i++) {
        const struct policy_inbound *in = policy_inbound(p, i);
        assert_string_equal(in->name, want[i].name);
        assert_int_equal(in->type, want[i].type);
        assert_int_equal(in->networks, want[i].networks);
        assert_int_equal(in->line, want[i].line);
    }
    assert_null(policy_inbound(p, 8));

    const struct policy_inbound *in = policy_inbound(p, 0);
    const struct sockaddr_in *v4 = (const struct sockaddr_in *)&in->listen;
    assert_int_equal(v4->sin_family, AF_INET);
    assert_int_equal(ntohs(v4->sin_port), 12345);
    assert_int_equal(ntohl(v4->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(in->listen_len, sizeof(struct sockaddr_in));

    in = policy_inbound(p, 2);
    const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)&in->listen;
    assert_int_equal(v6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(v6->sin6_port), 12350);
    assert_true(IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr));
    assert_int_equal(in->listen_len, sizeof(struct sockaddr_in6));

    in = policy_inbound(p, 6);
    assert_string_equal(in->username, "alice");
    assert_string_equal(in->password, "s3cret");
    in = policy_inbound(p, 7);
    assert_null(in->username);
    assert_null(in->password);
    policy_unref(p);
}

static void outbounds(void **state)
{
    (void)state;
    struct policy *p =
        fixture_policy_ok("outbounds:\n"
                          "  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\","
                          " username: u, password: p, udp: true, send_hostname: true}\n"
                          "  - {name: office, type: http, server: \"[2001:db8::10]:3128\"}\n"
                          "  - {name: nopass, type: socks5, server: \"192.0.2.5:1080\","
                          " username: solo}\n"
                          "  - {name: blackhole, type: drop}\n"
                          "  - {name: named, type: http, server: \"192.0.2.6:3128\","
                          " send_hostname: true}\n"
                          "rules:\n  - {dst_port: 1, action: blackhole}\n"
                          "default: proxy\n");
    assert_int_equal(policy_outbound_count(p), 7);
    const struct policy_outbound *o = policy_outbound_by_name(p, "proxy");
    assert_non_null(o);
    assert_int_equal(o->type, OUTBOUND_SOCKS5);
    assert_string_equal(o->username, "u");
    assert_string_equal(o->password, "p");
    assert_true(o->udp);
    assert_true(o->send_hostname);
    assert_int_equal(o->line, 2);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&o->server)->sin_port), 1080);

    o = policy_outbound_by_name(p, "office");
    assert_int_equal(o->type, OUTBOUND_HTTP);
    assert_false(o->udp);
    assert_false(o->send_hostname); /* the default, as for socks5 */
    assert_null(o->username);
    assert_int_equal(o->server.ss_family, AF_INET6);

    o = policy_outbound_by_name(p, "named");
    assert_int_equal(o->type, OUTBOUND_HTTP);
    assert_true(o->send_hostname);

    o = policy_outbound_by_name(p, "nopass");
    assert_string_equal(o->username, "solo");
    assert_string_equal(o->password, "");

    assert_int_equal(policy_outbound_by_name(p, "blackhole")->type, OUTBOUND_DROP);
    assert_int_equal(policy_outbound_by_name(p, "direct")->line, 0);
    assert_null(policy_outbound_by_name(p, "nothere"));

    struct policy_flow f = fixture_flow(POLICY_TCP, NULL, "192.0.2.9:1");
    struct policy_decision d;
    policy_decide(p, &f, &d);
    assert_string_equal(d.outbound->name, "blackhole");
    f.dst.port = 2;
    policy_decide(p, &f, &d);
    assert_string_equal(d.outbound->name, "proxy");
    assert_int_equal(d.rule, 0);
    policy_unref(p);
}

static void summary(void **state)
{
    (void)state;
    fixture_write("route.txt", "# routes\n1.0.1.0/24\n1.0.2.0/23\n\n2400:da00::/32\n");
    fixture_write("names.txt", "example.com\nfull:a.example.org\nkeyword:ads\n"
                               "regexp:^x[0-9]\\.\nexample.net:@cn\n");
    struct policy *p = fixture_policy_ok(
        "inbounds:\n"
        "  - {name: redir, type: redirect, listen: \"127.0.0.1:12345\"}\n"
        "  - {name: tp, type: tproxy, listen: \"[::]:12346\", network: [tcp, udp]}\n"
        "  - {name: px, type: socks5, listen: \"127.0.0.1:1081\", username: u, password: p}\n"
        "outbounds:\n"
        "  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\", udp: true}\n"
        "  - {name: office, type: http, server: \"192.0.2.10:3128\", username: u, password: p,"
        " send_hostname: true}\n"
        "sets:\n"
        "  route: {cidr_file: route.txt, cidr: [10.0.0.0/8]}\n"
        "  names: {domain_file: names.txt}\n"
        "rules:\n"
        "  - {dst_set: route, action: direct}\n"
        "  - {domain_set: names, action: drop}\n"
        "default: proxy\n");
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    policy_print_summary(p, out);
    fclose(out);
    char expected[2048];
    snprintf(expected, sizeof(expected),
             "%s/policy.yaml: ok\n"
             "inbounds: 3\n"
             "  redir: redirect on 127.0.0.1:12345 (tcp)\n"
             "  tp: tproxy on [::]:12346 (tcp+udp)\n"
             "  px: socks5 on 127.0.0.1:1081 (tcp), username\n"
             "outbounds: 4 (direct and drop built in)\n"
             "  proxy: socks5 via 127.0.0.1:1080, udp\n"
             "  office: http via 192.0.2.10:3128, username, send_hostname\n"
             "sets: 2\n"
             "  route: 4 cidr\n"
             "  names: 1 full, 2 suffix, 1 keyword, 1 regex\n"
             "rules: 2, default: proxy\n"
             "log: info, flows on, text to stderr; routing_mark: 0xff\n",
             fixture_dir);
    assert_string_equal(text, expected);
    free(text);
    policy_unref(p);
}

/* The policy `yaml_format` gives with the type name `type` in place of its %s. */
static struct policy *policy_naming_type(const char *yaml_format, const char *type)
{
    char yaml[256];
    snprintf(yaml, sizeof(yaml), yaml_format, type);
    return fixture_policy_ok(yaml);
}

/* routing_mark with a mask: the value and the bits the firewall tests it in; summarised so. */
static void routing_mark_with_a_mask(void **state)
{
    (void)state;
    struct policy *p = fixture_policy_ok("routing_mark: \"0x80/0x80\"\n");
    assert_int_equal(policy_settings(p)->routing_mark, 0x80);
    assert_int_equal(policy_settings(p)->routing_mark_mask, 0x80);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    policy_print_summary(p, out);
    fclose(out);
    assert_non_null(strstr(text, "; routing_mark: 0x80/0x80\n"));
    free(text);
    policy_unref(p);
    p = fixture_policy_ok("routing_mark: 0x80\n");
    assert_int_equal(policy_settings(p)->routing_mark_mask, MARK_WHOLE);
    policy_unref(p);
}

/* One table of type names: what the loader reads is what the names say. */
static void type_names_round_trip(void **state)
{
    (void)state;
    for (int t = INBOUND_REDIRECT; t <= INBOUND_SOCKS5; t++) {
        struct policy *p =
            policy_naming_type("inbounds:\n  - {name: i, type: %s, listen: \"127.0.0.1:1\"}\n",
                               policy_inbound_type_name((enum inbound_type)t));
        assert_int_equal(policy_inbound(p, 0)->type, t);
        policy_unref(p);
    }
    for (int t = OUTBOUND_SOCKS5; t <= OUTBOUND_HTTP; t++) {
        struct policy *p =
            policy_naming_type("outbounds:\n  - {name: o, type: %s, server: \"127.0.0.1:1\"}\n",
                               policy_outbound_type_name((enum outbound_type)t));
        assert_int_equal(policy_outbound_by_name(p, "o")->type, t);
        policy_unref(p);
    }
    assert_string_equal(policy_outbound_type_name(OUTBOUND_DIRECT), "direct");
    assert_string_equal(policy_outbound_type_name(OUTBOUND_DROP), "drop");
    assert_string_equal(policy_inbound_type_name((enum inbound_type)99), "?");
    assert_int_equal(policy_network_from_name("tcp"), POLICY_TCP);
    assert_int_equal(policy_network_from_name("udp"), POLICY_UDP);
    assert_int_equal(policy_network_from_name("sctp"), 0);
    assert_string_equal(policy_networks_name(POLICY_UDP), "udp");
}

/* policy_load_buffer: the text is given, the name anchors relative paths. */
static void loading_from_memory(void **state)
{
    (void)state;
    fixture_write("mem-list.txt", "full:mem.example\n");
    char name[256], error[POLICY_ERROR_MAX];
    snprintf(name, sizeof(name), "%s/not-written.yaml", fixture_dir);
    const char text[] = "sets:\n  m: {domain_file: mem-list.txt}\n"
                        "rules:\n  - {domain_set: m, action: drop}\n";
    struct policy *p = policy_load_buffer(name, text, sizeof(text) - 1, error);
    if (!p)
        fail_msg("%s", error);
    assert_string_equal(policy_path(p), name);
    struct policy_flow f = fixture_flow(POLICY_TCP, NULL, "192.0.2.1:443");
    f.host = "MEM.example.";
    struct policy_decision d;
    policy_decide(p, &f, &d);
    assert_string_equal(d.outbound->name, "drop");
    assert_int_equal(d.line, 4);
    policy_unref(p);

    /* Cut short: the YAML ends where `len` says, so the bad key is never read. */
    const char cut[] = "rules:\n  - {dst_port: 1, action: drop}\nrulez: x";
    p = policy_load_buffer(name, cut, sizeof(cut) - 1 - 8, error);
    if (!p)
        fail_msg("%s", error);
    policy_unref(p);
    assert_null(policy_load_buffer(name, cut, sizeof(cut) - 1, error));
    assert_non_null(strstr(error, "not-written.yaml:3:1: unknown key 'rulez'"));

    /* Binary garbage fails with a position, never crashes. */
    const char junk[] = {'\x00', '\xff', '{', '[', '\x01'};
    assert_null(policy_load_buffer(name, junk, sizeof(junk), error));
    assert_non_null(strstr(error, "not-written.yaml:"));
}

/* Aliases that are not loops: one list of ports shared by two rules. */
static void aliases_that_are_fine(void **state)
{
    (void)state;
    struct policy *p =
        fixture_policy_ok("rules:\n"
                          "  - {network: udp, dst_port: &games [27015, \"3478-3480\"],"
                          " action: drop}\n"
                          "  - {not: &nonweb {dst_port: [80, 443]}, src_port: *games,"
                          " action: drop}\n"
                          "  - {any: [*nonweb, {dst_port: 80}], action: direct}\n"
                          "default: drop\n");
    struct policy_flow f = fixture_flow(POLICY_UDP, "192.0.2.2:40000", "192.0.2.1:3479");
    struct policy_decision d;
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 1);
    f.network = POLICY_TCP;
    f.src.port = 3478;
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 2);
    f.src.port = 40000;
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 0);
    f.dst.port = 443;
    policy_decide(p, &f, &d);
    assert_int_equal(d.rule, 3);
    policy_unref(p);
}

UNIT_TEST_MAIN(NULL, fixture_teardown, cmocka_unit_test(defaults_of_an_empty_policy),
               cmocka_unit_test(every_setting), cmocka_unit_test(user_and_group),
               cmocka_unit_test(inbounds), cmocka_unit_test(outbounds), cmocka_unit_test(summary),
               cmocka_unit_test(type_names_round_trip), cmocka_unit_test(routing_mark_with_a_mask),
               cmocka_unit_test(loading_from_memory), cmocka_unit_test(aliases_that_are_fine))
