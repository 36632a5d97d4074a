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
 *
 * Sizes: a pipe is made with the kernel's default size (16 slots, 64 KiB).
 * A direction that carries a stream asks for its pipe to be grown to 1 MiB
 * (pipe_pool_grow): each splice then moves up to 256 slots instead of 16,
 * fewer calls for the same bytes. Grown pipes stay grown when pooled. Only
 * `large_max` grown pipes exist at once (in use or idle): a pipe's slots
 * count against the user's fs.pipe-user-pages-soft (64 MiB by default),
 * and once that is passed the kernel makes every new pipe of the user with
 * two slots. When the kernel refuses to grow a pipe (EPERM: that limit is
 * reached), the pool stops asking.
 */
#ifndef SWITCHYARD_PIPE_POOL_H
#define SWITCHYARD_PIPE_POOL_H

#include <stddef.h>
#include <stdint.h>

struct fd_budget;
struct pipe_pool;

/* Descriptors one pipe holds (and charges). */
#define PIPE_POOL_FDS 2

/* Bytes a new pipe holds (the kernel's default), and a grown one. */
#define PIPE_POOL_SIZE 65536
#define PIPE_POOL_LARGE_SIZE (1 << 20)

/* One pipe: its read end fd[0], its write end fd[1] (both -1: none held), its size in bytes. */
struct pipe_pool_pipe {
    int fd[2];
    size_t size;
};

struct pipe_pool_stats {
    uint64_t created; /* pipe2 calls that succeeded */
    uint64_t reused;  /* gets served from the pool */
    uint64_t closed;  /* pipes closed (pool full, or not empty) */
    uint64_t trimmed; /* idle pipes closed because the budget ran low */
    uint64_t refused; /* new pipes the budget could not give */
    uint64_t grown;   /* pipes grown to PIPE_POOL_LARGE_SIZE */
    size_t idle;      /* pipes in the pool now */
    size_t cap;       /* the most it keeps idle */
    size_t large;     /* grown pipes open now, in use or idle */
};

/*
 * A pool keeping at most `cap` idle pipes, with at most `large_max` grown
 * pipes open at once, charging every pipe it makes to `budget` (borrowed;
 * NULL: uncounted). NULL when out of memory.
 */
struct pipe_pool *pipe_pool_new(size_t cap, size_t large_max, struct fd_budget *budget);

/* Closes every idle pipe and frees the pool (NULL allowed). */
void pipe_pool_free(struct pipe_pool *pool);

/* Fills `p` with an empty pipe; returns 0, or -errno (-EMFILE when the budget cannot
 * give a new pipe, or pipe2's error; `p` then holds none). */
int pipe_pool_get(struct pipe_pool *pool, struct pipe_pool_pipe *p);

/* Grows `p` (held, empty or not) to PIPE_POOL_LARGE_SIZE when it is smaller and the
 * pool may have one more grown pipe; `p->size` says what it is after. */
void pipe_pool_grow(struct pipe_pool *pool, struct pipe_pool_pipe *p);

/* Returns a pipe; `empty` false (bytes left in it) closes it. `p` then holds none;
 * a no-op when it held none. */
void pipe_pool_put(struct pipe_pool *pool, struct pipe_pool_pipe *p, int empty);

/* Closes idle pipes until about `want` descriptors are given back, or none is idle. */
void pipe_pool_trim(struct pipe_pool *pool, unsigned want);

void pipe_pool_stats(const struct pipe_pool *pool, struct pipe_pool_stats *out);

#endif
