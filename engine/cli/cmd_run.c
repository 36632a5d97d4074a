/*
 * cmd_run.c — `switchyard run -c FILE`: the daemon, in the foreground.
 *
 * Loads the policy, adds the stages to the engine (TCP: engine/tcp/tcp_stage.h; UDP:
 * engine/udp/udp_stage.h) and opens the listeners of every inbound, then runs the loop until
 * SIGTERM or SIGINT.
 * With `user:` in the policy it then runs as that user (engine/core/privilege.h).
 * The control API and metrics (engine/control/control.h) run on the same loop when the policy
 * has a `control` section.
 * SIGHUP reloads the policy (engine/core/reload.h). Logs go to stderr; a supervisor (systemd, a
 * shell) decides where they end up.
 * With `workers:` above 1 (by default, one per online core) the TCP and UDP stages also run on
 * that many more threads (engine/core/workers.h): their listeners are opened before the user
 * switch, their threads started after it.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "engine/cli/cli.h"
#include "engine/control/control.h"
#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/privilege.h"
#include "engine/core/reload.h"
#include "engine/core/resolve.h"
#include "engine/core/workers.h"
#include "engine/nfq/nfq_stage.h"
#include "engine/tcp/tcp_stage.h"
#include "engine/tun/tun_stage.h"
#include "engine/udp/udp_stage.h"
#include "rules/util.h"

struct run {
    struct engine engine;
    ev_signal sighup, sigterm, sigint;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: switchyard run -c FILE\n"
                 "\n"
                 "Runs the proxy in the foreground with the policy in FILE, logging to stderr.\n"
                 "  SIGHUP          reload FILE (a bad file keeps the current policy)\n"
                 "  SIGTERM, SIGINT stop: close the listeners and every flow, then exit\n"
                 "\n"
                 "  -c, --config FILE   the policy file\n"
                 "  -h, --help          this text\n");
}

static void on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    log_info("signal %d: stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

static void on_hup(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct run *run = container_of(w, struct run, sighup);
    log_info("SIGHUP: reloading %s", policy_path(engine_policy(&run->engine)));
    reload_policy(&run->engine);
}

/*
 * With `user:` in the policy, becomes that user now that the listeners are
 * open (before any lookup starts a resolver thread). -1 after the error line.
 */
static int switch_user(const struct policy *policy)
{
    char message[512];
    switch (privilege_switch(policy_settings(policy), message, sizeof(message))) {
    case PRIVILEGE_FAILED:
        log_error("%s; stopping", message);
        return -1;
    case PRIVILEGE_SWITCHED:
        log_info("%s", message);
        break;
    case PRIVILEGE_ALREADY_USER:
        log_warn("%s", message);
        break;
    case PRIVILEGE_UNCHANGED:
        break;
    }
    return 0;
}

/* What workers 1..N-1 run: the stages of the socket inbounds. */
static int worker_setup(struct engine *e)
{
    int rc = tcp_stage_add(e);
    return rc < 0 ? rc : udp_stage_add(e);
}

int cmd_run(int argc, char **argv)
{
    struct policy *policy = NULL;
    int status = cli_config_policy(argc, argv, usage, &policy);
    if (status != CLI_GO_ON)
        return status;

    /* Writes to a closed peer are errors returned by send/splice, not signals. */
    signal(SIGPIPE, SIG_IGN);

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    struct run run;
    memset(&run, 0, sizeof(run));
    unsigned workers = workers_wanted(policy_settings(policy));
    if (!loop || engine_init_worker(&run.engine, loop, policy, NULL, 0, workers) < 0) {
        fprintf(stderr, "switchyard: cannot set up the event loop\n");
        policy_unref(policy);
        return CLI_RUNTIME;
    }
    resolve_init(loop);
    /* From here on, log lines that stderr cannot take at once wait for it in the loop. */
    log_attach(loop);

    /* Every stage is always there, so a reload can add inbounds of any type. The tun
     * stage comes first: its devices exist before the listeners bound to them. */
    int failed = (tun_stage_add(&run.engine) < 0) + (tcp_stage_add(&run.engine) < 0) +
                 (udp_stage_add(&run.engine) < 0) + (control_stage_add(&run.engine) < 0) +
                 (nfq_stage_add(&run.engine) < 0);
    int synced = engine_sync(&run.engine);
    failed += synced < 0 ? (int)policy_inbound_count(policy) : synced;
    struct workers *others = NULL;
    if (!failed && workers > 1 && !(others = workers_new(&run.engine, worker_setup, &failed)))
        failed++;
    status = CLI_OK;
    if (failed) {
        log_error("%d inbound(s) could not be opened; stopping", failed);
        status = CLI_RUNTIME;
    } else if (switch_user(policy) < 0) {
        status = CLI_RUNTIME;
    } else if (others && workers_start(others) < 0) {
        status = CLI_RUNTIME;
    } else {
        log_info("switchyard %s running with %s (%zu inbounds, %u worker%s, up to %u TCP flows)",
                 SWITCHYARD_VERSION, policy_path(policy), policy_inbound_count(policy), workers,
                 workers == 1 ? "" : "s", run.engine.max_flows);
        ev_signal_init(&run.sighup, on_hup, SIGHUP);
        ev_signal_init(&run.sigterm, on_stop, SIGTERM);
        ev_signal_init(&run.sigint, on_stop, SIGINT);
        ev_signal_start(loop, &run.sighup);
        ev_signal_start(loop, &run.sigterm);
        ev_signal_start(loop, &run.sigint);
        ev_run(loop, 0);
        ev_signal_stop(loop, &run.sighup);
        ev_signal_stop(loop, &run.sigterm);
        ev_signal_stop(loop, &run.sigint);
        struct engine_counters sum;
        workers_sum_counters(&run.engine, &sum);
        log_info("stopped: %llu flows accepted, %llu refused, %llu bytes up, %llu bytes down",
                 (unsigned long long)sum.flows_accepted, (unsigned long long)sum.flows_refused,
                 (unsigned long long)sum.bytes_up, (unsigned long long)sum.bytes_down);
    }
    workers_stop(others);
    engine_fini(&run.engine);
    resolve_fini();
    log_detach(500);
    ev_loop_destroy(loop);
    return status;
}
