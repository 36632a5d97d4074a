#!/usr/bin/env bash
# tcp_relay.sh — the TCP relay side by side, on the same namespaces
# (client -> router -> origin, veth, documentation addresses):
#   none        the router only forwards (no proxy at all)
#   switchyard  redirect inbound, direct outbound (splice relay)
#   redsocks    redirect to redsocks, which needs a proxy: dante (SOCKS5) on
#               the router, so two user-space hops instead of one
#   v2ray       dokodemo-door with followRedirect (REDIRECT), freedom outbound
#   sniffed     switchyard, redirect inbound, a policy whose rule needs the host
#               name: every flow is sniffed before it is decided
#   tproxy      the same policy through a tproxy inbound (switchyard firewall)
# Measures: iperf3 throughput (upload and download, one stream, SECONDS),
# connection rate with wrk (keep-alive off: one connection per request) to an
# nginx origin, and the memory switchyard and v2ray each add for IDLE idle
# flows (default 5,000: switchyard counts three descriptors a flow, so the
# hard RLIMIT_NOFILE, which the script raises the soft limit to, must be at
# least 3 x IDLE plus a few).
#
# One run on a shared machine moves by a factor of two, so the contenders
# run ROUNDS times (default 3), interleaved, each round in a rotated order;
# the table gives the median and the range, and the ratios are medians of
# the ratios within each round (contenders measured minutes apart are not
# compared). On two cores or more, every proxy runs pinned to one core and
# the load (iperf3, wrk, nginx) to another, so each proxy gets the same one
# core whatever threads it starts.
# BASELINE=PATH adds another switchyard binary (an earlier build) as the
# contender "baseline", run the same way, so a change is compared with what
# came before in the same rounds; "baseline-sniffed" runs it as "sniffed".
# CONTENDERS="none sniffed ..." picks the contenders (default: none
# switchyard redsocks v2ray sniffed tproxy); the idle flows are measured for
# switchyard and v2ray when they are among them, IDLE=0 skips that.
# Serialized with other benchmarks by /tmp/switchyard-bench.lock.
# Root needed. Prints Markdown; bench/RESULTS.md keeps one run.
#
#   [ROUNDS=3] [IDLE=10000] [BASELINE=old/switchyard] [CONTENDERS=...] bench/tcp_relay.sh [SECONDS]
set -u
cd "$(dirname "$0")/.."
. bench/lib.sh
bench_lock
bench_settings "$@"
IDLE=${IDLE:-5000}
read -ra CONTENDERS <<<"${CONTENDERS:-none switchyard redsocks v2ray sniffed tproxy}"
if [ -n "$BASELINE" ]; then
    [[ " ${CONTENDERS[*]} " == *" switchyard "* ]] && CONTENDERS+=(baseline)
    [[ " ${CONTENDERS[*]} " == *" sniffed "* ]] && CONTENDERS+=(baseline-sniffed)
fi
has() { [[ " ${CONTENDERS[*]} " == *" $1 "* ]]; }
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -gt $((3 * IDLE + 100)) ] ||
    echo "# descriptor limit $(ulimit -n) is under 3 x IDLE: idle flows will be cut short" >&2

bench_origin
# Unlike the tests, the origin may answer the client directly: "no proxy" needs it.
ip -n "$NS_O" route add 192.0.2.0/24 via 198.51.100.1

# --- the contenders ------------------------------------------------------------------
cat >"$E2E_TMP/sy.yaml" <<YAML
log: {level: warn, flows: false}
workers: 1 # pinned to one core (PROXY_CPU): a second loop there would only contend
routing_mark: 0xff
inbounds:
  - {name: gw, type: redirect, listen: "0.0.0.0:12345"}
default: direct
YAML
# A rule that needs the host name, whatever the port: every flow is sniffed.
sniff_policy() { # sniff_policy INBOUND-TYPE FILE
    cat >"$2" <<YAML
log: {level: warn, flows: false}
workers: 1 # pinned to one core (PROXY_CPU): a second loop there would only contend
routing_mark: 0xff
fast_path: off
inbounds:
  - {name: gw, type: $1, listen: "0.0.0.0:12345"}
rules:
  - {domain_suffix: blocked.example, action: drop}
default: direct
YAML
}
sniff_policy redirect "$E2E_TMP/sniffed.yaml"
sniff_policy tproxy "$E2E_TMP/tproxy.yaml"
cat >"$E2E_TMP/redsocks.conf" <<CONF
base { log_debug = off; log_info = off; log = stderr; daemon = off; redirector = iptables; }
redsocks { local_ip = 0.0.0.0; local_port = 12346; ip = 127.0.0.1; port = 1080; type = socks5; }
CONF
danted_conf danted 127.0.0.1 1080 none 198.51.100.1 "socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect }"

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
    # The tproxy contender its own client ports: it leaves its accepted sockets
    # in TIME_WAIT on the router under the client's own addresses and ports,
    # and a forwarded packet that matches a local socket is dropped (early
    # demux), so the next contender's connections on those ports would stall.
    local ports="1024 39999"
    [ "$1" = tproxy ] && ports="40000 65535"
    ip netns exec "$NS_C" sysctl -qw net.ipv4.ip_local_port_range="$ports"
    case $1 in
    none) steer off; CPID= ;;
    switchyard | sniffed | baseline | baseline-sniffed)
        local bin=$SWITCHYARD conf=$E2E_TMP/sy.yaml
        [[ $1 = *sniffed ]] && conf=$E2E_TMP/sniffed.yaml
        [[ $1 = baseline* ]] && bin=$BASELINE
        bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$bin" run -c "$conf"; CPID=$REPLY
        wait_tcp "$NS_R" 0.0.0.0 12345; steer 12345 ;;
    tproxy)
        bg "$NS_R" "$E2E_TMP/sy.log" "${PROXY_CPU[@]}" "$SWITCHYARD" run -c "$E2E_TMP/tproxy.yaml"; CPID=$REPLY
        wait_tcp "$NS_R" 0.0.0.0 12345
        "$SWITCHYARD" firewall -c "$E2E_TMP/tproxy.yaml" --interface r0 >"$E2E_TMP/fw.sh"
        ip netns exec "$NS_R" sh "$E2E_TMP/fw.sh" >/dev/null 2>&1
        TPROXY_UP=1 ;;
    redsocks)
        bg "$NS_R" "$E2E_TMP/danted.out" "${PROXY_CPU[@]}" danted -f "$E2E_TMP/danted.conf"; DPID=$REPLY
        bg "$NS_R" "$E2E_TMP/redsocks.log" "${PROXY_CPU[@]}" redsocks -c "$E2E_TMP/redsocks.conf"; CPID=$REPLY
        wait_tcp "$NS_R" 127.0.0.1 1080; wait_tcp "$NS_R" 0.0.0.0 12346; steer 12346 ;;
    v2ray)
        bg "$NS_R" "$E2E_TMP/v2ray.log" "${PROXY_CPU[@]}" v2ray -config "$E2E_TMP/v2ray.json"; CPID=$REPLY
        wait_tcp "$NS_R" 0.0.0.0 12347; steer 12347 ;;
    esac
}
stop_contender() {
    steer off
    if [ -n "${TPROXY_UP:-}" ]; then
        "$SWITCHYARD" firewall -c "$E2E_TMP/tproxy.yaml" --undo >"$E2E_TMP/undo.sh"
        ip netns exec "$NS_R" sh "$E2E_TMP/undo.sh" >/dev/null 2>&1
        TPROXY_UP=
    fi
    [ -n "${CPID:-}" ] && stop_pid "$CPID"
    [ -n "${DPID:-}" ] && stop_pid "$DPID"
    CPID= DPID=
    # A client port reused by the next contender would find the old NAT
    # entry, redirecting to a listener that is gone: start each one clean.
    ip netns exec "$NS_R" conntrack -F >/dev/null 2>&1
}


# --- memory with IDLE idle flows ----------------------------------------------------
# Each client sends one byte: v2ray dials the origin only once data comes.
HOLD='
import socket, sys, time, selectors
n = int(sys.argv[2]); socks = []
if sys.argv[1] == "serve":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((sys.argv[3], int(sys.argv[4]))); l.listen(4096)
    while len(socks) < n:
        c, _ = l.accept(); socks.append(c)
    time.sleep(120)
else:
    for i in range(n):
        s = socket.socket(); s.connect((sys.argv[3], int(sys.argv[4]))); s.send(b"x"); socks.append(s)
    print("open", flush=True); time.sleep(120)
'
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
declare -A IDLE_BYTES IDLE_FLOWS
# idle_memory CONTENDER PORT: bytes of RSS a held flow adds. Each contender
# gets its own origin port, so no 4-tuple of the one before (still known to
# conntrack, with its NAT to the other listener) comes back.
idle_memory() {
    start_contender "$1"
    sleep 0.5
    local base with hold
    base=$(rss_kb "$CPID")
    bg "$NS_O" "$E2E_TMP/hold-o.log" python3 -c "$HOLD" serve "$IDLE" $O4 "$2"
    local serve=$REPLY
    wait_tcp "$NS_O" $O4 "$2"
    bg "$NS_C" "$E2E_TMP/hold-c.log" python3 -c "$HOLD" client "$IDLE" $O4 "$2"
    hold=$REPLY
    wait_file_grep "$E2E_TMP/hold-c.log" "^open" 120
    # The client is done once the kernel has the connections; the proxy
    # accepts and dials at its own pace: wait until the origin holds them all.
    wait_established "$NS_O" "$2" "$IDLE" 60
    local held=$REPLY
    sleep 1
    IDLE_FLOWS[$1]=$held
    with=$(rss_kb "$CPID")
    IDLE_BYTES[$1]=$(((with - base) * 1024 / (held > 0 ? held : 1)))
    stop_pid "$hold"
    stop_pid "$serve"
    stop_contender
}
# Measured first, on a fresh network: after the rounds' hundreds of
# thousands of short connections, v2ray's idle flows stopped coming up.
IDLE_ON=
if [ "$IDLE" -gt 0 ] && has switchyard && has v2ray; then
    IDLE_ON=1
    idle_memory switchyard 7001
    idle_memory v2ray 7002
    [ -n "$BASELINE" ] && idle_memory baseline 7003
fi

# --- throughput and connection rate, ROUNDS interleaved rounds -----------------
declare -A UP DOWN CPS # keyed "contender round"
tcp_rounds

# --- the report ---------------------------------------------------------------------
declare -A TITLE=([none]="no proxy" [switchyard]=switchyard [redsocks]="redsocks + dante"
    [v2ray]=v2ray [sniffed]="switchyard sniffed (redirect)" [tproxy]="switchyard sniffed (tproxy)"
    [baseline]="baseline ($BASELINE)" [baseline-sniffed]="baseline sniffed")
echo "$ROUNDS rounds, median (min–max); proxies pinned: ${PROXY_CPU[*]:-no}"
echo
titles=()
for c in "${CONTENDERS[@]}"; do titles+=("${TITLE[$c]}"); done
table_head "" "${titles[@]}"
row "upload, Gbit/s (1 stream, ${SECS} s)" UP
row "download, Gbit/s" DOWN
row "new connections/s (wrk, Connection: close)" CPS
echo
table_head "ratio, median of the rounds (range)" upload download connections
for one in switchyard sniffed tproxy; do
    has "$one" || continue
    for other in none v2ray redsocks baseline baseline-sniffed; do
        has "$other" || continue
        [ "$other" = baseline ] && [ "$one" != switchyard ] && continue
        [ "$other" = baseline-sniffed ] && [ "$one" != sniffed ] && continue
        echo "| ${TITLE[$one]} / ${TITLE[$other]} | $(ratio UP $one $other) | $(ratio DOWN $one $other) | $(ratio CPS $one $other) |"
    done
done
[ -n "$IDLE_ON" ] || exit 0
echo
table_head "$IDLE idle flows" switchyard v2ray
echo "| flows the origin held when measured | ${IDLE_FLOWS[switchyard]} | ${IDLE_FLOWS[v2ray]} |"
echo "| resident memory a flow, bytes | ${IDLE_BYTES[switchyard]} | ${IDLE_BYTES[v2ray]} |"
[ -n "$BASELINE" ] && echo "| baseline: resident memory a flow, bytes (${IDLE_FLOWS[baseline]} flows) | ${IDLE_BYTES[baseline]} | |"
echo "| v2ray's memory a flow over switchyard's | | $(python3 -c "import sys; a,b=map(float,sys.argv[1:]); print('%.1f' % (b/a) if a > 0 else '-')" "${IDLE_BYTES[switchyard]}" "${IDLE_BYTES[v2ray]}") |"
