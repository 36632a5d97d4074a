/*
 * tally.c — counts by (network, inbound, outbound, rule). See tally.h.
 */
#include "engine/core/tally.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where everything goes when no entry can be allocated (its key is never read); one per
 * thread, as every worker counts in its own tally. */
static struct tally_entry *tally_fallback(void)
{
    static _Thread_local struct tally_entry fallback = {.inbound = "other", .outbound = "other"};
    return &fallback;
}

static struct tally_entry *tally_entry_new(unsigned network, const char *inbound,
                                           const char *outbound, unsigned rule, const char *key,
                                           size_t key_len)
{
    size_t in_len = strlen(inbound) + 1, out_len = strlen(outbound) + 1;
    struct tally_entry *e = calloc(1, sizeof(*e) + key_len + 1 + in_len + out_len);
    if (!e)
        return NULL;
    e->network = network;
    e->rule = rule;
    memcpy(e->key, key, key_len + 1);
    char *names = e->key + key_len + 1;
    memcpy(names, inbound, in_len);
    memcpy(names + in_len, outbound, out_len);
    e->inbound = names;
    e->outbound = names + in_len;
    return e;
}

/* The entry of these labels, added when new (or "other"); never NULL. */
static struct tally_entry *entry_for(struct tally *t, unsigned network, const char *inbound,
                                     const char *outbound, unsigned rule)
{
    char key[512];
    int n = snprintf(key, sizeof(key), "%u/%u/%s/%s", network, rule, inbound, outbound);
    struct tally_entry *e = NULL;
    if (n > 0 && (size_t)n < sizeof(key))
        HASH_FIND(hh, t->entries, key, (size_t)n, e);
    if (!e && n > 0 && (size_t)n < sizeof(key) && t->count < TALLY_MAX) {
        e = tally_entry_new(network, inbound, outbound, rule, key, (size_t)n);
        if (e) {
            HASH_ADD(hh, t->entries, key[0], (size_t)n, e);
            t->count++;
        }
    }
    if (!e) {
        if (!t->other)
            t->other = tally_entry_new(0, "other", "other", 0, "", 0);
        e = t->other ? t->other : tally_fallback();
    }
    return e;
}

struct tally_entry *tally_decided(struct tally *t, unsigned network, const char *inbound,
                                  const char *outbound, unsigned rule)
{
    struct tally_entry *e = entry_for(t, network, inbound, outbound, rule);
    e->decided++;
    return e;
}

void tally_add(struct tally *t, const struct tally_entry *from)
{
    struct tally_entry *e = entry_for(t, from->network, from->inbound, from->outbound, from->rule);
    e->decided += from->decided;
    e->ended += from->ended;
    e->bytes_up += from->bytes_up;
    e->bytes_down += from->bytes_down;
}

void tally_add_open(struct tally *t, const struct tally_entry *of, uint64_t up, uint64_t down)
{
    struct tally_entry *e = entry_for(t, of->network, of->inbound, of->outbound, of->rule);
    e->bytes_up += up;
    e->bytes_down += down;
}

void tally_free(struct tally *t)
{
    struct tally_entry *e, *tmp;
    HASH_ITER(hh, t->entries, e, tmp)
    {
        HASH_DEL(t->entries, e);
        free(e);
    }
    free(t->other);
    memset(t, 0, sizeof(*t));
}
