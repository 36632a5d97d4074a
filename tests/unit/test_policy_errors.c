/*
 * test_policy_errors.c — every mistake in a policy file is reported once,
 * as FILE:LINE:COL: message, pointing at the node at fault, and loading
 * fails cleanly (no crash, no partial policy). Each case below is a file a
 * user could write and the exact message they should read.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cmocka.h>

#include "tests/unit/policy_fixture.h"
#include "tests/unit/named_cases.h"

struct bad_policy {
    const char *yaml;
    const char *message; /* after "PATH:" */
};

static const struct bad_policy cases[] = {
    /* 1 unknown top-level key, with the close spelling */
    {"inbounds: []\nrulez: []\n", "2:1: unknown key 'rulez' in the policy (did you mean 'rules'?)"},
    {"fast_path: on\n", "1:12: unknown fast_path 'on' (static, off, dynamic)"},
    {"workers: 0\n", "1:10: workers must be at least 1"},
    /* 2 unknown condition, suggested */
    {"rules:\n  - {domian_suffix: cn, action: direct}\n",
     "2:6: unknown condition 'domian_suffix' (did you mean 'domain_suffix'?)"},
    /* 3 malformed CIDR */
    {"rules:\n  - {dst: 10.0.0.0/33, action: drop}\n",
     "2:11: dst '10.0.0.0/33': prefix length must be 0-32"},
    /* 4 not an address at all */
    {"rules:\n  - {src: [192.0.2.0/24, bogus], action: drop}\n",
     "2:26: src 'bogus': not an IP address or CIDR"},
    /* 5 port out of range */
    {"rules:\n  - {dst_port: 70000, action: drop}\n",
     "2:16: dst_port '70000' is not a port (0-65535) or a range \"LO-HI\""},
    /* 6 reversed range */
    {"rules:\n  - {dst_port: [80, \"9000-8000\"], action: drop}\n",
     "2:21: dst_port '9000-8000' is not a port (0-65535) or a range \"LO-HI\""},
    /* 7 bad regex: PCRE2's own message and offset */
    {"rules:\n  - {domain_regex: 'ads(', action: drop}\n",
     "2:20: bad regex 'ads(': missing closing parenthesis at offset 4"},
    /* 8 unknown outbound, suggested */
    {"outbounds:\n  - {name: proxy, type: socks5, server: \"127.0.0.1:1080\"}\nrules:\n"
     "  - {dst_port: 443, action: prxy}\n",
     "4:29: unknown outbound 'prxy' (did you mean 'proxy'?)"},
    /* 9 unknown set */
    {"rules:\n  - {dst_set: nowhere, action: direct}\n", "2:15: unknown set 'nowhere'"},
    /* 10 a domain set used as addresses */
    {"sets:\n  ads: {domain: [doubleclick.net]}\nrules:\n  - {dst_set: ads, action: drop}\n",
     "4:15: set 'ads' holds domains, dst_set needs addresses"},
    /* 11 duplicate outbound names */
    {"outbounds:\n  - {name: up, type: http, server: \"192.0.2.1:3128\"}\n"
     "  - {name: up, type: socks5, server: \"192.0.2.2:1080\"}\n",
     "3:12: outbound 'up' is defined twice (first at line 2)"},
    /* 12 duplicate inbound names */
    {"inbounds:\n  - {name: a, type: redirect, listen: \"127.0.0.1:1\"}\n"
     "  - {name: a, type: tproxy, listen: \"127.0.0.1:2\"}\n",
     "3:12: inbound 'a' is defined twice (first at line 2)"},
    /* 13 a built-in name redefined */
    {"outbounds:\n  - {name: direct, type: http, server: \"192.0.2.1:3128\"}\n",
     "2:12: 'direct' is built in and cannot be redefined"},
    /* 14 set file missing: the path is named */
    {"sets:\n  cn: {domain_file: lists/missing.txt}\n",
     "2:21: cannot read '%DIR%/lists/missing.txt': No such file or directory"},
    /* 15 geoip condition without a database */
    {"rules:\n  - {geoip: CN, action: direct}\n",
     "2:13: a geoip condition needs a GeoIP database: add geoip: {file: ...}"},
    /* 16 GeoIP file missing */
    {"geoip: {file: nothere.mmdb}\n",
     "1:15: %DIR%/nothere.mmdb: cannot open GeoIP database: No such file or directory"},
    /* 17 wrong type: a map where a list belongs */
    {"rules: {dst_port: 80}\n", "1:8: rules must be a list"},
    /* 18 a rule without action */
    {"rules:\n  - {dst_port: 80}\n",
     "2:5: a rule needs 'action' (direct, drop or an outbound name)"},
    /* 19 listen with a host name */
    {"inbounds:\n  - {name: r, type: redirect, listen: \"localhost:12345\"}\n",
     "2:39: listen 'localhost:12345': use an IP address, host names are not resolved here"},
    /* 20 listen without a port */
    {"inbounds:\n  - {name: r, type: redirect, listen: \"127.0.0.1\"}\n",
     "2:39: listen '127.0.0.1' is not ADDRESS:PORT (IPv6 as [2001:db8::1]:443)"},
    /* 21 unknown inbound type, suggested */
    {"inbounds:\n  - {name: t, type: tproxi, listen: \"127.0.0.1:1\"}\n",
     "2:21: unknown inbound type 'tproxi' (did you mean 'tproxy'?)"},
    /* 22 bad log level */
    {"log: {level: verbose}\n", "1:14: unknown log level 'verbose' (error, warn, info, debug)"},
    /* 22b bad log format and target, suggested */
    {"log: {format: jsn}\n", "1:15: unknown log format 'jsn' (did you mean 'json'?)"},
    {"log:\n  target: journal\n", "2:11: unknown log target 'journal' (stderr, syslog)"},
    /* 23 routing mark not a number */
    {"routing_mark: lots\n",
     "1:15: routing_mark must be VALUE or VALUE/MASK (whole numbers up to 0xffffffff, the value "
     "within the mask), not 'lots'"},
    /* 23a a routing mark's value outside its mask */
    {"routing_mark: 0x1ff/0xff\n",
     "1:15: routing_mark must be VALUE or VALUE/MASK (whole numbers up to 0xffffffff, the value "
     "within the mask), not '0x1ff/0xff'"},
    /* 23b routing mark taken by the fast path */
    {"routing_mark: 0x4000000\n", "1:15: routing_mark 0x4000000 carries a fast-path mark in its "
                                  "bits 0xe000000 (fast_path_mask); "
                                  "pick a mark with none, or all, of them set"},
    /* 23c ... or by a fast_path_mask given before it */
    {"fast_path_mask: 0x70\nrouting_mark: 0x20\n",
     "2:15: routing_mark 0x20 carries a fast-path mark in its bits 0x70 (fast_path_mask); pick a "
     "mark with none, or all, of them set"},
    /* 23d fast_path_mask too narrow, or not adjacent bits */
    {"fast_path_mask: 0x30\n",
     "1:17: fast_path_mask 0x30 must be three or more adjacent bits, e.g. 0xe000000"},
    {"fast_path_mask: 0x0d000000\n",
     "1:17: fast_path_mask 0xd000000 must be three or more adjacent bits, e.g. 0xe000000"},
    /* 24 UDP rule to a socks5 outbound without udp */
    {"outbounds:\n  - {name: s, type: socks5, server: \"127.0.0.1:1080\"}\nrules:\n"
     "  - {network: udp, action: s}\n",
     "4:28: outbound 's' does not carry UDP: add 'udp: true' to it or pick another"},
    /* 25 socks5 outbound without server */
    {"outbounds:\n  - {name: s, type: socks5}\n", "2:5: a socks5 outbound needs 'server'"},
    /* 26 bad network word, suggested */
    {"rules:\n  - {network: sctp, action: drop}\n",
     "2:15: unknown network 'sctp' (did you mean 'tcp'?)"},
    /* 27 bad protocol word */
    {"rules:\n  - {protocol: ssh, action: drop}\n",
     "2:16: protocol must be tls, http, quic, dns or unknown, not 'ssh'"},
    /* 28 not a country code */
    {"geoip: {file: %MMDB%}\nrules:\n  - {geoip: CHN, action: drop}\n",
     "3:13: geoip 'CHN' is not a two-letter country code"},
    /* 29 YAML syntax error */
    {"rules:\n  - {dst_port: [80, action: drop}\n",
     "2:33: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence"},
    /* 30 a condition given twice */
    {"rules:\n  - {dst_port: 80, dst_port: 443, action: drop}\n",
     "2:20: condition 'dst_port' given twice"},
    /* 31 empty not */
    {"rules:\n  - {not: {}, action: drop}\n", "2:11: not needs at least one condition"},
    /* 32 unknown inbound in a rule */
    {"rules:\n  - {inbound: nope, action: drop}\n", "2:15: unknown inbound 'nope'"},
    /* 33 inbound network that the type cannot carry */
    {"inbounds:\n  - {name: r, type: redirect, listen: \"127.0.0.1:1\", network: udp}\n",
     "2:63: a redirect inbound carries tcp only"},
    /* 34 empty list */
    {"rules:\n  - {dst_port: [], action: drop}\n", "2:16: dst_port must not be an empty list"},
    /* 35 a bad line inside a domain list file: that file's own position */
    {"sets:\n  l: {domain_file: bad.txt}\n",
     "%DIR%/bad.txt:3:1: bad regex '(': missing closing parenthesis at offset 1"},
    /* 36 a YAML alias that puts a map inside itself */
    {"rules:\n  - {not: &x {not: *x}, action: direct}\n",
     "2:11: not/any nested more than 32 deep (an alias inside itself?)"},
    /* 37 an alias bomb: each map holds the one before twice */
    {"rules:\n  - {any: [&a1 {any: [{dst_port: 1}, {dst_port: 2}]}], action: direct}\n"
     "  - {any: [&a2 {any: [*a1, *a1]}], action: direct}\n"
     "  - {any: [&a3 {any: [*a2, *a2]}], action: direct}\n"
     "  - {any: [&a4 {any: [*a3, *a3]}], action: direct}\n"
     "  - {any: [&a5 {any: [*a4, *a4]}], action: direct}\n"
     "  - {any: [&a6 {any: [*a5, *a5]}], action: direct}\n"
     "  - {any: [&a7 {any: [*a6, *a6]}], action: direct}\n"
     "  - {any: [&a8 {any: [*a7, *a7]}], action: direct}\n"
     "  - {any: [&a9 {any: [*a8, *a8]}], action: direct}\n"
     "  - {any: [&b1 {any: [*a9, *a9]}], action: direct}\n"
     "  - {any: [&b2 {any: [*b1, *b1]}], action: direct}\n"
     "  - {any: [&b3 {any: [*b2, *b2]}], action: direct}\n"
     "  - {any: [&b4 {any: [*b3, *b3]}], action: direct}\n"
     "  - {any: [&b5 {any: [*b4, *b4]}], action: direct}\n"
     "  - {any: [&b6 {any: [*b5, *b5]}], action: direct}\n"
     "  - {any: [&b7 {any: [*b6, *b6]}], action: direct}\n",
     "2:12: more than 100000 maps of conditions (aliases repeated too often?)"},
    /* 38 an explicit UDP rule to a socks5 outbound without udp, through a list */
    {"outbounds:\n  - {name: s, type: socks5, server: \"[2001:db8::1]:1080\"}\nrules:\n"
     "  - {network: [udp], dst_port: 53, action: s}\n",
     "4:44: outbound 's' does not carry UDP: add 'udp: true' to it or pick another"},
    /* 39 an unknown key inside an inbound */
    {"inbounds:\n  - {name: r, type: redirect, lisen: \"127.0.0.1:1\"}\n",
     "2:31: unknown key 'lisen' in an inbound (did you mean 'listen'?)"},
    /* 40 credentials on an inbound type that takes none */
    {"inbounds:\n  - {name: r, type: redirect, listen: \"127.0.0.1:1\", username: u}\n",
     "2:64: username and password apply to socks5 and http inbounds"},
    /* 41 a timeout below its minimum */
    {"timeouts: {connect_ms: 5}\n", "1:24: timeouts.connect_ms must be at least 100"},
    /* 42 an unknown key in limits */
    {"limits: {max_flow: 10}\n",
     "1:10: unknown key 'max_flow' in limits (did you mean 'max_flows'?)"},
    /* 43 a bad line in a CIDR list file */
    {"sets:\n  l: {cidr_file: badcidr.txt}\n",
     "%DIR%/badcidr.txt:2:1: '10.0.0.0/8/8': bad prefix length"},
    /* 44 an IPv6 server without brackets */
    {"outbounds:\n  - {name: s, type: http, server: \"2001:db8::1:3128\"}\n",
     "2:35: server '2001:db8::1:3128' is not ADDRESS:PORT (IPv6 as [2001:db8::1]:443)"},
    /* 45 a bad port among the ports not to sniff */
    {"sniff: {skip_ports: [25, 99999]}\n",
     "1:26: sniff.skip_ports '99999' is not a port (0-65535) or a range \"LO-HI\""},
    /* 46 a misspelt sniff key */
    {"sniff: {skip_port: [25]}\n",
     "1:9: unknown key 'skip_port' in sniff (did you mean 'skip_ports'?)"},
    /* 47 how long to remember a silent destination, not a number */
    {"sniff: {remember_silent_s: forever}\n",
     "1:28: sniff.remember_silent_s must be a whole number from 0 to 86400, not 'forever'"},
    /* 48 an inbound's network word: the same words and message as a rule's */
    {"inbounds:\n  - {name: t, type: tproxy, listen: \"127.0.0.1:1\", network: [tcp, quic]}\n",
     "2:67: unknown network 'quic' (tcp, udp)"},
    /* 49 an unknown outbound type, far from any */
    {"outbounds:\n  - {name: o, type: wireguard}\n",
     "2:21: unknown outbound type 'wireguard' (direct, drop, socks5, http)"},
    /* 50 an inbound's username must not be empty */
    {"inbounds:\n  - {name: s, type: socks5, listen: \"127.0.0.1:1\", username: \"\", password: "
     "p}\n",
     "2:62: username must be 1 to 255 bytes"},
    /* 51 nor its password longer than RFC 1929 carries */
    {"inbounds:\n  - {name: s, type: socks5, listen: \"127.0.0.1:1\", username: u, password: "
     "%LONG%}\n",
     "2:75: password must be 1 to 255 bytes"},
    /* 52 a username without a password */
    {"inbounds:\n  - {name: h, type: http, listen: \"127.0.0.1:1\", username: u}\n",
     "2:60: a username needs a password"},
    /* 53 a password without a username */
    {"inbounds:\n  - {name: s, type: socks5, listen: \"127.0.0.1:1\", password: p}\n",
     "2:62: a password needs a username"},
    /* 54 a global UDP queue smaller than one datagram */
    {"limits: {udp_queue_bytes: 1000}\n", "1:27: limits.udp_queue_bytes must be at least 65536"},
    /* 55 a handshake limit that is not a number */
    {"limits: {max_handshakes: many}\n",
     "1:26: limits.max_handshakes must be a whole number from 0 to 10000000, not 'many'"},
    /* 56 a user this host does not have */
    {"user: no-such-user-here\n", "1:7: unknown user 'no-such-user-here'"},
    /* 57 a group this host does not have */
    {"user: nobody\ngroup: no-such-group-here\n", "2:8: unknown group 'no-such-group-here'"},
    /* 58 a group without the user to run as */
    {"group: nogroup\n", "1:8: group needs user (the account to run as)"},
    /* 59 an empty user name */
    {"user: \"\"\n", "1:7: user must not be empty"},
    /* 60 a tun device name longer than the kernel takes */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", device: abcdefghijklmnop, address: "
     "198.51.100.1/30}\n",
     "2:52: device 'abcdefghijklmnop' is not an interface name (1 to 15 letters, digits, '.', '-', "
     "'_')"},
    /* 61 a tun device name with a space */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", device: \"tun 0\", address: "
     "198.51.100.1/30}\n",
     "2:52: device 'tun 0' is not an interface name (1 to 15 letters, digits, '.', '-', '_')"},
    /* 62 a tun inbound without an address */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", device: t0}\n",
     "2:5: a tun inbound needs 'address', 'address6' or both"},
    /* 63 a tun address without its prefix */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address: 198.51.100.1}\n",
     "2:53: address '198.51.100.1' is not ADDRESS/PREFIX (198.18.0.1/30)"},
    /* 64 an IPv6 address as the tun's IPv4 one */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address: \"2001:db8::1/126\"}\n",
     "2:53: address '2001:db8::1/126': '2001:db8::1' is not an IPv4 address"},
    /* 65 a prefix that leaves no room for the NAT's address */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address: 198.51.100.1/31}\n",
     "2:53: address '198.51.100.1/31': the prefix must leave room for the NAT's own address (at "
     "most /30)"},
    /* 66 a tun address whose next one is the prefix's last */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address: 198.51.100.2/30}\n",
     "2:53: address '198.51.100.2/30': the address after it must be in the prefix too (the NAT's "
     "own), and neither may be its first or last"},
    /* 67 a tun IPv6 address that is its prefix's first */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address6: \"2001:db8::/126\"}\n",
     "2:54: address6 '2001:db8::/126': the address after it must be in the prefix too (the NAT's "
     "own), and neither may be its first or last"},
    /* 68 an MTU below what IPv6 needs */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address6: \"2001:db8::1/126\", mtu: "
     "1000}\n",
     "2:78: mtu must be 1280 to 65535 (IPv6 needs 1280)"},
    /* 69 an MTU that is not a number */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address: 198.51.100.1/30, mtu: "
     "big}\n",
     "2:75: mtu must be a whole number from 0 to 65535, not 'big'"},
    /* 70 an unknown icmp word */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address: 198.51.100.1/30, icmp: "
     "reply}\n",
     "2:76: unknown icmp 'reply' (answer, drop)"},
    /* 71 a tun IPv4 prefix past 32 bits */
    {"inbounds:\n  - {name: t, type: tun, listen: \"[::]:1\", address: 198.51.100.1/33}\n",
     "2:53: address '198.51.100.1/33': the prefix length must be 0-32"},
    /* 72 a tun inbound listening elsewhere than [::]:PORT */
    {"inbounds:\n  - {name: t, type: tun, listen: \"127.0.0.1:1\", address: 198.51.100.1/30}\n",
     "2:34: a tun inbound listens on [::]:PORT (the local TCP listener its connections are handed "
     "to, IPv4 and IPv6)"},
    /* 73 a tun key on another inbound type */
    {"inbounds:\n  - {name: r, type: redirect, listen: \"127.0.0.1:1\", device: t0}\n",
     "2:62: device, address, address6, mtu and icmp apply to tun inbounds"},
};

/* Replaces %DIR%, %MMDB% and %LONG% (256 bytes) in `in`. */
static void expand(const char *in, char *out, size_t len, const char *mmdb)
{
    out[0] = '\0';
    for (const char *p = in; *p;) {
        if (strncmp(p, "%DIR%", 5) == 0) {
            strncat(out, fixture_dir, len - strlen(out) - 1);
            p += 5;
        } else if (strncmp(p, "%LONG%", 6) == 0) {
            for (int i = 0; i < 256; i++)
                strncat(out, "x", len - strlen(out) - 1);
            p += 6;
        } else if (strncmp(p, "%MMDB%", 6) == 0) {
            strncat(out, mmdb, len - strlen(out) - 1);
            p += 6;
        } else {
            size_t n = strlen(out);
            if (n + 1 < len) {
                out[n] = *p;
                out[n + 1] = '\0';
            }
            p++;
        }
    }
}

static void every_mistake_has_its_message(void **state)
{
    (void)state;
    fixture_write("bad.txt", "example.com\nfull:a.example.org\nregexp:(\n");
    fixture_write("badcidr.txt", "# comment\n10.0.0.0/8/8\n");
    char mmdb[256];
    snprintf(mmdb, sizeof(mmdb), "%s/t.mmdb", fixture_dir);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "echo '198.51.100.0/24 CN' | perl geodata/mkmmdb.pl %s", mmdb);
    assert_int_equal(system(cmd), 0);

    int wrong = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[2048], expected[2 * POLICY_ERROR_MAX], error[POLICY_ERROR_MAX];
        expand(cases[i].yaml, yaml, sizeof(yaml), mmdb);
        struct policy *p = fixture_policy(yaml, error);
        if (p) {
            print_error("case %zu loaded but should fail with: %s\n", i + 1, cases[i].message);
            policy_unref(p);
            wrong++;
            continue;
        }
        if (strncmp(cases[i].message, "%DIR%/bad", 9) == 0)
            expand(cases[i].message, expected, sizeof(expected), mmdb);
        else {
            char tail[POLICY_ERROR_MAX];
            expand(cases[i].message, tail, sizeof(tail), mmdb);
            snprintf(expected, sizeof(expected), "%s/policy.yaml:%s", fixture_dir, tail);
        }
        if (strcmp(error, expected) != 0) {
            print_error("case %zu:\n  got      %s\n  expected %s\n", i + 1, error, expected);
            wrong++;
        }
    }
    assert_int_equal(wrong, 0);
}

/* Checks that `p` holds as many warnings as the NULL-terminated `want`, the i-th holding the
 * i-th string of it. */
static void expect_warnings(const struct policy *p, const char *const *want)
{
    size_t n = 0;
    while (want[n])
        n++;
    assert_int_equal(policy_warning_count(p), n);
    for (size_t i = 0; i < n; i++)
        if (!strstr(policy_warning(p, i), want[i]))
            fail_msg("warning %zu: %s\n  expected %s", i, policy_warning(p, i), want[i]);
}

/* A policy that loads, and the warnings it gives, in order. */
struct warned_policy {
    const char *name;
    const char *yaml;
    const char *warnings[4]; /* NULL after the last */
};

static const struct warned_policy warned_policies[] = {
    {"a_warning_for_rules_that_may_carry_udp_to_a_tcp_only_proxy",
     "outbounds:\n  - {name: s, type: socks5, server: \"127.0.0.1:1080\"}\nrules:\n"
     "  - {dst_port: 53, action: s}\n",
     {"policy.yaml:4:28: UDP flows matching this rule are dropped"}},
    /* Only rules that UDP can reach warn: the inbounds they name decide that. */
    {"udp_warnings_follow_the_inbounds",
     "inbounds:\n"
     "  - {name: redir, type: redirect, listen: \"127.0.0.1:12345\"}\n"
     "  - {name: tp, type: tproxy, listen: \"127.0.0.1:12346\", network: [tcp, udp]}\n"
     "outbounds:\n  - {name: s, type: socks5, server: \"127.0.0.1:1080\"}\n"
     "rules:\n"
     "  - {inbound: redir, action: s}\n"             /* TCP only: quiet */
     "  - {network: tcp, action: s}\n"               /* quiet */
     "  - {inbound: tp, dst_port: 443, action: s}\n" /* UDP can come: warns */
     "default: s\n",                                 /* warns: tp carries UDP */
     {"policy.yaml:9:42: UDP flows matching this rule are dropped: outbound 's'",
      "policy.yaml:10:10: UDP flows no rule decides are dropped: outbound 's'"}},
    /* The same with TCP-only inbounds: nothing to say. */
    {"udp_warnings_follow_the_inbounds_none_when_they_carry_tcp_only",
     "inbounds:\n"
     "  - {name: redir, type: redirect, listen: \"127.0.0.1:12345\"}\n"
     "outbounds:\n  - {name: s, type: socks5, server: \"127.0.0.1:1080\"}\n"
     "rules:\n  - {dst_port: 443, action: s}\ndefault: s\n",
     {NULL}},
    /* An explicit proxy without credentials that more than this host can reach. */
    {"a_warning_for_an_open_proxy_on_a_non_loopback_address",
     "inbounds:\n"
     "  - {name: s-any, type: socks5, listen: \"0.0.0.0:1080\"}\n"
     "  - {name: h-any6, type: http, listen: \"[::]:8080\"}\n"
     "  - {name: h-lan, type: http, listen: \"192.0.2.1:8081\"}\n"
     "  - {name: s-lo, type: socks5, listen: \"127.0.0.1:1082\"}\n"
     "  - {name: s-lo2, type: socks5, listen: \"127.0.0.2:1083\"}\n"
     "  - {name: h-lo6, type: http, listen: \"[::1]:8082\"}\n"
     "  - {name: s-auth, type: socks5, listen: \"0.0.0.0:1084\", username: u, password: p}\n"
     "  - {name: h-auth, type: http, listen: \"[::]:8084\", username: u, password: p}\n"
     "  - {name: redir, type: redirect, listen: \"0.0.0.0:12345\"}\n"
     "  - {name: tp, type: tproxy, listen: \"[::]:12346\"}\n",
     {"policy.yaml:2:41: socks5 inbound 's-any' listens on 0.0.0.0:1080 without "
      "username and password: anyone who reaches it can use it as a proxy",
      "policy.yaml:3:40: http inbound 'h-any6' listens on [::]:8080 without",
      "policy.yaml:4:39: http inbound 'h-lan' listens on 192.0.2.1:8081 without"}},
};

#define N_WARNED (sizeof(warned_policies) / sizeof(warned_policies[0]))

/* One cmocka test per entry of warned_policies, named after it: `*state` is the entry. */
static void warns_as_listed(void **state)
{
    const struct warned_policy *c = *state;
    struct policy *p = fixture_policy_ok(c->yaml);
    expect_warnings(p, c->warnings);
    policy_unref(p);
}

static void the_control_section(void **state)
{
    (void)state;
    char error[POLICY_ERROR_MAX];
    struct policy *p = fixture_policy_ok("{}\n");
    assert_false(policy_settings(p)->control_on);
    policy_unref(p);

    /* No listen: loopback port 9090, no warning. */
    p = fixture_policy_ok("control: {}\n");
    const struct policy_settings *s = policy_settings(p);
    assert_true(s->control_on);
    assert_int_equal(s->control_listen.ss_family, AF_INET);
    assert_int_equal(ntohs(((const struct sockaddr_in *)&s->control_listen)->sin_port), 9090);
    assert_null(s->control_secret);
    assert_int_equal(policy_warning_count(p), 0);
    policy_unref(p);

    p = fixture_policy_ok("control: {listen: \"unix:/run/switchyard.sock\", secret: s3}\n");
    s = policy_settings(p);
    assert_int_equal(s->control_listen.ss_family, AF_UNIX);
    assert_string_equal(((const struct sockaddr_un *)&s->control_listen)->sun_path,
                        "/run/switchyard.sock");
    assert_string_equal(s->control_secret, "s3");
    policy_unref(p);

    /* A wildcard address without a secret is allowed, with a warning; with one, quietly. */
    p = fixture_policy_ok("control: {listen: \"[::]:9090\"}\n");
    expect_warnings(p, (const char *const[]){"policy.yaml:1:19: control.listen '[::]:9090' is not "
                                             "a loopback address and control has no secret",
                                             NULL});
    policy_unref(p);
    p = fixture_policy_ok("control: {listen: \"0.0.0.0:9090\", secret: x}\n");
    assert_int_equal(policy_warning_count(p), 0);
    policy_unref(p);

    static const char *const bad[][2] = {
        {"control: {listen: nowhere}\n", "policy.yaml:1:19: control.listen 'nowhere' is not"},
        {"control: {listen: \"unix:\"}\n", "policy.yaml:1:19: control.listen 'unix:': the path"},
        {"control: {secret: \"\"}\n", "policy.yaml:1:19: control.secret must be 1 to 255"},
        {"control: {port: 1}\n", "policy.yaml:1:11: unknown key 'port' in control"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = fixture_policy(bad[i][0], error);
        assert_null(p);
        if (!strstr(error, bad[i][1]))
            fail_msg("%s: %s", bad[i][0], error);
    }
}

static void a_missing_policy_file_is_named(void **state)
{
    (void)state;
    char error[POLICY_ERROR_MAX];
    assert_null(policy_load("/nonexistent/switchyard.yaml", error));
    assert_string_equal(error,
                        "/nonexistent/switchyard.yaml: cannot read: No such file or directory");
}

/* Makes folders below the fixture folder until the path is `len` characters long. */
static void long_folder(char *path, size_t len)
{
    snprintf(path, len + 1, "%s", fixture_dir);
    while (strlen(path) < len) {
        size_t n = strlen(path), add = len - n - 1;
        if (add > 200)
            add = 200;
        path[n] = '/';
        memset(path + n + 1, 'd', add);
        path[n + 1 + add] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            fail_msg("mkdir: %s", strerror(errno));
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

/*
 * However long the paths, a message fits its buffer and still says what is
 * wrong. The buffer is on the heap, as exact as the contract, so that a
 * write or read past it is caught by the sanitizer.
 */
static void messages_fit_whatever_the_path_length(void **state)
{
    (void)state;
    static const size_t lengths[] = {1030, 4000};
    static char dir[4001], policy[4100], list[4100];
    char *error = malloc(POLICY_ERROR_MAX);
    assert_non_null(error);
    const char *short_list = fixture_write("short.txt", "10.0.0.0/8/8\n");
    char yaml[512], expected[POLICY_ERROR_MAX];
    snprintf(yaml, sizeof(yaml), "sets:\n  l: {cidr_file: %s}\n", short_list);
    snprintf(expected, sizeof(expected), "%s/short.txt:1:1: '10.0.0.0/8/8': bad prefix length",
             fixture_dir);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        long_folder(dir, lengths[i] - strlen("/policy.yaml"));
        snprintf(policy, sizeof(policy), "%s/policy.yaml", dir);
        snprintf(list, sizeof(list), "%s/badcidr.txt", dir);
        assert_int_equal(strlen(policy), lengths[i]);
        write_file(list, "10.0.0.0/8/8\n");

        /* A list file beside the policy: both paths are long. */
        write_file(policy, "sets:\n  l: {cidr_file: badcidr.txt}\n");
        assert_null(policy_load(policy, error));
        assert_true(strlen(error) < POLICY_ERROR_MAX);
        assert_true(ends_with(error, "d/badcidr.txt:1:1: '10.0.0.0/8/8': bad prefix length"));

        /* A short list file under a long policy path: its own path, whole. */
        write_file(policy, yaml);
        assert_null(policy_load(policy, error));
        assert_string_equal(error, expected);

        /* A mistake in the policy itself, and a YAML syntax error. */
        write_file(policy, "rulez: []\n");
        assert_null(policy_load(policy, error));
        assert_true(ends_with(error, "d/policy.yaml:1:1: unknown key 'rulez' in the policy "
                                     "(did you mean 'rules'?)"));
        write_file(policy, "rules: [\n");
        assert_null(policy_load(policy, error));
        assert_true(strlen(error) < POLICY_ERROR_MAX);
        assert_non_null(strstr(error, "d/policy.yaml:2:1: YAML syntax error"));
    }
    free(error);
}

int main(void)
{
    struct CMUnitTest tests[4 + N_WARNED] = {
        cmocka_unit_test(every_mistake_has_its_message),
        cmocka_unit_test(the_control_section),
        cmocka_unit_test(a_missing_policy_file_is_named),
        cmocka_unit_test(messages_fit_whatever_the_path_length),
    };
    named_cases(tests + 4, warned_policies, N_WARNED, sizeof(warned_policies[0]), warns_as_listed);
    return cmocka_run_group_tests(tests, NULL, fixture_teardown);
}
