/*
 * tally.h — flows and UDP sessions counted by what decided them: one entry
 * per (network, inbound, outbound, rule), with how many were decided, how
 * many have ended and the bytes each way of those that ended. The metrics
 * (engine/control) read it; the stages write it.
 *
 * Labels stay bounded: inbound and outbound names come from the policy and
 * rules are numbers, never hosts or addresses. Entries live as long as the
 * engine (a flow keeps a pointer to its entry), so a reload that renames
 * things adds entries; past TALLY_MAX entries everything new is counted in
 * one entry with the names "other".
 *
 * Single-threaded, plain integers: one hash lookup when a flow is decided,
 * none afterwards.
 */
#ifndef SWITCHYARD_TALLY_H
#define SWITCHYARD_TALLY_H

#include <stdint.h>
#include <uthash.h>

#define TALLY_MAX 4096

struct tally_entry {
    unsigned network; /* POLICY_TCP or POLICY_UDP */
    unsigned rule;    /* 1-based rule number, 0 for the default */
    const char *inbound, *outbound;
    uint64_t decided;              /* flows or sessions decided with these labels */
    uint64_t ended;                /* of those, ended */
    uint64_t bytes_up, bytes_down; /* relayed by those that ended */
    UT_hash_handle hh;
    char key[]; /* "network/rule/inbound/outbound": the hash key, then the names' storage */
};

struct tally {
    struct tally_entry *entries; /* uthash, in the order they were added */
    unsigned count;
    struct tally_entry *other; /* past TALLY_MAX or out of memory */
};

/*
 * Counts one decision and returns its entry, to hand back to tally_end()
 * when the flow or session ends. Never NULL: when no entry can be added the
 * shared "other" entry is returned (a static one if even that cannot be had).
 */
struct tally_entry *tally_decided(struct tally *t, unsigned network, const char *inbound,
                                  const char *outbound, unsigned rule);

/* The flow or session counted in `entry` ended, having relayed `up` and `down` bytes. */
static inline void tally_end(struct tally_entry *entry, uint64_t up, uint64_t down)
{
    entry->ended++;
    entry->bytes_up += up;
    entry->bytes_down += down;
}

/*
 * Adds the counts of `from` (another tally's entry: another worker's) to the
 * entry of `t` with the same labels, made when new. For the metrics, which
 * sum the workers' tallies into one.
 */
void tally_add(struct tally *t, const struct tally_entry *from);

/* Adds the bytes of a flow still open, counted in `of` (another tally's entry), to the entry
 * of `t` with the same labels. */
void tally_add_open(struct tally *t, const struct tally_entry *of, uint64_t up, uint64_t down);

/* Frees every entry. */
void tally_free(struct tally *t);

#endif
