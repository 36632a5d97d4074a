#!/usr/bin/env bash
# tun_upstreams.sh — the tun inbound with upstream proxies: the router sends
# what the client sends into switchyard's TUN (the gateway routing that
# `switchyard firewall` prints), and the policy sends it on by the sniffed
# name, over IPv4 and IPv6:
#   - HTTPS by SNI and HTTP by Host through dante (SOCKS5) and through
#     tinyproxy (HTTP CONNECT), direct, and dropped (a reset, the origin
#     never asked);
#   - DNS over UDP direct and through dante's UDP ASSOCIATE;
#   - then local mode (`--mode local`): the router's own HTTPS through dante
#     and tinyproxy and its own DNS through dante, each reaching the origin
#     once: switchyard's marked sockets to the proxies do not loop.
# Each proxy runs in a namespace of its own with its own addresses, so the
# origin's logs (nginx, dnsmasq) tell who reached it:
#
#   [client] -- [router: switchyard, TUN 203.0.113.253/30, 2001:db8:ff::1/126] -- [origin]
#                  | r2 203.0.113.1/28 2001:db8:3::1    | r3 203.0.113.17/28 2001:db8:4::1
#               [dante 203.0.113.2, 2001:db8:3::2]   [tinyproxy 203.0.113.18, 2001:db8:4::2]
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up nginx
tun_dev

ns_new dante && NS_D=$REPLY && ns_new tiny && NS_T=$REPLY || e2e_abort "network set-up"
router_link "$NS_D" d0 r2 203.0.113.1/28 203.0.113.2 2001:db8:3::1/64 2001:db8:3::2 &&
    router_link "$NS_T" t0 r3 203.0.113.17/28 203.0.113.18 2001:db8:4::1/64 2001:db8:4::2 ||
    e2e_abort "network set-up"
# The origin answers the proxies (never the client: that goes through switchyard).
ip -n "$NS_O" route add 203.0.113.0/27 via 198.51.100.1
ip -n "$NS_O" -6 route add 2001:db8:3::/64 via 2001:db8:2::1
ip -n "$NS_O" -6 route add 2001:db8:4::/64 via 2001:db8:2::1

# dnsmasq on the origin, answering every name under example.
ip -n "$NS_O" addr add 198.51.100.53/24 dev o0
ip -n "$NS_O" addr add 2001:db8:2::53/64 dev o0 nodad
udp_start_dnsmasq || not_ok "dnsmasq listening"

# dante: SOCKS5 with UDP ASSOCIATE, out of d0 (both families); "0/0" is any address of either.
start_danted "$NS_D" danted 203.0.113.2 1080 none d0 "socks pass {
    from: 0/0 to: 0/0
    command: connect udpassociate udpreply
    log: connect disconnect error
}" || not_ok "dante listening"
# tinyproxy: HTTP CONNECT to 80 and 443, out of t0 by the route (no Bind: either family).
{
    printf 'User nobody\nGroup nogroup\nPort 3128\nListen 203.0.113.18\nTimeout 60\n'
    printf 'MaxClients 100\nAllow 203.0.113.0/24\nConnectPort 443\nConnectPort 80\n'
} >"$E2E_TMP/tinyproxy.conf"
bg "$NS_T" "$E2E_TMP/tinyproxy.out" tinyproxy -d -c "$E2E_TMP/tinyproxy.conf"
wait_tcp "$NS_T" 203.0.113.18 3128 || not_ok "tinyproxy listening"

cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
sniff: {timeout_ms: 300}
$(tun_inbound 203.0.113.253/30)
outbounds:
  - {name: dante, type: socks5, server: "203.0.113.2:1080", udp: true}
  - {name: tiny, type: http, server: "203.0.113.18:3128"}
rules:
  - {domain_suffix: [socks.example, sdns.example], action: dante}
  - {domain_suffix: tiny.example, action: tiny}
  - {domain_suffix: blocked.example, action: drop}
default: direct
YAML
: >"$E2E_TMP/switchyard.log"
if ! start_switchyard "$NS_R" "$POLICY"; then
    sed 's/^/# /' "$E2E_TMP/switchyard.log"
    e2e_abort "tun: switchyard starts"
fi
tun_routing gateway --interface r0 || e2e_abort "tun: the printed gateway routing applies"

# came_from HOST ADDR: nginx logged a request for HOST from ADDR.
came_from() { grep -q "^$2 $1 " "$ACCESS"; }
# ask NAME SERVER: the addresses dig's answer holds (two tries of 3 s).
ask() { in_client dig @"$2" "$1" A +short +tries=2 +time=3 2>/dev/null | grep -E '^[0-9a-f.:]+$'; }
dns_from() { grep -q "query\[A\] $1 from $2\$" "$E2E_TMP/dnsmasq.log"; }
body="hello from origin"

for fam in 4 6; do
    origin=$ORIGIN4 router=198.51.100.1 dante=203.0.113.2 tiny=203.0.113.18 dns=198.51.100.53
    [ $fam = 6 ] && origin=$ORIGIN6 router=2001:db8:2::1 dante=2001:db8:3::2 tiny=2001:db8:4::2 \
        dns=2001:db8:2::53
    for scheme in https http; do
        by=SNI
        [ $scheme = http ] && by=Host
        for via in direct socks tiny; do
            host=$scheme$fam.$via.example
            [ $via = direct ] && host=$scheme$fam.example
            from=$router
            [ $via = socks ] && from=$dante
            [ $via = tiny ] && from=$tiny
            out=$(curl_host "$NS_C" "$host" "$origin" $scheme)
            check "tun IPv$fam: $scheme by $by, $via: answered" test "$out" = "$body" ||
                diag "curl said: $out"
            check "tun IPv$fam: $scheme $via: the origin saw $from" came_from "$host" "$from"
        done
        out=$(curl_host "$NS_C" $scheme$fam.blocked.example "$origin" $scheme)
        check "tun IPv$fam: $scheme to a dropped host ($by) gets a reset" grep -qi "reset" <<<"$out" ||
            diag "curl said: $out"
        check "tun IPv$fam: $scheme: the origin never saw the dropped host" \
            bash -c "! grep -q $scheme$fam.blocked.example '$ACCESS'"
    done
    check "tun IPv$fam: DNS over UDP direct answered" test "$(ask dns$fam.example $dns)" = 203.0.113.99
    check "tun IPv$fam: ... the query came from the router" dns_from dns$fam.example "$router"
    check "tun IPv$fam: DNS over UDP through dante's UDP ASSOCIATE answered" \
        test "$(ask dns$fam.sdns.example $dns)" = 203.0.113.99
    check "tun IPv$fam: ... the query came from dante" dns_from dns$fam.sdns.example "$dante"
done
check "tun: tinyproxy was asked by address, both families" \
    bash -c "grep -q 'CONNECT 198.51.100.10:443 ' '$E2E_TMP/tinyproxy.out' &&
             grep -q 'CONNECT \[2001:db8:2::10\]:443 ' '$E2E_TMP/tinyproxy.out'"
check "tun: the decided lines name the inbound, the sniffed host and the outbound" \
    bash -c "grep -qE 'decided inbound=tun-in src=\\[2001:db8:1::2\\]:.* host=https6.socks.example protocol=tls .*-> dante' '$E2E_TMP/switchyard.log' &&
             grep -qE 'decided inbound=tun-in src=192.0.2.2:.* host=http4.tiny.example protocol=http .*-> tiny' '$E2E_TMP/switchyard.log'"

# Local mode: the router's own traffic goes into the TUN, switchyard's marked
# sockets to the proxies and the origin do not.
tun_routing gateway --interface r0 --undo && tun_routing local ||
    not_ok "tun local: the printed local routing applies"
: >"$ACCESS"
for via in socks tiny; do
    from=203.0.113.2
    [ $via = tiny ] && from=203.0.113.18
    out=$(curl_host "$NS_R" local.$via.example "$ORIGIN4" https)
    check "tun local: the router's own HTTPS through $via answered" test "$out" = "$body" ||
        diag "curl said: $out"
    check "tun local: ... the origin saw $from once (no loop)" \
        test "$(grep -c "^$from local.$via.example " "$ACCESS")" -eq 1
done
check "tun local: ... through the TUN (decided lines from the device's address)" \
    bash -c "grep -qE 'decided inbound=tun-in src=203.0.113.253:.* host=local.socks.example .*-> dante' '$E2E_TMP/switchyard.log' &&
             grep -qE 'decided inbound=tun-in src=203.0.113.253:.* host=local.tiny.example .*-> tiny' '$E2E_TMP/switchyard.log'"
out=$(timeout 30 ip netns exec "$NS_R" dig @198.51.100.53 local.sdns.example A +short +tries=1 +time=3)
check "tun local: the router's own DNS through dante's UDP ASSOCIATE answered" test "$out" = 203.0.113.99 ||
    diag "dig said: $out"
check "tun local: ... dnsmasq saw it once, from dante" \
    test "$(grep -c "query\[A\] local.sdns.example from 203.0.113.2$" "$E2E_TMP/dnsmasq.log")" -eq 1

stop_pid "$SWITCHYARD_PID"
check "tun: SIGTERM stops switchyard cleanly" grep -q "stopped:" "$E2E_TMP/switchyard.log"
if [ -n "${VERBOSE:-}" ]; then cat "$E2E_TMP/switchyard.log" "$E2E_TMP/tinyproxy.out"; fi
e2e_finish
