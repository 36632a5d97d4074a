/*
 * outbound_udp_socks5.c — UDP through a SOCKS5 server's UDP ASSOCIATE
 * (RFC 1928 section 7).
 */
#include <errno.h>

#include "engine/udp_session.h"

static int socks5_open(struct udp_session *s)
{
    (void)s;
    return -ENOTSUP;
}

static int socks5_send(struct udp_session *s, const uint8_t *buf, size_t len)
{
    (void)s;
    (void)buf;
    (void)len;
    return -ENOTSUP;
}

static void socks5_close(struct udp_session *s)
{
    (void)s;
}

const struct udp_outbound_ops udp_outbound_socks5 = {
    .type = OUTBOUND_SOCKS5,
    .open = socks5_open,
    .send = socks5_send,
    .close = socks5_close,
};
