/*
 * client_dialog.h — the client side of an explicit-proxy handshake (http and
 * socks5 inbounds): read the client's request as it arrives, answer it, and
 * hand the flow its destination. The protocol logic stays in the inbound;
 * this keeps the buffer, the watcher and the handshake timer (the client
 * must finish its request within timeouts.connect_ms) in one place.
 *
 * The dialog lives in `f->inbound_state`; the inbound's flow_client_ops.free
 * calls client_dialog_free().
 */
#ifndef SWITCHYARD_CLIENT_DIALOG_H
#define SWITCHYARD_CLIENT_DIALOG_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tcp/flow.h"
#include "engine/proto/proto_http.h"

struct client_dialog;

/* New bytes are in `d->in[0..in_len)`. May end the dialog or close the flow. */
typedef void (*client_dialog_input_fn)(struct client_dialog *d);

struct client_dialog {
    struct flow *f;
    ev_io io;
    ev_timer timer;
    client_dialog_input_fn on_input;
    int step;        /* the inbound's own state machine */
    bool is_connect; /* http: a CONNECT tunnel (the reply differs) */
    /* The inbound's credentials, copied at accept: a reload may free the
     * policy they came from while the client is still talking. */
    bool auth_required;
    char username[256], password[256];
    uint8_t in[HTTP_HEAD_MAX];
    size_t in_len;
};

/*
 * Attaches a dialog to `f` (as f->inbound_state, with `ops` as
 * f->client_ops) for a client of `inbound`, and starts reading. Returns -1
 * when out of memory (the flow is closed then).
 */
int client_dialog_start(struct flow *f, const struct policy_inbound *inbound,
                        const struct flow_client_ops *ops, client_dialog_input_fn on_input);

/* Sends a short reply during the handshake; -1 when the client cannot take it. */
int client_dialog_reply(struct client_dialog *d, const void *data, size_t len);

/* Drops the first `n` bytes of `d->in`. */
void client_dialog_consume(struct client_dialog *d, size_t n);

/*
 * The request named its destination (already set on the flow): stops the
 * dialog's watchers and starts the flow with `extra` as its first upstream
 * bytes. The flow may be closed on return.
 */
void client_dialog_finish(struct client_dialog *d, const uint8_t *extra, size_t len);

/* flow_client_ops.free: stops the watchers and frees the dialog. */
void client_dialog_free(struct flow *f);

#endif
