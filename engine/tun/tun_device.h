/*
 * tun_device.h — a TUN device made and configured by switchyard itself:
 * /dev/net/tun (IFF_TUN | IFF_NO_PI | IFF_VNET_HDR: each read and write is
 * one IP packet behind an offload header, tun_packet.h; checksum and TCP
 * segmentation offloads on, so a read may carry a TCP super-packet of up
 * to 64 KiB and a write may hand one back), its addresses, MTU and link state set over rtnetlink
 * (libmnl), never by running ip(8). The device lives as long as its descriptor: it is not made
 * persistent, so closing it removes it with its addresses and routes.
 */
#ifndef SWITCHYARD_TUN_DEVICE_H
#define SWITCHYARD_TUN_DEVICE_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#include "rules/policy.h"

/*
 * Creates the device `t->device` (or attaches to an existing persistent
 * TUN of that name), turns its offloads on, adds `t`'s addresses with their prefixes (IPv6 without
 * duplicate address detection), sets its MTU, reverse-path filtering to
 * loose (replies come out of it from any destination), its receive packet
 * steering (tun_device_rps_mask) and brings it up.
 * Returns the non-blocking, close-on-exec descriptor, or -errno; `why`
 * then names the step that failed.
 */
int tun_device_open(const struct policy_tun *t, const char **why);

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
