/*
 * firewall.h — what `switchyard firewall` prints: the rules that steer
 * traffic to the policy's inbounds, as a shell script for one backend
 * (nftables or iptables).
 *
 * The plan is backend-neutral: one steering entry per (inbound, network),
 * plus what every backend must skip:
 *   - packets carrying routing_mark (switchyard's own upstream sockets: loop
 *     prevention, together with SO_MARK set in code);
 *   - destinations that are addresses of this host, loopback, link-local,
 *     multicast and broadcast (never intercepted; private ranges are left to
 *     the policy, e.g. `dst_set: private -> direct`);
 *   - packets in conntrack's reply direction: the answers on a connection
 *     the other side started (a port forward, routed IPv6 to a LAN host, a
 *     server on this host) belong to that connection, not to switchyard.
 *     The TPROXY chains (and local mode's marking) see every packet, so they
 *     skip them; nat chains see only a connection's first packet, which is
 *     always in the original direction.
 * Every packet in the original direction is steered, not only the first:
 * TPROXY gives one of a connection switchyard already holds to that socket
 * (its own lookup of established TCP and connected UDP sockets comes before
 * the listener), and any other reaches the listener (TCP: a reset; UDP: a
 * session decided by the policy) instead of slipping past to the destination.
 *
 * Modes: `gateway` steers traffic routed through this host (PREROUTING);
 * `local` steers connections made by this host's own processes (OUTPUT).
 *
 * TPROXY needs policy routing: packets marked `tproxy_mark` are delivered
 * locally through table `table` ("ip rule add fwmark M lookup T" and
 * "ip route add local default dev lo table T", and the same for IPv6). In
 * local mode OUTPUT marks the packets, the rule reroutes them through lo,
 * and PREROUTING on lo applies TPROXY. The script prints those commands too.
 * http and socks5 inbounds are explicit proxies: nothing to steer.
 *
 * tun inbounds are routed, not steered (firewall_tun.c): the i-th one gets
 * table `table` + 1 + i whose default route is its device, and rules of
 * preference FW_TUN_PREF + 10 * i: first its own prefixes are looked up in
 * main (the device's connected routes), then, in local mode, every packet
 * of this host's own without routing_mark (switchyard's upstream sockets
 * carry it, so they never loop; forwarded packets skip to a nop rule, so a
 * proxy on the LAN does not loop either) and in gateway mode what arrives
 * on each --interface goes to its table. Undo deletes those rules and
 * routes, selector for selector.
 *
 * Fast path (policy `fast_path: static`, nft only): before a packet is
 * steered to an inbound, the leading rules of the policy that the kernel
 * can decide for that inbound (rules/policy_static.h) are tried in order,
 * after the skips: `direct` accepts the packet (it is forwarded, or leaves
 * this host, as if switchyard were not there; switchyard never sees it),
 * `drop` marks it REJECT (rules/policy.h) for the chain `refuse` (forward
 * hook; output in local mode), which resets a TCP client, as switchyard's
 * own `drop` does, and drops anything else; a rule that needs switchyard
 * returns to the steering. Address sets and countries become interval sets of the table.
 * In local mode TPROXY'd packets were tried once already, in mark_output.
 *
 * Dynamic fast path (policy `fast_path: dynamic`, nft, gateway mode): what
 * the static rules leave is offered to switchyard, once per flow, and the
 * answer is kept in the flow's conntrack mark (values in rules/policy.h):
 *   offer   (filter prerouting, mangle - 10) after the skips, a flow's first
 *           packet (TCP: the SYN; UDP: a datagram of a connection not yet
 *           marked) tries the static rules, then is marked OFFER;
 *   queue   (xtables mangle PREROUTING, priority mangle) a packet marked
 *           OFFER goes to NFQUEUE POLICY_FAST_QUEUE with --queue-bypass:
 *           this kernel's nftables has no queue expression (nft_queue), so
 *           this one rule is iptables' and ip6tables' NFQUEUE target;
 *           switchyard (engine/nfq) answers DIRECT, STEER or REJECT as the
 *           packet mark (REJECT: the chain `refuse` refuses it, as above);
 *   decide  (filter prerouting, mangle + 10) copies DIRECT or STEER into the
 *           conntrack mark; a packet still marked OFFER found no switchyard
 *           (the bypass): it is left to the kernel, unmarked (fail open);
 *   steer   (the TPROXY chain at mangle + 20, the nat chain) steers only
 *           connections marked STEER: the rest of a DIRECT flow, and every
 *           flow offered while switchyard was not there, stay in the kernel.
 * A refused flow is not kept: a packet that comes again (a UDP client's next
 * datagram) is offered and refused again.
 * Local mode keeps the static fast path only.
 */
#ifndef SWITCHYARD_FIREWALL_H
#define SWITCHYARD_FIREWALL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rules/flow_addr.h"
#include "rules/mark.h"
#include "rules/policy.h"
#include "rules/policy_static.h"

enum fw_mode { FW_GATEWAY, FW_LOCAL };
enum fw_kind { FW_REDIRECT, FW_TPROXY };

struct fw_steer {
    const char *inbound; /* name, for comments */
    enum fw_kind kind;
    bool udp;    /* false: TCP */
    bool v4, v6; /* families steered (from the listen address) */
    struct flow_addr listen;
    bool wildcard; /* listens on 0.0.0.0 / [::] */
    /* The kernel's rules for this inbound, tried before steering; NULL: none. */
    const struct policy_static_list *fast;
};

#define FW_STEER_MAX 64
#define FW_INTERFACES_MAX 8
#define FW_TUN_MAX 8
#define FW_TUN_PREF 9000

/* A tun inbound's device and addresses, for its routing. */
struct fw_tun {
    const char *inbound, *device;
    struct flow_addr addr4, addr6; /* family 0: none */
    unsigned prefix4, prefix6;
};

struct fw_plan {
    enum fw_mode mode;
    struct mark routing_mark; /* the policy's: switchyard's own sockets */
    struct mark tproxy_mark;  /* fwmark that routes to table `table` */
    uint32_t fast_mask;       /* the policy's fast_path_mask: the fast path's field of the marks */
    unsigned table;
    struct fw_steer steer[FW_STEER_MAX];
    size_t count;
    bool any_tproxy;
    /* Gateway mode: steer only what arrives on these (none: every interface). */
    const char *interfaces[FW_INTERFACES_MAX];
    size_t n_interfaces;
    struct fw_tun tun[FW_TUN_MAX];
    size_t n_tun;
    /* The fast path's lists and the address sets they name; NULL when off. */
    struct policy_static *fast;
    bool dynamic; /* fast_path: dynamic (gateway mode, nft) */
};

/* A backend prints its own rules; fw_print() adds what every backend's script has. */
struct fw_backend {
    const char *name;
    void (*apply)(const struct fw_plan *plan, FILE *out);
    void (*undo)(const struct fw_plan *plan, FILE *out);
};

/*
 * The script that applies (or with `undo`, removes) `plan` with backend `b`:
 * the backend's rules, then the queue of the dynamic fast path, the
 * route_localnet note, the policy routing for TPROXY and the routing into
 * tun devices, which are the same whichever backend steers.
 */
void fw_print(const struct fw_backend *b, const struct fw_plan *plan, FILE *out, bool undo);

extern const struct fw_backend fw_backend_nft;      /* engine/firewall/firewall_nft.c */
extern const struct fw_backend fw_backend_iptables; /* engine/firewall/firewall_iptables.c */

/* The comment on the rule that skips the reply direction. */
#define FW_REPLY_NOTE "replies on connections started from the other side"

/* Whether `s` steers family `fam` (0: IPv4, 1: IPv6). */
bool fw_steer_covers(const struct fw_steer *s, int fam);

/* "tcp" or "udp". */
const char *fw_steer_proto(const struct fw_steer *s);

/* Whether any entry of `plan` is of `kind`. */
bool fw_plan_has(const struct fw_plan *plan, enum fw_kind kind);

/* Fills the steering entries of `plan` from the inbounds of `policy` (cmd_firewall.c). */
void fw_plan_build(struct fw_plan *plan, const struct policy *policy);

/*
 * Builds the fast path of a built plan from `policy` (every steered inbound
 * gets its list) into plan->fast, which the caller frees with
 * policy_static_free. Returns -1 with a message in `error` when it cannot.
 */
int fw_plan_fast(struct fw_plan *plan, const struct policy *policy, char *error, size_t len);

/* Whether the fast path decides anything in the kernel (some list has a rule). */
bool fw_plan_has_fast(const struct fw_plan *plan);

/* Reserved destinations that are never steered (CIDR text). */
extern const char *const fw_skip_v4[];
extern const char *const fw_skip_v6[];

/* The ip rule / ip route commands that route into the plan's tun devices (firewall_tun.c). */
void fw_print_tun_routing(const struct fw_plan *plan, FILE *out, bool undo);

#endif
