/*
 * tcp_stage.c — the TCP stage's hooks and shared state. See tcp_stage.h.
 */
#include "engine/tcp/tcp_stage.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/core/lru_table.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/pipe_pool.h"
#include "engine/tcp/auth_failures.h"
#include "engine/tcp/silent_dst.h"

/* Idle pipes kept in the process (64 KiB each: all of them together are fs.pipe-user-pages-soft's
 * default, past which an unprivileged user's new pipes get one page). Split between the workers. */
#define TCP_PIPE_POOL_CAP 1024
/* Pipes grown for streams in the process, 1 MiB each: a quarter of
 * fs.pipe-user-pages-soft's default. Split between the workers' pools. */
#define TCP_PIPE_POOL_LARGE 16
#define TCP_SILENT_DST_CAP 4096    /* about 100 bytes each */
#define TCP_AUTH_FAILURES_CAP 4096 /* about 100 bytes each */

static void tcp_pause(struct engine *e, void *data)
{
    (void)data;
    listener_pause_all(e);
}

static void tcp_resume(struct engine *e, void *data)
{
    (void)data;
    listener_resume_all(e);
}

static void tcp_trim(struct engine *e, void *data, unsigned want)
{
    (void)e;
    struct tcp_stage *t = data;
    pipe_pool_trim(t->pipes, want);
}

static void tcp_backoff(struct engine *e, void *data, int err)
{
    (void)data;
    listener_backoff_all(e, err);
}

static void tcp_stage_free(struct tcp_stage *t)
{
    pipe_pool_free(t->pipes);
    if (!t->borrowed) {
        lru_table_free(t->silent);
        lru_table_free(t->auth_failures);
    }
    free(t);
}

static void tcp_free(struct engine *e, void *data)
{
    (void)e;
    tcp_stage_free(data);
}

static const struct engine_stage_ops tcp_stage_ops = {
    .name = "tcp",
    .listen = &listener_tcp_listen_ops,
    .pause = tcp_pause,
    .resume = tcp_resume,
    .trim = tcp_trim,
    .backoff = tcp_backoff,
    .free = tcp_free,
};

/* A stage with its pool and tables, or NULL when out of memory. */
static struct tcp_stage *tcp_stage_new(struct engine *e)
{
    struct tcp_stage *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->pipes = pipe_pool_new(engine_share(e, TCP_PIPE_POOL_CAP),
                             engine_share(e, TCP_PIPE_POOL_LARGE), &e->fds);
    /* What clients did is the same whichever worker their next connection reaches. */
    struct tcp_stage *first = e->first != e ? tcp_stage_of(e->first) : NULL;
    t->borrowed = first != NULL;
    t->first = first ? first : t;
    t->silent = first ? first->silent : silent_dst_new(TCP_SILENT_DST_CAP);
    t->auth_failures = first ? first->auth_failures : auth_failures_new(TCP_AUTH_FAILURES_CAP);
    if (!t->pipes || !t->silent || !t->auth_failures) {
        tcp_stage_free(t);
        return NULL;
    }
    return t;
}

int tcp_stage_add(struct engine *e)
{
    return engine_stage_adopt(e, &tcp_stage_ops, tcp_stage_new(e));
}

struct tcp_stage *tcp_stage_of(const struct engine *e)
{
    return engine_stage_data(e, &tcp_stage_ops);
}

void tcp_stage_handshake_begin(struct tcp_stage *t)
{
    t->first->handshakes++;
}

void tcp_stage_handshake_end(struct tcp_stage *t)
{
    unsigned n = t->first->handshakes;
    while (n > 0 && !atomic_compare_exchange_weak(&t->first->handshakes, &n, n - 1))
        ;
}

bool tcp_stage_handshakes_full(struct tcp_stage *t, const struct engine *e)
{
    struct tcp_stage *f = t->first;
    unsigned n = f->handshakes;
    if (n < e->max_handshakes) {
        f->handshakes_logged = false;
        return false;
    }
    if (!atomic_exchange(&f->handshakes_logged, true))
        log_warn("%u explicit-proxy handshakes under way, the limit (limits.max_handshakes): "
                 "refusing new connections on the http and socks5 inbounds until one finishes",
                 n);
    return true;
}
