/*
 * ascii.h — ASCII case folding for host names and patterns. Host names are
 * ASCII (IDNs travel as punycode), and these run once per byte on hot
 * paths, so they neither consult the locale nor call a function.
 */
#ifndef SWITCHYARD_ASCII_H
#define SWITCHYARD_ASCII_H

static inline unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

#endif
