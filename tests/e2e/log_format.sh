#!/usr/bin/env bash
# log_format.sh — logs for machines: with log.format json every line
# switchyard writes on stderr is one JSON object, and the decided and closed
# lines of a flow through the gateway carry its fields (network, flow id,
# inbound, source, destination, host, protocol, rule, outbound; reason,
# bytes and duration once closed). With log.target syslog the lines go as
# datagrams to /dev/log: here a socket of the test's own, bound over /dev/log
# inside a private mount namespace (an overlay on /dev), receives them with
# the daemon facility's priority; without a /dev/log switchyard says so and
# logs on stderr.
set -u
cd "$(dirname "$0")/../.."
. tests/e2e/lib.sh
gateway_up nginx

# write_policy FORMAT TARGET: the usual policy, its log in FORMAT to TARGET.
write_policy() {
    write_usual_policy gw redirect <<YAML
log: {level: info, flows: true, format: $1, target: $2}
sniff: {timeout_ms: 300}
YAML
}

# fetch: one HTTPS request by SNI and one HTTP request by Host through the gateway.
fetch() {
    out=$(curl_host "$NS_C" secure.example "$ORIGIN4" https)
    check "$1: HTTPS by SNI reaches the origin" grep -q "hello from origin" <<<"$out"
    out=$(curl_host "$NS_C" origin.example "$ORIGIN4" http)
    check "$1: HTTP by Host reaches the origin" grep -q "hello from origin" <<<"$out"
}

# check_events FILE: the decided and closed lines of the HTTPS flow carry every field.
check_events() {
    python3 - "$1" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
decided = [e for e in events if e.get("event") == "decided" and e.get("host") == "secure.example"]
assert len(decided) == 1, decided
d = decided[0]
want = {"network": "tcp", "inbound": "gw", "protocol": "tls", "rule": 0, "rule_line": 0,
        "outbound": "direct", "level": "info"}
for k, v in want.items():
    assert d.get(k) == v, (k, d)
assert d["src"].startswith("192.0.2.2:") and d["dst"] == "198.51.100.10:443", d
assert isinstance(d["flow"], int) and d["time"][10] == "T", d
closed = [e for e in events if e.get("event") == "closed" and e.get("flow") == d["flow"]]
assert len(closed) == 1, closed
c = closed[0]
for k in ("network", "inbound", "src", "dst", "host", "protocol", "rule", "outbound"):
    assert c[k] == d[k], (k, c)
assert c["reason"] == "done" and c["bytes_up"] > 0 and c["bytes_down"] > 0, c
assert isinstance(c["duration_s"], float) and c["duration_s"] >= 0, c
PY
}

# --- JSON on stderr -------------------------------------------------------------
write_policy json stderr
start_gateway || e2e_abort "switchyard starts (json)"
fetch json
stop_pid "$SWITCHYARD_PID"
check "json: every stderr line is one JSON object" python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) >= 6
for l in lines:
    o = json.loads(l)
    assert isinstance(o, dict) and "time" in o and "level" in o and ("message" in o or "event" in o), l
' "$E2E_TMP/switchyard.log"
check "json: plain lines carry a message (running with, stopped)" \
    python3 -c '
import json, sys
m = [json.loads(l).get("message", "") for l in open(sys.argv[1])]
assert any(" running with " in x for x in m) and any(x.startswith("stopped:") for x in m)
' "$E2E_TMP/switchyard.log"
check "json: the decided and closed events carry the flow's fields" check_events "$E2E_TMP/switchyard.log"

# --- syslog -------------------------------------------------------------------------
# A datagram socket of our own stands for the syslog daemon; each datagram a line.
DEVLOG=$E2E_TMP/devlog
RECEIVED=$E2E_TMP/syslog.txt
: >"$RECEIVED"
python3 - "$DEVLOG" "$RECEIVED" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
out = open(sys.argv[2], "a", buffering=1)
end = time.time() + 120
while time.time() < end:
    try:
        d = s.recv(65536)
    except socket.timeout:
        continue
    out.write(d.decode("utf-8", "replace").replace("\n", "\\n") + "\n")
PY
E2E_PIDS+=($!)
for _ in $(seq 50); do [ -S "$DEVLOG" ] && break; sleep 0.1; done

# in_private_dev NS LOG SOCKET CMD...: CMD in NS with /dev an overlay of the real
# one, /dev/log being SOCKET (or absent when SOCKET is "-"); output in LOG.
in_private_dev() {
    local ns=$1 log=$2 sock=$3; shift 3
    local up=$E2E_TMP/dev-up.$RANDOM
    mkdir -p "$up/u" "$up/w"
    bg "$ns" "$log" unshare -m --propagation private sh -c '
        mount -t overlay overlay -o "lowerdir=/dev,upperdir=$1/u,workdir=$1/w" /dev || exit 1
        rm -f /dev/log
        if [ "$2" != - ]; then touch /dev/log && mount --bind "$2" /dev/log || exit 1; fi
        shift 2
        exec "$@"' sh "$up" "$sock" "$@"
}

write_policy json syslog
: >"$E2E_TMP/switchyard.log"
in_private_dev "$NS_R" "$E2E_TMP/switchyard.log" "$DEVLOG" "$SWITCHYARD" run -c "$POLICY"
SWITCHYARD_PID=$REPLY
if wait_file_grep "$RECEIVED" "running with" 10; then
    ok "syslog: the daemon's socket at /dev/log receives the lines"
    apply_firewall "$NS_R" "$POLICY" gateway || not_ok "firewall rules load (syslog)"
    fetch syslog
    stop_pid "$SWITCHYARD_PID"
    wait_file_grep "$RECEIVED" "stopped:" 5
    check "syslog: each line has the daemon facility's header and the process's tag" python3 -c '
import re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) >= 6
for l in lines:
    assert re.match(r"<(27|28|30|31)>[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d switchyard\[\d+\]: \{", l), l
assert any(l.startswith("<30>") for l in lines)
' "$RECEIVED"
    sed -E 's/^<[0-9]+>.{15} switchyard\[[0-9]+\]: //' "$RECEIVED" >"$E2E_TMP/syslog.json"
    check "syslog: the decided and closed events carry the flow's fields" check_events "$E2E_TMP/syslog.json"
    check "syslog: nothing went to stderr" test ! -s "$E2E_TMP/switchyard.log"
else
    not_ok "syslog: the daemon's socket at /dev/log receives the lines"
    sed 's/^/# /' "$E2E_TMP/switchyard.log"
    stop_pid "$SWITCHYARD_PID"
fi
"$SWITCHYARD" firewall -c "$POLICY" --mode gateway --undo | ip netns exec "$NS_R" sh

write_policy text syslog
: >"$E2E_TMP/switchyard.log"
in_private_dev "$NS_R" "$E2E_TMP/switchyard.log" - "$SWITCHYARD" run -c "$POLICY"
SWITCHYARD_PID=$REPLY
check "syslog: without a /dev/log, switchyard says so and logs on stderr" \
    wait_file_grep "$E2E_TMP/switchyard.log" "log.target syslog: cannot reach /dev/log: .*; logging to stderr" 10
check "... and runs" wait_file_grep "$E2E_TMP/switchyard.log" "running with" 10
stop_pid "$SWITCHYARD_PID"

e2e_finish
