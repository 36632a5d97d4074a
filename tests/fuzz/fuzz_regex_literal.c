/*
 * fuzz_regex_literal.c — the regex prefilter's promise, checked: the input
 * is "PATTERN\nSUBJECT"; when PCRE2 compiles the pattern (caseless, as
 * domain sets do) and regex_literal names a literal for it, every match in
 * the subject must contain that literal. A literal that a match can avoid
 * would make a domain set miss a name.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "rules/regex_literal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[1024];
    if (size >= sizeof(buf) || memchr(data, '\0', size))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *subject = strchr(buf, '\n');
    if (!subject)
        return 0;
    *subject++ = '\0';

    char literal[256];
    size_t n = regex_literal(buf, literal, sizeof(literal));
    if (n != strlen(literal))
        __builtin_trap();
    int err;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)buf, PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &err, &off, NULL);
    if (!re)
        return 0;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    /* A small budget: catastrophic patterns are PCRE2's business, not ours. */
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(mc, 10000);
    if (n > 0 && pcre2_match(re, (PCRE2_SPTR)subject, PCRE2_ZERO_TERMINATED, 0, 0, md, mc) >= 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        char matched[1024];
        size_t len = ov[1] > ov[0] ? ov[1] - ov[0] : 0;
        memcpy(matched, subject + ov[0], len);
        matched[len] = '\0';
        if (!strcasestr(matched, literal))
            __builtin_trap();
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return 0;
}
