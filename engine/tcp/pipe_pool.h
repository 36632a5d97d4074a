/*
 * pipe_pool.h — a pool of empty non-blocking pipes for splice(2) relays.
 *
 * Creating a pipe is two descriptors and a syscall per flow direction; a
 * pool keeps empty pipes from closed flows for the next ones, up to a cap.
 * Only empty pipes may go back: a pipe with bytes left in it is closed.
 */
#ifndef SWITCHYARD_PIPE_POOL_H
#define SWITCHYARD_PIPE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct pipe_pool;

struct pipe_pool_stats {
    uint64_t created; /* pipe2 calls that succeeded */
    uint64_t reused;  /* gets served from the pool */
    uint64_t closed;  /* pipes closed (pool full, or not empty) */
    size_t idle;      /* pipes in the pool now */
};

/* A pool keeping at most `cap` idle pipes. NULL when out of memory. */
struct pipe_pool *pipe_pool_new(size_t cap);

/* Closes every idle pipe and frees the pool (NULL allowed). */
void pipe_pool_free(struct pipe_pool *pool);

/* Fills `fds` ([0] read end, [1] write end); returns 0, or -errno (EMFILE...). */
int pipe_pool_get(struct pipe_pool *pool, int fds[2]);

/* Returns a pipe; `empty` false (bytes left in it) closes it. Sets fds to -1. */
void pipe_pool_put(struct pipe_pool *pool, int fds[2], int empty);

void pipe_pool_stats(const struct pipe_pool *pool, struct pipe_pool_stats *out);

#endif
