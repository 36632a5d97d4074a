/*
 * fuzz_sets.c — the set-file line parsers over arbitrary lines: every line
 * goes to the domain-list parser (domain_set_add_line) and to the CIDR
 * parser (cidr_set_add). Neither may crash; and what they accept they
 * must find again once frozen: the address of an accepted CIDR is in the
 * CIDR set, an accepted plain name (domain:, full: or bare) matches the
 * domain set. Then some names and addresses are looked up.
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/cidr_set.h"
#include "rules/domain_set.h"
#include "rules/host_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LINES 64

/* The name a plain entry should match, lowercase without a trailing dot; false if not plain. */
static bool plain_name(const char *line, char *out, size_t out_len)
{
    const char *v = line;
    if (strncmp(v, "domain:", 7) == 0)
        v += 7;
    else if (strncmp(v, "full:", 5) == 0)
        v += 5;
    return host_name_normalize(v, strlen(v), HOST_NAME_STRICT, out, out_len) == HOST_NAME_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char buf[4096];
    if (size >= sizeof(buf))
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';

    struct domain_set *domains = domain_set_new();
    struct cidr_set *cidrs = cidr_set_new();
    static char names[MAX_LINES][256];
    static struct flow_addr addrs[MAX_LINES];
    size_t n_names = 0, n_addrs = 0;
    char why[512];
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (domain_set_add_line(domains, line, why, sizeof(why)) == 0 && n_names < MAX_LINES &&
            plain_name(line, names[n_names], sizeof(names[0])))
            n_names++;
        const char *reason;
        if (cidr_set_add(cidrs, line, &reason) == 0 && n_addrs < MAX_LINES) {
            char ip[64];
            snprintf(ip, sizeof(ip), "%.*s", (int)strcspn(line, "/"), line);
            const char *slash = strchr(line, '/');
            bool short_mapped = strchr(ip, ':') && slash && atoi(slash + 1) < 96;
            /* ::ffff:a.b.c.d is looked up as IPv4; only a /96 or longer covers that. */
            if (flow_addr_parse_ip(&addrs[n_addrs], ip) &&
                !(short_mapped && addrs[n_addrs].family == AF_INET))
                n_addrs++;
        }
    }
    if (domain_set_freeze(domains, why, sizeof(why)) == 0) {
        for (size_t i = 0; i < n_names; i++)
            if (!domain_set_match(domains, names[i]))
                __builtin_trap();
        domain_set_match(domains, "www.example.com");
        domain_set_match(domains, "a");
    }
    if (cidr_set_freeze(cidrs) == 0) {
        for (size_t i = 0; i < n_addrs; i++)
            if (!cidr_set_contains(cidrs, &addrs[i]))
                __builtin_trap();
        struct flow_addr a;
        flow_addr_parse_ip(&a, "192.0.2.1");
        cidr_set_contains(cidrs, &a);
        flow_addr_parse_ip(&a, "2001:db8::1");
        cidr_set_contains(cidrs, &a);
    }
    domain_set_free(domains);
    cidr_set_free(cidrs);
    return 0;
}
