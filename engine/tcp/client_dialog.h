/*
 * client_dialog.h — the client side of an explicit-proxy handshake (http and
 * socks5 inbounds): read the client's request as it arrives, answer it, and
 * hand the flow its destination. The protocol logic stays in the inbound;
 * this keeps the buffer, the reading and the handshake timer (the client
 * must finish its request within timeouts.connect_ms) in one place.
 *
 * The dialog counts toward limits.max_handshakes (engine/tcp/tcp_stage.h)
 * from client_dialog_accept() until client_dialog_finish(), a close, or its
 * free, whichever comes first.
 *
 * The dialog lives in `f->inbound_state` and watches with the flow's own
 * `client_io` and `timer`, so closing the flow stops it; the inbound's
 * flow_client_ops.free is client_dialog_free(), which the core's reaper
 * calls once the flow is closed.
 *
 * The inbound's input callback ends each path with what became of the
 * dialog: CLIENT_DIALOG_MORE (wait for more bytes), or the status returned by
 * client_dialog_finish() (the flow starts), client_dialog_close() or
 * client_dialog_reset() (the flow ends). Only these end the dialog.
 *
 * Logins (socks5 RFC 1929, http Basic) go through client_dialog_login():
 * one comparison in constant time, one log line per failure, and the reply
 * held back from a source that failed recently (engine/tcp/auth_failures.h).
 */
#ifndef SWITCHYARD_CLIENT_DIALOG_H
#define SWITCHYARD_CLIENT_DIALOG_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tcp/flow.h"
#include "engine/proto/proto_http.h"

struct client_dialog;

enum client_dialog_status {
    CLIENT_DIALOG_MORE,   /* the request is not complete yet: read on */
    CLIENT_DIALOG_DONE,   /* the destination is set and the flow started */
    CLIENT_DIALOG_CLOSED, /* the flow was closed */
};

/* New bytes are in `d->in[0..in_len)`. Says what became of the dialog (above). */
typedef enum client_dialog_status (*client_dialog_input_fn)(struct client_dialog *d);

/* Answers a login the client sent: `ok` says whether its credentials matched. */
typedef enum client_dialog_status (*client_dialog_login_fn)(struct client_dialog *d, bool ok);

/* Longest inbound username or password (the policy's bound, RFC 1929's). */
#define CLIENT_DIALOG_CREDENTIAL_MAX 255

struct client_dialog {
    struct flow *f;
    client_dialog_input_fn on_input;
    int step;        /* the inbound's own state machine */
    bool is_connect; /* http: a CONNECT tunnel (the reply differs) */
    bool counted;    /* in the TCP stage's handshake count (tcp_stage.h) until it is over */
    /* The inbound's credentials, copied at accept: a reload may free the
     * policy they came from while the client is still talking. */
    bool auth_required;
    uint8_t username[CLIENT_DIALOG_CREDENTIAL_MAX]; /* zero-padded */
    uint8_t password[CLIENT_DIALOG_CREDENTIAL_MAX];
    size_t username_len, password_len;
    client_dialog_login_fn login_answer; /* a login whose reply waits */
    bool login_ok;
    uint8_t in[HTTP_HEAD_MAX];
    size_t in_len;
};

struct listener;

/*
 * inbound_ops.accept of an explicit-proxy inbound: makes the flow of the
 * client `fd` (from `peer`) accepted by `l`, attaches a dialog to it (as
 * f->inbound_state, with `ops` as f->client_ops) for a client of
 * l->inbound, and starts reading. Out of memory, the flow is not made or is
 * reset at once.
 */
void client_dialog_accept(struct listener *l, int fd, const struct flow_addr *peer,
                          const struct flow_client_ops *ops, client_dialog_input_fn on_input);

/* Sends a short reply during the handshake; -1 when the client cannot take it. */
int client_dialog_reply(struct client_dialog *d, const void *data, size_t len);

/*
 * The client sent a username and password (`user`, `pass`: bytes, any
 * length): compares them with the inbound's in constant time. A failure is
 * logged at info (the inbound, the client's address, the username's length
 * only) and counted against the client's address. When that address failed
 * recently, nothing is read and the answer waits (the loop runs on; the wait
 * grows with each failure, auth_failures.h), right and wrong alike; then
 * `answer` runs with the verdict, as an input callback would, and when it
 * returns CLIENT_DIALOG_MORE over bytes already read, the input callback
 * runs on them. Returns what `answer` returned, or CLIENT_DIALOG_MORE while
 * it waits. `user` and `pass` may point into `d->in`.
 */
enum client_dialog_status client_dialog_login(struct client_dialog *d, const void *user,
                                              size_t user_len, const void *pass, size_t pass_len,
                                              client_dialog_login_fn answer);

/* Drops the first `n` bytes of `d->in`. */
void client_dialog_consume(struct client_dialog *d, size_t n);

/*
 * The request named its destination (already set on the flow): stops
 * reading and starts the flow with `extra` as its first upstream bytes.
 * Returns CLIENT_DIALOG_DONE (the flow may have closed since, see flow_start).
 */
enum client_dialog_status client_dialog_finish(struct client_dialog *d, const uint8_t *extra,
                                               size_t len);

/* Ends the flow with `reason` in its close line; returns CLIENT_DIALOG_CLOSED. */
enum client_dialog_status client_dialog_close(struct client_dialog *d, const char *reason);

/* Like client_dialog_close, with a reset for the client (malformed requests). */
enum client_dialog_status client_dialog_reset(struct client_dialog *d, const char *reason);

/* flow_client_ops.free: frees the dialog (the reaper calls it). */
void client_dialog_free(struct flow *f);

#endif
