#!/usr/bin/env bash
# tun_gateway.sh — the tun inbound as a gateway: the router namespace routes
# what arrives from the client into switchyard's TUN device, which
# switchyard creates and configures itself, with the routing that
# `switchyard firewall --mode gateway --interface r0` prints. Over IPv4 and
# IPv6: HTTP by Host and HTTPS by SNI reach the nginx origin direct (nginx
# sees the router), a dropped name gets a reset, DNS over UDP through the
# TUN reaches dnsmasq, ping is answered, 32 MB go byte-exact both ways, and
# 200 concurrent flows all finish. Then local mode on the router itself
# (`--mode local`): its own HTTP and DNS reach the origin through the TUN
# while switchyard's marked upstream sockets do not loop; each --undo
# leaves no rule and no route behind. The device goes away with switchyard.
# On more than one CPU, the device's receive packet steering is set.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up nginx
tun_dev

# DNS server on the origin, answering every name under example.
ip -n "$NS_O" addr add 198.51.100.53/24 dev o0
ip -n "$NS_O" addr add 2001:db8:2::53/64 dev o0 nodad
udp_start_dnsmasq || not_ok "dnsmasq listening"
DNSMASQ_PID=$REPLY

cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
sniff: {timeout_ms: 300}
$(tun_inbound 203.0.113.1/30)
    mtu: 1500
rules:
  - {domain_suffix: blocked.example, action: drop}
  - {inbound: tun-in, dst_port: 9999, action: drop}
default: direct
YAML
: >"$E2E_TMP/switchyard.log"
if ! start_switchyard "$NS_R" "$POLICY"; then
    not_ok "tun: switchyard starts"
    sed 's/^/# /' "$E2E_TMP/switchyard.log"
    e2e_finish
fi
ok "tun: switchyard starts and creates its device"
check "tun: the device is up with both addresses" \
    bash -c "ip -n $NS_R addr show dev $DEV | grep -q 'inet 203.0.113.1/30' &&
             ip -n $NS_R addr show dev $DEV | grep -q 'inet6 2001:db8:ff::1/126' &&
             ip -n $NS_R link show dev $DEV | grep -q 'mtu 1500.*state UNKNOWN'"
if [ "$(nproc)" -gt 1 ]; then
    # Two queues: rx-0 takes what switchyard writes for its listener, rx-1 what goes back to
    # the client (tun_device.c).
    check "tun: the listener's queue is left to switchyard's CPU, the client's steered (rps_cpus)" \
        ip netns exec "$NS_R" sh -c "grep -q '^[0,]*$' /sys/class/net/$DEV/queues/rx-0/rps_cpus &&
            grep -q '[1-9a-f]' /sys/class/net/$DEV/queues/rx-1/rps_cpus"
else
    skip "tun: the listener's queue is left to switchyard's CPU, the client's steered (rps_cpus)" "one CPU"
fi

# No rule of switchyard's and nothing in its table (101) is left, either family.
routing_gone() {
    for v in -4 -6; do
        ip -n "$NS_R" $v rule show | grep -qE "^90[0-9]{2}:" && return 1
        [ -z "$(ip -n "$NS_R" $v route show table 101 2>/dev/null)" ] || return 1
    done
    return 0
}
# undone MODE ARGS...: the --undo script applies and nothing is left.
undone() { tun_routing "$@" --undo && routing_gone; }

# Gateway mode: what the LAN sends is routed into the device; switchyard's
# own sockets and the router's own traffic use the main table.
check "tun: the printed gateway routing applies" tun_routing gateway --interface r0 ||
    diag "$(cat "$E2E_TMP/routing.sh" "$E2E_TMP/routing.log")"
check "tun: it routes what arrives on r0 into the device" \
    bash -c "ip -n $NS_R rule show | grep -q 'iif r0 lookup 101' &&
             ip -n $NS_R -6 route show table 101 | grep -q 'default dev $DEV'"

# ping ADDR: one ICMP echo over a ping socket; exit 0 when answered within 2 s.
PING='
import socket, sys
v6 = ":" in sys.argv[1]
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM,
                  socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
s.settimeout(2)
s.sendto(bytes([128 if v6 else 8, 0, 0, 0, 0, 0, 0, 1]) + b"switchyard", (sys.argv[1], 0))
r = s.recv(100)
sys.exit(0 if r[0] == (129 if v6 else 0) and r.endswith(b"switchyard") else 1)
'
ip netns exec "$NS_C" sysctl -qw net.ipv4.ping_group_range="0 2147483647"

for fam in 4 6; do
    origin=$ORIGIN4; peer=198.51.100.1; dns=198.51.100.53
    [ $fam = 6 ] && { origin=$ORIGIN6; peer=2001:db8:2::1; dns=2001:db8:2::53; }
    : >"$ACCESS"
    out=$(curl_host "$NS_C" origin.example "$origin" http)
    check "tun IPv$fam: HTTP by Host reaches the origin" grep -q "hello from origin" <<<"$out" ||
        diag "curl said: $out"
    out=$(curl_host "$NS_C" secure.example "$origin" https)
    check "tun IPv$fam: HTTPS by SNI reaches the origin" grep -q "hello from origin" <<<"$out" ||
        diag "curl said: $out"
    check "tun IPv$fam: nginx saw the router ($peer)" \
        test "$(grep -c "^$peer \(origin\|secure\).example" "$ACCESS")" -eq 2
    out=$(curl_host "$NS_C" www.blocked.example "$origin" https)
    check "tun IPv$fam: HTTPS to a dropped host (SNI) gets a reset" grep -qi "reset" <<<"$out"
    check "tun IPv$fam: the origin never saw the dropped host" \
        bash -c "! grep -q blocked.example '$ACCESS'"
    out=$(in_client dig +time=2 +tries=2 +short "@$dns" "www$fam.example" A)
    check "tun IPv$fam: DNS over UDP through the TUN is answered" grep -q "203.0.113.99" <<<"$out" ||
        diag "dig said: $out"
    check "tun IPv$fam: ping through the TUN is answered (icmp: answer)" in_client python3 -c "$PING" "$origin"
done
check "tun: dnsmasq saw the queries from the router" \
    bash -c "grep -q 'www4.example from 198.51.100.1' '$E2E_TMP/dnsmasq.log' &&
             grep -q 'www6.example from 2001:db8:2::1' '$E2E_TMP/dnsmasq.log'"
check "tun: a decided line names the inbound and the sniffed host" \
    grep -qE "decided inbound=tun-in src=192.0.2.2:[0-9]+ .*host=secure.example protocol=tls default -> direct" \
    "$E2E_TMP/switchyard.log"
check "tun: UDP sessions name the inbound" grep -qE "udp .*\[tun-in\]" "$E2E_TMP/switchyard.log"

# Byte-exact both ways at once (an echo) over IPv4, and a download over IPv6.
head -c 33554432 /dev/urandom >"$E2E_TMP/www/big.bin"
want=$(sha256sum <"$E2E_TMP/www/big.bin" | cut -d' ' -f1)
bg "$NS_O" "$E2E_TMP/echo.log" socat -b 65536 TCP-LISTEN:9000,reuseaddr EXEC:cat
ECHO_PID=$REPLY
wait_tcp "$NS_O" "$ORIGIN4" 9000
in_client socat -b 65536 -t 30 -T 30 - TCP:$ORIGIN4:9000 <"$E2E_TMP/www/big.bin" \
    >"$E2E_TMP/echoed.bin" 2>/dev/null
check "tun IPv4: 32 MB echoed byte-exact both ways" \
    test "$(sha256sum <"$E2E_TMP/echoed.bin" | cut -d' ' -f1)" = "$want"
stop_pid "$ECHO_PID"
got=$(in_client curl -s --max-time 60 "http://[$ORIGIN6]/big.bin" | sha256sum | cut -d' ' -f1)
check "tun IPv6: 32 MB download byte-exact" test "$got" = "$want"

# Many flows at once: 200 concurrent HTTP requests, all answered.
in_client bash -c "for i in \$(seq 200); do
        curl -s --max-time 20 -o /dev/null -w '%{http_code}\n' http://$ORIGIN4/ &
    done; wait" >"$E2E_TMP/many.out"
check "tun: 200 concurrent flows all answered" test "$(grep -c '^200$' "$E2E_TMP/many.out")" -eq 200 ||
    diag "$(sort "$E2E_TMP/many.out" | uniq -c)"

check "tun: gateway --undo leaves no rule or route" undone gateway --interface r0

# Local mode on the router: its own connections go into the device, switchyard's (marked) not.
check "tun: the printed local routing applies" tun_routing local ||
    diag "$(cat "$E2E_TMP/routing.sh" "$E2E_TMP/routing.log")"
: >"$ACCESS"
out=$(ip netns exec "$NS_R" curl -s --max-time 10 -H "Host: local.example" "http://$ORIGIN4/")
check "tun local: the router's own HTTP reaches the origin" grep -q "hello from origin" <<<"$out" ||
    diag "curl said: $out"
check "tun local: through the TUN (a decided line from the device's address)" \
    grep -qE "decided inbound=tun-in src=203.0.113.1:[0-9]+ .*host=local.example" \
    "$E2E_TMP/switchyard.log"
check "tun local: nginx saw it once (no loop)" test "$(grep -c "local.example" "$ACCESS")" -eq 1
out=$(in_router dig +time=3 +tries=1 +short @198.51.100.53 local.example A)
check "tun local: the router's own DNS over UDP is answered" grep -q "203.0.113.99" <<<"$out" ||
    diag "dig said: $out"
check "tun local: through the TUN (a UDP session from the device's address)" \
    grep -qE "udp 203.0.113.1:[0-9]+ -> 198.51.100.53:53 \[tun-in\] dns local.example" \
    "$E2E_TMP/switchyard.log"
check "tun local: dnsmasq saw it once, from the router (no loop)" \
    test "$(grep -c "query\[A\] local.example from 198.51.100.1$" "$E2E_TMP/dnsmasq.log")" -eq 1
check "tun: local --undo leaves no rule or route" undone local

stop_pid "$SWITCHYARD_PID"
check "tun: SIGTERM stops switchyard cleanly" grep -q "stopped:" "$E2E_TMP/switchyard.log"
check "tun: the device is gone with switchyard" bash -c "! ip -n $NS_R link show dev $DEV 2>/dev/null"
stop_pid "$DNSMASQ_PID"
e2e_finish
