#!/usr/bin/env bash
# workers.sh — one event loop against two (`workers: 1`, `workers: 2`), side
# by side in the same rounds, on the same namespaces (client -> router ->
# origin, veth, documentation addresses):
#   none        the router only forwards (no proxy at all), for scale
#   1 worker    switchyard, redirect (TCP) and udp-redirect (UDP) inbounds
#   2 workers   the same policy with workers: 2 (SO_REUSEPORT listeners)
# Measures: TCP throughput with STREAMS iperf3 streams at once (upload and
# download, SECONDS), new connections/s with wrk (keep-alive off), DNS-like
# queries/s (QUERIES new client sockets, one echoed datagram each, 64 in
# flight: a new session per query), and how much CPU the proxy used during
# the wrk run (100 = one core busy the whole time).
#
# The load (iperf3 client and server, wrk, nginx, the UDP echo) is pinned to
# core 0; switchyard is not pinned, so a second worker can only gain what the
# other core has to give while the load holds core 0. On a two-core machine
# that is the whole of what can be shown: whether a second loop takes work
# off a saturated first one, not how workers scale beyond two cores.
# Serialized with other benchmarks by /tmp/switchyard-bench.lock.
# Root needed. Prints Markdown; bench/RESULTS.md keeps one run.
#
#   [ROUNDS=3] [STREAMS=4] [QUERIES=3000] bench/workers.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
SECS=${1:-5}
ROUNDS=${ROUNDS:-3}
STREAMS=${STREAMS:-4}
QUERIES=${QUERIES:-3000}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
bench_origin
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1 # "none": the origin answers the client itself
bg "$NS_O" "$E2E_TMP/echo.log" "${LOAD_CPU[@]}" python3 tests/e2e/udp_quic_load.py echo $O4 53
wait_udp "$NS_O" $O4 53

for n in 1 2; do
    cat >"$E2E_TMP/sy$n.yaml" <<YAML
log: {level: warn, flows: false}
timeouts: {udp_dns_idle_s: 2}
workers: $n
inbounds:
  - {name: gw, type: redirect, listen: "[::]:12345"}
  - {name: nat, type: udp-redirect, listen: "[::]:12347"}
default: direct
fast_path: off
YAML
done

steer_on() {
    nft_table "$NS_R" sy_bench <<NFT
    chain nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "r0" meta l4proto tcp ip daddr $O4 redirect to :12345
        iifname "r0" udp dport 53 ip daddr $O4 redirect to :12347
    }
NFT
}
steer_off() { ip netns exec "$NS_R" nft delete table inet sy_bench 2>/dev/null; }
start_contender() { # start_contender NAME: CPID = its pid (none: empty)
    CPID=
    case $1 in
    none) steer_off ;;
    *)
        bg "$NS_R" "$E2E_TMP/sy.log" "$SWITCHYARD" run -c "$E2E_TMP/sy${1%% *}.yaml"
        CPID=$REPLY
        wait_tcp "$NS_R" 0.0.0.0 12345
        steer_on ;;
    esac
}
stop_contender() { stop_steered_contender; }

# gbps_streams [-R]: STREAMS iperf3 streams at once for SECS, Gbit/s received in all.
gbps_streams() {
    in_client "${LOAD_CPU[@]}" iperf3 -c $O4 -p 5201 -P "$STREAMS" -t "$SECS" -J "$@" 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo "-"
}
# queries: the rate of QUERIES DNS-like queries, a new socket each ("-" when it failed)
queries() {
    local out
    out=$(in_client "${LOAD_CPU[@]}" python3 tests/e2e/udp_quic_load.py queries "$QUERIES" $O4)
    echo "${out% *}"
}
# cpu_ns PID: nanoseconds its threads have run so far ("-" without a pid)
cpu_ns() {
    [ -n "$1" ] || { echo -; return; }
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{n += $1} END {printf "%.0f\n", n}'
}
# busy NS0 NS1: percent of one core over SECS
busy() {
    python3 -c "import sys; a,b,s=sys.argv[1:]; print('%.0f' % ((int(b)-int(a))/1e7/float(s)) if '-' not in (a,b) else '-')" "$@" "$SECS"
}

CONTENDERS=(none "1 worker" "2 workers")
declare -A UP DOWN CPS QPS CPU # keyed "contender round"
for r in $(seq "$ROUNDS"); do
    for i in "${!CONTENDERS[@]}"; do
        c=${CONTENDERS[$(((i + r - 1) % ${#CONTENDERS[@]}))]}
        start_contender "$c"
        # Queries first: after wrk's tens of thousands of connections the router's conntrack
        # table is full of TIME_WAIT entries, and new UDP flows would find no room.
        QPS[$c $r]=$(queries)
        UP[$c $r]=$(gbps_streams)
        DOWN[$c $r]=$(gbps_streams -R)
        c0=$(cpu_ns "$CPID")
        CPS[$c $r]=$(rate)
        CPU[$c $r]=$(busy "$c0" "$(cpu_ns "$CPID")")
        stop_contender
        echo "# round $r $c: up ${UP[$c $r]} down ${DOWN[$c $r]} Gbit/s, conn/s ${CPS[$c $r]} (proxy ${CPU[$c $r]}% of a core), queries/s ${QPS[$c $r]}" >&2
    done
done

echo "$ROUNDS rounds, median (min–max); load pinned: ${LOAD_CPU[*]:-no}, switchyard not pinned; load average $LOAD0 before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
head="| |" rule="|---|"
for c in "${CONTENDERS[@]}"; do head="$head $c |" rule="$rule---:|"; done
echo "$head"
echo "$rule"
row "upload, Gbit/s ($STREAMS iperf3 streams, ${SECS} s)" UP
row "download, Gbit/s ($STREAMS streams)" DOWN
row "new connections/s (wrk, keep-alive off)" CPS
row "proxy CPU during the wrk run, % of one core" CPU
row "DNS-like queries/s, a new session each (64 in flight)" QPS
echo
echo "| ratio, median of the rounds (range) | upload | download | connections/s | queries/s |"
echo "|---|---:|---:|---:|---:|"
for c in "1 worker" "2 workers"; do
    echo "| $c / none | $(ratio UP "$c" none) | $(ratio DOWN "$c" none) | $(ratio CPS "$c" none) | $(ratio QPS "$c" none) |"
done
echo "| 2 workers / 1 worker | $(ratio UP "2 workers" "1 worker") | $(ratio DOWN "2 workers" "1 worker") | $(ratio CPS "2 workers" "1 worker") | $(ratio QPS "2 workers" "1 worker") |"
