/*
 * privilege.h — running as the policy's `user:` once the listeners are open.
 *
 * switchyard starts as root, opens its listeners, then becomes `user:` (and
 * `group:`) keeping only the capabilities that later work needs:
 * CAP_NET_ADMIN (IP_TRANSPARENT, SO_MARK, conntrack over netlink) and
 * CAP_NET_BIND_SERVICE (a reload's listeners on ports below 1024, UDP TPROXY
 * replies sent from the origin's port). Nothing else is kept, in any set, and
 * no exec can ever give more (PR_SET_NO_NEW_PRIVS).
 */
#ifndef SWITCHYARD_PRIVILEGE_H
#define SWITCHYARD_PRIVILEGE_H

#include <stddef.h>

#include "rules/policy.h"

enum privilege_result {
    PRIVILEGE_FAILED = -1,  /* `message` says why; the daemon must not go on */
    PRIVILEGE_UNCHANGED,    /* no `user:` in the policy */
    PRIVILEGE_SWITCHED,     /* now `user:`, `message` names it and what is kept */
    PRIVILEGE_ALREADY_USER, /* started as that user, not root: `message` is a warning */
};

/*
 * Becomes the user and group of `settings` (resolved when the policy loaded),
 * as above. The supplementary groups become the user's own (initgroups), or
 * the `group:` alone when one is given. Started as a user other than root,
 * returns PRIVILEGE_FAILED unless that user is already `user:`. Must run
 * while the process has a single thread: capability sets are per thread.
 * `message` (of `len` bytes) is written on every result but PRIVILEGE_UNCHANGED.
 */
enum privilege_result privilege_switch(const struct policy_settings *settings, char *message,
                                       size_t len);

#endif
