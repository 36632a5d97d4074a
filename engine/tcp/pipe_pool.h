/*
 * pipe_pool.h — a pool of empty non-blocking pipes for splice(2) relays.
 *
 * Creating a pipe is two descriptors and a syscall per flow direction; a
 * pool keeps empty pipes from closed flows for the next ones, up to a cap.
 * Only empty pipes may go back: a pipe with bytes left in it is closed.
 *
 * Every pipe the pool makes is charged to a descriptor budget
 * (engine/core/fd_budget.h) until it is closed, idle in the pool or not:
 * a new pipe is made only when the budget gives its two descriptors (after
 * asking its owner to trim), and pipe_pool_trim() closes idle ones when
 * the budget runs low.
 */
#ifndef SWITCHYARD_PIPE_POOL_H
#define SWITCHYARD_PIPE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct fd_budget;
struct pipe_pool;

/* Descriptors one pipe holds (and charges). */
#define PIPE_POOL_FDS 2

struct pipe_pool_stats {
    uint64_t created; /* pipe2 calls that succeeded */
    uint64_t reused;  /* gets served from the pool */
    uint64_t closed;  /* pipes closed (pool full, or not empty) */
    uint64_t trimmed; /* idle pipes closed because the budget ran low */
    uint64_t refused; /* new pipes the budget could not give */
    size_t idle;      /* pipes in the pool now */
};

/*
 * A pool keeping at most `cap` idle pipes, charging every pipe it makes to
 * `budget` (borrowed; NULL: uncounted). NULL when out of memory.
 */
struct pipe_pool *pipe_pool_new(size_t cap, struct fd_budget *budget);

/* Closes every idle pipe and frees the pool (NULL allowed). */
void pipe_pool_free(struct pipe_pool *pool);

/* Fills `fds` ([0] read end, [1] write end); returns 0, or -errno (-EMFILE when the
 * budget cannot give a new pipe, or pipe2's error). */
int pipe_pool_get(struct pipe_pool *pool, int fds[2]);

/* Returns a pipe; `empty` false (bytes left in it) closes it. Sets fds to -1. */
void pipe_pool_put(struct pipe_pool *pool, int fds[2], int empty);

/* Closes idle pipes until about `want` descriptors are given back, or none is idle. */
void pipe_pool_trim(struct pipe_pool *pool, unsigned want);

void pipe_pool_stats(const struct pipe_pool *pool, struct pipe_pool_stats *out);

#endif
