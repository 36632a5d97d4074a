#!/usr/bin/env bash
# control_ws.sh — the control API's streams over WebSocket, read by Debian's
# python3-websockets as the Clash dashboards open them (tests/e2e/control_ws.py):
# switchyard as a gateway (redirect and udp-redirect inbounds) with `control`
# on the router's loopback and a secret.
#   - the handshake is refused (401) without the secret or with a wrong one,
#     accepted with ?token= and with the Bearer header; a broken handshake
#     answers 400, another protocol version 426;
#   - while a paced transfer runs, /traffic's per-second counts sum to what
#     was sent and /connections' snapshots show the flow's download reaching
#     it, both within one interval's worth; /logs carries the flow's line;
#   - a UDP session shows in GET /connections (network udp, its bytes each
#     way) and DELETE /connections/ID ends it; a DNS query's session shows
#     the name sniffed;
#   - a client that reads nothing is closed once its bounds fill, and one
#     still connected when switchyard stops sees the connection end.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib_udp.sh
e2e_need_switchyard
udp_net || e2e_abort "network set-up"
PEER=$PWD/tests/e2e/control_peer.py
WSC=$PWD/tests/e2e/control_ws.py
API=http://127.0.0.1:9090
WS=ws://127.0.0.1:9090
AUTH="Authorization: Bearer t0ken"

cat >"$POLICY" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
sniff: {timeout_ms: 200}
control: {listen: "127.0.0.1:9090", secret: t0ken}
inbounds:
  - {name: gw, type: redirect, listen: "0.0.0.0:12345"}
  - {name: nat, type: udp-redirect, listen: "0.0.0.0:12347"}
rules:
  - {domain_suffix: blocked.example, action: drop}  # a rule that needs a name: sessions are sniffed
default: direct
fast_path: off  # every flow through switchyard, none decided in the kernel
YAML
start_gateway || e2e_abort "switchyard starts"
bg "$NS_O" "$E2E_TMP/origin.log" python3 "$PEER" origin 80 81
wait_tcp "$NS_O" "$ORIGIN4" 81 || not_ok "origin starts"

api() { in_router curl -sS --max-time 10 "$@"; }
code() { in_router curl -s -o /dev/null --max-time 10 -w '%{http_code}' "$@"; }
ws() { in_router /usr/bin/python3 "$WSC" read "$@"; }
# ws_reader NAME PATH SECONDS: a WebSocket client reading $WS/PATH for
# SECONDS in the background, into $E2E_TMP/NAME.out; returns once it is
# open (5 s at most), its pid in REPLY.
ws_reader() {
    bg "$NS_R" "$E2E_TMP/$1.out" /usr/bin/python3 "$WSC" read "$WS/$2" "$3"
    wait_file_grep "$E2E_TMP/$1.out" "^open" 5
}

# --- the handshake and the secret ---------------------------------------------------------
check "WebSocket /traffic without the secret: refused, 401" test "$(ws "$WS/traffic" 1 | head -1)" = "refused 401"
check "... with a wrong ?token=: refused, 401" test "$(ws "$WS/traffic?token=t0kem" 1 | head -1)" = "refused 401"
out=$(ws "$WS/traffic?token=t0ken" 2.5)
check "... with ?token= (as the dashboards send it): open, and a message a second" \
    test "$(head -1 <<<"$out")" = open -a "$(grep -c '^{"up":[0-9]*,"down":[0-9]*}$' <<<"$out")" -ge 2
out=$(ws "$WS/memory" 1.5 t0ken)
check "... with the Bearer header: /memory streams {inuse}" grep -q '"inuse":[1-9]' <<<"$out"
UPG=(-H "Upgrade: websocket" -H "Connection: Upgrade" -H "$AUTH")
check "a handshake without Sec-WebSocket-Key: 400" \
    test "$(code "${UPG[@]}" -H "Sec-WebSocket-Version: 13" "$API/traffic")" = 400
check "a handshake of another version: 426" \
    test "$(code "${UPG[@]}" -H "Sec-WebSocket-Version: 8" -H "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" "$API/traffic")" = 426
check "GET /connections without Upgrade is still a snapshot" \
    sh -c "ip netns exec '$NS_R' curl -sS --max-time 5 -H '$AUTH' '$API/connections' | grep -q '\"connections\":\\['"

# --- /traffic, /connections and /logs while a paced transfer runs --------------------------
ws_reader traffic "traffic?token=t0ken" 7
TRAFFIC=$REPLY
ws_reader conns "connections?token=t0ken" 7
CONNS=$REPLY
ws_reader logs "logs?token=t0ken&level=info" 7
LOGS=$REPLY
paced=$(in_client python3 "$PEER" paced "$ORIGIN4" 81)
check "the paced transfer went through ($paced bytes)" test "${paced:-0}" -gt 1000000
wait_pid_gone() { for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; }
wait_pid_gone "$TRAFFIC"
wait_pid_gone "$CONNS"
wait_pid_gone "$LOGS"
check_traffic_sum "/traffic over WebSocket: the down bytes sum to what was sent (within a second's worth)" \
    "$E2E_TMP/traffic.out" "${paced:-0}"
check "/connections over WebSocket: the flow to :81 listed, its download reaching what was sent within one interval" \
    python3 -c '
import json, sys
snaps = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
seen = [c["download"] for s in snaps for c in s["connections"]
        if c["metadata"]["destinationPort"] == "81" and c["metadata"]["network"] == "tcp"]
steps = [b - a for a, b in zip(seen, seen[1:])]
sent = int(sys.argv[2])
print("# %d snapshots, the flow in %d, last %s of %d" % (len(snaps), len(seen), seen[-1:] or 0, sent))
ok = len(seen) >= 2 and seen == sorted(seen) and seen[-1] <= sent and sent - seen[-1] <= max(steps) + 200000
ok = ok and all("uploadTotal" in s and "downloadTotal" in s for s in snaps)
sys.exit(0 if ok else 1)' \
    "$E2E_TMP/conns.out" "${paced:-0}"
check "/logs over WebSocket: the flow's line to $ORIGIN4:81" \
    python3 -c '
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
sys.exit(0 if any(m["type"] == "info" and sys.argv[2] in m["payload"] for m in msgs) else 1)' \
    "$E2E_TMP/logs.out" "$ORIGIN4:81"

# --- a UDP session in /connections, ended by DELETE -----------------------------------------
totals() {
    api -H "$AUTH" "$API/connections" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["uploadTotal"], d["downloadTotal"])'
}
read -r up0 down0 <<<"$(totals)"
bg "$NS_O" "$E2E_TMP/echo.out" /usr/bin/python3 "$WSC" udp-echo 5300
sleep 0.3
bg "$NS_C" "$E2E_TMP/talk.out" /usr/bin/python3 "$WSC" udp-talk "$ORIGIN4" 5300 6
TALK=$REPLY
sleep 1.5
udp_entry() {
    api -H "$AUTH" "$API/connections" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["connections"]:
    m = c["metadata"]
    if m["network"] == "udp" and m["destinationPort"] == "5300":
        print(c["id"], c["upload"], c["download"], m["destinationIP"], m["type"], c["chains"][0])
        break'
}
read -r uid up down dst type chain <<<"$(udp_entry)"
diag "udp entry: ${uid:-none} up ${up:-} down ${down:-} dst ${dst:-} type ${type:-} chain ${chain:-}"
check "/connections lists the UDP session to $ORIGIN4:5300 (network udp, DIRECT)" \
    test "${dst:-}" = "$ORIGIN4" -a "${chain:-}" = DIRECT
check "... with its bytes each way (100-byte datagrams, echoed)" \
    test "${up:-0}" -ge 500 -a $((${up:-1} % 100)) = 0 -a "${down:-0}" -ge 300 -a "${down:-0}" -le "${up:-0}"
check "DELETE /connections/$uid: 204" test "$(code -X DELETE -H "$AUTH" "$API/connections/$uid")" = 204
for _ in $(seq 20); do # 2 s for the client's next datagram
    sleep 0.1
    read -r uid2 up2 _ <<<"$(udp_entry)"
    [ -n "${uid2:-}" ] && [ "$uid2" != "$uid" ] && break
done
check "... the session ended: the next datagram starts another ($uid -> ${uid2:-none}, up ${up2:-0})" \
    test "${uid2:-$uid}" != "$uid" -a "${up2:-0}" -lt "${up:-0}"
check "DELETE /connections/$uid again: 404" test "$(code -X DELETE -H "$AUTH" "$API/connections/$uid")" = 404
wait_pid_gone "$TALK"
read -r up1 down1 <<<"$(totals)"
read -r _ sent _ got <"$E2E_TMP/talk.out"
diag "totals moved by up $((up1 - up0)) down $((down1 - down0)); the client sent $sent, got $got"
check "uploadTotal and downloadTotal count the UDP sessions' bytes, the ended one's and the open one's" \
    test "$((up1 - up0))" = "$sent" -a "$((down1 - down0))" -ge "$got" -a "$((down1 - down0))" -le "$((got + 200))"

udp_start_dnsmasq || not_ok "dnsmasq listening"
answer=$(in_client dig @198.51.100.53 seen.direct.example +short +tries=2 +time=3 2>/dev/null)
check "a DNS query through the udp-redirect inbound is answered ($answer)" test "$answer" = 203.0.113.99
dns=$(api -H "$AUTH" "$API/connections" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["connections"]:
    m = c["metadata"]
    if m["network"] == "udp" and m["destinationPort"] == "53":
        print(m["host"], m["sniffProtocol"], c["upload"] > 0 and c["download"] > 0)
        break')
check "... its session listed with the sniffed name and protocol ($dns)" test "$dns" = "seen.direct.example dns True"

# --- a client that reads nothing is closed, the others go on ----------------------------------
# It asks /logs and never reads; thousands of UDP sessions from new ports each
# log a line (about 4 MB in all), more than its bounds (the kernel's buffers
# and 1 MiB queued). A reading /traffic client beside it is served throughout.
bg "$NS_R" "$E2E_TMP/stall.out" /usr/bin/python3 "$WSC" stall logs t0ken 8
STALL=$REPLY
bg "$NS_R" "$E2E_TMP/traffic2.out" /usr/bin/python3 "$WSC" read "$WS/traffic?token=t0ken" 8
TRAFFIC2=$REPLY
wait_file_grep "$E2E_TMP/stall.out" "^HTTP/1.1 101" 5
wait_file_grep "$E2E_TMP/traffic2.out" "^open" 5
in_client /usr/bin/python3 -c '
import socket, time
end = time.monotonic() + 5
n = 0
while n < 30000 and time.monotonic() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("198.51.100.10", 5301))
    s.close()
    n += 1
print("# sent", n)'
wait_pid_gone "$STALL"
wait_pid_gone "$TRAFFIC2"
diag "stalled client: $(tr '\n' ' ' <"$E2E_TMP/stall.out")"
check "a WebSocket client that reads nothing is closed once its bounds fill" \
    grep -q "^closed by the server" "$E2E_TMP/stall.out"
check "... while a reading one beside it got its message every second" \
    test "$(grep -c '^{"up"' "$E2E_TMP/traffic2.out")" -ge 6
check "... and the API still answers" test "$(code -H "$AUTH" "$API/version")" = 200

# --- stopping with WebSocket clients connected ------------------------------------------------
ws_reader last "logs?token=t0ken" 10
LAST=$REPLY
ws_reader last2 "connections?token=t0ken" 10
LAST2=$REPLY
stop_pid "$SWITCHYARD_PID"
check "switchyard stops cleanly with WebSocket clients connected" grep -q "stopped:" "$E2E_TMP/switchyard.log"
wait_pid_gone "$LAST"
wait_pid_gone "$LAST2"
check "... and they see the connection end" sh -c "grep -q '^closed' '$E2E_TMP/last.out' && grep -q '^closed' '$E2E_TMP/last2.out'"
e2e_finish
