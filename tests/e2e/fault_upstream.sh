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
. tests/e2e/lib_reliability.sh
rel_gateway_up 9000 9001 9002
for a in 2 3; do ip -n "$NS_R" addr add 198.51.100.$a/24 dev r1; done

# start_dante, start_tiny: the two upstreams on the router; REPLY = the pid.
start_dante() {
    start_danted "$NS_R" danted 198.51.100.2 1080 none 198.51.100.2 \
        "socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 log: error }"
}
start_tiny() { start_tinyproxy "$NS_R" 198.51.100.3 9002 198.51.100.0/24; }

write_gateway_policy <<YAML
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
DANTE_PID=$REPLY
start_tiny || not_ok "tinyproxy listening"
TINY_PID=$REPLY
rel_start_gateway
idle_fd=$(fd_count $pid)

one_flow() { rel_client stream $O4 "$1" 1 1; }

# killed NAME PORT OTHERPORT START_FN: the fault for one upstream.
killed() {
    local name=$1 port=$2 other=$3 start=$4 direct victims bystanders t0 out ms
    rel_streams direct 9000 10 100
    direct=$REPLY
    rel_streams other 9"$other" 10 100
    bystanders=$REPLY
    rel_streams victims "$port" 10 100
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
    [ "$name" = dante ] && DANTE_PID=$REPLY || TINY_PID=$REPLY
    out=$(one_flow "$port")
    check "$name restarted: a new flow through it works ($out)" grep -q "ok=1 " <<<"$out"
    rel_streams_end direct $direct
    check "$name killed: 10 direct flows ran on intact ($OUT)" grep -q "ok=10 " <<<"$OUT"
    rel_streams_end other $bystanders
    check "$name killed: 10 flows through the other upstream ran on intact ($OUT)" grep -q "ok=10 " <<<"$OUT"
}

killed dante 9001 002 start_dante
killed tinyproxy 9002 001 start_tiny
check "switchyard is still running" kill -0 $pid
check "descriptors back to idle (pooled pipes aside)" wait_fds $pid $((idle_fd + 8)) 10
stop_pid $pid
e2e_finish
