/*
 * pipe_pool.c — a stack of idle, empty pipes. See pipe_pool.h.
 */
#include "engine/tcp/pipe_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/core/fd_budget.h"

struct pipe_pool {
    size_t cap, count;
    size_t large, large_max; /* grown pipes open, and how many may be */
    struct fd_budget *budget;
    struct pipe_pool_pipe *idle;
    struct pipe_pool_stats stats;
};

static void pipe_none(struct pipe_pool_pipe *p)
{
    p->fd[0] = p->fd[1] = -1;
    p->size = 0;
}

static void pipe_close(struct pipe_pool *pool, const struct pipe_pool_pipe *p)
{
    close(p->fd[0]);
    close(p->fd[1]);
    if (p->size > PIPE_POOL_SIZE)
        pool->large--;
    if (pool->budget)
        fd_budget_give(pool->budget, PIPE_POOL_FDS);
}

struct pipe_pool *pipe_pool_new(size_t cap, size_t large_max, struct fd_budget *budget)
{
    struct pipe_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->cap = cap;
    pool->large_max = large_max;
    pool->budget = budget;
    if (cap > 0) {
        pool->idle = calloc(cap, sizeof(*pool->idle));
        if (!pool->idle) {
            free(pool);
            return NULL;
        }
    }
    return pool;
}

void pipe_pool_free(struct pipe_pool *pool)
{
    if (!pool)
        return;
    for (size_t i = 0; i < pool->count; i++)
        pipe_close(pool, &pool->idle[i]);
    free(pool->idle);
    free(pool);
}

int pipe_pool_get(struct pipe_pool *pool, struct pipe_pool_pipe *p)
{
    if (pool->count > 0) {
        *p = pool->idle[--pool->count];
        pool->stats.reused++;
        return 0;
    }
    pipe_none(p);
    if (pool->budget && !fd_budget_take(pool->budget, PIPE_POOL_FDS)) {
        pool->stats.refused++;
        return -EMFILE;
    }
    if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) < 0) {
        int err = errno;
        pipe_none(p);
        if (pool->budget)
            fd_budget_give(pool->budget, PIPE_POOL_FDS);
        return -err;
    }
    p->size = PIPE_POOL_SIZE;
    pool->stats.created++;
    return 0;
}

void pipe_pool_grow(struct pipe_pool *pool, struct pipe_pool_pipe *p)
{
    if (p->size >= PIPE_POOL_LARGE_SIZE || pool->large >= pool->large_max)
        return;
    if (fcntl(p->fd[1], F_SETPIPE_SZ, PIPE_POOL_LARGE_SIZE) < 0) {
        /* EPERM: the user's pipe pages are used up (or the size is over
         * fs.pipe-max-size); asking again for each chunk would only fail again. */
        pool->large_max = pool->large;
        return;
    }
    p->size = PIPE_POOL_LARGE_SIZE;
    pool->large++;
    pool->stats.grown++;
}

void pipe_pool_put(struct pipe_pool *pool, struct pipe_pool_pipe *p, int empty)
{
    if (p->fd[0] < 0)
        return;
    if (empty && pool->count < pool->cap) {
        pool->idle[pool->count++] = *p;
    } else {
        pipe_close(pool, p);
        pool->stats.closed++;
    }
    pipe_none(p);
}

void pipe_pool_trim(struct pipe_pool *pool, unsigned want)
{
    unsigned given = 0;
    while (pool->count > 0 && given < want) {
        pipe_close(pool, &pool->idle[--pool->count]);
        pool->stats.trimmed++;
        given += PIPE_POOL_FDS;
    }
}

void pipe_pool_stats(const struct pipe_pool *pool, struct pipe_pool_stats *out)
{
    *out = pool->stats;
    out->idle = pool->count;
    out->cap = pool->cap;
    out->large = pool->large;
}
