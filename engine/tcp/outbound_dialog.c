/*
 * outbound_dialog.c — an upstream dialog's end handed to its flow. See
 * outbound_dialog.h.
 */
#include "engine/tcp/outbound_dialog.h"

#include "engine/core/engine.h"

static const enum flow_fail flow_fail_of[] = {
    [UPSTREAM_FAIL_GENERAL] = FLOW_FAIL_GENERAL,
    [UPSTREAM_FAIL_DENIED] = FLOW_FAIL_DENIED,
    [UPSTREAM_FAIL_UNREACHABLE] = FLOW_FAIL_UNREACHABLE,
    [UPSTREAM_FAIL_REFUSED] = FLOW_FAIL_REFUSED,
    [UPSTREAM_FAIL_TIMEOUT] = FLOW_FAIL_TIMEOUT,
};

static void dialog_ready(void *ctx, const uint8_t *extra, size_t len)
{
    flow_upstream_ready(ctx, extra, len);
}

static void dialog_failed(void *ctx, enum upstream_fail fail, const char *reason)
{
    flow_upstream_failed(ctx, flow_fail_of[fail], reason);
}

const struct upstream_dialog_cbs outbound_dialog_cbs = {
    .ready = dialog_ready,
    .failed = dialog_failed,
};

struct ev_loop *outbound_dialog_loop(const struct flow *f)
{
    return f->engine->loop;
}
