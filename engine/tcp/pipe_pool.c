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
    struct fd_budget *budget;
    int (*fds)[2];
    struct pipe_pool_stats stats;
};

static void pipe_close(struct pipe_pool *pool, const int fds[2])
{
    close(fds[0]);
    close(fds[1]);
    if (pool->budget)
        fd_budget_give(pool->budget, PIPE_POOL_FDS);
}

struct pipe_pool *pipe_pool_new(size_t cap, struct fd_budget *budget)
{
    struct pipe_pool *pool = calloc(1, sizeof(*pool));
    if (!pool)
        return NULL;
    pool->cap = cap;
    pool->budget = budget;
    if (cap > 0) {
        pool->fds = calloc(cap, sizeof(*pool->fds));
        if (!pool->fds) {
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
        pipe_close(pool, pool->fds[i]);
    free(pool->fds);
    free(pool);
}

int pipe_pool_get(struct pipe_pool *pool, int fds[2])
{
    if (pool->count > 0) {
        pool->count--;
        fds[0] = pool->fds[pool->count][0];
        fds[1] = pool->fds[pool->count][1];
        pool->stats.reused++;
        return 0;
    }
    fds[0] = fds[1] = -1;
    if (pool->budget && !fd_budget_take(pool->budget, PIPE_POOL_FDS)) {
        pool->stats.refused++;
        return -EMFILE;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        int err = errno;
        fds[0] = fds[1] = -1;
        if (pool->budget)
            fd_budget_give(pool->budget, PIPE_POOL_FDS);
        return -err;
    }
    pool->stats.created++;
    return 0;
}

void pipe_pool_put(struct pipe_pool *pool, int fds[2], int empty)
{
    if (fds[0] < 0)
        return;
    if (empty && pool->count < pool->cap) {
        pool->fds[pool->count][0] = fds[0];
        pool->fds[pool->count][1] = fds[1];
        pool->count++;
    } else {
        pipe_close(pool, fds);
        pool->stats.closed++;
    }
    fds[0] = fds[1] = -1;
}

void pipe_pool_trim(struct pipe_pool *pool, unsigned want)
{
    unsigned given = 0;
    while (pool->count > 0 && given < want) {
        pool->count--;
        pipe_close(pool, pool->fds[pool->count]);
        pool->stats.trimmed++;
        given += PIPE_POOL_FDS;
    }
}

void pipe_pool_stats(const struct pipe_pool *pool, struct pipe_pool_stats *out)
{
    *out = pool->stats;
    out->idle = pool->count;
}
