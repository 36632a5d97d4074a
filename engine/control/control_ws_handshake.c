/*
 * control_ws_handshake.c — the server's side of the WebSocket opening
 * handshake (RFC 6455, 4.2.1 and 4.2.2): the checks on the client's request
 * and the accept key, with libcrypto's SHA-1 and base64. See
 * control_ws_handshake.h.
 */
#include "engine/control/control_ws_handshake.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* RFC 6455, 1.3: appended to the client's key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* Bytes a client's nonce has (4.1: a randomly selected 16-byte value, base64-encoded). */
#define WS_NONCE_BYTES 16
#define WS_KEY_LEN 24

/* True when the comma-separated `list` holds `token` (spaces around items ignored, any case). */
static bool has_token(const char *list, const char *token)
{
    size_t want = strlen(token);
    for (const char *p = list; p && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t end = n;
        while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t'))
            end--;
        if (end == want && strncasecmp(p, token, want) == 0)
            return true;
        p += n;
    }
    return false;
}

/* The key is base64 of exactly 16 bytes: 22 characters of the alphabet and "==". */
static bool key_valid(const char *key)
{
    unsigned char raw[WS_KEY_LEN];
    if (!key || strlen(key) != WS_KEY_LEN || strcmp(key + WS_KEY_LEN - 2, "==") != 0)
        return false;
    /* EVP_DecodeBlock counts the two padding characters as zero bytes: 18 = 16 + 2. */
    return EVP_DecodeBlock(raw, (const unsigned char *)key, WS_KEY_LEN) == WS_NONCE_BYTES + 2;
}

enum control_ws_verdict control_ws_decide(const char *method, const char *upgrade,
                                          const char *connection, const char *version,
                                          const char *key)
{
    if (!upgrade || !has_token(upgrade, "websocket"))
        return CONTROL_WS_PLAIN;
    if (!method || strcmp(method, "GET") != 0 || !connection || !has_token(connection, "upgrade") ||
        !key_valid(key))
        return CONTROL_WS_BAD;
    if (!version || strcmp(version, "13") != 0)
        return CONTROL_WS_BAD_VERSION;
    return CONTROL_WS_UPGRADE;
}

int control_ws_accept_key(const char *key, char out[CONTROL_WS_ACCEPT_LEN + 1])
{
    char text[128];
    int n = snprintf(text, sizeof(text), "%s%s", key, ws_guid);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -1;
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)text, (size_t)n, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, SHA_DIGEST_LENGTH);
    return 0;
}
