/*
 * client_dialog.c — request I/O for explicit-proxy inbounds. See
 * client_dialog.h.
 */
#include "engine/tcp/client_dialog.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "engine/core/engine.h"
#include "engine/core/log.h"
#include "engine/tcp/auth_failures.h"
#include "engine/tcp/listener.h"
#include "engine/tcp/tcp_stage.h"

/* The handshake is over (the request was answered, or the flow closed): out of the count. */
static void handshake_over(struct client_dialog *d)
{
    if (!d->counted)
        return;
    d->counted = false;
    tcp_stage_handshake_end(d->f->tcp);
}

static void client_readable_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, client_io);
    struct client_dialog *d = f->inbound_state;
    if (d->in_len == sizeof(d->in)) {
        client_dialog_reset(d, "client request too long");
        return;
    }
    ssize_t n = recv(f->client_fd, d->in + d->in_len, sizeof(d->in) - d->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_dialog_close(d, n == 0 ? "client closed during handshake" : "client receive failed");
        return;
    }
    d->in_len += (size_t)n;
    d->on_input(d); /* whatever it returns, this callback is over */
}

static void client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, timer);
    client_dialog_reset(f->inbound_state, "client handshake timeout");
}

/* Reads the client's request, within timeouts.connect_ms. */
static void client_dialog_watch(struct client_dialog *d)
{
    struct flow *f = d->f;
    struct engine *e = f->engine;
    ev_io_start(e->loop, &f->client_io);
    ev_timer_init(&f->timer, client_timeout_cb, engine_settings(e)->connect_timeout_ms / 1000.0, 0);
    ev_timer_start(e->loop, &f->timer);
}

/* Keeps an inbound credential zero-padded to its bound, the way login compares it. */
static void credential_copy(uint8_t out[CLIENT_DIALOG_CREDENTIAL_MAX], size_t *len,
                            const char *value)
{
    size_t n = strlen(value);
    *len = n < CLIENT_DIALOG_CREDENTIAL_MAX ? n : CLIENT_DIALOG_CREDENTIAL_MAX;
    memcpy(out, value, *len);
}

void client_dialog_accept(struct listener *l, int fd, const struct flow_addr *peer,
                          const struct flow_client_ops *ops, client_dialog_input_fn on_input)
{
    struct flow *f = flow_new(l, fd, peer);
    if (!f)
        return;
    const struct policy_inbound *inbound = &l->inbound;
    struct client_dialog *d = calloc(1, sizeof(*d));
    if (!d) {
        flow_reset(f, "out of memory");
        return;
    }
    d->f = f;
    d->on_input = on_input;
    if (inbound->username) {
        d->auth_required = true;
        credential_copy(d->username, &d->username_len, inbound->username);
        credential_copy(d->password, &d->password_len, inbound->password ? inbound->password : "");
    }
    f->client_ops = ops;
    f->inbound_state = d;
    d->counted = true;
    tcp_stage_handshake_begin(f->tcp);
    ev_set_cb(&f->client_io, client_readable_cb);
    client_dialog_watch(d);
}

/*
 * Whether `got` is the credential `want` (zero-padded to its bound). The
 * whole bound is compared, and the lengths apart, so the time taken says
 * nothing of where they differ or how long the right one is.
 */
static bool credential_equal(const uint8_t want[CLIENT_DIALOG_CREDENTIAL_MAX], size_t want_len,
                             const void *got, size_t got_len)
{
    uint8_t padded[CLIENT_DIALOG_CREDENTIAL_MAX] = {0};
    memcpy(padded, got, got_len < sizeof(padded) ? got_len : sizeof(padded));
    return (CRYPTO_memcmp(padded, want, sizeof(padded)) | (got_len != want_len)) == 0;
}

static void login_delayed_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct flow *f = container_of(w, struct flow, timer);
    struct client_dialog *d = f->inbound_state;
    client_dialog_watch(d);
    if (d->login_answer(d, d->login_ok) == CLIENT_DIALOG_MORE && d->in_len > 0)
        d->on_input(d);
}

enum client_dialog_status client_dialog_login(struct client_dialog *d, const void *user,
                                              size_t user_len, const void *pass, size_t pass_len,
                                              client_dialog_login_fn answer)
{
    struct flow *f = d->f;
    struct ev_loop *loop = f->engine->loop;
    /* Both are compared whatever the first says: no short-circuit to time. */
    bool user_ok = credential_equal(d->username, d->username_len, user, user_len);
    bool pass_ok = credential_equal(d->password, d->password_len, pass, pass_len);
    bool ok = user_ok && pass_ok;

    struct lru_table *failures = f->tcp->auth_failures;
    double delay = auth_failures_delay(failures, &f->src, ev_now(loop));
    if (ok) {
        auth_failures_clear(failures, &f->src);
    } else {
        char src[FLOW_ADDR_TEXT_MAX];
        log_info("%s inbound %s: login failed from %s (username of %zu bytes)",
                 policy_inbound_type_name(f->inbound_type), f->inbound,
                 flow_addr_format(&f->src, src), user_len);
        auth_failures_add(failures, &f->src, ev_now(loop));
    }
    if (delay <= 0)
        return answer(d, ok);

    d->login_answer = answer;
    d->login_ok = ok;
    ev_io_stop(loop, &f->client_io);
    ev_timer_stop(loop, &f->timer);
    ev_timer_init(&f->timer, login_delayed_cb, delay, 0);
    ev_timer_start(loop, &f->timer);
    return CLIENT_DIALOG_MORE;
}

int client_dialog_reply(struct client_dialog *d, const void *data, size_t len)
{
    /* Handshake replies are a few bytes on a fresh socket: they fit its buffer. */
    ssize_t n = send(d->f->client_fd, data, len, MSG_NOSIGNAL);
    return n == (ssize_t)len ? 0 : -1;
}

void client_dialog_consume(struct client_dialog *d, size_t n)
{
    memmove(d->in, d->in + n, d->in_len - n);
    d->in_len -= n;
}

enum client_dialog_status client_dialog_finish(struct client_dialog *d, const uint8_t *extra,
                                               size_t len)
{
    struct flow *f = d->f;
    ev_io_stop(f->engine->loop, &f->client_io);
    ev_timer_stop(f->engine->loop, &f->timer);
    handshake_over(d);
    flow_start(f, extra, len);
    return CLIENT_DIALOG_DONE;
}

enum client_dialog_status client_dialog_close(struct client_dialog *d, const char *reason)
{
    handshake_over(d);
    flow_close(d->f, reason);
    return CLIENT_DIALOG_CLOSED;
}

enum client_dialog_status client_dialog_reset(struct client_dialog *d, const char *reason)
{
    handshake_over(d);
    flow_reset(d->f, reason);
    return CLIENT_DIALOG_CLOSED;
}

void client_dialog_free(struct flow *f)
{
    if (f->inbound_state)
        handshake_over(f->inbound_state);
    free(f->inbound_state);
    f->inbound_state = NULL;
}
