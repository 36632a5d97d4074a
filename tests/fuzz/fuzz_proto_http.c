/*
 * fuzz_proto_http.c — the HTTP proxy request and response parsers over
 * arbitrary bytes; a parsed request's rewritten head must stay in bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/proto/proto_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct http_request req;
    int status;
    size_t n;
    if (http_parse_proxy_request(data, size, &n, &req) == PARSE_DONE &&
        (n == 0 || n > size || (!req.is_connect && strlen(req.rewritten) != req.rewritten_len)))
        __builtin_trap();
    if (http_parse_response(data, size, &n, &status) == PARSE_DONE &&
        (n == 0 || n > size || status < 0 || status > 999))
        __builtin_trap();
    return 0;
}
