/*
 * workers.h — more than one event loop: `workers: N` in the policy (by
 * default the cores it may run on) runs N engines, each on its own thread with its
 * own libev loop, all deciding under the one policy (never written once
 * loaded; reference-counted atomically).
 *
 * Worker 0 is the main thread's engine and keeps everything it has alone
 * (the control plane, tun devices, the NFQUEUE stage, signals, reloads).
 * Workers 1..N-1 run the stages the caller's setup adds (TCP and UDP) and
 * listen on the socket inbounds (redirect, tproxy, udp-redirect, http,
 * socks5) with SO_REUSEPORT, as worker 0 does then: the kernel spreads new
 * connections over them, and the datagrams of one client 4-tuple always
 * reach the same socket, so a UDP session stays on the worker that made it.
 *
 * What crosses threads, and how:
 * - workers_call(): the main thread runs a function on a worker's thread and
 *   waits for it (a mutex, a condition variable, the worker's ev_async);
 *   the control plane reads every worker's counters, tallies and live
 *   flows this way, race-free. A worker never waits on the main thread.
 * - workers_set_policy(): a reload hands the new policy to every worker,
 *   which makes it current and reconciles its listeners on its own thread.
 * - log lines: engine/core/log.h.
 *
 * The listeners of workers 1..N-1 are opened by workers_new() on the main
 * thread, before the privilege switch (a reuseport group takes sockets of
 * one user only); the threads start after it (workers_start()), with the
 * capabilities it kept.
 */
#ifndef SWITCHYARD_WORKERS_H
#define SWITCHYARD_WORKERS_H

#include "engine/core/engine.h"

struct workers;

/* Adds a worker's stages to `e` (the TCP and UDP stages); returns 0 or -errno. */
typedef int (*workers_setup_fn)(struct engine *e);

/* Runs on a worker's thread with that worker's engine. */
typedef void (*workers_fn)(struct engine *e, void *arg);

/*
 * The number of workers the policy asks for: `workers:`, or when it is not
 * set the cores the process may run on (its CPU affinity, else the online
 * cores); at least 1, at most POLICY_WORKERS_MAX.
 */
unsigned workers_wanted(const struct policy_settings *s);

/*
 * Makes workers 1..count-1 beside `main` (worker 0, made with
 * engine_init_worker(.., 0, count)): each an engine around a loop of its own
 * with main's policy, the stages `setup` adds, and its listeners opened
 * (engine_sync()), all on the calling thread; no thread starts yet. Sets
 * main->workers. Returns the set, or NULL when one could not be made (each
 * failure logged, nothing left behind). A listener that cannot be opened is
 * counted into *failed (as engine_sync() counts).
 */
struct workers *workers_new(struct engine *main, workers_setup_fn setup, int *failed);

/* Starts every worker's thread (signals blocked there). Returns 0, or -errno (none started). */
int workers_start(struct workers *w);

/*
 * Stops every worker: its loop breaks, its engine is shut down on its own
 * thread (listeners closed, flows and sessions closed and freed), the
 * thread joined; then frees the set and clears main->workers. NULL: nothing.
 */
void workers_stop(struct workers *w);

/* Workers in the process, worker 0 included (1 when `main` has none). */
unsigned workers_count(const struct engine *main);

/*
 * Runs fn(engine of worker `index`, arg) on that worker's thread and returns
 * when it has: for the main thread only. Worker 0 (and any worker whose
 * thread is not running) is called directly.
 */
void workers_call(struct engine *main, unsigned index, workers_fn fn, void *arg);

/* workers_call() for every worker in turn, 0 first. */
void workers_each(struct engine *main, workers_fn fn, void *arg);

/* Every worker's engine_counters added up into `sum` (through workers_call()). */
void workers_sum_counters(struct engine *main, struct engine_counters *sum);

/*
 * A reload made `policy` current on worker 0: every other worker takes a
 * reference and, on its own thread, makes it current (engine_set_policy())
 * and reconciles its listeners (engine_sync()). Returns at once; a worker
 * that has not taken the previous one yet takes the newest only.
 */
void workers_set_policy(struct engine *main, struct policy *policy);

#endif
