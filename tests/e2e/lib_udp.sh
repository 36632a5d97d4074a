# lib_udp.sh — the network the UDP end-to-end tests share (sourced, not run;
# tests/run skips lib*.sh). It sources lib.sh, whose TAP, process and
# clean-up helpers the UDP scripts use, and adds the UDP topology:
#
#   [client]  192.0.2.2 / 2001:db8:1::2      (veth to router)
#   [router]  192.0.2.1 / 2001:db8:1::1   switchyard, nft
#             198.51.100.1 / 2001:db8:2::1   (veth to origin)
#             203.0.113.1                    (veth to upstream)
#   [origin]  198.51.100.53 / 2001:db8:2::53  dnsmasq, UDP echo
#   [upstream] 203.0.113.10                   danted (SOCKS5, UDP ASSOCIATE)
#
# udp_net sets NS_C, NS_R, NS_O (lib.sh's gateway_net) and NS_U;
# udp_socks5_policy writes the policy of a UDP gateway with a SOCKS5 upstream.

. tests/e2e/lib.sh

# udp_net: gateway_net plus the upstream namespace, the origin's UDP
# addresses with routes back through the router, and the routing TPROXY
# needs on the router.
udp_net() {
    gateway_net || return 1
    ns_new upstream && NS_U=$REPLY || return 1
    veth "$NS_U" u0 "$NS_R" r2 || return 1
    ip -n "$NS_R" addr add 203.0.113.1/24 dev r2
    ip -n "$NS_O" addr add 198.51.100.53/24 dev o0
    ip -n "$NS_O" addr add 2001:db8:2::53/64 dev o0 nodad
    ip -n "$NS_U" addr add 203.0.113.10/24 dev u0
    ip -n "$NS_O" route add default via 198.51.100.1
    ip -n "$NS_O" -6 route add default via 2001:db8:2::1
    ip -n "$NS_U" route add default via 203.0.113.1
    # TPROXY delivers marked packets locally.
    ip -n "$NS_R" rule add fwmark 0x1 lookup 100
    ip -n "$NS_R" route add local 0.0.0.0/0 dev lo table 100
    ip -n "$NS_R" -6 rule add fwmark 0x1 lookup 100
    ip -n "$NS_R" -6 route add local ::/0 dev lo table 100
}

# udp_tproxy_rules PORT: UDP arriving from the client to anywhere else goes
# to the transparent listener on PORT.
udp_tproxy_rules() {
    nft_table "$NS_R" sy_udp <<NFT
    chain pre {
        type filter hook prerouting priority mangle; policy accept;
        iifname "r0" meta l4proto udp ip daddr != 192.0.2.1 meta mark set 0x1 tproxy ip to :$1 accept
        iifname "r0" meta l4proto udp ip6 daddr != 2001:db8:1::1 meta mark set 0x1 tproxy ip6 to :$1 accept
    }
NFT
}

# udp_redirect_rules PORT [DPORT]: UDP from the client (to DPORT, default all)
# is REDIRECTed to PORT.
udp_redirect_rules() {
    local match="meta l4proto udp"
    [ -n "${2:-}" ] && match="udp dport $2"
    nft_table "$NS_R" sy_udp <<NFT
    chain nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "r0" $match ip daddr != 192.0.2.1 redirect to :$1
        iifname "r0" $match ip6 daddr != 2001:db8:1::1 redirect to :$1
    }
NFT
}

# udp_socks5_policy NAME SERVER: writes $POLICY: flows logged, routing_mark
# 0xff, the tproxy inbound tp on 0.0.0.0:12346 for UDP (where
# udp_tproxy_rules 12346 sends), the socks5 outbound NAME at SERVER:1080 with
# UDP ASSOCIATE (udp_start_danted's), then the rules and default it reads.
udp_socks5_policy() {
    {
        cat <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
inbounds:
  - {name: tp, type: tproxy, listen: "0.0.0.0:12346", network: [udp]}
outbounds:
  - {name: $1, type: socks5, server: "$2:1080", udp: true}
YAML
        cat
    } >"$POLICY"
}

# udp_start_danted [ADDR [NAME]]: danted on the upstream at ADDR:1080 (default
# 203.0.113.10; files $E2E_TMP/NAME.*, default danted), SOCKS5 without
# authentication, UDP allowed; REPLY = its pid, status 1 when it does not listen.
udp_start_danted() {
    local addr=${1:-203.0.113.10}
    # A list (command:, log:) ends at the end of its line.
    start_danted "$NS_U" "${2:-danted}" "$addr" 1080 none "$addr" "socks pass {
    from: 0.0.0.0/0 to: 0.0.0.0/0
    command: connect udpassociate udpreply
    log: connect disconnect error
}"
}
