# bench/lib.sh — what the relay benchmarks share (sourced, not run; bench/run
# skips lib*.sh). It sources tests/e2e/lib_udp.sh (lib.sh and the UDP
# topology), whose namespaces, processes and services the benchmarks use,
# and replaces its EXIT trap with the bare clean-up: a benchmark prints
# Markdown, no TAP, and keeps its exit status.
#
# bench_lock           one benchmark at a time: waits for
#                      /tmp/switchyard-bench.lock and holds it to the end
# bench_settings [SECONDS]  SECS (SECONDS, default 5), ROUNDS (default 3)
#                      and BASELINE (default none) of a relay benchmark
# PROXY_CPU, LOAD_CPU  taskset prefixes putting the proxy on core 1 and the
#                      load on core 0 (both empty on a one-core machine); the
#                      benches that pin switchyard so give it `workers: 1`:
#                      one core is its whole budget, and two loops there only
#                      contend (bench/workers.sh measures the workers)
# bench_origin         the gateway topology (tests/e2e/lib.sh, the script
#                      ends when it cannot be made), O4, wide port ranges
#                      with TIME_WAIT reuse on the client and the router
#                      (one connection per request), then nginx and an
#                      iperf3 server (port 5201) on O4, on the load's core
# gbps, rate           one iperf3 stream's Gbit/s, wrk's new connections/s
# tcp_rounds           ROUNDS interleaved rounds of both over CONTENDERS
#                      (the script's start_contender / stop_contender)
# stop_steered_contender  a stop_contender through the script's steer_off
# stats, column, ratio, row, table_head   the report: medians with ranges,
#                      ratios within rounds, a Markdown table's head and a
#                      row per measure

. tests/e2e/lib_udp.sh
trap e2e_cleanup EXIT
if [ "$(nproc)" -gt 1 ]; then PROXY_CPU=(taskset -c 1) LOAD_CPU=(taskset -c 0); else PROXY_CPU=() LOAD_CPU=(); fi

# bench_lock: waits until no other benchmark runs, then holds
# /tmp/switchyard-bench.lock (descriptor 9) until the script ends.
bench_lock() {
    exec 9>/tmp/switchyard-bench.lock
    flock 9
}

# bench_settings [SECONDS]: what a relay benchmark is told: SECS, how long
# each measure runs (SECONDS, default 5), ROUNDS from the environment
# (default 3), and BASELINE, another switchyard build run as extra
# contenders (default none).
bench_settings() {
    SECS=${1:-5}
    ROUNDS=${ROUNDS:-3}
    BASELINE=${BASELINE:-}
}

bench_origin() {
    local ns
    gateway_net || { echo "network set-up failed" >&2; exit 1; }
    O4=$ORIGIN4
    for ns in "$NS_C" "$NS_R"; do
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" net.ipv4.tcp_tw_reuse=1
    done
    start_nginx "$NS_O" $O4 >/dev/null || { echo "nginx failed" >&2; exit 1; }
    [ "${#LOAD_CPU[@]}" -gt 0 ] && taskset -a -pc 0 "$REPLY" >/dev/null
    bg "$NS_O" "$E2E_TMP/iperf3.log" "${LOAD_CPU[@]}" iperf3 -s -B $O4 -p 5201
    wait_tcp "$NS_O" $O4 5201
}

# --- measuring --------------------------------------------------------------------

# gbps [-R]: one iperf3 stream from the client to O4 for SECS (-R: the
# other way), Gbit/s received; "-" when it failed.
gbps() {
    in_client "${LOAD_CPU[@]}" iperf3 -c $O4 -p 5201 -t "$SECS" -J "$@" 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo "-"
}

# rate [HOST]: new connections per second to O4's nginx with wrk for SECS, a
# new connection per request (with HOST as the Host header).
rate() {
    in_client "${LOAD_CPU[@]}" wrk -t 2 -c 32 -d "${SECS}s" -H "Connection: close" ${1:+-H "Host: $1"} \
        "http://$O4/index.html" 2>/dev/null | awk '/Requests\/sec/ {printf "%.0f", $2}'
}

# stop_steered_contender: a stop_contender for a script whose own steer_off
# removes its steering: that, the contender (CPID) stopped, the router's
# conntrack table flushed.
stop_steered_contender() {
    steer_off
    [ -n "$CPID" ] && stop_pid "$CPID"
    CPID=
    ip netns exec "$NS_R" conntrack -F >/dev/null 2>&1
}

# tcp_rounds: ROUNDS rounds over CONTENDERS, each round in a rotated order:
# the script's start_contender C, then UP, DOWN and CPS["C R"] (gbps, gbps -R,
# rate), then its stop_contender C; a line on stderr per contender and round.
tcp_rounds() {
    local r i c
    for r in $(seq "$ROUNDS"); do
        for i in "${!CONTENDERS[@]}"; do
            c=${CONTENDERS[$(((i + r - 1) % ${#CONTENDERS[@]}))]}
            start_contender "$c"
            UP[$c $r]=$(gbps)
            DOWN[$c $r]=$(gbps -R)
            CPS[$c $r]=$(rate)
            stop_contender "$c"
            echo "# round $r $c: up ${UP[$c $r]} down ${DOWN[$c $r]} conn/s ${CPS[$c $r]}" >&2
        done
    done
}

# --- the report -----------------------------------------------------------------------

# stats V...: "median (min–max)" of the numbers given; "-" when none is a
# number. Whole numbers when the figures are (counts) or reach 100, two
# decimals otherwise.
stats() {
    python3 - "$@" <<'PY'
import statistics, sys
t = [x for x in sys.argv[1:] if x not in ("-", "")]
v = [float(x) for x in t]
if not v:
    print("-")
else:
    if max(v) >= 100 or not any("." in x for x in t):
        f = lambda x: "{:,.0f}".format(x)
    else:
        f = lambda x: "%.2f" % x
    print(f(statistics.median(v)) + ("" if len(v) == 1 else " (%s–%s)" % (f(min(v)), f(max(v)))))
PY
}

# column ARRAY KEY: the rounds' figures of KEY (a contender) in ARRAY["KEY R"].
column() {
    local -n m=$1
    local r
    for r in $(seq "$ROUNDS"); do echo "${m[$2 $r]}"; done
}

# ratio ARRAY A B [DIGITS]: median over the rounds of A's figure over B's,
# with the range (DIGITS decimals, 2).
ratio() {
    local -n m=$1
    local r out=()
    for r in $(seq "$ROUNDS"); do
        out+=("$(python3 -c "import sys; a,b,d=sys.argv[1:]; print('%.*f' % (int(d), float(a)/float(b)) if a not in ('-','') and b not in ('-','','0','0.00') else '-')" "${m[$2 $r]}" "${m[$3 $r]}" "${4:-2}")")
    done
    stats "${out[@]}"
}

# row TITLE ARRAY: a Markdown table row, the stats of each of CONTENDERS.
row() {
    local line="| $1 |" c
    for c in "${CONTENDERS[@]}"; do
        # shellcheck disable=SC2046
        line="$line $(stats $(column "$2" "$c")) |"
    done
    echo "$line"
}

# table_head FIRST COLUMN...: a Markdown table's head, FIRST over the row
# titles, then a right-aligned column each.
table_head() {
    local head="| $1 |" rule="|---|" c
    shift
    for c in "$@"; do head="$head $c |" rule="$rule---:|"; done
    printf '%s\n%s\n' "$head" "$rule"
}
