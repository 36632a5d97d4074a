/*
 * engine.c — the run-time context: policy swap, descriptor limit, flow list.
 * See engine.h.
 */
#include "engine/core/engine.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/udp/udp_session.h"

#include "engine/tcp/flow.h"
#include "engine/tcp/listener.h"
#include "engine/core/log.h"
#include "engine/tcp/pipe_pool.h"
#include "engine/tcp/silent_dst.h"

#define ENGINE_PIPE_POOL_CAP 1024
#define ENGINE_SILENT_DST_CAP 4096 /* about 100 bytes each */

/* Raises the soft descriptor limit to the hard one; returns the soft limit now in force. */
static rlim_t raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    return rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
}

static void engine_apply_settings(struct engine *e)
{
    const struct policy_settings *s = policy_settings(e->policy);
    log_set_level(s->log_level);
    if (s->max_flows) {
        e->max_flows = s->max_flows;
    } else {
        rlim_t nofile = raise_nofile();
        rlim_t usable =
            nofile > ENGINE_FDS_RESERVED * 2 ? nofile - ENGINE_FDS_RESERVED : nofile / 2;
        e->max_flows = (unsigned)(usable / ENGINE_FDS_PER_FLOW);
        if (e->max_flows == 0)
            e->max_flows = 1;
    }
}

int engine_init(struct engine *e, struct ev_loop *loop, struct policy *policy)
{
    memset(e, 0, sizeof(*e));
    e->loop = loop;
    e->policy = policy;
    e->pipes = pipe_pool_new(ENGINE_PIPE_POOL_CAP);
    e->silent = silent_dst_new(ENGINE_SILENT_DST_CAP);
    if (!e->pipes || !e->silent) {
        pipe_pool_free(e->pipes);
        silent_dst_free(e->silent);
        return -ENOMEM;
    }
    engine_apply_settings(e);
    return 0;
}

void engine_fini(struct engine *e)
{
    listener_close_all(e);
    udp_engine_free(e->udp);
    e->udp = NULL;
    while (e->flows)
        flow_close(e->flows, "shutdown");
    pipe_pool_free(e->pipes);
    e->pipes = NULL;
    silent_dst_free(e->silent);
    e->silent = NULL;
    if (e->policy)
        policy_unref(e->policy);
    e->policy = NULL;
}

void engine_set_policy(struct engine *e, struct policy *policy)
{
    struct policy *old = e->policy;
    e->policy = policy;
    if (e->udp) /* UDP sessions are decided again under the new rules */
        udp_engine_set_policy(e->udp, policy);
    policy_unref(old);
    engine_apply_settings(e);
    if (e->accept_paused_by_limit && e->flow_count < e->max_flows) {
        e->accept_paused_by_limit = false;
        listener_resume_all(e);
    }
}

void engine_flow_link(struct engine *e, struct flow *f)
{
    f->prev = NULL;
    f->next = e->flows;
    if (e->flows)
        e->flows->prev = f;
    e->flows = f;
    e->flow_count++;
    if (e->flow_count >= e->max_flows && !e->accept_paused_by_limit) {
        e->accept_paused_by_limit = true;
        e->counters.accept_paused++;
        log_warn("%u flows open, the limit: not accepting until one closes", e->flow_count);
        listener_pause_all(e);
    }
}

void engine_flow_unlink(struct engine *e, struct flow *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        e->flows = f->next;
    if (f->next)
        f->next->prev = f->prev;
    f->next = f->prev = NULL;
    e->flow_count--;
    if (e->accept_paused_by_limit && e->flow_count < e->max_flows) {
        e->accept_paused_by_limit = false;
        listener_resume_all(e);
    }
}
