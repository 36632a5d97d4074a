/*
 * sniff_quic.c — the SNI in a client's QUIC Initial packets, version 1
 * (RFC 9000, RFC 9001) and version 2 (RFC 9369).
 *
 * Initial packets are protected with keys anyone can derive from the
 * Destination Connection ID (RFC 9001 section 5.2): HKDF-Extract with the
 * version's salt, HKDF-Expand-Label for key, IV and header-protection key;
 * AES-128-ECB removes header protection, AES-128-GCM decrypts. The CRYPTO
 * frames inside carry the TLS ClientHello, possibly out of order, split
 * across several Initial packets (Chrome's spans two) and among padding and
 * PING frames; they are reassembled into a bounded buffer with a bitmap of
 * the bytes received. Coalesced packets in one datagram are walked in turn.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rules/sniff/sniff_internal.h"
#include "rules/util.h"

#define QUIC_V1 0x00000001u
#define QUIC_V2 0x6b3343cfu
#define CID_MAX 20

struct quic_version {
    uint32_t version;
    uint8_t salt[20];
    const char *key_label, *iv_label, *hp_label;
    uint8_t initial_type; /* long-header packet type bits of an Initial */
};

static const struct quic_version versions[] = {
    {QUIC_V1,
     {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
      0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a},
     "quic key",
     "quic iv",
     "quic hp",
     0},
    {QUIC_V2,
     {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
      0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9},
     "quicv2 key",
     "quicv2 iv",
     "quicv2 hp",
     1},
};

struct sniff_quic {
    uint8_t *crypto; /* the CRYPTO stream, offsets 0..cap */
    uint8_t *have;   /* bitmap: which bytes arrived */
    size_t cap;
    size_t contiguous; /* bytes 0..contiguous all arrived */
    bool started;      /* an Initial packet decrypted */
    bool conflict;     /* two CRYPTO frames disagreed about the same bytes */
};

struct sniff_quic *sniff_quic_new(size_t max_bytes)
{
    struct sniff_quic *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    q->cap = max_bytes;
    q->crypto = malloc(max_bytes);
    q->have = calloc((max_bytes + 7) / 8, 1);
    if (!q->crypto || !q->have) {
        sniff_quic_free(q);
        return NULL;
    }
    return q;
}

void sniff_quic_free(struct sniff_quic *q)
{
    if (!q)
        return;
    free(q->crypto);
    free(q->have);
    free(q);
}

/*
 * OpenSSL 3 looks algorithms up by name on every implicit use, which costs
 * more than the cryptography on a 1,200-byte packet: fetch them once, for
 * every worker thread (pthread_once; the fetched objects are read-only).
 */
static pthread_once_t algorithms_once = PTHREAD_ONCE_INIT;
static EVP_MAC *hmac_mac;
static EVP_CIPHER *ecb_cipher, *gcm_cipher;

static void algorithms_fetch(void)
{
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ecb_cipher = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    gcm_cipher = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
}

static EVP_MAC *hmac_algorithm(void)
{
    pthread_once(&algorithms_once, algorithms_fetch);
    return hmac_mac;
}

static const EVP_CIPHER *cipher(bool gcm)
{
    pthread_once(&algorithms_once, algorithms_fetch);
    return gcm ? gcm_cipher : ecb_cipher;
}

/* HMAC-SHA256 of `data` under `key` into out[32]. */
static bool hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                        uint8_t out[32])
{
    EVP_MAC *mac = hmac_algorithm();
    EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    size_t n = 0;
    bool ok = ctx && EVP_MAC_init(ctx, key, key_len, params) && EVP_MAC_update(ctx, data, len) &&
              EVP_MAC_final(ctx, out, &n, 32) && n == 32;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

/* RFC 9000 section 16 variable-length integer. */
static bool varint(const uint8_t *b, size_t len, size_t *pos, uint64_t *out)
{
    if (*pos >= len)
        return false;
    size_t n = (size_t)1 << (b[*pos] >> 6);
    if (*pos + n > len)
        return false;
    uint64_t v = b[*pos] & 0x3f;
    for (size_t i = 1; i < n; i++)
        v = v << 8 | b[*pos + i];
    *pos += n;
    *out = v;
    return true;
}

/* HKDF-Expand-Label (RFC 8446 section 7.1) for outputs of at most 32 bytes: one HMAC block. */
static bool expand_label(const uint8_t secret[32], const char *label, uint8_t *out, size_t len)
{
    uint8_t info[2 + 1 + 6 + 16 + 1 + 1];
    size_t llen = strlen(label), n = 0;
    info[n++] = 0;
    info[n++] = (uint8_t)len;
    info[n++] = (uint8_t)(6 + llen);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, llen);
    n += llen;
    info[n++] = 0; /* empty context */
    info[n++] = 1; /* block counter */
    uint8_t block[32];
    if (!hmac_sha256(secret, 32, info, n, block))
        return false;
    memcpy(out, block, len);
    return true;
}

struct initial_keys {
    uint8_t key[16], iv[12], hp[16];
};

static bool derive_keys(const struct quic_version *v, const uint8_t *dcid, size_t dcid_len,
                        struct initial_keys *k)
{
    uint8_t initial[32], client[32];
    if (!hmac_sha256(v->salt, sizeof(v->salt), dcid, dcid_len, initial))
        return false;
    return expand_label(initial, "client in", client, 32) &&
           expand_label(client, v->key_label, k->key, 16) &&
           expand_label(client, v->iv_label, k->iv, 12) &&
           expand_label(client, v->hp_label, k->hp, 16);
}

static bool aes_ecb_block(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0;
    bool ok = ctx && EVP_EncryptInit_ex(ctx, cipher(false), NULL, key, NULL) &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) && EVP_EncryptUpdate(ctx, out, &n, in, 16) &&
              n == 16;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static bool aes_gcm_open(const struct initial_keys *k, const uint8_t nonce[12], const uint8_t *aad,
                         size_t aad_len, const uint8_t *in, size_t len, uint8_t *out)
{
    if (len < 16)
        return false;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = ctx && EVP_DecryptInit_ex(ctx, cipher(true), NULL, k->key, nonce) &&
              EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) &&
              EVP_DecryptUpdate(ctx, out, &n, in, (int)(len - 16)) &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, (void *)(in + len - 16)) &&
              EVP_DecryptFinal_ex(ctx, out + n, &fin) > 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

static void store_crypto(struct sniff_quic *q, uint64_t offset, const uint8_t *data, size_t len)
{
    if (offset >= q->cap)
        return;
    if (len > q->cap - offset)
        len = (size_t)(q->cap - offset);
    /* Retransmitted bytes must repeat what came before: a client (or a middlebox
     * trick) that sends different ClientHellos under one offset gets no name. */
    for (size_t i = 0; i < len; i++) {
        size_t at = (size_t)offset + i;
        uint8_t bit = (uint8_t)(1u << (at % 8));
        if ((q->have[at / 8] & bit) && q->crypto[at] != data[i])
            q->conflict = true;
        q->crypto[at] = data[i];
        q->have[at / 8] |= bit;
    }
}

/* Walks the frames of a decrypted Initial payload; false on a frame it cannot skip. */
static bool read_frames(struct sniff_quic *q, const uint8_t *p, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        uint64_t type, a, b, c;
        if (p[pos] == 0x00) { /* PADDING: clients pad Initials to 1,200 bytes, skip the run */
            while (pos < len && p[pos] == 0x00)
                pos++;
            continue;
        }
        if (!varint(p, len, &pos, &type))
            return false;
        switch (type) {
        case 0x00: /* PADDING */
        case 0x01: /* PING */
            break;
        case 0x02: /* ACK */
        case 0x03: {
            uint64_t ranges;
            if (!varint(p, len, &pos, &a) || !varint(p, len, &pos, &b) ||
                !varint(p, len, &pos, &ranges) || !varint(p, len, &pos, &c))
                return false;
            for (uint64_t i = 0; i < ranges * 2; i++)
                if (!varint(p, len, &pos, &a))
                    return false;
            if (type == 0x03)
                for (int i = 0; i < 3; i++)
                    if (!varint(p, len, &pos, &a))
                        return false;
            break;
        }
        case 0x06: /* CRYPTO */
            if (!varint(p, len, &pos, &a) || !varint(p, len, &pos, &b) || b > len - pos)
                return false;
            store_crypto(q, a, p + pos, (size_t)b);
            pos += (size_t)b;
            break;
        case 0x1c: /* CONNECTION_CLOSE */
            return true;
        default:
            return false;
        }
    }
    return true;
}

/*
 * Opens one long-header packet at `d`; sets *used to its length. Returns 1
 * when it was a client Initial that decrypted, 0 for another packet type or
 * version, -1 when malformed.
 */
static int open_packet(struct sniff_quic *q, const uint8_t *d, size_t len, size_t *used)
{
    if (len < 7 || !(d[0] & 0x80))
        return -1;
    uint32_t version = (uint32_t)d[1] << 24 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 8 | d[4];
    const struct quic_version *v = NULL;
    for (size_t i = 0; i < ARRAY_LEN(versions); i++)
        if (versions[i].version == version)
            v = &versions[i];
    size_t pos = 5;
    size_t dcid_len = d[pos++];
    if (dcid_len > CID_MAX || pos + dcid_len >= len)
        return -1;
    const uint8_t *dcid = d + pos;
    pos += dcid_len;
    size_t scid_len = d[pos++];
    if (scid_len > CID_MAX || pos + scid_len > len)
        return -1;
    pos += scid_len;
    if (!v) {
        *used = len;
        return 0;
    }
    bool initial = ((d[0] >> 4) & 3) == v->initial_type;
    uint64_t token_len = 0, length;
    if (initial && (!varint(d, len, &pos, &token_len) || token_len > len - pos))
        return -1;
    pos += (size_t)token_len;
    if (!varint(d, len, &pos, &length) || length > len - pos || length < 20)
        return -1;
    *used = pos + (size_t)length;
    if (!initial)
        return 0;

    struct initial_keys k;
    uint8_t mask[16];
    size_t pn_offset = pos;
    if (!derive_keys(v, dcid, dcid_len, &k) || !aes_ecb_block(k.hp, d + pn_offset + 4, mask))
        return -1;
    uint8_t header[64 + 2 * CID_MAX + 8];
    size_t pn_len = (size_t)((d[0] ^ (mask[0] & 0x0f)) & 3) + 1;
    size_t header_len = pn_offset + pn_len;
    uint8_t *aad = header_len <= sizeof(header) ? header : malloc(header_len);
    if (!aad)
        return -1;
    memcpy(aad, d, header_len);
    aad[0] ^= mask[0] & 0x0f;
    uint8_t nonce[12];
    memcpy(nonce, k.iv, 12);
    for (size_t i = 0; i < pn_len; i++) {
        aad[pn_offset + i] ^= mask[1 + i];
        nonce[12 - pn_len + i] ^= aad[pn_offset + i];
    }
    size_t payload_len = (size_t)length - pn_len;
    uint8_t *plain = malloc(payload_len);
    int rc = -1;
    if (plain && aes_gcm_open(&k, nonce, aad, header_len, d + header_len, payload_len, plain))
        rc = read_frames(q, plain, payload_len - 16) ? 1 : -1;
    free(plain);
    if (aad != header)
        free(aad);
    return rc;
}

/* Moves the watermark of bytes available from offset 0 without a gap. */
static size_t contiguous(struct sniff_quic *q)
{
    size_t n = q->contiguous;
    while (n < q->cap) {
        if (n % 8 == 0 && n + 8 <= q->cap && q->have[n / 8] == 0xff) {
            n += 8; /* a whole byte of the bitmap at once */
            continue;
        }
        if (!(q->have[n / 8] & (1u << (n % 8))))
            break;
        n++;
    }
    q->contiguous = n;
    return n;
}

enum parse_result sniff_quic_feed(struct sniff_quic *q, const uint8_t *data, size_t len,
                                  char host[SNIFF_HOST_MAX])
{
    bool any_initial = false;
    for (size_t pos = 0; pos < len;) {
        size_t used = 0;
        int rc = open_packet(q, data + pos, len - pos, &used);
        if (rc < 0)
            break; /* the rest of the datagram is not a packet we can read */
        any_initial |= rc == 1;
        pos += used;
    }
    if (q->conflict)
        return PARSE_INVALID;
    if (!any_initial) /* e.g. a 0-RTT datagram between Initials: keep waiting */
        return q->started ? PARSE_NEED_MORE : PARSE_INVALID;
    q->started = true;
    size_t n = contiguous(q);
    if (n < 4)
        return PARSE_NEED_MORE;
    if (q->crypto[0] != 0x01) /* the first handshake message must be a ClientHello */
        return PARSE_INVALID;
    size_t need = 4 + ((size_t)q->crypto[1] << 16 | (size_t)q->crypto[2] << 8 | q->crypto[3]);
    if (need > q->cap)
        return PARSE_INVALID;
    if (n < need)
        return PARSE_NEED_MORE;
    return sniff_tls_client_hello(q->crypto + 4, need - 4, host);
}
