/*
 * tun_device.h — a TUN device made and configured by switchyard itself:
 * /dev/net/tun (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR: each read and write is
 * one IP packet behind an offload header, tun_packet.h; checksum and TCP
 * segmentation offloads on, so a read may carry a TCP super-packet of up
 * to 64 KiB and a write may hand one back), two queues (IFF_MULTI_QUEUE) so that each
 * direction's kernel work can be steered to its own CPUs, its addresses, MTU and link state set
 * over rtnetlink (libmnl), never by running ip(8). The device lives as long as its descriptors: it
 * is not made persistent, so closing it removes it with its addresses and routes.
 */
#ifndef SWITCHYARD_TUN_DEVICE_H
#define SWITCHYARD_TUN_DEVICE_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#include "rules/policy.h"

/*
 * The device's two queues, named by what switchyard writes on each. The tun driver records the
 * queue a packet is written on as the packet's receive queue, and receive packet steering is
 * set per receive queue, so the kernel's work on a written packet runs where that queue's
 * steering says:
 *   TUN_QUEUE_LISTENER  the client's TCP packets, rewritten for switchyard's own listener: the
 *                       listener's TCP takes them (upload data, download ACKs);
 *   TUN_QUEUE_CLIENT    what goes back to a client: the listener's TCP packets rewritten back,
 *                       UDP replies, echo replies; the kernel forwards them (download data,
 *                       upload ACKs).
 * Packets the kernel sends into the device come out of either queue (the driver picks one by
 * flow), so both are read.
 */
enum tun_queue { TUN_QUEUE_LISTENER, TUN_QUEUE_CLIENT, TUN_QUEUES };

/*
 * An open device. `fd[q]` is queue q's descriptor; when the device could only be opened with
 * one queue (a persistent device made without IFF_MULTI_QUEUE, a kernel without it) both are
 * the same descriptor and `queues` is 1.
 */
struct tun_device {
    int fd[TUN_QUEUES];
    int queues;
};

/*
 * Creates the device `t->device` with two queues (IFF_MULTI_QUEUE), or one when that is refused
 * (or attaches to an existing persistent TUN of that name), turns its offloads on, adds `t`'s
 * addresses with their prefixes (IPv6 without duplicate address detection), sets its MTU,
 * reverse-path filtering to loose (replies come out of it from any destination), each queue's
 * receive packet steering (tun_device_queue_rps) and brings it up. Fills `dev` with the
 * non-blocking, close-on-exec descriptors and returns 0, or returns -errno; `why` then names
 * the step that failed.
 */
int tun_device_open(const struct policy_tun *t, struct tun_device *dev, const char **why);

/* Closes what tun_device_open() opened (the device goes with its last descriptor). */
void tun_device_close(struct tun_device *dev);

/*
 * The receive packet steering mask of queue `q` of a device with `queues` queues, for `online`
 * CPUs and switchyard's own affinity `mine`, into `out` (`cap` bytes) in the form of
 * tun_device_rps_mask. A queue whose packets are steered gets tun_device_rps_mask's; the other
 * gets "0": its packets are processed inside switchyard's write, on its own CPU. With one queue,
 * every packet is steered. False when there is nothing to spread over or `out` is too small.
 */
bool tun_device_queue_rps(enum tun_queue q, int queues, int online, const cpu_set_t *mine,
                          char *out, size_t cap);

/*
 * The receive packet steering mask of the device's queue, for `online` CPUs (0 to online - 1)
 * and switchyard's own affinity `mine`: the kernel's work on each packet switchyard writes (the
 * forwarding, the listener's TCP) goes to the CPUs switchyard is not bound to, or, when it may
 * run on every one, to all of them by flow, instead of to switchyard's CPU inside its write.
 * Written into `out` (`cap` bytes) as /sys/class/net/DEV/queues/rx-0/rps_cpus takes it: hex,
 * 32-CPU groups separated by commas, the highest first. False when there is nothing to spread
 * over (one CPU) or `out` is too small.
 */
bool tun_device_rps_mask(int online, const cpu_set_t *mine, char *out, size_t cap);

#endif
