/*
 * control_ws_handshake.h — the WebSocket opening handshake of RFC 6455,
 * section 4.2, on the server's side: whether a request asks for an upgrade
 * and may have it, and the Sec-WebSocket-Accept value that answers its key.
 * Pure: no socket, no HTTP library; control.c hands it the header values.
 */
#ifndef SWITCHYARD_CONTROL_WS_HANDSHAKE_H
#define SWITCHYARD_CONTROL_WS_HANDSHAKE_H

/* Characters of a Sec-WebSocket-Accept value (base64 of a SHA-1), without the terminator. */
#define CONTROL_WS_ACCEPT_LEN 28

enum control_ws_verdict {
    CONTROL_WS_PLAIN,       /* no `Upgrade: websocket`: an ordinary HTTP request */
    CONTROL_WS_UPGRADE,     /* a valid opening handshake: answer 101 */
    CONTROL_WS_BAD,         /* asks for WebSocket, but is not a valid handshake: 400 */
    CONTROL_WS_BAD_VERSION, /* Sec-WebSocket-Version is not 13: 426 with the version we speak */
};

/*
 * Decides what to do with a request from its method and header values
 * (NULL when absent): `upgrade` and `connection` are comma-separated token
 * lists compared without case ("keep-alive, Upgrade"); `key` must be the
 * base64 of 16 bytes.
 */
enum control_ws_verdict control_ws_decide(const char *method, const char *upgrade,
                                          const char *connection, const char *version,
                                          const char *key);

/*
 * Writes the Sec-WebSocket-Accept value for `key` (base64 of the SHA-1 of
 * the key followed by RFC 6455's GUID) into `out`, terminated. Returns 0,
 * or -1 when the key is too long to be a valid one.
 */
int control_ws_accept_key(const char *key, char out[CONTROL_WS_ACCEPT_LEN + 1]);

#endif
