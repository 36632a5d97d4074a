#!/usr/bin/env bash
# udp_quic_load.sh — UDP through switchyard's tproxy inbound, end to end:
# a QUIC Initial routed by the SNI the classifier finds in it (the RFC 9001
# client Initial, SNI example.com) to direct or to drop; `network: udp,
# dst_port: 443` dropping QUIC so clients fall back to TCP (which still
# passes); and many clients to several destinations at once, every echo
# byte-exact and back at the socket that sent it.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard
py=tests/e2e/udp_quic_load.py
initial=tests/fixtures/sniff_quic/rfc9001-a2-client-initial.bin

udp_net || e2e_abort "network set-up"
bg "$NS_O" "$E2E_TMP/echo.log" python3 $py echo 198.51.100.53 443 4433 7001 7002 7003 7004 7005
bg "$NS_O" "$E2E_TMP/echo6.log" python3 $py echo 2001:db8:2::53 4433 7001
bg "$NS_O" "$E2E_TMP/tcp443.log" socat TCP-LISTEN:443,bind=198.51.100.53,fork,reuseaddr SYSTEM:'echo tcp-ok'
wait_udp "$NS_O" 198.51.100.53 7005 || not_ok "echo server listening"

policy() { # policy RULES...: writes the policy with these rules
    {
        echo "log: {level: info, flows: true}"
        echo "inbounds:"
        echo "  - {name: tp, type: tproxy, listen: \"[::]:12346\", network: [udp]}"
        echo "rules:"
        for r in "$@"; do echo "  - $r"; done
        echo "default: direct"
    } >"$POLICY"
}
policy "{network: udp, dst_port: 443, action: drop}" "{protocol: quic, domain: example.com, action: drop}"
bg "$NS_R" "$E2E_TMP/switchyard.log" "$SWITCHYARD" run -c "$POLICY"
SY_PID=$REPLY
sleep 0.5
udp_tproxy_rules 12346

send() { ip netns exec "$NS_C" timeout 10 python3 $py send "$@"; }
check "QUIC Initial with SNI example.com is dropped by its name" test "$(send $initial 198.51.100.53 4433)" = silence
check "the log names the sniffed host and protocol" grep -q "example.com.*quic\|quic.*example.com" "$E2E_TMP/switchyard.log"
check "UDP 443 (QUIC) is dropped by port" test "$(send $initial 198.51.100.53 443)" = silence
check "TCP 443 still passes: clients fall back to it" \
    test "$(ip netns exec "$NS_C" timeout 5 socat -T2 - TCP:198.51.100.53:443 </dev/null)" = tcp-ok

# The same packet passes once the rule names another host (a reload; the
# client uses a new source port, so a new session is decided).
policy "{network: udp, dst_port: 443, action: drop}" "{protocol: quic, domain: other.example, action: drop}"
kill -HUP "$SY_PID"
sleep 0.5
check "after reload the QUIC Initial to example.com passes" test "$(send $initial 198.51.100.53 4433)" = reply
check "over IPv6 too" test "$(send $initial 2001:db8:2::53 4433)" = reply

out=$(ip netns exec "$NS_C" timeout 60 python3 $py load 198.51.100.53 7001,7002,7003,7004,7005 50 20)
check "50 clients x 20 datagrams to 5 destinations: all echoes byte-exact at their sender ($out)" \
    test "${out##* missing }" = 0 -a "$(echo "$out" | sed 's/.*wrong \([0-9]*\).*/\1/')" = 0
out=$(ip netns exec "$NS_C" timeout 60 python3 $py load 2001:db8:2::53 7001 20 10)
check "IPv6: 20 clients x 10 datagrams byte-exact ($out)" test "${out##* missing }" = 0
check "switchyard is still running" kill -0 "$SY_PID"
e2e_finish
