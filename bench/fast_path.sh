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
# the load to core 0. BASELINE=PATH adds another switchyard binary (an
# earlier build) as "base dynamic" and "base static", in the same rounds.
# Serialized with other benchmarks by /tmp/switchyard-bench.lock. Root
# needed; prints Markdown.
#
#   [ROUNDS=3] [BASELINE=old/switchyard] bench/fast_path.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
bench_settings "$@"

bench_origin
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1

big_rule="  - {any: ["
for i in $(seq 17); do big_rule+="{dst: 203.0.113.$i/32}, "; done
big_rule="${big_rule%, }], not: {dst: 203.0.113.100/32, src: 192.0.2.100/32, dst_port: 9, src_port: 9}, action: drop}"
policy() { # policy MODE FILE
    cat >"$2" <<YAML
log: {level: warn, flows: false}
workers: 1 # pinned to one core (PROXY_CPU): a second loop there would only contend
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
    # Each contender its own client ports: the steered one leaves its accepted
    # sockets in TIME_WAIT on the router, and a forwarded packet whose
    # addresses and ports match a local socket is dropped (early demux), so
    # the next contender's forwarded SYNs on those ports would go nowhere and
    # wrk would count nothing (bench/tun.sh does the same).
    # (The base contenders forward too: they leave no socket on the router.)
    local ports
    case ${1#base } in none) ports="10000 22999" ;; dynamic) ports="23000 35999" ;;
    static) ports="36000 48999" ;; *) ports="49000 61999" ;; esac
    ip netns exec "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="$ports"
    [ "$1" = none ] && return 0
    contender_bin "$1"
    bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$BIN" run -c "$E2E_TMP/${1#base }.yaml"
    CPID=$REPLY
    wait_tcp "$NS_R" 0.0.0.0 12345
    "$BIN" firewall -c "$E2E_TMP/${1#base }.yaml" --interface r0 >"$E2E_TMP/fw.sh"
    ip netns exec "$NS_R" sh "$E2E_TMP/fw.sh" >/dev/null 2>&1
}
contender_bin() { # contender_bin NAME: BIN, the build that contender runs
    BIN=$SWITCHYARD
    case $1 in base*) BIN=$BASELINE ;; esac
}
stop_contender() {
    if [ -n "$CPID" ]; then
        contender_bin "$1"
        "$BIN" firewall -c "$E2E_TMP/${1#base }.yaml" --undo >"$E2E_TMP/undo.sh"
        ip netns exec "$NS_R" sh "$E2E_TMP/undo.sh" >/dev/null 2>&1
        stop_pid "$CPID"
    fi
    ip netns exec "$NS_R" conntrack -F >/dev/null 2>&1
}

CONTENDERS=(none dynamic static steered)
HEADS=("no proxy" "dynamic (queue, direct)" "static (sets, direct)" "steered (fast_path: off)")
[ -n "$BASELINE" ] && CONTENDERS+=("base dynamic" "base static") && HEADS+=("base dynamic" "base static")
declare -A UP DOWN CPS
tcp_rounds

echo "$ROUNDS rounds, median (min–max); switchyard pinned: ${PROXY_CPU[*]:-no}"
echo
table_head "" "${HEADS[@]}"
row "upload, Gbit/s (1 stream, ${SECS} s)" UP
row "download, Gbit/s" DOWN
row "new connections/s (wrk, Connection: close)" CPS
echo
table_head "ratio to no proxy, median of the rounds (range)" upload download connections
for c in "${CONTENDERS[@]:1}"; do
    echo "| $c | $(ratio UP "$c" none) | $(ratio DOWN "$c" none) | $(ratio CPS "$c" none) |"
done
