/*
 * regex_literal.c — required literals of regexes and their index. See
 * regex_literal.h.
 *
 * The pattern is read at its top level only: a run grows with each plain
 * or escaped-punctuation character and ends at anything else (., ^, $, a
 * class, a group, \d and the like). A quantifier that allows zero takes
 * its character back out of the run; one that repeats it ends the run
 * after it. Groups are skipped whole, so an alternation inside one does not
 * matter, but a | at the top level, inline options, verbs, \Q, back
 * references and unknown escapes give no literal at all.
 */
#include "rules/regex_literal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "rules/ascii.h"

struct piece {
    uint32_t key; /* three lowercase characters */
    uint32_t id;
    uint32_t at;   /* where the key starts in the literal */
    char *literal; /* lowercase */
};

struct literal_index {
    struct piece *pieces;
    size_t n, cap;
    uint64_t bloom[64]; /* 4096 bits: which keys exist, before a binary search */
};

/* Index just past the class that starts at p[i] == '['; 0 when unterminated. */
static size_t skip_class(const char *p, size_t i)
{
    size_t j = i + 1;
    if (p[j] == '^')
        j++;
    if (p[j] == ']')
        j++; /* a leading ] is a member */
    for (; p[j]; j++) {
        if (p[j] == '\\') {
            if (!p[++j])
                return 0;
        } else if (p[j] == '[' && p[j + 1] == ':') {
            /* [:alpha:] or [:^alpha:]; otherwise the [ is just a member, as PCRE2 reads it. */
            size_t k = j + 2 + (p[j + 2] == '^');
            while (islower((unsigned char)p[k]))
                k++;
            if (p[k] == ':' && p[k + 1] == ']')
                j = k + 1;
        } else if (p[j] == ']') {
            return j + 1;
        }
    }
    return 0;
}

/* Index just past the group that starts at p[i] == '('; 0 when unbalanced. */
static size_t skip_group(const char *p, size_t i)
{
    int depth = 0;
    for (size_t j = i; p[j];) {
        if (p[j] == '\\') {
            if (!p[j + 1])
                return 0;
            j += 2;
        } else if (p[j] == '[') {
            if (!(j = skip_class(p, j)))
                return 0;
        } else {
            if (p[j] == '(')
                depth++;
            if (p[j] == ')' && --depth == 0)
                return j + 1;
            j++;
        }
    }
    return 0;
}

/* Index just past the quantifier at p[i] ("?", "*", "+", "{m}", "{m,n}", "{m,}", with ? or +
 * after it); *optional says whether it allows zero. 0 when p[i] is not a quantifier we know. */
static size_t skip_quantifier(const char *p, size_t i, bool *optional)
{
    size_t j = i + 1;
    *optional = p[i] != '+';
    if (p[i] == '{') {
        if (!isdigit((unsigned char)p[j]))
            return 0;
        *optional = true;
        for (; isdigit((unsigned char)p[j]); j++)
            if (p[j] != '0')
                *optional = false;
        while (p[j] == ',' || isdigit((unsigned char)p[j]))
            j++;
        if (p[j] != '}')
            return 0;
        j++;
    }
    if (p[j] == '?' || p[j] == '+')
        j++;
    return j;
}

/*
 * How well a run of `n` characters filters names: runs too short for the
 * index last, then a dot and one label (".com", ".tv": in a good part of
 * all names), then the rest by length.
 */
static size_t run_worth(const char *run, size_t n)
{
    if (n < REGEX_LITERAL_MIN)
        return n;
    bool last_label = run[0] == '.' && !memchr(run + 1, '.', n - 1);
    return (last_label ? 1000 : 2000) + n;
}

/* regex_literal's scan; may leave a partial answer in `out` when it returns 0. */
static size_t scan(const char *p, char *out, size_t out_len)
{
    char run[256];
    size_t run_n = 0, best = 0, best_worth = 0;
    bool last_literal = false; /* the previous atom is the last character of `run` */
    if (strstr(p, "(*"))       /* verbs such as (*ACCEPT) end a match anywhere */
        return 0;
    if (strstr(p, "\\Q")) /* quoted text, even inside a class */
        return 0;
    for (const char *q = strstr(p, "(?"); q; q = strstr(q + 2, "(?"))
        if (q[2] != ':') /* inline options, lookarounds, named groups, recursion */
            return 0;

    for (size_t i = 0;;) {
        char c = p[i], lit = 0;
        bool ends_run = true;
        if (c == '\0' || c == '|' || c == ')') {
            ends_run = true;
        } else if (c == '(') {
            if (!(i = skip_group(p, i)))
                return 0;
        } else if (c == '[') {
            if (!(i = skip_class(p, i)))
                return 0;
        } else if (c == '\\') {
            char d = p[i + 1];
            if (d == '\0' || (isalnum((unsigned char)d) && !strchr("dDwWsSbB", d)))
                return 0;
            if (!isalnum((unsigned char)d)) {
                lit = d;
                ends_run = false;
            }
            i += 2;
        } else if (c == '?' || c == '*' || c == '+' || c == '{') {
            bool optional;
            if (!(i = skip_quantifier(p, i, &optional)))
                return 0;
            if (last_literal && optional)
                run_n--;
        } else if (c == '.' || c == '^' || c == '$') {
            i++;
        } else {
            lit = c;
            ends_run = false;
            i++;
        }

        if (!ends_run && run_n + 1 < sizeof(run)) {
            run[run_n++] = (char)ascii_lower((unsigned char)lit);
            last_literal = true;
            continue;
        }
        if (run_n > 0 && run_worth(run, run_n) > best_worth && run_n < out_len) {
            memcpy(out, run, run_n);
            out[run_n] = '\0';
            best = run_n;
            best_worth = run_worth(run, run_n);
        }
        run_n = 0;
        last_literal = false;
        if (c == '\0')
            return best;
        if (c == '|' || c == ')') /* a top-level alternative, or an unbalanced ) */
            return 0;
    }
}

size_t regex_literal(const char *pattern, char *out, size_t out_len)
{
    if (out_len == 0)
        return 0;
    out[0] = '\0';
    size_t n = scan(pattern, out, out_len);
    if (n == 0)
        out[0] = '\0';
    return n;
}

/* The lowercase of a character of text, as a key byte. */
static uint32_t lower_byte(char c)
{
    return ascii_lower((unsigned char)c);
}

static uint32_t key_of(const char *s)
{
    return lower_byte(s[0]) << 16 | lower_byte(s[1]) << 8 | lower_byte(s[2]);
}

static unsigned bloom_bit(uint32_t key)
{
    return (key * 2654435761u) >> 20; /* 12 bits */
}

struct literal_index *literal_index_new(void)
{
    return calloc(1, sizeof(struct literal_index));
}

void literal_index_free(struct literal_index *index)
{
    if (!index)
        return;
    for (size_t i = 0; i < index->n; i++)
        free(index->pieces[i].literal);
    free(index->pieces);
    free(index);
}

int literal_index_add(struct literal_index *index, const char *literal, uint32_t id)
{
    size_t len = strlen(literal);
    if (len < REGEX_LITERAL_MIN)
        return -1;
    if (index->n == index->cap) {
        size_t cap = index->cap ? index->cap * 2 : 16;
        struct piece *p = realloc(index->pieces, cap * sizeof(*p));
        if (!p)
            return -1;
        index->pieces = p;
        index->cap = cap;
    }
    /* The first piece without a dot: ".com" is in most names, "91p" is not. */
    size_t at = 0;
    for (size_t i = 0; i + REGEX_LITERAL_MIN <= len; i++)
        if (!memchr(literal + i, '.', REGEX_LITERAL_MIN)) {
            at = i;
            break;
        }
    char *copy = strdup(literal);
    if (!copy)
        return -1;
    for (size_t i = 0; i < len; i++)
        copy[i] = (char)lower_byte(copy[i]);
    uint32_t key = key_of(literal + at);
    index->pieces[index->n++] = (struct piece){key, id, (uint32_t)at, copy};
    index->bloom[bloom_bit(key) / 64] |= 1ull << (bloom_bit(key) % 64);
    return 0;
}

static int piece_cmp(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void literal_index_freeze(struct literal_index *index)
{
    if (index->n)
        qsort(index->pieces, index->n, sizeof(*index->pieces), piece_cmp);
}

/*
 * Whether `literal` (lowercase) starts at `text`. Checked where its key
 * was seen rather than searched for: every occurrence has its key at some
 * position of the scan. The text's NUL ends a mismatch like any byte.
 */
static bool occurs_at(const char *text, const char *literal)
{
    for (size_t j = 0; literal[j]; j++)
        if (lower_byte(text[j]) != (unsigned char)literal[j])
            return false;
    return true;
}

bool literal_index_scan(const struct literal_index *index, const char *text,
                        bool (*fn)(uint32_t id, void *ctx), void *ctx)
{
    if (!text[0] || !text[1])
        return false;
    /* The key of the piece at i, rolled along: one byte read per position. */
    uint32_t key = lower_byte(text[0]) << 8 | lower_byte(text[1]);
    for (size_t i = 0; text[i + 2]; i++) {
        key = (key << 8 | lower_byte(text[i + 2])) & 0xffffffu;
        unsigned bit = bloom_bit(key);
        if (!(index->bloom[bit / 64] & 1ull << (bit % 64)))
            continue;
        size_t lo = 0, hi = index->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (index->pieces[mid].key < key)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < index->n && index->pieces[lo].key == key; lo++) {
            const struct piece *p = &index->pieces[lo];
            if (p->at <= i && occurs_at(text + i - p->at, p->literal) && fn(p->id, ctx))
                return true;
        }
    }
    return false;
}
