/*
 * tun_nat.c — the tun inbound's TCP NAT table: a hash forward (by client and
 * destination), an index back (by family and fake port) and an activity
 * list. See tun_nat.h.
 */
#include "engine/tun/tun_nat.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/tun/tun_packet.h"

#define FWD_KEY_LEN (2 * sizeof(struct flow_addr))

#define PORTS 65536

/* The port index of `family`: 0 for IPv4, 1 for IPv6. */
static int family_slot(int family)
{
    return family == AF_INET6;
}

static void entry_remove(struct tun_nat *nat, struct tun_nat_entry *e)
{
    HASH_DELETE(hh_fwd, nat->by_fwd, e);
    nat->by_port[family_slot(e->client.family)][e->port] = NULL;
    TAILQ_REMOVE(&nat->by_activity, e, by_activity);
    nat->count--;
    free(e);
}

void tun_nat_init(struct tun_nat *nat, size_t max)
{
    memset(nat, 0, sizeof(*nat));
    TAILQ_INIT(&nat->by_activity);
    size_t ports = TUN_NAT_PORT_MAX - TUN_NAT_PORT_MIN + 1;
    nat->max = max == 0 ? 1 : max > ports ? ports : max;
    nat->next_port[0] = nat->next_port[1] = TUN_NAT_PORT_MIN;
}

void tun_nat_fini(struct tun_nat *nat)
{
    while (!TAILQ_EMPTY(&nat->by_activity))
        entry_remove(nat, TAILQ_FIRST(&nat->by_activity));
    free(nat->by_port[0]);
    free(nat->by_port[1]);
    nat->by_port[0] = nat->by_port[1] = NULL;
}

struct tun_nat_entry *tun_nat_find(struct tun_nat *nat, const struct flow_addr *client,
                                   const struct flow_addr *dst)
{
    struct flow_addr key[2];
    flow_addr_key(&key[0], client);
    flow_addr_key(&key[1], dst);
    struct tun_nat_entry *e;
    HASH_FIND(hh_fwd, nat->by_fwd, key, FWD_KEY_LEN, e);
    return e;
}

struct tun_nat_entry *tun_nat_find_port(struct tun_nat *nat, int family, uint16_t port)
{
    struct tun_nat_entry **slots = nat->by_port[family_slot(family)];
    return slots ? slots[port] : NULL;
}

/* The next port of `family` no entry holds (there is one: max is below the ports a family has). */
static uint16_t free_port(struct tun_nat *nat, int family)
{
    uint16_t *next = &nat->next_port[family == AF_INET6];
    for (;;) {
        uint16_t port = *next;
        *next = port == TUN_NAT_PORT_MAX ? TUN_NAT_PORT_MIN : (uint16_t)(port + 1);
        if (!tun_nat_find_port(nat, family, port))
            return port;
    }
}

struct tun_nat_entry *tun_nat_add(struct tun_nat *nat, const struct flow_addr *client,
                                  const struct flow_addr *dst, double now)
{
    struct tun_nat_entry ***slots = &nat->by_port[family_slot(client->family)];
    if (!*slots && !(*slots = calloc(PORTS, sizeof(**slots))))
        return NULL;
    if (nat->count >= nat->max && !TAILQ_EMPTY(&nat->by_activity)) {
        entry_remove(nat, TAILQ_FIRST(&nat->by_activity));
        nat->evicted++;
    }
    struct tun_nat_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    flow_addr_key(&e->client, client);
    flow_addr_key(&e->dst, dst);
    e->port = free_port(nat, client->family);
    e->state = TUN_NAT_OPENING;
    e->last = now;
    HASH_ADD(hh_fwd, nat->by_fwd, client, FWD_KEY_LEN, e);
    (*slots)[e->port] = e;
    TAILQ_INSERT_TAIL(&nat->by_activity, e, by_activity);
    nat->count++;
    return e;
}

void tun_nat_seen(struct tun_nat *nat, struct tun_nat_entry *e, uint8_t flags, bool from_client,
                  double now)
{
    e->last = now;
    if (TAILQ_NEXT(e, by_activity)) {
        TAILQ_REMOVE(&nat->by_activity, e, by_activity);
        TAILQ_INSERT_TAIL(&nat->by_activity, e, by_activity);
    }
    if (flags & TUN_TCP_RST) {
        e->state = TUN_NAT_CLOSING;
        return;
    }
    if (flags & TUN_TCP_FIN) {
        if (from_client)
            e->fin_client = true;
        else
            e->fin_listener = true;
    }
    if (e->fin_client && e->fin_listener)
        e->state = TUN_NAT_CLOSING;
    else if (e->state == TUN_NAT_OPENING && from_client && !(flags & TUN_TCP_SYN) &&
             (flags & TUN_TCP_ACK))
        e->state = TUN_NAT_ESTABLISHED;
}

static double timeout_of(const struct tun_nat_timeouts *t, enum tun_nat_state s)
{
    return s == TUN_NAT_OPENING       ? t->opening
           : s == TUN_NAT_ESTABLISHED ? t->established
                                      : t->closing;
}

size_t tun_nat_expire(struct tun_nat *nat, const struct tun_nat_timeouts *t, double now)
{
    double shortest = t->opening;
    if (t->established < shortest)
        shortest = t->established;
    if (t->closing < shortest)
        shortest = t->closing;
    size_t n = 0;
    struct tun_nat_entry *e = TAILQ_FIRST(&nat->by_activity);
    /* The list is by activity: past the first entry younger than every timeout, none expires. */
    while (e && now - e->last > shortest) {
        struct tun_nat_entry *next = TAILQ_NEXT(e, by_activity);
        if (now - e->last > timeout_of(t, e->state)) {
            entry_remove(nat, e);
            n++;
        }
        e = next;
    }
    nat->expired += n;
    return n;
}
