/*
 * mark.c — VALUE[/MASK] marks. See mark.h.
 */
#include "rules/mark.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* One number of a mark, up to 0xffffffff; `end` is where it stopped. */
static bool number(const char *s, uint32_t *out, const char **end)
{
    if (!isdigit((unsigned char)*s))
        return false;
    char *stop;
    errno = 0;
    unsigned long long v = strtoull(s, &stop, 0);
    if (errno || v > MARK_WHOLE || stop == s)
        return false;
    *out = (uint32_t)v;
    *end = stop;
    return true;
}

bool mark_parse(const char *text, struct mark *out)
{
    struct mark m = {.mask = MARK_WHOLE};
    const char *end;
    if (!number(text, &m.value, &end))
        return false;
    if (*end == '/' && !number(end + 1, &m.mask, &end))
        return false;
    if (*end || !m.mask || (m.value & ~m.mask))
        return false;
    *out = m;
    return true;
}

bool mark_matches(struct mark m, uint32_t packet)
{
    return (packet & m.mask) == m.value;
}

uint32_t mark_set(struct mark m, uint32_t packet)
{
    return (packet & ~m.mask) | m.value;
}

const char *mark_format(struct mark m, char buf[MARK_TEXT_MAX])
{
    if (m.mask == MARK_WHOLE)
        snprintf(buf, MARK_TEXT_MAX, "0x%x", m.value);
    else
        snprintf(buf, MARK_TEXT_MAX, "0x%x/0x%x", m.value, m.mask);
    return buf;
}
