/*
 * client_dialog.h — the client side of an explicit-proxy handshake (http and
 * socks5 inbounds): read the client's request as it arrives, answer it, and
 * hand the flow its destination. The protocol logic stays in the inbound;
 * this keeps the buffer, the reading and the handshake timer (the client
 * must finish its request within timeouts.connect_ms) in one place.
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

struct client_dialog {
    struct flow *f;
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
 * f->client_ops) for a client of `inbound`, and starts reading. Returns
 * CLIENT_DIALOG_MORE, or CLIENT_DIALOG_CLOSED when out of memory.
 */
enum client_dialog_status client_dialog_start(struct flow *f, const struct policy_inbound *inbound,
                                              const struct flow_client_ops *ops,
                                              client_dialog_input_fn on_input);

/* Sends a short reply during the handshake; -1 when the client cannot take it. */
int client_dialog_reply(struct client_dialog *d, const void *data, size_t len);

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
