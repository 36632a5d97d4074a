/*
 * host_name.h — the one way a host name is made comparable: ASCII
 * lowercase (never the locale's), a trailing dot dropped, bounded, and the
 * bytes it may hold checked. Names from the wire (the sniffers, proxy
 * requests), from the policy (domain-set entries) and the host a rule is
 * decided on all go through it, so they compare equal when they should.
 */
#ifndef SWITCHYARD_HOST_NAME_H
#define SWITCHYARD_HOST_NAME_H

#include <stddef.h>

/* What a name may hold besides what it is copied as. */
#define HOST_NAME_STRICT 1u   /* only letters, digits, '-', '.' and '_' (else: any byte but NUL) */
#define HOST_NAME_STAR 2u     /* with STRICT: '*' too (a domain-set entry) */
#define HOST_NAME_COLON 4u    /* with STRICT: ':' too (an IPv6 literal taken out of brackets) */
#define HOST_NAME_KEEP_DOT 8u /* a trailing dot stays (a keyword, an IP literal) */

enum host_name_status {
    HOST_NAME_OK,
    HOST_NAME_EMPTY,    /* nothing left (after the trailing dot) */
    HOST_NAME_TOO_LONG, /* longer than `cap` - 1 */
    HOST_NAME_BAD_BYTE, /* `out` holds the name up to the byte refused: its index is strlen(out) */
};

/*
 * Writes the normal form of `name` (`len` bytes) into `out` (`cap` bytes,
 * always NUL-terminated): ASCII letters lowercased, one trailing dot
 * dropped unless HOST_NAME_KEEP_DOT, every byte checked as `flags` say.
 * `out` is "" for EMPTY and TOO_LONG.
 */
enum host_name_status host_name_normalize(const char *name, size_t len, unsigned flags, char *out,
                                          size_t cap);

#endif
