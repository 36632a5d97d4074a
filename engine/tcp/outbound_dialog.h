/*
 * outbound_dialog.h — how a TCP outbound's handshake (engine/proto's upstream
 * dialog, the SOCKS5 client) reports to its flow: the dialog callbacks here
 * take the flow as their context and end the handshake through
 * flow_upstream_ready() / flow_upstream_failed() (engine/tcp/outbound.h).
 */
#ifndef SWITCHYARD_OUTBOUND_DIALOG_H
#define SWITCHYARD_OUTBOUND_DIALOG_H

#include "engine/proto/upstream_dialog.h"
#include "engine/tcp/flow.h"

/* Dialog callbacks whose `ctx` is the flow (struct flow *). */
extern const struct upstream_dialog_cbs outbound_dialog_cbs;

/* The loop the flow's handshake runs on. */
struct ev_loop *outbound_dialog_loop(const struct flow *f);

#endif
