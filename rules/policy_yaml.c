/*
 * policy_yaml.c — typed access to the policy's YAML nodes with precise
 * errors. See policy_yaml.h.
 */
#include "rules/policy_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rules/ascii.h"

int policy_yaml_line(const yaml_node_t *node)
{
    return (int)node->start_mark.line + 1;
}

/*
 * A path longer than this keeps its end only ("...end"), so that however
 * long it is, the message after it still fits.
 */
#define PATH_SHOWN_MAX (POLICY_ERROR_MAX / 2)

/*
 * The one place messages are composed: "FILE:LINE:COL: message" ("FILE:
 * message" when `line` is 0) into `out` of `len` bytes, cut to fit.
 */
static void compose(char *out, size_t len, const char *file, int line, int col, const char *fmt,
                    va_list ap)
{
    size_t file_len = strlen(file);
    const char *cut = "";
    if (file_len > PATH_SHOWN_MAX) {
        cut = "...";
        file += file_len - PATH_SHOWN_MAX;
    }
    int n = line ? snprintf(out, len, "%s%s:%d:%d: ", cut, file, line, col)
                 : snprintf(out, len, "%s%s: ", cut, file);
    if (n >= 0 && (size_t)n < len)
        vsnprintf(out + n, len - (size_t)n, fmt, ap);
}

static int node_column(const yaml_node_t *node)
{
    return node ? (int)node->start_mark.column + 1 : 0;
}

int policy_yaml_fail(struct load_ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    compose(c->error, POLICY_ERROR_MAX, c->file, node ? policy_yaml_line(node) : 0,
            node_column(node), fmt, ap);
    va_end(ap);
    return -1;
}

int policy_yaml_fail_at(struct load_ctx *c, const char *file, int line, int col, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    compose(c->error, POLICY_ERROR_MAX, file, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

void policy_yaml_warn(struct load_ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
    char msg[POLICY_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    compose(msg, sizeof(msg), c->file, node ? policy_yaml_line(node) : 0, node_column(node), fmt,
            ap);
    va_end(ap);
    struct policy *p = c->p;
    char **w = realloc(p->warnings, (p->n_warnings + 1) * sizeof(*w));
    if (!w)
        return;
    p->warnings = w;
    if ((w[p->n_warnings] = strdup(msg)))
        p->n_warnings++;
}

static const char *node_type_name(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a map";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a value";
    }
}

const char *policy_yaml_scalar(struct load_ctx *c, const yaml_node_t *node, const char *what)
{
    if (node->type != YAML_SCALAR_NODE) {
        policy_yaml_fail(c, node, "%s must be a single value, not %s", what, node_type_name(node));
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

int policy_yaml_uint(struct load_ctx *c, const yaml_node_t *node, const char *what, uint64_t max,
                     uint64_t *out)
{
    const char *s = policy_yaml_scalar(c, node, what);
    if (!s)
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (!isdigit((unsigned char)s[0]) || *end || errno || v > max)
        return policy_yaml_fail(c, node, "%s must be a whole number from 0 to %llu, not '%s'", what,
                                (unsigned long long)max, s);
    *out = v;
    return 0;
}

int policy_yaml_bool(struct load_ctx *c, const yaml_node_t *node, const char *what, bool *out)
{
    const char *s = policy_yaml_scalar(c, node, what);
    if (!s)
        return -1;
    if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on"))
        *out = true;
    else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off"))
        *out = false;
    else
        return policy_yaml_fail(c, node, "%s must be true or false, not '%s'", what, s);
    return 0;
}

/* Levenshtein distance, bounded to short words (keys and names). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost =
                ascii_lower((unsigned char)a[i - 1]) != ascii_lower((unsigned char)b[j - 1]);
            size_t best = diag + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *policy_yaml_suggest(const char *word, const char *const *names)
{
    const char *best = NULL;
    size_t best_distance = strlen(word) / 3 + 1; /* close: a typo, not another word */
    if (best_distance > 3)
        best_distance = 3;
    for (; *names; names++) {
        size_t d = edit_distance(word, *names);
        if (d <= best_distance && (!best || d < edit_distance(word, best)))
            best = *names;
    }
    return best;
}

int policy_yaml_word(struct load_ctx *c, const yaml_node_t *node, const char *what,
                     const char *const *words, unsigned *out)
{
    const char *s = policy_yaml_scalar(c, node, what);
    if (!s)
        return -1;
    for (unsigned i = 0; words[i]; i++)
        if (strcmp(s, words[i]) == 0) {
            *out = i;
            return 0;
        }
    const char *close = policy_yaml_suggest(s, words);
    if (close)
        return policy_yaml_fail(c, node, "unknown %s '%s' (did you mean '%s'?)", what, s, close);
    char list[256] = "";
    for (size_t i = 0, n = 0; words[i] && n < sizeof(list); i++)
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", words[i]);
    return policy_yaml_fail(c, node, "unknown %s '%s' (%s)", what, s, list);
}

int policy_yaml_map_keys(struct load_ctx *c, yaml_node_t *node, const char *what,
                         struct policy_yaml_key *keys)
{
    if (node->type != YAML_MAPPING_NODE)
        return policy_yaml_fail(c, node, "%s must be a map, not %s", what, node_type_name(node));
    const char *names[64];
    size_t n = 0;
    for (struct policy_yaml_key *k = keys; k->name && n < 63; k++) {
        *k->value = NULL;
        names[n++] = k->name;
    }
    names[n] = NULL;

    for (yaml_node_pair_t *pair = node->data.mapping.pairs.start;
         pair < node->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = policy_yaml_node(c, pair->key);
        const char *name = policy_yaml_scalar(c, key, "a key");
        if (!name)
            return -1;
        struct policy_yaml_key *k = keys;
        while (k->name && strcmp(k->name, name) != 0)
            k++;
        if (!k->name) {
            const char *close = policy_yaml_suggest(name, names);
            if (close)
                return policy_yaml_fail(c, key, "unknown key '%s' in %s (did you mean '%s'?)", name,
                                        what, close);
            return policy_yaml_fail(c, key, "unknown key '%s' in %s", name, what);
        }
        if (*k->value)
            return policy_yaml_fail(c, key, "key '%s' given twice in %s", name, what);
        *k->value = policy_yaml_node(c, pair->value);
    }
    return 0;
}

bool policy_yaml_empty_list(const yaml_node_t *node)
{
    return node->type == YAML_SEQUENCE_NODE &&
           node->data.sequence.items.top == node->data.sequence.items.start;
}

int policy_yaml_values_count(struct load_ctx *c, yaml_node_t *node, const char *what)
{
    if (node->type == YAML_SCALAR_NODE)
        return 1;
    if (node->type != YAML_SEQUENCE_NODE)
        return policy_yaml_fail(c, node, "%s must be a value or a list of values, not a map", what);
    int n = (int)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n == 0)
        return policy_yaml_fail(c, node, "%s must not be an empty list", what);
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_node(c, node->data.sequence.items.start[i]);
        if (item->type != YAML_SCALAR_NODE)
            return policy_yaml_fail(c, item, "%s: list items must be single values, not %s", what,
                                    node_type_name(item));
    }
    return n;
}

yaml_node_t *policy_yaml_values_item(struct load_ctx *c, yaml_node_t *node, int i)
{
    if (node->type == YAML_SCALAR_NODE)
        return node;
    return policy_yaml_node(c, node->data.sequence.items.start[i]);
}
