/*
 * fake_policy.h — what the link-time fakes of the policy have alike
 * (tcp_fixture.h, test_udp_session.c): reference counting and the settings.
 *
 * The test defines `struct policy` with at least `int refs` and
 * `struct policy_settings settings` before including this, and writes its
 * own decisions and inbound list.
 */
#ifndef SWITCHYARD_TEST_FAKE_POLICY_H
#define SWITCHYARD_TEST_FAKE_POLICY_H

#include <stddef.h>

#include "rules/policy.h"

struct policy *policy_ref(struct policy *p)
{
    p->refs++;
    return p;
}

void policy_unref(struct policy *p)
{
    if (p)
        p->refs--;
}

const struct policy_settings *policy_settings(const struct policy *p)
{
    return &p->settings;
}

#endif
