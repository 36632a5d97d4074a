/*
 * host_name.c — host names lowercased, without their trailing dot, bounded
 * and checked (see host_name.h).
 */
#include "rules/host_name.h"

#include <stdbool.h>

#include "rules/ascii.h"

static bool byte_allowed(unsigned char c, unsigned flags)
{
    if (!(flags & HOST_NAME_STRICT))
        return c != '\0';
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           (c == '*' && (flags & HOST_NAME_STAR)) || (c == ':' && (flags & HOST_NAME_COLON));
}

enum host_name_status host_name_normalize(const char *name, size_t len, unsigned flags, char *out,
                                          size_t cap)
{
    out[0] = '\0';
    if (len > 0 && name[len - 1] == '.' && !(flags & HOST_NAME_KEEP_DOT))
        len--;
    if (len == 0)
        return HOST_NAME_EMPTY;
    if (len >= cap)
        return HOST_NAME_TOO_LONG;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = ascii_lower((unsigned char)name[i]);
        if (!byte_allowed(c, flags)) {
            out[i] = '\0';
            return HOST_NAME_BAD_BYTE;
        }
        out[i] = (char)c;
    }
    out[len] = '\0';
    return HOST_NAME_OK;
}
