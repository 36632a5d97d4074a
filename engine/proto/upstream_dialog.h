/*
 * upstream_dialog.h — the byte shuffling every client handshake with a proxy
 * server needs (SOCKS5, HTTP CONNECT): send small requests on a stream
 * socket, read the replies as they arrive, and end the handshake either way.
 * The protocol logic stays in the protocol (engine/proto/socks5_client.h, the
 * http outbound); this keeps the bounded buffers and the watcher in one place.
 *
 * It knows nothing of flows or sessions: it takes a loop, a non-blocking
 * socket and two callbacks. The TCP outbounds hand the result to their flow
 * (engine/tcp/outbound_dialog.h), the UDP socks5 outbound to its session.
 *
 * Ending: the protocol's input hook returns what happened (more to wait for,
 * done, failed); only the dialog then calls the owner's `ready` or `failed`,
 * once, from the loop (never from a call the owner made), with its watcher
 * stopped, and touches nothing afterwards: the owner may free the dialog
 * inside either callback.
 */
#ifndef SWITCHYARD_UPSTREAM_DIALOG_H
#define SWITCHYARD_UPSTREAM_DIALOG_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/parse.h"

#define UPSTREAM_DIALOG_OUT_MAX 1024
#define UPSTREAM_DIALOG_IN_MAX 8192

/* Why a handshake failed, as far as the server said (the owner maps it to its reply). */
enum upstream_fail {
    UPSTREAM_FAIL_GENERAL,     /* anything else, including I/O errors and bad replies */
    UPSTREAM_FAIL_DENIED,      /* the server's rules refused (SOCKS5 REP 2, HTTP 403) */
    UPSTREAM_FAIL_UNREACHABLE, /* SOCKS5 REP 3 / 4 */
    UPSTREAM_FAIL_REFUSED,     /* SOCKS5 REP 5 */
    UPSTREAM_FAIL_TIMEOUT,     /* SOCKS5 REP 6, HTTP 504 */
};

/* What the protocol's input hook made of the bytes so far. */
enum upstream_step {
    UPSTREAM_MORE,   /* wait: for more bytes, or for queued requests to be sent */
    UPSTREAM_DONE,   /* the handshake succeeded; unread bytes in `in` belong to the origin */
    UPSTREAM_FAILED, /* upstream_dialog_fail() said why */
};

struct upstream_dialog;

/*
 * The protocol's hook: called when bytes arrived (all of `d->in[0..in_len)`
 * not consumed yet) and every queued request byte has been sent. It may
 * consume replies and queue requests. Never frees the dialog.
 */
typedef enum upstream_step (*upstream_dialog_input_fn)(struct upstream_dialog *d);

/* The owner's side; `ctx` is the pointer given to upstream_dialog_init(). */
struct upstream_dialog_cbs {
    /* Succeeded; `extra` holds `len` bytes read past the last reply (copy them). */
    void (*ready)(void *ctx, const uint8_t *extra, size_t len);
    /* Failed; `reason` is one short phrase for a log line. */
    void (*failed)(void *ctx, enum upstream_fail fail, const char *reason);
};

struct upstream_dialog {
    struct ev_loop *loop;
    int fd;
    ev_io io;
    upstream_dialog_input_fn on_input;
    const struct upstream_dialog_cbs *cbs;
    void *ctx;
    enum upstream_fail fail;
    char reason[128];
    uint8_t out[UPSTREAM_DIALOG_OUT_MAX];
    size_t out_len, out_off;
    uint8_t in[UPSTREAM_DIALOG_IN_MAX];
    size_t in_len;
};

/*
 * Sets `d` up on `fd` (non-blocking stream socket, connected or with its
 * connect in progress: the first request waits for it). Nothing is watched
 * until the first upstream_dialog_send(). The dialog never closes `fd`.
 */
void upstream_dialog_init(struct upstream_dialog *d, struct ev_loop *loop, int fd,
                          upstream_dialog_input_fn on_input, const struct upstream_dialog_cbs *cbs,
                          void *ctx);

/* Queues a request and watches the socket until it is sent. Returns 0, -1 when too large. */
int upstream_dialog_send(struct upstream_dialog *d, const void *data, size_t len);

/* Drops the first `n` bytes of `d->in` (a reply that was handled). */
void upstream_dialog_consume(struct upstream_dialog *d, size_t n);

/* For the input hook: records why it failed; returns UPSTREAM_FAILED for it to return. */
enum upstream_step upstream_dialog_fail(struct upstream_dialog *d, enum upstream_fail fail,
                                        const char *reason);

/*
 * For the input hook, when a reply's parse is not PARSE_DONE: UPSTREAM_MORE
 * for PARSE_NEED_MORE (wait for more bytes), otherwise the dialog fails
 * with UPSTREAM_FAIL_GENERAL and `malformed` as its reason.
 */
enum upstream_step upstream_dialog_unparsed(struct upstream_dialog *d, enum parse_result r,
                                            const char *malformed);

/* Stops watching (the owner frees the memory; call before that). */
void upstream_dialog_stop(struct upstream_dialog *d);

#endif
