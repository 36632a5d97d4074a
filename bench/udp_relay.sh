#!/usr/bin/env bash
# udp_relay.sh [SECONDS] — UDP through switchyard's tproxy inbound against no
# proxy at all (the router only forwards), on the same namespaces, one after
# the other: datagrams per second (iperf3 -u, 64-byte and 1400-byte
# payloads, as fast as the sender goes) and session set-up rate (new client
# sockets, one echoed datagram each; a session unanswered after a second
# counts as lost and frees its slot). On two cores or more each proxy runs
# pinned to one core, so a multi-threaded one gets no more than switchyard;
# the load is left free (pinned to the other core, iperf3's sender and
# receiver would be the bottleneck, not the proxy). Root; prints a Markdown
# table.
set -u
cd "$(dirname "$0")/.."
. tests/e2e/lib_udp.sh
trap udp_net_cleanup EXIT
secs=${1:-5}
py=tests/e2e/udp_quic_load.py
if [ "$(nproc)" -gt 1 ]; then PROXY_CPU=(taskset -c 1); else PROXY_CPU=(); fi

udp_net_setup || exit 1
udp_bg "$NS_O" "$U_TMP/iperf.log" iperf3 -s -B 198.51.100.53 -p 5201
udp_bg "$NS_O" "$U_TMP/echo.log" python3 $py echo 198.51.100.53 7001
sleep 1
cat >"$U_TMP/policy.yaml" <<YAML
log: {level: warn, flows: false}
inbounds:
  - {name: tp, type: tproxy, listen: "[::]:12346", network: [udp]}
default: direct
YAML

# pps LEN: datagrams/s received by the server (iperf3 -u -b 0, one stream)
pps() {
    ip netns exec "$NS_C" timeout $((secs + 20)) iperf3 -u -b 0 -l "$1" -t "$secs" -c 198.51.100.53 -p 5201 -J \
        | python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print(round(e["packets"]*(1-e["lost_percent"]/100)/e["seconds"]))'
}

# setups N: "RATE LOST": new UDP sessions per second (N sockets, one echoed
# datagram each, 64 in flight) and how many got no answer within a second
setups() {
    ip netns exec "$NS_C" timeout 120 python3 - "$1" <<'PY'
import socket, sys, time, select
n = int(sys.argv[1]); done = lost = i = 0; t0 = time.time(); live = {}
while done + lost < n and time.time() - t0 < 100:
    while len(live) < 64 and i < n:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x" * 32, ("198.51.100.53", 7001)); live[s] = time.time(); i += 1
    for s in select.select(list(live), [], [], 0.2)[0]:
        s.recv(64); s.close(); del live[s]; done += 1
    now = time.time()
    for s in [s for s, t in live.items() if now - t > 1]:
        s.close(); del live[s]; lost += 1
print(round(done / (time.time() - t0)), lost)
PY
}

declare -A r
measure() { # measure NAME: the three figures into r[NAME,*]
    local out
    r[$1,64]=$(pps 64); r[$1,1400]=$(pps 1400)
    out=$(setups 3000); r[$1,setup]=${out% *}; r[$1,lost]=${out#* }
}
measure none
udp_bg "$NS_R" "$U_TMP/switchyard.log" "${PROXY_CPU[@]}" ./switchyard run -c "$U_TMP/policy.yaml"
sleep 0.5
udp_tproxy_rules 12346
measure sy
kill "${U_PIDS[-1]}"

cat >"$U_TMP/v2ray.json" <<JSON
{"log": {"loglevel": "none"},
 "inbounds": [{"port": 12348, "listen": "0.0.0.0", "protocol": "dokodemo-door",
               "settings": {"network": "udp", "followRedirect": true},
               "streamSettings": {"sockopt": {"tproxy": "tproxy"}}}],
 "outbounds": [{"protocol": "freedom", "settings": {}}]}
JSON
udp_bg "$NS_R" "$U_TMP/v2ray.log" "${PROXY_CPU[@]}" v2ray -config "$U_TMP/v2ray.json"
sleep 1
udp_tproxy_rules 12348
measure v2

ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print(f'{float(a)/float(b):.2f}' if a and b and float(b) else '-')" "${1:-0}" "${2:-0}"; }
echo "| | no proxy | switchyard | v2ray | switchyard / no proxy | switchyard / v2ray |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| datagrams/s, 64-byte payload (iperf3 -u -b 0, ${secs} s) | ${r[none,64]} | ${r[sy,64]} | ${r[v2,64]} | $(ratio ${r[sy,64]} ${r[none,64]}) | $(ratio ${r[sy,64]} ${r[v2,64]}) |"
echo "| datagrams/s, 1400-byte payload | ${r[none,1400]} | ${r[sy,1400]} | ${r[v2,1400]} | $(ratio ${r[sy,1400]} ${r[none,1400]}) | $(ratio ${r[sy,1400]} ${r[v2,1400]}) |"
# A lost session holds its slot for the full second: with losses on one
# side the rates measure the timeout, not the proxy, so no ratio is given.
setup_ratio() { if [ "${r[$1,lost]}" = 0 ] && [ "${r[$2,lost]}" = 0 ]; then ratio "${r[$1,setup]}" "${r[$2,setup]}"; else echo -; fi; }
echo "| new sessions/s answered (one echoed datagram each) | ${r[none,setup]} | ${r[sy,setup]} | ${r[v2,setup]} | $(setup_ratio sy none) | $(setup_ratio sy v2) |"
echo "| sessions of 3,000 with no answer within 1 s | ${r[none,lost]} | ${r[sy,lost]} | ${r[v2,lost]} | | |"
