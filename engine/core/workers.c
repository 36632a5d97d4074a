/*
 * workers.c — the worker threads: made and listening on the main thread,
 * run, called into, handed reloads and stopped. See workers.h.
 *
 * The main thread talks to a worker through three fields under the set's
 * lock (a call, a policy, stop) and the worker's ev_async; the worker takes
 * them in its async callback and answers a call by marking it done and
 * signalling `done`. The worker only ever holds the lock for that moment.
 */
#include "engine/core/workers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/core/log.h"
#include "engine/core/resolve.h"

/* A function the main thread waits on; lives on the caller's stack. */
struct worker_call {
    workers_fn fn;
    void *arg;
    bool done;
};

struct worker {
    struct workers *set;
    struct engine engine;
    struct ev_loop *loop;
    ev_async wake;
    pthread_t thread;
    bool running; /* the thread was started and not joined */
    /* Under set->lock: */
    struct worker_call *call;
    struct policy *policy; /* a reload's policy not taken yet (a reference) */
    bool stop;
};

struct workers {
    struct engine *main;
    unsigned count; /* worker 0 included */
    pthread_mutex_t lock;
    pthread_cond_t done;
    struct worker *w; /* workers 1..count-1 at w[0..count-2] */
};

/* The cores this process may run on: its CPU affinity (taskset, systemd's CPUAffinity=, a
 * container's cpuset), else the online ones. More loops than that would only take turns. */
static unsigned usable_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return (unsigned)CPU_COUNT(&set);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (unsigned)online : 1;
}

unsigned workers_wanted(const struct policy_settings *s)
{
    unsigned n = s->workers ? s->workers : usable_cores();
    return n > POLICY_WORKERS_MAX ? POLICY_WORKERS_MAX : n;
}

unsigned workers_count(const struct engine *main)
{
    return main->workers ? main->workers->count : 1;
}

/* On the worker's thread: whatever the main thread left for it. */
static void wake_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)revents;
    struct worker *w = container_of(a, struct worker, wake);
    struct workers *set = w->set;
    pthread_mutex_lock(&set->lock);
    struct worker_call *call = w->call;
    struct policy *policy = w->policy;
    bool stop = w->stop;
    w->call = NULL;
    w->policy = NULL;
    pthread_mutex_unlock(&set->lock);
    if (policy) {
        engine_set_policy(&w->engine, policy);
        if (engine_sync(&w->engine) < 0)
            log_error("worker %u: out of memory: its listeners still follow the previous policy",
                      w->engine.index);
    }
    if (call) {
        call->fn(&w->engine, call->arg);
        pthread_mutex_lock(&set->lock);
        call->done = true;
        pthread_cond_broadcast(&set->done);
        pthread_mutex_unlock(&set->lock);
    }
    if (stop)
        ev_break(loop, EVBREAK_ALL);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    /* Named for top -H, ps -L and /proc/PID/task/TID/comm: "sy-worker-N". */
    char name[16];
    snprintf(name, sizeof(name), "sy-worker-%u", w->engine.index);
    pthread_setname_np(pthread_self(), name);
    if (resolve_init(w->loop) < 0)
        log_error("worker %u: name resolution could not be set up", w->engine.index);
    ev_run(w->loop, 0);
    engine_fini(&w->engine);
    resolve_fini();
    return NULL;
}

/* Frees what workers_new made for the first `made` workers (threads stopped or never run). */
static void workers_free(struct workers *set, unsigned made)
{
    for (unsigned i = 0; i < made; i++) {
        struct worker *w = &set->w[i];
        if (!w->running)
            engine_fini(&w->engine);
        policy_unref(w->policy);
        ev_async_stop(w->loop, &w->wake);
        ev_loop_destroy(w->loop);
    }
    pthread_cond_destroy(&set->done);
    pthread_mutex_destroy(&set->lock);
    free(set->w);
    set->main->workers = NULL;
    free(set);
}

struct workers *workers_new(struct engine *main, workers_setup_fn setup, int *failed)
{
    if (main->count < 2)
        return NULL;
    struct workers *set = calloc(1, sizeof(*set));
    if (!set || !(set->w = calloc(main->count - 1, sizeof(*set->w)))) {
        log_error("workers: out of memory");
        free(set);
        return NULL;
    }
    set->main = main;
    set->count = main->count;
    pthread_mutex_init(&set->lock, NULL);
    pthread_cond_init(&set->done, NULL);
    main->workers = set;
    for (unsigned i = 0; i + 1 < set->count; i++) {
        struct worker *w = &set->w[i];
        w->set = set;
        w->loop = ev_loop_new(EVFLAG_AUTO);
        if (!w->loop || engine_init_worker(&w->engine, w->loop, policy_ref(main->policy), main,
                                           i + 1, set->count) < 0) {
            log_error("worker %u: cannot set up its event loop", i + 1);
            if (w->loop)
                ev_loop_destroy(w->loop);
            workers_free(set, i);
            return NULL;
        }
        ev_async_init(&w->wake, wake_cb);
        ev_async_start(w->loop, &w->wake);
        int rc = setup(&w->engine);
        int synced = rc < 0 ? rc : engine_sync(&w->engine);
        if (rc < 0 || synced == -ENOMEM) {
            log_error("worker %u: cannot add its stages: %s", i + 1, strerror(-rc));
            workers_free(set, i + 1);
            return NULL;
        }
        *failed += synced;
    }
    return set;
}

int workers_start(struct workers *set)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay the main thread's */
    int rc = 0;
    unsigned started = 0;
    for (; started + 1 < set->count; started++) {
        struct worker *w = &set->w[started];
        rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0)
            break;
        w->running = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("workers: cannot start a thread: %s", strerror(rc));
        for (unsigned i = 0; i < started; i++) {
            struct worker *w = &set->w[i];
            pthread_mutex_lock(&set->lock);
            w->stop = true;
            pthread_mutex_unlock(&set->lock);
            ev_async_send(w->loop, &w->wake);
            pthread_join(w->thread, NULL);
        }
        return -rc;
    }
    return 0;
}

void workers_stop(struct workers *set)
{
    if (!set)
        return;
    for (unsigned i = 0; i + 1 < set->count; i++) {
        struct worker *w = &set->w[i];
        if (!w->running)
            continue;
        pthread_mutex_lock(&set->lock);
        w->stop = true;
        pthread_mutex_unlock(&set->lock);
        ev_async_send(w->loop, &w->wake);
    }
    for (unsigned i = 0; i + 1 < set->count; i++)
        if (set->w[i].running)
            pthread_join(set->w[i].thread, NULL);
    workers_free(set, set->count - 1);
}

void workers_call(struct engine *main, unsigned index, workers_fn fn, void *arg)
{
    struct workers *set = main->workers;
    if (!set || index == 0 || index >= set->count) {
        fn(main, arg);
        return;
    }
    struct worker *w = &set->w[index - 1];
    if (!w->running) {
        fn(&w->engine, arg);
        return;
    }
    struct worker_call call = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&set->lock);
    w->call = &call;
    ev_async_send(w->loop, &w->wake);
    while (!call.done)
        pthread_cond_wait(&set->done, &set->lock);
    pthread_mutex_unlock(&set->lock);
}

void workers_each(struct engine *main, workers_fn fn, void *arg)
{
    for (unsigned i = 0; i < workers_count(main); i++)
        workers_call(main, i, fn, arg);
}

static void add_counters(struct engine *e, void *arg)
{
    engine_counters_add(arg, &e->counters);
}

void workers_sum_counters(struct engine *main, struct engine_counters *sum)
{
    memset(sum, 0, sizeof(*sum));
    workers_each(main, add_counters, sum);
}

void workers_set_policy(struct engine *main, struct policy *policy)
{
    struct workers *set = main->workers;
    if (!set)
        return;
    for (unsigned i = 0; i + 1 < set->count; i++) {
        struct worker *w = &set->w[i];
        pthread_mutex_lock(&set->lock);
        struct policy *older = w->policy;
        w->policy = policy_ref(policy);
        pthread_mutex_unlock(&set->lock);
        policy_unref(older);
        if (w->running) {
            ev_async_send(w->loop, &w->wake);
        } else {
            engine_set_policy(&w->engine, w->policy);
            w->policy = NULL;
            engine_sync(&w->engine);
        }
    }
}
