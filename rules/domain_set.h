/*
 * domain_set.h — a set of host-name patterns asked "does this name match?":
 * exact names (`full:`), suffixes (`domain:` or a bare name: the name itself
 * and every name under it), keywords (substring) and PCRE2 regexes.
 *
 * Exact names and suffixes live in one hash table, so a lookup costs one
 * probe per label of the host name, whatever the set's size. Keywords are
 * scanned; the regexes are compiled into a single JIT-compiled alternation,
 * matched once. A frozen set is never written: any number of threads may
 * look names up at once (each thread has its own PCRE2 match-data block,
 * made on its first regex).
 */
#ifndef SWITCHYARD_DOMAIN_SET_H
#define SWITCHYARD_DOMAIN_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum domain_kind { DOMAIN_FULL, DOMAIN_SUFFIX, DOMAIN_KEYWORD, DOMAIN_REGEX, DOMAIN_KINDS };

struct domain_set;

struct domain_set *domain_set_new(void);
void domain_set_free(struct domain_set *set);

/*
 * Adds one pattern. Names are lowercased and a trailing dot dropped.
 * Returns 0, or -1 with a message in `why` (for a regex: PCRE2's own
 * message and the offset in the pattern).
 */
int domain_set_add(struct domain_set *set, enum domain_kind kind, const char *value, char *why,
                   size_t why_len);

/*
 * Adds one line of a domain list file: `domain:x` or a bare `x` (suffix),
 * `full:x`, `keyword:x`, `regexp:x`. Attributes after the value (`@cn`,
 * `:@ads`, ` @!cn`) are ignored. Returns as domain_set_add; an unknown
 * prefix is an error.
 */
int domain_set_add_line(struct domain_set *set, const char *line, char *why, size_t why_len);

/* Builds the lookup structures; call once after the last add. */
int domain_set_freeze(struct domain_set *set, char *why, size_t why_len);

/*
 * A host name prepared for matching against many sets: its suffixes
 * ("a.b.c", "b.c", "c") and their hashes, computed once per decision
 * instead of once per set.
 */
#define DOMAIN_KEY_LABELS 128
struct domain_key {
    const char *host;
    size_t n;
    const char *suffix[DOMAIN_KEY_LABELS];
    uint64_t hash[DOMAIN_KEY_LABELS];
};

/* `host` must be lowercase without a trailing dot (policy_decide does that). */
void domain_key_init(struct domain_key *key, const char *host);
bool domain_set_match_key(const struct domain_set *set, const struct domain_key *key);

/* The same for one lookup. */
bool domain_set_match(const struct domain_set *set, const char *host);

/*
 * For an index over several sets (rules/policy_names.c): the hash
 * domain_key_init gives a name, every exact/suffix name of a frozen set
 * (lowercase, valid as long as the set is), its keywords, and its regexes
 * alone. `fn` stops the walk with a nonzero return, which is returned.
 */
uint64_t domain_name_hash(const char *name);
int domain_set_each_name(const struct domain_set *set,
                         int (*fn)(const char *name, bool full, bool suffix, void *ctx), void *ctx);
size_t domain_set_keyword_count(const struct domain_set *set);
const char *domain_set_keyword(const struct domain_set *set, size_t index);
bool domain_set_has_regex(const struct domain_set *set);
bool domain_set_match_regex(const struct domain_set *set, const char *host);

/* Patterns of each kind, for summaries. */
size_t domain_set_count(const struct domain_set *set, enum domain_kind kind);

#endif
