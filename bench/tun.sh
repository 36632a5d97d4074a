#!/usr/bin/env bash
# tun.sh — the tun inbound against switchyard's own TPROXY path and against
# no proxy, side by side on the same namespaces (client -> router -> origin,
# veth, documentation addresses):
#   none    the router only forwards
#   tproxy  a tproxy inbound (TCP and UDP): nft tproxy + a fwmark rule to the
#           local table
#   tun     a tun inbound: the router routes what the client sends into the
#           device (ip rule iif r0), TCP through the kernel's stack and the NAT
# Measures, ROUNDS times (default 3) interleaved, each round starting one
# contender further on: iperf3 throughput, one stream, upload and download,
# SECONDS each; new connections/s (wrk, a new connection per request to
# nginx, SECONDS); DNS-like queries/s (QUERIES new client sockets, one
# echoed 32-byte datagram to port 53 each, 64 in flight: a new UDP session
# per query; one unanswered after a second is lost); switchyard's resident
# memory (VmRSS) right after its round; and with each transfer switchyard's
# CPU time per GB moved (user and system time of the process, which holds
# the kernel's work done inside its calls and the softirqs that ran while it
# was on its CPU): the cost on its core.
# Prints the medians and the ratios of tun to tproxy (the median of the
# per-round ratios). On two cores or more, switchyard runs on one core and
# the load on the other. MTU sets the tun device's (default 1500). Root
# needed; `uptime` before and after, since a shared machine moves the figures.
# Serialized with other benchmarks by /tmp/switchyard-bench.lock.
# CONTENDERS picks and orders them (default "none tproxy tun"); besides those:
#   tun:L:C  the tun inbound with its queues' receive packet steering set by
#            hand once it runs: L into the listener's queue (rx-0), C into the
#            client's (rx-1), as /sys/class/net/DEV/queues/rx-N/rps_cpus takes
#            a mask (0: processed inside switchyard's write)
#   before   the tun inbound with the binary BEFORE (an earlier build)
# Each tun contender is compared with tproxy. MEASURE picks the measurements
# (default "up down conn queries"; "up down" for throughput alone).
#
#   [ROUNDS=3] [MTU=1500] [QUERIES=3000] [CONTENDERS=...] [BEFORE=path] [MEASURE=...]
#   bench/tun.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
exec 9>/tmp/switchyard-bench.lock
flock 9
E2E_BENCH=1 # clean-up from lib.sh, no TAP plan line
. tests/e2e/lib.sh
trap e2e_cleanup EXIT
SECS=${1:-5}
ROUNDS=${ROUNDS:-3}
MTU=${MTU:-1500}
QUERIES=${QUERIES:-3000}
MEASURE=${MEASURE:-up down conn queries}
if [ "$(nproc)" -gt 1 ]; then PROXY_CPU=(taskset -c 1) LOAD_CPU=(taskset -c 0); else PROXY_CPU=() LOAD_CPU=(); fi

gateway_net || { echo "network set-up failed" >&2; exit 1; }
O4=198.51.100.10
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1 # "none" needs the origin to answer
bg "$NS_O" "$E2E_TMP/iperf3.log" "${LOAD_CPU[@]}" iperf3 -s -B $O4 -p 5201
wait_tcp "$NS_O" $O4 5201
start_nginx "$NS_O" $O4 >/dev/null || { echo "nginx failed" >&2; exit 1; }
bg "$NS_O" "$E2E_TMP/echo.log" python3 tests/e2e/udp_quic_load.py echo $O4 53
wait_udp "$NS_O" $O4 53
DEV=sybench$$
DEV=${DEV:0:15}

cat >"$E2E_TMP/tproxy.yaml" <<YAML
log: {level: warn, flows: false}
workers: 1 # pinned to one core (PROXY_CPU): a second loop there would only contend
routing_mark: 0xff
inbounds:
  - {name: tp, type: tproxy, listen: "0.0.0.0:12345", network: [tcp, udp]}
default: direct
YAML
cat >"$E2E_TMP/tun.yaml" <<YAML
log: {level: warn, flows: false}
workers: 1 # pinned to one core (PROXY_CPU): a second loop there would only contend
routing_mark: 0xff
inbounds:
  - {name: tun, type: tun, listen: "[::]:12346", device: $DEV, address: 203.0.113.1/30, mtu: $MTU}
default: direct
YAML

start_contender() {
    CPID=
    # Each contender its own client ports: TPROXY leaves its accepted sockets
    # in TIME_WAIT on the router, and a forwarded packet whose addresses and
    # ports match a local socket is dropped (early demux finds the socket,
    # ip_forward drops a packet that has one), so the TUN's SYNs on those
    # ports would go nowhere for 60 s.
    local ports
    case $1 in none) ports="10000 29999" ;; tproxy) ports="30000 44999" ;; *) ports="45000 60999" ;; esac
    local bin=$SWITCHYARD rps=
    case $1 in before) bin=$BEFORE ;; tun:*) rps=${1#tun:} ;; esac
    ip netns exec "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="$ports"
    case $1 in
    tproxy)
        bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$SWITCHYARD" run -c "$E2E_TMP/tproxy.yaml"
        CPID=$REPLY
        wait_tcp "$NS_R" 0.0.0.0 12345
        ip netns exec "$NS_R" nft -f - <<NFT
table inet bench {
    chain pre { type filter hook prerouting priority mangle; policy accept;
        iifname "r0" meta l4proto { tcp, udp } ip daddr != 192.0.2.1 tproxy ip to :12345 meta mark set 1 accept
    }
}
NFT
        ip -n "$NS_R" rule add fwmark 1 lookup 100 pref 100
        ip -n "$NS_R" route add local 0.0.0.0/0 dev lo table 100 ;;
    tun | tun:* | before)
        bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$bin" run -c "$E2E_TMP/tun.yaml"
        CPID=$REPLY
        wait_file_grep "$E2E_TMP/sy.log" "running with|could not" 10 2>/dev/null
        for i in $(seq 50); do ip -n "$NS_R" link show "$DEV" >/dev/null 2>&1 && break; sleep 0.1; done
        if [ -n "$rps" ]; then
            ip netns exec "$NS_R" sh -c "echo ${rps%:*} >/sys/class/net/$DEV/queues/rx-0/rps_cpus &&
                echo ${rps#*:} >/sys/class/net/$DEV/queues/rx-1/rps_cpus" ||
                echo "# $1: the device has no second queue" >&2
        fi
        ip -n "$NS_R" rule add iif r0 lookup 100 pref 100
        ip -n "$NS_R" route add default dev "$DEV" table 100 ;;
    esac
}
stop_contender() {
    ip netns exec "$NS_R" nft delete table inet bench 2>/dev/null
    ip -n "$NS_R" rule del pref 100 2>/dev/null
    ip -n "$NS_R" route flush table 100 2>/dev/null
    [ -n "$CPID" ] && stop_pid "$CPID"
    CPID=
}
gbps() { # gbps [-R]: one iperf3 stream, Gbit/s received
    in_client "${LOAD_CPU[@]}" iperf3 -c $O4 -p 5201 -t "$SECS" -J "$@" 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null || echo "-"
}
cpu_ticks() { # the contender's CPU time so far (user + system, softirqs run in its context too), in clock ticks
    [ -n "$CPID" ] && awk '{print $14 + $15}' "/proc/$CPID/stat" 2>/dev/null || echo -
}
# ms_per_gb TICKS_BEFORE TICKS_AFTER GBPS: the contender's CPU time per GB moved
ms_per_gb() {
    awk -v a="$1" -v b="$2" -v g="$3" -v s="$SECS" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { if (a == "-" || b == "-" || g == "-" || g <= 0) print "-"; else printf "%.0f", (b - a) * 1000 / hz / (g * s / 8) }'
}
gbps_cpu() { # gbps_cpu VAR [-R]: Gbit/s, and the contender's CPU ms per GB into VAR
    local t0 g
    t0=$(cpu_ticks)
    g=$(gbps "${@:2}")
    printf -v "$1" '%s' "$(ms_per_gb "$t0" "$(cpu_ticks)" "$g")"
    echo "$g"
}

rate() { # new connections per second with wrk, one connection per request
    in_client "${LOAD_CPU[@]}" wrk -t 2 -c 32 -d "${SECS}s" -H "Connection: close" "http://$O4/index.html" 2>/dev/null |
        awk '/Requests\/sec/ {printf "%.0f", $2}'
}
queries() { # "RATE LOST": QUERIES new sockets, one echoed datagram each, 64 in flight
    in_client "${LOAD_CPU[@]}" python3 tests/e2e/udp_quic_load.py queries "$QUERIES" $O4
}
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status" 2>/dev/null || echo -; }

echo "# load before: $(uptime)" >&2
declare -A up down cps qps lost rss upcpu downcpu
read -r -a names <<<"${CONTENDERS:-none tproxy tun}"
for r in $(seq "$ROUNDS"); do
    # Each round starts one contender further on, so none always follows the same other.
    for i in "${!names[@]}"; do
        n=${names[$(((i + r - 1) % ${#names[@]}))]}
        : >"$E2E_TMP/sy.log"
        start_contender "$n"
        u=- d=- c= out="- -" ucpu=- dcpu=-
        [[ " $MEASURE " == *" up "* ]] && gbps_cpu ucpu >"$E2E_TMP/g" && u=$(<"$E2E_TMP/g")
        [[ " $MEASURE " == *" down "* ]] && gbps_cpu dcpu -R >"$E2E_TMP/g" && d=$(<"$E2E_TMP/g")
        [[ " $MEASURE " == *" conn "* ]] && c=$(rate)
        [[ " $MEASURE " == *" queries "* ]] && out=$(queries)
        up[$n]="${up[$n]:-} $u"
        down[$n]="${down[$n]:-} $d"
        upcpu[$n]="${upcpu[$n]:-} $ucpu"
        downcpu[$n]="${downcpu[$n]:-} $dcpu"
        cps[$n]="${cps[$n]:-} ${c:--}"
        qps[$n]="${qps[$n]:-} ${out% *}"
        lost[$n]="${lost[$n]:-} ${out#* }"
        m=-
        [ -n "$CPID" ] && m=$(rss_mib "$CPID")
        rss[$n]="${rss[$n]:-} $m"
        echo "# round $r $n: up $u, down $d Gbit/s (CPU $ucpu, $dcpu ms/GB), ${c:--} conn/s, ${out% *} queries/s (${out#* } lost), RSS $m MiB" >&2
        stop_contender
    done
done
echo "# load after: $(uptime)" >&2
median() { tr ' ' '\n' | grep -v '^-*$' | sort -g | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}'; }
ratio() { # ratio A B: median of the per-round ratios A/B
    paste -d' ' <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) |
        awk '$1 != "-" && $2 > 0 {printf "%.2f\n", $1 / $2}' | tr '\n' ' ' | median
}
echo "| path | upload Gbit/s | download Gbit/s | switchyard CPU ms per GB up / down | new connections/s | DNS queries/s (lost) | resident memory after, MiB |"
echo "|---|---|---|---|---|---|---|"
for n in "${names[@]}"; do
    echo "| $n | $(median <<<"${up[$n]}") | $(median <<<"${down[$n]}") | $(median <<<"${upcpu[$n]}") / $(median <<<"${downcpu[$n]}") | $(median <<<"${cps[$n]}") | $(median <<<"${qps[$n]}") ($(median <<<"${lost[$n]}")) | $(median <<<"${rss[$n]}") |"
done
echo
for n in "${names[@]}"; do
    case $n in none | tproxy) continue ;; esac
    echo "$n / tproxy: upload $(ratio "${up[$n]}" "${up[tproxy]:-}"), download $(ratio "${down[$n]}" "${down[tproxy]:-}"), connections/s $(ratio "${cps[$n]}" "${cps[tproxy]:-}"), queries/s $(ratio "${qps[$n]}" "${qps[tproxy]:-}") (medians of $ROUNDS rounds of ${SECS} s, $QUERIES queries)"
done
