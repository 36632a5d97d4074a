/*
 * conntrack.c — the reply-tuple GET to nf_conntrack over libmnl (see
 * conntrack.h for why not libnetfilter_conntrack).
 */
#include "engine/udp/conntrack.h"

#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

struct conntrack {
    struct mnl_socket *nl;
    unsigned portid;
    uint32_t seq;
    struct conntrack_stats *stats; /* the caller's */
};

/* A lookup takes a few microseconds (bench/RESULTS.md); the last bound is the inbound's timeout. */
const double conntrack_latency_bounds[CONNTRACK_LATENCY_BOUNDS] = {5e-6, 1e-5, 2.5e-5, 1e-4,
                                                                   1e-3, 1e-2, 1e-1};

const char *conntrack_result_name(enum conntrack_result r)
{
    static const char *const names[CONNTRACK_RESULTS] = {"found", "not_found", "timeout", "error"};
    return (unsigned)r < CONNTRACK_RESULTS ? names[r] : "error";
}

struct conntrack *conntrack_open(struct conntrack_stats *stats)
{
    struct conntrack *ct = calloc(1, sizeof(*ct));
    if (!ct)
        return NULL;
    ct->stats = stats;
    ct->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!ct->nl) {
        free(ct);
        return NULL;
    }
    if (mnl_socket_bind(ct->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int saved = errno;
        mnl_socket_close(ct->nl);
        free(ct);
        errno = saved;
        return NULL;
    }
    ct->portid = mnl_socket_get_portid(ct->nl);
    ct->seq = (uint32_t)time(NULL);
    return ct;
}

void conntrack_close(struct conntrack *ct)
{
    if (!ct)
        return;
    mnl_socket_close(ct->nl);
    free(ct);
}

void conntrack_put_udp_tuple(struct nlmsghdr *nlh, uint16_t type, const struct flow_addr *src,
                             const struct flow_addr *dst)
{
    struct nlattr *tuple = mnl_attr_nest_start(nlh, type);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    if (src->family == AF_INET) {
        mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, src->ip);
        mnl_attr_put(nlh, CTA_IP_V4_DST, 4, dst->ip);
    } else {
        mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, src->ip);
        mnl_attr_put(nlh, CTA_IP_V6_DST, 16, dst->ip);
    }
    mnl_attr_nest_end(nlh, ip);
    struct nlattr *proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
    mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(src->port));
    mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dst->port));
    mnl_attr_nest_end(nlh, proto);
    mnl_attr_nest_end(nlh, tuple);
}

/* Fills `out` with the attributes of the nest `nest` indexed by type, up to `max`. */
struct attr_table {
    const struct nlattr **tb;
    unsigned max;
};

static int collect_attr(const struct nlattr *attr, void *data)
{
    struct attr_table *t = data;
    unsigned type = mnl_attr_get_type(attr);
    if (type <= t->max)
        t->tb[type] = attr;
    return MNL_CB_OK;
}

static void parse_nest(const struct nlattr *nest, const struct nlattr **tb, unsigned max)
{
    struct attr_table t = {tb, max};
    memset(tb, 0, (max + 1) * sizeof(*tb));
    mnl_attr_parse_nested(nest, collect_attr, &t);
}

/* Reads the destination of the CTA_TUPLE_ORIG nest into `out`. */
static int orig_dst_from_tuple(const struct nlattr *tuple, int family, struct flow_addr *out)
{
    const struct nlattr *tb[CTA_TUPLE_MAX + 1];
    const struct nlattr *ip[CTA_IP_MAX + 1];
    const struct nlattr *proto[CTA_PROTO_MAX + 1];

    parse_nest(tuple, tb, CTA_TUPLE_MAX);
    if (!tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO])
        return -EPROTO;
    parse_nest(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX);
    parse_nest(tb[CTA_TUPLE_PROTO], proto, CTA_PROTO_MAX);

    unsigned attr = family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST;
    size_t len = family == AF_INET ? 4 : 16;
    if (!ip[attr] || mnl_attr_get_payload_len(ip[attr]) != len || !proto[CTA_PROTO_DST_PORT] ||
        mnl_attr_get_payload_len(proto[CTA_PROTO_DST_PORT]) != 2)
        return -EPROTO;
    memset(out, 0, sizeof(*out));
    out->family = (uint8_t)family;
    memcpy(out->ip, mnl_attr_get_payload(ip[attr]), len);
    out->port = ntohs(mnl_attr_get_u16(proto[CTA_PROTO_DST_PORT]));
    return 0;
}

struct answer {
    int family;
    struct flow_addr *orig_dst;
    int status; /* 1 while nothing usable was seen */
};

static int answer_cb(const struct nlmsghdr *nlh, void *data)
{
    struct answer *a = data;
    const struct nlattr *tb[CTA_MAX + 1] = {0};
    struct attr_table t = {tb, CTA_MAX};

    if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), collect_attr, &t) < 0)
        return MNL_CB_ERROR;
    if (!tb[CTA_TUPLE_ORIG]) {
        a->status = -EPROTO;
        return MNL_CB_STOP;
    }
    a->status = orig_dst_from_tuple(tb[CTA_TUPLE_ORIG], a->family, a->orig_dst);
    return MNL_CB_STOP;
}

/*
 * True when every message's length lies inside `len`. mnl_nlmsg_ok compares
 * nlmsg_len as an int: a length of 2 GiB or more passes as negative, and
 * mnl_cb_run then reads attributes and the next message far past the buffer.
 */
static bool messages_inside(const uint8_t *p, size_t len)
{
    while (len >= sizeof(struct nlmsghdr)) {
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
        if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len)
            return false;
        size_t step = MNL_ALIGN(nlh->nlmsg_len);
        if (step >= len)
            break;
        p += step;
        len -= step;
    }
    return true;
}

int conntrack_parse_answer(const void *buf, size_t len, uint32_t seq, uint32_t portid, int family,
                           struct flow_addr *orig_dst)
{
    if (family != AF_INET && family != AF_INET6)
        return -EAFNOSUPPORT;
    if (!messages_inside(buf, len))
        return -EPROTO;
    struct answer a = {family, orig_dst, 1};
    errno = 0;
    int r = mnl_cb_run(buf, len, seq, portid, answer_cb, &a);
    /* Answers to an earlier request that timed out carry an old sequence
     * number: mnl_cb_run reports them as EPROTO; skip them and read on. */
    if (r == MNL_CB_ERROR && errno == EPROTO)
        return CONNTRACK_READ_ON;
    if (r == MNL_CB_ERROR)
        return errno > 0 ? -errno : -EPROTO;
    if (a.status <= 0)
        return a.status;
    /* An ack or end of dump without an entry (not asked for, but not an entry either). */
    if (r == MNL_CB_STOP)
        return -ENOENT;
    return CONNTRACK_READ_ON;
}

static uint64_t ns_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)((now.tv_sec - start->tv_sec) * 1000000000L + (now.tv_nsec - start->tv_nsec));
}

/* One lookup's round trip, begun at `start`. */
static int lookup(struct conntrack *ct, const struct flow_addr *local,
                  const struct flow_addr *client, struct flow_addr *orig_dst, unsigned timeout_ms,
                  const struct timespec *start)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = ++ct->seq;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
    nfg->nfgen_family = local->family;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    /* The reply direction runs from the listener back to the client. */
    conntrack_put_udp_tuple(nlh, CTA_TUPLE_REPLY, local, client);

    if (mnl_socket_sendto(ct->nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;

    int fd = mnl_socket_get_fd(ct->nl);
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(ct->nl, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            long left = (long)timeout_ms - (long)(ns_since(start) / 1000000);
            struct pollfd pfd = {fd, POLLIN, 0};
            if (left <= 0 || poll(&pfd, 1, (int)left) == 0)
                return -ETIMEDOUT;
            continue;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* ENOBUFS: the socket overflowed; our answer may be lost with it. */
            return -errno;
        }
        int r =
            conntrack_parse_answer(buf, (size_t)n, ct->seq, ct->portid, local->family, orig_dst);
        if (r != CONNTRACK_READ_ON)
            return r;
    }
}

static void count(struct conntrack_stats *st, int r, uint64_t ns)
{
    enum conntrack_result res = r == 0            ? CONNTRACK_FOUND
                                : r == -ENOENT    ? CONNTRACK_NOT_FOUND
                                : r == -ETIMEDOUT ? CONNTRACK_TIMEOUT
                                                  : CONNTRACK_ERROR;
    st->lookups[res]++;
    size_t b = 0;
    while (b < CONNTRACK_LATENCY_BOUNDS && (double)ns > conntrack_latency_bounds[b] * 1e9)
        b++;
    st->latency[b]++;
    st->latency_ns += ns;
}

int conntrack_udp_orig_dst(struct conntrack *ct, const struct flow_addr *local,
                           const struct flow_addr *client, struct flow_addr *orig_dst,
                           unsigned timeout_ms)
{
    if (local->family != client->family || (local->family != AF_INET && local->family != AF_INET6))
        return -EAFNOSUPPORT;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int r = lookup(ct, local, client, orig_dst, timeout_ms, &start);
    count(ct->stats, r, ns_since(&start));
    return r;
}
