#!/usr/bin/env bash
# control.sh — what the control listener costs the data path: switchyard
# with `control` on and polled once a second (curl /connections and
# /metrics, as a dashboard and a Prometheus scrape would), side by side with
# the same policy without `control`, on the namespaces of tcp_relay.sh
# (client -> router -> origin, veth, redirect inbound, direct outbound).
# Measures, for each state:
#   throughput        iperf3, one stream up and down, SECONDS each
#   connection rate   wrk, a new connection per request, plain policy
#   decision rate     the same with 1,000 domain rules: every connection
#                     sniffed (HTTP Host) and decided by the last rule
# A shared machine moves by tens of percent between runs, so the two states
# run ROUNDS times (default 5), interleaved, each round in a rotated order;
# the table gives medians and ranges and the ratios on/off are medians of
# the ratios within each round. switchyard is pinned to one core, the load
# and the poller to the other. /tmp/switchyard-bench.lock is held while
# measuring, so benchmarks of others on the machine do not overlap. Root
# needed. Prints Markdown with the load average before and after;
# bench/RESULTS.md keeps one run.
#
#   [ROUNDS=5] bench/control.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
SECS=${1:-5}
ROUNDS=${ROUNDS:-5}
API=http://127.0.0.1:9090

bench_origin
ip netns exec "$NS_R" nft -f - <<NFT
table inet bench {
    chain pre { type nat hook prerouting priority dstnat; policy accept;
        iifname "r0" meta l4proto tcp ip daddr != 192.0.2.1 redirect to :12345
    }
}
NFT

# policy STATE KIND: the policy file for control on/off, plain or with the rules.
policy() {
    local f=$E2E_TMP/$1-$2.yaml
    {
        echo "log: {level: warn, flows: false}"
        echo "workers: 1"
        echo "routing_mark: 0xff"
        echo "sniff: {timeout_ms: 300}"
        [ "$1" = on ] && echo "control: {listen: \"127.0.0.1:9090\"}"
        echo "inbounds:"
        echo "  - {name: gw, type: redirect, listen: \"0.0.0.0:12345\"}"
        if [ "$2" = rules ]; then
            echo "rules:"
            for i in $(seq 999); do echo "  - {domain_suffix: r$i.example, action: drop}"; done
            echo "  - {domain_suffix: hit.example, action: direct}"
        fi
        echo "default: direct"
    } >"$f"
    echo "$f"
}

# start STATE KIND: switchyard on the router; with control on, the poller too.
start() {
    bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$SWITCHYARD" run -c "$(policy "$1" "$2")"
    SPID=$REPLY
    wait_tcp "$NS_R" 0.0.0.0 12345
    POLLER=
    if [ "$1" = on ]; then
        wait_tcp "$NS_R" 127.0.0.1 9090
        # Once a second, at most 600 times (the longest a measurement takes is far less).
        bg "$NS_R" "$E2E_TMP/poll.log" "${LOAD_CPU[@]}" bash -c "for i in \$(seq 600); do
            curl -sf -o /dev/null --max-time 2 $API/connections &&
                curl -sf -o /dev/null --max-time 2 $API/metrics && echo polled
            sleep 1; done"
        POLLER=$REPLY
    fi
}
stop() {
    [ -n "$POLLER" ] && stop_pid "$POLLER"
    stop_pid "$SPID"
    ip netns exec "$NS_R" conntrack -F >/dev/null 2>&1
}

exec {lock}>/tmp/switchyard-bench.lock
flock "$lock"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
STATES=(off on)
declare -A UP DOWN CPS DPS POLLS HITS # keyed "state round"
for r in $(seq "$ROUNDS"); do
    for i in 0 1; do
        s=${STATES[$(((i + r - 1) % 2))]}
        : >"$E2E_TMP/poll.log"
        start "$s" plain
        UP[$s $r]=$(gbps); DOWN[$s $r]=$(gbps -R); CPS[$s $r]=$(rate)
        stop
        polls=$(grep -c polled "$E2E_TMP/poll.log")
        start "$s" rules
        DPS[$s $r]=$(rate x.hit.example)
        # The decisions were made by the last rule (the control listener can tell).
        [ "$s" = on ] && HITS[$r]=$(in_router curl -sf --max-time 5 "$API/metrics" |
            sed -n 's/^switchyard_rule_hits_total{rule="1000"} //p')
        stop
        POLLS[$s $r]=$((polls + $(grep -c polled "$E2E_TMP/poll.log")))
        echo "# round $r control $s: up ${UP[$s $r]} down ${DOWN[$s $r]} conn/s ${CPS[$s $r]} decisions/s ${DPS[$s $r]} polls ${POLLS[$s $r]}" >&2
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
flock -u "$lock"

# --- the report ---------------------------------------------------------------------
state_row() { # state_row TITLE ARRAY: off, on, and on over off within each round
    # shellcheck disable=SC2046
    echo "| $1 | $(stats $(column "$2" off)) | $(stats $(column "$2" on)) | $(ratio "$2" on off 3) |"
}
echo "$ROUNDS rounds, median (min–max); switchyard pinned: ${PROXY_CPU[*]:-no}; load average before $LOAD_BEFORE, after $LOAD_AFTER"
echo
table_head "" "control off" "control on, polled 1/s" "on / off"
state_row "upload, Gbit/s (1 stream, ${SECS} s)" UP
state_row "download, Gbit/s" DOWN
state_row "new connections/s (wrk, Connection: close)" CPS
state_row "decisions/s (the same, 1,000 domain rules, sniffed)" DPS
echo "| connections decided by rule 1,000 in a run with control on (from /metrics) | | $(stats "${HITS[@]}") | |"
# shellcheck disable=SC2046
echo "| polls answered (/connections + /metrics) a round | | $(stats $(column POLLS on)) | |"
