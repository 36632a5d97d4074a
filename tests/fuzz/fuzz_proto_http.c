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
    int n = http_parse_proxy_request(data, size, &req);
    if (n > 0 && (size_t)n > size)
        __builtin_trap();
    if (n > 0 && !req.is_connect && strlen(req.rewritten) != req.rewritten_len)
        __builtin_trap();
    n = http_parse_response(data, size, &status);
    if (n > 0 && ((size_t)n > size || status < 0 || status > 999))
        __builtin_trap();
    return 0;
}
