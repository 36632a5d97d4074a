#!/usr/bin/env bash
# tcp_relay.sh — the TCP relay side by side, on the same namespaces
# (client -> router -> origin, veth, documentation addresses):
#   none        the router only forwards (no proxy at all)
#   switchyard  redirect inbound, direct outbound (splice relay)
#   redsocks    redirect to redsocks, which needs a proxy: dante (SOCKS5) on
#               the router, so two user-space hops instead of one
#   v2ray       dokodemo-door with followRedirect (REDIRECT), freedom outbound
# Measures: iperf3 throughput (upload and download, one stream, 5 s),
# connection rate with wrk (keep-alive off: one connection per request) to an
# nginx origin, and switchyard's memory with IDLE idle flows (default
# 10,000; each needs two descriptors in switchyard, so the hard
# RLIMIT_NOFILE must allow it).
# Root needed. Prints a Markdown table; bench/RESULTS.md keeps one run.
#
#   bench/tcp_relay.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
. tests/e2e/lib.sh
trap e2e_cleanup EXIT
SECS=${1:-5}
IDLE=${IDLE:-10000}

gateway_net || { echo "network set-up failed" >&2; exit 1; }
O4=198.51.100.10
# Unlike the tests, the origin may answer the client directly: "no proxy" needs it.
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1
# One connection per request: wide port ranges so TIME_WAIT does not run out.
for ns in "$NS_C" "$NS_R"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
done
start_nginx "$NS_O" $O4 >/dev/null || { echo "nginx failed" >&2; exit 1; }
bg "$NS_O" "$E2E_TMP/iperf3.log" iperf3 -s -B $O4 -p 5201
wait_tcp "$NS_O" $O4 5201

# --- the contenders ------------------------------------------------------------------
cat >"$E2E_TMP/sy.yaml" <<YAML
log: {level: warn, flows: false}
routing_mark: 0xff
inbounds:
  - {name: gw, type: redirect, listen: "0.0.0.0:12345"}
default: direct
YAML
cat >"$E2E_TMP/redsocks.conf" <<CONF
base { log_debug = off; log_info = off; log = stderr; daemon = off; redirector = iptables; }
redsocks { local_ip = 0.0.0.0; local_port = 12346; ip = 127.0.0.1; port = 1080; type = socks5; }
CONF
cat >"$E2E_TMP/danted.conf" <<CONF
logoutput: $E2E_TMP/danted.log
internal: 127.0.0.1 port = 1080
external: 198.51.100.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect }
CONF

cat >"$E2E_TMP/v2ray.json" <<JSON
{"log": {"loglevel": "none"},
 "inbounds": [{"port": 12347, "listen": "0.0.0.0", "protocol": "dokodemo-door",
               "settings": {"network": "tcp", "followRedirect": true}}],
 "outbounds": [{"protocol": "freedom", "settings": {}}]}
JSON

steer() { # steer PORT: REDIRECT TCP from the client to PORT; steer off: none
    ip netns exec "$NS_R" nft delete table inet bench 2>/dev/null
    [ "$1" = off ] && return 0
    ip netns exec "$NS_R" nft -f - <<NFT
table inet bench {
    chain pre { type nat hook prerouting priority dstnat; policy accept;
        iifname "r0" meta l4proto tcp ip daddr != 192.0.2.1 redirect to :$1
    }
}
NFT
}

start_contender() {
    case $1 in
    none) steer off; CPID= ;;
    switchyard)
        bg "$NS_R" "$E2E_TMP/sy.log" "$SWITCHYARD" run -c "$E2E_TMP/sy.yaml"; CPID=$REPLY
        wait_tcp "$NS_R" 0.0.0.0 12345; steer 12345 ;;
    redsocks)
        bg "$NS_R" "$E2E_TMP/danted.out" danted -f "$E2E_TMP/danted.conf"; DPID=$REPLY
        bg "$NS_R" "$E2E_TMP/redsocks.log" redsocks -c "$E2E_TMP/redsocks.conf"; CPID=$REPLY
        wait_tcp "$NS_R" 127.0.0.1 1080; wait_tcp "$NS_R" 0.0.0.0 12346; steer 12346 ;;
    v2ray)
        bg "$NS_R" "$E2E_TMP/v2ray.log" v2ray -config "$E2E_TMP/v2ray.json"; CPID=$REPLY
        wait_tcp "$NS_R" 0.0.0.0 12347; steer 12347 ;;
    esac
}
stop_contender() {
    steer off
    [ -n "${CPID:-}" ] && stop_pid "$CPID"
    [ -n "${DPID:-}" ] && stop_pid "$DPID"
    CPID= DPID=
}

gbps() { # gbps [-R]: one iperf3 stream, Gbit/s received
    in_client iperf3 -c $O4 -p 5201 -t "$SECS" -J "$@" 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo "-"
}
rate() { # connections per second with wrk, a new connection per request
    in_client wrk -t 2 -c 32 -d "${SECS}s" -H "Connection: close" "http://$O4/index.html" 2>/dev/null |
        awk '/Requests\/sec/ {printf "%.0f", $2}'
}

declare -A UP DOWN CPS
for c in none switchyard redsocks v2ray; do
    start_contender $c
    UP[$c]=$(gbps); DOWN[$c]=$(gbps -R); CPS[$c]=$(rate)
    stop_contender
done

# --- memory with IDLE idle flows ----------------------------------------------------
HOLD='
import socket, sys, time, selectors
n = int(sys.argv[2]); socks = []
if sys.argv[1] == "serve":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((sys.argv[3], 7001)); l.listen(4096)
    while len(socks) < n:
        c, _ = l.accept(); socks.append(c)
    time.sleep(120)
else:
    for i in range(n):
        s = socket.socket(); s.connect((sys.argv[3], 7001)); socks.append(s)
    print("open", flush=True); time.sleep(120)
'
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start_contender switchyard
sleep 0.5
base=$(rss_kb "$CPID")
bg "$NS_O" "$E2E_TMP/hold-o.log" python3 -c "$HOLD" serve "$IDLE" $O4
wait_tcp "$NS_O" $O4 7001
bg "$NS_C" "$E2E_TMP/hold-c.log" python3 -c "$HOLD" client "$IDLE" $O4
hold=$REPLY
wait_file_grep "$E2E_TMP/hold-c.log" "^open" 120
sleep 1
flows=$(ip netns exec "$NS_R" ss -Htn state established "sport = :12345" | wc -l)
with=$(rss_kb "$CPID")
stop_pid "$hold"
stop_contender

ratio() { python3 -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)) if a not in ('-','') and b not in ('-','','0','0.00') else '-')" "$1" "$2"; }
echo "| | no proxy | switchyard | redsocks + dante | v2ray |"
echo "|---|---:|---:|---:|---:|"
echo "| upload, Gbit/s (1 stream, ${SECS} s) | ${UP[none]} | ${UP[switchyard]} | ${UP[redsocks]} | ${UP[v2ray]} |"
echo "| download, Gbit/s | ${DOWN[none]} | ${DOWN[switchyard]} | ${DOWN[redsocks]} | ${DOWN[v2ray]} |"
echo "| new connections/s (wrk, Connection: close) | ${CPS[none]} | ${CPS[switchyard]} | ${CPS[redsocks]} | ${CPS[v2ray]} |"
echo
echo "switchyard / no proxy: upload $(ratio "${UP[switchyard]}" "${UP[none]}"), download $(ratio "${DOWN[switchyard]}" "${DOWN[none]}"), connections $(ratio "${CPS[switchyard]}" "${CPS[none]}")"
echo "switchyard / v2ray: upload $(ratio "${UP[switchyard]}" "${UP[v2ray]}"), download $(ratio "${DOWN[switchyard]}" "${DOWN[v2ray]}"), connections $(ratio "${CPS[switchyard]}" "${CPS[v2ray]}")"
echo "switchyard / redsocks: upload $(ratio "${UP[switchyard]}" "${UP[redsocks]}"), download $(ratio "${DOWN[switchyard]}" "${DOWN[redsocks]}"), connections $(ratio "${CPS[switchyard]}" "${CPS[redsocks]}")"
echo
echo "$IDLE idle flows ($flows established at the listener): switchyard RSS ${base} KiB before, ${with} KiB with them: $(( (with - base) * 1024 / IDLE )) bytes a flow"
