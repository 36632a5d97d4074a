/*
 * outbound_udp_drop.c — the `drop` outbound for UDP: the session stays (so
 * the client's retries are recognised and dropped cheaply) and every
 * datagram is discarded and counted.
 */
#include "engine/udp/udp_outbound.h"
#include "engine/udp/udp_session.h"

static int drop_connect(struct udp_session *s)
{
    (void)s;
    return 0;
}

static int drop_send(struct udp_session *s, const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    udp_session_dropped(s);
    return 0;
}

const struct udp_outbound_ops udp_outbound_drop_ops = {
    .type = OUTBOUND_DROP,
    .connect = drop_connect,
    .send = drop_send,
};
