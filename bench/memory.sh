#!/usr/bin/env bash
# memory.sh — resident memory of `switchyard run` as a router sees it, in
# namespaces (tests/e2e/lib.sh's gateway: client -> router -> origin):
#   1. examples/split-tunnel.yaml as shipped (tproxy inbound, its firewall
#      rules, the CN and ad lists), at start;
#   2. after FLOWS HTTP requests through it (default 1,000, one connection
#      each, 50 at a time), half to a CN name (direct) and half to another
#      (through the SOCKS5 tunnel: dante on the router at 127.0.0.1:1080, as
#      the example expects, resolving the name it is sent); and the peak;
#   3. with FLOWS flows held open at once, the same split;
#   4. the policy of every v2fly category (bench/data/all-categories.txt)
#      plus the CN prefix list (examples/lists/chnroute.txt), at start: what
#      mihomo users quote as "RSS with N rules";
#   5. v2ray (Debian's 4.34) loading the same domains and prefixes as routing
#      rules, at start, for comparison (mihomo is not in Debian).
# Root needed. Prints Markdown; bench/RESULTS.md keeps one run.
#
#   [FLOWS=1000] bench/memory.sh
set -u
cd "$(dirname "$0")/.."
E2E_BENCH=1 # clean-up from lib.sh, no TAP plan line
. tests/e2e/lib.sh
NETNS_ETC=
trap '[ -z "$NETNS_ETC" ] || rm -rf "$NETNS_ETC"; e2e_cleanup' EXIT
FLOWS=${FLOWS:-1000}
ulimit -n "$(ulimit -Hn)"

rss_kb() { awk -v k="${2:-VmRSS}:" '$1 == k {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

gateway_net || { echo "network set-up failed" >&2; exit 1; }
start_nginx "$NS_O" "$ORIGIN4" >/dev/null || { echo "nginx failed" >&2; exit 1; }
# The tunnel is sent names (send_hostname): dante resolves them through the hosts
# file `ip netns exec` mounts for the router's namespace (removed on exit).
NETNS_ETC=/etc/netns/$NS_R
mkdir -p "$NETNS_ETC"
printf '127.0.0.1 localhost\n%s www.wikipedia.org\n' "$ORIGIN4" >"$NETNS_ETC/hosts"
start_danted "$NS_R" danted 127.0.0.1 1080 none 198.51.100.1 \
    "socks pass { from: 0.0.0.0/0 to: 0.0.0.0/0 command: connect }" ||
    { echo "danted failed" >&2; exit 1; }

# --- 1-3: the split-tunnel example ------------------------------------------------------
cp examples/split-tunnel.yaml "$E2E_TMP/split.yaml"
sed -i 's/level: info, flows: true/level: info, flows: false/' "$E2E_TMP/split.yaml"
ln -s "$PWD/examples/lists" "$E2E_TMP/lists"
start_switchyard "$NS_R" "$E2E_TMP/split.yaml" || { cat "$E2E_TMP/switchyard.log" >&2; exit 1; }
SY=$SWITCHYARD_PID
apply_firewall "$NS_R" "$E2E_TMP/split.yaml" gateway || { cat "$E2E_TMP/firewall.out" >&2; exit 1; }
sleep 1
START=$(rss_kb "$SY")

# One connection a request (Connection: close), half to a name on the CN list.
: >"$E2E_TMP/urls"
for i in $(seq "$FLOWS"); do
    if [ $((i % 2)) = 0 ]; then h=www.baidu.com; else h=www.wikipedia.org; fi
    printf 'url = "http://%s/?%d"\noutput = "/dev/null"\n' "$h" "$i" >>"$E2E_TMP/urls"
done
T0=$(date +%s.%N)
timeout 300 ip netns exec "$NS_C" curl -sS --parallel --parallel-max 50 -H "Connection: close" \
    --resolve "www.baidu.com:80:$ORIGIN4" --resolve "www.wikipedia.org:80:$ORIGIN4" \
    -w '%{http_code}\n' -K "$E2E_TMP/urls" >"$E2E_TMP/codes" 2>"$E2E_TMP/curl.err"
T1=$(date +%s.%N)
OK=$(grep -c '^200$' "$E2E_TMP/codes")
sleep 2
AFTER=$(rss_kb "$SY")
PEAK=$(rss_kb "$SY" VmHWM)
DIRECT=$(grep -c 'www.baidu.com' "$E2E_TMP/nginx-access.log")
TUNNEL=$(grep -c 'www.wikipedia.org' "$E2E_TMP/nginx-access.log")

# FLOWS connections held open at once: each sends a whole request the origin never answers.
HOLD='
import socket, sys, time
n, addr, port = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]); socks = []
if sys.argv[1] == "serve":
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port)); l.listen(4096)
    while len(socks) < n:
        c, _ = l.accept(); socks.append(c)
    time.sleep(120)
else:
    for i in range(n):
        h = "www.baidu.com" if i % 2 == 0 else "www.wikipedia.org"
        s = socket.socket(); s.connect((addr, port))
        s.send(("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % h).encode()); socks.append(s)
    print("open", flush=True); time.sleep(120)
'
bg "$NS_O" "$E2E_TMP/hold-o.log" python3 -c "$HOLD" serve "$FLOWS" "$ORIGIN4" 8080
SERVE=$REPLY
wait_tcp "$NS_O" "$ORIGIN4" 8080
bg "$NS_C" "$E2E_TMP/hold-c.log" python3 -c "$HOLD" client "$FLOWS" "$ORIGIN4" 8080
HOLDC=$REPLY
wait_file_grep "$E2E_TMP/hold-c.log" "^open" 120
wait_established "$NS_O" 8080 "$FLOWS" 60
HELD=$REPLY
sleep 1
OPEN=$(rss_kb "$SY")
OPEN_PEAK=$(rss_kb "$SY" VmHWM)
stop_pid "$HOLDC"
stop_pid "$SERVE"
stop_pid "$SY"

# --- 4: every v2fly category and the CN prefixes -------------------------------------------
DOMAINS=$(grep -cE '^[a-z]+:' bench/data/all-categories.txt)
PREFIXES=$(grep -cE '^[0-9a-f:.]+/[0-9]+' examples/lists/chnroute.txt)
cat >"$E2E_TMP/big.yaml" <<YAML
log: {level: info, flows: false}
inbounds:
  - {name: tp, type: tproxy, listen: "0.0.0.0:12346", network: [tcp, udp]}
outbounds:
  - {name: tunnel, type: socks5, server: "127.0.0.1:1080", udp: true, send_hostname: true}
sets:
  all: {domain_file: $PWD/bench/data/all-categories.txt}
  chnroute: {cidr_file: $PWD/examples/lists/chnroute.txt}
rules:
  - {domain_set: all, action: direct}
  - {dst_set: chnroute, action: direct}
default: tunnel
YAML
: >"$E2E_TMP/switchyard.log"
T2=$(date +%s.%N)
start_switchyard "$NS_R" "$E2E_TMP/big.yaml" || { cat "$E2E_TMP/switchyard.log" >&2; exit 1; }
T3=$(date +%s.%N)
sleep 1
BIG=$(rss_kb "$SWITCHYARD_PID")
BIG_PEAK=$(rss_kb "$SWITCHYARD_PID" VmHWM)
stop_pid "$SWITCHYARD_PID"

# --- 5: v2ray with the same rules -------------------------------------------------------------
V2=-
if command -v v2ray >/dev/null; then
    python3 - "$E2E_TMP/v2ray.json" <<'PY'
import json, sys
doms = [l.strip() for l in open("bench/data/all-categories.txt") if l[:1].isalpha() and ":" in l]
ips = [l.strip() for l in open("examples/lists/chnroute.txt") if l[:1].isalnum() and "/" in l]
conf = {"log": {"loglevel": "none"},
        "inbounds": [{"port": 12347, "listen": "0.0.0.0", "protocol": "dokodemo-door",
                      "settings": {"network": "tcp", "followRedirect": True}}],
        "outbounds": [{"tag": "tunnel", "protocol": "socks",
                       "settings": {"servers": [{"address": "127.0.0.1", "port": 1080}]}},
                      {"tag": "direct", "protocol": "freedom"}],
        "routing": {"domainStrategy": "AsIs", "rules": [
            {"type": "field", "domain": doms, "outboundTag": "direct"},
            {"type": "field", "ip": ips, "outboundTag": "direct"}]}}
json.dump(conf, open(sys.argv[1], "w"))
PY
    bg "$NS_R" "$E2E_TMP/v2ray.log" v2ray -config "$E2E_TMP/v2ray.json"
    V2PID=$REPLY
    if wait_tcp "$NS_R" 0.0.0.0 12347 60; then
        sleep 3
        V2=$(mib "$(rss_kb "$V2PID")")
    fi
    stop_pid "$V2PID"
fi

secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f s", b - a}'; }
echo "| examples/split-tunnel.yaml ($(grep -cvE '^#|^$' examples/lists/cn.txt) CN names, $(grep -cvE '^#|^$' examples/lists/category-ads-all.txt) ad names, $PREFIXES CN prefixes) | resident memory |"
echo "|---|---:|"
echo "| at start | $(mib "$START") |"
echo "| after $FLOWS flows ($OK answered: $DIRECT direct, $TUNNEL through the tunnel; $(secs "$T0" "$T1")) | $(mib "$AFTER") |"
echo "| peak during those flows (VmHWM) | $(mib "$PEAK") |"
echo "| with $HELD flows open at once | $(mib "$OPEN") (peak $(mib "$OPEN_PEAK")) |"
echo
echo "| every v2fly category + CN prefixes: $DOMAINS domain rules + $PREFIXES prefixes = $((DOMAINS + PREFIXES)) rules | resident memory |"
echo "|---|---:|"
echo "| switchyard, at start (loaded in $(secs "$T2" "$T3")) | $(mib "$BIG") (peak $(mib "$BIG_PEAK")) |"
echo "| v2ray $(v2ray version 2>/dev/null | awk 'NR == 1 {print $2}'), the same rules, 3 s after start | $V2 |"
