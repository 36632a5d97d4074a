/*
 * policy_yaml.h — reading the policy's YAML document: typed access to
 * nodes, and every mistake reported once as "FILE:LINE:COL: message" with
 * the node's own position. Used by the policy loader only. Names start
 * with policy_yaml_: yaml_* is libyaml's.
 *
 * Convention: functions return 0 on success and -1 after writing the error
 * into the context; the caller just passes -1 up.
 */
#ifndef SWITCHYARD_POLICY_YAML_H
#define SWITCHYARD_POLICY_YAML_H

#include <stdbool.h>
#include <stdint.h>
#include <yaml.h>

#include "rules/policy_internal.h"

struct load_ctx {
    const char *file; /* as given, for messages */
    char *dir;        /* the file's folder: relative paths start here */
    yaml_document_t doc;
    struct policy *p;
    char *error; /* POLICY_ERROR_MAX bytes */
    /* YAML aliases can make a map its own descendant, or share one map so
     * often that the rules grow exponentially: nesting and the number of
     * condition maps compiled are bounded (policy_rules.c). */
    int depth;
    size_t clauses;
};

/* Writes "FILE:LINE:COL: message" for `node` (or "FILE: message" when NULL); returns -1. */
int policy_yaml_fail(struct load_ctx *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Writes "FILE:LINE:COL: message" ("FILE: message" when `line` is 0) about
 * any file, e.g. a list file the policy names; returns -1. Like every
 * message here it is cut to POLICY_ERROR_MAX bytes, and a very long path
 * keeps its end only ("...end") so that the message still shows.
 */
int policy_yaml_fail_at(struct load_ctx *c, const char *file, int line, int col, const char *fmt,
                        ...) __attribute__((format(printf, 5, 6)));

/* Adds a warning "FILE:LINE:COL: message" to the policy. */
void policy_yaml_warn(struct load_ctx *c, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1-based position of a node. */
int policy_yaml_line(const yaml_node_t *node);

/* The scalar's text, or NULL (and an error naming `what`) for a map or list. */
const char *policy_yaml_scalar(struct load_ctx *c, const yaml_node_t *node, const char *what);

int policy_yaml_uint(struct load_ctx *c, const yaml_node_t *node, const char *what, uint64_t max,
                     uint64_t *out);
int policy_yaml_bool(struct load_ctx *c, const yaml_node_t *node, const char *what, bool *out);

/*
 * Which of `words` (NULL-terminated) the scalar is: its index into `*out`.
 * Any other word is an error that suggests the closest one, or lists them.
 */
int policy_yaml_word(struct load_ctx *c, const yaml_node_t *node, const char *what,
                     const char *const *words, unsigned *out);

/* A map's key table entry: the key, and where its value goes. */
struct policy_yaml_key {
    const char *name;
    yaml_node_t **value; /* filled with the value node, NULL when absent */
};

/*
 * Checks that `node` is a map whose keys are all in `keys` (NULL-terminated
 * by name), each at most once, and fills their `value`s. An unknown key is
 * an error that suggests the closest known one.
 */
int policy_yaml_map_keys(struct load_ctx *c, yaml_node_t *node, const char *what,
                         struct policy_yaml_key *keys);

/* The closest of `names` (NULL-terminated) to `word`, or NULL when none is close. */
const char *policy_yaml_suggest(const char *word, const char *const *names);

/* Whether `node` is a list with nothing in it (`[]`). */
bool policy_yaml_empty_list(const yaml_node_t *node);

/*
 * One value or a list of values (conditions accept both): the number of
 * values, or -1 (an error naming `what`) when `node` is a map, an empty
 * list, or a list holding anything but scalars.
 */
int policy_yaml_values_count(struct load_ctx *c, yaml_node_t *node, const char *what);

/* Value `i` of what policy_yaml_values_count() counted. */
yaml_node_t *policy_yaml_values_item(struct load_ctx *c, yaml_node_t *node, int i);

/* The node at a sequence or mapping position. */
static inline yaml_node_t *policy_yaml_node(struct load_ctx *c, int index)
{
    return yaml_document_get_node(&c->doc, index);
}

#endif
