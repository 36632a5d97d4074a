/*
 * socks5_client.h — the client side of a SOCKS5 handshake (RFC 1928, with
 * RFC 1929 username/password) on an upstream dialog: the greeting, the
 * authentication when the server picks it, and one request, CONNECT (to an
 * address or a host name) or UDP ASSOCIATE. The socks5 outbound (TCP) and
 * the UDP socks5 outbound both use it; the server's bound address in the
 * reply (BND.ADDR / BND.PORT: the UDP relay for UDP ASSOCIATE) is kept for
 * the owner to read from its `ready` callback.
 *
 * Every message is built when the client is made, so a name or credential
 * that cannot be sent is refused before a byte goes out, and the client
 * keeps no pointer into the caller's configuration.
 */
#ifndef SWITCHYARD_SOCKS5_CLIENT_H
#define SWITCHYARD_SOCKS5_CLIENT_H

#include <ev.h>

#include "engine/proto/proto_socks5.h"
#include "engine/proto/upstream_dialog.h"

struct socks5_client_request {
    enum socks5_cmd cmd; /* SOCKS5_CMD_CONNECT or SOCKS5_CMD_UDP_ASSOCIATE */
    /* CONNECT: the destination. UDP ASSOCIATE: where the datagrams will come
     * from (0.0.0.0:0, or [::]:0, when not known yet). */
    struct socks5_addr dst;
    const char *username; /* NULL: offer no authentication */
    const char *password; /* NULL: empty */
};

struct socks5_client;

/*
 * Starts a handshake on `fd` (non-blocking stream socket to the server,
 * connected or connecting) and queues the greeting; `cbs` are called as
 * upstream_dialog.h says, with `ctx`. A failure's kind follows the reply
 * code (REP 2 denied, 3/4 unreachable, 5 refused, 6 timeout). Returns NULL
 * with `*reason` set when the request cannot be sent (a name or credential
 * too long, no destination) or memory is short.
 */
struct socks5_client *socks5_client_new(struct ev_loop *loop, int fd,
                                        const struct socks5_client_request *req,
                                        const struct upstream_dialog_cbs *cbs, void *ctx,
                                        const char **reason);

/* The reply's BND.ADDR / BND.PORT; meaningful once `ready` was called. */
const struct socks5_addr *socks5_client_bound(const struct socks5_client *c);

/* Stops the client and frees it (not `fd`); also from inside its callbacks. NULL is fine. */
void socks5_client_free(struct socks5_client *c);

#endif
