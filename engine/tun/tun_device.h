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

#include "rules/policy.h"

/*
 * Creates the device `t->device` (or attaches to an existing persistent
 * TUN of that name), turns its offloads on, adds `t`'s addresses with their prefixes (IPv6 without
 * duplicate address detection), sets its MTU, reverse-path filtering to
 * loose (replies come out of it from any destination) and brings it up.
 * Returns the non-blocking, close-on-exec descriptor, or -errno; `why`
 * then names the step that failed.
 */
int tun_device_open(const struct policy_tun *t, const char **why);

#endif
