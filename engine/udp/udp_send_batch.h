/*
 * udp_send_batch.h — datagrams gathered over one turn of the event loop and
 * sent with one sendmmsg(2) per socket.
 *
 * Answers for many sessions often become ready in the same turn (one wake-up
 * reports several upstream sockets readable), and a client's datagrams come
 * from the listener in batches (recvmmsg); each would cost a send of its own. The batch copies each
 * datagram in (the caller's buffer is the next read's), and udp_send_batch_flush() sends what is
 * queued, socket by socket, each socket's datagrams in the order they were
 * queued. Its owner flushes it before the loop sleeps (engine/udp/udp_engine.c)
 * and before closing a socket that may have datagrams queued: a descriptor
 * number closed and opened again must never carry another socket's datagrams.
 *
 * A datagram the kernel refuses (a full send buffer, an unreachable route)
 * is dropped and counted in udp_send_batch_failed(); one whose pinned source
 * address is refused (EINVAL) goes out once more with the source left to the
 * kernel, as a lone send did before batching.
 */
#ifndef SWITCHYARD_UDP_SEND_BATCH_H
#define SWITCHYARD_UDP_SEND_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "rules/flow_addr.h"

/* Datagrams and payload bytes a batch holds before it sends by itself: room
 * for a read batch of DNS-sized answers; the bytes stay resident once used,
 * so a larger datagram is not copied but sent at once, after what is queued. */
#define UDP_SEND_BATCH_MAX 64
#define UDP_SEND_BATCH_BYTES (32 * 1024)

struct udp_send_batch;

/* An empty batch; NULL when out of memory. */
struct udp_send_batch *udp_send_batch_new(void);

/* Sends what is queued and frees the batch (NULL is allowed). */
void udp_send_batch_free(struct udp_send_batch *b);

/*
 * Queues `len` bytes at `buf` (copied) for the unconnected socket `fd`, of
 * family `fd_family`, to `to`; from the address `from` (pinned as
 * udp_socket_msg does) or, when NULL, from the socket's own. With `to` and
 * `from` NULL, `fd` is a connected socket. A full batch is sent first; a
 * datagram larger than UDP_SEND_BATCH_BYTES goes at once, after it. Returns 0, or -EMSGSIZE when
 * `len` is more than a datagram.
 */
int udp_send_batch_add(struct udp_send_batch *b, int fd, int fd_family,
                       const struct flow_addr *from, const struct flow_addr *to, const void *buf,
                       size_t len);

/* Sends every queued datagram; the batch is empty afterwards. */
void udp_send_batch_flush(struct udp_send_batch *b);

/* Datagrams queued and not sent yet. */
size_t udp_send_batch_queued(const struct udp_send_batch *b);

/* Datagrams dropped so far because the kernel refused them. */
uint64_t udp_send_batch_failed(const struct udp_send_batch *b);

#endif
