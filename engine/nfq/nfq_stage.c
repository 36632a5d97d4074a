/*
 * nfq_stage.c — the queue socket on the loop. See nfq_stage.h.
 *
 * The socket is a NETLINK_NETFILTER one, configured and answered with
 * libnetfilter_queue's message builders over libmnl. The queue is bound
 * with copy mode "packet" (the whole packet, whose checksums the kernel
 * completes before queueing) and without the fail-open flag: a packet the
 * queue (or this socket) has no room for is dropped by the kernel, not let
 * through, so a burst of new flows (a client flooding, a slow reload) can
 * never carry one past the policy; TCP retransmits its SYN, and the
 * firewall steers a source that offers too fast to switchyard instead.
 * Only with nobody bound does the firewall's --queue-bypass let packets
 * through (fail open, as the policy asks). Each readable event
 * answers up to NFQ_BATCH packets, so a burst cannot starve the flows, and
 * sends their verdicts together: one sendto(2) per event, not per packet.
 */
#include "engine/nfq/nfq_stage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/nfq/nfq_verdict.h"

#define NFQ_BATCH 64
#define NFQ_ANSWER 64 /* room for one verdict message with its mark (40 bytes) */
#define NFQ_QUEUE_MAXLEN 4096
#define NFQ_RCVBUF (4 * 1024 * 1024)

struct nfq_stage {
    struct engine *engine;
    struct mnl_socket *nl; /* NULL while the queue is not bound */
    unsigned portid;
    ev_io io;
    struct nfq_stats stats;
    size_t answers;                   /* verdicts waiting in `out` */
    size_t out_len;                   /* bytes of them */
    char out[NFQ_BATCH * NFQ_ANSWER]; /* the verdict messages of one readable event */
    char buf[0xffff + 8192];          /* one queued packet with its attributes */
};

/* Sends the config message built in `buf` and waits for its acknowledgement. */
static int config(struct nfq_stage *s, struct nlmsghdr *nlh)
{
    nlh->nlmsg_flags |= NLM_F_ACK;
    nlh->nlmsg_seq = (uint32_t)time(NULL);
    if (mnl_socket_sendto(s->nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    char ack[8192];
    ssize_t n = mnl_socket_recvfrom(s->nl, ack, sizeof(ack));
    if (n < 0)
        return -errno;
    if (mnl_cb_run(ack, (size_t)n, nlh->nlmsg_seq, s->portid, NULL, NULL) < 0)
        return -errno;
    return 0;
}

static void queue_close(struct nfq_stage *s)
{
    if (!s->nl)
        return;
    ev_io_stop(s->engine->loop, &s->io);
    mnl_socket_close(s->nl); /* the kernel unbinds the queue with the socket */
    s->nl = NULL;
    log_info("fast path: queue %u closed (answered %llu direct, %llu dropped, %llu steered; "
             "%llu verdicts not sent)",
             POLICY_FAST_QUEUE, (unsigned long long)s->stats.direct,
             (unsigned long long)s->stats.dropped, (unsigned long long)s->stats.steered,
             (unsigned long long)s->stats.send_failed);
}

/* Sends the verdicts gathered so far, in one message buffer. */
static void answers_flush(struct nfq_stage *s)
{
    if (!s->answers)
        return;
    if (mnl_socket_sendto(s->nl, s->out, s->out_len) < 0)
        s->stats.send_failed += s->answers;
    s->answers = s->out_len = 0;
}

/* The fast-path mark that carries each answer on (a drop: to the firewall's chain `refuse`). */
static const enum policy_fast_mark answer_mark[] = {
    [NFQ_STEER] = POLICY_FAST_MARK_STEER,
    [NFQ_DIRECT] = POLICY_FAST_MARK_DIRECT,
    [NFQ_DROP] = POLICY_FAST_MARK_REJECT,
};

/*
 * Adds one verdict to the batch: the packet goes on with the answer in the
 * fast path's field of its mark (`mask`); the verdict sets the whole mark,
 * so the other bits are given back as the packet came with them.
 */
static void answer(struct nfq_stage *s, uint32_t id, uint32_t mark, uint32_t mask,
                   enum nfq_verdict v)
{
    if (s->answers == NFQ_BATCH)
        answers_flush(s);
    struct nlmsghdr *nlh = nfq_nlmsg_put(s->out + s->out_len, NFQNL_MSG_VERDICT, POLICY_FAST_QUEUE);
    nfq_nlmsg_verdict_put(nlh, (int)id, NF_ACCEPT);
    nfq_nlmsg_verdict_put_mark(nlh, mark_set(policy_fast_mark(mask, answer_mark[v]), mark));
    s->out_len += NLMSG_ALIGN(nlh->nlmsg_len);
    s->answers++;
}

/* One queued packet: decide it under the current policy and answer. */
static int on_packet(const struct nlmsghdr *nlh, void *data)
{
    struct nfq_stage *s = data;
    struct nlattr *attr[NFQA_MAX + 1] = {0};
    if (nfq_nlmsg_parse(nlh, attr) < 0 || !attr[NFQA_PACKET_HDR])
        return MNL_CB_OK; /* not a packet: nothing to answer */
    const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
    const struct policy *policy = engine_policy(s->engine);
    enum nfq_verdict v = NFQ_STEER;
    if (attr[NFQA_PAYLOAD])
        v = nfq_verdict_decide(policy, mnl_attr_get_payload(attr[NFQA_PAYLOAD]),
                               mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]), NULL);
    s->stats.direct += v == NFQ_DIRECT;
    s->stats.dropped += v == NFQ_DROP;
    s->stats.steered += v == NFQ_STEER;
    uint32_t mark = attr[NFQA_MARK] ? ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) : 0;
    answer(s, ntohl(ph->packet_id), mark, policy_settings(policy)->fast_path_mask, v);
    return MNL_CB_OK;
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct nfq_stage *s = container_of(w, struct nfq_stage, io);
    for (int i = 0; i < NFQ_BATCH && s->nl; i++) {
        ssize_t n = mnl_socket_recvfrom(s->nl, s->buf, sizeof(s->buf));
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                log_warn("fast path: queue %u: %s", POLICY_FAST_QUEUE, strerror(errno));
            break;
        }
        mnl_cb_run(s->buf, (size_t)n, 0, s->portid, on_packet, s);
    }
    if (s->nl)
        answers_flush(s);
}

static int queue_open(struct nfq_stage *s)
{
    s->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!s->nl)
        return -errno;
    int rc = 0;
    if (mnl_socket_bind(s->nl, 0, MNL_SOCKET_AUTOPID) < 0)
        rc = -errno;
    s->portid = mnl_socket_get_portid(s->nl);
    char buf[512];
    struct nlmsghdr *nlh;
    if (rc == 0) {
        nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, POLICY_FAST_QUEUE);
        nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
        rc = config(s, nlh);
    }
    if (rc == 0) {
        nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, POLICY_FAST_QUEUE);
        nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xffff);
        nfq_nlmsg_cfg_put_qmaxlen(nlh, NFQ_QUEUE_MAXLEN);
        mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(0)); /* not fail-open: see the top */
        mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN));
        rc = config(s, nlh);
    }
    int fd = mnl_socket_get_fd(s->nl);
    int one = 1, size = NFQ_RCVBUF;
    if (rc == 0) {
        /* The kernel counts what it could not queue (nfq_stage_stats): no error for it here. */
        setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof(one));
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
            rc = -errno;
    }
    if (rc < 0) {
        mnl_socket_close(s->nl);
        s->nl = NULL;
        return rc;
    }
    ev_io_init(&s->io, on_readable, fd, EV_READ);
    ev_io_start(s->engine->loop, &s->io);
    log_info("fast path: answering new flows on queue %u", POLICY_FAST_QUEUE);
    return 0;
}

/* Binds or unbinds the queue as the current policy says; -errno when binding fails. */
static int follow_policy(struct engine *e, struct nfq_stage *s)
{
    bool want = engine_settings(e)->fast_path == POLICY_FAST_PATH_DYNAMIC;
    if (!want) {
        queue_close(s);
        return 0;
    }
    if (s->nl)
        return 0;
    int rc = queue_open(s);
    if (rc < 0)
        log_error("fast path: cannot bind queue %u: %s (new flows go direct: the firewall lets "
                  "them through)",
                  POLICY_FAST_QUEUE, strerror(-rc));
    return rc;
}

static void nfq_policy_changed(struct engine *e, void *data)
{
    follow_policy(e, data);
}

static void nfq_shutdown(struct engine *e, void *data)
{
    (void)e;
    queue_close(data);
}

static void nfq_free(struct engine *e, void *data)
{
    (void)e;
    queue_close(data);
    free(data);
}

static const struct engine_stage_ops nfq_stage_ops = {
    .name = "nfq",
    .policy_changed = nfq_policy_changed,
    .shutdown = nfq_shutdown,
    .free = nfq_free,
};

int nfq_stage_add(struct engine *e)
{
    struct nfq_stage *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->engine = e;
    int rc = engine_stage_add(e, &nfq_stage_ops, s);
    if (rc < 0) {
        free(s);
        return rc;
    }
    return follow_policy(e, s);
}

/* The kernel's own counters of the queue (/proc/net/netfilter/nfnetlink_queue: number, portid,
 * length, copy mode, copy range, dropped for a full queue, dropped for a full socket, ...). */
static void kernel_counters(struct nfq_stats *out)
{
    FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "re");
    if (!f)
        return;
    unsigned num, portid, total, mode, range;
    unsigned long long full, socket_full;
    while (fscanf(f, "%u %u %u %u %u %llu %llu %*[^\n]", &num, &portid, &total, &mode, &range,
                  &full, &socket_full) == 7)
        if (num == POLICY_FAST_QUEUE) {
            out->queue_full = full;
            out->socket_full = socket_full;
            break;
        }
    fclose(f);
}

bool nfq_stage_stats(const struct engine *e, struct nfq_stats *out)
{
    const struct nfq_stage *s = engine_stage_data(e, &nfq_stage_ops);
    if (!s)
        return false;
    *out = s->stats;
    out->bound = s->nl != NULL;
    if (out->bound)
        kernel_counters(out);
    return true;
}
