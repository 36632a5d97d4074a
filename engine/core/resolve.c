/*
 * resolve.c — asynchronous getaddrinfo for the loop. See resolve.h.
 *
 * Each query is a gaicb submitted with getaddrinfo_a(GAI_NOWAIT). glibc
 * completes it on its own thread and calls notify() there; notify only marks
 * the query done and wakes the loop with ev_async_send (async-signal and
 * thread safe). The loop-side callback then walks the pending list, hands
 * results to the callers and frees finished queries. A cancelled query that
 * glibc is already working on stays in the list, without a callback, until
 * glibc says it is done.
 */
#include "engine/core/resolve.h"

#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct resolve_query {
    struct gaicb cb_req; /* must stay put while glibc owns it */
    struct addrinfo hints;
    char port[8];
    char *host;
    resolve_cb cb;
    void *arg;
    int done;      /* set by glibc's thread (atomically) */
    int cancelled; /* loop thread only */
    struct resolve_query *next;
};

static struct ev_loop *resolve_loop;
static ev_async resolve_async;
static struct resolve_query *pending;

static void query_free(struct resolve_query *q)
{
    if (q->cb_req.ar_result)
        freeaddrinfo(q->cb_req.ar_result);
    free(q->host);
    free(q);
}

static void notify(union sigval v)
{
    struct resolve_query *q = v.sival_ptr;
    __atomic_store_n(&q->done, 1, __ATOMIC_RELEASE);
    ev_async_send(resolve_loop, &resolve_async);
}

static const struct addrinfo *pick(const struct addrinfo *list)
{
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET)
            return ai;
    return list;
}

static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    struct resolve_query **link = &pending;
    while (*link) {
        struct resolve_query *q = *link;
        if (!__atomic_load_n(&q->done, __ATOMIC_ACQUIRE)) {
            link = &q->next;
            continue;
        }
        *link = q->next;
        if (!q->cancelled) {
            int err = gai_error(&q->cb_req);
            struct flow_addr addr;
            const struct addrinfo *ai = err == 0 ? pick(q->cb_req.ar_result) : NULL;
            if (ai && flow_addr_from_sockaddr(&addr, ai->ai_addr))
                q->cb(q->arg, 0, &addr);
            else
                q->cb(q->arg, err ? err : EAI_NONAME, NULL);
        }
        query_free(q);
    }
}

int resolve_init(struct ev_loop *loop)
{
    resolve_loop = loop;
    ev_async_init(&resolve_async, async_cb);
    ev_async_start(loop, &resolve_async);
    ev_unref(loop); /* a pending lookup alone does not keep the loop running */
    return 0;
}

void resolve_fini(void)
{
    struct resolve_query **link = &pending;
    while (*link) {
        struct resolve_query *q = *link;
        if (__atomic_load_n(&q->done, __ATOMIC_ACQUIRE) || gai_cancel(&q->cb_req) == EAI_CANCELED) {
            *link = q->next;
            query_free(q);
        } else {
            link = &q->next; /* glibc still owns it; the process is ending */
        }
    }
    if (resolve_loop) {
        ev_ref(resolve_loop);
        ev_async_stop(resolve_loop, &resolve_async);
    }
}

struct resolve_query *resolve_start(const char *host, uint16_t port, resolve_cb cb, void *arg)
{
    struct resolve_query *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->host = strdup(host);
    if (!q->host) {
        free(q);
        return NULL;
    }
    snprintf(q->port, sizeof(q->port), "%u", port);
    q->hints.ai_socktype = SOCK_STREAM;
    q->hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
    q->cb_req.ar_name = q->host;
    q->cb_req.ar_service = q->port;
    q->cb_req.ar_request = &q->hints;
    q->cb = cb;
    q->arg = arg;

    struct gaicb *list[1] = {&q->cb_req};
    struct sigevent sev;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = notify;
    sev.sigev_value.sival_ptr = q;
    if (getaddrinfo_a(GAI_NOWAIT, list, 1, &sev) != 0) {
        query_free(q);
        return NULL;
    }
    q->next = pending;
    pending = q;
    return q;
}

void resolve_cancel(struct resolve_query *q)
{
    q->cancelled = 1;
    if (__atomic_load_n(&q->done, __ATOMIC_ACQUIRE))
        return; /* the async callback frees it */
    if (gai_cancel(&q->cb_req) != EAI_CANCELED)
        return; /* running: freed once glibc is done */
    for (struct resolve_query **link = &pending; *link; link = &(*link)->next) {
        if (*link == q) {
            *link = q->next;
            break;
        }
    }
    query_free(q);
}
