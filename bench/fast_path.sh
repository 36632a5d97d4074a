#!/usr/bin/env bash
# fast_path.sh — flows decided by address alone, direct, against no proxy at
# all, on the same namespaces (client -> router -> origin, veth):
#   none     the router only forwards
#   dynamic  fast_path: dynamic: each new flow's SYN is offered to switchyard
#            through NFQUEUE, which answers direct; the rest of the flow stays
#            in the kernel (conntrack mark). The policy's first rule is too
#            large for the kernel's static rules, so the queue decides.
#   static   fast_path: static: the kernel's sets decide (no queue)
#   steered  fast_path: off: every flow through switchyard's splice relay
# Measures iperf3 throughput (one stream, SECONDS, upload and download) and
# the new connection rate with wrk (Connection: close) to an nginx origin.
# Rounds interleaved (ROUNDS, default 3, each in a rotated order); ratios are
# medians of the ratios within each round. switchyard is pinned to core 1,
# the load to core 0. Serialized with other benchmarks by
# /tmp/switchyard-bench.lock. Root needed; prints Markdown.
#
#   [ROUNDS=3] bench/fast_path.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
exec 9>/tmp/switchyard-bench.lock
flock 9
E2E_BENCH=1 # clean-up from lib.sh, no TAP plan line
. tests/e2e/lib.sh
trap e2e_cleanup EXIT
SECS=${1:-5}
ROUNDS=${ROUNDS:-3}
if [ "$(nproc)" -gt 1 ]; then PROXY_CPU=(taskset -c 1) LOAD_CPU=(taskset -c 0); else PROXY_CPU=() LOAD_CPU=(); fi

gateway_net || { echo "network set-up failed" >&2; exit 1; }
O4=198.51.100.10
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1
for ns in "$NS_C" "$NS_R"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
done
start_nginx "$NS_O" $O4 >/dev/null || { echo "nginx failed" >&2; exit 1; }
[ "${#LOAD_CPU[@]}" -gt 0 ] && taskset -a -pc 0 "$REPLY" >/dev/null
bg "$NS_O" "$E2E_TMP/iperf3.log" "${LOAD_CPU[@]}" iperf3 -s -B $O4 -p 5201
wait_tcp "$NS_O" $O4 5201

big_rule="  - {any: ["
for i in $(seq 17); do big_rule+="{dst: 203.0.113.$i/32}, "; done
big_rule="${big_rule%, }], not: {dst: 203.0.113.100/32, src: 192.0.2.100/32, dst_port: 9, src_port: 9}, action: drop}"
policy() { # policy MODE FILE
    cat >"$2" <<YAML
log: {level: warn, flows: false}
routing_mark: 0xff
fast_path: $1
inbounds:
  - {name: tp, type: tproxy, listen: "0.0.0.0:12345"}
rules:
$( [ "$1" = dynamic ] && echo "$big_rule")
  - {domain_suffix: blocked.example, dst_port: 443, action: drop}
default: direct
YAML
}
policy dynamic "$E2E_TMP/dynamic.yaml"
policy static "$E2E_TMP/static.yaml"
policy off "$E2E_TMP/steered.yaml"

start_contender() {
    CPID=
    [ "$1" = none ] && return 0
    bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$SWITCHYARD" run -c "$E2E_TMP/$1.yaml"
    CPID=$REPLY
    wait_tcp "$NS_R" 0.0.0.0 12345
    "$SWITCHYARD" firewall -c "$E2E_TMP/$1.yaml" --interface r0 >"$E2E_TMP/fw.sh"
    ip netns exec "$NS_R" sh "$E2E_TMP/fw.sh" >/dev/null 2>&1
}
stop_contender() {
    if [ -n "$CPID" ]; then
        "$SWITCHYARD" firewall -c "$E2E_TMP/$1.yaml" --undo >"$E2E_TMP/undo.sh"
        ip netns exec "$NS_R" sh "$E2E_TMP/undo.sh" >/dev/null 2>&1
        stop_pid "$CPID"
    fi
    ip netns exec "$NS_R" conntrack -F >/dev/null 2>&1
}
gbps() {
    in_client "${LOAD_CPU[@]}" iperf3 -c $O4 -p 5201 -t "$SECS" -J "$@" 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo "-"
}
rate() {
    in_client "${LOAD_CPU[@]}" wrk -t 2 -c 32 -d "${SECS}s" -H "Connection: close" "http://$O4/index.html" 2>/dev/null |
        awk '/Requests\/sec/ {printf "%.0f", $2}'
}

CONTENDERS=(none dynamic static steered)
declare -A UP DOWN CPS
for r in $(seq "$ROUNDS"); do
    for i in "${!CONTENDERS[@]}"; do
        c=${CONTENDERS[$(((i + r - 1) % ${#CONTENDERS[@]}))]}
        start_contender "$c"
        UP[$c $r]=$(gbps); DOWN[$c $r]=$(gbps -R); CPS[$c $r]=$(rate)
        stop_contender "$c"
        echo "# round $r $c: up ${UP[$c $r]} down ${DOWN[$c $r]} conn/s ${CPS[$c $r]}" >&2
    done
done

stats() {
    python3 - "$@" <<'PY'
import statistics, sys
v = [float(x) for x in sys.argv[1:] if x not in ("-", "")]
if not v:
    print("-")
else:
    fmt = "%.2f" if max(v) < 1000 else "{:,.0f}"
    f = (lambda x: fmt % x) if "%" in fmt else (lambda x: fmt.format(x))
    print(f(statistics.median(v)) + ("" if len(v) == 1 else " (%s–%s)" % (f(min(v)), f(max(v)))))
PY
}
ratio() {
    local -n m=$1
    local r out=()
    for r in $(seq "$ROUNDS"); do
        out+=("$(python3 -c "import sys; a,b=sys.argv[1:]; print('%.2f' % (float(a)/float(b)) if a not in ('-','') and b not in ('-','','0','0.00') else '-')" "${m[$2 $r]}" "${m[$3 $r]}")")
    done
    stats "${out[@]}"
}
row() {
    local -n m=$2
    local line="| $1 |" c r vals
    for c in "${CONTENDERS[@]}"; do
        vals=()
        for r in $(seq "$ROUNDS"); do vals+=("${m[$c $r]}"); done
        line="$line $(stats "${vals[@]}") |"
    done
    echo "$line"
}
echo "$ROUNDS rounds, median (min–max); switchyard pinned: ${PROXY_CPU[*]:-no}"
echo
echo "| | no proxy | dynamic (queue, direct) | static (sets, direct) | steered (fast_path: off) |"
echo "|---|---:|---:|---:|---:|"
row "upload, Gbit/s (1 stream, ${SECS} s)" UP
row "download, Gbit/s" DOWN
row "new connections/s (wrk, Connection: close)" CPS
echo
echo "| ratio to no proxy, median of the rounds (range) | upload | download | connections |"
echo "|---|---:|---:|---:|"
for c in dynamic static steered; do
    echo "| $c | $(ratio UP "$c" none) | $(ratio DOWN "$c" none) | $(ratio CPS "$c" none) |"
done
