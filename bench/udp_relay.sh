#!/usr/bin/env bash
# udp_relay.sh [SECONDS] — UDP through switchyard's tproxy inbound against no
# proxy at all (the router only forwards), on the same namespaces, one after
# the other: datagrams per second (iperf3 -u, 64-byte and 1400-byte
# payloads, as fast as the sender goes) and session set-up rate (new client
# sockets, one echoed datagram each). Root; prints a Markdown table.
set -u
cd "$(dirname "$0")/.."
. tests/e2e/lib_udp.sh
trap udp_net_cleanup EXIT
secs=${1:-5}
py=tests/e2e/udp_quic_load.py

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

# setups N: new UDP sessions per second (N sockets, one echoed datagram each, 64 in flight)
setups() {
    ip netns exec "$NS_C" timeout 120 python3 - "$1" <<'PY'
import socket, sys, time, select
n = int(sys.argv[1]); done = 0; t0 = time.time(); i = 0; live = []
while done < n:
    while len(live) < 64 and i < n:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"x" * 32, ("198.51.100.53", 7001)); live.append(s); i += 1
    for s in select.select(live, [], [], 2)[0]:
        s.recv(64); s.close(); live.remove(s); done += 1
    if time.time() - t0 > 100: break
print(round(done / (time.time() - t0)))
PY
}

declare -A r
r[none,64]=$(pps 64); r[none,1400]=$(pps 1400); r[none,setup]=$(setups 3000)
udp_bg "$NS_R" "$U_TMP/switchyard.log" ./switchyard run -c "$U_TMP/policy.yaml"
sleep 0.5
udp_tproxy_rules 12346
r[sy,64]=$(pps 64); r[sy,1400]=$(pps 1400); r[sy,setup]=$(setups 3000)
kill "${U_PIDS[-1]}"

cat >"$U_TMP/v2ray.json" <<JSON
{"log": {"loglevel": "none"},
 "inbounds": [{"port": 12348, "listen": "0.0.0.0", "protocol": "dokodemo-door",
               "settings": {"network": "udp", "followRedirect": true},
               "streamSettings": {"sockopt": {"tproxy": "tproxy"}}}],
 "outbounds": [{"protocol": "freedom", "settings": {}}]}
JSON
udp_bg "$NS_R" "$U_TMP/v2ray.log" v2ray -config "$U_TMP/v2ray.json"
sleep 1
udp_tproxy_rules 12348
r[v2,64]=$(pps 64); r[v2,1400]=$(pps 1400); r[v2,setup]=$(setups 3000)

ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print(f'{float(a)/float(b):.2f}' if a and b and float(b) else '-')" "${1:-0}" "${2:-0}"; }
echo "| | no proxy | switchyard | v2ray | switchyard / no proxy | switchyard / v2ray |"
echo "|---|---:|---:|---:|---:|---:|"
echo "| datagrams/s, 64-byte payload (iperf3 -u -b 0, ${secs} s) | ${r[none,64]} | ${r[sy,64]} | ${r[v2,64]} | $(ratio ${r[sy,64]} ${r[none,64]}) | $(ratio ${r[sy,64]} ${r[v2,64]}) |"
echo "| datagrams/s, 1400-byte payload | ${r[none,1400]} | ${r[sy,1400]} | ${r[v2,1400]} | $(ratio ${r[sy,1400]} ${r[none,1400]}) | $(ratio ${r[sy,1400]} ${r[v2,1400]}) |"
echo "| new sessions/s (one echoed datagram each) | ${r[none,setup]} | ${r[sy,setup]} | ${r[v2,setup]} | $(ratio ${r[sy,setup]} ${r[none,setup]}) | $(ratio ${r[sy,setup]} ${r[v2,setup]}) |"
