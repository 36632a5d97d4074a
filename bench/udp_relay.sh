#!/usr/bin/env bash
# udp_relay.sh — UDP through switchyard side by side, on the same namespaces
# (client -> router -> origin, veth, documentation addresses):
#   none        the router only forwards (no proxy at all)
#   tproxy      switchyard's tproxy inbound (UDP), direct outbound
#   redirect    switchyard's udp-redirect inbound (REDIRECT + conntrack)
#   v2ray       dokodemo-door with TPROXY, freedom outbound
# Measures: datagrams/s (iperf3 -u -b 0, 64-byte and 1400-byte payloads,
# one stream, SECONDS), the proxy's CPU time per 64-byte datagram and per
# query (every thread's run time from /proc/PID/task/*/schedstat: less moved
# by other load on the machine than the rates), DNS-like queries/s (QUERIES new client sockets, one
# echoed 32-byte datagram each, 64 in flight: a new session per query; one
# unanswered after a second counts as lost and frees its slot; to port 53,
# so switchyard's sessions are DNS ones) and the proxy's resident memory
# (VmRSS) right after its round's load and once its sessions have expired
# (timeouts.udp_dns_idle_s 2 here; EXPIRE seconds, default 8, later).
# Also the whole machine's busy CPU time per query (every core, /proc/stat:
# all but idle and iowait; no proxy included), which says what a query costs
# where the load, the proxy and the origin share the machine, as here: with
# every core busy, the query rate is the cores' time over that cost. Its
# unit is the clock tick (10 ms): use QUERIES=20000 or more for it.
#
# One run on a shared machine moves a lot, so the contenders run ROUNDS
# times (default 3), interleaved, each round in a rotated order; the table
# gives the median and the range, and ratios are medians of the ratios within
# each round. On two cores or more each proxy runs pinned to core 1, so a
# multi-threaded one gets no more than switchyard; the load is left free
# (pinned, iperf3's sender and receiver become the bottleneck).
# BASELINE=PATH adds another switchyard binary (an earlier build) as the
# contenders "base tproxy" and "base redirect", in the same rounds.
# Root needed. Prints Markdown; bench/RESULTS.md keeps one run.
#
#   [ROUNDS=3] [QUERIES=3000] [EXPIRE=8] [BASELINE=old/switchyard] bench/udp_relay.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
bench_settings "$@"
QUERIES=${QUERIES:-3000}
EXPIRE=${EXPIRE:-8}

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
udp_net || { echo "network set-up failed" >&2; exit 1; }
O4=198.51.100.53
bg "$NS_O" "$E2E_TMP/iperf.log" iperf3 -s -B $O4 -p 5201
bg "$NS_O" "$E2E_TMP/echo.log" python3 tests/e2e/udp_quic_load.py echo $O4 53
wait_tcp "$NS_O" $O4 5201
wait_udp "$NS_O" $O4 53

cat >"$E2E_TMP/sy.yaml" <<YAML
log: {level: warn, flows: false}
workers: 1 # pinned to one core (PROXY_CPU): a second loop there would only contend
timeouts: {udp_dns_idle_s: 2}
inbounds:
  - {name: tp, type: tproxy, listen: "[::]:12346", network: [udp]}
  - {name: rd, type: udp-redirect, listen: "[::]:12347"}
default: direct
YAML
cat >"$E2E_TMP/v2ray.json" <<JSON
{"log": {"loglevel": "none"},
 "inbounds": [{"port": 12348, "listen": "0.0.0.0", "protocol": "dokodemo-door",
               "settings": {"network": "udp", "followRedirect": true},
               "streamSettings": {"sockopt": {"tproxy": "tproxy"}}}],
 "outbounds": [{"protocol": "freedom", "settings": {}}]}
JSON

steer_off() { ip netns exec "$NS_R" nft delete table inet sy_udp 2>/dev/null; }
start_contender() { # start_contender NAME: CPID = its pid (none: empty)
    local bin=$SWITCHYARD
    case $1 in base*) bin=$BASELINE ;; esac
    CPID=
    case $1 in
    none) steer_off ;;
    tproxy | "base tproxy" | redirect | "base redirect")
        bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$bin" run -c "$E2E_TMP/sy.yaml"; CPID=$REPLY
        wait_udp "$NS_R" "[::]" 12347
        case $1 in *tproxy) udp_tproxy_rules 12346 ;; *) udp_redirect_rules 12347 ;; esac ;;
    v2ray)
        bg "$NS_R" "$E2E_TMP/v2ray.log" "${PROXY_CPU[@]}" v2ray -config "$E2E_TMP/v2ray.json"; CPID=$REPLY
        wait_udp "$NS_R" 0.0.0.0 12348
        udp_tproxy_rules 12348 ;;
    esac
}
stop_contender() { stop_steered_contender; }

# pps LEN: datagrams/s received by the server (iperf3 -u -b 0, one stream);
# once more when the server was still busy with the last test
pps() {
    local v
    v=$(pps_once "$1")
    [ "$v" = - ] && sleep 1 && v=$(pps_once "$1")
    echo "$v"
}
pps_once() {
    in_client timeout $((SECS + 20)) iperf3 -u -b 0 -l "$1" -t "$SECS" -c $O4 -p 5201 -J 2>/dev/null |
        python3 -c 'import json,sys; e=json.load(sys.stdin)["end"]["sum"]; print(round(e["packets"]*(1-e["lost_percent"]/100)/e["seconds"]))' 2>/dev/null || echo -
}
# queries: "RATE LOST": QUERIES new sockets, one echoed datagram each, 64 in flight
queries() {
    in_client python3 tests/e2e/udp_quic_load.py queries "$QUERIES" $O4
}
# cpu_ns PID: nanoseconds its threads have run so far ("-" without a pid)
cpu_ns() {
    [ -n "$1" ] || { echo -; return; }
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{n += $1} END {printf "%.0f\n", n}'
}
# busy_ns: nanoseconds every core together has been busy so far (/proc/stat)
busy_ns() {
    awk -v hz="$(getconf CLK_TCK)" '/^cpu / {printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz}' /proc/stat
}
# per_us NS0 NS1 COUNT: microseconds per item
per_us() {
    python3 -c "import sys; a,b,n=sys.argv[1:]; print('%.2f' % ((int(b)-int(a))/1000/float(n)) if '-' not in (a,b,n) and n not in ('','0') else '-')" "$@"
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo -; }

CONTENDERS=(none tproxy redirect v2ray)
[ -n "$BASELINE" ] && CONTENDERS+=("base tproxy" "base redirect")
declare -A P64 P1400 QPS LOST RSS IDLE CPU64 CPUQ BUSYQ # keyed "contender round"
for r in $(seq "$ROUNDS"); do
    for i in "${!CONTENDERS[@]}"; do
        c=${CONTENDERS[$(((i + r - 1) % ${#CONTENDERS[@]}))]}
        start_contender "$c"
        c0=$(cpu_ns "$CPID"); P64[$c $r]=$(pps 64); c1=$(cpu_ns "$CPID")
        CPU64[$c $r]=$(per_us "$c0" "$c1" "$(python3 -c "import sys; print(int(sys.argv[1])*$SECS if sys.argv[1] != '-' else '-')" "${P64[$c $r]}")")
        P1400[$c $r]=$(pps 1400)
        c0=$(cpu_ns "$CPID"); m0=$(busy_ns); out=$(queries); m1=$(busy_ns); c1=$(cpu_ns "$CPID")
        QPS[$c $r]=${out% *}; LOST[$c $r]=${out#* }
        CPUQ[$c $r]=$(per_us "$c0" "$c1" "$((QUERIES - LOST[$c $r]))")
        BUSYQ[$c $r]=$(per_us "$m0" "$m1" "$((QUERIES - LOST[$c $r]))")
        RSS[$c $r]=- IDLE[$c $r]=-
        if [ -n "$CPID" ]; then
            RSS[$c $r]=$(rss_mib "$CPID")
            sleep "$EXPIRE"
            IDLE[$c $r]=$(rss_mib "$CPID")
        fi
        stop_contender
        echo "# round $r $c: 64 B ${P64[$c $r]}/s (${CPU64[$c $r]} µs CPU each), 1400 B ${P1400[$c $r]}/s, queries ${QPS[$c $r]}/s (${LOST[$c $r]} lost, ${CPUQ[$c $r]} µs CPU each, ${BUSYQ[$c $r]} µs of the machine's), RSS ${RSS[$c $r]} MiB, ${IDLE[$c $r]} MiB expired" >&2
    done
done

echo "$ROUNDS rounds, median (min–max); proxies pinned: ${PROXY_CPU[*]:-no}; load average $LOAD0 before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo
table_head "" "${CONTENDERS[@]}"
row "datagrams/s, 64-byte payload (iperf3 -u -b 0, ${SECS} s)" P64
row "datagrams/s, 1400-byte payload" P1400
row "DNS-like queries/s, a new session each (64 in flight)" QPS
row "queries of $QUERIES unanswered within 1 s" LOST
row "proxy CPU per 64-byte datagram received, µs" CPU64
row "proxy CPU per query, µs" CPUQ
row "the machine's CPU per query, all cores, µs" BUSYQ
row "resident memory after the load, MiB" RSS
row "resident memory ${EXPIRE} s later (switchyard: sessions expired), MiB" IDLE
echo
table_head "ratio, median of the rounds (range)" 64-byte 1400-byte queries "CPU per datagram" "CPU per query"
for c in "${CONTENDERS[@]:1}"; do
    echo "| $c / none | $(ratio P64 "$c" none) | $(ratio P1400 "$c" none) | $(ratio QPS "$c" none) | | |"
done
if [ -n "$BASELINE" ]; then
    for c in tproxy redirect; do
        echo "| $c / base $c | $(ratio P64 "$c" "base $c") | $(ratio P1400 "$c" "base $c") | $(ratio QPS "$c" "base $c") | $(ratio CPU64 "$c" "base $c") | $(ratio CPUQ "$c" "base $c") |"
    done
fi
