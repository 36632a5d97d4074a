/*
 * bench_conntrack.c — how long the UDP REDIRECT original-destination lookup
 * (engine/udp/conntrack.h) takes as the conntrack table grows.
 *
 * Runs in a private network namespace of its own (unshare; needs root), so
 * the entries it creates vanish with it. For each table size it fills the
 * table over ctnetlink with entries shaped like redirected UDP flows
 * (client 192.0.2.x / 198.51.100.x : port -> 203.0.113.x:53, reply from
 * 127.0.0.1:40053), then looks up random entries by reply tuple, checks each
 * answer and prints the latency.
 *
 *   build/bench/bench_conntrack [ENTRIES [LOOKUPS]]     (default 100000 200000)
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "engine/udp/conntrack.h"

#define LISTEN_PORT 40053

/* Entry i: client address and port, original destination. */
static void entry(unsigned i, struct flow_addr *client, struct flow_addr *dst)
{
    memset(client, 0, sizeof(*client));
    memset(dst, 0, sizeof(*dst));
    client->family = dst->family = AF_INET;
    unsigned host = i / 50000; /* 50,000 source ports per client address */
    static const uint8_t nets[2][3] = {{192, 0, 2}, {198, 51, 100}};
    memcpy(client->ip, nets[(host / 250) % 2], 3);
    client->ip[3] = (uint8_t)(1 + host % 250);
    client->port = (uint16_t)(10000 + i % 50000);
    dst->ip[0] = 203, dst->ip[1] = 0, dst->ip[2] = 113;
    dst->ip[3] = (uint8_t)(1 + i % 200);
    dst->port = 53;
}

/* Creates entries [from, to) and waits for each acknowledgement. */
static int fill(struct mnl_socket *nl, unsigned from, unsigned to)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct flow_addr local = {.family = AF_INET, .ip = {127, 0, 0, 1}, .port = LISTEN_PORT};
    unsigned portid = mnl_socket_get_portid(nl);
    for (unsigned i = from; i < to; i++) {
        struct flow_addr client, dst;
        entry(i, &client, &dst);
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
        nlh->nlmsg_seq = i + 1;
        struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_INET;
        nfg->version = NFNETLINK_V0;
        conntrack_put_udp_tuple(nlh, CTA_TUPLE_ORIG, &client, &dst);
        conntrack_put_udp_tuple(nlh, CTA_TUPLE_REPLY, &local, &client);
        mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(3600));
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
            return -errno;
        ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
        if (n < 0 || mnl_cb_run(buf, (size_t)n, i + 1, portid, NULL, NULL) < 0) {
            fprintf(stderr, "creating entry %u: %s\n", i, strerror(errno));
            return -errno;
        }
    }
    return 0;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int measure(struct conntrack *ct, unsigned entries, unsigned lookups, double *lat)
{
    struct flow_addr local = {.family = AF_INET, .ip = {127, 0, 0, 1}, .port = LISTEN_PORT};
    unsigned seed = 12345;
    double total = 0;
    for (unsigned k = 0; k < lookups; k++) {
        unsigned i = (unsigned)(rand_r(&seed) % entries);
        struct flow_addr client, want, got;
        entry(i, &client, &want);
        double t0 = now_ns();
        int r = conntrack_udp_orig_dst(ct, &local, &client, &got, 1000);
        double t1 = now_ns();
        if (r != 0 || !flow_addr_equal(&got, &want)) {
            fprintf(stderr, "lookup of entry %u: %s\n", i, r ? strerror(-r) : "wrong answer");
            return -1;
        }
        lat[k] = t1 - t0;
        total += lat[k];
    }
    qsort(lat, lookups, sizeof(*lat), cmp_double);
    printf("%8u entries  %8u lookups  mean %6.2f us  p50 %6.2f us  p99 %6.2f us  "
           "%8.0f lookups/s\n",
           entries, lookups, total / lookups / 1e3, lat[lookups / 2] / 1e3,
           lat[lookups * 99 / 100] / 1e3, lookups / (total / 1e9));
    return 0;
}

int main(int argc, char **argv)
{
    unsigned max = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
    unsigned lookups = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200000;
    if (max < 1000 || max > 200000 || lookups < 100 || lookups > 10000000) {
        fprintf(stderr, "usage: bench_conntrack [ENTRIES 1000..200000 [LOOKUPS]]\n");
        return 2;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        perror("bench_conntrack: unshare(CLONE_NEWNET) (run as root)");
        return 1;
    }
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    struct conntrack_stats stats = {0};
    struct conntrack *ct = conntrack_open(&stats);
    double *lat = calloc(lookups, sizeof(*lat));
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 || !ct || !lat) {
        perror("bench_conntrack: netlink");
        return 1;
    }
    const unsigned sizes[] = {1000, 10000, max};
    unsigned have = 0;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        if (sizes[s] <= have || sizes[s] > max)
            continue;
        double t0 = now_ns();
        if (fill(nl, have, sizes[s]) < 0)
            return 1;
        fprintf(stderr, "# filled %u entries in %.2f s\n", sizes[s], (now_ns() - t0) / 1e9);
        have = sizes[s];
        if (measure(ct, have, lookups, lat) < 0)
            return 1;
    }
    conntrack_close(ct);
    mnl_socket_close(nl);
    free(lat);
    return 0;
}
