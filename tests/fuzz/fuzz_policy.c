/*
 * fuzz_policy.c — the policy loader over arbitrary YAML: it must load or
 * fail with a FILE:LINE:COL message, never crash or leak; a policy that
 * loads must decide a flow.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "rules/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char error[POLICY_ERROR_MAX];
    struct policy *p =
        policy_load_buffer("/nonexistent/fuzz.yaml", (const char *)data, size, error);
    if (!p) {
        if (strncmp(error, "/nonexistent/fuzz.yaml", 22) != 0 && error[0] != '/')
            __builtin_trap();
        return 0;
    }
    struct policy_flow f = {.network = POLICY_TCP, .host = "www.example.com"};
    struct policy_decision d;
    flow_addr_parse(&f.dst, "192.0.2.1:443");
    flow_addr_parse(&f.src, "198.51.100.1:40000");
    policy_decide_early(p, &f, &d);
    policy_decide(p, &f, &d);
    if (!d.outbound)
        __builtin_trap();
    policy_unref(p);
    return 0;
}
