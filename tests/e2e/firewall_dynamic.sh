#!/usr/bin/env bash
# firewall_dynamic.sh — fast_path: dynamic: the first packet of each new flow
# the static rules leave is offered to switchyard through NFQUEUE, and a flow
# its addresses decide stays in the kernel. The policy's first rule is too
# large for the kernel's rules (68 terms, more than 64), so the static rules
# end there and the queue decides everything after it. A router runs the
# script `switchyard firewall` prints and switchyard; then:
#   - a flow the addresses send direct (TCP to port 8080, IPv4 and IPv6)
#     never reaches switchyard's listener (no flow line, no socket), yet 2 MB
#     arrive byte-exact, and its conntrack entry carries the direct mark;
#   - a flow the addresses drop (port 8081) is refused: the client sees a
#     reset at once, as from switchyard's own drop, and the origin nothing;
#   - the same for UDP: DNS to dnsmasq (the default, direct) is answered
#     without a session in switchyard and its conntrack entry carries the
#     direct mark; a datagram to port 8081 never reaches the origin;
#   - a flow a host name decides (HTTPS to sni.example) still goes through
#     switchyard, which logs its name;
#   - a reload that drops port 8080 drops the next new flow there, while a
#     connection marked before the reload keeps going;
#   - /metrics counts the queue's answers by kind;
#   - a flood of 6,000 new UDP flows to a dropped port while switchyard is
#     stalled (SIGSTOP) carries not one datagram past the policy: the queue
#     drops what it has no room for instead of letting it through, and the
#     source over its offer rate is steered to switchyard; once it runs
#     again it answers what waited and the queue is empty;
#   - with switchyard stopped (nothing bound to the queue) new flows still
#     go through, direct (the queue's bypass);
#   - --undo leaves no rule behind;
#   - fast_path: static alone: a connection the kernel's rules sent direct is
#     marked so, and keeps going when the rules are loaded again from a
#     policy that drops its port, while a new flow there is dropped;
#   - another tool's bits of the same marks (a table `neighbour` marks every
#     new flow 0x100 in packet and conntrack mark before the offer, as mwan3
#     does in 0x3f00) come through untouched: the conntrack entries carry
#     both, and no packet the queue answered lost its 0x100.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up nginx
# Direct flows go through the router untouched: the origin must be able to answer the client.
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1
ip -n "$NS_O" -6 route add 2001:db8:1::/64 via 2001:db8:2::1

head -c 2000000 /dev/urandom >"$E2E_TMP/blob"
want=$(sha256sum <"$E2E_TMP/blob" | cut -d' ' -f1)
for port in 8080 8081; do
    bg "$NS_O" "$E2E_TMP/origin-$port.log" socat -d TCP6-LISTEN:$port,ipv6only=0,fork,reuseaddr \
        SYSTEM:"echo accepted >>$E2E_TMP/accepted-$port; cat $E2E_TMP/blob"
done
wait_tcp "$NS_O" "" 8081 || not_ok "origin servers start"
ip -n "$NS_O" addr add 198.51.100.53/24 dev o0
ip -n "$NS_O" addr add 2001:db8:2::53/64 dev o0 nodad
udp_start_dnsmasq || not_ok "dnsmasq starts"
bg "$NS_O" "$E2E_TMP/udp-8081.log" socat -u UDP6-RECV:8081,ipv6only=0 OPEN:"$E2E_TMP/udp-8081",creat,append
wait_ss "$NS_O" 5 -Huln "sport = :8081" || not_ok "the UDP origin on 8081 starts"

big_rule="  - {any: ["
for i in $(seq 17); do big_rule+="{dst: 203.0.113.$i/32}, "; done
big_rule="${big_rule%, }], not: {dst: 203.0.113.100/32, src: 192.0.2.100/32, dst_port: 9, src_port: 9}, action: drop}"
write_policy() { # write_policy ACTION-FOR-8080
    cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
fast_path: dynamic
sniff: {timeout_ms: 300}
control: {listen: "127.0.0.1:9090"}
inbounds:
  - {name: tp, type: tproxy, listen: "[::]:12345", network: [tcp, udp]}
rules:
$big_rule
  - {dst_port: 8081, action: drop}
  - {domain_suffix: sni.example, dst_port: 443, action: direct}
  - {dst_port: 443, action: drop}
  - {dst_port: 8080, action: $1}
default: direct
YAML
}
write_policy direct
"$SWITCHYARD" firewall -c "$POLICY" >"$E2E_TMP/firewall.sh"
check "the static rules stop at the large rule" bash -c "! grep -q 'chain fast_' '$E2E_TMP/firewall.sh'"
check "the script queues marked packets with the bypass flag" \
    grep -q -- "-j NFQUEUE --queue-num 7301 --queue-bypass" "$E2E_TMP/firewall.sh"
start_gateway || e2e_abort "gateway"
ip netns exec "$NS_R" nft -f - <<'NFT' || not_ok "the neighbour's table loads"
table inet neighbour {
    counter kept {}
    counter lost {}
    chain tag {
        type filter hook prerouting priority mangle - 20; policy accept;
        ct state new meta mark set meta mark | 0x100 ct mark set ct mark | 0x100
    }
    chain look {
        type filter hook prerouting priority mangle + 15; policy accept;
        ct state new meta mark & 0x3f00 == 0x100 counter name kept
        ct state new meta mark & 0x3f00 != 0x100 counter name lost
    }
}
NFT
check "switchyard binds the queue" grep -q "answering new flows on queue 7301" "$E2E_TMP/switchyard.log"

# fetch ADDR PORT: the origin's blob over TCP from the client, its sha256 (empty when it failed).
fetch() {
    local a=$1
    [[ $a == *:* ]] && a="[$a]"
    in_client timeout 10 socat -u TCP:"$a":"$2",connect-timeout=3 - 2>/dev/null | sha256sum | cut -d' ' -f1
}
empty=$(sha256sum </dev/null | cut -d' ' -f1)

for origin in "$ORIGIN4" "$ORIGIN6"; do
    got=$(fetch "$origin" 8080)
    check "direct by address ($origin): 2 MB byte-exact" test "$got" = "$want"
done
check "direct by address: no flow reached switchyard" test "$(log_count ':8080')" = 0
check "direct by address: the conntrack entry carries the direct mark" \
    bash -c "ip netns exec '$NS_R' conntrack -L -p tcp --dport 8080 --mark 0x04000100 2>/dev/null | grep -q 8080"

got=$(fetch "$ORIGIN4" 8081)
check "drop by address: nothing arrives" test "$got" = "$empty"
for origin in "$ORIGIN4" "[$ORIGIN6]"; do
    t0=$(date +%s%N)
    in_client timeout 10 curl -s "http://$origin:8081/" >/dev/null 2>&1
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    check "drop by address ($origin): the client sees the connection refused at once (curl 7, ${ms} ms)" \
        test "$rc" = 7 -a "$ms" -lt 2000
done
check "drop by address: the origin saw no connection" test ! -e "$E2E_TMP/accepted-8081"
check "drop by address: no flow reached switchyard" test "$(log_count ':8081')" = 0

answer=$(in_client dig +short +time=2 +tries=1 @198.51.100.53 www.example A)
check "UDP direct by address: DNS answered" test "$answer" = 203.0.113.99
check "UDP direct by address: no session in switchyard" test "$(log_count '198\.51\.100\.53')" = 0
check "UDP direct by address: the conntrack entry carries the direct mark" \
    bash -c "ip netns exec '$NS_R' conntrack -L -p udp --dport 53 --mark 0x04000100 2>/dev/null | grep -q 'dport=53'"
echo ping | in_client socat -u - UDP:"$ORIGIN4":8081
sleep 0.5
check "UDP drop by address: the origin saw no datagram" test ! -s "$E2E_TMP/udp-8081"

body=$(curl_host "$NS_C" sni.example "$ORIGIN4" https)
check "a flow a name decides still goes through switchyard" test "$body" = "hello from origin"
check "switchyard logged its name" test "$(log_count 'sni\.example')" -ge 1

# verdict KIND: what /metrics says the queue answered KIND so far.
verdict() {
    ip netns exec "$NS_R" curl -s http://127.0.0.1:9090/metrics |
        sed -n "s/^switchyard_fast_path_verdicts_total{verdict=\"$1\"} //p"
}
check "/metrics: the queue is bound" bash -c \
    "ip netns exec '$NS_R' curl -s http://127.0.0.1:9090/metrics | grep -qx 'switchyard_fast_path_queue_bound 1'"
check "/metrics: the three direct flows answered direct" test "$(verdict direct)" -ge 3
check "/metrics: the two dropped flows answered drop" test "$(verdict drop)" -ge 2
check "/metrics: the flow by name answered steer" test "$(verdict steer)" -ge 1
# neighbour COUNTER: packets the neighbour's chain after `decide` counted.
neighbour() {
    ip netns exec "$NS_R" nft list counter inet neighbour "$1" | sed -n 's/.*packets \([0-9]*\).*/\1/p'
}
check "another tool's mark bit: kept on the new flows' packets ($(neighbour kept))" \
    test "$(neighbour kept)" -ge 5
check "another tool's mark bit: lost on none" test "$(neighbour lost)" = 0

# A connection marked direct keeps going across a reload that drops its port.
in_client bash -c "exec 3<>/dev/tcp/$ORIGIN4/8080; sleep 4; cat <&3 | sha256sum | cut -d' ' -f1" \
    >"$E2E_TMP/long.sha" &
long=$!
sleep 1
write_policy drop
kill -HUP "$SWITCHYARD_PID"
wait_file_grep "$E2E_TMP/switchyard.log" "reload" 5 || true
sleep 0.5
got=$(fetch "$ORIGIN4" 8080)
check "after the reload a new flow to 8080 is dropped" test "$got" = "$empty"
wait "$long"
check "the connection marked before the reload kept going" test "$(cat "$E2E_TMP/long.sha")" = "$want"

# A flood of new flows while switchyard is stalled: nothing gets past the policy.
kill -STOP "$SWITCHYARD_PID"
in_client timeout 30 python3 - "$ORIGIN4" <<'PY'
import socket, sys
for port in range(20000, 26000):  # 6,000 flows, each from its own source port
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", port))
    s.sendto(b"flood\n", (sys.argv[1], 8081))
    s.close()
PY
sleep 1
n=$(grep -c flood "$E2E_TMP/udp-8081")
check "a flood while switchyard is stalled: not one datagram reaches the dropped port ($n)" \
    test "$n" = 0
kill -CONT "$SWITCHYARD_PID"
sleep 2 # what waited is answered; the source's offer rate fills up again
check "after the flood the queue holds nothing" bash -c \
    "ip netns exec '$NS_R' awk '\$1 == 7301 { exit \$3 != 0 }' /proc/net/netfilter/nfnetlink_queue"
check "after the flood switchyard answered what waited (drop verdicts)" test "$(verdict drop)" -ge 100
check "after the flood nothing reached the dropped port" test "$(grep -c flood "$E2E_TMP/udp-8081")" = 0
got=$(fetch "$ORIGIN4" 8080)
check "after the flood a new flow is decided as before (dropped since the reload)" test "$got" = "$empty"

# Nothing bound to the queue: the bypass lets new flows through, direct.
stop_pid "$SWITCHYARD_PID"
check "switchyard logged what it answered" grep -q "queue 7301 closed (answered [1-9]" \
    "$E2E_TMP/switchyard.log"
got=$(fetch "$ORIGIN4" 8080)
check "switchyard stopped: new flows still go through (bypass)" test "$got" = "$want"
body=$(curl_host "$NS_C" sni.example "$ORIGIN4" https)
check "switchyard stopped: HTTPS still goes through" test "$body" = "hello from origin"

"$SWITCHYARD" firewall -c "$POLICY" --undo >"$E2E_TMP/undo.sh"
ip netns exec "$NS_R" sh "$E2E_TMP/undo.sh" >/dev/null 2>&1
check "undo removes the queue rules" \
    bash -c "! ip netns exec '$NS_R' iptables-save | grep -q NFQUEUE && ! ip netns exec '$NS_R' ip6tables-save | grep -q NFQUEUE"
check "undo removes the table" bash -c "! ip netns exec '$NS_R' nft list table inet switchyard 2>/dev/null"

# fast_path: static, no switchyard running: the kernel's own rules send 8080 direct and mark
# the connection so; loading the rules again from a policy that drops 8080 drops the next new
# flow there, while the connection marked before keeps going (its client's ACKs would meet the
# new drop rule otherwise, and be refused).
static_rules() { # static_rules ACTION-FOR-8080: loads the script for that policy
    cat >"$E2E_TMP/static.yaml" <<YAML
routing_mark: 0xff
fast_path: static
inbounds:
  - {name: tp, type: tproxy, listen: "[::]:12345", network: [tcp, udp]}
rules:
  - {dst_port: 8080, action: $1}
default: direct
YAML
    "$SWITCHYARD" firewall -c "$E2E_TMP/static.yaml" >"$E2E_TMP/static.sh" &&
        ip netns exec "$NS_R" sh "$E2E_TMP/static.sh"
}
ip netns exec "$NS_R" conntrack -F 2>/dev/null # the marks the queue gave are gone
check "static rules: they load" static_rules direct
got=$(fetch "$ORIGIN4" 8080)
check "static rules: direct by address, 2 MB byte-exact" test "$got" = "$want"
check "static rules: the connection carries the direct mark" \
    bash -c "ip netns exec '$NS_R' conntrack -L -p tcp --dport 8080 --mark 0x04000100 2>/dev/null | grep -q 8080"
in_client bash -c "exec 3<>/dev/tcp/$ORIGIN4/8080; sleep 4; cat <&3 | sha256sum | cut -d' ' -f1" \
    >"$E2E_TMP/long-static.sha" &
long=$!
sleep 1
check "static rules: loaded again from a policy that drops 8080" static_rules drop
got=$(fetch "$ORIGIN4" 8080)
check "static rules: a new flow to 8080 is dropped" test "$got" = "$empty"
wait "$long"
check "static rules: the connection marked before kept going" \
    test "$(cat "$E2E_TMP/long-static.sha")" = "$want"
"$SWITCHYARD" firewall -c "$E2E_TMP/static.yaml" --undo | ip netns exec "$NS_R" sh >/dev/null 2>&1
check "undo removes the static rules' table" \
    bash -c "! ip netns exec '$NS_R' nft list table inet switchyard 2>/dev/null"
e2e_finish
