/*
 * mark.h — a packet or conntrack mark as `switchyard firewall` and the
 * policy write it: VALUE, or VALUE/MASK where other tools keep bits of
 * their own in the same mark (mwan3's 0x3f00). A mark with a mask is set
 * and tested under it only, as `ip rule fwmark V/M` and iptables'
 * `--mark V/M` do; without one the whole mark is.
 */
#ifndef SWITCHYARD_MARK_H
#define SWITCHYARD_MARK_H

#include <stdbool.h>
#include <stdint.h>

#define MARK_WHOLE 0xffffffffu
#define MARK_TEXT_MAX 24 /* "0xffffffff/0xffffffff" and its NUL */

struct mark {
    uint32_t value;
    uint32_t mask; /* MARK_WHOLE: the whole mark */
};

/*
 * Parses "V" or "V/M" (each decimal or 0x hexadecimal, up to 0xffffffff);
 * false when it is neither, when the mask is 0, or when the value has bits
 * outside its mask.
 */
bool mark_parse(const char *text, struct mark *out);

/* Whether a packet whose mark is `packet` is taken for `m`. */
bool mark_matches(struct mark m, uint32_t packet);

/* The mark of a packet marked `packet` once `m` is set on it: `m`'s bits in, the others kept. */
uint32_t mark_set(struct mark m, uint32_t packet);

/* "0x..." or "0x.../0x...", as ip rule and iptables take it; returns `buf`. */
const char *mark_format(struct mark m, char buf[MARK_TEXT_MAX]);

#endif
