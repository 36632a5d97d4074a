#!/usr/bin/env bash
# tcp_local.sh — switchyard intercepting its own host's connections (local
# mode: OUTPUT rules from `switchyard firewall --mode local`). The client runs
# in switchyard's namespace; switchyard's own upstream connections carry
# routing_mark and are not steered back to it. For redirect and tproxy, IPv4
# and IPv6: HTTP and HTTPS reach the nginx origin through switchyard, a
# dropped host gets a reset, and a socket that carries the mark itself is
# left alone. Then tproxy again beside a tool that keeps a bit of its own in
# the same mark (as mwan3 does in 0x3f00), with masked marks.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up nginx
ACCESS=$E2E_TMP/nginx-access.log
bg "$NS_O" "$E2E_TMP/banner.log" socat TCP6-LISTEN:7000,reuseaddr,fork,ipv6only=0 \
    SYSTEM:'echo marked-ok'
wait_tcp "$NS_O" 198.51.100.10 7000

# A client whose socket carries SO_MARK 0xff (36) before it connects.
MARKED_CLIENT='
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, 36, int(sys.argv[3], 0) if len(sys.argv) > 3 else 0xff)
s.settimeout(5)
s.connect((sys.argv[1], int(sys.argv[2])))
print(s.recv(100).decode().strip())
'

# curl_local HOST ADDR SCHEME: from the router namespace itself.
curl_local() { curl_host "$NS_R" "$@"; }

for kind in redirect tproxy; do
    start_gateway_policy "local-$kind" $kind || continue
    check "$kind: firewall rules load (nft, local)" apply_firewall "$NS_R" "$POLICY" local ||
        sed 's/^/# /' "$E2E_TMP/firewall.out"

    for fam in 4 6; do
        origin=198.51.100.10; peer=198.51.100.1
        [ $fam = 6 ] && { origin=2001:db8:2::10; peer=2001:db8:2::1; }
        : >"$ACCESS"
        out=$(curl_local origin.example $origin http)
        check "$kind IPv$fam local: HTTP reaches the origin" grep -q "hello from origin" <<<"$out" ||
            diag "curl said: $out"
        out=$(curl_local secure.example $origin https)
        check "$kind IPv$fam local: HTTPS reaches the origin" grep -q "hello from origin" <<<"$out" ||
            diag "curl said: $out"
        check "$kind IPv$fam local: both went through switchyard (decided lines)" \
            test "$(log_count "decided inbound=local-$kind .* host=(origin|secure).example .*-> direct")" -ge 2
        check "$kind IPv$fam local: nginx saw them from $peer" \
            test "$(grep -c "^$peer \(origin\|secure\).example" "$ACCESS")" -eq 2
        out=$(curl_local www.blocked.example $origin https)
        check "$kind IPv$fam local: a dropped host gets a reset" grep -qi reset <<<"$out" ||
            diag "curl said: $out"
        before=$(log_count "dst=.*:7000 ")
        out=$(in_router python3 -c "$MARKED_CLIENT" "$origin" 7000 2>&1)
        after=$(log_count "dst=.*:7000 ")
        check "$kind IPv$fam local: a socket carrying routing_mark goes straight out" \
            test "$out" = marked-ok -a "$before" = "$after" || diag "got '$out', $before/$after"
    done

    "$SWITCHYARD" firewall -c "$POLICY" --mode local --undo | ip netns exec "$NS_R" sh
    stop_pid "$SWITCHYARD_PID"
    out=$(curl_local origin.example 198.51.100.10 http)
    check "$kind: after --undo and stop, connections go straight out again" \
        grep -q "hello from origin" <<<"$out"
done

# Beside a tool that ORs 0x100 into the mark of every packet this host sends, once before
# switchyard's marking and once after: with exact marks switchyard's own packets (0xff|0x100)
# would be steered back to it and a steered one (0x1|0x100) would miss the TPROXY route and go
# straight out. Masked marks see their own bits only.
start_gateway_policy local-masked tproxy || e2e_finish
sed -i 's|^routing_mark: 0xff$|routing_mark: 0x80/0x80|' "$POLICY"
kill -HUP "$SWITCHYARD_PID"
wait_file_grep "$E2E_TMP/switchyard.log" "reload" 5 || true
nft_table "$NS_R" neighbour <<'NFT' || not_ok "the neighbour's table loads"
    chain before {
        type route hook output priority mangle - 5; policy accept;
        meta mark set meta mark | 0x100
    }
    chain after {
        type route hook output priority mangle + 5; policy accept;
        meta mark set meta mark | 0x100
    }
NFT
"$SWITCHYARD" firewall -c "$POLICY" --mode local --tproxy-mark 0x1/0x1 >"$E2E_TMP/masked.sh"
check "masked marks: firewall rules load" ip netns exec "$NS_R" sh "$E2E_TMP/masked.sh"
: >"$ACCESS"
out=$(curl_local origin.example 198.51.100.10 http)
check "masked marks: HTTP reaches the origin" grep -q "hello from origin" <<<"$out" ||
    diag "curl said: $out"
check "masked marks: through switchyard once (one decided line, no loop)" \
    test "$(log_count "decided inbound=local-masked .* host=origin.example")" = 1
check "masked marks: nginx saw one request" test "$(grep -c "^198.51.100.1 origin.example" "$ACCESS")" = 1
before=$(log_count "dst=.*:7000 ")
out=$(in_router python3 -c "$MARKED_CLIENT" 198.51.100.10 7000 0x80 2>&1)
check "masked marks: a socket carrying 0x80 goes straight out, the neighbour's bit set too" \
    test "$out" = marked-ok -a "$before" = "$(log_count "dst=.*:7000 ")"
"$SWITCHYARD" firewall -c "$POLICY" --mode local --tproxy-mark 0x1/0x1 --undo | ip netns exec "$NS_R" sh
check "masked marks: --undo removes the masked policy rule" \
    bash -c "! ip netns exec '$NS_R' ip rule | grep -q 'fwmark 0x1/0x1'"
stop_pid "$SWITCHYARD_PID"

e2e_finish
