#!/usr/bin/env bash
# demo.sh — `make demo`: switchyard routing real traffic, in a minute, without
# touching this machine's own network. Four network namespaces (a client, a
# router running switchyard with examples/demo.yaml, an origin with nginx and
# dnsmasq, a SOCKS5 upstream with dante), a handful of requests from the
# client, switchyard's decisions as they happen and what each server saw.
# Every address is a documentation one, the nft rules live in the router
# namespace only, and on exit (also on Ctrl-C) every process it started is
# stopped by its pid and every namespace it made is deleted.
#
#   examples/demo.sh           run the demo (root: it makes network namespaces)
#   examples/demo.sh --check   only check for root and the programs it needs
#
# It uses the end-to-end tests' helpers (tests/e2e/lib.sh, lib_udp.sh) for the
# namespaces and processes, and prints its own lines instead of their TAP.
set -u
cd "$(dirname "$0")/.." || exit 1

TOOLS="ip nft nginx dnsmasq danted curl dig openssl ss timeout"

# demo_check: root and every program the demo runs, or a message saying what to do.
demo_check() {
    if [ "$(id -u)" != 0 ]; then
        echo "make demo needs root: it creates network namespaces (run it as root, e.g. sudo make demo)" >&2
        return 1
    fi
    local t missing=""
    for t in $TOOLS; do
        command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null 2>&1 ||
            missing="$missing $t"
    done
    if [ -n "$missing" ]; then
        echo "make demo: missing:$missing; run 'make deps' (as root) first" >&2
        return 1
    fi
}

if [ "${1:-}" = --check ]; then
    demo_check
    exit
fi
demo_check || exit 1
export PATH=$PATH:/usr/sbin:/sbin
if [ ! -x "${SWITCHYARD:-./switchyard}" ]; then
    echo "make demo: no ./switchyard; build it with make (after make deps)" >&2
    exit 1
fi

. tests/e2e/lib_udp.sh

say() { printf '%s\n' "$*"; }

# demo_exit: the EXIT trap (replacing lib.sh's TAP one). Stops the processes
# started here, then anything still running inside the demo's namespaces
# (dante's children), each by its pid; deletes the namespaces and the files.
demo_exit() {
    local rc=$? p ns left i
    trap - EXIT INT TERM HUP
    for p in "${E2E_PIDS[@]}"; do stop_pid "$p"; done
    for i in $(seq 50); do
        left=""
        for ns in "${E2E_NS[@]}"; do left="$left $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"; done
        [ -z "${left// /}" ] && break
        # shellcheck disable=SC2086
        if [ "$i" -lt 30 ]; then kill $left 2>/dev/null; else kill -9 $left 2>/dev/null; fi
        sleep 0.1
    done
    for ns in "${E2E_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$E2E_TMP"
    say
    say "cleaned up: ${#E2E_PIDS[@]} processes stopped, namespaces ${E2E_NS[*]} deleted, $E2E_TMP removed"
    exit "$rc"
}
trap demo_exit EXIT
trap 'exit 130' INT TERM HUP

fail() {
    say "demo: $*" >&2
    for f in "$E2E_TMP"/switchyard.log "$E2E_TMP"/*.out; do
        [ -s "$f" ] && sed "s|^|  $(basename "$f"): |" "$f" | tail -20 >&2
    done
    exit 1
}

# --- the network and its servers -----------------------------------------------------

say "switchyard demo: a client, a router running switchyard, an origin and a SOCKS5"
say "upstream, each in a network namespace of its own (documentation addresses only):"
say
say "  client ──── router ─────┬── origin    198.51.100.10  nginx (HTTP, HTTPS)"
say "  192.0.2.2   192.0.2.1   │             198.51.100.53  dnsmasq (DNS)"
say "              switchyard  └── upstream  203.0.113.10   dante (SOCKS5)"
say
say "examples/demo.yaml is examples/split-tunnel.yaml with its tunnel at the upstream:"
say "mainland-China names go direct, ad names are dropped, the rest goes through the"
say "SOCKS5 tunnel."
say

udp_net || fail "could not make the namespaces"
start_nginx "$NS_O" 198.51.100.10 || fail "nginx did not start"
NGINX_PID=$REPLY
udp_start_dnsmasq /#/198.51.100.10 || fail "dnsmasq did not start"
DNSMASQ_PID=$REPLY
udp_start_danted || fail "dante did not start"
DANTE_PID=$REPLY
start_switchyard "$NS_R" examples/demo.yaml || fail "switchyard did not start"
"$SWITCHYARD" firewall -c examples/demo.yaml --mode gateway --interface r0 >"$E2E_TMP/firewall.sh" &&
    ip netns exec "$NS_R" sh "$E2E_TMP/firewall.sh" >"$E2E_TMP/firewall.out" 2>&1 ||
    fail "the firewall rules did not load"

say "namespaces: ${E2E_NS[*]}"
say "processes:  switchyard $SWITCHYARD_PID, nginx $NGINX_PID, dnsmasq $DNSMASQ_PID, danted $DANTE_PID"
say "files:      $E2E_TMP"
say "router:     switchyard run -c examples/demo.yaml; the nft rules of"
say "            'switchyard firewall -c examples/demo.yaml --interface r0' (router namespace only)"

# --- showing what happened --------------------------------------------------------------

declare -A SHOWN # lines of each log already shown

# new_lines FILE: puts the lines FILE got since the last call into $E2E_TMP/new.
new_lines() {
    local n had=${SHOWN[$1]:-0}
    n=$(wc -l <"$1" 2>/dev/null || echo 0)
    tail -n "+$((had + 1))" "$1" 2>/dev/null | head -n "$((n - had))" >"$E2E_TMP/new"
    SHOWN[$1]=$n
}

# outbound NAME: what the decision means.
outbound() {
    case $1 in
    direct) echo "direct (the router connects to the origin itself)" ;;
    tunnel) echo "tunnel (socks5 proxy at 203.0.113.10:1080)" ;;
    drop) echo "drop" ;;
    *) echo "$1" ;;
    esac
}

# who ADDR[:PORT]: ADDR with the name of the machine it belongs to.
who() {
    case ${1%:*} in
    192.0.2.2) echo "$1 (the client)" ;;
    198.51.100.1 | 203.0.113.1) echo "$1 (the router)" ;;
    203.0.113.10) echo "$1 (dante)" ;;
    *) echo "$1" ;;
    esac
}

# why "rule N (line L)": the same, naming the policy file.
why() { echo "${1/(line /(examples/demo.yaml line }"; }

# addr_of A.B.C.D.PORT: dante's way of writing an address, as A.B.C.D:PORT.
addr_of() { echo "${1%.*}:${1##*.}"; }

# show_switchyard: switchyard's new flow lines, one readable line each.
show_switchyard() {
    local l re_tcp re_udp re_closed
    re_tcp='flow ([0-9]+) decided inbound=([^ ]+) src=([^ ]+) dst=([^ ]+) host=([^ ]+) protocol=([^ ]+) (.*) -> ([^ ]+)$'
    re_udp='udp ([^ ]+) -> ([^ ]+) \[([^]]+)\] ([^ ]+) ([^ ]+) => ([^,]+), (.*)$'
    re_closed='flow ([0-9]+) closed: (.*)$'
    new_lines "$E2E_TMP/switchyard.log"
    while IFS= read -r l; do
        if [[ $l =~ $re_tcp ]]; then
            say "  switchyard  flow ${BASH_REMATCH[1]}: ${BASH_REMATCH[3]} -> ${BASH_REMATCH[4]}, ${BASH_REMATCH[6]} name ${BASH_REMATCH[5]}"
            say "              => $(outbound "${BASH_REMATCH[8]}"), by $(why "${BASH_REMATCH[7]}")"
        elif [[ $l =~ $re_udp ]]; then
            say "  switchyard  udp ${BASH_REMATCH[1]} -> ${BASH_REMATCH[2]}, ${BASH_REMATCH[4]} name ${BASH_REMATCH[5]}"
            say "              => $(outbound "${BASH_REMATCH[6]}"), by $(why "${BASH_REMATCH[7]}")"
        elif [[ $l =~ $re_closed ]]; then
            say "  switchyard  flow ${BASH_REMATCH[1]} closed: ${BASH_REMATCH[2]}"
        elif [[ $l == *warn* || $l == *error* ]]; then
            say "  switchyard  $l"
        fi
    done <"$E2E_TMP/new"
}

# show_servers: what nginx, dnsmasq and dante logged since the last step.
show_servers() {
    local l seen=0 re_query re_dante
    re_query='query\[([^]]+)\] ([^ ]+) from ([^ ]+)$'
    re_dante='(tcp/connect|udp/udpassociate) \[: ([^ ]+) ([^ ]+)( -> ([^ ]+) ([^ ]+))?'
    new_lines "$E2E_TMP/nginx-access.log"
    while IFS=' ' read -r addr host port uri status; do
        say "  nginx       $host:$port$uri from $(who "$addr"): status $status"
        seen=1
    done <"$E2E_TMP/new"
    new_lines "$E2E_TMP/dnsmasq.log"
    while IFS= read -r l; do
        [[ $l =~ $re_query ]] || continue
        say "  dnsmasq     ${BASH_REMATCH[1]} ${BASH_REMATCH[2]} from $(who "${BASH_REMATCH[3]}")"
        seen=1
    done <"$E2E_TMP/new"
    new_lines "$E2E_TMP/danted.log"
    while IFS= read -r l; do
        [[ $l =~ $re_dante ]] || continue
        if [ "${BASH_REMATCH[1]}" = tcp/connect ]; then
            say "  dante       SOCKS5 connect from $(who "$(addr_of "${BASH_REMATCH[2]}")") to $(addr_of "${BASH_REMATCH[6]}")"
        else
            say "  dante       SOCKS5 UDP associate: a relay on $(addr_of "${BASH_REMATCH[3]}")"
        fi
        seen=1
    done <"$E2E_TMP/new"
    [ $seen = 1 ] || say "  (no server saw anything)"
}

# settle REGEX: waits (at most 3 s) for switchyard's line about REGEX and for
# its TCP flows to close, so a step's lines are shown together.
settle() {
    local i
    wait_file_grep "$E2E_TMP/switchyard.log" "$1" 3
    for i in $(seq 30); do
        [ "$(grep -c ' decided ' "$E2E_TMP/switchyard.log")" -le "$(grep -c ' closed: ' "$E2E_TMP/switchyard.log")" ] && break
        sleep 0.1
    done
    sleep 0.2
}

# step N TEXT: a heading.
step() {
    say
    say "$1. $2"
}

# ask NAME: the client asks dnsmasq for NAME's address over UDP; prints it, or nothing.
ask() {
    timeout 10 ip netns exec "$NS_C" dig @198.51.100.53 "$1" +short +tries=1 +time=2 2>/dev/null |
        grep -E '^[0-9.]+$' | head -1
}

# fetch SCHEME NAME ADDR: the client fetches SCHEME://NAME/ from ADDR.
fetch() {
    local out
    say "  client      curl $1://$2/ (at $3)"
    if out=$(curl_host "$NS_C" "$2" "$3" "$1"); then
        say "  client      got: $out"
    else
        say "  client      no answer: ${out##*) }"
    fi
}

new_lines "$E2E_TMP/switchyard.log"

# --- the requests ---------------------------------------------------------------------------

step 1 "DNS over UDP for www.baidu.com (on the CN list: direct)"
addr=$(ask www.baidu.com)
say "  client      dig @198.51.100.53 www.baidu.com: ${addr:-no answer}"
settle "www\.baidu\.com"
show_switchyard
show_servers

step 2 "DNS over UDP for www.wikipedia.org (not on a list: through the tunnel)"
addr=$(ask www.wikipedia.org)
say "  client      dig @198.51.100.53 www.wikipedia.org: ${addr:-no answer}"
settle "www\.wikipedia\.org"
show_switchyard
show_servers

step 3 "HTTPS to www.baidu.com, decided by the TLS SNI (direct)"
fetch https www.baidu.com 198.51.100.10
settle "host=www\.baidu\.com"
show_switchyard
show_servers

step 4 "HTTPS to www.wikipedia.org, decided by the TLS SNI (tunnel)"
fetch https www.wikipedia.org 198.51.100.10
settle "host=www\.wikipedia\.org"
show_switchyard
show_servers

step 5 "plain HTTP to www.qq.com, decided by the Host header (direct)"
fetch http www.qq.com 198.51.100.10
settle "host=www\.qq\.com"
show_switchyard
show_servers

step 6 "HTTPS to ad.doubleclick.net, on the ad list (dropped)"
fetch https ad.doubleclick.net 198.51.100.10
settle "host=ad\.doubleclick\.net"
show_switchyard
show_servers

say
say "Every decision above came from examples/demo.yaml; try your own with"
say "  ./switchyard match -c examples/demo.yaml --dst 198.51.100.10:443 --host NAME"
exit 0
