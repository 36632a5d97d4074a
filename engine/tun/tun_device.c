/*
 * tun_device.c — opening and configuring a TUN device: the character
 * device's ioctl, then RTM_NEWADDR and RTM_NEWLINK over rtnetlink. See
 * tun_device.h.
 */
#include "engine/tun/tun_device.h"
#include "engine/tun/tun_packet.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <net/if.h>
#include <sched.h>
#include <linux/if_addr.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

/* Sends one request and reads the kernel's acknowledgement; returns 0 or -errno. */
static int rtnl_talk(struct mnl_socket *nl, struct nlmsghdr *nlh)
{
    uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = (uint32_t)time(NULL);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n < 0)
        return -errno;
    if (mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), NULL, NULL) < 0)
        return -errno;
    return 0;
}

static int add_address(struct mnl_socket *nl, unsigned ifindex, const struct flow_addr *a,
                       unsigned prefix)
{
    uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWADDR;
    nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = a->family;
    ifa->ifa_prefixlen = (uint8_t)prefix;
    ifa->ifa_index = ifindex;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    size_t len = a->family == AF_INET ? 4 : 16;
    mnl_attr_put(nlh, IFA_LOCAL, len, a->ip);
    mnl_attr_put(nlh, IFA_ADDRESS, len, a->ip);
    if (a->family == AF_INET6)
        mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD); /* usable at once */
    return rtnl_talk(nl, nlh);
}

static int link_up(struct mnl_socket *nl, unsigned ifindex, unsigned mtu)
{
    uint8_t buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = (int)ifindex;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    return rtnl_talk(nl, nlh);
}

/* Loose reverse-path filtering on the device (best effort: the kernel may lack IPv4 conf). */
static void rp_filter_loose(const char *dev)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/rp_filter", dev);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (write(fd, "2", 1) < 0) { /* nothing else to do: the device works with strict too */
    }
    close(fd);
}

bool tun_device_rps_mask(int online, const cpu_set_t *mine, char *out, size_t cap)
{
    if (online < 2 || online > CPU_SETSIZE)
        return false;
    bool spare = false; /* an online CPU switchyard is not bound to */
    for (int cpu = 0; cpu < online; cpu++)
        spare |= !CPU_ISSET(cpu, mine);
    size_t at = 0;
    for (int group = (online - 1) / 32; group >= 0; group--) {
        uint32_t bits = 0;
        for (int i = 0; i < 32 && group * 32 + i < online; i++)
            if (!spare || !CPU_ISSET(group * 32 + i, mine))
                bits |= (uint32_t)1 << i;
        int n = snprintf(out + at, cap - at, group ? "%x," : "%x", bits);
        if (n < 0 || (size_t)n >= cap - at)
            return false;
        at += (size_t)n;
    }
    return true;
}

/*
 * Which queue's packets are steered to other CPUs: the client's. What switchyard writes on the
 * listener's queue is work whose result it takes up itself at once: upload data its relay then
 * splices out of the accepted socket, and the client's ACKs, at which the listener sends more of
 * the download into the device for switchyard to read. Done inside the write, on its own CPU,
 * that is ready when the write returns; steered, each ends in a wake-up across CPUs, and
 * switchyard's CPU time per GB of upload was about a fifth higher (bench/RESULTS.md, "Two
 * queues, one per direction"); the handshakes of new connections stay on its CPU too. What it
 * writes on the client's queue leaves the machine (routing, the forward hooks, the interface
 * towards the client) and nothing of it comes back to switchyard, so other CPUs take it: on a
 * router, where the traffic comes from other machines and those CPUs are free, switchyard's keeps
 * to its own part.
 */
static const bool steered[TUN_QUEUES] = {[TUN_QUEUE_LISTENER] = false, [TUN_QUEUE_CLIENT] = true};

bool tun_device_queue_rps(enum tun_queue q, int queues, int online, const cpu_set_t *mine,
                          char *out, size_t cap)
{
    if (queues > 1 && !steered[q]) {
        if (online < 2 || cap < 2)
            return false;
        snprintf(out, cap, "0");
        return true;
    }
    return tun_device_rps_mask(online, mine, out, cap);
}

/* Each queue's receive packet steering (best effort, as rp_filter_loose: the device works
 * without it). */
static void rps_set(const char *dev, int queues)
{
    cpu_set_t mine;
    char mask[CPU_SETSIZE / 4 + CPU_SETSIZE / 32 + 2], path[96];
    if (sched_getaffinity(0, sizeof(mine), &mine) < 0)
        return;
    for (int q = 0; q < queues; q++) {
        if (!tun_device_queue_rps((enum tun_queue)q, queues, get_nprocs(), &mine, mask,
                                  sizeof(mask)))
            continue;
        snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%d/rps_cpus", dev, q);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (write(fd, mask, strlen(mask)) < 0) { /* the device works without it */
        }
        close(fd);
    }
}

static int configure(const struct policy_tun *t, unsigned ifindex, const char **why)
{
    struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int err = errno;
        if (nl)
            mnl_socket_close(nl);
        *why = "rtnetlink socket";
        return -err;
    }
    int rc = 0;
    if (t->addr4.family && (rc = add_address(nl, ifindex, &t->addr4, t->prefix4)) < 0)
        *why = "adding its IPv4 address";
    else if (t->addr6.family && (rc = add_address(nl, ifindex, &t->addr6, t->prefix6)) < 0)
        *why = "adding its IPv6 address";
    else if ((rc = link_up(nl, ifindex, t->mtu)) < 0)
        *why = "setting its MTU and bringing it up";
    mnl_socket_close(nl);
    return rc;
}

/*
 * The offload header in front of each packet, and the offloads the kernel may then use towards
 * the device: checksums left to finish and TCP super-packets (TSO). Not UDP segmentation: a UDP
 * super-packet would reach the sessions as one datagram.
 */
static int offloads(int fd)
{
    int hdr = TUN_VNET_HDR_LEN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 ||
        ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) < 0)
        return -errno;
    return 0;
}

/* One queue of the device `name`: its descriptor, or -errno and `why`. */
static int attach(const char *name, short flags, const char **why)
{
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        *why = "opening /dev/net/tun";
        return -errno;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = flags;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = errno;
        close(fd);
        *why = "creating the device (TUNSETIFF)";
        return -err;
    }
    return fd;
}

/*
 * The device's queues into `dev`: two with IFF_MULTI_QUEUE, else one (the kernel refuses the
 * flag with EINVAL on a persistent device made without it, and a second queue may be refused
 * too). Returns 0 or -errno.
 */
static int attach_queues(const char *name, struct tun_device *dev, const char **why)
{
    const short flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    int fd = attach(name, flags | IFF_MULTI_QUEUE, why);
    if (fd == -EINVAL)
        fd = attach(name, flags, why);
    else if (fd >= 0)
        dev->fd[TUN_QUEUE_CLIENT] = attach(name, flags | IFF_MULTI_QUEUE, why);
    if (fd < 0)
        return fd;
    dev->fd[TUN_QUEUE_LISTENER] = fd;
    if (dev->fd[TUN_QUEUE_CLIENT] < 0)
        dev->fd[TUN_QUEUE_CLIENT] = fd;
    dev->queues = dev->fd[TUN_QUEUE_CLIENT] == fd ? 1 : 2;
    return 0;
}

void tun_device_close(struct tun_device *dev)
{
    if (dev->queues > 1)
        close(dev->fd[TUN_QUEUE_CLIENT]);
    close(dev->fd[TUN_QUEUE_LISTENER]);
}

int tun_device_open(const struct policy_tun *t, struct tun_device *dev, const char **why)
{
    dev->fd[TUN_QUEUE_LISTENER] = dev->fd[TUN_QUEUE_CLIENT] = -1;
    unsigned ifindex = 0;
    int rc = attach_queues(t->device, dev, why);
    if (rc < 0)
        return rc;
    if (!(ifindex = if_nametoindex(t->device))) {
        rc = -errno;
        tun_device_close(dev);
        *why = "creating the device (TUNSETIFF)";
        return rc;
    }
    rc = offloads(dev->fd[TUN_QUEUE_LISTENER]);
    if (rc < 0) {
        tun_device_close(dev);
        *why = "asking for offloads (TUNSETVNETHDRSZ, TUNSETOFFLOAD)";
        return rc;
    }
    rp_filter_loose(t->device);
    rps_set(t->device, dev->queues);
    rc = configure(t, ifindex, why);
    if (rc < 0) {
        tun_device_close(dev);
        return rc;
    }
    return 0;
}
