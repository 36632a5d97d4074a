/*
 * kernel_need.h — test helper: the socket interfaces some tests need besides
 * root. The cross-built unit tests (make test-cross) run under qemu-user,
 * which passes most socket calls to the kernel but not all: qemu 7.2 refuses
 * SO_MARK and IP_RECVORIGDSTADDR with ENOPROTOOPT and opens no
 * NETLINK_NETFILTER socket. A kernel never refuses them that way, so such a
 * test is skipped there, saying why, and runs everywhere else; need_root()
 * adds root to that, netns_enter() gives the tests that have root a network
 * of their own. A program whose tests all need root lists them once with
 * ROOT_TEST_MAIN(), each test a body that need_root() guards. Included after
 * cmocka.h.
 */
#ifndef SWITCHYARD_TEST_KERNEL_NEED_H
#define SWITCHYARD_TEST_KERNEL_NEED_H

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests/unit/named_cases.h"

/* NULL when SO_MARK, IP_RECVORIGDSTADDR and NETLINK_NETFILTER sockets are
 * there; otherwise the list of what is missing. Call it as root. */
static inline const char *kernel_lacks(void)
{
    static char why[128];
    why[0] = 0;
    int one = 1, fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return "no UDP socket";
    if (setsockopt(fd, SOL_SOCKET, SO_MARK, &one, sizeof(one)) < 0 && errno == ENOPROTOOPT)
        strcat(why, " SO_MARK");
    if (setsockopt(fd, SOL_IP, IP_RECVORIGDSTADDR, &one, sizeof(one)) < 0 && errno == ENOPROTOOPT)
        strcat(why, " IP_RECVORIGDSTADDR");
    close(fd);
    fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
    if (fd < 0)
        strcat(why, " NETLINK_NETFILTER");
    else
        close(fd);
    return why[0] ? why : NULL;
}

/* Skips the running test, with the reason, when kernel_lacks() names something. */
static inline void kernel_need(void)
{
    const char *why = kernel_lacks();
    if (why) {
        print_message("# SKIP not emulated here (qemu-user?):%s\n", why);
        skip();
    }
}

/* Skips the running test unless it runs as root with what kernel_need() asks. */
static inline void need_root(void)
{
    if (geteuid() != 0)
        skip();
    kernel_need();
}

/* As root, moves the test program into a network namespace of its own, set
 * up by the shell commands `script`; without root does nothing (the tests
 * that need it skip). 0, or -1 when that fails. */
static inline int netns_enter(const char *script)
{
    if (geteuid() != 0)
        return 0;
    return unshare(CLONE_NEWNET) < 0 || system(script) != 0 ? -1 : 0;
}

/* A test that needs root: its name (the function's) and its body, a case for named_cases(). */
struct root_test {
    const char *name;
    void (*body)(void);
};

#define ROOT_TEST(f)                                                                               \
    {                                                                                              \
#f, f                                                                                      \
    }

/* Runs the root_test case `*state`: skipped as need_root() says, else its body. */
static inline void root_test_run(void **state)
{
    const struct root_test *t = *state;
    need_root();
    t->body();
}

/* Defines main(): runs the ROOT_TEST(f) entries listed after the group's
 * fixtures and each test's (each NULL for none) as one group, and returns
 * cmocka's count of failures. */
#define ROOT_TEST_MAIN(group_setup, group_teardown, setup, teardown, ...)                          \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct root_test cases[] = {__VA_ARGS__};                                     \
        struct CMUnitTest tests[sizeof(cases) / sizeof(cases[0])];                                 \
        named_cases_with(tests, cases, sizeof(cases) / sizeof(cases[0]), sizeof(cases[0]),         \
                         root_test_run, setup, teardown);                                          \
        return cmocka_run_group_tests(tests, group_setup, group_teardown);                         \
    }

#endif
