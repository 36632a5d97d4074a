/*
 * privilege.c — from root to `user:` with two capabilities. See privilege.h.
 *
 * The order matters: the groups and the bounding set can only change while
 * root (CAP_SETGID, CAP_SETPCAP); PR_SET_KEEPCAPS keeps the permitted set
 * across setresuid, which would otherwise empty it; then the permitted and
 * effective sets are cut to the kept two, the inheritable and ambient sets
 * emptied, and no exec may gain anything again.
 */
#include "engine/core/privilege.h"

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "rules/util.h"

static const cap_value_t kept[] = {CAP_NET_ADMIN, CAP_NET_BIND_SERVICE};
#define KEPT_COUNT (ARRAY_LEN(kept))

static bool is_kept(cap_value_t cap)
{
    for (size_t i = 0; i < KEPT_COUNT; i++)
        if (kept[i] == cap)
            return true;
    return false;
}

/* Writes "STEP: strerror(errno)" into `message`; returns PRIVILEGE_FAILED. */
static enum privilege_result failed(char *message, size_t len, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, len, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < len && saved)
        snprintf(message + n, len - (size_t)n, ": %s", strerror(saved));
    return PRIVILEGE_FAILED;
}

/* Removes every capability but the kept ones from the bounding set (needs CAP_SETPCAP). */
static int drop_bounding(void)
{
    for (cap_value_t cap = 0; cap < (cap_value_t)cap_max_bits(); cap++)
        if (!is_kept(cap) && cap_drop_bound(cap) < 0)
            return -1;
    return 0;
}

/* Permitted and effective: the kept ones; inheritable and ambient: none. */
static int keep_only(void)
{
    cap_t caps = cap_init();
    if (!caps)
        return -1;
    int rc = cap_set_flag(caps, CAP_PERMITTED, KEPT_COUNT, kept, CAP_SET) < 0 ||
                     cap_set_flag(caps, CAP_EFFECTIVE, KEPT_COUNT, kept, CAP_SET) < 0 ||
                     cap_set_proc(caps) < 0
                 ? -1
                 : 0;
    cap_free(caps);
    return rc == 0 ? cap_reset_ambient() : -1;
}

/* "cap_net_bind_service,cap_net_admin=ep" or the like, from the process itself. */
static void describe(const struct policy_settings *s, char *message, size_t len)
{
    cap_t caps = cap_get_proc();
    char *text = caps ? cap_to_text(caps, NULL) : NULL;
    snprintf(message, len, "running as %s (uid %u, gid %u), keeping %s", s->user, (unsigned)s->uid,
             (unsigned)s->gid, text ? text : "?");
    cap_free(text);
    cap_free(caps);
}

enum privilege_result privilege_switch(const struct policy_settings *s, char *message, size_t len)
{
    if (!s->user)
        return PRIVILEGE_UNCHANGED;
    errno = 0;
    if (geteuid() != 0) {
        if (getuid() == s->uid && geteuid() == s->uid) {
            snprintf(message, len,
                     "already running as %s (not root): user: has nothing to switch, the "
                     "capabilities are the ones switchyard was started with",
                     s->user);
            return PRIVILEGE_ALREADY_USER;
        }
        return failed(message, len,
                      "user: %s needs switchyard started as root (it runs as uid %u); start it "
                      "as root, or remove user: and start it as %s",
                      s->user, (unsigned)geteuid(), s->user);
    }
    if ((s->group ? setgroups(1, &s->gid) : initgroups(s->user, s->gid)) < 0)
        return failed(message, len, "cannot set the supplementary groups of %s", s->user);
    if (setresgid(s->gid, s->gid, s->gid) < 0)
        return failed(message, len, "cannot switch to gid %u", (unsigned)s->gid);
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0)
        return failed(message, len, "cannot keep capabilities across the switch");
    if (drop_bounding() < 0)
        return failed(message, len, "cannot drop the bounding capability set");
    if (setresuid(s->uid, s->uid, s->uid) < 0)
        return failed(message, len, "cannot switch to user %s (uid %u)", s->user, (unsigned)s->uid);
    if (keep_only() < 0)
        return failed(message, len, "cannot reduce the capabilities of user %s", s->user);
    if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) < 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
        return failed(message, len, "cannot set no_new_privs");
    /* uid 0 must be out of reach now; a user that is root itself is not a switch. */
    errno = 0;
    if (s->uid != 0 && setresuid(0, 0, 0) == 0)
        return failed(message, len, "user %s could become root again", s->user);
    describe(s, message, len);
    return PRIVILEGE_SWITCHED;
}
