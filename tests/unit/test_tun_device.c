/*
 * test_tun_device.c — the receive packet steering mask a tun device gets:
 * the CPUs switchyard is not bound to, all of them when it is bound to none
 * in particular, nothing on one CPU, and the sysfs form past 32 CPUs; with
 * two queues, the listener's queue is left to switchyard's own CPU and the
 * client's is steered. As root, in a network namespace of its own: a device
 * opens with two queues steered so, and the kernel processes a packet
 * written on a queue whose steering is empty on the writer's CPU and one
 * written on a steered queue on the other (the receiving socket's
 * SO_INCOMING_CPU), either queue; a persistent device made with one queue
 * is opened with that one.
 */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/tun/tun_device.h"
#include "engine/tun/tun_packet.h"
#include "tests/unit/addr_text.h"
#include "tests/unit/unit_test.h"

static cpu_set_t cpus(int first, int last)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu = first; cpu <= last; cpu++)
        CPU_SET(cpu, &set);
    return set;
}

/* Checks that tun_device_rps_mask, for `ncpus` CPUs with switchyard bound to CPUs `first` to
 * `last`, gives the mask `want`. */
static void expect_rps_mask(int ncpus, int first, int last, const char *want)
{
    char mask[64];
    cpu_set_t bound = cpus(first, last);
    if (!tun_device_rps_mask(ncpus, &bound, mask, sizeof(mask)))
        fail_msg("%d CPUs, bound to %d-%d: no mask, expected %s", ncpus, first, last, want);
    if (strcmp(mask, want) != 0)
        fail_msg("%d CPUs, bound to %d-%d: mask %s, expected %s", ncpus, first, last, mask, want);
}

static void spreads_over_the_cpus_switchyard_is_not_bound_to(void **state)
{
    (void)state;
    expect_rps_mask(2, 1, 1, "1");
    expect_rps_mask(8, 2, 3, "f3");
}

static void spreads_over_every_cpu_when_bound_to_all(void **state)
{
    (void)state;
    expect_rps_mask(4, 0, CPU_SETSIZE - 1, "f");
}

static void leaves_one_cpu_alone(void **state)
{
    (void)state;
    char mask[64] = "";
    cpu_set_t zero = cpus(0, 0);
    assert_false(tun_device_rps_mask(1, &zero, mask, sizeof(mask)));
    assert_false(tun_device_rps_mask(0, &zero, mask, sizeof(mask)));
}

static void writes_32_cpu_groups_highest_first(void **state)
{
    (void)state;
    expect_rps_mask(40, 0, 0, "ff,fffffffe");
    expect_rps_mask(33, 0, CPU_SETSIZE - 1, "1,ffffffff");
    char mask[64];
    cpu_set_t first = cpus(0, 0);
    assert_false(tun_device_rps_mask(40, &first, mask, 8)); /* does not fit */
}

static void leaves_the_listeners_queue_to_switchyards_cpu_and_steers_the_clients(void **state)
{
    (void)state;
    char mask[64];
    cpu_set_t one = cpus(1, 1);
    assert_true(tun_device_queue_rps(TUN_QUEUE_LISTENER, 2, 2, &one, mask, sizeof(mask)));
    assert_string_equal(mask, "0");
    assert_true(tun_device_queue_rps(TUN_QUEUE_CLIENT, 2, 2, &one, mask, sizeof(mask)));
    assert_string_equal(mask, "1");
    /* One queue carries both ways: steered. */
    assert_true(tun_device_queue_rps(TUN_QUEUE_LISTENER, 1, 2, &one, mask, sizeof(mask)));
    assert_string_equal(mask, "1");
    cpu_set_t zero = cpus(0, 0);
    assert_false(tun_device_queue_rps(TUN_QUEUE_LISTENER, 2, 1, &zero, mask, sizeof(mask)));
}

/* --- a real device, as root ------------------------------------------------------ */

/* Set by the group setup as root: a network namespace of the test's own, with its own /sys. */
static bool netns_ready;

static int netns_setup(void **state)
{
    (void)state;
    netns_ready = geteuid() == 0 && unshare(CLONE_NEWNET | CLONE_NEWNS) == 0 &&
                  mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
                  mount("sysfs", "/sys", "sysfs", 0, NULL) == 0;
    return 0;
}

/* Skips unless the namespace is there and the tun driver too. */
static void need_tun(void)
{
    if (!netns_ready || access("/dev/net/tun", R_OK | W_OK) < 0) {
        print_message("# SKIP needs root, a network namespace and /dev/net/tun\n");
        skip();
    }
}

/* The device `name` (203.0.113.1/30), opened with `queues` queues. */
static struct tun_device opened(const char *name, int queues)
{
    struct policy_tun t = {.device = name, .prefix4 = 30, .mtu = 1500};
    t.addr4 = addr("203.0.113.1:0");
    struct tun_device dev;
    const char *why = "";
    if (tun_device_open(&t, &dev, &why) != 0)
        fail_msg("%s: %s", name, why);
    assert_int_equal(dev.queues, queues);
    return dev;
}

/* The receive packet steering mask of the device `dev`'s queue `q`, as a number. */
static unsigned long rps_of(const char *dev, int q)
{
    char path[96], text[64] = "";
    snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%d/rps_cpus", dev, q);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof(text), f));
    fclose(f);
    return strtoul(text, NULL, 16);
}

static void set_rps(const char *dev, int q, const char *mask)
{
    char path[96];
    snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%d/rps_cpus", dev, q);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(mask, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* Writes a UDP datagram 203.0.113.2:6000 -> 203.0.113.1:5000 on `fd` and returns the CPU that
 * delivered it to `sock` (connected to its source, so the kernel notes that CPU). */
static int delivered_on(int fd, int sock)
{
    uint8_t f[TUN_VNET_HDR_LEN + 64] = {0}, got[16];
    struct flow_addr from = addr("203.0.113.2:6000"), to = addr("203.0.113.1:5000");
    size_t n = tun_packet_udp(f + TUN_VNET_HDR_LEN, 64, &from, &to, (const uint8_t *)"cpu", 3);
    assert_true(n > 0);
    assert_int_equal(write(fd, f, TUN_VNET_HDR_LEN + n), (ssize_t)(TUN_VNET_HDR_LEN + n));
    assert_int_equal(recv(sock, got, sizeof(got), 0), 3);
    int cpu = -1;
    socklen_t len = sizeof(cpu);
    assert_int_equal(getsockopt(sock, SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len), 0);
    return cpu;
}

static void each_queue_is_processed_where_its_steering_says(void **state)
{
    (void)state;
    need_tun();
    if (get_nprocs() < 2)
        skip();
    cpu_set_t before, one = cpus(1, 1);
    assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
    assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
    struct tun_device dev = opened("sytestq0", 2);
    assert_int_not_equal(dev.fd[TUN_QUEUE_LISTENER], dev.fd[TUN_QUEUE_CLIENT]);
    /* Each queue as tun_device_queue_rps says, for a switchyard on CPU 1 of 2 or more. */
    char want[64];
    for (int q = 0; q < TUN_QUEUES; q++) {
        assert_true(
            tun_device_queue_rps((enum tun_queue)q, 2, get_nprocs(), &one, want, sizeof(want)));
        assert_int_equal(rps_of("sytestq0", q), strtoul(want, NULL, 16));
    }

    struct sockaddr_storage ss;
    struct flow_addr local = addr("203.0.113.1:5000"), peer = addr("203.0.113.2:6000");
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(sock >= 0);
    assert_int_equal(bind(sock, (struct sockaddr *)&ss, flow_addr_to_sockaddr(&local, &ss)), 0);
    assert_int_equal(connect(sock, (struct sockaddr *)&ss, flow_addr_to_sockaddr(&peer, &ss)), 0);
    /* The kernel takes the queue written on as the packet's receive queue: a packet is
     * processed on the writer's CPU where its queue is not steered, on CPU 0 where it is, both
     * ways round. */
    for (int steer = 0; steer < TUN_QUEUES; steer++) {
        for (int q = 0; q < TUN_QUEUES; q++)
            set_rps("sytestq0", q, q == steer ? "1" : "0");
        for (int q = 0; q < TUN_QUEUES; q++)
            assert_int_equal(delivered_on(dev.fd[q], sock), q == steer ? 0 : 1);
    }
    close(sock);
    tun_device_close(&dev);
    assert_int_equal(sched_setaffinity(0, sizeof(before), &before), 0);
}

static void a_persistent_single_queue_device_is_opened_with_one(void **state)
{
    (void)state;
    need_tun();
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "sytestq1");
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
    close(fd);

    struct tun_device dev = opened("sytestq1", 1);
    assert_int_equal(dev.fd[TUN_QUEUE_LISTENER], dev.fd[TUN_QUEUE_CLIENT]);
    assert_int_equal(ioctl(dev.fd[0], TUNSETPERSIST, 0), 0);
    tun_device_close(&dev);
    assert_int_equal(if_nametoindex("sytestq1"), 0); /* gone with its descriptor */
}

UNIT_TEST_MAIN(
    netns_setup, NULL, cmocka_unit_test(spreads_over_the_cpus_switchyard_is_not_bound_to),
    cmocka_unit_test(spreads_over_every_cpu_when_bound_to_all),
    cmocka_unit_test(leaves_one_cpu_alone), cmocka_unit_test(writes_32_cpu_groups_highest_first),
    cmocka_unit_test(leaves_the_listeners_queue_to_switchyards_cpu_and_steers_the_clients),
    cmocka_unit_test(each_queue_is_processed_where_its_steering_says),
    cmocka_unit_test(a_persistent_single_queue_device_is_opened_with_one))
