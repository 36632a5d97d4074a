#!/usr/bin/env bash
# fault_slowloris.sh — slow clients that hold the daemon's attention, while
# 10 transparent echo flows must run on intact:
#   - 200 clients trickle a TLS ClientHello (517 bytes) one byte every 20 ms
#     while the policy needs the name (sniff.timeout_ms 300, max_wait_ms
#     30000): the timeout decides none of them (they began a ClientHello),
#     each is decided by its name once whole and none holds the others up;
#     a ClientHello for a dropped name trickled alongside is dropped, never
#     decided without its name;
#   - 300 half-finished SOCKS5 and 300 half-finished HTTP handshakes on the
#     explicit inbounds: each is closed at timeouts.connect_ms; with
#     limits.max_flows below their number, transparent flows still pass
#     (the handshakes have a limit of their own, limits.max_handshakes).
#
#   tests/run --e2e fault_slowloris
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_reliability.sh
rel_gateway_up 9000 9100 443

policy() { # policy EXTRA_LINE
    cat >"$POLICY" <<YAML
log: {level: info, flows: false}
routing_mark: 0xff
sniff: {timeout_ms: 300, max_wait_ms: 30000}
timeouts: {connect_ms: 3000}
$1
$(policy_inbounds gateway redirect socks5 http)
rules:
  - {domain: blocked.example, action: drop}
default: direct
YAML
}
# streams: 10 echo flows in the background until streams_end (OUT = their summary).
streams() { rel_streams streams 9000 10 100; STREAMS=$REPLY; }
streams_end() { rel_streams_end streams $STREAMS; }
# quick: a transparent flow fetching 1,000 bytes is served within a second.
quick() {
    OUT=$(rel_client get $O4 9100 1000)
    grep -qE "end=eof bytes=1000 intact in 0\.[0-9]s" <<<"$OUT"
}

policy ""
rel_start_gateway
idle_fd=$(fd_count $pid)

# --- slowloris while sniffing -------------------------------------------------------------
streams
rel_bg "$E2E_TMP/blocked.out" 90 hello-trickle $O4 443 1 blocked.example 0.02
blocked=$REPLY
out=$(rel_client hello-trickle $O4 443 200 ok.example 0.02)
diag "200 ClientHellos for ok.example, a byte every 20 ms: $out"
check "sniffing slowloris: every trickled flow waits out its ClientHello and reaches the origin" \
    grep -q "answered=200 " <<<"$out"
streams_end
check "sniffing slowloris: 10 echo flows meanwhile all intact ($OUT)" grep -q "ok=10 " <<<"$OUT"
wait $blocked
out=$(cat "$E2E_TMP/blocked.out")
diag "a ClientHello for blocked.example, a byte every 20 ms: $out"
check "sniffing slowloris: a trickled ClientHello for a dropped name never reaches the origin" \
    grep -q "answered=0 eof=0 reset=1 " <<<"$out"
check "descriptors back to idle (pooled pipes aside)" wait_fds $pid $((idle_fd + 8)) 10

# --- slowloris during explicit-proxy handshakes ------------------------------------------------
half() { # half KIND PORT N: N half-finished handshakes in the background, held 8 s
    rel_bg "$E2E_TMP/half-$1.out" 60 half-handshakes 192.0.2.1 "$2" "$3" "$1" 8
}
streams
half socks5 1080 300
h1=$REPLY
half http 8080 300
h2=$REPLY
sleep 1
quick
check "600 half-finished handshakes held: a new transparent flow is served within a second ($OUT)" grep -q "in 0" <<<"$OUT"
wait $h1 $h2
for k in socks5 http; do
    out=$(cat "$E2E_TMP/half-$k.out")
    diag "half-finished $k handshakes: $out"
    check "half-finished $k handshakes: every one closed by the daemon ($out)" \
        grep -qE "opened ([0-9]+) closed-by-server \1 " <<<"$out"
    check "... by timeouts.connect_ms (3 s), within a second of it" \
        awk -v s="$(sed 's/.*last-closed-at \([0-9.]*\)s.*/\1/' <<<"$out")" 'BEGIN { exit !(s >= 2.5 && s <= 4.5) }'
done
streams_end
check "explicit-proxy slowloris: 10 echo flows meanwhile all intact ($OUT)" grep -q "ok=10 " <<<"$OUT"
check "switchyard is still running" kill -0 $pid
stop_pid $pid

# With the flow limit below the number of half-finished handshakes.
policy "limits: {max_flows: 200}"
: >"$E2E_TMP/switchyard.log"
start_switchyard "$NS_R" "$POLICY" || not_ok "switchyard starts (max_flows 200)"
pid=$SWITCHYARD_PID
half socks5 1080 300
h1=$REPLY
sleep 1
quick
diag "max_flows 200, 300 half-finished SOCKS5 handshakes: a transparent flow: $OUT"
check "max_flows 200 and 300 half-finished SOCKS5 handshakes: a transparent flow is served within a second" \
    grep -q "in 0" <<<"$OUT"
check "... the handshakes over limits.max_handshakes (200 / 8) are refused, and that is logged once" \
    test "$(log_count "explicit-proxy handshakes under way, the limit")" -eq 1
wait $h1
check "max_flows 200: once the handshakes timed out, transparent flows are served at once" quick
check "switchyard is still running" kill -0 $pid
stop_pid $pid
e2e_finish
