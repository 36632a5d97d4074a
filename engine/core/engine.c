/*
 * engine.c — the run-time context: policy swap, descriptor limit, the stages'
 * hooks, the live objects and their reaper. See engine.h.
 */
#include "engine/core/engine.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "engine/core/log.h"

#define LIMIT_LOG_EVERY_S 10.0 /* a pause at a limit is logged at most this often */
#define LIMIT_RECHECK_S 1.0    /* while paused, RLIMIT_NOFILE is re-read this often */

static void engine_check_limits(struct engine *e);

static void engine_fds_changed(void *ctx)
{
    engine_check_limits(ctx);
}

static void engine_fds_trim(void *ctx, unsigned want)
{
    struct engine *e = ctx;
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->trim)
            e->stages[i].ops->trim(e, e->stages[i].data, want);
}

/* While paused: RLIMIT_NOFILE may have been raised, and with several workers the flows that
 * filled the process's limit may have closed on another worker, which cannot resume this one. */
static void engine_recheck_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct engine *e = container_of(w, struct engine, limit_recheck);
    engine_fds_refresh(e);
    engine_check_limits(e);
}

/* Raises the soft descriptor limit to the hard one; returns the soft limit now in force. */
static unsigned raise_nofile(void)
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
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30) ? 1u << 30
                                                                    : (unsigned)rl.rlim_cur;
}

static void engine_apply_settings(struct engine *e)
{
    const struct policy_settings *s = policy_settings(e->policy);
    if (e->index == 0) {
        log_set_level(s->log_level);
        log_set_format(s->log_format);
        if (log_set_target(s->log_target) < 0)
            log_error("log.target syslog: cannot reach %s: %s; logging to stderr", LOG_SYSLOG_PATH,
                      strerror(errno));
    }
    unsigned nofile = raise_nofile();
    e->max_flows = s->max_flows ? s->max_flows : fd_budget_size_for(nofile) / ENGINE_FDS_PER_FLOW;
    if (e->max_flows == 0)
        e->max_flows = 1;
    e->max_handshakes = s->max_handshakes ? s->max_handshakes : e->max_flows / 8;
    if (e->max_handshakes == 0)
        e->max_handshakes = 1;
    if (e->max_handshakes > e->max_flows)
        e->max_handshakes = e->max_flows;
    fd_budget_set_limit(&e->fds, nofile); /* the limits are set: it may pause or resume */
}

static void engine_reaper_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    engine_reap(container_of(w, struct engine, reaper));
}

int engine_init(struct engine *e, struct ev_loop *loop, struct policy *policy)
{
    return engine_init_worker(e, loop, policy, NULL, 0, 1);
}

int engine_init_worker(struct engine *e, struct ev_loop *loop, struct policy *policy,
                       struct engine *first, unsigned index, unsigned count)
{
    memset(e, 0, sizeof(*e));
    e->loop = loop;
    e->index = index;
    e->count = count ? count : 1;
    e->first = first ? first : e;
    e->fds.pool = &e->first->fds_all;
    e->policy = policy;
    ev_prepare_init(&e->reaper, engine_reaper_cb);
    ev_timer_init(&e->limit_recheck, engine_recheck_cb, LIMIT_RECHECK_S, LIMIT_RECHECK_S);
    e->limit_logged = -LIMIT_LOG_EVERY_S;
    e->fds.trim = engine_fds_trim;
    e->fds.changed = engine_fds_changed;
    e->fds.ctx = e;
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
    /* The stages free what they charged: nothing is paused, trimmed or resumed any more. */
    ev_timer_stop(e->loop, &e->limit_recheck);
    e->fds.trim = NULL;
    e->fds.changed = NULL;
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->free)
            e->stages[i].ops->free(e, e->stages[i].data);
    e->nstages = 0;
    if (e->policy)
        policy_unref(e->policy);
    policy_unref(e->previous);
    e->policy = e->previous = NULL;
    tally_free(&e->tally);
}

void engine_counters_add(struct engine_counters *sum, const struct engine_counters *k)
{
    sum->flows_accepted += k->flows_accepted;
    sum->flows_refused += k->flows_refused;
    sum->flows_closed += k->flows_closed;
    sum->flows_dropped += k->flows_dropped;
    sum->upstream_failed += k->upstream_failed;
    sum->bytes_up += k->bytes_up;
    sum->bytes_down += k->bytes_down;
    sum->udp_bytes_up += k->udp_bytes_up;
    sum->udp_bytes_down += k->udp_bytes_down;
    sum->accept_paused += k->accept_paused;
    sum->reloads += k->reloads;
    sum->reloads_failed += k->reloads_failed;
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

int engine_stage_adopt(struct engine *e, const struct engine_stage_ops *ops, void *data)
{
    if (!data)
        return -ENOMEM;
    int rc = engine_stage_add(e, ops, data);
    if (rc < 0)
        ops->free(e, data);
    return rc;
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

static void engine_resume(struct engine *e)
{
    for (size_t i = 0; i < e->nstages; i++)
        if (e->stages[i].ops->resume)
            e->stages[i].ops->resume(e, e->stages[i].data);
}

/* Whether one more flow would be too many: max_flows, or a budget that cannot
 * carry a busy flow even once idle descriptors are given back. */
static bool engine_full(struct engine *e)
{
    if (e->first->flows_all >= e->max_flows)
        return true;
    fd_budget_trim(&e->fds, ENGINE_FLOW_FDS_BUSY);
    return fd_budget_left(&e->fds) < ENGINE_FLOW_FDS_BUSY;
}

static void engine_log_pause(struct engine *e)
{
    ev_tstamp now = ev_now(e->loop);
    if (now - e->limit_logged < LIMIT_LOG_EVERY_S)
        return;
    e->limit_logged = now;
    unsigned flows = e->first->flows_all;
    if (flows >= e->max_flows)
        log_warn("%u flows open, the limit: not accepting until one closes", flows);
    else
        log_warn("%u descriptors in use, the budget is %u (RLIMIT_NOFILE %u less %u reserved): "
                 "not accepting until some close",
                 (unsigned)e->first->fds_all, e->fds.size, e->fds.limit,
                 e->fds.limit - e->fds.size);
}

/* Pauses or resumes the stages as the flow limit and the budget now allow. */
static void engine_check_limits(struct engine *e)
{
    if (e->checking_limits)
        return;
    e->checking_limits = true;
    bool full = engine_full(e);
    if (full && !e->accept_paused_by_limit) {
        e->accept_paused_by_limit = true;
        e->counters.accept_paused++;
        engine_log_pause(e);
        ev_timer_again(e->loop, &e->limit_recheck);
        engine_pause(e);
    } else if (!full && e->accept_paused_by_limit) {
        e->accept_paused_by_limit = false;
        ev_timer_stop(e->loop, &e->limit_recheck);
        engine_resume(e);
    }
    e->checking_limits = false;
}

void engine_fds_refresh(struct engine *e)
{
    fd_budget_refresh(&e->fds);
}

bool engine_accepting(struct engine *e)
{
    if (e->count > 1)
        engine_check_limits(e); /* another worker may have taken the last flow */
    return !e->accept_paused_by_limit;
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
    engine_check_limits(e);
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
    if (ops->limited) {
        e->flow_count++;
        e->first->flows_all++;
    }
    if (ops->fds)
        fd_budget_charge(&e->fds, ops->fds); /* checks the limits */
    else if (ops->limited)
        engine_check_limits(e);
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
    if (o->ops->limited) {
        e->flow_count--;
        e->first->flows_all--;
    }
    if (o->ops->fds)
        fd_budget_give(&e->fds, o->ops->fds); /* checks the limits */
    else if (o->ops->limited)
        engine_check_limits(e);
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
