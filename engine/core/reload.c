/*
 * reload.c — policy reload. See reload.h.
 */
#include "engine/core/reload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/log.h"
#include "engine/core/workers.h"

static bool same_name(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The process switched user once, at start (engine/core/privilege.h); a reload cannot redo it. */
static void warn_user_change(const struct policy_settings *was, const struct policy_settings *now)
{
    if (!same_name(was->user, now->user) || !same_name(was->group, now->group))
        log_warn("reload: user/group changed in the file; that takes effect at the next start");
    if (was->workers != now->workers)
        log_warn("reload: workers changed in the file; that takes effect at the next start");
}

struct policy *reload_policy(struct engine *e)
{
    char error[POLICY_ERROR_MAX];
    return reload_policy_why(e, error);
}

struct policy *reload_policy_why(struct engine *e, char error[POLICY_ERROR_MAX])
{
    char *path = strdup(policy_path(engine_policy(e)));
    error[0] = '\0';
    if (!path) {
        snprintf(error, POLICY_ERROR_MAX, "out of memory");
        log_error("reload: out of memory; keeping the current policy");
        e->counters.reloads_failed++;
        return NULL;
    }
    struct policy *p = policy_load(path, error);
    if (!p) {
        log_error("reload: %s; keeping the current policy", error[0] ? error : path);
        e->counters.reloads_failed++;
        free(path);
        return NULL;
    }
    /* The old policy stays alive (e->previous) until the listeners follow. */
    warn_user_change(policy_settings(engine_policy(e)), policy_settings(p));
    engine_set_policy(e, p);
    int failed = engine_sync(e);
    if (failed < 0) {
        log_error("reload: %s: the listeners could not be reconciled (%s); keeping the current "
                  "policy",
                  path, strerror(-failed));
        snprintf(error, POLICY_ERROR_MAX, "%s: the listeners could not be reconciled (%s)", path,
                 strerror(-failed));
        /* Nothing changed: back to the old policy (`p` is released by the next sync). */
        engine_set_policy(e, policy_ref(e->previous));
        e->counters.reloads_failed++;
        free(path);
        return NULL;
    }
    /* Every other worker follows on its own thread. */
    workers_set_policy(e, p);
    e->counters.reloads++;
    log_info("reload: %s loaded (%zu inbounds%s), %u flows and %u UDP sessions carry on", path,
             policy_inbound_count(p), failed ? ", some could not open" : "", e->first->flows_all,
             e->first->udp_sessions_all);
    free(path);
    return p;
}
