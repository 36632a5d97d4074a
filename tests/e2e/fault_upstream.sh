#!/usr/bin/env bash
# fault_upstream.sh — an upstream proxy killed and restarted mid-test: for
# dante (SOCKS5) and then tinyproxy (HTTP CONNECT), 10 echo flows through it
# are running when it is killed; they must end (a reset or an end, never
# hanging and never a corrupt byte), a flow opened while it is down must
# fail at once, and once it is back new flows through it work. Meanwhile 10
# direct flows and 10 through the other proxy run on and end intact, and
# the daemon stays up with its descriptors back to idle.
#
#   tests/run --e2e fault_upstream
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
. tests/e2e/lib_reliability.sh
trap e2e_cleanup EXIT
e2e_need_switchyard

gateway_net || { not_ok "network set-up"; e2e_finish; exit 1; }
O4=198.51.100.10
for a in 2 3; do ip -n "$NS_R" addr add 198.51.100.$a/24 dev r1; done
bg "$NS_O" "$E2E_TMP/origin.log" python3 "$REL_PY" origin $O4 "$E2E_TMP/sink.log" 9000 9001 9002
wait_tcp "$NS_O" $O4 9002 || not_ok "origin listening"

cat >"$E2E_TMP/danted.conf" <<CONF
logoutput: $E2E_TMP/danted.log
internal: 198.51.100.2 port = 1080
external: 198.51.100.2
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 log: error }
CONF
cat >"$E2E_TMP/tinyproxy.conf" <<CONF
User nobody
Group nogroup
Port 3128
Listen 198.51.100.3
Bind 198.51.100.3
Timeout 60
MaxClients 100
Allow 198.51.100.0/24
ConnectPort 9002
CONF
start_dante() {
    rm -f "$E2E_TMP/danted.pid"
    bg "$NS_R" "$E2E_TMP/danted.out" danted -f "$E2E_TMP/danted.conf" -p "$E2E_TMP/danted.pid" -N 1
    PROXY_PID=$REPLY
    wait_tcp "$NS_R" 198.51.100.2 1080
}
start_tiny() {
    bg "$NS_R" "$E2E_TMP/tinyproxy.out" tinyproxy -d -c "$E2E_TMP/tinyproxy.conf"
    PROXY_PID=$REPLY
    wait_tcp "$NS_R" 198.51.100.3 3128
}

cat >"$E2E_TMP/policy.yaml" <<YAML
log: {level: info, flows: true}
routing_mark: 0xff
timeouts: {connect_ms: 2000}
inbounds:
  - {name: gw, type: redirect, listen: "0.0.0.0:12345"}
outbounds:
  - {name: dante, type: socks5, server: "198.51.100.2:1080"}
  - {name: tiny, type: http, server: "198.51.100.3:3128"}
rules:
  - {dst_port: 9001, action: dante}
  - {dst_port: 9002, action: tiny}
default: direct
YAML
start_dante || not_ok "dante listening"
DANTE_PID=$PROXY_PID
start_tiny || not_ok "tinyproxy listening"
TINY_PID=$PROXY_PID
start_switchyard "$NS_R" "$E2E_TMP/policy.yaml" || not_ok "switchyard starts"
apply_firewall "$NS_R" "$E2E_TMP/policy.yaml" gateway || not_ok "firewall rules load"
pid=$SWITCHYARD_PID
sleep 0.3
idle_fd=$(fd_count $pid)

# streams NAME PORT N: N echo flows in the background until $E2E_TMP/stop-NAME appears.
streams() {
    rm -f "$E2E_TMP/stop-$1"
    ip netns exec "$NS_C" timeout 120 python3 "$REL_PY" stream $O4 "$2" "$3" 100 "$E2E_TMP/stop-$1" \
        >"$E2E_TMP/$1.out" 2>&1 &
    REPLY=$!
    E2E_PIDS+=($REPLY)
}
one_flow() { timeout 30 ip netns exec "$NS_C" python3 "$REL_PY" stream $O4 "$1" 1 1 2>&1; }

# killed NAME PORT OTHERPORT START_FN: the fault for one upstream.
killed() {
    local name=$1 port=$2 other=$3 start=$4 direct victims bystanders t0 out ms
    streams direct 9000 10
    direct=$REPLY
    streams other 9"$other" 10
    bystanders=$REPLY
    streams victims "$port" 10
    victims=$REPLY
    sleep 2
    local proxy=$DANTE_PID
    [ "$name" = tinyproxy ] && proxy=$TINY_PID
    # Killed outright, with the processes it forked for its clients (dante's).
    kill -9 "$proxy" $(ps -o pid= --ppid "$proxy") 2>/dev/null
    wait "$proxy" 2>/dev/null
    t0=$(date +%s)
    wait $victims
    out=$(cat "$E2E_TMP/victims.out")
    diag "$name killed: its flows ended after $(($(date +%s) - t0)) s: $out"
    check "$name killed: its 10 flows end (reset or end, none hangs, no corrupt byte: $out)" \
        grep -qE "ok=0 .*timeout=0 error=[0-9]+ corrupt=0" <<<"$out"
    t0=$(date +%s%N)
    out=$(one_flow "$port")
    ms=$((($(date +%s%N) - t0) / 1000000))
    check "$name down: a new flow through it fails ($out)" grep -q "ok=0" <<<"$out"
    check "$name down: ... at once ($ms ms with the client's start-up)" test $ms -lt 3000
    $start || not_ok "$name restarted"
    [ "$name" = dante ] && DANTE_PID=$PROXY_PID || TINY_PID=$PROXY_PID
    out=$(one_flow "$port")
    check "$name restarted: a new flow through it works ($out)" grep -q "ok=1 " <<<"$out"
    touch "$E2E_TMP/stop-direct" "$E2E_TMP/stop-other"
    wait $direct $bystanders
    check "$name killed: 10 direct flows ran on intact ($(cat "$E2E_TMP/direct.out"))" \
        grep -q "ok=10 " "$E2E_TMP/direct.out"
    check "$name killed: 10 flows through the other upstream ran on intact ($(cat "$E2E_TMP/other.out"))" \
        grep -q "ok=10 " "$E2E_TMP/other.out"
}

killed dante 9001 002 start_dante
killed tinyproxy 9002 001 start_tiny
check "switchyard is still running" kill -0 $pid
check "descriptors back to idle (pooled pipes aside)" wait_fds $pid $((idle_fd + 8)) 10
stop_pid $pid
e2e_finish
