/*
 * quic_initial.h — builds client Initial packets the way a QUIC client
 * protects them (RFC 9001 section 5, RFC 9369 section 3), for tests, fuzz
 * targets and benchmarks that need ClientHellos spread over several
 * packets. Written from the client's side with OpenSSL's one-shot calls, so
 * it shares no code with the sniffer that opens them; the sniffer is checked
 * on its own against the RFC example packets.
 */
#ifndef SWITCHYARD_TEST_QUIC_INITIAL_H
#define SWITCHYARD_TEST_QUIC_INITIAL_H

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <string.h>

#define QI_V1 0x00000001u
#define QI_V2 0x6b3343cfu

static inline void qi_expand_label(const uint8_t *secret, const char *label, uint8_t *out,
                                   size_t len)
{
    uint8_t info[64], block[32];
    size_t l = strlen(label), n = 0;
    unsigned int bl;
    info[n++] = 0;
    info[n++] = (uint8_t)len;
    info[n++] = (uint8_t)(6 + l);
    memcpy(info + n, "tls13 ", 6);
    memcpy(info + n + 6, label, l);
    n += 6 + l;
    info[n++] = 0;
    info[n++] = 1;
    HMAC(EVP_sha256(), secret, 32, info, n, block, &bl);
    memcpy(out, block, len);
}

/*
 * Writes one client Initial packet of `version` to `out` (at least
 * `frames_len` + 100 bytes, and 1200 when padding): header with `dcid`,
 * packet number `pn` in four bytes, `frames` as the payload followed by
 * PADDING up to a 1200-byte packet when `pad` (RFC 9000 section 14.1).
 * Returns the packet's length.
 */
static inline size_t qi_protect(uint8_t *out, uint32_t version, const uint8_t *dcid,
                                size_t dcid_len, uint32_t pn, const uint8_t *frames,
                                size_t frames_len, int pad)
{
    static const uint8_t salt_v1[20] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                        0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
    static const uint8_t salt_v2[20] = {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                                        0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9};
    int v2 = version == QI_V2;
    uint8_t initial[32], client[32], key[16], iv[12], hp[16];
    unsigned int n32;
    HMAC(EVP_sha256(), v2 ? salt_v2 : salt_v1, 20, dcid, dcid_len, initial, &n32);
    qi_expand_label(initial, "client in", client, 32);
    qi_expand_label(client, v2 ? "quicv2 key" : "quic key", key, 16);
    qi_expand_label(client, v2 ? "quicv2 iv" : "quic iv", iv, 12);
    qi_expand_label(client, v2 ? "quicv2 hp" : "quic hp", hp, 16);

    size_t h = 0;
    out[h++] = (uint8_t)(0xc3 | (v2 ? 0x10 : 0x00)); /* Initial: type 0 (v1), 1 (v2) */
    out[h++] = (uint8_t)(version >> 24), out[h++] = (uint8_t)(version >> 16);
    out[h++] = (uint8_t)(version >> 8), out[h++] = (uint8_t)version;
    out[h++] = (uint8_t)dcid_len;
    memcpy(out + h, dcid, dcid_len);
    h += dcid_len;
    out[h++] = 0; /* scid */
    out[h++] = 0; /* token */
    size_t payload_len = frames_len;
    if (pad && h + 2 + 4 + payload_len + 16 < 1200)
        payload_len = 1200 - (h + 2 + 4 + 16);
    if (payload_len < 16)
        payload_len = 16; /* room for the header-protection sample */
    size_t length = 4 + payload_len + 16;
    out[h++] = (uint8_t)(0x40 | length >> 8);
    out[h++] = (uint8_t)length;
    size_t pn_offset = h;
    out[h++] = (uint8_t)(pn >> 24), out[h++] = (uint8_t)(pn >> 16);
    out[h++] = (uint8_t)(pn >> 8), out[h++] = (uint8_t)pn;

    uint8_t *plain = out + h; /* encrypted in place */
    memmove(plain, frames, frames_len);
    memset(plain + frames_len, 0, payload_len - frames_len);
    uint8_t nonce[12];
    memcpy(nonce, iv, 12);
    for (int i = 0; i < 4; i++)
        nonce[8 + i] ^= out[pn_offset + (size_t)i];
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n;
    EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, nonce);
    EVP_EncryptUpdate(c, NULL, &n, out, (int)h);
    EVP_EncryptUpdate(c, plain, &n, plain, (int)payload_len);
    EVP_EncryptFinal_ex(c, plain + n, &n);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, plain + payload_len);
    EVP_CIPHER_CTX_free(c);

    uint8_t mask[16];
    c = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), NULL, hp, NULL);
    EVP_EncryptUpdate(c, mask, &n, out + pn_offset + 4, 16);
    EVP_CIPHER_CTX_free(c);
    out[0] ^= mask[0] & 0x0f;
    for (int i = 0; i < 4; i++)
        out[pn_offset + (size_t)i] ^= mask[1 + i];
    return h + payload_len + 16;
}

/* A CRYPTO frame (RFC 9000 section 19.6) carrying data[off..off+len), len < 16384. */
static inline size_t qi_crypto_frame(uint8_t *out, const uint8_t *data, size_t off, size_t len)
{
    size_t n = 0;
    out[n++] = 0x06;
    out[n++] = (uint8_t)(0x40 | off >> 8);
    out[n++] = (uint8_t)off;
    out[n++] = (uint8_t)(0x40 | len >> 8);
    out[n++] = (uint8_t)len;
    memcpy(out + n, data + off, len);
    return n + len;
}

#endif
