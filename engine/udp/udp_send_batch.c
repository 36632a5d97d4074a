/*
 * udp_send_batch.c — queued datagrams to clients, sent with sendmmsg(2)
 * socket by socket (udp_send_batch.h).
 */
#include "engine/udp/udp_send_batch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/udp/udp_socket.h"

struct queued {
    int fd;
    int fd_family;
    bool pinned;    /* `from` is the source address */
    bool addressed; /* `to` is the destination (not a connected socket) */
    struct flow_addr from, to;
    size_t off, len; /* the payload in the batch's `data` */
};

struct udp_send_batch {
    unsigned n;
    size_t used; /* bytes of `data` taken */
    uint64_t failed;
    struct queued q[UDP_SEND_BATCH_MAX];
    /* Filled from the start on each turn: only the pages that payloads
     * reach become resident. */
    uint8_t data[UDP_SEND_BATCH_BYTES];
};

struct udp_send_batch *udp_send_batch_new(void)
{
    /* Not calloc: zeroing would make every page of `data` resident at once. */
    struct udp_send_batch *b = malloc(sizeof(*b));
    if (b) {
        b->n = 0;
        b->used = 0;
        b->failed = 0;
    }
    return b;
}

void udp_send_batch_free(struct udp_send_batch *b)
{
    if (!b)
        return;
    udp_send_batch_flush(b);
    free(b);
}

/* Sends `n` prepared messages on `fd`, as many per call as the kernel takes. */
static void send_run(struct udp_send_batch *b, int fd, struct mmsghdr *m, unsigned n)
{
    unsigned i = 0;
    while (i < n) {
        int r = sendmmsg(fd, m + i, n - i, 0);
        if (r > 0) {
            i += (unsigned)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        /* m[i] was refused; the ones after it still go. */
        struct msghdr *h = &m[i].msg_hdr;
        if (r < 0 && errno == EINVAL && h->msg_control) {
            /* Some paths refuse the pinned source; let the kernel choose. */
            h->msg_control = NULL;
            h->msg_controllen = 0;
            if (sendmsg(fd, h, 0) >= 0) {
                i++;
                continue;
            }
        }
        b->failed++;
        i++;
    }
}

int udp_send_batch_add(struct udp_send_batch *b, int fd, int fd_family,
                       const struct flow_addr *from, const struct flow_addr *to, const void *buf,
                       size_t len)
{
    if (len > UDP_DATAGRAM_MAX)
        return -EMSGSIZE;
    if (b->n == UDP_SEND_BATCH_MAX || b->used + len > sizeof(b->data))
        udp_send_batch_flush(b);
    if (len > sizeof(b->data)) {
        struct udp_out_msg out;
        struct mmsghdr m = {.msg_len = 0};
        udp_socket_msg(&m.msg_hdr, &out, fd_family, from, to, buf, len);
        send_run(b, fd, &m, 1);
        return 0;
    }
    struct queued *q = &b->q[b->n++];
    q->fd = fd;
    q->fd_family = fd_family;
    q->pinned = from != NULL;
    if (from)
        q->from = *from;
    q->addressed = to != NULL;
    if (to)
        q->to = *to;
    q->off = b->used;
    q->len = len;
    memcpy(b->data + b->used, buf, len);
    b->used += len;
    return 0;
}

void udp_send_batch_flush(struct udp_send_batch *b)
{
    struct udp_out_msg out[UDP_SEND_BATCH_MAX];
    struct mmsghdr m[UDP_SEND_BATCH_MAX];
    bool done[UDP_SEND_BATCH_MAX] = {false};
    for (unsigned i = 0; i < b->n; i++) {
        if (done[i])
            continue;
        /* Every datagram still queued for this socket, in order. */
        unsigned k = 0;
        for (unsigned j = i; j < b->n; j++) {
            struct queued *q = &b->q[j];
            if (done[j] || q->fd != b->q[i].fd)
                continue;
            udp_socket_msg(&m[k].msg_hdr, &out[k], q->fd_family, q->pinned ? &q->from : NULL,
                           q->addressed ? &q->to : NULL, b->data + q->off, q->len);
            m[k].msg_len = 0;
            k++;
            done[j] = true;
        }
        send_run(b, b->q[i].fd, m, k);
    }
    b->n = 0;
    b->used = 0;
}

size_t udp_send_batch_queued(const struct udp_send_batch *b)
{
    return b->n;
}

uint64_t udp_send_batch_failed(const struct udp_send_batch *b)
{
    return b->failed;
}
