/*
 * domain_set.c — host-name patterns. See domain_set.h.
 *
 * The exact/suffix table is immutable once frozen, so it is a flat
 * open-addressing table over one string arena: one allocation each, no
 * per-entry nodes or list handles (a general-purpose hash library spends
 * more memory per entry than the names themselves on 100,000-name lists).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rules/domain_set.h"
#include "rules/regex_literal.h"

#include <ctype.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/host_name.h"
#include "rules/util.h"

#define FLAG_FULL 1u
#define FLAG_SUFFIX 2u

struct name_slot {
    uint64_t hash;   /* 0: empty */
    uint32_t offset; /* into the arena */
    uint32_t flags;
};

struct domain_set {
    char *arena; /* NUL-terminated names */
    size_t arena_len, arena_cap;
    struct name_slot *slots; /* power-of-two table, at most half full */
    size_t slot_mask, names;
    /* One bit per hash, set for every name: most labels of a host are in no
     * set, and a bit test in a small array spares a probe into a big table
     * (a cache miss each). NULL until frozen. */
    uint64_t *bloom;
    size_t bloom_mask;

    char **keywords;
    size_t n_keywords;

    char **regex_sources;
    size_t n_regex;
    pcre2_code **regexes; /* one each */
    uint32_t *alone;      /* regexes run by themselves on every name */
    size_t n_alone;
    struct literal_index *literals; /* regexes with a fixed part; NULL when none */
    pcre2_code *alternation;        /* every other regex at once, NULL when none */

    size_t counts[DOMAIN_KINDS];
};

struct domain_set *domain_set_new(void)
{
    return calloc(1, sizeof(struct domain_set));
}

void domain_set_free(struct domain_set *set)
{
    if (!set)
        return;
    free(set->arena);
    free(set->slots);
    free(set->bloom);
    for (size_t i = 0; i < set->n_keywords; i++)
        free(set->keywords[i]);
    free(set->keywords);
    for (size_t i = 0; i < set->n_regex; i++) {
        free(set->regex_sources[i]);
        pcre2_code_free(set->regexes[i]);
    }
    free(set->regex_sources);
    free(set->regexes);
    free(set->alone);
    literal_index_free(set->literals);
    pcre2_code_free(set->alternation);
    free(set);
}

/*
 * FNV-1a over the name read from its last character to its first, so the
 * hashes of all suffixes of a host ("c", "b.c", "a.b.c") come out of one
 * backward pass (domain_key_init).
 */
#define HASH_SEED 1469598103934665603ull

static uint64_t hash_step(uint64_t h, char c)
{
    return (h ^ (uint8_t)c) * 1099511628211ull;
}

static uint64_t hash_final(uint64_t h)
{
    return h ? h : 1; /* 0 marks an empty slot */
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = HASH_SEED;
    for (size_t i = strlen(s); i > 0; i--)
        h = hash_step(h, s[i - 1]);
    return hash_final(h);
}

/* The bloom bit of a hash: its high bits (the table index uses the low ones). */
static size_t bloom_bit(const struct domain_set *set, uint64_t h)
{
    return (size_t)(h >> 32) & set->bloom_mask;
}

static bool maybe_present(const struct domain_set *set, uint64_t h)
{
    if (!set->bloom)
        return true;
    size_t bit = bloom_bit(set, h);
    return set->bloom[bit / 64] >> (bit % 64) & 1;
}

/* 16 bits a name, a power of two: about one label in sixteen passes by mistake. */
static int build_bloom(struct domain_set *set)
{
    size_t bits = 64;
    while (bits < set->names * 16 && bits < ((size_t)1 << 31))
        bits *= 2;
    free(set->bloom);
    if (!(set->bloom = calloc(bits / 64, sizeof(uint64_t))))
        return -1;
    set->bloom_mask = bits - 1;
    for (size_t i = 0; i <= set->slot_mask && set->slots; i++)
        if (set->slots[i].hash) {
            size_t bit = bloom_bit(set, set->slots[i].hash);
            set->bloom[bit / 64] |= 1ull << (bit % 64);
        }
    return 0;
}

static struct name_slot *slot_find(const struct domain_set *set, const char *name, uint64_t h)
{
    for (size_t i = h & set->slot_mask;; i = (i + 1) & set->slot_mask) {
        struct name_slot *s = &set->slots[i];
        if (s->hash == 0 || (s->hash == h && strcmp(set->arena + s->offset, name) == 0))
            return s;
    }
}

static int table_grow(struct domain_set *set)
{
    size_t cap = set->slots ? (set->slot_mask + 1) * 2 : 16;
    struct name_slot *old = set->slots;
    size_t old_cap = set->slots ? set->slot_mask + 1 : 0;
    set->slots = calloc(cap, sizeof(*set->slots));
    if (!set->slots) {
        set->slots = old;
        return -1;
    }
    set->slot_mask = cap - 1;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].hash)
            *slot_find(set, set->arena + old[i].offset, old[i].hash) = old[i];
    free(old);
    return 0;
}

static int add_name(struct domain_set *set, const char *name, uint32_t flag)
{
    if ((set->names + 1) * 2 > (set->slots ? set->slot_mask + 1 : 0) && table_grow(set) < 0)
        return -1;
    uint64_t h = name_hash(name);
    struct name_slot *s = slot_find(set, name, h);
    if (s->hash) {
        s->flags |= flag;
        return 0;
    }
    size_t len = strlen(name) + 1;
    if (set->arena_len + len > set->arena_cap) {
        size_t cap = set->arena_cap ? set->arena_cap * 2 : 16384;
        while (cap < set->arena_len + len)
            cap *= 2;
        char *a = realloc(set->arena, cap);
        if (!a)
            return -1;
        set->arena = a;
        set->arena_cap = cap;
    }
    memcpy(set->arena + set->arena_len, name, len);
    *s = (struct name_slot){h, (uint32_t)set->arena_len, flag};
    if (set->bloom) { /* added after freezing: keep the filter true */
        size_t bit = bloom_bit(set, h);
        set->bloom[bit / 64] |= 1ull << (bit % 64);
    }
    set->arena_len += len;
    set->names++;
    return 0;
}

static int push_string(char ***list, size_t *n, const char *value)
{
    char **l = realloc(*list, (*n + 1) * sizeof(*l));
    if (!l)
        return -1;
    *list = l;
    if (!(l[*n] = strdup(value)))
        return -1;
    (*n)++;
    return 0;
}

static int add_regex(struct domain_set *set, const char *pattern, char *why, size_t why_len)
{
    int err;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &err,
                                   &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof(msg));
        snprintf(why, why_len, "bad regex '%s': %s at offset %zu", pattern, (char *)msg,
                 (size_t)offset);
        return -1;
    }
    pcre2_code **r = realloc(set->regexes, (set->n_regex + 1) * sizeof(*r));
    if (!r) {
        pcre2_code_free(re);
        return -1;
    }
    set->regexes = r;
    size_t n = set->n_regex;
    if (push_string(&set->regex_sources, &n, pattern) < 0) {
        pcre2_code_free(re);
        return -1;
    }
    set->regexes[set->n_regex++] = re;
    return 0;
}

int domain_set_add(struct domain_set *set, enum domain_kind kind, const char *value, char *why,
                   size_t why_len)
{
    if (kind == DOMAIN_REGEX) {
        if (add_regex(set, value, why, why_len) < 0)
            return -1;
        set->counts[kind]++;
        return 0;
    }

    char name[256];
    unsigned flags =
        HOST_NAME_STRICT | HOST_NAME_STAR | (kind == DOMAIN_KEYWORD ? HOST_NAME_KEEP_DOT : 0);
    switch (host_name_normalize(value, strlen(value), flags, name, sizeof(name))) {
    case HOST_NAME_OK:
        break;
    case HOST_NAME_EMPTY:
        snprintf(why, why_len, "empty name");
        return -1;
    case HOST_NAME_TOO_LONG:
        snprintf(why, why_len, "name longer than 255 characters");
        return -1;
    case HOST_NAME_BAD_BYTE: {
        unsigned char c = (unsigned char)value[strlen(name)];
        snprintf(why, why_len, "'%s' is not a host name (character '%c')", value,
                 isprint(c) ? c : '?');
        return -1;
    }
    }
    /* An empty label (".cn", "a..b") can never equal a host name's: a typo, not a pattern. */
    if (kind != DOMAIN_KEYWORD && (name[0] == '.' || strstr(name, ".."))) {
        snprintf(why, why_len, "'%s' has an empty label", value);
        return -1;
    }

    int rc;
    if (kind == DOMAIN_KEYWORD)
        rc = push_string(&set->keywords, &set->n_keywords, name);
    else
        rc = add_name(set, name, kind == DOMAIN_FULL ? FLAG_FULL : FLAG_SUFFIX);
    if (rc < 0) {
        snprintf(why, why_len, "out of memory");
        return -1;
    }
    set->counts[kind]++;
    return 0;
}

int domain_set_add_line(struct domain_set *set, const char *line, char *why, size_t why_len)
{
    static const struct {
        const char *prefix;
        enum domain_kind kind;
    } prefixes[] = {
        {"domain:", DOMAIN_SUFFIX},
        {"full:", DOMAIN_FULL},
        {"keyword:", DOMAIN_KEYWORD},
        {"regexp:", DOMAIN_REGEX},
    };
    enum domain_kind kind = DOMAIN_SUFFIX;
    const char *value = line;
    for (size_t i = 0; i < ARRAY_LEN(prefixes); i++) {
        size_t n = strlen(prefixes[i].prefix);
        if (strncmp(line, prefixes[i].prefix, n) == 0) {
            kind = prefixes[i].kind;
            value = line + n;
            break;
        }
    }
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", value);
    if (kind != DOMAIN_REGEX) {
        /* v2fly attributes: "example.com @cn", "example.com:@ads". */
        copy[strcspn(copy, " \t@")] = '\0';
        size_t len = strlen(copy);
        if (len > 0 && copy[len - 1] == ':')
            copy[len - 1] = '\0';
        if (strchr(copy, ':')) {
            snprintf(why, why_len, "unknown entry type in '%s' (domain:, full:, keyword:, regexp:)",
                     line);
            return -1;
        }
    } else {
        /* A regex ends at the attribute list, if any: " @attr". */
        char *attr = strstr(copy, " @");
        if (attr)
            *attr = '\0';
    }
    return domain_set_add(set, kind, copy, why, why_len);
}

/*
 * Whether a pattern depends on its group numbers (back references,
 * subroutine calls, recursion): inside the alternation its groups are
 * renumbered, so such a pattern is matched by itself.
 */
static bool uses_group_numbers(const pcre2_code *re, const char *source)
{
    uint32_t backref_max = 0;
    pcre2_pattern_info(re, PCRE2_INFO_BACKREFMAX, &backref_max);
    if (backref_max > 0)
        return true;
    for (const char *p = strstr(source, "(?"); p; p = strstr(p + 2, "(?"))
        if (strchr("0123456789R+-&", p[2]) || strncmp(p + 2, "P>", 2) == 0)
            return true;
    return strstr(source, "\\g") != NULL;
}

static int freeze_fail(char *why, size_t why_len)
{
    snprintf(why, why_len, "out of memory");
    return -1;
}

/*
 * Splits the regexes three ways: those with a fixed part into the literal
 * index (run only on names that contain it), the rest into one alternation,
 * except those that cannot join one (they use their group numbers, or the
 * alternation does not compile, or there is only one): those run alone.
 */
static int freeze_regexes(struct domain_set *set, char *why, size_t why_len)
{
    size_t total = 0;
    for (size_t i = 0; i < set->n_regex; i++)
        total += strlen(set->regex_sources[i]) + 5;
    char *joined = malloc(total + 1);
    uint32_t *joined_ids = calloc(set->n_regex, sizeof(*joined_ids));
    set->alone = calloc(set->n_regex, sizeof(*set->alone));
    set->literals = literal_index_new();
    if (!joined || !joined_ids || !set->alone || !set->literals) {
        free(joined);
        free(joined_ids);
        return freeze_fail(why, why_len);
    }
    size_t off = 0, n_joined = 0, n_filtered = 0;
    for (size_t i = 0; i < set->n_regex; i++) {
        char literal[256];
        if (regex_literal(set->regex_sources[i], literal, sizeof(literal)) >= REGEX_LITERAL_MIN) {
            if (literal_index_add(set->literals, literal, (uint32_t)i) < 0) {
                free(joined);
                free(joined_ids);
                return freeze_fail(why, why_len);
            }
            n_filtered++;
            pcre2_jit_compile(set->regexes[i], PCRE2_JIT_COMPLETE);
        } else if (uses_group_numbers(set->regexes[i], set->regex_sources[i])) {
            set->alone[set->n_alone++] = (uint32_t)i;
        } else {
            off += (size_t)sprintf(joined + off, "%s(?:%s)", n_joined ? "|" : "",
                                   set->regex_sources[i]);
            joined_ids[n_joined++] = (uint32_t)i;
        }
    }
    if (n_joined > 1) {
        int err;
        PCRE2_SIZE offset;
        set->alternation =
            pcre2_compile((PCRE2_SPTR)joined, off, PCRE2_CASELESS, &err, &offset, NULL);
    }
    free(joined);
    if (set->alternation)
        pcre2_jit_compile(set->alternation, PCRE2_JIT_COMPLETE);
    else
        for (size_t j = 0; j < n_joined; j++)
            set->alone[set->n_alone++] = joined_ids[j];
    free(joined_ids);
    for (size_t j = 0; j < set->n_alone; j++)
        pcre2_jit_compile(set->regexes[set->alone[j]], PCRE2_JIT_COMPLETE);
    literal_index_freeze(set->literals);
    if (n_filtered == 0) {
        literal_index_free(set->literals);
        set->literals = NULL;
    }
    return 0;
}

int domain_set_freeze(struct domain_set *set, char *why, size_t why_len)
{
    if (set->names && build_bloom(set) < 0)
        return freeze_fail(why, why_len);
    return set->n_regex ? freeze_regexes(set, why, why_len) : 0;
}

/*
 * The match data of the calling thread: every worker matches the same sets
 * at once, so it cannot live in the set. Made on a thread's first regex,
 * freed when the thread ends (the key's destructor); one pair is enough, as
 * only whether a regex holds is asked.
 */
static pthread_key_t match_data_key;
static pthread_once_t match_data_once = PTHREAD_ONCE_INIT;
static _Thread_local pcre2_match_data *thread_match_data;

static void match_data_free(void *md)
{
    pcre2_match_data_free(md);
}

static void match_data_key_make(void)
{
    pthread_key_create(&match_data_key, match_data_free);
}

static pcre2_match_data *match_data(void)
{
    if (!thread_match_data) {
        pthread_once(&match_data_once, match_data_key_make);
        thread_match_data = pcre2_match_data_create(1, NULL);
        if (thread_match_data)
            pthread_setspecific(match_data_key, thread_match_data);
    }
    return thread_match_data;
}

/* Whether `re` holds for `host`; out of memory, it does not. */
static bool regex_match(const pcre2_code *re, const char *host)
{
    pcre2_match_data *md = match_data();
    return md && pcre2_match(re, (PCRE2_SPTR)host, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0;
}

struct regex_try {
    const struct domain_set *set;
    const char *host;
};

static bool try_regex(uint32_t id, void *ctx)
{
    const struct regex_try *t = ctx;
    return regex_match(t->set->regexes[id], t->host);
}

void domain_key_init(struct domain_key *key, const char *host)
{
    /* Suffixes start at 0 and after every dot; the first DOMAIN_KEY_LABELS are kept. */
    size_t len = 0, labels = 1;
    for (; host[len]; len++)
        labels += host[len] == '.';
    key->host = host;
    key->n = labels < DOMAIN_KEY_LABELS ? labels : DOMAIN_KEY_LABELS;
    uint64_t h = HASH_SEED;
    size_t label = labels; /* one past the index of the suffix that starts at i */
    for (size_t i = len + 1; i-- > 0;) {
        if (i < len)
            h = hash_step(h, host[i]);
        if ((i == 0 || host[i - 1] == '.') && --label < DOMAIN_KEY_LABELS) {
            key->suffix[label] = host + i;
            key->hash[label] = hash_final(h);
        }
    }
}

bool domain_set_match_key(const struct domain_set *set, const struct domain_key *key)
{
    if (set->names) {
        /* The name itself: a full or a suffix entry both hold. */
        if (maybe_present(set, key->hash[0]) && slot_find(set, key->host, key->hash[0])->hash)
            return true;
        for (size_t i = 1; i < key->n; i++) {
            if (!maybe_present(set, key->hash[i]))
                continue;
            const struct name_slot *s = slot_find(set, key->suffix[i], key->hash[i]);
            if (s->hash && (s->flags & FLAG_SUFFIX))
                return true;
        }
    }
    for (size_t i = 0; i < set->n_keywords; i++)
        if (strstr(key->host, set->keywords[i]))
            return true;
    return domain_set_match_regex(set, key->host);
}

bool domain_set_match_regex(const struct domain_set *set, const char *host)
{
    if (set->literals) {
        struct regex_try t = {set, host};
        if (literal_index_scan(set->literals, host, try_regex, &t))
            return true;
    }
    if (set->alternation && regex_match(set->alternation, host))
        return true;
    for (size_t i = 0; i < set->n_alone; i++)
        if (regex_match(set->regexes[set->alone[i]], host))
            return true;
    return false;
}

bool domain_set_match(const struct domain_set *set, const char *host)
{
    struct domain_key key;
    domain_key_init(&key, host);
    return domain_set_match_key(set, &key);
}

uint64_t domain_name_hash(const char *name)
{
    return name_hash(name);
}

int domain_set_each_name(const struct domain_set *set,
                         int (*fn)(const char *name, bool full, bool suffix, void *ctx), void *ctx)
{
    for (size_t i = 0; set->slots && i <= set->slot_mask; i++) {
        const struct name_slot *s = &set->slots[i];
        int rc = s->hash
                     ? fn(set->arena + s->offset, s->flags & FLAG_FULL, s->flags & FLAG_SUFFIX, ctx)
                     : 0;
        if (rc)
            return rc;
    }
    return 0;
}

size_t domain_set_keyword_count(const struct domain_set *set)
{
    return set->n_keywords;
}

const char *domain_set_keyword(const struct domain_set *set, size_t index)
{
    return set->keywords[index];
}

bool domain_set_has_regex(const struct domain_set *set)
{
    return set->n_regex > 0;
}

size_t domain_set_count(const struct domain_set *set, enum domain_kind kind)
{
    return set->counts[kind];
}
