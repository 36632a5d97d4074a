/*
 * expect_each.h — one assertion over a list of strings: each is checked
 * against one subject by a predicate, and a failure names the string and
 * the predicate. For tests whose cases are lists of names or lines
 * (test_domain_set.c: the names a set matches and the ones it does not;
 * test_firewall.c: the lines a script holds and the ones it must not).
 * Included after cmocka.h.
 */
#ifndef SWITCHYARD_TEST_EXPECT_EACH_H
#define SWITCHYARD_TEST_EXPECT_EACH_H

#include <stdbool.h>

typedef bool (*expect_pred)(const void *subject, const char *item);

/* Fails on the first of the NULL-terminated `items` for which
 * `pred(subject, item)` is not `want`; the message starts with `what` (a
 * case's name, or the predicate's). */
static inline void expect_each(expect_pred pred, const char *what, const void *subject,
                               const char *const *items, bool want)
{
    for (; *items; items++)
        if (pred(subject, *items) != want)
            fail_msg("%s: \"%s\" should %s", what, *items, want ? "hold" : "not hold");
}

/* `pred(subject, item)` holds for every item listed. */
#define expect_all(pred, subject, ...)                                                             \
    expect_each(pred, #pred, subject, (const char *const[]){__VA_ARGS__, NULL}, true)

/* `pred(subject, item)` holds for none of the items listed. */
#define expect_none(pred, subject, ...)                                                            \
    expect_each(pred, #pred, subject, (const char *const[]){__VA_ARGS__, NULL}, false)

#endif
