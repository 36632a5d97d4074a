# lib.sh — shared helpers for the end-to-end tests (sourced, not run; tests/run
# skips lib*.sh). Every script sources it and ends with e2e_finish.
#
# TAP:        ok "what"; not_ok "what"; check "what" CMD...; skip "what" "why";
#             e2e_abort "what" (not_ok, then end the script); e2e_finish.
#             Sourcing installs an EXIT trap (e2e_exit) that cleans up, prints
#             the plan line and exits 1 on any failure, also when the script
#             ends early; e2e_at_exit CMD adds a script's own clean-up to it.
#             A benchmark sets E2E_BENCH=1 before sourcing: the same clean-up,
#             no plan line (it prints its own tables).
# Namespaces: ns_new NAME -> sets REPLY to a unique namespace ("sy-NAME-<pid>");
#             veth NS1 IF1 NS2 IF2 joins two namespaces; every namespace made
#             here is deleted on exit.
# Processes:  bg NS LOG CMD... starts CMD in NS (REPLY = pid); stop_pid PID;
#             everything started with bg is stopped on exit.
# Waiting:    wait_tcp NS ADDR PORT [SECONDS]; wait_udp NS ADDR PORT;
#             wait_file_grep FILE REGEX [SECONDS]; wait_established NS PORT N [SECONDS].
# Services:   start_nginx NS ADDR...; write_gateway_policy (stdin after the usual
#             head); policy_inbounds WHERE KIND... (a policy's inbounds, named
#             and numbered as the tests use them); start_switchyard NS CONFIG;
#             start_danted NS NAME ADDR PORT METHOD EXTERNAL RULE... (danted_conf
#             writes its file only); start_tinyproxy NS ADDR PORTS NET...;
#             apply_firewall NS CONFIG MODE [BACKEND]; nft_table NS NAME (a
#             test's own nft table, chains from stdin); curl_host NS HOST ADDR SCHEME.
# Topology:   gateway_net: client ns -> router ns -> origin ns (see below);
#             router_link NS IF RIF ROUTER4/LEN ADDR4 ROUTER6/LEN ADDR6: one more leg;
#             gateway_up [nginx]: the usual start of a TCP script;
#             write_usual_policy NAME TYPE [INBOUND [RULE]]: the usual policy
#             (settings from stdin); start_gateway_policy NAME TYPE: that
#             policy, switchyard started;
#             write_control_policy LISTEN RULE: a policy with the control API;
#             control_gateway_up LISTEN: gateway_up, that policy, a peer origin;
#             check_traffic_sum WHAT FILE SENT: /traffic down bytes sum to SENT;
#             udp_start_dnsmasq [ANSWER]: dnsmasq on the origin (198.51.100.53);
#             tun_dev, tun_inbound ADDRESS, tun_routing MODE [ARG...]: a TUN test's
#             device name, its inbound's YAML, the routing the firewall command prints.
#             (lib_udp.sh adds the UDP tests' upstream namespace and services.)
#
# Addresses come only from the documentation ranges; traffic never leaves the
# namespaces the test made. Every wait is bounded.

E2E_PID=$$
E2E_TMP=$(mktemp -d /tmp/switchyard-e2e.XXXXXX)
E2E_N=0
E2E_FAILED=0
E2E_PIDS=()
E2E_NS=()
SWITCHYARD=${SWITCHYARD:-$PWD/switchyard}

ok() { E2E_N=$((E2E_N + 1)); echo "ok $E2E_N - $*"; }
not_ok() { E2E_N=$((E2E_N + 1)); E2E_FAILED=$((E2E_FAILED + 1)); echo "not ok $E2E_N - $*"; return 1; }
skip() { E2E_N=$((E2E_N + 1)); echo "ok $E2E_N - $1 # SKIP $2"; }
check() { # check "description" CMD...
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
diag() { echo "# $*"; }

# e2e_finish: the script is done; the EXIT trap prints the plan and the status.
e2e_finish() { exit 0; }

# e2e_abort "what": a step everything after depends on failed.
e2e_abort() {
    not_ok "$*"
    exit 1
}

E2E_AT_EXIT=()
# e2e_at_exit CMD: runs CMD (a shell string) on exit, before the namespaces go.
e2e_at_exit() { E2E_AT_EXIT+=("$1"); }

# e2e_exit: the EXIT trap. A script that stopped on its own error (set -u, a
# failed exit) without a failed check gets one, so the run counts it.
e2e_exit() {
    local rc=$? cmd
    if [ "$rc" -ne 0 ] && [ "$E2E_FAILED" -eq 0 ]; then
        not_ok "$(basename "$0") ended early with status $rc"
    fi
    for cmd in "${E2E_AT_EXIT[@]}"; do eval "$cmd"; done
    e2e_cleanup
    [ -n "${E2E_BENCH:-}" ] || echo "1..$E2E_N"
    [ "$E2E_FAILED" -eq 0 ] || exit 1
    exit 0
}
trap e2e_exit EXIT

# --- namespaces and links ----------------------------------------------------

ns_new() {
    REPLY="sy-$1-$E2E_PID"
    ip netns add "$REPLY" || return 1
    E2E_NS+=("$REPLY")
    ip -n "$REPLY" link set lo up
}

# veth NS1 IF1 NS2 IF2: a veth pair, IF1 in NS1 and IF2 in NS2, both up.
veth() {
    ip link add "$2" netns "$1" type veth peer name "$4" netns "$3" || return 1
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

# --- processes ------------------------------------------------------------------

bg() {
    local ns=$1 log=$2; shift 2
    ip netns exec "$ns" "$@" >"$log" 2>&1 &
    REPLY=$!
    E2E_PIDS+=("$REPLY")
}

stop_pid() {
    kill "$1" 2>/dev/null
    local i
    for i in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

e2e_cleanup() {
    local p ns
    for p in "${E2E_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    for ns in "${E2E_NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ -n "${KEEP_TMP:-}" ]; then echo "# kept $E2E_TMP"; else rm -rf "$E2E_TMP"; fi
}

# --- waiting -----------------------------------------------------------------------

# wait_ss NS SECONDS SS-ARGS...: until `ss SS-ARGS` in NS lists a socket.
wait_ss() {
    local ns=$1 secs=$2 i
    shift 2
    for i in $(seq $((secs * 10))); do
        ip netns exec "$ns" ss "$@" 2>/dev/null | grep -q . && return 0
        sleep 0.1
    done
    return 1
}

# wait_tcp NS ADDR PORT [SECONDS]: until something listens on TCP PORT (any address).
wait_tcp() { wait_ss "$1" "${4:-10}" -Htln "sport = :$3"; }

# wait_udp NS ADDR PORT: until (at most 5 s) something listens on UDP ADDR:PORT.
wait_udp() { wait_ss "$1" 5 -Huln "src $2 and sport = :$3"; }

# wait_established NS PORT N [SECONDS]: until (at most SECONDS, 60) N
# established TCP connections in NS have the local port PORT; REPLY = how
# many there are (fewer when the time ran out, then status 1).
wait_established() {
    local i
    for i in $(seq $((${4:-60} * 2))); do
        REPLY=$(ip netns exec "$1" ss -Htn state established "sport = :$2" | wc -l)
        [ "$REPLY" -ge "$3" ] && return 0
        sleep 0.5
    done
    return 1
}

# wait_file_grep FILE REGEX [SECONDS]
wait_file_grep() {
    local i
    for i in $(seq $((${3:-10} * 10))); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# --- services ------------------------------------------------------------------------

# make_cert DIR: a self-signed certificate for *.example (made now, never stored).
make_cert() {
    [ -f "$1/cert.pem" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=origin.example" \
        -addext "subjectAltName=DNS:*.example,DNS:origin.example" \
        -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1
}

# start_nginx NS ADDR...: nginx serving HTTP on 80 and HTTPS on 443 on each
# address, files from $E2E_TMP/www, access log $E2E_TMP/nginx-access.log with
# one line per request: "REMOTE_ADDR HOST SERVER_PORT URI STATUS".
start_nginx() {
    local ns=$1; shift
    local dir=$E2E_TMP/nginx listen="" a
    mkdir -p "$dir" "$E2E_TMP/www"
    make_cert "$dir" || return 1
    echo "hello from origin" >"$E2E_TMP/www/index.html"
    for a in "$@"; do
        listen="$listen        listen $a:80;
        listen $a:443 ssl;
"
    done
    cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    log_format origin '\$remote_addr \$host \$server_port \$request_uri \$status';
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    server {
$listen
        server_name _;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        root $E2E_TMP/www;
        access_log $E2E_TMP/nginx-access.log origin;
    }
}
CONF
    bg "$ns" "$dir/stderr" nginx -c "$dir/nginx.conf"
    wait_tcp "$ns" "$1" 443
}

# danted_conf NAME ADDR PORT METHOD EXTERNAL RULE...: writes $E2E_TMP/NAME.conf,
# dante's SOCKS5 server on ADDR:PORT with socks method METHOD (none, or
# username: the system's accounts), connecting out from EXTERNAL, logging to
# $E2E_TMP/NAME.log; every client is let in, then each RULE (a dante "socks
# pass|block { ... }" line) in order.
danted_conf() {
    local name=$1 addr=$2 port=$3 method=$4 external=$5
    shift 5
    {
        cat <<CONF
logoutput: $E2E_TMP/$name.log
internal: $addr port = $port
external: $external
clientmethod: none
socksmethod: $method
user.privileged: root
user.unprivileged: nobody
client pass { from: 0.0.0.0/0 to: 0.0.0.0/0 }
CONF
        printf '%s\n' "$@"
    } >"$E2E_TMP/$name.conf"
}

# start_danted NS NAME ADDR PORT METHOD EXTERNAL RULE...: danted_conf, then
# dante in NS (output $E2E_TMP/NAME.out, pid file NAME.pid); REPLY = its pid,
# status 1 when it does not listen within 10 s.
start_danted() {
    local ns=$1 name=$2 addr=$3 port=$4
    shift
    danted_conf "$@"
    rm -f "$E2E_TMP/$name.pid"
    bg "$ns" "$E2E_TMP/$name.out" danted -f "$E2E_TMP/$name.conf" -p "$E2E_TMP/$name.pid" -N 1
    wait_tcp "$ns" "$addr" "$port"
}

# start_tinyproxy NS ADDR PORTS NET...: tinyproxy (HTTP CONNECT) in NS on
# ADDR:3128, connecting out from ADDR, CONNECT allowed to each of PORTS (a
# list in one word), clients from each NET; it logs every request line to
# $E2E_TMP/tinyproxy.out. REPLY = its pid, status 1 when it does not listen.
start_tinyproxy() {
    local ns=$1 addr=$2 ports=$3 p
    shift 3
    {
        printf 'User nobody\nGroup nogroup\nPort 3128\nListen %s\nBind %s\n' "$addr" "$addr"
        printf 'Timeout 60\nMaxClients 100\n'
        printf 'Allow %s\n' "$@"
        for p in $ports; do printf 'ConnectPort %s\n' "$p"; done
    } >"$E2E_TMP/tinyproxy.conf"
    bg "$ns" "$E2E_TMP/tinyproxy.out" tinyproxy -d -c "$E2E_TMP/tinyproxy.conf"
    wait_tcp "$ns" "$addr" 3128
}

# start_switchyard NS CONFIG: runs `switchyard run` in NS, log in
# $E2E_TMP/switchyard.log; REPLY = pid. Waits for the "running" line.
start_switchyard() {
    bg "$1" "$E2E_TMP/switchyard.log" "$SWITCHYARD" run -c "$2"
    SWITCHYARD_PID=$REPLY
    wait_file_grep "$E2E_TMP/switchyard.log" "running with|stopping|could not" 10 &&
        grep -q "running with" "$E2E_TMP/switchyard.log"
}

# write_gateway_policy: writes $POLICY, the lines a gateway test's policy begins with
# (flows logged at info, routing_mark 0xff, the fast path off: every flow
# through switchyard, none decided in the kernel), then what it reads (the
# test's own settings, inbounds and rules).
write_gateway_policy() {
    {
        printf '%s\n' "log: {level: info, flows: true}" "routing_mark: 0xff" \
            "fast_path: off  # every flow through switchyard, none decided in the kernel"
        cat
    } >"$POLICY"
}

# policy_inbounds WHERE KIND...: the inbounds section of a test's policy,
# one inbound a KIND, named and numbered as the tests use them: redirect (gw,
# port 12345), tproxy (tp, 12346, TCP and UDP), udp-redirect (nat, 12347),
# http (http-in, 8080), socks5 (socks-in, 1080). WHERE is the address they
# all listen on, or "gateway": the transparent ones on [::], the explicit
# ones on the router's 192.0.2.1, where the client reaches them.
policy_inbounds() {
    local wild=$1 router=$1 kind
    [ "$1" = gateway ] && wild="[::]" router=192.0.2.1
    shift
    echo "inbounds:"
    for kind in "$@"; do
        case $kind in
        redirect) echo "  - {name: gw, type: redirect, listen: \"$wild:12345\"}" ;;
        tproxy) echo "  - {name: tp, type: tproxy, listen: \"$wild:12346\", network: [tcp, udp]}" ;;
        udp-redirect) echo "  - {name: nat, type: udp-redirect, listen: \"$wild:12347\"}" ;;
        http) echo "  - {name: http-in, type: http, listen: \"$router:8080\"}" ;;
        socks5) echo "  - {name: socks-in, type: socks5, listen: \"$router:1080\"}" ;;
        *) echo "policy_inbounds: no inbound kind $kind" >&2 ;;
        esac
    done
}

# apply_firewall NS CONFIG MODE [BACKEND]: the rules `switchyard firewall` prints.
apply_firewall() {
    "$SWITCHYARD" firewall -c "$2" --mode "$3" --backend "${4:-nft}" >"$E2E_TMP/firewall.sh" &&
        ip netns exec "$1" sh "$E2E_TMP/firewall.sh" >"$E2E_TMP/firewall.out" 2>&1
}

# start_gateway: switchyard on the router with $POLICY (a fresh log) and its
# gateway firewall rules loaded; not_ok and status 1 for a step that fails.
start_gateway() {
    : >"$E2E_TMP/switchyard.log"
    start_switchyard "$NS_R" "$POLICY" || { not_ok "switchyard starts"; return 1; }
    apply_firewall "$NS_R" "$POLICY" gateway || { not_ok "firewall rules load"; return 1; }
}

# nft_table NS NAME: loads table inet NAME in NS with the chains it reads,
# replacing a table of that name (declared, deleted, then declared with its
# chains: loading twice replaces, never adds).
nft_table() {
    {
        printf 'table inet %s\ndelete table inet %s\ntable inet %s {\n' "$2" "$2" "$2"
        cat
        printf '}\n'
    } | ip netns exec "$1" nft -f -
}

# curl_host NS HOST ADDR SCHEME: fetches / of HOST, resolved to ADDR, from NS
# (certificates not checked); prints the body or curl's error.
curl_host() {
    local ns=$1 host=$2 addr=$3 scheme=$4 port=80
    [ "$scheme" = https ] && port=443
    local res="$host:$port:$addr"
    [[ "$addr" == *:* ]] && res="$host:$port:[$addr]"
    timeout 60 ip netns exec "$ns" curl -sS -k --max-time 10 --resolve "$res" "$scheme://$host/" 2>&1
}

# log_count REGEX: how many lines of the switchyard log match.
log_count() { grep -cE "$1" "$E2E_TMP/switchyard.log"; }

# --- topology -------------------------------------------------------------------------
#
#   [client] c0 192.0.2.2/24  2001:db8:1::2/64
#       |
#   [router] r0 192.0.2.1/24  2001:db8:1::1/64   (switchyard, firewall)
#            r1 198.51.100.1/24  2001:db8:2::1/64
#       |
#   [origin] o0 198.51.100.10/24  2001:db8:2::10/64
#
# gateway_net sets NS_C, NS_R, NS_O. The origin has no route to the client:
# it can only answer the router, so a connection that reaches the origin
# without switchyard shows up as a failure, not as a silent pass.

# router_link NS IF RIF ROUTER4/LEN ADDR4 ROUTER6/LEN ADDR6: joins NS to the
# router (its IF to the router's RIF), the router at ROUTER4 and ROUTER6, NS at
# ADDR4 and ADDR6 in the same networks with its default routes through the router.
router_link() {
    local ns=$1 if=$2 rif=$3
    veth "$ns" "$if" "$NS_R" "$rif" || return 1
    ip -n "$NS_R" addr add "$4" dev "$rif"
    ip -n "$NS_R" addr add "$6" dev "$rif" nodad
    ip -n "$ns" addr add "$5/${4#*/}" dev "$if"
    ip -n "$ns" addr add "$7/${6#*/}" dev "$if" nodad
    ip -n "$ns" route add default via "${4%/*}"
    ip -n "$ns" -6 route add default via "${6%/*}"
}

gateway_net() {
    ns_new client && NS_C=$REPLY || return 1
    ns_new router && NS_R=$REPLY || return 1
    ns_new origin && NS_O=$REPLY || return 1
    router_link "$NS_C" c0 r0 192.0.2.1/24 192.0.2.2 2001:db8:1::1/64 2001:db8:1::2 || return 1
    veth "$NS_O" o0 "$NS_R" r1 || return 1
    ip -n "$NS_R" addr add 198.51.100.1/24 dev r1
    ip -n "$NS_R" addr add 2001:db8:2::1/64 dev r1 nodad
    ip -n "$NS_O" addr add 198.51.100.10/24 dev o0
    ip -n "$NS_O" addr add 2001:db8:2::10/64 dev o0 nodad
    ip netns exec "$NS_R" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
}

# in_client CMD...: runs CMD in the client namespace, bounded to 60 s.
in_client() { timeout 60 ip netns exec "$NS_C" "$@"; }
in_router() { timeout 60 ip netns exec "$NS_R" "$@"; }
in_origin() { timeout 60 ip netns exec "$NS_O" "$@"; }

# e2e_need_switchyard: ends the test with a SKIP line when this build has no
# `switchyard run` / `switchyard firewall` yet (policy engine not linked in).
e2e_need_switchyard() {
    if ! "$SWITCHYARD" run --help 2>&1 | grep -q "usage: switchyard run" ||
        ! "$SWITCHYARD" firewall --help 2>&1 | grep -q "usage: switchyard firewall"; then
        skip "$(basename "$0")" "switchyard run/firewall are not in this build"
        e2e_finish
    fi
}

ORIGIN4=198.51.100.10
ORIGIN6=2001:db8:2::10
POLICY=$E2E_TMP/policy.yaml
ACCESS=$E2E_TMP/nginx-access.log # start_nginx's access log

# gateway_up [nginx]: the start of a TCP script: skipped without `switchyard
# run`, the gateway topology (the script ends if it cannot be made) and, with
# `nginx`, nginx on ORIGIN4 and ORIGIN6.
gateway_up() {
    e2e_need_switchyard
    gateway_net || e2e_abort "network set-up"
    if [ "${1:-}" = nginx ]; then
        start_nginx "$NS_O" "$ORIGIN4" "[$ORIGIN6]" || not_ok "nginx starts"
    fi
}

# write_usual_policy NAME TYPE [INBOUND [RULE]]: writes $POLICY, the usual
# policy of a TCP gateway script: routing_mark 0xff, the settings it reads
# (log, sniff, timeouts...), one inbound NAME of TYPE on [::]:12345 (then
# INBOUND, a line of more), *.blocked.example dropped (then RULE, a line of
# more), the rest direct.
write_usual_policy() {
    {
        echo "routing_mark: 0xff"
        cat
        printf '%s\n' "inbounds:" "  - {name: $1, type: $2, listen: \"[::]:12345\"}" "${3:-}" \
            "rules:" "  - {domain_suffix: blocked.example, action: drop}" "${4:-}" "default: direct"
    } >"$POLICY"
}

# start_gateway_policy NAME TYPE: writes the usual policy with the inbound
# NAME of TYPE (flows logged, 300 ms sniff timeout), and starts switchyard on
# the router with it and a fresh log; not_ok (the log shown) and status 1
# when it does not start.
start_gateway_policy() {
    write_usual_policy "$1" "$2" <<YAML
log: {level: info, flows: true}
sniff: {timeout_ms: 300}
YAML
    : >"$E2E_TMP/switchyard.log"
    start_switchyard "$NS_R" "$POLICY" && return 0
    not_ok "$2: switchyard starts"
    sed 's/^/# /' "$E2E_TMP/switchyard.log"
    return 1
}

# udp_start_dnsmasq [ANSWER]: dnsmasq on the origin (198.51.100.53 and
# 2001:db8:2::53) answering every name under example (default
# /example/203.0.113.99, a dnsmasq --address value), queries logged to
# $E2E_TMP/dnsmasq.log; REPLY = its pid, status 1 when it does not listen.
udp_start_dnsmasq() {
    bg "$NS_O" "$E2E_TMP/dnsmasq.out" dnsmasq --keep-in-foreground --no-resolv --no-hosts \
        --conf-file=/dev/null --user=root --group=root \
        --listen-address=198.51.100.53 --listen-address=2001:db8:2::53 --bind-interfaces \
        --address="${1:-/example/203.0.113.99}" --log-queries --log-facility="$E2E_TMP/dnsmasq.log" \
        --pid-file="$E2E_TMP/dnsmasq.pid"
    wait_udp "$NS_O" 198.51.100.53 53
}

# tun_dev: sets DEV, a TUN device name of this script's own (15 characters at most).
tun_dev() {
    DEV=sytun$$
    DEV=${DEV:0:15}
}

# tun_inbound ADDRESS: the YAML lines of a policy's inbounds: the tun inbound
# tun-in on $DEV, with ADDRESS and 2001:db8:ff::1/126 (more of its keys may follow).
tun_inbound() {
    cat <<YAML
inbounds:
  - name: tun-in
    type: tun
    listen: "[::]:12345"
    device: $DEV
    address: $1
    address6: "2001:db8:ff::1/126"
YAML
}

# tun_routing MODE [ARG...]: applies in the router what `switchyard firewall
# --mode MODE ARG...` prints for $POLICY (the script in $E2E_TMP/routing.sh,
# its output added to routing.log).
tun_routing() {
    local mode=$1
    shift
    "$SWITCHYARD" firewall -c "$POLICY" --mode "$mode" "$@" >"$E2E_TMP/routing.sh" &&
        ip netns exec "$NS_R" sh "$E2E_TMP/routing.sh" >>"$E2E_TMP/routing.log" 2>&1
}

# write_control_policy LISTEN RULE: writes $POLICY for a script that reads
# the control API: flows logged, a 200 ms sniff timeout, `control` on LISTEN
# with the secret t0ken, the redirect inbound gw on [::]:12345, RULE (a
# rules item) the one rule, on line 7, the rest direct, the fast path off.
write_control_policy() {
    cat >"$POLICY" <<YAML
log: {level: info, flows: true}
sniff: {timeout_ms: 200}
control: {listen: "$1", secret: t0ken}
$(policy_inbounds gateway redirect)
rules:
  - $2
default: direct
fast_path: off  # every flow through switchyard, none decided in the kernel
YAML
}

# control_gateway_up LISTEN: the start of a script that reads the control
# API: gateway_up, then switchyard with write_control_policy's policy, port
# 9 dropped; then tests/e2e/control_peer.py's origin (its held transfer on
# port 80, its paced one on 81). PEER = control_peer.py.
control_gateway_up() {
    gateway_up
    PEER=$PWD/tests/e2e/control_peer.py
    write_control_policy "$1" "{dst_port: 9, action: drop}"
    start_gateway || e2e_abort "switchyard starts"
    bg "$NS_O" "$E2E_TMP/origin.log" python3 "$PEER" origin 80 81
    wait_tcp "$NS_O" "$ORIGIN4" 80 && wait_tcp "$NS_O" "$ORIGIN4" 81 || not_ok "origin starts"
}

# check_traffic_sum WHAT FILE SENT: the check WHAT, that the /traffic
# messages in FILE (one JSON object a line) were busy at least twice and
# their down bytes sum to SENT, within the busiest one's worth.
check_traffic_sum() {
    check "$1" python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
down = sum(l["down"] for l in lines)
sent = int(sys.argv[2])
busy = [l["down"] for l in lines if l["down"] > 0]
print("# %d lines, %d bytes down of %d" % (len(lines), down, sent))
sys.exit(0 if len(busy) >= 2 and sent - max(busy) <= down <= sent + 100000 else 1)' "$2" "$3"
}
