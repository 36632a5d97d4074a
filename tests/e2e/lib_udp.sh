# lib_udp.sh — the network the UDP end-to-end tests share (sourced, not run;
# tests/run skips lib*.sh).
#
#   [client]  192.0.2.2 / 2001:db8:1::2      (veth to router)
#   [router]  192.0.2.1 / 2001:db8:1::1   switchyard, nft
#             198.51.100.1 / 2001:db8:2::1   (veth to origin)
#             203.0.113.1                    (veth to upstream)
#   [origin]  198.51.100.53 / 2001:db8:2::53  dnsmasq, UDP echo
#   [upstream] 203.0.113.10                   danted (SOCKS5, UDP ASSOCIATE)
#
# Namespaces are named after this shell's pid; udp_net_cleanup (on EXIT)
# stops every process started with udp_bg and deletes the namespaces.

U_PID=$$
NS_C=sy-uc-$U_PID
NS_R=sy-ur-$U_PID
NS_O=sy-uo-$U_PID
NS_U=sy-uu-$U_PID
U_TMP=$(mktemp -d /tmp/switchyard-udp.XXXXXX)
U_PIDS=()
U_N=0

ok() { U_N=$((U_N + 1)); echo "ok $U_N - $*"; }
not_ok() { U_N=$((U_N + 1)); echo "not ok $U_N - $*"; }
check() { # check "description" command...
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# udp_bg NS LOGFILE CMD...: starts CMD in NS in the background, remembers its pid.
udp_bg() {
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" "$@" >"$log" 2>&1 &
    U_PIDS+=($!)
}

udp_net_cleanup() {
    local p
    for p in "${U_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${U_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    for ns in "$NS_C" "$NS_R" "$NS_O" "$NS_U"; do ip netns del "$ns" 2>/dev/null; done
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$U_TMP"
}

udp_net_setup() {
    local ns
    for ns in "$NS_C" "$NS_R" "$NS_O" "$NS_U"; do
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up
    done
    ip link add c0 netns "$NS_C" type veth peer name r0 netns "$NS_R" || return 1
    ip link add o0 netns "$NS_O" type veth peer name r1 netns "$NS_R" || return 1
    ip link add u0 netns "$NS_U" type veth peer name r2 netns "$NS_R" || return 1
    ip -n "$NS_C" addr add 192.0.2.2/24 dev c0
    ip -n "$NS_C" addr add 2001:db8:1::2/64 dev c0 nodad
    ip -n "$NS_R" addr add 192.0.2.1/24 dev r0
    ip -n "$NS_R" addr add 2001:db8:1::1/64 dev r0 nodad
    ip -n "$NS_R" addr add 198.51.100.1/24 dev r1
    ip -n "$NS_R" addr add 2001:db8:2::1/64 dev r1 nodad
    ip -n "$NS_R" addr add 203.0.113.1/24 dev r2
    ip -n "$NS_O" addr add 198.51.100.53/24 dev o0
    ip -n "$NS_O" addr add 2001:db8:2::53/64 dev o0 nodad
    ip -n "$NS_U" addr add 203.0.113.10/24 dev u0
    for ns in "$NS_C:c0" "$NS_R:r0" "$NS_R:r1" "$NS_R:r2" "$NS_O:o0" "$NS_U:u0"; do
        ip -n "${ns%%:*}" link set "${ns##*:}" up
    done
    ip -n "$NS_C" route add default via 192.0.2.1
    ip -n "$NS_C" -6 route add default via 2001:db8:1::1
    ip -n "$NS_O" route add default via 198.51.100.1
    ip -n "$NS_O" -6 route add default via 2001:db8:2::1
    ip -n "$NS_U" route add default via 203.0.113.1
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    # TPROXY delivers marked packets locally.
    ip -n "$NS_R" rule add fwmark 0x1 lookup 100
    ip -n "$NS_R" route add local 0.0.0.0/0 dev lo table 100
    ip -n "$NS_R" -6 rule add fwmark 0x1 lookup 100
    ip -n "$NS_R" -6 route add local ::/0 dev lo table 100
}

# udp_tproxy_rules PORT: UDP arriving from the client to anywhere else goes
# to the transparent listener on PORT.
udp_tproxy_rules() {
    ip netns exec "$NS_R" nft -f - <<NFT
table inet sy_udp
delete table inet sy_udp
table inet sy_udp {
    chain pre {
        type filter hook prerouting priority mangle; policy accept;
        iifname "r0" meta l4proto udp ip daddr != 192.0.2.1 meta mark set 0x1 tproxy ip to :$1 accept
        iifname "r0" meta l4proto udp ip6 daddr != 2001:db8:1::1 meta mark set 0x1 tproxy ip6 to :$1 accept
    }
}
NFT
}

# udp_redirect_rules PORT [DPORT]: UDP from the client (to DPORT, default all)
# is REDIRECTed to PORT.
udp_redirect_rules() {
    local match="meta l4proto udp"
    [ -n "${2:-}" ] && match="udp dport $2"
    ip netns exec "$NS_R" nft -f - <<NFT
table inet sy_udp
delete table inet sy_udp
table inet sy_udp {
    chain nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "r0" $match ip daddr != 192.0.2.1 redirect to :$1
        iifname "r0" $match ip6 daddr != 2001:db8:1::1 redirect to :$1
    }
}
NFT
}

# Starts dnsmasq on the origin answering every name under example.
udp_start_dnsmasq() {
    udp_bg "$NS_O" "$U_TMP/dnsmasq.out" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
        --conf-file=/dev/null --user=root --group=root \
        --listen-address=198.51.100.53 --listen-address=2001:db8:2::53 --bind-interfaces \
        --address=/example/203.0.113.99 --log-queries --log-facility="$U_TMP/dnsmasq.log" \
        --pid-file="$U_TMP/dnsmasq.pid"
}

# Starts danted on the upstream, SOCKS5 without authentication, UDP allowed.
udp_start_danted() {
    cat >"$U_TMP/danted.conf" <<CONF
logoutput: $U_TMP/danted.log
internal: 203.0.113.10 port = 1080
external: 203.0.113.10
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {
    from: 0.0.0.0/0 to: 0.0.0.0/0
}
socks pass {
    from: 0.0.0.0/0 to: 0.0.0.0/0
    command: connect udpassociate udpreply
    log: connect disconnect error
}
CONF
    udp_bg "$NS_U" "$U_TMP/danted.out" danted -f "$U_TMP/danted.conf" -p "$U_TMP/danted.pid" -N 1
}

# wait_udp NS ADDR PORT: waits (at most 5 s) until something listens on UDP ADDR:PORT.
wait_udp() {
    local i
    for i in $(seq 50); do
        ip netns exec "$1" ss -Huln "src $2 and sport = :$3" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

wait_tcp() {
    local i
    for i in $(seq 50); do
        ip netns exec "$1" ss -Htln "src $2 and sport = :$3" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}
