/*
 * parse.h — the one result of every incremental parser: the SOCKS5 and
 * HTTP codecs (engine/proto) and the sniffers (rules/sniff). A parser is
 * handed every byte that has arrived so far and says whether they hold its
 * message. Its other outputs mean something only with PARSE_DONE; a parser
 * that consumes bytes says how many in a `size_t *used` out-parameter.
 */
#ifndef SWITCHYARD_PARSE_H
#define SWITCHYARD_PARSE_H

enum parse_result {
    PARSE_NEED_MORE, /* a prefix of a valid message: call again with more bytes */
    PARSE_DONE,      /* complete (`*used` bytes, where the parser has that parameter) */
    PARSE_INVALID,   /* no bytes that follow can make this a valid message */
};

#endif
