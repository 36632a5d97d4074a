/*
 * fuzz_control_ws_handshake.c — the WebSocket handshake checks
 * (control_ws_decide, with its token-list reading of Upgrade and Connection)
 * and the accept key over arbitrary header values: the input is split at
 * NUL bytes into method, Upgrade, Connection, version and key. Any input
 * gives one of the four verdicts; an upgrade has a key that hashes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/control/control_ws_handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *field[5] = {NULL, NULL, NULL, NULL, NULL};
    char *p = buf;
    for (size_t i = 0; i < 5 && p <= buf + size; i++) {
        field[i] = p;
        p += strlen(p) + 1;
    }
    enum control_ws_verdict v = control_ws_decide(field[0], field[1], field[2], field[3], field[4]);
    if (v != CONTROL_WS_PLAIN && v != CONTROL_WS_UPGRADE && v != CONTROL_WS_BAD &&
        v != CONTROL_WS_BAD_VERSION)
        __builtin_trap();
    char out[CONTROL_WS_ACCEPT_LEN + 1];
    if (v == CONTROL_WS_UPGRADE &&
        (control_ws_accept_key(field[4], out) != 0 || strlen(out) != CONTROL_WS_ACCEPT_LEN))
        __builtin_trap();
    free(buf);
    return 0;
}
