/*
 * engine_sync.c — the one listener reconcile for every network: which
 * listeners stay, which close, which open, when the policy changes. The
 * sockets themselves are the stages' (engine/tcp/listener.c,
 * engine/udp/udp_listener.c), reached through their engine_listen_ops.
 * See engine.h, "listeners".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/self_dst.h"

/* One open listener, as the reconcile knows it. */
struct engine_listening {
    const struct engine_stage *stage;
    enum inbound_type type;
    struct flow_addr addr;
    char *name; /* the inbound's name, for log lines */
    void *listener;
    bool kept; /* during a sync: still configured */
    struct engine_listening *next;
};

/* One listener the policy asks a stage for: an inbound on the stage's network. */
struct wanted {
    const struct engine_stage *stage;
    const struct policy_inbound *in;
    struct flow_addr addr;
    bool kept; /* an open listener stays for it */
};

static const char *network_word(const struct engine_listening *l)
{
    return policy_networks_name(l->stage->ops->listen->network);
}

/* An open listener of `stage` for `in`'s type and address not kept yet, or NULL. */
static struct engine_listening *find_open(struct engine *e, const struct engine_stage *stage,
                                          const struct policy_inbound *in,
                                          const struct flow_addr *addr)
{
    for (struct engine_listening *l = e->listening; l; l = l->next)
        if (l->stage == stage && !l->kept && l->type == in->type && flow_addr_equal(&l->addr, addr))
            return l;
    return NULL;
}

static void close_one(struct engine_listening *l)
{
    char text[FLOW_ADDR_TEXT_MAX];
    log_info("inbound %s: closed %s %s listener on %s", l->name, policy_inbound_type_name(l->type),
             network_word(l), flow_addr_format(&l->addr, text));
    l->stage->ops->listen->close(l->listener);
    free(l->name);
    free(l);
}

/* Opens `w`'s listener; returns 0, or 1 when it could not (logged). */
static int open_one(struct engine *e, const struct wanted *w)
{
    const struct engine_stage *stage = w->stage;
    const struct policy_inbound *in = w->in;
    const struct flow_addr *addr = &w->addr;
    const struct engine_listen_ops *ops = stage->ops->listen;
    const char *type = policy_inbound_type_name(in->type);
    const char *net = policy_networks_name(ops->network);
    char text[FLOW_ADDR_TEXT_MAX];
    flow_addr_format(addr, text);
    struct engine_listening *l = calloc(1, sizeof(*l));
    if (!l || !(l->name = strdup(in->name))) {
        free(l);
        log_error("inbound %s: cannot listen on %s (%s %s): out of memory", in->name, text, type,
                  net);
        return 1;
    }
    int rc = ops->open(e, stage->data, in, &l->listener);
    if (rc < 0) {
        if (rc == -EPROTONOSUPPORT)
            log_warn("inbound %s: type %s over %s is not available in this build", in->name, type,
                     net);
        else
            log_error("inbound %s: cannot listen on %s (%s %s): %s", in->name, text, type, net,
                      strerror(-rc));
        free(l->name);
        free(l);
        return 1;
    }
    /* Every worker opens its own listener on the address; one line says so. */
    log_msg(e->index == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, "inbound %s: listening on %s (%s %s)",
            in->name, text, type, net);
    l->stage = stage;
    l->type = in->type;
    l->addr = *addr;
    l->next = e->listening;
    e->listening = l;
    return 0;
}

void engine_listener_rename(char **name, const char *to)
{
    char *copy = strdup(to);
    if (copy) {
        free(*name);
        *name = copy;
    }
}

/* Same network, type and address: the listener stays; its entry is updated. */
static bool keep(struct engine *e, const struct wanted *w)
{
    struct engine_listening *l = find_open(e, w->stage, w->in, &w->addr);
    if (!l)
        return false;
    engine_listener_rename(&l->name, w->in->name);
    w->stage->ops->listen->update(l->listener, w->in);
    l->kept = true;
    return true;
}

/* Every listener `p` asks the stages for, in `out` (room for one per stage and inbound). */
static size_t list_wanted(const struct engine *e, const struct policy *p, struct wanted *out)
{
    size_t count = 0;
    for (size_t s = 0; s < e->nstages; s++) {
        const struct engine_stage *stage = &e->stages[s];
        if (!stage->ops->listen)
            continue;
        for (size_t i = 0; i < policy_inbound_count(p); i++) {
            const struct policy_inbound *in = policy_inbound(p, i);
            /* tun devices are worker 0's alone (their NAT table is its own). */
            if (e->index > 0 && in->type == INBOUND_TUN)
                continue;
            if (!(in->networks & stage->ops->listen->network) ||
                (stage->ops->listen->takes && !stage->ops->listen->takes(in)))
                continue;
            struct wanted *w = &out[count++];
            w->stage = stage;
            w->in = in;
            flow_addr_from_sockaddr(&w->addr, (const struct sockaddr *)&in->listen);
        }
    }
    return count;
}

int engine_sync(struct engine *e)
{
    const struct policy *p = engine_policy(e);
    size_t n = policy_inbound_count(p);
    struct wanted *want = calloc(e->nstages * n + 1, sizeof(*want));
    if (!want)
        return -ENOMEM;
    size_t count = list_wanted(e, p, want);
    /* 1. Which listeners stay. */
    for (size_t w = 0; w < count; w++)
        want[w].kept = keep(e, &want[w]);
    /* 2. Close the ones no longer configured (before opening: they may share a port). */
    struct engine_listening **link = &e->listening;
    while (*link) {
        struct engine_listening *l = *link;
        if (l->kept) {
            l->kept = false;
            link = &l->next;
            continue;
        }
        *link = l->next;
        close_one(l);
    }
    /* 3. Open the new ones. */
    int failed = 0;
    for (size_t w = 0; w < count; w++)
        if (!want[w].kept)
            failed += open_one(e, &want[w]);
    free(want);
    /* Every listener reads its entry in the current policy now. */
    policy_unref(e->previous);
    e->previous = NULL;
    return failed;
}

bool engine_dst_is_listener(const struct engine *e, const struct flow_addr *dst)
{
    for (const struct engine_listening *l = e->listening; l; l = l->next)
        if (self_dst_is_listener(&l->addr, dst))
            return true;
    if (e->index == 0)
        return false;
    /* The tun inbounds listen on worker 0 alone: the others read their addresses in the policy. */
    const struct policy *p = engine_policy(e);
    for (size_t i = 0; i < policy_inbound_count(p); i++) {
        const struct policy_inbound *in = policy_inbound(p, i);
        struct flow_addr a;
        if (in->type == INBOUND_TUN &&
            flow_addr_from_sockaddr(&a, (const struct sockaddr *)&in->listen) &&
            self_dst_is_listener(&a, dst))
            return true;
    }
    return false;
}

void engine_unlisten_all(struct engine *e)
{
    while (e->listening) {
        struct engine_listening *l = e->listening;
        e->listening = l->next;
        l->stage->ops->listen->close(l->listener);
        free(l->name);
        free(l);
    }
}
