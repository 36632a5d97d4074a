/*
 * policy.h — the compiled policy: the YAML file loaded, checked and turned
 * into matchers, ready to decide flows.
 *
 * A policy is immutable once loaded and reference counted, so a reload can
 * swap in a new one while flows decided under the old one keep using the
 * outbounds they were given. Nothing here opens a socket or touches the event
 * loop: the engine hands in the facts of a flow and gets back a decision.
 */
#ifndef SWITCHYARD_POLICY_H
#define SWITCHYARD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "rules/flow_addr.h"
#include "rules/log_level.h"
#include "rules/mark.h"
#include "rules/sniff/sniff.h"

enum policy_network {
    POLICY_TCP = 1 << 0,
    POLICY_UDP = 1 << 1,
};

/* A port or a range of them, both ends included (port conditions). */
struct port_range {
    uint16_t lo, hi;
};

enum inbound_type {
    INBOUND_REDIRECT,     /* TCP by REDIRECT/DNAT, SO_ORIGINAL_DST */
    INBOUND_TPROXY,       /* TCP and/or UDP by TPROXY */
    INBOUND_UDP_REDIRECT, /* UDP by REDIRECT/DNAT, destination from conntrack */
    INBOUND_HTTP,         /* explicit HTTP proxy */
    INBOUND_SOCKS5,       /* explicit SOCKS5 proxy */
    INBOUND_TUN,          /* TCP and UDP from a TUN device (engine/tun) */
};
#define INBOUND_TYPES (INBOUND_TUN + 1)

enum outbound_type {
    OUTBOUND_DIRECT,
    OUTBOUND_DROP,
    OUTBOUND_SOCKS5,
    OUTBOUND_HTTP,
};

/*
 * The words of the policy file (rules/policy_words.c), for log lines and
 * summaries: "redirect", "tproxy", ...; "direct", "socks5", ...; "?" for a
 * value out of range.
 */
const char *policy_inbound_type_name(enum inbound_type type);
const char *policy_outbound_type_name(enum outbound_type type);

/* "tcp", "udp" or "tcp+udp" for a mask of POLICY_TCP and POLICY_UDP ("none" for 0). */
const char *policy_networks_name(unsigned networks);

/* Whether `name` is a network interface's name the kernel takes: 1 to 15 bytes of letters,
 * digits, '.', '-', '_' (so a shell script can also carry it unquoted). rules/policy_tun.c */
bool policy_interface_name_ok(const char *name);

/* POLICY_TCP for "tcp", POLICY_UDP for "udp", 0 for any other word. */
unsigned policy_network_from_name(const char *word);

/*
 * A tun inbound's device. TCP from the device is handed to a local listener
 * on `listen` (always [::]:PORT), its connections seemingly from `nat4` /
 * `nat6`, the address after the device's own in its prefix.
 */
struct policy_tun {
    const char *device;          /* device, default "switchyard0" */
    struct flow_addr addr4;      /* address: family 0 when absent */
    struct flow_addr addr6;      /* address6 */
    unsigned prefix4, prefix6;   /* their prefix lengths */
    struct flow_addr nat4, nat6; /* the NAT's client-side addresses */
    unsigned mtu;                /* mtu, default 1500 */
    bool icmp_echo;              /* icmp: answer (true, default) or drop */
};

struct policy_inbound {
    const char *name;
    enum inbound_type type;
    struct sockaddr_storage listen;
    socklen_t listen_len;
    unsigned networks;    /* POLICY_TCP | POLICY_UDP */
    const char *username; /* socks5 / http inbounds: required credentials, NULL for none */
    const char *password;
    struct policy_tun tun; /* tun inbounds only */
    int line;              /* where it is defined in the file */
};

struct policy_outbound {
    const char *name; /* "direct" and "drop" for the built-in ones */
    enum outbound_type type;
    struct sockaddr_storage server; /* socks5 / http only */
    socklen_t server_len;
    const char *username; /* NULL when no authentication */
    const char *password;
    bool udp;           /* socks5: UDP ASSOCIATE allowed */
    bool send_hostname; /* connect by the sniffed name when there is one */
    int line;           /* 0 for the built-in ones */
};

/* Which flows `switchyard firewall` lets the kernel decide (fast_path). */
enum policy_fast_path {
    POLICY_FAST_PATH_STATIC,  /* the leading address rules, as nftables sets (rules/policy_static.h)
                               */
    POLICY_FAST_PATH_OFF,     /* every flow is steered to switchyard */
    POLICY_FAST_PATH_DYNAMIC, /* static, then each new flow offered to switchyard through
                                 NFQUEUE, whose verdict is kept in its conntrack mark */
};

/*
 * The fast path's marks (engine/firewall/firewall.h has the whole way):
 * values of a field of the packet and conntrack marks, the bits of
 * `fast_path_mask` (three or more adjacent bits; default outside mwan3's
 * 0x3f00 and the 0xff0000 of OpenWrt's pbr and tailscale). Every fast-path
 * mark is set and tested under that mask only, so another tool's bits of the
 * same marks pass untouched. The firewall marks a packet OFFER before
 * queueing it; switchyard's verdict gives it DIRECT, STEER or REJECT, and the
 * firewall copies DIRECT or STEER into the conntrack mark, so the rest of the
 * flow is known in the kernel. A packet still marked OFFER after the queue
 * was let through by the bypass flag: no switchyard is listening. A REJECT
 * packet is refused by the firewall's chain `refuse` (forward, or output in
 * local mode): a TCP one with a reset, as switchyard's own `drop`, any other
 * dropped.
 */
#define POLICY_FAST_QUEUE 7301
#define POLICY_FAST_MASK_DEFAULT 0x0e000000u
enum policy_fast_mark {
    POLICY_FAST_MARK_NONE, /* the field clear: not offered, or left to the kernel */
    POLICY_FAST_MARK_OFFER,
    POLICY_FAST_MARK_DIRECT,
    POLICY_FAST_MARK_STEER,
    POLICY_FAST_MARK_REJECT,
};

/* Fast-path mark `m`: its value in the field `mask` (a valid fast_path_mask), under that mask. */
static inline struct mark policy_fast_mark(uint32_t mask, enum policy_fast_mark m)
{
    return (struct mark){.value = (uint32_t)m << __builtin_ctz(mask), .mask = mask};
}

/* Settings from the top-level keys; every field has a default. */
struct policy_settings {
    enum log_level log_level;         /* log.level, default info */
    bool log_flows;                   /* log.flows, default true */
    enum log_format log_format;       /* log.format, default text */
    enum log_target log_target;       /* log.target, default stderr */
    uint32_t routing_mark;            /* routing_mark, default 0xff: SO_MARK on outward sockets */
    uint32_t routing_mark_mask;       /* the bits the firewall tests it in (MARK_WHOLE: all) */
    unsigned sniff_timeout_ms;        /* sniff.timeout_ms, default 250 */
    unsigned sniff_protocols;         /* sniff.protocols as SNIFF_PROTO_BIT(), default all */
    size_t sniff_max_bytes;           /* sniff.max_bytes, default 65536 */
    unsigned sniff_remember_silent_s; /* sniff.remember_silent_s, default 600; 0: off */
    unsigned sniff_max_wait_ms;       /* sniff.max_wait_ms, default 10000: a begun first
                                         message must be whole by then */
    unsigned connect_timeout_ms;      /* timeouts.connect_ms, default 10000 */
    unsigned tcp_idle_s;              /* timeouts.tcp_idle_s, default 600 */
    unsigned udp_idle_s;              /* timeouts.udp_idle_s, default 60 */
    unsigned udp_dns_idle_s;          /* timeouts.udp_dns_idle_s, default 10 */
    unsigned max_flows;               /* limits.max_flows, 0 = from RLIMIT_NOFILE */
    unsigned udp_max_sessions;        /* limits.udp_sessions, default 4096 */
    unsigned max_handshakes;          /* limits.max_handshakes, 0 = max_flows / 8 */
    unsigned udp_queue_bytes;         /* limits.udp_queue_bytes, default 16 MiB */
    const char *user;                 /* user: run as it once listening; NULL: stay as started */
    const char *group;                /* group: NULL for the user's own group */
    uid_t uid;                        /* user's and group's ids, looked up when the file loads */
    gid_t gid;                        /* (the user's own group when group is not given) */
    /* control: the API listener (engine/control); off when the section is absent */
    bool control_on;
    struct sockaddr_storage control_listen; /* control.listen: an AF_UNIX address for unix:PATH */
    socklen_t control_listen_len;
    const char *control_secret;      /* control.secret, NULL for none */
    enum policy_fast_path fast_path; /* fast_path, default static */
    uint32_t fast_path_mask;         /* fast_path_mask, default POLICY_FAST_MASK_DEFAULT */
    unsigned workers;                /* workers: event loops (threads), 0 = the usable cores */
};

/* The most workers a policy may ask for. */
#define POLICY_WORKERS_MAX 64

struct policy;

/* What the engine knows of a flow when it asks for a decision. */
struct policy_flow {
    enum policy_network network;
    const char *inbound; /* name of the inbound it came in on, or NULL */
    struct flow_addr src, dst;
    const char *host;             /* sniffed host name, or NULL when none is known */
    enum sniff_protocol protocol; /* SNIFF_PROTO_NONE while not sniffed */
};

struct policy_decision {
    const struct policy_outbound *outbound; /* never NULL: direct and drop are outbounds */
    unsigned rule;                          /* 1-based rule number, 0 for the default */
    int line;                               /* the rule's line in the file, 0 for the default */
};

#define POLICY_ERROR_MAX 1024

/*
 * Loads and compiles the policy at `path` (set files and the GeoIP file are
 * resolved relative to its folder). On failure returns NULL and writes one
 * message of the form "FILE:LINE:COL: message" (or "FILE: message" when no
 * position applies) into `error`.
 */
struct policy *policy_load(const char *path, char error[POLICY_ERROR_MAX]);

/* The same from text already in memory; `path` names it and anchors relative paths. */
struct policy *policy_load_buffer(const char *path, const char *data, size_t len,
                                  char error[POLICY_ERROR_MAX]);

/* Reference counting: the loader returns a policy holding one reference. */
struct policy *policy_ref(struct policy *policy);
void policy_unref(struct policy *policy);

const char *policy_path(const struct policy *policy);
const struct policy_settings *policy_settings(const struct policy *policy);

/* Whether TCP flows to `port` are decided without waiting for a name (sniff.skip_ports). */
bool policy_sniff_skips_port(const struct policy *policy, uint16_t port);
size_t policy_inbound_count(const struct policy *policy);
const struct policy_inbound *policy_inbound(const struct policy *policy, size_t index);
size_t policy_outbound_count(const struct policy *policy); /* includes direct and drop */
const struct policy_outbound *policy_outbound(const struct policy *policy, size_t index);
const struct policy_outbound *policy_outbound_by_name(const struct policy *policy,
                                                      const char *name);

/* The rules in file order (index 0 is rule 1): the outbound each names, and its line. */
size_t policy_rule_count(const struct policy *policy);
const struct policy_outbound *policy_rule_outbound(const struct policy *policy, size_t index,
                                                   int *line);
/* The outbound when no rule matches (`default`). */
const struct policy_outbound *policy_default_outbound(const struct policy *policy);

/*
 * Decides a flow whose facts are all known: first matching rule, else the
 * default. A flow without a host name never satisfies a domain condition.
 */
void policy_decide(const struct policy *policy, const struct policy_flow *flow,
                   struct policy_decision *decision);

/*
 * Decides a flow from its addresses, ports, network and inbound alone, before
 * any client byte is read. Returns true and fills `decision` when no host
 * name or sniffed protocol could change the outcome (the engine then skips
 * sniffing); returns false when a rule that could still decide needs them.
 * `flow->host` and `flow->protocol` are ignored.
 */
bool policy_decide_early(const struct policy *policy, const struct policy_flow *flow,
                         struct policy_decision *decision);

/*
 * Decides a flow whose destination is known by name only (an explicit-proxy
 * client named a host; `flow->dst` holds no address yet, its port is set).
 * Returns true and fills `decision` when no rule that could still decide
 * needs the destination address (dst, dst_set, geoip): the name decides, for
 * any address it may resolve to. Returns false when such a rule comes first:
 * the name must be resolved and the flow decided on name and address.
 */
bool policy_decide_by_name(const struct policy *policy, const struct policy_flow *flow,
                           struct policy_decision *decision);

/* Warnings found while loading ("FILE:LINE:COL: message"), for `switchyard check`. */
size_t policy_warning_count(const struct policy *policy);
const char *policy_warning(const struct policy *policy, size_t index);

/*
 * Writes the summary `switchyard check` prints: inbounds, outbounds (with the
 * options set on each: username, udp, send_hostname; never a password),
 * rules, set sizes.
 */
void policy_print_summary(const struct policy *policy, FILE *out);

#endif
