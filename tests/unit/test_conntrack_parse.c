/*
 * test_conntrack_parse.c — reading nf_conntrack's netlink answer without a
 * socket (conntrack_parse_answer): the original destination of an IPv4 and
 * an IPv6 entry, an answer to an earlier request skipped, the kernel's
 * "no such entry", and malformed answers refused, among them a message
 * length past 2 GiB that libmnl alone would follow out of the buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "engine/udp/conntrack.h"
#include "tests/unit/unit_test.h"

#define SEQ 7
#define PORTID 4242

static _Alignas(8) uint8_t buf[8192];

/* The tuple src -> dst with their ports, written by the lookup's own writer. */
static void put_tuple(struct nlmsghdr *nlh, uint16_t type, const char *src, const char *dst,
                      uint16_t sport, uint16_t dport)
{
    struct flow_addr s, d;
    assert_true(flow_addr_parse_ip(&s, src));
    assert_true(flow_addr_parse_ip(&d, dst));
    s.port = sport;
    d.port = dport;
    conntrack_put_udp_tuple(nlh, type, &s, &d);
}

/* An entry as the kernel sends it: client -> orig_dst, answered by listener -> client. */
static struct nlmsghdr *put_entry(uint8_t *at, uint32_t seq, int family, const char *client,
                                  const char *orig_dst, const char *listener)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(at);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    nlh->nlmsg_seq = seq;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
    nfg->nfgen_family = (uint8_t)family;
    put_tuple(nlh, CTA_TUPLE_ORIG, client, orig_dst, 40000, 53);
    put_tuple(nlh, CTA_TUPLE_REPLY, listener, client, 12347, 40000);
    mnl_attr_put_u32(nlh, CTA_STATUS, htonl(0x188));
    return nlh;
}

static void check_dst(const struct flow_addr *got, const char *want)
{
    char text[FLOW_ADDR_TEXT_MAX];
    flow_addr_format(got, text);
    assert_string_equal(text, want);
}

static void test_ipv4_entry(void **state)
{
    (void)state;
    struct nlmsghdr *nlh = put_entry(buf, SEQ, AF_INET, "192.0.2.2", "198.51.100.53", "192.0.2.1");
    struct flow_addr dst;
    assert_int_equal(conntrack_parse_answer(buf, nlh->nlmsg_len, SEQ, PORTID, AF_INET, &dst), 0);
    check_dst(&dst, "198.51.100.53:53");
}

static void test_ipv6_entry(void **state)
{
    (void)state;
    struct nlmsghdr *nlh =
        put_entry(buf, SEQ, AF_INET6, "2001:db8:1::2", "2001:db8:2::53", "2001:db8:1::1");
    struct flow_addr dst;
    assert_int_equal(conntrack_parse_answer(buf, nlh->nlmsg_len, SEQ, PORTID, AF_INET6, &dst), 0);
    check_dst(&dst, "[2001:db8:2::53]:53");
}

static void test_family_mismatch_is_malformed(void **state)
{
    (void)state;
    struct nlmsghdr *nlh = put_entry(buf, SEQ, AF_INET, "192.0.2.2", "198.51.100.53", "192.0.2.1");
    struct flow_addr dst;
    assert_int_equal(conntrack_parse_answer(buf, nlh->nlmsg_len, SEQ, PORTID, AF_INET6, &dst),
                     -EPROTO);
    assert_int_equal(conntrack_parse_answer(buf, nlh->nlmsg_len, SEQ, PORTID, AF_UNIX, &dst),
                     -EAFNOSUPPORT);
}

static void test_earlier_answer_is_skipped(void **state)
{
    (void)state;
    struct nlmsghdr *nlh =
        put_entry(buf, SEQ - 1, AF_INET, "192.0.2.2", "203.0.113.9", "192.0.2.1");
    struct flow_addr dst;
    assert_int_equal(conntrack_parse_answer(buf, nlh->nlmsg_len, SEQ, PORTID, AF_INET, &dst),
                     CONNTRACK_READ_ON);
}

static void test_no_such_entry(void **state)
{
    (void)state;
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = NLMSG_ERROR;
    nlh->nlmsg_seq = SEQ;
    struct nlmsgerr *err = mnl_nlmsg_put_extra_header(nlh, sizeof(*err));
    err->error = -ENOENT;
    err->msg.nlmsg_len = sizeof(err->msg);
    err->msg.nlmsg_seq = SEQ;
    struct flow_addr dst;
    assert_int_equal(conntrack_parse_answer(buf, nlh->nlmsg_len, SEQ, PORTID, AF_INET, &dst),
                     -ENOENT);
}

static void test_entry_without_original_tuple(void **state)
{
    (void)state;
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    nlh->nlmsg_seq = SEQ;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
    nfg->nfgen_family = AF_INET;
    put_tuple(nlh, CTA_TUPLE_REPLY, "192.0.2.1", "192.0.2.2", 12347, 40000);
    struct flow_addr dst;
    assert_int_equal(conntrack_parse_answer(buf, nlh->nlmsg_len, SEQ, PORTID, AF_INET, &dst),
                     -EPROTO);
}

/* Every cut of a whole answer is refused or read on, never read past. */
static void test_truncated_answers(void **state)
{
    (void)state;
    struct nlmsghdr *nlh = put_entry(buf, SEQ, AF_INET, "192.0.2.2", "198.51.100.53", "192.0.2.1");
    for (size_t cut = 0; cut < nlh->nlmsg_len; cut++) {
        struct flow_addr dst;
        int r = conntrack_parse_answer(buf, cut, SEQ, PORTID, AF_INET, &dst);
        assert_true(r != 0);
    }
}

/* Found by fuzz_conntrack: libmnl takes nlmsg_len >= 2 GiB for a negative int and reads on. */
static void test_huge_message_length_is_malformed(void **state)
{
    (void)state;
    memset(buf, 0, 80);
    struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
    nlh->nlmsg_len = 0xdefc7f00;
    struct flow_addr dst;
    assert_int_equal(conntrack_parse_answer(buf, 80, SEQ, PORTID, AF_INET, &dst), -EPROTO);
    /* The same after a whole message from an earlier request. */
    nlh = put_entry(buf, SEQ - 1, AF_INET, "192.0.2.2", "203.0.113.9", "192.0.2.1");
    size_t first = MNL_ALIGN(nlh->nlmsg_len);
    memset(buf + first, 0, 64);
    ((struct nlmsghdr *)(buf + first))->nlmsg_len = 0x80000000u;
    assert_int_equal(conntrack_parse_answer(buf, first + 64, SEQ, PORTID, AF_INET, &dst), -EPROTO);
}

UNIT_TEST_MAIN(NULL, NULL, cmocka_unit_test(test_ipv4_entry), cmocka_unit_test(test_ipv6_entry),
               cmocka_unit_test(test_family_mismatch_is_malformed),
               cmocka_unit_test(test_earlier_answer_is_skipped),
               cmocka_unit_test(test_no_such_entry),
               cmocka_unit_test(test_entry_without_original_tuple),
               cmocka_unit_test(test_truncated_answers),
               cmocka_unit_test(test_huge_message_length_is_malformed))
