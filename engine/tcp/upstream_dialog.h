/*
 * upstream_dialog.h — the byte shuffling every outbound handshake needs
 * (SOCKS5, HTTP CONNECT): send a small request on the upstream socket, read
 * the reply as it arrives, and end the handshake either way. The protocol
 * logic stays in the outbound; this keeps the buffers, the watcher and the
 * hand-over to the flow in one place.
 *
 * The dialog lives in `f->outbound_state`; the outbound's handshake_free
 * hook calls upstream_dialog_free().
 */
#ifndef SWITCHYARD_UPSTREAM_DIALOG_H
#define SWITCHYARD_UPSTREAM_DIALOG_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tcp/flow.h"

#define UPSTREAM_DIALOG_OUT_MAX 1024
#define UPSTREAM_DIALOG_IN_MAX 8192

struct upstream_dialog;

/*
 * Called when bytes arrived (all of `d->in[0..in_len)` so far) and every
 * queued request byte has been sent. Returns with more requests queued, with
 * nothing (wait for more bytes), or after ending the dialog with
 * upstream_dialog_ready() / upstream_dialog_failed().
 */
typedef void (*upstream_dialog_input_fn)(struct upstream_dialog *d);

struct upstream_dialog {
    struct flow *f;
    ev_io io;
    upstream_dialog_input_fn on_input;
    int step; /* the outbound's own state machine */
    uint8_t out[UPSTREAM_DIALOG_OUT_MAX];
    size_t out_len, out_off;
    uint8_t in[UPSTREAM_DIALOG_IN_MAX];
    size_t in_len;
};

/* Allocates the dialog as `f->outbound_state`; NULL when out of memory. */
struct upstream_dialog *upstream_dialog_new(struct flow *f, upstream_dialog_input_fn on_input);

/* Queues a request and watches the socket until it is sent. Returns 0, -1 when too large. */
int upstream_dialog_send(struct upstream_dialog *d, const void *data, size_t len);

/* Drops the first `n` bytes of `d->in` (a reply that was handled). */
void upstream_dialog_consume(struct upstream_dialog *d, size_t n);

/* Hands the flow to the relay; bytes still in `d->in` go to the client. Frees `d`. */
void upstream_dialog_ready(struct upstream_dialog *d);

/* Ends the flow with `reason` in its log line. Frees `d`. */
void upstream_dialog_failed(struct upstream_dialog *d, enum flow_fail fail, const char *reason);

/* The handshake_free hook: stops the watcher and frees `f->outbound_state`. */
void upstream_dialog_free(struct flow *f);

#endif
