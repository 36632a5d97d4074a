/*
 * engine.c — the run-time context: policy swap, descriptor limit, the stages'
 * hooks, the live objects and their reaper. See engine.h.
 */
#include "engine/core/engine.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/core/log.h"

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

static void engine_reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    engine_reap(container_of(w, struct engine, reaper));
}

int engine_init(struct engine *e, struct ev_loop *loop, struct policy *policy)
{
    memset(e, 0, sizeof(*e));
    e->loop = loop;
    e->policy = policy;
    ev_prepare_init(&e->reaper, engine_reaper_cb);
    engine_apply_settings(e);
    return 0;
}

void engine_fini(struct engine *e)
{
    engine_unlisten_all(e);
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->shutdown)
            e->stages[i].ops->shutdown(e, e->stages[i].data);
    while (e->live)
        engine_live_close(e->live, "shutdown");
    engine_reap(e);
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->free)
            e->stages[i].ops->free(e, e->stages[i].data);
    e->nstages = 0;
    if (e->policy)
        policy_unref(e->policy);
    policy_unref(e->previous);
    e->policy = e->previous = NULL;
}

/* --- stages ----------------------------------------------------------------------- */

int engine_stage_add(struct engine *e, const struct engine_stage_ops *ops, void *data)
{
    if (e->nstages == ENGINE_STAGES_MAX)
        return -ENOSPC;
    e->stages[e->nstages].ops = ops;
    e->stages[e->nstages].data = data;
    e->nstages++;
    return 0;
}

void *engine_stage_data(const struct engine *e, const struct engine_stage_ops *ops)
{
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops == ops)
            return e->stages[i].data;
    return NULL;
}

void engine_backoff(struct engine *e, int err)
{
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->backoff)
            e->stages[i].ops->backoff(e, e->stages[i].data, err);
}

static void engine_pause(struct engine *e)
{
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->pause)
            e->stages[i].ops->pause(e, e->stages[i].data);
}

static void engine_resume_below_limit(struct engine *e)
{
    if (!e->accept_paused_by_limit || e->flow_count >= e->max_flows)
        return;
    e->accept_paused_by_limit = false;
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->resume)
            e->stages[i].ops->resume(e, e->stages[i].data);
}

void engine_set_policy(struct engine *e, struct policy *policy)
{
    struct policy *older = e->previous; /* set twice without a sync: nothing reads it */
    e->previous = e->policy;
    e->policy = policy;
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->policy_changed)
            e->stages[i].ops->policy_changed(e, e->stages[i].data);
    policy_unref(older);
    engine_apply_settings(e);
    engine_resume_below_limit(e);
}

/* --- live objects ------------------------------------------------------------------ */

void engine_live_add(struct engine *e, struct engine_live *o, const struct engine_live_ops *ops)
{
    o->engine = e;
    o->ops = ops;
    o->closed = false;
    o->prev = NULL;
    o->next = e->live;
    if (e->live)
        e->live->prev = o;
    e->live = o;
    if (!ops->limited)
        return;
    e->flow_count++;
    if (e->flow_count >= e->max_flows && !e->accept_paused_by_limit) {
        e->accept_paused_by_limit = true;
        e->counters.accept_paused++;
        log_warn("%u flows open, the limit: not accepting until one closes", e->flow_count);
        engine_pause(e);
    }
}

static void engine_live_unlink(struct engine *e, struct engine_live *o)
{
    if (o->prev)
        o->prev->next = o->next;
    else
        e->live = o->next;
    if (o->next)
        o->next->prev = o->prev;
    o->next = o->prev = NULL;
    if (!o->ops->limited)
        return;
    e->flow_count--;
    engine_resume_below_limit(e);
}

void engine_live_close(struct engine_live *o, const char *reason)
{
    if (o->closed)
        return;
    struct engine *e = o->engine;
    o->closed = true;
    o->ops->close(o, reason);
    engine_live_unlink(e, o);
    o->next = e->dead;
    e->dead = o;
    if (!ev_is_active(&e->reaper))
        ev_prepare_start(e->loop, &e->reaper);
}

void engine_reap(struct engine *e)
{
    ev_prepare_stop(e->loop, &e->reaper);
    while (e->dead) {
        struct engine_live *o = e->dead;
        e->dead = o->next;
        o->ops->free(o);
    }
}
