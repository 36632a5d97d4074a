/*
 * fd_budget.c — counting the descriptors the stages hold. See fd_budget.h.
 */
#include "engine/core/fd_budget.h"

#include <sys/resource.h>

static void changed(struct fd_budget *b)
{
    if (b->changed)
        b->changed(b->ctx);
}

unsigned fd_budget_size_for(unsigned limit)
{
    return limit > FD_BUDGET_RESERVED * 2 ? limit - FD_BUDGET_RESERVED : limit / 2;
}

void fd_budget_set_limit(struct fd_budget *b, unsigned limit)
{
    if (limit == b->limit)
        return;
    b->limit = limit;
    b->size = fd_budget_size_for(limit);
    changed(b);
}

void fd_budget_refresh(struct fd_budget *b)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t cur =
        rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 30) ? (1u << 30) : rl.rlim_cur;
    fd_budget_set_limit(b, (unsigned)cur);
}

/* What is charged: the process's count when the budget shares one, else its own. */
static unsigned charged(const struct fd_budget *b)
{
    return b->pool ? *b->pool : b->used;
}

unsigned fd_budget_left(const struct fd_budget *b)
{
    unsigned used = charged(b);
    return used < b->size ? b->size - used : 0;
}

void fd_budget_trim(struct fd_budget *b, unsigned want)
{
    unsigned left = fd_budget_left(b);
    if (left < want && b->trim)
        b->trim(b->ctx, want - left);
}

bool fd_budget_take(struct fd_budget *b, unsigned n)
{
    fd_budget_trim(b, n);
    if (fd_budget_left(b) < n)
        return false;
    fd_budget_charge(b, n);
    return true;
}

void fd_budget_charge(struct fd_budget *b, unsigned n)
{
    b->used += n;
    if (b->pool)
        *b->pool += n;
    changed(b);
}

void fd_budget_give(struct fd_budget *b, unsigned n)
{
    unsigned given = n < b->used ? n : b->used;
    b->used -= given;
    if (b->pool)
        *b->pool -= given;
    changed(b);
}
