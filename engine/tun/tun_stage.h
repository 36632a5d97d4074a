/*
 * tun_stage.h — the IP layer as a stage of the core: each `tun` inbound's
 * device, its packet loop and its TCP NAT table.
 *
 * The way of a packet (engine/README.md has the table):
 *   tun_device.c   the device, made and configured over rtnetlink;
 *   tun_loop.c     reads each packet, checks it (tun_packet.c) and sends it
 *                  on: TCP rewritten through the NAT (tun_nat.c) to the
 *                  kernel's own TCP and switchyard's listener on
 *                  `listen`, and the listener's replies rewritten back; UDP
 *                  to the UDP stage's sessions (tun_udp.c); ICMP echo
 *                  answered or dropped; anything else dropped and counted;
 *   tun_tcp.c      the listener's side: an accepted connection's peer is a
 *                  NAT entry, which names the client and the original
 *                  destination of the flow it becomes (engine/tcp/flow.h);
 *   tun_udp.c      the UDP stage's side: datagrams into sessions, replies
 *                  built as IP packets and written to the device.
 * The device is opened by this stage before the TCP and UDP stages open
 * their listeners for the same inbound (the stage is added first), which
 * bind to the device (SO_BINDTODEVICE): only what came in through it is
 * accepted there.
 */
#ifndef SWITCHYARD_TUN_STAGE_H
#define SWITCHYARD_TUN_STAGE_H

#include <ev.h>
#include <stdint.h>

#include "engine/core/engine.h"
#include "engine/tun/tun_device.h"
#include "engine/tun/tun_nat.h"
#include "engine/tun/tun_packet.h"
#include "rules/policy.h"

struct udp_listener;

struct tun_stats {
    uint64_t packets_in, packets_out;
    uint64_t refused[TUN_PKT_VERDICTS]; /* by verdict (TUN_PKT_OK unused) */
    uint64_t no_entry;      /* TCP without a NAT entry that is not a new connection's SYN */
    uint64_t to_self;       /* addressed to the device's own or its NAT address */
    uint64_t no_listener;   /* a network the inbound does not carry */
    uint64_t icmp_answered; /* echo requests answered */
    uint64_t icmp_dropped;  /* echo requests dropped (icmp: drop) */
    uint64_t write_failed;  /* the device would not take a packet */
};

/* One tun inbound: its device and what moves through it. */
struct tun_inbound {
    struct engine *engine;
    char *name;            /* the inbound's name (own copy) */
    struct policy_tun cfg; /* `device` points at `device` below */
    char device[16];
    struct flow_addr listen; /* [::]:PORT, the TCP listener's and the key of the inbound */
    unsigned networks;       /* POLICY_TCP | POLICY_UDP */
    struct tun_device dev;   /* its queues' descriptors */
    ev_io io[TUN_QUEUES];    /* each queue readable: packets (io[0] alone with one queue) */
    ev_timer tick;           /* NAT expiry */
    struct tun_nat nat;
    struct udp_listener *udp; /* the UDP stage's listener for it, once open */
    struct tun_stats stats;
    struct tun_inbound *next;
    uint8_t buf[TUN_VNET_HDR_LEN + 65536 + 64]; /* one packet read, its offload header first */
    uint8_t out[TUN_VNET_HDR_LEN + 65536 + 64]; /* one UDP reply built, the same */
};

/* Adds the stage to `e` (before the TCP and UDP stages). Returns 0 or -errno. */
int tun_stage_add(struct engine *e);

/* The open tun inbounds, linked by `next` (for counters), or NULL when there are none. */
const struct tun_inbound *tun_stage_inbounds(const struct engine *e);

/* The open tun inbound whose listener address is `listen`, or NULL. */
struct tun_inbound *tun_stage_find(const struct engine *e, const struct flow_addr *listen);

/* Reads and handles the packets waiting on the device's descriptor `fd` (tun_loop.c). */
void tun_loop_read(struct tun_inbound *t, int fd);

/*
 * Writes one packet to the device on queue `q` (tun_device.h: by where the packet goes):
 * `frame` is its offload header (TUN_VNET_HDR_LEN bytes) and the `len` bytes of the IP packet
 * after it. Counts it, or counts the failure.
 */
void tun_loop_write(struct tun_inbound *t, enum tun_queue q, const uint8_t *frame, size_t len);

/*
 * A UDP datagram read from the device, from `src` to `dst`, handed to the
 * UDP stage's sessions through the inbound's UDP listener (tun_udp.c).
 */
void tun_udp_datagram(struct tun_inbound *t, const struct flow_addr *src,
                      const struct flow_addr *dst, const uint8_t *payload, size_t len);

#endif
