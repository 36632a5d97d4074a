/*
 * policy_internal.h — the compiled policy's insides, shared by the files of
 * the policy module only (loading, rule compilation, decisions, lifecycle).
 * Everything outside rules/ goes through rules/policy.h.
 */
#ifndef SWITCHYARD_POLICY_INTERNAL_H
#define SWITCHYARD_POLICY_INTERNAL_H

#include <stdint.h>
#include <yaml.h>

#include "geodata/geoip.h"
#include "rules/cidr_set.h"
#include "rules/domain_set.h"
#include "rules/policy.h"

/* A named set from `sets:`: addresses or host names. */
struct policy_set {
    char *name;
    int line;
    struct cidr_set *cidr; /* exactly one of the two */
    struct domain_set *domains;
};

enum cond_kind {
    COND_NETWORK,
    COND_INBOUND,
    COND_SRC,
    COND_DST,
    COND_SRC_SET,
    COND_DST_SET,
    COND_SRC_PORT,
    COND_DST_PORT,
    COND_GEOIP,
    COND_DOMAINS,    /* domain, domain_suffix, domain_keyword, domain_regex (inline) */
    COND_DOMAIN_SET, /* a named domain set */
    COND_PROTOCOL,
    COND_NOT,
    COND_ANY,
};

struct cond;

/* Conditions that must all hold (one map of a rule, `not` or `any`). */
struct clause {
    struct cond *conds;
    size_t n;
};

struct cond {
    enum cond_kind kind;
    int name_source; /* domain conditions: bit in the name index, -1 when not in it */
    union {
        unsigned mask; /* network: POLICY_*; protocol: SNIFF_PROTO_BIT() */
        struct {
            char **names;
            size_t n;
        } inbound;
        struct cidr_set *cidr; /* src, dst (owned) */
        size_t set;            /* src_set, dst_set, domain_set: index in policy->sets */
        struct {
            struct port_range *r;
            size_t n;
        } ports;
        struct {
            char (*codes)[3];
            size_t n;
        } geoip;
        struct domain_set *domains; /* COND_DOMAINS (owned) */
        struct clause sub;          /* not */
        struct {
            struct clause *c;
            size_t n;
        } any;
    } u;
};

struct policy_rule {
    struct clause when;
    const struct policy_outbound *outbound;
    int line;
};

struct policy {
    _Atomic int refs; /* taken and dropped by every worker's flows */
    char *path;
    struct policy_settings settings;
    uint64_t sniff_skip_ports[65536 / 64]; /* sniff.skip_ports, one bit a port */

    struct policy_inbound *inbounds;
    size_t n_inbounds;
    struct policy_outbound *outbounds; /* [0] direct, [1] drop, then the file's */
    size_t n_outbounds;
    struct policy_set *sets;
    size_t n_sets;
    struct policy_rule *rules;
    size_t n_rules;
    const struct policy_outbound *default_outbound;

    struct geoip *geoip;
    char *geoip_path;

    struct policy_names *names; /* policy_names.c */

    char **warnings;
    size_t n_warnings;

    char **strings; /* every string the structures above point to */
    size_t n_strings;

    /* Candidate index (policy_index.c): bitsets of rules, `index_words` words each. */
    size_t index_words;
    uint64_t *index_port;     /* per destination port */
    uint64_t *index_network;  /* [0] tcp, [1] udp */
    uint64_t *index_hostless; /* rules that can hold without a host name */
    uint64_t *index_protocol; /* per sniff_protocol */
};

/* The tables behind policy_*_name(), NULL-terminated, for the loader (rules/policy_words.c). */
extern const char *const policy_inbound_type_words[];  /* indexed by enum inbound_type */
extern const char *const policy_outbound_type_words[]; /* indexed by enum outbound_type */
extern const char *const policy_network_words[];       /* word i is the network 1 << i */

/* Keeps `s` until the policy is freed; returns it (NULL when out of memory). */
char *policy_keep_string(struct policy *p, const char *s);

/* Frees everything, whatever state loading left it in. */
void policy_destroy(struct policy *p);

/* Up to 1024 rules are indexed (the port table then takes 8 MiB). */
#define POLICY_INDEX_MAX_WORDS 16

/* Builds / frees the candidate index; build returns -1 when out of memory. */
int policy_index_build(struct policy *p);
void policy_index_free(struct policy *p);

/* Writes into `out` (index_words words) the rules that can still hold for `f`. */
void policy_index_candidates(const struct policy *p, const struct policy_flow *f, bool has_host,
                             bool early, uint64_t *out);

/*
 * The name index (rules/policy_names.c): every domain condition's names
 * and keywords merged, one bit per source (a domain set a condition uses).
 */
#define POLICY_NAME_SOURCES 64
struct policy_names {
    size_t n_sources;
    const struct domain_set *sources[POLICY_NAME_SOURCES];
    uint64_t with_regex;      /* sources that also hold regexes */
    uint64_t keyword_sources; /* sources that hold keywords */
    struct name_slot *slots;  /* power-of-two table, at most half full */
    size_t slot_mask, n_names;
    struct name_pair *pairs; /* the distinct source masks a name can have */
    size_t n_pairs;
    uint64_t *bloom; /* one bit per name hash: most labels are in no set */
    size_t bloom_mask;
    const char **keywords; /* owned by their sets */
    uint64_t *keyword_bits;
    size_t n_keywords;
    uint32_t *short_keywords; /* too short for the literal index: scanned */
    size_t n_short;
    struct literal_index *keyword_index;
    uint64_t *needs; /* per source, index_words words: rules needing it at top level */
};

/* Builds the index after the rules and the candidate index; -1 when out of memory. */
int policy_names_build(struct policy *p);
void policy_names_free(struct policy_names *n);

/* The sources whose exact/suffix names or keywords hold for the host of `key`. */
uint64_t policy_names_hits(const struct policy_names *n, const struct domain_key *key);

/* Clears from `candidates` the rules that need a source `hits` says fails for sure. */
void policy_names_exclude(const struct policy *p, uint64_t hits, uint64_t *candidates);

struct load_ctx;

/*
 * Reads a port or "LO-HI" range, or a list of them, into `*out` (allocated,
 * `*n` entries; the caller frees it even on failure). Errors name `key`.
 */
int policy_parse_ports(struct load_ctx *c, yaml_node_t *v, const char *key, struct port_range **out,
                       size_t *n);

/* Reads "tcp", "udp" or a list of them into a mask of POLICY_TCP and POLICY_UDP. */
int policy_parse_networks(struct load_ctx *c, yaml_node_t *v, const char *key, unsigned *mask);

/* A tun inbound's own keys, NULL when absent, and its `listen` (rules/policy_tun.c). */
struct policy_tun_keys {
    yaml_node_t *device, *address, *address6, *mtu, *icmp, *listen;
};

/* Reads a tun inbound's keys into `in->tun` (defaults for the absent ones); checks `listen`. */
int policy_load_tun(struct load_ctx *c, yaml_node_t *node, struct policy_tun_keys *k,
                    struct policy_inbound *in);

/* Compiles `rules:` and `default:` (rules/policy_rules.c). */
int policy_load_rules(struct load_ctx *c, yaml_node_t *rules, yaml_node_t *default_node);

#endif
