/*
 * dialog_outcome.h — what a proxy client's handshake reported through its
 * upstream_dialog_cbs (engine/proto/upstream_dialog.h): how many times it
 * ended ready or failed, how, and the bytes that came past the reply. The
 * callbacks of test_upstream_dialog.c and test_socks5_client.c record here,
 * then free their own handshake object, as an owner may. Included after
 * cmocka.h.
 */
#ifndef SWITCHYARD_TEST_DIALOG_OUTCOME_H
#define SWITCHYARD_TEST_DIALOG_OUTCOME_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ev.h>

#include "engine/proto/upstream_dialog.h"

struct dialog_outcome {
    int ready, failed;
    enum upstream_fail fail;
    char reason[128];
    uint8_t extra[64];
    size_t extra_len;
};

/* Records a `ready` callback and the `len` bytes past the reply. */
static inline void dialog_outcome_ready(struct dialog_outcome *o, const uint8_t *extra, size_t len)
{
    o->ready++;
    assert_true(len <= sizeof(o->extra));
    memcpy(o->extra, extra, len);
    o->extra_len = len;
}

/* Records a `failed` callback. */
static inline void dialog_outcome_failed(struct dialog_outcome *o, enum upstream_fail fail,
                                         const char *reason)
{
    o->failed++;
    o->fail = fail;
    snprintf(o->reason, sizeof(o->reason), "%s", reason);
}

/* Runs `loop` a few rounds without waiting. */
static inline void dialog_pump(struct ev_loop *loop)
{
    for (int i = 0; i < 8; i++)
        ev_run(loop, EVRUN_NOWAIT);
}

#endif
