#!/usr/bin/env bash
# tcp_gateway.sh — switchyard as a gateway: a client namespace routes through
# a router namespace running switchyard with the rules `switchyard firewall
# --mode gateway` prints, to an nginx origin (HTTP and HTTPS with a
# certificate made now). For redirect and tproxy inbounds, over IPv4 and
# IPv6: curl reaches the origin through switchyard (nginx's access log shows
# the router as the peer), a host name routed to drop gets a reset (by HTTP
# Host and by TLS SNI), and a connection made straight to the listener is
# refused.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up nginx
ACCESS=$E2E_TMP/nginx-access.log

# curl_via HOST ADDR URLSCHEME: fetch / of HOST, resolved to ADDR, from the client.
curl_via() { curl_host "$NS_C" "$@"; }

for kind in redirect tproxy; do
    start_gateway_policy "gw-$kind" $kind || continue
    check "$kind: firewall rules load (nft, gateway)" apply_firewall "$NS_R" "$POLICY" gateway

    for fam in 4 6; do
        origin=$ORIGIN4; peer=198.51.100.1; listen=192.0.2.1
        [ $fam = 6 ] && { origin=$ORIGIN6; peer=2001:db8:2::1; listen=2001:db8:1::1; }
        : >"$ACCESS"

        out=$(curl_via origin.example "$origin" http)
        check "$kind IPv$fam: HTTP by Host reaches the origin" grep -q "hello from origin" <<<"$out"
        out=$(curl_via secure.example "$origin" https)
        check "$kind IPv$fam: HTTPS by SNI reaches the origin" grep -q "hello from origin" <<<"$out"
        check "$kind IPv$fam: nginx saw the router ($peer) for both hosts" \
            test "$(grep -c "^$peer \(origin\|secure\).example" "$ACCESS")" -eq 2

        out=$(curl_via www.blocked.example "$origin" http)
        check "$kind IPv$fam: HTTP to a dropped host gets a reset" grep -qi "reset" <<<"$out"
        out=$(curl_via www.blocked.example "$origin" https)
        check "$kind IPv$fam: HTTPS to a dropped host (SNI) gets a reset" grep -qi "reset" <<<"$out"
        check "$kind IPv$fam: the origin never saw the dropped host" \
            bash -c "! grep -q blocked.example '$ACCESS'"

        url="http://$listen:12345/"
        [ $fam = 6 ] && url="http://[$listen]:12345/"
        out=$(in_client curl -sS --max-time 5 "$url" 2>&1)
        check "$kind IPv$fam: a connection addressed to the listener itself is refused" \
            grep -qiE "reset|refused|empty reply|couldn.t connect" <<<"$out" || diag "curl said: $out"
    done
    check "$kind: one decided line per flow names inbound, host, protocol and action" \
        grep -qE "decided inbound=gw-$kind src=.* host=secure.example protocol=tls default -> direct" \
        "$E2E_TMP/switchyard.log"
    check "$kind: a close line carries bytes and duration" \
        grep -qE "closed: done; up [0-9]+ bytes, down [0-9]+ bytes" "$E2E_TMP/switchyard.log"
    check "$kind: the self-addressed connections were logged as refused" \
        test "$(log_count 'refused: addressed to the listener itself')" -ge 2

    "$SWITCHYARD" firewall -c "$POLICY" --mode gateway --undo | ip netns exec "$NS_R" sh
    check "$kind: --undo removes the rules" bash -c "! ip netns exec $NS_R nft list tables | grep -q switchyard"
    stop_pid "$SWITCHYARD_PID"
    check "$kind: SIGTERM stops switchyard cleanly" grep -q "stopped:" "$E2E_TMP/switchyard.log"
done

e2e_finish
